"""Spike-timing-dependent plasticity on NEST, the rule itself: the pairing window against its closed form.

NEST's pair-based ``stdp_synapse`` (parameters in ``studies/digits/stdp.json``, units in the names; read and checked
here for both STDP studies): pre/post spike pairs at fixed time differences, one fresh synapse per difference, give the
weight change per pair (:func:`stdp_window`), which is compared with the closed form :func:`window_closed_form`:
``a_plus exp(-dt/tau_plus)`` for ``dt > 0`` and ``-a_minus exp(dt/tau_minus)`` for ``dt < 0``, where NEST's ``dt`` is
``t_post - t_pre + delay`` (the delay is dendritic). Every random draw comes from one master seed through the named
streams of :func:`common.seeds.stream`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.files import read_json
from common.kernel import fresh_kernel
from common.params import check_number, check_sections
from common.seeds import stream
from studies.circuits.params import CircuitError
from studies.neurons.models import load_model

from .digits import (
    N_PIXELS,
)

STDP_FILE = Path(__file__).resolve().parent / "stdp.json"


#: Sections of stdp.json and their numeric fields (each section also has a "source" string).
SCHEMA = {
    "plasticity": ("tau_plus_ms", "tau_minus_ms", "a_plus_nS", "a_minus_nS", "w_max_nS", "delay_ms"),
    "window": ("dt_min_ms", "dt_max_ms", "dt_step_ms", "n_pairs", "pair_interval_ms", "delay_ms", "dt_ms",
               "w_start_nS", "teacher_pA", "teacher_ms"),
    "encoding": ("max_rate_hz", "presentation_ms", "rest_ms", "dt_ms", "min_spikes", "rate_step_hz", "max_repeats"),
    "neuron": ("tau_syn_ex_ms", "tau_syn_in_ms", "E_ex_mV", "E_in_mV"),
    "inhibition": ("e_to_i_nS", "i_to_e_nS", "delay_ms"),
    "learning": ("weight_sum_nS", "w_init_max_nS", "theta_plus_mV", "theta_reference_neurons", "tau_theta_ms",
                 "normalise_all_every"),
    "defaults": ("neurons", "epochs"),
}


#: Fields that may be zero or negative (all others must be > 0).
SIGNED = {"dt_min_ms", "dt_max_ms", "E_ex_mV", "E_in_mV", "a_minus_nS", "theta_plus_mV", "max_repeats"}


#: Fields that must be whole numbers.
WHOLE = {"n_pairs", "min_spikes", "max_repeats", "normalise_all_every", "neurons", "epochs",
         "theta_reference_neurons"}


POST_MODELS = ("parrot", "lif_cond")


def read_stdp_params(path: Path = STDP_FILE) -> dict:
    """The STDP parameter file, checked field by field.

    Parameters
    ----------
    path : Path
        JSON file (default ``studies/digits/stdp.json``).

    Returns
    -------
    dict
        Its contents.

    Raises
    ------
    CircuitError
        If the file cannot be read, or a field is missing or out of range (named).
    """
    params = read_json(path, CircuitError, "STDP parameter file")
    check_stdp_params(params, str(path))
    return params


def check_stdp_params(params: dict, origin: str = "stdp parameters") -> None:
    """Check every field of :data:`SCHEMA` (present, finite, positive unless signed, whole where counted).

    Raises
    ------
    CircuitError
        Naming the first bad field and what it must be.
    """
    check_sections(params, SCHEMA, origin, CircuitError)
    for section, keys in SCHEMA.items():
        for key in keys:
            check_number(params[section][key], f"{origin}: {section}.{key}", lo=None if key in SIGNED else 0.0,
                         lo_open=key not in SIGNED, whole=key in WHOLE, error=CircuitError)
    for key in ("a_minus_nS", "theta_plus_mV", "max_repeats"):
        section = next(s for s, keys in SCHEMA.items() if key in keys)
        if params[section][key] < 0:
            raise CircuitError(f"{origin}: {section}.{key} must be >= 0, got {params[section][key]}.")
    win, enc = params["window"], params["encoding"]
    if not win["dt_min_ms"] < win["dt_max_ms"]:
        raise CircuitError(f"{origin}: window.dt_min_ms must be < window.dt_max_ms.")
    if win["pair_interval_ms"] <= 2 * max(abs(win["dt_min_ms"]), abs(win["dt_max_ms"])) + win["delay_ms"]:
        raise CircuitError(f"{origin}: window.pair_interval_ms must exceed twice the largest |dt|.")
    for section, step_key in (("window", "dt_ms"), ("encoding", "dt_ms")):
        step = params[section][step_key]
        for key in ("delay_ms",) if section == "window" else ("presentation_ms", "rest_ms"):
            value = params[section][key]
            if value < step or abs(value / step - round(value / step)) > 1e-9:
                raise CircuitError(f"{origin}: {section}.{key} ({value}) must be a multiple of {section}.dt_ms.")
    for section in ("plasticity", "inhibition"):
        delay = params[section]["delay_ms"]
        if delay < enc["dt_ms"] or abs(delay / enc["dt_ms"] - round(delay / enc["dt_ms"])) > 1e-9:
            raise CircuitError(f"{origin}: {section}.delay_ms ({delay}) must be a multiple of encoding.dt_ms.")
    plast = params["plasticity"]
    reach = win["n_pairs"] * max(plast["a_plus_nS"], plast["a_minus_nS"])
    if not reach < win["w_start_nS"] < plast["w_max_nS"] - reach:
        raise CircuitError(f"{origin}: window.w_start_nS must lie more than n_pairs x the larger amplitude "
                           f"({reach:g} nS) inside [0, plasticity.w_max_nS], so the protocol never reaches a bound.")
    if params["learning"]["weight_sum_nS"] > N_PIXELS * params["plasticity"]["w_max_nS"]:
        raise CircuitError(f"{origin}: learning.weight_sum_nS cannot exceed {N_PIXELS} x plasticity.w_max_nS.")
    if enc["rest_ms"] < params["plasticity"]["delay_ms"] + params["inhibition"]["delay_ms"] + 2 * enc["dt_ms"]:
        raise CircuitError(f"{origin}: encoding.rest_ms is too short for the responses to fall in the image's slot.")


def stdp_synapse_params(params: dict) -> dict:
    """NEST ``stdp_synapse`` parameters of ``params['plasticity']`` (additive: ``mu_plus = mu_minus = 0``)."""
    p = params["plasticity"]
    return {"synapse_model": "stdp_synapse", "tau_plus": float(p["tau_plus_ms"]),
            "lambda": p["a_plus_nS"] / p["w_max_nS"], "alpha": p["a_minus_nS"] / p["a_plus_nS"],
            "mu_plus": 0.0, "mu_minus": 0.0, "Wmax": float(p["w_max_nS"])}


def neuron_params(params: dict) -> dict:
    """NEST ``iaf_cond_exp`` parameters: the study neuron's membrane, Diehl & Cook's synapses, STDP's tau_minus."""
    n = params["neuron"]
    model = load_model(n.get("model", "lif_cond"))
    if model.nest_model != "iaf_cond_exp":
        raise CircuitError(f"neuron.model must name an iaf_cond_exp model (e.g. lif_cond), got {n.get('model')!r}.")
    return {**model.params, "tau_syn_ex": float(n["tau_syn_ex_ms"]), "tau_syn_in": float(n["tau_syn_in_ms"]),
            "E_ex": float(n["E_ex_mV"]), "E_in": float(n["E_in_mV"]),
            "tau_minus": float(params["plasticity"]["tau_minus_ms"])}


