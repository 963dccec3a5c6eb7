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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
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
