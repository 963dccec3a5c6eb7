"""Reading every SONATA file a configuration names before NEST starts, and saying what is wrong with it.

bmtk reads the network lazily and fails deep inside NEST or pandas on a damaged file (a truncated edges file, an
empty type table, an edge type the table lacks, a spike time that is NaN, ...). :func:`check_network` and
:func:`check_spike_inputs` read the same files first, completely, and raise :class:`~simulation.config.ConfigError`
naming the configuration key, the file, the field and the valid values. The checks hold for any SONATA network
(the project's or someone else's): they use only the format, never this project's population names.

Limits that are not the format's own but NEST's (or memory's) are in :data:`MAX_DELAY_MS`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from .config import ConfigError

#: The longest synaptic delay accepted (ms). NEST keeps a ring buffer of max_delay / dt slots per cell and
#: receptor, so a delay of 1e9 ms exhausts the memory; cortical axonal delays are below 50 ms.
MAX_DELAY_MS = 1000.0


def read_h5(file: Path, key: str, config: Path) -> h5py.File:
    """Open ``file`` as HDF5, or raise ConfigError saying it is empty, truncated or not HDF5."""
    if file.stat().st_size == 0:
        raise ConfigError(f"{config}: {key} names {file}, which is empty (0 bytes): remake it.")
    try:
        return h5py.File(file, "r")
    except OSError as err:
        reason = "truncated (an interrupted copy or write?)" if "truncated" in str(err) else "not an HDF5 file"
        raise ConfigError(f"{config}: {key} names {file}, which cannot be read as HDF5: it is {reason} ({err}). "
                          "Remake it (build_network for network files, python -m inputs for spikes).") from err


def read_types(file: Path, id_column: str, key: str, config: Path) -> pd.DataFrame:
    """Read a SONATA type table (space-separated CSV) and check its id column.

    Raises
    ------
    ConfigError
        If the file is empty, not a space-separated table, lacks ``id_column`` or has ids that are not unique
        whole numbers.
    """
    where = f"{config}: {key} names {file}, which"
    try:
        table = pd.read_csv(file, sep=" ", skipinitialspace=True)
    except pd.errors.EmptyDataError as err:
        raise ConfigError(f"{where} is empty; a SONATA type table is a space-separated CSV with a header row "
                          f"starting '{id_column}'.") from err
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise ConfigError(f"{where} is not a space-separated CSV table ({type(err).__name__}: "
                          f"{str(err).splitlines()[0][:120]}).") from err
    if id_column not in table.columns:
        raise ConfigError(f"{where} has no '{id_column}' column (columns: {list(table.columns)[:8]}); a SONATA "
                          f"type table needs one.")
    ids = pd.to_numeric(table[id_column], errors="coerce")
    if ids.isna().any() or not np.all(np.mod(ids, 1) == 0):
        bad = table[id_column][ids.isna() | (np.mod(ids.fillna(0), 1) != 0)].iloc[0]
        raise ConfigError(f"{where} has {id_column} {bad!r}, which is not a whole number.")
    if ids.duplicated().any():
        raise ConfigError(f"{where} lists {id_column} {int(ids[ids.duplicated()].iloc[0])} twice.")
    table[id_column] = ids.astype(np.int64)
    return table


@contextmanager
def damaged(file: Path, key: str, config: Path) -> Iterator[None]:
    """Turn h5py's errors on a damaged file (bad symbol tables, broken links, ...) into one ConfigError."""
    try:
        yield
    except ConfigError:
        raise
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise ConfigError(f"{config}: {key} names {file}, which is damaged: HDF5 cannot read its structure "
                          f"({type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else 'no message'}). "
                          "Remake it (build_network for network files, python -m inputs for spikes).") from err


