"""Is the activity critical? Neuronal avalanches, their power laws, and the branching ratio of a spike train.

The pooled spikes of a population are binned; by default at the mean inter-event interval of the pooled train
(Beggs & Plenz 2003), rounded to the time grid of the spikes. On the binned activity A_t:

- avalanches are runs of non-empty bins bounded by empty ones; size = spikes, duration = bins;
- size and duration distributions are fitted by discrete power laws with the ``powerlaw`` package (Alstott et al.
  2014: alpha, xmin by the KS method, log-likelihood ratios against lognormal and exponential with p-values);
- the crackling-noise relation <S>(T) ~ T^gamma is fitted and compared with gamma = (tau_t - 1)/(tau_s - 1)
  (Sethna et al. 2001), where tau_s and tau_t are the size and duration exponents;
- the branching ratio m per bin: the multistep-regression (MR) estimate of ``mrestimator`` (Wilting & Priesemann
  2018), robust to subsampling and drive, and the naive estimate, the slope of the regression of A_{t+1} on A_t,
  which subsampling biases towards 0.

:func:`classify` turns the result into a regime (see its documentation for the rule).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import UserError

from .rates import read_spikes, spike_populations

#: Fewer spikes than this, or fewer avalanches than MIN_AVALANCHES, is too little for the fits.
MIN_SPIKES = 500
MIN_AVALANCHES = 50
#: The MR estimator's regression steps cover this time window (ms) ...
MR_WINDOW_MS = 50.0
#: ... with at least this many steps.
MR_MIN_STEPS = 10
#: m within CRITICAL_TOLERANCE of 1 and a size exponent within ALPHA_TOLERANCE of CRITICAL_ALPHA is near-critical.
CRITICAL_TOLERANCE = 0.02
CRITICAL_ALPHA = 1.5
ALPHA_TOLERANCE = 0.3
#: powerlaw 2.0 fits alpha within [0, 3] by default; an alpha at 3 is a bound, not an estimate.
ALPHA_UPPER_BOUND = 3.0
#: Fewer empty bins than this is tonic firing.
TONIC_EMPTY_FRACTION = 0.05
REGIMES = ("sub-critical", "near-critical", "super-critical", "insufficient data")
KEYS = ("branching_ratio_mr", "branching_ratio_naive", "size_alpha", "duration_alpha", "llr_lognormal",
        "p_lognormal", "regime")


class CriticalityError(UserError):
    """The spikes or options cannot be analysed."""


@dataclass(frozen=True)
class Avalanches:
    """Avalanches of a binned activity.

    Attributes
    ----------
    sizes : numpy.ndarray
        Spikes in each avalanche.
    durations : numpy.ndarray
        Bins in each avalanche.
    """

    sizes: np.ndarray
    durations: np.ndarray

    def __len__(self) -> int:
        return len(self.sizes)


def read_spike_times(spikes_file: Path, population: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Spike times (ms) of one population of a SONATA spikes file, or of all its populations pooled.

    Returns
    -------
    times_ms : numpy.ndarray
        Sorted spike times (ms).
    populations : list of str
        The populations read.

    Raises
    ------
    analysis.rates.RunDataError
        If the file is missing or is not HDF5.
    CriticalityError
        If ``population`` is not in the file.
    """
    available = spike_populations(spikes_file)
    if not available:
        raise CriticalityError(f"{spikes_file} holds no SONATA spikes (/spikes/<population>/timestamps); give the "
                               "spikes file of a run (e.g. output/spikes.h5).")
    if population is not None and population not in available:
        raise CriticalityError(f"--population {population!r} is not in {spikes_file}; its populations are "
                               f"{available or 'none (no spikes)'}.")
    chosen = [population] if population is not None else available
    times = [read_spikes(spikes_file, p).timestamp_ms.to_numpy() for p in chosen]
    times = np.sort(np.concatenate(times)) if times else np.zeros(0)
    return times.astype(float), chosen


def time_grid_ms(times_ms: np.ndarray) -> float:
    """The time resolution of the spike times (ms): the smallest positive gap between distinct times.

    Examples
    --------
    >>> round(time_grid_ms(np.array([0.1, 0.3, 0.3, 0.7])), 6)
    0.2
    """
    gaps = np.diff(np.unique(times_ms))
    gaps = gaps[gaps > 1e-9]
    return float(gaps.min()) if len(gaps) else 1.0


def default_bin_ms(times_ms: np.ndarray) -> float:
    """The mean inter-event interval of the pooled train (ms), as a whole number (>= 1) of its time grid.

    Raises
    ------
    CriticalityError
        With fewer than two spikes.
    """
    if len(times_ms) < 2:
        raise CriticalityError("at least two spikes are needed to compute the mean inter-event interval.")
    iei = (times_ms[-1] - times_ms[0]) / (len(times_ms) - 1)
    grid = time_grid_ms(times_ms)
    return grid * max(1, round(iei / grid))


