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


def convert_to_2d(positions_um, deg_per_um_x: float, deg_per_um_z: float,
                 projection: str = "tan") -> np.ndarray:
    """Map cortical positions to visual-field positions, as the seed's ``convert_to_2d``.

    x and z in cortex are scaled to angles (deg) and passed through tan, giving linear degrees:
    X = tan(deg_per_um_x * x) and Y = tan(deg_per_um_z * z), each converted back to degrees.

    The tangent (a flat screen's coordinate) exists only for visual angles below 90 deg: beyond, it changes sign
    and the map folds over. ``projection='angle'`` gives the visual angles themselves, X = deg_per_um_x * x and
    Y = deg_per_um_z * z (deg), the map the builder uses for a column too wide for the tangent
    (:func:`build_network.build.visual_projection`).

    Parameters
    ----------
    positions_um : array_like, shape (3,) or (N, 3)
        Cortical positions (x, y, z) in um; y (depth) is not used.
    deg_per_um_x, deg_per_um_z : float
        Cortical magnification (deg / um) along x and z (seed: 0.07 and 0.04).
    projection : {'tan', 'angle'}
        The seed's tangent, or the visual angle.

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
    if projection == "angle":
        return np.column_stack((deg_per_um_x * pos[:, 0], deg_per_um_z * pos[:, 2]))
    if projection != "tan":
        raise ValueError(f"projection {projection!r} is not 'tan' or 'angle'.")
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
                        rng: np.random.Generator, projection: str = "tan") -> np.ndarray:
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
    projection : {'tan', 'angle'}
        Visual-field map, see :func:`convert_to_2d`.

    Returns
    -------
    numpy.ndarray of int, shape (len(sources),)
        Synapses from each source to the target (0: no connection).
    """
    n_candidates = int(rng.integers(nsources_min, nsources_max + 1))
    selected = rng.choice(len(sources), n_candidates, replace=False)
    target_xy = convert_to_2d(target["positions"], deg_per_um_x, deg_per_um_z, projection)[0]
    syns = np.zeros(len(sources), dtype=int)
    for index in selected:
        source = sources[index]
        if np.hypot(source["x"] - target_xy[0], source["y"] - target_xy[1]) <= d_max:
            syns[index] = rng.integers(nsyn_min, nsyn_max + 1)
    return syns


#: Strips per d_max of the fast V1 rule's spatial index (sources binned in x, sorted by z within a strip).
STRIPS_PER_D_MAX = 4
#: Candidate proposals handled at once by the fast V1 rule; any value gives the same network.
DRAW_CHUNK = 1 << 20


def _substream(seed: np.random.SeedSequence | int, k: int) -> np.random.Generator:
    """The ``k``-th independent generator of ``seed`` (like ``SeedSequence.spawn``, without changing ``seed``)."""
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, k),
                                                        pool_size=seq.pool_size))


