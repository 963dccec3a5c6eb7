"""Per-cell and per-population firing statistics of a PointNet run, compared with the experimental reference.

Cells that never spiked are kept (rate 0). The ISI coefficient of variation of a cell is computed from its
inter-spike intervals when it fired at least :data:`MIN_SPIKES_FOR_CV` spikes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from build_network.build import BUILD_INFO, is_project_network
from common.errors import UserError
from common.sonata import read_nodes

from .reference import load_populations, tuning_targets

MIN_SPIKES_FOR_CV = 4
POSITION_COLUMNS = ("x", "y", "z")


class RunDataError(UserError):
    """The files of a run cannot be read or do not belong together."""


def spike_populations(spikes_file: Path) -> list[str]:
    """The populations of a SONATA spikes file (sorted).

    Raises
    ------
    RunDataError
        If the file is missing or is not an HDF5 file.
    """
    spikes_file = Path(spikes_file)
    if not spikes_file.is_file():
        raise RunDataError(f"spikes file {spikes_file} not found: did the run finish?")
    if not h5py.is_hdf5(spikes_file):
        raise RunDataError(f"{spikes_file} ({spikes_file.stat().st_size} bytes) is not an HDF5 file, so not a "
                           "SONATA spikes file.")
    with h5py.File(spikes_file, "r") as h5:
        return sorted(h5.get("spikes", {}))


def read_spikes(spikes_file: Path, population: str) -> pd.DataFrame:
    """Spikes of ``population`` from a SONATA spikes file (an empty table if it has none).

    Returns
    -------
    pandas.DataFrame
        Columns ``node_id`` and ``timestamp_ms``.

    Raises
    ------
    RunDataError
        If the file is missing or is not an HDF5 file.
    """
    spike_populations(spikes_file)
    with h5py.File(spikes_file, "r") as h5:
        grp = h5.get(f"spikes/{population}")
        if grp is None or "node_ids" not in grp:
            return pd.DataFrame({"node_id": np.zeros(0, dtype=np.int64), "timestamp_ms": np.zeros(0)})
        return pd.DataFrame({"node_id": grp["node_ids"][()].astype(np.int64), "timestamp_ms": grp["timestamps"][()]})


def check_spikes(spikes: pd.DataFrame, nodes: pd.DataFrame, population: str, spikes_file: Path) -> None:
    """Stop if the spikes name nodes that ``population`` does not have.

    Raises
    ------
    RunDataError
        Naming the first unknown node ids and the population's id range.
    """
    unknown = np.setdiff1d(spikes.node_id.unique(), nodes.node_id.to_numpy())
    if len(unknown):
        raise RunDataError(
            f"{spikes_file}: {len(unknown)} node id(s) of population {population!r} (e.g. "
            f"{unknown[:3].tolist()}) are not in the network, whose {population} ids run from "
            f"{nodes.node_id.min()} to {nodes.node_id.max()} ({len(nodes)} nodes): the spikes come from another "
            "network. Analyse them with the configuration of the run that made them.")


def cell_table(spikes: pd.DataFrame, nodes: pd.DataFrame, tstart_ms: float, tstop_ms: float) -> pd.DataFrame:
    """Spike count, rate (Hz) and ISI CV of every cell in ``nodes`` over (tstart, tstop].

    NEST stamps a spike with the end of the time step in which it occurred, so a run of length T holds spikes
    in (0, T].

    Parameters
    ----------
    spikes : pandas.DataFrame
        ``node_id``, ``timestamp_ms``.
    nodes : pandas.DataFrame
        ``node_id``, ``pop_name`` and optionally the positions ``x``, ``y``, ``z`` (um), which are kept.
    tstart_ms, tstop_ms : float
        Analysis window (ms).

    Returns
    -------
    pandas.DataFrame
        ``node_id``, ``pop_name``, the positions, ``n_spikes``, ``rate_hz``, ``isi_cv`` (NaN below
        ``MIN_SPIKES_FOR_CV``).

    Examples
    --------
    >>> s = pd.DataFrame({"node_id": [0, 0, 0, 0, 0], "timestamp_ms": [100.0, 200.0, 300.0, 400.0, 500.0]})
    >>> n = pd.DataFrame({"node_id": [0, 1], "pop_name": ["E", "E"]})
    >>> cell_table(s, n, 0.0, 1000.0)[["n_spikes", "rate_hz", "isi_cv"]].values.tolist()
    [[5.0, 5.0, 0.0], [0.0, 0.0, nan]]
    """
    window = spikes[(spikes.timestamp_ms > tstart_ms) & (spikes.timestamp_ms <= tstop_ms)]
    window = window.sort_values(["node_id", "timestamp_ms"])
    counts = window.groupby("node_id").size()
    isi = window.groupby("node_id").timestamp_ms.diff().dropna()
    isi_by_cell = isi.groupby(window.loc[isi.index, "node_id"])
    cv = (isi_by_cell.std(ddof=0) / isi_by_cell.mean())[counts[counts >= MIN_SPIKES_FOR_CV].index]
    table = nodes[["node_id", "pop_name", *[c for c in POSITION_COLUMNS if c in nodes]]].copy()
    table["n_spikes"] = table.node_id.map(counts).fillna(0).astype(float)
    table["rate_hz"] = table.n_spikes / ((tstop_ms - tstart_ms) / 1000.0)
    table["isi_cv"] = table.node_id.map(cv)
    return table.reset_index(drop=True)


def load_reference() -> pd.DataFrame:
    """The median rate (Hz) each model population is tuned to, indexed by population.

    :func:`analysis.reference.tuning_targets`: the median spontaneous rate of the labelled L2/3 units of the
    Allen Neuropixels data, the targets of the Allen V1 model.
    """
    return tuning_targets()


def population_summary(cells: pd.DataFrame, reference: pd.DataFrame | None = None,
                       referenced: set[str] | None = None) -> pd.DataFrame:
    """Cells, fraction active, mean and median rate, mean ISI CV per population, beside the reference median.

    Parameters
    ----------
    cells : pandas.DataFrame
        Tidy per-cell table (``pop_name``, ``n_spikes``, ``rate_hz``, ``isi_cv``).
    reference : pandas.DataFrame, optional
        Reference median per pop_name (default :func:`load_reference`).
    referenced : set of str, optional
        The pop_names that may be set beside the reference (those of the project's own network,
        :func:`referenced_pop_names`); the others get NaN. Default: every pop_name the reference has.

    Returns
    -------
    pandas.DataFrame
        Indexed by population: ``n_cells``, ``frac_active``, ``mean_rate_hz``, ``median_rate_hz``,
        ``max_rate_hz``, ``mean_isi_cv``, ``reference_median_hz``, ``ratio`` (model / reference median; NaN for
        a population without a reference).
    """
    reference = load_reference() if reference is None else reference
    if referenced is not None:
        reference = reference[reference.index.isin(list(referenced))]
    grouped = cells.groupby("pop_name", sort=False)
    summary = pd.DataFrame({
        "n_cells": grouped.size(),
        "frac_active": grouped.n_spikes.apply(lambda n: float((n > 0).mean())),
        "mean_rate_hz": grouped.rate_hz.mean(),
        "median_rate_hz": grouped.rate_hz.median(),
        "max_rate_hz": grouped.rate_hz.max(),
        "mean_isi_cv": grouped.isi_cv.mean(),
    })
    summary.index.name = "population"
    summary["reference_median_hz"] = reference.median_rate_hz.reindex(summary.index)
    summary["ratio"] = summary.median_rate_hz / summary.reference_median_hz
    return summary


NO_REFERENCE = "no reference"


def referenced_pop_names(cells: pd.DataFrame, project_populations: set[str] | frozenset[str]) -> set[str]:
    """The pop_names of ``cells`` that are compared with the mouse reference: cells of a SONATA population of the
    project's own network (``project_populations``) whose pop_name is a model population of
    ``common/populations.csv``.

    Examples
    --------
    >>> cells = pd.DataFrame({"population": ["V1", "V1", "cortex"], "pop_name": ["LIF_exc", "PV", "LIF_inh"]})
    >>> sorted(referenced_pop_names(cells, {"V1"})), sorted(referenced_pop_names(cells, set()))
    (['LIF_exc', 'PV'], [])
    >>> sorted(referenced_pop_names(cells.assign(pop_name=["LIF_exc", "PV", "LIF_exc"]), {"V1"}))  # shared: nobody's
    ['PV']
    """

    mine = (cells.population.isin(list(project_populations)) if "population" in cells
            else pd.Series(False, index=cells.index)).to_numpy(bool)
    # a pop_name shared by the project's network and another one is nobody's to compare
    return (set(cells.pop_name[mine]) & set(load_populations().index)) - set(cells.pop_name[~mine])


def run_summary(config: dict, spikes_file: Path) -> pd.DataFrame:
    """:func:`population_summary` of the simulated cells of a run described by a bmtk configuration; only the
    populations of the project's own network (:func:`is_project_network`) are set beside the reference."""
    tstart, tstop = float(config["run"].get("tstart", 0.0)), float(config["run"]["tstop"])
    tables, project = [], set()
    for population, nodes_file, types_file in simulated_populations(config):
        tables.append(cell_table(read_spikes(spikes_file, population), read_nodes(nodes_file, types_file, population),
                                 tstart, tstop).assign(population=population))
        if is_project_network(nodes_file):
            project.add(population)
    cells = pd.concat(tables, ignore_index=True)
    return population_summary(cells, referenced=referenced_pop_names(cells, project))


