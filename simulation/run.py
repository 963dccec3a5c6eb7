"""Running a PointNet configuration on NEST: missing defaults built, progress shown, results replaced when complete.

bmtk empties the output folder it is given when a run starts. :func:`simulate` therefore gives it a fresh, hidden
staging folder inside the configured output folder (``<output_dir>/.staging-<host>-<pid>-<random>``); the output
folder itself is created if missing and never emptied. Only when the run has completed are the files bmtk wrote
(spikes, log, its copy of the configuration, reports) and ``rates_summary.csv`` moved into the output folder, each
with :func:`os.replace`, replacing the files of the same name of the previous run; everything else there (reports,
figures, perturbation suites, other conditions' folders) is left alone. A killed run leaves the previous results
untouched and its staging folder behind; the next run into the same folder removes the staging folders of processes
of this host that no longer exist (:func:`remove_stale_staging`).

Under MPI (``mpirun -n K python run_pointnet.py config.json`` with a NEST built with MPI) every rank runs
:func:`simulate` with the same staging folder (its name is broadcast from rank 0); bmtk writes the spikes (gathered
to rank 0) and the reports itself, and only rank 0 cleans up stale staging folders, moves the results into place,
points bmtk's copy of the configuration at them and writes the summary, after every rank has finished. Missing inputs
are not built under MPI (K ranks would build them at once).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import nest
import numpy as np
from bmtk.simulator import pointnet
from tqdm import tqdm

from build_network import ModelSpec, build_network
from build_network.build import BACKGROUND_FILES, NETWORK_FILES, is_project_network
from common.errors import explain
from common.locks import FolderBusyError, FolderLock, folder_lock
from common.sonata import conform_spikes
from inputs.make import make_background_spikes, make_lgn_spikes

from .clamp import use_ie_clamps
from .config import (
    PRECISE_MODELS,
    SPIKE_MODULES,
    ConfigError,
    check_files,
    check_inputs,
    check_sections,
    input_files,
    network_files,
    prepare,
    read_json,
    spike_timing,
)
from .models import check_cell_models
from .mpi import check_mpi, mpi_launch_variables, mpi_world_size_from_env
from .sonata_check import check_network, check_spike_inputs

PROGRESS_STEPS = 50
STAGING_PREFIX = ".staging-"
STAGING_PATTERN = re.compile(rf"^{re.escape(STAGING_PREFIX)}(?P<host>.+)-(?P<pid>[0-9]+)-(?P<token>[0-9a-f]+)$")


class ProgressSimulator(pointnet.PointSimulator):
    """bmtk's PointSimulator, advancing NEST in chunks with a progress bar (simulated ms, wall time, ETA).

    Its current clamps are :class:`~simulation.clamp.IeClampMod`: NEST is advanced to each scheduled change and
    the clamp amplitude is added to (or removed from) the cells' ``I_e``.
    """

    @classmethod
    def from_config(cls, configure, graph, n_thread=None):
        simulator = super().from_config(configure, graph, n_thread)
        use_ie_clamps(simulator)
        return simulator

    def run(self, tstop: float | None = None) -> None:
        tstop = self._tstop if tstop is None else tstop
        for mod in self._mods:
            mod.initialize(self)
        steps = round(tstop / self.dt)
        changes: dict[int, list] = {}
        for mod in self._mods:
            for time_ms, cells, delta in getattr(mod, "schedule", []):
                changes.setdefault(round(time_ms / self.dt), []).append((cells, delta))
        chunk = max(1, steps // PROGRESS_STEPS)
        stops = sorted({*range(chunk, steps, chunk), *(s for s in changes if 0 < s < steps), steps})
        with tqdm(total=round(tstop, 6), unit="ms", desc="NEST", unit_scale=False, disable=_rank() != 0,
                  bar_format="{desc}: {n:.0f}/{total:.0f} ms simulated [{elapsed} elapsed, ETA {remaining}]") as bar, \
                nest.RunManager():
            done = 0
            for stop in stops:
                for cells, delta in changes.get(done, []):
                    _add_current(cells, delta)
                nest.Run((stop - done) * self.dt)
                bar.update((stop - done) * self.dt)
                done = stop
        for mod in self._mods:
            mod.finalize(self)


def _add_current(nest_ids: np.ndarray, delta_pa: float) -> None:
    """Add ``delta_pa`` to the constant input current ``I_e`` (pA) of the given NEST nodes held by this process.

    Under MPI each rank holds only its share of the nodes (the others are proxies without parameters), so each rank
    changes its own; on one process every node is local.
    """
    cells = nest.NodeCollection(np.unique(nest_ids).tolist())
    local = cells.local
    mask = [local] if isinstance(local, bool) else list(local)
    if not all(mask):
        cells = cells[mask]
    if len(cells) == 0:
        return
    cells.set(I_e=(np.asarray(cells.get("I_e"), dtype=float).reshape(-1) + delta_pa).tolist())


def _rank() -> int:
    """This process's MPI rank in NEST (0 without MPI)."""
    return nest.Rank()


