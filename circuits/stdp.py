"""Spike-timing-dependent plasticity on NEST: the pairing window, and unsupervised digit learning after Diehl & Cook.

Two studies of NEST's pair-based ``stdp_synapse`` (parameters in ``circuits/stdp.json``, units in the names):

- :func:`stdp_window` -- the rule itself. Pre/post spike pairs at fixed time differences, one fresh synapse per
  difference, give the weight change per pair, which is compared with the closed form
  :func:`window_closed_form`: ``a_plus exp(-dt/tau_plus)`` for ``dt > 0`` and ``-a_minus exp(dt/tau_minus)`` for
  ``dt < 0``, where NEST's ``dt`` is ``t_post - t_pre + delay`` (the delay is dendritic).
- :func:`run_stdp` -- learning, in the manner of Diehl & Cook 2015: the 64 pixels fire Poisson spikes
  (:func:`circuits.digits.poisson_schedule`) into parrot neurons that reach an excitatory layer of ``iaf_cond_exp``
  neurons through ``stdp_synapse``; each excitatory neuron drives its own inhibitory neuron, which inhibits all the
  other excitatory neurons. Between images, from Python, each neuron's threshold rises per spike by ``theta_plus_mV``
  x N / ``theta_reference_neurons`` for a layer of N neurons (decaying with ``tau_theta_ms``) and its input weights
  are rescaled to a fixed sum. After training the weights and thresholds are frozen (static synapses), every training
  image is shown once more and each neuron is labelled with the class it answers most (mean spike count per image of
  the class); a test image is classified by the class whose labelled neurons fire most on average. Test images are
  used for nothing but the final score.

:func:`size_series` repeats :func:`run_stdp` over network sizes. Every random draw comes from one master seed through
the named streams of :func:`common.seeds.stream`, so the same seed gives the same numbers.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.files import check_replaceable, run_folder, write_result
from common.kernel import fresh_kernel
from common.params import check_number, check_sections
from common.seeds import stream
from simulation.config import read_json
from studies.neurons.models import load_model

from .digits import (
    N_CLASSES,
    N_PIXELS,
    RESULT_KEYS,
    Schedule,
    Split,
    confusion,
    count_spikes,
    load_split,
    logistic_baseline,
    poisson_schedule,
    predict,
    stratified_subset,
)
from .figures import plot_accuracy_vs_size, plot_confusion, plot_receptive_fields, plot_stdp_window
from .params import CircuitError

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
#: Silence (ms) before the spike that applies the potentiation NEST still holds at the end of training.
FLUSH_WAIT_MS = 500.0
POST_MODELS = ("parrot", "lif_cond")


# --------------------------------------------------------------------------------------------------- parameters


def read_stdp_params(path: Path = STDP_FILE) -> dict:
    """The STDP parameter file, checked field by field.

    Parameters
    ----------
    path : Path
        JSON file (default ``circuits/stdp.json``).

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


def _kernel(dt_ms: float, seed: int, threads: int = 1):
    return fresh_kernel(dt_ms, threads=threads,
                        rng_seed=int(np.random.default_rng(stream(seed, "stdp_nest")).integers(1, 2**31 - 1)))


# ------------------------------------------------------------------------------------------------------ window


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
        STDP parameters (default: ``circuits/stdp.json``); the rule is ``plasticity``, the protocol ``window``.
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
    nest = _kernel(step, seed)
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


# ----------------------------------------------------------------------------------------------------- network


@dataclass
class Learned:
    """What training leaves: the input weights and the thresholds' rise.

    Attributes
    ----------
    weights_nS : ndarray, shape (neurons, 64)
        Input -> excitatory weights (nS), row per neuron, column per pixel.
    theta_mV : ndarray, shape (neurons,)
        Adaptive rise of each threshold above ``V_th`` (mV).
    presentations : int
        Images shown during training, repeats included.
    simulated_ms : float
        Simulated time of training (ms).
    spikes_per_image : ndarray, optional
        Excitatory spikes evoked by each training image's last showing, in the order shown.
    """

    weights_nS: np.ndarray
    theta_mV: np.ndarray
    presentations: int = 0
    simulated_ms: float = 0.0
    spikes_per_image: np.ndarray | None = None


