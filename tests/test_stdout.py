"""Standard output as the shell gives it: a file a supply reads, or closed.

``deadbeat run p.toml > out.txt`` with ``fs.write`` to ``"-"`` and a supply
following ``*.txt`` reads its own output back and writes it again without end
(it filled a disk): ``run`` and ``check`` refuse it, naming the file, the
supply and its pattern. ``>&-`` leaves no standard output at all: ``run`` and
``check`` work as they would with it sent to ``/dev/null``, and ``cogs``,
whose only job is to print, says it cannot and exits 1. Each test runs the
real command through a shell, with the redirections an operator types.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

DEADBEAT = f"{shlex.quote(sys.executable)} -m deadbeat.command"

PIPELINE = """
[[cog]]
use = "fs.tail"
filenames = {patterns}
{exclude}

[[cog]]
use = "fs.write"
{filename}
"""


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``sh`` (redirections included), with a bound on its time."""
    return subprocess.run(
        ["sh", "-c", command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )


def pipeline(directory: Path, patterns: str = '["*.txt"]', filename: str = 'filename = "-"', exclude: str = "") -> Path:
    path = directory / "p.toml"
    path.write_text(PIPELINE.format(patterns=patterns, filename=filename, exclude=exclude))
    (directory / "in.txt").write_text("a\nb\n")
    return path


class TestStdoutReadBack:
    @pytest.mark.parametrize("filename", ['filename = "-"', ""])
    def test_run_refuses_stdout_a_supply_reads(self, tmp_path: Path, filename: str) -> None:
        """Given or by default, ``"-"`` into a file ``*.txt`` matches: refused before anything is read."""
        pipeline(tmp_path, filename=filename)
        done = shell(f"{DEADBEAT} run p.toml --once > out.txt", tmp_path)
        assert done.returncode == 1, done.stderr
        assert "standard output" in done.stderr
        assert f"{tmp_path}/out.txt" in done.stderr
        assert "cog[0] (fs.tail)" in done.stderr and "*.txt" in done.stderr
        assert (tmp_path / "out.txt").read_text() == ""

    def test_check_refuses_it_with_the_same_redirection(self, tmp_path: Path) -> None:
        pipeline(tmp_path)
        done = shell(f"{DEADBEAT} check p.toml > out.txt", tmp_path)
        assert done.returncode == 1
        assert f"{tmp_path}/out.txt" in (tmp_path / "out.txt").read_text()
        assert "1 error" in done.stderr

    def test_stdout_through_a_symlinked_directory_is_found(self, tmp_path: Path) -> None:
        """The pattern names a link to the directory standard output is in: the same file."""
        real = tmp_path / "real"
        real.mkdir()
        (tmp_path / "link").symlink_to(real)
        pipeline(tmp_path, patterns=f'["{tmp_path}/link/*.txt"]')
        done = shell(f"{DEADBEAT} run p.toml --once > real/out.txt", tmp_path)
        assert done.returncode == 1, done.stderr
        assert "standard output" in done.stderr

    def test_an_excluded_stdout_runs(self, tmp_path: Path) -> None:
        """The message's advice works: excluded from the supply, the output file is written, once."""
        pipeline(tmp_path, exclude='exclude = ["out.txt"]')
        done = shell(f"{DEADBEAT} run p.toml --once > out.txt", tmp_path)
        assert done.returncode == 0, done.stderr
        assert sorted((tmp_path / "out.txt").read_text().splitlines()) == ["a", "b"]

    def test_stdout_elsewhere_runs(self, tmp_path: Path) -> None:
        pipeline(tmp_path)
        done = shell(f"{DEADBEAT} run p.toml --once > out.log", tmp_path)
        assert done.returncode == 0, done.stderr
        assert sorted((tmp_path / "out.log").read_text().splitlines()) == ["a", "b"]

    def test_stdout_to_a_pipe_runs(self, tmp_path: Path) -> None:
        pipeline(tmp_path)
        done = shell(f"{DEADBEAT} run p.toml --once | cat > out.log", tmp_path)
        assert done.returncode == 0, done.stderr
        assert sorted((tmp_path / "out.log").read_text().splitlines()) == ["a", "b"]


class TestStdoutClosed:
    def test_run_with_stdout_closed_reads_everything(self, tmp_path: Path) -> None:
        """``>&-``: no crash; the data go nowhere as asked, and the summary counts them all."""
        pipeline(tmp_path, filename='filename = "-"')
        done = shell(f"{DEADBEAT} run p.toml --once >&-", tmp_path)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        assert "in 2, out 2, errors 0" in done.stderr

    def test_a_closed_stdout_is_not_taken_by_the_next_file_opened(self, tmp_path: Path) -> None:
        """Descriptor 1 free would be the output file's: data written to ``"-"`` must not land in it."""
        (tmp_path / "p.toml").write_text(
            '[[cog]]\nuse = "fs.read"\nfilenames = ["in.log"]\n\n'
            '[[cog]]\nuse = "fs.write"\nfilename = "-"\n\n'
            '[[errors]]\nuse = "fs.write"\nfilename = "err.log"\n'
        )
        (tmp_path / "in.log").write_text("x\ny\n")
        done = shell(f"{DEADBEAT} run p.toml --once >&-", tmp_path)
        assert done.returncode == 0, done.stderr
        assert not (tmp_path / "err.log").exists() or (tmp_path / "err.log").read_text() == ""

    def test_run_with_stdout_and_stderr_closed(self, tmp_path: Path) -> None:
        pipeline(tmp_path, filename='filename = "out.log"', patterns='["in.txt"]')
        done = shell(f"{DEADBEAT} run p.toml --once >&- 2>&-", tmp_path)
        assert done.returncode == 0
        assert (tmp_path / "out.log").read_text() == "a\nb\n"

    def test_check_with_stdout_closed_keeps_its_exit_status(self, tmp_path: Path) -> None:
        pipeline(tmp_path, filename='filename = "out.log"', patterns='["in.txt"]')
        ok = shell(f"{DEADBEAT} check p.toml >&-", tmp_path)
        assert ok.returncode == 0, ok.stderr
        (tmp_path / "bad.toml").write_text('[[cog]]\nuse = "no.such_cog"\n')
        bad = shell(f"{DEADBEAT} check bad.toml >&-", tmp_path)
        assert bad.returncode == 1
        assert "1 error" in bad.stderr
        assert "Traceback" not in ok.stderr + bad.stderr

    @pytest.mark.parametrize("command", ["cogs", "cogs --json", "cogs show fs.read"])
    def test_cogs_with_stdout_closed_says_so_and_fails(self, tmp_path: Path, command: str) -> None:
        done = shell(f"{DEADBEAT} {command} >&-", tmp_path)
        assert done.returncode == 1
        assert "standard output is closed" in done.stderr
        assert "Traceback" not in done.stderr

    @pytest.mark.parametrize("command", ["--version", "run p.toml --explain"])
    def test_commands_that_only_print_fail_with_stdout_closed(self, tmp_path: Path, command: str) -> None:
        pipeline(tmp_path, filename='filename = "out.log"', patterns='["in.txt"]')
        done = shell(f"{DEADBEAT} {command} >&-", tmp_path)
        assert done.returncode == 1
        assert "standard output is closed" in done.stderr
        assert "Traceback" not in done.stderr

    def test_deadbeat_test_with_stdout_closed_keeps_its_exit_status(self, tmp_path: Path) -> None:
        """The report is not shown; the exit status says whether the pipeline's tests passed."""
        (tmp_path / "p.toml").write_text(
            '[[cog]]\nuse = "fs.read"\nfilenames = ["in.log"]\n\n[[cog]]\nuse = "fs.write"\nfilename = "out.log"\n'
        )
        (tmp_path / "p.tests.toml").write_text(
            '[[test]]\nname = "same"\ninput = ["a"]\n[test.expect]\noutput = ["a"]\n'
        )
        (tmp_path / "bad.tests.toml").write_text(
            '[[test]]\nname = "other"\ninput = ["a"]\n[test.expect]\noutput = ["b"]\n'
        )
        good = shell(f"{DEADBEAT} test p.toml p.tests.toml >&-", tmp_path)
        bad = shell(f"{DEADBEAT} test p.toml bad.tests.toml >&-", tmp_path)
        assert (good.returncode, bad.returncode) == (0, 1), good.stderr + bad.stderr
        assert "Traceback" not in good.stderr + bad.stderr

    def test_version_into_a_pipe_closed_early(self, tmp_path: Path) -> None:
        done = shell(f"{DEADBEAT} --version | head -n 1", tmp_path)
        assert done.returncode == 0
        assert done.stdout.startswith("deadbeat-core ")
        assert "Traceback" not in done.stderr
