"""The GA digit classifier: disjoint individuals in one kernel, the fitness surrogate, elitism, saved genomes,
bad input, and a tiny end-to-end run whose SONATA export PointNet reproduces spike for spike."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
from helpers import REPO

from common.files import write_json
from studies.circuits.params import CircuitError, CircuitSpec, read_params
from studies.digits.__main__ import main as circuits_main
from studies.digits.digits import N_PIXELS, RESULT_KEYS, count_spikes, load_split, poisson_schedule, stratified_subset
from studies.digits.ga import (
    GA_FILE,
    Evaluator,
    class_mean_rows,
    detection_fitness,
    evolve,
    genome_record,
    hidden_counts,
    load_genome,
    load_params,
    make_network,
    make_schedule,
    network_counts,
    next_generation,
    run_ga,
    simulate_outputs,
)

N_HIDDEN = 6


@pytest.fixture(scope="module")
def small():
    """A 6-template hidden layer on the real split, and 20 training images (2 per digit) encoded as spikes."""
    params = load_params()
    params["hidden"]["n_templates"] = N_HIDDEN
    split = load_split(0)
    network = make_network(split, params)
    chosen = stratified_subset(split.y_train, 2, np.random.default_rng(0))
    schedule = make_schedule(split.x_train[chosen], params, 0, "test")
    return network, schedule, split.y_train[chosen], params


def _rows(rng, n, scale=4.0):
    return rng.normal(0.0, scale, (n, N_HIDDEN))


def test_individuals_are_disjoint(small):
    """A row's output counts do not depend on which other rows share the kernel."""
    network, schedule, _, _ = small
    a, b = _rows(np.random.default_rng(1), 2)
    together = simulate_outputs(np.stack([a, b, a]), network, schedule)
    np.testing.assert_array_equal(together[0], simulate_outputs(a, network, schedule)[0])
    np.testing.assert_array_equal(together[1], simulate_outputs(b, network, schedule)[0])
    np.testing.assert_array_equal(together[0], together[2])
    assert together[0].sum() > 0 and not np.array_equal(together[0], together[1])


def test_weight_sign_picks_excitation_or_inhibition(small):
    network, schedule, _, _ = small
    genome = np.zeros((10, N_HIDDEN))
    genome[3] = 8.0  # digit 3's neuron excited by every hidden neuron
    genome[5] = -8.0  # digit 5's neuron only inhibited
    counts = network_counts(genome.ravel(), network, schedule)
    assert counts.shape == (len(schedule.onsets_ms), 10)
    assert counts[:, 3].sum() > 0
    assert counts[:, 5].sum() == 0 and counts[:, [0, 1, 2, 4, 6, 7, 8, 9]].sum() == 0


def test_class_mean_rows_favour_each_digits_hidden_neurons(small):
    """The seed read-out: row d weighs hidden neurons by how much more they fire for digit d than on average."""
    network, schedule, labels, _ = small
    counts = hidden_counts(network, schedule)
    assert counts.shape == (len(labels), N_HIDDEN) and counts.sum() > 0
    rows = class_mean_rows(network, schedule, labels, norm_nS=10.0)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 10.0)
    means = np.stack([counts[labels == d].mean(axis=0) for d in range(10)])
    above = means - means.mean(axis=0)
    np.testing.assert_array_equal(np.sign(rows), np.sign(above))  # excite iff the neuron prefers the digit
    assert np.all(rows[above == 0] == 0)


def test_detection_fitness():
    target = np.array([True, True, False, False, False])
    perfect = np.array([[8, 20, 0, 0, 0]])
    silent = np.zeros((1, 5))
    half = np.array([[4, 4, 0, 0, 0]])  # half the saturation on its digit, silent otherwise
    noisy = np.array([[8, 8, 8, 0, 0]])  # fires for one of three other images
    assert detection_fitness(perfect, target, 8.0)[0] == 1.0
    assert detection_fitness(silent, target, 8.0)[0] == 0.5
    assert detection_fitness(half, target, 8.0)[0] == pytest.approx(0.75)
    assert detection_fitness(noisy, target, 8.0)[0] == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_next_generation_copies_the_elite_unchanged():
    from studies.digits.ga import _toolbox

    params = load_params(population=8)
    params["ga"]["elite"] = 2
    params["ga"]["mutation_prob"] = 1.0
    toolbox, _ = _toolbox(params, 12, np.random.default_rng(0))
    population = [toolbox.individual() for _ in range(8)]
    for k, ind in enumerate(population):
        ind.fitness.values = (k / 10,)
    top = sorted(population, key=lambda i: i.fitness.values[0])[-2:][::-1]
    children = next_generation(population, toolbox, params)
    assert len(children) == 8
    for elite, child in zip(top, children[:2], strict=True):
        assert list(child) == list(elite) and child.fitness.values == elite.fitness.values
    assert all(not c.fitness.valid for c in children[2:])  # every other child was mutated


