"""Deduplication and throttling, with memory bounded in keys and in bytes.

Both cogs remember keys made of field values, which come from the data: a
hostile line chooses them. Memory is bounded twice over:

* at most ``max_keys`` keys are remembered;
* each key takes at most a few hundred bytes: a key whose values are larger than
  :data:`KEY_BYTES` is remembered as its 16-byte BLAKE2b digest instead (the
  values written out, ``repr`` style), so one long field cannot make a key of a
  megabyte. ``max_keys`` = 100,000 then holds well under 100 MB.

Flooding new keys must not make a cog forget a key it is holding back, or its
limit would start again. So neither cog forgets a key that still matters:
``flow.dedupe`` forgets a key only when its window has passed, and
``flow.throttle`` forgets a key only when its bucket has filled up again (it is
then the same as a key never seen). When ``max_keys`` keys all still matter,
the datum with a new key is what gives way: ``flow.dedupe`` lets it through
without remembering it (no datum is lost; a repeat of it may pass too), and
``flow.throttle`` drops it, counted in ``dropped`` and in ``overflow`` (so a
flood of keys cannot get past the limit). A warning says so, once each time
the table fills up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from deadbeat import conf, movement

__all__ = ["KEY_BYTES", "MISSING_KEY", "Dedupe", "Throttle", "distinct"]

log = logging.getLogger("deadbeat.flow")

#: Keys whose values take more memory than this are remembered as a digest.
KEY_BYTES = 256


def _digest(values: tuple[Any, ...]) -> bytes:
    return hashlib.blake2b(repr(values).encode("utf-8", "surrogatepass"), digest_size=16).digest()


#: What a key field that is not there stands as: not None, which a field holding null gives.
MISSING_KEY: Any = ("missing",)


def distinct(value: Any) -> Any:
    """``value`` as part of a key, equal only to values JSON writes the same way.

    Python holds ``True == 1 == 1.0`` and hashes them alike, which would make a
    datum with ``"user": true`` a repeat of one with ``"user": 1``: every value
    but a text is tagged with its type. Lists and mappings become their JSON
    text with sorted keys, so ``{"a": 1, "b": 2}`` is ``{"b": 2, "a": 1}``.

    :raises ValueError: for a value nested too deep to be a key.
    """
    if type(value) is str:
        return value
    if isinstance(value, (list, dict)):
        try:
            return ("json", json.dumps(value, sort_keys=True, default=repr))
        except TypeError:  # keys of mixed types cannot be sorted
            return ("repr", repr(value))
        except (RecursionError, ValueError):
            raise ValueError("a key field is nested too deep to be a key") from None
    return (type(value).__name__, value)


def _key_function(fields: Sequence[str]) -> Callable[[Any], Any]:
    getters = [movement.getter(f) for f in fields]
    sizeof = sys.getsizeof

    def key(data: Any) -> Any:
        values = []
        size = 0
        for get in getters:
            try:
                value = distinct(get(data))
            except LookupError:
                value = MISSING_KEY
            size += sizeof(value) + (sizeof(value[-1]) if type(value) is tuple else 0)
            values.append(value)
        found = tuple(values)
        return _digest(found) if size > KEY_BYTES else found

    return key


def _positive(name: str, value: Any) -> Any:
    if type(value) is not int or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
    return value


class Dedupe(movement.Cog):
    """Drop data whose key fields were seen within the last ``window`` seconds.

    Memory is bounded: at most ``max_keys`` keys, each of a few hundred bytes at
    most (a longer key is remembered by its digest). A key is forgotten only
    when its window has passed, so a flood of new keys cannot make a repeat pass;
    when ``max_keys`` keys are all within their window, data with a new key pass
    without being remembered (counted in ``overflow``, with a warning). The
    keys are kept in memory only: after a restart, a repeat of a key seen
    before it passes once.

    :param fields: the fields that make the key.
    :param window: seconds a key is remembered.
    :param max_keys: keys remembered at most.
    """

    one_to_one = True

    def __init__(
        self,
        fields: Sequence[str],
        window: Annotated[float, conf.Range(0)] = 60.0,
        max_keys: Annotated[int, conf.Range(1)] = 100_000,
    ) -> None:
        if isinstance(fields, str):
            raise TypeError("fields must be a list of names, not one string")
        self.fields = list(fields)
        self.window = window
        self.max_keys = _positive("max_keys", max_keys)
        self._key = _key_function(self.fields)
        # Oldest first: a key is (re)inserted at the end only when first seen
        # or when its window has passed, so the times only grow along it.
        self._seen: OrderedDict[Any, float] = OrderedDict()
        self.dropped = 0
        self.overflow = 0
        self._full = False

    @property
    def counts(self) -> dict[str, int]:
        """Repeats dropped, and data with a new key passed unremembered (the table full), for the run summary
        and ``--metrics-port``."""
        return {"dropped": self.dropped, "overflow": self.overflow}

    def __call__(self, data: Any) -> tuple[Any, ...] | None:
        now = time.monotonic()
        key = self._key(data)
        seen = self._seen
        first = seen.get(key)
        if first is not None and now - first < self.window:
            self.dropped += 1
            return None
        # Forget what has passed its window: the oldest come first.
        window = self.window
        while seen:
            oldest = next(iter(seen.values()))
            if now - oldest < window:
                break
            seen.popitem(last=False)
        if len(seen) >= self.max_keys:
            self.overflow += 1
            if not self._full:
                self._full = True
                log.warning(
                    "%s: %d keys, all within their window: data with new keys pass without being remembered",
                    self,
                    len(seen),
                )
            return (data,)
        self._full = False
        seen[key] = now
        seen.move_to_end(key)
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Drop the repeats of a list of data; the same as one call per datum in turn (each datum once)."""
        return movement.call_each(self.__call__, data)


