"""What a watched directory's events say about names: arrivals and renames.

inotify names files, never inodes: ``IN_CREATE app.log``, then ``IN_MOVED_FROM
app.log`` and ``IN_MOVED_TO app.log.1`` paired by a cookie. By the time the
tailer reads the events, the file created as ``app.log`` may already be called
``app.log.3``. So the events are replayed in order, following each name that
matters (one the patterns match, or one a followed file was renamed to) to
where it went, and only then are the files opened, under the names they have
now. A file created and renamed away between two looks is found this way, by
its new name; so is one renamed between the look at its name and its opening
(its arrival waits for the events not read yet, which say where it went). Only a
file created and deleted before it could be opened is lost, and that is said.

A name waiting to be opened is an :class:`Arrival`. Each arrival gets an
*order*, from a counter that follows the events, so that files of one lineage
are read oldest first (see :mod:`._followed`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["PAIR_WAIT", "Arrival", "NameBook"]

#: How long (s) an ``IN_MOVED_FROM`` waits for its ``IN_MOVED_TO`` before the
#: file counts as moved out of every watched directory. rename(2) queues the
#: two one after the other, and a read can fall between them: with a renamer
#: busy on the other core, about one read in fifteen ended with an unpaired
#: ``IN_MOVED_FROM``. Concluded at once, a file created and renamed before it
#: could be opened was given up, and its lines were never read.
PAIR_WAIT = 0.05


@dataclass
class Arrival:
    """A name whose file must be opened, with what is known of that file.

    :ivar lineage: the matching name the file was created under.
    :ivar order: when it appeared, by the events.
    :ivar fresh: first seen by its creation under a matching name: it may be a
        copy of a followed file (copytruncate), which its first bytes tell.
    :ivar seen: when its event was read (ns since the epoch): the file was made before.
    """

    lineage: str
    order: int
    fresh: bool
    seen: int = field(default_factory=time.time_ns)


class NameBook:
    """Arrivals not opened yet, and renames half seen, for every watched directory.

    :param first_order: where the order counter starts (after the orders
        remembered in the state file).
    """

    def __init__(self, first_order: int = 0) -> None:
        #: Full path -> arrival, for names whose file is not open yet.
        self.arrivals: dict[str, Arrival] = {}
        # Cookie -> the path an IN_MOVED_FROM left and when it was read, until its IN_MOVED_TO.
        self._moving: dict[int, tuple[str, float]] = {}
        self._order = first_order

    def next_order(self) -> int:
        """:returns: a new order, later than every one given before."""
        self._order += 1
        return self._order

    @property
    def last_order(self) -> int:
        """The latest order given."""
        return self._order

    def arrive(self, path: str, lineage: str, fresh: bool) -> Arrival:
        """Note a name whose file must be opened (a creation, or a rename to an unknown file)."""
        arrival = Arrival(lineage, self.next_order(), fresh)
        self.arrivals[path] = arrival
        return arrival

    def put_back(self, path: str, arrival: Arrival) -> None:
        """The file of ``arrival``, at ``path`` when looked at, was gone when opened: renamed or deleted
        since. Its events are not read yet: until they take it where it went, it waits under ``path``."""
        self.arrivals[path] = arrival

    def moved_from(self, path: str, cookie: int) -> None:
        """The file at ``path`` was renamed; the matching :meth:`moved_to` says where."""
        self._moving[cookie] = (path, time.monotonic())

    def moved_to(self, cookie: int) -> str | None:
        """:returns: the old path of the file renamed with ``cookie``, or ``None`` if it came from elsewhere."""
        moving = self._moving.pop(cookie, None)
        return None if moving is None else moving[0]

    def moved_away(self) -> list[str]:
        """:returns: (and forgets) the paths renamed out of every watched directory: those whose
        ``IN_MOVED_FROM`` has waited :data:`PAIR_WAIT` for its ``IN_MOVED_TO`` in vain. Read the
        queue first: a pair queued meanwhile must be delivered before this call."""
        now = time.monotonic()
        gone = [cookie for cookie, (_, read_at) in self._moving.items() if now - read_at >= PAIR_WAIT]
        return [self._moving.pop(cookie)[0] for cookie in gone]

    @property
    def unpaired(self) -> bool:
        """Whether some ``IN_MOVED_FROM`` still waits for its ``IN_MOVED_TO``."""
        return bool(self._moving)

    def forget(self) -> None:
        """Drop what the events said (they were lost: a rescan takes over)."""
        self.arrivals.clear()
        self._moving.clear()
