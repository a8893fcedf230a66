"""What the kernel knows about a socket: a datagram socket's receive buffer and the datagrams it dropped, and
the bytes a TCP connection sent that its peer has not acknowledged yet.

UDP has no flow control. When datagrams arrive faster than they are read (a
burst, or the train pausing the supply under backpressure), the kernel keeps
them in the socket's receive buffer, and drops what does not fit. Nobody else
tells: the sender does not know, and the receiver sees nothing missing. The
kernel counts them (``drops`` in ``/proc/self/net/udp``), and the listener reports
that count, so that lost datagrams show in the log and the run's summary instead
of vanishing. A bigger buffer (``receive_buffer``) rides out longer bursts.

Unix datagram sockets do not drop: a sender whose peer's queue is full waits
(or gets ``EAGAIN``), as on a stream.

A TCP send only hands bytes to the kernel; they are on their way until the
peer's host acknowledges them. The kernel counts what is not acknowledged yet
(``SIOCOUTQ``, the ``TIOCOUTQ`` of ``termios``): a sender that wants to know
that its last bytes arrived waits for that count to be 0. It stays as it was
when the connection is reset, so it also says how many bytes a reset lost.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import struct
import termios

__all__ = ["set_receive_buffer", "udp_drops", "unacknowledged_bytes"]

log = logging.getLogger("deadbeat.socket")

#: ``SIOCOUTQ`` (Linux): bytes in a TCP socket's send queue, not yet acknowledged by the peer (unsent ones too).
_SIOCOUTQ = getattr(termios, "TIOCOUTQ", 0x5411)

#: ``SO_RCVBUFFORCE`` (Linux): the size even beyond ``net.core.rmem_max``, for a privileged process.
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


def set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Ask for a receive buffer of ``size`` bytes. :returns: the size the kernel gave (it may cap it).

    A privileged process gets the size it asks for; others get at most
    ``net.core.rmem_max``, and a smaller buffer than asked is said in the log.
    """
    if size < 1:
        raise ValueError(f"receive_buffer must be at least 1 byte, not {size}")
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOPROTOOPT, errno.EINVAL):
            raise
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    # Linux doubles the value for its own bookkeeping, and reports the double.
    given = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
    if given < size:
        log.warning(
            "receive buffer of %d bytes asked, %d given (net.core.rmem_max caps it for unprivileged processes)",
            size,
            given,
        )
    return given


def udp_drops(sock: socket.socket) -> int | None:
    """:returns: how many datagrams the kernel dropped for ``sock`` since it was made, or ``None`` if unknown.

    Read from ``/proc/self/net/udp`` and ``udp6`` (the line of the socket's inode): the
    process's own network namespace, and still there where ``/proc/net`` is
    hidden (systemd's ``ProcSubset=pid``).
    """
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
    except OSError:
        return None
    for table in ("/proc/self/net/udp", "/proc/self/net/udp6"):
        try:
            with open(table) as handle:
                next(handle, None)  # the header
                for line in handle:
                    fields = line.split()
                    # sl local rem st queues tr:tm retrnsmt uid timeout inode ref pointer drops
                    if len(fields) >= 13 and fields[9] == inode:
                        return int(fields[12])
        except (OSError, ValueError):
            continue
    return None


def unacknowledged_bytes(sock: socket.socket) -> int | None:
    """:returns: the bytes a TCP socket's kernel accepted that the peer has not acknowledged, or ``None`` if unknown.

    Those not sent yet count too. After a reset the count stays as it was: the
    bytes the reset lost. (On a Unix socket the kernel counts memory, not bytes:
    not for those.)
    """
    try:
        answer = fcntl.ioctl(sock.fileno(), _SIOCOUTQ, b"\0\0\0\0")
    except (OSError, ValueError):
        return None
    return int(struct.unpack("i", answer)[0])
