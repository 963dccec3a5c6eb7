"""AllenSDK's flash and drifting-grating metrics on synthetic spike trains with closed-form answers.

Every expected value below is derived from the definitions in AllenSDK 2.16.2's source
(``allensdk/brain_observatory/ecephys/stimulus_analysis/{stimulus_analysis,flashes,drifting_gratings}.py`` and
``ecephys_session.py``), which the metrics go through unchanged:

* condition statistics (``spike_mean``) count the spikes of each presentation in (start_time, stop_time];
* PSTHs use 1 ms bins ``np.arange(0, trial_duration, 0.001)`` from onset (249 bins for flashes' 0.25 s);
* ``sustained_idx_fl = mean(psth) / max(psth)``, ``time_to_peak_fl`` = centre of the first bin at the maximum;
* ``on_off_ratio_fl = spike_mean(white) / spike_mean(black)``, NaN when the black mean is 0;
* ``fano = var(counts) / mean(counts)`` (numpy ``var``, ddof 0) over the preferred condition's trials, counts in
  [onset, onset + trial_duration];
* ``lifetime_sparseness = (1 - (sum r)^2 / (n sum r^2)) / (1 - 1/n)`` over the conditions' total spike counts r;
* ``firing_rate_*`` = spikes inside blocks / total block duration; a block breaks where onsets are more than
  2 trial_duration apart (every flash is its own 0.25 s block; the gratings, onsets 3 s apart, form one block);
* ``g_osi = |sum r_k exp(2i theta_k)| / sum r_k``, ``g_dsi = |sum r_k exp(i theta_k)| / sum r_k`` over the directions
  at the preferred temporal frequency;
* ``f1_f0``: each trial's 1 ms counts are folded into ``C = int(tf * 1.9985)`` cycles of ``P = int(1999 / C)`` bins;
  F1/F0 = 2 |sum_spikes exp(-2 pi i b / P)| / n over the spikes in the first C P bins (b = bin index), averaged over
  trials. Its continuous limit for a rate r(t) is ``2 |int_0^{CP} r(t) exp(-2 pi i t / P) dt| / int_0^{CP} r dt``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import allen_metrics as am

SEED = 20240601
FLASH_TRIALS = 40
GRATING_TRIALS = 5
DIRECTIONS = tuple(float(d) for d in range(0, 360, 45))
TFS = (2.0, 4.0)

# Flash units
TRANSIENT, SUSTAINED, SILENT_FL = 10, 11, 12
# Grating units
DIRECTIONAL, UNTUNED, RECTIFIED, SILENT_DG = 20, 21, 22, 23


def flash_table(rng: np.random.Generator, trials: int = FLASH_TRIALS) -> pd.DataFrame:
    """``trials`` white and black flashes of 250 ms, one every 2 s, seeded order, 1 s of gray first."""
    colors = rng.permutation(np.repeat([1.0, -1.0], trials))
    start = 1.0 + 2.0 * np.arange(len(colors))
    return pd.DataFrame({"start_time": start, "stop_time": start + 0.25, "stimulus_name": "flashes",
                         "color": colors, "orientation": np.nan, "temporal_frequency": np.nan,
                         "spatial_frequency": np.nan, "contrast": 1.0,
                         # project columns AllenSDK must not see as parameters (cycle_stop differs per trial)
                         "stimulus_key": np.where(colors > 0, "flash_white", "flash_black"), "screen": "flash",
                         "cycle_stop": start + 2.0})


def grating_table(rng: np.random.Generator, tfs=TFS, trials: int = GRATING_TRIALS, t0: float = 1.0) -> pd.DataFrame:
    """8 directions x ``tfs``, ``trials`` each, 2 s on + 1 s gray, seeded order."""
    conds = [(d, tf) for tf in tfs for d in DIRECTIONS]
    order = rng.permutation(np.repeat(np.arange(len(conds)), trials))
    start = t0 + 3.0 * np.arange(len(order))
    return pd.DataFrame({"start_time": start, "stop_time": start + 2.0, "stimulus_name": "drifting_gratings",
                         "color": np.nan, "orientation": [conds[i][0] for i in order],
                         "temporal_frequency": [conds[i][1] for i in order], "spatial_frequency": 0.04,
                         "contrast": 0.8})


def in_bins(rng: np.random.Generator, bins_ms: np.ndarray) -> np.ndarray:
    """One spike inside each listed 1 ms bin (s from onset), 0.2-0.8 ms into the bin: never on a bin edge."""
    bins_ms = np.asarray(bins_ms, float)
    return (bins_ms + rng.uniform(0.2, 0.8, bins_ms.size)) / 1000.0


def gray_spikes(rng: np.random.Generator, table: pd.DataFrame, rate_hz: float) -> np.ndarray:
    """Poisson spikes in the gray between presentations, >= 0.1 s away from every presentation."""
    edges = np.r_[0.0, table.stop_time.to_numpy()]
    ends = np.r_[table.start_time.to_numpy(), table.stop_time.max() + 1.0]
    out = [a + 0.1 + rng.uniform(0, b - a - 0.2, rng.poisson(rate_hz * (b - a - 0.2)))
           for a, b in zip(edges, ends, strict=True) if b - a > 0.2]
    return np.concatenate(out)


def flash_spikes(rng: np.random.Generator, table: pd.DataFrame) -> dict[int, np.ndarray]:
    transient, sustained = [gray_spikes(rng, table, 5.0)], []
    white_i = black_i = 0
    k = np.arange(250)
    for start, color in zip(table.start_time, table.color, strict=True):
        if color > 0:
            # bins 20..49 ms once, bin 30 twice: 31 spikes, all trials alike
            transient.append(start + in_bins(rng, np.r_[np.arange(20, 50), 30]))
            sustained.append(start + in_bins(rng, k[(k + white_i) % 4 == 0]))
            white_i += 1
        else:
            sustained.append(start + in_bins(rng, k[(k + black_i) % 8 == 0]))
            black_i += 1
    # keys deliberately not sorted: the output keeps this order
    return {SUSTAINED: np.concatenate(sustained), SILENT_FL: np.array([]), TRANSIENT: np.concatenate(transient)}


def rectified_sine_trial(rng: np.random.Generator, tf: float, per_cycle: int = 50, duration: float = 2.0):
    """Spikes of one trial following r(t) = max(0, sin 2 pi tf t): ``per_cycle`` spikes per cycle at the midpoint
    quantiles of the half-sine's density (CDF (1 - cos phi) / 2), jittered by < 0.05 ms."""
    u = (np.arange(per_cycle) + 0.5) / per_cycle
    phase = np.arccos(1.0 - 2.0 * u) / (2 * np.pi)  # cycles, in (0, 0.5)
    cycles = np.arange(int(np.ceil(tf * duration)))
    t = ((cycles[:, None] + phase[None, :]) / tf).ravel()
    t = t + rng.uniform(-5e-5, 5e-5, t.size)
    return t[(t > 0.001) & (t < duration - 0.001)]


