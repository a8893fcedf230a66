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


def setup(app: Any) -> None:
    app.connect("missing-reference", _resolve_short_names)
