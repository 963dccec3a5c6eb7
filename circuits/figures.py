"""Pictures of the circuits: the network with its connections and nodes coloured by rate, and the regime sweep."""

from __future__ import annotations

from pathlib import Path

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from analysis.criticality import CRITICAL_TOLERANCE  # noqa: E402

from .build import POPULATION  # noqa: E402

MAX_EDGES_DRAWN = 4000
REGIME_COLORS = {"sub-critical": "tab:blue", "near-critical": "tab:green", "super-critical": "tab:red",
                 "insufficient data": "0.6"}


def read_edges(network_dir: Path) -> pd.DataFrame:
    """Source and target node ids of the circuit's recurrent connections."""
    with h5py.File(Path(network_dir) / f"{POPULATION}_{POPULATION}_edges.h5", "r") as h5:
        grp = h5[f"edges/{POPULATION}_to_{POPULATION}"]
        return pd.DataFrame({"source": grp["source_node_id"][()], "target": grp["target_node_id"][()]})


def plot_circuit(circuit_dir: Path, cells: pd.DataFrame, path: Path, seed: int = 0) -> Path:
    """The circuit drawn at its node positions: a sample of its connections (E red, I blue) and cells coloured by rate.

    Parameters
    ----------
    circuit_dir : Path
        The circuit's folder (its ``network/`` is read).
    cells : pandas.DataFrame
        The run's cell table (``node_id``, ``pop_name``, ``x``, ``y``, ``rate_hz``).
    path : Path
        PNG to write.
    seed : int
        Seed of the edge sample.
    """
    edges = read_edges(Path(circuit_dir) / "network")
    n_edges = len(edges)
    if n_edges > MAX_EDGES_DRAWN:
        edges = edges.sample(MAX_EDGES_DRAWN, random_state=seed)
    pos = cells.set_index("node_id")[["x", "y"]]
    exc = cells.set_index("node_id").pop_name.reindex(edges.source).to_numpy() == "E"
    segments = np.stack((pos.loc[edges.source].to_numpy(), pos.loc[edges.target].to_numpy()), axis=1)
    fig, ax = plt.subplots(figsize=(7, 6.5))
    ax.add_collection(LineCollection(segments[exc], colors="tab:red", linewidths=0.3, alpha=0.25))
    ax.add_collection(LineCollection(segments[~exc], colors="tab:blue", linewidths=0.3, alpha=0.35))
    for pop, marker in (("E", "o"), ("I", "s")):
        mine = cells[cells.pop_name == pop]
        sc = ax.scatter(mine.x, mine.y, c=mine.rate_hz, s=14 if pop == "E" else 18, marker=marker, cmap="viridis",
                        vmin=0, vmax=max(cells.rate_hz.quantile(0.98), 1e-3), edgecolors="k", linewidths=0.2,
                        label=f"{pop} cells", zorder=3)
    fig.colorbar(sc, ax=ax, label="rate (Hz)", shrink=0.8)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    shown = f"{len(edges):,} of {n_edges:,}" if n_edges > len(edges) else f"{n_edges:,}"
    ax.set_title(f"{Path(circuit_dir).name}: {len(cells):,} cells, {shown} connections drawn\n"
                 "(red: from E, blue: from I)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


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