class _Network:
    """The NEST network: generators -> parrots -> excitatory layer <-> inhibitory partners, and a spike recorder."""

    def __init__(self, params: dict, weights_nS: np.ndarray, theta_mV: np.ndarray, plastic: bool, seed: int,
                 threads: int = 1):
        enc, inh = params["encoding"], params["inhibition"]
        self.params = params
        self.nest = nest = _kernel(enc["dt_ms"], seed, threads)
        self.dt_ms = float(enc["dt_ms"])
        n = len(theta_mV)
        cell = neuron_params(params)
        self.v_th_mV = cell["V_th"]
        self.generators = nest.Create("spike_generator", N_PIXELS)
        self.inputs = nest.Create("parrot_neuron", N_PIXELS)
        self.exc = nest.Create("iaf_cond_exp", n, params=cell)
        self.inh = nest.Create("iaf_cond_exp", n, params=cell)
        self.exc.set([{"V_th": v} for v in (self.v_th_mV + np.asarray(theta_mV, dtype=float)).tolist()])
        nest.Connect(self.generators, self.inputs, "one_to_one", {"delay": self.dt_ms})
        syn = stdp_synapse_params(params) if plastic else {"synapse_model": "static_synapse"}
        nest.Connect(self.inputs, self.exc, "all_to_all",
                     {**syn, "weight": np.asarray(weights_nS, dtype=float), "delay": params["plasticity"]["delay_ms"]})
        nest.Connect(self.exc, self.inh, "one_to_one", {"weight": float(inh["e_to_i_nS"]), "delay": inh["delay_ms"]})
        if n > 1:
            src, tgt = np.nonzero(~np.eye(n, dtype=bool))
            nest.Connect(np.asarray(self.inh.tolist())[src], np.asarray(self.exc.tolist())[tgt], "one_to_one",
                         {"weight": np.full(len(src), -float(inh["i_to_e_nS"])),
                          "delay": np.full(len(src), float(inh["delay_ms"]))})
        self.recorder = nest.Create("spike_recorder")
        nest.Connect(self.exc, self.recorder)
        self.first_exc = self.exc[0].global_id
        self.first_input = self.inputs[0].global_id
        self.now_ms = 0.0

    def simulate(self, duration_ms: float) -> None:
        """Advance NEST by ``duration_ms`` (kept here too: reading NEST's clock is slow)."""
        self.nest.Simulate(duration_ms)
        self.now_ms += duration_ms

    def _synapses(self, neurons: np.ndarray | None):
        """The input synapses of ``neurons`` (default all) with their row (neuron) and column (pixel) indices."""
        targets = self.exc if neurons is None else self.exc[np.asarray(neurons).tolist()]
        conns = self.nest.GetConnections(self.inputs, targets)
        status = _connection_status(conns)
        row = np.fromiter((d["target"] for d in status), np.int64, len(status)) - self.first_exc
        if neurons is not None:
            position = np.full(len(self.exc), -1)
            position[np.asarray(neurons)] = np.arange(len(neurons))
            row = position[row]
        pixel = np.fromiter((d["source"] for d in status), np.int64, len(status)) - self.first_input
        return conns, row, pixel, np.fromiter((d["weight"] for d in status), float, len(status))

    def weights(self, neurons: np.ndarray | None = None) -> np.ndarray:
        """Input weights (nS) of ``neurons`` (default all), shape (len, 64)."""
        _, row, pixel, weight = self._synapses(neurons)
        out = np.zeros((len(self.exc) if neurons is None else len(neurons), N_PIXELS))
        out[row, pixel] = weight
        return out

    def normalise(self, neurons: np.ndarray, total_nS: float, w_max_nS: float) -> None:
        """Rescale the input weights of ``neurons`` to sum to ``total_nS`` (see :func:`_normalise`)."""
        conns, row, pixel, weight = self._synapses(neurons)
        current = np.zeros((len(neurons), N_PIXELS))
        current[row, pixel] = weight
        _set_connection_weights(conns, _normalise(current, total_nS, w_max_nS)[row, pixel])

    def present(self, schedule: Schedule) -> None:
        """Load the schedule's spike times into the generators (times after now)."""
        self.generators.set([{"spike_times": t} for t in schedule.times_ms])

    def take_spikes(self) -> tuple[np.ndarray, np.ndarray]:
        """Recorded excitatory spikes (times ms, neuron index) since the last call."""
        events = self.recorder.events
        times = np.asarray(events["times"], dtype=float)
        senders = np.asarray(events["senders"], dtype=np.int64) - self.first_exc
        self.recorder.n_events = 0
        return times, senders


