"""Running the V1 model on NEST through bmtk's PointNet: configuration checks, progress, atomic output.

``python run_pointnet.py config.json`` is the entry point; see :func:`simulation.run.simulate`. The NEST-side
names (``load_config``, ``simulate``) are imported on first use, so the light modules (``simulation.config``,
``simulation.parallel``) can be imported without starting NEST.
"""

from .config import ConfigError

__all__ = ["ConfigError", "load_config", "simulate"]


def __getattr__(name: str):
    if name in ("load_config", "simulate"):
        from . import run

        return getattr(run, name)
    raise AttributeError(f"module 'simulation' has no attribute {name!r}")
