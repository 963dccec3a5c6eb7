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
