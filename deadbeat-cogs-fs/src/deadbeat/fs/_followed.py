"""One file being followed: its state, its positions, and what is remembered of it.

The states of a followed file::

    NEW ------> FOLLOWED ------> ROTATED ------> (closed)
     |   \\________________________^
     |   (first seen under a name the patterns no longer match)
     '--> (closed: a copy of a followed file, left unread)

* ``NEW``: just opened, first seen under a matching name by creation, with no
  remembered position. It may be the copy ``copytruncate`` makes of a followed
  file; it is not read until its first bytes tell (see
  :func:`~deadbeat.fs._identity.starts_alike`).
* ``FOLLOWED``: under a name the patterns match; read as it grows, and checked
  for truncation before each read.
* ``ROTATED``: renamed to a name the patterns do not match, renamed out of the
  directory, or deleted. The descriptor still reads it. It is read to its end
  and let go once quiet for ``rotate_wait`` seconds (a writer may still append
  until it reopens its file).

Positions, in bytes from the file's start, with the invariant
``acknowledged <= line_start <= read_pos``:

* ``read_pos``: how far the file has been read;
* ``line_start``: where the first line not yet sent begins (``partial`` holds the
  bytes from there to ``read_pos``);
* the acknowledged offset, in :class:`KnownFile`: every line before it has been
  handled by the train; a restart continues there.

Order within a lineage. Every file has a *lineage* (the matching name it was
created under). A rotated file (or a ``NEW`` one first seen under a rotated
name) is older than one under a matching name; which
of two others is older is told by their creation times where the file system
keeps them (``statx``), else by the order in which the directory's events
announced them. A file is read only while no
older file of its lineage has unread data, so one writer's lines keep their
order across rotations. Unread by its size, not only by its events: a writer
that has not reopened its file yet appends to the rotated one, and the events
saying so may come after those of the new file. And the file is read only as
far as it reached before its elders were seen drained (see ``end_seen`` and
``FileWatcherSupply._next_to_read``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from deadbeat import movement

from ._identity import FINGERPRINT_BYTES, FileId, birth_time, fingerprint, read_head

if TYPE_CHECKING:
    from ._gzip import GzipReader
    from ._table import FileTable

__all__ = ["FileState", "FollowedFile", "KnownFile", "Position"]


class FileState(Enum):
    """Where a followed file stands (see the module docstring)."""

    NEW = "new"
    FOLLOWED = "followed"
    ROTATED = "rotated"


@dataclass(frozen=True)
class Position:
    """How far a batch of lines reaches in one file: what its acknowledgement moves to.

    :ivar file: the file.
    :ivar generation: the file's content generation (a truncation starts a new one).
    :ivar offset: the offset after the batch's last line.
    """

    file: FileId
    generation: int
    offset: int


@dataclass
class KnownFile:
    """What is remembered of a file across restarts (a section entry of the state file).

    :ivar fingerprint: digest of the first ``fingerprint_length`` bytes.
    :ivar offset: the acknowledged offset.
    :ivar path: the last name it was followed under.
    :ivar lineage: the name its lineage began with.
    :ivar order: its place in the lineage.
    :ivar born: when it was created (ns), where the file system says: files of
        its series created after it and never seen were made later (see
        ``FileWatcherSupply._read_successors``), whatever became of it. A
        compressed copy (or the copy ``copytruncate`` made while we were
        stopped) keeps that of the file it was made of, whose place it takes.
    :ivar inode_born: when this very inode was created (ns), where the file
        system says, whatever file it took the place of: part of its identity.
        An inode number given to a new file after ours was deleted is told by
        it even where the new file starts with the same bytes (a banner longer
        than the fingerprint). ``None`` where unknown (and in entries of
        earlier versions): the fingerprint alone tells then.
    """

    fingerprint: str
    fingerprint_length: int
    offset: int
    path: str | None
    lineage: str
    order: int
    born: int | None = None
    inode_born: int | None = None

    def to_json(self) -> dict[str, Any]:
        """:returns: the entry as the state file keeps it (keys of earlier versions kept)."""
        return {
            "fp": self.fingerprint,
            "fp_len": self.fingerprint_length,
            "offset": self.offset,
            "path": self.path,
            "lineage": self.lineage,
            "order": self.order,
            "born": self.born,
            "ino_born": self.inode_born,
        }

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> KnownFile:
        """:returns: an entry read back from the state file (older entries lack lineage and order)."""
        path = entry.get("path")
        return cls(
            str(entry.get("fp", "")),
            int(entry.get("fp_len", 0)),
            int(entry.get("offset", 0)),
            path,
            str(entry.get("lineage") or path or ""),
            int(entry.get("order", 0)),
            None if entry.get("born") is None else int(entry["born"]),
            None if entry.get("ino_born") is None else int(entry["ino_born"]),
        )


class FollowedFile:
    """One open file being read (see the module docstring for states and positions).

    :param path: the name it was opened under.
    :param fd: the open descriptor.
    :param file: its identity.
    :param offset: where reading starts (a remembered position, 0, or the end).
    :param lineage: the name its lineage began with.
    :param order: its place in the lineage.
    """

    __slots__ = (
        "_path",
        "fd",
        "file",
        "_state",
        "rotated_name",
        "_head",
        "_digest",
        "read_pos",
        "line_start",
        "partial",
        "skipping",
        "generation",
        "rotated_at",
        "last_data",
        "at_end",
        "end_seen",
        "watch",
        "_truncated",
        "_lineage",
        "order",
        "born",
        "created",
        "inode_born",
        "table",
        "gz",
    )

    def __init__(self, path: str, fd: int, file: FileId, offset: int, lineage: str, order: int) -> None:
        #: The table that indexes it (told of every change of name, lineage,
        #: state and start; see :mod:`._table`), once it is in one.
        self.table: FileTable | None = None
        self._path: str | None = path
        self.fd = fd
        #: Reads the content of a compressed file (``None``: the file is read as it is).
        self.gz: GzipReader | None = None
        self.file = file
        self._state = FileState.FOLLOWED
        #: ``NEW`` already under a name the patterns do not match (created
        #: under a matching one, renamed before it was opened): as old as a
        #: rotated file in its lineage, while its first bytes are awaited.
        self.rotated_name = False
        self._head = b""
        # The fingerprint of _head, made once per head: a position is saved per batch.
        self._digest: tuple[bytes, str] | None = None
        self.read_pos = offset
        self.line_start = offset
        self.partial = b""
        #: Inside a line longer than max_line: its rest is dropped up to the next newline.
        self.skipping = False
        #: Bumped when the file is truncated: acknowledgements of older batches no longer apply.
        self.generation = 0
        self.rotated_at: float | None = None
        self.last_data = time.monotonic()
        #: Whether the last read reached the end (and nothing was reported since).
        self.at_end = False
        #: The size it had when its end was last reached: what it holds beyond
        #: was written since, whether or not its events have been read yet.
        self.end_seen = offset
        self.watch: movement.Binding | None = None
        self._truncated: tuple[bytes, int, float] | None = None
        self._lineage = lineage
        self.order = order
        #: When the file was created (ns), where the file system says; what
        #: orders it in its lineage (set aside where creation says nothing of age).
        self.born = birth_time(fd)
        #: When it was created, as the file system says (kept whatever ``born``
        #: becomes); of a copy taking a known file's place, that file's.
        self.created = self.born
        #: When this inode was created, as the file system says: its own, always
        #: (part of its identity, see :attr:`KnownFile.inode_born`).
        self.inode_born = self.born

    # Name, state, start, truncation and lineage are indexed by the table:
    # each change of one tells it.

    @property
    def path(self) -> str | None:
        """The name it is known under now; ``None`` once deleted or moved out of sight."""
        return self._path

    @path.setter
    def path(self, path: str | None) -> None:
        self._path = path
        if self.table is not None:
            self.table.reindex(self)

    @property
    def state(self) -> FileState:
        """Where it stands (see the module docstring)."""
        return self._state

    @state.setter
    def state(self, state: FileState) -> None:
        self._state = state
        if self.table is not None:
            self.table.reindex(self)

    @property
    def head(self) -> bytes:
        """Its first bytes as last read (up to FINGERPRINT_BYTES)."""
        return self._head

    @head.setter
    def head(self, head: bytes) -> None:
        self._head = head
        if self.table is not None:
            self.table.reindex(self)

    @property
    def truncated(self) -> tuple[bytes, int, float] | None:
        """(first bytes, line offset, when) of the content before the last truncation."""
        return self._truncated

    @truncated.setter
    def truncated(self, truncated: tuple[bytes, int, float] | None) -> None:
        self._truncated = truncated
        if self.table is not None:
            self.table.reindex(self)

    @property
    def lineage(self) -> str:
        """The matching name its lineage began with."""
        return self._lineage

    @lineage.setter
    def lineage(self, lineage: str) -> None:
        self._lineage = lineage
        if self.table is not None:
            self.table.reindex(self)

    def older_than(self, other: FollowedFile) -> bool:
        """Whether this file came before ``other`` (meaningful within one lineage).

        A rotated file came before the one under a matching name, whatever their
        creation times: a compressed copy is born when compressed, after the
        file that replaced the one it was made of.
        """
        rotated = self._rotated()
        if rotated != other._rotated():
            return rotated
        if self.born is not None and other.born is not None and self.born != other.born:
            return self.born < other.born
        return self.order < other.order

    def _rotated(self) -> bool:
        return self._state is FileState.ROTATED or (self._state is FileState.NEW and self.rotated_name)

    @property
    def fingerprint(self) -> str:
        """Digest of :attr:`head`."""
        head = self._head
        digest = self._digest
        if digest is None or digest[0] is not head:
            digest = self._digest = (head, fingerprint(head))
        return digest[1]

    def refresh_head(self) -> bool:
        """Re-read the first bytes.

        :returns: ``False`` when they are no longer what they were (truncated and rewritten).
        """
        head = self.gz.head(FINGERPRINT_BYTES) if self.gz is not None else read_head(self.fd, FINGERPRINT_BYTES)
        if head[: len(self._head)] != self._head:
            return False
        if head != self._head:
            self.head = head
        return True

    def pread(self, size: int, offset: int) -> bytes:
        """:returns: up to ``size`` bytes of its content from ``offset`` (decompressed, for a compressed file)."""
        if self.gz is not None:
            return self.gz.pread(size, offset)
        return os.pread(self.fd, size, offset)

    def rotate(self, path: str | None) -> None:
        """It left the patterns' names (renamed to ``path``, or gone when ``None``): drain, then let go."""
        if self._state is not FileState.ROTATED:
            self.rotated_at = time.monotonic()
            self.at_end = False
            self._state = FileState.ROTATED
        self.path = path  # and the table files it under its new name and state

    def known(self, offset: int) -> KnownFile:
        """:returns: what to remember of it, acknowledged up to ``offset``.

        Its first bytes are looked at again when fewer were read than lines
        were sent: a file opened empty and renamed before its first byte is
        not looked at again while read (rotated files are not checked for
        truncation), and a position saved with no fingerprint could not tell
        the file after a restart, which read it again from its start.
        """
        if len(self._head) < min(offset, FINGERPRINT_BYTES):
            try:
                self.refresh_head()
            except OSError:
                pass
        return KnownFile(
            self.fingerprint, len(self.head), offset, self.path, self.lineage, self.order, self.created, self.inode_born
        )

    def __repr__(self) -> str:
        return f"<FollowedFile {self.path or self.file.key} {self.state.value} at {self.read_pos}>"
