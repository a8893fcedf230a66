"""Reading files once, start to end, as one datum per line."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, BinaryIO

from deadbeat import movement

__all__ = ["FileReaderSupply"]

log = logging.getLogger("deadbeat.fs")


class FileReaderSupply(movement.Supply):
    """Read files from start to end, one datum per line, then stop.

    Each datum is a dict; ``line_setter`` puts the line (without its newline)
    into it and ``id_setter`` an id of the form ``FILE:LINE``. The files are read
    in batches, one batch per turn of the event loop, so other cogs and signals
    are served in between; when the last file is read, the supply unbinds and,
    if nothing else is bound, the run ends.

    :param esc: the Escapement.
    :param filenames: files to read, in order.
    :param encoding: text encoding of the files.
    :param batch: lines per turn of the event loop.
    :param line_setter: where the line goes (callable or field path).
    :param id_setter: where the event id goes (callable or field path).
    """

    def __init__(
        self,
        esc: movement.Escapement,
        filenames: Sequence[str],
        encoding: str = "utf-8",
        batch: int = 1000,
        line_setter: Any = "line",
        id_setter: Any = "id",
    ) -> None:
        if isinstance(filenames, str):
            raise TypeError("filenames must be a list of paths, not one string")
        self.esc = esc
        self.filenames = list(filenames)
        self.encoding = encoding
        self.batch = batch
        self.line_setter = line_setter
        self.id_setter = id_setter
        self._set_line = movement.setter(line_setter)
        self._set_id = movement.setter(id_setter)
        self._pending = list(self.filenames)
        self._handle: BinaryIO | None = None
        self._name = ""
        self._line_no = 0
        self._turn: movement.Binding | None = esc.enqueue(self.read_batch)

    def _open_next(self) -> bool:
        while self._pending:
            path = self._pending.pop(0)
            try:
                self._handle = open(path, "rb")  # noqa: SIM115 - kept open across turns
            except OSError as exc:
                log.error("%s: cannot read: %s", path, exc.strerror)
                continue
            self._name = os.path.basename(path)
            self._line_no = 0
            return True
        return False

    def read_batch(self) -> list[dict[str, Any]]:
        """Read up to ``batch`` lines; they go down the train from here."""
        out: list[dict[str, Any]] = []
        while len(out) < self.batch:
            if self._handle is None and not self._open_next():
                self._turn = None
                return out
            assert self._handle is not None
            raw = self._handle.readline()
            if not raw:
                self._handle.close()
                self._handle = None
                continue
            self._line_no += 1
            try:
                text = raw.decode(self.encoding)
            except UnicodeDecodeError as exc:
                log.warning(
                    "%s:%d: bytes not valid %s at offset %d; replaced",
                    self._name,
                    self._line_no,
                    self.encoding,
                    exc.start,
                )
                text = raw.decode(self.encoding, "replace")
            datum: dict[str, Any] = {}
            datum = self._set_id(datum, f"{self._name}:{self._line_no}")
            out.append(self._set_line(datum, text.rstrip("\r\n")))
        self._turn = self.esc.enqueue(self.read_batch)
        return out

    def finish(self) -> None:
        """Stop reading; what was not read yet stays unread."""
        if self._turn is not None:
            self.esc.dequeue(self._turn)
            self._turn = None

    def done(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
