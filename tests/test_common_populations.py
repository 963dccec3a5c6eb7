"""common.populations: the one table of the model's V1 populations (class, layer, colour) every figure uses."""

from __future__ import annotations

from matplotlib.colors import is_color_like

from build_network.params import load_populations
from common.populations import colour, colours, population_table


def test_every_model_population_has_one_row_and_a_colour():
    table = population_table()
    assert table.index.is_unique
    assert set(load_populations().pop_name) <= set(table.index)
    assert set(table.cell_class) <= {"E", "PV", "SST", "VIP"}
    assert all(is_color_like(c) for c in colours().values())
    assert len(set(colours().values())) == len(table)  # no two populations share a colour


def test_an_unknown_population_gets_the_cycle_colour():
    assert colour("PV") == population_table().loc["PV", "colour"]
    assert colour("not_a_population", 3) == "C3" and colour("not_a_population", 13) == "C3"
