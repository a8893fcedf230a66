"""Writing data to a Redis stream with ``XADD``, pipelined, each datum done only once Redis has it.

A full stream. ``maxlen`` keeps the stream near that many entries without ever
removing one a consumer group has not acknowledged: Redis's own ``MAXLEN``
trims the oldest entries whether they were read or not, which loses data the
moment the readers fall behind. Here, whenever a write leaves the stream longer
than ``maxlen``, the output trims it (``XTRIM MINID``) up to the oldest entry
some group still needs (its first pending entry, or the first it has not been
given yet); if the entries still needed alone reach ``maxlen``, the stream is
full, and the output waits as for a broker out of reach (supplies paused,
tried again with back-off) until the readers catch up. With no group on the
stream nothing is known to be read, and nothing is trimmed.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Mapping
from typing import Annotated, Any

from deadbeat import conf, movement

from ._drain import BrokerDrain, StreamFull
from ._extras import needs_library
from ._redis_common import connect, is_transient, shown_url, stream_id_after

__all__ = ["RedisStreamDrain"]

log = logging.getLogger("deadbeat.stream")

_SIMPLE = (int, float)


class RedisStreamDrain(BrokerDrain):
    """Add each datum to a Redis stream (``XADD``); it counts as done only once Redis confirmed it.

    Data are sent in pipelines of ``batch_size`` ``XADD`` commands, one round
    trip each. Until Redis confirms a datum, the output holds it: nothing
    upstream is acknowledged (a tailer's position, another broker's message)
    before the data are in the stream. While Redis is out of reach (restarting,
    the connection cut, out of memory, the stream full), the output keeps what
    it holds, pauses the supplies, says so once, and tries again with growing
    pauses; nothing is lost. A Redis that takes the connection but does not
    answer (hung, frozen) counts as out of reach once ``confirm_timeout``
    passes without its reply. Data in a pipeline cut off midway may be written
    twice (delivery is at least once).

    With ``field`` (``"data"``), each datum's text (or bytes) is the value of
    that one field: the datum itself when it is text, or what ``value_getter``
    finds in it. With ``field = false`` each datum must be a mapping, and its
    items are the entry's fields. A datum that has no text to write, or text the
    encoding cannot hold, goes to the error output. The datum goes on
    unchanged, so more cogs may follow.

    :param train: the Train (the output holds its data there until Redis confirmed them).
    :param stream: the stream's key.
    :param url: where Redis is (``redis://HOST:PORT/DB``, ``rediss://`` for TLS, ``unix:///PATH``).
    :param password: Redis's password (never shown in logs); none for no password.
    :param field: the field the datum's text goes to; false to write a mapping's items as the fields.
    :param value_getter: where the text is in a datum that is not text itself
        (callable or field path); none to write text data only.
    :param encoding: how text is encoded.
    :param maxlen: keep the stream near this many entries, trimming only what
        every consumer group has acknowledged, and wait while it is full; none
        for no limit.
    :param batch_size: most ``XADD`` commands per pipeline (one round trip).
    :param confirm_timeout: seconds to wait for Redis's reply to a pipeline (or
        to any command) before taking the connection for lost and writing the
        data again.
    :param retry_for: seconds to keep trying while Redis is out of reach before
        the run stops, failed; none to try for as long as it runs.
    :param finish_timeout: at shutdown, seconds to keep trying to write what is
        left before giving up on it (it is then not acknowledged).
    """

    config_name = "redis_write"
    missing_requirements = needs_library("redis", "redis", "stream.redis_write")

    def __init__(
        self,
        train: movement.Train,
        stream: str,
        url: str = "redis://127.0.0.1:6379/0",
        password: str | None = None,
        field: str | None = "data",
        value_getter: movement.FieldGetter | None = None,
        encoding: conf.Encoding = "utf-8",
        maxlen: int | None = None,
        batch_size: Annotated[int, conf.Range(1)] = 1000,
        confirm_timeout: Annotated[float, conf.Range(0, above=True)] = 5.0,
        retry_for: float | None = None,
        finish_timeout: float = 30.0,
    ) -> None:
        if maxlen is not None and maxlen < 1:
            raise ValueError(f"maxlen must be at least 1 (or false for no limit), not {maxlen}")
        if confirm_timeout <= 0:
            raise ValueError(f"confirm_timeout must be more than 0 seconds, not {confirm_timeout}")
        codecs.lookup(encoding)  # an unknown encoding fails now, not on the first datum
        self.train = train
        self.stream = stream
        self.url = url
        self.password = password
        self.field = field
        self.value_getter = value_getter
        self.encoding = encoding
        self.maxlen = maxlen
        self.batch_size = batch_size
        self.confirm_timeout = confirm_timeout
        self.retry_for = retry_for
        self.finish_timeout = finish_timeout
        self._get = movement.getter(value_getter) if value_getter is not None else None
        self._field = field.encode(encoding) if field is not None else None
        # A Redis that takes the connection and never answers must fail the attempt, not hold it:
        # retry_for is counted between failed attempts.
        self._client = connect(url, password, "stream.redis_write", reply_timeout=confirm_timeout)
        # Why the stream is full (empty while it is not).
        self._full = ""
        self._setup(train, f"redis {shown_url(url)} stream {stream}", batch_size, retry_for, finish_timeout)

    def _retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, StreamFull) or is_transient(exc)

    def _encode(self, datum: Any) -> tuple[Any, ...]:
        """:returns: the field-value arguments of the datum's ``XADD``."""
        if self._field is None:
            if not isinstance(datum, Mapping) or not datum:
                raise TypeError(
                    f"field = false writes a mapping's items as the entry's fields; this datum is"
                    f" {'an empty mapping' if isinstance(datum, Mapping) else type(datum).__name__}"
                )
            items: list[Any] = []
            for key, value in datum.items():
                items += (self._bytes(key, "a field name"), self._bytes(value, f"field {key!r}"))
            return tuple(items)
        if type(datum) is str:
            return (self._field, datum.encode(self.encoding))
        if type(datum) is bytes:
            return (self._field, datum)
        if self._get is None:
            raise TypeError(
                f"the datum is {type(datum).__name__}, not text: give value_getter, or make text first"
                " (text.json_format)"
            )
        return (self._field, self._bytes(self._get(datum), "the value"))

    def _bytes(self, value: Any, what: str) -> bytes:
        if isinstance(value, str):
            return value.encode(self.encoding)
        if isinstance(value, bytes):
            return value
        if isinstance(value, _SIMPLE) and not isinstance(value, bool):
            return str(value).encode()
        raise TypeError(f"{what} is {type(value).__name__}; Redis takes text, bytes and numbers")

    async def _write(self, values: list[Any]) -> None:
        if self._full:
            await self._make_room()
            if self._full:
                raise StreamFull(self._full)
        pipe = self._client.pipeline(transaction=False)
        add = pipe.execute_command
        stream = self.stream
        for fields in values:
            add("XADD", stream, "*", *fields)
        if self.maxlen is not None:
            pipe.xlen(stream)
        results = await pipe.execute(raise_on_error=False)
        failed = [value for value, result in zip(values, results, strict=False) if isinstance(result, Exception)]
        if failed:
            error = next(r for r in results if isinstance(r, Exception))
            values[:] = failed
            raise error
        if self.maxlen is not None and results[-1] > self.maxlen:
            # Written: trim now, and let the next write wait if the stream is still full.
            await self._make_room()

    async def _make_room(self) -> None:
        """Trim what every group has acknowledged; when the stream is still at ``maxlen``, say why in ``_full``."""
        assert self.maxlen is not None
        client, stream = self._client, self.stream
        groups = await client.xinfo_groups(stream)
        bound: tuple[int, int] | None = None
        for group in groups:
            # The group needs its first pending entry, or else the first it was not given yet.
            needed = stream_id_after(group["last-delivered-id"].decode())
            if group["pending"]:
                first = (await client.xpending(stream, group["name"]))["min"]
                if first is not None:  # (None: acknowledged meanwhile)
                    needed = first.decode()
            key = _id_key(needed)
            if bound is None or key < bound:
                bound = key
        if bound is not None:
            await client.xtrim(stream, minid=f"{bound[0]}-{bound[1]}", approximate=False)
        length = await client.xlen(stream)
        self._full = ""
        if length >= self.maxlen:
            self._full = (
                f"stream {stream} is full: {length} entries that "
                + ("its consumer groups have not all acknowledged" if groups else "no consumer group has read")
                + f", maxlen {self.maxlen}; waiting for the readers"
            )

    async def _disconnect(self) -> None:
        await self._client.aclose()


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
