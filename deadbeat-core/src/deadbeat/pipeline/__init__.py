"""Pipeline files: a Train described in TOML, built from cogs by name.

::

    [log]                      # optional, the keys of deadbeat.log.log_base_config
    level = "info"

    [train]                    # optional
    id_getter = "id"           # field path of the event id, for log messages
    high_water = 10000

    [daemon]                   # optional, the keys of deadbeat.daemon.daemon_base_config
    pid_file = "/run/deadbeat/app.pid"
    user = "deadbeat"

    [[cog]]
    use = "fs.read"            # an entry-point name ...
    filenames = ["input.jsonl"]

    [[cog]]
    use = "myapp.cogs:Tag"     # ... or module:attribute for an app's own cog
    field = "tag"

    [[errors]]                 # optional: where failed data go (default: a log line)
    use = "fs.write"
    filename = "errors.jsonl"

Every cog's parameters are checked against what the cog declares (its signature,
annotations and ``:param:`` docs; see :mod:`deadbeat.conf._declared`) before any
cog is built, and every problem of the file is reported at once, each as
``pipeline.toml: cog[2] (text.json_parse): feild: unknown parameter; did you mean
'field'?``. A parameter that may be none takes ``false`` (TOML has no null). A
cog whose first parameter is ``train`` or ``esc`` gets the Train or the Escapement.

Relative paths (files, directories, ``module:attribute`` modules) are relative to
the pipeline file's directory, wherever ``deadbeat run`` is started. ``use`` may
also name a plain function taking one datum, the manual's simplest cog: it is
used as it is.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.util
import inspect
import os
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import conf, movement
from ..conf import ConfigError
from ..daemon import UnsafePath, check_private_directory, daemon_base_config
from ..log import log_base_config
from ..plugins import CogLoadError, CogRegistry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["CogSpec", "Pipeline", "PipelineError", "PipelineFile", "build", "explain", "load", "train_settings"]

_TOP_KEYS = ("log", "train", "daemon", "cog", "errors")

#: The ``[train]`` table of a pipeline file.
train_settings = conf.cfg_section(
    "train",
    (
        conf.cfg_item(
            "id_getter",
            conf.cast_optional(movement.cast_getter),
            "Field path of the event id, for log lines, error records and event_done",
            None,
        ),
        conf.cfg_item("high_water", conf.cast_int, "Data held back by cogs above which supplies pause", 10_000),
        conf.cfg_item("low_water", conf.cast_optional(conf.cast_int), "Held data at which supplies resume", None),
    ),
    "Train",
)


class PipelineError(ValueError):
    """A pipeline file is wrong; the message names the file, the cog's index and the key.

    :ivar problems: every problem found, one line each.
    """

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            super().__init__(self.problems[0])
        else:
            super().__init__(f"{len(self.problems)} problems:\n  " + "\n  ".join(self.problems))


@dataclass
class CogSpec:
    """One ``[[cog]]`` table, resolved and checked but not built yet.

    :ivar is_cog: ``factory`` is a plain function cog, used as it is (not called to build one).
    """

    where: str
    use: str
    factory: Any
    params: dict[str, Any]
    inject: str | None
    is_cog: bool = False

    def label(self) -> str:
        """How the cog reads before it is built: ``use(param=value, ...)``."""
        shown = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.use}({shown})"


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
    path: str = ""
    daemon: dict[str, Any] = field(default_factory=dict)


def load(path: str, registry: CogRegistry | None = None) -> PipelineFile:
    """Read and check a pipeline file without building anything.

    :returns: the log and train settings, the cog specs and the error-train specs.
    :raises PipelineError: naming every problem, each with file, cog index and key.
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
    problems: list[str] = []
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(f"{path}: unknown table {key!r}{_hint(key, _TOP_KEYS)}")
    base = os.path.dirname(os.path.abspath(path))
    log_settings = _settings(path, "log", log_base_config, data.get("log", {}), problems, base)
    train = _settings(path, "train", train_settings, data.get("train", {}), problems, base)
    daemon_settings = _settings(path, "daemon", daemon_base_config, data.get("daemon", {}), problems, base)
    cogs = data.get("cog")
    if not isinstance(cogs, list) or not cogs:
        problems.append(f"{path}: no [[cog]] tables: a pipeline needs at least one cog")
        cogs = []
    specs = [_spec(path, f"cog[{i}]", table, registry, base, problems) for i, table in enumerate(cogs)]
    error_tables = data.get("errors", [])
    if not isinstance(error_tables, list):
        problems.append(f"{path}: errors: write [[errors]] tables, one per cog")
        error_tables = []
    errors = [_spec(path, f"errors[{i}]", table, registry, base, problems) for i, table in enumerate(error_tables)]
    if problems:
        raise PipelineError(problems)
    cog_specs = [s for s in specs if s is not None]
    return PipelineFile(log_settings, train, cog_specs, [s for s in errors if s is not None], path, daemon_settings)


