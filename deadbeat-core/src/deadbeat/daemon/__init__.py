"""Becoming a well-behaved daemon: detaching, pid file, one instance at a time.

``daemon.detach(**cfg.daemon)`` with the ``daemon`` section of
:data:`daemon_base_config`. Signals are the Escapement's business
(:meth:`deadbeat.movement.Escapement.signal_register`).

The pid file doubles as the single-instance lock: it is held with ``fcntl.lockf``
for the life of the process, so a second instance sees the lock (not merely the
file, which a crash leaves behind) and refuses to start, naming the running pid.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import os
import sys
from typing import Any

from ..conf import cast_boolean, cast_octal, cast_optional, cast_path, cast_str, cfg_item, cfg_section
from ._files import (
    UnsafePath,
    check_log_file,
    check_owned,
    check_private_directory,
    open_directory,
    open_log_file,
    open_owned,
    others_may_write,
    read_private,
    set_aside,
    trusted_owner,
    write_atomically,
)
from ._limits import descriptor_note
from ._notify import Notifier

__all__ = [
    "DaemonError",
    "account_of",
    "Notifier",
    "descriptor_note",
    "drop_privileges",
    "PidFile",
    "UnsafePath",
    "check_log_file",
    "check_pid_file",
    "check_private_directory",
    "daemon_base_config",
    "detach",
    "open_directory",
    "report_started",
    "leave_start_report",
    "start_reported_later",
    "open_log_file",
    "others_may_write",
    "read_private",
    "set_aside",
    "trusted_owner",
    "write_atomically",
]

#: The ``daemon`` section an application adds to its configuration (and the
#: ``[daemon]`` table of a pipeline file).
daemon_base_config = cfg_section(
    "daemon",
    (
        cfg_item("detach", cast_boolean, "Detach from the terminal and run in the background", False),
        cfg_item("pid_file", cast_optional(cast_path), "Pid file, also a lock against a second instance", None),
        cfg_item("work_dir", cast_path, "Working directory after detaching", "/"),
        cfg_item(
            "umask",
            cast_optional(cast_octal),
            'File creation mask, octal in quotes ("027"); none keeps the one inherited',
            None,
        ),
        cfg_item("user", cast_optional(cast_str), "User to run as (started as root): name or uid", None),
        cfg_item("group", cast_optional(cast_str), "Group to run as: name or gid (the user's by default)", None),
    ),
    "Daemon behaviour",
)


class DaemonError(RuntimeError):
    """The process cannot become the daemon asked for (another instance runs...)."""


class PidFile:
    """A locked pid file; the lock lasts as long as this object's descriptor.

    Never written through a link: its directory is reached without following
    a link another account could have planted, and kept only if nobody else
    can write to it (see :func:`check_private_directory`); missing directories
    on the way are made, mode 0700, as for state files; the file is opened
    relative to that directory with ``O_NOFOLLOW``, and refused when someone
    else owns it or it has other hard links. At exit it is removed through
    the same directory, and only if the name still holds our file.

    :param path: where the pid file lives.
    :raises DaemonError: when another live process holds it, or the place is unsafe.
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._dir_fd, self.fd = _open_pid_file(self.path)
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            other = os.pread(self.fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            self._close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise DaemonError(f"{self.path}: another instance is running (pid {other})") from None
            raise DaemonError(f"{self.path}: cannot lock: {exc.strerror}") from None
        self.write()

    def write(self) -> None:
        """Write the current pid (again, after a fork)."""
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(self.fd)

    def release(self) -> None:
        """Remove the file and drop the lock (only from the process that wrote it)."""
        if self.fd < 0:
            return
        try:
            name = os.path.basename(self.path)
            mine, there = os.fstat(self.fd), os.stat(name, dir_fd=self._dir_fd, follow_symlinks=False)
            if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino) and os.pread(self.fd, 32, 0).strip() == str(
                os.getpid()
            ).encode():
                os.unlink(name, dir_fd=self._dir_fd)
        except OSError:
            pass
        self._close()

    def _close(self) -> None:
        os.close(self.fd)
        os.close(self._dir_fd)
        self.fd = self._dir_fd = -1


