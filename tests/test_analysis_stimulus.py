"""``python -m analysis stimulus``: a short flash session of a small network end to end through FilterNet, NEST and
AllenSDK's metrics; results replace the folder only when complete; bad input ends in one message and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from analysis.__main__ import main
from analysis.stimulus import run_condition, stimulus_config
from inputs.stimuli import STIMULI_FILE, StimulusError

TRIALS = 3


@pytest.fixture(scope="module")
def flash_run(tiny_config, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stim") / "flash"
    run_condition("flash", out, config_path=tiny_config, trials=TRIALS, seed=1, progress=False)
    return out


@pytest.mark.slow
def test_flash_run_writes_the_promised_files(flash_run):
    for name in ("spikes.h5", "stimulus_presentations.csv", "unit_metrics.csv", "comparison.csv", "run_info.json"):
        assert (flash_run / name).is_file(), name
    with h5py.File(flash_run / "spikes.h5", "r") as h5:
        assert set(h5["spikes"]) == {"V1", "LGN"}
        assert len(h5["spikes/LGN/timestamps"]) > 0
    table = pd.read_csv(flash_run / "stimulus_presentations.csv")
    assert {"start_time", "stop_time", "stimulus_name", "color"} <= set(table.columns)
    assert len(table) == 2 * TRIALS and set(table.color) == {1.0, -1.0}
    assert not list(flash_run.parent.glob(".flash.*"))  # no staging folder left


@pytest.mark.slow
def test_unit_metrics_cover_every_cell_under_allensdk_names(flash_run, tiny_config):
    metrics = pd.read_csv(flash_run / "unit_metrics.csv")
    assert list(metrics.columns[:3]) == ["population", "node_id", "pop_name"]
    assert {"firing_rate_fl", "time_to_peak_fl", "fano_fl"} <= set(metrics.columns)
    counts = metrics.groupby("population").size()
    assert counts["LGN"] == 500 and counts["V1"] == 1500
    assert not metrics.duplicated(["population", "node_id"]).any()


@pytest.mark.slow
def test_lgn_responds_to_white_and_matches_its_calibration(flash_run):
    metrics = pd.read_csv(flash_run / "unit_metrics.csv")
    lgn = metrics[metrics.population == "LGN"]
    protocol = json.loads(STIMULI_FILE.read_text())
    # FilterNet's tON_TF8 over the 250 ms flashes: white 5.05 Hz, black 1.19 Hz (at scale 1), times the rate scale
    expected = protocol["lgn"]["rate_scale"] * (5.053 + 1.188) / 2
    assert lgn.firing_rate_fl.mean() == pytest.approx(expected, rel=0.1)
    with h5py.File(flash_run / "spikes.h5", "r") as h5:
        t = h5["spikes/LGN/timestamps"][()] / 1000.0
    table = pd.read_csv(flash_run / "stimulus_presentations.csv")
    early = {c: sum(((t >= s) & (t < s + 0.1)).sum() for s in table.start_time[table.color == c]) for c in (1, -1)}
    assert early[1] > 3 * early[-1]


@pytest.mark.slow
def test_rerun_replaces_the_folder_only_when_complete(flash_run, tiny_config, tmp_path):
    out = tmp_path / "flash"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    bad = json.loads(tiny_config.read_text())
    bad["components"]["point_neuron_models_dir"] = str(tmp_path / "missing")
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(StimulusError, match="is unchanged"):
        run_condition("flash", out, config_path=tmp_path / "bad.json", trials=TRIALS, progress=False)
    assert (out / "mine.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "flash"]


def test_stimulus_config_replaces_only_the_lgn_input(tiny_config, tmp_path):
    raw = json.loads(tiny_config.read_text())
    raw["inputs"]["clamp"] = {"input_type": "current_clamp", "module": "IClamp", "node_set": "V1", "amp": 1.0,
                              "delay": 1.0, "duration": 1.0}
    config = stimulus_config(raw, tiny_config, tmp_path / "lgn.h5", tmp_path / "v1", 5000.0, 0.1, 1)
    assert config["inputs"]["LGN_spikes"]["input_file"] == str(tmp_path / "lgn.h5")
    assert config["inputs"]["clamp"]["module"] == "IClamp"
    assert config["run"]["tstop"] == 5000.0 and config["run"]["dt"] == 0.1 and config["run"]["n_thread"] == 1
    assert config["output"]["output_dir"] == str(tmp_path / "v1")


def _bad_protocol(tmp_path: Path, section: str, key: str, value) -> Path:
    protocol = json.loads(STIMULI_FILE.read_text())
    protocol[section][key] = value
    path = tmp_path / "protocol.json"
    path.write_text(json.dumps(protocol))
    return path


@pytest.mark.parametrize(("args", "words"), [
    (["flashes"], "unknown condition 'flashes'; valid conditions are gray, flash, gratings, seed"),
    (["flash", "--trials", "1"], "too few for condition flash"),
    (["gratings", "--trials", "0"], "too few for condition gratings"),
    (["flash", "--seed", "-1"], "--seed must be an integer"),
    (["flash", "--dt", "-0.1"], "--dt must be a time step > 0 ms"),
    (["flash", "--n-thread", "lots"], "--n-thread must be 'auto' or an integer"),
])
def test_bad_arguments_exit_2_with_one_message(args, words, tiny_config, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["stimulus", *args, "--config", str(tiny_config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and err.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("section", "key", "value", "words"), [
    ("flash", "duration_s", -0.25, "flash.duration_s must be a number > 0"),
    ("flash", "contrast", 1.5, "flash.contrast must be a number in [0, 1]"),
    ("gratings", "temporal_frequencies_hz", [2.0, 0.0], "gratings.temporal_frequencies_hz must all be > 0 Hz"),
])
def test_bad_protocol_exits_2_naming_file_and_field(section, key, value, words, tiny_config, tmp_path, capsys):
    protocol = _bad_protocol(tmp_path, section, key, value)
    out = tmp_path / "out"
    assert main(["stimulus", "flash", "--config", str(tiny_config), "--protocol", str(protocol), "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err
    assert str(protocol) in err and words in err and "Traceback" not in err
    assert not out.exists()


def test_out_naming_a_file_is_refused(tiny_config, tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("mine")
    assert main(["stimulus", "gray", "--config", str(tiny_config), "--out", str(target)]) == 2
    assert "is a file" in capsys.readouterr().err and target.read_text() == "mine"


@pytest.mark.slow
def test_gray_and_seed_conditions_run(tiny_config, tmp_path):
    gray = run_condition("gray", tmp_path / "gray", config_path=tiny_config, trials=2, progress=False)
    metrics = pd.read_csv(gray / "unit_metrics.csv")
    lgn = metrics[metrics.population == "LGN"].spontaneous_rate
    scale = json.loads(STIMULI_FILE.read_text())["lgn"]["rate_scale"]
    assert lgn.mean() == pytest.approx(2.6 * scale, rel=0.1)  # bmtk's tON spontaneous rate, scaled
    seed = run_condition("seed", tmp_path / "seed", config_path=tiny_config, trials=TRIALS, progress=False)
    table = pd.read_csv(seed / "stimulus_presentations.csv")
    assert table.screen.str.startswith("none").all()
    with h5py.File(seed / "lgn_spikes.h5", "r") as h5:
        t = h5["spikes/LGN/timestamps"][()] / 1000.0
    # constant rate: no more LGN spikes after white than after black onsets (within Poisson noise)
    white = sum(((t >= s) & (t < s + 0.1)).sum() for s in table.start_time[table.color == 1])
    black = sum(((t >= s) & (t < s + 0.1)).sum() for s in table.start_time[table.color == -1])
    assert abs(white - black) < 5 * np.sqrt(white + black)


@pytest.mark.slow
def test_metrics_command_on_a_run(flash_run, tmp_path, capsys):
    out = tmp_path / "m.csv"
    assert main(["metrics", str(flash_run / "spikes.h5"), "--presentations",
                 str(flash_run / "stimulus_presentations.csv"), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    mine = pd.read_csv(flash_run / "unit_metrics.csv")
    fired = mine[mine.n_spikes > 0].set_index(["population", "node_id"]).sort_index()
    again = table.set_index(["population", "node_id"]).sort_index()
    assert len(again) == len(fired)
    pd.testing.assert_series_equal(again.firing_rate_fl, fired.firing_rate_fl, check_names=False, rtol=1e-5)


@pytest.mark.slow
def test_a_session_without_flashes_is_refused(flash_run, tmp_path, capsys):
    table = pd.read_csv(flash_run / "stimulus_presentations.csv").assign(stimulus_name="spontaneous")
    table.to_csv(tmp_path / "gray.csv", index=False)
    assert main(["metrics", str(flash_run / "spikes.h5"), "--presentations", str(tmp_path / "gray.csv"), "--out",
                 str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "gray.csv") in err and "no flashes or drifting_gratings" in err
    assert "valid stimulus_name values" in err and "Traceback" not in err
    assert not (tmp_path / "m.csv").exists()
