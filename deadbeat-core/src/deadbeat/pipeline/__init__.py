"""Pipeline files: a Train described in TOML, built from cogs by name.

::

    [log]                      # optional, the keys of deadbeat.log.log_base_config
    level = "info"

    [train]                    # optional
    id_getter = "id"           # field path of the event id, for log messages
    high_water = 10000
    shutdown_timeout = 60      # seconds for the cogs to finish at shutdown (false: no limit)

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

    [routing]                  # optional, with [[route]]: how data choose routes
    match = "first"            # "first" (if/elif) or "all" (every route that matches)
    unmatched = "error"        # with no default route: "error" or "drop"

    [[route]]                  # optional: after the [[cog]]s, data go on by condition
    name = "alerts"
    when = "severity >= 5"     # a filter expression; no `when` makes the default route
    [[route.cog]]
    use = "fs.write"
    filename = "${ALERTS:-alerts.jsonl}"   # ${VAR}, ${VAR:-default}, ${file:/path}

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

Values (never keys) may hold ``${VAR}``, ``${VAR:-default}`` and
``${file:/path}`` (a secret, never shown), substituted after the TOML is parsed:
see :mod:`deadbeat.pipeline._variables`. Routes: see :mod:`deadbeat.routing`.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import logging
import os
import re
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import conf, movement, routing
from ..conf import ConfigError
from ..conf._shown import shown as conf_shown
from ..daemon import daemon_base_config, descriptor_note
from ..log import log_base_config
from ..movement._errors import _described
from ..plugins import CogLoadError, CogRegistry
from ..plugins._describe import is_plain_cog
from ._modules import NotAppCog, app_attribute, import_app_module
from ._variables import Substitution, VariableError, holds_unresolved, substitute

log = logging.getLogger("deadbeat.pipeline")

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "CogSpec",
    "Pipeline",
    "PipelineError",
    "PipelineFile",
    "RouteSpec",
    "Substitution",
    "VariableError",
    "build",
    "explain",
    "load",
    "routing_settings",
    "train_settings",
]

_TOP_KEYS = ("log", "train", "daemon", "cog", "errors", "routing", "route")
_ROUTE_KEYS = ("name", "when", "cog")

#: ``[train] shutdown_timeout`` when the file does not say: below systemd's
#: default ``TimeoutStopSec`` (90 s), so the run names what hangs before it is killed.
DEFAULT_SHUTDOWN_TIMEOUT = 60.0

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
        conf.cfg_item(
            "shutdown_timeout",
            conf.cast_optional(conf.cast_float),
            "Seconds the shutdown waits for the cogs to finish before it gives up and fails the run (false: no limit)",
            DEFAULT_SHUTDOWN_TIMEOUT,
        ),
    ),
    "Train",
)

#: The ``[routing]`` table of a pipeline file (see :class:`deadbeat.routing.Router`).
routing_settings = conf.cfg_section(
    "routing",
    (
        conf.cfg_item(
            "match", conf.cast_str, '"first": the first route whose condition holds; "all": every one', "first"
        ),
        conf.cfg_item(
            "unmatched",
            conf.cast_str,
            'With no default route, what becomes of data that match no route: "error" or "drop"',
            "error",
        ),
        conf.cfg_item("regex_engine", conf.cast_str, 'The engine of matches() in conditions: "re2" or "re"', "re2"),
    ),
    "Routing",
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
        """How the cog reads before it is built: ``use(param=value, ...)``, secrets masked as ``str(cog)`` masks them.

        See :mod:`deadbeat.conf._shown`: parameters named like secrets, a key
        pasted into ``key_env`` or ``key_file``, a URL's password and query
        values, credential headers.
        """
        params = ", ".join(f"{k}={conf_shown(k, v)}" for k, v in self.params.items())
        return f"{self.use}({params})"

    def missing_requirements(self) -> list[str]:
        """What the cog says it would miss here when built (its class's ``missing_requirements(params)``),
        asked without building it; none when it has no such check.

        :raises Exception: whatever the cog's own check raises.
        """
        ask = getattr(self.factory, "missing_requirements", None)
        return [str(problem) for problem in ask(dict(self.params))] if callable(ask) else []


@dataclass
class RouteSpec:
    """One ``[[route]]`` table, checked but not built: its name, condition and cogs."""

    where: str
    name: str
    when: str | None
    cogs: list[CogSpec]


@dataclass
class Pipeline:
    """A built pipeline: its Escapement, Train and the log settings it asked for.

    :ivar router: the router ending the train, when the file has ``[[route]]`` tables.
    """

    path: str
    esc: movement.Escapement
    train: movement.Train
    log: dict[str, Any]
    router: routing.Router | None = None


@dataclass
class PipelineFile:
    """A pipeline file read and checked: settings and cog specs, nothing built."""

    log: dict[str, Any]
    train: dict[str, Any]
    cogs: list[CogSpec]
    errors: list[CogSpec]
    path: str = ""
    daemon: dict[str, Any] = field(default_factory=dict)
    routes: list[RouteSpec] = field(default_factory=list)
    routing: dict[str, Any] = field(default_factory=dict)
    #: Texts read by ``${file:...}``: never shown (see :meth:`redact`).
    secrets: set[str] = field(default_factory=set)

    def redact(self, text: str) -> str:
        """:returns: ``text`` with every secret of the file shown as ``***``."""
        substitution = Substitution({})
        substitution.secrets = self.secrets
        return substitution.redact(text)


def load(
    path: str,
    registry: CogRegistry | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    problems_found: list[str] | None = None,
) -> PipelineFile:
    """Read and check a pipeline file without building anything.

    ``${VAR}`` references in values are substituted first (see
    :mod:`deadbeat.pipeline._variables`), in the parsed values, so that no
    value can change the file's structure.

    :param environ: where ``${VAR}`` is looked up; ``os.environ`` by default.
    :param problems_found: given, the problems go there instead of being
        raised, and what could be read is returned all the same (the values
        that passed their checks): ``deadbeat check`` looks at the rest too.
        A file that cannot be read or is not TOML still raises.
    :returns: the settings, the cog specs, the error-train specs and the routes.
    :raises PipelineError: naming every problem, each with file, cog index and key;
        a secret read by ``${file:...}`` is shown as ``***``.
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
            text = handle.read().decode("utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{path}: invalid TOML: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PipelineError(f"{path}: invalid TOML: {exc}") from None
    problems: list[str] = _cogs_after_routes(path, text)
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(f"{path}: unknown table {key!r}{_hint(key, _TOP_KEYS)}")
    base = os.path.dirname(os.path.abspath(path))
    substitution = Substitution(environ, base)
    data = _substituted(path, data, substitution, problems)
    log_settings = _settings(path, "log", log_base_config, data.get("log", {}), problems, base)
    train = _settings(path, "train", train_settings, data.get("train", {}), problems, base)
    timeout = train.get("shutdown_timeout")
    if timeout is not None and not timeout > 0:
        problems.append(
            f"{path}: train.shutdown_timeout: must be more than 0 seconds (false: no limit), not {timeout:g}"
        )
    daemon_settings = _settings(path, "daemon", daemon_base_config, data.get("daemon", {}), problems, base)
    routing_table = _settings(path, "routing", routing_settings, data.get("routing", {}), problems, base)
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
    routes = _routes(path, data, routing_table, registry, base, problems)
    if problems:
        if problems_found is None:
            # Every problem at once, as deadbeat check says them: with the file
            # wrong already, what its valid cogs would refuse when built too (a
            # filter's expression), not only after the rest is mended.
            route_cogs = [cog for route in routes for cog in route.cogs]
            problems += _requirement_problems(path, [*specs, *errors, *route_cogs])
            raise PipelineError([substitution.redact(problem) for problem in problems])
        problems_found += [substitution.redact(problem) for problem in problems]
    cog_specs = [s for s in specs if s is not None]
    return PipelineFile(
        log_settings,
        train,
        cog_specs,
        [s for s in errors if s is not None],
        path,
        daemon_settings,
        routes,
        routing_table if routes else {},
        substitution.secrets,
    )


def _requirement_problems(path: str, specs: list[CogSpec | None]) -> list[str]:
    """What each cog says it would miss when built (:meth:`CogSpec.missing_requirements`)."""
    found = []
    for spec in specs:
        if spec is None:
            continue
        try:
            found += [f"{path}: {spec.where} ({spec.use}): {problem}" for problem in spec.missing_requirements()]
        except Exception:  # noqa: BLE001, S112 - a cog's own check failing is said when it is built
            continue
    return found


_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*(cog|route)[ \t]*\]\]", re.MULTILINE)


