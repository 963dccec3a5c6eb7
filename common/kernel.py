"""The one NEST kernel set-up of the studies and benchmarks that drive NEST directly (not through bmtk).

NEST is imported when a kernel is asked for, not when this module is: a command line's ``--help`` does not start
NEST (and print its banner).
"""

from __future__ import annotations

from types import ModuleType


def fresh_kernel(resolution_ms: float, threads: int = 1, rng_seed: int | None = None) -> ModuleType:
    """Reset NEST's kernel, quiet below errors, at ``resolution_ms`` with ``threads`` threads; return ``nest``.

    Parameters
    ----------
    resolution_ms : float
        The simulation step (ms).
    threads : int
        NEST threads (``local_num_threads``).
    rng_seed : int, optional
        NEST's master seed (1 .. 2^31 - 1); NEST's default when None.

    Returns
    -------
    module
        The ``nest`` module, its kernel fresh.
    """
    import nest

    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.resolution = float(resolution_ms)
    nest.local_num_threads = int(threads)
    if rng_seed is not None:
        nest.rng_seed = int(rng_seed)
    return nest
