"""Irregularity and correlation of spike trains: ISI CV, spike-count correlations and population count statistics.

The measures tell whether the network fires irregularly (fluctuation-driven: ISI CV near 1) and how correlated
its cells are (spike-count correlations, population Fano factor), to set beside published values for mouse V1
L2/3.

Conventions shared by every function:

- spikes are two 1-D arrays of equal length, ``node_ids`` (int) and ``times_ms`` (float, ms), in any order;
- ``cell_ids`` (unique ints) are the cells considered: spikes of other nodes are ignored, and a cell of
  ``cell_ids`` without spikes is silent (all-zero counts), not missing;
- the analysis window is ``(t_start_ms, t_stop_ms]`` (ms), open on the left and closed on the right, and so are
  the count bins: bin ``k`` is ``(t_start_ms + k * bin_ms, t_start_ms + (k + 1) * bin_ms]``. A last bin that
  would stick out of the window is dropped, together with its spikes;
- randomness (pair sampling, bootstrap) comes from a :class:`numpy.random.Generator` or an int seed, so results
  are deterministic given the seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

#: Relative slack when counting whole bins in a window, so that e.g. 0.3 ms / 0.1 ms gives 3 bins, not 2.
_BIN_SLACK = 1e-9

#: Columns of :func:`variability_report`, in order.
REPORT_COLUMNS = ("measure", "group", "group_a", "group_b", "bin_ms", "value", "n", "mean", "median", "std",
                  "ci_low", "ci_high")


# --------------------------------------------------------------------------------------------------- validation
def _spike_arrays(node_ids: ArrayLike, times_ms: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Spikes as 1-D int64 ids and float64 times (ms); ValueError naming the argument if they do not fit."""
    node_ids = np.asarray(node_ids)
    times_ms = np.asarray(times_ms, dtype=float)
    if node_ids.ndim != 1:
        raise ValueError(f"node_ids must be 1-D, got shape {node_ids.shape}")
    if times_ms.ndim != 1:
        raise ValueError(f"times_ms must be 1-D, got shape {times_ms.shape}")
    if len(times_ms) != len(node_ids):
        raise ValueError(f"times_ms has {len(times_ms)} entries but node_ids has {len(node_ids)}: one time (ms) "
                         "per spike is needed")
    if node_ids.size and not np.issubdtype(node_ids.dtype, np.integer):
        raise ValueError(f"node_ids must be integers, got dtype {node_ids.dtype}")
    return node_ids.astype(np.int64, copy=False), times_ms


def _cell_array(cell_ids: ArrayLike) -> np.ndarray:
    """Cell ids as a 1-D int64 array; ValueError if not 1-D, not integer or not unique."""
    cell_ids = np.asarray(cell_ids)
    if cell_ids.ndim != 1:
        raise ValueError(f"cell_ids must be 1-D, got shape {cell_ids.shape}")
    if cell_ids.size and not np.issubdtype(cell_ids.dtype, np.integer):
        raise ValueError(f"cell_ids must be integers, got dtype {cell_ids.dtype}")
    if len(np.unique(cell_ids)) != len(cell_ids):
        raise ValueError("cell_ids contains duplicates")
    return cell_ids.astype(np.int64, copy=False)


def _n_bins(bin_ms: float, t_start_ms: float, t_stop_ms: float) -> int:
    """Whole bins of ``bin_ms`` (ms) in ``(t_start_ms, t_stop_ms]``; ValueError if there is none."""
    if not t_stop_ms > t_start_ms:
        raise ValueError(f"t_stop_ms ({t_stop_ms}) must be greater than t_start_ms ({t_start_ms})")
    if not bin_ms > 0:
        raise ValueError(f"bin_ms must be positive, got {bin_ms}")
    n_bins = int(np.floor((t_stop_ms - t_start_ms) / bin_ms + _BIN_SLACK))
    if n_bins < 1:
        raise ValueError(f"bin_ms ({bin_ms} ms) is longer than the window ({t_start_ms}, {t_stop_ms}] "
                         f"({t_stop_ms - t_start_ms} ms): no whole bin fits")
    return n_bins


def _bin_index(times_ms: np.ndarray, bin_ms: float, t_start_ms: float) -> np.ndarray:
    """Index of the left-open bin ``(t_start + k bin, t_start + (k+1) bin]`` holding each time (ms)."""
    return np.ceil((times_ms - t_start_ms) / bin_ms).astype(np.int64) - 1


