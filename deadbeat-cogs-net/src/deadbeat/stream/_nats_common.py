"""Connecting to NATS: one connection per cog, reconnecting by itself, saying so in the log.

nats-py reconnects on its own after a lost connection (we ask it to try for
ever); its callbacks only log. A first connection that fails raises (each
server tried twice), and the cog says the broker is out of reach and tries
again with its own back-off. Every reconnection is said, so that a
broker restart shows in the log as a pair of lines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from ._extras import client_library

__all__ = ["delivery_of", "is_transient", "open_connection", "pending_after", "stream_full"]

log = logging.getLogger("deadbeat.stream")


async def open_connection(servers: Sequence[str], user: str | None, password: str | None, where: str, cog: str) -> Any:
    """:returns: a connected ``nats.aio.client.Client``.

    :raises ImportError: when nats-py is not installed, naming the extra.
    """
    nats = client_library("nats", "nats", cog)
    # Filled once connected: a disconnection of a client we close ourselves is no news.
    made: list[Any] = []

    async def disconnected() -> None:
        if made and not made[0].is_closed:
            log.error("%s: lost the connection; reconnecting", where)

    async def reconnected() -> None:
        log.warning("%s: connected again", where)

    async def error(exc: Exception) -> None:
        log.debug("%s: %s: %s", where, type(exc).__name__, exc)

    options: dict[str, Any] = {
        "servers": list(servers),
        "allow_reconnect": True,
        # The first connection: each server tried twice, then NoServersError,
        # which the cog takes for "out of reach", says, and tries again with
        # its back-off. (With -1 nats-py tries for ever inside connect(),
        # saying nothing but to error_cb.) For ever once connected (below).
        "max_reconnect_attempts": 1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 5,
        "disconnected_cb": disconnected,
        "reconnected_cb": reconnected,
        "error_cb": error,
    }
    if user is not None:
        options["user"] = user
    if password is not None:
        options["password"] = password
    client = await nats.connect(**options)
    client.options["max_reconnect_attempts"] = -1
    made.append(client)
    return client


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` passes with time: the server out of reach, restarting, or a full stream."""
    import nats.errors
    import nats.js.errors

    if isinstance(
        exc,
        (
            nats.errors.ConnectionClosedError,
            nats.errors.NoServersError,
            nats.errors.StaleConnectionError,
            nats.errors.OutboundBufferLimitError,
            nats.errors.ConnectionReconnectingError,
            nats.errors.TimeoutError,
            nats.errors.NoRespondersError,
            nats.js.errors.NoStreamResponseError,
            nats.js.errors.ServiceUnavailableError,
            nats.js.errors.ServerError,
            nats.js.errors.TooManyStalledMsgsError,
            asyncio.TimeoutError,
            OSError,
        ),
    ):
        return True
    return stream_full(exc)


def stream_full(exc: BaseException) -> bool:
    """Whether ``exc`` is JetStream refusing a message because the stream holds its maximum (``discard = new``)."""
    import nats.js.errors

    return isinstance(exc, nats.js.errors.APIError) and "maximum" in str(exc.description or "").lower()


def delivery_of(reply: str) -> tuple[int, str]:
    """:returns: how many times a JetStream message was delivered, and its stream sequence, read from its reply subject.

    The subject is ``$JS.ACK.STREAM.CONSUMER.DELIVERED.SSEQ.CSEQ.TIME.PENDING``
    or, with a domain and account hash, ``$JS.ACK.DOMAIN.HASH.STREAM.CONSUMER.DELIVERED.SSEQ...``.
    """
    tokens = reply.split(".")
    if len(tokens) == 9:
        return int(tokens[4]), tokens[5]
    return int(tokens[6]), tokens[7]


def pending_after(reply: str) -> int:
    """:returns: how many messages the consumer had still to deliver after this one, read from its reply subject.

    The last number of ``$JS.ACK.STREAM.CONSUMER.DELIVERED.SSEQ.CSEQ.TIME.PENDING``
    (the eleventh token with a domain and account hash, which a random token may follow).
    """
    tokens = reply.split(".")
    return int(tokens[8] if len(tokens) == 9 else tokens[10])
