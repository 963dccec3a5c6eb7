"""Perturbation suite at CI size: clamp targets, all eight runs summarised, silenced populations, resume."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
from helpers import REPO, TINY_N, TINY_TSTOP_MS

from analysis.rates import read_nodes
from perturbations.__main__ import main
from perturbations.configs import clamp_window, suite_names, write_suite
from perturbations.suite import expected_cost, is_finished, run_suite
from perturbations.summary import SUMMARY_COLUMNS, median_change
from simulation.config import ConfigError

POPS = ["LIF_exc", "PV", "SST", "VIP"]


def test_suite_names_and_generated_configs(tmp_path, tiny_config):
    names = suite_names(POPS)
    assert names == ["baseline", "LIF_exc_excite", "LIF_exc_inhibit", "PV_excite", "PV_inhibit", "SST_excite",
                     "SST_inhibit", "VIP_excite", "VIP_inhibit"]
    configs = write_suite(tiny_config, tmp_path)
    assert list(configs) == names
    vip = json.loads(configs["VIP_inhibit"].read_text())
    clamp = vip["inputs"]["clamp_VIP"]
    assert clamp["node_set"] == {"population": "V1", "pop_name": "VIP"} and clamp["amp"] == -230.0
    assert clamp["delay"] == pytest.approx(0.2)  # 2 dt
    assert clamp["delay"] + clamp["duration"] == pytest.approx(TINY_TSTOP_MS)
    assert vip["manifest"]["$OUTPUT_DIR"] == str(tmp_path / "VIP_inhibit")
    assert "clamp_VIP" not in json.loads(configs["baseline"].read_text()).get("inputs", {})


def test_the_largest_depolarizing_clamp_is_expected_to_cost_most(tmp_path, tiny_config):
    configs = write_suite(tiny_config, tmp_path)
    cells = {"LIF_exc": 850, "PV": 44, "SST": 32, "VIP": 74}
    costs = {name: expected_cost(path, cells) for name, path in configs.items()}
    assert costs["LIF_exc_excite"] == pytest.approx(230.0 * 850)
    assert costs["baseline"] == costs["PV_inhibit"] == 0.0
    order = sorted(costs, key=lambda n: -costs[n])
    assert order[:4] == ["LIF_exc_excite", "VIP_excite", "PV_excite", "SST_excite"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"populations": ["L5_IT"]}, "unknown population(s) ['L5_IT']; valid populations are ['LIF_exc', 'PV'"),
    ({"amp_pa": "big"}, "the clamp amplitude must be a number of pA, got 'big'"),
    ({"amp_pa": float("nan")}, "finite number"),
    ({"delay_ms": 0.05}, "must start after dt = 0.1 ms"),
    ({"delay_ms": 100.0, "duration_ms": 1000.0}, "end by tstop"),
    ({"only": ["PV_excit"]}, "unknown run name(s) ['PV_excit']"),
    ({"sweep": "Sst"}, "valid populations are"),
])
def test_bad_input_is_rejected_before_nest(tmp_path, tiny_config, kwargs, message):
    with pytest.raises(ConfigError) as err:
        write_suite(tiny_config, tmp_path, **kwargs)
    assert message in str(err.value)
    assert not (tmp_path / "configs").exists() or not list((tmp_path / "configs").iterdir())


def test_cli_bad_input_exits_2(tmp_path, tiny_config, capsys):
    assert main(["run", "--config", str(tiny_config), "--populations", "Pyr", "--out", str(tmp_path)]) == 2
    assert "valid populations are" in capsys.readouterr().err


def test_clamp_reaches_exactly_the_named_population(tmp_path, tiny_config):
    """With recurrent and LGN input off, V_m of the clamped cells rises by I tau_m / C_m; no other cell moves."""
    base = json.loads(tiny_config.read_text())
    base["networks"]["edges"] = []
    base["inputs"] = {}
    base["run"]["tstop"] = 400.0
    base["voltage_sample"] = {"enabled": True, "cells_per_population": 3}
    isolated = tmp_path / "isolated.json"
    isolated.write_text(json.dumps(base))
    amp = 20.0
    configs = write_suite(isolated, tmp_path / "out", amp_pa=amp, populations=["LIF_exc", "PV"],
                          only=["LIF_exc_excite", "PV_inhibit"])
    run_suite(configs, workers=2)
    network = tiny_config.parent / "network"
    nodes = read_nodes(network / "V1_nodes.h5", network / "V1_node_types.csv", "V1").set_index("node_id")
    models = {pop: json.loads((REPO / "components" / "point_neuron_models" / f"{pop}.json").read_text())
              for pop in POPS}
    delay, _ = clamp_window(base, None, None)
    for name, clamped, sign in (("baseline", None, 0), ("LIF_exc_excite", "LIF_exc", 1), ("PV_inhibit", "PV", -1)):
        with h5py.File(tmp_path / "out" / name / "v_report.h5", "r") as h5:
            node_ids = h5["report/V1/mapping/node_ids"][()]
            v_end = h5["report/V1/data"][()][-1]
        assert len(node_ids) == 12
        for node_id, v in zip(node_ids, v_end, strict=True):
            pop = nodes.loc[node_id, "pop_name"]
            m = models[pop]
            expected = m["E_L"]
            if pop == clamped:
                t = base["run"]["tstop"] - delay - base["run"]["dt"]
                expected += sign * amp * m["tau_m"] / m["C_m"] * (1 - np.exp(-t / m["tau_m"]))
            assert v == pytest.approx(expected, abs=0.02), (name, pop, node_id)


@pytest.fixture(scope="module")
def suite(tiny_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    assert main(["run", "--config", str(tiny_config), "--workers", "2", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_all_eight_perturbations_run_and_are_summarised(suite):
    summary = pd.read_csv(suite / "summary.csv")
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert set(summary.perturbation) == set(suite_names(POPS))
    assert len(summary) == 9 * 4
    for name in ("VIP_excite", "VIP_inhibit"):
        rows = summary[summary.perturbation == name]
        assert set(rows.population) == set(POPS) and np.isfinite(rows.median_rate_hz).all()
    assert (suite / "rates.png").is_file() and (suite / "rasters.png").is_file()
    base = summary[summary.perturbation == "baseline"]
    assert (base.delta_median_hz == 0).all() and (base.delta_ci_low == 0).all()
    assert (summary.delta_ci_low <= summary.delta_median_hz + 1e-9).all()
    assert (summary.delta_median_hz <= summary.delta_ci_high + 1e-9).all()


@pytest.mark.slow
def test_silenced_population_is_summarised_with_zero_rates(suite):
    summary = pd.read_csv(suite / "summary.csv").set_index(["perturbation", "population"])
    silenced = summary.loc[("LIF_exc_inhibit", "LIF_exc")]
    assert silenced.frac_active == 0 and silenced.mean_rate_hz == 0 and silenced.median_rate_hz == 0
    assert summary.loc[("LIF_exc_excite", "LIF_exc"), "median_rate_hz"] > summary.loc[
        ("baseline", "LIF_exc"), "median_rate_hz"]


@pytest.mark.slow
def test_report_of_a_perturbation_run_with_a_silenced_population(suite):
    """The report reads a perturbation's own folder (bmtk's copy of its configuration) like any run."""
    from analysis.__main__ import main as analysis_main

    assert analysis_main(["report", str(suite / "LIF_exc_inhibit")]) == 0
    table = pd.read_csv(suite / "LIF_exc_inhibit" / "comparison.csv").set_index(["population", "condition"])
    assert table.loc[("LIF_exc", "flash"), "model_median_hz"] == 0
    assert table.loc[("LIF_exc", "flash"), "model_zero_frac"] == 1.0
    assert np.isnan(table.loc[("LIF_exc", "flash"), "ks_log_rate"])  # no log rate of a silent population


@pytest.mark.slow
def test_summary_agrees_with_an_independent_count(suite, tiny_config):
    summary = pd.read_csv(suite / "summary.csv").set_index(["perturbation", "population"])
    network = tiny_config.parent / "network"
    with h5py.File(network / "V1_nodes.h5", "r") as h5:
        type_ids = h5["nodes/V1/node_type_id"][()]
    pops = pd.read_csv(network / "V1_node_types.csv", sep=" ").set_index("node_type_id").pop_name.reindex(
        type_ids).to_numpy()
    base_counts = None
    for name in ("baseline", "SST_excite", "VIP_inhibit"):
        with h5py.File(suite / name / "spikes.h5", "r") as h5:
            ids = h5["spikes/V1/node_ids"][()].astype(np.int64) if "V1" in h5["spikes"] else np.zeros(0, dtype=int)
        rates = np.bincount(ids, minlength=TINY_N) / (TINY_TSTOP_MS / 1000)
        base_counts = rates if base_counts is None else base_counts
        for pop in POPS:
            row = summary.loc[(name, pop)]
            assert row.n_cells == (pops == pop).sum()
            assert row.mean_rate_hz == pytest.approx(rates[pops == pop].mean(), rel=1e-5)
            assert row.median_rate_hz == pytest.approx(np.median(rates[pops == pop]), rel=1e-5)
            assert row.delta_median_hz == pytest.approx(
                np.median(rates[pops == pop]) - np.median(base_counts[pops == pop]), abs=1e-5)


@pytest.mark.slow
def test_resume_skips_finished_runs(suite, tiny_config, capsys):
    configs = {p.stem: p for p in sorted((suite / "configs").glob("*.json"))}
    assert all(is_finished(p) for p in configs.values())
    stamp = (suite / "PV_excite" / "spikes.h5").stat().st_mtime_ns
    assert run_suite(configs, workers=1) == []
    assert "PV_excite: finished earlier, skipped" in capsys.readouterr().out
    assert (suite / "PV_excite" / "spikes.h5").stat().st_mtime_ns == stamp
    (suite / "SST_inhibit" / "spikes.h5").unlink()  # an interrupted run leaves no spikes.h5
    records = run_suite(configs, workers=1)
    assert [r["name"] for r in records] == ["SST_inhibit"] and (suite / "SST_inhibit" / "spikes.h5").is_file()


def test_sweep_gives_rate_current_curves(tmp_path, tiny_config):
    assert main(["run", "--config", str(tiny_config), "--sweep", "PV", "--sweep-amps=-200:200:200",
                 "--workers", "2", "--out", str(tmp_path)]) == 0
    sweep = pd.read_csv(tmp_path / "sweep_PV.csv")
    assert sorted(sweep.amp_pa.unique()) == [-200.0, 0.0, 200.0]
    assert set(sweep.population) == set(POPS) and (tmp_path / "sweep_PV.png").is_file()
    pv = sweep[sweep.population == "PV"].set_index("amp_pa").mean_rate_hz
    assert pv[-200.0] <= pv[0.0]


def test_median_change_interval_covers_a_known_shift():
    rng = np.random.default_rng(1)
    base = rng.exponential(2.0, 400)
    delta, low, high = median_change(base, base + 1.5, seed=2)
    assert delta == pytest.approx(1.5) and low == pytest.approx(1.5) and high == pytest.approx(1.5)
    noisy = base * rng.lognormal(0, 0.3, 400) + 1.0
    delta, low, high = median_change(base, noisy, seed=2)
    assert low < delta < high and low > 0


def test_runs_on_an_existing_dask_scheduler(tmp_path, tiny_config):
    """--scheduler: the suite attaches to a running Dask cluster (here a local one started by the test)."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert main(["run", "--config", str(tiny_config), "--only", "VIP_excite", "--scheduler",
                     cluster.scheduler_address, "--out", str(tmp_path)]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert set(summary.perturbation) == {"baseline", "VIP_excite"}
    assert (tmp_path / "VIP_excite" / "spikes.h5").is_file()


