"""The four input currents of the study, as NEST current generators and as sampled waveforms (pA, ms).

NEST runs them as generators; PymoNNtorch reads :meth:`Stimulus.waveform`, the same input on the integration grid.

========  =========================  ==========================================================
input     NEST generator             parameters
========  =========================  ==========================================================
constant  ``dc_generator``           ``amp`` from ``start`` to ``stop``
step      ``step_current_generator`` 0, then ``amp`` from ``start`` to ``stop``, then 0
sine      ``ac_generator``           ``offset + amp sin(2 pi freq t)``
noise     ``noise_generator``        mean ``mean``, standard deviation ``std``, redrawn every
                                     :data:`NOISE_DT_MS` ms, from ``start`` to ``stop``
========  =========================  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .models import NeuronError

INPUTS = ("constant", "step", "sine", "noise")
NOISE_DT_MS = 1.0


@dataclass
class Stimulus:
    """One input current.

    Attributes
    ----------
    kind : str
        One of :data:`INPUTS`.
    amp_pa : float
        Constant or step amplitude, or the sine amplitude (pA).
    start_ms, stop_ms : float
        When the current is on (ms); ``stop_ms`` None: to the end.
    offset_pa : float
        Sine offset (pA).
    freq_hz : float
        Sine frequency (Hz).
    mean_pa, std_pa : float
        Noise mean and standard deviation (pA).
    """

    kind: str
    amp_pa: float = 0.0
    start_ms: float = 0.0
    stop_ms: float | None = None
    offset_pa: float = 0.0
    freq_hz: float = 10.0
    mean_pa: float = 0.0
    std_pa: float = 0.0

    def check(self, duration_ms: float) -> None:
        """Stop with a clear message on an input the generators cannot make.

        Raises
        ------
        NeuronError
            Naming the option and the valid values.
        """
        if self.kind not in INPUTS:
            raise NeuronError(f"unknown input {self.kind!r}; valid inputs are {list(INPUTS)}.")
        if not duration_ms > 0:
            raise NeuronError(f"--duration must be > 0 ms, got {duration_ms:g}.")
        if self.std_pa < 0:
            raise NeuronError(f"--std must be >= 0 pA, got {self.std_pa:g}.")
        if self.freq_hz < 0:
            raise NeuronError(f"--freq must be >= 0 Hz, got {self.freq_hz:g}.")
        stop = duration_ms if self.stop_ms is None else self.stop_ms
        if self.start_ms < 0 or stop <= self.start_ms:
            raise NeuronError(f"--start and --stop must satisfy 0 <= start < stop; got start {self.start_ms:g} ms, "
                              f"stop {stop:g} ms.")

    def nest_generator(self, duration_ms: float, resolution_ms: float) -> tuple[str, dict]:
        """NEST model name and parameters of the generator."""
        stop = duration_ms if self.stop_ms is None else min(self.stop_ms, duration_ms)
        if self.kind == "constant":
            return "dc_generator", {"amplitude": self.amp_pa, "start": self.start_ms, "stop": stop}
        if self.kind == "step":
            times, values = [max(self.start_ms, resolution_ms)], [self.amp_pa]
            if stop < duration_ms:
                times, values = [*times, stop], [*values, 0.0]
            return "step_current_generator", {"amplitude_times": times, "amplitude_values": values}
        if self.kind == "sine":
            return "ac_generator", {"amplitude": self.amp_pa, "offset": self.offset_pa, "frequency": self.freq_hz,
                                    "start": self.start_ms, "stop": stop}
        return "noise_generator", {"mean": self.mean_pa, "std": self.std_pa, "dt": max(NOISE_DT_MS, resolution_ms),
                                   "start": self.start_ms, "stop": stop}

    def waveform(self, duration_ms: float, resolution_ms: float, seed: int = 0) -> np.ndarray:
        """The current (pA) of each integration step (t - h, t], t = h, 2h, ..., ``duration_ms``.

        It is the input's value at the step's start t - h, the input being on for ``start_ms`` <= t - h <
        ``stop_ms``. (NEST's generators reach the neuron through a connection of one step's delay, so there
        the same input acts one step later.) Noise is redrawn every :data:`NOISE_DT_MS` ms from
        ``numpy.random.default_rng(seed)``: NEST's statistics, not its numbers.

        Parameters
        ----------
        duration_ms, resolution_ms : float
            Run length and step h (ms).
        seed : int
            Seed of the noise.

        Returns
        -------
        numpy.ndarray
            One value per step (pA).

        Examples
        --------
        >>> Stimulus("step", amp_pa=100.0, start_ms=0.2, stop_ms=0.4).waveform(0.6, 0.1).tolist()
        [0.0, 0.0, 100.0, 100.0, 0.0, 0.0]
        """
        steps = int(round(duration_ms / resolution_ms))
        tau = np.arange(steps) * resolution_ms
        stop = duration_ms if self.stop_ms is None else self.stop_ms
        eps = 1e-9 * resolution_ms
        on = (tau >= self.start_ms - eps) & (tau < stop - eps)
        if self.kind == "sine":
            values = self.offset_pa + self.amp_pa * np.sin(2.0 * np.pi * self.freq_hz * tau / 1000.0)
        elif self.kind == "noise":
            draw_dt = max(NOISE_DT_MS, resolution_ms)
            bins = np.floor(tau / draw_dt + eps).astype(np.int64)
            draws = np.random.default_rng(seed).normal(self.mean_pa, self.std_pa, bins[-1] + 1 if steps else 0)
            values = draws[bins]
        else:
            values = np.full(steps, self.amp_pa)
        return np.where(on, values, 0.0)

    def describe(self) -> str:
        """A short label, e.g. ``step 300 pA, 100-400 ms``."""
        window = f"{self.start_ms:g}-{'end' if self.stop_ms is None else f'{self.stop_ms:g}'} ms"
        if self.kind == "sine":
            return f"sine {self.offset_pa:g} + {self.amp_pa:g} pA at {self.freq_hz:g} Hz"
        if self.kind == "noise":
            return f"noise mean {self.mean_pa:g} pA, sd {self.std_pa:g} pA, {window}"
        return f"{self.kind} {self.amp_pa:g} pA, {window}"


def parse_currents(text: str) -> np.ndarray:
    """``START:STOP:STEP`` (pA) -> the currents, STOP included when on the grid.

    Raises
    ------
    NeuronError
        On a malformed range, a step of 0, or a step pointing away from STOP.

    Examples
    --------
    >>> parse_currents("0:100:25").tolist()
    [0.0, 25.0, 50.0, 75.0, 100.0]
    """
    try:
        start, stop, step = (float(v) for v in text.split(":"))
    except ValueError as err:
        raise NeuronError(f"--currents must be START:STOP:STEP in pA (e.g. 0:800:20), got {text!r}.") from err
    if step == 0 or not np.isfinite([start, stop, step]).all():
        raise NeuronError(f"--currents {text}: the step must be a finite non-zero number of pA.")
    if (stop - start) * step < 0:
        raise NeuronError(f"--currents {text}: a step of {step:g} pA never reaches {stop:g} pA from {start:g} pA.")
    n = int(np.floor((stop - start) / step + 1e-9)) + 1
    return start + step * np.arange(n)
