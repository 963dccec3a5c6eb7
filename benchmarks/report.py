"""The benchmark report: machine description, fitted exponents, targets, ``results.md`` and the scaling figures.

Everything here reads the results dictionary that ``python -m benchmarks`` collects (the content of
``results.json``); nothing here measures.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

from common.paths import REPO

from .fit import fit_power_law

GB_MB = 1024.0  # MB (2**20 bytes) in a GB (2**30 bytes)

# Quantities of the scaling series fitted against the number of edges: key -> (row fields, label, unit).
SERIES_FITS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "build_s": (("build_s",), "build time (build + save)", "s"),
    "build_cpu_s": (("build_cpu_s",), "build CPU time (user + system)", "s"),
    "build_peak_mb": (("build_peak_mb",), "build peak memory", "MB"),
    "build_extra_mb": (("build_peak_mb", "build_baseline_mb"), "build peak memory above the import baseline", "MB"),
    "load_s": (("load_s",), "SONATA load into NEST (PointNet)", "s"),
    "sim_s": (("sim_s",), "simulation time (PointNet)", "s"),
    "sim_peak_mb": (("sim_peak_mb",), "simulation peak memory (PointNet)", "MB"),
}
EXPONENT_TARGET = 1.1  # build time and build memory grow at most as edges ** 1.1
# Commit dates (UTC) after which a results.json measured earlier no longer describes the code: the build linear in
# edges (b5d0113) and precise spike timing as config.json's default (90f27e9).
LINEAR_BUILD_DATE = "2026-12-01T04:32:45+00:00"
PRECISE_DEFAULT_DATE = "2026-12-01T04:48:39+00:00"
TARGET_CELLS_LARGE = 100_000
TARGET_CELLS_MODEL = 10_000


# --------------------------------------------------------------------------------------------------- step names
def build_step(n_cells: int) -> str:
    """Name of the measured build of the ``n_cells`` network (fast path) in ``steps`` and ``errors``."""
    return f"build {n_cells:,} cells"


def sim_step(path: str, n_cells: int, tstop_ms: float, dt_ms: float, threads: int) -> str:
    """Name of one simulation measurement in ``steps`` and ``errors``."""
    return f"{path}: {n_cells:,} cells, {tstop_ms:g} ms at dt {dt_ms:g} ms, {_threads(threads)}"


# ----------------------------------------------------------------------------------------------------------- machine
def _cpu_model() -> str:
    """The CPU model named in /proc/cpuinfo (``model name``, or ``Hardware``/``Processor`` on ARM)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "unknown CPU"
    for key in ("model name", "Hardware", "Processor", "cpu model"):
        for line in lines:
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or "unknown CPU"


