"""A minimal inotify(7) binding through ctypes.

The core needs inotify only to hand raw events to the Escapement, so a few
libc calls are enough and the core stays free of a compiled or third-party
dependency. Anything smarter (rotation detection, rescans) belongs to the cogs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from typing import NamedTuple

__all__ = [
    "IN_ACCESS",
    "IN_ALL_EVENTS",
    "IN_ATTRIB",
    "IN_CLOSE_WRITE",
    "IN_CREATE",
    "IN_DELETE",
    "IN_DELETE_SELF",
    "IN_IGNORED",
    "IN_ISDIR",
    "IN_MODIFY",
    "IN_MOVED_FROM",
    "IN_MOVED_TO",
    "IN_MOVE_SELF",
    "IN_Q_OVERFLOW",
    "InotifyEvent",
    "Inotify",
]

IN_ACCESS = 0x00000001
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_CLOSE_NOWRITE = 0x00000010
IN_OPEN = 0x00000020
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_MASK_ADD = 0x20000000
IN_ISDIR = 0x40000000
IN_ALL_EVENTS = 0x00000FFF

_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_HEADER = struct.Struct("iIII")


class InotifyEvent(NamedTuple):
    """One inotify event as the kernel reported it.

    ``wd`` is -1 for ``IN_Q_OVERFLOW``, which concerns every watch; ``name`` is
    the entry inside a watched directory, or ``""`` for the watched path itself.
    """

    wd: int
    mask: int
    cookie: int
    name: str


def _load_libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name or "libc.so.6", use_errno=True)
    except OSError:
        return None


_libc = _load_libc()


class Inotify:
    """An inotify instance: a non-blocking descriptor plus watch management.

    :raises OSError: when the system has no inotify or the instance limit is hit.
    """

    def __init__(self) -> None:
        if _libc is None or not hasattr(_libc, "inotify_init1"):
            raise OSError("inotify is not available on this system")
        fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
        self.fd: int = fd

    def fileno(self) -> int:
        """:returns: the descriptor to wait on for readability."""
        return self.fd

    def add_watch(self, path: str | os.PathLike[str], mask: int) -> int:
        """Watch ``path`` for the events in ``mask``.

        :returns: the watch descriptor (the same one again for the same inode).
        :raises OSError: ``ENOSPC`` when the per-user watch limit is reached,
            ``ENOENT`` when the path does not exist.
        """
        assert _libc is not None
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), ctypes.c_uint32(mask))
        if wd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno), os.fspath(path))
        return int(wd)

    def rm_watch(self, wd: int) -> None:
        """Stop watching; a watch the kernel already dropped is ignored."""
        assert _libc is not None
        _libc.inotify_rm_watch(self.fd, wd)

    def read(self) -> list[InotifyEvent]:
        """:returns: every event queued now (possibly none); never blocks."""
        events: list[InotifyEvent] = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return events
            pos = 0
            while pos < len(buf):
                wd, mask, cookie, length = _HEADER.unpack_from(buf, pos)
                pos += _HEADER.size
                raw = buf[pos : pos + length].rstrip(b"\0")
                pos += length
                events.append(InotifyEvent(wd, mask, cookie, os.fsdecode(raw)))

    def close(self) -> None:
        """Release the descriptor and with it every watch."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
