"""Spontaneous activity of a run: the acceptance test of the tuned model and its variability, beside published values.

Applied to a ``gray`` stimulus run (``python -m analysis stimulus gray --out DIR``), which the stimulus command
does by itself (``DIR/spontaneous.json`` and ``DIR/variability.csv``), or to any run folder with
``python -m analysis spontaneous DIR``. It states:

- the acceptance test of issue 19 (:func:`analysis.tune_gray.meets_gray_criteria`): median rates, silent
  populations, maximum rate, median ISI CV of E cells with at least 5 spikes;
- without a target, the spike-count correlations of E and I pairs at 50 and 250 ms and the population-count
  statistics (:func:`analysis.variability.variability_report`), beside :data:`PUBLISHED`.

A validation run should not be the tuning's own: the tuning runs 4 s per evaluation on its own spike draws; the
gray run used here is longer (60 s by default) and drawn from the stimulus command's seed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from .rates import cell_table, population_summary, read_nodes, read_spikes
from .tune_gray import e_cell_cv, meets_gray_criteria
from .variability import variability_report

#: Published values for awake mouse V1 that the model's measures are set beside (not tuning targets).
PUBLISHED = [
    {"measure": "count_correlation", "value": 0.18, "bin_ms": None,
     "source": "Denman & Contreras 2014, Cereb Cortex 24:2707: mean correlated spike-count variability of pairs "
               "in mouse V1, awake (0.16 anesthetized); counts over stimulus presentations, not spontaneous "
               "activity, so an upper reference for the model's spontaneous values"},
]
GROUPS = {"E": ("LIF_exc",), "I": ("PV", "SST", "VIP")}


def spontaneous_statistics(spikes_file: Path, nodes_file: Path, node_types_file: Path, t_start_ms: float,
                           t_stop_ms: float, seed: int = 0) -> tuple[dict, pd.DataFrame]:
    """Acceptance test and variability of the V1 cells of a run over (t_start_ms, t_stop_ms].

    Parameters
    ----------
    spikes_file : Path
        SONATA spikes with population ``V1``.
    nodes_file, node_types_file : Path
        The V1 nodes.
    t_start_ms, t_stop_ms : float
        Analysis window (ms).
    seed : int
        Seed of the pair sampling and bootstrap.

    Returns
    -------
    dict
        ``window_ms``, ``summary`` (per population), ``e_isi_cv``, ``e_isi_cv_relative_to_poisson``,
        ``n_e_cells_cv``, ``criteria`` and ``passes``.
    pandas.DataFrame
        :func:`analysis.variability.variability_report` of groups E and I.
    """
    nodes = read_nodes(nodes_file, node_types_file, "V1")
    spikes = read_spikes(spikes_file, "V1")
    cells = cell_table(spikes, nodes, t_start_ms, t_stop_ms)
    summary = population_summary(cells)
    cv, relative, n_cv = e_cell_cv(cells)
    criteria = meets_gray_criteria(summary, cv)
    groups = {name: nodes.node_id[nodes.pop_name.isin(pops)].to_numpy() for name, pops in GROUPS.items()}
    window = (spikes.timestamp_ms > t_start_ms) & (spikes.timestamp_ms <= t_stop_ms)
    table = variability_report(spikes.node_id[window].to_numpy(), spikes.timestamp_ms[window].to_numpy(), groups,
                               t_start_ms, t_stop_ms, bins_ms=(50.0, 250.0), n_pairs=2000, seed=seed)
    result = {"window_ms": [t_start_ms, t_stop_ms], "summary": json.loads(summary.to_json(orient="index")),
              "e_isi_cv": cv, "e_isi_cv_relative_to_poisson": relative, "n_e_cells_cv": n_cv,
              "criteria": criteria, "passes": bool(all(criteria.values())), "published": PUBLISHED}
    return result, table


def write_spontaneous(folder: Path, network_dir: Path, t_start_ms: float, t_stop_ms: float,
                      spikes_file: Path | None = None, seed: int = 0) -> dict:
    """:func:`spontaneous_statistics` of a run folder, written to ``spontaneous.json`` and ``variability.csv``.

    Parameters
    ----------
    folder : Path
        The run folder (its ``spikes.h5`` unless ``spikes_file``).
    network_dir : Path
        The network folder (``V1_nodes.h5``, ``V1_node_types.csv``).
    """
    folder, network_dir = Path(folder), Path(network_dir)
    result, table = spontaneous_statistics(spikes_file or folder / "spikes.h5", network_dir / "V1_nodes.h5",
                                           network_dir / "V1_node_types.csv", t_start_ms, t_stop_ms, seed)
    for name, text in (("spontaneous.json", json.dumps(result, indent=2) + "\n"),
                       ("variability.csv", table.to_csv(index=False, float_format="%.6g"))):
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(text)
        tmp.replace(folder / name)
    return result


def format_spontaneous(result: dict, table: pd.DataFrame) -> str:
    """The acceptance test and the correlations as text."""
    lines = [f"median ISI CV of E cells with >= 5 spikes: {result['e_isi_cv']:.2f} "
             f"({result['n_e_cells_cv']} cells; {result['e_isi_cv_relative_to_poisson']:.2f} of a Poisson train's "
             "with the same counts)"]
    lines += [f"  {'pass' if ok else 'FAIL'}  {name}" for name, ok in result["criteria"].items()]
    corr = table[table.measure == "count_correlation"]
    for row in corr.itertuples():
        lines.append(f"  spike-count correlation {row.group_a}-{row.group_b}, {row.bin_ms:g} ms: mean {row.value:.4f}"
                     f" (median {row.median:.4f}, {int(row.n)} pairs)")
    for row in table[table.measure.isin(["population_fano", "population_cv"])].itertuples():
        lines.append(f"  {row.measure} {row.group}, {row.bin_ms:g} ms: {row.value:.3f}")
    return "\n".join(lines)
