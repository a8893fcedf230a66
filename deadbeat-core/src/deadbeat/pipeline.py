"""Pipeline files: a Train described in TOML, built from cogs by name.

::

    [log]                      # optional, the keys of deadbeat.log.log_base_config
    level = "info"

    [train]                    # optional
    id_getter = "id"           # field path of the event id, for log messages
    high_water = 10000

    [[cog]]
    use = "fs.read"            # an entry-point name ...
    filenames = ["input.jsonl"]

    [[cog]]
    use = "myapp.cogs:Tag"     # ... or module:attribute for an app's own cog
    field = "tag"

    [[errors]]                 # optional: where failed data go (default: a log line)
    use = "fs.write"
    filename = "errors.jsonl"

Every cog's parameters are checked against its signature (and its
``config_insert`` or annotations for types) before any cog is built, so a typo is
reported as ``pipeline.toml: cog[2] (text.json_parse): unknown parameter 'feild'``
before anything starts. A cog whose first parameter is ``train`` or ``esc`` gets
the Train or the Escapement.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import conf, movement
from .conf import ConfigError, Section
from .log import log_base_config
from .plugins import CogLoadError, CogRegistry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["CogSpec", "Pipeline", "PipelineError", "PipelineFile", "build", "load"]

_INJECTED = ("train", "esc")
_TOP_KEYS = ("log", "train", "cog", "errors")
_TRAIN_KEYS = ("id_getter", "high_water", "low_water")


class PipelineError(ValueError):
    """A pipeline file is wrong; the message names the file, the cog's index and the key."""


@dataclass
class CogSpec:
    """One ``[[cog]]`` table, resolved and checked but not built yet."""

    where: str
    use: str
    factory: Any
    params: dict[str, Any]
    inject: str | None


@dataclass
class Pipeline:
    """A built pipeline: its Escapement, Train and the log settings it asked for."""

    path: str
    esc: movement.Escapement
    train: movement.Train
    log: dict[str, Any]


@dataclass
class PipelineFile:
    """A pipeline file read and checked: settings and cog specs, nothing built."""

    log: dict[str, Any]
    train: dict[str, Any]
    cogs: list[CogSpec]
    errors: list[CogSpec]


def load(path: str, registry: CogRegistry | None = None) -> PipelineFile:
    """Read and check a pipeline file without building anything.

    :returns: the log and train settings, the cog specs and the error-train specs.
    :raises PipelineError: for every problem, naming file, cog index and key.
    """
    registry = registry or CogRegistry()
    if registry.strict:
        # Strict means any cog that cannot load is fatal, used here or not.
        try:
            registry.load_all()
        except CogLoadError as exc:
            raise PipelineError(f"{path}: strict plugin check: {exc}") from None
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PipelineError(f"{path}: invalid TOML: {exc}") from None
    for key in data:
        if key not in _TOP_KEYS:
            raise PipelineError(f"{path}: unknown table {key!r}{_hint(key, _TOP_KEYS)}")
    log_values: dict[str, Any] = {}
    try:
        conf._merge(conf.cfg_root((log_base_config,)), {"log": data.get("log", {})}, log_values, path, "")
    except ConfigError as exc:
        raise PipelineError(str(exc)) from None
    log_settings = dict(conf._to_config(log_base_config, log_values.get("log", {})))
    train = data.get("train", {})
    for key in train:
        if key not in _TRAIN_KEYS:
            raise PipelineError(f"{path}: train.{key}: unknown setting{_hint(key, _TRAIN_KEYS)}")
    cogs = data.get("cog")
    if not isinstance(cogs, list) or not cogs:
        raise PipelineError(f"{path}: no [[cog]] tables: a pipeline needs at least one cog")
    base = os.path.dirname(os.path.abspath(path))
    specs = [_spec(path, f"cog[{i}]", table, registry, base) for i, table in enumerate(cogs)]
    errors = [_spec(path, f"errors[{i}]", table, registry, base) for i, table in enumerate(data.get("errors", []))]
    return PipelineFile(log_settings, dict(train), specs, errors)


