"""Connection rules of the seed model, as readable per-pair references and as fast vectorized equivalents.

The reference rules (:func:`distance_connector`, :func:`select_source_cells`) are the seed's functions with
an explicit random generator: they define the model and plug into bmtk's ``add_edges`` unchanged (per pair,
and ``iterator='all_to_one'``). The fast rules (:func:`distance_connector_fast`,
:func:`select_source_cells_fast`) draw from the same distributions over numpy arrays and are marked
:func:`~build_network.adaptor.vectorized` so that :class:`~build_network.adaptor.SparseNetwork` calls them
once per edge type. The tests check that both draw from the same distribution.

Bounds are inclusive everywhere: ``nsyn_min..nsyn_max`` and ``nsources_min..nsources_max`` are the
smallest and largest values drawn. The seed used Python's inclusive ``random.randint`` for V1 synapse
counts but numpy's exclusive ``np.random.randint`` in ``select_source_cells`` (giving 10..29 sources and
3..11 synapses for its documented 10..30 and 3..12); the tables state ranges, so one convention, the
inclusive one, makes every number mean what it says.
"""

from __future__ import annotations

import numpy as np

from .adaptor import NodeArrays, vectorized

#: Targets handled per block by the fast V1 rule; fixed, so that a seed gives the same network everywhere.
TARGET_BLOCK = 512
#: Uniform numbers drawn at once by the fast V1 rule (8 bytes each); any value gives the same network.
DRAW_CHUNK = 1 << 17


def connection_probability(r_um, d_weight_min: float, d_weight_max: float, d_max_um: float):
    """Connection probability of the seed's distance rule.

    p = d_weight_max (1 - r/d_max) + d_weight_min (r/d_max) for r <= d_max, and 0 beyond.

    Parameters
    ----------
    r_um : float or numpy.ndarray
        Euclidean distance between the two cells (um).
    d_weight_min, d_weight_max : float
        Probability at r = d_max and at r = 0.
    d_max_um : float
        Largest distance at which cells connect (um).

    Returns
    -------
    float or numpy.ndarray
        Probability, same shape as ``r_um``.

    Examples
    --------
    >>> float(connection_probability(150.0, 0.1, 0.3, 300.0))
    0.2
    """
    t = np.asarray(r_um, dtype=float) / d_max_um
    p = d_weight_max * (1.0 - t) + d_weight_min * t
    return np.where(t <= 1.0, p, 0.0)


def convert_to_2d(positions_um, deg_per_um_x: float, deg_per_um_z: float) -> np.ndarray:
    """Map cortical positions to visual-field positions, as the seed's ``convert_to_2d``.

    x and z in cortex are scaled to angles (deg) and passed through tan, giving linear degrees:
    X = tan(deg_per_um_x * x) and Y = tan(deg_per_um_z * z), each converted back to degrees.

    Parameters
    ----------
    positions_um : array_like, shape (3,) or (N, 3)
        Cortical positions (x, y, z) in um; y (depth) is not used.
    deg_per_um_x, deg_per_um_z : float
        Cortical magnification (deg / um) along x and z (seed: 0.07 and 0.04).

    Returns
    -------
    numpy.ndarray, shape (N, 2)
        Visual-field positions (deg).

    Examples
    --------
    >>> convert_to_2d([0.0, -200.0, 0.0], 0.07, 0.04).tolist()
    [[0.0, 0.0]]
    """
    pos = np.atleast_2d(np.asarray(positions_um, dtype=float))
    x = np.degrees(np.tan(np.radians(deg_per_um_x * pos[:, 0])))
    y = np.degrees(np.tan(np.radians(deg_per_um_z * pos[:, 2])))
    return np.column_stack((x, y))


def distance_connector(source, target, d_weight_min: float, d_weight_max: float, d_max: float,
                       nsyn_min: int, nsyn_max: int, rng: np.random.Generator) -> int | None:
    """The seed's V1 -> V1 rule for one source/target pair (reference implementation).

    Parameters
    ----------
    source, target : bmtk.builder.node.Node
        Cells with a ``positions`` attribute (um).
    d_weight_min, d_weight_max, d_max : float
        See :func:`connection_probability` (d_max in um).
    nsyn_min, nsyn_max : int
        Inclusive range of the number of synapses of a connection.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    int or None
        Number of synapses, or None for no connection.
    """
    if source.node_id == target.node_id:
        return None
    r = np.linalg.norm(np.asarray(source["positions"]) - np.asarray(target["positions"]))
    p = connection_probability(r, d_weight_min, d_weight_max, d_max)
    if p <= 0 or rng.random() > p:
        return None
    return int(rng.integers(nsyn_min, nsyn_max + 1))


