"""Reaching files where other accounts may plant names: without following their links, without waiting on a FIFO.

* For reading (``fs.tail``, ``fs.read``), :func:`open_for_reading` opens a
  file's directories one component at a time, each relative to the one before
  (``openat``) without following a link, so that what was checked is what is
  opened, whatever is renamed meanwhile: below the fixed prefix of a pattern
  (its directories before the first wildcard, which the operator named), a
  directory that is a symbolic link is never followed (:class:`LinkOnTheWay`).
  The file itself is opened with ``O_NOFOLLOW`` and ``O_NONBLOCK`` (a FIFO
  planted under a matched name cannot make ``open`` wait for a writer) and
  must be a regular file (:class:`NotRegular`).
* For writing (``fs.write``), the directory is opened by
  :func:`deadbeat.daemon.open_directory` (a link on the way is followed only
  where root or we could have put it, as for the daemon's own files), and
  :func:`deadbeat.daemon.others_may_write` says whether others may write to
  it, where an output file someone else owns is refused.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
import stat

from deadbeat.daemon import open_directory

__all__ = [
    "LinkOnTheWay",
    "NotRegular",
    "UnsafeOutput",
    "fixed_prefix",
    "glob_without_links",
    "kind",
    "open_for_reading",
]

#: How a directory on the way is opened: no read right needed, never through a link.
_DIR_FLAGS = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_PATH", os.O_RDONLY)


class LinkOnTheWay(OSError):
    """A directory below a pattern's fixed prefix is a symbolic link: what is under it is not read."""

    def __init__(self, link: str, path: str) -> None:
        super().__init__(errno.ELOOP, "a symbolic link on the way", path)
        #: The link, and the file it was on the way to.
        self.link = link
        self.path = path


class NotRegular(OSError):
    """What was opened is not a regular file (a FIFO, a socket, a device, a directory)."""

    def __init__(self, path: str, mode: int) -> None:
        super().__init__(errno.EINVAL, f"not a regular file ({kind(mode)})", path)
        self.mode = mode


class UnsafeOutput(OSError):
    """An output file in a place another account controls; the message says why."""


def kind(mode: int) -> str:
    """:returns: what a file of ``mode`` is, in words ("a FIFO", "a directory" ...)."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "not a file"


def fixed_prefix(pattern: str) -> str:
    """:returns: the directory of the absolute ``pattern`` before its first wildcard (the operator named it)."""
    parts = pattern.split("/")
    for index, part in enumerate(parts[:-1]):
        if glob.has_magic(part):
            return "/".join(parts[:index]) or "/"
    return os.path.dirname(pattern)


def glob_without_links(pattern: str, links: set[str]) -> list[str]:
    """What ``glob.glob(pattern)`` finds, without looking into a directory below the fixed prefix that is a link.

    ``glob`` lists what is in a linked directory as if it were below the
    pattern (``logs/*/*`` with ``logs/x -> /root``): nothing there is read, but
    the names would be listed and said in log lines. Such directories are
    added to ``links`` instead, and not listed. Names starting with a dot match
    only a pattern part starting with one, as with ``glob``.
    """
    prefix = fixed_prefix(pattern)
    parts = [part for part in pattern[len(prefix) :].split("/") if part]
    found = [prefix]
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        following: list[str] = []
        for directory in found:
            if glob.has_magic(part):
                try:
                    names = os.listdir(directory)
                except OSError:
                    continue
                if not part.startswith("."):
                    names = [name for name in names if not name.startswith(".")]
                names = fnmatch.filter(names, part)
            else:
                names = [part] if os.path.lexists(os.path.join(directory, part)) else []
            for name in names:
                path = os.path.join(directory, name)
                if last:
                    following.append(path)
                elif os.path.islink(path):
                    if os.path.isdir(path):
                        links.add(path)
                elif os.path.isdir(path):
                    following.append(path)
        found = following
    return found


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def open_for_reading(path: str, prefix: str, steps: list[str], follow_symlinks: bool = False) -> int:
    """Open the regular file ``path`` for reading, never waiting, never through a planted link.

    :param prefix: the fixed prefix ``path`` is below (the operator named it): a
        link on the way to it is followed only where root or we could have put
        it, as for the daemon's own files (:func:`deadbeat.daemon.open_directory`),
        so that a link another account planted in ``/tmp`` in place of a log
        directory named there does not lead into a directory of ours.
    :param steps: the directories from ``prefix`` to the file's own (none when
        the file is in ``prefix``); none of them may be a link.
    :param follow_symlinks: follow links everywhere (the operator said so).
    :returns: a descriptor (close-on-exec, blocking: ``O_NONBLOCK`` is cleared
        once the file is known to be regular).
    :raises LinkOnTheWay: for a link among ``steps``.
    :raises deadbeat.daemon.UnsafePath: for a planted link on the way to ``prefix``.
    :raises NotRegular: for what is not a regular file (it is not kept open).
    :raises OSError: as ``open`` does (``ELOOP`` for a link at ``path`` itself).
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
    if follow_symlinks:
        fd = os.open(path, flags)
    else:
        # The directory of the first name below the prefix: the prefix itself.
        dir_fd = open_directory(os.path.join(prefix, steps[0] if steps else os.path.basename(path)), private=False)
        try:
            where = prefix
            for name in steps:
                where = os.path.join(where, name)
                try:
                    step = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(name, dir_fd):
                        raise LinkOnTheWay(where, path) from None
                    raise
                os.close(dir_fd)
                dir_fd = step
            fd = os.open(os.path.basename(path), flags | os.O_NOFOLLOW, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(path, mode)
        # Regular files ignore it; cleared all the same, so reads are what they always were.
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd
