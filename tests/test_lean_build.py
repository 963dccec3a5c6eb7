"""The lean build: the fast V1 rule draws from the same distribution as the previous one, and the lean edges writer
writes the same SONATA datasets as bmtk's own.

The fast V1 rule used to draw one uniform number per pair of a block x window table, which spans the whole column
height and grows as N^1.5; it now thins a Bernoulli(p_max) sequence over the candidate pairs of a spatial index
(:func:`build_network.rules.distance_connector_fast`), linear in edges. The draw order changed, so a seed gives other
edges than before: the previous rule (:func:`_window_rule`, kept here verbatim) is the reference of a statistical
test instead of a bit-for-bit one. The writer (:func:`build_network.adaptor.write_sparse_edges`) is checked against
bmtk's ``DenseNetwork._save_edges`` dataset for dataset, dtype for dtype, in the same order.
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from bmtk.builder.network_adaptors.dm_network import DenseNetwork
from scipy import stats
from scipy.spatial.distance import cdist

from build_network import build_network, rules
from build_network.adaptor import SparseNetwork
from build_network.build import NETWORK_FILES, ModelSpec, build_lgn, build_v1, column_positions, stream
from build_network.rules import connection_probability
from common.sonata import conform_network

TARGET_BLOCK = 512  # of the previous rule


def _window_rule(sources, targets, d_weight_min, d_weight_max, d_max, nsyn_min, nsyn_max, seed):
    """The fast V1 rule of the first version (verbatim): one dense block x window table per target block."""
    rng = np.random.default_rng(seed)
    src_pos = sources.array("positions")
    trg_pos = targets.array("positions")
    src_order = np.argsort(src_pos[:, 0], kind="stable")
    src_x = src_pos[src_order, 0]
    trg_order = np.argsort(trg_pos[:, 0], kind="stable")
    found_src, found_trg = [], []
    for begin in range(0, len(trg_order), TARGET_BLOCK):
        block = trg_order[begin:begin + TARGET_BLOCK]
        lo = np.searchsorted(src_x, trg_pos[block, 0].min() - d_max, side="left")
        hi = np.searchsorted(src_x, trg_pos[block, 0].max() + d_max, side="right")
        window = src_order[lo:hi]
        r = cdist(trg_pos[block], src_pos[window])
        p = connection_probability(r, d_weight_min, d_weight_max, d_max)
        p[targets.node_ids[block][:, None] == sources.node_ids[window][None, :]] = 0.0
        t_idx, s_idx = np.nonzero(rng.random(p.shape) < p)
        found_trg.append(block[t_idx])
        found_src.append(window[s_idx])
    src_index = np.concatenate(found_src) if found_src else np.zeros(0, dtype=int)
    trg_index = np.concatenate(found_trg) if found_trg else np.zeros(0, dtype=int)
    nsyns = rng.integers(nsyn_min, nsyn_max + 1, size=len(src_index))
    return src_index, trg_index, nsyns


class _Cells:
    """Minimal stand-in for :class:`~build_network.adaptor.NodeArrays`: node ids and positions (um)."""

    def __init__(self, node_ids: np.ndarray, positions: np.ndarray) -> None:
        self.node_ids = node_ids
        self._positions = positions

    def array(self, key: str) -> np.ndarray:
        assert key == "positions"
        return self._positions


def _wide_column(shared: bool):
    """3,000 cells in a column of radius 1,500 um: windows much narrower than the column."""
    positions = column_positions(3000, 1500.0, 100.0, 310.0, np.random.default_rng(3))
    ids = np.arange(3000)
    if shared:
        return _Cells(ids, positions), _Cells(ids, positions)
    return _Cells(ids[:2000], positions[:2000]), _Cells(ids[2000:], positions[2000:])


CASES = [(True, 300.0, 0.05, 0.4), (False, 160.0, 0.2, 0.46), (True, 50.0, 0.3, 0.1)]


@pytest.mark.parametrize(("shared", "d_max", "w_min", "w_max"), CASES)
def test_fast_rule_draws_the_previous_rules_distribution(shared, d_max, w_min, w_max):
    """Over 25 seeds each, the fast rule and the previous rule connect the same numbers of pairs per distance bin:
    each within the binomial 99.9% (family-wise) interval of the rule, and of each other; both obey the rule's
    hard limits (no self connection, no pair twice, none beyond d_max, nsyns in 3..7 and uniform)."""
    sources, targets = _wide_column(shared)
    kw = dict(d_weight_min=w_min, d_weight_max=w_max, d_max=d_max, nsyn_min=3, nsyn_max=7)
    r = cdist(sources.array("positions"), targets.array("positions"))
    p = connection_probability(r, w_min, w_max, d_max)
    p[sources.node_ids[:, None] == targets.node_ids[None, :]] = 0.0
    n_bins, runs = 10, 25
    bins = np.minimum((r / d_max * n_bins).astype(int), n_bins)
    counts = {}
    for name, rule in (("fast", rules.distance_connector_fast), ("previous", _window_rule)):
        hits, nsyns = np.zeros(n_bins + 1), []
        for run in range(runs):
            s, t, n = rule(sources, targets, seed=stream(run, f"{name}-{d_max}"), **kw)
            assert p[s, t].min() > 0, "a pair the rule cannot connect (self, or beyond d_max)"
            assert len(np.unique(s * len(targets.node_ids) + t)) == len(s), "a pair twice"
            hits += np.bincount(bins[s, t], minlength=n_bins + 1)
            nsyns.append(n)
        nsyns = np.concatenate(nsyns)
        assert nsyns.min() == 3 and nsyns.max() == 7
        assert stats.chisquare(np.bincount(nsyns)[3:]).pvalue > 0.001
        counts[name] = hits
    z = stats.norm.ppf(1 - 0.001 / (2 * 2 * n_bins))
    for b in range(n_bins):
        mean = runs * p[bins == b].sum()
        sd = np.sqrt(runs * (p[bins == b] * (1 - p[bins == b])).sum())
        for name in counts:
            assert abs(counts[name][b] - mean) <= z * sd + 1, (name, b, counts[name][b], mean)
        assert abs(counts["fast"][b] - counts["previous"][b]) <= z * np.sqrt(2) * sd + 1
    assert counts["fast"].sum() > 1000


@pytest.mark.parametrize(("shared", "d_max"), [(True, 300.0), (False, 160.0), (True, 50.0)])
def test_candidates_hold_every_pair_within_d_max(shared, d_max):
    """The spatial index lists every source within d_max of a target in the x-z plane, each at most once."""
    sources, targets = _wide_column(shared)
    src, trg = sources.array("positions"), targets.array("positions")
    order, seg_trg, seg_lo, seg_len = rules.candidate_ranges(src, trg, d_max)
    pairs = np.concatenate([seg_trg[k] * len(src) + order[seg_lo[k]:seg_lo[k] + seg_len[k]]
                            for k in range(len(seg_trg))])
    assert len(np.unique(pairs)) == len(pairs)
    near = np.hypot(trg[:, None, 0] - src[None, :, 0], trg[:, None, 2] - src[None, :, 2]) <= d_max
    needed = np.flatnonzero(near.ravel())
    assert np.isin(needed, pairs).all()
    assert len(pairs) < 1.4 * len(needed)  # and not many more: work per target ~ the pairs within d_max


def test_draw_chunk_does_not_change_the_edges(monkeypatch):
    sources, targets = _wide_column(True)
    kw = dict(d_weight_min=0.05, d_weight_max=0.4, d_max=300.0, nsyn_min=3, nsyn_max=7)
    default = rules.distance_connector_fast(sources, targets, seed=stream(9, "x"), **kw)
    monkeypatch.setattr(rules, "DRAW_CHUNK", 777)
    small = rules.distance_connector_fast(sources, targets, seed=stream(9, "x"), **kw)
    for a, b in zip(default, small, strict=True):
        assert np.array_equal(a, b)


def _plain_build(out, n_cells: int, seed: int, monkeypatch) -> None:
    """bmtk's own build() and save() of the model's networks, with bmtk's own edges writer."""
    monkeypatch.setattr(SparseNetwork, "_save_edges", DenseNetwork._save_edges)
    spec = ModelSpec.load()
    v1 = build_v1(spec, n_cells, seed)
    lgn = build_lgn(spec, v1, n_cells, seed)
    for net in (v1, lgn):
        net.build()
        net.save(output_dir=str(out))
    monkeypatch.undo()
    conform_network(out)  # the SONATA layout step both paths share (x, y, z; node_id_to_ranges; type tables)


