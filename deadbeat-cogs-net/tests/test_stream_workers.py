"""``deadbeat run --workers N`` on the stream supplies, as processes against the real brokers.

Streams of the tests' own (named ``fix-...``) on the machine's NATS
(127.0.0.1:4222), deleted afterwards.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

SHARED_NATS = "nats://127.0.0.1:4222"

#: An application cog that kills its own process on one line (a poison message).
APP_COGS = """
import os
import signal


def crash_on_777(datum):
    if datum == "line 777":
        os.kill(os.getpid(), signal.SIGKILL)
    return (datum,)
"""


def jetstream(call: Callable[[Any], Any], server: str = SHARED_NATS) -> Any:
    async def go() -> Any:
        nc = await nats.connect(server)
        try:
            return await call(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(go())


@pytest.fixture
def nats_stream() -> Iterator[str]:
    name = f"fix-workers-{uuid.uuid4().hex[:10]}"
    jetstream(lambda js: js.add_stream(name=name, subjects=[f"{name}.>"]))
    yield name

    async def delete(js: Any) -> None:
        try:
            await js.delete_stream(name)
        except nats.js.errors.NotFoundError:
            pass

    jetstream(delete)


def publish(name: str, count: int) -> None:
    async def go(js: Any) -> None:
        for i in range(count):
            await js.publish(f"{name}.in", f"line {i}".encode())

    jetstream(go)


def settled(name: str) -> bool:
    """Whether the consumer has delivered every message and has none unacknowledged."""

    async def info(js: Any) -> bool:
        found = await js.consumer_info(name, "deadbeat")
        return bool(found.num_pending == 0 and found.num_ack_pending == 0)

    return bool(jetstream(info))


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def start(pipeline: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), *args],
            stderr=err,
            stdout=subprocess.DEVNULL,
            cwd=pipeline.parent,
        )


class TestNATSWorkers:
    @pytest.mark.parametrize("workers", [1, 2])
    def test_a_poison_message_reaches_the_error_output_and_its_neighbours_the_output(
        self, tmp_path: Path, nats_stream: str, workers: int
    ) -> None:
        """A message killing each worker that takes it goes to [[errors]] after max_deliveries; the rest are written.

        The workers come back after each death and are given the dead worker's
        messages again after ack_wait: one at a time, so that the messages
        fetched with the poison do not use up their deliveries with it.
        """
        publish(nats_stream, 3000)
        (tmp_path / "appcogs.py").write_text(APP_COGS)
        pipeline = tmp_path / "w.toml"
        pipeline.write_text(
            textwrap.dedent(
                f"""
                [log]
                level = "info"
                [[cog]]
                use = "stream.nats"
                stream = "{nats_stream}"
                ack_wait = 2
                max_deliveries = 3
                wait = 1
                [[cog]]
                use = "appcogs:crash_on_777"
                [[cog]]
                use = "fs.write"
                filename = "out.txt"
                [[errors]]
                use = "text.json_format"
                [[errors]]
                use = "fs.write"
                filename = "dead.txt"
                """
            )
        )
        log = tmp_path / "workers.log"
        parent = start(pipeline, "--workers", str(workers), log=log)
        try:
            wait_for(lambda: bool(lines_of(tmp_path / "dead.txt")), 120, "the poison in the error output")
            wait_for(lambda: settled(nats_stream), 60, "every message acknowledged")
        finally:
            parent.send_signal(signal.SIGTERM)
            parent.wait(timeout=60)
        text = log.read_text()
        assert text.count("was killed by SIGKILL") == 3, text
        dead = lines_of(tmp_path / "dead.txt")
        assert len(dead) == 1, dead[:3]
        assert '"line 777"' in dead[0] and "delivered 3 times and never acknowledged" in dead[0]
        assert set(lines_of(tmp_path / "out.txt")) == {f"line {i}" for i in range(3000) if i != 777}
