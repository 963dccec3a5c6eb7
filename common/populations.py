"""The one table of the model's V1 populations: experimental cell class, layer and plotting colour.

``common/populations.csv`` is read by the analysis (which class of the Neuropixels units a population is compared
with) and by every figure (one colour per population in every figure of a report).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

#: population, cell_class (E, PV, SST, VIP), layer, colour (a matplotlib colour).
POPULATIONS_FILE = Path(__file__).resolve().parent / "populations.csv"


@cache
def population_table(path: Path = POPULATIONS_FILE) -> pd.DataFrame:
    """The population table, indexed by population (model ``pop_name``)."""
    return pd.read_csv(path).set_index("population")


def colours() -> dict[str, str]:
    """Population -> its colour, in table order."""
    return population_table().colour.to_dict()


def colour(population: str, k: int = 0) -> str:
    """The colour of ``population``; another population gets matplotlib's cycle colour ``C{k}``.

    Examples
    --------
    >>> colour("PV"), colour("exc", 3)
    ('tab:blue', 'C3')
    """
    return colours().get(population, f"C{k % 10}")
