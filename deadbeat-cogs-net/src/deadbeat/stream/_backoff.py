"""Growing pauses between attempts to reach a broker that does not answer."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Pauses that double from ``first`` up to ``longest`` seconds, with a little jitter.

    The jitter (up to a tenth of the pause) keeps workers that lost the broker
    together from all knocking at the same instant when it comes back.

    :param first: the first pause, in seconds.
    :param longest: the longest pause, in seconds.
    """

    def __init__(self, first: float = 0.1, longest: float = 5.0) -> None:
        self.first = first
        self.longest = longest
        self._next = first
        #: Attempts that failed since the last :meth:`reset`.
        self.failures = 0

    def pause(self) -> float:
        """:returns: how long to wait before the next attempt; each call waits longer."""
        self.failures += 1
        pause = self._next
        self._next = min(self._next * 2, self.longest)
        return pause + random.uniform(0, pause / 10)

    def reset(self) -> None:
        """An attempt worked: the next failure starts again from ``first``."""
        self._next = self.first
        self.failures = 0
