"""What the tailer remembers of files, and the state file's section made from it.

Every file opened gets an entry (its acknowledged offset, fingerprint, name,
lineage); the state file keeps them so that a restart continues where the
train had finished. A daemon that runs for a year sees files come and go by
the million, so two rules keep the cost to what the live files need:

* an entry is dropped as soon as its file is drained, acknowledged to its end
  and gone from the names the patterns match (the tailer's ``_close`` and
  ``_forget_if_done``): nothing could ever resume it;
* the section written at each checkpoint is not rebuilt: the entries changed
  since the last checkpoint are written into it, and only those;
* a file opened new and not judged yet (it may be the copy ``copytruncate``
  makes of a followed file, see ``FileWatcherSupply._copy_verdict``) has an
  entry that is not written: saved at offset 0, a copy left unread (or read on
  from where its original was) was read whole after a restart that came before
  the next save. Not saved, the restart judges it again;
* a lineage none of whose files is left loses its mark too (see below), at
  start and while running, so that files coming and going under names of their
  own (``job-1234.log``) leave nothing behind.

A file forgotten leaves a mark on its lineage instead (:class:`LineageMark`):
its creation time, and its last change where the file system keeps no
creation time. After a restart, a file of the lineage's rotation series that
no entry names is read if it was created after the mark (made and rotated
while we were stopped), and left alone if not: it was read and forgotten, or
it was there before we ever followed the lineage. Without the mark, the files
read and forgotten looked like files never seen, and a restart read them again.

A compressed file is born when it is compressed, whatever the age of what it
holds, so its creation time says nothing. The mark also keeps the content of
the files it covers (the fingerprint of their first bytes, and how far they
were read): ``app.log.2.gz``, made today of a file read and forgotten
yesterday, starts with that content, and is left alone; one made of a file
never seen is read. A known file lost sight of (deleted while we were stopped,
its compressed copy not there yet) leaves its content there too, and its copy
is read on from where it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ._followed import KnownFile
from ._identity import FileId, fingerprint

__all__ = ["KnownBook", "LineageMark", "ReadContent"]

#: The fingerprint of a content's first bytes, and how many bytes it covers.
Fingerprint = tuple[str, int]
#: A content as a mark remembers it: fingerprint, bytes it covers, offset read to.
ReadContent = tuple[str, int, int]

#: How many contents of forgotten files a lineage remembers (a restart forgets
#: those no file of the series holds any more).
CONTENTS_REMEMBERED = 1024


@dataclass
class LineageMark:
    """How far a lineage's files have been read and forgotten: by age, and by content.

    :ivar born: the creation time (ns) of the newest file forgotten, where the
        file system keeps creation times.
    :ivar mtime: the last change (ns) of the most recently changed file
        forgotten; ``None`` while the mark holds contents only (of files lost
        sight of, whose age is not known).
    :ivar contents: how far the content starting with a fingerprint was read
        (the whole of a file forgotten; the acknowledged part of one lost sight
        of), oldest first: a compressed copy of it is then left alone, or read on.
    """

    born: int | None = None
    mtime: int | None = None
    contents: dict[Fingerprint, int] = field(default_factory=dict)

    def raise_to(self, born: int | None, mtime: int | None, content: ReadContent | None = None) -> bool:
        """Take a file forgotten into the mark. :returns: whether the mark changed.

        :param content: the fingerprint of what it held, how many bytes that
            covers, and how far it was read.
        """
        moved = False
        if born is not None and (self.born is None or born > self.born):
            self.born, moved = born, True
        if mtime is not None and (self.mtime is None or mtime > self.mtime):
            self.mtime, moved = mtime, True
        if content is not None and content[1] > 0:  # an empty start would match every file
            digest, length, offset = content
            if self.contents.get((digest, length)) != offset:
                self.contents.pop((digest, length), None)  # to the end: the newest
                self.contents[digest, length] = offset
                while len(self.contents) > CONTENTS_REMEMBERED:
                    del self.contents[next(iter(self.contents))]
                moved = True
        return moved

    @property
    def placeholder(self) -> bool:
        """Whether the mark covers no file: given to a lineage before its first line goes out, at the first start
        or when first seen while running (see ``FileWatcherSupply._mark_following_began``)."""
        return self.born is None and self.mtime == 0 and not self.contents

    @property
    def timed(self) -> bool:
        """Whether the mark says which files are newer than those it covers (:meth:`newer`)."""
        return self.mtime is not None

    def newer(self, born: int | None, mtime: int) -> bool:
        """Whether a file created at ``born`` and changed at ``mtime`` is newer than the mark (never forgotten)."""
        if born is not None and self.born is not None:
            return born > self.born
        return self.mtime is None or mtime > self.mtime

    def read_to(self, head: bytes) -> int | None:
        """:returns: how far content starting with ``head`` was read, if it is one the mark keeps."""
        for length in {length for _, length in self.contents}:
            if len(head) >= length:
                offset = self.contents.get((fingerprint(head[:length]), length))
                if offset is not None:
                    return offset
        return None

    def keep_only(self, heads: list[bytes]) -> bool:
        """Forget the contents that none of ``heads`` (the first bytes of the files there now) starts with.

        :returns: whether any was forgotten.
        """
        lengths = {length for _, length in self.contents}
        present = {(fingerprint(head[:n]), n) for head in heads for n in lengths if len(head) >= n}
        gone = [key for key in self.contents if key not in present]
        for key in gone:
            del self.contents[key]
        return bool(gone)

    def to_json(self) -> dict[str, Any]:
        """:returns: the mark as the state file keeps it."""
        contents = [[digest, length, offset] for (digest, length), offset in self.contents.items()]
        return {"born": self.born, "mtime": self.mtime, "contents": contents}

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> LineageMark:
        """:returns: a mark read back from the state file."""
        born, mtime = entry.get("born"), entry.get("mtime")
        contents = {(str(f), int(n)): int(offset) for f, n, offset in entry.get("contents", [])}
        return cls(None if born is None else int(born), None if mtime is None else int(mtime), contents)


def _read_entry(key: str, entry: Any) -> tuple[FileId, KnownFile]:
    known = KnownFile.from_json(entry)
    if known.offset < 0 or known.fingerprint_length < 0:
        raise ValueError("a negative offset or length")
    return FileId.parse(key), known


def _read_mark(lineage: str, entry: Any) -> tuple[str, LineageMark]:
    return lineage, LineageMark.from_json(entry)


class KnownBook:
    """Identity -> :class:`KnownFile`, keeping the state file's section up to date by changes.

    Entries are changed through this book (:meth:`set`, :meth:`pop`,
    :meth:`touch` after changing one in place), so that :meth:`section` knows
    which ones to write again.
    """

    def __init__(self) -> None:
        self._entries: dict[FileId, KnownFile] = {}
        # The section as last given (each entry's JSON text), and the entries changed since.
        self._texts: dict[str, str | dict[str, Any]] = {}
        self._changed: set[FileId] = set()
        #: Entries kept out of the section (files not judged yet; see :meth:`set`).
        self._unsaved: set[FileId] = set()
        #: Lineage -> the mark its forgotten files left, and the texts of the marks.
        self._marks: dict[str, LineageMark] = {}
        self._mark_texts: dict[str, str] = {}
        self._marks_changed: set[str] = set()
        #: Lineages whose mark took a file in since the tailer last tidied the
        #: marks (``FileWatcherSupply._tidy_marks``): their contents are looked at then.
        self.untidy: set[str] = set()

    def load(self, saved: dict[str, Any]) -> None:
        """Take the entries and marks of a section read from the state file; all of them, or none.

        :raises ValueError: naming the entry, when the section is not what this
            version writes (edited by hand, damaged): nothing is taken then.
        """
        if not isinstance(saved, dict):
            raise ValueError(f"a {type(saved).__name__} where an object was expected")
        files, lineages = saved.get("files", {}), saved.get("lineages", {})
        if not isinstance(files, dict) or not isinstance(lineages, dict):
            raise ValueError("'files' and 'lineages' must be objects")
        entries: list[tuple[FileId, KnownFile]] = []
        marks: list[tuple[str, LineageMark]] = []
        for where, items, read in (("files", files, _read_entry), ("lineages", lineages, _read_mark)):
            for key, entry in items.items():
                try:
                    (entries if where == "files" else marks).append(read(key, entry))  # type: ignore[arg-type]
                except (TypeError, ValueError, LookupError, AttributeError) as exc:
                    raise ValueError(f"{where}: {key!r}: {exc or type(exc).__name__}") from None
        for file, known in entries:
            self.set(file, known)
        for lineage, mark in marks:
            self._marks[lineage] = mark
            self._marks_changed.add(lineage)

    def mark(self, lineage: str) -> LineageMark | None:
        """:returns: the mark of ``lineage``, if a file of it was ever forgotten."""
        return self._marks.get(lineage)

    def marks(self) -> dict[str, LineageMark]:
        """:returns: every lineage's mark."""
        return dict(self._marks)

    def mark_forgotten(
        self, lineage: str, born: int | None, mtime: int | None, content: ReadContent | None = None
    ) -> None:
        """A file of ``lineage``, created at ``born``, last changed at ``mtime``, was read and forgotten.

        :param content: what it held, which a compressed copy of it would hold,
            and how far that was read (see :meth:`LineageMark.raise_to`).
        """
        mark = self._marks.get(lineage)
        if mark is None:
            mark = self._marks[lineage] = LineageMark()
        if mark.raise_to(born, mtime, content):
            self._marks_changed.add(lineage)
            self.untidy.add(lineage)

    def mark_changed(self, lineage: str) -> None:
        """The mark of ``lineage`` was changed in place."""
        self._marks_changed.add(lineage)

    def drop_mark(self, lineage: str) -> None:
        """Forget the mark of a lineage none of whose files is left."""
        if self._marks.pop(lineage, None) is not None:
            self._marks_changed.add(lineage)

    @property
    def changed(self) -> bool:
        """Whether entries or marks changed since the last :meth:`section`."""
        return bool(self._changed or self._marks_changed)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, file: object) -> bool:
        return file in self._entries

    def __iter__(self) -> Iterator[FileId]:
        return iter(list(self._entries))

    def get(self, file: FileId) -> KnownFile | None:
        """:returns: the entry of ``file``, if any."""
        return self._entries.get(file)

    def values(self) -> list[KnownFile]:
        """:returns: every entry."""
        return list(self._entries.values())

    def items(self) -> list[tuple[FileId, KnownFile]]:
        """:returns: every (identity, entry)."""
        return list(self._entries.items())

    def set(self, file: FileId, known: KnownFile, saved: bool = True) -> None:
        """Remember ``known`` for ``file``.

        :param saved: whether the state file keeps it; ``False`` for a file not
            judged yet (maybe a copy of another, see the module docstring): kept
            out of the section until it is set again, saved.
        """
        self._entries[file] = known
        self._changed.add(file)
        if saved:
            self._unsaved.discard(file)
        else:
            self._unsaved.add(file)

    def saved(self, file: FileId) -> bool:
        """Whether the state file keeps the entry of ``file`` (it is known, and judged: see :meth:`set`)."""
        return file in self._entries and file not in self._unsaved

    def touch(self, file: FileId) -> None:
        """The entry of ``file`` was changed in place."""
        self._changed.add(file)

    def pop(self, file: FileId) -> KnownFile | None:
        """Forget ``file``. :returns: what was remembered, if anything."""
        self._changed.add(file)
        self._unsaved.discard(file)
        return self._entries.pop(file, None)

    def section(self) -> _Section:
        """:returns: the state file's section, ``{"files": {"DEV:INO": entry}, "lineages": {...}}``, as of now.

        Only the entries changed since the last call are encoded again: a
        checkpoint costs what changed, and a save a join (see
        :class:`~deadbeat.fs._state.PreparedJSON`).
        """
        texts = self._texts
        for file in self._changed:
            known = self._entries.get(file)
            if known is None or file in self._unsaved:
                texts.pop(file.key, None)
            else:
                # A snapshot of the entry as of now, encoded when saved: a
                # checkpoint comes with every batch, a save at most once a second.
                texts[file.key] = known.to_json()
        self._changed.clear()
        for lineage in self._marks_changed:
            mark = self._marks.get(lineage)
            if mark is None:
                self._mark_texts.pop(lineage, None)
            else:
                self._mark_texts[lineage] = json.dumps(mark.to_json(), sort_keys=True)
        self._marks_changed.clear()
        return _Section(texts, self._mark_texts)


class _Section:
    """A section whose JSON text is joined when saved (a :class:`~deadbeat.fs._state.PreparedJSON`).

    It reads the book's texts at save time: they change only at the next
    checkpoint, which gives the state file a new section anyway.
    """

    __slots__ = ("_texts", "_marks")

    def __init__(self, texts: dict[str, str | dict[str, Any]], marks: dict[str, str]) -> None:
        self._texts = texts
        self._marks = marks

    def json_text(self) -> str:
        """:returns: ``{"files": {...}, "lineages": {...}}`` as JSON text."""
        texts = self._texts
        for key, entry in texts.items():
            if not isinstance(entry, str):
                # Encoded once: the text stands for this snapshot until a checkpoint replaces it.
                texts[key] = json.dumps(entry, sort_keys=True)
        files = ", ".join(f'"{key}": {text}' for key, text in texts.items())
        marks = ", ".join(f"{json.dumps(lineage)}: {text}" for lineage, text in self._marks.items())
        return '{"files": {' + files + '}, "lineages": {' + marks + "}}"
