"""Visual-stimulus benchmark: FilterNet's cost, the flash protocol at 10,000 cells, and dt 0.1 against dt 0.01 ms.

    python -m benchmarks.stimulus [--config config.json] [--trials 30] [--dt-trials 10] [--out benchmarks]

Three measurements, each ``python -m analysis stimulus`` in a fresh process on the network of ``--config``:

``filternet``
    The LGN's FilterNet evaluation of the flash and grating stimuli from an empty cache (500 tON cells).
``flash``
    The whole flash protocol (``--trials`` of each colour) at dt 0.1 ms, the target being <= 10 minutes on 2 cores.
``dt``
    A shorter flash protocol (``--dt-trials``) at dt 0.1 and 0.01 ms with the same seed (same LGN spikes, rounded
    to each grid): for every population and AllenSDK metric the model medians and their 95% bootstrap intervals;
    the two agree when the intervals overlap.

Writes ``stimulus_results.json`` and ``stimulus_results.md`` into ``--out`` (each under a temporary name first).
Run folders go to a temporary work folder; ``output/`` is not touched.
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

import pandas as pd

from common.paths import REPO
from inputs.filternet import evaluate, lgn_cells
from inputs.stimuli import distinct_stimuli, load_protocol

from .report import machine_info, machine_label

SHOWN_METRICS = ("firing_rate_fl", "time_to_peak_fl", "sustained_idx_fl", "fano_fl", "lifetime_sparseness_fl")


def _stimulus(args: list[str], env: dict | None = None) -> float:
    """Run ``python -m analysis stimulus ARGS`` in a fresh process; return its wall time (s)."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "analysis", "stimulus", *args], cwd=REPO, capture_output=True,
                            text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"python -m analysis stimulus {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def measure_filternet(work: Path, config: Path) -> dict:
    """FilterNet time (s) of the flash and grating stimuli of the default protocol, from an empty cache."""

    protocol = load_protocol()
    raw = json.loads(config.read_text())
    network = Path(raw["manifest"]["$NETWORK_DIR"].replace("$BASE_DIR", str(config.resolve().parent)))
    cells = lgn_cells(network, protocol)
    found = {"cells": len(cells)}
    for condition in ("flash", "gratings"):
        stimuli = distinct_stimuli(condition, protocol)
        start = time.perf_counter()
        rates = evaluate(cells, stimuli, protocol, cache_dir=work / f"cache-{condition}", progress=False)
        found[condition] = {"stimuli": len(stimuli), "movie_s": sum(s.cycle_s for s in stimuli),
                            "wall_s": round(time.perf_counter() - start, 1),
                            "frames": int(sum(r.shape[1] for r in rates.values()))}
    return found


def dt_agreement(fine: pd.DataFrame, coarse: pd.DataFrame) -> pd.DataFrame:
    """Per population and metric: medians and 95% intervals at both dt, and whether the intervals overlap."""
    keys = ["pop_name", "metric"]
    both = fine[[*keys, "n_model", "model_median", "model_lo", "model_hi"]].merge(
        coarse[[*keys, "n_model", "model_median", "model_lo", "model_hi"]], on=keys, suffixes=("_001", "_01"))
    both = both[both.metric.isin(SHOWN_METRICS) & (both.n_model_001 > 0) & (both.n_model_01 > 0)]
    return both.assign(overlap=(both.model_lo_001 <= both.model_hi_01) & (both.model_lo_01 <= both.model_hi_001))


def render(results: dict) -> str:
    """The results as Markdown."""
    lines = ["# Visual-stimulus benchmark", "", f"Machine: {machine_label(results['machine'])}; commit "
             f"{results['machine'].get('git_commit', '?')[:10]}; {results['machine']['date']}; load average at start "
             f"{results['machine'].get('load_average')}.", ""]
    fn = results.get("filternet")
    if fn:
        lines += ["## FilterNet (500 tON cells, 1 kHz frames, empty cache)", "",
                  "| condition | stimuli | movie s | wall s |", "|---|---:|---:|---:|"]
        lines += [f"| {c} | {fn[c]['stimuli']} | {fn[c]['movie_s']:g} | {fn[c]['wall_s']} |"
                  for c in ("flash", "gratings")]
        lines.append("")
    flash = results.get("flash")
    if flash:
        status = "met" if flash["wall_s"] <= 600 else "**not met**"
        lines += ["## Flash protocol at 10,000 cells", "",
                  f"{flash['trials']} flashes of each colour ({flash['duration_s']:g} s simulated) at dt 0.1 ms, "
                  f"{flash['n_thread']} threads: **{flash['wall_s']:.0f} s** end to end (target <= 600 s: {status}); "
                  f"parts: {flash['parts']}.", ""]
    dt = results.get("dt")
    if dt:
        rows = pd.DataFrame(dt["rows"])
        lines += [f"## dt 0.1 ms against dt 0.01 ms ({dt['trials']} flashes of each colour, seed {dt['seed']})", "",
                  f"Wall time: dt 0.01 ms {dt['wall_s']['0.01']:.0f} s, dt 0.1 ms {dt['wall_s']['0.1']:.0f} s. "
                  f"{int(rows.overlap.sum())} of {len(rows)} population x metric intervals overlap.", "",
                  "| population | metric | dt 0.01: median [95% CI] | dt 0.1: median [95% CI] | overlap |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r.pop_name} | {r.metric} | {r.model_median_001:.4g} [{r.model_lo_001:.4g}, "
                  f"{r.model_hi_001:.4g}] | {r.model_median_01:.4g} [{r.model_lo_01:.4g}, {r.model_hi_01:.4g}] | "
                  f"{'yes' if r.overlap else '**no**'} |" for r in rows.itertuples()]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stimulus", description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=REPO / "config_seed.json")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--dt-trials", type=int, default=10)
    parser.add_argument("--n-thread", type=int, default=2)
    parser.add_argument("--sections", nargs="+", default=["filternet", "flash", "dt"],
                        choices=["filternet", "flash", "dt"])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    args = parser.parse_args(argv)
    results = {"machine": machine_info()}
    work = Path(tempfile.mkdtemp(prefix="stimulus-bench-"))
    common = ["--config", str(args.config.resolve()), "--n-thread", str(args.n_thread)]
    try:
        if "filternet" in args.sections:
            results["filternet"] = measure_filternet(work, args.config)
            print("filternet", results["filternet"], flush=True)
        if "flash" in args.sections:
            out = work / "flash"
            wall = _stimulus(["flash", "--trials", str(args.trials), "--out", str(out), *common])
            info = json.loads((out / "run_info.json").read_text())
            results["flash"] = {"trials": args.trials, "duration_s": info["duration_s"], "wall_s": wall,
                                "n_thread": args.n_thread, "parts": info["wall_s"]}
            print("flash", results["flash"], flush=True)
        if "dt" in args.sections:
            tables, walls = {}, {}
            for dt in ("0.01", "0.1"):
                out = work / f"dt{dt}"
                walls[dt] = _stimulus(["flash", "--trials", str(args.dt_trials), "--dt", dt, "--out", str(out),
                                       *common])
                tables[dt] = pd.read_csv(out / "comparison.csv")
            rows = dt_agreement(tables["0.01"], tables["0.1"])
            results["dt"] = {"trials": args.dt_trials, "seed": 0, "wall_s": walls,
                             "rows": json.loads(rows.to_json(orient="records"))}
            print(rows.to_string(index=False), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    _write(args.out / "stimulus_results.json", json.dumps(results, indent=2) + "\n")
    _write(args.out / "stimulus_results.md", render(results))
    print(f"wrote {args.out / 'stimulus_results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
