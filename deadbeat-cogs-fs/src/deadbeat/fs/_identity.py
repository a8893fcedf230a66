"""How a file is known: its identity, and a fingerprint of its first bytes.

The identity is the device and inode (:class:`FileId`). It is not enough alone:
once a file is deleted and closed, a new file may get the same inode number.
The fingerprint of the first bytes (up to :data:`FINGERPRINT_BYTES`) tells
them apart; it also finds the copy that ``copytruncate`` leaves behind
(:func:`starts_alike`). Two files starting with the same bytes (a banner
longer than the fingerprint) are told apart by the creation time of the inode
(:func:`birth_time`), where the file system keeps one (see
``KnownFile.inode_born``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import struct
from enum import Enum
from typing import NamedTuple

__all__ = ["FINGERPRINT_BYTES", "FileId", "Likeness", "birth_time", "birth_time_at", "fingerprint", "starts_alike"]

#: How many first bytes tell one file's content from another's.
FINGERPRINT_BYTES = 256


class FileId(NamedTuple):
    """A file's identity on this machine: device and inode."""

    dev: int
    ino: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileId:
        """:returns: the identity of the file ``st`` describes."""
        return cls(st.st_dev, st.st_ino)

    @classmethod
    def parse(cls, key: str) -> FileId:
        """:returns: the identity written as ``"DEV:INO"`` (the state file's keys)."""
        dev, _, ino = key.partition(":")
        return cls(int(dev), int(ino))

    @property
    def key(self) -> str:
        """The identity as text, ``"DEV:INO"``, as the state file keeps it."""
        return f"{self.dev}:{self.ino}"


def fingerprint(head: bytes) -> str:
    """:returns: a short digest of a file's first bytes, for the state file."""
    return hashlib.blake2b(head, digest_size=16).hexdigest()


def read_head(fd: int, length: int = FINGERPRINT_BYTES) -> bytes:
    """:returns: the first ``length`` bytes of the open file ``fd``."""
    return os.pread(fd, length, 0)


class Likeness(Enum):
    """How the first bytes of a possible copy compare with an original's."""

    #: The candidate starts with the whole known start of the original.
    SAME = "same"
    #: The candidate is still shorter and agrees so far (a copy in progress).
    PREFIX = "prefix"
    #: They differ.
    OTHER = "other"


def starts_alike(candidate: bytes, original: bytes) -> Likeness:
    """Compare the first bytes of a possible copy with those of an original.

    An empty original has no start to compare: whatever the candidate holds
    did not come from it (a copy of an empty file is empty, and holds nothing
    to read twice).
    """
    if not candidate or not original or original[: len(candidate)] != candidate[: len(original)]:
        return Likeness.OTHER
    if len(candidate) >= len(original) or len(candidate) >= FINGERPRINT_BYTES:
        return Likeness.SAME
    return Likeness.PREFIX


# Birth time. Files of one lineage (app.log, then app.log.1 ...) are read oldest
# first; their creation time says which is older whatever order the events were
# read in. Python has no os.statx, so the call is made through libc.
_STATX_BTIME = 0x800
_AT_EMPTY_PATH = 0x1000
_STATX_SIZE = 256
_BTIME = struct.Struct("=qI")  # tv_sec, tv_nsec of stx_btime, at offset 80
_BTIME_OFFSET = 80


def _load_statx() -> object | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.statx
    except (OSError, AttributeError):
        return None


_statx = _load_statx()


_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW = 0x100


def birth_time(fd: int) -> int | None:
    """:returns: when the open file ``fd`` was created, in nanoseconds, or ``None`` where unknown."""
    return _birth_time(fd, b"", _AT_EMPTY_PATH)


def birth_time_at(path: str) -> int | None:
    """:returns: when the file named ``path`` (a link itself, not followed) was created, in ns, or ``None``."""
    return _birth_time(_AT_FDCWD, os.fsencode(path), _AT_SYMLINK_NOFOLLOW)


def _birth_time(dirfd: int, path: bytes, flags: int) -> int | None:
    if _statx is None:
        return None
    buffer = ctypes.create_string_buffer(_STATX_SIZE)
    if _statx(dirfd, path, flags, _STATX_BTIME, buffer) != 0:  # type: ignore[operator]
        return None
    if not struct.unpack_from("=I", buffer.raw, 0)[0] & _STATX_BTIME:
        return None  # the file system does not keep it
    seconds, nanoseconds = _BTIME.unpack_from(buffer.raw, _BTIME_OFFSET)
    return int(seconds * 1_000_000_000 + nanoseconds)
