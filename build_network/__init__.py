"""Build the seed's 10,000-cell V1 (L2/3) network and its 500-cell LGN input as SONATA files with bmtk.

Run ``python -m build_network --help``. The model's numbers are the data files beside this package
(see :mod:`build_network.params`); the rules are in :mod:`build_network.rules`.
"""

from .build import ModelSpec, build_network
from .params import ParameterError

__all__ = ["ModelSpec", "ParameterError", "build_network"]
