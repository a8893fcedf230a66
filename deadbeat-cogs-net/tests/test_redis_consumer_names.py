"""One consumer name shared by several processes is never silent.

``consumer = "NAME"`` in a pipeline run with ``--workers 2`` put both workers
under one name: each took up the other's unacknowledged messages as its own,
and 7,500 to 25,000 of 30,000 messages were written twice, exit 0, nothing in
the log. A name given is now ``NAME-wN`` in each worker; a name that read from
the group moments before the process started is warned about (the same
pipeline file started on two machines).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

redis = pytest.importorskip("redis")


@pytest.fixture
def stream() -> Iterator[tuple[Any, str]]:
    client = redis.Redis()
    name = f"deadbeat-test-names-{uuid.uuid4().hex[:10]}"
    yield client, name
    client.delete(name)
    client.close()


def _pipeline(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(
        f'[[cog]]\nuse = "stream.redis"\nstream = "{name}"\ngroup = "g"\nconsumer = "fixed"\nblock = 0.5\n'
        f'[[cog]]\nuse = "fs.write"\nfilename = "{tmp_path / "out.txt"}"\n'
    )
    return path


def test_each_worker_reads_under_a_name_of_its_own(tmp_path: Path, stream: Any) -> None:
    client, name = stream
    process = subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", str(_pipeline(tmp_path, name)), "--workers", "2"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        # Both workers waiting on the group, then messages one by one: Redis hands them to the waiting readers in turn.
        while not client.exists(name):
            assert time.monotonic() < deadline and process.poll() is None, "the workers did not start"
            time.sleep(0.05)
        time.sleep(1.5)
        for i in range(200):
            client.xadd(name, {"data": f"m{i}"})
            time.sleep(0.002)
        while True:
            out = tmp_path / "out.txt"
            # Each worker joins the group as it first reads (one may read everything before the other).
            try:
                joined = len(client.xinfo_consumers(name, "g"))
            except redis.ResponseError:  # no group yet: the workers are starting
                joined = 0
            if out.exists() and len(out.read_text().splitlines()) >= 200 and joined >= 2:
                break
            assert time.monotonic() < deadline, "the workers did not write every message"
            assert process.poll() is None, process.communicate()[1]
            time.sleep(0.05)
        names = sorted(c["name"].decode() for c in client.xinfo_consumers(name, "g"))
        assert names == ["fixed-w0", "fixed-w1"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert sorted((tmp_path / "out.txt").read_text().splitlines()) == sorted(f"m{i}" for i in range(200))


def test_a_name_that_read_moments_ago_is_warned_about(tmp_path: Path, stream: Any) -> None:
    client, name = stream
    client.xgroup_create(name, "g", id="0", mkstream=True)
    client.xadd(name, {"data": "m"})
    # Another process reading as "fixed", just now.
    client.xreadgroup("g", "fixed", {name: ">"}, count=1)
    client.xack(name, "g", *(entry[0] for entry in client.xrange(name)))
    done = subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", "--once", str(_pipeline(tmp_path, name))],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert "a consumer named fixed read from this group" in done.stderr
    assert "give each process its own consumer name" in done.stderr


def test_a_name_idle_for_long_is_not_warned_about(tmp_path: Path, stream: Any) -> None:
    client, name = stream
    client.xgroup_create(name, "g", id="0", mkstream=True)
    done = subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", "--once", str(_pipeline(tmp_path, name))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "a consumer named" not in done.stderr
