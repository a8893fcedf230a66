"""Position state: one JSON file shared by the cogs that name it, saved atomically.

A tailer and an output that name the same ``state_file`` each own a section of
it. They share one :class:`StateFile` object, which the application's
Escapement keeps for them (:meth:`Escapement.share`): two applications in one
process, or two test runs, never see each other's. Both sections are written
in one atomic replace (temporary file, fsync, rename), so what is on disk
always pairs the input positions with the output offset of the same
checkpoint: after a SIGKILL, the output is cut back to its recorded offset and
the inputs resume from theirs, and no line is repeated or lost.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import time
from typing import Any, Protocol, runtime_checkable

from deadbeat.daemon import UnsafePath, check_private_directory, read_private, set_aside, write_atomically

__all__ = [
    "STATE_VERSION",
    "PreparedJSON",
    "StateFile",
    "StateFileInUse",
    "StateVersionError",
    "state_file_doubts",
    "state_file_problems",
]

#: The format of the state file this version reads and writes.
STATE_VERSION = 1


class StateVersionError(ValueError):
    """The state file is of a format another version of Deadbeat wrote: it is neither read nor replaced."""


class StateFileInUse(Exception):
    """Another process keeps its positions in this state file: running beside it would repeat every line."""


log = logging.getLogger("deadbeat.fs")

#: The state files this process holds the lock of: path -> [descriptor, users].
#: One lock per process: a reload builds the new pipeline's cogs while the
#: old ones still hold theirs, and flock would refuse a second descriptor of
#: the same process.
_locks: dict[str, list[int]] = {}


def _lock(path: str) -> None:
    """Take the lock of the state file ``path`` for this process (``PATH.lock`` beside it, held with flock).

    Two processes with one state file (a service, and the same pipeline run by
    hand to try it) each read from the same positions and write the same lines:
    every line written twice, each cutting back the other's output at a restart.

    :raises StateFileInUse: when another process holds it.
    """
    held = _locks.get(path)
    if held is not None:
        held[1] += 1
        return
    name = f"{path}.lock"
    # Never through a link: the directory is private (checked), the name is not followed.
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(
                errno.ELOOP, f"{name} is a symbolic link; the state file's lock is never taken through a link"
            ) from None
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        other = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise StateFileInUse(
                f"{path}: the state file is in use by another process (pid {other}, holding {name}): two runs"
                " with one state file would each write every line; stop the other, or give this run a"
                " state_file of its own",
            ) from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _locks[path] = [fd, 1]


def _unlock(path: str) -> None:
    """Let the lock of ``path`` go when its last user in this process is done (the lock file stays)."""
    held = _locks.get(path)
    if held is None:
        return
    held[1] -= 1
    if held[1] <= 0:
        del _locks[path]
        os.close(held[0])


def _holder(path: str) -> str | None:
    """The pid of another process holding the lock of the state file ``path``, if one does (the lock is not kept).

    This process's own lock (a reload checking the new pipeline) is no other's.
    """
    if path in _locks:
        return None
    try:
        fd = os.open(f"{path}.lock", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None  # no lock file (never run), or one we cannot open: the run says why
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        return None
    finally:
        os.close(fd)
    return None


def _read_for_check(path: str) -> tuple[dict[str, Any] | None, str | None]:
    """The state document at ``path`` as the run would load it: ``(document, why it cannot be read)``."""
    try:
        raw = read_private(path)
    except OSError:
        return None, None  # unsafe or unreadable: the path checks of deadbeat check say so
    if raw is None:
        return None, None
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("sections"), dict):
            raise ValueError("no 'sections' object")
    except ValueError as exc:
        return None, str(exc)
    return data, None


def state_file_problems(path: str) -> list[str]:
    """For ``deadbeat check``: why a run would refuse the state file ``path``, read without taking it.

    Another process holding it, or a format another version of Deadbeat wrote.
    """
    full = os.path.abspath(path)
    problems = []
    holder = _holder(full)
    if holder is not None:
        problems.append(
            f"state_file: {full} is in use by another process (pid {holder}): the run would refuse to start;"
            " stop the other, or give this pipeline a state_file of its own"
        )
    data, _ = _read_for_check(full)
    if data is not None and data.get("version", STATE_VERSION) != STATE_VERSION:
        problems.append(
            f"state_file: {full} is of format {data.get('version')!r}, written by another version of Deadbeat"
            f" (this one reads format {STATE_VERSION}): the run would refuse it; run that version, or move the"
            " file away to start over (every file is then read again)"
        )
    return problems


def state_file_doubts(path: str) -> list[str]:
    """For ``deadbeat check``: what a run would do with the state file ``path`` without failing, but say.

    An unreadable state (cut short, not JSON) is moved aside by the run,
    which then starts without it: every file is read from its start again.
    """
    full = os.path.abspath(path)
    _, unreadable = _read_for_check(full)
    if unreadable is None:
        return []
    return [
        f"state_file: {full} cannot be read ({unreadable}): the run moves it aside and starts without it,"
        " reading every file from its start again (lines already written are written again)"
    ]


@runtime_checkable
class PreparedJSON(Protocol):
    """A section value that keeps its own JSON text up to date.

    A tailer of 10,000 files would otherwise have its whole record encoded
    again at every save (90 ms for 10,000 entries, once a second); a value
    that keeps the text of each entry, and encodes again only those that
    changed, makes a save cost a join.
    """

    def json_text(self) -> str:
        """:returns: the value as JSON text."""
        ...


def _document(sections: dict[str, Any]) -> str:
    """The state file's text: ``{"sections": {...}, "version": 1}``, sections in name order."""
    parts = []
    for name in sorted(sections):
        value = sections[name]
        text = value.json_text() if isinstance(value, PreparedJSON) else json.dumps(value, sort_keys=True)
        parts.append(f"{json.dumps(name)}: {text}")
    return '{"sections": {' + ", ".join(parts) + '}, "version": ' + str(STATE_VERSION) + "}"


