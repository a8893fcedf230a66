"""`deadbeat check` says ok exactly when `deadbeat run` would start: the pid file's place, and `--once`.

Every test runs the real commands, each in a process of its own, on real files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

READ_TO_FILE = """
[[cog]]
use = "fs.read"
filenames = ["in.txt"]

[[cog]]
use = "fs.write"
filename = "out.txt"
"""


def deadbeat(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def pipeline(tmp_path: Path, body: str) -> None:
    (tmp_path / "pipeline.toml").write_text(textwrap.dedent(body))
    (tmp_path / "in.txt").write_text("one\ntwo\n")


def daemon_section(detach: bool, pid_file: str = "run/d.pid") -> str:
    return f"""
    [daemon]
    detach = {"true" if detach else "false"}
    pid_file = "{pid_file}"
    """


def wait_until(condition: object, limit: float = 30) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


class TestPidFileDirectory:
    @pytest.mark.parametrize("detach", [True, False], ids=["detached", "foreground"])
    def test_missing_directories_are_made_private(self, tmp_path: Path, detach: bool) -> None:
        """pid_file = "run/d.pid" with no run/: check said ok, and run failed ("cannot open its directory"); the
        directories are made now, mode 0700, as a state file's are, and the run goes through."""
        pipeline(tmp_path, daemon_section(detach, "run/deeper/d.pid") + READ_TO_FILE)
        checked = deadbeat(tmp_path, "check", "pipeline.toml")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout == "pipeline.toml: ok\n"
        ran = deadbeat(tmp_path, "run", "pipeline.toml")
        assert ran.returncode == 0, ran.stderr
        assert "cannot open" not in ran.stderr
        # Detached, the command returns once the daemon holds its pid file; it reads to the end and goes.
        assert wait_until(
            lambda: (tmp_path / "out.txt").exists() and (tmp_path / "out.txt").read_text() == "one\ntwo\n"
        )
        assert wait_until(lambda: not (tmp_path / "run" / "deeper" / "d.pid").exists()), "pid file left behind"
        for made in (tmp_path / "run", tmp_path / "run" / "deeper"):
            st = os.stat(made)
            assert st.st_mode & 0o777 == 0o700, f"{made}: mode {st.st_mode & 0o777:o}"
            assert st.st_uid == os.geteuid()

    @pytest.mark.parametrize("place", ["file in the way", "link at the pid file", "shared directory"])
    def test_what_the_run_refuses_check_reports_as_an_error(self, tmp_path: Path, place: str) -> None:
        """Where run would refuse the pid file, check says so, naming pid_file, rather than ok."""
        pipeline(tmp_path, daemon_section(True) + READ_TO_FILE)
        victim = tmp_path / "victim.txt"
        victim.write_text("keep me\n")
        if place == "file in the way":
            (tmp_path / "run").write_text("")
            expected = f"cannot create {tmp_path}/run/d.pid: {tmp_path}/run is not a directory"
        elif place == "link at the pid file":
            (tmp_path / "run").mkdir(mode=0o700)
            os.symlink(victim, tmp_path / "run" / "d.pid")
            expected = f"{tmp_path}/run/d.pid: is a symbolic link; a pid file is never written through one"
        else:
            (tmp_path / "run").mkdir()
            os.chmod(tmp_path / "run", 0o777)
            expected = f"{tmp_path}/run: will not use d.pid in a directory writable by others"
        checked = deadbeat(tmp_path, "check", "pipeline.toml")
        assert checked.returncode == 1, checked.stdout
        assert checked.stdout.startswith(f"pipeline.toml: [daemon]: pid_file: {expected}"), checked.stdout
        ran = deadbeat(tmp_path, "run", "pipeline.toml")
        assert ran.returncode == 1
        assert "pipeline.toml: daemon: " in ran.stderr
        assert victim.read_text() == "keep me\n"
        assert not (tmp_path / "out.txt").exists()