def _cogs_after_routes(path: str, text: str) -> list[str]:
    """A ``[[cog]]`` written after the ``[[route]]`` tables: TOML joins it to the other cogs, before the router.

    The file would read as if the cog came after the routes, and it would run
    before them (on data not yet parsed, say): refused, with where it is.
    """
    first_route = None
    for found in _HEADER.finditer(text):
        line = text.count("\n", 0, found.start()) + 1
        if found.group(1) == "route":
            first_route = first_route or line
        elif first_route is not None:
            return [
                f"{path}:{line}: a [[cog]] table after the [[route]] tables (the first on line {first_route}): TOML"
                " puts it with the [[cog]] tables before the router, so it would run before routing. Move it"
                " above the first [[route]], or make it a [[route.cog]] of a route"
            ]
    return []


def _substituted(path: str, data: dict[str, Any], substitution: Substitution, problems: list[str]) -> dict[str, Any]:
    """:returns: the parsed file with ``${...}`` substituted in every value, each problem named by its place."""

    def cogs_label(table: str, index: int, item: Any) -> Any:
        use = item.get("use") if isinstance(item, Mapping) else None
        shown = f" ({use})" if isinstance(use, str) else ""
        return lambda place: f"{path}: {table}[{index}]{shown}{place[len(f'{table}[{index}]') :]}"

    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("cog", "errors") and isinstance(value, list):
            out[key] = [
                substitute(item, substitution, f"{key}[{i}]", problems, cogs_label(key, i, item))
                for i, item in enumerate(value)
            ]
        elif key == "route" and isinstance(value, list):
            routes = []
            for i, route in enumerate(value):
                if isinstance(route, Mapping) and isinstance(route.get("cog"), list):
                    rest = {k: v for k, v in route.items() if k != "cog"}
                    done = substitute(rest, substitution, f"route[{i}]", problems, lambda place: f"{path}: {place}")
                    done["cog"] = [
                        substitute(
                            item, substitution, f"route[{i}].cog[{j}]", problems, cogs_label(f"route[{i}].cog", j, item)
                        )
                        for j, item in enumerate(route["cog"])
                    ]
                    routes.append(done)
                else:
                    routes.append(
                        substitute(route, substitution, f"route[{i}]", problems, lambda place: f"{path}: {place}")
                    )
            out[key] = routes
        else:
            out[key] = substitute(value, substitution, key, problems, lambda place: f"{path}: {place}")
    return out


