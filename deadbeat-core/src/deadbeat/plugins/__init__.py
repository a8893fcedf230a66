"""Finding cogs that installed distributions offer through entry points.

A distribution offers a cog with an entry point in the ``deadbeat.cogs`` group;
the entry point's name is the cog's public name (``fs.tail``)::

    [project.entry-points."deadbeat.cogs"]
    "geoip.lookup" = "deadbeat_geoip:GeoIPLookup"

Discovery reads installed metadata only; a cog's module is imported when the cog
is used or inspected. A cog that cannot be used (its import fails, its name is
taken by another distribution, its distribution needs another deadbeat-core, or
it is outside the allow-list) is reported with its name, distribution, version and
the reason, and every other cog keeps working. ``strict=True`` makes any such
problem an error instead.
"""

from ._describe import CogDescription, Parameter, describe
from ._registry import GROUP, CogEntry, CogLoadError, CogRegistry, cog_summary, core_version

__all__ = [
    "GROUP",
    "CogDescription",
    "CogEntry",
    "CogLoadError",
    "CogRegistry",
    "Parameter",
    "cog_summary",
    "core_version",
    "describe",
]
