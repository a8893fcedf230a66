"""What a plugin's metadata says is shown, never acted on by the operator's terminal.

A distribution's manifest, version and docstrings are written by whoever
published it. ``deadbeat cogs`` printed them raw: an escape sequence in a
summary recoloured or rewrote the operator's terminal, a newline forged a row
of the table (a fake ``fs.read`` line, say). Such characters are now shown as
escapes, in the table, in ``cogs show`` and in the error lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from deadbeat.command._common import inert
from deadbeat.plugins import _manifest

MakeDist = Callable[..., Path]

HOSTILE_DOC = '''
from deadbeat import movement


class Shady(movement.Cog):
    """Looks fine\x1b]0;pwned\x07 here.

    Body with \x1b[2J a screen clear and a \u202e reversal.
    """

    def __call__(self, d):
        return (d,)
'''


def _deadbeat(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_inert_keeps_text_and_escapes_what_a_terminal_acts_on() -> None:
    assert inert("plain text, é, 日本") == "plain text, é, 日本"
    assert inert("a\x1b[31mb") == "a\\x1b[31mb"
    assert inert("one\ntwo") == "one\\x0atwo"
    assert inert("one\ntwo\tthree\x9b", lines=True) == "one\ntwo\tthree\\x9b"
    assert inert("\u202eevil") == "\\u202eevil"


def test_a_forged_row_in_a_manifest_summary_stays_in_its_own_row(make_dist: MakeDist) -> None:
    site = make_dist("deadbeat-shady", {"shady.cog": "deadbeat_shady_mod:Shady"}, "deadbeat_shady_mod", HOSTILE_DOC)
    manifest = _manifest.build_manifest({"shady.cog": "deadbeat_shady_mod:Shady"}, [str(site)])
    manifest["cogs"]["shady.cog"]["summary"] = "ok\nfs.read  deadbeat-cogs-fs  0.2.0  available  \x1b[32mforged"
    extra = site / "deadbeat_shady-1.0.dist-info" / "extra_metadata"
    extra.mkdir()
    (extra / _manifest.MANIFEST).write_text(json.dumps(manifest))
    done = _deadbeat(site, "cogs")
    assert done.returncode == 0, done.stderr
    (row,) = [line for line in done.stdout.splitlines() if "shady.cog" in line]
    assert "ok\\x0afs.read" in row and "\\x1b[32mforged" in row
    assert "\x1b" not in done.stdout
    assert not [line for line in done.stdout.splitlines() if line.startswith("fs.read") and "forged" in line]
    # JSON escapes control characters by itself: the data are there as they are.
    listed = json.loads(_deadbeat(site, "cogs", "--json").stdout)
    (entry,) = [e for e in listed if e["name"] == "shady.cog"]
    assert entry["summary"].startswith("ok\nfs.read")


def test_cogs_show_escapes_the_docstring_but_keeps_its_lines(make_dist: MakeDist) -> None:
    site = make_dist("deadbeat-shady", {"shady.cog": "deadbeat_shady_mod:Shady"}, "deadbeat_shady_mod", HOSTILE_DOC)
    done = _deadbeat(site, "cogs", "show", "shady.cog")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout and "\u202e" not in done.stdout
    assert "Looks fine\\x1b]0;pwned\\x07 here." in done.stdout
    assert "Body with \\x1b[2J a screen clear and a \\u202e reversal." in done.stdout.splitlines()


def test_a_hostile_import_error_is_escaped_on_stderr(make_dist: MakeDist) -> None:
    code = "raise RuntimeError('broken\\x1b[2J\\nfs.read is fine')\n"
    site = make_dist("deadbeat-bad", {"bad.cog": "deadbeat_bad_mod:Bad"}, "deadbeat_bad_mod", code)
    done = _deadbeat(site, "cogs", "show", "bad.cog")
    assert done.returncode == 1
    assert "\x1b" not in done.stderr
    assert "broken\\x1b[2J" in done.stderr
