"""Typical LGN firing rates per mouse genotype and stimulus, as the seed defines them, and the committed tables.

The seed's ``compute_firing_rate`` takes the sessions of one genotype that recorded LGd, averages a stimulus's
``firing_rate_<code>`` over the units of each session, then averages the session means. It averaged every unit
of the session, whatever its brain area (``session.units``, which AllenSDK also filters with its default
quality criteria), so its "LGN" rates are whole-probe rates. Here units are kept in structure ``LGd`` only
(``all_areas=True`` restores the seed's choice where the source holds other areas); the seed's own numbers are
in :data:`SEED_FLASH_RATES_HZ` and are printed beside ours by ``python -m inputs rates``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .units import STIMULI, UnitsError

GENOTYPES = ("wt", "Pvalb", "Sst", "Vip")
QC_CHOICES = ("snr4", "allen")
DEFAULT_SESSION_TYPE = "brain_observatory_1.1"
STRUCTURE = "LGd"
QUANTILES = np.round(np.linspace(0.0, 1.0, 21), 2)
RATE_TABLE_COLUMNS = ("genotype", "stimulus", "qc", "n_sessions", "n_units", "session_mean_hz", "unit_median_hz",
                      "unit_sd_hz")
#: The seed's typical flash rates (Hz): snr > 4 on top of AllenSDK's default unit filter, all areas of
#: brain_observatory_1.1 sessions that recorded LGd (seed 003, step four).
SEED_FLASH_RATES_HZ = {"Sst": 8.683619967260256, "Pvalb": 7.109125520976934, "Vip": 6.655023111202979}


def genotype_mask(full_genotype: pd.Series, genotype: str) -> pd.Series:
    """Units whose session's full genotype string matches ``genotype``.

    ``Pvalb``, ``Sst``, ``Vip``: the name appears in the full genotype (e.g. ``Sst-IRES-Cre/wt;Ai32(...)/wt``);
    ``wt``: no Cre driver in it (``wt/wt``).

    Raises
    ------
    UnitsError
        If ``genotype`` is not one of :data:`GENOTYPES`.
    """
    if genotype not in GENOTYPES:
        raise UnitsError(f"unknown genotype {genotype!r}; valid genotypes are {list(GENOTYPES)}.")
    if genotype == "wt":
        return ~full_genotype.str.contains("Cre", case=False, na=False)
    return full_genotype.str.contains(genotype, case=False, na=False)


def qc_mask(units: pd.DataFrame, qc: str) -> pd.Series:
    """Units passing the quality filter ``qc``.

    ``snr4``: the seed's ``snr > 4``. ``allen``: AllenSDK's defaults with the platform paper's presence ratio:
    amplitude_cutoff < 0.1, presence_ratio > 0.95, isi_violations < 0.5, quality ``good``.

    Raises
    ------
    UnitsError
        If ``qc`` is not one of :data:`QC_CHOICES`.
    """
    if qc == "snr4":
        return units.snr > 4
    if qc == "allen":
        return ((units.amplitude_cutoff < 0.1) & (units.presence_ratio > 0.95) & (units.isi_violations < 0.5)
                & (units.quality == "good"))
    raise UnitsError(f"unknown quality filter {qc!r}; valid choices are {list(QC_CHOICES)}.")


def select_units(units: pd.DataFrame, genotype: str, stimulus: str, qc: str,
                 session_type: str = DEFAULT_SESSION_TYPE, all_areas: bool = False) -> pd.DataFrame:
    """The units that enter the typical rate of one genotype, stimulus and quality filter.

    Sessions in which the stimulus was not shown (every unit's rate is NaN) drop out; a NaN rate in a session
    that showed the stimulus is an error.

    Parameters
    ----------
    units : pandas.DataFrame
        Units from :mod:`inputs.units`.
    genotype : str
        One of :data:`GENOTYPES`.
    stimulus : str
        One of :data:`~inputs.units.STIMULI`.
    qc : str
        One of :data:`QC_CHOICES`.
    session_type : str
        Sessions of this type only.
    all_areas : bool
        Keep units of every structure (the seed's choice) instead of LGd only.

    Returns
    -------
    pandas.DataFrame
        The selected units, with their rate in column ``rate_hz``.

    Raises
    ------
    UnitsError
        On an unknown genotype, stimulus or quality filter, or a NaN rate in a session that showed the stimulus.
    """
    if stimulus not in STIMULI:
        raise UnitsError(f"unknown stimulus {stimulus!r}; valid stimuli are {list(STIMULI)}.")
    column = f"firing_rate_{stimulus}"
    keep = genotype_mask(units.genotype, genotype) & qc_mask(units, qc) & (units.session_type == session_type)
    if not all_areas:
        keep &= units.ecephys_structure_acronym == STRUCTURE
    chosen = units[keep]
    shown = chosen.groupby("ecephys_session_id")[column].transform(lambda r: r.notna().any())
    chosen = chosen[shown.astype(bool)]
    bad = chosen[chosen[column].isna()]
    if len(bad):
        first = bad.iloc[0]
        raise UnitsError(f"{first.source_file}: column '{column}' is NaN for unit {first.ecephys_unit_id} of "
                         f"session {first.ecephys_session_id}, which showed that stimulus to other units.")
    return chosen.assign(rate_hz=chosen[column].astype(float))


def typical_rate(selected: pd.DataFrame) -> dict:
    """The seed's typical rate (mean over units per session, then over sessions) and unit-level statistics.

    Parameters
    ----------
    selected : pandas.DataFrame
        Output of :func:`select_units`.

    Returns
    -------
    dict
        ``n_sessions``, ``n_units``, ``session_mean_hz``, ``unit_median_hz``, ``unit_sd_hz`` (sample SD,
        ddof = 1); rates are NaN when no unit is selected.

    Examples
    --------
    >>> t = pd.DataFrame({"ecephys_session_id": [1, 1, 2], "rate_hz": [2.0, 4.0, 9.0]})
    >>> typical_rate(t)["session_mean_hz"]
    6.0
    """
    per_session = selected.groupby("ecephys_session_id").rate_hz.mean()
    rates = selected.rate_hz
    return {"n_sessions": int(per_session.size), "n_units": int(rates.size),
            "session_mean_hz": float(per_session.mean()) if len(per_session) else float("nan"),
            "unit_median_hz": float(rates.median()) if len(rates) else float("nan"),
            "unit_sd_hz": float(rates.std(ddof=1)) if len(rates) > 1 else float("nan")}


def rate_tables(units: pd.DataFrame, qcs: tuple[str, ...] = QC_CHOICES,
                session_type: str = DEFAULT_SESSION_TYPE, all_areas: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rate table and the quantile table for every genotype x stimulus x quality filter.

    Parameters
    ----------
    units : pandas.DataFrame
        Units from :mod:`inputs.units`.
    qcs : tuple of str
        Quality filters to tabulate.
    session_type : str
        Sessions of this type only.
    all_areas : bool
        See :func:`select_units`.

    Returns
    -------
    rates : pandas.DataFrame
        Columns :data:`RATE_TABLE_COLUMNS`.
    quantiles : pandas.DataFrame
        ``genotype, stimulus, qc, n_units`` and the unit-rate quantiles ``rate_hz_p00`` ... ``rate_hz_p100``
        (Hz) at :data:`QUANTILES`.

    Raises
    ------
    UnitsError
        If no unit at all lies in structure LGd (unless ``all_areas``), or as :func:`select_units`.
    """
    if not all_areas and not (units.ecephys_structure_acronym == STRUCTURE).any():
        files = sorted(set(units.source_file))
        raise UnitsError(f"no unit in structure {STRUCTURE} in {files[:3]}{' ...' if len(files) > 3 else ''}.")
    rate_rows, quantile_rows = [], []
    for qc in qcs:
        for genotype in GENOTYPES:
            for stimulus in STIMULI:
                selected = select_units(units, genotype, stimulus, qc, session_type, all_areas)
                key = {"genotype": genotype, "stimulus": stimulus, "qc": qc}
                rate_rows.append({**key, **typical_rate(selected)})
                values = (np.quantile(selected.rate_hz, QUANTILES) if len(selected)
                          else np.full(len(QUANTILES), np.nan))
                quantile_rows.append({**key, "n_units": len(selected),
                                      **{f"rate_hz_p{round(q * 100):02d}": v for q, v in zip(QUANTILES, values,
                                                                                             strict=True)}})
    return pd.DataFrame(rate_rows, columns=list(RATE_TABLE_COLUMNS)), pd.DataFrame(quantile_rows)


def quantiles_path(rates_path: Path) -> Path:
    """Where the quantile table sits beside a rate table: ``<stem>_quantiles.csv``."""
    return rates_path.with_name(f"{rates_path.stem}_quantiles.csv")


def source_path(rates_path: Path) -> Path:
    """Where the provenance sidecar sits beside a rate table: ``<stem>.source.json``."""
    return rates_path.with_name(f"{rates_path.stem}.source.json")


def describe_source(units: pd.DataFrame, source: str, command: str, session_type: str, all_areas: bool) -> dict:
    """Provenance of a rate table: the command, the source and a digest of the unit rows it read."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(
        units.drop(columns="source_file").sort_values("ecephys_unit_id"), index=False).to_numpy().tobytes())
    return {"command": command, "source": source, "n_files": int(units.source_file.nunique()),
            "n_units_read": int(len(units)), "units_sha256": digest.hexdigest(), "session_type": session_type,
            "structure": "all" if all_areas else STRUCTURE,
            "typical_rate": "mean over units within a session, then mean over sessions",
            "qc": {"snr4": "snr > 4 (the seed)",
                   "allen": "amplitude_cutoff < 0.1, presence_ratio > 0.95, isi_violations < 0.5, quality good"},
            "citation": "Siegle et al. 2021, Nature 592:86 (Allen Brain Observatory Visual Coding - Neuropixels)"}


def write_tables(rates: pd.DataFrame, quantiles: pd.DataFrame, provenance: dict, out: Path) -> list[Path]:
    """Write the rate table, its quantiles and provenance sidecar; each to a temporary file, then renamed.

    Returns
    -------
    list of Path
        The three files written.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    contents = {out: rates.to_csv(index=False, float_format="%.6g"),
                quantiles_path(out): quantiles.to_csv(index=False, float_format="%.6g"),
                source_path(out): json.dumps(provenance, indent=2) + "\n"}
    for path, text in contents.items():
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return list(contents)
