"""The background population: virtual Poisson sources onto every V1 cell, beside the LGN (issue 19).

Two files beside this module hold it, every number with its source:

- ``background.json``: the population name, the pool of excitatory and inhibitory sources and their rate (Hz).
- ``background.csv``: per source type (``exc``, ``inh``) and target population, the number of sources each
  cell receives (``nsources``), the unitary PSP (``psp_mv``, unsigned; inhibition is negative in the network),
  the delay (ms) and where the PSP comes from.

The PSPs are tuned; :func:`psps_for` maps the quantities the tuning works in, the mean and the standard
deviation of the free membrane potential that the background makes, to the two PSPs, with the closed form of
shot noise (Campbell's theorem) for the ``iaf_psc_delta`` cell: each input event of rate ``R`` and size ``J``
adds ``tau R J`` to the mean and ``tau R J^2 / 2`` to the variance.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .params import PARAMS_DIR, _check_pops, _fail, _numbers, _read_csv, _row_fail

BACKGROUND_FILE = PARAMS_DIR / "background.csv"
POOL_FILE = PARAMS_DIR / "background.json"
SOURCE_TYPES = ("exc", "inh")


@dataclass(frozen=True)
class Background:
    """The background population and its connections.

    Attributes
    ----------
    population : str
        SONATA population name of the sources (``BKG``).
    n_sources : dict of str to int
        Sources in the pool per type (``exc``, ``inh``).
    rate_hz : float
        Poisson rate of every source (Hz).
    connections : pandas.DataFrame
        ``background.csv``: ``source_type``, ``target``, ``nsources``, ``psp_mv``, ``delay_ms``, ``psp_source``.
    """

    population: str
    n_sources: dict
    rate_hz: float
    connections: pd.DataFrame

    def event_rates_hz(self, target: str) -> dict[str, float]:
        """Background events per second that one cell of ``target`` receives, per source type (Hz)."""
        rows = self.connections[self.connections.target == target]
        return {row.source_type: float(row.nsources) * self.rate_hz for row in rows.itertuples()}


def load_background(populations: pd.DataFrame, path: Path = BACKGROUND_FILE,
                    pool_path: Path = POOL_FILE) -> Background:
    """Read and check the background's two files.

    Parameters
    ----------
    populations : pandas.DataFrame
        The population table; every population must have one row per source type.
    path, pool_path : Path
        ``background.csv`` and ``background.json``.

    Returns
    -------
    Background

    Raises
    ------
    ParameterError
        Naming the file, row and field of the first value the builder cannot use.
    """
    path, pool_path = Path(path), Path(pool_path)
    if not pool_path.is_file():
        raise _fail(pool_path, "file not found.")
    try:
        pool = json.loads(pool_path.read_text())
    except json.JSONDecodeError as err:
        raise _fail(pool_path, f"not valid JSON ({err}).") from err
    n_sources = pool.get("n_sources") if isinstance(pool, dict) else None
    if not isinstance(n_sources, dict) or set(n_sources) != set(SOURCE_TYPES) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in n_sources.values()):
        raise _fail(pool_path, f"field 'n_sources' must map each of {list(SOURCE_TYPES)} to a whole number >= 1, "
                               f"got {n_sources!r}.")
    rate = pool.get("rate_hz")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate) or rate <= 0:
        raise _fail(pool_path, f"field 'rate_hz' must be a positive number of Hz, got {rate!r}.")
    name = pool.get("population", "BKG")
    if not isinstance(name, str) or not name.isidentifier():
        raise _fail(pool_path, f"field 'population' must be a name such as 'BKG', got {name!r}.")

    numeric = ["nsources", "psp_mv", "delay_ms"]
    table = _read_csv(path, ["source_type", "target", *numeric])

    def label(i: int) -> str:
        return f"{table.source_type.iloc[i]}->{table.target.iloc[i]}"

    _numbers(path, table, label, numeric)
    pops = set(populations.pop_name)
    for i in range(len(table)):
        row = table.iloc[i]
        if row.source_type not in SOURCE_TYPES:
            raise _row_fail(path, i, label(i), "source_type",
                            f"{row.source_type!r} is not one of {list(SOURCE_TYPES)}.")
        _check_pops(path, table, i, label(i), "target", pops)
        if not (row.nsources >= 1 and float(row.nsources).is_integer() and row.nsources <= n_sources[row.source_type]):
            raise _row_fail(path, i, label(i), "nsources", f"need a whole number in [1, {n_sources[row.source_type]}] "
                            f"(the pool of {row.source_type} sources), got {row.nsources:g}.")
        if not (math.isfinite(row.psp_mv) and row.psp_mv >= 0):
            raise _row_fail(path, i, label(i), "psp_mv", f"{row.psp_mv:g} must be >= 0 mV (inhibition is signed "
                            "by the source type).")
        if not row.delay_ms > 0:
            raise _row_fail(path, i, label(i), "delay_ms", f"{row.delay_ms:g} must be > 0 ms.")
    dup = table.duplicated(["source_type", "target"])
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise _row_fail(path, i, label(i), "target", "this source type and target are listed twice.")
    missing = [f"{s}->{p}" for p in populations.pop_name for s in SOURCE_TYPES
               if not ((table.source_type == s) & (table.target == p)).any()]
    if missing:
        raise _fail(path, f"no row for {missing}: every population needs one exc and one inh row "
                          "(nsources >= 1; psp_mv 0 switches a part off).")
    table["nsources"] = table.nsources.astype(int)
    return Background(population=name, n_sources=dict(n_sources), rate_hz=float(rate), connections=table)


def free_potential(tau_ms: float, rates_hz: dict[str, float], psps_mv: dict[str, float]) -> tuple[float, float]:
    """Mean and standard deviation (mV) of the free membrane potential (no threshold) under Poisson shot noise.

    Parameters
    ----------
    tau_ms : float
        Membrane time constant (ms).
    rates_hz : dict of str to float
        Input events per second per source type (``exc``, ``inh``), Hz.
    psps_mv : dict of str to float
        Unsigned PSP (voltage jump) per source type, mV; ``inh`` counts negative.

    Returns
    -------
    tuple of float
        Mean depolarization from rest (mV) and standard deviation (mV).

    Examples
    --------
    >>> free_potential(20.0, {"exc": 1000.0, "inh": 0.0}, {"exc": 1.0, "inh": 0.0})
    (20.0, 3.1622776601683795)
    """
    tau = tau_ms / 1000.0
    r_e, r_i = rates_hz.get("exc", 0.0), rates_hz.get("inh", 0.0)
    mean = tau * (r_e * psps_mv.get("exc", 0.0) - r_i * psps_mv.get("inh", 0.0))
    var = tau / 2.0 * (r_e * psps_mv.get("exc", 0.0) ** 2 + r_i * psps_mv.get("inh", 0.0) ** 2)
    return float(mean), float(math.sqrt(var))


def psps_for(tau_ms: float, rates_hz: dict[str, float], mean_mv: float, sd_mv: float) -> dict[str, float]:
    """The excitatory and inhibitory PSPs (mV, unsigned) whose shot noise has a given mean and SD.

    Solves :func:`free_potential` for ``J_exc`` and ``J_inh = g J_exc`` with the smallest ``g >= 0``. When even
    excitation alone (``g = 0``) fluctuates more than ``sd_mv`` asks, the inhibitory PSP is 0 and the SD is the
    excitation's, which is then larger than asked (check with :func:`free_potential`).

    Parameters
    ----------
    tau_ms : float
        Membrane time constant (ms).
    rates_hz : dict of str to float
        Background events per second per source type (Hz), ``exc`` > 0.
    mean_mv : float
        Wanted mean depolarization from rest (mV), > 0.
    sd_mv : float
        Wanted standard deviation (mV), > 0.

    Returns
    -------
    dict of str to float
        ``exc`` and ``inh`` PSPs (mV).

    Examples
    --------
    >>> psps = psps_for(20.0, {"exc": 1000.0, "inh": 500.0}, 15.0, 5.0)
    >>> [round(v, 6) for v in free_potential(20.0, {"exc": 1000.0, "inh": 500.0}, psps)]
    [15.0, 5.0]
    """
    if not (mean_mv > 0 and sd_mv > 0 and tau_ms > 0 and rates_hz.get("exc", 0.0) > 0):
        raise ValueError(f"need tau > 0, an excitatory rate > 0, mean > 0 and sd > 0; got tau {tau_ms}, "
                         f"rates {rates_hz}, mean {mean_mv}, sd {sd_mv}.")
    tau = tau_ms / 1000.0
    a, b = float(rates_hz["exc"]), float(rates_hz.get("inh", 0.0))
    r = 2.0 * sd_mv ** 2 * tau / mean_mv ** 2  # (2 sd^2 / tau) / (mean / tau)^2
    g = 0.0
    if b > 0 and r * a > 1.0:
        roots = np.roots([r * b * b - b, -2.0 * r * a * b, r * a * a - a])
        valid = sorted(float(x.real) for x in roots if abs(x.imag) < 1e-12 and x.real >= 0 and a - x.real * b > 0)
        if valid:
            g = valid[0]
    j_exc = mean_mv / (tau * (a - g * b))
    return {"exc": float(j_exc), "inh": float(g * j_exc)}


def cell_constants(populations: pd.DataFrame, models_dir: Path) -> dict[str, tuple[float, float]]:
    """Membrane time constant (ms) and rest-to-threshold gap (mV) of each population's cell model.

    Parameters
    ----------
    populations : pandas.DataFrame
        The population table (``pop_name``, ``dynamics_params``).
    models_dir : Path
        Folder of the NEST parameter files (``components/point_neuron_models``).
    """
    constants = {}
    for pop in populations.itertuples():
        cell = json.loads((Path(models_dir) / pop.dynamics_params).read_text())
        constants[pop.pop_name] = (float(cell["tau_m"]), float(cell["V_th"]) - float(cell["E_L"]))
    return constants


def psp_table(background: Background, constants: dict[str, tuple[float, float]], mean_frac: dict[str, float],
              sd_frac: dict[str, float], source: str) -> pd.DataFrame:
    """``background.csv`` with the PSPs that give each population a free-potential mean and SD.

    Parameters
    ----------
    background : Background
        The background (its pool, rate and connection counts are kept).
    constants : dict of str to (float, float)
        :func:`cell_constants`: tau_m (ms) and threshold gap (mV) per population.
    mean_frac, sd_frac : dict of str to float
        Per population, the background's mean depolarization and its SD as fractions of the threshold gap.
    source : str
        Written to ``psp_source``.

    Returns
    -------
    pandas.DataFrame
    """
    table = background.connections.copy()
    for pop, (tau, gap) in constants.items():
        psps = psps_for(tau, background.event_rates_hz(pop), mean_frac[pop] * gap, sd_frac[pop] * gap)
        for kind in SOURCE_TYPES:
            at = (table.target == pop) & (table.source_type == kind)
            table.loc[at, "psp_mv"] = round(psps[kind], 6)
            table.loc[at, "psp_source"] = (f"{source}: mean {mean_frac[pop]:.3f} and SD {sd_frac[pop]:.3f} of the "
                                           f"{gap:.1f} mV rest-to-threshold gap")
    return table
