"""The experimental reference of Allen visual-response metrics per unit and cell class, and the model against it.

The rates reference (:mod:`analysis.reference`) holds firing rates only; this module adds the response metrics of
the AllenSDK unit table (Siegle et al. 2021), with the same cell classes, layers, quality filter and source
preference.

Metrics (:data:`METRICS`; AllenSDK column names and AllenSDK units, which the model table must use too)
    Flashes (full-field, 250 ms, white or black): ``firing_rate_fl`` (Hz, mean rate in the flash windows, both
    colours), ``time_to_peak_fl`` (**s**, PSTH peak after flash onset, preferred colour, 1-ms bins over 0-0.25 s),
    ``time_to_first_spike_fl`` (**s**, first-spike latency after flash onset as released; 0.03-0.2 s in the
    tables), ``sustained_idx_fl`` (dimensionless sustained-response index as released), ``on_off_ratio_fl``
    (dimensionless, white / black mean spike count; **empty in every released table**), ``fano_fl``
    (dimensionless, spike-count Fano factor, preferred colour), ``lifetime_sparseness_fl`` (dimensionless, 0-1).
    Drifting gratings: ``g_osi_dg``, ``g_dsi_dg`` (dimensionless global orientation / direction selectivity,
    0-1, at the preferred temporal frequency), ``pref_tf_dg`` (Hz), ``f1_f0_dg`` (dimensionless, 0-2), ``fano_dg``
    (dimensionless), ``firing_rate_dg`` (Hz). Gray screen: ``spontaneous_rate`` (Hz; our name, taken from
    ``cell_class/first_spontaneous_rate.csv`` ``firing_rate_sp`` for ``optotag``, ``Spont_Rate(Hz)`` for
    ``labelled``, exactly as the rates reference takes them).

    The released ``time_to_peak_fl`` and ``time_to_first_spike_fl`` are in seconds (not ms) and are kept so.
    AllenSDK's own ``Flashes`` class returns NaN for ``sustained_idx_fl`` and has no ``time_to_first_spike_fl``:
    both come from the release pipeline and cannot be re-derived from AllenSDK code.

Sources (``source`` column of :data:`METRICS_FILE`)
    ``optotag``
        The classified VISp units of :func:`analysis.reference.optotag_units` (AllenSDK default quality filter,
        PV/SST/VIP opto-tagged, E regular-spiking and untagged, layer from ``cortical_layer``) with every metric
        of their ``visp_units.csv`` row.
    ``labelled``
        The units of :func:`analysis.reference.labelled_units` (``v1_units_by_cell_type.csv``), for
        ``spontaneous_rate`` **only**. Its ``OSI`` and ``DSI`` are not AllenSDK's ``g_osi_dg`` / ``g_dsi_dg``: on
        the 1,509 units present in both tables they agree to 1e-3 for only 13 % of units (OSI vs g_osi_dg:
        correlation 0.89, median absolute difference 0.04; DSI vs g_dsi_dg: 0.80, 0.036), and the origin
        (AllenInstitute/biorealistic-v1-model ``neuropixels_metrics/OSI_DSI_DF_data.csv``) does not state its
        definition, so they are left out; ``Ave_Rate(Hz)`` is likewise not ``firing_rate_dg`` (correlation 0.93).
    ``lgd``
        LGd units of ``lgd_units/*.csv`` passing AllenSDK's default quality filter
        (:func:`inputs.rates.qc_mask` ``allen``), class ``LGd``, layer ``LGd``. None of them is in
        ``first_spontaneous_rate.csv``, so LGd has no spontaneous rate.

The LGd criterion "responds to flashes" (``flash_responsive``; :func:`flash_responsive`)
    The task asks for the LGd units that respond to ON flashes, but ``on_off_ratio_fl`` is empty for every released
    unit and the tables hold no per-colour response: **ON and OFF units cannot be told apart**, and the reference
    mixes them. A unit counts as responding to flashes when the peak of its preferred-colour flash PSTH falls in
    the onset-transient window :data:`LGD_PEAK_WINDOW_S` = [0.035, 0.100] s. In the 1,301 QC-passing units the
    ``time_to_peak_fl`` histogram (5-ms bins) is flat at about 2.5 units/ms from 0.15 to 0.25 s (no locked
    response: the argmax of a noisy PSTH), sits at 5-7 units/ms before 0.035 s (likely units suppressed by the
    flash, whose PSTH peaks before the visual latency; the 9 units with no spike in the flash windows sit at
    0.0005 s) and jumps to 14-18 units/ms from 0.035 s, decaying to the floor by 0.1 s. The window keeps 646 of
    1,301 units (49.7 %); by the flat late density (253 units in 0.15-0.25 s) about 165 of them (25 %) would peak
    there by chance.
    ``firing_rate_fl`` relative to the session's ``firing_rate`` was considered and rejected: 72 % of the units
    have a ratio below 1, it barely separates (the fraction of units peaking in the window rises only from 0.41 to
    0.61 across its range) and it would keep units driven by either colour just the same. Because the criterion
    selects on ``time_to_peak_fl``, the LGd reference of that metric is confined to the window by construction.

``python -m analysis.responses --data-dir ../shared/data`` regenerates :data:`METRICS_FILE` and
:data:`METRICS_SOURCE_FILE`; :func:`load_metric_reference` reads the committed table (no shared data needed).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from inputs.rates import qc_mask

from .compare import median_ci
from .reference import (
    ALL_LAYERS,
    DATA_FILES,
    MIN_UNITS,
    POPULATIONS_FILE,
    PREFERENCE,
    ReferenceDataError,
    _data_file,
    _read_csv,
    labelled_units,
    optotag_units,
)

HERE = Path(__file__).resolve().parent
METRICS_FILE = HERE / "reference_metrics.csv.gz"
METRICS_SOURCE_FILE = HERE / "reference_metrics.source.json"
REGENERATE = "python -m analysis.responses --data-dir ../shared/data"

#: Metric -> (stimulus, unit). AllenSDK names and units; ``spontaneous_rate`` is ours (gray screen).
METRICS: dict[str, tuple[str, str]] = {
    "firing_rate_fl": ("flashes", "Hz"),
    "time_to_peak_fl": ("flashes", "s"),
    "time_to_first_spike_fl": ("flashes", "s"),
    "sustained_idx_fl": ("flashes", "1"),
    "on_off_ratio_fl": ("flashes", "1"),
    "fano_fl": ("flashes", "1"),
    "lifetime_sparseness_fl": ("flashes", "1"),
    "g_osi_dg": ("drifting gratings", "1"),
    "g_dsi_dg": ("drifting gratings", "1"),
    "pref_tf_dg": ("drifting gratings", "Hz"),
    "f1_f0_dg": ("drifting gratings", "1"),
    "fano_dg": ("drifting gratings", "1"),
    "firing_rate_dg": ("drifting gratings", "Hz"),
    "spontaneous_rate": ("gray screen", "Hz"),
}
#: The unit-table metrics (all of :data:`METRICS` but ``spontaneous_rate``).
UNIT_TABLE_METRICS = tuple(m for m in METRICS if m != "spontaneous_rate")
#: Metrics taken from the labelled table (see the module docstring for why OSI and DSI are not).
LABELLED_METRICS = ("spontaneous_rate",)
LGD_SOURCE = "lgd"
LGD_CLASS = "LGd"
LGD_LAYER = "LGd"
LGD_FILES = "allen_neuropixels/lgd_units/lgd_session_*.csv"
#: A unit "responds to flashes" when its preferred-colour flash PSTH peaks in this window (s, inclusive).
LGD_PEAK_WINDOW_S = (0.035, 0.100)
#: Model LGN cells: (network population, pop_name) compared with the LGd units.
LGN_POPULATION, LGN_POP_NAME = "LGN", "tON"
METRIC_COLUMNS = ("source", "unit_id", "cell_class", "layer", "flash_responsive", *METRICS)
COMPARISON_COLUMNS = ("population", "pop_name", "cell_class", "metric", "unit", "n_model", "model_median",
                      "model_lo", "model_hi", "source", "layer", "n_data", "data_median", "data_q25", "data_q75",
                      "ks", "inside_iqr", "note")
NO_DATA_NOTE = "no data side: empty in the released tables"


class MetricReference(NamedTuple):
    """The data one model population is compared with for one metric."""

    source: str  #: ``optotag``, ``labelled`` or ``lgd``
    layer: str  #: ``L2/3``, ``all`` or ``LGd``
    values: np.ndarray  #: the non-NaN per-unit values, in the metric's unit (:data:`METRICS`)


def flash_responsive(time_to_peak_fl: pd.Series | np.ndarray) -> np.ndarray:
    """Whether a unit responds to flashes: its ``time_to_peak_fl`` (s) lies in :data:`LGD_PEAK_WINDOW_S`.

    Parameters
    ----------
    time_to_peak_fl : array-like of float
        Time (s) from flash onset to the peak of the preferred-colour PSTH; NaN counts as not responsive.

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> flash_responsive(np.array([0.0005, 0.0455, 0.1, 0.2, np.nan])).tolist()
    [False, True, True, False, False]
    """
    t = np.asarray(time_to_peak_fl, float)
    lo, hi = LGD_PEAK_WINDOW_S
    with np.errstate(invalid="ignore"):
        return (t >= lo) & (t <= hi)


def _metric_frame(base: pd.DataFrame, metrics: pd.DataFrame | None = None) -> pd.DataFrame:
    """``base`` (source, unit_id, cell_class, layer[, flash_responsive]) with every :data:`METRICS` column."""
    table = base.copy()
    if "flash_responsive" not in table:
        table["flash_responsive"] = pd.NA
    for metric in METRICS:
        if metric not in table:
            table[metric] = metrics[metric].to_numpy(float) if metrics is not None and metric in metrics else np.nan
    return table[list(METRIC_COLUMNS)].reset_index(drop=True)


def optotag_metrics(data_dir: Path) -> pd.DataFrame:
    """The ``optotag`` units of :func:`analysis.reference.optotag_units` with their unit-table metrics.

    Returns
    -------
    pandas.DataFrame
        :data:`METRIC_COLUMNS`; ``spontaneous_rate`` (Hz) from ``first_spontaneous_rate.csv``.
    """
    base = optotag_units(data_dir).rename(columns={"spontaneous_hz": "spontaneous_rate"})
    units = _read_csv(_data_file(data_dir, "units"), ("ecephys_unit_id", *UNIT_TABLE_METRICS))
    units = units[["ecephys_unit_id", *UNIT_TABLE_METRICS]].rename(columns={"ecephys_unit_id": "unit_id"})
    merged = base[["source", "unit_id", "cell_class", "layer", "spontaneous_rate"]].merge(
        units, on="unit_id", how="left", validate="one_to_one")
    return _metric_frame(merged)


def labelled_metrics(data_dir: Path) -> pd.DataFrame:
    """The ``labelled`` units of :func:`analysis.reference.labelled_units`: ``spontaneous_rate`` (Hz) only."""
    base = labelled_units(data_dir).rename(columns={"spontaneous_hz": "spontaneous_rate"})
    return _metric_frame(base[["source", "unit_id", "cell_class", "layer", "spontaneous_rate"]])


def lgd_files(data_dir: Path) -> list[Path]:
    """The per-session LGd unit tables under ``data_dir``, sorted.

    Raises
    ------
    ReferenceDataError
        If there is none.
    """
    files = sorted(Path(p) for p in glob.glob(str(Path(data_dir) / LGD_FILES)))
    if not files:
        raise ReferenceDataError(f"no {LGD_FILES} under {data_dir}: --data-dir must be the shared data folder.")
    return files


def lgd_metrics(data_dir: Path) -> pd.DataFrame:
    """Every LGd unit passing AllenSDK's default quality filter, with ``flash_responsive`` (:func:`flash_responsive`).

    Returns
    -------
    pandas.DataFrame
        :data:`METRIC_COLUMNS`, class and layer ``LGd``, no ``spontaneous_rate``.
    """
    columns = ("ecephys_unit_id", "ecephys_structure_acronym", "amplitude_cutoff", "presence_ratio",
               "isi_violations", "quality", *UNIT_TABLE_METRICS)
    units = pd.concat([_read_csv(path, columns) for path in lgd_files(data_dir)], ignore_index=True)
    units = units[(units.ecephys_structure_acronym == "LGd") & qc_mask(units, "allen")]
    units = units.sort_values("ecephys_unit_id", kind="stable")
    base = pd.DataFrame({"source": LGD_SOURCE, "unit_id": units.ecephys_unit_id.astype(np.int64).to_numpy(),
                         "cell_class": LGD_CLASS, "layer": LGD_LAYER,
                         "flash_responsive": flash_responsive(units.time_to_peak_fl)})
    return _metric_frame(base, units)


def reference_metrics(data_dir: Path) -> pd.DataFrame:
    """All three sources, one row per unit (:data:`METRIC_COLUMNS`), sorted by source, class, layer, unit."""
    table = pd.concat([optotag_metrics(data_dir), labelled_metrics(data_dir), lgd_metrics(data_dir)],
                      ignore_index=True)
    return table.sort_values(["source", "cell_class", "layer", "unit_id"], kind="stable").reset_index(drop=True)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def metric_counts(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Non-NaN units per metric, keyed ``"source class layer"`` for L2/3, all layers and (lgd) the responsive ones.

    Parameters
    ----------
    table : pandas.DataFrame
        :data:`METRIC_COLUMNS`.

    Returns
    -------
    dict
        ``{"optotag E L2/3": {"units": n, "firing_rate_fl": n, ...}, ...}``; metrics with no value are left out.
    """
    out: dict[str, dict[str, int]] = {}
    for (source, cell_class), group in table.groupby(["source", "cell_class"], sort=True):
        if source == LGD_SOURCE:
            subsets = [(LGD_LAYER, group), ("flash-responsive", group[group.flash_responsive.astype(bool)])]
        else:
            subsets = [("L2/3", group[group.layer == "L2/3"]), (ALL_LAYERS, group)]
        for layer, units in subsets:
            counts = {"units": len(units), **{m: int(units[m].notna().sum()) for m in METRICS}}
            out[f"{source} {cell_class} {layer}"] = {k: v for k, v in counts.items() if v}
    return out


