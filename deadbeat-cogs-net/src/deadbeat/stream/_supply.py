"""What every broker supply shares: fetching within a bound, pausing, acknowledging, stopping.

A broker supply is one member of a consumer group: the broker hands each
message to one member, remembers it as pending until that member acknowledges
it, and gives it to another member when the first one stays silent too long
(it died). This module holds the part of that membership that does not depend
on the broker; :mod:`._redis_supply` and :mod:`._nats_supply` speak to theirs.

Acknowledgement. Every fetch goes down the train as one
:class:`~deadbeat.movement.Batch` whose id is ours. The Train broadcasts
``batch_done`` for it once every datum of it has left the train (written by the
outputs, dropped by a filter, or delivered to the error output) and no cog
holds data back; only then are its messages acknowledged to the broker, in one
call per ``checkpoint``. A message that cannot become a datum (a missing field,
bytes that do not decode, too many deliveries, an ``id_setter`` that raises)
goes to the error output first and is acknowledged with the batch it came in.
A crash before the acknowledgement loses nothing: the broker delivers the
message again.

The bound. Messages handed to the train and not yet acknowledged to the broker
are at most ``max_pending`` (the train's ``high_water`` by default): a fetch asks
for no more than the room left, and while there is none the supply waits for
acknowledgements. So a worker never holds more than that many messages that a
crash would make the broker deliver again, and memory stays bounded even where
the train acknowledges late (a cog holding data for a window).

Messages delivered before. A message taken over from a dead worker (or one
the broker delivers again) may be what killed it. Such messages are handed on
one at a time, each acknowledged before the next is fetched, so that a poison
message uses up its own deliveries and reaches the error output after
``max_deliveries``, while the messages fetched with it are not counted as
failing with it.

Pausing. The fetch loop is a coroutine on the Escapement's loop. Before each
fetch it asks :meth:`Escapement.is_paused`; when paused it queues a call of its
own (:meth:`Escapement.enqueue`), which the Escapement holds back while the
supply is paused and delivers when it resumes: that call wakes the loop. An
idle supply waits inside the broker's blocking read, which costs no CPU.

Stopping. ``finish`` stops the fetch loop, but never leaves a message the
broker delivered to us outside the train: a fetch under way is not cut off in
the middle (the broker would count the messages of a reply we never read as
ours, and deliver them again only after ``claim_idle`` or ``ack_wait``, one
delivery more on their count): a blocking read is told to return now (see
:meth:`BrokerSupply._interrupt_fetch`), and what the fetch brought goes down the
train as any fetch does. Messages fetched ahead and not handed on yet go down
the train too (see :meth:`BrokerSupply._take_last`). So an orderly stop
(SIGTERM, a reload) writes and acknowledges every message it took. The data in
the train reach its end, the Train acknowledges them, and the acknowledgements
still have to travel to the broker after every cog has finished: the supply
therefore joins the Escapement's shutdown itself
(:meth:`Escapement.join_shutdown`, after the train), and its turn there waits
for them before the connection closes; messages that came after the train
finished are handed back to the broker there (:meth:`BrokerSupply._give_back`).

Figures. :meth:`BrokerSupply.metrics` reports what the supply counts anyway
(messages read, redelivered, in hand and not acknowledged) and the lag behind
the stream: messages the broker holds for the group that no member has been
given yet. The lag takes a question to the broker, which a scrape cannot wait
for in the loop's thread; so the value reported is the last one known: a fetch
that finds nothing says 0, and otherwise a question is sent, without waiting
for its answer, after a fetch or at a scrape at most every ``_LAG_EVERY``
seconds (a paused supply does not fetch, so its lag is refreshed by the
scrapes).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from deadbeat import movement

from ._backoff import Backoff

__all__ = ["BrokerSupply", "default_consumer_name"]

log = logging.getLogger("deadbeat.stream")

#: The first item of our batch ids: other supplies' batches are not ours.
_TAG = "deadbeat.stream"
#: How long, at shutdown, acknowledgements may take before we give up on them.
_ACK_WAIT_AT_END = 10.0
#: While the broker stays unreachable, how often that is said again.
_REMIND_EVERY = 60.0
#: With ``--once``, seconds the broker may stay out of reach before the run ends, failed: a cron job that
#: cannot read its stream fails, as one that cannot read its file does, instead of waiting for ever.
ONCE_PATIENCE = 30.0
#: Least seconds between two questions to the broker about the lag.
_LAG_EVERY = 5.0
#: At shutdown, seconds a fetch under way may take beyond its own longest wait (see BrokerSupply._fetch_limit).
_FETCH_MARGIN = 2.0


def default_consumer_name() -> str:
    """The consumer name a supply takes when given none: ``HOST-wN`` in a worker, ``HOST-PID`` otherwise.

    ``deadbeat run --workers`` sets ``DEADBEAT_WORKER`` to each worker's index;
    a worker restarted after a crash then comes back under the same name and
    takes up at once the messages it had not acknowledged.
    """
    worker = os.environ.get("DEADBEAT_WORKER")
    host = socket.gethostname()
    return f"{host}-w{worker}" if worker else f"{host}-{os.getpid()}"


class _Closing:
    """The supply's turn in the Escapement's shutdown, after the trains: the last acknowledgements."""

    def __init__(self, supply: BrokerSupply) -> None:
        self.supply = supply

    async def finish(self) -> None:
        await self.supply._close_down()

    def done(self) -> None:
        return None


class BrokerSupply(movement.Supply):
    """Base class of the consumer-group supplies; subclasses speak to one broker.

    Subclasses implement :meth:`_connect`, :meth:`_fetch`, :meth:`_acknowledge`,
    :meth:`_disconnect` and :meth:`_retryable`, and call :meth:`_send` with what
    a fetch gave.
    """

    #: Several processes may run this supply on one group: each message goes to one of them.
    shareable = True

    def _setup(
        self,
        train: movement.Train | movement.Escapement,
        where: str,
        batch_size: int,
        max_pending: int | None,
        max_deliveries: int,
        id_setter: movement.IdSetter | None = None,
    ) -> None:
        """Bookkeeping every broker supply needs; called by the subclass's ``__init__``.

        :param id_setter: the supply's ``id_setter`` parameter (see :meth:`_give_ids`).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if max_deliveries < 1:
            raise ValueError(f"max_deliveries must be at least 1, not {max_deliveries}")
        if max_pending is not None and max_pending < 1:
            raise ValueError(f"max_pending must be at least 1 (or false for the train's high_water), not {max_pending}")
        self.esc = movement.escapement_of(train)
        limit = max_pending if max_pending is not None else getattr(train, "high_water", 10_000)
        #: Messages handed to the train (or waiting for the broker to take their
        #: acknowledgement) never exceed this.
        self._limit = max(limit, 1)
        self._where = where
        #: Puts each datum's event id in it (see _give_ids); None: the ids only go beside the data.
        self._set_id = movement.id_setter(id_setter)
        #: The manual's one-argument form sets ids of its own: the train then reads
        #: them from the data (its id_getter), and ours do not go beside them.
        self._own_ids = callable(id_setter) and self._set_id is not id_setter
        # Invariant: _pending == sum(len(refs) for refs in _unacked.values());
        # _pending + len(_to_ack) <= _limit, give or take one fetch's rejects.
        self._unacked: dict[int, list[Any]] = {}
        self._pending = 0
        self._to_ack: list[Any] = []
        self._acking_refs: list[Any] = []
        self._seq = 0
        self._stopping = False
        self._serving: movement.Binding | None = None
        #: A fetch is under way: cancelled, the broker's reply (messages it counts as ours) would be lost.
        self._fetching = False
        self._acking: movement.Binding | None = None
        self._room_event: asyncio.Event | None = None
        self._resume_waiter: asyncio.Future[None] | None = None
        #: Set by the subclass while it hands on messages delivered before (see _wait_for_room).
        self._careful = False
        #: What the supply counted: messages taken, acknowledged, sent to the error output.
        self.counts = {"received": 0, "acknowledged": 0, "dead-lettered": 0, "invalid": 0}
        # Figures (see metrics): messages delivered before (to us or another
        # member), the lag last known and when it was asked for, whether the
        # broker is in reach.
        self._redelivered = 0
        self._lag: int | None = None
        self._lag_asked = -_LAG_EVERY
        self._lag_binding: movement.Binding | None = None
        self._reached = False
        #: Whether the broker answered at least once in this run.
        self._reached_ever = False
        self.esc.enqueue(self._start)

    # -- for subclasses ---------------------------------------------------------------

    async def _connect(self) -> None:
        """Connect, and make the group or consumer if it is missing."""
        raise NotImplementedError

    async def _fetch(self, room: int) -> bool:
        """Fetch at most ``room`` messages and hand them on with :meth:`_send`.

        :returns: whether anything came (or is still to come, such as unread
            pending messages of our own); with ``--once``, ``False`` ends the supply.
        """
        raise NotImplementedError

    async def _acknowledge(self, refs: list[Any]) -> None:
        """Tell the broker these messages are handled."""
        raise NotImplementedError

    async def _disconnect(self) -> None:
        """Close the connection."""
        raise NotImplementedError

    def _retryable(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the broker is out of reach for now (rather than a mistake)."""
        raise NotImplementedError

    def _broker_said(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the broker's answer (an error reply), not a fault here: logged without a traceback."""
        return False

    async def _ask_lag(self) -> int | None:
        """:returns: the messages the broker holds for the group that no member was given yet (``None``: unknown)."""
        return None

    #: Whether cancelling :meth:`_fetch` loses nothing (what the broker delivered is kept for the next fetch).
    _fetch_survives_cancel = False

    def _fetch_limit(self) -> float:
        """At shutdown, the longest a fetch under way may still take (its longest wait, if it blocks), in seconds."""
        return 0.0

    async def _interrupt_fetch(self) -> None:
        """At shutdown, while a fetch is under way: make a blocking read return now (with what it has).

        Returns soon after the fetch ended (it is not cancelled in the middle of
        a command). By default nothing: the fetch ends by itself within :meth:`_fetch_limit`.
        """
        return None

    async def _take_last(self) -> None:
        """At shutdown, once the fetch loop stopped: hand on (:meth:`_send`) what was fetched and not sent yet."""
        return None

    async def _give_back(self) -> None:
        """After the train finished, before the connection closes: hand back to the broker what came too late for it."""
        return None

    def _reject(self, event_id: str, content: Any, error: Exception, dead: bool = False) -> None:
        """Send a message that cannot become a datum to the error output, naming its event id.

        The record's datum is a mapping with the ``id``, so that error records
        and log lines name the message; it is acknowledged with the batch that
        follows (see :meth:`_send`).
        """
        self.counts["dead-lettered" if dead else "invalid"] += 1
        self.esc.reject(self, {"id": event_id, "message": content}, error)

    def _give_ids(
        self,
        data: list[Any],
        keys: list[Any],
        event_id: Callable[[Any], str],
        content: Callable[[Any], Any],
    ) -> tuple[list[Any], list[Any]]:
        """Put each datum's event id in it with the ``id_setter`` (only called when there is one).

        A datum whose setter raises costs itself alone: it goes to the error
        output (see :meth:`_reject`) naming its event id, and its message stays
        among the fetch's ``refs``, acknowledged with the batch as any message
        that failed is, once the error output has it.

        :param data: the data made of the fetch's messages.
        :param keys: each datum's message, as the subclass names it (a Redis id, a JetStream sequence).
        :param event_id: the event id ``STREAM:...`` of a key.
        :param content: the message of a key as the error output shows it.
        :returns: the data and their keys, without those whose setter raised.
        """
        set_id = self._set_id
        assert set_id is not None
        made: list[Any] = []
        kept: list[Any] = []
        for datum, key in zip(data, keys, strict=True):
            eid = event_id(key)
            try:
                made.append(set_id(datum, eid))
            except Exception as exc:  # noqa: BLE001 - the pipeline's setter failed: that datum to the error output
                self._reject(eid, content(key), exc)
                continue
            kept.append(key)
        return made, kept

    def _send(self, data: list[Any], refs: list[Any], event_ids: Callable[[], list[Any]] | None) -> None:
        """Send one fetch down the train; ``refs`` (every message of it, rejected ones too) are acknowledged after.

        Sent even when ``data`` is empty (every message was rejected): the
        Train then acknowledges the batch once the error output has the data.
        ``event_ids`` is ``None`` when the manual's ``id_setter`` gave the data
        ids of their own: the train reads those.
        """
        if self._own_ids:
            event_ids = None
        self._seq += 1
        self._unacked[self._seq] = refs
        self._pending += len(refs)
        self.counts["received"] += len(refs)
        batch = movement.Batch(data, batch_id=(_TAG, id(self), self._seq), event_ids=event_ids)
        self.esc.send_from(self, batch)

    # -- the fetch loop ---------------------------------------------------------------------

    def _start(self) -> None:
        # From the running loop: the train has joined the shutdown already, so
        # our turn there comes after its own (see the module docstring).
        if self._stopping:
            return
        self.esc.join_shutdown(_Closing(self))
        self._room_event = asyncio.Event()
        self._serving = self.esc.spawn(self._serve())

    def _room(self) -> int:
        return self._limit - self._pending - len(self._to_ack)

    async def _wait_for_room(self) -> int:
        """:returns: how many messages may be fetched now (0 when stopping), once the train is not paused."""
        assert self._room_event is not None
        while not self._stopping:
            if self.esc.is_paused(self):
                await self._until_resumed()
                continue
            room = self._room()
            if self._careful:
                # Messages delivered before, maybe the death of a worker: one
                # at a time, each acknowledged before the next, so that a poison
                # message costs its own deliveries only, not its neighbours'.
                if not (self._pending or self._to_ack or self._acking is not None):
                    return 1
            elif room > 0:
                return room
            self._room_event.clear()
            await self._room_event.wait()
        return 0

    async def _until_resumed(self) -> None:
        # A call of ours is held back while we are paused and delivered at resume.
        self._resume_waiter = self.esc.loop.create_future()
        self.esc.enqueue(self._resumed)
        await self._resume_waiter

    def _resumed(self) -> None:
        if self._resume_waiter is not None and not self._resume_waiter.done():
            self._resume_waiter.set_result(None)

    async def _serve(self) -> None:
        backoff = Backoff()
        connected = False
        lost_at: float | None = None
        reminded = 0.0
        while not self._stopping:
            room = await self._wait_for_room()
            if not room:
                break
            try:
                if not connected:
                    await self._connect()
                    connected = self._reached = self._reached_ever = True
                self._fetching = True
                try:
                    more = await self._fetch(room)
                finally:
                    self._fetching = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - sorted below: out of reach, or a mistake
                self._reached = False
                if self._stopping and self._retryable(exc):
                    break  # nothing to try again for: the supply is finishing
                if not self._retryable(exc):
                    # A traceback only for a fault of ours: the broker's own words say enough.
                    log.error(
                        "%s: %s: %s",
                        self._where,
                        type(exc).__name__,
                        exc,
                        exc_info=None if self._broker_said(exc) else exc,
                    )
                    self.esc.fail(self, f"{self._where}: {type(exc).__name__}: {exc}; stopping")
                    self.esc.shutdown()
                    return
                # Connect again (the group may be gone with the stream; a client may have given up).
                connected = False
                now = time.monotonic()
                if lost_at is None:
                    lost_at = reminded = now
                    log.error(
                        "%s: broker out of reach (%s: %s); trying again with back-off, nothing is lost",
                        self._where,
                        type(exc).__name__,
                        exc,
                    )
                elif now - reminded >= _REMIND_EVERY:
                    reminded = now
                    log.error("%s: broker still out of reach after %.0f s (%s)", self._where, now - lost_at, exc)
                if self.esc.once and now - lost_at >= ONCE_PATIENCE:
                    self.esc.fail(
                        self,
                        f"{self._where}: broker out of reach for {now - lost_at:.0f} s with --once"
                        f" ({type(exc).__name__}: {exc}); stopping: what is on the stream stays there for the next run",
                    )
                    self.esc.shutdown()
                    break
                await asyncio.sleep(backoff.pause())
                continue
            if lost_at is not None:
                log.warning("%s: broker reached again after %.1f s", self._where, time.monotonic() - lost_at)
                lost_at = None
            backoff.reset()
            if more:
                self._refresh_lag()
            else:
                self._lag_seen(0)  # a fetch found nothing new: nothing is waiting for the group
            if not more and self.esc.once:
                log.info("%s: nothing more to read (--once)", self._where)
                break
        self._serving = None

    # -- figures -----------------------------------------------------------------------

    def metrics(self) -> dict[str, float]:
        """Figures for ``deadbeat run --metrics-port`` and ``--stats`` (see :mod:`deadbeat.metrics`).

        :attr:`counts` are reported beside them, each as a counter
        (``received_total``, ``acknowledged_total``, ``dead_lettered_total``:
        messages delivered too often, sent to the error output; ``invalid_total``).

        :returns: the counter ``messages_read_total`` (messages fetched, those
            that went to the error output too) and ``redelivered_total``
            (of those, messages delivered before, to this member or another);
            the gauges ``pending`` (messages taken and not acknowledged to the
            broker yet: in the train, or their acknowledgement on its way),
            ``ready`` (1 while the broker is in reach; 0 before the first
            connection and while it is out of reach) and, once known,
            ``lag_messages``: the messages the broker holds for the group
            that no member was given yet, as last known (see the module's
            "Figures"; a scrape may start a new question but never waits for it).
        """
        figures: dict[str, float] = {
            "messages_read_total": self.counts["received"],
            "redelivered_total": self._redelivered,
            "pending": self._pending + len(self._to_ack) + len(self._acking_refs),
            "ready": 1 if self._reached else 0,
        }
        if self._lag is not None:
            figures["lag_messages"] = self._lag
        self._refresh_lag()
        return figures

    def _refresh_lag(self) -> None:
        """Ask the broker for the lag (without waiting for the answer), unless asked lately or already asking."""
        if self._lag_binding is not None or self._stopping or not self._reached:
            return
        now = time.monotonic()
        if now - self._lag_asked < _LAG_EVERY:
            return
        self._lag_asked = now
        self._lag_binding = self.esc.spawn(self._update_lag())

    async def _update_lag(self) -> None:
        asked = self._lag_asked
        try:
            lag = await self._ask_lag()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a figure is never worth failing for; the fetch loop reports
            log.debug("%s: cannot learn the lag: %s: %s", self._where, type(exc).__name__, exc)
        else:
            # Unless a fetch learnt a newer value meanwhile.
            if lag is not None and self._lag_asked == asked:
                self._lag = lag
        finally:
            self._lag_binding = None

    def _lag_seen(self, lag: int) -> None:
        """A fetch told the lag (it found nothing, or the broker said it with the messages)."""
        self._lag, self._lag_asked = lag, time.monotonic()

    # -- acknowledgement ---------------------------------------------------------------

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        """Every datum of one of our batches has left the train: its messages may be acknowledged."""
        if type(batch_id) is not tuple or len(batch_id) != 3 or batch_id[0] != _TAG or batch_id[1] != id(self):
            return
        refs = self._unacked.pop(batch_id[2], None)
        if refs is None:
            return
        self._pending -= len(refs)
        self._to_ack += refs

    @movement.hook
    def checkpoint(self) -> None:
        """The batches acknowledged by the train now: tell the broker, in one call."""
        if self._to_ack and self._acking is None:
            self._acking = self.esc.spawn(self._send_acks())

    async def _send_acks(self) -> None:
        backoff = Backoff()
        failing_since: float | None = None
        try:
            while self._to_ack:
                refs, self._to_ack = self._to_ack, []
                self._acking_refs = refs
                acknowledged = False
                while True:
                    try:
                        await self._acknowledge(refs)
                        acknowledged = True
                        break
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - sorted below
                        if not self._retryable(exc):
                            log.error(
                                "%s: %d messages could not be acknowledged (%s: %s); the broker delivers them again",
                                self._where,
                                len(refs),
                                type(exc).__name__,
                                exc,
                            )
                            break
                        if failing_since is None:
                            failing_since = time.monotonic()
                            log.warning(
                                "%s: cannot acknowledge %d messages yet (%s); trying again",
                                self._where,
                                len(refs),
                                exc,
                            )
                        await asyncio.sleep(backoff.pause())
                self._acking_refs = []
                if not acknowledged:
                    continue
                if failing_since is not None:
                    log.warning(
                        "%s: acknowledged again after %.1f s; nothing lost",
                        self._where,
                        time.monotonic() - failing_since,
                    )
                    failing_since = None
                self.counts["acknowledged"] += len(refs)
                backoff.reset()
                if self._room_event is not None:
                    self._room_event.set()
        finally:
            # Cancelled (at shutdown) while acknowledging or pausing between tries: still to do.
            if self._acking_refs:
                self._to_ack = self._acking_refs + self._to_ack
            self._acking = None
            self._acking_refs = []

    def _in_hand(self) -> set[Any]:
        """The messages we took and have not acknowledged yet: in the train, or on their way to the broker."""
        held: set[Any] = set(self._to_ack)
        held.update(self._acking_refs)
        for refs in self._unacked.values():
            held.update(refs)
        return held

    # -- shutdown ----------------------------------------------------------------------

    def finish(self) -> Awaitable[None]:
        """Stop fetching; what the train holds goes on, and is acknowledged after the train has finished.

        A fetch under way ends first, and what it brought goes down the train,
        as do messages fetched ahead (see the module's "Stopping").
        """
        self._stopping = True
        serving, self._serving = self._serving, None
        if self._lag_binding is not None:
            self._lag_binding.cancel()
            self._lag_binding = None
        if self._room_event is not None:
            self._room_event.set()
        self._resumed()
        return self._finish_fetching(serving)

    async def _finish_fetching(self, serving: movement.Binding | None) -> None:
        """Let a fetch under way end (cut short where the broker allows), then hand on what was fetched ahead."""
        task: asyncio.Future[Any] | None = getattr(serving, "task", None) if serving is not None else None
        if serving is not None and task is not None and not task.done():
            if self._fetching and not self._fetch_survives_cancel:
                interrupting = asyncio.ensure_future(self._interrupt_fetch())
                limit = self._fetch_limit() + _FETCH_MARGIN
                try:
                    finished, _ = await asyncio.wait({task}, timeout=limit)
                    # It ends by itself once the fetch has (a command to the broker is not cut off).
                    await asyncio.wait({interrupting}, timeout=1.0)
                finally:
                    if not interrupting.done():
                        interrupting.cancel()
                    elif not interrupting.cancelled() and interrupting.exception():
                        log.debug("%s: ending the fetch: %s", self._where, interrupting.exception())
                if not finished:
                    log.error(
                        "%s: a fetch was still under way %.0f s after the shutdown began; cut short, the messages"
                        " of its reply (if any came) stay pending until the broker delivers them again",
                        self._where,
                        limit,
                    )
            if not task.done():
                serving.cancel()
                await asyncio.wait({task}, timeout=1.0)
        elif serving is not None:
            serving.cancel()
        try:
            await self._take_last()
        except Exception as exc:  # noqa: BLE001 - the broker gone meanwhile: what is left is handed back at close
            log.warning("%s: at shutdown: %s: %s", self._where, type(exc).__name__, exc)

    async def _close_down(self) -> None:
        """After the train finished: send the last acknowledgements, then close the connection."""
        self._stopping = True
        self.checkpoint()  # what the train acknowledged last, unless on its way already
        acking = self._acking
        task = getattr(acking, "task", None) if acking is not None else None
        if acking is not None and task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), _ACK_WAIT_AT_END)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                acking.cancel()
                # Let the cancellation run: the messages it was acknowledging go back to _to_ack.
                await asyncio.wait([task], timeout=1.0)
            except Exception:  # noqa: BLE001 - reported by the task itself
                pass
        try:
            await self._give_back()
        except Exception as exc:  # noqa: BLE001 - the broker delivers them again after its own timeout
            log.warning("%s: cannot hand messages back: %s: %s", self._where, type(exc).__name__, exc)
        if self.esc.once and not self._reached_ever and not self.esc.failures:
            # Stopped (SIGTERM) before the broker was ever reached: nothing was read, and a cron job must not
            # take that for "nothing to read".
            self.esc.fail(self, f"{self._where}: stopped before the broker was ever reached; nothing was read")
        left = self._pending + len(self._to_ack) + len(self._acking_refs)
        if left:
            # The run failed to do what it took on: the broker delivers them again (to anyone).
            self.esc.fail(
                self, f"{self._where}: {left} messages were not acknowledged; the broker will deliver them again"
            )
        try:
            await self._disconnect()
        except Exception as exc:  # noqa: BLE001 - closing a lost connection may fail; nothing is at stake
            log.debug("%s: closing: %s", self._where, exc)

    def done(self) -> None:
        """Nothing left: the connection closed in the supply's own turn of the shutdown."""
        self._stopping = True


def chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    """:returns: ``items`` in consecutive lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
