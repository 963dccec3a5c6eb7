"""One visual-stimulus condition end to end: LGN spikes, the V1 run on NEST, AllenSDK's metrics, model vs data.

``python -m analysis stimulus CONDITION [--config config.json] [--trials K] [--seed S] --out DIR`` runs
:func:`run_condition`:

1. the session's presentation table (:func:`inputs.stimuli.schedule`) and the LGN spikes: FilterNet rates of each
   distinct stimulus (:mod:`inputs.filternet`) drawn as Poisson trials, or the seed's constant rate (``seed``);
2. the network of the configuration on NEST through PointNet (``run_pointnet.py`` in a fresh process) for the
   whole session, with those LGN spikes;
3. every cell of V1 and of the LGN presented to AllenSDK's stimulus-analysis classes (:mod:`analysis.allen_metrics`)
   and compared with the Allen Neuropixels units (:func:`analysis.responses.compare_metrics`).

DIR receives ``spikes.h5`` (SONATA, populations ``V1`` and ``LGN``), ``stimulus_presentations.csv`` (AllenSDK's
columns, times in s), ``unit_metrics.csv`` (one row per cell: ``population``, ``node_id``, ``pop_name``,
the metrics under AllenSDK's names, ``n_spikes`` last), ``comparison.csv`` (cells that fired at least once: a silent
cell is never a sorted unit), ``lgn_spikes.h5``, the run's configuration and log
(``v1/``) and ``run_info.json``. Everything is written into a fresh folder beside DIR, which replaces DIR only
when complete: an interrupted run leaves DIR as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from common.locks import folder_lock, remove_leftovers, replace_folder
from common.paths import REPO
from common.sonata import write_spikes
from inputs.filternet import evaluate, lgn_cells
from inputs.spikes import background_sources, lookup_rate, round_to_grid, write_background_spikes
from inputs.stimuli import (
    STIMULI_FILE,
    StimulusError,
    check_condition,
    check_trials,
    distinct_stimuli,
    draw_session,
    load_protocol,
    schedule,
    session_duration_s,
)
from simulation.config import read_json
from simulation.mpi import serial_environment

from .allen_metrics import MetricsError, unit_metrics
from .rates import load_run, read_spikes, spike_populations
from .responses import compare_metrics, format_metric_table
from .spontaneous import write_spontaneous

DEFAULT_DT_MS = 0.1
LGN_POPULATION = "LGN"
V1_POPULATION = "V1"
BKG_POPULATION = "BKG"
LGN_POP_NAME = "tON"


def _read_config(path: Path) -> tuple[dict, dict]:
    """The configuration as written (raw) and with bmtk's manifest resolved."""
    from bmtk.utils.sonata.config import SonataConfig

    raw = read_json(path, error=StimulusError)
    try:
        resolved = dict(SonataConfig.from_json(str(path)))
    except Exception as err:  # bmtk raises bare Exceptions for bad manifests
        raise StimulusError(f"{path}: bmtk cannot read it: {err}") from err
    for section in ("run", "networks", "output"):
        if not isinstance(resolved.get(section), dict):
            raise StimulusError(f"{path}: section '{section}' is missing or not an object.")
    return raw, resolved


def _lgn_network_dir(config: dict, path: Path) -> Path:
    for entry in config["networks"].get("nodes", []):
        nodes_file = Path(entry.get("nodes_file", ""))
        if nodes_file.is_file():
            with h5py.File(nodes_file, "r") as h5:
                if LGN_POPULATION in h5.get("nodes", {}):
                    return nodes_file.parent
    raise StimulusError(f"{path}: no nodes file of networks.nodes holds population {LGN_POPULATION!r} (build the "
                        "network with: python -m build_network).")