def _routes(
    path: str,
    data: Mapping[str, Any],
    settings: dict[str, Any],
    registry: CogRegistry,
    base: str,
    problems: list[str],
) -> list[RouteSpec]:
    """Check the ``[[route]]`` tables: names, conditions (compiled, to report errors now) and cogs."""
    tables = data.get("route", [])
    if not isinstance(tables, list):
        problems.append(f"{path}: route: write [[route]] tables, one per route")
        return []
    if "routing" in data and not tables:
        problems.append(f"{path}: routing: there are no [[route]] tables to route to")
    if not tables:
        return []
    match, unmatched = settings.get("match"), settings.get("unmatched")
    if match not in ("first", "all"):
        problems.append(f"{path}: routing: match: must be 'first' or 'all', not {match!r}")
    if unmatched not in ("error", "drop"):
        problems.append(f"{path}: routing: unmatched: must be 'error' or 'drop', not {unmatched!r}")
    routes: list[RouteSpec] = []
    names: dict[str, str] = {}
    defaults: list[str] = []
    for i, table in enumerate(tables):
        where = f"route[{i}]"
        if not isinstance(table, Mapping):
            problems.append(f"{path}: {where}: must be a table")
            continue
        for key in table:
            if key not in _ROUTE_KEYS:
                problems.append(f"{path}: {where}: {key}: unknown key{_hint(key, _ROUTE_KEYS)}")
        name = table.get("name")
        if not isinstance(name, str) or not name:
            problems.append(f"{path}: {where}: missing 'name' (how error records and counts name the route)")
            name = where
        elif name in names:
            problems.append(f"{path}: {where}: name: {name!r} is also the name of {names[name]}")
        names.setdefault(name, where)
        label = f"{path}: {where} ({name})"
        when = table.get("when")
        if when is None:
            defaults.append(where)
        elif not isinstance(when, str) or not when.strip():
            problems.append(f"{label}: when: must be a filter expression (text); leave it out for the default route")
            when = None
        else:
            try:
                routing.compile_condition(when, settings.get("regex_engine", "re2"))
            except ValueError as exc:
                problems.append(f"{label}: when: {exc}")
        cog_tables = table.get("cog")
        if not isinstance(cog_tables, list) or not cog_tables:
            problems.append(f"{label}: no [[route.cog]] tables: a route needs at least one cog")
            cog_tables = []
        specs = [_spec(path, f"{where}.cog[{j}]", cog, registry, base, problems) for j, cog in enumerate(cog_tables)]
        routes.append(RouteSpec(where, name, when, [s for s in specs if s is not None]))
    if len(defaults) > 1:
        problems.append(f"{path}: {', '.join(defaults)}: only one route may have no 'when' (the default route)")
    return routes


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


