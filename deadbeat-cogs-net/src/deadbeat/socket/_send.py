"""Sending data to a TCP, UDP or Unix socket: reconnecting, holding a bounded amount, never dropping.

Encoding on arrival. Each datum (or each list the train gives at once) is
framed and encoded when it arrives, so a datum that cannot be sent (not text,
not encodable, a newline inside a newline-framed line, a datagram too big)
fails alone and goes to the error output; what is queued can always be written.
A datagram is too big above ``max_datagram``, which cannot be set above what
UDP carries (65,507 bytes); a Unix datagram, also above what the system's
socket buffer takes (``net.core.wmem_default`` less 32 bytes). Should the
kernel still refuse one as too big when it is sent (``EMSGSIZE``), that datagram
alone goes to the error output, and the rest of the queue is written.

Writing at ``flush``. The train broadcasts ``flush`` after every batch; what was
queued is written then, with one system call for as many chunks as fit
(``sendmsg``). A socket that takes only part of it (the peer reads slowly) is
watched for room (``EPOLLOUT``) and written to as room comes.

Acknowledgement. The train acknowledges a batch (``batch_done``, ``event_done``:
a tailer moves its position, a broker supply acks its messages) only when no
cog holds data back. So this drain holds (:meth:`Train.hold
<deadbeat.movement.Train.hold>`) every list or datum it queues and releases them
only when the queue has been written to the socket, whole: an acknowledged
datum has been handed to the kernel. It holds from arrival, not from the first
failed write, because the train decides whether to acknowledge before its
``flush`` reaches us and does not look at what is held after it.

The peer gone. A connection that fails or is closed by the peer is opened again
after a pause that doubles from ``reconnect_min`` up to ``reconnect_max``
seconds; meanwhile the queue keeps what arrives. Up to ``max_pending`` bytes
it simply waits; beyond, the drain blocks the train (:meth:`Train.block
<deadbeat.movement.Train.block>`, as ``fs.write`` does on a full disk) until
the whole queue is written: the supplies pause, and nothing is dropped. A message cut by the failure (written
in part) is sent again whole on the new connection: frames never break, at the
price that the peer may get that one message twice.

What TCP cannot promise. Bytes the kernel accepted are written as far as this
process can know, and acknowledged to the train; if the peer vanishes before
reading them, they are lost with the connection. Delivery end to end needs an
acknowledging protocol (the ``stream.*`` cogs over a broker). What can be told
is said: a TCP connection that breaks (reset, broken pipe, closed by the peer)
while the kernel still holds bytes the peer's host has not acknowledged
(``SIOCOUTQ``, see :mod:`._kernel`) is logged with that count, as bytes that
may be lost (those of the message cut by the failure are sent again), and the
run goes on, reconnecting, but its result is failure (exit status 1); and at
shutdown over TCP, once the queue is written, the drain waits (within
``finish_timeout``) until the peer's host has acknowledged every byte: a reset
then, or bytes still unacknowledged at the deadline, fail the run, naming the
peer and the bytes. The peer's host acknowledging bytes is not its program
reading them (a program that resets with bytes unread loses those), and a Unix
stream peer is not waited for (its kernel counts memory, not bytes).

Datagrams (UDP, Unix datagrams) are one per datum. UDP gives no delivery
guarantee: a datagram the kernel sent is acknowledged, whether or not the peer
got it. A UDP peer that does not listen makes the kernel report
``ECONNREFUSED`` on a later send (an ICMP answer to an earlier datagram, which
is lost): that is counted (``refused_datagrams``) and logged, and at the end
the run fails (exit status 1), saying how many datagrams were refused, so that
data known to be lost never end a run that reports success. The answer to the
last datagrams comes after them, with no send left to report it: so at
shutdown the drain waits for it (up to a quarter of a second after the last
datagram, within ``finish_timeout``) and reads the socket's pending error.

Shutdown. ``finish`` keeps writing (and reconnecting) for up to
``finish_timeout`` seconds. What is still queued then is not acknowledged, and
the run fails (exit status 1) saying how many bytes and messages for which peer.
Over TCP it then waits, within the same ``finish_timeout``, for the peer's host
to acknowledge what the kernel accepted (see "What TCP cannot promise").
"""

from __future__ import annotations

import asyncio
import codecs
import enum
import errno
import logging
import os
import select
import socket
import ssl
import time
from collections import deque
from functools import partial
from typing import Annotated, Any, Literal

from deadbeat import conf, movement

from ._address import DATAGRAM_TRANSPORTS, Endpoint, is_ip_literal
from ._kernel import unacknowledged_bytes
from ._ratelimit import PeerLog
from ._tls import client_context, reason

__all__ = ["SocketDrain"]

log = logging.getLogger("deadbeat.socket")

