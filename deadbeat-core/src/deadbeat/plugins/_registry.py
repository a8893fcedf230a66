"""The cogs installed distributions offer, found through entry points."""

from __future__ import annotations

import fnmatch
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import importlib_metadata
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from ._describe import describe

__all__ = ["GROUP", "CogEntry", "CogLoadError", "CogRegistry", "core_version", "cog_summary"]

#: The entry-point group cog distributions register in.
GROUP = "deadbeat.cogs"
CORE_DISTRIBUTION = "deadbeat-core"

# Statuses a cog can have, from best to worst.
AVAILABLE = "available"  # discovered, not imported yet
LOADED = "loaded"
BROKEN = "broken"  # import failed
DUPLICATE = "duplicate"  # the name is offered by more than one distribution
INCOMPATIBLE = "incompatible"  # its distribution needs another deadbeat-core
NOT_ALLOWED = "not allowed"  # outside the allow-list


def core_version() -> str:
    """:returns: the installed deadbeat-core version."""
    return importlib_metadata.version(CORE_DISTRIBUTION)


class CogLoadError(RuntimeError):
    """A cog cannot be used; the message names the cog, distribution, version and reason."""

    def __init__(self, entry: CogEntry) -> None:
        super().__init__(
            f"cog {entry.name!r} from {entry.distribution} {entry.version} is {entry.status}: {entry.error}"
        )
        self.entry = entry


@dataclass
class CogEntry:
    """One cog offered by an installed distribution.

    :ivar name: the public name (entry-point name).
    :ivar value: where it lives, ``module:attribute``.
    :ivar distribution: the distribution's name.
    :ivar version: the distribution's version.
    :ivar status: available, loaded, broken, duplicate, incompatible or not allowed.
    :ivar error: why it cannot be used, when it cannot.
    """

    name: str
    value: str
    distribution: str
    version: str
    status: str = AVAILABLE
    error: str | None = None
    details: str | None = field(default=None, repr=False)
    entry_point: Any = field(default=None, repr=False)
    obj: Any = field(default=None, repr=False)

    @property
    def usable(self) -> bool:
        return self.status in (AVAILABLE, LOADED)

    @property
    def summary(self) -> str:
        """The first line of the cog's docstring (empty until loaded)."""
        return cog_summary(self.obj) if self.obj is not None else ""

    def as_dict(self) -> dict[str, Any]:
        """:returns: the fields ``deadbeat cogs --json`` prints."""
        return {
            "name": self.name,
            "value": self.value,
            "distribution": self.distribution,
            "version": self.version,
            "summary": self.summary,
            "status": self.status,
            "error": self.error,
        }


def cog_summary(obj: Any) -> str:
    """:returns: the first line of ``obj``'s own docstring, or ``""``."""
    return describe(obj).summary


def _requirement_problem(dist: Any, core: Version | None) -> str | None:
    """:returns: why ``dist`` cannot run on this core, or ``None`` when it can."""
    if core is None:
        return None
    for text in dist.requires or ():
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.name.lower().replace("_", "-") != CORE_DISTRIBUTION:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if requirement.specifier and not requirement.specifier.contains(core, prereleases=True):
            return f"needs {CORE_DISTRIBUTION}{requirement.specifier}, but {core} is installed"
    return None


