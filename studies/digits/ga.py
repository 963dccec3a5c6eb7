"""Digit classification by a genetic algorithm: a layered conductance-based network whose read-out evolves.

The network (``python -m studies.digits ga``)::

    64 inputs (one Poisson channel per pixel)
      -> H hidden iaf_cond_exp neurons (fixed receptive fields: k-means templates of the training images)
      -> 10 output iaf_cond_exp neurons (one per digit; the most active one is the answer)

- The hidden receptive fields are unsupervised: the k-means centroids of the training images minus their mean
  image, scaled to a fixed L2 norm (nS); positive pixels excite (E_ex 0 mV), negative ones inhibit (E_in -80 mV).
- The genome is the 10 x H hidden -> output weight matrix (nS, signed: the sign picks the synapse's receptor).
  It evolves as 10 cooperating sub-populations (cooperative coevolution, Potter & De Jong 1994): sub-population
  ``d`` evolves the H weights onto digit ``d``'s output neuron, and the network is the best row of each.
  A GA over the whole 10 x H matrix at once reached about 60% in the same budget (measured, see docs/studies.md).
- Fitness of a row is a smooth one-vs-rest detection score on a fixed, stratified set of training images:
  ``0.5 * mean(min(n, R) / R | digit d) + 0.5 * mean(1 - min(n, R) / R | other digits)`` with ``n`` the output
  neuron's spike count and ``R = saturation_spikes``. The learning curve reports the assembled network's accuracy.
- The initial rows are spread (Gaussian, ``init_sigma_nS``) around a read-out from class means: row ``d`` is the
  mean hidden response to digit ``d`` minus the mean over digits (on the fitness images), at a fixed L2 norm
  (``init_centre_norm_nS``; 0 starts around zero). That read-out alone scores about 66% on the test images;
  the GA takes it from there (a seeded GA; from around zero it stalled at 74-76%, see docs/studies.md).
- Read-out: the most active output neuron; a tie in spike count goes to the one that fired first.
- DEAP supplies tournament selection, two-point crossover and Gaussian mutation; the ``elite`` best rows of each
  sub-population pass unchanged to the next generation, so no digit's best fitness ever decreases.
- Evaluation: every row of every sub-population is one output neuron, all in one NEST kernel. They share the input
  spike trains and the hidden layer (fixed and deterministic, so identical for all of them) and are otherwise
  disjoint. With Dask workers, a generation is split into one kernel per worker.

Neuron, synapses and delay are the circuits' (``circuit.json``); GA settings are in ``ga.json``.
"""

from __future__ import annotations

import copy
import json
import random
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from build_network.build import swap_into_place
from common.files import check_replaceable, read_json, run_folder, write_json, write_result
from common.kernel import fresh_kernel
from common.params import check_number, check_sections
from common.seeds import stream
from common.sonata import conform_network
from inputs.spikes import save_spikes
from simulation.parallel import dask_client
from studies.circuits.build import driven_pointnet_config
from studies.circuits.params import CircuitError, CircuitSpec, read_params

from .digits import (
    N_CLASSES,
    N_PIXELS,
    RESULT_KEYS,
    Schedule,
    Split,
    confusion,
    count_spikes,
    first_spike_ms,
    load_split,
    logistic_baseline,
    poisson_schedule,
    predict,
    stratified_subset,
)
from .figures import plot_confusion, plot_learning_curve, plot_receptive_fields

GA_FILE = Path(__file__).resolve().parent / "ga.json"
GENOME_FORMAT = "studies.digits.ga genome 1"
#: The fields of ga.json (nested objects with their keys).
SCHEMA = {"encoding": ("max_rate_hz", "presentation_ms", "rest_ms", "dt_ms"),
          "hidden": ("n_templates", "template_norm_nS", "kmeans_restarts"),
          "fitness": ("images_per_class", "saturation_spikes"),
          "ga": ("population", "generations", "elite", "tournament_size", "crossover_prob", "mutation_prob",
                 "mutation_sigma_nS", "mutation_gene_prob", "init_sigma_nS", "init_centre_norm_nS",
                 "weight_limit_nS")}
_POSITIVE = {("encoding", "max_rate_hz"), ("encoding", "presentation_ms"), ("encoding", "dt_ms"),
             ("hidden", "n_templates"), ("hidden", "template_norm_nS"), ("hidden", "kmeans_restarts"),
             ("fitness", "images_per_class"), ("fitness", "saturation_spikes"), ("ga", "population"),
             ("ga", "generations"), ("ga", "tournament_size"), ("ga", "mutation_sigma_nS"),
             ("ga", "init_sigma_nS"), ("ga", "weight_limit_nS")}
