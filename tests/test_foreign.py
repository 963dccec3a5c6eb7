"""Foreign runs (issue 20): someone else's bmtk PointNet network runs and is reported, and is never taken for the
project's mouse V1 model.

The network is built here with bmtk's NetworkBuilder like bmtk's ``examples/point_120cells``: its own population
names (``LIF_exc`` reused on purpose, beside ``LIF_inh``), NEST's ``iaf_psc_alpha`` with its own parameter files, a
virtual ``thalamus`` with SONATA spikes at off-grid (precise) times, and a configuration split into a simulation and
a circuit file with relative paths (``"$BASE_DIR": "."``, run from its own folder), without this project's
``spike_timing`` and ``lgn_input`` sections.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from helpers import REPO, sonata_spikes
from report_page import ReportPage

N_EXC, N_INH, N_THALAMUS = 40, 10, 40
TSTOP_MS, DT_MS = 1000.0, 0.1
THALAMUS_HZ = 20.0
WEIGHT = 150.0
#: What the report says of the project's model only: none of it may be said of a foreign run.
PROJECT_CLAIMS = ("tuned to", "tuning target", "driven by LGN", "LGN", "L2/3", "model versus mouse V1", "Billeh",
                  "python -m perturbations run", "python -m analysis stimulus")


def _write_json(path: Path, content: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2))
    return path


def build_foreign(root: Path) -> Path:
    """A foreign network, its components, inputs and split configuration in ``root``; return the simulation config."""
    from bmtk.builder import NetworkBuilder

    rng = np.random.default_rng(5)
    cortex = NetworkBuilder("cortex")
    cortex.add_nodes(N=N_EXC, pop_name="LIF_exc", ei="e", model_type="point_process",
                     model_template="nest:iaf_psc_alpha", dynamics_params="exc_alpha.json",
                     positions=rng.uniform(-50, 50, (N_EXC, 3)))
    cortex.add_nodes(N=N_INH, pop_name="LIF_inh", ei="i", model_type="point_process",
                     model_template="nest:iaf_psc_alpha", dynamics_params="inh_alpha.json",
                     positions=rng.uniform(-50, 50, (N_INH, 3)))
    def sometimes(p):
        return lambda s, t: int(s.node_id != t.node_id and rng.random() < p)

    cortex.add_edges(source={"ei": "e"}, target={}, connection_rule=sometimes(0.2),
                     syn_weight=40.0, delay=1.5, dynamics_params="exc_to_all.json", model_template="static_synapse")
    cortex.add_edges(source={"ei": "i"}, target={}, connection_rule=sometimes(0.4),
                     syn_weight=-120.0, delay=1.5, dynamics_params="inh_to_all.json", model_template="static_synapse")
    cortex.build()
    cortex.save(output_dir=str(root / "network"))
    thalamus = NetworkBuilder("thalamus")
    thalamus.add_nodes(N=N_THALAMUS, pop_name="relay", model_type="virtual")
    thalamus.add_edges(source=thalamus.nodes(), target=cortex.nodes(), connection_rule=lambda s, t: int(
                       rng.random() < 0.5), syn_weight=WEIGHT, delay=1.0, dynamics_params="exc_to_all.json",
                       model_template="static_synapse")
    thalamus.build()
    thalamus.save(output_dir=str(root / "network"))

    cell = {"I_e": 0.0, "tau_m": 10.0, "C_m": 250.0, "t_ref": 2.0, "E_L": -70.0, "V_th": -55.0, "V_reset": -70.0,
            "tau_syn_ex": 2.0, "tau_syn_in": 2.0}
    _write_json(root / "models" / "cell_models" / "exc_alpha.json", cell)
    _write_json(root / "models" / "cell_models" / "inh_alpha.json", {**cell, "tau_m": 8.0})
    _write_json(root / "models" / "synaptic_models" / "exc_to_all.json", {})
    _write_json(root / "models" / "synaptic_models" / "inh_to_all.json", {})
    # Poisson trains at exact (off-grid) times
    ids, times = [], []
    for node in range(N_THALAMUS):
        t = np.cumsum(rng.exponential(1000.0 / THALAMUS_HZ, int(3 * THALAMUS_HZ * TSTOP_MS / 1000.0) + 10))
        t = t[(t > 1.0) & (t < TSTOP_MS)]
        ids += [node] * len(t)
        times += t.tolist()
    order = np.argsort(times)
    (root / "inputs").mkdir()
    sonata_spikes(root / "inputs" / "thalamus_spikes.h5",
                  {"thalamus": (np.asarray(ids)[order], np.asarray(times)[order])})

    _write_json(root / "config.circuit.json", {
        "manifest": {"$BASE_DIR": ".", "$NETWORK_DIR": "$BASE_DIR/network", "$MODELS_DIR": "$BASE_DIR/models"},
        "components": {"point_neuron_models_dir": "$MODELS_DIR/cell_models",
                       "synaptic_models_dir": "$MODELS_DIR/synaptic_models"},
        "networks": {
            "nodes": [{"nodes_file": f"$NETWORK_DIR/{p}_nodes.h5",
                       "node_types_file": f"$NETWORK_DIR/{p}_node_types.csv"} for p in ("cortex", "thalamus")],
            "edges": [{"edges_file": f"$NETWORK_DIR/{p}_edges.h5",
                       "edge_types_file": f"$NETWORK_DIR/{p}_edge_types.csv"}
                      for p in ("cortex_cortex", "thalamus_cortex")]}})
    return _write_json(root / "config.simulation.json", {
        "manifest": {"$BASE_DIR": "${configdir}", "$OUTPUT_DIR": "$BASE_DIR/output", "$INPUT_DIR": "$BASE_DIR/inputs"},
        "run": {"tstop": TSTOP_MS, "dt": DT_MS, "n_thread": 1},
        "inputs": {"thalamus_spikes": {"input_type": "spikes", "module": "sonata",
                                       "input_file": "$INPUT_DIR/thalamus_spikes.h5", "node_set": "thalamus"}},
        "output": {"log_file": "log.txt", "spikes_file": "spikes.h5", "output_dir": "$OUTPUT_DIR",
                   "overwrite_output_dir": True, "quiet_simulator": True},
        "target_simulator": "NEST",
        "network": "config.circuit.json"})


def _text(html: str) -> str:
    """The page's visible text (no embedded images)."""
    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts = []

        def handle_data(self, data):
            self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def expected_rates(spikes_file: Path) -> dict[str, tuple[float, float]]:
    """Mean and median rate (Hz) per population, counted here from the spikes file and the builder's node order."""
    with h5py.File(spikes_file, "r") as h5:
        ids, times = h5["spikes/cortex/node_ids"][()], h5["spikes/cortex/timestamps"][()]
    counts = np.bincount(ids[(times > 0) & (times <= TSTOP_MS)].astype(int), minlength=N_EXC + N_INH)
    rates = counts / (TSTOP_MS / 1000.0)
    return {"LIF_exc": (rates[:N_EXC].mean(), np.median(rates[:N_EXC])),
            "LIF_inh": (rates[N_EXC:].mean(), np.median(rates[N_EXC:]))}


