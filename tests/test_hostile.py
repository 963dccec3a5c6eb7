"""Hostile input: corrupt network files, bad numbers, bad model files, unusable output places.

Every case damages a private copy of a small, complete project folder (a 1,500-cell background-model network, its
LGN and background spikes, the components and a config with relative paths), runs one command line exactly as its
``__main__`` does (:func:`common.errors.run_cli`), and checks the project's promise: exit code 2, one paragraph on
stderr starting with ``error:`` that names the file or field, no traceback, and nothing written or changed in the
folder. The few cases that could crash the interpreter itself (NEST threads, huge times) run in a subprocess.

The number of cases is the number of test ids of :func:`test_hostile_case` (``pytest --collect-only -q``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from common.errors import run_cli

REPO = Path(__file__).resolve().parents[1]
N_CELLS = 1500
TSTOP_MS = 300.0


# --- the pristine folder ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A complete project folder: config.json (relative paths), network/, inputs/, components/ (built once)."""
    from build_network import ModelSpec, build_network
    from inputs.__main__ import main as inputs_main

    root = tmp_path_factory.mktemp("pristine")
    build_network(root / "network", n_cells=N_CELLS, seed=0, progress=False, spec=ModelSpec.for_model("background"))
    shutil.copytree(REPO / "components", root / "components")
    config = json.loads((REPO / "config.json").read_text())
    config["run"].update({"tstop": TSTOP_MS, "n_thread": 1})
    (root / "config.json").write_text(json.dumps(config, indent=2))
    (root / "inputs").mkdir()
    for command, name in (("spikes", "lgn_spikes.h5"), ("background", "bkg_spikes.h5")):
        assert inputs_main([command, "--config", str(root / "config.json"), "--network", str(root / "network"),
                            "--out", str(root / "inputs" / name)]) == 0
    subprocess.run([sys.executable, str(REPO / "run_pointnet.py"), str(root / "config.json"), "--no-build"],
                   check=True, capture_output=True, timeout=600)
    return root


@pytest.fixture()
def folder(pristine, tmp_path) -> Path:
    """A private copy of :func:`pristine`."""
    copy = tmp_path / "project"
    shutil.copytree(pristine, copy)
    return copy


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> content)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- damage ----------------------------------------------------------------------------------------------------

def truncate(file: Path, fraction: float = 0.5) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * fraction)])


def empty(file: Path) -> None:
    file.write_bytes(b"")


def garbage(file: Path) -> None:
    file.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())


def set_json(file: Path, key: str, value) -> None:
    """Set the dotted ``key`` of a JSON file (``None`` as value deletes nothing; use :func:`del_json`)."""
    content = json.loads(file.read_text())
    node = content
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    file.write_text(json.dumps(content, allow_nan=True))


def edit_csv(file: Path, change: Callable[[pd.DataFrame], pd.DataFrame], sep: str = " ") -> None:
    table = pd.read_csv(file, sep=sep, dtype=str, keep_default_na=False)
    change(table).to_csv(file, sep=sep, index=False)


def set_cell(file: Path, column: str, value: str, row: int = 0, sep: str = " ") -> None:
    def change(table: pd.DataFrame) -> pd.DataFrame:
        table.loc[table.index[row], column] = value
        return table
    edit_csv(file, change, sep)


def drop_row(file: Path, row: int = 0, sep: str = " ") -> None:
    edit_csv(file, lambda t: t.drop(index=t.index[row]), sep)


def drop_column(file: Path, column: str, sep: str = " ") -> None:
    edit_csv(file, lambda t: t.drop(columns=[column]), sep)


def h5_delete(file: Path, dataset: str) -> None:
    with h5py.File(file, "r+") as h5:
        del h5[dataset]


def h5_replace(file: Path, dataset: str, values) -> None:
    with h5py.File(file, "r+") as h5:
        dtype = h5[dataset].dtype
        del h5[dataset]
        h5.create_dataset(dataset, data=np.asarray(values).astype(dtype, copy=False) if dtype.kind != "O" else values)


# --- commands --------------------------------------------------------------------------------------------------

def command(name: str) -> Callable[[list[str]], int]:
    """The ``main`` of a command line, by short name."""
    if name == "run":
        sys.path.insert(0, str(REPO))
        from run_pointnet import main
    elif name == "build":
        from build_network.__main__ import main
    elif name == "inputs":
        from inputs.__main__ import main
    elif name == "analysis":
        from analysis.__main__ import main
    elif name == "perturbations":
        from perturbations.__main__ import main
    elif name == "neurons":
        from studies.neurons.__main__ import main
    elif name == "circuits":
        from studies.circuits.__main__ import main
    else:
        raise KeyError(name)
    return main


