"""What the kernel knows about a datagram socket: its receive buffer and the datagrams it dropped.

UDP has no flow control. When datagrams arrive faster than they are read (a
burst, or the train pausing the supply under backpressure), the kernel keeps
them in the socket's receive buffer, and drops what does not fit. Nobody else
tells: the sender does not know, and the receiver sees nothing missing. The
kernel counts them (``drops`` in ``/proc/self/net/udp``), and the listener reports
that count, so that lost datagrams show in the log and the run's summary instead
of vanishing. A bigger buffer (``receive_buffer``) rides out longer bursts.

Unix datagram sockets do not drop: a sender whose peer's queue is full waits
(or gets ``EAGAIN``), as on a stream.
"""

from __future__ import annotations

import errno
import logging
import os
import socket

__all__ = ["set_receive_buffer", "udp_drops"]

log = logging.getLogger("deadbeat.socket")

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
