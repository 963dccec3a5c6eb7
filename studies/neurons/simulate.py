"""Single-neuron simulations: a trace under one input, f-I curves and the rheobase, on NEST or PymoNNtorch.

``simulator="nest"`` (the default) runs NEST's built-in models, each call in a fresh kernel (``nest.ResetKernel``);
``simulator="pymonntorch"`` runs the textbook equations of :mod:`studies.neurons.pymonntorch_models` (forward
Euler). Both are reproducible from their seed. Integration steps: :data:`RESOLUTION_MS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.kernel import fresh_kernel

from .models import NeuronError, NeuronModel
from .stimuli import Stimulus

SIMULATORS = ("nest", "pymonntorch")
#: simulator -> (trace step, f-I step) in ms. NEST integrates the LIF exactly and the aeif models with an adaptive
#: Runge-Kutta method inside each step; the Euler method of PymoNNtorch needs the finer trace step.
RESOLUTION_MS = {"nest": (0.05, 0.01), "pymonntorch": (0.01, 0.01)}
PYMONNTORCH_RHEOBASE_GRID = 4096
FI_WARMUP_MS = 500.0
FI_MEASURE_MS = 2000.0


def _kernel(resolution_ms: float, seed: int = 0):
    return fresh_kernel(resolution_ms, threads=1, rng_seed=int(seed) + 1)


@dataclass
class Trace:
    """A simulated trace: ``table`` (time_ms, v_mv, i_pa[, w_pa]), spike times (ms), the simulator and its step."""

    table: pd.DataFrame
    spikes_ms: np.ndarray
    simulator: str = "nest"
    resolution_ms: float = RESOLUTION_MS["nest"][0]


def check_simulator(simulator: str) -> None:
    """Stop with the valid choices on an unknown ``--simulator``.

    Raises
    ------
    NeuronError
    """
    if simulator not in SIMULATORS:
        raise NeuronError(f"unknown simulator {simulator!r}; valid simulators are {list(SIMULATORS)}.")


def trace(model: NeuronModel, stimulus: Stimulus, duration_ms: float, seed: int = 0,
          resolution_ms: float | None = None, simulator: str = "nest", device: str = "cpu") -> Trace:
    """Membrane potential, input current (and adaptation current) of ``model`` under ``stimulus``.

    Parameters
    ----------
    model : NeuronModel
    stimulus : Stimulus
    duration_ms : float
        Simulated time (ms).
    seed : int
        Random seed (the noise).
    resolution_ms : float, optional
        Time step and sampling interval (ms); default the simulator's (:data:`RESOLUTION_MS`).
    simulator : str
        ``nest`` or ``pymonntorch``.
    device : str
        torch device of PymoNNtorch (``cpu``, ``cuda``).

    Returns
    -------
    Trace

    Raises
    ------
    NeuronError
        On an input the generators cannot make, or a model the simulator does not have.
    """
    check_simulator(simulator)
    stimulus.check(duration_ms)
    resolution_ms = RESOLUTION_MS[simulator][0] if resolution_ms is None else resolution_ms
    if simulator == "pymonntorch":
        return traces([model], [stimulus], duration_ms, seed, resolution_ms, simulator, device)[0]
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
    return Trace(table, np.asarray(recorder.events["times"], float), "nest", resolution_ms)


def traces(models: list[NeuronModel], stimuli: list[Stimulus], duration_ms: float, seed: int = 0,
           resolution_ms: float | None = None, simulator: str = "nest", device: str = "cpu") -> list[Trace]:
    """One :func:`trace` per (model, stimulus) pair; PymoNNtorch runs them as one group of neurons.

    The noise of pair k has seed ``seed + k`` on PymoNNtorch; on NEST each pair is its own kernel seeded ``seed``.
    """
    check_simulator(simulator)
    resolution_ms = RESOLUTION_MS[simulator][0] if resolution_ms is None else resolution_ms
    if simulator == "nest":
        return [trace(m, s, duration_ms, seed, resolution_ms) for m, s in zip(models, stimuli, strict=True)]
    from .pymonntorch_models import simulate as simulate_torch

    for stimulus in stimuli:
        stimulus.check(duration_ms)
    # one step more than the run: the table's i_pa(t), as NEST's, is the current over the step (t, t + h]
    waveform = np.stack([s.waveform(duration_ms + resolution_ms, resolution_ms, seed + k)
                         for k, s in enumerate(stimuli)], axis=1)
    spikes, state = simulate_torch(models, waveform[:-1], resolution_ms, record_state=True, device=device)
    times = np.arange(1, waveform.shape[0]) * resolution_ms
    out = []
    for k, model in enumerate(models):
        table = pd.DataFrame({"time_ms": times, "v_mv": state["u"][:, k], "i_pa": waveform[1:, k]})
        if model.adaptive:
            table["w_pa"] = state["w"][:, k]
        out.append(Trace(table, spikes[k], simulator, resolution_ms))
    return out


def constant_current_spikes(model: NeuronModel, currents_pa: np.ndarray, warmup_ms: float = FI_WARMUP_MS,
                            measure_ms: float = FI_MEASURE_MS, resolution_ms: float | None = None,
                            simulator: str = "nest", device: str = "cpu") -> list[np.ndarray]:
    """Spike times (ms) after ``warmup_ms`` of one neuron per constant current (its ``I_e``), in one NEST kernel or
    one PymoNNtorch group (on the torch ``device``)."""
    check_simulator(simulator)
    currents_pa = np.asarray(currents_pa, float)
    resolution_ms = RESOLUTION_MS[simulator][1] if resolution_ms is None else resolution_ms
    if simulator == "pymonntorch":
        from .pymonntorch_models import simulate as simulate_torch

        steps = int(round((warmup_ms + measure_ms) / resolution_ms))
        spikes, _ = simulate_torch([model], np.zeros(steps), resolution_ms, i_e_pa=currents_pa,
                                   record_from_step=int(round(warmup_ms / resolution_ms)) + 1, device=device)
        return spikes
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
                 measure_ms: float = FI_MEASURE_MS, resolution_ms: float | None = None,
                 simulator: str = "nest") -> np.ndarray:
    """Steady-state firing rate (Hz) under each constant current (:func:`constant_current_spikes`).

    The rate is :func:`rates_hz` of the spikes in the ``measure_ms`` after the warm-up.
    """
    return rates_hz(constant_current_spikes(model, currents_pa, warmup_ms, measure_ms, resolution_ms, simulator),
                    measure_ms)


def rates_hz(trains: list[np.ndarray], measure_ms: float) -> np.ndarray:
    """Steady rate (Hz) of each spike train (ms): 1 / mean ISI, or the spike count / ``measure_ms`` when it has
    fewer than 2 spikes.

    Examples
    --------
    >>> rates_hz([np.array([10.0, 20.0, 30.0]), np.array([5.0]), np.array([])], 1000.0).tolist()
    [100.0, 1.0, 0.0]
    """
    return np.array([1000.0 / np.diff(t).mean() if len(t) >= 2 else 1000.0 * len(t) / measure_ms for t in trains])


def fi_curve(model: NeuronModel, currents_pa: np.ndarray, simulator: str = "nest",
             measure_ms: float = FI_MEASURE_MS) -> pd.DataFrame:
    """The f-I curve: ``current_pa``, ``rate_hz`` (:func:`steady_rates`)."""
    return pd.DataFrame({"current_pa": currents_pa,
                         "rate_hz": steady_rates(model, currents_pa, measure_ms=measure_ms, simulator=simulator)})


def rheobase(model: NeuronModel, low_pa: float, high_pa: float, rounds: int = 4, per_round: int = 16,
             measure_ms: float = FI_MEASURE_MS, simulator: str = "nest") -> float:
    """The smallest constant current (pA) giving repetitive firing (>= 2 spikes in ``measure_ms`` after the warm-up),
    found by refining [``low_pa``, ``high_pa``] ``rounds`` times on grids of ``per_round`` neurons. PymoNNtorch,
    whose cost is per step rather than per neuron, runs the finest grid at once: (per_round - 1) ** rounds
    intervals, at most :data:`PYMONNTORCH_RHEOBASE_GRID`.

    Returns NaN when ``high_pa`` does not make the model fire.
    """
    def fires(currents: np.ndarray) -> np.ndarray:
        trains = constant_current_spikes(model, currents, measure_ms=measure_ms, simulator=simulator)
        return np.array([len(t) >= 2 for t in trains])

    lo, hi = float(low_pa), float(high_pa)
    if simulator == "pymonntorch":
        grid = np.linspace(lo, hi, min((per_round - 1) ** rounds, PYMONNTORCH_RHEOBASE_GRID) + 1)
        firing = fires(grid)
        return float(grid[int(np.argmax(firing))]) if firing[-1] else np.nan
    if not fires(np.array([hi]))[0]:
        return np.nan
    for _ in range(rounds):
        grid = np.linspace(lo, hi, per_round)
        k = int(np.argmax(fires(grid)))
        lo, hi = (grid[k - 1], grid[k]) if k > 0 else (lo, grid[0])
    return hi
