"""fs.spool removes (or moves to done_dir) a file it refused itself once its error record is written, never before.

A file that is not valid text, one over ``max_size`` or one whose setter raises
makes no datum: it goes to the error output from the supply. It used to stay in
the spool for ever, and every restart wrote its error record again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from deadbeat import fs, movement
from deadbeat.testing import Collector

PIPELINE = """
    [[cog]]
    use = "fs.spool"
    directory = "spool"
    max_size = 64
    {done}

    [[cog]]
    use = "text.json_parse"
    source = "data"

    [[cog]]
    use = "text.json_format"

    [[cog]]
    use = "fs.write"
    filename = "out.jsonl"

    [[errors]]
    use = "text.json_format"

    [[errors]]
    use = "fs.write"
    filename = "{errors}"
    retry_for = 0
"""

#: What each kind of refused file holds.
REFUSED = {"undecodable": b"\xff\xfe", "oversize": b'{"k": "' + b"x" * 100 + b'"}'}


def run_once(root: Path, done_dir: bool, errors: str = "err.jsonl", status: int = 0) -> str:
    done = 'done_dir = "done"' if done_dir else ""
    (root / "pipeline.toml").write_text(textwrap.dedent(PIPELINE.format(done=done, errors=errors)))
    result = subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", "pipeline.toml", "--once"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == status, result.stderr
    return result.stderr


def records(root: Path) -> list[dict[str, Any]]:
    path = root / "err.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.mark.parametrize("done_dir", [True, False], ids=["done_dir", "no_done_dir"])
@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_refused_file_is_handled_once_over_restarts(tmp_path: Path, kind: str, done_dir: bool) -> None:
    """Three runs: one error record, the refused file gone from the spool (kept in done_dir when there is one).

    A file over ``max_size`` without ``done_dir`` stays (its content is in no
    record) and goes to the error output at every run.
    """
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "good.json").write_bytes(b'{"k": 1}')
    (spool / "bad.json").write_bytes(REFUSED[kind])
    kept = kind == "oversize" and not done_dir  # its content is in no record: never removed
    for run in range(3):
        run_once(tmp_path, done_dir)
        record = records(tmp_path)[-1]
        assert [r["event_id"] for r in records(tmp_path)] == ["bad.json"] * (run + 1 if kept else 1)
        assert names(spool) == (["bad.json"] if kept else [])
        assert names(tmp_path / "done") == (["bad.json", "good.json"] if done_dir else [])
    assert (tmp_path / "out.jsonl").read_text() == '{"k":1}\n'
    error = record["error"]
    assert error.startswith("UnicodeDecodeError:" if kind == "undecodable" else "ValueError:"), error
    if kind == "undecodable":
        assert record["datum"]["raw"] == "\\xff\\xfe"
    else:
        assert "more than max_size 64" in error
    if done_dir:
        assert (tmp_path / "done" / "bad.json").read_bytes() == REFUSED[kind]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("done_dir", [True, False], ids=["done_dir", "no_done_dir"])
@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_refused_file_stays_while_the_error_output_cannot_write(tmp_path: Path, kind: str, done_dir: bool) -> None:
    """An error output that cannot write (a full disk) leaves the file for the next run, which writes its record."""
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "bad.json").write_bytes(REFUSED[kind])
    stderr = run_once(tmp_path, done_dir, errors="/dev/full", status=1)
    assert "dead letter" in stderr
    assert names(spool) == ["bad.json"] and names(tmp_path / "done") == []
    run_once(tmp_path, done_dir)
    assert [r["event_id"] for r in records(tmp_path)] == ["bad.json"]
    assert names(spool) == ([] if done_dir or kind != "oversize" else ["bad.json"])
    assert names(tmp_path / "done") == (["bad.json"] if done_dir else [])


class Held(movement.Cog):
    """Holds every datum of the error train until told to let them go, as an output waiting for its peer."""

    def __init__(self) -> None:
        self.train: movement.Train | None = None
        self.kept: list[Any] = []

    def __call__(self, datum: Any) -> None:
        assert self.train is not None
        self.train.hold()
        self.kept.append(datum)
        return None

    def let_go(self) -> None:
        assert self.train is not None
        kept, self.kept = self.kept, []
        self.train.send(self, kept)
        self.train.release(len(kept))


def as_line(datum: Any) -> tuple[Any, ...]:
    return (json.dumps(datum, default=str),)


@pytest.mark.parametrize(
    ("kind", "content", "options"),
    [
        ("undecodable", b"\xff\xfe", {}),
        ("oversize", b"x" * 100, {"max_size": 64}),
        ("setter", b"fine text", {"content_setter": lambda datum, value: 1 / 0}),
    ],
    ids=["undecodable", "oversize", "setter"],
)
@pytest.mark.parametrize("done_dir", [True, False], ids=["done_dir", "no_done_dir"])
def test_daemon_removes_a_refused_file_only_after_its_record_is_written(
    tmp_path: Path, kind: str, content: bytes, options: dict[str, Any], done_dir: bool
) -> None:
    """Following the directory: the file stays while the error train holds its record, and goes once it is written."""
    spool, done, errors = tmp_path / "spool", tmp_path / "done", tmp_path / "err.jsonl"
    spool.mkdir()
    (spool / "bad").write_bytes(content)
    esc = movement.Escapement()
    held = Held()
    error_train = movement.Train(esc, [held, as_line, fs.LineFileDrain(esc, str(errors))])
    held.train = error_train
    supply = fs.SpoolDirSupply(esc, str(spool), done_dir=str(done) if done_dir else None, **options)
    movement.Train(esc, [supply, Collector()], error_output=error_train)
    seen: dict[str, Any] = {}

    def while_held() -> None:
        seen["held"] = (names(spool), names(done), errors.read_text() if errors.exists() else "")
        held.let_go()

    esc.after(0.2, while_held)
    esc.after(0.5, esc.shutdown)
    esc.run()
    esc.close()
    assert seen["held"] == (["bad"], [], "")
    [line] = errors.read_text().splitlines()
    assert json.loads(line)["event_id"] == "bad"
    assert names(spool) == ([] if done_dir or kind != "oversize" else ["bad"])  # oversize: its content kept
    assert names(done) == (["bad"] if done_dir else [])
    if kind == "setter":
        assert json.loads(line)["datum"]["content"] == "fine text"


def test_a_file_that_is_not_regular_is_left_where_it_is(tmp_path: Path) -> None:
    """A name swapped for a FIFO after the listing goes to the error output and is left alone (never listed again)."""
    spool = tmp_path / "spool"
    spool.mkdir()
    os.mkfifo(spool / "pipe")
    records: list[movement.ErrorRecord] = []
    esc = movement.Escapement()
    esc.once = True
    supply = fs.SpoolDirSupply(esc, str(spool))
    movement.Train(esc, [supply, Collector()], error_output=records.append)
    supply._take("pipe")  # as if it had been listed as a regular file
    esc.run()
    esc.close()
    assert [r.event_id for r in records] == ["pipe"] and names(spool) == ["pipe"]
