"""Appending lines to a file or to standard output, never acknowledging what is not written.

Lines are encoded as they arrive (so a line the encoding cannot hold fails
alone, as any bad datum) and written at the train's ``flush``, one system call
per batch. A write that fails (a full disk, an I/O error) keeps what was not
written, blocks the train (nothing is acknowledged, the supplies pause) and is
tried again with growing pauses; once it goes through, the train goes on. If it
does not within ``retry_for`` seconds, or cannot ever (a closed pipe, a
read-only file system, no permission, a file at its size limit, a full device
such as ``/dev/full``), the run stops, failed, at once in the latter cases, and
what was not written is not acknowledged: a supply with a state file reads it
again at the next start. A line written in part is cut off the file then.

A slow reader never stalls the loop. Writes to a FIFO, a pipe, a socket or a
terminal (including standard output when it is one) are non-blocking: when the
reader is behind, what it has not taken is kept, the train is held (its
supplies stop reading: backpressure, not buffering) and the rest goes out when
epoll says there is room. Signals and timers go on meanwhile, so SIGTERM starts
the shutdown at once; the shutdown then waits at most ``shutdown_timeout``
seconds for the reader, says so, and leaves what it did not take
unacknowledged. Standard output is reopened (through ``/proc/self/fd/1``) for
this, so that the non-blocking mode is ours alone and not that of the shell or
the process that shares the pipe; where that cannot be done (a socket), it is
written as it is, blocking.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import select
import signal
import stat
import time
from collections.abc import Coroutine, Mapping
from typing import Annotated, Any, Literal

from deadbeat import conf, movement
from deadbeat.daemon import UnsafePath, open_directory, others_may_write, trusted_owner

from ._identity import FINGERPRINT_BYTES, FileId, birth_time, fingerprint
from ._outputs import SECTION_PREFIX, forget_output, note_output
from ._paths import UnsafeOutput
from ._state import StateFile, state_file_doubts, state_file_problems

__all__ = ["LineFileDrain"]

log = logging.getLogger("deadbeat.fs")

FSYNC_POLICIES = ("never", "flush", "always")

#: Errors that no retry mends: the reader of a pipe is gone, the descriptor is, the
#: file system is read-only, writing is not allowed, the file is at its size limit.
_HOPELESS = {errno.EPIPE, errno.EBADF, errno.EINVAL, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
_FIRST_PAUSE = 0.1
#: How long a file found not ending with a newline is given to finish another process's write.
_SETTLE_SECONDS = 0.05
_LONGEST_PAUSE = 5.0


class LineFileDrain(movement.Cog):
    """Append one line per datum to a file (``"-"`` for standard output); the newline is added.

    Lines are collected and written in one system call per batch, when the
    train's ``flush`` comes after each batch, so an acknowledged input line is
    always in the file. A write that fails is never acknowledged: the train is
    held (supplies paused) while the write is tried again, and the run stops,
    failed, if it cannot be done within ``retry_for`` seconds. SIGHUP reopens the
    file (for logrotate); while writing is held, once what is held is written
    and acknowledged. A file deleted while written to (``rm``, or moved to
    another disk) is noticed before the next batch goes in, and a new one is
    made under its name (a line written in part to the old one is written
    again whole); while it cannot be made (its directory is gone), writing is
    held as for a full disk. The datum goes on unchanged, so more cogs may follow.

    With a ``state_file`` shared with the tailer, the offset up to which the file
    holds acknowledged lines is saved together with the input positions; at start
    the file is cut back to that offset, so that after a SIGKILL the lines the
    tailer reads again are not written twice. The same holds across logrotate:
    SIGHUP saves the new file's checkpoint at once, and a run killed after the
    file was renamed but before it reopened finds it in its directory by its
    inode and cuts it back (a file compressed or moved elsewhere by then cannot
    be: that is logged, and lines written to it after the checkpoint may repeat).
    A file is cut only if it is the checkpoint's own: its creation time and the
    fingerprint of its first bytes, saved with the offset, must agree, so that a
    new file given the inode number of a deleted one is left alone.

    The file is never written through a link another account could have
    planted: a symbolic link at its name or on the way to it is refused where
    another user owns it or it is in a directory others can write to (or
    another user owns); a link of root's or ours where nobody else may write
    (``/dev/stderr``) is followed. So is an existing file another user owns in a
    directory others can write to refused (root's and our own are written to).
    The run does not start (``deadbeat check`` says it first); at SIGHUP,
    writing goes on to the file open before and the run fails.

    Its figures for ``/metrics`` and ``--stats`` (``metrics()``): lines and
    bytes written, lines and bytes waiting to be written (``pending``), failed
    writes, retries and the time of the last failure.

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
    :param shutdown_timeout: at shutdown, seconds to wait for a slow reader (a
        FIFO, a pipe) to take what is written; then the rest is left
        unacknowledged (read again at the next start, with a state file) and the
        run ends, failed, saying so. Example: ``shutdown_timeout = 5``.
    """

    one_to_one = True

    config_name = "write"

    @staticmethod
    def missing_requirements(params: Mapping[str, Any]) -> list[str]:
        """For ``deadbeat check``: an output file or a state file the run would refuse.

        The output: a link or another user's file where the run writes through
        none (see :meth:`_open`); the state file: in use, another version's.
        """
        filename, state = params.get("filename", "-"), params.get("state_file")
        problems = _output_problems(filename) if isinstance(filename, str) else []
        if isinstance(state, str) and state:
            problems += state_file_problems(state)
        return problems

    @staticmethod
    def check_warnings(params: Mapping[str, Any]) -> list[str]:
        """For ``deadbeat check``: a state file the run cannot read, and starts without."""
        state = params.get("state_file")
        return state_file_doubts(state) if isinstance(state, str) and state else []

    def __init__(
        self,
        esc: movement.Escapement,
        filename: conf.Path = "-",
        line_getter: movement.FieldGetter = "line",
        encoding: conf.Encoding = "utf-8",
        state_file: conf.Path | None = None,
        fsync: Literal["never", "flush", "always"] = "never",
        retry_for: Annotated[float, conf.Range(0)] = 60.0,
        shutdown_timeout: Annotated[float, conf.Range(0)] = 10.0,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}, not {fsync!r}")
        conf.require_encoding(encoding)
        esc = movement.escapement_of(esc)
        self.esc = esc
        self.filename = filename
        self.line_getter = line_getter
        self.encoding = encoding
        self.state_file = state_file
        self.fsync = fsync
        self.retry_for = retry_for
        if not isinstance(shutdown_timeout, (int, float)) or shutdown_timeout < 0:
            raise ValueError(f"shutdown_timeout must be a number of seconds, 0 or more, not {shutdown_timeout!r}")
        self.shutdown_timeout = shutdown_timeout
        # The reader of a FIFO or pipe is behind: waiting for epoll to say there is room.
        self._waiting = False
        self._room: movement.Binding | None = None
        self._drained: asyncio.Future[None] | None = None
        self._said_slow = False
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
        #: A write failed in a way no retry mends (see _HOPELESS): nothing more is tried.
        self._hopeless = False
        #: SIGHUP came while data were held (blocked, or a slow reader): reopen once they are acknowledged.
        self._reopen_wanted = False
        #: The file open was deleted (its name is gone): the next write goes to a new one (see _write).
        self._deleted = False
        #: Whether the file open is a regular file (only such a file is looked at for deletion).
        self._regular = False
        # Figures (see metrics): lines collected and not yet all written, lines
        # and bytes written, failed writes, retries, when the last one failed.
        self._unwritten_lines = 0
        self._written_lines = 0
        self._bytes_written = 0
        self._write_errors = 0
        self._retries = 0
        self._last_error = 0.0
        self._state: StateFile | None = None
        #: The size at start is set in the state but not saved yet (see _save_opening).
        self._opening_unsaved = False
        self._section = f"{SECTION_PREFIX}{os.path.abspath(filename)}"
        self._fd = -1
        self._opened_size = 0
        self._output_id = FileId(-1, -1)
        # What tells the open file from another that got its inode number after it was deleted (see _same_file):
        # its creation time where the file system keeps one, and its first bytes (up to FINGERPRINT_BYTES).
        self._born: int | None = None
        self._head = b""
        self._head_print = fingerprint(b"")
        # A descriptor of our own reading the output, for its first bytes at each checkpoint (-1: none).
        self._reader = -1
        #: Where writes go: ``_fd``, or our own non-blocking descriptor of standard output.
        self._wfd = -1
        if filename == "-":
            self._fd = self._wfd = 1
            self._own_stdout()
        else:
            if state_file and _same_path(state_file, filename):
                # Each would overwrite the other: lines cut back to a checkpoint, a checkpoint among the lines.
                raise ValueError(f"state_file {state_file!r} is the output file itself: give each its own file")
            if state_file:
                self._state = StateFile.acquire(esc, state_file)
            self._open()
            self._trim_to_checkpoint()
            self._start_on_a_new_line()
            # What the file holds now goes with the positions the supplies
            # start from: a run that ends before its first acknowledgement (a
            # crash, an error output that failed) is cut back to here at the
            # next start, instead of leaving its lines to be written again.
            # Saved before the first line is written (see _write): the first
            # save otherwise came with the first acknowledgement, and a run
            # killed before it left megabytes of lines to be written twice.
            self.batch_done(None)
            self._opening_unsaved = self._state is not None
            esc.signal_register(signal.SIGHUP, self.reopen)

    def _open(self) -> None:
        """Open (or create) the output file, never through a link another account could have planted.

        :raises UnsafePath: for a link on the way in a directory others can
            write to (or another user owns), or a link another user owns.
        :raises UnsafeOutput: for a link at the file's name, or a file someone
            else owns in a directory others can write to.
        """
        # Links on the way are followed only where root or we could have put
        # them (the rule of the daemon's own files; shared directories allowed).
        try:
            dir_fd = open_directory(self.filename, private=False)
        except FileNotFoundError:
            # Said as the path it is; the error of the walk named only the first missing component.
            raise FileNotFoundError(
                f"cannot create {self.filename}: its directory {os.path.dirname(self.filename) or '.'} does not"
                " exist (fs.write does not make it)"
            ) from None
        try:
            fd = self._open_in(dir_fd, os.path.basename(self.filename))
        finally:
            os.close(dir_fd)
        if _may_block(fd):
            os.set_blocking(fd, False)
        else:
            os.set_blocking(fd, True)  # a regular file: never EAGAIN, and the kernel's writes are whole
        self._fd = self._wfd = fd
        opened = os.fstat(fd)
        # Never cut below what the file held when it was opened (see _cut_torn_line).
        self._opened_size = opened.st_size
        # Never read back as a copy of a file tailed in this process (see ._outputs).
        self._output_id = FileId.of(opened)
        self._regular = stat.S_ISREG(opened.st_mode)
        self._deleted = False
        self._born = birth_time(fd) if self._regular else None
        self._head = b""
        self._head_print = fingerprint(b"")
        self._close_reader()
        if self._state is not None and stat.S_ISREG(opened.st_mode):
            self._reader = _open_reader(fd)
        note_output(self._output_id)

    def _close_reader(self) -> None:
        if self._reader >= 0:
            os.close(self._reader)
            self._reader = -1

    def _start_on_a_new_line(self) -> None:
        """A regular file that does not end with a newline (a line torn by a crash, or someone
        else's text): our first line starts on a line of its own, not glued to that one."""
        st = os.fstat(self._fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            return
        last = self._last_byte()
        if last not in (b"\n", b""):
            # Another process appending to the same file (workers of one pipeline) may be in
            # the middle of a write: look again once it has had time to finish.
            time.sleep(_SETTLE_SECONDS)
            last = self._last_byte()
        if last not in (b"\n", b""):
            log.warning(
                "%s: does not end with a newline (a line cut short earlier?); a newline is written first,"
                " so that the lines written now are whole",
                self.filename,
            )
            self._pending = b"\n" + self._pending

    def _last_byte(self) -> bytes:
        """The file's last byte as it is now (``b""``: empty, or unreadable)."""
        try:
            with open(f"/proc/self/fd/{self._fd}", "rb") as reader:
                reader.seek(0, os.SEEK_END)
                if reader.tell() == 0:
                    return b""
                reader.seek(-1, os.SEEK_END)
                return reader.read(1)
        except OSError:
            return b""

    def _cut_torn_line(self) -> None:
        """Writing stops for good with a line written in part (the disk filled in its middle): cut it off.

        The rest of that line is not written, and not acknowledged; left in the
        file, its first part would glue onto the first line of the next run.
        Only a regular file is cut, and never below what it held when opened.
        """
        try:
            st = os.fstat(self._fd)
            if not stat.S_ISREG(st.st_mode):
                return
            end = st.st_size
            floor = min(self._opened_size, end)
            keep = floor
            with open(f"/proc/self/fd/{self._fd}", "rb") as reader:
                position = end
                while position > floor:
                    start = max(floor, position - 65536)
                    reader.seek(start)
                    newline = reader.read(position - start).rfind(b"\n")
                    if newline >= 0:
                        keep = start + newline + 1
                        break
                    position = start
            if keep < end:
                os.ftruncate(self._fd, keep)
                log.error("%s: cut off the last %d bytes, a line written in part", self.filename, end - keep)
        except OSError as exc:
            log.error("%s: could not cut off a line written in part: %s", self.filename, exc.strerror)

    def _open_in(self, dir_fd: int, name: str) -> int:
        """Open ``name`` in the directory ``dir_fd`` for appending; refuse a link, or someone else's file there."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        holder = os.fstat(dir_fd)
        try:
            # Non-blocking from the start: opening a FIFO no one reads would wait.
            fd = os.open(name, flags | os.O_NONBLOCK, 0o644, dir_fd=dir_fd)
        except OSError as exc:
            link = _link_owner(name, dir_fd)
            if link is not None:
                # ELOOP, or EACCES on some kernels. Followed only as links on
                # the way are: made by root or us, where nobody else may write
                # (/dev/stderr); another account's link is never written through.
                refused = _link_refused(self.filename, link, holder)
                if refused is not None:
                    raise UnsafeOutput(refused) from None
                fd = os.open(name, (flags & ~os.O_NOFOLLOW) | os.O_NONBLOCK, 0o644, dir_fd=dir_fd)
                return fd
            if exc.errno != errno.ENXIO:
                raise OSError(exc.errno, exc.strerror, self.filename) from None
            # A FIFO no one reads yet: checked before waiting for a reader, and
            # opened again through the descriptor checked, whatever the name
            # leads to meanwhile.
            path_fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                self._check_owner(os.fstat(path_fd), holder)
                log.warning("%s: a FIFO no one reads yet; waiting for a reader", self.filename)
                fd = os.open(f"/proc/self/fd/{path_fd}", os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            finally:
                os.close(path_fd)
        try:
            self._check_owner(os.fstat(fd), holder)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _check_owner(self, st: os.stat_result, holder: os.stat_result) -> None:
        """Refuse a file someone else owns (not root, not us) in a directory others may write to."""
        refused = _owner_refused(self.filename, st, holder)
        if refused is not None:
            raise UnsafeOutput(refused)

    def _own_stdout(self) -> None:
        """Write to standard output through a descriptor of our own, non-blocking, when it is a pipe or terminal."""
        try:
            if not _may_block(1):
                return
            fd = os.open("/proc/self/fd/1", os.O_WRONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            return  # a socket, or no /proc: written blocking, as it is
        self._wfd = fd

    def _trim_to_checkpoint(self) -> None:
        if self._state is None:
            return
        saved = self._state.get(self._section)
        if not saved:
            return
        offset = saved.get("offset", 0) if isinstance(saved, dict) else None
        if type(offset) is not int or offset < 0:
            log.warning(
                "%s: its checkpoint in %s is damaged (%s); nothing cut: lines written after it may repeat",
                self.filename,
                self._state.path,
                ascii(saved)[:80],
            )
            return
        st = os.fstat(self._fd)
        if (st.st_dev, st.st_ino) != (saved.get("dev"), saved.get("ino")):
            if not self._trim_renamed(saved, offset):
                log.warning(
                    "%s: not the file of the last checkpoint, which is no longer in its directory under any"
                    " name (rotated and compressed, or moved elsewhere?); lines written to it after the"
                    " checkpoint may repeat",
                    self.filename,
                )
            return
        if not _same_file(self._fd, saved):
            log.warning(
                "%s: not the file of the last checkpoint, though it has its inode number (its creation time or"
                " first bytes differ: that file deleted and the number given to this one, or this one written"
                " anew in place); nothing cut: lines written after the checkpoint may repeat",
                self.filename,
            )
            return
        self._cut_to(self._fd, st.st_size, offset, self.filename)

    def _trim_renamed(self, saved: Mapping[str, Any], offset: int) -> bool:
        """The checkpoint's file was renamed (logrotate) and the run ended before it reopened: cut that file.

        What it holds past the checkpoint is unacknowledged: it is read again
        and goes to the file at our name now. Sought in the same directory by
        its inode (rotated names stay there unless logrotate's ``olddir``
        moves them), opened without following a link, and cut only if it is
        still that file (:func:`_same_file`: an inode number freed when the
        rotated file was compressed is soon another file's) and no one else's
        (see :meth:`_check_owner`).

        :returns: whether the file was found.
        """
        dev, ino = saved.get("dev"), saved.get("ino")
        if type(dev) is not int or type(ino) is not int:
            return False
        try:
            dir_fd = open_directory(self.filename, private=False)
        except OSError:
            return False
        try:
            holder = os.fstat(dir_fd)
            if holder.st_dev != dev:
                return False  # a rename stays on its device
            # Listed through a descriptor of its own: the walk's may be O_PATH, which cannot be read.
            listing = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                with os.scandir(listing) as entries:
                    names = [entry.name for entry in entries if entry.inode() == ino]
            finally:
                os.close(listing)
            for name in names:
                try:
                    fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
                except OSError:
                    continue
                try:
                    st = os.fstat(fd)
                    if (st.st_dev, st.st_ino) != (dev, ino) or not stat.S_ISREG(st.st_mode):
                        continue
                    if not _same_file(fd, saved):
                        log.info(
                            "%s: has the inode number of the file of the last checkpoint, but is another file; not cut",
                            os.path.join(os.path.dirname(self.filename), name),
                        )
                        continue
                    try:
                        self._check_owner(st, holder)
                    except UnsafeOutput as exc:
                        log.warning(
                            "%s (renamed to %s since the last checkpoint): %s; not cut: lines written to it after"
                            " the checkpoint may repeat",
                            self.filename,
                            name,
                            exc,
                        )
                        return True
                    shown = os.path.join(os.path.dirname(self.filename), name)
                    self._cut_to(fd, st.st_size, offset, f"{shown} (renamed from {self.filename})")
                    return True
                finally:
                    os.close(fd)
            return False
        except OSError as exc:
            log.warning("%s: could not look for the file of the last checkpoint: %s", self.filename, exc.strerror)
            return False
        finally:
            os.close(dir_fd)

    def _cut_to(self, fd: int, size: int, offset: int, shown: str) -> None:
        """Cut the file ``fd`` (of ``size`` bytes, called ``shown``) back to its checkpoint ``offset``."""
        assert self._state is not None
        if size > offset:
            os.ftruncate(fd, offset)
            log.info("%s: cut %d bytes written after the last checkpoint", shown, size - offset)
        elif size < offset:
            # Lines acknowledged as written are not there: the file was cut by
            # someone, or the machine went down before the kernel wrote them out
            # (fsync = "never"). Their input positions moved on: they are not
            # read again, and only this says so.
            log.error(
                "%s: %d bytes shorter than at the last checkpoint in %s: lines written before it are missing"
                ' (cut by someone else, or lost in a crash of the machine: fsync = "flush" keeps them)',
                shown,
                offset - size,
                self._state.path,
            )

    def __call__(self, data: Any) -> tuple[Any, ...]:
        line = data if isinstance(data, str) else self._line_of(data)
        # Encoded here, not when writing: a line the encoding cannot hold fails
        # now, alone, and goes to the error output; in the buffer it would fail
        # every write after it.
        self._append(line.encode(self.encoding))
        self._unwritten_lines += 1
        return (data,)

    def _line_of(self, data: Any) -> str:
        if isinstance(data, (bytes, bytearray)):
            # A line fs.tail could not decode, passed on with encoding_errors = "bytes".
            raise TypeError(
                "the datum is bytes, not text: fs.write writes text (a line fs.tail could not decode, with"
                ' encoding_errors = "bytes"?); decode it first, or read with encoding_errors = "replace"'
            )
        try:
            line = self._get(data)
        except (KeyError, IndexError, TypeError) as exc:
            # The common slip: mappings (parsed data, error records) reaching the
            # output without a formatter; KeyError: 'line' alone says little.
            shown = self.line_getter if isinstance(self.line_getter, str) else "its line_getter"
            hint = " (put text.json_format before fs.write to write mappings as JSON)" if isinstance(data, dict) else ""
            raise ValueError(
                f"no line to write: the {type(data).__name__} has no {shown!r} ({type(exc).__name__}: {exc}){hint}"
            ) from None
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
                # getter is: itemgetter for a plain key), so that a datum without
                # one raises before anything is collected.
                try:
                    joined = "\n".join(map(self._get, data))
                except Exception:  # noqa: BLE001 - found again below, with the reason
                    joined = "\n".join(map(self._line_of_any, data))
            self._append(joined.encode(self.encoding))
            self._unwritten_lines += len(data)
        return data

    def _line_of_any(self, data: Any) -> str:
        return data if isinstance(data, str) else self._line_of(data)

    def _write(self) -> bool:
        """Write what is pending and collected. :returns: whether all of it is in the file now."""
        if self._hopeless:
            return False  # said once, by _stall; what is left stays unacknowledged
        if self._deleted:
            try:
                self._replace_deleted()
            except OSError as exc:
                self._stall(exc)  # held, and tried again (a new file, once the directory is back)
                return False
        if self._opening_unsaved:
            self._save_opening()
        buffer = self._buffer
        if len(buffer) == 1 and not self._pending:
            # One list's lines (call_batch), the usual case: written with the
            # newline beside them, sparing a copy of the whole text.
            chunk = buffer[0]
            buffer.clear()  # cleared, not replaced: __call__ holds the bound append of this list
            try:
                written = os.writev(self._wfd, (chunk, b"\n"))
            except BlockingIOError:
                written = 0
            except OSError as exc:
                self._pending = chunk + b"\n"
                self._stall(exc)
                return False
            self._bytes_written += written
            if written == len(chunk) + 1:
                return self._written()
            self._pending = (chunk + b"\n")[written:]
        elif buffer:
            self._pending += b"\n".join(buffer) + b"\n"
            buffer.clear()
        view = memoryview(self._pending)
        try:
            while view:
                written = os.write(self._wfd, view)
                self._bytes_written += written
                view = view[written:]
        except BlockingIOError:
            self._pending = bytes(view)
            self._wait_for_room()
            return False
        except OSError as exc:
            self._pending = bytes(view)
            self._stall(exc)
            return False
        self._pending = b""
        return self._written()

    def _look_for_deletion(self) -> None:
        """Note whether the regular file open was deleted (rm, its directory removed, moved to another disk).

        What is written to a deleted file is lost when it is closed, yet would
        be acknowledged. One fstat per batch, only with something to write.
        """
        if self._regular and (self._buffer or self._pending) and os.fstat(self._fd).st_nlink == 0:
            self._deleted = True

    def _replace_deleted(self) -> None:
        """The file open was deleted: open (create) a new one under its name, for what is not written yet.

        Lines written to the deleted file before were acknowledged: they went
        with it. What is collected now goes to the new file, and its
        checkpoint, at its start, is saved with the positions acknowledged so
        far before a line goes in (as at a reopen).

        :raises OSError: when the new file cannot be made (the directory was
            deleted too): the caller holds the data and tries again.
        """
        old, old_id = self._fd, self._output_id
        self._open()
        # A line the old file holds in part (the disk filled in its middle) is
        # written again whole: its start went with the deleted file.
        torn = _torn_tail(old)
        if torn:
            self._pending = torn + self._pending
        os.close(old)
        forget_output(old_id)
        log.warning("%s: the file written to was deleted; writing on to a new file of that name", self.filename)
        self.batch_done(None)
        self._opening_unsaved = False
        self._save_now("after the file written to was deleted")

    def _save_opening(self) -> None:
        """Put the file's size at start in the state file, on disk, before our first line goes in."""
        if self._state is None or not (self._buffer or self._pending):
            return  # nothing to write yet
        self._opening_unsaved = False
        self._save_now("before writing")

    def _save_now(self, when: str) -> None:
        """Save the state at once, not counting for its interval; a failure is said, and writing goes on."""
        if self._state is None:
            return
        try:
            self._state.save(force=True, paced=False)
        except OSError as exc:
            # Said as the state's own saves say it; writing goes on, as it would have.
            log.error("%s: could not save %s %s: %s", self.filename, self._state.path, when, exc)

    def _wait_for_room(self) -> None:
        """The reader is behind: hold the train until epoll says it took some."""
        if self._room is None:
            self._room = self.esc.fd_register(self._wfd, select.EPOLLOUT, self._on_room)
        if not self._waiting:
            self._waiting = True
            if not self._said_slow:
                self._said_slow = True
                log.info("%s: the reader is slower than the input; reading pauses while it catches up", self._name)
            self.esc.block(self)

    def _on_room(self) -> None:
        """There is room again: write what waits; let the train go when all of it is out."""
        if not self._write():
            return  # still behind (or failing): _write saw to it
        if self._room is not None:
            self._room.cancel()
            self._room = None
        self._waiting = False
        self.esc.unblock(self)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    @property
    def _name(self) -> str:
        return "standard output" if self._fd == 1 else self.filename

    def _written(self) -> bool:
        """Everything collected is written: its lines count as written."""
        self._written_lines += self._unwritten_lines
        self._unwritten_lines = 0
        if self.fsync == "always" and self._fd != 1:
            os.fsync(self._fd)
        return True

    def _stall(self, exc: OSError) -> None:
        """A write failed: hold the train, and try again later (or stop, if no retry can help)."""
        name = "standard output" if self._fd == 1 else self.filename
        # A file that could not be made again says why in its message (no strerror).
        reason = exc.strerror or str(exc)
        self._write_errors += 1
        self._last_error = time.time()
        if exc.errno in _HOPELESS or (exc.errno == errno.ENOSPC and self._fd > 2 and _is_device(self._fd)):
            # A device that is full (/dev/full) stays full: only a file system frees space.
            self.esc.fail(self, f"{name}: cannot write ({reason}); {len(self._pending)} bytes not written")
            self.esc.block(self)
            self._blocked = True
            # Never tried again: a reader that is gone leaves the descriptor
            # "ready" for ever, and each wake-up wrote, failed and logged again
            # (100% CPU, tens of thousands of lines a second until stopped).
            self._hopeless = True
            if self._room is not None:
                self._room.cancel()
                self._room = None
            self._waiting = False
            self.esc.shutdown()
            return
        if not self._blocked:
            self._blocked = True
            self._failing_since = time.monotonic()
            self._pause = _FIRST_PAUSE
            log.error("%s: cannot write (%s); holding the data and trying again", name, reason)
            self.esc.block(self)
        if self._finishing:
            return  # finish reports what is left; no more tries
        if time.monotonic() - self._failing_since > self.retry_for:
            self.esc.fail(
                self,
                f"{name}: cannot write ({reason}) for {self.retry_for:g} s; stopping;"
                f" {len(self._pending)} bytes not written are not acknowledged",
            )
            self.esc.shutdown()
            return
        if self._retry is None:
            self._retry = self.esc.after(self._pause, self._try_again)
            self._pause = min(self._pause * 2, _LONGEST_PAUSE)

    def _try_again(self) -> None:
        self._retry = None
        self._retries += 1
        self._look_for_deletion()  # moved away while we waited (logrotate compressing it elsewhere)
        if self._write():
            self._blocked = False
            log.info("%s: writing again", self.filename)
            self.esc.unblock(self)

    @movement.hook
    def flush(self) -> None:
        """Write what is collected (the train sends this after every batch); while failing, keep it."""
        if self._blocked or self._waiting:
            return  # the retry writes it, in order
        self._look_for_deletion()
        if self._write() and self.fsync == "flush" and self._fd != 1:
            os.fsync(self._fd)

    def metrics(self) -> dict[str, float]:
        """Figures for ``deadbeat run --metrics-port`` and ``--stats`` (see :mod:`deadbeat.metrics`).

        :returns: the counters ``written_total`` (lines, counted once every
            line collected before them is written too), ``bytes_written_total``,
            ``write_errors_total`` (writes that failed: a full disk, an I/O
            error) and ``retried_total`` (writes tried again after one failed);
            the gauges ``pending`` (lines not yet written whole, one written in
            part included: waiting for the next flush, for a slow reader, or
            for space),
            ``pending_bytes``, and ``last_error_timestamp_seconds``: when a
            write last failed, in seconds since the epoch (0: never), so that
            ``time() - deadbeat_cog_last_error_timestamp_seconds < 300`` says
            "failed in the last five minutes".
        """
        return {
            "written_total": self._written_lines,
            "bytes_written_total": self._bytes_written,
            "write_errors_total": self._write_errors,
            "retried_total": self._retries,
            # Counted in the bytes left, not by batch: after a write of part of
            # a batch, the lines of it that went out are not pending.
            # (A collected chunk is lines joined by newlines, without the last one.)
            "pending": self._pending.count(b"\n") + sum(chunk.count(b"\n") + 1 for chunk in self._buffer),
            "pending_bytes": len(self._pending) + sum(map(len, self._buffer)),
            "last_error_timestamp_seconds": self._last_error,
        }

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        """Batches are acknowledged: everything in the file so far belongs to them.

        The ``flush`` before this wrote the buffer, and acknowledgements come
        only when nothing is held or blocked, so the file's size is the offset
        to pair with the positions the supplies note now.
        """
        if self._state is not None and self._fd > 2:
            st = os.fstat(self._fd)
            if self._reader >= 0:
                # Looked at every checkpoint (one pread): cut in place (copytruncate) and written anew, the
                # file starts otherwise, and a fingerprint kept from before would make the next start take
                # it for another file and leave its lines past the checkpoint to be written twice.
                try:
                    head = os.pread(self._reader, FINGERPRINT_BYTES, 0)
                except OSError:
                    self._close_reader()
                else:
                    if head != self._head:
                        self._head = head
                        self._head_print = fingerprint(head)
            checkpoint = {
                "dev": st.st_dev,
                "ino": st.st_ino,
                "offset": st.st_size,
                "head": self._head_print,
                "head_len": len(self._head),
            }
            if self._born is not None:
                checkpoint["born"] = self._born
            self._state.set(self._section, checkpoint)

    def reopen(self) -> None:
        """Write out, close and open the file again (SIGHUP, after logrotate moved it).

        While writing is held (a full disk, a slow reader), the reopen waits
        until what is held is written and acknowledged (:meth:`checkpoint`):
        the file's size then pairs with the positions noted. Done at once, it
        paired bytes not yet acknowledged (a line written in part among them)
        with older positions, and they were written twice after a restart.
        """
        if self._blocked or self._waiting:
            if self._fd > 2 and not self._reopen_wanted and not self._hopeless:
                self._reopen_wanted = True
                log.info("%s: reopening once the data held are written", self.filename)
            return
        self._reopen_wanted = False
        self._write()
        if self._fd > 2:
            old, old_id = self._fd, self._output_id
            if self._room is not None:
                self._room.cancel()
                self._room = None
            try:
                self._open()
            except OSError as exc:
                # Writing goes on to the file we have: what was planted is not written to.
                self.esc.fail(self, f"cannot reopen: {exc}; writing on to the file open before")
                if self._waiting:
                    self._room = self.esc.fd_register(self._wfd, select.EPOLLOUT, self._on_room)
                return
            os.close(old)
            forget_output(old_id)
            # Everything in the old file is acknowledged (outputs write at the
            # flush that comes with each acknowledgement), so the new file's
            # size now pairs with the positions noted so far: saved at once, so
            # that a crash before the next save cuts the new file back to here
            # and reads on from those positions. With the old file's checkpoint
            # left on disk, the lines written to it since would go to the new
            # file again (the old file has another name by then).
            self.batch_done(None)
            self._opening_unsaved = False
            self._save_now("after reopening")
            if self._waiting:
                # What the old reader did not take goes to the new file, first.
                self._room = self.esc.fd_register(self._wfd, select.EPOLLOUT, self._on_room)
            log.info("%s: reopened", self.filename)

    @movement.hook
    def checkpoint(self) -> None:
        """After every acknowledgement: a reopen asked for while writing was held is done now."""
        if self._reopen_wanted and not self._blocked and not self._waiting and not self._finishing:
            self.reopen()

    def finish(self) -> Coroutine[Any, Any, None] | None:
        """Write what is collected (one last try if writing failed) and stop listening for SIGHUP.

        :returns: when the reader of a FIFO or pipe is behind, what waits for it
            (at most ``shutdown_timeout`` seconds; the train awaits it).
        """
        self._finishing = True
        if self._fd > 2:
            self.esc.signal_unregister(signal.SIGHUP, self.reopen)
        if self._retry is not None:
            self.esc.dequeue(self._retry)
            self._retry = None
        if self._waiting:
            self._on_room()  # one more try now
        elif (self._buffer or self._pending) and self._write() and self._blocked:
            self._blocked = False
            self.esc.unblock(self)
        if self._waiting:
            return self._wait_for_reader()
        if self._pending:
            if not self._hopeless:  # (which was said when it failed)
                self.esc.fail(
                    self, f"{self.filename}: {len(self._pending)} bytes could not be written; not acknowledged"
                )
            if self._fd > 2:
                self._cut_torn_line()
        return None

    async def _wait_for_reader(self) -> None:
        """Give a slow reader ``shutdown_timeout`` seconds to take the rest, and say what happened."""
        log.info(
            "%s: waiting up to %g s (shutdown_timeout) for the reader to take %d bytes",
            self._name,
            self.shutdown_timeout,
            len(self._pending),
        )
        self._drained = self.esc.loop.create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._drained), self.shutdown_timeout)
        except asyncio.TimeoutError:
            if self._room is not None:
                self._room.cancel()
                self._room = None
            self.esc.fail(
                self,
                f"{self._name}: the reader took no more within shutdown_timeout = {self.shutdown_timeout:g} s;"
                f" {len(self._pending) + sum(map(len, self._buffer))} bytes not written are not acknowledged",
            )
        else:
            log.info("%s: the reader took everything", self._name)

    def done(self) -> None:
        """Close the file (standard output stays open) and save the state."""
        if not self._blocked and not self._waiting:
            self._write()
        if self._room is not None:
            self._room.cancel()
            self._room = None
        if self._wfd > 2 and self._wfd != self._fd:
            os.close(self._wfd)  # our own descriptor of standard output
        self._close_reader()
        if self._fd > 2:
            os.close(self._fd)
            forget_output(self._output_id)
            self._fd = -1
        self._wfd = self._fd
        if self._state is not None:
            self._state.release()
            self._state = None


def _torn_tail(fd: int, longest: int = 16 << 20) -> bytes:
    """The bytes after the last newline of the file open as ``fd`` (a line written in part), up to ``longest``."""
    try:
        with open(f"/proc/self/fd/{fd}", "rb") as reader:
            end = reader.seek(0, os.SEEK_END)
            position = end
            while position > max(0, end - longest):
                start = max(0, position - 65536, end - longest)
                reader.seek(start)
                newline = reader.read(position - start).rfind(b"\n")
                if newline >= 0:
                    reader.seek(start + newline + 1)
                    return reader.read(end - start - newline - 1)
                position = start
            if end <= longest:
                reader.seek(0)
                return reader.read(end)  # no newline at all: the whole file is that line's start
    except OSError:
        pass
    return b""


def _output_problems(filename: str) -> list[str]:
    """What :meth:`LineFileDrain._open` would refuse about ``filename``, found without creating or opening it.

    A missing directory, or one that cannot be read, is not said here: ``deadbeat
    check`` says it of every output path.
    """
    if filename == "-":
        return []
    try:
        dir_fd = open_directory(filename, private=False)
    except UnsafePath as exc:
        return [str(exc)]
    except OSError:
        return []
    try:
        holder = os.fstat(dir_fd)
        try:
            st = os.stat(os.path.basename(filename), dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            return []  # not there yet: created by the run
        refused = (
            _link_refused(filename, st.st_uid, holder)
            if stat.S_ISLNK(st.st_mode)
            else _owner_refused(filename, st, holder)
        )
        return [refused] if refused is not None else []
    finally:
        os.close(dir_fd)


def _link_refused(filename: str, owner: int, holder: os.stat_result) -> str | None:
    """Why a link at the output's name is not written through (another user's, or where others may write)."""
    if not trusted_owner(owner) or others_may_write(holder):
        return f"{filename}: a symbolic link; not written through"
    return None


def _owner_refused(filename: str, st: os.stat_result, holder: os.stat_result) -> str | None:
    """Why an existing output file is not written to (someone else's, in a directory others may write to)."""
    if not trusted_owner(st.st_uid) and others_may_write(holder):
        return (
            f"{filename}: owned by another user (uid {st.st_uid}) in a directory others can write to;"
            " not written to (they could read what is written, or have put it there for that)"
        )
    return None


def _link_owner(name: str, dir_fd: int) -> int | None:
    """:returns: the owner of ``name`` in ``dir_fd`` if it is a symbolic link, else ``None``."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None
    return st.st_uid if stat.S_ISLNK(st.st_mode) else None


def _open_reader(fd: int) -> int:
    """:returns: a descriptor reading the regular file open as ``fd`` (written only, as outputs are), opened
    through /proc; ``-1`` when it cannot be (no /proc, no read permission): then no fingerprint is kept."""
    try:
        reader = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return -1
    try:
        if FileId.of(os.fstat(reader)) == FileId.of(os.fstat(fd)):
            return reader
    except OSError:
        pass
    os.close(reader)
    return -1


def _read_head(fd: int) -> bytes | None:
    """:returns: the first :data:`FINGERPRINT_BYTES` of the regular file open as ``fd``, or ``None`` when it
    cannot be read."""
    reader = _open_reader(fd)
    if reader < 0:
        return None
    try:
        return os.pread(reader, FINGERPRINT_BYTES, 0)
    except OSError:
        return None
    finally:
        os.close(reader)


def _same_file(fd: int, saved: Mapping[str, Any]) -> bool:
    """Whether the file open as ``fd``, which has the device and inode of a checkpoint, is the checkpoint's file.

    A file deleted (a rotated file compressed: the .gz is a new file) gives
    its inode number back, and the file system soon gives it to the next file
    made: cutting that one to the checkpoint's offset destroyed someone else's
    data. Each thing the checkpoint saved is compared: the creation time where
    the file system keeps one, and the fingerprint of its first bytes. A file
    now shorter than those cannot be told by them; it is shorter than the
    checkpoint's offset too, so nothing would be cut, and the caller says that
    lines are missing. A checkpoint of an earlier version, which saved
    neither, is taken at its word.
    """
    born = saved.get("born")
    if type(born) is int:
        now = birth_time(fd)
        if now is not None and now != born:
            return False
    length, print_ = saved.get("head_len"), saved.get("head")
    if type(length) is int and isinstance(print_, str) and length > 0:
        head = _read_head(fd)
        if head is not None and len(head) >= length and fingerprint(head[:length]) != print_:
            return False
    return True


def _is_device(fd: int) -> bool:
    """Whether ``fd`` is a character or block device."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode)


def _may_block(fd: int) -> bool:
    """Whether writing to ``fd`` can wait on someone else: a FIFO, a pipe, a socket, a terminal."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


def _same_path(one: str, other: str) -> bool:
    """Whether two names are one file: the same name once links are followed, or the same inode."""
    if os.path.realpath(one) == os.path.realpath(other):
        return True
    try:
        return os.path.samefile(one, other)
    except OSError:  # either is missing: then not both the same existing file
        return False
