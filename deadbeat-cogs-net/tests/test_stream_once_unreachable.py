"""``stream.redis`` and ``stream.nats`` with ``--once`` when the broker cannot be used: the run fails.

A cron job reading a stream whose broker was out of reach (a wrong port, a host
that does not resolve) retried for ever, and after SIGTERM summed up "in 0, out
0, errors 0" with exit status 0: success, having never connected. A refused
Redis password was taken for "out of reach" too. Now, with ``--once``, a broker
out of reach for :data:`~deadbeat.stream._supply.ONCE_PATIENCE` seconds ends
the run, failed; a run stopped before the broker was ever reached fails; a
refused password fails at once. Every run is a real ``deadbeat run`` process
against closed ports, or a redis-server of the test's own.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

REDIS_SERVER = "/usr/bin/redis-server"

# The command, with the patience cut short so that the test need not wait 30 s.
RUN_WITH_SHORT_PATIENCE = """
import sys
from deadbeat.stream import _supply
_supply.ONCE_PATIENCE = 1.0
from deadbeat.command import main
sys.exit(main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_pipeline(tmp_path: Path, url: str, password: str | None = None) -> Path:
    secret = f'password = "{password}"\n' if password else ""
    path = tmp_path / "pipeline.toml"
    path.write_text(
        f"""
[[cog]]
use = "stream.redis"
stream = "deadbeat-test-once"
group = "g"
url = "{url}"
{secret}block = 0.5

[[cog]]
use = "fs.write"
filename = "out.txt"
"""
    )
    return path


def nats_pipeline(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(
        f"""
[[cog]]
use = "stream.nats"
stream = "deadbeat-test-once"
durable = "d"
servers = ["{server}"]
wait = 0.5

[[cog]]
use = "fs.write"
filename = "out.txt"
"""
    )
    return path


def run(path: Path, short_patience: bool = True) -> subprocess.CompletedProcess[str]:
    command = ["-c", RUN_WITH_SHORT_PATIENCE] if short_patience else ["-m", "deadbeat.command"]
    return subprocess.run(
        [sys.executable, *command, "run", "--once", "--quiet", str(path)],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_redis_out_of_reach_fails_a_once_run(tmp_path: Path) -> None:
    result = run(redis_pipeline(tmp_path, f"redis://127.0.0.1:{free_port()}/0"))
    assert result.returncode == 1, result.stderr
    assert "broker out of reach for" in result.stderr and "with --once" in result.stderr


def test_nats_out_of_reach_fails_a_once_run(tmp_path: Path) -> None:
    result = run(nats_pipeline(tmp_path, f"nats://127.0.0.1:{free_port()}"))
    assert result.returncode == 1, result.stderr
    assert "broker out of reach for" in result.stderr and "with --once" in result.stderr


def test_stopped_before_the_broker_was_reached_fails(tmp_path: Path) -> None:
    """SIGTERM while the broker was still out of reach: the summary said errors 0 and the exit status was 0."""
    path = redis_pipeline(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    process = subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", "--once", "--quiet", str(path)],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Signalled once it has started and met the broker out of reach (before, a slow start-up takes
    # SIGTERM's default action and dies with -15).
    assert process.stderr is not None
    said = ""
    while "broker out of reach" not in said:
        line = process.stderr.readline()
        assert line, said
        said += line
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)[1], None
    stderr = said + rest
    assert process.returncode == 1, stderr
    assert "stopped before the broker was ever reached; nothing was read" in stderr


def test_a_refused_redis_password_fails_at_once(tmp_path: Path) -> None:
    """redis-py makes a wrong password a ConnectionError; it was retried for ever as "out of reach"."""
    port = free_port()
    server = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path), "--save", ""]
        + ["--requirepass", "right"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        probe = redis.Redis(port=port, password="right")
        for _ in range(200):
            try:
                if probe.ping():
                    break
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        probe.close()
        result = run(redis_pipeline(tmp_path, f"redis://127.0.0.1:{port}/0", password="wrong"), short_patience=False)
        assert result.returncode == 1, result.stderr
        # Stopped at the first refusal, not retried with back-off (counted, not timed).
        tries = [
            line for line in result.stderr.splitlines() if "deadbeat.stream[" in line and "AuthenticationError" in line
        ]
        assert len(tries) == 1, result.stderr
        assert "out of reach" not in result.stderr
        assert "AuthenticationError" in result.stderr
        assert "wrong" not in result.stderr.replace("WRONGPASS", "")  # the password itself is never shown
    finally:
        server.kill()
        server.wait()
