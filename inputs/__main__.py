"""Command line: ``python -m inputs rates ...`` and ``python -m inputs spikes ...`` (see ``--help``)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd

from common.errors import UserError, run_cli
from common.paths import REPO

from .make import make_background_spikes, make_lgn_spikes
from .rates import (
    DEFAULT_SESSION_TYPE,
    GENOTYPES,
    QC_CHOICES,
    SEED_FLASH_RATES_HZ,
    describe_source,
    rate_tables,
    write_tables,
)
from .spikes import RATES_FILE
from .units import STIMULI, load_units_cache, load_units_folder


def _rates(args: argparse.Namespace) -> None:
    if args.units_dir is not None:
        units, source = load_units_folder(args.units_dir), f"folder {args.units_dir}"
    else:
        units, source = load_units_cache(args.cache_dir, args.session_type), f"AllenSDK cache {args.cache_dir}"
    qcs = (args.qc,) if args.qc else QC_CHOICES
    rates, quantiles = rate_tables(units, qcs, args.session_type, args.all_areas)
    command = "python -m inputs " + " ".join(shlex.quote(a) for a in args.argv)
    provenance = describe_source(units, source, command, args.session_type, args.all_areas)
    for path in write_tables(rates, quantiles, provenance, args.out):
        print(f"wrote {path}")
    flash = rates[rates.stimulus == "fl"].set_index(["genotype", "qc"])
    print(f"\nflash (fl) typical rates, {'all areas' if args.all_areas else 'LGd only'}, {args.session_type}:")
    print("genotype  qc     sessions  units  typical (Hz)  seed, all areas (Hz)")
    for (genotype, qc), row in flash.iterrows():
        seed = SEED_FLASH_RATES_HZ.get(genotype)
        print(f"{genotype:8s}  {qc:5s}  {row.n_sessions:8d}  {row.n_units:5d}  {row.session_mean_hz:12.2f}  "
              f"{'' if seed is None else f'{seed:.2f}'}")


def _spikes(args: argparse.Namespace) -> None:
    print(make_lgn_spikes(args.config, args.network, args.out, genotype=args.genotype, stimulus=args.stimulus,
                          qc=args.qc, tstop_ms=args.tstop, dt_ms=args.dt, seed=args.seed,
                          heterogeneous=args.heterogeneous, rates_file=args.rates))


def _background(args: argparse.Namespace) -> None:
    print(make_background_spikes(args.config, args.network, args.out, tstop_ms=args.tstop, seed=args.seed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inputs", description="LGN rates and spike trains.")
    sub = parser.add_subparsers(dest="command", required=True)

    rates = sub.add_parser("rates", help="typical LGN rates from unit tables or an AllenSDK cache")
    source = rates.add_mutually_exclusive_group(required=True)
    source.add_argument("--units-dir", type=Path, help="folder of CSV unit tables (AllenSDK unit-table schema)")
    source.add_argument("--cache-dir", type=Path, help="local AllenSDK EcephysProjectCache directory (offline)")
    rates.add_argument("--qc", choices=QC_CHOICES, help="one quality filter (default: both)")
    rates.add_argument("--session-type", default=DEFAULT_SESSION_TYPE)
    rates.add_argument("--all-areas", action="store_true",
                       help="average units of every area, as the seed did (default: LGd only)")
    rates.add_argument("--out", type=Path, default=RATES_FILE, help=f"rate table (default {RATES_FILE})")
    rates.set_defaults(run=_rates)

    spikes = sub.add_parser("spikes", help="Poisson LGN spike trains (SONATA) from the committed rate table")
    spikes.add_argument("--genotype", choices=GENOTYPES, help="default: config.json lgn_input.genotype, else wt")
    spikes.add_argument("--stimulus", choices=STIMULI, help="default: config.json lgn_input.stimulus, else fl")
    spikes.add_argument("--qc", choices=QC_CHOICES, help="default: config.json lgn_input.qc, else snr4")
    spikes.add_argument("--tstop", type=float, help="ms (default: config.json run.tstop, else 3000)")
    spikes.add_argument("--dt", type=float, help="spike times are rounded to this grid (ms; default: config.json "
                        "run.dt, else 0.01; not rounded when the config's spike_timing is precise), so NEST takes "
                        "them without precise-time mode")
    spikes.add_argument("--seed", type=int, help="default: config.json lgn_input.seed, else 0")
    spikes.add_argument("--heterogeneous", action="store_true",
                        help="draw each cell's rate from the measured LGd rate distribution")
    spikes.add_argument("--config", type=Path, default=REPO / "config.json")
    spikes.add_argument("--network", type=Path, default=REPO / "network",
                        help="built network whose LGN node ids to use (default network/; else 0..499)")
    spikes.add_argument("--rates", type=Path, default=RATES_FILE, help="rate table to read")
    spikes.add_argument("--out", type=Path, default=REPO / "inputs" / "lgn_spikes.h5")
    spikes.set_defaults(run=_spikes)

    background = sub.add_parser("background", help="Poisson spike trains of the background sources (SONATA)")
    background.add_argument("--config", type=Path, default=REPO / "config.json",
                            help="supplies run.tstop, background_input.seed and the spike timing")
    background.add_argument("--network", type=Path, default=REPO / "network",
                            help="built network with a background population (default network/)")
    background.add_argument("--tstop", type=float, help="ms (default: the config's run.tstop)")
    background.add_argument("--seed", type=int, help="default: the config's background_input.seed, else 0")
    background.add_argument("--out", type=Path, default=REPO / "inputs" / "bkg_spikes.h5")
    background.set_defaults(run=_background)

    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        args.run(args)
    except (UserError, FileNotFoundError, pd.errors.ParserError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
