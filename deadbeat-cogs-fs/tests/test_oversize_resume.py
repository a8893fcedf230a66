"""A line longer than max_line, unfinished when the tailer stops: its rest is never a line of its own.

The tailer reports the line once (LineTooLong, cut to the limit) and drops the
rest as it comes; the position it saves meanwhile is inside the line. Opened
again at that position (a restart after SIGTERM or SIGKILL, a second
``run --once``, a file closed while idle), the rest was read as a new line: a
record the writer never wrote, which a hostile line could shape as it liked.
Each case runs the real ``deadbeat`` command on real files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

WAIT = 60.0

PIPELINE = """
[[cog]]
use = "fs.tail"
filenames = ["in/app.log"]
state_file = "state/pos.json"
max_line = 1000
{extra}
[[cog]]
use = "text.json_parse"
[[cog]]
use = "text.json_format"
[[cog]]
use = "fs.write"
filename = "out/out.jsonl"
state_file = "state/pos.json"
[[errors]]
use = "text.json_format"
[[errors]]
use = "fs.write"
filename = "out/errors.jsonl"
state_file = "state/pos.json"
"""

#: What a hostile writer puts after the unfinished oversize line: shaped as a record of its own.
SMUGGLED = ' {"severity": 9, "n": "smuggled"}\n{"n": 2}\n'


def setup(tmp_path: Path, extra: str = "") -> Path:
    for directory in ("in", "out", "state"):
        (tmp_path / directory).mkdir()
    (tmp_path / "p.toml").write_text(textwrap.dedent(PIPELINE.format(extra=extra)))
    (tmp_path / "in" / "app.log").write_text('{"n": 1}\n')
    return tmp_path / "p.toml"


def start(pipeline: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), *args],
        cwd=pipeline.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_once(pipeline: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--once"],
        cwd=pipeline.parent,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def saved_offset(state: Path) -> int | None:
    try:
        saved = json.loads(state.read_text())
    except (OSError, ValueError):
        return None
    section = saved.get("sections", {}).get(f"fs.tail {state.parent.parent / 'in' / 'app.log'}", {})
    offsets = [entry["offset"] for entry in section.get("files", {}).values()]
    return offsets[0] if offsets else None


def append(path: Path, text: str) -> None:
    with open(path, "a") as handle:
        handle.write(text)


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def check_outputs(root: Path) -> None:
    """The two real records out; the oversize line once in the error output, at its own start; nothing else."""
    assert records(root / "out" / "out.jsonl") == [{"n": 1}, {"n": 2}]
    errors = records(root / "out" / "errors.jsonl")
    assert [e["event_id"] for e in errors] == [f"{root / 'in' / 'app.log'}:9"], errors
    assert str(errors[0]["error"]).startswith("LineTooLong:")


def test_the_rest_is_skipped_after_a_restart(tmp_path: Path) -> None:
    """Stopped (SIGTERM, then SIGKILL) with the position inside an unfinished oversize line: the restart skips its
    rest, and says so; the record shaped after it is not written."""
    for how in (signal.SIGTERM, signal.SIGKILL):
        root = tmp_path / how.name
        root.mkdir()
        pipeline = setup(root)
        source = root / "in" / "app.log"
        process = start(pipeline)
        try:
            state = root / "state" / "pos.json"
            wait_for(lambda: saved_offset(state) == 9, "the first line saved")  # noqa: B023 - called at once
            append(source, "X" + " " * 5000)  # the writer is in the middle of a long line
            wait_for(lambda: saved_offset(state) == 5010, "a position inside the line saved")  # noqa: B023
        finally:
            process.send_signal(how)
            process.communicate(timeout=WAIT)
        append(source, SMUGGLED)
        done = run_once(pipeline)
        assert done.returncode == 0, done.stderr
        assert "reading on at offset 5010, inside a line" in done.stderr
        check_outputs(root)


def test_the_rest_is_skipped_by_the_next_run_once(tmp_path: Path) -> None:
    """A cron job meeting the unfinished oversize line: the next run skips its rest (one error record, not two)."""
    pipeline = setup(tmp_path)
    source = tmp_path / "in" / "app.log"
    append(source, "X" + " " * 3000)
    for _ in range(2):
        done = run_once(pipeline)
        assert done.returncode == 0, done.stderr
        append(source, SMUGGLED if _ == 0 else "")
    check_outputs(tmp_path)


def test_the_rest_is_skipped_when_a_file_closed_while_idle_is_opened_again(tmp_path: Path) -> None:
    """close_inactive closes the file in the middle of the oversize line; new bytes open it again: no new line."""
    pipeline = setup(tmp_path, extra="close_inactive = 0.5")
    source = tmp_path / "in" / "app.log"
    process = start(pipeline)
    try:
        wait_for(lambda: saved_offset(tmp_path / "state" / "pos.json") == 9, "the first line saved")
        append(source, "X" + " " * 5000)
        wait_for(lambda: saved_offset(tmp_path / "state" / "pos.json") == 5010, "a position inside the line saved")
        time.sleep(1.5)  # closed as idle
        append(source, SMUGGLED)
        wait_for(lambda: len(records(tmp_path / "out" / "out.jsonl")) >= 2, "the next record written")
        time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=WAIT)
    assert process.returncode == 0, stderr
    check_outputs(tmp_path)
    assert os.path.exists(source)


def test_the_rest_of_an_unfinished_last_line_sent_as_it_was_is_a_line(tmp_path: Path) -> None:
    """Not an oversize line: ``--once`` sends an unfinished last line as it is (its writer quiet for
    rotate_wait); what its writer adds later is a line of its own. Taken for the rest of an oversize line, it
    was dropped, in no output and no error record, logged as "inside a line (the rest of one longer than
    max_line...)"."""
    pipeline = setup(tmp_path)
    source = tmp_path / "in" / "app.log"
    append(source, '{"n": 2')
    past = time.time() - 60
    os.utime(source, (past, past))  # quiet for longer than rotate_wait: sent as it is
    first = run_once(pipeline)
    assert first.returncode == 0, first.stderr
    append(source, '}\n{"n": 3}\n')
    second = run_once(pipeline)
    assert second.returncode == 0, second.stderr
    assert "inside a line" not in second.stderr
    assert records(tmp_path / "out" / "out.jsonl") == [{"n": 1}, {"n": 3}]
    # '{"n": 2' and '}' went as two lines, each not JSON: both in the error output, nothing dropped silently.
    errors = records(tmp_path / "out" / "errors.jsonl")
    assert [e["datum"] for e in errors] == ['{"n": 2', "}"], errors


def test_an_unfinished_first_line_of_exactly_max_line_bytes_is_no_oversize_line(tmp_path: Path) -> None:
    """At the file's start there is no newline before: a first line of max_line bytes, sent as it was, was
    taken for an oversize one at the next start (one byte off), and its rest dropped."""
    pipeline = setup(tmp_path)
    source = tmp_path / "in" / "app.log"
    source.write_text("x" * 1000)  # max_line is 1000 in this pipeline
    past = time.time() - 60
    os.utime(source, (past, past))
    first = run_once(pipeline)
    assert first.returncode == 0, first.stderr
    append(source, '\n{"n": 3}\n')
    second = run_once(pipeline)
    assert second.returncode == 0, second.stderr
    assert "inside a line" not in second.stderr
    assert records(tmp_path / "out" / "out.jsonl") == [{"n": 3}]
