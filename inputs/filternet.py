"""The LGN as bmtk FilterNet sees it: the network's ``tON`` cells as linear-nonlinear filters of a movie.

Each LGN cell of the built network keeps its visual-field position (``x``, ``y`` in degrees, as the builder wrote
them) and gets the Billeh et al. 2020 ``tON`` filter of bmtk (``lgnmodel:tON_TF8`` with bmtk's own
``tON_TF8.json``, a Gaussian spatial field of size drawn uniformly in ``lgn.spatial_size_deg``, seeded by
``lgn.filter_seed``; sources in ``inputs/stimuli.json``). :func:`evaluate` writes these cells as a FilterNet SONATA
node population, plays each distinct stimulus to them as a 1 kHz movie through ``FilterNetwork`` and
``FilterSimulator`` (separable evaluation, which bmtk computes identically to the full convolution), and returns
the firing rates. FilterNet's rates are deterministic for a movie, so each distinct stimulus is evaluated once and
cached on disk (:data:`CACHE_DIR`, keyed by the cells, the filter and the stimulus).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from common.paths import REPO
from common.sonata import conform_network

from .stimuli import Stimulus, StimulusError, luminance

CACHE_DIR = REPO / ".cache" / "filternet"
LEAD_S = 0.5  # gray before each stimulus so the filters start from their steady state (the kernels span ~0.25 s)


def filter_models_dir() -> Path:
    """bmtk's folder of LGN filter parameters (``tON_TF8.json`` and the other Billeh et al. 2020 types)."""
    import bmtk

    return Path(bmtk.__file__).resolve().parent / "utils" / "scripts" / "filternet" / "filter_models"


def lgn_cells(network_dir: Path, protocol: dict) -> pd.DataFrame:
    """The network's LGN cells with their FilterNet receptive fields.

    Parameters
    ----------
    network_dir : Path
        A built network (``LGN_nodes.h5``).
    protocol : dict
        :func:`inputs.stimuli.load_protocol`'s protocol (its ``lgn`` section).

    Returns
    -------
    pandas.DataFrame
        ``node_id``, ``x``, ``y`` (deg), ``spatial_size`` (deg), one row per LGN cell in file order.

    Raises
    ------
    StimulusError
        If the nodes file is missing or has no ``x``/``y``.
    """
    path = Path(network_dir) / "LGN_nodes.h5"
    try:
        with h5py.File(path, "r") as h5:
            grp = h5["nodes/LGN"]
            cells = pd.DataFrame({"node_id": grp["node_id"][()].astype(np.int64), "x": grp["0/x"][()].astype(float),
                                  "y": grp["0/y"][()].astype(float)})
    except (OSError, KeyError) as err:
        raise StimulusError(f"{path}: cannot read the LGN cells' node_id and x, y positions ({err}); build the "
                            "network with: python -m build_network") from None
    low, high = protocol["lgn"]["spatial_size_deg"]
    rng = np.random.default_rng([int(protocol["lgn"]["filter_seed"]), 3])
    return cells.assign(spatial_size=rng.uniform(low, high, len(cells)))


