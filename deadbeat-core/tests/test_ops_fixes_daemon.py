"""Operability fixes around ``[daemon]``: detaching with a relative pipeline path, ``work_dir``, ``umask``.

Each test runs the real ``deadbeat`` command in a process of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from deadbeat.conf import cast_octal


def deadbeat(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def wait_for(what: Callable[[], bool], message: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def stop(pid_file: Path) -> None:
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


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


DETACHED = """
[daemon]
detach = true
pid_file = "run/d.pid"
{extra}

[log]
file = "d.log"

[[cog]]
use = "fs.tail"
filenames = ["in.txt"]
state_file = "state/positions.json"

[[cog]]
use = "fs.write"
filename = "{output}"
"""


class TestDetachedReloadWithARelativePath:
    def test_sighup_applies_an_edit_made_after_detaching(self, tmp_path: Path) -> None:
        """Started as ``deadbeat run p.toml`` (relative), the daemon changes to "/", and a SIGHUP still reads
        the file it was given: the edit is applied (it read nothing and said "unchanged")."""
        (tmp_path / "in.txt").write_text("one\n")
        pipeline = tmp_path / "p.toml"
        pipeline.write_text(DETACHED.format(extra="", output="first.txt"))
        pid_file = tmp_path / "run" / "d.pid"
        try:
            started = deadbeat(tmp_path, "run", "p.toml")
            assert started.returncode == 0, started.stderr
            wait_for(lambda: lines_of(tmp_path / "first.txt") == ["one"], "the daemon wrote nothing")
            pipeline.write_text(DETACHED.format(extra="", output="second.txt"))
            os.kill(int(pid_file.read_text()), signal.SIGHUP)
            wait_for(lambda: "reloading" in (tmp_path / "d.log").read_text(), "the SIGHUP did not reload")
            with open(tmp_path / "in.txt", "a") as source:
                source.write("two\n")
            wait_for(lambda: lines_of(tmp_path / "second.txt") == ["two"], "the reloaded pipeline wrote nothing")
        finally:
            stop(pid_file)
        log = (tmp_path / "d.log").read_text()
        assert "changed and valid" in log
        assert "unchanged" not in log
        assert lines_of(tmp_path / "first.txt") == ["one"]


FOREGROUND = """
[daemon]
{daemon}

[[cog]]
use = "fs.read"
filenames = ["in.txt"]

[[cog]]
use = "fs.write"
filename = "out.txt"
"""


class TestWorkDir:
    @pytest.mark.parametrize("kind", ["missing", "a file"])
    def test_an_unusable_work_dir_is_one_line_and_leaves_no_pid_file(self, tmp_path: Path, kind: str) -> None:
        """It was a raw FileNotFoundError traceback from the detached child, and an empty pid file stayed."""
        work_dir = tmp_path / "nowhere"
        if kind == "a file":
            work_dir.write_text("")
        (tmp_path / "in.txt").write_text("one\n")
        (tmp_path / "p.toml").write_text(DETACHED.format(extra=f'work_dir = "{work_dir}"', output="out.txt"))
        result = deadbeat(tmp_path, "run", "p.toml")
        assert result.returncode == 1
        why = "No such file or directory" if kind == "missing" else "not a directory"
        assert result.stderr.splitlines() == [f"deadbeat: p.toml: daemon: work_dir {work_dir}: {why}"]
        assert not (tmp_path / "run" / "d.pid").exists()
        assert not (tmp_path / "out.txt").exists()

    def test_a_daemon_that_fails_after_taking_the_pid_file_removes_it(self, tmp_path: Path) -> None:
        """An unknown [daemon] user is found in the detached child, after it locked the pid file: the file goes."""
        (tmp_path / "in.txt").write_text("one\n")
        (tmp_path / "p.toml").write_text(DETACHED.format(extra='user = "no-such-user-deadbeat"', output="out.txt"))
        result = deadbeat(tmp_path, "run", "p.toml")
        assert result.returncode == 1
        assert "unknown user or group" in result.stderr
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "run" / "d.pid").exists()

    def test_a_relative_work_dir_is_the_pipeline_files_directory(self, tmp_path: Path) -> None:
        """A work_dir that exists still works, relative to the pipeline file (its checks did not spoil that)."""
        (tmp_path / "in.txt").write_text("one\n")
        (tmp_path / "wd").mkdir()
        (tmp_path / "p.toml").write_text(DETACHED.format(extra='work_dir = "wd"', output="out.txt"))
        pid_file = tmp_path / "run" / "d.pid"
        try:
            result = deadbeat(tmp_path, "run", "p.toml")
            assert result.returncode == 0, result.stderr
            wait_for(lambda: lines_of(tmp_path / "out.txt") == ["one"], "the daemon wrote nothing")
            assert os.readlink(f"/proc/{int(pid_file.read_text())}/cwd") == str(tmp_path / "wd")
        finally:
            stop(pid_file)


class TestUmask:
    @pytest.mark.parametrize(("text", "mask"), [('"022"', 0o022), ('"0o27"', 0o027), ('"777"', 0o777), ('"0"', 0)])
    def test_octal_text_is_read_as_octal(self, text: str, mask: int) -> None:
        assert cast_octal(text.strip('"')) == mask

    @pytest.mark.parametrize("value", [22, 0o22, 99999, "999", "1000", "-1", "8", "", "0_22", True])
    def test_numbers_and_what_is_no_mask_are_refused(self, value: object) -> None:
        with pytest.raises(ValueError):
            cast_octal(value)

    @pytest.mark.parametrize("value", ["22", "99999", '"1000"'])
    def test_check_and_run_refuse_it_naming_the_key(self, tmp_path: Path, value: str) -> None:
        """``umask = 22`` was taken as 0o26 (twenty-two), and 99999 was accepted."""
        (tmp_path / "in.txt").write_text("one\n")
        (tmp_path / "p.toml").write_text(FOREGROUND.format(daemon=f"umask = {value}"))
        for command in ("check", "run"):
            result = deadbeat(tmp_path, command, "--once", "p.toml")
            assert result.returncode == 1, command
            said = result.stdout + result.stderr
            assert "p.toml: daemon.umask: expected octal digits in quotes" in said, said
            assert 'such as "022"' in said
        assert not (tmp_path / "out.txt").exists()

    def test_the_mask_given_is_the_one_applied(self, tmp_path: Path) -> None:
        (tmp_path / "in.txt").write_text("one\n")
        (tmp_path / "p.toml").write_text(FOREGROUND.format(daemon='umask = "027"'))
        result = deadbeat(tmp_path, "run", "--once", "p.toml")
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o640
