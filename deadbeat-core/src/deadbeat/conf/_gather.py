"""Reading settings: defaults, then config files, then command-line switches.

:func:`gather` reads, in rising priority, the defaults, the config files
(``--config``) and the switches (``--section-item``), casts every value and
returns a :class:`~deadbeat.conf.Config` whose sections star-expand into the
functions they configure. Every error names where the value came from (file or
switch), the key and what was expected.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._casts import cast_boolean, expected_of
from ._shown import shown
from ._tree import Config, ConfigError, Item, Section

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["check", "gather", "load_file"]


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


def _merge(
    definition: Section,
    values: Mapping[str, Any],
    into: dict[str, Any],
    source: str,
    prefix: str,
    errors: list[ConfigError] | None = None,
    noun: str = "setting",
) -> None:
    """Cast ``values`` by ``definition`` into ``into``.

    :param errors: collect every problem here and go on; without it, the first raises.
    :param noun: what a key is called in messages ("setting", "parameter").
    """
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        try:
            node = definition.children.get(key)
            if node is None:
                close = difflib.get_close_matches(key, list(definition.children), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                accepted = ", ".join(definition.children) or "none"
                raise ConfigError(source, dotted, f"unknown {noun}{hint}; accepted: {accepted}")
            if isinstance(node, Section):
                if not isinstance(value, Mapping):
                    raise ConfigError(source, dotted, "expected a table/object of settings")
                _merge(node, value, into.setdefault(key, {}), source, dotted + ".", errors, noun)
            else:
                into[key] = _cast(node, value, source, dotted)
        except ConfigError as exc:
            if errors is None:
                raise
            errors.append(exc)


def check(
    section: Section, values: Mapping[str, Any], source: str, prefix: str = "", noun: str = "setting"
) -> tuple[dict[str, Any], list[ConfigError]]:
    """Check and cast ``values`` against ``section``, finding every problem at once.

    :param source: what errors name as the origin (a file and a place in it).
    :param prefix: put before every key in messages (``"log."``).
    :param noun: what a key is called in messages.
    :returns: the cast values (only those given), and every problem: unknown
        keys (with the nearest known one), values a cast refuses, required
        ones missing.
    """
    into: dict[str, Any] = {}
    errors: list[ConfigError] = []
    _merge(section, values, into, source, prefix, errors, noun)
    for name, node in section.children.items():
        if isinstance(node, Item) and node.required and name not in values:
            meaning = f": {node.description.rstrip('.')}" if node.description else ""
            errors.append(ConfigError(source, prefix + name, f"required {noun} missing{meaning}"))
    return into, errors


def _cast(item: Item, value: Any, source: str, key: str) -> Any:
    try:
        return item.cast(value)
    except (ValueError, TypeError):
        # The value as messages may show it: a password of the wrong type is not printed.
        got = shown(key.rpartition(".")[2], value)
        raise ConfigError(source, key, f"expected {expected_of(item.cast)}, got {got}") from None


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
        or an unreadable file, when ``argv`` is given; ``SystemExit`` for
        ``--help`` and bad switches. Reading the program's own command line
        (``argv`` not given), a ``ConfigError`` ends the program as a bad switch
        does: the usage and the error on standard error, exit status 2, not a
        traceback.
    """
    parser = argparse.ArgumentParser(prog=name, description=description)
    _add_switches(parser, typedef, "")
    switches = vars(parser.parse_args(argv))
    try:
        return _gathered(typedef, switches, config_files)
    except ConfigError as exc:
        if argv is not None:
            raise
        parser.error(str(exc))


def _gathered(typedef: Section, switches: dict[str, Any], config_files: Iterable[str]) -> Config:
    """The configuration from the defaults, the config files and the parsed ``switches``."""
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
