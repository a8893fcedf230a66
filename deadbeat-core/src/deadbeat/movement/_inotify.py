"""inotify(7) event masks and events, as the ``inotify-simple`` package gives them.

The Escapement reads the kernel's events through ``inotify_simple.INotify``; cogs
only need the mask bits (re-exported here as plain integers under their C names)
and the event tuple. Anything smarter (rotation, rescans) belongs to the cogs.
"""

from __future__ import annotations

from typing import NamedTuple

import inotify_simple

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
    "IN_MASK_ADD",
    "IN_MODIFY",
    "IN_MOVED_FROM",
    "IN_MOVED_TO",
    "IN_MOVE_SELF",
    "IN_Q_OVERFLOW",
    "InotifyEvent",
]

_flags = inotify_simple.flags

IN_ACCESS = int(_flags.ACCESS)
IN_MODIFY = int(_flags.MODIFY)
IN_ATTRIB = int(_flags.ATTRIB)
IN_CLOSE_WRITE = int(_flags.CLOSE_WRITE)
IN_MOVED_FROM = int(_flags.MOVED_FROM)
IN_MOVED_TO = int(_flags.MOVED_TO)
IN_CREATE = int(_flags.CREATE)
IN_DELETE = int(_flags.DELETE)
IN_DELETE_SELF = int(_flags.DELETE_SELF)
IN_MOVE_SELF = int(_flags.MOVE_SELF)
IN_Q_OVERFLOW = int(_flags.Q_OVERFLOW)
IN_IGNORED = int(_flags.IGNORED)
IN_MASK_ADD = int(_flags.MASK_ADD)
IN_ISDIR = int(_flags.ISDIR)
#: The ``wd`` of the events the polling fallback makes.
POLLED_WD = -2
#: Every event a watch can ask for (the kernel's ``IN_ALL_EVENTS``).
IN_ALL_EVENTS = 0x00000FFF


class InotifyEvent(NamedTuple):
    """One inotify event, as the kernel reported it (or the polling fallback made it).

    ``wd`` is -1 for ``IN_Q_OVERFLOW``, which concerns every watch, and -2 for
    events of the polling fallback; ``name`` is the entry inside a watched
    directory, or ``""`` for the watched path itself; ``cookie`` pairs an
    ``IN_MOVED_FROM`` with its ``IN_MOVED_TO``.
    """

    wd: int
    mask: int
    cookie: int
    name: str

    @property
    def polled(self) -> bool:
        """Whether the polling fallback made it: a rename is then an ``IN_DELETE`` and an ``IN_CREATE``."""
        return self.wd == POLLED_WD