def allen_f1_f0_rectified_sine(tf: float, duration: float = 2.0) -> float:
    """Continuous limit of AllenSDK's f1_f0 for r(t) = max(0, sin(2 pi tf t)), exact integrals.

    ``C = int(tf * t_max)`` with t_max the last 1 ms bin centre (duration - 1.5 ms), ``P = int(n_bins / C)`` ms with
    n_bins = duration / 1 ms - 1; F1/F0 = 2 |int_0^T r e^{-i W t} dt| / int_0^T r dt, T = C P, W = 2 pi / P.
    """
    n_bins = int(round(duration / 0.001)) - 1
    cycles = int(tf * (duration - 0.0015))
    period = int(n_bins / cycles) * 0.001
    total, w, big_w = cycles * period, 2 * np.pi * tf, 2 * np.pi / period

    def antiderivative(t):  # of sin(w t) exp(-i W t)
        return (np.exp(1j * (w - big_w) * t) / (1j * (w - big_w))
                + np.exp(-1j * (w + big_w) * t) / (1j * (w + big_w))) / 2j

    f1, f0 = 0j, 0.0
    k = 0
    while k / tf < total:  # positive half-cycles [k/tf, k/tf + 1/(2 tf)], cut at T
        a, b = k / tf, min(k / tf + 0.5 / tf, total)
        f1 += antiderivative(b) - antiderivative(a)
        f0 += (np.cos(w * a) - np.cos(w * b)) / w
        k += 1
    return 2 * abs(f1) / f0


