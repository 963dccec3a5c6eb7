"""Reading and checking a PointNet configuration before NEST starts.

:func:`load_config` parses ``config.json`` with bmtk (manifest variables resolved), checks every field the run
depends on (:func:`check_config`), and fills in this project's runtime choices (:func:`prepare`):

- ``run.n_thread`` may be ``"auto"``: the machine's cores;
- ``voltage_sample`` (ours): ``{"enabled": true, "cells_per_population": 3}`` adds a membrane-voltage report
  for the first cells of each V1 population;
- the spikes are written under a temporary name and renamed by :func:`simulation.run.simulate` when complete;
- given a staging folder name, bmtk writes into that hidden folder inside ``output_dir`` (:func:`stage_output`),
  from which :func:`simulation.run.simulate` moves the files into ``output_dir`` when the run completes.

Every problem raises :class:`ConfigError` naming the key and the valid values.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import h5py
import numpy as np

from build_network.params import check_seed
from common.errors import UserError
from common.files import check_output_dir, check_output_file
from common.files import read_json as read_json_object
from common.sonata import v1_nodes

RUN_KEYS = {"tstart": "start time (ms)", "tstop": "stop time (ms)", "dt": "time step (ms)",
            "n_thread": "NEST threads (int >= 1, or 'auto' for the machine's cores)",
            "precise_times": "precise spike times for spike inputs (default: true with spike_timing 'precise' or "
                             "without spike_timing, as bmtk; false with 'grid')",
            "overwrite_output_dir": "bool", "print_time": "bool", "block_run": "bool", "block_size": "ms"}
VOLTAGE_SAMPLE_KEYS = {"enabled", "cells_per_population"}
#: ``spike_timing`` (ours): ``grid`` runs the cell models as named in the node types; ``precise`` runs each as its
#: NEST precise-spike-time twin (same parameters, spikes at exact off-grid times, off-grid input spikes), so the
#: resolution sets only the communication grid. The one table of model names at the simulator boundary:
PRECISE_MODELS = {"iaf_psc_delta": "iaf_psc_delta_ps"}
SPIKE_TIMING = ("grid", "precise")
SPIKE_MODULES = ("sonata", "h5", "hdf5")
#: NEST's time grain (ms; 1000 tics per ms) and the longest run accepted (ms: one year of model time).
MIN_DT_MS = 0.001
MAX_TSTOP_MS = 365 * 24 * 3600 * 1000.0
#: The most NEST threads per core accepted (100,000 threads crash NEST with a segmentation fault).
THREADS_PER_CORE = 4
#: The project's own input sections with a random seed (:func:`build_network.params.check_seed`).
SEEDED_SECTIONS = ("lgn_input", "background_input")


class ConfigError(UserError):
    """The configuration cannot be run as it is."""


def read_json(path: Path, error: type[UserError] = ConfigError, what: str = "configuration file") -> dict:
    """:func:`common.files.read_json` with :class:`ConfigError` (a configuration file) by default."""
    return read_json_object(path, error, what)


def _number(run: dict, key: str, path: Path) -> float:
    value = run[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ConfigError(f"{path}: run.{key} must be a number ({RUN_KEYS[key]}), got {value!r}.")
    return float(value)


def check_run(run: dict, path: Path) -> None:
    """Check the ``run`` section: known keys, dt > 0, tstop > tstart >= 0, n_thread >= 1 or 'auto'.

    Raises
    ------
    ConfigError
    """
    if not isinstance(run, dict):
        raise ConfigError(f"{path}: 'run' must be an object with keys {sorted(RUN_KEYS)}.")
    unknown = sorted(set(run) - set(RUN_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown} in 'run'; valid keys are "
                          + ", ".join(f"{k} ({v})" for k, v in RUN_KEYS.items()) + ".")
    for key in ("dt", "tstop"):
        if key not in run:
            raise ConfigError(f"{path}: run.{key} is missing ({RUN_KEYS[key]}).")
    dt, tstop = _number(run, "dt", path), _number(run, "tstop", path)
    tstart = _number(run, "tstart", path) if "tstart" in run else 0.0
    if not 0 < tstop <= MAX_TSTOP_MS:
        raise ConfigError(f"{path}: run.tstop must lie in (0, {MAX_TSTOP_MS:g}] ms (a year of model time; NEST's "
                          f"clock ends near 1.2e15 ms), got {tstop}.")
    if not MIN_DT_MS <= dt <= tstop:
        raise ConfigError(f"{path}: run.dt must lie in [{MIN_DT_MS} ms (NEST's time grain), run.tstop], got {dt}.")
    if not 0 <= tstart < tstop:
        raise ConfigError(f"{path}: run.tstart must satisfy 0 <= tstart < tstop, got tstart={tstart}, tstop={tstop}.")
    n_thread = run.get("n_thread", "auto")
    cores = os.cpu_count() or 1
    if n_thread != "auto" and (isinstance(n_thread, bool) or not isinstance(n_thread, int)
                               or not 1 <= n_thread <= THREADS_PER_CORE * cores):
        raise ConfigError(f"{path}: run.n_thread must be 'auto' (this machine's {cores} cores) or an integer from 1 "
                          f"to {THREADS_PER_CORE * cores} ({THREADS_PER_CORE} per core; NEST crashes with far more "
                          f"threads than cores), got {n_thread!r}.")
    for key in ("precise_times", "overwrite_output_dir", "print_time", "block_run"):
        if key in run and not isinstance(run[key], bool):
            raise ConfigError(f"{path}: run.{key} must be true or false, got {run[key]!r}.")


def network_files(config: dict) -> list[tuple[str, Path]]:
    """Every file the ``networks`` section names, as (key, path) pairs."""
    files = []
    for section, keys in (("nodes", ("nodes_file", "node_types_file")), ("edges", ("edges_file", "edge_types_file"))):
        for entry in config.get("networks", {}).get(section, []):
            for key in keys:
                if key in entry:
                    files.append((f"networks.{section}.{key}", Path(entry[key])))
    return files


def input_files(config: dict) -> list[tuple[str, Path]]:
    """Every input file the ``inputs`` section names, as (key, path) pairs."""
    return [(f"inputs.{name}.input_file", Path(spec["input_file"]))
            for name, spec in config.get("inputs", {}).items() if isinstance(spec, dict) and "input_file" in spec]


def check_files(config: dict, path: Path) -> None:
    """Every network, input and component path named in the config exists.

    Raises
    ------
    ConfigError
        Naming the key and the missing path.
    """
    for key, file in network_files(config) + input_files(config):
        if not file.is_file():
            raise ConfigError(f"{path}: {key} names {file}, which does not exist.")
    for key, folder in config.get("components", {}).items():
        if not Path(folder).is_dir():
            raise ConfigError(f"{path}: components.{key} names {folder}, which is not a folder.")


def check_inputs(config: dict, path: Path) -> None:
    """Inputs can run: spike times lie on the dt grid (unless precise), current clamps start after dt.

    Raises
    ------
    ConfigError
    """
    run = config["run"]
    dt = float(run["dt"])
    populations = {str(e.get("population")) for e in _node_populations(config)}
    for name, spec in config.get("inputs", {}).items():
        module = spec.get("module")
        if module == "IClamp":
            for key in ("amp", "delay", "duration"):
                if not isinstance(spec.get(key), int | float) or isinstance(spec.get(key), bool):
                    raise ConfigError(f"{path}: inputs.{name}.{key} must be a number (pA for amp, ms otherwise).")
            if not spec["delay"] > dt:
                raise ConfigError(f"{path}: inputs.{name}.delay = {spec['delay']} ms must be > run.dt = {dt} ms "
                                  "(bmtk's PointNet silently skips a clamp that starts at or before dt).")
            if spec["duration"] <= 0:
                raise ConfigError(f"{path}: inputs.{name}.duration must be > 0 ms.")
        node_set = spec.get("node_set")
        if isinstance(node_set, dict) and "population" in node_set and node_set["population"] not in populations:
            raise ConfigError(f"{path}: inputs.{name}.node_set names population {node_set['population']!r}; "
                              f"valid populations are {sorted(populations)}.")
        # precise_times unset: off-grid spikes for spike_timing 'precise', and for a configuration without
        # spike_timing (not the project's) bmtk's own default, precise (PointSimulator's sg_params)
        if module in SPIKE_MODULES and not run.get("precise_times", config.get("spike_timing", "precise") == "precise"):
            project = "lgn_input" in config and Path(spec["input_file"]).name.startswith("lgn_spikes")
            _check_spike_grid(Path(spec["input_file"]), dt, f"inputs.{name}.input_file", path, project)


def _node_populations(config: dict) -> list[dict]:
    found = []
    for entry in config.get("networks", {}).get("nodes", []):
        nodes_file = Path(entry.get("nodes_file", ""))
        if nodes_file.is_file():
            with h5py.File(nodes_file, "r") as h5:
                found += [{"population": name} for name in h5.get("nodes", {})]
    return found


def _check_spike_grid(file: Path, dt: float, key: str, path: Path, project: bool) -> None:
    """Spike times on the dt grid; the remedy names the project's command only for the project's LGN spikes."""
    with h5py.File(file, "r") as h5:
        for population, grp in h5.get("spikes", {}).items():
            times = grp["timestamps"][()] if "timestamps" in grp else np.zeros(0)
            steps = times / dt
            if len(times) and (not np.allclose(steps, np.round(steps), rtol=0, atol=1e-6) or times.min() < dt):
                remake = (f"Remake them on the grid: python -m inputs spikes --dt {dt} --out {file}"
                          if project else "Remake them on the grid, or set run.precise_times to true.")
                raise ConfigError(
                    f"{path}: {key} ({file}, population {population}) has spike times off the run.dt = {dt} ms grid "
                    f"(or before dt), which NEST refuses without run.precise_times. {remake}")


def check_voltage_sample(config: dict, path: Path) -> None:
    """Check the optional ``voltage_sample`` section."""
    sample = config.get("voltage_sample")
    if sample is None:
        return
    if not isinstance(sample, dict) or set(sample) - VOLTAGE_SAMPLE_KEYS:
        raise ConfigError(f"{path}: voltage_sample must be an object with keys {sorted(VOLTAGE_SAMPLE_KEYS)}.")
    if not isinstance(sample.get("enabled", False), bool):
        raise ConfigError(f"{path}: voltage_sample.enabled must be true or false.")
    k = sample.get("cells_per_population", 3)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"{path}: voltage_sample.cells_per_population must be an integer >= 1, got {k!r}.")


def _expect(condition: bool, path: Path, message: str) -> None:
    if not condition:
        raise ConfigError(f"{path}: {message}")


def check_structure(config: dict, path: Path) -> None:
    """The sections have the shapes bmtk reads: objects, lists of objects, and string paths.

    Raises
    ------
    ConfigError
    """
    networks = config["networks"]
    _expect(isinstance(networks, dict), path, "'networks' must be an object with lists 'nodes' and 'edges'.")
    for section, keys in (("nodes", ("nodes_file", "node_types_file")), ("edges", ("edges_file", "edge_types_file"))):
        entries = networks.get(section, [])
        _expect(isinstance(entries, list), path, f"networks.{section} must be a list of objects.")
        for i, entry in enumerate(entries):
            _expect(isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in keys), path,
                    f"networks.{section}[{i}] must be an object with string paths {list(keys)}.")
    _expect(bool(networks.get("nodes")), path, "networks.nodes is empty: there is nothing to simulate.")
    components = config["components"]
    _expect(isinstance(components, dict) and all(isinstance(v, str) for v in components.values()), path,
            "'components' must map names (synaptic_models_dir, point_neuron_models_dir) to folder paths.")
    output = config["output"]
    _expect(isinstance(output, dict), path, "'output' must be an object (output_dir, spikes_file, log_file).")
    for key in ("output_dir", "spikes_file", "log_file"):
        _expect(key not in output or isinstance(output[key], str), path, f"output.{key} must be a string.")
    _expect(str(output.get("spikes_file", "spikes.h5")).endswith(".h5"), path,
            "output.spikes_file must be a SONATA file name ending in .h5.")
    inputs = config.get("inputs", {})
    _expect(isinstance(inputs, dict), path, "'inputs' must be an object of named inputs.")
    for name, spec in inputs.items():
        _expect(isinstance(spec, dict) and isinstance(spec.get("module"), str), path,
                f"inputs.{name} must be an object with a 'module' (e.g. 'sonata' or 'IClamp').")
        if spec["module"] in SPIKE_MODULES:
            _expect(isinstance(spec.get("input_file"), str), path, f"inputs.{name}.input_file must be a path.")
        _expect(isinstance(spec.get("node_set"), str | dict), path,
                f"inputs.{name}.node_set must name a node set or be an object such as {{\"population\": \"V1\"}}.")


def spike_timing(config: dict, path: Path | str = "configuration") -> str:
    """The configuration's ``spike_timing``: ``grid`` (default) or ``precise``.

    Raises
    ------
    ConfigError
        If the value is not one of :data:`SPIKE_TIMING`.
    """
    mode = config.get("spike_timing", "grid")
    if mode not in SPIKE_TIMING:
        raise ConfigError(f"{path}: spike_timing must be one of {', '.join(map(repr, SPIKE_TIMING))} ('precise' runs "
                          f"{', '.join(f'{a} as {b}' for a, b in PRECISE_MODELS.items())} with off-grid input spikes), "
                          f"got {mode!r}.")
    return mode


MANIFEST_VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


def check_manifest(config: dict, path: Path) -> None:
    """No path keeps a ``$VARIABLE`` after bmtk resolved the manifest (an undefined variable would become a folder
    literally named ``$VARIABLE`` in the working directory).

    Raises
    ------
    ConfigError
        Naming the key, the variable and the variables the manifest defines.
    """
    defined = sorted(config.get("manifest", {}))

    def walk(node, key: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k != "manifest":
                    walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{key}[{i}]")
        elif isinstance(node, str):
            found = MANIFEST_VARIABLE.search(node)
            if found:
                raise ConfigError(f"{path}: {key} is {node!r}: {found.group()} is not defined in the manifest "
                                  f"(it defines {defined}; bmtk also knows ${{configdir}} and ${{workingdir}}).")
    walk(config, "")


def check_output_places(config: dict, path: Path) -> None:
    """``output.output_dir`` is (or can become) a writable folder, and an absolute ``output.spikes_file`` a file.

    Raises
    ------
    ConfigError
        Naming the key, the path and what is wrong (a file, a read-only place).
    """
    output = config["output"]
    try:
        check_output_dir(output.get("output_dir", "."), "output.output_dir")
        spikes = output.get("spikes_file", "spikes.h5")
        if os.path.isabs(spikes):
            check_output_file(spikes, "output.spikes_file")
    except UserError as err:
        raise ConfigError(f"{path}: {err}") from err


def check_seeds(config: dict, path: Path) -> None:
    """The project's input sections (:data:`SEEDED_SECTIONS`), when present, are objects with an integer seed.

    Raises
    ------
    ConfigError
    """
    for section in SEEDED_SECTIONS:
        if section not in config:
            continue
        _expect(isinstance(config[section], dict), path, f"'{section}' must be an object (e.g. {{\"seed\": 0}}).")
        try:
            check_seed(config[section].get("seed", 0), f"{section}.seed")
        except UserError as err:
            raise ConfigError(f"{path}: {err}") from err


def check_sections(config: dict, path: Path) -> None:
    """The checks that need no file: sections present and well formed, the run section, the voltage sample.

    Raises
    ------
    ConfigError
    """
    if config.get("target_simulator", "NEST") != "NEST":
        raise ConfigError(f"{path}: target_simulator must be 'NEST', got {config['target_simulator']!r}.")
    for section in ("run", "networks", "output", "components"):
        if section not in config:
            raise ConfigError(f"{path}: section '{section}' is missing.")
    check_run(config["run"], path)
    if spike_timing(config, path) == "precise" and config["run"].get("precise_times") is False:
        raise ConfigError(f"{path}: spike_timing 'precise' needs off-grid input spikes: set run.precise_times to true "
                          "(or leave it out), or use spike_timing 'grid'.")
    check_structure(config, path)
    check_manifest(config, path)
    check_seeds(config, path)
    check_output_places(config, path)
    check_voltage_sample(config, path)


def voltage_report(config: dict) -> dict | None:
    """The bmtk membrane report of the first ``cells_per_population`` cells of each V1 population, if enabled."""
    sample = config.get("voltage_sample") or {}
    if not sample.get("enabled", False):
        return None
    k = int(sample.get("cells_per_population", 3))
    nodes = v1_nodes(config)
    node_ids = nodes.groupby("pop_name", sort=False).node_id.apply(lambda s: s.head(k)).astype(int).tolist()
    return {"module": "multimeter_report", "cells": {"population": "V1", "node_id": sorted(node_ids)},
            "variable_name": "V_m", "file_name": "v_report.h5", "sections": "soma"}


def prepare(config: dict, staging: str | None = None) -> dict:
    """Fill in the runtime choices: threads, the voltage report, the temporary spikes name and the staging folder.

    Parameters
    ----------
    config : dict
        The configuration, manifest variables resolved (not changed).
    staging : str, optional
        Name of a private folder inside ``output.output_dir`` that bmtk writes into instead (:func:`stage_output`).

    Returns
    -------
    dict
        A new configuration dict for bmtk.
    """
    prepared = json.loads(json.dumps(config))
    run = prepared["run"]
    if run.get("n_thread", "auto") == "auto":
        run["n_thread"] = os.cpu_count() or 1
    # the project's configurations state spike_timing (precise -> off-grid input spikes, grid -> on the grid); one
    # without it (bmtk's examples, a network of your own) gets bmtk's own default, precise_times true
    run.setdefault("precise_times", prepared.get("spike_timing", "precise") == "precise")
    report = voltage_report(prepared)
    if report is not None:
        prepared.setdefault("reports", {})["membrane_potential"] = report
    if staging is not None:
        prepared["output"] = stage_output(prepared["output"], staging)
    prepared["output"]["spikes_file"] = partial_name(prepared["output"].get("spikes_file", "spikes.h5"))
    return prepared


def stage_output(output: dict, staging: str) -> dict:
    """bmtk's ``output`` section redirected to the folder ``staging`` inside ``output_dir``.

    ``output_dir`` becomes ``<output_dir>/<staging>`` (absolute); the log and spikes files that bmtk would write
    inside ``output_dir`` (relative names are relative to it, as bmtk reads them) move there with the same relative
    path; files named outside ``output_dir`` are left where they are.

    Parameters
    ----------
    output : dict
        The ``output`` section (not changed).
    staging : str
        The staging folder's name (one path component).

    Returns
    -------
    dict
        A new ``output`` section.
    """
    staged = dict(output)
    output_dir = str(output.get("output_dir", "."))
    target = os.path.join(os.path.abspath(output_dir), staging)
    staged["output_dir"] = target
    default = {"spikes_file": "spikes.h5"} if "spikes_file" not in output else {}
    for key, file in {**output, **default}.items():
        if (key == "log_file" or key.startswith("spikes_file")) and isinstance(file, str):
            named = file if os.path.isabs(file) or file.startswith(output_dir) else os.path.join(output_dir, file)
            relative = os.path.relpath(os.path.abspath(named), os.path.abspath(output_dir))
            if relative != ".." and not relative.startswith(".." + os.sep):
                staged[key] = os.path.join(target, relative)
    return staged


def partial_name(spikes_file: str) -> str:
    """The name the spikes are written under until the run completes: ``spikes.h5`` -> ``spikes.partial.h5``."""
    path = Path(spikes_file)
    return str(path.with_name(f"{path.stem}.partial{path.suffix}"))
