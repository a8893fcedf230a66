"""Cogs for NAME."""

from __future__ import annotations

from typing import Any

from deadbeat import movement

__all__ = ["Example"]


class Example(movement.Cog):
    """One line saying what the cog does: it becomes the summary in `deadbeat cogs`.

    :param field: where the piece of data the cog works on is (callable or path).
    """

    def __init__(self, field: Any = "line") -> None:
        self.field = field
        self._get = movement.getter(field)

    def __call__(self, data: Any) -> tuple[Any, ...]:
        self._get(data)
        return (data,)

    # Optional, for speed: when the work is the same for every datum, offer
    # call_batch(list) -> list with the results of one call per datum; the Train
    # then hands over whole lists. See "Whole lists" in the cog author guide.