# ------------------------------------------------------------------------------------------------------ ISI CV
def isi_cv(node_ids: ArrayLike, times_ms: ArrayLike, cell_ids: ArrayLike, min_spikes: int = 5,
           t_start_ms: float | None = None, t_stop_ms: float | None = None) -> pd.Series:
    """Coefficient of variation of the inter-spike intervals of each cell.

    CV = std / mean of the cell's ISIs (ms), the std with ``ddof=0``. 1 for a Poisson train, 0 for a
    clock, ``1/sqrt(k)`` for a gamma process of shape ``k``.

    Parameters
    ----------
    node_ids : array_like of int
        Cell of each spike.
    times_ms : array_like of float
        Time of each spike (ms), in any order.
    cell_ids : array_like of int
        Cells considered (unique); spikes of other nodes are ignored.
    min_spikes : int, default 5
        Cells with fewer spikes in the window are left out. At least 3 (two intervals), since the CV of a
        single interval is 0 whatever the train.
    t_start_ms, t_stop_ms : float, optional
        Only spikes in ``(t_start_ms, t_stop_ms]`` (ms) count; either bound may be omitted.

    Returns
    -------
    pandas.Series
        CV (dimensionless) of each cell of ``cell_ids`` with at least ``min_spikes`` spikes, indexed by cell id
        (index name ``cell_id``, sorted); empty if no cell qualifies.

    Raises
    ------
    ValueError
        If the spike arrays do not fit together, ``cell_ids`` is not unique, or ``min_spikes < 3``.
    """
    node_ids, times_ms = _spike_arrays(node_ids, times_ms)
    cell_ids = _cell_array(cell_ids)
    if min_spikes < 3:
        raise ValueError(f"min_spikes must be at least 3 (two intervals), got {min_spikes}")
    keep = np.isin(node_ids, cell_ids)
    if t_start_ms is not None:
        keep &= times_ms > t_start_ms
    if t_stop_ms is not None:
        keep &= times_ms <= t_stop_ms
    spikes = pd.DataFrame({"cell_id": node_ids[keep], "t": times_ms[keep]}).sort_values(["cell_id", "t"])
    isi = spikes.groupby("cell_id")["t"].diff().groupby(spikes["cell_id"])
    n_spikes = spikes.groupby("cell_id").size()
    cv = (isi.std(ddof=0) / isi.mean())[n_spikes >= min_spikes]
    return cv.astype(float).rename("isi_cv").rename_axis("cell_id")


def median_isi_cv(node_ids: ArrayLike, times_ms: ArrayLike, cell_ids: ArrayLike, min_spikes: int = 5,
                  t_start_ms: float | None = None, t_stop_ms: float | None = None) -> tuple[float, int]:
    """Median over cells of the ISI CV of :func:`isi_cv`, and the number of cells it is taken over.

    Parameters
    ----------
    node_ids, times_ms, cell_ids, min_spikes, t_start_ms, t_stop_ms
        As for :func:`isi_cv` (times in ms).

    Returns
    -------
    median : float
        Median CV (dimensionless); NaN when no cell has ``min_spikes`` spikes.
    n_cells : int
        Cells with at least ``min_spikes`` spikes.
    """
    cv = isi_cv(node_ids, times_ms, cell_ids, min_spikes, t_start_ms, t_stop_ms)
    return (float(cv.median()) if len(cv) else float("nan")), len(cv)


# ------------------------------------------------------------------------------------------------ spike counts
def spike_counts(node_ids: ArrayLike, times_ms: ArrayLike, cell_ids: ArrayLike, bin_ms: float,
                 t_start_ms: float, t_stop_ms: float) -> np.ndarray:
    """Spike counts of each cell in consecutive bins of the window.

    Parameters
    ----------
    node_ids : array_like of int
        Cell of each spike.
    times_ms : array_like of float
        Time of each spike (ms).
    cell_ids : array_like of int
        Cells considered (unique), in the order of the rows; spikes of other nodes are ignored.
    bin_ms : float
        Bin width (ms).
    t_start_ms, t_stop_ms : float
        Window ``(t_start_ms, t_stop_ms]`` (ms). Bins are left-open, ``(t_start + k bin_ms, t_start + (k+1)
        bin_ms]``; a last partial bin is dropped with its spikes.

    Returns
    -------
    numpy.ndarray
        Counts (int64), shape ``(len(cell_ids), n_bins)`` with ``n_bins = floor((t_stop - t_start) / bin_ms)``.

    Raises
    ------
    ValueError
        If the spike arrays do not fit together, ``cell_ids`` is not unique, or no whole bin fits in the window.
    """
    node_ids, times_ms = _spike_arrays(node_ids, times_ms)
    cell_ids = _cell_array(cell_ids)
    n_bins = _n_bins(bin_ms, t_start_ms, t_stop_ms)
    row = pd.Index(cell_ids).get_indexer(node_ids)  # -1 for nodes not in cell_ids
    col = _bin_index(times_ms, bin_ms, t_start_ms)
    keep = (row >= 0) & (col >= 0) & (col < n_bins)
    flat = np.bincount(row[keep] * n_bins + col[keep], minlength=len(cell_ids) * n_bins)
    return flat.reshape(len(cell_ids), n_bins)


