"""Perturbation-suite benchmark: baseline + 8 perturbations of the full model, with 1 and with 2 Dask workers.

    python benchmarks/perturbations.py [--config config.json] [--workers 1 2] [--only NAME ...] [--out DIR]

Each setting runs the whole suite from scratch into its own folder (1 worker: NEST uses both cores per run;
2 workers: one core each). Prints the wall times and the speed-up; the last setting's summary is kept in
output/perturbations_bench/<workers>/summary.csv. :func:`measure_suite` is what ``python -m benchmarks`` calls.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

from common.paths import REPO

RUN_LINE = re.compile(r"^\s+(\S+): ([0-9.]+) s$")


def measure_suite(config: Path, workers: int, out: Path, only: list[str] | None = None) -> dict:
    """Run ``python -m perturbations run --force`` once in a fresh process and time it.

    Parameters
    ----------
    config : Path
        The baseline PointNet configuration (its network and LGN spikes must exist).
    workers : int
        Local Dask worker processes; each run gets ``cores // workers`` NEST threads (at least 1).
    out : Path
        The suite's output folder (replaced run by run: ``--force``).
    only : list of str, optional
        Perturbations to run besides the baseline (default: all eight).

    Returns
    -------
    dict
        ``workers``, ``threads_per_run``, ``wall_s`` (s, the whole command: Dask start, every run, the summary and
        its figures), ``runs`` (name -> wall time of that run, s) and ``n_runs``.

    Raises
    ------
    RuntimeError
        If the suite fails (its exit code and the end of its output).
    """
    argv = [sys.executable, "-m", "perturbations", "run", "--config", str(config), "--workers", str(workers),
            "--force", "--out", str(out)]
    if only:
        argv += ["--only", *only]
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"perturbation suite exited with code {result.returncode}: "
                           f"{(result.stdout + result.stderr)[-3000:]}")
    runs = {m.group(1): float(m.group(2)) for m in map(RUN_LINE.match, result.stdout.splitlines()) if m}
    return {"workers": workers, "threads_per_run": max(1, (os.cpu_count() or 1) // workers), "wall_s": wall,
            "runs": runs, "n_runs": len(runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "config_seed.json")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="perturbations besides the baseline (default all)")
    parser.add_argument("--out", type=Path, default=REPO / "output" / "perturbations_bench")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; suite = baseline + "
          f"{len(args.only) if args.only else 8} perturbations")
    rows = [measure_suite(args.config, workers, args.out / str(workers), args.only) for workers in args.workers]
    print("\n| Dask workers | NEST threads per run | wall (s) | speed-up |")
    print("|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['workers']} | {row['threads_per_run']} | {row['wall_s']:.0f} | "
              f"{rows[0]['wall_s'] / row['wall_s']:.2f} |")


if __name__ == "__main__":
    main()
