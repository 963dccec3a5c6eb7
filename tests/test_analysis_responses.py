"""The response-metric reference: comparison statistics on hand-made tables with known answers, the committed
per-unit table against a regeneration from ../shared/data, and the LGd "responds to flashes" criterion."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import responses as resp
from analysis.reference import MIN_UNITS
from inputs.rates import qc_mask

MAIN = ("firing_rate_fl", "time_to_peak_fl", "sustained_idx_fl", "g_osi_dg", "g_dsi_dg", "spontaneous_rate")


def _hand_table(rng: np.random.Generator) -> pd.DataFrame:
    """A reference table by hand: 300 optotag E L2/3 units, 4 optotag PV L2/3 + 8 PV L5, 6 labelled PV L2/3
    (spontaneous only), 3 VIP units, 40 LGd units of which 30 respond to flashes; on_off_ratio_fl empty."""
    def units(source, cls, layer, n, start, **metrics):
        table = pd.DataFrame({"source": source, "unit_id": np.arange(start, start + n), "cell_class": cls,
                              "layer": layer})
        for metric, values in metrics.items():
            table[metric] = values
        return table

    parts = [
        units("optotag", "E", "L2/3", 300, 0, firing_rate_fl=rng.lognormal(0.0, 1.0, 300),
              time_to_peak_fl=rng.uniform(0.03, 0.2, 300), spontaneous_rate=rng.gamma(1.0, 1.0, 300)),
        units("optotag", "PV", "L2/3", 4, 1000, firing_rate_fl=10.0, spontaneous_rate=5.0),
        units("optotag", "PV", "L5", 8, 1100, firing_rate_fl=20.0, spontaneous_rate=6.0),
        units("labelled", "PV", "L2/3", 6, 2000, spontaneous_rate=8.0),
        units("optotag", "VIP", "L2/3", 3, 3000, firing_rate_fl=2.0),
        units("lgd", "LGd", "LGd", 40, 4000, firing_rate_fl=np.r_[np.full(30, 9.0), np.full(10, 1.0)],
              time_to_peak_fl=np.r_[np.full(30, 0.05), np.full(10, 0.2)]),
    ]
    table = pd.concat(parts, ignore_index=True)
    table["flash_responsive"] = pd.array(np.where(table.source == "lgd", resp.flash_responsive(table.time_to_peak_fl),
                                                  pd.NA), dtype="boolean")
    for metric in resp.METRICS:
        if metric not in table:
            table[metric] = np.nan
    return table[list(resp.METRIC_COLUMNS)]


def _model(pop_name: str, population: str = "V1", **metrics) -> pd.DataFrame:
    n = len(next(iter(metrics.values())))
    return pd.DataFrame({"population": population, "node_id": np.arange(n), "pop_name": pop_name, **metrics})


def test_flash_responsive_window():
    lo, hi = resp.LGD_PEAK_WINDOW_S
    t = np.array([0.0005, lo - 1e-4, lo, 0.05, hi, hi + 1e-4, np.nan])
    assert resp.flash_responsive(t).tolist() == [False, False, True, True, True, False, False]


def test_model_drawn_from_the_data_lies_inside_and_a_shifted_one_outside():
    rng = np.random.default_rng(0)
    table = _hand_table(rng)
    data = table[(table.source == "optotag") & (table.cell_class == "E")].firing_rate_fl.to_numpy()
    same = _model("LIF_exc", firing_rate_fl=rng.choice(data, 2000))
    row = resp.compare_metrics(same, table=table).iloc[0]
    assert (row.source, row.layer, row.n_data, row.n_model) == ("optotag", "L2/3", 300, 2000)
    assert row.data_median == pytest.approx(np.median(data))
    assert (row.data_q25, row.data_q75) == pytest.approx(tuple(np.quantile(data, [0.25, 0.75])))
    assert row.inside_iqr and row.ks < 0.06
    assert row.model_lo <= row.model_median <= row.model_hi

    far = _model("LIF_exc", firing_rate_fl=data + 10 * data.max())
    row = resp.compare_metrics(far, table=table).iloc[0]
    assert not row.inside_iqr and row.ks == pytest.approx(1.0)
    assert row.model_median == pytest.approx(np.median(data) + 10 * data.max())


def test_source_preference_missing_data_and_empty_populations():
    rng = np.random.default_rng(1)
    table = _hand_table(rng)
    model = pd.concat([
        _model("PV", firing_rate_fl=np.full(5, 20.0), spontaneous_rate=np.full(5, 8.0),
               on_off_ratio_fl=np.ones(5), g_osi_dg=np.full(5, 0.3)),
        _model("VIP", firing_rate_fl=np.full(5, 2.0), spontaneous_rate=np.full(5, np.nan),
               on_off_ratio_fl=np.ones(5), g_osi_dg=np.full(5, 0.3)),
        _model("tON", "LGN", firing_rate_fl=np.full(5, 9.0), spontaneous_rate=np.full(5, 3.0),
               on_off_ratio_fl=np.ones(5), g_osi_dg=np.full(5, 0.1)),
    ], ignore_index=True)
    out = resp.compare_metrics(model, pop_names=["PV", "VIP", "tON", "SST"], table=table).set_index(
        ["pop_name", "metric"])
    assert len(out) == 4 * 4
    # PV: 4 L2/3 optotag units < MIN_UNITS -> labelled L2/3 (spontaneous only) -> optotag all layers (flash)
    assert MIN_UNITS == 5
    assert tuple(out.loc[("PV", "firing_rate_fl"), ["source", "layer", "n_data"]]) == ("optotag", "all", 12)
    assert tuple(out.loc[("PV", "spontaneous_rate"), ["source", "layer", "n_data"]]) == ("labelled", "L2/3", 6)
    # a metric empty in every source: 'none' with the note
    for pop in ("PV", "VIP", "tON", "SST"):
        row = out.loc[(pop, "on_off_ratio_fl")]
        assert (row.source, row.layer, row.n_data) == ("none", "none", 0)
        assert row.note == resp.NO_DATA_NOTE and pd.isna(row.inside_iqr) and np.isnan(row.ks)
    # too few VIP units; the VIP spontaneous rates are all NaN -> n_model 0
    assert out.loc[("VIP", "firing_rate_fl"), "source"] == "none"
    assert out.loc[("VIP", "firing_rate_fl"), "note"].startswith("fewer than")
    vip = out.loc[("VIP", "spontaneous_rate")]
    assert vip.n_model == 0 and np.isnan(vip.model_median)
    # LGN tON -> the flash-responsive LGd units only (30 of 40); LGd has no spontaneous rate
    ton = out.loc[("tON", "firing_rate_fl")]
    assert (ton.population, ton.cell_class, ton.source, ton.n_data, ton.data_median) == ("LGN", "LGd", "lgd", 30, 9.0)
    assert ton.inside_iqr and ton.ks == 0.0
    assert out.loc[("tON", "spontaneous_rate"), "note"].startswith("no data side")
    # SST listed but absent from the model: rows with n_model 0, no crash
    sst = out.loc["SST"]
    assert (sst.n_model == 0).all() and sst.model_median.isna().all() and sst.inside_iqr.isna().all()
    text = resp.format_metric_table(out.reset_index())
    assert "on_off_ratio_fl" in text and resp.NO_DATA_NOTE in text and len(text.splitlines()) == 17


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        resp.choose_metric_reference("E", "firing_rate_ns")


# ---- the committed table ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def committed() -> pd.DataFrame:
    return resp.load_metric_reference()


def test_committed_table_is_plausible(committed):
    assert list(committed.columns) == list(resp.METRIC_COLUMNS)
    assert set(committed.source) == {"optotag", "labelled", "lgd"}
    assert not committed.duplicated(["source", "unit_id"]).any()
    counts = committed.groupby(["source", "cell_class"]).size()
    assert counts[("optotag", "E")] > 1000 and counts[("lgd", "LGd")] > 1000
    assert counts[("optotag", "E")] > counts[("optotag", "PV")] > counts[("optotag", "VIP")]
    assert counts[("labelled", "E")] > counts[("labelled", "PV")] > counts[("labelled", "SST")]
    # the labelled source gives spontaneous rates only; on_off_ratio_fl is empty everywhere
    labelled = committed[committed.source == "labelled"]
    assert labelled.spontaneous_rate.notna().all()
    assert labelled[[m for m in resp.METRICS if m != "spontaneous_rate"]].isna().all().all()
    assert committed.on_off_ratio_fl.isna().all()
    # AllenSDK units: times in seconds (0-0.25 s window), rates in Hz, indices in [0, 1]
    assert committed.time_to_peak_fl.max() <= 0.25 and committed.time_to_first_spike_fl.max() <= 0.25
    assert committed[["g_osi_dg", "g_dsi_dg", "lifetime_sparseness_fl"]].melt().value.dropna().between(0, 1).all()
    assert (committed[["firing_rate_fl", "firing_rate_dg", "spontaneous_rate"]].melt().value.dropna() >= 0).all()
    assert committed.flash_responsive.isna().eq(committed.source != "lgd").all()
    # the main metrics have a reference for E, PV and LGd; the numbers reported in the provenance file match
    for metric in ("firing_rate_fl", "time_to_peak_fl", "sustained_idx_fl", "spontaneous_rate"):
        for cls in ("E", "PV", "SST"):
            assert resp.choose_metric_reference(cls, metric, committed) is not None, (cls, metric)
    assert resp.choose_metric_reference("E", "firing_rate_fl", committed).layer == "L2/3"
    assert resp.choose_metric_reference("LGd", "firing_rate_fl", committed).source == "lgd"
    assert resp.choose_metric_reference("LGd", "spontaneous_rate", committed) is None
    provenance = json.loads(resp.METRICS_SOURCE_FILE.read_text())
    assert provenance["non_nan_units"] == resp.metric_counts(committed)
    assert provenance["rows"] == committed.source.value_counts().to_dict()


def test_committed_lgd_criterion(committed):
    lgd = committed[committed.source == "lgd"]
    responsive = lgd.flash_responsive.astype(bool)
    assert (responsive == resp.flash_responsive(lgd.time_to_peak_fl)).all()
    # the fraction stated in the module docstring: 646 of 1,301 units (49.7 %)
    assert (int(responsive.sum()), len(lgd)) == (646, 1301)


def test_committed_table_matches_a_regeneration(shared_data, tmp_path, committed):
    paths = resp.write_metric_reference(shared_data, tmp_path)
    fresh = resp.load_metric_reference(paths["metrics"])
    pd.testing.assert_frame_equal(fresh, committed)
    new, old = (json.loads(p.read_text()) for p in (paths["source"], resp.METRICS_SOURCE_FILE))
    assert new == old  # same inputs (sha256), counts and criterion


def test_lgd_criterion_on_the_shared_data(shared_data, committed):
    """The criterion, recomputed here from the raw LGd tables: the share it keeps, and that it keeps a response
    peak, not chance: the density of PSTH peaks in the window is several times the flat density of 0.15-0.25 s."""
    files = sorted((shared_data / "allen_neuropixels" / "lgd_units").glob("lgd_session_*.csv"))
    units = pd.concat([pd.read_csv(f, low_memory=False) for f in files], ignore_index=True)
    assert len(files) == 33 and len(units) == 2582
    units = units[(units.ecephys_structure_acronym == "LGd") & qc_mask(units, "allen")]
    t = units.time_to_peak_fl.to_numpy(float)
    lo, hi = resp.LGD_PEAK_WINDOW_S
    kept = (t >= lo) & (t <= hi)
    lgd = committed[committed.source == "lgd"]
    assert len(units) == len(lgd) and kept.sum() == lgd.flash_responsive.sum()
    assert kept.mean() == pytest.approx(646 / 1301)
    floor_per_s = ((t >= 0.15) & (t <= 0.25)).sum() / 0.10
    window_per_s = kept.sum() / (hi - lo)
    assert window_per_s > 3 * floor_per_s
    chance = floor_per_s * (hi - lo) / kept.sum()  # the share of kept units that would peak there by chance
    assert 0.2 < chance < 0.3
    # and the peak-density edge: 5-ms bins before the window hold fewer than half the first bins inside it
    counts, _ = np.histogram(t, bins=np.arange(0.0, 0.2501, 0.005))
    first_inside = counts[round(lo / 0.005)]
    assert counts[: round(lo / 0.005)].max() < 0.6 * first_inside
