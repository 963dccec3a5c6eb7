"""The single-neuron study on PymoNNtorch, cross-checked against NEST and the closed forms.

Integration steps: PymoNNtorch integrates by forward Euler; NEST integrates the LIF exactly on its grid and the aeif
models by adaptive Runge-Kutta within each step. f-I curves use 0.01 ms on both; the step traces compare both at
0.01 ms; the Naud et al. patterns run NEST at 0.05 ms and PymoNNtorch at 0.01 ms (each simulator's default).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studies.neurons.__main__ import main
from studies.neurons.crosscheck import (
    FI_CASES,
    FI_RTOL,
    RHEOBASE_RTOL,
    TRACE_CASES,
    TRACE_H_MS,
    TRACE_ISI_RTOL,
    TRACE_ISI_STEPS,
    TRACE_V_MV,
    compare_fi,
    compare_patterns,
    compare_rheobase,
    compare_trace,
    render,
)
from studies.neurons.models import NeuronError, NeuronModel, load_model
from studies.neurons.pymonntorch_models import TRANSLATION, simulate, textbook_parameters
from studies.neurons.simulate import rheobase, steady_rates, trace
from studies.neurons.stimuli import Stimulus
from studies.neurons.theory import eif_rheobase, lif_rheobase

MEASURE_MS = 1000.0  # f-I measuring window of these tests (the study's is 2000 ms), after the 500 ms warm-up


def test_translation_gives_the_textbook_parameters():
    lif = textbook_parameters(load_model("lif"))
    assert lif == {"u_rest": -70.0, "u_r": -70.0, "theta": -55.0, "tau_m": 10.0, "R": pytest.approx(10.0 / 250.0),
                   "t_ref": 2.0, "I_e": 0.0, "u_0": -70.0}
    adex = textbook_parameters(load_model("adex"))
    assert adex["tau_m"] == pytest.approx(281.0 / 30.0) and adex["R"] == pytest.approx(1.0 / 30.0)  # ms, GOhm
    assert (adex["theta_rh"], adex["theta_reset"], adex["a"], adex["b"], adex["tau_w"]) == (-50.4, -40.4, 4.0, 80.5,
                                                                                            144.0)
    cond = textbook_parameters(load_model("lif_cond"))
    assert cond["tau_m"] == pytest.approx(250.0 / 16.6667) and cond["I_e"] == 0.0  # I_e: NEST's default
    # every symbol a behaviour reads is translated for every model of its kind
    assert set(TRANSLATION["iaf_psc_delta"]) == set(TRANSLATION["iaf_cond_exp"])
    assert {"Delta_T", "theta_rh", "theta_reset", "a", "b", "tau_w", "w_0"} <= set(TRANSLATION["aeif_cond_exp"])


def test_models_and_parameters_without_a_pymonntorch_version_are_refused():
    with pytest.raises(NeuronError, match=r"gif_psc_exp.*valid NEST models are \['aeif_cond_exp'"):
        textbook_parameters(NeuronModel("x", "gif_psc_exp", {}))
    with pytest.raises(NeuronError, match=r"sets \['V_min'\], which the PymoNNtorch iaf_psc_delta does not model"):
        textbook_parameters(load_model("lif").with_params({"V_min": -80.0}))
    textbook_parameters(load_model("lif_cond").with_params({"tau_syn_ex": 5.0}))  # synaptic: no synapses here


@pytest.mark.slow
@pytest.mark.parametrize("name, t_ref", [c for c in FI_CASES if not load_model(c[0]).adaptive])
def test_lif_fi_curves_agree_with_nest_and_the_closed_form(name, t_ref):
    fi = compare_fi(name, t_ref, MEASURE_MS)
    below = fi.current_pa < lif_rheobase(load_model(name, t_ref_ms=t_ref))
    assert below.sum() == 2 and (fi[below][["nest_hz", "pymonntorch_hz", "closed_form_hz"]] == 0).all().all()
    above = fi[~below]
    assert (above.rel_nest.abs() < FI_RTOL).all() and (above.rel_closed_form.abs() < FI_RTOL).all()
    assert ((above.nest_hz / above.closed_form_hz - 1).abs() < FI_RTOL).all()


@pytest.mark.slow
@pytest.mark.parametrize("name, t_ref", [c for c in FI_CASES if load_model(c[0]).adaptive])
def test_exponential_fi_curves_agree_with_nest(name, t_ref):
    fi = compare_fi(name, t_ref, MEASURE_MS)
    assert ((fi.nest_hz == 0) == (fi.pymonntorch_hz == 0)).all()
    assert (fi.pymonntorch_hz[fi.current_pa >= 800] > 0).all() and (fi.nest_hz[fi.current_pa < 546] == 0).all()
    assert (fi.rel_nest.dropna().abs() < FI_RTOL).all() and fi.rel_nest.notna().sum() >= 4


def test_refractoriness_caps_the_rate_on_pymonntorch():
    model = load_model("lif", t_ref_ms=2.0)
    rates = steady_rates(model, np.array([1e4, 1e5, 1e6]), warmup_ms=50.0, measure_ms=200.0, simulator="pymonntorch")
    assert (rates <= 1000.0 / 2.0 + 1e-9).all() and rates[-1] > 0.95 * 500.0


@pytest.mark.slow
def test_exponential_lif_rheobase_on_both_simulators_matches_the_closed_form():
    table = compare_rheobase(MEASURE_MS).set_index("simulator")
    assert table.closed_form_pa.iloc[0] == pytest.approx(30.0 * (-50.4 + 70.6 - 2.0))  # g_L (V_T - E_L - Delta_T)
    assert (table.rel.abs() < RHEOBASE_RTOL).all()
    model = load_model("elif")
    assert np.isnan(rheobase(model, 0.0, 0.8 * eif_rheobase(model), rounds=1, per_round=4, measure_ms=MEASURE_MS,
                             simulator="pymonntorch"))


@pytest.mark.slow
def test_naud_patterns_classify_the_same_on_both_simulators():
    table = compare_patterns()
    assert len(table) == 8
    assert (table.nest == table.pattern).all() and (table.pymonntorch == table.pattern).all()


@pytest.mark.parametrize("name, amp", TRACE_CASES)
def test_step_trace_agrees_with_nest(name, amp):
    """Both at 0.01 ms, receiving the same current on the same steps (crosscheck.compare_trace). Tolerance: the same
    number of spikes, the first within one step, every interspike interval within 0.5% and 5 steps, and V before
    the first spike (throughout, without spikes) within 0.02 mV."""
    r = compare_trace(name, amp)
    assert r["same_current"] and r["spikes_nest"] == r["spikes_pymonntorch"]
    assert r["max_dv_before_first_spike_mv"] < TRACE_V_MV
    if r["spikes_nest"]:
        assert abs(r["first_spike_diff_ms"]) <= TRACE_H_MS + 1e-9
        assert r["max_isi_rel"] <= TRACE_ISI_RTOL and r["max_isi_diff_ms"] <= TRACE_ISI_STEPS * TRACE_H_MS + 1e-9
    else:
        assert amp < lif_rheobase(load_model(name))


@pytest.mark.parametrize("stim", [Stimulus("constant", amp_pa=250.0, start_ms=2.0, stop_ms=6.0),
                                  Stimulus("step", amp_pa=-100.0, start_ms=3.0),
                                  Stimulus("sine", amp_pa=80.0, offset_pa=20.0, freq_hz=150.0, start_ms=1.0)])
def test_both_simulators_read_the_same_stimulus_definition(stim):
    """NEST's generator current as its neuron receives it is the waveform one step later (its connection delay)."""
    h = 0.1
    nest_i = trace(load_model("lif"), stim, 10.0, resolution_ms=h).table.i_pa.to_numpy()
    torch_i = trace(load_model("lif"), stim, 10.0, resolution_ms=h, simulator="pymonntorch").table.i_pa.to_numpy()
    np.testing.assert_allclose(nest_i[1:], torch_i[: len(nest_i) - 1], atol=1e-9)
    assert np.abs(torch_i).max() > 0


