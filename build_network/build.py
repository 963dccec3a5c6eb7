"""Build the V1 and LGN networks of the seed model and save them as SONATA with bmtk.

The V1 column is a cylinder of cells at constant density: its depth range is fixed (L2/3, ``column.json``)
and its radius grows with the number of cells. Positions are (x, y, z) in um with y the vertical axis
(y = -depth below the pia) and x, z lateral, as in the Allen V1 model; ``convert_to_2d`` maps x and z to the
visual field. The LGN cells are placed uniformly over the rectangle of visual field (deg) that the column
maps onto, so that every V1 cell sits inside the LGN field.

All randomness comes from one master seed, expanded into named, independent streams
(:func:`common.seeds.stream`): the same seed gives the same network, whatever the order of the edge types.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import bmtk
import numpy as np
import pandas as pd
from bmtk.builder import NetworkBuilder
from tqdm import tqdm

from common.locks import folder_lock, remove_leftovers, replace_folder
from common.seeds import stream
from common.sonata import conform_network

from . import params
from .adaptor import SparseNetwork
from .background import BACKGROUND_FILE, POOL_FILE, Background, load_background
from .rules import (
    convert_to_2d,
    distance_connector,
    distance_connector_fast,
    random_sources_fast,
    select_source_cells,
    select_source_cells_fast,
)

NETWORK_FILES = (
    "V1_nodes.h5", "V1_node_types.csv", "LGN_nodes.h5", "LGN_node_types.csv",
    "V1_V1_edges.h5", "V1_V1_edge_types.csv", "LGN_V1_edges.h5", "LGN_V1_edge_types.csv",
)
BACKGROUND_FILES = ("BKG_nodes.h5", "BKG_node_types.csv", "BKG_V1_edges.h5", "BKG_V1_edge_types.csv")
#: Written beside the network files by :func:`build_network`: the mark of this project's own network.
BUILD_INFO = "build_info.json"


def is_project_network(nodes_file: Path) -> bool:
    """Whether ``nodes_file`` belongs to a network this builder made (:data:`BUILD_INFO` beside it, links followed:
    the seed tuning links the built files into its evaluation folders).

    A network of anyone else (bmtk's examples, a network of your own) may reuse a pop_name such as ``LIF_exc``; only
    the project's own populations are the mouse V1 L2/3 model that the reference describes.
    """
    nodes_file = Path(nodes_file)
    return any((folder / BUILD_INFO).is_file() for folder in {nodes_file.parent, nodes_file.resolve().parent})
SYNAPSE_MODEL = {"e": "instantaneousExc.json", "i": "instantaneousInh.json"}
#: The two models (``--model``): the seed's, driven by the LGN alone, and the V1 with a background population
#: and physiological LGN synapses (issue 19). Each names its weight scales and whether it has a background.
MODELS = {
    "seed": {"weight_scales": params.WEIGHT_SCALES_FILE, "background": False},
    "background": {"weight_scales": params.COMPONENTS_DIR / "weight_scales_background.json", "background": True},
}
RULES = ("fast", "reference")
#: HDF5 compression of the written files, as bmtk's writer takes it. The default, none, makes bmtk's save about
#: 3x faster than gzip, bmtk's own default, for files about 4x larger; the content is the same.
COMPRESSIONS = ("none", "gzip")
# Node- and edge-type ids: V1 types from 100, LGN types from 200, background from 300: unique across the files.
V1_TYPE_ID, LGN_TYPE_ID, BKG_TYPE_ID = 100, 200, 300
DEFAULT_MODEL = "background"


@dataclass(frozen=True)
class ModelSpec:
    """The parameter tables of the model, loaded and validated (see :mod:`build_network.params`)."""

    populations: pd.DataFrame
    v1_connections: pd.DataFrame
    lgn_connections: pd.DataFrame
    column: params.Column
    weight_scales: dict
    background: Background | None = None

    @classmethod
    def load(cls, populations_file: Path = params.POPULATIONS_FILE,
             v1_connections_file: Path = params.V1_CONNECTIONS_FILE,
             lgn_connections_file: Path = params.LGN_CONNECTIONS_FILE,
             column_file: Path = params.COLUMN_FILE,
             weight_scales_file: Path = params.WEIGHT_SCALES_FILE,
             background_files: tuple[Path, Path] | None = None) -> ModelSpec:
        """Load and validate the parameter files.

        Parameters
        ----------
        background_files : tuple of Path, optional
            ``background.csv`` and ``background.json``: the model has a background population (default none:
            the seed's model).

        Raises
        ------
        ParameterError
            If any file holds a value the builder cannot use.
        """
        column = params.load_column(column_file)
        populations = params.load_populations(populations_file)
        background = None if background_files is None else load_background(populations, *background_files)
        return cls(populations=populations,
                   v1_connections=params.load_v1_connections(populations, v1_connections_file),
                   lgn_connections=params.load_lgn_connections(populations, column, lgn_connections_file),
                   column=column, weight_scales=params.load_weight_scales(populations, weight_scales_file),
                   background=background)

    @classmethod
    def for_model(cls, model: str) -> ModelSpec:
        """The committed parameters of one of :data:`MODELS` (``'background'`` or ``'seed'``).

        Raises
        ------
        ParameterError
            On an unknown model name.
        """
        if model not in MODELS:
            raise params.ParameterError(f"unknown model {model!r}; valid models are {list(MODELS)}.")

        return cls.load(weight_scales_file=MODELS[model]["weight_scales"],
                        background_files=(BACKGROUND_FILE, POOL_FILE) if MODELS[model]["background"] else None)


def column_positions(n_cells: int, radius_um: float, depth_min_um: float, depth_max_um: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Positions uniform in a vertical cylinder.

    Parameters
    ----------
    n_cells : int
        Number of positions.
    radius_um : float
        Cylinder radius (um).
    depth_min_um, depth_max_um : float
        Depth range below the pia (um); y = -depth.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray, shape (n_cells, 3)
        (x, y, z) in um.
    """
    r = radius_um * np.sqrt(rng.random(n_cells))
    theta = rng.uniform(0.0, 2.0 * np.pi, n_cells)
    y = -rng.uniform(depth_min_um, depth_max_um, n_cells)
    return np.column_stack((r * np.cos(theta), y, r * np.sin(theta)))


def visual_projection(column: params.Column, radius_um: float) -> str:
    """The visual-field map of a column: the seed's tangent (``'tan'``) while the column's edge lies below 90 deg
    of visual angle, else the visual angle itself (``'angle'``), see :func:`~build_network.rules.convert_to_2d`.

    The tangent passes through infinity at 90 deg and changes sign beyond: with the seed's 0.07 deg/um, a column
    wider than 1,286 um in radius (about 109,000 cells at 1e5 cells/mm^3 over 210 um) folds back onto itself, and
    its LGN field would have a negative width (the ``ValueError: high - low < 0`` of numpy's ``uniform``).

    Examples
    --------
    >>> column = params.load_column()
    >>> visual_projection(column, column.radius_um(10_000)), visual_projection(column, column.radius_um(230_924))
    ('tan', 'angle')
    """
    widest = max(column.deg_per_um_x, column.deg_per_um_z) * radius_um
    return "tan" if widest < 90.0 else "angle"


def lgn_field_deg(column: params.Column, radius_um: float) -> tuple[float, float]:
    """Half-widths (deg) of the visual field the column maps onto: the LGN field is [-X, X] x [-Y, Y]."""
    half = convert_to_2d([radius_um, 0.0, radius_um], column.deg_per_um_x, column.deg_per_um_z,
                         visual_projection(column, radius_um))[0]
    return float(half[0]), float(half[1])


def build_v1(spec: ModelSpec, n_cells: int, seed: int, rule: str = "fast") -> NetworkBuilder:
    """Create the V1 cells and their V1 -> V1 edge types (built later, at save).

    Parameters
    ----------
    spec : ModelSpec
        Model parameters.
    n_cells : int
        Number of V1 cells, split among populations by their fractions.
    seed : int
        Master seed.
    rule : {'fast', 'reference'}
        Vectorized rules, or the seed's per-pair rule through bmtk's own dense path.

    Returns
    -------
    bmtk.builder.NetworkBuilder
    """
    sizes = params.population_sizes(spec.populations, n_cells)
    radius = spec.column.radius_um(n_cells)
    positions = column_positions(n_cells, radius, spec.column.depth_min_um, spec.column.depth_max_um,
                                 np.random.default_rng(stream(seed, "v1_positions")))
    v1 = NetworkBuilder("V1", adaptor_cls=SparseNetwork)
    start = 0
    for k, pop in enumerate(spec.populations.itertuples()):
        n = sizes[pop.pop_name]
        v1.add_nodes(N=n, node_type_id=V1_TYPE_ID + k, pop_name=pop.pop_name, ei=pop.ei, location="VisL23",
                     model_type="point_process", model_template=pop.model_template, dynamics_params=pop.dynamics_params,
                     positions=positions[start:start + n])
        start += n
    ei = dict(zip(spec.populations.pop_name, spec.populations.ei, strict=True))
    for k, row in enumerate(spec.v1_connections.itertuples()):
        scale = spec.weight_scales[f"{ei[row.source]}_to_{ei[row.target]}"]
        name = f"v1_edges:{row.source}->{row.target}"
        rule_params = dict(d_weight_min=row.d_weight_min, d_weight_max=row.d_weight_max, d_max=row.d_max_um,
                           nsyn_min=int(row.nsyn_min), nsyn_max=int(row.nsyn_max))
        if rule == "fast":
            connector, rule_params["seed"] = distance_connector_fast, stream(seed, name)
        else:
            connector, rule_params["rng"] = distance_connector, np.random.default_rng(stream(seed, name))
        v1.add_edges(source={"pop_name": row.source}, target={"pop_name": row.target},
                     connection_rule=connector, connection_params=rule_params, edge_type_id=V1_TYPE_ID + k,
                     syn_weight=_syn_weight(row, ei[row.source]) * scale,
                     delay=row.delay_ms,
                     dynamics_params=SYNAPSE_MODEL[ei[row.source]], model_template="static_synapse")
    return v1


def build_lgn(spec: ModelSpec, v1: NetworkBuilder, n_cells: int, seed: int,
              rule: str = "fast") -> NetworkBuilder:
    """Create the LGN cells and the LGN -> V1 edge types (built later, at save).

    Parameters
    ----------
    spec : ModelSpec
        Model parameters.
    v1 : bmtk.builder.NetworkBuilder
        The V1 network the LGN projects to.
    n_cells : int
        Number of V1 cells (sets the column radius, hence the LGN field).
    seed : int
        Master seed.
    rule : {'fast', 'reference'}
        As :func:`build_v1`.

    Returns
    -------
    bmtk.builder.NetworkBuilder
    """
    column = spec.column
    half_x, half_y = lgn_field_deg(column, column.radius_um(n_cells))
    rng = np.random.default_rng(stream(seed, "lgn_positions"))
    lgn = NetworkBuilder("LGN", adaptor_cls=SparseNetwork)
    lgn.add_nodes(N=column.lgn_n_cells, node_type_id=LGN_TYPE_ID, pop_name=column.lgn_pop_name, ei="e",
                  model_type="virtual",
                  x=rng.uniform(-half_x, half_x, column.lgn_n_cells),
                  y=rng.uniform(-half_y, half_y, column.lgn_n_cells))
    for k, row in enumerate(spec.lgn_connections.itertuples()):
        name = f"lgn_edges:->{row.target}"
        rule_params = dict(nsources_min=int(row.nsources_min), nsources_max=int(row.nsources_max),
                           d_max=row.d_max_deg, nsyn_min=int(row.nsyn_min), nsyn_max=int(row.nsyn_max),
                           deg_per_um_x=column.deg_per_um_x, deg_per_um_z=column.deg_per_um_z,
                           projection=visual_projection(column, column.radius_um(n_cells)))
        iterator = "one_to_one"
        if rule == "fast":
            connector, rule_params["seed"] = select_source_cells_fast, stream(seed, name)
        else:
            connector, rule_params["rng"] = select_source_cells, np.random.default_rng(stream(seed, name))
            iterator = "all_to_one"
        lgn.add_edges(source=lgn.nodes(), target=v1.nodes(pop_name=row.target), connection_rule=connector,
                      connection_params=rule_params, iterator=iterator, edge_type_id=LGN_TYPE_ID + k,
                      syn_weight=_syn_weight(row, "e") * spec.weight_scales[f"lgn_to_{row.target}"],
                      delay=row.delay_ms,
                      dynamics_params=SYNAPSE_MODEL["e"], model_template="static_synapse")
    return lgn


def build_background(background: Background, v1: NetworkBuilder, seed: int) -> NetworkBuilder:
    """Create the background sources and their edge types onto V1 (built later, at save).

    Parameters
    ----------
    background : Background
        The background's parameters.
    v1 : bmtk.builder.NetworkBuilder
        The V1 network it projects to.
    seed : int
        Master seed.

    Returns
    -------
    bmtk.builder.NetworkBuilder
        Virtual nodes ``pop_name`` ``bkg_exc`` and ``bkg_inh`` (``rate_hz`` a node attribute, read by the
        spike writer), one edge type per source type and target population, one synapse per connection.
    """
    bkg = NetworkBuilder(background.population, adaptor_cls=SparseNetwork)
    for k, (kind, n) in enumerate(background.n_sources.items()):
        bkg.add_nodes(N=n, node_type_id=BKG_TYPE_ID + k, pop_name=f"bkg_{kind}", ei=kind[0],
                      model_type="virtual", rate_hz=background.rate_hz)
    for k, row in enumerate(background.connections.itertuples()):
        ei = row.source_type[0]
        name = f"bkg_edges:{row.source_type}->{row.target}"
        bkg.add_edges(source=bkg.nodes(pop_name=f"bkg_{row.source_type}"), target=v1.nodes(pop_name=row.target),
                      connection_rule=random_sources_fast,
                      connection_params={"nsources": int(row.nsources), "seed": stream(seed, name)},
                      edge_type_id=BKG_TYPE_ID + k, syn_weight=(1.0 if ei == "e" else -1.0) * row.psp_mv,
                      delay=row.delay_ms, dynamics_params=SYNAPSE_MODEL[ei], model_template="static_synapse")
    return bkg


def _syn_weight(row, ei: str) -> float:
    """Unscaled weight per synapse (mV): the unitary PSP spread over the mean synapse count, signed by the source.

    NEST's weight of a connection is nsyns x syn_weight, so a connection with the mean number of synapses
    makes a jump of ``psp_mv`` in the ``iaf_psc_delta`` target (before the weight scale of its block).
    """
    mean_nsyn = (row.nsyn_min + row.nsyn_max) / 2.0
    return (1.0 if ei == "e" else -1.0) * row.psp_mv / mean_nsyn


def build_network(out_dir: Path, n_cells: int | None = None, seed: int = 0, spec: ModelSpec | None = None,
                  rule: str = "fast", force: bool = False, progress: bool = True,
                  compression: str = "none") -> dict:
    """Build V1 and LGN and write the eight SONATA files (and ``build_info.json``) to ``out_dir``.

    Everything is written to a temporary folder beside ``out_dir`` and moved into place only when complete:
    a failed or interrupted build leaves a previous ``out_dir`` as it was.

    Parameters
    ----------
    out_dir : Path
        Destination folder.
    n_cells : int, optional
        Number of V1 cells (default: ``column.json``'s ``n_cells``).
    seed : int
        Master seed; the same seed gives identical datasets.
    spec : ModelSpec, optional
        Model parameters (default: the files beside this module).
    rule : {'fast', 'reference'}
        Vectorized rules, or the seed's per-pair rules (slow; for checks and benchmarks).
    force : bool
        Replace an existing, non-empty ``out_dir``.
    progress : bool
        Show a progress bar over the edge types and the files written.
    compression : {'none', 'gzip'}
        HDF5 compression of the ``.h5`` files (see :data:`COMPRESSIONS`); it does not change their content.

    Returns
    -------
    dict
        The build summary also written to ``build_info.json``.

    Raises
    ------
    ParameterError
        On invalid parameters (before anything is written).
    FileExistsError
        If ``out_dir`` holds files and ``force`` is false.
    common.locks.FolderBusyError
        If another build into ``out_dir`` is under way (its lock ``.<name>.lock`` beside ``out_dir``); nothing is
        written. Temporary folders of killed builds beside ``out_dir`` are removed first.
    """
    if rule not in RULES:
        raise params.ParameterError(f"rule {rule!r} is not one of {RULES}.")
    if compression not in COMPRESSIONS:
        raise params.ParameterError(f"compression {compression!r} is not one of {COMPRESSIONS}.")
    spec = spec or ModelSpec.load()
    n_cells = spec.column.n_cells if n_cells is None else int(n_cells)
    sizes = params.population_sizes(spec.populations, n_cells)
    out_dir = Path(out_dir)
    with folder_lock(out_dir, "a network build"):  # a second build into out_dir stops here, naming this one
        remove_leftovers(out_dir, ("building", "old"), "an interrupted build")
        if out_dir.exists() and any(out_dir.iterdir()) and not force:
            raise FileExistsError(f"{out_dir} already holds files; pass --force to replace them "
                                  "(the old folder is kept until the new build is complete).")
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
        try:
            v1 = build_v1(spec, n_cells, seed, rule)
            lgn = build_lgn(spec, v1, n_cells, seed, rule)
            networks = (v1, lgn) if spec.background is None else (v1, lgn,
                                                                  build_background(spec.background, v1, seed))
            _build_and_save(networks, spec, tmp, compression, progress)
            info = _build_info(spec, tmp, n_cells, seed, rule, sizes, compression)
            (tmp / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")
            swap_into_place(tmp, out_dir)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return info


def _build_and_save(networks: tuple[NetworkBuilder, ...], spec: ModelSpec, folder: Path, compression: str,
                    progress: bool) -> None:
    """Build each network's edges and save its nodes and edges with bmtk's writer, one network after the other;
    then give the files the SONATA layout libsonata reads as well (:func:`common.sonata.conform_network`: ``x``,
    ``y``, ``z`` beside ``positions``, ``node_id_to_ranges`` beside ``node_id_to_range``, type tables with LF line
    ends, a ``population`` column, ``model_type`` ``point_neuron`` and ``model_template`` ``NULL`` for virtual
    nodes).

    A network's edge tables are handed to bmtk's writer and freed before the next network is built, so the
    peak memory is that of the larger network, not of both.

    Parameters
    ----------
    networks : tuple of bmtk.builder.NetworkBuilder
        The networks, in build order (V1 first: the LGN edges target it).
    spec : ModelSpec
        Model parameters (names the edge types for the progress bar).
    folder : Path
        Output folder.
    compression : str
        HDF5 compression, one of :data:`COMPRESSIONS`.
    progress : bool
        Show a progress bar: one step per edge type and per file written, and one for the SONATA layout.
    """

    steps = [f"V1: {r.source}->{r.target}" for r in spec.v1_connections.itertuples()]
    steps += [f"LGN: ->{r.target}" for r in spec.lgn_connections.itertuples()]
    if spec.background is not None:
        steps += [f"BKG: {r.source_type}->{r.target}" for r in spec.background.connections.itertuples()]
    n_steps = len(steps) + 2 * len(networks) + 1
    done = 0  # edge types built so far

    def edge_type_done(n: int = 1) -> None:
        nonlocal done
        done += n
        bar.update(n)
        bar.set_postfix_str(steps[done] if done < len(steps) else "", refresh=False)

    with tqdm(total=n_steps, desc="building", unit="step", disable=not progress) as bar:
        for net in networks:
            bar.set_postfix_str(steps[done] if done < len(steps) else "")
            net.adaptor.progress = edge_type_done
            net.adaptor.stage = lambda text, name=net.name: bar.set_postfix_str(f"{name} edges: {text}")
            net.build()
            bar.set_postfix_str(f"writing {net.name}_nodes.h5")
            net.save_nodes(output_dir=str(folder), compression=compression)
            bar.update()
            bar.set_postfix_str(f"writing {net.name}'s edges files")
            net.save_edges(output_dir=str(folder), force_overwrite=True, compression=compression)
            bar.update()
        bar.set_postfix_str("SONATA layout (x, y, z; node_id_to_ranges; type tables)")
        conform_network(folder)
        bar.update()
        bar.set_postfix_str("done")


def _build_info(spec: ModelSpec, folder: Path, n_cells: int, seed: int, rule: str, sizes: dict,
                compression: str) -> dict:
    files = NETWORK_FILES + (BACKGROUND_FILES if spec.background is not None else ())
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise RuntimeError(f"bmtk wrote no {missing} (an edge type produced no edge?); nothing was saved.")
    radius = spec.column.radius_um(n_cells)
    half_x, half_y = lgn_field_deg(spec.column, radius)
    return {"seed": seed, "n_cells": n_cells, "rule": rule, "population_sizes": sizes,
            "column_radius_um": round(radius, 3),
            "depth_range_um": [spec.column.depth_min_um, spec.column.depth_max_um],
            "lgn_n_cells": spec.column.lgn_n_cells, "lgn_field_deg": [round(half_x, 4), round(half_y, 4)],
            "visual_projection": visual_projection(spec.column, radius),
            "weight_scales": spec.weight_scales, "compression": compression,
            "background": None if spec.background is None else {
                "population": spec.background.population, "n_sources": spec.background.n_sources,
                "rate_hz": spec.background.rate_hz,
                "psp_mv": {f"{r.source_type}->{r.target}": r.psp_mv for r in spec.background.connections.itertuples()}},
            "bmtk_version": bmtk.__version__, "files": list(files)}


def swap_into_place(tmp: Path, out_dir: Path) -> None:
    """Move the completed folder ``tmp`` to ``out_dir``, replacing (and then deleting) a previous ``out_dir``.

    One atomic exchange where the file system allows it (:func:`common.locks.replace_folder`): ``out_dir`` holds
    the previous folder or the new one at every instant, even if the process is killed.
    """
    replace_folder(tmp, out_dir, out_dir.with_name(f".{out_dir.name}.old-{tmp.name}"))
