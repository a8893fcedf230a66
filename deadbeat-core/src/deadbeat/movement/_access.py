"""Getters and setters: how a cog reaches a piece of a datum without knowing its shape.

A cog takes callables such as ``operator.itemgetter("ip")`` for where its input is
and an :func:`itemsetter` for where its result goes. Configuration files cannot hold
callables, so every accessor parameter also accepts a dotted path such as
``"Source.0.IP4.0"``; :func:`getter` and :func:`setter` turn either form into a
callable once, at construction, so the per-datum cost is one call.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence
from typing import Annotated, Any

from ..conf import expects

__all__ = [
    "FieldGetter",
    "FieldSetter",
    "Getter",
    "IdSetter",
    "Setter",
    "cast_getter",
    "cast_setter",
    "default_id_getter",
    "getter",
    "id_setter",
    "itemsetter",
    "path_getter",
    "path_setter",
    "setter",
    "split_path",
]

Getter = Callable[[Any], Any]
Setter = Callable[[Any, Any], Any]


def itemsetter(*keys: Any) -> Setter:
    """Build a setter, the counterpart of :func:`operator.itemgetter`.

    The setter takes the datum and the value, stores the value under ``key`` and
    returns the datum; with several keys it takes a sequence of as many values.
    A datum that cannot be changed in place, a tuple (a named tuple too, by
    index or by field name), is not changed: the setter returns a new one with
    the value in its place, as the manual's setters may.

    :param keys: one or more keys (or indexes) to assign.
    :returns: ``setter(data, value) -> data``.
    """
    if not keys:
        raise TypeError("itemsetter expects at least one key")
    if len(keys) == 1:
        key = keys[0]

        def set_one(data: Any, value: Any) -> Any:
            try:
                data[key] = value
            except TypeError:
                return _replaced(data, ((key, value),))
            return data

        set_one.__qualname__ = f"itemsetter({key!r})"
        return set_one

    def set_many(data: Any, values: Any) -> Any:
        values = tuple(values)
        if len(values) != len(keys):
            raise ValueError(f"itemsetter{keys!r} needs {len(keys)} values, got {len(values)}")
        if isinstance(data, tuple):
            return _replaced(data, zip(keys, values, strict=True))
        for key, value in zip(keys, values, strict=True):
            data[key] = value
        return data

    set_many.__qualname__ = f"itemsetter{keys!r}"
    return set_many


def split_path(path: str) -> list[str]:
    """Split a dotted path into its segments; ``\\.`` keeps a literal dot.

    :raises ValueError: on an empty path or an empty segment.
    """
    segments: list[str] = []
    current: list[str] = []
    chars = iter(path)
    for char in chars:
        if char == "\\":
            current.append(next(chars, "\\"))
        elif char == ".":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))
    if not path or any(seg == "" for seg in segments):
        raise ValueError(f"invalid field path {path!r}: empty segment")
    return segments


def _step(container: Any, segment: str) -> Any:
    # A segment that looks like an integer indexes sequences; mappings are tried
    # with the text first because JSON keys are always strings.
    if isinstance(container, Mapping):
        if segment in container:
            return container[segment]
        if _is_index(segment) and int(segment) in container:
            return container[int(segment)]
        raise KeyError(segment)
    if _is_index(segment) and not isinstance(container, (str, bytes)):
        return container[int(segment)]
    raise KeyError(segment)


def _is_index(segment: str) -> bool:
    return segment.isdigit() or (segment[:1] == "-" and segment[1:].isdigit())


WILDCARD = "*"


def _walk(node: Any, segments: list[str], found: list[Any], parents: list[tuple[Any, Any]] | None) -> None:
    """Collect what ``segments`` reach from ``node``; ``*`` fans out over list items.

    A missing key under a wildcard is no match (an IDEA Source without IP6);
    with ``parents`` the containers and keys of the leaves are collected too.
    """
    if not segments:
        found.append(node)
        return
    segment, rest = segments[0], segments[1:]
    if segment == WILDCARD:
        if isinstance(node, Mapping):
            keys: Any = list(node.keys())
        elif isinstance(node, MutableSequence | list | tuple):
            keys = range(len(node))
        else:
            return
        for key in keys:
            if not rest and parents is not None:
                parents.append((node, key))
            _walk(node[key], rest, found, parents)
        return
    try:
        child = _step(node, segment)
    except (KeyError, IndexError, TypeError):
        return
    if not rest and parents is not None:
        parents.append((node, int(segment) if isinstance(node, MutableSequence) else segment))
    _walk(child, rest, found, parents)


def path_getter(path: str) -> Getter:
    """Build a getter for a dotted path into nested mappings and lists.

    ``"Source.0.IP4.0"`` reads ``data["Source"][0]["IP4"][0]``. A ``*`` segment
    stands for every item of a list (or value of a mapping): the getter then
    returns the list of everything matched, possibly empty, so that
    ``"Source.*.IP4.*"`` gives every IPv4 address of an IDEA event.

    :raises LookupError: (from the getter, without wildcards) naming the path and
        the missing segment.
    """
    segments = split_path(path)
    if WILDCARD in segments:

        def get_all(data: Any) -> list[Any]:
            found: list[Any] = []
            _walk(data, segments, found, None)
            return found

        get_all.__qualname__ = f"path_getter({path!r})"
        return get_all

    def get(data: Any) -> Any:
        value = data
        for segment in segments:
            try:
                value = _step(value, segment)
            except (KeyError, IndexError, TypeError):
                raise LookupError(f"field {path!r}: no {segment!r} in {type(value).__name__}") from None
        return value

    get.__qualname__ = f"path_getter({path!r})"
    return get


def path_setter(path: str) -> Setter:
    """Build a setter for a dotted path; missing mappings on the way are created.

    An index equal to a list's length appends to it.

    :raises LookupError: (from the setter) when the path crosses a value that is
        neither a mapping nor a list.
    """
    segments = split_path(path)
    if WILDCARD in segments:
        return _wildcard_setter(path, segments)
    parents, last = segments[:-1], segments[-1]

    def assign(container: Any, segment: str, value: Any) -> None:
        if isinstance(container, MutableMapping):
            container[segment] = value
        elif isinstance(container, MutableSequence) and _is_index(segment):
            index = int(segment)
            if index == len(container):
                container.append(value)
            else:
                container[index] = value
        else:
            raise TypeError(type(container).__name__)

    def set_path(data: Any, value: Any) -> Any:
        node = data
        try:
            for segment in parents:
                try:
                    node = _step(node, segment)
                except KeyError:
                    if not isinstance(node, MutableMapping):
                        raise
                    node[segment] = {}
                    node = node[segment]
            assign(node, last, value)
        except (KeyError, IndexError, TypeError) as exc:
            raise LookupError(f"field {path!r}: cannot set {exc.args[0]!r}") from None
        return data

    set_path.__qualname__ = f"path_setter({path!r})"
    return set_path


def _wildcard_setter(path: str, segments: list[str]) -> Setter:
    """A setter for a path with ``*``: takes one value per place the path matches."""

    def set_all(data: Any, values: Any) -> Any:
        places: list[tuple[Any, Any]] = []
        _walk(data, segments, [], places)
        values = list(values)
        if len(values) != len(places):
            raise LookupError(f"field {path!r}: {len(places)} places but {len(values)} values")
        for (container, key), value in zip(places, values, strict=True):
            container[key] = value
        return data

    set_all.__qualname__ = f"path_setter({path!r})"
    return set_all


def getter(spec: Getter | str | int | None, default: Getter | str | int | None = None) -> Getter:
    """Turn a getter parameter into a callable.

    :param spec: a callable (used as is), a dotted path, or an integer index.
    :param default: used when ``spec`` is ``None``, in the same forms.
    :raises TypeError: when neither gives a getter (a boolean is no index).
    """
    if spec is None:
        spec = default
    if isinstance(spec, bool):
        raise TypeError(f"a getter must be a callable, a field path or an index, not {spec!r}")
    if callable(spec):
        return spec
    if isinstance(spec, int):
        return operator.itemgetter(spec)
    if isinstance(spec, str):
        if "." not in spec and "\\" not in spec:
            return operator.itemgetter(spec)
        return path_getter(spec)
    raise TypeError(f"a getter must be a callable, a field path or an index, not {spec!r}")


def _replaced(data: Any, changes: Any) -> Any:
    """A copy of the tuple ``data`` with the ``(key, value)`` ``changes`` made: indexes, or a named tuple's fields.

    :raises TypeError: for a datum that is no tuple (it cannot be changed in place, nor copied here).
    """
    if not isinstance(data, tuple):
        raise TypeError(f"{type(data).__name__!r} object does not support item assignment")
    items = list(data)
    fields = getattr(type(data), "_fields", ())
    for key, value in changes:
        items[fields.index(key) if isinstance(key, str) and key in fields else key] = value
    made = getattr(type(data), "_make", None)
    return made(items) if made is not None else type(data)(items)


def setter(spec: Setter | str | int | None, default: Setter | str | int | None = None) -> Setter:
    """Turn a setter parameter into a callable, like :func:`getter`."""
    if spec is None:
        spec = default
    if isinstance(spec, bool):
        raise TypeError(f"a setter must be a callable, a field path or an index, not {spec!r}")
    if callable(spec):
        return spec
    if isinstance(spec, int):
        return itemsetter(spec)
    if isinstance(spec, str):
        if "." not in spec and "\\" not in spec:
            return itemsetter(spec)
        return path_setter(spec)
    raise TypeError(f"a setter must be a callable, a field path or an index, not {spec!r}")


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _takes_the_id(function: Callable[..., Any]) -> bool:
    """Whether ``function`` is a setter ``f(datum, id)`` rather than the manual's ``f(datum)`` (see :func:`id_setter`).

    :raises TypeError: when ``function`` can be called neither with one argument nor with two.
    """
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return True  # a builtin without a signature: take it for a setter
    parameters = signature.parameters.values()
    required = sum(1 for p in parameters if p.kind in _POSITIONAL and p.default is inspect.Parameter.empty)
    variadic = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    takes_one, takes_two = _binds(signature, 1), _binds(signature, 2)
    if required == 1 and takes_one and not variadic:
        return False  # the manual's form, whatever optional parameters follow the datum
    if takes_two:
        return True
    if takes_one:
        return False
    name = getattr(function, "__qualname__", None) or repr(function)
    raise TypeError(
        f"id_setter {name}{signature} takes neither one argument (the datum: the manual's function that sets"
        " an id of its own) nor two (the datum and the id the supply made)"
    )


def _binds(signature: inspect.Signature, count: int) -> bool:
    try:
        signature.bind(*([None] * count))
    except TypeError:
        return False
    return True


def id_setter(spec: Callable[..., Any] | str | int | None) -> Setter | None:
    """Turn a supply's ``id_setter`` parameter into ``set_id(datum, event_id) -> datum``.

    Two forms are accepted. The manual's: a function of one argument that
    generates a unique id, sets it on the datum and returns the datum (or
    ``None``, having changed the datum in place); it is called as ``f(datum)``
    and the id the supply would have given is not used.
    A setter's: a function of two arguments (:func:`itemsetter`, or a field
    path or index as for :func:`setter`), given the id the supply made.

    Which form a function is follows from its *required* positional
    parameters, not from how many it could take: exactly one
    (``def make_id(data, field="id")``) is the manual's form, whatever optional
    parameters follow; two is a setter. A function that takes ``*args``, or has
    no required positional parameter, is a setter when it can be called with two
    arguments and the manual's form when only with one. Bound methods,
    ``functools.partial`` objects and callable objects count the parameters
    a call must still fill (``self`` and what the partial gives are not among
    them). A callable whose signature cannot be read (some builtins) is taken
    for a setter.

    :returns: the setter, or ``None`` when ``spec`` is ``None`` (no ids).
    :raises TypeError: when ``spec`` is none of these, or a function that can be
        called neither with one argument nor with two.
    """
    if spec is None:
        return None
    if not callable(spec) or _takes_the_id(spec):
        return setter(spec)
    generate = spec

    def generate_and_set(data: Any, _supplied: Any) -> Any:
        result = generate(data)
        # A function that sets the id in place and returns nothing has still set it.
        return data if result is None else result

    generate_and_set.__qualname__ = getattr(generate, "__qualname__", "id_setter")
    return generate_and_set


def _check_accessor(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int) or callable(value):
        return value
    if isinstance(value, str):
        split_path(value)
        return value
    raise ValueError(value)


@expects('a field path (such as "Source.0.IP4"), an index, or a callable', "field path or callable")
def cast_getter(value: Any) -> Any:
    """Check a getter parameter from a file: a dotted path or an index (a boolean is neither)."""
    return _check_accessor(value)


@expects('a field path (such as "Source.0.IP4"), an index, or a callable', "field path or callable")
def cast_setter(value: Any) -> Any:
    """Check a setter parameter from a file, like :func:`cast_getter`."""
    return _check_accessor(value)


#: The annotation of a getter parameter: a callable, a field path or an index.
#: Pipeline files give a path (``false`` where the parameter may be none).
FieldGetter = Annotated[Getter | str | int, cast_getter]
#: The annotation of a setter parameter.
FieldSetter = Annotated[Setter | str | int, cast_setter]
#: The annotation of a supply's ``id_setter``: a setter, or the manual's
#: one-argument function that sets an id of its own (see :func:`id_setter`).
IdSetter = Annotated[Setter | Callable[[Any], Any] | str | int, cast_setter]


_ID_KEYS = ("ID", "id", "_id", "event_id")


def default_id_getter(data: Any) -> Any:
    """Find an event id in common places (``ID`` as in IDEA, ``id``, ``_id``, ``event_id``).

    :returns: the id, or ``None`` when the datum has none.
    """
    if isinstance(data, Mapping):
        for key in _ID_KEYS:
            if key in data:
                return data[key]
        return None
    return getattr(data, "id", None)