def select_source_cells(sources, target, nsources_min: int, nsources_max: int, d_max: float,
                        nsyn_min: int, nsyn_max: int, deg_per_um_x: float, deg_per_um_z: float,
                        rng: np.random.Generator) -> np.ndarray:
    """The seed's LGN -> V1 rule for one target and all sources (reference, ``iterator='all_to_one'``).

    Draws ``nsources_min..nsources_max`` candidate LGN cells without replacement and connects each one
    whose visual-field distance to the target's ``convert_to_2d`` position is <= ``d_max`` (deg).

    Parameters
    ----------
    sources : list of bmtk.builder.node.Node
        LGN cells with ``x`` and ``y`` (deg).
    target : bmtk.builder.node.Node
        V1 cell with ``positions`` (um).
    nsources_min, nsources_max : int
        Inclusive range of the number of candidate sources.
    d_max : float
        Largest visual-field distance of a connection (deg).
    nsyn_min, nsyn_max : int
        Inclusive range of the number of synapses of a connection.
    deg_per_um_x, deg_per_um_z : float
        Cortical magnification, see :func:`convert_to_2d`.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray of int, shape (len(sources),)
        Synapses from each source to the target (0: no connection).
    """
    n_candidates = int(rng.integers(nsources_min, nsources_max + 1))
    selected = rng.choice(len(sources), n_candidates, replace=False)
    target_xy = convert_to_2d(target["positions"], deg_per_um_x, deg_per_um_z)[0]
    syns = np.zeros(len(sources), dtype=int)
    for index in selected:
        source = sources[index]
        if np.hypot(source["x"] - target_xy[0], source["y"] - target_xy[1]) <= d_max:
            syns[index] = rng.integers(nsyn_min, nsyn_max + 1)
    return syns


