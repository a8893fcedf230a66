"""Helpers for cogs that take whole lists (``call_batch``): tests and loops at C speed."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["OneByOne", "exhaust", "only"]


class OneByOne(Exception):  # noqa: N818 - a signal, not an error
    """Raised by ``call_batch`` for a list it does not take whole: the train gives it datum by datum.

    Raise it before changing anything (no count, no datum touched), so the
    second go repeats nothing; nothing is reported for it.
    """


def only(values: list[Any], kind: type) -> bool:
    """Whether every item is exactly of type ``kind`` (subclasses are not), in one C-level pass."""
    return set(map(type, values)) == {kind}


#: Runs an iterator (of calls, typically ``map(dict.update, ...)``) to its end, keeping nothing.
exhaust: Callable[[Iterable[Any]], None] = deque(maxlen=0).extend
