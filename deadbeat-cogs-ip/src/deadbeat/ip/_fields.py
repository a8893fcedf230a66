"""Applying a function to every address a cog reaches: by field paths, or by a getter and setter.

A cog that works on addresses takes either ``fields`` (one path or several,
where ``*`` reaches into lists) or, as the developer manual asks of cogs, a
getter and a setter: callables (``operator.itemgetter("src")``,
``movement.itemsetter("src")``) or paths. Either way the value found may be a
string or a list of strings (an IDEA ``IP4`` list), and a missing field is no
error: events differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from deadbeat import movement

__all__ = ["FieldMapper", "setter_for"]


def setter_for(getter: Any, setter: Any) -> Any:
    """The setter to pair with ``getter``: the one given, or the same path.

    :raises TypeError: for a callable getter without a setter (where would the result go?).
    """
    if getter is None or setter is not None:
        return setter
    if isinstance(getter, (str, int)):
        return getter
    raise TypeError("ip_getter is a callable: give ip_setter too, saying where the result goes")


class FieldMapper:
    """Rewrite (or only read) the addresses at some places of a datum with a function.

    :param fields: one path or several; used when ``getter`` is ``None``.
    :param getter: where the address (or list of addresses) is, instead of ``fields``.
    :param setter: where the result goes back, with ``getter``; ``None`` only reads.
    """

    def __init__(
        self,
        fields: str | Sequence[str] = "ip",
        getter: movement.FieldGetter | None = None,
        setter: movement.FieldSetter | None = None,
    ) -> None:
        self._accessors: list[tuple[str, Callable[[Any], Any], Callable[[Any, Any], Any] | None, bool]]
        if getter is not None:
            name = getter if isinstance(getter, str) else getattr(getter, "__qualname__", repr(getter))
            self.paths = [str(name)]
            put = movement.setter(setter) if setter is not None else None
            self._accessors = [(str(name), movement.getter(getter), put, isinstance(getter, str) and "*" in getter)]
        else:
            self.paths = [fields] if isinstance(fields, str) else list(fields)
            self._accessors = [(p, movement.getter(p), movement.setter(p), "*" in p) for p in self.paths]
        #: The one plain key when the places are a single plain field (the fast case).
        self.plain_key = (
            self.paths[0]
            if getter is None and len(self.paths) == 1 and not set(self.paths[0]) & {".", "*", "\\"}
            else None
        )

    def bind(self, function: Callable[[str, str], Any]) -> Callable[[Any], Any]:
        """:returns: ``apply`` with ``function`` fixed, specialised for one plain key.

        One field named by a plain key (``"ip"``) is the common case and the hot
        one: it gets a closure with no loop and no path machinery.
        """
        key = self.plain_key
        if key is not None:

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
        """Replace each value ``v`` at place ``p`` by ``function(v, p)`` (or only call it, without a setter)."""
        for path, get, put, wild in self._accessors:
            try:
                value = get(data)
            except LookupError:
                continue
            if wild:
                mapped: Any = [self._map(v, path, function) for v in value]
            else:
                mapped = self._map(value, path, function)
            if put is not None:
                data = put(data, mapped)
        return data

    @staticmethod
    def _map(value: Any, path: str, function: Callable[[str, str], Any]) -> Any:
        if isinstance(value, list):
            return [function(v, path) for v in value]
        return function(value, path)