class _CannotImport(Exception):
    """A ``module:attribute`` whose module cannot be imported: malformed, or its code failed as it was imported."""


def _dotted(name: str) -> bool:
    """Whether ``name`` is a dotted Python name (``mycogs``, ``pkg.cogs``), what an import can take."""
    return all(part.isidentifier() for part in name.split("."))


def _malformed(use: str) -> str | None:
    """Why ``use``, holding a ':', is no ``module:attribute`` that could ever be imported; ``None`` when it could be.

    Said before anything is looked for: a path, a relative name or an empty part
    would otherwise reach the import machinery, which fails with an error of its
    own (``FileNotFoundError``, ``TypeError``) instead of a line naming the cog.
    """
    module_name, _, attribute = use.partition(":")
    spelling = "a module:attribute cog names its module by its dotted Python name (mycogs, or package.mycogs)"
    if not module_name.strip():
        return f"no module before ':'; {spelling}"
    if any(sep in module_name for sep in ("/", "\\", os.sep)):
        return f"{module_name!r} is a path, not a module name; {spelling}, found beside the pipeline file or installed"
    if module_name.startswith("."):
        return f"{module_name!r} is a relative module name; {spelling}, found beside the pipeline file or installed"
    if not _dotted(module_name):
        return f"{module_name!r} is not a module name; {spelling}"
    if not attribute.strip():
        return f"no attribute after ':'; name a class or function of {module_name} ({module_name}:MyCog)"
    if not _dotted(attribute):
        return (
            f"{attribute!r} is not an attribute name; module:attribute names a class or function of {module_name} by"
            " its dotted Python name (MyCog, or Outer.MyCog)"
        )
    return None