@pytest.fixture(scope="module")
def foreign_run(tmp_path_factory):
    """The foreign network run by ``run_pointnet.py`` from its own folder, as bmtk's examples are run."""
    root = tmp_path_factory.mktemp("foreign")
    config = build_foreign(root)
    result = subprocess.run([sys.executable, str(REPO / "run_pointnet.py"), config.name], cwd=root,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return root, config, result


def test_the_runner_runs_a_foreign_configuration_with_precise_input_times(foreign_run):
    root, _, result = foreign_run
    with h5py.File(root / "inputs" / "thalamus_spikes.h5", "r") as h5:
        steps = h5["spikes/thalamus/timestamps"][()] / DT_MS
    assert not np.allclose(steps, np.round(steps))  # off the grid: bmtk's default precise_times takes them
    out = root / "output"
    assert (out / "spikes.h5").is_file() and (out / "config.simulation.json").is_file()  # bmtk's copy, named so
    expected = expected_rates(out / "spikes.h5")
    assert expected["LIF_exc"][0] > 0 and expected["LIF_inh"][0] > 0  # the network fired
    summary = pd.read_csv(out / "rates_summary.csv").set_index("population")
    assert summary.reference_median_hz.isna().all()  # LIF_exc is not the project's LIF_exc
    for pop, (mean, _) in expected.items():
        assert summary.loc[pop, "mean_rate_hz"] == pytest.approx(mean)
    assert "no reference" in result.stdout and "L2/3" not in result.stdout
    assert not (root / "network" / "build_info.json").exists()  # nothing of the project's was built there


@pytest.mark.parametrize("with_config", [False, True])
def test_the_report_of_a_foreign_run(foreign_run, tmp_path, with_config):
    root, config, _ = foreign_run
    out = tmp_path / "output"
    shutil.copytree(root / "output", out)  # each report into its own copy
    argv = [sys.executable, "-m", "analysis", "report", str(out)] + (["--config", str(config)] if with_config else [])
    # from the project's folder, whose own network/ must not be taken for the run's relative paths
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    html = (out / "report.html").read_text()
    text = _text(html)
    for claim in PROJECT_CLAIMS:
        assert claim not in text, claim
    parser = ReportPage()
    parser.feed(html)
    table = {r[0]: r for r in parser.rows if r and len(r) == 9 and r[0] in ("LIF_exc", "LIF_inh")}
    assert set(table) == {"LIF_exc", "LIF_inh"}
    expected = expected_rates(out / "spikes.h5")
    for pop, (mean, median) in expected.items():
        row = table[pop]
        assert row[1] == str(N_EXC if pop == "LIF_exc" else N_INH)
        assert row[3] == f"{mean:.2f}" and row[4] == f"{median:.2f}"
        assert row[7] == "no reference" and row[8] == ""
    assert pd.read_csv(out / "comparison.csv").empty  # nothing compared with the mouse data
    assert "no reference" in text and "thalamus_spikes" in text


def test_the_report_without_a_copy_names_the_config_option(foreign_run, tmp_path):
    root, _, _ = foreign_run
    out = tmp_path / "output"
    out.mkdir()
    shutil.copy(root / "output" / "spikes.h5", out / "spikes.h5")
    result = subprocess.run([sys.executable, "-m", "analysis", "report", str(out)], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--config" in result.stderr and str(out) in result.stderr


def test_a_copy_whose_sub_configuration_is_gone_is_still_read(foreign_run, tmp_path):
    """bmtk's copy keeps "network": "config.circuit.json" beside the sections it brought in: those are used."""
    from analysis.rates import load_run

    root, _, _ = foreign_run
    moved = tmp_path / "elsewhere"
    shutil.copytree(root, moved)
    (moved / "config.circuit.json").unlink()
    copy = json.loads((moved / "output" / "config.simulation.json").read_text())
    copy["config_dir"] = str(moved)
    copy["output"]["spikes_file"] = str(moved / "output" / "spikes.h5")
    (moved / "output" / "config.simulation.json").write_text(json.dumps(copy))
    run = load_run(moved / "output")
    assert run.project_populations == frozenset() and run.referenced == set()
    assert set(run.cells.pop_name) == {"LIF_exc", "LIF_inh"} and len(run.cells) == N_EXC + N_INH
    assert str(moved) in str(run.config["networks"]["nodes"][0]["nodes_file"])


# --- the runner's errors: advice never writes into a network or inputs that are not the project's own -------------


def _foreign_copy(root: Path, tmp_path: Path) -> Path:
    """A private copy of the foreign folder (its config and files), so that a test may break it."""
    mine = tmp_path / "foreign"
    shutil.copytree(root, mine, ignore=shutil.ignore_patterns("output"))
    return mine


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("damage", ["network_file", "network_folder", "input_file", "lgn_named_input"])
def test_foreign_missing_files_are_named_without_a_command(foreign_run, tmp_path, monkeypatch, damage):
    from simulation.config import ConfigError
    from simulation.run import load_config

    mine = _foreign_copy(foreign_run[0], tmp_path)
    monkeypatch.chdir(mine)  # its relative paths, as bmtk's examples are run
    config = mine / "config.simulation.json"
    if damage == "network_file":
        (mine / "network" / "cortex_node_types.csv").unlink()
        key, missing = "networks.nodes.node_types_file", "cortex_node_types.csv"
    elif damage == "network_folder":
        shutil.rmtree(mine / "network")
        key, missing = "networks.nodes.nodes_file", "cortex_nodes.h5"
    elif damage == "input_file":
        (mine / "inputs" / "thalamus_spikes.h5").unlink()
        key, missing = "inputs.thalamus_spikes.input_file", "thalamus_spikes.h5"
    else:  # named like the project's LGN spikes, but the configuration has no lgn_input: not the project's
        raw = json.loads(config.read_text())
        raw["inputs"]["thalamus_spikes"]["input_file"] = "$INPUT_DIR/lgn_spikes.h5"
        config.write_text(json.dumps(raw))
        key, missing = "inputs.thalamus_spikes.input_file", "lgn_spikes.h5"
    before = _listing(mine)
    for build in (True, False):
        with pytest.raises(ConfigError) as info:
            load_config(config, build_missing=build)
        message = str(info.value)
        assert key in message and missing in message, message
        assert "build_network --" not in message and "python -m inputs" not in message and "--force" not in message
    assert _listing(mine) == before  # nothing built, made or replaced


def test_the_projects_own_config_keeps_its_build_advice(tiny_config, tmp_path):
    from simulation.config import ConfigError
    from simulation.run import load_config

    config = json.loads(tiny_config.read_text())
    config["manifest"]["$NETWORK_DIR"] = str(tmp_path / "nonet")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=f"make the network with: python -m build_network --model seed --out "
                                          f"{tmp_path / 'nonet'}"):
        load_config(path, build_missing=False)
    # an incomplete network of the project's builder: the command that rebuilds it, and only it
    network = tmp_path / "partial"
    shutil.copytree(tiny_config.parent / "network", network)
    (network / "V1_V1_edges.h5").unlink()
    config["manifest"]["$NETWORK_DIR"] = str(network)
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"python -m build_network --model seed --out .*partial --force"):
        load_config(path, build_missing=True)
    # its missing LGN spikes: the command that makes them, on its own network
    config["manifest"]["$NETWORK_DIR"] = str(tiny_config.parent / "network")
    config["inputs"]["LGN_spikes"]["input_file"] = str(tmp_path / "lgn_spikes.h5")
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"make it with: python -m inputs spikes --config"):
        load_config(path, build_missing=False)