@dataclass(frozen=True)
class Case:
    """One hostile case: ``damage(folder)`` spoils the folder and returns the command's argv; the message must hold
    every one of ``words``."""

    id: str
    command: str
    damage: Callable[[Path], list[str]]
    words: tuple[str, ...]


RUN = ["config.json", "--no-build"]


def run_case(id_: str, damage: Callable[[Path], None], *words: str) -> Case:
    """A case of ``run_pointnet.py config.json --no-build`` after ``damage(folder)``."""
    def argv(folder: Path) -> list[str]:
        damage(folder)
        return [str(folder / "config.json"), "--no-build"]
    return Case(id_, "run", argv, words)


NET = "network"
H5_FILES = ["V1_nodes.h5", "LGN_nodes.h5", "BKG_nodes.h5", "V1_V1_edges.h5", "LGN_V1_edges.h5", "BKG_V1_edges.h5"]
TYPE_FILES = ["V1_node_types.csv", "LGN_node_types.csv", "BKG_node_types.csv", "V1_V1_edge_types.csv",
              "LGN_V1_edge_types.csv", "BKG_V1_edge_types.csv"]
SPIKE_FILES = ["inputs/lgn_spikes.h5", "inputs/bkg_spikes.h5"]
CELL_MODEL = "components/point_neuron_models/LIF_exc.json"
NAN, INF = math.nan, math.inf


def _corrupt_network_cases() -> list[Case]:
    cases = []
    for name in H5_FILES:
        for how, fn in (("truncated", truncate), ("empty", empty), ("garbage", garbage)):
            cases.append(run_case(f"{name}-{how}", lambda f, n=name, fn=fn: fn(f / NET / n), name))
    for name in H5_FILES[:3]:
        cases.append(run_case(f"{name}-no-node_type_id",
                              lambda f, n=name: h5_delete(f / NET / n, f"nodes/{n[:-9]}/node_type_id"), name,
                              "node_type_id"))
        cases.append(run_case(f"{name}-unknown-node-type", lambda f, n=name: _set_all(
            f / NET / n, f"nodes/{n[:-9]}/node_type_id", 999), name, "999"))
    for name, pop in (("V1_V1_edges.h5", "V1_to_V1"), ("LGN_V1_edges.h5", "LGN_to_V1"),
                      ("BKG_V1_edges.h5", "BKG_to_V1")):
        for dataset in ("edge_type_id", "source_node_id", "target_node_id"):
            cases.append(run_case(f"{name}-no-{dataset}", lambda f, n=name, d=f"edges/{pop}/{dataset}":
                                  h5_delete(f / NET / n, d), name, dataset))
        cases.append(run_case(f"{name}-target-out-of-range", lambda f, n=name, p=pop: _shift_ids(
            f / NET / n, f"edges/{p}/target_node_id", 10**6), name, "target_node_id"))
    for name in TYPE_FILES:
        key = "edge_type_id" if "edge" in name else "node_type_id"
        for how, fn in (("empty", empty), ("garbage", garbage)):
            cases.append(run_case(f"{name}-{how}", lambda f, n=name, fn=fn: fn(f / NET / n), name))
        cases.append(run_case(f"{name}-missing-type", lambda f, n=name: drop_row(f / NET / n), name, key))
        cases.append(run_case(f"{name}-no-{key}", lambda f, n=name, k=key: drop_column(f / NET / n, k), name, key))
        cases.append(run_case(f"{name}-bad-{key}", lambda f, n=name, k=key: set_cell(f / NET / n, k, "abc"), name,
                              key))
    for name in ("V1_node_types.csv",):
        for column in ("model_template", "dynamics_params", "model_type"):
            cases.append(run_case(f"{name}-no-{column}", lambda f, n=name, c=column: drop_column(f / NET / n, c),
                                  name, column))
        cases.append(run_case(f"{name}-unknown-model", lambda f: set_cell(f / NET / "V1_node_types.csv",
                                                                           "model_template", "nest:no_such_model"),
                              "V1_node_types.csv", "no_such_model"))
        cases.append(run_case(f"{name}-missing-dynamics-file", lambda f: set_cell(
            f / NET / "V1_node_types.csv", "dynamics_params", "missing.json"), "missing.json"))
    for name in ("V1_V1_edge_types.csv",):
        for column, value in (("syn_weight", "nan"), ("syn_weight", "inf"), ("syn_weight", "abc"), ("delay", "nan"),
                              ("delay", "inf"), ("delay", "1e9"), ("delay", "-1"), ("delay", "0")):
            cases.append(run_case(f"{name}-{column}-{value}", lambda f, c=column, v=value: set_cell(
                f / NET / "V1_V1_edge_types.csv", c, v), "V1_V1_edge_types.csv", column))
        cases.append(run_case(f"{name}-missing-synapse-file", lambda f: set_cell(
            f / NET / "V1_V1_edge_types.csv", "dynamics_params", "missing.json"), "missing.json"))
    return cases