def test_noise_on_pymonntorch_is_seeded_and_has_the_requested_statistics():
    model = load_model("lif")
    stim = Stimulus("noise", mean_pa=300.0, std_pa=200.0)
    a, b, c = (trace(model, stim, 1000.0, seed=s, resolution_ms=0.1, simulator="pymonntorch") for s in (1, 1, 2))
    pd.testing.assert_frame_equal(a.table, b.table)
    assert not np.allclose(a.table.v_mv, c.table.v_mv)
    for tr in (a, c):
        draws = tr.table.i_pa.to_numpy()[::10]  # one value per 1 ms draw
        assert abs(draws.mean() - 300.0) < 4 * 200.0 / np.sqrt(len(draws))
        assert draws.std() == pytest.approx(200.0, rel=0.15)


def test_a_population_is_independent_neurons():
    """Neuron k of a 50-neuron group fires as the same neuron alone: no coupling through the shared tensors."""
    model = load_model("adex")
    currents = np.linspace(700.0, 1700.0, 50)
    together, _ = simulate([model], np.zeros(20_000), 0.01, i_e_pa=currents)
    alone, _ = simulate([model], np.zeros(20_000), 0.01, i_e_pa=currents[[7, 42]])
    np.testing.assert_array_equal(together[7], alone[0])
    np.testing.assert_array_equal(together[42], alone[1])
    assert len(together[42]) > len(together[7]) > 0


