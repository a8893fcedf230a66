"""Tailing files through rotation, truncation and restarts without losing or repeating a line.

How a file is known. A file is its identity, device and inode, plus a
fingerprint of its first bytes (up to 256). The inode alone is not enough: once
a file is deleted and closed, a new file may get the same inode number, and only
the content tells them apart. The fingerprint also finds the copy that
``copytruncate`` leaves behind.

What the events mean. inotify events, and the timer of the polling fallback, are
only hints that something may have changed. Whatever wakes us, a file is read to
its end, and the directories are rescanned; an ``IN_Q_OVERFLOW`` (events lost)
rescans everything. So a lost event delays a line, never drops it.

Rotation patterns, each seen in a rescan or a read:

* rename + create: the path now has another identity. The old file stays open
  under its descriptor and is read to its end; it is let go once it has been
  quiet for ``rotate_wait`` seconds (a writer may still append until it reopens).
  The new file is read from its start.
* delete: the path is gone; the open descriptor still reads the remaining data,
  as for a rename.
* copytruncate / truncate in place: the file shrinks below our offset (or its
  first bytes change). Before starting again at 0, the directory is searched for
  a copy with the same fingerprint; if there is one, it is read from where we
  were to its end, so lines written between our last read and the copy are kept.
  Without a copy, what was not read before the truncation is gone: we say so.
* delete with inode reuse: after a restart, a file with a remembered inode but
  another fingerprint is new, and is read from its start.

Positions. Every read chunk goes down the train as a :class:`~deadbeat.movement.Batch`;
its ``batch_done`` tells us that every line of it has been handled and written,
and only then does the position of the file move on. Positions are saved at
``checkpoint`` into the ``state_file``, which an output can share (see
:class:`~deadbeat.fs.LineFileDrain`) to make a file-to-file pipeline exact across
SIGKILL.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import stat
import time
from itertools import accumulate
from typing import Any, Literal

from deadbeat import conf, movement

from ._state import StateFile

__all__ = ["FileWatcherSupply", "LineTooLong"]

log = logging.getLogger("deadbeat.fs")

FINGERPRINT_BYTES = 256
_FILE_EVENTS = movement.IN_MODIFY | movement.IN_ATTRIB | movement.IN_DELETE_SELF | movement.IN_MOVE_SELF
_DIR_EVENTS = (
    movement.IN_CREATE
    | movement.IN_MOVED_TO
    | movement.IN_MOVED_FROM
    | movement.IN_DELETE
    | movement.IN_ATTRIB
    | movement.IN_CLOSE_WRITE
)


class LineTooLong(ValueError):
    """A line exceeded ``max_line`` bytes; it goes to the error output, cut to the limit."""


def _fingerprint(fd: int, length: int) -> str:
    return hashlib.blake2b(os.pread(fd, length, 0), digest_size=16).hexdigest()


class _Tracked:
    """One open file being read."""

    __slots__ = (
        "path",
        "fd",
        "key",
        "fp",
        "fp_len",
        "read_pos",
        "line_start",
        "partial",
        "generation",
        "rotated_at",
        "last_data",
        "watch",
        "skipping",
        "fresh",
        "head",
        "truncated",
    )

    def __init__(self, path: str, fd: int, key: str, offset: int) -> None:
        self.path: str | None = path
        self.fd = fd
        self.key = key
        self.fp = ""
        self.fp_len = 0
        self.read_pos = offset
        self.line_start = offset
        self.partial = b""
        self.generation = 0
        self.rotated_at: float | None = None
        self.last_data = time.monotonic()
        self.watch: movement.Binding | None = None
        self.skipping = False
        self.fresh = False
        self.head = b""
        #: (first bytes, line offset, when) of the content before the last truncation.
        self.truncated: tuple[bytes, int, float] | None = None

    def refresh_fingerprint(self) -> bool:
        """Re-read the first bytes; False if they are no longer what they were."""
        head = os.pread(self.fd, FINGERPRINT_BYTES, 0)
        if head[: len(self.head)] != self.head:
            return False
        if len(head) != len(self.head):
            self.head = head
            self.fp_len = len(head)
            self.fp = hashlib.blake2b(head, digest_size=16).hexdigest()
        return True


def _starts_alike(candidate: bytes, original: bytes) -> str:
    """Compare the first bytes of a possible copy with those of an original.

    :returns: ``"same"`` when the candidate starts with the whole known start of
        the original, ``"prefix"`` when it is still shorter (a copy in progress),
        ``"other"`` otherwise.
    """
    if not candidate or original[: len(candidate)] != candidate[: len(original)]:
        return "other"
    if len(candidate) >= len(original) or len(candidate) >= FINGERPRINT_BYTES:
        return "same"
    return "prefix"


class FileWatcherSupply(movement.Supply):
    """Follow files (or glob patterns) and send every complete line down the train.

    New lines are read as soon as inotify reports a change (a timer polls where
    inotify is missing or out of watches). Rotation by rename, copytruncate,
    truncation and deletion is followed without losing lines, and with a
    ``state_file`` a restart (even after SIGKILL) continues where the train had
    finished.

    :param esc: the Escapement.
    :param filenames: paths or glob patterns; files matching later are picked up.
    :param tail: keep following at end of file; ``false`` (or ``deadbeat run
        --once``) reads to the end and stops.
    :param state_file: where positions are kept across restarts.
    :param start: where to begin a file seen for the first time at the very first
        start (no state yet): ``"beginning"`` or ``"end"``; files appearing
        later are always read from their beginning.
    :param encoding: text encoding of the files.
    :param max_line: longest line in bytes; longer ones go to the error output.
    :param read_size: bytes read per chunk (one Batch each).
    :param rotate_wait: seconds a rotated or deleted file is kept open after its
        last data, for writers that have not reopened yet; then an unfinished
        last line is sent as it is.
    :param poll_interval: seconds between looks when polling.
    :param state_interval: least seconds between two saves of the state file
        (what is saved is always consistent; a shorter interval repeats less
        after a crash of the whole machine, at the cost of an fsync each time).
    :param line_setter: where the line goes (callable or field path); ``false``
        makes each datum the line itself.
    :param id_setter: where the event id (``FILE:OFFSET``) goes (a setter or a
        field path), or a function of the datum that sets an id of its own (the
        manual's form); ``false`` for none. A datum whose setter fails goes to
        the error output with its file and offset.
    """

    config_name = "tail"

    def __init__(
        self,
        esc: movement.Escapement,
        filenames: conf.PathList,
        tail: bool = True,
        state_file: conf.Path | None = None,
        start: Literal["beginning", "end"] = "beginning",
        encoding: str = "utf-8",
        max_line: int = 1 << 20,
        read_size: int = 1 << 18,
        rotate_wait: float = 5.0,
        poll_interval: float = 1.0,
        state_interval: float = 1.0,
        line_setter: movement.FieldSetter | None = "line",
        id_setter: movement.IdSetter | None = "id",
    ) -> None:
        if isinstance(filenames, str):
            raise TypeError("filenames must be a list of paths or patterns, not one string")
        if start not in ("beginning", "end"):
            raise ValueError(f"start must be 'beginning' or 'end', not {start!r}")
        self.esc = esc
        self.filenames = list(filenames)
        self.tail = tail
        self.state_file = state_file
        self.start = start
        self.encoding = encoding
        self.max_line = max_line
        self.read_size = read_size
        self.rotate_wait = rotate_wait
        self.poll_interval = poll_interval
        self.state_interval = state_interval
        self.line_setter = line_setter
        self.id_setter = id_setter
        self._patterns = [os.path.abspath(os.path.expanduser(p)) for p in self.filenames]
        self._following = tail and not getattr(esc, "once", False)
        self._set_line = movement.setter(line_setter) if line_setter is not None else None
        self._set_id = movement.id_setter(id_setter)
        # Plain keys let a datum be built as one dict display, the fast way.
        self._line_key = line_setter if isinstance(line_setter, str) and "." not in line_setter else None
        self._id_key = id_setter if isinstance(id_setter, str) and "." not in id_setter else None
        self._tracked: dict[str, _Tracked] = {}
        self._missing: set[str] = set()
        #: Identities of copies of followed files, left unread (see _open).
        self._shadows: set[str] = set()
        #: Acknowledged position per identity: {"fp", "fp_len", "offset", "path"}.
        self._known: dict[str, dict[str, Any]] = {}
        self._batches: dict[int, tuple[str, int, int]] = {}
        self._seq = 0
        #: Files to read, in the order they became readable (a dict as an ordered set).
        self._dirty: dict[str, None] = {}
        self._turn: movement.Binding | None = None
        self._dir_watches: dict[str, movement.Binding] = {}
        #: Directories of the patterns that cannot be watched yet (not there),
        #: and the timer that tries them again.
        self._unwatched: set[str] = set()
        self._retry: movement.Binding | None = None
        self._sweeper: movement.Binding | None = None
        self._finished = False
        self._state: StateFile | None = None
        self._section = "fs.tail " + " ".join(self._patterns)
        if state_file:
            self._state = StateFile.acquire(esc, state_file, interval=state_interval)
            saved = self._state.get(self._section, {})
            self._known = {k: dict(v) for k, v in saved.get("files", {}).items()}
        first_run = not self._known and (self._state is None or self._section not in self._state.sections)
        self._watch_directories()
        self._resume_orphans()
        self._rescan(initial=first_run)
        self._schedule()

    # -- discovery -------------------------------------------------------------

    def _directories(self) -> set[str]:
        return {os.path.dirname(p) for p in self._patterns}

    def _watch_directories(self) -> None:
        """Watch every directory of the patterns; retry those that are not there yet.

        Where inotify is missing or out of watches, the Escapement polls instead
        (``poll_interval``) and delivers the same events.
        """
        if not self._following:
            return
        for directory in sorted(self._directories() - self._dir_watches.keys()):
            try:
                self._dir_watches[directory] = self.esc.inotify_add(
                    directory, _DIR_EVENTS, self._on_dir_event, poll_interval=self.poll_interval
                )
            except OSError as exc:
                if directory not in self._unwatched:
                    log.warning(
                        "%s: cannot watch directory (%s); trying again every %.3g s",
                        directory,
                        exc.strerror,
                        self.poll_interval,
                    )
                self._unwatched.add(directory)
            else:
                self._unwatched.discard(directory)
        if self._unwatched and self._retry is None:
            self._retry = self.esc.every(self.poll_interval, self._retry_directories)

    def _retry_directories(self) -> None:
        self._watch_directories()
        if not self._unwatched and self._retry is not None:
            self.esc.dequeue(self._retry)
            self._retry = None
        self._rescan()
        self._schedule()

    def _matching(self) -> dict[str, tuple[str, os.stat_result]]:
        """:returns: identity -> (path, stat) of every regular file matching now."""
        found: dict[str, tuple[str, os.stat_result]] = {}
        for pattern in self._patterns:
            for path in sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]:
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    if path not in self._missing:
                        self._missing.add(path)
                        if self._following:
                            log.info("%s: not there yet; it will be read when it appears", path)
                        else:
                            log.error("%s: cannot read: no such file", path)
                    continue
                except OSError as exc:
                    log.error("%s: cannot stat: %s", path, exc.strerror)
                    continue
                if stat.S_ISREG(st.st_mode):
                    found.setdefault(f"{st.st_dev}:{st.st_ino}", (path, st))
        return found

    def _resume_orphans(self) -> None:
        """After a restart, finish files that were rotated away while we were down."""
        if not self._known:
            return
        matching = self._matching()
        orphans = {k: v for k, v in self._known.items() if k not in matching}
        if not orphans:
            return
        for directory in self._directories():
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            for name in names:
                path = os.path.join(directory, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                key = f"{st.st_dev}:{st.st_ino}"
                if key in orphans and stat.S_ISREG(st.st_mode):
                    tracked = self._open(path, key, st, rotated=True)
                    if tracked is not None:
                        log.info(
                            "%s: finishing %s, rotated while stopped, from offset %d", self, path, tracked.read_pos
                        )
        for key in orphans:
            if key not in self._tracked:
                # The file is gone for good: nothing left to resume.
                self._known.pop(key, None)

    def _rescan(self, initial: bool = False) -> None:
        matching = self._matching()
        for key, tracked in list(self._tracked.items()):
            if key in matching:
                tracked.path = matching[key][0]
            elif tracked.rotated_at is None:
                # Renamed out of the patterns or deleted: read what is left, then let go.
                tracked.path = None
                tracked.rotated_at = time.monotonic()
                self._dirty[key] = None
        for key, (path, st) in matching.items():
            if key not in self._tracked and key not in self._shadows:
                self._open(path, key, st, at_end=initial and self.start == "end")
        self._schedule_sweep()

    def _open(
        self, path: str, key: str, st: os.stat_result, rotated: bool = False, at_end: bool = False
    ) -> _Tracked | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            log.error("%s: cannot open: %s", path, exc.strerror)
            return None
        opened = os.fstat(fd)
        if f"{opened.st_dev}:{opened.st_ino}" != key:
            os.close(fd)  # replaced between stat and open; the next rescan sees the new one
            return None
        known = self._known.get(key)
        offset = 0
        if known is not None:
            length = int(known.get("fp_len", 0))
            if length and _fingerprint(fd, length) == known.get("fp"):
                offset = int(known.get("offset", 0))
            else:
                log.info("%s: same inode as a file read before, other content: reading it from the start", path)
                known = None
        elif at_end:
            offset = st.st_size
            # Begin at a line boundary: the rest of a line cut in the middle is no line.
            if offset:
                tail = os.pread(fd, min(offset, 65536), offset - min(offset, 65536))
                offset -= len(tail) - (tail.rfind(b"\n") + 1)
        tracked = _Tracked(path, fd, key, offset)
        tracked.fresh = known is None and not rotated and not at_end
        tracked.refresh_fingerprint()
        if rotated:
            tracked.path = None
            tracked.rotated_at = time.monotonic()
        self._tracked[key] = tracked
        self._known[key] = {"fp": tracked.fp, "fp_len": tracked.fp_len, "offset": offset, "path": path}
        if self._following:
            try:
                tracked.watch = self.esc.inotify_add(
                    path, _FILE_EVENTS, self._on_file_event, key, poll_interval=self.poll_interval
                )
            except OSError as exc:
                log.error("%s: cannot watch (%s); read when its directory changes", path, exc.strerror)
        self._dirty[key] = None
        return tracked

    def _copy_verdict(self, tracked: _Tracked) -> tuple[str, _Tracked | None]:
        """Is a file seen for the first time a copy of one we follow?

        copytruncate first copies the file under a new name; when the patterns
        match that name too, the copy must not be read as a new file, or its
        lines would go out twice. A copy shows itself by starting with the same
        bytes as a followed file in the same directory, or as the content that
        file had before it was truncated. While the new file is still a prefix
        of such a start (a copy in progress) the answer is ``"wait"``.

        :returns: ``("copy", original)``, ``("copy-of-truncated", original)``,
            ``("wait", None)`` or ``("new", None)``.
        """
        head = os.pread(tracked.fd, FINGERPRINT_BYTES, 0)
        if not head:
            return "wait", None
        directory = os.path.dirname(tracked.path or "")
        waiting = False
        for other in self._tracked.values():
            if other is tracked or other.fresh or os.path.dirname(other.path or "") != directory:
                continue
            if other.truncated is not None and time.monotonic() - other.truncated[2] > self.rotate_wait + 1.0:
                other.truncated = None  # a copy made for that truncation would have shown up by now
            if other.truncated is not None:
                verdict = _starts_alike(head, other.truncated[0])
                if verdict == "same":
                    return "copy-of-truncated", other
                waiting = waiting or verdict == "prefix"
            verdict = _starts_alike(head, other.head)
            if verdict == "same":
                return "copy", other
            waiting = waiting or verdict == "prefix"
        return ("wait", None) if waiting else ("new", None)

    # -- wake-ups --------------------------------------------------------------

    def _on_file_event(self, key: str, event: movement.InotifyEvent) -> None:
        if event.mask & movement.IN_Q_OVERFLOW:
            self._overflow()
            return
        if event.mask & (movement.IN_DELETE_SELF | movement.IN_MOVE_SELF | movement.IN_ATTRIB):
            self._rescan()
        if key in self._tracked:
            self._dirty[key] = None
        self._schedule()

    def _on_dir_event(self, event: movement.InotifyEvent) -> None:
        if event.mask & movement.IN_Q_OVERFLOW:
            self._overflow()
            return
        self._rescan()
        self._schedule()

    def _overflow(self) -> None:
        log.warning("%s: inotify queue overflowed; rescanning and reading every file", self)
        self._rescan()
        self._dirty.update(dict.fromkeys(self._tracked))
        self._schedule()

    def _schedule(self) -> None:
        if self._dirty and self._turn is None and not self._finished:
            self._turn = self.esc.enqueue(self._read_dirty)

    def _schedule_sweep(self) -> None:
        if (
            self._sweeper is None
            and not self._finished
            and any(t.rotated_at is not None for t in self._tracked.values())
        ):
            self._sweeper = self.esc.after(min(self.rotate_wait, 1.0) or 0.01, self._sweep)

    def _sweep(self) -> None:
        """Let go of rotated files that have been read to the end and stayed quiet."""
        self._sweeper = None
        now = time.monotonic()
        for tracked in list(self._tracked.values()):
            if tracked.rotated_at is None or now - max(tracked.rotated_at, tracked.last_data) < self.rotate_wait:
                continue
            if self._read_file(tracked, limit=16, final=True)[1]:
                self._close(tracked)
            else:
                self._dirty[tracked.key] = None  # more to read first; try again after it
        self._schedule()
        self._schedule_sweep()

    # -- reading ---------------------------------------------------------------

    def _read_dirty(self) -> None:
        self._turn = None
        budget = 16  # chunks per turn, so that signals and other cogs get their turn
        while self._dirty and budget > 0 and not self.esc.is_paused(self):
            key = next(iter(self._dirty))
            del self._dirty[key]
            tracked = self._tracked.get(key)
            if tracked is None:
                continue
            chunks, at_end = self._read_file(tracked, limit=budget, final=not self._following)
            budget -= max(chunks, 1)
            if not at_end:
                if self._following:
                    self._dirty[key] = None  # to the back: files take turns
                else:
                    self._dirty = {key: None, **self._dirty}  # one file after the other
            elif not self._following:
                self._close(tracked)
        if not self._following and not self._tracked:
            self._stop_binding()
        self._schedule()

    def _check_truncation(self, tracked: _Tracked) -> None:
        try:
            size = os.fstat(tracked.fd).st_size
            same_start = tracked.refresh_fingerprint()
        except OSError:
            return
        if size >= tracked.read_pos and same_start:
            return
        old_head, old_start = tracked.head, tracked.line_start
        tracked.truncated = (old_head, old_start, time.monotonic())
        copy = self._find_copy(tracked, old_head, old_start)
        if copy is None:
            log.warning(
                "%s: truncated below offset %d; reading from the start (unread data before the truncation are gone,"
                " unless a copy shows up)",
                tracked.path,
                tracked.read_pos,
            )
        tracked.read_pos = tracked.line_start = 0
        tracked.partial = b""
        tracked.skipping = False
        tracked.generation += 1
        tracked.head = b""
        tracked.fp_len = 0
        tracked.refresh_fingerprint()
        self._known[tracked.key] = {"fp": tracked.fp, "fp_len": tracked.fp_len, "offset": 0, "path": tracked.path}

    def _continue_in_copy(self, copy: _Tracked, original: _Tracked, offset: int) -> None:
        """Read ``copy`` from where ``original`` was when it was truncated, then let it go."""
        name = copy.path or self._known.get(copy.key, {}).get("path", copy.key)
        log.info("%s: truncated; finishing its copy %s from offset %d", original.path, name, offset)
        copy.read_pos = copy.line_start = offset
        copy.rotated_at = time.monotonic()
        self._known[copy.key] = {"fp": copy.fp, "fp_len": copy.fp_len, "offset": offset, "path": copy.path}
        original.truncated = None
        self._dirty[copy.key] = None
        self._schedule_sweep()

    def _find_copy(self, tracked: _Tracked, old_head: bytes, old_start: int) -> _Tracked | None:
        """Find the copy of a truncated file's old content in its directory and resume in it."""
        if tracked.path is None or not old_head:
            return None
        directory = os.path.dirname(tracked.path)
        for other in self._tracked.values():
            if other.fresh and os.path.dirname(other.path or "") == directory:
                head = os.pread(other.fd, FINGERPRINT_BYTES, 0)
                if _starts_alike(head, old_head) == "same":
                    other.fresh = False
                    self._continue_in_copy(other, tracked, old_start)
                    return other
        try:
            names = os.listdir(directory)
        except OSError:
            return None
        for name in names:
            path = os.path.join(directory, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            key = f"{st.st_dev}:{st.st_ino}"
            if key in self._tracked or not stat.S_ISREG(st.st_mode) or st.st_size < old_start:
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                head = os.pread(fd, FINGERPRINT_BYTES, 0)
            finally:
                os.close(fd)
            if _starts_alike(head, old_head) != "same":
                continue
            self._shadows.discard(key)
            self._known.pop(key, None)
            copy = self._open(path, key, st, rotated=True)
            if copy is not None:
                self._continue_in_copy(copy, tracked, old_start)
            return copy
        return None

    def _read_file(self, tracked: _Tracked, limit: int = 1 << 30, final: bool = False) -> tuple[int, bool]:
        """Read ``tracked`` towards its end (at most ``limit`` chunks); send each chunk on.

        Stops early while the train has paused this supply.

        :param final: the file is being let go: at its end, an unfinished last
            line is sent too.
        :returns: chunks read, and whether the end of the file was reached.
        """
        if tracked.fresh:
            verdict, original = self._copy_verdict(tracked)
            if verdict == "wait":
                return 0, True
            if verdict == "copy":
                assert original is not None
                log.info("%s: a copy of %s; read only if that is truncated", tracked.path, original.path)
                self._shadows.add(tracked.key)
                self._known.pop(tracked.key, None)
                self._close(tracked)
                return 0, True
            tracked.fresh = False
            if verdict == "copy-of-truncated":
                assert original is not None and original.truncated is not None
                self._continue_in_copy(tracked, original, original.truncated[1])
        if tracked.rotated_at is None:
            self._check_truncation(tracked)
        chunks = 0
        at_end = False
        while chunks < limit and not self.esc.is_paused(self):
            try:
                chunk = os.pread(tracked.fd, self.read_size, tracked.read_pos)
            except OSError as exc:
                log.error("%s: read failed at offset %d: %s", tracked.path, tracked.read_pos, exc.strerror)
                at_end = True
                break
            if not chunk:
                at_end = True
                break
            if (
                tracked.rotated_at is None
                and tracked.head
                and os.pread(tracked.fd, len(tracked.head), 0) != tracked.head
            ):
                # Truncated and written again while we read: this chunk may hold
                # new content at old offsets. Drop it; the old content's end is
                # in the copy, if there is one, and the new one is read from 0.
                self._check_truncation(tracked)
                continue
            chunks += 1
            tracked.read_pos += len(chunk)
            tracked.last_data = time.monotonic()
            self._send_lines(tracked, tracked.partial + chunk)
        if at_end and final and tracked.partial:
            rest, tracked.partial = tracked.partial, b""
            self._send_lines(tracked, rest + b"\n", unfinished=True)
        return chunks, at_end

    def _send_lines(self, tracked: _Tracked, data: bytes, unfinished: bool = False) -> None:
        """Send the complete lines of ``data`` (which starts at ``line_start``) as one Batch.

        What follows the last newline is kept as the unfinished line. A line
        growing past ``max_line`` is reported once and then skipped to its end.
        """
        start = tracked.line_start
        cut = data.rfind(b"\n") + 1
        # A view, not a copy: the lines are decoded straight from the chunk read.
        complete, rest = memoryview(data)[:cut], data[cut:]
        consumed = cut
        lines_at = start
        if tracked.skipping:
            first = data.find(b"\n", 0, cut) + 1
            if not first:
                # Still inside the oversize line: drop what we have of it.
                tracked.partial = b""
                tracked.line_start = start + len(data)
                return
            complete, lines_at = complete[first:], start + first
            tracked.skipping = False
        if len(rest) > self.max_line:
            self._too_long(tracked, rest, start + cut)
            rest, consumed = b"", len(data)
            tracked.skipping = True
        tracked.partial = rest
        end = start + consumed - (1 if unfinished else 0)
        tracked.line_start = end
        if end == start:
            return
        batch = movement.Batch()
        if complete:
            if len(complete) > self.max_line:
                self._lines_with_ids(tracked, complete, lines_at, batch)
            elif self._set_id is None:
                self._fast_lines(tracked, complete, lines_at, batch)
            elif (
                self._line_key is None
                or self._id_key is None
                or not self._keyed_lines(tracked, complete, lines_at, batch)
            ):
                self._lines_with_ids(tracked, complete, lines_at, batch)
        self._seq += 1
        batch.batch_id = ("fs.tail", id(self), self._seq)
        self._batches[self._seq] = (tracked.key, tracked.generation, end)
        self.esc.send_from(self, batch)

    def _fast_lines(self, tracked: _Tracked, complete: memoryview, start: int, batch: movement.Batch) -> None:
        key = self._line_key
        if self._set_line is not None and key is None:
            # A setter of the user's may fail on a line: one at a time, then.
            self._lines_with_ids(tracked, complete, start, batch)
            return
        try:
            lines = str(complete, self.encoding).split("\n")
        except UnicodeDecodeError:
            self._lines_with_ids(tracked, complete, start, batch)
            return
        lines.pop()
        if key is None:
            batch.extend(lines)
        else:
            batch.extend([{key: line} for line in lines])

    def _keyed_lines(self, tracked: _Tracked, complete: memoryview, start: int, batch: movement.Batch) -> bool:
        """Data ``{id_key: "FILE:OFFSET", line_key: line}``, offsets counted at C speed.

        Only for a chunk no longer than ``max_line`` (so no line is too long).

        :returns: ``False`` when the chunk does not decode (then line by line).
        """
        try:
            text = str(complete, self.encoding)
        except UnicodeDecodeError:
            return False
        lines = text.split("\n")
        lines.pop()
        # Offsets need byte lengths; in ASCII text a character is a byte.
        pieces: list[Any] = lines if text.isascii() else complete.tobytes().split(b"\n")
        offsets = accumulate(map((1).__add__, map(len, pieces)), initial=start)
        name = tracked.path or self._known.get(tracked.key, {}).get("path", tracked.key)
        ids = map(f"{name}:".__add__, map(str, offsets))
        id_key, line_key = self._id_key, self._line_key
        # ids runs one longer (the offset after the last line): zip stops at the lines.
        batch.extend([{id_key: event_id, line_key: line} for event_id, line in zip(ids, lines, strict=False)])
        return True

    def _lines_with_ids(self, tracked: _Tracked, complete: memoryview, start: int, batch: movement.Batch) -> None:
        name = tracked.path or self._known.get(tracked.key, {}).get("path", tracked.key)
        offset = start
        raws = complete.tobytes().split(b"\n")
        raws.pop()
        for raw in raws:
            here = offset
            offset += len(raw) + 1
            event_id = f"{name}:{here}"
            if len(raw) > self.max_line:
                self._too_long(tracked, raw, here)
                continue
            try:
                line = raw.decode(self.encoding)
            except UnicodeDecodeError as exc:
                error = UnicodeDecodeError(exc.encoding, exc.object, exc.start, exc.end, f"{exc.reason} in {event_id}")
                self.esc.reject(self, {"id": event_id, "raw": raw, "file": name, "offset": here}, error)
                continue
            if self._line_key is not None and self._id_key is not None:
                batch.append({self._id_key: event_id, self._line_key: line})
                continue
            try:
                datum: Any = line if self._set_line is None else self._set_line({}, line)
                if self._set_id is not None and self._set_line is not None:
                    datum = self._set_id(datum, event_id)
            except Exception as exc:  # noqa: BLE001 - the user's setter failed: that line goes to the error output
                self.esc.reject(self, {"id": event_id, "line": line, "file": name, "offset": here}, exc)
                continue
            batch.append(datum)

    def _too_long(self, tracked: _Tracked, raw: bytes, offset: int) -> None:
        name = tracked.path or tracked.key
        error = LineTooLong(f"{name}:{offset}: line longer than {self.max_line} bytes; cut to the limit")
        datum = {"id": f"{name}:{offset}", "raw": raw[: self.max_line], "file": name, "offset": offset}
        log.warning("%s", error)
        self.esc.reject(self, datum, error)

    def _close(self, tracked: _Tracked) -> None:
        self._tracked.pop(tracked.key, None)
        self._dirty.pop(tracked.key, None)
        if tracked.watch is not None:
            self.esc.inotify_rm(tracked.watch)
            tracked.watch = None
        try:
            os.close(tracked.fd)
        except OSError:
            pass
        if tracked.rotated_at is not None and tracked.path is None:
            log.info("%s: let go of rotated file %s", self, self._known.get(tracked.key, {}).get("path"))

    # -- acknowledgements and state ----------------------------------------------

    def batch_done(self, batch_id: Any) -> None:
        """A batch of ours has been handled: its file's position may move on."""
        if type(batch_id) is not tuple or len(batch_id) != 3 or batch_id[1] != id(self):
            return
        key, generation, end = self._batches.pop(batch_id[2], (None, 0, 0))
        known = self._known.get(key) if key is not None else None
        tracked = self._tracked.get(key) if key is not None else None
        if known is None or (tracked is not None and tracked.generation != generation):
            return
        if end > known.get("offset", 0):
            known["offset"] = end
            if tracked is not None:
                known["fp"], known["fp_len"] = tracked.fp, tracked.fp_len
                if tracked.path:
                    known["path"] = tracked.path

    def checkpoint(self) -> None:
        """Save the acknowledged positions."""
        if self._state is not None:
            self._state.set(self._section, {"files": {k: dict(v) for k, v in self._known.items()}})
            self._state.save_soon(self.esc)

    def finish(self) -> None:
        """Stop reading and release every binding; positions keep what was acknowledged."""
        self._finished = True
        self._stop_binding()
        for tracked in list(self._tracked.values()):
            if tracked.watch is not None:
                self.esc.inotify_rm(tracked.watch)
                tracked.watch = None

    def _stop_binding(self) -> None:
        for binding in (self._turn, self._retry, self._sweeper):
            if binding is not None:
                self.esc.dequeue(binding)
        self._turn = self._retry = self._sweeper = None
        for watch in self._dir_watches.values():
            self.esc.inotify_rm(watch)
        self._dir_watches.clear()

    def done(self) -> None:
        """Close the files and save the state one last time."""
        for tracked in list(self._tracked.values()):
            try:
                os.close(tracked.fd)
            except OSError:
                pass
        self._tracked.clear()
        if self._state is not None:
            self._state.set(self._section, {"files": self._known})
            self._state.release()
            self._state = None


class FileReaderSupply(FileWatcherSupply):
    """Read files once, from start to end, one datum per line, then stop.

    The one-shot form of ``fs.tail``, for batch jobs: each datum is a dict with
    the line and an id ``FILE:OFFSET``. When the last file is read the supply
    unbinds and, if nothing else is bound, the run ends.

    :param esc: the Escapement.
    :param filenames: files (or glob patterns) to read, in order.
    :param encoding: text encoding of the files.
    :param max_line: longest line in bytes; longer ones go to the error output.
    :param line_setter: where the line goes (callable or field path); ``false``
        makes each datum the line itself.
    :param id_setter: where the event id (``FILE:OFFSET``) goes (a setter or a
        field path), or a function of the datum that sets an id of its own;
        ``false`` for none.
    """

    config_name = "read"

    def __init__(
        self,
        esc: movement.Escapement,
        filenames: conf.PathList,
        encoding: str = "utf-8",
        max_line: int = 1 << 20,
        line_setter: movement.FieldSetter | None = "line",
        id_setter: movement.IdSetter | None = "id",
    ) -> None:
        super().__init__(
            esc,
            filenames,
            tail=False,
            encoding=encoding,
            max_line=max_line,
            line_setter=line_setter,
            id_setter=id_setter,
        )
