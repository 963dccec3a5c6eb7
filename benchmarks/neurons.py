"""The single-neuron study on NEST and on PymoNNtorch, timed side by side.

    python -m benchmarks.neurons [--repeats 3] [--quick] [--out benchmarks]

``one neuron``
    One LIF (``lif``) and one AdEx (``adex``) neuron, a 700 pA step from 100 to 900 ms, 1000 ms at dt 0.01 ms,
    membrane potential recorded at every step: :func:`studies.neurons.simulate.trace` on each simulator.
``10,000 neurons``
    An f-I curve in one run: 10,000 independent neurons, constant currents from 0 to 1500 pA, 100 ms warm-up and
    100 ms of counting at dt 0.01 ms (:func:`studies.neurons.simulate.constant_current_spikes` on each simulator).
    The two simulators' rates (:func:`studies.neurons.simulate.rates_hz`) are compared neuron by neuron: the
    fraction of the neurons firing on NEST whose PymoNNtorch rate is within 1%.

Each repeat runs NEST and PymoNNtorch back to back (the order alternating between repeats); the table gives the
median wall time of each (s, the network's construction included) and the median of the per-repeat ratios
PymoNNtorch / NEST. NEST runs on 1 thread (the study's kernel), torch on ``--torch-threads`` (default 1). On a
machine with a CUDA GPU (``torch.cuda.is_available()``) PymoNNtorch runs on it too, its device named; otherwise the
results say that no GPU was present. Writes ``neurons_results.json`` and ``neurons_results.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from common.files import write_bytes_atomic, write_json
from common.paths import REPO
from studies.neurons.models import load_model
from studies.neurons.simulate import constant_current_spikes, rates_hz, trace
from studies.neurons.stimuli import Stimulus

from .report import machine_info, machine_label

DT_MS = 0.01
MODELS = ("lif", "adex")
ONE_NEURON_MS = 1000.0
POPULATION = 10_000
WARMUP_MS, MEASURE_MS = 100.0, 100.0
MAX_CURRENT_PA = 1500.0


def _timed(run: Callable) -> tuple[float, object]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def one_neuron(name: str, duration_ms: float, device: str) -> dict[str, Callable]:
    """The two runs of the one-neuron workload (each returns the spike times, ms)."""
    model = load_model(name)
    stim = Stimulus("step", amp_pa=700.0, start_ms=100.0, stop_ms=duration_ms - 100.0)
    return {sim: (lambda sim=sim: trace(model, stim, duration_ms, resolution_ms=DT_MS, simulator=sim,
                                        device=device).spikes_ms) for sim in ("nest", "pymonntorch")}


def population(name: str, n: int, device: str) -> dict[str, Callable]:
    """The two runs of the population workload (each returns one spike train per neuron, ms)."""
    model = load_model(name)
    currents = np.linspace(0.0, MAX_CURRENT_PA, n)
    return {sim: (lambda sim=sim: constant_current_spikes(model, currents, WARMUP_MS, MEASURE_MS, DT_MS, sim,
                                                          device)) for sim in ("nest", "pymonntorch")}


def side_by_side(runs: dict[str, Callable], repeats: int) -> dict:
    """Median wall times (s) and the median per-repeat ratio PymoNNtorch / NEST; the last results of each."""
    walls: dict[str, list[float]] = {"nest": [], "pymonntorch": []}
    results: dict[str, object] = {}
    for k in range(repeats):
        for sim in (("nest", "pymonntorch") if k % 2 == 0 else ("pymonntorch", "nest")):
            wall, results[sim] = _timed(runs[sim])
            walls[sim].append(wall)
    ratios = np.array(walls["pymonntorch"]) / np.array(walls["nest"])
    return {"nest_s": float(np.median(walls["nest"])), "pymonntorch_s": float(np.median(walls["pymonntorch"])),
            "ratio": float(np.median(ratios)), "walls_s": walls, "results": results}


def measure(repeats: int, n: int, duration_ms: float, device: str) -> list[dict]:
    """Every workload on ``device``: one row per (workload, model)."""
    rows = []
    for name in MODELS:
        timing = side_by_side(one_neuron(name, duration_ms, device), repeats)
        spikes = timing.pop("results")
        rows.append({"workload": "one neuron", "model": name, "device": device, "neurons": 1,
                     "simulated_ms": duration_ms, "steps": int(round(duration_ms / DT_MS)),
                     "spikes_nest": len(spikes["nest"]), "spikes_pymonntorch": len(spikes["pymonntorch"]), **timing})
        print(rows[-1], flush=True)
    for name in MODELS:
        timing = side_by_side(population(name, n, device), repeats)
        trains = timing.pop("results")
        nest_hz, torch_hz = rates_hz(trains["nest"], MEASURE_MS), rates_hz(trains["pymonntorch"], MEASURE_MS)
        firing = nest_hz > 0
        within = np.abs(torch_hz[firing] - nest_hz[firing]) <= 0.01 * nest_hz[firing]
        rows.append({"workload": f"{n:,} neurons", "model": name, "device": device, "neurons": n,
                     "simulated_ms": WARMUP_MS + MEASURE_MS, "steps": int(round((WARMUP_MS + MEASURE_MS) / DT_MS)),
                     "firing_nest": int(firing.sum()), "within_1pct": float(within.mean()) if firing.any() else None,
                     **timing})
        print({k: v for k, v in rows[-1].items() if k != "walls_s"}, flush=True)
    return rows


def render(results: dict) -> str:
    """The results as Markdown."""
    m = results["machine"]
    lines = ["# Single-neuron study: NEST against PymoNNtorch", "",
             f"Machine: {machine_label(m)}; commit {str(m.get('git_commit'))[:10]}; {m['date']}; load average at "
             f"start {m.get('load_average')}. NEST {m.get('nest')} on 1 thread; torch {results['torch']} on "
             f"{results['torch_threads']} thread(s), float64; PymoNNtorch {results['pymonntorch']}. dt {DT_MS:g} ms "
             f"on both; {results['repeats']} repeats, medians; ratio = median of the per-repeat PymoNNtorch / NEST.",
             "", f"GPU: {results['gpu']}.", "",
             "| workload | model | device | neurons | simulated ms | NEST s | PymoNNtorch s | ratio | agreement |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for r in results["rows"]:
        if r["neurons"] == 1:
            agree = f"spikes {r['spikes_nest']} / {r['spikes_pymonntorch']}"
        else:
            share = r.get("within_1pct")
            agree = (f"{share:.1%} of {r['firing_nest']:,} firing neurons within 1%" if share is not None
                     else "no neuron fired")
        lines.append(f"| {r['workload']} | {r['model']} | {r['device']} | {r['neurons']:,} | {r['simulated_ms']:g} | "
                     f"{r['nest_s']:.2f} | {r['pymonntorch_s']:.2f} | {r['ratio']:.2f} | {agree} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.neurons", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="100 neurons, a 300 ms trace, 1 repeat (a check of the code, not a measurement)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.torch_threads)
    repeats, n, duration = (1, 100, 300.0) if args.quick else (args.repeats, POPULATION, ONE_NEURON_MS)
    import pymonntorch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (torch.cuda.is_available() is False)"
    results = {"machine": machine_info(), "torch": torch.__version__, "pymonntorch": pymonntorch.__version__,
               "torch_threads": args.torch_threads, "repeats": repeats, "gpu": gpu, "quick": args.quick,
               "rows": measure(repeats, n, duration, "cpu")}
    if torch.cuda.is_available():
        results["rows"] += measure(repeats, n, duration, "cuda")
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "neurons_results.json", results)
    write_bytes_atomic(args.out / "neurons_results.md", render(results).encode())
    print(f"wrote {args.out / 'neurons_results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
