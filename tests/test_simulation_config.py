"""Configuration checks: every bad input is a clear error before NEST starts (exit 2), never a traceback."""

from __future__ import annotations

import json

import pytest
from helpers import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import run_pointnet
from simulation.config import ConfigError, check_run, partial_name, prepare
from simulation.run import load_config


def write(folder, config: dict, name: str = "config.json"):
    path = folder / name
    path.write_text(json.dumps(config, indent=2))
    return path


def test_the_repository_config_is_valid_for_bmtk():
    from bmtk.simulator import pointnet

    config = pointnet.Config.from_json(str(REPO / "config.json"))
    assert config.run["tstop"] == 3000.0 and config.run["dt"] == 0.1 and config.run["precise_times"] is True
    assert json.loads((REPO / "config.json").read_text())["spike_timing"] == "precise"
    grid = pointnet.Config.from_json(str(REPO / "config_grid.json"))
    assert grid.run["dt"] == 0.01 and grid.run["precise_times"] is False
    assert json.loads((REPO / "config_grid.json").read_text())["spike_timing"] == "grid"
    assert grid.inputs["LGN_spikes"]["input_file"] != config.inputs["LGN_spikes"]["input_file"]
    check_run(grid.run, REPO / "config_grid.json")
    assert config.inputs["LGN_spikes"]["node_set"] == "LGN"
    check_run(config.run, REPO / "config.json")
    assert json.loads((REPO / "config.json").read_text())["run"]["n_thread"] == "auto"


def test_prepare_fills_threads_and_partial_name(tiny_config):
    config = json.loads(tiny_config.read_text())
    config["run"]["n_thread"] = "auto"
    prepared = prepare(config)
    assert isinstance(prepared["run"]["n_thread"], int) and prepared["run"]["n_thread"] >= 1
    assert prepared["output"]["spikes_file"] == "spikes.partial.h5"
    assert partial_name("out/s.h5") == "out/s.partial.h5"
    assert config["run"]["n_thread"] == "auto", "prepare must not change its input"


BAD = [
    (lambda c: c["run"].update(dt=0), "run.dt must lie in [0.001 ms"),
    (lambda c: c["run"].update(dt=-0.1), "run.dt must lie in [0.001 ms"),
    (lambda c: c["run"].update(tstop=0), "run.tstop must lie in (0,"),
    (lambda c: c["run"].update(tstop="long"), "run.tstop must be a number"),
    (lambda c: c["run"].update(n_thread=0), "run.n_thread must be 'auto' (this machine's"),
    (lambda c: c["run"].update(nthreads=2), "unknown key(s) ['nthreads'] in 'run'; valid keys are tstart"),
    (lambda c: c["run"].update(dt=1.0), "delay 0.9 must be a number of ms in [dt = 1.0, 1000]"),
    (lambda c: c["networks"]["nodes"][0].update(nodes_file="/nowhere/V1_nodes.h5"),
     "networks.nodes.nodes_file names /nowhere/V1_nodes.h5, which does not exist"),
    (lambda c: c["inputs"].update(clamp={"input_type": "current_clamp", "module": "IClamp", "amp": 100.0,
                                          "delay": 0.05, "duration": 100.0, "node_set": "V1"}),
     "inputs.clamp.delay = 0.05 ms must be > run.dt = 0.1 ms"),
    (lambda c: c.pop("networks"), "section 'networks' is missing"),
    (lambda c: c.update(voltage_sample={"enabled": True, "cells_per_population": 0}),
     "voltage_sample.cells_per_population must be an integer >= 1"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD)
def test_bad_config_exits_2_before_nest(tmp_path, tiny_config, capsys, mutate, message):
    config = json.loads(tiny_config.read_text())
    config["manifest"]["$OUTPUT_DIR"] = str(tmp_path / "output")
    mutate(config)
    path = write(tmp_path, config)
    assert run_pointnet.main([str(path), "--no-build"]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not (tmp_path / "output").exists(), "output written although the config was rejected"


def test_malformed_json(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text('{"run": {"dt": 0.1,}}')
    assert run_pointnet.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "is not valid JSON" in err and "line 1" in err


def test_off_grid_spikes_name_the_command(tmp_path, tiny_config, capsys):
    config = json.loads(tiny_config.read_text())
    config["run"]["dt"] = 0.03
    path = write(tmp_path, config)
    assert run_pointnet.main([str(path), "--no-build"]) == 2
    assert "python -m inputs spikes --dt 0.03" in capsys.readouterr().err


def test_missing_network_names_the_command(tmp_path, tiny_config, capsys):
    config = json.loads(tiny_config.read_text())
    config["manifest"]["$NETWORK_DIR"] = str(tmp_path / "nonet")
    path = write(tmp_path, config)
    assert run_pointnet.main([str(path), "--no-build"]) == 2
    assert f"python -m build_network --model seed --out {tmp_path / 'nonet'}" in capsys.readouterr().err


# Values a user might type by mistake, and the places they might go.
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=5), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                            st.integers(), max_size=2))
PLACES = st.sampled_from([("run", "dt"), ("run", "tstop"), ("run", "tstart"), ("run", "n_thread"),
                          ("run", "precise_times"), ("run", "bogus"), ("output", "spikes_file"),
                          ("voltage_sample", "enabled"), ("voltage_sample", "cells_per_population"),
                          ("inputs", "LGN_spikes"), ("networks", "nodes"), ("components", "point_neuron_models_dir"),
                          (None, "run"), (None, "voltage_sample")])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(place=PLACES, value=VALUES)
def test_mutated_configs_give_a_clean_error_or_load(tmp_path, tiny_config, place, value):
    """Any single mutation either loads (ready for NEST) or raises ConfigError: never another exception."""
    config = json.loads(tiny_config.read_text())
    section, key = place
    if section is None:
        config[key] = value
    elif isinstance(config.get(section), dict):
        config[section][key] = value
    path = write(tmp_path, config, "mutated.json")
    try:
        load_config(path, build_missing=False)
    except ConfigError as err:
        assert str(err).startswith(str(path))