def candidate_ranges(src_pos: np.ndarray, trg_pos: np.ndarray, d_max: float):
    """Spatial index of the sources: for each target, the sources within ``d_max`` of it in the x-z plane (and some
    more), as ranges of a fixed order of the sources.

    Sources are binned in strips of width d_max / :data:`STRIPS_PER_D_MAX` along x and sorted by z within a strip.
    For a target, each strip within d_max in x contributes the contiguous range of its sources whose z lies within
    sqrt(d_max^2 - dx_min^2) of the target's, dx_min being the strip's smallest x distance to the target. The ranges
    hold every source whose x-z distance to the target is <= d_max (with a margin for rounding); a source farther
    away may be included, its probability is then 0. The work is proportional to the number of targets plus the
    number of candidates: about 1.1 pi d_max^2 x thickness x density per target, whatever the column width.

    Returns
    -------
    order : numpy.ndarray
        Source indices in strip-then-z order.
    seg_trg, seg_lo, seg_len : numpy.ndarray
        The non-empty ranges, target by target (ascending target index), strips in ascending x: target index,
        first position in ``order`` and length.
    """
    width = d_max / STRIPS_PER_D_MAX
    reach = d_max * (1.0 + 1e-9) + 1e-6  # every pair the rule can connect lies within reach in the x-z plane
    x0 = float(min(src_pos[:, 0].min(), trg_pos[:, 0].min()))
    z0 = float(min(src_pos[:, 2].min(), trg_pos[:, 2].min())) - reach
    span = float(max(src_pos[:, 2].max(), trg_pos[:, 2].max())) - z0 + 2.0 * reach + 1.0
    src_strip = np.floor((src_pos[:, 0] - x0) / width)
    key = src_strip * span + (src_pos[:, 2] - z0)
    order = np.argsort(key, kind="stable")
    key = key[order]
    trg_strip = np.floor((trg_pos[:, 0] - x0) / width)
    n_off = 2 * STRIPS_PER_D_MAX + 3
    strips = trg_strip[:, None] + np.arange(-STRIPS_PER_D_MAX - 1, STRIPS_PER_D_MAX + 2)[None, :]
    xt, zt = trg_pos[:, 0:1], trg_pos[:, 2:3]
    dx_min = np.maximum(0.0, np.maximum(x0 + strips * width - xt, xt - (x0 + (strips + 1.0) * width)))
    dx_min = np.maximum(dx_min - 1e-6, 0.0)
    half = np.sqrt(np.maximum(reach * reach - dx_min * dx_min, 0.0)) + 1e-6
    lo = np.searchsorted(key, (strips * span + (zt - half - z0)).ravel(), side="left")
    hi = np.searchsorted(key, (strips * span + (zt + half - z0)).ravel(), side="right")
    hi[(dx_min > reach).ravel()] = 0
    length = hi - lo
    nonempty = np.flatnonzero(length > 0)
    return order, nonempty // n_off, lo[nonempty], length[nonempty]


