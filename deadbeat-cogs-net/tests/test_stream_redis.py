"""stream.redis and stream.redis_write against real Redis servers on loopback.

The machine's Redis (127.0.0.1:6379) carries the ordinary tests, each on a
stream of its own, deleted afterwards. Tests that restart the broker or cut its
connections start a redis-server of their own on a free port.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from deadbeat import fs, metrics, movement, stream, text
from deadbeat.testing import CogConformance, Collector

REDIS_SERVER = "/usr/bin/redis-server"
SHARED = "redis://127.0.0.1:6379/0"
CONFORMANCE_STREAMS = [f"deadbeat-test-conformance-{uuid.uuid4().hex[:10]}" for _ in range(2)]


def unique(label: str) -> str:
    return f"deadbeat-test-{label}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module", autouse=True)
def clean_conformance_streams() -> Iterator[None]:
    yield
    redis.Redis().delete(*CONFORMANCE_STREAMS)


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    made = redis.Redis()
    yield made
    made.close()


@pytest.fixture
def key(client: redis.Redis) -> Iterator[str]:
    """A stream name of the test's own on the shared Redis, deleted afterwards."""
    name = unique("stream")
    yield name
    client.delete(name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A redis-server of the test's own, with its data on disk (it survives a restart)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                if probe.ping():
                    break
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        probe.close()

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    if server.process is not None and server.process.poll() is None:
        server.process.kill()
        server.process.wait()


def run(esc: movement.Escapement, until: Callable[[], bool], timeout: float = 30.0) -> None:
    """Run ``esc`` until ``until()`` holds (looked at every 20 ms) or ``timeout`` passes, then shut down in order."""
    deadline = time.monotonic() + timeout

    def look() -> None:
        if until() or time.monotonic() > deadline:
            esc.shutdown()

    esc.every(0.02, look, keeps_alive=False)
    try:
        esc.run()
    finally:
        esc.close()


class Feeder(movement.Supply):
    """Sends ``count`` lines ``line N`` in batches from a timer, as a tailer would; notes what was acknowledged."""

    def __init__(self, esc: movement.Escapement, count: int, per_tick: int = 200) -> None:
        self.esc = esc
        self.count = count
        self.per_tick = per_tick
        self.sent = 0
        self.acknowledged: list[Any] = []
        self._timer = esc.every(0.005, self.tick)

    def tick(self) -> None:
        if self.esc.is_paused(self) or self.sent >= self.count:
            return
        lines = [f"line {i}" for i in range(self.sent, min(self.count, self.sent + self.per_tick))]
        batch = movement.Batch(lines, batch_id=("feeder", id(self), self.sent))
        self.sent += len(lines)
        self.esc.send_from(self, batch)

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        if isinstance(batch_id, tuple) and batch_id[:2] == ("feeder", id(self)):
            self.acknowledged.append(batch_id)

    def finish(self) -> None:
        self.esc.dequeue(self._timer)


class Hold(movement.Cog):
    """Holds every datum for ``seconds`` (reported to the train), like an aggregating window."""

    def __init__(self, train: movement.Train, seconds: float) -> None:
        self.train = train
        self.seconds = seconds
        self.held: list[Any] = []
        self._timer: movement.Binding | None = None

    def __call__(self, datum: Any) -> None:
        self.held.append(datum)
        self.train.hold()
        if self._timer is None:
            self._timer = self.train.esc.after(self.seconds, self.let_go)
        return None

    def let_go(self) -> list[Any]:
        self._timer = None
        held, self.held = self.held, []
        self.train.release(len(held))
        return held

    def finish(self) -> list[Any]:
        if self._timer is not None:
            self.train.esc.dequeue(self._timer)
        return self.let_go()


def fill(client: redis.Redis, name: str, count: int, field: str = "data", start: int = 0) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(start, start + count):
        pipe.xadd(name, {field: f"line {i}"})
    pipe.execute()


def reader(esc: movement.Escapement, name: str, *cogs: Any, **params: Any) -> tuple[movement.Train, Any, Collector]:
    train = movement.Train(esc)
    supply = stream.RedisStreamSupply(train, name, **params)
    collector = Collector()
    train.cogs = [supply, *cogs, collector]
    return train, supply, collector


class TestRedisSupplyConformance(CogConformance):
    cog_name = "stream.redis"
    params = {"stream": CONFORMANCE_STREAMS[0], "block": 0.1}


class TestRedisDrainConformance(CogConformance):
    cog_name = "stream.redis_write"
    params = {"stream": CONFORMANCE_STREAMS[1]}
    samples = ["one", "two"]
    flushes_all = True


class TestReading:
    def test_each_message_is_a_datum_whose_event_id_is_the_message_id(self, client: redis.Redis, key: str) -> None:
        """The datum is the field's text; event_done names STREAM:MESSAGE-ID; everything is acknowledged at the end."""
        ids = [client.xadd(key, {"data": f"line {i}"}).decode() for i in range(5)]
        esc = movement.Escapement()
        esc.once = True
        done: list[Any] = []

        class Listener(movement.Cog):
            def event_done(self, event_id: Any) -> None:
                done.append(event_id)

        _, supply, collector = reader(esc, key, Listener())
        run(esc, lambda: False)
        assert collector.data == [f"line {i}" for i in range(5)]
        assert done == [f"{key}:{i}" for i in ids]
        assert client.xpending(key, "deadbeat")["pending"] == 0
        assert supply.counts["acknowledged"] == 5

    def test_field_false_gives_every_field_as_a_mapping(self, client: redis.Redis, key: str) -> None:
        """With field = false each datum is the message's whole field mapping, decoded."""
        client.xadd(key, {"host": "a", "n": "1"})
        esc = movement.Escapement()
        esc.once = True
        _, _, collector = reader(esc, key, field=None)
        run(esc, lambda: False)
        assert collector.data == [{"host": "a", "n": "1"}]

    def test_nothing_is_acknowledged_before_it_is_written(self, client: redis.Redis, key: str, tmp_path: Path) -> None:
        """While a later cog holds the data, and until fs.write wrote them, every message stays pending."""
        fill(client, key, 300)
        out = tmp_path / "out.txt"
        esc = movement.Escapement()
        train = movement.Train(esc)
        supply = stream.RedisStreamSupply(train, key, batch_size=50)
        hold = Hold(train, 1.0)
        train.cogs = [supply, hold, fs.LineFileDrain(esc, str(out))]
        seen: list[tuple[int, int]] = []

        def look() -> None:
            written = len(out.read_text().splitlines()) if out.exists() else 0
            seen.append((client.xpending(key, "deadbeat")["pending"], written))

        esc.after(0.5, look)
        run(esc, lambda: client.xpending(key, "deadbeat")["pending"] == 0 and bool(seen))
        # Half a second in, all 300 are delivered and held; nothing written, nothing acknowledged.
        assert seen[0] == (300, 0)
        assert out.read_text().splitlines() == [f"line {i}" for i in range(300)]
        assert supply.counts["acknowledged"] == 300

    def test_an_idle_read_longer_than_five_seconds_is_no_broker_out_of_reach(
        self, client: redis.Redis, caplog: pytest.LogCaptureFixture
    ) -> None:
        """block = 7: the blocking read waits its 7 s (redis-py 8's own 5 s read timeout cut it short, as an error)."""
        name = f"fix-idle-{uuid.uuid4().hex[:10]}"
        try:
            esc = movement.Escapement()
            _, supply, collector = reader(esc, name, block=7.0)
            started = time.monotonic()
            esc.after(8.0, lambda: client.xadd(name, {"data": "late"}))
            with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
                run(esc, lambda: collector.data == ["late"] and supply.metrics()["ready"] == 1, timeout=20)
            assert collector.data == ["late"]
            assert time.monotonic() - started >= 8.0
            # What the 5 s read timeout did: a TimeoutError, taken for the broker
            # out of reach. (In two full CI runs, right after the XADD, a call
            # after the read failed with "Connection closed by server" instead;
            # the supply reconnected and went on, nothing lost. Not reproduced
            # alone or with any one distribution's tests before it; not what
            # this test is about, so it waits for the supply to be ready again.)
            assert "TimeoutError" not in caplog.text and "Timeout reading" not in caplog.text, caplog.text
            assert supply.metrics()["ready"] == 1
        finally:
            client.delete(name)

    def test_fetches_no_more_than_max_pending(self, client: redis.Redis, key: str) -> None:
        """With a cog holding everything, the supply takes at most max_pending messages from the group."""
        fill(client, key, 500)
        esc = movement.Escapement()
        train = movement.Train(esc)
        supply = stream.RedisStreamSupply(train, key, batch_size=30, max_pending=100)
        hold = Hold(train, 0.8)
        collector = Collector()
        train.cogs = [supply, hold, collector]
        most = [0]

        def look() -> None:
            most[0] = max(most[0], client.xpending(key, "deadbeat")["pending"])

        esc.every(0.01, look, keeps_alive=False)
        run(esc, lambda: len(collector.data) == 500)
        assert sorted(collector.data, key=lambda line: int(line.split()[1])) == [f"line {i}" for i in range(500)]
        assert 0 < most[0] <= 100

    def test_a_restarted_consumer_takes_its_own_pending_messages_at_once(self, client: redis.Redis, key: str) -> None:
        """Messages delivered to our consumer name and never acknowledged come back at start, without claim_idle."""
        fill(client, key, 40)
        client.xgroup_create(key, "deadbeat", id="0")
        client.xreadgroup("deadbeat", "w0", {key: ">"}, count=25)  # the previous run died with these
        esc = movement.Escapement()
        esc.once = True
        _, _, collector = reader(esc, key, consumer="w0", claim_idle=600)
        run(esc, lambda: False)
        assert sorted(collector.data, key=lambda line: int(line.split()[1])) == [f"line {i}" for i in range(40)]
        assert client.xpending(key, "deadbeat")["pending"] == 0

    def test_messages_of_a_dead_consumer_are_claimed_after_claim_idle(
        self, client: redis.Redis, key: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Another consumer's messages idle for claim_idle are taken over, said in the log, and handled."""
        fill(client, key, 30)
        client.xgroup_create(key, "deadbeat", id="0")
        client.xreadgroup("deadbeat", "dead-one", {key: ">"}, count=30)
        esc = movement.Escapement()
        _, _, collector = reader(esc, key, consumer="alive", claim_idle=0.3, block=0.1)
        with caplog.at_level(logging.WARNING, logger="deadbeat.stream"):
            run(esc, lambda: len(collector.data) == 30)
        assert sorted(collector.data, key=lambda line: int(line.split()[1])) == [f"line {i}" for i in range(30)]
        assert "taking over messages left unacknowledged for more than 0.3 s by dead-one" in caplog.text
        assert client.xpending(key, "deadbeat")["pending"] == 0


class TestBadMessages:
    def test_a_message_without_the_field_or_undecodable_goes_to_the_error_output_and_is_acknowledged(
        self, client: redis.Redis, key: str
    ) -> None:
        """Bad messages reach the error output naming their event id; good ones go on; all are acknowledged."""
        good = client.xadd(key, {"data": "fine"}).decode()
        no_field = client.xadd(key, {"other": "x"}).decode()
        undecodable = client.xadd(key, {"data": b"\xff\xfe"}).decode()
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        esc.once = True
        train = movement.Train(esc, error_output=records.append)
        supply = stream.RedisStreamSupply(train, key)
        collector = Collector()
        train.cogs = [supply, collector]
        run(esc, lambda: False)
        assert collector.data == ["fine"]
        assert [r.event_id for r in records] == [f"{key}:{no_field}", f"{key}:{undecodable}"]
        assert "has no field 'data' (its fields: other)" in str(records[0].error)
        assert "cannot decode" in str(records[1].error)
        assert records[1].datum["message"] == {"data": "\\xff\\xfe"}
        assert client.xpending(key, "deadbeat")["pending"] == 0
        assert supply.counts == {"received": 3, "acknowledged": 3, "dead-lettered": 0, "invalid": 2}
        assert good

    def test_data_invalid_for_the_pipeline_reach_the_error_output_before_their_acknowledgement(
        self, client: redis.Redis, key: str, tmp_path: Path
    ) -> None:
        """A message json_parse refuses reaches [[errors]] (a file) with its event id, and only then is acknowledged."""
        client.xadd(key, {"data": '{"n": 1}'})
        bad = client.xadd(key, {"data": "not json"}).decode()
        errors = tmp_path / "errors.txt"
        esc = movement.Escapement()
        esc.once = True
        error_train = movement.Train(esc, name="errors")
        error_train.cogs = [text.JSONFormat(), fs.LineFileDrain(esc, str(errors))]
        train = movement.Train(esc, error_output=error_train)
        collector = Collector()
        train.cogs = [stream.RedisStreamSupply(train, key), text.JSONParse(), collector]
        run(esc, lambda: False)
        assert collector.data == [{"n": 1}]
        assert f'"event_id":"{key}:{bad}"' in errors.read_text().replace(" ", "")
        assert client.xpending(key, "deadbeat")["pending"] == 0

    def test_a_message_delivered_max_deliveries_times_goes_to_the_dead_letter_output(
        self, client: redis.Redis, key: str
    ) -> None:
        """A poison message (delivered max_deliveries times, never acknowledged) goes to the error output."""
        poison = client.xadd(key, {"data": "poison"}).decode()
        fill(client, key, 3)
        client.xgroup_create(key, "deadbeat", id="0")
        client.xreadgroup("deadbeat", "crashed", {key: ">"}, count=1)
        client.xclaim(key, "deadbeat", "crashed", 0, [poison], retrycount=3)  # as if it killed three workers
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        train = movement.Train(esc, error_output=records.append)
        supply = stream.RedisStreamSupply(train, key, claim_idle=0.2, block=0.1, max_deliveries=3)
        collector = Collector()
        train.cogs = [supply, collector]
        run(esc, lambda: bool(records) and len(collector.data) == 3)
        assert collector.data == ["line 0", "line 1", "line 2"]
        assert [r.event_id for r in records] == [f"{key}:{poison}"]
        assert "delivered 3 times and never acknowledged" in str(records[0].error)
        assert records[0].datum["message"] == {"data": "poison"}
        assert client.xpending(key, "deadbeat")["pending"] == 0
        assert supply.counts["dead-lettered"] == 1


class TestWriting:
    def test_a_batch_is_acknowledged_only_after_redis_confirmed_it(self, client: redis.Redis, key: str) -> None:
        """When the feeder's batch_done comes, every line of it is in the stream already."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        feeder = Feeder(esc, 5000)
        drain = stream.RedisStreamDrain(train, key)
        lengths: list[tuple[int, int]] = []

        class AtAcknowledgement(movement.Cog):
            @movement.hook
            def batch_done(self, batch_id: Any) -> None:
                lengths.append((batch_id[2] + 200, client.xlen(key)))

        train.cogs = [feeder, drain, AtAcknowledgement()]
        run(esc, lambda: len(feeder.acknowledged) == 25)
        assert len(feeder.acknowledged) == 25
        assert all(in_stream >= sent for sent, in_stream in lengths)
        entries = client.xrange(key)
        assert [fields[b"data"].decode() for _, fields in entries] == [f"line {i}" for i in range(5000)]

    def test_acknowledgements_keep_coming_under_a_steady_flow(self, client: redis.Redis, key: str) -> None:
        """A feeder that never lets up still sees its batches acknowledged along the way, not only at the end.

        The output always holds something in the air; each batch is
        acknowledged once the broker confirmed its data.
        """
        esc = movement.Escapement()
        train = movement.Train(esc, high_water=1000)
        feeder = Feeder(esc, 30_000, per_tick=500)
        sent_at_acknowledgement: list[int] = []

        class AtAcknowledgement(movement.Cog):
            @movement.hook
            def batch_done(self, batch_id: Any) -> None:
                sent_at_acknowledgement.append(feeder.sent)

        train.cogs = [feeder, stream.RedisStreamDrain(train, key, batch_size=200), AtAcknowledgement()]
        run(esc, lambda: len(feeder.acknowledged) == 60)
        assert len(feeder.acknowledged) == 60
        assert client.xlen(key) == 30_000
        assert min(sent_at_acknowledgement) < 15_000  # the first came long before the end

    def test_a_datum_that_cannot_be_written_goes_to_the_error_output_alone(self, client: redis.Redis, key: str) -> None:
        """A mapping without value_getter and text the encoding cannot hold fail alone; the rest is written."""
        records: list[movement.ErrorRecord] = []
        _, errors = self._write(key, ["a", {"line": "b"}, "c\udcff", b"d"], records)
        assert [fields[b"data"] for _, fields in client.xrange(key)] == [b"a", b"d"]
        assert len(errors) == 2
        assert "give value_getter" in str(errors[0].error)
        assert isinstance(errors[1].error, UnicodeEncodeError)

    def test_mappings_become_fields(self, client: redis.Redis, key: str) -> None:
        """With field = false a mapping's items are the entry's fields (numbers as text)."""
        records: list[movement.ErrorRecord] = []
        self._write(key, [{"host": "a", "n": 3}], records, field=None)
        assert [fields for _, fields in client.xrange(key)] == [{b"host": b"a", b"n": b"3"}]

    def _write(
        self, key: str, data: list[Any], records: list[movement.ErrorRecord], **params: Any
    ) -> tuple[Any, list[movement.ErrorRecord]]:
        esc = movement.Escapement()
        train = movement.Train(esc, error_output=records.append)
        drain = stream.RedisStreamDrain(train, key, **params)
        train.cogs = [drain]
        esc.enqueue(lambda: train.send(None, data))
        run(esc, lambda: drain.counts["written"] + len(records) == len(data))
        return drain, records

    def test_a_full_stream_waits_for_the_readers_and_loses_nothing(
        self, client: redis.Redis, key: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """With maxlen, unread entries are never trimmed: the output says the stream is full and waits."""
        client.xgroup_create(key, "readers", id="0", mkstream=True)
        esc = movement.Escapement()
        writer = movement.Train(esc, name="writer")
        feeder = Feeder(esc, 2000, per_tick=100)
        writer.cogs = [feeder, stream.RedisStreamDrain(writer, key, maxlen=300, batch_size=100)]
        readers: list[Collector] = []
        longest = [0]

        def start_reading() -> None:
            # The readers come late: the stream fills up first.
            readers.append(reader(esc, key, group="readers", block=0.1)[2])

        def look() -> None:
            longest[0] = max(longest[0], client.xlen(key))

        esc.after(1.0, start_reading)
        esc.every(0.01, look, keeps_alive=False)
        with caplog.at_level(logging.WARNING, logger="deadbeat.stream"):
            run(esc, lambda: bool(readers) and len(readers[0].data) >= 2000)
        assert sorted(readers[0].data, key=lambda line: int(line.split()[1])) == [f"line {i}" for i in range(2000)]
        assert "is full: " in caplog.text and "waiting for the readers" in caplog.text
        assert "writing again after" in caplog.text
        assert longest[0] <= 300 + 100


class TestBrokerFaults:
    def test_a_broker_restart_while_data_flow_loses_nothing(
        self, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Writer and reader keep going across a Redis restart: every line arrives, the log says what happened."""
        name = unique("restart")
        count = 20_000
        esc = movement.Escapement()
        writer = movement.Train(esc, name="writer")
        feeder = Feeder(esc, count)
        writer.cogs = [feeder, stream.RedisStreamDrain(writer, name, url=own_redis.url)]
        _, _, collector = reader(esc, name, url=own_redis.url, block=0.2)
        restarted = threading.Event()

        def restart_when_flowing() -> None:
            while len(collector.data) < count // 4:
                time.sleep(0.01)
            own_redis.restart()
            restarted.set()

        threading.Thread(target=restart_when_flowing, daemon=True).start()
        with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
            run(esc, lambda: restarted.is_set() and len(set(collector.data)) == count, timeout=60)
        assert restarted.is_set()
        assert set(collector.data) == {f"line {i}" for i in range(count)}
        assert len(feeder.acknowledged) == count // 200
        assert "broker out of reach" in caplog.text or "cannot write" in caplog.text
        assert own_redis.client().xpending(name, "deadbeat")["pending"] == 0

    def test_a_killed_connection_gives_a_log_line_and_loses_nothing(
        self, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """CLIENT KILL of every client connection mid-flow: logged, reconnected, every line arrives."""
        name = unique("kill")
        count = 20_000
        esc = movement.Escapement()
        writer = movement.Train(esc, name="writer")
        feeder = Feeder(esc, count)
        writer.cogs = [feeder, stream.RedisStreamDrain(writer, name, url=own_redis.url)]
        _, _, collector = reader(esc, name, url=own_redis.url, block=0.2)
        killed: list[int] = []

        def kill_when_flowing() -> None:
            admin = own_redis.client()
            while len(collector.data) < count // 3:
                time.sleep(0.005)
            killed.append(admin.client_kill_filter(_type="normal", skipme=True))

        threading.Thread(target=kill_when_flowing, daemon=True).start()
        with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
            run(esc, lambda: bool(killed) and len(set(collector.data)) == count, timeout=60)
        assert killed and killed[0] >= 1
        assert set(collector.data) == {f"line {i}" for i in range(count)}
        assert "broker out of reach" in caplog.text or "cannot write" in caplog.text
        assert own_redis.client().xpending(name, "deadbeat")["pending"] == 0


class TestExtras:
    def test_a_missing_client_library_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without redis-py installed, making a Redis cog says which extra to install."""
        import sys

        monkeypatch.setitem(sys.modules, "redis.asyncio", None)
        esc = movement.Escapement()
        try:
            with pytest.raises(ImportError, match=r"deadbeat-cogs-net\[redis\]"):
                stream.RedisStreamDrain(movement.Train(esc), "x")
        finally:
            esc.close()

    def test_the_password_never_shows(self) -> None:
        """str(cog) and the log's name for the broker hide the password."""
        esc = movement.Escapement()
        try:
            cog = stream.RedisStreamDrain(
                movement.Train(esc), "x", url="redis://u:hunter2@127.0.0.1:1/0", password="pw"
            )
            assert "pw'" not in str(cog) and "hunter2" not in cog._where
        finally:
            esc.close()


class TestShutdownDuringAnOutage:
    def test_messages_left_unacknowledged_are_counted_and_fail_the_run(
        self, own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Redis goes away with 100 messages to acknowledge; at shutdown they are named, and the run failed."""
        from deadbeat.stream import _supply

        monkeypatch.setattr(_supply, "_ACK_WAIT_AT_END", 1.0)
        name = f"fix-outage-{uuid.uuid4().hex[:10]}"
        fill(own_redis.client(), name, 100)
        esc = movement.Escapement()
        train = movement.Train(esc)
        supply = stream.RedisStreamSupply(train, name, url=own_redis.url, block=0.2)
        gate, collector = Gate(train), Collector()
        train.cogs = [supply, gate, collector]
        stopped_at: list[float] = []

        def until() -> bool:
            if not stopped_at and len(gate.held) == 100:
                own_redis.stop()
                stopped_at.append(time.monotonic())
                gate.open()
            return bool(stopped_at) and time.monotonic() - stopped_at[0] > 1.0

        run(esc, until)
        assert supply.counts["acknowledged"] == 0
        assert any("100 messages were not acknowledged" in failure for failure in esc.failures), esc.failures

    def test_acknowledgements_that_go_through_again_are_said(
        self, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """ "cannot acknowledge N messages yet" is followed by "acknowledged again after S s" once Redis is back."""
        name = f"fix-ackagain-{uuid.uuid4().hex[:10]}"
        fill(own_redis.client(), name, 100)
        esc = movement.Escapement()
        train = movement.Train(esc)
        supply = stream.RedisStreamSupply(train, name, url=own_redis.url, block=0.2)
        gate, collector = Gate(train), Collector()
        train.cogs = [supply, gate, collector]
        back = threading.Thread(target=lambda: (time.sleep(1.0), own_redis.start()))

        def until() -> bool:
            if back.ident is None and len(gate.held) == 100:
                own_redis.stop()
                back.start()
                gate.open()
            return supply.counts["acknowledged"] == 100

        with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
            run(esc, until)
        back.join()
        assert "cannot acknowledge 100 messages yet" in caplog.text
        assert "acknowledged again after" in caplog.text
        assert not esc.failures, esc.failures
        assert own_redis.client().xpending(name, "deadbeat")["pending"] == 0


class TestFinishTimeout:
    def test_finish_timeout_counts_from_the_shutdown_not_from_the_start_of_the_outage(
        self, own_redis: RedisServer
    ) -> None:
        """Redis away 4 s before the shutdown, back 3 s after it: within finish_timeout = 5 s, so all is written.

        (finish_timeout counted from the start of the outage: the first try after the shutdown gave up.)
        """
        name = f"fix-finish-{uuid.uuid4().hex[:10]}"
        own_redis.stop()
        esc = movement.Escapement()
        train = movement.Train(esc)
        feeder = Feeder(esc, 100, per_tick=100)
        drain = stream.RedisStreamDrain(train, name, url=own_redis.url, finish_timeout=5)
        train.cogs = [feeder, drain]
        started = time.monotonic()
        back = threading.Thread(target=lambda: (time.sleep(3.0), own_redis.start()))

        def until() -> bool:
            if time.monotonic() - started > 4.0:
                if not back.is_alive() and back.ident is None:  # asked again until the run stops: started once
                    back.start()
                return True
            return False

        run(esc, until, timeout=30)
        back.join()
        assert not esc.failures, esc.failures
        assert len(feeder.acknowledged) == 1
        assert own_redis.client().xlen(name) == 100


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
    """What stream.redis reports to /metrics and --stats, read as a scrape reads it."""

    def test_messages_read_pending_and_the_lag_behind_the_stream(
        self, client: redis.Redis, key: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Held at max_pending: 100 read and pending, the group 400 behind; released: all read, lag 0, none pending."""
        from deadbeat.stream import _supply

        monkeypatch.setattr(_supply, "_LAG_EVERY", 0.05)  # a scrape may ask Redis every 50 ms, not every 5 s
        fill(client, key, 500)
        esc = movement.Escapement()
        train = movement.Train(esc)
        supply = stream.RedisStreamSupply(train, key, batch_size=50, max_pending=100, block=0.1)
        gate, collector = Gate(train), Collector()
        train.cogs = [supply, gate, collector]
        seen: dict[str, Any] = {}

        def until() -> bool:
            figures = supply.metrics()  # as a scrape would, every 20 ms
            if "held" not in seen and figures.get("lag_messages") == 400 and figures["pending"] == 100:
                seen["held"] = figures
                seen["redis"] = client.xinfo_groups(key)[0]["lag"]
                (cog,) = [c for c in metrics.snapshot([train]).trains[0].cogs if c.position == 0]
                seen["counters"], seen["gauges"] = cog.counters, cog.gauges
                esc.after(0, gate.open)
            return "held" in seen and len(collector.data) == 500 and figures.get("lag_messages") == 0

        run(esc, until)
        after = supply.metrics()
        held = seen["held"]
        assert held["messages_read_total"] == 100 and held["ready"] == 1 and seen["redis"] == 400
        assert seen["counters"]["messages_read_total"] == 100 and seen["counters"]["received_total"] == 100
        assert seen["gauges"]["lag_messages"] == 400 and seen["gauges"]["pending"] == 100
        assert after["messages_read_total"] == 500 and after["lag_messages"] == 0 and after["pending"] == 0
        assert after["redelivered_total"] == 0 and after["claimed_total"] == 0
        assert client.xinfo_groups(key)[0]["lag"] == 0

    def test_messages_taken_up_again_and_claimed_from_a_dead_consumer(self, client: redis.Redis, key: str) -> None:
        """Our own pending messages are redelivered; a dead consumer's are redelivered and claimed; the rest new."""
        fill(client, key, 40)
        client.xgroup_create(key, "deadbeat", id="0")
        client.xreadgroup("deadbeat", "alive", {key: ">"}, count=10)  # our previous run died with these
        client.xreadgroup("deadbeat", "dead-one", {key: ">"}, count=15)
        esc = movement.Escapement()
        _, supply, collector = reader(esc, key, consumer="alive", claim_idle=0.3, block=0.1)
        run(esc, lambda: len(collector.data) == 40)
        after = supply.metrics()
        assert after["messages_read_total"] == 40
        assert after["redelivered_total"] == 25 and after["claimed_total"] == 15
        assert client.xpending(key, "deadbeat")["pending"] == 0


class TestDrainFigures:
    """What stream.redis_write reports to /metrics and --stats."""

    def test_written_pending_and_not_ready_while_the_broker_is_away(self, own_redis: RedisServer) -> None:
        """Broker away: data pending, not ready, the failure's time; up again: all written, ready, none pending."""
        name = unique("figures")
        esc = movement.Escapement()
        train = movement.Train(esc)
        feeder = Feeder(esc, 2_000)
        drain = stream.RedisStreamDrain(train, name, url=own_redis.url)
        train.cogs = [feeder, drain]
        seen: dict[str, Any] = {}
        began = time.time()

        # Away from the start: the first write fails, whatever the machine's speed.
        own_redis.stop()

        def start_when_seen_away() -> None:
            while drain.metrics()["ready"]:
                time.sleep(0.01)
            seen["away"] = drain.metrics()
            own_redis.start()

        threading.Thread(target=start_when_seen_away, daemon=True).start()
        run(esc, lambda: "away" in seen and len(feeder.acknowledged) == 10, timeout=60)
        after = drain.metrics()
        assert seen["away"]["pending"] > 0 and seen["away"]["ready"] == 0
        assert seen["away"]["last_error_timestamp_seconds"] >= began
        assert after["pending"] == 0 and after["ready"] == 1
        assert drain.counts["written"] == 2_000
        (cog,) = [c for c in metrics.snapshot([train]).trains[0].cogs if c.position == 1]
        assert cog.counters["written_total"] == 2_000 and cog.gauges["pending"] == 0


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
    """id_setter, as the manual asks of supplies: a setter given STREAM:MESSAGE-ID, or the manual's own-id function."""

    def test_a_setter_gets_the_message_id_and_the_train_still_knows_it(self, client: redis.Redis, key: str) -> None:
        """id_setter = "eid" (field = false): each mapping holds STREAM:MESSAGE-ID; event_done names it too."""
        ids = [client.xadd(key, {"data": f"line {i}"}).decode() for i in range(3)]
        esc = movement.Escapement()
        esc.once = True
        listener = DoneIds()
        _, supply, collector = reader(esc, key, listener, field=None, id_setter="eid")
        run(esc, lambda: False)
        expected = [f"{key}:{i}" for i in ids]
        assert collector.data == [{"data": f"line {n}", "eid": eid} for n, eid in enumerate(expected)]
        assert listener.done == expected
        assert client.xpending(key, "deadbeat")["pending"] == 0
        assert supply.counts == {"received": 3, "acknowledged": 3, "dead-lettered": 0, "invalid": 0}

    def test_the_manuals_function_sets_an_id_of_its_own(self, client: redis.Redis, key: str) -> None:
        """A function of the datum (here the text, made a mapping) sets a uid; the train reads it (id_getter)."""
        fill(client, key, 3)
        made: list[str] = []

        def make_id(line: str, field: str = "uid") -> dict[str, str]:
            made.append(uuid.uuid4().hex)
            return {"line": line, field: made[-1]}

        esc = movement.Escapement()
        esc.once = True
        train = movement.Train(esc, id_getter="uid")
        supply = stream.RedisStreamSupply(train, key, id_setter=make_id)
        listener, collector = DoneIds(), Collector()
        train.cogs = [supply, listener, collector]
        run(esc, lambda: False)
        assert collector.data == [{"line": f"line {n}", "uid": uid} for n, uid in enumerate(made)]
        assert len(set(made)) == 3 and listener.done == made
        assert client.xpending(key, "deadbeat")["pending"] == 0

    def test_messages_taken_up_again_get_their_ids_too(self, client: redis.Redis, key: str) -> None:
        """Our previous run's pending messages, handed on one at a time, go through the setter as new ones do."""
        ids = [client.xadd(key, {"data": f"line {i}"}).decode() for i in range(4)]
        client.xgroup_create(key, "deadbeat", id="0")
        client.xreadgroup("deadbeat", "w0", {key: ">"}, count=2)  # the previous run died with these
        esc = movement.Escapement()
        esc.once = True
        _, _, collector = reader(esc, key, consumer="w0", claim_idle=600, field=None, id_setter="meta.eid")
        run(esc, lambda: False)
        assert sorted(d["meta"]["eid"] for d in collector.data) == sorted(f"{key}:{i}" for i in ids)
        assert client.xpending(key, "deadbeat")["pending"] == 0

    def test_a_failing_setter_costs_its_message_alone_acknowledged_as_any_failed_message(
        self, client: redis.Redis, key: str
    ) -> None:
        """The datum goes to the error output naming its message, pending until then: as a message failing later."""
        good = client.xadd(key, {"data": "fine"}).decode()
        bad = client.xadd(key, {"data": "no id"}).decode()
        later = client.xadd(key, {"data": "fails later"}).decode()

        def picky(data: dict[str, str], event_id: str) -> dict[str, str]:
            if data["data"] == "no id":
                raise ValueError("no id for you")
            data["eid"] = event_id
            return data

        records: list[movement.ErrorRecord] = []
        pending_then: list[int] = []

        def error_output(record: movement.ErrorRecord) -> None:
            records.append(record)
            pending_then.append(client.xpending(key, "deadbeat")["pending"])

        esc = movement.Escapement()
        esc.once = True
        train = movement.Train(esc, error_output=error_output)
        supply = stream.RedisStreamSupply(train, key, field=None, id_setter=picky)
        collector = Collector()
        train.cogs = [supply, Refuse(lambda d: d["data"] == "fails later"), collector]
        run(esc, lambda: False)
        assert collector.data == [{"data": "fine", "eid": f"{key}:{good}"}]
        assert [r.event_id for r in records] == [f"{key}:{bad}", f"{key}:{later}"]
        assert isinstance(records[0].error, ValueError) and "no id for you" in str(records[0].error)
        assert records[0].datum == {"id": f"{key}:{bad}", "message": {"data": "no id"}}
        # Both reached the error output unacknowledged, and were acknowledged after, with the good one.
        assert pending_then == [3, 3]
        assert client.xpending(key, "deadbeat")["pending"] == 0
        assert supply.counts == {"received": 3, "acknowledged": 3, "dead-lettered": 0, "invalid": 1}

    def test_a_field_path_needs_data_that_are_mappings(self) -> None:
        """With field set each datum is a text: a field path for the id is refused at construction."""
        esc = movement.Escapement()
        try:
            with pytest.raises(ValueError, match="set field = false"):
                stream.RedisStreamSupply(movement.Train(esc), unique("never"), id_setter="eid")
        finally:
            esc.close()