def bin_activity(times_ms: np.ndarray, bin_ms: float, tstart_ms: float = 0.0,
                 tstop_ms: float | None = None) -> np.ndarray:
    """Spike counts in consecutive bins of ``bin_ms`` (ms) from ``tstart_ms`` to ``tstop_ms`` (default: last spike).

    Spikes outside [tstart_ms, tstop_ms] are not counted; a spike at tstop_ms falls in the last bin.

    Examples
    --------
    >>> bin_activity(np.array([0.5, 1.5, 1.7, 3.2]), 1.0).tolist()
    [1, 2, 0, 1]
    """
    if not bin_ms > 0:
        raise CriticalityError(f"--bin-ms must be > 0 ms, got {bin_ms}.")
    if tstop_ms is None:
        tstop_ms = float(times_ms.max()) if len(times_ms) else tstart_ms + bin_ms
    n_bins = max(1, math.ceil((tstop_ms - tstart_ms) / bin_ms - 1e-9))
    inside = np.asarray(times_ms)[(times_ms >= tstart_ms) & (times_ms <= tstop_ms)]
    index = np.minimum(np.floor((inside - tstart_ms) / bin_ms + 1e-9).astype(np.int64), n_bins - 1)
    return np.bincount(index, minlength=n_bins)


def find_avalanches(counts: np.ndarray) -> Avalanches:
    """Avalanches: maximal runs of non-empty bins that start and end with an empty bin.

    Runs touching the start or the end of the recording are incomplete and dropped.

    Examples
    --------
    >>> a = find_avalanches(np.array([0, 2, 1, 0, 0, 3, 0, 1]))
    >>> a.sizes.tolist(), a.durations.tolist()
    ([3, 3], [2, 1])
    """
    active = np.concatenate(([0], (np.asarray(counts) > 0).astype(np.int8), [0]))
    edges = np.diff(active)
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    complete = (starts > 0) & (stops < len(counts))
    starts, stops = starts[complete], stops[complete]
    cumulative = np.concatenate(([0], np.cumsum(counts)))
    return Avalanches(sizes=(cumulative[stops] - cumulative[starts]).astype(np.int64),
                      durations=(stops - starts).astype(np.int64))


def fit_power_law(values: np.ndarray) -> dict:
    """Discrete power-law fit with ``powerlaw`` and its comparison with lognormal and exponential tails.

    Parameters
    ----------
    values : numpy.ndarray
        Positive integers (avalanche sizes or durations).

    Returns
    -------
    dict
        ``alpha``, ``xmin``, ``n_tail`` (values >= xmin), ``llr_lognormal``, ``p_lognormal``,
        ``llr_exponential``, ``p_exponential``: normalised log-likelihood ratios R (R > 0 favours the power law)
        and their p-values (Clauset et al. 2009). NaN where the values cannot be fitted (fewer than two
        distinct values). ``alpha_at_bound`` is true when alpha sits at the upper end of ``powerlaw``'s default
        range, ALPHA_UPPER_BOUND: the true exponent is then that large or larger.
    """
    import powerlaw

    values = np.asarray(values)
    values = values[values > 0]
    out = dict.fromkeys(("alpha", "xmin", "n_tail", "llr_lognormal", "p_lognormal", "llr_exponential",
                         "p_exponential"), math.nan)
    if len(np.unique(values)) < 2:
        return out
    with warnings.catch_warnings(), np.errstate(all="ignore"), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            fit = powerlaw.Fit(values, discrete=True, verbose=False)
        except ValueError:  # too few distinct values above any xmin ("No data points in defined range")
            return out
        out.update(alpha=float(fit.power_law.alpha), xmin=float(fit.power_law.xmin),
                   n_tail=int((values >= fit.power_law.xmin).sum()),
                   alpha_at_bound=bool(fit.power_law.alpha >= ALPHA_UPPER_BOUND - 1e-3))
        for other in ("lognormal", "exponential"):
            llr, p = fit.distribution_compare("power_law", other, normalized_ratio=True)
            out[f"llr_{other}"], out[f"p_{other}"] = float(llr), float(p)
    return out


