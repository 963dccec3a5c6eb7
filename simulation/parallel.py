"""Running independent tasks in parallel on Dask: a local cluster of processes, or an existing scheduler.

Used by the perturbation suite and the circuits' sweeps. Each task is a module-level function returning a record
dict with at least ``name``, ``returncode`` and ``log``; NEST holds global state, so tasks run their simulations in
fresh processes (see :func:`run_command`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from common.paths import REPO

from .mpi import serial_environment


def run_command(name: str, argv: list[str], log: str) -> dict:
    """Run ``python argv...`` in a fresh process from the repository; its output goes to ``log``.

    The process runs on its own: MPI launcher variables of this one (a Dask worker started by ``mpirun`` or
    ``srun -n K``) are not passed on (:func:`simulation.mpi.serial_environment`).

    Parameters
    ----------
    name : str
        The task's name, returned in the record.
    argv : list of str
        Arguments to the Python interpreter (a script or ``-m module`` and its options).
    log : str
        File that receives the process's standard output and error.

    Returns
    -------
    dict
        ``name``, ``returncode``, ``wall_s`` and ``log``.
    """
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=REPO,
                            env=serial_environment(os.environ))
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(result.stdout + result.stderr)
    return {"name": name, "returncode": result.returncode, "wall_s": time.perf_counter() - start, "log": str(log)}


@contextmanager
def dask_client(workers: int = 1, scheduler: str | None = None) -> Iterator:
    """A Dask client: of a local cluster of ``workers`` single-threaded processes, or of ``scheduler``.

    Parameters
    ----------
    workers : int
        Processes of the local cluster (ignored with ``scheduler``).
    scheduler : str, optional
        Address of an existing Dask scheduler (e.g. ``tcp://10.0.0.5:8786``); connecting gives up after 10 s.

    Yields
    ------
    dask.distributed.Client
    """
    from dask.distributed import Client, LocalCluster

    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        cluster, client = None, Client(scheduler, timeout="10s")
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_parallel(tasks: dict[str, tuple[Callable, tuple]], workers: int = 1, scheduler: str | None = None,
                 desc: str = "runs") -> list[dict]:
    """Run ``fn(*args)`` for every task on Dask, with a progress bar; return their records.

    Tasks start in the order given (Dask priorities): put the longest first, so that with several workers the
    last one to finish is not a long task started late.

    Parameters
    ----------
    tasks : dict of str to (callable, tuple)
        Task name -> function and arguments, in the order they should start.
    workers : int
        Processes of the local Dask cluster (ignored with ``scheduler``).
    scheduler : str, optional
        Address of an existing Dask scheduler (e.g. ``tcp://10.0.0.5:8786``).
    desc : str
        Progress bar label.

    Raises
    ------
    RuntimeError
        If a task's record has a non-zero ``returncode`` (its log is named); the other tasks still complete.
    """
    from dask.distributed import as_completed

    if not tasks:
        return []
    records = []
    with dask_client(workers, scheduler) as client:
        futures = [client.submit(fn, *args, key=f"{desc}-{name}", pure=False, priority=len(tasks) - i)
                   for i, (name, (fn, args)) in enumerate(tasks.items())]
        with tqdm(total=len(futures), desc=desc, unit="run") as bar:
            for future in as_completed(futures):
                record = future.result()
                records.append(record)
                bar.set_postfix_str(f"{record['name']} {record.get('wall_s', 0):.0f} s")
                bar.update(1)
    failed = [r for r in records if r["returncode"] != 0]
    if failed:
        raise RuntimeError("run(s) failed: " + "; ".join(f"{r['name']} (see {r['log']})" for r in failed))
    return records
