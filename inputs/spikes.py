"""Poisson spike trains of the LGN cells, drawn with bmtk's ``PoissonSpikeGenerator`` and written as SONATA spikes
(:func:`common.sonata.write_spikes`: the layout bmtk and libsonata both read).

Rates come from the committed tables beside this module (``lgn_rates.csv`` and its quantiles): no network and
no data folder are needed at run time. Homogeneous mode gives every LGN cell the typical rate of the chosen
genotype and stimulus; ``heterogeneous`` draws each cell's rate from the measured distribution of LGd unit
rates (inverse-CDF sampling, linear between the committed quantiles), because real LGN cells differ.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from common.sonata import write_spikes as write_sonata_spikes

from .rates import GENOTYPES, QC_CHOICES, quantiles_path
from .units import STIMULI, UnitsError

INPUTS_DIR = Path(__file__).resolve().parent
RATES_FILE = INPUTS_DIR / "lgn_rates.csv"
POPULATION = "LGN"


def lookup_rate(genotype: str, stimulus: str, qc: str = "snr4", table: Path = RATES_FILE) -> float:
    """The typical rate (Hz) of ``genotype`` and ``stimulus`` from the committed table.

    Raises
    ------
    UnitsError
        On an unknown genotype, stimulus or quality filter, or a combination with no recorded unit.

    Examples
    --------
    >>> lookup_rate("wt", "fl") > 0
    True
    """
    row = _row(pd.read_csv(table), genotype, stimulus, qc, table)
    return float(row.session_mean_hz)


def sample_rates(n_cells: int, genotype: str, stimulus: str, rng: np.random.Generator, qc: str = "snr4",
                 table: Path = RATES_FILE) -> np.ndarray:
    """Per-cell rates (Hz) drawn from the measured LGd unit-rate distribution (committed quantiles).

    Parameters
    ----------
    n_cells : int
        Number of rates.
    genotype, stimulus, qc : str
        Which distribution.
    rng : numpy.random.Generator
        Source of randomness.
    table : Path
        The rate table; its quantiles are read from ``<stem>_quantiles.csv`` beside it.

    Returns
    -------
    numpy.ndarray
        Rates (Hz), shape (n_cells,).
    """
    path = quantiles_path(Path(table))
    row = _row(pd.read_csv(path), genotype, stimulus, qc, path)
    columns = [c for c in row.index if c.startswith("rate_hz_p")]
    levels = np.array([int(c.removeprefix("rate_hz_p")) / 100 for c in columns])
    return np.interp(rng.random(n_cells), levels, row[columns].to_numpy(dtype=float))


def _row(table: pd.DataFrame, genotype: str, stimulus: str, qc: str, path: Path) -> pd.Series:
    for name, value, valid in (("genotype", genotype, GENOTYPES), ("stimulus", stimulus, STIMULI),
                               ("qc", qc, QC_CHOICES)):
        if value not in valid:
            raise UnitsError(f"unknown {name} {value!r}; valid choices are {list(valid)}.")
    match = table[(table.genotype == genotype) & (table.stimulus == stimulus) & (table.qc == qc)]
    if len(match) != 1 or not match.n_units.iloc[0] > 0:
        raise UnitsError(f"{path} has no recorded unit for genotype {genotype}, stimulus {stimulus}, qc {qc} "
                         "(that stimulus was not shown in the sessions tabulated).")
    return match.iloc[0]


def lgn_node_ids(network_dir: Path, default_n: int) -> np.ndarray:
    """Node ids of the built LGN (``network_dir/LGN_nodes.h5``), or 0..default_n-1 when it is not built."""
    path = Path(network_dir) / "LGN_nodes.h5"
    if path.is_file():
        with h5py.File(path, "r") as h5:
            return h5[f"nodes/{POPULATION}/node_id"][()].astype(np.int64)
    return np.arange(default_n)


def background_sources(network_dir: Path) -> tuple[str, np.ndarray, np.ndarray] | None:
    """The background population of a built network: its name, node ids and rates (Hz), or None if it has none.

    Reads ``BKG_nodes.h5`` and ``BKG_node_types.csv`` (the ``rate_hz`` of each node type) in ``network_dir``.
    """
    nodes, types = Path(network_dir) / "BKG_nodes.h5", Path(network_dir) / "BKG_node_types.csv"
    if not nodes.is_file():
        return None
    rate_of = pd.read_csv(types, sep=" ").set_index("node_type_id").rate_hz
    with h5py.File(nodes, "r") as h5:
        (population,) = list(h5["nodes"])
        ids = h5[f"nodes/{population}/node_id"][()].astype(np.int64)
        type_ids = h5[f"nodes/{population}/node_type_id"][()]
    return population, ids, rate_of.loc[type_ids].to_numpy(dtype=float)


def write_background_spikes(network_dir: Path, out: Path, tstop_ms: float, seed: int,
                            dt_ms: float | None = None) -> Path:
    """Poisson spikes of the background sources of the network in ``network_dir`` (see :func:`background_sources`).

    Drawn vectorized (``draw='numpy'``: 30,000 spikes per second of the default background) from the stream
    ``seed`` of the background, independent of the LGN's.

    Raises
    ------
    UnitsError
        If the network has no background population.
    """
    found = background_sources(network_dir)
    if found is None:
        raise UnitsError(f"{network_dir} has no background population (BKG_nodes.h5): build it with "
                         "python -m build_network --model background.")
    population, ids, rates = found
    stream_seed = np.random.SeedSequence(seed, spawn_key=(1,)).generate_state(1)[0]
    return write_spikes(out, ids, rates, tstop_ms, int(stream_seed), dt_ms, population=population, draw="numpy")


def write_spikes(out: Path, node_ids: np.ndarray, rates_hz: np.ndarray, tstop_ms: float, seed: int,
                 dt_ms: float | None = None, population: str = POPULATION, draw: str = "bmtk") -> Path:
    """Generate homogeneous Poisson spikes and save them as SONATA (:func:`common.sonata.write_spikes`).

    ``draw='bmtk'`` uses bmtk's ``PoissonSpikeGenerator``, which draws spike by spike in Python (about 14 us a
    spike: fine for the LGN's 10^4 to 10^5 spikes). ``draw='numpy'`` draws the same process vectorized (a Poisson
    count per cell, then uniform times), about 100x faster, for inputs of millions of spikes such as the
    circuits' drive. The two give different trains for the same seed.

    Written sorted by time, to a temporary file beside ``out`` and renamed when complete. With ``dt_ms``, spike
    times are
    rounded to multiples of dt (the earliest to dt), as NEST's spike generators need unless they run in the
    slower precise-time mode.

    Parameters
    ----------
    out : Path
        The SONATA spikes file.
    node_ids : numpy.ndarray
        LGN node ids.
    rates_hz : numpy.ndarray
        Rate of each node (Hz), same length as ``node_ids``; cells at 0 Hz stay silent.
    tstop_ms : float
        Spikes are drawn in (0, tstop_ms] (ms).
    seed : int
        Seed of bmtk's generator.
    dt_ms : float, optional
        Simulation time step (ms) to round the spike times to.
    population : str
        The node population the spikes belong to (default ``LGN``).
    draw : {'bmtk', 'numpy'}
        How the spike times are drawn (see above).

    Returns
    -------
    Path

    Raises
    ------
    UnitsError
        If ``tstop_ms`` is not positive or a rate is negative.
    """
    from bmtk.utils.reports.spike_trains import PoissonSpikeGenerator

    if draw not in ("bmtk", "numpy"):
        raise UnitsError(f"draw must be 'bmtk' or 'numpy', got {draw!r}.")
    if not tstop_ms > 0:
        raise UnitsError(f"--tstop must be > 0 ms, got {tstop_ms}.")
    if np.any(np.asarray(rates_hz) < 0):
        raise UnitsError("rates must be >= 0 Hz.")
    if draw == "bmtk":
        generator = PoissonSpikeGenerator(population=population, seed=seed, output_units="ms")
        for node_id, rate in zip(node_ids, rates_hz, strict=True):
            if rate > 0:
                generator.add(node_ids=int(node_id), firing_rate=float(rate), times=(0.0, tstop_ms / 1000.0))
    else:
        rng = np.random.default_rng(seed)
        counts = rng.poisson(np.asarray(rates_hz, dtype=float) * tstop_ms / 1000.0)
        ids = np.repeat(np.asarray(node_ids, dtype=np.int64), counts)
        return save_spikes(out, ids, rng.uniform(0.0, tstop_ms, counts.sum()), population, dt_ms)
    frame = generator.to_dataframe(with_population_col=False)
    return save_spikes(out, frame["node_ids"].to_numpy(), frame["timestamps"].to_numpy(), population, dt_ms)


def save_spikes(out: Path, node_ids: np.ndarray, times_ms: np.ndarray, population: str,
                dt_ms: float | None = None) -> Path:
    """Save given spikes as SONATA, sorted by time (:func:`common.sonata.write_spikes`: temporary file, renamed).

    Parameters
    ----------
    out : Path
        The SONATA spikes file.
    node_ids : numpy.ndarray
        Node id of each spike.
    times_ms : numpy.ndarray
        Time of each spike (ms), same length as ``node_ids``.
    population : str
        The node population the spikes belong to.
    dt_ms : float, optional
        Simulation time step (ms) to round the spike times to (the earliest to dt).

    Returns
    -------
    Path
    """
    times = np.asarray(times_ms, dtype=float)
    if dt_ms is not None:
        times = round_to_grid(times, dt_ms)
    return write_sonata_spikes(out, {population: (np.asarray(node_ids, dtype=np.int64), times)})


def round_to_grid(times_ms: np.ndarray, dt_ms: float) -> np.ndarray:
    """Spike times rounded to multiples of ``dt_ms``, the earliest to dt (NEST's grid spike generators need this).

    Examples
    --------
    >>> round_to_grid(np.array([0.01, 0.26, 1.0]), 0.1).tolist()
    [0.1, 0.30000000000000004, 1.0]
    """
    return np.maximum(np.round(np.asarray(times_ms, float) / dt_ms), 1) * dt_ms
