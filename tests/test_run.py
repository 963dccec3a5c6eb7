"""End-to-end runs on NEST through PointNet at CI size: spikes, summary, determinism, atomic output, reports."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import TINY_N, TINY_TSTOP_MS, run_copy

import simulation.run as sim_run
from analysis.rates import read_nodes


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
        counts = np.bincount(h5["spikes/V1/node_ids"][()], minlength=TINY_N)
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
