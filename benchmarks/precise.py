"""Precise spike timing against the grid: accuracy and cost, measured side by side.

    python -m benchmarks.precise [--sections neuron network perturbations] [--seeds 0 1 2] [--out benchmarks]

``neuron``
    One LIF_exc cell (``components/point_neuron_models/LIF_exc.json``) driven by the same 500 Poisson input trains
    (400 excitatory at 7 Hz, +0.9 mV; 100 inhibitory at 10 Hz, -1.8 mV; delay 1 ms; 20 s), simulated as
    ``iaf_psc_delta`` at dt 0.001 ms (the reference; inputs rounded to that grid), ``iaf_psc_delta`` at dt 0.01 ms
    (inputs on its grid) and ``iaf_psc_delta_ps`` at dt 0.1 ms (exact off-grid inputs). Each model's spikes are
    matched to the reference's (nearest within 2 ms): fraction matched, extra spikes, median and 95th percentile of
    the timing error.
``network``
    The 10,000-cell model of ``--config`` for 3 s, grid (dt 0.01 ms, LGN spikes on that grid) against precise
    (``spike_timing`` precise, dt 0.1 ms, the same LGN draw unrounded), for each LGN seed: per population median
    rate, fraction active, mean ISI CV and synchrony (coefficient of variation of the population spike count in
    5 ms bins). Precise - grid per seed against the seed-to-seed range of the grid model.
``perturbations``
    The suite (baseline + 8 clamps, ``python -m perturbations run``) in both modes, every effect's sign and 95%
    interval (grid and precise with 1 Dask worker x 2 NEST threads), and the precise suite's wall time with the
    same 2 threads split two ways, 1 worker x 2 threads and 2 workers x 1 thread, against the target of
    :data:`SUITE_TARGET_S`; the wall time of each run (its own process) shows which one dominates.
``mpi``
    When ``.venv-mpi/`` (``make mpi-env``: NEST 3.10 with MPI) and ``mpirun`` exist: 3 s of ``--config``
    (precise), 1 process x 2 threads against ``mpirun -n 2`` x 1 thread, both with that NEST; each process's wall
    time and peak memory (``/usr/bin/time``), and whether the two wrote the same spikes. Skipped, saying so,
    otherwise.
``timers``
    Where a simulation's time goes inside NEST: the baseline (3 s of ``--config``, precise) and ``LIF_exc_excite``
    (the suite's +230 pA clamp on every LIF_exc cell), 1 process x 2 threads, run by ``run_pointnet.py
    --kernel-timers`` with the interpreter of ``.venv-timers/`` (``make timers-env``: NEST 3.10 built with
    ``-Dwith-detailed-timers=ON``), each ``time_*`` of ``nest.GetKernelStatus()`` after the run. Skipped, saying
    so, when that environment is missing or its NEST has no ``time_update``.

Writes ``precise_results.json`` and ``precise_results.md`` into ``--out``; the sections of an earlier
``precise_results.json`` that this run does not measure are kept, marked with the date, commit and load average of
the run that measured them. Work folders are temporary.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.rates import load_run
from common.kernel import fresh_kernel
from common.paths import REPO
from inputs.spikes import lgn_node_ids, lookup_rate, write_spikes
from perturbations.configs import write_suite

from .report import machine_info, machine_label

MODES = {"grid": {"spike_timing": "grid", "dt": 0.01}, "precise": {"spike_timing": "precise", "dt": 0.1}}
SECTIONS = ("neuron", "network", "perturbations", "timers", "mpi")
SUITE_TARGET_S = 60.0  # the whole precise suite (baseline + 8) on 2 threads in total
SUITE_SPLITS = ((1, 2), (2, 1))  # (Dask workers, NEST threads per run) of the precise suite: 2 threads in total
RUN_LINE = re.compile(r"^\s+(\S+): ([0-9.]+) s$")  # python -m perturbations run: "  NAME: 12.3 s"
TIMERS_PYTHON = REPO / ".venv-timers" / "bin" / "python"
TIMER_RUNS = ("baseline", "LIF_exc_excite")
MPI_PYTHON = REPO / ".venv-mpi" / "bin" / "python"
TIME_LINE = re.compile(r"^RANK-TIME ([0-9.]+) s ([0-9]+) KB$")  # /usr/bin/time -f below
# Kernel timers measured in Prepare or while building, outside time_simulate (no share of it is shown).
OUTSIDE_SIMULATE = ("time_communicate_prepare", "time_gather_target_data", "time_communicate_target_data",
                    "time_construction_create", "time_construction_connect", "time_omp_synchronization_construction")
# The rows of the breakdown, in this order; any other wall-clock time_* NEST reports follows them.
TIMER_ORDER = ("time_simulate", "time_update", "time_deliver_spike_data", "time_gather_spike_data",
               "time_collocate_spike_data", "time_communicate_spike_data", "time_omp_synchronization_simulation",
               "time_gather_secondary_data", "time_deliver_secondary_data", *OUTSIDE_SIMULATE)


def match_spikes(reference: np.ndarray, other: np.ndarray, window_ms: float = 2.0) -> dict:
    """Match each reference spike to the nearest unused spike of ``other`` within ``window_ms`` (greedy, in time).

    Returns
    -------
    dict
        ``n_reference``, ``n_other``, ``matched`` (fraction of reference spikes), ``extra`` (unmatched spikes of
        ``other``), ``median_error_ms``, ``p95_error_ms`` (absolute timing errors of matched pairs).

    Examples
    --------
    >>> match_spikes(np.array([1.0, 5.0]), np.array([1.1, 9.0]))["matched"]
    0.5
    """
    used = np.zeros(len(other), bool)
    errors = []
    for t in reference:
        k = np.searchsorted(other, t)
        best = None
        for j in (k - 1, k):
            if 0 <= j < len(other) and not used[j] and abs(other[j] - t) <= window_ms and (
                    best is None or abs(other[j] - t) < abs(other[best] - t)):
                best = j
        if best is not None:
            used[best] = True
            errors.append(abs(other[best] - t))
    errors = np.asarray(errors)
    return {"n_reference": int(len(reference)), "n_other": int(len(other)),
            "matched": float(len(errors) / max(len(reference), 1)), "extra": int((~used).sum()),
            "median_error_ms": float(np.median(errors)) if len(errors) else float("nan"),
            "p95_error_ms": float(np.quantile(errors, 0.95)) if len(errors) else float("nan")}


def _neuron_run(model: str, dt: float, trains: list[np.ndarray], weights: np.ndarray, tstop: float,
                params: dict) -> tuple[np.ndarray, float]:
    nest = fresh_kernel(dt, threads=1)
    cell = nest.Create(model, params=params)
    precise = model.endswith("_ps")
    times = [t if precise else np.maximum(np.round(t / dt), 1) * dt for t in trains]
    generators = nest.Create("spike_generator", len(trains), params=[
        {"spike_times": np.round(t, 9).tolist(), "precise_times": precise} for t in times])
    nest.Connect(generators, cell, "all_to_all", {"weight": weights[None, :], "delay": 1.0})
    recorder = nest.Create("spike_recorder")
    nest.Connect(cell, recorder)
    start = time.perf_counter()
    nest.Simulate(tstop)
    return np.sort(recorder.get("events")["times"]), time.perf_counter() - start


def measure_neuron(seeds: list[int], tstop_ms: float = 20000.0) -> list[dict]:
    """The single-neuron comparison for each seed (see the module docstring)."""
    params = json.loads((REPO / "components" / "point_neuron_models" / "LIF_exc.json").read_text())
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        rates = np.r_[np.full(400, 7.0), np.full(100, 10.0)]
        weights = np.r_[np.full(400, 0.9), np.full(100, -1.8)]
        trains = [np.sort(rng.uniform(0.1, tstop_ms, rng.poisson(r * tstop_ms / 1000))) for r in rates]
        reference, _ = _neuron_run("iaf_psc_delta", 0.001, trains, weights, tstop_ms, params)
        for name, model, dt in (("grid dt 0.01 ms", "iaf_psc_delta", 0.01),
                                ("precise dt 0.1 ms", "iaf_psc_delta_ps", 0.1)):
            spikes, wall = _neuron_run(model, dt, trains, weights, tstop_ms, params)
            rows.append({"seed": seed, "model": name, "wall_s": wall, **match_spikes(reference, spikes)})
    return rows


def _absolute(config_path: Path) -> dict:
    """The configuration as written, its manifest made absolute so that a copy can live elsewhere."""
    base = json.loads(config_path.read_text())
    here = str(config_path.resolve().parent)
    base["manifest"] = {k: v.replace("${configdir}", here).replace("$BASE_DIR", here) if isinstance(v, str) else v
                        for k, v in base["manifest"].items()}
    return base


def _lgn_spikes(config_path: Path, out: Path, tstop_ms: float, seed: int, dt_ms: float | None) -> Path:
    """The configuration's constant-rate LGN spikes (``python -m inputs spikes``' process), on a grid or exact."""
    from bmtk.utils.sonata.config import SonataConfig

    resolved = dict(SonataConfig.from_json(str(config_path)))
    network = Path(resolved["networks"]["nodes"][0]["nodes_file"]).parent
    lgn = resolved.get("lgn_input", {})
    ids = lgn_node_ids(network, 500)
    rate = lookup_rate(lgn.get("genotype", "wt"), lgn.get("stimulus", "fl"), lgn.get("qc", "snr4"))
    return write_spikes(out, ids, np.full(len(ids), rate), tstop_ms, seed, dt_ms=dt_ms)


def _config(base: dict, mode: str, lgn_file: Path, out: Path, tstop_ms: float, n_thread: int) -> dict:
    config = json.loads(json.dumps(base))
    config["manifest"]["$OUTPUT_DIR"] = str(out)
    config["spike_timing"] = MODES[mode]["spike_timing"]
    config["run"].update({"dt": MODES[mode]["dt"], "tstop": tstop_ms, "n_thread": n_thread,
                          "precise_times": mode == "precise"})
    config["inputs"]["LGN_spikes"]["input_file"] = str(lgn_file)
    return config


def _run(config: dict, path: Path) -> float:
    path.write_text(json.dumps(config, indent=2))
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(REPO / "run_pointnet.py"), str(path), "--no-build"], cwd=REPO,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{path} failed:\n{result.stderr[-2000:]}")
    line = [x for x in result.stdout.splitlines() if x.startswith("simulated")]
    return float(line[0].split(" in ")[1].split(" s")[0]) if line else time.perf_counter() - start


def network_statistics(output: Path, config_path: Path, bin_ms: float = 5.0) -> pd.DataFrame:
    """Per population: median rate (Hz), fraction active, mean ISI CV, synchrony (CV of 5 ms population counts)."""

    run = load_run(output, config_path)
    edges = np.arange(run.tstart_ms, run.tstop_ms + bin_ms / 2, bin_ms)
    rows = []
    for pop, cells in run.cells.groupby("pop_name"):
        counts = np.histogram(run.spikes.timestamp_ms[run.spikes.pop_name == pop], edges)[0]
        rows.append({"pop_name": pop, "median_rate_hz": float(cells.rate_hz.median()),
                     "frac_active": float((cells.n_spikes > 0).mean()), "mean_isi_cv": float(cells.isi_cv.mean()),
                     "synchrony_cv": float(counts.std() / counts.mean()) if counts.mean() > 0 else float("nan")})
    return pd.DataFrame(rows)


def measure_network(config_path: Path, seeds: list[int], work: Path, tstop_ms: float = 3000.0,
                    n_thread: int = 2) -> dict:
    """Grid and precise runs of the model for each LGN seed (see the module docstring)."""
    base = _absolute(config_path)
    tables, walls = [], []
    for seed in seeds:
        for mode in MODES:
            lgn_file = _lgn_spikes(config_path, work / f"lgn_{seed}_{mode}.h5", tstop_ms, seed,
                                   MODES[mode]["dt"] if mode == "grid" else None)
            out = work / f"net_{seed}_{mode}"
            path = work / f"net_{seed}_{mode}.json"
            walls.append({"seed": seed, "mode": mode, "sim_s": _run(_config(base, mode, lgn_file, out, tstop_ms,
                                                                            n_thread), path)})
            tables.append(network_statistics(out, path).assign(seed=seed, mode=mode))
            shutil.rmtree(out, ignore_errors=True)
    table = pd.concat(tables, ignore_index=True)
    stats = ["median_rate_hz", "frac_active", "mean_isi_cv", "synchrony_cv"]
    grid = table[table["mode"] == "grid"].set_index(["pop_name", "seed"])[stats]
    precise = table[table["mode"] == "precise"].set_index(["pop_name", "seed"])[stats]
    diff = (precise - grid).groupby(level=0).mean()
    spread = grid.groupby(level=0).agg(lambda s: s.max() - s.min())
    verdict = diff.abs() <= spread
    return {"table": json.loads(table.to_json(orient="records")), "walls": walls,
            "mean_difference": json.loads(diff.to_json(orient="index")),
            "seed_range": json.loads(spread.to_json(orient="index")),
            "within_spread": json.loads(verdict.to_json(orient="index"))}


def _suite_config(base: dict, mode: str, lgn_file: Path, n_thread: int) -> dict:
    """``base`` in ``mode`` with its LGN spikes ``lgn_file`` (its own tstop and output folder)."""
    config = json.loads(json.dumps(base))
    config["spike_timing"] = MODES[mode]["spike_timing"]
    config["run"].update({"dt": MODES[mode]["dt"], "precise_times": mode == "precise", "n_thread": n_thread})
    config["inputs"]["LGN_spikes"]["input_file"] = str(lgn_file)
    return config


def _mode_lgn(config_path: Path, base: dict, work: Path, mode: str) -> Path:
    """The configuration's LGN spikes for ``mode`` (its seed; on the grid model's grid, or exact)."""
    return _lgn_spikes(config_path, work / f"lgn_{mode}.h5", float(base["run"]["tstop"]),
                       int(base.get("lgn_input", {}).get("seed", 0)), MODES[mode]["dt"] if mode == "grid" else None)


def run_walls(stdout: str) -> dict[str, float]:
    """The wall time of each run (s) from the output of ``python -m perturbations run`` (``"  NAME: 12.3 s"``).

    Examples
    --------
    >>> run_walls("9 runs: baseline, PV_excite\\n  PV_excite: 6.1 s\\n  baseline: 5.2 s\\n")
    {'PV_excite': 6.1, 'baseline': 5.2}
    """
    return {m.group(1): float(m.group(2)) for m in map(RUN_LINE.match, stdout.splitlines()) if m}


def _time_suite(path: Path, out: Path, workers: int, n_thread: int) -> dict:
    """Run ``python -m perturbations run`` on ``path`` from scratch; its wall time and each run's."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "perturbations", "run", "--config", str(path), "--out", str(out),
                             "--workers", str(workers), "--threads", str(n_thread), "--force"], cwd=REPO,
                            capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"perturbations ({path.name}, {workers} workers) failed:\n{result.stderr[-2000:]}")
    return {"workers": workers, "threads_per_run": n_thread, "wall_s": wall, "runs": run_walls(result.stdout)}


