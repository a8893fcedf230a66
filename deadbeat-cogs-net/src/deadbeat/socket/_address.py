"""Where a socket listens or sends to, and how a peer is named in data, ids and log lines.

An :class:`Endpoint` is a transport (``tcp``, ``udp``, ``unix``,
``unix-datagram``) with the address to bind or connect to, checked once at
start: a TCP or UDP endpoint needs a port and no path, a Unix one a path and no
port.

Peers. A TCP or UDP peer is named ``HOST:PORT`` (``[HOST]:PORT`` for IPv6),
the form log lines, ids and the ``peer`` field share; its host alone is what
address cogs (``ip.anonymise``, ``dns.reverse``) want. A Unix socket peer has
no address worth the name (a client's socket is usually unbound), but the
kernel tells who it is: ``pid=PID,uid=UID,gid=GID`` (``SO_PEERCRED`` on a
stream, ``SCM_CREDENTIALS`` with each datagram).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "CREDENTIALS_SPACE",
    "DATAGRAM_TRANSPORTS",
    "STREAM_TRANSPORTS",
    "Endpoint",
    "Transport",
    "credentials_of_message",
    "credentials_text",
    "host_port",
    "is_ip_literal",
    "peer_credentials",
    "peer_names",
]

Transport = Literal["tcp", "udp", "unix", "unix-datagram"]
STREAM_TRANSPORTS = ("tcp", "unix")
DATAGRAM_TRANSPORTS = ("udp", "unix-datagram")
TRANSPORTS = STREAM_TRANSPORTS + DATAGRAM_TRANSPORTS

#: struct ucred: pid, uid, gid.
_UCRED = struct.Struct("3i")


@dataclass(frozen=True)
class Endpoint:
    """A checked transport and address.

    :ivar transport: ``tcp``, ``udp``, ``unix`` or ``unix-datagram``.
    :ivar host: the host (TCP, UDP), as given.
    :ivar port: the port (TCP, UDP).
    :ivar path: the socket file (Unix).
    """

    transport: str
    host: str = ""
    port: int = 0
    path: str = ""

    @classmethod
    def of(cls, transport: str, host: str, port: int | None, path: str | None) -> Endpoint:
        """Check a cog's ``transport``, ``host``, ``port`` and ``path`` parameters.

        :raises ValueError: for an unknown transport, a missing port or path, or one given where it means nothing.
        """
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
        if transport in ("tcp", "udp"):
            if path:
                raise ValueError(f"path is for Unix sockets; a {transport} socket takes host and port")
            if port is None or isinstance(port, bool) or not 0 <= port <= 65535:
                raise ValueError(f"a {transport} socket needs a port from 0 to 65535, not {port!r}")
            if not host:
                raise ValueError(f"a {transport} socket needs a host (127.0.0.1, ::1, 0.0.0.0 ...)")
            return cls(transport, host=host, port=port)
        if not path:
            raise ValueError(f"a {transport} socket needs a path")
        if port is not None:
            raise ValueError(f"port is for TCP and UDP; a {transport} socket takes a path")
        return cls(transport, path=path)

    @property
    def stream(self) -> bool:
        """Whether the transport is a byte stream (TCP, Unix stream), not datagrams."""
        return self.transport in STREAM_TRANSPORTS

    @property
    def is_unix(self) -> bool:
        """Whether the endpoint is a Unix socket file."""
        return self.transport.startswith("unix")

    @property
    def type(self) -> int:
        """``SOCK_STREAM`` or ``SOCK_DGRAM``."""
        return socket.SOCK_STREAM if self.stream else socket.SOCK_DGRAM

    def resolve(self, passive: bool) -> tuple[int, Any]:
        """:returns: the address family and socket address to bind (``passive``) or connect to.

        Host names are looked up here, blocking: call it at start, or off the loop.

        :raises OSError: when the host cannot be resolved.
        """
        if self.is_unix:
            return socket.AF_UNIX, self.path
        flags = socket.AI_NUMERICSERV | (socket.AI_PASSIVE if passive else 0)
        infos = socket.getaddrinfo(self.host, self.port, socket.AF_UNSPEC, self.type, 0, flags)
        family, _, _, _, address = infos[0]
        return family, address

    def __str__(self) -> str:
        if self.is_unix:
            return f"{self.transport} {self.path}"
        return f"{self.transport} {host_port(self.host, self.port)}"


def host_port(host: str, port: int) -> str:
    """``HOST:PORT``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` is an IP address (no lookup needed)."""
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    return True


def peer_names(address: Any) -> tuple[str, str]:
    """:returns: the peer as ``HOST:PORT`` and its host alone, from a socket address (IPv4 or IPv6)."""
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return host_port(host, int(address[1])), host
    text = address.decode("utf-8", "backslashreplace") if isinstance(address, bytes) else str(address or "")
    return text, text


def credentials_text(pid: int, uid: int, gid: int) -> str:
    """How a Unix socket peer is named: ``pid=PID,uid=UID,gid=GID``."""
    return f"pid={pid},uid={uid},gid={gid}"


def peer_credentials(sock: socket.socket) -> str:
    """:returns: the credentials of a Unix stream socket's peer (``SO_PEERCRED``), or ``"unknown"``."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except OSError:
        return "unknown"
    return credentials_text(*_UCRED.unpack(raw))


def credentials_of_message(ancillary: list[tuple[int, int, bytes]]) -> str | None:
    """:returns: the sender's credentials from a datagram's ``SCM_CREDENTIALS``, if they came."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= _UCRED.size:
            return credentials_text(*_UCRED.unpack_from(data))
    return None


#: Room for one ``SCM_CREDENTIALS`` message.
CREDENTIALS_SPACE = socket.CMSG_SPACE(_UCRED.size)
