"""The benchmark driver (``python -m benchmarks``): the power-law fit, the targets, the report, and one tiny run.

No test asserts on a timing: the numbers of a test run depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from benchmarks.fit import fit_power_law
from benchmarks.report import (
    evaluate_targets,
    machine_info,
    plot_scaling,
    projections,
    render_markdown,
    series_fits,
)

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------------------- the fit
def test_fit_recovers_a_known_exponent_from_noisy_data():
    rng = np.random.default_rng(0)
    x = np.geomspace(1e4, 4e7, 10)
    y = 3.0 * x ** 1.0 * np.exp(rng.normal(0.0, 0.05, x.size))  # 5% multiplicative noise
    fit = fit_power_law(x, y)
    assert abs(fit.exponent - 1.0) < 0.05
    assert fit.ci_low < 1.0 < fit.ci_high
    assert 2.0 < fit.prefactor < 4.5
    assert fit.n_points == 10 and fit.confidence == 0.95


def test_fit_interval_is_the_t_interval_of_the_ols_slope():
    rng = np.random.default_rng(1)
    x = np.geomspace(10, 1e5, 6)
    y = 0.5 * x ** 1.3 * np.exp(rng.normal(0.0, 0.2, x.size))
    fit = fit_power_law(x, y, confidence=0.9)
    lx, ly = np.log(x), np.log(y)
    slope, intercept = np.polyfit(lx, ly, 1)
    residuals = ly - (slope * lx + intercept)
    stderr = math.sqrt(residuals @ residuals / (len(x) - 2) / ((lx - lx.mean()) ** 2).sum())
    half = stats.t.ppf(0.95, len(x) - 2) * stderr
    assert fit.exponent == pytest.approx(slope, rel=1e-10)
    assert fit.prefactor == pytest.approx(math.exp(intercept), rel=1e-10)
    assert (fit.ci_low, fit.ci_high) == pytest.approx((slope - half, slope + half), rel=1e-10)


def test_fit_exact_power_law_and_two_points():
    x = np.array([1e3, 1e4, 1e5, 1e6])
    fit = fit_power_law(x, 2.0 * x ** 0.75)
    assert fit.exponent == pytest.approx(0.75, abs=1e-12)
    assert fit.prefactor == pytest.approx(2.0, rel=1e-10)
    assert fit.r_squared == pytest.approx(1.0)
    assert float(fit.predict(1e7)) == pytest.approx(2.0 * 1e7 ** 0.75, rel=1e-10)
    two = fit_power_law([10, 100], [5, 50])
    assert two.exponent == pytest.approx(1.0) and math.isnan(two.ci_low) and two.to_dict()["ci_high"] is None


@pytest.mark.parametrize(("x", "y"), [([1, 2, 3], [1, 2]), ([1], [1]), ([1, 2], [0, 1]), ([1, -2], [1, 1]),
                                      ([3, 3, 3], [1, 2, 3]), ([1, np.inf], [1, 2])])
def test_fit_rejects_what_it_cannot_fit(x, y):
    with pytest.raises(ValueError):
        fit_power_law(x, y)


# ------------------------------------------------------------------------------------------- targets and report
def _synthetic_results() -> dict:
    """Results as the driver collects them, with made-up numbers chosen to hit each target status."""
    sizes = [2500, 5000, 10000, 20000, 40000]
    rows = []
    for n in sizes:
        edges = int(330 * n ** 1.02)
        rows.append({"n_cells": n, "column_radius_um": 1.0, "edges": edges, "V1_V1_edges": edges - 20 * n,
                     "LGN_V1_edges": 20 * n, "build_s": 2.5e-6 * edges, "build_cpu_s": 2e-6 * edges,
                     "build_peak_mb": 200 + 1.5e-4 * edges,
                     "build_baseline_mb": 200.0, "load_s": 1e-6 * edges, "sim_s": 1.2e-6 * edges ** 1.05,
                     "sim_peak_mb": 250 + 2e-4 * edges})
    builds = {str(r["n_cells"]): {"wall_s": r["build_s"], "peak_mb": r["build_peak_mb"], "edges": r["edges"]}
              for r in rows}
    builds["10000"].update(wall_s=8.0, peak_mb=900.0)
    builds["100000"] = {"wall_s": 200.0, "peak_mb": 9000.0, "edges": 33_000_000}
    grid = [{"path": path, "n_cells": 10000, "tstop_ms": tstop, "dt_ms": dt, "threads": threads, "load_s": 3.0,
             "sim_s": (12.0 if path == "PointNet" else 11.0) * tstop / 3000, "peak_mb": 800.0, "connections": 1}
            for tstop in (1000.0, 3000.0) for dt in (0.1, 0.01) for threads in (1, 2)
            for path in ("PointNet", "direct PyNEST")]
    machine = {**machine_info(), "cpu_model": "Test CPU 9000", "cores": 2, "ram_gb": 24.0}
    settings = {"seed": 0, "series_tstop_ms": 1000.0, "series_dt_ms": 0.1, "series_threads": 2}
    results = {"quick": False, "machine": machine, "settings": settings, "builds": builds,
               "build_comparison": [{"rule": "fast", "n_cells": 2000, "V1_V1_edges": 5, "LGN_V1_edges": 2,
                                     "wall_s": 1.0, "peak_mb": 100.0},
                                    {"rule": "reference", "n_cells": 2000, "V1_V1_edges": 5, "LGN_V1_edges": 2,
                                     "wall_s": 60.0, "peak_mb": 300.0}],
               "scaling": {"rows": rows, "fits": series_fits(rows), "projections": projections(series_fits(rows))},
               "simulation": {"n_cells": 10000, "edges": 3_300_000, "rows": grid},
               "perturbations": {"n_cells": 10000, "tstop_ms": 3000.0, "dt_ms": 0.01,
                                 "rows": [{"workers": 1, "threads_per_run": 2, "wall_s": 500.0, "n_runs": 9,
                                           "runs": {"baseline": 50.0}},
                                          {"workers": 2, "threads_per_run": 1, "wall_s": 440.0, "n_runs": 9,
                                           "runs": {"baseline": 90.0}}]},
               "large": {"n_cells": 100000, "sim": None},
               "errors": [{"step": "PointNet: 100,000 cells, 1000 ms at dt 0.1 ms, 2 threads",
                           "error": "simulation child exited with code -9\nstopped by the memory guard"}],
               "duration_s": 1800.0, "load_average_end": [0.1, 0.1, 0.1]}
    results["targets"] = evaluate_targets(results)
    return results


def test_series_fits_recover_the_exponents_of_the_series():
    fits = _synthetic_results()["scaling"]["fits"]
    assert fits["build_s"]["exponent"] == pytest.approx(1.0, abs=1e-9)
    assert fits["sim_s"]["exponent"] == pytest.approx(1.05, abs=1e-9)
    assert fits["edges_vs_cells"]["exponent"] == pytest.approx(1.02, abs=1e-3)
    assert fits["build_extra_mb"]["exponent"] == pytest.approx(1.0, abs=1e-9)
    assert fits["build_peak_mb"]["exponent"] < 1.0  # the constant import baseline flattens the total
    assert set(fits) >= {"build_s", "build_peak_mb", "sim_s", "sim_peak_mb", "load_s"}
    projected = {r["n_cells"]: r for r in projections(fits)}
    assert set(projected) == {100_000, 230_924}
    assert projected[100_000]["edges"] == pytest.approx(330 * 100_000 ** 1.02, rel=1e-3)
    assert projected[100_000]["build_s"] == pytest.approx(2.5e-6 * projected[100_000]["edges"], rel=1e-6)


def test_targets_are_marked_from_the_measured_numbers():
    targets = {t["target"]: t for t in _synthetic_results()["targets"]}
    assert targets["build 10,000 cells: time"]["status"] == "met"
    assert targets["build 10,000 cells: peak memory"]["status"] == "met"
    assert targets["build 100,000 cells: time"]["status"] == "not met"  # 200 s > 180 s
    assert targets["build 100,000 cells: peak memory"]["status"] == "met"
    large_sim = targets["simulate 100,000 cells, 1 s at dt 0.1 ms: peak memory"]
    assert large_sim["status"] == "not met" and "memory guard" in large_sim["note"]  # a failed run is not met
    assert targets["simulate 10,000 cells at dt 0.01 ms on 2 threads"]["status"] == "met"  # 12 s for 3 s = 4x
    assert targets["PointNet vs direct PyNEST (simulation time)"]["value"] == pytest.approx(12 / 11)
    assert targets["scaling: build time vs edges"]["status"] == "met"
    nothing = {t["target"]: t["status"] for t in evaluate_targets({"settings": {}})}
    assert set(nothing.values()) == {"not measured"} and len(nothing) == len(targets)


def test_report_has_every_table_and_figures_name_the_machine(tmp_path):
    results = _synthetic_results()
    figures = plot_scaling(results, tmp_path / "figures")
    assert [f.name for f in figures] == ["scaling_build.png", "scaling_memory.png", "scaling_simulation.png"]
    assert all(f.stat().st_size > 10_000 for f in figures)
    assert not list((tmp_path / "figures").glob(".*"))  # no temporary file left
    md = render_markdown(results, figures)
    for heading in ("## Targets", "## Build: fast path vs the seed's per-pair rule", "## Scaling series",
                    "### Fitted exponents", "### Projections from the fits", "## Simulation",
                    "## Perturbation suite", "## 100,000 cells", "## Figures", "## Errors"):
        assert f"\n{heading}\n" in md
    assert "Test CPU 9000, 2 cores, 24 GB RAM" in md
    assert "| PointNet | 3 | 0.01 | 2 | 3.00 | 12.00 | 4.00 | 1.09 | 800 |" in md
    assert "Fast path 60.0x faster" in md


# ------------------------------------------------------------------------------------------------- one tiny run
def _snapshot(folder: Path) -> list[tuple[str, int, int]]:
    if not folder.exists():
        return []
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_quick_run_end_to_end(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    network_before = _snapshot(REPO / "network")
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--sizes", "200", "400", "--grid-cells",
                          "200", "--suite-workers", "2", "--suite-only", "baseline", "--out", str(out),
                          "--workdir", str(work)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _snapshot(REPO / "network") == network_before  # the user's network/ is never touched
    assert not any(work.iterdir())  # the temporary networks and runs are gone
    assert sorted(p.name for p in out.iterdir()) == ["figures", "results.json", "results.md"]

    results = json.loads((out / "results.json").read_text())
    assert results["quick"] is True and results["errors"] == []
    assert {"cpu_model", "cores", "ram_gb", "nest", "bmtk", "git_commit", "date", "platform"} <= set(
        results["machine"])
    assert results["settings"]["sizes"] == [200, 400]
    assert [r["rule"] for r in results["build_comparison"]] == ["fast", "reference"]
    rows = results["scaling"]["rows"]
    assert [r["n_cells"] for r in rows] == [200, 400]
    assert all(r["edges"] > 0 and r["build_s"] > 0 and r["build_cpu_s"] > 0 and r["sim_s"] > 0
               and r["sim_peak_mb"] > 0 for r in rows)
    assert {"build_s", "build_peak_mb", "sim_s", "sim_peak_mb", "edges_vs_cells"} <= set(results["scaling"]["fits"])
    assert {(r["path"], r["threads"]) for r in results["simulation"]["rows"]} == {("PointNet", 1),
                                                                                    ("direct PyNEST", 1)}
    suite = results["perturbations"]["rows"]
    assert [r["workers"] for r in suite] == [2] and suite[0]["runs"].keys() == {"baseline"}
    statuses = {t["target"]: t["status"] for t in results["targets"]}
    assert statuses["build 100,000 cells: time"] == "not measured"  # quick runs measure no target size
    assert results["figures"] == ["figures/scaling_build.png", "figures/scaling_memory.png",
                                  "figures/scaling_simulation.png"]

    md = (out / "results.md").read_text()
    assert "**Quick mode**" in md
    for header in ("| target | required | measured | status | note |",
                   "| rule | V1 cells | V1->V1 edges | LGN->V1 edges | wall (s) | CPU (s) | peak RSS (MB) |",
                   "| quantity | x | exponent b | 95% CI | a | R^2 | points | target |",
                   "| Dask workers | NEST threads per run | runs | wall (s) | speed-up | slowest run (s) |"):
        assert header in md
    assert md in run.stdout  # the table is the program's output


# ------------------------------------------------------------------------------------ failures and the memory guard
def test_a_failed_measurement_is_recorded_and_the_run_goes_on(tmp_path):
    from benchmarks.__main__ import QUICK, Bench

    checkpoint = tmp_path / "out" / ".results.partial.json"
    bench = Bench(QUICK, tmp_path, tmp_path / "suite", checkpoint)

    def broken() -> dict:
        raise RuntimeError("child exited with code -9")

    assert bench.step("broken step", broken) is None
    assert bench.step("fine step", lambda: {"wall_s": 1.0}) == {"wall_s": 1.0}
    assert bench.results["errors"] == [{"step": "broken step", "error": "child exited with code -9"}]
    assert [s["ok"] for s in bench.results["steps"]] == [False, True]
    assert json.loads(checkpoint.read_text())["steps"][-1]["step"] == "fine step"
    bench.failed_builds.add(123)
    with pytest.raises(RuntimeError, match="could not be built"):
        bench.network(123)  # not retried


def test_memory_guard_stops_a_child_above_the_limit():
    from benchmarks.guard import MemoryGuard

    hog = "import time; x = bytearray(300 * 2**20); x[::4096] = b'1' * len(x[::4096]); time.sleep(60)"
    with MemoryGuard(limit_mb=150, interval_s=0.1) as guard:
        child = subprocess.run([sys.executable, "-c", hog], timeout=60)
    assert child.returncode == -9
    assert len(guard.kills) == 1 and guard.kills[0]["rss_mb"] > 150


# ------------------------------------------------------ benchmarks.precise: the suite's splits and the kernel timers
def _suite(mode: str, workers: int, threads: int, wall: float, runs: dict, **extra) -> dict:
    return {"mode": mode, "workers": workers, "threads_per_run": threads, "wall_s": wall, "runs": runs,
            "load_average_before": [0.1, 0.2, 0.3], **extra}


def test_run_walls_reads_the_suites_per_run_lines():
    from benchmarks.precise import run_walls

    out = "9 runs: baseline, LIF_exc_excite\n  LIF_exc_excite: 16.4 s\n  baseline: 5.2 s\n  PV  6.1\nwrote x"
    assert run_walls(out) == {"LIF_exc_excite": 16.4, "baseline": 5.2}


def test_suite_table_marks_the_target_per_split_and_puts_the_longest_run_first():
    from benchmarks.precise import render_suite

    per = {"target_s": 60.0, "threads_total": 2, "walls": {"grid": 150.0, "precise": 74.0}, "suites": [
        _suite("grid", 1, 2, 150.0, {"baseline": 14.0, "LIF_exc_excite": 30.0}),
        _suite("precise", 1, 2, 74.0, {"baseline": 5.2, "LIF_exc_excite": 16.4}),
        _suite("precise", 2, 1, 58.5, {"baseline": 8.0, "LIF_exc_excite": 28.0}, max_abs_effect_difference_hz=0.25)]}
    lines = render_suite(per)
    assert "| grid | 1 x 2 | 150.0 | (no target) | 0.10, 0.20, 0.30 |" in lines
    assert "| precise | 1 x 2 | 74.0 | **no** | 0.10, 0.20, 0.30 |" in lines
    assert "| precise | 2 x 1 | 58.5 | **yes** | 0.10, 0.20, 0.30 |" in lines
    table = lines[lines.index("| run | grid 1 x 2 | precise 1 x 2 | precise 2 x 1 |"):]
    assert table[2:5] == ["| LIF_exc_excite | 30.0 | 16.4 | 28.0 |", "| baseline | 14.0 | 5.2 | 8.0 |",
                          "| sum of the runs | 44.0 | 21.6 | 36.0 |"]  # the longest precise run first
    assert any("2 x 1 against those with 1 x 2" in line and "0.25 Hz" in line for line in lines)
    old = render_suite({"walls": {"grid": 154.0, "precise": 78.0}})  # results written before the splits
    assert old[0].startswith("Wall time (baseline + 8, one worker, 2 threads): grid 154 s, precise 78 s")


def test_timer_rows_take_the_max_over_threads_and_share_of_time_simulate():
    from benchmarks.precise import timer_rows, timer_summary

    assert timer_summary(2.0) == {"max": 2.0, "mean": 2.0, "n": 1}
    assert timer_summary([1.0, 3.0]) == {"max": 3.0, "mean": 2.0, "n": 2}
    runs = [{"name": "baseline", "timers": {"time_simulate": 2.0, "time_update": [0.8, 1.0], "time_update_cpu": [1, 1],
                                            "time_communicate_prepare": [0.3, 0.3], "time_zzz": 0.1}},
            {"name": "LIF_exc_excite", "timers": {"time_simulate": 10.0, "time_deliver_spike_data": [6.0, 7.0],
                                                  "time_update": [2.0, 3.0]}}]
    rows = {r["timer"]: r["runs"] for r in timer_rows(runs)}
    assert list(rows) == ["time_simulate", "time_update", "time_deliver_spike_data", "time_communicate_prepare",
                          "time_zzz"]  # known order first, then by name; no _cpu
    assert rows["time_update"]["baseline"] == {"max": 1.0, "mean": 0.9, "n": 2, "share": 0.5}
    assert rows["time_update"]["LIF_exc_excite"]["share"] == pytest.approx(0.3)
    assert rows["time_deliver_spike_data"]["LIF_exc_excite"]["share"] == pytest.approx(0.7)
    assert "baseline" not in rows["time_deliver_spike_data"]
    assert rows["time_communicate_prepare"]["baseline"]["share"] is None  # spent in Prepare, outside Simulate


def test_timer_section_renders_the_breakdown_or_says_why_not():
    from benchmarks.precise import render_timers

    run = {"name": "baseline", "n_spikes": 12345, "runner_simulate_s": 2.4, "process_wall_s": 6.0,
           "load_average_before": [0.1, 0.2, 0.3],
           "timers": {"time_simulate": 2.0, "time_update": [0.8, 1.0], "time_communicate_prepare": [0.3, 0.3]}}
    lines = render_timers({"nest": "3.10.0", "threads": 2, "runs": [run]})
    assert "| timer | baseline s | share |" in lines
    assert "| time_simulate | 2.000 | 100.0% |" in lines
    assert "| time_update | 1.000 (0.900) | 50.0% |" in lines
    assert "| time_communicate_prepare | 0.300 (0.300) | before Simulate |" in lines
    assert "| baseline | 12,345 | 2.4 | 6.0 | 0.10, 0.20, 0.30 |" in lines
    skipped = render_timers({"skipped": ".venv-timers/bin/python does not exist (`make timers-env` builds it)"})
    assert [line for line in skipped if line] == ["## Where the simulation time goes: NEST kernel timers",
                                                  "Not measured: .venv-timers/bin/python does not exist "
                                                  "(`make timers-env` builds it)."]


def test_sections_not_rerun_are_kept_with_the_provenance_of_their_run():
    from benchmarks.precise import carry_over, render

    machine = {"system": "Linux", "machine": "x86_64", "cpu_model": "Test CPU", "cores": 2, "ram_gb": 24.0,
               "git_commit": "0123456789abcdef", "git_dirty": False, "date": "2026-01-01T00:00:00+00:00",
               "load_average": [0.25, 0.5, 0.75]}
    neuron = [{"seed": 0, "model": "precise dt 0.1 ms", "n_reference": 10, "n_other": 10, "matched": 1.0, "extra": 0,
               "median_error_ms": 0.0002, "p95_error_ms": 0.0005}]
    kept = carry_over({"machine": machine, "neuron": neuron, "timers": {"skipped": "x"}}, ["timers"])
    assert set(kept) == {"neuron", "measured_by"}
    assert kept["measured_by"]["neuron"]["date"] == "2026-01-01T00:00:00+00:00"
    assert carry_over({"machine": machine, "neuron": neuron}, ["neuron"]) == {}
    again = carry_over({"machine": {**machine, "date": "later"}, **kept}, [])  # provenance survives a second run
    assert again["measured_by"]["neuron"]["date"] == "2026-01-01T00:00:00+00:00"
    md = render({"machine": machine, **kept})
    assert ("Measured 2026-01-01T00:00:00+00:00, commit 0123456789, load average (1, 5, 15 min) at the start of the "
            "section 0.25, 0.50, 0.75.") in md
    kept["measured_by"]["neuron"].update(duration_s=90.0, git_dirty=True)
    assert "Measured 2026-01-01T00:00:00+00:00 in 1.5 min, commit 0123456789 (uncommitted changes)," in render(
        {"machine": machine, **kept})
    assert "| 0 | precise dt 0.1 ms | 10 | 10 | 1.000 | 0 | 0.0002 | 0.0005 |" in md


def test_kernel_timers_are_plain_json_values():
    from simulation.run import kernel_timers

    status = {"time_simulate": np.float64(2.0), "time_update": (1.0, 1.5), "time_deliver_spike_data": np.array([3.0]),
              "resolution": 0.1, "local_num_threads": 2}
    timers = kernel_timers(status)
    assert timers == {"time_deliver_spike_data": [3.0], "time_simulate": 2.0, "time_update": [1.0, 1.5]}
    assert json.loads(json.dumps(timers)) == timers


def test_results_md_points_at_the_other_tables_and_says_what_an_old_table_predates():
    results = _synthetic_results()
    results["machine"]["date"] = "2026-11-22T15:38:59+00:00"
    md = render_markdown(results)
    top = md.split("## Targets")[0]
    assert "[`precise_results.md`](precise_results.md)" in top and "kernel-timer breakdown" in top
    assert "before the build became linear in edges" in top and "of the grid model (`iaf_psc_delta`)" in top
    results["machine"]["date"] = "2026-12-02T00:00:00+00:00"
    top = render_markdown(results).split("## Targets")[0]
    assert "precise_results.md" in top and "This table was measured" not in top


def test_mpi_section_renders_rows_or_the_reason_it_was_skipped():
    from benchmarks.precise import render_mpi

    skipped = render_mpi({"skipped": "mpirun not found (apt-get install openmpi-bin)"})
    assert "Skipped: mpirun not found (apt-get install openmpi-bin)." in skipped
    mpi = {"python": ".venv-mpi/bin/python", "config": "config_seed.json", "tstop_ms": 3000.0, "identical_spikes": True,
           "rows": [{"run": "1 process x 2 threads", "command_wall_s": 6.0, "n_spikes": 1234,
                     "processes": [{"wall_s": 5.9, "peak_mb": 800.0}], "load_average_before": [0.1, 0.2, 0.3]},
                    {"run": "mpirun -n 2 x 1 thread", "command_wall_s": 7.5, "n_spikes": 1234,
                     "processes": [{"wall_s": 7.0, "peak_mb": 600.0}, {"wall_s": 7.1, "peak_mb": 590.0}],
                     "load_average_before": None}]}
    text = "\n".join(render_mpi(mpi))
    assert "Same spikes in both: **yes**" in text
    assert "| mpirun -n 2 x 1 thread | 7.5 | 7.0 s, 600 MB; 7.1 s, 590 MB | 1,234 |" in text
