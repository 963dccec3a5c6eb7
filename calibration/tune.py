"""Tuning the weight scales so that the V1 populations fire like mouse V1 L2/3.

The network is built once with all weight scales at 1; each evaluation writes the edge-type tables with the
candidate scales (syn_weight x scale, exactly what the builder writes) beside links to the same edge files, runs
PointNet on NEST in a fresh process, and scores the run. SciPy's Nelder-Mead minimises the score over the log of
the eight scales (``components/weight_scales.json``).

The score (:func:`tuning_loss`) is the sum over populations of the squared log-ratio of the median rate to the
reference median (medians smoothed by 1/T, T the run length, so that silent populations have a finite, graded
cost), plus penalties for any population above :data:`MAX_RATE_HZ` and for a mean ISI CV of active E cells
outside [0.5, 1.5]. :func:`meets_criteria` states the acceptance test of the baseline.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.rates import run_summary
from build_network import ModelSpec, build_network
from build_network.params import weight_scale_keys
from common.paths import REPO
from inputs.spikes import lgn_node_ids, lookup_rate, write_spikes

MAX_RATE_HZ = 100.0
CV_RANGE = (0.5, 1.5)
FACTOR = {"LIF_exc": 2.0, "PV": 2.0, "SST": 3.0, "VIP": 3.0}
LINKED_FILES = ("V1_nodes.h5", "V1_node_types.csv", "LGN_nodes.h5", "LGN_node_types.csv", "V1_V1_edges.h5",
                "LGN_V1_edges.h5")


def tuning_loss(summary: pd.DataFrame, tstop_ms: float) -> float:
    """Score of a run: squared log-ratios of median rates to the reference, plus penalties (0 is perfect).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`analysis.rates.population_summary` of the run.
    tstop_ms : float
        Length of the analysed window (ms); 1/T smooths the medians.

    Returns
    -------
    float
    """
    smooth = 1000.0 / tstop_ms
    ratio = (summary.median_rate_hz + smooth) / (summary.reference_median_hz + smooth)
    loss = float((np.log(ratio) ** 2).sum())
    loss += float((np.log(np.maximum(summary.max_rate_hz, MAX_RATE_HZ) / MAX_RATE_HZ) ** 2).sum()) * 10
    loss += float((summary.frac_active == 0).sum())
    cv = summary.loc["LIF_exc", "mean_isi_cv"] if "LIF_exc" in summary.index else np.nan
    if np.isfinite(cv):
        loss += max(0.0, CV_RANGE[0] - cv) ** 2 + max(0.0, cv - CV_RANGE[1]) ** 2
    return loss


def meets_criteria(summary: pd.DataFrame) -> dict[str, bool]:
    """The baseline's acceptance test, criterion by criterion.

    Medians of LIF_exc and PV within a factor 2 of the reference and SST and VIP within a factor 3; active cells
    in every population; no population above 100 Hz; mean ISI CV of active E cells in [0.5, 1.5].
    """
    checks = {}
    for pop, factor in FACTOR.items():
        ratio = summary.loc[pop, "ratio"]
        checks[f"{pop} median within x{factor:g}"] = bool(1 / factor <= ratio <= factor)
    checks["every population active"] = bool((summary.frac_active > 0).all())
    checks[f"no population above {MAX_RATE_HZ:g} Hz"] = bool((summary.max_rate_hz <= MAX_RATE_HZ).all())
    cv = summary.loc["LIF_exc", "mean_isi_cv"]
    checks["E ISI CV in [0.5, 1.5]"] = bool(CV_RANGE[0] <= cv <= CV_RANGE[1])
    return checks


def _pop_name(query: str) -> str:
    """The population of a bmtk node query such as ``pop_name=='PV'``."""
    return query.split("==")[1].strip("'")


def scaled_edge_types(types: pd.DataFrame, ei: dict[str, str], scales: dict[str, float],
                      lgn: bool = False) -> pd.DataFrame:
    """An edge-type table (``*_edge_types.csv`` as built with all scales at 1) with its weights scaled.

    Parameters
    ----------
    types : pandas.DataFrame
        The table (``source_query``, ``target_query``, ``syn_weight``).
    ei : dict of str to str
        ``e`` or ``i`` per population.
    scales : dict of str to float
        Weight scales by key of :func:`build_network.params.weight_scale_keys` (``e_to_i``, ``lgn_to_PV``, ...).
    lgn : bool
        The table is LGN -> V1 (keys ``lgn_to_<target>``) rather than V1 -> V1 (``<e|i>_to_<e|i>``).

    Returns
    -------
    pandas.DataFrame
        A copy, ``syn_weight`` multiplied by each row's scale: exactly what the builder writes with those scales.
    """
    if lgn:
        keys = [f"lgn_to_{_pop_name(q)}" for q in types.target_query]
    else:
        keys = [f"{ei[_pop_name(s)]}_to_{ei[_pop_name(t)]}" for s, t in zip(types.source_query, types.target_query,
                                                                            strict=True)]
    return types.assign(syn_weight=types.syn_weight * np.array([scales[k] for k in keys]))


@dataclass
class Evaluator:
    """Runs the network with candidate weight scales (see the module docstring).

    Parameters
    ----------
    workdir : Path
        Scratch folder (a base network, LGN spikes and one folder per evaluation).
    n_cells : int
        V1 cells of the tuning network.
    tstop_ms, dt_ms : float
        Run length and time step of each evaluation (ms).
    seed : int
        Master seed of the network and of the LGN spikes.
    n_thread : int
        NEST threads per evaluation.
    """

    workdir: Path
    n_cells: int
    tstop_ms: float
    dt_ms: float
    seed: int = 0
    n_thread: int = 2
    history: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        spec = ModelSpec.load()
        self.keys = weight_scale_keys(spec.populations)
        self.ei = dict(zip(spec.populations.pop_name, spec.populations.ei, strict=True))
        unscaled = ModelSpec(spec.populations, spec.v1_connections, spec.lgn_connections, spec.column,
                             {k: 1.0 for k in self.keys})
        self.base = self.workdir / "base"
        if not (self.base / "build_info.json").is_file():
            build_network(self.base, n_cells=self.n_cells, seed=self.seed, spec=unscaled, force=True, progress=False)
        config = json.loads((REPO / "config_seed.json").read_text())
        lgn = config.get("lgn_input", {})
        self.spikes = self.workdir / "lgn_spikes.h5"
        ids = lgn_node_ids(self.base, spec.column.lgn_n_cells)
        rate = lookup_rate(lgn.get("genotype", "wt"), lgn.get("stimulus", "fl"), lgn.get("qc", "snr4"))
        write_spikes(self.spikes, ids, np.full(len(ids), rate), self.tstop_ms, self.seed, self.dt_ms)
        self.config = config

    def _scaled_types(self, name: str, scales: dict) -> pd.DataFrame:
        return scaled_edge_types(pd.read_csv(self.base / name, sep=" "), self.ei, scales, lgn=name.startswith("LGN"))

    def __call__(self, scales: dict) -> pd.DataFrame:
        """Run one evaluation; return its population summary (also kept in :attr:`history`)."""
        folder = self.workdir / f"eval_{len(self.history):03d}"
        if folder.exists():
            shutil.rmtree(folder)
        network = folder / "network"
        network.mkdir(parents=True)
        for name in LINKED_FILES:
            (network / name).symlink_to((self.base / name).resolve())
        for name in ("V1_V1_edge_types.csv", "LGN_V1_edge_types.csv"):
            self._scaled_types(name, scales).to_csv(network / name, sep=" ", index=False)
        config = json.loads(json.dumps(self.config))
        config["manifest"].update({"$BASE_DIR": str(folder), "$NETWORK_DIR": str(network),
                                   "$COMPONENTS_DIR": str(REPO / "components"), "$OUTPUT_DIR": str(folder / "output")})
        config["run"].update({"tstop": self.tstop_ms, "dt": self.dt_ms, "n_thread": self.n_thread})
        config["inputs"]["LGN_spikes"]["input_file"] = str(self.spikes)
        config["voltage_sample"] = {"enabled": False}
        (folder / "config.json").write_text(json.dumps(config, indent=2))
        start = time.perf_counter()
        result = subprocess.run([sys.executable, str(REPO / "run_pointnet.py"), str(folder / "config.json"),
                                 "--no-build"], capture_output=True, text=True, cwd=REPO)
        (folder / "run.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"evaluation {folder.name} failed; see {folder / 'run.log'}")
        summary = run_summary({"run": {"tstop": self.tstop_ms}, "networks": {"nodes": [
            {"nodes_file": network / "V1_nodes.h5", "node_types_file": network / "V1_node_types.csv"}]}},
            folder / "output" / "spikes.h5")
        loss = tuning_loss(summary, self.tstop_ms)
        self.history.append({"scales": dict(scales), "loss": loss, "wall_s": time.perf_counter() - start,
                             "summary": summary})
        return summary


def tune(evaluator: Evaluator, initial: dict, max_evals: int, progress=print, step: float = np.log(2.0)) -> dict:
    """Minimise :func:`tuning_loss` over the log weight scales with SciPy's Nelder-Mead.

    Parameters
    ----------
    evaluator : Evaluator
        Runs the network for a set of scales.
    initial : dict
        Starting scales (e.g. the current ``weight_scales.json``).
    max_evals : int
        Budget of simulations.
    progress : callable
        Called with a one-line report after each evaluation.
    step : float
        Size of the initial simplex along each log scale (log(2): each scale doubled in turn).

    Returns
    -------
    dict
        The best scales found.
    """
    from scipy.optimize import minimize

    keys = evaluator.keys

    def objective(x: np.ndarray) -> float:
        scales = {k: float(np.exp(v)) for k, v in zip(keys, x, strict=True)}
        summary = evaluator(scales)
        record = evaluator.history[-1]
        medians = ", ".join(f"{p} {m:.2f}" for p, m in summary.median_rate_hz.items())
        progress(f"eval {len(evaluator.history):3d}  loss {record['loss']:.3f}  medians (Hz): {medians}  "
                 f"E CV {summary.loc['LIF_exc', 'mean_isi_cv']:.2f}  ({record['wall_s']:.0f} s)")
        return record["loss"]

    x0 = np.log([initial[k] for k in keys])
    simplex = np.vstack([x0] + [x0 + step * np.eye(len(keys))[i] for i in range(len(keys))])
    minimize(objective, x0, method="Nelder-Mead",
             options={"maxfev": max_evals, "initial_simplex": simplex, "xatol": 0.05, "fatol": 0.01})
    best = min(evaluator.history, key=lambda r: r["loss"])
    return best["scales"]