# NEST 3.10's SynapseCollection.get/set ask for the whole kernel status on every call, and that call slows down
# with every Simulate of a connected network (measured: 0.2 ms at the start, 30 ms after 80 images). The loop over
# images therefore reads and writes synapses through NEST's low-level API, which is what get/set call in the end.


def _connection_status(conns) -> list[dict]:
    """Status dicts of the synapses in ``conns`` (``SynapseCollection.get`` without the kernel-status check)."""
    from nest import nestkernel_api

    return nestkernel_api.llapi_get_connection_status(conns._datum)


def _set_connection_weights(conns, weights_nS: np.ndarray) -> None:
    """Set the weight of each synapse in ``conns`` (``SynapseCollection.set`` without the kernel-status check)."""
    from nest import nestkernel_api

    nestkernel_api.llapi_set_connection_status(conns._datum, [{"weight": float(w)} for w in weights_nS])


def _normalise(weights_nS: np.ndarray, total_nS: float, w_max_nS: float) -> np.ndarray:
    """Rows rescaled to sum ``total_nS``, then clipped to ``[0, w_max_nS]``."""
    sums = weights_nS.sum(axis=1, keepdims=True)
    scaled = np.where(sums > 0, weights_nS * total_nS / np.where(sums > 0, sums, 1.0), total_nS / N_PIXELS)
    return np.clip(scaled, 0.0, w_max_nS)


def initial_weights(neurons: int, params: dict, rng: np.random.Generator) -> np.ndarray:
    """Uniform in ``[0, w_init_max_nS]``, each row normalised to ``weight_sum_nS`` (nS, shape (neurons, 64))."""
    learn = params["learning"]
    w = rng.uniform(0.0, learn["w_init_max_nS"], (neurons, N_PIXELS))
    return _normalise(w, learn["weight_sum_nS"], params["plasticity"]["w_max_nS"])


def theta_plus_mV(params: dict, neurons: int) -> float:
    """Threshold increment per spike (mV) of a layer of ``neurons``: ``theta_plus_mV`` x neurons / reference.

    Each neuron wins about 1/N of the images, so its spikes over an epoch, and the threshold they build up, fall as
    1/N at a fixed increment; scaling the increment with N keeps the threshold a neuron reaches over an epoch
    independent of the layer size (``theta_plus_mV`` is tuned at ``theta_reference_neurons``).

    Examples
    --------
    >>> theta_plus_mV({"learning": {"theta_plus_mV": 0.05, "theta_reference_neurons": 100}}, 25)
    0.0125
    """
    learn = params["learning"]
    return float(learn["theta_plus_mV"]) * neurons / float(learn["theta_reference_neurons"])


