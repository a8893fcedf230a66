"""fs.write cuts back only the file of its last checkpoint, never another that took its inode number.

At start, fs.write with a ``state_file`` cuts its output (or the file it was
renamed to by a rotation while the run was down) back to the checkpoint's
offset: what lies past it is unacknowledged and is written again. The file was
found by device and inode alone. Found with a crash harness: killed, the
output rotated and compressed while the run was down (the rotated file
deleted, its inode number free), a new file in the same directory got that
number, and the restart cut it from 400,000 bytes to 23,893, someone else's
data, logged only as "cut ... bytes". The checkpoint now keeps the file's
creation time and the fingerprint of its first bytes, and a file that differs
in either is left alone.

Inode numbers cannot be handed out on demand, so these tests give the file of
the checkpoint another content under the same inode, which is what such a file
looks like to the restart.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PIPELINE = """
[[cog]]
use = "fs.tail"
filenames = ["in.txt"]
state_file = "state/positions.json"

[[cog]]
use = "fs.write"
filename = "out/out.log"
state_file = "state/positions.json"
"""

LINES = "".join(f"line {n} {'x' * 40}\n" for n in range(200))


def run_once(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", "--once", "--quiet", "pipeline.toml"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
    )


def first_run(directory: Path) -> Path:
    (directory / "pipeline.toml").write_text(PIPELINE)
    (directory / "in.txt").write_text(LINES)
    (directory / "out").mkdir()
    result = run_once(directory)
    assert result.returncode == 0, result.stderr
    out = directory / "out" / "out.log"
    assert out.read_text() == LINES
    return out


def rewrite_in_place(path: Path, text: str) -> int:
    """Give ``path`` another content, keeping its inode: :returns: the inode."""
    with path.open("r+") as file:
        file.write(text)
        file.truncate()
    return path.stat().st_ino


OTHERS = "someone else's data\n" * 2000


def test_another_file_at_the_output_name_with_its_inode_is_not_cut(tmp_path: Path) -> None:
    out = first_run(tmp_path)
    inode = out.stat().st_ino
    assert rewrite_in_place(out, OTHERS) == inode
    result = run_once(tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == OTHERS
    assert "not the file of the last checkpoint, though it has its inode number" in result.stderr


def test_another_file_at_a_rotated_name_with_its_inode_is_not_cut(tmp_path: Path) -> None:
    out = first_run(tmp_path)
    rotated = out.with_name("other.1")
    out.rename(rotated)
    rewrite_in_place(rotated, OTHERS)
    result = run_once(tmp_path)
    assert result.returncode == 0, result.stderr
    assert rotated.read_text() == OTHERS
    assert "other.1: has the inode number of the file of the last checkpoint, but is another file" in result.stderr
    assert "cut" not in result.stderr.replace("not cut", "")


def test_the_checkpoints_own_file_renamed_is_still_cut(tmp_path: Path) -> None:
    """The case the cut is for: lines written after the checkpoint to the file logrotate then renamed."""
    out = first_run(tmp_path)
    rotated = out.with_name("out.log.1")
    out.rename(rotated)
    with rotated.open("a") as file:
        file.write("written after the checkpoint\n" * 3)
    result = run_once(tmp_path)
    assert result.returncode == 0, result.stderr
    assert rotated.read_text() == LINES
    assert "out.log.1 (renamed from" in result.stderr and "cut 87 bytes" in result.stderr


def test_the_checkpoints_own_file_is_still_cut(tmp_path: Path) -> None:
    out = first_run(tmp_path)
    with out.open("a") as file:
        file.write("written after the checkpoint\n" * 3)
    result = run_once(tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == LINES
    assert "cut 87 bytes written after the last checkpoint" in result.stderr


def test_an_output_cut_in_place_by_copytruncate_is_still_its_own(tmp_path: Path) -> None:
    """logrotate's copytruncate on the output while the run goes on: the fingerprint of its first bytes was
    taken once and kept, so the next start took the file for another and cut nothing (lines repeated). It is
    looked at again at every checkpoint."""
    import signal
    import time

    (tmp_path / "pipeline.toml").write_text(PIPELINE)
    source = tmp_path / "in.txt"
    source.write_text(LINES)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "out.log"
    running = subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", "--quiet", "pipeline.toml"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not out.exists() or out.read_text() != LINES:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.5)  # a checkpoint of it
        (tmp_path / "out" / "out.log.1").write_text(out.read_text())  # copytruncate: copied, then cut
        with out.open("r+") as file:
            file.truncate(0)
        more = "".join(f"more {n} {'y' * 40}\n" for n in range(100))
        with source.open("a") as file:
            file.write(more)
        while out.read_text() != more:
            assert time.monotonic() < deadline + 30
            time.sleep(0.05)
        time.sleep(1.5)  # a checkpoint of the file as it is now
        running.send_signal(signal.SIGTERM)
        _, said = running.communicate(timeout=60)
        assert running.returncode == 0, said
    finally:
        if running.poll() is None:
            running.kill()
    result = run_once(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "not the file of the last checkpoint" not in result.stderr
    assert out.read_text() == more