def grating_spikes(rng: np.random.Generator, table: pd.DataFrame, session_s: float) -> dict[int, np.ndarray]:
    directional, rectified = [], []
    for start, ori, tf in zip(table.start_time, table.orientation, table.temporal_frequency, strict=True):
        if ori == 90.0:  # 20 spikes per trial at 2 Hz, 10 at 4 Hz, anywhere in the 2 s
            directional.append(start + np.sort(rng.uniform(0.01, 1.99, 20 if tf == 2.0 else 10)))
        if ori == 0.0 and tf == 4.0:
            rectified.append(start + rectified_sine_trial(rng, tf))
    untuned = np.sort(rng.uniform(0.0, session_s, rng.poisson(20.0 * session_s)))
    return {DIRECTIONAL: np.concatenate(directional), UNTUNED: untuned, RECTIFIED: np.concatenate(rectified),
            SILENT_DG: np.array([])}


@pytest.fixture(scope="module")
def flash_case():
    rng = np.random.default_rng(SEED)
    table = flash_table(rng)
    spikes = flash_spikes(rng, table)
    return spikes, table, am.flash_metrics(spikes, table)


@pytest.fixture(scope="module")
def grating_case():
    rng = np.random.default_rng(SEED + 1)
    table = grating_table(rng)
    spikes = grating_spikes(rng, table, float(table.stop_time.max()) + 1.0)
    return spikes, table, am.grating_metrics(spikes, table)


# ---------------------------------------------------------------- columns


def test_metric_columns_are_allensdks():
    _, _, flashes, gratings = am._sdk()
    assert am.FLASH_METRICS == tuple(c for c, _ in flashes.METRICS_COLUMNS.fget(None))
    assert am.GRATING_METRICS == tuple(c for c, _ in gratings.METRICS_COLUMNS.fget(None))
    # AllenSDK 2.16.2's Flashes has no time-to-first-spike or reliability metric
    assert "time_to_first_spike_fl" not in am.FLASH_METRICS
    assert not hasattr(flashes, "_get_time_to_first_spike")
    assert "reliability_fl" not in am.FLASH_METRICS


def test_flash_table_shape_and_order(flash_case):
    spikes, _, m = flash_case
    assert list(m.index) == list(spikes)  # every unit, silent included, in the given order
    assert m.index.name == "unit_id"
    assert tuple(m.columns) == am.FLASH_METRICS
    assert all(m.dtypes == np.float64)


# ---------------------------------------------------------------- flashes


def test_transient_on_unit(flash_case):
    m = flash_case[2].loc[TRANSIENT]
    # black gives 0 spikes: AllenSDK returns NaN (not inf) when the OFF mean is 0
    assert np.isnan(m.on_off_ratio_fl)
    # PSTH of the white condition: 1 in 29 bins (20-49 ms), 2 in bin 30 ms, 0 in the other 219 of 249 bins
    assert m.sustained_idx_fl == pytest.approx(31 / 249 / 2, rel=1e-12)
    assert m.sustained_idx_fl < 0.1  # transient
    assert m.time_to_peak_fl == pytest.approx(0.0305, abs=1e-9)  # centre of the 30-31 ms bin
    assert 0.020 <= m.time_to_peak_fl <= 0.050
    # 31 spikes in each of 40 white flashes over 80 blocks of 0.25 s; gray spikes are outside every block
    assert m.firing_rate_fl == pytest.approx(31 * 40 / (80 * 0.25), rel=1e-12)
    assert m.fano_fl == 0.0  # identical counts in every white trial
    assert m.lifetime_sparseness_fl == pytest.approx(1.0, rel=1e-12)  # responses (1240, 0)
    assert np.isnan(m.run_pval_fl) and np.isnan(m.run_mod_fl)  # zero running speed


def test_sustained_unit(flash_case):
    m = flash_case[2].loc[SUSTAINED]
    # white trial i fires in ms bins k with (k + i) % 4 == 0: each bin in exactly 10 of 40 trials, a flat PSTH
    assert m.sustained_idx_fl == pytest.approx(1.0, rel=1e-12)
    assert m.time_to_peak_fl == pytest.approx(0.0005, abs=1e-9)  # ties: AllenSDK takes the first bin
    # white counts 63, 63, 62, 62 (residues of 0..249 mod 4), mean 62.5; black mod 8: (2*32 + 6*31) / 8 = 31.25
    assert m.on_off_ratio_fl == pytest.approx(62.5 / 31.25, rel=1e-12)
    assert m.fano_fl == pytest.approx(0.25 / 62.5, rel=1e-9)  # var of {63, 63, 62, 62} = 0.25
    assert m.firing_rate_fl == pytest.approx((62.5 + 31.25) * 40 / 20.0, rel=1e-12)
    # responses (2500, 1250): (1 - 3750^2 / (2 (2500^2 + 1250^2))) / (1 - 1/2) = 0.2
    assert m.lifetime_sparseness_fl == pytest.approx(0.2, rel=1e-12)


