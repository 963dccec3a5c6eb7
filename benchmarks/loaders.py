"""The two ways of loading and simulating a PointNet configuration that ``benchmarks/simulate.py`` times.

``python -m benchmarks.loaders {pointnet,direct} CONFIG`` loads CONFIG into NEST, simulates it and prints one JSON
line: ``load_s`` (s, SONATA into NEST), ``sim_s`` (s), ``connections`` and ``peak_mb`` (peak resident memory, MB =
2**20 bytes). Each measurement is its own process (NEST holds global state).

- :func:`pointnet`: the runner's own machinery (:mod:`simulation.run`).
- :func:`direct`: the same network built with arrays into ``nest.Connect``, the floor (``iaf_psc_delta`` cells, or
  their precise twins under ``spike_timing: precise``; static synapses of weight nsyns x syn_weight; the input
  spikes into ``spike_generator``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from common.kernel import fresh_kernel
from simulation.config import spike_timing
from simulation.models import nest_model
from simulation.run import ProgressSimulator, load_config


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pointnet(config_path: Path) -> dict:
    """Load and simulate ``config_path`` with bmtk's PointNet as the runner does; return the timings."""
    import nest
    from bmtk.simulator import pointnet as bmtk_pointnet

    start = time.perf_counter()
    config = load_config(config_path, build_missing=False)
    config.build_env()
    network = bmtk_pointnet.PointNetwork.from_config(config)
    sim = ProgressSimulator.from_config(config, network)
    loaded = time.perf_counter()
    sim.run()
    done = time.perf_counter()
    return {"load_s": loaded - start, "sim_s": done - loaded, "connections": nest.num_connections,
            "peak_mb": _peak_mb()}


def _create_nodes(nest, config) -> dict:
    precise = bool(config["run"].get("precise_times", False))
    model = nest_model("nest:iaf_psc_delta", spike_timing(config))
    created = {}
    for entry in config["networks"]["nodes"]:
        with h5py.File(entry["nodes_file"], "r") as h5:
            pop = next(iter(h5["nodes"]))
            type_ids = h5[f"nodes/{pop}/node_type_id"][()]
        types = pd.read_csv(entry["node_types_file"], sep=" ").set_index("node_type_id")
        if types.model_type.iloc[0] == "virtual":
            created[pop] = nest.Create("spike_generator", len(type_ids), params={"precise_times": precise})
            continue
        cells = nest.Create(model, len(type_ids))
        for type_id, row in types.iterrows():
            idx = np.flatnonzero(type_ids == type_id)
            params = json.loads((Path(config["components"]["point_neuron_models_dir"]) / row.dynamics_params)
                                .read_text())
            cells[int(idx[0]):int(idx[-1]) + 1].set(params)
        created[pop] = cells
    return created


def _set_spikes(created: dict, config) -> None:
    for spec in config["inputs"].values():
        with h5py.File(spec["input_file"], "r") as h5:
            for pop, grp in h5["spikes"].items():
                ids, times = grp["node_ids"][()].astype(np.int64), grp["timestamps"][()]
                order = np.argsort(ids, kind="stable")
                ids, times = ids[order], times[order]
                bounds = np.searchsorted(ids, np.arange(len(created[pop]) + 1))
                created[pop].set([{"spike_times": times[bounds[i]:bounds[i + 1]]} for i in range(len(created[pop]))])


def _connect(nest, created: dict, config) -> None:
    for entry in config["networks"]["edges"]:
        types = pd.read_csv(entry["edge_types_file"], sep=" ").set_index("edge_type_id")
        with h5py.File(entry["edges_file"], "r") as h5:
            grp = next(iter(h5["edges"].values()))
            src_pop = grp["source_node_id"].attrs["node_population"]
            trg_pop = grp["target_node_id"].attrs["node_population"]
            src, trg, et = grp["source_node_id"][()], grp["target_node_id"][()], grp["edge_type_id"][()]
            nsyns = grp["0/nsyns"][()][grp["edge_group_index"][()]]
        src_ids = np.asarray(created[src_pop].tolist())[src]
        trg_ids = np.asarray(created[trg_pop].tolist())[trg]
        nest.Connect(src_ids, trg_ids, "one_to_one", {"synapse_model": "static_synapse",
                     "weight": nsyns * types.syn_weight.reindex(et).to_numpy(),
                     "delay": types.delay.reindex(et).to_numpy()})


def direct(config_path: Path) -> dict:
    """Build ``config_path``'s network in direct PyNEST (arrays into ``nest.Connect``), simulate it; return the
    timings."""
    config = load_config(config_path, build_missing=False)
    start = time.perf_counter()
    nest = fresh_kernel(config.dt, threads=config["run"]["n_thread"])
    created = _create_nodes(nest, config)
    _set_spikes(created, config)
    _connect(nest, created, config)
    recorder = nest.Create("spike_recorder")
    nest.Connect(created["V1"], recorder)
    loaded = time.perf_counter()
    nest.Simulate(float(config["run"]["tstop"]))
    done = time.perf_counter()
    return {"load_s": loaded - start, "sim_s": done - loaded, "connections": nest.num_connections,
            "peak_mb": _peak_mb()}


LOADERS = {"pointnet": pointnet, "direct": direct}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loaders", description=__doc__.splitlines()[0])
    parser.add_argument("loader", choices=list(LOADERS))
    parser.add_argument("config", type=Path)
    args = parser.parse_args(argv)
    print(json.dumps(LOADERS[args.loader](args.config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
