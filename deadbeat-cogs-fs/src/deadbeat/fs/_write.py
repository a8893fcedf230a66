"""Appending lines to a file or to standard output."""

from __future__ import annotations

import logging
import os
import signal
from typing import Any, Literal

from deadbeat import conf, movement

from ._io import write_all
from ._state import StateFile

__all__ = ["LineFileDrain"]

log = logging.getLogger("deadbeat.fs")

FSYNC_POLICIES = ("never", "flush", "always")


class LineFileDrain(movement.Cog):
    """Append one line per datum to a file (``"-"`` for standard output).

    Lines are collected and written in one system call per batch, when the
    train's ``flush`` comes after each batch, so an acknowledged input line is
    always in the file. SIGHUP reopens the file (for logrotate). The datum goes on
    unchanged, so more cogs may follow.

    With a ``state_file`` shared with the tailer, the offset up to which the file
    holds acknowledged lines is saved together with the input positions; at start
    the file is cut back to that offset, so that after a SIGKILL the lines the
    tailer reads again are not written twice.

    :param esc: the Escapement (for SIGHUP).
    :param filename: the file to append to, or ``"-"``.
    :param line_getter: where the line is (callable or field path); a datum that
        is a string is written as it is. A datum without a line, or whose line
        is not text, goes to the error output.
    :param encoding: text encoding of the file.
    :param state_file: state shared with the supplies (see above).
    :param fsync: ``"never"``, ``"flush"`` (after each acknowledged batch) or
        ``"always"`` (after every write).
    """

    one_to_one = True

    config_name = "write"

    def __init__(
        self,
        esc: movement.Escapement,
        filename: conf.Path = "-",
        line_getter: movement.FieldGetter = "line",
        encoding: str = "utf-8",
        state_file: conf.Path | None = None,
        fsync: Literal["never", "flush", "always"] = "never",
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}, not {fsync!r}")
        self.esc = esc
        self.filename = filename
        self.line_getter = line_getter
        self.encoding = encoding
        self.state_file = state_file
        self.fsync = fsync
        self._get = movement.getter(line_getter)
        self._buffer: list[str] = []
        self._append = self._buffer.append
        self._state: StateFile | None = None
        self._section = f"fs.write {os.path.abspath(filename)}"
        self._fd = -1
        if filename == "-":
            self._fd = 1
        else:
            if state_file:
                self._state = StateFile.acquire(esc, state_file)
            self._open()
            self._trim_to_checkpoint()
            esc.signal_register(signal.SIGHUP, self.reopen)

    def _open(self) -> None:
        self._fd = os.open(self.filename, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def _trim_to_checkpoint(self) -> None:
        if self._state is None:
            return
        saved = self._state.get(self._section)
        if not saved:
            return
        st = os.fstat(self._fd)
        if (st.st_dev, st.st_ino) != (saved.get("dev"), saved.get("ino")):
            log.warning(
                "%s: not the file of the last checkpoint (rotated?); lines written after it may repeat",
                self.filename,
            )
            return
        offset = int(saved.get("offset", 0))
        if st.st_size > offset:
            os.ftruncate(self._fd, offset)
            log.info("%s: cut %d bytes written after the last checkpoint", self.filename, st.st_size - offset)

    def __call__(self, data: Any) -> tuple[Any, ...]:
        # The hot path: one append. The buffer holds at most what one send of
        # the train carries (a supply's batch), as flush follows every send.
        if isinstance(data, str):
            self._append(data)
        else:
            self._append(self._line_of(data))
        return (data,)

    def _line_of(self, data: Any) -> str:
        line = self._get(data)
        if not isinstance(line, str):
            # Caught here, the datum goes to the error output; in the buffer it
            # would fail the whole write.
            raise TypeError(f"the line to write is {type(line).__name__}, not text")
        return line

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Collect a list of lines at once; the same as one call per datum."""
        if data:
            try:
                joined = "\n".join(data)
            except TypeError:
                # Not all text: every line is found first, so that a datum
                # without one raises before anything is collected.
                try:
                    joined = "\n".join(map(self._get, data))
                except Exception:  # noqa: BLE001 - found again below, with the reason
                    line_of = self._line_of
                    joined = "\n".join([datum if isinstance(datum, str) else line_of(datum) for datum in data])
            self._append(joined)
        return data

    def _write(self) -> None:
        if not self._buffer:
            return
        buffer = self._buffer
        if len(buffer) == 1:
            # One list's lines (call_batch): written with the newline beside
            # them, sparing a copy of the whole text.
            parts: tuple[bytes, ...] = (buffer[0].encode(self.encoding), b"\n")
        else:
            parts = (("\n".join(buffer) + "\n").encode(self.encoding),)
        # Cleared, not replaced: __call__ holds the bound append of this list.
        buffer.clear()
        write_all(self._fd, *parts)
        if self.fsync == "always" and self._fd != 1:
            os.fsync(self._fd)

    def flush(self) -> None:
        """Write what is collected (the train sends this after every batch)."""
        self._write()
        if self.fsync == "flush" and self._fd != 1:
            os.fsync(self._fd)

    def batch_done(self, batch_id: Any) -> None:
        """Batches are acknowledged: everything in the file so far belongs to them.

        The ``flush`` before this wrote the buffer, and acknowledgements come
        only when nothing is held, so the file's size is the offset to pair with
        the positions the supplies note now.
        """
        if self._state is not None and self._fd > 2:
            st = os.fstat(self._fd)
            self._state.set(self._section, {"dev": st.st_dev, "ino": st.st_ino, "offset": st.st_size})

    def reopen(self) -> None:
        """Write out, close and open the file again (SIGHUP, after logrotate moved it)."""
        self._write()
        if self._fd > 2:
            os.close(self._fd)
            self._open()
            log.info("%s: reopened", self.filename)

    def finish(self) -> None:
        """Write what is collected and stop listening for SIGHUP."""
        self._write()
        if self._fd > 2:
            self.esc.signal_unregister(signal.SIGHUP, self.reopen)

    def done(self) -> None:
        """Close the file (standard output stays open) and save the state."""
        self._write()
        if self._fd > 2:
            os.close(self._fd)
            self._fd = -1
        if self._state is not None:
            self._state.release()
            self._state = None
