"""What every broker output shares: take data, write them in batches, count nothing as done before the broker said so.

The Train acknowledges what its supplies read, batch by batch, once every
datum a batch became has left it (see :mod:`deadbeat.movement._train`). A
broker confirms a write later, over the network; so the output *holds* each
datum it takes (:meth:`Train.hold <deadbeat.movement.Train.hold>`, naming the
datum's batch with ``current=True``) from the moment it arrives until the
broker has confirmed it, and releases it then, with that batch's token. No
batch is acknowledged while any of its data is held: an input line, or a
message of another broker, counts as done only once the broker has it. The
tokens are kept as runs in the order the data were taken; those of the write
in hand are kept one per datum, so that a datum the broker confirmed is
released (and counted as written) at once, even while others of its write
fail and are tried again.

Writing. Data arriving are encoded at once (a datum that cannot be written fails
alone, to the error output) and collected; the train's ``flush`` after each send
starts a writer, which sends what was collected in one round trip per
``batch_size`` data (a pipeline, or publications whose confirmations are awaited
together), and goes on while more has come meanwhile. One round trip is in the
air at a time: what arrives during it forms the next batch.

A broker out of reach. A write that fails for a reason that passes (connection
refused or lost, the broker loading or out of memory, a full stream) keeps its
data, blocks the train (:meth:`Train.block <deadbeat.movement.Train.block>`:
supplies pause, nothing is acknowledged), says so once, and is tried again with
growing pauses until it goes through; then the train goes on, and the log says
after how long. What is held meanwhile is bounded: the supplies are paused.
Data in a write that failed midway may be written twice; never lost.

Under a steady flow the output always holds something; each batch is still
acknowledged as soon as the broker confirmed its data, so a tailer saves its
position as it goes and a broker supply acknowledges its messages.

Shutdown. ``finish`` returns a coroutine, awaited by the Train: it writes what
is left (trying for at most ``finish_timeout`` seconds from the shutdown while
the broker is out of reach, however long it was away before) and closes the
connection. What could not be written is not
acknowledged, and the run fails. An output that already gave up (``retry_for``
ran out, or an error no retry mends) tries nothing more at shutdown.

A broker that takes the connection and never answers (hung, frozen) is out of
reach once the subclass's own time-out for an answer passes; while writes
fail, each try also ends when the time left to retry does, so ``retry_for``
is kept however long that time-out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import Any

from deadbeat import movement

from ._backoff import Backoff

__all__ = ["BrokerDrain", "StreamFull"]

log = logging.getLogger("deadbeat.stream")

#: At shutdown, the longest pause between two tries of a write (seconds).
_FINISH_PAUSE = 1.0


class StreamFull(Exception):
    """The stream holds as much as it may: the write waits, as for a broker out of reach."""


class BrokerDrain(movement.Cog):
    """Base class of the broker outputs; subclasses speak to one broker.

    Subclasses implement :meth:`_encode`, :meth:`_write`, :meth:`_disconnect` and
    :meth:`_retryable`.
    """

    one_to_one = True
    # Sent on at once and held until the broker confirms: the summary says the pending ones as "not written".
    passes_on_what_it_holds = True

    def _setup(
        self,
        train: movement.Train | movement.Escapement,
        where: str,
        batch_size: int,
        retry_for: float | None,
        finish_timeout: float,
    ) -> None:
        """Bookkeeping every broker output needs; called by the subclass's ``__init__``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if retry_for is not None and retry_for <= 0:
            raise ValueError(f"retry_for must be more than 0 seconds (or false for ever), not {retry_for}")
        self.esc = movement.escapement_of(train)
        self._where = where
        self._size = batch_size
        self._retry_for = retry_for
        self._finish_timeout = finish_timeout
        # Encoded data not yet handed to the broker, in order.
        self._buffer: list[Any] = []
        self._append = self._buffer.append
        # Invariant: _held == data taken and not yet confirmed (buffered or in
        # the air), each reported to the train with hold() and released once
        # confirmed; _holds are the hold tokens of the buffered ones, in order
        # (those of the write in hand are kept by _write_all, one per datum).
        self._held = 0
        self._holds = movement.HeldRuns()
        self._writer: movement.Binding | None = None
        self._blocked_since: float | None = None
        self._last_error = 0.0
        self._finishing = False
        # The output gave up writing (see _give_up): the run stops, and nothing more is tried.
        self._gave_up = False
        self._finish_started = 0.0
        # Set at shutdown to end a writer's pause between tries (see _pause).
        self._wake: asyncio.Event | None = None
        # Data of the write in hand that went to the error output instead (see _refuse).
        self._refused = 0
        #: What the output counted: data the broker confirmed, writes tried again.
        self.counts = {"written": 0, "retries": 0}

    # -- for subclasses ---------------------------------------------------------------

    def _encode(self, datum: Any) -> Any:
        """:returns: what :meth:`_write` sends for ``datum``; raises for a datum that cannot be written."""
        raise NotImplementedError

    async def _write(self, values: list[Any]) -> None:
        """Write ``values`` and wait for the broker's confirmation.

        On failure raise; ``values`` may first be cut down, in place, to those
        that are known not to be written (the rest are not sent again).
        """
        raise NotImplementedError

    async def _disconnect(self) -> None:
        """Close the connection."""
        raise NotImplementedError

    def _retryable(self, exc: BaseException) -> bool:
        """Whether ``exc`` passes with time (out of reach, full), rather than a mistake no retry mends."""
        raise NotImplementedError

    # -- taking data ----------------------------------------------------------------------

    def __call__(self, data: Any) -> tuple[Any, ...]:
        self._append(self._encode(data))
        self._held += 1
        self._holds.add(self.esc.hold(self, current=True))
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Take a whole list; the same as one call per datum, and nothing is taken unless all of it can be."""
        if data:
            encode = self._encode
            self._buffer += [encode(datum) for datum in data]
            self._held += len(data)
            self._holds.add(self.esc.hold(self, len(data), current=True), len(data))
        return data

    @movement.hook
    def flush(self) -> None:
        """Start writing what was collected (the train sends this after every send)."""
        if self._buffer and self._writer is None and not self._finishing and not self._gave_up:
            self._writer = self.esc.spawn(self._write_all())

    def metrics(self) -> dict[str, float]:
        """Figures for ``deadbeat run --metrics-port`` and ``--stats`` (see :mod:`deadbeat.metrics`).

        :attr:`counts` are reported beside them as the counters
        ``written_total`` (data the broker confirmed) and ``retries_total``.

        :returns: the gauges ``pending`` (data taken and not confirmed yet:
            collected or in the air), ``ready`` (0 while writes fail and the
            train is blocked: ``/ready`` then answers 503) and
            ``last_error_timestamp_seconds`` (when a write last failed, in
            seconds since the epoch; 0: never).
        """
        return {
            "pending": self._held,
            "ready": 0 if self._blocked_since is not None else 1,
            "last_error_timestamp_seconds": self._last_error,
        }

    # -- writing ------------------------------------------------------------------------

    async def _write_all(self) -> None:
        backoff = Backoff()
        try:
            while self._buffer:
                values = self._buffer[: self._size]
                del self._buffer[: len(values)]
                # One hold token per datum: a datum is released as soon as the broker has it (or it went to
                # the error output), though others of the write fail and are tried again. Released by count
                # at the end of the write instead, a batch whose data were all written stayed unacknowledged
                # while another's datum was retried, and what was written counted as not written.
                tokens = self._take_tokens(len(values))
                while True:
                    tried = values[:]
                    try:
                        await self._attempt(values)
                    except asyncio.CancelledError:
                        tokens = self._settle(tried, tokens, values)
                        self._buffer[:0] = values
                        self._give_tokens_back(tokens)
                        raise
                    except Exception as exc:  # noqa: BLE001 - sorted below
                        self._last_error = time.time()
                        # What the broker confirmed before the failure is written: out of our hands now.
                        tokens = self._settle(tried, tokens, values)
                        if not values:
                            break  # nothing of the write is left to try
                        if not self._retryable(exc):
                            self._give_up(exc, len(values) + len(self._buffer))
                            return
                        if not self._stalled(exc, len(values)):
                            return
                        self.counts["retries"] += 1
                        await self._pause(backoff.pause())
                    else:
                        self._confirmed(tokens)
                        break
                backoff.reset()
                if self._blocked_since is not None:
                    log.warning(
                        "%s: writing again after %.1f s; nothing lost",
                        self._where,
                        time.monotonic() - self._blocked_since,
                    )
                    self._blocked_since = None
                    self.esc.unblock(self)
        finally:
            self._writer = None

    def _take_tokens(self, count: int) -> list[Any]:
        """:returns: the hold tokens of the first ``count`` buffered data, one per datum, taken out of ``_holds``."""
        tokens: list[Any] = []
        self._holds.release_first(count, lambda n, token: tokens.extend([token] * n))
        return tokens

    def _give_tokens_back(self, tokens: list[Any]) -> None:
        """The write in hand goes back to the buffer (cancelled): its data's tokens go back before the others."""
        holds = movement.HeldRuns()
        for token in tokens:
            holds.add(token)
        holds.extend(self._holds)
        self._holds = holds

    def _settle(self, tried: list[Any], tokens: list[Any], left: list[Any]) -> list[Any]:
        """A try of a write failed: release the data of ``tried`` that :meth:`_write` cut out of ``left``.

        ``left`` is what is still to be written, in order: a subclass cuts the
        data the broker confirmed (or refused, to the error output) out of it.

        :param tokens: the hold token of each datum of ``tried``.
        :returns: the hold tokens of the data of ``left``.
        """
        kept: list[Any] = []
        out: list[Any] = []
        at = 0
        for value, token in zip(tried, tokens, strict=True):
            if at < len(left) and left[at] is value:
                kept.append(token)
                at += 1
            else:
                out.append(token)
        if at != len(left):
            # Not a part of what was tried, in order: nothing is known to be written; all stays held.
            return tokens
        if out:
            self._confirmed(out)
        return kept

    async def _attempt(self, values: list[Any]) -> None:
        """One try of :meth:`_write`; once writes fail, it may last no longer than the time left to retry.

        Without the bound, a broker that takes the connection and never answers
        holds a retry for as long as the client's own time-out, however little
        of ``retry_for`` (or, at shutdown, of ``finish_timeout``) is left: the
        limit is only looked at between tries.
        """
        limit, since = self._limit()
        if limit is None or since is None:
            await self._write(values)
            return
        left = max(0.0, limit - (time.monotonic() - since))
        try:
            await asyncio.wait_for(self._write(values), left)
        except asyncio.TimeoutError as exc:
            if time.monotonic() - since < limit:
                raise  # the write's own time-out
            raise TimeoutError(f"still no answer after trying for {limit:g} s") from exc

    def _limit(self) -> tuple[float | None, float | None]:
        """:returns: how long writes may fail before the output gives up (``None``: for ever), and since when.

        The second is ``None`` while writes do not fail. (The first try at
        shutdown is bounded by :meth:`_finish_writes`.)
        """
        if self._blocked_since is None:
            return None, None
        if self._finishing:
            # At shutdown, finish_timeout more seconds, however long the broker was away before.
            return self._finish_timeout, max(self._blocked_since, self._finish_started)
        return self._retry_for, self._blocked_since

    def _refuse(self, datum: Any, error: Exception) -> None:
        """A datum of the write in hand that the broker cannot take (too big): to the error output instead.

        For :meth:`_write`, which leaves it out of what it sends (and out of
        ``values`` if it raises); it is released once it is out of ``values``,
        or with the rest of the write.
        """
        self._refused += 1
        self._not_out()
        self.esc.reject(self, datum, error)

    def _not_out(self) -> None:
        """A datum refused after it went on: the train counted it out, and now counts it failed; not both.

        A datum the output refuses as it arrives (:meth:`_encode` raises) is
        failed, not out; one refused later, when the broker's limit is known,
        had already left the train (the output passes its data on at once), so
        the train's ``events_out`` takes it back, as a route's failures do. Only
        when this output is its train's last cog: then what it passed on is
        exactly what the train counted out (cogs after it may have dropped it).
        """
        train = getattr(self, "train", None)
        if isinstance(train, movement.Train) and train.events_out > 0:
            cogs = train.cogs
            if cogs and cogs[-1] is self:
                train.events_out -= 1

    async def _pause(self, seconds: float) -> None:
        """Wait before trying again; at shutdown at most a second (and the shutdown wakes a longer wait)."""
        if self._finishing:
            seconds = min(seconds, _FINISH_PAUSE)
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    def _confirmed(self, tokens: list[Any]) -> None:
        """The broker has these data (or they went to the error output): release each under its batch's token.

        :param tokens: their hold tokens, one per datum.
        """
        count = len(tokens)
        refused, self._refused = self._refused, 0
        self.counts["written"] += count - refused
        if refused:
            self.counts["refused"] = self.counts.get("refused", 0) + refused
        self._held -= count
        holds = movement.HeldRuns()
        for token in tokens:
            holds.add(token)
        holds.release(partial(self.esc.release, self))

    def _stalled(self, exc: BaseException, count: int) -> bool:
        """A write failed for a reason that passes. :returns: whether to try again."""
        now = time.monotonic()
        if self._blocked_since is None:
            self._blocked_since = now
            log.error(
                "%s: cannot write (%s: %s); holding %d data, supplies paused, trying again with back-off",
                self._where,
                type(exc).__name__,
                exc,
                self._held,
            )
            self.esc.block(self)
        else:
            log.debug("%s: still cannot write: %s", self._where, exc)
        limit, since = self._limit()
        assert since is not None  # blocked just above
        if limit is not None and now - since >= limit:
            self._give_up(exc, count + len(self._buffer))
            return False
        return True

    def _give_up(self, exc: BaseException, count: int) -> None:
        """Writing cannot go on: the run fails, and what was not written stays unacknowledged."""
        # Not tried again at shutdown either: retry_for (or finish_timeout) is up, or no retry mends it;
        # another finish_timeout of trying would only keep the failed run from ending.
        self._gave_up = True
        self.esc.fail(
            self,
            f"{self._where}: cannot write ({type(exc).__name__}: {exc}); {count} data not written,"
            " not acknowledged; stopping",
        )
        if self._blocked_since is None:
            self._blocked_since = time.monotonic()
            self.esc.block(self)
        self.esc.shutdown()

    # -- shutdown -------------------------------------------------------------------

    async def _finish_writes(self) -> None:
        self._finishing = True
        # Counted from the shutdown, not from this finish: outputs finish one after another.
        self._finish_started = time.monotonic() - (
            self._finish_timeout - movement.finish_time_left(self.esc, self._finish_timeout)
        )
        if self._wake is not None:
            self._wake.set()  # a writer pausing between tries tries again now
        if self._buffer and self._writer is None and not self._gave_up:
            self._writer = self.esc.spawn(self._write_all())
        writer = self._writer
        task = getattr(writer, "task", None) if writer is not None else None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), self._finish_timeout + 1)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                writer.cancel()  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - the writer reports its own failure
                pass
        if self._held:
            self.esc.fail(self, f"{self._where}: {self._held} data not written at shutdown; not acknowledged")
        try:
            await self._disconnect()
        except Exception as exc:  # noqa: BLE001 - closing a lost connection may fail; nothing is at stake
            log.debug("%s: closing: %s", self._where, exc)

    def finish(self) -> Any:
        """Write what is left (a coroutine the Train awaits), then close the connection."""
        return self._finish_writes()
