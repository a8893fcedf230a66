"""A c-ares channel driven by the Escapement: its sockets through ``fd_register``, its time-outs by a timer.

Why c-ares, and driven this way. Against unbound on loopback (issue 12),
pycares called from the event loop's own descriptor callbacks answered the most
lookups per second of the asynchronous resolvers measured: aiodns wraps the same
library with a future per question, dnspython's asyncio resolver came far
behind. ``bench/dns_libraries.py`` measures them side by side here (20,000
distinct PTR questions, medians of 3 rounds: pycares on the loop 25,039/s,
aiodns 9,748 (0.39), dnspython's asyncio resolver 2,558 (0.10), blocking
dnspython 3,192); ``bench/dns_lookups.py`` measures the cog beside such a raw
pycares loop and a blocking one. c-ares tells us which sockets to watch through
``sock_state_cb``; we watch them in the Escapement's epoll set like any cog's
descriptor, call ``process_fd`` when one is ready, and keep one timer at the
moment c-ares's next time-out is due. Nothing runs while nothing is asked:
with no question outstanding c-ares closes its sockets and the timer is gone.

Time-outs and tries. c-ares waits ``timeout`` for a first try only until it
knows the server: from then on it waits five times the server's average answer
time (at least 0.25 s, at most 5 s), doubling (with jitter) at each new try.
Each new try goes out on another socket, and the socket of the earlier try is
closed as soon as no other question waits on it: a reply to an earlier try is
then lost. A server that answers most questions in a millisecond thus gets
0.25 s for the first try of every question, and an answer that takes 1.5 s is
lost at every try shorter than that, whatever ``timeout`` says. Nor can one
question have a socket of its own on the shared channel: c-ares closes the
socket on which a reply it cannot parse came and charges a try to every
question waiting on it, so garbage for one name spends the tries of the
others. pycares (5.x, c-ares 1.34) offers no option against either: nothing
sets a shortest wait per try, keeps an earlier try's socket open, or gives
each question a socket (``udp_max_queries`` is not passed through).

So the shared channel is given few tries (see :func:`shared_tries`: with
``retries`` unset, they end by half the ``timeout`` at c-ares's shortest
waits), and a question they fail before its deadline (no answer, or a
malformed reply) is asked again alone (see :meth:`Resolver.query_alone`): on
a channel of its own, new, which knows nothing of the server and so waits
the whole time left for its one try, on a socket only its own replies reach.
A server c-ares has no answers from yet (just started, or slow from the
start) gets ``timeout`` for its first try on the shared channel too; what
c-ares goes on asking after the deadline is cancelled by the cog (see
:meth:`Resolver.cancel`) as soon as nothing else is out.

Threads. pycares destroys a channel in a thread of its own and cancels the
queries still open from there, calling their callbacks in that thread. Every
callback checks that it runs in the loop's thread and does nothing otherwise;
:meth:`Resolver.close` cancels what is open from the loop's thread first, so
in an orderly shutdown no callback comes from elsewhere.
"""

from __future__ import annotations

import functools
import logging
import math
import select
import socket
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from deadbeat import movement

__all__ = [
    "FAILURES",
    "NEGATIVE",
    "Resolver",
    "import_pycares",
    "server_list",
    "shared_tries",
    "tries_for",
]

log = logging.getLogger("deadbeat.dns")

#: The extra that installs pycares.
EXTRA = "deadbeat-cogs-net[dns]"

# c-ares status codes (pycares.errno), spelled out here so that importing this
# module does not need pycares.
ENODATA, EFORMERR, ESERVFAIL, ENOTFOUND, ENOTIMP, EREFUSED = 1, 2, 3, 4, 5, 6
EBADNAME, EBADRESP, ECONNREFUSED, ETIMEOUT, EDESTRUCTION, ECANCELLED = 8, 10, 11, 12, 16, 24
ENOSERVER = 26

#: Answers saying there is no such record: the name does not exist (NXDOMAIN),
#: or it has no record of the type asked (NODATA).
NEGATIVE = frozenset({ENODATA, ENOTFOUND})

