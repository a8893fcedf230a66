"""Listening on TCP, UDP and Unix sockets: many clients, framed messages, bounded memory.

Why the Escapement's descriptors and not asyncio streams. The listener's
sockets are non-blocking and registered with :meth:`Escapement.fd_register
<deadbeat.movement.Escapement.fd_register>` (level-triggered epoll). Measured
on this design's first prototype (one client, 100-byte lines; 300,000 UDP
datagrams; 2 cores), it read TCP lines 10-30 % faster than an
``asyncio.Protocol`` on the default loop and as fast as one on uvloop, and
took 2-2.5 times as many UDP datagrams per second as an
``asyncio.DatagramProtocol`` on the default loop (asyncio reads one datagram
per wake-up; we read up to 1,024). Above all, backpressure comes for free: when
the train pauses this supply, the Escapement takes its descriptors out of
epoll's set, nothing is read, and TCP's own flow control pushes back on the
clients; asyncio transports would need that mirrored by hand.

One wake-up. A readable client is read up to 4 times (``read_size`` bytes
each) into one buffer shared by all clients, each chunk framed and sent down the
train as one :class:`~deadbeat.movement.Batch`, whose event ids are made only
if the train asks. Level-triggered epoll brings the rest at the next turn, so
one busy client cannot starve the others. TLS may hold records it read ahead
from the kernel, which epoll then no longer reports: a TLS read stopped before
the socket said "nothing more" queues itself again.

Datagrams. Up to 1,024 per wake-up, one ``recvfrom`` and one ``append`` each;
decoding, peers (cached by address) and data are made for the whole batch.

Backpressure. Paused, the supply stops after the chunk in hand; the Escapement
then keeps its descriptors out of epoll until the train resumes it. A TCP or
Unix stream client then finds its send buffer full and waits: nothing is lost.
A UDP sender does not wait: the kernel keeps what fits in the receive buffer and
drops the rest, and the listener reports the kernel's count (see :mod:`._kernel`).

Clients that misbehave. A message longer than ``max_line``, bytes that do not
decode, a broken octet-counting header, an unfinished message when a client is
cut: each goes to the error output with the peer and its offset in the stream
(see :mod:`._framing`), and the other clients go on. A client that sends nothing
for ``idle_timeout`` seconds (a half-open connection, a client that never ends
its line) is closed; one that does not finish its TLS handshake within
``handshake_timeout`` too. Beyond ``max_clients``, new connections are closed
at once. Each of these says so in a log line, rate-limited per kind (see
:mod:`._ratelimit`), and counts it in :attr:`SocketSupply.counts` (the run's
summary shows them).

Shutdown. ``finish`` accepts the clients still waiting in the backlog, reads
what the kernel already holds for each client (``SIOCINQ`` as it starts, no
more: a client that keeps sending would keep it reading) and each datagram
queued, sends it down the train, hands unfinished messages to the error output,
closes everything (a client that sent more meanwhile gets a reset, and the bytes
are counted) and removes a Unix socket file if it is still ours.
"""

from __future__ import annotations

import codecs
import errno
import fcntl
import logging
import select
import socket
import ssl
import sys
import termios
import time
from itertools import repeat
from typing import Annotated, Any, Literal

from deadbeat import conf, movement

from ._address import (
    CREDENTIALS_SPACE,
    Endpoint,
    credentials_of_message,
    peer_credentials,
    peer_names,
)
from ._connection import Connection, State
from ._data import DatumMaker
from ._framing import Frames, FramingError, MessageTooLong, Problem, UnfinishedMessage, make_framer
from ._kernel import set_receive_buffer, udp_drops
from ._numbers import reserve
from ._ratelimit import PeerLog
from ._tls import reason, server_context
from ._unixpath import UnixSocketFile, bind_unix

__all__ = ["SocketSupply"]

log = logging.getLogger("deadbeat.socket")

#: Reads of one client per wake-up: the others get their turn after. (16, 4 MiB,
#: made a pass over twenty flooding clients last seconds.)
_CHUNKS_PER_WAKE = 4
#: Connections accepted per wake-up of the listening socket.
_ACCEPTS_PER_WAKE = 64
#: Datagrams read per wake-up.
_DATAGRAMS_PER_WAKE = 1024
#: Reads of one TLS client at shutdown, at most: what the kernel holds is bounded by its buffer.
_FINAL_CHUNKS = 256
#: Seconds between two looks at the kernel's drop count of a UDP socket while data arrive.
_DROPS_INTERVAL = 5.0
#: Seconds accepting rests after running out of descriptors.
_ACCEPT_REST = 1.0
#: Peers kept in the cache of datagram senders' names before it is emptied.
_PEER_CACHE = 4096
#: Errors that say the process or system is out of descriptors or memory.
_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

_STREAM_FRAMINGS = ("newline", "octet-counted", "syslog")


