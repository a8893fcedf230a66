"""The polling stand-in for inotify: what changed at a path since the last look.

Where inotify is missing (some containers, network file systems) or out of
watches, the Escapement looks at a watched path every so often and turns what
it sees into the events inotify would have sent. It is the one polling fallback
of Deadbeat: cogs ask :meth:`Escapement.inotify_add` for it with
``poll_interval`` and then handle the same events either way.

What cannot be seen by looking: a file written and truncated back to the same
size and time between two looks, and renames (they show as a delete and a
create, with no cookie pairing them).
"""

from __future__ import annotations

import os

from . import _inotify

__all__ = ["PollWatch"]

#: (device, inode, size, mtime, ctime) of a path, or None when it is not there.
Snapshot = tuple[int, int, int, int, int] | None


def _snapshot(path: str) -> Snapshot:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _entries(path: str) -> dict[str, Snapshot] | None:
    if not os.path.isdir(path):
        return None
    try:
        names = os.listdir(path)
    except OSError:
        return None
    return {name: _snapshot(os.path.join(path, name)) for name in names}


class PollWatch:
    """What one polled path looked like at the last look.

    :param path: a file or a directory.
    :param mask: the inotify events asked for; others are not reported.
    """

    def __init__(self, path: str, mask: int) -> None:
        self.path = path
        self.mask = mask
        self.stat = _snapshot(path)
        #: For a directory, every entry's snapshot; None for a file.
        self.entries = _entries(path)

    def changes(self) -> list[tuple[int, str]]:
        """Look again.

        :returns: the (mask, name) events inotify would have sent since the last
            look; ``IN_IGNORED`` last when the path itself is gone or replaced.
        """
        found: list[tuple[int, str]] = []
        new = _snapshot(self.path)
        old = self.stat
        self.stat = new
        if old is not None and new is None:
            return [(_inotify.IN_DELETE_SELF, ""), (_inotify.IN_IGNORED, "")]
        if old is not None and new is not None and old[:2] != new[:2]:
            return [(_inotify.IN_MOVE_SELF, ""), (_inotify.IN_IGNORED, "")]
        if self.entries is not None:
            entries = _entries(self.path) or {}
            for name in entries.keys() - self.entries.keys():
                found.append((_inotify.IN_CREATE, name))
            for name in self.entries.keys() - entries.keys():
                found.append((_inotify.IN_DELETE, name))
            for name in entries.keys() & self.entries.keys():
                before, after = self.entries[name], entries[name]
                if before is not None and after is not None and before[:2] != after[:2]:
                    found.append((_inotify.IN_DELETE, name))
                    found.append((_inotify.IN_CREATE, name))
                elif before != after:
                    found.append((_inotify.IN_MODIFY, name))
            self.entries = entries
        elif old is not None and new is not None:
            if old[2:4] != new[2:4]:
                found.append((_inotify.IN_MODIFY, ""))
            elif old[4] != new[4]:
                found.append((_inotify.IN_ATTRIB, ""))
        return [(mask, name) for mask, name in found if mask & (self.mask | _inotify.IN_IGNORED)]