def test_clamp_uses_no_generator_and_keeps_nests_communication_interval(tmp_path, tiny_config):
    """The clamp is a schedule of I_e changes: no current generator, NEST's min_delay stays 0.9 ms."""
    import nest
    from bmtk.simulator import pointnet

    from simulation.run import ProgressSimulator, load_config

    configs = write_suite(tiny_config, tmp_path, only=["PV_excite"])
    config = load_config(configs["PV_excite"], build_missing=False)
    config.build_env()
    network = pointnet.PointNetwork.from_config(config)
    simulator = ProgressSimulator.from_config(config, network)
    for mod in simulator._mods:
        mod.initialize(simulator)
    assert nest.GetKernelStatus("min_delay") == pytest.approx(0.9)
    assert len(nest.GetNodes({"model": "step_current_generator"})) == 0
    (schedule,) = [mod.schedule for mod in simulator._mods if hasattr(mod, "schedule")]
    assert [(t, d) for t, _, d in schedule] == [(pytest.approx(0.3), 230.0), (pytest.approx(TINY_TSTOP_MS + 0.1),
                                                                             -230.0)]
    from build_network.params import load_populations, population_sizes

    assert len(schedule[0][1]) == population_sizes(load_populations(), TINY_N)["PV"]


def test_a_relative_out_folder_is_the_callers(tmp_path, tiny_config, monkeypatch):
    monkeypatch.chdir(tmp_path)
    configs = write_suite(tiny_config, "suite_out", only=["PV_inhibit"])
    out = json.loads(configs["PV_inhibit"].read_text())["manifest"]["$OUTPUT_DIR"]
    assert out == str(tmp_path / "suite_out" / "PV_inhibit")
