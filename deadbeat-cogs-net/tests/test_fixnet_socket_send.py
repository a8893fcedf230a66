"""socket.send over TCP to peers that take bytes into their kernel and then lose them (a reset), or never take
them: real peers on loopback, served by a thread. The drain reported everything "out" and the run exited 0 though
most of the bytes never reached the peer; now the run fails naming the bytes, and a connection that breaks while
running says that bytes the kernel had accepted may be lost."""

from __future__ import annotations

import logging
import re
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deadbeat import movement
from deadbeat.socket import SocketDrain

LINE = len(b"line 000000\n")


class Peer:
    """A TCP peer in a thread: takes connections one after another; for each, what ``behave(conn, n)`` does.

    ``received`` has what each connection's program read.
    """

    def __init__(self, behave: Callable[[socket.socket, int], None]) -> None:
        self.behave = behave
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.server.settimeout(0.1)
        self.port = self.server.getsockname()[1]
        self.received: list[bytearray] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        n = 0
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            self.received.append(bytearray())
            try:
                self.behave(conn, n)
            finally:
                conn.close()
            n += 1

    def read(self, conn: socket.socket, n: int, up_to: int | None = None) -> None:
        """Read into ``received[n]`` until EOF, ``up_to`` bytes, or the test ends."""
        conn.settimeout(0.1)
        while not self.stop.is_set() and (up_to is None or len(self.received[n]) < up_to):
            try:
                data = conn.recv(4096 if up_to is not None else 65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            self.received[n] += data

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.server.close()


def reset(conn: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0): what a crashing peer, or one that gives up, does."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class Feed(movement.Supply):
    """Sends ``batches`` batches of ``per_batch`` lines ``line NNNNNN`` from a timer (which keeps the run alive
    until the shutdown, as a tailer's would); records batch_done. ``batches`` may grow while it runs."""

    def __init__(self, esc: movement.Escapement, batches: int, per_batch: int = 1000) -> None:
        self.esc = esc
        self.batches = batches
        self.per_batch = per_batch
        self.sent = 0
        self.acked: list[Any] = []
        self._timer = esc.every(0.002, self._next)

    def _next(self) -> None:
        if self.sent >= self.batches or self.esc.is_paused(self):
            return
        start = self.sent * self.per_batch
        self.sent += 1
        lines = [f"line {i:06d}" for i in range(start, start + self.per_batch)]
        self.esc.send_from(self, movement.Batch(lines, batch_id=self.sent))

    def finish(self) -> None:
        self.esc.dequeue(self._timer)

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        self.acked.append(batch_id)


def run(esc: movement.Escapement, until: Callable[[], bool], timeout: float = 60.0) -> float:
    """Run until ``until()``, then shut down; :returns: the seconds the shutdown took."""
    deadline = time.monotonic() + timeout
    asked: list[float] = []

    def look() -> None:
        if not asked and (until() or time.monotonic() > deadline):
            asked.append(time.monotonic())
            esc.shutdown()

    esc.every(0.01, look, keeps_alive=False)
    try:
        esc.run()
    finally:
        esc.close()
    assert asked and time.monotonic() <= deadline + 30, "the run did not end"
    return time.monotonic() - asked[0]


def rig(port: int, batches: int, **params: Any) -> tuple[movement.Escapement, Feed, SocketDrain]:
    esc = movement.Escapement()
    train = movement.Train(esc)
    feed = Feed(esc, batches)
    drain = SocketDrain(esc, port=port, **params)
    train.cogs = [feed, drain]
    return esc, feed, drain


class TestBytesTheKernelAccepted:
    def test_a_peer_that_resets_with_bytes_unacknowledged_fails_the_run_at_the_end(self) -> None:
        """600 KB written (all acknowledged to the train: the kernel took them); the peer reads 20 KB and resets.
        The run fails, naming the peer and the bytes its host never acknowledged."""
        reset_now = threading.Event()

        def behave(conn: socket.socket, n: int) -> None:
            reset_now.wait(60)
            peer.read(conn, n, up_to=20_000)
            reset(conn)

        peer = Peer(behave)
        try:
            esc, feed, drain = rig(peer.port, 50)
            steps: list[str] = []

            def until() -> bool:
                if len(feed.acked) == 50 and not steps:
                    steps.append("reset")
                    reset_now.set()
                return bool(steps) and len(peer.received[0]) >= 20_000

            run(esc, until)
            time.sleep(0.1)
        finally:
            peer.close()
        total = 50 * 1000 * LINE
        [failure] = esc.failures
        assert f"tcp 127.0.0.1:{peer.port}: the connection failed (ECONNRESET" in failure, failure
        left = drain.counts["unacknowledged_bytes"]
        assert f"; {left} bytes the kernel had accepted were not acknowledged by the peer and may be lost" in failure
        assert 0 < left <= total - 20_000

    def test_a_peer_that_does_not_read_fails_the_run_at_finish_timeout(self) -> None:
        """The peer takes the connection and reads nothing: the bytes stay unacknowledged; the drain waits
        finish_timeout for them, then fails the run saying how many."""

        def behave(conn: socket.socket, n: int) -> None:
            peer.stop.wait(60)

        peer = Peer(behave)
        try:
            esc, feed, drain = rig(peer.port, 50, finish_timeout=1.0)
            took = run(esc, lambda: len(feed.acked) == 50)
        finally:
            peer.close()
        [failure] = esc.failures
        assert "the peer did not acknowledge them within finish_timeout 1 s" in failure
        left = drain.counts["unacknowledged_bytes"]
        assert left > 0 and f"; {left} bytes the kernel had accepted" in failure
        assert 0.9 <= took < 10

    def test_a_peer_that_reads_everything_and_closes_is_no_failure(self) -> None:
        """The ordinary end: the peer reads every byte (and closes); the shutdown waits for the acknowledgement
        only as long as the bytes take, and the run succeeds."""
        total = 20 * 1000 * LINE

        def behave(conn: socket.socket, n: int) -> None:
            peer.read(conn, n, up_to=total)

        peer = Peer(behave)
        try:
            esc, feed, drain = rig(peer.port, 20)
            took = run(esc, lambda: len(feed.acked) == 20)
            time.sleep(0.1)
        finally:
            peer.close()
        assert not esc.failures, esc.failures
        assert bytes(peer.received[0]) == b"".join(f"line {i:06d}\n".encode() for i in range(20_000))
        assert took < 5 and drain.counts["unacknowledged_bytes"] == 0

    def test_a_connection_broken_while_running_says_accepted_bytes_may_be_lost_and_fails_the_run(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The first connection's peer reads nothing and resets once 600 KB were accepted; more data come: the
        drain reconnects, and its warning says how many bytes the kernel had accepted and the peer never
        acknowledged. The second connection takes the rest; at the end all is acknowledged: no failure."""
        reset_now = threading.Event()

        def behave(conn: socket.socket, n: int) -> None:
            if n == 0:
                reset_now.wait(60)
                reset(conn)
                return
            peer.read(conn, n)

        peer = Peer(behave)
        try:
            esc, feed, drain = rig(peer.port, 50)  # first these; then more, after the reset
            steps: list[str] = []

            def until() -> bool:
                if len(feed.acked) == 50 and not steps:
                    steps.append("reset")
                    reset_now.set()
                elif steps == ["reset"] and len(peer.received) == 1:
                    time.sleep(0.2)  # the reset is through
                    steps.append("more")
                    feed.batches = 80
                return len(feed.acked) == 80

            with caplog.at_level(logging.WARNING, logger="deadbeat.socket"):
                run(esc, until)
            time.sleep(0.1)
        finally:
            peer.close()
        said = [
            r.getMessage()
            for r in caplog.records
            if r.name == "deadbeat.socket" and "connection lost" in r.getMessage()
        ]
        assert len(said) == 1, said
        found = re.search(
            r"(\d+) bytes the kernel had accepted were not acknowledged by the peer and may be lost", said[0]
        )
        assert found is not None and 0 < int(found.group(1)) <= 50 * 1000 * LINE, said
        assert "Connection reset by peer" in said[0]
        # The run goes on, but what may be lost makes its result failure.
        (failure,) = esc.failures
        assert "with " in failure and "bytes the peer had not acknowledged: they may be lost" in failure
        assert drain.counts["connections"] == 2

    def test_deadbeat_run_once_to_a_peer_that_resets_exits_1(self, tmp_path: Path) -> None:
        """The finding: fs.read -> socket.send --once, the peer reads 20 KB and resets. It said "out 50000" and
        exited 0 with nothing logged; now exit 1, naming the peer and the bytes not acknowledged."""

        def behave(conn: socket.socket, n: int) -> None:
            peer.read(conn, n, up_to=20_000)
            reset(conn)

        peer = Peer(behave)
        source = tmp_path / "in.txt"
        source.write_text("".join(f"line {i:06d}\n" for i in range(50_000)))
        config = tmp_path / "p.toml"
        config.write_text(
            textwrap.dedent(
                f"""
                [[cog]]
                use = "fs.read"
                filenames = ["{source}"]
                [[cog]]
                use = "socket.send"
                port = {peer.port}
                """
            )
        )
        try:
            result = subprocess.run(
                [sys.executable, "-m", "deadbeat.command", "run", str(config), "--once"],
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            peer.close()
        assert result.returncode == 1, result.stderr[-2000:]
        assert f"tcp 127.0.0.1:{peer.port}: " in result.stderr
        assert re.search(r"; \d+ bytes the kernel had accepted were not acknowledged by the peer", result.stderr)
