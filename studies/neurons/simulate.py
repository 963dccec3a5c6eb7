"""Single-neuron simulations on NEST: a trace under one input, f-I curves and the rheobase.

Every function starts from a fresh NEST kernel (``nest.ResetKernel``) and is reproducible from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.kernel import fresh_kernel

from .models import NeuronModel
from .stimuli import Stimulus

TRACE_RESOLUTION_MS = 0.05
FI_RESOLUTION_MS = 0.01
FI_WARMUP_MS = 500.0
FI_MEASURE_MS = 2000.0


def _kernel(resolution_ms: float, seed: int = 0):
    return fresh_kernel(resolution_ms, threads=1, rng_seed=int(seed) + 1)


@dataclass
class Trace:
    """A simulated trace: ``table`` (time_ms, v_mv, i_pa[, w_pa]) and spike times (ms)."""

    table: pd.DataFrame
    spikes_ms: np.ndarray


def trace(model: NeuronModel, stimulus: Stimulus, duration_ms: float, seed: int = 0,
          resolution_ms: float = TRACE_RESOLUTION_MS) -> Trace:
    """Membrane potential, input current (and adaptation current) of ``model`` under ``stimulus``.

    Parameters
    ----------
    model : NeuronModel
    stimulus : Stimulus
    duration_ms : float
        Simulated time (ms).
    seed : int
        NEST's random seed (the noise).
    resolution_ms : float
        Time step and sampling interval (ms).

    Returns
    -------
    Trace

    Raises
    ------
    NeuronError
        On an input the generators cannot make.
    """
    stimulus.check(duration_ms)
    nest = _kernel(resolution_ms, seed)
    neuron = nest.Create(model.nest_model, params=model.params)
    generator_model, generator_params = stimulus.nest_generator(duration_ms, resolution_ms)
    generator = nest.Create(generator_model, params=generator_params)
    nest.Connect(generator, neuron, syn_spec={"delay": resolution_ms})  # NEST's default delay is 1 ms
    record = ["V_m", "w"] if model.adaptive else ["V_m"]
    meter = nest.Create("multimeter", params={"record_from": record, "interval": resolution_ms})
    current = nest.Create("multimeter", params={"record_from": ["I"], "interval": resolution_ms})
    recorder = nest.Create("spike_recorder")
    nest.Connect(meter, neuron)
    nest.Connect(current, generator)
    nest.Connect(neuron, recorder)
    nest.Simulate(duration_ms)
    ev = meter.events
    times = np.round(ev["times"] / resolution_ms).astype(np.int64)
    table = pd.DataFrame({"time_ms": ev["times"], "v_mv": ev["V_m"]})
    if model.adaptive:
        table["w_pa"] = ev["w"]
    cur = current.events
    # the neuron receives the generator's current one step (the connection delay) after the generator emits it
    i_by_step = pd.Series(cur["I"], index=np.round(cur["times"] / resolution_ms).astype(np.int64) + 1)
    table.insert(2, "i_pa", i_by_step.groupby(level=0).last().reindex(times).fillna(0.0).to_numpy())
    return Trace(table, np.asarray(recorder.events["times"], float))


def constant_current_spikes(model: NeuronModel, currents_pa: np.ndarray, warmup_ms: float = FI_WARMUP_MS,
                            measure_ms: float = FI_MEASURE_MS,
                            resolution_ms: float = FI_RESOLUTION_MS) -> list[np.ndarray]:
    """Spike times (ms) after ``warmup_ms`` of one neuron per constant current (its ``I_e``), in one NEST kernel."""
    currents_pa = np.asarray(currents_pa, float)
    nest = _kernel(resolution_ms)
    neurons = nest.Create(model.nest_model, len(currents_pa), params=model.params)
    neurons.set([{"I_e": float(i)} for i in currents_pa])
    recorder = nest.Create("spike_recorder", params={"start": warmup_ms})
    nest.Connect(neurons, recorder)
    nest.Simulate(warmup_ms + measure_ms)
    ev = recorder.events
    index = np.asarray(ev["senders"]) - neurons[0].global_id
    times = np.asarray(ev["times"], float)
    return [np.sort(times[index == k]) for k in range(len(currents_pa))]


def steady_rates(model: NeuronModel, currents_pa: np.ndarray, warmup_ms: float = FI_WARMUP_MS,
                 measure_ms: float = FI_MEASURE_MS, resolution_ms: float = FI_RESOLUTION_MS) -> np.ndarray:
    """Steady-state firing rate (Hz) under each constant current (:func:`constant_current_spikes`).

    The rate is 1 / mean ISI of the spikes in the ``measure_ms`` after the warm-up (the spike count / ``measure_ms``
    when fewer than 2 spikes fall in it).
    """
    trains = constant_current_spikes(model, currents_pa, warmup_ms, measure_ms, resolution_ms)
    return np.array([1000.0 / np.diff(t).mean() if len(t) >= 2 else 1000.0 * len(t) / measure_ms for t in trains])


def fi_curve(model: NeuronModel, currents_pa: np.ndarray) -> pd.DataFrame:
    """The f-I curve: ``current_pa``, ``rate_hz`` (:func:`steady_rates`)."""
    return pd.DataFrame({"current_pa": currents_pa, "rate_hz": steady_rates(model, currents_pa)})


def rheobase(model: NeuronModel, low_pa: float, high_pa: float, rounds: int = 4, per_round: int = 16,
             measure_ms: float = FI_MEASURE_MS) -> float:
    """The smallest constant current (pA) giving repetitive firing (>= 2 spikes in ``measure_ms`` after the warm-up),
    found by refining [``low_pa``, ``high_pa``] ``rounds`` times on grids of ``per_round`` neurons.

    Returns NaN when ``high_pa`` does not make the model fire.
    """
    def fires(currents: np.ndarray) -> np.ndarray:
        return np.array([len(t) >= 2 for t in constant_current_spikes(model, currents, measure_ms=measure_ms)])

    lo, hi = float(low_pa), float(high_pa)
    if not fires(np.array([hi]))[0]:
        return np.nan
    for _ in range(rounds):
        grid = np.linspace(lo, hi, per_round)
        k = int(np.argmax(fires(grid)))
        lo, hi = (grid[k - 1], grid[k]) if k > 0 else (lo, grid[0])
    return hi