# ---------------------------------------------------------------------------------------------- correlations
def _unordered_pairs(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair ``(i, j)``, ``i > j``, of the linear index ``k = i (i - 1) / 2 + j`` of the lower triangle."""
    i = np.floor((1 + np.sqrt(1 + 8 * k.astype(float))) / 2).astype(np.int64)
    i -= i * (i - 1) // 2 > k  # mend float rounding for very large k
    i += (i + 1) * i // 2 <= k
    return i, k - i * (i - 1) // 2


def _zscore_rows(counts: np.ndarray) -> np.ndarray:
    """Rows of ``counts`` with non-zero variance, each scaled to mean 0 and std 1 (ddof 0)."""
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2:
        raise ValueError(f"counts must be 2-D (cells x bins), got shape {counts.shape}")
    active = counts[counts.var(axis=1) > 0]
    return stats.zscore(active, axis=1) if len(active) else active


def pairwise_correlations(counts_a: np.ndarray, counts_b: np.ndarray | None = None, n_pairs: int = 2000,
                          rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Pearson correlation over bins of the spike counts of random distinct pairs of cells.

    Cells whose counts have zero variance over the bins (silent cells, or cells with the same count in every
    bin) have no defined correlation and are excluded before the pairs are drawn.

    Parameters
    ----------
    counts_a : numpy.ndarray
        Counts, cells x bins (e.g. from :func:`spike_counts`).
    counts_b : numpy.ndarray, optional
        Counts of a second group over the same bins. Without it, pairs are two different cells ``i != j`` of
        ``counts_a``, each unordered pair at most once; with it, pairs are one cell of each group.
    n_pairs : int, default 2000
        Pairs drawn, without replacement among all possible pairs; all pairs when there are no more than this.
    rng : numpy.random.Generator or int, optional
        Random generator or seed for drawing the pairs; None means seed 0, so the result is reproducible.

    Returns
    -------
    numpy.ndarray
        One correlation coefficient (dimensionless, in [-1, 1]) per pair, in pair order; empty when fewer than
        two (within) or one per group (across) cells have non-zero variance.

    Raises
    ------
    ValueError
        If the counts are not 2-D, the groups have different numbers of bins, or ``n_pairs < 1``.
    """
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be at least 1, got {n_pairs}")
    rng = np.random.default_rng(0 if rng is None else rng)
    z_a = _zscore_rows(counts_a)
    z_b = z_a if counts_b is None else _zscore_rows(counts_b)
    if z_b.shape[1] != z_a.shape[1]:
        raise ValueError(f"counts_b has {z_b.shape[1]} bins but counts_a has {z_a.shape[1]}")
    n_a, n_b = len(z_a), len(z_b)
    n_possible = n_a * (n_a - 1) // 2 if counts_b is None else n_a * n_b
    k = np.arange(n_possible) if n_possible <= n_pairs else np.sort(rng.choice(n_possible, n_pairs, replace=False))
    i, j = _unordered_pairs(k) if counts_b is None else np.divmod(k, n_b)
    return np.einsum("pt,pt->p", z_a[i], z_b[j]) / max(z_a.shape[1], 1)


def correlation_summary(values: ArrayLike, confidence: float = 0.95, n_resamples: int = 2000,
                        rng: np.random.Generator | int | None = None) -> dict[str, float]:
    """Mean, median and spread of pairwise correlations, with a bootstrap confidence interval of the mean.

    The interval is the percentile bootstrap of :func:`scipy.stats.bootstrap` over pairs, which treats the pairs
    as independent. For independent cells the pairs' correlations are uncorrelated and the interval holds; but
    when the cells share a signal, pairs with a cell in common covary and the interval is too narrow (a
    cell-level resampling would be needed for a calibrated interval).

    Parameters
    ----------
    values : array_like of float
        Correlation coefficients (dimensionless), e.g. from :func:`pairwise_correlations`; NaNs are dropped.
    confidence : float, default 0.95
        Confidence level of the interval.
    n_resamples : int, default 2000
        Bootstrap resamples.
    rng : numpy.random.Generator or int, optional
        Random generator or seed of the bootstrap; None means seed 0.

    Returns
    -------
    dict
        ``n_pairs`` (int), ``mean``, ``median``, ``std`` (ddof 1), ``ci_low``, ``ci_high`` (dimensionless).
        Statistics that need more values than there are (the std and interval need two) are NaN.
    """
    values = np.asarray(values, dtype=float).ravel()
    values = values[~np.isnan(values)]
    n = len(values)
    nan = float("nan")
    summary = {"n_pairs": n, "mean": nan, "median": nan, "std": nan, "ci_low": nan, "ci_high": nan}
    if n == 0:
        return summary
    summary.update(mean=float(values.mean()), median=float(np.median(values)))
    if n < 2:
        return summary
    summary["std"] = float(values.std(ddof=1))
    ci = stats.bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                         method="percentile", vectorized=True,
                         random_state=np.random.default_rng(0 if rng is None else rng)).confidence_interval
    summary.update(ci_low=float(ci.low), ci_high=float(ci.high))
    return summary


