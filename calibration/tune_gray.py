"""Tuning the background model on spontaneous activity (the ``gray`` condition) with CMA-ES on Dask.

What is tuned (:data:`PARAMETERS`), nine numbers:

- per V1 population, the mean depolarization that its background makes, as a fraction of the cell's
  rest-to-threshold gap (``mean_<pop>``);
- one standard deviation of that background potential, as a fraction of the gap, shared by all populations
  (``sd``): together they set the background PSPs (:func:`build_network.background.psps_for`);
- the four recurrent weight scales ``e_to_e``, ``e_to_i``, ``i_to_e``, ``i_to_i`` (the LGN synapses stay
  at their physiological size, scale 1).

The network is built once (``<workdir>/base``). An evaluation links its files and writes only the edge-type
tables with the candidate weights, runs PointNet in a fresh process under the gray screen (FilterNet LGN, the
background's Poisson spikes), and scores the run (:func:`gray_loss`). CMA-ES (the ``cma`` library) proposes a
generation at a time; its members run in parallel on the project's Dask runner
(:func:`simulation.parallel.run_parallel`). Every evaluation is appended to ``<workdir>/evaluations.csv``.

Only spontaneous activity is used: the flash and grating metrics are held out (``python -m analysis stimulus``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.rates import cell_table, population_summary, read_nodes, read_spikes
from analysis.spontaneous import (
    CV_RANGE,
    MAX_RATE_HZ,
    e_cell_cv,
    meets_gray_criteria,
)
from analysis.stimulus import lgn_spikes
from build_network import ModelSpec, build_network
from build_network.background import BACKGROUND_FILE, cell_constants, psp_table
from build_network.build import MODELS
from build_network.params import CELL_MODELS_DIR
from common.paths import REPO
from inputs.spikes import save_spikes, write_background_spikes
from inputs.stimuli import load_protocol, schedule
from simulation.parallel import run_command, run_parallel

from .tune import scaled_edge_types

POPULATIONS = ("LIF_exc", "PV", "SST", "VIP")
SCALES = ("e_to_e", "e_to_i", "i_to_e", "i_to_i")
#: name -> (lower, upper, start, initial step of the search). Fractions of the rest-to-threshold gap; the
#: scales are searched in log2 (their step is in log2 units).
PARAMETERS = {**{f"mean_{p}": (0.2, 1.2, 0.6, 0.1) for p in POPULATIONS}, "sd": (0.05, 0.5, 0.25, 0.05),
              **{s: (0.125, 8.0, 1.0, 0.5) for s in SCALES}}
LINKED = ("V1_nodes.h5", "V1_node_types.csv", "LGN_nodes.h5", "LGN_node_types.csv", "BKG_nodes.h5",
          "BKG_node_types.csv", "V1_V1_edges.h5", "LGN_V1_edges.h5", "LGN_V1_edge_types.csv", "BKG_V1_edges.h5")


def to_vector(params: dict[str, float]) -> np.ndarray:
    """Parameters -> the search vector (scales in log2, fractions as they are)."""
    return np.array([math.log2(params[k]) if k in SCALES else params[k] for k in PARAMETERS])


def from_vector(x: np.ndarray) -> dict[str, float]:
    """The search vector -> parameters, clipped to :data:`PARAMETERS`' bounds."""
    out = {}
    for value, (key, (low, high, _, _)) in zip(x, PARAMETERS.items(), strict=True):
        value = 2.0 ** float(value) if key in SCALES else float(value)
        out[key] = float(min(max(value, low), high))
    return out


def gray_loss(summary: pd.DataFrame, e_cv: float, tstop_ms: float) -> float:
    """Score of a gray run (0 is perfect): log-ratios of median rates to the targets, plus penalties.

    Squared log-ratio of each population's median rate to its spontaneous target (medians smoothed by 1/T so
    that a silent population has a finite, graded cost); 10 x the squared log excess of any population's
    maximum rate over 100 Hz; 1 per silent population; 10 x the squared distance of the E cells' median ISI CV
    relative to Poisson (:func:`e_cell_cv`; a 4 s run cannot show a raw CV near 1 for cells at 1 Hz) to
    [0.8, 1.3] (1 when no E cell has 5 spikes).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`analysis.rates.population_summary` of the run, indexed by population.
    e_cv : float
        The relative CV of :func:`e_cell_cv`.
    tstop_ms : float
        Length of the analysed window (ms).

    Examples
    --------
    >>> s = pd.DataFrame({"median_rate_hz": [0.63], "reference_median_hz": [0.63], "max_rate_hz": [5.0],
    ...                   "frac_active": [1.0]}, index=["LIF_exc"])
    >>> gray_loss(s, 1.0, 4000.0)
    0.0
    """
    smooth = 1000.0 / tstop_ms
    ratio = (summary.median_rate_hz + smooth) / (summary.reference_median_hz + smooth)
    loss = float((np.log(ratio) ** 2).sum())
    loss += 10.0 * float((np.log(np.maximum(summary.max_rate_hz, MAX_RATE_HZ) / MAX_RATE_HZ) ** 2).sum())
    loss += float((summary.frac_active == 0).sum())
    if np.isfinite(e_cv):
        loss += 10.0 * (max(0.0, CV_RANGE[0] - e_cv) + max(0.0, e_cv - CV_RANGE[1])) ** 2
    else:
        loss += 1.0
    return loss


