"""SONATA files that both bmtk and libsonata (the reference reader) open: the one spike writer of the project and
the post-processing of what bmtk writes.

bmtk writes files that libsonata refuses, and libsonata's layout is not all bmtk's. Where they differ, the files
here carry both:

- **Spikes** (:func:`write_spikes`, :func:`conform_spikes`): uncompressed (libsonata's wheels have no deflate
  filter), ``node_ids`` uint64, ``timestamps`` float64 with ``units`` ``"ms"``, and ``sorting`` the HDF5 enum of
  the specification (none = 0, by_id = 1, by_time = 2; bmtk writes a string, which libsonata cannot read). bmtk
  reads the enum as an unknown order and indexes the spikes itself, as it does for ``none``.
- **Nodes** (:func:`conform_network`): a node group with an N x 3 ``positions`` also gets the reserved 1-D
  ``x``, ``y``, ``z`` (libsonata reads only 1-D attributes); ``positions`` stays, the builder's rules and bmtk's
  tools read it.
- **Edges**: each index ``indices/*/node_id_to_range`` (bmtk's spelling, which bmtk reads) also gets the name
  ``node_id_to_ranges`` (the specification's, which libsonata reads): an HDF5 hard link to the same data.
- **Type tables** (``*_node_types.csv``, ``*_edge_types.csv``): UNIX line ends, a ``population`` column, the
  specification's ``model_type`` ``point_neuron`` (bmtk's builder examples say ``point_process``) and a
  ``model_template`` for every node type (``NULL`` for virtual nodes, as the specification says).

The datasets of a file built with ``--compression gzip`` stay compressed: libsonata cannot read those (the
default, none, it can).

Nothing here imports the pipeline's packages.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .errors import UserError
from .files import atomic_path, write_bytes_atomic

#: The values of the spike file's ``sorting`` attribute (the specification's enum).
SORTING = {"none": 0, "by_id": 1, "by_time": 2}
#: The HDF5 enum of ``sorting``, on a signed 8-bit base as libsonata declares it (a ``char`` enum).
SORTING_DTYPE = h5py.enum_dtype(SORTING, basetype=np.int8)
#: ``model_type`` values bmtk's examples use and the specification's names for them.
MODEL_TYPES = {"point_process": "point_neuron"}
#: ``model_template`` of a node type that has none (virtual nodes), as the specification writes it.
NULL = "NULL"
#: The top-level attributes every SONATA HDF5 file carries (bmtk's values).
MAGIC = np.uint32(0x0A7A)
VERSION = np.array([0, 1], dtype=np.uint32)


def _sorted_order(node_ids: np.ndarray, times_ms: np.ndarray, sorting: str) -> np.ndarray | None:
    if sorting == "by_time":
        return np.lexsort((node_ids, times_ms))  # by time, equal times by node id
    if sorting == "by_id":
        return np.lexsort((times_ms, node_ids))  # by node id, each node's spikes by time (the specification's rule)
    return None


def write_spikes(path: str | os.PathLike, spikes: Mapping[str, tuple[ArrayLike, ArrayLike]],
                 sorting: str = "by_time") -> Path:
    """Write a SONATA spikes file that libsonata and bmtk both read.

    Each population's spikes are sorted as ``sorting`` says, written uncompressed to a temporary file beside
    ``path`` and renamed into place when complete (an interrupted write leaves a previous file as it was).

    Parameters
    ----------
    path : path-like
        The spikes file (``.h5``).
    spikes : mapping of str to (array_like, array_like)
        Population name -> (node ids, spike times in ms), the two of equal length. A population with no spikes
        is written with empty datasets.
    sorting : {'by_time', 'by_id', 'none'}
        Order of the spikes in the file and the ``sorting`` attribute: ``by_time`` (equal times by node id),
        ``by_id`` (each node's spikes by time) or ``none`` (as given).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        On an unknown ``sorting``, arrays of different lengths, negative or non-integer node ids, or times that
        are not finite.

    Examples
    --------
    >>> import tempfile
    >>> out = write_spikes(Path(tempfile.mkdtemp()) / "spikes.h5", {"LGN": ([2, 0, 1], [5.0, 1.5, 1.5])})
    >>> read_spikes(out)["LGN"][0].tolist(), read_spikes(out)["LGN"][1].tolist()
    ([0, 1, 2], [1.5, 1.5, 5.0])
    """
    if sorting not in SORTING:
        raise ValueError(f"sorting {sorting!r} is not one of {list(SORTING)}.")
    columns = {}
    for population, (ids, times) in spikes.items():
        ids, times = np.asarray(ids), np.asarray(times, dtype=np.float64)
        if ids.ndim != 1 or times.ndim != 1 or len(ids) != len(times):
            raise ValueError(f"population {population!r}: need two 1-D arrays of equal length, got node ids of "
                             f"shape {ids.shape} and times of shape {times.shape}.")
        if len(ids) and not (np.issubdtype(ids.dtype, np.integer) or np.all(np.mod(ids, 1) == 0)):
            raise ValueError(f"population {population!r}: node ids must be whole numbers.")
        if len(ids) and np.any(ids < 0):
            raise ValueError(f"population {population!r}: node ids must be >= 0, got {ids.min()}.")
        if not np.all(np.isfinite(times)):
            raise ValueError(f"population {population!r}: spike times must be finite (ms).")
        ids = ids.astype(np.uint64)
        order = _sorted_order(ids, times, sorting)
        columns[str(population)] = (ids, times) if order is None else (ids[order], times[order])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["magic"] = MAGIC
        h5.attrs["version"] = VERSION
        root = h5.create_group("spikes")
        for population, (ids, times) in columns.items():
            grp = root.create_group(population)
            grp.attrs.create("sorting", SORTING[sorting], dtype=SORTING_DTYPE)
            grp.create_dataset("timestamps", data=times, dtype=np.float64).attrs["units"] = "ms"
            grp.create_dataset("node_ids", data=ids, dtype=np.uint64)
    return path


def _sorting_of(grp: h5py.Group) -> str | None:
    """The declared ``sorting`` of a spikes population (string or enum, on the group or, as some files have
    it, on ``node_ids``), or None when undeclared or unknown."""
    for holder in (grp, grp.get("node_ids")):
        if holder is not None and "sorting" in holder.attrs:
            value = holder.attrs["sorting"]
            if isinstance(value, bytes):
                value = value.decode()
            if isinstance(value, str):
                return {"time": "by_time", "id": "by_id"}.get(value, value) if value != "unknown" else None
            names = {v: k for k, v in SORTING.items()}
            return names.get(int(value))
    return None


def read_spikes(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every population of a SONATA spikes file, as written (any layout bmtk or :func:`write_spikes` writes).

    Parameters
    ----------
    path : path-like
        The spikes file.

    Returns
    -------
    dict of str to (numpy.ndarray, numpy.ndarray)
        Population -> (node ids as int64, spike times in ms as float64), in file order. A file with only an empty
        ``/spikes`` group gives an empty dict.

    Raises
    ------
    ValueError
        If the file has no ``/spikes`` group, or a population's times have units other than ms or s.
    """
    out = {}
    with h5py.File(path, "r") as h5:
        if "spikes" not in h5:
            raise ValueError(f"{path} has no /spikes group: not a SONATA spikes file.")
        for population, grp in h5["spikes"].items():
            if not isinstance(grp, h5py.Group):
                continue
            if "timestamps" not in grp or "node_ids" not in grp:
                out[population] = (np.zeros(0, np.int64), np.zeros(0, np.float64))
                continue
            units = grp["timestamps"].attrs.get("units", "ms")
            units = units.decode() if isinstance(units, bytes) else str(units)
            scale = {"ms": 1.0, "s": 1000.0}.get(units)
            if scale is None:
                raise ValueError(f"{path}: population {population!r} has spike times in {units!r}; need ms or s.")
            out[population] = (grp["node_ids"][()].astype(np.int64), grp["timestamps"][()].astype(np.float64) * scale)
    return out


def spikes_sorting(path: str | os.PathLike) -> dict[str, str | None]:
    """The declared ``sorting`` of each population of a spikes file (None where undeclared or unknown)."""
    with h5py.File(path, "r") as h5:
        return {name: _sorting_of(grp) for name, grp in h5.get("spikes", {}).items() if isinstance(grp, h5py.Group)}


def conform_spikes(path: str | os.PathLike, sorting: str | None = None) -> Path:
    """Rewrite a spikes file (bmtk's output, or any older file) in the layout of :func:`write_spikes`, in place.

    The new file is written beside ``path`` and renamed over it, so ``path`` is at any moment either the old
    file or the complete new one.

    Parameters
    ----------
    path : path-like
        The spikes file.
    sorting : {'by_time', 'by_id', 'none'}, optional
        The order to write (default: the order every population declares when that is ``by_time`` or ``by_id``
        (bmtk's ``spikes_sort_order``), else ``by_time``).

    Returns
    -------
    Path
        ``path``.
    """
    if sorting is None:
        declared = set(spikes_sorting(path).values())
        sorting = declared.pop() if len(declared) == 1 and declared <= {"by_time", "by_id"} else "by_time"
    return write_spikes(path, read_spikes(path), sorting)


def _node_populations(folder: Path) -> dict[str, tuple[Path, list[str]]]:
    """Per ``<name>_nodes.h5`` of ``folder``: (path, its node populations)."""
    found = {}
    for path in sorted(folder.glob("*_nodes.h5")):
        with h5py.File(path, "r") as h5:
            found[path.name.removesuffix("_nodes.h5")] = (path, list(h5.get("nodes", {})))
    return found


def conform_nodes_file(path: str | os.PathLike) -> None:
    """Add ``x``, ``y``, ``z`` (1-D, the columns of ``positions``, same units) to every node group of ``path``
    that has an N x 3 ``positions`` and lacks them; in place (the other datasets are not touched)."""
    with h5py.File(path, "r+") as h5:
        for population in h5.get("nodes", {}).values():
            for grp in population.values():
                if not isinstance(grp, h5py.Group) or "positions" not in grp:
                    continue
                positions = grp["positions"]
                if positions.ndim != 2 or positions.shape[1] != 3:
                    continue
                values = positions[()]
                for k, axis in enumerate("xyz"):
                    if axis not in grp:
                        grp.create_dataset(axis, data=np.ascontiguousarray(values[:, k]), dtype=positions.dtype)


def conform_edges_file(path: str | os.PathLike) -> None:
    """Give every edge index of ``path`` both names, ``node_id_to_range`` (bmtk) and ``node_id_to_ranges``
    (SONATA, libsonata): an HDF5 hard link to the dataset that exists; in place."""
    with h5py.File(path, "r+") as h5:
        for population in h5.get("edges", {}).values():
            for index in population.get("indices", {}).values():
                has_bmtk, has_spec = "node_id_to_range" in index, "node_id_to_ranges" in index
                if has_bmtk and not has_spec:
                    index["node_id_to_ranges"] = index["node_id_to_range"]
                elif has_spec and not has_bmtk:
                    index["node_id_to_range"] = index["node_id_to_ranges"]


def _read_types(path: Path) -> tuple[list[str], list[list[str]]]:
    text = path.read_text().replace("\r\n", "\n").replace("\r", "\n")
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=" ", skipinitialspace=True) if row]
    if not rows:
        raise ValueError(f"{path} is empty: a types table needs a header row.")
    return rows[0], rows[1:]