class CogRegistry:
    """The cogs of the installed distributions.

    :param allow: patterns (shell-style, like ``"fs.*"``) of cog or distribution
        names that may be loaded; ``None`` allows all.
    :param strict: raise :class:`CogLoadError` for the first cog that cannot be
        used instead of reporting it and going on.
    :param group: the entry-point group to read.
    """

    def __init__(self, allow: Iterable[str] | None = None, strict: bool = False, group: str = GROUP) -> None:
        self.allow = list(allow) if allow is not None else None
        self.strict = strict
        self.group = group
        self._entries: dict[str, list[CogEntry]] | None = None

    def _allowed(self, entry: CogEntry) -> bool:
        if self.allow is None:
            return True
        return any(fnmatch.fnmatchcase(entry.name, p) or fnmatch.fnmatchcase(entry.distribution, p) for p in self.allow)

    def discover(self) -> list[CogEntry]:
        """Read every distribution's entry points, importing nothing.

        :returns: all entries, sorted by name (duplicates appear once per distribution).
        :raises CogLoadError: in strict mode, for the first entry that is not usable.
        """
        if self._entries is None:
            try:
                core: Version | None = Version(core_version())
            except (importlib_metadata.PackageNotFoundError, InvalidVersion):
                core = None
            found: dict[str, list[CogEntry]] = {}
            for dist in importlib_metadata.distributions():
                eps = [ep for ep in dist.entry_points if ep.group == self.group]
                if not eps:
                    continue
                problem = _requirement_problem(dist, core)
                dist_name = dist.metadata["Name"] or "?"
                for ep in eps:
                    entry = CogEntry(ep.name, ep.value, dist_name, dist.version, entry_point=ep)
                    if problem:
                        entry.status, entry.error = INCOMPATIBLE, problem
                    found.setdefault(ep.name, []).append(entry)
            for entries in found.values():
                # The same distribution seen twice on sys.path is one offer, not a clash.
                unique = {e.distribution.lower(): e for e in entries}
                entries[:] = list(unique.values())
                if len(entries) > 1:
                    offered = ", ".join(f"{e.distribution} {e.version}" for e in entries)
                    for entry in entries:
                        entry.status, entry.error = DUPLICATE, f"name offered by several distributions: {offered}"
            for entries in found.values():
                for entry in entries:
                    if entry.usable and not self._allowed(entry):
                        entry.status, entry.error = NOT_ALLOWED, f"not in the allow-list {self.allow}"
            self._entries = found
        result = sorted((e for es in self._entries.values() for e in es), key=lambda e: (e.name, e.distribution))
        if self.strict:
            for entry in result:
                if not entry.usable:
                    raise CogLoadError(entry)
        return result

    def __iter__(self) -> Iterator[CogEntry]:
        return iter(self.discover())

    def names(self) -> list[str]:
        """:returns: the names of the usable cogs."""
        return sorted({e.name for e in self.discover() if e.usable})

    def entry(self, name: str) -> CogEntry:
        """:returns: the entry for ``name``.

        :raises KeyError: when no distribution offers it.
        :raises CogLoadError: when several do.
        """
        self.discover()
        assert self._entries is not None
        entries = self._entries.get(name)
        if not entries:
            raise KeyError(name)
        if len(entries) > 1:
            raise CogLoadError(entries[0])
        return entries[0]

    def load(self, name: str) -> Any:
        """Import the cog offered as ``name``.

        :returns: the cog class (or factory) the entry point names.
        :raises KeyError: when no distribution offers ``name``.
        :raises CogLoadError: when it cannot be used; the error names the cog,
            distribution, version and reason.
        """
        entry = self.entry(name)
        self._load(entry)
        if not entry.usable:
            raise CogLoadError(entry)
        return entry.obj

    def _load(self, entry: CogEntry) -> None:
        if entry.status != AVAILABLE:
            return
        try:
            entry.obj = entry.entry_point.load()
        except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything, even SystemExit
            if isinstance(exc, KeyboardInterrupt):
                raise
            entry.status = BROKEN
            entry.error = f"{type(exc).__name__}: {exc}"
            entry.details = "".join(traceback.format_exception(exc))
        else:
            entry.status = LOADED

    def load_all(self) -> list[CogEntry]:
        """Import every usable cog, recording failures (for listings).

        :raises CogLoadError: in strict mode, for the first cog that fails.
        """
        entries = self.discover()
        for entry in entries:
            self._load(entry)
            if self.strict and not entry.usable:
                raise CogLoadError(entry)
        return entries

    def distributions(self) -> dict[str, str]:
        """:returns: name to version of every distribution offering cogs or built on the core."""
        found = {e.distribution: e.version for e in self.discover()}
        for dist in importlib_metadata.distributions():
            for text in dist.requires or ():
                try:
                    if Requirement(text).name.lower().replace("_", "-") == CORE_DISTRIBUTION:
                        found.setdefault(dist.metadata["Name"], dist.version)
                        break
                except InvalidRequirement:
                    continue
        return found
