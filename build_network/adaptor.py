"""A bmtk network adaptor that builds edges with vectorized rules and keeps them sparse.

bmtk's default ``DenseNetwork`` calls a connection rule once per source/target pair (or once per target with
``iterator='all_to_one'``) and stores each edge type as a dense source x target table of synapse counts.
:class:`SparseNetwork` is a drop-in ``adaptor_cls`` for ``bmtk.builder.NetworkBuilder``:

- a rule marked with :func:`vectorized` is called once per edge type with the source and target cells as
  :class:`NodeArrays` and returns the connections as index arrays, stored as a :class:`SparseEdgeTypesTable`;
- any other rule (per pair, ``all_to_one``, lists, constants) goes through bmtk's own dense path unchanged.

Both kinds of table are merged, sorted, indexed and written by bmtk's own ``EdgesCollator`` and
``DenseNetwork._save_edges``, so the files are bmtk's standard SONATA output either way.

Nothing on the vectorized path is dense: each distinct node pool is read once per build (bmtk re-evaluates a
pool's query on every cell each time it is iterated), and an edge type's connections are put in bmtk's order
(by source, then target) by counting sorts, so time and memory grow with the number of connections.

When every edge table of a file is sparse, :meth:`SparseNetwork._save_edges` writes it with the computations of
bmtk's collator, in-memory sort and ``create_index_in_memory`` (the same numpy sorts, so the same datasets), one
column at a time and without bmtk's pandas tables: about 40 bytes per edge at the peak instead of about 150.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import h5py
import numpy as np
from bmtk.builder.builder_utils import add_hdf5_attrs, mpi_size
from bmtk.builder.network_adaptors.dm_network import DenseNetwork
from bmtk.builder.network_adaptors.edge_props_table import EdgeTypesTableMemory
from scipy.sparse import coo_matrix

NSYNS_DTYPE = np.dtype(np.uint32)  # the dtype bmtk's dense table uses, so both kinds group together


def vectorized(rule: Callable) -> Callable:
    """Mark ``rule`` as a vectorized connection rule for :class:`SparseNetwork`.

    A vectorized rule is called as ``rule(sources, targets, **connection_params)`` with two
    :class:`NodeArrays` and returns ``(source_index, target_index, nsyns)``: integer arrays of equal length,
    indices into ``sources`` and ``targets`` and the number of synapses of each connection.
    """
    rule.vectorized = True
    return rule


@dataclass
class NodeArrays:
    """The cells of a bmtk node pool, with their attributes as numpy arrays.

    Attributes
    ----------
    nodes : list of bmtk.builder.node.Node
        The cells, in node-pool order.
    node_ids : numpy.ndarray
        Their node ids.
    """

    nodes: list
    node_ids: np.ndarray = field(init=False)
    _cache: dict = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.node_ids = np.fromiter((n.node_id for n in self.nodes), dtype=np.int64, count=len(self.nodes))

    def array(self, key: str) -> np.ndarray:
        """Attribute ``key`` of every cell, stacked (e.g. ``positions`` gives an (N, 3) array)."""
        if key not in self._cache:
            self._cache[key] = np.asarray([n[key] for n in self.nodes])
        return self._cache[key]


def source_major_order(source_ids: np.ndarray, target_ids: np.ndarray) -> np.ndarray:
    """The order that lists connections by source node id, then by target node id (bmtk's dense-table order).

    For distinct pairs this is two counting sorts (scipy's COO -> CSR conversion, then a sort of the targets
    within each source), linear in the number of connections; repeated pairs fall back to ``numpy.lexsort``,
    which keeps repeats in their given order.

    Parameters
    ----------
    source_ids, target_ids : numpy.ndarray
        Non-negative node ids of every connection.

    Returns
    -------
    numpy.ndarray of int
        Permutation of ``range(len(source_ids))``.

    Examples
    --------
    >>> source_major_order(np.array([2, 0, 2, 1]), np.array([5, 7, 1, 3])).tolist()
    [1, 3, 2, 0]
    """
    n = len(source_ids)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    shape = (int(source_ids.max()) + 1, int(target_ids.max()) + 1)
    table = coo_matrix((np.arange(n, dtype=np.int64), (source_ids, target_ids)), shape=shape).tocsr()
    if table.nnz != n:  # repeated pairs were merged: order them the slow way
        return np.lexsort((target_ids, source_ids))
    table.sort_indices()
    return table.data


class SparseEdgeTypesTable(EdgeTypesTableMemory):
    """The edges of one edge type as coordinate arrays, with the interface bmtk's collator reads.

    Parameters
    ----------
    connection_map : bmtk.builder.connection_map.ConnectionMap
        The edge type (its properties, source and target pools).
    network_name : str
        Name of the network that owns the edges.
    source_ids, target_ids, nsyns : numpy.ndarray
        Node ids and synapse count of every connection; connections with 0 synapses are dropped.
    """

    def __init__(self, connection_map, network_name: str, source_ids: np.ndarray, target_ids: np.ndarray,
                 nsyns: np.ndarray) -> None:
        self._connection_map = connection_map
        self._network_name = network_name
        self.source_network = connection_map.source_nodes.network_name
        self.target_network = connection_map.target_nodes.network_name
        self.edge_type_id = connection_map.edge_type_properties["edge_type_id"]
        self.edge_group_id = -1  # assigned by bmtk's EdgesCollator
        source_ids, target_ids, nsyns = (np.asarray(a) for a in (source_ids, target_ids, nsyns))
        keep = nsyns > 0
        if not keep.all():
            source_ids, target_ids, nsyns = source_ids[keep], target_ids[keep], nsyns[keep]
        order = source_major_order(source_ids, target_ids)
        self._node_ids = np.empty((len(order), 2), dtype=np.uint64)
        self._node_ids[:, 0] = source_ids[order]
        self._node_ids[:, 1] = target_ids[order]
        self._nsyns = nsyns[order].astype(NSYNS_DTYPE)
        self._prop_vals = {}

    @property
    def n_syns(self) -> int:
        """Number of synapses."""
        return int(self._nsyns.sum(dtype=np.int64))

    @property
    def n_edges(self) -> int:
        """Number of connections (rows in the SONATA edges file)."""
        return len(self._nsyns)

    @property
    def edge_type_node_ids(self) -> np.ndarray:
        """(n_edges, 2) array of source and target node ids."""
        return self._node_ids

    def get_property_metatadata(self) -> list[dict]:  # bmtk's spelling
        return [{"name": "nsyns", "dtype": NSYNS_DTYPE}]

    def get_property_value(self, prop_name: str) -> np.ndarray:
        if prop_name != "nsyns":
            raise KeyError(f"SparseEdgeTypesTable stores only 'nsyns', not {prop_name!r}.")
        return self._nsyns

    def free_data(self) -> None:
        del self._node_ids
        del self._nsyns


class SparseNetwork(DenseNetwork):
    """bmtk network adaptor: vectorized rules build sparse edge tables; other rules use bmtk's dense path.

    Use as ``NetworkBuilder(name, adaptor_cls=SparseNetwork)``. Set :attr:`progress` to a callable to be
    told of each finished edge type (e.g. a tqdm bar's ``update``).
    """

    progress: Callable[[int], object] | None = None
    #: Called with a short description of each stage of writing an edges file (e.g. a tqdm bar's postfix).
    stage: Callable[[str], object] | None = None

    def __init__(self, name: str, **network_props) -> None:
        super().__init__(name, **network_props)
        self._pools: dict[tuple[int, str], NodeArrays] = {}

    def build(self, force: bool = False) -> None:
        """Build the edges (bmtk's ``build``), reading each distinct node pool once."""
        self._pools = {}
        try:
            super().build(force)
        finally:
            self._pools = {}

    def _node_arrays(self, pool) -> NodeArrays:
        """The cells of a bmtk ``NodePool`` as :class:`NodeArrays`, read once per pool query and build.

        bmtk evaluates a pool's query on every cell each time the pool is iterated, so an edge type's source
        and target pools are read once here and shared by every edge type with the same query.
        """
        key = (id(pool.network), pool.filter_str)
        if key not in self._pools:
            self._pools[key] = NodeArrays(list(iter(pool)))  # iter: list() would call len(), a second pass
        return self._pools[key]

    def _add_edges(self, connection_map, i) -> None:
        rule = connection_map.connector
        if not getattr(rule, "vectorized", False):
            super()._add_edges(connection_map, i)
        else:
            if connection_map.params:
                raise NotImplementedError(
                    "SparseNetwork: per-synapse properties (add_properties) are not supported with a "
                    "vectorized rule; put the value in the edge type instead.")
            sources = self._node_arrays(connection_map.source_nodes)
            targets = self._node_arrays(connection_map.target_nodes)
            src_idx, trg_idx, nsyns = rule(sources, targets, **(connection_map.connector_params or {}))
            table = SparseEdgeTypesTable(connection_map, self.name, sources.node_ids[src_idx],
                                         targets.node_ids[trg_idx], np.asarray(nsyns))
            del src_idx, trg_idx, nsyns
            target_pool = connection_map.target_nodes
            self._target_networks[target_pool.network_name] = target_pool.network
            self._nedges += table.n_syns
            self.edges_table().append(table)
        if self.progress is not None:
            self.progress(1)

    def _save_edges(self, edges_file_name, src_network, trg_network, pop_name=None, sort_by="target_node_id",
                    index_by=("target_node_id", "source_node_id"), compression="gzip", sort_on_disk=False,
                    **opts) -> None:
        """Write one edges file: :func:`write_sparse_edges` when every table is sparse, else bmtk's own writer."""
        tables = [et for et in self.edges_table()
                  if et.source_network == src_network and et.target_network == trg_network]
        lean = (mpi_size == 1 and not sort_on_disk and sort_by == "target_node_id"
                and tuple(index_by or ()) == ("target_node_id", "source_node_id") and tables
                and all(isinstance(et, SparseEdgeTypesTable) for et in tables))
        if not lean:
            super()._save_edges(edges_file_name, src_network, trg_network, pop_name=pop_name, sort_by=sort_by,
                                index_by=index_by, compression=compression, sort_on_disk=sort_on_disk, **opts)
            return
        pop_name = f"{src_network}_to_{trg_network}" if pop_name is None else pop_name
        write_sparse_edges(edges_file_name, tables, src_network, trg_network, pop_name,
                           None if compression == "none" else compression, self.stage)


def write_sparse_edges(path, tables: list[SparseEdgeTypesTable], src_network: str, trg_network: str, pop_name: str,
                       compression: str | None, stage: Callable[[str], object] | None = None) -> None:
    """Write sparse edge tables as bmtk's ``DenseNetwork._save_edges`` does, with the same datasets.

    bmtk concatenates the tables (``EdgesCollator``), sorts the edges by ``np.argsort`` of the target ids, reorders
    each model group's properties, and builds the ``target_to_source`` and ``source_to_target`` indices from the
    written columns (``create_index_in_memory``, which sorts the ranges with pandas' quicksort, i.e.
    ``np.argsort(kind='quicksort')``). This function makes the same calls on the same arrays, so every dataset is
    equal, but holds one or two columns at a time and frees each table as it is read. The tables are emptied.

    Parameters
    ----------
    path : str or Path
        Edges file to write.
    tables : list of SparseEdgeTypesTable
        The edge types of the file, in bmtk's order.
    src_network, trg_network, pop_name : str
        Node populations and edge population name.
    compression : str or None
        HDF5 filter of every dataset.
    stage : callable, optional
        Told of each stage (a short description), for a progress display.
    """
    stage = stage or (lambda _: None)
    stage(f"collating {sum(et.n_edges for et in tables):,} edges")
    # model groups: one per distinct property set, numbered in order of appearance (bmtk's assign_groups)
    group_of_hash, group_props = {}, []
    for et in tables:
        if et.hash_key not in group_of_hash:
            group_of_hash[et.hash_key] = len(group_props)
            group_props.append([(p["name"], p["dtype"]) for p in et.get_property_metatadata()])
        et.edge_group_id = group_of_hash[et.hash_key]
    sizes = np.array([et.n_edges for et in tables], dtype=np.int64)
    n_total = int(sizes.sum())
    if n_total == 0:
        return
    group_ids = np.array([et.edge_group_id for et in tables], dtype=np.uint32)
    # concatenated columns (bmtk's collator); each table's node ids are freed once copied
    source_ids = np.empty(n_total, dtype=np.uint)
    target_ids = np.empty(n_total, dtype=np.uint)
    props = [{name: np.empty(int(sizes[group_ids == g].sum()), dtype=dtype) for name, dtype in group}
             for g, group in enumerate(group_props)]
    group_index = np.empty(n_total, dtype=np.uint32)
    begin, group_fill = 0, [0] * len(group_props)
    for et, size in zip(tables, sizes, strict=True):
        end = begin + int(size)
        ids = et.edge_type_node_ids
        source_ids[begin:end] = ids[:, 0]
        target_ids[begin:end] = ids[:, 1]
        g = et.edge_group_id
        group_index[begin:end] = np.arange(group_fill[g], group_fill[g] + size, dtype=np.uint32)
        for name, values in props[g].items():
            values[group_fill[g]:group_fill[g] + size] = et.get_property_value(name)
        group_fill[g] += int(size)
        et.free_data()
        begin = end
    del ids
    with h5py.File(path, "w") as h5:
        add_hdf5_attrs(h5)
        grp = h5.create_group(f"/edges/{pop_name}")
        # bmtk's sort: skipped only if the targets never increase (its test), else np.argsort of the targets
        stage("sorting by target")
        order = None if np.all(np.diff(target_ids) <= 0) else np.argsort(target_ids)

        def sorted_column(values):
            return values if order is None else values[order]

        stage("writing the columns")
        target_ids = sorted_column(target_ids)
        grp.create_dataset("target_node_id", data=target_ids, dtype="uint64", compression=compression)
        grp["target_node_id"].attrs["node_population"] = trg_network
        target_index = _range_index(target_ids, n_total)
        del target_ids
        source_ids = sorted_column(source_ids)
        grp.create_dataset("source_node_id", data=source_ids, dtype="uint64", compression=compression)
        grp["source_node_id"].attrs["node_population"] = src_network
        per_edge_type = sorted_column(np.repeat(np.array([et.edge_type_id for et in tables], dtype=np.uint32), sizes))
        grp.create_dataset("edge_type_id", data=per_edge_type, dtype="uint32", compression=compression)
        del per_edge_type
        per_edge_group = sorted_column(np.repeat(group_ids, sizes))
        grp.create_dataset("edge_group_id", data=per_edge_group, dtype="uint16", compression=compression)
        group_index = sorted_column(group_index)
        for g, group in enumerate(group_props):
            members = np.flatnonzero(per_edge_group == g) if len(group_props) > 1 else slice(None)
            new_order = group_index[members]
            model = grp.create_group(str(g))
            for name, dtype in group:
                model.create_dataset(name, data=props[g][name][new_order], dtype=dtype, compression=compression)
                props[g][name] = None
            del new_order
            group_index[members] = np.arange(len(group_index[members]), dtype=np.uint32)
        grp.create_dataset("edge_group_index", data=group_index, dtype="uint32", compression=compression)
        del group_index, per_edge_group
        order = None  # noqa: F841 (frees the permutation)
        stage("indexing by source")
        _write_index(grp, "target_to_source", target_index, compression)
        del target_index
        source_index = _range_index(source_ids, n_total)
        del source_ids
        _write_index(grp, "source_to_target", source_index, compression)


def _write_index(grp, name: str, index: tuple[np.ndarray, np.ndarray], compression: str | None) -> None:
    group = grp.create_group(f"indices/{name}")
    group.create_dataset("range_to_edge_id", data=index[0], dtype=np.uint64, compression=compression)
    group.create_dataset("node_id_to_range", data=index[1], dtype=np.uint64, compression=compression)


def _range_index(ids: np.ndarray, n_total: int) -> tuple[np.ndarray, np.ndarray]:
    """bmtk's ``create_index_in_memory`` of one column: ``range_to_edge_id`` and ``node_id_to_range`` (uint64).

    Runs of equal ids become ranges of edges; the ranges are ordered by id with the sort pandas'
    ``sort_values`` makes (``np.argsort(kind='quicksort')``), and each id points at its block of ranges.
    """
    starts = np.flatnonzero(np.diff(ids)) + 1
    range_beg = np.concatenate(([0], starts))
    range_end = np.concatenate((starts, [n_total]))
    del starts
    lu_ids = ids[range_beg]
    by_id = lu_ids.argsort(kind="quicksort")
    r2e = np.empty((len(by_id), 2), dtype=np.uint64)
    r2e[:, 0] = range_beg[by_id]
    del range_beg
    r2e[:, 1] = range_end[by_id]
    del range_end
    ordered = lu_ids[by_id]
    del lu_ids, by_id
    starts = np.flatnonzero(np.diff(ordered)) + 1
    first = np.concatenate(([0], starts))
    i2r = np.zeros((int(ordered[-1]) + 1, 2), dtype=np.uint64)  # ids without edges: (0, 0), as bmtk's reindex
    i2r[ordered[first], 0] = first
    i2r[ordered[first], 1] = np.concatenate((starts, [len(ordered)]))
    return r2e, i2r
