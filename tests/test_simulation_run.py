"""End-to-end runs on NEST through PointNet at CI size: spikes, summary, determinism, atomic output, reports."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from helpers import REPO, TINY_N, TINY_TSTOP_MS, run_copy

import simulation.run as sim_run
from analysis.rates import read_nodes
from simulation.config import stage_output


@pytest.fixture()
def first_run(tiny_run):
    return tiny_run


def test_run_produces_spikes_for_every_population(first_run, tiny_config):
    result, out, _ = first_run
    assert (out / "spikes.h5").is_file() and not (out / "spikes.partial.h5").exists()
    network = tiny_config.parent / "network"
    nodes = read_nodes(network / "V1_nodes.h5", network / "V1_node_types.csv", "V1")
    with h5py.File(out / "spikes.h5", "r") as h5:
        ids, times = h5["spikes/V1/node_ids"][()], h5["spikes/V1/timestamps"][()]
    assert len(ids) > 0 and np.isfinite(times).all() and times.max() <= TINY_TSTOP_MS
    spiking = set(nodes.set_index("node_id").loc[np.unique(ids), "pop_name"])
    assert spiking == {"LIF_exc", "PV", "SST", "VIP"}
    assert f"simulated {TINY_TSTOP_MS:g} ms" in result.stdout and "ms simulated" in result.stderr
    copy = json.loads((out / "a.json").read_text())  # bmtk's copy of the configuration names the final file
    assert copy["output"]["spikes_file"] == str(out / "spikes.h5")


def test_summary_matches_an_independent_count(first_run, tiny_config):
    result, out, _ = first_run
    summary = pd.read_csv(out / "rates_summary.csv").set_index("population")
    network = tiny_config.parent / "network"
    with h5py.File(network / "V1_nodes.h5", "r") as h5:
        type_ids = h5["nodes/V1/node_type_id"][()]
    pop_of_type = pd.read_csv(network / "V1_node_types.csv", sep=" ").set_index("node_type_id").pop_name
    pops = pop_of_type.reindex(type_ids).to_numpy()
    with h5py.File(out / "spikes.h5", "r") as h5:
        counts = np.bincount(h5["spikes/V1/node_ids"][()].astype(np.int64), minlength=TINY_N)  # uint64 on disk
    for pop in ("LIF_exc", "PV", "SST", "VIP"):
        rates = counts[pops == pop] / (TINY_TSTOP_MS / 1000.0)
        row = summary.loc[pop]
        assert row.n_cells == (pops == pop).sum()
        assert row.frac_active == pytest.approx((rates > 0).mean())
        assert row.mean_rate_hz == pytest.approx(rates.mean())
        assert row.median_rate_hz == pytest.approx(np.median(rates))
        assert f"{pop:10s} {int(row.n_cells):6d}" in result.stdout
    assert np.isfinite(summary[["mean_rate_hz", "median_rate_hz", "reference_median_hz"]].to_numpy()).all()


def test_same_seed_and_threads_give_identical_spikes(first_run, tiny_config):
    _, out, tmp = first_run
    result, again = run_copy(tiny_config, tmp, "b")
    assert result.returncode == 0
    with h5py.File(out / "spikes.h5", "r") as a, h5py.File(again / "spikes.h5", "r") as b:
        for key in ("node_ids", "timestamps"):
            assert np.array_equal(a[f"spikes/V1/{key}"][()], b[f"spikes/V1/{key}"][()])


def test_interrupted_run_leaves_no_complete_looking_spikes(tmp_path, tiny_config, monkeypatch):
    config = json.loads(tiny_config.read_text())
    config["manifest"]["$OUTPUT_DIR"] = str(tmp_path / "out")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))

    def killed(self, tstop=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim_run.ProgressSimulator, "run", killed)
    with pytest.raises(KeyboardInterrupt):
        sim_run.simulate(path, build_missing=False)
    assert not (tmp_path / "out" / "spikes.h5").exists()
    (tmp_path / "out" / "spikes.h5").write_bytes(b"the previous run's spikes")
    with pytest.raises(KeyboardInterrupt):
        sim_run.simulate(path, build_missing=False)
    assert (tmp_path / "out" / "spikes.h5").read_bytes() == b"the previous run's spikes"
    staged = _staging_folders(tmp_path / "out")  # both of this live process: neither removed
    assert len(staged) == 2 and all((s / "log.txt").is_file() for s in staged)


def test_voltage_sample_report(tmp_path, tiny_config):
    config = json.loads(tiny_config.read_text())
    config["voltage_sample"] = {"enabled": True, "cells_per_population": 2}
    config["run"]["tstop"] = 50.0
    path = tmp_path / "v.json"
    path.write_text(json.dumps(config))
    result, out = run_copy(path, tmp_path, "v")
    assert result.returncode == 0, result.stderr[-2000:]
    with h5py.File(out / "v_report.h5", "r") as h5:
        node_ids = h5["report/V1/mapping/node_ids"][()]
        data = h5["report/V1/data"][()]
    network = tiny_config.parent / "network"
    nodes = read_nodes(network / "V1_nodes.h5", network / "V1_node_types.csv", "V1").set_index("node_id")
    assert len(node_ids) == 8 and nodes.loc[node_ids].pop_name.value_counts().to_dict() == {
        "LIF_exc": 2, "PV": 2, "SST": 2, "VIP": 2}
    assert data.shape[1] == 8 and np.isfinite(data).all() and data.min() > -100 and data.max() < 0


def test_missing_lgn_spikes_are_made_with_the_defaults(tmp_path, tiny_config):
    config = json.loads(tiny_config.read_text())
    config["inputs"]["LGN_spikes"]["input_file"] = str(tmp_path / "lgn_spikes.h5")
    config["run"]["tstop"] = 50.0
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config))
    loaded = sim_run.load_config(path, build_missing=True)
    assert (tmp_path / "lgn_spikes.h5").is_file()
    with h5py.File(tmp_path / "lgn_spikes.h5", "r") as h5:
        assert h5["spikes/LGN/timestamps"][()].max() <= 50.0
    assert loaded["inputs"]["LGN_spikes"]["input_file"] == str(tmp_path / "lgn_spikes.h5")


# --- results replaced only when a run completes (the staging folder) -------------------------------------------


def _private_copy(tiny_config, tmp_path, name: str, tstop_ms: float | None = None) -> Path:
    """A copy of the tiny configuration writing to ``tmp_path/out`` (shared by the runs of one test)."""
    config = json.loads(tiny_config.read_text())
    config["manifest"]["$OUTPUT_DIR"] = str(tmp_path / "out")
    if tstop_ms is not None:
        config["run"]["tstop"] = tstop_ms
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def _command(path: Path) -> list[str]:
    return [sys.executable, str(REPO / "run_pointnet.py"), str(path), "--no-build"]


def _unrelated(out: Path) -> dict[str, bytes]:
    """Files a run does not write, as left by the report, the perturbation suite and another condition."""
    files = {"report.html": b"<html>old report</html>", "figures/x.png": b"\x89PNG not really",
             "perturbations/PV_exc/spikes.h5": b"a perturbation run", "perturbations/summary.csv": b"name,rate\n",
             "stimulus/fl/spikes.h5": b"another condition", "notes.txt": b"kept"}
    for name, content in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(content)
    return files


def _staging_folders(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.name.startswith(sim_run.STAGING_PREFIX))


def _valid_spikes(file: Path) -> int:
    with h5py.File(file, "r") as h5:
        ids, times = h5["spikes/V1/node_ids"][()], h5["spikes/V1/timestamps"][()]
    assert len(ids) == len(times) > 0 and np.isfinite(times).all()
    return len(ids)


def test_rerun_keeps_the_files_it_does_not_write(tmp_path, tiny_config):
    path = _private_copy(tiny_config, tmp_path, "base", tstop_ms=100.0)
    out = tmp_path / "out"
    kept = _unrelated(out)
    (out / "spikes.h5").write_bytes(b"the previous run's spikes")
    (out / "rates_summary.csv").write_bytes(b"the previous run's summary")
    result = subprocess.run(_command(path), capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for name, content in kept.items():
        assert (out / name).read_bytes() == content, name
    _valid_spikes(out / "spikes.h5")
    assert pd.read_csv(out / "rates_summary.csv").population.tolist() == ["LIF_exc", "PV", "SST", "VIP"]
    assert (out / "log.txt").stat().st_size > 0 and not (out / "spikes.partial.h5").exists()
    assert _staging_folders(out) == []
    copy = json.loads((out / "base.json").read_text())["output"]  # bmtk's copy names the final places
    assert copy["output_dir"] == str(out) and copy["spikes_file"] == str(out / "spikes.h5")
    assert copy["log_file"] == str(out / "log.txt")


def _wait_for_progress(process: subprocess.Popen, out: Path, stderr: Path, timeout_s: float = 120.0) -> None:
    """Wait until ``process`` has its staging folder and has simulated its first chunk."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, stderr.read_text()[-3000:]
        if out.is_dir() and _staging_folders(out) and re.search(r"NEST: [1-9][0-9]*/", stderr.read_text()):
            return
        time.sleep(0.1)
    raise AssertionError(f"no progress after {timeout_s} s: {stderr.read_text()[-3000:]}")


