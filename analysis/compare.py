"""Model versus data, population by population: medians with bootstrap intervals, their ratio, and the distance
between the rate distributions.

The distance is the two-sample Kolmogorov-Smirnov statistic between the log rates of the cells and units that
fired (:func:`scipy.stats.ks_2samp`); the fraction of zero rates is reported beside it, since a log rate does
not exist for a silent cell. A model cell with no spike in a run of length T has a rate below 1/T, so its zero
is a bound, not a measurement.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .reference import CONDITIONS, MIN_UNITS, choose_reference, load_populations, reference_sample

N_BOOT = 2000
LEVEL = 0.95
COMPARISON_COLUMNS = ("population", "condition", "source", "layer", "n_model", "n_data", "model_median_hz",
                      "model_lo_hz", "model_hi_hz", "data_median_hz", "data_lo_hz", "data_hi_hz", "ratio",
                      "ratio_lo", "ratio_hi", "ks_log_rate", "ks_p", "model_zero_frac", "data_zero_frac")


def median_ci(values: np.ndarray, seed: int = 0, n_boot: int = N_BOOT, level: float = LEVEL) -> tuple[float, float,
                                                                                                      float]:
    """Median of ``values`` with a percentile bootstrap interval (:func:`scipy.stats.bootstrap`).

    Returns
    -------
    tuple of float
        (median, low, high); all NaN for an empty sample, the median itself as both bounds for one value.

    Examples
    --------
    >>> median_ci(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))[0]
    3.0
    """
    values = np.asarray(values, float)
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    median = float(np.median(values))
    if len(values) == 1:
        return median, median, median
    res = stats.bootstrap((values,), np.median, n_resamples=n_boot, confidence_level=level, method="percentile",
                          vectorized=True, random_state=np.random.default_rng(seed))
    return median, float(res.confidence_interval.low), float(res.confidence_interval.high)


def ratio_ci(model: np.ndarray, data: np.ndarray, seed: int = 0, n_boot: int = N_BOOT,
             level: float = LEVEL) -> tuple[float, float, float]:
    """Ratio of medians model / data with a percentile bootstrap interval (the two samples resampled apart).

    Returns
    -------
    tuple of float
        (ratio, low, high); NaN where a sample is empty or the data median is 0.
    """
    model, data = np.asarray(model, float), np.asarray(data, float)
    if len(model) == 0 or len(data) == 0 or np.median(data) == 0:
        return np.nan, np.nan, np.nan
    rng = np.random.default_rng(seed)
    boot_model = np.median(rng.choice(model, size=(n_boot, len(model))), axis=1)
    boot_data = np.median(rng.choice(data, size=(n_boot, len(data))), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = boot_model / boot_data
    boot = boot[np.isfinite(boot)]
    alpha = (1 - level) / 2
    return (float(np.median(model) / np.median(data)), float(np.quantile(boot, alpha)),
            float(np.quantile(boot, 1 - alpha)))


def ks_log_rates(model: np.ndarray, data: np.ndarray) -> tuple[float, float]:
    """KS statistic and p-value between the log rates of the non-zero entries of two samples (NaN if one is empty).

    Examples
    --------
    >>> ks_log_rates(np.array([1.0, 2.0, 0.0]), np.array([1.0, 2.0]))
    (0.0, 1.0)
    """
    model, data = np.asarray(model, float), np.asarray(data, float)
    model, data = model[model > 0], data[data > 0]
    if len(model) == 0 or len(data) == 0:
        return np.nan, np.nan
    res = stats.ks_2samp(np.log10(model), np.log10(data))
    return float(res.statistic), float(res.pvalue)


def compare_sample(model: np.ndarray, data: np.ndarray, seed: int = 0) -> dict:
    """Every statistic of :data:`COMPARISON_COLUMNS` that depends only on the two samples (rates in Hz)."""
    m, m_lo, m_hi = median_ci(model, seed)
    d, d_lo, d_hi = median_ci(data, seed + 1)
    r, r_lo, r_hi = ratio_ci(model, data, seed + 2)
    ks, p = ks_log_rates(model, data)
    return {"n_model": len(model), "n_data": len(data), "model_median_hz": m, "model_lo_hz": m_lo,
            "model_hi_hz": m_hi, "data_median_hz": d, "data_lo_hz": d_lo, "data_hi_hz": d_hi, "ratio": r,
            "ratio_lo": r_lo, "ratio_hi": r_hi, "ks_log_rate": ks, "ks_p": p,
            "model_zero_frac": float(np.mean(np.asarray(model) == 0)) if len(model) else np.nan,
            "data_zero_frac": float(np.mean(np.asarray(data) == 0)) if len(data) else np.nan}


def compare_model(cells: pd.DataFrame, rates: pd.DataFrame, summary: pd.DataFrame,
                  conditions: tuple[str, ...] = tuple(CONDITIONS), seed: int = 0,
                  populations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each model population against its reference (:func:`analysis.reference.choose_reference`) per condition.

    Parameters
    ----------
    cells : pandas.DataFrame
        Tidy per-cell table (``pop_name``, ``rate_hz``).
    rates, summary : pandas.DataFrame
        The reference's per-unit rates and summary (:mod:`analysis.reference`).
    conditions : tuple of str
        Conditions to compare with.
    seed : int
        Seed of the bootstrap.
    populations : pandas.DataFrame, optional
        Model population -> cell class (default ``common/populations.csv``).

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARISON_COLUMNS`; a population with no reference of at least ``MIN_UNITS`` units has NaN
        data columns and ``source`` ``none``.
    """
    populations = load_populations() if populations is None else populations
    rows = []
    for population, group in cells.groupby("pop_name", sort=False):
        if population not in populations.index:
            continue
        model = group.rate_hz.to_numpy(float)
        for condition in conditions:
            ref = choose_reference(summary, populations.loc[population, "cell_class"], condition)
            data = np.zeros(0) if ref is None else reference_sample(rates, ref)
            row = {"population": population, "condition": condition,
                   "source": "none" if ref is None else ref.source, "layer": "" if ref is None else ref.layer}
            rows.append({**row, **compare_sample(model, data, seed)})
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def compare_peer(rates: pd.DataFrame, summary: pd.DataFrame, seed: int = 0,
                 populations: pd.DataFrame | None = None) -> pd.DataFrame:
    """The Billeh et al. 2020 model's L2/3 populations against the data under drifting gratings (its stimulus).

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARISON_COLUMNS` with the peer in the ``model_*`` columns.
    """
    populations = load_populations() if populations is None else populations
    rows = []
    for population, cls in populations.cell_class.items():
        peer = rates[(rates.source == "billeh2020") & (rates.cell_class == cls)].gratings_hz.dropna().to_numpy(float)
        ref = choose_reference(summary, cls, "gratings", MIN_UNITS)
        data = np.zeros(0) if ref is None else reference_sample(rates, ref)
        rows.append({"population": population, "condition": "gratings",
                     "source": "none" if ref is None else ref.source, "layer": "" if ref is None else ref.layer,
                     **compare_sample(peer, data, seed)})
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
