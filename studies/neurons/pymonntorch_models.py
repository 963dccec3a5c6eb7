"""The single-neuron models on PymoNNtorch: LIF, exponential LIF and AdEx as behaviours, equations as in the textbook.

Gerstner, Kistler, Naud & Paninski (2014), *Neuronal Dynamics*, ch. 1.3 (leaky integrate-and-fire), ch. 5.2
(exponential integrate-and-fire) and ch. 6.1 (adaptive exponential integrate-and-fire, AdEx)::

    tau_m du/dt = -(u - u_rest) + Delta_T exp((u - theta_rh) / Delta_T) - R w + R I(t)
    tau_w dw/dt = a (u - u_rest) - w + b tau_w sum_f delta(t - t_f)
    if u >= theta_reset:  u <- u_r,  w <- w + b,  and u stays at u_r for the absolute refractory period t_ref

The LIF is the first and last terms of the first line, firing at ``theta``; the exponential LIF adds the exponential
term and fires (the spike is cut) at ``theta_reset``; AdEx adds the adaptation current ``w``. Each term is one
behaviour (:class:`Leak`, :class:`ExponentialTerm`, :class:`Adaptation`, ...) of a PymoNNtorch ``NeuronGroup``; the
membrane equation is integrated by the forward Euler method (:class:`EulerStep`) on a grid of ``dt`` ms, in float64.

Units: mV, ms, pA, nS and GOhm (= mV / pA), so that ``R I`` is in mV. Parameters come from the study's
``studies/neurons/params/*.json`` (NEST's names and units) through :data:`TRANSLATION`, the one table at the
boundary; a NEST parameter the table neither reads nor lists in :data:`NOT_MODELLED` is refused.
"""

from __future__ import annotations

import numpy as np
import torch
from pymonntorch import Behavior, Network, NeuronGroup

from .models import NeuronError, NeuronModel, nest_parameters

DTYPE = torch.float64

#: NEST model -> textbook symbol -> expression in NEST's parameter names (NEST units; the result in mV, ms, pA, nS,
#: GOhm). ``iaf_cond_exp``'s synaptic conductances are absent: the single-neuron study gives no synaptic input.
TRANSLATION: dict[str, dict[str, str]] = {
    "iaf_psc_delta": {"u_rest": "E_L", "u_r": "V_reset", "theta": "V_th", "tau_m": "tau_m", "R": "tau_m / C_m",
                      "t_ref": "t_ref", "I_e": "I_e", "u_0": "V_m"},
    "iaf_psc_exp": {"u_rest": "E_L", "u_r": "V_reset", "theta": "V_th", "tau_m": "tau_m", "R": "tau_m / C_m",
                    "t_ref": "t_ref", "I_e": "I_e", "u_0": "V_m"},
    "iaf_cond_exp": {"u_rest": "E_L", "u_r": "V_reset", "theta": "V_th", "tau_m": "C_m / g_L", "R": "1 / g_L",
                     "t_ref": "t_ref", "I_e": "I_e", "u_0": "V_m"},
    "aeif_cond_exp": {"u_rest": "E_L", "u_r": "V_reset", "theta_rh": "V_th", "Delta_T": "Delta_T",
                      "theta_reset": "V_peak", "tau_m": "C_m / g_L", "R": "1 / g_L", "a": "a", "b": "b",
                      "tau_w": "tau_w", "t_ref": "t_ref", "I_e": "I_e", "u_0": "V_m", "w_0": "w"},
}

#: NEST parameters of those models that act only through synapses, which the single-neuron study has none of.
NOT_MODELLED = frozenset({"tau_syn_ex", "tau_syn_in", "E_ex", "E_in", "g_ex", "g_in", "gsl_error_tol"})


