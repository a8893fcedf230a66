"""A steady flow leaves no reference cycles behind: what the collector finds does not grow with the data.

Objects in a cycle outlive their use until a collection finds them, and each
collection then walks them and everything they hold (whole lists of data). A
router whose lists knew their ids through a lambda over themselves, and the
Escapement's queued calls (binding, handle and callback), did so once per
list: the collector ran every few dozen lists and its pauses cost routed
pipelines a fifth of their speed.

``deadbeat run --once`` runs here with the collector off; at exit, what it
finds unreachable is counted, for a file of three lines and for one of 60,000
(dozens of reads, hundreds of lists through the routes).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

COUNTING = """
import atexit, gc, sys
gc.disable()
atexit.register(lambda: print("unreachable", gc.collect(), file=sys.stderr))
from deadbeat.command import main
sys.exit(main())
"""

ROUTED = """
[[cog]]
use = "fs.read"
filenames = ["{input}"]
read_size = 16384

[[cog]]
use = "text.json_parse"

[[route]]
name = "alerts"
when = 'severity >= 5 and startswith(host, "db")'
[[route.cog]]
use = "text.json_format"
[[route.cog]]
use = "fs.write"
filename = "alerts-{input}"

[[route]]
name = "other"
[[route.cog]]
use = "text.json_format"
[[route.cog]]
use = "fs.write"
filename = "other-{input}"
"""

PLAIN = """
[[cog]]
use = "fs.read"
filenames = ["{input}"]
read_size = 16384

[[cog]]
use = "text.json_parse"

[[cog]]
use = "text.json_format"

[[cog]]
use = "fs.write"
filename = "out-{input}"
"""


def _unreachable(directory: Path, template: str, lines: int) -> int:
    name = f"in{lines}.jsonl"
    with open(directory / name, "w") as out:
        for n in range(lines):
            out.write(json.dumps({"n": n, "severity": n % 8, "host": f"db{n % 3}" if n % 2 else "web"}) + "\n")
    pipeline = directory / f"{name}.toml"
    pipeline.write_text(template.format(input=name))
    done = subprocess.run(
        [sys.executable, "-c", COUNTING, "run", "--once", str(pipeline)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"in {lines}, out {lines}, errors 0" in done.stderr
    counted = [line for line in done.stderr.splitlines() if line.startswith("unreachable ")]
    return int(counted[-1].split()[1])


@pytest.mark.parametrize("template", [ROUTED, PLAIN], ids=["routed", "plain"])
def test_what_the_collector_finds_does_not_grow_with_the_data(tmp_path: Path, template: str) -> None:
    few = _unreachable(tmp_path, template, 3)
    many = _unreachable(tmp_path, template, 60_000)
    # The same start-up and shutdown garbage either way (about a thousand
    # objects); a cycle per list would add hundreds to thousands.
    assert many <= few + 20, (few, many)