def _barrier() -> None:
    """Wait until every MPI process of NEST has come here."""
    nest.SyncProcesses()


def check_launch(env: Mapping[str, str] | None = None, config: str = "CONFIG") -> int:
    """Stop when started by an MPI launcher that this NEST cannot join; return the number of NEST processes.

    Reads only the environment and NEST's kernel status, so it runs before anything is read or written.

    Parameters
    ----------
    env : mapping of str to str, optional
        Environment variables (default ``os.environ``).
    config : str
        The configuration file, for the commands in the message.

    Returns
    -------
    int
        ``nest.NumProcesses()``: 1 without MPI.

    Raises
    ------
    ConfigError
        See :func:`simulation.mpi.check_mpi`.
    """
    env = os.environ if env is None else env
    processes = nest.NumProcesses()
    bmtk_processes = None
    if processes > 1:
        from bmtk.utils.io import bmtk_world_comm

        bmtk_processes = bmtk_world_comm.MPI_size
    check_mpi(mpi_world_size_from_env(env), processes, evidence=", ".join(mpi_launch_variables(env)),
              bmtk_processes=bmtk_processes, config=config)
    return processes


_TIMING = {"mode": "grid"}


def _create_cells(node, model_name: str, params: dict):
    """bmtk's cell creation for ``nest:`` models, in the spike-timing mode of the run being loaded."""
    if _TIMING["mode"] == "precise":
        model_name = PRECISE_MODELS.get(model_name, model_name)
    return nest.Create(model_name, node.n_nodes, params)


def use_spike_timing(mode: str) -> None:
    """Create the cells of the next network bmtk loads as named (``grid``) or as their precise twins (``precise``,
    :data:`simulation.config.PRECISE_MODELS`)."""
    from bmtk.simulator.pointnet.pyfunction_cache import add_cell_model

    _TIMING["mode"] = mode
    for model in PRECISE_MODELS:
        for model_type in ("point_process", "point_neuron"):  # bmtk looks the pair up exactly
            add_cell_model(_create_cells, f"nest:{model}", model_type, overwrite=True)


def load_config(path: Path, build_missing: bool = True, staging: str | None = None) -> pointnet.Config:
    """Read, complete and check ``path``; return the configuration bmtk runs.

    Parameters
    ----------
    path : Path
        The PointNet configuration (JSON).
    build_missing : bool
        Build a missing network or LGN spikes file with the project defaults (and say so); otherwise a missing
        file is an error naming the command that makes it.
    staging : str, optional
        Name of the private folder inside the configured output folder that bmtk is to write into
        (:func:`simulation.config.stage_output`); by default bmtk writes into the output folder itself.

    Raises
    ------
    ConfigError
        If the configuration cannot be run; nothing has been started.
    """
    path = Path(path)
    read_json(path)
    try:
        config = pointnet.Config.from_json(str(path))
    except Exception as err:  # bmtk raises bare Exceptions for bad manifests
        raise ConfigError(f"{path}: bmtk cannot read it: {err}") from err
    check_sections(config, path)
    _make_missing(config, path, build_missing)
    check_files(config, path)
    sizes, cell_models = check_network(config, path)  # every file read in full before bmtk or NEST reads it
    check_spike_inputs(config, path, sizes, SPIKE_MODULES)
    check_inputs(config, path)  # spike times on the dt grid, current clamps after dt
    check_cell_models(cell_models, spike_timing(config, path), path)
    use_spike_timing(spike_timing(config, path))
    return pointnet.Config.from_dict(prepare(config, staging))


#: Input files the runner makes when missing: file-name prefix, ``python -m inputs`` subcommand, what it is, and the
#: section of the project's configurations that holds its defaults (a configuration without it is not the project's).
MISSING_INPUTS = (("bkg_spikes", "background", "the background spikes", "background_input"),
                  ("lgn_spikes", "spikes", "the LGN spikes", "lgn_input"))


