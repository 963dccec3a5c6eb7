"""Held-out responses: the tuned model, the seed's model and the Billeh et al. 2020 model against the data.

The flash and grating metrics (AllenSDK's own, ``python -m analysis stimulus``) are never used in tuning; this
module sets the runs' ``comparison.csv`` tables side by side, per V1 class and metric: the data's median and
IQR, and for each model its median, whether it lies inside the data's IQR and the Kolmogorov-Smirnov distance
of its cells to the data's units. The Billeh model enters where its released per-neuron table has the measure
(``../shared/data/billeh2020/billeh_model_simulated_v1_rates.csv``: ``Ave_Rate(Hz)``, ``OSI`` and ``DSI``
under drifting gratings), through the same comparison (:func:`analysis.responses.compare_metrics`). Its OSI
and DSI are the Billeh paper's definitions, not necessarily AllenSDK's global ``g_osi_dg``/``g_dsi_dg``: the
table says so.

``python -m analysis heldout --model DIR [DIR ...] --seed-model DIR [DIR ...] --out FILE``
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .responses import compare_metrics

BILLEH_COLUMNS = {"Ave_Rate(Hz)": "firing_rate_dg", "OSI": "g_osi_dg", "DSI": "g_dsi_dg"}
BILLEH_POPS = {"e23Cux2": "LIF_exc", "i23Pvalb": "PV", "i23Sst": "SST", "i23Htr3a": "VIP"}
KEYS = ["pop_name", "metric"]


def billeh_comparison(path: Path) -> pd.DataFrame:
    """The Billeh model's L2/3 neurons against the data, as a :func:`compare_metrics` table.

    Parameters
    ----------
    path : Path
        ``billeh_model_simulated_v1_rates.csv`` (space-separated; pop_name, OSI, DSI, Ave_Rate(Hz)).
    """
    table = pd.read_csv(path, sep=r"\s+")
    table = table[table.pop_name.isin(BILLEH_POPS)].rename(columns=BILLEH_COLUMNS)
    model = pd.DataFrame({"population": "V1", "node_id": table.node_id.to_numpy(),
                          "pop_name": table.pop_name.map(BILLEH_POPS).to_numpy(),
                          **{m: table[m].to_numpy(float) for m in BILLEH_COLUMNS.values()}})
    return compare_metrics(model, pop_names=list(BILLEH_POPS.values()))


def _model_columns(comparison: pd.DataFrame, name: str) -> pd.DataFrame:
    part = comparison[comparison.population == "V1"] if "population" in comparison else comparison
    return part[KEYS + ["model_median", "inside_iqr", "ks"]].rename(
        columns={"model_median": f"{name}_median", "inside_iqr": f"{name}_inside_iqr", "ks": f"{name}_ks"})


def heldout_table(model_dirs: list[Path], seed_dirs: list[Path], billeh_csv: Path | None = None) -> pd.DataFrame:
    """The held-out comparison: one row per (population, metric), the data and each model.

    Parameters
    ----------
    model_dirs, seed_dirs : list of Path
        Stimulus-run folders (``comparison.csv``) of the tuned model and of the seed's model.
    billeh_csv : Path, optional
        The Billeh model's per-neuron table (skipped when None or absent).

    Returns
    -------
    pandas.DataFrame
        ``pop_name``, ``metric``, ``unit``, ``data_median``, ``data_q25``, ``data_q75``, ``source``, then
        ``model_*``, ``seed_*`` and ``billeh_*`` columns (median, inside_iqr, ks).
    """
    def load(dirs: list[Path]) -> pd.DataFrame:
        tables = [pd.read_csv(Path(d) / "comparison.csv") for d in dirs]
        table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=KEYS)
        return table[table.population == "V1"] if len(table) else table

    model, seed = load(model_dirs), load(seed_dirs)
    data_columns = KEYS + ["unit", "source", "data_median", "data_q25", "data_q75", "n_data"]
    out = pd.concat([t[data_columns] for t in (model, seed) if len(t)], ignore_index=True).drop_duplicates(KEYS)
    for name, table in (("model", model), ("seed", seed)):
        if len(table):
            out = out.merge(_model_columns(table, name), on=KEYS, how="left")
    if billeh_csv is not None and Path(billeh_csv).is_file():
        out = out.merge(_model_columns(billeh_comparison(billeh_csv), "billeh"), on=KEYS, how="left")
    return out.drop_duplicates(KEYS).reset_index(drop=True)


def distance_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per model: rows with data, how many inside the IQR, and the median KS distance."""
    rows = []
    for name in ("model", "seed", "billeh"):
        if f"{name}_ks" not in table:
            continue
        part = table[table[f"{name}_median"].notna() & table.data_median.notna()]
        inside = part[f"{name}_inside_iqr"].astype(str).isin(["True", "true", "1"])
        rows.append({"model": name, "rows": len(part), "inside_iqr": int(inside.sum()),
                     "median_ks": float(part[f"{name}_ks"].median()) if len(part) else float("nan")})
    return pd.DataFrame(rows)