_PROBABILITIES = {("ga", "crossover_prob"), ("ga", "mutation_prob"), ("ga", "mutation_gene_prob")}


@dataclass(frozen=True)
class Network:
    """The fixed part of the GA network, shared by every individual.

    Attributes
    ----------
    hidden_weights_nS : ndarray, shape (H, 64)
        Signed conductance per input spike of each hidden neuron (nS; < 0 is inhibitory).
    neuron : dict
        NEST ``iaf_cond_exp`` parameters of the hidden and output neurons.
    delay_ms : float
        Synaptic delay (ms).
    dt_ms : float
        Simulation step (ms).
    """

    hidden_weights_nS: np.ndarray
    neuron: dict
    delay_ms: float
    dt_ms: float

    @property
    def n_hidden(self) -> int:
        return int(self.hidden_weights_nS.shape[0])

    @property
    def genome_length(self) -> int:
        return N_CLASSES * self.n_hidden


def load_params(population: int | None = None, generations: int | None = None, params_file: Path = GA_FILE) -> dict:
    """``ga.json`` with the command-line overrides, checked.

    Parameters
    ----------
    population, generations : int, optional
        Individuals per generation and number of generations (default: the file's).
    params_file : Path

    Raises
    ------
    CircuitError
        On a missing field or a value out of range, naming it.
    """
    params = copy.deepcopy(read_json(params_file, CircuitError, "GA parameter file"))
    check_sections(params, SCHEMA, f"{params_file} (see studies/digits/ga.json)", CircuitError)
    if population is not None:
        params["ga"]["population"] = population
    if generations is not None:
        params["ga"]["generations"] = generations
    for section, keys in SCHEMA.items():
        for key in keys:
            name = {"population": "--population", "generations": "--generations"}.get(key, f"{section}.{key}")
            if (section, key) in _PROBABILITIES:
                name = f"{section}.{key} (a probability)"
            check_number(params[section][key], name, lo=0.0 if (section, key) in _POSITIVE | _PROBABILITIES else None,
                         hi=1.0 if (section, key) in _PROBABILITIES else None, lo_open=(section, key) in _POSITIVE,
                         error=CircuitError)
    ga = params["ga"]
    if not 0 <= ga["elite"] < ga["population"]:
        raise CircuitError(f"ga.elite must be in [0, population), got {ga['elite']} with --population "
                           f"{ga['population']}; the population must exceed the elite.")
    if ga["init_centre_norm_nS"] < 0:
        raise CircuitError(f"ga.init_centre_norm_nS must be >= 0 nS (0: initial rows centred on zero), got "
                           f"{ga['init_centre_norm_nS']}.")
    if params["encoding"]["rest_ms"] < 0:
        raise CircuitError(f"encoding.rest_ms must be >= 0 ms, got {params['encoding']['rest_ms']}.")
    return params


def hidden_templates(x_train: np.ndarray, n_templates: int, norm_nS: float, restarts: int, seed: int) -> np.ndarray:
    """Hidden receptive fields: k-means centroids of the training images minus the mean image, at a fixed norm.

    Parameters
    ----------
    x_train : ndarray, shape (n, 64)
        Training images (intensities in [0, 1]).
    n_templates : int
        Number of hidden neurons.
    norm_nS : float
        L2 norm of each hidden neuron's weight vector (nS).
    restarts : int
        k-means restarts (``n_init``).
    seed : int
        Master seed.

    Returns
    -------
    ndarray, shape (n_templates, 64)
        Signed weights (nS).
    """
    from sklearn.cluster import KMeans

    state = int(np.random.default_rng(stream(seed, "ga_kmeans")).integers(2**31))
    centroids = KMeans(n_templates, n_init=int(restarts), random_state=state).fit(x_train).cluster_centers_
    fields = centroids - x_train.mean(axis=0)
    return norm_nS * fields / np.linalg.norm(fields, axis=1, keepdims=True)


def make_network(split: Split, params: dict) -> Network:
    """The fixed hidden layer of ``split``'s training images, and the circuits' neuron and delay."""
    h = params["hidden"]
    circuit = read_params()
    weights = hidden_templates(split.x_train, int(h["n_templates"]), float(h["template_norm_nS"]),
                               int(h["kmeans_restarts"]), split.seed)
    neuron = CircuitSpec("random", circuit).neuron_params()
    return Network(weights, neuron, float(circuit["delay_ms"]), float(params["encoding"]["dt_ms"]))


