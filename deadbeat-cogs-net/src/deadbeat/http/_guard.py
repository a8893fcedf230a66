"""Connections to ``http.listen``, kept few and brief: against idle and slow (slowloris) clients.

aiohttp's server closes a connection that stays idle, but a client that sends
its request a byte at a time, or sends headers and then its body at a crawl,
keeps a connection (a task, buffers, a descriptor) for as long as it likes, and
a few hundred such clients would use up the server. Two rules bound them:

* Deadline. From the moment a connection opens, or its last answer was given,
  the client has ``request_timeout`` seconds to deliver a complete request, head
  and body; then the connection is closed. While the request is being answered
  (the data are going through the train) the deadline does not run: that wait
  has its own bound (``ack_timeout``).
* Cap. At most ``max_connections`` are open. One more closes the oldest
  connection that has no request under way: idle between requests (kept alive
  after its last answer, which was written whole), or still sending its request
  line and headers. A connection whose request head has been read is never
  closed to make room, from then until its answer is written: its data may be in
  the train, and its client must have their answer (else a client that sends
  again would deliver them twice). If every open connection has a request under
  way, the new one is closed at once, so that clients slow to send a body can
  shut others out for ``request_timeout`` at most; idle ones never can.

A connection costs about as much as its buffers, so memory stays bounded by the
cap whatever the clients do. The rules live in a subclass of aiohttp's
low-level :class:`aiohttp.web.Server`, which aiohttp tells of each connection
made and lost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ._library import web
from ._ratelog import RateLimitedLog

__all__ = ["GuardedServer"]

log = logging.getLogger("deadbeat.http")


class _Connection:
    """One open connection: its transport, its peer, and where it stands.

    Invariant: ``timer`` is set exactly while the deadline runs (not while
    the connection is being answered).
    """

    __slots__ = ("transport", "peer", "under_way", "answering", "requests", "timer")

    def __init__(self, transport: asyncio.Transport, peer: str) -> None:
        self.transport = transport
        self.peer = peer
        #: A request's head was read and its answer is not written yet: not to be closed to make room.
        self.under_way = False
        #: A complete request (head and body) arrived and its answer is not written yet: no deadline runs.
        self.answering = False
        #: Requests answered on this connection.
        self.requests = 0
        self.timer: asyncio.TimerHandle | None = None


def peer_of(transport: asyncio.BaseTransport | None) -> tuple[str, str]:
    """:returns: the peer's address, and ``HOST:PORT`` (``[HOST]:PORT`` for IPv6) for log lines; ``-`` if unknown."""
    name = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(name, tuple) and len(name) >= 2:
        host, port = str(name[0]), name[1]
        return host, f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return "-", "-"


class GuardedServer(web.Server):
    """aiohttp's low-level server with a cap on connections and a deadline for each request.

    :param handler: the request handler (``async handler(request) -> response``).
    :param max_connections: connections open at once.
    :param request_timeout: seconds a connection has to deliver a complete
        request, from its opening or its last answer.
    :param said: where lines about closed connections go, rate-limited.
    :param kwargs: for :class:`aiohttp.web.Server` and its request handlers.
    """

    def __init__(
        self,
        handler: Any,
        *,
        max_connections: int,
        request_timeout: float,
        said: RateLimitedLog,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self.max_connections = max_connections
        self.request_timeout = request_timeout
        self._said = said
        # Open connections in the order they were made (a dict keeps it): the oldest first.
        self._open: dict[object, _Connection] = {}

    @property
    def open_connections(self) -> int:
        """How many connections are open now."""
        return len(self._open)

    def connection_made(self, handler: Any, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        connection = _Connection(transport, peer_of(transport)[1])
        self._open[handler] = connection
        self._start_deadline(handler, connection)
        if len(self._open) > self.max_connections:
            self._make_room(handler, connection)

    def connection_lost(self, handler: Any, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        connection = self._open.pop(handler, None)
        if connection is not None and connection.timer is not None:
            connection.timer.cancel()
            connection.timer = None

    def _make_room(self, newcomer: object, connection: _Connection) -> None:
        for handler, other in self._open.items():
            if handler is not newcomer and _may_close(handler, other):
                self._said.log(
                    logging.WARNING,
                    "too many connections",
                    "http.listen: %d connections open, the most allowed (max_connections);"
                    " closed the oldest one with no request under way, from %s",
                    len(self._open) - 1,
                    other.peer,
                )
                self._close(handler, other)
                return
        self._said.log(
            logging.WARNING,
            "too many connections",
            "http.listen: %d connections open, all with a request under way; refused a new one from %s",
            len(self._open) - 1,
            connection.peer,
        )
        self._close(newcomer, connection)

    def _close(self, handler: object, connection: _Connection) -> None:
        if connection.timer is not None:
            connection.timer.cancel()
            connection.timer = None
        # Gone from the count now: the transport tells aiohttp later, in its own time.
        self._open.pop(handler, None)
        connection.transport.abort()

    def _start_deadline(self, handler: object, connection: _Connection) -> None:
        loop = asyncio.get_running_loop()
        connection.timer = loop.call_later(self.request_timeout, self._expired, handler)

    def _expired(self, handler: object) -> None:
        connection = self._open.get(handler)
        if connection is None:
            return
        connection.timer = None
        if connection.requests:
            # Kept alive after an answer and quiet since: an ordinary end.
            log.debug("http.listen: closed an idle connection from %s", connection.peer)
        else:
            self._said.log(
                logging.WARNING,
                "slow clients",
                "http.listen: no complete request from %s within %g s (request_timeout); connection closed",
                connection.peer,
                self.request_timeout,
            )
        self._close(handler, connection)

    # -- told by the request handler ---------------------------------------------

    def started(self, handler: object) -> None:
        """A request's head was read on ``handler``'s connection: it is not closed to make room until answered."""
        connection = self._open.get(handler)
        if connection is not None:
            connection.under_way = True

    def answering(self, handler: object) -> None:
        """A request of ``handler``'s connection was read whole: its deadline stops while it is answered."""
        connection = self._open.get(handler)
        if connection is not None:
            connection.answering = True
            if connection.timer is not None:
                connection.timer.cancel()
                connection.timer = None

    def answered(self, handler: object) -> None:
        """The answer is written: the connection's deadline for its next request starts."""
        connection = self._open.get(handler)
        if connection is not None:
            connection.under_way = False
            connection.answering = False
            connection.requests += 1
            if connection.timer is None:
                self._start_deadline(handler, connection)


def _may_close(handler: object, connection: _Connection) -> bool:
    """Whether a connection may be closed to make room: no request under way, nothing of an answer unsent.

    A request whose head aiohttp has parsed but not yet handed to the handler
    (which starts on a later turn of the loop) is under way too: aiohttp counts
    the requests it parsed on a connection, and each is answered once.
    """
    if connection.under_way or getattr(handler, "_messages", None):
        return False
    parsed = getattr(handler, "_request_count", None)
    if isinstance(parsed, int) and parsed > connection.requests:
        return False
    try:
        return connection.transport.get_write_buffer_size() == 0
    except (AttributeError, RuntimeError):  # a transport without the method, or closed already
        return True