def _open_pid_file(path: str) -> tuple[int, int]:
    """Open (or create, mode 0644) the pid file without following a link, refusing a foreign one.

    Missing directories on the way are made, mode 0700 (:func:`open_directory`).

    :returns: the descriptors of its directory and of the file.
    :raises DaemonError: naming the path and what is wrong.
    """
    try:
        dir_fd = open_directory(path, create=True)
    except UnsafePath as exc:
        raise DaemonError(str(exc)) from None
    except OSError as exc:
        raise DaemonError(f"{path}: cannot open or make its directory: {exc.strerror}") from None
    try:
        fd = open_owned(dir_fd, os.path.basename(path), os.O_RDWR | os.O_CREAT, 0o644, path)
    except UnsafePath as exc:
        os.close(dir_fd)
        raise DaemonError(_pid_file_refused(path, exc)) from None
    except OSError as exc:
        os.close(dir_fd)
        raise DaemonError(f"{path}: cannot open: {exc.strerror}") from None
    return dir_fd, fd


def _pid_file_refused(path: str, exc: UnsafePath) -> str:
    """The message for a pid file :func:`open_owned` refuses."""
    if "symbolic link" in str(exc):
        return f"{path}: is a symbolic link; a pid file is never written through one"
    return str(exc)


def check_pid_file(path: str) -> None:
    """What taking the pid file ``path`` would refuse, found without creating anything or taking the lock.

    The place, as :class:`PidFile` reaches it: a link on the way, a directory
    others may write to (see :func:`check_private_directory`); and a file there
    already: a link, not a regular file, another user's, with other hard links.
    A missing directory is not a problem: below the directories checked, it is
    made, mode 0700, when the pid file is taken. Whether another instance holds
    the lock is not asked.

    :raises UnsafePath: naming the path and what is wrong, in the words of
        :func:`detach`'s :class:`DaemonError`.
    :raises OSError: when a directory on the way cannot be opened for another
        reason than being missing (a file in its place, no permission).
    """
    path = os.path.abspath(path)
    try:
        dir_fd = open_directory(path)
    except FileNotFoundError:
        return
    try:
        check_owned(dir_fd, os.path.basename(path), path)
    except UnsafePath as exc:
        raise UnsafePath(_pid_file_refused(path, exc)) from None
    finally:
        os.close(dir_fd)


def _check_free(path: str) -> None:
    """Fail early, in the foreground, if the pid file is locked."""
    full = os.path.abspath(path)
    dir_fd, fd = _open_pid_file(full)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        other = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        raise DaemonError(f"{full}: another instance is running (pid {other})") from None
    finally:
        os.close(fd)
        os.close(dir_fd)


def _usable_work_dir(work_dir: str) -> str:
    """``work_dir`` made absolute, if the daemon can change to it.

    :raises DaemonError: naming ``work_dir`` and what is wrong (missing, not a directory, not searchable).
    """
    full = os.path.abspath(work_dir)
    try:
        if not os.path.isdir(full):
            os.stat(full)  # the reason for a missing one
            raise DaemonError(f"work_dir {full}: not a directory")
        if not os.access(full, os.X_OK):
            raise DaemonError(f"work_dir {full}: cannot change to it: Permission denied")
    except OSError as exc:
        raise DaemonError(f"work_dir {full}: {exc.strerror or exc}") from None
    return full


def account_of(user: str | None, group: str | None = None) -> tuple[Any, int]:
    """The account ``[daemon] user`` and ``group`` name, as :func:`drop_privileges` takes it on
    (``deadbeat check`` asks the same, so both say the same of a name this machine lacks).

    :returns: the user's ``pwd`` entry (``None`` without a user) and the group id (a number given is
        taken as it is; by default the user's own group, or this process's).
    :raises DaemonError: for an unknown user or group.
    """
    import grp
    import pwd

    try:
        entry = pwd.getpwuid(int(user)) if user is not None and user.isdigit() else pwd.getpwnam(user) if user else None
        if group is not None:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        else:
            gid = entry.pw_gid if entry is not None else os.getgid()
    except (KeyError, ValueError) as exc:
        raise DaemonError(f"unknown user or group: {exc}") from None
    return entry, gid


