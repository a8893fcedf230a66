"""What a cog needs installed, looked up without importing it.

``deadbeat check`` asks a cog class's ``missing_requirements(params)`` what it
would miss if it were built with those parameters; the check builds nothing and
imports no optional library, so the lookup goes through
:func:`importlib.util.find_spec`, which reads the import system's finders only.
"""

from __future__ import annotations

import importlib.util

__all__ = ["missing_library"]


def missing_library(module: str, install: str, needed_by: str) -> list[str]:
    """:returns: one line saying how to install ``module`` when it cannot be imported here; empty when it can.

    For a cog's ``missing_requirements``::

        @staticmethod
        def missing_requirements(params):
            return missing_library("maxminddb", "deadbeat-geoip[city]", "geoip.city")

    :param module: the top-level module the cog imports when it is built.
    :param install: what to give ``pip install`` (a distribution with its extra).
    :param needed_by: who needs it, for the message (the cog's name, with the
        setting that asks for the library if only some settings do).
    """
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        # A parent package that is missing, or a module set to None in
        # sys.modules (how tests hide a library): either way not importable.
        found = False
    if found:
        return []
    return [f"{needed_by} needs {module}, which is not installed; install it with: pip install '{install}'"]
