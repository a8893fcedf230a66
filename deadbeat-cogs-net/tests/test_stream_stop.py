"""Stopping the broker supplies in order, and Redis refusing writes for a while, against real brokers.

An orderly stop (SIGTERM, a reload: ``Escapement.shutdown``) must leave no
message delivered to the worker and never handed to its train: the broker
would count it as ours, deliver it again only after ``claim_idle`` or
``ack_wait``, and count that delivery against ``max_deliveries``. The
machine's Redis (127.0.0.1:6379) and NATS (127.0.0.1:4222) carry these tests,
each on a stream of its own, deleted afterwards; the tests that change a
server's settings (``maxmemory``, ACL users, killed connections) start a
redis-server of their own on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import redis

from deadbeat import movement, stream
from deadbeat.testing import Collector

REDIS_SERVER = "/usr/bin/redis-server"
NATS_SHARED = "nats://127.0.0.1:4222"


def unique(label: str) -> str:
    return f"deadbeat-test-{label}-{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OwnRedis:
    """A redis-server of the test's own, without persistence, stopped at the end of the test."""

    def __init__(self, directory: Path, *options: str) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", ""]
            + list(options),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = self.client()
        for _ in range(200):
            try:
                if probe.ping():
                    break
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        probe.close()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    made = redis.Redis()
    yield made
    made.close()


@pytest.fixture
def key(client: redis.Redis) -> Iterator[str]:
    """A stream of the test's own on the shared Redis, deleted afterwards."""
    name = unique("stop")
    yield name
    client.delete(name)


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


def redis_reader(
    esc: movement.Escapement, name: str, **params: Any
) -> tuple[movement.Train, stream.RedisStreamSupply, Collector, Collector]:
    """A train reading ``name``; the second Collector is its error output (the dead letters)."""
    dead = Collector()
    train = movement.Train(esc, error_output=dead)
    supply = stream.RedisStreamSupply(train, name, **params)
    collector = Collector()
    train.cogs = [supply, collector]
    return train, supply, collector, dead