def test_silent_flash_unit(flash_case):
    m = flash_case[2].loc[SILENT_FL]
    for col in ("on_off_ratio_fl", "sustained_idx_fl", "fano_fl", "lifetime_sparseness_fl", "run_pval_fl",
                "run_mod_fl"):
        assert np.isnan(m[col]), col
    assert m.firing_rate_fl == 0.0  # AllenSDK's overall_firing_rate: no spikes -> 0
    assert m.time_to_peak_fl == pytest.approx(0.0005)  # all-zero PSTH ties at the first bin, not NaN


def test_chunking_does_not_change_values(flash_case):
    spikes, table, m = flash_case
    pd.testing.assert_frame_equal(am.flash_metrics(spikes, table, chunk_size=1), m)


def test_warning_filters_are_restored(flash_case):
    spikes, table, _ = flash_case
    before = list(warnings.filters)
    am.flash_metrics(spikes, table)
    assert list(warnings.filters) == before


# ---------------------------------------------------------------- drifting gratings


def test_grating_table_shape(grating_case):
    spikes, _, m = grating_case
    assert list(m.index) == list(spikes)
    assert tuple(m.columns) == am.GRATING_METRICS
    assert m.c50_dg.isna().all()  # no drifting_gratings_contrast stimulus
    assert m.run_pval_dg.isna().all() and m.run_mod_dg.isna().all()


def test_direction_selective_unit(grating_case):
    m = grating_case[2].loc[DIRECTIONAL]
    assert m.pref_ori_dg == 90.0 and not m.pref_ori_multi_dg
    assert m.pref_tf_dg == 2.0 and not m.pref_tf_multi_dg
    # only the 90 deg direction responds at the preferred TF: |r e^{i pi}| / r = |r e^{i pi/2}| / r = 1 exactly
    assert m.g_osi_dg == pytest.approx(1.0, abs=1e-12)
    assert m.g_dsi_dg == pytest.approx(1.0, abs=1e-12)
    assert m.fano_dg == 0.0  # 20 spikes in every preferred trial
    # 16 conditions, totals 100 and 50: (1 - 150^2 / (16 (100^2 + 50^2))) / (1 - 1/16)
    assert m.lifetime_sparseness_dg == pytest.approx((1 - 150**2 / (16 * 12500)) / (15 / 16), rel=1e-12)
    # one block (onsets 3 s apart < 2 x 2 s) from the first onset to the last offset: 80 x 3 s - 1 s of gray
    assert m.firing_rate_dg == pytest.approx(150 / 239.0, rel=1e-12)


def test_untuned_poisson_unit(grating_case):
    m = grating_case[2].loc[UNTUNED]
    # r_k = mean of 5 Poisson(40) counts: var 8 each; E|sum r_k e^{2i theta_k}|^2 = 8 * 8 = 64 against
    # sum r_k ~ 320, so g_osi (and g_dsi) ~ 8 / 320 = 0.025 rms; 0.1 is 4 rms (P ~ exp(-16) for the 2-D Gaussian).
    assert m.g_osi_dg < 0.1
    assert m.g_dsi_dg < 0.1
    assert m.lifetime_sparseness_dg < 0.1  # flat responses
    assert m.firing_rate_dg == pytest.approx(20.0, rel=0.05)  # ~4800 spikes: Poisson sd 1.4%
    # fano_dg: 5 trials of the condition picked for its largest mean (selection-biased): no tight closed form
    assert np.isfinite(m.fano_dg) and m.fano_dg > 0


def test_rectified_sine_unit_f1_f0_allensdk_folding(grating_case):
    m = grating_case[2].loc[RECTIFIED]
    assert m.pref_ori_dg == 0.0 and m.pref_tf_dg == 4.0
    assert m.g_osi_dg == pytest.approx(1.0, abs=1e-12) and m.g_dsi_dg == pytest.approx(1.0, abs=1e-12)
    # AllenSDK folds the 4 Hz response into C = int(4 * 1.9985) = 7 cycles of P = int(1999 / 7) = 285 ms (not 8
    # of 250 ms), so over the 7 folds the response drifts by ~1 period and F1 nearly cancels.
    expected = allen_f1_f0_rectified_sine(4.0)
    assert expected == pytest.approx(0.0304, abs=1e-3)
    # Tolerance: 50 midpoint-quantile spikes per cycle approximate the integrals to O(50^-2) (~4e-4 of F0), and 1 ms
    # binning moves each spike's folded phase by < 1/285 cycle; a common shift only rotates F1, the varying part is
    # < pi/285 ~ 0.011 in units of 2|F1|/F0.
    assert m.f1_f0_dg == pytest.approx(expected, abs=0.012)
    assert m.f1_f0_dg < 0.1  # far from the textbook pi/2 of a half-wave rectified sine


