"""Keeping, renaming and dropping data and fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from deadbeat import movement

from ._expression import compile_expression

__all__ = ["DropFields", "Filter", "Rename", "Select"]


class Filter(movement.Cog):
    """Keep (or drop) the data for which an expression holds.

    The expression is a safe subset of Python (see :mod:`deadbeat.flow`), e.g.
    ``severity >= 3 and src.ip not in ["10.0.0.1"]``; it is compiled once, never
    evaluated with ``eval``.

    :param expression: the condition.
    :param action: ``"keep"`` the data that match, or ``"drop"`` them.
    """

    def __init__(self, expression: str, action: str = "keep") -> None:
        if action not in ("keep", "drop"):
            raise ValueError(f"action must be 'keep' or 'drop', not {action!r}")
        self.expression = expression
        self.action = action
        self._test = compile_expression(expression)
        self._keep = action == "keep"

    def __call__(self, data: Any) -> tuple[Any, ...] | None:
        return (data,) if bool(self._test(data)) == self._keep else None


class Select(movement.Cog):
    """Keep only the named fields (paths are kept at their place).

    :param fields: field names or paths.
    """

    def __init__(self, fields: Sequence[str]) -> None:
        if isinstance(fields, str):
            raise TypeError("fields must be a list of names, not one string")
        self.fields = list(fields)
        self._plan = [(movement.getter(f), movement.setter(f)) for f in self.fields]

    def __call__(self, data: Any) -> tuple[Any, ...]:
        kept: dict[str, Any] = {}
        for get, put in self._plan:
            try:
                value = get(data)
            except LookupError:
                continue
            kept = put(kept, value)
        return (kept,)


class Rename(movement.Cog):
    """Rename top-level fields: ``{"src": "source"}``; missing ones are left alone.

    :param fields: old name to new name.
    """

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = dict(fields)

    def __call__(self, data: Any) -> tuple[Any, ...]:
        for old, new in self.fields.items():
            if old in data:
                data[new] = data.pop(old)
        return (data,)


class DropFields(movement.Cog):
    """Remove top-level fields; missing ones are left alone.

    :param fields: names of the fields to remove.
    """

    def __init__(self, fields: Sequence[str]) -> None:
        if isinstance(fields, str):
            raise TypeError("fields must be a list of names, not one string")
        self.fields = list(fields)

    def __call__(self, data: Any) -> tuple[Any, ...]:
        for name in self.fields:
            data.pop(name, None)
        return (data,)