def score_run(network: Path, spikes_file: Path, tstop_ms: float) -> dict:
    """Population summary, E cells' ISI CV and loss of a finished run."""
    nodes = read_nodes(network / "V1_nodes.h5", network / "V1_node_types.csv", "V1")
    cells = cell_table(read_spikes(spikes_file, "V1"), nodes, 0.0, tstop_ms)
    summary = population_summary(cells)
    cv, relative, n_cv = e_cell_cv(cells)
    return {"summary": summary, "e_cv": cv, "e_cv_relative": relative, "n_e_cv": n_cv,
            "loss": gray_loss(summary, relative, tstop_ms)}


def evaluate(folder: str, config: dict, tstop_ms: float) -> dict:
    """Run one evaluation's configuration in a fresh process and score it (a Dask task).

    Returns
    -------
    dict
        ``name``, ``returncode``, ``wall_s``, ``log`` and, when the run succeeded, ``loss``, ``e_cv``,
        ``n_e_cv`` and ``summary`` (a dict by population).
    """

    folder = Path(folder)
    path = folder / "config.json"
    path.write_text(json.dumps(config, indent=2))
    record = run_command(folder.name, [str(REPO / "run_pointnet.py"), str(path), "--no-build"],
                         str(folder / "run.log"))
    if record["returncode"] == 0:
        scored = score_run(folder / "network", Path(config["manifest"]["$OUTPUT_DIR"]) / "spikes.h5", tstop_ms)
        record.update(loss=scored["loss"], e_cv=scored["e_cv"], e_cv_relative=scored["e_cv_relative"],
                      n_e_cv=scored["n_e_cv"],
                      summary=json.loads(scored["summary"].to_json(orient="index")))
        shutil.rmtree(Path(config["manifest"]["$OUTPUT_DIR"]), ignore_errors=True)  # the spikes are scored
    return record


