"""Closed forms for the LIF and the exponential LIF (units: mV, pF, nS, ms, pA; rates in Hz)."""

from __future__ import annotations

import numpy as np

from .models import NeuronModel


def membrane(model: NeuronModel) -> tuple[float, float]:
    """Membrane resistance R (GOhm = mV/pA) and time constant tau_m (ms) of a model.

    ``iaf_psc_*`` models give tau_m and C_m (R = tau_m / C_m); conductance models give g_L (R = 1 / g_L).
    """
    p = model.params
    if "g_L" in p:
        return 1.0 / p["g_L"], p["C_m"] / p["g_L"]
    return p["tau_m"] / p["C_m"], p["tau_m"]


def lif_rate(model: NeuronModel, current_pa: np.ndarray) -> np.ndarray:
    """Steady firing rate (Hz) of a LIF under constant current:
    r = 1 / (t_ref + tau_m ln((R I + E_L - V_reset) / (R I + E_L - V_th))), 0 at or below rheobase.

    Examples
    --------
    >>> m = NeuronModel("lif", "iaf_psc_delta", {"tau_m": 10.0, "C_m": 250.0, "E_L": -70.0, "V_th": -55.0,
    ...                 "V_reset": -70.0, "t_ref": 2.0})
    >>> round(float(lif_rate(m, np.array([500.0]))[0]), 2)
    63.04
    """
    p = model.params
    r_gohm, tau = membrane(model)
    drive = r_gohm * np.asarray(current_pa, float) + p["E_L"]
    above = drive > p["V_th"]
    rate = np.zeros_like(drive)
    isi = p.get("t_ref", 0.0) + tau * np.log((drive[above] - p["V_reset"]) / (drive[above] - p["V_th"]))
    rate[above] = 1000.0 / isi
    return rate


def lif_rheobase(model: NeuronModel) -> float:
    """The smallest constant current (pA) that makes a LIF fire: (V_th - E_L) / R."""
    r_gohm, _ = membrane(model)
    return (model.params["V_th"] - model.params["E_L"]) / r_gohm


def eif_rheobase(model: NeuronModel) -> float:
    """Rheobase (pA) of the exponential LIF (a = b = 0): g_L (V_T - E_L - Delta_T), NEST's V_th being V_T."""
    p = model.params
    return p["g_L"] * (p["V_th"] - p["E_L"] - p["Delta_T"])


def lif_step_response(model: NeuronModel, current_pa: float, t_ms: np.ndarray) -> np.ndarray:
    """Subthreshold membrane potential (mV) t ms after a current step from rest: E_L + R I (1 - exp(-t / tau_m))."""
    r_gohm, tau = membrane(model)
    return model.params["E_L"] + r_gohm * current_pa * (1.0 - np.exp(-np.asarray(t_ms, float) / tau))
