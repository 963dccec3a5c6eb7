"""Figures of a run: raster, population rates over time, rate and ISI CV distributions, the network picture, and
the model-versus-data medians. Each function draws one figure, saves it as PNG and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from common.populations import colour, colours
from common.style import plt

from .criticality import bin_activity, find_avalanches, read_spike_times
from .rates import Run, read_spikes
from .reference import CONDITIONS, choose_reference, load_populations, reference_sample
from .responses import choose_metric_reference

DPI = 100


def population_order(cells: pd.DataFrame) -> list[str]:
    """Model populations in the order of ``common/populations.csv``, then any others in order of appearance."""
    known = [p for p in load_populations().index if p in set(cells.pop_name)]
    return known + [p for p in pd.unique(cells.pop_name) if p not in known]


def _color(pop: str, k: int) -> str:
    return colour(pop, k)


def _save(fig: plt.Figure, path: Path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_raster(run: Run, path: Path) -> Path:
    """Spikes of every cell, cells grouped by population and sorted by x position within it."""
    order = population_order(run.cells)
    cells = run.cells.assign(rank_pop=run.cells.pop_name.map({p: k for k, p in enumerate(order)}))
    sort = ["rank_pop", "x", "node_id"] if "x" in cells else ["rank_pop", "node_id"]
    cells = cells.sort_values(sort).reset_index(drop=True)
    row = pd.Series(np.arange(len(cells)), index=pd.MultiIndex.from_frame(cells[["population", "node_id"]]))
    fig, ax = plt.subplots(figsize=(10, 6))
    spikes = run.spikes
    y = row.reindex(pd.MultiIndex.from_frame(spikes[["population", "node_id"]])).to_numpy()
    for k, pop in enumerate(order):
        mine = (spikes.pop_name == pop).to_numpy()
        ax.scatter(spikes.timestamp_ms.to_numpy()[mine] / 1000.0, y[mine], s=0.4, color=_color(pop, k),
                   rasterized=True, linewidths=0)
        rows = np.flatnonzero(cells.pop_name == pop)
        ax.text(1.005, (rows.min() + rows.max()) / 2 / len(cells), pop, transform=ax.transAxes, va="center",
                color=_color(pop, k))
        ax.axhline(rows.max() + 0.5, color="0.7", lw=0.5)
    ax.set_xlim(run.tstart_ms / 1000.0, run.tstop_ms / 1000.0)
    ax.set_ylim(len(cells), 0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("cell (by population, then x position)")
    ax.set_title(f"{run.name}: raster ({len(run.spikes):,} spikes, {len(cells):,} cells)")
    fig.tight_layout()
    return _save(fig, path)


def plot_population_rates(run: Run, path: Path, bin_ms: float = 10.0) -> Path:
    """Mean rate per cell (Hz) of each population over time, in bins of ``bin_ms``."""
    order = population_order(run.cells)
    edges = np.arange(run.tstart_ms, run.tstop_ms + bin_ms / 2, bin_ms)
    fig, axes = plt.subplots(len(order), 1, figsize=(10, 1.6 * len(order) + 0.8), sharex=True, squeeze=False)
    for k, (pop, ax) in enumerate(zip(order, axes[:, 0], strict=True)):
        n_cells = int((run.cells.pop_name == pop).sum())
        counts, _ = np.histogram(run.spikes.timestamp_ms[run.spikes.pop_name == pop], edges)
        rate = counts / n_cells / (bin_ms / 1000.0)
        ax.plot(edges[:-1] / 1000.0, rate, color=_color(pop, k), lw=0.8, drawstyle="steps-post")
        ax.set_ylabel(f"{pop}\n(Hz)")
        ax.set_ylim(bottom=0)
    axes[-1, 0].set_xlabel("time (s)")
    axes[0, 0].set_title(f"{run.name}: population rate per cell, {bin_ms:g} ms bins")
    fig.tight_layout()
    return _save(fig, path)


def _log_bins(*samples: np.ndarray) -> np.ndarray:
    positive = np.concatenate([s[s > 0] for s in samples if len(s)] or [np.array([0.1, 10.0])])
    positive = positive if len(positive) else np.array([0.1, 10.0])
    return np.geomspace(max(positive.min(), 1e-3) / 1.2, positive.max() * 1.2, 25)


def plot_rate_distributions(cells: pd.DataFrame, rates: pd.DataFrame, summary: pd.DataFrame, condition: str,
                            path: Path, title: str = "", referenced: set[str] | None = None) -> Path:
    """Per population: the model's rates beside the data's (``condition``) and the Billeh et al. 2020 model's, on a
    log axis (equal bins in log rate, each sample normalised to its size, zeros included in the size); the
    fraction of zero rates is written in each legend. Only the pop_names in ``referenced`` (default: every model
    population of ``common/populations.csv``) get the data beside them; the others are drawn alone."""
    populations = load_populations()
    referenced = set(populations.index) if referenced is None else set(referenced) & set(populations.index)
    order = population_order(cells)
    fig, axes = plt.subplots(1, len(order), figsize=(3.4 * len(order), 3.4), squeeze=False)
    for k, (pop, ax) in enumerate(zip(order, axes[0], strict=True)):
        samples = [("model" if referenced else "cells", cells.rate_hz[cells.pop_name == pop].to_numpy(float),
                    _color(pop, k))]
        if pop in referenced:
            cls = populations.loc[pop, "cell_class"]
            ref = choose_reference(summary, cls, condition)
            if ref is not None:
                samples.append((f"data, {condition}: {ref.source} {ref.layer}", reference_sample(rates, ref), "k"))
            peer = rates[(rates.source == "billeh2020") & (rates.cell_class == cls)].gratings_hz.dropna()
            if len(peer):
                samples.append(("Billeh 2020 model, gratings", peer.to_numpy(float), "0.6"))
        bins = _log_bins(*[s for _, s, _ in samples])
        for label, values, color in samples:
            zero = float(np.mean(values == 0)) if len(values) else np.nan
            positive = values[values > 0]
            ax.hist(positive, bins=bins, weights=np.full(len(positive), 1.0 / max(len(values), 1)),
                    histtype="step", color=color, lw=1.4, label=f"{label} (n={len(values)}, {zero:.0%} zero)")
        if not any((values > 0).any() for _, values, _ in samples):
            ax.text(0.5, 0.5, "no spikes", transform=ax.transAxes, ha="center")
        ax.set_xscale("log")
        ax.set_xlabel("rate (Hz)")
        ax.set_title(pop)
        ax.legend(fontsize=6.5, loc="upper left")
    axes[0, 0].set_ylabel("fraction of cells / units per bin")
    fig.suptitle(f"{title}rate distributions (model: cells; data: units)" if referenced
                 else f"{title}rate distributions of the cells", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_isi_cv(cells: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Distribution of the ISI coefficient of variation per population (cells with enough spikes)."""
    order = population_order(cells)
    fig, axes = plt.subplots(1, len(order), figsize=(3.2 * len(order), 3.0), squeeze=False, sharex=True)
    bins = np.linspace(0.0, 2.5, 26)
    for k, (pop, ax) in enumerate(zip(order, axes[0], strict=True)):
        cv = cells.isi_cv[cells.pop_name == pop].dropna().to_numpy(float)
        if len(cv):
            ax.hist(np.clip(cv, 0, 2.5), bins=bins, color=_color(pop, k), alpha=0.8)
        else:
            ax.text(0.5, 0.5, "no cell with\nenough spikes", transform=ax.transAxes, ha="center", va="center")
        ax.axvline(1.0, color="k", ls="--", lw=0.8, label="Poisson (CV 1)")
        ax.set_title(f"{pop} (n={len(cv)})")
        ax.set_xlabel("ISI CV")
    axes[0, 0].set_ylabel("cells")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{title}ISI coefficient of variation", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_network(cells: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Cells at their positions (top view x-z and side view x-y, um), coloured by rate (log scale; silent cells
    grey)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained", gridspec_kw={"width_ratios": [1, 1.9]})
    if not {"x", "y", "z"} <= set(cells.columns):
        for ax in axes:
            ax.text(0.5, 0.5, "the nodes have no positions", transform=ax.transAxes, ha="center")
        return _save(fig, path)
    active = cells.rate_hz > 0
    positive = cells.rate_hz[active]
    norm = LogNorm(vmin=max(positive.min(), 1e-2), vmax=max(positive.max(), 1.0)) if len(positive) else None
    for ax, (h, v, vlabel) in zip(axes, [("x", "z", "z (um)"), ("x", "y", "y = -depth (um)")], strict=True):
        silent = cells[~active]
        ax.scatter(silent[h], silent[v], s=2, color="0.8", linewidths=0, label=f"silent ({len(silent)})")
        if norm is not None:
            mapped = ax.scatter(cells[h][active], cells[v][active], c=positive, s=2, cmap="viridis", norm=norm,
                                linewidths=0, rasterized=True)
        ax.set_xlabel("x (um)")
        ax.set_ylabel(vlabel)
        ax.set_aspect("equal")
    axes[0].set_title("top view")
    axes[1].set_title("side view")
    axes[0].legend(fontsize=7, loc="upper right", markerscale=4)
    if norm is not None:
        fig.colorbar(mapped, ax=axes, label="rate (Hz)", shrink=0.9)
    fig.suptitle(f"{title}cells at their positions, coloured by rate", fontsize=10)
    return _save(fig, path)


