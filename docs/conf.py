"""Sphinx configuration for the Deadbeat documentation.

The build runs with ``-n -W`` (``nox -s docs``, ``tests/test_docs.py``): every
cross-reference must resolve, and a warning fails it.
"""

from __future__ import annotations

from typing import Any

project = "Deadbeat"
author = "The Deadbeat developers"
copyright = "2026, the Deadbeat developers (ISC licence)"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = True

# Targets that are deliberately not linked, each with its reason:
nitpick_ignore_regex = [
    # The standard library: linking it needs intersphinx, which fetches
    # docs.python.org's inventory at build time; the build must work offline.
    (r"py:.*", r"(collections|collections\.abc|os|logging|csv|codecs|linecache|operator|typing)(\..+)?"),
    # Built-in generics in dataclass field annotations, which autodoc splits at
    # the comma (dict[str, float] becomes "dict[str"); the same offline reason.
    (r"py:class", r"(dict|list|tuple|set)\[.*"),
    # Private modules and names (deadbeat.conf._declared, movement._escapement.T):
    # docstrings point readers to the source; the reference documents the public API.
    (r"py:.*", r"(.+\.)?_\w+(\..+)?"),
]


def _exported(target: str, node: Any) -> bool:
    """Whether ``target`` (absolute, or relative to the reference's module and class) names an attribute that exists."""
    import importlib
    import sys

    try:
        importlib.import_module(target)
        return True
    except ImportError:
        pass
    module, cls = node.get("py:module"), node.get("py:class")
    prefixes = ["", f"{module}.", f"{module}.{cls}."] if module else [""]
    # A docstring written in a private module (movement._errors) names that module's objects.
    prefixes += [f"{name}." for name in list(sys.modules) if name.startswith("deadbeat.")]
    for prefix in prefixes:
        parts = (prefix + target).split(".")
        for split in range(len(parts) - 1, 0, -1):
            try:
                obj: Any = importlib.import_module(".".join(parts[:split]))
            except ImportError:
                continue
            for name in parts[split:]:
                if not hasattr(obj, name):
                    break
                obj = getattr(obj, name)
            else:
                return True
            break
    return False


def _resolve_short_names(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve references the way a reader of the docstring means them.

    Docstrings name objects the way their module's readers do (``Escapement.once``),
    which Sphinx finds only from inside the same module: such a name links to the
    one documented object whose full name ends so. A name that exists in the code
    but has no entry of its own (a type alias or constant re-exported from a
    private module, which autodoc leaves out, an attribute set in ``__init__``)
    is shown as code, unlinked. Anything else (a typo, a name that is gone) stays
    unresolved and fails the build.
    """
    if node.get("refdomain") != "py":
        return None
    from sphinx.util.nodes import make_refnode

    target = node["reftarget"].lstrip("~.")
    objects = env.get_domain("py").objects
    found = [name for name in objects if name == target or name.endswith("." + target)]
    if len(found) == 1:
        entry = objects[found[0]]
        return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, found[0])
    if not found and _exported(target, node):
        return contnode
    return None


def _toml(value: Any) -> str:
    """:returns: a default value as a pipeline file writes it."""
    if value is None:
        return "none (``false``)"
    if isinstance(value, bool):
        return f"``{str(value).lower()}``"
    if isinstance(value, str):
        return f'``"{value}"``'
    return f"``{value!r}``"


def _settings_directive() -> Any:
    """``.. deadbeat-settings:: deadbeat.log:log_base_config``: a table of a config section's keys.

    The pipeline file reference shows ``[log]``, ``[train]``, ``[daemon]`` and
    ``[routing]`` from the sections the code reads them with, so a key added to
    the code is documented by the same change.
    """
    import importlib

    from docutils import nodes
    from docutils.parsers.rst import Directive
    from docutils.statemachine import StringList

    from deadbeat.conf import REQUIRED

    class Settings(Directive):
        required_arguments = 1

        def run(self) -> list[Any]:
            module, _, attribute = self.arguments[0].partition(":")
            section = getattr(importlib.import_module(module), attribute)
            lines = [".. list-table::", "   :header-rows: 1", "", "   * - key", "     - default", "     - meaning"]
            for item in section.children.values():
                default = "required" if item.default is REQUIRED else _toml(item.default)
                lines += [f"   * - ``{item.name}``", f"     - {default}", f"     - {item.description}."]
            container = nodes.container()
            self.state.nested_parse(StringList(lines, source=self.arguments[0]), self.content_offset, container)
            return list(container.children)

    return Settings


def setup(app: Any) -> None:
    app.connect("missing-reference", _resolve_short_names)
    app.add_directive("deadbeat-settings", _settings_directive())
