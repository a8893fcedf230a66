"""Applying a function to every address a field path reaches (strings, lists, wildcards)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from deadbeat import movement

__all__ = ["FieldMapper"]


class FieldMapper:
    """Rewrite the values at one or more field paths with a function.

    A path may reach a string, a list of strings (an IDEA ``IP4`` list) or, with
    ``*`` segments, many of either. A missing field is no error: events differ.

    :param fields: one path or several.
    """

    def __init__(self, fields: str | Sequence[str]) -> None:
        self.paths = [fields] if isinstance(fields, str) else list(fields)
        self._accessors = [(p, movement.getter(p), movement.setter(p), "*" in p) for p in self.paths]

    def bind(self, function: Callable[[str, str], Any]) -> Callable[[Any], Any]:
        """:returns: ``apply`` with ``function`` fixed, specialised for one plain key.

        One field named by a plain key (``"ip"``) is the common case and the hot
        one: it gets a closure with no loop and no path machinery.
        """
        if len(self.paths) == 1 and "." not in self.paths[0] and "*" not in self.paths[0]:
            key = self.paths[0]

            def apply_one(data: Any) -> Any:
                try:
                    value = data[key]
                except (KeyError, IndexError, TypeError):
                    return data
                if type(value) is str:
                    data[key] = function(value, key)
                elif isinstance(value, list):
                    data[key] = [function(v, key) for v in value]
                else:
                    data[key] = function(value, key)
                return data

            return apply_one
        return lambda data: self.apply(data, function)

    def apply(self, data: Any, function: Callable[[str, str], Any]) -> Any:
        """Replace each value ``v`` at path ``p`` by ``function(v, p)``."""
        for path, get, put, wild in self._accessors:
            try:
                value = get(data)
            except LookupError:
                continue
            if wild:
                data = put(data, [self._map(v, path, function) for v in value])
            else:
                data = put(data, self._map(value, path, function))
        return data

    @staticmethod
    def _map(value: Any, path: str, function: Callable[[str, str], Any]) -> Any:
        if isinstance(value, list):
            return [function(v, path) for v in value]
        return function(value, path)
