"""Configuration: one definition gives config files (JSON, TOML) and command-line switches.

An application describes its settings once, as a tree of :func:`cfg_item` leaves in
:func:`cfg_section` branches under a :func:`cfg_root`. :func:`gather` then reads, in
rising priority, the defaults, the config files (``--config``) and the switches
(``--section-item``), casts every value and returns a :class:`Config` whose
sections star-expand into the functions they configure::

    cfg = conf.gather(
        typedef=conf.cfg_root((conf.cfg_base_config, log.log_base_config, daemon.daemon_base_config)),
        name="myapp", description="What myapp does")
    log.configure(**cfg.log)
    daemon.detach(**cfg.daemon)

Every error names where the value came from (file or switch), the key and the
type that was expected.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "REQUIRED",
    "Config",
    "ConfigError",
    "Item",
    "Section",
    "cast_boolean",
    "cast_choice",
    "cast_float",
    "cast_int",
    "cast_list",
    "cast_loglevel",
    "cast_octal",
    "cast_optional",
    "cast_path",
    "cast_path_list",
    "cast_str",
    "cast_str_list",
    "cfg_base_config",
    "cfg_item",
    "cfg_root",
    "cfg_section",
    "gather",
    "load_file",
]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Default of an item that has none: it must be given.
REQUIRED: Any = _Required()


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type.

    :ivar source: the file path, ``"command line"`` or ``"defaults"``.
    :ivar key: the dotted key (``"log.level"``).
    """

    def __init__(self, source: str, key: str, message: str) -> None:
        super().__init__(f"{source}: {key}: {message}" if key else f"{source}: {message}")
        self.source = source
        self.key = key


# -- casts -------------------------------------------------------------------

Cast = Callable[[Any], Any]


def _expects(text: str) -> Callable[[Cast], Cast]:
    def mark(cast: Cast) -> Cast:
        cast.expected = text  # type: ignore[attr-defined]
        return cast

    return mark


def expected_of(cast: Cast) -> str:
    """:returns: the human description of what ``cast`` accepts."""
    return getattr(cast, "expected", getattr(cast, "__name__", "a value"))


_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


@_expects("a boolean (true/false, yes/no, on/off, 1/0)")
def cast_boolean(value: Any) -> bool:
    """Cast to bool; accepts booleans and the usual words."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueError(value)


@_expects("an integer")
def cast_int(value: Any) -> int:
    """Cast to int; accepts integers and integer text (``0x`` prefixes too)."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value.strip(), 0)
    raise ValueError(value)


@_expects("a number")
def cast_float(value: Any) -> float:
    """Cast to float; accepts numbers and numeric text."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise ValueError(value)


@_expects("a string")
def cast_str(value: Any) -> str:
    """Accept text only; numbers are not silently turned into text."""
    if isinstance(value, str):
        return value
    raise ValueError(value)


@_expects("an octal number such as 022")
def cast_octal(value: Any) -> int:
    """Cast to int from octal text (``"022"``, ``"0o22"``) or an integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        return int(text, 8)
    raise ValueError(value)


@_expects("a file system path")
def cast_path(value: Any) -> str:
    """Cast to a path with ``~`` expanded."""
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if not text or "\0" in text:
            raise ValueError(value)
        return os.path.expanduser(text)
    raise ValueError(value)


def cast_list(item_cast: Cast) -> Cast:
    """Build a cast for lists: a list, or comma-separated text on the command line.

    :param item_cast: cast applied to every element.
    """

    @_expects(f"a list of {expected_of(item_cast).removeprefix('a ').removeprefix('an ')}s")
    def cast(value: Any) -> list[Any]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(value)
        return [item_cast(item) for item in value]

    cast.__name__ = f"cast_list({getattr(item_cast, '__name__', 'cast')})"
    return cast


cast_path_list = cast_list(cast_path)
cast_path_list.__name__ = "cast_path_list"
cast_path_list.__doc__ = "Cast to a list of paths (comma-separated on the command line)."
cast_str_list = cast_list(cast_str)
cast_str_list.__name__ = "cast_str_list"


def cast_choice(*choices: str) -> Cast:
    """Build a cast accepting one of ``choices`` (case-insensitive)."""

    @_expects("one of " + ", ".join(choices))
    def cast(value: Any) -> str:
        if isinstance(value, str) and value.lower() in {c.lower() for c in choices}:
            return next(c for c in choices if c.lower() == value.lower())
        raise ValueError(value)

    cast.__name__ = f"cast_choice{choices!r}"
    return cast


