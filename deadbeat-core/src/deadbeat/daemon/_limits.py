"""Saying which limit was reached when the process runs out of file descriptors.

``Too many open files`` alone sends an operator hunting for a leak; the limit
behind it is usually just low (``ulimit -n`` in a shell, ``LimitNOFILE=`` in a
systemd unit, a container's default). The places that report a failure to
start or to run add this note, so that the message names the number and where
to raise it.
"""

from __future__ import annotations

import errno
import resource

__all__ = ["descriptor_note"]


def descriptor_note(exc: BaseException) -> str:
    """:returns: a sentence naming the limit ``exc`` (or an exception it came from) ran into, after "; ", or "".

    "" for any failure other than EMFILE (this process's limit) and ENFILE
    (the whole system's).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.ENFILE:
            return "; the system's table of open files is full (sysctl fs.file-max)"
        if isinstance(current, OSError) and current.errno == errno.EMFILE:
            soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            return (
                f"; this process may have only {soft} files and sockets open at once: raise the limit"
                " (ulimit -n, or LimitNOFILE= in a systemd unit)"
            )
        current = current.__cause__ or current.__context__
    return ""