def _make_missing(config: dict, path: Path, build: bool) -> None:
    """Build a missing network folder or input spikes file of the project with its defaults, or name the command
    that makes it; for anything else, name the missing file and its key and build nothing.

    A network is the project's when every file the configuration names in its folder has a name the project's
    builder writes (``build_network.build.NETWORK_FILES``, with ``BACKGROUND_FILES`` for the background model); it
    is built (or its command named) only into a folder that is absent or empty. A folder that holds an incomplete
    network of the builder (``build_info.json``) gets the command that rebuilds it (``--force``). An input spikes
    file is the project's when its name has a prefix of :data:`MISSING_INPUTS`, the configuration has the section
    of its defaults and the network is the project's. No advice ever writes into another network or input.

    Raises
    ------
    ConfigError
        Naming the file and the key, and for the project's own files the command that makes them.
    """
    named: dict[Path, set[str]] = {}
    missing = {}
    for key, file in network_files(config):
        named.setdefault(file.parent, set()).add(file.name)
        if not file.is_file():
            missing.setdefault(file.parent, (key, file))
    model = "background" if any("BKG_nodes" in str(e.get("nodes_file", "")) for e in config["networks"]["nodes"]) \
        else "seed"
    ours = set(NETWORK_FILES + (BACKGROUND_FILES if model == "background" else ()))
    for folder, (key, file) in sorted(missing.items()):
        command = f"python -m build_network --model {model} --out {folder}"
        empty = not folder.exists() or (folder.is_dir() and not any(folder.iterdir()))
        if not named[folder] <= ours or not (empty or (folder / "build_info.json").is_file()):
            raise ConfigError(
                f"{path}: {key} names {file}, which does not exist. {folder} is not an empty folder for a network of "
                "this project's builder (python -m build_network writes "
                f"{', '.join(sorted(ours))}), so nothing is built or replaced there: restore the file, or point {key} "
                "at the network's file.")
        if not build or not empty:
            raise ConfigError(f"{path}: {key} names {file}, which does not exist; make the network with: {command}"
                              + ("" if empty else f" --force (replaces the incomplete network in {folder})"))
        print(f"{folder} has no network: building the default network ({command}) ...", flush=True)
        build_network(folder, spec=ModelSpec.for_model(model))
    nodes = [Path(e["nodes_file"]) for e in config["networks"]["nodes"]]
    project_network = bool(nodes) and is_project_network(nodes[0])
    for key, file in input_files(config):
        if file.is_file():
            continue
        made = next(((command, what) for prefix, command, what, section in MISSING_INPUTS
                     if file.name.startswith(prefix) and file.suffix == ".h5"
                     and isinstance(config.get(section), dict)), None)
        if made is None or not project_network:
            raise ConfigError(
                f"{path}: {key} names {file}, which does not exist. The runner makes only the project's own spike "
                "inputs (lgn_spikes*.h5 of a configuration with lgn_input, bkg_spikes*.h5 with background_input, on "
                "a network of python -m build_network), so it makes nothing here: restore the file, or point "
                f"{key} at it.")
        argv = [made[0], "--config", str(path), "--network", str(nodes[0].parent), "--out", str(file)]
        command = "python -m inputs " + " ".join(argv)
        if not build:
            raise ConfigError(f"{path}: {key} names {file}, which does not exist; make it with: {command}")
        print(f"{file} is missing: making {made[1]} with the defaults of {path} ({command}) ...", flush=True)
        maker = make_lgn_spikes if made[0] == "spikes" else make_background_spikes
        print(maker(path, nodes[0].parent, file), flush=True)