def measure_perturbations(config_path: Path, work: Path, n_thread: int = 2) -> dict:
    """The perturbation suite in both modes (each effect's sign and interval) and the precise suite's wall time
    with ``n_thread`` threads in total, split as in :data:`SUITE_SPLITS` (see the module docstring)."""
    base = _absolute(config_path)
    keys = ["perturbation", "population"]
    results, suites = {}, []
    plan = [("grid", 1, n_thread)] + [("precise", w, t) for w, t in SUITE_SPLITS]
    for mode, workers, threads in plan:
        path = work / f"suite_{mode}.json"
        if not path.exists():
            path.write_text(json.dumps(_suite_config(base, mode, _mode_lgn(config_path, base, work, mode), n_thread),
                                       indent=2))
        out = work / f"suite_{mode}_{workers}x{threads}"
        load = _load()
        record = _time_suite(path, out, workers, threads)
        record["load_average_before"] = load
        suites.append({"mode": mode, **record})
        print(f"suite {mode}, {workers} worker(s) x {threads} thread(s): {record['wall_s']:.1f} s", flush=True)
        summary = pd.read_csv(out / "summary.csv")
        shutil.rmtree(out, ignore_errors=True)
        if mode not in results:  # the effects: each mode's first suite (1 worker x n_thread threads)
            results[mode] = summary
            continue
        other = results[mode].merge(summary, on=keys, suffixes=("", "_other"))
        suites[-1]["max_abs_effect_difference_hz"] = float(
            (other.delta_median_hz - other.delta_median_hz_other).abs().max())
    both = results["grid"].merge(results["precise"], on=keys, suffixes=("_grid", "_precise"))
    both = both[both.perturbation != "baseline"]
    both = both.assign(
        same_sign=np.sign(both.delta_median_hz_grid) == np.sign(both.delta_median_hz_precise),
        overlap=(both.delta_ci_low_grid <= both.delta_ci_high_precise)
        & (both.delta_ci_low_precise <= both.delta_ci_high_grid))
    walls = {mode: next(x["wall_s"] for x in suites if x["mode"] == mode) for mode in MODES}
    return {"walls": walls, "suites": suites, "target_s": SUITE_TARGET_S, "threads_total": n_thread,
            "tstop_ms": float(base["run"]["tstop"]), "config": Path(config_path).name,
            "rows": json.loads(both.to_json(orient="records"))}