def test_cli_writes_the_same_files_on_both_simulators(tmp_path, capsys):
    common = ["trace", "--model", "adex", "--input", "step", "--amp", "700", "--start", "20", "--duration", "200"]
    for sim in ("nest", "pymonntorch"):
        assert main([*common, "--simulator", sim, "--out", str(tmp_path / sim)]) == 0
    for name in ("trace.csv", "spikes.csv", "trace.png"):
        assert (tmp_path / "nest" / name).exists() and (tmp_path / "pymonntorch" / name).exists()
    nest_t, torch_t = (pd.read_csv(tmp_path / s / "trace.csv") for s in ("nest", "pymonntorch"))
    assert list(nest_t.columns) == list(torch_t.columns) == ["time_ms", "v_mv", "i_pa", "w_pa"]
    assert "adex on pymonntorch (step 0.01 ms)" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_fi_patterns_and_crosscheck_on_pymonntorch(tmp_path, capsys):
    assert main(["fi", "--model", "lif", "--currents", "0:800:200", "--simulator", "pymonntorch",
                 "--out", str(tmp_path / "fi.csv")]) == 0
    table = pd.read_csv(tmp_path / "fi.csv")
    assert list(table.columns) == ["model", "current_pa", "rate_hz"] and len(table) == 5
    side = pd.read_json(tmp_path / "fi.rheobase.json")
    assert side.loc["simulator", "lif"] == "pymonntorch"
    assert float(side.loc["measured_pa", "lif"]) == pytest.approx(375.0, rel=0.002)
    assert main(["patterns", "--simulator", "pymonntorch", "--out", str(tmp_path / "patterns")]) == 0
    classes = pd.read_csv(tmp_path / "patterns" / "classification.csv")
    assert (classes.expected == classes.measured).all() and len(list((tmp_path / "patterns").glob("*.png"))) == 8
    assert main(["crosscheck", "--sections", "traces", "--out", str(tmp_path / "cc")]) == 0
    assert len(pd.read_csv(tmp_path / "cc" / "traces.csv")) == len(TRACE_CASES)
    text = (tmp_path / "cc" / "crosscheck.md").read_text()
    assert "## Step traces" in text and "## f-I" not in text and not (tmp_path / "cc" / "fi.csv").exists()
    capsys.readouterr()
    assert main(["crosscheck", "--sections", "spikes", "--out", str(tmp_path / "bad")]) == 2
    assert "valid sections are ['fi', 'rheobase', 'traces', 'patterns']" in capsys.readouterr().err


def test_crosscheck_tables_render():
    """render() on tables of the shape run() returns (made by hand here; the real ones are the slow tests')."""
    fi = pd.DataFrame({"model": ["lif", "lif", "adex"], "t_ref_ms": [2.0, 2.0, 2.0], "current_pa": [100, 500, 800],
                       "nest_hz": [0.0, 63.0, 20.0], "pymonntorch_hz": [0.0, 63.1, 20.1],
                       "closed_form_hz": [0.0, 63.04, np.nan], "rel_nest": [np.nan, 0.0016, 0.005],
                       "rel_closed_form": [np.nan, 0.00095, np.nan]})
    traces = pd.DataFrame([{"model": "lif", "amp_pa": 300.0, "h_ms": 0.01, "spikes_nest": 0, "spikes_pymonntorch": 0,
                            "same_current": True, "max_dv_before_first_spike_mv": 0.002, "first_spike_diff_ms": np.nan,
                            "max_isi_diff_ms": np.nan, "max_isi_rel": np.nan}])
    text = render({"fi": fi, "traces": traces}, 2000.0)
    assert "| lif | 2 | 2 | 1 | 0.16% | 0.10% | 0.06% |" in text and "| adex | 2 | 1 | 1 | 0.50% | - | - |" in text
    assert "| lif | 300 | 0 / 0 | - | - (-) | 0.0020 |" in text


def test_an_unknown_simulator_is_named_with_the_choices(tmp_path, capsys):
    code = main(["trace", "--model", "lif", "--input", "constant", "--simulator", "brian2", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "unknown simulator 'brian2'; valid simulators are ['nest', 'pymonntorch']" in err
    assert "Traceback" not in err and not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv, message", [
    (["crosscheck", "--measure-ms", "0"], "--measure-ms must be > 0 ms, got 0"),
    (["crosscheck", "--sections", "fi", "spikes"], "--sections: unknown ['spikes']"),
    (["trace", "--model", "lif", "--input", "step", "--simulator", "pymonntorch", "--t-ref", "-1"],
     "--t-ref must be >= 0 ms"),
])
def test_bad_crosscheck_and_trace_options_stop_before_any_run(tmp_path, capsys, argv, message):
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "out").exists()
