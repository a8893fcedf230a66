"""Settings declared by a signature: what a cog takes, read from its own code.

A cog's ``__init__`` parameters, their defaults, their annotations and the
``:param name:`` fields of its docstring are the one place its settings are
declared. Everything else is derived from them: the config insert an
application puts in its config file (:func:`section_of`), the check of a
pipeline file's ``[[cog]]`` table, ``deadbeat cogs show`` and the reference pages.

How an annotation becomes a cast (what a setting may be in a file):

==================================  =========================================
annotation                          accepted
==================================  =========================================
``str``, ``int``, ``float``, ``bool``  that type (numbers and booleans as text on the command line)
``Literal["a", "b"]``               one of the words
``list[X]``, ``Sequence[X]``        a list of X (comma-separated on the command line)
``Mapping[str, X]``, ``dict``       a table
``X | None``                        X, or ``false`` for none (TOML has no null)
``X | Y``                           X or Y, tried in that order
``Annotated[T, cast]``              what ``cast`` accepts: :data:`Path`, :data:`PathList`, :data:`Encoding`,
                                    the field getters and setters of :mod:`deadbeat.movement`
``Annotated[int, Range(0, 32)]``    a number of T within the bounds (``int`` or ``float``)
anything else (``Any``, callables)  anything, checked by the cog itself
==================================  =========================================
"""

from __future__ import annotations

import collections.abc
import importlib
import inspect
import logging
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from ._casts import (
    Cast,
    cast_any,
    cast_boolean,
    cast_choice,
    cast_encoding,
    cast_file_pattern_list,
    cast_float,
    cast_int,
    cast_list,
    cast_mapping,
    cast_octal,
    cast_optional,
    cast_path,
    cast_path_list,
    cast_range,
    cast_str,
    cast_union,
    type_name_of,
)
from ._tree import REQUIRED, Item, Section

__all__ = [
    "INJECTED",
    "Declared",
    "Encoding",
    "Mode",
    "Path",
    "FilePatternList",
    "PathList",
    "Range",
    "cast_for",
    "declared_parameters",
    "section_of",
    "split_params",
]

log = logging.getLogger("deadbeat.conf")

#: A parameter holding the name of a text encoding (checked: a codec Python knows).
Encoding = Annotated[str, cast_encoding]
#: A parameter holding permission bits, written as octal text in a pipeline file
#: (``"660"``, ``"0o660"``): a bare TOML number has lost how it was written.
Mode = Annotated[int, cast_octal]
#: A parameter holding a file system path (``~`` is expanded).
Path = Annotated[str, cast_path]
#: A parameter holding a list of paths.
PathList = Annotated[Sequence[str], cast_path_list]
#: A parameter holding glob patterns of file names (``"*.gz"``), or of paths
#: where a pattern holds a ``/`` (relative to the pipeline file's directory).
FilePatternList = Annotated[Sequence[str], cast_file_pattern_list]


@dataclass(frozen=True)
class Range:
    """Bounds of a number parameter, declared in its annotation: ``Annotated[int, Range(0, 32)]``.

    A pipeline file (and so ``deadbeat check``) refuses a value out of bounds
    with the parameter's key, before any cog is built; the cog reference shows
    the bounds. The cog keeps its own check for those who build it in Python.

    :ivar low: the least value taken (``None``: no least).
    :ivar high: the greatest value taken (``None``: no greatest).
    :ivar above: ``low`` itself is not taken ("more than 0 seconds").
    """

    low: float | None = None
    high: float | None = None
    above: bool = False


#: First parameters that ``deadbeat run`` fills in itself: the Train or the Escapement.
INJECTED = ("train", "esc")