def test_a_killed_run_leaves_the_previous_results(tmp_path, tiny_config):
    out = tmp_path / "out"
    kept = _unrelated(out)
    kept |= {"spikes.h5": b"the previous run's spikes", "rates_summary.csv": b"the previous run's summary",
             "log.txt": b"the previous run's log", "long.json": b"{}"}
    for name, content in kept.items():
        (out / name).write_bytes(content)
    before = sorted(p.name for p in out.iterdir())
    path = _private_copy(tiny_config, tmp_path, "long", tstop_ms=200_000.0)
    stderr = tmp_path / "long.stderr"
    with stderr.open("w") as err:
        process = subprocess.Popen(_command(path), stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)
        try:
            _wait_for_progress(process, out, stderr)
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    for name, content in kept.items():
        assert (out / name).read_bytes() == content, name
    stale = _staging_folders(out)
    assert len(stale) == 1 and f"-{process.pid}-" in stale[0].name
    assert sorted(p.name for p in out.iterdir()) == sorted([*before, stale[0].name])  # no spikes.partial.h5 here

    result = subprocess.run(_command(_private_copy(tiny_config, tmp_path, "again", tstop_ms=50.0)),
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"removed {stale[0]}" in result.stdout and not stale[0].exists() and _staging_folders(out) == []
    _valid_spikes(out / "spikes.h5")
    for name in ("report.html", "figures/x.png", "perturbations/PV_exc/spikes.h5", "long.json"):
        assert (out / name).read_bytes() == kept[name]


def test_only_staging_folders_of_dead_processes_of_this_host_are_removed(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead = int(finished.stdout)
    host = socket.gethostname()
    live = tmp_path / f".staging-{host}-{os.getpid()}-0a1b"
    gone = tmp_path / f".staging-{host}-{dead}-2c3d"
    elsewhere = tmp_path / f".staging-another-host-{dead}-4e5f"
    others = [tmp_path / ".staging-junk", tmp_path / "results"]
    for folder in (live, gone, elsewhere, *others):
        folder.mkdir()
        (folder / "spikes.partial.h5").write_bytes(b"x")
    as_file = tmp_path / f".staging-{host}-{dead}-6a7b"
    as_file.write_bytes(b"not a folder")
    assert sim_run.remove_stale_staging(tmp_path) == [gone]
    assert not gone.exists()
    assert all(p.exists() for p in (live, elsewhere, as_file, *others))
    assert sim_run.remove_stale_staging(tmp_path / "missing") == []
    assert sim_run.STAGING_PATTERN.match(sim_run.staging_name()).group("host", "pid") == (host, str(os.getpid()))


def test_bmtk_writes_into_the_staging_folder(tmp_path):
    out = tmp_path / "out"
    output = {"output_dir": str(out), "log_file": str(out / "log.txt"), "spikes_file": "sub/s.h5",
              "spikes_file_csv": "/elsewhere/s.csv", "quiet_simulator": True}
    staged = stage_output(output, ".staging-h-1-ab")
    target = out / ".staging-h-1-ab"
    assert staged == {"output_dir": str(target), "log_file": str(target / "log.txt"),
                      "spikes_file": str(target / "sub" / "s.h5"), "spikes_file_csv": "/elsewhere/s.csv",
                      "quiet_simulator": True}
    assert output["output_dir"] == str(out), "stage_output must not change its input"
    assert stage_output({"output_dir": str(out)}, "st")["spikes_file"] == str(out / "st" / "spikes.h5")


def test_precise_spike_timing_runs_the_precise_twins(tiny_config, tmp_path):
    """spike_timing 'precise': every iaf_psc_delta cell is created as iaf_psc_delta_ps with the same parameters,
    the input spike generators are precise, and the run completes; 'grid' afterwards creates iaf_psc_delta again."""
    import nest

    config = json.loads(tiny_config.read_text())
    config["manifest"]["$OUTPUT_DIR"] = str(tmp_path / "precise")
    config["spike_timing"] = "precise"
    config["run"].pop("precise_times", None)
    path = tmp_path / "precise.json"
    path.write_text(json.dumps(config))
    spikes = sim_run.simulate(path, build_missing=False)
    models = pd.Series(nest.GetNodes().get("model")).value_counts()
    assert models["iaf_psc_delta_ps"] == TINY_N and "iaf_psc_delta" not in models
    generators = nest.GetNodes({"model": "spike_generator"})
    assert all(generators.get("precise_times"))
    cells = nest.GetNodes({"model": "iaf_psc_delta_ps"})
    pop = read_nodes(Path(config["manifest"]["$NETWORK_DIR"]) / "V1_nodes.h5",
                     Path(config["manifest"]["$NETWORK_DIR"]) / "V1_node_types.csv", "V1")
    # every cell carries the parameters of its population's model file, in the populations' proportions
    for key in ("tau_m", "V_th"):
        expected = pd.Series({name: json.loads((REPO / "components" / "point_neuron_models" / f"{name}.json")
                                               .read_text())[key] for name in pop.pop_name.unique()})
        observed = pd.Series(np.round(cells.get(key), 6)).value_counts()
        assert observed.to_dict() == {round(expected[name], 6): n for name, n in pop.pop_name.value_counts().items()}
    with h5py.File(spikes, "r") as h5:
        assert len(h5["spikes/V1/timestamps"]) > 0
    config["spike_timing"] = "grid"
    config["run"]["precise_times"] = False
    config["manifest"]["$OUTPUT_DIR"] = str(tmp_path / "grid")
    path.write_text(json.dumps(config))
    sim_run.simulate(path, build_missing=False)
    assert "iaf_psc_delta_ps" not in set(nest.GetNodes().get("model"))


@pytest.mark.parametrize(("timing", "precise_times", "words"), [
    ("exact", None, "spike_timing must be one of 'grid', 'precise'"),
    ("precise", False, "needs off-grid input spikes: set run.precise_times to true"),
])
def test_bad_spike_timing_is_named(tiny_config, tmp_path, timing, precise_times, words):
    config = json.loads(tiny_config.read_text())
    config["spike_timing"] = timing
    if precise_times is not None:
        config["run"]["precise_times"] = precise_times
    config["manifest"]["$OUTPUT_DIR"] = str(tmp_path / "out")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    with pytest.raises(sim_run.ConfigError, match=re.escape(words)):
        sim_run.simulate(path, build_missing=False)
    assert not (tmp_path / "out").exists()
