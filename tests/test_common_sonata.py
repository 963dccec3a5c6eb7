"""SONATA files that libsonata, the reference reader, opens as well as bmtk: every network file of a build, the
input spikes (LGN, background, stimulus sessions) and a run's output spikes, each checked against h5py."""

from __future__ import annotations

import json

import h5py
import libsonata
import numpy as np
import pandas as pd
import pytest

from common.sonata import (
    SORTING,
    conform_network,
    conform_spikes,
    read_spikes,
    spikes_sorting,
    write_spikes,
)

NODE_FILES = ("V1", "LGN", "BKG")
EDGE_FILES = ("V1_V1", "LGN_V1", "BKG_V1")


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """The background model (the CLI's default: V1, LGN and BKG files), 800 cells, built with build_network."""
    from build_network import ModelSpec, build_network

    out = tmp_path_factory.mktemp("sonata") / "network"
    build_network(out, n_cells=800, seed=2, spec=ModelSpec.for_model("background"), progress=False)
    return out


def _h5_nodes(path, population):
    with h5py.File(path, "r") as h5:
        grp = h5[f"nodes/{population}"]
        return {"node_id": grp["node_id"][()],
                **{name: ds[()] for name, ds in grp["0"].items() if isinstance(ds, h5py.Dataset)}}


@pytest.mark.parametrize("name", NODE_FILES)
def test_nodes_open_in_libsonata(network, name):
    path = network / f"{name}_nodes.h5"
    storage = libsonata.NodeStorage(str(path))
    assert storage.population_names == {name}
    population = storage.open_population(name)
    expected = _h5_nodes(path, name)
    assert population.size == len(expected["node_id"])
    everything = population.select_all()
    one_d = {key for key, values in expected.items() if values.ndim == 1 and key != "node_id"}
    assert one_d <= population.attribute_names
    for key in one_d:
        assert np.array_equal(population.get_attribute(key, everything), expected[key]), key
    if name == "V1":  # the reserved x, y, z beside bmtk's positions, which stays
        assert {"x", "y", "z", "positions"} <= population.attribute_names
        for k, axis in enumerate("xyz"):
            assert np.array_equal(population.get_attribute(axis, everything), expected["positions"][:, k])
    if name == "LGN":  # the LGN's own x, y (visual field, deg) are untouched
        assert expected["x"].ndim == 1 and "z" not in population.attribute_names