TAIL_MISSING = """
[[cog]]
use = "fs.tail"
filenames = ["missing.txt"]

[[cog]]
use = "fs.write"
filename = "out.txt"
"""


class TestCheckOnce:
    def test_a_missing_file_is_an_error_when_checked_as_run_once(self, tmp_path: Path) -> None:
        """fs.tail of a file not there: a warning for a run that follows files, an error with --once, for
        run --once fails on it; check had no way to say so."""
        (tmp_path / "pipeline.toml").write_text(TAIL_MISSING)
        missing = f"pipeline.toml: cog[0] (fs.tail): filenames: {tmp_path}/missing.txt matches no file now"
        following = deadbeat(tmp_path, "check", "pipeline.toml")
        assert following.returncode == 0, following.stdout + following.stderr
        assert following.stdout.splitlines() == [
            f"{missing}; read when it appears (warning)",
            "pipeline.toml: ok, 1 warning",
        ]
        once = deadbeat(tmp_path, "check", "--once", "pipeline.toml")
        assert once.returncode == 1, once.stdout + once.stderr
        assert once.stdout.splitlines() == [
            f"{missing}; run --once reads what is there and fails without it (missing_ok = true allows it)"
        ]
        assert "1 error" in once.stderr
        ran = deadbeat(tmp_path, "run", "--once", "pipeline.toml")
        assert ran.returncode == 1
        assert f"{tmp_path}/missing.txt: cannot read: no such file" in ran.stderr

    def test_once_agrees_with_run_once_when_all_is_there(self, tmp_path: Path) -> None:
        """With the file there, check --once says ok and run --once reads it and exits 0; missing_ok keeps the
        missing file a warning, as run --once skips it."""
        (tmp_path / "pipeline.toml").write_text(TAIL_MISSING.replace("missing.txt", "in.txt"))
        (tmp_path / "in.txt").write_text("one\n")
        checked = deadbeat(tmp_path, "check", "pipeline.toml", "--once")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout == "pipeline.toml: ok\n"
        ran = deadbeat(tmp_path, "run", "--once", "pipeline.toml")
        assert ran.returncode == 0, ran.stderr
        assert (tmp_path / "out.txt").read_text() == "one\n"

        (tmp_path / "pipeline.toml").write_text(TAIL_MISSING.replace('"]', '"]\nmissing_ok = true', 1))
        checked = deadbeat(tmp_path, "check", "--once", "pipeline.toml")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.endswith("pipeline.toml: ok, 1 warning\n")
        assert deadbeat(tmp_path, "run", "--once", "pipeline.toml").returncode == 0

    def test_the_help_says_what_once_means(self, tmp_path: Path) -> None:
        shown = deadbeat(tmp_path, "check", "--help")
        assert shown.returncode == 0
        assert "--once" in shown.stdout and "run --once" in shown.stdout


class TestEveryProblemAtOnce:
    def test_run_names_what_the_cogs_would_refuse_with_the_files_own_problems(self, tmp_path: Path) -> None:
        """A misspelt key and a filter expression the language refuses: run said the first only, check both."""
        pipeline(
            tmp_path,
            READ_TO_FILE.replace(
                '[[cog]]\nuse = "fs.write"',
                '[[cog]]\nuse = "flow.filter"\nexpression = "line.upper()"\n\n[[cog]]\nuse = "fs.write"\nfsnyc = true',
            ),
        )
        checked = deadbeat(tmp_path, "check", "pipeline.toml")
        ran = deadbeat(tmp_path, "run", "pipeline.toml", "--once")
        assert checked.returncode == 1 and ran.returncode == 1
        for said in (checked.stdout + checked.stderr, ran.stderr):
            assert "fsnyc: unknown parameter" in said
            assert "cog[1] (flow.filter): expression: not allowed in a filter" in said
        assert not (tmp_path / "out.txt").exists()
