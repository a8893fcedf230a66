"""Finding cogs that installed distributions offer through entry points.

A distribution offers a cog with an entry point in the ``deadbeat.cogs`` group;
the entry point's name is the cog's public name (``fs.tail``)::

    [project.entry-points."deadbeat.cogs"]
    "geoip.lookup" = "deadbeat_geoip:GeoIPLookup"

Discovery reads installed metadata only (entry points, requirements, and the
manifest of summaries the distribution's build wrote: see
:mod:`deadbeat.plugins._manifest`); a cog's module is imported when the cog is
used or checked. A cog that cannot be used (its import fails, its object is not
a cog, its name is offered by several distributions, its distribution needs
another deadbeat-core, or it is outside the allow-list) is reported with its
name, distribution, version and the reason, and every other cog keeps working.
``strict=True`` makes such problems errors instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._registry import (
    GROUP,
    CogEntry,
    CogLoadError,
    CogNotInstalled,
    CogRegistry,
    cog_summary,
    core_version,
    not_a_cog_reason,
)
from ._requirements import missing_library

if TYPE_CHECKING:
    from ._describe import CogDescription, Parameter, describe, is_plain_cog

__all__ = [
    "GROUP",
    "CogDescription",
    "CogEntry",
    "CogLoadError",
    "CogNotInstalled",
    "CogRegistry",
    "Parameter",
    "cog_summary",
    "core_version",
    "describe",
    "is_plain_cog",
    "missing_library",
    "not_a_cog_reason",
]


def __getattr__(name: str) -> Any:
    # describe() needs deadbeat.conf and the movement it imports; a listing
    # needs neither, so they are imported on first use, not with the registry.
    if name in ("CogDescription", "Parameter", "describe", "is_plain_cog"):
        from . import _describe

        return getattr(_describe, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