def _dataset(group: h5py.Group, name: str, file: Path, key: str, config: Path) -> np.ndarray:
    """Read dataset ``name`` of ``group`` in full (a truncated file fails here, not inside NEST)."""
    if name not in group:
        raise ConfigError(f"{config}: {key} names {file}, whose group {group.name} has no '{name}' dataset "
                          "(required by SONATA).")
    try:
        return group[name][()]
    except (OSError, RuntimeError, KeyError) as err:
        raise ConfigError(f"{config}: {key} names {file}, whose dataset {group.name}/{name} cannot be read: the "
                          f"file is damaged or truncated ({err}).") from err


def _missing_types(ids: np.ndarray, table: pd.DataFrame, id_column: str) -> list[int]:
    return sorted(set(np.unique(ids).tolist()) - set(table[id_column].tolist()))[:5]


def read_json_params(file: Path, what: str, config: Path) -> dict:
    """A model's ``dynamics_params`` JSON: an object whose numbers are all finite.

    Raises
    ------
    ConfigError
        Naming the file and the field.
    """
    if not file.is_file():
        raise ConfigError(f"{config}: {what} names dynamics_params {file.name}, which is not in {file.parent}.")
    try:
        params = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{config}: {file} ({what}) is not valid JSON: {err}.") from err
    if not isinstance(params, dict):
        raise ConfigError(f"{config}: {file} ({what}) must hold a JSON object of parameter: value, "
                          f"not {type(params).__name__}.")
    for name, value in params.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | float) or not abs(v) < 2**63:  # NaN fails too
                raise ConfigError(f"{config}: {file} ({what}), field '{name}': {value!r} is not a finite number.")
    return params


def check_network(config: dict, path: Path) -> tuple[dict[str, int], list[tuple[str, str, dict]]]:
    """Read every nodes and edges file of ``config`` with its type tables.

    Checks: each file is readable HDF5 with the SONATA datasets; every type id used is in its table; edge ids
    refer to existing nodes; each cell model's ``dynamics_params`` file exists and holds finite numbers; each
    edge type's ``syn_weight`` is finite, its ``delay`` lies in [dt, :data:`MAX_DELAY_MS`] and its
    ``dynamics_params`` file exists.

    Parameters
    ----------
    config : dict
        The configuration (manifest resolved).
    path : Path
        The configuration file, for messages.

    Returns
    -------
    sizes : dict of str to int
        Node population name -> number of nodes.
    cell_models : list of (str, str, dict)
        One (where, model_template, parameters) per non-virtual node type, for :mod:`simulation.models`.

    Raises
    ------
    ConfigError
    """
    sizes: dict[str, int] = {}
    cell_models: list[tuple[str, str, dict]] = []
    components = config.get("components", {})
    cell_dir = Path(components.get("point_neuron_models_dir", "."))
    syn_dir = Path(components.get("synaptic_models_dir", "."))
    for i, entry in enumerate(config["networks"]["nodes"]):
        key = f"networks.nodes[{i}].nodes_file"
        file, types_file = Path(entry["nodes_file"]), Path(entry["node_types_file"])
        types = read_types(types_file, "node_type_id", f"networks.nodes[{i}].node_types_file", path)
        with read_h5(file, key, path) as h5, damaged(file, key, path):
            if "nodes" not in h5 or not len(h5["nodes"]):
                raise ConfigError(f"{path}: {key} names {file}, which has no /nodes/<population> group.")
            for name, group in h5["nodes"].items():
                type_ids = _dataset(group, "node_type_id", file, key, path)
                if "node_id" in group and len(_dataset(group, "node_id", file, key, path)) != len(type_ids):
                    raise ConfigError(f"{path}: {key} names {file}, whose node_id and node_type_id of population "
                                      f"{name} differ in length.")
                missing = _missing_types(type_ids, types, "node_type_id")
                if missing:
                    raise ConfigError(f"{path}: {key} names {file}, whose population {name} uses node_type_id(s) "
                                      f"{missing} that {types_file} does not list (it lists "
                                      f"{types.node_type_id.tolist()[:10]}).")
                sizes[name] = len(type_ids)
        cell_models += _check_node_types(types, types_file, cell_dir, path)
    for i, entry in enumerate(config["networks"].get("edges", [])):
        key = f"networks.edges[{i}].edges_file"
        file, types_file = Path(entry["edges_file"]), Path(entry["edge_types_file"])
        types = read_types(types_file, "edge_type_id", f"networks.edges[{i}].edge_types_file", path)
        with read_h5(file, key, path) as h5, damaged(file, key, path):
            if "edges" not in h5 or not len(h5["edges"]):
                raise ConfigError(f"{path}: {key} names {file}, which has no /edges/<population> group.")
            for name, group in h5["edges"].items():
                _check_edges(group, name, file, key, path, types, types_file, sizes)
        _check_edge_types(types, types_file, syn_dir, float(config["run"]["dt"]), path)
    return sizes, cell_models


