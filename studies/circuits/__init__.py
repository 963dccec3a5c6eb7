"""Sparse conductance-based E/I circuits (random, ring, layered) built as SONATA and run on NEST through PointNet,
with their activity regimes and avalanche analysis. Run ``python -m studies.circuits --help``; the sweeps and the
tuning to criticality are ``studies.criticality``.
"""

from .params import TOPOLOGIES, CircuitError, CircuitSpec, make_spec

__all__ = ["TOPOLOGIES", "CircuitError", "CircuitSpec", "make_spec"]