def _set_all(file: Path, dataset: str, value) -> None:
    with h5py.File(file, "r+") as h5:
        h5[dataset][...] = value


def _shift_ids(file: Path, dataset: str, by: int) -> None:
    with h5py.File(file, "r+") as h5:
        h5[dataset][0] = h5[dataset][0] + by


def _spike_cases() -> list[Case]:
    cases = []
    for name in SPIKE_FILES:
        short = Path(name).name
        for how, fn in (("truncated", truncate), ("empty", empty), ("garbage", garbage)):
            cases.append(run_case(f"{short}-{how}", lambda f, n=name, fn=fn: fn(f / n), short))
        pop = "LGN" if "lgn" in name else "BKG"
        cases.append(run_case(f"{short}-no-timestamps", lambda f, n=name, p=pop: h5_delete(
            f / n, f"spikes/{p}/timestamps"), short, "timestamps"))
        cases.append(run_case(f"{short}-nan-time", lambda f, n=name, p=pop: _set_first(
            f / n, f"spikes/{p}/timestamps", NAN), short, "timestamps"))
        cases.append(run_case(f"{short}-negative-time", lambda f, n=name, p=pop: _set_first(
            f / n, f"spikes/{p}/timestamps", -5.0), short, "timestamps"))
        cases.append(run_case(f"{short}-unknown-node", lambda f, n=name, p=pop: _set_first(
            f / n, f"spikes/{p}/node_ids", 10**6), short, "node_ids"))
        cases.append(run_case(f"{short}-other-population", lambda f, n=name, p=pop: _rename_group(
            f / n, f"spikes/{p}", "spikes/XYZ"), short, "XYZ"))
        cases.append(run_case(f"{short}-lengths-differ", lambda f, n=name, p=pop: h5_replace(
            f / n, f"spikes/{p}/node_ids", h5py.File(f / n)[f"spikes/{p}/node_ids"][:10]), short, "node_ids"))
    return cases


def _set_first(file: Path, dataset: str, value) -> None:
    with h5py.File(file, "r+") as h5:
        h5[dataset][0] = value


def _rename_group(file: Path, old: str, new: str) -> None:
    with h5py.File(file, "r+") as h5:
        h5.move(old, new)


def _config_cases() -> list[Case]:
    cases = []
    values = {"nan": NAN, "minus1": -1, "abc": "abc", "1e30": 1e30, "true": True, "float": 1.5, "null": None}
    for section in ("lgn_input", "background_input"):
        for label, value in values.items():
            cases.append(run_case(f"{section}.seed-{label}", lambda f, s=section, v=value: set_json(
                f / "config.json", f"{s}.seed", v), "config.json", f"{section}.seed"))
    for key, value in (("tstop", 1e300), ("tstop", NAN), ("tstop", -1), ("tstop", "x"), ("dt", 0), ("dt", -0.1),
                       ("dt", INF), ("dt", 1e9), ("tstart", INF), ("n_thread", 100000), ("n_thread", 0),
                       ("n_thread", 1.5), ("n_thread", "x")):
        cases.append(run_case(f"run.{key}-{value}", lambda f, k=key, v=value: set_json(
            f / "config.json", f"run.{k}", v), "config.json", f"run.{key}"))
    cases.append(run_case("config-garbage", lambda f: garbage(f / "config.json"), "config.json"))
    cases.append(run_case("config-empty", lambda f: empty(f / "config.json"), "config.json"))
    cases.append(run_case("config-list", lambda f: (f / "config.json").write_text("[1, 2]"), "config.json"))
    cases.append(run_case("config-no-networks", lambda f: _del_json(f / "config.json", "networks"), "networks"))
    cases.append(run_case("config-unknown-manifest-variable", lambda f: set_json(
        f / "config.json", "output.output_dir", "$NOWHERE/out"), "config.json"))
    cases.append(run_case("config-components-missing", lambda f: shutil.rmtree(f / "components" / "synaptic_models"),
                          "synaptic_models"))
    return cases


