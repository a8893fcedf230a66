"""Data waiting to be POSTed, cut into requests no larger than the limits.

The outbox holds every datum ``http.post`` has taken and the server has not
answered yet, each beside its encoded bytes: the open request, still filling,
and the closed ones, in order, waiting for a free connection. The datum itself
is kept until the answer, because it goes on down the train (2xx) or to the
error output (a refusal); the bytes make the body.

Event ids. Data often do not carry their ids: a supply's
:class:`~deadbeat.movement.Batch` keeps them beside the data, made only when
asked. When the train hands over such a batch whole (``http.post`` right after
the supply, or after cogs that pass the list on as it is), each request notes
which part of which batch its data came from, and the ids are made only if a
refusal or a failure must name them.

Limits. A request holds at most ``max_count`` data and ``max_bytes`` bytes of
body (one newline per datum counted), except that a single datum larger than
``max_bytes`` travels alone rather than never. An incoming list is cut by the
count first; only a slice whose bytes do not fit is cut again, where the
running total of its sizes passes the limit (a binary search), so nothing is
done datum by datum in Python.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from itertools import accumulate
from typing import Any

from deadbeat import movement

__all__ = ["Outbox", "Request"]


class Request:
    """The data of one request and their encoded bytes, in order.

    :ivar data: the data, as the train gave them.
    :ivar pieces: each datum's bytes, without a newline.
    :ivar size: the body's length: the pieces and a newline each.
    :ivar tries: attempts made so far.
    :ivar origins: where the data came from, in order, as ``(batch, start,
        stop)``: a slice of a batch that knows its data's ids, or ``None`` for
        data whose ids only they can tell (through the id getter).
    :ivar holds: the train's hold tokens of the data, in order: what to
        release when the request is settled.
    """

    __slots__ = ("data", "pieces", "size", "tries", "origins", "holds")

    def __init__(self) -> None:
        self.data: list[Any] = []
        self.pieces: list[bytes] = []
        self.size = 0
        self.tries = 0
        self.origins: list[tuple[movement.Batch | None, int, int]] = []
        self.holds = movement.HeldRuns()

    def __len__(self) -> int:
        return len(self.data)

    def _note(self, batch: movement.Batch | None, start: int, stop: int) -> None:
        """Note that the next ``stop - start`` data came from ``batch[start:stop]`` (or from no such batch)."""
        last = self.origins[-1] if self.origins else None
        if last is not None and last[0] is batch:
            if batch is None:
                self.origins[-1] = (None, 0, last[2] + stop - start)  # only the count matters
                return
            if last[2] == start:
                self.origins[-1] = (batch, last[1], stop)  # the next slice of the same batch
                return
        self.origins.append((batch, start, stop) if batch is not None else (None, 0, stop - start))

    def event_ids(self, get_id: Callable[[Any], Any]) -> list[Any]:
        """:returns: each datum's event id, from its batch where it knows them, else by ``get_id``."""
        ids: list[Any] = []
        for batch, start, stop in self.origins:
            if batch is not None:
                ids += batch.event_ids()[start:stop]
            else:
                ids += map(get_id, self.data[len(ids) : len(ids) + stop - start])
        return ids

    def body(self, lines: bool) -> bytes:
        """:returns: the body: JSON lines each ending with a newline, or the one document as it is."""
        if lines:
            self.pieces.append(b"")  # the last newline, in the same join: one copy of the body, not two
            try:
                return b"\n".join(self.pieces)
            finally:
                self.pieces.pop()
        return self.pieces[0]

    def halves(self) -> tuple[Request, Request]:
        """:returns: two requests holding the first and the second half of this one's data."""
        middle = len(self.data) // 2
        first, second = Request(), Request()
        first.data, first.pieces = self.data[:middle], self.pieces[:middle]
        second.data, second.pieces = self.data[middle:], self.pieces[middle:]
        first.size = sum(map(len, first.pieces)) + len(first.pieces)
        second.size = self.size - first.size
        done = 0
        for batch, start, stop in self.origins:
            count = stop - start
            if done + count <= middle:
                first._note(batch, start, stop)
            elif done >= middle:
                second._note(batch, start, stop)
            else:
                cut = start + middle - done
                first._note(batch, start, cut)
                second._note(batch, cut, stop)
            done += count
        first.holds, second.holds = self.holds.split(middle)
        return first, second


class Outbox:
    """The open request and the closed ones waiting to be sent.

    Invariant: ``count`` and ``size`` are the data and body bytes of the open
    and waiting requests together (requests taken out with :meth:`next` are the
    caller's to account for).

    :param max_count: data per request.
    :param max_bytes: body bytes per request.
    :param lines: whether requests hold JSON lines (else one document each).
    """

    def __init__(self, max_count: int, max_bytes: int, lines: bool) -> None:
        self.max_count = max_count if lines else 1
        self.max_bytes = max_bytes
        self.lines = lines
        self.open: Request | None = None
        self.waiting: deque[Request] = deque()
        self.count = 0
        self.size = 0

    def __bool__(self) -> bool:
        return self.open is not None or bool(self.waiting)

    def add(self, data: list[Any], pieces: list[bytes], token: Any = None) -> None:
        """Take ``data`` (with their ``pieces``), filling the open request and closing each that is full.

        :param data: the data; a :class:`~deadbeat.movement.Batch` that knows
            its ids is noted as their origin.
        :param token: the train's hold token for them (see :meth:`Train.hold`).
        """
        total = len(data)
        batch = data if isinstance(data, movement.Batch) and data.knows_ids else None
        sizes = list(map(len, pieces))
        self.count += total
        self.size += sum(sizes) + total
        start = 0
        while start < total:
            request = self.open
            if request is None:
                request = self.open = Request()
            # As many as the count allows; fewer if their bytes (a newline each) do not fit.
            stop = min(total, start + self.max_count - len(request))
            size = sum(sizes[start:stop]) + stop - start
            if request.size + size > self.max_bytes:
                ends = list(accumulate(sizes[start:stop]))
                room = self.max_bytes - request.size
                taken = bisect_right(range(len(ends)), room, key=lambda i: ends[i] + i + 1)
                if taken == 0 and not request.data:
                    taken = 1  # a datum larger than a whole request travels alone
                stop = start + taken
                size = ends[taken - 1] + taken if taken else 0
            if stop > start:
                request.data += data[start:stop]
                request.pieces += pieces[start:stop]
                request.size += size
                request._note(batch, start, stop)
                request.holds.add(token, stop - start)
            if stop < total or len(request) >= self.max_count:
                self.close()
            start = stop

    def close(self) -> None:
        """Close the open request (if any): it waits for its turn behind the others."""
        if self.open is not None:
            self.waiting.append(self.open)
            self.open = None

    def next(self) -> Request | None:
        """:returns: the next request to send, taken out of the outbox, or ``None`` when none is closed."""
        if not self.waiting:
            return None
        request = self.waiting.popleft()
        self.count -= len(request)
        self.size -= request.size
        return request

    def put_back(self, *requests: Request) -> None:
        """Put ``requests`` first in line, in the order given (a refused batch's halves, a request to try again)."""
        for request in reversed(requests):
            self.waiting.appendleft(request)
            self.count += len(request)
            self.size += request.size

    def take_all(self) -> list[Request]:
        """:returns: every request, the open one last, taken out of the outbox."""
        self.close()
        requests = list(self.waiting)
        self.waiting.clear()
        self.count = self.size = 0
        return requests
