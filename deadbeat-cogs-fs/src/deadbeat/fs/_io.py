"""Writing a whole buffer to a descriptor."""

from __future__ import annotations

import os

__all__ = ["write_all"]


def write_all(fd: int, payload: bytes, *more: bytes) -> None:
    """Write all of ``payload`` and ``more`` in one system call when possible.

    ``os.write``/``os.writev`` may take less than they are given; the rest is
    written in further calls. Several parts spare joining them into a new copy.
    """
    if more:
        parts = (payload, *more)
        written = os.writev(fd, parts)
        if written == sum(map(len, parts)):
            return
        payload = b"".join(parts)[written:]
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]
