"""The eight AdEx firing patterns of Naud et al. 2008 (Biol Cybern 99:335), simulated and classified by a measured rule.

Parameters: ``studies/neurons/naud2008.csv``, the paper's Table 1 (C_m pF, g_L nS, E_L mV, V_th = V_T mV, Delta_T mV,
a nS, tau_w ms, b pA, V_reset mV, step current I_e pA) as transcribed in Brian2's example
``Naud_et_al_2008_adex_firing_patterns.py``; spikes cut at V_peak = 0 mV, no refractory period. Each neuron rests at
E_L and receives the step from :data:`STEP_START_MS` for :data:`STEP_MS`.

The rule (:func:`classify`), applied in this order, on the spike times during the step:

1. no spike: ``silent``; the last spike in the first half of the step: ``transient``;
2. steady ISIs (spikes in the second half) alternating between short and long, max/min > 4 with the long ones
   regular (CV < 0.1): ``regular bursting``, ``delayed regular bursting`` if the first spike is delayed
   (latency > 2.5 x the mean steady ISI);
3. steady ISI CV > 0.2: ``irregular``;
4. a jump > 3x between consecutive ISIs among the first five: ``initial burst``;
5. adaptation index A (mean of (ISI_k+1 - ISI_k) / (ISI_k+1 + ISI_k) over the first 10 ISIs) < -0.01:
   ``delayed accelerating`` (``accelerating`` without the delay); A > 0.02: ``adapting``; else ``tonic``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .models import NeuronModel
from .simulate import Trace, traces
from .stimuli import Stimulus

TABLE = Path(__file__).resolve().parent / "naud2008.csv"
STEP_START_MS = 100.0
STEP_MS = 1000.0
V_PEAK_MV = 0.0


def load_table(path: Path = TABLE) -> pd.DataFrame:
    """Naud et al. 2008 Table 1, one row per pattern (NEST names)."""
    return pd.read_csv(path)


def pattern_model(row: pd.Series) -> NeuronModel:
    """The ``aeif_cond_exp`` model of one row of :func:`load_table`, at rest at E_L."""
    params = {k: float(row[k]) for k in ("C_m", "g_L", "E_L", "V_th", "Delta_T", "a", "tau_w", "b", "V_reset")}
    params.update({"V_peak": V_PEAK_MV, "t_ref": 0.0, "V_m": params["E_L"], "w": 0.0})
    return NeuronModel(str(row.pattern), "aeif_cond_exp", params, "Naud et al. 2008, Table 1")


def adaptation_index(isi: np.ndarray, n: int = 10) -> float:
    """Mean of (ISI_k+1 - ISI_k) / (ISI_k+1 + ISI_k) over the first ``n`` ISIs (> 0: slowing, < 0: accelerating).

    Examples
    --------
    >>> adaptation_index(np.array([10.0, 10.0, 10.0]))
    0.0
    """
    isi = np.asarray(isi, float)[: n]
    if len(isi) < 2:
        return 0.0
    return float(np.mean(np.diff(isi) / (isi[1:] + isi[:-1])))


def classify(spikes_ms: np.ndarray, start_ms: float, duration_ms: float) -> dict:
    """Firing pattern of a response to a current step (module docstring), with the measures it rests on.

    Returns
    -------
    dict
        ``pattern``, ``n_spikes``, ``latency_ms``, ``adaptation_index``, ``steady_isi_cv``, ``burst_ratio``
        (max / min steady ISI), ``delayed`` (bool).
    """
    t = np.sort(np.asarray(spikes_ms, float))
    t = t[(t > start_ms) & (t <= start_ms + duration_ms)] - start_ms
    out = {"pattern": "silent", "n_spikes": len(t), "latency_ms": np.nan, "adaptation_index": np.nan,
           "steady_isi_cv": np.nan, "burst_ratio": np.nan, "delayed": False}
    if len(t) == 0:
        return out
    out["latency_ms"] = float(t[0])
    if t[-1] < duration_ms / 2:
        return {**out, "pattern": "transient"}
    isi = np.diff(t)
    steady = np.diff(t[t >= duration_ms / 2])
    if len(steady) == 0:
        steady = isi[-1:]
    mean_steady = float(steady.mean())
    delayed = bool(t[0] > 2.5 * mean_steady)
    ratio = float(steady.max() / steady.min())
    long = steady[steady > np.sqrt(steady.max() * steady.min())]
    cv = float(steady.std() / mean_steady)
    a = adaptation_index(isi)
    out.update({"adaptation_index": a, "steady_isi_cv": cv, "burst_ratio": ratio, "delayed": delayed})
    if ratio > 4 and len(long) >= 2 and long.std() / long.mean() < 0.1:
        return {**out, "pattern": "delayed regular bursting" if delayed else "regular bursting"}
    if cv > 0.2:
        return {**out, "pattern": "irregular"}
    first = isi[:5]
    if len(first) >= 2 and np.max(first[1:] / first[:-1]) > 3:
        return {**out, "pattern": "initial burst"}
    if a < -0.01:
        return {**out, "pattern": "delayed accelerating" if delayed else "accelerating"}
    return {**out, "pattern": "adapting" if a > 0.02 else "tonic"}


def run_patterns(table: pd.DataFrame | None = None, simulator: str = "nest",
                 resolution_ms: float | None = None) -> list[tuple[pd.Series, NeuronModel, Trace, dict]]:
    """Simulate every pattern of the table and classify it: (row, model, trace, classification) per pattern.

    ``simulator`` and ``resolution_ms`` (default: the simulator's trace step) as in
    :func:`studies.neurons.simulate.traces`; PymoNNtorch runs the eight neurons as one group.
    """
    table = load_table() if table is None else table
    rows = [row for _, row in table.iterrows()]
    models = [pattern_model(row) for row in rows]
    stimuli = [Stimulus("step", amp_pa=float(row.I_e), start_ms=STEP_START_MS, stop_ms=STEP_START_MS + STEP_MS)
               for row in rows]
    runs = traces(models, stimuli, STEP_START_MS + STEP_MS, resolution_ms=resolution_ms, simulator=simulator)
    return [(row, model, tr, classify(tr.spikes_ms, STEP_START_MS, STEP_MS))
            for row, model, tr in zip(rows, models, runs, strict=True)]