def _pick(ids, n):
    """A few node ids: the first, last, some in between and one past the end (which has no edges)."""
    unique = np.unique(ids)
    return sorted({int(unique[0]), int(unique[-1]), *map(int, unique[:: max(1, len(unique) // n)]),
                   int(unique[-1]) + 1})


@pytest.mark.parametrize("name", EDGE_FILES)
def test_edges_open_in_libsonata(network, name):
    path = network / f"{name}_edges.h5"
    source, target = name.split("_")
    storage = libsonata.EdgeStorage(str(path))
    (pop_name,) = storage.population_names
    assert pop_name == f"{source}_to_{target}"
    population = storage.open_population(pop_name)
    with h5py.File(path, "r") as h5:
        grp = h5[f"edges/{pop_name}"]
        src, trg = grp["source_node_id"][()], grp["target_node_id"][()]
        nsyns = grp["0/nsyns"][()][grp["edge_group_index"][()]]
        for index in ("source_to_target", "target_to_source"):  # one dataset, bmtk's and the specification's names
            links = grp[f"indices/{index}"]
            assert links["node_id_to_range"] == links["node_id_to_ranges"]
    assert population.size == len(src)
    assert (population.source, population.target) == (source, target)
    everything = population.select_all()
    assert np.array_equal(population.source_nodes(everything), src)
    assert np.array_equal(population.target_nodes(everything), trg)
    assert np.array_equal(population.get_attribute("nsyns", everything), nsyns)
    for node in _pick(trg, 6):
        afferent = population.afferent_edges([node]).flatten()
        assert np.array_equal(np.sort(afferent), np.flatnonzero(trg == node)), node
        sources = population.source_nodes(population.afferent_edges([node]))
        assert np.array_equal(np.sort(sources), np.sort(src[trg == node])), node
    for node in _pick(src, 6):
        efferent = population.efferent_edges([node]).flatten()
        assert np.array_equal(np.sort(efferent), np.flatnonzero(src == node)), node


def test_type_tables_follow_the_specification(network):
    for path in sorted(network.glob("*_types.csv")):
        raw = path.read_bytes()
        assert b"\r" not in raw, f"{path.name}: CRLF line ends"
        table = pd.read_csv(path, sep=" ", keep_default_na=False)
        id_column = "node_type_id" if path.name.endswith("_node_types.csv") else "edge_type_id"
        assert list(table.columns[:2]) == [id_column, "population"], path.name
        stem = path.name.removesuffix("_node_types.csv").removesuffix("_edge_types.csv")
        expected = stem if id_column == "node_type_id" else "{}_to_{}".format(*stem.split("_"))
        assert set(table.population) == {expected}, path.name
        if id_column == "node_type_id":
            assert set(table.model_type) <= {"point_neuron", "virtual"}, path.name
            virtual = table.model_type == "virtual"
            assert (table.model_template[virtual] == "NULL").all()
            assert table.model_template[~virtual].str.startswith("nest:").all()
    v1 = pd.read_csv(network / "V1_node_types.csv", sep=" ")
    assert set(v1.model_type) == {"point_neuron"}


def test_conform_network_is_idempotent(network, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(network, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    conform_network(copy)
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before


def test_bmtk_reads_the_network(network):
    """bmtk's own SONATA reader: the index under its spelling, positions, the node types with population column."""
    from bmtk.utils.sonata import File

    net = File(data_files=[str(network / "V1_nodes.h5")],
               data_type_files=[str(network / "V1_node_types.csv")])
    v1 = net.nodes["V1"]
    node = v1.get_node_id(0)
    assert node["model_type"] == "point_neuron" and len(node["positions"]) == 3
    edges = File(data_files=[str(network / "LGN_V1_edges.h5")],
                 data_type_files=[str(network / "LGN_V1_edge_types.csv")]).edges["LGN_to_V1"]
    with h5py.File(network / "LGN_V1_edges.h5", "r") as h5:
        trg = h5["edges/LGN_to_V1/target_node_id"][()]
    assert sum(1 for _ in edges.get_target(5)) == int((trg == 5).sum())


def _check_spikes_file(path, populations=None):
    """libsonata reads what h5py reads; the layout is the specification's."""
    reader = libsonata.SpikeReader(str(path))
    with h5py.File(path, "r") as h5:
        assert h5.attrs["magic"] == 0x0A7A
        names = list(h5["spikes"])
        if populations is not None:
            assert sorted(names) == sorted(populations)
        assert sorted(reader.get_population_names()) == sorted(names)
        for name in names:
            grp = h5[f"spikes/{name}"]
            ids, times = grp["node_ids"], grp["timestamps"]
            assert ids.dtype == np.uint64 and times.dtype == np.float64
            assert ids.compression is None and times.compression is None
            assert times.attrs["units"] == "ms"
            assert h5py.check_enum_dtype(grp.attrs.get_id("sorting").dtype) == SORTING
            population = reader[name]
            got = population.get_dict()
            assert np.array_equal(got["node_ids"], ids[()]) and np.array_equal(got["timestamps"], times[()])
            assert population.sorting == "by_time" and np.all(np.diff(times[()]) >= 0)
    return reader


def test_lgn_and_background_spikes_open_in_libsonata(network, tmp_path):
    from inputs.__main__ import main

    config = tmp_path / "none.json"
    lgn, bkg = tmp_path / "lgn.h5", tmp_path / "bkg.h5"
    assert main(["spikes", "--config", str(config), "--network", str(network), "--tstop", "300",
                 "--out", str(lgn)]) == 0
    assert main(["background", "--config", str(config), "--network", str(network), "--tstop", "300",
                 "--out", str(bkg)]) == 0
    _check_spikes_file(lgn, ["LGN"])
    _check_spikes_file(bkg, ["BKG"])
    with h5py.File(network / "BKG_nodes.h5", "r") as h5:
        bkg_ids = h5["nodes/BKG/node_id"][()]
    assert set(read_spikes(bkg)["BKG"][0]) <= set(bkg_ids)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_stimulus_session_spikes_open_in_libsonata(tmp_path):
    from analysis.stimulus import _write_spikes

    path = _write_spikes(tmp_path / "spikes.h5", {"V1": (np.array([3, 1, 2]), np.array([5.0, 0.04, 2.0])),
                                                  "LGN": (np.array([0, 0, 7]), np.array([1.0, 0.5, 9.99]))}, 0.1)
    _check_spikes_file(path, ["V1", "LGN"])
    ids, times = read_spikes(path)["LGN"]
    assert ids.tolist() == [0, 0, 7] and times == pytest.approx([0.5, 1.0, 10.0])


def test_run_output_spikes_open_in_libsonata(tiny_run):
    """bmtk's PointNet ran the conformed network (point_neuron, both index names) on enum-sorted, uint64 input
    spikes, and its output spikes file was rewritten in the same layout."""
    from bmtk.utils.reports.spike_trains import SpikeTrains

    _, out, _ = tiny_run
    path = out / "spikes.h5"
    reader = _check_spikes_file(path, ["V1"])
    ids, times = reader["V1"].get_dict()["node_ids"], reader["V1"].get_dict()["timestamps"]
    assert len(ids) > 0
    trains = SpikeTrains.load(str(path))  # bmtk reads the enum as an unknown order and indexes the spikes itself
    assert trains.n_spikes("V1") == len(ids)
    frame = trains.to_dataframe(populations="V1")
    assert sorted(zip(frame.node_ids, frame.timestamps, strict=True)) == sorted(zip(ids.tolist(), times.tolist(),
                                                                                    strict=True))


def test_conform_spikes_rewrites_bmtk_spikes(tmp_path):
    """A file in bmtk's layout (gzip, int64 ids, sorting a string) fails in libsonata; conformed, it opens, with
    the same spikes, and bmtk still reads it."""
    from bmtk.utils.reports.spike_trains import SpikeTrains, sort_order

    trains = SpikeTrains(units="ms")
    trains.add_spikes(node_ids=np.array([4, 2, 4, 0]), timestamps=np.array([3.0, 1.0, 0.5, 2.0]), population="V1")
    trains.add_spikes(node_ids=np.array([1, 1]), timestamps=np.array([7.0, 6.0]), population="LGN")
    path = tmp_path / "bmtk.h5"
    trains.to_sonata(str(path), sort_order=sort_order.by_id)
    with pytest.raises(Exception):  # noqa: B017 - libsonata's errors have no common class
        libsonata.SpikeReader(str(path))["V1"].get()
    before = read_spikes(path)
    assert spikes_sorting(path) == {"V1": "by_id", "LGN": "by_id"}
    conform_spikes(path, sorting="by_time")
    _check_spikes_file(path, ["V1", "LGN"])
    after = read_spikes(path)
    for pop in ("V1", "LGN"):
        assert sorted(zip(*before[pop], strict=True)) == sorted(zip(*after[pop], strict=True))
    assert SpikeTrains.load(str(path)).n_spikes("V1") == 4
    conform_spikes(path)  # the declared by_time is kept
    assert spikes_sorting(path) == {"V1": "by_time", "LGN": "by_time"}


def test_write_spikes_orders_and_checks(tmp_path):
    path = write_spikes(tmp_path / "s.h5", {"A": ([2, 0, 1, 0], [5.0, 1.0, 1.0, 0.5])}, sorting="by_id")
    reader = libsonata.SpikeReader(str(path))["A"]
    assert reader.sorting == "by_id"
    assert reader.get() == [(0, 0.5), (0, 1.0), (1, 1.0), (2, 5.0)]
    empty = write_spikes(tmp_path / "e.h5", {"A": ([], [])})
    assert libsonata.SpikeReader(str(empty))["A"].get() == []
    with pytest.raises(ValueError, match="equal length"):
        write_spikes(tmp_path / "bad.h5", {"A": ([1, 2], [1.0])})
    with pytest.raises(ValueError, match=">= 0"):
        write_spikes(tmp_path / "bad.h5", {"A": ([-1], [1.0])})
    with pytest.raises(ValueError, match="sorting"):
        write_spikes(tmp_path / "bad.h5", {"A": ([1], [1.0])}, sorting="by_node")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.h5", "s.h5"]


def test_build_info_lists_the_files_libsonata_reads(network):
    info = json.loads((network / "build_info.json").read_text())
    for name in info["files"]:
        if name.endswith("_nodes.h5"):
            assert libsonata.NodeStorage(str(network / name)).population_names
        elif name.endswith("_edges.h5"):
            assert libsonata.EdgeStorage(str(network / name)).population_names


def test_filternet_nodes_open_in_libsonata(network, tmp_path):
    """The LGN cells written for bmtk FilterNet (a temporary network of the stimulus runs) have the same layout."""
    from inputs.filternet import lgn_cells, write_filter_nodes
    from inputs.stimuli import load_protocol

    protocol = load_protocol()
    cells = lgn_cells(network, protocol)
    folder = write_filter_nodes(cells, protocol, tmp_path / "filternet")
    population = libsonata.NodeStorage(str(folder / "LGN_nodes.h5")).open_population("LGN")
    assert population.size == len(cells)
    assert np.array_equal(population.get_attribute("x", population.select_all()), cells.x.to_numpy())
    types = pd.read_csv(folder / "LGN_node_types.csv", sep=" ")
    assert b"\r" not in (folder / "LGN_node_types.csv").read_bytes()
    assert set(types.population) == {"LGN"} and set(types.model_template) == {protocol["lgn"]["model_template"]}