def crackling(avalanches: Avalanches, size_alpha: float, duration_alpha: float, min_count: int = 5) -> dict:
    """The crackling-noise scaling check <S>(T) ~ T^gamma.

    Parameters
    ----------
    avalanches : Avalanches
    size_alpha, duration_alpha : float
        Fitted exponents tau_s and tau_t.
    min_count : int
        Durations with fewer avalanches are left out of the fit.

    Returns
    -------
    dict
        ``gamma_fit`` (slope of log <S> against log T), ``gamma_predicted`` = (tau_t - 1) / (tau_s - 1), and
        their difference ``gamma_difference``; NaN where undefined.
    """
    durations, counts = np.unique(avalanches.durations, return_counts=True)
    keep = durations[counts >= min_count]
    gamma_fit = math.nan
    if len(keep) >= 3:
        mean_size = np.array([avalanches.sizes[avalanches.durations == d].mean() for d in keep])
        gamma_fit = float(np.polyfit(np.log(keep), np.log(mean_size), 1)[0])
    predicted = (duration_alpha - 1.0) / (size_alpha - 1.0) if size_alpha > 1 else math.nan
    return {"gamma_fit": gamma_fit, "gamma_predicted": float(predicted),
            "gamma_difference": float(gamma_fit - predicted)}


def branching_ratio_naive(counts: np.ndarray) -> float:
    """The conventional estimate of m: slope of the linear regression of A_{t+1} on A_t (NaN if A is constant).

    Examples
    --------
    >>> round(branching_ratio_naive(np.array([1.0, 2, 4, 8, 16])), 6)
    2.0
    """
    a, b = np.asarray(counts[:-1], float), np.asarray(counts[1:], float)
    var = a.var()
    return float(((a - a.mean()) * (b - b.mean())).mean() / var) if var > 0 else math.nan


