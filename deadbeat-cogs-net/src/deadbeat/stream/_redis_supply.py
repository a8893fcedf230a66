"""Reading a Redis stream as a member of a consumer group.

One fetch is one ``XREADGROUP`` for new messages (``>``), blocking for at most
``block`` seconds while there are none, so an idle worker costs nothing.

Taking over. Redis keeps, per group, the messages delivered and not yet
acknowledged (the pending entries list) with their consumer, idle time and
delivery count. Two things come back from it:

* at start, our own pending messages, left by the process that ran under our
  consumer name before (``deadbeat run --workers`` gives restarted workers their
  old names): they are taken again at once, without waiting for ``claim_idle``;
  the same after the connection broke, for the messages Redis delivered to us
  in a reply that never arrived (those we have in hand are left alone; the
  lost delivery does not count towards ``max_deliveries``, see below);
* every ``claim_idle / 4`` seconds, other consumers' messages idle for longer
  than ``claim_idle``: their consumer is taken for dead, and ``XCLAIM`` (with the
  same idle guard, so that two workers never both take one) makes them ours.

A message already delivered ``max_deliveries`` times is not delivered again:
it killed or stalled every worker that took it (a poison message), so it goes
to the error output (a dead-letter stream, if ``[[errors]]`` writes to one) and
is acknowledged there. Only deliveries that can have reached a train count: a
delivery whose reply was lost with a broken connection is taken up again with
``XCLAIM ... RETRYCOUNT`` keeping the count as it was.

Stopping. The blocking ``XREADGROUP`` goes on a connection of its own, whose
``CLIENT ID`` is asked each time it connects; at an orderly stop the read is
not cancelled (Redis would have counted the messages of its reply as ours,
and they would wait for ``claim_idle``), but ended with ``CLIENT UNBLOCK`` from
the other connection, and what it read goes down the train, to be written and
acknowledged before the run ends. Where an ACL forbids ``CLIENT ID`` or
``CLIENT UNBLOCK``, the stop waits for the read to end by itself, within
``block`` seconds. Messages that someone trimmed from the stream before
they were acknowledged cannot be read any more; that is said, with their ids.

The stream or the group deleted. Someone may delete the stream (``DEL``,
which takes its groups with it) or the group (``XGROUP DESTROY``) while the
supply reads: Redis then ends the blocking read with an error (``UNBLOCKED
...``), or answers ``NOGROUP``. The group is made again, and the supply goes
on, saying so in one warning line that names where the new group starts:

* the stream is gone: it is made again, empty, with the group reading it from
  ``0``, so that every message added from then on (by others too) is read;
* the stream is there (only the group was deleted, or the stream was deleted
  and written to again before the group is made): the new group starts after
  the last message this consumer read, so that messages added after it are
  read, and those it read are not read again (a message a producer added
  with an id of its own lower than that is not read); if it read none yet in
  this run, where ``start`` says (``0`` or ``$``).

Messages that were pending in the deleted group are gone with it: those in
hand are still written, and their acknowledgement finds nothing to
acknowledge; those other consumers held are not delivered again. Another
worker that finds the group made again by a first one reads on from there.

The lag behind the stream is the group's ``lag`` in ``XINFO GROUPS`` (Redis 7
and later; none is reported before, nor while Redis cannot tell, after
deletions in the stream): entries no member of the group was given yet.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Annotated, Any, Literal

from deadbeat import conf, movement

from ._extras import needs_library
from ._redis_common import connect, is_transient, shown_url
from ._supply import BrokerSupply, chunks, default_consumer_name

__all__ = ["RedisStreamSupply"]

log = logging.getLogger("deadbeat.stream")

#: Ids per ``XACK`` or ``XCLAIM`` call.
_IDS_PER_CALL = 10_000


class RedisStreamSupply(BrokerSupply):
    """Read a Redis stream in a consumer group: each message one datum, acknowledged once the train is done with it.

    Several processes (``deadbeat run --workers N``, or several machines) share
    the work when they read with the same ``group``: Redis gives each message
    to one of them. A message is acknowledged (``XACK``) only after every datum
    it became has left the train (written, dropped by a filter, or delivered to
    the error output), so a worker that dies loses nothing: its messages go to
    another worker after ``claim_idle`` seconds, or to itself when it comes back
    under the same consumer name. A message delivered ``max_deliveries`` times
    without being acknowledged goes to the error output instead. At most
    ``max_pending`` messages are in the train or waiting for their ``XACK``.

    Each datum is the text of the message's ``field`` (``"data"``, what
    ``stream.redis_write`` writes), or with ``field = false`` a mapping of all
    its fields. Its event id is ``STREAM:MESSAGE-ID`` (``events:1700000000000-0``).
    A message without the field, or whose bytes do not decode, goes to the
    error output and is acknowledged. An ``id_setter`` puts the event id (or
    an id of its own) in the data.

    Delivery is at least once: a message written by the outputs whose ``XACK``
    was lost (a crash between the two) is delivered again.

    The stream or the group deleted while the supply runs (``DEL``,
    ``XGROUP DESTROY``) is said in one warning line, and the group is made
    again, and the supply reads on: when the stream is gone, it is made again
    with the group reading it from ``0`` (every message added afterwards, by
    others too, is read); when the stream is there, the group starts after the
    last message this consumer read (or where ``start`` says, if it read none
    yet), so that messages added after it are read and those read are not read
    again. Messages pending in the deleted group are gone with it: those in
    hand are written all the same; those other consumers held are not
    delivered again.

    An orderly stop (SIGTERM, a reload) ends the blocking read at once
    (``CLIENT UNBLOCK``, from a second connection) and writes and acknowledges
    what it brought, so that nothing stays pending for ``claim_idle``; where an
    ACL forbids ``CLIENT ID`` or ``CLIENT UNBLOCK``, the stop waits for the read,
    at most ``block`` seconds.

    Its figures for ``/metrics`` and ``--stats`` (``metrics()``): messages
    read, redelivered and claimed from other consumers, dead-lettered,
    pending (taken and not acknowledged), ``ready``, and ``lag_messages``: the
    group's lag behind the stream (``XINFO GROUPS``, Redis 7 and later).

    :param train: the Train (its ``high_water`` is the default ``max_pending``).
    :param stream: the stream's key.
    :param group: the consumer group; made (with the stream) when missing, and
        again when deleted while the supply runs.
    :param consumer: this process's name in the group, which no other process
        may share (each would take up the other's unacknowledged messages as
        its own: duplicates); by default ``HOST-wN`` under ``deadbeat run
        --workers`` (N the worker's index) and ``HOST-PID`` otherwise. A name
        given is ``NAME-wN`` in each worker. A name that read from the group
        moments before this process started is warned about.
    :param url: where Redis is (``redis://HOST:PORT/DB``, ``rediss://`` for TLS,
        ``unix:///PATH``); give the password separately.
    :param password: Redis's password (never shown in logs); none for no password.
    :param field: the field whose value is the datum; false for a mapping of every field.
    :param encoding: how values are decoded; false for bytes.
    :param start: where a new group starts: at the ``"beginning"`` of the stream, or at its ``"end"``.
    :param batch_size: most messages per fetch (one Batch each).
    :param max_pending: most messages in the train or waiting for their
        acknowledgement; false for the train's ``high_water``.
    :param block: longest wait of an idle fetch, in seconds.
    :param claim_idle: seconds a message may stay unacknowledged with another
        consumer before this one takes it over (that consumer is taken for dead);
        longer than any cog may hold a datum.
    :param max_deliveries: deliveries after which a message that was never
        acknowledged goes to the error output instead of the train.
    :param id_setter: where the event id ``STREAM:MESSAGE-ID`` goes in each datum
        (a setter or a field path, such as ``"id"``: the data must then be
        mappings, ``field = false``), or a function of the datum that sets an id
        of its own (the manual's form). By default the id is not put in the
        data, and the train knows it all the same (error records,
        ``event_done``). A datum whose setter fails goes to the error output,
        naming its message, which is acknowledged as any other.
    """

    config_name = "redis"
    missing_requirements = needs_library("redis", "redis", "stream.redis")

    def __init__(
        self,
        train: movement.Train,
        stream: str,
        group: str = "deadbeat",
        consumer: str | None = None,
        url: str = "redis://127.0.0.1:6379/0",
        password: str | None = None,
        field: str | None = "data",
        encoding: conf.Encoding | None = "utf-8",
        start: Literal["beginning", "end"] = "beginning",
        batch_size: Annotated[int, conf.Range(1)] = 1000,
        max_pending: int | None = None,
        block: Annotated[float, conf.Range(0, above=True)] = 5.0,
        claim_idle: Annotated[float, conf.Range(0, above=True)] = 60.0,
        max_deliveries: Annotated[int, conf.Range(1)] = 5,
        id_setter: movement.IdSetter | None = None,
    ) -> None:
        if start not in ("beginning", "end"):
            raise ValueError(f"start must be 'beginning' or 'end', not {start!r}")
        if claim_idle <= 0 or block <= 0:
            raise ValueError("claim_idle and block must be more than 0 seconds")
        if id_setter is not None and not callable(id_setter) and field is not None:
            # Each datum would be the field's text: nowhere to put the id.
            raise ValueError(
                f"id_setter {id_setter!r} needs data that are mappings: set field = false (each datum then holds"
                " every field of its message), or give a function"
            )
        self.train = train
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.url = url
        self.password = password
        self.field = field
        self.encoding = encoding
        self.start = start
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.block = block
        self.claim_idle = claim_idle
        self.max_deliveries = max_deliveries
        self.id_setter = id_setter
        worker = os.environ.get("DEADBEAT_WORKER")
        # Workers of one run reading the same file: one name for them all was duplicates.
        self._name = (f"{consumer}-w{worker}" if worker else consumer) if consumer else default_consumer_name()
        self._client = connect(url, password, "stream.redis", longest_block=block)
        # The blocking reads, on a connection of their own that the shutdown can unblock (see _interrupt_fetch).
        self._reader = connect(url, password, "stream.redis", longest_block=block, single=True)
        # Its CLIENT ID while connected (None: unknown, or an ACL forbids asking), and whether it is reading.
        self._reader_id: int | None = None
        self._reading = False
        self._field = field.encode() if field is not None else None
        # Our own pending messages are taken again first; this is how far we got.
        self._own_from: str | None = "-"
        self._connected_before = False
        # Taking our pending messages again after the connection broke (not at start).
        self._recovering = False
        self._next_claim = 0.0
        # Messages taken over from other consumers (see metrics).
        self._claimed = 0
        # The id of the last message a read of new messages (">") gave: where a group made again starts.
        self._last_read: str | None = None
        self._setup(
            train,
            f"redis {shown_url(url)} stream {stream} group {group} consumer {self._name}",
            batch_size,
            max_pending,
            max_deliveries,
            id_setter,
        )

    def _retryable(self, exc: BaseException) -> bool:
        from redis.exceptions import AuthenticationError, AuthorizationError

        # redis-py makes a refused password a ConnectionError: it does not pass with time, and was retried
        # for ever as "out of reach".
        return is_transient(exc) and not isinstance(exc, (AuthenticationError, AuthorizationError))

    async def _connect(self) -> None:
        from redis.exceptions import ResponseError

        if self._connected_before:
            # The connection broke: an XREADGROUP whose reply was lost left its
            # messages pending for us, and nobody else would take them (we are
            # alive). Take our pending messages again, those not in hand.
            self._own_from = "-"
            self._recovering = True
        self._connected_before = True
        await self._reader.initialize()
        connection = self._reader.connection
        if connection is not None:
            connection.register_connect_callback(self._reader_connected)
            if self._reader_id is None and connection.is_connected:
                await self._reader_connected(connection)
        try:
            await self._client.xgroup_create(
                self.stream, self.group, id="0" if self.start == "beginning" else "$", mkstream=True
            )
            log.info("%s: made the group", self._where)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            if not self._recovering:
                await self._warn_if_name_in_use()

    async def _warn_if_name_in_use(self) -> None:
        """Warn when our consumer name read from the group moments ago: another process may run under it.

        Two processes under one name each take the other's unacknowledged
        messages for their own (at start, after a broken connection): many
        duplicates, and nothing else would tell. A run restarted at once
        after a crash is warned too, harmlessly: the message says both.
        """
        from redis.exceptions import RedisError

        try:
            consumers = await self._client.xinfo_consumers(self.stream, self.group)
        except RedisError:
            return  # an ACL may forbid XINFO: no warning, the run goes on
        for consumer in consumers:
            name = consumer.get("name")
            name = name.decode(errors="replace") if isinstance(name, bytes) else name
            idle = consumer.get("inactive", consumer.get("idle"))
            if name == self._name and isinstance(idle, int) and 0 <= idle < (self.block + 2) * 1000:
                log.warning(
                    "%s: a consumer named %s read from this group %.1f s ago: if another process runs under"
                    " this name, each takes the other's unacknowledged messages for its own (duplicates); give"
                    " each process its own consumer name (a restart right after a crash is warned too)",
                    self._where,
                    self._name,
                    idle / 1000,
                )
                return

    async def _disconnect(self) -> None:
        try:
            await self._reader.aclose()
        finally:
            await self._client.aclose()

    def _fetch_limit(self) -> float:
        return self.block

    async def _reader_connected(self, connection: Any) -> None:
        """The reading connection connected (again): learn its ``CLIENT ID`` (see _interrupt_fetch)."""
        from redis.exceptions import ResponseError

        self._reader_id = None
        try:
            await connection.send_command("CLIENT", "ID")
            self._reader_id = int(await connection.read_response())
        except ResponseError as exc:  # an ACL without CLIENT ID: a stop waits for the read instead
            log.debug("%s: CLIENT ID: %s", self._where, exc)

    async def _interrupt_fetch(self) -> None:
        """End our blocking ``XREADGROUP`` now (``CLIENT UNBLOCK``): its reply, empty or not, is handed on.

        Unblocked, the read returns what Redis gave it, or nothing (as when its
        time is up); either way nothing is left delivered and unread. Tried
        until the fetch ends: the read may not have reached Redis yet.
        """
        while self._fetching:
            if self._reading:
                reader_id = self._reader_id
                if reader_id is None:
                    log.warning(
                        "%s: cannot end the blocking read at once (its CLIENT ID is unknown); waiting for it,"
                        " at most %g s",
                        self._where,
                        self.block,
                    )
                    return
                try:
                    if await self._client.client_unblock(reader_id):
                        return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - an ACL without CLIENT: the read ends by itself
                    log.warning(
                        "%s: cannot end the blocking read at once (%s: %s); waiting for it, at most %g s",
                        self._where,
                        type(exc).__name__,
                        exc,
                        self.block,
                    )
                    return
            await asyncio.sleep(0.01)

    async def _fetch(self, room: int) -> bool:
        try:
            return await self._fetch_from_group(room)
        except Exception as exc:
            if not _group_gone(exc):
                raise
            await self._make_group_again(exc)
            return True

    async def _make_group_again(self, exc: BaseException) -> None:
        """The stream or the group was deleted while we read: make the group again (with the stream if gone).

        It starts from ``0`` when the stream is gone (made again empty: every
        message added from now on is read), else after the last message we read
        (where ``start`` says when we read none yet); see the module's notes.
        """
        from redis.exceptions import ResponseError

        # A new group has nothing pending: our own pending messages (if we were taking them up) are gone too.
        self._own_from = None
        self._careful = self._recovering = False
        start = self._last_read or ("0" if self.start == "beginning" else "$")
        how = f"after {start}, the last message this consumer read" if self._last_read else f"at {start} (start)"
        what, made_again = "the group was deleted (or the stream, and written to again)", "the group"
        try:
            try:
                await self._client.xgroup_create(self.stream, self.group, id=start)
            except ResponseError as missing:
                if "requires the key to exist" not in str(missing):
                    raise
                await self._client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
                what, made_again = "the stream was deleted (and its group with it)", "the stream and the group"
                how = "from 0: every message added to the stream from now on is read"
        except ResponseError as made:
            if "BUSYGROUP" not in str(made):
                raise
            log.warning(
                "%s: the group was deleted while we read (%s) and another consumer made it again; reading on",
                self._where,
                _first_line(exc),
            )
            return
        log.warning(
            "%s: %s while we read (%s); made %s again, reading %s; messages pending in the old group are gone",
            self._where,
            what,
            _first_line(exc),
            made_again,
            how,
        )

    async def _fetch_from_group(self, room: int) -> bool:
        count = min(room, self.batch_size)
        if self._own_from is not None:
            return await self._take_own()
        now = self.esc.loop.time()
        if self._careful or now >= self._next_claim:
            self._careful = await self._claim_stale()
            if self._careful:
                return True
            self._next_claim = now + self.claim_idle / 4
        wait = None if self.esc.once else max(1, int(min(self.block, self._next_claim - now) * 1000))
        if self._stopping:
            return True  # finishing before the read was sent: nothing to read, nothing to unblock
        self._reading = True
        try:
            reply = await self._reader.xreadgroup(self.group, self._name, {self.stream: ">"}, count=count, block=wait)
        finally:
            self._reading = False
        if not reply:
            return False
        entries = reply[0][1]
        if entries:
            self._last_read = entries[-1][0].decode()
        self._hand_on(entries)
        return True

    async def _take_own(self) -> bool:
        """Take our pending messages again (left by our previous run), one at a time."""
        assert self._own_from is not None
        # At start one at a time (a poison message among them must not use up
        # the deliveries of the others); after a broken connection, by pages:
        # most are in hand, and skipped.
        page = 1000 if self._recovering else 1
        rows = await self._client.xpending_range(
            self.stream, self.group, self._own_from, "+", page, consumername=self._name
        )
        if not rows:
            if self._own_from != "-" and not self._recovering:
                log.info("%s: took up the messages our previous run left", self._where)
            self._own_from = None
            self._careful = False
            self._recovering = False
            return True
        first = self._own_from == "-"
        self._own_from = "(" + rows[-1]["message_id"].decode()
        if self._recovering:
            in_hand = self._in_hand()
            rows = [row for row in rows if row["message_id"] not in in_hand]
            if not rows:
                return True
            log.warning(
                "%s: taking up %d messages delivered to us while the connection broke (the reply was lost)",
                self._where,
                len(rows),
            )
        elif first:
            log.info("%s: taking up the messages our previous run left unacknowledged", self._where)
        self._careful = True
        # After a broken connection, the rows not in hand came in a reply that never
        # arrived: that delivery reached no train, and does not count.
        await self._claim(rows, min_idle_ms=0, lost=self._recovering)
        return True

    async def _claim_stale(self) -> bool:
        """Take over one message another consumer left unacknowledged for ``claim_idle`` seconds.

        :returns: whether there was one.
        """
        idle_ms = int(self.claim_idle * 1000)
        rows = await self._client.xpending_range(self.stream, self.group, "-", "+", 10, idle=idle_ms)
        mine = self._name.encode()
        rows = [row for row in rows if row["consumer"] != mine][:1]
        if not rows:
            return False
        if not self._careful:
            log.warning(
                "%s: taking over messages left unacknowledged for more than %g s by %s (taken for dead)",
                self._where,
                self.claim_idle,
                rows[0]["consumer"].decode(errors="replace"),
            )
        await self._claim(rows, min_idle_ms=idle_ms, taken_over=True)
        return True

    async def _claim(
        self, rows: list[dict[str, Any]], min_idle_ms: int, taken_over: bool = False, lost: bool = False
    ) -> None:
        """``XCLAIM`` the pending ``rows``; hand on what we got, dead-lettering the too often delivered.

        :param lost: the rows' last delivery was to us, in a reply that never
            arrived: it does not count (``RETRYCOUNT`` keeps each count as it
            was, and one less is compared with ``max_deliveries``).
        """
        ids = [row["message_id"] for row in rows]
        deliveries = {row["message_id"]: row["times_delivered"] - (1 if lost else 0) for row in rows}
        entries: list[tuple[bytes, dict[bytes, bytes]]] = []
        if lost:
            # One XCLAIM per count: RETRYCOUNT sets the counter of every id of the call.
            by_count: dict[int, list[bytes]] = {}
            for row in rows:
                by_count.setdefault(row["times_delivered"], []).append(row["message_id"])
            for times, same in by_count.items():
                for part in chunks(same, _IDS_PER_CALL):
                    entries += await self._client.xclaim(
                        self.stream, self.group, self._name, min_idle_ms, part, retrycount=times
                    )
            order = {message_id: i for i, message_id in enumerate(ids)}
            entries.sort(key=lambda entry: order.get(entry[0], 0))
        else:
            for part in chunks(ids, _IDS_PER_CALL):
                entries += await self._client.xclaim(self.stream, self.group, self._name, min_idle_ms, part)
        got = {entry[0] for entry in entries}
        missing = [i for i in ids if i not in got]
        if missing:
            await self._report_missing(missing)
        self._redelivered += len(entries)
        if taken_over:
            self._claimed += len(entries)
        self._hand_on(entries, deliveries)

    async def _report_missing(self, ids: list[bytes]) -> None:
        """Ids we could not claim: taken by another worker first, or trimmed from the stream (lost)."""
        pipe = self._client.pipeline(transaction=False)
        for message_id in ids:
            pipe.xrange(self.stream, message_id, message_id, count=1)
        found = await pipe.execute()
        gone = [i.decode() for i, there in zip(ids, found, strict=True) if not there]
        if gone:
            shown = ", ".join(gone[:10]) + (", ..." if len(gone) > 10 else "")
            log.error(
                "%s: %d pending messages were trimmed from the stream before anyone acknowledged them"
                " (a MAXLEN or XTRIM too short for the backlog); they cannot be read: %s",
                self._where,
                len(gone),
                shown,
            )
            self.counts["trimmed"] = self.counts.get("trimmed", 0) + len(gone)

    def _hand_on(
        self, entries: list[tuple[bytes, dict[bytes, bytes]]], deliveries: dict[bytes, int] | None = None
    ) -> None:
        """Turn fetched entries into one Batch; the ones that cannot become data go to the error output."""
        stream = self.stream
        refs = [entry[0] for entry in entries]
        if deliveries is not None:
            limit = self.max_deliveries
            keep = []
            for entry in entries:
                times = deliveries.get(entry[0], 0)
                if times >= limit:
                    event_id = f"{stream}:{entry[0].decode()}"
                    error = RuntimeError(
                        f"{event_id}: delivered {times} times and never acknowledged (it stopped every worker"
                        f" that took it?); max_deliveries is {limit}"
                    )
                    self._reject(event_id, self._readable(entry[1]), error, dead=True)
                else:
                    keep.append(entry)
            entries = keep
        data, kept = self._data_of(entries)
        if self._set_id is not None:
            fields_of = dict(entries)
            data, kept = self._give_ids(
                data,
                kept,
                lambda message_id: f"{stream}:{message_id.decode()}",
                lambda message_id: self._readable(fields_of[message_id]),
            )

        def event_ids() -> list[Any]:
            return [f"{stream}:{message_id.decode()}" for message_id in kept]

        self._send(data, refs, event_ids)

    def _data_of(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> tuple[list[Any], list[bytes]]:
        """:returns: the data of ``entries`` and their ids; what cannot become a datum goes to the error output."""
        field, encoding = self._field, self.encoding
        data: list[Any]
        try:
            if field is None:
                if encoding is None:
                    data = [dict(fields) for _, fields in entries]
                else:
                    data = [
                        {k.decode(encoding): v.decode(encoding) for k, v in fields.items()} for _, fields in entries
                    ]
            elif encoding is None:
                data = [fields[field] for _, fields in entries]
            else:
                data = [fields[field].decode(encoding) for _, fields in entries]
            return data, [entry[0] for entry in entries]
        except (KeyError, UnicodeDecodeError, LookupError):
            pass  # found again below, one by one, with the reason
        data = []
        kept: list[bytes] = []
        for message_id, fields in entries:
            try:
                data.append(self._datum_of(fields))
            except (KeyError, UnicodeDecodeError, LookupError) as exc:
                event_id = f"{self.stream}:{message_id.decode()}"
                self._reject(event_id, self._readable(fields), ValueError(f"{event_id}: {self._reason(exc, fields)}"))
                continue
            kept.append(message_id)
        return data, kept

    def _datum_of(self, fields: dict[bytes, bytes]) -> Any:
        encoding = self.encoding
        if self._field is None:
            return (
                dict(fields)
                if encoding is None
                else {k.decode(encoding): v.decode(encoding) for k, v in fields.items()}
            )
        value = fields[self._field]
        return value if encoding is None else value.decode(encoding)

    def _reason(self, exc: Exception, fields: dict[bytes, bytes]) -> str:
        if isinstance(exc, KeyError):
            names = ", ".join(k.decode(errors="replace") for k in fields) or "none"
            return f"the message has no field {self.field!r} (its fields: {names})"
        return f"cannot decode the message as {self.encoding}: {exc}"

    @staticmethod
    def _readable(fields: dict[bytes, bytes]) -> dict[str, str]:
        """The fields as text for the error output (undecodable bytes as ``\\xNN``)."""
        return {k.decode("utf-8", "backslashreplace"): v.decode("utf-8", "backslashreplace") for k, v in fields.items()}

    async def _acknowledge(self, refs: list[Any]) -> None:
        for part in chunks(refs, _IDS_PER_CALL):
            try:
                await self._client.xack(self.stream, self.group, *part)
            except Exception as exc:
                if not _group_gone(exc):
                    raise
                # Deleted with their group: nothing holds them pending, nothing will deliver them again.
                log.debug("%s: %d messages to acknowledge went with their group: %s", self._where, len(part), exc)

    def _broker_said(self, exc: BaseException) -> bool:
        from redis.exceptions import ResponseError

        return isinstance(exc, ResponseError)

    async def _ask_lag(self) -> int | None:
        """The group's ``lag`` in ``XINFO GROUPS`` (``None`` before Redis 7, or when Redis cannot tell)."""
        group = self.group.encode()
        for found in await self._client.xinfo_groups(self.stream):
            name = found.get("name")
            if name == group or name == self.group:
                lag = found.get("lag")
                return int(lag) if lag is not None else None
        return None

    def metrics(self) -> dict[str, float]:
        """Figures for ``deadbeat run --metrics-port`` and ``--stats`` (see :mod:`deadbeat.metrics`).

        :returns: those of every broker supply (``messages_read_total``,
            ``redelivered_total``, ``pending``, ``ready``, ``lag_messages``:
            see ``BrokerSupply.metrics``) and ``claimed_total``: messages taken
            over (``XCLAIM``) from consumers silent for ``claim_idle`` seconds.
        """
        figures = super().metrics()
        figures["claimed_total"] = self._claimed
        return figures


def _group_gone(exc: BaseException) -> bool:
    """Whether Redis said that the group, or the stream (and with it its groups), no longer exists.

    ``NOGROUP`` for a command on a group that is gone; ``UNBLOCKED the stream
    key no longer exists`` or ``UNBLOCKED the consumer group this client was
    blocked on no longer exists`` for a blocking read under way when it went.
    """
    from redis.exceptions import ResponseError

    if not isinstance(exc, ResponseError):
        return False
    text = str(exc)
    return text.startswith("NOGROUP") or (text.startswith("UNBLOCKED") and "no longer exists" in text)


def _first_line(exc: BaseException) -> str:
    """The error as a short text for a log line: its class and its message's first line."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