def format_summary(summary: pd.DataFrame) -> str:
    """The summary as an aligned text table (``no reference`` for a population without one)."""
    lines = ["population  cells  active  mean Hz  median Hz  max Hz  ISI CV  reference Hz  model/ref"]
    for pop, row in summary.iterrows():
        reference = (f"{row.reference_median_hz:12.2f}  {row.ratio:9.2f}" if np.isfinite(row.reference_median_hz)
                     else f"{NO_REFERENCE:>12s}  {'':9s}")
        lines.append(f"{pop:10s} {int(row.n_cells):6d}  {row.frac_active:6.1%}  {row.mean_rate_hz:7.2f}  "
                     f"{row.median_rate_hz:9.2f}  {row.max_rate_hz:6.1f}  {row.mean_isi_cv:6.2f}  {reference}")
    return "\n".join(lines)


def print_summary(config: dict, spikes_file: Path) -> pd.DataFrame:
    """Print the run's summary and write it beside the spikes as ``rates_summary.csv``."""
    summary = run_summary(config, spikes_file)
    summary.to_csv(Path(spikes_file).with_name("rates_summary.csv"))
    if summary.reference_median_hz.notna().any():
        print("Populations (reference: the V1 tuning target, median spontaneous rate of the labelled L2/3 units of "
              "the Allen Neuropixels data):")
    else:
        print(f"Populations ({NO_REFERENCE}: no population of this network is the project's V1 model, whose "
              f"networks carry {BUILD_INFO}):")
    print(format_summary(summary))
    return summary


