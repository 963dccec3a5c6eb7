"""A PointNet current clamp that keeps NEST's communication interval at the network's smallest synaptic delay.

bmtk's PointNet ``IClampMod`` connects its ``step_current_generator`` to the cells with a delay of dt. NEST takes
the smallest delay of any connection as the interval at which threads exchange spikes, so one clamp turns the
interval from 0.9 ms (the smallest V1 synaptic delay) into 0.01 ms: the 10,000-cell run with a clamp took 236 s
instead of 34 s. :class:`SynapticDelayIClampMod` connects the generator with the network's smallest synaptic
delay d instead and moves every amplitude change d - dt earlier, so the current reaches the cells at exactly the
times bmtk's clamp delivers it (onset + dt); the onset must therefore come after d
(:func:`simulation.config.check_inputs` enforces it).
"""

from __future__ import annotations

import nest
from bmtk.simulator.pointnet.modules.iclamp import IClampMod


class SynapticDelayIClampMod(IClampMod):
    """bmtk's PointNet IClampMod, connected with the smallest synaptic delay of the network (see module doc)."""

    def initialize(self, sim) -> None:
        delay = max(sim.dt, nest.GetKernelStatus("min_delay"))
        shift = delay - sim.dt
        times, values = [], []
        reader = self._amp_reader
        for idx, start in enumerate(reader.delays):
            times.append(start - shift)
            values.append(reader.amps[idx])
            if reader.has_delays:
                stop = start + reader.durations[idx]
                if idx + 1 == len(reader.delays) or stop <= reader.delays[idx + 1]:
                    times.append(stop - shift)
                    values.append(0.0)
        if times and times[0] <= sim.dt:
            raise ValueError(f"current clamp onset {reader.delays[0]} ms must be later than the smallest synaptic "
                             f"delay, {delay} ms.")
        generator = nest.Create("step_current_generator",
                                params={"amplitude_times": times, "amplitude_values": values})
        cells = sim.net.get_node_set(self._node_set).gids()
        nest.Connect(generator, list(cells), syn_spec={"delay": delay})


def use_synaptic_delay_clamps(simulator) -> None:
    """Replace bmtk's IClamp modules of ``simulator`` by :class:`SynapticDelayIClampMod` (same parameters)."""
    for mod in simulator._mods:  # bmtk keeps its modules in this list
        if type(mod) is IClampMod:
            mod.__class__ = SynapticDelayIClampMod
