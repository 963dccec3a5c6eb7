"""Command line: ``python -m studies.circuits run ...``: build, simulate and analyse one conductance circuit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.errors import run_cli, run_command
from common.files import check_output_dir

from .options import circuit_options, positive_int, spec_from_args
from .run import run_circuit


def _run(args: argparse.Namespace) -> int:
    result = run_circuit(spec_from_args(args, args.weight_scale), args.out, force=args.force,
                         figures=not args.no_figures, n_thread=args.threads, bin_ms=args.bin_ms)
    crit = result["criticality"]
    rates = ", ".join(f"{k} {v:.2f} Hz" for k, v in result["mean_rate_hz"].items())
    m = crit["branching_ratio_mr"]
    alpha = crit["size_alpha"]
    print(f"{args.topology} circuit, {args.n or 'default'} cells, weight scale {args.weight_scale:g}: {rates}; "
          f"m_MR {'n/a' if m is None else f'{m:.3f}'} per {crit['bin_ms'] or float('nan'):.3g} ms bin, "
          f"size alpha {'n/a' if alpha is None else f'{alpha:.2f}'}: {crit['regime']}")
    print(f"wrote {Path(args.out) / 'result.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.circuits",
                                     description="Conductance-based E/I circuits on NEST (random, ring, layered).")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="build, simulate and analyse one circuit (DIR/result.json)")
    circuit_options(run)
    run.add_argument("--weight-scale", type=float, default=1.0, help="scale of the excitatory weights (default 1)")
    run.add_argument("--threads", type=positive_int, default=1, help="NEST threads (default 1)")
    run.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    run.add_argument("--no-figures", action="store_true", help="skip the network, raster and avalanche figures")
    run.set_defaults(run=_run)
    args = parser.parse_args(argv)
    return run_command(args, lambda: check_output_dir(args.out))


if __name__ == "__main__":
    sys.exit(run_cli(main))