def _offered_with_colon(use: str, registry: CogRegistry) -> str | None:
    """Why ``use`` fails when an installed distribution offers a cog of that name (a ':' in it), else ``None``."""
    try:
        entries = [e for e in registry.discover() if use in (e.name, e.qualified)]
    except Exception:  # noqa: BLE001 - only a hint: a registry that cannot say has nothing to add
        return None
    if not entries:
        return None
    entry = entries[0]
    return (
        f"{use!r} reads as module:attribute (it holds a ':'); {entry.distribution} offers a cog named"
        f" {entry.name!r}, but a cog whose name holds a ':' cannot be used by its name (its distribution must"
        " rename it)"
    )


def _where_raised(exc: BaseException) -> str:
    """`` (file, line N)`` of the line that raised ``exc``, the import machinery's own frames left out."""
    import importlib
    import traceback

    if isinstance(exc, SyntaxError):
        return ""  # its text says where already
    machinery = os.path.dirname(importlib.__file__ or "") + os.sep
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(("<frozen ", machinery))
    ]
    return f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""


def _resolve(use: str, registry: CogRegistry, base: str) -> Any:
    """The factory ``use`` names: an installed cog's name, or an app's own ``module:attribute``.

    :raises KeyError: when no installed cog has that name.
    :raises _CannotImport: when ``use`` is no ``module:attribute`` that could be
        imported (a path, a relative name, an empty part), or when importing its
        module raised; nothing is imported for a malformed one.
    :raises ImportError: when there is no such module, or its place is unsafe.
    """
    if ":" not in use:
        return registry.load(use)
    malformed = _malformed(use)
    if malformed is not None:
        raise _CannotImport(_offered_with_colon(use, registry) or malformed)
    # The allow-list speaks for every cog, not only for installed ones; refused
    # before importing. Only a pattern with a ':' allows module:attribute names:
    # 'http.*', meant for the http cogs, must not allow the standard library's
    # http.server:test (any function of an installed module is a module:attribute).
    if registry.allow is not None and not any(":" in p and fnmatch.fnmatchcase(use, p) for p in registry.allow):
        plain = [p for p in registry.allow if ":" not in p and fnmatch.fnmatchcase(use, p)]
        hint = (
            f"; {', '.join(repr(p) for p in plain)} allows installed cogs only: a module:attribute cog needs a"
            f" pattern with ':' (--allow '{use.partition(':')[0]}:*')"
            if plain
            else ""
        )
        raise _NotAllowed(f"not in the allow-list {registry.allow}{hint}")
    module_name, _, attribute = use.partition(":")
    try:
        module = import_app_module(module_name, base)
    except ImportError:
        offered = _offered_with_colon(use, registry)
        if offered is None:
            raise
        raise _CannotImport(offered) from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the module's own code may raise anything, SystemExit too
        raise _CannotImport(f"{module_name}: {type(exc).__name__}: {exc}{_where_raised(exc)}") from None
    # Only what the module itself defines, checked before anything is called
    # (--allow 'mycogs:*' must not reach os.system through mycogs:os.system).
    try:
        return app_attribute(module, module_name, attribute)
    except (NotAppCog, AttributeError):
        raise
    except Exception as exc:  # noqa: BLE001 - a module's __getattr__, say, may raise anything
        raise _CannotImport(
            f"{module_name}: looking up {attribute} raised {type(exc).__name__}: {exc}{_where_raised(exc)}"
        ) from None


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
        # The registry's suggestion: a plain name offered twice is nearest too (names() leaves it out).
        close = registry.suggest(use)
        hint = f"; did you mean {close!r}?" if close else ""
        problems.append(f"{label}: no such cog{hint}; see 'deadbeat cogs'")
        return None
    except (CogLoadError, _NotAllowed, NotAppCog) as exc:
        problems.append(f"{label}: {exc}")
        return None
    except (ImportError, AttributeError, _CannotImport) as exc:
        problems.append(f"{label}: cannot import: {exc}")
        return None
    if not callable(factory):
        problems.append(f"{label}: {use} is not a cog (not callable)")
        return None
    if not params and is_plain_cog(factory):
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
    if inject is None and _asks_for_the_train(factory, signature, params):
        inject, declared = "train", declared[1:]
    # A value whose ${...} could not be substituted has its problem already;
    # checked as the text it is, it would only add false ones.
    unresolved = {key for key, value in params.items() if holds_unresolved(value)}
    section = conf.Section("", [conf.Item(d.name, d.cast, d.doc, d.default) for d in declared])
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        # **kwargs takes any other key, unchecked; the declared ones are still checked.
        known = {k: v for k, v in params.items() if k in section.children}
        values, errors = conf.check(section, known, label, noun="parameter")
        values = {**{k: v for k, v in params.items() if k not in known}, **values}
    else:
        values, errors = conf.check(section, params, label, noun="parameter")
    problems += [_train_hint(factory, signature, str(error), label) for error in errors if error.key not in unresolved]
    values = {k: v for k, v in values.items() if k not in unresolved}
    casts = {d.name: d.cast for d in declared}
    values = {k: conf.rebase(casts[k], v, base) if k in casts else v for k, v in values.items()}
    return CogSpec(where, use, factory, values, inject)


