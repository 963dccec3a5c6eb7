"""The benchmark table: ``python -m benchmarks [--quick] [--out DIR] [--sections ...]`` (``make bench``).

Runs every measurement of issue 10 in a fresh process, one after the other, and writes ``results.json`` (numbers,
machine, NEST version, date, git commit), ``results.md`` (tables, targets met / not met) and the scaling figures
under ``figures/`` into ``--out`` (default ``benchmarks/``), each file under a temporary name first and then
renamed. Sections:

``build``
    Fast path vs the seed's per-pair rule at ``--compare-cells`` (``benchmarks/build.py``'s ``measure``).
``scaling``
    The V1 model at ``--sizes`` cells (constant density, growing column): build time and peak memory, SONATA
    load and simulation time (PointNet, 1 s at dt 0.1 ms, 2 threads), with power laws fitted against edges.
``simulation``
    The 10,000-cell model for 1 s and 3 s at dt 0.1 and 0.01 ms with 1 and 2 threads, PointNet and direct PyNEST.
``perturbations``
    The perturbation suite with 1 and 2 Dask workers (``benchmarks/perturbations.py``).
``large``
    The 100,000-cell targets: build, then 1 s at dt 0.1 ms on 2 threads (``--large-cells 0`` skips it).

Networks and spikes are built into a temporary work folder (``--workdir``), never into ``network/``. A failed
measurement is recorded (``errors`` in the results) and the others go on; the exit code is then 1.
``--quick`` runs tiny sizes and short runs: a check of this program, not a benchmark.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import psutil
from tqdm import tqdm

from common.errors import run_cli
from common.paths import REPO

from .guard import MB, MemoryGuard
from .perturbations import measure_suite
from .report import (
    build_step,
    evaluate_targets,
    machine_info,
    plot_scaling,
    projections,
    render_markdown,
    series_fits,
    sim_step,
)
from .scaling import lgn_size, make_spikes, measure_build
from .simulate import PATHS, measure_simulation, write_config

SECTIONS = ("build", "scaling", "simulation", "perturbations", "large")
RESULTS_JSON, RESULTS_MD, FIGURES = "results.json", "results.md", "figures"


@dataclass
class Plan:
    """What to measure (times in ms, sizes in V1 cells).

    Attributes
    ----------
    quick : bool
        Tiny settings for checking the program (results marked as such).
    seed : int
        Master seed of every network.
    compare_cells : int
        Cells of the fast vs per-pair build comparison.
    sizes : tuple of int
        The scaling series.
    series_tstop_ms, series_dt_ms : float
        Simulated time and time step of the series' simulations (ms).
    series_threads : int
        NEST threads of the series' simulations.
    grid_cells : int
        The network of the simulation grid and of the perturbation suite.
    grid_tstops_ms, grid_dts_ms : tuple of float
        Simulated times and time steps of the grid (ms).
    grid_threads : tuple of int
        NEST threads of the grid.
    grid_paths : tuple of str
        ``'PointNet'`` and/or ``'direct PyNEST'``.
    suite_workers : tuple of int
        Dask workers of the perturbation suite, first the serial setting.
    suite_only : tuple of str, optional
        Perturbations besides the baseline (default: all eight).
    suite_tstop_ms, suite_dt_ms : float, optional
        Run length and time step of the suite (default: ``config_seed.json``'s; the benchmarks measure the seed
        model).
    large_cells : int
        Cells of the large build and simulation (0: skipped).
    large_tstop_ms, large_dt_ms : float
        Its simulated time and time step (ms).
    large_threads : int
        Its NEST threads.
    """

    quick: bool = False
    seed: int = 0
    compare_cells: int = 2000
    sizes: tuple[int, ...] = (2500, 5000, 10000, 20000, 40000)
    series_tstop_ms: float = 1000.0
    series_dt_ms: float = 0.1
    series_threads: int = 2
    grid_cells: int = 10000
    grid_tstops_ms: tuple[float, ...] = (1000.0, 3000.0)
    grid_dts_ms: tuple[float, ...] = (0.1, 0.01)
    grid_threads: tuple[int, ...] = (1, 2)
    grid_paths: tuple[str, ...] = tuple(PATHS)
    suite_workers: tuple[int, ...] = (1, 2)
    suite_only: tuple[str, ...] | None = None
    suite_tstop_ms: float | None = None
    suite_dt_ms: float | None = None
    large_cells: int = 100_000
    large_tstop_ms: float = 1000.0
    large_dt_ms: float = 0.1
    large_threads: int = 2
    sections: tuple[str, ...] = field(default=SECTIONS)


QUICK = Plan(quick=True, compare_cells=200, sizes=(200, 400, 800), series_tstop_ms=100.0, series_threads=1,
             grid_cells=400, grid_tstops_ms=(100.0,), grid_dts_ms=(0.1,), grid_threads=(1,),
             suite_only=("PV_inhibit",), suite_tstop_ms=100.0, suite_dt_ms=0.1, large_cells=0)


def _base_run() -> tuple[float, float]:
    """``config_seed.json``'s run length and time step (ms)."""
    run = json.loads((REPO / "config_seed.json").read_text())["run"]
    return float(run["tstop"]), float(run["dt"])


