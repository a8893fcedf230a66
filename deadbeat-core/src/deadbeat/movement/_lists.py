"""Helpers for cogs that take whole lists (``call_batch``): tests and loops at C speed."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ._errors import PartialBatch

__all__ = ["OneByOne", "call_each", "exhaust", "only"]


class OneByOne(Exception):  # noqa: N818 - a signal, not an error
    """Raised by ``call_batch`` for a list it does not take whole: the train gives it datum by datum.

    Raise it before changing anything (no count, no datum touched), so the
    second go repeats nothing; nothing is reported for it.
    """


def only(values: list[Any], kind: type) -> bool:
    """Whether every item is exactly of type ``kind`` (subclasses are not), in one C-level pass; not for none."""
    # list.count compares by identity first: a third cheaper than a set of the types.
    return bool(values) and [*map(type, values)].count(kind) == len(values)


#: Runs an iterator (of calls, typically ``map(dict.update, ...)``) to its end, keeping nothing.
exhaust: Callable[[Iterable[Any]], None] = deque(maxlen=0).extend


def call_each(call: Callable[[Any], Iterable[Any] | None], data: list[Any]) -> list[Any]:
    """``call`` on each datum in turn, the results joined as ``call_batch`` returns them.

    For a ``call_batch`` that changes data in place (sets a field): on the first
    datum that fails, a :class:`PartialBatch` hands the train what came before,
    so that no datum goes through the cog twice. Retried datum by datum, one
    already changed would fail or be changed again (a field converted twice).

    :param call: the cog's call on one datum (``self.__call__``).
    :raises PartialBatch: with the results so far, the failing datum's place and its error.
    """
    results: list[Any] = []
    for index, datum in enumerate(data):
        try:
            results += call(datum) or ()
        except Exception as exc:  # noqa: BLE001 - the train routes it, as a call on this datum would
            raise PartialBatch(results, index, exc) from None
    return results
