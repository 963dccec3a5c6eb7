"""analysis.figures: the computations under the figures (the figures themselves are checked in the report's tests,
tests/test_analysis_report.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.figures import population_order, psth


def test_psth_is_the_mean_rate_per_cell_around_the_onsets():
    onsets = np.array([1.0, 2.0])
    # 2 cells: one spike 5 ms after each onset, one 15 ms after the second only, one before the window, one after
    times = np.sort(np.array([1.005, 2.005, 2.015, 0.5, 2.5]))
    centres, rate = psth(times, onsets, n_cells=2, window_s=(0.0, 0.03), bin_s=0.01)
    np.testing.assert_allclose(centres, [0.005, 0.015, 0.025])
    # bin 1: 2 spikes / (2 onsets x 2 cells x 10 ms) = 50 Hz; bin 2: 1 spike = 25 Hz; bin 3: none
    np.testing.assert_allclose(rate, [50.0, 25.0, 0.0])


def test_psth_with_no_onsets_is_zero_not_a_division_by_zero():
    _, rate = psth(np.array([0.1, 0.2]), np.array([]), n_cells=3, window_s=(-0.1, 0.1), bin_s=0.05)
    assert rate.tolist() == pytest.approx([0.0] * 4)


def test_population_order_follows_the_population_table_then_appearance():
    cells = pd.DataFrame({"pop_name": ["other", "VIP", "LIF_exc", "another", "VIP", "PV"]})
    assert population_order(cells) == ["LIF_exc", "PV", "VIP", "other", "another"]
