"""stream.redis against the machine's Redis (127.0.0.1:6379): the stream or its group deleted while the supply
reads. The run stopped with a redis-py traceback and the group was not made again; now it is made again (with the
stream), one warning line says from where, and the supply reads on. Each test has a stream of its own, deleted
afterwards."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from deadbeat import movement, stream
from deadbeat.testing import Collector


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    made = redis.Redis()
    yield made
    made.close()


@pytest.fixture
def key(client: redis.Redis) -> Iterator[str]:
    name = f"fixnet_stream_{uuid.uuid4().hex[:10]}"
    yield name
    client.delete(name)


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


def reader(key: str, **params: object) -> tuple[movement.Escapement, stream.RedisStreamSupply, Collector]:
    esc = movement.Escapement()
    train = movement.Train(esc)
    supply = stream.RedisStreamSupply(train, key, group="fixnet_g", consumer="fixnet_c1", block=0.5, **params)
    collector = Collector()
    train.cogs = [supply, collector]
    return esc, supply, collector


class Hold(movement.Cog):
    """Holds every datum for ``seconds`` (reported to the train), as a window would."""

    def __init__(self, train: movement.Train, seconds: float) -> None:
        self.train = train
        self.seconds = seconds
        self.held: list[object] = []
        self._timer: movement.Binding | None = None

    def __call__(self, datum: object) -> None:
        self.held.append(datum)
        self.train.hold()
        if self._timer is None:
            self._timer = self.train.esc.after(self.seconds, self.let_go)

    def let_go(self) -> list[object]:
        self._timer = None
        held, self.held = self.held, []
        self.train.release(len(held))
        return held

    def finish(self) -> list[object]:
        if self._timer is not None:
            self.train.esc.dequeue(self._timer)
        return self.let_go()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "deadbeat.stream" and r.levelno >= logging.WARNING]


class TestStreamOrGroupDeleted:
    def test_the_stream_deleted_while_reading_is_made_again_and_read_from_0(
        self, client: redis.Redis, key: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """DEL of the stream under a blocking read (Redis: "UNBLOCKED the stream key no longer exists"): the stream
        and the group are made again, the group reading from 0, and what others add afterwards is read."""
        client.xadd(key, {"data": "one"})
        esc, supply, collector = reader(key)
        steps: list[str] = []

        def script() -> bool:
            if collector.data == ["one"] and not steps:
                steps.append("deleting")
                esc.after(0.2, lambda: steps.append(f"deleted {client.delete(key)}"))  # while the next read blocks
            elif steps == ["deleting", "deleted 1"] and client.exists(key) and client.xinfo_groups(key):
                steps.append("added")
                client.xadd(key, {"data": "two"}, id="1-1")  # even an id of the producer's own, however low
            return collector.data == ["one", "two"]

        with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
            run(esc, script)
        assert collector.data == ["one", "two"]
        assert not esc.failures, esc.failures
        [said] = warnings_of(caplog)
        assert said.exc_info is None
        message = said.getMessage()
        assert "the stream was deleted (and its group with it) while we read" in message
        assert "made the stream and the group again, reading from 0" in message
        assert "Traceback" not in caplog.text
        assert client.xpending(key, "fixnet_g")["pending"] == 0
        assert supply.counts["acknowledged"] == 2

    def test_the_group_destroyed_is_made_again_after_the_last_message_read(
        self, client: redis.Redis, key: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """XGROUP DESTROY under a blocking read: the group is made again after the last message this consumer
        read (named in the warning): what was read is not read again, what is added afterwards is."""
        first = client.xadd(key, {"data": "one"}).decode()
        esc, _, collector = reader(key)
        steps: list[str] = []

        def script() -> bool:
            if collector.data == ["one"] and not steps:
                steps.append("destroying")
                esc.after(0.2, lambda: steps.append(f"destroyed {client.xgroup_destroy(key, 'fixnet_g')}"))
            elif steps == ["destroying", "destroyed True"] and client.xinfo_groups(key):
                steps.append("added")
                client.xadd(key, {"data": "two"})
            return collector.data == ["one", "two"]

        with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
            run(esc, script)
        time.sleep(0.2)
        assert collector.data == ["one", "two"]
        assert not esc.failures, esc.failures
        [said] = warnings_of(caplog)
        assert said.exc_info is None
        assert "the group was deleted" in said.getMessage()
        assert f"made the group again, reading after {first}, the last message this consumer read" in said.getMessage()

    def test_the_group_destroyed_between_reads_is_made_again(
        self, client: redis.Redis, key: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The group destroyed while a cog holds the one message in hand (max_pending 1): its XACK and the next
        read are answered NOGROUP (no blocked read to unblock). The acknowledgement finds nothing to acknowledge
        (no error that says the message will come again), the group is made again after it, and the next is read."""
        client.xadd(key, {"data": "one"})
        client.xadd(key, {"data": "two"})
        esc = movement.Escapement()
        train = movement.Train(esc)
        supply = stream.RedisStreamSupply(
            train, key, group="fixnet_g", consumer="fixnet_c1", block=0.5, batch_size=1, max_pending=1
        )
        collector = Collector()
        train.cogs = [supply, Hold(train, 0.6), collector]
        destroyed: list[bool] = []

        def script() -> bool:
            held = not destroyed and client.exists(key) and client.xinfo_groups(key)
            if held and client.xpending(key, "fixnet_g")["pending"] == 1:
                destroyed.append(client.xgroup_destroy(key, "fixnet_g"))
            return collector.data == ["one", "two"]

        with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
            run(esc, script)
        assert destroyed == [True]
        assert collector.data == ["one", "two"] and not esc.failures, esc.failures
        [said] = warnings_of(caplog)
        assert "NOGROUP" in said.getMessage() and "made the group again, reading after" in said.getMessage()
        assert "Traceback" not in caplog.text
        assert supply.counts["acknowledged"] == 2

    def test_deadbeat_run_goes_on_and_exits_0(self, client: redis.Redis, key: str, tmp_path: Path) -> None:
        """The finding as a pipeline: a run whose stream is deleted writes what comes after and exits 0, with one
        warning and no traceback (it exited 1 with a 25-line redis-py traceback)."""
        out = tmp_path / "out.txt"
        config = tmp_path / "p.toml"
        config.write_text(
            textwrap.dedent(
                f"""
                [[cog]]
                use = "stream.redis"
                stream = "{key}"
                group = "fixnet_g"
                consumer = "fixnet_c1"
                block = 1
                [[cog]]
                use = "fs.write"
                filename = "{out}"
                """
            )
        )
        client.xadd(key, {"data": "one"})
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(config)], stderr=subprocess.PIPE, text=True
        )
        try:
            deadline = time.monotonic() + 60
            while not (out.exists() and out.read_text() == "one\n") and time.monotonic() < deadline:
                time.sleep(0.05)
            client.delete(key)
            while not client.exists(key) and time.monotonic() < deadline:
                time.sleep(0.05)
            client.xadd(key, {"data": "two"})
            while out.read_text() != "one\ntwo\n" and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=60)
        assert out.read_text() == "one\ntwo\n"
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
        assert stderr.count(" WARNING ") == 1 and "made the stream and the group again, reading from 0" in stderr
