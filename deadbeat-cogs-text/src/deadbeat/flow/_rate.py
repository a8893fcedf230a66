"""Deduplication and throttling, with bounded memory."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from deadbeat import movement

__all__ = ["Dedupe", "Throttle"]


def _key_function(fields: Sequence[str]) -> Any:
    getters = [movement.getter(f) for f in fields]

    def key(data: Any) -> tuple[Any, ...]:
        values = []
        for get in getters:
            try:
                value = get(data)
            except LookupError:
                value = None
            values.append(repr(value) if isinstance(value, (list, dict)) else value)
        return tuple(values)

    return key


class Dedupe(movement.Cog):
    """Drop data whose key fields were seen within the last ``window`` seconds.

    Memory is bounded: at most ``max_keys`` keys are remembered (the oldest are
    forgotten first).

    :param fields: the fields that make the key.
    :param window: seconds a key is remembered.
    :param max_keys: keys remembered at most.
    """

    def __init__(self, fields: Sequence[str], window: float = 60.0, max_keys: int = 100_000) -> None:
        if isinstance(fields, str):
            raise TypeError("fields must be a list of names, not one string")
        self.fields = list(fields)
        self.window = window
        self.max_keys = max_keys
        self._key = _key_function(self.fields)
        self._seen: OrderedDict[tuple[Any, ...], float] = OrderedDict()
        self.dropped = 0

    def __call__(self, data: Any) -> tuple[Any, ...] | None:
        now = time.monotonic()
        key = self._key(data)
        seen = self._seen
        first = seen.get(key)
        if first is not None and now - first < self.window:
            self.dropped += 1
            return None
        seen[key] = now
        seen.move_to_end(key)
        while len(seen) > self.max_keys:
            seen.popitem(last=False)
        return (data,)


class Throttle(movement.Cog):
    """Let through at most ``rate`` data per second per key (``burst`` at once).

    A token bucket per key; data over the limit are dropped and counted. At most
    ``max_keys`` buckets are kept.

    :param fields: the fields that make the key (empty: one bucket for all).
    :param rate: data per second per key.
    :param burst: data let through at once before the rate applies.
    :param max_keys: buckets kept at most.
    """

    def __init__(
        self, fields: Sequence[str] = (), rate: float = 10.0, burst: int = 10, max_keys: int = 100_000
    ) -> None:
        if isinstance(fields, str):
            raise TypeError("fields must be a list of names, not one string")
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.fields = list(fields)
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._key = _key_function(self.fields)
        self._buckets: OrderedDict[tuple[Any, ...], tuple[float, float]] = OrderedDict()
        self.dropped = 0

    def __call__(self, data: Any) -> tuple[Any, ...] | None:
        now = time.monotonic()
        key = self._key(data)
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            self.dropped += 1
            return None
        self._buckets[key] = (tokens - 1, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return (data,)
