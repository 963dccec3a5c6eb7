"""Sweeps of the control parameter (the excitatory weight scale) on Dask, and tuning to a target branching ratio.

Each sweep point is ``python -m studies.circuits run ... --out DIR/g_<scale>`` in a fresh process (NEST holds global
state), submitted to a local Dask cluster or an existing scheduler (:func:`simulation.parallel.run_parallel`).
A point is finished when its ``result.json`` exists with the same request; finished points are reused.

Tuning (:func:`tune`) brackets the target: it sweeps a coarse grid, then repeatedly places ``workers`` new points
evenly inside the interval where m - target changes sign on the rising branch of m (below the largest m), or
around the point closest to the target when no interval brackets it, until a point has |m - target| <= tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from common.files import RESULT_FILE, write_json
from simulation.parallel import run_command, run_parallel
from studies.circuits.params import CircuitError, CircuitSpec

COLUMNS = ("weight_scale", "mean_rate_hz", "branching_ratio_mr", "branching_ratio_naive", "tau_ms", "size_alpha",
           "duration_alpha", "llr_lognormal", "p_lognormal", "llr_exponential", "n_avalanches", "bin_ms", "regime",
           "out_dir")


def point_dir(out_dir: Path, weight_scale: float) -> Path:
    """Folder of the sweep point at ``weight_scale``."""
    return Path(out_dir) / f"g_{weight_scale:.4f}"


def _request(spec: CircuitSpec, weight_scale: float, bin_ms: float | None) -> dict:
    return {**spec.as_dict(), "weight_scale": round(float(weight_scale), 4), "bin_ms": bin_ms}


def _argv(spec: CircuitSpec, weight_scale: float, out: Path, params_file: Path, bin_ms: float | None) -> list[str]:
    argv = ["-m", "studies.circuits", "run", "--topology", spec.topology, "--n", str(spec.n_cells),
            "--weight-scale", f"{weight_scale:.4f}", "--seed", str(spec.seed), "--params", str(params_file),
            "--out", str(out), "--force", "--no-figures"]
    return argv + (["--bin-ms", str(bin_ms)] if bin_ms else [])


def _is_finished(out: Path, request: dict) -> bool:
    saved = out / "request.json"
    return (out / RESULT_FILE).is_file() and saved.is_file() and json.loads(saved.read_text()) == request


def run_point(name: str, argv: list[str], out: str, request: dict) -> dict:
    """One sweep point in a fresh process (a Dask task); records its request when it succeeds."""
    record = run_command(name, argv, str(Path(out).parent / f"{Path(out).name}.log"))
    if record["returncode"] == 0:
        write_json(Path(out) / "request.json", request)
    return record


def sweep(spec: CircuitSpec, weight_scales: list[float], out_dir: Path, workers: int = 1,
          scheduler: str | None = None, bin_ms: float | None = None) -> pd.DataFrame:
    """Run the circuit at each weight scale (in parallel) and tabulate the results.

    Parameters
    ----------
    spec : CircuitSpec
        The circuit; its own weight scale is replaced by each of ``weight_scales``.
    weight_scales : list of float
        Sweep points (>= 0).
    out_dir : Path
        Sweep folder: one sub-folder per point and ``sweep.csv``.
    workers : int
        Local Dask processes (each runs NEST with one thread).
    scheduler : str, optional
        Address of an existing Dask scheduler instead of a local cluster.
    bin_ms : float, optional
        Analysis bin (ms); default each run's mean inter-event interval.

    Returns
    -------
    pandas.DataFrame
        One row per point of the whole folder (earlier points included), columns :data:`COLUMNS`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params_file = out_dir / "circuit_params.json"
    write_json(params_file, spec.params)
    tasks = {}
    for g in weight_scales:
        if g < 0:
            raise CircuitError(f"weight scales must be >= 0, got {g}.")
        out, request = point_dir(out_dir, g), _request(spec, g, bin_ms)
        if not _is_finished(out, request):
            tasks[out.name] = (run_point, (out.name, _argv(spec, g, out, params_file, bin_ms), str(out), request))
    run_parallel(tasks, workers=workers, scheduler=scheduler, desc="sweep points")
    table = collect(out_dir, spec, bin_ms)
    tmp = out_dir / ".sweep.csv.tmp"
    table.to_csv(tmp, index=False)
    tmp.replace(out_dir / "sweep.csv")
    return table