class TestRedisStop:
    def test_a_stop_while_the_read_waits_hands_on_what_redis_just_gave_it(self, client: redis.Redis, key: str) -> None:
        """A message added the instant before the stop reaches the train; nothing stays pending, none dead-lettered.

        The XADD hands the message to our blocked XREADGROUP at once, inside
        Redis; the stop follows before the loop reads the reply. (The read was
        cancelled: its reply was lost, the message stayed pending under our
        consumer name, and with max_deliveries = 1 the next run dead-lettered it.)
        """
        client.xgroup_create(key, "deadbeat", id="$", mkstream=True)
        esc = movement.Escapement()
        _, supply, collector, dead = redis_reader(esc, key, block=5.0, max_deliveries=1, consumer="stopper")

        def add_and_stop() -> None:
            client.xadd(key, {"data": "the last one"})
            esc.shutdown()

        esc.after(1.0, add_and_stop)
        started = time.monotonic()
        try:
            esc.run()
        finally:
            esc.close()
        assert collector.data == ["the last one"]
        assert not dead.data
        assert not esc.failures, esc.failures
        assert client.xpending(key, "deadbeat")["pending"] == 0
        assert supply.counts["acknowledged"] == 1
        # CLIENT UNBLOCK ended the read: the stop did not wait for block (5 s).
        assert time.monotonic() - started < 3.0

    def test_repeated_stops_while_messages_flow_leave_nothing_pending(self, client: redis.Redis, key: str) -> None:
        """Ten stops at random moments of a steady flow: every message written once, none pending, none dead."""
        stop = threading.Event()
        added = [0]

        def trickle() -> None:
            feeder = redis.Redis()
            while not stop.is_set():
                feeder.xadd(key, {"data": f"m{added[0]}"})
                added[0] += 1
                time.sleep(0.0005)
            feeder.close()

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        seen: list[str] = []
        dead_letters: list[Any] = []
        try:
            for round_ in range(10):
                esc = movement.Escapement()
                _, _, collector, dead = redis_reader(esc, key, block=1.0, max_deliveries=1, consumer="fixed")
                esc.after(0.1 + 0.07 * round_, esc.shutdown)
                try:
                    esc.run()
                finally:
                    esc.close()
                seen += collector.data
                dead_letters += dead.data
                assert client.xpending(key, "deadbeat")["pending"] == 0, f"after stop {round_ + 1}"
        finally:
            stop.set()
            thread.join()
        esc = movement.Escapement()
        esc.once = True
        _, _, collector, dead = redis_reader(esc, key, max_deliveries=1, consumer="fixed")
        run(esc, lambda: False)
        seen += collector.data
        dead_letters += dead.data
        assert not dead_letters
        assert sorted(seen, key=lambda m: int(m[1:])) == [f"m{i}" for i in range(added[0])]

    def test_an_idle_reader_stops_at_once(self, client: redis.Redis, key: str) -> None:
        """block = 30 on an empty stream: the stop ends the read at once instead of waiting for it."""
        esc = movement.Escapement()
        _, supply, _, _ = redis_reader(esc, key, block=30.0)
        esc.after(0.5, esc.shutdown)
        started = time.monotonic()
        try:
            esc.run()
        finally:
            esc.close()
        assert time.monotonic() - started < 2.5
        assert not esc.failures, esc.failures
        assert supply.metrics()["pending"] == 0

    def test_without_client_unblock_the_stop_waits_for_the_read(self, own_redis: OwnRedis) -> None:
        """A user whose ACL forbids CLIENT: the stop waits for the read's block, and still loses nothing."""
        admin = own_redis.client()
        admin.acl_setuser(
            "reader", enabled=True, passwords=["+secret"], keys=["*"], channels=["*"], commands=["+@all", "-client"]
        )
        name = unique("acl")
        admin.xgroup_create(name, "deadbeat", id="$", mkstream=True)
        esc = movement.Escapement()
        url = f"redis://reader@127.0.0.1:{own_redis.port}/0"
        _, _, collector, dead = redis_reader(esc, name, url=url, password="secret", block=1.5, max_deliveries=1)

        def add_and_stop() -> None:
            admin.xadd(name, {"data": "the last one"})
            esc.shutdown()

        esc.after(0.5, add_and_stop)
        try:
            esc.run()
        finally:
            esc.close()
        assert collector.data == ["the last one"]
        assert not dead.data and not esc.failures
        assert admin.xpending(name, "deadbeat")["pending"] == 0

    def test_a_reply_lost_with_the_connection_is_taken_up_without_counting_that_delivery(
        self, own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Redis gave messages to our consumer in a reply that never arrived: taken up again, not dead-lettered.

        (With max_deliveries = 1 they went to the error output: the lost delivery was counted.)
        """
        admin = own_redis.client()
        name = unique("lost")
        admin.xgroup_create(name, "deadbeat", id="$", mkstream=True)
        esc = movement.Escapement()
        _, _, collector, dead = redis_reader(
            esc, name, url=own_redis.url, block=0.3, max_deliveries=1, consumer="w0", claim_idle=600
        )

        def lose_a_reply() -> None:
            for i in range(5):
                admin.xadd(name, {"data": f"lost {i}"})
            # Delivered to our consumer name, as a reply the connection lost on its way would be.
            admin.xreadgroup("deadbeat", "w0", {name: ">"}, count=5)
            admin.client_kill_filter(_type="normal", skipme=True)

        esc.after(0.5, lose_a_reply)
        with caplog.at_level(logging.WARNING, logger="deadbeat.stream"):
            run(esc, lambda: len(collector.data) + len(dead.data) >= 5, timeout=20)
        assert sorted(collector.data) == [f"lost {i}" for i in range(5)]
        assert not dead.data
        assert "delivered to us while the connection broke" in caplog.text
        assert admin.xpending(name, "deadbeat")["pending"] == 0
        # The count is that of deliveries that reached a train: one.
        assert not esc.failures, esc.failures


class TestRedisOutOfMemory:
    def test_an_output_and_a_supply_wait_while_redis_is_out_of_memory(
        self, own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
    ) -> None:
        """maxmemory reached (OOM replies, which redis-py raises without their code): both wait, then go on.

        (is_transient() looked for "OOM" in the message, which redis-py strips:
        the output failed the run at the first refused write.)
        """
        admin = own_redis.client()
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", "1")  # every write that needs memory is refused
        name = unique("oom")
        count = 2000
        esc = movement.Escapement()
        writer = movement.Train(esc, name="writer")
        lines = [f"line {i}" for i in range(count)]
        sent: list[int] = []

        class Once(movement.Supply):
            def __init__(self) -> None:
                esc.after(0.05, self.send)

            def send(self) -> None:
                sent.append(1)
                esc.send_from(self, movement.Batch(lines, batch_id=("once", 1)))

        writer.cogs = [Once(), stream.RedisStreamDrain(writer, name, url=own_redis.url)]
        _, _, collector, dead = redis_reader(esc, name, url=own_redis.url, block=0.2)
        freed: list[float] = []

        def free_memory() -> None:
            if not freed:
                admin.config_set("maxmemory", "0")
                freed.append(time.monotonic())

        esc.after(1.5, free_memory)
        with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
            run(esc, lambda: len(collector.data) == count, timeout=30)
        assert not esc.failures, esc.failures
        assert "OutOfMemoryError" in caplog.text
        assert "writing again after" in caplog.text
        assert collector.data == lines
        assert not dead.data


class TestRedisTransientErrors:
    def test_the_errors_redis_py_raises_without_their_code_are_transient(self) -> None:
        """The classes redis-py maps reply codes to (the code stripped from the message) count as passing."""
        from redis import exceptions as errors

        from deadbeat.stream._redis_common import is_transient

        assert is_transient(errors.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."))
        assert is_transient(errors.BusyLoadingError("Redis is loading the dataset in memory"))
        assert is_transient(errors.TryAgainError("Multiple keys request during rehashing of slot"))
        assert is_transient(errors.ClusterDownError("The cluster is down"))
        assert is_transient(errors.MasterDownError("Link with MASTER is down and replica-serve-stale-data is 'no'."))
        assert is_transient(errors.ReadOnlyError("You can't write against a read only replica."))
        assert is_transient(errors.ResponseError("BUSY Redis is busy running a script."))
        assert is_transient(errors.ResponseError("NOREPLICAS Not enough good replicas to write."))
        assert not is_transient(errors.ResponseError("WRONGTYPE Operation against a key holding the wrong kind"))
        assert not is_transient(errors.ResponseError("ERR unknown command"))
        assert not is_transient(errors.NoPermissionError("this user has no permissions"))

    def test_a_busy_script_is_waited_for(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """A script running past busy-reply-threshold (BUSY replies, code kept in the message): the output waits."""
        server = OwnRedis(tmp_path, "--busy-reply-threshold", "100")
        try:
            admin = server.client()
            name = unique("busy")

            def spin() -> None:
                with contextlib.suppress(redis.exceptions.ResponseError):  # killed by SCRIPT KILL below
                    redis.Redis(port=server.port).eval("local t = redis.call('TIME') while true do end", 0)

            threading.Thread(target=spin, daemon=True).start()
            time.sleep(0.3)
            esc = movement.Escapement()
            train = movement.Train(esc)
            written: list[Any] = []

            class Once(movement.Supply):
                def __init__(self) -> None:
                    esc.after(0.05, self.send)

                def send(self) -> None:
                    esc.send_from(self, movement.Batch(["a", "b"], batch_id=("once", 1)))

                @movement.hook
                def batch_done(self, batch_id: Any) -> None:
                    written.append(batch_id)

            train.cogs = [Once(), stream.RedisStreamDrain(train, name, url=server.url)]

            def kill_script() -> None:
                redis.Redis(port=server.port).script_kill()

            esc.after(1.0, kill_script)
            with caplog.at_level(logging.INFO, logger="deadbeat.stream"):
                run(esc, lambda: bool(written), timeout=20)
            assert not esc.failures, esc.failures
            assert "BUSY" in caplog.text
            assert admin.xlen(name) == 2
        finally:
            server.stop()


def nats_call(call: Callable[[Any], Any]) -> Any:
    async def go() -> Any:
        nc = await nats.connect(NATS_SHARED)
        try:
            return await call(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(go())


@pytest.fixture
def subjects() -> Iterator[str]:
    made = f"DBSTOP{uuid.uuid4().hex[:10]}"
    nats_call(lambda js: js.add_stream(name=made, subjects=[f"{made}.>"]))
    yield made

    async def delete(js: Any) -> None:
        await js.delete_stream(made)

    nats_call(delete)


def nats_publish(name: str, count: int) -> None:
    async def go(js: Any) -> None:
        futures = [await js.publish_async(f"{name}.in", f"m{i}".encode()) for i in range(count)]
        await asyncio.gather(*futures)

    async def plain(js: Any) -> None:
        for i in range(count):
            await js.publish(f"{name}.in", f"m{i}".encode())

    nats_call(go if hasattr(nats.js.client.JetStreamContext, "publish_async") else plain)


class StopAtFirst(movement.Cog):
    """Starts the orderly shutdown at the first datum (as a SIGTERM in the middle of a busy stream)."""

    def __init__(self, train: movement.Train) -> None:
        self.train = train
        self.seen = 0

    def __call__(self, datum: Any) -> Any:
        if not self.seen:
            self.train.esc.shutdown()
        self.seen += 1
        return (datum,)


class TestNATSStop:
    def test_messages_fetched_ahead_are_written_and_acknowledged_at_a_stop(self, subjects: str) -> None:
        """A stop while the next fetch's messages travel: none left delivered, unacknowledged; the next run is quick.

        (They stayed delivered to the stopped worker: ack_pending after an exit
        with status 0, the next run handed messages on one at a time for
        ack_wait, and with max_deliveries = 1 it dead-lettered them.)
        """
        count = 3000
        nats_publish(subjects, count)
        seen: list[str] = []
        esc = movement.Escapement()
        dead = Collector()
        train = movement.Train(esc, error_output=dead)
        supply = stream.NATSStreamSupply(
            train, subjects, servers=[NATS_SHARED], batch_size=100, ack_wait=30, max_deliveries=1
        )
        stopper, collector = StopAtFirst(train), Collector()
        train.cogs = [supply, stopper, collector]
        try:
            esc.run()
        finally:
            esc.close()
        assert not esc.failures, esc.failures
        seen += collector.data
        # More than the first fetch: what was asked for ahead went down the train too.
        assert 100 < len(seen) < count

        async def info(js: Any) -> Any:
            return await js.consumer_info(subjects, "deadbeat")

        found = nats_call(info)
        assert found.num_ack_pending == 0
        assert found.num_redelivered == 0
        assert supply.counts["acknowledged"] == len(seen)

        esc = movement.Escapement()
        esc.once = True
        dead = Collector()
        train = movement.Train(esc, error_output=dead)
        supply = stream.NATSStreamSupply(train, subjects, servers=[NATS_SHARED], ack_wait=30, max_deliveries=1)
        collector = Collector()
        train.cogs = [supply, collector]
        started = time.monotonic()
        run(esc, lambda: False, timeout=60)
        seen += collector.data
        assert not dead.data
        assert sorted(seen, key=lambda m: int(m[1:])) == [f"m{i}" for i in range(count)]
        # Not one message per request for ack_wait (30 s).
        assert time.monotonic() - started < 10
        assert supply.metrics()["redelivered_total"] == 0
