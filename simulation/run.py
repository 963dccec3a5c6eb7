"""Running a PointNet configuration on NEST: missing defaults built, progress shown, spikes written atomically.

Under MPI (``mpirun -n K python run_pointnet.py config.json`` with a NEST built with MPI) every rank runs
:func:`simulate`; bmtk writes the spikes (gathered to rank 0) and the reports itself, and of this module's files
only rank 0 renames the spikes into place, points bmtk's copy of the configuration at them and writes the summary,
after every rank has finished. Missing inputs are not built under MPI (K ranks would build them at once).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

import nest
import numpy as np
from bmtk.simulator import pointnet
from tqdm import tqdm

from .clamp import use_ie_clamps
from .config import (
    ConfigError,
    check_contents,
    check_sections,
    input_files,
    network_files,
    partial_name,
    prepare,
    read_json,
)
from .mpi import check_mpi, mpi_launch_variables, mpi_world_size_from_env

REPO = Path(__file__).resolve().parents[1]
PROGRESS_STEPS = 50


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


def load_config(path: Path, build_missing: bool = True) -> pointnet.Config:
    """Read, complete and check ``path``; return the configuration bmtk runs.

    Parameters
    ----------
    path : Path
        The PointNet configuration (JSON).
    build_missing : bool
        Build a missing network or LGN spikes file with the project defaults (and say so); otherwise a missing
        file is an error naming the command that makes it.

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
    check_contents(config, path)
    return pointnet.Config.from_dict(prepare(config))


def _make_missing(config: dict, path: Path, build: bool) -> None:
    """Build a missing network folder or LGN spikes file with the defaults, or name the command that makes it."""
    missing = {}
    for key, file in network_files(config):
        if not file.is_file():
            missing.setdefault(file.parent, (key, file))
    for folder, (key, file) in sorted(missing.items()):
        command = f"python -m build_network --out {folder}"
        incomplete = folder.exists() and any(folder.iterdir())
        if not build or incomplete:
            raise ConfigError(f"{path}: {key} names {file}, which does not exist; make the network with: {command}"
                              + (" --force" if incomplete else ""))
        print(f"{folder} has no network: building the default network ({command}) ...", flush=True)
        from build_network import build_network

        build_network(folder)
    for key, file in input_files(config):
        if file.is_file() or not file.name.startswith("lgn_spikes"):
            continue
        nodes = [Path(e["nodes_file"]).parent for e in config["networks"]["nodes"]]
        command = f"python -m inputs spikes --config {path} --network {nodes[0]} --out {file}"
        if not build:
            raise ConfigError(f"{path}: {key} names {file}, which does not exist; make it with: {command}")
        print(f"{file} is missing: making the LGN spikes with the defaults of {path} ({command}) ...", flush=True)
        from inputs.__main__ import main as inputs_main

        if inputs_main(["spikes", "--config", str(path), "--network", str(nodes[0]), "--out", str(file)]) != 0:
            raise ConfigError(f"{path}: could not make {file} (see the error above).")


def _record_spikes_file(copy: Path, final: Path) -> None:
    """Point the configuration bmtk copied into the output folder at the completed spikes file."""
    if copy.is_file():
        saved = json.loads(copy.read_text())
        saved.setdefault("output", {})["spikes_file"] = str(final)
        tmp = copy.with_name(f".{copy.name}.tmp")
        tmp.write_text(json.dumps(saved, indent=2))
        os.replace(tmp, copy)


def simulate(path: Path, build_missing: bool = True, summary: bool = True) -> Path:
    """Run the simulation of ``path`` on NEST through PointNet; return the spikes file.

    The spikes go to ``<name>.partial.h5`` and are renamed to the configured name only when the run completes,
    so an interrupted run leaves no spikes file that looks complete.

    Parameters
    ----------
    path : Path
        The PointNet configuration (JSON).
    build_missing : bool
        Build a missing network or LGN spikes file with the defaults (never under MPI: a missing file is then an
        error naming the command that makes it).
    summary : bool
        Print the per-population summary and write ``rates_summary.csv`` beside the spikes.

    Raises
    ------
    ConfigError
        If the configuration cannot be run, or the process was started by an MPI launcher that this NEST cannot
        join (:func:`check_launch`); nothing has been written.
    """
    processes = check_launch(config=str(path))
    rank = _rank()
    original = read_json(path).get("output", {}).get("spikes_file", "spikes.h5")
    config = load_config(path, build_missing and processes == 1)
    final = Path(config.output_dir) / Path(original).name
    partial = Path(config.output_dir) / Path(partial_name(original)).name
    config.build_env()
    start = time.perf_counter()
    network = pointnet.PointNetwork.from_config(config)
    sim = ProgressSimulator.from_config(config, network)
    loaded = time.perf_counter()
    if rank == 0:
        layout = f"{processes} MPI processes x " if processes > 1 else ""
        print(f"loaded the network into NEST in {loaded - start:.1f} s ({nest.num_connections:,} connections, "
              f"{layout}{nest.GetKernelStatus('local_num_threads')} threads, dt {config.dt} ms)", flush=True)
    sim.run()
    if processes > 1:
        _barrier()  # every rank's share of the spikes and reports is written
    try:
        if rank == 0:
            os.replace(partial, final)
            _record_spikes_file(Path(config.output_dir) / Path(path).name, final)
            print(f"simulated {config.tstop:g} ms in {time.perf_counter() - loaded:.1f} s; spikes: {final}",
                  flush=True)
            if summary:
                from analysis.rates import print_summary

                print_summary(config, final)
    finally:
        if processes > 1:
            _barrier()  # no rank returns before the spikes file has its final name (nor waits for a failed rank 0)
    return final