def stdp_kernel(dt_ms: float, seed: int, threads: int = 1):
    return fresh_kernel(dt_ms, threads=threads,
                        rng_seed=int(np.random.default_rng(stream(seed, "stdp_nest")).integers(1, 2**31 - 1)))


def window_closed_form(dt_ms: np.ndarray, a_plus_nS: float, a_minus_nS: float, tau_plus_ms: float,
                       tau_minus_ms: float, delay_ms: float = 0.0) -> np.ndarray:
    """Weight change per spike pair of the pair-based exponential STDP rule (nS).

    Parameters
    ----------
    dt_ms : array_like
        ``t_post - t_pre`` (ms) of the two neurons' spikes.
    a_plus_nS, a_minus_nS : float
        Amplitudes of potentiation and depression (nS).
    tau_plus_ms, tau_minus_ms : float
        Time constants of the two sides (ms).
    delay_ms : float
        Dendritic delay (ms): NEST times the pair at the synapse, ``s = dt + delay``.

    Returns
    -------
    ndarray
        ``a_plus exp(-s/tau_plus)`` for ``s > 0``, ``-a_minus exp(s/tau_minus)`` for ``s < 0``, 0 at ``s = 0``.

    Examples
    --------
    >>> window_closed_form([-20.0, 0.0, 20.0], 1.0, 0.5, 20.0, 20.0).round(4).tolist()
    [-0.1839, 0.0, 0.3679]
    """
    s = np.round(np.asarray(dt_ms, dtype=float) + delay_ms, 9)
    return np.where(s > 0, a_plus_nS * np.exp(-np.abs(s) / tau_plus_ms),
                    np.where(s < 0, -a_minus_nS * np.exp(-np.abs(s) / tau_minus_ms), 0.0))


