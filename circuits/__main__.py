"""Command line: ``python -m circuits {run,sweep,tune,ga,stdp} ...`` (see ``--help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.errors import UserError, run_cli
from common.files import check_output_dir

from .ga import GA_FILE
from .params import PARAMS_FILE, TOPOLOGIES, CircuitError, make_spec


def _spec(args: argparse.Namespace, weight_scale: float = 1.0):
    if args.bin_ms is not None and not args.bin_ms > 0:
        raise CircuitError(f"--bin-ms must be > 0 ms, got {args.bin_ms}.")
    return make_spec(args.topology, n_cells=args.n, weight_scale=weight_scale, seed=args.seed,
                     p_connect=args.p_connect, exc_weight_nS=args.exc_weight_ns, inh_weight_nS=args.inh_weight_ns,
                     tstop_ms=args.tstop_ms, params_file=args.params)


def _run(args: argparse.Namespace) -> int:
    from .run import run_circuit

    result = run_circuit(_spec(args, args.weight_scale), args.out, force=args.force, figures=not args.no_figures,
                         n_thread=args.threads, bin_ms=args.bin_ms)
    crit = result["criticality"]
    rates = ", ".join(f"{k} {v:.2f} Hz" for k, v in result["mean_rate_hz"].items())
    m = crit["branching_ratio_mr"]
    alpha = crit["size_alpha"]
    print(f"{args.topology} circuit, {args.n or 'default'} cells, weight scale {args.weight_scale:g}: {rates}; "
          f"m_MR {'n/a' if m is None else f'{m:.3f}'} per {crit['bin_ms'] or float('nan'):.3g} ms bin, "
          f"size alpha {'n/a' if alpha is None else f'{alpha:.2f}'}: {crit['regime']}")
    print(f"wrote {Path(args.out) / 'result.json'}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from .figures import plot_sweep
    from .sweep import sweep

    if args.scales is None:
        lo, hi, k = args.range
        if int(k) < 2 or hi <= lo:
            raise CircuitError(f"--range LO HI K needs HI > LO and K >= 2, got {args.range}.")
        scales = [round(lo + (hi - lo) * i / (int(k) - 1), 4) for i in range(int(k))]
    else:
        scales = args.scales
    table = sweep(_spec(args), scales, args.out, workers=args.workers, scheduler=args.scheduler, bin_ms=args.bin_ms)
    plot_sweep(table, Path(args.out) / "sweep.png")
    print(table.drop(columns="out_dir").to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {Path(args.out) / 'sweep.csv'} and {Path(args.out) / 'sweep.png'}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from .figures import plot_sweep
    from .sweep import collect, tune

    spec = _spec(args)
    result = tune(spec, args.out, target_m=args.target_m, tolerance=args.tolerance, workers=args.workers,
                  scheduler=args.scheduler, bin_ms=args.bin_ms, max_rounds=args.max_rounds)
    plot_sweep(collect(args.out, spec, args.bin_ms), Path(args.out) / "sweep.png", target_m=args.target_m)
    status = "converged" if result["converged"] else "did NOT converge"
    print(f"{status}: weight scale {result['weight_scale']:g} gives m_MR {result['branching_ratio_mr']:.4f} "
          f"(target {args.target_m} +- {args.tolerance}), {result['mean_rate_hz']:.2f} Hz, {result['regime']}; "
          f"{result['evaluations']} runs")
    print(f"wrote {Path(args.out) / 'tune.json'} and {Path(args.out) / 'sweep.png'}")
    return 0 if result["converged"] else 1


def _ga(args: argparse.Namespace) -> int:
    from .ga import run_ga

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
    from .stdp import STDP_FILE, read_stdp_params, run_stdp, size_series

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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _circuit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--topology", required=True, help=f"one of {', '.join(TOPOLOGIES)}")
    p.add_argument("--n", type=_positive_int, help="number of neurons (default: circuit.json's n_cells)")
    p.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    p.add_argument("--p-connect", type=float, help="every connection probability, in [0, 1]")
    p.add_argument("--exc-weight-ns", type=float, help="excitatory conductance per spike (nS)")
    p.add_argument("--inh-weight-ns", type=float, help="inhibitory conductance per spike (nS)")
    p.add_argument("--tstop-ms", type=float, help="simulated time (ms)")
    p.add_argument("--bin-ms", type=float, help="analysis bin (ms; default: the mean inter-event interval)")
    p.add_argument("--params", type=Path, default=PARAMS_FILE, help="parameter file (default circuits/circuit.json)")
    p.add_argument("--out", type=Path, required=True, help="output folder")


def _parallel_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=_positive_int, default=2, help="local Dask processes (default 2)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler (e.g. tcp://host:8786)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m circuits",
                                     description="Conductance-based circuits on NEST: run, sweep, tune; "
                                                 "digit learning by GA and STDP.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="build, simulate and analyse one circuit (DIR/result.json)")
    _circuit_options(run)
    run.add_argument("--weight-scale", type=float, default=1.0, help="scale of the excitatory weights (default 1)")
    run.add_argument("--threads", type=_positive_int, default=1, help="NEST threads (default 1)")
    run.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    run.add_argument("--no-figures", action="store_true", help="skip the network, raster and avalanche figures")
    run.set_defaults(run=_run)
    sw = sub.add_parser("sweep", help="run the circuit over weight scales in parallel (DIR/sweep.csv, sweep.png)")
    _circuit_options(sw)
    group = sw.add_mutually_exclusive_group(required=True)
    group.add_argument("--scales", type=float, nargs="+", help="weight scales to run")
    group.add_argument("--range", type=float, nargs=3, metavar=("LO", "HI", "K"), help="K scales from LO to HI")
    _parallel_options(sw)
    sw.set_defaults(run=_sweep)
    tn = sub.add_parser("tune", help="find the weight scale that gives a target branching ratio (DIR/tune.json)")
    _circuit_options(tn)
    tn.add_argument("--target-m", type=float, default=1.0, help="target branching ratio per bin (default 1.0)")
    tn.add_argument("--tolerance", type=float, default=0.02, help="accepted |m - target| (default 0.02)")
    tn.add_argument("--max-rounds", type=_positive_int, default=4, help="refinement rounds (default 4)")
    _parallel_options(tn)
    tn.set_defaults(run=_tune)
    ga = sub.add_parser("ga", help="evolve a spiking digit classifier with a genetic algorithm (DIR/result.json)")
    ga.add_argument("--generations", type=_positive_int, help="generations (default: circuits/ga.json)")
    ga.add_argument("--population", type=_positive_int, help="individuals per generation (default: circuits/ga.json)")
    ga.add_argument("--seed", type=int, default=0, help="master seed: split, hidden layer, spikes, GA (default 0)")
    ga.add_argument("--genome", type=Path, help="a saved best_genome.json to start from")
    ga.add_argument("--threads", type=_positive_int, default=2, help="NEST threads in this process (default 2)")
    ga.add_argument("--workers", type=_positive_int, default=1,
                    help="local Dask processes evaluating each generation (default 1: no Dask)")
    ga.add_argument("--scheduler", help="address of an existing Dask scheduler (e.g. tcp://host:8786)")
    ga.add_argument("--params", type=Path, default=GA_FILE, help="parameter file (default circuits/ga.json)")
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
    size.add_argument("--neurons", type=_positive_int, help="excitatory neurons (default: circuits/stdp.json, 100)")
    size.add_argument("--sizes", type=_positive_int, nargs="+", metavar="N",
                      help="run each network size into DIR/n<N>/ and plot accuracy against size")
    st.add_argument("--epochs", type=_positive_int, help="passes through the training images (default: stdp.json, 1)")
    st.add_argument("--seed", type=int, default=0, help="master seed: split, weights, order, spikes (default 0)")
    st.add_argument("--threads", type=_positive_int, default=1, help="NEST threads (default 1)")
    st.add_argument("--params", type=Path, help="parameter file (default circuits/stdp.json)")
    st.add_argument("--out", type=Path, required=True, help="output folder")
    st.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    st.add_argument("--no-figures", action="store_true", help="skip the window, receptive-field and confusion plots")
    st.set_defaults(run=_stdp)
    args = parser.parse_args(argv)
    try:
        check_output_dir(args.out)
        return args.run(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(run_cli(main))
