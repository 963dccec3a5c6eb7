"""Command line: ``python -m analysis {report,reference,tune,criticality} ...`` (see ``--help``)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from common.errors import run_cli, run_command
from common.files import atomic_path, check_output_dir, check_output_file, write_json
from inputs.stimuli import CONDITIONS as STIMULUS_CONDITIONS
from inputs.stimuli import STIMULI_FILE

from .criticality import analyse_spikes
from .heldout import distance_summary, heldout_table
from .reference import CONDITIONS, SUMMARY_FILE, write_reference
from .report import write_report
from .spontaneous import format_spontaneous, write_spontaneous
from .stimulus import run_condition, spikes_file_metrics


def _report(args: argparse.Namespace) -> int:
    report = write_report(args.output_dir, config_path=args.config, condition=args.condition,
                          perturbations=args.perturbations, seed=args.seed, stimuli=args.stimulus,
                          command="python -m analysis " + " ".join(shlex.quote(a) for a in args.argv))
    print(f"report: {report.resolve()}")
    return 0


def _reference(args: argparse.Namespace) -> int:
    paths = write_reference(args.data_dir, args.out)
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _spontaneous(args: argparse.Namespace) -> int:

    folder = Path(args.run_dir)
    info = json.loads((folder / "run_info.json").read_text()) if (folder / "run_info.json").is_file() else {}
    network = args.network or (Path(info["network"]) if "network" in info else None)
    if network is None:
        print(f"error: {folder} has no run_info.json naming its network; pass --network DIR", file=sys.stderr)
        return 2
    stop = args.stop if args.stop is not None else 1000.0 * float(info.get("duration_s", 0.0))
    if not stop > args.start:
        print(f"error: the window ({args.start:g}, {stop:g}] ms is empty; pass --stop MS", file=sys.stderr)
        return 2
    result = write_spontaneous(folder, network, args.start, stop, seed=args.seed)
    import pandas as pd

    print(format_spontaneous(result, pd.read_csv(folder / "variability.csv")))
    print(f"wrote {folder / 'spontaneous.json'} and {folder / 'variability.csv'}")
    return 0


def _heldout(args: argparse.Namespace) -> int:

    missing = [d for d in [*args.model, *(args.seed_model or [])] if not (Path(d) / "comparison.csv").is_file()]
    if missing:
        print(f"error: no comparison.csv in {', '.join(map(str, missing))} (make them with python -m analysis "
              "stimulus flash|gratings --out DIR)", file=sys.stderr)
        return 2
    table = heldout_table(args.model, args.seed_model or [], args.billeh)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    shown = table[table.data_median.notna()]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(distance_summary(table).to_string(index=False))
    print(f"wrote {out}")
    return 0


def _criticality(args: argparse.Namespace) -> int:

    out = check_output_file(args.out)
    result = analyse_spikes(args.spikes, population=args.population, bin_ms=args.bin_ms)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, result)
    shown = {k: result[k] for k in ("n_spikes", "bin_ms", "n_avalanches", "branching_ratio_mr",
                                    "branching_ratio_naive", "size_alpha", "duration_alpha", "regime")}
    print(json.dumps(shown))
    print(f"wrote {out}")
    return 0


def _stimulus(args: argparse.Namespace) -> int:

    check_output_dir(args.out)
    run_condition(args.condition, args.out, config_path=args.config, trials=args.trials, seed=args.seed,
                  dt_ms=args.dt, n_thread=args.n_thread, protocol_path=args.protocol)
    return 0


def _metrics(args: argparse.Namespace) -> int:

    check_output_file(args.out)
    table = spikes_file_metrics(args.spikes, args.presentations)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    print(f"wrote {args.out}: {len(table)} cells, {table.shape[1] - 4} metrics")
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    report_p = sub.add_parser("report", help="the model-versus-data report of a run (OUTPUT_DIR/report.html)")
    report_p.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR", help="the run's output folder")
    report_p.add_argument("--config", type=Path, help="the run's configuration (default: bmtk's copy in OUTPUT_DIR)")
    report_p.add_argument("--condition", choices=list(CONDITIONS),
                          help="data condition to highlight (default: that of the run's LGN input)")
    report_p.add_argument("--perturbations", type=Path, nargs="+", metavar="DIR",
                          help="perturbation-suite folders to include (default: those inside OUTPUT_DIR)")
    report_p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    report_p.add_argument("--stimulus", type=Path, nargs="+", metavar="DIR",
                          help="stimulus-condition folders to include (default: those in OUTPUT_DIR/stimulus/)")
    report_p.set_defaults(run=_report)


def _add_reference(sub: argparse._SubParsersAction) -> None:
    ref_p = sub.add_parser("reference", help="derive the experimental reference from the shared data and write "
                           f"the committed tables ({SUMMARY_FILE.name} and beside it)")
    ref_p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ref_p.add_argument("--out", type=Path, default=SUMMARY_FILE.parent, help="folder (default: analysis/)")
    ref_p.set_defaults(run=_reference)


def _add_spontaneous(sub: argparse._SubParsersAction) -> None:
    spont_p = sub.add_parser("spontaneous", help="acceptance test, ISI CV, correlations and population statistics "
                             "of a run's spontaneous activity (a gray stimulus run by default)")
    spont_p.add_argument("run_dir", type=Path, metavar="DIR", help="a run folder with spikes.h5")
    spont_p.add_argument("--network", type=Path, help="its network folder (default: run_info.json's)")
    spont_p.add_argument("--start", type=float, default=0.0, help="window start, ms (default 0)")
    spont_p.add_argument("--stop", type=float, help="window end, ms (default: run_info.json's duration)")
    spont_p.add_argument("--seed", type=int, default=0)
    spont_p.set_defaults(run=_spontaneous)


def _add_heldout(sub: argparse._SubParsersAction) -> None:
    held_p = sub.add_parser("heldout", help="held-out flash and grating metrics: the model, the seed's model and the "
                            "Billeh model against the data, per class (inside the IQR, KS distance)")
    held_p.add_argument("--model", type=Path, nargs="+", required=True, metavar="DIR",
                        help="the model's stimulus-run folders (comparison.csv)")
    held_p.add_argument("--seed-model", type=Path, nargs="+", metavar="DIR", help="the seed model's folders")
    held_p.add_argument("--billeh", type=Path, default=Path("../shared/data/billeh2020/"
                                                           "billeh_model_simulated_v1_rates.csv"),
                        help="the Billeh model's per-neuron table (skipped when absent)")
    held_p.add_argument("--out", type=Path, default=Path("output/heldout.csv"))
    held_p.set_defaults(run=_heldout)


def _add_criticality(sub: argparse._SubParsersAction) -> None:
    crit_p = sub.add_parser("criticality", help="avalanches, power-law fits and branching ratios of a spikes file")
    crit_p.add_argument("spikes", type=Path, metavar="SPIKES.h5", help="a SONATA spikes file")
    crit_p.add_argument("--population", help="the population to analyse (default: all in the file, pooled)")
    crit_p.add_argument("--bin-ms", type=float,
                        help="bin width (ms) of the avalanches and of the branching ratio (default: the mean "
                             "inter-event interval of the pooled spikes)")
    crit_p.add_argument("--out", type=Path, required=True, metavar="FILE.json")
    crit_p.set_defaults(run=_criticality)


def _add_stimulus(sub: argparse._SubParsersAction) -> None:
    stim_p = sub.add_parser("stimulus", help="run a visual-stimulus condition end to end (FilterNet LGN, NEST, "
                            "AllenSDK metrics, model versus data)")
    stim_p.add_argument("condition", metavar="CONDITION", help=f"one of {', '.join(STIMULUS_CONDITIONS)}")
    stim_p.add_argument("--config", type=Path, default=Path("config.json"),
                        help="the configuration whose network is run (default config.json)")
    stim_p.add_argument("--trials", type=int, help="presentations of each flash colour or grating condition, or "
                        "gray blocks (default: inputs/stimuli.json)")
    stim_p.add_argument("--seed", type=int, default=0, help="seed of the presentation order and LGN spikes")
    stim_p.add_argument("--dt", type=float, default=0.1, help="NEST resolution, ms (default 0.1)")
    stim_p.add_argument("--n-thread", help="NEST threads (default: the configuration's)")
    stim_p.add_argument("--protocol", type=Path, default=STIMULI_FILE,
                        help="stimulus protocol (default inputs/stimuli.json: durations, contrasts, frequencies)")
    stim_p.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="result folder (replaced only when the run completes)")
    stim_p.set_defaults(run=_stimulus)


def _add_metrics(sub: argparse._SubParsersAction) -> None:
    met_p = sub.add_parser("metrics", help="AllenSDK's flash / grating metrics of every cell of a SONATA spikes file")
    met_p.add_argument("spikes", type=Path, metavar="SPIKES.h5")
    met_p.add_argument("--presentations", type=Path, required=True, metavar="FILE.csv",
                       help="presentation table (start_time, stop_time in s, stimulus_name, color / orientation, ...)")
    met_p.add_argument("--out", type=Path, required=True, metavar="FILE.csv")
    met_p.set_defaults(run=_metrics)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m analysis``: one subcommand per analysis."""
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Analysis of PointNet runs.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_report(sub)
    _add_reference(sub)
    _add_spontaneous(sub)
    _add_heldout(sub)
    _add_criticality(sub)
    _add_stimulus(sub)
    _add_metrics(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.argv = argv
    return run_command(args)


if __name__ == "__main__":
    sys.exit(run_cli(main))