class StateFile:
    """A JSON document of named sections, shared by the cogs of one application.

    Use :meth:`acquire` rather than the constructor, and :meth:`release` when done.

    :param path: the file.
    :param interval: least seconds between two saves; a save asked for sooner
        is done when the interval has passed (by :meth:`save_due`) or at release.
    """

    def __init__(self, path: str, interval: float = 1.0) -> None:
        self.path = os.path.abspath(path)
        self.interval = interval
        self.sections: dict[str, Any] = {}
        #: Sections the cogs of this application use: never taken over by another.
        self.claimed: set[str] = set()
        self.users = 0
        self._esc: Any = None
        self._saved_text = ""
        self._last_save = 0.0
        self._timer: Any = None
        # Since when saves fail (a full disk), and when that was last said; None while they work.
        self._failing_since: float | None = None
        self._told_failing = 0.0
        self._failed_at_release = False
        self.dirty = False
        # Reached without following a link another account could have planted
        # on the way (every read and write goes the same way); missing
        # directories are made now, for the owner only: a save must not find
        # them missing later.
        for directory in check_private_directory(self.path, create=True):
            log.info("%s: created the state file's directory", directory)
        _lock(self.path)
        self._locked = True
        try:
            self._load()
        except BaseException:
            self._locked = False
            _unlock(self.path)
            raise

    @classmethod
    def acquire(cls, esc: Any, path: str, interval: float | None = None) -> StateFile:
        """:returns: the application's instance for ``path`` (loaded on first use).

        :param esc: the application's Escapement, which keeps the instance.
        :param interval: least seconds between saves that this user asks for;
            the shortest asked for wins. ``None`` asks for nothing.
        """
        full = os.path.abspath(path)
        state: StateFile = esc.share((cls, full), lambda: cls(full, 1.0 if interval is None else interval))
        if interval is not None:
            state.interval = min(state.interval, interval)
        state.users += 1
        state._esc = esc
        return state

    def release(self) -> None:
        """Save what is pending; the last user lets the application forget the instance.

        The last save failing (a full disk) fails the run: the positions of what
        was written since the last save are not kept, and the next start reads
        those lines again (an output that cannot be cut back writes them twice).
        """
        try:
            self.save(force=True)
        except OSError as exc:
            message = (
                f"cannot save the positions ({exc.strerror or exc}): what was read since the last save"
                " is read again at the next start"
            )
            esc = getattr(self, "_esc", None)
            if self._failed_at_release:
                pass  # said by an earlier user's release: once is the truth, twice a repetition
            elif esc is not None and hasattr(esc, "fail"):
                esc.fail(self.path, message)
            else:
                log.error("%s: %s", self.path, message)
            self._failed_at_release = True
        if self._timer is not None and self.users <= 1:
            self._timer.cancel()
            self._timer = None
        self.users -= 1
        if self.users <= 0 and self._esc is not None:
            self._esc.unshare((StateFile, self.path))
        if self.users <= 0 and self._locked:
            self._locked = False
            _unlock(self.path)

    def _load(self) -> None:
        raw = read_private(self.path)
        if raw is None:
            return
        try:
            text = raw.decode("utf-8")
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("sections"), dict):
                raise ValueError("no 'sections' object")
        except ValueError as exc:
            self.set_aside(str(exc))
            return
        version = data.get("version", STATE_VERSION)
        if version != STATE_VERSION:
            # Written by another version of Deadbeat: valid there, so neither read nor moved.
            raise StateVersionError(
                f"{self.path}: a state file of format {version!r}, written by another version of Deadbeat (this one"
                f" reads format {STATE_VERSION}); not read. Run that version, or move the file away to start over"
                " (every file is then read again)"
            )
        self.sections = data["sections"]
        self._saved_text = text

    def set_aside(self, reason: str) -> None:
        """The state cannot be read (``reason``): moved aside as evidence, and every user starts without it.

        Never start from a state we cannot read as if it were empty without saying so.
        """
        aside = set_aside(self.path, f"{os.path.basename(self.path)}.corrupt-{int(time.time())}")
        log.error("%s: unreadable state (%s); moved to %s, starting without it", self.path, reason, aside)
        self.sections = {}
        self._saved_text = ""

    def get(self, section: str, default: Any = None) -> Any:
        """:returns: a section's value, or ``default``."""
        return self.sections.get(section, default)

    def set(self, section: str, value: Any) -> None:
        """Replace a section (saved by the next :meth:`save`)."""
        self.sections[section] = value
        self.dirty = True

    def save_soon(self, esc: Any) -> None:
        """Save at the end of this turn of the loop if the interval allows, else once it has passed.

        Not at once: the other batches acknowledged in the same turn (a tailer
        sends up to 16 per turn) go into the same save, so that a process killed
        again and again, faster than the interval, still moves on by whole turns.
        The timer is housekeeping: it does not keep the application running, as
        the last user's :meth:`release` saves anyway.
        """
        if not self.dirty or self._timer is not None:
            return
        wait = self.interval - (time.monotonic() - self._last_save)
        if wait <= 0:
            self._timer = esc.after(0, self._timed_save, keeps_alive=False)
        else:
            self._timer = esc.after(wait, self._timed_save, keeps_alive=False)

    def _timed_save(self) -> None:
        self._timer = None
        try:
            self.save(force=True)
        except OSError as exc:
            # A full or read-only disk: said plainly (it was a traceback from a timer, at every
            # checkpoint), again every minute while it lasts, and tried again after the interval.
            now = time.monotonic()
            if self._failing_since is None or now - self._told_failing >= 60.0:
                log.error(
                    "%s: cannot save the positions (%s)%s; trying again: until it works, a restart reads again"
                    " what was read since the last save",
                    self.path,
                    exc.strerror or exc,
                    "" if self._failing_since is None else f" for {now - self._failing_since:.0f} s",
                )
                self._told_failing = now
            if self._failing_since is None:
                self._failing_since = now
            esc = getattr(self, "_esc", None)
            if esc is not None:
                self._timer = esc.after(max(self.interval, 1.0), self._timed_save, keeps_alive=False)
            return
        if self._failing_since is not None:
            log.warning("%s: positions saved again after %.0f s", self.path, time.monotonic() - self._failing_since)
            self._failing_since = None

    def save(self, force: bool = False, paced: bool = True) -> bool:
        """Write the document atomically if it changed and the interval allows.

        :param paced: whether this save counts for the interval; ``False`` for a
            save that must not put off the next one (an output's size at start,
            written before its first line: the first positions still go out at
            once after it).
        :returns: whether a save is still pending (too soon after the last one).
        """
        if not self.dirty:
            return False
        if getattr(self._esc, "abandoned", False):
            # The pipeline sharing it never ran (a cog of it failed to build):
            # what its cogs set here describes nothing that happened.
            self.dirty = False
            return False
        now = time.monotonic()
        if not force and now - self._last_save < self.interval:
            return True
        text = _document(self.sections)
        self.dirty = False
        if paced:
            self._last_save = now
        if text == self._saved_text:
            return False
        # A random name created exclusively, mode 0600, renamed into place: a
        # link planted beside the state file is never written through.
        try:
            write_atomically(self.path, text.encode("utf-8"))
        except OSError:
            self.dirty = True  # not saved: the next save tries again
            raise
        self._saved_text = text
        return False
