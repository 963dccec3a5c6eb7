"""Model parameters of the V1 + LGN network, read from the data files beside this module.

Every number that defines the network lives in one of four files, each with its unit in the column name:

- ``populations.csv``: the V1 populations, their E/I identity, fraction of cells and NEST cell model.
- ``v1_v1_connections.csv``: the seed's ``distance_connector`` table, one row per source -> target pair.
- ``lgn_v1_connections.csv``: the seed's ``select_source_cells`` parameters, one row per target population.
- ``column.json``: the cortical column (density, depth range), the LGN size and the cortex -> visual-field map.
- ``components/weight_scales.json``: dimensionless multipliers of the synaptic weights, per LGN -> population
  and per E/I block of V1, set by the tuning (``python -m calibration tune``).

Loading validates every field; a bad value raises :class:`ParameterError` naming the file, the row and
the field, before anything is built or written.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import UserError

PARAMS_DIR = Path(__file__).resolve().parent
COMPONENTS_DIR = PARAMS_DIR.parent / "components"
POPULATIONS_FILE = PARAMS_DIR / "populations.csv"
V1_CONNECTIONS_FILE = PARAMS_DIR / "v1_v1_connections.csv"
LGN_CONNECTIONS_FILE = PARAMS_DIR / "lgn_v1_connections.csv"
COLUMN_FILE = PARAMS_DIR / "column.json"
WEIGHT_SCALES_FILE = COMPONENTS_DIR / "weight_scales.json"
CELL_MODELS_DIR = COMPONENTS_DIR / "point_neuron_models"


#: Limits that are not in the tables' own rules: the longest synaptic delay NEST is asked to buffer (ms; NEST keeps
#: max_delay / dt ring-buffer slots per cell, and cortical axonal delays are below 50 ms), the most synapses per
#: connection, the most V1 cells (the Allen V1 model has 230,924), and the largest master seed.
MAX_DELAY_MS = 1000.0
MAX_NSYN = 1000
MAX_CELLS = 2_000_000
MAX_SEED = 2**32 - 1


class ParameterError(UserError):
    """A model parameter file holds a value the builder cannot use."""


@dataclass(frozen=True)
class Column:
    """Geometry of the cortical column and of the LGN input.

    Attributes
    ----------
    n_cells : int
        Default number of V1 cells.
    density_per_mm3 : float
        Cell density (cells / mm^3); the column radius follows from it and the cell count.
    depth_min_um, depth_max_um : float
        Depth range below the pia (um) of the layer modelled (L2/3).
    lgn_n_cells : int
        Number of LGN cells.
    lgn_pop_name : str
        ``pop_name`` of the LGN cells.
    deg_per_um_x, deg_per_um_z : float
        Cortical magnification used by ``convert_to_2d`` (deg / um) along x and z.
    """

    n_cells: int
    density_per_mm3: float
    depth_min_um: float
    depth_max_um: float
    lgn_n_cells: int
    lgn_pop_name: str
    deg_per_um_x: float
    deg_per_um_z: float

    @property
    def thickness_um(self) -> float:
        """Thickness of the layer (um)."""
        return self.depth_max_um - self.depth_min_um

    def radius_um(self, n_cells: int) -> float:
        """Radius (um) of the cylinder holding ``n_cells`` at the column's density."""
        volume_um3 = n_cells / self.density_per_mm3 * 1e9
        return math.sqrt(volume_um3 / (math.pi * self.thickness_um))


def _fail(path: Path, message: str) -> ParameterError:
    return ParameterError(f"{path}: {message}")


def _row_fail(path: Path, index: int, label: str, field: str, message: str) -> ParameterError:
    # index is the 0-based data row; the file line is index + 2 (header on line 1)
    return ParameterError(f"{path}, row {index + 1} (line {index + 2}, {label}), field '{field}': {message}")


def _read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise _fail(path, "file not found.")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise _fail(path, f"not a readable CSV table ({err}).") from err
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise _fail(path, f"missing column(s) {missing}; the table needs the columns {required}.")
    return table