def _load() -> list[float] | None:
    """The load average (1, 5, 15 min) now."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def timers_environment(python: Path = TIMERS_PYTHON) -> dict:
    """Whether ``python`` (``.venv-timers/``) has a NEST with detailed kernel timers: ``ok``, and ``reason`` or
    ``nest`` (its version) and ``timers`` (the ``time_*`` names it reports)."""
    if not Path(python).exists():
        return {"ok": False, "reason": f"{python} does not exist (`make timers-env` builds it, about 30 min)"}
    probe = ("import json, nest; s = nest.GetKernelStatus(); print(json.dumps({'nest': nest.__version__, "
             "'timers': sorted(k for k in s if k.startswith('time_'))}))")
    result = subprocess.run([str(python), "-c", probe], cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        return {"ok": False, "reason": f"{python} cannot import NEST: {result.stderr.strip()[-300:]}"}
    found = json.loads(result.stdout.strip().splitlines()[-1])
    if "time_update" not in found["timers"]:
        return {"ok": False, "reason": f"the NEST of {python} has no detailed timers (no time_update; make timers-env "
                                       "builds one with -Dwith-detailed-timers=ON)", **found}
    return {"ok": True, **found}


def _count_spikes(folder: Path) -> int:
    """Spikes in ``folder/spikes.h5`` (every population)."""
    import h5py

    with h5py.File(folder / "spikes.h5", "r") as f:
        return sum(int(f["spikes"][pop]["timestamps"].shape[0]) for pop in f["spikes"])


def measure_timers(config_path: Path, work: Path, n_thread: int = 2, python: Path = TIMERS_PYTHON) -> dict:
    """NEST's kernel timers of the baseline and of ``LIF_exc_excite`` (see the module docstring)."""

    env = timers_environment(python)
    if not env["ok"]:
        return {"skipped": env["reason"]}
    base = _absolute(config_path)
    path = work / "timers_base.json"
    path.write_text(json.dumps(_suite_config(base, "precise", _mode_lgn(config_path, base, work, "precise"),
                                             n_thread), indent=2))
    configs = write_suite(path, work / "timers", only=[n for n in TIMER_RUNS if n != "baseline"])
    runs = []
    for name in TIMER_RUNS:
        timers_file = work / f"timers_{name}.json"
        load = _load()
        start = time.perf_counter()
        result = subprocess.run([str(python), str(REPO / "run_pointnet.py"), str(configs[name]), "--no-build",
                                 "--kernel-timers", str(timers_file)], cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"{name} with {python} failed:\n{result.stderr[-2000:]}")
        line = [x for x in result.stdout.splitlines() if x.startswith("simulated")]
        record = json.loads(timers_file.read_text())
        out = Path(json.loads(configs[name].read_text())["manifest"]["$OUTPUT_DIR"])
        runs.append({"name": name, "load_average_before": load, "process_wall_s": wall,
                     "runner_simulate_s": float(line[0].split(" in ")[1].split(" s")[0]) if line else None,
                     "n_spikes": _count_spikes(out), "threads": record.get("local_num_threads"),
                     "processes": record.get("processes"), "timers": record["timers"]})
        print(f"timers {name}: time_simulate {record['timers'].get('time_simulate', float('nan')):.2f} s", flush=True)
        shutil.rmtree(out, ignore_errors=True)
    return {"python": str(python), "nest": env["nest"], "threads": n_thread, "tstop_ms": float(base["run"]["tstop"]),
            "config": Path(config_path).name, "runs": runs}


