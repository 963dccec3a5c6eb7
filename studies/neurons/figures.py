"""Figures of the single-neuron studies; each function saves one PNG and returns its path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.style import plt

from .models import NeuronModel
from .simulate import Trace

DPI = 100


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return Path(path)


def draw_trace(axes: list, tr: Trace) -> None:
    """V_m with spike marks, the input current, and w if recorded, on the given axes (one per quantity)."""
    t = tr.table.time_ms
    axes[0].plot(t, tr.table.v_mv, lw=0.8, color="k")
    if len(tr.spikes_ms):
        top = tr.table.v_mv.max()
        axes[0].plot(tr.spikes_ms, np.full(len(tr.spikes_ms), top + 2.0), "|", color="tab:red", ms=6)
    axes[0].set_ylabel("V_m (mV)")
    axes[1].plot(t, tr.table.i_pa, lw=0.8, color="tab:blue")
    axes[1].set_ylabel("I (pA)")
    if "w_pa" in tr.table and len(axes) > 2:
        axes[2].plot(t, tr.table.w_pa, lw=0.8, color="tab:green")
        axes[2].set_ylabel("w (pA)")
    axes[-1].set_xlabel("time (ms)")


def plot_trace(model: NeuronModel, label: str, tr: Trace, path: Path) -> Path:
    """Membrane potential with spike marks, input current, and the adaptation current for AdEx-type models."""
    n = 3 if "w_pa" in tr.table else 2
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.0 * n + 0.6), sharex=True,
                             gridspec_kw={"height_ratios": [2] + [1] * (n - 1)})
    draw_trace(list(axes), tr)
    axes[0].set_title(f"{model.name} ({model.nest_model}, t_ref {model.params.get('t_ref', 0):g} ms): {label}; "
                      f"{len(tr.spikes_ms)} spikes; {tr.simulator}, step {tr.resolution_ms:g} ms", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_fi(curves: pd.DataFrame, path: Path, theory: pd.DataFrame | None = None) -> Path:
    """f-I curves of one or more models (``model``, ``current_pa``, ``rate_hz``), closed forms dashed."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for k, (name, curve) in enumerate(curves.groupby("model", sort=False)):
        ax.plot(curve.current_pa, curve.rate_hz, "o-", ms=3, color=f"C{k}", label=name)
        if theory is not None and name in set(theory.model):
            th = theory[theory.model == name]
            ax.plot(th.current_pa, th.rate_hz, "--", color=f"C{k}", lw=1, label=f"{name}, closed form")
    ax.set_xlabel("constant current (pA)")
    ax.set_ylabel("steady firing rate (Hz)")
    ax.set_title("f-I curves")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_pattern(model: NeuronModel, current_pa: float, tr: Trace, expected: str, measured: dict,
                 path: Path) -> Path:
    """V and w over time, and the V-w phase plane with the V- and w-nullclines at the step current."""
    p = model.params
    fig = plt.figure(figsize=(11, 4.6))
    grid = fig.add_gridspec(2, 2, width_ratios=[1.6, 1])
    ax_v, ax_w = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0])
    ax_pp = fig.add_subplot(grid[:, 1])
    ax_v.plot(tr.table.time_ms, tr.table.v_mv, lw=0.7, color="k")
    ax_v.set_ylabel("V (mV)")
    ax_v.tick_params(labelbottom=False)
    ax_w.plot(tr.table.time_ms, tr.table.w_pa, lw=0.8, color="tab:green")
    ax_w.set_ylabel("w (pA)")
    ax_w.set_xlabel("time (ms)")
    v = np.linspace(p["E_L"] - 15.0, p["V_th"] + 5 * p["Delta_T"], 400)
    v_null = -p["g_L"] * (v - p["E_L"]) + p["g_L"] * p["Delta_T"] * np.exp((v - p["V_th"]) / p["Delta_T"]) + current_pa
    ax_pp.plot(v, v_null, color="tab:blue", label="V-nullcline")
    ax_pp.plot(v, p["a"] * (v - p["E_L"]), color="tab:orange", label="w-nullcline")
    ax_pp.plot(tr.table.v_mv, tr.table.w_pa, lw=0.6, color="k", label="trajectory")
    ax_pp.axvline(p["V_reset"], color="0.6", ls=":", lw=0.8, label="V_reset")
    w = tr.table.w_pa
    ax_pp.set_ylim(min(w.min(), 0) - 20, max(w.max(), 0) + 40)
    ax_pp.set_xlim(v[0], v[-1])
    ax_pp.set_xlabel("V (mV)")
    ax_pp.set_ylabel("w (pA)")
    ax_pp.legend(fontsize=7)
    fig.suptitle(f"{expected} (Naud et al. 2008), step {current_pa:g} pA: classified as '{measured['pattern']}' "
                 f"(A {measured['adaptation_index']:.3f}, latency {measured['latency_ms']:.1f} ms); {tr.simulator}, "
                 f"step {tr.resolution_ms:g} ms", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_gallery(panels: list[tuple[str, str, Trace]], rows: list[str], cols: list[str], path: Path) -> Path:
    """A grid of V_m traces: one row per model variant, one column per input."""
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(3.4 * len(cols), 1.5 * len(rows) + 0.8), sharex=True,
                             squeeze=False)
    for row_name, col_name, tr in panels:
        ax = axes[rows.index(row_name), cols.index(col_name)]
        ax.plot(tr.table.time_ms, tr.table.v_mv, lw=0.5, color="k")
        ax.text(0.99, 0.95, f"{len(tr.spikes_ms)} sp", transform=ax.transAxes, ha="right", va="top", fontsize=7)
    for i, name in enumerate(rows):
        axes[i, 0].set_ylabel(f"{name}\nV_m (mV)", fontsize=8)
    for j, name in enumerate(cols):
        axes[0, j].set_title(name, fontsize=9)
        axes[-1, j].set_xlabel("time (ms)")
    fig.tight_layout()
    return _save(fig, path)
