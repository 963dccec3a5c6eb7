"""NEST and PymoNNtorch checking each other, and both against the closed forms.

``python -m studies.neurons crosscheck --out DIR`` writes the four comparisons below as CSV files and
``crosscheck.md``; ``tests/test_neurons_pymonntorch_models.py`` asserts the same comparisons' tolerances.

``fi``
    Steady rates (Hz, 1 / mean ISI after a 500 ms warm-up) of both simulators at dt 0.01 ms, on currents around
    each model's rheobase (:func:`fi_currents`), with the LIF closed form where one exists
    (:func:`studies.neurons.theory.lif_rate`).
``rheobase``
    The exponential LIF's rheobase measured on both against g_L (V_T - E_L - Delta_T).
``traces``
    A 300 ms current step (100-400 ms of 500 ms) on both at dt 0.01 ms; PymoNNtorch's step starts one step later,
    as NEST's generator reaches its neuron through a connection of one step's delay, so that both neurons receive
    the same current on the same steps. Spike counts, the first spike's difference, the largest interspike-interval
    difference (ms and relative) and the largest difference of V before the first spike (mV).
``patterns``
    The eight Naud et al. 2008 patterns, each simulator at its own trace step (:data:`RESOLUTION_MS`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .models import NeuronModel, load_model
from .patterns import run_patterns
from .simulate import FI_MEASURE_MS, RESOLUTION_MS, rheobase, steady_rates, trace
from .stimuli import Stimulus
from .theory import eif_rheobase, lif_rate, lif_rheobase

SECTIONS = ("fi", "rheobase", "traces", "patterns")
FI_CASES = (("lif", 2.0), ("lif", 0.0), ("lif_cond", 2.0), ("PV", None), ("elif", 2.0), ("elif", 0.0),
            ("adex", 2.0), ("adex", 0.0))
TRACE_CASES = (("lif", 700.0), ("lif", 300.0), ("lif_cond", 700.0), ("elif", 700.0), ("adex", 1500.0),
               ("VIP", 300.0))
TRACE_H_MS = 0.01
#: The tolerances the tests hold the comparisons to.
FI_RTOL = 0.01
RHEOBASE_RTOL = 0.005
TRACE_V_MV = 0.02
TRACE_ISI_RTOL, TRACE_ISI_STEPS = 0.005, 5


def fi_currents(model: NeuronModel) -> np.ndarray:
    """Currents (pA) of the f-I comparison: multiples of a LIF's rheobase (two below it), or 300-2000 pA for the
    ``aeif`` models, close above their rheobases (exponential LIF 546 pA, AdEx about 627 pA) and below them."""
    if model.adaptive:
        return np.array([300.0, 540.0, 560.0, 600.0, 640.0, 700.0, 800.0, 1200.0, 2000.0])
    return lif_rheobase(model) * np.array([0.5, 0.99, 1.05, 1.2, 1.5, 2.0, 3.0, 5.0])


def compare_fi(name: str, t_ref_ms: float | None, measure_ms: float = FI_MEASURE_MS) -> pd.DataFrame:
    """Both simulators' steady rates on :func:`fi_currents`, and the closed form (NaN for the ``aeif`` models).

    Returns
    -------
    pandas.DataFrame
        ``model``, ``t_ref_ms``, ``current_pa``, ``nest_hz``, ``pymonntorch_hz``, ``closed_form_hz``,
        ``rel_nest`` (PymoNNtorch / NEST - 1) and ``rel_closed_form`` (PymoNNtorch / closed form - 1); NaN where
        the reference is 0.
    """
    model = load_model(name, t_ref_ms=t_ref_ms)
    currents = fi_currents(model)
    nest_hz = steady_rates(model, currents, measure_ms=measure_ms)
    torch_hz = steady_rates(model, currents, measure_ms=measure_ms, simulator="pymonntorch")
    closed = np.full(len(currents), np.nan) if model.adaptive else lif_rate(model, currents)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_nest = np.where(nest_hz > 0, torch_hz / nest_hz - 1.0, np.nan)
        rel_closed = np.where(closed > 0, torch_hz / closed - 1.0, np.nan)
    return pd.DataFrame({"model": name, "t_ref_ms": model.params.get("t_ref", 0.0), "current_pa": currents,
                         "nest_hz": nest_hz, "pymonntorch_hz": torch_hz, "closed_form_hz": closed,
                         "rel_nest": rel_nest, "rel_closed_form": rel_closed})


def compare_rheobase(measure_ms: float = FI_MEASURE_MS) -> pd.DataFrame:
    """The exponential LIF's rheobase (pA) on both simulators, refined to 0.1 / 32**2 of +-5% around the closed
    form, against it."""
    model = load_model("elif")
    theory = eif_rheobase(model)
    rows = [{"simulator": sim, "closed_form_pa": theory,
             "measured_pa": rheobase(model, 0.95 * theory, 1.05 * theory, rounds=2, per_round=33,
                                     measure_ms=measure_ms, simulator=sim)} for sim in ("nest", "pymonntorch")]
    table = pd.DataFrame(rows)
    return table.assign(rel=table.measured_pa / table.closed_form_pa - 1.0)


def compare_trace(name: str, amp_pa: float, h_ms: float = TRACE_H_MS) -> dict:
    """The step-trace comparison of one model (module docstring); spike-time measures are NaN without spikes."""
    model = load_model(name)
    stim = Stimulus("step", amp_pa=amp_pa, start_ms=100.0, stop_ms=400.0)
    nest_tr = trace(model, stim, 500.0, resolution_ms=h_ms)
    torch_tr = trace(model, replace(stim, start_ms=100.0 + h_ms, stop_ms=400.0 + h_ms), 500.0,
                     resolution_ms=h_ms, simulator="pymonntorch")
    nest_t = nest_tr.table
    torch_t = torch_tr.table.iloc[: len(nest_t)]  # NEST's multimeter leaves out the sample at the run's end
    a, b = nest_tr.spikes_ms, torch_tr.spikes_ms
    first = a[0] if len(a) else np.inf
    early = nest_t.time_ms.to_numpy() < first - 0.5
    out = {"model": name, "amp_pa": amp_pa, "h_ms": h_ms, "spikes_nest": len(a), "spikes_pymonntorch": len(b),
           "same_current": bool(np.array_equal(nest_t.i_pa.to_numpy(), torch_t.i_pa.to_numpy())),
           "max_dv_before_first_spike_mv": float(np.abs(nest_t.v_mv.to_numpy() - torch_t.v_mv.to_numpy())[early].max()),
           "first_spike_diff_ms": np.nan, "max_isi_diff_ms": np.nan, "max_isi_rel": np.nan}
    if len(a) and len(a) == len(b):
        isi_a, isi_b = np.diff(a), np.diff(b)
        out.update(first_spike_diff_ms=float(b[0] - a[0]))
        if len(isi_a):
            out.update(max_isi_diff_ms=float(np.abs(isi_b - isi_a).max()),
                       max_isi_rel=float((np.abs(isi_b - isi_a) / isi_a).max()))
    return out


def compare_patterns() -> pd.DataFrame:
    """The Naud et al. 2008 classification on both simulators: ``pattern``, ``nest``, ``pymonntorch`` and the
    spike counts."""
    runs = {sim: run_patterns(simulator=sim) for sim in ("nest", "pymonntorch")}
    return pd.DataFrame([{"pattern": str(row.pattern), "nest": m["pattern"], "pymonntorch": t["pattern"],
                          "spikes_nest": m["n_spikes"], "spikes_pymonntorch": t["n_spikes"]}
                         for (row, _, _, m), (_, _, _, t) in zip(runs["nest"], runs["pymonntorch"], strict=True)])


def run(sections: tuple[str, ...] = SECTIONS, measure_ms: float = FI_MEASURE_MS) -> dict[str, pd.DataFrame]:
    """The comparisons named in ``sections``, each a table."""
    tables: dict[str, pd.DataFrame] = {}
    if "fi" in sections:
        tables["fi"] = pd.concat([compare_fi(n, t, measure_ms) for n, t in FI_CASES], ignore_index=True)
    if "rheobase" in sections:
        tables["rheobase"] = compare_rheobase(measure_ms)
    if "traces" in sections:
        tables["traces"] = pd.DataFrame([compare_trace(n, a) for n, a in TRACE_CASES])
    if "patterns" in sections:
        tables["patterns"] = compare_patterns()
    return tables


def _number(value: float, spec: str) -> str:
    return "-" if np.isnan(value) else format(value, spec)


def render(tables: dict[str, pd.DataFrame], measure_ms: float) -> str:
    """The comparisons as Markdown, one short table each."""
    lines = ["# NEST against PymoNNtorch: the single-neuron study", "",
             f"Steps: f-I and traces at 0.01 ms on both; patterns NEST {RESOLUTION_MS['nest'][0]:g} ms, PymoNNtorch "
             f"{RESOLUTION_MS['pymonntorch'][0]:g} ms. PymoNNtorch: forward Euler, float64.", ""]
    fi = tables.get("fi")
    if fi is not None:
        lines += [f"## f-I ({measure_ms:g} ms counted after 500 ms)", "",
                  "| model | t_ref ms | currents | firing | max abs(PymoNNtorch/NEST - 1) | "
                  "max abs(PymoNNtorch/closed form - 1) | max abs(NEST/closed form - 1) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for (name, t_ref), g in fi.groupby(["model", "t_ref_ms"], sort=False):
            nest_closed = (g.nest_hz / g.closed_form_hz - 1.0)[g.closed_form_hz > 0].abs().max()
            closed = "-" if g.closed_form_hz.isna().all() else f"{g.rel_closed_form.abs().max():.2%}"
            nest_c = "-" if g.closed_form_hz.isna().all() else f"{nest_closed:.2%}"
            lines.append(f"| {name} | {t_ref:g} | {len(g)} | {int((g.nest_hz > 0).sum())} | "
                         f"{g.rel_nest.abs().max():.2%} | {closed} | {nest_c} |")
        lines.append("")
    rh = tables.get("rheobase")
    if rh is not None:
        lines += ["## Exponential LIF rheobase", "", "| simulator | measured pA | closed form pA | relative |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {r.simulator} | {r.measured_pa:.2f} | {r.closed_form_pa:.2f} | {r.rel:+.3%} |"
                  for r in rh.itertuples()]
        lines.append("")
    tr = tables.get("traces")
    if tr is not None:
        lines += ["## Step traces (0.01 ms on both)", "",
                  "| model | step pA | spikes NEST / PymoNNtorch | first spike diff ms | max ISI diff ms (rel) | "
                  "max V diff before the first spike mV |", "|---|---:|---|---:|---:|---:|"]
        lines += [f"| {r.model} | {r.amp_pa:g} | {r.spikes_nest} / {r.spikes_pymonntorch} | "
                  f"{_number(r.first_spike_diff_ms, '+.2f')} | {_number(r.max_isi_diff_ms, '.2f')} "
                  f"({_number(r.max_isi_rel, '.2%')}) | {r.max_dv_before_first_spike_mv:.4f} |"
                  for r in tr.itertuples()]
        lines.append("")
    pat = tables.get("patterns")
    if pat is not None:
        agree = int((pat.nest == pat.pymonntorch).sum())
        lines += [f"## Naud et al. 2008 patterns: {agree} of {len(pat)} classified the same", "",
                  "| pattern | NEST | PymoNNtorch | spikes NEST / PymoNNtorch |", "|---|---|---|---|"]
        lines += [f"| {r.pattern} | {r.nest} | {r.pymonntorch} | {r.spikes_nest} / {r.spikes_pymonntorch} |"
                  for r in pat.itertuples()]
        lines.append("")
    return "\n".join(lines)
