"""Helpers the test modules share: the repository's paths, the sizes of conftest's networks, SONATA readers and
writers, and a run of run_pointnet.py in a fresh process.

Test modules import them with ``from helpers import ...`` (pytest puts ``tests/`` on ``sys.path``); the fixtures
stay in ``conftest.py``, where pytest finds them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

#: conftest's ``small_network``: cells and seed.
SMALL_N = 3000
SMALL_SEED = 7

#: conftest's ``tiny_config``: cells, run length and step.
TINY_N = 1500
TINY_TSTOP_MS = 500.0
TINY_DT_MS = 0.1


def read_nodes(folder: Path, population: str) -> pd.DataFrame:
    """Node table of ``population`` in a network folder (:func:`common.sonata.read_nodes`: positions as x, y, z)."""
    from common.sonata import read_nodes as read_population

    return read_population(folder / f"{population}_nodes.h5", folder / f"{population}_node_types.csv", population)


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


def sonata_spikes(path, spikes: dict) -> None:
    """A SONATA spikes file by hand: ``spikes`` maps population -> (node_ids, timestamps_ms); the project's writer
    (:func:`common.sonata.write_spikes`, sorted by time), so the file has the layout of every other spikes file."""
    from common.sonata import write_spikes

    write_spikes(path, spikes)


def run_copy(config_path: Path, out_root: Path, name: str):
    """Run run_pointnet.py on a copy of ``config_path`` writing to ``out_root/name``, in a fresh process (NEST keeps
    global state); return the completed process and the output folder."""
    config = json.loads(config_path.read_text())
    config["manifest"]["$OUTPUT_DIR"] = str(out_root / name)
    path = out_root / f"{name}.json"
    path.write_text(json.dumps(config))
    result = subprocess.run([sys.executable, str(REPO / "run_pointnet.py"), str(path), "--no-build"],
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    return result, out_root / name


MPI_PYTHON = Path(os.environ.get("V1_MPI_PYTHON", REPO / ".venv-mpi" / "bin" / "python"))


def mpi_nest_present() -> str | None:
    """None when an MPI NEST (scripts/build_mpi_nest.sh) and mpirun are present, else why not."""
    if not MPI_PYTHON.is_file():
        return f"no MPI environment at {MPI_PYTHON} (make mpi-env builds it; or set V1_MPI_PYTHON)"
    if shutil.which("mpirun") is None:
        return "mpirun not found (apt-get install openmpi-bin)"
    code = "import nest; print(nest.GetKernelStatus('build_info')['have_mpi'])"
    probe = subprocess.run([str(MPI_PYTHON), "-c", code], capture_output=True, text=True)
    if probe.stdout.strip().splitlines()[-1:] != ["True"]:
        return f"the NEST of {MPI_PYTHON} has no MPI"
    return None
