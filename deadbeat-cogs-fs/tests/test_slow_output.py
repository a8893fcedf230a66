"""A slow reader never stalls the loop: fs.write to a FIFO, with a real process and real signals.

The reader of the FIFO stops reading while ``deadbeat run`` has much more to
write. The loop must go on (timers, signals): SIGTERM ends the run after at
most ``shutdown_timeout`` seconds of waiting, saying so, and what the reader
did not take is read again at the next start.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from deadbeat import fs, movement
from deadbeat.testing import wait_for_handler

LINES = 60_000


def write_input(path: Path) -> list[str]:
    lines = [f"line {n:06} " + "x" * 40 for n in range(LINES)]
    path.write_text("\n".join(lines) + "\n")
    return lines


class Reader(threading.Thread):
    """Reads the FIFO: what it was allowed to, then (when told) everything up to end of file."""

    def __init__(self, fifo: Path, first: int) -> None:
        super().__init__(daemon=True)
        self.fifo = fifo
        self.first = first
        self.data = bytearray()
        self.took_first = threading.Event()
        self.go_on = threading.Event()

    def run(self) -> None:
        with open(self.fifo, "rb", buffering=0) as handle:
            while len(self.data) < self.first:
                chunk = handle.read(self.first - len(self.data))
                if not chunk:
                    break
                self.data += chunk
            self.took_first.set()
            self.go_on.wait()
            while chunk := handle.read(1 << 16):
                self.data += chunk


def pipeline(root: Path, fifo: Path) -> Path:
    config = root / "pipeline.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [log]
            level = "info"
            [[cog]]
            use = "fs.tail"
            filenames = ["{root / "app.log"}"]
            state_file = "{root / "state.json"}"
            state_interval = 0.05
            read_size = 8192
            [[cog]]
            use = "fs.write"
            filename = "{fifo}"
            state_file = "{root / "state.json"}"
            shutdown_timeout = 0.5
            """
        )
    )
    return config


def start(config: Path, stderr: Path) -> subprocess.Popen[bytes]:
    with open(stderr, "ab") as err:
        return subprocess.Popen([sys.executable, "-m", "deadbeat.command", "run", str(config)], stderr=err)


