"""Opening the files the ip cogs read whole (CIDR lists, databases, keys), never waiting on one.

A list, database or key file replaced by a FIFO (``rm nets.cidr; mkfifo
nets.cidr``), or named as one, made a plain ``open()`` wait for a writer that
never came: in the event loop, where a reload runs, the whole daemon stopped,
SIGTERM included. Such a file is refused instead, as the fs cogs refuse it.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import IO, Any


def open_regular(path: str, mode: str = "rb", **options: Any) -> IO[Any]:
    """Open ``path`` for reading only if it is a regular file, without ever blocking on the opening.

    :param mode: ``"rb"`` or ``"r"`` (then ``options`` such as ``encoding`` apply).
    :raises OSError: when it cannot be opened, or is not a regular file (a FIFO, a device, a directory).
    """
    # O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        held = os.fstat(fd)
        if stat.S_ISDIR(held.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(held.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(held.st_mode) else "not a regular file"
            raise OSError(errno.EINVAL, f"is {kind}: not read (a regular file is)", path)
        os.set_blocking(fd, True)
        return open(fd, mode, **options)  # noqa: SIM115 - the caller closes it (a with block)
    except BaseException:
        os.close(fd)
        raise