class SocketSupply(movement.Supply):
    """Listen on a TCP, UDP or Unix socket and send every message received down the train.

    Streams (TCP, Unix) take any number of clients at once (up to
    ``max_clients``) and cut what each sends into messages: by newline, by
    octet counting (RFC 6587 ``LEN SP MSG``, for messages holding newlines) or,
    for syslog over TCP, by whichever each frame uses. Datagram sockets (UDP,
    Unix datagrams) take one datagram as one message. TCP may be TLS.

    Each datum is ``{"peer": "HOST:PORT", "line": TEXT}`` (a Unix client is
    named ``pid=PID,uid=UID,gid=GID``); its event id, ``tcp:HOST:PORT/N:OFFSET``
    (``N`` numbers connections, ``OFFSET`` is where the message starts in the
    stream) or ``udp:HOST:PORT/N`` (``N`` numbers datagrams), travels beside it.
    ``line_setter = false`` and ``peer_setter = false`` give plain lines.

    Listens on loopback unless ``host`` says otherwise. A message longer than
    ``max_line``, one that does not decode or cannot be framed goes to the error
    output with its peer and offset; a client idle for ``idle_timeout`` seconds
    is closed, and an unfinished message it left goes to the error output, as
    does one left by a TLS connection that ended without ``close_notify`` (an end
    anyone on the way could forge); a clean end ends the last message. When
    the train pauses the supply nothing is read: stream clients wait (TCP flow
    control); UDP datagrams beyond the receive buffer are dropped by the kernel,
    which counts them, and the count is logged. A listener has no end of input:
    ``--once`` does not stop it; SIGTERM does, after reading what is queued:
    what the kernel holds for each client as the shutdown begins. A client
    still sending then has its connection reset (it sees the error); the bytes
    it sent after that moment are not read, and are counted
    (``unread_at_shutdown`` in the summary) and logged.

    Its figures for ``/metrics`` and ``--stats``: bytes and messages received,
    clients connected now, and (from its ``counts``) connections made and
    refused, clients closed while idle, messages that went to the error output
    by reason, and the datagrams the kernel dropped (see ``metrics()``).

    :param esc: the Escapement (a Train is taken too).
    :param transport: ``tcp``, ``udp``, ``unix`` (stream) or ``unix-datagram``.
    :param host: address to listen on (TCP, UDP); loopback by default,
        ``0.0.0.0`` or ``::`` for every interface.
    :param port: port to listen on (TCP, UDP); 0 takes a free one (logged).
    :param path: socket file (Unix). A stale socket there (nobody listens) is
        replaced; anything else there is never removed, and the cog does not start.
    :param mode: permission bits of the socket file, in a pipeline file as octal
        text (``"660"``; a bare number is refused, for TOML reads ``660`` as six
        hundred and sixty); none for the umask's.
    :param framing: ``newline``, ``octet-counted`` or ``syslog`` (octet-counted
        frames where a frame starts with a valid count, newline-ended ones
        otherwise; an empty line between frames is no message) for streams;
        ``datagram`` for datagram sockets (one trailing newline is stripped; a
        CR before it stays: the datagram is the message, and a newline only a
        sender's habit).
        None (``false``) for ``newline`` or ``datagram``. A newline-ended
        message loses one ``\\r`` just before its newline (CRLF clients), as
        syslog receivers do. A valid count is digits, the first not ``0``, then
        a space (RFC 6587): with ``octet-counted``, ``0``, ``00005`` or ``12x``
        break the stream (error output, connection closed); with ``syslog``
        such a frame is a newline-ended message like any other.
    :param max_line: longest message in bytes; longer ones go to the error output.
        Also what a client's unfinished message may hold at most. The line
        ending (a newline, a CRLF, a datagram's trailing newline) is not part
        of the message and does not count.
    :param encoding: text encoding of the messages (one that writes newlines and
        digits as ASCII does).
    :param decode_errors: ``strict`` (a message that does not decode goes to the
        error output), ``replace``, ``backslashreplace`` or ``surrogateescape``.
    :param line_setter: where the message goes in a new mapping (callable or
        field path); none for data that are the messages themselves.
    :param peer_setter: where the peer (``HOST:PORT``) goes; none to leave it out.
    :param peer_host_setter: where the peer's host alone goes (for address cogs); none to leave it out.
    :param id_setter: where the event id goes, or a function of the datum that
        sets an id of its own; by default the train knows the id without it
        being in the data.
    :param max_clients: stream clients connected at once; more are closed at once, said in the log.
    :param idle_timeout: seconds a stream client may send nothing before it is
        closed (half-open connections, clients that never end a line); none for never.
    :param tls_cert: PEM certificate (chain) file: TCP clients must speak TLS.
    :param tls_key: PEM private key file; none when it is in ``tls_cert``.
    :param tls_ca: PEM file of authorities: clients must present a certificate they signed.
    :param handshake_timeout: seconds a TLS client has to finish its handshake.
    :param receive_buffer: bytes of the socket's receive buffer (UDP: rides out
        bursts); none for the system's default.
    :param read_size: bytes read at once from a client.
    :param backlog: connections the kernel queues before they are accepted.
    """

    config_name = "listen"

    #: Data from a supply before this one pass through unchanged, a whole list at a time.
    one_to_one = True

    def __init__(
        self,
        esc: movement.Escapement,
        transport: Literal["tcp", "udp", "unix", "unix-datagram"] = "tcp",
        host: str = "127.0.0.1",
        port: Annotated[int, conf.Range(0, 65535)] | None = None,
        path: conf.Path | None = None,
        mode: conf.Mode | None = None,
        framing: Literal["newline", "octet-counted", "syslog", "datagram"] | None = None,
        max_line: Annotated[int, conf.Range(1)] = 65536,
        encoding: conf.Encoding = "utf-8",
        decode_errors: Literal["strict", "replace", "backslashreplace", "surrogateescape"] = "strict",
        line_setter: movement.FieldSetter | None = "line",
        peer_setter: movement.FieldSetter | None = "peer",
        peer_host_setter: movement.FieldSetter | None = None,
        id_setter: movement.IdSetter | None = None,
        max_clients: Annotated[int, conf.Range(1)] = 1024,
        idle_timeout: Annotated[float, conf.Range(0, above=True)] | None = 600.0,
        tls_cert: conf.Path | None = None,
        tls_key: conf.Path | None = None,
        tls_ca: conf.Path | None = None,
        handshake_timeout: Annotated[float, conf.Range(0, above=True)] = 10.0,
        receive_buffer: Annotated[int, conf.Range(1)] | None = None,
        read_size: Annotated[int, conf.Range(1)] = 1 << 18,
        backlog: Annotated[int, conf.Range(0)] = 128,
    ) -> None:
        esc = movement.escapement_of(esc)
        self.esc = esc
        self.transport = transport
        self.host = host
        self.port = port
        self.path = path
        if mode is not None and (isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o777):
            # Beyond 0o777 are the set-id and sticky bits, which a socket file has no use for.
            raise ValueError(f"mode must be permission bits from 0o000 to 0o777, not {mode!r}")
        self.mode = mode
        self.framing = framing
        self.max_line = max_line
        self.encoding = encoding
        self.decode_errors = decode_errors
        self.line_setter = line_setter
        self.peer_setter = peer_setter
        self.peer_host_setter = peer_host_setter
        self.id_setter = id_setter
        self.max_clients = max_clients
        self.idle_timeout = idle_timeout
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.tls_ca = tls_ca
        self.handshake_timeout = handshake_timeout
        self.receive_buffer = receive_buffer
        self.read_size = read_size
        self.backlog = backlog
        self.endpoint = Endpoint.of(transport, host, port, path)
        self._framing = self._check_framing(framing)
        for name, value in (("max_clients", max_clients), ("read_size", read_size), ("max_line", max_line)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be more than 0 seconds (or none), not {idle_timeout!r}")
        if handshake_timeout <= 0:
            raise ValueError(f"handshake_timeout must be more than 0 seconds, not {handshake_timeout!r}")
        if (tls_key or tls_ca) and not tls_cert:
            raise ValueError("tls_key and tls_ca need tls_cert: the server's certificate")
        if tls_cert and transport != "tcp":
            raise ValueError(f"TLS is for TCP; a {transport} socket cannot take tls_cert")
        # An encoding framing cannot work with fails now, not at the first client.
        make_framer(self._framing if self.endpoint.stream else "newline", max_line, encoding, decode_errors)
        self._tls = server_context(tls_cert, tls_key, tls_ca) if tls_cert else None
        self._maker = DatumMaker(line_setter, peer_setter, peer_host_setter, id_setter)
        #: What happened, for the run's summary: connections, refused, idle_closed,
        #: tls_failed, too_long, undecodable, unfinished, framing_errors,
        #: unread_at_shutdown (bytes clients sent after the shutdown began, not
        #: read: their connections are closed on them), kernel_drops.
        self.counts: dict[str, int] = dict.fromkeys(
            (
                "connections",
                "refused",
                "idle_closed",
                "tls_failed",
                "too_long",
                "undecodable",
                "unfinished",
                "framing_errors",
                "unread_at_shutdown",
                "kernel_drops",
            ),
            0,
        )
        # Connections by number; a dict keeps them in the order they came.
        self._connections: dict[int, Connection] = {}
        # One receive buffer for every stream client: a chunk is framed (and
        # copied out) before the next read. Datagrams are received into bytes of
        # their own (one call, not two, per datagram).
        self._buffer = bytearray(read_size if self.endpoint.stream else 0)
        self._view = memoryview(self._buffer)
        # Sender address -> HOST:PORT, for datagrams.
        self._peers: dict[Any, str] = {}
        self._utf8_strict = codecs.lookup(encoding).name == "utf-8" and decode_errors == "strict"
        self._sweeper: movement.Binding | None = None
        self._rest: movement.Binding | None = None
        self._listener: movement.Binding | None = None
        self._unix_file: UnixSocketFile | None = None
        self._drops_seen = 0
        self._drops_checked = time.monotonic()
        self._drops_timer: movement.Binding | None = None
        # Figures (see metrics): one addition per read or per batch of datagrams.
        self._bytes_read = 0
        self._messages_read = 0
        self._finished = False
        self._sock = self._bind()
        #: The address the socket is bound to: ``(host, port)``, or the path.
        self.address: Any = self._sock.getsockname()
        #: How log lines name this listener: ``tcp 127.0.0.1:5514`` (the port bound, when 0 was asked).
        self.name = f"{transport} {_shown(self.address)}"
        self._log = PeerLog(log, f"socket.listen {self.name}")
        self._watch()
        log.info("socket.listen: listening on %s%s", self.name, " (TLS)" if self._tls else "")

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Data from an earlier supply (two listeners in one pipeline) pass through as they are."""
        return data

    # -- set-up ------------------------------------------------------------------

    def _check_framing(self, framing: str | None) -> str:
        if self.endpoint.stream:
            if framing is None:
                return "newline"
            if framing not in _STREAM_FRAMINGS:
                raise ValueError(
                    f"framing {framing!r} is not for a {self.transport} stream; use {', '.join(_STREAM_FRAMINGS)}"
                )
            return framing
        if framing not in (None, "datagram"):
            raise ValueError(f"a {self.transport} socket takes one message per datagram: framing must be datagram")
        return "datagram"

    def _bind(self) -> socket.socket:
        """Make the socket, bind it and listen. :raises OSError: naming the endpoint."""
        endpoint = self.endpoint
        try:
            family, address = endpoint.resolve(passive=True)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot resolve {endpoint}: {exc.strerror}") from None
        sock = socket.socket(family, endpoint.type)
        try:
            if endpoint.transport == "tcp":
                # A restart must not wait for the last run's connections in
                # TIME_WAIT. Not for UDP: there it would let a second process
                # bind the same port and take the datagrams, without an error.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.receive_buffer is not None:
                set_receive_buffer(sock, self.receive_buffer)
            if endpoint.is_unix:
                self._unix_file = bind_unix(sock, endpoint.path, self.mode)
            else:
                sock.bind(address)
            if endpoint.transport == "unix-datagram":
                # Each datagram then comes with its sender's credentials.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            if endpoint.stream:
                sock.listen(self.backlog)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"cannot listen on {endpoint}: {exc.strerror or exc}") from None
        return sock

    def _watch(self) -> None:
        if self.endpoint.stream:
            self._listener = self.esc.fd_register(self._sock, select.EPOLLIN, self._accept)
        elif self.endpoint.transport == "udp":
            self._listener = self.esc.fd_register(self._sock, select.EPOLLIN, self._receive_udp)
        else:
            self._listener = self.esc.fd_register(self._sock, select.EPOLLIN, self._receive_unix)

    # -- accepting -----------------------------------------------------------------

    def _accept(self, final: bool = False) -> None:
        """Accept what is waiting, up to a few dozen; beyond ``max_clients`` close at once.

        :param final: at shutdown: take the whole backlog, though the train is paused.
        """
        for _ in range(self.backlog + 1 if final else _ACCEPTS_PER_WAKE):
            try:
                sock, address = self._sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in _EXHAUSTED:
                    self._rest_accepting(exc)
                elif exc.errno != errno.ECONNABORTED:
                    self._log.warning("accept", "accept failed: %s", exc.strerror or exc)
                return
            if len(self._connections) >= self.max_clients:
                self.counts["refused"] += 1
                peer = peer_names(address)[0] if self.endpoint.transport == "tcp" else peer_credentials(sock)
                sock.close()
                self._log.warning("refused", "%s: refused: max_clients %d reached", peer, self.max_clients)
                continue
            self._open(sock, address)
            if not final and self.esc.is_paused(self):
                return

    def _rest_accepting(self, exc: OSError) -> None:
        """Out of descriptors: the listening socket would wake us in a loop; rest a moment."""
        self._log.warning(
            "exhausted",
            "cannot accept (%s) with %d clients connected; not accepting for %g s",
            exc.strerror,
            len(self._connections),
            _ACCEPT_REST,
        )
        if self._listener is not None:
            self._listener.cancel()
            self._listener = None
        if self._rest is None:
            self._rest = self.esc.after(_ACCEPT_REST, self._accept_again)

    def _accept_again(self) -> None:
        self._rest = None
        if not self._finished and self._listener is None:
            self._watch()

    def _open(self, sock: socket.socket, address: Any) -> None:
        sock.setblocking(False)
        if self.endpoint.transport == "tcp":
            peer, host = peer_names(address)
        else:
            peer = host = peer_credentials(sock)
        if self._tls is not None:
            # A ragged end (no close_notify) is told, not taken for a clean one:
            # whoever can inject a FIN could otherwise cut the last message short.
            sock = self._tls.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False, suppress_ragged_eofs=False
            )
        number = reserve(1)
        framer = make_framer(self._framing, self.max_line, self.encoding, self.decode_errors)
        conn = Connection(sock, number, peer, host, self.transport, framer, tls=self._tls is not None)
        conn.reader = self.esc.fd_register(sock, select.EPOLLIN, self._readable, conn)
        self._connections[number] = conn
        self.counts["connections"] += 1
        log.debug("%s: connected to %s", peer, self.name)
        self._arm_sweeper()
        if conn.state is State.HANDSHAKING:
            self._handshake(conn)

    # -- TLS handshakes --------------------------------------------------------

    def _handshake(self, conn: Connection) -> None:
        """One step of a client's TLS handshake; it never waits (the socket is non-blocking)."""
        try:
            wants_write = conn.handshake_step()
        except (ssl.SSLError, OSError) as exc:
            self.counts["tls_failed"] += 1
            self._log.warning("tls", "%s: TLS handshake failed: %s", conn.peer, reason(exc))
            self._close(conn)
            return
        if wants_write:
            if conn.writer is None:
                conn.writer = self.esc.fd_register(conn.sock, select.EPOLLOUT, self._writable, conn)
            return
        if conn.writer is not None:
            conn.writer.cancel()
            conn.writer = None
        if wants_write is None:
            conn.last_active = time.monotonic()
            self._readable(conn)  # what came with the handshake's last flight

    def _writable(self, conn: Connection) -> None:
        """A TLS step that had to wait to write may go on."""
        if conn.writer is not None:
            conn.writer.cancel()
            conn.writer = None
        self._readable(conn)

    # -- reading streams ---------------------------------------------------------

    def _readable(self, conn: Connection, final: bool = False) -> None:
        """Read what a client sent (a few chunks), frame it and send the messages on.

        :param final: at shutdown: read on though the train is paused.
        """
        if conn.state is State.HANDSHAKING:
            # Once done, the handshake reads on itself if TLS holds bytes; the
            # kernel's, epoll reports again.
            self._handshake(conn)
            return
        if conn.state is State.CLOSED:
            return
        recv_into, view, framer = conn.sock.recv_into, self._view, conn.framer
        drained = False
        # At shutdown: what the kernel holds now, and no more (a client still
        # sending would keep the shutdown reading for as long as it sends).
        queued = _queued(conn.sock) if final and not conn.tls else -1
        whole = len(view)
        for _ in range(_FINAL_CHUNKS if final else _CHUNKS_PER_WAKE):
            if queued == 0:
                # What was queued is read. The client's end (SIOCINQ does not count it)
                # makes its unfinished line its last message, not a cut one.
                if _closed_by_peer(conn.sock):
                    self._ended(conn)
                    return
                break
            try:
                size = recv_into(view, min(queued, whole)) if queued > 0 else recv_into(view)
            except (BlockingIOError, ssl.SSLWantReadError):
                drained = True
                break
            except ssl.SSLWantWriteError:
                # TLS must write before it can read on (a key update): wait for room.
                if conn.writer is None and not final:
                    conn.writer = self.esc.fd_register(conn.sock, select.EPOLLOUT, self._writable, conn)
                drained = True
                break
            except ssl.SSLZeroReturnError:
                size = 0  # close_notify: a clean end, which ends the last message
            except ssl.SSLEOFError:
                # The connection ended without TLS's close_notify: complete
                # messages went on already; an unfinished one may have been cut
                # (by the client's crash, or by someone on the way), and goes to
                # the error output as for a connection lost.
                self._lost(conn, "ended without TLS close_notify")
                return
            except (ssl.SSLError, OSError) as exc:
                self._lost(conn, reason(exc))
                return
            if not size:
                self._ended(conn)
                return
            if queued > 0:
                queued = max(0, queued - size)
            conn.last_active = time.monotonic()
            self._bytes_read += size
            frames = framer.feed(view[:size])
            if frames.messages or frames.problems:
                self._deliver(conn, frames)
            if framer.broken:
                self._log.warning("framing", "%s: cannot frame what it sends; connection closed", conn.peer)
                self._close(conn)
                return
            if not final and self.esc.is_paused(self):
                break
        if not drained and conn.tls and not final:
            # Stopped with bytes perhaps left inside TLS (records it read
            # ahead from the kernel, which epoll then no longer reports):
            # come back for them, after the pause if paused.
            self.esc.enqueue(self._readable, conn)

    def _deliver(self, conn: Connection, frames: Frames) -> None:
        for problem in frames.problems:
            self._reject(conn.peer, conn.event_id(problem.offset), problem)
        lines = frames.messages
        if not lines:
            return
        self._messages_read += len(lines)
        prefix, offsets = conn.prefix, frames.offsets

        def event_ids() -> list[str]:
            return [prefix + str(offset) for offset in offsets()]

        data, ids = self._maker.from_one_peer(lines, conn.peer, conn.host, event_ids, self._reject_datum)
        if data:
            self.esc.send_from(self, movement.Batch(data, event_ids=ids))

    def _reject(self, peer: str, event_id: str, problem: Problem, offset: bool = True) -> None:
        """A piece of a stream or a datagram that is no message: to the error output, with where it came from.

        :param offset: the problem's offset means something (streams; not datagrams).
        """
        error = problem.error
        self._messages_read += 1
        if isinstance(error, MessageTooLong):
            self.counts["too_long"] += 1
        elif isinstance(error, UnicodeDecodeError):
            self.counts["undecodable"] += 1
        elif isinstance(error, UnfinishedMessage):
            self.counts["unfinished"] += 1
        elif isinstance(error, FramingError):
            self.counts["framing_errors"] += 1
        datum: dict[str, Any] = {"id": event_id, "peer": peer, "raw": problem.raw}
        if offset:
            datum["offset"] = problem.offset
        self.esc.reject(self, datum, _naming(error, peer))

    def _reject_datum(self, datum: Any, error: Exception) -> None:
        self.esc.reject(self, datum, error)

    def _ended(self, conn: Connection) -> None:
        """The client closed its side: what it left unfinished is its last message."""
        frames = conn.framer.end()
        if frames.messages or frames.problems:
            self._deliver(conn, frames)
        log.debug("%s: closed by the client", conn.peer)
        self._close(conn)

    def _lost(self, conn: Connection, why: str) -> None:
        """The connection failed (reset, timed out): an unfinished message goes to the error output."""
        self._log.info("lost", "%s: connection lost: %s", conn.peer, why)
        self._cut(conn, f"connection lost ({why})")

    def _cut(self, conn: Connection, why: str) -> None:
        """Close a client ourselves; an unfinished message is no message: to the error output."""
        problem = conn.framer.cut(why)
        if problem is not None:
            self._reject(conn.peer, conn.event_id(problem.offset), problem)
        self._close(conn)

    def _close(self, conn: Connection) -> None:
        conn.close()
        self._connections.pop(conn.number, None)

    # -- idle clients ----------------------------------------------------------

    def _arm_sweeper(self) -> None:
        """Look at idle clients later, while there are clients (nothing runs while there are none)."""
        if self._sweeper is not None or not self._connections or self._finished:
            return
        limits = [t for t in (self.idle_timeout, self.handshake_timeout if self._tls else None) if t]
        if limits:
            interval = max(0.05, min(limits) / 4)
            self._sweeper = self.esc.after(interval, self._sweep, keeps_alive=False)

    def _sweep(self) -> None:
        """Close clients idle too long, and TLS clients whose handshake takes too long."""
        self._sweeper = None
        now = time.monotonic()
        for conn in list(self._connections.values()):
            quiet = now - conn.last_active
            if conn.state is State.HANDSHAKING:
                if quiet > self.handshake_timeout:
                    self.counts["tls_failed"] += 1
                    self._log.warning(
                        "tls", "%s: TLS handshake not done within %g s; closed", conn.peer, self.handshake_timeout
                    )
                    self._close(conn)
                continue
            if self.idle_timeout is None or quiet <= self.idle_timeout:
                continue
            # Not idle if bytes wait that we did not read (the train had paused us).
            self._readable(conn)
            if conn.state is State.CLOSED or time.monotonic() - conn.last_active <= self.idle_timeout:
                continue
            self.counts["idle_closed"] += 1
            unfinished = conn.framer.buffered
            self._log.warning(
                "idle",
                "%s: nothing received for %g s; closed%s",
                conn.peer,
                self.idle_timeout,
                f" (an unfinished message of {unfinished} bytes goes to the error output)" if unfinished else "",
            )
            self._cut(conn, f"idle for {self.idle_timeout:g} s")
        self._arm_sweeper()

    # -- datagrams -----------------------------------------------------------------

    def _receive_udp(self) -> None:
        """The UDP socket is readable."""
        self._read_udp()

    def _receive_unix(self) -> None:
        """The Unix datagram socket is readable."""
        self._read_unix()

    def _read_udp(self) -> int:
        """Read the datagrams waiting (up to 1,024) and send them on as one batch. :returns: how many.

        Per datagram, one ``recvfrom`` and one ``append``: everything else is
        done for the whole batch, mostly by C loops (``zip``, ``map``).
        """
        # Room for max_line bytes and a trailing newline, and one more byte to tell a longer datagram.
        recvfrom, size = self._sock.recvfrom, self.max_line + 2
        received: list[tuple[bytes, Any]] = []
        append = received.append
        for _ in range(_DATAGRAMS_PER_WAKE):
            try:
                append(recvfrom(size))
            except BlockingIOError:
                break
            except OSError as exc:
                self._log.warning("receive", "receive failed: %s", exc.strerror or exc)
                break
        if received:
            raws, addresses = zip(*received, strict=True)
            self._deliver_datagrams(list(raws), self._peers_of(addresses), addresses)
            now = time.monotonic()
            if now - self._drops_checked >= _DROPS_INTERVAL:
                self._check_drops(now)
            elif self._drops_timer is None and not self._finished:
                # A burst that ends within the interval: its drops are said once it is over,
                # not only when the next datagram comes (maybe hours later).
                wait = _DROPS_INTERVAL - (now - self._drops_checked)
                self._drops_timer = self.esc.after(wait, self._drops_after_burst, keeps_alive=False)
        return len(received)

    def _drops_after_burst(self) -> None:
        self._drops_timer = None
        if not self._finished:
            self._check_drops(time.monotonic())

    def _peers_of(self, addresses: tuple[Any, ...]) -> list[str]:
        """``HOST:PORT`` of each sender, from a cache (a syslog source sends from one address)."""
        cache = self._peers
        peers: list[Any] = list(map(cache.get, addresses))
        if None in peers:
            if len(cache) >= _PEER_CACHE:
                cache.clear()
            for index, peer in enumerate(peers):
                if peer is None:
                    peer = cache.get(addresses[index])
                    if peer is None:
                        peer = cache[addresses[index]] = peer_names(addresses[index])[0]
                    peers[index] = peer
        return peers

    def _read_unix(self) -> int:
        """Read the Unix datagrams waiting, each with its sender's credentials. :returns: how many."""
        recvmsg, size = self._sock.recvmsg, self.max_line + 2
        raws: list[bytes] = []
        peers: list[str] = []
        for _ in range(_DATAGRAMS_PER_WAKE):
            try:
                raw, ancillary, _, _ = recvmsg(size, CREDENTIALS_SPACE)
            except BlockingIOError:
                break
            except OSError as exc:
                self._log.warning("receive", "receive failed: %s", exc.strerror or exc)
                break
            raws.append(raw)
            peers.append(credentials_of_message(ancillary) or "unknown")
        if raws:
            self._deliver_datagrams(raws, peers, None)
        return len(raws)

    def _deliver_datagrams(self, raws: list[bytes], peers: list[str], addresses: tuple[Any, ...] | None) -> None:
        """One datum per datagram; too long or undecodable ones to the error output.

        :param addresses: the senders' socket addresses (UDP), for their hosts; none for Unix senders.
        """
        first = reserve(len(raws))
        self._bytes_read += sum(map(len, raws))
        transport, max_line = self.transport, self.max_line
        numbers: list[int] | range = range(first, first + len(raws))
        lines: list[str] | None = None
        longest = max(map(len, raws))
        if longest <= max_line or (longest == max_line + 1 and all(map(self._fits, raws))):
            try:
                lines = self._decode_all(raws)
            except UnicodeDecodeError:
                pass
        if lines is None:
            # Some datagram is too long or does not decode: one by one.
            encoding, errors = self.encoding, self.decode_errors
            lines, kept, kept_numbers = [], [], []
            for index, (raw, number) in enumerate(zip(raws, numbers, strict=True)):
                if not self._fits(raw):
                    error: Exception = MessageTooLong(
                        f"datagram of more than {max_line} bytes, longer than max_line; not taken"
                    )
                    problem = Problem(0, raw[:max_line], error)
                else:
                    try:
                        lines.append(raw.decode(encoding, errors))
                    except UnicodeDecodeError as exc:
                        problem = Problem(0, raw, exc)
                    else:
                        kept.append(index)
                        kept_numbers.append(number)
                        continue
                self._reject(peers[index], f"{transport}:{peers[index]}/{number}", problem, offset=False)
            peers = [peers[i] for i in kept]
            if addresses is not None:
                addresses = tuple(addresses[i] for i in kept)
            numbers = kept_numbers
            if not lines:
                return
        self._messages_read += len(lines)  # and each one not taken, in _reject
        # Senders often end a datagram with a newline; it is framing, not message.
        lines = list(map(str.removesuffix, lines, repeat("\n")))
        if addresses is None or self.peer_host_setter is None:
            hosts = peers  # Unix senders' credentials, or not asked for: nothing to make
        else:
            hosts = [str(address[0]) for address in addresses]

        def event_ids() -> list[str]:
            return [f"{transport}:{peer}/{number}" for peer, number in zip(peers, numbers, strict=True)]

        data, ids = self._maker.from_many_peers(lines, peers, hosts, event_ids, self._reject_datum)
        if data:
            self.esc.send_from(self, movement.Batch(data, event_ids=ids))

    def _fits(self, raw: bytes) -> bool:
        """Whether a datagram's message is at most ``max_line`` bytes: a trailing newline is not the message's."""
        return len(raw) - raw.endswith(b"\n") <= self.max_line

    def _decode_all(self, raws: list[bytes]) -> list[str]:
        """Decode every datagram, at C speed for UTF-8. :raises UnicodeDecodeError: when one does not decode."""
        if self._utf8_strict:
            return list(map(bytes.decode, raws))
        encoding, errors = self.encoding, self.decode_errors
        return [raw.decode(encoding, errors) for raw in raws]

    def _check_drops(self, now: float) -> None:
        """Say how many datagrams the kernel dropped since the last look (a full receive buffer)."""
        self._drops_checked = now
        if self.endpoint.transport != "udp":
            return
        drops = udp_drops(self._sock)
        if drops is None or drops <= self._drops_seen:
            return
        new, self._drops_seen = drops - self._drops_seen, drops
        self.counts["kernel_drops"] = drops
        log.warning(
            "socket.listen %s: the kernel dropped %d datagrams (%d in all): the receive buffer was full;"
            " a bigger receive_buffer rides out longer bursts",
            self.name,
            new,
            drops,
        )

    def metrics(self) -> dict[str, float]:
        """Figures for ``deadbeat run --metrics-port`` and ``--stats`` (see :mod:`deadbeat.metrics`).

        :attr:`counts` are reported beside them, each as a counter
        (``connections_total``, ``refused_total``, ``idle_closed_total``,
        ``too_long_total`` ...).

        :returns: the counters ``bytes_read_total`` (bytes received from clients
            or in datagrams) and ``messages_read_total`` (messages framed or
            datagrams received, those that went to the error output too); for a
            stream socket the gauge ``connections_open`` (clients connected
            now); for UDP, ``kernel_drops_total``: datagrams the kernel dropped
            for want of room in the receive buffer, looked up at a scrape at
            most every 5 seconds (a line of ``/proc/net/udp``), so that drops
            while the train pauses the supply show before reading resumes.
        """
        figures: dict[str, float] = {
            "bytes_read_total": self._bytes_read,
            "messages_read_total": self._messages_read,
        }
        if self.endpoint.stream:
            figures["connections_open"] = len(self._connections)
        elif self.endpoint.transport == "udp":
            now = time.monotonic()
            if not self._finished and now - self._drops_checked >= _DROPS_INTERVAL:
                self._check_drops(now)
            figures["kernel_drops_total"] = self.counts["kernel_drops"]
        return figures

    def kernel_drops(self) -> int | None:
        """:returns: datagrams the kernel dropped for this UDP socket so far (``None``: not UDP, or unknown)."""
        if self.endpoint.transport != "udp" or self._sock.fileno() < 0:
            return self.counts["kernel_drops"] if self.endpoint.transport == "udp" else None
        return udp_drops(self._sock)

    # -- shutdown --------------------------------------------------------------------

    def finish(self) -> None:
        """Stop accepting, send on what the kernel holds, hand unfinished messages to the error output, close."""
        self._finished = True
        for binding in (self._sweeper, self._rest, self._listener, self._drops_timer):
            if binding is not None:
                binding.cancel()
        self._sweeper = self._rest = self._listener = self._drops_timer = None
        if self.endpoint.stream:
            # Clients already connected but not accepted yet (waiting in the
            # backlog) may have sent data too: take them, read them, close them.
            self._accept(final=True)
            self._sock.close()
            if self._unix_file is not None:
                self._unix_file.remove()
                self._unix_file = None
            unread = 0
            for conn in list(self._connections.values()):
                if conn.state is State.OPEN:
                    self._readable(conn, final=True)
                if conn.state is not State.CLOSED:
                    # Sent after the shutdown began: closing the connection with it unread
                    # resets it, which tells the client; counted and said here too.
                    unread += max(0, _queued(conn.sock))
                    self._cut(conn, "the pipeline is shutting down")
            if unread:
                self.counts["unread_at_shutdown"] += unread
                log.warning(
                    "socket.listen on %s: %d bytes clients sent after the shutdown began were not read; their"
                    " connections were reset, which tells them",
                    self.name,
                    unread,
                )
        else:
            # What the kernel queued before the end is read (bounded by its buffer).
            read = self._read_udp if self.endpoint.transport == "udp" else self._read_unix
            while read():
                pass
            self._check_drops(time.monotonic())
            self._sock.close()
            if self._unix_file is not None:
                self._unix_file.remove()
                self._unix_file = None
        self._log.flush()

    def done(self) -> None:
        """Close whatever is still open (nothing, after finish) and remove a Unix socket file still ours."""
        for conn in list(self._connections.values()):
            self._close(conn)
        try:
            self._sock.close()
        except OSError:
            pass
        if self._unix_file is not None:
            self._unix_file.remove()
            self._unix_file = None
        self._log.flush()


def _queued(sock: socket.socket) -> int:
    """:returns: the bytes the kernel holds for ``sock``, not read yet (``SIOCINQ``); 0 when it cannot say."""
    try:
        held = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (OSError, ValueError):
        return 0
    return int.from_bytes(held, sys.byteorder, signed=True)


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the next read of ``sock`` would find the client's end (and no byte before it)."""
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:  # nothing yet (EAGAIN), or reset: not an orderly end
        return False


def _naming(error: Exception, peer: str) -> Exception:
    """The error, its message starting with the peer it came from (error records and log lines show it)."""
    if isinstance(error, UnicodeDecodeError):
        return UnicodeDecodeError(error.encoding, error.object, error.start, error.end, f"{error.reason} from {peer}")
    return type(error)(f"from {peer}: {error}")


def _shown(address: Any) -> str:
    if isinstance(address, tuple):
        return peer_names(address)[0]
    return str(address)