def lgn_spikes(condition: str, presentations: pd.DataFrame, network_dir: Path, protocol: dict, seed: int,
               config: dict, progress: bool = True) -> tuple[np.ndarray, np.ndarray, dict]:
    """The LGN spikes of a session: (node ids, times in ms, description).

    FilterNet rates for ``gray``, ``flash`` and ``gratings`` (scaled by ``lgn.rate_scale``); for ``seed`` the
    process of ``python -m inputs spikes``: homogeneous Poisson at the constant rate of the configuration's
    ``lgn_input`` (:func:`inputs.spikes.lookup_rate`), drawn with numpy.
    """

    cells = lgn_cells(network_dir, protocol)
    duration_ms = 1000.0 * session_duration_s(presentations, protocol)
    rng_seed = int(seed)
    if condition == "seed":
        lgn = config.get("lgn_input", {})
        rate = lookup_rate(lgn.get("genotype", "wt"), lgn.get("stimulus", "fl"), lgn.get("qc", "snr4"))
        rng = np.random.default_rng([rng_seed, 4])
        counts = rng.poisson(rate * duration_ms / 1000.0, len(cells))
        ids = np.repeat(cells.node_id.to_numpy(), counts)
        times = rng.uniform(0.0, duration_ms, counts.sum())
        return ids, times, {"lgn": "constant-rate Poisson (seed)", "lgn_rate_hz": rate}
    stimuli = {s.key: s for s in distinct_stimuli("gray", protocol) + distinct_stimuli(condition, protocol)}
    rates = evaluate(cells, list(stimuli.values()), protocol, progress=progress)  # one FilterNet run for all
    gray = rates["gray"]
    scale = float(protocol["lgn"]["rate_scale"])
    index, times = draw_session(rates, gray.mean(axis=1), presentations, protocol["frame_rate_hz"], rng_seed, scale)
    return cells.node_id.to_numpy()[index], times, {
        "lgn": f"bmtk FilterNet {protocol['lgn']['model_template']} ({protocol['lgn']['dynamics_params']})",
        "lgn_rate_scale": scale, "lgn_gray_rate_hz": float(gray.mean() * scale)}


def _write_spikes(path: Path, populations: dict[str, tuple[np.ndarray, np.ndarray]], dt_ms: float | None) -> Path:
    """SONATA spikes of several populations (:func:`common.sonata.write_spikes`, sorted by time); times rounded to
    the dt grid (earliest at dt)."""

    return write_spikes(path, {population: (np.asarray(ids, np.int64),
                                            np.asarray(times, float) if dt_ms is None else round_to_grid(times, dt_ms))
                               for population, (ids, times) in populations.items()})


def stimulus_config(raw: dict, config_path: Path, lgn_file: Path, output_dir: Path, tstop_ms: float, dt_ms: float,
                    n_thread: int | str | None, bkg_file: Path | None = None,
                    bkg_population: str = BKG_POPULATION) -> dict:
    """The user's configuration, run for the session: LGN spike inputs replaced, tstop, dt, output folder set.

    With ``bkg_file`` (a network with a background population), the background's spike input is replaced by
    that file, drawn for the session's length.

    The configuration's ``spike_timing`` is kept: ``precise`` runs take the LGN spikes off the grid.

    The manifest's ``${configdir}`` is replaced by the configuration's own folder, so the copy can live elsewhere.
    """
    config = json.loads(json.dumps(raw).replace("${configdir}", str(Path(config_path).resolve().parent)))
    run = config.setdefault("run", {})
    run.update({"tstart": 0.0, "tstop": float(tstop_ms), "dt": float(dt_ms),
                "precise_times": config.get("spike_timing", "grid") == "precise"})
    if n_thread is not None:
        run["n_thread"] = n_thread
    inputs = {name: spec for name, spec in config.get("inputs", {}).items()
              if not (isinstance(spec, dict) and spec.get("node_set") == LGN_POPULATION)}
    inputs["LGN_spikes"] = {"input_type": "spikes", "module": "sonata", "input_file": str(lgn_file),
                            "node_set": LGN_POPULATION}
    if bkg_file is not None:
        inputs = {name: spec for name, spec in inputs.items()
                  if not (isinstance(spec, dict) and spec.get("node_set") == bkg_population)}
        inputs["BKG_spikes"] = {"input_type": "spikes", "module": "sonata", "input_file": str(bkg_file),
                                "node_set": bkg_population}
    config["inputs"] = inputs
    config.setdefault("output", {})["output_dir"] = str(output_dir)
    config["output"]["spikes_file"] = "spikes.h5"
    config.pop("reports", None)
    return config