def cast_optional(inner: Cast) -> Cast:
    """Build a cast that also accepts ``None`` (and ``""`` on the command line)."""

    @_expects(f"{expected_of(inner)} or nothing")
    def cast(value: Any) -> Any:
        if value is None or value == "":
            return None
        return inner(value)

    cast.__name__ = f"cast_optional({getattr(inner, '__name__', 'cast')})"
    return cast


_LEVELS = ("debug", "info", "warning", "error", "critical")


@_expects("a log level (" + ", ".join(_LEVELS) + ")")
def cast_loglevel(value: Any) -> str:
    """Cast to a lower-case logging level name."""
    if isinstance(value, str) and value.lower() in _LEVELS:
        return value.lower()
    if isinstance(value, int) and not isinstance(value, bool):
        name = logging.getLevelName(value)
        if isinstance(name, str) and name.lower() in _LEVELS:
            return name.lower()
    raise ValueError(value)


# -- the definition tree -------------------------------------------------------


class Item:
    """One setting: a leaf of the definition tree."""

    def __init__(self, name: str, cast: Cast, description: str, default: Any = REQUIRED) -> None:
        if not name.isidentifier():
            raise ValueError(f"config item name {name!r} is not an identifier")
        self.name = name
        self.cast = cast
        self.description = description
        self.default = default

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def __repr__(self) -> str:
        return f"cfg_item({self.name!r}, {getattr(self.cast, '__name__', self.cast)}, default={self.default!r})"


Node = Union[Item, "Section"]


class Section:
    """A named group of items and sections; the root has the name ``""``."""

    def __init__(self, name: str, items: Iterable[Node | Iterable[Node]], description: str = "") -> None:
        self.name = name
        self.description = description
        self.children: dict[str, Node] = {}
        for node in _flatten(items):
            if node.name in self.children:
                raise ValueError(f"config {name or 'root'}: {node.name!r} defined twice")
            self.children[node.name] = node

    def __iter__(self) -> Any:
        return iter(self.children.values())

    def defaults(self) -> dict[str, Any]:
        """:returns: the nested dict of defaults (``REQUIRED`` where there is none)."""
        return {
            name: node.defaults() if isinstance(node, Section) else node.default for name, node in self.children.items()
        }

    def to_toml(self, prefix: str = "") -> str:
        """Render the section as a commented TOML insert with the defaults."""
        lines: list[str] = []
        key = f"{prefix}.{self.name}" if prefix and self.name else (self.name or prefix)
        if key:
            if self.description:
                lines.append(f"# {self.description}")
            lines.append(f"[{key}]")
        for node in self.children.values():
            if isinstance(node, Item):
                lines.append(f"# {node.description} ({expected_of(node.cast)})")
                if node.required:
                    lines.append(f"# {node.name} = ...  (required)")
                elif node.default is None:
                    lines.append(f"# {node.name} =")
                else:
                    lines.append(f"{node.name} = {_toml_value(node.default)}")
        for node in self.children.values():
            if isinstance(node, Section):
                lines.append("")
                lines.append(node.to_toml(key))
        return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def _flatten(items: Iterable[Any]) -> Iterable[Node]:
    for node in items:
        if isinstance(node, (Item, Section)):
            yield node
        else:
            yield from _flatten(node)


def cfg_item(name: str, cast: Cast, description: str, default: Any = REQUIRED) -> Item:
    """Define one setting.

    :param name: the key (an identifier); the switch is ``--section-name``.
    :param cast: turns the raw value (file or switch text) into the right type and
        raises ``ValueError`` for a wrong one.
    :param description: help text for ``--help`` and config inserts.
    :param default: the value when none is given; :data:`REQUIRED` if it must be.
    """
    return Item(name, cast, description, default)


def cfg_section(name: str, items: Iterable[Any], description: str = "") -> Section:
    """Define a named group of settings (``cfg.name`` after :func:`gather`)."""
    return Section(name, items, description)


def cfg_root(items: Iterable[Any], description: str = "") -> Section:
    """Define the root of an application's settings."""
    return Section("", items, description)


#: The switch every application has: which config files to read.
cfg_base_config = (
    cfg_item("config", cast_path_list, "Configuration files to read (JSON or TOML), later ones win", default=[]),
)


# -- reading -----------------------------------------------------------------


