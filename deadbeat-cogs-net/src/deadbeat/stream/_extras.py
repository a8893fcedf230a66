"""Client libraries as extras: imported when a cog of their kind is made, never before.

``deadbeat.stream`` itself imports no client, so that ``deadbeat cogs`` lists
the stream cogs on any installation and a user with only redis-py installed can
use the Redis cogs. A cog asks for its library when it is built; a missing one
is an error that says which extra installs it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from deadbeat.plugins import missing_library

__all__ = ["client_library", "needs_library"]


def needs_library(module: str, extra: str, cog: str) -> Any:
    """:returns: a cog class's ``missing_requirements`` (see ``deadbeat check``) for a cog that needs ``module``."""

    def missing_requirements(params: Mapping[str, Any]) -> list[str]:
        return missing_library(module, f"deadbeat-cogs-net[{extra}]", cog)

    return staticmethod(missing_requirements)


def client_library(module: str, extra: str, cog: str) -> ModuleType:
    """:returns: the client library ``module``, imported.

    :param module: what to import (``"redis.asyncio"``, ``"nats"``).
    :param extra: the extra of deadbeat-cogs-net that installs it.
    :param cog: the cog asking, for the message.
    :raises ImportError: naming the cog, the library and the extra.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{cog} needs the {module.partition('.')[0]} client library, which is not installed ({exc});"
            f" install it with: pip install 'deadbeat-cogs-net[{extra}]'"
        ) from None
