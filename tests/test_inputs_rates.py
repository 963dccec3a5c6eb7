"""Typical LGN rates: an independent computation on the real tables, the committed tables, and bad input."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pandas as pd
import pytest

from inputs.__main__ import main
from inputs.rates import (
    GENOTYPES,
    RATE_TABLE_COLUMNS,
    genotype_mask,
    rate_tables,
    select_units,
    typical_rate,
)
from inputs.spikes import RATES_FILE
from inputs.units import STIMULI, UnitsError, load_units_folder


@pytest.fixture(scope="module")
def lgd_dir(shared_data):
    return shared_data / "allen_neuropixels" / "lgd_units"


@pytest.fixture(scope="module")
def units(lgd_dir):
    return load_units_folder(lgd_dir)


def _seed_style(lgd_dir, genotype_prefix, stimulus, keep):
    """The seed's compute_firing_rate, written independently: per session mean, then mean of the means."""
    session_means, pooled = [], []
    for path in sorted(lgd_dir.glob("*.csv")):
        table = pd.read_csv(path)
        table = table[(table.session_type == "brain_observatory_1.1") & (table.ecephys_structure_acronym == "LGd")]
        table = table[table.genotype.str.split("-").str[0].str.replace("wt/wt", "wt") == genotype_prefix]
        table = table[keep(table)]
        if len(table):
            rates = table[f"firing_rate_{stimulus}"].tolist()
            session_means.append(statistics.mean(rates))
            pooled += rates
    return session_means, pooled


@pytest.mark.parametrize("genotype", GENOTYPES)
@pytest.mark.parametrize("stimulus", ["fl", "dg", "ns"])
def test_rates_agree_with_independent_computation(lgd_dir, units, genotype, stimulus):
    checks = {"snr4": lambda t: t.snr > 4,
              "allen": lambda t: (t.amplitude_cutoff < 0.1) & (t.presence_ratio > 0.95)
              & (t.isi_violations < 0.5) & (t.quality == "good")}
    for qc, keep in checks.items():
        session_means, pooled = _seed_style(lgd_dir, genotype, stimulus, keep)
        got = typical_rate(select_units(units, genotype, stimulus, qc))
        assert got["n_sessions"] == len(session_means) > 0
        assert got["n_units"] == len(pooled)
        assert got["session_mean_hz"] == pytest.approx(statistics.mean(session_means), rel=1e-12)
        assert got["unit_median_hz"] == pytest.approx(statistics.median(pooled), rel=1e-12)
        assert got["unit_sd_hz"] == pytest.approx(statistics.stdev(pooled), rel=1e-12)


def test_committed_tables_match_a_fresh_computation(units):
    rates, quantiles = rate_tables(units)
    committed = pd.read_csv(RATES_FILE)
    assert list(committed.columns) == list(RATE_TABLE_COLUMNS)
    assert len(committed) == len(GENOTYPES) * len(STIMULI) * 2
    pd.testing.assert_frame_equal(committed, rates, check_dtype=False, rtol=1e-5)
    committed_q = pd.read_csv(RATES_FILE.with_name("lgn_rates_quantiles.csv"))
    pd.testing.assert_frame_equal(committed_q, quantiles, check_dtype=False, rtol=1e-5)
    provenance = json.loads(RATES_FILE.with_name("lgn_rates.source.json").read_text())
    assert provenance["command"].startswith("python -m inputs rates --units-dir")
    assert provenance["n_units_read"] == len(units)


def test_quantiles_are_the_unit_distribution(units):
    rates, quantiles = rate_tables(units, qcs=("allen",))
    row = quantiles[(quantiles.genotype == "wt") & (quantiles.stimulus == "fl")].iloc[0]
    assert row.rate_hz_p50 == pytest.approx(rates[(rates.genotype == "wt") & (rates.stimulus == "fl")]
                                            .unit_median_hz.iloc[0])
    values = row[[c for c in quantiles.columns if c.startswith("rate_hz_p")]].to_numpy(dtype=float)
    assert np.all(np.diff(values) >= 0)


def test_stimulus_not_shown_gives_an_empty_row(units):
    rates, _ = rate_tables(units)
    dm = rates[rates.stimulus == "dm"]
    assert (dm.n_units == 0).all() and dm.session_mean_hz.isna().all()  # dot motion: functional_connectivity only
    fc = typical_rate(select_units(units, "wt", "dm", "allen", session_type="functional_connectivity"))
    assert fc["n_units"] > 0 and fc["session_mean_hz"] > 0


def test_genotype_matching():
    reporter = ";Ai32(RCL-ChR2(H134R)_EYFP)/wt"
    full = pd.Series(["wt/wt", f"Sst-IRES-Cre/wt{reporter}", f"Pvalb-IRES-Cre/wt{reporter}",
                      f"Vip-IRES-Cre/wt{reporter}"])
    assert genotype_mask(full, "wt").tolist() == [True, False, False, False]
    assert genotype_mask(full, "Sst").tolist() == [False, True, False, False]
    with pytest.raises(UnitsError, match=r"unknown genotype 'Emx1'.*\['wt', 'Pvalb', 'Sst', 'Vip'\]"):
        genotype_mask(full, "Emx1")


def test_bad_selection_and_nan_rates(units):
    with pytest.raises(UnitsError, match=r"unknown stimulus 'xx'.*\['fl', 'dg', 'sg', 'ns', 'dm', 'rf'\]"):
        select_units(units, "wt", "xx", "snr4")
    with pytest.raises(UnitsError, match=r"unknown quality filter 'none'.*\['snr4', 'allen'\]"):
        select_units(units, "wt", "fl", "none")
    broken = units.copy()
    chosen = select_units(units, "wt", "fl", "allen")
    victim = chosen.index[3]
    broken.loc[victim, "firing_rate_fl"] = np.nan
    with pytest.raises(UnitsError, match=rf"{broken.loc[victim, 'source_file']}: column 'firing_rate_fl' is NaN"):
        select_units(broken, "wt", "fl", "allen")


def test_folder_without_lgd_units(tmp_path, lgd_dir):
    table = pd.read_csv(next(lgd_dir.glob("*.csv"))).assign(ecephys_structure_acronym="VISp")
    table.to_csv(tmp_path / "visp.csv", index=False)
    out = tmp_path / "rates.csv"
    assert main(["rates", "--units-dir", str(tmp_path), "--out", str(out)]) == 2
    assert not out.exists()
    with pytest.raises(UnitsError, match="no unit in structure LGd"):
        rate_tables(load_units_folder(tmp_path))


def test_rates_cli_writes_three_files(tmp_path, lgd_dir, capsys):
    out = tmp_path / "r.csv"
    assert main(["rates", "--units-dir", str(lgd_dir), "--qc", "allen", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "seed, all areas" in printed and "8.68" in printed
    assert set(pd.read_csv(out).qc) == {"allen"}
    assert (tmp_path / "r_quantiles.csv").is_file() and (tmp_path / "r.source.json").is_file()
    assert not list(tmp_path.glob(".*tmp"))
