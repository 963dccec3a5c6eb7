"""SparseNetwork writes the same SONATA content as bmtk's DenseNetwork for the same connections."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
from bmtk.builder import NetworkBuilder
from bmtk.builder.network_adaptors.dm_network import DenseNetwork

from build_network.adaptor import SparseNetwork, vectorized


def _pair_rule(source, target):
    """Deterministic per-pair rule: a sparse, irregular pattern with 1..4 synapses."""
    s, t = source.node_id, target.node_id
    return (s % 4) + 1 if (3 * s + 7 * t) % 5 == 0 and s != t else None


@vectorized
def _vector_rule(sources, targets):
    s, t = np.meshgrid(sources.node_ids, targets.node_ids, indexing="ij")
    keep = ((3 * s + 7 * t) % 5 == 0) & (s != t)
    si, ti = np.nonzero(keep)
    return si, ti, (sources.node_ids[si] % 4) + 1


def _build(out, adaptor_cls, rule):
    net = NetworkBuilder("V1", adaptor_cls=adaptor_cls)
    rng = np.random.default_rng(0)
    net.add_nodes(N=60, pop_name="A", positions=rng.random((60, 3)))
    net.add_nodes(N=40, pop_name="B", positions=rng.random((40, 3)))
    for k, (src, trg) in enumerate([("A", "A"), ("A", "B"), ("B", "A")]):
        net.add_edges(source={"pop_name": src}, target={"pop_name": trg}, connection_rule=rule,
                      edge_type_id=100 + k, syn_weight=0.1 * (k + 1), dynamics_params="x.json")
    net.build()
    net.save(output_dir=str(out))
    return out


def _datasets(path):
    found = {}
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return found


def test_sparse_and_dense_adaptors_write_identical_edges(tmp_path):
    dense = _build(tmp_path / "dense", DenseNetwork, _pair_rule)
    sparse = _build(tmp_path / "sparse", SparseNetwork, _vector_rule)
    a, b = _datasets(dense / "V1_V1_edges.h5"), _datasets(sparse / "V1_V1_edges.h5")
    assert a.keys() == b.keys()
    assert len(a["edges/V1_to_V1/source_node_id"]) > 100
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert np.array_equal(a[name], b[name]), name
    ta, tb = (pd.read_csv(p / "V1_V1_edge_types.csv", sep=" ") for p in (dense, sparse))
    assert ta.sort_index(axis=1).equals(tb.sort_index(axis=1))


def test_sparse_adaptor_keeps_bmtk_rules_working(tmp_path):
    """A per-pair rule on SparseNetwork goes through bmtk's own path."""
    out = _build(tmp_path / "mixed", SparseNetwork, _pair_rule)
    ref = _build(tmp_path / "ref", SparseNetwork, _vector_rule)
    assert _datasets(out / "V1_V1_edges.h5").keys() == _datasets(ref / "V1_V1_edges.h5").keys()
    for name, data in _datasets(out / "V1_V1_edges.h5").items():
        assert np.array_equal(data, _datasets(ref / "V1_V1_edges.h5")[name]), name


def test_source_major_order_is_lexsort():
    """The counting-sort order equals numpy's lexsort by (source, target), for distinct and for repeated pairs."""
    from build_network.adaptor import source_major_order

    rng = np.random.default_rng(1)
    keys = rng.choice(300 * 200, size=5000, replace=False)
    src, trg = keys // 200, keys % 200
    assert np.array_equal(source_major_order(src, trg), np.lexsort((trg, src)))
    src, trg = np.array([3, 1, 3, 1, 0]), np.array([2, 4, 2, 0, 9])  # (3, 2) twice: given order kept
    assert np.array_equal(source_major_order(src, trg), np.lexsort((trg, src)))
    assert len(source_major_order(np.zeros(0, int), np.zeros(0, int))) == 0