def _ram_gb() -> float | None:
    """Total RAM (GB = 2**30 bytes) from /proc/meminfo, or None when unreadable."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 ** 2
    except (OSError, ValueError, IndexError):
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def machine_info() -> dict:
    """The machine, the software and the code being measured, for ``results.json``.

    Returns
    -------
    dict
        ``platform``, ``system``, ``machine`` (architecture), ``cpu_model``, ``cores`` (logical CPUs), ``ram_gb``
        (GB = 2**30 bytes), ``python``, ``nest``, ``bmtk``, ``numpy``, ``git_commit``, ``git_dirty`` (uncommitted
        changes in the working tree), ``date`` (UTC, ISO 8601) and ``load_average`` (1, 5 and 15 min).
    """
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"platform": platform.platform(), "system": platform.system(), "machine": platform.machine(),
            "cpu_model": _cpu_model(), "cores": os.cpu_count(), "ram_gb": _ram_gb(),
            "python": platform.python_version(), "nest": _version("nest-simulator"), "bmtk": _version("bmtk"),
            "numpy": _version("numpy"), "git_commit": _git("rev-parse", "HEAD"),
            "git_dirty": None if status is None else bool(status),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def machine_label(machine: dict) -> str:
    """One line naming the machine: system, architecture, CPU model, cores and RAM."""
    ram = f"{machine['ram_gb']:.0f} GB RAM" if machine.get("ram_gb") else "RAM unknown"
    return (f"{machine.get('system', '?')} {machine.get('machine', '?')}, {machine.get('cpu_model', '?')}, "
            f"{machine.get('cores', '?')} cores, {ram}")


# -------------------------------------------------------------------------------------------------------------- fits
def series_fits(rows: list[dict]) -> dict[str, dict]:
    """Power-law fits of the scaling series: every :data:`SERIES_FITS` quantity against edges, and edges against cells.

    Parameters
    ----------
    rows : list of dict
        Scaling rows with ``n_cells``, ``edges`` and the fields named in :data:`SERIES_FITS` (a row missing a field,
        e.g. after a failed simulation, is left out of that fit).

    Returns
    -------
    dict
        Key -> :meth:`PowerLawFit.to_dict` plus ``x`` (``'edges'`` or ``'n_cells'``), ``label`` and ``unit``; a
        quantity with fewer than 2 usable points is absent.
    """
    fits: dict[str, dict] = {}
    specs: dict[str, tuple[str, Callable[[dict], float | None], str, str]] = {
        "edges_vs_cells": ("n_cells", lambda r: r.get("edges"), "edges (V1->V1 + LGN->V1)", "count")}
    for key, (fields, label, unit) in SERIES_FITS.items():
        specs[key] = ("edges", _field_getter(fields), label, unit)
    for key, (x_key, get, label, unit) in specs.items():
        points = [(r.get(x_key), get(r)) for r in rows]
        points = [(x, y) for x, y in points if x is not None and y is not None and x > 0 and y > 0]
        if len({x for x, _ in points}) < 2:
            continue
        fit = fit_power_law([x for x, _ in points], [y for _, y in points])
        fits[key] = {**fit.to_dict(), "x": x_key, "label": label, "unit": unit}
    return fits


def _field_getter(fields: tuple[str, ...]) -> Callable[[dict], float | None]:
    """A getter of one field, or of the difference of two (first minus second); None when any is missing."""
    def get(row: dict) -> float | None:
        values = [row.get(f) for f in fields]
        if any(v is None for v in values):
            return None
        return values[0] - values[1] if len(values) == 2 else values[0]
    return get


def projections(fits: dict[str, dict], cells: tuple[int, ...] = (100_000, 230_924)) -> list[dict]:
    """Costs at larger cell counts extrapolated from the scaling fits (a projection, not a measurement).

    Edges come from the edges-against-cells fit, and each cost from its fit against edges. While the column is
    still narrow compared with the connection range, edges per cell keep growing; extrapolating that growth
    overestimates the edges (and so the costs) of wider columns.

    Parameters
    ----------
    fits : dict
        :func:`series_fits` output.
    cells : tuple of int
        V1 cell counts to project to (default: the 100,000-cell target and the Allen model's 230,924 cells).

    Returns
    -------
    list of dict
        Per cell count: ``n_cells``, ``edges`` and each fitted quantity of :data:`SERIES_FITS` (its unit); empty
        without an edges fit.
    """
    if "edges_vs_cells" not in fits:
        return []
    rows = []
    for n in cells:
        edges = _predict(fits["edges_vs_cells"], n)
        rows.append({"n_cells": n, "edges": edges, **{k: _predict(fits[k], edges) for k in SERIES_FITS if k in fits}})
    return rows


def _predict(fit: dict | None, x: float | np.ndarray) -> float | np.ndarray | None:
    """A fit's ``y`` at ``x`` (a fit as stored in the results: :meth:`PowerLawFit.to_dict` and more)."""
    if not fit:
        return None
    y = fit["prefactor"] * np.asarray(x, dtype=float) ** fit["exponent"]
    return float(y) if np.ndim(y) == 0 else y


# ----------------------------------------------------------------------------------------------------------- targets
def _target(name: str, required: str, value: float | None, limit: float, shown: str | None = None,
            note: str = "", failure: str | None = None) -> dict:
    """One row of the targets table: ``met`` when ``value <= limit``; a failed measurement is ``not met``."""
    if value is not None:
        status, measured = ("met" if value <= limit else "not met"), shown or f"{value:.3g}"
    elif failure is not None:
        status, measured, note = "not met", "failed (see Errors)", failure
    else:
        status, measured = "not measured", "-"
    return {"target": name, "required": required, "measured": measured, "value": value, "limit": limit,
            "status": status, "note": note}


def _failure(results: dict, match: Callable[[str], bool]) -> str | None:
    """The last line of the first error whose step name ``match`` accepts, or None."""
    for error in results.get("errors", []):
        if match(error["step"]):
            lines = error["error"].strip().splitlines()
            return lines[-1][:200] if lines else "failed"
    return None


def evaluate_targets(results: dict) -> list[dict]:
    """Mark each target of issue 10 met / not met / not measured from the measured numbers.

    A measurement that failed (e.g. stopped by the memory guard) marks its target ``not met``. Projections from
    the fits appear only as notes of targets that were not measured, never as a status.

    Parameters
    ----------
    results : dict
        The collected results (``builds``, ``scaling``, ``simulation``, ``large``, ``errors``).

    Returns
    -------
    list of dict
        ``target``, ``required``, ``measured`` (text), ``value``, ``limit``, ``status`` and ``note``.
    """
    builds = results.get("builds", {})
    fits = (results.get("scaling") or {}).get("fits", {})
    targets = []

    def build_failed(n: int) -> str | None:
        return _failure(results, lambda step: step == build_step(n))

    model = builds.get(str(TARGET_CELLS_MODEL)) or {}
    t, m, failed = model.get("wall_s"), model.get("peak_mb"), build_failed(TARGET_CELLS_MODEL)
    targets.append(_target("build 10,000 cells: time", "<= 10 s", t, 10.0, t and f"{t:.1f} s", failure=failed))
    targets.append(_target("build 10,000 cells: peak memory", "<= 1,024 MB (1 GB)", m, GB_MB,
                           m and f"{m:,.0f} MB", failure=failed))

    notes = {"build_s": "", "build_peak_mb": "", "sim_peak_mb": ""}
    edges_large = _predict(fits.get("edges_vs_cells"), TARGET_CELLS_LARGE)
    if edges_large is not None:
        for key, unit in (("build_s", "s"), ("build_peak_mb", "MB"), ("sim_peak_mb", "MB")):
            value = _predict(fits.get(key), edges_large)
            if value is not None:
                notes[key] = f"the scaling fits project {value:,.0f} {unit}"
        if notes["sim_peak_mb"]:
            notes["sim_peak_mb"] += f" (series: {_series_condition(results)})"
    large_build = builds.get(str(TARGET_CELLS_LARGE)) or {}
    t, m, failed = large_build.get("wall_s"), large_build.get("peak_mb"), build_failed(TARGET_CELLS_LARGE)
    targets.append(_target("build 100,000 cells: time", "<= 180 s (3 min)", t, 180.0, t and f"{t:.0f} s",
                           notes["build_s"], failed))
    targets.append(_target("build 100,000 cells: peak memory", "<= 16,384 MB (16 GB)", m, 16 * GB_MB,
                           m and f"{m:,.0f} MB", notes["build_peak_mb"], failed))
    large = results.get("large") or {}
    sim = large.get("sim") if large.get("n_cells") == TARGET_CELLS_LARGE else None
    if sim and not (abs(sim["tstop_ms"] - 1000.0) < 1e-9 and abs(sim["dt_ms"] - 0.1) < 1e-12):
        sim = None  # another condition than the target's
    m = sim["peak_mb"] if sim else None
    failed = build_failed(TARGET_CELLS_LARGE) or _failure(
        results, lambda step: step.startswith(f"PointNet: {TARGET_CELLS_LARGE:,} cells"))
    targets.append(_target("simulate 100,000 cells, 1 s at dt 0.1 ms: peak memory", "<= 16,384 MB (16 GB)", m,
                           16 * GB_MB, sim and f"{m:,.0f} MB ({sim['sim_s']:.0f} s, {_threads(sim['threads'])})",
                           notes["sim_peak_mb"], failed))

    pn, direct = _reference_pair(results.get("simulation") or {})
    failed = _failure(results, lambda step: any(
        step == sim_step(path, TARGET_CELLS_MODEL, tstop, 0.01, 2) for path in ("PointNet", "direct PyNEST")
        for tstop in ((results.get("settings") or {}).get("grid_tstops_ms") or [])))
    x = pn["sim_s"] / (pn["tstop_ms"] / 1000.0) if pn else None
    condition = pn and f"{pn['tstop_ms'] / 1000:g} s at dt {pn['dt_ms']:g} ms, {_threads(pn['threads'])}"
    targets.append(_target("simulate 10,000 cells at dt 0.01 ms on 2 threads", "<= 5x real time", x, 5.0,
                           x and f"{x:.1f}x real time ({condition})", failure=failed))
    ratio = pn["sim_s"] / direct["sim_s"] if pn and direct else None
    targets.append(_target("PointNet vs direct PyNEST (simulation time)", "<= 1.2x", ratio, 1.2,
                           ratio and f"{ratio:.2f}x ({condition})", failure=failed))

    for key, name in (("build_s", "build time vs edges"), ("build_peak_mb", "build peak memory vs edges")):
        fit = fits.get(key) or {}
        b = fit.get("exponent")
        shown = b is not None and (f"{b:.2f}" + ("" if fit["ci_low"] is None
                                                 else f", 95% CI [{fit['ci_low']:.2f}, {fit['ci_high']:.2f}]"))
        targets.append(_target(f"scaling: {name}", f"exponent <= {EXPONENT_TARGET}", b, EXPONENT_TARGET,
                               shown or None))
    return targets


def _series_condition(results: dict) -> str:
    plan = results.get("settings", {})
    return (f"{plan.get('series_tstop_ms', 0) / 1000:g} s at dt {plan.get('series_dt_ms')} ms, "
            f"{_threads(plan.get('series_threads'))}")


def _threads(n: int | None) -> str:
    """``'1 thread'``, ``'2 threads'``."""
    return f"{n} thread" + ("" if n == 1 else "s")


def _reference_pair(grid: dict) -> tuple[dict | None, dict | None]:
    """The grid's PointNet row at 10,000 cells, dt 0.01 ms, 2 threads, longest run, and its direct-PyNEST twin."""
    if grid.get("n_cells") != TARGET_CELLS_MODEL:
        return None, None
    rows = [r for r in grid.get("rows", []) if r["path"] == "PointNet" and r["threads"] == 2
            and abs(r["dt_ms"] - 0.01) < 1e-12]
    if not rows:
        return None, None
    pn = max(rows, key=lambda r: r["tstop_ms"])
    direct = next((r for r in grid["rows"] if r["path"] == "direct PyNEST" and r["threads"] == 2
                   and r["dt_ms"] == pn["dt_ms"] and r["tstop_ms"] == pn["tstop_ms"]), None)
    return pn, direct


# ---------------------------------------------------------------------------------------------------------- markdown
def _num(value: float | None, fmt: str = ".1f") -> str:
    return "-" if value is None else format(value, fmt)


def _pointer(date: str) -> list[str]:
    """The note at the top of ``results.md``: where the other benchmark tables are, and what an old table predates.

    Parameters
    ----------
    date : str
        When the results were measured (UTC, ISO 8601, as in ``machine_info``).
    """
    lines = ["> Precise spike timing against the grid, the perturbation suite timed as 1 Dask worker x 2 threads and "
             "as 2 workers x 1 thread (target <= 60 s), and NEST's kernel-timer breakdown of a simulation are in "
             "[`precise_results.md`](precise_results.md) (`python -m benchmarks.precise`); the visual-stimulus "
             "benchmark is in [`stimulus_results.md`](stimulus_results.md)."]
    older = []
    if date < LINEAR_BUILD_DATE:
        older.append("before the build became linear in edges (commit b5d0113): its build and scaling rows are "
                     "those of the previous rule")
    if date < PRECISE_DEFAULT_DATE:
        older.append("before precise spike timing became `config.json`'s default (commit 90f27e9): its simulation "
                     "and perturbation-suite rows are of the grid model (`iaf_psc_delta`)")
    if older:
        lines += [">", f"> This table was measured on {date[:10]}, " + "; and ".join(older) + "."]
    return lines + [""]


def _header(results: dict) -> list[str]:
    """The title, the quick-mode warning and the measurement conditions (machine, software, commit, load)."""
    machine, plan = results["machine"], results["settings"]
    commit = (machine.get("git_commit") or "unknown")[:12] + (" (uncommitted changes)" if machine.get("git_dirty")
                                                              else "")
    load = machine.get("load_average")
    end_load = results.get("load_average_end")
    lines: list[str] = ["# Benchmarks", ""] + _pointer(machine.get("date") or "")
    if results.get("quick"):
        lines += ["> **Quick mode** (`--quick`): tiny networks and short runs that check the benchmark code; these "
                  "numbers are not a benchmark.", ""]
    lines += [f"Measured by `python -m benchmarks` (`make bench`) on {machine['date']}, commit {commit}, in "
              f"{results.get('duration_s', 0) / 60:.1f} min.", "",
              f"- machine: {machine_label(machine)} ({machine['platform']})",
              f"- software: Python {machine['python']}, NEST {machine.get('nest')}, bmtk {machine.get('bmtk')}, "
              f"numpy {machine.get('numpy')}",
              f"- load average (1 min) at start: {_num(load and load[0], '.2f')}, at end: "
              f"{_num(end_load and end_load[0], '.2f')} (a busy machine inflates every time below)",
              "- every measurement ran in a fresh process, once; times are wall-clock seconds; memory is the peak "
              "resident set size of that process (`ru_maxrss`), MB = 2^20 bytes",
              f"- networks: seed {plan['seed']}, built into a temporary folder (the repository's `network/` is not "
              "used); LGN spikes from `python -m inputs spikes` with `config_seed.json`'s genotype, stimulus and seed "
              "(the benchmarks measure the seed's model)",
              ""]
    return lines


def _targets(results: dict) -> list[str]:
    """The targets table."""
    lines: list[str] = []
    lines += ["## Targets", "", "| target | required | measured | status | note |", "|---|---|---|---|---|"]
    for t in results.get("targets", []):
        lines.append(f"| {t['target']} | {t['required']} | {t['measured']} | **{t['status']}** | {t['note']} |")
    lines.append("")
    return lines


def _build_comparison(results: dict) -> list[str]:
    """The fast path against the per-pair rule."""
    lines: list[str] = []
    comparison = results.get("build_comparison") or []
    if comparison:
        lines += ["## Build: fast path vs the seed's per-pair rule", "",
                  "Same run, same cell count, each build in a fresh process (`benchmarks/build.py`'s `measure`).", "",
                  "| rule | V1 cells | V1->V1 edges | LGN->V1 edges | wall (s) | CPU (s) | peak RSS (MB) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in comparison:
            lines.append(f"| {r['rule']} | {r['n_cells']:,} | {r['V1_V1_edges']:,} | {r['LGN_V1_edges']:,} | "
                         f"{r['wall_s']:.2f} | {_num(r.get('cpu_s'), '.2f')} | {r['peak_mb']:.0f} |")
        speed = {r["rule"]: r["wall_s"] for r in comparison}
        if {"fast", "reference"} <= set(speed):
            lines += ["", f"Fast path {speed['reference'] / speed['fast']:.1f}x faster than the per-pair rule."]
        lines.append("")
    return lines


def _scaling(results: dict) -> list[str]:
    """The scaling series, its fitted exponents and projections."""
    lines: list[str] = []
    scaling = results.get("scaling") or {}
    if scaling.get("rows"):
        lines += ["## Scaling series", "",
                  f"V1 model at constant density with a growing column (`build_network --n-cells N`, fast path); "
                  f"each network is simulated with PointNet for {_series_condition(results)}. Edges = V1->V1 + "
                  "LGN->V1 SONATA rows (one NEST connection each).", "",
                  "| V1 cells | column radius (um) | edges | build (s) | build CPU (s) | build peak (MB) | "
                  "import baseline (MB) | SONATA load (s) | simulate (s) | sim peak (MB) |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in scaling["rows"]:
            lines.append(f"| {r['n_cells']:,} | {_num(r.get('column_radius_um'))} | {r.get('edges', 0):,} | "
                         f"{_num(r.get('build_s'), '.2f')} | {_num(r.get('build_cpu_s'), '.2f')} | "
                         f"{_num(r.get('build_peak_mb'), '.0f')} | "
                         f"{_num(r.get('build_baseline_mb'), '.0f')} | {_num(r.get('load_s'), '.2f')} | "
                         f"{_num(r.get('sim_s'), '.2f')} | {_num(r.get('sim_peak_mb'), '.0f')} |")
        fits = scaling.get("fits", {})
        if fits:
            lines += ["", "### Fitted exponents", "",
                      "`y = a x^b` by least squares on log-log axes (`scipy.stats.linregress`); the interval is "
                      "b +/- t(0.975, n-2) x stderr. x = edges, except edges against V1 cells.", "",
                      "| quantity | x | exponent b | 95% CI | a | R^2 | points | target |",
                      "|---|---|---:|---|---:|---:|---:|---|"]
            for key, f in fits.items():
                ci = "-" if f["ci_low"] is None else f"[{f['ci_low']:.3f}, {f['ci_high']:.3f}]"
                target = f"<= {EXPONENT_TARGET}" if key in ("build_s", "build_peak_mb") else ""
                lines.append(f"| {f['label']} ({f['unit']}) | {f['x']} | {f['exponent']:.3f} | {ci} | "
                             f"{f['prefactor']:.3g} | {f['r_squared']:.3f} | {f['n_points']} | {target} |")
            lines += ["", "Peak memory includes the fixed cost of the imports (the import baseline column), which "
                      "pulls its exponent below 1; the row above the baseline shows the growth of the build's own "
                      "memory."]
        projected = scaling.get("projections") or []
        if projected:
            lines += ["", "### Projections from the fits", "",
                      "Extrapolated, not measured: edges from the edges-against-cells fit, each cost from its fit "
                      "against edges (simulation: the series' condition above). Edges per cell still grow while the "
                      "column is narrower than the connection range, so these overestimate wider columns.", "",
                      "| V1 cells | edges | build (s) | build peak (MB) | SONATA load (s) | simulate (s) | "
                      "sim peak (MB) |", "|---:|---:|---:|---:|---:|---:|---:|"]
            for r in projected:
                lines.append(f"| {r['n_cells']:,} | {r['edges']:,.0f} | {_num(r.get('build_s'), ',.0f')} | "
                             f"{_num(r.get('build_peak_mb'), ',.0f')} | {_num(r.get('load_s'), ',.0f')} | "
                             f"{_num(r.get('sim_s'), ',.0f')} | {_num(r.get('sim_peak_mb'), ',.0f')} |")
        lines.append("")
    return lines


def _simulation(results: dict) -> list[str]:
    """PointNet against direct PyNEST."""
    lines: list[str] = []
    grid = results.get("simulation") or {}
    if grid.get("rows"):
        lines += ["## Simulation", "",
                  f"The {grid['n_cells']:,}-cell model ({grid.get('edges', 0):,} edges), each run in a fresh "
                  "process: PointNet (`simulation.run` machinery) and the same network built in direct PyNEST "
                  "(arrays into `nest.Connect`), the floor (`benchmarks/simulate.py`).", "",
                  "| path | simulated (s) | dt (ms) | NEST threads | SONATA load (s) | simulate (s) | x real time | "
                  "PointNet / direct | peak RSS (MB) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in grid["rows"]:
            twin = next((d for d in grid["rows"] if d["path"] == "direct PyNEST" and d["tstop_ms"] == r["tstop_ms"]
                         and d["dt_ms"] == r["dt_ms"] and d["threads"] == r["threads"]), None)
            ratio = r["sim_s"] / twin["sim_s"] if r["path"] == "PointNet" and twin else None
            lines.append(f"| {r['path']} | {r['tstop_ms'] / 1000:g} | {r['dt_ms']:g} | {r['threads']} | "
                         f"{r['load_s']:.2f} | {r['sim_s']:.2f} | {r['sim_s'] / (r['tstop_ms'] / 1000):.2f} | "
                         f"{_num(ratio, '.2f')} | {r['peak_mb']:.0f} |")
        lines.append("")
    return lines


def _suite(results: dict) -> list[str]:
    """The perturbation suite's worker/thread splits."""
    lines: list[str] = []
    suite = results.get("perturbations") or {}
    if suite.get("rows"):
        runs = suite["rows"][0].get("n_runs")
        lines += ["## Perturbation suite", "",
                  f"Baseline + perturbations ({runs} run{'' if runs == 1 else 's'}) of the "
                  f"{suite['n_cells']:,}-cell model, "
                  f"{suite['tstop_ms'] / 1000:g} s at dt {suite['dt_ms']:g} ms each, with `python -m perturbations "
                  "run --force` (`benchmarks/perturbations.py`): serial (1 Dask worker, all cores as NEST threads) "
                  "vs parallel (more workers sharing the cores).", "",
                  "| Dask workers | NEST threads per run | runs | wall (s) | speed-up | slowest run (s) |",
                  "|---:|---:|---:|---:|---:|---:|"]
        first = suite["rows"][0]["wall_s"]
        for r in suite["rows"]:
            slowest = max(r["runs"].values()) if r.get("runs") else None
            lines.append(f"| {r['workers']} | {r['threads_per_run']} | {r['n_runs']} | {r['wall_s']:.1f} | "
                         f"{first / r['wall_s']:.2f} | {_num(slowest)} |")
        lines.append("")
    return lines


def _large(results: dict) -> list[str]:
    """The Allen-size network."""
    lines: list[str] = []
    large = results.get("large") or {}
    if large.get("n_cells"):
        build = results.get("builds", {}).get(str(large["n_cells"])) or {}
        sim = large.get("sim") or {}
        lines += [f"## {large['n_cells']:,} cells", "",
                  "| step | edges | wall (s) | peak RSS (MB) |", "|---|---:|---:|---:|",
                  f"| build (fast path) | {build.get('edges', 0):,} | {_num(build.get('wall_s'))} | "
                  f"{_num(build.get('peak_mb'), '.0f')} |"]
        if sim:
            lines.append(f"| PointNet: SONATA load | | {sim['load_s']:.1f} | |")
            lines.append(f"| PointNet: simulate {sim['tstop_ms'] / 1000:g} s at dt {sim['dt_ms']:g} ms, "
                         f"{_threads(sim['threads'])} | | {sim['sim_s']:.1f} | {sim['peak_mb']:.0f} |")
        lines.append("")
    return lines


def _figures_and_errors(results: dict, figures: list[Path] | None) -> list[str]:
    """Links to the figures, then the errors of failed measurements."""
    lines: list[str] = []
    if figures:
        lines += ["## Figures", ""]
        for path in figures:
            lines += [f"![{path.stem}](figures/{path.name})", ""]
    if results.get("errors"):
        lines += ["## Errors", "", "| step | error |", "|---|---|"]
        for e in results["errors"]:
            lines.append(f"| {e['step']} | {e['error'].strip().splitlines()[-1][:300] if e['error'].strip() else ''} |")
        lines.append("")
    return lines


def render_markdown(results: dict, figures: list[Path] | None = None) -> str:
    """``results.md``: the header (machine, software, commit, load) and one table per section.

    Parameters
    ----------
    results : dict
        The collected results (the content of ``results.json``).
    figures : list of Path, optional
        Figure files, linked relative to the folder of ``results.md``.

    Returns
    -------
    str
        Markdown text.
    """
    lines = [*_header(results), *_targets(results), *_build_comparison(results), *_scaling(results),
             *_simulation(results), *_suite(results), *_large(results), *_figures_and_errors(results, figures)]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------- figures
def _save_atomic(fig, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format=path.suffix.lstrip("."), dpi=120, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def plot_scaling(results: dict, folder: Path) -> list[Path]:
    """Log-log figures of the scaling series against edges, with the fitted lines; each title names the machine.

    Parameters
    ----------
    results : dict
        The collected results (``scaling.rows``, ``scaling.fits``, ``machine``, ``settings``).
    folder : Path
        Where the PNG files go (created; each file written under a temporary name, then renamed).

    Returns
    -------
    list of Path
        ``scaling_build.png``, ``scaling_memory.png`` and ``scaling_simulation.png`` (those with data).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scaling = results.get("scaling") or {}
    rows, fits = scaling.get("rows") or [], scaling.get("fits") or {}
    if not rows:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    machine = machine_label(results["machine"])
    plan = results["settings"]
    nest_line = (f"NEST {results['machine'].get('nest')}, {_threads(plan['series_threads'])}; "
                 f"PointNet, {plan['series_tstop_ms'] / 1000:g} s at dt {plan['series_dt_ms']:g} ms")
    panels = [
        ("scaling_build.png", "Build time of the V1 model (fast path, build + save)",
         "build time (s)", "no NEST (the build is one Python process)",
         [("build_s", "wall", "o"), ("build_cpu_s", "CPU (user + system)", "^")]),
        ("scaling_memory.png", "Peak memory (resident set) of the build and of the simulation",
         "peak memory (MB = 2^20 bytes)", f"build: no NEST; simulation: {nest_line}",
         [("build_peak_mb", "build", "o"), ("build_extra_mb", "build above import baseline", "^"),
          ("sim_peak_mb", "simulation", "s")]),
        ("scaling_simulation.png", "Simulation and SONATA load time of the V1 model", "wall time (s)", nest_line,
         [("sim_s", "simulate", "s"), ("load_s", "SONATA load into NEST", "d")]),
    ]
    written = []
    for name, title, ylabel, nest_text, series in panels:
        fig, ax = plt.subplots(figsize=(7, 5))
        plotted = False
        for key, label, marker in series:
            get = _field_getter(SERIES_FITS[key][0])
            pts = [(r["edges"], get(r), r["n_cells"]) for r in rows if r.get("edges") and get(r)]
            pts = [p for p in pts if p[1] > 0]
            if not pts:
                continue
            x = np.array([p[0] for p in pts], dtype=float)
            y = np.array([p[1] for p in pts], dtype=float)
            fit = fits.get(key)
            legend = label
            if fit:
                ci = "" if fit["ci_low"] is None else f", 95% CI [{fit['ci_low']:.2f}, {fit['ci_high']:.2f}]"
                legend = f"{label}: b = {fit['exponent']:.2f}{ci}"
            line = ax.loglog(x, y, marker=marker, linestyle="none", label=legend)[0]
            if fit:
                xs = np.geomspace(x.min(), x.max(), 50)
                ax.loglog(xs, _predict(fit, xs), color=line.get_color(), linewidth=1)
            for xi, yi, n in pts:
                ax.annotate(f"{n:,}", (xi, yi), textcoords="offset points", xytext=(4, -10), fontsize=7)
            plotted = True
        if not plotted:
            plt.close(fig)
            continue
        ax.set_xlabel("edges (V1->V1 + LGN->V1 connections)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}\n{machine}\n{nest_text}", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, title="points: V1 cells; lines: y = a x^b", title_fontsize=7)
        written.append(_save_atomic(fig, folder / name))
        plt.close(fig)
    return written