def write_metric_reference(data_dir: Path, out_dir: Path = HERE) -> dict[str, Path]:
    """Derive the per-unit metric table from ``data_dir`` and write it with its provenance, each atomically.

    Parameters
    ----------
    data_dir : pathlib.Path
        The shared data folder (``../shared/data``).
    out_dir : pathlib.Path
        Where to write :data:`METRICS_FILE` and :data:`METRICS_SOURCE_FILE` (their names); default ``analysis/``.

    Returns
    -------
    dict
        ``metrics``, ``source``: the written paths.

    Raises
    ------
    ReferenceDataError
        If a data file is missing or lacks a column.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    table = reference_metrics(data_dir)
    inputs = {key: DATA_FILES[key] for key in ("units", "cre_positive", "waveform", "spontaneous", "labelled")}
    files = {name: {"path": f"../shared/data/{rel}", "sha256": _sha256(data_dir / rel)} for name, rel in inputs.items()}
    for path in lgd_files(data_dir):
        rel = path.relative_to(data_dir).as_posix()
        files[f"lgd:{path.stem}"] = {"path": f"../shared/data/{rel}", "sha256": _sha256(path)}
    lgd = table[table.source == LGD_SOURCE]
    provenance = {
        "command": REGENERATE,
        "files": files,
        "quality_filter": "AllenSDK default: amplitude_cutoff < 0.1, presence_ratio > 0.95, isi_violations < 0.5, "
                          "quality good (inputs.rates.qc_mask 'allen'); optotag and lgd",
        "classes": "optotag: as analysis/reference.py (PV, SST, VIP opto-tagged Cre+ units of the matching Cre "
                   "line; E regular-spiking untagged). labelled: the file's cell_type, spontaneous_rate only. "
                   "lgd: LGd units, class LGd.",
        "units": {metric: unit for metric, (_, unit) in METRICS.items()},
        "lgd_criterion": {"flash_responsive": f"{LGD_PEAK_WINDOW_S[0]} s <= time_to_peak_fl <= "
                                              f"{LGD_PEAK_WINDOW_S[1]} s; ON and OFF units cannot be separated "
                                              "(on_off_ratio_fl empty)",
                          "units_qc": len(lgd), "units_responsive": int(lgd.flash_responsive.astype(bool).sum())},
        "min_units": MIN_UNITS,
        "preference": [list(p) for p in PREFERENCE],
        "rows": {source: int(n) for source, n in table.source.value_counts().sort_index().items()},
        "non_nan_units": metric_counts(table),
    }
    paths = {"metrics": out_dir / METRICS_FILE.name, "source": out_dir / METRICS_SOURCE_FILE.name}
    tmp = {key: path.with_name(f".{path.name}.tmp") for key, path in paths.items()}
    table.to_csv(tmp["metrics"], index=False, float_format="%.6g", compression={"method": "gzip", "mtime": 0})
    tmp["source"].write_text(json.dumps(provenance, indent=2) + "\n")
    for key, path in paths.items():
        os.replace(tmp[key], path)
    return paths


def load_metric_reference(path: Path = METRICS_FILE) -> pd.DataFrame:
    """The committed per-unit metric table (:data:`METRIC_COLUMNS`; units as in :data:`METRICS`).

    ``flash_responsive`` is a nullable boolean: True/False for ``lgd`` rows, NA for the cortical sources.
    """
    table = pd.read_csv(path, dtype={"source": str, "cell_class": str, "layer": str, "unit_id": np.int64})
    table["flash_responsive"] = table.flash_responsive.map({True: True, False: False, "True": True,
                                                            "False": False}).astype("boolean")
    for metric in METRICS:
        table[metric] = table[metric].astype(float)
    return table


@lru_cache(maxsize=1)
def _committed() -> pd.DataFrame:
    return load_metric_reference()


def choose_metric_reference(cell_class: str, metric: str, table: pd.DataFrame | None = None,
                            min_units: int = MIN_UNITS) -> MetricReference | None:
    """The data a population of ``cell_class`` is compared with for ``metric``.

    For E, PV, SST and VIP: the first (source, layer) of :data:`analysis.reference.PREFERENCE` with at least
    ``min_units`` non-NaN values of ``metric``. For ``LGd``: the ``lgd`` units that respond to flashes
    (:func:`flash_responsive`), if at least ``min_units`` of them have a value.

    Parameters
    ----------
    cell_class : str
        ``E``, ``PV``, ``SST``, ``VIP`` or ``LGd``.
    metric : str
        One of :data:`METRICS`.
    table : pandas.DataFrame, optional
        Per-unit table (default: the committed :data:`METRICS_FILE`).
    min_units : int
        Least number of units with a value.

    Returns
    -------
    MetricReference or None
        None when no source has enough units.

    Raises
    ------
    ValueError
        If ``metric`` is not one of :data:`METRICS`.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid metrics are {list(METRICS)}.")
    table = _committed() if table is None else table
    if cell_class == LGD_CLASS:
        rows = table[(table.source == LGD_SOURCE) & table.flash_responsive.fillna(False).astype(bool)]
        values = rows[metric].dropna().to_numpy(float)
        return MetricReference(LGD_SOURCE, LGD_LAYER, values) if len(values) >= min_units else None
    for source, layer in PREFERENCE:
        rows = table[(table.source == source) & (table.cell_class == cell_class)]
        if layer != ALL_LAYERS:
            rows = rows[rows.layer == layer]
        values = rows[metric].dropna().to_numpy(float)
        if len(values) >= min_units:
            return MetricReference(source, layer, values)
    return None