def plot_comparison(comparison: pd.DataFrame, peer: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Median rates with bootstrap intervals: the model, the data under each condition, the Billeh et al. model."""
    pops = list(pd.unique(comparison.population))
    conditions = list(CONDITIONS)
    fig, ax = plt.subplots(figsize=(max(6.0, 2.2 * len(pops)), 4.2))
    width = 0.8 / (len(conditions) + 2)
    marks = {"flash": "s", "gratings": "^", "spontaneous": "D"}
    labelled: set[str] = set()

    def label(text: str) -> str | None:
        if text in labelled:
            return None
        labelled.add(text)
        return text

    for i, pop in enumerate(pops):
        rows = comparison[comparison.population == pop]
        first = rows.iloc[0]
        ax.errorbar(i - 0.4 + width / 2, first.model_median_hz,
                    yerr=[[first.model_median_hz - first.model_lo_hz], [first.model_hi_hz - first.model_median_hz]],
                    fmt="o", color=_color(pop, i), capsize=3, label=f"model {pop}")
        for j, condition in enumerate(conditions):
            row = rows[rows.condition == condition]
            if not len(row) or not np.isfinite(row.data_median_hz.iloc[0]):
                continue
            row = row.iloc[0]
            ax.errorbar(i - 0.4 + width * (j + 1.5), row.data_median_hz,
                        yerr=[[row.data_median_hz - row.data_lo_hz], [row.data_hi_hz - row.data_median_hz]],
                        fmt=marks[condition], color="k", capsize=3, mfc="white",
                        label=label(f"data, {condition}"))
        prow = peer[peer.population == pop]
        if len(prow):
            prow = prow.iloc[0]
            ax.errorbar(i - 0.4 + width * (len(conditions) + 1.5), prow.model_median_hz,
                        yerr=[[prow.model_median_hz - prow.model_lo_hz], [prow.model_hi_hz - prow.model_median_hz]],
                        fmt="P", color="0.5", capsize=3, label=label("Billeh 2020 model, gratings"))
    if not pops:
        ax.text(0.5, 0.5, "no population of the V1 model in this run", transform=ax.transAxes, ha="center")
        return _save(fig, path)
    ax.set_yscale("log")
    ax.set_xticks(range(len(pops)), pops)
    ax.set_ylabel("median rate (Hz), 95% bootstrap interval")
    ax.set_title(f"{title}model versus data")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return _save(fig, path)


def _log_pdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Density of positive integers in logarithmic bins (centres, density)."""
    edges = np.unique(np.floor(np.logspace(0, np.log10(values.max() + 1), 30)))
    hist, edges = np.histogram(values, bins=np.append(edges, edges[-1] + 1))
    widths = np.diff(edges)
    keep = hist > 0
    return np.sqrt(edges[:-1] * edges[1:])[keep], (hist / widths / len(values))[keep]


def plot_avalanches(spikes_file: Path, result: dict, path: Path, population: str | None = None) -> Path | None:
    """Avalanche size and duration distributions with their power-law fits, and <S>(T) with the crackling check.

    ``result`` is the :func:`analysis.criticality.analyse_spikes` result of the same file (its bin is reused).
    Returns None (and draws nothing) when the result has no avalanche fits.
    """

    if result.get("size_alpha") is None or result.get("bin_ms") is None:
        return None
    times, _ = read_spike_times(spikes_file, population)
    aval = find_avalanches(bin_activity(times, result["bin_ms"]))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, values, fit, label in ((axes[0], aval.sizes, result["size_fit"], "size S (spikes)"),
                                   (axes[1], aval.durations, result["duration_fit"], "duration T (bins)")):
        x, pdf = _log_pdf(values)
        ax.loglog(x, pdf, "o", ms=4, color="0.3", label=f"{len(values):,} avalanches")
        if fit.get("alpha") is not None:
            xmin = fit["xmin"]
            xs = np.logspace(np.log10(xmin), np.log10(values.max()), 20)
            tail = (values >= xmin).mean()
            ax.loglog(xs, tail * (fit["alpha"] - 1) / xmin * (xs / xmin) ** -fit["alpha"], "-", color="tab:red",
                      label=f"power law, alpha {fit['alpha']:.2f} (x >= {xmin:g})")
        ax.set_xlabel(label)
        ax.set_ylabel("probability density")
        ax.legend(fontsize=8)
    durations, counts = np.unique(aval.durations, return_counts=True)
    mean_size = np.array([aval.sizes[aval.durations == d].mean() for d in durations])
    axes[2].loglog(durations, mean_size, "o", ms=4, color="0.3", label="<S>(T)")
    crack = result.get("crackling") or {}
    for key, style, name in (("gamma_fit", "-", "fit"), ("gamma_predicted", "--", "(tau_t-1)/(tau_s-1)")):
        gamma = crack.get(key)
        if gamma is not None:
            axes[2].loglog(durations, mean_size[0] * (durations / durations[0]) ** gamma, style,
                           label=f"{name}: {gamma:.2f}")
    axes[2].set_xlabel("duration T (bins)")
    axes[2].set_ylabel("mean size <S> (spikes)")
    axes[2].legend(fontsize=8)
    m = result.get("branching_ratio_mr")
    fig.suptitle(f"avalanches at {result['bin_ms']:.3g} ms bins: m_MR {m if m is None else round(m, 3)}, "
                 f"regime {result['regime']}")
    fig.tight_layout()
    return _save(fig, path)


STIMULUS_POPULATIONS = ("LIF_exc", "PV", "SST", "VIP", "tON")
LGN_COLOR = "0.35"


def _stimulus_spikes(spikes_file: Path, units: pd.DataFrame) -> dict[str, np.ndarray]:
    """Spike times (s) of each pop_name of a stimulus run, and its cell count under key ``n:<pop_name>``."""

    found = {}
    for population, group in units.groupby("population"):
        spikes = read_spikes(spikes_file, population).merge(group[["node_id", "pop_name"]], on="node_id")
        for pop, rows in spikes.groupby("pop_name"):
            found[pop] = np.sort(rows.timestamp_ms.to_numpy()) / 1000.0
        for pop, rows in group.groupby("pop_name"):
            found[f"n:{pop}"] = np.array([len(rows)])
            found.setdefault(pop, np.zeros(0))
    return found


def psth(times_s: np.ndarray, onsets_s: np.ndarray, n_cells: int, window_s: tuple[float, float] = (-0.25, 1.0),
         bin_s: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Peri-stimulus time histogram: mean rate per cell (Hz) around the onsets.

    Parameters
    ----------
    times_s : numpy.ndarray
        Sorted spike times of the population (s).
    onsets_s : numpy.ndarray
        Onset times (s).
    n_cells : int
        Cells of the population.
    window_s : tuple of float
        Window around each onset (s).
    bin_s : float
        Bin width (s).

    Returns
    -------
    tuple of numpy.ndarray
        Bin centres (s from onset) and rates (Hz per cell).

    Examples
    --------
    >>> t, r = psth(np.array([0.005, 1.005]), np.array([0.0, 1.0]), n_cells=1, window_s=(0.0, 0.02))
    >>> r.tolist()
    [100.0, 0.0]
    """
    edges = np.arange(window_s[0], window_s[1] + bin_s / 2, bin_s)
    counts = np.zeros(len(edges) - 1)
    for onset in onsets_s:
        lo, hi = np.searchsorted(times_s, [onset + edges[0], onset + edges[-1]])
        counts += np.histogram(times_s[lo:hi] - onset, edges)[0]
    rate = counts / (max(len(onsets_s), 1) * max(n_cells, 1) * bin_s)
    return (edges[:-1] + edges[1:]) / 2, rate


def plot_flash_psth(spikes_file: Path, units: pd.DataFrame, presentations: pd.DataFrame, path: Path,
                    title: str = "") -> Path:
    """PSTHs around white and black flash onsets, one panel per V1 population and the LGN (10 ms bins)."""
    spikes = _stimulus_spikes(spikes_file, units)
    pops = [p for p in STIMULUS_POPULATIONS if f"n:{p}" in spikes]
    flashes = presentations[presentations.stimulus_name == "flashes"]
    duration = float((flashes.stop_time - flashes.start_time).median()) if len(flashes) else 0.25
    fig, axes = plt.subplots(1, len(pops), figsize=(3.2 * len(pops), 3.2), sharex=True, squeeze=False)
    for ax, pop in zip(axes[0], pops, strict=True):
        for color, name, style in ((1.0, "white", "-"), (-1.0, "black", "--")):
            onsets = flashes.start_time[flashes.color == color].to_numpy()
            t, r = psth(spikes[pop], onsets, int(spikes[f"n:{pop}"][0]))
            ax.plot(t * 1000, r, style, color=colours().get(pop, LGN_COLOR), label=f"{name} ({len(onsets)})")
        ax.axvspan(0, duration * 1000, color="0.9", zorder=0)
        ax.set_title("LGN (tON)" if pop == "tON" else pop)
        ax.set_xlabel("time from flash onset (ms)")
        ax.legend(fontsize=7, frameon=False)
    axes[0][0].set_ylabel("rate per cell (Hz)")
    fig.suptitle(f"{title}flash responses (gray band: flash on)")
    fig.tight_layout()
    return _save(fig, path)


def plot_direction_tuning(spikes_file: Path, units: pd.DataFrame, presentations: pd.DataFrame, path: Path,
                          title: str = "") -> Path:
    """Mean rate per cell during the gratings against direction, one line per temporal frequency."""
    spikes = _stimulus_spikes(spikes_file, units)
    pops = [p for p in STIMULUS_POPULATIONS if f"n:{p}" in spikes]
    gratings = presentations[presentations.stimulus_name == "drifting_gratings"]
    fig, axes = plt.subplots(1, len(pops), figsize=(3.2 * len(pops), 3.2), squeeze=False)
    for ax, pop in zip(axes[0], pops, strict=True):
        times, n = spikes[pop], int(spikes[f"n:{pop}"][0])
        lo = np.searchsorted(times, gratings.start_time.to_numpy())
        hi = np.searchsorted(times, gratings.stop_time.to_numpy())
        rate = (hi - lo) / (n * (gratings.stop_time - gratings.start_time).to_numpy())
        table = gratings.assign(rate=rate).groupby(["temporal_frequency", "orientation"]).rate.mean()
        for k, (tf, curve) in enumerate(table.groupby(level=0)):
            ax.plot(curve.index.get_level_values(1), curve.to_numpy(), "o-", ms=3, color=f"C{k}",
                    label=f"{tf:g} Hz")
        ax.set_title("LGN (tON)" if pop == "tON" else pop)
        ax.set_xlabel("direction (deg)")
        ax.set_xticks(np.arange(0, 360, 90))
        ax.legend(fontsize=7, frameon=False, title="TF", title_fontsize=7)
    axes[0][0].set_ylabel("rate per cell (Hz)")
    fig.suptitle(f"{title}direction tuning (population mean during the 2 s gratings)")
    fig.tight_layout()
    return _save(fig, path)


def plot_metric_distributions(metrics: pd.DataFrame, comparison: pd.DataFrame, path: Path,
                              title: str = "") -> Path | None:
    """Cumulative distributions of each metric: model populations (solid) against their data (dashed)."""

    rows = comparison[(comparison.n_model > 0) & (comparison.source != "none")]
    shown = list(dict.fromkeys(rows.metric))
    if not shown:
        return None
    ncols = min(4, len(shown))
    nrows = int(np.ceil(len(shown) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.0 * nrows), squeeze=False)
    for ax, metric in zip(axes.flat, shown, strict=False):
        for k, row in enumerate(rows[rows.metric == metric].itertuples()):
            color = colours().get(row.pop_name, LGN_COLOR)
            model = np.sort(metrics.loc[metrics.pop_name == row.pop_name, metric].dropna().to_numpy(float))
            ref = choose_metric_reference(row.cell_class, metric)
            if len(model):
                ax.step(model, np.arange(1, len(model) + 1) / len(model), where="post", color=color,
                        label=f"{row.pop_name} model")
            if ref is not None:
                data = np.sort(ref.values)
                ax.step(data, np.arange(1, len(data) + 1) / len(data), where="post", color=color, ls="--",
                        label=f"{row.cell_class} data ({ref.source})" if k < 5 else None)
        unit = rows[rows.metric == metric].unit.iloc[0]
        ax.set_xlabel(f"{metric} ({unit})" if unit else metric)
        ax.set_ylabel("fraction of cells / units")
        ax.legend(fontsize=6, frameon=False)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.suptitle(f"{title}AllenSDK metrics: model (solid) against the Neuropixels units (dashed)")
    fig.tight_layout()
    return _save(fig, path)