def _del_json(file: Path, key: str) -> None:
    content = json.loads(file.read_text())
    del content[key]
    file.write_text(json.dumps(content))


def _cell_model_cases() -> list[Case]:
    cases = []
    for key, value in (("C_m", NAN), ("C_m", INF), ("C_m", -1.0), ("C_m", 0.0), ("C_m", "abc"), ("C_m", None),
                       ("C_m", [1, 2]), ("I_e", NAN), ("tau_m", INF), ("tau_m", 0.0), ("tau_m", -5.0),
                       ("t_ref", -1.0), ("V_th", NAN), ("no_such_parameter", 1.0)):
        cases.append(run_case(f"LIF_exc.json-{key}-{value}", lambda f, k=key, v=value: set_json(
            f / CELL_MODEL, k, v), "LIF_exc.json", key))
    cases.append(run_case("LIF_exc.json-garbage", lambda f: garbage(f / CELL_MODEL), "LIF_exc.json"))
    cases.append(run_case("LIF_exc.json-empty", lambda f: empty(f / CELL_MODEL), "LIF_exc.json"))
    cases.append(run_case("LIF_exc.json-list", lambda f: (f / CELL_MODEL).write_text("[]"), "LIF_exc.json"))
    cases.append(run_case("LIF_exc.json-missing", lambda f: (f / CELL_MODEL).unlink(), "LIF_exc.json"))
    syn = "components/synaptic_models/instantaneousExc.json"
    cases.append(run_case("instantaneousExc.json-garbage", lambda f: garbage(f / syn), "instantaneousExc.json"))
    cases.append(run_case("instantaneousExc.json-nan", lambda f: (f / syn).write_text('{"weight": NaN}'),
                          "instantaneousExc.json"))
    cases.append(run_case("instantaneousExc.json-unknown-key", lambda f: (f / syn).write_text('{"no_such": 1.0}'),
                          "NEST stopped the run", "no_such"))
    cases.append(run_case("instantaneousExc.json-string", lambda f: (f / syn).write_text('{"receptor_type": "x"}'),
                          "instantaneousExc.json", "receptor_type"))
    return cases


# --- the builder's parameter tables ---------------------------------------------------------------------------

TABLES = REPO / "build_network"


def build_case(id_: str, table: str, damage: Callable[[Path], None], *words: str) -> Case:
    """A case of ``python -m build_network`` with a damaged copy of one of its parameter files."""
    def argv(folder: Path) -> list[str]:
        copy = folder / Path(table).name
        shutil.copy(TABLES / table, copy)
        damage(copy)
        option = {"v1_v1_connections.csv": "--v1-connections", "lgn_v1_connections.csv": "--lgn-connections",
                  "populations.csv": "--populations", "column.json": "--column", "background.json": "--background",
                  "background.csv": "--background-pool"}.get(Path(table).name, "--weight-scales")
        return ["--n-cells", "300", "--out", str(folder / "built"), option, str(copy)]
    return Case(id_, "build", argv, (Path(table).name, *words))


def _table_cases() -> list[Case]:
    cases = []
    v1, lgn = "v1_v1_connections.csv", "lgn_v1_connections.csv"
    for table, column, value in ((v1, "nsyn_max", "inf"), (v1, "nsyn_max", "-1"), (v1, "nsyn_max", "2.5"),
                                 (v1, "nsyn_min", "nan"), (v1, "psp_mv", "inf"), (v1, "psp_mv", "nan"),
                                 (v1, "psp_mv", "abc"), (v1, "delay_ms", "inf"), (v1, "delay_ms", "1e9"),
                                 (v1, "delay_ms", "0"), (v1, "delay_ms", "-1"), (v1, "d_max_um", "inf"),
                                 (v1, "d_max_um", "-1"), (v1, "d_weight_min", "nan"), (v1, "source", "XYZ"),
                                 (lgn, "nsyn_max", "inf"), (lgn, "psp_mv", "inf"), (lgn, "delay_ms", "1e9"),
                                 (lgn, "d_max_deg", "inf"), (lgn, "nsources_max", "1e30"), (lgn, "target", "XYZ")):
        cases.append(build_case(f"{table}-{column}-{value}", table,
                                lambda f, c=column, v=value: set_cell(f, c, v, sep=","), column))
    cases.append(build_case(f"{v1}-missing-pair", v1, lambda f: drop_row(f, 1, sep=","), "PV"))
    cases.append(build_case(f"{lgn}-missing-target", lgn, lambda f: drop_row(f, 1, sep=","), "PV"))
    for table in (v1, lgn, "populations.csv"):
        cases.append(build_case(f"{table}-empty", table, empty))
        cases.append(build_case(f"{table}-garbage", table, garbage))
    pops = "populations.csv"
    for column, value in (("fraction", "nan"), ("fraction", "-0.1"), ("fraction", "inf"), ("ei", "x")):
        cases.append(build_case(f"{pops}-{column}-{value}", pops, lambda f, c=column, v=value: set_cell(
            f, c, v, sep=","), column))
    for key, value in (("n_cells", 0), ("n_cells", -5), ("n_cells", 1e30), ("n_cells", "x"),
                       ("density_per_mm3", NAN), ("depth_max_um", INF), ("lgn_n_cells", 0), ("deg_per_um_x", NAN)):
        cases.append(build_case(f"column.json-{key}-{value}", "column.json",
                                lambda f, k=key, v=value: set_json(f, k, v), key))
    return cases


