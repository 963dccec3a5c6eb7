"""Shared fixtures: a CI-sized network built once per session, SONATA readers, and the shared data folder."""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from build_network import ModelSpec, build_network

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SMALL_N = 3000
SMALL_SEED = 7

logging.getLogger("bmtk").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only reference data beside the repository; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (clone the project beside its shared/ folder)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def spec() -> ModelSpec:
    return ModelSpec.load()


@pytest.fixture(scope="session")
def small_network(tmp_path_factory) -> Path:
    """A 3,000-cell network with the default parameters, built with the fast rules."""
    out = tmp_path_factory.mktemp("net") / "network"
    build_network(out, n_cells=SMALL_N, seed=SMALL_SEED, progress=False)
    return out


def read_nodes(folder: Path, population: str) -> pd.DataFrame:
    """Node table of ``population``: node_id, node_type_id and the group-0 attributes, with node types joined."""
    with h5py.File(folder / f"{population}_nodes.h5", "r") as h5:
        grp = h5[f"nodes/{population}"]
        table = pd.DataFrame({"node_id": grp["node_id"][()], "node_type_id": grp["node_type_id"][()]})
        for name, ds in grp["0"].items():
            values = ds[()]
            if values.ndim == 2:
                for k, axis in enumerate("xyz"[: values.shape[1]]):
                    table[f"{name}_{axis}"] = values[:, k]
            else:
                table[name] = values
    types = pd.read_csv(folder / f"{population}_node_types.csv", sep=" ")
    return table.merge(types, on="node_type_id", how="left")


def read_edges(folder: Path, source: str, target: str) -> pd.DataFrame:
    """Edge table source -> target: source/target node ids, edge type, nsyns, with edge types joined."""
    with h5py.File(folder / f"{source}_{target}_edges.h5", "r") as h5:
        grp = h5[f"edges/{source}_to_{target}"]
        table = pd.DataFrame({
            "source_node_id": grp["source_node_id"][()].astype(np.int64),
            "target_node_id": grp["target_node_id"][()].astype(np.int64),
            "edge_type_id": grp["edge_type_id"][()],
            "nsyns": grp["0/nsyns"][()][grp["edge_group_index"][()]],
        })
    types = pd.read_csv(folder / f"{source}_{target}_edge_types.csv", sep=" ")
    return table.merge(types, on="edge_type_id", how="left")


TINY_N = 1500
TINY_TSTOP_MS = 500.0
TINY_DT_MS = 0.1


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory) -> Path:
    """A runnable PointNet config: the repository's config.json on a 1,500-cell network, 500 ms at dt 0.1 ms."""
    import json

    from inputs.spikes import lgn_node_ids, lookup_rate, write_spikes

    root = tmp_path_factory.mktemp("tiny")
    build_network(root / "network", n_cells=TINY_N, seed=3, progress=False)
    ids = lgn_node_ids(root / "network", 500)
    write_spikes(root / "lgn_spikes.h5", ids, np.full(len(ids), lookup_rate("wt", "fl")), TINY_TSTOP_MS, seed=1,
                 dt_ms=TINY_DT_MS)
    config = json.loads((REPO / "config.json").read_text())
    config["manifest"].update({"$BASE_DIR": str(root), "$NETWORK_DIR": str(root / "network"),
                               "$COMPONENTS_DIR": str(REPO / "components"), "$OUTPUT_DIR": str(root / "output")})
    config["run"].update({"tstop": TINY_TSTOP_MS, "dt": TINY_DT_MS, "n_thread": 2})
    config["inputs"]["LGN_spikes"]["input_file"] = str(root / "lgn_spikes.h5")
    path = root / "config.json"
    path.write_text(json.dumps(config, indent=2))
    return path
