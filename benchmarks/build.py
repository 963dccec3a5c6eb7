"""Network build benchmark: wall time and peak memory, fast path vs the seed's per-pair rules, in one run.

    python benchmarks/build.py [--n-full 10000] [--n-compare 2000] [--seed 0]

Each build runs in a fresh subprocess (so its peak resident memory is its own) and writes the full set of
SONATA files to a temporary folder. Prints a table; targets (2 cores): full 10,000-cell build <= 20 s and
<= 1.5 GB peak, fast path >= 10x the per-pair reference.
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

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, logging, resource, sys, time
logging.getLogger("bmtk").setLevel(logging.ERROR)
from build_network import build_network
n, seed, rule, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
start = time.perf_counter()
build_network(out, n_cells=n, seed=seed, rule=rule, progress=False)
wall = time.perf_counter() - start
print(json.dumps({"wall_s": wall, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(n_cells: int, seed: int, rule: str) -> dict:
    """Build once in a subprocess; return wall time (s, build + save), peak RSS (MB) and edge counts."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "network"
        result = subprocess.run([sys.executable, "-c", CHILD, str(n_cells), str(seed), rule, str(out)],
                                cwd=REPO, capture_output=True, text=True, check=True)
        stats = json.loads(result.stdout.strip().splitlines()[-1])
        import h5py

        for name in ("V1_V1", "LGN_V1"):
            with h5py.File(out / f"{name}_edges.h5", "r") as h5:
                stats[f"{name}_edges"] = int(next(iter(h5["edges"].values()))["source_node_id"].shape[0])
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-full", type=int, default=10000)
    parser.add_argument("--n-compare", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows = [("full build, fast path", args.n_full, measure(args.n_full, args.seed, "fast")),
            ("fast path", args.n_compare, measure(args.n_compare, args.seed, "fast")),
            ("per-pair reference (bmtk dense)", args.n_compare, measure(args.n_compare, args.seed, "reference"))]
    print()
    print("| build | V1 cells | V1->V1 edges | LGN->V1 edges | wall (s) | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, n, s in rows:
        print(f"| {label} | {n:,} | {s['V1_V1_edges']:,} | {s['LGN_V1_edges']:,} | {s['wall_s']:.2f} "
              f"| {s['peak_mb']:.0f} |")
    full, fast, ref = (r[2] for r in rows)
    speedup = ref["wall_s"] / fast["wall_s"]
    print()
    print(f"full build: {full['wall_s']:.1f} s (target <= 20 s), peak {full['peak_mb']:.0f} MB (target <= 1536 MB)")
    print(f"fast path vs per-pair reference at {args.n_compare:,} cells: {speedup:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
