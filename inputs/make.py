"""Making a configuration's input spikes with its own defaults: the LGN spikes and the background spikes.

``python -m inputs spikes`` / ``background`` and the runner (for a missing input of the project's own configuration)
both call these; every option left out comes from the configuration (``lgn_input``, ``background_input``,
``run.tstop``, ``spike_timing``), then from the project's defaults.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from build_network.params import check_seed, load_column
from common.files import check_output_file

from .spikes import RATES_FILE, lgn_node_ids, lookup_rate, sample_rates, write_background_spikes, write_spikes
from .units import UnitsError


def _config_defaults(path: Path) -> dict:
    if path.is_file():
        config = json.loads(path.read_text())
        run = config.get("run", {})
        precise = config.get("spike_timing", "grid") == "precise"  # precise cells take exact, off-grid times
        return {**config.get("lgn_input", {}), "tstop": run.get("tstop"), "dt": None if precise else run.get("dt"),
                "precise": precise}
    return {}


def make_lgn_spikes(config: Path, network: Path, out: Path, genotype: str | None = None, stimulus: str | None = None,
                    qc: str | None = None, tstop_ms: float | None = None, dt_ms: float | None = None,
                    seed: int | None = None, heterogeneous: bool = False, rates_file: Path = RATES_FILE) -> str:
    """Write Poisson LGN spikes for the LGN of ``network`` to ``out``; return what was written, in one line.

    Parameters
    ----------
    config : Path
        Configuration supplying the defaults (``lgn_input``, ``run.tstop`` in ms, ``run.dt`` in ms unless its
        ``spike_timing`` is precise); a missing file means the project's defaults.
    network : Path
        Built network folder whose LGN node ids are used.
    out : Path
        SONATA spikes file to write.
    genotype, stimulus, qc, tstop_ms, dt_ms, seed, heterogeneous, rates_file
        As the options of ``python -m inputs spikes`` (times in ms).

    Raises
    ------
    UserError
        On a bad value or an unusable output place.
    """
    args_out = Path(out)
    check_output_file(args_out)
    defaults = _config_defaults(Path(config))
    genotype = genotype or defaults.get("genotype") or "wt"
    stimulus = stimulus or defaults.get("stimulus") or "fl"
    qc = qc or defaults.get("qc") or "snr4"
    tstop = tstop_ms if tstop_ms is not None else (defaults.get("tstop") or 3000.0)
    dt = dt_ms if dt_ms is not None else (None if defaults.get("precise") else (defaults.get("dt") or 0.01))
    seed = check_seed(seed, "--seed") if seed is not None else check_seed(
        defaults.get("seed", 0), f"lgn_input.seed of {config}")
    heterogeneous = heterogeneous or bool(defaults.get("heterogeneous", False))
    if not tstop > 0:
        raise UnitsError(f"--tstop must be > 0 ms, got {tstop}.")
    if dt is not None and not dt > 0:
        raise UnitsError(f"--dt must be > 0 ms, got {dt}.")
    node_ids = lgn_node_ids(network, load_column().lgn_n_cells)
    if heterogeneous:
        rates = sample_rates(len(node_ids), genotype, stimulus, np.random.default_rng(seed), qc, rates_file)
    else:
        rates = np.full(len(node_ids), lookup_rate(genotype, stimulus, qc, rates_file))
    write_spikes(args_out, node_ids, rates, tstop, seed, dt)
    mode = "heterogeneous" if heterogeneous else "homogeneous"
    return (f"wrote {args_out}: {len(node_ids)} LGN cells, {mode} Poisson, genotype {genotype}, stimulus {stimulus}, "
            f"qc {qc}, mean rate {rates.mean():.2f} Hz, 0-{tstop:g} ms "
            f"{'off the grid (spike_timing precise)' if dt is None else f'on a {dt:g} ms grid'}, seed {seed}")


def make_background_spikes(config: Path, network: Path, out: Path, tstop_ms: float | None = None,
                           seed: int | None = None) -> str:
    """Write Poisson spikes of the background sources of ``network`` to ``out``; return what was written, in one line.

    Parameters
    ----------
    config : Path
        Configuration supplying ``run.tstop`` (ms), ``background_input.seed`` and the spike timing.
    network : Path
        Built network folder with a background population.
    out : Path
        SONATA spikes file to write.
    tstop_ms : float, optional
        Duration (ms); default the configuration's.
    seed : int, optional
        Default the configuration's ``background_input.seed``, else 0.

    Raises
    ------
    UserError
        On a bad value or an unusable output place.
    """
    check_output_file(out)
    config_path = Path(config)
    raw = json.loads(config_path.read_text()) if config_path.is_file() else {}
    run = raw.get("run", {})
    tstop = tstop_ms if tstop_ms is not None else float(run.get("tstop", 3000.0))
    seed = check_seed(seed, "--seed") if seed is not None else check_seed(
        raw.get("background_input", {}).get("seed", 0), f"background_input.seed of {config_path}")
    precise = raw.get("spike_timing", "grid") == "precise"
    dt = None if precise else float(run.get("dt", 0.01))
    if not tstop > 0:
        raise UnitsError(f"--tstop must be > 0 ms, got {tstop}.")
    write_background_spikes(network, out, tstop, seed, dt)
    return (f"wrote {out}: the background sources of {network}, Poisson, 0-{tstop:g} ms "
            f"{'off the grid (spike_timing precise)' if dt is None else f'on a {dt:g} ms grid'}, seed {seed}")
