"""Command line: ``python -m studies.digits {ga,stdp} ...``: learning the digits with a genetic algorithm or STDP."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.errors import run_cli, run_command
from common.files import check_output_dir
from studies.circuits.options import positive_int

from .ga import GA_FILE, run_ga
from .stdp_learning import run_stdp, size_series
from .stdp_window import STDP_FILE, read_stdp_params


def _ga(args: argparse.Namespace) -> int:
    result = run_ga(args.out, population=args.population, generations=args.generations, seed=args.seed,
                    workers=args.workers, scheduler=args.scheduler, n_thread=args.threads, genome_file=args.genome,
                    force=args.force, params_file=args.params, figures=not args.no_figures)
    baseline = result["logistic_regression"]
    print(f"GA, {result['population_per_digit']} rows per digit x {result['generations']} generations, "
          f"seed {result['seed']}: "
          f"train accuracy {result['train_accuracy']:.1%}, test accuracy {result['test_accuracy']:.1%} "
          f"(logistic regression {baseline['test_accuracy']:.1%}, chance 10%) in {result['wall_s']:.0f} s")
    print(f"wrote {Path(args.out) / 'result.json'}")
    return 0


def _stdp(args: argparse.Namespace) -> int:
    params = read_stdp_params(args.params or STDP_FILE)
    if args.sizes is not None:
        table = size_series(args.out, args.sizes, epochs=args.epochs, seed=args.seed, force=args.force, params=params,
                            threads=args.threads, figures=not args.no_figures)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(f"wrote {Path(args.out) / 'result.json'}, {Path(args.out) / 'sizes.csv'} and one folder per size")
        return 0
    result = run_stdp(args.out, args.neurons, args.epochs, args.seed, force=args.force, params=params,
                      threads=args.threads, figures=not args.no_figures)
    print(f"STDP network, {result['neurons']} neurons, {result['epochs']} epoch(s), seed {result['seed']}: "
          f"train {result['train_accuracy']:.1%}, test {result['test_accuracy']:.1%} "
          f"(logistic regression: test {result['logistic_regression']['test_accuracy']:.1%}); STDP window within "
          f"{result['window']['max_abs_deviation_nS']:.1e} nS of the closed form; {result['wall_s']:.0f} s")
    print(f"wrote {Path(args.out) / 'result.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.digits",
                                     description="Digit learning by a genetic algorithm and by STDP on NEST.")
    sub = parser.add_subparsers(dest="command", required=True)
    ga = sub.add_parser("ga", help="evolve a spiking digit classifier with a genetic algorithm (DIR/result.json)")
    ga.add_argument("--generations", type=positive_int, help="generations (default: studies/digits/ga.json)")
    ga.add_argument("--population", type=positive_int,
                    help="individuals per generation (default: studies/digits/ga.json)")
    ga.add_argument("--seed", type=int, default=0, help="master seed: split, hidden layer, spikes, GA (default 0)")
    ga.add_argument("--genome", type=Path, help="a saved best_genome.json to start from")
    ga.add_argument("--threads", type=positive_int, default=2, help="NEST threads in this process (default 2)")
    ga.add_argument("--workers", type=positive_int, default=1,
                    help="local Dask processes evaluating each generation (default 1: no Dask)")
    ga.add_argument("--scheduler", help="address of an existing Dask scheduler (e.g. tcp://host:8786)")
    ga.add_argument("--params", type=Path, default=GA_FILE, help="parameter file (default studies/digits/ga.json)")
    ga.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    ga.add_argument("--no-figures", action="store_true", help="skip the figures")
    ga.add_argument("--out", type=Path, required=True, help="output folder")
    ga.set_defaults(run=_ga)
    st = sub.add_parser("stdp", help="unsupervised digit learning with STDP (Diehl & Cook 2015 style; DIR/result.json)",
                        description="Train an excitatory layer with NEST's stdp_synapse on the digits (lateral "
                                    "inhibition, adaptive thresholds, weight normalisation), label its neurons on the "
                                    "training images, classify the test images by their votes; also measures the "
                                    "STDP window against its closed form.")
    size = st.add_mutually_exclusive_group()
    size.add_argument("--neurons", type=positive_int,
                      help="excitatory neurons (default: studies/digits/stdp.json, 100)")
    size.add_argument("--sizes", type=positive_int, nargs="+", metavar="N",
                      help="run each network size into DIR/n<N>/ and plot accuracy against size")
    st.add_argument("--epochs", type=positive_int, help="passes through the training images (default: stdp.json, 1)")
    st.add_argument("--seed", type=int, default=0, help="master seed: split, weights, order, spikes (default 0)")
    st.add_argument("--threads", type=positive_int, default=1, help="NEST threads (default 1)")
    st.add_argument("--params", type=Path, help="parameter file (default studies/digits/stdp.json)")
    st.add_argument("--out", type=Path, required=True, help="output folder")
    st.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    st.add_argument("--no-figures", action="store_true", help="skip the window, receptive-field and confusion plots")
    st.set_defaults(run=_stdp)
    args = parser.parse_args(argv)
    return run_command(args, lambda: check_output_dir(args.out))


if __name__ == "__main__":
    sys.exit(run_cli(main))
