"""Reading once (``deadbeat run --once``, the cron job): unfinished last lines and rotated files' order."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest


def run_once(
    directory: Path, pipeline: str, cwd: Path | None = None, status: int = 0
) -> subprocess.CompletedProcess[str]:
    (directory / "pipeline.toml").write_text(textwrap.dedent(pipeline))
    result = subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", str(directory / "pipeline.toml"), "--once", "--quiet"],
        cwd=cwd or directory,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == status, result.stderr
    return result


TAIL_WITH_STATE = """
    [[cog]]
    use = "fs.tail"
    filenames = ["app.log"]
    state_file = "state.json"

    [[cog]]
    use = "fs.write"
    filename = "out.txt"
    state_file = "state.json"
"""


class TestUnfinishedLastLine:
    def test_a_line_being_written_is_left_for_the_next_run(self, tmp_path: Path) -> None:
        """A cron job that finds a line half written sends it whole at its next run, not in two pieces."""
        log = tmp_path / "app.log"
        log.write_bytes(b"one\nhalf-of-a-li")
        first = run_once(tmp_path, TAIL_WITH_STATE)
        assert (tmp_path / "out.txt").read_text() == "one\n"
        assert "unfinished last line" in first.stderr and "left for the next run" in first.stderr
        with log.open("ab") as stream:
            stream.write(b"ne\ntwo\n")
        run_once(tmp_path, TAIL_WITH_STATE)
        assert (tmp_path / "out.txt").read_text() == "one\nhalf-of-a-line\ntwo\n"

    def test_a_newline_alone_does_not_make_an_empty_line(self, tmp_path: Path) -> None:
        """The writer adds only the newline: the line comes whole, and no empty datum after it."""
        log = tmp_path / "app.log"
        log.write_bytes(b"one\ntwo")
        run_once(tmp_path, TAIL_WITH_STATE)
        with log.open("ab") as stream:
            stream.write(b"\n")
        run_once(tmp_path, TAIL_WITH_STATE)
        assert (tmp_path / "out.txt").read_text() == "one\ntwo\n"

    def test_a_quiet_file_gives_its_last_line_as_it_is(self, tmp_path: Path) -> None:
        """Not written for longer than rotate_wait, the file is done: its last line goes out without a newline."""
        log = tmp_path / "app.log"
        log.write_bytes(b"one\nlast")
        past = time.time() - 60
        os.utime(log, (past, past))
        run_once(tmp_path, TAIL_WITH_STATE)
        assert (tmp_path / "out.txt").read_text() == "one\nlast\n"

    def test_without_a_state_file_the_last_line_is_sent(self, tmp_path: Path) -> None:
        """No next run resumes anything without a state file: the last line is not held back."""
        (tmp_path / "app.log").write_bytes(b"one\nlast")
        run_once(tmp_path, TAIL_WITH_STATE.replace('state_file = "state.json"\n', ""))
        assert (tmp_path / "out.txt").read_text() == "one\nlast\n"


class TestRotatedFilesOrder:
    @pytest.mark.parametrize("use", ["fs.tail", "fs.read"])
    def test_rotated_files_copied_in_are_read_oldest_first(self, tmp_path: Path, use: str) -> None:
        """Files copied with their times kept (cp -p) were born in name order: read by age all the same."""
        archive = tmp_path / "archive"
        archive.mkdir()
        for number in (5, 4, 3, 2, 1):
            rotated = archive / f"app.log.{number}"
            rotated.write_text("".join(f"r{number}-{n}\n" for n in range(20)))
            past = time.time() - number * 3600
            os.utime(rotated, (past, past))
        (archive / "app.log").write_text("".join(f"cur-{n}\n" for n in range(20)))
        for name in sorted(os.listdir(archive)):  # app.log first: born first, yet the newest
            shutil.copy2(archive / name, tmp_path / name)
        run_once(
            tmp_path,
            f"""
            [[cog]]
            use = "{use}"
            filenames = ["app.log*"]

            [[cog]]
            use = "fs.write"
            filename = "out.txt"
            """,
        )
        runs = []
        for line in (tmp_path / "out.txt").read_text().splitlines():
            source = line.split("-")[0]
            if not runs or runs[-1] != source:
                runs.append(source)
        assert runs == ["r5", "r4", "r3", "r2", "r1", "cur"]

    def test_fs_read_keeps_the_order_of_its_filenames(self, tmp_path: Path) -> None:
        """Files that are no rotation of one another go in the order given, whatever their ages."""
        (tmp_path / "b.log").write_text("b\n")
        (tmp_path / "a.log").write_text("a\n")
        past = time.time() - 3600
        os.utime(tmp_path / "a.log", (past, past))
        run_once(
            tmp_path,
            """
            [[cog]]
            use = "fs.read"
            filenames = ["b.log", "a.log"]

            [[cog]]
            use = "fs.write"
            filename = "out.txt"
            """,
        )
        assert (tmp_path / "out.txt").read_text() == "b\na\n"


def test_exclude_paths_are_relative_to_the_pipeline_file(tmp_path: Path) -> None:
    """``exclude = ["logs/debug-*"]`` is relative to the pipeline file, as ``filenames``, from any directory."""
    logs = tmp_path / "app" / "logs"
    logs.mkdir(parents=True)
    (logs / "app.log").write_text("kept\n")
    (logs / "debug-1.log").write_text("excluded by path\n")
    (logs / "trace.log").write_text("excluded by name\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run_once(
        tmp_path / "app",
        """
        [[cog]]
        use = "fs.tail"
        filenames = ["logs/*.log"]
        exclude = ["logs/debug-*", "trace.*"]

        [[cog]]
        use = "fs.write"
        filename = "out.txt"
        """,
        cwd=elsewhere,
    )
    assert (tmp_path / "app" / "out.txt").read_text() == "kept\n"


class TestDamagedState:
    def test_a_section_not_of_our_making_is_set_aside_naming_the_entry(self, tmp_path: Path) -> None:
        """Valid JSON of the wrong shape is handled as an unreadable state: moved aside, said, and the run goes on."""
        (tmp_path / "app.log").write_text("a\nb\n")
        app, out = tmp_path / "app.log", tmp_path / "out.txt"
        sections = {f"fs.tail {app}": {"files": {"x": {"offset": -5}}}, f"fs.write {out}": [1]}
        (tmp_path / "state.json").write_text(json.dumps({"sections": sections, "version": 1}))
        result = run_once(tmp_path, TAIL_WITH_STATE)
        assert out.read_text() == "a\nb\n"
        assert f"section '{app}': files: 'x'" in result.stderr and "moved to" in result.stderr
        assert len(list(tmp_path.glob("state.json.corrupt-*"))) == 1

    def test_a_damaged_section_of_other_patterns_is_not_taken_over(self, tmp_path: Path) -> None:
        """Looking for the positions of edited patterns, a section whose entries are not objects is passed by."""
        (tmp_path / "app.log").write_text("a\n")
        sections = {f"fs.tail {tmp_path}/old.log": {"files": {"1:2": 5}}}
        (tmp_path / "state.json").write_text(json.dumps({"sections": sections, "version": 1}))
        run_once(tmp_path, TAIL_WITH_STATE)
        assert (tmp_path / "out.txt").read_text() == "a\n"

    def test_a_state_file_of_another_format_is_neither_read_nor_replaced(self, tmp_path: Path) -> None:
        """A newer Deadbeat's state file: the run refuses to start, says why, and leaves the file as it was."""
        (tmp_path / "app.log").write_text("a\n")
        state = tmp_path / "state.json"
        state.write_text('{"sections": {}, "version": 99}')
        (tmp_path / "pipeline.toml").write_text(textwrap.dedent(TAIL_WITH_STATE))
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", "pipeline.toml", "--once"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert "a state file of format 99, written by another version of Deadbeat" in result.stderr
        assert state.read_text() == '{"sections": {}, "version": 99}'
        assert not (tmp_path / "out.txt").exists() or (tmp_path / "out.txt").read_text() == ""


def test_a_run_that_failed_before_its_first_acknowledgement_is_cut_back_not_repeated(tmp_path: Path) -> None:
    """The error output failed (a full disk), so nothing was acknowledged and the run exited 1; the next run
    read the file again and the output held every line twice: fs.write had no checkpoint of its own to cut to."""
    (tmp_path / "in.log").write_text('{"ok":1}\n{"ok":2}\nbad\n{"ok":3}\n')
    pipeline = """
        [[cog]]
        use = "fs.tail"
        filenames = "in.log"
        state_file = "state.json"
        [[cog]]
        use = "text.json_parse"
        [[cog]]
        use = "text.json_format"
        [[cog]]
        use = "fs.write"
        filename = "out.log"
        state_file = "state.json"
        [[errors]]
        use = "text.json_format"
        [[errors]]
        use = "fs.write"
        filename = "ERRORS"
    """
    run_once(tmp_path, pipeline.replace("ERRORS", "/dev/full"), status=1)
    run_once(tmp_path, pipeline.replace("ERRORS", "errors.log"))
    assert (tmp_path / "out.log").read_text() == '{"ok":1}\n{"ok":2}\n{"ok":3}\n'
    assert len((tmp_path / "errors.log").read_text().splitlines()) == 1
