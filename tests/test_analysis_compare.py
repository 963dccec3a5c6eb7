"""Model-versus-data statistics against samples with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.compare import compare_model, ks_log_rates, median_ci, ratio_ci


def test_median_interval_covers_the_true_median_at_its_level():
    rng = np.random.default_rng(1)
    true_median = np.exp(1.0)  # lognormal(mu=1): median e
    hits = [lo <= true_median <= hi for lo, hi in
            (median_ci(rng.lognormal(1.0, 1.0, 200), seed=k, n_boot=400)[1:] for k in range(150))]
    # 95% nominal; a binomial 99.9% band around 0.95 for 150 trials is about [0.88, 0.99]
    assert 0.88 <= np.mean(hits) <= 0.995


def test_median_interval_edge_cases():
    assert np.isnan(median_ci(np.array([]))).all()
    assert median_ci(np.array([3.0])) == (3.0, 3.0, 3.0)


def test_ratio_of_scaled_samples():
    rng = np.random.default_rng(2)
    data = rng.lognormal(0.0, 0.5, 500)
    ratio, lo, hi = ratio_ci(2.0 * rng.lognormal(0.0, 0.5, 5000), data)
    assert lo < 2.0 < hi and ratio == pytest.approx(2.0, rel=0.1) and hi - lo < 0.6
    assert np.isnan(ratio_ci(data, np.zeros(10))).all()  # a data median of 0 has no ratio


def test_ks_on_log_rates_ignores_zeros():
    assert ks_log_rates(np.array([1.0, 2.0, 0.0, 0.0]), np.array([1.0, 2.0])) == (0.0, 1.0)
    assert ks_log_rates(np.array([1.0, 2.0]), np.array([10.0, 20.0]))[0] == 1.0
    rng = np.random.default_rng(3)
    same = ks_log_rates(rng.lognormal(0, 1, 2000), rng.lognormal(0, 1, 2000))
    scaled = ks_log_rates(rng.lognormal(0, 1, 2000), 3 * rng.lognormal(0, 1, 2000))
    assert same[0] < 0.05 < same[1] and scaled[0] > 0.3 and scaled[1] < 1e-6
    assert np.isnan(ks_log_rates(np.zeros(5), np.ones(5))).all()


def test_compare_model_picks_the_reference_and_handles_a_missing_one():
    cells = pd.DataFrame({"pop_name": ["LIF_exc"] * 4 + ["VIP"] * 2, "rate_hz": [0.0, 1.0, 2.0, 3.0, 10.0, 12.0]})
    rates = pd.DataFrame({"source": "optotag", "unit_id": range(6), "cell_class": "E", "layer": "L2/3",
                          "flash_hz": [0.5, 1.0, 1.0, 1.0, 2.0, 0.0], "gratings_hz": np.nan,
                          "spontaneous_hz": np.nan})
    summary = pd.DataFrame([("optotag", "E", "L2/3", "flash", 6)], columns=["source", "cell_class", "layer",
                                                                          "condition", "n"])
    table = compare_model(cells, rates, summary, conditions=("flash",)).set_index("population")
    e = table.loc["LIF_exc"]
    assert (e.source, e.layer, e.n_model, e.n_data) == ("optotag", "L2/3", 4, 6)
    assert (e.model_median_hz, e.data_median_hz, e.ratio) == (1.5, 1.0, 1.5)
    assert e.model_zero_frac == 0.25 and e.data_zero_frac == pytest.approx(1 / 6)
    vip = table.loc["VIP"]
    assert vip.source == "none" and vip.n_data == 0 and np.isnan(vip.data_median_hz) and vip.model_median_hz == 11
