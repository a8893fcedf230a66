"""``filenames`` changed, and changed back, around a rotation: the positions follow, no line comes twice.

The positions are kept in a section named after the patterns; a section of
other patterns that knows a file ours match is carried over. After a rotation
the section may know only the rotated file (``app.log.1``, which the pattern
``app.log`` does not match) of the lineage ``app.log`` names: it was not carried
over, stayed behind, and when the patterns were changed back it was taken up
again, stale: every later start sent about 100 lines again (found with a
harness that flipped ``app.log`` and ``app.lo[g]`` at each restart or reload:
41,620 of 50,000 lines repeated). A section is now carried over by the names
of its lineages too. Real ``deadbeat run`` processes, stopped with SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

PIPELINE = """
[[cog]]
use = "fs.tail"
filenames = ["{pattern}"]
state_file = "state/positions.json"
rotate_wait = 0.5

[[cog]]
use = "fs.write"
filename = "out.log"
state_file = "state/positions.json"
"""


def start(directory: Path, pattern: str) -> subprocess.Popen[bytes]:
    (directory / "pipeline.toml").write_text(PIPELINE.format(pattern=pattern))
    return subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", "--quiet", "pipeline.toml"],
        cwd=directory,
        stderr=(directory / f"run{time.monotonic_ns()}.txt").open("w"),
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0


def append(path: Path, first: int) -> None:
    with path.open("a") as file:
        file.writelines(f"line {n}\n" for n in range(first, first + 100))


def wait_for(out: Path, count: int) -> None:
    deadline = time.monotonic() + 30
    while not out.exists() or len(out.read_text().splitlines()) < count:
        assert time.monotonic() < deadline, f"{out} has not got {count} lines"
        time.sleep(0.05)
    time.sleep(0.5)  # and nothing more comes


def test_changing_the_patterns_back_after_a_rotation_repeats_nothing(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    log, out = tmp_path / "logs" / "app.log", tmp_path / "out.log"
    log.touch()
    spelled = str(tmp_path / "logs" / "app.lo[g]")
    plain = str(log)

    running = start(tmp_path, spelled)
    time.sleep(1.0)
    append(log, 0)
    wait_for(out, 100)
    log.rename(log.with_name("app.log.1"))  # rotated while it runs
    log.touch()
    time.sleep(1.5)
    stop(running)

    running = start(tmp_path, plain)
    time.sleep(1.0)
    append(log, 100)
    wait_for(out, 200)
    stop(running)

    running = start(tmp_path, spelled)
    time.sleep(1.0)
    append(log, 200)
    wait_for(out, 300)
    stop(running)

    assert out.read_text().splitlines() == [f"line {n}" for n in range(300)]
