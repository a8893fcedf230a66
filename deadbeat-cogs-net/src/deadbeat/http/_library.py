"""The HTTP library, aiohttp, or an error that says which extra brings it.

aiohttp is a dependency of ``deadbeat.http`` only (the ``http`` extra of
deadbeat-cogs-net): an application that does not use these cogs does not install
it. Every module of the package imports it from here, so that a missing library
gives one message, naming what to install, wherever it is first needed; ``deadbeat
cogs`` then lists ``http.post`` and ``http.listen`` as broken with that message.
"""

from __future__ import annotations

try:
    import aiohttp
    from aiohttp import web
except ImportError as exc:  # pragma: no cover - exercised in a process without aiohttp (see the tests)
    raise ImportError(
        f"deadbeat.http needs aiohttp ({exc}); install it with: pip install 'deadbeat-cogs-net[http]'"
    ) from exc

__all__ = ["aiohttp", "web"]