def staging_name(processes: int = 1) -> str:
    """A fresh staging folder name, ``.staging-<host>-<pid>-<random hex>``, the same on every MPI rank.

    Parameters
    ----------
    processes : int
        NEST's number of MPI processes: above 1, rank 0's name is broadcast through bmtk's MPI communicator.
    """
    name = f"{STAGING_PREFIX}{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
    if processes > 1:
        from bmtk.utils.io import bmtk_world_comm

        comm = bmtk_world_comm.comm
        if comm is not None and comm.Get_size() > 1:
            name = comm.bcast(name, root=0)
    return name


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (when unsure: yes)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_staging(output_dir: Path) -> list[Path]:
    """Remove the staging folders that killed runs left in ``output_dir``; return them.

    A staging folder is stale when it was made on this host by a process that no longer exists. Folders of live
    processes, of other hosts (their processes cannot be checked from here) and anything not named like a staging
    folder are kept.

    Parameters
    ----------
    output_dir : Path
        A run's output folder (need not exist).
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    host = socket.gethostname()
    removed = []
    for entry in sorted(output_dir.iterdir()):
        match = STAGING_PATTERN.match(entry.name)
        if (match is None or entry.is_symlink() or not entry.is_dir() or match["host"] != host
                or _alive(int(match["pid"]))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
        print(f"removed {entry}, left by an interrupted run (process {match['pid']} no longer exists)", flush=True)
    return removed


def _close_logs(folder: Path, logger: logging.Logger) -> None:
    """Close the log files inside ``folder`` that ``logger`` (bmtk's) keeps open, so that they can be moved."""
    inside = os.path.abspath(folder) + os.sep
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler) and os.path.abspath(handler.baseFilename).startswith(inside):
            logger.removeHandler(handler)
            handler.close()


def _record_output(copy: Path, staging: Path, output_dir: Path) -> None:
    """Point the ``output`` section of the configuration bmtk copied into ``staging`` at ``output_dir``."""
    if copy.is_file():
        saved = json.loads(copy.read_text())
        output = saved.setdefault("output", {})
        prefix = os.path.abspath(staging)
        for key, value in output.items():
            if isinstance(value, str) and (value == prefix or value.startswith(prefix + os.sep)):
                output[key] = str(output_dir) + value[len(prefix):]
        tmp = copy.with_name(f".{copy.name}.tmp")
        tmp.write_text(json.dumps(saved, indent=2))
        os.replace(tmp, copy)


def _publish(staging: Path, output_dir: Path, spikes: Path, final: Path) -> None:
    """Move every file of ``staging`` into ``output_dir`` (same relative path; ``spikes`` to ``final``), then remove
    ``staging``.

    Each move is an :func:`os.replace`: a file of the same name from an earlier run is replaced at once, never
    emptied first; files of ``output_dir`` that this run did not write are kept. The spikes move last (the
    perturbation suite takes a folder with its spikes file for a finished run). Spikes written outside ``staging``
    (``output.spikes_file`` an absolute path elsewhere) are renamed in their own folder.
    """
    files = [f for f in sorted(staging.rglob("*")) if f.is_file() or f.is_symlink()]
    for file in sorted(files, key=lambda f: f == spikes):
        target = final if file == spikes else output_dir / file.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(file, target)
    if spikes not in files:
        os.replace(spikes, final)
    shutil.rmtree(staging)


def _record_spikes_file(copy: Path, final: Path) -> None:
    """Point the configuration bmtk copied (into the staging folder) at the completed spikes file ``final``."""
    if copy.is_file():
        saved = json.loads(copy.read_text())
        saved.setdefault("output", {})["spikes_file"] = str(final)
        tmp = copy.with_name(f".{copy.name}.tmp")
        tmp.write_text(json.dumps(saved, indent=2))
        os.replace(tmp, copy)


def kernel_timers(status: Mapping) -> dict:
    """The ``time_*`` entries of NEST's kernel status as plain JSON values (s).

    NEST reports a timer measured by one thread as a number and a per-thread timer (``time_update``,
    ``time_deliver_spike_data``, ... in a NEST built with ``-Dwith-detailed-timers=ON``) as one number per thread;
    the ``_cpu`` twins are CPU times. The simulation timers cover the last ``Prepare`` .. ``Cleanup`` (one
    :class:`nest.RunManager`, i.e. the whole run of :class:`ProgressSimulator`).

    Parameters
    ----------
    status : mapping
        ``nest.GetKernelStatus()``.

    Returns
    -------
    dict
        Timer name -> float, or list of float (one per thread), in name order.

    Examples
    --------
    >>> kernel_timers({"time_simulate": 2.0, "time_update": (1.0, 1.5), "resolution": 0.1})
    {'time_simulate': 2.0, 'time_update': [1.0, 1.5]}
    """
    timers = {}
    for name in sorted(status):
        if name.startswith("time_"):
            value = status[name]
            timers[name] = float(value) if np.ndim(value) == 0 else [float(v) for v in np.ravel(value)]
    return timers


