"""Running the V1 model on NEST through bmtk's PointNet: configuration checks, progress, atomic output.

``python run_pointnet.py config.json`` is the entry point; see :func:`simulation.run.simulate`.
"""

from .config import ConfigError
from .run import load_config, simulate

__all__ = ["ConfigError", "load_config", "simulate"]
