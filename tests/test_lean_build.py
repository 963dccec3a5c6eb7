"""The lean build writes the same network as the plain one: same seed, same SONATA content, pair for pair.

The plain path is bmtk's ``NetworkBuilder.build()`` and ``save()`` on the networks of :mod:`build_network.build`,
with the V1 rule as it was before the lean one: the whole block x window table of distances, probabilities and
uniform numbers at once (:func:`_window_rule`, kept here verbatim as the reference of what a seed means). The lean
path is :func:`build_network.build_network`. Both write through bmtk's SONATA writer; every dataset, attribute and
type table must be equal, in the same order.
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

import build_network.build as build_module
from build_network import build_network, rules
from build_network.adaptor import vectorized
from build_network.build import NETWORK_FILES, ModelSpec, build_lgn, build_v1, column_positions, stream
from build_network.rules import TARGET_BLOCK, connection_probability


def _window_rule(sources, targets, d_weight_min, d_weight_max, d_max, nsyn_min, nsyn_max, seed):
    """The fast V1 rule before the lean path (verbatim): one dense block x window table per target block."""
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


@pytest.mark.parametrize(("shared", "d_max"), [(True, 300.0), (False, 160.0), (True, 50.0)])
@pytest.mark.parametrize("draw_chunk", [777, rules.DRAW_CHUNK])
def test_lean_rule_draws_the_window_rule_exactly(monkeypatch, shared, d_max, draw_chunk):
    """A wide column (windows much narrower than the column, and chunks cutting rows and blocks): the lean rule
    returns the window rule's arrays, element for element, for cells shared by sources and targets or not."""
    monkeypatch.setattr(rules, "DRAW_CHUNK", draw_chunk)
    positions = column_positions(3000, 1500.0, 100.0, 310.0, np.random.default_rng(3))
    ids = np.arange(3000)
    if shared:
        sources = targets = _Cells(ids, positions)
    else:
        sources, targets = _Cells(ids[:2000], positions[:2000]), _Cells(ids[2000:], positions[2000:])
    kw = dict(d_weight_min=0.05, d_weight_max=0.4, d_max=d_max, nsyn_min=3, nsyn_max=7)
    lean = rules.distance_connector_fast(sources, targets, seed=stream(9, "x"), **kw)
    plain = _window_rule(sources, targets, seed=stream(9, "x"), **kw)
    assert len(plain[0]) > 300
    for a, b in zip(lean, plain, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def _plain_build(out, n_cells: int, seed: int, monkeypatch) -> None:
    """bmtk's own build() and save() of the model's networks, with the window rule."""
    monkeypatch.setattr(build_module, "distance_connector_fast", vectorized(_window_rule))
    spec = ModelSpec.load()
    v1 = build_v1(spec, n_cells, seed)
    lgn = build_lgn(spec, v1, n_cells, seed)
    for net in (v1, lgn):
        net.build()
        net.save(output_dir=str(out))
    monkeypatch.undo()


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
    """Same seed: the lean and the plain path give equal SONATA files (datasets, dtypes, attributes, order) and
    equal node- and edge-type tables. Small draw chunks make the lean rule cut its tables at many places."""
    n_cells, seed = 2500, 4
    _plain_build(tmp_path / "plain", n_cells, seed, monkeypatch)
    monkeypatch.setattr(rules, "DRAW_CHUNK", 4096)
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
