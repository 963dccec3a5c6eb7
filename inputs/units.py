"""Unit tables of the Allen Visual Coding - Neuropixels data, from two sources with one schema.

- :func:`load_units_folder`: a folder of CSV unit tables in the AllenSDK unit-table schema (one or more files;
  how ``../shared/data/allen_neuropixels/lgd_units/`` comes).
- :func:`load_units_cache`: a local AllenSDK ``EcephysProjectCache`` directory (how users who downloaded the
  data work): units joined with ``get_unit_analysis_metrics_by_session_type``. It never downloads: the cache
  is opened with AllenSDK's fixed (local-only) API, and a missing file is an error within seconds, where the
  warehouse API would try a download with a 20-minute timeout.

Both return the same columns (:data:`UNIT_COLUMNS`) plus ``source_file``, the file each row came from, so that
everything downstream runs one code path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import UserError

#: Stimulus codes of the ``firing_rate_<code>`` metrics: flashes, drifting gratings, static gratings,
#: natural scenes, dot motion, receptive-field gabors.
STIMULI = ("fl", "dg", "sg", "ns", "dm", "rf")
RATE_COLUMNS = tuple(f"firing_rate_{s}" for s in STIMULI)
UNIT_COLUMNS = ("ecephys_unit_id", "ecephys_session_id", "genotype", "session_type", "ecephys_structure_acronym",
                "snr", "amplitude_cutoff", "presence_ratio", "isi_violations", "quality", *RATE_COLUMNS)
CACHE_FILES = ("sessions.csv", "probes.csv", "channels.csv", "units.csv")


class UnitsError(UserError):
    """A unit source is missing, incomplete, or not in the unit-table schema."""


def load_units_folder(folder: Path) -> pd.DataFrame:
    """Read every ``*.csv`` unit table in ``folder``.

    Parameters
    ----------
    folder : Path
        Folder of CSV files in the AllenSDK unit-table schema (at least :data:`UNIT_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        One row per unit, columns :data:`UNIT_COLUMNS` and ``source_file``.

    Raises
    ------
    UnitsError
        If the folder does not exist, holds no CSV file, or a file lacks a column.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UnitsError(f"units folder {folder} does not exist.")
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise UnitsError(f"units folder {folder} holds no *.csv unit table.")
    tables = []
    for path in files:
        table = pd.read_csv(path, low_memory=False)
        _require_columns(table, path)
        tables.append(table.loc[:, list(UNIT_COLUMNS)].assign(source_file=str(path)))
    return pd.concat(tables, ignore_index=True)


def load_units_cache(cache_dir: Path, session_type: str) -> pd.DataFrame:
    """Read units and their analysis metrics from a local AllenSDK ``EcephysProjectCache``, offline.

    Parameters
    ----------
    cache_dir : Path
        The cache directory: ``manifest.json`` (or ``ecephys_project_manifest.json``; AllenSDK writes
        ``manifest.json`` when there is none), ``sessions.csv``, ``probes.csv``, ``channels.csv``,
        ``units.csv`` and ``<session_type>_analysis_metrics.csv``.
    session_type : str
        Session type whose analysis metrics to read, e.g. ``brain_observatory_1.1``.

    Returns
    -------
    pandas.DataFrame
        One row per unit (no quality filter applied), columns :data:`UNIT_COLUMNS` and ``source_file``.

    Raises
    ------
    UnitsError
        If a cache file is missing (listing them, with how to fetch them) or lacks a column.
    """
    from allensdk.brain_observatory.ecephys.ecephys_project_api import EcephysProjectFixedApi
    from allensdk.brain_observatory.ecephys.ecephys_project_api.ecephys_project_fixed_api import MissingDataError
    from allensdk.brain_observatory.ecephys.ecephys_project_cache import EcephysProjectCache

    cache_dir = Path(cache_dir)
    metrics_name = f"{session_type}_analysis_metrics.csv"
    missing = [name for name in (*CACHE_FILES, metrics_name) if not (cache_dir / name).is_file()]
    if missing:
        raise UnitsError(
            f"AllenSDK cache {cache_dir} lacks {missing}. This command never downloads (machines here are often "
            "offline). On a machine with network access, fill the cache with AllenSDK: "
            f"EcephysProjectCache.from_warehouse(manifest='{cache_dir / 'manifest.json'}')"
            f".get_unit_analysis_metrics_by_session_type('{session_type}'), then copy the folder here.")
    manifest = next((cache_dir / m for m in ("manifest.json", "ecephys_project_manifest.json")
                     if (cache_dir / m).is_file()), cache_dir / "manifest.json")

    def refuse(*_args, **_kwargs):
        raise MissingDataError(f"refusing to download into {cache_dir}: the cache is used offline")

    # AllenSDK 2.16's EcephysProjectCache.fixed() fails (the fixed API has no rma_engine): build it directly,
    # with a writer that refuses, so that nothing is ever fetched.
    cache = EcephysProjectCache(fetch_api=EcephysProjectFixedApi(), stream_writer=refuse, manifest=str(manifest),
                                fetch_tries=1)
    try:
        units = cache.get_unit_analysis_metrics_by_session_type(
            session_type, filter_by_validity=False, amplitude_cutoff_maximum=np.inf,
            presence_ratio_minimum=-np.inf, isi_violations_maximum=np.inf)
    except MissingDataError as err:
        raise UnitsError(f"AllenSDK cache {cache_dir} lacks a file it needs ({err}).") from err
    units = units.reset_index()
    units = _resolve_merge_suffixes(units)
    if "genotype" not in units and "full_genotype" in units:
        units = units.rename(columns={"full_genotype": "genotype"})
    _require_columns(units, cache_dir / metrics_name)
    return units.loc[:, list(UNIT_COLUMNS)].assign(source_file=str(cache_dir / metrics_name))


def _resolve_merge_suffixes(units: pd.DataFrame) -> pd.DataFrame:
    """Columns present in both units.csv and the metrics file come back as ``_x``/``_y``: keep the metrics'."""
    for column in UNIT_COLUMNS:
        if column not in units:
            for suffixed in (f"{column}_y", f"{column}_unit", f"{column}_x"):
                if suffixed in units:
                    units = units.rename(columns={suffixed: column})
                    break
    return units


def _require_columns(table: pd.DataFrame, path: Path) -> None:
    missing = [c for c in UNIT_COLUMNS if c not in table.columns]
    if missing:
        raise UnitsError(f"{path} lacks column(s) {missing}; a unit table needs {list(UNIT_COLUMNS)}.")
