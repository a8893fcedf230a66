"""The files this process writes (``fs.write``): never taken by ``fs.tail`` for a copy of a file it reads.

A copytruncate copy is recognised by its content: it starts as the truncated
file did. An output written from that file starts the same way, line for line,
and taken for the copy it was read back into itself, without end. The
identities of the files open for writing are kept here, for the life of the
process (every pipeline of it: outputs and tailers need not share a train);
at a start, before the outputs open their files, a state file shared with
them names the files they wrote.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from ._identity import FileId

__all__ = ["SECTION_PREFIX", "forget_output", "is_output", "note_output", "outputs_in"]

#: How an output's section in a state file begins (then its absolute path).
SECTION_PREFIX = "fs.write "

#: Identity of each file open for writing, with how many writers have it open.
_OPEN: Counter[FileId] = Counter()


def note_output(file: FileId) -> None:
    """``file`` is open for writing."""
    _OPEN[file] += 1


def forget_output(file: FileId) -> None:
    """``file`` is closed by one of its writers."""
    if _OPEN[file] <= 1:
        _OPEN.pop(file, None)
    else:
        _OPEN[file] -= 1


def is_output(file: FileId) -> bool:
    """:returns: whether this process has ``file`` open for writing."""
    return file in _OPEN


def outputs_in(sections: Mapping[str, Any]) -> set[FileId]:
    """:returns: the files that the outputs sharing a state file (its ``sections``) wrote last."""
    found = set()
    for name, value in sections.items():
        if name.startswith(SECTION_PREFIX) and isinstance(value, Mapping):
            dev, ino = value.get("dev"), value.get("ino")
            if type(dev) is int and type(ino) is int:
                found.add(FileId(dev, ino))
    return found