def test_rectified_sine_f1_f0_when_folding_matches():
    """At tf = 4.001 / 1.9985 Hz AllenSDK's 4 cycles of 499 ms match the 499.6 ms period: F1/F0 -> pi / 2."""
    rng = np.random.default_rng(SEED + 2)
    tf = 4.001 / 1.9985
    table = grating_table(rng, tfs=(tf,), trials=2)
    spikes = {1: np.concatenate([s + rectified_sine_trial(rng, tf) for s, o in
                                 zip(table.start_time, table.orientation, strict=True) if o == 0.0])}
    m = am.grating_metrics(spikes, table).loc[1]
    expected = allen_f1_f0_rectified_sine(tf)
    # half-wave rectified sine: mean A/pi, first harmonic A/2 -> F1/F0 = pi/2 (folding error 0.6 ms per cycle)
    assert expected == pytest.approx(np.pi / 2, abs=0.005)
    assert m.f1_f0_dg == pytest.approx(expected, abs=0.012)  # tolerance as in the test above (P = 499 ms: < 0.007)
    assert m.f1_f0_dg > 1.0


def test_silent_grating_unit(grating_case):
    m = grating_case[2].loc[SILENT_DG]
    for col in ("f1_f0_dg", "g_osi_dg", "g_dsi_dg", "fano_dg", "lifetime_sparseness_dg", "c50_dg", "run_pval_dg",
                "run_mod_dg"):
        assert np.isnan(m[col]), col
    assert m.firing_rate_dg == 0.0
    assert m.mod_idx_dg == 0.0  # AllenSDK's modulation_index returns 0 for a zero PSD
    # every direction and TF ties at 0: flagged as multiple, the smallest value reported
    assert m.pref_ori_multi_dg and m.pref_tf_multi_dg
    assert m.pref_ori_dg == 0.0 and m.pref_tf_dg == 2.0


# ---------------------------------------------------------------- both stimuli, session


def test_unit_metrics_both_stimuli(flash_case, grating_case):
    fl_spikes, fl_table, fl = flash_case
    dg_spikes, dg_table, dg = grating_case
    offset = fl_table.stop_time.max() + 10.0
    table = pd.concat([fl_table, pd.DataFrame({"start_time": [fl_table.stop_time.max() + 1.0],
                                               "stop_time": [offset - 1.0], "stimulus_name": ["spontaneous"]}),
                       dg_table.assign(start_time=dg_table.start_time + offset, stop_time=dg_table.stop_time + offset)],
                      ignore_index=True)
    spikes = {u: np.r_[fl_spikes.get(u, []), dg_spikes.get(u, np.array([])) + offset]
              for u in [*fl_spikes, *dg_spikes]}
    m = am.unit_metrics(spikes, table.sample(frac=1.0, random_state=0))  # row order does not matter
    assert tuple(m.columns) == am.FLASH_METRICS + am.GRATING_METRICS
    pd.testing.assert_frame_equal(m.loc[list(fl_spikes), list(am.FLASH_METRICS)], fl)
    pd.testing.assert_frame_equal(m.loc[list(dg_spikes), list(am.GRATING_METRICS)], dg)


def test_unit_metrics_flashes_only(flash_case):
    spikes, table, fl = flash_case
    pd.testing.assert_frame_equal(am.unit_metrics(spikes, table), fl)


def test_make_session(flash_case):
    spikes, table, _ = flash_case
    session = am.make_session(spikes, table, structure_acronym="VISl")
    assert type(session).__name__ == "EcephysSession"
    assert set(session.units.index) == set(spikes)
    assert (session.units.ecephys_structure_acronym == "VISl").all()
    pres = session.stimulus_presentations
    assert {"stimulus_condition_id", "stimulus_block", "duration"} <= set(pres.columns)
    assert "cycle_stop" not in pres.columns and "stimulus_key" not in pres.columns
    conds = session.stimulus_conditions
    assert sorted(conds.color) == [-1.0, 1.0]  # two conditions: the per-trial columns were dropped
    assert (conds.orientation == "null").all()
    assert (session.running_speed.velocity == 0).all()