def train(images: np.ndarray, neurons: int, epochs: int, params: dict, seed: int, threads: int = 1,
          progress: bool | None = None) -> Learned:
    """Unsupervised training of the excitatory layer on ``images`` (labels are not used).

    Each epoch shows every image once, in a fresh random order, for ``presentation_ms`` then ``rest_ms`` of silence.
    After each image, from Python: thresholds ``theta += theta_plus x spikes`` (decaying with ``tau_theta_ms``),
    ``theta_plus = theta_plus_mV x neurons / theta_reference_neurons`` (see :func:`theta_plus_mV`),
    and the input weights of every neuron that fired in this image or the previous one rescaled to sum to
    ``weight_sum_nS`` (all neurons every ``normalise_all_every`` images and at the end). An image that evoked fewer
    than ``min_spikes`` spikes is shown again with all rates ``rate_step_hz`` higher (up to ``max_repeats`` times).

    Parameters
    ----------
    images : ndarray, shape (n, 64)
        Pixel intensities in [0, 1].
    neurons : int
        Excitatory neurons (and as many inhibitory ones).
    epochs : int
        Passes through ``images``.
    params : dict
        STDP parameters (see ``circuits/stdp.json``).
    seed : int
        Master seed (streams ``stdp_weights``, ``stdp_order``, ``stdp_train_input``, ``stdp_nest``).
    threads : int
        NEST threads.
    progress : bool or None
        Progress bar (None: only on a terminal).

    Returns
    -------
    Learned
    """
    enc, learn, plast = params["encoding"], params["learning"], params["plasticity"]
    weights = initial_weights(neurons, params, np.random.default_rng(stream(seed, "stdp_weights")))
    theta = np.zeros(neurons)
    order_rng = np.random.default_rng(stream(seed, "stdp_order"))
    input_rng = np.random.default_rng(stream(seed, "stdp_train_input"))
    net = _Network(params, weights, theta, plastic=True, seed=seed, threads=threads)
    slot = enc["presentation_ms"] + enc["rest_ms"]
    decay = math.exp(-slot / learn["tau_theta_ms"])
    increment = theta_plus_mV(params, neurons)
    every = int(learn["normalise_all_every"])
    all_neurons = np.arange(neurons)
    previous = np.zeros(0, dtype=int)
    presentations = 0
    totals: list[int] = []
    disable = None if progress is None else not progress
    for epoch in range(epochs):
        order = order_rng.permutation(len(images))
        for i in tqdm(order, desc=f"STDP epoch {epoch + 1}/{epochs}", unit="image", disable=disable, leave=False):
            rate = enc["max_rate_hz"]
            for _ in range(int(enc["max_repeats"]) + 1):
                schedule = poisson_schedule(images[i:i + 1], rate, enc["presentation_ms"], enc["rest_ms"],
                                            enc["dt_ms"], input_rng, start_ms=net.now_ms + enc["dt_ms"])
                net.present(schedule)
                net.simulate(slot)
                presentations += 1
                _, senders = net.take_spikes()
                counts = np.bincount(senders, minlength=neurons)
                theta = theta * decay + increment * counts
                net.exc.set([{"V_th": v} for v in (net.v_th_mV + theta).tolist()])
                fired = np.flatnonzero(counts)
                if (presentations % every) == 0:
                    touched = all_neurons
                else:
                    touched = np.union1d(fired, previous)
                if len(touched):
                    net.normalise(touched, learn["weight_sum_nS"], plast["w_max_nS"])
                previous = fired
                if counts.sum() >= enc["min_spikes"]:
                    break
                rate += enc["rate_step_hz"]
            totals.append(int(counts.sum()))
    # a lone spike of every input after a long silence applies the potentiation NEST still holds
    net.generators.set([{"spike_times": [round((net.now_ms + FLUSH_WAIT_MS) / net.dt_ms) * net.dt_ms]}] * N_PIXELS)
    net.simulate(FLUSH_WAIT_MS + 2 * net.dt_ms + plast["delay_ms"])
    weights = _normalise(net.weights(), learn["weight_sum_nS"], plast["w_max_nS"])
    return Learned(weights, theta, presentations, net.now_ms, np.asarray(totals))


