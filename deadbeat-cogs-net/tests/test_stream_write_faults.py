"""stream.redis_write and stream.nats_write when the broker misbehaves.

* A Redis that takes the connection and never answers (a hung broker, made
  here as a TCP server that reads and never replies, or a real redis-server
  frozen with SIGSTOP): each try is bounded by ``confirm_timeout``, ``retry_for``
  is kept, the run fails, and nothing is acknowledged that was not written.
* A datum over NATS's ``max_payload``, refused after it went on (taken before
  the first connection told the limit): it counts as failed, not as out too.

Against the machine's Redis (127.0.0.1:6379) and NATS JetStream (127.0.0.1:4222),
or servers of the test's own on free ports; each test on a stream of its own,
deleted afterwards. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import subprocess
import sys
import textwrap
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

REDIS_SERVER = "/usr/bin/redis-server"
SHARED_NATS = "nats://127.0.0.1:4222"
#: Twice NATS's default max_payload (1 MB).
BIG = "B" * 2_000_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Blackhole:
    """A TCP server that accepts every connection, reads all it is sent, and never answers: a hung broker."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.accepted = 0
        self._connections: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            self.accepted += 1
            self._connections.append(connection)
            threading.Thread(target=self._swallow, args=(connection,), daemon=True).start()

    @staticmethod
    def _swallow(connection: socket.socket) -> None:
        try:
            while connection.recv(65536):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self._closed = True
        self._server.close()
        for connection in self._connections:
            connection.close()


@pytest.fixture
def blackhole() -> Iterator[Blackhole]:
    made = Blackhole()
    yield made
    made.close()


