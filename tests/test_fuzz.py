"""Fuzzing the readers with hypothesis: parameter tables, cell-model JSON and corrupted network and spike files.

Each property: whatever the damage, the reader either returns something valid (finite numbers within the
documented bounds) or raises the project's named error (:class:`common.errors.UserError`); any other exception is a
failure. The number of cases tried per property is printed at the end of the test session (``fuzz cases``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from build_network import params
from common.errors import UserError

REPO = Path(__file__).resolve().parents[1]
#: Cases tried per property (read by conftest's terminal summary).
FUZZ_COUNTS: Counter = Counter()
#: Examples per property (``FUZZ_EXAMPLES=1000 pytest tests/test_fuzz.py`` for a longer search).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "120"))

CELL_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**15, 10**15).map(str),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=",\n\r\"'"), max_size=6),
    st.sampled_from(["", "nan", "inf", "-inf", "1e400", "0", "-0", "1e-320", "NaN"]),
)
JSON_VALUE = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20),
                       st.text(max_size=5), st.none(), st.booleans(), st.lists(st.floats(-100, 100), max_size=3))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutated_csv(source: Path, row: int, column: str, text: str) -> Path:
    """A copy of the comma-separated ``source`` with one cell replaced by ``text``."""
    table = pd.read_csv(source, dtype=str, keep_default_na=False)
    table.loc[table.index[row % len(table)], column] = text
    out = Path(tempfile.mkdtemp(prefix="fuzz-")) / source.name
    table.to_csv(out, index=False)
    return out


def _finite(table: pd.DataFrame, columns: list[str]) -> bool:
    return bool(np.all(np.isfinite(table[columns].to_numpy(dtype=float))))


V1_NUMERIC = ["d_weight_min", "d_weight_max", "d_max_um", "nsyn_min", "nsyn_max", "delay_ms", "psp_mv"]
LGN_NUMERIC = ["nsources_min", "nsources_max", "d_max_deg", "nsyn_min", "nsyn_max", "delay_ms", "psp_mv"]


@SETTINGS
@given(row=st.integers(0, 100), column=st.sampled_from(["source", "target", *V1_NUMERIC]), text=CELL_TEXT)
def test_v1_connection_table(row: int, column: str, text: str) -> None:
    FUZZ_COUNTS["v1_v1_connections.csv"] += 1
    path = _mutated_csv(params.V1_CONNECTIONS_FILE, row, column, text)
    try:
        table = params.load_v1_connections(params.load_populations(), path)
    except UserError:
        return
    finally:
        shutil.rmtree(path.parent)
    assert _finite(table, V1_NUMERIC)
    assert (table.delay_ms > 0).all() and (table.delay_ms <= params.MAX_DELAY_MS).all()
    assert (table.nsyn_max <= params.MAX_NSYN).all() and (table.nsyn_min >= 1).all()


@SETTINGS
@given(row=st.integers(0, 100), column=st.sampled_from(["target", *LGN_NUMERIC]), text=CELL_TEXT)
def test_lgn_connection_table(row: int, column: str, text: str) -> None:
    FUZZ_COUNTS["lgn_v1_connections.csv"] += 1
    path = _mutated_csv(params.LGN_CONNECTIONS_FILE, row, column, text)
    try:
        table = params.load_lgn_connections(params.load_populations(), params.load_column(), path)
    except UserError:
        return
    finally:
        shutil.rmtree(path.parent)
    assert _finite(table, LGN_NUMERIC)
    assert (table.delay_ms <= params.MAX_DELAY_MS).all() and (table.nsyn_max <= params.MAX_NSYN).all()


@SETTINGS
@given(row=st.integers(0, 10), column=st.sampled_from(["pop_name", "ei", "fraction", "dynamics_params"]),
       text=CELL_TEXT)
def test_population_table(row: int, column: str, text: str) -> None:
    FUZZ_COUNTS["populations.csv"] += 1
    path = _mutated_csv(params.POPULATIONS_FILE, row, column, text)
    try:
        table = params.load_populations(path)
    except UserError:
        return
    finally:
        shutil.rmtree(path.parent)
    assert _finite(table, ["fraction"]) and math.isclose(table.fraction.sum(), 1.0, abs_tol=1e-6)


@SETTINGS
@given(field=st.sampled_from(["n_cells", "density_per_mm3", "depth_min_um", "depth_max_um", "lgn_n_cells",
                              "lgn_pop_name", "deg_per_um_x", "deg_per_um_z"]), value=JSON_VALUE)
def test_column_json(field: str, value) -> None:
    FUZZ_COUNTS["column.json"] += 1
    raw = json.loads(params.COLUMN_FILE.read_text())
    raw[field] = value
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    path = folder / "column.json"
    path.write_text(json.dumps(raw))
    try:
        column = params.load_column(path)
    except UserError:
        return
    finally:
        shutil.rmtree(folder)
    numbers = [column.n_cells, column.density_per_mm3, column.depth_min_um, column.depth_max_um,
               column.lgn_n_cells, column.deg_per_um_x, column.deg_per_um_z]
    assert all(math.isfinite(v) for v in numbers) and 1 <= column.n_cells <= params.MAX_CELLS


# --- cell-model JSON through NEST --------------------------------------------------------------------------------

LIF = json.loads((REPO / "components" / "point_neuron_models" / "LIF_exc.json").read_text())


@settings(max_examples=EXAMPLES, deadline=None)
@given(changes=st.dictionaries(st.sampled_from([*LIF, "tau_syn_ex", "no_such", "V_min", "tau_m "]), JSON_VALUE,
                               min_size=1, max_size=3),
       timing=st.sampled_from(["grid", "precise"]))
def test_cell_model_json(changes: dict, timing: str) -> None:
    from simulation.config import ConfigError
    from simulation.models import check_cell_models
    from simulation.sonata_check import read_json_params

    FUZZ_COUNTS["cell-model JSON"] += 1
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    path = folder / "LIF_exc.json"
    path.write_text(json.dumps({**LIF, **changes}))
    try:
        model = read_json_params(path, "node type 100", folder / "config.json")
        check_cell_models([("node type 100", "nest:iaf_psc_delta", model)], timing, folder / "config.json")
    except ConfigError:
        return
    finally:
        shutil.rmtree(folder)
    assert all(isinstance(v, str) or all(math.isfinite(x) for x in np.ravel(v)) for v in model.values())


# --- corrupted network and spike files ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_project(tmp_path_factory) -> tuple[Path, dict]:
    """A 300-cell background-model network with its spikes, and the resolved configuration dict naming it."""
    from build_network import ModelSpec, build_network
    from inputs.spikes import lgn_node_ids, write_spikes

    root = tmp_path_factory.mktemp("fuzz_project")
    build_network(root / "network", n_cells=300, seed=1, progress=False, spec=ModelSpec.for_model("background"))
    ids = lgn_node_ids(root / "network", 500)
    write_spikes(root / "lgn_spikes.h5", ids, np.full(len(ids), 5.0), 200.0, seed=1, dt_ms=None)
    return root, _config(root)


def _config(root: Path) -> dict:
    net = root / "network"
    pairs = [("V1", "V1"), ("LGN", "V1"), ("BKG", "V1")]
    return {
        "run": {"dt": 0.1, "tstop": 200.0},
        "components": {"point_neuron_models_dir": str(REPO / "components" / "point_neuron_models"),
                       "synaptic_models_dir": str(REPO / "components" / "synaptic_models")},
        "networks": {
            "nodes": [{"nodes_file": str(net / f"{p}_nodes.h5"), "node_types_file": str(net / f"{p}_node_types.csv")}
                      for p in ("V1", "LGN", "BKG")],
            "edges": [{"edges_file": str(net / f"{a}_{b}_edges.h5"),
                       "edge_types_file": str(net / f"{a}_{b}_edge_types.csv")} for a, b in pairs]},
        "inputs": {"LGN_spikes": {"module": "sonata", "input_file": str(root / "lgn_spikes.h5"), "node_set": "LGN"}},
    }


NETWORK_FILES = ["V1_nodes.h5", "LGN_nodes.h5", "BKG_nodes.h5", "V1_V1_edges.h5", "LGN_V1_edges.h5",
                 "BKG_V1_edges.h5", "V1_node_types.csv", "V1_V1_edge_types.csv", "LGN_V1_edge_types.csv",
                 "lgn_spikes.h5"]
DAMAGE = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 0.999)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0.0, 0.999), st.integers(0, 255)), min_size=1,
                                        max_size=8)),
    st.tuples(st.just("zero-block"), st.floats(0.0, 0.999)),
)


def _damage(file: Path, damage: tuple) -> None:
    data = bytearray(file.read_bytes())
    kind, arg = damage
    if kind == "truncate":
        data = data[: int(len(data) * arg)]
    elif kind == "flip":
        for where, byte in arg:
            data[int(len(data) * where)] = byte
    else:
        start = int(len(data) * arg)
        data[start: start + 512] = bytes(len(data[start: start + 512]))
    file.write_bytes(bytes(data))


@settings(max_examples=2 * EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(NETWORK_FILES), damage=DAMAGE)
def test_corrupted_network_files(small_project, name: str, damage: tuple) -> None:
    from simulation.config import SPIKE_MODULES, ConfigError
    from simulation.sonata_check import check_network, check_spike_inputs

    FUZZ_COUNTS["corrupted network/spike file"] += 1
    root, _ = small_project
    copy = Path(tempfile.mkdtemp(prefix="fuzz-")) / "project"
    shutil.copytree(root, copy)
    config = _config(copy)
    target = copy / name if name.endswith("spikes.h5") else copy / "network" / name
    _damage(target, damage)
    try:
        sizes, models = check_network(config, Path("config.json"))
        check_spike_inputs(config, Path("config.json"), sizes, SPIKE_MODULES)
    except ConfigError:
        return
    finally:
        shutil.rmtree(copy.parent)
    assert sizes["V1"] == 300 and all(isinstance(m[2], dict) for m in models)


def test_an_intact_project_passes_the_checks(small_project) -> None:
    """The property above is not vacuous: the undamaged files pass."""
    from simulation.config import SPIKE_MODULES
    from simulation.sonata_check import check_network, check_spike_inputs

    root, config = small_project
    sizes, models = check_network(config, Path("config.json"))
    check_spike_inputs(config, Path("config.json"), sizes, SPIKE_MODULES)
    assert sizes == {"V1": 300, "LGN": 500, "BKG": 1500} and len(models) == 4
    with h5py.File(root / "network" / "V1_nodes.h5") as h5:
        assert len(h5["nodes/V1/node_type_id"]) == 300