def test_one_generation_keeps_or_improves_the_best(small):
    """Elitism: the best fitness does not fall, and the elite's fitness is reproduced in a fresh kernel."""
    network, schedule, labels, params = small
    params = {**params, "ga": {**params["ga"], "population": 6, "generations": 2, "elite": 1}}
    best, curve = evolve(Evaluator(network, schedule), labels, params, seed=5, progress=False)
    assert list(curve.generation) == [0, 1, 2]
    assert np.all(np.diff(curve.best_fitness) >= 0)
    assert curve.evaluations.iloc[0] == 60 and curve.evaluations.iloc[-1] > 60
    counts = network_counts(best, network, schedule)
    again = [detection_fitness(counts[:, d][None], labels == d, params["fitness"]["saturation_spikes"])[0]
             for d in range(10)]
    assert np.mean(again) == pytest.approx(curve.best_fitness.iloc[-1], abs=1e-12)
    same, curve2 = evolve(Evaluator(network, schedule), labels, params, seed=5, progress=False)
    np.testing.assert_array_equal(best, same)
    np.testing.assert_array_equal(curve.best_fitness, curve2.best_fitness)


def test_genome_round_trip_and_corrupt_files(small, tmp_path):
    network, _, _, params = small
    genome = np.linspace(-5, 5, 10 * N_HIDDEN)
    good = write_json(tmp_path / "good.json", genome_record(genome, network, 0, 0.5))
    np.testing.assert_allclose(load_genome(good, network, params), genome)
    record = json.loads(good.read_text())
    cases = {
        "not json": "{oops",
        "format": json.dumps({**record, "format": "something else"}),
        "shape": json.dumps({**record, "output_weights_nS": [[1.0, 2.0]]}),
        "nan": json.dumps({**record, "output_weights_nS": [[float("nan")] * N_HIDDEN] * 10}),
        "limit": json.dumps({**record, "output_weights_nS": [[1e6] * N_HIDDEN] * 10}),
        "text": json.dumps({**record, "output_weights_nS": "abc"}),
        "hidden": json.dumps({**record, "hidden_weights_nS": (network.hidden_weights_nS + 1).tolist()}),
    }
    messages = {"not json": "not valid JSON", "format": "not a saved genome", "shape": "does not fit",
                "nan": "finite", "limit": "within", "text": "corrupt", "hidden": "another hidden layer"}
    for name, text in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.json"
        path.write_text(text)
        with pytest.raises(CircuitError, match=messages[name]):
            load_genome(path, network, params)


@pytest.mark.parametrize("argv", [["--generations", "0"], ["--population", "-3"], ["--neurons-typo", "4"],
                                  ["--population", "2"], ["--genome", "missing.json"]])