def _measure_rule(n_cells: int, seed: int, rule: str) -> dict:
    """``benchmarks/build.py``'s ``measure(n_cells, seed, rule)``: one build in a fresh process, its folder deleted.

    Returns its dict: ``wall_s`` (s), ``peak_mb`` (MB), ``V1_V1_edges`` and ``LGN_V1_edges``.
    """
    from . import build  # imported when measured, so that a problem there is one failed measurement

    return build.measure(n_cells, seed, rule)


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


class Bench:
    """Runs the plan's measurements in order and collects the results.

    Parameters
    ----------
    plan : Plan
        What to measure.
    workdir : Path
        Empty temporary folder for networks, spikes, configurations and run outputs.
    suite_out : Path
        Output folder of the perturbation suite (one sub-folder per worker count).
    checkpoint : Path, optional
        File rewritten (atomically) with the results after every measurement, so that an interrupted run
        keeps its numbers.
    guard : MemoryGuard, optional
        The running memory guard, whose kills are named in the errors of the measurements they stopped.
    """

    def __init__(self, plan: Plan, workdir: Path, suite_out: Path, checkpoint: Path | None = None,
                 guard: MemoryGuard | None = None) -> None:
        self.plan, self.workdir, self.suite_out, self.checkpoint = plan, workdir.resolve(), suite_out, checkpoint
        self.guard = guard
        self.suite_copied = False
        self.networks: dict[int, Path] = {}
        self.failed_builds: set[int] = set()
        self.spike_files: dict[tuple[int, float], Path] = {}
        self.results: dict = {"schema": 1, "quick": plan.quick, "machine": machine_info(),
                              "settings": asdict(plan), "builds": {}, "build_comparison": [], "scaling": {},
                              "simulation": {}, "perturbations": {}, "large": {}, "errors": [],
                              "steps": []}
        self.bar: tqdm | None = None
        self.tags = itertools.count()

    # ------------------------------------------------------------------------------------------------- helpers
    def n_steps(self) -> int:
        """Number of measurements the plan makes (for the progress bar)."""
        p, s = self.plan, self.plan.sections
        n = 2 * ("build" in s) + 2 * len(p.sizes) * ("scaling" in s)
        n += len(p.grid_tstops_ms) * len(p.grid_dts_ms) * len(p.grid_threads) * len(p.grid_paths) * ("simulation" in s)
        n += len(p.suite_workers) * ("perturbations" in s) + 2 * ("large" in s and p.large_cells > 0)
        uses_grid = bool({"simulation", "perturbations"} & set(s))
        n += uses_grid and not ("scaling" in s and p.grid_cells in p.sizes)
        return n

    def step(self, name: str, func: Callable[[], dict]) -> dict | None:
        """Run one measurement; on failure record the error and return None."""
        if self.bar is not None:
            self.bar.set_postfix_str(name)
        kills = len(self.guard.kills) if self.guard else 0
        start = time.perf_counter()
        try:
            result = func()
        except Exception as err:  # noqa: BLE001 - a failed measurement is a result; the others go on
            message = f"{err}\n{getattr(err, 'stderr', '') or ''}".strip()[-3000:] or repr(err)
            for kill in self.guard.kills[kills:] if self.guard else []:
                message += (f"\nstopped by the memory guard: a process reached {kill['rss_mb']:,.0f} MB "
                            f"(limit {self.guard.limit_mb:,.0f} MB): {kill['command']}")
            self.results["errors"].append({"step": name, "error": message})
            tqdm.write(f"{name}: FAILED ({message.splitlines()[-1]})")
            result = None
        else:
            tqdm.write(f"{name}: " + ", ".join(f"{k} {v:.3g}" for k, v in result.items()
                                               if k in ("wall_s", "peak_mb", "load_s", "sim_s", "edges")))
        self.results["steps"].append({"step": name, "ok": result is not None,
                                      "wall_s": round(time.perf_counter() - start, 3)})
        if self.bar is not None:
            self.bar.update(1)
        if self.checkpoint is not None:
            write_atomic(self.checkpoint, json.dumps(self.results, indent=1))
        return result

    def network(self, n_cells: int) -> Path:
        """The network of ``n_cells`` cells in the work folder, built (and its build measured) on first use.

        A build that failed is not tried again: the measurements needing it fail at once.
        """
        if n_cells in self.failed_builds:
            raise RuntimeError(f"the {n_cells:,}-cell network could not be built (see the build error).")
        if n_cells not in self.networks:
            out = self.workdir / f"network_{n_cells}"
            record = self.step(build_step(n_cells), lambda: measure_build(n_cells, self.plan.seed, out))
            if record is None:
                self.failed_builds.add(n_cells)
                raise RuntimeError(f"the {n_cells:,}-cell network could not be built (see the build error).")
            self.results["builds"][str(n_cells)] = record
            self.networks[n_cells] = out
        return self.networks[n_cells]

    def drop_network(self, n_cells: int) -> None:
        """Delete a network no later section needs (disk space)."""
        path = self.networks.pop(n_cells, None)
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)

    def spikes(self, network: Path, dt_ms: float) -> Path:
        """LGN spikes on the ``dt_ms`` grid, long enough for every run of the plan, made once per LGN size."""
        key = (lgn_size(network), dt_ms)
        if key not in self.spike_files:
            p, s = self.plan, self.plan.sections
            tstops = [p.series_tstop_ms] * ("scaling" in s) + list(p.grid_tstops_ms) * ("simulation" in s)
            tstops += [p.suite_tstop_ms or _base_run()[0]] * ("perturbations" in s)
            tstops += [p.large_tstop_ms] * ("large" in s)
            tstop = max(tstops, default=_base_run()[0])
            out = self.workdir / f"lgn_spikes_{key[0]}_dt{dt_ms:g}.h5"
            self.spike_files[key] = make_spikes(network, out, tstop, dt_ms)
        return self.spike_files[key]

    def simulate(self, n_cells: int, tstop_ms: float, dt_ms: float, threads: int,
                 path: str = "PointNet") -> dict | None:
        """One simulation measurement of the ``n_cells`` network (built first if needed), through ``path``."""
        def run() -> dict:
            network = self.network(n_cells)
            tag = f"run{next(self.tags)}"
            config = write_config(REPO / "config_seed.json", self.workdir / f"config_{tag}.json", tstop_ms, dt_ms,
                                  threads, self.workdir / f"out_{tag}", network, self.spikes(network, dt_ms))
            record = measure_simulation(config, path)
            shutil.rmtree(self.workdir / f"out_{tag}", ignore_errors=True)
            return {"path": path, "n_cells": n_cells, "tstop_ms": tstop_ms, "dt_ms": dt_ms, "threads": threads,
                    **record}
        return self.step(sim_step(path, n_cells, tstop_ms, dt_ms, threads), run)

    # ------------------------------------------------------------------------------------------------ sections
    def build_comparison(self) -> None:
        """Fast path vs the seed's per-pair rule, same cell count, same run."""
        n = self.plan.compare_cells
        for rule in ("fast", "reference"):
            record = self.step(f"build {n:,} cells, {rule} rule",
                               lambda rule=rule: _measure_rule(n, self.plan.seed, rule))
            if record is not None:
                self.results["build_comparison"].append({"rule": rule, "n_cells": n, **record})

    def scaling(self) -> None:
        """The scaling series: build, then simulate, each size; then the fits."""
        p, rows = self.plan, []
        keep = {p.grid_cells} if {"simulation", "perturbations"} & set(p.sections) else set()
        for n in p.sizes:
            sim = self.simulate(n, p.series_tstop_ms, p.series_dt_ms, p.series_threads)
            build = self.results["builds"].get(str(n))
            if build is None:
                continue
            row = {"n_cells": n, "column_radius_um": build.get("column_radius_um"), "edges": build["edges"],
                   "V1_V1_edges": build["V1_V1_edges"], "LGN_V1_edges": build["LGN_V1_edges"],
                   "build_s": build["wall_s"], "build_cpu_s": build.get("cpu_s"), "build_peak_mb": build["peak_mb"],
                   "build_baseline_mb": build.get("baseline_mb")}
            if sim is not None:
                row.update(load_s=sim["load_s"], sim_s=sim["sim_s"], sim_peak_mb=sim["peak_mb"],
                           connections=sim["connections"])
            rows.append(row)
            if n not in keep:
                self.drop_network(n)
        fits = series_fits(rows)
        self.results["scaling"] = {"rows": rows, "fits": fits, "projections": projections(fits),
                                   "sim": {"tstop_ms": p.series_tstop_ms, "dt_ms": p.series_dt_ms,
                                           "threads": p.series_threads, "path": "PointNet"}}

    def simulation(self) -> None:
        """The grid: every run length, time step and thread count, PointNet and direct PyNEST back to back."""
        p, rows = self.plan, []
        for tstop in p.grid_tstops_ms:
            for dt in p.grid_dts_ms:
                for threads in p.grid_threads:
                    for path in p.grid_paths:
                        record = self.simulate(p.grid_cells, tstop, dt, threads, path)
                        if record is not None:
                            rows.append(record)
        build = self.results["builds"].get(str(p.grid_cells), {})
        self.results["simulation"] = {"n_cells": p.grid_cells, "edges": build.get("edges"), "rows": rows}

    def perturbations(self) -> None:
        """The perturbation suite, serial then parallel, on the grid's network."""
        p = self.plan
        tstop, dt = p.suite_tstop_ms or _base_run()[0], p.suite_dt_ms or _base_run()[1]
        rows: list[dict] = []
        self.results["perturbations"] = {"n_cells": p.grid_cells, "tstop_ms": tstop, "dt_ms": dt, "rows": rows,
                                         "out": str(self.suite_out)}
        for workers in p.suite_workers:
            def run(workers: int = workers) -> dict:
                network, spikes = self.suite_inputs(p.grid_cells, dt)
                config = write_config(REPO / "config_seed.json", self.workdir / "config_suite.json", tstop, dt,
                                      os.cpu_count() or 1, self.workdir / "out_suite", network, spikes)
                return measure_suite(config, workers, self.suite_out / str(workers),
                                     list(p.suite_only) if p.suite_only else None)
            record = self.step(f"perturbation suite, {workers} Dask worker(s)", run)
            if record is not None:
                rows.append(record)

    def suite_inputs(self, n_cells: int, dt_ms: float) -> tuple[Path, Path]:
        """The suite's network and LGN spikes (copied beside a suite output that outlives the work folder).

        When the suite writes outside the work folder (``make bench``: ``output/perturbations_bench``), the network
        and spikes are copied to ``<suite_out>/network`` and ``<suite_out>/lgn_spikes.h5``, so that the saved
        configurations of its runs keep pointing at files that exist.
        """
        network = self.network(n_cells)
        spikes = self.spikes(network, dt_ms)
        if self.workdir in self.suite_out.resolve().parents:  # a temporary suite output (--quick)
            return network, spikes
        self.suite_out.mkdir(parents=True, exist_ok=True)
        kept_network, kept_spikes = self.suite_out / "network", self.suite_out / "lgn_spikes.h5"
        if not self.suite_copied:
            tmp = Path(tempfile.mkdtemp(prefix=".network.copy-", dir=self.suite_out))
            shutil.copytree(network, tmp, dirs_exist_ok=True)
            old = self.suite_out / f".network.old-{tmp.name}"
            if kept_network.exists():
                kept_network.rename(old)
            tmp.rename(kept_network)
            shutil.rmtree(old, ignore_errors=True)
            shutil.copyfile(spikes, self.suite_out / ".lgn_spikes.h5.tmp")
            os.replace(self.suite_out / ".lgn_spikes.h5.tmp", kept_spikes)
            self.suite_copied = True
        return kept_network, kept_spikes

    def large(self) -> None:
        """The large-network targets: build, then one simulation."""
        p = self.plan
        self.drop_network(p.grid_cells)  # no longer needed: free the disk before the large build
        sim = self.simulate(p.large_cells, p.large_tstop_ms, p.large_dt_ms, p.large_threads)
        self.results["large"] = {"n_cells": p.large_cells, "sim": sim}
        self.drop_network(p.large_cells)

    def run(self) -> dict:
        """Every section of the plan, in order; returns the results (with the targets evaluated)."""
        start = time.perf_counter()
        sections = self.plan.sections
        with tqdm(total=self.n_steps(), desc="benchmarks", unit="measurement", file=sys.stderr) as self.bar:
            if "build" in sections:
                self.build_comparison()
            if "scaling" in sections:
                self.scaling()
            if "simulation" in sections:
                self.simulation()
            if "perturbations" in sections:
                self.perturbations()
            if "large" in sections and self.plan.large_cells > 0:
                self.large()
        self.bar = None
        self.results["duration_s"] = time.perf_counter() - start
        self.results["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        self.results["targets"] = evaluate_targets(self.results)
        return self.results


def write_results(results: dict, out: Path) -> list[Path]:
    """Write ``results.json``, ``results.md`` and ``figures/*.png`` into ``out`` (each atomically)."""
    figures = plot_scaling(results, out / FIGURES)
    results["figures"] = [f"{FIGURES}/{f.name}" for f in figures]
    md = write_atomic(out / RESULTS_MD, render_markdown(results, figures) + "\n")
    js = write_atomic(out / RESULTS_JSON, json.dumps(results, indent=2) + "\n")
    return [js, md, *figures]


def parse_args(argv: list[str] | None = None) -> tuple[Plan, argparse.Namespace]:
    """The command line: a :class:`Plan` (the defaults, or :data:`QUICK`, with the options applied)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--quick", action="store_true",
                        help="tiny networks and short runs (checks the program; default --out "
                             "output/benchmarks_quick so benchmarks/results.* are not replaced)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, help="sections to run (default: all)")
    parser.add_argument("--sizes", type=int, nargs="+", help="cells of the scaling series")
    parser.add_argument("--compare-cells", type=int, help="cells of the fast vs per-pair comparison (default 2000)")
    parser.add_argument("--grid-cells", type=int, help="network of the simulation grid and the suite (default 10000)")
    parser.add_argument("--large-cells", type=int, help="cells of the large targets (default 100000; 0 skips)")
    parser.add_argument("--seed", type=int, help="master seed of the networks (default 0)")
    parser.add_argument("--suite-workers", type=int, nargs="+",
                        help="Dask workers of the perturbation suite, serial first (default 1 2)")
    parser.add_argument("--suite-only", nargs="+", metavar="NAME",
                        help="perturbations besides the baseline (default: all eight; --quick: PV_inhibit)")
    parser.add_argument("--max-memory-gb", type=float,
                        help="stop any measurement process whose resident memory passes this (GB = 2^30 bytes; "
                             "default 80%% of the machine's RAM)")
    parser.add_argument("--out", type=Path, help="folder of results.json, results.md and figures/ "
                                                 "(default benchmarks/)")
    parser.add_argument("--suite-out", type=Path,
                        help="perturbation-suite output (default output/perturbations_bench; with --quick, inside "
                             "the work folder)")
    parser.add_argument("--workdir", type=Path, help="parent of the temporary work folder (default: the system's)")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the networks and run outputs")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    changes = {"sizes": tuple(args.sizes) if args.sizes else None, "compare_cells": args.compare_cells,
               "grid_cells": args.grid_cells, "large_cells": args.large_cells, "seed": args.seed,
               "sections": tuple(args.sections) if args.sections else None,
               "suite_workers": tuple(args.suite_workers) if args.suite_workers else None,
               "suite_only": tuple(args.suite_only) if args.suite_only else None}
    plan = replace(plan, **{k: v for k, v in changes.items() if v is not None})
    for name, value in (("--sizes", min(plan.sizes, default=1)), ("--compare-cells", plan.compare_cells),
                        ("--grid-cells", plan.grid_cells)):
        if value < 1:
            parser.error(f"{name} must be >= 1.")
    if plan.large_cells < 0:
        parser.error("--large-cells must be >= 0.")
    if min(plan.suite_workers, default=1) < 1:
        parser.error("--suite-workers must be >= 1.")
    if args.max_memory_gb is not None and not args.max_memory_gb > 0:
        parser.error("--max-memory-gb must be > 0.")
    return plan, args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; print ``results.md``; return 0, or 1 when a measurement failed."""
    plan, args = parse_args(argv)
    out = args.out or (REPO / "output" / "benchmarks_quick" if plan.quick else REPO / "benchmarks")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5 and not plan.quick:
        print(f"warning: the 1-minute load average is {load:.2f}: other jobs will inflate the timings "
              "(recorded in results.json).", file=sys.stderr)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="v1-bench-", dir=args.workdir))
    suite_out = args.suite_out or (workdir / "perturbations" if plan.quick
                                   else REPO / "output" / "perturbations_bench")
    checkpoint = out / ".results.partial.json"
    limit_mb = args.max_memory_gb * 1024 if args.max_memory_gb else 0.8 * psutil.virtual_memory().total / MB
    try:
        with MemoryGuard(limit_mb) as guard:
            results = Bench(plan, workdir, suite_out, checkpoint, guard).run()
        results["memory_guard"] = {"limit_mb": limit_mb, "kills": guard.kills}
        written = write_results(results, out)
        checkpoint.unlink(missing_ok=True)
    finally:
        if args.keep_workdir:
            print(f"work folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print((out / RESULTS_MD).read_text())
    print("wrote " + ", ".join(str(p) for p in written))
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