@vectorized
def distance_connector_fast(sources: NodeArrays, targets: NodeArrays, d_weight_min: float,
                            d_weight_max: float, d_max: float, nsyn_min: int, nsyn_max: int,
                            seed: np.random.SeedSequence | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All edges of one V1 -> V1 edge type at once, from the distribution :func:`distance_connector` draws each pair
    from; time and memory linear in the number of edges.

    Every pair connects independently with probability p(r) (:func:`connection_probability`, 0 for a cell and
    itself). The rule draws this by thinning: a spatial index (:func:`candidate_ranges`) lists for each target the
    candidate sources, a superset of those within d_max; a Bernoulli(p_max) sequence over all candidate pairs, p_max
    the rule's largest probability, is drawn by its geometric gaps (one number per success, not per pair); and each
    success is kept with probability p(r) / p_max. A pair is then kept with probability p_max x p(r) / p_max = p(r),
    independently of every other pair, exactly as the per-pair rule.

    Three independent streams of ``seed`` make the draw: the gaps, the acceptance numbers (one per success, in the
    order of the candidate pairs: target index, then strip, then z) and the synapse counts (one per connection, in
    that order); :data:`DRAW_CHUNK` bounds memory and does not change the result.

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
        Indices into ``sources`` and ``targets`` of each connection and its number of synapses, ordered by target
        index, then by the candidates' order.
    """
    gaps, accept, synapses = (_substream(seed, k) for k in range(3))
    src_pos = np.asarray(sources.array("positions"), dtype=float)
    trg_pos = np.asarray(targets.array("positions"), dtype=float)
    p_max = max(d_weight_min, d_weight_max)
    found_src, found_trg = [], []
    if p_max > 0 and len(src_pos) and len(trg_pos):
        order, seg_trg, seg_lo, seg_len = candidate_ranges(src_pos, trg_pos, d_max)
        seg_end = np.cumsum(seg_len)
        seg_shift = seg_lo - (seg_end - seg_len)  # position in ``order`` = hit + seg_shift of its range
        total = int(seg_end[-1]) if len(seg_end) else 0
        src_xyz = [np.ascontiguousarray(src_pos[order, k]) for k in range(3)]  # in candidate order
        trg_xyz = [np.ascontiguousarray(trg_pos[:, k]) for k in range(3)]
        src_ids, trg_ids = sources.node_ids[order], targets.node_ids
        may_self = np.intersect1d(src_ids, trg_ids).size > 0
        position = -1  # the last success so far, in the concatenation of all candidate pairs
        while position < total:
            step = np.cumsum(gaps.geometric(p_max, size=DRAW_CHUNK))
            hits = position + step
            position = int(hits[-1])
            hits = hits[hits < total]
            if not len(hits):
                continue
            seg = np.searchsorted(seg_end, hits, side="right")
            src = hits + seg_shift[seg]  # position in ``order``
            trg = seg_trg[seg]
            # the arithmetic of scipy's cdist (target minus source, squares summed over x, y, z)
            d = trg_xyz[0][trg] - src_xyz[0][src]
            r2 = d * d
            d = trg_xyz[1][trg] - src_xyz[1][src]
            r2 += d * d
            d = trg_xyz[2][trg] - src_xyz[2][src]
            r2 += d * d
            p = connection_probability(np.sqrt(r2), d_weight_min, d_weight_max, d_max)
            if may_self:
                p[src_ids[src] == trg_ids[trg]] = 0.0
            keep = np.flatnonzero(accept.random(len(hits)) * p_max < p)
            found_src.append(order[src[keep]])
            found_trg.append(trg[keep])
    src_index = np.concatenate(found_src) if found_src else np.zeros(0, dtype=np.int64)
    trg_index = np.concatenate(found_trg) if found_trg else np.zeros(0, dtype=np.int64)
    nsyns = synapses.integers(nsyn_min, nsyn_max + 1, size=len(src_index))
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
                             seed: np.random.SeedSequence | int,
                             projection: str = "tan") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All LGN -> V1 edges of one target population, drawn as :func:`select_source_cells` draws them.

    Sampling without replacement is done per target by ranking uniform keys over all sources (the first k
    of a uniformly random permutation are a uniform k-subset).

    Parameters
    ----------
    sources : NodeArrays
        LGN cells with ``x`` and ``y`` (deg).
    targets : NodeArrays
        V1 cells with ``positions`` (um).
    nsources_min, nsources_max, d_max, nsyn_min, nsyn_max, deg_per_um_x, deg_per_um_z, projection
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
    trg_xy = convert_to_2d(targets.array("positions"), deg_per_um_x, deg_per_um_z, projection)
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


@vectorized
def random_sources_fast(sources: NodeArrays, targets: NodeArrays, nsources: int,
                        seed: np.random.SeedSequence | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each target receives ``nsources`` distinct sources drawn uniformly from ``sources``, one synapse each.

    The background rule: no geometry, the same number of inputs per cell. Sampling without replacement ranks
    uniform keys over all sources per target, as :func:`select_source_cells_fast` does.

    Parameters
    ----------
    sources, targets : NodeArrays
        The background sources of one type and the V1 cells of one population.
    nsources : int
        Sources per target (<= the number of sources).
    seed : numpy.random.SeedSequence or int
        Seed of this edge type's random stream.

    Returns
    -------
    source_index, target_index, nsyns : numpy.ndarray
    """
    rng = np.random.default_rng(seed)
    n_src, n_trg = len(sources.node_ids), len(targets.node_ids)
    if not 1 <= nsources <= n_src:
        raise ValueError(f"nsources must be in [1, {n_src}] (the sources), got {nsources}.")
    found_src = []
    block_size = max(1, 2**22 // max(1, n_src))
    for begin in range(0, n_trg, block_size):
        stop = min(begin + block_size, n_trg)
        found_src.append(smallest_first(rng.random((stop - begin, n_src)), nsources).ravel())
    src_index = np.concatenate(found_src) if found_src else np.zeros(0, np.int64)
    trg_index = np.repeat(np.arange(n_trg), nsources)
    return src_index, trg_index, np.ones(len(src_index), np.int64)