def _h5_content(path) -> dict:
    """Every dataset (values, dtype, attributes) and group attribute of an HDF5 file, by name."""
    found = {}

    def visit(name, obj):
        attrs = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}
        found[name] = (obj[()], obj.dtype, attrs) if isinstance(obj, h5py.Dataset) else (None, None, attrs)

    with h5py.File(path, "r") as h5:
        visit("/", h5)
        h5.visititems(visit)
    return found


def test_lean_build_writes_the_plain_builds_files(tmp_path, monkeypatch):
    """Same seed: the lean path (build_network, lean writer) and bmtk's own build()/save() give equal SONATA files
    (datasets, dtypes, attributes, order) and equal node- and edge-type tables."""
    n_cells, seed = 2500, 4
    _plain_build(tmp_path / "plain", n_cells, seed, monkeypatch)
    build_network(tmp_path / "lean", n_cells=n_cells, seed=seed, progress=False)
    for name in NETWORK_FILES:
        plain, lean = tmp_path / "plain" / name, tmp_path / "lean" / name
        if name.endswith(".h5"):
            a, b = _h5_content(plain), _h5_content(lean)
            assert a.keys() == b.keys(), name
            for key, (values, dtype, attrs) in a.items():
                assert dtype == b[key][1] and attrs == b[key][2], (name, key)
                assert values is None or np.array_equal(values, b[key][0]), (name, key)
        else:  # bmtk writes the columns in set order: compare the tables, not the column order
            a, b = (pd.read_csv(p, sep=" ") for p in (plain, lean))
            assert a[sorted(a.columns)].equals(b[sorted(b.columns)]), name
    with h5py.File(tmp_path / "lean" / "V1_V1_edges.h5", "r") as h5:
        assert len(h5["edges/V1_to_V1/source_node_id"]) > 100_000