def _hint(key: str, known: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _resolve(use: str, registry: CogRegistry, base: str) -> Any:
    if ":" in use:
        module_name, _, attribute = use.partition(":")
        if base not in sys.path:
            # An app's own cog module usually sits beside its pipeline file.
            sys.path.insert(0, base)
        module = importlib.import_module(module_name)
        obj = module
        for part in attribute.split("."):
            obj = getattr(obj, part)
        return obj
    return registry.load(use)


def _spec(path: str, where: str, table: Any, registry: CogRegistry, base: str) -> CogSpec:
    if not isinstance(table, Mapping):
        raise PipelineError(f"{path}: {where}: must be a table")
    params = dict(table)
    use = params.pop("use", None)
    if not isinstance(use, str) or not use:
        raise PipelineError(f"{path}: {where}: missing 'use' (the cog's name, or module:attribute)")
    label = f"{path}: {where} ({use})"
    try:
        factory = _resolve(use, registry, base)
    except KeyError:
        known = registry.names()
        raise PipelineError(f"{label}: no such cog{_hint(use, known)}; see 'deadbeat cogs'") from None
    except CogLoadError as exc:
        raise PipelineError(f"{label}: {exc}") from None
    except (ImportError, AttributeError) as exc:
        raise PipelineError(f"{label}: cannot import: {exc}") from None
    inject, params = _check_params(label, factory, params)
    return CogSpec(where, use, factory, params, inject)


def _check_params(label: str, factory: Any, params: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None, params
    parameters = list(signature.parameters.values())
    inject = None
    if parameters and parameters[0].name in _INJECTED:
        inject = parameters[0].name
        parameters = parameters[1:]
    by_name = {p.name: p for p in parameters}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters)
    for key in params:
        if key in _INJECTED:
            raise PipelineError(f"{label}: {key}: given by deadbeat run, not by the pipeline file")
        if key not in by_name and not takes_any:
            accepted = ", ".join(by_name) or "none"
            raise PipelineError(f"{label}: unknown parameter {key!r}{_hint(key, by_name)}; accepted: {accepted}")
    for p in parameters:
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in params:
            raise PipelineError(f"{label}: missing required parameter {p.name!r}")
    insert = getattr(factory, "config_insert", None)
    if isinstance(insert, Section):
        values: dict[str, Any] = {}
        known = {k: v for k, v in params.items() if k in insert.children}
        try:
            conf._merge(insert, known, values, label, "")
        except ConfigError as exc:
            raise PipelineError(str(exc)) from None
        return inject, {**params, **values}
    hints = _type_hints(factory)
    for key, value in params.items():
        if key in hints and not _matches(value, hints[key]):
            raise PipelineError(f"{label}: {key}: expected {_type_name(hints[key])}, got {value!r}")
    return inject, params


def _type_hints(factory: Any) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 - unresolvable annotations only mean no type check
        return {}


def _matches(value: Any, hint: Any) -> bool:
    """Check the value of a pipeline file against a simple annotation.

    Only what TOML can hold is judged; any other annotation (a callable, a
    class of the app) accepts the value and leaves the check to the cog.
    """
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple, typing.Sequence) or hint in (list, tuple):
        if not isinstance(value, list):
            return False
        args = typing.get_args(hint)
        return not args or all(_matches(v, args[0]) for v in value)
    if origin in (dict, typing.Mapping) or hint is dict:
        return isinstance(value, dict)
    return True


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _build_cogs(path: str, specs: list[CogSpec], train: movement.Train) -> list[Any]:
    cogs = []
    for spec in specs:
        args: list[Any] = []
        if spec.inject == "train":
            args.append(train)
        elif spec.inject == "esc":
            args.append(train.esc)
        try:
            cogs.append(spec.factory(*args, **spec.params))
        except Exception as exc:
            raise PipelineError(
                f"{path}: {spec.where} ({spec.use}): cannot start: {type(exc).__name__}: {exc}"
            ) from exc
    return cogs


def build(path: str, registry: CogRegistry | None = None, once: bool = False) -> Pipeline:
    """Check and build the pipeline in ``path``.

    :param once: set :attr:`Escapement.once`: supplies read their input to its end
        and the run ends when everything is processed (for cron jobs).
    :raises PipelineError: naming file, cog index and key.
    """
    spec = load(path, registry)
    esc = movement.Escapement()
    esc.once = once
    error_output: movement.Train | None = None
    if spec.errors:
        error_train = movement.Train(esc)
        esc.trains.remove(error_train)
        error_train.cogs = _build_cogs(path, spec.errors, error_train)
        error_output = error_train
    try:
        train = movement.Train(esc, error_output=error_output, **spec.train)
    except (TypeError, ValueError) as exc:
        raise PipelineError(f"{path}: train: {exc}") from None
    train.cogs = _build_cogs(path, spec.cogs, train)
    if error_output is not None:
        # The error train finishes after the main one, so what fails during the
        # main train's finish still reaches it.
        esc.trains.append(error_output)
    return Pipeline(path, esc, train, spec.log)