def textbook_parameters(model: NeuronModel) -> dict[str, float]:
    """The model's parameters as textbook symbols (:data:`TRANSLATION`), NEST's defaults filling what it leaves out.

    Raises
    ------
    NeuronError
        For a NEST model without a translation (the valid ones are named), or a parameter set in the model that the
        PymoNNtorch version would ignore.
    """
    table = TRANSLATION.get(model.nest_model)
    if table is None:
        raise NeuronError(f"--simulator pymonntorch: model {model.name} is NEST's {model.nest_model}, which has no "
                          f"PymoNNtorch version; valid NEST models are {sorted(TRANSLATION)} (--simulator nest runs "
                          "every model).")
    read = {name for expression in table.values() for name in compile(expression, "<translation>", "eval").co_names}
    ignored = sorted(set(model.params) - read - NOT_MODELLED)
    if ignored:
        raise NeuronError(f"--simulator pymonntorch: model {model.name} sets {ignored}, which the PymoNNtorch "
                          f"{model.nest_model} does not model; it reads {sorted(read)}.")
    nest_values = {**{k: v for k, v in nest_parameters(model.nest_model).items() if isinstance(v, float)},
                   **model.params}
    return {symbol: float(eval(expression, {"__builtins__": {}}, nest_values))  # noqa: S307 (the table's own text)
            for symbol, expression in table.items()}


class TimeStep(Behavior):
    """Time ``t`` (ms) of the group, advanced by ``dt`` (ms) at every iteration (PymoNNtorch's own ``Clock`` takes
    sympy unit strings and prints)."""

    def initialize(self, neurons: NeuronGroup) -> None:
        super().initialize(neurons)
        neurons.dt = self.parameter("dt", required=True)
        neurons.t = 0.0

    def forward(self, neurons: NeuronGroup) -> None:
        neurons.t += neurons.dt


class InputCurrent(Behavior):
    """The injected current ``I`` (pA): row ``k`` of ``waveform`` (steps x neurons, or steps x 1) during step ``k``,
    plus the bias ``I_e`` (pA)."""

    def initialize(self, neurons: NeuronGroup) -> None:
        super().initialize(neurons)
        self.waveform = torch.as_tensor(self.parameter("waveform", required=True), dtype=DTYPE, device=self.device)
        self.bias = torch.as_tensor(self.parameter("I_e", 0.0), dtype=DTYPE, device=self.device)
        neurons.I = neurons.vector(0.0, dtype=DTYPE)

    def forward(self, neurons: NeuronGroup) -> None:
        neurons.I = self.waveform[neurons.iteration - 1] + self.bias


class Leak(Behavior):
    """The leaky membrane: ``du/dt = (-(u - u_rest) + R I) / tau_m``; ``u`` starts at ``u_0`` (mV)."""

    def initialize(self, neurons: NeuronGroup) -> None:
        super().initialize(neurons)
        for name in ("u_rest", "R", "tau_m"):
            setattr(self, name, self.parameter(name, required=True, tensor=True, object=neurons))
        neurons.u = neurons.vector(0.0, dtype=DTYPE) + self.parameter("u_0", required=True, tensor=True,
                                                                      object=neurons)
        neurons.du_dt = neurons.vector(0.0, dtype=DTYPE)

    def forward(self, neurons: NeuronGroup) -> None:
        neurons.du_dt = (-(neurons.u - self.u_rest) + self.R * neurons.I) / self.tau_m


class ExponentialTerm(Behavior):
    """The spike initiation of the exponential LIF: ``du/dt += Delta_T exp((u - theta_rh) / Delta_T) / tau_m``.

    As in NEST's ``aeif`` models, ``u`` in the exponent is capped at ``theta_reset`` (the exponential cannot overflow
    within the step that crosses it).
    """

    def initialize(self, neurons: NeuronGroup) -> None:
        super().initialize(neurons)
        for name in ("Delta_T", "theta_rh", "theta_reset", "tau_m"):
            setattr(self, name, self.parameter(name, required=True, tensor=True, object=neurons))

    def forward(self, neurons: NeuronGroup) -> None:
        u = torch.minimum(neurons.u, self.theta_reset)
        neurons.du_dt = neurons.du_dt + self.Delta_T * torch.exp((u - self.theta_rh) / self.Delta_T) / self.tau_m


class Adaptation(Behavior):
    """The adaptation current ``w`` (pA): ``du/dt -= R w / tau_m``; ``tau_w dw/dt = a (u - u_rest) - w``, integrated
    here by one Euler step from the same ``u`` as the membrane (``w`` starts at ``w_0``)."""

    def initialize(self, neurons: NeuronGroup) -> None:
        super().initialize(neurons)
        for name in ("a", "tau_w", "u_rest", "R", "tau_m"):
            setattr(self, name, self.parameter(name, required=True, tensor=True, object=neurons))
        neurons.w = neurons.vector(0.0, dtype=DTYPE) + self.parameter("w_0", 0.0, tensor=True, object=neurons)

    def forward(self, neurons: NeuronGroup) -> None:
        neurons.du_dt = neurons.du_dt - self.R * neurons.w / self.tau_m
        neurons.w = neurons.w + neurons.dt * (self.a * (neurons.u - self.u_rest) - neurons.w) / self.tau_w


