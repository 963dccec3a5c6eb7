"""Perturbation-suite benchmark: baseline + 8 perturbations of the full model, with 1 and with 2 Dask workers.

    python benchmarks/perturbations.py [--config config.json] [--workers 1 2]

Each setting runs the whole suite from scratch into its own folder (1 worker: NEST uses both cores per run;
2 workers: one core each). Prints the wall times and the speed-up; the last setting's summary is kept in
output/perturbations_bench/<workers>/summary.csv.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "config.json")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=REPO / "output" / "perturbations_bench")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; suite = baseline + 8 perturbations")
    walls = {}
    for workers in args.workers:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "perturbations", "run", "--config", str(args.config), "--workers",
                        str(workers), "--force", "--out", str(args.out / str(workers))], check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
        walls[workers] = time.perf_counter() - start
    print("\n| Dask workers | NEST threads per run | wall (s) | speed-up |")
    print("|---:|---:|---:|---:|")
    first = walls[args.workers[0]]
    for workers, wall in walls.items():
        print(f"| {workers} | {max(1, (os.cpu_count() or 1) // workers)} | {wall:.0f} | {first / wall:.2f} |")


if __name__ == "__main__":
    main()
