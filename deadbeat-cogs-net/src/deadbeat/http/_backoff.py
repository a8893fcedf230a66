"""How long to wait before trying a request again.

Exponential back-off with jitter: each pause is twice the one before, up to a
longest pause, and drawn at random from its upper half, so that many senders
cut off by the same outage do not all come back in the same instant. A server
that says when to come back (``Retry-After``, in seconds or as an HTTP date) is
listened to: the pause is at least what it asked for.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

__all__ = ["Backoff", "retry_after"]


class Backoff:
    """The pauses between tries of one request.

    :param first: the first pause, in seconds.
    :param longest: no pause is longer (unless a server asks for it).
    :param draw: a random number in [0, 1); replaceable for tests.
    """

    def __init__(self, first: float = 0.1, longest: float = 30.0, draw: Callable[[], float] = random.random) -> None:
        if first <= 0 or longest < first:
            raise ValueError(f"back-off pauses must be positive and first <= longest, not {first} and {longest}")
        self.first = first
        self.longest = longest
        self._draw = draw
        self._next = first

    def pause(self, asked: float | None = None) -> float:
        """:returns: the next pause: from half to all of the current step, at least ``asked`` seconds."""
        step = self._next
        self._next = min(step * 2, self.longest)
        drawn = step / 2 + self._draw() * step / 2
        return max(drawn, asked) if asked is not None else drawn


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """:returns: the seconds a ``Retry-After`` header asks to wait, or ``None`` when there is none or it is unreadable.

    :param value: the header's value: whole seconds, or an HTTP date.
    :param now: the wall-clock time (epoch seconds) a date is measured from.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²" or "٥", which isdigit() takes and int() refuses or reads
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # an HTTP date is always GMT; one without a zone is not one
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
