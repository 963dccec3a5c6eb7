"""PointNet configurations of the perturbation suite: the baseline plus one current clamp per population and sign.

A perturbation ``<pop_name>_<excite|inhibit>`` is the baseline configuration with one ``IClamp`` input on the
cells of ``pop_name`` in population ``V1`` (a bmtk node set ``{"population": "V1", "pop_name": ...}``),
amplitude +amp (excite) or -amp (inhibit) pA, from ``delay_ms`` (just after the start, > dt) to the end of the
run, with its own output folder. A sweep point ``<pop_name>_<amp>pA`` clamps one population at a given
amplitude.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from common.sonata import v1_nodes
from simulation.config import ConfigError, read_json

BASELINE = "baseline"
DEFAULT_AMP_PA = 230.0
SIGNS = {"excite": 1.0, "inhibit": -1.0}


def v1_populations(config: dict) -> dict[str, int]:
    """Cells per ``pop_name`` of the V1 population of a (bmtk-resolved) configuration."""
    try:
        return v1_nodes(config).pop_name.value_counts(sort=False).to_dict()
    except ValueError as err:
        raise ConfigError(str(err)) from err


def clamp_window(config: dict, delay_ms: float | None, duration_ms: float | None) -> tuple[float, float]:
    """The clamp's delay and duration (ms): by default from 2 dt to the end of the run.

    Raises
    ------
    ConfigError
        If the window starts at or before dt or ends after tstop.
    """
    dt, tstop = float(config["run"]["dt"]), float(config["run"]["tstop"])
    delay = 2 * dt if delay_ms is None else float(delay_ms)
    duration = tstop - delay if duration_ms is None else float(duration_ms)
    if not (math.isfinite(delay) and math.isfinite(duration)) or delay <= dt or duration <= 0 \
            or delay + duration > tstop + 1e-9:
        raise ConfigError(f"clamp window {delay:g} ms + {duration:g} ms is outside the run: it must start after "
                          f"dt = {dt:g} ms, last > 0 ms and end by tstop = {tstop:g} ms.")
    return delay, duration


def check_amplitude(amp) -> float:
    """The clamp amplitude (pA) as a finite number.

    Raises
    ------
    ConfigError
    """
    try:
        value = float(amp)
    except (TypeError, ValueError):
        raise ConfigError(f"the clamp amplitude must be a number of pA, got {amp!r}.") from None
    if not math.isfinite(value):
        raise ConfigError(f"the clamp amplitude must be a finite number of pA, got {amp!r}.")
    return value


def check_populations(requested: list[str] | None, available: dict[str, int]) -> list[str]:
    """The populations to perturb, in network order.

    Raises
    ------
    ConfigError
        On a name that is not a V1 population, or a population with no cell.
    """
    names = list(available) if not requested else list(requested)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ConfigError(f"unknown population(s) {unknown}; valid populations are {list(available)}.")
    empty = [n for n in names if available[n] == 0]
    if empty:
        raise ConfigError(f"population(s) {empty} have no cell: their node set matches nothing.")
    return names


def suite_names(populations: list[str]) -> list[str]:
    """The baseline and the perturbation names, e.g. ``PV_inhibit``."""
    return [BASELINE] + [f"{pop}_{sign}" for pop in populations for sign in SIGNS]


def perturbation_config(base: dict, name: str, out_root: Path, population: str | None = None,
                        amp_pa: float = 0.0, delay_ms: float = 0.0, duration_ms: float = 0.0) -> dict:
    """One configuration of the suite: ``base`` with its own output folder and, unless baseline, one clamp.

    Parameters
    ----------
    base : dict
        The baseline configuration as written in its JSON file (manifest variables unresolved).
    name : str
        Run name; also the output folder name under ``out_root``.
    out_root : Path
        Folder of the suite's outputs.
    population : str, optional
        ``pop_name`` to clamp (None: the baseline).
    amp_pa, delay_ms, duration_ms : float
        The clamp (pA, ms, ms).

    Returns
    -------
    dict
    """
    config = json.loads(json.dumps(base))
    config["manifest"]["$OUTPUT_DIR"] = str(Path(out_root) / name)
    if population is not None:
        config.setdefault("inputs", {})[f"clamp_{population}"] = {
            "input_type": "current_clamp", "module": "IClamp",
            "node_set": {"population": "V1", "pop_name": population},
            "amp": amp_pa, "delay": delay_ms, "duration": duration_ms}
    return config


def write_suite(base_config: Path, out_root: Path, amp_pa: float = DEFAULT_AMP_PA,
                populations: list[str] | None = None, only: list[str] | None = None,
                delay_ms: float | None = None, duration_ms: float | None = None,
                sweep: str | None = None, sweep_amps_pa: list[float] | None = None) -> dict[str, Path]:
    """Write the configurations of the suite (or of a sweep) under ``out_root/configs``.

    Parameters
    ----------
    base_config : Path
        The baseline ``config.json``.
    out_root : Path
        Folder of the suite's outputs (``<out_root>/<name>/spikes.h5``).
    amp_pa : float
        Absolute clamp amplitude (pA) of the excite/inhibit pair.
    populations : list of str, optional
        Populations to perturb (default: all four).
    only : list of str, optional
        Keep these run names only (the baseline is always kept: the summary needs it).
    delay_ms, duration_ms : float, optional
        Clamp window (default: from 2 dt to the end).
    sweep : str, optional
        Instead of the pair, clamp this population at each of ``sweep_amps_pa``.
    sweep_amps_pa : list of float, optional
        Sweep amplitudes (pA).

    Returns
    -------
    dict of str to Path
        Run name -> configuration file, baseline first.

    Raises
    ------
    ConfigError
        On an unknown population or run name, a non-numeric amplitude, or a window outside the run.
    """
    from bmtk.simulator import pointnet

    base_config = Path(base_config)
    raw = read_json(base_config)
    resolved = pointnet.Config.from_json(str(base_config))
    available = v1_populations(resolved)
    delay, duration = clamp_window(resolved, delay_ms, duration_ms)
    out_root = Path(out_root).absolute()  # the configurations live in out_root/configs: no path relative to the caller
    runs: dict[str, tuple[str | None, float]] = {BASELINE: (None, 0.0)}
    if sweep is not None:
        (population,) = check_populations([sweep], available)
        for amp in sweep_amps_pa or []:
            amp = check_amplitude(amp)
            if amp != 0:  # 0 pA is the baseline
                runs[f"{population}_{amp:+g}pA"] = (population, amp)
    else:
        amp = abs(check_amplitude(amp_pa))
        for name in suite_names(check_populations(populations, available))[1:]:
            population, sign = name.rsplit("_", 1)
            runs[name] = (population, SIGNS[sign] * amp)
    if only:
        unknown = [n for n in only if n not in runs]
        if unknown:
            raise ConfigError(f"unknown run name(s) {unknown}; valid names are {list(runs)}.")
        runs = {n: v for n, v in runs.items() if n == BASELINE or n in only}
    folder = out_root / "configs"
    folder.mkdir(parents=True, exist_ok=True)
    raw["manifest"]["$BASE_DIR"] = str(base_config.resolve().parent)
    paths = {}
    for name, (population, amp) in runs.items():
        config = perturbation_config(raw, name, out_root, population, amp, delay, duration)
        path = folder / f"{name}.json"
        tmp = path.with_name(f".{path.name}.tmp")  # never half-written, even if the suite is killed here
        tmp.write_text(json.dumps(config, indent=2) + "\n")
        tmp.replace(path)
        paths[name] = path
    return paths