def screen(cells: pd.DataFrame, protocol: dict) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres (deg) of a screen covering every receptive field with a margin: (x columns, y rows)."""
    pixel, margin = protocol["pixel_deg"], protocol["screen_margin_deg"]
    half_x = np.ceil((np.abs(cells.x).max() + margin) / pixel) * pixel
    half_y = np.ceil((np.abs(cells.y).max() + margin) / pixel) * pixel
    return np.arange(-half_x, half_x + pixel / 2, pixel), np.arange(-half_y, half_y + pixel / 2, pixel)


def cache_key(cells: pd.DataFrame, stimulus: Stimulus, protocol: dict) -> str:
    """Hash of everything the rates depend on: cells, filter, stimulus, frames, screen and bmtk's version."""
    import bmtk

    lgn = {k: protocol["lgn"][k] for k in ("model_template", "dynamics_params")}
    content = json.dumps({"cells": np.round(cells[["x", "y", "spatial_size"]].to_numpy(), 9).tolist(), "lgn": lgn,
                          "stimulus": [stimulus.key, stimulus.kind, stimulus.on_s, stimulus.cycle_s, stimulus.params],
                          "frames": [protocol["frame_rate_hz"], protocol["pixel_deg"], protocol["screen_margin_deg"]],
                          "lead_s": LEAD_S, "bmtk": bmtk.__version__}, sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()[:20]


def _filternet_config(work: Path, nodes_dir: Path, movie_file: Path, n_frames: int, rows: np.ndarray,
                      cols: np.ndarray, frame_rate_hz: float) -> dict:
    return {
        "manifest": {"$BASE_DIR": str(work)},
        "target_simulator": "LGNModel",
        "run": {"tstart": 0.0, "tstop": 1000.0 * n_frames / frame_rate_hz, "dt": 1000.0 / frame_rate_hz},
        "inputs": {"movie": {"input_type": "movie", "module": "movie", "data_file": str(movie_file),
                             "frame_rate": frame_rate_hz, "row_range": rows.tolist(), "col_range": cols.tolist(),
                             "evaluation_options": {"separable": True}}},
        "output": {"output_dir": str(work / "output"), "rates_h5": "rates.h5", "log_file": "log.txt",
                   "log_to_console": False, "overwrite_output_dir": True},
        "components": {"filter_models_dir": str(filter_models_dir())},
        "networks": {"nodes": [{"nodes_file": str(nodes_dir / "LGN_nodes.h5"),
                                "node_types_file": str(nodes_dir / "LGN_node_types.csv")}]},
    }


def write_filter_nodes(cells: pd.DataFrame, protocol: dict, out_dir: Path) -> Path:
    """Write the LGN cells as a FilterNet SONATA node population (bmtk ``NetworkBuilder``, then
    :func:`common.sonata.conform_network`: the layout libsonata reads too), in ``cells`` order."""
    from bmtk.builder import NetworkBuilder

    net = NetworkBuilder("LGN")
    net.add_nodes(N=len(cells), x=cells.x.to_numpy(), y=cells.y.to_numpy(),
                  spatial_size=cells.spatial_size.to_numpy(), model_type="virtual",
                  model_template=protocol["lgn"]["model_template"],
                  dynamics_params=protocol["lgn"]["dynamics_params"], pop_name="tON")
    net.build()
    net.save_nodes(output_dir=str(out_dir), compression="none")  # libsonata's wheels read no gzip
    conform_network(out_dir)
    return Path(out_dir)


def run_filternet(cells: pd.DataFrame, frames: np.ndarray, protocol: dict, rows: np.ndarray,
                  cols: np.ndarray, progress: bool = False) -> np.ndarray:
    """Play ``frames`` to the cells through bmtk FilterNet; return their rates (Hz), shape (cells, frames).

    Parameters
    ----------
    cells : pandas.DataFrame
        :func:`lgn_cells`.
    frames : numpy.ndarray
        Movie (T, rows, cols) in contrast units, at ``protocol['frame_rate_hz']``.
    protocol : dict
    rows, cols : numpy.ndarray
        Pixel centres (deg): y of the rows, x of the columns.
    progress : bool
        Show a progress bar over the cells (FilterNet evaluates cell by cell).
    """
    from bmtk.simulator import filternet

    for name in ("bmtk", "FilterNetIOUtils", "bmtk.simulator.filternet"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="filternet-") as tmp:
        work = Path(tmp)
        nodes_dir = write_filter_nodes(cells, protocol, work / "network")
        movie_file = work / "movie.npy"
        np.save(movie_file, frames)
        config = filternet.Config.from_dict(_filternet_config(work, nodes_dir, movie_file, len(frames), rows, cols,
                                                              protocol["frame_rate_hz"]))
        config.build_env()
        network = filternet.FilterNetwork.from_config(config)
        sim = filternet.FilterSimulator.from_config(config, network)
        if progress:
            cells_of = sim.local_cells
            sim.local_cells = lambda: tqdm(cells_of(), desc="FilterNet", unit="cell")
        sim.run()
        with h5py.File(work / "output" / "rates.h5", "r") as h5:
            grp = h5["firing_rates/LGN"]
            rates = grp["firing_rates_Hz"][()].T
            order = grp["node_id"][()]
    out = np.empty_like(rates)
    out[order] = rates  # FilterNet's node ids are 0..n-1 in the order of ``cells``
    return out


def evaluate(cells: pd.DataFrame, stimuli: list[Stimulus], protocol: dict, cache_dir: Path | None = CACHE_DIR,
             progress: bool = True) -> dict[str, np.ndarray]:
    """FilterNet rates of every cell for one trial cycle of each distinct stimulus.

    The stimuli not in the cache are played in one FilterNet run, each after ``LEAD_S`` of gray (so every one
    starts from the filters' steady state), and each one's rates are kept from its onset to the end of its cycle.
    Results are cached in ``cache_dir`` (None: no cache).

    Returns
    -------
    dict of str to numpy.ndarray
        Stimulus key -> rates (Hz, float32), shape (cells, frames of one cycle), rows in ``cells`` order.
    """
    rate = protocol["frame_rate_hz"]
    cols, rows = screen(cells, protocol)
    lead = int(round(LEAD_S * rate))
    result, todo = {}, []
    for stim in stimuli:
        path = None if cache_dir is None else Path(cache_dir) / f"{stim.key}-{cache_key(cells, stim, protocol)}.npy"
        if path is not None and path.is_file():
            result[stim.key] = np.load(path)
        else:
            todo.append((stim, path))
    if not todo:
        return result
    lengths = [lead + int(round(stim.cycle_s * rate)) for stim, _ in todo]
    frames = np.zeros((sum(lengths), len(rows), len(cols)), dtype=np.float32)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for (stim, _), start, n in zip(todo, offsets, lengths, strict=False):
        frames[start:start + n] = luminance(stim, (np.arange(n) - lead) / rate, cols, rows)
    if progress:
        print(f"FilterNet: {len(cells)} LGN cells, {len(todo)} stimuli, {len(frames) / rate:.1f} s of movie at "
              f"{rate:g} frames/s ...", flush=True)
    rates = run_filternet(cells, frames, protocol, rows, cols, progress=progress)
    for (stim, path), start, n in zip(todo, offsets, lengths, strict=False):
        result[stim.key] = cycle = np.ascontiguousarray(rates[:, start + lead:start + n], dtype=np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
            np.save(tmp, cycle)
            os.replace(tmp, path)
    return result
