"""The built network: populations, geometry, connection statistics, SONATA layout, bmtk/NEST loading, seeds."""

from __future__ import annotations

import hashlib
import json

import h5py
import nest
import numpy as np
import pandas as pd
import pytest
from helpers import SMALL_N, read_edges, read_nodes
from scipy import stats
from scipy.spatial.distance import cdist

from build_network import build_network
from build_network.build import NETWORK_FILES, lgn_field_deg
from build_network.params import COMPONENTS_DIR, population_sizes
from build_network.rules import connection_probability, convert_to_2d

FAMILY_ALPHA = 0.01  # the whole family of per-bin checks holds with 99% probability (Bonferroni)
N_BINS = 10


def test_population_counts_and_fractions(small_network, spec):
    nodes = read_nodes(small_network, "V1")
    counts = nodes.pop_name.value_counts().to_dict()
    assert counts == population_sizes(spec.populations, SMALL_N)
    assert len(nodes) == SMALL_N
    for pop in spec.populations.itertuples():
        assert abs(counts[pop.pop_name] / SMALL_N - pop.fraction) <= 0.5 / SMALL_N + 1e-12
    assert population_sizes(spec.populations, 10000) == {"LIF_exc": 8500, "PV": 440, "SST": 320, "VIP": 740}


def test_node_attributes_and_positions_inside_column(small_network, spec):
    nodes = read_nodes(small_network, "V1")
    for column in ("pop_name", "ei", "model_type", "model_template", "dynamics_params",
                   "x", "y", "z"):
        assert column in nodes and nodes[column].notna().all(), column
    ei = dict(zip(spec.populations.pop_name, spec.populations.ei, strict=True))
    assert (nodes.ei == nodes.pop_name.map(ei)).all()
    assert set(nodes.model_template) == {"nest:iaf_psc_delta"}
    radius = spec.column.radius_um(SMALL_N)
    assert np.hypot(nodes.x, nodes.z).max() <= radius
    depth = -nodes.y
    assert depth.between(spec.column.depth_min_um, spec.column.depth_max_um).all()
    # the column keeps the density it was built for
    volume_mm3 = np.pi * radius**2 * spec.column.thickness_um * 1e-9
    assert SMALL_N / volume_mm3 == pytest.approx(spec.column.density_per_mm3)
    # uniform in the disc: the fraction within half the radius is 1/4
    inner = (np.hypot(nodes.x, nodes.z) < radius / 2).sum()
    assert stats.binomtest(int(inner), SMALL_N, 0.25).pvalue > 0.001


def test_lgn_nodes(small_network, spec):
    lgn = read_nodes(small_network, "LGN")
    assert len(lgn) == spec.column.lgn_n_cells
    assert set(lgn.pop_name) == {"tON"} and set(lgn.model_type) == {"virtual"}
    half_x, half_y = lgn_field_deg(spec.column, spec.column.radius_um(SMALL_N))
    assert lgn.x.abs().max() <= half_x and lgn.y.abs().max() <= half_y
    # the field is the image of the column: it is covered, not just a corner of it
    assert lgn.x.abs().max() > 0.9 * half_x and lgn.y.abs().max() > 0.9 * half_y


@pytest.fixture(scope="module")
def v1_edges(small_network):
    return read_edges(small_network, "V1", "V1")


@pytest.mark.parametrize("pair", range(16))
def test_v1_connection_probability_by_distance(pair, small_network, spec, v1_edges):
    """Connected fraction per distance bin within a binomial 99% (family-wise) interval of the rule."""
    row = spec.v1_connections.iloc[pair]
    nodes = read_nodes(small_network, "V1")
    src = nodes[nodes.pop_name == row.source]
    trg = nodes[nodes.pop_name == row.target]
    xyz = ["x", "y", "z"]
    r = cdist(src[xyz].to_numpy(), trg[xyz].to_numpy())
    valid = src.node_id.to_numpy()[:, None] != trg.node_id.to_numpy()[None, :]
    edges = v1_edges[(v1_edges.source_query == f"pop_name=='{row.source}'")
                     & (v1_edges.target_query == f"pop_name=='{row.target}'")]
    assert len(edges) > 0
    assert not (edges.source_node_id == edges.target_node_id).any(), "self connection"
    assert edges.nsyns.between(row.nsyn_min, row.nsyn_max).all()
    assert not edges.duplicated(["source_node_id", "target_node_id"]).any()
    connected = np.zeros_like(valid)
    si = pd.Index(src.node_id).get_indexer(edges.source_node_id)
    ti = pd.Index(trg.node_id).get_indexer(edges.target_node_id)
    connected[si, ti] = True
    assert not connected[r > row.d_max_um].any(), "edge beyond d_max"
    p = connection_probability(r, row.d_weight_min, row.d_weight_max, row.d_max_um)
    bins = np.minimum((r / row.d_max_um * N_BINS).astype(int), N_BINS)
    level = 1 - FAMILY_ALPHA / (16 * N_BINS)
    for b in range(N_BINS):
        in_bin = valid & (bins == b)
        n = int(in_bin.sum())
        if n == 0:
            continue
        lo, hi = stats.binom.interval(level, n, p[in_bin].mean())
        observed = int(connected[in_bin].sum())
        assert lo <= observed <= hi, (row.source, row.target, b, n, observed, lo, hi)


