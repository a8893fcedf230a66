"""One client of a stream listener: its socket, its framer, and the state it is in.

States, in the only order they come::

    HANDSHAKING --(TLS handshake done)--> OPEN --(end, error, cut)--> CLOSED
         \\______________________(failure, time-out)__________________/

A plain TCP or Unix client starts OPEN. Invariants:

* while HANDSHAKING, nothing is read as data: every readiness is a handshake
  step (``do_handshake`` on a non-blocking socket, which says what it waits
  for), so a client that never completes it blocks nobody and is cut after
  ``handshake_timeout``;
* while OPEN, everything received goes through :attr:`Connection.framer`,
  which keeps at most ``max_line`` bytes of an unfinished message;
* once CLOSED, the socket is closed, its bindings are gone, and any call made
  for it (a read queued before it closed) does nothing.

``last_active`` is when bytes last arrived (or the connection opened): the
idle time-out and the handshake time-out measure from it.
"""

from __future__ import annotations

import enum
import socket
import ssl
import time

from deadbeat import movement

from ._framing import StreamFramer

__all__ = ["Connection", "State"]


class State(enum.Enum):
    """Where a connection stands."""

    HANDSHAKING = "handshaking"
    OPEN = "open"
    CLOSED = "closed"


class Connection:
    """A client connected to a stream listener.

    :ivar sock: its socket (an :class:`ssl.SSLSocket` with TLS), non-blocking.
    :ivar number: its number, unique in the process: the event ids' ``/N``.
    :ivar peer: ``HOST:PORT`` (TCP) or the credentials (Unix).
    :ivar host: the peer's host alone.
    :ivar prefix: the start of its data's event ids, ``tcp:HOST:PORT/N:``.
    :ivar framer: cuts what it sends into messages.
    :ivar state: see :class:`State`.
    :ivar reader: the binding that watches it for reading.
    :ivar writer: the binding that watches it for writing, while a TLS step waits to write.
    :ivar last_active: :func:`time.monotonic` of the last bytes received.
    """

    __slots__ = ("sock", "number", "peer", "host", "prefix", "framer", "state", "reader", "writer", "last_active")

    def __init__(
        self,
        sock: socket.socket,
        number: int,
        peer: str,
        host: str,
        transport: str,
        framer: StreamFramer,
        tls: bool,
    ) -> None:
        self.sock = sock
        self.number = number
        self.peer = peer
        self.host = host
        self.prefix = f"{transport}:{peer}/{number}:"
        self.framer = framer
        self.state = State.HANDSHAKING if tls else State.OPEN
        self.reader: movement.Binding | None = None
        self.writer: movement.Binding | None = None
        self.last_active = time.monotonic()

    @property
    def tls(self) -> bool:
        """Whether the connection is TLS."""
        return isinstance(self.sock, ssl.SSLSocket)

    def event_id(self, offset: int) -> str:
        """The event id of the message starting at ``offset`` of the stream."""
        return f"{self.prefix}{offset}"

    def handshake_step(self) -> bool | None:
        """Take the next step of the TLS handshake.

        :returns: ``None`` when it is done (the connection is OPEN now), ``False``
            while it waits to read, ``True`` while it waits to write.
        :raises ssl.SSLError: (or :class:`OSError`) when it failed.
        """
        assert isinstance(self.sock, ssl.SSLSocket)
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLWantWriteError:
            return True
        self.state = State.OPEN
        return None

    def pending(self) -> int:
        """Bytes TLS has decrypted and not handed out yet: epoll cannot see them."""
        return self.sock.pending() if isinstance(self.sock, ssl.SSLSocket) else 0

    def close(self) -> None:
        """Let go of the bindings and the socket; CLOSED."""
        self.state = State.CLOSED
        for binding in (self.reader, self.writer):
            if binding is not None:
                binding.cancel()
        self.reader = self.writer = None
        try:
            self.sock.close()
        except OSError:
            pass
