"""Command line: ``python -m perturbations run [...]`` (see ``--help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from common.errors import run_cli
from common.locks import folder_lock
from common.paths import REPO
from simulation.config import ConfigError
from simulation.run import load_config

from .configs import BASELINE, DEFAULT_AMP_PA, v1_populations, write_suite
from .suite import run_suite, write_atomic
from .summary import plot_rasters, plot_rate_grid, plot_sweep, summarize


def _amps(text: str) -> list[float]:
    start, stop, step = (float(v) for v in text.split(":"))
    return [float(a) for a in np.arange(start, stop + step / 2, step)]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _run(args: argparse.Namespace) -> int:
    # a second suite into the same folder stops here, naming this one (a killed suite's lock is released at once)
    with folder_lock(args.out, "a perturbation suite"):
        return _run_locked(args)


def _run_locked(args: argparse.Namespace) -> int:
    base = load_config(args.config, build_missing=True)  # builds a missing default network or LGN spikes, once
    configs = write_suite(args.config, args.out, amp_pa=args.amp, populations=args.populations, only=args.only,
                          delay_ms=args.delay, duration_ms=args.duration, sweep=args.sweep,
                          sweep_amps_pa=_amps(args.sweep_amps) if args.sweep else None)
    for path in configs.values():
        load_config(path, build_missing=False)  # every run is checked before any NEST starts
    print(f"{len(configs)} runs: {', '.join(configs)}", flush=True)
    records = run_suite(configs, workers=args.workers, scheduler=args.scheduler, force=args.force,
                        n_thread=args.threads, cells=v1_populations(base))
    for record in sorted(records, key=lambda r: r["name"]):
        print(f"  {record['name']}: {record['wall_s']:.1f} s")
    summary, runs = summarize(configs)
    out = Path(args.out)
    if args.sweep:
        summary["amp_pa"] = [0.0 if n == BASELINE else float(n.rsplit("_", 1)[1].removesuffix("pA"))
                             for n in summary.perturbation]
        table = out / f"sweep_{args.sweep}.csv"
        write_atomic(table, summary.to_csv(index=False, float_format="%.6g"))
        figure = plot_sweep(summary, args.sweep, out / f"sweep_{args.sweep}.png")
    else:
        table = out / "summary.csv"
        write_atomic(table, summary.to_csv(index=False, float_format="%.6g"))
        figure = plot_rate_grid(runs, out / "rates.png")
        plot_rasters(runs, out / "rasters.png", float(load_config(configs[BASELINE], False).tstop))
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"wrote {table} and {figure}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perturbations", description="Current-clamp perturbations.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the baseline and the perturbations (or a --sweep) on Dask")
    run.add_argument("--config", type=Path, default=REPO / "config.json", help="baseline configuration")
    run.add_argument("--only", nargs="+", metavar="NAME", help="runs to do, e.g. PV_inhibit (baseline always)")
    run.add_argument("--amp", default=DEFAULT_AMP_PA, help="absolute clamp amplitude, pA (default 230)")
    run.add_argument("--populations", nargs="+", help="populations to perturb (default: all)")
    run.add_argument("--delay", type=float, help="clamp onset, ms (default 2 dt)")
    run.add_argument("--duration", type=float, help="clamp duration, ms (default: to the end of the run)")
    run.add_argument("--sweep", metavar="POP", help="dose-response: clamp POP at each --sweep-amps amplitude")
    run.add_argument("--sweep-amps", default="-300:300:50",
                     help="START:STOP:STEP in pA, written --sweep-amps=-300:300:50 (the default)")
    run.add_argument("--workers", type=int, default=1, help="local Dask worker processes (default 1)")
    run.add_argument("--threads", type=_positive, metavar="N",
                     help="NEST threads per run (default: the machine's cores divided among the local workers; "
                          "1 on --scheduler)")
    run.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    run.add_argument("--force", action="store_true", help="rerun finished runs")
    run.add_argument("--out", type=Path, default=REPO / "output" / "perturbations")
    run.set_defaults(run=_run)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return args.run(args)
    except (ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(run_cli(main))
