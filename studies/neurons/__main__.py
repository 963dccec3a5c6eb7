"""Command line: ``python -m studies.neurons {trace,fi,patterns,crosscheck,gallery} ...`` (see ``--help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import run_cli, run_command
from common.files import atomic_path, check_output_dir, check_output_file, write_bytes_atomic, write_json

from . import crosscheck, figures
from .models import STUDY_MODELS, NeuronError, load_model, v1_models
from .patterns import STEP_START_MS, run_patterns
from .simulate import FI_MEASURE_MS, RESOLUTION_MS, SIMULATORS, check_simulator, fi_curve, rheobase, trace
from .stimuli import INPUTS, Stimulus, parse_currents
from .theory import eif_rheobase, lif_rate, lif_rheobase

GALLERY_T_REF_MS = (0.0, 2.0)
GALLERY_DURATION_MS = 500.0


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")


def _stimulus(args: argparse.Namespace) -> Stimulus:
    return Stimulus(args.input, amp_pa=args.amp, start_ms=args.start, stop_ms=args.stop, offset_pa=args.offset,
                    freq_hz=args.freq, mean_pa=args.mean, std_pa=args.std)


def _trace(args: argparse.Namespace) -> int:
    model = load_model(args.model, args.params, args.t_ref)
    stim = _stimulus(args)
    tr = trace(model, stim, args.duration, seed=args.seed, simulator=args.simulator)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(tr.table, out / "trace.csv")
    _write_csv(pd.DataFrame({"time_ms": tr.spikes_ms}), out / "spikes.csv")
    figures.plot_trace(model, stim.describe(), tr, out / "trace.png")
    print(f"{model.name} on {args.simulator} (step {tr.resolution_ms:g} ms): {len(tr.spikes_ms)} spikes in "
          f"{args.duration:g} ms; wrote {out}/trace.csv, spikes.csv, trace.png")
    return 0


def measured_rheobase(model, currents: np.ndarray, rates: np.ndarray, simulator: str = "nest") -> float:
    """Rheobase (pA) refined between the last silent and the first firing current of an f-I grid (NaN if none)."""
    firing = np.flatnonzero(rates > 0)
    if len(firing) == 0:
        return np.nan
    k = firing[0]
    return rheobase(model, currents[k - 1] if k > 0 else 0.0, currents[k], rounds=3, simulator=simulator)


def theory_rheobase(model) -> float:
    """Closed-form rheobase (pA): LIF models, and aeif models with a = b = 0 (exponential LIF); NaN otherwise."""
    if model.nest_model in ("iaf_psc_delta", "iaf_psc_exp", "iaf_cond_exp"):
        return lif_rheobase(model)
    if model.adaptive and model.params.get("a", 0) == 0 and model.params.get("b", 0) == 0:
        return eif_rheobase(model)
    return np.nan


def fi_table(names: list[str], currents: np.ndarray, params: Path | None, t_ref: float | None,
             simulator: str = "nest") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """f-I curves, closed forms (LIF models) and rheobases of the named models."""
    curves, theory, rheo = [], [], {}
    for name in names:
        model = load_model(name, params, t_ref)
        curve = fi_curve(model, currents, simulator=simulator).assign(model=name)
        curves.append(curve)
        if model.nest_model in ("iaf_psc_delta", "iaf_cond_exp"):
            fine = np.linspace(currents.min(), currents.max(), 400)
            theory.append(pd.DataFrame({"model": name, "current_pa": fine, "rate_hz": lif_rate(model, fine)}))
        rheo[name] = {"measured_pa": measured_rheobase(model, currents, curve.rate_hz.to_numpy(), simulator),
                      "closed_form_pa": theory_rheobase(model), "nest_model": model.nest_model,
                      "t_ref_ms": model.params.get("t_ref", 0.0), "simulator": simulator,
                      "resolution_ms": RESOLUTION_MS[simulator][1]}
    table = pd.concat(curves, ignore_index=True)[["model", "current_pa", "rate_hz"]]
    return table, pd.concat(theory, ignore_index=True) if theory else None, rheo


def _fi(args: argparse.Namespace) -> int:
    currents = parse_currents(args.currents)
    table, theory, rheo = fi_table(args.model, currents, args.params, args.t_ref, args.simulator)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(table, out)
    side = out.with_name(f"{out.stem}.rheobase.json")
    write_json(side, rheo)
    for name, r in rheo.items():
        print(f"{name}: rheobase {r['measured_pa']:.2f} pA measured, {r['closed_form_pa']:.2f} pA closed form")
    written = [str(out), str(side)]
    if args.plot:
        written.append(str(figures.plot_fi(table, out.with_suffix(".png"), theory)))
    print("wrote " + ", ".join(written))
    return 0


def _patterns(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for row, model, tr, measured in run_patterns(simulator=args.simulator):
        name = str(row.pattern).replace(" ", "_")
        figures.plot_pattern(model, float(row.I_e), tr, str(row.pattern), measured, out / f"{name}.png")
        rows.append({"expected": row.pattern, **measured})
        print(f"{row.pattern:25s} -> {measured['pattern']}")
    table = pd.DataFrame(rows).rename(columns={"pattern": "measured"})
    _write_csv(table, out / "classification.csv")
    agree = int((table.expected == table.measured).sum())
    print(f"{agree} of {len(table)} classified as the paper says on {args.simulator}; wrote {out}/classification.csv "
          f"and one figure each (step from {STEP_START_MS:g} ms)")
    return 0


def _crosscheck(args: argparse.Namespace) -> int:
    sections = tuple(args.sections)
    unknown = sorted(set(sections) - set(crosscheck.SECTIONS))
    if unknown:
        raise NeuronError(f"--sections: unknown {unknown}; valid sections are {list(crosscheck.SECTIONS)}.")
    if not args.measure_ms > 0:
        raise NeuronError(f"--measure-ms must be > 0 ms, got {args.measure_ms:g}.")
    tables = crosscheck.run(sections, args.measure_ms)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        _write_csv(table, out / f"{name}.csv")
    text = crosscheck.render(tables, args.measure_ms)
    write_bytes_atomic(out / "crosscheck.md", text.encode())
    print(text)
    print(f"wrote {out}/crosscheck.md and {', '.join(f'{n}.csv' for n in tables)}")
    return 0


def gallery_stimuli(rheobase_pa: float) -> dict[str, Stimulus]:
    """The gallery's four inputs, scaled to a model's rheobase."""
    rh = rheobase_pa
    return {"constant": Stimulus("constant", amp_pa=1.5 * rh, start_ms=50.0),
            "step": Stimulus("step", amp_pa=1.5 * rh, start_ms=100.0, stop_ms=400.0),
            "sine": Stimulus("sine", amp_pa=0.6 * rh, offset_pa=1.0 * rh, freq_hz=10.0),
            "noise": Stimulus("noise", mean_pa=1.0 * rh, std_pa=0.5 * rh, start_ms=50.0)}


def _gallery(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    panels, rows = [], []
    for name in STUDY_MODELS:
        rh = rheobase(load_model(name), 0.0, 3000.0, rounds=2, per_round=31, measure_ms=1000.0)
        for t_ref in GALLERY_T_REF_MS:
            model = load_model(name, t_ref_ms=t_ref)
            row = f"{name}, t_ref {t_ref:g} ms"
            rows.append(row)
            for kind, stim in gallery_stimuli(rh).items():
                panels.append((row, kind, trace(model, stim, GALLERY_DURATION_MS, seed=args.seed)))
        print(f"{name}: rheobase {rh:.0f} pA; inputs scaled to it")
    figures.plot_gallery(panels, rows, list(INPUTS), out / "gallery.png")
    table, theory, rheo = fi_table(list(v1_models()), parse_currents("0:800:10"), None, None)
    _write_csv(table, out / "v1_fi.csv")
    write_json(out / "v1_fi.rheobase.json", rheo)
    figures.plot_fi(table, out / "v1_fi.png", theory)
    print(f"wrote {out}/gallery.png, v1_fi.csv, v1_fi.rheobase.json, v1_fi.png")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.neurons",
                                     description="Single-neuron dynamics on NEST or PymoNNtorch.")
    sub = parser.add_subparsers(dest="command", required=True)
    models = f"one of {', '.join(STUDY_MODELS)} or a V1 cell model (LIF_exc, PV, SST, VIP)"
    simulators = (f"one of {', '.join(SIMULATORS)} (default nest; pymonntorch: the textbook equations of "
                  "studies/neurons/pymonntorch_models.py, forward Euler)")

    tr = sub.add_parser("trace", help="V_m, input current and spikes of one model under one input")
    tr.add_argument("--model", required=True, help=models)
    tr.add_argument("--params", type=Path, help="JSON of NEST parameter names overriding the model's")
    tr.add_argument("--t-ref", type=float, help="refractory period, ms (0: none)")
    tr.add_argument("--input", required=True, help=f"one of {', '.join(INPUTS)}")
    tr.add_argument("--amp", type=float, default=500.0, help="constant/step amplitude or sine amplitude, pA")
    tr.add_argument("--start", type=float, default=0.0, help="input onset, ms")
    tr.add_argument("--stop", type=float, help="input end, ms (default: the end of the run)")
    tr.add_argument("--offset", type=float, default=0.0, help="sine offset, pA")
    tr.add_argument("--freq", type=float, default=10.0, help="sine frequency, Hz")
    tr.add_argument("--mean", type=float, default=0.0, help="noise mean, pA")
    tr.add_argument("--std", type=float, default=0.0, help="noise standard deviation, pA")
    tr.add_argument("--duration", type=float, default=500.0, help="ms")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", type=Path, required=True)
    tr.add_argument("--simulator", default="nest", help=simulators)
    tr.set_defaults(run=_trace)

    fi = sub.add_parser("fi", help="steady-state f-I curve(s) and rheobase")
    fi.add_argument("--model", required=True, nargs="+", help=models + " (several: one curve each)")
    fi.add_argument("--params", type=Path)
    fi.add_argument("--t-ref", type=float)
    fi.add_argument("--currents", required=True, help="START:STOP:STEP in pA, e.g. 0:800:20")
    fi.add_argument("--out", type=Path, required=True, help="CSV file (rheobases in <stem>.rheobase.json)")
    fi.add_argument("--plot", action="store_true", help="also draw <stem>.png")
    fi.add_argument("--simulator", default="nest", help=simulators)
    fi.set_defaults(run=_fi)

    pat = sub.add_parser("patterns", help="the eight AdEx firing patterns of Naud et al. 2008")
    pat.add_argument("--out", type=Path, required=True)
    pat.add_argument("--simulator", default="nest", help=simulators)
    pat.set_defaults(run=_patterns)

    cc = sub.add_parser("crosscheck", help="NEST against PymoNNtorch and the closed forms (f-I, rheobase, step "
                        "traces, Naud et al. patterns)")
    cc.add_argument("--out", type=Path, required=True)
    cc.add_argument("--sections", nargs="+", default=list(crosscheck.SECTIONS),
                    help=f"any of {', '.join(crosscheck.SECTIONS)} (default: all)")
    cc.add_argument("--measure-ms", type=float, default=FI_MEASURE_MS,
                    help="f-I counting window after the 500 ms warm-up, ms")
    cc.set_defaults(run=_crosscheck)

    gal = sub.add_parser("gallery", help="every model x refractoriness x input, and the V1 cell classes' f-I curves")
    gal.add_argument("--out", type=Path, required=True)
    gal.add_argument("--seed", type=int, default=0)
    gal.set_defaults(run=_gallery)

    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    def check() -> None:
        check_simulator(getattr(args, "simulator", "nest"))
        (check_output_file if args.run is _fi else check_output_dir)(args.out)

    return run_command(args, check)


if __name__ == "__main__":
    sys.exit(run_cli(main))
