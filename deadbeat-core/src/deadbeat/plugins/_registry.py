"""The cogs installed distributions offer, found through entry points.

Listing costs no import. Everything ``deadbeat cogs`` prints comes from the
installed metadata: the entry points, the distribution's requirements (is the
core version one it accepts? are the extras its entry points name installed?)
and the manifest the distribution's build wrote beside them (see
:mod:`deadbeat.plugins._manifest`), which holds each cog's summary line. A cog's
module runs only when the cog is used (``deadbeat run``, :meth:`CogRegistry.load`)
or checked (``deadbeat cogs --check``, :meth:`CogRegistry.load_all`). A plugin
that takes seconds to import, or never finishes importing properly, therefore
costs nothing to a listing or to a pipeline that does not use it.

Names. Several distributions may offer one name; each offer is listed and can be
named alone as ``DISTRIBUTION/NAME`` (``deadbeat-cogs-fs/fs.read``): a slash is in
no entry-point name we accept and in no ``module:attribute``. The plain name
belongs to the one offer that can be used at all (compatible with this core, in
the allow-list); when several can, the plain name is refused with every
qualified name to choose from, because taking one by load order would let any
newly installed distribution take over a pipeline's cog without a word. One
exception, by ownership rather than by order: a name with the prefix of one of
Deadbeat's own distributions (``fs.``, ``text.``, ``ip.``...) offered by that
distribution means its cog, and another offer of it is ``duplicate``, usable by
its qualified name; neither an accident nor a hostile package installed beside
can then take over ``fs.read`` or make it unusable.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
from collections.abc import Iterable, Iterator
from importlib import metadata as importlib_metadata
from typing import Any

from ._manifest import read_manifest

log = logging.getLogger("deadbeat.plugins")

__all__ = [
    "GROUP",
    "CogEntry",
    "CogLoadError",
    "CogNotInstalled",
    "CogRegistry",
    "cog_summary",
    "core_version",
    "not_a_cog_reason",
]

#: The entry-point group cog distributions register in.
GROUP = "deadbeat.cogs"
CORE_DISTRIBUTION = "deadbeat-core"

# What a cog entry can be. Only AVAILABLE and LOADED can be used; DUPLICATE is
# shown for a usable offer whose plain name is ambiguous (its qualified name works).
AVAILABLE = "available"  # found in the metadata, not imported
LOADED = "loaded"  # imported, and it is a cog
BROKEN = "broken"  # importing it failed
NOT_A_COG = "not a cog"  # imported, but the object cannot be a cog
DUPLICATE = "duplicate"  # the plain name is offered by several usable distributions
INCOMPATIBLE = "incompatible"  # its distribution needs another deadbeat-core
NOT_ALLOWED = "not allowed"  # outside the allow-list: refused, but no failure

#: How long, in seconds, ``deadbeat cogs --check`` waits for a cog's import to end (see CogRegistry.load_all).
IMPORT_TIMEOUT = 60.0
#: How often, in seconds, the check looks whether its child process has ended.
_POLL_INTERVAL = 0.05

#: Statuses that make ``deadbeat cogs --strict`` (and a strict registry) fail.
FAILURES = frozenset({BROKEN, NOT_A_COG, DUPLICATE, INCOMPATIBLE})

#: Name prefixes of the first-party cog distributions, for "pip install" hints.
FIRST_PARTY = {
    "fs": "deadbeat-cogs-fs",
    "ip": "deadbeat-cogs-ip",
    "text": "deadbeat-cogs-text",
    "cast": "deadbeat-cogs-text",
    "flow": "deadbeat-cogs-text",
    "time": "deadbeat-cogs-text",
    "dns": "deadbeat-cogs-net",
    "socket": "deadbeat-cogs-net",
    "http": "deadbeat-cogs-net",
    "stream": "deadbeat-cogs-net",
}


def core_version() -> str:
    """:returns: the installed deadbeat-core version."""
    return importlib_metadata.version(CORE_DISTRIBUTION)


def normalize(name: str) -> str:
    """:returns: a distribution name as PEP 503 compares them (``Deadbeat_Cogs.FS`` -> ``deadbeat-cogs-fs``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


class CogLoadError(RuntimeError):
    """A cog cannot be used; the message names the cog, distribution, version and reason.

    :param entry: the entry that cannot be used, when there is one.
    :param message: the message, when it is not the entry's own.
    """

    def __init__(self, entry: CogEntry | None, message: str | None = None) -> None:
        if message is None:
            assert entry is not None
            if entry.unmet and entry.usable and not entry.ambiguous:
                # It loaded, and says what it lacks to run here (a library, an extra): "is loaded" would mislead.
                message = (
                    f"cog {entry.name!r} from {entry.distribution} {entry.version} cannot be used here: {entry.unmet}"
                )
                if entry.hint and entry.hint not in entry.unmet:
                    message += f"; {entry.hint}"
            else:
                message = (
                    f"cog {entry.name!r} from {entry.distribution} {entry.version} is {entry.status}: {entry.error}"
                )
                if entry.hint:
                    message += f"; {entry.hint}"
        super().__init__(message)
        self.entry = entry


class CogNotInstalled(CogLoadError):
    """No installed distribution offers the name, but a first-party one would: the message says which to install."""


class CogEntry:
    """One cog offered by an installed distribution.

    A plain class, not a dataclass: importing :mod:`dataclasses` (and the
    :mod:`inspect` it needs) costs a listing more than discovering every cog.

    :ivar name: the public name (entry-point name).
    :ivar value: where it lives, ``module:attribute``.
    :ivar distribution: the distribution's name.
    :ivar version: the distribution's version.
    :ivar state: available, loaded, broken, not a cog, incompatible or not allowed.
    :ivar problem: why it cannot be used, when it cannot.
    :ivar hint: what to install, when something missing is the reason.
    :ivar unmet: what a cog that loads lacks to run here, found by :meth:`CogRegistry.load_all`
        (its ``missing_requirements``, or its entry point's extra not installed): it cannot be used,
        though its status stays ``loaded``.
    :ivar summary: the first line of the cog's docstring, from the manifest or once imported.
    :ivar extras: the extras its entry point names (``[cryptopan]``).
    :ivar extras_missing: those of them whose libraries are not installed.
    :ivar others: the qualified names of the other offers of the same name.
    :ivar ambiguous: whether the plain name is refused because several usable offers have it.
    :ivar offered_elsewhere: the other offers as people read them:
        ``deadbeat-cogs-fs 0.2.0 ('deadbeat-cogs-fs/fs.read')``.
    :ivar described: whether the summary came from the distribution's manifest.
    :ivar details: the traceback of a failed import.
    :ivar entry_point: the entry point it was found as.
    :ivar obj: the cog class or factory, once imported.
    """

    def __init__(self, name: str, value: str, distribution: str, version: str, entry_point: Any = None) -> None:
        self.name = name
        self.value = value
        self.distribution = distribution
        self.version = version
        self.entry_point = entry_point
        self.state = AVAILABLE
        self.problem: str | None = None
        self.hint: str | None = None
        self.unmet: str | None = None
        self.extras_missing: list[str] = []
        self.summary = ""
        self.extras: list[str] = []
        self.others: list[str] = []
        self.ambiguous = False
        self.offered_elsewhere = ""
        self.described = False
        self.details: str | None = None
        self.obj: Any = None

    def __repr__(self) -> str:
        return (
            f"CogEntry(name={self.name!r}, value={self.value!r}, distribution={self.distribution!r},"
            f" version={self.version!r}, status={self.status!r})"
        )

    @property
    def usable(self) -> bool:
        """Whether this offer can be used (by its qualified name at least)."""
        return self.state in (AVAILABLE, LOADED)

    @property
    def status(self) -> str:
        """What listings show: the state, or ``duplicate`` for a usable offer whose plain name is ambiguous."""
        return DUPLICATE if self.ambiguous and self.usable else self.state

    @property
    def error(self) -> str | None:
        """Why the cog cannot be used (by its plain name), or ``None``."""
        if self.ambiguous and self.usable:
            return (
                f"{self.name!r} is also offered by {self.offered_elsewhere}; write {self.qualified!r} to use this one"
            )
        if self.usable and self.unmet:
            return self.unmet
        return self.problem

    @property
    def qualified(self) -> str:
        """The name that picks this offer whatever else is installed: ``distribution/name``."""
        return f"{self.distribution}/{self.name}"

    def as_dict(self) -> dict[str, Any]:
        """:returns: the fields ``deadbeat cogs --json`` prints."""
        return {
            "name": self.name,
            "qualified_name": self.qualified,
            "value": self.value,
            "distribution": self.distribution,
            "version": self.version,
            "summary": self.summary,
            "status": self.status,
            "error": self.error,
            "hint": self.hint,
        }


def cog_summary(obj: Any) -> str:
    """:returns: the first line of ``obj``'s own docstring, or ``""``."""
    from ._describe import describe

    return describe(obj).summary


def not_a_cog_reason(obj: Any) -> str | None:
    """Tell whether an entry point's object can be a cog.

    A cog is a class whose instances take a datum, or a function: a plain cog
    (one datum in) or a factory taking keyword parameters (the pipeline file's
    keys). Anything else (a number, a module, a class whose instances cannot be
    called, a function taking ``*args``) would fail only later, in a run.

    :returns: why ``obj`` is not a cog, or ``None`` when it can be one.
    """
    import inspect

    if inspect.ismodule(obj):
        return f"the entry point names the module {obj.__name__}, not a class or function in it"
    if not callable(obj):
        try:
            text = repr(obj)
        except BaseException:  # noqa: BLE001 - its __repr__ is the plugin's code: a failing one is no reason to stop
            text = f"<{type(obj).__name__} object>"
        text = text if len(text) <= 40 else text[:37] + "..."
        kind = type(obj).__name__
        article = "an" if kind[:1].lower() in "aeiou" else "a"
        return f"the entry point names {text}, {article} {kind}, not a class or function"
    if inspect.isclass(obj) and not any("__call__" in vars(k) for k in obj.__mro__ if k is not object):
        return f"instances of {obj.__qualname__} cannot be called with a datum (no __call__)"
    try:
        parameters = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return None  # a builtin: nothing to tell from, so it gets the benefit of the doubt
    for p in parameters:
        if p.kind is p.VAR_POSITIONAL:
            return f"{getattr(obj, '__qualname__', obj)} takes *{p.name}, which a pipeline file cannot give"
    positional_only = [p for p in parameters if p.kind is p.POSITIONAL_ONLY]
    if positional_only and len(parameters) > 1:
        names = ", ".join(p.name for p in positional_only)
        return f"{getattr(obj, '__qualname__', obj)} has positional-only parameters ({names}) a pipeline cannot name"
    return None


_SIMPLE_CLAUSE = re.compile(r"\s*(>=|<=|==|!=|~=|>|<)\s*(\d+(?:\.\d+)*)(\.\*)?\s*\Z")


def _release(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in text.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()  # 0.2 == 0.2.0
    return tuple(parts)


def _simple_contains(specifier: str, version: str) -> bool | None:
    """Decide ``version in specifier`` for plain release numbers (``>=0.2,<0.3``), as packaging would.

    :returns: ``None`` when either is more than that (pre-releases, local
        versions, ``===``): packaging decides then. Importing packaging costs a
        listing more than everything else it does, and these are the ranges
        distributions write.
    """
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        return None
    have = _release(version)
    for clause in specifier.split(","):
        match = _SIMPLE_CLAUSE.match(clause)
        if match is None:
            return None
        operator, number, wildcard = match.groups()
        want = _release(number)
        if wildcard:
            if operator not in ("==", "!="):
                return None
            raw = tuple(int(p) for p in number.split("."))
            padded = tuple(int(p) for p in version.split(".")) + (0,) * len(raw)
            ok = padded[: len(raw)] == raw
            if ok != (operator == "=="):
                return False
            continue
        if operator == "~=":
            if "." not in number:
                return None
            prefix = tuple(int(p) for p in number.split("."))[:-1]
            padded = tuple(int(p) for p in version.split(".")) + (0,) * len(prefix)
            if not (have >= want and padded[: len(prefix)] == prefix):
                return False
            continue
        ok = {
            ">=": have >= want,
            "<=": have <= want,
            ">": have > want,
            "<": have < want,
            "==": have == want,
            "!=": have != want,
        }[operator]
        if not ok:
            return False
    return True


def _core_problem(requires: list[str], core: str | None) -> str | None:
    """:returns: why a distribution requiring ``requires`` cannot run on core ``core``, or ``None`` when it can."""
    if core is None:
        return None
    for text in requires:
        match = re.match(r"\s*([A-Za-z0-9._-]+)\s*(\[[^\]]*\])?\s*\(?([^;)]*)\)?\s*(?:;(.*))?\Z", text)
        if match is None or normalize(match.group(1)) != CORE_DISTRIBUTION:
            continue
        specifier, marker = match.group(3).strip(), (match.group(4) or "").strip()
        if not specifier:
            continue
        if marker:
            from packaging.markers import InvalidMarker, Marker

            try:
                if not Marker(marker).evaluate({"extra": ""}):
                    continue
            except InvalidMarker:
                continue
        contained = _simple_contains(specifier, core)
        if contained is None:
            from packaging.specifiers import InvalidSpecifier, SpecifierSet

            try:
                contained = SpecifierSet(specifier).contains(core, prereleases=True)
            except InvalidSpecifier:
                continue
        if not contained:
            return f"needs {CORE_DISTRIBUTION}{specifier.replace(' ', '')}, but {core} is installed"
    return None


def _headers(dist: Any) -> tuple[str, str, list[str], str | None]:
    """Read a distribution's name, version and requirements from its METADATA headers.

    The headers are read line by line rather than through ``dist.metadata``:
    the email parser it uses costs a listing more than the rest of discovery.

    :returns: the name (``""`` when it has none), the version (``"?"`` when it
        has none), the requirements, and why the metadata cannot be read
        (``None`` when it can); what cannot be read counts as empty.
    """
    text, problem = _read(dist, "METADATA")
    if not text and problem is None:
        text, problem = _read(dist, "PKG-INFO")
    name = version = ""
    requires: list[str] = []
    for line in (text or "").splitlines():
        if not line.strip():
            break  # the headers end at the first blank line; the description follows
        key, _, value = line.partition(":")
        if key == "Name":
            name = value.strip()
        elif key == "Version":
            version = value.strip()
        elif key == "Requires-Dist":
            requires.append(value.strip())
    return name, version or "?", requires, problem


def _read(dist: Any, filename: str) -> tuple[str | None, str | None]:
    """Read one of a distribution's metadata files, whatever is in it.

    Any installed package's metadata is read (every one's entry points, to find
    the cogs): one written in Latin-1, or unreadable, must cost that package
    alone, never every deadbeat command.

    :returns: the text (``None`` when there is no such file or it cannot be
        read), and why it cannot be read (``None`` when it can).
    """
    try:
        return dist.read_text(filename), None
    except UnicodeDecodeError as exc:
        return None, f"its {filename} is not UTF-8 ({_undecodable(exc)})"
    except (OSError, ValueError) as exc:
        return None, f"its {filename} cannot be read ({_exception_text(exc)})"


def _undecodable(exc: UnicodeDecodeError) -> str:
    """:returns: where a decoding failed, as people read it: ``byte 0xe9 at offset 32``."""
    raw = exc.object
    if isinstance(raw, (bytes, bytearray)) and 0 <= exc.start < len(raw):
        return f"byte {raw[exc.start]:#04x} at offset {exc.start}"
    return exc.reason


def _label(dist: Any) -> str:
    """:returns: what tells a distribution apart when its metadata names none: its ``.dist-info`` directory's name.

    ``_path`` is where importlib.metadata's own distributions (the only kind
    installers make) keep their directory; a finder's own kind may have none.
    """
    path = getattr(dist, "_path", None)
    label = os.path.basename(str(path).rstrip("/\\")) if path is not None else ""
    return label or f"<{type(dist).__name__} without a name>"


def _exception_text(exc: BaseException) -> str:
    """:returns: ``Type: message`` for any exception, even one whose ``__str__`` fails.

    A plugin's exception runs the plugin's code when shown: a ``__str__`` that
    raises (anything, even ``SystemExit``) or returns no string must make one
    broken cog, not stop the command that reports it.
    """
    kind = type(exc).__name__
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - what the plugin's __str__ raises is its breakage, not ours
        return f"{kind} (its message could not be shown)"
    return f"{kind}: {message}"


def _traceback_text(exc: BaseException) -> str:
    """:returns: the traceback of ``exc`` as :mod:`traceback` formats it, or what can be shown of it.

    :mod:`traceback` copes with a ``__str__`` that fails, but formatting still
    runs the plugin's code elsewhere (a ``__notes__`` property that raises, on
    some versions a ``__str__`` raising ``SystemExit``): then the description
    stands alone.
    """
    import traceback

    try:
        return "".join(traceback.format_exception(exc))
    except BaseException:  # noqa: BLE001 - formatting runs the plugin's code (__str__, __notes__)
        return f"{_exception_text(exc)} (its traceback could not be shown)\n"


def _extra_requirements(requires: Iterable[str]) -> dict[str, list[str]]:
    """:returns: each extra named in ``requires`` (a distribution's Requires-Dist) with the distributions it adds."""
    from packaging.requirements import InvalidRequirement, Requirement

    found: dict[str, list[str]] = {}
    for text in requires:
        if "extra" not in text:
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        marker = str(requirement.marker or "")
        for extra in re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker):
            found.setdefault(extra, []).append(requirement.name)
    return found


def _first_party_offer(candidates: list[CogEntry]) -> CogEntry | None:
    """:returns: among usable offers of one name, the one of the first-party distribution owning the name's
    prefix (``fs.read``: deadbeat-cogs-fs), or ``None`` when the prefix is no first party's or it does not offer it."""
    if not candidates:
        return None
    owner = FIRST_PARTY.get(candidates[0].name.partition(".")[0])
    if owner is None:
        return None
    own = [e for e in candidates if normalize(e.distribution) == normalize(owner)]
    return own[0] if len(own) == 1 else None


def _installed(name: str) -> bool:
    try:
        importlib_metadata.distribution(name)
    except importlib_metadata.PackageNotFoundError:
        return False
    return True


def _unmet_requirements(obj: Any) -> list[str]:
    """What a cog says it lacks here for its defaults (``missing_requirements({})``: a client library, RE2).

    A cog that imports its library only when built loads without it; this is
    how ``deadbeat cogs --check`` still tells which extra to install.
    """
    ask = getattr(obj, "missing_requirements", None)
    if not callable(ask):
        return []
    try:
        return [str(line) for line in ask({})]
    except Exception:  # noqa: BLE001 - a third-party cog's own check must not stop the listing
        return []


def _needed_by_the_cog(line: str, entry: CogEntry) -> bool:
    """Whether ``line`` (of ``missing_requirements``) says the cog as a whole lacks a library.

    :func:`~deadbeat.plugins.missing_library` words it "NAME needs MODULE,
    which is not installed", naming the cog alone when the cog needs the
    library whatever its settings, and the cog with the setting when only some
    settings do (``text.grok`` without RE2 runs with ``engine = "re"``): only
    the first makes the cog unusable.
    """
    return any(line.startswith(f"{name} needs ") for name in (entry.name, entry.qualified)) and (
        ", which is not installed" in line
    )


def _extra_hint(distribution: str, extra: str) -> str:
    return f"pip install '{distribution}[{extra}]'"


def _module_matches(module: str, requirement: str) -> bool:
    """Whether the missing top-level ``module`` is probably what the distribution ``requirement`` installs."""
    module, requirement = normalize(module), normalize(requirement)
    candidates = {requirement, requirement.removesuffix("-py"), requirement.removeprefix("python-")}
    candidates.add(requirement.removeprefix("google-"))
    return module in candidates


def _group_lines(text: str, group: str) -> list[tuple[int, str]]:
    """Find the lines of one group's section of an entry_points.txt, as importlib.metadata reads them.

    Stripped, blank lines and ``#`` comments skipped, ``[section]`` headers
    taken as they are; but each line is kept alone, where importlib.metadata
    raises on the first malformed line of the file, and so would have stopped
    every deadbeat command for one bad line of one distribution.

    :returns: each line of ``[group]`` with its number (from 1) in ``text``.
    """
    found: list[tuple[int, str]] = []
    section: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
        elif section == group:
            found.append((number, line))
    return found


def _shortened(text: str, limit: int = 60) -> str:
    """:returns: ``text``, cut to ``limit`` characters: a malformed line may be anything, of any length."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _refuse_names_registered_twice(offered: list[CogEntry]) -> None:
    """Mark broken each cog one distribution registers under a name more than once.

    Which of its entry points the name means cannot be chosen, not even by the
    qualified name (``distribution/name`` names both), so neither is used.

    :param offered: every entry of one distribution.
    """
    by_name: dict[str, list[CogEntry]] = {}
    for entry in offered:
        by_name.setdefault(entry.name, []).append(entry)
    for name, entries in by_name.items():
        if len(entries) < 2:
            continue
        values = ", ".join(repr(e.value) for e in entries)
        times = "twice" if len(entries) == 2 else f"{len(entries)} times"
        for entry in entries:
            if entry.state in (AVAILABLE, INCOMPATIBLE):
                entry.state = BROKEN
                entry.problem = (
                    f"{entry.distribution} registers {name!r} {times} ({values}): which one is meant cannot be"
                    " told, even by its qualified name"
                )


class CogRegistry:
    """The cogs of the installed distributions.

    :param allow: patterns (shell-style, like ``"fs.*"``) of cog names, qualified
        names or distribution names that may be loaded; ``None`` allows all. A
        cog outside the list is ``not allowed``: listed, never imported, and no
        failure even in strict mode. (Pipelines apply the same patterns to their
        ``module:attribute`` cogs.)
    :param strict: make problems errors instead of reports; what counts depends
        on ``scope``.
    :param group: the entry-point group to read.
    :param scope: ``"all"``: strict means every installed cog must be usable
        (``deadbeat cogs --strict``; :meth:`load_all` raises naming each one that
        is not). ``"used"``: strict concerns only the cogs asked for
        (``deadbeat run --strict``): a plain name several distributions offer
        must then be qualified even when only one of them could be used.
    """

    def __init__(
        self, allow: Iterable[str] | None = None, strict: bool = False, group: str = GROUP, scope: str = "all"
    ) -> None:
        if scope not in ("all", "used"):
            raise ValueError(f"scope must be 'all' or 'used', not {scope!r}")
        self.allow = list(allow) if allow is not None else None
        self.group = group
        self.scope = scope
        self._strict = strict
        self._entries: dict[str, list[CogEntry]] | None = None
        # Plain names already said to mean the first-party offer among several.
        self._told_first_party: set[str] = set()

    @property
    def strict(self) -> bool:
        """Whether every installed cog must be usable (strict, scope ``"all"``).

        The pipeline module asks this to decide whether to check every cog
        before a run; a registry strict only about the cogs used says no.
        """
        return self._strict and self.scope == "all"

    @property
    def strict_use(self) -> bool:
        """Whether the registry was asked to be strict at all."""
        return self._strict

    def _allowed(self, entry: CogEntry) -> bool:
        if self.allow is None:
            return True
        names = (entry.name, entry.qualified, entry.distribution)
        from fnmatch import fnmatchcase

        return any(fnmatchcase(n, p) for p in self.allow for n in names)

    def _entry_from_line(self, number: int, line: str, distribution: str, version: str) -> CogEntry:
        """Make the entry one line of the group's section offers; a malformed line makes a broken one.

        :param number: the line's number in entry_points.txt.
        :param line: the line, stripped.
        :param distribution: the distribution's name.
        :param version: its version.
        :returns: an ``available`` entry for ``name = module:attribute [extras]``; otherwise a
            ``broken`` one, named as far as the line names it, saying what is wrong.
        """
        name, equals, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name:
            # No name to make out: the entry is named by the line itself, so the listing shows it.
            entry = CogEntry(_shortened(line), "", distribution, version)
            what = "has no '='" if not equals else "names no cog before its '='"
            entry.state = BROKEN
            entry.problem = (
                f"line {number} of its entry_points.txt {what} (an entry point is 'name = module:attribute')"
            )
            return entry
        match = importlib_metadata.EntryPoint.pattern.match(value)
        if match is None:
            entry = CogEntry(name, value, distribution, version)
            entry.state = BROKEN
            entry.problem = (
                f"its entry point {_shortened(value)!r} (line {number} of entry_points.txt) is not"
                " 'module:attribute [extras]'"
                if value
                else f"its entry point (line {number} of entry_points.txt) names no module:attribute"
            )
            return entry
        entry = CogEntry(name, value, distribution, version, importlib_metadata.EntryPoint(name, value, self.group))
        entry.extras = re.findall(r"\w+", match.group("extras") or "")
        return entry

    def _discover(self) -> dict[str, list[CogEntry]]:
        if self._entries is not None:
            return self._entries
        try:
            core: str | None = _headers(importlib_metadata.distribution(CORE_DISTRIBUTION))[1]
        except importlib_metadata.PackageNotFoundError:
            core = None
        found: dict[str, list[CogEntry]] = {}
        seen: set[str] = set()
        marker = f"[{self.group}]"
        for dist in importlib_metadata.distributions():
            # Most distributions offer no cog: a look at the raw text spares parsing theirs.
            unreadable: str | None = None
            try:
                text = dist.read_text("entry_points.txt")
            except UnicodeDecodeError as exc:
                # Not UTF-8: a concern only of a distribution that offers cogs (pip itself cannot read
                # it); any other package's old Latin-1 comment must not stop every deadbeat command.
                raw = exc.object if isinstance(exc.object, bytes) else b""
                if marker.encode() not in raw:
                    continue
                text = raw.decode("utf-8", "replace")  # enough to make out the names of its cogs
                unreadable = f"its entry_points.txt is not UTF-8 ({_undecodable(exc)})"
            except (OSError, ValueError):
                continue  # nothing in it can be read, not even whether it offers cogs
            if not text or marker not in text:
                continue
            lines = _group_lines(text, self.group)
            if not lines:
                continue
            dist_name, version, requires, unreadable_headers = _headers(dist)
            unreadable = unreadable or unreadable_headers
            if not dist_name:
                # Named after its directory: two such distributions are then told apart and both listed.
                dist_name = _label(dist)
                unreadable = unreadable or "no Name in its metadata"
            # The same distribution seen twice on sys.path is one offer, not a clash: the first wins, as imports do.
            if normalize(dist_name) in seen:
                continue
            seen.add(normalize(dist_name))
            problem = _core_problem(requires, core)
            manifest = read_manifest(dist)
            extras: dict[str, list[str]] | None = None
            offered: list[CogEntry] = []
            for number, line in lines:
                entry = self._entry_from_line(number, line, dist_name, version)
                offered.append(entry)
                described = manifest.get(entry.name)
                # A manifest describes the value it was built for; a stale one says nothing.
                if described is not None and described.get("value") == entry.value:
                    summary = described.get("summary")
                    # Anyone can write the file: a summary that is no text (null, a dict) is no summary.
                    entry.summary = summary if isinstance(summary, str) else ""
                    entry.described = True
                if unreadable:
                    # Metadata that cannot be read may say anything: none of its cogs is taken on trust.
                    entry.state, entry.problem = BROKEN, unreadable
                elif entry.state != AVAILABLE:
                    pass  # its line of entry_points.txt says why
                elif "/" in entry.name:
                    entry.state, entry.problem = BROKEN, "a cog's name cannot contain '/' (it qualifies names)"
                elif ":" in entry.name:
                    # A pipeline's use = "a:b" names module a, attribute b: no pipeline could use it.
                    entry.state, entry.problem = BROKEN, "a cog's name cannot contain ':' (use takes module:attribute)"
                elif not self._allowed(entry):
                    # Before compatibility: a cog the operator left out is no concern of theirs, whatever its state.
                    entry.state, entry.problem = NOT_ALLOWED, f"not in the allow-list {self.allow}"
                elif problem:
                    entry.state, entry.problem = INCOMPATIBLE, problem
                if entry.extras:
                    extras = extras if extras is not None else _extra_requirements(requires)
                    missing = [e for e in entry.extras if any(not _installed(r) for r in extras.get(e, ()))]
                    if missing:
                        entry.hint = _extra_hint(dist_name, ",".join(missing))
                        entry.extras_missing = missing
                found.setdefault(entry.name, []).append(entry)
            _refuse_names_registered_twice(offered)
        for entries in found.values():
            if len(entries) < 2:
                continue
            for entry in entries:
                others = [e for e in entries if e is not entry]
                entry.others = [e.qualified for e in others]
                entry.offered_elsewhere = ", ".join(f"{e.distribution} {e.version} ({e.qualified!r})" for e in others)
            candidates = [e for e in entries if e.usable]
            if len(candidates) > 1:
                own = _first_party_offer(candidates)
                for entry in candidates:
                    # The plain name of a first-party prefix means Deadbeat's own cog: another distribution
                    # offering it can neither take a pipeline's fs.read over nor make it unusable.
                    entry.ambiguous = entry is not own
        self._entries = found
        return found

    def discover(self) -> list[CogEntry]:
        """Read every distribution's entry points and manifest, importing nothing.

        :returns: all entries, sorted by name, then distribution (a name several
            distributions offer appears once for each).
        """
        found = self._discover()
        return sorted((e for es in found.values() for e in es), key=lambda e: (e.name, normalize(e.distribution)))

    def __iter__(self) -> Iterator[CogEntry]:
        return iter(self.discover())

    def names(self) -> list[str]:
        """:returns: the names that can be asked for: plain names with a usable offer, and qualified names."""
        entries = self.discover()
        plain = {e.name for e in entries if e.usable and not e.ambiguous}
        return sorted(plain | {e.qualified for e in entries if e.others and e.usable})

    def suggest(self, name: str) -> str | None:
        """:returns: the known name nearest to ``name``, or ``None``."""
        from difflib import get_close_matches

        # Plain names, ambiguous ones too: a misspelt fs.read is nearest to fs.read whoever else offers it
        # (asking for it then lists the qualified names); a qualified name is never near a plain misspelling.
        entries = self.discover()
        candidates = {e.name for e in entries if e.usable} | (
            {e.qualified for e in entries if e.usable} if "/" in name else set()
        )
        close = get_close_matches(name, sorted(candidates), n=1)
        return close[0] if close else None

    def entry(self, name: str) -> CogEntry:
        """Find the offer a name means: a plain name, or ``distribution/name``.

        :returns: the entry for ``name``.
        :raises KeyError: when no distribution offers it.
        :raises CogNotInstalled: when none does, but a first-party distribution would.
        :raises CogLoadError: when the plain name is ambiguous (the message names
            every qualified name), or in strict mode when several distributions
            offer it at all; a name of a first-party prefix offered by its
            first-party distribution means that offer, strict or not.
        """
        found = self._discover()
        entries = found.get(name)
        if not entries and "/" in name:
            distribution, _, plain = name.rpartition("/")
            entries = [e for e in found.get(plain, ()) if normalize(e.distribution) == normalize(distribution)]
            if not entries:
                raise KeyError(name)
            return entries[0]
        if not entries:
            owner = FIRST_PARTY.get(name.partition(".")[0])
            if owner is not None and not _installed(owner):
                raise CogNotInstalled(
                    None, f"no cog named {name!r}: it comes with {owner}, which is not installed: pip install {owner}"
                )
            raise KeyError(name)
        if len(entries) == 1:
            return entries[0]
        candidates = [e for e in entries if e.usable]
        own = _first_party_offer(candidates)
        if own is not None:
            if name not in self._told_first_party:
                self._told_first_party.add(name)
                log.warning(
                    "cog %r is also offered by %s; the plain name means Deadbeat's own, from %s (write the"
                    " qualified name to use another)",
                    name,
                    own.offered_elsewhere,
                    own.distribution,
                )
            return own
        qualified = ", ".join(sorted(repr(e.qualified) for e in entries))
        if len(candidates) == 1 and not self._strict:
            return candidates[0]
        if len(candidates) == 1:
            raise CogLoadError(
                candidates[0],
                f"cog {name!r} is offered by several distributions, and strict mode takes no guess: write one of"
                f" {qualified}",
            )
        if not candidates:
            return entries[0]  # none can be used; the first one's reason is as good as any
        raise CogLoadError(
            candidates[0], f"cog {name!r} is offered by several distributions; write one of {qualified} to choose"
        )

    def load(self, name: str) -> Any:
        """Import the cog offered as ``name`` (plain or ``distribution/name``).

        :returns: the cog class (or factory) the entry point names.
        :raises KeyError: when no distribution offers ``name``.
        :raises CogLoadError: when it cannot be used; the error names the cog,
            distribution, version and reason, and what to install when that is the reason.
        """
        entry = self.entry(name)
        self._load(entry)
        if not entry.usable:
            raise CogLoadError(entry)
        return entry.obj

    def _load(self, entry: CogEntry) -> None:
        if entry.state != AVAILABLE:
            return
        interrupted: list[int] = []
        previous = _note_ctrl_c(interrupted)
        try:
            obj = entry.entry_point.load()
        except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything, even SystemExit
            # Ctrl-C stops the listing; a KeyboardInterrupt the plugin raised itself is its breakage.
            if isinstance(exc, KeyboardInterrupt) and interrupted:
                raise
            entry.state = BROKEN
            # Shown without trusting it: its __str__ is the plugin's code, and may raise.
            entry.problem = _exception_text(exc)
            entry.details = _traceback_text(exc)
            if isinstance(exc, ModuleNotFoundError) and exc.name and "pip install" not in entry.problem:
                # What is missing decides: the extra named at discovery only if it brings that module.
                entry.hint = self._missing_module_hint(entry, exc.name)
            return
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        reason = not_a_cog_reason(obj)
        if reason is not None:
            entry.state, entry.problem = NOT_A_COG, reason
            return
        entry.obj = obj
        entry.state = LOADED
        if not entry.summary:
            # None in the manifest (none there, or none its build could read, or one that was no text): the
            # imported cog's own docstring, as the listing promised ("--check imports it").
            entry.summary = cog_summary(obj)

    def _missing_module_hint(self, entry: CogEntry, module: str) -> str | None:
        """:returns: the extra (or distribution) to install for the missing ``module``, when one says so."""
        top = module.partition(".")[0]
        try:
            dist = importlib_metadata.distribution(entry.distribution)
            requires = dist.requires or ()
        except (importlib_metadata.PackageNotFoundError, OSError, ValueError):
            return None  # not installed under that name, or its metadata cannot be read: nothing to tell
        for extra, requirements in _extra_requirements(requires).items():
            if extra == "test":
                continue
            if any(_module_matches(top, r) for r in requirements):
                return _extra_hint(entry.distribution, extra)
        for text in requires:
            # A dependency of the distribution itself (installed with --no-deps, or removed since).
            name = re.split(r"[^A-Za-z0-9._-]", text.strip(), maxsplit=1)[0]
            if "extra" not in text and _module_matches(top, name) and not _installed(name):
                return f"{entry.distribution} needs {name}, which is not installed: pip install {name}"
        owner = FIRST_PARTY.get(top.removeprefix("deadbeat.")) if module.startswith("deadbeat.") else None
        if owner is not None and not _installed(owner):
            return f"pip install {owner}"
        return None

    def problems(self) -> list[CogEntry]:
        """:returns: the entries that count as failures in strict mode (not-allowed ones never do).

        After :meth:`load_all`, cogs that load but lack what they need to run
        (``CogEntry.unmet``: a library, an extra) among them.
        """
        return [e for e in self.discover() if e.status in FAILURES or (e.usable and e.unmet)]

    def load_all(self, *, apart: bool = False) -> list[CogEntry]:
        """Import every usable cog, recording what fails (``deadbeat cogs --check``).

        A cog that loads is asked what it lacks here (``missing_requirements({})``,
        and its entry point's extras): one lacking a library whatever its
        settings, or its extra, cannot be used, and is among :meth:`problems`
        (``CogEntry.unmet``); what only its defaults lack is its ``hint``.

        :param apart: import them in a child process (where ``fork`` exists),
            as ``deadbeat cogs --check`` does: a plugin whose import ends the
            process (``os._exit``, a crash in a C extension) is then one more
            ``broken`` cog, named, and the others are still checked; so is one
            whose import makes no progress for :data:`IMPORT_TIMEOUT` seconds
            (60: "its import did not end within 60 s"; the child is killed).
            Ctrl-C still interrupts the check. The entries then hold no
            imported object (``obj`` stays ``None``).
        :returns: every entry, sorted as :meth:`discover` sorts them.
        :raises CogLoadError: in strict mode (scope ``"all"``), after importing
            all of them, naming every cog that cannot be used.
        """
        entries = self.discover()
        if apart and hasattr(os, "fork"):
            self._check_apart(entries)
        else:
            for entry in entries:
                self._check(entry)
        if self.strict:
            failed = self.problems()
            if failed:
                if len(failed) == 1:
                    raise CogLoadError(failed[0])
                raise CogLoadError(
                    failed[0],
                    f"{len(failed)} cogs cannot be used: " + "; ".join(str(CogLoadError(e)) for e in failed),
                )
        return entries

    def _check(self, entry: CogEntry) -> None:
        """Import one cog and find out what it lacks to run here."""
        self._load(entry)
        if entry.state != LOADED:
            return
        # A cog that imports its library only when built loads without it: what it lacks for its defaults is
        # its note; what it lacks whatever its settings (dns.reverse without pycares) makes it unusable.
        missing = _unmet_requirements(entry.obj)
        if missing and not entry.hint:
            entry.hint = "; ".join(missing)
        whole = [line for line in missing if _needed_by_the_cog(line, entry)]
        if whole:
            entry.unmet = "; ".join(whole)
        elif entry.extras_missing:
            # Its entry point names an extra whose libraries are not installed (found at discovery).
            extras = ",".join(entry.extras_missing)
            entry.unmet = f"the extra its entry point names is not installed: {_extra_hint(entry.distribution, extras)}"

    def _check_apart(self, entries: list[CogEntry]) -> None:
        """:meth:`_check` every entry in a child process; one whose import ends the child is broken.

        The child says which entry it starts importing and, once done, what
        was found, a line each, through a pipe. Should it end in the middle of
        an import, or make no progress for :data:`IMPORT_TIMEOUT` seconds (it
        is then killed), that entry is marked broken with how the process
        ended, and a new child goes on with the entries after it.
        """
        pending = [i for i, entry in enumerate(entries) if entry.state == AVAILABLE]
        while pending:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child; what it reports is tested through the parent
                self._child_checks(entries, pending, read_end, write_end)
            os.close(write_end)
            try:
                importing, finished, status = self._follow_child(pid, read_end, entries)
            finally:
                os.close(read_end)
            if importing is None:
                if len(finished) < len(pending):
                    ended = _ended(status) if status is not None else f"no report within {IMPORT_TIMEOUT:g} s"
                    raise RuntimeError(f"checking the cogs in a child process failed ({ended})")
                return
            entry = entries[importing]
            entry.state = BROKEN
            if status is None:
                entry.problem = f"its import did not end within {IMPORT_TIMEOUT:g} s"
            else:
                entry.problem = f"importing it ended the process ({_ended(status)})"
            pending = [i for i in pending if i not in finished and i != importing]

    def _follow_child(self, pid: int, reports: int, entries: list[CogEntry]) -> tuple[int | None, set[int], int | None]:
        """Read a checking child's reports until it ends, or kill it once it makes no progress.

        Not until the pipe's end: a plugin that starts a process as it is
        imported (``os.fork``, :mod:`multiprocessing`) hands that process the
        pipe, and the check would wait for it. So the pipe is read only while
        the child lives (and what it left once it ended); and a child that
        reports nothing for :data:`IMPORT_TIMEOUT` seconds is killed. Ctrl-C
        (or anything else going wrong here) kills it too: no child goes on
        importing plugins once nobody reads it.

        :param pid: the child's process id.
        :param reports: the pipe's end to read.
        :param entries: the entries, updated with what the child found.
        :returns: the entry being imported when the child ended (``None`` when
            none was), the entries checked, and the child's wait status (``None``
            when it was killed for making no progress).
        :raises KeyboardInterrupt: when Ctrl-C interrupted the check, here or in the child.
        """
        import json  # only for a check; a listing must not pay for it
        import select
        import time

        poller = select.poll()
        poller.register(reports, select.POLLIN)
        pipe_open = True
        buffer = b""
        importing: int | None = None
        finished: set[int] = set()
        deadline = time.monotonic() + IMPORT_TIMEOUT
        reaped = False

        def take(data: bytes) -> None:
            nonlocal buffer, importing, deadline
            *lines, buffer = (buffer + data).split(b"\n")
            for line in lines:
                try:
                    report = json.loads(line)
                except ValueError:
                    report = None
                if not isinstance(report, list) or not report:
                    continue  # not the child's: what a plugin wrote to a descriptor it should not have
                deadline = time.monotonic() + IMPORT_TIMEOUT  # each report is progress
                if report[0] == "importing":
                    importing = report[1]
                elif report[0] == "checked":
                    entry = entries[report[1]]
                    for field, value in report[2].items():
                        if field in _CHECKED_FIELDS:
                            setattr(entry, field, value)
                    finished.add(report[1])
                    importing = None
                elif report[0] == "interrupted":
                    raise KeyboardInterrupt

        try:
            while True:
                if pipe_open and poller.poll(_POLL_INTERVAL * 1000):
                    data = os.read(reports, 65536)
                    pipe_open = bool(data)  # closed by every writer (a plugin may close descriptors)
                    take(data)
                elif not pipe_open:
                    time.sleep(_POLL_INTERVAL)
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    reaped = True
                    # What it wrote before it ended is all in the pipe: read that much, not until the end.
                    while pipe_open and poller.poll(0):
                        data = os.read(reports, 65536)
                        pipe_open = bool(data)
                        take(data)
                    return importing, finished, status
                if time.monotonic() >= deadline:
                    reaped = True
                    _kill(pid)
                    return importing, finished, None
        except BaseException:
            if not reaped:  # once collected, its process id may be another process's already
                _kill(pid)
            raise

    def _child_checks(self, entries: list[CogEntry], pending: list[int], read_end: int, write_end: int) -> None:
        """In the child: check ``pending`` entries, reporting each through ``write_end``; never returns."""
        import json

        code = 0
        try:
            os.close(read_end)
            for index in pending:
                os.write(write_end, json.dumps(["importing", index]).encode() + b"\n")
                entry = entries[index]
                self._check(entry)
                found = {field: getattr(entry, field) for field in _CHECKED_FIELDS}
                # A report line is written whole or not at all: one write of a few kilobytes to a pipe.
                os.write(write_end, json.dumps(["checked", index, found], default=str).encode() + b"\n")
        except KeyboardInterrupt:
            os.write(write_end, b'["interrupted"]\n')
            code = 130
        except BaseException:  # noqa: BLE001 - the parent says the check failed; nothing may run on here
            code = 1
        finally:
            # Never back into the parent's code: no atexit handlers, no buffers flushed twice.
            os._exit(code)

    def distributions(self) -> dict[str, str]:
        """:returns: name to version of every distribution offering cogs or built on the core."""
        found = {e.distribution: e.version for e in self.discover()}
        for dist in importlib_metadata.distributions():
            try:
                requires = dist.requires or ()
            except (OSError, ValueError):
                continue  # metadata that cannot be read (not UTF-8): it tells nothing of being built on the core
            for text in requires:
                if normalize(re.split(r"[^A-Za-z0-9._-]", text, maxsplit=1)[0]) == CORE_DISTRIBUTION:
                    name, version, _, _ = _headers(dist)
                    found.setdefault(name or _label(dist), version)
                    break
        return found


#: What a check finds out about an entry, sent back from the child process (see CogRegistry._check_apart).
_CHECKED_FIELDS = ("state", "problem", "hint", "unmet", "summary", "details")


def _kill(pid: int) -> None:
    """Kill a checking child and collect it, if it has not ended (and been collected) already."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _ended(status: int) -> str:
    """How a child process ended, from its wait status, as people read it."""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _note_ctrl_c(interrupted: list[int]) -> Any:
    """While a plugin is imported, note a real Ctrl-C in ``interrupted`` (and still interrupt).

    Only where Ctrl-C raises ``KeyboardInterrupt`` (Python's own handler, in
    the main thread); elsewhere (``deadbeat run`` handles SIGINT itself) no
    ``KeyboardInterrupt`` comes from Ctrl-C, so one raised is the plugin's.

    :returns: the handler to put back, or ``None`` when none was replaced.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return None

    def on_ctrl_c(signum: int, frame: Any) -> None:
        interrupted.append(signum)
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGINT, on_ctrl_c)
    except (ValueError, OSError):
        return None
