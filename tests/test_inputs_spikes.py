"""LGN spike trains: Poisson statistics, the measured rate distribution, SONATA validity, seeds and bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from inputs.__main__ import main
from inputs.spikes import RATES_FILE, lgn_node_ids, lookup_rate, sample_rates, write_spikes
from inputs.units import UnitsError

TSTOP_MS = 20000.0


def _read(path):
    with h5py.File(path, "r") as h5:
        grp = h5["spikes/LGN"]
        assert grp["node_ids"].dtype == np.uint64  # the SONATA layout (common.sonata.write_spikes)
        return grp["node_ids"][()].astype(np.int64), grp["timestamps"][()], dict(grp["timestamps"].attrs)


@pytest.fixture(scope="module")
def homogeneous(tmp_path_factory):
    out = tmp_path_factory.mktemp("spikes") / "lgn.h5"
    rate = lookup_rate("wt", "fl")
    write_spikes(out, np.arange(500), np.full(500, rate), TSTOP_MS, seed=3)
    return out, rate


def test_rates_match_requested_rate(homogeneous):
    path, rate = homogeneous
    node_ids, times, _ = _read(path)
    counts = np.bincount(node_ids, minlength=500)
    expected = rate * TSTOP_MS / 1000.0
    lo, hi = stats.poisson.interval(0.99, expected)
    outside = int(((counts < lo) | (counts > hi)).sum())
    assert stats.binomtest(outside, 500, 0.01).pvalue > 0.001, "per-cell counts not Poisson"
    total_lo, total_hi = stats.poisson.interval(0.999, 500 * expected)
    assert total_lo <= counts.sum() <= total_hi
    assert counts.var() / counts.mean() == pytest.approx(1.0, abs=0.2)  # Fano factor of a Poisson process
    assert times.min() >= 0 and times.max() <= TSTOP_MS


def test_isi_cv_near_one(homogeneous):
    path, _ = homogeneous
    node_ids, times, _ = _read(path)
    cvs = []
    for node in range(500):
        isi = np.diff(np.sort(times[node_ids == node]))
        if len(isi) > 20:
            cvs.append(isi.std() / isi.mean())
    assert len(cvs) > 400
    assert np.mean(cvs) == pytest.approx(1.0, abs=0.05)


def test_valid_sonata_loaded_by_bmtk(homogeneous):
    from bmtk.utils.reports.spike_trains import SpikeTrains

    path, _ = homogeneous
    node_ids, times, attrs = _read(path)
    assert attrs.get("units") in ("ms", b"ms")
    trains = SpikeTrains.load(str(path))
    assert trains.populations == ["LGN"]
    assert trains.n_spikes("LGN") == len(times)
    assert set(trains.node_ids("LGN")) == set(np.unique(node_ids))


def test_heterogeneous_rates_follow_the_measured_distribution(tmp_path):
    rng = np.random.default_rng(0)
    rates = sample_rates(4000, "wt", "fl", rng)
    quantiles = pd.read_csv(RATES_FILE.with_name("lgn_rates_quantiles.csv"))
    row = quantiles[(quantiles.genotype == "wt") & (quantiles.stimulus == "fl") & (quantiles.qc == "snr4")].iloc[0]
    levels = np.linspace(0, 1, 21)
    values = row[[f"rate_hz_p{round(q * 100):02d}" for q in levels]].to_numpy(dtype=float)
    assert np.quantile(rates, [0.25, 0.5, 0.75]) == pytest.approx(np.interp([0.25, 0.5, 0.75], levels, values),
                                                                     abs=0.6)
    assert stats.kstest(rates, lambda x: np.interp(x, values, levels)).pvalue > 0.001
    out = write_spikes(tmp_path / "het.h5", np.arange(300), rates[:300], 10000.0, seed=1)
    node_ids, _, _ = _read(out)
    counts = np.bincount(node_ids, minlength=300)
    assert stats.pearsonr(counts, rates[:300]).statistic > 0.9


def test_same_seed_same_spikes(tmp_path):
    rates = np.full(100, 10.0)
    a = _read(write_spikes(tmp_path / "a.h5", np.arange(100), rates, 1000.0, seed=5))
    b = _read(write_spikes(tmp_path / "b.h5", np.arange(100), rates, 1000.0, seed=5))
    c = _read(write_spikes(tmp_path / "c.h5", np.arange(100), rates, 1000.0, seed=6))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1][:50], c[1][:50])


def test_cli_uses_the_built_lgn_and_config(tmp_path, small_network, capsys):
    out = tmp_path / "s.h5"
    config = tmp_path / "config.json"
    config.write_text('{"run": {"tstop": 500.0}, "lgn_input": {"genotype": "Sst", "stimulus": "dg", "seed": 4}}')
    assert main(["spikes", "--config", str(config), "--network", str(small_network), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "genotype Sst, stimulus dg" in printed and "0-500 ms on a 0.01 ms grid, seed 4" in printed
    node_ids, times, _ = _read(out)
    assert set(np.unique(node_ids)) <= set(lgn_node_ids(small_network, 0)) and times.max() <= 500.0
    assert np.array_equal(lgn_node_ids(tmp_path / "no_network", 500), np.arange(500))


def test_cli_bad_input_writes_nothing(tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert main(["spikes", "--tstop", "0", "--out", str(out)]) == 2
    assert "--tstop must be > 0" in capsys.readouterr().err
    assert main(["spikes", "--stimulus", "dm", "--out", str(out)]) == 2
    assert "no recorded unit for genotype" in capsys.readouterr().err
    with pytest.raises(SystemExit) as err:
        main(["spikes", "--genotype", "Emx1", "--out", str(out)])
    assert err.value.code == 2
    assert "invalid choice: 'Emx1'" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.iterdir())
    with pytest.raises(UnitsError, match="valid choices"):
        lookup_rate("wt", "zz")


def test_numpy_draw_is_poisson_and_reproducible(tmp_path):
    """The vectorized draw (used for the circuits' drive): counts with mean = variance = rate x T, sorted per cell."""
    rate, tstop_ms = 200.0, 2000.0
    a = _read(write_spikes(tmp_path / "a.h5", np.arange(400), np.full(400, rate), tstop_ms, seed=2, dt_ms=0.1,
                           draw="numpy", population="LGN"))
    b = _read(write_spikes(tmp_path / "b.h5", np.arange(400), np.full(400, rate), tstop_ms, seed=2, dt_ms=0.1,
                           draw="numpy", population="LGN"))
    assert np.array_equal(a[1], b[1])
    counts = np.bincount(a[0], minlength=400)
    expected = rate * tstop_ms / 1000.0
    assert abs(counts.mean() - expected) < 4 * np.sqrt(expected / 400)
    assert 0.8 < counts.var() / counts.mean() < 1.2  # Fano factor 1
    assert np.allclose(a[1] / 0.1, np.round(a[1] / 0.1)) and a[1].min() >= 0.1


def test_unknown_draw_is_an_error(tmp_path):
    with pytest.raises(UnitsError, match="draw must be"):
        write_spikes(tmp_path / "x.h5", np.arange(3), np.ones(3), 100.0, seed=0, draw="scipy")
