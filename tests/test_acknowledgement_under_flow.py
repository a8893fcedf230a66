"""A tailer saves its position while data keep flowing through a cog that always holds some.

`deadbeat run` tails a file that a writer appends to every few milliseconds,
through a cog that holds each line for a while (the example distribution's
`example.delay`, written as the cog authors' guide says) into an output file.
Something is always held. Batch-by-batch acknowledgement means the state file
still advances during the flow, so a crash then repeats only the lines that
were in the cog's hands, not everything since the start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PIPELINE = """
[[cog]]
use = "fs.tail"
filenames = ["in.log"]
state_file = "state.json"

[[cog]]
use = "example.delay"
seconds = 0.3

[[cog]]
use = "fs.write"
filename = "out.log"
state_file = "state.json"
"""


def saved_offset(tmp_path: Path) -> int:
    """The input position the state file holds, 0 when none is saved yet."""
    try:
        state = json.loads((tmp_path / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    offsets = [
        entry["offset"]
        for name, section in state["sections"].items()
        if name.startswith("fs.tail")
        for entry in section["files"].values()
    ]
    return max(offsets, default=0)


def test_positions_are_saved_while_a_holding_cog_always_holds_something(tmp_path: Path) -> None:
    (tmp_path / "pipeline.toml").write_text(PIPELINE)
    source = tmp_path / "in.log"
    source.write_text("")
    process = subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", "pipeline.toml"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "stderr.txt").open("w"),
    )
    written = 0
    saved_during_flow: list[tuple[int, int]] = []
    try:
        with source.open("a") as file:
            # A line every 5 ms for 4 s: the delay of 0.3 s always holds ~60 lines.
            started = time.monotonic()
            while time.monotonic() - started < 4:
                file.write(f"line {written:06d}\n")
                file.flush()
                written += 1
                if written % 100 == 0:
                    saved_during_flow.append((os.path.getsize(source), saved_offset(tmp_path)))
                time.sleep(0.005)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and saved_offset(tmp_path) < os.path.getsize(source):
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=60)
    stderr = (tmp_path / "stderr.txt").read_text()
    assert status == 0, stderr
    # During the flow, with lines always held, the saved position moved on
    # (before batch-by-batch acknowledgement it stayed at 0 until the writer stopped).
    # (The state is saved at most once a second: a few saves in 4 s.)
    moved = {offset for _, offset in saved_during_flow if offset > 0}
    assert saved_during_flow[-1][1] > 0 and len(moved) > 1, f"no position saved during the flow: {saved_during_flow}"
    # ...and never ran ahead of what the output holds: every line once, in order.
    assert (tmp_path / "out.log").read_text().splitlines() == [f"line {n:06d}" for n in range(written)]
    assert saved_offset(tmp_path) == os.path.getsize(source)
