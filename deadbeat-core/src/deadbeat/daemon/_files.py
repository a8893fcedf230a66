"""Files a daemon keeps for itself (state, pid): written so that nobody else can redirect them.

The danger is a local account that can plant names where the daemon writes:
a symbolic link at the state file's place, or at the place of its temporary
file, would make the daemon write its state over a file of the attacker's
choosing. So:

* the directory must not be writable by anyone but its owner (and the owner
  must be us or root), unless the operator says it may be shared
  (``DEADBEAT_SHARED_DIRS=1``);
* a link is never followed at the file's own path (``O_NOFOLLOW``);
* a new content is written under a random name created exclusively
  (``O_EXCL``, mode 0600) in the same directory, synced, and renamed into place.
"""

from __future__ import annotations

import os
import secrets
import stat

__all__ = ["UnsafePath", "check_private_directory", "read_private", "write_atomically"]

#: Setting this to 1 in the environment allows state and pid files in directories others may write to.
SHARED_DIRS_ENV = "DEADBEAT_SHARED_DIRS"


class UnsafePath(OSError):
    """A file the daemon keeps would be in a place others can tamper with; the message says why."""


def check_private_directory(path: str) -> None:
    """Refuse to keep ``path`` in a directory others can write to or that someone else owns.

    :raises UnsafePath: naming the directory and what is wrong, unless
        ``DEADBEAT_SHARED_DIRS=1`` says shared directories are fine here.
    """
    if os.environ.get(SHARED_DIRS_ENV, "") in ("1", "true", "yes"):
        return
    directory = os.path.dirname(os.path.abspath(path))
    st = os.stat(directory)
    problems = []
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problems.append("writable by " + ("others" if st.st_mode & stat.S_IWOTH else "its group"))
    if st.st_uid not in (os.geteuid(), 0):
        problems.append(f"owned by another user (uid {st.st_uid})")
    if problems:
        raise UnsafePath(
            f"{directory}: will not keep {os.path.basename(path)} in a directory {' and '.join(problems)}: "
            f"another account could plant a link there; use a private directory, or set {SHARED_DIRS_ENV}=1"
        )


def read_private(path: str) -> bytes | None:
    """:returns: the content of ``path``, or ``None`` when there is none.

    :raises UnsafePath: when ``path`` is a symbolic link (it is never followed).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafePath(f"{path}: is a symbolic link; not followed") from None
        raise exc
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_atomically(path: str, content: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``content`` in one step: a reader sees the old or the new, never half.

    The content goes to a new file with a random name, created exclusively
    beside ``path`` (a planted link there makes the creation fail, never
    followed), is synced, and renamed over ``path`` (which replaces a link at
    ``path`` itself rather than writing through it); then the directory is synced.
    """
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