_SIMPLE: dict[Any, Cast] = {str: cast_str, int: cast_int, float: cast_float, bool: cast_boolean}
_SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.Iterable, collections.abc.Collection)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def cast_for(annotation: Any) -> Cast:
    """:returns: the cast for a parameter with ``annotation`` (see the module's table)."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return cast_any
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        casts = [extra for extra in annotation.__metadata__ if callable(extra)]
        cast = casts[0] if casts else cast_for(typing.get_args(annotation)[0])
        for extra in annotation.__metadata__:
            if isinstance(extra, Range):
                cast = cast_range(cast, extra.low, extra.high, extra.above)
        return cast
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        casts = [cast_for(m) for m in members if m is not type(None)]
        inner = casts[0] if len(casts) == 1 else cast_any if cast_any in casts else cast_union(*casts)
        return cast_optional(inner) if type(None) in members and inner is not cast_any else inner
    if origin is typing.Literal:
        words = typing.get_args(annotation)
        return cast_choice(*map(str, words)) if all(isinstance(w, str) for w in words) else cast_any
    if annotation in _SIMPLE:
        return _SIMPLE[annotation]
    if annotation in _SEQUENCES:
        return cast_list(cast_any)
    if origin in _SEQUENCES:
        args = typing.get_args(annotation)
        return cast_list(cast_for(args[0]) if args else cast_any)
    if annotation in _MAPPINGS:
        return cast_mapping()
    if origin in _MAPPINGS:
        args = typing.get_args(annotation)
        return cast_mapping(cast_for(args[1]) if len(args) == 2 else cast_any)
    return cast_any


def split_params(doc: str) -> tuple[str, dict[str, str]]:
    """Separate Sphinx ``:param name:`` fields from the rest of a docstring.

    :returns: the text without field lists, and each parameter's description.
    """
    text: list[str] = []
    params: dict[str, str] = {}
    current = None
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.startswith(":param "):
            name, _, description = stripped[len(":param ") :].partition(":")
            current = name.split()[-1]
            params[current] = description.strip()
        elif current is not None and line.startswith((" ", "\t")) and stripped:
            params[current] += " " + stripped
        elif stripped.startswith(":"):
            current = None
        else:
            current = None
            text.append(line)
    return "\n".join(text).strip(), params


@dataclass(frozen=True)
class Declared:
    """One parameter as its signature and docstring declare it.

    :ivar name: the parameter's name, also its key in files.
    :ivar annotation: the annotation (``inspect.Parameter.empty`` when none).
    :ivar default: the default, or :data:`~deadbeat.conf.REQUIRED`.
    :ivar doc: its ``:param:`` text.
    :ivar cast: what turns a value from a file into its value.
    """

    name: str
    annotation: Any
    default: Any
    doc: str
    cast: Cast

    @property
    def required(self) -> bool:
        """Whether it has no default."""
        return self.default is REQUIRED

    @property
    def type_name(self) -> str:
        """What the parameter takes, in words, for tables and listings."""
        if self.cast is not cast_any:
            return type_name_of(self.cast)
        if self.annotation is inspect.Parameter.empty:
            return ""
        if isinstance(self.annotation, str):
            return self.annotation
        return _readable(inspect.formatannotation(self.annotation))


def _readable(text: str) -> str:
    """``collections.abc.Callable[[typing.Any], typing.Any]`` -> ``Callable[[Any], Any]``."""
    return re.sub(r"\b(?:typing|collections\.abc|types)\.", "", text)


def _docstring(factory: Any) -> str:
    own = getattr(factory, "__doc__", None)
    return inspect.cleandoc(own) if isinstance(own, str) else ""


@dataclass(frozen=True)
class _Unresolved:
    """An annotation that does not resolve where the cog runs: its text, and why."""

    annotation: Any
    name: str | None
    reason: str


#: What an annotation may name besides what its module defines: ``Optional``, ``Annotated`` and the rest
#: of :mod:`typing`, which a module may import only for type checkers. The module's own names win.
_TYPING_NAMES = {name: getattr(typing, name) for name in typing.__all__ if hasattr(typing, name)}
#: The parameters already said not to resolve: (module, cog, parameter).
_told: set[tuple[str, str, str]] = set()


def _raw_annotations(target: Any) -> dict[str, Any]:
    """The annotations of ``target`` as written: strings under ``from __future__ import annotations``."""
    try:
        raw = getattr(target, "__annotations__", None)
    except Exception:  # noqa: BLE001 - Python 3.14 evaluates them when asked, and a name missing raises
        raw = None
        try:
            annotationlib: Any = importlib.import_module("annotationlib")
            raw = annotationlib.get_annotations(target, format=annotationlib.Format.STRING)
        except Exception:  # noqa: BLE001 - no annotations to read, no casts
            raw = None
    return dict(raw) if isinstance(raw, collections.abc.Mapping) else {}


def _resolve(annotation: Any, namespace: dict[str, Any], module_globals: dict[str, Any]) -> Any:
    """One annotation, evaluated as :func:`typing.get_type_hints` evaluates it, in the module's globals.

    :raises Exception: whatever its evaluation raises (``NameError`` for a name
        imported only under ``TYPE_CHECKING``).
    """

    def holder() -> None:
        pass

    holder.__annotations__ = {"annotation": annotation}
    return typing.get_type_hints(holder, globalns=namespace, localns=module_globals, include_extras=True)["annotation"]


def _hints(factory: Any) -> dict[str, Any]:
    """Each parameter's annotation resolved on its own: one that does not resolve is an :class:`_Unresolved`.

    A single name imported only for type checkers (``if TYPE_CHECKING: from
    decimal import Decimal``) must cost the cast of its own parameter only,
    not the checks of every other one.
    """
    target = factory.__init__ if inspect.isclass(factory) else factory
    raw = _raw_annotations(target)
    if not raw:
        return {}
    unwrapped = target
    while hasattr(unwrapped, "__wrapped__"):
        unwrapped = unwrapped.__wrapped__
    module_globals = getattr(unwrapped, "__globals__", None)
    module_globals = module_globals if isinstance(module_globals, dict) else {}
    module_name = str(module_globals.get("__name__") or getattr(factory, "__module__", "") or "its module")
    namespace = dict(_TYPING_NAMES)
    hints: dict[str, Any] = {}
    for name, annotation in raw.items():
        if name == "return":
            continue
        try:
            hints[name] = _resolve(annotation, namespace, module_globals)
        except Exception as exc:  # noqa: BLE001 - an annotation that does not resolve only means no cast
            missing = getattr(exc, "name", None) if isinstance(exc, NameError) else None
            reason = f"name {missing!r} is not defined in {module_name}" if missing else f"{type(exc).__name__}: {exc}"
            hints[name] = _Unresolved(annotation, missing, reason)
    return hints


def _tell_unresolved(factory: Any, name: str, unresolved: _Unresolved) -> None:
    """Say once per parameter that its annotation does not resolve, and so that its value goes unchecked."""
    module = str(getattr(factory, "__module__", "") or "")
    qualname = str(getattr(factory, "__qualname__", "") or getattr(factory, "__name__", "") or repr(factory))
    key = (module, qualname, name)
    if key in _told:
        return
    _told.add(key)
    written = unresolved.annotation if isinstance(unresolved.annotation, str) else repr(unresolved.annotation)
    hint = (
        " (imported only under 'if TYPE_CHECKING:'? import it where the cog runs for its values to be checked)"
        if unresolved.name
        else ""
    )
    log.warning(
        "cog %s: parameter %r: its annotation %r does not resolve: %s%s; its values are taken unchecked",
        f"{module}:{qualname}" if module else qualname,
        name,
        written,
        unresolved.reason,
        hint,
    )


def _injected_kind(name: str, annotation: Any) -> str | None:
    """``"train"`` or ``"esc"`` when a first parameter asks for the Train or the Escapement, else ``None``.

    The manual has a cog that needs events ask for the Train as its first
    argument, whatever it calls it: the name ``train`` or ``esc`` says so, and
    so does an annotation (``geartrain: movement.Train``).
    """
    if name in INJECTED:
        return name
    if isinstance(annotation, str):
        last = annotation.rsplit(".", 1)[-1].strip("'\" ")
        return {"Train": "train", "Escapement": "esc"}.get(last)
    if inspect.isclass(annotation):
        from ..movement import Escapement, Train  # conf is imported by movement: not at the top

        if issubclass(annotation, Train):
            return "train"
        if issubclass(annotation, Escapement):
            return "esc"
    return None


def declared_parameters(factory: Any) -> tuple[str | None, list[Declared]]:
    """Read what ``factory`` (a cog class or function) declares.

    Each annotation is resolved on its own, in the globals of the function's
    module (with :mod:`typing`'s names besides): one that does not resolve there
    (a name imported only under ``TYPE_CHECKING``) makes its own parameter take
    anything, said once in a warning naming the cog, the parameter and the
    name, and leaves the casts of the others as they are.

    :returns: what the first parameter is given (``"train"``, ``"esc"`` or
        ``None``: see :func:`_injected_kind`) and every other parameter, in
        order; ``*args`` and ``**kwargs`` are left out.
    """
    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return None, []
    injected = None
    hints = _hints(factory)
    if parameters and parameters[0].kind in (parameters[0].POSITIONAL_ONLY, parameters[0].POSITIONAL_OR_KEYWORD):
        first = hints.get(parameters[0].name, parameters[0].annotation)
        first = first.annotation if isinstance(first, _Unresolved) else first
        injected = _injected_kind(parameters[0].name, first)
        if injected is not None:
            parameters = parameters[1:]
    docs = split_params(_docstring(factory))[1]
    found = []
    for p in parameters:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = hints.get(p.name, p.annotation)
        default = REQUIRED if p.default is p.empty else p.default
        if isinstance(annotation, _Unresolved):
            # Taken as Any: its values unchecked, its annotation shown as written; the others keep their casts.
            _tell_unresolved(factory, p.name, annotation)
            found.append(Declared(p.name, annotation.annotation, default, docs.get(p.name, ""), cast_any))
            continue
        found.append(Declared(p.name, annotation, default, docs.get(p.name, ""), cast_for(annotation)))
    return injected, found


def section_of(factory: Any, name: str = "", description: str | None = None) -> Section:
    """Build the config insert of ``factory`` from its declaration.

    :param name: the section's name (``anonymise`` gives ``[anonymise]``).
    :param description: the section's comment; the docstring's first line by default.
    """
    if description is None:
        description = split_params(_docstring(factory))[0].partition("\n")[0].strip()
    items = [Item(d.name, d.cast, d.doc, d.default) for d in declared_parameters(factory)[1]]
    return Section(name, items, description)