def _asks_for_the_train(factory: Any, signature: inspect.Signature, params: Mapping[str, Any]) -> bool:
    """Whether a cog class's first parameter is the Train the manual has cogs ask for, whatever its name.

    The manual: a cog "must ask for Train instance as the first argument of
    ``__init__``" when it needs events. A first parameter named ``train`` or
    ``esc``, or annotated, says so by itself (see :func:`conf.declared_parameters`);
    so does an unannotated, required, positional one whose name speaks of a
    train (``geartrain``, ``my_train``) and that the pipeline file does not
    give. Any other name stays a parameter: a missing one is an error that
    says how to mark the Train (see :func:`_train_hint`).
    """
    first = _first_required(factory, signature)
    return first is not None and "train" in first.name.lower() and first.name not in params


def _first_required(factory: Any, signature: inspect.Signature) -> inspect.Parameter | None:
    """A cog class's first parameter when it is unannotated, required and positional, else ``None``."""
    if not inspect.isclass(factory):
        return None
    parameters = list(signature.parameters.values())
    if not parameters:
        return None
    first = parameters[0]
    if (
        first.kind in (first.POSITIONAL_ONLY, first.POSITIONAL_OR_KEYWORD)
        and first.default is first.empty
        and first.annotation is first.empty
    ):
        return first
    return None


def _train_hint(factory: Any, signature: inspect.Signature, problem: str, label: str) -> str:
    """``problem``, with how to mark the Train when it is the first parameter's absence."""
    first = _first_required(factory, signature)
    if first is not None and problem.startswith(f"{label}: {first.name}: required"):
        return (
            f"{problem} (if {first.name} is the Train the cog needs, name it train or annotate it"
            " movement.Train: deadbeat run gives it then)"
        )
    return problem


def _build_cogs(path: str, specs: list[CogSpec], train: movement.Train, built: list[Any]) -> list[Any]:
    """Make the cogs of ``specs`` for ``train``; each one made is added to ``built`` too (see :func:`_abandon`)."""
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
        except KeyboardInterrupt:
            raise  # Ctrl-C while the pipeline is built: the command stops
        except BaseException as exc:  # noqa: BLE001 - sys.exit() in a cog's __init__ is its failure to start
            # (SystemExit let through ended the command with the cog's status: 0 for sys.exit(), saying nothing.)
            raise PipelineError(
                f"{path}: {spec.where} ({spec.use}): cannot start: {_described(exc)}{descriptor_note(exc)}"
            ) from exc
        built.append(cog)
        if not callable(cog):
            raise PipelineError(f"{path}: {spec.where} ({spec.use}): built {cog!r}, which is not a cog (not callable)")
        cogs.append(cog)
    return cogs


