"""The single-neuron models and their parameters, in NEST's names and units (mV, pF, nS, ms, pA).

Each study model is a JSON file in ``studies/neurons/params/`` (``nest_model``, ``source``, ``params``); the four V1
cell models are the files of ``components/point_neuron_models/`` with the NEST model of
``build_network/populations.csv``.
A parameter file given with ``--params`` holds NEST parameter names (a bare object, or one with a ``params`` key)
and overrides the model's values one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from build_network.params import CELL_MODELS_DIR, load_populations
from common.errors import UserError
from common.files import read_json

PARAMS_DIR = Path(__file__).resolve().parent / "params"
STUDY_MODELS = ("lif", "lif_cond", "elif", "adex")


class NeuronError(UserError):
    """A model, parameter or input the single-neuron tools cannot use."""


@dataclass
class NeuronModel:
    """A NEST neuron model with parameter values.

    Attributes
    ----------
    name : str
        ``lif``, ``lif_cond``, ``elif``, ``adex``, or a V1 population (``LIF_exc``, ``PV``, ``SST``, ``VIP``).
    nest_model : str
        NEST model name.
    params : dict
        NEST parameter name -> value (NEST units).
    source : str
        Where the values come from.
    """

    name: str
    nest_model: str
    params: dict = field(default_factory=dict)
    source: str = ""

    @property
    def adaptive(self) -> bool:
        """True for models with an adaptation current ``w`` (recorded as ``w_pa``)."""
        return self.nest_model.startswith("aeif")

    def with_params(self, overrides: dict, origin: str = "--params") -> NeuronModel:
        """A copy with ``overrides`` applied, each name checked against NEST's model.

        Raises
        ------
        NeuronError
            Naming a parameter the NEST model does not have.
        """
        known = nest_parameters(self.nest_model)
        for key, value in overrides.items():
            if key not in known:
                names = sorted(k for k, v in known.items() if isinstance(v, float))
                raise NeuronError(f"{origin}: {key!r} is not a parameter of NEST's {self.nest_model} (model "
                                  f"{self.name}); its parameters include {names}.")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise NeuronError(f"{origin}: {key} must be a number, got {value!r}.")
        return NeuronModel(self.name, self.nest_model, {**self.params, **{k: float(v) for k, v in overrides.items()}},
                           self.source)

    def with_t_ref(self, t_ref_ms: float | None) -> NeuronModel:
        """A copy with refractory period ``t_ref_ms`` (ms; None keeps the model's).

        Raises
        ------
        NeuronError
            If ``t_ref_ms`` is negative.
        """
        if t_ref_ms is None:
            return self
        if t_ref_ms < 0:
            raise NeuronError(f"--t-ref must be >= 0 ms (0: no refractory period), got {t_ref_ms:g}.")
        return self.with_params({"t_ref": float(t_ref_ms)}, "--t-ref")


def nest_parameters(nest_model: str) -> dict:
    """NEST's defaults of ``nest_model``: every name it accepts, with its default value."""
    import nest

    return dict(nest.GetDefaults(nest_model))


def v1_models() -> dict[str, tuple[str, Path]]:
    """V1 population -> (NEST model, parameter file) from ``build_network/populations.csv``."""
    table = load_populations()
    return {row.pop_name: (row.model_template.removeprefix("nest:"), CELL_MODELS_DIR / row.dynamics_params)
            for row in table.itertuples()}


def model_names() -> list[str]:
    """Every valid ``--model``."""
    return [*STUDY_MODELS, *v1_models()]


def _read_params(path: Path) -> tuple[dict, dict]:
    content = read_json(path, NeuronError, "parameter file")
    params = content.get("params", content)
    if not isinstance(params, dict):
        raise NeuronError(f"{path}: 'params' must be an object of NEST parameter names and values.")
    return content, params


def load_model(name: str, params_file: Path | None = None, t_ref_ms: float | None = None) -> NeuronModel:
    """The model ``name`` with its default parameters, then ``params_file``'s values, then ``t_ref_ms``.

    Raises
    ------
    NeuronError
        On an unknown model (the valid ones are listed), an unreadable file or an unknown parameter.

    Examples
    --------
    >>> load_model("adex").params["b"]
    80.5
    """
    if name in STUDY_MODELS:
        content, params = _read_params(PARAMS_DIR / f"{name}.json")
        model = NeuronModel(name, content["nest_model"], {}, content.get("source", ""))
        model = model.with_params(params, str(PARAMS_DIR / f"{name}.json"))
    elif name in (v1 := v1_models()):
        nest_model, path = v1[name]
        _, params = _read_params(path)
        model = NeuronModel(name, nest_model, {}, f"V1 cell model {path.name} (see {CELL_MODELS_DIR}/README.md)")
        model = model.with_params(params, str(path))
    else:
        raise NeuronError(f"unknown model {name!r}; valid models are {model_names()}.")
    if params_file is not None:
        model = model.with_params(_read_params(params_file)[1], str(params_file))
    return model.with_t_ref(t_ref_ms)