@dataclass
class GrayTuning:
    """The network, inputs and configuration template of a tuning (see the module docstring).

    Parameters
    ----------
    workdir : Path
        Scratch folder: ``base`` (the network), the input spikes, one folder per evaluation and
        ``evaluations.csv``.
    n_cells : int
        V1 cells.
    tstop_ms : float
        Length of each evaluation (ms).
    seed : int
        Master seed of the network, the LGN draw and the background spikes.
    n_thread : int
        NEST threads per evaluation.
    config_path : Path
        The background model's configuration (``config.json``) (spike timing, dt, the sections bmtk needs).
    """

    workdir: Path
    n_cells: int = 10000
    tstop_ms: float = 4000.0
    seed: int = 0
    n_thread: int = 1
    config_path: Path = REPO / "config.json"

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).absolute()
        self.workdir.mkdir(parents=True, exist_ok=True)
        spec = ModelSpec.for_model("background")
        self.spec = ModelSpec(spec.populations, spec.v1_connections, spec.lgn_connections, spec.column,
                              {k: 1.0 for k in spec.weight_scales}, spec.background)
        self.constants = cell_constants(spec.populations, CELL_MODELS_DIR)
        self.ei = dict(zip(spec.populations.pop_name, spec.populations.ei, strict=True))
        self.base = self.workdir / "base"
        if not (self.base / "build_info.json").is_file():
            build_network(self.base, n_cells=self.n_cells, seed=self.seed, spec=self.spec, force=True,
                          progress=False)
        self.raw = json.loads(Path(self.config_path).read_text())
        self.lgn_file = self.workdir / "lgn_gray.h5"
        self.bkg_file = self.workdir / "bkg.h5"
        if not self.lgn_file.is_file():
            protocol = load_protocol()
            trials = max(1, math.ceil(self.tstop_ms / 1000.0 / protocol["gray"]["block_s"]))
            presentations = schedule("gray", trials, self.seed, protocol)
            ids, times, _ = lgn_spikes("gray", presentations, self.base, protocol, self.seed, self.raw,
                                       progress=False)
            keep = times <= self.tstop_ms
            save_spikes(self.lgn_file, ids[keep], times[keep], "LGN")
        if not self.bkg_file.is_file():
            write_background_spikes(self.base, self.bkg_file, self.tstop_ms, self.seed)
        self.evaluations = self.workdir / "evaluations.csv"

    def background_table(self, params: dict[str, float]) -> pd.DataFrame:
        """``background.csv`` for the parameters (see :func:`build_network.background.psp_table`)."""

        return psp_table(self.spec.background, self.constants, {p: params[f"mean_{p}"] for p in POPULATIONS},
                         {p: params["sd"] for p in POPULATIONS}, "tuned on the gray condition (calibration.tune_gray)")

    def prepare(self, name: str, params: dict[str, float]) -> tuple[str, dict]:
        """Write an evaluation's network folder; return its folder and configuration."""
        folder = self.workdir / name
        shutil.rmtree(folder, ignore_errors=True)
        network = folder / "network"
        network.mkdir(parents=True)
        for file in LINKED:
            (network / file).symlink_to(self.base / file)
        scaled_edge_types(pd.read_csv(self.base / "V1_V1_edge_types.csv", sep=" "), self.ei, params).to_csv(
            network / "V1_V1_edge_types.csv", sep=" ", index=False)
        bkg_types = pd.read_csv(self.base / "BKG_V1_edge_types.csv", sep=" ")
        table = self.background_table(params)
        weight = {(f"pop_name=='bkg_{r.source_type}'", f"pop_name=='{r.target}'"):
                  (1.0 if r.source_type == "exc" else -1.0) * r.psp_mv for r in table.itertuples()}
        bkg_types["syn_weight"] = [weight[(s, t)] for s, t in zip(bkg_types.source_query, bkg_types.target_query,
                                                                    strict=True)]
        bkg_types.to_csv(network / "BKG_V1_edge_types.csv", sep=" ", index=False)
        config = json.loads(json.dumps(self.raw))
        config["manifest"].update({"$BASE_DIR": str(REPO), "$NETWORK_DIR": str(network),
                                   "$OUTPUT_DIR": str(folder / "output")})
        config["run"].update({"tstart": 0.0, "tstop": self.tstop_ms, "n_thread": self.n_thread})
        config["inputs"]["LGN_spikes"]["input_file"] = str(self.lgn_file)
        config["inputs"]["BKG_spikes"]["input_file"] = str(self.bkg_file)
        config["voltage_sample"] = {"enabled": False}
        return str(folder), config

    def run(self, candidates: list[dict[str, float]], workers: int, start_index: int) -> list[dict]:
        """Evaluate candidates in parallel on Dask; append them to ``evaluations.csv``; return their records."""

        tasks, params_of = {}, {}
        for k, params in enumerate(candidates):
            name = f"eval_{start_index + k:04d}"
            folder, config = self.prepare(name, params)
            tasks[name] = (evaluate, (folder, config, self.tstop_ms))
            params_of[name] = params
        records = run_parallel(tasks, workers=workers, desc="evaluations")
        rows = []
        for record in sorted(records, key=lambda r: r["name"]):
            record["params"] = params_of[record["name"]]
            summary = record.get("summary", {})
            rows.append({"evaluation": record["name"], **record["params"], "loss": record.get("loss"),
                         "e_cv": record.get("e_cv"), "e_cv_relative": record.get("e_cv_relative"),
                         "n_e_cv": record.get("n_e_cv"),
                         **{f"median_{p}": summary.get(p, {}).get("median_rate_hz") for p in POPULATIONS},
                         **{f"max_{p}": summary.get(p, {}).get("max_rate_hz") for p in POPULATIONS},
                         "wall_s": round(record["wall_s"], 1)})
        table = pd.DataFrame(rows)
        table.to_csv(self.evaluations, mode="a", header=not self.evaluations.is_file(), index=False,
                     float_format="%.6g")
        return sorted(records, key=lambda r: r["name"])


