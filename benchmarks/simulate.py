"""Simulation benchmark: the 10,000-cell model on NEST through PointNet vs the same network in direct PyNEST.

    python benchmarks/simulate.py [--config config.json] [--tstop 3000] [--dt 0.01] [--threads 1 2]

Each measurement runs in a fresh process: load time (SONATA into NEST), simulation time and peak RSS, for
PointNet (``run_pointnet.py`` machinery) and for a direct PyNEST build of the same network (arrays into
``nest.Connect``), the floor. Targets (2 cores): simulation <= 20 s on 2 threads, PointNet within 1.2x of direct,
peak memory <= 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

POINTNET = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
import nest
from bmtk.simulator import pointnet
from simulation.run import ProgressSimulator, load_config
start = time.perf_counter()
config = load_config({config!r}, build_missing=False)
config.build_env()
network = pointnet.PointNetwork.from_config(config)
sim = ProgressSimulator.from_config(config, network)
loaded = time.perf_counter()
sim.run()
done = time.perf_counter()
print(json.dumps({{"load_s": loaded - start, "sim_s": done - loaded, "connections": nest.num_connections,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

DIRECT = """
import json, resource, sys, time
from pathlib import Path
import h5py, numpy as np, pandas as pd, nest
sys.path.insert(0, {repo!r})
from simulation.run import load_config
config = load_config({config!r}, build_missing=False)
start = time.perf_counter()
nest.ResetKernel()
nest.set_verbosity("M_ERROR")
nest.SetKernelStatus({{"resolution": config.dt, "local_num_threads": config["run"]["n_thread"]}})
nodes = {{e["nodes_file"]: e["node_types_file"] for e in config["networks"]["nodes"]}}
created = {{}}
for nodes_file, types_file in nodes.items():
    with h5py.File(nodes_file, "r") as h5:
        pop = next(iter(h5["nodes"]))
        type_ids = h5[f"nodes/{{pop}}/node_type_id"][()]
    types = pd.read_csv(types_file, sep=" ").set_index("node_type_id")
    if types.model_type.iloc[0] == "virtual":
        created[pop] = nest.Create("spike_generator", len(type_ids))
        continue
    cells = nest.Create("iaf_psc_delta", len(type_ids))
    for type_id, row in types.iterrows():
        idx = np.flatnonzero(type_ids == type_id)
        params = json.load(open(Path(config["components"]["point_neuron_models_dir"]) / row.dynamics_params))
        cells[int(idx[0]):int(idx[-1]) + 1].set(params)
    created[pop] = cells
for name, spec in config["inputs"].items():
    with h5py.File(spec["input_file"], "r") as h5:
        ids, times = h5["spikes/LGN/node_ids"][()], h5["spikes/LGN/timestamps"][()]
    order = np.argsort(ids, kind="stable")
    ids, times = ids[order], times[order]
    bounds = np.searchsorted(ids, np.arange(len(created["LGN"]) + 1))
    created["LGN"].set([{{"spike_times": times[bounds[i]:bounds[i + 1]]}} for i in range(len(created["LGN"]))])
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
    nest.Connect(src_ids, trg_ids, "one_to_one", {{"synapse_model": "static_synapse",
                 "weight": nsyns * types.syn_weight.reindex(et).to_numpy(),
                 "delay": types.delay.reindex(et).to_numpy()}})
recorder = nest.Create("spike_recorder")
nest.Connect(created["V1"], recorder)
loaded = time.perf_counter()
nest.Simulate(float(config["run"]["tstop"]))
done = time.perf_counter()
print(json.dumps({{"load_s": loaded - start, "sim_s": done - loaded, "connections": nest.num_connections,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def measure(template: str, config: Path) -> dict:
    code = template.format(repo=str(REPO), config=str(config))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "config.json")
    parser.add_argument("--tstop", type=float, default=3000.0)
    parser.add_argument("--dt", type=float, default=0.01)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; NEST threads as listed; "
          f"{args.tstop:g} ms at dt {args.dt:g} ms")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in args.threads:
            config = json.loads(args.config.read_text())
            config["manifest"]["$BASE_DIR"] = str(args.config.resolve().parent)
            config["manifest"]["$OUTPUT_DIR"] = str(Path(tmp) / f"out_{threads}")
            config["run"].update({"tstop": args.tstop, "dt": args.dt, "n_thread": threads})
            path = Path(tmp) / f"config_{threads}.json"
            path.write_text(json.dumps(config))
            for label, template in (("PointNet", POINTNET), ("direct PyNEST", DIRECT)):
                rows.append((label, threads, measure(template, path)))
    print()
    print("| path | threads | connections | load (s) | simulate (s) | x real time | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, threads, r in rows:
        print(f"| {label} | {threads} | {r['connections']:,} | {r['load_s']:.1f} | {r['sim_s']:.1f} | "
              f"{r['sim_s'] / (args.tstop / 1000):.1f} | {r['peak_mb']:.0f} |")
    print()
    for threads in args.threads:
        pn = next(r for label, t, r in rows if label == "PointNet" and t == threads)
        direct = next(r for label, t, r in rows if label == "direct PyNEST" and t == threads)
        print(f"{threads} thread(s): PointNet / direct simulation time = {pn['sim_s'] / direct['sim_s']:.2f} "
              f"(target <= 1.2); PointNet simulation {pn['sim_s']:.1f} s (target <= 20 s on 2 threads), "
              f"peak {pn['peak_mb']:.0f} MB (target <= 2048 MB)")


if __name__ == "__main__":
    main()
