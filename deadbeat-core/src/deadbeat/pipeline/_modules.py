"""An application's own cogs (``use = "module:attribute"``): what is imported, and what may be called.

Two dangers, both from names another account may plant or a pipeline file may
spell:

* **Code beside the pipeline file.** A module there is imported only when no
  installed module has its name (a planted ``csv.py`` never shadows the real
  one), and only after every file Python *would* load for it has been found
  and checked, before anything is imported: for each dotted component the
  package directory and its ``__init__`` (a package wins over a module of the
  same name, as in Python), or the module file, and any ``__pycache__``
  directory and compiled file beside them. Each of these, and the pipeline's
  directory, must be owned by root or by us and not writable by its group or
  others (and the pipeline's directory must be reached without a link others
  could have planted: :func:`deadbeat.daemon.check_private_directory`). What
  that module imports from its directory, then or later, is checked the same
  way before it is loaded (:class:`_PipelineDirectoryFinder`).
  ``DEADBEAT_SHARED_DIRS=1`` lifts the rule on owners and modes, knowingly.
* **Attributes that are not the module's own.** The attribute path is walked
  through what the module itself defines: never into a module object (``os``
  in ``mycogs:os.system``), never through an object whose ``__module__`` is
  another module, never through a ``__dunder__`` name. What is finally named
  must be a class or a function that the module (or a submodule of its
  package) defines; it is checked before it is ever called, so that
  ``--allow 'mycogs:*'`` allows what ``mycogs`` defines, and nothing it imported.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import os
import stat
import sys
from typing import Any

from ..daemon import UnsafePath, check_private_directory, trusted_owner
from ..daemon._files import shared_dirs_allowed, writable_by_others

__all__ = ["NotAppCog", "app_attribute", "import_app_module"]


class NotAppCog(Exception):
    """A ``module:attribute`` that names something the module does not define, or that cannot be a cog."""


def _within(path: str, base: str) -> bool:
    try:
        real, root = os.path.realpath(path), os.path.realpath(base)
        return os.path.commonpath([real, root]) == root
    except ValueError:
        return False


def _places(spec: importlib.machinery.ModuleSpec | None) -> list[str]:
    """Where a module spec has its file or its package directories."""
    if spec is None:
        return []
    places = list(spec.submodule_search_locations or [])
    if spec.has_location and spec.origin:
        places.append(spec.origin)
    return places


def _installed(top: str, base: str) -> bool:
    """Whether ``top`` is found (or was loaded) elsewhere than in the pipeline's directory.

    The directories of pipeline files are not looked in (an app module of
    another pipeline file is not installed).
    """
    module = sys.modules.get(top)
    try:
        if module is not None:
            spec = module.__spec__
        else:
            _finder.asking = True
            try:
                spec = importlib.util.find_spec(top)
            finally:
                _finder.asking = False
    except (ImportError, ValueError):
        return False
    places = _places(spec)
    if module is not None and not places:
        file = getattr(module, "__file__", None)
        places = [file] if file else list(getattr(module, "__path__", []) or [])
    if spec is None and module is None:
        return False
    return not any(_within(place, base) for place in places)


def _files_to_load(name: str, base: str) -> list[str]:
    """Every file and directory Python would use to import ``name`` from ``base``, found without importing.

    For each dotted component, in order: a package directory (with its
    ``__init__``) or a module file, as the path finder finds it; a package's
    ``__path__`` leads to the next component. Compiled files that would be used
    in place of a source (``__pycache__``) are listed too, and so is every
    other name the finder could take for that component (``cogs/`` beside
    ``cogs.py``): were one of them open to others, an ``__init__.py`` planted
    there a moment after this check would win over the module checked. The
    search stops at the first component not found: its import fails before
    anything of it runs.
    """
    found: list[str] = []
    search = [base]
    suffixes = importlib.machinery.all_suffixes()
    parts = name.split(".")
    for i, part in enumerate(parts):
        for directory in search:
            candidates = [os.path.join(directory, part), *(os.path.join(directory, part + s) for s in suffixes)]
            found += [c for c in candidates if os.path.lexists(c)]
        fullname = ".".join(parts[: i + 1])
        loaded = sys.modules.get(fullname)
        spec = loaded.__spec__ if loaded is not None else importlib.machinery.PathFinder.find_spec(fullname, search)
        if spec is None:
            break
        found += _places(spec)
        if spec.has_location and spec.origin and spec.origin.endswith(tuple(importlib.machinery.SOURCE_SUFFIXES)):
            try:
                cached = importlib.util.cache_from_source(spec.origin)
            except (NotImplementedError, ValueError):
                cached = ""
            if cached:
                found += [p for p in (os.path.dirname(cached), cached) if os.path.lexists(p)]
        path = getattr(loaded, "__path__", None) if loaded is not None else spec.submodule_search_locations
        search = list(path or [])
        if not search:
            break
    return found


def _check_place(path: str) -> None:
    """Refuse a file or directory of an app module that its group or others could change.

    :raises UnsafePath: naming the place and why.
    """
    targets = [path]
    real = os.path.realpath(path)
    if real != os.path.abspath(path):
        # Through a link: what it points to, and the directory holding that.
        targets += [real, os.path.dirname(real)]
    for target in targets:
        try:
            st = os.stat(target)
        except FileNotFoundError:
            continue  # a dangling link: nothing Python could load
        problems = []
        if writable_by_others(st):
            problems.append("writable by " + ("others" if st.st_mode & stat.S_IWOTH else "its group"))
        if not trusted_owner(st.st_uid):
            problems.append(f"owned by another user (uid {st.st_uid})")
        if problems:
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a file"
            raise UnsafePath(
                f"{target}: {kind} {' and '.join(problems)}: another account could put code of its own there;"
                " nothing of the module was imported; make it private, or set DEADBEAT_SHARED_DIRS=1"
            )


def _check_files_of(name: str, base: str) -> None:
    """Check every file and directory an import of ``name`` from ``base`` would use.

    :raises ImportError: naming the first place its group or others could change,
        or a place that cannot be looked at (the pipeline's directory gone, say).
    """
    _check_module_name(name)
    try:
        check_private_directory(os.path.join(base, name.partition(".")[0]))
        if not shared_dirs_allowed():
            for place in dict.fromkeys([base, *_files_to_load(name, base)]):
                _check_place(place)
    except UnsafePath as exc:
        raise ImportError(str(exc), name=name) from None
    except OSError as exc:
        where = exc.filename if isinstance(exc.filename, str) else base
        raise ImportError(f"{where}: cannot look at it: {exc.strerror or exc}", name=name) from None


def _check_module_name(name: str) -> None:
    """Refuse what is not a dotted Python name before it reaches a path or the import machinery.

    ``nodir/mycogs`` would be joined to the pipeline's directory as a path,
    ``.mycogs`` asks :func:`importlib.import_module` for a package it has not
    got: each failed with an error of its own instead of an :class:`ImportError`.

    :raises ImportError: saying what a module name is.
    """
    if not name or not all(part.isidentifier() for part in name.split(".")):
        raise ImportError(
            f"{name!r} is not a module name: a module is named by its dotted Python name (mycogs, or"
            " package.mycogs), not by a path or a relative name",
            name=name,
        )


class _PipelineDirectoryFinder(importlib.abc.MetaPathFinder):
    """Finds modules in the directories of pipeline files, each one checked before it is loaded.

    First on :data:`sys.meta_path` once an app module is imported, and for the
    rest of the process: not only the module a pipeline names, but whatever it
    imports from its directory, at once or later (``import helper`` in
    ``mycogs.py``; a submodule of its package), is found here and checked as the
    named module is (see the module's docstring). A top-level name that is
    installed is left to the other finders, so that no file beside a pipeline
    shadows an installed module; the directories are never on :data:`sys.path`.

    Only imports made by the app's own modules (code whose file is in one of
    the directories) or by :func:`import_app_module` are answered from the
    directories: the rest of the process (an installed cog importing an
    optional library it lacks, say) imports exactly as if no pipeline file had
    been loaded.
    """

    def __init__(self) -> None:
        #: The directories, the one of the pipeline file loaded last first.
        self.bases: list[str] = []
        #: Set while other finders are asked: this one then finds nothing.
        self.asking = False
        #: Set while import_app_module imports the module a pipeline names.
        self.loading = False

    def _installed(self, fullname: str) -> bool:
        """Whether a finder after this one finds the top-level ``fullname`` (the directories left out)."""
        self.asking = True
        try:
            return any(
                finder.find_spec(fullname, None) is not None
                for finder in sys.meta_path
                if finder is not self and hasattr(finder, "find_spec")
            )
        finally:
            self.asking = False

    def _asked_by_app(self) -> bool:
        """Whether the import under way was asked for by an app module (or by import_app_module).

        The importing code is the first frame, going outwards, that is not
        the import machinery itself (frozen ``importlib._bootstrap``, or
        :mod:`importlib`'s own package for ``import_module``).
        """
        if self.loading:
            return True
        frame = sys._getframe(2)
        while frame is not None:
            filename = frame.f_code.co_filename
            if not (filename.startswith("<frozen importlib") or _within(filename, _IMPORTLIB)):
                break
            frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            return False
        file = frame.f_globals.get("__file__")
        return isinstance(file, str) and any(_within(file, base) for base in self.bases)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if self.asking or not self.bases:
            return None
        if path is None:
            if not self._asked_by_app():
                return None
            for base in self.bases:
                spec = importlib.machinery.PathFinder.find_spec(fullname, [base])
                if spec is None:
                    continue
                if self._installed(fullname):
                    return None
                _check_files_of(fullname, base)
                return spec
            return None
        places = list(path)
        for base in self.bases:
            if any(_within(place, base) for place in places):
                _check_files_of(fullname, base)
                return importlib.machinery.PathFinder.find_spec(fullname, places)
        return None


_finder = _PipelineDirectoryFinder()
#: The import machinery's own package: its frames are passed over when looking for the importer.
_IMPORTLIB = os.path.dirname(importlib.__file__)


def import_app_module(name: str, base: str) -> Any:
    """Import the module of a ``module:attribute`` cog: an installed one, or one beside the pipeline file.

    A file beside the pipeline file never shadows an installed module: the
    installed one is found first. Before anything is imported from that
    directory, every file and directory the import would use is checked (see
    the module's docstring), and so is each module imported from there later
    (see :class:`_PipelineDirectoryFinder`).

    :raises ImportError: when ``name`` is not a dotted Python name, when there is
        no such module, or when its place is unsafe.
    """
    _check_module_name(name)
    top = name.partition(".")[0]
    if _installed(top, base):
        return importlib.import_module(name)  # installed: the pipeline's directory plays no part
    importlib.invalidate_caches()  # what the import below will see: files made a moment ago included
    _check_files_of(name, base)
    if base in _finder.bases:
        _finder.bases.remove(base)
    _finder.bases.insert(0, base)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    _finder.loading = True
    try:
        return importlib.import_module(name)
    finally:
        _finder.loading = False


def _defined_in(obj: Any, module_name: str) -> bool:
    try:
        owner = getattr(obj, "__module__", None)
    except Exception:  # noqa: BLE001 - an attribute that raises defines nothing
        return False
    return isinstance(owner, str) and (owner == module_name or owner.startswith(module_name + "."))


def app_attribute(module: Any, module_name: str, attribute: str) -> Any:
    """:returns: ``attribute`` (a dotted path) of ``module``, if it is a cog factory the module defines.

    :raises NotAppCog: saying which part is not the module's own, or why the
        result cannot be called as a cog factory; nothing is called.
    :raises AttributeError: when a part is missing.
    """
    obj = module
    walked: list[str] = []
    for part in attribute.split("."):
        walked.append(part)
        shown = ".".join(walked)
        if not part.isidentifier() or (part.startswith("__") and part.endswith("__")):
            raise NotAppCog(f"use: {attribute!r}: {part!r} is not a name {module_name} defines")
        obj = getattr(obj, part)
        if inspect.ismodule(obj):
            raise NotAppCog(
                f"use: {attribute!r}: {shown} is the module {obj.__name__}, not something {module_name} defines;"
                f" a module:attribute cog names a class or function of the module itself"
            )
        if not _defined_in(obj, module_name):
            owner = getattr(obj, "__module__", None)
            what = (
                f"defined by {owner}, not by" if isinstance(owner, str) else f"a {type(obj).__name__}, not defined by"
            )
            raise NotAppCog(
                f"use: {attribute!r}: {shown} is {what} {module_name}; a module:attribute cog names a class"
                f" or function of the module itself"
            )
    function = obj.__func__ if inspect.ismethod(obj) else obj
    if not (inspect.isclass(obj) or inspect.isfunction(function)):
        raise NotAppCog(
            f"use: {attribute!r} is a {type(obj).__name__}, not a cog factory: name a Cog subclass, or a class or"
            f" function that {module_name} defines"
        )
    return obj
