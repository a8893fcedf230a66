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

from ..conf import cast_boolean, cast_octal, cast_optional, cast_path, cfg_item, cfg_section

__all__ = ["DaemonError", "PidFile", "daemon_base_config", "detach"]

#: The ``daemon`` section an application adds to its configuration.
daemon_base_config = cfg_section(
    "daemon",
    (
        cfg_item("detach", cast_boolean, "Detach from the terminal and run in the background", False),
        cfg_item("pid_file", cast_optional(cast_path), "Pid file, also a lock against a second instance", None),
        cfg_item("work_dir", cast_path, "Working directory after detaching", "/"),
        cfg_item("umask", cast_octal, "File creation mask", 0o022),
    ),
    "Daemon behaviour",
)


class DaemonError(RuntimeError):
    """The process cannot become the daemon asked for (another instance runs...)."""


class PidFile:
    """A locked pid file; the lock lasts as long as this object's descriptor.

    :param path: where the pid file lives.
    :raises DaemonError: when another live process holds it.
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            other = os.pread(self.fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(self.fd)
            self.fd = -1
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
            if os.pread(self.fd, 32, 0).strip() == str(os.getpid()).encode():
                os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = -1


def _check_free(path: str) -> None:
    """Fail early, in the foreground, if the pid file is locked."""
    full = os.path.abspath(path)
    try:
        fd = os.open(full, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise DaemonError(f"{full}: cannot open: {exc.strerror}") from None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        other = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        raise DaemonError(f"{full}: another instance is running (pid {other})") from None
    finally:
        os.close(fd)


def detach(
    detach: bool = True,
    pid_file: str | None = None,
    work_dir: str = "/",
    umask: int = 0o022,
) -> PidFile | None:
    """Turn the process into a daemon (or stay in the foreground with a pid file).

    With ``detach`` the process forks twice and starts a new session, so it has no
    controlling terminal; the original process waits until the daemon has its pid
    file locked and exits 0, or reports the daemon's error and exits 1, so that a
    start script learns whether the start worked. Standard streams are connected
    to ``/dev/null``.

    :param detach: run in the background; ``False`` only sets umask and pid file.
    :param pid_file: path of the pid file; removed again at exit.
    :param work_dir: directory to change to when detaching.
    :param umask: file creation mask.
    :returns: the held pid file, or ``None`` without one.
    :raises DaemonError: when another instance holds the pid file.
    """
    os.umask(umask)
    if not detach:
        held = PidFile(pid_file) if pid_file else None
        if held is not None:
            atexit.register(held.release)
        return held
    if pid_file:
        _check_free(pid_file)
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        # The original process: wait for the daemon's word, then leave.
        os.close(write_end)
        with os.fdopen(read_end, "rb") as report:
            message = report.read().decode("utf-8", "replace")
        if message == "ok":
            os._exit(0)
        sys.stderr.write(message or "daemon exited before it was ready\n")
        os._exit(1)
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir(work_dir)
    held = None
    try:
        if pid_file:
            held = PidFile(pid_file)
    except DaemonError as exc:
        os.write(write_end, f"{exc}\n".encode())
        os._exit(1)
    _to_devnull()
    os.write(write_end, b"ok")
    os.close(write_end)
    if held is not None:
        atexit.register(held.release)
    return held


def _to_devnull() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