def test_bad_options_exit_2_and_write_nothing(tmp_path, argv, capsys):
    out = tmp_path / "ga"
    with pytest.raises(SystemExit) if argv[0] in ("--generations", "--neurons-typo") or argv[1] == "-3" \
            else _no_raise():
        code = circuits_main(["ga", *argv, "--out", str(out)])
        assert code == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "error" in err and (argv[0].lstrip("-").split("-")[0] in err or "elite" in err or "genome" in err)


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_bad_parameter_file(tmp_path):
    content = json.loads(GA_FILE.read_text())
    del content["ga"]["elite"]
    bad = write_json(tmp_path / "ga.json", content)
    with pytest.raises(CircuitError, match="elite"):
        load_params(params_file=bad)
    content = json.loads(GA_FILE.read_text())
    content["ga"]["crossover_prob"] = 1.5
    with pytest.raises(CircuitError, match="crossover_prob"):
        load_params(params_file=write_json(tmp_path / "ga2.json", content))


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Two tiny GA runs with the same seed (4 individuals x 2 generations, 6 hidden neurons, 20 fitness images)."""
    folder = tmp_path_factory.mktemp("ga")
    content = json.loads(GA_FILE.read_text())
    content["hidden"]["n_templates"] = N_HIDDEN
    content["fitness"]["images_per_class"] = 2
    params_file = write_json(folder / "ga.json", content)
    results = [run_ga(folder / f"run{k}", population=4, generations=2, seed=3, n_thread=1, params_file=params_file)
               for k in (0, 1)]
    return folder, results


def test_tiny_run_writes_everything(tiny_runs):
    folder, (result, _) = tiny_runs
    out = folder / "run0"
    for name in ("result.json", "best_genome.json", "learning_curve.csv", "test_predictions.csv",
                 "figures/learning_curve.png", "figures/hidden_fields.png", "figures/confusion.png",
                 "sonata/config.json", "sonata/network/ga_net_nodes.h5", "sonata/inputs/digit_spikes.h5"):
        assert (out / name).is_file(), name
    assert json.loads((out / "result.json").read_text()) == result
    assert set(RESULT_KEYS) <= set(result)  # the keys GA and STDP results share
    assert 0 <= result["test_accuracy"] <= 1 and result["seed"] == 3 and result["evaluations"] >= 4
    assert result["logistic_regression"]["test_accuracy"] > 0.9
    assert not list(folder.glob(".run0*"))  # no temporary folder left


def test_same_seed_same_result(tiny_runs):
    folder, (a, b) = tiny_runs
    drop = ("wall_s",)
    assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}
    assert (folder / "run0" / "best_genome.json").read_text() == (folder / "run1" / "best_genome.json").read_text()


def test_command_line_run(tiny_runs, capsys):
    folder, _ = tiny_runs
    out = folder / "cli"
    code = circuits_main(["ga", "--population", "3", "--generations", "1", "--seed", "1", "--threads", "1",
                          "--no-figures", "--params", str(folder / "ga.json"), "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "result.json").read_text())
    assert f"test accuracy {result['test_accuracy']:.1%}" in printed and "logistic regression" in printed
    assert result["population_per_digit"] == 3 and result["generations"] == 1 and not (out / "figures").exists()
    # starting from the saved genome of a run with the same seed and hidden settings
    again = folder / "cli_resumed"
    assert circuits_main(["ga", "--population", "3", "--generations", "1", "--seed", "1", "--threads", "1",
                          "--no-figures", "--params", str(folder / "ga.json"), "--genome",
                          str(out / "best_genome.json"), "--out", str(again)]) == 0
    resumed = json.loads((again / "result.json").read_text())
    assert resumed["fitness"] >= result["fitness"] and resumed["started_from"].endswith("best_genome.json")


def test_existing_output_is_kept(tiny_runs):
    folder, _ = tiny_runs
    before = (folder / "run0" / "result.json").read_text()
    assert circuits_main(["ga", "--population", "3", "--generations", "1", "--out", str(folder / "run0")]) == 2
    assert (folder / "run0" / "result.json").read_text() == before


def test_sonata_export_runs_on_pointnet_with_the_same_spikes(tiny_runs, tmp_path):
    """PointNet on the exported network reproduces the in-kernel output counts of the best genome on the test set."""
    folder, (result, _) = tiny_runs
    sonata = folder / "run0" / "sonata"
    run = subprocess.run([sys.executable, str(REPO / "run_pointnet.py"), str(sonata / "config.json"), "--no-build"],
                         capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr[-2000:]
    presentation = json.loads((sonata / "presentation.json").read_text())
    with h5py.File(sonata / "output" / "spikes.h5", "r") as h5:
        ids, times = h5["spikes/ga_net/node_ids"][()], h5["spikes/ga_net/timestamps"][()]
    shown = presentation["presentation_ms"]
    schedule = poisson_schedule(np.zeros((len(presentation["onsets_ms"]), N_PIXELS)), 1.0, shown,
                                presentation["slot_ms"] - shown, 0.1, np.random.default_rng(0),
                                start_ms=presentation["onsets_ms"][0])
    pointnet = count_spikes(times, ids, np.arange(N_HIDDEN, N_HIDDEN + 10), schedule)
    params = json.loads((folder / "ga.json").read_text())
    split = load_split(3)
    network = make_network(split, params)
    genome = np.asarray(json.loads((folder / "run0" / "best_genome.json").read_text())["output_weights_nS"])
    ours = network_counts(genome.ravel(), network, make_schedule(split.x_test, params, 3, "ga_test_spikes"))
    np.testing.assert_array_equal(pointnet, ours)
    assert np.mean(ours.argmax(1) == split.y_test) >= 0  # the counts above are the ones the test accuracy used
    spec = CircuitSpec("random", read_params())
    assert network.neuron == spec.neuron_params()


def test_dask_workers_give_the_same_counts(small):
    """A generation split across two Dask worker processes gives the counts of one in-process kernel."""
    from simulation.parallel import dask_client

    network, schedule, _, _ = small
    rows = _rows(np.random.default_rng(4), 5)
    here = Evaluator(network, schedule)(rows)
    with dask_client(workers=2) as client:
        there = Evaluator(network, schedule, client=client)(rows)
    np.testing.assert_array_equal(here, there)
