"""``deadbeat run --workers N`` under systemd: the supervisor speaks for its workers truthfully.

It said ``READY=1`` as soon as it had forked them, before any had built its
pipeline (or found it could not), and pinged the watchdog from its own wait,
whatever the workers' loops did: a worker stuck in a cog went on being
reported alive. Now ``READY=1`` waits for every worker's, a worker that cannot
start fails the start, and the pings go only while every worker's loop pings.

Each test runs the real command with ``$NOTIFY_SOCKET`` on a datagram socket of
its own, and a pipeline of application cogs: a supply that several workers may
share (a tick on a timer), and a cog that starts slowly, fails to start, or
blocks its loop, in the worker the test picks.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

APP = '''
import os
import time
from pathlib import Path

from deadbeat import movement

HERE = Path(__file__).parent


class Ticks(movement.Supply):
    """A tick every 50 ms, in each worker."""

    shareable = True

    def __init__(self, esc):
        esc.every(0.05, self.tick)

    def tick(self):
        return ["tick"]


class Worker(movement.Cog):
    """Starts slowly, or not at all, in the worker named; blocks its loop when told to."""

    def __init__(self, slow_worker: int = -1, failing_worker: int = -1):
        self.index = int(os.environ["DEADBEAT_WORKER"])
        if self.index == failing_worker:
            raise RuntimeError(f"worker {self.index} cannot start, on purpose")
        if self.index == slow_worker:
            time.sleep(2)
        (HERE / f"built-{self.index}").write_text("")

    def __call__(self, datum):
        trigger = HERE / f"stall-{self.index}"
        if trigger.exists():
            trigger.unlink()
            (HERE / f"stalling-{self.index}").write_text("")
            time.sleep(3)  # a cog stuck in a blocking call
        return ()
'''


def pipeline(tmp_path: Path, **worker: int) -> Path:
    (tmp_path / "app.py").write_text(APP)
    params = "".join(f"{key} = {value}\n" for key, value in worker.items())
    path = tmp_path / "p.toml"
    path.write_text(f'[[cog]]\nuse = "app:Ticks"\n\n[[cog]]\nuse = "app:Worker"\n{params}')
    return path


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[socket.socket]:
    made = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    made.bind(str(tmp_path / "notify"))
    made.settimeout(30)
    yield made
    made.close()


def start(tmp_path: Path, workers: int, watchdog_usec: int | None = None) -> subprocess.Popen[bytes]:
    environ = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "JOURNAL_STREAM": ""}
    environ.pop("WATCHDOG_PID", None)
    environ.pop("WATCHDOG_USEC", None)
    if watchdog_usec is not None:
        environ["WATCHDOG_USEC"] = str(watchdog_usec)
    return subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", "--quiet", "--workers", str(workers), "p.toml"],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "run.err", "w"),  # noqa: SIM115 - the child holds it
    )


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


def receive(listener: socket.socket) -> tuple[float, str]:
    message = listener.recv(4096).decode()
    return time.monotonic(), message


class TestReady:
    def test_ready_waits_for_every_worker(self, tmp_path: Path, listener: socket.socket) -> None:
        """Worker 1 takes 2 s to build its pipeline: READY=1 comes after it has, not as the workers are forked."""
        pipeline(tmp_path, slow_worker=1)
        began = time.monotonic()
        process = start(tmp_path, 2)
        try:
            _, first = receive(listener)
            assert first == "READY=1\nSTATUS=2 workers started", first
            assert (tmp_path / "built-0").exists() and (tmp_path / "built-1").exists()
            assert time.monotonic() - began >= 2
        finally:
            assert stop(process) == 0, (tmp_path / "run.err").read_text()

    def test_a_worker_that_cannot_start_fails_the_start(self, tmp_path: Path, listener: socket.socket) -> None:
        """Worker 1 cannot build its pipeline: no READY=1, worker 0 is stopped in order, and the supervisor exits 1."""
        pipeline(tmp_path, failing_worker=1)
        process = start(tmp_path, 2)
        try:
            status = process.wait(timeout=60)
        finally:
            stop(process)
        messages = []
        listener.settimeout(1)
        try:
            while True:
                messages.append(listener.recv(4096).decode())
        except TimeoutError:
            pass
        err = (tmp_path / "run.err").read_text()
        assert status == 1, err
        assert not any(m.startswith("READY=1") for m in messages), messages
        assert any(m.startswith("STOPPING=1") for m in messages), messages
        assert "worker 1 cannot start, on purpose" in err
        assert "1 of 2 workers could not start (worker 1); stopping the others" in err
        assert "worker 0 (pid" in err and "ended" in err


class TestWatchdog:
    def test_a_stuck_worker_stops_the_pings(self, tmp_path: Path, listener: socket.socket) -> None:
        """Worker 1's loop is held 3 s in a cog: the supervisor's WATCHDOG=1 pings stop meanwhile (systemd, with
        WatchdogSec= shorter than that, would restart the service), and go on once the loop turns again."""
        pipeline(tmp_path)
        process = start(tmp_path, 2, watchdog_usec=400_000)  # the supervisor pings every 0.2 s
        pings: list[float] = []
        try:
            at, first = receive(listener)
            assert first.startswith("READY=1"), first
            while len(pings) < 5:
                at, message = receive(listener)
                if message == "WATCHDOG=1":
                    pings.append(at)
            (tmp_path / "stall-1").write_text("")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                at, message = receive(listener)
                if message == "WATCHDOG=1":
                    pings.append(at)
                    if at - pings[-2] > 2 and len(pings) > 8:
                        break
            # Pinging again once the loop turns.
            for _ in range(3):
                at, message = receive(listener)
                assert message == "WATCHDOG=1", message
                pings.append(at)
        finally:
            assert stop(process) == 0, (tmp_path / "run.err").read_text()
        assert (tmp_path / "stalling-1").exists()
        gaps = [later - earlier for earlier, later in zip(pings, pings[1:], strict=False)]
        assert max(gaps) > 2, gaps  # they went on every 0.2 s
        assert max(gaps[:4]) < 1, gaps
        err = (tmp_path / "run.err").read_text()
        assert "worker 1 (pid" in err and "its loop has not pinged for" in err
        assert "pings again" in err

    def test_workers_that_turn_keep_the_pings_going(self, tmp_path: Path, listener: socket.socket) -> None:
        pipeline(tmp_path)
        process = start(tmp_path, 2, watchdog_usec=400_000)
        pings: list[float] = []
        try:
            _, first = receive(listener)
            assert first.startswith("READY=1"), first
            while len(pings) < 15:
                at, message = receive(listener)
                if message == "WATCHDOG=1":
                    pings.append(at)
        finally:
            assert stop(process) == 0, (tmp_path / "run.err").read_text()
        gaps = [later - earlier for earlier, later in zip(pings, pings[1:], strict=False)]
        assert max(gaps) < 1, gaps
        assert "has not pinged" not in (tmp_path / "run.err").read_text()
