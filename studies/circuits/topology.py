"""The three circuit topologies as connection probabilities and as vectorized bmtk connection rules.

- ``random``: every ordered pair of distinct cells connects with the probability of its class pair
  (``connection_probability.e_to_i`` etc.).
- ``ring``: the cells sit evenly on a ring (``ring_position`` in [0, 1), E and I interleaved) and a pair at ring
  distance d (fraction of the circumference, 0 <= d <= 1/2) connects with
  p(d) = p0 exp(-d^2 / (2 w^2)), where w is ``ring.width`` and p0 is chosen so that p(d) averages to the class
  pair's probability over the ring: every cell has the same expected in-degree as in ``random``.
- ``layered``: the cells are split evenly into ``layered.n_layers`` layers, each with E and I cells. Within a layer,
  pairs connect as in ``random``; the E cells of layer k project to the cells of layer k + 1 with probability
  ``layered.p_forward``; there are no other (backward or skipping) connections.

No cell connects to itself. :func:`circuit_connector` draws the connections of one class pair for
:class:`build_network.adaptor.SparseNetwork`, target block by target block.
"""

from __future__ import annotations

import math

import numpy as np

from build_network.adaptor import NodeArrays, vectorized

TARGET_BLOCK = 512


def ring_distance(a, b):
    """Distance along a ring of circumference 1 between positions ``a`` and ``b`` (in [0, 1)).

    Examples
    --------
    >>> float(ring_distance(0.05, 0.95))
    0.1
    """
    d = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) % 1.0
    return np.round(np.minimum(d, 1.0 - d), 12)


def ring_peak_probability(p_mean: float, width: float) -> float:
    """p0 of the ring kernel: the probability at distance 0 that makes the ring average ``p_mean``.

    The average of exp(-d^2 / (2 w^2)) over d uniform in [-1/2, 1/2] is w sqrt(2 pi) erf(1 / (2 sqrt(2) w)).

    Examples
    --------
    >>> round(ring_peak_probability(0.05, 0.05), 4)
    0.399
    """
    return p_mean / (width * math.sqrt(2.0 * math.pi) * math.erf(1.0 / (2.0 * math.sqrt(2.0) * width)))


def ring_probability(distance, p_mean: float, width: float):
    """Connection probability at ring distance ``distance`` (fraction of the circumference)."""
    d = np.asarray(distance, dtype=float)
    return ring_peak_probability(p_mean, width) * np.exp(-d ** 2 / (2.0 * width ** 2))


def ring_positions(n_e: int, n_i: int) -> tuple[np.ndarray, np.ndarray]:
    """Even ring positions for ``n_e`` E and ``n_i`` I cells, the I cells spread among the E cells.

    Returns
    -------
    e_positions, i_positions : numpy.ndarray
        Positions in [0, 1).
    """
    n = n_e + n_i
    slots = np.arange(n) / n
    is_i = np.zeros(n, dtype=bool)
    is_i[np.floor((np.arange(n_i) + 0.5) * n / max(n_i, 1)).astype(int)] = True
    return slots[~is_i], slots[is_i]


def layer_of(n_cells: int, n_layers: int) -> np.ndarray:
    """Layer (0 .. n_layers - 1) of each of ``n_cells`` cells of one class, split as evenly as possible.

    Examples
    --------
    >>> layer_of(5, 2).tolist()
    [0, 0, 0, 1, 1]
    """
    return (np.arange(n_cells) * n_layers) // n_cells


def pair_probability(topology: str, sources: NodeArrays, targets: NodeArrays, p: float, source_is_exc: bool,
                     ring_width: float = 0.05, p_forward: float = 0.0,
                     target_slice: slice = slice(None)) -> np.ndarray:
    """Probability matrix (sources x targets of ``target_slice``) of one class pair, self-pairs set to 0."""
    s_ids = sources.node_ids[:, None]
    t_ids = targets.node_ids[target_slice][None, :]
    if topology == "random":
        prob = np.full((len(sources.node_ids), len(t_ids[0])), p)
    elif topology == "ring":
        d = ring_distance(sources.array("ring_position")[:, None], targets.array("ring_position")[target_slice][None])
        prob = ring_probability(d, p, ring_width)
    elif topology == "layered":
        ls = sources.array("layer")[:, None]
        lt = targets.array("layer")[target_slice][None, :]
        prob = np.where(ls == lt, p, 0.0)
        if source_is_exc:
            prob = np.where(lt == ls + 1, p_forward, prob)
    else:
        raise ValueError(f"unknown topology {topology!r}")
    return np.where(s_ids == t_ids, 0.0, prob)


@vectorized
def circuit_connector(sources: NodeArrays, targets: NodeArrays, topology: str, p: float, source_is_exc: bool,
                      seed: np.random.SeedSequence, ring_width: float = 0.05,
                      p_forward: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the connections of one class pair (one synapse each), target block by target block.

    Returns
    -------
    source_index, target_index, nsyns : numpy.ndarray
        Indices into ``sources`` and ``targets``, and ones.
    """
    rng = np.random.default_rng(seed)
    src, trg = [], []
    for start in range(0, len(targets.node_ids), TARGET_BLOCK):
        block = slice(start, start + TARGET_BLOCK)
        prob = pair_probability(topology, sources, targets, p, source_is_exc, ring_width, p_forward, block)
        s, t = np.nonzero(rng.random(prob.shape) < prob)
        src.append(s)
        trg.append(t + start)
    src, trg = np.concatenate(src), np.concatenate(trg)
    return src, trg, np.ones(len(src), dtype=np.uint32)


@vectorized
def one_to_one(sources: NodeArrays, targets: NodeArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source k drives target k (one synapse each); the pools must be the same size."""
    if len(sources.node_ids) != len(targets.node_ids):
        raise ValueError(f"one_to_one needs pools of equal size, got {len(sources.node_ids)} and "
                         f"{len(targets.node_ids)}")
    index = np.arange(len(sources.node_ids))
    return index, index, np.ones(len(index), dtype=np.uint32)
