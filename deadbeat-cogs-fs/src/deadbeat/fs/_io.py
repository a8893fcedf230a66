"""Writing a whole buffer to a descriptor."""

from __future__ import annotations

import os

__all__ = ["write_all"]


def write_all(fd: int, payload: bytes) -> None:
    """Write all of ``payload``: ``os.write`` may take less than it is given."""
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]
