"""Answers kept for their time to live, in a bounded number of entries.

One cache holds both kinds of answer: the records found (kept for the least TTL
among them, capped by ``max_ttl``) and "there is no such record" (kept for
``negative_ttl``: c-ares hands over the response code of a negative answer but
not the SOA record whose minimum RFC 2308 would take as its TTL).

Entries are ``(expires, value)`` tuples in an ordered dictionary, oldest first:
the cogs read them with the dictionary's own ``get``, one C call per datum, and
compare ``expires`` with the loop's clock. An expired entry is not removed when
read (the lookup that follows replaces it); when the cache is full, the entry
stored longest ago goes first. With the TTLs alike, that is also the one that
expires first; in any case the number of entries never passes ``size``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

__all__ = ["NOT_FOUND", "AnswerCache"]


class _NotFound:
    """The value of a negative entry: the answer said there is no such record."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_FOUND"


#: What a negative entry holds.
NOT_FOUND: Any = _NotFound()


class AnswerCache:
    """At most ``size`` answers, each valid until its expiry time.

    :param size: the most entries kept; 0 keeps nothing.
    """

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"cache_size must be 0 or more, not {size}")
        self.size = size
        #: key -> (expires, value), in the order they were stored. Invariant:
        #: len(entries) <= size.
        self.entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: Hashable, now: float) -> tuple[float, Any] | None:
        """:returns: the entry for ``key`` if it has not expired at ``now``, else ``None``."""
        entry = self.entries.get(key)
        return entry if entry is not None and entry[0] > now else None

    def put(self, key: Hashable, value: Any, expires: float) -> None:
        """Keep ``value`` for ``key`` until ``expires``, making room by dropping the oldest entries."""
        if self.size == 0:
            return
        entries = self.entries
        if key in entries:
            # Stored again: it moves to the young end, where its expiry belongs.
            del entries[key]
        while len(entries) >= self.size:
            entries.popitem(last=False)
        entries[key] = (expires, value)

    def clear(self) -> None:
        """Forget every answer."""
        self.entries.clear()
