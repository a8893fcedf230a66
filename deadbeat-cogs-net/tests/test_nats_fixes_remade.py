"""stream.nats and stream.nats_write: a stream made again, a message too big for its stream, --once after a crash.

Against the machine's NATS with JetStream (127.0.0.1:4222), each test on a
stream of its own, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DiscardPolicy, StreamConfig

from deadbeat import movement, stream
from deadbeat.testing import Collector

SHARED = "nats://127.0.0.1:4222"
T = TypeVar("T")


def jetstream(call: Callable[[Any], Awaitable[T]]) -> T:
    """Run one JetStream call on a connection of its own (the tests' side of the broker)."""

    async def go() -> T:
        nc = await nats.connect(SHARED)
        try:
            return await call(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(go())


def delete_stream(name: str) -> None:
    async def delete(js: Any) -> None:
        try:
            await js.delete_stream(name)
        except nats.js.errors.NotFoundError:
            pass

    jetstream(delete)


def publish(name: str, payloads: list[bytes]) -> None:
    async def go(js: Any) -> None:
        for payload in payloads:
            await js.publish(f"{name}.in", payload)

    jetstream(go)


def stored(name: str) -> list[bytes]:
    async def go(js: Any) -> list[bytes]:
        info = await js.stream_info(name)
        return [
            (await js.get_msg(name, seq)).data or b"" for seq in range(info.state.first_seq, info.state.last_seq + 1)
        ]

    return jetstream(go)


def run(esc: movement.Escapement, until: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout

    def look() -> None:
        if until() or time.monotonic() > deadline:
            esc.shutdown()

    esc.every(0.02, look, keeps_alive=False)
    try:
        esc.run()
    finally:
        esc.close()


@pytest.fixture
def name() -> Iterator[str]:
    """A stream name of the test's own (capturing NAME.>), deleted afterwards."""
    made = f"DBREMADE{uuid.uuid4().hex[:10]}"
    yield made
    delete_stream(made)


def make_stream(name: str, **config: Any) -> None:
    jetstream(lambda js: js.add_stream(config=StreamConfig(name=name, subjects=[f"{name}.>"], **config)))


def reader(esc: movement.Escapement, name: str, *more: movement.Cog, **params: Any) -> tuple[Any, Collector]:
    train = movement.Train(esc)
    supply = stream.NATSStreamSupply(train, name, **params)
    collector = Collector()
    train.cogs = [supply, *more, collector]
    return supply, collector


class TestStreamMadeAgain:
    """The stream deleted and made again while stream.nats reads it: its sequences start at 1 again."""

    @pytest.mark.parametrize("new", [50, 150], ids=["fewer than read", "more than read"])
    def test_a_stream_made_again_by_a_producer_is_read_from_its_first_message(
        self, name: str, new: int, caplog: pytest.LogCaptureFixture
    ) -> None:
        """100 read; the stream deleted and made again with ``new`` messages while the supply could not look
        (its loop blocked, as the probe's SIGSTOP): the consumer was made again "from stream sequence 101" of
        the old stream, and the new stream's messages up to 100 were never delivered, with the run ending well.
        With more messages than were read, only the stream's creation time tells it is another stream."""
        make_stream(name)
        publish(name, [f"old {i}".encode() for i in range(100)])
        esc = movement.Escapement()
        _, collector = reader(esc, name, wait=0.2)
        stage: list[str] = []

        def remake() -> None:
            delete_stream(name)
            make_stream(name)
            publish(name, [f"new {i}".encode() for i in range(new)])

        def look() -> None:
            if len(collector.data) >= 100 and not stage:
                stage.append("remade")
                # Done while the loop waits: the supply sees the new stream only once it is made and written.
                worker = threading.Thread(target=remake)
                worker.start()
                worker.join()

        esc.every(0.02, look, keeps_alive=False)
        settled: list[float] = []

        def done() -> bool:
            if len(collector.data) < 100 + new:
                return False
            settled.append(time.monotonic())
            return settled[-1] - settled[0] > 1.0  # and nothing more comes

        with caplog.at_level(logging.WARNING, logger="deadbeat.stream"):
            run(esc, done, timeout=30)
        assert collector.data[:100] == [f"old {i}" for i in range(100)]
        assert sorted(collector.data[100:], key=lambda line: int(line.split()[1])) == [f"new {i}" for i in range(new)]
        assert "the stream was deleted and made again" in caplog.text
        assert "from the new stream's first message (sequence 1" in caplog.text
        assert "made again from stream sequence 101" not in caplog.text

    def test_a_stream_made_again_by_the_supply_itself_reads_what_is_published_after(
        self, name: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The stream deleted; the supply (given ``subject``) makes it again, empty: what is published then
        has sequences 1, 2 ..., which a consumer starting after 100 skipped."""
        make_stream(name)
        publish(name, [f"old {i}".encode() for i in range(100)])
        esc = movement.Escapement()
        _, collector = reader(esc, name, subject=f"{name}.>", wait=0.2)
        stage: list[str] = []

        def publish_once_made_again() -> None:
            async def made(js: Any) -> bool:
                try:
                    return (await js.consumer_info(name, "deadbeat")) is not None
                except nats.js.errors.NotFoundError:
                    return False

            deadline = time.monotonic() + 20
            while not jetstream(made) and time.monotonic() < deadline:
                time.sleep(0.05)
            publish(name, [f"new {i}".encode() for i in range(30)])

        def look() -> None:
            if len(collector.data) >= 100 and not stage:
                stage.append("deleted")
                worker = threading.Thread(target=delete_stream, args=(name,))
                worker.start()
                worker.join()
                threading.Thread(target=publish_once_made_again, daemon=True).start()

        esc.every(0.02, look, keeps_alive=False)
        settled: list[float] = []

        def done() -> bool:
            if len(collector.data) < 130:
                return False
            settled.append(time.monotonic())
            return settled[-1] - settled[0] > 1.0

        with caplog.at_level(logging.WARNING, logger="deadbeat.stream"):
            run(esc, done, timeout=30)
        assert collector.data == [f"old {i}" for i in range(100)] + [f"new {i}" for i in range(30)]
        assert "the stream was deleted and made again" in caplog.text


class OneBatch(movement.Supply):
    """Sends batches of lines, with event ids, at the first turn of the loop; notes which were acknowledged."""

    def __init__(self, esc: movement.Escapement, *batches: list[str]) -> None:
        self.esc = esc
        self.acknowledged: list[int] = []
        for number, lines in enumerate(batches):
            ids = [f"in:{number}:{i}" for i in range(len(lines))]
            batch = movement.Batch(lines, batch_id=("one", number), event_ids=lambda ids=ids: ids)
            esc.enqueue(lambda batch=batch: esc.send_from(self, batch))

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        if isinstance(batch_id, tuple) and batch_id[0] == "one":
            self.acknowledged.append(batch_id[1])


class TestTooBigForTheStream:
    def test_a_message_over_the_streams_max_msg_size_goes_to_the_error_output_alone(self, name: str) -> None:
        """max_msg_size 100, a datum of 300 bytes between two short ones: JetStream's "message size exceeds
        maximum allowed" was taken for a full stream; the output held all three and retried until retry_for
        ran out, failing the run. Now that datum goes to the error output, naming its size and the limit."""
        make_stream(name, max_msg_size=100)
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []
        train = movement.Train(esc, error_output=records.append)
        supply = OneBatch(esc, ["short1", "x" * 300, "short2"])
        drain = stream.NATSStreamDrain(train, f"{name}.out", stream=name, retry_for=3)
        train.cogs = [supply, drain]
        run(esc, lambda: bool(supply.acknowledged) or bool(esc.failures), timeout=30)
        assert supply.acknowledged == [0] and not esc.failures
        (record,) = records
        assert record.event_id == "in:0:1" and record.datum == "x" * 300
        error = str(record.error)
        assert "300 of payload" in error and "at most 100 bytes" in error and "max_msg_size" in error, error
        assert "full" not in error
        assert drain.counts["written"] == 2 and drain.counts.get("refused") == 1
        assert drain.metrics()["pending"] == 0 and drain.counts["retries"] == 0
        assert stored(name) == [b"short1", b"short2"]

    def test_refused_is_full_only_for_a_full_stream(self) -> None:
        """The broker's own words for each: a message too big names a maximum too."""
        from deadbeat.stream._nats_drain import Refused

        too_big = Refused({"code": 400, "err_code": 10054, "description": "message size exceeds maximum allowed"})
        full = Refused({"code": 503, "err_code": 10077, "description": "maximum messages exceeded"})
        assert too_big.too_big and not too_big.full
        assert full.full and not full.too_big


class TestPartlyWritten:
    def test_what_was_written_counts_as_written_and_the_rest_stays_held(
        self, name: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A stream that takes 2 messages (discard new): of one write of 3 data (two batches), 2 are stored and
        the third is refused as the stream is full, until retry_for runs out. The output said "3 data not
        written", counted 0 written, and held all three in the train."""
        make_stream(name, max_msgs=2, discard=DiscardPolicy.NEW)
        esc = movement.Escapement()
        train = movement.Train(esc)
        supply = OneBatch(esc, ["a", "b"], ["c"])
        drain = stream.NATSStreamDrain(train, f"{name}.out", stream=name, retry_for=2)
        train.cogs = [supply, drain]
        with caplog.at_level(logging.ERROR):
            run(esc, lambda: bool(esc.failures), timeout=30)
        assert stored(name) == [b"a", b"b"]
        assert drain.counts["written"] == 2
        assert drain.metrics()["pending"] == 1
        # Only the datum not written is still held: the first batch, all of it stored, no longer waits for
        # the second (nothing is acknowledged while the output is blocked, nor after it gave up).
        assert train.in_flight == 1
        assert any("1 data not written" in str(failure) for failure in esc.failures), esc.failures


def die_holding(name: str, count: int, ack_wait: float) -> int:
    """A worker of the durable consumer takes ``count`` messages and dies: none acknowledged."""

    async def go(js: Any) -> int:
        try:
            await js.consumer_info(name, "deadbeat")
        except nats.js.errors.NotFoundError:
            config = ConsumerConfig(
                durable_name="deadbeat",
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=ack_wait,
                max_deliver=-1,
                max_ack_pending=-1,
            )
            await js.add_consumer(name, config=config)
        if not count:
            return 0
        sub = await js.pull_subscribe_bind(durable="deadbeat", stream=name)
        return len(await sub.fetch(count, timeout=2))

    return jetstream(go)


class Hook(movement.Cog):
    """Calls ``first`` once, at the first datum (in the loop, which waits for it), and passes the data on."""

    one_to_one = True

    def __init__(self, first: Callable[[], None]) -> None:
        self.first: Callable[[], None] | None = first

    def __call__(self, datum: Any) -> tuple[Any, ...]:
        if self.first is not None:
            first, self.first = self.first, None
            first()
        return (datum,)


class TestOnceAfterACrash:
    def test_once_waits_for_the_messages_a_dead_run_held(self, name: str) -> None:
        """A run died holding 20 of 30 messages; --once right after took the 10 others, said "nothing more to
        read" and ended, the 20 still unacknowledged (JetStream gives them again only after ack_wait)."""
        make_stream(name)
        publish(name, [f"line {i}".encode() for i in range(30)])
        assert die_holding(name, 20, ack_wait=2.0) == 20
        esc = movement.Escapement()
        esc.once = True
        _, collector = reader(esc, name, wait=0.2, ack_wait=2.0)
        started = time.monotonic()
        run(esc, lambda: False, timeout=30)
        assert sorted(collector.data, key=lambda line: int(line.split()[1])) == [f"line {i}" for i in range(30)]
        assert time.monotonic() - started < 20  # ended by itself, within ack_wait and a margin

        async def pending(js: Any) -> int:
            return int((await js.consumer_info(name, "deadbeat")).num_ack_pending)

        assert jetstream(pending) == 0

    def test_once_waits_for_messages_taken_by_a_run_that_died_after_it_started(self, name: str) -> None:
        """The consumer had nothing unacknowledged at the start; another run took 5 messages meanwhile and
        died: --once, finding nothing more, ended without them; now it waits for them."""
        make_stream(name)
        publish(name, [f"line {i}".encode() for i in range(30)])
        die_holding(name, 0, ack_wait=2.0)  # the consumer, nothing taken

        def another_run_dies() -> None:
            worker = threading.Thread(target=die_holding, args=(name, 5, 2.0))
            worker.start()
            worker.join()

        esc = movement.Escapement()
        esc.once = True
        # max_pending 10: nothing is asked ahead while the first 10 are in the train.
        _, collector = reader(esc, name, Hook(another_run_dies), wait=0.2, ack_wait=2.0, batch_size=10, max_pending=10)
        run(esc, lambda: False, timeout=30)
        assert sorted(collector.data, key=lambda line: int(line.split()[1])) == [f"line {i}" for i in range(30)]
