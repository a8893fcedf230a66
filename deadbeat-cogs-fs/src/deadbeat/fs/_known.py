"""What the tailer remembers of files, and the state file's section made from it.

Every file opened gets an entry (its acknowledged offset, fingerprint, name,
lineage); the state file keeps them so that a restart continues where the
train had finished. A daemon that runs for a year sees files come and go by
the million, so two rules keep the cost to what the live files need:

* an entry is dropped as soon as its file is drained, acknowledged to its end
  and gone from the names the patterns match (the tailer's ``_close`` and
  ``_forget_if_done``): nothing could ever resume it;
* the section written at each checkpoint is not rebuilt: the entries changed
  since the last checkpoint are written into it, and only those.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ._followed import KnownFile
from ._identity import FileId

__all__ = ["KnownBook"]


class KnownBook:
    """Identity -> :class:`KnownFile`, keeping the state file's section up to date by changes.

    Entries are changed through this book (:meth:`set`, :meth:`pop`,
    :meth:`touch` after changing one in place), so that :meth:`section` knows
    which ones to write again.
    """

    def __init__(self) -> None:
        self._entries: dict[FileId, KnownFile] = {}
        # The section as last given (each entry's JSON text), and the entries changed since.
        self._texts: dict[str, str] = {}
        self._changed: set[FileId] = set()

    def load(self, saved: dict[str, Any]) -> None:
        """Take the entries of a section read from the state file."""
        for key, entry in saved.get("files", {}).items():
            self.set(FileId.parse(key), KnownFile.from_json(entry))

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

    def set(self, file: FileId, known: KnownFile) -> None:
        """Remember ``known`` for ``file``."""
        self._entries[file] = known
        self._changed.add(file)

    def touch(self, file: FileId) -> None:
        """The entry of ``file`` was changed in place."""
        self._changed.add(file)

    def pop(self, file: FileId) -> KnownFile | None:
        """Forget ``file``. :returns: what was remembered, if anything."""
        self._changed.add(file)
        return self._entries.pop(file, None)

    def section(self) -> _Section:
        """:returns: the state file's section, ``{"files": {"DEV:INO": entry}}``, as of now.

        Only the entries changed since the last call are encoded again: a
        checkpoint costs what changed, and a save a join (see
        :class:`~deadbeat.fs._state.PreparedJSON`).
        """
        texts = self._texts
        for file in self._changed:
            known = self._entries.get(file)
            if known is None:
                texts.pop(file.key, None)
            else:
                texts[file.key] = json.dumps(known.to_json(), sort_keys=True)
        self._changed.clear()
        return _Section(texts)


class _Section:
    """A section whose JSON text is joined when saved (a :class:`~deadbeat.fs._state.PreparedJSON`).

    It reads the book's texts at save time: they change only at the next
    checkpoint, which gives the state file a new section anyway.
    """

    __slots__ = ("_texts",)

    def __init__(self, texts: dict[str, str]) -> None:
        self._texts = texts

    def json_text(self) -> str:
        """:returns: ``{"files": {...}}`` as JSON text."""
        return '{"files": {' + ", ".join(f'"{key}": {text}' for key, text in self._texts.items()) + "}}"
