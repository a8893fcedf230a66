"""The polling stand-in for inotify: what changed at a watched path since the last look.

Where inotify is missing (some containers, network file systems) or out of
watches, the Escapement looks at a watched path every so often and turns what
it sees into the events inotify would have sent. It is the one polling fallback
of Deadbeat: cogs ask :meth:`Escapement.inotify_add` for it with
``poll_interval`` and then handle the same events either way.

Like an inotify watch, a polled watch follows what the path named when it was
made, not the name: it holds a descriptor on it (``O_PATH``), so a file renamed
by logrotate still reports ``IN_MODIFY`` under its new name, after one
``IN_MOVE_SELF``. When its last link is gone it reports ``IN_DELETE_SELF`` and
``IN_IGNORED`` and ends.

What cannot be seen by looking: a file written and truncated back to the same
size and time between two looks, renames inside a watched directory (they
show as a delete and a create, with no cookie pairing them), and a writer
closing a file: ``IN_CLOSE_WRITE`` is reported when a file that changed at one
look is unchanged at the next (so one interval after the last write).
"""

from __future__ import annotations

import os
import stat

from . import _inotify

__all__ = ["PollWatch"]

#: (device, inode, size, mtime, ctime, mode) of a file, or None when it is not there.
Snapshot = tuple[int, int, int, int, int, int] | None


def _snapshot(st: os.stat_result) -> Snapshot:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)


class PollWatch:
    """What one polled path looked like at the last look.

    :param path: a file or a directory.
    :param mask: the inotify events asked for; others are not reported.
    :raises OSError: when ``path`` cannot be opened (as ``inotify_add_watch`` would).
    """

    def __init__(self, path: str, mask: int) -> None:
        self.path = path
        self.mask = mask
        st = os.stat(path)
        self.is_dir = stat.S_ISDIR(st.st_mode)
        # A directory is listed through its descriptor, so O_PATH will not do.
        flags = os.O_RDONLY | os.O_DIRECTORY if self.is_dir else os.O_PATH
        self.fd = os.open(path, flags | os.O_CLOEXEC)
        self.stat = _snapshot(os.fstat(self.fd))
        self.moved = False
        #: For a directory, every entry's snapshot.
        self.entries = self._entries() if self.is_dir else {}
        #: What changed at the last look (a directory's entry names; "" for the file itself):
        #: unchanged at the next, it is taken as written and closed (see changes).
        self.settling: set[str] = set()

    def _entries(self) -> dict[str, Snapshot]:
        found: dict[str, Snapshot] = {}
        try:
            names = os.listdir(self.fd)
        except OSError:
            return found
        for name in names:
            try:
                found[name] = _snapshot(os.stat(name, dir_fd=self.fd, follow_symlinks=False))
            except OSError:
                found[name] = None
        return found

    def close(self) -> None:
        """Let go of the descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def changes(self) -> list[tuple[int, str]]:
        """Look again.

        :returns: the (mask, name) events inotify would have sent since the last
            look; ``IN_IGNORED`` last when the watched file or directory is gone.
        """
        if self.fd < 0:
            return []
        st = os.fstat(self.fd)
        found: list[tuple[int, str]] = []
        if not self.moved:
            try:
                named = os.stat(self.path)
                moved = (named.st_dev, named.st_ino) != (st.st_dev, st.st_ino)
            except OSError:
                moved = st.st_nlink > 0
            if moved:
                self.moved = True
                found.append((_inotify.IN_MOVE_SELF, ""))
        new, old = _snapshot(st), self.stat
        self.stat = new
        # A look cannot see a writer close the file. What changed at the last
        # look and stays as it was at this one is taken as written and closed:
        # IN_CLOSE_WRITE, which cogs that reload a table rewritten in place wait for.
        settling, self.settling = self.settling, set()
        if self.is_dir:
            entries = self._entries()
            for name in entries.keys() - self.entries.keys():
                found.append((_inotify.IN_CREATE, name))
                self.settling.add(name)
            for name in self.entries.keys() - entries.keys():
                found.append((_inotify.IN_DELETE, name))
            for name in entries.keys() & self.entries.keys():
                before, after = self.entries[name], entries[name]
                if before is not None and after is not None and before[:2] != after[:2]:
                    found.append((_inotify.IN_DELETE, name))
                    found.append((_inotify.IN_CREATE, name))
                    self.settling.add(name)
                elif before != after:
                    found.append((_inotify.IN_MODIFY, name))
                    self.settling.add(name)
                elif name in settling and after is not None and stat.S_ISREG(after[5]):
                    found.append((_inotify.IN_CLOSE_WRITE, name))
            self.entries = entries
        elif old is not None and new is not None:
            if old[2:4] != new[2:4]:
                found.append((_inotify.IN_MODIFY, ""))
                self.settling.add("")
            elif old[4] != new[4]:
                found.append((_inotify.IN_ATTRIB, ""))
            elif "" in settling:
                found.append((_inotify.IN_CLOSE_WRITE, ""))
        if st.st_nlink == 0:
            found += [(_inotify.IN_DELETE_SELF, ""), (_inotify.IN_IGNORED, "")]
            self.close()
        return [(mask, name) for mask, name in found if mask & (self.mask | _inotify.IN_IGNORED)]
