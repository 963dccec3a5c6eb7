"""Per-cell and per-population statistics: hand-countable cases, silent populations, Poisson ISI CV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import sonata_spikes

from analysis.rates import cell_table, load_reference, population_summary, read_spikes


def test_counts_rates_and_silent_cells():
    spikes = pd.DataFrame({"node_id": [0, 0, 0, 0, 1, 2, 2], "timestamp_ms": [10, 20, 30, 40, 5, 100, 2500.0]})
    nodes = pd.DataFrame({"node_id": [0, 1, 2, 3], "pop_name": ["E", "E", "I", "I"]})
    cells = cell_table(spikes, nodes, 0.0, 2000.0).set_index("node_id")
    assert cells.n_spikes.tolist() == [4, 1, 1, 0]  # the spike at 2500 ms is outside the window
    assert cells.rate_hz.tolist() == [2.0, 0.5, 0.5, 0.0]
    assert cells.isi_cv.loc[0] == 0.0 and cells.isi_cv.iloc[1:].isna().all()
    reference = pd.DataFrame({"median_rate_hz": [1.0, 0.5]}, index=pd.Index(["E", "I"], name="population"))
    summary = population_summary(cells.reset_index(), reference)
    assert summary.loc["E", ["n_cells", "frac_active", "mean_rate_hz", "median_rate_hz"]].tolist() == [
        2, 1.0, 1.25, 1.25]
    assert summary.loc["I", "frac_active"] == 0.5 and summary.loc["I", "ratio"] == pytest.approx(0.5)


def test_poisson_isi_cv_is_one():
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.exponential(100.0, size=(200, 60)), axis=1)  # 10 Hz, ms
    spikes = pd.DataFrame({"node_id": np.repeat(np.arange(200), 60), "timestamp_ms": times.ravel()})
    nodes = pd.DataFrame({"node_id": np.arange(200), "pop_name": "E"})
    cells = cell_table(spikes, nodes, 0.0, times.max() + 1)
    assert cells.isi_cv.mean() == pytest.approx(1.0, abs=0.05)


def test_read_spikes_of_a_silent_population(tmp_path):
    import h5py

    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as h5:
        h5.create_group("spikes/LGN").create_dataset("node_ids", data=np.array([1, 2]))
        h5["spikes/LGN"].create_dataset("timestamps", data=np.array([1.0, 2.0]))
    assert len(read_spikes(path, "V1")) == 0 and len(read_spikes(path, "LGN")) == 2


def test_tuning_targets_are_the_allen_model_targets(shared_data):
    units = pd.read_csv(shared_data / "allen_neuropixels" / "v1_units_by_cell_type.csv", sep=" ")
    medians = units.groupby("cell_type")["Spont_Rate(Hz)"].median()
    reference = load_reference()
    for pop, cell_type in {"LIF_exc": "L2/3 Exc", "PV": "L2/3 PV", "SST": "L2/3 SST", "VIP": "L2/3 VIP"}.items():
        assert reference.loc[pop, "median_rate_hz"] == pytest.approx(medians[cell_type], abs=0.006)
    init = pd.read_csv(shared_data / "synphys" / "bkg_weights_population_init.csv", sep=" ").set_index("population")
    for pop, allen in {"LIF_exc": "e23Cux2", "PV": "i23Pvalb", "SST": "i23Sst", "VIP": "i23Vip"}.items():
        assert reference.loc[pop, "median_rate_hz"] == pytest.approx(init.loc[allen, "target_median_fr"], abs=0.006)


def test_tidy_table_of_a_hand_made_run(hand_run):
    from analysis.rates import load_run

    run = load_run(hand_run)
    cells = run.cells.set_index("node_id")
    assert cells.n_spikes.tolist() == [4, 1, 1, 0, 0]
    assert cells.rate_hz.tolist() == [4.0, 1.0, 1.0, 0.0, 0.0]
    assert cells.isi_cv.loc[0] == 0.0 and cells.isi_cv.iloc[1:].isna().all()
    assert cells.pop_name.tolist() == ["E", "E", "E", "I", "I"] and (cells.population == "V1").all()
    assert cells.loc[1, ["x", "y", "z"]].tolist() == [10.0, -150.0, 5.0]
    assert len(run.spikes) == 6 and run.spikes.timestamp_ms.max() == 400.0
    summary = population_summary(run.cells)
    assert summary.loc["I", ["n_cells", "frac_active", "mean_rate_hz"]].tolist() == [2, 0.0, 0.0]


def test_empty_spikes_file_gives_zeros(hand_run):
    from analysis.rates import load_run

    sonata_spikes(hand_run / "spikes.h5", {})
    run = load_run(hand_run)
    assert len(run.spikes) == 0 and (run.cells.rate_hz == 0).all() and len(run.cells) == 5


def test_spikes_of_another_network_are_refused(hand_run):
    from analysis.rates import RunDataError, load_run

    sonata_spikes(hand_run / "spikes.h5", {"V1": ([0, 4, 9000], [10.0, 20.0, 30.0])})
    with pytest.raises(RunDataError, match=r"\[9000\].*ids run from 0 to 4 \(5 nodes\).*another network"):
        load_run(hand_run)


@pytest.mark.parametrize("damage, message", [
    ("types", r"V1_node_types.csv of the run's configuration not found"),
    ("zero_bytes", r"spikes.h5 \(0 bytes\) is not an HDF5 file"),
    ("no_spikes", r"spikes.h5 not found: did the run finish\?"),
    ("no_config", r"holds no run configuration"),
])
def test_broken_runs_give_one_clear_error(hand_run, damage, message, capsys):
    from analysis.__main__ import main
    from analysis.rates import RunDataError, load_run

    if damage == "types":
        (hand_run.parent / "network" / "V1_node_types.csv").unlink()
    elif damage == "zero_bytes":
        (hand_run / "spikes.h5").write_bytes(b"")
    elif damage == "no_spikes":
        (hand_run / "spikes.h5").unlink()
    else:
        (hand_run / "config.json").unlink()
    with pytest.raises(RunDataError, match=message):
        load_run(hand_run)
    assert main(["report", str(hand_run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and not (hand_run / "report.html").exists()