def _abandon(esc: movement.Escapement, built: list[Any]) -> None:
    """A pipeline that cannot start: let go of what its cogs made before one failed.

    The cogs made so far hold descriptors and bindings (a tailer watching its
    files, an output's open file) on the application's Escapement. It is
    closed, so that none of them runs and the next pipeline gets a new one,
    and each cog's ``done`` releases what it holds, in reverse order. Nothing
    those cogs would save (their positions in a shared state file) is theirs
    to save: they never ran, so the Escapement is marked ``abandoned`` first.
    """
    esc.abandoned = True
    esc.close()
    for cog in reversed(built):
        done = getattr(cog, "done", None)
        if not callable(done):
            continue
        try:
            done()
        except Exception:  # noqa: BLE001 - the pipeline failed already; this is only tidying up
            log.debug("%s: done() of a cog of a pipeline that could not start raised", cog, exc_info=True)


def build(source: str | PipelineFile, registry: CogRegistry | None = None, once: bool = False) -> Pipeline:
    """Check and build a pipeline: from its file, or from what :func:`load` read.

    The Train runs on the application's Escapement (:meth:`Escapement.shared
    <deadbeat.movement.Escapement.shared>`), so that a Train an app cog makes
    shares it. With ``[[route]]`` tables, a :class:`~deadbeat.routing.Router`
    ends the train, and each route's cogs run in a train of their own on the
    same Escapement.

    :param once: set :attr:`Escapement.once`: supplies read their input to its end
        and the run ends when everything is processed (for cron jobs).
    :raises PipelineError: naming file, cog index and key.
    """
    spec = load(source, registry) if isinstance(source, str) else source
    try:
        esc = movement.Escapement.shared()
    except OSError as exc:
        # Its epoll, inotify and loop come before any cog: without a descriptor
        # for them, the limit is what to name.
        raise PipelineError(f"{spec.path}: cannot start: {exc}{descriptor_note(exc)}") from exc
    esc.once = once
    if spec.secrets:
        hide_in_logs(spec.redact)
    return assemble(spec, esc)


class _Redacting(logging.Filter):
    """Shows secrets as ``***`` in every line a handler writes, tracebacks included."""

    def __init__(self, redact: typing.Callable[[str], str]) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        # A filter that raises raises in whatever code logged (a train sending
        # a datum to the dead-letter log): it must not cost data, nor show the
        # secret it failed to hide.
        try:
            text = record.getMessage()
            shown = self.redact(text)
            if shown != text:
                record.msg, record.args = shown, None
            if record.exc_info and not record.exc_text:
                record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        except Exception as exc:  # noqa: BLE001 - any failure: the line is written without its text
            record.msg = f"(a log line of {record.name} not shown: hiding secrets in it failed: {type(exc).__name__})"
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


def hide_in_logs(redact: typing.Callable[[str], str]) -> None:
    """Make every handler of the root logger show secrets as ``***`` (:meth:`PipelineFile.redact`).

    A cog hides the parameters whose names say they are secret (``password``,
    ``token``, ``key``...) from ``str(cog)``; a secret from ``${file:...}`` in
    any other parameter (a URL holding a token) would still show in the log
    lines that name the cog. Called by :func:`build`, after logging is
    configured, when the file reads secrets.
    """
    for handler in logging.getLogger().handlers:
        found = [f for f in handler.filters if isinstance(f, _Redacting)]
        if found:
            found[0].redact = redact  # the pipeline built last: its secrets
        else:
            handler.addFilter(_Redacting(redact))


def assemble(spec: PipelineFile, esc: movement.Escapement, error_output: Any = None) -> Pipeline:
    """Build the trains of a checked pipeline file on ``esc``.

    :param error_output: replaces the file's ``[[errors]]`` (``deadbeat test``
        catches error records this way).
    :raises PipelineError: when a cog cannot start.
    """
    built: list[Any] = []
    try:
        return _assemble(spec, esc, error_output, built)
    except PipelineError:
        _abandon(esc, built)
        raise


