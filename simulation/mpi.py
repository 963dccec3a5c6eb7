"""Knowing whether the runner was started by an MPI launcher, and refusing to run K copies of the whole model.

``mpirun -n K python run_pointnet.py config.json`` (or ``mpiexec``, or ``srun -n K``) starts K processes. With a NEST
built with MPI they share the network: :func:`nest.NumProcesses` is K and each process simulates its part. With a
NEST built without MPI (the PyPI wheel, conda-forge's package) each process is a complete, independent run that
writes the same output files as the others. The launcher tells its processes how many they are through
environment variables; :func:`mpi_world_size_from_env` reads them and :func:`check_mpi` compares the result with
NEST's count. Neither imports NEST or mpi4py, so both are testable anywhere.

Variables read (where the issue was silent, the rule is: a size variable gives the size; a rank variable r > 0
shows that there are at least r + 1 processes):

- Open MPI (``mpirun``/``mpiexec``): ``OMPI_COMM_WORLD_SIZE``, ``OMPI_COMM_WORLD_RANK``;
- MPICH, Intel MPI and other Hydra/PMI launchers: ``PMI_SIZE``, ``PMI_RANK``, ``MPI_LOCALNRANKS`` (processes on
  this node), ``MPI_LOCALRANKID``;
- MVAPICH2: ``MV2_COMM_WORLD_SIZE``, ``MV2_COMM_WORLD_RANK``;
- PMIx (``srun --mpi=pmix``, Open MPI 5): ``PMIX_RANK``;
- SLURM job steps (``srun -n K``): ``SLURM_STEP_NUM_TASKS`` (or ``SLURM_NTASKS``) and ``SLURM_PROCID``, only when
  ``SLURM_STEP_ID`` names a regular step. A batch script runs in SLURM's batch step and sees the job's
  ``SLURM_NTASKS`` without a step of its own: ``sbatch -n 4`` running ``python run_pointnet.py`` is one process.
"""

from __future__ import annotations

from collections.abc import Mapping

from .config import ConfigError

SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")
RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK", "PMIX_RANK", "MPI_LOCALRANKID")
SLURM_SIZE_VARIABLES = ("SLURM_STEP_NUM_TASKS", "SLURM_NTASKS")
SLURM_RANK_VARIABLES = ("SLURM_PROCID",)
SLURM_STEP_VARIABLES = ("SLURM_STEP_ID", "SLURM_STEPID")
# SLURM numbers its special steps from 0xFFFFFFF0 up (batch 0xFFFFFFFB, extern 0xFFFFFFFC, interactive 0xFFFFFFFA).
SLURM_FIRST_SPECIAL_STEP = 0xFFFFFFF0
# What a fresh serial child process (simulation.parallel.run_command) must not inherit from an MPI-launched parent.
LAUNCHER_PREFIXES = ("OMPI_COMM_WORLD_", "PMI_", "PMIX_", "MV2_COMM_WORLD_", "MPI_LOCALNRANKS", "MPI_LOCALRANKID",
                     "SLURM_STEP_", "SLURM_STEPID", "SLURM_PROCID", "SLURM_LOCALID")
ENVIRONMENT_FILE = "environment-mpi.yml"


def _count(env: Mapping[str, str], name: str) -> int | None:
    """The non-negative integer in ``env[name]``, or None when absent or not such an integer."""
    value = str(env.get(name, "")).strip()
    return int(value) if value.isdigit() else None


def in_slurm_step(env: Mapping[str, str]) -> bool:
    """True inside a regular SLURM job step (started by ``srun``), False in a batch script or outside SLURM."""
    step = next((_count(env, name) for name in SLURM_STEP_VARIABLES if _count(env, name) is not None), None)
    return step is not None and step < SLURM_FIRST_SPECIAL_STEP