def _build_cli_cases() -> list[Case]:
    def build(*argv: str) -> Callable[[Path], list[str]]:
        return lambda f: [*argv, "--out", str(f / "built")]
    return [Case("build--seed-1", "build", build("--seed", "-1", "--n-cells", "300"), ("--seed",)),
            Case("build--seed-2**70", "build", build("--seed", str(2**70), "--n-cells", "300"), ("--seed",)),
            Case("build--n-cells-0", "build", build("--n-cells", "0"), ("--n-cells",)),
            Case("build--n-cells--5", "build", build("--n-cells", "-5"), ("--n-cells",)),
            Case("build-out-is-a-file", "build", lambda f: ["--n-cells", "300", "--out", str(f / "config.json")],
                 ("config.json",))]


def _output_cases() -> list[Case]:
    def out_is_file(f: Path) -> list[str]:
        set_json(f / "config.json", "output.output_dir", "$BASE_DIR/config.json")
        return [str(f / "config.json"), "--no-build"]
    return [Case("run-output_dir-is-a-file", "run", out_is_file, ("output_dir", "config.json")),
            Case("report-dir-is-a-file", "analysis", lambda f: ["report", str(f / "config.json")], ("config.json",)),
            Case("report-dir-missing", "analysis", lambda f: ["report", str(f / "nothing")], ("nothing",)),
            Case("criticality-out-is-a-file", "analysis", lambda f: [
                "criticality", str(f / "output" / "spikes.h5"), "--out", str(f / "network")], ("network",)),
            Case("criticality-no-spikes", "analysis", lambda f: [
                "criticality", str(f / "network" / "V1_nodes.h5"), "--out", str(f / "c.json")], ("V1_nodes.h5",)),
            Case("inputs-spikes-out-is-a-folder", "inputs", lambda f: [
                "spikes", "--config", str(f / "config.json"), "--network", str(f / "network"), "--out",
                str(f / "network")], ("network",)),
            Case("inputs-spikes-out-in-a-file", "inputs", lambda f: [
                "spikes", "--config", str(f / "config.json"), "--network", str(f / "network"), "--out",
                str(f / "config.json" / "x.h5")], ("config.json",)),
            Case("perturbations-out-is-a-file", "perturbations", lambda f: [
                "run", "--config", str(f / "config.json"), "--out", str(f / "config.json")], ("config.json",)),
            Case("neurons-trace-out-is-a-file", "neurons", lambda f: [
                "trace", "--model", "lif", "--input", "constant", "--amp", "400", "--out",
                str(f / "config.json")], ("config.json",)),
            Case("circuits-run-out-is-a-file", "circuits", lambda f: [
                "run", "--topology", "random", "--n", "50", "--tstop-ms", "100", "--out",
                str(f / "config.json")], ("config.json",))]


CASES = (_corrupt_network_cases() + _spike_cases() + _config_cases() + _cell_model_cases() + _table_cases()
         + _build_cli_cases() + _output_cases())