class TestFifoOutput:
    def test_sigterm_ends_the_run_while_the_reader_sleeps_and_nothing_is_lost(self, tmp_path: Path) -> None:
        """The reader stops; SIGTERM ends the run after shutdown_timeout, logged; a restart delivers the rest."""
        lines = write_input(tmp_path / "app.log")
        fifo = tmp_path / "out.fifo"
        os.mkfifo(fifo)
        config = pipeline(tmp_path, fifo)
        stderr = tmp_path / "stderr.log"

        reader = Reader(fifo, first=100_000)
        reader.start()
        process = start(config, stderr)
        assert reader.took_first.wait(60)
        # The process is writing into a full pipe now; give it time to be in its loop.
        time.sleep(1.0)
        sent = datetime.datetime.now()
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        # Without non-blocking writes this waits for ever: the reader reads nothing more.
        status = process.wait(timeout=30)
        # Ended after shutdown_timeout = 0.5 s (it took 73 s when the write
        # blocked the loop). Not a speed figure: a bound with ample room for a
        # loaded machine, far below what systemd allows (90 s).
        assert time.monotonic() - signalled < 10.0
        log = stderr.read_text()
        assert status == 1, log[-2000:]
        (received,) = [line for line in log.splitlines() if "received SIGTERM" in line]
        # Acted on within a second (it was noticed after 52 s): the log line's own time says when.
        noticed = datetime.datetime.strptime(received[:23], "%Y-%m-%d %H:%M:%S,%f")
        assert (noticed - sent).total_seconds() < 1.0, received
        assert "waiting up to 0.5 s (shutdown_timeout)" in log
        assert "the reader took no more within shutdown_timeout = 0.5 s" in log
        reader.go_on.set()
        reader.join(timeout=30)
        # The deadline may cut a line: the reader sees its start without a
        # newline, at the end of the stream; it comes whole at the next start.
        first_run = reader.data.decode().split("\n")[:-1]
        assert len(first_run) < LINES  # the reader really was behind

        # The next start, with a reader that keeps up, delivers the rest.
        reader = Reader(fifo, first=0)
        reader.go_on.set()
        reader.start()
        process = start(config, stderr)
        started = time.monotonic()
        while reader.data.count(b"\n") + len(first_run) < LINES and time.monotonic() < started + 60:
            time.sleep(0.05)
        # A process still importing Python has no handler yet: SIGTERM would kill it outright.
        wait_for_handler(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, stderr.read_text()[-2000:]
        reader.join(timeout=30)
        second_run = reader.data.decode().splitlines()

        delivered = first_run + second_run
        assert set(delivered) == set(lines)  # nothing lost
        # A FIFO cannot be cut back: what the reader took of a batch that was not
        # acknowledged comes again, and only that (at most one read_size of lines).
        assert len(delivered) - LINES <= 8192 // 40

    def test_a_reader_that_goes_away_ends_the_run_at_once_failed_and_said_once(self, tmp_path: Path) -> None:
        """The reader takes part of the output and closes the FIFO (``| head``): the run ends by itself, failed.

        Broken pipe was tried again at every wake-up of the descriptor, which
        stays "ready" once its reader is gone: 100% CPU and ~35,000 identical
        ERROR lines a second, until SIGTERM (or shutdown_timeout) ended it.
        """
        lines = write_input(tmp_path / "app.log")
        fifo = tmp_path / "out.fifo"
        os.mkfifo(fifo)
        config = pipeline(tmp_path, fifo)
        stderr = tmp_path / "stderr.log"

        def read_some_and_go() -> None:
            with open(fifo, "rb", buffering=0) as handle:
                handle.read(100)

        reader = threading.Thread(target=read_some_and_go, daemon=True)
        reader.start()
        process = start(config, stderr)
        status = process.wait(timeout=60)
        log = stderr.read_text()
        assert status == 1, log[-2000:]
        # Said when it failed, and in the run's summary.
        assert log.count("cannot write (Broken pipe)") == 2, log[-2000:]
        assert len(log.splitlines()) < 20, log[-2000:]
        # Nothing it could not write is acknowledged: the next start, with a reader, delivers every line from
        # the first that was not written into the pipe on (those in the pipe when its reader left are gone,
        # for any writer).
        taken = bytearray()

        def read_all() -> None:
            with open(fifo, "rb", buffering=0) as handle:
                while chunk := handle.read(1 << 16):
                    taken.extend(chunk)

        reader = threading.Thread(target=read_all, daemon=True)
        reader.start()
        process = start(config, stderr)
        started = time.monotonic()
        while lines[-1] not in taken.decode(errors="replace") and time.monotonic() < started + 60:
            time.sleep(0.05)
        wait_for_handler(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, stderr.read_text()[-2000:]
        reader.join(timeout=30)
        second_run = taken.decode().splitlines()
        first = lines.index(second_run[0])
        assert 0 < first <= (65536 + 8192) // 40  # what went into the pipe: its buffer, and a batch
        assert second_run == lines[first:]


class TestLoopKeepsTurning:
    def test_timers_run_while_the_reader_is_behind(self, tmp_path: Path) -> None:
        """While the FIFO is full, reading pauses and the loop's timers keep firing."""
        write_input(tmp_path / "app.log")
        fifo = tmp_path / "out.fifo"
        os.mkfifo(fifo)
        reader = Reader(fifo, first=10_000)
        reader.start()
        esc = movement.Escapement()
        supply = fs.FileWatcherSupply(esc, [str(tmp_path / "app.log")], read_size=8192)
        drain = fs.LineFileDrain(esc, str(fifo), shutdown_timeout=0)
        movement.Train(esc, [supply, drain])
        ticks_while_full = 0
        paused_seen = 0
        read_while_full: list[float] = []

        def tick() -> None:
            nonlocal ticks_while_full, paused_seen
            if drain._waiting:
                ticks_while_full += 1
                paused_seen += esc.is_paused(supply)
                read_while_full.append(supply.metrics()["bytes_read_total"])
            if ticks_while_full >= 20:
                esc.shutdown()

        esc.every(0.01, tick, keeps_alive=False)
        esc.run()
        esc.close()
        reader.go_on.set()
        reader.join(timeout=30)
        assert ticks_while_full >= 20
        assert any("shutdown_timeout = 0 s" in failure for failure in esc.failures)
        # Reading paused while the output waited: the supply did not go on reading
        # the 3 MB file into memory (it reads it in a fraction of that time).
        assert paused_seen >= 1
        assert read_while_full[-1] < (tmp_path / "app.log").stat().st_size / 2

    def test_shutdown_timeout_is_checked(self, tmp_path: Path) -> None:
        """A negative deadline is refused, naming the option."""
        try:
            fs.LineFileDrain(movement.DummyEscapement(), str(tmp_path / "out"), shutdown_timeout=-1)
        except ValueError as exc:
            assert "shutdown_timeout" in str(exc)
        else:
            raise AssertionError("a negative shutdown_timeout was taken")
