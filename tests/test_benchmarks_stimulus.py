"""benchmarks.stimulus: the dt 0.1 / 0.01 ms agreement table and the Markdown it writes (the runs themselves are
``python -m benchmarks.stimulus``, minutes at 10,000 cells, not run here)."""

from __future__ import annotations

import json

import pandas as pd
from helpers import REPO

from benchmarks.stimulus import SHOWN_METRICS, dt_agreement, render


def _medians(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["pop_name", "metric", "n_model", "model_median", "model_lo", "model_hi"])


def test_intervals_overlap_or_not_and_empty_or_unshown_rows_are_left_out():
    shown = SHOWN_METRICS[0]
    fine = _medians([("PV", shown, 10, 5.0, 4.0, 6.0), ("SST", shown, 10, 5.0, 4.0, 6.0),
                     ("VIP", shown, 0, 0.0, 0.0, 0.0), ("PV", "not_shown", 10, 1.0, 0.0, 2.0)])
    coarse = _medians([("PV", shown, 9, 6.5, 5.5, 7.5), ("SST", shown, 9, 8.0, 7.0, 9.0),
                       ("VIP", shown, 5, 1.0, 0.5, 1.5), ("PV", "not_shown", 10, 1.0, 0.0, 2.0)])
    table = dt_agreement(fine, coarse)
    assert table.set_index("pop_name").overlap.to_dict() == {"PV": True, "SST": False}
    assert table.metric.tolist() == [shown, shown]


def test_the_committed_table_is_the_rendering_of_the_committed_results():
    results = json.loads((REPO / "benchmarks" / "stimulus_results.json").read_text())
    assert render(results) == (REPO / "benchmarks" / "stimulus_results.md").read_text()