class EulerStep(Behavior):
    """``u <- u + dt du/dt``, except during the absolute refractory period, when ``u`` stays at its reset value."""

    def initialize(self, neurons: NeuronGroup) -> None:
        super().initialize(neurons)
        neurons.refractory_steps = neurons.vector(0, dtype=torch.int64)

    def forward(self, neurons: NeuronGroup) -> None:
        free = neurons.refractory_steps == 0
        neurons.u = torch.where(free, neurons.u + neurons.dt * neurons.du_dt, neurons.u)
        neurons.refractory_steps = torch.clamp(neurons.refractory_steps - 1, min=0)


class FireAndReset(Behavior):
    """A spike where ``u >= threshold`` (``theta`` of the LIF, ``theta_reset`` of the exponential models):
    ``u <- u_r``, and ``u`` is held there for ``t_ref`` ms (``round(t_ref / dt)`` steps)."""

    def initialize(self, neurons: NeuronGroup) -> None:
        super().initialize(neurons)
        self.threshold = self.parameter("threshold", required=True, tensor=True, object=neurons)
        self.u_r = self.parameter("u_r", required=True, tensor=True, object=neurons)
        t_ref = torch.as_tensor(self.parameter("t_ref", 0.0), dtype=DTYPE, device=self.device)
        self.refractory = torch.round(t_ref / neurons.dt).to(torch.int64)
        neurons.spike = neurons.vector(0.0, dtype=torch.bool)

    def forward(self, neurons: NeuronGroup) -> None:
        neurons.spike = neurons.u >= self.threshold
        neurons.u = torch.where(neurons.spike, self.u_r, neurons.u)
        neurons.refractory_steps = torch.where(neurons.spike, self.refractory, neurons.refractory_steps)


class SpikeTriggeredAdaptation(Behavior):
    """The jump of the adaptation current at each spike: ``w <- w + b`` (pA)."""

    def initialize(self, neurons: NeuronGroup) -> None:
        super().initialize(neurons)
        self.b = self.parameter("b", required=True, tensor=True, object=neurons)

    def forward(self, neurons: NeuronGroup) -> None:
        neurons.w = torch.where(neurons.spike, neurons.w + self.b, neurons.w)


class SpikeRecorder(Behavior):
    """Every spike as (iteration, neuron index), from iteration ``start`` on."""

    def initialize(self, neurons: NeuronGroup) -> None:
        super().initialize(neurons)
        self.start = self.parameter("start", 0)
        self.events: list[torch.Tensor] = []

    def forward(self, neurons: NeuronGroup) -> None:
        if neurons.iteration >= self.start and bool(neurons.spike.any()):
            index = torch.nonzero(neurons.spike).flatten()
            self.events.append(torch.stack([torch.full_like(index, neurons.iteration), index], dim=1))

    def times_ms(self, n: int, dt_ms: float) -> list[np.ndarray]:
        """Spike times (ms, the end of the step of each spike) of each of the ``n`` neurons."""
        if not self.events:
            return [np.array([]) for _ in range(n)]
        ev = torch.cat(self.events).cpu().numpy()
        ev = ev[np.lexsort((ev[:, 0], ev[:, 1]))]
        return np.split(ev[:, 0] * dt_ms, np.cumsum(np.bincount(ev[:, 1], minlength=n))[:-1])


class StateRecorder(Behavior):
    """``u`` (mV), ``I`` (pA) and, if present, ``w`` (pA) after every iteration, into preallocated tensors
    (PymoNNtorch's own ``Recorder`` concatenates at every step, which costs time quadratic in the run length)."""

    def initialize(self, neurons: NeuronGroup) -> None:
        super().initialize(neurons)
        steps = self.parameter("steps", required=True)
        self.names = [name for name in ("u", "I", "w") if hasattr(neurons, name)]
        self.data = {name: torch.zeros((steps, neurons.size), dtype=DTYPE, device=self.device) for name in self.names}

    def forward(self, neurons: NeuronGroup) -> None:
        for name in self.names:
            self.data[name][neurons.iteration - 1] = getattr(neurons, name)


