"""Networks for the scaling series: built and measured in a fresh process, kept on disk for the simulations.

:func:`benchmarks.build.measure` builds into a folder it deletes; the scaling series needs the network again
for its simulation, so :func:`measure_build` builds the same way (``build_network(..., progress=False)`` in a
child process; wall and CPU time of the call, peak resident memory of the child) into a folder the caller owns.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py

from common.paths import REPO

CHILD = """
import json, logging, resource, sys, time
logging.getLogger("bmtk").setLevel(logging.ERROR)
from build_network import build_network
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
n, seed, rule, compression, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
start, start_cpu = time.perf_counter(), cpu()
info = build_network(out, n_cells=n, seed=seed, rule=rule, compression=compression, progress=False)
print(json.dumps({"wall_s": time.perf_counter() - start, "cpu_s": cpu() - start_cpu,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "baseline_mb": baseline, "column_radius_um": info.get("column_radius_um")}))
"""


def count_edges(network_dir: Path) -> dict[str, int]:
    """Edges of a built network: ``V1_V1_edges``, ``LGN_V1_edges`` and their sum ``edges`` (one per SONATA row)."""
    counts = {}
    for name in ("V1_V1", "LGN_V1"):
        with h5py.File(Path(network_dir) / f"{name}_edges.h5", "r") as h5:
            counts[f"{name}_edges"] = int(next(iter(h5["edges"].values()))["source_node_id"].shape[0])
    counts["edges"] = counts["V1_V1_edges"] + counts["LGN_V1_edges"]
    return counts


def measure_build(n_cells: int, seed: int, out_dir: Path, rule: str = "fast", compression: str = "gzip") -> dict:
    """Build the V1 model of ``n_cells`` cells into ``out_dir`` in a fresh process and measure the build.

    The column keeps the density of ``build_network/column.json`` and grows in radius with ``n_cells``
    (``params.Column.radius_um``); the LGN keeps its size.

    Parameters
    ----------
    n_cells : int
        V1 cells.
    seed : int
        Master seed of the build.
    out_dir : Path
        Network folder to write; must not hold files (nothing is replaced).
    rule : {'fast', 'reference'}
        Connection rules (see ``build_network``).
    compression : {'gzip', 'none'}
        HDF5 compression of the files (see ``build_network``).

    Returns
    -------
    dict
        ``n_cells``, ``rule``, ``wall_s`` (s, the ``build_network`` call: build + save, imports excluded),
        ``cpu_s`` (s, user + system time of that call: less disturbed by other jobs), ``peak_mb`` (peak resident
        memory of the child, MB = 2**20 bytes), ``baseline_mb`` (its resident memory after the imports, before
        building), ``column_radius_um`` and the edge counts of :func:`count_edges`.

    Raises
    ------
    RuntimeError
        If the build fails (its exit code and the end of its stderr; -9 is usually the out-of-memory killer).
    """
    result = subprocess.run([sys.executable, "-c", CHILD, str(n_cells), str(seed), rule, compression, str(out_dir)],
                            cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"build of {n_cells} cells exited with code {result.returncode}: "
                           f"{result.stderr[-3000:]}")
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    return {"n_cells": n_cells, "rule": rule, "compression": compression, **stats, **count_edges(out_dir)}


def make_spikes(network_dir: Path, out: Path, tstop_ms: float, dt_ms: float) -> Path:
    """Write LGN spikes for ``network_dir`` with ``python -m inputs spikes`` (config.json's genotype, stimulus, seed).

    Parameters
    ----------
    network_dir : Path
        A built network (its LGN node ids are used).
    out : Path
        The SONATA spikes file to write.
    tstop_ms : float
        Spikes are drawn over (0, tstop_ms] (ms); a file serves every run up to that length.
    dt_ms : float
        Time step (ms) the spike times are rounded to (NEST needs them on its grid).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    RuntimeError
        If ``python -m inputs spikes`` fails.
    """
    result = subprocess.run([sys.executable, "-m", "inputs", "spikes", "--network", str(network_dir),
                             "--tstop", repr(float(tstop_ms)), "--dt", repr(float(dt_ms)), "--out", str(out)],
                            cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"python -m inputs spikes exited with code {result.returncode}: {result.stderr[-2000:]}")
    return Path(out)


def lgn_size(network_dir: Path) -> int:
    """Number of LGN nodes of a built network."""
    with h5py.File(Path(network_dir) / "LGN_nodes.h5", "r") as h5:
        return int(h5["nodes/LGN/node_id"].shape[0])
