"""Spool directories: one file per event, in and out.

A writer puts each event into its own file under a temporary name (starting with
a dot) and renames it into the directory when complete, as maildir does; the
rename is atomic, so a reader never sees half a file.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import stat
import time
import unicodedata
from typing import Any

from deadbeat import conf, movement
from deadbeat.daemon import open_directory

from ._io import write_all
from ._paths import kind

__all__ = ["SpoolDirDrain", "SpoolDirSupply"]

log = logging.getLogger("deadbeat.fs")

_DIR_EVENTS = movement.IN_MOVED_TO | movement.IN_CLOSE_WRITE | movement.IN_CREATE


#: Unicode categories never taken in a spool file name: control characters (C0,
#: C1), format characters (bidirectional overrides that make a name read as
#: another, zero-width ones), line and paragraph separators, surrogates.
_UNSHOWN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _visible(name: str) -> bool:
    return not name.startswith(".") and not name.endswith(".tmp")


def _open_spool_directory(directory: str, create: bool = False) -> int:
    """A descriptor of ``directory`` that every later operation goes through, by name within it.

    The directory is reached as the daemon's files are (see
    :func:`deadbeat.daemon.open_directory`): a symbolic link on the way, or the
    directory itself being one, is followed only where no other account could
    have planted it. So a link another account put in place of a spool
    directory in ``/tmp`` neither leads the writer into a directory of ours nor
    lets the reader take (and remove) our files; and once opened, renaming
    directories around cannot redirect what is written, read or removed.

    :param create: make it if missing (mode 0777 less the umask, as ``mkdir``;
        missing directories above it are made private).
    :raises UnsafePath: for a link that may not be followed.
    """
    if create:
        parent = open_directory(directory, private=False, create=True)
        try:
            os.mkdir(os.path.basename(os.path.abspath(directory)), 0o777, dir_fd=parent)
        except FileExistsError:
            pass  # there already, or a link: checked below
        finally:
            os.close(parent)
    # The directory of a file in it: the walk opens the directory itself, as its last step.
    holder = open_directory(os.path.join(directory, "-"), private=False)
    try:
        return os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=holder)
    finally:
        os.close(holder)


class _TooLarge(ValueError):
    """A spool file larger than ``max_size``: refused, and removed once its error record is written."""


class SpoolDirSupply(movement.Supply):
    """Take each file renamed into a directory as one datum; remove it once handled.

    Files present at start are taken first, oldest first. A file is removed (or
    moved to ``done_dir``) only when its ``batch_done`` comes, that is when the
    datum has been written out or has gone to the error output; until then a
    restart takes it again. A file the supply refuses itself (bytes that do not
    decode, a setter that raises, more than ``max_size`` bytes with a
    ``done_dir``) is handled the same way: it goes to the error output, and is removed (or moved) once that
    record is written, as a datum that failed in a later cog; while the error
    output cannot write, the file stays for the next start. Names starting with
    a dot or ending in ``.tmp`` are left alone: writers use them while writing.
    Only regular files are read: a name that is a symbolic link or a FIFO when
    it is opened (swapped in after the listing) goes to the error output, never
    followed nor waited on, and is left where it is (the listing passes over
    it). A file that cannot be read (no permission, an I/O error) goes to the
    error output, without its content, and stays, to be tried again at the next
    start. The directory itself is opened once, at start, never through a link
    another account could have planted (as for ``fs.write``); files are then
    read and removed within that directory, whatever is renamed around it later.

    :param esc: the Escapement (a Train is taken too).
    :param directory: the spool directory.
    :param done_dir: move handled files here instead of removing them.
    :param encoding: text encoding of the files; ``None`` keeps bytes.
    :param max_size: largest file in bytes; a larger one goes to the error
        output (its name and size, not its content, which is never read) and
        is moved to ``done_dir`` once that is written; without ``done_dir`` it
        stays in the spool (removed, its content would be lost), and goes to
        the error output again at every start.
    :param content_setter: where the content goes (callable or field path).
    :param id_setter: where the event id (the file name) goes (a setter or a
        field path), or a function of the datum that sets an id of its own (the
        manual's form); ``false`` for none. A file whose setter fails goes to
        the error output with its content, and is removed once that is written.
    :param poll_interval: seconds between looks where inotify is missing.
    """

    config_name = "spool"

    def __init__(
        self,
        esc: movement.Escapement,
        directory: conf.Path,
        done_dir: conf.Path | None = None,
        encoding: conf.Encoding | None = "utf-8",
        max_size: int = 16 << 20,
        content_setter: movement.FieldSetter = "data",
        id_setter: movement.IdSetter | None = "id",
        poll_interval: float = 1.0,
    ) -> None:
        esc = movement.escapement_of(esc)
        self.esc = esc
        self.directory = directory
        self.done_dir = done_dir
        self.encoding = encoding
        self.max_size = max_size
        self.content_setter = content_setter
        self.id_setter = id_setter
        self.poll_interval = poll_interval
        self._set_content = movement.setter(content_setter)
        self._set_id = movement.id_setter(id_setter)
        self._own_ids = callable(id_setter) and self._set_id is not id_setter
        self._taken: set[str] = set()
        self._failed: set[str] = set()
        self._following = not getattr(esc, "once", False)
        self._watch: movement.Binding | None = None
        self._turn: movement.Binding | None = None
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"spool directory {directory!r} does not exist")
        self._dir = _open_spool_directory(directory)
        self._done_dir = _open_spool_directory(done_dir, create=True) if done_dir is not None else None
        if self._following:
            # Without inotify, the Escapement polls the directory instead.
            self._watch = esc.inotify_add(directory, _DIR_EVENTS, self._on_event, poll_interval=poll_interval)
        self._turn = esc.enqueue(self._scan)

    def _on_event(self, event: movement.InotifyEvent) -> None:
        if self._turn is None:
            self._turn = self.esc.enqueue(self._scan)

    def _candidates(self) -> list[str]:
        try:
            entries = list(os.scandir(self._dir))
        except OSError as exc:
            log.error("%s: cannot list: %s", self.directory, exc.strerror)
            return []
        found = []
        for entry in entries:
            if entry.name in self._taken or entry.name in self._failed or not _visible(entry.name):
                continue
            try:
                if entry.is_file(follow_symlinks=False):
                    found.append((entry.stat().st_mtime_ns, entry.name))
            except OSError:
                continue
        return [name for _, name in sorted(found)]

    def _scan(self) -> None:
        self._turn = None
        for name in self._candidates():
            self._take(name)
        if not self._following:
            self._turn = None

    def _take(self, name: str) -> None:
        path = os.path.join(self.directory, name)
        try:
            raw = self._read(name, path)
        except FileNotFoundError:
            return  # taken by someone else between listing and reading
        except _TooLarge as exc:
            log.error("%s: cannot take: %s", path, exc)
            record, error = {"id": name, "file": path}, ValueError(*exc.args)  # recorded as before: a ValueError
            if self._done_dir is None:
                # Its content is in no record: removed, it would be lost. It
                # stays, and goes to the error output again at the next start.
                self._failed.add(name)
                self.esc.reject(self, record, error)
            else:
                self._refuse(name, record, error)
            return
        except (OSError, ValueError) as exc:
            # Not read (no permission, an I/O error: tried again at the next
            # start), or not a regular file (which the listing passes over):
            # nothing of it is in the record, so it stays where it is.
            self._failed.add(name)
            log.error("%s: cannot take: %s", path, exc)
            self.esc.reject(self, {"id": name, "file": path}, exc if isinstance(exc, ValueError) else ValueError(exc))
            return
        content: Any = raw
        if self.encoding is not None:
            try:
                content = raw.decode(self.encoding)
            except UnicodeDecodeError as exc:
                self._refuse(name, {"id": name, "file": path, "raw": raw}, exc)
                return
        try:
            datum: Any = {}
            if self._set_id is not None:
                datum = self._set_id(datum, name)
            datum = self._set_content(datum, content)
        except Exception as exc:  # noqa: BLE001 - the user's setter failed: the file goes to the error output
            self._refuse(name, {"id": name, "file": path, "content": content}, exc)
            return
        self._taken.add(name)
        # The file's name is its event id, told beside the datum whatever field
        # the setter put it in (unless the manual's id function made one of its own).
        ids = None if self._own_ids else (lambda: [name])
        self.esc.send_from(self, movement.Batch([datum], batch_id=("fs.spool", id(self), name), event_ids=ids))

    def _refuse(self, name: str, record: dict[str, Any], error: Exception) -> None:
        """Send the file ``name``, which makes no datum, to the error output; remove it once that is acknowledged.

        The record goes first, then an empty batch of the file's own id: the
        train acknowledges that batch (``batch_done`` removes or moves the
        file) only once the error output has written what came before it, as
        for a datum that fails in a later cog. While the error output cannot
        write, nothing is acknowledged and the file stays for the next start.
        """
        self._taken.add(name)
        self.esc.reject(self, record, error)
        self.esc.send_from(self, movement.Batch([], batch_id=("fs.spool", id(self), name)))

    def _read(self, name: str, path: str) -> bytes:
        """The content of the regular file ``name`` (``path``): never through a link, never waiting on a FIFO.

        Listed as a regular file, the name may have been swapped for a link or
        a FIFO since (a spool directory is where others put files).

        :raises ValueError: for what is not a regular file; :class:`_TooLarge` for
            a file larger than ``max_size``.
        """
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=self._dir)
        except OSError:
            # ELOOP, or EACCES where the kernel protects sticky directories.
            if stat.S_ISLNK(os.stat(name, dir_fd=self._dir, follow_symlinks=False).st_mode):
                raise ValueError(f"{path}: a symbolic link; not followed") from None
            raise
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ValueError(f"{path}: not a regular file ({kind(st.st_mode)}); not read")
            os.set_blocking(fd, True)
            raw = handle.read(self.max_size + 1) if st.st_size <= self.max_size else b""
            if st.st_size > self.max_size or len(raw) > self.max_size:
                raise _TooLarge(f"{path}: {max(st.st_size, len(raw))} bytes, more than max_size {self.max_size}")
            return raw

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        """The file's datum is handled: remove the file, or move it to ``done_dir``."""
        if type(batch_id) is not tuple or len(batch_id) != 3 or batch_id[1] != id(self):
            return
        name = batch_id[2]
        path = os.path.join(self.directory, name)
        try:
            if self._done_dir is not None:
                os.rename(name, name, src_dir_fd=self._dir, dst_dir_fd=self._done_dir)
            else:
                os.unlink(name, dir_fd=self._dir)
        except OSError as exc:
            log.error("%s: %s: cannot remove after processing: %s", name, path, exc.strerror)
        self._taken.discard(name)

    def finish(self) -> None:
        """Stop taking files; those not handled stay in the directory for the next start."""
        if self._turn is not None:
            self.esc.dequeue(self._turn)
            self._turn = None
        if self._watch is not None:
            self.esc.inotify_rm(self._watch)
            self._watch = None

    def done(self) -> None:
        """Let go of the directories (acknowledgements, which remove files, are over by now)."""
        for fd in (self._dir, self._done_dir):
            if fd is not None:
                os.close(fd)
        self._dir = self._done_dir = -1


class SpoolDirDrain(movement.Cog):
    """Write each datum into its own file in a directory, atomically.

    The content is written under a temporary dot-name (random, created
    exclusively) and linked into place, so a reader of the directory never sees
    a partial file, and an existing file of the same name is never replaced: that
    datum goes to the error output instead. The directory is opened once, at
    start, never through a link another account could have planted (as for
    ``fs.write``), and every file is made within it.

    Its figures for ``/metrics`` and ``--stats`` (``metrics()``): files and
    bytes written, failed writes and the time of the last failure. Each datum is
    written before the next is taken, so nothing is ever pending, and nothing is
    retried: a datum that cannot be written goes to the error output.

    :param directory: where the files go (created if missing).
    :param content_getter: what to write (callable or field path); text is
        encoded, bytes are written as they are.
    :param name_getter: the file name for a datum, text or a number (anything
        else, a null or a list, sends the datum to the error output); by default
        a unique name from the time, the process id and a counter.
    :param encoding: encoding for text content.
    :param fsync: sync each file (and the directory) before and after the rename.
    """

    config_name = "spool_write"

    def __init__(
        self,
        directory: conf.Path,
        content_getter: movement.FieldGetter = "data",
        name_getter: movement.FieldGetter | None = None,
        encoding: conf.Encoding = "utf-8",
        fsync: bool = True,
    ) -> None:
        self.directory = directory
        self.content_getter = content_getter
        self.name_getter = name_getter
        self.encoding = encoding
        self.fsync = fsync
        self._get_content = movement.getter(content_getter)
        self._get_name = movement.getter(name_getter) if name_getter is not None else None
        self._counter = itertools.count()
        # Figures (see metrics).
        self._written = 0
        self._bytes_written = 0
        self._write_errors = 0
        self._last_error = 0.0
        self._dir = _open_spool_directory(directory, create=True)

    def _name(self, data: Any) -> str:
        if self._get_name is not None:
            found = self._get_name(data)
            if isinstance(found, bool) or not isinstance(found, (str, int)):
                # None (a field that is null) became a file named "None", a list "['x']": names no one chose,
                # and the second datum without a name then failed on the first one's file.
                raise ValueError(f"the spool file name must be text or a number, not {type(found).__name__}")
            name = str(found)
            if (
                not name
                or "/" in name
                or name.startswith(".")
                or name.endswith(".tmp")
                or any(unicodedata.category(c) in _UNSHOWN for c in name)
            ):
                raise ValueError(
                    f"unusable spool file name {name!r}: no '/', no leading dot, no .tmp end, no control,"
                    " format or line-separating characters"
                )
            return name
        return f"{time.time_ns()}.{os.getpid()}.{next(self._counter)}"

    def __call__(self, data: Any) -> tuple[Any, ...]:
        content = self._get_content(data)
        if isinstance(content, str):
            content = content.encode(self.encoding)
        name = self._name(data)
        try:
            self._write(name, content)
        except OSError:
            self._write_errors += 1
            self._last_error = time.time()
            raise
        self._written += 1
        self._bytes_written += len(content)
        return (data,)

    def _write(self, name: str, content: Any) -> None:
        final = os.path.join(self.directory, name)
        temporary = f".{name}.{secrets.token_hex(6)}.tmp"
        at = self._dir
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temporary, flags, 0o644, dir_fd=at)
        try:
            try:
                write_all(fd, content)
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            # link() never replaces: an existing file of that name (a planted one,
            # or an earlier event's) stays, and this datum fails instead.
            os.link(temporary, name, src_dir_fd=at, dst_dir_fd=at, follow_symlinks=False)
        except FileExistsError:
            raise FileExistsError(f"spool file {final} exists already; not replaced") from None
        finally:
            os.unlink(temporary, dir_fd=at)
        if self.fsync:
            os.fsync(at)

    def done(self) -> None:
        """Let go of the directory."""
        if self._dir >= 0:
            os.close(self._dir)
            self._dir = -1

    def metrics(self) -> dict[str, float]:
        """Figures for ``deadbeat run --metrics-port`` and ``--stats`` (see :mod:`deadbeat.metrics`).

        :returns: the counters ``written_total`` (files put in place),
            ``bytes_written_total`` and ``write_errors_total`` (data that could
            not be written: a full disk, a name taken already; each went to the
            error output); the gauges ``pending`` (always 0: each datum is
            written when it comes) and ``last_error_timestamp_seconds`` (when a
            write last failed, in seconds since the epoch; 0: never).
        """
        return {
            "written_total": self._written,
            "bytes_written_total": self._bytes_written,
            "write_errors_total": self._write_errors,
            "pending": 0,
            "last_error_timestamp_seconds": self._last_error,
        }
