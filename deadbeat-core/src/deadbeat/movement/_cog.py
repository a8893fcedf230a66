"""The Cog base class and the Supply marker for cogs that produce data."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from typing import Any, ClassVar

from ..conf import Section, section_of
from ..conf._shown import SECRET_WORDS, masked

__all__ = ["Cog", "Supply", "SECRET_WORDS"]

_PARAMS_CACHE: dict[type, tuple[tuple[str, Any], ...]] = {}


def _init_params(cls: type) -> tuple[tuple[str, Any], ...]:
    """The ``__init__`` parameters of ``cls`` with their defaults (:data:`_NO_DEFAULT` for none)."""
    try:
        return _PARAMS_CACHE[cls]
    except KeyError:
        pass
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        names: tuple[tuple[str, Any], ...] = ()
    else:
        names = tuple(
            (name, _NO_DEFAULT if param.default is param.empty else param.default)
            for name, param in sig.parameters.items()
            if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
        )
    _PARAMS_CACHE[cls] = names
    return names


_NO_DEFAULT = object()
_CONTAINERS = (list, tuple, set, frozenset, dict)


def _is_default(value: Any, default: Any) -> bool:
    """Whether ``value`` is what the parameter would be without being given (a value never equals no default)."""
    if default is _NO_DEFAULT:
        return False
    if value is default:
        return True
    if isinstance(value, _CONTAINERS) and not value and (default is None or isinstance(default, _CONTAINERS)):
        return not default  # an empty list kept for an empty (or no) default: nothing given
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:  # noqa: BLE001 - a value that cannot be compared is shown
        return False


def _snake_case(name: str) -> str:
    """``JSONFormat`` -> ``json_format``, ``FileWatcherSupply`` -> ``file_watcher_supply``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class _DerivedInsert:
    """A cog class's config insert, derived from its signature and docstring on first use."""

    def __get__(self, instance: object, owner: type) -> Section:
        cached = owner.__dict__.get("_derived_insert")
        if not isinstance(cached, Section):
            name = getattr(owner, "config_name", None) or _snake_case(owner.__name__)
            cached = section_of(owner, name)
            # Set on the class itself: a subclass derives its own.
            type.__setattr__(owner, "_derived_insert", cached)
        return cached


class Cog:
    """Base class for a cog that keeps state.

    A cog is called with one datum and returns an iterable of data: the datum
    (changed or not), several data, or ``None``/empty to swallow or hold it.

    Save every ``__init__`` argument on ``self`` under the same name and
    ``str(cog)`` renders them, which is what log lines and ``deadbeat cogs`` show.
    A cog that needs the event loop takes the Train (or its Escapement) as the
    first ``__init__`` argument.

    A cog may also define ``call_batch(data: list) -> list``, returning what one
    call per datum would return, concatenated; the Train then gives it whole
    lists (see "Whole lists" in the cog author guide).
    """

    #: True for cogs that produce data of their own (read files, sockets...).
    #: The Train pauses their bindings while too much data is in flight.
    supply: ClassVar[bool] = False

    #: For a cog with ``call_batch``: True when it gives at most one datum per
    #: datum, in order, never more (parsers, formatters, filters). The Train can
    #: then tell which datum each result came from, and an error after it still
    #: names the event id the datum came in with.
    one_to_one: ClassVar[bool] = False

    #: For an output: True when it sends each datum on as it takes it and holds
    #: it in the train (:meth:`~deadbeat.movement.Train.hold`) until written, so that the ``pending``
    #: figure of its ``metrics()`` counts data that are among the train's data
    #: out and among those held alike. ``deadbeat run``'s summary then says them
    #: once, as "not written", instead of as out and held at the end.
    passes_on_what_it_holds: ClassVar[bool] = False

    #: The section name of :attr:`config_insert` (``[tail]``); by default the
    #: class name in snake case.
    config_name: ClassVar[str | None] = None

    #: The recommended config insert: a :class:`~deadbeat.conf.Section` derived
    #: from ``__init__``'s signature and ``:param:`` docs, never written by hand.
    config_insert: ClassVar[_DerivedInsert] = _DerivedInsert()

    def __call__(self, data: Any) -> Iterable[Any] | None:
        return (data,)

    def __str__(self) -> str:
        # The parameters given a value of their own: the rest are what the cog's
        # page says, and every log line and error record repeats this text.
        # Secrets are masked as everything that shows parameters masks them
        # (``deadbeat run --explain``, see deadbeat.conf._shown): a parameter
        # named like one, a key pasted where its source belongs, a URL's
        # password and query values, credential headers.
        parts = []
        for name, default in _init_params(type(self)):
            if name in ("train", "esc") or not hasattr(self, name):
                continue
            value = getattr(self, name)
            if _is_machinery(value):
                continue  # the train or loop it was given, under any name (geartrain=): no parameter of its own
            if _is_default(value, default):
                continue
            parts.append(f"{name}={_render(name, value)}")
        return f"{type(self).__name__}({', '.join(parts)})"

    __repr__ = __str__


def _is_machinery(value: Any) -> bool:
    """Whether ``value`` is a Train or an Escapement (imported here: they import this module)."""
    from ._escapement import Escapement
    from ._train import Train

    return isinstance(value, (Train, Escapement))


def _render(name: str, value: Any) -> str:
    """How ``str(cog)`` shows the parameter ``name``: its value's ``repr``, secrets masked, at most 80 characters."""
    if inspect.isfunction(value) or inspect.isbuiltin(value) or inspect.ismethod(value):
        return getattr(value, "__qualname__", repr(value))
    if isinstance(value, (list, tuple, set, frozenset, dict)) and len(value) > 8:
        # repr() of a large container costs as much as the data are big.
        return f"<{type(value).__name__} of {len(value)}>"
    text = repr(masked(name, value))
    return text if len(text) <= 80 else text[:77] + "..."


class Supply(Cog):
    """Base class for cogs that bring data into the train.

    A supply binds itself to an event source (a descriptor, an inotify watch, a
    timer) in ``__init__``. When such a callback returns an iterable, the data go
    on down the train from the position after the supply. Data arriving from an
    upstream supply pass through unchanged.
    """

    supply: ClassVar[bool] = True
