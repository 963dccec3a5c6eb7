"""The digits task: the split (disjoint, stratified, seeded), the Poisson encoding against its rates, the read-out
and the logistic-regression baseline."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from studies.circuits.params import CircuitError
from studies.digits.digits import (
    N_PIXELS,
    confusion,
    count_spikes,
    first_spike_ms,
    load_split,
    logistic_baseline,
    poisson_schedule,
    predict,
    stratified_subset,
)


def test_split_is_disjoint_complete_and_stratified():
    split = load_split(0)
    train, test = set(split.train_index), set(split.test_index)
    assert not train & test
    assert len(train | test) == 1797
    labels = np.concatenate([split.y_train, split.y_test])
    for digit in range(10):
        n = np.sum(labels == digit)
        # stratified: each class's test share is its expected 25%, rounded (one image either way)
        assert abs(np.sum(split.y_test == digit) - 0.25 * n) <= 1


def test_split_follows_the_seed():
    a, b, c = load_split(3), load_split(3), load_split(4)
    np.testing.assert_array_equal(a.test_index, b.test_index)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.test_index, c.test_index)
    assert a.x_train.min() >= 0 and a.x_train.max() == 1.0


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2])
def test_split_rejects_a_bad_fraction(fraction):
    with pytest.raises(CircuitError, match="test_fraction"):
        load_split(0, test_fraction=fraction)


def test_stratified_subset_takes_each_class_equally():
    split = load_split(0)
    chosen = stratified_subset(split.y_train, 7, np.random.default_rng(0))
    assert len(set(chosen)) == 70
    assert np.all(np.bincount(split.y_train[chosen]) == 7)


def test_poisson_schedule_matches_its_rates():
    """Per image and pixel the counts are Poisson(rate x presentation): the mean and the Fano factor agree."""
    rng = np.random.default_rng(1)
    intensity = rng.random((40, N_PIXELS))
    dt = 0.1
    schedule = poisson_schedule(intensity, 80.0, 100.0, 30.0, dt, np.random.default_rng(2))
    assert schedule.slot_ms == 130.0 and schedule.stop_ms == pytest.approx(dt + 40 * 130.0)
    counts = np.zeros((40, N_PIXELS))
    for channel, times in enumerate(schedule.times_ms):
        assert np.all(np.diff(times) > 0)
        np.testing.assert_allclose(times / dt, np.round(times / dt), atol=1e-6)
        slot = np.floor((times - schedule.onsets_ms[0]) / schedule.slot_ms).astype(int)
        within = times - schedule.onsets_ms[slot]
        assert np.all((within > 0) & (within <= 100.0 + dt))  # silent during the rest
        np.add.at(counts[:, channel], slot, 1)
    expected = intensity * 80.0 * 0.1
    # total count: Poisson with mean sum(expected); 99.9% interval
    lo, hi = stats.poisson.interval(0.999, expected.sum())
    assert lo <= counts.sum() <= hi
    fano = np.var(counts - expected) / expected.mean()
    assert 0.85 < fano < 1.15


def test_poisson_schedule_rejects_wrong_shape():
    with pytest.raises(CircuitError, match="shape"):
        poisson_schedule(np.ones((3, 10)), 100.0, 50.0, 0.0, 0.1, np.random.default_rng(0))


def test_count_spikes_assigns_slots_and_neurons():
    schedule = poisson_schedule(np.zeros((3, N_PIXELS)), 100.0, 50.0, 50.0, 0.1, np.random.default_rng(0))
    times = np.array([0.5, 99.0, 100.05, 150.0, 250.0, 400.0])  # slot 0, 0, 0 (the slot ends at 100.1), 1, 2, out
    senders = np.array([5, 6, 5, 6, 7, 5])
    counts = count_spikes(times, senders, np.array([5, 6]), schedule)
    np.testing.assert_array_equal(counts, [[2, 1], [0, 1], [0, 0]])
    first = first_spike_ms(times, senders, np.array([5, 6]), schedule)
    onset = schedule.onsets_ms  # 0.1, 100.1, 200.1 ms
    np.testing.assert_allclose(first, [[0.5 - onset[0], 99.0 - onset[0]], [np.inf, 150.0 - onset[1]],
                                       [np.inf, np.inf]])


def test_predict_needs_a_unique_nonzero_winner():
    np.testing.assert_array_equal(predict(np.array([[[1, 5, 2], [0, 0, 0], [3, 3, 1]]])), [[1, -1, -1]])


def test_predict_breaks_count_ties_by_the_first_spike():
    counts = np.array([[3, 3, 1], [3, 3, 1], [0, 0, 0], [1, 5, 2]])
    latencies = np.array([[7.0, 2.5, 1.0], [4.0, 4.0, 1.0], [np.inf] * 3, [9.0, 30.0, 1.0]])
    # tie -> earlier first spike (the faster neuron 2 is not a leader); tie in both -> none; silence -> none;
    # a unique maximum wins whatever the latencies
    np.testing.assert_array_equal(predict(counts, latencies), [1, -1, -1, 1])


def test_confusion_counts_no_answer_separately():
    matrix = confusion(np.array([0, 0, 1, 2]), np.array([0, -1, 1, 1]))
    assert matrix.shape == (10, 11)
    assert matrix[0, 0] == 1 and matrix[0, 10] == 1 and matrix[2, 1] == 1 and matrix.sum() == 4


def test_logistic_baseline_is_far_above_chance():
    result = logistic_baseline(load_split(0))
    assert 0.9 < result["test_accuracy"] <= result["train_accuracy"] <= 1.0