def expected_weight_change(pre_ms: np.ndarray, post_ms: np.ndarray, a_plus_nS: float, a_minus_nS: float,
                           tau_plus_ms: float, tau_minus_ms: float, delay_ms: float = 0.0) -> float:
    """Weight change (nS) of an additive all-to-all pair-based STDP synapse for given spike trains, as NEST counts it.

    Every (pre, post) pair contributes :func:`window_closed_form` of ``t_post - t_pre`` (no clipping). NEST updates
    a weight only at presynaptic spikes, so a pair's potentiation counts only once a later presynaptic spike has
    arrived: post spikes with ``t_post + delay`` after the last presynaptic spike are left out.

    Parameters
    ----------
    pre_ms, post_ms : array_like
        Spike times of the presynaptic and postsynaptic neuron (ms).
    a_plus_nS, a_minus_nS, tau_plus_ms, tau_minus_ms, delay_ms : float
        As :func:`window_closed_form`.

    Returns
    -------
    float

    Examples
    --------
    >>> round(expected_weight_change([10.0, 200.0], [15.0], 1.0, 0.5, 20.0, 20.0), 4)  # exp(-5/20)
    0.7788
    """
    pre = np.sort(np.asarray(pre_ms, dtype=float))
    post = np.asarray(post_ms, dtype=float)
    if not len(pre):
        return 0.0
    post = post[np.round(post + delay_ms - pre[-1], 9) <= 0]
    dw = window_closed_form(post[None, :] - pre[:, None], a_plus_nS, a_minus_nS, tau_plus_ms, tau_minus_ms,
                            delay_ms)
    return float(dw.sum())


@dataclass(frozen=True)
class Window:
    """A measured STDP window beside its closed form.

    Attributes
    ----------
    dt_ms : ndarray
        Measured ``t_post - t_pre`` of each pairing (ms, from the recorded spikes).
    dw_nS : ndarray
        Measured weight change per pair (nS).
    closed_nS : ndarray
        :func:`window_closed_form` at ``dt_ms``.
    post : str
        The postsynaptic neuron: ``parrot`` or ``lif_cond``.
    delay_ms : float
        The synapse's (dendritic) delay (ms).
    rule : dict
        The closed form's parameters: ``a_plus_nS``, ``a_minus_nS``, ``tau_plus_ms``, ``tau_minus_ms``.
    """

    dt_ms: np.ndarray
    dw_nS: np.ndarray
    closed_nS: np.ndarray
    post: str
    delay_ms: float
    rule: dict

    def closed_form(self, dt_ms: np.ndarray) -> np.ndarray:
        """:func:`window_closed_form` of this window's rule at ``dt_ms`` (nS)."""
        return window_closed_form(dt_ms, delay_ms=self.delay_ms, **self.rule)

    @property
    def max_deviation_nS(self) -> float:
        """Largest ``|measured - closed form|`` (nS)."""
        return float(np.max(np.abs(self.dw_nS - self.closed_nS)))

    def as_dict(self) -> dict:
        """Summary for ``result.json``."""
        return {"post": self.post, "n_dt": len(self.dt_ms), "delay_ms": self.delay_ms,
                "dt_range_ms": [float(self.dt_ms.min()), float(self.dt_ms.max())],
                "max_abs_deviation_nS": self.max_deviation_nS,
                "max_relative_deviation": self.max_deviation_nS / self.rule["a_plus_nS"], "rule": self.rule}


