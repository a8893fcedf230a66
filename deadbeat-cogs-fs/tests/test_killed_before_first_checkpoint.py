"""A first run killed before its first checkpoint, the log rotated, then a restart: nothing lost, nothing twice.

The first save of the state file comes from ``fs.write``, just before its first
line, while ``fs.tail`` has saved no file yet (a new file is saved once judged
not a copy). Killed there, the next start took itself for a first start (or,
with a section knowing no file, knew no lineage), and the file rotated
meanwhile was taken for history: up to all of its lines were lost, though the
output was cut back to nothing. Found with a crash harness (SIGKILL at random
moments while logrotate-style renames went on): 100,000 to 550,000 of 600,000
lines lost in 5 of 8 runs.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PIPELINE = """
[[cog]]
use = "fs.tail"
filenames = ["{pattern}"]
state_file = "state/positions.json"

[[cog]]
use = "text.json_parse"

[[cog]]
use = "text.json_format"

[[cog]]
use = "fs.write"
filename = "written.out"
state_file = "state/positions.json"
"""


def write_lines(path: Path, first: int, count: int) -> None:
    with path.open("a") as file:
        file.writelines(f'{{"n": {n}, "pad": "{"x" * 80}"}}\n' for n in range(first, first + count))


def deadbeat(directory: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", "--quiet", *args, "pipeline.toml"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=(directory / f"run{time.monotonic_ns()}.txt").open("w"),
    )


@pytest.mark.parametrize("pattern", ["app.log", "app.log*", "*.log"])
@pytest.mark.parametrize("file_there_at_start", [True, False])
def test_the_rotated_file_is_read_after_the_restart(tmp_path: Path, pattern: str, file_there_at_start: bool) -> None:
    (tmp_path / "pipeline.toml").write_text(PIPELINE.format(pattern=pattern))
    log = tmp_path / "app.log"
    if file_there_at_start:
        write_lines(log, 0, 100_000)
    first = deadbeat(tmp_path)
    try:
        if not file_there_at_start:
            time.sleep(1)  # following, the file not there yet
            write_lines(log, 0, 100_000)
        state = tmp_path / "state" / "positions.json"
        deadline = time.monotonic() + 60
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.001)
        assert state.exists(), "no state file was saved"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(60)
    if file_there_at_start:
        # Killed at its first save: the section knows no file, the output's offset is 0.
        saved = json.loads((tmp_path / "state" / "positions.json").read_text())["sections"]
        assert not any(section.get("files") for name, section in saved.items() if name.startswith("fs.tail"))
    # Rotated while stopped; the writer goes on in a new file.
    log.rename(tmp_path / "app.log.1")
    write_lines(log, 100_000, 10)
    second = deadbeat(tmp_path, "--once")
    assert second.wait(120) == 0
    numbers = [json.loads(line)["n"] for line in (tmp_path / "written.out").read_text().splitlines()]
    assert numbers == list(range(100_010))
