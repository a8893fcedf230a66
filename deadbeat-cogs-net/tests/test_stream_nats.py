"""stream.nats and stream.nats_write against real NATS servers with JetStream on loopback.

The machine's NATS (127.0.0.1:4222) carries the ordinary tests, each on a
stream of its own, deleted afterwards. The restart test starts a nats-server of
its own on a free port, with its JetStream store in the test's directory.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DiscardPolicy, RetentionPolicy, StreamConfig

from deadbeat import metrics, movement, stream
from deadbeat.testing import CogConformance, Collector

NATS_SERVER = "/usr/sbin/nats-server"
SHARED = "nats://127.0.0.1:4222"
CONFORMANCE = [f"DBCONF{uuid.uuid4().hex[:10]}" for _ in range(2)]
T = TypeVar("T")


def unique(label: str) -> str:
    return f"DBTEST{label}{uuid.uuid4().hex[:10]}"


def jetstream(call: Callable[[Any], Awaitable[T]], server: str = SHARED) -> T:
    """Run one JetStream call on a connection of its own (the tests' side of the broker)."""

    async def go() -> T:
        nc = await nats.connect(server)
        try:
            return await call(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(go())


def delete_stream(name: str, server: str = SHARED) -> None:
    async def delete(js: Any) -> None:
        try:
            await js.delete_stream(name)
        except nats.js.errors.NotFoundError:
            pass

    jetstream(delete, server)


@pytest.fixture(scope="module", autouse=True)
def clean_conformance_streams() -> Iterator[None]:
    jetstream(lambda js: js.add_stream(name=CONFORMANCE[0], subjects=[f"{CONFORMANCE[0]}.>"]))
    yield
    for name in CONFORMANCE:
        delete_stream(name)


@pytest.fixture
def name() -> Iterator[str]:
    """A stream of the test's own on the shared server, capturing NAME.>, deleted afterwards."""
    made = unique("S")
    jetstream(lambda js: js.add_stream(name=made, subjects=[f"{made}.>"]))
    yield made
    delete_stream(made)


def publish(name: str, payloads: list[bytes], server: str = SHARED) -> None:
    async def go(js: Any) -> None:
        for payload in payloads:
            await js.publish(f"{name}.in", payload)

    jetstream(go, server)


def run(esc: movement.Escapement, until: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout

    def look() -> None:
        if until() or time.monotonic() > deadline:
            esc.shutdown()

    esc.every(0.02, look, keeps_alive=False)
    try:
        esc.run()
    finally:
        esc.close()


def consumer_pending(name: str, server: str = SHARED) -> int:
    async def info(js: Any) -> int:
        found = await js.consumer_info(name, "deadbeat")
        return int(found.num_ack_pending + found.num_pending)

    return jetstream(info, server)


class Feeder(movement.Supply):
    """Sends ``count`` lines from a timer in batches, noting which batches were acknowledged."""

    def __init__(self, esc: movement.Escapement, count: int, per_tick: int = 200) -> None:
        self.esc = esc
        self.count = count
        self.per_tick = per_tick
        self.sent = 0
        self.acknowledged = 0
        self._timer = esc.every(0.005, self.tick)

    def tick(self) -> None:
        if self.esc.is_paused(self) or self.sent >= self.count:
            return
        lines = [f"line {i}" for i in range(self.sent, min(self.count, self.sent + self.per_tick))]
        self.sent += len(lines)
        self.esc.send_from(self, movement.Batch(lines, batch_id=("feeder", id(self), self.sent)))

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        if isinstance(batch_id, tuple) and batch_id[:2] == ("feeder", id(self)):
            self.acknowledged += 1

    def finish(self) -> None:
        self.esc.dequeue(self._timer)


def reader(esc: movement.Escapement, name: str, **params: Any) -> tuple[movement.Train, Any, Collector]:
    train = movement.Train(esc, error_output=params.pop("error_output", None))
    supply = stream.NATSStreamSupply(train, name, **params)
    collector = Collector()
    train.cogs = [supply, collector]
    return train, supply, collector


def by_number(lines: list[str]) -> list[str]:
    return sorted(lines, key=lambda line: int(line.split()[1]))


class TestNATSSupplyConformance(CogConformance):
    cog_name = "stream.nats"
    params = {"stream": CONFORMANCE[0], "wait": 0.1}


class TestNATSDrainConformance(CogConformance):
    cog_name = "stream.nats_write"
    params = {"subject": f"{CONFORMANCE[1]}.out", "stream": CONFORMANCE[1]}
    samples = ["one", "two"]
    flushes_all = True


class TestReading:
    def test_each_message_is_a_datum_whose_event_id_is_the_stream_sequence(self, name: str) -> None:
        """Payloads become text data; event_done names STREAM:SEQUENCE; all are acknowledged."""
        publish(name, [f"line {i}".encode() for i in range(5)])
        esc = movement.Escapement()
        esc.once = True
        done: list[Any] = []

        class Listener(movement.Cog):
            def event_done(self, event_id: Any) -> None:
                done.append(event_id)

        train = movement.Train(esc)
        supply = stream.NATSStreamSupply(train, name)
        collector = Collector()
        train.cogs = [supply, Listener(), collector]
        run(esc, lambda: False)
        assert collector.data == [f"line {i}" for i in range(5)]
        assert done == [f"{name}:{i}" for i in range(1, 6)]
        assert consumer_pending(name) == 0
        assert supply.counts["acknowledged"] == 5

    def test_an_undecodable_payload_goes_to_the_error_output_and_is_acknowledged(self, name: str) -> None:
        """A payload that is not UTF-8 reaches the error output with its event id; the others go on."""
        publish(name, [b"fine", b"\xff\xfe", b"also fine"])
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        esc.once = True
        _, supply, collector = reader(esc, name, error_output=records.append)
        run(esc, lambda: False)
        assert collector.data == ["fine", "also fine"]
        assert [r.event_id for r in records] == [f"{name}:2"]
        assert "cannot decode" in str(records[0].error)
        assert consumer_pending(name) == 0
        assert supply.counts["invalid"] == 1

    def test_a_message_delivered_too_often_goes_to_the_dead_letter_output(self, name: str) -> None:
        """After max_deliveries deliveries without acknowledgement, the next one goes to the error output."""
        publish(name, [b"poison"])
        esc = movement.Escapement()
        esc.once = True
        _, _, first = reader(esc, name, ack_wait=0.5, max_deliveries=2)
        run(esc, lambda: False)  # makes the consumer (and handles the first message)
        assert first.data == ["poison"]
        publish(name, [b"poison again"])

        async def take_twice_without_acknowledging(js: Any) -> None:
            sub = await js.pull_subscribe_bind(durable="deadbeat", stream=name)
            for _ in range(2):
                await sub.fetch(1, timeout=5)  # a worker that dies holding it
                await asyncio.sleep(0.6)

        jetstream(take_twice_without_acknowledging)
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        _, supply, collector = reader(esc, name, ack_wait=0.5, max_deliveries=2, error_output=records.append, wait=0.2)
        run(esc, lambda: bool(records))
        assert collector.data == []
        assert [r.event_id for r in records] == [f"{name}:2"]
        assert "delivered 2 times and never acknowledged" in str(records[0].error)
        assert supply.counts["dead-lettered"] == 1
        assert consumer_pending(name) == 0

    def test_a_dead_workers_messages_come_again_after_ack_wait(self, name: str) -> None:
        """Messages fetched by a worker that died without acknowledging are delivered to the living after ack_wait."""
        publish(name, [f"line {i}".encode() for i in range(20)])

        async def die_holding(js: Any) -> int:
            config = ConsumerConfig(
                durable_name="deadbeat", ack_policy=AckPolicy.EXPLICIT, ack_wait=0.5, max_deliver=6, max_ack_pending=-1
            )
            await js.add_consumer(name, config=config)
            sub = await js.pull_subscribe_bind(durable="deadbeat", stream=name)
            return len(await sub.fetch(20, timeout=2))

        assert jetstream(die_holding) == 20
        esc = movement.Escapement()
        _, supply, collector = reader(esc, name, ack_wait=0.5, wait=0.2)
        run(esc, lambda: len(collector.data) == 20)
        assert by_number(collector.data) == [f"line {i}" for i in range(20)]
        assert consumer_pending(name) == 0

    def test_messages_published_to_a_waiting_worker_go_on_before_its_pull_expires(self, name: str) -> None:
        """An idle worker's pull waits 30 s; messages published meanwhile are handed on as they come, not at expiry."""
        esc = movement.Escapement()
        _, supply, collector = reader(esc, name, wait=30)
        sent: list[float] = []

        def publish_when_waiting() -> None:
            time.sleep(1.0)  # the worker has found nothing and waits in its pull
            sent.append(time.monotonic())
            publish(name, [f"line {i}".encode() for i in range(5)])

        later = threading.Thread(target=publish_when_waiting)
        later.start()
        run(esc, lambda: len(collector.data) == 5, timeout=20)  # shorter than the pull's 30 s
        later.join()
        assert collector.data == [f"line {i}" for i in range(5)]
        assert consumer_pending(name) == 0

    def test_what_a_worker_asks_for_ahead_stays_within_max_pending(self, name: str) -> None:
        """Messages in the train, delivered to the worker and asked for ahead never exceed max_pending at JetStream."""
        publish(name, [f"line {i}".encode() for i in range(500)])
        esc = movement.Escapement()
        train = movement.Train(esc)
        supply = stream.NATSStreamSupply(train, name, batch_size=30, max_pending=100, wait=0.2)
        gate, collector = Gate(train), Collector()
        train.cogs = [supply, gate, collector]
        delivered: list[int] = []

        def ask_jetstream() -> None:
            time.sleep(0.5)  # time for requests sent ahead to be answered

            async def info(js: Any) -> int:
                return int((await js.consumer_info(name, "deadbeat")).num_ack_pending)

            delivered.append(jetstream(info))

        asking = threading.Thread(target=ask_jetstream)

        def until() -> bool:
            if asking.ident is None and supply.metrics()["pending"] >= 90:
                asking.start()
            if delivered and not gate.opened:
                esc.after(0, gate.open)
            return gate.opened and len(collector.data) == 500

        run(esc, until)
        asking.join()
        assert 90 <= delivered[0] <= 100
        assert by_number(collector.data) == [f"line {i}" for i in range(500)]
        assert consumer_pending(name) == 0

    def test_a_consumer_deleted_under_a_running_worker_is_made_again(
        self, name: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """JetStream ends the waiting pull (409 Consumer Deleted): the worker connects again and makes the consumer."""
        publish(name, [f"line {i}".encode() for i in range(10)])
        esc = movement.Escapement()
        _, supply, collector = reader(esc, name, wait=0.3)
        deleted: list[bool] = []

        def delete_then_publish() -> None:
            jetstream(lambda js: js.delete_consumer(name, "deadbeat"))
            publish(name, [f"line {i}".encode() for i in range(10, 20)])
            deleted.append(True)

        deleting = threading.Thread(target=delete_then_publish)

        def until() -> bool:
            if supply.counts["acknowledged"] == 10 and deleting.ident is None:
                deleting.start()
            return bool(deleted) and {f"line {i}" for i in range(20)} <= set(collector.data)

        with caplog.at_level(logging.WARNING, logger="deadbeat.stream"):
            run(esc, until)
        deleting.join()
        # Made again from the beginning of the stream: the first ten come twice (at least once).
        assert {f"line {i}" for i in range(20)} <= set(collector.data)
        assert "JetStream ended a pull request: 409 Consumer Deleted" in caplog.text
        assert "broker reached again" in caplog.text
        assert consumer_pending(name) == 0


class TestExistingConsumer:
    def consumer(self, name: str) -> Any:
        async def info(js: Any) -> Any:
            return (await js.consumer_info(name, "deadbeat")).config

        return jetstream(info)

    def read_once(self, name: str, **params: Any) -> None:
        esc = movement.Escapement()
        esc.once = True
        reader(esc, name, **params)
        run(esc, lambda: False)

    def test_a_changed_ack_wait_is_applied_and_said(self, name: str, caplog: pytest.LogCaptureFixture) -> None:
        """The consumer was made with ack_wait 60; the pipeline now says 5: the consumer is changed, the log says so."""
        self.read_once(name)
        assert self.consumer(name).ack_wait == 60
        with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
            self.read_once(name, ack_wait=5)
        assert self.consumer(name).ack_wait == 5
        assert "changed the existing consumer: ack_wait from 60.0 to 5" in caplog.text

    def test_a_consumer_made_with_limited_deliveries_delivers_without_limit(self, name: str) -> None:
        """A consumer made by an earlier version (max_deliver = max_deliveries + 1): JetStream would drop the poison."""

        async def make(js: Any) -> None:
            config = ConsumerConfig(durable_name="deadbeat", ack_policy=AckPolicy.EXPLICIT, ack_wait=60, max_deliver=6)
            await js.add_consumer(name, config=config)

        jetstream(make)
        self.read_once(name)
        assert self.consumer(name).max_deliver == -1

    def test_another_start_is_said_naming_both(self, name: str, caplog: pytest.LogCaptureFixture) -> None:
        """start = "end" for a consumer that began at the beginning: said, with both, and how to begin again."""
        self.read_once(name)
        with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
            self.read_once(name, start="end")
        assert "start is 'end', but the consumer exists and began at the beginning" in caplog.text

    def test_another_subject_is_applied_or_said_naming_both(self, name: str, caplog: pytest.LogCaptureFixture) -> None:
        """The filter subject changed: applied or, where JetStream refuses, a warning naming both."""
        self.read_once(name, subject=f"{name}.a")
        with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
            self.read_once(name, subject=f"{name}.b")
        if self.consumer(name).filter_subject == f"{name}.b":
            assert f"subject from '{name}.a' to '{name}.b'" in caplog.text
        else:
            assert "JetStream refused to change them" in caplog.text
            assert f"subject from '{name}.a' to '{name}.b' wanted" in caplog.text


class TestWriting:
    def test_a_batch_is_acknowledged_only_after_jetstream_confirmed_it(self, name: str) -> None:
        """Every line is stored once, and the feeder's batches are acknowledged."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        feeder = Feeder(esc, 3000)
        drain = stream.NATSStreamDrain(train, f"{name}.out")
        train.cogs = [feeder, drain]
        run(esc, lambda: feeder.acknowledged == 15)
        assert feeder.acknowledged == 15
        esc = movement.Escapement()
        esc.once = True
        _, _, collector = reader(esc, name)
        run(esc, lambda: False)
        assert collector.data == [f"line {i}" for i in range(3000)]

    def test_a_datum_that_cannot_be_published_goes_to_the_error_output_alone(self, name: str) -> None:
        """A mapping without value_getter fails alone; the rest is published."""
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        train = movement.Train(esc, error_output=records.append)
        drain = stream.NATSStreamDrain(train, f"{name}.out")
        train.cogs = [drain]
        esc.enqueue(lambda: train.send(None, ["a", {"x": 1}, b"c"]))
        run(esc, lambda: drain.counts["written"] == 2)
        assert len(records) == 1 and "give value_getter" in str(records[0].error)

    def test_a_message_bigger_than_the_servers_max_payload_goes_to_the_error_output_alone(self, name: str) -> None:
        """2 MB against NATS's 1 MB limit: that datum to the error output (before and after the first connection)."""
        big = "x" * 2_000_000
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        train = movement.Train(esc, error_output=records.append)
        feeder = Feeder(esc, 0)
        drain = stream.NATSStreamDrain(train, f"{name}.out")
        train.cogs = [feeder, drain]
        esc.enqueue(lambda: esc.send_from(feeder, movement.Batch(["a", big, "c"], batch_id=("feeder", id(feeder), 1))))

        def until() -> bool:
            if drain.counts["written"] == 2 and feeder.acknowledged == 1:
                feeder.acknowledged += 1  # once
                batch = movement.Batch(["d", big, "e"], batch_id=("feeder", id(feeder), 2))
                esc.after(0, lambda: esc.send_from(feeder, batch))
            return feeder.acknowledged == 3

        run(esc, until)
        assert feeder.acknowledged == 3 and not esc.failures
        assert drain.counts["written"] == 4
        assert len(records) == 2 and all(record.datum == big for record in records)
        assert all("max_payload" in str(record.error) for record in records), [str(r.error) for r in records]
        esc = movement.Escapement()
        esc.once = True
        _, _, collector = reader(esc, name)
        run(esc, lambda: False)
        assert collector.data == ["a", "c", "d", "e"]

    def test_a_full_stream_with_discard_new_waits_and_loses_nothing(self, caplog: pytest.LogCaptureFixture) -> None:
        """A work-queue stream limited to 100 messages refuses more; the output waits for the readers."""
        made = unique("FULL")
        config = StreamConfig(
            name=made,
            subjects=[f"{made}.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            max_msgs=100,
            discard=DiscardPolicy.NEW,
        )
        jetstream(lambda js: js.add_stream(config=config))
        try:
            esc = movement.Escapement()
            train = movement.Train(esc, name="writer")
            feeder = Feeder(esc, 1000, per_tick=50)
            train.cogs = [feeder, stream.NATSStreamDrain(train, f"{made}.out", batch_size=50)]
            readers: list[Collector] = []
            esc.after(1.0, lambda: readers.append(reader(esc, made, wait=0.2)[2]))
            with caplog.at_level(logging.WARNING, logger="deadbeat.stream"):
                run(esc, lambda: bool(readers) and len(set(readers[0].data)) == 1000, timeout=60)
            assert set(readers[0].data) == {f"line {i}" for i in range(1000)}
            assert "the stream is full" in caplog.text
            assert "writing again after" in caplog.text
        finally:
            delete_stream(made)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NATSServer:
    """A nats-server with JetStream of the test's own, storing in ``directory`` (kept across restarts)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)

    def restart(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=20)
        self.start()


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NATSServer]:
    server = NATSServer(tmp_path)
    yield server
    if server.process is not None and server.process.poll() is None:
        server.process.kill()
        server.process.wait()


class TestBrokerFaults:
    def test_a_broker_restart_while_data_flow_loses_nothing(
        self, own_nats: NATSServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Writer and reader keep going across a NATS restart: every line arrives, the log says so."""
        made = unique("RESTART")
        count = 10_000
        jetstream(lambda js: js.add_stream(name=made, subjects=[f"{made}.>"]), own_nats.url)
        esc = movement.Escapement()
        writer = movement.Train(esc, name="writer")
        feeder = Feeder(esc, count)
        writer.cogs = [feeder, stream.NATSStreamDrain(writer, f"{made}.out", servers=[own_nats.url])]
        _, _, collector = reader(esc, made, servers=[own_nats.url], wait=0.5, ack_wait=5)
        restarted = threading.Event()

        def restart_when_flowing() -> None:
            while len(collector.data) < count // 4:
                time.sleep(0.01)
            own_nats.restart()
            restarted.set()

        threading.Thread(target=restart_when_flowing, daemon=True).start()
        with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
            run(esc, lambda: restarted.is_set() and len(set(collector.data)) == count, timeout=90)
        assert restarted.is_set()
        assert set(collector.data) == {f"line {i}" for i in range(count)}
        assert "lost the connection; reconnecting" in caplog.text
        assert consumer_pending(made, own_nats.url) == 0


class TestNATSDownAtStart:
    def test_a_reader_says_the_broker_is_out_of_reach(self, caplog: pytest.LogCaptureFixture) -> None:
        """Nothing listens where the supply connects: the log says so at once (nats-py tried for ever, silently)."""
        esc = movement.Escapement()
        _, supply, _ = reader(esc, "fix-down", servers=[f"nats://127.0.0.1:{free_port()}"], wait=0.2)
        with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
            run(esc, lambda: "broker out of reach" in caplog.text, timeout=15)
        assert "broker out of reach (NoServersError" in caplog.text
        assert supply.metrics()["ready"] == 0

    def test_a_writer_says_so_and_fails_the_run_with_data_held(self, caplog: pytest.LogCaptureFixture) -> None:
        """The output cannot connect: "cannot write", and at shutdown its data are not written, the run failed."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        feeder = Feeder(esc, 10, per_tick=10)
        drain = stream.NATSStreamDrain(
            train, "fix-down.out", servers=[f"nats://127.0.0.1:{free_port()}"], finish_timeout=0.5
        )
        train.cogs = [feeder, drain]
        with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
            run(esc, lambda: "cannot write" in caplog.text, timeout=15)
        assert "cannot write (NoServersError" in caplog.text
        assert feeder.acknowledged == 0
        assert any("not written" in failure for failure in esc.failures), esc.failures


class Gate(movement.Cog):
    """Holds every datum (reported to the train) until opened: the supply's messages stay unacknowledged."""

    def __init__(self, train: movement.Train) -> None:
        self.train = train
        self.held: list[Any] = []
        self.opened = False

    def __call__(self, datum: Any) -> tuple[Any, ...] | None:
        if self.opened:
            return (datum,)
        self.held.append(datum)
        self.train.hold()
        return None

    def open(self) -> list[Any]:
        self.opened = True
        held, self.held = self.held, []
        self.train.release(len(held))
        return held


class TestFigures:
    """What stream.nats reports to /metrics and --stats, read as a scrape reads it."""

    def test_messages_read_pending_and_the_lag_behind_the_stream(
        self, name: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Held at max_pending: the lag comes with the messages; more published while paused: a scrape learns it."""
        from deadbeat.stream import _supply

        monkeypatch.setattr(_supply, "_LAG_EVERY", 0.05)  # a scrape may ask JetStream every 50 ms, not every 5 s
        publish(name, [f"line {i}".encode() for i in range(500)])
        esc = movement.Escapement()
        train = movement.Train(esc)
        supply = stream.NATSStreamSupply(train, name, batch_size=50, max_pending=100, wait=0.2)
        gate, collector = Gate(train), Collector()
        train.cogs = [supply, gate, collector]
        seen: dict[str, Any] = {}
        more = threading.Thread(target=publish, args=(name, [f"line {i}".encode() for i in range(500, 550)]))

        def until() -> bool:
            figures = supply.metrics()  # as a scrape would, every 20 ms
            if "held" not in seen and figures["pending"] == 100:
                seen["held"] = figures  # the lag as the last message fetched told it
                more.start()
            elif "held" in seen and "more" not in seen and figures.get("lag_messages") == 450:
                seen["more"] = figures  # the lag as JetStream told a scrape (the supply fetches nothing)
                (cog,) = [c for c in metrics.snapshot([train]).trains[0].cogs if c.position == 0]
                seen["counters"], seen["gauges"] = cog.counters, cog.gauges
                esc.after(0, gate.open)
            return "more" in seen and len(collector.data) == 550 and figures.get("lag_messages") == 0

        run(esc, until)
        more.join()
        after = supply.metrics()
        assert seen["held"]["lag_messages"] == 400 and seen["held"]["messages_read_total"] == 100
        assert seen["held"]["ready"] == 1
        assert seen["more"]["messages_read_total"] == 100 and seen["more"]["pending"] == 100
        assert seen["counters"]["messages_read_total"] == 100 and seen["gauges"]["lag_messages"] == 450
        assert after["messages_read_total"] == 550 and after["lag_messages"] == 0 and after["pending"] == 0
        assert after["redelivered_total"] == 0
        assert consumer_pending(name) == 0

    def test_messages_a_dead_worker_held_count_as_redelivered(self, name: str) -> None:
        """A worker died holding 20 messages: JetStream delivers them again after ack_wait, counted as such."""
        publish(name, [f"line {i}".encode() for i in range(20)])

        async def die_holding(js: Any) -> int:
            config = ConsumerConfig(
                durable_name="deadbeat", ack_policy=AckPolicy.EXPLICIT, ack_wait=0.5, max_deliver=6, max_ack_pending=-1
            )
            await js.add_consumer(name, config=config)
            sub = await js.pull_subscribe_bind(durable="deadbeat", stream=name)
            return len(await sub.fetch(20, timeout=2))

        assert jetstream(die_holding) == 20
        esc = movement.Escapement()
        _, supply, collector = reader(esc, name, ack_wait=0.5, wait=0.2)
        run(esc, lambda: len(collector.data) == 20)
        after = supply.metrics()
        assert after["messages_read_total"] == 20 and after["redelivered_total"] == 20
        assert after["pending"] == 0 and after["lag_messages"] == 0


class Refuse(movement.Cog):
    """Raises on the data ``refused`` says no to: they fail in the train, after the supply."""

    def __init__(self, refused: Callable[[Any], bool]) -> None:
        self.refused = refused

    def __call__(self, datum: Any) -> tuple[Any, ...]:
        if self.refused(datum):
            raise ValueError("refused further down the train")
        return (datum,)


class DoneIds(movement.Cog):
    """Notes the event id of every event_done."""

    def __init__(self) -> None:
        self.done: list[Any] = []

    def event_done(self, event_id: Any) -> None:
        self.done.append(event_id)


class TestIdSetter:
    """id_setter, as the manual asks of supplies: a setter given STREAM:SEQUENCE, or the manual's own-id function."""

    def test_a_setter_gets_the_stream_sequence_and_the_train_still_knows_it(self, name: str) -> None:
        """A setter f(datum, id) (the payload made a mapping) gets STREAM:SEQUENCE; event_done names it too."""
        publish(name, [f"line {i}".encode() for i in range(3)])

        def with_id(payload: str, event_id: str) -> dict[str, str]:
            return {"line": payload, "eid": event_id}

        esc = movement.Escapement()
        esc.once = True
        train = movement.Train(esc)
        supply = stream.NATSStreamSupply(train, name, id_setter=with_id)
        listener, collector = DoneIds(), Collector()
        train.cogs = [supply, listener, collector]
        run(esc, lambda: False)
        expected = [f"{name}:{i}" for i in range(1, 4)]
        assert collector.data == [{"line": f"line {n}", "eid": eid} for n, eid in enumerate(expected)]
        assert listener.done == expected
        assert consumer_pending(name) == 0
        assert supply.counts == {"received": 3, "acknowledged": 3, "dead-lettered": 0, "invalid": 0}

    def test_the_manuals_function_sets_an_id_of_its_own(self, name: str) -> None:
        """make_id(datum, field="uid"): the manual's form, called with the datum alone; the train reads the uid."""
        publish(name, [f"line {i}".encode() for i in range(3)])
        made: list[str] = []

        def make_id(payload: str, field: str = "uid") -> dict[str, str]:
            made.append(uuid.uuid4().hex)
            return {"line": payload, field: made[-1]}

        esc = movement.Escapement()
        esc.once = True
        train = movement.Train(esc, id_getter="uid")
        supply = stream.NATSStreamSupply(train, name, id_setter=make_id)
        listener, collector = DoneIds(), Collector()
        train.cogs = [supply, listener, collector]
        run(esc, lambda: False)
        assert collector.data == [{"line": f"line {n}", "uid": uid} for n, uid in enumerate(made)]
        assert len(set(made)) == 3 and listener.done == made
        assert consumer_pending(name) == 0

    def test_a_failing_setter_costs_its_message_alone_acknowledged_as_any_failed_message(self, name: str) -> None:
        """The datum goes to the error output naming STREAM:SEQUENCE, then is acknowledged, as one failing later."""
        publish(name, [b"fine", b"no id", b"fails later"])

        def picky(payload: str, event_id: str) -> dict[str, str]:
            if payload == "no id":
                raise ValueError("no id for you")
            return {"line": payload, "eid": event_id}

        records: list[movement.ErrorRecord] = []
        pending_then: list[int] = []

        def error_output(record: movement.ErrorRecord) -> None:
            records.append(record)
            # Asked from a thread of its own: the loop's thread has its own asyncio loop running.
            asking = threading.Thread(target=lambda: pending_then.append(consumer_pending(name)))
            asking.start()
            asking.join()

        esc = movement.Escapement()
        esc.once = True
        train = movement.Train(esc, error_output=error_output)
        supply = stream.NATSStreamSupply(train, name, id_setter=picky)
        collector = Collector()
        train.cogs = [supply, Refuse(lambda d: d["line"] == "fails later"), collector]
        run(esc, lambda: False)
        assert collector.data == [{"line": "fine", "eid": f"{name}:1"}]
        assert [r.event_id for r in records] == [f"{name}:2", f"{name}:3"]
        assert isinstance(records[0].error, ValueError) and "no id for you" in str(records[0].error)
        assert records[0].datum == {"id": f"{name}:2", "message": "no id"}
        # Both reached the error output unacknowledged, and were acknowledged after, with the good one.
        assert pending_then == [3, 3]
        assert consumer_pending(name) == 0
        assert supply.counts == {"received": 3, "acknowledged": 3, "dead-lettered": 0, "invalid": 1}

    def test_a_field_path_is_refused_the_data_being_payloads(self) -> None:
        """Each datum is the payload, a text: a field path for the id is refused at construction."""
        esc = movement.Escapement()
        try:
            with pytest.raises(ValueError, match="not a mapping"):
                stream.NATSStreamSupply(movement.Train(esc), unique("NEVER"), id_setter="eid")
        finally:
            esc.close()


class TestConsumerDeleted:
    def test_a_consumer_deleted_while_reading_is_made_again_after_what_was_read(
        self, name: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The durable consumer deleted mid-run (an operator, a tidy-up job): it was made again from the stream's
        start, and every message already written was delivered and written again (450 of them in the run that
        found it), said only as "made the durable consumer". It is made again after the last message delivered
        to us, and said as a warning."""
        publish(name, [f"line {i}".encode() for i in range(100)])
        esc = movement.Escapement()
        _, _, collector = reader(esc, name, durable="deadbeat", wait=0.2)
        stage: list[str] = []

        def delete_then_publish() -> None:
            jetstream(lambda js: js.delete_consumer(name, "deadbeat"))
            publish(name, [f"line {i}".encode() for i in range(100, 200)])
            stage.append("published")

        def look() -> None:
            if len(collector.data) >= 100 and not stage:
                stage.append("deleting")
                threading.Thread(target=delete_then_publish, daemon=True).start()

        esc.every(0.02, look, keeps_alive=False)
        settled: list[float] = []

        def done() -> bool:
            if len(collector.data) < 200:
                return False
            settled.append(time.monotonic())
            return settled[-1] - settled[0] > 1.0  # and nothing more comes

        with caplog.at_level(logging.WARNING, logger="deadbeat.stream"):
            run(esc, done, timeout=60)
        assert by_number(collector.data) == [f"line {i}" for i in range(200)]
        assert "the durable consumer is gone (deleted while we read?); made again from stream sequence 101" in (
            caplog.text
        )
