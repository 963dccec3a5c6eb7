"""A memory guard for the benchmark's child processes.

The largest measurements (the 100,000-cell build and simulation) must stay within 16 GB; one that does not could
push the machine into its out-of-memory killer, which may pick another user's job. :class:`MemoryGuard` polls the
resident memory of every process this program started (its descendants, found with psutil) and kills one that
passes the limit, so the measurement fails cleanly and is reported as such.
"""

from __future__ import annotations

import threading

import psutil

MB = 2 ** 20  # bytes


class MemoryGuard:
    """Kill any descendant process whose resident memory passes ``limit_mb``.

    Use as a context manager; the watch runs in a daemon thread.

    Parameters
    ----------
    limit_mb : float
        Largest resident memory allowed to one process (MB = 2**20 bytes).
    interval_s : float
        Polling period (s).

    Attributes
    ----------
    kills : list of dict
        One entry per process killed: ``pid``, ``rss_mb`` (MB) and ``command`` (first 200 characters).
    """

    def __init__(self, limit_mb: float, interval_s: float = 0.5) -> None:
        self.limit_mb, self.interval_s = float(limit_mb), float(interval_s)
        self.kills: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="memory-guard", daemon=True)

    def __enter__(self) -> MemoryGuard:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def check(self) -> None:
        """One pass over the descendants: kill those above the limit."""
        for child in psutil.Process().children(recursive=True):
            try:
                rss_mb = child.memory_info().rss / MB
                if rss_mb > self.limit_mb:
                    command = " ".join(child.cmdline())[:200]
                    child.kill()
                    self.kills.append({"pid": child.pid, "rss_mb": rss_mb, "command": command})
            except psutil.Error:  # gone meanwhile, or not ours to read
                continue

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check()
