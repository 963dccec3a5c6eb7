"""Sparse conductance-based E/I circuits (random, ring, layered) built as SONATA and run on NEST through PointNet,
with their activity regimes, avalanche analysis and tuning to criticality. Run ``python -m circuits --help``.
"""

from .params import TOPOLOGIES, CircuitError, CircuitSpec, make_spec

__all__ = ["TOPOLOGIES", "CircuitError", "CircuitSpec", "make_spec"]
