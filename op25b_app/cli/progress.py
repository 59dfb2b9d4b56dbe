"""Progress of a long import as one rewritten line on a terminal's stderr."""

from __future__ import annotations

import time
from typing import TextIO


class ProgressLine:
    """Progress of a long import as one rewritten line on a terminal's stderr.

    Only on a terminal (a log file or a pipe must not fill with carriage
    returns) and only for inputs large enough to take seconds; a plain
    ``\\r`` line needs no dependency.
    """

    MIN_TOTAL = 5000
    INTERVAL_S = 0.2

    def __init__(self, stream: TextIO, label: str) -> None:
        isatty = getattr(stream, "isatty", None)
        self._stream = stream
        self._label = label
        self._enabled = bool(isatty and isatty())
        self._last = 0.0
        self._width = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self._enabled or total < self.MIN_TOTAL:
            return
        now = time.monotonic()
        if done < total and now - self._last < self.INTERVAL_S:
            return
        self._last = now
        text = f"\r{self._label}: {phase} {done}/{total} ({100 * done // max(total, 1)}%)"
        self._width = max(self._width, len(text))
        self._stream.write(text.ljust(self._width))
        self._stream.flush()

    def close(self) -> None:
        """Erase the progress line so the result starts on a clean line."""
        if self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0
