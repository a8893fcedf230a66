"""Files a daemon keeps for itself (state, pid, log): written so that nobody else can redirect them.

The danger is a local account that can plant names where the daemon writes:
a symbolic link at the file's place, at the place of its temporary file, or
anywhere on the way to its directory (``shared/deadbeat -> /var/lib/victim``)
would make the daemon write over a file of the attacker's choosing. So the
directory is reached one component at a time, each opened relative to the one
before without following links (``openat`` with ``O_NOFOLLOW``), and every
file operation is made relative to the directory's descriptor: what was
checked is what is written to, whatever is renamed meanwhile.

On the way:

* a **symbolic link** is followed only when the directory holding it is owned
  by root or by us and nobody else may write to it (not group- or
  world-writable, sticky or not): only root or we could have put it there.
  ``/var/run -> /run`` is followed; a link in ``/tmp`` or in a directory
  another user owns is refused. This holds always, for every file here.

For state and pid files (and application cog modules), *private* places:

* every directory on the way must be owned by root or by us; one that others
  may write to is allowed above the file's own directory only when it is
  sticky (``/tmp``: others cannot rename what we own there);
* the file's own directory must not be writable by anyone but its owner.

``DEADBEAT_SHARED_DIRS=1`` lifts the two private rules (the operator knows the
directory is shared), never the rule on links. Then:

* a link is never followed at the file's own path (``O_NOFOLLOW``);
* a new content is written under a random name created exclusively
  (``O_EXCL``, mode 0600) in the same directory, synced, and renamed into place.
"""

from __future__ import annotations

import errno
import functools
import grp
import os
import pwd
import secrets
import stat

__all__ = [
    "UnsafePath",
    "check_log_file",
    "check_owned",
    "check_private_directory",
    "open_directory",
    "open_log_file",
    "open_owned",
    "others_may_write",
    "writable_by_others",
    "read_private",
    "set_aside",
    "shared_dirs_allowed",
    "trusted_owner",
    "write_atomically",
]

#: Setting this to 1 in the environment allows state and pid files in directories others may write to.
SHARED_DIRS_ENV = "DEADBEAT_SHARED_DIRS"

#: How a directory on the way is opened: never through a link, no read right needed (``O_PATH``).
_DIR_FLAGS = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_PATH", os.O_RDONLY)
#: Links followed on the way to one directory at most (the kernel's own limit).
_MAX_LINKS = 40
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


class UnsafePath(OSError):
    """A file the daemon keeps would be in a place others can tamper with; the message says why."""


def shared_dirs_allowed() -> bool:
    """:returns: whether ``DEADBEAT_SHARED_DIRS=1`` lifts the private-directory rules."""
    return os.environ.get(SHARED_DIRS_ENV, "") in ("1", "true", "yes")


def trusted_owner(uid: int) -> bool:
    """Whether a file or directory of ``uid`` is one root or we could have made: trusted as our own."""
    return uid in (0, os.geteuid())


@functools.lru_cache(maxsize=64)
def _private_group(uid: int, gid: int) -> bool:
    """Whether ``gid`` is the user private group of ``uid``: its primary group, with no other account in it.

    Debian and its derivatives give every user a group of their own and a
    umask of 002, so the user's files and directories are group-writable and
    yet no other account can write to them (the rule Debian's OpenSSH applies
    to ``~/.ssh``). Another account has the group as its primary one, or is
    listed in it: then it is shared.
    """
    try:
        owner = pwd.getpwuid(uid)
        group = grp.getgrgid(gid)
    except KeyError:
        return False
    if owner.pw_gid != gid or any(member != owner.pw_name for member in group.gr_mem):
        return False
    return all(account.pw_uid == uid or account.pw_gid != gid for account in pwd.getpwall())


def writable_by_others(st: os.stat_result) -> int:
    """:returns: the write bits of ``st`` that give another account write access (0: none).

    The group's bit counts unless the group is the owner's private group (see
    :func:`_private_group`).
    """
    bits = st.st_mode & _OTHERS_WRITE
    if bits & stat.S_IWGRP and _private_group(st.st_uid, st.st_gid):
        bits &= ~stat.S_IWGRP
    return bits


def others_may_write(st: os.stat_result) -> bool:
    """Whether another account may write to the directory of ``st``: its group, others, or an owner not trusted."""
    return bool(writable_by_others(st)) or not trusted_owner(st.st_uid)


def _writers(mode: int) -> str:
    return "others" if mode & stat.S_IWOTH else "its group"


