"""PointNet current clamps applied through the cells' ``I_e``, at the scheduled times, instead of a NEST generator.

bmtk's PointNet ``IClampMod`` drives the cells with a ``step_current_generator``. NEST current generators send one
event to every target at every time step, and bmtk connects them with a delay of dt, which also shrinks NEST's
communication interval from 0.9 ms to dt: with a clamp on the 8,500 E cells the 3 s run took 236 s instead of
34 s (2.6 billion current events). In ``iaf_psc_delta`` (and NEST's other point models) a generator's current and
the ``I_e`` parameter enter the same term of the update, so :class:`IeClampMod` adds the clamp amplitude to
``I_e`` of its cells at exactly the step where bmtk's generator current would arrive (amplitude time + dt) and
removes it at the stop time + dt. :class:`~simulation.run.ProgressSimulator` advances NEST to those times.
"""

from __future__ import annotations

import numpy as np
from bmtk.simulator.pointnet.modules.iclamp import IClampMod


class IeClampMod(IClampMod):
    """bmtk's PointNet IClampMod, applied as ``I_e`` changes (see the module docstring).

    After :meth:`initialize`, :attr:`schedule` holds ``(time_ms, nest_ids, delta_pA)``: at simulated time
    ``time_ms`` add ``delta_pA`` to ``I_e`` of ``nest_ids``.
    """

    def initialize(self, sim) -> None:
        reader = self._amp_reader
        cells = np.asarray(list(sim.net.get_node_set(self._node_set).gids()), dtype=np.int64)
        self.schedule = []
        for idx, start in enumerate(reader.delays):
            if start <= sim.dt:
                raise ValueError(f"current clamp onset {start} ms must be later than dt = {sim.dt} ms.")
            amp = float(reader.amps[idx])
            self.schedule.append((start + sim.dt, cells, amp))
            if reader.has_delays:
                stop = start + reader.durations[idx]
                if idx + 1 == len(reader.delays) or stop <= reader.delays[idx + 1]:
                    self.schedule.append((stop + sim.dt, cells, -amp))


def use_ie_clamps(simulator) -> None:
    """Replace bmtk's IClamp modules of ``simulator`` by :class:`IeClampMod` (same parameters)."""
    for mod in simulator._mods:  # bmtk keeps its modules in this list
        if type(mod) is IClampMod:
            mod.__class__ = IeClampMod