# ---------------------------------------------------------------------------------------- population counts
def population_count_stats(times_ms: ArrayLike, bin_ms: float, t_start_ms: float,
                           t_stop_ms: float) -> dict[str, float]:
    """Statistics of the population spike count (all spikes pooled) per bin.

    Parameters
    ----------
    times_ms : array_like of float
        Times (ms) of the population's spikes.
    bin_ms : float
        Bin width (ms).
    t_start_ms, t_stop_ms : float
        Window ``(t_start_ms, t_stop_ms]`` (ms), binned as by :func:`spike_counts`.

    Returns
    -------
    dict
        ``n_bins`` (int); ``mean`` (spikes per bin); ``variance`` (spikes² per bin², ddof 1); ``fano`` =
        variance / mean; ``cv`` = std / mean (both dimensionless, NaN when there is no spike or only one bin).
        A Poisson population has Fano factor 1; shared input makes it larger.

    Raises
    ------
    ValueError
        If ``times_ms`` is not 1-D or no whole bin fits in the window.
    """
    times_ms = np.asarray(times_ms, dtype=float)
    if times_ms.ndim != 1:
        raise ValueError(f"times_ms must be 1-D, got shape {times_ms.shape}")
    n_bins = _n_bins(bin_ms, t_start_ms, t_stop_ms)
    col = _bin_index(times_ms, bin_ms, t_start_ms)
    counts = np.bincount(col[(col >= 0) & (col < n_bins)], minlength=n_bins)
    mean = float(counts.mean())
    variance = float(counts.var(ddof=1)) if n_bins > 1 else float("nan")
    usable = mean > 0 and n_bins > 1
    return {"n_bins": n_bins, "mean": mean, "variance": variance,
            "fano": variance / mean if usable else float("nan"),
            "cv": float(np.sqrt(variance)) / mean if usable else float("nan")}


# ------------------------------------------------------------------------------------------------------ report
def _row(measure: str, group_a: str, group_b: str | None, bin_ms: float, value: float, n: int,
         **extra: float) -> dict:
    """One row of the report; absent statistics are NaN."""
    group = group_a if group_b is None else f"{group_a}-{group_b}"
    nan = float("nan")
    row = {"measure": measure, "group": group, "group_a": group_a, "group_b": group_b, "bin_ms": bin_ms,
           "value": value, "n": n, "mean": nan, "median": nan, "std": nan, "ci_low": nan, "ci_high": nan}
    row.update(extra)
    return row


def _isi_rows(node_ids: np.ndarray, times_ms: np.ndarray, groups: Mapping[str, np.ndarray], t_start_ms: float,
              t_stop_ms: float) -> list[dict]:
    """Rows 'isi_cv_median', one per group."""
    rows = []
    for name, cells in groups.items():
        cv = isi_cv(node_ids, times_ms, cells, t_start_ms=t_start_ms, t_stop_ms=t_stop_ms)
        median = float(cv.median()) if len(cv) else float("nan")
        rows.append(_row("isi_cv_median", name, None, float("nan"), median, len(cv), mean=float(cv.mean()),
                         median=median, std=float(cv.std(ddof=1)) if len(cv) > 1 else float("nan")))
    return rows