class FrozenRedis:
    """A redis-server of the test's own, which the test can freeze (SIGSTOP) and thaw (SIGCONT)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis.Redis(port=self.port)
        try:
            for _ in range(200):
                try:
                    if probe.ping():
                        break
                except redis.exceptions.RedisError:
                    time.sleep(0.05)
        finally:
            probe.close()

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.thaw()  # a stopped process takes SIGKILL too, but let it go cleanly
            self.process.kill()
            self.process.wait(timeout=20)


@pytest.fixture
def frozen_redis(tmp_path: Path) -> Iterator[FrozenRedis]:
    server = FrozenRedis(tmp_path)
    yield server
    server.stop()


class OneBatch(movement.Supply):
    """Sends one batch (with event ids) at the first turn of the loop; notes whether it was acknowledged."""

    def __init__(self, esc: movement.Escapement, lines: list[str], ids: list[str] | None = None) -> None:
        self.esc = esc
        self.acknowledged = False
        event_ids = (lambda: ids) if ids is not None else None
        esc.enqueue(lambda: esc.send_from(self, movement.Batch(lines, batch_id="only", event_ids=event_ids)))

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        self.acknowledged = self.acknowledged or batch_id == "only"


def run(esc: movement.Escapement, until: Callable[[], bool], timeout: float = 30.0) -> float:
    """Run ``esc`` until ``until()`` holds, the run shuts itself down, or ``timeout`` passes.

    :returns: how long the run took, in seconds.
    """
    started = time.monotonic()
    deadline = started + timeout

    def look() -> None:
        if until() or time.monotonic() > deadline:
            esc.shutdown()

    esc.every(0.02, look, keeps_alive=False)
    try:
        esc.run()
    finally:
        esc.close()
    return time.monotonic() - started


def cannot_write_times(caplog: pytest.LogCaptureFixture) -> list[float]:
    """When the outputs said they cannot write (the first line of an outage), as ``time.time()``."""
    return [record.created for record in caplog.records if "cannot write" in record.getMessage()]


def deadbeat_run(pipeline: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--once"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def redis_write_pipeline(tmp_path: Path, url: str, stream_name: str, extra: str) -> Path:
    source = tmp_path / "in.txt"
    source.write_text("".join(f"line {i}\n" for i in range(500)))
    pipeline = tmp_path / "rw.toml"
    pipeline.write_text(
        textwrap.dedent(
            f"""
            [log]
            level = "info"

            [[cog]]
            use = "fs.read"
            filenames = ["{source}"]

            [[cog]]
            use = "stream.redis_write"
            stream = "{stream_name}"
            url = "{url}"
            batch_size = 100
            """
        )
        + textwrap.dedent(extra)
    )
    return pipeline


class TestRedisWriteToAHungBroker:
    def test_deadbeat_run_fails_after_retry_for_not_never(self, blackhole: Blackhole, tmp_path: Path) -> None:
        """The reproduction: retry_for = 2 against a hung Redis; the run fails with status 1 in seconds.

        (Each try waited 30 s for a reply, and the limit was only looked at
        between tries: the first line came after 30 s and the run never ended.)
        """
        pipeline = redis_write_pipeline(
            tmp_path,
            blackhole.url,
            f"deadbeat-test-hung-{uuid.uuid4().hex[:10]}",
            "retry_for = 2\nfinish_timeout = 2\n",
        )
        started = time.monotonic()
        process = deadbeat_run(pipeline)
        try:
            _, err = process.communicate(timeout=40)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        took = time.monotonic() - started
        log = err.decode()
        assert process.returncode == 1, log[-3000:]
        # confirm_timeout (5 s by default) for the first try, retry_for (2 s) for the rest, a margin to start.
        assert took < 15, (took, log[-3000:])
        assert "cannot write (TimeoutError" in log
        assert "not acknowledged" in log
        # Sent on and held until confirmed: said once, as not written (see passes_on_what_it_holds).
        assert "out 500 (500 of them not written, not acknowledged), errors 0" in log
        assert blackhole.accepted >= 1

    def test_each_try_is_bounded_and_the_run_fails_after_retry_for(
        self, blackhole: Blackhole, caplog: pytest.LogCaptureFixture
    ) -> None:
        """confirm_timeout bounds a try; the outage is said then, and retry_for later the run stops, failed."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        supply = OneBatch(esc, [f"line {i}" for i in range(50)])
        drain = stream.RedisStreamDrain(
            train, "deadbeat-test-never", url=blackhole.url, confirm_timeout=0.5, retry_for=1.5, finish_timeout=1.0
        )
        train.cogs = [supply, drain]
        started = time.time()
        with caplog.at_level(logging.INFO, logger="deadbeat"):
            took = run(esc, lambda: False, timeout=30)  # only the output's giving up ends it
        said = cannot_write_times(caplog)
        assert said and said[0] - started < 10, said  # about confirm_timeout, not 30 s (a margin for slow machines)
        assert took < 15, took  # confirm_timeout + retry_for, and a margin
        assert any("cannot write" in failure and "not acknowledged" in failure for failure in esc.failures)
        assert not supply.acknowledged
        assert drain.counts["written"] == 0 and drain.counts["retries"] >= 1
        assert "writing again" not in caplog.text

    @pytest.mark.parametrize("after", [1.5, 7.0], ids=["during the first try", "while retrying"])
    def test_sigterm_during_the_hang_ends_the_run_failed(
        self, blackhole: Blackhole, tmp_path: Path, after: float
    ) -> None:
        """No retry_for: SIGTERM ends the run within finish_timeout (and a second), with status 1."""
        pipeline = redis_write_pipeline(
            tmp_path, blackhole.url, f"deadbeat-test-hung-{uuid.uuid4().hex[:10]}", "finish_timeout = 2\n"
        )
        process = deadbeat_run(pipeline)
        try:
            # Counted from its first connection, not from the start of a Python process that may be slow to
            # come up (signalled before its handlers are set, it dies of SIGTERM: -15).
            deadline = time.monotonic() + 60
            while not blackhole.accepted:
                assert time.monotonic() < deadline and process.poll() is None, "the run never connected"
                time.sleep(0.02)
            time.sleep(after)
            assert process.poll() is None, "the run ended before the SIGTERM"
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            _, err = process.communicate(timeout=30)
            took = time.monotonic() - signalled
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        log = err.decode()
        assert process.returncode == 1, log[-3000:]
        assert took < 2 + 1 + 7, (took, log[-3000:])  # finish_timeout, its second, a margin for slow machines
        assert "not written at shutdown; not acknowledged" in log

    def test_a_frozen_redis_fails_the_run_after_retry_for(
        self, frozen_redis: FrozenRedis, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The real Redis, stopped with SIGSTOP: the same as a hung one."""
        name = f"deadbeat-test-frozen-{uuid.uuid4().hex[:10]}"
        frozen_redis.freeze()
        esc = movement.Escapement()
        train = movement.Train(esc)
        supply = OneBatch(esc, [f"line {i}" for i in range(50)])
        drain = stream.RedisStreamDrain(
            train, name, url=frozen_redis.url, confirm_timeout=0.5, retry_for=1.5, finish_timeout=1.0
        )
        train.cogs = [supply, drain]
        with caplog.at_level(logging.INFO, logger="deadbeat"):
            took = run(esc, lambda: False, timeout=30)
        assert took < 15, took  # retry_for and confirm_timeout, with a margin for slow machines
        assert esc.failures and not supply.acknowledged
        assert drain.counts["written"] == 0

    def test_a_redis_frozen_for_a_while_loses_nothing(
        self, frozen_redis: FrozenRedis, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Frozen 2 s, within retry_for: tries time out, the writes go through once it is thawed, all is there."""
        name = f"deadbeat-test-thawed-{uuid.uuid4().hex[:10]}"
        lines = [f"line {i}" for i in range(300)]
        frozen_redis.freeze()
        thaw = threading.Timer(2.0, frozen_redis.thaw)
        thaw.start()
        esc = movement.Escapement()
        train = movement.Train(esc)
        supply = OneBatch(esc, lines)
        drain = stream.RedisStreamDrain(
            train, name, url=frozen_redis.url, batch_size=100, confirm_timeout=0.5, retry_for=30, finish_timeout=5
        )
        train.cogs = [supply, drain]
        try:
            with caplog.at_level(logging.INFO, logger="deadbeat"):
                run(esc, lambda: supply.acknowledged, timeout=30)
        finally:
            thaw.cancel()
            frozen_redis.thaw()
        assert supply.acknowledged and not esc.failures, esc.failures
        assert "cannot write" in caplog.text and "writing again" in caplog.text
        client = frozen_redis.client()
        try:
            # At least once: a pipeline cut off by the time-out may have been written before it was sent again.
            stored = {fields[b"data"].decode() for _, fields in client.xrange(name)}
        finally:
            client.close()
        assert stored == set(lines)
        assert drain.counts["written"] == len(lines)

    def test_confirm_timeout_must_be_positive(self) -> None:
        esc = movement.Escapement()
        try:
            with pytest.raises(ValueError, match="confirm_timeout"):
                stream.RedisStreamDrain(movement.Train(esc), "deadbeat-test-x", confirm_timeout=0)
        finally:
            esc.close()


# -- NATS: a datum over max_payload ------------------------------------------------------


def _delete_nats_stream(name: str) -> None:
    async def go() -> None:
        nc = await nats.connect(SHARED_NATS)
        try:
            await nc.jetstream().delete_stream(name)
        except nats.js.errors.NotFoundError:
            pass
        finally:
            await nc.close()

    asyncio.run(go())


@pytest.fixture
def nats_stream() -> Iterator[str]:
    """A JetStream stream name of the test's own (made by the output, capturing NAME.out), deleted afterwards."""
    made = f"DBWF{uuid.uuid4().hex[:10]}"
    yield made
    _delete_nats_stream(made)


class TestNatsWriteTooBigIsFailedNotOut:
    def test_the_train_counts_it_failed_and_not_out(self, nats_stream: str) -> None:
        """Taken before the first connection, refused once the limit is known: in 2, out 1, errors 1."""
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []
        train = movement.Train(esc, error_output=records.append)
        supply = OneBatch(esc, ["small", BIG], ["in:0", "in:6"])
        drain = stream.NATSStreamDrain(train, f"{nats_stream}.out", stream=nats_stream)
        train.cogs = [supply, drain]
        run(esc, lambda: supply.acknowledged)
        assert supply.acknowledged and not esc.failures, esc.failures
        (record,) = records
        assert record.event_id == "in:6" and "max_payload" in str(record.error)
        assert (train.events_in, train.events_out, train.errors) == (2, 1, 1)
        assert drain.counts["written"] == 1 and drain.counts["refused"] == 1

    def test_as_when_refused_as_it_arrives(self, nats_stream: str) -> None:
        """Once connected, the big datum is refused in the send: the same counts, as before."""
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []
        train = movement.Train(esc, error_output=records.append)
        first = OneBatch(esc, ["a"], ["f:0"])
        drain = stream.NATSStreamDrain(train, f"{nats_stream}.out", stream=nats_stream)
        train.cogs = [first, drain]
        esc.after(30, lambda: None)  # the run goes on after the first batch, for the second
        state = {"second": False}

        def until() -> bool:
            if first.acknowledged and not state["second"]:
                state["second"] = True
                esc.send_from(first, movement.Batch(["b", BIG], batch_id="second", event_ids=lambda: ["f:2", "f:4"]))
            return len(records) == 1 and drain.counts["written"] == 2

        run(esc, until)
        assert len(records) == 1
        assert (train.events_in, train.events_out, train.errors) == (3, 2, 1)

    def test_deadbeat_run_summary_says_in_2_out_1_errors_1(self, nats_stream: str, tmp_path: Path) -> None:
        """The reproduction: the summary said "out 2, errors 1, more out than in by splits 1"."""
        source = tmp_path / "big.txt"
        source.write_text(f"small\n{BIG}\n")
        errors = tmp_path / "errors.jsonl"
        pipeline = tmp_path / "nw.toml"
        pipeline.write_text(
            textwrap.dedent(
                f"""
                [log]
                level = "info"

                [[cog]]
                use = "fs.read"
                filenames = ["{source}"]
                max_line = 4000000

                [[cog]]
                use = "stream.nats_write"
                subject = "{nats_stream}.out"
                stream = "{nats_stream}"
                servers = ["{SHARED_NATS}"]

                [[errors]]
                use = "text.json_format"

                [[errors]]
                use = "fs.write"
                filename = "{errors}"
                """
            )
        )
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--once"],
            capture_output=True,
            timeout=120,
        )
        log = result.stderr.decode()
        assert result.returncode == 0, log[-3000:]
        assert "finished: in 2, out 1, errors 1" in log, log[-3000:]
        assert "more out than in" not in log
        assert len(errors.read_text().splitlines()) == 1