def make_schedule(images: np.ndarray, params: dict, seed: int, name: str) -> Schedule:
    """Poisson spike trains presenting ``images`` with ``ga.json``'s encoding, from the stream ``name`` of ``seed``."""
    e = params["encoding"]
    return poisson_schedule(images, float(e["max_rate_hz"]), float(e["presentation_ms"]), float(e["rest_ms"]),
                            float(e["dt_ms"]), np.random.default_rng(stream(seed, name)))


def _kernel(rows: np.ndarray, network: Network, schedule: Schedule, n_thread: int):
    """A fresh NEST kernel with the inputs, the hidden layer and one output neuron per row; returns the node ids."""
    nest = fresh_kernel(network.dt_ms, threads=int(n_thread))
    inputs = nest.Create("spike_generator", N_PIXELS, params=[{"spike_times": t} for t in schedule.times_ms])
    hidden = nest.Create("iaf_cond_exp", network.n_hidden, params=network.neuron)
    _connect(np.asarray(inputs.tolist()), np.asarray(hidden.tolist()), network.hidden_weights_nS, network.delay_ms)
    outputs = nest.Create("iaf_cond_exp", len(rows), params=network.neuron) if len(rows) else None
    if outputs is not None:
        _connect(np.asarray(hidden.tolist()), np.asarray(outputs.tolist()), rows, network.delay_ms)
    return hidden, outputs


def _record(nodes, network: Network, schedule: Schedule, latency: bool):
    """Simulate the whole schedule; spike counts (and first-spike latencies) of ``nodes``, shape (n_nodes, n_images)."""
    import nest

    recorder = nest.Create("spike_recorder")
    nest.Connect(nodes, recorder)
    nest.Simulate(schedule.stop_ms + network.delay_ms + network.dt_ms)
    events = recorder.events
    ids = np.asarray(nodes.tolist())
    counts = count_spikes(events["times"], events["senders"], ids, schedule).T
    if not latency:
        return counts
    return counts, first_spike_ms(events["times"], events["senders"], ids, schedule).T