def mpi_launch_variables(env: Mapping[str, str]) -> dict[str, int]:
    """The launcher variables of ``env`` that show more than one process, each with the process count it implies.

    Parameters
    ----------
    env : mapping of str to str
        Environment variables (``os.environ``).

    Returns
    -------
    dict of str to int
        ``"NAME=value"`` -> number of processes (>= 2) it implies; empty for a single process.
    """
    found = {}
    sizes, ranks = SIZE_VARIABLES, RANK_VARIABLES
    if in_slurm_step(env):
        step_size = next((name for name in SLURM_SIZE_VARIABLES if _count(env, name) is not None), None)
        sizes = (*sizes, step_size) if step_size else sizes
        ranks = (*ranks, *SLURM_RANK_VARIABLES)
    for name in sizes:
        size = _count(env, name)
        if size is not None and size > 1:
            found[f"{name}={size}"] = size
    for name in ranks:
        rank = _count(env, name)
        if rank is not None and rank > 0:
            found[f"{name}={rank}"] = rank + 1
    return found


def mpi_world_size_from_env(env: Mapping[str, str]) -> int:
    """The number of processes the MPI launcher started, as far as ``env`` tells (1 when not launched by one).

    Parameters
    ----------
    env : mapping of str to str
        Environment variables (``os.environ``); malformed values are ignored.

    Returns
    -------
    int
        At least 1: the largest count implied by the launcher variables (see the module docstring).
    """
    return max(mpi_launch_variables(env).values(), default=1)


def check_mpi(world_size: int, nest_processes: int, evidence: str = "", bmtk_processes: int | None = None,
              config: str = "CONFIG") -> None:
    """Stop before anything is written when the processes started by an MPI launcher would not share the network.

    Parameters
    ----------
    world_size : int
        Processes started by the launcher (:func:`mpi_world_size_from_env`).
    nest_processes : int
        MPI processes NEST reports (``nest.NumProcesses()``; 1 for a NEST built without MPI).
    evidence : str
        The launcher variables that gave ``world_size``, for the message (e.g. ``"OMPI_COMM_WORLD_SIZE=2"``).
    bmtk_processes : int, optional
        MPI processes bmtk's file writers see (``bmtk.utils.io.bmtk_world_comm.MPI_size``, through mpi4py); checked
        only when NEST runs on more than one process.
    config : str
        The configuration file, for the commands in the message.

    Raises
    ------
    ConfigError
        If ``world_size`` > 1 but NEST runs on one process (each copy would run the whole model and write the same
        files), or if NEST runs on several processes but bmtk sees another number (mpi4py missing or built for
        another MPI: every rank would write the spikes file as rank 0).
    """
    where = f" ({evidence})" if evidence else ""
    if world_size > 1 and nest_processes == 1:
        raise ConfigError(
            f"this is one of {world_size} processes started by an MPI launcher (mpirun, mpiexec or srun){where}, "
            "but this NEST was built without MPI (nest.NumProcesses() is 1, nest.build_info['have_mpi'] is False): "
            f"each of the {world_size} processes would run the whole model on its own and write the same output "
            f"files, so nothing was started. Either run it as one process (python run_pointnet.py {config}, using "
            "run.n_thread threads on one machine), or install NEST with MPI: conda env create -f "
            f"{ENVIRONMENT_FILE} && conda activate v1-pointnet-mpi, then mpirun -n {world_size} python "
            f"run_pointnet.py {config}.")
    if nest_processes > 1 and bmtk_processes is not None and bmtk_processes != nest_processes:
        raise ConfigError(
            f"NEST runs on {nest_processes} MPI processes but bmtk's file writers see {bmtk_processes} (bmtk counts "
            "ranks through mpi4py, which is missing or built for another MPI library): every process would write "
            "the spikes file as rank 0, so nothing was started. Install mpi4py built against the MPI library NEST "
            f"uses (conda env create -f {ENVIRONMENT_FILE} provides both).")


def serial_environment(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` without the MPI launcher variables, for a fresh process that must run on its own.

    A Dask worker started by ``mpirun`` or ``srun -n K`` passes its launcher variables to the simulations it starts
    (:func:`simulation.parallel.run_command`); without this each of them would take itself for one of K processes.

    Parameters
    ----------
    env : mapping of str to str
        Environment variables (``os.environ``).

    Returns
    -------
    dict of str to str
    """
    return {name: value for name, value in env.items() if not name.startswith(LAUNCHER_PREFIXES)}
