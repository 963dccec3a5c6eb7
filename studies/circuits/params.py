"""Parameters of the conductance circuits: ``studies/circuits/circuit.json``, options on top, validated in one place.

Names carry their units (``_ms``, ``_mV``, ``_nS``, ``_hz``); :data:`NEST_NAMES` translates the synapse parameters
to NEST's ``iaf_cond_exp`` names at the simulator boundary. The membrane comes from the single-neuron study model
named by ``neuron`` (``studies/neurons/params/lif_cond.json``), so it is defined once.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

from common.errors import UserError
from common.files import read_json
from common.params import check_number, check_sections
from studies.neurons.models import NeuronError, load_model

from .topology import ring_peak_probability

PARAMS_FILE = Path(__file__).resolve().parent / "circuit.json"
TOPOLOGIES = ("random", "ring", "layered")
CLASSES = ("e", "i")
PROBABILITY_KEYS = tuple(f"{s}_to_{t}" for s in CLASSES for t in CLASSES)
#: circuit.json synapse name -> NEST iaf_cond_exp name
NEST_NAMES = {"tau_syn_ex_ms": "tau_syn_ex", "tau_syn_in_ms": "tau_syn_in", "E_ex_mV": "E_ex", "E_in_mV": "E_in"}


#: The fields of a parameter file (nested objects with their keys); see circuit.json.
SCHEMA = {"n_cells": None, "fraction_exc": None, "neuron": None, "delay_ms": None,
          "synapse": ("tau_syn_ex_ms", "tau_syn_in_ms", "E_ex_mV", "E_in_mV"),
          "connection_probability": PROBABILITY_KEYS, "weight_nS": ("exc", "inh"),
          "drive": ("rate_hz", "weight_nS"), "ring": ("width",), "layered": ("n_layers", "p_forward"),
          "run": ("tstop_ms", "dt_ms")}


class CircuitError(UserError):
    """A circuit parameter or option that cannot be used."""


@dataclass(frozen=True)
class CircuitSpec:
    """A circuit to build: the parameter file's values, the topology, the weight scale and the seed.

    Attributes
    ----------
    topology : str
        One of :data:`TOPOLOGIES`.
    params : dict
        The contents of ``circuit.json`` with overrides applied (units in the names).
    weight_scale : float
        Multiplies every excitatory recurrent weight (E -> E and E -> I): the control parameter of the sweeps.
    seed : int
        Master seed (network and drive).
    """

    topology: str
    params: dict
    weight_scale: float = 1.0
    seed: int = 0

    @property
    def n_cells(self) -> int:
        return int(self.params["n_cells"])

    def population_sizes(self) -> dict[str, int]:
        """Cells per class: ``{'e': N_E, 'i': N_I}`` with N_E = round(fraction_exc x n_cells)."""
        n_e = round(self.params["fraction_exc"] * self.n_cells)
        return {"e": n_e, "i": self.n_cells - n_e}

    def weight_nS(self, source: str) -> float:
        """Signed conductance per spike (nS) of a recurrent connection from class ``source`` (inhibitory < 0)."""
        w = self.params["weight_nS"]
        return w["exc"] * self.weight_scale if source == "e" else -w["inh"]

    def neuron_params(self) -> dict:
        """NEST parameters of ``iaf_cond_exp``: the study neuron's membrane and this circuit's synapses."""
        model = load_model(self.params["neuron"])
        synapse = {NEST_NAMES[k]: float(v) for k, v in self.params["synapse"].items()}
        return {**model.params, **synapse}

    def as_dict(self) -> dict:
        return {"topology": self.topology, "weight_scale": self.weight_scale, "seed": self.seed,
                "params": self.params}


def read_params(path: Path = PARAMS_FILE) -> dict:
    """The parameter file as a dict.

    Raises
    ------
    CircuitError
        If the file is missing, not valid JSON or not a JSON object.
    """
    return read_json(path, CircuitError, "circuit parameter file")


def make_spec(topology: str, n_cells: int | None = None, weight_scale: float = 1.0, seed: int = 0,
              p_connect: float | None = None, exc_weight_nS: float | None = None, inh_weight_nS: float | None = None,
              tstop_ms: float | None = None, params_file: Path = PARAMS_FILE) -> CircuitSpec:
    """The validated circuit of the parameter file with the command-line options applied.

    Parameters
    ----------
    topology : {'random', 'ring', 'layered'}
    n_cells : int, optional
        Number of neurons (default: the file's).
    weight_scale : float
        Scale of the excitatory recurrent weights (>= 0).
    seed : int
        Master seed.
    p_connect : float, optional
        Sets all four class-to-class connection probabilities (and the layered forward probability).
    exc_weight_nS, inh_weight_nS : float, optional
        Excitatory and inhibitory conductance per spike (nS, >= 0).
    tstop_ms : float, optional
        Simulated time (ms).
    params_file : Path
        The parameter file (default ``studies/circuits/circuit.json``).

    Raises
    ------
    CircuitError
        Naming the option or field and its valid values.
    """
    params = copy.deepcopy(read_params(params_file))
    check_fields(params, str(params_file))
    if n_cells is not None:
        params["n_cells"] = n_cells
    if p_connect is not None:
        params["connection_probability"] = dict.fromkeys(PROBABILITY_KEYS, p_connect)
        params["layered"]["p_forward"] = p_connect
    if exc_weight_nS is not None:
        params["weight_nS"]["exc"] = exc_weight_nS
    if inh_weight_nS is not None:
        params["weight_nS"]["inh"] = inh_weight_nS
    if tstop_ms is not None:
        params["run"]["tstop_ms"] = tstop_ms
    spec = CircuitSpec(topology=topology, params=params, weight_scale=weight_scale, seed=seed)
    validate(spec, str(params_file))
    return spec


def check_fields(params: dict, origin: str) -> None:
    """Every field of :data:`SCHEMA` is present (nested ones as objects with their keys).

    Raises
    ------
    CircuitError
        Naming the first missing field and the fields a parameter file needs.
    """
    check_sections(params, SCHEMA, f"{origin} (see studies/circuits/circuit.json)", CircuitError)


def _number(value, name: str, lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> float:
    return check_number(value, name, lo, hi, lo_open, error=CircuitError)


def validate(spec: CircuitSpec, origin: str = "circuit") -> None:
    """Check every value the builder and the run use.

    Raises
    ------
    CircuitError
        Naming the field (or option) and the valid values.
    """
    if spec.topology not in TOPOLOGIES:
        raise CircuitError(f"unknown topology {spec.topology!r}: --topology must be one of {', '.join(TOPOLOGIES)}.")
    p = spec.params
    n = p.get("n_cells")
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise CircuitError(f"--n (n_cells) must be a positive whole number of neurons, got {n!r}.")
    _number(p["fraction_exc"], f"{origin}: fraction_exc", 0.0, 1.0, lo_open=True)
    sizes = spec.population_sizes()
    n_layers = int(p["layered"]["n_layers"]) if spec.topology == "layered" else 1
    if min(sizes.values()) < n_layers:
        raise CircuitError(f"--n {n} gives {sizes['e']} E and {sizes['i']} I cells: too few for {n_layers} "
                           f"layer(s) with at least one E and one I cell each; use --n >= "
                           f"{math.ceil(n_layers / min(p['fraction_exc'], 1 - p['fraction_exc']))}.")
    for key, value in p["connection_probability"].items():
        _number(value, f"connection probability {key} (--p-connect)", 0.0, 1.0)
    _number(p["layered"]["p_forward"], "layered.p_forward (--p-connect)", 0.0, 1.0)
    _number(p["layered"]["n_layers"], f"{origin}: layered.n_layers", 1)
    _number(spec.weight_scale, "--weight-scale", 0.0)
    _number(spec.seed, "--seed", 0)
    for key in ("exc", "inh"):
        _number(p["weight_nS"][key], f"weight_nS.{key} (--{key}-weight-ns)", 0.0)
    _number(p["drive"]["rate_hz"], f"{origin}: drive.rate_hz", 0.0)
    _number(p["drive"]["weight_nS"], f"{origin}: drive.weight_nS", 0.0)
    dt = _number(p["run"]["dt_ms"], f"{origin}: run.dt_ms", 0.0, lo_open=True)
    _number(p["run"]["tstop_ms"], "--tstop-ms (run.tstop_ms)", 0.0, lo_open=True)
    delay = _number(p["delay_ms"], f"{origin}: delay_ms", dt)
    if abs(delay / dt - round(delay / dt)) > 1e-9:
        raise CircuitError(f"{origin}: delay_ms {delay} must be a multiple of run.dt_ms {dt}.")
    unknown = sorted(set(p["synapse"]) - set(NEST_NAMES))
    if unknown:
        raise CircuitError(f"{origin}: unknown synapse parameter(s) {unknown}; valid: {sorted(NEST_NAMES)}.")
    for key in ("tau_syn_ex_ms", "tau_syn_in_ms"):
        _number(p["synapse"][key], f"{origin}: synapse.{key}", 0.0, lo_open=True)
    if spec.topology == "ring":
        width = _number(p["ring"]["width"], f"{origin}: ring.width", 0.0, 0.5, lo_open=True)
        for key, value in p["connection_probability"].items():
            peak = ring_peak_probability(value, width)
            if peak > 1.0:
                raise CircuitError(f"ring.width {width} is too narrow for connection probability {key} = {value}: "
                                   f"the probability at distance 0 would be {peak:.3g} > 1; widen the ring kernel "
                                   "or lower the probability.")
    try:
        load_model(p["neuron"])
    except NeuronError as err:
        raise CircuitError(f"{origin}: neuron: {err}") from err