def test_v1_synapse_counts_uniform(v1_edges):
    counts = v1_edges.nsyns.value_counts().sort_index()
    assert list(counts.index) == [3, 4, 5, 6, 7]
    assert stats.chisquare(counts.to_numpy()).pvalue > 0.001


def test_v1_edge_types_carry_weights_and_delays(small_network, spec, v1_edges):
    types = pd.read_csv(small_network / "V1_V1_edge_types.csv", sep=" ")
    assert len(types) == 16
    ei = dict(zip(spec.populations.pop_name, spec.populations.ei, strict=True))
    for row in spec.v1_connections.itertuples():
        t = types[(types.source_query == f"pop_name=='{row.source}'")
                  & (types.target_query == f"pop_name=='{row.target}'")].iloc[0]
        mean_nsyn = (row.nsyn_min + row.nsyn_max) / 2
        sign = 1 if ei[row.source] == "e" else -1
        scale = spec.weight_scales[f"{ei[row.source]}_to_{ei[row.target]}"]
        assert t.syn_weight == pytest.approx(sign * row.psp_mv / mean_nsyn * scale)
        assert t.delay == row.delay_ms
        assert t.dynamics_params == ("instantaneousExc.json" if sign > 0 else "instantaneousInh.json")
        assert t.model_template == "static_synapse"


def test_lgn_edges(small_network, spec):
    edges = read_edges(small_network, "LGN", "V1")
    v1 = read_nodes(small_network, "V1").set_index("node_id")
    lgn = read_nodes(small_network, "LGN").set_index("node_id")
    row = spec.lgn_connections.iloc[0]
    per_target = edges.groupby("target_node_id").size().reindex(v1.index, fill_value=0)
    # with d_max = 300 deg every candidate is in range, so sources per target is the candidate count
    assert per_target.between(row.nsources_min, row.nsources_max).all()
    values = per_target.value_counts().reindex(range(row.nsources_min, row.nsources_max + 1), fill_value=0)
    assert stats.chisquare(values.to_numpy()).pvalue > 0.001, "sources per target not uniform"
    assert edges.nsyns.between(row.nsyn_min, row.nsyn_max).all()
    assert set(edges.nsyns) == set(range(int(row.nsyn_min), int(row.nsyn_max) + 1))
    assert not edges.duplicated(["source_node_id", "target_node_id"]).any()
    target_xy = convert_to_2d(v1.loc[edges.target_node_id, ["x", "y", "z"]],
                              spec.column.deg_per_um_x, spec.column.deg_per_um_z)
    source_xy = lgn.loc[edges.source_node_id, ["x", "y"]].to_numpy()
    assert np.hypot(*(source_xy - target_xy).T).max() <= row.d_max_deg