def stdp_window(params: dict | None = None, dt_ms: np.ndarray | None = None, post: str = "parrot",
                seed: int = 0) -> Window:
    """Measure the STDP window with a pairing protocol on NEST's ``stdp_synapse``.

    One synapse per spike-time difference, all in one simulation: its presynaptic parrot neuron fires
    ``window.n_pairs`` times, ``window.pair_interval_ms`` apart, and the postsynaptic neuron ``dt`` later each time;
    one more presynaptic spike after the last pair applies the pending potentiation (NEST updates a weight at
    presynaptic spikes). The weight starts at ``window.w_start_nS``, inside ``[0, w_max]``, so nothing is clipped.

    Parameters
    ----------
    params : dict, optional
        STDP parameters (default: ``studies/digits/stdp.json``); the rule is ``plasticity``, the protocol ``window``.
    dt_ms : array_like, optional
        Target ``t_post - t_pre`` (ms; default ``dt_min_ms`` to ``dt_max_ms`` by ``dt_step_ms``), on the grid.
    post : {'parrot', 'lif_cond'}
        ``parrot``: a parrot neuron fires exactly when told (the plastic synapse on its receptor 1, so it does not
        repeat presynaptic spikes). ``lif_cond``: the network's ``iaf_cond_exp`` neuron, made to fire by a brief strong
        current pulse (``teacher_pA`` for ``teacher_ms``, shorter than its refractory time, so once per pair);
        ``dt`` is then measured from its recorded spikes.
    seed : int
        Seed of NEST's generator (the protocol itself draws nothing).

    Returns
    -------
    Window

    Raises
    ------
    CircuitError
        On an unknown ``post``, or if a neuron did not fire as the protocol needs.
    """
    params = read_stdp_params() if params is None else params
    if post not in POST_MODELS:
        raise CircuitError(f"post must be one of {', '.join(POST_MODELS)}, got {post!r}.")
    win, plast = params["window"], params["plasticity"]
    step = win["dt_ms"]
    if dt_ms is None:
        dt_ms = np.arange(win["dt_min_ms"], win["dt_max_ms"] + step / 2, win["dt_step_ms"])
    dt_ms = np.round(np.asarray(dt_ms, dtype=float) / step) * step
    n, n_pairs, period = len(dt_ms), int(win["n_pairs"]), win["pair_interval_ms"]
    nest = stdp_kernel(step, seed)
    t0 = period / 2 + max(0.0, -dt_ms.min())
    pre_times = t0 + period * np.arange(n_pairs + 1)  # the last one applies the pending potentiation
    pre_gen = nest.Create("spike_generator", n, params=[{"spike_times": np.round(pre_times / step) * step}] * n)
    post_gen = nest.Create("spike_generator", n, params=[
        {"spike_times": np.round((pre_times[:-1] + d) / step) * step} for d in dt_ms])
    pre = nest.Create("parrot_neuron", n)
    nest.Connect(pre_gen, pre, "one_to_one", {"delay": step})
    syn = {**stdp_synapse_params(params), "weight": float(win["w_start_nS"]), "delay": float(win["delay_ms"])}
    if post == "parrot":
        target = nest.Create("parrot_neuron", n, params={"tau_minus": float(plast["tau_minus_ms"])})
        nest.Connect(post_gen, target, "one_to_one", {"delay": step})
        nest.Connect(pre, target, "one_to_one", {**syn, "receptor_type": 1})
    else:
        target = nest.Create("iaf_cond_exp", n, params=neuron_params(params))
        # a brief strong current pulse (shorter than t_ref) fires the neuron once; the recorded spikes give dt
        onsets = [np.round((pre_times[:-1] + d) / step) * step for d in dt_ms]
        teacher = nest.Create("step_current_generator", n, params=[
            {"amplitude_times": np.sort(np.concatenate([t, t + win["teacher_ms"]])),
             "amplitude_values": np.tile([float(win["teacher_pA"]), 0.0], n_pairs)} for t in onsets])
        nest.Connect(teacher, target, "one_to_one", {"delay": step})
        nest.Connect(pre, target, "one_to_one", syn)
    recorder = nest.Create("spike_recorder")
    nest.Connect(pre + target, recorder)
    nest.Simulate(float(pre_times[-1] + 2 * step + win["delay_ms"]))
    synapses = nest.GetConnections(pre, target).get(["source", "weight"])
    weights = np.empty(n)
    weights[np.asarray(synapses["source"]) - pre[0].global_id] = synapses["weight"]
    events = recorder.events
    senders, times = np.asarray(events["senders"]), np.asarray(events["times"])
    measured = np.empty(n)
    for i in range(n):
        t_pre = np.sort(times[senders == pre[i].global_id])
        t_post = np.sort(times[senders == target[i].global_id])
        if len(t_pre) != n_pairs + 1 or len(t_post) != n_pairs:
            raise CircuitError(f"pairing at dt = {dt_ms[i]} ms: the {post} neuron fired {len(t_post)} times for "
                               f"{n_pairs} pairs (presynaptic {len(t_pre)}); the protocol needs one spike per pair.")
        measured[i] = round(float(np.mean(t_post - t_pre[:-1])), 9)
    dw = (weights - win["w_start_nS"]) / n_pairs
    rule = {key: float(plast[key]) for key in ("a_plus_nS", "a_minus_nS", "tau_plus_ms", "tau_minus_ms")}
    closed = window_closed_form(measured, delay_ms=win["delay_ms"], **rule)
    return Window(measured, dw, closed, post, float(win["delay_ms"]), rule)
