"""The definition tree: settings (:class:`Item`) in named groups (:class:`Section`).

An application describes its settings once, as :func:`cfg_item` leaves in
:func:`cfg_section` branches under a :func:`cfg_root`; a cog's settings are
derived from its signature instead (see :mod:`._declared`). Either way the
tree gives config files, command-line switches, validation and inserts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Union

from ._casts import Cast, cast_path_list, type_name_of

__all__ = [
    "REQUIRED",
    "Config",
    "ConfigError",
    "Item",
    "Section",
    "cfg_base_config",
    "cfg_item",
    "cfg_root",
    "cfg_section",
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
                lines.append(
                    f"# {node.description} ({type_name_of(node.cast)})"
                    if node.description
                    else f"# ({type_name_of(node.cast)})"
                )
                if node.required:
                    lines.append(f"# {node.name} = ...  (required)")
                elif node.default is None:
                    lines.append(f"# {node.name} = false  (none)")
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


class Config(dict):  # type: ignore[type-arg]
    """Gathered settings: a dict whose keys are also attributes (``cfg.log.level``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no setting {name!r}; known: {', '.join(sorted(self))}") from None
