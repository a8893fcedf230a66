"""Unix socket files: bound with the right mode from the first instant, and removed only when ours.

A socket file left by a process that died (a stale socket) keeps ``bind`` from
working, so it has to go; but the path may hold something else, and what is
there is removed only when it is certainly a stale socket: it is a socket (by
``lstat``, so a link planted there is not followed) and connecting to it is
refused (nobody listens). A regular file, a link, a directory, or a socket
someone listens on is never removed: the cog refuses to start and says why
(see docs/security.rst).

The mode. ``bind`` creates the file with the process's umask, and a ``chmod``
after it leaves a moment in which the file has that mode. So the file is
created with the umask narrowed to owner-only and widened to ``mode`` after:
no moment in which more may connect than ``mode`` allows.

At the end, the file is removed only if the path still holds the very socket
we bound (same device and inode): another instance may have taken the path
over meanwhile.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat

__all__ = ["UnixSocketFile", "bind_unix"]

log = logging.getLogger("deadbeat.socket")


class UnixSocketFile:
    """The socket file a listener bound, to be removed at the end only if it is still ours.

    :ivar path: the file.
    """

    def __init__(self, path: str, device: int, inode: int) -> None:
        self.path = path
        self._identity = (device, inode)

    def remove(self) -> None:
        """Remove the file, if the path still holds the socket we bound."""
        try:
            st = os.lstat(self.path)
        except OSError:
            return
        if stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == self._identity:
            try:
                os.unlink(self.path)
            except OSError as exc:
                log.warning("%s: cannot remove the socket file: %s", self.path, exc.strerror)


def _remove_stale(path: str, kind: int) -> None:
    """Remove ``path`` if it is a socket nobody listens on; otherwise leave it and say why.

    :raises OSError: naming the path, when it holds anything but a stale socket.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise OSError(
            errno.EEXIST, f"{path} exists and is not a socket; not removed (move it away, or choose another path)"
        )
    probe = socket.socket(socket.AF_UNIX, kind)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except ConnectionRefusedError:
        pass  # nobody listens: stale
    except OSError as exc:
        if exc.errno == errno.EPROTOTYPE:
            # A socket of the other type (stream, datagram): whether it is in
            # use cannot be told by connecting, so it stays.
            raise OSError(errno.EADDRINUSE, f"{path} is a socket of another type; not removed") from None
        raise OSError(exc.errno, f"{path}: cannot tell whether the socket is in use ({exc.strerror})") from None
    else:
        raise OSError(errno.EADDRINUSE, f"{path}: another process listens on this socket")
    finally:
        probe.close()
    os.unlink(path)
    log.info("%s: removed a stale socket file (nobody listened on it)", path)


def bind_unix(sock: socket.socket, path: str, mode: int | None) -> UnixSocketFile:
    """Bind ``sock`` to ``path``, removing a stale socket first, the file created with ``mode``.

    :param mode: the file's permission bits (``0o660``); ``None`` for what the umask gives.
    :raises OSError: naming the path, when it holds something else, or binding fails.
    """
    _remove_stale(path, sock.type)
    if mode is None:
        sock.bind(path)
    else:
        # Owner-only while the file appears, then widened to mode (see the module docstring).
        old = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, mode)
    st = os.lstat(path)
    return UnixSocketFile(path, st.st_dev, st.st_ino)
