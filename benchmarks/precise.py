"""Precise spike timing against the grid: accuracy and cost, measured side by side.

    python -m benchmarks.precise [--sections neuron network perturbations] [--seeds 0 1 2] [--out benchmarks]

``neuron``
    One LIF_exc cell (``components/point_neuron_models/LIF_exc.json``) driven by the same 500 Poisson input trains
    (400 excitatory at 7 Hz, +0.9 mV; 100 inhibitory at 10 Hz, -1.8 mV; delay 1 ms; 20 s), simulated as
    ``iaf_psc_delta`` at dt 0.001 ms (the reference; inputs rounded to that grid), ``iaf_psc_delta`` at dt 0.01 ms
    (inputs on its grid) and ``iaf_psc_delta_ps`` at dt 0.1 ms (exact off-grid inputs). Each model's spikes are
    matched to the reference's (nearest within 2 ms): fraction matched, extra spikes, median and 95th percentile of
    the timing error.
``network``
    The 10,000-cell model of ``--config`` for 3 s, grid (dt 0.01 ms, LGN spikes on that grid) against precise
    (``spike_timing`` precise, dt 0.1 ms, the same LGN draw unrounded), for each LGN seed: per population median
    rate, fraction active, mean ISI CV and synchrony (coefficient of variation of the population spike count in
    5 ms bins). Precise - grid per seed against the seed-to-seed range of the grid model.
``perturbations``
    The suite (baseline + 8 clamps) in both modes; every effect's sign and 95% interval.

Writes ``precise_results.json`` and ``precise_results.md`` into ``--out``. Work folders are temporary.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .report import machine_info, machine_label

REPO = Path(__file__).resolve().parents[1]
MODES = {"grid": {"spike_timing": "grid", "dt": 0.01}, "precise": {"spike_timing": "precise", "dt": 0.1}}


def match_spikes(reference: np.ndarray, other: np.ndarray, window_ms: float = 2.0) -> dict:
    """Match each reference spike to the nearest unused spike of ``other`` within ``window_ms`` (greedy, in time).

    Returns
    -------
    dict
        ``n_reference``, ``n_other``, ``matched`` (fraction of reference spikes), ``extra`` (unmatched spikes of
        ``other``), ``median_error_ms``, ``p95_error_ms`` (absolute timing errors of matched pairs).

    Examples
    --------
    >>> match_spikes(np.array([1.0, 5.0]), np.array([1.1, 9.0]))["matched"]
    0.5
    """
    used = np.zeros(len(other), bool)
    errors = []
    for t in reference:
        k = np.searchsorted(other, t)
        best = None
        for j in (k - 1, k):
            if 0 <= j < len(other) and not used[j] and abs(other[j] - t) <= window_ms and (
                    best is None or abs(other[j] - t) < abs(other[best] - t)):
                best = j
        if best is not None:
            used[best] = True
            errors.append(abs(other[best] - t))
    errors = np.asarray(errors)
    return {"n_reference": int(len(reference)), "n_other": int(len(other)),
            "matched": float(len(errors) / max(len(reference), 1)), "extra": int((~used).sum()),
            "median_error_ms": float(np.median(errors)) if len(errors) else float("nan"),
            "p95_error_ms": float(np.quantile(errors, 0.95)) if len(errors) else float("nan")}


def _neuron_run(model: str, dt: float, trains: list[np.ndarray], weights: np.ndarray, tstop: float,
                params: dict) -> tuple[np.ndarray, float]:
    import nest

    nest.ResetKernel()
    nest.set_verbosity("M_ERROR")
    nest.SetKernelStatus({"resolution": dt, "local_num_threads": 1})
    cell = nest.Create(model, params=params)
    precise = model.endswith("_ps")
    times = [t if precise else np.maximum(np.round(t / dt), 1) * dt for t in trains]
    generators = nest.Create("spike_generator", len(trains), params=[
        {"spike_times": np.round(t, 9).tolist(), "precise_times": precise} for t in times])
    nest.Connect(generators, cell, "all_to_all", {"weight": weights[None, :], "delay": 1.0})
    recorder = nest.Create("spike_recorder")
    nest.Connect(cell, recorder)
    start = time.perf_counter()
    nest.Simulate(tstop)
    return np.sort(recorder.get("events")["times"]), time.perf_counter() - start


def measure_neuron(seeds: list[int], tstop_ms: float = 20000.0) -> list[dict]:
    """The single-neuron comparison for each seed (see the module docstring)."""
    params = json.loads((REPO / "components" / "point_neuron_models" / "LIF_exc.json").read_text())
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        rates = np.r_[np.full(400, 7.0), np.full(100, 10.0)]
        weights = np.r_[np.full(400, 0.9), np.full(100, -1.8)]
        trains = [np.sort(rng.uniform(0.1, tstop_ms, rng.poisson(r * tstop_ms / 1000))) for r in rates]
        reference, _ = _neuron_run("iaf_psc_delta", 0.001, trains, weights, tstop_ms, params)
        for name, model, dt in (("grid dt 0.01 ms", "iaf_psc_delta", 0.01),
                                ("precise dt 0.1 ms", "iaf_psc_delta_ps", 0.1)):
            spikes, wall = _neuron_run(model, dt, trains, weights, tstop_ms, params)
            rows.append({"seed": seed, "model": name, "wall_s": wall, **match_spikes(reference, spikes)})
    return rows


def _absolute(config_path: Path) -> dict:
    """The configuration as written, its manifest made absolute so that a copy can live elsewhere."""
    base = json.loads(config_path.read_text())
    here = str(config_path.resolve().parent)
    base["manifest"] = {k: v.replace("${configdir}", here).replace("$BASE_DIR", here) if isinstance(v, str) else v
                        for k, v in base["manifest"].items()}
    return base


def _lgn_spikes(config_path: Path, out: Path, tstop_ms: float, seed: int, dt_ms: float | None) -> Path:
    """The configuration's constant-rate LGN spikes (``python -m inputs spikes``' process), on a grid or exact."""
    from bmtk.utils.sonata.config import SonataConfig

    from inputs.spikes import lgn_node_ids, lookup_rate, write_spikes

    resolved = dict(SonataConfig.from_json(str(config_path)))
    network = Path(resolved["networks"]["nodes"][0]["nodes_file"]).parent
    lgn = resolved.get("lgn_input", {})
    ids = lgn_node_ids(network, 500)
    rate = lookup_rate(lgn.get("genotype", "wt"), lgn.get("stimulus", "fl"), lgn.get("qc", "snr4"))
    return write_spikes(out, ids, np.full(len(ids), rate), tstop_ms, seed, dt_ms=dt_ms)


def _config(base: dict, mode: str, lgn_file: Path, out: Path, tstop_ms: float, n_thread: int) -> dict:
    config = json.loads(json.dumps(base))
    config["manifest"]["$OUTPUT_DIR"] = str(out)
    config["spike_timing"] = MODES[mode]["spike_timing"]
    config["run"].update({"dt": MODES[mode]["dt"], "tstop": tstop_ms, "n_thread": n_thread,
                          "precise_times": mode == "precise"})
    config["inputs"]["LGN_spikes"]["input_file"] = str(lgn_file)
    return config


def _run(config: dict, path: Path) -> float:
    path.write_text(json.dumps(config, indent=2))
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(REPO / "run_pointnet.py"), str(path), "--no-build"], cwd=REPO,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{path} failed:\n{result.stderr[-2000:]}")
    line = [x for x in result.stdout.splitlines() if x.startswith("simulated")]
    return float(line[0].split(" in ")[1].split(" s")[0]) if line else time.perf_counter() - start


def network_statistics(output: Path, config_path: Path, bin_ms: float = 5.0) -> pd.DataFrame:
    """Per population: median rate (Hz), fraction active, mean ISI CV, synchrony (CV of 5 ms population counts)."""
    from analysis.rates import load_run

    run = load_run(output, config_path)
    edges = np.arange(run.tstart_ms, run.tstop_ms + bin_ms / 2, bin_ms)
    rows = []
    for pop, cells in run.cells.groupby("pop_name"):
        counts = np.histogram(run.spikes.timestamp_ms[run.spikes.pop_name == pop], edges)[0]
        rows.append({"pop_name": pop, "median_rate_hz": float(cells.rate_hz.median()),
                     "frac_active": float((cells.n_spikes > 0).mean()), "mean_isi_cv": float(cells.isi_cv.mean()),
                     "synchrony_cv": float(counts.std() / counts.mean()) if counts.mean() > 0 else float("nan")})
    return pd.DataFrame(rows)


def measure_network(config_path: Path, seeds: list[int], work: Path, tstop_ms: float = 3000.0,
                    n_thread: int = 2) -> dict:
    """Grid and precise runs of the model for each LGN seed (see the module docstring)."""
    base = _absolute(config_path)
    tables, walls = [], []
    for seed in seeds:
        for mode in MODES:
            lgn_file = _lgn_spikes(config_path, work / f"lgn_{seed}_{mode}.h5", tstop_ms, seed,
                                   MODES[mode]["dt"] if mode == "grid" else None)
            out = work / f"net_{seed}_{mode}"
            path = work / f"net_{seed}_{mode}.json"
            walls.append({"seed": seed, "mode": mode, "sim_s": _run(_config(base, mode, lgn_file, out, tstop_ms,
                                                                            n_thread), path)})
            tables.append(network_statistics(out, path).assign(seed=seed, mode=mode))
            shutil.rmtree(out, ignore_errors=True)
    table = pd.concat(tables, ignore_index=True)
    stats = ["median_rate_hz", "frac_active", "mean_isi_cv", "synchrony_cv"]
    grid = table[table["mode"] == "grid"].set_index(["pop_name", "seed"])[stats]
    precise = table[table["mode"] == "precise"].set_index(["pop_name", "seed"])[stats]
    diff = (precise - grid).groupby(level=0).mean()
    spread = grid.groupby(level=0).agg(lambda s: s.max() - s.min())
    verdict = diff.abs() <= spread
    return {"table": json.loads(table.to_json(orient="records")), "walls": walls,
            "mean_difference": json.loads(diff.to_json(orient="index")),
            "seed_range": json.loads(spread.to_json(orient="index")),
            "within_spread": json.loads(verdict.to_json(orient="index"))}


def measure_perturbations(config_path: Path, work: Path, n_thread: int = 2) -> dict:
    """The perturbation suite in both modes: each effect's sign and interval."""
    base = _absolute(config_path)
    results, walls = {}, {}
    for mode in MODES:
        config = json.loads(json.dumps(base))
        config["spike_timing"] = MODES[mode]["spike_timing"]
        config["run"].update({"dt": MODES[mode]["dt"], "precise_times": mode == "precise", "n_thread": n_thread})
        # each mode's LGN spikes: the configuration's seed, on the grid model's grid or exact
        lgn_file = _lgn_spikes(config_path, work / f"lgn_{mode}.h5", float(config["run"]["tstop"]),
                               int(base.get("lgn_input", {}).get("seed", 0)),
                               MODES[mode]["dt"] if mode == "grid" else None)
        config["inputs"]["LGN_spikes"]["input_file"] = str(lgn_file)
        path = work / f"suite_{mode}.json"
        path.write_text(json.dumps(config, indent=2))
        out = work / f"suite_{mode}"
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "perturbations", "run", "--config", str(path), "--out",
                                 str(out), "--workers", "1"], cwd=REPO, capture_output=True, text=True)
        walls[mode] = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"perturbations ({mode}) failed:\n{result.stderr[-2000:]}")
        results[mode] = pd.read_csv(out / "summary.csv")
    keys = ["perturbation", "population"]
    both = results["grid"].merge(results["precise"], on=keys, suffixes=("_grid", "_precise"))
    both = both[both.perturbation != "baseline"]
    both = both.assign(
        same_sign=np.sign(both.delta_median_hz_grid) == np.sign(both.delta_median_hz_precise),
        overlap=(both.delta_ci_low_grid <= both.delta_ci_high_precise)
        & (both.delta_ci_low_precise <= both.delta_ci_high_grid))
    return {"walls": walls, "rows": json.loads(both.to_json(orient="records"))}