#: How failures are told in log lines: kind, and what it means.
FAILURES: dict[int, tuple[str, str]] = {
    ETIMEOUT: ("no answer", "no answer"),
    EBADRESP: ("malformed reply", "malformed replies, asked alone on a socket of its own"),
    ESERVFAIL: ("server failure", "the server answered SERVFAIL"),
    EREFUSED: ("refused", "the server refused the question (REFUSED)"),
    ENOTIMP: ("not implemented", "the server does not implement the question (NOTIMP)"),
    EFORMERR: ("format error", "the server found the question malformed (FORMERR)"),
    ECONNREFUSED: ("connection refused", "connection refused (nothing listens there)"),
    EBADNAME: ("bad name", "c-ares refused the name"),
    ENOSERVER: ("no server", "no DNS server is configured"),
}

#: The receive buffer asked for each socket (see Resolver.__init__).
RECEIVE_BUFFER = 4 << 20

_MIN_TRY = 0.25  # c-ares never waits less than this for a try (MIN_TIMEOUT_MS)
_MAX_TRIES = 12


def import_pycares() -> ModuleType:
    """:returns: the pycares module.

    :raises ImportError: naming the extra to install when pycares is missing.
    """
    try:
        import pycares
    except ImportError as exc:
        raise ImportError(f"the deadbeat.dns cogs need pycares, which is not installed: pip install '{EXTRA}'") from exc
    return pycares


def tries_for(timeout: float) -> int:
    """How many tries keep c-ares asking for at least ``timeout`` seconds.

    With the shortest waits c-ares may choose (0.25 s, then twice as long each
    try, less up to half for jitter), ``n`` tries last at least ``0.125 * 2**n``
    seconds; the result is the least ``n`` for which that reaches ``timeout``.
    """
    if timeout <= _MIN_TRY:
        return 1
    return min(_MAX_TRIES, max(1, math.ceil(math.log2(timeout / 0.125))))


def shared_tries(timeout: float) -> int:
    """How many tries a question gets on the shared channel before it is asked alone, ``retries`` being unset.

    The most ``n`` (at least 1) for which c-ares's longest schedule of tries on
    a server it knows as fast (0.25 s, then 0.5 s, ...: ``0.25 * (2**n - 1)``
    seconds) ends by half the ``timeout``: they cover a lost datagram or two,
    and leave at least half the ``timeout`` to the question asked alone.
    """
    tries = 1
    while tries < _MAX_TRIES and _MIN_TRY * (2 ** (tries + 1) - 1) <= timeout / 2:
        tries += 1
    return tries


def server_list(servers: Sequence[str], port: int) -> list[str]:
    """Write each server as c-ares takes it: ``ADDRESS:PORT`` (``[ADDRESS]:PORT`` for IPv6).

    :param servers: addresses, each with or without its own port
        (``"127.0.0.1"``, ``"127.0.0.1:5353"``, ``"::1"``, ``"[::1]:5353"``).
    :param port: the port of those given without one.
    :raises ValueError: for one that is not an IP address (c-ares takes no host names).
    """
    if isinstance(servers, str):
        raise ValueError("servers must be a list of addresses, not one string")
    out = []
    for server in servers:
        host, own_port = _split_server(server)
        if own_port is None:
            own_port = port
        if not 0 < own_port < 65536:
            raise ValueError(f"server {server!r}: port {own_port} is out of range")
        out.append(f"[{host}]:{own_port}" if ":" in host else f"{host}:{own_port}")
    return out


def _split_server(server: Any) -> tuple[str, int | None]:
    if not isinstance(server, str):
        raise ValueError(f"server {server!r}: expected an IP address as text")
    host, port_text = server, ""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"server {server!r}: expected [IPv6]:PORT")
            port_text = rest[1:]
    elif server.count(":") == 1:
        host, _, port_text = server.partition(":")
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            break
        except (OSError, ValueError):
            continue
    else:
        raise ValueError(f"server {server!r}: not an IP address (c-ares takes addresses, not names)")
    if not port_text:
        return host, None
    if not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"server {server!r}: the port is not a number")
    return host, int(port_text)


