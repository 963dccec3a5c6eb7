"""Command line: ``python -m studies.criticality {sweep,tune} ...``: a circuit's regime over weight scales, and the
weight scale of a target branching ratio."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.errors import run_cli, run_command
from common.files import check_output_dir
from studies.circuits.options import circuit_options, parallel_options, positive_int, spec_from_args
from studies.circuits.params import CircuitError

from .figures import plot_sweep
from .sweep import collect, sweep, tune


def _sweep(args: argparse.Namespace) -> int:
    if args.scales is None:
        lo, hi, k = args.range
        if int(k) < 2 or hi <= lo:
            raise CircuitError(f"--range LO HI K needs HI > LO and K >= 2, got {args.range}.")
        scales = [round(lo + (hi - lo) * i / (int(k) - 1), 4) for i in range(int(k))]
    else:
        scales = args.scales
    table = sweep(spec_from_args(args), scales, args.out, workers=args.workers, scheduler=args.scheduler,
                  bin_ms=args.bin_ms)
    plot_sweep(table, Path(args.out) / "sweep.png")
    print(table.drop(columns="out_dir").to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {Path(args.out) / 'sweep.csv'} and {Path(args.out) / 'sweep.png'}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    result = tune(spec, args.out, target_m=args.target_m, tolerance=args.tolerance, workers=args.workers,
                  scheduler=args.scheduler, bin_ms=args.bin_ms, max_rounds=args.max_rounds)
    plot_sweep(collect(args.out, spec, args.bin_ms), Path(args.out) / "sweep.png", target_m=args.target_m)
    status = "converged" if result["converged"] else "did NOT converge"
    print(f"{status}: weight scale {result['weight_scale']:g} gives m_MR {result['branching_ratio_mr']:.4f} "
          f"(target {args.target_m} +- {args.tolerance}), {result['mean_rate_hz']:.2f} Hz, {result['regime']}; "
          f"{result['evaluations']} runs")
    print(f"wrote {Path(args.out) / 'tune.json'} and {Path(args.out) / 'sweep.png'}")
    return 0 if result["converged"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.criticality",
                                     description="Criticality of the conductance circuits: sweeps and tuning.")
    sub = parser.add_subparsers(dest="command", required=True)
    sw = sub.add_parser("sweep", help="run the circuit over weight scales in parallel (DIR/sweep.csv, sweep.png)")
    circuit_options(sw)
    group = sw.add_mutually_exclusive_group(required=True)
    group.add_argument("--scales", type=float, nargs="+", help="weight scales to run")
    group.add_argument("--range", type=float, nargs=3, metavar=("LO", "HI", "K"), help="K scales from LO to HI")
    parallel_options(sw)
    sw.set_defaults(run=_sweep)
    tn = sub.add_parser("tune", help="find the weight scale that gives a target branching ratio (DIR/tune.json)")
    circuit_options(tn)
    tn.add_argument("--target-m", type=float, default=1.0, help="target branching ratio per bin (default 1.0)")
    tn.add_argument("--tolerance", type=float, default=0.02, help="accepted |m - target| (default 0.02)")
    tn.add_argument("--max-rounds", type=positive_int, default=4, help="refinement rounds (default 4)")
    parallel_options(tn)
    tn.set_defaults(run=_tune)
    args = parser.parse_args(argv)
    return run_command(args, lambda: check_output_dir(args.out))


if __name__ == "__main__":
    sys.exit(run_cli(main))
