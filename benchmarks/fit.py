"""Power-law fits of a cost against a size: least squares on log-log axes, with a confidence interval.

A cost ``y`` that grows as ``y = a x^b`` is a straight line ``log y = log a + b log x``. :func:`fit_power_law`
fits that line with :func:`scipy.stats.linregress` and turns the slope's standard error into a two-sided
Student-t confidence interval on the exponent ``b`` (``n - 2`` degrees of freedom).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PowerLawFit:
    """The fit ``y = prefactor * x ** exponent``.

    Attributes
    ----------
    exponent : float
        The fitted exponent ``b`` (dimensionless).
    ci_low, ci_high : float
        Bounds of the ``confidence`` interval on the exponent; NaN with fewer than 3 points.
    stderr : float
        Standard error of the exponent (dimensionless).
    prefactor : float
        ``a``, in the unit of ``y`` per (unit of ``x``) ** exponent.
    r_squared : float
        Coefficient of determination of the log-log fit.
    n_points : int
        Number of points fitted.
    confidence : float
        Confidence level of the interval (e.g. 0.95).
    """

    exponent: float
    ci_low: float
    ci_high: float
    stderr: float
    prefactor: float
    r_squared: float
    n_points: int
    confidence: float

    def predict(self, x: float | np.ndarray) -> float | np.ndarray:
        """The fitted ``y`` at ``x`` (same units as the data fitted)."""
        return self.prefactor * np.asarray(x, dtype=float) ** self.exponent

    def to_dict(self) -> dict:
        """JSON-ready fields (NaN becomes None)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def fit_power_law(x: np.ndarray | list[float], y: np.ndarray | list[float], confidence: float = 0.95) -> PowerLawFit:
    """Fit ``y = a x^b`` by least squares on ``(log x, log y)``.

    Parameters
    ----------
    x : array_like
        Sizes (e.g. number of edges); all > 0.
    y : array_like
        Costs (e.g. seconds or MB) at those sizes; all > 0, same length as ``x``.
    confidence : float
        Level of the two-sided interval on the exponent, in (0, 1).

    Returns
    -------
    PowerLawFit
        Exponent with its interval ``slope +/- t_{(1+confidence)/2, n-2} * stderr`` (NaN bounds with 2 points).

    Raises
    ------
    ValueError
        With fewer than 2 points, lengths that differ, values <= 0 or non-finite, a single distinct ``x``, or a
        confidence outside (0, 1).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D and of one length, got shapes {x.shape} and {y.shape}.")
    if len(x) < 2:
        raise ValueError(f"a power-law fit needs at least 2 points, got {len(x)}.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise ValueError("a power-law fit needs finite values > 0 (it is fitted on log-log axes).")
    if len(np.unique(x)) < 2:
        raise ValueError("a power-law fit needs at least 2 distinct x values.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    result = stats.linregress(np.log(x), np.log(y))
    dof = len(x) - 2
    if dof > 0:
        half = float(stats.t.ppf((1 + confidence) / 2, dof)) * float(result.stderr)
        low, high = float(result.slope) - half, float(result.slope) + half
    else:
        low = high = math.nan
    return PowerLawFit(exponent=float(result.slope), ci_low=low, ci_high=high,
                       stderr=float(result.stderr) if dof > 0 else math.nan,
                       prefactor=float(np.exp(result.intercept)), r_squared=float(result.rvalue) ** 2,
                       n_points=len(x), confidence=confidence)
