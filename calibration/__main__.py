"""Command line: ``python -m calibration {tune,tune-gray} ...``: tuning the model's weights to the data.

``tune`` fits the seed model's weight scales to the reference spontaneous rates (SciPy Nelder-Mead);
``tune-gray`` fits the background model on the gray-screen condition (CMA-ES, evaluations in parallel on Dask).
Tuning targets are not validation measures: the held-out comparison is ``python -m analysis heldout``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from analysis.rates import format_summary
from build_network.params import WEIGHT_SCALES_FILE, load_populations, load_weight_scales
from common.errors import run_cli, run_command
from common.files import write_json

from .tune import Evaluator, meets_criteria, tune
from .tune_gray import PARAMETERS, GrayTuning, meets_gray_criteria, rerun_best, tune_gray, write_tuned


def _tune(args: argparse.Namespace) -> int:
    initial = load_weight_scales(load_populations(), args.start)
    evaluator = Evaluator(args.workdir, n_cells=args.n_cells, tstop_ms=args.tstop, dt_ms=args.dt, seed=args.seed,
                          n_thread=args.n_thread)
    print(f"tuning {len(evaluator.keys)} weight scales on {args.n_cells} cells, {args.tstop:g} ms at dt "
          f"{args.dt:g} ms, at most {args.max_evals} simulations (work folder {args.workdir})", flush=True)
    best = tune(evaluator, initial, args.max_evals, progress=lambda line: print(line, flush=True),
                step=np.log(args.step))
    record = min(evaluator.history, key=lambda r: r["loss"])
    checks = meets_criteria(record["summary"])
    print("\nbest scales:", json.dumps(best))
    print(format_summary(record["summary"]))
    for name, ok in checks.items():
        print(f"  {'pass' if ok else 'FAIL'}  {name}")
    out = Path(args.out)
    write_json(out, {k: round(v, 4) for k, v in best.items()})
    log = out.with_name(f"{out.stem}.tuning.json")
    log.write_text(json.dumps({
        "command": "python -m calibration " + " ".join(shlex.quote(a) for a in args.argv),
        "n_cells": args.n_cells, "tstop_ms": args.tstop, "dt_ms": args.dt, "seed": args.seed,
        "start_scales": initial,
        "evaluations": len(evaluator.history), "best_loss": record["loss"], "criteria": checks,
        "summary": json.loads(record["summary"].to_json(orient="index")),
        "history": [{"loss": r["loss"], "scales": r["scales"]} for r in evaluator.history],
    }, indent=2) + "\n")
    print(f"wrote {out} and {log}; rebuild the network to use them: python -m build_network --force")
    return 0


def _tune_gray(args: argparse.Namespace) -> int:
    start = {k: v[2] for k, v in PARAMETERS.items()}
    if args.start is not None:
        given = json.loads(Path(args.start).read_text())
        start.update({k: float(v) for k, v in given.get("params", given).items() if k in PARAMETERS})
    tuning = GrayTuning(args.workdir, n_cells=args.n_cells, tstop_ms=args.tstop, seed=args.seed,
                        n_thread=args.n_thread, config_path=args.config)
    print(f"tuning {len(PARAMETERS)} parameters of the background model on the gray condition: {args.n_cells} "
          f"cells, {args.tstop:g} ms, at most {args.max_evals} simulations, {args.workers} at a time "
          f"(work folder {args.workdir}, every evaluation in {tuning.evaluations})", flush=True)
    if args.max_evals == 0:  # no search: rerun the best evaluation of the work folder (and --write it)
        if not tuning.evaluations.is_file():
            print(f"error: --max-evals 0 reruns the best of {tuning.evaluations}, which does not exist",
                  file=sys.stderr)
            return 2
        best = rerun_best(tuning)
        print(f"reran {best['rerun_of']['evaluation']} (loss {best['rerun_of']['loss']:.4f}) as {best['name']}")
    else:
        best = tune_gray(tuning, start, args.max_evals, workers=args.workers, popsize=args.popsize,
                         sigma0=args.sigma0, seed=args.seed, progress=lambda line: print(line, flush=True))
    import pandas as pd

    summary = pd.DataFrame(best["summary"]).T
    print(f"\nbest: {best['name']}, loss {best['loss']:.3f}, parameters {json.dumps(best['params'])}")
    print(format_summary(summary))
    print(f"median ISI CV of E cells with >= 5 spikes: {best['e_cv']:.2f} ({best['n_e_cv']} cells)")
    for name, ok in meets_gray_criteria(summary, best["e_cv"]).items():
        print(f"  {'pass' if ok else 'FAIL'}  {name}")
    if args.write:
        n = len(pd.read_csv(tuning.evaluations))
        paths = write_tuned(best, tuning, "python -m calibration " + " ".join(shlex.quote(a) for a in args.argv), n)
        print(f"wrote {', '.join(str(p) for p in paths)}; rebuild: python -m build_network --model background "
              "--force")
    return 0


def _add_tune(sub: argparse._SubParsersAction) -> None:
    tune_p = sub.add_parser("tune", help="tune the weight scales to the reference rates (SciPy Nelder-Mead)")
    tune_p.add_argument("--n-cells", type=int, default=10000)
    tune_p.add_argument("--tstop", type=float, default=2000.0, help="ms per evaluation (default 2000)")
    tune_p.add_argument("--dt", type=float, default=0.1, help="ms (default 0.1; the baseline runs at 0.01)")
    tune_p.add_argument("--max-evals", type=int, default=80)
    tune_p.add_argument("--seed", type=int, default=0)
    tune_p.add_argument("--step", type=float, default=2.0,
                        help="initial simplex: each scale multiplied by this factor in turn (default 2)")
    tune_p.add_argument("--n-thread", type=int, default=2)
    tune_p.add_argument("--start", type=Path, default=WEIGHT_SCALES_FILE, help="starting scales (JSON)")
    tune_p.add_argument("--workdir", type=Path, default=Path("output/tuning"))
    tune_p.add_argument("--out", type=Path, default=WEIGHT_SCALES_FILE)
    tune_p.set_defaults(run=_tune)


def _add_tune_gray(sub: argparse._SubParsersAction) -> None:
    gray_p = sub.add_parser("tune-gray", help="tune the background model on spontaneous activity (gray screen) "
                            "with CMA-ES, evaluations in parallel on Dask")
    gray_p.add_argument("--n-cells", type=int, default=10000)
    gray_p.add_argument("--tstop", type=float, default=4000.0, help="ms per evaluation (default 4000)")
    gray_p.add_argument("--max-evals", type=int, default=80,
                        help="simulations (default 80); 0 reruns the best of --workdir's evaluations (with --write)")
    gray_p.add_argument("--workers", type=int, default=2, help="simulations at once (default 2)")
    gray_p.add_argument("--n-thread", type=int, default=1, help="NEST threads per simulation (default 1)")
    gray_p.add_argument("--popsize", type=int, help="CMA-ES population (default cma's: 10)")
    gray_p.add_argument("--sigma0", type=float, default=1.0,
                        help="multiplies each parameter's initial CMA-ES step (default 1)")
    gray_p.add_argument("--seed", type=int, default=0)
    gray_p.add_argument("--start", type=Path, help="starting parameters (JSON; a tuning record's 'params' works)")
    gray_p.add_argument("--config", type=Path, default=Path("config.json"),
                        help="the background model's configuration")
    gray_p.add_argument("--workdir", type=Path, default=Path("output/tuning_gray"))
    gray_p.add_argument("--write", action="store_true",
                        help="write the best into build_network/background.csv and "
                             "components/weight_scales_background.json (+ .tuning.json)")
    gray_p.set_defaults(run=_tune_gray)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m calibration``."""
    parser = argparse.ArgumentParser(prog="python -m calibration", description="Tuning the model's weights.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_tune(sub)
    _add_tune_gray(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = argv
    return run_command(args)


if __name__ == "__main__":
    sys.exit(run_cli(main))