def timer_summary(value: float | list[float]) -> dict:
    """A kernel timer as ``max`` and ``mean`` over threads (a timer of one thread: both its value).

    Examples
    --------
    >>> timer_summary([1.0, 3.0])
    {'max': 3.0, 'mean': 2.0, 'n': 2}
    """
    values = np.atleast_1d(np.asarray(value, dtype=float))
    return {"max": float(values.max()), "mean": float(values.mean()), "n": int(values.size)}


def timer_rows(runs: list[dict]) -> list[dict]:
    """The breakdown's rows: one per wall-clock timer reported by any run (no ``_cpu``), in :data:`TIMER_ORDER`
    then by name; for each run the per-thread max and mean (s) and the max's share of that run's ``time_simulate``
    (None for the timers of :data:`OUTSIDE_SIMULATE`)."""
    names = {k for r in runs for k in r["timers"] if k.startswith("time_") and not k.endswith("_cpu")}
    ordered = [n for n in TIMER_ORDER if n in names] + sorted(names - set(TIMER_ORDER))
    rows = []
    for name in ordered:
        row = {"timer": name, "runs": {}}
        for r in runs:
            if name not in r["timers"]:
                continue
            t = timer_summary(r["timers"][name])
            simulate = r["timers"].get("time_simulate")
            share = None if name in OUTSIDE_SIMULATE or not simulate else t["max"] / float(np.max(simulate))
            row["runs"][r["name"]] = {**t, "share": share}
        rows.append(row)
    return rows


