"""The cog manifest: what a distribution's cogs say about themselves, written when it is built.

``deadbeat cogs`` must list every installed cog with its summary line without
importing one: a cog module may take seconds to import, need a library that is
missing, or fail. So a distribution's build reads each cog's docstring from the
source (with :mod:`ast`; the code is never run) and writes the result beside the
entry points in the ``.dist-info`` directory::

    {"format": 1, "cogs": {"fs.read": {"value": "deadbeat.fs:FileReaderSupply",
                                       "summary": "Read files once, from start to end."}}}

Each entry keeps the ``module:attribute`` it was made for; the registry trusts a
summary only while the entry point still names that value. A distribution
without a manifest is listed all the same, with no summary until
``deadbeat cogs --check`` imports it.

This file is also the hatchling build hook that writes the manifest. It uses
nothing but the standard library and imports hatchling only inside
:func:`get_build_hook`, because hatchling loads it by path, in a build
environment where deadbeat-core itself may not be installed. The first-party
distributions name it in their ``pyproject.toml``::

    [tool.hatch.build.targets.wheel.hooks.custom]
    path = "../deadbeat-core/src/deadbeat/plugins/_manifest.py"

and ``deadbeat new-cog`` copies it into a new distribution as ``hatch_build.py``,
hatchling's default hook file, so the new project builds on its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MANIFEST", "build_manifest", "get_build_hook", "read_manifest", "summary_from_source"]

#: The manifest's file name in the ``.dist-info`` directory.
MANIFEST = "deadbeat-cogs.json"
#: Where hatchling puts extra metadata files, inside ``.dist-info``.
HATCHLING_DIR = "extra_metadata"
FORMAT = 1
GROUP = "deadbeat.cogs"


def read_manifest(dist: Any) -> dict[str, dict[str, Any]]:
    """Read an installed distribution's manifest.

    :param dist: an ``importlib.metadata`` distribution.
    :returns: cog name to ``{"value": ..., "summary": ...}``; empty when there is
        no manifest or it cannot be read (the cogs are then listed without summaries).
    """
    for name in (f"{HATCHLING_DIR}/{MANIFEST}", MANIFEST):
        try:
            text = dist.read_text(name)
        except (OSError, UnicodeDecodeError):
            text = None
        if not text:
            continue
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        cogs = data.get("cogs") if isinstance(data, dict) and data.get("format") == FORMAT else None
        if isinstance(cogs, dict):
            return {k: v for k, v in cogs.items() if isinstance(v, dict)}
        return {}
    return {}


def _module_file(module: str, roots: Iterable[str]) -> str | None:
    parts = module.split(".")
    for root in roots:
        base = os.path.join(root, *parts)
        for candidate in (os.path.join(base, "__init__.py"), base + ".py"):
            if os.path.isfile(candidate):
                return candidate
    return None


def _docstring_of(module: str, attribute: str, roots: list[str], depth: int = 0) -> str | None:
    """Follow ``module:attribute`` through the source, re-exports included, to its docstring.

    ``attribute`` may be a dotted path (``Outer.Inner``, as entry points allow):
    each part is looked for in what the one before it is, a class's body for a
    nested class, the module a name was imported from for a re-export, or a
    submodule of a package.
    """
    import ast  # only when building: a listing reads manifests and must not pay for it

    if depth > 8:
        return None
    path = _module_file(module, roots)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    name, *rest = attribute.split(".")
    is_package = path.endswith("__init__.py")
    package = module if is_package else module.rpartition(".")[0]
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return _docstring_within(node, rest, module, roots, depth)
    # Not defined here: a re-export (``from ._read import FileReaderSupply``) or an alias (``Read = Reader``).
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) != name:
                    continue
                source = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1] if node.level > 1 else anchor
                    source = ".".join([*anchor, source] if source else anchor)
                if rest and _module_file(f"{source}.{alias.name}", roots) is not None:
                    # ``from . import _impl``: a submodule, whose attribute the rest names.
                    return _docstring_of(f"{source}.{alias.name}", ".".join(rest), roots, depth + 1)
                return _docstring_of(source, ".".join([alias.name, *rest]), roots, depth + 1)
        if isinstance(node, ast.Import) and rest:
            for alias in node.names:
                if alias.asname == name:  # ``import pkg._impl as impl``
                    return _docstring_of(alias.name, ".".join(rest), roots, depth + 1)
                if alias.asname is None and alias.name.split(".")[0] == name:  # ``import pkg.sub`` binds pkg
                    return _docstring_of(name, ".".join(rest), roots, depth + 1)
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Name)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
        ):
            return _docstring_of(module, ".".join([node.value.id, *rest]), roots, depth + 1)
    if rest and is_package:
        # A submodule of the package (``pkg:sub.Cog``), or the package a plain ``import pkg.sub`` binds.
        return _docstring_of(f"{module}.{name}", ".".join(rest), roots, depth + 1)
    return None


def _docstring_within(node: Any, parts: list[str], module: str, roots: list[str], depth: int) -> str | None:
    """The docstring of what ``parts`` names inside the definition ``node``: ``Inner`` in ``class Outer``."""
    import ast

    if not parts:
        return ast.get_docstring(node) or ""
    if depth > 8 or not isinstance(node, ast.ClassDef):
        return None  # what a function holds is not in its source
    name, rest = parts[0], parts[1:]
    for child in node.body:
        if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and child.name == name:
            return _docstring_within(child, rest, module, roots, depth)
    for child in node.body:
        if (
            isinstance(child, ast.Assign)
            and isinstance(child.value, ast.Name)
            and any(isinstance(t, ast.Name) and t.id == name for t in child.targets)
        ):
            # ``Inner = _Inner``: the class's own name first, as its body looks it up, then the module's.
            found = _docstring_within(node, [child.value.id, *rest], module, roots, depth + 1)
            if found is None:
                found = _docstring_of(module, ".".join([child.value.id, *rest]), roots, depth + 1)
            return found
    return None


def summary_from_source(value: str, roots: Iterable[str]) -> str:
    """:returns: the first line of the docstring of ``module:attribute``, read from the source under ``roots``."""
    module, _, attribute = value.partition(":")
    text = _without_fields(_docstring_of(module.strip(), attribute.strip(), list(roots)) or "")
    return text.partition("\n")[0].strip()


def _without_fields(doc: str) -> str:
    """The docstring without its Sphinx field lists, by the rule ``deadbeat.conf.split_params`` follows.

    Repeated here because this file must not import deadbeat; a test keeps the two in step.
    """
    text: list[str] = []
    in_param = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.startswith(":param "):
            in_param = True
        elif in_param and line.startswith((" ", "\t")) and stripped:
            pass  # the continuation of a :param: description
        elif stripped.startswith(":"):
            in_param = False
        else:
            in_param = False
            text.append(line)
    return "\n".join(text).strip()


def build_manifest(entry_points: Mapping[str, str], roots: Iterable[str]) -> dict[str, Any]:
    """Make the manifest of a distribution's cogs.

    :param entry_points: cog name to ``module:attribute`` (extras in brackets are kept in the value).
    :param roots: directories the distribution's top-level packages are in (``src``).
    :returns: the manifest, ready for :func:`json.dump`.
    """
    roots = list(roots)
    cogs = {}
    for name, value in sorted(entry_points.items()):
        target = value.partition("[")[0].strip()
        cogs[name] = {"value": value, "summary": summary_from_source(target, roots)}
    return {"format": FORMAT, "cogs": cogs}


def get_build_hook() -> type:
    """The hatchling build hook class, defined only when hatchling asks for it."""
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface

    class CogManifestHook(BuildHookInterface):  # type: ignore[type-arg]
        """Write ``deadbeat-cogs.json`` into the wheel's ``.dist-info`` from the cogs' docstrings."""

        PLUGIN_NAME = "deadbeat-cog-manifest"

        def initialize(self, version: str, build_data: dict[str, Any]) -> None:
            entry_points = self.metadata.core.entry_points.get(GROUP, {})
            if not entry_points:
                return
            roots = [os.path.join(self.root, "src"), self.root]
            for package in self.build_config.target_config.get("packages", []):
                roots.insert(0, os.path.dirname(os.path.join(self.root, package)))
            import tempfile

            manifest = build_manifest(entry_points, dict.fromkeys(roots))
            for name, described in manifest["cogs"].items():
                if not described["summary"]:
                    # Built anyway (the cog is listed without a summary), but its author hears of it now: a
                    # syntax error in the module, or an entry point naming an attribute that is not there, is
                    # otherwise found only when someone runs deadbeat cogs --check.
                    self.app.display_warning(
                        f"deadbeat cog manifest: {name} ({described['value']}): no docstring found (is the"
                        " module's source readable Python, and is the attribute there?); it is listed without"
                        " a summary"
                    )
            self._tmp = tempfile.mkdtemp(prefix="deadbeat-manifest-")
            path = os.path.join(self._tmp, MANIFEST)
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(manifest, handle, indent=1, sort_keys=True)
            build_data.setdefault("extra_metadata", {})[path] = MANIFEST

        def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
            import shutil

            tmp = getattr(self, "_tmp", None)
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)

    return CogManifestHook
