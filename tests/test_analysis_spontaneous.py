"""Spontaneous statistics of a run: acceptance test and variability on synthetic spikes with known answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import sonata_spikes

from analysis.__main__ import main
from analysis.spontaneous import spontaneous_statistics, write_spontaneous

RATES = {"LIF_exc": 0.7, "PV": 7.0, "SST": 4.0, "VIP": 14.0}  # within the factors of the references
COUNTS = {"LIF_exc": 300, "PV": 40, "SST": 30, "VIP": 40}
T_MS = 120_000.0


@pytest.fixture(scope="module")
def poisson_run(tmp_path_factory):
    """Independent Poisson cells at rates that meet the criteria, 120 s, nodes by bmtk's NetworkBuilder."""
    from bmtk.builder import NetworkBuilder

    root = tmp_path_factory.mktemp("spont")
    net = NetworkBuilder("V1")
    for pop, n in COUNTS.items():
        net.add_nodes(N=n, pop_name=pop, model_type="point_process", positions=np.zeros((n, 3)))
    net.build()
    net.save_nodes(output_dir=str(root / "network"))
    rng = np.random.default_rng(4)
    ids, times, start = [], [], 0
    for pop, n in COUNTS.items():
        k = rng.poisson(RATES[pop] * T_MS / 1000.0, n)
        ids.append(np.repeat(np.arange(start, start + n), k))
        times.append(rng.uniform(0, T_MS, k.sum()))
        start += n
    run = root / "run"
    run.mkdir()
    sonata_spikes(run / "spikes.h5", {"V1": (np.concatenate(ids), np.concatenate(times))})
    return run, root / "network"


def test_independent_poisson_cells_pass_and_are_uncorrelated(poisson_run):
    run, network = poisson_run
    result, table = spontaneous_statistics(run / "spikes.h5", network / "V1_nodes.h5", network / "V1_node_types.csv",
                                           0.0, T_MS)
    assert result["passes"], result["criteria"]
    assert result["e_isi_cv"] == pytest.approx(0.97, abs=0.05)  # ~84 spikes per cell: a Poisson CV just below 1
    assert result["e_isi_cv_relative_to_poisson"] == pytest.approx(1.0, abs=0.05)
    corr = table[table.measure == "count_correlation"].set_index(["group_a", "group_b", "bin_ms"])
    assert set(corr.index.get_level_values(0) + "-" + corr.index.get_level_values(1)) == {"E-E", "I-I", "E-I"}
    assert (corr.value.abs() < 0.01).all()
    fano = table[table.measure == "population_fano"]
    assert fano.value.between(0.8, 1.2).all()


def test_a_regular_population_fails_the_cv_criterion(tmp_path, poisson_run):
    _, network = poisson_run
    ids, times = [], []
    for cell in range(sum(COUNTS.values())):
        pop = next(p for p, lim in zip(COUNTS, np.cumsum(list(COUNTS.values())), strict=True) if cell < lim)
        step = 1000.0 / RATES[pop]
        t = np.arange(step * (cell % 7) / 7 + 1.0, T_MS, step)
        ids.append(np.full(len(t), cell))
        times.append(t)
    sonata_spikes(tmp_path / "spikes.h5", {"V1": (np.concatenate(ids), np.concatenate(times))})
    result = write_spontaneous(tmp_path, network, 0.0, T_MS)
    assert result["e_isi_cv"] < 0.01 and not result["criteria"]["median E ISI CV in [0.8, 1.3]"]
    assert not result["passes"]
    saved = json.loads((tmp_path / "spontaneous.json").read_text())
    assert saved["criteria"] == result["criteria"]
    assert {"measure", "group_a", "bin_ms", "value"} <= set(pd.read_csv(tmp_path / "variability.csv").columns)


def test_cli_writes_both_files_and_refuses_an_empty_window(poisson_run, capsys):
    run, network = poisson_run
    assert main(["spontaneous", str(run), "--network", str(network), "--stop", str(T_MS)]) == 0
    assert "pass  no silent population" in capsys.readouterr().out
    assert main(["spontaneous", str(run), "--network", str(network)]) == 2  # no run_info.json: no duration
    assert "window" in capsys.readouterr().err


def test_report_lines_of_a_gray_run(tmp_path, poisson_run):
    from analysis.report import spontaneous_lines

    run, network = poisson_run
    write_spontaneous(tmp_path, network, 0.0, T_MS, spikes_file=run / "spikes.h5")
    lines = spontaneous_lines(tmp_path)
    assert "pass: median E ISI CV in [0.8, 1.3]" in lines
    assert any(line.startswith("spike-count correlation E-I at 250 ms") for line in lines)
    assert any("Denman & Contreras 2014" in line for line in lines)
    assert spontaneous_lines(tmp_path / "nothing") == []