def _write_types(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=" ", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_bytes_atomic(path, buffer.getvalue().encode())


def _population_of_types(h5_path: Path, kind: str, id_name: str) -> dict[str, str]:
    """Type id (as written in the CSV) -> the population of ``h5_path`` whose elements use it (every id -> the
    population when the file holds one, without reading its type ids)."""
    with h5py.File(h5_path, "r") as h5:
        populations = list(h5.get(kind, {}).items())
        if len(populations) == 1:
            return _Default({}, populations[0][0])
        owners: dict[str, str] = {}
        for name, grp in populations:
            for type_id in np.unique(grp[id_name][()]):
                owners.setdefault(str(int(type_id)), name)
    return owners


class _Default(dict):
    """A dict that answers ``default`` for every missing key."""

    def __init__(self, values: dict, default: str) -> None:
        super().__init__(values)
        self.default = default

    def __missing__(self, key: str) -> str:
        return self.default


def conform_types_file(path: str | os.PathLike, h5_path: str | os.PathLike) -> None:
    """Rewrite a node- or edge-types CSV in the specification's dialect; in place (temporary file, renamed).

    UNIX line ends; a ``population`` column after the type id (the population of ``h5_path`` that uses each
    type); for node types ``model_type`` ``point_process`` renamed ``point_neuron`` and a ``model_template``
    column (``NULL`` for virtual node types that have none). Values are kept as text, unchanged.

    Parameters
    ----------
    path : path-like
        ``<name>_node_types.csv`` or ``<name>_edge_types.csv``.
    h5_path : path-like
        The nodes or edges file the table describes.

    Raises
    ------
    ValueError
        If a type id of the table is used by no population of ``h5_path`` (and it has several), or a node type
        that is not virtual has no ``model_template``.
    """
    path, h5_path = Path(path), Path(h5_path)
    header, rows = _read_types(path)
    nodes = header[0] == "node_type_id"
    id_name = header[0]
    if id_name not in ("node_type_id", "edge_type_id"):
        raise ValueError(f"{path}: the first column must be node_type_id or edge_type_id, got {id_name!r}.")
    if "population" not in header:
        owners = _population_of_types(h5_path, "nodes" if nodes else "edges", id_name)
        try:
            rows = [[row[0], owners[row[0]], *row[1:]] for row in rows]
        except KeyError as err:
            raise ValueError(f"{path}: type {err} is used by no population of {h5_path}.") from None
        header = [header[0], "population", *header[1:]]
    if nodes:
        col = {name: k for k, name in enumerate(header)}
        if "model_type" in col:
            for row in rows:
                row[col["model_type"]] = MODEL_TYPES.get(row[col["model_type"]], row[col["model_type"]])
        if "model_template" not in col:
            header.append("model_template")
            for row in rows:
                row.append(NULL)
        k = header.index("model_template")
        for row in rows:
            if row[k] in ("", NULL) and (row[col["model_type"]] if "model_type" in col else None) != "virtual":
                raise ValueError(f"{path}: node type {row[0]} is not virtual but has no model_template.")
    _write_types(path, header, rows)


def conform_network(folder: str | os.PathLike) -> list[Path]:
    """Make the network files bmtk's ``NetworkBuilder`` wrote to ``folder`` readable by libsonata, in place.

    ``<name>_nodes.h5`` get ``x``, ``y``, ``z`` beside ``positions`` (:func:`conform_nodes_file`),
    ``<name>_edges.h5`` get ``node_id_to_ranges`` beside ``node_id_to_range`` (:func:`conform_edges_file`), and
    the ``<name>_node_types.csv`` and ``<name>_edge_types.csv`` beside them are rewritten
    (:func:`conform_types_file`). bmtk reads every file as before. Running it twice changes nothing more.

    Parameters
    ----------
    folder : path-like
        A folder of SONATA network files (as ``NetworkBuilder.save`` names them).

    Returns
    -------
    list of Path
        The files it processed.
    """
    folder = Path(folder)
    done = []
    for name, (nodes_file, _) in _node_populations(folder).items():
        conform_nodes_file(nodes_file)
        done.append(nodes_file)
        types = folder / f"{name}_node_types.csv"
        if types.is_file():
            conform_types_file(types, nodes_file)
            done.append(types)
    for edges_file in sorted(folder.glob("*_edges.h5")):
        conform_edges_file(edges_file)
        done.append(edges_file)
        types = folder / f"{edges_file.name.removesuffix('_edges.h5')}_edge_types.csv"
        if types.is_file():
            conform_types_file(types, edges_file)
            done.append(types)
    return done


# --- readers ---------------------------------------------------------------------------------------------------

class SonataReadError(UserError):
    """A SONATA file cannot be read as the caller needs it (missing, or without the population asked for)."""


def read_nodes(nodes_file: str | os.PathLike, node_types_file: str | os.PathLike, population: str) -> pd.DataFrame:
    """Nodes of ``population`` with their group attributes and node-type attributes.

    ``positions`` (n x 3, um) becomes columns ``x``, ``y``, ``z``; other one-dimensional group datasets keep
    their names (the LGN's ``x``, ``y`` in degrees).

    Returns
    -------
    pandas.DataFrame
        ``node_id``, ``node_type_id``, the group attributes and the node-type columns (``pop_name``, ``ei``, ...).

    Raises
    ------
    SonataReadError
        If a file is missing or does not hold ``population``.
    """
    for file in (nodes_file, node_types_file):
        if not Path(file).is_file():
            raise SonataReadError(f"{file} not found: the run's network is incomplete (rebuild it with "
                               "python -m build_network, or point the configuration at the network it ran).")
    with h5py.File(nodes_file, "r") as h5:
        grp = h5.get(f"nodes/{population}")
        if grp is None:
            raise SonataReadError(f"{nodes_file} has no node population {population!r}; it holds "
                               f"{sorted(h5.get('nodes', {}))}.")
        table = pd.DataFrame({"node_id": grp["node_id"][()].astype(np.int64),
                              "node_type_id": grp["node_type_id"][()]})
        group_id, group_index = grp["node_group_id"][()], grp["node_group_index"][()]
        for gid in np.unique(group_id):
            rows = np.flatnonzero(group_id == gid)
            for name, ds in grp[str(gid)].items():
                if not isinstance(ds, h5py.Dataset):
                    continue
                values = ds[()][group_index[rows]]
                if name == "positions" and values.ndim == 2:
                    for k, axis in enumerate("xyz"[: values.shape[1]]):
                        table.loc[rows, axis] = values[:, k]
                elif values.ndim == 1:
                    table.loc[rows, name] = values
    return table.merge(pd.read_csv(node_types_file, sep=" "), on="node_type_id", how="left")


def v1_nodes(config: dict) -> pd.DataFrame:
    """The V1 node table (:func:`read_nodes`) of a configuration whose paths are resolved.

    Raises
    ------
    SonataReadError
        If no nodes file of the configuration holds population ``V1``.
    """
    for entry in config["networks"]["nodes"]:
        with h5py.File(entry["nodes_file"], "r") as h5:
            if "V1" in h5["nodes"]:
                return read_nodes(entry["nodes_file"], entry["node_types_file"], "V1")
    raise SonataReadError("the configuration has no node population 'V1'; the voltage sample and the "
                          "perturbations name V1's cells.")