def _write_kernel_timers(file: Path, processes: int) -> None:
    """Ask NEST for its kernel timers on every rank (collective under MPI); rank 0 writes them to ``file`` (JSON)."""
    status = nest.GetKernelStatus()
    if _rank() != 0:
        return
    record = {"rank": 0, "processes": processes, "local_num_threads": status.get("local_num_threads"),
              "timers": kernel_timers(status)}
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, file)


def lock_output(output_dir: Path, processes: int = 1) -> FolderLock | None:
    """Take the lock of a run's output folder (:func:`common.locks.folder_lock`); return it (None on ranks > 0).

    The lock file is ``<parent>/.<name>.lock`` beside ``output_dir`` (inside it, as ``.lock``, when the parent is
    read-only). Under MPI only rank 0 takes it and tells the other ranks whether it could: when another process holds
    it, every rank raises the same error, so that none waits for the others in a collective call.

    Parameters
    ----------
    output_dir : Path
        The run's output folder.
    processes : int
        NEST's number of MPI processes.

    Raises
    ------
    common.locks.FolderBusyError
        If another run into ``output_dir`` is under way; the message names it. Nothing has been written.
    """
    lock, refusal, error = None, None, None
    if _rank() == 0:
        try:
            lock = folder_lock(output_dir, "a run", inside_ok=True).acquire()
        except Exception as err:  # noqa: BLE001 - told to the other ranks, then raised here
            error, refusal = err, explain(err) or f"{output_dir}: cannot take its lock: {err!r}"
    if processes > 1:
        from bmtk.utils.io import bmtk_world_comm

        comm = bmtk_world_comm.comm
        if comm is not None and comm.Get_size() > 1:
            refusal = comm.bcast(refusal, root=0)
    if error is not None:
        raise error
    if refusal is not None:
        raise FolderBusyError(refusal)
    return lock


def boundary_error(err: BaseException, path: Path) -> ConfigError | None:
    """A failure raised inside NEST (``nest.NESTError``) or bmtk (its bare ``Exception``) as a :class:`ConfigError`
    naming the configuration and the simulator's own message; None for anything else (a bug keeps its traceback).

    Examples
    --------
    >>> str(boundary_error(Exception("node_type_id 7 not found"), Path("c.json")))[:54]
    'c.json: bmtk stopped the run: node_type_id 7 not found'
    >>> boundary_error(KeyError("a bug"), Path("c.json")) is None
    True
    """
    chain = [err]
    while chain[-1].__context__ is not None and len(chain) < 10:  # bmtk's handlers of NEST errors fail themselves
        chain.append(chain[-1].__context__)
    nest_errors = [e for e in chain if isinstance(e, nest.NESTError)]
    if nest_errors:
        who, err = "NEST", nest_errors[-1]
    elif type(err) is Exception:  # bmtk reports what it cannot use with a bare Exception
        who = "bmtk"
    else:
        return None
    message = " ".join(str(err).split())
    return ConfigError(f"{path}: {who} stopped the run: {message}. Check the network files and parameter files the "
                       "configuration names.")


def _load_and_run(config: pointnet.Config, processes: int, kernel_timers_file: Path | None) -> float:
    """Load the network into NEST, say so (rank 0), simulate; return the time the load ended (``perf_counter``)."""
    config.build_env()  # rank 0 makes the staging folder; the others wait for it
    start = time.perf_counter()
    network = pointnet.PointNetwork.from_config(config)
    sim = ProgressSimulator.from_config(config, network)
    loaded = time.perf_counter()
    # kernel queries are collective under MPI: every rank asks, only rank 0 prints (asked on rank 0 alone,
    # they hang a run of K > 1 processes after "Network created")
    n_connections, n_threads = nest.num_connections, nest.GetKernelStatus("local_num_threads")
    if _rank() == 0:
        layout = f"{processes} MPI processes x " if processes > 1 else ""
        where = " on rank 0" if processes > 1 else ""
        print(f"loaded the network into NEST in {loaded - start:.1f} s ({n_connections:,} connections{where}, "
              f"{layout}{n_threads} threads, dt {config.dt} ms)", flush=True)
    sim.run()
    if kernel_timers_file is not None:
        _write_kernel_timers(kernel_timers_file, processes)
    return loaded


