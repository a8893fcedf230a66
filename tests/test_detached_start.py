"""``[daemon] detach = true``: the command that started the daemon says whether the pipeline started.

The original process exited 0 as soon as the daemon held its pid file, before
the pipeline was built: an input that could not be opened, or a metrics port
in use, then ended the daemon with nothing on the terminal and, without a
``[log]`` file, nothing anywhere, while the start script saw success. It now
waits for the daemon's first turn, shows what the daemon wrote to standard
error until then, and exits 1 when the start failed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def pipeline(tmp_path: Path, source: str, log_file: bool = False) -> Path:
    (tmp_path / "run").mkdir(mode=0o700)
    text = f"""
[daemon]
detach = true
pid_file = "{tmp_path}/run/d.pid"
"""
    if log_file:
        text += f'\n[log]\nfile = "{tmp_path}/d.log"\n'
    text += f"""
[[cog]]
use = "fs.tail"
filenames = ["{source}"]

[[cog]]
use = "fs.write"
filename = "{tmp_path}/out.txt"
"""
    path = tmp_path / "pipeline.toml"
    path.write_text(text)
    return path


def start(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", *args, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def stop(tmp_path: Path) -> None:
    pid_file = tmp_path / "run" / "d.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def test_a_daemon_that_started_makes_the_start_exit_0(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("one\n")
    path = pipeline(tmp_path, str(source), log_file=True)
    try:
        started = start(path)
        assert started.returncode == 0, started.stderr
        deadline = time.monotonic() + 10
        while not (tmp_path / "out.txt").exists() or (tmp_path / "out.txt").read_text() != "one\n":
            assert time.monotonic() < deadline, "the daemon wrote nothing"
            time.sleep(0.05)
    finally:
        stop(tmp_path)


def test_a_missing_input_fails_the_start_and_says_why(tmp_path: Path) -> None:
    """fs.tail of a file that is not there waits for it; fs.read fails: the start says so and exits 1."""
    path = pipeline(tmp_path, str(tmp_path / "missing.txt"))
    path.write_text(path.read_text().replace('use = "fs.tail"', 'use = "fs.read"'))
    try:
        started = start(path)
        assert started.returncode == 1, started.stderr
        assert "missing.txt: cannot read: no such file" in started.stderr
        assert "deadbeat: started, but has failed already:" in started.stderr
        # Without a [log] file, the operator learns where the log goes from here on.
        assert "detached without a [log] file or syslog: from here on the log goes nowhere" in started.stderr
    finally:
        stop(tmp_path)


def test_a_daemon_that_cannot_start_fails_the_start(tmp_path: Path) -> None:
    """A metrics port in use ends the daemon before its first turn: its error shows, and the start exits 1."""
    source = tmp_path / "in.txt"
    source.write_text("one\n")
    path = pipeline(tmp_path, str(source))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = start(path, "--metrics-port", str(port))
    assert started.returncode == 1, started.stderr
    assert f"cannot serve metrics on 127.0.0.1:{port}" in started.stderr
    assert not (tmp_path / "run" / "d.pid").exists()