class Resolver:
    """A c-ares channel whose sockets and timer are the Escapement's.

    :param esc: the Escapement.
    :param servers: resolver addresses (see :func:`server_list`); empty for the
        system's ``/etc/resolv.conf``.
    :param port: the port of servers given without one (and of the system's, if not 53).
    :param timeout: the longest a question is waited for (the cog enforces it);
        the first try's time-out until c-ares knows the server.
    :param tries: how many times c-ares sends a question that gets no answer.
    :param after: called after each batch of c-ares events (a descriptor ready, a
        time-out), when the answers it brought have been handed out.
    """

    def __init__(
        self,
        esc: movement.Escapement,
        servers: Sequence[str],
        port: int,
        timeout: float,
        tries: int,
        after: Callable[[], None],
    ) -> None:
        pycares = import_pycares()
        self.esc = esc
        self._after = after
        self._settings = (servers, port, timeout, tries)
        #: Channels of their own for questions asked alone (see :meth:`query_alone`).
        self._alone: set[Resolver] = set()
        self._thread = threading.get_ident()
        self._bad = pycares.ARES_SOCKET_BAD
        self._time = esc.loop.time
        #: Questions sent to c-ares and not called back yet.
        self.outstanding = 0
        self.closed = False
        options: dict[str, Any] = {
            # The first try's time-out while c-ares has not measured the server yet.
            "timeout": timeout,
            "tries": tries,
            "sock_state_cb": self._socket_state,
            # Many questions share one UDP socket: their answers come back in a
            # burst, and a default receive buffer (about 200 KiB, a few hundred
            # datagrams) drops the rest, which then wait for a retry. The kernel
            # caps this at net.core.rmem_max.
            "socket_receive_buffer_size": RECEIVE_BUFFER,
        }
        if servers:
            options["servers"] = server_list(servers, port)
        elif port != 53:
            options["udp_port"] = options["tcp_port"] = port
        try:
            self._channel = pycares.Channel(**options)
        except pycares.AresError as exc:
            raise ValueError(f"c-ares does not take these settings: {exc}") from None
        #: The servers asked, as c-ares has them (for log lines).
        self.servers: list[str] = list(self._channel.servers)
        self._query = self._channel.query
        self._process = self._channel.process_fd
        # fd -> [reader binding or None, writer binding or None]
        self._watched: dict[int, list[movement.Binding | None]] = {}
        self._timer: movement.Binding | None = None
        self._timer_due = math.inf
        self._schedule_queued = False

    # -- asking ------------------------------------------------------------------

    def query(self, name: str, qtype: int, callback: Callable[..., None], *args: Any) -> None:
        """Ask c-ares; ``callback(*args, result, status)`` follows, from the loop (perhaps before this returns).

        ``status`` is ``None`` for an answer (``result`` is pycares's
        ``DNSResult``), else a c-ares status code.
        """
        if self.closed:
            callback(*args, None, ECANCELLED)
            return
        self.outstanding += 1
        try:
            self._query(name, qtype, callback=functools.partial(self._answered, callback, *args))
        except Exception as exc:  # noqa: BLE001 - c-ares called back already, or must be made to
            if type(exc).__name__ != "AresError":
                # Refused by pycares before c-ares saw it (a name it cannot encode).
                self._answered(callback, *args, None, EBADNAME)
            # An AresError comes after c-ares has called back with the reason.
        if not self._schedule_queued:
            # This question's first time-out may come before the timer: look
            # again, once for all the questions asked in this turn of the loop.
            self._schedule_queued = True
            self.esc.enqueue(self._schedule_soon)

    @property
    def alone_out(self) -> int:
        """Questions out on channels of their own (see :meth:`query_alone`)."""
        return len(self._alone)

    def query_alone(self, name: str, qtype: int, timeout: float, callback: Callable[..., None], *args: Any) -> None:
        """Ask like :meth:`query`, once, on a new channel (and so a socket) of the question's own, closed after.

        c-ares drops a socket on which a reply it cannot parse came, and every
        question waiting on that socket uses up a try for it: a server sending
        garbage for one name fails all the questions sharing its socket. Asked
        alone, a question's malformed replies cost its own try only. And a new
        channel knows nothing of the server: its one try waits ``timeout``
        (the time the question has left), not the fraction of a second c-ares
        allows on a channel that learned the server answers fast, so an answer
        coming within ``timeout`` is taken.
        """
        if self.closed:
            callback(*args, None, ECANCELLED)
            return
        servers, port, _, _ = self._settings
        alone = Resolver(self.esc, servers, port, timeout, 1, after=self._after)
        self._alone.add(alone)
        self.outstanding += 1
        alone.query(name, qtype, self._answered_alone, alone, callback, *args)

    def _answered_alone(self, alone: Resolver, callback: Callable[..., None], *args: Any) -> None:
        self.outstanding -= 1
        if alone in self._alone:
            self._alone.discard(alone)
            # Not from inside its own callback: c-ares must not be closed from there.
            self.esc.enqueue(alone.close)
        callback(*args)

    def _answered(self, callback: Callable[..., None], *args: Any) -> None:
        # args: the caller's, then pycares's result and status.
        if threading.get_ident() != self._thread:
            return  # pycares destroying a channel from its own thread: nobody waits any more
        self.outstanding -= 1
        callback(*args)

    # -- the Escapement's side -------------------------------------------------------

    def _socket_state(self, fd: int, readable: bool, writable: bool) -> None:
        """c-ares says which events of ``fd`` it wants watched (none: it is closing the socket)."""
        if self.closed or threading.get_ident() != self._thread:
            return
        watch = self._watched.get(fd)
        if watch is None:
            if not (readable or writable):
                return
            watch = self._watched[fd] = [None, None]
        reader, writer = watch
        if readable and reader is None:
            watch[0] = self.esc.fd_register(fd, select.EPOLLIN, self._readable, fd)
        elif not readable and reader is not None:
            reader.cancel()
            watch[0] = None
        if writable and writer is None:
            watch[1] = self.esc.fd_register(fd, select.EPOLLOUT, self._writable, fd)
        elif not writable and writer is not None:
            writer.cancel()
            watch[1] = None
        if watch[0] is None and watch[1] is None:
            del self._watched[fd]

    def _readable(self, fd: int) -> None:
        self._process(fd, self._bad)
        self._settle()

    def _writable(self, fd: int) -> None:
        self._process(self._bad, fd)
        self._settle()

    def _tick(self) -> None:
        """c-ares's next time-out is due: let it retry or give up, then wait for the next."""
        self._timer = None
        self._timer_due = math.inf
        if not self.closed:
            self._process(self._bad, self._bad)
            self._settle()

    def _settle(self) -> None:
        self._after()
        if not self.closed:
            self._schedule()

    def _schedule_soon(self) -> None:
        self._schedule_queued = False
        if not self.closed:
            self._schedule()

    def _schedule(self) -> None:
        """Keep the timer at c-ares's next time-out; none while nothing is outstanding."""
        if self.outstanding <= 0:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
                self._timer_due = math.inf
            return
        delay = self._channel.timeout()
        due = self._time() + delay
        if self._timer is not None:
            if self._timer_due <= due + 0.001:
                return
            self._timer.cancel()
        # Not keeping the run alive by itself: c-ares's sockets do while questions are out.
        self._timer = self.esc.after(delay, self._tick, keeps_alive=False)
        self._timer_due = due

    # -- the end ---------------------------------------------------------------------

    def cancel(self) -> None:
        """Call back every open question now, with ``ECANCELLED``."""
        if not self.closed and self.outstanding:
            for alone in list(self._alone):
                alone.cancel()
            self._channel.cancel()

    def close(self) -> None:
        """Cancel what is open (callbacks come now, from this thread), unwatch everything, close the channel."""
        if self.closed:
            return
        self.cancel()
        self.closed = True
        for alone in self._alone:
            alone.close()
        self._alone.clear()
        for reader, writer in self._watched.values():
            for binding in (reader, writer):
                if binding is not None:
                    binding.cancel()
        self._watched.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._channel.close()
