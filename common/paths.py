"""Where the repository is: its root folder, from which the default files (``config.json``, ``network/``, ...)
are found."""

from __future__ import annotations

from pathlib import Path

#: The repository's root folder.
REPO = Path(__file__).resolve().parents[1]