def respond(learned: Learned, images: np.ndarray, params: dict, seed: int, stream_name: str, threads: int = 1,
            progress: bool | None = None, desc: str = "images") -> np.ndarray:
    """Spike counts of the frozen network (static synapses, fixed thresholds) to ``images``.

    All images are shown one after another; those that evoked fewer than ``min_spikes`` spikes are shown again,
    at rates ``rate_step_hz`` higher, up to ``max_repeats`` times, and their last showing counts.

    Parameters
    ----------
    learned : Learned
    images : ndarray, shape (n, 64)
    params : dict
    seed : int
        Master seed.
    stream_name : str
        The random stream of the input spikes (e.g. ``stdp_label_input``, ``stdp_test_input``).
    threads : int
    progress : bool or None
    desc : str
        Label of the progress bar.

    Returns
    -------
    ndarray of int, shape (n, neurons)
    """
    enc = params["encoding"]
    rng = np.random.default_rng(stream(seed, stream_name))
    net = _Network(params, learned.weights_nS, learned.theta_mV, plastic=False, seed=seed, threads=threads)
    node_ids = np.arange(len(learned.theta_mV))
    counts = np.zeros((len(images), len(node_ids)), dtype=np.int64)
    todo = np.arange(len(images))
    rate = enc["max_rate_hz"]
    disable = None if progress is None else not progress
    for attempt in range(int(enc["max_repeats"]) + 1):
        schedule = poisson_schedule(images[todo], rate, enc["presentation_ms"], enc["rest_ms"], enc["dt_ms"], rng,
                                    start_ms=net.now_ms + enc["dt_ms"])
        net.present(schedule)
        chunk = 50
        label = desc if attempt == 0 else f"{desc} (repeat {attempt}, {rate:g} Hz)"
        with tqdm(total=len(todo), desc=label, unit="image", disable=disable, leave=False) as bar:
            for start in range(0, len(todo), chunk):
                shown = min(chunk, len(todo) - start)
                net.simulate(shown * schedule.slot_ms)
                bar.update(shown)
        times, senders = net.take_spikes()
        counts[todo] = count_spikes(times, senders, node_ids, schedule)
        todo = todo[counts[todo].sum(axis=1) < enc["min_spikes"]]
        if not len(todo):
            break
        rate += enc["rate_step_hz"]
    return counts


