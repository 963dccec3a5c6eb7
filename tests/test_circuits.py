"""The conductance-based circuits: built connectivity against each topology's definition, bad input, the regimes
at CI size, the command line, and the sweep on Dask."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import read_edges, read_nodes
from scipy import stats

from studies.circuits.__main__ import main as circuits_main
from studies.circuits.build import build_circuit
from studies.circuits.params import PARAMS_FILE, CircuitError, make_spec
from studies.circuits.run import run_circuit
from studies.circuits.topology import ring_distance, ring_probability
from studies.criticality.sweep import collect, next_points, sweep

N = 1000
FAMILY_CONFIDENCE = 0.99


def _built(tmp_path_factory, topology: str, **options):
    folder = tmp_path_factory.mktemp(topology)
    build_circuit(make_spec(topology, n_cells=N, **options), folder / "circuit")
    network = folder / "circuit" / "network"
    nodes = read_nodes(network, "circuit")
    edges = read_edges(network, "circuit", "circuit")
    return nodes, edges


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return {t: _built(tmp_path_factory, t) for t in ("random", "ring", "layered")}


def _check_counts(observed: np.ndarray, trials: np.ndarray, p: np.ndarray, n_tests: int) -> None:
    """Each observed count lies in the two-sided binomial interval of its expectation (Bonferroni over the family)."""
    alpha = (1 - FAMILY_CONFIDENCE) / n_tests
    lo = stats.binom.ppf(alpha / 2, trials, p)
    hi = stats.binom.isf(alpha / 2, trials, p)
    assert np.all((observed >= lo) & (observed <= hi)), (observed, lo, hi)


def _pairs(nodes: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    ei = nodes.set_index("node_id").ei
    return edges.assign(s=ei.reindex(edges.source_node_id).to_numpy(), t=ei.reindex(edges.target_node_id).to_numpy())


def test_random_connects_each_class_pair_with_its_probability(built):
    nodes, edges = built["random"]
    spec = make_spec("random", n_cells=N)
    pairs = _pairs(nodes, edges)
    sizes = nodes.ei.value_counts()
    assert not (edges.source_node_id == edges.target_node_id).any()
    assert not edges.duplicated(["source_node_id", "target_node_id"]).any()
    keys = [(s, t) for s in "ei" for t in "ei"]
    observed = np.array([((pairs.s == s) & (pairs.t == t)).sum() for s, t in keys])
    trials = np.array([sizes[s] * sizes[t] - (sizes[s] if s == t else 0) for s, t in keys])
    p = np.array([spec.params["connection_probability"][f"{s}_to_{t}"] for s, t in keys])
    _check_counts(observed, trials, p, len(keys))
    assert sizes["e"] == 800 and sizes["i"] == 200


def test_random_rejects_a_ten_percent_error():
    """The binomial check has power: counts drawn at 1.1 p fail it."""
    trials = np.full(4, 800 * 800)
    observed = stats.binom.rvs(trials, 0.055, random_state=np.random.default_rng(0))
    with pytest.raises(AssertionError):
        _check_counts(observed, trials, np.full(4, 0.05), 4)


def test_ring_probability_falls_with_ring_distance_as_defined(built):
    nodes, edges = built["ring"]
    spec = make_spec("ring", n_cells=N)
    pos = nodes.set_index("node_id").ring_position
    d_edges = ring_distance(pos.reindex(edges.source_node_id).to_numpy(), pos.reindex(edges.target_node_id).to_numpy())
    all_d = ring_distance(pos.to_numpy()[:, None], pos.to_numpy()[None, :])
    np.fill_diagonal(all_d, np.nan)
    bins = np.array([0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.5001])
    observed = np.histogram(d_edges, bins)[0]
    trials = np.histogram(all_d[np.isfinite(all_d)], bins)[0]
    # all class pairs share p = 0.05, so one kernel applies; the expectation per bin is the mean of p(d) over its pairs
    flat = all_d[np.isfinite(all_d)]
    which = np.digitize(flat, bins) - 1
    p = np.array([ring_probability(flat[which == k], 0.05, spec.params["ring"]["width"]).mean()
                  for k in range(len(bins) - 1)])
    _check_counts(observed, trials, p, len(observed))
    assert observed[0] / trials[0] > 5 * observed[-1] / max(trials[-1], 1)  # near pairs connect far more often
    mean_in = len(edges) / N
    assert abs(mean_in - 0.05 * (N - 1)) < 4 * np.sqrt(0.05 * (N - 1))  # the same in-degree as random


def test_layered_has_no_backward_edges_and_forward_edges_only_from_e(built):
    nodes, edges = built["layered"]
    spec = make_spec("layered", n_cells=N)
    n_layers = spec.params["layered"]["n_layers"]
    table = nodes.set_index("node_id")
    ls = table.layer.reindex(edges.source_node_id).to_numpy()
    lt = table.layer.reindex(edges.target_node_id).to_numpy()
    source_ei = table.ei.reindex(edges.source_node_id).to_numpy()
    assert sorted(np.unique(table.layer)) == list(range(n_layers))
    assert np.all((lt == ls) | (lt == ls + 1))  # recurrent or one layer forward: nothing backward, nothing skips
    assert np.all(source_ei[lt == ls + 1] == "e")
    # forward E -> next layer at p_forward, within-layer at the class probability
    e_per_layer = table[table.ei == "e"].groupby("layer").size()
    cells_per_layer = table.groupby("layer").size()
    forward = np.array([((ls == k) & (lt == k + 1)).sum() for k in range(n_layers - 1)])
    trials = np.array([e_per_layer[k] * cells_per_layer[k + 1] for k in range(n_layers - 1)])
    _check_counts(forward, trials, np.full(n_layers - 1, spec.params["layered"]["p_forward"]), n_layers - 1)
    within = np.array([((ls == k) & (lt == k)).sum() for k in range(n_layers)])
    trials = np.array([cells_per_layer[k] * (cells_per_layer[k] - 1) for k in range(n_layers)])
    _check_counts(within, trials, np.full(n_layers, 0.05), n_layers)


def test_same_seed_same_circuit_and_another_seed_another(tmp_path):
    a = build_circuit(make_spec("ring", n_cells=300, seed=3), tmp_path / "a").parent
    b = build_circuit(make_spec("ring", n_cells=300, seed=3), tmp_path / "b").parent
    c = build_circuit(make_spec("ring", n_cells=300, seed=4), tmp_path / "c").parent
    ea, eb, ec = (read_edges(x / "network", "circuit", "circuit") for x in (a, b, c))
    pd.testing.assert_frame_equal(ea, eb)
    assert not ea[["source_node_id", "target_node_id"]].equals(ec[["source_node_id", "target_node_id"]])
    assert (a / "inputs" / "drive_spikes.h5").read_bytes() == (b / "inputs" / "drive_spikes.h5").read_bytes()


def test_weights_signs_and_neuron_reach_the_files(tmp_path):
    folder = build_circuit(make_spec("random", n_cells=200, weight_scale=2.0, exc_weight_nS=0.5, inh_weight_nS=3.0),
                           tmp_path / "w").parent
    types = pd.read_csv(folder / "network" / "circuit_circuit_edge_types.csv", sep=" ")
    weights = dict(zip(types.source_query, types.syn_weight, strict=False))
    assert weights["ei=='e'"] == pytest.approx(1.0) and weights["ei=='i'"] == pytest.approx(-3.0)
    neuron = json.loads((folder / "components" / "point_neuron_models" / "circuit_neuron.json").read_text())
    assert neuron["tau_syn_ex"] == 5.0 and neuron["E_in"] == -80.0 and neuron["C_m"] == 250.0


def test_a_parameter_file_missing_a_field_is_a_clear_error(tmp_path):
    params = json.loads(PARAMS_FILE.read_text())
    del params["drive"]["rate_hz"]
    (tmp_path / "p.json").write_text(json.dumps(params))
    with pytest.raises(CircuitError, match=r"drive lacks \['rate_hz'\]"):
        make_spec("random", params_file=tmp_path / "p.json")
    params["drive"]["rate_hz"] = 300.0
    del params["ring"]
    (tmp_path / "p.json").write_text(json.dumps(params))
    with pytest.raises(CircuitError, match="section 'ring' is missing"):
        make_spec("random", params_file=tmp_path / "p.json")


@pytest.mark.parametrize(("options", "message"), [
    ({"topology": "smallworld"}, "unknown topology 'smallworld'"),
    ({"n_cells": 0}, "--n (n_cells) must be a positive"),
    ({"n_cells": -10}, "--n (n_cells) must be a positive"),
    ({"p_connect": 1.5}, "must be >= 0 and <= 1"),
    ({"p_connect": -0.1}, "must be >= 0 and <= 1"),
    ({"weight_scale": -1.0}, "--weight-scale must be >= 0,"),
    ({"topology": "layered", "n_cells": 6}, "too few for 4 layer(s)"),
    ({"topology": "ring", "p_connect": 0.6}, "too narrow"),
])
def test_bad_parameters_are_clear_errors(options, message):
    options = {"topology": "random", **options}
    with pytest.raises(CircuitError) as err:
        make_spec(**options)
    assert message in str(err.value)


def _exit_code(argv: list[str]) -> int:
    """The exit code of ``python -m studies.circuits argv`` (argparse exits by itself on a malformed option)."""
    try:
        return circuits_main(argv)
    except SystemExit as stop:
        return int(stop.code)


@pytest.mark.parametrize(("argv", "message"), [
    (["--topology", "torus"], "must be one of random, ring, layered"),
    (["--topology", "ring", "--n", "0"], "must be > 0"),
    (["--topology", "ring", "--p-connect", "2"], "must be >= 0 and <= 1"),
    (["--topology", "ring", "--bin-ms", "-1"], "--bin-ms must be > 0"),
])
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert _exit_code(["run", *argv, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert circuits_main(["run", "--topology", "random", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"


@pytest.fixture(scope="module")
def regimes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("regimes")
    return {g: run_circuit(make_spec("random", n_cells=N, weight_scale=g, tstop_ms=1000.0), folder / f"g{g}",
                           figures=g == 0.0)
            for g in (0.0, 1.5)}


def test_weak_coupling_is_sub_critical(regimes):
    result = regimes[0.0]
    assert result["criticality"]["regime"] == "sub-critical"
    assert result["mean_rate_hz_all"] < 10.0


def test_strong_coupling_is_super_critical(regimes):
    result = regimes[1.5]
    assert result["criticality"]["regime"] == "super-critical"
    assert result["mean_rate_hz_all"] > 10 * regimes[0.0]["mean_rate_hz_all"]  # runaway


def test_a_run_writes_its_result_and_pictures(regimes):
    result = regimes[0.0]
    folder = result["out_dir"]
    saved = json.loads(open(f"{folder}/result.json").read())
    assert saved["criticality"]["regime"] == result["criticality"]["regime"]
    for name in ("network.png", "raster.png", "avalanches.png"):
        data = open(f"{folder}/figures/{name}", "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_next_points_bracket_the_target_on_the_rising_branch():
    table = pd.DataFrame({"weight_scale": [0.0, 0.5, 1.0, 1.5], "branching_ratio_mr": [0.9, 0.97, 0.99, 0.97]})
    assert next_points(table, 0.95, 1) == [0.25]  # between 0.0 and 0.5; the falling branch is ignored
    assert next_points(table, 1.0, 2) == pytest.approx([0.8333, 1.1667])  # between the neighbours of the closest


def test_sweep_runs_points_on_dask_and_reuses_finished_ones(tmp_path):
    spec = make_spec("random", n_cells=200, tstop_ms=400.0)
    table = sweep(spec, [0.0, 1.0], tmp_path / "sweep", workers=2)
    assert table.weight_scale.tolist() == [0.0, 1.0]
    assert (tmp_path / "sweep" / "sweep.csv").is_file()
    stamp = (tmp_path / "sweep" / "g_0.0000" / "result.json").stat().st_mtime_ns
    again = sweep(spec, [0.0], tmp_path / "sweep", workers=1)
    assert (tmp_path / "sweep" / "g_0.0000" / "result.json").stat().st_mtime_ns == stamp
    assert len(again) == 2 and len(collect(tmp_path / "sweep", spec)) == 2


def test_a_circuit_folder_opens_in_libsonata(tmp_path):
    """The circuit's network and drive spikes are SONATA that libsonata reads (issue 20), equal to h5py's view."""
    import h5py
    import libsonata

    build_circuit(make_spec("random", n_cells=N), tmp_path / "circuit")
    network = tmp_path / "circuit" / "network"
    nodes = libsonata.NodeStorage(str(network / "circuit_nodes.h5")).open_population("circuit")
    assert nodes.size == N
    edges = libsonata.EdgeStorage(str(network / "circuit_circuit_edges.h5"))
    population = edges.open_population(next(iter(edges.population_names)))
    with h5py.File(network / "circuit_circuit_edges.h5") as h5:
        group = h5["edges"][population.name]
        targets = group["target_node_id"][()]
    for node in (0, N // 2, N - 1):
        selection = population.afferent_edges([node])
        assert selection.flat_size == int((targets == node).sum())
