"""``deadbeat cogs --check`` survives a plugin whose import ends the process.

A plugin calling ``os._exit()`` as it is imported, or crashing the interpreter
(a C extension built for another Python), ended ``cogs --check`` itself, with
that plugin's exit status (0, even) and without a word about which cog it
was. The imports now run in a child process: that cog is ``broken``, named
with how the process ended, and every other cog is still checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

MakeDist = Callable[..., Path]

GOOD = '''
from deadbeat import movement


class Fine(movement.Cog):
    """A cog that imports fine."""

    def __call__(self, d):
        return (d,)
'''


def _deadbeat(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args], capture_output=True, text=True, env=env, timeout=120
    )


def _plant(make_dist: MakeDist) -> Path:
    make_dist(
        "deadbeat-aa-exits", {"aa.exits": "deadbeat_aa_exits:Cog"}, "deadbeat_aa_exits", "import os\nos._exit(0)\n"
    )
    make_dist(
        "deadbeat-ab-crashes",
        {"ab.crashes": "deadbeat_ab_crashes:Cog"},
        "deadbeat_ab_crashes",
        "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
    )
    return make_dist("deadbeat-ac-fine", {"ac.fine": "deadbeat_ac_fine:Fine"}, "deadbeat_ac_fine", GOOD)


def test_the_check_names_each_cog_that_ended_the_process(make_dist: MakeDist) -> None:
    site = _plant(make_dist)
    done = _deadbeat(site, "cogs", "--check", "--json")
    assert done.returncode == 0, done.stderr
    entries = {e["name"]: e for e in json.loads(done.stdout)}
    assert entries["aa.exits"]["status"] == "broken"
    assert entries["aa.exits"]["error"] == "importing it ended the process (exit status 0)"
    assert entries["ab.crashes"]["status"] == "broken"
    assert entries["ab.crashes"]["error"] == "importing it ended the process (killed by SIGSEGV)"
    # Checked all the same, after both: and the first-party cogs too.
    assert entries["ac.fine"]["status"] == "loaded"
    assert entries["ac.fine"]["summary"] == "A cog that imports fine."
    assert entries["fs.read"]["status"] == "loaded"


def test_strict_fails_naming_them(make_dist: MakeDist) -> None:
    site = _plant(make_dist)
    done = _deadbeat(site, "cogs", "--strict")
    assert done.returncode == 1
    assert "aa.exits" in done.stderr and "ab.crashes" in done.stderr
    assert "ended the process" in done.stderr
    table = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert " broken " in table["aa.exits"] and " loaded " in table["ac.fine"]


def test_what_a_cog_lacks_is_still_found_apart(make_dist: MakeDist) -> None:
    needy = GOOD.replace(
        "class Fine(movement.Cog):",
        "class Fine(movement.Cog):\n    @staticmethod\n    def missing_requirements(params):\n"
        "        return ['needs the library zzz_not_there: pip install zzz']\n",
    )
    site = make_dist("deadbeat-needy", {"needy.one": "deadbeat_needy:Fine"}, "deadbeat_needy", needy)
    done = _deadbeat(site, "cogs", "--check", "--json")
    (entry,) = [e for e in json.loads(done.stdout) if e["name"] == "needy.one"]
    assert entry["status"] == "loaded"
    assert "zzz" in (entry["hint"] or "")