class _Walk:
    """Opening a file's directory one component at a time, checking each (see the module's rules)."""

    def __init__(self, path: str, private: bool, create: bool) -> None:
        self.path = os.path.abspath(path)
        self.strict = private and not shared_dirs_allowed()
        self.create = create
        self.created: list[str] = []

    def open(self) -> int:
        directory = os.path.dirname(self.path)
        pending = [part for part in directory.split("/") if part]
        pending.reverse()  # a stack: the next component last
        fd, where = self._root()
        links = 0
        try:
            self._check(fd, where, not pending)
            while pending:
                name = pending.pop()
                if name in ("", "."):
                    continue
                try:
                    following = self._step(fd, where, name)
                except OSError as exc:
                    if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                        raise
                    target = self._link(fd, where, name)
                    links += 1
                    if links > _MAX_LINKS:
                        raise UnsafePath(f"{self.path}: too many symbolic links on the way") from None
                    pending.extend(reversed([part for part in target.split("/") if part]))
                    if target.startswith("/"):
                        os.close(fd)
                        fd, where = self._root()
                        self._check(fd, where, not pending)
                    continue
                os.close(fd)
                fd = following
                where = os.path.dirname(where) if name == ".." else os.path.join(where, name)
                self._check(fd, where, not [p for p in pending if p != "."])
        except BaseException:
            os.close(fd)
            raise
        return fd

    @staticmethod
    def _root() -> tuple[int, str]:
        return os.open("/", _DIR_FLAGS), "/"

    def _step(self, fd: int, where: str, name: str) -> int:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not self.create or name == "..":
                raise
        try:
            # Made for the owner only, relative to the directory checked just before.
            os.mkdir(name, 0o700, dir_fd=fd)
            self.created.append(os.path.join(where, name))
        except FileExistsError:
            pass
        return os.open(name, _DIR_FLAGS, dir_fd=fd)

    def _link(self, fd: int, where: str, name: str) -> str:
        """:returns: the target of the link ``name`` in ``fd``, if it may be followed. :raises UnsafePath: if not."""
        place = os.path.join(where, name)
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, f"{place}: not a directory (on the way to {self.path})")
        holder = os.fstat(fd)
        why = []
        if writable_by_others(holder):
            why.append(f"in a directory writable by {_writers(holder.st_mode)}")
        if not trusted_owner(holder.st_uid):
            why.append(f"in a directory owned by another user (uid {holder.st_uid})")
        if not trusted_owner(st.st_uid):
            why.append(f"owned by another user (uid {st.st_uid})")
        if why:
            raise UnsafePath(
                f"{place}: a symbolic link {', '.join(why)}: not followed, as another account could have"
                f" planted it (on the way to {self.path}); name the real directory instead"
            )
        return os.readlink(name, dir_fd=fd)

    def _check(self, fd: int, where: str, last: bool) -> None:
        if not self.strict:
            return
        st = os.fstat(fd)
        problems = []
        if writable_by_others(st) and (last or not st.st_mode & stat.S_ISVTX):
            problems.append(f"writable by {_writers(st.st_mode)}" + ("" if last else " and not sticky"))
        if not trusted_owner(st.st_uid):
            problems.append(f"owned by another user (uid {st.st_uid})")
        if not problems:
            return
        if last:
            raise UnsafePath(
                f"{where}: will not use {os.path.basename(self.path)} in a directory {' and '.join(problems)}:"
                f" another account could plant a link there; use a private directory, or set {SHARED_DIRS_ENV}=1"
            )
        raise UnsafePath(
            f"{where}: will not use {self.path} below a directory {' and '.join(problems)}: another account"
            f" could put a link of its own in place of what is in it; use a private directory,"
            f" or set {SHARED_DIRS_ENV}=1"
        )


def open_directory(path: str, *, private: bool = True, create: bool = False) -> int:
    """Open the directory that holds the file ``path``, by the rules of this module.

    :param private: check the private-directory rules too (state and pid files),
        unless ``DEADBEAT_SHARED_DIRS=1``; without, only links are checked (log files).
    :param create: make missing directories (mode 0700) on the way.
    :returns: a descriptor of the directory (``O_PATH`` on Linux), for the
        ``dir_fd`` of file operations; the caller closes it.
    :raises UnsafePath: naming the place and what is wrong.
    :raises OSError: when a directory on the way is missing (without ``create``)
        or cannot be opened.
    """
    return _Walk(path, private, create).open()


def check_private_directory(path: str, create: bool = False) -> list[str]:
    """Refuse to keep ``path`` where another account could redirect it (see the module's rules).

    :param create: make missing directories (mode 0700) on the way.
    :returns: the directories made.
    :raises UnsafePath: naming the directory and what is wrong; the private
        rules are lifted by ``DEADBEAT_SHARED_DIRS=1``, the rule on links is not.
    """
    walk = _Walk(path, True, create)
    os.close(walk.open())
    return walk.created