def drop_privileges(user: str | None, group: str | None = None) -> None:
    """Run as ``user`` (and ``group``, else the user's own) from now on; needs root to start with.

    :raises DaemonError: for an unknown user or group, or when the change is refused.
    """
    if user is None and group is None:
        return
    entry, gid = account_of(user, group)
    try:
        if entry is not None:
            os.initgroups(entry.pw_name, gid)
        os.setgid(gid)
        if entry is not None:
            os.setuid(entry.pw_uid)
    except OSError as exc:
        raise DaemonError(f"cannot run as {user or ''}:{group or ''}: {exc.strerror}") from None


def _max_fd() -> int:
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (ValueError, OSError):
        return 1024


def detach(
    detach: bool = True,
    pid_file: str | None = None,
    work_dir: str = "/",
    umask: int | None = None,
    user: str | None = None,
    group: str | None = None,
    close_fds: bool = True,
    report_when_started: bool = False,
) -> PidFile | None:
    """Turn the process into a daemon (or stay in the foreground with a pid file).

    With ``detach`` the process forks twice and starts a new session, so it has no
    controlling terminal; the original process waits until the daemon has its pid
    file locked and exits 0, or reports the daemon's error and exits 1, so that a
    start script learns whether the start worked. Standard streams are connected
    to ``/dev/null`` and other inherited descriptors are closed.

    :param detach: run in the background; ``False`` only takes the pid file,
        sets the umask (if given) and drops privileges (if asked).
    :param pid_file: path of the pid file (made absolute first; missing
        directories on the way are made, mode 0700); removed again at exit,
        unless ``user`` left the process unable to (a directory of root's,
        such as ``/run``): the file left behind is harmless, since the lock
        held on it, not the file, says whether an instance runs.
    :param work_dir: directory to change to when detaching.
    :param umask: file creation mask; ``None`` keeps the one the process has.
    :param user: run as this user (name or uid) once the pid file is held; needs root.
    :param group: run as this group (name or gid); the user's own by default.
    :param close_fds: when detaching, close descriptors above 2 that the process
        holds (call ``detach`` before opening what the daemon keeps).
    :param report_when_started: the original process waits longer, until the
        daemon calls :func:`report_started` (its pipeline built, its ports bound,
        its first turn run) or ends; until then what the daemon writes to
        standard error (its log, without a ``[log]`` file) shows on the original
        process's, and a daemon that ends before it reports makes it exit 1.
    :returns: the held pid file, or ``None`` without one.
    :raises DaemonError: when another instance holds the pid file, the pid file's
        place is unsafe, or the user cannot be taken on.
    """
    if pid_file:
        pid_file = os.path.abspath(pid_file)  # before any chdir
    if umask is not None:
        os.umask(umask)
    if not detach:
        held = PidFile(pid_file) if pid_file else None
        if held is not None:
            atexit.register(held.release)
        drop_privileges(user, group)
        return held
    # Checked in the foreground, before anything is made (the pid file): after the
    # forks a failure could only be reported, and nothing left behind would be removed.
    work_dir = _usable_work_dir(work_dir)
    if pid_file:
        _check_free(pid_file)
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        # The original process: wait for the daemon's word, then leave.
        os.close(write_end)
        os._exit(_wait_for_the_start(read_end))
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    if close_fds:
        os.closerange(3, write_end)
        os.closerange(write_end + 1, _max_fd())
    held = None
    try:
        try:
            os.chdir(work_dir)
        except OSError as exc:
            raise DaemonError(f"work_dir {work_dir}: cannot change to it: {exc.strerror or exc}") from None
        if pid_file:
            held = PidFile(pid_file)
        drop_privileges(user, group)
    except DaemonError as exc:
        if held is not None:
            held.release()  # no pid file left naming a process that never ran
        os.write(write_end, f"{exc}\n".encode())
        os._exit(1)
    if report_when_started:
        global _start_report
        # Standard error goes to the original process until the start is reported.
        _to_devnull()
        os.dup2(write_end, 2)
        _start_report = write_end
    else:
        _to_devnull()
        os.write(write_end, _STARTED)
        os.close(write_end)
    if held is not None:
        atexit.register(held.release)
    return held


