"""Build a circuit as a self-contained PointNet folder: SONATA network, components, Poisson drive, config.json.

The network is made by bmtk's ``NetworkBuilder`` with the V1 builder's machinery: the
:class:`~build_network.adaptor.SparseNetwork` adaptor with vectorized rules, the named random streams of
:func:`common.seeds.stream` and its build-in-a-temporary-folder-then-swap. Folder layout::

    DIR/config.json                     the PointNet configuration (python run_pointnet.py DIR/config.json)
    DIR/circuit.json                    what was built: topology, weight scale, seed, parameters
    DIR/network/circuit_*.h5|csv        the circuit (population ``circuit``, pop_name E / I)
    DIR/network/drive_*.h5|csv          one virtual Poisson source per cell (population ``drive``)
    DIR/components/...                  the neuron (iaf_cond_exp) and synapse parameter files
    DIR/inputs/drive_spikes.h5          the drive's spikes
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from bmtk.builder import NetworkBuilder

from build_network.adaptor import SparseNetwork
from build_network.build import swap_into_place
from common.seeds import stream
from common.sonata import conform_network
from inputs.spikes import write_spikes

from .params import CircuitSpec
from .topology import circuit_connector, layer_of, one_to_one, ring_positions

POPULATION, DRIVE = "circuit", "drive"
NEURON_FILE, SYNAPSE_FILE = "circuit_neuron.json", "static.json"
#: Node- and edge-type ids of the circuits (the V1 model uses 1xx and 2xx).
TYPE_ID = {"e": 300, "i": 301, DRIVE: 310}
RING_RADIUS_UM, LAYER_SPACING_UM, DISK_RADIUS_UM = 500.0, 300.0, 500.0
CLASS_NAMES = {"e": "E", "i": "I"}


def _positions(spec: CircuitSpec, rng: np.random.Generator) -> dict[str, dict]:
    """Per class: node attributes that place the cells (for the topology and for drawing; positions in um)."""
    sizes = spec.population_sizes()
    attrs: dict[str, dict] = {}
    if spec.topology == "ring":
        ring = dict(zip(("e", "i"), ring_positions(sizes["e"], sizes["i"]), strict=True))
        for c, pos in ring.items():
            angle = 2.0 * np.pi * pos
            attrs[c] = {"ring_position": pos, "positions": np.column_stack(
                (RING_RADIUS_UM * np.cos(angle), RING_RADIUS_UM * np.sin(angle), np.zeros(len(pos))))}
    elif spec.topology == "layered":
        n_layers = int(spec.params["layered"]["n_layers"])
        for c, n in sizes.items():
            layer = layer_of(n, n_layers)
            attrs[c] = {"layer": layer, "positions": np.column_stack(
                (layer * LAYER_SPACING_UM, rng.uniform(-DISK_RADIUS_UM, DISK_RADIUS_UM, n), np.zeros(n)))}
    else:
        for c, n in sizes.items():
            r, theta = DISK_RADIUS_UM * np.sqrt(rng.random(n)), rng.uniform(0, 2 * np.pi, n)
            attrs[c] = {"positions": np.column_stack((r * np.cos(theta), r * np.sin(theta), np.zeros(n)))}
    return attrs


def build_builders(spec: CircuitSpec) -> tuple[NetworkBuilder, NetworkBuilder]:
    """The circuit and drive networks with all node and edge types (edges are drawn at ``build()``)."""
    net = NetworkBuilder(POPULATION, adaptor_cls=SparseNetwork)
    attrs = _positions(spec, np.random.default_rng(stream(spec.seed, "circuit_positions")))
    for c, n in spec.population_sizes().items():
        net.add_nodes(N=n, node_type_id=TYPE_ID[c], pop_name=CLASS_NAMES[c], ei=c, model_type="point_process",
                      model_template="nest:iaf_cond_exp", dynamics_params=NEURON_FILE, **attrs[c])
    p = spec.params
    delay = float(p["delay_ms"])
    for k, (s, t) in enumerate((s, t) for s in ("e", "i") for t in ("e", "i")):
        name = f"circuit_edges:{s}->{t}"
        net.add_edges(source={"ei": s}, target={"ei": t}, connection_rule=circuit_connector,
                      connection_params={"topology": spec.topology,
                                         "p": float(p["connection_probability"][f"{s}_to_{t}"]),
                                         "source_is_exc": s == "e", "seed": stream(spec.seed, name),
                                         "ring_width": float(p["ring"]["width"]),
                                         "p_forward": float(p["layered"]["p_forward"])},
                      edge_type_id=TYPE_ID["e"] + k, syn_weight=spec.weight_nS(s), delay=delay,
                      dynamics_params=SYNAPSE_FILE, model_template="static_synapse")
    drive = NetworkBuilder(DRIVE, adaptor_cls=SparseNetwork)
    drive.add_nodes(N=spec.n_cells, node_type_id=TYPE_ID[DRIVE], pop_name="poisson", model_type="virtual")
    drive.add_edges(source=drive.nodes(), target=net.nodes(), connection_rule=one_to_one,
                    edge_type_id=TYPE_ID[DRIVE], syn_weight=float(p["drive"]["weight_nS"]), delay=delay,
                    dynamics_params=SYNAPSE_FILE, model_template="static_synapse")
    return net, drive


def pointnet_config(spec: CircuitSpec, n_thread: int | str = 1) -> dict:
    """The PointNet configuration of a circuit folder (paths relative to the folder)."""
    run = spec.params["run"]
    return driven_pointnet_config(DRIVE, POPULATION, (POPULATION, DRIVE), "drive_spikes", float(run["tstop_ms"]),
                                  float(run["dt_ms"]), n_thread)


def driven_pointnet_config(drive: str, network: str, edge_sources: tuple[str, ...], input_name: str,
                           tstop_ms: float, dt_ms: float, n_thread: int | str) -> dict:
    """The PointNet configuration of a folder holding a network driven by a virtual population.

    Parameters
    ----------
    drive, network : str
        Population names: the virtual drive (its spikes in ``inputs/<input_name>.h5``) and the simulated network,
        whose files NetworkBuilder saved in ``network/``.
    edge_sources : tuple of str
        The source populations of the edge files into ``network``, in the configuration's order.
    input_name : str
        Name of the spike input (and of its file).
    tstop_ms, dt_ms : float
        Run length and time step (ms).
    n_thread : int or str
        NEST threads.
    """
    files = {"nodes": [{"nodes_file": f"$NETWORK_DIR/{n}_nodes.h5",
                        "node_types_file": f"$NETWORK_DIR/{n}_node_types.csv"} for n in (drive, network)],
             "edges": [{"edges_file": f"$NETWORK_DIR/{s}_{network}_edges.h5",
                        "edge_types_file": f"$NETWORK_DIR/{s}_{network}_edge_types.csv"} for s in edge_sources],
             "gap_juncs": []}
    return {
        "manifest": {"$BASE_DIR": "${configdir}", "$NETWORK_DIR": "$BASE_DIR/network",
                     "$OUTPUT_DIR": "$BASE_DIR/output", "$COMPONENTS_DIR": "$BASE_DIR/components",
                     "$INPUTS_DIR": "$BASE_DIR/inputs"},
        "target_simulator": "NEST",
        "run": {"tstart": 0.0, "tstop": float(tstop_ms), "dt": float(dt_ms), "n_thread": n_thread,
                "precise_times": False},
        "inputs": {input_name: {"input_type": "spikes", "module": "sonata",
                                "input_file": f"$INPUTS_DIR/{input_name}.h5", "node_set": drive}},
        "output": {"log_file": "log.txt", "output_dir": "$OUTPUT_DIR", "spikes_file": "spikes.h5",
                   "quiet_simulator": True},
        "components": {"synaptic_models_dir": "$COMPONENTS_DIR/synaptic_models",
                       "point_neuron_models_dir": "$COMPONENTS_DIR/point_neuron_models"},
        "networks": files,
    }


def build_circuit(spec: CircuitSpec, out_dir: Path, n_thread: int | str = 1) -> Path:
    """Write the circuit folder ``out_dir`` (see the module documentation); return its ``config.json``.

    Everything is written to a temporary folder beside ``out_dir`` and swapped into place when complete.
    ``out_dir`` is replaced if it exists: the caller decides whether that is allowed.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    try:
        net, drive = build_builders(spec)
        for builder in (net, drive):
            builder.build()
            builder.save(output_dir=str(tmp / "network"), compression="none")
        conform_network(tmp / "network")  # readable by libsonata as well as bmtk
        neurons = tmp / "components" / "point_neuron_models"
        synapses = tmp / "components" / "synaptic_models"
        neurons.mkdir(parents=True)
        synapses.mkdir(parents=True)
        (neurons / NEURON_FILE).write_text(json.dumps(spec.neuron_params(), indent=2) + "\n")
        (synapses / SYNAPSE_FILE).write_text("{}\n")
        run = spec.params["run"]
        rate = float(spec.params["drive"]["rate_hz"])
        drive_seed = int(np.random.default_rng(stream(spec.seed, "drive")).integers(2**31))
        write_spikes(tmp / "inputs" / "drive_spikes.h5", np.arange(spec.n_cells), np.full(spec.n_cells, rate),
                     float(run["tstop_ms"]), seed=drive_seed, dt_ms=float(run["dt_ms"]), population=DRIVE,
                     draw="numpy")
        (tmp / "config.json").write_text(json.dumps(pointnet_config(spec, n_thread), indent=2) + "\n")
        (tmp / "circuit.json").write_text(json.dumps(spec.as_dict(), indent=2) + "\n")
        swap_into_place(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir / "config.json"
