"""Running the suite's configurations in parallel with Dask, one fresh process per run, resumable.

Each run is ``python run_pointnet.py <config> --no-build`` in its own process (NEST holds global state), submitted
as a Dask task: to a ``LocalCluster`` of ``workers`` processes by default, or to an existing cluster given by its
scheduler address (e.g. a dask-jobqueue ``SLURMCluster``; see docs/cluster.md). A run is finished when its
``spikes.h5`` exists (the runner renames it into place only at the end) and the configuration saved beside it is
the one asked for; finished runs are skipped unless ``force``. A suite killed at any point (SIGKILL included) thus
keeps the runs it finished, and the same command run again does the rest; each run's own output folder is locked by
its runner (:func:`simulation.run.lock_output`), the suite's folder by ``python -m perturbations run``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from common.errors import UserError
from common.paths import REPO
from simulation.parallel import run_command, run_parallel


class SuiteError(UserError):
    """Runs of the suite failed: their logs are named; the runs that finished are kept."""


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place: never a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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
    write_atomic(threaded, json.dumps(config, indent=2))
    record = run_command(config_path.stem, [str(REPO / "run_pointnet.py"), str(threaded), "--no-build"],
                         str(out / "run.log"))
    if record["returncode"] == 0:
        write_atomic(out / "request.json", config_path.read_text())
    return record


def expected_cost(config_path: Path, cells: dict[str, int]) -> float:
    """A run's expected cost, to start the longest first: depolarizing current (pA) times the cells it reaches.

    A simulation's time goes mostly into delivering spikes, and a depolarizing clamp on a large population
    multiplies them (+230 pA on the 8,500 excitatory cells of the default network takes several times the baseline's
    time); hyperpolarizing clamps and the baseline cost about the same.

    Parameters
    ----------
    config_path : Path
        A suite configuration.
    cells : dict of str to int
        Cells per ``pop_name`` of the network.
    """
    inputs = json.loads(Path(config_path).read_text()).get("inputs", {})
    return sum(max(float(spec.get("amp", 0.0)), 0.0) * cells.get(spec.get("node_set", {}).get("pop_name"), 0)
               for spec in inputs.values() if isinstance(spec, dict) and spec.get("input_type") == "current_clamp")


def run_suite(configs: dict[str, Path], workers: int = 1, scheduler: str | None = None, force: bool = False,
              n_thread: int | None = None, cells: dict[str, int] | None = None) -> list[dict]:
    """Run every configuration not yet finished, in parallel on Dask, the most expensive first.

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
    cells : dict of str to int, optional
        Cells per ``pop_name``, for the start order (:func:`expected_cost`); without it, the order given.

    Returns
    -------
    list of dict
        One record per run started: name, returncode, wall_s, log.

    Raises
    ------
    SuiteError
        If a run failed (its log is named); the other runs still complete and are kept.
    """
    todo = {name: path for name, path in configs.items() if force or not is_finished(path)}
    if cells:
        todo = dict(sorted(todo.items(), key=lambda item: -expected_cost(item[1], cells)))
    for name in configs.keys() - todo.keys():
        print(f"{name}: finished earlier, skipped (--force reruns it)", flush=True)
    if scheduler is None:
        n_thread = n_thread or max(1, (os.cpu_count() or 1) // workers)
    else:
        n_thread = n_thread or 1
    try:
        return run_parallel({name: (run_one, (str(path), n_thread)) for name, path in todo.items()},
                            workers=workers, scheduler=scheduler)
    except RuntimeError as err:
        if not str(err).startswith("run(s) failed"):
            raise
        raise SuiteError(f"{err}; the runs that finished are kept: run the same command again to do the rest "
                         "(finished runs are skipped).") from None
