"""Reading a report page in tests: its figures (decoded images) and its table rows (shared by the report tests)."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image


class ReportPage(HTMLParser):
    """Figures (figure id -> decoded image) and table rows (lists of cell texts) of a report."""

    def __init__(self):
        super().__init__()
        self.figures, self.rows, self._figure, self._row, self._cell = {}, [], None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure":
            self._figure = attrs.get("id")
        elif tag == "img" and attrs.get("src", "").startswith("data:"):
            head, data = attrs["src"].split(",", 1)
            assert head == "data:image/png;base64"
            self.figures[self._figure] = matplotlib.image.imread(io.BytesIO(base64.b64decode(data)), format="png")
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr":
            self.rows.append(self._row)
            self._row = None


def parse_report(path: Path) -> ReportPage:
    """The parsed report page at ``path``."""
    page = ReportPage()
    page.feed(Path(path).read_text())
    return page
