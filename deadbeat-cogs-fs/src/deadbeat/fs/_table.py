"""The open files, indexed so that no event costs a look at every file.

A tailer may follow thousands of files, and thousands more may come and go
(one file per job, per hour, per connection). Every question the tailer asks
on an event (which open file is at this name? which files of this lineage are
older? which files of this directory start with these bytes, so that a new
file may be their copy? are any files rotated?) is answered from an index
here, in time that depends on the answer, not on how many files are open.

The indexes are kept by the files themselves: a :class:`FollowedFile` tells its
table when its name, lineage, state or first bytes change
(:meth:`FileTable.reindex`), so no caller can forget to.

Copies are found by their first bytes (see :func:`._identity.starts_alike`): a
copy and its original agree on every byte they both have. Files whose first
bytes number at least :data:`HEAD_KEY` are indexed by those bytes; a candidate
that long is compared only with the files of its directory that share them,
and with the few whose start is shorter. A candidate shorter than that is
compared with every file of its directory (a copy in progress, or a file of one
short line: both rare where there are many files).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ._identity import FileId

if TYPE_CHECKING:
    from ._followed import FollowedFile

__all__ = ["HEAD_KEY", "FileTable"]

#: How many first bytes index a file for the search for copies.
HEAD_KEY = 32


class FileTable:
    """The open files of one tailer, by identity, name, lineage, state and start.

    Invariant: every file in :attr:`by_id` is in each index under the keys its
    current name, lineage, state and first bytes give, and in no other place.
    """

    def __init__(self) -> None:
        #: Identity -> open file: the table itself.
        self.by_id: dict[FileId, FollowedFile] = {}
        # Name -> the open files known under it: one, but two while the events
        # are behind (a new file opened under a name the old one has not left yet).
        self._by_path: dict[str, dict[FileId, FollowedFile]] = {}
        # Lineage -> its open files.
        self._lineages: dict[str, dict[FileId, FollowedFile]] = {}
        # Directory -> its open files that hold some bytes (for candidates with
        # short starts). An empty file is no original of any copy
        # (starts_alike), so thousands of empty files cost nothing here.
        self._directories: dict[str, dict[FileId, FollowedFile]] = {}
        # (directory, first HEAD_KEY bytes, or b"" when shorter) -> files.
        self._heads: dict[tuple[str, bytes], dict[FileId, FollowedFile]] = {}
        #: Rotated files (drained, then let go), by identity.
        self.rotated: dict[FileId, FollowedFile] = {}
        #: Files whose content before their last truncation may still turn up as a copy.
        self.truncated: dict[FileId, FollowedFile] = {}
        # The keys each file is indexed under now, to take it out again.
        self._keys: dict[FileId, tuple[str | None, str, str, bytes | None, bool, bool]] = {}

    def __len__(self) -> int:
        return len(self.by_id)

    def __contains__(self, file: object) -> bool:
        return file in self.by_id

    def __iter__(self) -> Iterator[FollowedFile]:
        return iter(list(self.by_id.values()))

    def get(self, file: FileId) -> FollowedFile | None:
        """:returns: the open file with identity ``file``, if any."""
        return self.by_id.get(file)

    def add(self, followed: FollowedFile) -> None:
        """Index a newly opened file (it tells the table of its changes from now on)."""
        self.by_id[followed.file] = followed
        followed.table = self
        self.reindex(followed)

    def remove(self, followed: FollowedFile) -> None:
        """Take a file out of every index (it is being closed)."""
        if self.by_id.get(followed.file) is not followed:
            return
        self._unindex(followed)
        del self.by_id[followed.file]
        followed.table = None

    def at(self, path: str) -> FollowedFile | None:
        """:returns: the open file known to be at ``path`` now, if any."""
        found = self._by_path.get(path)
        if not found:
            return None
        return next(reversed(found.values()))  # the last to take the name

    def lineage(self, lineage: str) -> Iterator[FollowedFile]:
        """:returns: the open files of ``lineage``."""
        return iter(list(self._lineages.get(lineage, {}).values()))

    def copy_candidates(self, directory: str, head: bytes) -> list[FollowedFile]:
        """:returns: the open files of ``directory`` whose start may agree with ``head``."""
        if len(head) < HEAD_KEY:
            return list(self._directories.get(directory, {}).values())
        found = list(self._heads.get((directory, head[:HEAD_KEY]), {}).values())
        found.extend(self._heads.get((directory, b""), {}).values())
        return found

    def reindex(self, followed: FollowedFile) -> None:
        """File ``followed`` again under its current name, lineage, state and start."""
        if self.by_id.get(followed.file) is not followed:
            return
        from ._followed import FileState  # noqa: PLC0415 - the two modules refer to each other

        path = followed.path
        directory = os.path.dirname(path or "")
        head = followed.head
        # The first bytes; b"" for a shorter start, None for none at all.
        key = head[:HEAD_KEY] if len(head) >= HEAD_KEY else (b"" if head else None)
        keys = (
            path,
            followed.lineage,
            directory,
            key,
            followed.state is FileState.ROTATED,
            followed.truncated is not None,
        )
        old = self._keys.get(followed.file)
        if old == keys:
            return
        if old is not None:
            self._unindex(followed)
        file = followed.file
        self._keys[file] = keys
        if path is not None:
            self._by_path.setdefault(path, {})[file] = followed
        self._lineages.setdefault(followed.lineage, {})[file] = followed
        if key is not None:
            self._directories.setdefault(directory, {})[file] = followed
            self._heads.setdefault((directory, key), {})[file] = followed
        if keys[4]:
            self.rotated[file] = followed
        if keys[5]:
            self.truncated[file] = followed

    def _unindex(self, followed: FollowedFile) -> None:
        file = followed.file
        old = self._keys.pop(file, None)
        if old is None:
            return
        path, lineage, directory, key, _, _ = old
        if path is not None:
            _discard(self._by_path, path, file)
        _discard(self._lineages, lineage, file)
        _discard(self._directories, directory, file)
        _discard(self._heads, (directory, key), file)
        self.rotated.pop(file, None)
        self.truncated.pop(file, None)


def _discard(index: dict, key: object, file: FileId) -> None:  # type: ignore[type-arg]
    """Take ``file`` out of ``index[key]``, and the key out when nothing is left under it."""
    group = index.get(key)
    if group is not None:
        group.pop(file, None)
        if not group:
            del index[key]
