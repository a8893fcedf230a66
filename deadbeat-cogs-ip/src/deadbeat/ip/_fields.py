"""Applying a function to every address a cog reaches: by field paths, or by a getter and setter.

A cog that works on addresses takes either ``fields`` (one path or several,
where ``*`` reaches into lists) or, as the developer manual asks of cogs, a
getter and a setter: callables (``operator.itemgetter("src")``,
``movement.itemsetter("src")``) or paths. Either way the value found may be a
string or a list of strings (an IDEA ``IP4`` list).

Missing or impossible. Paths step as :mod:`deadbeat.movement` paths do: a
segment is a key of a mapping, a segment of digits (``0``, ``-1``) is a position
in a list, ``*`` is every item of a list (or value of a mapping). Two things can
stop a path, and they are told apart:

* the field is **missing** from this datum (a mapping without the key, a list
  too short, a ``*`` that reaches nothing): events differ, so the cog skips the
  datum or refuses it, as its ``missing`` parameter says, and counts the skips;
* the path **cannot apply** to this shape of datum (a key into a list, a number
  into a mapping that has no such key, any step into text, a number or null):
  a mistake, so :class:`FieldShapeError` is raised, naming the path, and the
  datum goes to the error output whatever ``missing`` says.

Under ``*``, an item without the key is simply passed over (an IDEA ``Source``
without ``IP4``), and such a path is missing only when it reaches nothing at all.
A callable getter reports a missing field by raising :class:`LookupError`
(``KeyError``, ``IndexError``); anything else it raises is an error.

Nothing is written back until every address of the datum has been mapped, so a
datum that fails goes to the error output as it came.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from deadbeat import movement

__all__ = [
    "MISSING_CHOICES",
    "FieldMapper",
    "FieldShapeError",
    "MissingFieldError",
    "check_missing",
    "fields_and_getter",
    "setter_for",
]

MISSING_CHOICES = ("skip", "error")
_INDEX = re.compile(r"-?[0-9]+\Z")
_ABSENT = object()
_SAME_PLACES = object()  # write the results back where they were read

Place = tuple[Any, Any]


class FieldShapeError(TypeError):
    """A field path cannot apply to a datum of this shape: a mistake, not a missing field."""


class MissingFieldError(LookupError):
    """A datum lacks a field, and the cog was told (``missing = "error"``) that this is an error."""


def check_missing(missing: str) -> str:
    """:raises ValueError: unless ``missing`` is ``"skip"`` or ``"error"``."""
    if missing not in MISSING_CHOICES:
        raise ValueError(f"missing must be one of {', '.join(MISSING_CHOICES)}, not {missing!r}")
    return missing


def fields_and_getter(fields: Any, getter: Any) -> str | None:
    """:returns: the problem when both ``fields`` (other than the default) and ``ip_getter`` are given, else ``None``.

    One of them would be used and the other ignored, silently.
    """
    if getter is not None and fields not in ("ip", ["ip"], ("ip",)):
        return "give fields or ip_getter, not both: ip_getter reads the address, and fields would be ignored"
    return None


def setter_for(getter: Any, setter: Any) -> Any:
    """The setter to pair with ``getter``: the one given, or the same path.

    :raises TypeError: for a callable getter without a setter (where would the result go?).
    """
    if getter is None or setter is not None:
        return setter
    if isinstance(getter, (str, int)):
        return getter
    raise TypeError("ip_getter is a callable: give ip_setter too, saying where the result goes")


def _kind(node: Any) -> str:
    if node is None:
        return "null"
    if isinstance(node, str):
        return "text"
    if isinstance(node, bool):
        return "a boolean"
    if isinstance(node, (int, float)):
        return "a number"
    return f"a {type(node).__name__}"


def _is_list(node: Any) -> bool:
    return isinstance(node, Sequence) and not isinstance(node, (str, bytes, bytearray))


class _Path:
    """A compiled field path: finds the places (container, key) it reaches in a datum."""

    __slots__ = ("text", "segments", "key", "_key_is_name")

    def __init__(self, text: str) -> None:
        self.text = text
        self.segments = movement.split_path(text)
        #: The one segment of a plain path (``"ip"``), else ``None``.
        self.key = self.segments[0] if len(self.segments) == 1 and self.segments[0] != "*" else None
        self._key_is_name = self.key is not None and _INDEX.match(self.key) is None

    def places(self, data: Any) -> list[Place]:
        """:returns: the places reached, empty when the field is missing.

        :raises FieldShapeError: when the path cannot apply to this shape of datum.
        """
        key = self.key
        if key is not None and type(data) is dict:
            if key in data:
                return [(data, key)]
            if self._key_is_name:
                return []
        nodes = [data]
        last = len(self.segments) - 1
        places: list[Place] = []
        for depth, segment in enumerate(self.segments):
            reached: list[Any] = []
            for node in nodes:
                if segment == "*":
                    if isinstance(node, Mapping):
                        keys: Any = list(node)
                    elif _is_list(node):
                        keys = range(len(node))
                    else:
                        raise self._shape(depth, f"is {_kind(node)}: '*' reaches into lists and mappings only")
                else:
                    found = self._step(node, segment, depth)
                    if found is _ABSENT:
                        continue
                    keys = (found,)
                for item in keys:
                    if depth == last:
                        places.append((node, item))
                    else:
                        reached.append(node[item])
            nodes = reached
        return places

    def _step(self, node: Any, segment: str, depth: int) -> Any:
        index = _INDEX.match(segment) is not None
        if isinstance(node, Mapping):
            if segment in node:
                return segment
            if index and int(segment) in node:
                return int(segment)
            if index:
                raise self._shape(depth, f"is a mapping without the key {segment!r}; a number steps into a list")
            return _ABSENT
        if _is_list(node):
            if not index:
                raise self._shape(depth, f"is a list: {segment!r} is no position in it (use '*' for every item)")
            position = int(segment)
            return position if -len(node) <= position < len(node) else _ABSENT
        raise self._shape(depth, f"is {_kind(node)}, not a mapping or a list: no {segment!r} in it")

    def _shape(self, depth: int, what: str) -> FieldShapeError:
        where = "the datum" if depth == 0 else repr(".".join(self.segments[:depth]))
        return FieldShapeError(f"field {self.text!r} cannot apply: {where} {what}")


class _Access:
    """One place a cog reads: a path, or a callable getter; and where the result goes."""

    __slots__ = ("name", "path", "get", "put", "wild", "count")

    def __init__(self, name: str, path: _Path | None, get: Any, put: Any, wild: bool) -> None:
        self.name = name
        self.path = path
        self.get = get
        self.put = put
        self.wild = wild
        self.count = FieldMapper.count_name(name)


class FieldMapper:
    """Rewrite (or only read) the addresses at some places of a datum with a function.

    :param fields: one path or several; used when ``getter`` is ``None``.
    :param getter: where the address (or list of addresses) is, instead of ``fields``.
    :param setter: where the result goes back, with ``getter``; ``None`` only reads.
    :param missing: ``"skip"`` a datum without a field (counted in :attr:`counts`),
        or raise :class:`MissingFieldError`.
    :param write: ``False`` to only read, with ``fields`` too.
    """

    def __init__(
        self,
        fields: str | Sequence[str] = "ip",
        getter: movement.FieldGetter | None = None,
        setter: movement.FieldSetter | None = None,
        missing: Literal["skip", "error"] = "skip",
        write: bool = True,
    ) -> None:
        self.missing = check_missing(missing)
        self._raise_missing = missing == "error"
        self._accessors: list[_Access] = []
        put: Any
        if getter is not None and not isinstance(getter, (str, int)):
            name = str(getattr(getter, "__qualname__", None) or repr(getter))
            put = movement.setter(setter) if setter is not None and write else None
            self._accessors.append(_Access(name, None, movement.getter(getter), put, False))
        elif getter is not None:
            path = _Path(str(getter))
            if not write or setter is None:
                put = None
            elif isinstance(setter, (str, int)) and str(setter) == path.text:
                put = _SAME_PLACES
            else:
                put = movement.setter(setter)
            self._accessors.append(_Access(path.text, path, None, put, "*" in path.segments))
        else:
            for text in [fields] if isinstance(fields, str) else list(fields):
                path = _Path(text)
                put = _SAME_PLACES if write else None
                self._accessors.append(_Access(text, path, None, put, "*" in path.segments))
        self.paths = [a.name for a in self._accessors]
        #: Per field, how many data lacked it and were passed on untouched.
        self.counts: dict[str, int] = {a.count: 0 for a in self._accessors}
        only = self._accessors[0]
        #: The one plain key when the places are a single plain field written back
        #: in place (the fast case), else ``None``.
        self.plain_key = (
            only.path.key if len(self._accessors) == 1 and only.path is not None and only.put is _SAME_PLACES else None
        )

    @staticmethod
    def count_name(path: str) -> str:
        """:returns: the key of :attr:`counts` for a field: ``"data without ip"``."""
        return f"data without {path}"

    def bind(self, function: Callable[[str, str], Any]) -> Callable[[Any], Any]:
        """:returns: ``apply`` with ``function`` fixed, specialised for one plain key.

        One field named by a plain key (``"ip"``) is the common case and the hot
        one: it gets a closure with no loop and no path machinery while the
        datum holds the key; anything else takes :meth:`apply`.
        """
        key = self.plain_key
        general = self.general(function)
        if key is not None:

            def apply_one(data: Any) -> Any:
                try:
                    value = data[key]
                except (LookupError, TypeError):
                    return general(data)
                if type(value) is str:
                    data[key] = function(value, key)
                elif isinstance(value, list):
                    data[key] = [function(v, key) for v in value]
                else:
                    data[key] = function(value, key)
                return data

            return apply_one
        return general

    def general(self, function: Callable[[str, str], Any]) -> Callable[[Any], Any]:
        """:returns: :meth:`apply` with ``function`` fixed, with no fast case."""
        apply = self.apply
        return lambda data: apply(data, function)

    def apply(self, data: Any, function: Callable[[str, str], Any]) -> Any:
        """Replace each value ``v`` at place ``p`` by ``function(v, p)`` (or only call it, without a setter).

        :raises FieldShapeError: when a path cannot apply to the datum.
        :raises MissingFieldError: for a missing field with ``missing="error"``.
        """
        done: list[tuple[_Access, list[Place], Any]] = []
        for access in self._accessors:
            places: list[Place] = []
            if access.path is not None:
                places = access.path.places(data)
                if not places:
                    self._missing(access)
                    continue
                if access.wild:
                    mapped: Any = [self._map(c[k], access.name, function) for c, k in places]
                else:
                    container, key = places[0]
                    mapped = self._map(container[key], access.name, function)
            else:
                try:
                    value = access.get(data)
                except LookupError:
                    self._missing(access)
                    continue
                mapped = self._map(value, access.name, function)
            done.append((access, places, mapped))
        for access, places, mapped in done:
            if access.put is _SAME_PLACES:
                if access.wild:
                    for (container, key), result in zip(places, mapped, strict=True):
                        container[key] = result
                else:
                    container, key = places[0]
                    container[key] = mapped
            elif access.put is not None:
                data = access.put(data, mapped)
        return data

    def _missing(self, access: _Access) -> None:
        if self._raise_missing:
            raise MissingFieldError(f'field {access.name!r} is missing from this datum (missing = "error")')
        self.counts[access.count] += 1

    @staticmethod
    def _map(value: Any, path: str, function: Callable[[str, str], Any]) -> Any:
        if isinstance(value, list):
            return [function(v, path) for v in value]
        return function(value, path)
