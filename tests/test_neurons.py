"""Single-neuron dynamics on NEST against closed forms, the Naud et al. 2008 patterns, noise seeds, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from build_network.params import CELL_MODELS_DIR
from studies.neurons.__main__ import main
from studies.neurons.models import NeuronError, load_model
from studies.neurons.patterns import classify, run_patterns
from studies.neurons.simulate import fi_curve, rheobase, trace
from studies.neurons.stimuli import Stimulus, parse_currents
from studies.neurons.theory import eif_rheobase, lif_rate, lif_rheobase, lif_step_response


@pytest.mark.parametrize("name, t_ref", [("lif", 2.0), ("lif", 0.0), ("lif_cond", 2.0), ("PV", None)])
def test_lif_fi_curve_matches_the_closed_form(name, t_ref):
    model = load_model(name, t_ref_ms=t_ref)
    rh = lif_rheobase(model)
    currents = np.concatenate([np.linspace(0.2 * rh, 0.99 * rh, 5), rh * np.array([1.01, 1.05, 1.2, 1.5, 2, 3, 5])])
    measured = fi_curve(model, currents).rate_hz.to_numpy()
    expected = lif_rate(model, currents)
    below = currents < rh
    assert (measured[below] == 0).all() and (expected[below] == 0).all()
    np.testing.assert_allclose(measured[~below], expected[~below], rtol=0.01)


def test_refractoriness_caps_the_rate():
    model = load_model("lif", t_ref_ms=2.0)
    rates = fi_curve(model, np.array([1e4, 1e5, 1e6])).rate_hz
    assert (rates <= 1000.0 / 2.0 + 1e-9).all() and rates.iloc[-1] > 0.95 * 500.0


def test_exponential_lif_rheobase_matches_theory():
    model = load_model("elif")
    theory = eif_rheobase(model)  # g_L (V_T - E_L - Delta_T) = 546 pA
    assert theory == pytest.approx(30.0 * (-50.4 + 70.6 - 2.0))
    assert rheobase(model, 0.9 * theory, 1.1 * theory, rounds=3) == pytest.approx(theory, rel=0.005)
    assert np.isnan(rheobase(model, 0.0, 0.8 * theory))  # never fires below the rheobase


def test_subthreshold_step_response_of_the_lif():
    model = load_model("lif")
    amp, start = 200.0, 50.0  # below the 375 pA rheobase
    tr = trace(model, Stimulus("step", amp_pa=amp, start_ms=start), 150.0)
    assert len(tr.spikes_ms) == 0
    on = tr.table[tr.table.i_pa > 0]
    onset = on.time_ms.iloc[0]  # i_pa(t): the current the neuron integrates over the step starting at t
    t = tr.table.time_ms.to_numpy()
    expected = np.where(t > onset, lif_step_response(model, amp, np.clip(t - onset, 0, None)), model.params["E_L"])
    assert np.abs(tr.table.v_mv.to_numpy() - expected).max() < 1e-6  # mV
    assert tr.table.v_mv.iloc[-1] == pytest.approx(model.params["E_L"] + amp * 10.0 / 250.0, abs=0.01)


def test_noise_is_seeded_and_has_the_requested_mean():
    model = load_model("lif")
    stim = Stimulus("noise", mean_pa=300.0, std_pa=200.0)
    a, b, c = (trace(model, stim, 1000.0, seed=s) for s in (1, 1, 2))
    pd.testing.assert_frame_equal(a.table, b.table)
    assert not np.allclose(a.table.v_mv, c.table.v_mv)
    for tr in (a, c):
        steps = tr.table.i_pa.to_numpy()[tr.table.time_ms.to_numpy() % 1.0 < 1e-6]  # one value per 1 ms draw
        assert abs(steps.mean() - 300.0) < 4 * 200.0 / np.sqrt(len(steps))
        assert steps.std() == pytest.approx(200.0, rel=0.15)


def test_naud_patterns_classify_as_the_paper_says():
    results = {str(row.pattern): measured["pattern"] for row, _, _, measured in run_patterns()}
    for pattern in ("tonic", "adapting", "initial burst", "regular bursting"):
        assert results[pattern] == pattern
    assert results == {p: p for p in results}  # the other four too


def test_classifier_on_hand_made_trains():
    tonic = np.arange(20.0, 1000.0, 10.0)
    assert classify(tonic, 0.0, 1000.0)["pattern"] == "tonic"
    adapting = 20.0 + np.cumsum(np.minimum(10.0 * 1.3 ** np.arange(30), 80.0))
    assert classify(adapting[adapting < 1000], 0.0, 1000.0)["pattern"] == "adapting"
    bursts = np.sort(np.concatenate([b + np.array([0.0, 3.0, 7.0]) for b in np.arange(20.0, 1000.0, 100.0)]))
    assert classify(bursts, 0.0, 1000.0)["pattern"] == "regular bursting"
    assert classify(np.array([30.0, 45.0]), 0.0, 1000.0)["pattern"] == "transient"
    assert classify(np.array([]), 0.0, 1000.0)["pattern"] == "silent"


def test_v1_cell_models_are_valid_inputs():
    pv = json.loads((CELL_MODELS_DIR / "PV.json").read_text())
    assert load_model("PV").params == {k: float(v) for k, v in pv.items()}
    assert load_model("lif", CELL_MODELS_DIR / "PV.json").params["tau_m"] == pv["tau_m"]


def test_trace_command_writes_the_trace_spikes_and_figure(tmp_path):
    out = tmp_path / "adex"
    assert main(["trace", "--model", "adex", "--input", "step", "--amp", "800", "--start", "100", "--stop", "400",
                 "--duration", "500", "--out", str(out)]) == 0
    table = pd.read_csv(out / "trace.csv")
    assert list(table.columns) == ["time_ms", "v_mv", "i_pa", "w_pa"]
    assert table.i_pa.max() == 800.0 and table.i_pa.iloc[-1] == 0.0 and table.w_pa.max() > 0
    spikes = pd.read_csv(out / "spikes.csv").time_ms
    assert len(spikes) > 0 and spikes.between(100, 420).all() and (out / "trace.png").stat().st_size > 10_000


def test_fi_command_with_rheobase(tmp_path):
    out = tmp_path / "fi.csv"
    assert main(["fi", "--model", "lif", "elif", "--t-ref", "0", "--currents", "0:800:100", "--out", str(out),
                 "--plot"]) == 0
    table = pd.read_csv(out)
    assert set(table.model) == {"lif", "elif"} and len(table) == 18 and (tmp_path / "fi.png").is_file()
    rheo = json.loads((tmp_path / "fi.rheobase.json").read_text())
    assert rheo["lif"]["measured_pa"] == pytest.approx(375.0, rel=0.002)
    assert rheo["elif"]["measured_pa"] == pytest.approx(rheo["elif"]["closed_form_pa"], rel=0.005)


@pytest.mark.parametrize("argv, message", [
    (["trace", "--model", "hh", "--input", "step"], "unknown model 'hh'; valid models are ['lif', 'lif_cond'"),
    (["trace", "--model", "lif", "--input", "ramp"], "unknown input 'ramp'; valid inputs are ['constant'"),
    (["trace", "--model", "lif", "--input", "step", "--duration", "-1"], "--duration must be > 0 ms"),
    (["trace", "--model", "lif", "--input", "noise", "--std", "-5"], "--std must be >= 0 pA"),
    (["trace", "--model", "lif", "--t-ref", "-1", "--input", "step"], "--t-ref must be >= 0 ms"),
    (["fi", "--model", "lif", "--currents", "0:100:0"], "the step must be a finite non-zero number"),
    (["fi", "--model", "lif", "--currents", "0:100"], "--currents must be START:STOP:STEP"),
])
def test_bad_input_exits_2(tmp_path, capsys, argv, message):
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "x").exists()


def test_unknown_nest_parameter_is_named(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"tau_membrane": 10.0}))
    with pytest.raises(NeuronError, match=r"'tau_membrane' is not a parameter of NEST's aeif_cond_exp.*'Delta_T'"):
        load_model("adex", bad)


def test_current_ranges():
    assert parse_currents("100:0:-50").tolist() == [100.0, 50.0, 0.0]
    with pytest.raises(NeuronError, match="never reaches"):
        parse_currents("0:100:-10")


def test_gallery_draws_every_variant_and_the_v1_fi_curves(tmp_path):
    assert main(["gallery", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "gallery.png").stat().st_size > 50_000 and (tmp_path / "v1_fi.png").is_file()
    table = pd.read_csv(tmp_path / "v1_fi.csv")
    assert set(table.model) == {"LIF_exc", "PV", "SST", "VIP"}
    rheo = json.loads((tmp_path / "v1_fi.rheobase.json").read_text())
    for name, r in rheo.items():
        assert r["measured_pa"] == pytest.approx(r["closed_form_pa"], rel=0.002), name
