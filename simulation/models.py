"""Cell models checked by NEST itself before bmtk builds the network.

bmtk hands each node type's ``dynamics_params`` to ``nest.Create``; NEST refuses a negative capacitance, an
unknown parameter or a string value with an exception raised deep inside the network build. :func:`check_cell_models`
creates one cell of every model with its parameters in a scratch kernel first (then resets the kernel), so that
NEST's own verdict comes with the file and node type that caused it.
"""

from __future__ import annotations

from pathlib import Path

import nest

from .config import PRECISE_MODELS, ConfigError

#: The prefix of bmtk's NEST model templates (``nest:iaf_psc_delta``).
NEST_PREFIX = "nest:"


def nest_model(template: str, timing: str) -> str:
    """The NEST model a ``model_template`` runs as under ``spike_timing`` ``timing`` (``grid`` or ``precise``)."""
    name = template[len(NEST_PREFIX):] if template.startswith(NEST_PREFIX) else template
    return PRECISE_MODELS.get(name, name) if timing == "precise" else name


def check_cell_models(cell_models: list[tuple[str, str, dict]], timing: str, path: Path) -> None:
    """Create one cell of each (model, parameters) in a scratch NEST kernel; report NEST's refusal as ConfigError.

    Parameters
    ----------
    cell_models : list of (str, str, dict)
        (where, model_template, parameters), from :func:`simulation.sonata_check.check_network`.
    timing : str
        The configuration's ``spike_timing`` (the precise twins are checked under ``precise``).
    path : Path
        The configuration file, for messages.

    Raises
    ------
    ConfigError
        Naming the file and node type, the NEST model and NEST's message.
    """
    seen = set()
    try:
        for where, template, params in cell_models:
            model = nest_model(template, timing)
            signature = (model, tuple(sorted((k, repr(v)) for k, v in params.items())))
            if signature in seen:
                continue
            seen.add(signature)
            if model not in nest.node_models:
                raise ConfigError(f"{path}: {where}: model_template {template!r} names no NEST model; NEST's "
                                  "neuron models are listed by nest.node_models (e.g. nest:iaf_psc_delta, "
                                  "nest:iaf_psc_alpha, nest:glif_psc).")
            nest.ResetKernel()
            defaults = nest.GetDefaults(model)
            listed = [k for k, v in params.items() if isinstance(v, list) and not isinstance(defaults.get(k), tuple)]
            if listed:
                raise ConfigError(f"{path}: {where}: parameter {listed[0]!r} of {model} is one number, not a list "
                                  f"(got {params[listed[0]]!r}).")
            try:
                nest.Create(model, params=params)
            except (nest.NESTError, AttributeError, TypeError, IndexError, ValueError, OverflowError) as err:
                valid = sorted(k for k, v in defaults.items() if isinstance(v, int | float)
                               and not isinstance(v, bool))
                raise ConfigError(f"{path}: {where}: NEST refuses these parameters for {model}: "
                                  f"{str(err).strip()} (the numeric parameters of {model} are "
                                  f"{', '.join(valid)}).") from err
    finally:
        nest.ResetKernel()