def _bin_rows(node_ids: np.ndarray, times_ms: np.ndarray, groups: Mapping[str, np.ndarray], bin_ms: float,
              t_start_ms: float, t_stop_ms: float, n_pairs: int, rng: np.random.Generator) -> list[dict]:
    """Rows 'count_correlation' (within and across groups) and 'population_fano'/'population_cv' at one bin."""
    counts = {name: spike_counts(node_ids, times_ms, cells, bin_ms, t_start_ms, t_stop_ms)
              for name, cells in groups.items()}
    pairs = [(a, a) for a in groups] + list(combinations(groups, 2))
    rows = []
    for a, b in pairs:
        values = pairwise_correlations(counts[a], None if a == b else counts[b], n_pairs, rng)
        summary = correlation_summary(values, rng=rng)
        n = summary.pop("n_pairs")
        rows.append(_row("count_correlation", a, b, bin_ms, summary["mean"], n, **summary))
    for name, cells in groups.items():
        pop = population_count_stats(times_ms[np.isin(node_ids, cells)], bin_ms, t_start_ms, t_stop_ms)
        rows.append(_row("population_fano", name, None, bin_ms, pop["fano"], pop["n_bins"], mean=pop["mean"]))
        rows.append(_row("population_cv", name, None, bin_ms, pop["cv"], pop["n_bins"], mean=pop["mean"]))
    return rows


def variability_report(node_ids: ArrayLike, times_ms: ArrayLike, groups: Mapping[str, ArrayLike],
                       t_start_ms: float, t_stop_ms: float, bins_ms: Sequence[float] = (50.0, 250.0),
                       n_pairs: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Irregularity and correlation of the spikes of each group of cells, as one long table.

    Parameters
    ----------
    node_ids : array_like of int
        Cell of each spike.
    times_ms : array_like of float
        Time of each spike (ms).
    groups : mapping of str to array_like of int
        Disjoint groups of cells, e.g. ``{"E": exc_ids, "I": inh_ids}``; a group's cells without spikes are
        silent cells of the group.
    t_start_ms, t_stop_ms : float
        Window ``(t_start_ms, t_stop_ms]`` (ms) of every measure.
    bins_ms : sequence of float, default (50.0, 250.0)
        Count bin widths (ms) of the correlation and population measures.
    n_pairs : int, default 2000
        Pairs drawn per group or group pair (see :func:`pairwise_correlations`).
    seed : int, default 0
        Seed of the pair draws and bootstraps; the table is the same for the same seed.

    Returns
    -------
    pandas.DataFrame
        One row per (measure, group or group pair, bin), in the order: ``isi_cv_median`` for each group; then
        for each bin ``count_correlation`` within each group (``E-E``, ``I-I``, ...) and across each pair of
        groups in the order of ``groups`` (``E-I``, ...), ``population_fano`` and ``population_cv`` for each
        group. Columns:

        - ``measure`` (str): ``isi_cv_median``, ``count_correlation``, ``population_fano``, ``population_cv``;
        - ``group`` (str): the group, or ``"<group_a>-<group_b>"`` for correlations;
        - ``group_a`` (str), ``group_b`` (str or None): the group(s); ``group_b`` is None for per-group measures
          and equals ``group_a`` for within-group correlations;
        - ``bin_ms`` (float): bin width (ms); NaN for ``isi_cv_median``;
        - ``value`` (float, dimensionless): the measure itself (median ISI CV, mean correlation, Fano factor,
          CV of the population count);
        - ``n`` (int): what it was computed over: cells with at least 5 spikes (``isi_cv_median``), pairs of
          cells with non-zero count variance (``count_correlation``), bins (population measures);
        - ``mean``, ``median``, ``std`` (float): over cells of their ISI CV (std ddof 1), over pairs of their
          correlation (ddof 1); for population measures ``mean`` is the mean population count (spikes per bin)
          and the others are NaN;
        - ``ci_low``, ``ci_high`` (float, dimensionless): 95% bootstrap interval of the mean correlation
          (:func:`correlation_summary`); NaN for the other measures.

    Raises
    ------
    ValueError
        If the spike arrays do not fit together, ``groups`` is empty, two groups share a cell, or a bin does
        not fit in the window.
    """
    node_ids, times_ms = _spike_arrays(node_ids, times_ms)
    groups = {name: _cell_array(cells) for name, cells in groups.items()}
    if not groups:
        raise ValueError("groups is empty: give at least one group of cells")
    for a, b in combinations(groups, 2):
        if np.intersect1d(groups[a], groups[b]).size:
            raise ValueError(f"groups {a!r} and {b!r} share cells; the groups must be disjoint")
    for bin_ms in bins_ms:
        _n_bins(bin_ms, t_start_ms, t_stop_ms)
    rng = np.random.default_rng(seed)
    rows = _isi_rows(node_ids, times_ms, groups, t_start_ms, t_stop_ms)
    for bin_ms in bins_ms:
        rows += _bin_rows(node_ids, times_ms, groups, float(bin_ms), t_start_ms, t_stop_ms, n_pairs, rng)
    return pd.DataFrame(rows, columns=list(REPORT_COLUMNS)).astype({"n": int})
