"""Figures of the criticality sweeps: branching ratio and rate against the weight scale, coloured by regime."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.criticality import CRITICAL_TOLERANCE
from common.style import plt

REGIME_COLORS = {"sub-critical": "tab:blue", "near-critical": "tab:green", "super-critical": "tab:red",
                 "insufficient data": "0.6"}


def plot_sweep(table: pd.DataFrame, path: Path, parameter: str = "weight_scale", target_m: float | None = None) -> Path:
    """m, mean rate and size exponent against the control parameter, points coloured by their regime."""
    table = table.sort_values(parameter)
    fig, axes = plt.subplots(3, 1, figsize=(7, 9), sharex=True)
    colors = table.regime.map(REGIME_COLORS).fillna("0.6")
    for ax, column, label in ((axes[0], "branching_ratio_mr", "branching ratio m (MR, per bin)"),
                              (axes[1], "mean_rate_hz", "mean rate (Hz)"),
                              (axes[2], "size_alpha", "avalanche size exponent alpha")):
        ax.plot(table[parameter], table[column], "-", color="0.7", zorder=1)
        ax.scatter(table[parameter], table[column], c=colors, s=40, zorder=2, edgecolors="k", linewidths=0.3)
        ax.set_ylabel(label)
    axes[0].axhline(1.0, color="k", lw=0.8)
    axes[0].axhspan(1 - CRITICAL_TOLERANCE, 1 + CRITICAL_TOLERANCE, color="tab:green", alpha=0.15)
    if target_m is not None and target_m != 1.0:
        axes[0].axhline(target_m, color="tab:green", ls="--", lw=0.8, label=f"target m {target_m}")
    axes[1].set_yscale("log")
    axes[2].axhline(1.5, color="k", lw=0.8, ls="--", label="1.5 (critical branching)")
    axes[2].legend(fontsize=8)
    for regime, color in REGIME_COLORS.items():
        axes[0].scatter([], [], c=color, label=regime)
    axes[0].legend(fontsize=8, loc="lower right")
    axes[-1].set_xlabel(parameter.replace("_", " ") + " (x the excitatory weights)")
    fig.suptitle("regimes of the circuit against the control parameter")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
