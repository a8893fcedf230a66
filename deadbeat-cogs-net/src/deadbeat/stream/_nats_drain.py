"""Publishing data to NATS JetStream, each datum done only once the stream confirmed it.

Publications go out together and their confirmations are awaited together,
one round trip per batch: each message names a reply subject of ours, under
one wildcard subscription whose callback settles the message's future. (This
is what nats-py's ``publish_async`` does; ours also settles a refusal such as
"maximum messages exceeded", where nats-py 2.16 raises inside its callback
and leaves the future waiting for ever.) Each message carries a ``Nats-Msg-Id``
made of this output's own random prefix and a counter: a batch published
again after a lost connection or a time-out is recognised by JetStream
(within the stream's duplicate window, two minutes by default) and stored once.
The ids are this output's own, not the data's: after a crash, what the input
gives again is published with new ids, and stored again.

Too big. The server tells the largest message it takes (``max_payload``) when
a connection is made: a datum bigger than that is refused as it arrives, like
any datum that cannot be published. Data that arrive before the first
connection are checked once it is made, out of the train's send. A stream may
take less (its ``max_msg_size``): JetStream refuses such a message ("message
size exceeds maximum allowed"), and that datum goes to the error output alone,
naming its size and the stream's limit, while the others of its batch are
written; no retry mends it. For the data refused out of the train's send,
where each came from is noted as they arrive, and forgotten once they are
written, so that a datum refused later still reaches the error output with
its event id.

A full stream: JetStream refuses new messages only for a stream with
``discard = new``; with the default ``discard = old`` it drops its oldest
messages, read or not, without telling the publisher. Give streams that must
not lose data ``discard = new`` with work-queue or interest retention (or
limits large enough); a refusal then waits like a broker out of reach, and
nothing is lost. With the default limits retention, read and acknowledged
messages stay in the stream: a full stream stays full and the output waits for
good.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from deadbeat import conf, movement

from ._drain import BrokerDrain, StreamFull
from ._extras import client_library, needs_library
from ._nats_common import is_transient, open_connection

__all__ = ["NATSStreamDrain", "Refused"]

log = logging.getLogger("deadbeat.stream")

#: JetStream's error code for a message bigger than the stream's max_msg_size (JSStreamMessageExceedsMaximumErr).
_TOO_BIG = 10054
#: The bytes of the headers we publish with, beside the message id: b"NATS/1.0\r\nNats-Msg-Id: ", "\r\n\r\n".
_HEADER_BYTES = len(b"NATS/1.0\r\nNats-Msg-Id: \r\n\r\n")


class Refused(Exception):
    """JetStream refused a message; the broker's reason is the message.

    :param error: the ``error`` object of JetStream's answer (``code``, ``err_code``, ``description``).
    """

    def __init__(self, error: dict[str, Any]) -> None:
        self.code = error.get("code")
        self.err_code = error.get("err_code")
        self.description = str(error.get("description", ""))
        super().__init__(f"JetStream refused the message: {self.description} (code {self.code}, {self.err_code})")

    @property
    def too_big(self) -> bool:
        """Whether the message is bigger than the stream takes (its ``max_msg_size``): no retry mends it."""
        return self.err_code == _TOO_BIG or "message size exceeds maximum" in self.description.lower()

    @property
    def full(self) -> bool:
        """Whether the stream refused because it holds its maximum (messages, bytes, per subject).

        Not a message too big for the stream: its description ("message size
        exceeds maximum allowed") names a maximum too, but waiting never mends it.
        """
        return not self.too_big and "maximum" in self.description.lower()


class NoStream(Exception):
    """No JetStream stream captures the subject (or it is not ready yet: a restarting server)."""


class NATSStreamDrain(BrokerDrain):
    """Publish each datum to NATS JetStream; it counts as done only once the stream confirmed it.

    A batch of ``batch_size`` data is published at once and its confirmations
    awaited together. Until JetStream confirms a datum, the output holds it:
    nothing upstream is acknowledged before the data are stored. While NATS is
    out of reach (restarting, the connection lost, the stream full with
    ``discard = new``), the output keeps what it holds, pauses the supplies,
    says so once, and tries again with growing pauses. Give a stream with
    ``discard = new`` work-queue or interest retention, so that what its
    readers acknowledged leaves it: with the default limits retention a full
    stream stays full. Each message carries a
    ``Nats-Msg-Id``, so what is published again after a lost confirmation is
    stored once (within the stream's duplicate window). The ids are this run's:
    after a crash (SIGKILL), what the input gives again is stored again.

    The payload is the datum's text (or bytes), or what ``value_getter`` finds
    in it. A datum with no text to publish, text the encoding cannot hold, a
    message bigger than the server takes (its ``max_payload``, 1 MB unless set),
    or one the stream refuses as bigger than it takes (its ``max_msg_size``)
    goes to the error output, alone, and the others go on. The datum goes on unchanged.

    :param train: the Train (the output holds its data there until JetStream confirmed them).
    :param subject: the subject to publish to.
    :param stream: the stream that captures ``subject``, made (capturing it) if missing; none to leave
        that to the operator.
    :param servers: NATS server URLs.
    :param user: user name; none for none.
    :param password: password (never shown in logs); none for none.
    :param value_getter: where the text is in a datum that is not text itself
        (callable or field path); none to publish text data only.
    :param encoding: how text is encoded.
    :param batch_size: most publications awaited together (one round trip).
    :param confirm_timeout: seconds to wait for JetStream's confirmations of a batch before publishing it again.
    :param retry_for: seconds to keep trying while NATS is out of reach before
        the run stops, failed; none to try for as long as it runs.
    :param finish_timeout: at shutdown, seconds to keep trying to publish what is
        left before giving up on it (it is then not acknowledged).
    """

    config_name = "nats_write"
    missing_requirements = needs_library("nats", "nats", "stream.nats_write")

    def __init__(
        self,
        train: movement.Train,
        subject: str,
        stream: str | None = None,
        servers: Sequence[str] = ("nats://127.0.0.1:4222",),
        user: str | None = None,
        password: str | None = None,
        value_getter: movement.FieldGetter | None = None,
        encoding: conf.Encoding = "utf-8",
        batch_size: Annotated[int, conf.Range(1)] = 1000,
        confirm_timeout: Annotated[float, conf.Range(0, above=True)] = 5.0,
        retry_for: float | None = None,
        finish_timeout: float = 30.0,
    ) -> None:
        if isinstance(servers, str):
            raise TypeError("servers must be a list of URLs, not one string")
        if confirm_timeout <= 0:
            raise ValueError(f"confirm_timeout must be more than 0 seconds, not {confirm_timeout}")
        codecs.lookup(encoding)
        client_library("nats", "nats", "stream.nats_write")
        self.train = train
        self.subject = subject
        self.stream = stream
        self.servers = list(servers)
        self.user = user
        self.password = password
        self.value_getter = value_getter
        self.encoding = encoding
        self.batch_size = batch_size
        self.confirm_timeout = confirm_timeout
        self.retry_for = retry_for
        self.finish_timeout = finish_timeout
        self._get = movement.getter(value_getter) if value_getter is not None else None
        self._nc: Any = None
        self._js: Any = None
        self._inbox = ""
        # Publications waiting for JetStream's answer, by message id.
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        # Message ids: unique to this output, the same when a datum is published again.
        self._prefix = secrets.token_hex(8)
        self._serial = 0
        # The largest message the server takes, headers included (known once connected).
        self._max_payload = 0
        # The event ids of the data taken and not written yet, for those refused out of the train's send
        # (too big for the server or the stream): [first serial, how many, their ids when asked].
        self._early_ids: list[list[Any]] = []
        self._setup(train, f"nats {','.join(self.servers)} subject {subject}", batch_size, retry_for, finish_timeout)

    def _retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, (StreamFull, NoStream)) or is_transient(exc)

    def _encode(self, datum: Any) -> tuple[str, bytes, Any]:
        """:returns: the datum's message id, payload, and the datum (for the error output if NATS cannot take it)."""
        if type(datum) is str:
            payload = datum.encode(self.encoding)
        elif type(datum) is bytes:
            payload = datum
        elif self._get is None:
            raise TypeError(
                f"the datum is {type(datum).__name__}, not text: give value_getter, or make text first"
                " (text.json_format)"
            )
        else:
            value = self._get(datum)
            if isinstance(value, str):
                payload = value.encode(self.encoding)
            elif isinstance(value, bytes):
                payload = value
            else:
                raise TypeError(f"the value to publish is {type(value).__name__}, not text or bytes")
        self._serial += 1
        message_id = f"{self._prefix}-{self._serial}"
        if self._max_payload and _size(message_id, payload) > self._max_payload:
            raise ValueError(self._too_big(message_id, payload))
        return message_id, payload, datum

    def _too_big(self, message_id: str, payload: bytes) -> str:
        return (
            f"the message is {_size(message_id, payload)} bytes with its headers; the NATS server takes at most"
            f" {self._max_payload} (its max_payload)"
        )

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Take a whole list; the same as one call per datum (message ids are only used for it when all fit)."""
        serial = self._serial
        try:
            taken = super().call_batch(data)
        except Exception:
            self._serial = serial
            raise
        if data:
            # A datum of this list may be refused later, out of this send (the server's limit not known
            # yet, the stream's max_msg_size), when the train can no longer tell where it came from.
            # Noted now, made only if asked.
            later = self._ids_later(data)
            if later is not None:
                self._early_ids.append([serial + 1, len(data), later])
        return taken

    def _ids_later(self, data: list[Any]) -> Callable[[], list[Any]] | None:
        """The event ids of ``data``, the list being taken, as a function to call later (``None``: not known)."""
        if isinstance(data, movement.Batch) and data.knows_ids:
            return data.event_ids
        train = self.train
        return train.event_ids_later(data) if isinstance(train, movement.Train) else None

    def _early_id(self, message_id: str) -> Any:
        """The event id noted for a datum not written yet (``None``: none noted)."""
        serial = _serial(message_id)
        for entry in self._early_ids:
            first, count, ids = entry
            if first <= serial < first + count:
                if callable(ids):
                    entry[2] = ids = ids()  # made once for the whole list
                return ids[serial - first]
        return None

    def _refuse_early(self, message_id: str, datum: Any, error: Exception) -> None:
        """A datum refused out of the train's send (too big): to the error output, with its event id.

        ``Train.reject`` would look for the id among the data of the send under
        way (none, or others); so the record is made here, as the train makes
        its own, and handed to the train's error output.
        """
        train = self.train
        event_id = self._early_id(message_id) if self._early_ids else None
        if event_id is None or not isinstance(train, movement.Train):
            self._refuse(datum, error)
            return
        self._refused += 1
        self._not_out()
        position = next((i for i, cog in enumerate(train.cogs) if cog is self), -1)
        name = movement.cog_name(self)
        redact = train.redact
        if redact is not None:
            name = redact(name)
        train.errors += 1
        if 0 <= position < len(train.cog_errors):
            train.cog_errors[position] += 1
        record = movement.ErrorRecord(event_id, name, position, error, datum)
        output = train.error_output
        if not isinstance(output, movement.DeadLetterLog):
            # As the train says it for a datum a cog failed on.
            log.warning(
                "%s: %s raised %s: %s", event_id, name, type(error).__name__, error, extra={"event_id": event_id}
            )
        try:
            if isinstance(output, movement.Train):
                shown = record.as_dict()
                if redact is not None:
                    shown["error"] = redact(shown["error"])
                output.send(None, (shown,))
            else:
                output(record)
        except Exception as exc:  # noqa: BLE001 - the datum must still be somewhere
            movement.DeadLetterLog()(record)
            self.esc.fail(self, f"{event_id}: the error output failed ({exc}); the datum is in the log")

    async def _connect(self) -> None:
        from nats.js.errors import NotFoundError

        self._nc = await open_connection(self.servers, self.user, self.password, self._where, "stream.nats_write")
        self._js = self._nc.jetstream()
        self._max_payload = int(self._nc.max_payload or 0)
        self._inbox = self._nc.new_inbox()
        await self._nc.subscribe(self._inbox + ".*", cb=self._answered)
        if self.stream is not None:
            try:
                await self._js.stream_info(self.stream)
            except NotFoundError:
                await self._js.add_stream(name=self.stream, subjects=[self.subject])
                log.info("%s: made the stream %s", self._where, self.stream)

    async def _answered(self, message: Any) -> None:
        """JetStream's answer to one publication: settle its future."""
        future = self._waiting.pop(message.subject[len(self._inbox) + 1 :], None)
        if future is None or future.done():
            return
        headers = message.headers or {}
        if headers.get("Status") == "503" and not message.data:
            future.set_exception(NoStream(f"no JetStream stream answers on {self.subject} (yet)"))
            return
        try:
            answer = json.loads(message.data)
        except ValueError as exc:
            future.set_exception(exc)
            return
        if isinstance(answer, dict) and "error" in answer:
            future.set_exception(Refused(answer["error"]))
        else:
            future.set_result(answer)

    async def _write(self, values: list[Any]) -> None:
        if self._nc is None:
            await self._connect()
        limit = self._max_payload
        # The serial of the last value in hand: the ids noted up to it are needed no more once it is written.
        last = _serial(values[-1][0]) if self._early_ids and values else 0
        if limit and any(_size(message_id, payload) > limit for message_id, payload, _ in values):
            # Taken before the first connection told the limit: to the error output alone.
            fitting = []
            for value in values:
                message_id, payload, datum = value
                if _size(message_id, payload) > limit:
                    self._refuse_early(message_id, datum, ValueError(self._too_big(message_id, payload)))
                else:
                    fitting.append(value)
            values[:] = fitting
        if not values:
            self._forget_ids(last)
            return
        publish = self._nc.publish
        subject, inbox, waiting = self.subject, self._inbox, self._waiting
        make = self.esc.loop.create_future
        futures = []
        try:
            for message_id, payload, _ in values:
                future = make()
                waiting[message_id] = future
                futures.append(future)
                await publish(subject, payload, reply=f"{inbox}.{message_id}", headers={"Nats-Msg-Id": message_id})
            _, late = await asyncio.wait(futures, timeout=self.confirm_timeout)
        finally:
            for message_id, _, _ in values:
                waiting.pop(message_id, None)
        failed = []
        too_big = []
        error: BaseException | None = None
        for value, future in zip(values, futures, strict=False):
            if future in late or not future.done():
                future.cancel()
                failed.append(value)
                error = error or asyncio.TimeoutError(f"no confirmation within {self.confirm_timeout:g} s")
                continue
            exc = future.exception()
            if isinstance(exc, Refused) and exc.too_big:
                # That datum alone: trying it again would hold the whole train for good.
                too_big.append(value)
            elif exc is not None:
                failed.append(value)
                error = error or exc
        failed += values[len(futures) :]  # not published at all (the connection went)
        if too_big:
            await self._refuse_too_big(too_big)
        if not failed:
            self._forget_ids(last)
        else:
            values[:] = failed
            assert error is not None
            if isinstance(error, Refused) and error.full:
                raise StreamFull(f"the stream is full and refuses new messages ({error.description})")
            raise error

    def _forget_ids(self, last: int) -> None:
        """The data taken up to serial ``last`` are written or refused: their noted ids are needed no more."""
        if last and self._early_ids:
            # The later values were taken after, in order.
            self._early_ids = [entry for entry in self._early_ids if entry[0] + entry[1] - 1 > last]

    async def _refuse_too_big(self, values: list[Any]) -> None:
        """Data the stream refused as bigger than it takes: each to the error output, naming its size and the limit."""
        stream, limit = await self._stream_limit()
        where = f"stream {stream}" if stream else "the stream"
        takes = f"at most {limit} bytes" if limit is not None else "less"
        for message_id, payload, datum in values:
            error = ValueError(
                f"the message is {len(payload) + len(message_id) + _HEADER_BYTES} bytes with its headers"
                f" ({len(payload)} of payload); {where} takes {takes} (its max_msg_size), and refused it"
            )
            self._refuse_early(message_id, datum, error)

    async def _stream_limit(self) -> tuple[str | None, int | None]:
        """:returns: the stream that captures ``subject`` and its ``max_msg_size`` (``None``: not known)."""
        stream = self.stream
        try:
            if stream is None:
                stream = await self._js.find_stream_name_by_subject(self.subject)
            info = await self._js.stream_info(stream)
        except Exception as exc:  # noqa: BLE001 - only to say the limit; the datum is refused all the same
            log.debug("%s: cannot learn the stream's max_msg_size: %s: %s", self._where, type(exc).__name__, exc)
            return stream, None
        limit = getattr(info.config, "max_msg_size", None)
        return stream, int(limit) if isinstance(limit, int) and limit >= 0 else None

    async def _disconnect(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()
        if nc is not None and not nc.is_closed:
            await nc.close()


def _serial(message_id: str) -> int:
    """The serial a message id of ours ends with."""
    return int(message_id.rpartition("-")[2])


def _size(message_id: str, payload: bytes) -> int:
    """The bytes of a publication as the server counts them against max_payload: headers and payload."""
    return len(payload) + len(message_id) + 32  # b"NATS/1.0\r\nNats-Msg-Id: ", two b"\r\n", a margin