def render_timers(timers: dict) -> list[str]:
    """The kernel-timer section as Markdown lines."""
    lines = ["## Where the simulation time goes: NEST kernel timers", ""]
    if "skipped" in timers:
        return lines + [f"Not measured: {timers['skipped']}.", ""]
    runs = timers["runs"]
    lines += [f"NEST {timers['nest']} built with `-Dwith-detailed-timers=ON` (`.venv-timers/`, `make timers-env`), "
              f"1 process x {timers['threads']} threads, {timers.get('tstop_ms', 3000.0) / 1000:g} s of "
              f"`{timers.get('config', 'config.json')}` (precise); `run_pointnet.py "
              "--kernel-timers` writes every `time_*` of `nest.GetKernelStatus()` after the run. A timer that each "
              "thread keeps (`time_update`, `time_deliver_spike_data`, `time_communicate_prepare`, ...) is shown "
              "as its **maximum over the threads** (mean in brackets; every value in `precise_results.json`); the "
              "share is of the run's `time_simulate`. `time_gather_spike_data` contains "
              "`time_collocate_spike_data` and `time_communicate_spike_data`; the timers marked *before Simulate* "
              "are spent in Prepare or while building, outside `time_simulate`.", ""]
    header = "| timer | " + " | ".join(f"{r['name']} s | share" for r in runs) + " |"
    lines += [header, "|---|" + "---:|---:|" * len(runs)]
    for row in timer_rows(runs):
        cells = []
        for r in runs:
            t = row["runs"].get(r["name"])
            if t is None:
                cells += ["-", "-"]
                continue
            value = f"{t['max']:.3f}" + (f" ({t['mean']:.3f})" if t["n"] > 1 else "")
            cells += [value, "before Simulate" if t["share"] is None else f"{100 * t['share']:.1f}%"]
        lines.append(f"| {row['timer']} | " + " | ".join(cells) + " |")
    lines += ["", "Each run: the spikes it recorded (`spikes.h5`), the runner's `simulated ... in X s` (NEST's run "
              "with the progress chunks and clamp changes, and writing the spikes) and the wall time of its whole "
              "process (imports and SONATA load included) with this NEST; its `time_simulate` is in the table above.",
              "",
              "| run | spikes | runner's simulate s | process wall s | load average before |",
              "|---|---:|---:|---:|---|"]
    for r in runs:
        load = r.get("load_average_before")
        lines.append(f"| {r['name']} | {r['n_spikes']:,} | {_fmt(r.get('runner_simulate_s'))} | "
                     f"{r['process_wall_s']:.1f} | {_loadfmt(load)} |")
    return lines + [""]


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def _loadfmt(load: list[float] | None) -> str:
    return "-" if not load else ", ".join(f"{x:.2f}" for x in load)