def branching_ratio_mr(activity: np.ndarray, bin_ms: float = 1.0, max_steps: int | None = None,
                       method: str = "sm") -> dict:
    """Multistep-regression estimate of the branching ratio m (per bin) with ``mrestimator``.

    The regression slopes r_k of A_{t+k} on A_t are fitted by r_k = b m^k (Wilting & Priesemann 2018).

    Parameters
    ----------
    activity : numpy.ndarray
        Activity per bin: one trial (1-D) or trials x bins (2-D).
    bin_ms : float
        Bin width (ms); sets the unit of the autocorrelation time.
    max_steps : int, optional
        Largest k (default: MR_WINDOW_MS of bins, at least MR_MIN_STEPS, at most a tenth of a trial).
    method : {'sm', 'ts'}
        mrestimator's stationary-mean or trial-separated coefficients.

    Returns
    -------
    dict
        ``m`` (per bin), ``tau_ms`` (autocorrelation time, -bin / ln m) and ``max_steps``; m is NaN when the fit
        fails.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> a = [20]
    >>> for _ in range(20000):
    ...     a.append(rng.poisson(0.9 * a[-1] + 2))
    >>> abs(branching_ratio_mr(np.array(a))["m"] - 0.9) < 0.03
    True
    """
    import mrestimator as mre

    data = np.atleast_2d(np.asarray(activity, dtype=float))
    if max_steps is None:
        max_steps = max(MR_MIN_STEPS, round(MR_WINDOW_MS / bin_ms))
    max_steps = int(min(max_steps, max(2, data.shape[1] // 10)))
    result = {"m": math.nan, "tau_ms": math.nan, "max_steps": max_steps}
    if max_steps < 2 or np.all(data.var(axis=1) == 0):
        return result
    logging.getLogger("mrestimator").setLevel(logging.ERROR)
    mre.disable_progressbar()
    with warnings.catch_warnings(), np.errstate(all="ignore"), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            rk = mre.coefficients(data, method=method, steps=(1, max_steps), dt=bin_ms, dtunit="ms", numboot=0)
            fit = mre.fit(rk, fitfunc="exponential", numboot=0)
        except (ValueError, RuntimeError, TypeError, FloatingPointError):
            return result
    m = float(fit.mre)
    if np.isfinite(m):
        result.update(m=m, tau_ms=float(fit.tau))
    return result


def classify(result: dict) -> str:
    """The regime of an analysed spike train.

    - ``insufficient data``: fewer than MIN_SPIKES spikes, or no MR estimate;
    - ``super-critical``: m_MR > 1 + CRITICAL_TOLERANCE (activity grows);
    - ``sub-critical``: m_MR < 1 - CRITICAL_TOLERANCE (activity decays);
    - otherwise m_MR is within CRITICAL_TOLERANCE of 1, and:

      - ``super-critical`` if the firing is tonic: the activity hardly ever falls silent (fewer than
        TONIC_EMPTY_FRACTION of the bins empty, where independent firing at bins of the mean inter-event interval
        leaves e^-1 = 37% empty) or gives fewer than MIN_AVALANCHES avalanches;
      - else the avalanche sizes decide: ``near-critical`` if their power-law exponent is within ALPHA_TOLERANCE
        of the critical 1.5, ``sub-critical`` if steeper (avalanches die out too soon), ``super-critical`` if
        flatter.

    m is per bin of the analysis, so the regime depends on the bin: m = exp(-bin / tau) for an autocorrelation
    time tau, and a bin much shorter than tau gives m near 1 (hence the avalanche check).
    """
    m = result.get("branching_ratio_mr")
    m = math.nan if m is None else float(m)
    if result.get("n_spikes", 0) < MIN_SPIKES or not np.isfinite(m):
        return "insufficient data"
    if m > 1.0 + CRITICAL_TOLERANCE:
        return "super-critical"
    if m < 1.0 - CRITICAL_TOLERANCE:
        return "sub-critical"
    if (result.get("fraction_empty_bins", 1.0) < TONIC_EMPTY_FRACTION
            or result.get("n_avalanches", 0) < MIN_AVALANCHES):
        return "super-critical"
    alpha = result.get("size_alpha")
    if alpha is None or not np.isfinite(alpha):
        return "insufficient data"
    if alpha > CRITICAL_ALPHA + ALPHA_TOLERANCE:
        return "sub-critical"
    if alpha < CRITICAL_ALPHA - ALPHA_TOLERANCE:
        return "super-critical"
    return "near-critical"


def analyse_times(times_ms: np.ndarray, bin_ms: float | None = None, tstart_ms: float = 0.0,
                  tstop_ms: float | None = None) -> dict:
    """Avalanche statistics and branching ratios of a pooled spike train.

    Parameters
    ----------
    times_ms : numpy.ndarray
        Spike times (ms), any order.
    bin_ms : float, optional
        Bin width (ms); default :func:`default_bin_ms`.
    tstart_ms, tstop_ms : float
        The recording's time range (ms); default from 0 to the last spike.

    Returns
    -------
    dict
        The keys of :data:`KEYS` and the details (``bin_ms``, ``bin_source``, ``n_spikes``, ``n_bins``,
        ``n_avalanches``, ``tau_ms``, the full size and duration fits, the crackling check); non-finite numbers
        are None so the dict is valid JSON.
    """
    if bin_ms is not None and not bin_ms > 0:
        raise CriticalityError(f"--bin-ms must be > 0 ms, got {bin_ms}.")
    times_ms = np.sort(np.asarray(times_ms, dtype=float))
    result: dict = dict.fromkeys(KEYS)
    result.update(n_spikes=int(len(times_ms)), bin_ms=None,
                  bin_source="mean IEI" if bin_ms is None else "--bin-ms")
    if len(times_ms) < 2:
        result["regime"] = "insufficient data"
        return _finite(result)
    bin_ms = default_bin_ms(times_ms) if bin_ms is None else float(bin_ms)
    counts = bin_activity(times_ms, bin_ms, tstart_ms, tstop_ms)
    aval = find_avalanches(counts)
    result.update(bin_ms=bin_ms, n_bins=int(len(counts)), fraction_empty_bins=float(np.mean(counts == 0)),
                  n_avalanches=len(aval))
    if len(times_ms) >= MIN_SPIKES:
        mr = branching_ratio_mr(counts, bin_ms)
        result.update(branching_ratio_mr=mr["m"], tau_ms=mr["tau_ms"], mr_max_steps=mr["max_steps"],
                      branching_ratio_naive=branching_ratio_naive(counts))
    if len(aval) >= MIN_AVALANCHES:
        sizes, durations = fit_power_law(aval.sizes), fit_power_law(aval.durations)
        result.update(size_alpha=sizes["alpha"], duration_alpha=durations["alpha"],
                      llr_lognormal=sizes["llr_lognormal"], p_lognormal=sizes["p_lognormal"],
                      llr_exponential=sizes["llr_exponential"], p_exponential=sizes["p_exponential"],
                      size_fit=sizes, duration_fit=durations,
                      mean_size=float(aval.sizes.mean()), max_size=int(aval.sizes.max()),
                      mean_duration_bins=float(aval.durations.mean()),
                      crackling=crackling(aval, sizes["alpha"], durations["alpha"]))
    result["regime"] = classify(result)
    return _finite(result)


def analyse_spikes(spikes_file: Path, population: str | None = None, bin_ms: float | None = None,
                   tstart_ms: float = 0.0, tstop_ms: float | None = None) -> dict:
    """:func:`analyse_times` of a SONATA spikes file (one population, or all pooled), with the file named."""
    times, populations = read_spike_times(spikes_file, population)
    result = analyse_times(times, bin_ms, tstart_ms, tstop_ms)
    return {"spikes_file": str(spikes_file), "populations": populations, **result}


def _finite(value):
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
