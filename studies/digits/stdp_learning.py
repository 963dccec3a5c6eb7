"""Unsupervised digit learning with STDP, in the manner of Diehl & Cook 2015 (the rule: :mod:`.stdp_window`).

The 64 pixels fire Poisson spikes (:func:`studies.digits.digits.poisson_schedule`) into parrot neurons that reach an
excitatory layer of ``iaf_cond_exp`` neurons through ``stdp_synapse``; each excitatory neuron drives its own
inhibitory neuron, which inhibits all the other excitatory neurons. Between images, from Python, each neuron's
threshold rises per spike by ``theta_plus_mV`` x N / ``theta_reference_neurons`` for a layer of N neurons (decaying
with ``tau_theta_ms``) and its input weights are rescaled to a fixed sum. After training the weights and thresholds
are frozen (static synapses), every training image is shown once more and each neuron is labelled with the class it
answers most (mean spike count per image of the class); a test image is classified by the class whose labelled
neurons fire most on average. Test images are used for nothing but the final score.

:func:`run_stdp` trains and scores one network; :func:`size_series` repeats it over network sizes. Every random draw
comes from one master seed through the named streams of :func:`common.seeds.stream`.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.files import check_replaceable, run_folder, write_result
from common.seeds import stream
from studies.circuits.params import CircuitError

from .digits import (
    N_CLASSES,
    N_PIXELS,
    RESULT_KEYS,
    Schedule,
    Split,
    confusion,
    count_spikes,
    load_split,
    logistic_baseline,
    poisson_schedule,
    predict,
    stratified_subset,
)
from .figures import plot_accuracy_vs_size, plot_confusion, plot_receptive_fields, plot_stdp_window
from .stdp_window import (
    check_stdp_params,
    neuron_params,
    read_stdp_params,
    stdp_kernel,
    stdp_synapse_params,
    stdp_window,
)

#: Silence (ms) before the spike that applies the potentiation NEST still holds at the end of training.
FLUSH_WAIT_MS = 500.0


@dataclass
class Learned:
    """What training leaves: the input weights and the thresholds' rise.

    Attributes
    ----------
    weights_nS : ndarray, shape (neurons, 64)
        Input -> excitatory weights (nS), row per neuron, column per pixel.
    theta_mV : ndarray, shape (neurons,)
        Adaptive rise of each threshold above ``V_th`` (mV).
    presentations : int
        Images shown during training, repeats included.
    simulated_ms : float
        Simulated time of training (ms).
    spikes_per_image : ndarray, optional
        Excitatory spikes evoked by each training image's last showing, in the order shown.
    """

    weights_nS: np.ndarray
    theta_mV: np.ndarray
    presentations: int = 0
    simulated_ms: float = 0.0
    spikes_per_image: np.ndarray | None = None


class _Network:
    """The NEST network: generators -> parrots -> excitatory layer <-> inhibitory partners, and a spike recorder."""

    def __init__(self, params: dict, weights_nS: np.ndarray, theta_mV: np.ndarray, plastic: bool, seed: int,
                 threads: int = 1):
        enc, inh = params["encoding"], params["inhibition"]
        self.params = params
        self.nest = nest = stdp_kernel(enc["dt_ms"], seed, threads)
        self.dt_ms = float(enc["dt_ms"])
        n = len(theta_mV)
        cell = neuron_params(params)
        self.v_th_mV = cell["V_th"]
        self.generators = nest.Create("spike_generator", N_PIXELS)
        self.inputs = nest.Create("parrot_neuron", N_PIXELS)
        self.exc = nest.Create("iaf_cond_exp", n, params=cell)
        self.inh = nest.Create("iaf_cond_exp", n, params=cell)
        self.exc.set([{"V_th": v} for v in (self.v_th_mV + np.asarray(theta_mV, dtype=float)).tolist()])
        nest.Connect(self.generators, self.inputs, "one_to_one", {"delay": self.dt_ms})
        syn = stdp_synapse_params(params) if plastic else {"synapse_model": "static_synapse"}
        nest.Connect(self.inputs, self.exc, "all_to_all",
                     {**syn, "weight": np.asarray(weights_nS, dtype=float), "delay": params["plasticity"]["delay_ms"]})
        nest.Connect(self.exc, self.inh, "one_to_one", {"weight": float(inh["e_to_i_nS"]), "delay": inh["delay_ms"]})
        if n > 1:
            src, tgt = np.nonzero(~np.eye(n, dtype=bool))
            nest.Connect(np.asarray(self.inh.tolist())[src], np.asarray(self.exc.tolist())[tgt], "one_to_one",
                         {"weight": np.full(len(src), -float(inh["i_to_e_nS"])),
                          "delay": np.full(len(src), float(inh["delay_ms"]))})
        self.recorder = nest.Create("spike_recorder")
        nest.Connect(self.exc, self.recorder)
        self.first_exc = self.exc[0].global_id
        self.first_input = self.inputs[0].global_id
        self.now_ms = 0.0

    def simulate(self, duration_ms: float) -> None:
        """Advance NEST by ``duration_ms`` (kept here too: reading NEST's clock is slow)."""
        self.nest.Simulate(duration_ms)
        self.now_ms += duration_ms

    def _synapses(self, neurons: np.ndarray | None):
        """The input synapses of ``neurons`` (default all) with their row (neuron) and column (pixel) indices."""
        targets = self.exc if neurons is None else self.exc[np.asarray(neurons).tolist()]
        conns = self.nest.GetConnections(self.inputs, targets)
        status = _connection_status(conns)
        row = np.fromiter((d["target"] for d in status), np.int64, len(status)) - self.first_exc
        if neurons is not None:
            position = np.full(len(self.exc), -1)
            position[np.asarray(neurons)] = np.arange(len(neurons))
            row = position[row]
        pixel = np.fromiter((d["source"] for d in status), np.int64, len(status)) - self.first_input
        return conns, row, pixel, np.fromiter((d["weight"] for d in status), float, len(status))

    def weights(self, neurons: np.ndarray | None = None) -> np.ndarray:
        """Input weights (nS) of ``neurons`` (default all), shape (len, 64)."""
        _, row, pixel, weight = self._synapses(neurons)
        out = np.zeros((len(self.exc) if neurons is None else len(neurons), N_PIXELS))
        out[row, pixel] = weight
        return out

    def normalise(self, neurons: np.ndarray, total_nS: float, w_max_nS: float) -> None:
        """Rescale the input weights of ``neurons`` to sum to ``total_nS`` (see :func:`_normalise`)."""
        conns, row, pixel, weight = self._synapses(neurons)
        current = np.zeros((len(neurons), N_PIXELS))
        current[row, pixel] = weight
        _set_connection_weights(conns, _normalise(current, total_nS, w_max_nS)[row, pixel])

    def present(self, schedule: Schedule) -> None:
        """Load the schedule's spike times into the generators (times after now)."""
        self.generators.set([{"spike_times": t} for t in schedule.times_ms])

    def take_spikes(self) -> tuple[np.ndarray, np.ndarray]:
        """Recorded excitatory spikes (times ms, neuron index) since the last call."""
        events = self.recorder.events
        times = np.asarray(events["times"], dtype=float)
        senders = np.asarray(events["senders"], dtype=np.int64) - self.first_exc
        self.recorder.n_events = 0
        return times, senders


def _connection_status(conns) -> list[dict]:
    """Status dicts of the synapses in ``conns`` (``SynapseCollection.get`` without the kernel-status check)."""
    from nest import nestkernel_api

    return nestkernel_api.llapi_get_connection_status(conns._datum)


def _set_connection_weights(conns, weights_nS: np.ndarray) -> None:
    """Set the weight of each synapse in ``conns`` (``SynapseCollection.set`` without the kernel-status check)."""
    from nest import nestkernel_api

    nestkernel_api.llapi_set_connection_status(conns._datum, [{"weight": float(w)} for w in weights_nS])


def _normalise(weights_nS: np.ndarray, total_nS: float, w_max_nS: float) -> np.ndarray:
    """Rows rescaled to sum ``total_nS``, then clipped to ``[0, w_max_nS]``."""
    sums = weights_nS.sum(axis=1, keepdims=True)
    scaled = np.where(sums > 0, weights_nS * total_nS / np.where(sums > 0, sums, 1.0), total_nS / N_PIXELS)
    return np.clip(scaled, 0.0, w_max_nS)


def initial_weights(neurons: int, params: dict, rng: np.random.Generator) -> np.ndarray:
    """Uniform in ``[0, w_init_max_nS]``, each row normalised to ``weight_sum_nS`` (nS, shape (neurons, 64))."""
    learn = params["learning"]
    w = rng.uniform(0.0, learn["w_init_max_nS"], (neurons, N_PIXELS))
    return _normalise(w, learn["weight_sum_nS"], params["plasticity"]["w_max_nS"])


def theta_plus_mV(params: dict, neurons: int) -> float:
    """Threshold increment per spike (mV) of a layer of ``neurons``: ``theta_plus_mV`` x neurons / reference.

    Each neuron wins about 1/N of the images, so its spikes over an epoch, and the threshold they build up, fall as
    1/N at a fixed increment; scaling the increment with N keeps the threshold a neuron reaches over an epoch
    independent of the layer size (``theta_plus_mV`` is tuned at ``theta_reference_neurons``).

    Examples
    --------
    >>> theta_plus_mV({"learning": {"theta_plus_mV": 0.05, "theta_reference_neurons": 100}}, 25)
    0.0125
    """
    learn = params["learning"]
    return float(learn["theta_plus_mV"]) * neurons / float(learn["theta_reference_neurons"])


def train(images: np.ndarray, neurons: int, epochs: int, params: dict, seed: int, threads: int = 1,
          progress: bool | None = None) -> Learned:
    """Unsupervised training of the excitatory layer on ``images`` (labels are not used).

    Each epoch shows every image once, in a fresh random order, for ``presentation_ms`` then ``rest_ms`` of silence.
    After each image, from Python: thresholds ``theta += theta_plus x spikes`` (decaying with ``tau_theta_ms``),
    ``theta_plus = theta_plus_mV x neurons / theta_reference_neurons`` (see :func:`theta_plus_mV`),
    and the input weights of every neuron that fired in this image or the previous one rescaled to sum to
    ``weight_sum_nS`` (all neurons every ``normalise_all_every`` images and at the end). An image that evoked fewer
    than ``min_spikes`` spikes is shown again with all rates ``rate_step_hz`` higher (up to ``max_repeats`` times).

    Parameters
    ----------
    images : ndarray, shape (n, 64)
        Pixel intensities in [0, 1].
    neurons : int
        Excitatory neurons (and as many inhibitory ones).
    epochs : int
        Passes through ``images``.
    params : dict
        STDP parameters (see ``studies/digits/stdp.json``).
    seed : int
        Master seed (streams ``stdp_weights``, ``stdp_order``, ``stdp_train_input``, ``stdp_nest``).
    threads : int
        NEST threads.
    progress : bool or None
        Progress bar (None: only on a terminal).

    Returns
    -------
    Learned
    """
    enc, learn, plast = params["encoding"], params["learning"], params["plasticity"]
    weights = initial_weights(neurons, params, np.random.default_rng(stream(seed, "stdp_weights")))
    theta = np.zeros(neurons)
    order_rng = np.random.default_rng(stream(seed, "stdp_order"))
    input_rng = np.random.default_rng(stream(seed, "stdp_train_input"))
    net = _Network(params, weights, theta, plastic=True, seed=seed, threads=threads)
    slot = enc["presentation_ms"] + enc["rest_ms"]
    decay = math.exp(-slot / learn["tau_theta_ms"])
    increment = theta_plus_mV(params, neurons)
    every = int(learn["normalise_all_every"])
    all_neurons = np.arange(neurons)
    previous = np.zeros(0, dtype=int)
    presentations = 0
    totals: list[int] = []
    disable = None if progress is None else not progress
    for epoch in range(epochs):
        order = order_rng.permutation(len(images))
        for i in tqdm(order, desc=f"STDP epoch {epoch + 1}/{epochs}", unit="image", disable=disable, leave=False):
            rate = enc["max_rate_hz"]
            for _ in range(int(enc["max_repeats"]) + 1):
                schedule = poisson_schedule(images[i:i + 1], rate, enc["presentation_ms"], enc["rest_ms"],
                                            enc["dt_ms"], input_rng, start_ms=net.now_ms + enc["dt_ms"])
                net.present(schedule)
                net.simulate(slot)
                presentations += 1
                _, senders = net.take_spikes()
                counts = np.bincount(senders, minlength=neurons)
                theta = theta * decay + increment * counts
                net.exc.set([{"V_th": v} for v in (net.v_th_mV + theta).tolist()])
                fired = np.flatnonzero(counts)
                if (presentations % every) == 0:
                    touched = all_neurons
                else:
                    touched = np.union1d(fired, previous)
                if len(touched):
                    net.normalise(touched, learn["weight_sum_nS"], plast["w_max_nS"])
                previous = fired
                if counts.sum() >= enc["min_spikes"]:
                    break
                rate += enc["rate_step_hz"]
            totals.append(int(counts.sum()))
    # a lone spike of every input after a long silence applies the potentiation NEST still holds
    net.generators.set([{"spike_times": [round((net.now_ms + FLUSH_WAIT_MS) / net.dt_ms) * net.dt_ms]}] * N_PIXELS)
    net.simulate(FLUSH_WAIT_MS + 2 * net.dt_ms + plast["delay_ms"])
    weights = _normalise(net.weights(), learn["weight_sum_nS"], plast["w_max_nS"])
    return Learned(weights, theta, presentations, net.now_ms, np.asarray(totals))


def respond(learned: Learned, images: np.ndarray, params: dict, seed: int, stream_name: str, threads: int = 1,
            progress: bool | None = None, desc: str = "images") -> np.ndarray:
    """Spike counts of the frozen network (static synapses, fixed thresholds) to ``images``.

    All images are shown one after another; those that evoked fewer than ``min_spikes`` spikes are shown again,
    at rates ``rate_step_hz`` higher, up to ``max_repeats`` times, and their last showing counts.

    Parameters
    ----------
    learned : Learned
    images : ndarray, shape (n, 64)
    params : dict
    seed : int
        Master seed.
    stream_name : str
        The random stream of the input spikes (e.g. ``stdp_label_input``, ``stdp_test_input``).
    threads : int
    progress : bool or None
    desc : str
        Label of the progress bar.

    Returns
    -------
    ndarray of int, shape (n, neurons)
    """
    enc = params["encoding"]
    rng = np.random.default_rng(stream(seed, stream_name))
    net = _Network(params, learned.weights_nS, learned.theta_mV, plastic=False, seed=seed, threads=threads)
    node_ids = np.arange(len(learned.theta_mV))
    counts = np.zeros((len(images), len(node_ids)), dtype=np.int64)
    todo = np.arange(len(images))
    rate = enc["max_rate_hz"]
    disable = None if progress is None else not progress
    for attempt in range(int(enc["max_repeats"]) + 1):
        schedule = poisson_schedule(images[todo], rate, enc["presentation_ms"], enc["rest_ms"], enc["dt_ms"], rng,
                                    start_ms=net.now_ms + enc["dt_ms"])
        net.present(schedule)
        chunk = 50
        label = desc if attempt == 0 else f"{desc} (repeat {attempt}, {rate:g} Hz)"
        with tqdm(total=len(todo), desc=label, unit="image", disable=disable, leave=False) as bar:
            for start in range(0, len(todo), chunk):
                shown = min(chunk, len(todo) - start)
                net.simulate(shown * schedule.slot_ms)
                bar.update(shown)
        times, senders = net.take_spikes()
        counts[todo] = count_spikes(times, senders, node_ids, schedule)
        todo = todo[counts[todo].sum(axis=1) < enc["min_spikes"]]
        if not len(todo):
            break
        rate += enc["rate_step_hz"]
    return counts


def assign_labels(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each neuron's class: the one with the highest mean spike count per image of that class; -1 if it never fired.

    Examples
    --------
    >>> assign_labels(np.array([[3, 0, 0], [0, 1, 0]]), np.array([0, 1])).tolist()
    [0, 1, -1]
    """
    counts = np.asarray(counts, dtype=float)
    labels = np.asarray(labels)
    means = np.stack([counts[labels == c].mean(axis=0) if (labels == c).any() else np.zeros(counts.shape[1])
                      for c in range(N_CLASSES)])
    return np.where(means.max(axis=0) > 0, means.argmax(axis=0), -1)


def vote(counts: np.ndarray, assignments: np.ndarray) -> np.ndarray:
    """Predicted class per image: the class whose labelled neurons fire most on average; -1 if none fired or tied.

    Examples
    --------
    >>> vote(np.array([[4, 0, 1], [0, 0, 0]]), np.array([2, 5, 5])).tolist()
    [2, -1]
    """
    counts = np.asarray(counts, dtype=float)
    scores = np.zeros((len(counts), N_CLASSES))
    for c in range(N_CLASSES):
        mine = assignments == c
        if mine.any():
            scores[:, c] = counts[:, mine].mean(axis=1)
    return predict(scores)


def _subset(split: Split, train_per_class: int | None, test_per_class: int | None, seed: int) -> Split:
    rng = np.random.default_rng(stream(seed, "stdp_subset"))
    train = np.arange(len(split.y_train)) if train_per_class is None else \
        np.sort(stratified_subset(split.y_train, train_per_class, rng))
    test = np.arange(len(split.y_test)) if test_per_class is None else \
        np.sort(stratified_subset(split.y_test, test_per_class, rng))
    return Split(split.x_train[train], split.y_train[train], split.x_test[test], split.y_test[test],
                 split.train_index[train], split.test_index[test], split.seed)


def evaluate(learned: Learned, split: Split, params: dict, seed: int, threads: int = 1,
             progress: bool | None = None) -> dict:
    """Label the neurons on the training images, then classify the training and the test images by their votes.

    Returns
    -------
    dict
        ``assignments`` (class per neuron, -1 silent), ``train_counts``, ``test_counts``, ``train_pred``,
        ``test_pred``, ``train_accuracy``, ``test_accuracy`` (fractions; "no answer" counts as wrong).
    """
    train_counts = respond(learned, split.x_train, params, seed, "stdp_label_input", threads, progress, "labelling")
    assignments = assign_labels(train_counts, split.y_train)
    test_counts = respond(learned, split.x_test, params, seed, "stdp_test_input", threads, progress, "testing")
    train_pred, test_pred = vote(train_counts, assignments), vote(test_counts, assignments)
    return {"assignments": assignments, "train_counts": train_counts, "test_counts": test_counts,
            "train_pred": train_pred, "test_pred": test_pred,
            "train_accuracy": float(np.mean(train_pred == split.y_train)),
            "test_accuracy": float(np.mean(test_pred == split.y_test))}


def check_run_options(neurons: int, epochs: int, seed: int, threads: int = 1) -> None:
    """Refuse non-positive ``neurons``, ``epochs``, ``threads`` and a negative ``seed``.

    Raises
    ------
    CircuitError
    """
    for name, value, low in (("--neurons", neurons, 1), ("--epochs", epochs, 1), ("--threads", threads, 1),
                             ("--seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise CircuitError(f"{name} must be a whole number >= {low}, got {value!r}.")


def run_stdp(out_dir: Path, neurons: int | None = None, epochs: int | None = None, seed: int = 0,
             force: bool = False, params: dict | None = None, threads: int = 1, figures: bool = True,
             train_per_class: int | None = None, test_per_class: int | None = None,
             progress: bool | None = None) -> dict:
    """Train, label and test the STDP network on the digits; write the figures and ``result.json`` to ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Output folder (created; an existing non-empty one only with ``force``).
    neurons, epochs : int, optional
        Excitatory neurons and training epochs (default: ``defaults`` of ``studies/digits/stdp.json``).
    seed : int
        Master seed: the split (:func:`studies.digits.digits.load_split`), initial weights, image order, Poisson inputs.
    force : bool
        Replace a non-empty ``out_dir``.
    params : dict, optional
        STDP parameters (default: ``studies/digits/stdp.json``).
    threads : int
        NEST threads (the same seed gives the same numbers for the same thread count).
    figures : bool
        Write ``window.png``, ``receptive_fields.png`` and ``confusion.png``.
    train_per_class, test_per_class : int, optional
        Use a stratified subset of the training / test images (for quick runs; default all).
    progress : bool or None
        Progress bars (None: only on a terminal).

    Returns
    -------
    dict
        The contents of ``result.json``: ``train_accuracy``, ``test_accuracy``, ``logistic_baseline``, ``seed``,
        ``wall_s``, the window check and the parameters.

    Raises
    ------
    CircuitError
        On bad options or parameters, or a non-empty ``out_dir`` without ``force`` (nothing is written then).
    """
    start = time.perf_counter()
    params = read_stdp_params() if params is None else copy.deepcopy(params)
    check_stdp_params(params)
    neurons = int(params["defaults"]["neurons"]) if neurons is None else neurons
    epochs = int(params["defaults"]["epochs"]) if epochs is None else epochs
    check_run_options(neurons, epochs, seed, threads)
    for name, value in (("train_per_class", train_per_class), ("test_per_class", test_per_class)):
        if value is not None and (not isinstance(value, int | np.integer) or value < 1):
            raise CircuitError(f"{name} must be a whole number >= 1, got {value!r}.")
    out_dir = Path(out_dir)
    check_replaceable(out_dir, force)

    window = stdp_window(params, seed=seed)
    split = _subset(load_split(seed), train_per_class, test_per_class, seed)
    baseline = logistic_baseline(split)
    learned = train(split.x_train, neurons, epochs, params, seed, threads, progress)
    scores = evaluate(learned, split, params, seed, threads, progress)
    matrix = confusion(split.y_test, scores["test_pred"])
    assignments = scores["assignments"]

    per_class = np.bincount(assignments[assignments >= 0], minlength=N_CLASSES)
    with run_folder(out_dir, force=True) as tmp:  # checked for --force above, before the training
        np.savez_compressed(tmp / "learned.npz", weights_nS=learned.weights_nS, theta_mV=learned.theta_mV,
                            assignments=assignments, train_counts=scores["train_counts"],
                            test_counts=scores["test_counts"], train_index=split.train_index,
                            test_index=split.test_index, test_pred=scores["test_pred"], confusion=matrix)
        files = ["learned.npz"]
        if figures:
            lif_window = stdp_window(params, post="lif_cond", seed=seed)
            plot_stdp_window([window, lif_window], tmp / "window.png")
            plot_receptive_fields(learned.weights_nS, assignments, tmp / "receptive_fields.png",
                                  title=f"{neurons} neurons, {epochs} epoch(s), seed {seed}")
            plot_confusion(matrix, tmp / "confusion.png",
                           title=f"STDP network, {neurons} neurons: test accuracy {scores['test_accuracy']:.1%}")
            files += ["window.png", "receptive_fields.png", "confusion.png"]
        result = {
            "method": "unsupervised STDP (Diehl & Cook 2015), neurons labelled by their most frequent digit",
            "neurons": neurons, "epochs": epochs, "seed": seed, "threads": threads,
            "train_accuracy": scores["train_accuracy"], "test_accuracy": scores["test_accuracy"],
            "no_answer_fraction_test": float(np.mean(scores["test_pred"] < 0)),
            "logistic_regression": baseline, "chance": 1.0 / N_CLASSES,
            "n_train": len(split.y_train), "n_test": len(split.y_test),
            "neurons_per_class": per_class.tolist(), "silent_neurons": int(np.sum(assignments < 0)),
            "theta_mV": {"mean": float(learned.theta_mV.mean()), "max": float(learned.theta_mV.max())},
            "training_presentations": learned.presentations, "training_simulated_s": learned.simulated_ms / 1000.0,
            "confusion": matrix.tolist(), "confusion_columns": [*map(str, range(N_CLASSES)), "none"],
            "window": window.as_dict(), "files": files,
            "neuron_model": "iaf_cond_exp (lif_cond membrane); thresholds and weight normalisation set from Python "
                            "between images",
            "params": params,
            "wall_s": time.perf_counter() - start,
        }
        write_result(tmp, result, RESULT_KEYS)
    return result


def size_series(out_dir: Path, sizes: list[int], epochs: int | None = None, seed: int = 0, force: bool = False,
                params: dict | None = None, threads: int = 1, figures: bool = True,
                train_per_class: int | None = None, test_per_class: int | None = None,
                progress: bool | None = None) -> pd.DataFrame:
    """Accuracy against network size: :func:`run_stdp` for each size into ``out_dir/n<size>/``.

    Writes ``out_dir/sizes.csv`` (``neurons, epochs, train_accuracy, test_accuracy, wall_s``),
    ``out_dir/accuracy_vs_size.png`` and, last, ``out_dir/result.json`` (the table and the logistic baseline).

    Parameters
    ----------
    out_dir : Path
    sizes : list of int
        Numbers of excitatory neurons (each >= 1, distinct).
    epochs, seed, force, params, threads, figures, train_per_class, test_per_class, progress
        As :func:`run_stdp`.

    Returns
    -------
    pandas.DataFrame
        The table of ``sizes.csv``.
    """
    start = time.perf_counter()
    sizes = [int(s) for s in sizes]
    if not sizes or len(set(sizes)) != len(sizes):
        raise CircuitError(f"--sizes must list distinct network sizes, got {sizes}.")
    params = read_stdp_params() if params is None else params
    check_stdp_params(params)
    epochs = int(params["defaults"]["epochs"]) if epochs is None else epochs
    for size in sizes:
        check_run_options(size, epochs, seed, threads)
    out_dir = Path(out_dir)
    check_replaceable(out_dir, force)
    rows, baseline = [], None
    with run_folder(out_dir, force=True) as tmp:
        for size in sizes:
            result = run_stdp(tmp / f"n{size}", size, epochs, seed, force=True, params=params, threads=threads,
                              figures=figures, train_per_class=train_per_class, test_per_class=test_per_class,
                              progress=progress)
            baseline = result["logistic_regression"]
            rows.append({key: result[key] for key in ("neurons", "epochs", "train_accuracy", "test_accuracy",
                                                      "no_answer_fraction_test", "wall_s")})
        table = pd.DataFrame(rows)
        table.to_csv(tmp / "sizes.csv", index=False)
        files = ["sizes.csv", *[f"n{s}/" for s in sizes]]
        if figures:
            plot_accuracy_vs_size(table, tmp / "accuracy_vs_size.png", baseline=baseline["test_accuracy"])
            files.append("accuracy_vs_size.png")
        write_result(tmp, {"sizes": rows, "epochs": epochs, "seed": seed, "logistic_regression": baseline,
                           "files": files, "wall_s": time.perf_counter() - start})
    return table