def _numbers(path: Path, table: pd.DataFrame, label_of, fields: list[str]) -> None:
    """Coerce ``fields`` to finite numbers, naming the first cell that is not one (NaN and inf are not)."""
    for field in fields:
        values = pd.to_numeric(table[field], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            i = int(bad.nonzero()[0][0])
            raise _row_fail(path, i, label_of(i), field, f"{table[field].iloc[i]!r} is not a finite number.")
        table[field] = values


def check_seed(seed: object, name: str = "--seed") -> int:
    """``seed`` as an int, if it is a whole number in [0, :data:`MAX_SEED`].

    Raises
    ------
    ParameterError
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= MAX_SEED:
        raise ParameterError(f"{name} must be a whole number from 0 to {MAX_SEED}, got {seed!r}.")
    return int(seed)


def check_n_cells(n_cells: object, name: str = "--n-cells") -> int:
    """``n_cells`` as an int, if it is a whole number in [1, :data:`MAX_CELLS`].

    Raises
    ------
    ParameterError
    """
    if isinstance(n_cells, bool) or not isinstance(n_cells, int | np.integer) or not 1 <= n_cells <= MAX_CELLS:
        raise ParameterError(f"{name} must be a whole number from 1 to {MAX_CELLS:,} (the Allen V1 model has "
                             f"230,924 cells), got {n_cells!r}.")
    return int(n_cells)


def load_column(path: Path = COLUMN_FILE) -> Column:
    """Read the column geometry from ``column.json``.

    Parameters
    ----------
    path : Path
        JSON file with the fields of :class:`Column`.

    Returns
    -------
    Column

    Raises
    ------
    ParameterError
        If a field is missing or out of range.
    """
    if not Path(path).is_file():
        raise _fail(Path(path), "file not found.")
    try:
        raw = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _fail(Path(path), f"not valid JSON ({err}).") from err
    if not isinstance(raw, dict):
        raise _fail(Path(path), "must hold a JSON object of the column's fields.")
    fields = list(Column.__dataclass_fields__)
    missing = [f for f in fields if f not in raw]
    if missing:
        raise _fail(Path(path), f"missing field(s) {missing}; expected {fields}.")
    for name in fields:
        value = raw[name]
        if name == "lgn_pop_name":
            if not isinstance(value, str) or not value:
                raise _fail(Path(path), f"field '{name}' must be a population name, got {value!r}.")
        elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _fail(Path(path), f"field '{name}' must be a finite number, got {value!r}.")
    for name in ("n_cells", "lgn_n_cells"):
        if raw[name] != int(raw[name]) or not 1 <= raw[name] <= MAX_CELLS:
            raise _fail(Path(path), f"field '{name}' must be a whole number from 1 to {MAX_CELLS:,}, "
                        f"got {raw[name]!r}.")
    column = Column(**{f: raw[f] for f in fields})
    for name in ("n_cells", "density_per_mm3", "lgn_n_cells", "deg_per_um_x", "deg_per_um_z"):
        if not getattr(column, name) > 0:
            raise _fail(Path(path), f"field '{name}' must be > 0, got {getattr(column, name)!r}.")
    if not 0 <= column.depth_min_um < column.depth_max_um:
        raise _fail(Path(path), "fields 'depth_min_um' and 'depth_max_um' must satisfy 0 <= min < max.")
    return column


def load_populations(path: Path = POPULATIONS_FILE) -> pd.DataFrame:
    """Read and check the V1 population table.

    Parameters
    ----------
    path : Path
        CSV with columns ``pop_name, ei, fraction, model_template, dynamics_params, allen_pop_name``.

    Returns
    -------
    pandas.DataFrame
        One row per population, in file order (which is also the node-id order).

    Raises
    ------
    ParameterError
        On a duplicate name, an ``ei`` other than ``e``/``i``, fractions outside (0, 1] or not summing to 1,
        or a cell-model file missing from ``components/point_neuron_models/``.
    """
    path = Path(path)
    table = _read_csv(path, ["pop_name", "ei", "fraction", "model_template", "dynamics_params"])
    _numbers(path, table, lambda i: f"pop_name={table.pop_name.iloc[i]}", ["fraction"])
    for i, row in table.iterrows():
        label = f"pop_name={row.pop_name}"
        if row.ei not in ("e", "i"):
            raise _row_fail(path, i, label, "ei", f"{row.ei!r} is not one of 'e', 'i'.")
        if not 0 < row.fraction <= 1:
            raise _row_fail(path, i, label, "fraction", f"{row.fraction} is outside (0, 1].")
        model_file = CELL_MODELS_DIR / str(row.dynamics_params)
        if not model_file.is_file():
            raise _row_fail(path, i, label, "dynamics_params", f"no file {model_file}.")
    dup = table.pop_name[table.pop_name.duplicated()]
    if len(dup):
        i = int(dup.index[0])
        raise _row_fail(path, i, f"pop_name={dup.iloc[0]}", "pop_name", "population named twice.")
    if abs(table.fraction.sum() - 1.0) > 1e-6:
        raise _fail(path, f"field 'fraction' sums to {table.fraction.sum():.6f}; the fractions must sum to 1.")
    return table


def _check_pops(path, table, i, label, field, pops) -> None:
    if table[field].iloc[i] not in pops:
        raise _row_fail(path, i, label, field,
                        f"unknown population {table[field].iloc[i]!r}; valid populations are {sorted(pops)}.")


def load_v1_connections(populations: pd.DataFrame, path: Path = V1_CONNECTIONS_FILE) -> pd.DataFrame:
    """Read and check the V1 -> V1 connection table (the seed's ``distance_connector`` table).

    Parameters
    ----------
    populations : pandas.DataFrame
        The population table; sources and targets must name its populations.
    path : Path
        CSV with one row per source -> target pair: ``d_weight_min``, ``d_weight_max`` (connection
        probability at r = d_max and r = 0), ``d_max_um``, ``nsyn_min``, ``nsyn_max`` (inclusive),
        ``delay_ms`` and ``psp_mv`` (unitary PSP amplitude, mV, unsigned).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ParameterError
        On an unknown population, a duplicate pair, a probability outside [0, 1], a non-positive
        ``d_max_um`` or ``delay_ms``, ``nsyn_min`` < 1 or > ``nsyn_max``, or a negative ``psp_mv``.
    """
    path = Path(path)
    numeric = ["d_weight_min", "d_weight_max", "d_max_um", "nsyn_min", "nsyn_max", "delay_ms", "psp_mv"]
    table = _read_csv(path, ["source", "target", *numeric])
    pops = set(populations.pop_name)

    def label(i: int) -> str:
        return f"source={table.source.iloc[i]}, target={table.target.iloc[i]}"

    _numbers(path, table, label, numeric)
    for i in range(len(table)):
        _check_pops(path, table, i, label(i), "source", pops)
        _check_pops(path, table, i, label(i), "target", pops)
        row = table.iloc[i]
        for field in ("d_weight_min", "d_weight_max"):
            if not 0 <= row[field] <= 1:
                raise _row_fail(path, i, label(i), field,
                                f"{row[field]} is outside [0, 1]; it is a connection probability.")
        _check_common(path, i, label(i), row, "d_max_um")
    dup = table.duplicated(["source", "target"])
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise _row_fail(path, i, label(i), "source", "this source -> target pair is listed twice.")
    listed = set(zip(table.source, table.target, strict=True))
    absent = [f"{a}->{b}" for a in populations.pop_name for b in populations.pop_name if (a, b) not in listed]
    if absent:
        raise _fail(path, f"no row for the pair(s) {absent}; every source -> target pair of {sorted(pops)} needs "
                    "a row (d_weight_min = d_weight_max = 0 for none).")
    return table


def _check_common(path: Path, i: int, label: str, row: pd.Series, dmax_field: str) -> None:
    if not row[dmax_field] > 0:
        raise _row_fail(path, i, label, dmax_field, f"{row[dmax_field]} must be > 0.")
    if not 0 < row.delay_ms <= MAX_DELAY_MS:
        raise _row_fail(path, i, label, "delay_ms", f"{row.delay_ms} must lie in (0, {MAX_DELAY_MS:g}] ms.")
    if not row.psp_mv >= 0:
        raise _row_fail(path, i, label, "psp_mv", f"{row.psp_mv} must be >= 0 mV (the sign comes from 'ei').")
    for field in ("nsyn_min", "nsyn_max"):
        if row[field] != int(row[field]):
            raise _row_fail(path, i, label, field, f"{row[field]} is not a whole number.")
    if not 1 <= row.nsyn_min <= row.nsyn_max <= MAX_NSYN:
        raise _row_fail(path, i, label, "nsyn_min",
                        f"need 1 <= nsyn_min <= nsyn_max <= {MAX_NSYN}, got nsyn_min={row.nsyn_min:g}, "
                        f"nsyn_max={row.nsyn_max:g}.")


def load_lgn_connections(populations: pd.DataFrame, column: Column,
                         path: Path = LGN_CONNECTIONS_FILE) -> pd.DataFrame:
    """Read and check the LGN -> V1 table (the seed's ``select_source_cells`` parameters).

    Parameters
    ----------
    populations : pandas.DataFrame
        The population table; targets must name its populations.
    column : Column
        Supplies the number of LGN cells, the upper bound of ``nsources_max``.
    path : Path
        CSV with one row per target population: ``nsources_min``, ``nsources_max`` (candidate sources per
        target, inclusive), ``d_max_deg`` (visual-field distance, degrees), ``nsyn_min``, ``nsyn_max``
        (inclusive), ``delay_ms``, ``psp_mv``.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ParameterError
        As :func:`load_v1_connections`, plus ``nsources_min`` < 1, > ``nsources_max``, or
        ``nsources_max`` larger than the LGN.
    """
    path = Path(path)
    numeric = ["nsources_min", "nsources_max", "d_max_deg", "nsyn_min", "nsyn_max", "delay_ms", "psp_mv"]
    table = _read_csv(path, ["target", *numeric])
    pops = set(populations.pop_name)

    def label(i: int) -> str:
        return f"target={table.target.iloc[i]}"

    _numbers(path, table, label, numeric)
    for i in range(len(table)):
        _check_pops(path, table, i, label(i), "target", pops)
        row = table.iloc[i]
        _check_common(path, i, label(i), row, "d_max_deg")
        if not 1 <= row.nsources_min <= row.nsources_max <= column.lgn_n_cells:
            raise _row_fail(path, i, label(i), "nsources_min",
                            f"need 1 <= nsources_min <= nsources_max <= {column.lgn_n_cells} (LGN cells), "
                            f"got {row.nsources_min:g} and {row.nsources_max:g}.")
    dup = table.duplicated(["target"])
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise _row_fail(path, i, label(i), "target", "this target population is listed twice.")
    absent = sorted(pops - set(table.target))
    if absent:
        raise _fail(path, f"no row for the target population(s) {absent}; every V1 population of {sorted(pops)} "
                    "needs a row.")
    return table


def population_sizes(populations: pd.DataFrame, n_cells: int) -> dict[str, int]:
    """Split ``n_cells`` among the populations by their fractions (largest remainder, sums exactly).

    Parameters
    ----------
    populations : pandas.DataFrame
        The population table.
    n_cells : int
        Total number of V1 cells.

    Returns
    -------
    dict of str to int
        Cells per population, in table order.

    Raises
    ------
    ParameterError
        If a population would get no cell.

    Examples
    --------
    >>> population_sizes(load_populations(), 10000)
    {'LIF_exc': 8500, 'PV': 440, 'SST': 320, 'VIP': 740}
    """
    exact = populations.fraction.to_numpy() * n_cells
    sizes = exact.astype(int)
    remainder = n_cells - sizes.sum()
    for k in sorted(range(len(sizes)), key=lambda j: (sizes[j] - exact[j], j))[:remainder]:
        sizes[k] += 1
    empty = [p for p, s in zip(populations.pop_name, sizes, strict=True) if s == 0]
    if empty:
        smallest = populations.fraction.min()
        raise ParameterError(
            f"--n-cells {n_cells} is too small: population(s) {empty} would have no cell. "
            f"The smallest fraction is {smallest:g}, so use --n-cells >= {math.ceil(1 / smallest)}.")
    return dict(zip(populations.pop_name, (int(s) for s in sizes), strict=True))


def weight_scale_keys(populations: pd.DataFrame) -> list[str]:
    """The keys of ``weight_scales.json``: ``lgn_to_<pop>`` per population, and ``<e|i>_to_<e|i>`` per V1 block."""
    return [f"lgn_to_{p}" for p in populations.pop_name] + [f"{a}_to_{b}" for a in "ei" for b in "ei"]


def load_weight_scales(populations: pd.DataFrame, path: Path = WEIGHT_SCALES_FILE) -> dict[str, float]:
    """Read the weight scales (dimensionless, > 0).

    Parameters
    ----------
    populations : pandas.DataFrame
        The population table (defines the ``lgn_to_<pop>`` keys).
    path : Path
        JSON object mapping each key of :func:`weight_scale_keys` to a positive number.

    Returns
    -------
    dict of str to float

    Raises
    ------
    ParameterError
        On a missing or unknown key or a value that is not a positive number.
    """
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "file not found.")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise _fail(path, f"not valid JSON ({err}).") from err
    keys = weight_scale_keys(populations)
    if not isinstance(raw, dict) or set(raw) != set(keys):
        found = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise _fail(path, f"needs exactly the keys {keys}; found {found}.")
    for key in keys:
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise _fail(path, f"field '{key}' must be a positive number, got {value!r}.")
    return {key: float(raw[key]) for key in keys}