def _record(case_id: str, name: str, code: int, err: str) -> None:
    """With ``HOSTILE_REPORT=FILE``, append the case's ending (id, command, exit code, last stderr line) to FILE."""
    report = os.environ.get("HOSTILE_REPORT")
    if report:
        last = err.strip().splitlines()[-1] if err.strip() else ""
        with open(report, "a", newline="") as out:
            csv.writer(out).writerow([case_id, name, code, "Traceback" in err, last[:300]])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_case(case: Case, folder: Path, capsys) -> None:
    argv = case.damage(folder)
    before = snapshot(folder)
    capsys.readouterr()
    code = run_cli(command(case.command), argv)
    err = capsys.readouterr().err
    _record(case.id, case.command, code, err)
    assert code == 2, f"exit {code}; stderr: {err[-2000:]}"
    message = err.strip().splitlines()
    assert message and message[-1].startswith("error: "), err[-2000:]
    assert "Traceback" not in err
    for word in case.words:
        assert word in message[-1], f"{word!r} not named in: {message[-1]}"
    assert snapshot(folder) == before, "the command wrote or changed files"


# --- read-only and full places ---------------------------------------------------------------------------------

@pytest.fixture()
def place(tmp_path, request):
    """A small tmpfs mounted at ``tmp_path / 'place'``: read-only (``ro``) or with 64 kB of room (``full``)."""
    mount = tmp_path / "place"
    mount.mkdir()
    options = "size=64k" if request.param == "full" else "ro,size=64k"
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.decode().strip()}")
    if request.param == "full":  # fill it: every later write fails with ENOSPC
        fd = os.open(mount / FILLER, os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
    yield request.param, mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _place_argv(name: str, folder: Path, target: Path) -> tuple[str, list[str]]:
    """The command ``name`` writing its results into ``target`` (a folder on the mounted place)."""
    config = str(folder / "config.json")
    if name == "run":
        set_json(folder / "config.json", "output.output_dir", str(target / "out"))
        return "run", [config, "--no-build"]
    return {
        "build": ("build", ["--n-cells", "300", "--out", str(target / "net")]),
        "inputs": ("inputs", ["spikes", "--config", config, "--network", str(folder / "network"),
                              "--out", str(target / "lgn.h5")]),
        "criticality": ("analysis", ["criticality", str(folder / "output" / "spikes.h5"),
                                     "--out", str(target / "c.json")]),
        "perturbations": ("perturbations", ["run", "--config", config, "--only", "baseline",
                                            "--out", str(target / "p")]),
        "neurons": ("neurons", ["trace", "--model", "lif", "--input", "constant", "--amp", "400",
                                "--out", str(target / "trace")]),
        "circuits": ("circuits", ["run", "--topology", "random", "--n", "50", "--tstop-ms", "100",
                                  "--out", str(target / "circ")]),
    }[name]


FILLER = "filler.bin"
PLACE_COMMANDS = ["run", "build", "inputs", "criticality", "perturbations", "neurons", "circuits"]


@pytest.mark.parametrize("place", ["ro", "full"], indirect=True)
@pytest.mark.parametrize("name", PLACE_COMMANDS)
def test_read_only_or_full_place(name: str, place, folder: Path, capsys) -> None:
    kind, mount = place
    short, argv = _place_argv(name, folder, mount)
    capsys.readouterr()
    code = run_cli(command(short), argv)
    err = capsys.readouterr().err
    _record(f"{name}-{kind}", short, code, err)
    assert code == 2, f"exit {code}; stderr: {err[-2000:]}"
    assert "Traceback" not in err
    words = ("read-only",) if kind == "ro" else ("disk is full",)
    assert all(w in err.splitlines()[-1] for w in words), err[-1500:]
    assert str(mount) in err.splitlines()[-1]
    leftovers = [p for p in mount.rglob("*") if p.is_file() and p.name != FILLER]
    assert not leftovers, f"partial files left: {leftovers}"


@pytest.mark.parametrize(("case_id", "key", "value"), [("n_thread-100000", "run.n_thread", 100000),
                                                     ("tstop-1e300", "run.tstop", 1e300),
                                                     ("seed-nan", "lgn_input.seed", NAN)])
def test_the_real_command_line(case_id: str, key: str, value, folder: Path) -> None:
    """The cases that once crashed the interpreter or NEST, through ``python run_pointnet.py`` itself."""
    set_json(folder / "config.json", key, value)
    before = snapshot(folder)
    done = subprocess.run([sys.executable, str(REPO / "run_pointnet.py"), str(folder / "config.json"), "--no-build"],
                          capture_output=True, text=True, timeout=300)
    _record(f"subprocess-{case_id}", "run", done.returncode, done.stderr)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert key in done.stderr
    assert snapshot(folder) == before
