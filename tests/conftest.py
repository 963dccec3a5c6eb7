"""Shared fixtures: a CI-sized network built once per session, a runnable tiny configuration and its run, a hand-made
run folder, the shared data folder, and a fresh NEST kernel for every test.

The helpers the test modules share (paths, sizes, SONATA readers, ``run_copy``) are in ``tests/helpers.py``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, SHARED_DATA, SMALL_N, SMALL_SEED, TINY_DT_MS, TINY_N, TINY_TSTOP_MS, run_copy, sonata_spikes

from build_network import ModelSpec, build_network

logging.getLogger("bmtk").setLevel(logging.ERROR)


@pytest.fixture(autouse=True)
def fresh_nest_kernel():
    """Every test starts from a reset NEST kernel and leaves it reset (its network's memory freed).

    Only when NEST is already imported in this process: a test that imports it first gets a fresh kernel anyway,
    and a test that never uses NEST does not start it (nor print its banner). Runs of NEST in subprocesses are
    untouched. A reset takes about 1 ms.
    """
    nest = sys.modules.get("nest")
    if nest is not None:
        nest.ResetKernel()
    yield
    nest = sys.modules.get("nest")
    if nest is not None:
        nest.ResetKernel()


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


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory) -> Path:
    """A runnable PointNet config: the repository's config_seed.json (the seed's model, LGN only) on a 1,500-cell
    network, 500 ms at dt 0.1 ms, with the grid model (spike_timing 'grid', LGN spikes on the 0.1 ms grid)."""
    import json

    from inputs.spikes import lgn_node_ids, lookup_rate, write_spikes

    root = tmp_path_factory.mktemp("tiny")
    build_network(root / "network", n_cells=TINY_N, seed=3, progress=False)
    ids = lgn_node_ids(root / "network", 500)
    write_spikes(root / "lgn_spikes.h5", ids, np.full(len(ids), lookup_rate("wt", "fl")), TINY_TSTOP_MS, seed=1,
                 dt_ms=TINY_DT_MS)
    config = json.loads((REPO / "config_seed.json").read_text())
    config["manifest"].update({"$BASE_DIR": str(root), "$NETWORK_DIR": str(root / "network"),
                               "$COMPONENTS_DIR": str(REPO / "components"), "$OUTPUT_DIR": str(root / "output")})
    # the grid model (config_grid.json's timing): these tests check the grid's rules; the precise mode has its own
    config["spike_timing"] = "grid"
    config["run"].update({"tstop": TINY_TSTOP_MS, "dt": TINY_DT_MS, "n_thread": 2, "precise_times": False})
    config["inputs"]["LGN_spikes"]["input_file"] = str(root / "lgn_spikes.h5")
    path = root / "config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


@pytest.fixture(scope="session")
def tiny_run(tiny_config, tmp_path_factory):
    """One finished run of :func:`tiny_config`: (completed process, output folder, folder for more runs)."""
    tmp = tmp_path_factory.mktemp("runs")
    result, out = run_copy(tiny_config, tmp, "a")
    assert result.returncode == 0, result.stderr[-3000:]
    return result, out, tmp


@pytest.fixture()
def hand_run(tmp_path):
    """A run folder by hand: 3 E cells and 2 silent I cells (bmtk NetworkBuilder), a 1 s window, known spikes."""
    import json

    from bmtk.builder import NetworkBuilder

    net = NetworkBuilder("V1")
    net.add_nodes(N=3, pop_name="E", model_type="point_process", positions=np.array([[0, -100, 0], [10, -150, 5],
                                                                                  [20, -200, 10.0]]))
    net.add_nodes(N=2, pop_name="I", model_type="point_process", positions=np.zeros((2, 3)))
    net.build()
    net.save_nodes(output_dir=str(tmp_path / "network"))
    out = tmp_path / "out"
    out.mkdir()
    config = {"run": {"tstart": 0.0, "tstop": 1000.0, "dt": 0.1},
              "networks": {"nodes": [{"nodes_file": str(tmp_path / "network" / "V1_nodes.h5"),
                                      "node_types_file": str(tmp_path / "network" / "V1_node_types.csv")}]},
              "output": {"output_dir": str(out), "spikes_file": str(out / "spikes.h5")}}
    (out / "config.json").write_text(json.dumps(config))
    # cell 0: 4 spikes at 100 ms intervals; cell 1: 1 spike; cell 2: 2 spikes, one after tstop; cells 3, 4 silent
    sonata_spikes(out / "spikes.h5", {"V1": ([0, 1, 0, 2, 0, 0, 2], [100, 150, 200, 250, 300, 400, 1500.0])})
    return out


def pytest_terminal_summary(terminalreporter) -> None:
    """How many hostile and fuzz cases this session tried (tests/test_hostile.py, tests/test_fuzz.py)."""
    fuzz = getattr(sys.modules.get("test_fuzz") or sys.modules.get("tests.test_fuzz"), "FUZZ_COUNTS", None)
    if fuzz:
        terminalreporter.write_line("fuzz cases: " + ", ".join(f"{k} {v}" for k, v in sorted(fuzz.items()))
                                    + f" (total {sum(fuzz.values())})")
