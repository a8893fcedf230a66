"""Appending lines to a file or to standard output, never acknowledging what is not written.

Lines are encoded as they arrive (so a line the encoding cannot hold fails
alone, as any bad datum) and written at the train's ``flush``, one system call
per batch. A write that fails (a full disk, an I/O error) keeps what was not
written, blocks the train (nothing is acknowledged, the supplies pause) and is
tried again with growing pauses; once it goes through, the train goes on. If it
does not within ``retry_for`` seconds, or cannot ever (a closed pipe), the run
stops, failed, and what was not written is not acknowledged: a supply with a
state file reads it again at the next start.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
from typing import Any, Literal

from deadbeat import conf, movement

from ._state import StateFile

__all__ = ["LineFileDrain"]

log = logging.getLogger("deadbeat.fs")

FSYNC_POLICIES = ("never", "flush", "always")

#: Errors that no retry mends: the reader of a pipe is gone, the descriptor is.
_HOPELESS = {errno.EPIPE, errno.EBADF, errno.EINVAL}
_FIRST_PAUSE = 0.1
_LONGEST_PAUSE = 5.0


class LineFileDrain(movement.Cog):
    """Append one line per datum to a file (``"-"`` for standard output); the newline is added.

    Lines are collected and written in one system call per batch, when the
    train's ``flush`` comes after each batch, so an acknowledged input line is
    always in the file. A write that fails is never acknowledged: the train is
    held (supplies paused) while the write is tried again, and the run stops,
    failed, if it cannot be done within ``retry_for`` seconds. SIGHUP reopens the
    file (for logrotate). The datum goes on unchanged, so more cogs may follow.

    With a ``state_file`` shared with the tailer, the offset up to which the file
    holds acknowledged lines is saved together with the input positions; at start
    the file is cut back to that offset, so that after a SIGKILL the lines the
    tailer reads again are not written twice.

    :param esc: the Escapement (for SIGHUP); a Train is taken too.
    :param filename: the file to append to, or ``"-"``.
    :param line_getter: where the line is (callable or field path); a datum that
        is a string is written as it is. A datum without a line, whose line is
        not text, or whose line the encoding cannot hold goes to the error output.
    :param encoding: text encoding of the file.
    :param state_file: state shared with the supplies (see above); its directory is created if missing.
    :param fsync: ``"never"``, ``"flush"`` (after each acknowledged batch) or
        ``"always"`` (after every write).
    :param retry_for: seconds a failing write (a full disk) is tried again
        before the run stops, failed.
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
        retry_for: float = 60.0,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}, not {fsync!r}")
        esc = movement.escapement_of(esc)
        self.esc = esc
        self.filename = filename
        self.line_getter = line_getter
        self.encoding = encoding
        self.state_file = state_file
        self.fsync = fsync
        self.retry_for = retry_for
        self._get = movement.getter(line_getter)
        # Encoded lines not yet tried, one entry per list (or per datum).
        self._buffer: list[bytes] = []
        self._append = self._buffer.append
        # Bytes tried and not (all) written: they go first, whole, when writing works again.
        self._pending = b""
        self._blocked = False
        self._failing_since = 0.0
        self._pause = _FIRST_PAUSE
        self._retry: movement.Binding | None = None
        self._finishing = False
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
        line = data if isinstance(data, str) else self._line_of(data)
        # Encoded here, not when writing: a line the encoding cannot hold fails
        # now, alone, and goes to the error output; in the buffer it would fail
        # every write after it.
        self._append(line.encode(self.encoding))
        return (data,)

    def _line_of(self, data: Any) -> str:
        line = self._get(data)
        if not isinstance(line, str):
            raise TypeError(f"the line to write is {type(line).__name__}, not text")
        return line

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Collect a list of lines at once; the same as one call per datum.

        Nothing is collected unless every line of the list is text the encoding
        can hold; otherwise the train gives the list datum by datum, and only the
        bad data go to the error output.
        """
        if data:
            try:
                joined = "\n".join(data)
            except TypeError:
                # Not all text: every line is found first (at C speed while the
                # getter is), so that a datum without one raises before anything
                # is collected.
                try:
                    joined = "\n".join(map(self._get, data))
                except Exception:  # noqa: BLE001 - found again below, with the reason
                    joined = "\n".join(map(self._line_of_any, data))
            self._append(joined.encode(self.encoding))
        return data

    def _line_of_any(self, data: Any) -> str:
        return data if isinstance(data, str) else self._line_of(data)

    def _write(self) -> bool:
        """Write what is pending and collected. :returns: whether all of it is in the file now."""
        buffer = self._buffer
        if len(buffer) == 1 and not self._pending:
            # One list's lines (call_batch), the usual case: written with the
            # newline beside them, sparing a copy of the whole text.
            chunk = buffer[0]
            buffer.clear()  # cleared, not replaced: __call__ holds the bound append of this list
            try:
                written = os.writev(self._fd, (chunk, b"\n"))
            except OSError as exc:
                self._pending = chunk + b"\n"
                self._stall(exc)
                return False
            if written == len(chunk) + 1:
                return self._written()
            self._pending = (chunk + b"\n")[written:]
        elif buffer:
            self._pending += b"\n".join(buffer) + b"\n"
            buffer.clear()
        view = memoryview(self._pending)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self._pending = bytes(view)
            self._stall(exc)
            return False
        self._pending = b""
        return self._written()

    def _written(self) -> bool:
        if self.fsync == "always" and self._fd != 1:
            os.fsync(self._fd)
        return True

    def _stall(self, exc: OSError) -> None:
        """A write failed: hold the train, and try again later (or stop, if no retry can help)."""
        name = "standard output" if self._fd == 1 else self.filename
        if exc.errno in _HOPELESS:
            self.esc.fail(self, f"{name}: cannot write ({exc.strerror}); {len(self._pending)} bytes not written")
            self.esc.block(self)
            self._blocked = True
            self.esc.shutdown()
            return
        if not self._blocked:
            self._blocked = True
            self._failing_since = time.monotonic()
            self._pause = _FIRST_PAUSE
            log.error("%s: cannot write (%s); holding the data and trying again", name, exc.strerror)
            self.esc.block(self)
        if self._finishing:
            return  # finish reports what is left; no more tries
        if time.monotonic() - self._failing_since > self.retry_for:
            self.esc.fail(
                self,
                f"{name}: cannot write ({exc.strerror}) for {self.retry_for:g} s; stopping;"
                f" {len(self._pending)} bytes not written are not acknowledged",
            )
            self.esc.shutdown()
            return
        if self._retry is None:
            self._retry = self.esc.after(self._pause, self._try_again)
            self._pause = min(self._pause * 2, _LONGEST_PAUSE)

    def _try_again(self) -> None:
        self._retry = None
        if self._write():
            self._blocked = False
            log.info("%s: writing again", self.filename)
            self.esc.unblock(self)

    def flush(self) -> None:
        """Write what is collected (the train sends this after every batch); while failing, keep it."""
        if self._blocked:
            return  # the retry writes it, in order
        if self._write() and self.fsync == "flush" and self._fd != 1:
            os.fsync(self._fd)

    def batch_done(self, batch_id: Any) -> None:
        """Batches are acknowledged: everything in the file so far belongs to them.

        The ``flush`` before this wrote the buffer, and acknowledgements come
        only when nothing is held or blocked, so the file's size is the offset
        to pair with the positions the supplies note now.
        """
        if self._state is not None and self._fd > 2:
            st = os.fstat(self._fd)
            self._state.set(self._section, {"dev": st.st_dev, "ino": st.st_ino, "offset": st.st_size})

    def reopen(self) -> None:
        """Write out, close and open the file again (SIGHUP, after logrotate moved it)."""
        if not self._blocked:
            self._write()
        if self._fd > 2:
            os.close(self._fd)
            self._open()
            log.info("%s: reopened", self.filename)

    def finish(self) -> None:
        """Write what is collected (one last try if writing failed) and stop listening for SIGHUP."""
        self._finishing = True
        if self._retry is not None:
            self.esc.dequeue(self._retry)
            self._retry = None
        if (self._buffer or self._pending) and self._write() and self._blocked:
            self._blocked = False
            self.esc.unblock(self)
        if self._pending:
            self.esc.fail(self, f"{self.filename}: {len(self._pending)} bytes could not be written; not acknowledged")
        if self._fd > 2:
            self.esc.signal_unregister(signal.SIGHUP, self.reopen)

    def done(self) -> None:
        """Close the file (standard output stays open) and save the state."""
        if not self._blocked:
            self._write()
        if self._fd > 2:
            os.close(self._fd)
            self._fd = -1
        if self._state is not None:
            self._state.release()
            self._state = None
