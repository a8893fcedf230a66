"""Keeping, renaming and dropping data and fields."""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any, Literal

from deadbeat import movement
from deadbeat.text._regex import REGEX_ENGINES, RegexEngine

from ._expression import compile_expression

__all__ = ["DropFields", "Filter", "Rename", "Select", "SetFields"]


class Filter(movement.Cog):
    """Keep (or drop) the data for which an expression holds.

    The expression is a safe subset of Python (see :mod:`deadbeat.flow`), e.g.
    ``severity >= 3 and src.ip not in ["10.0.0.1"]``; it is compiled once, never
    evaluated with ``eval``. Arithmetic is on numbers only: ``n * 1000`` on a text
    is an error for that datum. ``matches(field, "pattern")`` runs on RE2, in time
    linear in the text (the ``re2`` extra); without the extra, a filter using
    ``matches()`` is refused when it is built unless ``regex_engine`` is ``"re"``.

    :param expression: the condition.
    :param action: ``"keep"`` the data that match, or ``"drop"`` them.
    :param regex_engine: the engine of ``matches()``: ``"re2"``, linear time, needs
        the ``re2`` extra; ``"re"``, Python's backtracking ``re``, with
        backreferences and lookaround, which a hostile line can keep busy for
        hours with some patterns: choose it knowingly.
    """

    one_to_one = True

    @staticmethod
    def missing_requirements(params: Mapping[str, Any]) -> list[str]:
        """For ``deadbeat check``: the expression compiled as the cog would (nothing else is built).

        An expression that does not compile, or ``matches()`` with RE2 not
        installed, would stop the run at its start.
        """
        expression = params.get("expression")
        engine = params.get("regex_engine", "re2")
        if not isinstance(expression, str) or engine not in REGEX_ENGINES:
            return []  # the parameter check reports these
        try:
            compile_expression(expression, engine)
        except ValueError as exc:
            return [f"expression: {exc}"]
        return []

    def __init__(
        self,
        expression: str,
        action: Literal["keep", "drop"] = "keep",
        regex_engine: RegexEngine = "re2",
    ) -> None:
        if action not in ("keep", "drop"):
            raise ValueError(f"action must be 'keep' or 'drop', not {action!r}")
        if regex_engine not in REGEX_ENGINES:
            raise ValueError(f"regex_engine must be one of {', '.join(map(repr, REGEX_ENGINES))}, not {regex_engine!r}")
        self.expression = expression
        self.action = action
        self.regex_engine = regex_engine
        self._test = compile_expression(expression, regex_engine)
        self._keep = action == "keep"

    def __call__(self, data: Any) -> tuple[Any, ...] | None:
        return (data,) if bool(self._test(data)) == self._keep else None

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Keep what passes from a list of data; the same as one call per datum."""
        test, keep = self._test, self._keep
        return [datum for datum in data if bool(test(datum)) == keep]


class Select(movement.Cog):
    """Keep only the named fields (paths are kept at their place).

    :param fields: field names or paths.
    """

    one_to_one = True

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

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Reshape a list of data; the same as one call per datum."""
        return [kept for datum in data for kept in self(datum)]


class Rename(movement.Cog):
    """Rename top-level fields: ``{"src": "source"}``; missing ones are left alone.

    The renames happen at once, so ``{"a": "b", "b": "a"}`` swaps two fields.
    A new name that a field not renamed already holds would lose that field's
    value: the datum goes to the error output instead, naming both fields.

    :param fields: old name to new name.
    """

    one_to_one = True

    def __init__(self, fields: Mapping[str, str]) -> None:
        if not isinstance(fields, Mapping):
            raise TypeError("fields must be a mapping of old names to new names")
        self.fields = dict(fields)
        targets: dict[str, str] = {}
        for old, new in self.fields.items():
            if new in targets:
                raise ValueError(f"fields: {targets[new]!r} and {old!r} are both renamed to {new!r}")
            targets[new] = old
        self._renamed = frozenset(self.fields)

    def __call__(self, data: Any) -> tuple[Any, ...]:
        moved = []
        for old, new in self.fields.items():
            if old in data:
                if new in data and new not in self._renamed:
                    raise ValueError(f"renaming {old!r} to {new!r} would lose the value the field {new!r} holds")
                moved.append((new, old))
        # All taken out first, then put back: a swap keeps both values.
        values = [(new, data.pop(old)) for new, old in moved]
        for new, value in values:
            data[new] = value
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Rename in a list of data; the same as one call per datum, raising where one would (each datum once)."""
        return movement.call_each(self.__call__, data)


class DropFields(movement.Cog):
    """Remove top-level fields; missing ones are left alone.

    :param fields: names of the fields to remove.
    """

    one_to_one = True

    def __init__(self, fields: Sequence[str]) -> None:
        if isinstance(fields, str):
            raise TypeError("fields must be a list of names, not one string")
        self.fields = list(fields)

    def __call__(self, data: Any) -> tuple[Any, ...]:
        for name in self.fields:
            data.pop(name, None)
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Drop fields in a list of data; the same as one call per datum."""
        for datum in data:
            self(datum)
        return data


def _immutable(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(map(_immutable, value))
    return value is None or isinstance(value, (str, int, float, bytes, frozenset))


class SetFields(movement.Cog):
    """Give fields fixed values: added where missing, replaced where present.

    Each datum gets its own copy of a list or mapping value, so a later cog
    changing one datum's value leaves the others alone.

    :param fields: field path to value, e.g. ``{"seen": true, "host.name": "web1"}``.
    :param overwrite: replace a value already there; ``False`` only fills in
        missing fields.
    """

    one_to_one = True

    def __init__(self, fields: Mapping[str, Any], overwrite: bool = True) -> None:
        if not isinstance(fields, Mapping):
            raise TypeError("fields must be a mapping of field paths to values")
        self.fields = dict(fields)
        self.overwrite = overwrite
        self._plan = [(movement.getter(path), movement.setter(path), value) for path, value in self.fields.items()]
        # Top-level names with values nobody can change in place: one
        # dict.update per datum does all of it.
        plain = all(isinstance(p, str) and "." not in p and "\\" not in p for p in self.fields)
        shared = all(_immutable(v) for v in self.fields.values())
        self._flat = dict(self.fields) if overwrite and plain and shared else None

    def __call__(self, data: Any) -> tuple[Any, ...]:
        flat = self._flat
        if flat is not None and isinstance(data, dict):
            dict.update(data, flat)
            return (data,)
        for get, put, value in self._plan:
            if not self.overwrite:
                try:
                    get(data)
                    continue
                except LookupError:
                    pass
            data = put(data, value if _immutable(value) else copy.deepcopy(value))
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Set the fields in a list of data; the same as one call per datum."""
        flat = self._flat
        if flat is not None:
            try:
                deque(map(dict.update, data, repeat(flat)), maxlen=0)
                return data
            except TypeError:
                # Not all dicts. Those before the first other datum got the
                # values already; setting them twice changes nothing.
                pass
        return [out for datum in data for out in self(datum)]
