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

__all__ = ["TRANSIENT_CODES", "connect", "is_transient", "redis_errors", "shown_url", "stream_id_after"]


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
#: The read timeout of a client that never blocks in Redis and names none of its own.
_READ_TIMEOUT = 30.0


def connect(
    url: str,
    password: str | None,
    cog: str,
    longest_block: float = 0.0,
    single: bool = False,
    reply_timeout: float | None = None,
) -> Any:
    """:returns: a ``redis.asyncio.Redis`` client for ``url`` (no connection is made yet).

    :param longest_block: the longest blocking read (``XREADGROUP BLOCK``) the
        client makes, in seconds: its sockets wait that long and a margin for a
        reply (redis-py 8 waits 5 s by default, which cut every longer idle read
        short and was taken for a broker out of reach).
    :param single: a client of one connection (``.connection``), whose
        ``CLIENT ID`` stays the same until it connects again: the client that
        makes blocking reads, so that another can end its read (``CLIENT UNBLOCK``).
    :param reply_timeout: for a client that never blocks in Redis (an output),
        seconds its sockets wait for a reply (or to send) before the connection
        is taken for lost; none for 30 s. A Redis that accepts connections and
        never answers (frozen, hung) otherwise holds each attempt that long.

    :raises ImportError: when redis-py is not installed, naming the extra.
    """
    client_library("redis.asyncio", "redis", cog)
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    if longest_block:
        read_timeout = longest_block + _READ_MARGIN
    else:
        read_timeout = reply_timeout if reply_timeout is not None else _READ_TIMEOUT
    options: dict[str, Any] = {
        "retry": Retry(NoBackoff(), 0),
        "socket_connect_timeout": 5.0,
        "socket_timeout": read_timeout,
        "socket_keepalive": True,
    }
    if password is not None:
        options["password"] = password
    if single:
        options["single_connection_client"] = True
    return Redis.from_url(url, **options)


#: The error codes of Redis replies that pass with time: out of memory (``maxmemory`` with
#: ``noeviction``), loading its data after a restart, busy with a script, a replica without its
#: master, a cluster resharding or without a slot's master, too few replicas for a write, or a
#: failed snapshot refusing writes (until the disk has room again).
TRANSIENT_CODES = frozenset(
    ("OOM", "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS", "MISCONF", "READONLY")
)


def redis_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean Redis is out of reach for now: retried, never fatal.

    ``BUSY`` (a script running), ``LOADING`` (restarting), ``OOM`` (full), a
    replica that cannot take writes and a cluster without a master pass with
    time too. redis-py raises its own class for most codes and strips the code
    from the message (``OutOfMemoryError("command not allowed when used memory
    > 'maxmemory'.")``), so the classes are what tells them apart.
    """
    import redis.exceptions as errors

    classes: list[type[BaseException]] = [
        errors.ConnectionError,  # BusyLoadingError (LOADING) is one
        errors.TimeoutError,
        errors.BusyLoadingError,
        errors.ReadOnlyError,
        errors.TryAgainError,
    ]
    # Not in every redis-py version (OutOfMemoryError since 4.3).
    for name in ("OutOfMemoryError", "ClusterDownError", "MasterDownError"):
        found = getattr(errors, name, None)
        if isinstance(found, type):
            classes.append(found)
    return (*classes, ConnectionError, OSError, TimeoutError)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` passes with time: out of reach, loading, out of memory, busy, a cluster or replica not ready.

    By the exception's class (:func:`redis_errors`), by the reply's error code
    as recent redis-py versions keep it (``status_code``), or by the code
    still heading the message (a code redis-py has no class for, such as
    ``BUSY``, or older redis-py versions).
    """
    if isinstance(exc, redis_errors()):
        return True
    code = getattr(exc, "status_code", None)
    if isinstance(code, str) and code in TRANSIENT_CODES:
        return True
    text = str(exc)
    # A pipeline that raises says "Command # N (...) of pipeline caused error: ('CODE ...',)".
    _, _, tail = text.partition("caused error: ")
    return any(part.lstrip("('\"").split(" ", 1)[0] in TRANSIENT_CODES for part in (text, tail) if part)


def stream_id_after(stream_id: str) -> str:
    """:returns: the smallest stream id greater than ``stream_id`` (``5-3`` -> ``5-4``)."""
    ms, _, seq = stream_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"
