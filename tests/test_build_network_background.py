"""The background population: its parameter files, the shot-noise closed form, the built files, NEST's weights."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import REPO, read_edges, read_nodes

from build_network import ModelSpec, build_network
from build_network.background import (
    BACKGROUND_FILE,
    POOL_FILE,
    free_potential,
    load_background,
    psps_for,
)
from build_network.params import ParameterError, load_populations
from inputs.spikes import background_sources, write_background_spikes

N_CELLS = 1500


@pytest.fixture(scope="module")
def bkg_network(tmp_path_factory):
    out = tmp_path_factory.mktemp("bkg") / "network"
    build_network(out, n_cells=N_CELLS, seed=5, spec=ModelSpec.for_model("background"), progress=False)
    return out


def test_committed_background_files_load():
    background = load_background(load_populations())
    assert background.population == "BKG" and background.rate_hz > 0
    assert set(background.connections.source_type) == {"exc", "inh"}
    assert len(background.connections) == 8
    # 1 kHz of excitatory background events per cell, the Allen models' background rate
    assert background.event_rates_hz("LIF_exc")["exc"] == pytest.approx(1000.0)


@pytest.mark.parametrize(("column", "value", "message"), [
    ("nsources", "0", "field 'nsources': need a whole number in [1, 1000]"),
    ("nsources", "5000", "need a whole number in [1, 1000]"),
    ("psp_mv", "-1", "field 'psp_mv': -1 must be >= 0 mV"),
    ("psp_mv", "big", "field 'psp_mv': 'big' is not a finite number"),
    ("source_type", "gaba", "field 'source_type': 'gaba' is not one of ['exc', 'inh']"),
    ("target", "L5_IT", "field 'target'"),
    ("delay_ms", "0", "field 'delay_ms': 0 must be > 0 ms"),
])
def test_bad_background_table_names_file_row_and_field(tmp_path, column, value, message):
    table = pd.read_csv(BACKGROUND_FILE, dtype=str)
    table.loc[0, column] = value
    path = tmp_path / "background.csv"
    table.to_csv(path, index=False)
    with pytest.raises(ParameterError) as err:
        load_background(load_populations(), path, POOL_FILE)
    assert str(path) in str(err.value) and "row 1" in str(err.value) and message in str(err.value)


def test_missing_row_and_bad_pool_are_named(tmp_path):
    table = pd.read_csv(BACKGROUND_FILE)
    path = tmp_path / "background.csv"
    table.iloc[1:].to_csv(path, index=False)
    with pytest.raises(ParameterError, match=r"no row for \['exc->LIF_exc'\]"):
        load_background(load_populations(), path, POOL_FILE)
    pool = json.loads(POOL_FILE.read_text())
    pool["rate_hz"] = -3
    bad = tmp_path / "background.json"
    bad.write_text(json.dumps(pool))
    with pytest.raises(ParameterError, match="field 'rate_hz' must be a positive number of Hz, got -3"):
        load_background(load_populations(), BACKGROUND_FILE, bad)


@pytest.mark.parametrize(("tau", "mean", "sd"), [(49.8, 30.0, 8.0), (25.9, 20.0, 6.0), (20.0, 10.0, 4.0)])
def test_psps_give_the_asked_mean_and_sd(tau, mean, sd):
    rates = {"exc": 1000.0, "inh": 500.0}
    psps = psps_for(tau, rates, mean, sd)
    assert psps["exc"] > 0 and psps["inh"] >= 0
    assert free_potential(tau, rates, psps) == pytest.approx((mean, sd), rel=1e-9)


def test_too_little_variance_falls_back_to_excitation_alone():
    # excitation alone at 1 kHz with tau 7 ms fluctuates by sqrt(tau R / 2) J > the SD asked
    psps = psps_for(7.0, {"exc": 1000.0, "inh": 500.0}, 20.0, 1.0)
    assert psps["inh"] == 0.0
    mean, sd = free_potential(7.0, {"exc": 1000.0, "inh": 500.0}, psps)
    assert mean == pytest.approx(20.0) and sd > 1.0


def test_free_potential_matches_a_nest_neuron_under_poisson_input():
    """Campbell's theorem against NEST: iaf_psc_delta with an unreachable threshold, Poisson exc + inh input."""
    code = """
import json, nest, numpy as np
nest.set_verbosity("M_ERROR"); nest.SetKernelStatus({"resolution": 0.1, "rng_seed": 11})
n = nest.Create("iaf_psc_delta", params={"tau_m": 25.0, "C_m": 100.0, "E_L": -70.0, "V_reset": -70.0,
                "V_m": -70.0, "V_th": 1e6, "t_ref": 2.0})
pe = nest.Create("poisson_generator", params={"rate": 1000.0})
pi = nest.Create("poisson_generator", params={"rate": 500.0})
nest.Connect(pe, n, syn_spec={"weight": 1.2, "delay": 1.0})
nest.Connect(pi, n, syn_spec={"weight": -0.8, "delay": 1.0})
m = nest.Create("multimeter", params={"interval": 1.0, "record_from": ["V_m"], "start": 500.0})
nest.Connect(m, n)
nest.Simulate(60500.0)
v = m.get("events")["V_m"] + 70.0
print(json.dumps([float(v.mean()), float(v.std())]))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    mean, sd = json.loads(result.stdout.strip().splitlines()[-1])
    expected = free_potential(25.0, {"exc": 1000.0, "inh": 500.0}, {"exc": 1.2, "inh": 0.8})
    assert expected == pytest.approx((20.0, np.sqrt(0.025 / 2 * (1000 * 1.44 + 500 * 0.64))))
    assert mean == pytest.approx(expected[0], abs=0.3)
    assert sd == pytest.approx(expected[1], rel=0.05)


def test_built_background_files(bkg_network):
    background = load_background(load_populations())
    info = json.loads((bkg_network / "build_info.json").read_text())
    assert "BKG_V1_edges.h5" in info["files"] and info["background"]["n_sources"] == background.n_sources
    nodes = read_nodes(bkg_network, "BKG")
    assert nodes.pop_name.value_counts().to_dict() == {f"bkg_{k}": n for k, n in background.n_sources.items()}
    population, ids, rates = background_sources(bkg_network)
    assert population == "BKG" and len(ids) == sum(background.n_sources.values())
    assert np.all(rates == background.rate_hz)
    edges = read_edges(bkg_network, "BKG", "V1")
    v1 = read_nodes(bkg_network, "V1")
    kind = nodes.set_index("node_id").pop_name.loc[edges.source_node_id].to_numpy()
    edges["kind"] = kind
    per_cell = edges.groupby(["target_node_id", "kind"]).source_node_id.agg(["size", "nunique"])
    # every V1 cell: exactly nsources distinct sources of each kind, one synapse each
    assert len(per_cell) == 2 * len(v1)
    expected = {(r.target, f"bkg_{r.source_type}"): r.nsources for r in background.connections.itertuples()}
    pop_of = v1.set_index("node_id").pop_name
    for (cell, k), row in per_cell.iterrows():
        assert row["size"] == row["nunique"] == expected[(pop_of.loc[cell], k)]
    assert (edges.nsyns == 1).all()
    signs = np.sign(edges.syn_weight)
    assert (signs[edges.kind == "bkg_exc"] >= 0).all() and (signs[edges.kind == "bkg_inh"] <= 0).all()


def test_background_weights_reach_nest(bkg_network, tmp_path):
    """Load the built network through the project's runner and read the BKG -> V1 weights back from NEST."""
    net = tmp_path / "network"
    shutil.copytree(bkg_network, net)
    write_background_spikes(net, tmp_path / "bkg.h5", 50.0, seed=1, dt_ms=0.1)
    config = json.loads((REPO / "config.json").read_text())
    config["manifest"].update({"$BASE_DIR": str(tmp_path), "$NETWORK_DIR": str(net),
                               "$COMPONENTS_DIR": str(REPO / "components"), "$OUTPUT_DIR": str(tmp_path / "out")})
    config["spike_timing"] = "grid"
    config["run"].update({"tstop": 50.0, "dt": 0.1, "n_thread": 1, "precise_times": False})
    config["inputs"] = {"BKG_spikes": {"input_type": "spikes", "module": "sonata", "node_set": "BKG",
                                       "input_file": str(tmp_path / "bkg.h5")}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    code = f"""
import json, nest
from bmtk.simulator import pointnet
from simulation.run import load_config
cfg = load_config({str(path)!r}, build_missing=False)
graph = pointnet.PointNetwork.from_config(cfg)
sim = pointnet.PointSimulator.from_config(cfg, graph)
sim.run()  # bmtk connects the virtual (spike-input) cells when the run starts
v1 = graph.get_node_set("V1").gids()
w = nest.GetConnections(target=nest.NodeCollection(sorted(v1))).get(["weight"])["weight"]
print(json.dumps(sorted(set(round(x, 6) for x in w))))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    weights = set(json.loads(result.stdout.strip().splitlines()[-1]))
    background = load_background(load_populations())
    for row in background.connections.itertuples():
        sign = 1.0 if row.source_type == "exc" else -1.0
        assert round(sign * row.psp_mv, 6) in weights, (row.source_type, row.target)


def test_background_spikes_have_the_sources_rate(bkg_network, tmp_path):
    out = write_background_spikes(bkg_network, tmp_path / "bkg.h5", 10_000.0, seed=3)
    from analysis.rates import read_spikes

    spikes = read_spikes(out, "BKG")
    population, ids, rates = background_sources(bkg_network)
    counts = spikes.node_id.value_counts().reindex(ids, fill_value=0)
    assert counts.mean() / 10.0 == pytest.approx(rates.mean(), rel=0.02)
    # Poisson counts: variance = mean (index of dispersion near 1)
    assert counts.var() / counts.mean() == pytest.approx(1.0, abs=0.15)
    assert spikes.timestamp_ms.between(0, 10_000.0).all()
    again = read_spikes(write_background_spikes(bkg_network, tmp_path / "again.h5", 10_000.0, seed=3), "BKG")
    assert again.equals(spikes)


def test_a_network_without_background_is_refused_for_background_spikes(small_network, tmp_path):
    from inputs.units import UnitsError

    with pytest.raises(UnitsError, match="has no background population"):
        write_background_spikes(small_network, tmp_path / "x.h5", 100.0, seed=0)


def test_the_runner_makes_missing_background_spikes_or_names_the_command(bkg_network, tmp_path, capsys):
    from simulation.config import ConfigError
    from simulation.run import load_config

    config = json.loads((REPO / "config.json").read_text())
    config["manifest"].update({"$BASE_DIR": str(tmp_path), "$NETWORK_DIR": str(bkg_network),
                               "$COMPONENTS_DIR": str(REPO / "components"), "$OUTPUT_DIR": str(tmp_path / "out"),
                               "$INPUTS_DIR": str(tmp_path / "inputs")})
    config["run"]["tstop"] = 100.0
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    load_config(path, build_missing=True)
    assert (tmp_path / "inputs" / "bkg_spikes.h5").is_file() and (tmp_path / "inputs" / "lgn_spikes.h5").is_file()
    assert "making the background spikes" in capsys.readouterr().out
    (tmp_path / "inputs" / "bkg_spikes.h5").unlink()
    with pytest.raises(ConfigError, match=r"make it with: python -m inputs background --config"):
        load_config(path, build_missing=False)
