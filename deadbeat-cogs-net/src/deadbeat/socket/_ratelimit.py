"""Log lines about peers, rate-limited per kind, so that no client can flood the log.

A thousand clients timing out at once, or one client reconnecting in a loop,
must not write a thousand lines a second. Each kind of event (``idle``,
``refused``, ``tls``...) may log ``burst`` lines per ``window`` seconds; the
lines beyond are counted, and the count is said with the next line of that kind
after the window, or at :meth:`PeerLog.flush` (the cog's ``done``). Kinds are
limited apart, so a flood of one kind never hides a line of another.
"""

from __future__ import annotations

import logging
import time
from typing import Any

__all__ = ["PeerLog"]


class _Window:
    __slots__ = ("started", "logged", "held_back")

    def __init__(self) -> None:
        self.started = float("-inf")
        self.logged = 0
        self.held_back = 0


class PeerLog:
    """Rate-limited log lines, counted per kind.

    :param logger: where the lines go.
    :param name: how lines name the cog (``str(cog)`` is long; this is short).
    :param burst: lines of one kind per window.
    :param window: seconds.
    """

    def __init__(self, logger: logging.Logger, name: str, burst: int = 10, window: float = 10.0) -> None:
        self.logger = logger
        self.name = name
        self.burst = burst
        self.window = window
        self._windows: dict[str, _Window] = {}

    def say(self, level: int, kind: str, message: str, *args: Any) -> None:
        """Log ``message % args`` (prefixed with the cog's name) unless ``kind`` used its lines for this window."""
        window = self._windows.get(kind)
        if window is None:
            window = self._windows[kind] = _Window()
        now = time.monotonic()
        if now - window.started >= self.window:
            self._say_held_back(kind, window)
            window.started, window.logged = now, 0
        if window.logged < self.burst:
            window.logged += 1
            self.logger.log(level, "%s: " + message, self.name, *args)
        else:
            window.held_back += 1

    def warning(self, kind: str, message: str, *args: Any) -> None:
        """:meth:`say` at WARNING."""
        self.say(logging.WARNING, kind, message, *args)

    def info(self, kind: str, message: str, *args: Any) -> None:
        """:meth:`say` at INFO."""
        self.say(logging.INFO, kind, message, *args)

    def flush(self) -> None:
        """Say how many lines of each kind were held back."""
        for kind, window in self._windows.items():
            self._say_held_back(kind, window)

    def _say_held_back(self, kind: str, window: _Window) -> None:
        if window.held_back:
            self.logger.warning(
                "%s: %d more lines of kind %r were not logged (rate limit)", self.name, window.held_back, kind
            )
            window.held_back = 0