def model_metrics(v1_spikes: pd.DataFrame, v1_cells: pd.DataFrame, lgn_ids: np.ndarray, lgn_times_ms: np.ndarray,
                  lgn_nodes: np.ndarray, presentations: pd.DataFrame) -> pd.DataFrame:
    """AllenSDK's metrics of every V1 and LGN cell (:func:`analysis.allen_metrics.unit_metrics`).

    Gray sessions have no AllenSDK stimulus class; their metric is the rate over the gray blocks
    (``spontaneous_rate``, Hz), the measure of ``first_spontaneous_rate.csv``.

    Returns
    -------
    pandas.DataFrame
        ``population``, ``node_id``, ``pop_name``, the metric columns (AllenSDK's names and units), then
        ``n_spikes`` (spikes in the whole session).
    """
    units = pd.concat([v1_cells[["node_id", "pop_name"]].assign(population=V1_POPULATION),
                       pd.DataFrame({"node_id": lgn_nodes, "pop_name": LGN_POP_NAME, "population": LGN_POPULATION})],
                      ignore_index=True)[["population", "node_id", "pop_name"]]
    lgn = pd.DataFrame({"node_id": lgn_ids, "timestamp_ms": lgn_times_ms})
    by_unit = {}
    for population, spikes in ((V1_POPULATION, v1_spikes), (LGN_POPULATION, lgn)):
        groups = spikes.groupby("node_id").timestamp_ms
        times = {int(k): np.sort(v.to_numpy()) / 1000.0 for k, v in groups}
        for index in units.index[units.population == population]:
            by_unit[int(index)] = times.get(int(units.node_id[index]), np.zeros(0))
    units["n_spikes"] = [len(by_unit[i]) for i in units.index]
    if set(presentations.stimulus_name) == {"spontaneous"}:
        total = float((presentations.stop_time - presentations.start_time).sum())
        counts = [np.sum([((t >= a) & (t < b)).sum() for a, b in zip(presentations.start_time,
                                                                       presentations.stop_time, strict=True)])
                  for t in (by_unit[i] for i in units.index)]
        return _spikes_last(units.assign(spontaneous_rate=np.asarray(counts, float) / total))

    metrics = unit_metrics(by_unit, presentations)
    return _spikes_last(pd.concat([units, metrics.reindex(units.index).reset_index(drop=True)], axis=1))


def _spikes_last(table: pd.DataFrame) -> pd.DataFrame:
    """``population``, ``node_id``, ``pop_name``, the metrics, then ``n_spikes``."""
    return table[[c for c in table if c != "n_spikes"] + ["n_spikes"]]


def spikes_file_metrics(spikes_file: Path, presentations_file: Path) -> pd.DataFrame:
    """AllenSDK's metrics of every cell that fired in any SONATA spikes file, under a presentation table.

    For a run made elsewhere (no node table is needed): ``pop_name`` is the SONATA population's name.

    Parameters
    ----------
    spikes_file : Path
        SONATA spikes (times in ms).
    presentations_file : Path
        CSV with AllenSDK's columns (``start_time``, ``stop_time`` in s, ``stimulus_name``, ...).

    Returns
    -------
    pandas.DataFrame
        ``population``, ``node_id``, ``pop_name``, the metric columns, then ``n_spikes``.

    Raises
    ------
    analysis.rates.RunDataError, StimulusError, analysis.allen_metrics.MetricsError
    """

    try:
        presentations = pd.read_csv(presentations_file)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise StimulusError(f"{presentations_file}: cannot read the presentation table ({err}).") from None
    rows, by_unit = [], {}
    for population in spike_populations(spikes_file):
        for node_id, times in read_spikes(spikes_file, population).groupby("node_id").timestamp_ms:
            by_unit[len(rows)] = np.sort(times.to_numpy()) / 1000.0
            rows.append((population, int(node_id), population, len(times)))
    units = pd.DataFrame(rows, columns=["population", "node_id", "pop_name", "n_spikes"])
    try:
        metrics = unit_metrics(by_unit, presentations)
    except MetricsError as err:
        raise MetricsError(f"{presentations_file}: {err}") from None
    return _spikes_last(pd.concat([units, metrics.reindex(units.index).reset_index(drop=True)], axis=1))


def _threads(n_thread: int | str | None) -> int | str | None:
    if n_thread is None or n_thread == "auto":
        return n_thread
    try:
        value = int(n_thread)
    except (TypeError, ValueError):
        value = 0
    if isinstance(n_thread, bool) or value < 1 or value > (os.cpu_count() or 1) * 4:
        raise StimulusError(f"--n-thread must be 'auto' or an integer from 1 to {(os.cpu_count() or 1) * 4} (this "
                            f"machine has {os.cpu_count()} cores), got {n_thread!r}.")
    return value


def _replace_folder(stage: Path, out: Path) -> None:
    """Move the completed ``stage`` to ``out``; a previous ``out`` is removed only after the new one is in place.

    One atomic exchange where the file system allows it (:func:`common.locks.replace_folder`): ``out`` holds the
    previous results or the new ones at every instant, even if the process is killed.
    """
    replace_folder(stage, out, out.with_name(f".{out.name}.old-{os.getpid()}"))