#: What the daemon writes to the original process: its start worked (before it, any text is its standard error).
_STARTED = b"ok"
_STARTED_LATE = b"\0started"
_FAILED_LATE = b"\0failed"
#: The descriptor the daemon reports its start on, while the original process waits (see report_started).
_start_report: int | None = None


def start_reported_later() -> bool:
    """Whether the process that started this daemon waits for :func:`report_started`."""
    return _start_report is not None


def report_started(failed: str | None = None) -> None:
    """Tell the original process, waiting since :func:`detach` with ``report_when_started``, how the start went.

    It exits 0, or 1 when ``failed`` says what went wrong already (the daemon
    runs on: an input that could not be opened among others). Standard error
    goes to ``/dev/null`` from here on, as a daemon's does. Nothing happens
    when there is no one waiting.

    :param failed: what failed, or ``None``.
    """
    report = _take_start_report()
    if report is None:
        return
    try:
        if failed is None:
            os.write(report, _STARTED_LATE)
        else:
            os.write(report, f"deadbeat: started, but has failed already: {failed}\n".encode() + _FAILED_LATE)
    except OSError:
        pass  # the original process is gone: no one to tell
    os.close(report)


def leave_start_report() -> None:
    """In a process forked from the daemon before it reported its start (a worker): leave the report to it.

    The process closes its copy of the descriptor the original process waits
    on, and its standard error, which goes there too, goes to ``/dev/null``:
    once the daemon has reported, no one reads it, and the original process
    must not wait for this one to end. Nothing happens when no one waits.
    """
    report = _take_start_report()
    if report is not None:
        os.close(report)


def _take_start_report() -> int | None:
    """The descriptor the original process waits on, taken (no one else reports), with standard error off it.

    Standard error leaves the pipe first: a thread logging meanwhile (the
    metrics server's) would otherwise write after the word, which must be the
    last thing the original process reads.

    :returns: the descriptor, or ``None`` when no one waits.
    """
    global _start_report
    report = _start_report
    if report is None:
        return None
    _start_report = None
    sys.stderr.flush()
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 2)
    os.close(null)
    return report


def _wait_for_the_start(read_end: int) -> int:
    """In the original process: show what the daemon writes until it reports its start; :returns: the exit status.

    Read as it comes (a daemon writing much while it starts must not wait on a
    full pipe), shown on our standard error, until the daemon's word or its end.
    """
    said = b""
    keep = max(len(_STARTED_LATE), len(_FAILED_LATE))
    with os.fdopen(read_end, "rb", buffering=0) as report:
        while chunk := report.read(65536):
            said += chunk
            if said.endswith((_STARTED_LATE, _FAILED_LATE)):
                # The word: done, though a process the daemon started may still hold the pipe open.
                break
            # Everything but what could be the start of the word at the end goes out now.
            if len(said) > keep:
                _show(said[:-keep])
                said = said[-keep:]
    if said == _STARTED:
        return 0
    for word, status in ((_STARTED_LATE, 0), (_FAILED_LATE, 1)):
        if said.endswith(word):
            _show(said[: -len(word)])
            return status
    _show(said)
    if not said.endswith(b"\n"):
        _show(b"deadbeat: the daemon exited before it had started\n" if not said else b"\n")
    return 1


def _show(text: bytes) -> None:
    if text:
        sys.stderr.buffer.write(text)
        sys.stderr.buffer.flush()


def _to_devnull() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