def test_compression_changes_storage_not_content(tmp_path):
    """'none' (the default) and 'gzip' write the same datasets; only the HDF5 filter differs."""
    from build_network import ParameterError
    from build_network.__main__ import main

    plain = build_network(tmp_path / "none", n_cells=400, seed=2, progress=False)
    assert main(["--n-cells", "400", "--seed", "2", "--compression", "gzip", "--out", str(tmp_path / "gzip")]) == 0
    assert plain["compression"] == "none"
    for name in ("V1_V1_edges.h5", "LGN_V1_edges.h5", "V1_nodes.h5"):
        a, b = _h5_content(tmp_path / "none" / name), _h5_content(tmp_path / "gzip" / name)
        assert a.keys() == b.keys()
        for key, (values, _, _) in a.items():
            assert values is None or np.array_equal(values, b[key][0]), (name, key)
    with h5py.File(tmp_path / "none" / "V1_V1_edges.h5") as h5none, \
            h5py.File(tmp_path / "gzip" / "V1_V1_edges.h5") as h5gzip:
        assert h5none["edges/V1_to_V1/source_node_id"].compression is None
        assert h5gzip["edges/V1_to_V1/source_node_id"].compression == "gzip"
    with pytest.raises(ParameterError, match="compression"):
        build_network(tmp_path / "bad", n_cells=400, compression="lzf", progress=False)