class Throttle(movement.Cog):
    """Let through at most ``rate`` data per second per key (``burst`` at once).

    A token bucket per key; data over the limit are dropped and counted in
    ``dropped``. Memory is bounded: at most ``max_keys`` buckets, each key of a
    few hundred bytes at most (a longer key is remembered by its digest). A
    bucket is forgotten only once it has filled up again (the least recently
    seen first), so a flood of new keys cannot reset a key being limited; when
    ``max_keys`` buckets are all still filling, data with a new key are dropped
    (counted in ``dropped`` and ``overflow``, with a warning).

    :param fields: the fields that make the key (empty: one bucket for all).
    :param rate: data per second per key.
    :param burst: data let through at once before the rate applies.
    :param max_keys: buckets kept at most.
    """

    one_to_one = True

    def __init__(
        self,
        fields: Sequence[str] = (),
        rate: Annotated[float, conf.Range(0, above=True)] = 10.0,
        burst: Annotated[int, conf.Range(1)] = 10,
        max_keys: Annotated[int, conf.Range(1)] = 100_000,
    ) -> None:
        if isinstance(fields, str):
            raise TypeError("fields must be a list of names, not one string")
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.fields = list(fields)
        self.rate = rate
        self.burst = burst
        self.max_keys = _positive("max_keys", max_keys)
        self._key = _key_function(self.fields)
        # Least recently seen first: every datum moves its key to the end,
        # those dropped too, so a key being limited stays at the back.
        self._buckets: OrderedDict[Any, tuple[float, float]] = OrderedDict()
        self.dropped = 0
        self.overflow = 0
        self._full = False

    @property
    def counts(self) -> dict[str, int]:
        """Data dropped over the rate, and of those, the ones with a new key dropped because every bucket was
        still filling, for the run summary and ``--metrics-port``."""
        return {"dropped": self.dropped, "overflow": self.overflow}

    def __call__(self, data: Any) -> tuple[Any, ...] | None:
        now = time.monotonic()
        key = self._key(data)
        buckets = self._buckets
        state = buckets.get(key)
        if state is None:
            if len(buckets) >= self.max_keys and not self._make_room(now):
                self.dropped += 1
                self.overflow += 1
                if not self._full:
                    self._full = True
                    log.warning(
                        "%s: %d buckets, all still filling: data with new keys are dropped",
                        self,
                        len(buckets),
                    )
                return None
            self._full = False
            tokens = float(self.burst)
        else:
            tokens = min(self.burst, state[0] + (now - state[1]) * self.rate)
            buckets.move_to_end(key)
        if tokens < 1:
            buckets[key] = (tokens, now)
            self.dropped += 1
            return None
        buckets[key] = (tokens - 1, now)
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Limit a list of data; the same as one call per datum in turn (each datum once)."""
        return movement.call_each(self.__call__, data)

    def _make_room(self, now: float) -> bool:
        """Forget least recently seen buckets that have filled up again, until one more fits.

        The least recently seen bucket is the first to fill up, give or take the
        tokens left: when it has not, every bucket was used within the last
        ``burst / rate`` seconds, and none is forgotten.

        :returns: whether there is room for one more.
        """
        buckets, burst, rate = self._buckets, self.burst, self.rate
        while len(buckets) >= self.max_keys:
            tokens, last = next(iter(buckets.values()))
            if tokens + (now - last) * rate < burst:
                return False
            buckets.popitem(last=False)
        return True