def simulate_outputs(rows: np.ndarray, network: Network, schedule: Schedule, n_thread: int = 1,
                     latency: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Spike counts of one output neuron per row of weights, for every image, all in one NEST kernel.

    Parameters
    ----------
    rows : ndarray, shape (n_rows, H)
        Hidden -> output weights (nS) of each output neuron. A whole network is its genome reshaped to (10, H).
    network : Network
    schedule : Schedule
        The images' input spike trains (shared by every row).
    n_thread : int
        NEST threads.
    latency : bool
        Also return each output's first-spike latency per image (ms from the image's onset, ``inf`` if silent).

    Returns
    -------
    ndarray of int, shape (n_rows, n_images)
        The counts; with ``latency``, the tuple (counts, latencies) of that shape.
    """
    rows = np.atleast_2d(np.asarray(rows, dtype=float))
    if rows.shape[1] != network.n_hidden:
        raise CircuitError(f"each row needs {network.n_hidden} weights (one per hidden neuron), got {rows.shape[1]}.")
    _, outputs = _kernel(rows, network, schedule, n_thread)
    return _record(outputs, network, schedule, latency)


def hidden_counts(network: Network, schedule: Schedule, n_thread: int = 1) -> np.ndarray:
    """Spike counts of the hidden neurons per image: shape (n_images, H)."""
    hidden, _ = _kernel(np.empty((0, network.n_hidden)), network, schedule, n_thread)
    return _record(hidden, network, schedule, latency=False).T


def class_mean_rows(network: Network, schedule: Schedule, labels: np.ndarray, norm_nS: float,
                    n_thread: int = 1) -> np.ndarray:
    """A read-out from class means: row ``d`` is the mean hidden response to digit ``d`` minus the mean over digits.

    Parameters
    ----------
    network : Network
    schedule : Schedule
        Training images (the GA's fitness images).
    labels : ndarray, shape (n_images,)
        Their digits.
    norm_nS : float
        L2 norm of each row (nS).
    n_thread : int
        NEST threads.

    Returns
    -------
    ndarray, shape (10, H)
        Signed hidden -> output weights (nS): hidden neurons that answer digit ``d`` more than average excite its
        output, the others inhibit it.
    """
    counts = hidden_counts(network, schedule, n_thread).astype(float)
    labels = np.asarray(labels)
    means = np.stack([counts[labels == digit].mean(axis=0) for digit in range(N_CLASSES)])
    centred = means - means.mean(axis=0)
    lengths = np.linalg.norm(centred, axis=1, keepdims=True)
    return norm_nS * centred / np.where(lengths > 0, lengths, 1.0)


def network_response(genome: np.ndarray, network: Network, schedule: Schedule,
                     n_thread: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Output spike counts and first-spike latencies (ms) of the network ``genome`` (10 x H weights, nS).

    Returns
    -------
    counts, latencies : ndarray, shape (n_images, 10)
    """
    rows = np.asarray(genome).reshape(N_CLASSES, network.n_hidden)
    counts, first = simulate_outputs(rows, network, schedule, n_thread, latency=True)
    return counts.T, first.T


def network_counts(genome: np.ndarray, network: Network, schedule: Schedule, n_thread: int = 1) -> np.ndarray:
    """Output spike counts of the network ``genome`` (10 x H weights, nS): shape (n_images, 10)."""
    return network_response(genome, network, schedule, n_thread)[0]


def _connect(sources: np.ndarray, targets: np.ndarray, weights: np.ndarray, delay_ms: float) -> None:
    """Connect every source to every target with ``weights[target, source]`` (nS)."""
    _connect_pairs(np.tile(sources, len(targets)), np.repeat(targets, len(sources)), weights.ravel(), delay_ms)


def _connect_pairs(sources: np.ndarray, targets: np.ndarray, weights: np.ndarray, delay_ms: float) -> None:
    import nest

    keep = weights != 0
    nest.Connect(sources[keep], targets[keep], "one_to_one",
                 {"synapse_model": "static_synapse", "weight": weights[keep],
                  "delay": np.full(int(keep.sum()), delay_ms)})


def detection_fitness(counts: np.ndarray, is_target: np.ndarray, saturation_spikes: float) -> np.ndarray:
    """One-vs-rest detection score of output neurons: fire for the target digit, stay silent for the others.

    ``0.5 * mean(min(n, R) / R over target images) + 0.5 * mean(1 - min(n, R) / R over the other images)``.

    Parameters
    ----------
    counts : ndarray, shape (n_rows, n_images)
        Spike counts of each output neuron per image.
    is_target : ndarray of bool, shape (n_images,)
        Whether each image shows the neuron's digit.
    saturation_spikes : float
        R: counts above it score as R (spikes).

    Returns
    -------
    ndarray, shape (n_rows,)
        In [0, 1]: 0.5 for a neuron that is always silent or always saturated, 1 for a perfect detector.

    Examples
    --------
    >>> detection_fitness(np.array([[8, 0, 0, 0], [0, 0, 0, 0], [8, 8, 8, 8]]), np.array([1, 0, 0, 0], bool), 8.0)
    array([1. , 0.5, 0.5])
    """
    level = np.minimum(np.asarray(counts, dtype=float), saturation_spikes) / saturation_spikes
    is_target = np.asarray(is_target, dtype=bool)
    return 0.5 * level[:, is_target].mean(axis=1) + 0.5 * (1.0 - level[:, ~is_target]).mean(axis=1)


def accuracy(counts: np.ndarray, labels: np.ndarray, latencies_ms: np.ndarray | None = None) -> float:
    """Fraction of images whose most active output is the true digit (the read-out of :func:`predict`).

    Parameters
    ----------
    counts : ndarray, shape (n_images, 10)
    labels : ndarray, shape (n_images,)
    latencies_ms : ndarray, shape (n_images, 10), optional
        First-spike latencies (ms): ties in the count go to the earliest first spike.
    """
    return float(np.mean(predict(counts, latencies_ms) == np.asarray(labels)))


class Evaluator:
    """Output spike counts and first-spike latencies of a batch of rows (output neurons), each of shape
    (n_rows, n_images): in this process, or split across Dask workers.

    Parameters
    ----------
    network : Network
    schedule : Schedule
    n_thread : int
        NEST threads when evaluating in this process.
    client : dask.distributed.Client, optional
        When given, each batch of rows is split into one chunk (one NEST kernel, one thread) per worker.
    """

    def __init__(self, network: Network, schedule: Schedule, n_thread: int = 1, client=None):
        self.network, self.schedule, self.n_thread, self.client = network, schedule, n_thread, client
        self.n_workers = len(client.scheduler_info()["workers"]) if client is not None else 1
        if client is not None:
            self._shared = client.scatter([network, schedule], broadcast=True)

    def __call__(self, genomes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        genomes = np.atleast_2d(genomes)
        if self.client is None or self.n_workers < 2 or len(genomes) < 2:
            return simulate_outputs(genomes, self.network, self.schedule, self.n_thread, latency=True)
        chunks = np.array_split(genomes, min(self.n_workers, len(genomes)))
        futures = [self.client.submit(simulate_outputs, chunk, *self._shared, 1, True, pure=False)
                   for chunk in chunks]
        parts = self.client.gather(futures)
        return np.concatenate([c for c, _ in parts]), np.concatenate([f for _, f in parts])


def _toolbox(params: dict, row_length: int, rng: np.random.Generator):
    from deap import base, creator, tools

    if not hasattr(creator, "GAFitness"):
        creator.create("GAFitness", base.Fitness, weights=(1.0,))
        creator.create("GAIndividual", list, fitness=creator.GAFitness)
    ga = params["ga"]
    limit = float(ga["weight_limit_nS"])
    toolbox = base.Toolbox()
    toolbox.register("individual", lambda: creator.GAIndividual(
        np.clip(rng.normal(0.0, float(ga["init_sigma_nS"]), row_length), -limit, limit).tolist()))
    toolbox.register("mate", tools.cxTwoPoint)
    toolbox.register("_gauss", tools.mutGaussian, mu=0.0, sigma=float(ga["mutation_sigma_nS"]),
                     indpb=float(ga["mutation_gene_prob"]))

    def mutate(individual):
        toolbox._gauss(individual)
        individual[:] = np.clip(individual, -limit, limit).tolist()
        return (individual,)

    toolbox.register("mutate", mutate)
    toolbox.register("select", tools.selTournament, tournsize=int(ga["tournament_size"]))
    return toolbox, creator.GAIndividual


def next_generation(population: list, toolbox, params: dict) -> list:
    """Elites copied unchanged, then tournament-selected offspring varied by crossover and mutation.

    Offspring that neither crossover nor mutation touched keep their fitness; the others need evaluating.
    """
    from deap import algorithms, tools

    ga = params["ga"]
    n_elite = int(ga["elite"])
    elites = [toolbox.clone(ind) for ind in tools.selBest(population, n_elite)] if n_elite else []
    chosen = toolbox.select(population, len(population) - n_elite)
    offspring = algorithms.varAnd(chosen, toolbox, float(ga["crossover_prob"]), float(ga["mutation_prob"]))
    return elites + offspring


def evolve(evaluate: Evaluator, labels: np.ndarray, params: dict, seed: int, start: np.ndarray | None = None,
           progress: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """Run the GA: one sub-population per digit, all evaluated together each generation.

    Parameters
    ----------
    evaluate : Evaluator
        Output counts of the fitness images for a batch of rows.
    labels : ndarray
        Digits of the fitness images.
    params : dict
        ``ga.json`` contents (see :func:`load_params`); ``ga.population`` is per digit.
    seed : int
        Master seed (initial rows; DEAP's operators draw from Python's ``random``, seeded from it).
    start : ndarray, shape (10 * H,), optional
        A genome whose rows join the initial sub-populations (e.g. a saved best genome).
    progress : bool
        Show a progress bar.

    Returns
    -------
    best : ndarray, shape (10 * H,)
        The best row of every digit's sub-population.
    curve : pandas.DataFrame
        Per generation (0 = the initial population): ``best_fitness`` and ``mean_fitness`` (averaged over the
        digits), ``best_accuracy`` (the assembled network on the fitness images), ``evaluations`` (rows
        simulated so far) and ``wall_s``.
    """
    ga, saturation = params["ga"], float(params["fitness"]["saturation_spikes"])
    labels = np.asarray(labels)
    n_hidden = evaluate.network.n_hidden
    rng = np.random.default_rng(stream(seed, "ga_population"))
    random.seed(int(np.random.default_rng(stream(seed, "ga_operators")).integers(2**31)))
    toolbox, individual = _toolbox(params, n_hidden, rng)
    populations = [[toolbox.individual() for _ in range(int(ga["population"]))] for _ in range(N_CLASSES)]
    if float(ga["init_centre_norm_nS"]) > 0:
        centre = class_mean_rows(evaluate.network, evaluate.schedule, labels, float(ga["init_centre_norm_nS"]),
                                 evaluate.n_thread)
        limit = float(ga["weight_limit_nS"])
        for digit, pop in enumerate(populations):
            for ind in pop:
                ind[:] = np.clip(centre[digit] + np.asarray(ind), -limit, limit).tolist()
    if start is not None:
        for digit, row in enumerate(np.asarray(start, dtype=float).reshape(N_CLASSES, n_hidden)):
            populations[digit][0] = individual(row.tolist())
    rows, start_s, evaluations = [], time.perf_counter(), 0

    def score() -> None:
        nonlocal evaluations
        todo = [(d, ind) for d, pop in enumerate(populations) for ind in pop if not ind.fitness.valid]
        if not todo:
            return
        counts, latencies = evaluate(np.asarray([ind for _, ind in todo], dtype=float))
        for (digit, ind), n, first in zip(todo, counts, latencies, strict=True):
            ind.fitness.values = (float(detection_fitness(n[None, :], labels == digit, saturation)[0]),)
            ind.counts, ind.latencies = n, first
        evaluations += len(todo)

    def record(generation: int) -> None:
        fits = np.array([[ind.fitness.values[0] for ind in pop] for pop in populations])
        champions = [max(pop, key=lambda ind: ind.fitness.values[0]) for pop in populations]
        network_acc = accuracy(np.stack([ind.counts for ind in champions], axis=1), labels,
                               np.stack([ind.latencies for ind in champions], axis=1))
        rows.append({"generation": generation, "best_fitness": fits.max(axis=1).mean(), "mean_fitness": fits.mean(),
                     "best_accuracy": network_acc, "evaluations": evaluations,
                     "wall_s": time.perf_counter() - start_s})

    score()
    record(0)
    bar = tqdm(range(1, int(ga["generations"]) + 1), desc="GA generations", unit="gen", disable=not progress)
    for generation in bar:
        populations = [next_generation(pop, toolbox, params) for pop in populations]
        score()
        record(generation)
        bar.set_postfix_str(f"fitness {rows[-1]['best_fitness']:.3f}, accuracy {rows[-1]['best_accuracy']:.3f}")
    best = np.concatenate([max(pop, key=lambda ind: ind.fitness.values[0]) for pop in populations])
    return best.astype(float), pd.DataFrame(rows)


def genome_record(genome: np.ndarray, network: Network, seed: int, fitness_value: float) -> dict:
    """The saved form of a genome: the read-out weights and the hidden layer they were evolved with."""
    return {"format": GENOME_FORMAT, "seed": seed, "n_hidden": network.n_hidden, "fitness": fitness_value,
            "units": "nS (signed: < 0 inhibitory)",
            "output_weights_nS": np.asarray(genome).reshape(N_CLASSES, network.n_hidden).tolist(),
            "hidden_weights_nS": network.hidden_weights_nS.tolist()}


def load_genome(path: Path, network: Network, params: dict) -> np.ndarray:
    """A genome saved by ``python -m studies.digits ga`` (``best_genome.json``), checked against this run's network.

    Raises
    ------
    CircuitError
        If the file is not JSON, not a genome, has the wrong shape or non-finite or out-of-range weights, or was
        evolved with a different hidden layer (another seed or ``hidden`` settings).
    """
    content = read_json(path, CircuitError, "genome file")
    if content.get("format") != GENOME_FORMAT:
        raise CircuitError(f"{path} is not a saved genome: its 'format' is {content.get('format')!r}, expected "
                           f"{GENOME_FORMAT!r} (the best_genome.json written by python -m studies.digits ga).")
    try:
        weights = np.asarray(content["output_weights_nS"], dtype=float)
        hidden = np.asarray(content["hidden_weights_nS"], dtype=float)
    except (KeyError, ValueError, TypeError) as err:
        raise CircuitError(f"{path} is corrupt: output_weights_nS and hidden_weights_nS must be numeric "
                           f"matrices ({err}).") from err
    expected = (N_CLASSES, network.n_hidden)
    if weights.shape != expected or hidden.shape != network.hidden_weights_nS.shape:
        raise CircuitError(f"{path} does not fit this network: output_weights_nS has shape {weights.shape} and "
                           f"hidden_weights_nS {hidden.shape}; expected {expected} and "
                           f"{network.hidden_weights_nS.shape} (hidden.n_templates {network.n_hidden}).")
    limit = float(params["ga"]["weight_limit_nS"])
    if not np.all(np.isfinite(weights)) or np.abs(weights).max() > limit:
        raise CircuitError(f"{path} is corrupt: output weights must be finite and within +-{limit} nS "
                           f"(ga.weight_limit_nS).")
    if not np.allclose(hidden, network.hidden_weights_nS, rtol=0, atol=1e-9):
        raise CircuitError(f"{path} was evolved with another hidden layer (seed {content.get('seed')!r}); "
                           f"use the same --seed and hidden settings as the run that saved it.")
    return weights.ravel()


def run_ga(out_dir: Path, population: int | None = None, generations: int | None = None, seed: int = 0,
           workers: int = 1, scheduler: str | None = None, n_thread: int = 2, genome_file: Path | None = None,
           force: bool = False, params_file: Path = GA_FILE, figures: bool = True) -> dict:
    """Evolve the digit classifier and write the run folder; return ``result.json``'s contents.

    Parameters
    ----------
    out_dir : Path
        Output folder (kept if it holds files, unless ``force``).
    population, generations : int, optional
        GA size (default: ``ga.json``).
    seed : int
        Master seed: the split, the hidden layer, every spike train and the GA.
    workers : int
        Local Dask processes evaluating each generation (1: in this process with ``n_thread`` NEST threads).
    scheduler : str, optional
        Address of an existing Dask scheduler (overrides ``workers``).
    n_thread : int
        NEST threads of in-process evaluations (and of the final scoring).
    genome_file : Path, optional
        A saved ``best_genome.json`` to seed the initial population with.
    force : bool
        Replace a non-empty ``out_dir``.
    params_file : Path
        The GA parameter file.
    figures : bool
        Draw the learning curve, the hidden receptive fields and the confusion matrix.

    Returns
    -------
    dict
        ``train_accuracy`` (whole training set), ``test_accuracy``, ``seed``, ``wall_s`` and details.

    Raises
    ------
    CircuitError
        On bad options or files, before anything is written.
    """

    start_s = time.perf_counter()
    out_dir = Path(out_dir)
    check_replaceable(out_dir, force)
    if workers < 1:
        raise CircuitError(f"--workers must be >= 1, got {workers}.")
    params = load_params(population, generations, params_file)
    split = load_split(seed)
    network = make_network(split, params)
    start = load_genome(Path(genome_file), network, params) if genome_file is not None else None
    chosen = stratified_subset(split.y_train, int(params["fitness"]["images_per_class"]),
                               np.random.default_rng(stream(seed, "ga_fitness_images")))
    fitness_schedule = make_schedule(split.x_train[chosen], params, seed, "ga_fitness_spikes")
    with ExitStack() as stack:
        client = None
        if workers > 1 or scheduler is not None:
            client = stack.enter_context(dask_client(workers, scheduler))
        evaluator = Evaluator(network, fitness_schedule, n_thread, client)
        best, curve = evolve(evaluator, split.y_train[chosen], params, seed, start)
    train_schedule = make_schedule(split.x_train, params, seed, "ga_train_spikes")
    test_schedule = make_schedule(split.x_test, params, seed, "ga_test_spikes")
    train_counts, train_latencies = network_response(best, network, train_schedule, n_thread)
    test_counts, test_latencies = network_response(best, network, test_schedule, n_thread)
    test_pred = predict(test_counts, test_latencies)
    baseline = logistic_baseline(split)
    with run_folder(out_dir, force=True) as tmp:  # checked for --force above, before the evolution
        curve.to_csv(tmp / "learning_curve.csv", index=False, float_format="%.6g")
        best_fitness = float(curve["best_fitness"].iloc[-1])
        write_json(tmp / "best_genome.json", genome_record(best, network, seed, best_fitness))
        export_sonata(best, network, test_schedule, tmp / "sonata", n_thread)
        np.savetxt(tmp / "test_predictions.csv", np.column_stack([split.test_index, split.y_test, test_pred]),
                   fmt="%d", delimiter=",", header="digits_row,digit,predicted", comments="")
        if figures:
            (tmp / "figures").mkdir()
            plot_learning_curve(curve, tmp / "figures" / "learning_curve.png", baseline["test_accuracy"])
            preferred = best.reshape(N_CLASSES, network.n_hidden).argmax(axis=0)
            plot_receptive_fields(network.hidden_weights_nS, preferred, tmp / "figures" / "hidden_fields.png",
                                  title="GA hidden layer (digit: the output it excites most)")
            plot_confusion(confusion(split.y_test, test_pred), tmp / "figures" / "confusion.png",
                           title=f"GA network, test images (seed {seed})")
        ga = params["ga"]
        result = {
            "method": "genetic algorithm (DEAP), one sub-population per digit, on the hidden -> output weights",
            "seed": seed,
            "train_accuracy": accuracy(train_counts, split.y_train, train_latencies),
            "test_accuracy": float(np.mean(test_pred == split.y_test)),
            "fitness": best_fitness,
            "fitness_images_accuracy": float(curve["best_accuracy"].iloc[-1]),
            "no_answer_fraction_test": float(np.mean(test_pred < 0)),
            "logistic_regression": baseline,
            "chance": 1.0 / N_CLASSES,
            "n_train": int(len(split.y_train)), "n_test": int(len(split.y_test)),
            "n_fitness_images": int(len(chosen)),
            "population_per_digit": int(ga["population"]), "generations": int(ga["generations"]),
            "evaluations": int(curve["evaluations"].iloc[-1]),
            "n_hidden": network.n_hidden,
            "workers": workers if scheduler is None else scheduler, "threads": n_thread,
            "files": sorted(p.name + ("/" if p.is_dir() else "") for p in tmp.iterdir()),
            "started_from": str(genome_file) if genome_file is not None else None,
            "params": params,
            "wall_s": time.perf_counter() - start_s,
        }
        write_result(tmp, result, RESULT_KEYS)
    return result


SONATA_INPUTS, SONATA_NET = "digit_inputs", "ga_net"


def export_sonata(genome: np.ndarray, network: Network, schedule: Schedule, out_dir: Path, n_thread: int = 1) -> Path:
    """Write the network with ``genome`` as a PointNet folder that presents ``schedule``'s images.

    ``python run_pointnet.py DIR/config.json`` then runs it; ``DIR/presentation.json`` gives the image slots so
    the output spikes can be counted per image. Nodes: population ``digit_inputs`` (64 virtual pixel channels)
    and ``ga_net`` (``pop_name`` hidden, then output with its ``digit``).

    Returns
    -------
    Path
        ``DIR/config.json``.
    """
    from bmtk.builder import NetworkBuilder

    out_dir = Path(out_dir)
    weights = np.asarray(genome, dtype=float).reshape(N_CLASSES, network.n_hidden)
    inputs = NetworkBuilder(SONATA_INPUTS)
    rows, cols = np.divmod(np.arange(N_PIXELS), 8)
    inputs.add_nodes(N=N_PIXELS, node_type_id=400, pop_name="pixel", model_type="virtual", pixel_row=rows,
                     pixel_col=cols)
    net = NetworkBuilder(SONATA_NET)
    common = {"model_type": "point_process", "model_template": "nest:iaf_cond_exp", "dynamics_params": "ga_neuron.json"}
    net.add_nodes(N=network.n_hidden, node_type_id=401, pop_name="hidden", **common)
    net.add_nodes(N=N_CLASSES, node_type_id=402, pop_name="output", digit=np.arange(N_CLASSES), **common)
    synapse = {"delay": network.delay_ms, "dynamics_params": "static.json", "model_template": "static_synapse"}
    for edge_type, (src, src_filter, matrix) in enumerate(
            ((inputs, {"pop_name": "pixel"}, network.hidden_weights_nS), (net, {"pop_name": "hidden"}, weights))):
        target_filter = {"pop_name": "hidden" if edge_type == 0 else "output"}
        first_target = 0 if edge_type == 0 else network.n_hidden
        cm = net.add_edges(source=src.nodes(**src_filter), target=net.nodes(**target_filter),
                           connection_rule=_has_weight, connection_params={"matrix": matrix, "first": first_target},
                           edge_type_id=410 + edge_type, syn_weight=1.0, **synapse)
        cm.add_properties("syn_weight", rule=_weight_of, rule_params={"matrix": matrix, "first": first_target},
                          dtypes=float)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.sonata-", dir=out_dir.parent))
    for builder in (inputs, net):
        builder.build()
        builder.save(output_dir=str(tmp / "network"), compression="none")
    conform_network(tmp / "network")  # readable by libsonata as well as bmtk
    for sub, name, content in (("point_neuron_models", "ga_neuron.json", network.neuron),
                               ("synaptic_models", "static.json", {})):
        (tmp / "components" / sub).mkdir(parents=True)
        (tmp / "components" / sub / name).write_text(json.dumps(content, indent=2) + "\n")
    ids = np.concatenate([np.full(len(t), i) for i, t in enumerate(schedule.times_ms)])
    save_spikes(tmp / "inputs" / "digit_spikes.h5", ids, np.concatenate(schedule.times_ms), SONATA_INPUTS)
    write_json(tmp / "presentation.json", {"onsets_ms": schedule.onsets_ms.tolist(), "slot_ms": schedule.slot_ms,
                                           "presentation_ms": schedule.presentation_ms})
    write_json(tmp / "config.json", driven_pointnet_config(
        SONATA_INPUTS, SONATA_NET, (SONATA_INPUTS, SONATA_NET), "digit_spikes",
        schedule.stop_ms + network.delay_ms + network.dt_ms, network.dt_ms, n_thread))
    swap_into_place(tmp, out_dir)
    return out_dir / "config.json"


def _has_weight(source, target, matrix: np.ndarray, first: int) -> int:
    return int(matrix[target.node_id - first, source.node_id] != 0)


def _weight_of(source, target, matrix: np.ndarray, first: int) -> float:
    return float(matrix[target.node_id - first, source.node_id])