def render_suite(per: dict) -> list[str]:
    """The suite's wall times (every mode and split, each run's) as Markdown lines."""
    suites = per.get("suites")
    if not suites:  # results written before the splits were measured
        return [f"Wall time (baseline + 8, one worker, 2 threads): grid {per['walls']['grid']:.0f} s, precise "
                f"{per['walls']['precise']:.0f} s.", ""]
    target = per.get("target_s", SUITE_TARGET_S)
    lines = [f"Wall time of `python -m perturbations run --config {per.get('config', 'config.json')}` (baseline + 8, "
             "each run in its own process; the whole "
             f"command: Dask start, the runs, the summary and its figures), {per.get('threads_total', 2)} threads in "
             f"total. Target: the precise suite in <= {target:.0f} s.", "",
             "| mode | Dask workers x NEST threads per run | wall s | <= 60 s | load average before |",
             "|---|---|---:|---|---|"]
    for x in suites:
        met = ("**yes**" if x["wall_s"] <= target else "**no**") if x["mode"] == "precise" else "(no target)"
        lines.append(f"| {x['mode']} | {x['workers']} x {x['threads_per_run']} | {x['wall_s']:.1f} | {met} | "
                     f"{_loadfmt(x.get('load_average_before'))} |")
    names = sorted({n for x in suites for n in x["runs"]},
                   key=lambda n: -max(x["runs"].get(n, 0.0) for x in suites if x["mode"] == "precise"))
    lines += ["", f"Wall time of each run (s; its own process: imports, SONATA load, "
              f"{per.get('tstop_ms', 3000.0) / 1000:g} s simulated, writing), the longest precise run first:", "",
              "| run | " + " | ".join(f"{x['mode']} {x['workers']} x {x['threads_per_run']}" for x in suites) + " |",
              "|---|" + "---:|" * len(suites)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_fmt(x["runs"].get(name)) for x in suites) + " |")
    lines.append("| sum of the runs | " + " | ".join(f"{sum(x['runs'].values()):.1f}" for x in suites) + " |")
    differences = [x for x in suites if "max_abs_effect_difference_hz" in x]
    for x in differences:
        lines += ["", f"The precise effects with {x['workers']} x {x['threads_per_run']} against those with 1 x 2 "
                  f"(the table below): largest difference of a median change {x['max_abs_effect_difference_hz']:.2f}"
                  " Hz."]
    return lines + [""]


def measured_now(machine: dict) -> dict:
    """When, on which commit and at which load a section is measured now (for ``measured_by``)."""
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "git_commit": machine.get("git_commit"),
            "git_dirty": machine.get("git_dirty"), "load_average": _load()}


def carry_over(previous: dict, sections: list[str]) -> dict:
    """The sections of an earlier ``precise_results.json`` that this run does not measure, with their provenance.

    Parameters
    ----------
    previous : dict
        The earlier results (empty: nothing to keep).
    sections : list of str
        The sections measured now.

    Returns
    -------
    dict
        Section name -> its results, and ``measured_by``: section name -> ``date``, ``git_commit`` and
        ``load_average`` of the run that measured it (an older file without ``measured_by``: its ``machine``).

    Examples
    --------
    >>> old = {"machine": {"date": "d", "git_commit": "c", "load_average": [0.1]}, "neuron": [1], "network": {}}
    >>> kept = carry_over(old, ["network"])
    >>> kept["neuron"], kept["measured_by"]["neuron"]["date"]
    ([1], 'd')
    """
    kept = {name: previous[name] for name in SECTIONS if name in previous and name not in sections}
    if not kept:
        return {}
    machine = previous.get("machine", {})
    default = {k: machine.get(k) for k in ("date", "git_commit", "git_dirty", "load_average")}
    kept["measured_by"] = {name: previous.get("measured_by", {}).get(name, default) for name in list(kept)}
    return kept