def _assemble(spec: PipelineFile, esc: movement.Escapement, error_output: Any, built: list[Any]) -> Pipeline:
    path = spec.path
    # Error records leave the process through the error output, where the log's masking does not reach.
    redact = spec.redact if spec.secrets else None
    if error_output is None and spec.errors:
        error_output = movement.Train(esc, name=f"{path} [[errors]]")
        error_output.redact = redact
        error_output.cogs = _build_cogs(path, spec.errors, error_output, built)
    settings = dict(spec.train)
    shutdown_timeout = settings.pop("shutdown_timeout", DEFAULT_SHUTDOWN_TIMEOUT)
    try:
        train = movement.Train(esc, error_output=error_output, name=path, **settings)
    except (TypeError, ValueError, ConfigError) as exc:
        raise PipelineError(f"{path}: train: {exc}") from None
    train.redact = redact
    cogs = _build_cogs(path, spec.cogs, train, built)
    router = None
    if spec.routes:
        routes = []
        for route_spec in spec.routes:
            try:
                route = routing.Route(
                    route_spec.name,
                    route_spec.when,
                    esc=esc,
                    regex_engine=spec.routing.get("regex_engine", "re2"),
                    high_water=train.high_water,
                )
            except ValueError as exc:
                raise PipelineError(f"{path}: {route_spec.where} ({route_spec.name}): {exc}") from None
            route.train.redact = redact
            route.cogs = _build_cogs(path, route_spec.cogs, route.train, built)
            routes.append(route)
        try:
            router = routing.Router(
                train, routes, spec.routing.get("match", "first"), spec.routing.get("unmatched", "error")
            )
        except ValueError as exc:
            raise PipelineError(f"{path}: routing: {exc}") from None
        cogs.append(router)
    train.cogs = cogs
    # The deadline is the application's (the Escapement finishes every train): the
    # pipeline last assembled on ``esc`` (after a reload, the new one) sets it.
    esc.shutdown_timeout = shutdown_timeout
    return Pipeline(path, esc, train, spec.log, router)


class _Unbuilt(movement.Cog):
    """Stands for a cog that :func:`explain` does not build: what the Train needs to know of it."""

    def __init__(self, spec: CogSpec, redact: typing.Callable[[str], str]) -> None:
        # Redacted before the Train shortens the label for its generated code,
        # where a cut secret would no longer be found.
        self._label = redact(spec.label() if not spec.is_cog else spec.use)
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
    """:returns: the cogs and generated code of a pipeline, building no cog (nothing is opened or written).

    Secrets read by ``${file:...}`` are shown as ``***``.
    """
    dummy = movement.DummyEscapement()
    texts = []
    trains = [(spec.path, spec.cogs), (f"{spec.path} [[errors]]", spec.errors)]
    trains += [
        (f"{spec.path} {route.where} ({route.name}) when {route.when or '(default)'}", route.cogs)
        for route in spec.routes
    ]
    main: movement.Train | None = None
    for name, specs in trains:
        if specs:
            cogs = [_Unbuilt(s, spec.redact) for s in specs]
            train = movement.Train(dummy, cogs, name=name)
            if main is None:
                main = train
            else:
                # The error train and the routes' trains are fed by the main one: their first cog is no supply.
                train._fed_by = main
            texts.append(spec.redact(train.explain()))
    if spec.routes:
        has_default = any(r.when is None for r in spec.routes)
        unmatched = "the default route" if has_default else spec.routing.get("unmatched", "error")
        lines = [f"Then routed ({spec.routing.get('match', 'first')} match; unmatched: {unmatched}):"]
        lines += [f"  {r.name}: {r.when or '(default)'}" for r in spec.routes]
        texts.insert(1, spec.redact("\n".join(lines)) + "\n")
    return "\n".join(texts)