def collect(out_dir: Path, spec: CircuitSpec | None = None, bin_ms: float | None = None) -> pd.DataFrame:
    """The results of the finished points of a sweep folder (those made with ``spec`` and ``bin_ms`` if given)."""
    rows = []
    for result_file in sorted(Path(out_dir).glob(f"g_*/{RESULT_FILE}")):
        result = json.loads(result_file.read_text())
        if spec is not None and not _is_finished(result_file.parent, _request(spec, result["weight_scale"], bin_ms)):
            continue
        crit = result["criticality"]
        rows.append({"weight_scale": result["weight_scale"], "mean_rate_hz": result["mean_rate_hz_all"],
                     **{k: crit.get(k) for k in COLUMNS if k in crit}, "out_dir": str(result_file.parent)})
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    return table.sort_values("weight_scale").reset_index(drop=True)


def next_points(table: pd.DataFrame, target_m: float, n_points: int) -> list[float]:
    """Where to evaluate next: evenly inside the bracket of the target on the rising branch of m, or around the
    point closest to the target.

    Examples
    --------
    >>> t = pd.DataFrame({"weight_scale": [0.0, 1.0, 2.0], "branching_ratio_mr": [0.9, 0.95, 1.2]})
    >>> next_points(t, 1.0, 3)
    [1.25, 1.5, 1.75]
    """
    t = table.dropna(subset=["branching_ratio_mr"]).sort_values("weight_scale").reset_index(drop=True)
    g, m = t.weight_scale.to_numpy(float), t.branching_ratio_mr.to_numpy(float)
    rising = np.arange(int(np.argmax(m)) + 1) if len(m) else np.arange(0)
    lo = hi = None
    for k in rising[:-1]:
        if (m[k] - target_m) * (m[k + 1] - target_m) <= 0:
            lo, hi = g[k], g[k + 1]
            break
    if lo is None:
        best = int(np.argmin(np.abs(m - target_m)))
        lo = g[best - 1] if best > 0 else g[best] / 2
        hi = g[best + 1] if best + 1 < len(g) else g[best] * 1.5 + 0.1
    points = np.linspace(lo, hi, n_points + 2)[1:-1]
    known = set(np.round(g, 4))
    return [round(float(p), 4) for p in points if round(float(p), 4) not in known]


def tune(spec: CircuitSpec, out_dir: Path, target_m: float = 1.0, tolerance: float = 0.02,
         grid: tuple[float, ...] = (0.0, 0.5, 0.8, 1.0, 1.2, 1.5), max_rounds: int = 4, workers: int = 2,
         scheduler: str | None = None, bin_ms: float | None = None) -> dict:
    """Find the weight scale whose MR branching ratio is within ``tolerance`` of ``target_m``.

    Returns
    -------
    dict
        ``weight_scale``, ``branching_ratio_mr``, ``converged``, ``target_m``, ``tolerance``, ``rounds``,
        ``evaluations`` and the regime of the chosen point; also written to ``out_dir/tune.json``.
    """
    table = sweep(spec, list(grid), out_dir, workers, scheduler, bin_ms)
    rounds = 0
    while rounds < max_rounds and not _best(table, target_m)["within"] <= tolerance:
        points = next_points(table, target_m, max(2, workers))
        if not points:
            break
        table = sweep(spec, points, out_dir, workers, scheduler, bin_ms)
        rounds += 1
    best = _best(table, target_m)
    row = table.loc[best["index"]]
    result = {"topology": spec.topology, "n_cells": spec.n_cells, "seed": spec.seed, "target_m": target_m,
              "tolerance": tolerance, "converged": bool(best["within"] <= tolerance),
              "weight_scale": float(row.weight_scale), "branching_ratio_mr": float(row.branching_ratio_mr),
              "regime": row.regime, "mean_rate_hz": float(row.mean_rate_hz), "rounds": rounds,
              "evaluations": len(table), "bin_ms": bin_ms or "mean IEI of each run", "point": row.out_dir}
    write_json(Path(out_dir) / "tune.json", result)
    return result


def _best(table: pd.DataFrame, target_m: float) -> dict:
    distance = (table.branching_ratio_mr.astype(float) - target_m).abs()
    if distance.isna().all():
        raise CircuitError("no sweep point gave a branching ratio (too few spikes?): lengthen the run (--tstop-ms) "
                           "or raise the drive.")
    index = distance.idxmin()
    return {"index": index, "within": float(distance[index])}