def check_out(out: Path) -> Path:
    """``out`` can become a result folder: not a file, its parent creatable.

    Raises
    ------
    StimulusError
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise StimulusError(f"--out {out} is a file; give a folder (it is created, and replaced when the run "
                            "completes).")
    if out.resolve() == REPO.resolve() or (out / ".git").exists():
        raise StimulusError(f"--out {out} is a repository; give a result folder such as output/stimulus/flash.")
    return out


def _simulate(run_config: Path, log: Path, out: Path, progress: bool) -> float:
    """Run ``run_config`` with ``run_pointnet.py`` in a fresh process (its output to ``log`` unless ``progress``);
    return the wall time (s).

    Raises
    ------
    StimulusError
        If the run failed (the end of its log is quoted); ``out`` is unchanged.
    """
    t0 = time.perf_counter()
    with open(log, "w") as handle:
        result = subprocess.run([sys.executable, str(REPO / "run_pointnet.py"), str(run_config), "--no-build"],
                                cwd=REPO, env=serial_environment(os.environ),
                                stdout=None if progress else handle, stderr=subprocess.STDOUT if not progress
                                else None)
    if result.returncode != 0:
        tail = "" if progress else " ".join(log.read_text().strip().splitlines()[-3:])
        raise StimulusError(f"the simulation failed (exit {result.returncode}; "
                            f"{'see the output above' if progress else tail}); {out} is unchanged.")
    return time.perf_counter() - t0


def _analyse(stage: Path, run_config: Path, network_dir: Path, lgn: tuple[np.ndarray, np.ndarray],
             presentations: pd.DataFrame, condition: str, seed: int, duration_s: float
             ) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """The staged run's spikes (V1 + LGN), AllenSDK metrics, comparison with the data and, for gray, the spontaneous
    statistics, written into ``stage``; returns the V1 spikes, the comparison and the metrics' wall time (s)."""
    lgn_ids, lgn_times = lgn
    run = load_run(stage / "v1", run_config)
    v1 = run.spikes[run.spikes.population == V1_POPULATION]
    v1_cells = run.cells[run.cells.population == V1_POPULATION]
    _write_spikes(stage / "spikes.h5", {V1_POPULATION: (v1.node_id.to_numpy(), v1.timestamp_ms.to_numpy()),
                                        LGN_POPULATION: (lgn_ids, lgn_times)}, None)
    t0 = time.perf_counter()
    with h5py.File(network_dir / "LGN_nodes.h5", "r") as h5:
        lgn_nodes = h5[f"nodes/{LGN_POPULATION}/node_id"][()].astype(np.int64)
    metrics = model_metrics(v1, v1_cells, lgn_ids, lgn_times, lgn_nodes, presentations)
    metrics.to_csv(stage / "unit_metrics.csv", index=False, float_format="%.6g")
    t_metrics = time.perf_counter() - t0
    # a sorted unit must fire to be seen: cells silent through the session are left out of the comparison
    comparison = compare_metrics(metrics[metrics.n_spikes > 0].drop(columns="n_spikes"), seed=seed,
                                 pop_names=list(dict.fromkeys(metrics.pop_name)))
    comparison.to_csv(stage / "comparison.csv", index=False, float_format="%.6g")
    if condition == "gray":  # spontaneous activity: the acceptance test and the variability (issue 19)
        write_spontaneous(stage, network_dir, 0.0, duration_s * 1000.0, seed=seed)
    return v1, comparison, t_metrics


