"""Figures of one conductance circuit: its network drawn and coloured by class."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection

from common.style import plt

from .build import POPULATION

MAX_EDGES_DRAWN = 4000


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