def _provenance(results: dict, section: str) -> list[str]:
    """One line: when, on which commit and at which load average ``section`` was measured."""
    by = results.get("measured_by", {}).get(section)
    if not by:
        return []
    commit = str(by.get("git_commit"))[:10] + (" (uncommitted changes)" if by.get("git_dirty") else "")
    took = f" in {by['duration_s'] / 60:.1f} min" if by.get("duration_s") is not None else ""
    return [f"Measured {by.get('date')}{took}, commit {commit}, load average (1, 5, 15 min) at the start of the "
            f"section {_loadfmt(by.get('load_average'))}.", ""]


def _mpi_run(argv: list[str], config: dict, path: Path) -> dict:
    """Run ``argv`` (ending in the runner) on ``config``; each process's wall s and peak KB, and the spikes."""
    import h5py

    path.write_text(json.dumps(config, indent=2))
    start = time.perf_counter()
    result = subprocess.run([*argv, str(path), "--no-build"], cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} {path} failed:\n{result.stderr[-2000:]}")
    ranks = [TIME_LINE.match(x) for x in result.stderr.splitlines()]
    ranks = [{"wall_s": float(m[1]), "peak_mb": int(m[2]) / 1024} for m in ranks if m]
    out = Path(config["manifest"]["$OUTPUT_DIR"])
    with h5py.File(out / "spikes.h5", "r") as f:
        grp = f["spikes/V1"]
        spikes = np.rec.fromarrays([grp["node_ids"][()], grp["timestamps"][()]])
    spikes.sort()
    return {"command_wall_s": wall, "processes": ranks, "spikes": spikes}


def measure_mpi(config_path: Path, work: Path, python: Path = MPI_PYTHON) -> dict:
    """One process x 2 threads against ``mpirun -n 2`` x 1 thread with the MPI NEST (see the module docstring)."""
    if not Path(python).exists():
        return {"skipped": f"{python} does not exist (`make mpi-env` builds NEST with MPI, about 20-30 min)"}
    if shutil.which("mpirun") is None:
        return {"skipped": "mpirun not found (apt-get install openmpi-bin)"}
    base = _absolute(config_path)
    lgn = _mode_lgn(config_path, base, work, "precise")
    timed = ["/usr/bin/time", "-f", "RANK-TIME %e s %M KB", str(python), str(REPO / "run_pointnet.py")]
    rows, spikes = [], {}
    for name, launcher, threads in (("1 process x 2 threads", [], 2),
                                    ("mpirun -n 2 x 1 thread", ["mpirun", "--allow-run-as-root", "--oversubscribe",
                                                                "-n", "2"], 1)):
        config = _suite_config(base, "precise", lgn, threads)
        config["manifest"]["$OUTPUT_DIR"] = str(work / f"mpi_{threads}")
        load = _load()
        record = _mpi_run([*launcher, *timed], config, work / f"mpi_{threads}.json")
        spikes[name] = record.pop("spikes")
        rows.append({"run": name, "load_average_before": load, **record, "n_spikes": len(spikes[name])})
        shutil.rmtree(work / f"mpi_{threads}", ignore_errors=True)
    first, second = spikes.values()
    return {"python": str(python), "config": Path(config_path).name, "tstop_ms": float(base["run"]["tstop"]),
            "rows": rows, "identical_spikes": bool(len(first) == len(second) and (first == second).all())}


def render_mpi(mpi: dict) -> list[str]:
    """The MPI section as Markdown lines."""
    lines = ["## One network over two MPI ranks", ""]
    if "skipped" in mpi:
        return lines + [f"Skipped: {mpi['skipped']}.", ""]
    lines += [f"{mpi['tstop_ms'] / 1000:g} s of `{mpi['config']}` (precise) with the NEST of `{mpi['python']}`; "
              f"each process timed by `/usr/bin/time`. Same spikes in both: "
              f"**{'yes' if mpi['identical_spikes'] else 'no'}**.",
              "", "| run | command wall s | per process: wall s, peak MB | V1 spikes | load average before |",
              "|---|---:|---|---:|---|"]
    for r in mpi["rows"]:
        per = "; ".join(f"{p['wall_s']:.1f} s, {p['peak_mb']:.0f} MB" for p in r["processes"])
        lines.append(f"| {r['run']} | {r['command_wall_s']:.1f} | {per} | {r['n_spikes']:,} | "
                     f"{_loadfmt(r['load_average_before'])} |")
    return lines + [""]


