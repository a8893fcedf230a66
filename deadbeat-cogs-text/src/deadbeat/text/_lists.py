"""Helpers for the cogs' ``call_batch``: tests and loops over whole lists at C speed."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["exhaust", "only"]


def only(values: list[Any], kind: type) -> bool:
    """Whether every item is exactly of type ``kind`` (subclasses are not), in one C-level pass."""
    return set(map(type, values)) == {kind}


#: Runs an iterator (of calls, typically ``map(dict.update, ...)``) to its end, keeping nothing.
exhaust: Callable[[Iterable[Any]], None] = deque(maxlen=0).extend
