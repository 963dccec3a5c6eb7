"""The digits task shared by the GA and STDP studies: data, split, Poisson encoding, read-out and baseline.

Data are scikit-learn's ``load_digits`` (1,797 real 8x8 handwritten digits shipped with the package, no download).
:func:`load_split` makes a stratified train/test split from the seed; the test images are used only for the final
score. :func:`poisson_schedule` turns a sequence of images into spike times of 64 input channels: pixel value
``p`` (0-16) fires at ``p / 16 * max_rate_hz`` during the image's presentation window, then all inputs rest.
:func:`count_spikes` counts each neuron's spikes in each image's slot (presentation plus rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.files import read_json
from studies.circuits.params import CircuitError

DIGITS_FILE = Path(__file__).resolve().parent / "digits.json"
N_PIXELS = 64
N_CLASSES = 10
#: The keys every digit-learning result (``result.json`` of GA and STDP runs) has, with the same meaning.
RESULT_KEYS = ("method", "seed", "train_accuracy", "test_accuracy", "no_answer_fraction_test", "logistic_regression",
               "chance", "n_train", "n_test", "threads", "files", "params", "wall_s")

#: Test accuracy against excitatory neurons of Diehl & Cook 2015 on MNIST (their Table 1), for the size figure.
DIEHL_COOK_2015_MNIST = {100: 0.829, 400: 0.870, 1600: 0.919, 6400: 0.950}


@dataclass(frozen=True)
class Split:
    """A stratified train/test split of the digits.

    Attributes
    ----------
    x_train, x_test : ndarray, shape (n, 64)
        Pixel intensities scaled to [0, 1].
    y_train, y_test : ndarray of int
        Digit labels 0-9.
    train_index, test_index : ndarray of int
        Rows of ``load_digits`` in each part (disjoint).
    seed : int
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray
    seed: int


@dataclass(frozen=True)
class Schedule:
    """Images presented one after another, and the spike times that encode them.

    Attributes
    ----------
    times_ms : list of ndarray
        Spike times of each of the 64 input channels (ms, on the simulation grid, sorted, unique).
    onsets_ms : ndarray
        Start of each image's slot (ms).
    slot_ms : float
        Presentation plus rest (ms).
    presentation_ms : float
        Time the image is shown (ms); the inputs are silent for the rest of the slot.
    """

    times_ms: list[np.ndarray]
    onsets_ms: np.ndarray
    slot_ms: float
    presentation_ms: float

    @property
    def stop_ms(self) -> float:
        """End of the last slot (ms)."""
        return float(self.onsets_ms[-1] + self.slot_ms) if len(self.onsets_ms) else 0.0

    @property
    def n_spikes(self) -> int:
        return int(sum(len(t) for t in self.times_ms))


def load_split(seed: int = 0, test_fraction: float | None = None) -> Split:
    """Load the digits and split them, stratified by class, with ``seed``.

    Parameters
    ----------
    seed : int
        Seed of the split (the same seed always gives the same split).
    test_fraction : float, optional
        Fraction of the images held out for testing (default: ``digits.json``, 0.25).

    Returns
    -------
    Split

    Raises
    ------
    CircuitError
        If ``test_fraction`` is not in (0, 1).

    Examples
    --------
    >>> split = load_split(0)
    >>> len(split.y_train), len(split.y_test)
    (1347, 450)
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    params = read_json(DIGITS_FILE, CircuitError, "digits parameter file")
    fraction = params["split"]["test_fraction"] if test_fraction is None else test_fraction
    if not 0 < fraction < 1:
        raise CircuitError(f"test_fraction must be in (0, 1), got {fraction}.")
    x, y = load_digits(return_X_y=True)
    index = np.arange(len(y))
    train, test = train_test_split(index, test_size=fraction, stratify=y, random_state=seed)
    train, test = np.sort(train), np.sort(test)
    x = x / params["pixel_max"]
    return Split(x[train], y[train], x[test], y[test], train, test, seed)


def stratified_subset(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``per_class`` images of every class (all of a class if it has fewer), in random order."""
    picks = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return rng.permutation(np.concatenate(picks))


def poisson_schedule(images: np.ndarray, max_rate_hz: float, presentation_ms: float, rest_ms: float, dt_ms: float,
                     rng: np.random.Generator, start_ms: float | None = None) -> Schedule:
    """Poisson spike times of the 64 input channels for ``images`` shown one after another.

    Parameters
    ----------
    images : ndarray, shape (n_images, 64)
        Pixel intensities in [0, 1].
    max_rate_hz : float
        Rate of a full-intensity pixel (Hz); a pixel's rate is its intensity times this.
    presentation_ms, rest_ms : float
        Time each image is shown, and the silence after it (ms).
    dt_ms : float
        Simulation step (ms): spike times are moved up to the next grid point (and duplicates dropped).
    rng : numpy.random.Generator
    start_ms : float, optional
        Onset of the first image (default: one step after zero, so no spike is at time 0).

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = poisson_schedule(np.ones((2, 64)), 100.0, 100.0, 50.0, 0.1, np.random.default_rng(0))
    >>> s.onsets_ms.tolist(), 1000 < s.n_spikes < 1600
    ([0.1, 150.1], True)
    """
    images = np.asarray(images, dtype=float)
    if images.ndim != 2 or images.shape[1] != N_PIXELS:
        raise CircuitError(f"images must have shape (n, {N_PIXELS}), got {images.shape}.")
    slot = presentation_ms + rest_ms
    start = dt_ms if start_ms is None else start_ms
    onsets = start + slot * np.arange(len(images))
    counts = rng.poisson(images * max_rate_hz * presentation_ms / 1000.0)
    image_of = np.repeat(np.arange(images.size), counts.ravel()) // N_PIXELS
    channel = np.repeat(np.tile(np.arange(N_PIXELS), len(images)), counts.ravel())
    times = onsets[image_of] + rng.uniform(0.0, presentation_ms, image_of.size)
    steps = np.ceil(np.round(times / dt_ms, 6)).astype(np.int64)
    order = np.lexsort((steps, channel))
    channel, steps = channel[order], steps[order]
    bounds = np.searchsorted(channel, np.arange(N_PIXELS + 1))
    trains = [np.unique(steps[bounds[i]:bounds[i + 1]]) * dt_ms for i in range(N_PIXELS)]
    return Schedule(trains, onsets, slot, presentation_ms)


