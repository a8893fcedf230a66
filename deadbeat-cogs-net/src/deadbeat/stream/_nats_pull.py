"""Pull requests to a durable JetStream consumer, answered on an inbox of our own.

nats-py's ``fetch`` waits for each message of a batch on its own (a task, a
timer and a random name per message), which costs more than everything else a
worker does with the message. Here the messages of a request are gathered by
one subscription callback into a list, and a fetch wakes once per request: when
the request is answered in full or ended by JetStream, or, for a request that
waits for messages, as soon as the first ones came.

The protocol (JetStream's pull API): a request is a message to
``$JS.API.CONSUMER.MSG.NEXT.STREAM.CONSUMER`` whose reply subject is where the
messages go, asking for ``batch`` messages, either at once (``no_wait``: what
there is, then a status ``404 No Messages`` or ``408 Request Timeout`` unless
the batch was filled) or within ``expires`` nanoseconds (ended by ``408`` when
that time is up with the batch not filled). The messages come with their
stream's subject, so they cannot be told apart by request; the status
messages come on the reply subject, which names the request. So at most one
request is open at a time, and messages count against it.

A request answered by nothing at all (the consumer was deleted, or the request
was lost with a connection) is given up after its time and a margin, with an
error the supply takes for "out of reach": it connects again (which makes the
consumer again if it is gone). Messages that arrive after their request was
given up are kept: they were delivered to us, and are handed on with the next
fetch.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

__all__ = ["PullError", "PullRequests"]

#: How long JetStream may take to answer a request beyond the time it was given, in seconds.
_ANSWER_MARGIN = 5.0


class PullError(Exception):
    """JetStream ended a pull request with an error, or did not answer it."""


class PullRequests:
    """One worker's pull requests to a durable consumer, and the messages they brought.

    :param nc: a connected ``nats.aio.client.Client``.
    :param stream: the stream.
    :param durable: the durable pull consumer.
    :param kept: messages delivered to a previous connection's requests and not handed on yet.
    """

    def __init__(self, nc: Any, stream: str, durable: str, kept: list[Any] | None = None) -> None:
        self._nc = nc
        self._where = f"stream {stream} consumer {durable}"
        self._subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._sub: Any = None
        #: Messages delivered and not handed on yet, oldest first.
        self.buffer: list[Any] = kept if kept is not None else []
        # The open request: its token (the last part of its reply subject) and
        # how many messages it may still bring (0: none open).
        self._token = ""
        self._asked = 0
        self._lingering = False
        # How many messages a fetch waits for while a request sent ahead is answered.
        self._want = 0
        self._requests = 0
        self._error: PullError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._ready: Callable[[], bool] = bool

    async def start(self) -> None:
        """Subscribe to the inbox the answers come to."""
        self._sub = await self._nc.subscribe(self._inbox + ".*", cb=self._delivered)

    async def fetch(self, count: int, wait: float | None) -> list[Any]:
        """:returns: at most ``count`` messages: those there are now, or else the first within ``wait`` seconds.

        An empty list means none came within ``wait`` (none were there, for ``wait=None``).

        :raises PullError: when JetStream refused the request or did not answer it.
        """
        if len(self.buffer) < count and self._asked and not self._lingering:
            # The request sent ahead (see ask_ahead) is answered within a round
            # trip; what it brought so far may be enough.
            self._want = count
            await self._until(self._enough_or_answered, _ANSWER_MARGIN)
        if not self.buffer and not self._asked:
            await self._request({"batch": count, "no_wait": True})
            await self._until(self._answered, _ANSWER_MARGIN)
        if not self.buffer and (wait is not None or self._asked):
            wait = wait or 0.0
            if not self._asked:
                # One message: a request open for more would take messages
                # after the first woke us, delivered to us even if we die of
                # it (a delivery lost for each); the next fetch asks for the rest.
                await self._request({"batch": 1, "expires": int(wait * 1e9)})
            await self._until(self._any_or_answered, wait + _ANSWER_MARGIN)
        return self.take(count)

    async def settle(self) -> None:
        """At a stop: wait for the answer to a request that asked for messages at once (a round trip).

        A request waiting for messages (``expires``) is not waited for: what
        it brings later is kept in :attr:`buffer` as any message.

        :raises PullError: when JetStream refused the request or did not answer it.
        """
        if self._asked and not self._lingering:
            await self._until(self._answered, _ANSWER_MARGIN)

    def take(self, count: int) -> list[Any]:
        """:returns: at most ``count`` messages of :attr:`buffer` (the oldest), taken out of it."""
        taken = self.buffer[:count]
        del self.buffer[:count]
        return taken

    async def ask_ahead(self, count: int) -> None:
        """Ask now for at most ``count`` more messages than those kept, unless a request is open.

        For a caller about to spend a while on what it fetched: the next
        messages travel meanwhile, and its next fetch finds them here.
        """
        count -= len(self.buffer)
        if count > 0 and not self._asked:
            await self._request({"batch": count, "no_wait": True})

    async def _request(self, asking: dict[str, Any]) -> None:
        self._requests += 1
        self._token = str(self._requests)
        self._asked = asking["batch"]
        self._lingering = "expires" in asking
        await self._nc.publish(self._subject, json.dumps(asking).encode(), reply=f"{self._inbox}.{self._token}")

    def _answered(self) -> bool:
        return not self._asked

    def _enough_or_answered(self) -> bool:
        return len(self.buffer) >= self._want or not self._asked

    def _any_or_answered(self) -> bool:
        return bool(self.buffer) or not self._asked

    async def _until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Wait until ``ready()`` holds (checked as messages come); give the request up after ``timeout``."""
        if not ready():
            self._ready = ready
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, timeout)
            except asyncio.TimeoutError:
                self._asked = 0
                raise PullError(
                    f"{self._where}: JetStream did not answer a pull request within {timeout:g} s"
                    " (the consumer deleted, or the request lost with a connection?)"
                ) from None
            finally:
                self._waiter = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    async def _delivered(self, message: Any) -> None:
        headers = message.headers
        if headers is not None and not message.reply and "Status" in headers:
            self._status(message.subject[len(self._inbox) + 1 :], headers)
        else:
            self.buffer.append(message)
            if self._asked:
                self._asked -= 1
        waiter = self._waiter
        if waiter is not None and not waiter.done() and (self._ready() or self._error is not None):
            waiter.set_result(None)

    def _status(self, token: str, headers: dict[str, str]) -> None:
        """A status message: the end of the request ``token``, unless it is a heartbeat or of an older request."""
        status = headers["Status"]
        if status == "100" or token != self._token:
            return
        self._asked = 0
        if status in ("404", "408"):
            return  # no (more) messages now, or the request's time is up
        description = headers.get("Description", "")
        # 409: the consumer deleted, the server shutting down, a leader
        # changing, too many requests waiting: try again after a pause.
        self._error = PullError(f"{self._where}: JetStream ended a pull request: {status} {description}".rstrip())
