"""The hold tokens of data a cog keeps back, in the order the data came.

A cog that holds data (:meth:`Train.hold <deadbeat.movement.Train.hold>`)
gets a :class:`~deadbeat.movement.Hold` token per hold, and must release each
datum under the token it was held with, then send what goes on with the
earliest of them (:meth:`Hold.earliest <deadbeat.movement.Hold.earliest>`).
Data held in one call share a token, so the tokens are kept as runs of one
token and a count; :class:`HeldRuns` is that bookkeeping, written once for
every cog that queues data (a resolver waiting for answers, an output waiting
for its peer, a window collecting a group).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from ._train import Hold

#: How a run is released: ``Train.release`` (count, token), or a cog's own
#: wrapper such as ``functools.partial(escapement.release, cog)``.
Release = Callable[[int, Any], object]


class HeldRuns:
    """The hold tokens of the data a cog keeps, in order, as ``[token, count]`` runs.

    ``len()`` is the number of data noted. Cogs need not look at the tokens:
    :meth:`add` each hold, :meth:`release` (or :meth:`release_first`) when
    the data may go, and send them on with the token those return.
    """

    __slots__ = ("_runs", "_count")

    def __init__(self) -> None:
        self._runs: deque[list[Any]] = deque()
        self._count = 0

    def add(self, token: Hold | None, count: int = 1) -> None:
        """Note ``count`` more data, held under ``token`` (what :meth:`Train.hold` returned).

        :param token: the hold token; ``None`` (data of no train) is kept as it is.
        :param count: how many data that hold covered.
        """
        if count <= 0:
            return
        runs = self._runs
        if runs and runs[-1][0] is token:
            runs[-1][1] += count
        else:
            runs.append([token, count])
        self._count += count

    def extend(self, other: HeldRuns) -> None:
        """Note, after these, every datum ``other`` notes (``other`` is left as it was).

        :param other: runs to append, in their order.
        """
        for token, count in other._runs:
            self.add(token, count)

    def earliest(self) -> Hold | None:
        """:returns: the token to send all these data on with (see :meth:`Hold.earliest`)."""
        return Hold.earliest(token for token, _ in self._runs)

    def release(self, release: Release) -> Hold | None:
        """Release every datum noted, each under its own token, and forget them.

        :param release: called as ``release(count, token)`` per run, e.g. ``train.release``.
        :returns: the token to send them on with (see :meth:`Hold.earliest`).
        """
        runs, self._runs = self._runs, deque()
        self._count = 0
        for token, count in runs:
            release(count, token)
        return Hold.earliest(token for token, _ in runs)

    def release_first(self, count: int, release: Release) -> None:
        """Release the first ``count`` data noted (those that came first) and forget them.

        :param count: how many; at most ``len(self)``.
        :param release: called as ``release(count, token)`` per run, e.g. ``train.release``.
        :raises ValueError: when fewer than ``count`` data are noted.
        """
        if count > self._count:
            raise ValueError(f"cannot release {count} data: {self._count} are held")
        runs = self._runs
        self._count -= count
        while count:
            run = runs[0]
            taken = min(count, run[1])
            release(taken, run[0])
            count -= taken
            run[1] -= taken
            if not run[1]:
                runs.popleft()

    def split(self, at: int) -> tuple[HeldRuns, HeldRuns]:
        """:returns: the runs of the first ``at`` data and those of the rest (these are left as they were).

        :param at: how many data go to the first part.
        """
        first, second = HeldRuns(), HeldRuns()
        done = 0
        for token, count in self._runs:
            if done + count <= at:
                first.add(token, count)
            elif done >= at:
                second.add(token, count)
            else:
                first.add(token, at - done)
                second.add(token, done + count - at)
            done += count
        return first, second

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[tuple[Hold | None, int]]:
        """The ``(token, count)`` runs, in order."""
        return ((token, count) for token, count in self._runs)

    def __repr__(self) -> str:
        return f"<HeldRuns: {self._count} data in {len(self._runs)} runs>"
