"""Held-out comparison: model, seed model and the Billeh model side by side, on tables with known answers."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.__main__ import main
from analysis.heldout import billeh_comparison, distance_summary, heldout_table

COLUMNS = ["population", "pop_name", "cell_class", "metric", "unit", "n_model", "model_median", "model_lo",
           "model_hi", "source", "layer", "n_data", "data_median", "data_q25", "data_q75", "ks", "inside_iqr", "note"]


def _comparison(folder, rows):
    folder.mkdir(parents=True)
    table = pd.DataFrame([dict(zip(COLUMNS, ["V1", pop, "E", metric, "1", 100, median, median, median, "optotag",
                                             "L2/3", 50, 1.0, 0.5, 1.5, ks, inside, ""], strict=True))
                          for pop, metric, median, ks, inside in rows])
    table.to_csv(folder / "comparison.csv", index=False)
    return folder


def test_models_are_set_side_by_side_and_counted(tmp_path):
    model = _comparison(tmp_path / "model", [("LIF_exc", "fano_fl", 1.2, 0.1, True),
                                             ("PV", "fano_fl", 3.0, 0.8, False)])
    seed = _comparison(tmp_path / "seed", [("LIF_exc", "fano_fl", 0.1, 0.9, False),
                                           ("PV", "fano_fl", 0.2, 0.95, False)])
    table = heldout_table([model], [seed])
    assert list(table.pop_name) == ["LIF_exc", "PV"]
    assert table.model_median.tolist() == [1.2, 3.0] and table.seed_median.tolist() == [0.1, 0.2]
    summary = distance_summary(table).set_index("model")
    assert summary.loc["model", "inside_iqr"] == 1 and summary.loc["seed", "inside_iqr"] == 0
    assert summary.loc["model", "median_ks"] == pytest.approx(0.45)


def test_cli_refuses_folders_without_a_comparison(tmp_path, capsys):
    assert main(["heldout", "--model", str(tmp_path), "--out", str(tmp_path / "h.csv")]) == 2
    assert "no comparison.csv" in capsys.readouterr().err and not (tmp_path / "h.csv").exists()


def test_billeh_model_enters_through_the_same_comparison(shared_data):
    table = billeh_comparison(shared_data / "billeh2020" / "billeh_model_simulated_v1_rates.csv")
    e = table[(table.pop_name == "LIF_exc")].set_index("metric")
    assert set(e.index) == {"firing_rate_dg", "g_osi_dg", "g_dsi_dg"}
    assert e.loc["firing_rate_dg", "n_model"] > 1000  # its L2/3 excitatory neurons
    assert 0 <= e.loc["g_osi_dg", "ks"] <= 1