def _check_edges(group: h5py.Group, name: str, file: Path, key: str, path: Path, types: pd.DataFrame,
                 types_file: Path, sizes: dict[str, int]) -> None:
    type_ids = _dataset(group, "edge_type_id", file, key, path)
    missing = _missing_types(type_ids, types, "edge_type_id")
    if missing:
        raise ConfigError(f"{path}: {key} names {file}, whose edges {name} use edge_type_id(s) {missing} that "
                          f"{types_file} does not list (it lists {types.edge_type_id.tolist()[:10]}).")
    for end in ("source_node_id", "target_node_id"):
        ids = _dataset(group, end, file, key, path)
        if len(ids) != len(type_ids):
            raise ConfigError(f"{path}: {key} names {file}, whose {name}/{end} and edge_type_id differ in length.")
        population = group[end].attrs.get("node_population")
        population = population.decode() if isinstance(population, bytes) else population
        if population is None:
            continue
        if population not in sizes:
            raise ConfigError(f"{path}: {key} names {file}, whose {name}/{end} refers to node population "
                              f"{population!r}, which no nodes file of the configuration holds "
                              f"(populations: {sorted(sizes)}).")
        if len(ids) and (ids.min() < 0 or ids.max() >= sizes[population]):
            raise ConfigError(f"{path}: {key} names {file}, whose {name}/{end} holds node id {int(ids.max())}; "
                              f"population {population} has node ids 0..{sizes[population] - 1}.")
    for sub in group.values():
        if isinstance(sub, h5py.Group) and sub.name.split("/")[-1].isdigit():
            for field, data in sub.items():
                if isinstance(data, h5py.Dataset) and data.dtype.kind in "fiu":
                    values = _dataset(sub, field, file, key, path)
                    if not np.all(np.isfinite(values)) or (field == "nsyns" and values.min(initial=0) < 0):
                        raise ConfigError(f"{path}: {key} names {file}, whose {sub.name}/{field} holds "
                                          "values that are not finite (or negative synapse counts).")


def _check_node_types(types: pd.DataFrame, file: Path, cell_dir: Path, path: Path) -> list[tuple[str, str, dict]]:
    models = []
    virtual = types.get("model_type", pd.Series("", index=types.index)).astype(str) == "virtual"
    for row in types[~virtual].itertuples():
        for column in ("model_template", "dynamics_params"):
            if not isinstance(getattr(row, column, None), str):
                raise ConfigError(f"{path}: {file}, node_type_id {row.node_type_id}: '{column}' is missing; a "
                                  "non-virtual PointNet cell type needs model_template (e.g. nest:iaf_psc_delta) "
                                  "and dynamics_params (a JSON file of point_neuron_models_dir).")
        if "model_type" not in types.columns:
            raise ConfigError(f"{path}: {file} has no 'model_type' column (point_neuron, point_process or "
                              "virtual).")
        where = f"{file}, node_type_id {row.node_type_id}"
        models.append((f"{where} (dynamics_params {cell_dir / row.dynamics_params})", row.model_template,
                       read_json_params(cell_dir / row.dynamics_params, where, path)))
    return models