class Config(dict):  # type: ignore[type-arg]
    """Gathered settings: a dict whose keys are also attributes (``cfg.log.level``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no setting {name!r}; known: {', '.join(sorted(self))}") from None


def load_file(path: str) -> dict[str, Any]:
    """Read a JSON or TOML config file, chosen by its extension.

    :raises ConfigError: naming the file, and the line for syntax errors.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read: {exc.strerror}") from None
    lowered = path.lower()
    try:
        if lowered.endswith(".toml"):
            data = tomllib.loads(raw.decode("utf-8"))
        elif lowered.endswith(".json"):
            data = json.loads(raw)
        else:
            raise ConfigError(path, "", "unknown config format; name the file *.toml or *.json")
    except json.JSONDecodeError as exc:
        raise ConfigError(path, "", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "", f"not UTF-8 text at byte {exc.start}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, "", "the top level must be a table/object")
    return data


def _merge(definition: Section, values: Mapping[str, Any], into: dict[str, Any], source: str, prefix: str) -> None:
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        node = definition.children.get(key)
        if node is None:
            close = difflib.get_close_matches(key, list(definition.children), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(source, dotted, f"unknown setting{hint}")
        if isinstance(node, Section):
            if not isinstance(value, Mapping):
                raise ConfigError(source, dotted, "expected a table/object of settings")
            _merge(node, value, into.setdefault(key, {}), source, dotted + ".")
        else:
            into[key] = _cast(node, value, source, dotted)


def _cast(item: Item, value: Any, source: str, key: str) -> Any:
    try:
        return item.cast(value)
    except (ValueError, TypeError):
        raise ConfigError(source, key, f"expected {expected_of(item.cast)}, got {value!r}") from None


def _switch(prefix: str, name: str) -> str:
    return "--" + (prefix + name).replace("_", "-").replace(".", "-")


def _add_switches(parser: argparse.ArgumentParser, section: Section, prefix: str) -> None:
    for node in section.children.values():
        if isinstance(node, Section):
            _add_switches(parser, node, f"{prefix}{node.name}.")
            continue
        dest = f"{prefix}{node.name}"
        default = "(required)" if node.required else node.default
        if node.cast is cast_boolean:
            parser.add_argument(
                _switch(prefix, node.name),
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"{node.description} (default: {default})",
            )
        else:
            parser.add_argument(
                _switch(prefix, node.name),
                dest=dest,
                default=argparse.SUPPRESS,
                metavar=node.name.upper(),
                help=f"{node.description}; {expected_of(node.cast)} (default: {default})",
            )


def _to_config(section: Section, values: Mapping[str, Any], prefix: str = "") -> Config:
    result = Config()
    for name, node in section.children.items():
        if isinstance(node, Section):
            result[name] = _to_config(node, values.get(name, {}), f"{prefix}{name}.")
        elif name in values:
            result[name] = values[name]
        elif node.required:
            raise ConfigError("configuration", f"{prefix}{name}", f"required setting missing ({node.description})")
        else:
            result[name] = node.default
    return result


def gather(
    typedef: Section,
    name: str | None = None,
    description: str | None = None,
    argv: Sequence[str] | None = None,
    config_files: Iterable[str] = (),
) -> Config:
    """Read defaults, config files and command-line switches into a :class:`Config`.

    :param typedef: the root from :func:`cfg_root`.
    :param name: program name for ``--help``.
    :param description: program description for ``--help``.
    :param argv: switches to parse (default ``sys.argv[1:]``).
    :param config_files: files read before those named by ``--config``.
    :raises ConfigError: on an unknown key, a wrong type, a missing required value
        or an unreadable file; ``SystemExit`` for ``--help`` and bad switches.
    """
    parser = argparse.ArgumentParser(prog=name, description=description)
    _add_switches(parser, typedef, "")
    switches = vars(parser.parse_args(argv))
    files = list(config_files)
    if "config" in typedef.children and "config" in switches:
        files.extend(_cast(typedef.children["config"], switches["config"], "command line", "--config"))  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for path in files:
        _merge(typedef, load_file(path), values, path, "")
    nested: dict[str, Any] = {}
    for dotted, raw in switches.items():
        parts = dotted.split(".")
        target = nested
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = raw
    _merge_switches(typedef, nested, values, "")
    if "config" in typedef.children:
        values["config"] = files
    return _to_config(typedef, values)


def _merge_switches(section: Section, switches: Mapping[str, Any], into: dict[str, Any], prefix: str) -> None:
    for key, value in switches.items():
        node = section.children[key]
        if isinstance(node, Section):
            _merge_switches(node, value, into.setdefault(key, {}), f"{prefix}{key}.")
        else:
            into[key] = _cast(node, value, "command line", _switch(prefix, key))