def _class_map(populations: pd.DataFrame | None) -> dict[str, str]:
    populations = pd.read_csv(POPULATIONS_FILE) if populations is None else populations
    if "population" in populations:
        populations = populations.set_index("population")
    return {**populations.cell_class.to_dict(), LGN_POP_NAME: LGD_CLASS}


def _why_none(table: pd.DataFrame, metric: str, cell_class: str | None, released: bool) -> str:
    """The note of a row with no data side."""
    if not released:
        return NO_DATA_NOTE
    if cell_class is None:
        return "no cell class for this population"
    n = int(table.loc[table.cell_class == cell_class, metric].notna().sum())
    if n == 0:
        return f"no data side: no {cell_class} unit has this metric in the released tables"
    return f"fewer than {MIN_UNITS} {cell_class} units with this metric in any preferred source"


def compare_metrics(model: pd.DataFrame, seed: int = 0, pop_names: list[str] | None = None,
                    table: pd.DataFrame | None = None, populations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each model population against its reference (:func:`choose_metric_reference`), metric by metric.

    Parameters
    ----------
    model : pandas.DataFrame
        One row per simulated cell: ``population`` (network population, ``V1`` or ``LGN``), ``node_id``,
        ``pop_name`` and any subset of the :data:`METRICS` columns, in their units (rates in Hz, times in **s**,
        indices dimensionless). V1 pop_names map to classes through ``common/populations.csv``; pop_name ``tON``
        (population ``LGN``) is compared with the flash-responsive LGd units.
    seed : int
        Seed of the bootstrap of the model median (:func:`analysis.compare.median_ci`).
    pop_names : list of str, optional
        Populations to report (default: those in ``model``); one listed but absent gets rows with ``n_model`` 0.
    table : pandas.DataFrame, optional
        Per-unit reference table (default: the committed one).
    populations : pandas.DataFrame, optional
        Model population -> ``cell_class`` (default ``common/populations.csv``).

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARISON_COLUMNS`, one row per (pop_name, metric): ``n_model`` non-NaN model cells,
        ``model_median`` with its bootstrap 95 % interval ``model_lo``, ``model_hi``; ``source`` and ``layer`` of the
        reference (``none`` when no source has :data:`~analysis.reference.MIN_UNITS` units), ``n_data``,
        ``data_median``, ``data_q25``, ``data_q75``; ``ks`` the two-sample Kolmogorov-Smirnov distance
        (:func:`scipy.stats.ks_2samp`, NaN when a side is empty); ``inside_iqr`` (nullable bool, NA without data or
        model values); ``note`` why a row has no data side. All values in the metric's ``unit``.
    """
    metrics = [m for m in METRICS if m in model]
    table = _committed() if table is None else table
    classes = _class_map(populations)
    pop_names = list(dict.fromkeys(model.pop_name)) if pop_names is None else list(pop_names)
    released = {m: bool(table[m].notna().any()) for m in metrics}
    rows = []
    for pop_name in pop_names:
        cells = model[model.pop_name == pop_name]
        network = (cells.population.iloc[0] if len(cells) and "population" in cells
                   else LGN_POPULATION if pop_name == LGN_POP_NAME else "")
        cell_class = classes.get(pop_name)
        for metric in metrics:
            values = cells[metric].to_numpy(float)
            values = values[~np.isnan(values)]
            ref = None if cell_class is None else choose_metric_reference(cell_class, metric, table)
            data = np.zeros(0) if ref is None else ref.values
            median, lo, hi = median_ci(values, seed)
            note = "" if ref is not None else _why_none(table, metric, cell_class, released[metric])
            q25, q50, q75 = np.quantile(data, [0.25, 0.5, 0.75]) if len(data) else (np.nan,) * 3
            ks = float(stats.ks_2samp(values, data).statistic) if len(values) and len(data) else np.nan
            inside = pd.NA if not len(data) or not len(values) else bool(q25 <= median <= q75)
            rows.append({"population": network, "pop_name": pop_name, "cell_class": cell_class or "",
                         "metric": metric, "unit": METRICS[metric][1], "n_model": len(values),
                         "model_median": median, "model_lo": lo, "model_hi": hi,
                         "source": "none" if ref is None else ref.source, "layer": "none" if ref is None else ref.layer,
                         "n_data": len(data), "data_median": float(q50), "data_q25": float(q25),
                         "data_q75": float(q75), "ks": ks, "inside_iqr": inside, "note": note})
    out = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    out["inside_iqr"] = out.inside_iqr.astype("boolean")
    return out


def format_metric_table(table: pd.DataFrame) -> str:
    """:func:`compare_metrics`'s table as plain text for the terminal (4 significant digits, units beside).

    Examples
    --------
    >>> row = {"pop_name": "PV", "metric": "g_osi_dg", "unit": "1", "n_model": 10, "model_median": 0.2,
    ...        "model_lo": 0.1, "model_hi": 0.3, "source": "optotag", "layer": "L2/3", "n_data": 40,
    ...        "data_median": 0.15, "data_q25": 0.1, "data_q75": 0.25, "ks": 0.3, "inside_iqr": True, "note": ""}
    >>> "g_osi_dg" in format_metric_table(pd.DataFrame([row]))
    True
    """
    def g(x: float) -> str:
        return "-" if pd.isna(x) else f"{x:.4g}"

    lines = pd.DataFrame({
        "pop_name": table.pop_name, "metric": table.metric, "unit": table.unit, "n_model": table.n_model,
        "model median [95% CI]": [f"{g(m)} [{g(lo)}, {g(hi)}]"
                                  for m, lo, hi in zip(table.model_median, table.model_lo, table.model_hi,
                                                       strict=True)],
        "reference": [s if s == "none" else f"{s} {la}" for s, la in zip(table.source, table.layer, strict=True)],
        "n_data": table.n_data,
        "data median [IQR]": [f"{g(m)} [{g(a)}, {g(b)}]"
                              for m, a, b in zip(table.data_median, table.data_q25, table.data_q75, strict=True)],
        "KS": [g(k) for k in table.ks],
        "in IQR": ["-" if pd.isna(x) else ("yes" if x else "no") for x in table.inside_iqr],
        "note": table.note.fillna(""),
    })
    return lines.to_string(index=False)


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.responses --data-dir DIR [--out DIR]``: regenerate the committed table."""
    parser = argparse.ArgumentParser(description="derive the per-unit response-metric reference")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    paths = write_metric_reference(args.data_dir, args.out)
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
