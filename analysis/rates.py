"""Per-cell and per-population firing statistics of a PointNet run, compared with the experimental reference.

Cells that never spiked are kept (rate 0). The ISI coefficient of variation of a cell is computed from its
inter-spike intervals when it fired at least :data:`MIN_SPIKES_FOR_CV` spikes.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

REFERENCE_FILE = Path(__file__).resolve().parent / "reference_rates.csv"
MIN_SPIKES_FOR_CV = 4


def read_spikes(spikes_file: Path, population: str) -> pd.DataFrame:
    """Spikes of ``population`` from a SONATA spikes file (an empty table if it has none).

    Returns
    -------
    pandas.DataFrame
        Columns ``node_id`` and ``timestamp_ms``.
    """
    with h5py.File(spikes_file, "r") as h5:
        grp = h5.get(f"spikes/{population}")
        if grp is None or "node_ids" not in grp:
            return pd.DataFrame({"node_id": np.zeros(0, dtype=np.int64), "timestamp_ms": np.zeros(0)})
        return pd.DataFrame({"node_id": grp["node_ids"][()].astype(np.int64), "timestamp_ms": grp["timestamps"][()]})


def read_nodes(nodes_file: Path, node_types_file: Path, population: str) -> pd.DataFrame:
    """Node ids of ``population`` with their node-type attributes (``pop_name``, ``ei``, ...)."""
    with h5py.File(nodes_file, "r") as h5:
        table = pd.DataFrame({"node_id": h5[f"nodes/{population}/node_id"][()].astype(np.int64),
                              "node_type_id": h5[f"nodes/{population}/node_type_id"][()]})
    return table.merge(pd.read_csv(node_types_file, sep=" "), on="node_type_id", how="left")


def cell_table(spikes: pd.DataFrame, nodes: pd.DataFrame, tstart_ms: float, tstop_ms: float) -> pd.DataFrame:
    """Spike count, rate (Hz) and ISI CV of every cell in ``nodes`` over (tstart, tstop].

    NEST stamps a spike with the end of the time step in which it occurred, so a run of length T holds spikes
    in (0, T].

    Parameters
    ----------
    spikes : pandas.DataFrame
        ``node_id``, ``timestamp_ms``.
    nodes : pandas.DataFrame
        ``node_id``, ``pop_name``.
    tstart_ms, tstop_ms : float
        Analysis window (ms).

    Returns
    -------
    pandas.DataFrame
        ``node_id``, ``pop_name``, ``n_spikes``, ``rate_hz``, ``isi_cv`` (NaN below ``MIN_SPIKES_FOR_CV``).

    Examples
    --------
    >>> s = pd.DataFrame({"node_id": [0, 0, 0, 0, 0], "timestamp_ms": [100.0, 200.0, 300.0, 400.0, 500.0]})
    >>> n = pd.DataFrame({"node_id": [0, 1], "pop_name": ["E", "E"]})
    >>> cell_table(s, n, 0.0, 1000.0)[["n_spikes", "rate_hz", "isi_cv"]].values.tolist()
    [[5.0, 5.0, 0.0], [0.0, 0.0, nan]]
    """
    window = spikes[(spikes.timestamp_ms > tstart_ms) & (spikes.timestamp_ms <= tstop_ms)]
    window = window.sort_values(["node_id", "timestamp_ms"])
    counts = window.groupby("node_id").size()
    isi = window.groupby("node_id").timestamp_ms.diff().dropna()
    isi_by_cell = isi.groupby(window.loc[isi.index, "node_id"])
    cv = (isi_by_cell.std(ddof=0) / isi_by_cell.mean())[counts[counts >= MIN_SPIKES_FOR_CV].index]
    table = nodes[["node_id", "pop_name"]].copy()
    table["n_spikes"] = table.node_id.map(counts).fillna(0).astype(float)
    table["rate_hz"] = table.n_spikes / ((tstop_ms - tstart_ms) / 1000.0)
    table["isi_cv"] = table.node_id.map(cv)
    return table.reset_index(drop=True)


def load_reference(path: Path = REFERENCE_FILE) -> pd.DataFrame:
    """The experimental reference medians per model population (committed table)."""
    return pd.read_csv(path).set_index("population")


def population_summary(cells: pd.DataFrame, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """Cells, fraction active, mean and median rate, mean ISI CV per population, beside the reference median.

    Returns
    -------
    pandas.DataFrame
        Indexed by population: ``n_cells``, ``frac_active``, ``mean_rate_hz``, ``median_rate_hz``,
        ``max_rate_hz``, ``mean_isi_cv``, ``reference_median_hz``, ``ratio`` (model / reference median).
    """
    reference = load_reference() if reference is None else reference
    grouped = cells.groupby("pop_name", sort=False)
    summary = pd.DataFrame({
        "n_cells": grouped.size(),
        "frac_active": grouped.n_spikes.apply(lambda n: float((n > 0).mean())),
        "mean_rate_hz": grouped.rate_hz.mean(),
        "median_rate_hz": grouped.rate_hz.median(),
        "max_rate_hz": grouped.rate_hz.max(),
        "mean_isi_cv": grouped.isi_cv.mean(),
    })
    summary.index.name = "population"
    summary["reference_median_hz"] = reference.median_rate_hz.reindex(summary.index)
    summary["ratio"] = summary.median_rate_hz / summary.reference_median_hz
    return summary


def v1_nodes(config: dict) -> pd.DataFrame:
    """The V1 node table (:func:`read_nodes`) of a configuration whose paths are resolved.

    Raises
    ------
    ValueError
        If no nodes file of the configuration holds population ``V1``.
    """
    for entry in config["networks"]["nodes"]:
        with h5py.File(entry["nodes_file"], "r") as h5:
            if "V1" in h5["nodes"]:
                return read_nodes(entry["nodes_file"], entry["node_types_file"], "V1")
    raise ValueError("the configuration has no V1 population.")


def run_summary(config: dict, spikes_file: Path) -> pd.DataFrame:
    """:func:`population_summary` of the V1 cells of a run described by a bmtk configuration."""
    tstart, tstop = float(config["run"].get("tstart", 0.0)), float(config["run"]["tstop"])
    return population_summary(cell_table(read_spikes(spikes_file, "V1"), v1_nodes(config), tstart, tstop))


def format_summary(summary: pd.DataFrame) -> str:
    """The summary as an aligned text table."""
    lines = ["population  cells  active  mean Hz  median Hz  max Hz  ISI CV  reference Hz  model/ref"]
    for pop, row in summary.iterrows():
        lines.append(f"{pop:10s} {int(row.n_cells):6d}  {row.frac_active:6.1%}  {row.mean_rate_hz:7.2f}  "
                     f"{row.median_rate_hz:9.2f}  {row.max_rate_hz:6.1f}  {row.mean_isi_cv:6.2f}  "
                     f"{row.reference_median_hz:12.2f}  {row.ratio:9.2f}")
    return "\n".join(lines)


def print_summary(config: dict, spikes_file: Path) -> pd.DataFrame:
    """Print the run's summary and write it beside the spikes as ``rates_summary.csv``."""
    summary = run_summary(config, spikes_file)
    summary.to_csv(Path(spikes_file).with_name("rates_summary.csv"))
    print("V1 populations (reference: median spontaneous rate of mouse V1 L2/3 units, Allen Neuropixels):")
    print(format_summary(summary))
    return summary