def render(results: dict) -> str:
    """The results as Markdown."""
    lines = ["# Precise spike timing against the grid", "", f"Machine: {machine_label(results['machine'])}; commit "
             f"{str(results['machine'].get('git_commit'))[:10]}; {results['machine']['date']}; load average at start "
             f"{results['machine'].get('load_average')}.", ""]
    if "neuron" in results:
        lines += ["## One neuron, the same input spikes (reference: iaf_psc_delta at dt 0.001 ms)", "",
                  "| seed | model | reference spikes | spikes | matched | extra | median error ms | 95% error ms |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['seed']} | {r['model']} | {r['n_reference']} | {r['n_other']} | {r['matched']:.3f} | "
                  f"{r['extra']} | {r['median_error_ms']:.4f} | {r['p95_error_ms']:.4f} |" for r in results["neuron"]]
        lines.append("")
    if "network" in results:
        net = results["network"]
        table = pd.DataFrame(net["table"])
        lines += ["## The 10,000-cell network, 3 s, grid (dt 0.01 ms) and precise (dt 0.1 ms) per LGN seed", "",
                  "| population | seed | mode | median rate Hz | active | mean ISI CV | synchrony CV |",
                  "|---|---:|---|---:|---:|---:|---:|"]
        lines += [f"| {r.pop_name} | {r.seed} | {r.mode} | {r.median_rate_hz:.2f} | {r.frac_active:.3f} | "
                  f"{r.mean_isi_cv:.3f} | {r.synchrony_cv:.3f} |" for r in table.itertuples()]
        lines += ["", "Mean difference precise - grid, against the grid model's seed-to-seed range (within?):", "",
                  "| population | statistic | mean difference | seed range | within |", "|---|---|---:|---:|---|"]
        for pop, stats in net["mean_difference"].items():
            for stat, value in stats.items():
                lines.append(f"| {pop} | {stat} | {value:.4f} | {net['seed_range'][pop][stat]:.4f} | "
                             f"{'yes' if net['within_spread'][pop][stat] else '**no**'} |")
        walls = pd.DataFrame(net["walls"]).groupby("mode").sim_s.median()
        lines += ["", "Simulation time of 3 s (median over seeds, 2 threads): " + ", ".join(
            f"{m} {w:.1f} s ({w / 3:.2f}x real time)" for m, w in walls.items()), ""]
    if "perturbations" in results:
        per = results["perturbations"]
        rows = pd.DataFrame(per["rows"])
        lines += ["## The perturbation suite in both modes", "",
                  f"Wall time (baseline + 8, one worker, 2 threads): grid {per['walls']['grid']:.0f} s, precise "
                  f"{per['walls']['precise']:.0f} s. Same sign: {int(rows.same_sign.sum())} of {len(rows)}; "
                  f"overlapping intervals: {int(rows.overlap.sum())} of {len(rows)}.", "",
                  "| perturbation | population | grid change Hz [95% CI] | precise change Hz [95% CI] | sign "
                  "| overlap |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r.perturbation} | {r.population} | {r.delta_median_hz_grid:.2f} [{r.delta_ci_low_grid:.2f}, "
                  f"{r.delta_ci_high_grid:.2f}] | {r.delta_median_hz_precise:.2f} [{r.delta_ci_low_precise:.2f}, "
                  f"{r.delta_ci_high_precise:.2f}] | {'same' if r.same_sign else '**differs**'} | "
                  f"{'yes' if r.overlap else '**no**'} |" for r in rows.itertuples()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.precise", description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=REPO / "config.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sections", nargs="+", default=["neuron", "network", "perturbations"],
                        choices=["neuron", "network", "perturbations"])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    args = parser.parse_args(argv)
    results = {"machine": machine_info()}
    work = Path(tempfile.mkdtemp(prefix="precise-bench-"))
    try:
        if "neuron" in args.sections:
            results["neuron"] = measure_neuron(args.seeds)
            print(pd.DataFrame(results["neuron"]).to_string(index=False), flush=True)
            _save(results, args.out)
        if "network" in args.sections:
            results["network"] = measure_network(args.config, args.seeds, work)
            print(json.dumps(results["network"]["within_spread"]), flush=True)
            _save(results, args.out)
        if "perturbations" in args.sections:
            results["perturbations"] = measure_perturbations(args.config, work)
            print(results["perturbations"]["walls"], flush=True)
            _save(results, args.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out / 'precise_results.md'}")
    return 0


def _save(results: dict, out: Path) -> None:
    """Write the results so far (a checkpoint after each section)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("precise_results.json", json.dumps(results, indent=2) + "\n"),
                       ("precise_results.md", render(results))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out / name)


if __name__ == "__main__":
    sys.exit(main())