def behaviours(params: dict[str, float | np.ndarray], dt_ms: float, waveform: np.ndarray,
               adaptive: bool) -> dict[int, Behavior]:
    """The behaviours of one model, in the order they run at every step.

    Parameters
    ----------
    params : dict
        Textbook symbol -> value (a number or one value per neuron), as :func:`textbook_parameters` gives them.
    dt_ms : float
        Integration step (ms).
    waveform : numpy.ndarray
        Injected current (pA) per step, shape (steps,) or (steps, neurons).
    adaptive : bool
        Whether the model has the exponential term and the adaptation current (``aeif``) or is a LIF.
    """
    p = params
    waveform = np.asarray(waveform, float)
    waveform = waveform[:, None] if waveform.ndim == 1 else waveform
    membrane = {"u_rest": p["u_rest"], "R": p["R"], "tau_m": p["tau_m"], "u_0": p["u_0"]}
    plan: dict[int, Behavior] = {1: TimeStep(dt=dt_ms), 2: InputCurrent(waveform=waveform, I_e=p["I_e"]),
                                 3: Leak(**membrane)}
    if adaptive:
        plan[4] = ExponentialTerm(Delta_T=p["Delta_T"], theta_rh=p["theta_rh"], theta_reset=p["theta_reset"],
                                  tau_m=p["tau_m"])
        plan[5] = Adaptation(a=p["a"], tau_w=p["tau_w"], u_rest=p["u_rest"], R=p["R"], tau_m=p["tau_m"], w_0=p["w_0"])
    plan[6] = EulerStep()
    plan[7] = FireAndReset(threshold=p["theta_reset"] if adaptive else p["theta"], u_r=p["u_r"], t_ref=p["t_ref"])
    if adaptive:
        plan[8] = SpikeTriggeredAdaptation(b=p["b"])
    return plan


def simulate(models: list[NeuronModel], waveform: np.ndarray, dt_ms: float, i_e_pa: np.ndarray | None = None,
             record_state: bool = False, record_from_step: int = 0,
             device: str = "cpu") -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Simulate one neuron per model (one ``NeuronGroup``, parameters per neuron) under ``waveform``.

    Parameters
    ----------
    models : list of NeuronModel
        All LIF (``iaf_*``) or all ``aeif``.
    waveform : numpy.ndarray
        Injected current (pA) per step: shape (steps,) for all neurons, or (steps, neurons).
    dt_ms : float
        Integration step (ms).
    i_e_pa : numpy.ndarray, optional
        Constant current (pA) of each neuron, replacing the models' ``I_e``; with one model, one neuron per value.
    record_state : bool
        Whether to record ``u``, ``I`` (and ``w``) at every step.
    record_from_step : int
        Spikes before this step are not recorded.
    device : str
        torch device (``cpu``, ``cuda``).

    Returns
    -------
    spikes_ms : list of numpy.ndarray
        Spike times (ms) of each neuron.
    state : dict
        ``u``, ``I`` (and ``w``) as (steps, neurons) arrays, empty unless ``record_state``.
    """
    if len({m.adaptive for m in models}) != 1:
        raise NeuronError("one PymoNNtorch group holds LIF models or aeif models, not both: "
                          f"got {sorted({m.nest_model for m in models})}.")
    rows = [textbook_parameters(m) for m in models]
    params = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    size = len(models)
    if i_e_pa is not None:
        size = len(i_e_pa) if len(models) == 1 else len(models)
        params = {k: np.broadcast_to(v, size).copy() for k, v in params.items()}
        params["I_e"] = np.asarray(i_e_pa, float)
    steps = int(np.shape(waveform)[0])
    plan = behaviours(params, dt_ms, waveform, adaptive=models[0].adaptive)
    plan[20] = SpikeRecorder(start=record_from_step)
    if record_state:
        plan[21] = StateRecorder(steps=steps)
    net = Network(dtype=DTYPE, device=device)
    group = NeuronGroup(size, net=net, behavior=plan, tag="neurons")
    net.initialize(info=False)
    with torch.no_grad():
        for _ in range(steps):
            net.simulate_iteration()
    spikes = group.behavior[20].times_ms(size, dt_ms)
    state = ({k: v.cpu().numpy() for k, v in group.behavior[21].data.items()} if record_state else {})
    return spikes, state
