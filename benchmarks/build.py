"""Network build benchmark: wall time, CPU time and peak memory of the lean path and of the seed's per-pair rules.

    python benchmarks/build.py [--n-full 10000] [--n-compare 2000] [--series 2500,5000,10000,20000,40000]
                               [--large 100000] [--compression none|gzip] [--seed 0]

Each build runs in a fresh subprocess (so its peak resident memory is its own) and writes the full set of SONATA
files to a temporary folder. Three tables: the full build with the lean path (the default ``build_network``),
the lean path against the seed's per-pair rules through bmtk's dense path at ``--n-compare`` cells, and a series
at constant density (the column widens with the cell count) with the exponents of a least-squares fit of
log(time) and log(peak memory) against log(edges). Time is the ``build_network`` call (imports excluded); CPU is
the user + system time of that call, less disturbed than wall time when other jobs share the machine.

Targets (2 cores, 24 GB): 10,000 cells <= 10 s and <= 1 GB peak; 100,000 cells <= 3 minutes within 16 GB;
time and memory exponents against edges <= 1.1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from common.paths import REPO

CHILD = """
import json, logging, resource, sys, time
logging.getLogger("bmtk").setLevel(logging.ERROR)
from build_network import build_network
n, seed, rule, compression, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
start, start_cpu = time.perf_counter(), cpu()
build_network(out, n_cells=n, seed=seed, rule=rule, compression=compression, progress=False)
print(json.dumps({"wall_s": time.perf_counter() - start, "cpu_s": cpu() - start_cpu,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(n_cells: int, seed: int, rule: str, compression: str = "none") -> dict:
    """Build once in a subprocess.

    Parameters
    ----------
    n_cells : int
        Number of V1 cells.
    seed : int
        Master seed.
    rule : {'fast', 'reference'}
        The lean path's vectorized rules, or the seed's per-pair rules through bmtk's dense path.
    compression : {'none', 'gzip'}
        HDF5 compression of the files.

    Returns
    -------
    dict
        ``wall_s`` and ``cpu_s`` (s, the ``build_network`` call), ``peak_mb`` (peak resident memory of the
        process, MiB), ``V1_V1_edges``, ``LGN_V1_edges`` and ``edges`` (their sum).
    """
    import h5py

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "network"
        result = subprocess.run([sys.executable, "-c", CHILD, str(n_cells), str(seed), rule, compression, str(out)],
                                cwd=REPO, capture_output=True, text=True, check=True)
        stats = json.loads(result.stdout.strip().splitlines()[-1])
        for name in ("V1_V1", "LGN_V1"):
            with h5py.File(out / f"{name}_edges.h5", "r") as h5:
                stats[f"{name}_edges"] = int(next(iter(h5["edges"].values()))["source_node_id"].shape[0])
    stats["edges"] = stats["V1_V1_edges"] + stats["LGN_V1_edges"]
    return stats


def exponent(rows: list[dict], key: str) -> float:
    """Slope of the least-squares line through (log edges, log ``key``): the growth exponent against edges."""
    return float(np.polyfit(np.log([r["edges"] for r in rows]), np.log([r[key] for r in rows]), 1)[0])


def print_table(rows: list[tuple[str, int, dict]]) -> None:
    """Print ``(label, cells, stats)`` rows as a markdown table."""
    print("| build | V1 cells | V1->V1 edges | LGN->V1 edges | wall (s) | CPU (s) | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, n, s in rows:
        print(f"| {label} | {n:,} | {s['V1_V1_edges']:,} | {s['LGN_V1_edges']:,} | {s['wall_s']:.2f} "
              f"| {s['cpu_s']:.2f} | {s['peak_mb']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-full", type=int, default=10000, help="cells of the full build (default 10000)")
    parser.add_argument("--n-compare", type=int, default=2000,
                        help="cells of the lean vs per-pair comparison (default 2000; the per-pair rules take "
                             "about a minute there and grow as the square)")
    parser.add_argument("--series", default="2500,5000,10000,20000,40000",
                        help="comma-separated cell counts of the scaling series ('' to skip)")
    parser.add_argument("--large", type=int, default=0,
                        help="also build this many cells once, e.g. 100000 (heavy: minutes, several GB; default off)")
    parser.add_argument("--compression", choices=("none", "gzip"), default="none",
                        help="HDF5 compression of the builds (default none, as build_network)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at start")
    lean = f"lean path ({args.compression})"
    full = measure(args.n_full, args.seed, "fast", args.compression)
    fast = measure(args.n_compare, args.seed, "fast", args.compression)
    ref = measure(args.n_compare, args.seed, "reference", args.compression)
    print()
    print_table([(f"full build, {lean}", args.n_full, full), (lean, args.n_compare, fast),
                 ("per-pair reference (bmtk dense)", args.n_compare, ref)])
    print()
    print(f"full build: {full['wall_s']:.1f} s wall, {full['cpu_s']:.1f} s CPU (target <= 10 s), "
          f"peak {full['peak_mb']:.0f} MB (target <= 1024 MB)")
    print(f"lean path vs per-pair reference at {args.n_compare:,} cells: {ref['wall_s'] / fast['wall_s']:.1f}x "
          f"wall, {ref['cpu_s'] / fast['cpu_s']:.1f}x CPU")

    series = [int(n) for n in args.series.split(",") if n.strip()]
    if series:
        rows = [(lean, n, measure(n, args.seed, "fast", args.compression)) for n in series]
        print()
        print_table(rows)
        stats = [s for _, _, s in rows]
        print()
        print(f"exponents against edges ({series[0]:,} to {series[-1]:,} cells; target <= 1.1): "
              f"wall {exponent(stats, 'wall_s'):.2f}, CPU {exponent(stats, 'cpu_s'):.2f}, "
              f"peak memory {exponent(stats, 'peak_mb'):.2f}")
    if args.large:
        big = measure(args.large, args.seed, "fast", args.compression)
        print()
        print_table([(lean, args.large, big)])
        print()
        print(f"{args.large:,} cells: {big['wall_s']:.0f} s wall, {big['cpu_s']:.0f} s CPU (target <= 180 s), "
              f"peak {big['peak_mb'] / 1024:.1f} GB (target <= 16 GB)")


if __name__ == "__main__":
    main()
