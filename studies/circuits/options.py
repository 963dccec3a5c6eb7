"""Command-line options shared by the circuit studies (``python -m studies.circuits`` and
``python -m studies.criticality``): the circuit, the Dask workers, and the spec they make."""

from __future__ import annotations

import argparse
from pathlib import Path

from .params import PARAMS_FILE, TOPOLOGIES, CircuitError, CircuitSpec, make_spec


def spec_from_args(args: argparse.Namespace, weight_scale: float = 1.0) -> CircuitSpec:
    """The validated circuit of the options (:func:`circuit_options`)."""
    if args.bin_ms is not None and not args.bin_ms > 0:
        raise CircuitError(f"--bin-ms must be > 0 ms, got {args.bin_ms}.")
    return make_spec(args.topology, n_cells=args.n, weight_scale=weight_scale, seed=args.seed,
                     p_connect=args.p_connect, exc_weight_nS=args.exc_weight_ns, inh_weight_nS=args.inh_weight_ns,
                     tstop_ms=args.tstop_ms, params_file=args.params)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def circuit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--topology", required=True, help=f"one of {', '.join(TOPOLOGIES)}")
    p.add_argument("--n", type=positive_int, help="number of neurons (default: circuit.json's n_cells)")
    p.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    p.add_argument("--p-connect", type=float, help="every connection probability, in [0, 1]")
    p.add_argument("--exc-weight-ns", type=float, help="excitatory conductance per spike (nS)")
    p.add_argument("--inh-weight-ns", type=float, help="inhibitory conductance per spike (nS)")
    p.add_argument("--tstop-ms", type=float, help="simulated time (ms)")
    p.add_argument("--bin-ms", type=float, help="analysis bin (ms; default: the mean inter-event interval)")
    p.add_argument("--params", type=Path, default=PARAMS_FILE,
                   help="parameter file (default studies/circuits/circuit.json)")
    p.add_argument("--out", type=Path, required=True, help="output folder")


def parallel_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=positive_int, default=2, help="local Dask processes (default 2)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler (e.g. tcp://host:8786)")