def tune_gray(tuning: GrayTuning, start: dict[str, float], max_evals: int, workers: int = 2,
              popsize: int | None = None, sigma0: float = 1.0, seed: int = 0, progress=print) -> dict:
    """Minimise :func:`gray_loss` with CMA-ES (``cma``), one generation at a time on Dask.

    Parameters
    ----------
    tuning : GrayTuning
        Network, inputs and evaluation runner.
    start : dict of str to float
        Starting parameters (:data:`PARAMETERS` keys).
    max_evals : int
        Budget of simulations.
    workers : int
        Dask worker processes (simulations at once).
    popsize : int, optional
        CMA-ES population per generation (default: cma's, 4 + 3 ln 9 = 10 for nine parameters).
    sigma0 : float
        Multiplies each parameter's initial step (:data:`PARAMETERS`).
    seed : int
        Seed of CMA-ES's sampling.
    progress : callable
        Called with a line per evaluation.

    Returns
    -------
    dict
        The best record (``params``, ``loss``, ``e_cv``, ``summary``, ...).
    """
    import cma

    low = [math.log2(lo) if k in SCALES else lo for k, (lo, _, _, _) in PARAMETERS.items()]
    high = [math.log2(hi) if k in SCALES else hi for k, (_, hi, _, _) in PARAMETERS.items()]
    options = {"bounds": [low, high], "seed": seed + 1, "verbose": -9, "maxfevals": max_evals,
               "CMA_stds": [step for (_, _, _, step) in PARAMETERS.values()]}
    if popsize:
        options["popsize"] = popsize
    strategy = cma.CMAEvolutionStrategy(to_vector(start).tolist(), sigma0, options)
    done, best = 0, None
    while done < max_evals and not strategy.stop():
        xs = strategy.ask()
        xs = xs[:max_evals - done]
        started = time.perf_counter()
        records = tuning.run([from_vector(np.asarray(x)) for x in xs], workers, done)
        losses = []
        for record in records:
            loss = record.get("loss", math.inf) if record["returncode"] == 0 else math.inf
            losses.append(loss if math.isfinite(loss) else 1e3)
            if record["returncode"] == 0 and (best is None or loss < best["loss"]):
                best = record
            medians = ", ".join(f"{p} {v['median_rate_hz']:.2f}" for p, v in record.get("summary", {}).items())
            progress(f"{record['name']}  loss {loss:.3f}  medians (Hz): {medians}  "
                     f"E CV {record.get('e_cv', np.nan):.2f}, / Poisson {record.get('e_cv_relative', np.nan):.2f} "
                     f"({record.get('n_e_cv', 0)} cells)  "
                     f"({record['wall_s']:.0f} s)")
        if len(xs) == len(losses) and len(xs) == strategy.popsize:
            strategy.tell(xs, losses)
        done += len(xs)
        progress(f"generation done: {done}/{max_evals} evaluations, best loss {best['loss'] if best else np.nan:.3f} "
                 f"({time.perf_counter() - started:.0f} s)")
    if best is None:
        raise RuntimeError(f"no evaluation succeeded; see the run.log files in {tuning.workdir}")
    return best


def rerun_best(tuning: GrayTuning) -> dict:
    """Evaluate again the best parameters of ``evaluations.csv`` (one simulation, recorded like the others).

    The seeds are fixed, so the run repeats its earlier loss: a check that the record is reproducible, and the
    full record (summary per population) that :func:`write_tuned` needs.

    Raises
    ------
    FileNotFoundError
        If the work folder holds no evaluation yet.
    """
    table = pd.read_csv(tuning.evaluations)
    row = table.loc[table.loss.idxmin()]
    (record,) = tuning.run([{k: float(row[k]) for k in PARAMETERS}], workers=1, start_index=len(table))
    if record["returncode"] != 0:
        raise RuntimeError(f"the rerun of {row.evaluation} failed; see {record['log']}")
    record["rerun_of"] = {"evaluation": row.evaluation, "loss": float(row.loss)}
    return record


def write_tuned(best: dict, tuning: GrayTuning, command: str, evaluations: int) -> list[Path]:
    """Write the tuned model: ``build_network/background.csv``, ``components/weight_scales_background.json``, the
    tuning record ``components/weight_scales_background.tuning.json`` and a copy of every evaluation
    (``.evaluations.csv`` beside it); return the paths."""

    params = best["params"]
    scales_file = Path(MODELS["background"]["weight_scales"])
    scales = json.loads(scales_file.read_text())
    scales.update({k: round(params[k], 4) for k in SCALES})
    summary = pd.DataFrame(best["summary"]).T
    record = {
        "command": command, "n_cells": tuning.n_cells, "tstop_ms": tuning.tstop_ms, "seed": tuning.seed,
        "condition": "gray (FilterNet LGN, inputs/stimuli.json) + background Poisson spikes",
        "optimiser": "CMA-ES (cma) on Dask", "evaluations": evaluations, "best_evaluation": best["name"],
        "best_loss": best["loss"], "rerun_of": best.get("rerun_of"), "params": params, "e_cv": best["e_cv"],
        "e_cv_relative_to_poisson": best["e_cv_relative"], "n_e_cv": best["n_e_cv"],
        "criteria": meets_gray_criteria(summary, best["e_cv"]), "summary": best["summary"],
        "evaluations_file": str(scales_file.with_name(f"{scales_file.stem}.evaluations.csv"))}
    written = []
    for path, text in ((BACKGROUND_FILE, tuning.background_table(params).to_csv(index=False, float_format="%.6g")),
                       (scales_file, json.dumps(scales, indent=2) + "\n"),
                       (scales_file.with_name(f"{scales_file.stem}.tuning.json"), json.dumps(record, indent=2) + "\n"),
                       (scales_file.with_name(f"{scales_file.stem}.evaluations.csv"), tuning.evaluations.read_text())):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
        written.append(path)
    return written