def read_private(path: str) -> bytes | None:
    """:returns: the content of ``path``, or ``None`` when there is none.

    :raises UnsafePath: when ``path`` is a symbolic link (it is never followed),
        not a regular file, or owned by another user than root or us (even
        with ``DEADBEAT_SHARED_DIRS=1``: what it says is acted on, and a state
        file could make a writer cut its own output back), or its place is
        unsafe (:func:`check_private_directory`).
    """
    try:
        dir_fd = open_directory(path)
    except FileNotFoundError:
        return None
    name = os.path.basename(path)
    try:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafePath(f"{path}: is a symbolic link; not followed") from None
            raise
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(f"{path}: not a regular file; not read")
        if not trusted_owner(st.st_uid):
            raise UnsafePath(f"{path}: owned by another user (uid {st.st_uid}); not read, as it could say anything")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_atomically(path: str, content: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``content`` in one step: a reader sees the old or the new, never half.

    The directory is opened by the rules of :func:`check_private_directory`
    (missing directories are made, mode 0700), and everything else is done
    relative to it. The content goes to a new file with a random name, created
    exclusively there (a planted link makes the creation fail, never followed),
    is synced, and renamed over ``path`` (which replaces a link at ``path``
    itself rather than writing through it); then the directory is synced.

    :raises UnsafePath: when the place is unsafe.
    """
    name = os.path.basename(path)
    temporary = f".{name}.{secrets.token_hex(8)}.tmp"
    dir_fd = open_directory(path, create=True)
    try:
        fd = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd
        )
        try:
            try:
                view = memoryview(content)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(temporary, dir_fd=dir_fd)
            except OSError:
                pass
            raise
        sync_fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            os.fsync(sync_fd)
        finally:
            os.close(sync_fd)
    finally:
        os.close(dir_fd)


def set_aside(path: str, new_name: str) -> str:
    """Rename ``path`` to ``new_name`` in the same directory (an unreadable state kept as evidence).

    :returns: the new path.
    :raises UnsafePath: when the place is unsafe.
    """
    dir_fd = open_directory(path)
    try:
        os.replace(os.path.basename(path), new_name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    return os.path.join(os.path.dirname(os.path.abspath(path)), new_name)


def open_owned(dir_fd: int, name: str, flags: int, mode: int, path: str) -> int:
    """Open ``name`` in ``dir_fd`` without following a link; refuse what is not a plain file of ours.

    :param path: how messages name the file.
    :returns: the descriptor.
    :raises UnsafePath: for a link, a file someone else owns, a file with other
        hard links (one of them could be someone else's file), or anything but
        a regular file.
    """
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as exc:
        # ELOOP for a link; EACCES where the kernel protects sticky directories
        # (fs.protected_regular, fs.protected_symlinks): say what is there.
        try:
            there = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            raise exc from None
        if stat.S_ISLNK(there.st_mode):
            raise UnsafePath(f"{path}: is a symbolic link; never written through") from None
        if not trusted_owner(there.st_uid):
            raise UnsafePath(
                f"{path}: not a regular file of ours (owned by another user (uid {there.st_uid})); refusing to use it"
            ) from None
        raise
    problem = _not_ours(os.fstat(fd))
    if problem:
        os.close(fd)
        raise UnsafePath(f"{path}: not a regular file of ours ({problem}); refusing to use it")
    return fd


def check_owned(dir_fd: int, name: str, path: str) -> None:
    """What :func:`open_owned` would refuse of ``name`` in ``dir_fd``, found without opening or creating it.

    :param path: how messages name the file.
    :raises UnsafePath: with the messages of :func:`open_owned`; nothing when
        there is no such file (it would be created).
    """
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"{path}: is a symbolic link; never written through")
    problem = _not_ours(st)
    if problem:
        raise UnsafePath(f"{path}: not a regular file of ours ({problem}); refusing to use it")


def _not_ours(st: os.stat_result) -> str:
    """:returns: why the file of ``st`` is not one to write to (empty: it is a plain file of ours)."""
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if not trusted_owner(st.st_uid):
        return f"owned by another user (uid {st.st_uid})"
    if st.st_nlink > 1:
        return f"it has {st.st_nlink} hard links"
    return ""


def open_log_file(path: str) -> int:
    """Open a log file for appending (created, mode 0640 less the umask, if missing: it holds dead letters, raw input).

    Links on the way are checked as for every file here, but the directory
    may be shared (``/var/log`` is group-writable on some systems): the file is
    opened with ``O_NOFOLLOW`` and refused when it is not a plain file of
    ours, so nothing is appended through a link or to another account's file.

    :returns: the descriptor.
    :raises UnsafePath: when the place or the file is unsafe.
    """
    dir_fd = open_directory(path, private=False)
    try:
        return open_owned(
            dir_fd, os.path.basename(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640, os.path.abspath(path)
        )
    finally:
        os.close(dir_fd)


def check_log_file(path: str) -> None:
    """Refuse a log file's place early (before detaching): a link on the way or at the file itself.

    Nothing is created; the owner is checked when the file is opened
    (:func:`open_log_file`), by the user the daemon runs as by then.

    :raises UnsafePath: when the place is unsafe.
    :raises OSError: when a directory on the way is missing.
    """
    try:
        dir_fd = open_directory(path, private=False)
    except FileNotFoundError:
        # The walk names only the part it missed ('nodir'): say which file needs it.
        raise FileNotFoundError(
            errno.ENOENT,
            f"cannot create {os.path.abspath(path)}: its directory {os.path.dirname(os.path.abspath(path))}"
            " does not exist (it is not made)",
        ) from None
    try:
        st = os.stat(os.path.basename(path), dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    finally:
        os.close(dir_fd)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"{os.path.abspath(path)}: is a symbolic link; never written through")
