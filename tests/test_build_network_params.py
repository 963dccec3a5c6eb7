"""Parameter tables: what the defaults hold, and bad input rejected with file, row and field (exit 2, no files)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from helpers import REPO

from build_network import ModelSpec, ParameterError, build_network
from build_network import params as P
from build_network.__main__ import main


def test_defaults_hold_the_seed_table(spec):
    table = spec.v1_connections.set_index(["source", "target"])
    assert len(table) == 16
    assert table.loc[("LIF_exc", "LIF_exc"), ["d_weight_min", "d_weight_max", "delay_ms"]].tolist() == [
        0.0345, 0.107, 1.6]
    assert table.loc[("PV", "SST"), ["d_weight_min", "d_weight_max", "delay_ms"]].tolist() == [0.03, 0.18, 1.2]
    assert table.loc[("VIP", "VIP"), ["d_weight_min", "d_weight_max", "delay_ms"]].tolist() == [0.0, 0.045, 1.5]
    assert set(table.loc["LIF_exc"].d_max_um) == {300.0}
    assert set(table.drop(index="LIF_exc").d_max_um) == {160.0}
    assert set(table.nsyn_min) == {3} and set(table.nsyn_max) == {7}
    lgn = spec.lgn_connections
    assert set(lgn.target) == {"LIF_exc", "PV", "SST", "VIP"}
    assert lgn[["nsources_min", "nsources_max", "nsyn_min", "nsyn_max"]].drop_duplicates().values.tolist() == [
        [10, 30, 3, 12]]


def test_psp_weights_are_the_synphys_medians(spec, shared_data):
    """The psp_mv column is the median resting PSP of the synphys connection it names."""
    psp = pd.read_csv(shared_data / "synphys" / "psp_characterization.csv", sep=r"\s+").set_index("connection")
    for row in spec.v1_connections.itertuples():
        connection = row.psp_source.split()[1]
        assert row.psp_mv == pytest.approx(float(psp.loc[connection, "median_resting"]), abs=5e-5)


def test_cell_models_are_the_allen_fits(shared_data):
    """Each cell model names an Allen population of the Billeh model's L2/3, and its numbers are plausible."""
    pops = P.load_populations()
    models = json.loads((shared_data / "billeh2020" / "v1_node_models.json").read_text())
    l23 = models["locations"]["VisL23"]
    for row in pops.itertuples():
        assert row.allen_pop_name in l23
        cell = json.loads((P.COMPONENTS_DIR / "point_neuron_models" / row.dynamics_params).read_text())
        assert cell["E_L"] < cell["V_th"] < 0 and cell["V_reset"] < cell["V_th"]
        assert 1 < cell["tau_m"] < 100 and 10 < cell["C_m"] < 500 and cell["t_ref"] > 0


def _write(tmp_path, name, table: pd.DataFrame):
    path = tmp_path / name
    table.to_csv(path, index=False)
    return path


BAD_V1 = [
    ("d_weight_max", 1.4, "outside [0, 1]"),
    ("d_weight_min", -0.1, "outside [0, 1]"),
    ("delay_ms", -1.0, "must lie in (0, 1000] ms"),
    ("d_max_um", -5.0, "must be > 0"),
    ("nsyn_min", 9, "nsyn_min <= nsyn_max"),
    ("target", "L5_IT", "unknown population 'L5_IT'"),
    ("psp_mv", "abc", "is not a finite number"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_V1)
def test_bad_v1_table_names_file_row_and_field(tmp_path, field, value, message):
    table = pd.read_csv(P.V1_CONNECTIONS_FILE)
    table[field] = table[field].astype(object)
    table.loc[5, field] = value
    path = _write(tmp_path, "v1.csv", table)
    with pytest.raises(ParameterError) as err:
        P.load_v1_connections(P.load_populations(), path)
    text = str(err.value)
    assert str(path) in text and "row 6 (line 7" in text and f"field '{field}'" in text and message in text
    if field == "target":
        assert "['LIF_exc', 'PV', 'SST', 'VIP']" in text  # the valid choices


def test_bad_lgn_and_population_tables(tmp_path):
    lgn = pd.read_csv(P.LGN_CONNECTIONS_FILE)
    lgn.loc[2, "nsources_max"] = 900
    with pytest.raises(ParameterError, match=r"row 3 .*field 'nsources_min'.*<= 500"):
        P.load_lgn_connections(P.load_populations(), P.load_column(), _write(tmp_path, "lgn.csv", lgn))
    pops = pd.read_csv(P.POPULATIONS_FILE)
    pops.loc[1, "ei"] = "x"
    with pytest.raises(ParameterError, match=r"row 2 .*field 'ei'.*not one of 'e', 'i'"):
        P.load_populations(_write(tmp_path, "pops.csv", pops))
    pops = pd.read_csv(P.POPULATIONS_FILE)
    pops.loc[0, "fraction"] = 0.5
    with pytest.raises(ParameterError, match="sums to"):
        P.load_populations(_write(tmp_path, "pops2.csv", pops))
    dup = pd.concat([pd.read_csv(P.V1_CONNECTIONS_FILE)] * 2)
    with pytest.raises(ParameterError, match="listed twice"):
        P.load_v1_connections(P.load_populations(), _write(tmp_path, "dup.csv", dup))


def test_too_few_cells(spec, tmp_path):
    with pytest.raises(ParameterError, match=r"--n-cells 10 is too small.*>= 32"):
        build_network(tmp_path / "net", n_cells=10, spec=spec, progress=False)
    assert not (tmp_path / "net").exists()
    assert P.population_sizes(spec.populations, 32)["SST"] >= 1


def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    table = pd.read_csv(P.V1_CONNECTIONS_FILE)
    table.loc[0, "d_weight_max"] = 2.0
    bad = _write(tmp_path, "bad.csv", table)
    out = tmp_path / "network"
    assert main(["--n-cells", "500", "--out", str(out), "--v1-connections", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv, row 1 (line 2, source=LIF_exc, target=LIF_exc), field 'd_weight_max'" in err
    assert not out.exists()
    assert main(["--n-cells", "10", "--out", str(out)]) == 2
    assert "too small" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".network*"))


def test_cli_builds_and_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "network"
    assert main(["--n-cells", "400", "--seed", "3", "--out", str(out)]) == 0
    assert "built the background model: 400 V1 cells" in capsys.readouterr().out
    before = (out / "V1_V1_edges.h5").read_bytes()
    assert main(["--n-cells", "500", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "V1_V1_edges.h5").read_bytes() == before
    assert main(["--n-cells", "500", "--out", str(out), "--force"]) == 0
    assert json.loads((out / "build_info.json").read_text())["n_cells"] == 500


def test_interrupted_build_leaves_previous_network(tmp_path, monkeypatch, spec):
    out = tmp_path / "network"
    build_network(out, n_cells=400, seed=1, spec=spec, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("build_network.build.swap_into_place", crash)
    with pytest.raises(KeyboardInterrupt):
        build_network(out, n_cells=600, seed=2, spec=spec, force=True, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["network"], "temporary build folder left behind"


def test_module_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "build_network", "--n-cells", "5", "--out", str(tmp_path / "n")],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "too small" in result.stderr
    assert isinstance(ModelSpec.load(), ModelSpec)
