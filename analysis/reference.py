"""The experimental reference: firing rates of mouse V1 units by cell class, layer and stimulus condition.

Three sources, each row of the committed tables naming its own:

``optotag``
    VISp units of the Allen Visual Coding - Neuropixels sessions (``allen_neuropixels/visp_units.csv``) that pass
    AllenSDK's default quality filter (:func:`inputs.rates.qc_mask`, ``allen``). PV, SST and VIP units are the
    opto-tagged Cre-positive units (``cell_class/cre_positive_units.npy``) of Pvalb-, Sst- and Vip-IRES-Cre
    sessions; E units are regular-spiking (``cell_class/waveform_type.csv`` RS) units that are not Cre-positive.
    Layer from ``cortical_layer``. Rates: ``firing_rate_fl`` (flash), ``firing_rate_dg`` (drifting gratings) and
    ``cell_class/first_spontaneous_rate.csv`` (spontaneous).
``labelled``
    The ready-labelled units of ``allen_neuropixels/v1_units_by_cell_type.csv`` (class and layer from its
    ``cell_type``; PV there are fast-spiking units, SST and VIP opto-tagged). Rates: ``Ave_Rate(Hz)`` (drifting
    gratings) and ``Spont_Rate(Hz)`` (spontaneous); it has no flash rates.
``billeh2020``
    The peer model: per-neuron simulated rates of the Billeh et al. 2020 V1 model under drifting gratings
    (``billeh2020/billeh_model_simulated_v1_rates.csv``), its L2/3 populations only. Not experimental data.

``python -m analysis reference --data-dir ../shared/data`` regenerates the committed per-unit table
(:data:`RATES_FILE`), its summary (:data:`SUMMARY_FILE`: n and quantiles per source, class, layer and condition)
and their provenance (:data:`SOURCE_FILE`). :func:`choose_reference` picks, per class and condition, the row a
model population is compared with: the first of :data:`PREFERENCE` with at least :data:`MIN_UNITS` units.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from build_network.params import load_populations as load_model_populations
from common.errors import UserError
from common.populations import POPULATIONS_FILE
from inputs.rates import qc_mask

HERE = Path(__file__).resolve().parent
RATES_FILE = HERE / "reference_rates.csv.gz"
SUMMARY_FILE = HERE / "reference_summary.csv"
SOURCE_FILE = HERE / "reference.source.json"
REGENERATE = "python -m analysis reference --data-dir ../shared/data"

#: Stimulus condition -> rate column of the per-unit table (Hz).
CONDITIONS = {"flash": "flash_hz", "gratings": "gratings_hz", "spontaneous": "spontaneous_hz"}
#: The model's LGN stimulus code (config.json ``lgn_input.stimulus``) -> the condition it is compared with.
STIMULUS_CONDITION = {"fl": "flash", "dg": "gratings"}
SOURCES = ("optotag", "labelled", "billeh2020")
CLASSES = ("E", "PV", "SST", "VIP")
CRE_DRIVER = {"PV": "Pvalb", "SST": "Sst", "VIP": "Vip"}
LAYER_NAMES = {1: "L1", 2: "L2/3", 4: "L4", 5: "L5", 6: "L6"}  # cortical_layer 0: not assigned to a layer
ALL_LAYERS = "all"
LABELLED_CLASSES = {"Exc": "E", "PV": "PV", "SST": "SST", "VIP": "VIP"}  # L1 Htr3a units have no model class
MIN_UNITS = 5
#: Order in which the sources are tried for a model population's reference (first with >= MIN_UNITS units).
PREFERENCE = (("optotag", "L2/3"), ("labelled", "L2/3"), ("optotag", ALL_LAYERS), ("labelled", ALL_LAYERS))
#: The rates the weight scales were tuned to (the Allen model's own targets, Billeh et al. 2020).
TUNING_TARGET = {"source": "labelled", "layer": "L2/3", "condition": "spontaneous"}
QUANTILES = (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0)
QUANTILE_COLUMNS = tuple(f"q{round(q * 100):02d}_hz" for q in QUANTILES)
SUMMARY_COLUMNS = ("source", "cell_class", "layer", "condition", "n", "zero_frac", "mean_hz", *QUANTILE_COLUMNS)
RATE_COLUMNS = ("source", "unit_id", "cell_class", "layer", *CONDITIONS.values())

DATA_FILES = {
    "units": "allen_neuropixels/visp_units.csv",
    "cre_positive": "allen_neuropixels/cell_class/cre_positive_units.npy",
    "waveform": "allen_neuropixels/cell_class/waveform_type.csv",
    "spontaneous": "allen_neuropixels/cell_class/first_spontaneous_rate.csv",
    "labelled": "allen_neuropixels/v1_units_by_cell_type.csv",
    "peer": "billeh2020/billeh_model_simulated_v1_rates.csv",
}


class ReferenceDataError(UserError):
    """The reference data are missing or malformed."""


def _data_file(data_dir: Path, key: str) -> Path:
    path = Path(data_dir) / DATA_FILES[key]
    if not path.is_file():
        raise ReferenceDataError(f"{path} not found: --data-dir must be the shared data folder holding "
                                 f"{', '.join(DATA_FILES.values())}.")
    return path


def _read_csv(path: Path, columns: tuple[str, ...], **kwargs) -> pd.DataFrame:
    table = pd.read_csv(path, low_memory=False, **kwargs)
    missing = [c for c in columns if c not in table]
    if missing:
        raise ReferenceDataError(f"{path} lacks column(s) {missing}; it has {list(table.columns)[:12]} ...")
    return table


def load_populations(path: Path = POPULATIONS_FILE) -> pd.DataFrame:  # the table of common/populations.csv
    """Model population -> experimental cell class and layer (``path``), and the matching Billeh et al. 2020
    population (``allen_pop_name`` of ``build_network/populations.csv``), indexed by population."""
    classes = pd.read_csv(path).set_index("population").drop(columns="colour", errors="ignore")
    allen = load_model_populations().set_index("pop_name").allen_pop_name
    return classes.assign(billeh_pop_name=allen.reindex(classes.index).to_numpy())


def assign_classes(units: pd.DataFrame) -> pd.Series:
    """Cell class of each unit from opto-tagging and waveform (NaN for units of no class).

    Parameters
    ----------
    units : pandas.DataFrame
        ``genotype`` (the session's full genotype string), ``cre_positive`` (bool, opto-tagged) and
        ``waveform_type`` (``RS``, ``FS``, ``Other`` or NaN).

    Returns
    -------
    pandas.Series
        ``PV``, ``SST`` or ``VIP`` for a Cre-positive unit of a Pvalb, Sst or Vip session; ``E`` for a
        regular-spiking unit that is not Cre-positive; NaN otherwise.

    Examples
    --------
    >>> units = pd.DataFrame({"genotype": ["Sst-IRES-Cre/wt", "wt/wt", "wt/wt"], "cre_positive": [True, False, False],
    ...                       "waveform_type": ["FS", "RS", "FS"]})
    >>> assign_classes(units).tolist()
    ['SST', 'E', nan]
    """
    classes = pd.Series(np.nan, index=units.index, dtype=object)
    cre = units.cre_positive.astype(bool)
    for cell_class, driver in CRE_DRIVER.items():
        classes[cre & units.genotype.str.contains(driver, na=False)] = cell_class
    classes[~cre & (units.waveform_type == "RS")] = "E"
    return classes


def optotag_units(data_dir: Path) -> pd.DataFrame:
    """Classified VISp units of the Neuropixels sessions that pass AllenSDK's default quality filter.

    Returns
    -------
    pandas.DataFrame
        :data:`RATE_COLUMNS` with ``source`` ``optotag``.
    """
    columns = ("ecephys_unit_id", "genotype", "cortical_layer", "firing_rate_fl", "firing_rate_dg",
               "amplitude_cutoff", "presence_ratio", "isi_violations", "quality")
    units = _read_csv(_data_file(data_dir, "units"), columns)
    units = units[qc_mask(units, "allen")]
    waveform = _read_csv(_data_file(data_dir, "waveform"), ("ecephys_unit_id", "waveform_type"))
    spont = _read_csv(_data_file(data_dir, "spontaneous"), ("unit_id", "firing_rate_sp"))
    cre_ids = np.load(_data_file(data_dir, "cre_positive"))
    units = units.merge(waveform, on="ecephys_unit_id", how="left").merge(
        spont.rename(columns={"unit_id": "ecephys_unit_id"}), on="ecephys_unit_id", how="left")
    units["cre_positive"] = units.ecephys_unit_id.isin(cre_ids)
    units["cell_class"] = assign_classes(units)
    units = units[units.cell_class.notna()]
    return pd.DataFrame({
        "source": "optotag", "unit_id": units.ecephys_unit_id.astype(np.int64), "cell_class": units.cell_class,
        "layer": units.cortical_layer.map(LAYER_NAMES).fillna("unassigned"),
        "flash_hz": units.firing_rate_fl, "gratings_hz": units.firing_rate_dg, "spontaneous_hz": units.firing_rate_sp,
    })


def labelled_units(data_dir: Path) -> pd.DataFrame:
    """The ready-labelled V1 units of ``v1_units_by_cell_type.csv`` (:data:`RATE_COLUMNS`, no flash rates)."""
    table = _read_csv(_data_file(data_dir, "labelled"),
                      ("ecephys_unit_id", "cell_type", "Ave_Rate(Hz)", "Spont_Rate(Hz)"), sep=" ")
    layer_class = table.cell_type.str.split(" ", n=1, expand=True)
    keep = layer_class[1].isin(LABELLED_CLASSES)
    table, layer_class = table[keep], layer_class[keep]
    return pd.DataFrame({
        "source": "labelled", "unit_id": table.ecephys_unit_id.astype(np.int64),
        "cell_class": layer_class[1].map(LABELLED_CLASSES), "layer": layer_class[0],
        "flash_hz": np.nan, "gratings_hz": table["Ave_Rate(Hz)"], "spontaneous_hz": table["Spont_Rate(Hz)"],
    })


def peer_units(data_dir: Path, populations: pd.DataFrame | None = None) -> pd.DataFrame:
    """The Billeh et al. 2020 model's simulated drifting-grating rates of the populations matching ours."""
    populations = load_populations() if populations is None else populations
    table = _read_csv(_data_file(data_dir, "peer"), ("node_id", "pop_name", "Ave_Rate(Hz)"), sep=" ")
    by_pop = populations.reset_index().set_index("billeh_pop_name")
    table = table[table.pop_name.isin(by_pop.index)]
    return pd.DataFrame({
        "source": "billeh2020", "unit_id": table.node_id.astype(np.int64),
        "cell_class": table.pop_name.map(by_pop.cell_class), "layer": table.pop_name.map(by_pop.layer),
        "flash_hz": np.nan, "gratings_hz": table["Ave_Rate(Hz)"], "spontaneous_hz": np.nan,
    })


def reference_rates(data_dir: Path) -> pd.DataFrame:
    """Every classified unit of the three sources, one row per unit (:data:`RATE_COLUMNS`)."""
    rates = pd.concat([optotag_units(data_dir), labelled_units(data_dir), peer_units(data_dir)], ignore_index=True)
    return rates.sort_values(["source", "cell_class", "layer", "unit_id"], kind="stable").reset_index(drop=True)


def summarize(rates: pd.DataFrame) -> pd.DataFrame:
    """n, fraction of zero rates, mean and quantiles per source, class, layer (and all layers) and condition.

    Parameters
    ----------
    rates : pandas.DataFrame
        :data:`RATE_COLUMNS` (rates in Hz; NaN where a source has no rate for a condition).

    Returns
    -------
    pandas.DataFrame
        :data:`SUMMARY_COLUMNS`, one row per group with at least one rate.
    """
    rows = []
    for (source, cell_class), group in rates.groupby(["source", "cell_class"], sort=True):
        layers = [(layer, g) for layer, g in group.groupby("layer", sort=True)] + [(ALL_LAYERS, group)]
        for layer, units in layers:
            for condition, column in CONDITIONS.items():
                values = units[column].dropna().to_numpy(float)
                if len(values) == 0:
                    continue
                rows.append({"source": source, "cell_class": cell_class, "layer": layer, "condition": condition,
                             "n": len(values), "zero_frac": float((values == 0).mean()), "mean_hz": values.mean(),
                             **dict(zip(QUANTILE_COLUMNS, np.quantile(values, QUANTILES), strict=True))})
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_reference(data_dir: Path, out_dir: Path = HERE) -> dict[str, Path]:
    """Derive the reference from ``data_dir`` and write the three committed files, each atomically.

    Returns
    -------
    dict
        ``rates``, ``summary``, ``source``: the written paths.

    Raises
    ------
    ReferenceDataError
        If a data file is missing or lacks a column.
    """
    rates = reference_rates(data_dir)
    summary = summarize(rates)
    out_dir = Path(out_dir)
    paths = {"rates": out_dir / RATES_FILE.name, "summary": out_dir / SUMMARY_FILE.name,
             "source": out_dir / SOURCE_FILE.name}
    counts = summary[summary.layer.isin(["L2/3", ALL_LAYERS])].pivot_table(
        index=["source", "cell_class", "layer"], columns="condition", values="n")
    provenance = {
        "command": REGENERATE,
        "files": {name: {"path": f"../shared/data/{rel}", "sha256": _sha256(Path(data_dir) / rel)}
                  for name, rel in DATA_FILES.items()},
        "quality_filter": "optotag: AllenSDK default: amplitude_cutoff < 0.1, presence_ratio > 0.95, "
                          "isi_violations < 0.5, quality good (inputs.rates.qc_mask 'allen')",
        "classes": "optotag: PV, SST, VIP = Cre-positive (opto-tagged) units of Pvalb-, Sst-, Vip-IRES-Cre sessions; "
                   "E = regular-spiking units that are not Cre-positive. labelled: the file's cell_type.",
        "min_units": MIN_UNITS,
        "preference": [list(p) for p in PREFERENCE],
        "units_L23_and_all": {" ".join(k): {c: int(v) for c, v in row.dropna().items()}
                              for k, row in counts.iterrows()},
    }
    tmp = {key: path.with_name(f".{path.name}.tmp") for key, path in paths.items()}
    rates.to_csv(tmp["rates"], index=False, float_format="%.6g", compression={"method": "gzip", "mtime": 0})
    summary.to_csv(tmp["summary"], index=False, float_format="%.6g")
    tmp["source"].write_text(json.dumps(provenance, indent=2) + "\n")
    for key, path in paths.items():
        os.replace(tmp[key], path)
    return paths


def load_rates(path: Path = RATES_FILE) -> pd.DataFrame:
    """The committed per-unit reference rates (:data:`RATE_COLUMNS`)."""
    return pd.read_csv(path)


def load_summary(path: Path = SUMMARY_FILE) -> pd.DataFrame:
    """The committed reference summary (:data:`SUMMARY_COLUMNS`)."""
    return pd.read_csv(path)


def condition_of(stimulus: str | None) -> str:
    """The reference condition a model driven by the LGN rates of ``stimulus`` is compared with.

    Examples
    --------
    >>> condition_of("fl"), condition_of("dg"), condition_of(None)
    ('flash', 'gratings', 'spontaneous')
    """
    return STIMULUS_CONDITION.get(stimulus or "", "spontaneous")


def choose_reference(summary: pd.DataFrame, cell_class: str, condition: str,
                     min_units: int = MIN_UNITS) -> pd.Series | None:
    """The summary row a population of ``cell_class`` is compared with under ``condition``.

    The first (source, layer) of :data:`PREFERENCE` with at least ``min_units`` units; None if there is none.

    Raises
    ------
    ValueError
        If ``condition`` is not one of :data:`CONDITIONS`.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; valid conditions are {list(CONDITIONS)}.")
    for source, layer in PREFERENCE:
        row = summary[(summary.source == source) & (summary.cell_class == cell_class) & (summary.layer == layer)
                      & (summary.condition == condition)]
        if len(row) and int(row.n.iloc[0]) >= min_units:
            return row.iloc[0]
    return None


def reference_sample(rates: pd.DataFrame, row: pd.Series) -> np.ndarray:
    """The per-unit rates (Hz) behind one summary row."""
    chosen = rates[(rates.source == row.source) & (rates.cell_class == row.cell_class)]
    if row.layer != ALL_LAYERS:
        chosen = chosen[chosen.layer == row.layer]
    return chosen[CONDITIONS[row.condition]].dropna().to_numpy(float)


def tuning_targets(summary: pd.DataFrame | None = None, populations: pd.DataFrame | None = None) -> pd.DataFrame:
    """The median rate (Hz) each model population was tuned to (:data:`TUNING_TARGET`), indexed by population."""
    summary = load_summary() if summary is None else summary
    populations = load_populations() if populations is None else populations
    target = summary[(summary.source == TUNING_TARGET["source"]) & (summary.layer == TUNING_TARGET["layer"])
                     & (summary.condition == TUNING_TARGET["condition"])].set_index("cell_class")
    table = pd.DataFrame({"median_rate_hz": populations.cell_class.map(target.q50_hz)}, index=populations.index)
    table.index.name = "population"
    return table
