"""Build, simulate (PointNet on NEST) and analyse one circuit; the result is ``DIR/result.json``."""

from __future__ import annotations

import time
from pathlib import Path

from analysis.criticality import analyse_spikes
from analysis.figures import plot_avalanches, plot_raster
from analysis.rates import load_run
from common.files import RESULT_FILE, check_replaceable, write_json
from simulation.run import simulate

from .build import POPULATION, build_circuit
from .figures import plot_circuit
from .params import CircuitSpec


def run_circuit(spec: CircuitSpec, out_dir: Path, force: bool = False, figures: bool = True, n_thread: int = 1,
                bin_ms: float | None = None) -> dict:
    """Build the circuit into ``out_dir``, simulate it, analyse its spikes and write ``result.json``.

    Parameters
    ----------
    spec : CircuitSpec
        The circuit (validated).
    out_dir : Path
        The circuit's folder (see :mod:`studies.circuits.build`); ``output/`` holds the run, ``figures/`` the pictures.
    force : bool
        Replace a non-empty ``out_dir``.
    figures : bool
        Draw the network, the raster and the avalanche distributions.
    n_thread : int
        NEST threads.
    bin_ms : float, optional
        Avalanche and branching-ratio bin (ms); default the mean inter-event interval.

    Returns
    -------
    dict
        The content of ``result.json``: the circuit, rates per class (Hz), and the criticality analysis.

    Raises
    ------
    common.files.OutputPlaceError
        If ``out_dir`` holds files and ``force`` is false (checked before anything is written).
    """
    out_dir = Path(out_dir)
    check_replaceable(out_dir, force)
    start = time.perf_counter()
    config = build_circuit(spec, out_dir, n_thread=n_thread)
    built = time.perf_counter()
    spikes_file = simulate(config, build_missing=False)
    simulated = time.perf_counter()
    run = load_run(out_dir / "output")
    rates = run.cells.groupby("pop_name").rate_hz.mean()
    criticality = analyse_spikes(spikes_file, population=POPULATION, bin_ms=bin_ms, tstart_ms=run.tstart_ms,
                                 tstop_ms=run.tstop_ms)
    write_json(out_dir / "criticality.json", criticality)
    if figures:
        (out_dir / "figures").mkdir(exist_ok=True)
        plot_raster(run, out_dir / "figures" / "raster.png")
        plot_circuit(out_dir, run.cells, out_dir / "figures" / "network.png")
        plot_avalanches(spikes_file, criticality, out_dir / "figures" / "avalanches.png", population=POPULATION)
    result = {**spec.as_dict(), "out_dir": str(out_dir),
              "mean_rate_hz": {k: round(float(v), 4) for k, v in rates.items()},
              "mean_rate_hz_all": round(float(run.cells.rate_hz.mean()), 4),
              "criticality": criticality,
              "wall_s": {"build": round(built - start, 2), "simulate": round(simulated - built, 2),
                         "total": round(time.perf_counter() - start, 2)}}
    write_json(out_dir / RESULT_FILE, result)
    return result