@vectorized
def distance_connector_fast(sources: NodeArrays, targets: NodeArrays, d_weight_min: float,
                            d_weight_max: float, d_max: float, nsyn_min: int, nsyn_max: int,
                            seed: np.random.SeedSequence | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All edges of one V1 -> V1 edge type at once, drawn as :func:`distance_connector` draws each pair.

    The random stream is laid out as follows, and this layout is what a seed means. Targets are taken in
    blocks of :data:`TARGET_BLOCK` in x order; each block meets the window of sources whose x lies within
    ``d_max`` (um) of the block, sorted by x; one uniform number is drawn per (target, source) pair of the
    block and window, row by row, and the pair connects when it is below the pair's probability. The synapse
    counts are drawn last, one per connection, in the order the connections were found.

    Only the uniform numbers are made for every pair of the window. A pair can connect only if its number
    is below the rule's largest probability, so distance and probability are computed for those pairs
    alone; and the numbers are drawn in chunks of at most :data:`DRAW_CHUNK`, so memory stays bounded
    whatever the block and window sizes. The result is identical, pair for pair and in order, to drawing
    and testing the whole block x window table at once.

    Parameters
    ----------
    sources, targets : NodeArrays
        Cells with ``positions`` (um).
    d_weight_min, d_weight_max, d_max, nsyn_min, nsyn_max
        As :func:`distance_connector` (``d_max`` in um).
    seed : numpy.random.SeedSequence or int
        Seed of this edge type's random stream.

    Returns
    -------
    source_index, target_index, nsyns : numpy.ndarray
        Indices into ``sources`` and ``targets`` of each connection and its number of synapses, ordered by
        target block, then target, then source in x order.
    """
    rng = np.random.default_rng(seed)
    src_pos = sources.array("positions")
    trg_pos = targets.array("positions")
    src_order = np.argsort(src_pos[:, 0], kind="stable")
    trg_order = np.argsort(trg_pos[:, 0], kind="stable")
    src_sorted = [np.ascontiguousarray(src_pos[src_order, k]) for k in range(3)]  # (x, y, z) in x order
    src_ids_sorted = sources.node_ids[src_order]
    may_self = np.intersect1d(sources.node_ids, targets.node_ids).size > 0
    # every probability of the rule lies between its two end values; the margin covers rounding
    p_bound = max(d_weight_min, d_weight_max) * (1.0 + 1e-9)
    d_max_sq = d_max * d_max * (1.0 + 1e-9)
    buffer = np.empty(DRAW_CHUNK)
    found_src, found_trg = [], []
    for begin in range(0, len(trg_order), TARGET_BLOCK):
        block = trg_order[begin:begin + TARGET_BLOCK]
        lo = np.searchsorted(src_sorted[0], trg_pos[block, 0].min() - d_max, side="left")
        hi = np.searchsorted(src_sorted[0], trg_pos[block, 0].max() + d_max, side="right")
        width = hi - lo
        if width == 0:
            continue
        window = [c[lo:hi] for c in src_sorted]
        rows_per_chunk = max(1, DRAW_CHUNK // width)
        if buffer.size < rows_per_chunk * width:  # a window wider than DRAW_CHUNK: one row at a time
            buffer = np.empty(rows_per_chunk * width)
        for row0 in range(0, len(block), rows_per_chunk):
            rows = block[row0:row0 + rows_per_chunk]
            draws = buffer[:len(rows) * width]
            rng.random(out=draws)  # the next len(rows) x width numbers of the stream, row-major
            flat = np.flatnonzero(draws < p_bound)
            u = draws[flat]
            row_of, col_of = np.divmod(flat, width)
            trg_chunk = trg_pos[rows]
            # pairs farther than d_max in the x-z plane cannot connect (p = 0 beyond d_max)
            dx = trg_chunk[:, 0][row_of] - window[0][col_of]
            dz = trg_chunk[:, 2][row_of] - window[2][col_of]
            near = np.flatnonzero(dx * dx + dz * dz <= d_max_sq)
            u, row_of, col_of, dx, dz = u[near], row_of[near], col_of[near], dx[near], dz[near]
            # the arithmetic of scipy's cdist (target minus source, summed over x, y, z), so r is bitwise the same
            dy = trg_chunk[:, 1][row_of] - window[1][col_of]
            r = np.sqrt(dx * dx + dy * dy + dz * dz)
            p = connection_probability(r, d_weight_min, d_weight_max, d_max)
            if may_self:
                p[targets.node_ids[rows][row_of] == src_ids_sorted[lo:hi][col_of]] = 0.0
            keep = u < p
            found_trg.append(rows[row_of[keep]])
            found_src.append(src_order[lo + col_of[keep]])
    src_index = np.concatenate(found_src) if found_src else np.zeros(0, dtype=int)
    trg_index = np.concatenate(found_trg) if found_trg else np.zeros(0, dtype=int)
    nsyns = rng.integers(nsyn_min, nsyn_max + 1, size=len(src_index))
    return src_index, trg_index, nsyns


def smallest_first(keys: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` smallest keys of each row, smallest first: ``np.argsort(keys, axis=1)[:, :k]``.

    Partitions each row, then sorts only the ``k + 1`` smallest. A row whose ``k + 1`` smallest keys hold a
    repeated value (where the order of equal keys could depend on the sorting algorithm) is sorted in full
    with ``np.argsort``, so the result is always exactly that of ``np.argsort``.

    Parameters
    ----------
    keys : numpy.ndarray, shape (rows, n)
        Keys.
    k : int
        Number of indices wanted per row.

    Returns
    -------
    numpy.ndarray of int, shape (rows, min(k, n))

    Examples
    --------
    >>> smallest_first(np.array([[0.5, 0.1, 0.9, 0.3]]), 2).tolist()
    [[1, 3]]
    """
    n = keys.shape[1]
    if k + 1 >= n:
        return np.argsort(keys, axis=1)[:, :k]
    head = np.argpartition(keys, k, axis=1)[:, :k + 1]
    head_keys = np.take_along_axis(keys, head, axis=1)
    order = np.argsort(head_keys, axis=1)
    head = np.take_along_axis(head, order, axis=1)
    tied = (np.diff(np.take_along_axis(head_keys, order, axis=1), axis=1) == 0).any(axis=1)
    if tied.any():
        head[tied] = np.argsort(keys[tied], axis=1)[:, :k + 1]
    return head[:, :k]


@vectorized
def select_source_cells_fast(sources: NodeArrays, targets: NodeArrays, nsources_min: int,
                             nsources_max: int, d_max: float, nsyn_min: int, nsyn_max: int,
                             deg_per_um_x: float, deg_per_um_z: float,
                             seed: np.random.SeedSequence | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All LGN -> V1 edges of one target population, drawn as :func:`select_source_cells` draws them.

    Sampling without replacement is done per target by ranking uniform keys over all sources (the first k
    of a uniformly random permutation are a uniform k-subset).

    Parameters
    ----------
    sources : NodeArrays
        LGN cells with ``x`` and ``y`` (deg).
    targets : NodeArrays
        V1 cells with ``positions`` (um).
    nsources_min, nsources_max, d_max, nsyn_min, nsyn_max, deg_per_um_x, deg_per_um_z
        As :func:`select_source_cells`.
    seed : numpy.random.SeedSequence or int
        Seed of this edge type's random stream.

    Returns
    -------
    source_index, target_index, nsyns : numpy.ndarray
        Indices into ``sources`` and ``targets`` of each connection and its number of synapses.
    """
    rng = np.random.default_rng(seed)
    src_xy = np.column_stack((sources.array("x"), sources.array("y")))
    trg_xy = convert_to_2d(targets.array("positions"), deg_per_um_x, deg_per_um_z)
    n_targets = len(targets.node_ids)
    n_candidates = rng.integers(nsources_min, nsources_max + 1, size=n_targets)
    found_src, found_trg = [], []
    block_size = max(1, 2**22 // max(1, len(sources.node_ids)))
    for begin in range(0, n_targets, block_size):
        stop = min(begin + block_size, n_targets)
        keys = rng.random((stop - begin, len(sources.node_ids)))
        ranked = smallest_first(keys, nsources_max)
        rows, ranks = np.nonzero(np.arange(nsources_max)[None, :] < n_candidates[begin:stop, None])
        found_trg.append(begin + rows)
        found_src.append(ranked[rows, ranks])
    src_index = np.concatenate(found_src)
    trg_index = np.concatenate(found_trg)
    near = np.hypot(*(src_xy[src_index] - trg_xy[trg_index]).T) <= d_max
    src_index, trg_index = src_index[near], trg_index[near]
    nsyns = rng.integers(nsyn_min, nsyn_max + 1, size=len(src_index))
    return src_index, trg_index, nsyns
