"""Log lines about hostile or broken peers, a few per second at most.

A client sending garbage in a loop, or a thousand idle connections, must not
turn the log into its own flood: each kind of trouble gets a budget of lines per
window, and what is held back is counted and said when the window closes.
Nothing but the log line is limited: every refused request still gets its
answer, every refused datum still reaches the error output.
"""

from __future__ import annotations

import logging
import time
from typing import Any

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """At most ``burst`` lines per ``window`` seconds for each ``kind``; the rest are counted.

    :param logger: where the lines go.
    :param burst: lines allowed per kind and window.
    :param window: seconds.
    """

    def __init__(self, logger: logging.Logger, burst: int = 5, window: float = 10.0) -> None:
        self.logger = logger
        self.burst = burst
        self.window = window
        # kind -> [window start, lines logged in it, lines held back in it]
        self._windows: dict[str, list[Any]] = {}

    def log(self, level: int, kind: str, message: str, *args: Any) -> None:
        """Log ``message % args`` at ``level``, unless ``kind`` has used its budget in this window."""
        now = time.monotonic()
        window = self._windows.get(kind)
        if window is None or now - window[0] >= self.window:
            if window is not None:
                self._say_held_back(kind, window[2])
            window = self._windows[kind] = [now, 0, 0]
        if window[1] < self.burst:
            window[1] += 1
            self.logger.log(level, message, *args)
        else:
            window[2] += 1

    def flush(self) -> None:
        """Say how many lines of each kind were held back, and start afresh."""
        for kind, window in self._windows.items():
            self._say_held_back(kind, window[2])
        self._windows.clear()

    def _say_held_back(self, kind: str, count: int) -> None:
        if count:
            self.logger.warning("%d more lines about %s were not logged (rate limit)", count, kind)