def run_condition(condition: str, out: Path, config_path: Path = REPO / "config.json", trials: int | None = None,
                  seed: int = 0, dt_ms: float = DEFAULT_DT_MS, n_thread: int | str | None = None,
                  protocol_path: Path = STIMULI_FILE, progress: bool = True) -> Path:
    """Run one stimulus condition on the network of ``config_path`` and write its results into ``out``.

    Parameters
    ----------
    condition : str
        ``gray``, ``flash``, ``gratings`` or ``seed`` (:data:`inputs.stimuli.CONDITIONS`).
    out : Path
        Result folder; replaced only when the run is complete.
    config_path : Path
        The PointNet configuration whose network is run (its LGN spike input is replaced).
    trials : int, optional
        Presentations of each flash colour or grating condition, or gray blocks (default: the protocol's).
    seed : int
        Seed of the presentation order and of the LGN spike draw.
    dt_ms : float
        NEST resolution (ms). 0.1 ms by default: metrics agree with 0.01 ms (docs/analysis.md, 'Visual stimuli').
    n_thread : int or 'auto', optional
        NEST threads (default: the configuration's).
    protocol_path : Path
        The stimulus protocol (``inputs/stimuli.json``).
    progress : bool
        Progress bars and messages.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    StimulusError
        On a bad condition, protocol, trial count, configuration or output folder (nothing is written), or a
        failed simulation (its log is named; ``out`` is left as it was).
    """
    started = time.perf_counter()
    check_condition(condition)
    protocol = load_protocol(protocol_path)
    trials = check_trials(condition, trials, protocol)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise StimulusError(f"--seed must be an integer in [0, 2**32), got {seed!r}.")
    if isinstance(dt_ms, bool) or not isinstance(dt_ms, int | float) or not np.isfinite(dt_ms) or dt_ms <= 0:
        raise StimulusError(f"--dt must be a time step > 0 ms, got {dt_ms!r}.")
    n_thread = _threads(n_thread)
    out = check_out(out).absolute()
    config_path = Path(config_path)
    raw, resolved = _read_config(config_path)
    network_dir = _lgn_network_dir(resolved, config_path)
    presentations = schedule(condition, trials, seed, protocol)
    duration_s = session_duration_s(presentations, protocol)

    out.parent.mkdir(parents=True, exist_ok=True)
    # a second stimulus run into out stops here, naming this one; what killed runs left beside out is removed
    lock = folder_lock(out, "a stimulus run").acquire()
    stage = out.with_name(f".{out.name}.staging-{os.getpid()}")
    try:
        remove_leftovers(out, ("staging", "old"), "an interrupted stimulus run")
        stage.mkdir()
        t0 = time.perf_counter()
        lgn_ids, lgn_times, lgn_info = lgn_spikes(condition, presentations, network_dir, protocol, seed, raw,
                                                  progress=progress)
        t_lgn = time.perf_counter() - t0
        precise = raw.get("spike_timing", "grid") == "precise"  # precise cells take off-grid input spikes
        lgn_file = _write_spikes(stage / "lgn_spikes.h5", {LGN_POPULATION: (lgn_ids, lgn_times)},
                                 None if precise else dt_ms)
        bkg_file, background = None, background_sources(network_dir)
        if background is not None:  # the background model: its sources, drawn for the session
            bkg_file = write_background_spikes(network_dir, stage / "bkg_spikes.h5", duration_s * 1000.0, seed,
                                               None if precise else dt_ms)
        presentations.to_csv(stage / "stimulus_presentations.csv", index=False)
        config = stimulus_config(raw, config_path, lgn_file, stage / "v1", duration_s * 1000.0, dt_ms, n_thread,
                                 bkg_file, BKG_POPULATION if background is None else background[0])
        run_config = stage / "config.json"
        run_config.write_text(json.dumps(config, indent=2))
        if progress:
            print(f"{condition}: {len(presentations)} presentations, {duration_s:g} s; LGN {len(lgn_times):,} spikes "
                  f"({lgn_info['lgn']}); simulating at dt {dt_ms:g} ms ...", flush=True)
        t_sim = _simulate(run_config, stage / "run.log", out, progress)
        v1, comparison, t_metrics = _analyse(stage, run_config, network_dir, (lgn_ids, lgn_times), presentations,
                                             condition, seed, duration_s)
        info = {"condition": condition, "trials": trials, "seed": seed, "dt_ms": dt_ms, "duration_s": duration_s,
                "config": str(config_path.resolve()), "network": str(network_dir.resolve()),
                "n_presentations": len(presentations), "lgn_spikes": int(len(lgn_times)),
                "v1_spikes": int(len(v1)), **lgn_info,
                "wall_s": {"lgn": round(t_lgn, 2), "simulation": round(t_sim, 2), "metrics": round(t_metrics, 2),
                           "total": round(time.perf_counter() - started, 2)}}
        (stage / "run_info.json").write_text(json.dumps(info, indent=2) + "\n")
        _replace_folder(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        lock.release()
    if progress:
        print(format_metric_table(comparison))
        print(f"{condition}: wrote {out} in {time.perf_counter() - started:.0f} s (LGN {t_lgn:.0f} s, NEST "
              f"{t_sim:.0f} s, metrics {t_metrics:.0f} s)")
    return out