def _settings(
    path: str, name: str, section: conf.Section, table: Any, problems: list[str], base: str
) -> dict[str, Any]:
    """Check a settings table (``[log]``, ``[train]``); :returns: every setting, defaults filled in."""
    if not isinstance(table, Mapping):
        problems.append(f"{path}: {name}: must be a table")
        return {}
    values, errors = conf.check(section, table, path, prefix=f"{name}.")
    problems += [str(error) for error in errors]
    items = {key: item for key, item in section.children.items() if isinstance(item, conf.Item)}
    values = {key: conf.rebase(items[key].cast, value, base) for key, value in values.items()}
    return {**{key: item.default for key, item in items.items()}, **values}


def _hint(key: str, known: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class _NotAllowed(Exception):
    """A ``module:attribute`` cog outside the allow-list."""


def _resolve(use: str, registry: CogRegistry, base: str) -> Any:
    if ":" not in use:
        return registry.load(use)
    if registry.allow is not None and not any(fnmatch.fnmatchcase(use, p) for p in registry.allow):
        # The allow-list speaks for every cog, not only for installed ones; refused before importing.
        raise _NotAllowed(f"not in the allow-list {registry.allow}")
    module_name, _, attribute = use.partition(":")
    module = _import_app_module(module_name, base)
    obj: Any = module
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _import_app_module(name: str, base: str) -> Any:
    """Import the module of a ``module:attribute`` cog: an installed one, or one beside the pipeline file.

    A file beside the pipeline file never shadows an installed module: the
    installed one is found first, and the pipeline's directory comes last on
    ``sys.path``, for this import only. That directory, and the module's file,
    must not be writable by others (a planted ``csv.py`` there would run).

    :raises ImportError: when there is no such module, or its place is unsafe.
    """
    top = name.partition(".")[0]
    if top in sys.modules or importlib.util.find_spec(top) is not None:
        return importlib.import_module(name)  # installed (or already loaded): the pipeline's directory plays no part
    try:
        check_private_directory(os.path.join(base, top))
    except UnsafePath as exc:
        raise ImportError(str(exc)) from None
    added = base not in sys.path
    if added:
        sys.path.append(base)
    try:
        module = importlib.import_module(name)
    finally:
        if added and base in sys.path:
            sys.path.remove(base)
    origin = getattr(module, "__file__", None)
    if origin:
        try:
            check_private_directory(origin)
        except UnsafePath as exc:
            raise ImportError(str(exc)) from None
    return module


def _spec(path: str, where: str, table: Any, registry: CogRegistry, base: str, problems: list[str]) -> CogSpec | None:
    if not isinstance(table, Mapping):
        problems.append(f"{path}: {where}: must be a table")
        return None
    params = dict(table)
    use = params.pop("use", None)
    if not isinstance(use, str) or not use:
        problems.append(f"{path}: {where}: missing 'use' (the cog's name, or module:attribute)")
        return None
    label = f"{path}: {where} ({use})"
    try:
        factory = _resolve(use, registry, base)
    except KeyError:
        problems.append(f"{label}: no such cog{_hint(use, registry.names())}; see 'deadbeat cogs'")
        return None
    except (CogLoadError, _NotAllowed) as exc:
        problems.append(f"{label}: {exc}")
        return None
    except (ImportError, AttributeError) as exc:
        problems.append(f"{label}: cannot import: {exc}")
        return None
    if not callable(factory):
        problems.append(f"{label}: {use} is not a cog (not callable)")
        return None
    if _is_plain_cog(factory, params):
        return CogSpec(where, use, factory, {}, None, is_cog=True)
    for key in conf.INJECTED:
        if key in params:
            problems.append(f"{label}: {key}: given by deadbeat run, not by the pipeline file")
            params.pop(key)
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        # Nothing declared to check against (a builtin, say): the cog checks for itself.
        return CogSpec(where, use, factory, params, None)
    inject, declared = conf.declared_parameters(factory)
    section = conf.Section("", [conf.Item(d.name, d.cast, d.doc, d.default) for d in declared])
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        # **kwargs takes any other key, unchecked; the declared ones are still checked.
        known = {k: v for k, v in params.items() if k in section.children}
        values, errors = conf.check(section, known, label, noun="parameter")
        values = {**{k: v for k, v in params.items() if k not in known}, **values}
    else:
        values, errors = conf.check(section, params, label, noun="parameter")
    problems += [str(error) for error in errors]
    casts = {d.name: d.cast for d in declared}
    values = {k: conf.rebase(casts[k], v, base) if k in casts else v for k, v in values.items()}
    return CogSpec(where, use, factory, values, inject)


def _is_plain_cog(factory: Any, params: Mapping[str, Any]) -> bool:
    """Whether ``factory`` is the manual's plain function cog (one datum in), not a factory to call."""
    if params or not inspect.isfunction(factory):
        return False
    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return False
    required = [
        p for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return len(required) == 1 and required[0].name not in conf.INJECTED


def _build_cogs(path: str, specs: list[CogSpec], train: movement.Train) -> list[Any]:
    cogs = []
    for spec in specs:
        if spec.is_cog:
            cogs.append(spec.factory)
            continue
        args: list[Any] = []
        if spec.inject == "train":
            args.append(train)
        elif spec.inject == "esc":
            args.append(train.esc)
        try:
            cog = spec.factory(*args, **spec.params)
        except Exception as exc:
            raise PipelineError(
                f"{path}: {spec.where} ({spec.use}): cannot start: {type(exc).__name__}: {exc}"
            ) from exc
        if not callable(cog):
            raise PipelineError(f"{path}: {spec.where} ({spec.use}): built {cog!r}, which is not a cog (not callable)")
        cogs.append(cog)
    return cogs


def build(source: str | PipelineFile, registry: CogRegistry | None = None, once: bool = False) -> Pipeline:
    """Check and build a pipeline: from its file, or from what :func:`load` read.

    The Train runs on the application's Escapement (:meth:`Escapement.shared
    <deadbeat.movement.Escapement.shared>`), so that a Train an app cog makes
    shares it.

    :param once: set :attr:`Escapement.once`: supplies read their input to its end
        and the run ends when everything is processed (for cron jobs).
    :raises PipelineError: naming file, cog index and key.
    """
    spec = load(source, registry) if isinstance(source, str) else source
    path = spec.path
    esc = movement.Escapement.shared()
    esc.once = once
    error_output: movement.Train | None = None
    if spec.errors:
        error_output = movement.Train(esc, name=f"{path} [[errors]]")
        error_output.cogs = _build_cogs(path, spec.errors, error_output)
    try:
        train = movement.Train(esc, error_output=error_output, name=path, **spec.train)
    except (TypeError, ValueError, ConfigError) as exc:
        raise PipelineError(f"{path}: train: {exc}") from None
    train.cogs = _build_cogs(path, spec.cogs, train)
    return Pipeline(path, esc, train, spec.log)


class _Unbuilt(movement.Cog):
    """Stands for a cog that :func:`explain` does not build: what the Train needs to know of it."""

    def __init__(self, spec: CogSpec) -> None:
        self._label = spec.label() if not spec.is_cog else spec.use
        self.supply = bool(getattr(spec.factory, "supply", False))  # type: ignore[misc]
        if callable(getattr(spec.factory, "call_batch", None)):
            self.call_batch = self._never

    def _never(self, data: Any) -> Any:
        raise RuntimeError("an explained pipeline does not run")

    def __call__(self, data: Any) -> Any:
        return self._never(data)

    def __str__(self) -> str:
        return self._label


def explain(spec: PipelineFile) -> str:
    """:returns: the cogs and generated code of a pipeline, building no cog (nothing is opened or written)."""
    dummy = movement.DummyEscapement()
    texts = []
    for name, specs in ((spec.path, spec.cogs), (f"{spec.path} [[errors]]", spec.errors)):
        if specs:
            texts.append(movement.Train(dummy, [_Unbuilt(s) for s in specs], name=name).explain())
    return "\n".join(texts)
