"""The state file cannot be saved (its disk is full): said plainly, and a stop then fails the run.

Found with a harness that filled the state's file system while a pipeline ran:
each checkpoint logged a raw traceback from a timer, nothing said that the
positions were no longer kept, and SIGTERM ended with "errors 0" and exit
status 0, though the final save had failed: the next start cut the output back
and read 100 lines again (an output that cannot be cut back would have written
them twice). The file system here is a small tmpfs of the test's own (root).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "st"
    where.mkdir(mode=0o700)
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs: run it as root (CI does)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path) -> Path:
    filler = directory / "fill"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def wait_for_lines(path: Path, count: int) -> None:
    deadline = time.monotonic() + 30
    while not path.exists() or len(path.read_text().splitlines()) < count:
        assert time.monotonic() < deadline, f"{path} has not got {count} lines"
        time.sleep(0.05)


def test_a_failing_save_is_said_and_fails_the_stop(tmp_path: Path, small_disk: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(f"a {n}\n" for n in range(100)))
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(
        f"""
[[cog]]
use = "fs.tail"
filenames = ["{log}"]
state_file = "{small_disk}/state"
state_interval = 0.2

[[cog]]
use = "fs.write"
filename = "{tmp_path}/out.log"
state_file = "{small_disk}/state"
"""
    )
    out = tmp_path / "out.log"
    stderr = (tmp_path / "run.txt").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", "--quiet", str(pipeline)], stderr=stderr, cwd=tmp_path
    )
    try:
        wait_for_lines(out, 100)
        time.sleep(0.5)  # a checkpoint of the first 100
        filler = fill(small_disk)
        with log.open("a") as file:
            file.write("".join(f"b {n}\n" for n in range(100)))
        wait_for_lines(out, 200)
        time.sleep(1.5)  # checkpoints fail meanwhile
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 1
    finally:
        if process.poll() is None:
            process.kill()
    said = (tmp_path / "run.txt").read_text()
    assert "Traceback" not in said, said
    assert "cannot save the positions (No space left on device); trying again" in said
    assert "failed:" in said and "what was read since the last save is read again at the next start" in said
    # Room again: the next run cuts the output back and reads the 100 lines again, once.
    filler.unlink()
    again = subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", "--once", "--quiet", str(pipeline)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    lines = out.read_text().splitlines()
    assert sorted(lines) == sorted([f"a {n}" for n in range(100)] + [f"b {n}" for n in range(100)])
