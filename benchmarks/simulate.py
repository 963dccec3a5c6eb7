"""Simulation benchmark: the 10,000-cell model on NEST through PointNet vs the same network in direct PyNEST.

    python benchmarks/simulate.py [--config config.json] [--tstop 3000] [--dt 0.01] [--threads 1 2]
                                  [--network DIR] [--spikes FILE]

Each measurement runs in a fresh process: load time (SONATA into NEST), simulation time and peak RSS, for
PointNet (``run_pointnet.py`` machinery) and for a direct PyNEST build of the same network (arrays into
``nest.Connect``), the floor. Targets (2 cores): the 10,000-cell model at dt 0.01 ms no slower than 5x real time
on 2 threads, PointNet within 1.2x of direct. :func:`measure_simulation` and :func:`write_config` are what
``python -m benchmarks`` (the full table) calls.
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

from common.paths import REPO

#: Label -> loader of :mod:`benchmarks.loaders` (each run as ``python -m benchmarks.loaders LOADER CONFIG``).
PATHS = {"PointNet": "pointnet", "direct PyNEST": "direct"}


def measure(loader: str, config: Path) -> dict:
    """Load and simulate ``config`` once in a fresh Python process with :mod:`benchmarks.loaders`.

    Parameters
    ----------
    loader : str
        ``pointnet`` or ``direct`` (:data:`benchmarks.loaders.LOADERS`).
    config : Path
        A PointNet configuration whose files all exist (nothing is built).

    Returns
    -------
    dict
        ``load_s`` (s, SONATA into NEST), ``sim_s`` (s, wall time of the simulation), ``connections`` (NEST
        connections) and ``peak_mb`` (peak resident memory of the child, MB = 2**20 bytes).

    Raises
    ------
    RuntimeError
        If the child fails (its exit code and the end of its stderr; exit code -9 is usually the kernel's
        out-of-memory killer).
    """
    result = subprocess.run([sys.executable, "-m", "benchmarks.loaders", loader, str(config)], capture_output=True,
                            text=True, cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(f"simulation child exited with code {result.returncode}: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_simulation(config: Path, path: str = "PointNet") -> dict:
    """:func:`measure` of ``config`` through ``path``: ``'PointNet'`` or ``'direct PyNEST'`` (the floor)."""
    if path not in PATHS:
        raise ValueError(f"path must be one of {sorted(PATHS)}, got {path!r}.")
    return measure(PATHS[path], config)


def write_config(base: Path, out: Path, tstop_ms: float, dt_ms: float, threads: int, output_dir: Path,
                 network_dir: Path | None = None, spikes_file: Path | None = None) -> Path:
    """Write a copy of the PointNet configuration ``base`` with another run section and, optionally, network.

    Parameters
    ----------
    base : Path
        The configuration to copy (its relative paths are resolved against its own folder).
    out : Path
        The configuration to write.
    tstop_ms, dt_ms : float
        Simulated time and time step (ms).
    threads : int
        NEST threads.
    output_dir : Path
        Where the run writes its spikes and log.
    network_dir : Path, optional
        A network folder to use instead of ``base``'s ``$NETWORK_DIR``.
    spikes_file : Path, optional
        An LGN spikes file (on the ``dt_ms`` grid) to use for every spikes input instead of ``base``'s.

    Returns
    -------
    Path
        ``out``.
    """
    config = json.loads(Path(base).read_text())
    base_dir = str(Path(base).resolve().parent)
    manifest = config["manifest"]
    for key, value in manifest.items():  # absolute paths: a copy elsewhere (e.g. by the perturbation suite,
        if isinstance(value, str):       # which resets $BASE_DIR to the copy's folder) still finds the files
            manifest[key] = value.replace("${configdir}", base_dir).replace("$BASE_DIR", base_dir)
    manifest["$OUTPUT_DIR"] = str(output_dir)
    if network_dir is not None:
        manifest["$NETWORK_DIR"] = str(Path(network_dir).resolve())
    if spikes_file is not None:
        for spec in config.get("inputs", {}).values():
            if spec.get("input_type") == "spikes":
                spec["input_file"] = str(Path(spikes_file).resolve())
    config["run"].update({"tstop": float(tstop_ms), "dt": float(dt_ms), "n_thread": int(threads)})
    Path(out).write_text(json.dumps(config, indent=2))
    return Path(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "config_seed.json")
    parser.add_argument("--tstop", type=float, default=3000.0)
    parser.add_argument("--dt", type=float, default=0.01)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--network", type=Path, help="network folder (default: the config's $NETWORK_DIR)")
    parser.add_argument("--spikes", type=Path, help="LGN spikes on the --dt grid (default: the config's)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; NEST threads as listed; "
          f"{args.tstop:g} ms at dt {args.dt:g} ms")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in args.threads:
            path = write_config(args.config, Path(tmp) / f"config_{threads}.json", args.tstop, args.dt, threads,
                                Path(tmp) / f"out_{threads}", args.network, args.spikes)
            for label in PATHS:
                rows.append((label, threads, measure_simulation(path, label)))
    print()
    print("| path | threads | connections | load (s) | simulate (s) | x real time | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, threads, r in rows:
        print(f"| {label} | {threads} | {r['connections']:,} | {r['load_s']:.1f} | {r['sim_s']:.1f} | "
              f"{r['sim_s'] / (args.tstop / 1000):.1f} | {r['peak_mb']:.0f} |")
    print()
    for threads in args.threads:
        pn = next(r for label, t, r in rows if label == "PointNet" and t == threads)
        direct = next(r for label, t, r in rows if label == "direct PyNEST" and t == threads)
        print(f"{threads} thread(s): PointNet / direct simulation time = {pn['sim_s'] / direct['sim_s']:.2f} "
              f"(target <= 1.2); PointNet {pn['sim_s'] / (args.tstop / 1000):.1f}x real time "
              f"(target <= 5x on 2 threads at dt 0.01 ms), peak {pn['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
