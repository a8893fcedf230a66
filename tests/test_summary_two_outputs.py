"""The run's summary never says more data were not written than went out.

Two outputs one after the other that could not write (both brokers out of
reach) each still held the same 20 data: the summary read "out 20 (40 of them
not written)". A datum is one datum not written, however many outputs lack it.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_two_outputs_lacking_the_same_data_count_them_once(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("".join(f"{i}\n" for i in range(20)))
    (tmp_path / "p.toml").write_text(
        '[[cog]]\nuse = "fs.read"\nfilenames = ["in.txt"]\n'
        f'[[cog]]\nuse = "stream.redis_write"\nstream = "a"\nurl = "redis://127.0.0.1:{_closed_port()}/0"\n'
        "finish_timeout = 0.5\n"
        f'[[cog]]\nuse = "stream.redis_write"\nstream = "b"\nurl = "redis://127.0.0.1:{_closed_port()}/0"\n'
        "finish_timeout = 0.5\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", "--once", "p.toml"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    _, log = process.communicate(timeout=120)
    assert process.returncode == 1
    (line,) = [line for line in log.splitlines() if "finished:" in line]
    assert "in 20, out 20 (20 of them not written, not acknowledged)" in line, line


def test_outputs_that_cannot_write_share_finish_timeout_from_the_shutdown(tmp_path: Path) -> None:
    """Each output counted its finish_timeout from its own finish: three outputs took three times as long.

    Counted from the shutdown, the later ones get what is left, a second at least:
    3 + 1 + 1 seconds here, where it was 3 + 3 + 3 (a generous bound, not a speed).
    """
    (tmp_path / "in.txt").write_text("a\nb\n")
    outputs = "".join(
        f'[[cog]]\nuse = "stream.redis_write"\nstream = "s{i}"\nurl = "redis://127.0.0.1:{_closed_port()}/0"\n'
        "finish_timeout = 3\n"
        for i in range(3)
    )
    (tmp_path / "p.toml").write_text('[[cog]]\nuse = "fs.read"\nfilenames = ["in.txt"]\n' + outputs)
    process = subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", "--once", "p.toml"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2)
    stopped = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, log = process.communicate(timeout=120)
    took = time.monotonic() - stopped
    assert process.returncode == 1
    assert took < 8, f"the shutdown took {took:.1f} s: each output counted finish_timeout from its own finish"


def test_finish_time_left_counts_from_the_shutdown() -> None:
    """The rule itself, without a clock: what is left of finish_timeout, a second at least (or all of a shorter one)."""
    from deadbeat.movement import finish_time_left

    class Stopping:
        def __init__(self, spent: float) -> None:
            self.spent = spent

        def shutdown_elapsed(self) -> float:
            return self.spent

    assert finish_time_left(Stopping(0.0), 3.0) == 3.0
    assert finish_time_left(Stopping(1.5), 3.0) == 1.5
    assert finish_time_left(Stopping(9.0), 3.0) == 1.0
    assert finish_time_left(Stopping(9.0), 0.5) == 0.5
    assert finish_time_left(object(), 3.0) == 3.0  # no shutdown known: from now
