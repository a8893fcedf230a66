"""Reading a NATS JetStream stream through a durable pull consumer shared by every worker.

The workers bind to one durable consumer, so JetStream gives each message to
one of them. Acknowledgement is explicit and per message (``AckExplicit``):
acknowledging "all up to here" would acknowledge other workers' messages too.
A message not acknowledged within ``ack_wait`` seconds is delivered again, to
any worker: its worker is taken for dead. The consumer lets a message be
delivered without limit (so that it never drops one by itself); a message
already handed on ``max_deliveries`` times goes to the error output instead of
the train on its next delivery, and is acknowledged there.

Messages delivered before. A worker that finds messages delivered and not
acknowledged when it starts (its previous run may have died holding them, one
of them may be what killed it), or that is given a message delivered before,
fetches one message per request, each acknowledged before the next, until
every message delivered by then is acknowledged or ``ack_wait`` has passed
without another such message (see ``BrokerSupply``). A request waiting for
messages asks for one, so that none stays open to take more: messages
delivered to a worker that dies are a delivery lost for each.

``max_ack_pending`` is left unlimited on the consumer: each worker bounds what
it holds itself (``max_pending``), and a server-wide limit of JetStream's
default 1000 would idle the workers of a large group.

With ``--once``, a fetch that finds nothing ends the run, unless messages
delivered before may still come: those a run that died held (found at the
start, or, once, when nothing more came) are waited for while careful, at most
``ack_wait`` and a margin, since JetStream delivers them again only then.

A stream deleted and made again starts its sequences anew: it is told by its
creation time (or a last sequence below what was delivered to us), and a
durable consumer made again on it starts at its first message. Messages of the
old stream still in our hands are written but never acknowledged: the new
consumer of the same name would take their acknowledgements for its own.

Fetching is by pull requests of our own (see :mod:`._nats_pull`); while the
train handles one fetch of a busy stream, the next messages are asked for.

Stopping. Messages fetched ahead are delivered to us: JetStream counts them as
ours until they are acknowledged, or ``ack_wait`` passes. At an orderly stop
(SIGTERM, a reload) the supply waits for the answer to a request sent ahead (a
round trip) and hands what it holds down the train, like any fetch: written
and acknowledged before the run ends, nothing is left for ``ack_wait`` nor
counted as a delivery more. A message that comes after the train finished (a
request waiting for messages answered in that instant) is handed back with a
``NAK`` before the connection closes: JetStream delivers it again at once, but
counts that delivery (it cannot be undone), which ``max_deliveries`` sees.

The lag behind the stream is the consumer's ``num_pending``: messages it has
not delivered to any worker yet. Each message fetched carries it in its reply
subject, so every fetch refreshes it for free; a paused supply asks for the
consumer's info at a scrape (see :mod:`._supply`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from deadbeat import conf, movement

from ._extras import client_library, needs_library
from ._nats_common import delivery_of, is_transient, open_connection, pending_after
from ._nats_pull import PullError, PullRequests
from ._supply import BrokerSupply

__all__ = ["NATSStreamSupply"]

log = logging.getLogger("deadbeat.stream")

# Lots acknowledged this recently (seconds), up to this many messages, go once
# more after the client connected again (see NATSStreamSupply._acknowledge).
_RESEND_WINDOW = 30.0
_RESEND_MOST = 100_000
# While the train handles one fetch, the next messages are asked for, up to
# this many fetches' worth (within max_pending): they travel meanwhile.
_AHEAD_FETCHES = 2
# Seconds, beyond ack_wait, that a worker stays careful after a message delivered before (see _be_careful).
_CAREFUL_MARGIN = 2.0
# Least seconds between two questions for the consumer's acknowledgement floor while careful.
_FLOOR_EVERY = 0.5


class NATSStreamSupply(BrokerSupply):
    """Read a NATS JetStream stream through a durable pull consumer: each message one datum, acknowledged once done.

    Several processes (``deadbeat run --workers N``, or several machines) share
    the work when they name the same ``durable`` consumer: JetStream gives each
    message to one of them. A message is acknowledged only after every datum it
    became has left the train (written, dropped by a filter, or delivered to the
    error output), so a worker that dies loses nothing: JetStream delivers its
    messages again after ``ack_wait`` seconds. A message delivered
    ``max_deliveries`` times without being acknowledged goes to the error
    output instead (counted as ``stream.redis`` counts). At most
    ``max_pending`` messages are in the train or waiting for their acknowledgement.

    Each datum is the message's payload as text (bytes with ``encoding = false``);
    its event id is ``STREAM:SEQUENCE``. A payload that does not decode goes to
    the error output and is acknowledged. An ``id_setter`` (a function) gives
    each datum its id. The durable consumer is made when
    missing (and the stream too, capturing ``subject``, when that is given);
    an existing one is given this ``ack_wait`` and ``subject`` (the log says
    what changed, or what JetStream refused to change).

    Delivery is at least once: a message whose acknowledgement was lost is
    delivered again.

    An orderly stop (SIGTERM, a reload) writes and acknowledges the messages
    fetched ahead as well, so that none stays delivered for ``ack_wait``; one
    that arrives after the train finished is handed back at once (``NAK``),
    which JetStream counts as a delivery.

    Its figures for ``/metrics`` and ``--stats`` (``metrics()``): messages
    read, redelivered (by JetStream, after ``ack_wait``), dead-lettered,
    pending (taken and not acknowledged), ``ready``, and ``lag_messages``: the
    consumer's ``num_pending``, messages not delivered to any worker yet.

    :param train: the Train (its ``high_water`` is the default ``max_pending``).
    :param stream: the JetStream stream.
    :param subject: the subjects to read (a filter; may hold wildcards); none for every message of the stream.
    :param durable: the consumer's name, the same for every worker sharing the work.
    :param servers: NATS server URLs.
    :param user: user name; none for none.
    :param password: password (never shown in logs); none for none.
    :param encoding: how payloads are decoded; false for bytes.
    :param start: where a new consumer starts: at the ``"beginning"`` of the stream, or at its ``"end"``
        (an existing consumer keeps its place; a different ``start`` is said in the log).
    :param batch_size: most messages per fetch (one Batch each).
    :param max_pending: most messages in the train or waiting for their
        acknowledgement; false for the train's ``high_water``.
    :param wait: longest wait of an idle fetch, in seconds.
    :param ack_wait: seconds a message may stay unacknowledged before JetStream
        delivers it again (its worker is taken for dead); longer than any cog may hold a datum.
    :param max_deliveries: deliveries after which a message that was never
        acknowledged goes to the error output instead of the train.
    :param id_setter: a function of the datum that sets an id of its own and
        returns the datum (the manual's form; it may return a new one, such as
        a mapping holding the payload), or a setter ``f(datum, id)`` given the
        event id ``STREAM:SEQUENCE``. Each datum is the payload, a text, so a
        field path has nowhere to go. By default the id is not put in the data,
        and the train knows it all the same (error records, ``event_done``).
        A datum whose setter fails goes to the error output, naming its
        message, which is acknowledged as any other.
    """

    config_name = "nats"
    missing_requirements = needs_library("nats", "nats", "stream.nats")

    def __init__(
        self,
        train: movement.Train,
        stream: str,
        subject: str | None = None,
        durable: str = "deadbeat",
        servers: Sequence[str] = ("nats://127.0.0.1:4222",),
        user: str | None = None,
        password: str | None = None,
        encoding: conf.Encoding | None = "utf-8",
        start: Literal["beginning", "end"] = "beginning",
        batch_size: Annotated[int, conf.Range(1)] = 1000,
        max_pending: int | None = None,
        wait: Annotated[float, conf.Range(0, above=True)] = 5.0,
        ack_wait: Annotated[float, conf.Range(0, above=True)] = 60.0,
        max_deliveries: Annotated[int, conf.Range(1)] = 5,
        id_setter: movement.IdSetter | None = None,
    ) -> None:
        if isinstance(servers, str):
            raise TypeError("servers must be a list of URLs, not one string")
        if id_setter is not None and not callable(id_setter):
            # Each datum is the payload, a text (or bytes): nowhere to put a field.
            raise ValueError(
                f"id_setter {id_setter!r}: each datum of stream.nats is the message's payload, not a mapping;"
                " give a function of the datum (the manual's form, or a setter taking the datum and the id)"
            )
        if start not in ("beginning", "end"):
            raise ValueError(f"start must be 'beginning' or 'end', not {start!r}")
        if wait <= 0 or ack_wait <= 0:
            raise ValueError("wait and ack_wait must be more than 0 seconds")
        client_library("nats", "nats", "stream.nats")
        self.train = train
        self.stream = stream
        self.subject = subject
        self.durable = durable
        self.servers = list(servers)
        self.user = user
        self.password = password
        self.encoding = encoding
        self.start = start
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.wait = wait
        self.ack_wait = ack_wait
        self.max_deliveries = max_deliveries
        self.id_setter = id_setter
        self._nc: Any = None
        self._pull: PullRequests | None = None
        self._inbox = ""
        # Acknowledgements waiting for JetStream's answer, by token.
        self._answers: dict[str, asyncio.Future[None]] = {}
        self._acks_sent = 0
        # The client's reconnection count when an acknowledgement last went twice (see _acknowledge).
        self._reconnects_seen = 0
        # Lots acknowledged lately, (when, refs), oldest first.
        self._recent: deque[tuple[float, list[Any]]] = deque()
        self._recent_count = 0
        # Careful (see _be_careful): until every message up to this stream
        # sequence is acknowledged, or this time (monotonic) has passed.
        self._careful_through: int | None = 0
        self._careful_until = 0.0
        self._floor_asked = -_FLOOR_EVERY
        # The highest stream sequence delivered to us, and whether the durable consumer was ours to read
        # (see _connect: one deleted while we read is made again after that sequence, not from the start).
        self._last_sequence = 0
        self._consumer_known = False
        # When the stream we read was made (JetStream's "created"), to know it again after a reconnection:
        # a stream deleted and made again starts its sequences anew (see _connect).
        self._stream_created: Any = None
        # Replies (acknowledgement subjects) of messages of a stream since deleted: never acknowledged,
        # lest the new stream's consumer of the same name take them for its own (see _forget_old_stream).
        self._stale: set[Any] = set()
        # With --once: whether the run already waited once for messages another run of the consumer
        # holds unacknowledged (see _others_pending).
        self._once_waited = False
        self._setup(
            train,
            f"nats {','.join(self.servers)} stream {stream} consumer {durable}",
            batch_size,
            max_pending,
            max_deliveries,
            id_setter,
        )

    def _retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, PullError) or is_transient(exc)

    async def _connect(self) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        if self._nc is not None:
            await self._disconnect()
        self._nc = await open_connection(self.servers, self.user, self.password, self._where, "stream.nats")
        js = self._nc.jetstream()
        try:
            stream_info = await js.stream_info(self.stream)
        except NotFoundError:
            if self.subject is None:
                raise ValueError(f"JetStream has no stream {self.stream!r}; make it, or give subject") from None
            stream_info = await js.add_stream(name=self.stream, subjects=[self.subject])
            log.info("%s: made the stream, capturing %s", self._where, self.subject)
        remade = self._remade(stream_info)
        self._stream_created = getattr(stream_info, "created", None)
        if remade:
            self._forget_old_stream()
        try:
            info = await js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            start: dict[str, Any] = {
                "deliver_policy": DeliverPolicy.ALL if self.start == "beginning" else DeliverPolicy.NEW
            }
            if remade:
                # A new stream (deleted and made again, by a producer or by us above): its sequences start
                # anew, so "after the last message delivered to us" would skip every message it holds up
                # to that number, lost without a word. Everything in it came after what we read: from its
                # first message, whatever ``start`` says.
                start = {"deliver_policy": DeliverPolicy.ALL}
                log.warning(
                    "%s: the stream was deleted and made again (%s); the durable consumer is made again from"
                    " the new stream's first message (sequence %d, %d messages in it): messages of the old"
                    " stream not seen acknowledged are gone with it",
                    self._where,
                    remade,
                    stream_info.state.first_seq,
                    stream_info.state.messages,
                )
            elif self._consumer_known:
                # Deleted while we read (an operator, a tidy-up job): made again from the start, it delivered
                # the whole stream again, every message written twice, said only as "made". It goes on
                # after the last message delivered to us; what the deleted consumer had delivered to others
                # and not seen acknowledged is lost with it, which is said.
                start = {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": self._last_sequence + 1}
                log.warning(
                    "%s: the durable consumer is gone (deleted while we read?); made again from stream sequence"
                    " %d, after the last message delivered to us: messages it had delivered to other workers"
                    " and not seen acknowledged are not delivered again",
                    self._where,
                    self._last_sequence + 1,
                )
            config = ConsumerConfig(
                durable_name=self.durable,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait,
                # Unlimited: JetStream never drops a message by itself; the
                # supply sends it to the error output (see _hand_on).
                max_deliver=-1,
                max_ack_pending=-1,
                filter_subject=self.subject,
                **start,
            )
            info = await js.add_consumer(self.stream, config=config)
            log.info("%s: made the durable consumer", self._where)
        else:
            if remade:
                # Made again on the new stream by another worker: nothing of ours to say about where.
                log.warning("%s: the stream was deleted and made again (%s)", self._where, remade)
            info = await self._update_consumer(js, info)
            if info.num_ack_pending or info.num_redelivered:
                # Messages delivered and not acknowledged: a worker (our
                # previous run?) may have died holding them, and one of them
                # may be what killed it. They come again after ack_wait.
                self._be_careful(info.delivered.stream_seq if info.delivered is not None else 0)
                log.info(
                    "%s: %d messages delivered and not acknowledged (a run that died holding them?); handed on"
                    " one at a time as JetStream delivers them again (after ack_wait, %g s)%s",
                    self._where,
                    info.num_ack_pending,
                    self.ack_wait,
                    "; --once waits for them" if self.esc.once else "",
                )
        self._consumer_known = True
        # Where the consumer stands: made again after it (see above) should it be deleted before this run
        # took anything, instead of from the stream's start.
        delivered = getattr(getattr(info, "delivered", None), "stream_seq", None)
        if isinstance(delivered, int) and delivered > self._last_sequence:
            self._last_sequence = delivered
        # Messages delivered on the connection before and not handed on yet
        # are handed on first: their acknowledgements go by their own subjects.
        kept = self._pull.buffer if self._pull is not None else None
        self._pull = PullRequests(self._nc, self.stream, self.durable, kept)
        await self._pull.start()
        self._inbox = self._nc.new_inbox()
        await self._nc.subscribe(self._inbox + ".*", cb=self._answered)

    def _remade(self, stream_info: Any) -> str:
        """Whether the stream is not the one we read before this connection: deleted and made again.

        :returns: why it is taken for a new one, for the log; empty when it is the same (or we read none yet).
        """
        if not self._consumer_known:
            return ""
        created = getattr(stream_info, "created", None)
        if self._stream_created is not None and created is not None and created != self._stream_created:
            return f"made at {created.isoformat()}, after the one we read, made at {self._stream_created.isoformat()}"
        state = stream_info.state
        last = int(state.last_seq or 0)
        if last < self._last_sequence:
            # A stream's sequences never go back (a purge keeps its last sequence): this one started anew.
            return f"its last sequence is {last}, below the {self._last_sequence} delivered to us"
        return ""

    def _forget_old_stream(self) -> None:
        """What we know of a stream since deleted: its sequences mean nothing in the new one.

        Its messages still in our hands are handed on and written as any, but
        never acknowledged: an acknowledgement names the stream, the consumer
        and the message's sequence, and the new stream's consumer of the same
        name would take it for one of its own messages (or, for a sequence it
        has not delivered yet, skip ahead to it).
        """
        self._last_sequence = 0
        self._recent.clear()
        self._recent_count = 0
        stale = self._in_hand()
        if self._pull is not None:
            stale.update(message.reply for message in self._pull.buffer)
        self._stale = stale
        if self._careful_through:
            # Messages delivered before, of the old stream: none of them will come again.
            self._careful_through = 0

    async def _update_consumer(self, js: Any, info: Any) -> Any:
        """Bring an existing consumer to our settings where JetStream allows it; say what stays different.

        ``ack_wait``, ``subject`` (the filter) and the
        unlimited deliveries (see the module) are changed on the consumer;
        ``start`` only says where a new consumer begins, so a difference is
        said and left (delete the consumer to begin again).

        :returns: the consumer's info now.
        """
        found = info.config
        wanted: dict[str, Any] = {}
        if found.max_deliver not in (-1, None, 0):
            wanted["max_deliver"] = -1
        if found.ack_wait is None or abs(float(found.ack_wait) - self.ack_wait) > 1e-3:
            wanted["ack_wait"] = self.ack_wait
        if (found.filter_subject or None) != self.subject:
            wanted["filter_subject"] = self.subject
        policy = getattr(found.deliver_policy, "value", found.deliver_policy)
        starts = {"all": "beginning", "new": "end"}.get(str(policy), f"deliver_policy {policy}")
        # by_start_sequence: made again by us after being deleted (see _connect): not the operator's doing.
        if starts != self.start and str(policy) != "by_start_sequence":
            log.warning(
                "%s: start is %r, but the consumer exists and began at the %s; start only applies to a new"
                " consumer (delete it to begin again)",
                self._where,
                self.start,
                starts,
            )
        if not wanted:
            return info
        shown = {
            "max_deliver": ("max_deliver", found.max_deliver, "unlimited"),
            "ack_wait": ("ack_wait", found.ack_wait, self.ack_wait),
            "filter_subject": ("subject", found.filter_subject, self.subject),
        }
        changes = ", ".join(f"{shown[k][0]} from {shown[k][1]!r} to {shown[k][2]!r}" for k in wanted)
        try:
            info = await js.add_consumer(self.stream, config=found.evolve(**wanted))
        except Exception as exc:  # noqa: BLE001 - said; the consumer keeps its settings
            if self._retryable(exc):
                raise
            log.warning(
                "%s: the consumer's settings differ from the pipeline's and JetStream refused to change them"
                " (%s: %s): %s wanted; the consumer's are used (delete it to make it anew)",
                self._where,
                type(exc).__name__,
                exc,
                changes,
            )
            return info
        log.warning("%s: changed the existing consumer: %s", self._where, changes)
        return info

    def _be_careful(self, through: int | None) -> None:
        """Hand messages on one at a time until every message up to stream sequence ``through`` is acknowledged.

        Messages delivered before may be what killed a worker; one at a time,
        each acknowledged before the next is fetched, a poison message uses up
        its own deliveries only, not those of the messages fetched with it.
        JetStream delivers the messages a dead worker held again ``ack_wait``
        after it took them: carefulness ends when the consumer's acknowledgement
        floor passes ``through`` (``None``: the last message the consumer has
        delivered by the next question), or ``ack_wait`` (and a margin) after
        the last message delivered before was seen.
        """
        self._careful = True
        if through is None:
            self._careful_through = None
        elif self._careful_through is not None:
            self._careful_through = max(self._careful_through, through)
        self._careful_until = time.monotonic() + self.ack_wait + _CAREFUL_MARGIN

    async def _still_careful(self) -> bool:
        """Whether messages delivered before may still come (see _be_careful); asks JetStream now and then."""
        now = time.monotonic()
        if now >= self._careful_until:
            return False
        if now - self._floor_asked >= _FLOOR_EVERY:
            self._floor_asked = now
            info = await self._nc.jetstream().consumer_info(self.stream, self.durable)
            floor = (info.ack_floor.stream_seq if info.ack_floor is not None else 0) or 0
            if self._careful_through is None:
                self._careful_through = (info.delivered.stream_seq if info.delivered is not None else 0) or 0
            elif floor >= self._careful_through:
                return False
        return True

    async def _disconnect(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            await nc.close()

    async def _fetch(self, room: int) -> bool:
        assert self._pull is not None
        if self._careful and not await self._still_careful():
            self._careful = False
            self._careful_through = 0
            log.info("%s: no more messages delivered before are due; fetching in batches again", self._where)
        # Careful: one message per request, so that no request of ours stays
        # open to take more (a worker killed by the message would take them
        # with it, using up a delivery of each).
        count = 1 if self._careful else min(room, self.batch_size)
        # With --once, what the consumer holds now, and no waiting for more; but while messages delivered
        # before may still come (a run that died holding them: JetStream gives them again only after
        # ack_wait), the stream is not drained: they are waited for, as a run without --once would.
        once = self.esc.once
        messages = await self._pull.fetch(count, None if once and not self._careful else self.wait)
        if not messages:
            # With --once, more to come while careful; carefulness ends by itself (see _still_careful).
            return once and (self._careful or await self._others_pending())
        # Handed on before anything else is awaited: cancelled (at a stop) after
        # taking them out of the buffer, they would be held by nobody.
        redelivered = self._hand_on_fetched(messages)
        if not redelivered and len(messages) == count and not self._careful and not self._stopping:
            # A busy stream: the next messages travel while the train handles
            # these. Not after messages delivered before: those are handed on
            # one at a time, and nothing is taken with them (see BrokerSupply).
            await self._pull.ask_ahead(min(room - count, _AHEAD_FETCHES * self.batch_size))
        return True

    async def _others_pending(self) -> bool:
        """With ``--once``, nothing came: whether messages another run of the consumer holds may come back.

        Messages delivered and not acknowledged, beyond those in our hands
        (a run that died holding them after this one started, a worker still
        at work): the run waits for them, once, as it does for those found at
        its start (see :meth:`_be_careful`), until they are acknowledged or
        ``ack_wait`` has passed without one coming.
        """
        if self._once_waited:
            return False
        info = await self._nc.jetstream().consumer_info(self.stream, self.durable)
        # Ours counted after the answer: acknowledgements may have been taken meanwhile, and nothing new
        # was fetched, so as many as the server counted or fewer, and the others' are never counted short.
        others = int(info.num_ack_pending or 0) - len(self._in_hand())
        if others <= 0:
            return False
        self._once_waited = True
        self._be_careful(info.delivered.stream_seq if info.delivered is not None else 0)
        log.info(
            "%s: %d messages delivered and not acknowledged (a run that died holding them?); waiting for them"
            " until they are acknowledged or JetStream delivers them again (at most ack_wait, %g s) (--once)",
            self._where,
            others,
            self.ack_wait,
        )
        return True

    def _hand_on_fetched(self, messages: list[Any]) -> int:
        """Hand ``messages`` on (see :meth:`_hand_on`). :returns: how many of them were delivered before."""
        facts = [delivery_of(message.reply) for message in messages]
        redelivered = sum(times > 1 for times, _ in facts)
        if redelivered:
            self._be_careful(None)
        self._hand_on(messages, facts, redelivered)
        return redelivered

    #: Cancelled, a fetch loses nothing: the messages stay in the pull's buffer (see _take_last).
    _fetch_survives_cancel = True

    async def _take_last(self) -> None:
        """At a stop: the answer to a request sent ahead, and every message not handed on yet, down the train."""
        pull = self._pull
        if pull is None:
            return
        try:
            if self._nc is not None and self._nc.is_connected:
                await pull.settle()
        finally:
            while pull.buffer:
                self._hand_on_fetched(pull.take(self.batch_size))

    async def _give_back(self) -> None:
        """Messages that came after the train finished: handed back (``NAK``); JetStream delivers them at once."""
        pull, nc = self._pull, self._nc
        if pull is None or not pull.buffer or nc is None or not nc.is_connected:
            return
        messages = pull.take(len(pull.buffer))
        for message in messages:
            await nc.publish(message.reply, b"-NAK")
        await nc.flush(timeout=5)
        self.counts["handed back"] = self.counts.get("handed back", 0) + len(messages)
        log.warning(
            "%s: %d messages came after the train had finished; handed back to JetStream (NAK), which delivers"
            " them again at once, counting that delivery",
            self._where,
            len(messages),
        )

    def _hand_on(self, messages: list[Any], facts: list[tuple[int, str]], redelivered: int) -> None:
        """One Batch of the fetched messages; the too often delivered and the undecodable go to the error output.

        :param facts: each message's deliveries and stream sequence (``delivery_of``).
        :param redelivered: how many of them were delivered before.
        """
        stream, limit, encoding = self.stream, self.max_deliveries, self.encoding
        refs = [message.reply for message in messages]
        self._redelivered += redelivered
        stale = self._stale
        for message, (_, sequence) in zip(messages, facts, strict=True):
            number = int(sequence)
            if number > self._last_sequence and not (stale and message.reply in stale):
                self._last_sequence = number
        if refs:
            self._lag_seen(pending_after(refs[-1]))
        data: list[Any] = []
        kept: list[str] = []
        whole = all(times <= limit for times, _ in facts)
        if whole:
            try:
                if encoding is None:
                    data = [message.data for message in messages]
                else:
                    data = [message.data.decode(encoding) for message in messages]
                kept = [sequence for _, sequence in facts]
            except UnicodeDecodeError:
                whole = False
                data = []
        if not whole:
            for message, (times, sequence) in zip(messages, facts, strict=True):
                event_id = f"{stream}:{sequence}"
                error: Exception
                if times > limit:
                    # As stream.redis counts: the deliveries before this one (each handed to a train).
                    error = RuntimeError(
                        f"{event_id}: delivered {times - 1} times and never acknowledged (it stopped every worker"
                        f" that took it?); max_deliveries is {limit}"
                    )
                    self._reject(event_id, _readable(message.data), error, dead=True)
                    continue
                try:
                    datum = message.data if encoding is None else message.data.decode(encoding)
                except UnicodeDecodeError as exc:
                    error = ValueError(f"{event_id}: cannot decode the message as {encoding}: {exc}")
                    self._reject(event_id, _readable(message.data), error)
                    continue
                data.append(datum)
                kept.append(sequence)
        if self._set_id is not None:
            message_of = {sequence: message for message, (_, sequence) in zip(messages, facts, strict=True)}
            data, kept = self._give_ids(
                data,
                kept,
                lambda sequence: f"{stream}:{sequence}",
                lambda sequence: _readable(message_of[sequence].data),
            )

        def event_ids() -> list[Any]:
            return [f"{stream}:{sequence}" for sequence in kept]

        self._send(data, refs, event_ids)

    async def _ask_lag(self) -> int | None:
        """The consumer's ``num_pending``: messages it has not delivered to any worker yet."""
        if self._nc is None:
            return None
        info = await self._nc.jetstream().consumer_info(self.stream, self.durable)
        return int(info.num_pending) if info.num_pending is not None else None

    async def _acknowledge(self, refs: list[Any]) -> None:
        # The last acknowledgement of the lot asks for JetStream's answer: one
        # published into a server still loading its streams after a restart is
        # dropped without a word (the message would come again after ack_wait).
        # The server takes a connection's messages in order, so its answer to
        # the last one says it has taken those before it too.
        # In order on one connection only: acknowledgements written to a server
        # that went away just after, and the last one answered by the server
        # reached again, would leave the first ones untaken. When the client
        # connected again while the lot went out, the whole lot goes once more
        # (acknowledging twice does no harm).
        # After the client connected again, the server may still be loading its
        # streams and drop the first acknowledgements while answering a later
        # one: the first lot after that goes twice, the second time once the
        # server has answered (it is ready).
        # A server stopping answers acknowledgements it then does not keep (its
        # consumer state was written before them): the lots acknowledged in the
        # last _RESEND_WINDOW seconds go once more too, after a reconnection, so
        # that their messages are not delivered again after ack_wait.
        stale = self._stale
        if stale:
            # Messages of a stream since deleted (see _forget_old_stream): left out, and forgotten.
            kept = [ref for ref in refs if ref not in stale]
            stale.difference_update(refs)
            refs = kept
            if not refs:
                return
        nc = self._nc
        while True:
            reconnects = nc.stats["reconnects"]
            await self._acknowledge_once(refs)
            if nc.stats["reconnects"] != reconnects:
                continue
            if reconnects != self._reconnects_seen:
                self._reconnects_seen = reconnects
                for _, lot in list(self._recent):
                    await self._acknowledge_once(lot)
                continue
            break
        self._remember(refs)

    def _remember(self, refs: list[Any]) -> None:
        """Keep ``refs`` among the lots acknowledged lately; forget those too old or too many."""
        recent = self._recent
        now = time.monotonic()
        recent.append((now, refs))
        self._recent_count += len(refs)
        while recent and (recent[0][0] < now - _RESEND_WINDOW or self._recent_count > _RESEND_MOST):
            self._recent_count -= len(recent.popleft()[1])

    async def _acknowledge_once(self, refs: list[Any]) -> None:
        nc = self._nc
        publish = nc.publish
        for reply in refs[:-1]:
            await publish(reply, b"+ACK")
        self._acks_sent += 1
        token = f"ack-{self._acks_sent}"
        future = self.esc.loop.create_future()
        self._answers[token] = future
        try:
            await publish(refs[-1], b"+ACK", reply=f"{self._inbox}.{token}")
            await asyncio.wait_for(future, 5.0)
        except asyncio.TimeoutError:
            raise asyncio.TimeoutError(
                f"JetStream did not confirm the acknowledgement of {len(refs)} messages"
            ) from None
        finally:
            self._answers.pop(token, None)

    async def _answered(self, message: Any) -> None:
        future = self._answers.pop(message.subject[len(self._inbox) + 1 :], None)
        if future is not None and not future.done():
            future.set_result(None)


def _readable(payload: bytes) -> str:
    return payload.decode("utf-8", "backslashreplace")
