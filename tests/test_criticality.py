"""analysis.criticality on synthetic data with a known answer: branching processes and critical avalanches."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from analysis import criticality as crit
from analysis.__main__ import main as analysis_main


def branching_process(m: float, h: float, n_steps: int, n_trials: int, a0: float, seed: int) -> np.ndarray:
    """Activity of a driven branching process: A(t+1) ~ Poisson(m A(t) + h), trials x steps."""
    rng = np.random.default_rng(seed)
    activity = np.zeros((n_trials, n_steps))
    a = np.full(n_trials, a0)
    for t in range(n_steps):
        activity[:, t] = a
        a = rng.poisson(m * a + h).astype(float)
    return activity


def critical_avalanches(n: int, seed: int, max_generations: int = 10_000) -> np.ndarray:
    """Binned activity made of ``n`` avalanches of a critical branching process (Poisson(1) offspring, one
    ancestor), each followed by an empty bin: sizes follow P(S) ~ S^-3/2, durations P(T) ~ T^-2."""
    rng = np.random.default_rng(seed)
    counts = [0]
    for _ in range(n):
        a, generation = 1, 0
        while a > 0 and generation < max_generations:
            counts.append(a)
            a = rng.poisson(a)
            generation += 1
        counts.append(0)
    return np.array(counts)


def write_spike_file(path, counts: np.ndarray, bin_ms: float, seed: int, population: str = "circuit") -> None:
    """A SONATA spikes file with counts[k] spikes at random times (on a 0.1 ms grid) inside bin k."""
    rng = np.random.default_rng(seed)
    bins = np.repeat(np.arange(len(counts)), counts.astype(int))
    steps = round(bin_ms / 0.1)
    times = (bins * steps + rng.integers(0, steps, len(bins))) * 0.1 + 0.05
    with h5py.File(path, "w") as h5:
        grp = h5.create_group(f"spikes/{population}")
        grp.create_dataset("timestamps", data=np.sort(times))
        grp.create_dataset("node_ids", data=rng.integers(0, 1000, len(times)))


@pytest.mark.parametrize(("m", "n_steps", "n_trials", "a0"),
                         [(0.9, 5000, 20, 100.0), (1.0, 300, 40, 100.0), (1.1, 60, 40, 100.0)])
def test_mr_estimator_recovers_the_branching_ratio(m, n_steps, n_trials, a0):
    activity = branching_process(m, h=10.0, n_steps=n_steps, n_trials=n_trials, a0=a0, seed=1)
    result = crit.branching_ratio_mr(activity, bin_ms=1.0, max_steps=10)
    assert abs(result["m"] - m) < 0.03


def test_mr_is_robust_to_subsampling_where_the_naive_estimator_is_not():
    full = branching_process(0.95, h=20.0, n_steps=40_000, n_trials=1, a0=400.0, seed=2)[0]
    seen = np.random.default_rng(3).binomial(full.astype(int), 0.05)  # 5% of the events observed
    assert abs(crit.branching_ratio_mr(seen, max_steps=40)["m"] - 0.95) < 0.03
    assert crit.branching_ratio_naive(seen) < 0.8  # biased towards 0 by subsampling
    assert abs(crit.branching_ratio_naive(full) - 0.95) < 0.02  # unbiased on the full process


def test_critical_avalanches_have_size_exponent_one_and_a_half():
    aval = crit.find_avalanches(critical_avalanches(20_000, seed=4))
    assert len(aval) == 20_000
    sizes = crit.fit_power_law(aval.sizes)
    assert abs(sizes["alpha"] - 1.5) < 0.1
    assert sizes["llr_exponential"] > 0 and sizes["p_exponential"] < 0.01  # a power law, not an exponential
    assert not sizes["alpha_at_bound"]
    durations = crit.fit_power_law(aval.durations)
    assert abs(durations["alpha"] - 2.0) < 0.2
    gamma = crit.crackling(aval, sizes["alpha"], durations["alpha"])
    assert gamma["gamma_predicted"] == pytest.approx((durations["alpha"] - 1) / (sizes["alpha"] - 1))
    assert 1.5 < gamma["gamma_fit"] < 2.2  # <S>(T) ~ T^2 for critical branching, flattened by finite size


def test_avalanches_are_runs_of_non_empty_bins():
    aval = crit.find_avalanches(np.array([3, 0, 1, 2, 0, 0, 5, 0, 0, 4]))
    assert aval.sizes.tolist() == [3, 5]  # the first and last runs touch the recording's edges
    assert aval.durations.tolist() == [2, 1]


def test_default_bin_is_the_mean_inter_event_interval_on_the_time_grid():
    times = np.arange(0, 1000, 0.4) + 0.1
    assert crit.default_bin_ms(times) == pytest.approx(0.4)
    assert crit.default_bin_ms(np.array([0.1, 0.1, 0.1, 0.2])) == pytest.approx(0.1)  # never below the grid


def test_cli_recovers_m_from_a_spikes_file(tmp_path):
    counts = branching_process(0.9, h=2.0, n_steps=20_000, n_trials=1, a0=20.0, seed=5)[0]
    spikes = tmp_path / "spikes.h5"
    write_spike_file(spikes, counts, bin_ms=2.0, seed=6)
    out = tmp_path / "crit.json"
    assert analysis_main(["criticality", str(spikes), "--bin-ms", "2", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(crit.KEYS) <= set(result)
    assert result["bin_ms"] == 2.0
    assert abs(result["branching_ratio_mr"] - 0.9) < 0.03
    assert result["regime"] == "sub-critical"


def test_too_few_spikes_give_insufficient_data_not_a_crash(tmp_path):
    spikes = tmp_path / "few.h5"
    write_spike_file(spikes, np.array([0, 1, 0, 2, 0, 1, 0]), bin_ms=1.0, seed=7)
    out = tmp_path / "few.json"
    assert analysis_main(["criticality", str(spikes), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["regime"] == "insufficient data"
    assert result["branching_ratio_mr"] is None and result["size_alpha"] is None


def test_an_empty_population_gives_insufficient_data(tmp_path):
    spikes = tmp_path / "empty.h5"
    write_spike_file(spikes, np.zeros(5), bin_ms=1.0, seed=8)
    assert crit.analyse_spikes(spikes)["regime"] == "insufficient data"


@pytest.mark.parametrize(("args", "message"), [
    (["--population", "V1"], "not in"),
    (["--bin-ms", "0"], "--bin-ms must be > 0"),
])
def test_bad_options_exit_2_with_a_clear_message(tmp_path, capsys, args, message):
    spikes = tmp_path / "s.h5"
    write_spike_file(spikes, np.ones(2000), bin_ms=1.0, seed=9)
    out = tmp_path / "x.json"
    assert analysis_main(["criticality", str(spikes), *args, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_missing_or_corrupt_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    for path in (tmp_path / "missing.h5", bad):
        assert analysis_main(["criticality", str(path), "--out", str(tmp_path / "x.json")]) == 2
    assert "not an HDF5 file" in capsys.readouterr().err


@pytest.mark.parametrize(("result", "regime"), [
    ({"n_spikes": 100, "branching_ratio_mr": 1.0}, "insufficient data"),
    ({"n_spikes": 10_000, "branching_ratio_mr": 1.1}, "super-critical"),
    ({"n_spikes": 10_000, "branching_ratio_mr": 0.9, "n_avalanches": 5}, "sub-critical"),
    ({"n_spikes": 10_000, "branching_ratio_mr": 0.995, "n_avalanches": 10, "fraction_empty_bins": 0.3},
     "super-critical"),
    ({"n_spikes": 10_000, "branching_ratio_mr": 0.995, "n_avalanches": 900, "fraction_empty_bins": 0.01},
     "super-critical"),
    ({"n_spikes": 10_000, "branching_ratio_mr": 0.995, "n_avalanches": 900, "fraction_empty_bins": 0.3,
      "size_alpha": 1.55}, "near-critical"),
    ({"n_spikes": 10_000, "branching_ratio_mr": 0.995, "n_avalanches": 900, "fraction_empty_bins": 0.3,
      "size_alpha": 2.4}, "sub-critical"),
])
def test_classify(result, regime):
    assert crit.classify(result) == regime


def test_a_steep_tail_is_flagged_at_the_fit_bound():
    values = np.random.default_rng(10).zipf(5.0, 5000)  # P(k) ~ k^-5, beyond powerlaw's default alpha range
    fit = crit.fit_power_law(values)
    assert fit["alpha_at_bound"] and fit["alpha"] == pytest.approx(crit.ALPHA_UPPER_BOUND, abs=1e-3)


def test_spikes_outside_the_window_are_not_counted():
    times = np.array([-0.5, 0.5, 1.5, 2.0, 2.5])
    assert crit.bin_activity(times, 1.0, tstart_ms=0.0, tstop_ms=2.0).tolist() == [1, 2]  # 2.0 is in the last bin