def _complete(path: Path, config: pointnet.Config, summary: Callable[[dict, Path], object] | None, staging: Path,
              output_dir: Path, spikes: Path, final: Path) -> None:
    """Rank 0, after a completed run: point bmtk's copy of the configuration at the results, summarise, make the
    spikes SONATA every reader opens, and publish the staged files into ``output_dir``."""
    _record_output(staging / Path(path).name, staging, output_dir)
    _record_spikes_file(staging / Path(path).name, final)
    try:
        if summary is not None:
            summary(config, spikes)  # e.g. rates_summary.csv beside the staged spikes, moved with them
    finally:
        if spikes.is_file():  # the SONATA layout libsonata reads too: uncompressed, uint64 ids, enum sorting
            conform_spikes(spikes)
        _publish(staging, output_dir, spikes, final)  # the run is complete even if its summary failed


def simulate(path: Path, build_missing: bool = True, summary: Callable[[dict, Path], object] | None = None,
             kernel_timers_file: Path | None = None) -> Path:
    """Run the simulation of ``path`` on NEST through PointNet; return the spikes file.

    bmtk writes into a fresh hidden staging folder inside the configured output folder (the spikes as
    ``<name>.partial.h5``); only when the run completes are its files moved into the output folder under their
    configured names, replacing those of the previous run one by one. An interrupted run leaves the previous results
    as they were (and its staging folder, removed by the next run); files of the output folder that the run does not
    write (reports, figures, perturbation suites, ...) are never touched.

    Parameters
    ----------
    path : Path
        The PointNet configuration (JSON).
    build_missing : bool
        Build a missing network or LGN spikes file with the defaults (never under MPI: a missing file is then an
        error naming the command that makes it).
    summary : callable, optional
        ``summary(config, spikes_file)`` is called on rank 0 with the completed (still staged) spikes; what it writes
        beside them is moved into the output folder with them (``run_pointnet.py`` passes
        :func:`analysis.rates.print_summary`, which prints the per-population table and writes
        ``rates_summary.csv``). The runner layer itself knows nothing of the analysis.
    kernel_timers_file : Path, optional
        After the simulation, write NEST's kernel timers there (JSON, :func:`kernel_timers`; rank 0's under MPI).

    Returns
    -------
    Path
        The completed spikes file (``output.spikes_file``; a relative name is inside ``output.output_dir``).

    Raises
    ------
    ConfigError
        If the configuration cannot be run, or the process was started by an MPI launcher that this NEST cannot
        join (:func:`check_launch`); nothing has been written.
    common.locks.FolderBusyError
        If another run into the same output folder is under way (:func:`lock_output`); it is named, and nothing has
        been written.
    """
    processes = check_launch(config=str(path))
    rank = _rank()
    original = read_json(path).get("output", {}).get("spikes_file", "spikes.h5")
    config = load_config(path, build_missing and processes == 1, staging=staging_name(processes))
    staging = Path(config.output_dir)
    output_dir = staging.parent
    spikes = Path(config.output["spikes_file"])
    if spikes.is_relative_to(staging):
        final = output_dir / spikes.relative_to(staging).parent / Path(original).name
    else:
        final = spikes.with_name(Path(original).name)
    lock = lock_output(output_dir, processes)  # a second run into output_dir stops here, naming this one
    if rank == 0:
        remove_stale_staging(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
    try:
        loaded = _load_and_run(config, processes, kernel_timers_file)
    except BaseException as err:
        if rank == 0:
            print(f"the run did not complete: the results in {output_dir} are unchanged; what it wrote (its log) is "
                  f"in {staging}, removed by the next run", file=sys.stderr, flush=True)
        if lock is not None:
            lock.release()
        stopped = boundary_error(err, path)
        if stopped is not None:
            if rank == 0:  # the message says what went wrong: nothing of the run is kept
                _close_logs(staging, config.io.logger)
                shutil.rmtree(staging, ignore_errors=True)
            raise stopped from err
        raise
    _close_logs(staging, config.io.logger)
    if processes > 1:
        _barrier()  # every rank's share of the spikes and reports is written
    try:
        if rank == 0:
            print(f"simulated {config.tstop:g} ms in {time.perf_counter() - loaded:.1f} s; spikes: {final}",
                  flush=True)
            _complete(path, config, summary, staging, output_dir, spikes, final)
    finally:
        if processes > 1:
            _barrier()  # no rank returns before the results are in place (nor waits for a failed rank 0)
        if lock is not None:
            lock.release()
    return final
