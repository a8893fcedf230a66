"""Connecting to Redis: one client per cog, with our own retries instead of the library's.

redis-py can retry a failed command by itself; a pipeline of ``XADD`` retried
behind our back could be written twice without a word, and a retry loop we do
not see cannot log. So its retries are off, and the cogs retry with their own
back-off, saying when the broker goes and comes back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ._extras import client_library

__all__ = ["connect", "is_transient", "redis_errors", "shown_url", "stream_id_after"]


def shown_url(url: str) -> str:
    """``url`` without a password, for log lines."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


#: Seconds a reply may take beyond the longest blocking read asked for, before the connection is taken for lost.
_READ_MARGIN = 10.0
#: The read timeout of a client that never blocks in Redis (an output).
_READ_TIMEOUT = 30.0


def connect(url: str, password: str | None, cog: str, longest_block: float = 0.0) -> Any:
    """:returns: a ``redis.asyncio.Redis`` client for ``url`` (no connection is made yet).

    :param longest_block: the longest blocking read (``XREADGROUP BLOCK``) the
        client makes, in seconds: its sockets wait that long and a margin for a
        reply (redis-py 8 waits 5 s by default, which cut every longer idle read
        short and was taken for a broker out of reach).

    :raises ImportError: when redis-py is not installed, naming the extra.
    """
    client_library("redis.asyncio", "redis", cog)
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    options: dict[str, Any] = {
        "retry": Retry(NoBackoff(), 0),
        "socket_connect_timeout": 5.0,
        "socket_timeout": (longest_block + _READ_MARGIN) if longest_block else _READ_TIMEOUT,
        "socket_keepalive": True,
    }
    if password is not None:
        options["password"] = password
    return Redis.from_url(url, **options)


def redis_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean Redis is out of reach for now: retried, never fatal.

    ``BUSY`` (a script running), ``LOADING`` (restarting), ``OOM`` (full), and a
    replica that cannot take writes pass with time too.
    """
    import redis.exceptions as errors

    return (
        errors.ConnectionError,
        errors.TimeoutError,
        errors.BusyLoadingError,
        errors.ReadOnlyError,
        errors.TryAgainError,
        ConnectionError,
        OSError,
        TimeoutError,
    )


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` passes with time: out of reach, loading, or out of memory."""
    if isinstance(exc, redis_errors()):
        return True
    text = str(exc)
    return text.startswith(("OOM", "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"))


def stream_id_after(stream_id: str) -> str:
    """:returns: the smallest stream id greater than ``stream_id`` (``5-3`` -> ``5-4``)."""
    ms, _, seq = stream_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"
