"""A one-line progress bar for tooling steps of known size (e.g. the demo producing its data).

Rules: the bar is redrawn in place (carriage return) at most every ``min_interval`` seconds,
and once more, as it stands, when closed, ending the line; it fits ``width`` columns (at least
10 cells of bar). A closed bar draws nothing more.

>>> import io
>>> out = io.StringIO()
>>> bar = ProgressBar("producing", 4, out, width=40, min_interval=0)
>>> bar.update(2)
>>> bar.update(4)
>>> bar.close()
>>> out.getvalue().split("\\r")[-1]
'producing [#################] 100%  4/4\\n'
"""

from __future__ import annotations

import time
from typing import IO


class ProgressBar:
    """``label [#####.....]  50%  done/total`` on ``stream``."""

    def __init__(self, label: str, total: int, stream: IO[str], width: int = 80,
                 min_interval: float = 0.1) -> None:
        self.label = label
        self.total = max(total, 1)
        self.stream = stream
        self.width = width
        self.min_interval = min_interval
        self.done = 0
        self._last_draw = float("-inf")
        self._closed = False

    def render(self) -> str:
        counts = f"{self.done:,}/{self.total:,}"
        percent = f"{100 * self.done // self.total:3d}%"
        room = self.width - len(self.label) - len(counts) - len(percent) - 7
        cells = max(room, 10)
        filled = cells * self.done // self.total
        return f"{self.label} [{'#' * filled}{'.' * (cells - filled)}] {percent}  {counts}"

    def update(self, done: int) -> None:
        """Record ``done`` units finished; redraw if due."""
        self.done = min(max(done, 0), self.total)
        now = time.monotonic()
        if not self._closed and now - self._last_draw >= self.min_interval:
            self._last_draw = now
            self.stream.write("\r" + self.render())
            self.stream.flush()

    def close(self) -> None:
        """Draw the bar as it stands and end the line."""
        if self._closed:
            return
        self.stream.write("\r" + self.render() + "\n")
        self.stream.flush()
        self._closed = True
