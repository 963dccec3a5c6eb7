"""Unit sources: the folder of unit tables and a real AllenSDK EcephysProjectCache, offline, giving the same units."""

from __future__ import annotations

import socket
import time

import numpy as np
import pandas as pd
import pytest

from inputs.rates import rate_tables
from inputs.units import RATE_COLUMNS, UNIT_COLUMNS, UnitsError, load_units_cache, load_units_folder

SESSION_TYPE = "brain_observatory_1.1"


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails at once, as on an offline cluster node."""

    def refuse(*args, **kwargs):
        raise OSError("network access attempted during an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="module")
def lgd_dir(shared_data):
    return shared_data / "allen_neuropixels" / "lgd_units"


@pytest.fixture(scope="module")
def some_units(lgd_dir, shared_data):
    """Real rows: three brain_observatory_1.1 sessions (wt, Sst, Vip) with their LGd units and some VISp units."""
    lgd = load_units_folder(lgd_dir)
    bo = lgd[lgd.session_type == SESSION_TYPE]
    sessions = [bo[bo.genotype.str.startswith(g)].ecephys_session_id.iloc[0] for g in ("wt", "Sst", "Vip")]
    visp = pd.read_csv(shared_data / "allen_neuropixels" / "visp_units.csv", low_memory=False)
    visp = visp[visp.ecephys_session_id.isin(sessions)].groupby("ecephys_session_id").head(15)
    rows = pd.concat([pd.read_csv(f) for f in sorted(lgd_dir.glob("*.csv"))])
    rows = pd.concat([rows[rows.ecephys_session_id.isin(sessions)], visp], ignore_index=True)
    return rows


def make_cache(folder, units: pd.DataFrame):
    """An AllenSDK EcephysProjectCache directory holding exactly ``units``, in the files AllenSDK reads."""
    folder.mkdir(parents=True, exist_ok=True)
    sessions = units.groupby("ecephys_session_id").agg(session_type=("session_type", "first"),
                                                       genotype=("genotype", "first"))
    sessions.index.name = "id"
    sessions.to_csv(folder / "sessions.csv")
    probes = units.groupby("ecephys_probe_id").agg(ecephys_session_id=("ecephys_session_id", "first"),
                                                   name=("name", "first"))
    probes.index.name = "id"
    probes.to_csv(folder / "probes.csv")
    channels = units.groupby("ecephys_channel_id").agg(
        ecephys_probe_id=("ecephys_probe_id", "first"),
        ecephys_structure_acronym=("ecephys_structure_acronym", "first"),
        ecephys_structure_id=("ecephys_structure_id", "first"))
    channels.index.name = "id"
    channels.to_csv(folder / "channels.csv")
    unit_table = units.set_index("ecephys_unit_id")[
        ["ecephys_channel_id", "snr", "amplitude_cutoff", "presence_ratio", "isi_violations", "quality",
         "firing_rate"]]
    unit_table.index.name = "id"
    unit_table.to_csv(folder / "units.csv")
    units.set_index("ecephys_unit_id")[list(RATE_COLUMNS)].to_csv(folder / f"{SESSION_TYPE}_analysis_metrics.csv")
    return folder


def test_folder_loads_every_unit(lgd_dir):
    units = load_units_folder(lgd_dir)
    assert len(units) == 2582 and units.ecephys_session_id.nunique() == 33
    assert list(units.columns) == [*UNIT_COLUMNS, "source_file"]
    assert units.source_file.str.endswith(".csv").all()


def test_cache_path_gives_the_folder_numbers(tmp_path, some_units, no_network):
    """The same units through AllenSDK's EcephysProjectCache (offline) and through the folder give one table."""
    cache = make_cache(tmp_path / "cache", some_units)
    folder = tmp_path / "folder"
    folder.mkdir()
    some_units.to_csv(folder / "units.csv", index=False)
    from_cache = load_units_cache(cache, SESSION_TYPE)
    from_folder = load_units_folder(folder)
    assert len(from_cache) == len(some_units)
    key = ["ecephys_unit_id"]
    a = from_cache.drop(columns="source_file").sort_values(key).reset_index(drop=True)
    b = from_folder.drop(columns="source_file").sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    for all_areas in (False, True):
        ta, _ = rate_tables(from_cache, all_areas=all_areas)
        tb, _ = rate_tables(from_folder, all_areas=all_areas)
        pd.testing.assert_frame_equal(ta, tb)
    lgd_only, _ = rate_tables(from_cache)
    every_area, _ = rate_tables(from_cache, all_areas=True)
    assert (every_area.n_units.sum() > lgd_only.n_units.sum())


def test_cache_missing_file_fails_fast(tmp_path, some_units, no_network):
    cache = make_cache(tmp_path / "cache", some_units)
    (cache / f"{SESSION_TYPE}_analysis_metrics.csv").unlink()
    start = time.perf_counter()
    with pytest.raises(UnitsError, match=r"lacks \['brain_observatory_1.1_analysis_metrics.csv'\].*never downloads"):
        load_units_cache(cache, SESSION_TYPE)
    assert time.perf_counter() - start < 5
    with pytest.raises(UnitsError, match="sessions.csv"):
        load_units_cache(tmp_path / "empty", SESSION_TYPE)


def test_cache_inconsistent_with_its_manifest_fails_fast(tmp_path, some_units, no_network):
    """Files in place but a session type the cache does not know: AllenSDK's own error, no download."""
    cache = make_cache(tmp_path / "cache", some_units)
    (cache / "functional_connectivity_analysis_metrics.csv").write_text("ecephys_unit_id\n")
    start = time.perf_counter()
    with pytest.raises(ValueError, match="unrecognized session type"):
        load_units_cache(cache, "functional_connectivity")
    assert time.perf_counter() - start < 5


def test_folder_errors_name_file_and_column(tmp_path, lgd_dir):
    with pytest.raises(UnitsError, match="does not exist"):
        load_units_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnitsError, match=r"holds no \*\.csv"):
        load_units_folder(tmp_path / "empty")
    table = pd.read_csv(next(lgd_dir.glob("*.csv"))).drop(columns=["snr"])
    (tmp_path / "bad").mkdir()
    table.to_csv(tmp_path / "bad" / "session_1.csv", index=False)
    with pytest.raises(UnitsError, match=r"session_1.csv lacks column\(s\) \['snr'\]"):
        load_units_folder(tmp_path / "bad")


def test_unit_columns_are_numeric(lgd_dir):
    units = load_units_folder(lgd_dir)
    for column in ("snr", "amplitude_cutoff", "presence_ratio", "isi_violations", *RATE_COLUMNS):
        assert np.issubdtype(units[column].dtype, np.number), column