#: Chunks written with one ``sendmsg``: well below IOV_MAX (1024).
_CHUNKS_PER_SEND = 64
#: The largest UDP payload over IPv4 (over IPv6, 65,527): the most ``max_datagram`` may be.
_MAX_UDP = 65507
#: A Unix datagram may be as long as the sending socket's buffer less this (Linux: ``sk_sndbuf - 32``).
_UNIX_DATAGRAM_OVERHEAD = 32
#: At shutdown, seconds after the last UDP datagram to wait for an ICMP refusal of it (loopback answers at once).
_ICMP_WAIT = 0.25
#: Bytes read and ignored per wake-up from a peer that talks back.
_DISCARD = 1 << 16
#: At shutdown, seconds between two looks at whether the peer acknowledged what the kernel accepted.
_ACK_LOOK = 0.01


class Link(enum.Enum):
    """Where the connection to the peer stands.

    DOWN: no socket (a retry may be due). RESOLVING: the host name is being
    looked up. CONNECTING: a non-blocking connect is under way. HANDSHAKING:
    TLS is being set up. UP: writable.
    """

    DOWN = "down"
    RESOLVING = "resolving"
    CONNECTING = "connecting"
    HANDSHAKING = "handshaking"
    UP = "up"


class SocketDrain(movement.Cog):
    """Send one message per datum to a TCP, UDP or Unix socket; reconnect, hold while the peer is away, never drop.

    On streams (TCP, Unix) messages are framed by a newline or by octet
    counting (RFC 6587 ``LEN SP MSG``, for messages holding newlines); on
    datagram sockets each datum is one datagram. A datum that is text is sent as
    it is; otherwise its ``line_getter`` field.

    A datum is acknowledged (``batch_done``, ``event_done`` upstream) only once
    written to the socket. While the peer is away (refused, reset, closed) the
    drain reconnects with growing pauses and keeps what arrives; beyond
    ``max_pending`` bytes it pauses the train instead of dropping anything.
    At shutdown it keeps trying for ``finish_timeout`` seconds; what is left
    unwritten fails the run (exit status 1) and is not acknowledged. Under
    ``deadbeat run --once`` the run ends when everything read is written: with
    the peer away it waits for the peer (a cron job would wait with it), so run
    such a job under ``timeout`` (it sends SIGTERM; ``finish_timeout`` then
    applies and nothing unwritten is acknowledged, for the next run). Not
    promised: that bytes the kernel accepted reach a peer that vanishes before
    reading them (TCP has no receipt; the ``stream.*`` cogs have). What can
    be told is said: over TCP, a connection that breaks with bytes the peer's
    host had not acknowledged says so in the log (they may be lost), and at
    shutdown the drain waits (within ``finish_timeout``) for the peer's host to
    acknowledge every byte written: a reset then, or bytes still not
    acknowledged, fail the run (exit status 1), naming the bytes. Nor is it
    promised that a UDP datagram arrives: UDP gives no delivery guarantee. Datagrams the peer's
    host refused (ICMP port unreachable: nothing listens) are lost; they are
    counted (``refused_datagrams``), logged, and make the run fail at the end
    (exit status 1).

    Its figures for ``/metrics`` and ``--stats`` (``metrics()``): messages and
    bytes written, messages and bytes queued (``pending``), reconnections, the
    time of the last failure, whether it is connected, and ``ready`` (0 while
    the peer cannot be reached, which ``/ready`` reports).

    :param esc: the Escapement (a Train is taken too).
    :param transport: ``tcp``, ``udp``, ``unix`` (stream) or ``unix-datagram``.
    :param host: host to send to (TCP, UDP): an address or a name (looked up without blocking).
    :param port: port to send to (TCP, UDP).
    :param path: socket file to send to (Unix).
    :param framing: ``newline`` or ``octet-counted`` for streams, ``datagram``
        for datagram sockets; none (``false``) for ``newline`` or ``datagram``.
    :param line_getter: where the message is (callable or field path); a datum
        that is text is sent as it is. A datum without one, or whose message is
        not text, goes to the error output.
    :param encoding: text encoding of the messages.
    :param max_pending: bytes kept while they cannot be written; beyond, the train is paused.
    :param reconnect_min: seconds before the first new try after a failure.
    :param reconnect_max: longest pause between tries (it doubles up to this).
    :param connect_timeout: seconds a connection (and TLS handshake) may take.
    :param finish_timeout: seconds the drain keeps trying to write what is queued at shutdown
        (and, over TCP, waits for the peer to acknowledge it).
    :param max_datagram: largest datagram in bytes; a longer message goes to
        the error output. At most 65507 (the largest UDP payload) for ``udp``;
        for ``unix-datagram``, what the system's socket buffer takes is the
        limit too (``net.core.wmem_default`` less 32 bytes).
    :param tls: speak TLS to a TCP peer, verifying its certificate.
    :param tls_ca: PEM file of the authorities the peer's certificate must be
        signed by; none for the system's.
    :param tls_cert: PEM certificate of ours, for a peer that asks for one.
    :param tls_key: its private key; none when it is in ``tls_cert``.
    :param tls_server_name: the name the peer's certificate must hold; none for ``host``.
    """

    one_to_one = True
    # Sent on at once and held until written: the summary says the pending ones as "not written".
    passes_on_what_it_holds = True

    config_name = "send"

    def __init__(
        self,
        esc: movement.Escapement,
        transport: Literal["tcp", "udp", "unix", "unix-datagram"] = "tcp",
        host: str = "127.0.0.1",
        port: Annotated[int, conf.Range(1, 65535)] | None = None,
        path: conf.Path | None = None,
        framing: Literal["newline", "octet-counted", "datagram"] | None = None,
        line_getter: movement.FieldGetter = "line",
        encoding: conf.Encoding = "utf-8",
        max_pending: Annotated[int, conf.Range(1)] = 4 << 20,
        reconnect_min: Annotated[float, conf.Range(0, above=True)] = 0.1,
        reconnect_max: Annotated[float, conf.Range(0, above=True)] = 30.0,
        connect_timeout: Annotated[float, conf.Range(0, above=True)] = 10.0,
        finish_timeout: Annotated[float, conf.Range(0)] = 10.0,
        max_datagram: Annotated[int, conf.Range(1)] = _MAX_UDP,
        tls: bool = False,
        tls_ca: conf.Path | None = None,
        tls_cert: conf.Path | None = None,
        tls_key: conf.Path | None = None,
        tls_server_name: str | None = None,
    ) -> None:
        esc = movement.escapement_of(esc)
        self.esc = esc
        self.transport = transport
        self.host = host
        self.port = port
        self.path = path
        self.framing = framing
        self.line_getter = line_getter
        self.encoding = encoding
        self.max_pending = max_pending
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.connect_timeout = connect_timeout
        self.finish_timeout = finish_timeout
        self.max_datagram = max_datagram
        self.tls = tls
        self.tls_ca = tls_ca
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.tls_server_name = tls_server_name
        self.endpoint = Endpoint.of(transport, host, port, path)
        self._framing = self._check_framing(framing)
        codecs.lookup(encoding)  # an unknown encoding fails here, at start
        if isinstance(max_pending, bool) or max_pending < 1:
            raise ValueError(f"max_pending must be at least 1 byte, not {max_pending!r}")
        if isinstance(max_datagram, bool) or not isinstance(max_datagram, int) or max_datagram < 1:
            raise ValueError(f"max_datagram must be a whole number of at least 1 byte, not {max_datagram!r}")
        if transport == "udp" and max_datagram > _MAX_UDP:
            # Above it the kernel refuses every such datagram (EMSGSIZE): a limit no message could reach.
            raise ValueError(
                f"max_datagram must be at most {_MAX_UDP} bytes for udp (the largest UDP payload), not {max_datagram}"
            )
        #: The longest datagram taken: max_datagram, or less for a Unix socket's buffer (see _unix_datagram_limit).
        self._largest = min(max_datagram, _unix_datagram_limit()) if transport == "unix-datagram" else max_datagram
        if not 0 < reconnect_min <= reconnect_max:
            raise ValueError(f"reconnect_min must be more than 0 and at most reconnect_max ({reconnect_max})")
        if connect_timeout <= 0 or finish_timeout < 0:
            raise ValueError("connect_timeout must be more than 0 and finish_timeout not below 0")
        if (tls or tls_ca or tls_cert or tls_key or tls_server_name) and transport != "tcp":
            raise ValueError(f"TLS is for TCP; a {transport} peer cannot take tls settings")
        if (tls_ca or tls_cert or tls_key or tls_server_name) and not tls:
            raise ValueError("tls_ca, tls_cert, tls_key and tls_server_name need tls = true")
        self._tls = client_context(tls_ca, tls_cert, tls_key) if tls else None
        self._get = movement.getter(line_getter)
        self._log = PeerLog(log, f"socket.send {self.endpoint}")
        #: What happened, for the run's summary.
        self.counts: dict[str, int] = dict.fromkeys(
            (
                "connections",
                "connect_failures",
                "connections_lost",
                "refused_datagrams",
                "unwritten_bytes",
                "unacknowledged_bytes",
            ),
            0,
        )
        # The queue. Invariants: every chunk starts at a frame boundary (a
        # datagram is a chunk of its own); _sent bytes of the first chunk are
        # written; _pending is the bytes not yet written, in all; _held is what
        # we hold in the train (one per datum or list queued), released only when
        # the queue is empty; _holds are the train's hold tokens of what is
        # held, in order.
        self._chunks: deque[bytes] = deque()
        # Datagrams only: the datum of each chunk, in order (for the error
        # output, should the kernel refuse its datagram as too big).
        self._origins: deque[Any] = deque()
        #: When the last UDP datagram was sent (loop time), to wait for its ICMP refusal at shutdown.
        self._last_datagram: float | None = None
        self._sent = 0
        self._pending = 0
        self._held = 0
        self._holds = movement.HeldRuns()
        self._blocked = False
        self._link = Link.DOWN
        self._sock: socket.socket | None = None
        self._reader: movement.Binding | None = None
        self._writer: movement.Binding | None = None
        self._timer: movement.Binding | None = None
        self._lookup: movement.Binding | None = None
        # The addresses of this round of tries (several for a name), and the next to try.
        self._targets: list[tuple[int, Any]] = []
        self._next_target = 0
        self._pause = reconnect_min
        #: Whether the run was failed for refused datagrams (once, at shutdown).
        self._said_refused = False
        self._failures = 0
        self._drained: asyncio.Future[None] | None = None
        # Figures (see metrics): messages queued and not all written yet (counted
        # as written when the queue empties), messages and bytes written,
        # reconnections, when a try last failed, whether the peer is out of reach.
        self._queued_messages = 0
        self._written_messages = 0
        self._bytes_written = 0
        self._reconnects = 0
        self._last_error = 0.0
        #: A connection was lost with bytes the peer had not acknowledged: the run failed (said once).
        self._said_lost = False
        self._unreachable = False
        self._frame = {
            "newline": self._frame_lines,
            "octet-counted": self._frame_counted,
            "datagram": self._frame_datagrams,
        }[self._framing]

    def _check_framing(self, framing: str | None) -> str:
        if self.transport in DATAGRAM_TRANSPORTS:
            if framing not in (None, "datagram"):
                raise ValueError(f"a {self.transport} peer takes one datum per datagram: framing must be datagram")
            return "datagram"
        if framing is None:
            return "newline"
        if framing not in ("newline", "octet-counted"):
            raise ValueError(f"framing {framing!r} is not for a {self.transport} stream; use newline or octet-counted")
        return framing

    # -- taking data ---------------------------------------------------------------

    def __call__(self, data: Any) -> tuple[Any, ...]:
        self._queue(self._frame([data if isinstance(data, str) else self._line_of(data)]), 1)
        if self._framing == "datagram":
            self._origins.append(data)
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Queue a list at once; the same as one call per datum.

        Nothing is queued unless every datum of the list can be sent; otherwise
        the train gives the list datum by datum, and only the bad data go to the
        error output.
        """
        if data:
            lines = data if movement.only(data, str) else [d if isinstance(d, str) else self._line_of(d) for d in data]
            self._queue(self._frame(lines), len(lines))
            if self._framing == "datagram":
                self._origins.extend(data)
        return data

    def _line_of(self, data: Any) -> str:
        line = self._get(data)
        if not isinstance(line, str):
            raise TypeError(f"the message to send is {type(line).__name__}, not text")
        return line

    def _frame_lines(self, lines: list[str]) -> list[bytes]:
        text = "\n".join(lines)
        if text.count("\n") != len(lines) - 1:
            raise ValueError(
                "the message holds a newline, which would make it two at the peer; use framing = octet-counted"
            )
        return [(text + "\n").encode(self.encoding)]

    def _frame_counted(self, lines: list[str]) -> list[bytes]:
        encoding = self.encoding
        return [b"".join([b"%d %b" % (len(m), m) for m in [line.encode(encoding) for line in lines]])]

    def _frame_datagrams(self, lines: list[str]) -> list[bytes]:
        encoding, largest = self.encoding, self._largest
        datagrams = [line.encode(encoding) for line in lines]
        if max(map(len, datagrams)) > largest:
            if largest < self.max_datagram:
                raise ValueError(
                    f"message of more than {largest} bytes, the most this system's Unix datagram sockets take"
                    " (net.core.wmem_default less 32); it cannot be one datagram"
                )
            raise ValueError(f"message of more than max_datagram ({largest}) bytes; it cannot be one datagram")
        return datagrams

    def _queue(self, chunks: list[bytes], messages: int) -> None:
        """Queue framed chunks (``messages`` messages); they are held in the train until written."""
        self._chunks.extend(chunks)
        self._pending += sum(map(len, chunks))
        self._queued_messages += messages
        self._held += 1
        # Came with the train's send in progress: held, they hold back their own batch only.
        self._holds.add(self.esc.hold(self, current=True))

    # -- writing -------------------------------------------------------------------

    @movement.hook
    def flush(self) -> None:
        """Write what is queued (the train sends this after every batch); connect first if need be."""
        if not self._chunks:
            return
        if self._link is Link.UP:
            # Not while waiting for room, or for the peer's bytes (TLS); and
            # not into a connection the peer has left (see _peer_left).
            if self._writer is None and self._reader is None and not self._peer_left():
                self._write()
        elif self._link is Link.DOWN and self._timer is None:
            self._connect()
        self._check_room()

    def _check_room(self) -> None:
        """Block the train above ``max_pending`` bytes queued; it goes on once the queue is written (``_emptied``).

        Not at some lower mark: what is queued is released (and its batches
        acknowledged) only when the queue is empty, so a queue never empty
        under a steady overload would never let anything be acknowledged.
        Emptied, the kernel's socket buffer still keeps the peer busy while the
        supplies start again.
        """
        if not self._blocked and self._pending > self.max_pending:
            self._blocked = True
            self._log.warning(
                "full",
                "%d bytes queued, more than max_pending %d (the peer is %s); pausing the train",
                self._pending,
                self.max_pending,
                self._link.value,
            )
            self.esc.block(self)

    def _write(self) -> None:
        """Write as much of the queue as the socket takes; wait for room for the rest."""
        sock = self._sock
        assert sock is not None
        chunks = self._chunks
        datagrams = self._framing == "datagram"
        while chunks:
            try:
                if datagrams:
                    written = sock.send(chunks[0])
                elif isinstance(sock, ssl.SSLSocket):
                    written = sock.send(memoryview(chunks[0])[self._sent :])
                else:
                    buffers: list[bytes | memoryview] = [memoryview(chunks[0])[self._sent :]]
                    buffers += [chunks[i] for i in range(1, min(len(chunks), _CHUNKS_PER_SEND))]
                    written = sock.sendmsg(buffers)
            except (BlockingIOError, ssl.SSLWantWriteError):
                self._wait_for_room()
                return
            except ssl.SSLWantReadError:
                # TLS must read before it writes on (renegotiation): go on when the peer's bytes come.
                if self._reader is None:
                    self._reader = self.esc.fd_register(sock, select.EPOLLIN, self._readable)
                return
            except ConnectionRefusedError:
                if self.transport != "udp":
                    self._lost("refused")
                    return
                # An ICMP answer to an earlier datagram: that one was lost, this
                # one was not sent. Each error stands for one such answer, so
                # trying again ends.
                self._count_refusal()
                continue
            except OSError as exc:
                if datagrams and exc.errno == errno.EMSGSIZE:
                    # This datagram is too big for the socket, not the peer gone: it alone fails.
                    self._too_big(exc)
                    continue
                self._lost(reason(exc))
                return
            if datagrams:
                self._advance(len(chunks[0]))
                self._origins.popleft()
                self._last_datagram = self.esc.loop.time()
            else:
                self._advance(written)
        self._emptied()

    def _count_refusal(self) -> None:
        """The socket reported an ICMP port unreachable: a datagram sent before was lost."""
        self.counts["refused_datagrams"] += 1
        self._last_error = time.time()
        self._log.warning(
            "refused", "the peer does not listen (ICMP port unreachable): a datagram sent before was lost"
        )

    def _too_big(self, exc: OSError) -> None:
        """The kernel refused the first datagram as too big (``EMSGSIZE``): to the error output, alone; not sent."""
        chunk = self._chunks.popleft()
        datum = self._origins.popleft()
        self._pending -= len(chunk)
        self._queued_messages -= 1
        self._last_error = time.time()
        # Released with the rest of its list once the queue is written, as any datum queued.
        self.esc.reject(
            self,
            datum,
            ValueError(f"a datagram of {len(chunk)} bytes is too big for the socket ({reason(exc)}); not sent"),
        )

    def _advance(self, written: int) -> None:
        """``written`` more bytes left the queue: drop the chunks now whole written."""
        chunks = self._chunks
        self._pending -= written
        self._bytes_written += written
        written += self._sent
        while chunks and written >= len(chunks[0]):
            written -= len(chunks.popleft())
        self._sent = written

    def _emptied(self) -> None:
        """Everything queued is written: let the train acknowledge it."""
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        self._pause = self.reconnect_min  # this connection works
        self._failures = 0
        self._written_messages += self._queued_messages
        self._queued_messages = 0
        if self._held:
            self._held = 0
            self._holds.release(partial(self.esc.release, self))
        if self._blocked:
            self._blocked = False
            self.esc.unblock(self)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _wait_for_room(self) -> None:
        if self._writer is None and self._sock is not None:
            self._writer = self.esc.fd_register(self._sock, select.EPOLLOUT, self._writable)

    def _writable(self) -> None:
        if self._link is Link.UP:
            self._write()

    def _peer_left(self) -> bool:
        """Whether the peer closed or reset the connection: looked at before each write.

        Writing into a connection the peer has closed succeeds once (the
        kernel takes the bytes, the peer answers with a reset) and those bytes
        are lost though written. So before writing, one ``poll`` (no wait) asks
        whether the connection has something to say: its end, a reset, or bytes
        from the peer (read and ignored). The connection is not watched between
        writes, so an idle drain binds nothing and does not keep a run alive.

        :returns: ``True`` when the connection is gone (reconnecting is under way).
        """
        if self._sock is None or self._framing == "datagram":
            return False
        poller = select.poll()
        poller.register(self._sock, select.POLLIN | select.POLLRDHUP)
        if not poller.poll(0):
            return False
        self._readable()
        return self._link is not Link.UP

    def _readable(self) -> None:
        """Read what the peer says (and ignore it) to learn whether it closed or failed."""
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(_DISCARD)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            data = None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            data = b""
        except OSError as exc:
            self._lost(reason(exc))
            return
        if data == b"":
            self._lost("closed by the peer")
            return
        if self._reader is not None:
            # A TLS write waited for this: go on with it.
            self._reader.cancel()
            self._reader = None
            self._write()

    # -- connecting ----------------------------------------------------------------

    def _connect(self) -> None:
        """Open the connection (or start to: a name is looked up, a TCP connect completes later).

        A name may have several addresses (``localhost``: ``::1`` and
        ``127.0.0.1``); a failed try goes on with the next one at once, and the
        pause comes when all have failed. Each round looks the name up again.
        """
        self._timer = None
        if self._link is not Link.DOWN:
            return
        if self._next_target >= len(self._targets):
            endpoint = self.endpoint
            if not endpoint.is_unix and not is_ip_literal(endpoint.host):
                self._link = Link.RESOLVING
                self._lookup = self.esc.spawn(self._look_up(), self._resolved)
                return
            self._targets, self._next_target = [endpoint.resolve(passive=False)], 0
        family, address = self._targets[self._next_target]
        self._next_target += 1
        self._dial(family, address)

    async def _look_up(self) -> list[tuple[int, Any]] | OSError:
        """The host's addresses, looked up off the loop (a thread of asyncio's)."""
        try:
            infos = await self.esc.loop.getaddrinfo(
                self.host, self.port, type=self.endpoint.type, flags=socket.AI_NUMERICSERV
            )
        except OSError as exc:
            return exc
        found: list[tuple[int, Any]] = []
        for family, _, _, _, address in infos:
            if (family, address) not in found:
                found.append((family, address))
        return found

    def _resolved(self, result: list[tuple[int, Any]] | OSError) -> None:
        self._lookup = None
        if self._link is not Link.RESOLVING:
            return
        self._link = Link.DOWN
        if isinstance(result, OSError) or not result:
            self._targets, self._next_target = [], 0
            why = reason(result) if isinstance(result, OSError) else "no address"
            self._failed(f"cannot look up {self.host}: {why}")
            return
        self._targets, self._next_target = result, 0
        self._connect()

    def _dial(self, family: int, address: Any) -> None:
        sock = socket.socket(family, self.endpoint.type)
        sock.setblocking(False)
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self._failed(errno.errorcode.get(code, str(code)) + f" ({_strerror(code)})")
            return
        self._sock = sock
        if code == 0:
            self._connected()
            return
        self._link = Link.CONNECTING
        self._writer = self.esc.fd_register(sock, select.EPOLLOUT, self._connect_done)
        self._timer = self.esc.after(self.connect_timeout, self._timed_out, keeps_alive=False)

    def _connect_done(self) -> None:
        assert self._sock is not None
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._drop_socket()
            self._failed(errno.errorcode.get(code, str(code)) + f" ({_strerror(code)})")
            return
        self._connected()

    def _connected(self) -> None:
        sock = self._sock
        assert sock is not None
        if self._tls is not None and not isinstance(sock, ssl.SSLSocket):
            self._sock = sock = self._tls.wrap_socket(
                sock, server_hostname=self.tls_server_name or self.host, do_handshake_on_connect=False
            )
            self._link = Link.HANDSHAKING
            if self._timer is None:
                self._timer = self.esc.after(self.connect_timeout, self._timed_out, keeps_alive=False)
            self._reader = self.esc.fd_register(sock, select.EPOLLIN, self._handshake)
            self._handshake()
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._link = Link.UP
        if self.counts["connections"]:
            self._reconnects += 1
        self.counts["connections"] += 1
        self._unreachable = False
        if self._failures:
            self._log.info("connected", "connected after %d failed tries", self._failures)
        else:
            log.debug("socket.send %s: connected", self.endpoint)
        if self._reader is not None:  # the handshake's
            self._reader.cancel()
            self._reader = None
        if self._chunks:
            self._write()

    def _handshake(self) -> None:
        sock = self._sock
        if self._link is not Link.HANDSHAKING or not isinstance(sock, ssl.SSLSocket):
            return
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            return
        except ssl.SSLWantWriteError:
            if self._writer is None:
                self._writer = self.esc.fd_register(sock, select.EPOLLOUT, self._handshake_writable)
            return
        except (ssl.SSLError, OSError) as exc:
            self._drop_socket()
            self._failed(f"TLS handshake failed: {reason(exc)}")
            return
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        self._connected()

    def _handshake_writable(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        self._handshake()

    def _timed_out(self) -> None:
        self._timer = None
        if self._link in (Link.CONNECTING, Link.HANDSHAKING):
            self._drop_socket()
            self._failed(f"no connection within {self.connect_timeout:g} s")

    def _failed(self, why: str) -> None:
        """A try to connect failed: the host's next address now, or all again after a pause that grows."""
        self._link = Link.DOWN
        if self._next_target < len(self._targets):
            log.debug("socket.send %s: %s; trying the next address", self.endpoint, why)
            self._connect()
            return
        self._targets, self._next_target = [], 0
        self.counts["connect_failures"] += 1
        self._failures += 1
        self._last_error = time.time()
        self._unreachable = True
        self._log.warning(
            "connect",
            "cannot connect (%s); %d bytes held; next try in %g s",
            why,
            self._pending,
            self._pause,
        )
        self._retry_later()

    def _lost(self, why: str) -> None:
        """The connection broke: send the cut message again whole on the next one.

        Over TCP, bytes the kernel had accepted that the peer's host did not
        acknowledge (less those of the cut message, sent again) may be lost: said.
        """
        self.counts["connections_lost"] += 1
        self._last_error = time.time()
        self._unreachable = True
        self._targets, self._next_target = [], 0
        unacknowledged = self._unacknowledged() or 0
        self._drop_socket()
        unacknowledged -= self._rewind()
        if unacknowledged > 0:
            self._log.warning(
                "lost",
                "connection lost (%s); %d bytes the kernel had accepted were not acknowledged by the peer and may be"
                " lost (they were written, and acknowledged to the train); %d bytes held; reconnecting",
                why,
                unacknowledged,
                self._pending,
            )
            if not self._said_lost:
                # Counted out and acknowledged, perhaps never read: the run goes on, but its
                # result is failure (said once; each loss is in the log line above).
                self._said_lost = True
                self.esc.fail(
                    self,
                    f"connection lost ({why}) with {unacknowledged} bytes the peer had not acknowledged: they may"
                    " be lost",
                )
        else:
            self._log.warning("lost", "connection lost (%s); %d bytes held; reconnecting", why, self._pending)
        self._retry_later()

    def _unacknowledged(self) -> int | None:
        """Over TCP, the bytes the kernel accepted that the peer's host has not acknowledged; ``None``: not known."""
        if self.transport != "tcp" or self._sock is None or self._link is not Link.UP:
            return None
        return unacknowledged_bytes(self._sock)

    def _retry_later(self) -> None:
        if self._timer is None and self._chunks:
            # Not keeping the run alive: under --once the run ends when the
            # supplies are done, and finish gives the queue its last chance.
            self._timer = self.esc.after(self._pause, self._connect, keeps_alive=False)
            self._pause = min(self._pause * 2, self.reconnect_max)
        self._check_room()

    def _rewind(self) -> int:
        """The first chunk was written in part: start it again at the last frame boundary written.

        :returns: the bytes written that are to be written again.
        """
        if not self._sent or not self._chunks:
            self._sent = 0
            return 0
        chunk, sent = self._chunks[0], self._sent
        if self._framing == "newline":
            boundary = chunk.rfind(b"\n", 0, sent) + 1
        else:
            boundary = 0
            while True:
                space = chunk.index(b" ", boundary)
                end = space + 1 + int(chunk[boundary:space])
                if end > sent:
                    break
                boundary = end
        self._chunks[0] = chunk[boundary:]
        self._pending += sent - boundary
        self._sent = 0
        return sent - boundary

    def _read_leftovers(self) -> None:
        """Read (and ignore) what the peer sent and we never read, before closing.

        A socket closed with unread bytes (a TLS server's session tickets, say)
        is reset by the kernel instead of closed, and a reset can throw away at
        the peer the last bytes we wrote, not yet read there.
        """
        sock = self._sock
        if sock is None or self._link is not Link.UP:
            return
        for _ in range(16):
            try:
                if not sock.recv(_DISCARD):
                    return
            except (OSError, ssl.SSLError):
                return

    def _drop_socket(self) -> None:
        for binding in (self._reader, self._writer, self._timer):
            if binding is not None:
                binding.cancel()
        self._reader = self._writer = self._timer = None
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        self._link = Link.DOWN

    # -- figures -----------------------------------------------------------------------

    def metrics(self) -> dict[str, float]:
        """Figures for ``deadbeat run --metrics-port`` and ``--stats`` (see :mod:`deadbeat.metrics`).

        :attr:`counts` are reported beside them, each as a counter
        (``connections_total``, ``connect_failures_total``,
        ``connections_lost_total``, ``refused_datagrams_total``).

        :returns: the counters ``written_total`` (messages written to the
            socket, counted when the queue they were in is all written, which is
            when they are acknowledged), ``bytes_written_total`` (a message cut
            by a lost connection and sent again whole counts twice) and
            ``reconnects_total`` (connections made after the first); the gauges
            ``pending`` (messages queued, not all written yet), ``pending_bytes``,
            ``connected`` (1 while the connection is up), ``ready`` (0 from a
            failed try to connect or a lost connection until the next
            connection: ``/ready`` then answers 503; 1 before the first
            connection, made when the first data come) and
            ``last_error_timestamp_seconds`` (when a try to connect last failed,
            a connection was lost or a datagram refused, in seconds since the
            epoch; 0: never).
        """
        return {
            "written_total": self._written_messages,
            "bytes_written_total": self._bytes_written,
            "reconnects_total": self._reconnects,
            "pending": self._queued_messages,
            "pending_bytes": self._pending,
            "connected": 1 if self._link is Link.UP else 0,
            "ready": 0 if self._unreachable else 1,
            "last_error_timestamp_seconds": self._last_error,
        }

    # -- shutdown --------------------------------------------------------------------

    def finish(self) -> Any:
        """Write what is queued, reconnecting if need be, for up to ``finish_timeout`` seconds.

        Over UDP, then wait a moment for an ICMP refusal of the last datagrams (see :meth:`_last_refusals`).
        """
        if not self._chunks and not self._awaits_refusals() and not self._unacknowledged():
            self._shut()  # nothing the peer's host has not acknowledged (or not TCP, or nothing known)
            return None
        return self._write_out()

    def _awaits_refusals(self) -> bool:
        """Whether UDP datagrams were sent whose refusal may still be pending on the socket."""
        return self.transport == "udp" and self._last_datagram is not None and self._sock is not None

    async def _last_refusals(self, deadline: float) -> None:
        """Count the refusal of the last UDP datagrams: no later send is left to report it.

        The ICMP answer to a datagram comes after it (at once over loopback,
        one round trip otherwise) and is kept on the socket as its pending
        error, which the next send would report. At shutdown there is none: so
        the pending error is read (``SO_ERROR``) until ``_ICMP_WAIT`` seconds
        after the last datagram, within ``deadline``.
        """
        loop = self.esc.loop
        if self._last_datagram is None:
            return
        until = min(deadline, self._last_datagram + _ICMP_WAIT)
        while True:
            sock = self._sock
            if sock is None or self.transport != "udp":
                return
            try:
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            except OSError:
                return
            if code == errno.ECONNREFUSED:
                self._count_refusal()
            left = until - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.01))

    async def _write_out(self) -> None:
        loop = self.esc.loop
        # Counted from the shutdown, not from this finish: outputs finish one after another.
        deadline = loop.time() + movement.finish_time_left(self.esc, self.finish_timeout)
        if not self._chunks:
            await self._last_refusals(deadline)
            await self._acknowledged(deadline)
            self._shut()
            return
        self._drained = loop.create_future()
        if self._link is Link.DOWN:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._connect()
        elif self._link is Link.UP and self._writer is None:
            self._write()
        if self._chunks:
            await asyncio.wait({self._drained}, timeout=max(0.0, deadline - loop.time()))
        if self._awaits_refusals():
            await self._last_refusals(deadline)
        if not self._chunks:
            await self._acknowledged(deadline)
        self._shut()

    async def _acknowledged(self, deadline: float) -> None:
        """Over TCP: wait until the peer's host has acknowledged every byte the kernel accepted, within ``deadline``.

        A reset (or any error of the connection) meanwhile, or bytes still not
        acknowledged at the deadline, fail the run: they were written, and
        acknowledged to the train, but may never reach the peer.
        """
        loop = self.esc.loop
        while True:
            left = self._unacknowledged()
            if not left or self._check_error(left):
                return  # all acknowledged (or nothing known), or the run failed for what was not
            if loop.time() >= deadline:
                self._undelivered(
                    left, f"the peer did not acknowledge them within finish_timeout {self.finish_timeout:g} s"
                )
                return
            await asyncio.sleep(max(0.0, min(_ACK_LOOK, deadline - loop.time())))

    def _check_error(self, left: int) -> bool:
        """Whether the TCP connection failed (reset, broken pipe): then the run fails, naming the ``left`` bytes
        the peer's host had not acknowledged (the kernel's count stays as it was at the reset)."""
        sock = self._sock
        if sock is None:
            return False
        try:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError:
            return False
        if not code:
            return False
        name = errno.errorcode.get(code, str(code))
        self._undelivered(left, f"the connection failed ({name}: {_strerror(code)})")
        return True

    def _undelivered(self, left: int, why: str) -> None:
        """At shutdown, bytes written to a TCP peer may never reach it: the run fails, saying so."""
        self.counts["unacknowledged_bytes"] = left
        self._last_error = time.time()
        self.esc.fail(
            self,
            f"{self.endpoint}: {why}; {left} bytes the kernel had accepted were not acknowledged by the peer"
            " and may be lost (they were written, and acknowledged to the train)",
        )

    def _shut(self) -> None:
        """Let go of everything bound; what is still queued fails the run, unacknowledged; so do refused datagrams."""
        if self._lookup is not None:
            self._lookup.cancel()
            self._lookup = None
        self._read_leftovers()
        self._drop_socket()
        refused = self.counts["refused_datagrams"]
        if refused and not self._said_refused:
            self._said_refused = True
            self.esc.fail(
                self,
                f"{self.endpoint}: {refused} datagrams were refused (ICMP port unreachable: nothing listens there);"
                " as many datagrams sent before them were lost",
            )
        if self._chunks:
            self.counts["unwritten_bytes"] = self._pending
            messages = "" if self._framing != "datagram" else f" ({len(self._chunks)} datagrams)"
            self.esc.fail(
                self,
                f"{self.endpoint}: {self._pending} bytes{messages} could not be written within finish_timeout"
                f" {self.finish_timeout:g} s; not acknowledged",
            )
        self._log.flush()

    def done(self) -> None:
        """Close the socket if it is still open (not after a normal finish)."""
        self._drop_socket()


def _strerror(code: int) -> str:
    return os.strerror(code)


def _unix_datagram_limit() -> int:
    """The longest datagram a new Unix datagram socket sends: its send buffer less the kernel's overhead."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
        return int(probe.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)) - _UNIX_DATAGRAM_OVERHEAD