def test_sonata_layout(small_network):
    for name in NETWORK_FILES:
        assert (small_network / name).is_file(), name
    with h5py.File(small_network / "V1_nodes.h5", "r") as h5:
        assert h5.attrs["magic"] == 0x0A7A and list(h5.attrs["version"]) == [0, 1]
        grp = h5["nodes/V1"]
        assert {"node_id", "node_type_id", "node_group_id", "node_group_index", "0"} <= set(grp)
        assert grp["0/positions"].shape == (SMALL_N, 3)
        assert np.array_equal(grp["node_id"][()], np.arange(SMALL_N))
    for src, trg in (("V1", "V1"), ("LGN", "V1")):
        with h5py.File(small_network / f"{src}_{trg}_edges.h5", "r") as h5:
            grp = h5[f"edges/{src}_to_{trg}"]
            assert grp["source_node_id"].attrs["node_population"] == src
            assert grp["target_node_id"].attrs["node_population"] == trg
            targets = grp["target_node_id"][()]
            assert np.all(np.diff(targets.astype(np.int64)) >= 0), "edges not sorted by target"
            # the target index points every node at exactly its own edges
            ranges = grp["indices/target_to_source/node_id_to_range"][()]
            edge_ranges = grp["indices/target_to_source/range_to_edge_id"][()]
            for node in (0, SMALL_N // 2, SMALL_N - 1):
                first, last = ranges[node]
                ids = np.concatenate([np.arange(a, b) for a, b in edge_ranges[first:last]] or [[]]).astype(int)
                assert np.array_equal(np.sort(ids), np.flatnonzero(targets == node))
            assert "source_to_target" in grp["indices"]


def test_loads_in_bmtk_sonata_reader(small_network):
    from bmtk.utils import sonata

    net = sonata.File(data_files=[str(small_network / "V1_nodes.h5"), str(small_network / "V1_V1_edges.h5")],
                      data_type_files=[str(small_network / "V1_node_types.csv"),
                                       str(small_network / "V1_V1_edge_types.csv")])
    v1 = net.nodes["V1"]
    assert len(v1) == SMALL_N
    assert v1.get_node_id(0)["pop_name"] == "LIF_exc"
    edges = net.edges["V1_to_V1"]
    total = sum(1 for _ in edges.get_target(SMALL_N - 1))
    assert total == int((read_edges(small_network, "V1", "V1").target_node_id == SMALL_N - 1).sum())


def test_pointnet_builds_it_in_nest(small_network, tmp_path, v1_edges):
    """PointNet creates one NEST connection per V1 edge, with weight nsyns x syn_weight and the type's delay."""
    from bmtk.simulator import pointnet

    config = {
        "manifest": {"$NET": str(small_network), "$COMP": str(COMPONENTS_DIR)},
        "target_simulator": "NEST",
        "run": {"tstart": 0.0, "tstop": 1.0, "dt": 0.1},
        "output": {"output_dir": str(tmp_path / "output"), "log_file": "log.txt", "spikes_file": "spikes.h5",
                   "quiet_simulator": True},
        "components": {"synaptic_models_dir": "$COMP/synaptic_models",
                       "point_neuron_models_dir": "$COMP/point_neuron_models"},
        "networks": {"nodes": [{"nodes_file": "$NET/V1_nodes.h5", "node_types_file": "$NET/V1_node_types.csv"}],
                     "edges": [{"edges_file": "$NET/V1_V1_edges.h5",
                                "edge_types_file": "$NET/V1_V1_edge_types.csv"}]},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    cfg = pointnet.Config.from_json(str(tmp_path / "config.json"))
    cfg.build_env()
    net = pointnet.PointNetwork.from_config(cfg)
    pointnet.PointSimulator.from_config(cfg, net)
    conns = nest.GetConnections()
    assert len(conns) == len(v1_edges)
    got = pd.DataFrame(conns.get(["source", "target", "weight", "delay"])).rename(
        columns={"weight": "nest_weight", "delay": "nest_delay"})
    got["source_node_id"] = got.source - 1  # NEST ids start at 1, in node order
    got["target_node_id"] = got.target - 1
    merged = got.merge(v1_edges, on=["source_node_id", "target_node_id"], validate="one_to_one")
    assert len(merged) == len(v1_edges)
    assert np.allclose(merged.nest_weight, merged.nsyns * merged.syn_weight)
    assert np.allclose(merged.nest_delay, merged.delay)
    keys = ["V_th", "E_L", "C_m", "tau_m", "t_ref", "V_reset"]
    model = nest.NodeCollection([1]).get(keys)
    expected = json.loads((COMPONENTS_DIR / "point_neuron_models" / "LIF_exc.json").read_text())
    assert [model[k] for k in keys] == pytest.approx([expected[k] for k in keys])


def _digest(folder) -> dict:
    out = {}
    for name in NETWORK_FILES:
        if name.endswith(".h5"):
            out[name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        else:  # bmtk orders CSV columns by set order: compare the table, not the column order
            table = pd.read_csv(folder / name, sep=" ")
            out[name] = table[sorted(table.columns)].to_csv(index=False)
    return out


def test_same_seed_same_network_and_other_seed_differs(tmp_path):
    a = build_network(tmp_path / "a", n_cells=800, seed=11, progress=False)
    build_network(tmp_path / "b", n_cells=800, seed=11, progress=False)
    build_network(tmp_path / "c", n_cells=800, seed=12, progress=False)
    assert a["seed"] == 11
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    differ = {k for k, v in _digest(tmp_path / "c").items() if v != _digest(tmp_path / "a")[k]}
    assert {"V1_nodes.h5", "V1_V1_edges.h5", "LGN_nodes.h5", "LGN_V1_edges.h5"} <= differ



def test_column_wider_than_the_tangent_builds(tmp_path, spec):
    """A column whose edge lies beyond 90 deg of visual angle (the 230,924-cell column: 131 deg) used to stop with
    numpy's 'high - low < 0' (the tangent changes sign past 90 deg); it maps by visual angle instead."""
    from dataclasses import replace

    from build_network.build import visual_projection

    assert visual_projection(spec.column, spec.column.radius_um(10_000)) == "tan"
    assert visual_projection(spec.column, spec.column.radius_um(230_924)) == "angle"
    half_x, half_y = lgn_field_deg(spec.column, spec.column.radius_um(230_924))
    assert (half_x, half_y) == pytest.approx((0.07 * 1870.897, 0.04 * 1870.897), rel=1e-5)
    wide = replace(spec, column=replace(spec.column, deg_per_um_x=1.5))  # 400 cells: 78 um x 1.5 deg/um = 117 deg
    info = build_network(tmp_path / "wide", n_cells=400, seed=1, spec=wide, progress=False)
    assert info["visual_projection"] == "angle" and info["lgn_field_deg"][0] > 0
    lgn = read_nodes(tmp_path / "wide", "LGN")
    assert lgn.x.abs().max() <= info["lgn_field_deg"][0]