def _slot_of(times_ms: np.ndarray, senders: np.ndarray, node_ids: np.ndarray,
             schedule: Schedule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image slot and column of each recorded spike, and which spikes fall in a slot of a counted neuron."""
    node_ids = np.asarray(node_ids)
    column = np.full(int(max(node_ids.max(), np.max(senders, initial=0))) + 1, -1)
    column[node_ids] = np.arange(len(node_ids))
    col = column[np.asarray(senders, dtype=np.int64)]
    image = np.floor((np.asarray(times_ms) - schedule.onsets_ms[0]) / schedule.slot_ms).astype(np.int64)
    keep = (col >= 0) & (image >= 0) & (image < len(schedule.onsets_ms))
    return image, col, keep


def count_spikes(times_ms: np.ndarray, senders: np.ndarray, node_ids: np.ndarray, schedule: Schedule) -> np.ndarray:
    """Spike counts of each neuron in each image's slot.

    Parameters
    ----------
    times_ms, senders : ndarray
        Recorded spikes (ms, node id).
    node_ids : ndarray
        The neurons to count, in column order.
    schedule : Schedule

    Returns
    -------
    ndarray of int, shape (n_images, len(node_ids))
    """
    image, col, keep = _slot_of(times_ms, senders, node_ids, schedule)
    counts = np.zeros((len(schedule.onsets_ms), len(node_ids)), dtype=np.int64)
    np.add.at(counts, (image[keep], col[keep]), 1)
    return counts


def first_spike_ms(times_ms: np.ndarray, senders: np.ndarray, node_ids: np.ndarray,
                   schedule: Schedule) -> np.ndarray:
    """Latency of each neuron's first spike in each image's slot, from the image's onset.

    Parameters
    ----------
    times_ms, senders, node_ids, schedule
        As :func:`count_spikes`.

    Returns
    -------
    ndarray of float, shape (n_images, len(node_ids))
        Latency (ms); ``inf`` where the neuron did not fire during the slot.
    """
    image, col, keep = _slot_of(times_ms, senders, node_ids, schedule)
    first = np.full((len(schedule.onsets_ms), len(node_ids)), np.inf)
    latency = np.asarray(times_ms, dtype=float)[keep] - schedule.onsets_ms[image[keep]]
    np.minimum.at(first, (image[keep], col[keep]), latency)
    return first


def predict(counts: np.ndarray, first_spike_ms: np.ndarray | None = None) -> np.ndarray:
    """The class of the most active output neuron per image; -1 when no output fired or the maximum is tied.

    Parameters
    ----------
    counts : ndarray, shape (..., n_classes)
        Spike counts of the output neurons per image.
    first_spike_ms : ndarray, shape (..., n_classes), optional
        First-spike latencies (ms, ``inf`` for silent neurons, see :func:`first_spike_ms`). When given, a tie of
        the most active neurons goes to the one that fired first; only a tie in both is no answer.

    Returns
    -------
    ndarray of int, shape (...)

    Examples
    --------
    >>> predict(np.array([[0, 3, 1], [0, 0, 0], [2, 2, 0]])).tolist()
    [1, -1, -1]
    >>> predict(np.array([[2, 2, 0]]), np.array([[9.5, 4.0, np.inf]])).tolist()
    [1]
    """
    counts = np.asarray(counts)
    top = counts.max(axis=-1)
    leaders = (counts == top[..., None]) & (top[..., None] > 0)
    if first_spike_ms is None:
        rank = np.where(leaders, 0.0, np.inf)
    else:
        rank = np.where(leaders, np.asarray(first_spike_ms, dtype=float), np.inf)
    best = rank.argmin(axis=-1)
    lead = rank.min(axis=-1)
    unique = (rank == lead[..., None]).sum(axis=-1) == 1
    return np.where((top > 0) & unique, best, -1)


def logistic_baseline(split: Split) -> dict:
    """Logistic regression on the raw pixels of the same split: the non-spiking reference.

    Returns
    -------
    dict
        ``train_accuracy`` and ``test_accuracy`` (fractions).
    """
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=5000).fit(split.x_train, split.y_train)
    return {"model": "sklearn LogisticRegression (L2, C=1) on the 64 pixels",
            "train_accuracy": float(model.score(split.x_train, split.y_train)),
            "test_accuracy": float(model.score(split.x_test, split.y_test))}


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Confusion matrix, rows true digit 0-9, columns predicted 0-9 and a last column for "no answer" (-1)."""
    matrix = np.zeros((N_CLASSES, N_CLASSES + 1), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.where(np.asarray(y_pred) < 0, N_CLASSES, y_pred)), 1)
    return matrix
