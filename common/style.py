"""The plotting set-up every figure module shares: files only (the Agg backend, no display needed) and one look.

Figure modules import ``plt`` from here instead of configuring matplotlib themselves.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

#: The project's matplotlib settings (applied on import).
STYLE = {"axes.spines.top": False, "axes.spines.right": False, "savefig.bbox": "tight"}
plt.rcParams.update(STYLE)

__all__ = ["STYLE", "plt"]