def assign_labels(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each neuron's class: the one with the highest mean spike count per image of that class; -1 if it never fired.

    Examples
    --------
    >>> assign_labels(np.array([[3, 0, 0], [0, 1, 0]]), np.array([0, 1])).tolist()
    [0, 1, -1]
    """
    counts = np.asarray(counts, dtype=float)
    labels = np.asarray(labels)
    means = np.stack([counts[labels == c].mean(axis=0) if (labels == c).any() else np.zeros(counts.shape[1])
                      for c in range(N_CLASSES)])
    return np.where(means.max(axis=0) > 0, means.argmax(axis=0), -1)


def vote(counts: np.ndarray, assignments: np.ndarray) -> np.ndarray:
    """Predicted class per image: the class whose labelled neurons fire most on average; -1 if none fired or tied.

    Examples
    --------
    >>> vote(np.array([[4, 0, 1], [0, 0, 0]]), np.array([2, 5, 5])).tolist()
    [2, -1]
    """
    counts = np.asarray(counts, dtype=float)
    scores = np.zeros((len(counts), N_CLASSES))
    for c in range(N_CLASSES):
        mine = assignments == c
        if mine.any():
            scores[:, c] = counts[:, mine].mean(axis=1)
    return predict(scores)


def _subset(split: Split, train_per_class: int | None, test_per_class: int | None, seed: int) -> Split:
    rng = np.random.default_rng(stream(seed, "stdp_subset"))
    train = np.arange(len(split.y_train)) if train_per_class is None else \
        np.sort(stratified_subset(split.y_train, train_per_class, rng))
    test = np.arange(len(split.y_test)) if test_per_class is None else \
        np.sort(stratified_subset(split.y_test, test_per_class, rng))
    return Split(split.x_train[train], split.y_train[train], split.x_test[test], split.y_test[test],
                 split.train_index[train], split.test_index[test], split.seed)


def evaluate(learned: Learned, split: Split, params: dict, seed: int, threads: int = 1,
             progress: bool | None = None) -> dict:
    """Label the neurons on the training images, then classify the training and the test images by their votes.

    Returns
    -------
    dict
        ``assignments`` (class per neuron, -1 silent), ``train_counts``, ``test_counts``, ``train_pred``,
        ``test_pred``, ``train_accuracy``, ``test_accuracy`` (fractions; "no answer" counts as wrong).
    """
    train_counts = respond(learned, split.x_train, params, seed, "stdp_label_input", threads, progress, "labelling")
    assignments = assign_labels(train_counts, split.y_train)
    test_counts = respond(learned, split.x_test, params, seed, "stdp_test_input", threads, progress, "testing")
    train_pred, test_pred = vote(train_counts, assignments), vote(test_counts, assignments)
    return {"assignments": assignments, "train_counts": train_counts, "test_counts": test_counts,
            "train_pred": train_pred, "test_pred": test_pred,
            "train_accuracy": float(np.mean(train_pred == split.y_train)),
            "test_accuracy": float(np.mean(test_pred == split.y_test))}


def check_run_options(neurons: int, epochs: int, seed: int, threads: int = 1) -> None:
    """Refuse non-positive ``neurons``, ``epochs``, ``threads`` and a negative ``seed``.

    Raises
    ------
    CircuitError
    """
    for name, value, low in (("--neurons", neurons, 1), ("--epochs", epochs, 1), ("--threads", threads, 1),
                             ("--seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise CircuitError(f"{name} must be a whole number >= {low}, got {value!r}.")


def run_stdp(out_dir: Path, neurons: int | None = None, epochs: int | None = None, seed: int = 0,
             force: bool = False, params: dict | None = None, threads: int = 1, figures: bool = True,
             train_per_class: int | None = None, test_per_class: int | None = None,
             progress: bool | None = None) -> dict:
    """Train, label and test the STDP network on the digits; write the figures and ``result.json`` to ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Output folder (created; an existing non-empty one only with ``force``).
    neurons, epochs : int, optional
        Excitatory neurons and training epochs (default: ``defaults`` of ``circuits/stdp.json``).
    seed : int
        Master seed: the split (:func:`circuits.digits.load_split`), initial weights, image order, Poisson inputs.
    force : bool
        Replace a non-empty ``out_dir``.
    params : dict, optional
        STDP parameters (default: ``circuits/stdp.json``).
    threads : int
        NEST threads (the same seed gives the same numbers for the same thread count).
    figures : bool
        Write ``window.png``, ``receptive_fields.png`` and ``confusion.png``.
    train_per_class, test_per_class : int, optional
        Use a stratified subset of the training / test images (for quick runs; default all).
    progress : bool or None
        Progress bars (None: only on a terminal).

    Returns
    -------
    dict
        The contents of ``result.json``: ``train_accuracy``, ``test_accuracy``, ``logistic_baseline``, ``seed``,
        ``wall_s``, the window check and the parameters.

    Raises
    ------
    CircuitError
        On bad options or parameters, or a non-empty ``out_dir`` without ``force`` (nothing is written then).
    """
    start = time.perf_counter()
    params = read_stdp_params() if params is None else copy.deepcopy(params)
    check_stdp_params(params)
    neurons = int(params["defaults"]["neurons"]) if neurons is None else neurons
    epochs = int(params["defaults"]["epochs"]) if epochs is None else epochs
    check_run_options(neurons, epochs, seed, threads)
    for name, value in (("train_per_class", train_per_class), ("test_per_class", test_per_class)):
        if value is not None and (not isinstance(value, int | np.integer) or value < 1):
            raise CircuitError(f"{name} must be a whole number >= 1, got {value!r}.")
    out_dir = Path(out_dir)
    check_replaceable(out_dir, force)

    window = stdp_window(params, seed=seed)
    split = _subset(load_split(seed), train_per_class, test_per_class, seed)
    baseline = logistic_baseline(split)
    learned = train(split.x_train, neurons, epochs, params, seed, threads, progress)
    scores = evaluate(learned, split, params, seed, threads, progress)
    matrix = confusion(split.y_test, scores["test_pred"])
    assignments = scores["assignments"]

    per_class = np.bincount(assignments[assignments >= 0], minlength=N_CLASSES)
    with run_folder(out_dir, force=True) as tmp:  # checked for --force above, before the training
        np.savez_compressed(tmp / "learned.npz", weights_nS=learned.weights_nS, theta_mV=learned.theta_mV,
                            assignments=assignments, train_counts=scores["train_counts"],
                            test_counts=scores["test_counts"], train_index=split.train_index,
                            test_index=split.test_index, test_pred=scores["test_pred"], confusion=matrix)
        files = ["learned.npz"]
        if figures:
            lif_window = stdp_window(params, post="lif_cond", seed=seed)
            plot_stdp_window([window, lif_window], tmp / "window.png")
            plot_receptive_fields(learned.weights_nS, assignments, tmp / "receptive_fields.png",
                                  title=f"{neurons} neurons, {epochs} epoch(s), seed {seed}")
            plot_confusion(matrix, tmp / "confusion.png",
                           title=f"STDP network, {neurons} neurons: test accuracy {scores['test_accuracy']:.1%}")
            files += ["window.png", "receptive_fields.png", "confusion.png"]
        result = {
            "method": "unsupervised STDP (Diehl & Cook 2015), neurons labelled by their most frequent digit",
            "neurons": neurons, "epochs": epochs, "seed": seed, "threads": threads,
            "train_accuracy": scores["train_accuracy"], "test_accuracy": scores["test_accuracy"],
            "no_answer_fraction_test": float(np.mean(scores["test_pred"] < 0)),
            "logistic_regression": baseline, "chance": 1.0 / N_CLASSES,
            "n_train": len(split.y_train), "n_test": len(split.y_test),
            "neurons_per_class": per_class.tolist(), "silent_neurons": int(np.sum(assignments < 0)),
            "theta_mV": {"mean": float(learned.theta_mV.mean()), "max": float(learned.theta_mV.max())},
            "training_presentations": learned.presentations, "training_simulated_s": learned.simulated_ms / 1000.0,
            "confusion": matrix.tolist(), "confusion_columns": [*map(str, range(N_CLASSES)), "none"],
            "window": window.as_dict(), "files": files,
            "neuron_model": "iaf_cond_exp (lif_cond membrane); thresholds and weight normalisation set from Python "
                            "between images",
            "params": params,
            "wall_s": time.perf_counter() - start,
        }
        write_result(tmp, result, RESULT_KEYS)
    return result


def size_series(out_dir: Path, sizes: list[int], epochs: int | None = None, seed: int = 0, force: bool = False,
                params: dict | None = None, threads: int = 1, figures: bool = True,
                train_per_class: int | None = None, test_per_class: int | None = None,
                progress: bool | None = None) -> pd.DataFrame:
    """Accuracy against network size: :func:`run_stdp` for each size into ``out_dir/n<size>/``.

    Writes ``out_dir/sizes.csv`` (``neurons, epochs, train_accuracy, test_accuracy, wall_s``),
    ``out_dir/accuracy_vs_size.png`` and, last, ``out_dir/result.json`` (the table and the logistic baseline).

    Parameters
    ----------
    out_dir : Path
    sizes : list of int
        Numbers of excitatory neurons (each >= 1, distinct).
    epochs, seed, force, params, threads, figures, train_per_class, test_per_class, progress
        As :func:`run_stdp`.

    Returns
    -------
    pandas.DataFrame
        The table of ``sizes.csv``.
    """
    start = time.perf_counter()
    sizes = [int(s) for s in sizes]
    if not sizes or len(set(sizes)) != len(sizes):
        raise CircuitError(f"--sizes must list distinct network sizes, got {sizes}.")
    params = read_stdp_params() if params is None else params
    check_stdp_params(params)
    epochs = int(params["defaults"]["epochs"]) if epochs is None else epochs
    for size in sizes:
        check_run_options(size, epochs, seed, threads)
    out_dir = Path(out_dir)
    check_replaceable(out_dir, force)
    rows, baseline = [], None
    with run_folder(out_dir, force=True) as tmp:
        for size in sizes:
            result = run_stdp(tmp / f"n{size}", size, epochs, seed, force=True, params=params, threads=threads,
                              figures=figures, train_per_class=train_per_class, test_per_class=test_per_class,
                              progress=progress)
            baseline = result["logistic_regression"]
            rows.append({key: result[key] for key in ("neurons", "epochs", "train_accuracy", "test_accuracy",
                                                      "no_answer_fraction_test", "wall_s")})
        table = pd.DataFrame(rows)
        table.to_csv(tmp / "sizes.csv", index=False)
        files = ["sizes.csv", *[f"n{s}/" for s in sizes]]
        if figures:
            plot_accuracy_vs_size(table, tmp / "accuracy_vs_size.png", baseline=baseline["test_accuracy"])
            files.append("accuracy_vs_size.png")
        write_result(tmp, {"sizes": rows, "epochs": epochs, "seed": seed, "logistic_regression": baseline,
                           "files": files, "wall_s": time.perf_counter() - start})
    return table
