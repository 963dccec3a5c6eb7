"""Measured effects of the perturbations: per-population rates, change vs baseline with bootstrap intervals, figures.

The change of a population's median rate is computed over the same cells in both runs, so its 95% interval is a
paired bootstrap over cells (SciPy's ``stats.bootstrap``, percentile method). A population without spikes is a
valid result: its rates are 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis.rates import load_run
from common.populations import colours
from common.style import plt

from .configs import BASELINE
from .suite import output_dir

SUMMARY_COLUMNS = ("perturbation", "population", "n_cells", "frac_active", "mean_rate_hz", "median_rate_hz",
                   "delta_median_hz", "delta_ci_low", "delta_ci_high")
COLORS = colours()  # one colour per population in every figure (common/populations.csv)


def run_cells(config_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The V1 per-cell table (:func:`analysis.rates.load_run`) and the V1 spikes of one finished run."""
    run = load_run(output_dir(config_path), config_path)
    return run.cells[run.cells.population == "V1"], run.spikes[run.spikes.population == "V1"]


def median_change(baseline: np.ndarray, perturbed: np.ndarray, seed: int = 0,
                  n_resamples: int = 2000) -> tuple[float, float, float]:
    """Change of the median rate (Hz) over paired cells, and its bootstrap 95% interval.

    Parameters
    ----------
    baseline, perturbed : numpy.ndarray
        Rates (Hz) of the same cells, in the same order, in the two runs.
    seed : int
        Seed of the resampling.
    n_resamples : int
        Bootstrap resamples.

    Returns
    -------
    delta, low, high : float
        median(perturbed) - median(baseline) and the 2.5 / 97.5 percentiles of its bootstrap distribution.

    Examples
    --------
    >>> delta, low, high = median_change(np.zeros(50), np.full(50, 3.0))
    >>> delta, low, high
    (3.0, 3.0, 3.0)
    """
    delta = float(np.median(perturbed) - np.median(baseline))
    if len(baseline) < 2:
        return delta, delta, delta
    result = stats.bootstrap((baseline, perturbed),
                             lambda b, p, axis: np.median(p, axis=axis) - np.median(b, axis=axis),
                             paired=True, vectorized=True, n_resamples=n_resamples, confidence_level=0.95,
                             method="percentile", random_state=np.random.default_rng(seed))
    return delta, float(result.confidence_interval.low), float(result.confidence_interval.high)


def summarize(configs: dict[str, Path], seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """One row per run x population (:data:`SUMMARY_COLUMNS`), and the per-run cells and spikes for figures.

    Parameters
    ----------
    configs : dict of str to Path
        Run name -> configuration; must include the baseline.
    seed : int
        Seed of the bootstrap.
    """
    runs = {name: run_cells(path) for name, path in configs.items()}
    base = runs[BASELINE][0].set_index("node_id")
    rows = []
    for name, (cells, _) in runs.items():
        cells = cells.set_index("node_id")
        for population, group in cells.groupby("pop_name", sort=False):
            before = base.loc[group.index, "rate_hz"].to_numpy()
            after = group.rate_hz.to_numpy()
            delta, low, high = median_change(before, after, seed)
            rows.append({"perturbation": name, "population": population, "n_cells": len(group),
                         "frac_active": float((group.n_spikes > 0).mean()), "mean_rate_hz": float(after.mean()),
                         "median_rate_hz": float(np.median(after)), "delta_median_hz": delta,
                         "delta_ci_low": low, "delta_ci_high": high})
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)), runs


def plot_rate_grid(runs: dict, path: Path) -> Path:
    """Histograms of log10 rate per population (columns) and run (rows); silent cells counted in the title."""
    populations = list(COLORS)
    fig, axes = plt.subplots(len(runs), len(populations), figsize=(3.2 * len(populations), 1.6 * len(runs)),
                             sharex=True, squeeze=False)
    bins = np.linspace(-1.5, 2.5, 33)
    for r, (name, (cells, _)) in enumerate(runs.items()):
        for c, population in enumerate(populations):
            ax = axes[r, c]
            rates = cells.loc[cells.pop_name == population, "rate_hz"].to_numpy()
            active = rates[rates > 0]
            ax.hist(np.log10(active), bins=bins, color=COLORS[population], alpha=0.8)
            if len(active) == 0:
                ax.set_ylim(0, 1)
                ax.text(0.5, 0.5, "no spikes", transform=ax.transAxes, ha="center", va="center", fontsize=8)
            silent = 1 - len(active) / max(1, len(rates))
            ax.set_title(f"{name} / {population}: {silent:.0%} silent, median {np.median(rates):.2f} Hz", fontsize=7)
            if c == 0:
                ax.set_ylabel("cells")
            if r == len(runs) - 1:
                ax.set_xlabel("log10 rate (Hz)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_rasters(runs: dict, path: Path, tstop_ms: float) -> Path:
    """One raster per run, cells ordered by node id (populations in blocks), coloured by population."""
    fig, axes = plt.subplots(len(runs), 1, figsize=(9, 2.0 * len(runs)), sharex=True, squeeze=False)
    for ax, (name, (cells, spikes)) in zip(axes[:, 0], runs.items(), strict=True):
        pops = cells.set_index("node_id").pop_name
        for population, color in COLORS.items():
            sel = spikes[spikes.node_id.map(pops) == population]
            ax.scatter(sel.timestamp_ms, sel.node_id, s=0.3, color=color, marker=".", linewidths=0, label=population)
        ax.set_ylabel(f"{name}\nnode id", fontsize=8)
        ax.set_xlim(0, tstop_ms)
    axes[-1, 0].set_xlabel("time (ms)")
    axes[0, 0].legend(loc="upper right", markerscale=20, fontsize=7, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_sweep(summary: pd.DataFrame, population: str, path: Path) -> Path:
    """Rate-current curves: median rate of every population (left) and its change vs baseline with the paired
    bootstrap 95% interval (right), against the clamp current injected into ``population``."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for pop, group in summary.groupby("population", sort=False):
        group = group.sort_values("amp_pa")
        left.plot(group.amp_pa, group.median_rate_hz, "o-", color=COLORS.get(pop), label=pop)
        error = [group.delta_median_hz - group.delta_ci_low, group.delta_ci_high - group.delta_median_hz]
        right.errorbar(group.amp_pa, group.delta_median_hz, yerr=error, fmt="o-", color=COLORS.get(pop), capsize=3,
                       label=pop)
    left.set_yscale("symlog", linthresh=1.0)
    left.set_ylabel("median rate (Hz)")
    right.set_yscale("symlog", linthresh=1.0)
    right.axhline(0, color="0.6", lw=0.8)
    right.set_ylabel("change of median rate vs baseline (Hz, 95% CI)")
    for ax in (left, right):
        ax.set_xlabel(f"current injected into {population} (pA)")
    left.legend()
    fig.suptitle(f"dose-response: clamp on {population}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