def render(results: dict) -> str:
    """The results as Markdown."""
    lines = ["# Precise spike timing against the grid", "", f"Machine: {machine_label(results['machine'])}; commit "
             f"{str(results['machine'].get('git_commit'))[:10]}; {results['machine']['date']}; load average at start "
             f"{results['machine'].get('load_average')}.", ""]
    if "neuron" in results:
        lines += ["## One neuron, the same input spikes (reference: iaf_psc_delta at dt 0.001 ms)", ""]
        lines += _provenance(results, "neuron")
        lines += ["| seed | model | reference spikes | spikes | matched | extra | median error ms | 95% error ms |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['seed']} | {r['model']} | {r['n_reference']} | {r['n_other']} | {r['matched']:.3f} | "
                  f"{r['extra']} | {r['median_error_ms']:.4f} | {r['p95_error_ms']:.4f} |" for r in results["neuron"]]
        lines.append("")
    if "network" in results:
        net = results["network"]
        table = pd.DataFrame(net["table"])
        lines += ["## The 10,000-cell network, 3 s, grid (dt 0.01 ms) and precise (dt 0.1 ms) per LGN seed", ""]
        lines += _provenance(results, "network")
        lines += ["| population | seed | mode | median rate Hz | active | mean ISI CV | synchrony CV |",
                  "|---|---:|---|---:|---:|---:|---:|"]
        lines += [f"| {r.pop_name} | {r.seed} | {r.mode} | {r.median_rate_hz:.2f} | {r.frac_active:.3f} | "
                  f"{r.mean_isi_cv:.3f} | {r.synchrony_cv:.3f} |" for r in table.itertuples()]
        lines += ["", "Mean difference precise - grid, against the grid model's seed-to-seed range (within?):", "",
                  "| population | statistic | mean difference | seed range | within |", "|---|---|---:|---:|---|"]
        for pop, stats in net["mean_difference"].items():
            for stat, value in stats.items():
                lines.append(f"| {pop} | {stat} | {value:.4f} | {net['seed_range'][pop][stat]:.4f} | "
                             f"{'yes' if net['within_spread'][pop][stat] else '**no**'} |")
        walls = pd.DataFrame(net["walls"]).groupby("mode").sim_s.median()
        lines += ["", "Simulation time of 3 s (median over seeds, 2 threads): " + ", ".join(
            f"{m} {w:.1f} s ({w / 3:.2f}x real time)" for m, w in walls.items()), ""]
    if "perturbations" in results:
        per = results["perturbations"]
        rows = pd.DataFrame(per["rows"])
        lines += ["## The perturbation suite in both modes", ""] + _provenance(results, "perturbations")
        lines += render_suite(per)
        lines += ["Effects, grid and precise with 1 worker x 2 threads: same sign "
                  f"{int(rows.same_sign.sum())} of {len(rows)}; overlapping intervals: {int(rows.overlap.sum())} of "
                  f"{len(rows)}.", "",
                  "| perturbation | population | grid change Hz [95% CI] | precise change Hz [95% CI] | sign "
                  "| overlap |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r.perturbation} | {r.population} | {r.delta_median_hz_grid:.2f} [{r.delta_ci_low_grid:.2f}, "
                  f"{r.delta_ci_high_grid:.2f}] | {r.delta_median_hz_precise:.2f} [{r.delta_ci_low_precise:.2f}, "
                  f"{r.delta_ci_high_precise:.2f}] | {'same' if r.same_sign else '**differs**'} | "
                  f"{'yes' if r.overlap else '**no**'} |" for r in rows.itertuples()]
        lines.append("")
    if "timers" in results:
        timers = render_timers(results["timers"])
        lines += timers[:2] + _provenance(results, "timers") + timers[2:]
    if "mpi" in results:
        mpi = render_mpi(results["mpi"])
        lines += mpi[:2] + _provenance(results, "mpi") + mpi[2:]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.precise", description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=REPO / "config_seed.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    args = parser.parse_args(argv)
    previous = args.out / "precise_results.json"
    results = {"machine": machine_info(),
               **carry_over(json.loads(previous.read_text()) if previous.is_file() else {}, args.sections)}
    results.setdefault("measured_by", {})
    measure = {"neuron": lambda: measure_neuron(args.seeds),
               "network": lambda: measure_network(args.config, args.seeds, work),
               "perturbations": lambda: measure_perturbations(args.config, work),
               "timers": lambda: measure_timers(args.config, work),
               "mpi": lambda: measure_mpi(args.config, work)}
    work = Path(tempfile.mkdtemp(prefix="precise-bench-"))
    try:
        for section in SECTIONS:
            if section not in args.sections:
                continue
            results["measured_by"][section] = measured_now(results["machine"])
            print(f"{section} (load average {_loadfmt(_load())}) ...", flush=True)
            start = time.perf_counter()
            results[section] = measure[section]()
            results["measured_by"][section]["duration_s"] = time.perf_counter() - start
            _save(results, args.out)
            if section == "timers" and "skipped" in results[section]:
                print(f"timers: skipped: {results[section]['skipped']}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(render(results))
    print(f"wrote {args.out / 'precise_results.md'}")
    return 0


def _save(results: dict, out: Path) -> None:
    """Write the results so far (a checkpoint after each section)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("precise_results.json", json.dumps(results, indent=2) + "\n"),
                       ("precise_results.md", render(results))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out / name)


if __name__ == "__main__":
    sys.exit(main())
