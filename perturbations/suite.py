"""Running the suite's configurations in parallel with Dask, one fresh process per run, resumable.

Each run is ``python run_pointnet.py <config> --no-build`` in its own process (NEST holds global state), submitted
as a Dask task: to a ``LocalCluster`` of ``workers`` processes by default, or to an existing cluster given by its
scheduler address (e.g. a dask-jobqueue ``SLURMCluster``; see the README). A run is finished when its
``spikes.h5`` exists (the runner renames it into place only at the end) and the configuration saved beside it is
the one asked for; finished runs are skipped unless ``force``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]


def output_dir(config_path: Path) -> Path:
    """The output folder a suite configuration writes to."""
    return Path(json.loads(Path(config_path).read_text())["manifest"]["$OUTPUT_DIR"])


def is_finished(config_path: Path) -> bool:
    """True if the run's spikes exist and were made by this very configuration."""
    out = output_dir(config_path)
    saved = out / "request.json"
    return (out / "spikes.h5").is_file() and saved.is_file() and saved.read_text() == Path(config_path).read_text()


def run_one(config_path: str, n_thread: int) -> dict:
    """Run one configuration in a fresh process; return its name, exit code and wall time (s).

    Runs inside a Dask worker: everything it needs is in its arguments.
    """
    config_path = Path(config_path)
    config = json.loads(config_path.read_text())
    config["run"]["n_thread"] = n_thread
    out = Path(config["manifest"]["$OUTPUT_DIR"])
    out.mkdir(parents=True, exist_ok=True)
    threaded = out / "run_config.json"
    threaded.write_text(json.dumps(config, indent=2))
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(REPO / "run_pointnet.py"), str(threaded), "--no-build"],
                            capture_output=True, text=True, cwd=REPO)
    (out / "run.log").write_text(result.stdout + result.stderr)
    if result.returncode == 0:
        (out / "request.json").write_text(config_path.read_text())
    return {"name": config_path.stem, "returncode": result.returncode, "wall_s": time.perf_counter() - start,
            "log": str(out / "run.log")}


def run_suite(configs: dict[str, Path], workers: int = 1, scheduler: str | None = None, force: bool = False,
              n_thread: int | None = None) -> list[dict]:
    """Run every configuration not yet finished, in parallel on Dask.

    Parameters
    ----------
    configs : dict of str to Path
        Run name -> configuration file.
    workers : int
        Processes of the local Dask cluster (ignored with ``scheduler``).
    scheduler : str, optional
        Address of an existing Dask scheduler (e.g. ``tcp://10.0.0.5:8786``).
    force : bool
        Rerun finished runs.
    n_thread : int, optional
        NEST threads per run (default: the machine's cores divided among the local workers; 1 on a cluster
        of unknown size).

    Returns
    -------
    list of dict
        One record per run started: name, returncode, wall_s, log.

    Raises
    ------
    RuntimeError
        If a run failed (its log is named); the other runs still complete and are kept.
    """
    from dask.distributed import Client, LocalCluster, as_completed

    todo = {name: path for name, path in configs.items() if force or not is_finished(path)}
    for name in configs.keys() - todo.keys():
        print(f"{name}: finished earlier, skipped (--force reruns it)", flush=True)
    if not todo:
        return []
    if scheduler is None:
        n_thread = n_thread or max(1, (os.cpu_count() or 1) // workers)
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        n_thread = n_thread or 1
        cluster, client = None, Client(scheduler, timeout="10s")
    records = []
    try:
        futures = [client.submit(run_one, str(path), n_thread, key=f"run-{name}", pure=False)
                   for name, path in todo.items()]
        with tqdm(total=len(futures), desc="runs", unit="run") as bar:
            for future in as_completed(futures):
                record = future.result()
                records.append(record)
                bar.set_postfix_str(f"{record['name']} {record['wall_s']:.0f} s")
                bar.update(1)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    failed = [r for r in records if r["returncode"] != 0]
    if failed:
        raise RuntimeError("run(s) failed: " + "; ".join(f"{r['name']} (see {r['log']})" for r in failed))
    return records