def test_project_schedule_table():
    stimuli = pytest.importorskip("inputs.stimuli")
    table = stimuli.schedule("flash", 3, 0, stimuli.load_protocol())
    spikes = {0: np.sort(np.random.default_rng(SEED).uniform(0, table.cycle_stop.max(), 200)), 1: np.array([])}
    m = am.unit_metrics(spikes, table)
    assert tuple(m.columns) == am.FLASH_METRICS and list(m.index) == [0, 1]


# ---------------------------------------------------------------- bad input


def _small_flashes() -> pd.DataFrame:
    return flash_table(np.random.default_rng(0), trials=3)


@pytest.mark.parametrize(("mutate", "fragments"), [
    (lambda t: t.drop(columns="start_time"), ["start_time", "required"]),
    (lambda t: t.drop(columns="color"), ["color", "flashes"]),
    (lambda t: t.assign(color=1.0), ["color", "black", "-1.0"]),
    (lambda t: t.assign(color=np.where(t.color > 0, 0.5, -1.0)), ["color", "0.5", "1.0 (white)", "-1.0 (black)"]),
    (lambda t: t.assign(start_time=t.start_time - 2.0), ["start_time", ">= 0"]),
    (lambda t: t.assign(stop_time=np.r_[np.nan, t.stop_time[1:]]), ["stop_time", "NaN"]),
    (lambda t: t.assign(stop_time=t.start_time), ["stop_time", "start_time"]),
    (lambda t: t.assign(stop_time=t.start_time + 3.0), ["overlap"]),
    (lambda t: t.assign(stimulus_name="flash_250ms"), ["stimulus_name", "flashes, drifting_gratings, spontaneous"]),
])
def test_bad_presentations(mutate, fragments):
    with pytest.raises(am.MetricsError) as err:
        am.flash_metrics({1: np.array([1.1])}, mutate(_small_flashes()))
    for fragment in fragments:
        assert fragment in str(err.value)


def test_one_trial_message_names_the_condition():
    t = _small_flashes()
    whites = np.flatnonzero(t.color > 0)
    with pytest.raises(am.MetricsError, match=r"color=1\.0 has 1 presentation\(s\).*>= 2 trials.*fano_fl"):
        am.flash_metrics({1: np.array([1.1])}, t.drop(index=whites[1:]))


@pytest.mark.parametrize(("spikes", "fragment"), [
    ({1: np.array([1.0, -0.5])}, "spike_times[1]"),
    ({1: np.array([1.0, np.nan])}, "spike_times[1]"),
    ({"a": np.array([1.0])}, "unit ids"),
    ({1.5: np.array([1.0])}, "unit ids"),
    ({}, "non-empty"),
    ({1: np.ones((2, 2))}, "1-D"),
])
def test_bad_spike_times(spikes, fragment):
    with pytest.raises(am.MetricsError) as err:
        am.flash_metrics(spikes, _small_flashes())
    assert fragment in str(err.value)


def test_bad_grating_columns():
    t = grating_table(np.random.default_rng(0), tfs=(2.0,), trials=2)
    with pytest.raises(am.MetricsError, match="temporal_frequency"):
        am.grating_metrics({1: np.array([2.0])}, t.drop(columns="temporal_frequency"))
    with pytest.raises(am.MetricsError, match=r"temporal_frequency.*>= 0\.50"):
        am.grating_metrics({1: np.array([2.0])}, t.assign(temporal_frequency=0.4))
    with pytest.raises(am.MetricsError, match="orientation"):
        am.grating_metrics({1: np.array([2.0])}, t.assign(orientation=np.nan))


def test_missing_stimulus():
    gray = pd.DataFrame({"start_time": [0.0], "stop_time": [10.0], "stimulus_name": ["spontaneous"]})
    with pytest.raises(am.MetricsError, match="^the presentation table has no flashes or drifting_gratings "
                                              "presentations; valid stimulus_name values: flashes, "
                                              "drifting_gratings, spontaneous"):
        am.unit_metrics({1: np.array([1.0])}, gray)
    with pytest.raises(am.MetricsError, match="no drifting_gratings presentations"):
        am.grating_metrics({1: np.array([1.0])}, _small_flashes())
    with pytest.raises(am.MetricsError, match="no flashes presentations"):
        am.flash_metrics({1: np.array([1.0])}, gray)
