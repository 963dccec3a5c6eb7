"""analysis.variability on synthetic spike trains with known answers: Poisson, clock, gamma and shared-event trains."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import variability as var

T_MS = 100_000.0  # 100 s
RATE_HZ = 20.0


def poisson_trains(n_cells: int, rate_hz: float, t_ms: float, seed: int | np.random.Generator,
                   first_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Independent homogeneous Poisson trains in (0, t_ms], unsorted: node ids and times (ms)."""
    rng = np.random.default_rng(seed)
    n_spikes = rng.poisson(rate_hz * t_ms / 1000.0, size=n_cells)
    node_ids = np.repeat(np.arange(first_id, first_id + n_cells), n_spikes)
    return node_ids, rng.uniform(0.0, t_ms, size=n_spikes.sum())


def renewal_trains(isi_ms: np.ndarray, t_ms: float, start_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trains from intervals (cells x intervals, ms) starting at ``start_ms``; spikes after ``t_ms`` dropped."""
    times = start_ms[:, None] + np.cumsum(isi_ms, axis=1)
    node_ids = np.broadcast_to(np.arange(len(isi_ms))[:, None], times.shape)
    keep = times <= t_ms
    return node_ids[keep], times[keep]


def gamma_trains(n_cells: int, shape_k: float, rate_hz: float, t_ms: float,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gamma renewal trains of shape ``k`` and mean rate ``rate_hz``: ISI CV = 1/sqrt(k)."""
    rng = np.random.default_rng(seed)
    mean_isi_ms = 1000.0 / rate_hz
    n_isi = int(2 * t_ms / mean_isi_ms)
    isi = rng.gamma(shape_k, mean_isi_ms / shape_k, size=(n_cells, n_isi))
    return renewal_trains(isi, t_ms, np.zeros(n_cells))


def shared_event_trains(n_cells: int, mother_hz: float, p: float, background_hz: float, t_ms: float,
                        seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each cell keeps each spike of one common Poisson 'mother' train with probability ``p``, plus its own
    Poisson background: count correlation p² λ / (p λ + b) for bins much longer than nothing else matters."""
    rng = np.random.default_rng(seed)
    mother = rng.uniform(0.0, t_ms, size=rng.poisson(mother_hz * t_ms / 1000.0))
    kept = rng.random((n_cells, len(mother))) < p
    cells, spikes = np.nonzero(kept)
    bg_ids, bg_times = poisson_trains(n_cells, background_hz, t_ms, rng)  # same generator: independent draws
    return np.concatenate([cells, bg_ids]), np.concatenate([mother[spikes], bg_times])


@pytest.fixture(scope="module")
def poisson() -> tuple[np.ndarray, np.ndarray]:
    return poisson_trains(200, RATE_HZ, T_MS, seed=1)


# ------------------------------------------------------------------------------------------ Poisson: CV 1, r 0
def test_poisson_isi_cv_near_one(poisson):
    node_ids, times = poisson
    cv = var.isi_cv(node_ids, times, np.arange(200))
    median, n_cells = var.median_isi_cv(node_ids, times, np.arange(200))
    assert list(cv.index) == list(range(200)) and cv.index.name == "cell_id"
    assert n_cells == 200
    assert median == pytest.approx(1.0, abs=0.05)


def test_poisson_correlation_near_zero(poisson):
    node_ids, times = poisson
    counts = var.spike_counts(node_ids, times, np.arange(200), 50.0, 0.0, T_MS)
    values = var.pairwise_correlations(counts, n_pairs=2000, rng=np.random.default_rng(2))
    summary = var.correlation_summary(values, rng=3)
    assert summary["n_pairs"] == 2000
    assert abs(summary["mean"]) < 0.01
    assert summary["ci_low"] < 0.0 < summary["ci_high"]


def test_poisson_population_fano_near_one(poisson):
    _, times = poisson
    pop = var.population_count_stats(times, 50.0, 0.0, T_MS)
    assert pop["n_bins"] == 2000
    assert pop["mean"] == pytest.approx(200 * RATE_HZ * 0.05, rel=0.02)
    assert pop["fano"] == pytest.approx(1.0, abs=0.1)
    assert pop["cv"] == pytest.approx(np.sqrt(pop["variance"]) / pop["mean"])


# ------------------------------------------------------------------------------------------ clock and gamma
def test_regular_trains_cv_zero():
    rng = np.random.default_rng(4)
    isi_ms = 1000.0 / RATE_HZ
    node_ids, times = renewal_trains(np.full((50, 400), isi_ms), 10_000.0, rng.uniform(0.0, isi_ms, size=50))
    cv = var.isi_cv(node_ids, times, np.arange(50))
    assert len(cv) == 50
    assert cv.max() < 1e-9


def test_gamma_cv_one_over_sqrt_k():
    node_ids, times = gamma_trains(200, shape_k=4.0, rate_hz=RATE_HZ, t_ms=T_MS, seed=5)
    median, n_cells = var.median_isi_cv(node_ids, times, np.arange(200))
    assert n_cells == 200
    assert median == pytest.approx(0.5, abs=0.03)


def test_isi_cv_min_spikes_and_window():
    node_ids = np.array([1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3])
    times = np.array([10.0, 20.0, 40.0, 50.0, 5.0, 6.0, 7.0, 0.0, 10.0, 20.0, 30.0, 40.0])
    cv = var.isi_cv(node_ids, times, [1, 2, 3], min_spikes=4)
    # cell 1: ISIs 10, 20, 10 -> mean 40/3, std (ddof 0) sqrt(200/9); cell 2 has 3 spikes (left out); cell 3: 0
    assert list(cv.index) == [1, 3]
    assert cv[1] == pytest.approx(np.sqrt(200 / 9) / (40 / 3))
    assert cv[3] == pytest.approx(0.0)
    # window (0, 40]: cell 3 loses its spike at 0 ms and keeps 4 spikes; cell 1 loses the one at 50 ms
    windowed = var.isi_cv(node_ids, times, [1, 2, 3], min_spikes=4, t_start_ms=0.0, t_stop_ms=40.0)
    assert list(windowed.index) == [3]
    with pytest.raises(ValueError, match="min_spikes"):
        var.isi_cv(node_ids, times, [1, 2, 3], min_spikes=2)


# ----------------------------------------------------------------------------------------- shared events
@pytest.fixture(scope="module")
def shared() -> tuple[np.ndarray, np.ndarray]:
    return shared_event_trains(100, mother_hz=40.0, p=0.5, background_hz=0.0, t_ms=T_MS, seed=6)


def test_shared_events_correlation_is_p(shared):
    node_ids, times = shared
    counts = var.spike_counts(node_ids, times, np.arange(100), 250.0, 0.0, T_MS)
    summary = var.correlation_summary(var.pairwise_correlations(counts, rng=7))
    assert summary["mean"] == pytest.approx(0.5, abs=0.05)
    assert summary["ci_low"] > 0.4


def test_shared_events_with_background_closed_form():
    lam, p, b = 40.0, 0.5, 20.0
    node_ids, times = shared_event_trains(100, lam, p, b, T_MS, seed=8)
    counts = var.spike_counts(node_ids, times, np.arange(100), 250.0, 0.0, T_MS)
    mean = var.correlation_summary(var.pairwise_correlations(counts, rng=9))["mean"]
    assert mean == pytest.approx(p**2 * lam / (p * lam + b), abs=0.05)  # 0.25


def test_shared_events_population_fano_large(shared):
    _, times = shared
    pop = var.population_count_stats(times, 250.0, 0.0, T_MS)
    # var/mean = 1 - p + N p = 50.5 for N = 100 cells thinned at p = 0.5
    assert pop["fano"] > 10


# ------------------------------------------------------------------------------------------- cross groups
def test_independent_groups_uncorrelated():
    e_ids, e_times = poisson_trains(100, RATE_HZ, T_MS, seed=10)
    i_ids, i_times = poisson_trains(50, 2 * RATE_HZ, T_MS, seed=11, first_id=100)
    counts_e = var.spike_counts(e_ids, e_times, np.arange(100), 50.0, 0.0, T_MS)
    counts_i = var.spike_counts(i_ids, i_times, np.arange(100, 150), 50.0, 0.0, T_MS)
    values = var.pairwise_correlations(counts_e, counts_i, n_pairs=2000, rng=12)
    summary = var.correlation_summary(values)
    assert summary["n_pairs"] == 2000
    assert abs(summary["mean"]) < 0.01
    assert summary["ci_low"] < 0.0 < summary["ci_high"]


def test_variability_report_rows_and_columns():
    e_ids, e_times = shared_event_trains(80, 40.0, 0.5, 10.0, 20_000.0, seed=13)
    i_ids, i_times = poisson_trains(20, 40.0, 20_000.0, seed=14, first_id=80)
    node_ids, times = np.concatenate([e_ids, i_ids]), np.concatenate([e_times, i_times])
    groups = {"E": np.arange(80), "I": np.arange(80, 100)}
    report = var.variability_report(node_ids, times, groups, 0.0, 20_000.0, n_pairs=500, seed=0)
    assert list(report.columns) == list(var.REPORT_COLUMNS)
    keys = list(zip(report["measure"], report["group"], report["bin_ms"].fillna(-1.0), strict=True))
    expected = [("isi_cv_median", "E", -1.0), ("isi_cv_median", "I", -1.0)]
    for bin_ms in (50.0, 250.0):
        expected += [("count_correlation", g, bin_ms) for g in ("E-E", "I-I", "E-I")]
        expected += [(m, g, bin_ms) for g in ("E", "I") for m in ("population_fano", "population_cv")]
    assert keys == expected
    rows = report.set_index(["measure", "group", "bin_ms"])
    assert rows.loc[("isi_cv_median", "I", np.nan), "n"] == 20
    assert rows.loc[("count_correlation", "E-E", 250.0), "n"] == 500  # 3,160 possible pairs
    assert rows.loc[("count_correlation", "I-I", 250.0), "n"] == 190  # all 20 * 19 / 2 pairs
    assert rows.loc[("count_correlation", "E-I", 250.0), "n"] == 500
    assert rows.loc[("count_correlation", "E-E", 250.0), "value"] > 0.3  # 0.25 * 40 / 30 = 0.33
    # independent groups, but E's common signal makes all E-I pairs of one I cell covary: ~20 effective samples
    assert abs(rows.loc[("count_correlation", "E-I", 250.0), "value"]) < 0.1
    pop = var.population_count_stats(e_times, 50.0, 0.0, 20_000.0)
    assert rows.loc[("population_fano", "E", 50.0), "value"] == pytest.approx(pop["fano"])
    assert rows.loc[("population_cv", "E", 50.0), "value"] == pytest.approx(pop["cv"])
    pd.testing.assert_frame_equal(report, var.variability_report(node_ids, times, groups, 0.0, 20_000.0,
                                                                 n_pairs=500, seed=0))


def test_variability_report_rejects_overlapping_groups(poisson):
    node_ids, times = poisson
    with pytest.raises(ValueError, match="disjoint"):
        var.variability_report(node_ids, times, {"E": np.arange(10), "all": np.arange(20)}, 0.0, T_MS)


# ----------------------------------------------------------------------------------------------- binning
def test_spike_counts_bins_are_left_open_and_drop_partial_bin():
    node_ids = np.array([5, 5, 5, 5, 7, 9, 5])
    times = np.array([0.0, 10.0, 10.5, 20.0, 15.0, 12.0, 34.0])
    counts = var.spike_counts(node_ids, times, [7, 5, 6], bin_ms=10.0, t_start_ms=0.0, t_stop_ms=35.0)
    # rows in the order of cell_ids; 0 ms is outside (0, 35]; 10 ms ends bin 0; 34 ms is in the dropped partial
    # bin (30, 35]; node 9 is not a cell; cell 6 is silent
    np.testing.assert_array_equal(counts, [[0, 1, 0], [1, 2, 0], [0, 0, 0]])
    assert var.spike_counts([], [], [1, 2], 0.1, 0.0, 0.3).shape == (2, 3)


def test_within_group_pairs_are_all_distinct_pairs():
    rng = np.random.default_rng(15)
    counts = rng.poisson(3.0, size=(6, 200))
    counts[2] = 0  # silent: excluded
    values = var.pairwise_correlations(counts, n_pairs=100)
    active = np.delete(counts, 2, axis=0)
    expected = np.corrcoef(active)[np.tril_indices(5, -1)]
    np.testing.assert_allclose(values, expected)  # all 10 pairs, lower-triangle order


def test_pair_sampling_is_distinct_and_seeded():
    counts = np.random.default_rng(16).poisson(2.0, size=(3000, 20))
    first = var.pairwise_correlations(counts, n_pairs=1000, rng=17)
    np.testing.assert_array_equal(first, var.pairwise_correlations(counts, n_pairs=1000, rng=17))
    k = np.arange(3000 * 2999 // 2)
    i, j = var._unordered_pairs(k)
    assert np.all(i > j) and np.all(j >= 0) and i.max() == 2999
    assert len(np.unique(i * 3000 + j)) == len(k)


# -------------------------------------------------------------------------------------------- edge cases
def test_silent_group_gives_nan_and_no_pairs():
    node_ids, times = np.array([], dtype=int), np.array([])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        median, n_cells = var.median_isi_cv(node_ids, times, np.arange(10))
        counts = var.spike_counts(node_ids, times, np.arange(10), 50.0, 0.0, 1000.0)
        values = var.pairwise_correlations(counts)
        summary = var.correlation_summary(values)
        pop = var.population_count_stats(times, 50.0, 0.0, 1000.0)
        report = var.variability_report(node_ids, times, {"E": np.arange(10), "I": np.arange(10, 15)}, 0.0,
                                        1000.0)
    assert np.isnan(median) and n_cells == 0
    assert values.shape == (0,) and summary["n_pairs"] == 0 and np.isnan(summary["mean"])
    assert np.isnan(summary["ci_low"]) and np.isnan(summary["ci_high"])
    assert pop["mean"] == 0 and np.isnan(pop["fano"]) and np.isnan(pop["cv"])
    assert (report.loc[report["measure"] == "count_correlation", "n"] == 0).all()
    assert report.loc[report["measure"] != "count_correlation", "value"].isna().all()


def test_bin_longer_than_window_raises():
    with pytest.raises(ValueError, match="longer than the window"):
        var.spike_counts([1], [10.0], [1], 500.0, 0.0, 200.0)
    with pytest.raises(ValueError, match="longer than the window"):
        var.population_count_stats([10.0], 500.0, 0.0, 200.0)
    with pytest.raises(ValueError, match="longer than the window"):
        var.variability_report([1], [10.0], {"E": [1]}, 0.0, 200.0, bins_ms=(50.0, 500.0))


def test_mismatched_lengths_name_the_argument():
    with pytest.raises(ValueError, match="times_ms has 3 entries but node_ids has 2"):
        var.isi_cv([1, 2], [1.0, 2.0, 3.0], [1, 2])
    with pytest.raises(ValueError, match="times_ms"):
        var.spike_counts([1, 2], [1.0], [1, 2], 10.0, 0.0, 100.0)
    with pytest.raises(ValueError, match="counts_b has 5 bins but counts_a has 4"):
        var.pairwise_correlations(np.eye(3, 4), np.eye(3, 5))
    with pytest.raises(ValueError, match="cell_ids contains duplicates"):
        var.spike_counts([1], [1.0], [1, 1], 10.0, 0.0, 100.0)
