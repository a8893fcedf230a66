"""Operability fixes of ``--metrics-port``: a scraper that gave up, ``deadbeat_failures`` across a reload."""

from __future__ import annotations

import logging
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from deadbeat import metrics, movement

pytest.importorskip("prometheus_client")


def wait_for(what: Callable[[], bool], message: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def scrape_and_leave(port: int, path: str) -> None:
    """Ask, then go away at once with a reset (as a scraper whose timeout ran out does)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class TestAScraperThatWentAway:
    def test_no_traceback_on_stderr_a_debug_line_instead(self, capfd: pytest.CaptureFixture[str]) -> None:
        """The loop does not answer in time (stuck): by then the client has gone; the answer's BrokenPipeError
        was "Exception occurred during processing of request" and a traceback, printed past logging."""

        class Kept(logging.Handler):
            def __init__(self) -> None:
                super().__init__(logging.DEBUG)
                self.records: list[logging.LogRecord] = []

            def emit(self, record: logging.LogRecord) -> None:
                self.records.append(record)

        kept = Kept()
        logger = logging.getLogger("deadbeat.metrics")
        # Only here: whatever handlers earlier tests left on the root logger stay out of it.
        saved = logger.level, logger.propagate
        logger.addHandler(kept)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        esc = movement.Escapement()  # never run: the loop does not answer, as a busy one
        server = metrics.MetricsServer(esc, lambda: [], port=0, timeout=0.3)
        server.start()
        try:
            for path in ("/metrics", "/health", "/ready", "/nothing"):
                scrape_and_leave(server.port, path)
            time.sleep(1.5)  # each answer waits 0.3 s for the loop, then finds nobody to write to
            # The server still answers those who wait.
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=10)
            assert caught.value.code == 503
        finally:
            server.close()
            esc.close()
            logger.removeHandler(kept)
            logger.level, logger.propagate = saved
        err = capfd.readouterr().err
        assert "Traceback" not in err and "Exception occurred" not in err and "BrokenPipe" not in err, err
        gone = [r for r in kept.records if "went away before the answer was sent" in r.getMessage()]
        assert gone and all(r.levelno == logging.DEBUG for r in gone)
        assert not [r for r in kept.records if r.levelno >= logging.WARNING]

    def test_with_a_real_run_whose_loop_is_busy(self, tmp_path: Path) -> None:
        """``deadbeat run --metrics-port``, a cog holding the loop 7 s (past the 5 s the server waits), scrapers
        giving up: the run's standard error has no traceback, and the run ends well."""
        (tmp_path / "slow.py").write_text(
            "import time\n\ndef stall(datum):\n    if datum == 'stall':\n        time.sleep(7)\n    return (datum,)\n"
        )
        (tmp_path / "in.txt").write_text("")
        (tmp_path / "p.toml").write_text(
            '[[cog]]\nuse = "fs.tail"\nfilenames = ["in.txt"]\n\n[[cog]]\nuse = "slow:stall"\n\n'
            '[[cog]]\nuse = "fs.write"\nfilename = "out.txt"\n'
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", "--quiet", "--metrics-port", "0", "p.toml"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stderr is not None
            line = process.stderr.readline()
            while "metrics at http://" not in line:
                assert line, "the run ended before serving metrics"
                line = process.stderr.readline()
            port = int(re.search(r":(\d+)/metrics", line).group(1))  # type: ignore[union-attr]
            with open(tmp_path / "in.txt", "a") as source:
                source.write("stall\n")
            time.sleep(1)  # the loop is in the cog now
            for path in ("/metrics", "/health", "/ready"):
                scrape_and_leave(port, path)
            wait_for(lambda: (tmp_path / "out.txt").exists(), "the stalled datum was never written")
            time.sleep(0.5)
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert "Traceback" not in err and "Exception occurred" not in err and "BrokenPipe" not in err, err


RELOADED = """# {version}
[log]
file = "d.log"

[[cog]]
use = "fs.tail"
filenames = ["in.txt"]
state_file = "state/positions.json"

[[cog]]
use = "fs.write"
filename = "out/out.txt"
state_file = "state/positions.json"
"""


def failures_shown(port: int) -> str | None:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None  # between two pipelines: 503
    found = re.search(r"^deadbeat_failures (\S+)$", text, re.MULTILINE)
    return found.group(1) if found else None


class TestFailuresAcrossAReload:
    def test_the_count_is_kept_as_the_exit_status_is(self, tmp_path: Path) -> None:
        """A failure (fs.write cannot reopen its file at a SIGHUP), then a reload: /metrics said 0 failures
        though the run went on to exit 1; it says 1, before and after the reload."""
        (tmp_path / "in.txt").write_text("one\n")
        (tmp_path / "out").mkdir()
        pipeline = tmp_path / "p.toml"
        pipeline.write_text(RELOADED.format(version="v1"))
        log_file = tmp_path / "d.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", "--quiet", "--metrics-port", "0", "p.toml"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: log_file.exists() and "metrics at http://" in log_file.read_text(), "no metrics")
            port = int(re.search(r":(\d+)/metrics", log_file.read_text()).group(1))  # type: ignore[union-attr]
            wait_for(lambda: (tmp_path / "out" / "out.txt").exists(), "nothing written")
            wait_for(lambda: failures_shown(port) == "0.0", "no deadbeat_failures 0 at the start")
            (tmp_path / "out" / "out.txt").unlink()
            (tmp_path / "out").rmdir()
            process.send_signal(signal.SIGHUP)  # the file is unchanged: fs.write reopens, and cannot
            wait_for(lambda: failures_shown(port) == "1.0", "the failure to reopen was not counted")
            (tmp_path / "out").mkdir()
            pipeline.write_text(RELOADED.format(version="v2"))
            process.send_signal(signal.SIGHUP)
            wait_for(lambda: "the new pipeline starts where the old one stopped" in log_file.read_text(), "no reload")
            wait_for(lambda: failures_shown(port) is not None, "no /metrics after the reload")
            assert failures_shown(port) == "1.0"
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        assert process.returncode == 1
        log = log_file.read_text()
        assert "cannot reopen" in log and "p.toml failed:" in log