def _check_edge_types(types: pd.DataFrame, file: Path, syn_dir: Path, dt: float, path: Path) -> None:
    for column in ("syn_weight", "delay"):
        if column not in types.columns:
            continue
        values = pd.to_numeric(types[column], errors="coerce")
        bad = ~np.isfinite(values)
        if column == "delay":
            bad |= (values < dt - 1e-12) | (values > MAX_DELAY_MS)
        if bad.any():
            row = types[bad].iloc[0]
            valid = "a finite number" if column == "syn_weight" else f"a number of ms in [dt = {dt}, {MAX_DELAY_MS:g}]"
            raise ConfigError(f"{path}: {file}, edge_type_id {row.edge_type_id}: {column} {row[column]!r} must be "
                              f"{valid}.")
    if "dynamics_params" in types.columns:
        for row in types.itertuples():
            if isinstance(row.dynamics_params, str):
                read_json_params(syn_dir / row.dynamics_params, f"{file}, edge_type_id {row.edge_type_id}", path)
    else:
        raise ConfigError(f"{path}: {file} has no 'dynamics_params' column; bmtk's PointNet needs a synapse model "
                          "file (e.g. static_synapse parameters, '{}' for none) for every edge type.")


def check_spike_inputs(config: dict, path: Path, sizes: dict[str, int], modules: tuple[str, ...]) -> None:
    """Read every spike input file in full: SONATA layout, finite times >= 0, node ids of existing nodes.

    Parameters
    ----------
    config : dict
        The configuration (manifest resolved).
    path : Path
        The configuration file, for messages.
    sizes : dict of str to int
        Node population sizes (:func:`check_network`).
    modules : tuple of str
        The input modules that read spike files.

    Raises
    ------
    ConfigError
    """
    for name, spec in config.get("inputs", {}).items():
        if spec.get("module") not in modules:
            continue
        key, file = f"inputs.{name}.input_file", Path(spec["input_file"])
        node_set = spec.get("node_set")
        target = node_set.get("population") if isinstance(node_set, dict) else node_set
        with read_h5(file, key, path) as h5, damaged(file, key, path):
            if "spikes" not in h5:
                raise ConfigError(f"{path}: {key} names {file}, which has no /spikes group (SONATA spikes: "
                                  "/spikes/<population>/node_ids and timestamps).")
            groups = {p: g for p, g in h5["spikes"].items() if isinstance(g, h5py.Group)}
            if not groups:  # bmtk's older layout: /spikes/node_ids (or gids) and /spikes/timestamps
                groups = {target: h5["spikes"]}
            if target in sizes and target not in groups:
                raise ConfigError(f"{path}: {key} names {file}, which holds spikes of population(s) "
                                  f"{sorted(groups)} but not of {target!r}, the population of inputs.{name}.node_set.")
            for population, group in groups.items():
                ids_name = "node_ids" if "node_ids" in group or "gids" not in group else "gids"
                ids = _dataset(group, ids_name, file, key, path)
                times = _dataset(group, "timestamps", file, key, path)
                if len(ids) != len(times):
                    raise ConfigError(f"{path}: {key} names {file}, whose spikes/{population} has {len(ids)} "
                                      f"node_ids but {len(times)} timestamps.")
                if len(times) and (not np.all(np.isfinite(times)) or times.min() < 0):
                    raise ConfigError(f"{path}: {key} names {file}, whose spikes/{population}/timestamps hold "
                                      "values that are not finite or are negative; spike times are ms >= 0.")
                size = sizes.get(population)
                if size is not None and len(ids) and (ids.min() < 0 or ids.max() >= size):
                    raise ConfigError(f"{path}: {key} names {file}, whose spikes/{population}/node_ids hold node "
                                      f"id {int(ids.max())}; population {population} has node ids 0..{size - 1}.")
