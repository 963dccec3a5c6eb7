"""STDP on NEST: the pairing window against its closed form, the direction of learning, the digit network, the CLI."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from common.seeds import stream
from studies.circuits.params import CircuitError
from studies.digits.__main__ import main
from studies.digits.digits import RESULT_KEYS
from studies.digits.stdp_learning import (
    assign_labels,
    initial_weights,
    run_stdp,
    size_series,
    theta_plus_mV,
    train,
    vote,
)
from studies.digits.stdp_window import (
    STDP_FILE,
    expected_weight_change,
    neuron_params,
    read_stdp_params,
    stdp_synapse_params,
    stdp_window,
    window_closed_form,
)


@pytest.fixture(scope="module")
def params() -> dict:
    return read_stdp_params()


@pytest.fixture()
def tiny(params) -> dict:
    """The real parameters with short images (100 ms shown, 50 ms rest) and a 3-neuron default, for speed."""
    p = copy.deepcopy(params)
    p["encoding"].update(presentation_ms=100.0, rest_ms=50.0)
    p["defaults"].update(neurons=3, epochs=1)
    return p


RULE_KEYS = ("a_plus_nS", "a_minus_nS", "tau_plus_ms", "tau_minus_ms")


def rule_of(params: dict) -> dict:
    return {k: params["plasticity"][k] for k in RULE_KEYS}


# ------------------------------------------------------------------------------------------------------ window


def test_closed_form_has_the_exponential_window():
    dt = np.array([-40.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 40.0])
    w = window_closed_form(dt, 2.0, 1.0, 20.0, 10.0)
    np.testing.assert_allclose(w, [-np.exp(-4), -np.exp(-2), -1.0, 0.0, 2.0, 2 * np.exp(-1), 2 * np.exp(-2)],
                               rtol=1e-3)
    # the dendritic delay shifts the window: dt = -delay is the zero crossing
    assert window_closed_form([-1.0], 2.0, 1.0, 20.0, 10.0, delay_ms=1.0)[0] == 0.0
    assert window_closed_form([-0.5], 2.0, 1.0, 20.0, 10.0, delay_ms=1.0)[0] > 0


@pytest.mark.parametrize("post", ["parrot", "lif_cond"])
def test_window_matches_the_closed_form(params, post):
    window = stdp_window(params, post=post)
    a_plus = params["plasticity"]["a_plus_nS"]
    assert len(window.dt_ms) >= 50
    assert window.max_deviation_nS < 1e-9 * a_plus
    expected = window_closed_form(window.dt_ms, delay_ms=window.delay_ms, **rule_of(params))
    np.testing.assert_allclose(window.dw_nS, expected, rtol=1e-9, atol=1e-12)
    s = window.dt_ms + window.delay_ms
    assert (window.dw_nS[s > 1e-9] > 0).all() and (window.dw_nS[s < -1e-9] < 0).all()
    assert (s > 0).sum() > 10 and (s < 0).sum() > 10
    # largest change right after the pre spike, decaying with |dt|
    causal = s > 0
    assert np.all(np.diff(window.dw_nS[causal]) < 0)


def test_window_follows_the_parameters(params):
    """Other amplitudes and time constants give the closed form of those, not of the defaults."""
    p = copy.deepcopy(params)
    p["plasticity"].update(a_plus_nS=0.02, a_minus_nS=0.06, tau_plus_ms=8.0, tau_minus_ms=35.0)
    window = stdp_window(p, dt_ms=np.array([-30.0, -8.0, 8.0, 30.0]))
    np.testing.assert_allclose(window.dw_nS, window_closed_form(window.dt_ms, delay_ms=window.delay_ms,
                                                                **rule_of(p)), rtol=1e-9)
    default = window_closed_form(window.dt_ms, delay_ms=window.delay_ms, **rule_of(params))
    assert np.max(np.abs(window.dw_nS - default)) > 1e-3


def test_correlated_inputs_potentiate_and_late_ones_depress(params):
    """A conductance-based neuron fires 20 times; an input that fires 4 ms before each of its spikes potentiates,
    one that fires 6 ms after depresses, a Poisson input changes less than the early one; each change is the sum of
    the window over the recorded spike pairs."""
    import nest

    nest.resolution = 0.1
    plast = params["plasticity"]
    post_times = 100.0 + 50.0 * np.arange(20)
    rng = np.random.default_rng(0)
    trains = {"early": post_times - 4.0, "late": post_times + 6.0,
              "random": np.sort(np.unique(np.round(rng.uniform(50.0, 1100.0, 20), 1)))}
    end = 1500.0  # one more spike of every input after a silence applies the last pending potentiation
    post = nest.Create("iaf_cond_exp", params=neuron_params(params))
    teacher = nest.Create("step_current_generator", params={
        "amplitude_times": np.sort(np.concatenate([post_times, post_times + 0.5])),
        "amplitude_values": np.tile([10000.0, 0.0], len(post_times))})
    nest.Connect(teacher, post, syn_spec={"delay": 0.1})
    recorder = nest.Create("spike_recorder")
    nest.Connect(post, recorder)
    w0 = 2.0
    inputs = {}
    for name, times in trains.items():
        gen = nest.Create("spike_generator", params={"spike_times": np.append(times, end)})
        parrot = nest.Create("parrot_neuron")
        nest.Connect(gen, parrot, syn_spec={"delay": 0.1})
        nest.Connect(parrot, post, syn_spec={**stdp_synapse_params(params), "weight": w0,
                                             "delay": plast["delay_ms"]})
        nest.Connect(parrot, recorder)
        inputs[name] = parrot
    nest.Simulate(end + 5.0)
    events = recorder.events
    post_spikes = events["times"][events["senders"] == post.global_id]
    assert len(post_spikes) == len(post_times)
    change = {}
    for name, parrot in inputs.items():
        change[name] = nest.GetConnections(parrot, post).weight - w0
        pre_spikes = events["times"][events["senders"] == parrot.global_id]
        expected = expected_weight_change(pre_spikes, post_spikes, delay_ms=plast["delay_ms"], **rule_of(params))
        assert change[name] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert change["early"] > 0.5 * len(post_times) * plast["a_plus_nS"] * np.exp(-5.5 / plast["tau_plus_ms"])
    assert change["late"] < 0
    assert abs(change["random"]) < change["early"] / 3


def test_training_potentiates_the_inputs_that_drive_the_neuron(tiny):
    """One neuron shown the same half-on pattern: the weights of the active pixels grow, the silent ones shrink
    (normalisation keeps the sum), and the threshold rises by theta_plus per spike."""
    image = np.zeros((1, 64))
    image[0, :32] = 1.0
    images = np.repeat(image, 8, axis=0)
    before = initial_weights(1, tiny, np.random.default_rng(stream(5, "stdp_weights")))
    learned = train(images, 1, 1, tiny, seed=5, progress=False)
    after = learned.weights_nS
    on, off = slice(0, 32), slice(32, 64)
    assert after[0, on].sum() > 1.2 * before[0, on].sum()
    assert after[0, off].sum() < 0.8 * before[0, off].sum()
    assert after.sum() == pytest.approx(tiny["learning"]["weight_sum_nS"], rel=1e-9)
    spikes = learned.spikes_per_image.sum()
    assert spikes >= len(images) * tiny["encoding"]["min_spikes"]
    assert learned.theta_mV[0] == pytest.approx(theta_plus_mV(tiny, 1) * spikes, rel=1e-3)
    assert theta_plus_mV(tiny, 1) == pytest.approx(tiny["learning"]["theta_plus_mV"]
                                                   / tiny["learning"]["theta_reference_neurons"])


def test_labels_and_votes():
    counts = np.array([[5, 0, 1, 0], [0, 3, 0, 0], [4, 0, 0, 0], [0, 0, 0, 0]])
    labels = np.array([7, 2, 7, 2])
    assignments = assign_labels(counts, labels)
    assert assignments.tolist() == [7, 2, 7, -1]
    assert vote(counts, assignments).tolist() == [7, 2, 7, -1]
    # a tie between two classes is no answer
    assert vote(np.array([[2, 1, 0, 0]]), assignments).tolist() == [-1]  # 7: mean(2, 0), 2: 1


# ----------------------------------------------------------------------------------------------------- network


NUMBERS = ("train_accuracy", "test_accuracy", "no_answer_fraction_test", "logistic_regression", "n_train", "n_test",
           "neurons_per_class", "silent_neurons", "theta_mV", "training_presentations", "confusion", "window", "seed")


def test_same_seed_same_result(tiny, tmp_path):
    kwargs = {"neurons": 3, "epochs": 1, "params": tiny, "train_per_class": 2, "test_per_class": 1, "progress": False}
    a = run_stdp(tmp_path / "a", seed=4, figures=True, **kwargs)
    b = run_stdp(tmp_path / "b", seed=4, figures=False, **kwargs)
    run_stdp(tmp_path / "c", seed=5, figures=False, **kwargs)
    for key in RESULT_KEYS:
        assert key in a
    assert {k: a[k] for k in NUMBERS} == {k: b[k] for k in NUMBERS}
    assert json.loads((tmp_path / "a" / "result.json").read_text())["test_accuracy"] == a["test_accuracy"]
    la, lb, lc = (np.load(tmp_path / x / "learned.npz") for x in "abc")
    np.testing.assert_array_equal(la["weights_nS"], lb["weights_nS"])
    np.testing.assert_array_equal(la["test_counts"], lb["test_counts"])
    assert not np.array_equal(la["weights_nS"], lc["weights_nS"])
    # the test images are neither trained on nor used for labelling
    assert not set(la["train_index"]) & set(la["test_index"])
    assert a["n_train"] == 20 and a["n_test"] == 10
    for name in ("window.png", "receptive_fields.png", "confusion.png"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    assert a["window"]["max_abs_deviation_nS"] < 1e-9


def test_size_series_writes_a_table(tiny, tmp_path):
    table = size_series(tmp_path / "s", [2, 4], epochs=1, seed=1, params=tiny, train_per_class=1, test_per_class=1,
                        progress=False)
    assert table.neurons.tolist() == [2, 4]
    assert ((table.test_accuracy >= 0) & (table.test_accuracy <= 1)).all()
    result = json.loads((tmp_path / "s" / "result.json").read_text())
    assert [row["neurons"] for row in result["sizes"]] == [2, 4]
    assert (tmp_path / "s" / "accuracy_vs_size.png").is_file() and (tmp_path / "s" / "n4" / "result.json").is_file()


# -------------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("argv", [["--neurons", "0"], ["--neurons", "-3"], ["--epochs", "0"], ["--epochs", "-1"],
                                  ["--neurons", "ten"], ["--bogus"], ["--neurons", "5", "--sizes", "5", "10"],
                                  ["--sizes", "0", "10"]])
def test_cli_refuses_bad_options(argv, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["stdp", *argv, "--out", str(out)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    assert not out.exists()


def test_cli_refuses_negative_seed_and_full_out_dir(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["stdp", "--seed", "-1", "--out", str(out)]) == 2
    assert "--seed must be" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["stdp", "--neurons", "2", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_bad_parameter_file_is_named(params, tmp_path, capsys):
    bad = copy.deepcopy(params)
    bad["plasticity"]["tau_plus_ms"] = -5.0
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(CircuitError, match="plasticity.tau_plus_ms must be > 0"):
        read_stdp_params(path)
    del bad["plasticity"]["tau_plus_ms"]
    path.write_text(json.dumps(bad))
    assert main(["stdp", "--params", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "plasticity lacks ['tau_plus_ms']" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert read_stdp_params(STDP_FILE)["plasticity"]["tau_plus_ms"] > 0