@dataclass
class Run:
    """The spikes and tidy per-cell table of one PointNet run.

    Attributes
    ----------
    name : str
        The output folder's name.
    output_dir, spikes_file : pathlib.Path
    config : dict
        The run's configuration, paths resolved.
    tstart_ms, tstop_ms : float
        Analysis window (ms).
    cells : pandas.DataFrame
        One row per cell of every non-virtual population, silent cells included: ``population`` (SONATA
        population), ``node_id``, ``pop_name``, the positions ``x``, ``y``, ``z`` (um) when the nodes have them,
        ``n_spikes``, ``rate_hz``, ``isi_cv``.
    spikes : pandas.DataFrame
        ``population``, ``node_id``, ``pop_name``, ``timestamp_ms`` of those cells, within the window.
    """

    name: str
    output_dir: Path
    spikes_file: Path
    config: dict
    tstart_ms: float
    tstop_ms: float
    cells: pd.DataFrame
    spikes: pd.DataFrame
    config_path: Path | None = None
    project_populations: frozenset[str] = frozenset()

    @property
    def referenced(self) -> set[str]:
        """The pop_names compared with the mouse reference (:func:`referenced_pop_names`)."""
        return referenced_pop_names(self.cells, self.project_populations)


CONFIG_NAMES = ("config.json", "run_config.json")


