"""Spontaneous activity of a run: the acceptance test of the tuned model and its variability, beside published values.

Applied to a ``gray`` stimulus run (``python -m analysis stimulus gray --out DIR``), which the stimulus command
does by itself (``DIR/spontaneous.json`` and ``DIR/variability.csv``), or to any run folder with
``python -m analysis spontaneous DIR``. It states:

- the acceptance test of issue 19 (:func:`meets_gray_criteria`): median rates, silent
  populations, maximum rate, median ISI CV of E cells with at least 5 spikes;
- without a target, the spike-count correlations of E and I pairs at 50 and 250 ms and the population-count
  statistics (:func:`analysis.variability.variability_report`), beside :data:`PUBLISHED`.

A validation run should not be the tuning's own: the tuning runs 4 s per evaluation on its own spike draws; the
gray run used here is longer (60 s by default) and drawn from the stimulus command's seed.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .rates import cell_table, population_summary, read_nodes, read_spikes
from .variability import variability_report

#: The acceptance test of the background model (issue 19): median rate within these factors of the reference,
#: maximum rate, median E ISI CV relative to Poisson, and the fewest spikes for an ISI CV.
#: The acceptance test (issue 19): median rate within these factors of the spontaneous target.
RATE_FACTOR = {"LIF_exc": 1.5, "PV": 1.5, "SST": 2.0, "VIP": 2.0}
MAX_RATE_HZ = 100.0
CV_RANGE = (0.8, 1.3)
MIN_SPIKES_FOR_CV = 5


@functools.lru_cache(maxsize=512)
def _poisson_cv_of(n: int, draws: int, seed: int) -> float:
    """Mean ISI CV of ``n`` uniform spike times, ``draws`` Monte Carlo samples from the stream (seed, n)."""
    isi = np.diff(np.sort(np.random.default_rng([seed, n]).random((draws, n)), axis=1), axis=1)
    return float((isi.std(axis=1) / isi.mean(axis=1)).mean())


def poisson_cv(n_spikes: np.ndarray, draws: int = 4000, seed: int = 0) -> np.ndarray:
    """Mean ISI CV of a Poisson train that fired ``n_spikes`` spikes in a window (uniform spike times).

    Given its count, a Poisson train's spike times are uniform in the window, so the CV its ISIs show depends on
    the count alone: about 0.75 for 5 spikes, 0.95 for 40, -> 1. Short runs of slow cells therefore show CVs well
    below 1 even for perfectly irregular firing; dividing by this gives a window-free irregularity (1: Poisson).
    Monte Carlo with a fixed stream per count (the value for a count does not depend on the other counts asked
    for), cached; counts above 400 take the value at 400.

    Parameters
    ----------
    n_spikes : numpy.ndarray of int
        Spike counts (>= 3).

    Examples
    --------
    >>> [round(float(v), 1) for v in poisson_cv(np.array([5, 400]))]
    [0.7, 1.0]
    """
    n_spikes = np.minimum(np.asarray(n_spikes, dtype=int), 400)
    values = {n: _poisson_cv_of(int(n), draws, seed) for n in np.unique(n_spikes)}
    return np.array([values[n] for n in n_spikes], dtype=float)


def e_cell_cv(cells: pd.DataFrame, min_spikes: int = MIN_SPIKES_FOR_CV) -> tuple[float, float, int]:
    """Median ISI CV of the excitatory cells with at least ``min_spikes`` spikes, raw and relative to Poisson.

    Parameters
    ----------
    cells : pandas.DataFrame
        :func:`analysis.rates.cell_table` (``pop_name``, ``n_spikes``, ``isi_cv``).

    Returns
    -------
    tuple
        Median CV, median of CV / :func:`poisson_cv` (1 for Poisson firing, whatever the window), cells used.
    """
    e = cells[(cells.pop_name == "LIF_exc") & (cells.n_spikes >= min_spikes)]
    if not len(e):
        return float("nan"), float("nan"), 0
    relative = e.isi_cv.to_numpy() / poisson_cv(e.n_spikes.to_numpy())
    return float(e.isi_cv.median()), float(np.median(relative)), int(len(e))


def meets_gray_criteria(summary: pd.DataFrame, e_cv: float) -> dict[str, bool]:
    """The acceptance test of the tuned model, criterion by criterion (issue 19)."""
    checks = {}
    for pop, factor in RATE_FACTOR.items():
        ratio = summary.loc[pop, "median_rate_hz"] / summary.loc[pop, "reference_median_hz"]
        checks[f"{pop} median within x{factor:g}"] = bool(1 / factor <= ratio <= factor)
    checks["no silent population"] = bool((summary.frac_active > 0).all())
    checks[f"max rate < {MAX_RATE_HZ:g} Hz"] = bool((summary.max_rate_hz < MAX_RATE_HZ).all())
    checks[f"median E ISI CV in [{CV_RANGE[0]:g}, {CV_RANGE[1]:g}]"] = bool(CV_RANGE[0] <= e_cv <= CV_RANGE[1])
    return checks

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