def find_config(output_dir: Path) -> Path:
    """The configuration bmtk copied into a run's output folder when the run started.

    bmtk names the copy after the configuration it ran: ``config.json``, ``run_config.json`` (perturbation runs),
    or any other JSON file of the folder with ``run`` and ``networks`` sections, tried in that order.

    Raises
    ------
    RunDataError
        If the folder holds none.
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise RunDataError(f"output folder {output_dir} not found.")
    named = [output_dir / n for n in CONFIG_NAMES]
    for path in named + sorted(set(output_dir.glob("*.json")) - set(named)):
        try:
            content = json.loads(path.read_text()) if path.is_file() else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(content, dict) and {"run", "networks"} <= set(content):
            return path
    raise RunDataError(f"{output_dir} holds no run configuration (bmtk copies the configuration it runs, e.g. "
                       f"{' or '.join(CONFIG_NAMES)}, into the output folder when a run starts): pass --config with "
                       "the configuration of the run.")


#: The sub-configurations a SONATA configuration may name (a path), and the section each one brings in.
CHILD_CONFIGS = {"network": "networks", "simulation": "run"}
#: The keys of file and folder paths a run's analysis reads.
PATH_KEYS = ("nodes_file", "node_types_file", "edges_file", "edge_types_file", "input_file")


def _is_copy(raw: dict) -> bool:
    """Whether ``raw`` is the copy bmtk wrote into an output folder: manifest variables resolved and removed, the
    folder of the configuration that ran recorded as ``config_dir``."""
    return "manifest" not in raw and isinstance(raw.get("config_dir"), str)


def _placed(value, bases: list[Path]):
    """A relative path made absolute against the first of ``bases`` where it exists (else the first base)."""
    if not isinstance(value, str) or not value or os.path.isabs(value):
        return value
    for base in bases:
        if (base / value).exists():
            return str(base / value)
    return str(bases[0] / value)


def _resolved(config_path: Path) -> dict:
    """The configuration at ``config_path`` as bmtk reads it (manifest variables and sub-configurations resolved),
    with every relative network, input and component path made absolute.

    Works on the configuration a run was started with and on the copy bmtk leaves in the output folder. The copy
    keeps the names of the sub-configurations (``"network": "config.circuit.json"``, relative to the folder of the
    configuration that ran) beside the sections they brought in; those sections are used as they are. A relative
    path (bmtk takes it relative to the working folder of the run, which configurations written like bmtk's
    examples, ``"$BASE_DIR": "."``, expect to be their own folder) is looked up in the folder of the configuration
    that ran, then in the working folder of the analysis: the report is usually made elsewhere (from this project's
    folder, whose own ``network/`` must not stand in for another run's).

    Raises
    ------
    RunDataError
        If the file is not a JSON object, names a sub-configuration that is not there, or bmtk cannot read it.
    """
    from bmtk.utils.sonata.config import SonataConfig

    config_path = Path(config_path)
    if not config_path.is_file():
        raise RunDataError(f"configuration {config_path} not found (--config names the configuration the run was "
                           "started with, or bmtk's copy of it in the output folder).")
    try:
        raw = json.loads(config_path.read_text())
    except json.JSONDecodeError as err:
        raise RunDataError(f"{config_path} is not valid JSON: {err.msg} at line {err.lineno}.") from err
    except UnicodeDecodeError as err:
        raise RunDataError(f"{config_path} is not a text (JSON) file: pass --config with the run's "
                           "configuration.") from err
    if not isinstance(raw, dict):
        raise RunDataError(f"{config_path} must hold a JSON object (a bmtk configuration), not {type(raw).__name__}.")
    here = config_path.resolve().parent
    copy = _is_copy(raw)
    origin = Path(raw["config_dir"]) if copy else here
    for key, section in CHILD_CONFIGS.items():
        name = raw.get(key)
        if not isinstance(name, str):
            continue
        if copy and section in raw:  # merged into the copy when the run started
            del raw[key]
            continue
        places = [Path(name)] if os.path.isabs(name) else list(dict.fromkeys([here / name, origin / name]))
        found = next((p for p in places if p.is_file()), None)
        if found is None:
            raise RunDataError(f"{config_path}: '{key}' names the sub-configuration {name}, which is not there "
                               f"({' nor '.join(str(p) for p in places)}): pass --config with the configuration the "
                               "run was started with.")
        raw[key] = str(found)
    raw.update({"config_path": str(config_path.resolve()), "config_dir": str(here)})
    try:
        config = dict(SonataConfig.from_dict(raw))
    except Exception as err:  # noqa: BLE001 - bmtk raises bare Exceptions (manifest) and OSErrors (sub-configurations)
        raise RunDataError(f"{config_path}: bmtk cannot read it ({err}): pass --config with the configuration the "
                           "run was started with.") from err
    bases = list(dict.fromkeys([origin, Path.cwd()]))
    for section in ("nodes", "edges"):
        for entry in config.get("networks", {}).get(section, []) or []:
            if isinstance(entry, dict):
                entry.update({k: _placed(v, bases) for k, v in entry.items() if k in PATH_KEYS})
    for spec in (config.get("inputs") or {}).values():
        if isinstance(spec, dict) and "input_file" in spec:
            spec["input_file"] = _placed(spec["input_file"], bases)
    if isinstance(config.get("components"), dict):
        config["components"] = {k: _placed(v, bases) for k, v in config["components"].items()}
    return config


def simulated_populations(config: dict) -> list[tuple[str, Path, Path]]:
    """(population, nodes file, node-types file) of every node population that is not virtual."""
    found = []
    for entry in config.get("networks", {}).get("nodes", []):
        nodes_file, types_file = Path(entry["nodes_file"]), Path(entry["node_types_file"])
        if not nodes_file.is_file():
            raise RunDataError(f"nodes file {nodes_file} of the run's configuration not found.")
        if not types_file.is_file():
            raise RunDataError(f"node-types file {types_file} of the run's configuration not found.")
        types = pd.read_csv(types_file, sep=" ")
        if (types.get("model_type", pd.Series(dtype=str)) == "virtual").all():
            continue
        with h5py.File(nodes_file, "r") as h5:
            found += [(name, nodes_file, types_file) for name in h5.get("nodes", {})]
    if not found:
        raise RunDataError("the run's configuration names no simulated (non-virtual) node population.")
    return found


def load_run(output_dir: Path, config_path: Path | None = None) -> Run:
    """Read the spikes of a finished run and tabulate every simulated cell.

    Parameters
    ----------
    output_dir : pathlib.Path
        The run's output folder (``output/`` for ``config.json``, a perturbation's folder, ...).
    config_path : pathlib.Path, optional
        The run's configuration; default: the copy bmtk wrote into ``output_dir``.

    Returns
    -------
    Run

    Raises
    ------
    RunDataError
        If a file is missing or the spikes do not belong to the network.
    """
    output_dir = Path(output_dir)
    config_path = find_config(output_dir) if config_path is None else Path(config_path)
    config = _resolved(config_path)
    spikes_file = Path(config.get("output", {}).get("spikes_file", output_dir / "spikes.h5"))
    if not spikes_file.is_absolute():
        spikes_file = output_dir / spikes_file
    if not isinstance(config.get("run"), dict) or not isinstance(config["run"].get("tstop"), int | float):
        raise RunDataError(f"{config_path}: run.tstop (the run's stop time, ms) is missing: pass --config with the "
                           "configuration the run was started with.")
    tstart, tstop = float(config["run"].get("tstart", 0.0)), float(config["run"]["tstop"])
    cells, spikes = [], []
    for population, nodes_file, types_file in simulated_populations(config):
        nodes = read_nodes(nodes_file, types_file, population)
        fired = read_spikes(spikes_file, population)
        check_spikes(fired, nodes, population, spikes_file)
        cells.append(cell_table(fired, nodes, tstart, tstop).assign(population=population))
        fired = fired[(fired.timestamp_ms > tstart) & (fired.timestamp_ms <= tstop)]
        spikes.append(fired.merge(nodes[["node_id", "pop_name"]], on="node_id").assign(population=population))
    cells = pd.concat(cells, ignore_index=True)
    cells = cells[["population", *[c for c in cells if c != "population"]]]
    spikes = pd.concat(spikes, ignore_index=True)[["population", "node_id", "pop_name", "timestamp_ms"]]
    project = frozenset(population for population, nodes_file, _ in simulated_populations(config)
                        if is_project_network(nodes_file))
    return Run(output_dir.name or str(output_dir), output_dir, spikes_file, config, tstart, tstop, cells, spikes,
               config_path, project)
