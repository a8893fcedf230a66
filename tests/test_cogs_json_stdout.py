"""What an installed cog module prints as it is imported stays off the command's standard output.

``deadbeat cogs --check --json`` is for scripts: its standard output must be
JSON, whatever a plugin prints while it is imported. The same for the table,
``cogs show``, ``check``'s lines, and the data of a ``deadbeat run`` writing to
``"-"``. Each test runs the real command on a distribution written into a
directory put on ``PYTHONPATH`` (a dist-info with the entry point, and the
module), found exactly as a pip-installed one is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

NOISY = '''
"""A cog whose module talks as it is imported."""

import os
import sys

from deadbeat import movement

print("hello from the noisy module")
sys.stdout.write("and a line through sys.stdout\\n")
sys.stdout.flush()
os.write(1, b"and one straight to descriptor 1\\n")


class Shout(movement.Cog):
    """Upper-case each line."""

    one_to_one = True

    def __call__(self, data):
        return (data.upper(),)
'''

SAID = ("hello from the noisy module", "and a line through sys.stdout", "and one straight to descriptor 1")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A directory holding the distribution ``deadbeat-noisy``, which offers ``noisy.shout``."""
    site = tmp_path / "site"
    info = site / "deadbeat_noisy-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: deadbeat-noisy\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[deadbeat.cogs]\nnoisy.shout = noisy_cog:Shout\n")
    (site / "noisy_cog.py").write_text(NOISY)
    return site


def deadbeat(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": path},
    )


def assert_said_on_stderr_only(result: subprocess.CompletedProcess[str]) -> None:
    for line in SAID:
        assert line not in result.stdout, result.stdout
        assert line in result.stderr, result.stderr


def test_cogs_check_json_is_json(site: Path, tmp_path: Path) -> None:
    """stdout began with "hello from the noisy module"; now it is the JSON alone, the module's lines on stderr."""
    result = deadbeat(site, tmp_path, "cogs", "--check", "--json")
    assert result.returncode == 0, result.stderr
    cogs = {c["name"]: c for c in json.loads(result.stdout)}
    assert cogs["noisy.shout"]["status"] == "loaded"
    assert_said_on_stderr_only(result)


def test_strict_listing_keeps_its_exit_status(site: Path, tmp_path: Path) -> None:
    """--strict still exits 1 for the broken fixture installed beside it, with JSON on stdout."""
    result = deadbeat(site, tmp_path, "cogs", "--strict", "--json")
    assert result.returncode == 1, result.stderr
    cogs = {c["name"]: c for c in json.loads(result.stdout)}
    assert cogs["noisy.shout"]["status"] == "loaded"
    assert "broken.explode" in result.stderr
    assert_said_on_stderr_only(result)


def test_table_and_show(site: Path, tmp_path: Path) -> None:
    table = deadbeat(site, tmp_path, "cogs", "--check")
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("NAME ")
    assert_said_on_stderr_only(table)
    show = deadbeat(site, tmp_path, "cogs", "show", "noisy.shout")
    assert show.returncode == 0, show.stderr
    assert show.stdout.startswith("noisy.shout  (noisy_cog:Shout, deadbeat-noisy 1.0)")
    assert_said_on_stderr_only(show)


def test_run_writing_to_stdout_gets_only_the_data(site: Path, tmp_path: Path) -> None:
    """A run whose fs.write writes to "-": standard output holds the data, not what the module printed."""
    (tmp_path / "in.txt").write_text("one\ntwo\n")
    (tmp_path / "pipeline.toml").write_text(
        textwrap.dedent(
            """
            [[cog]]
            use = "fs.read"
            filenames = ["in.txt"]

            [[cog]]
            use = "noisy.shout"

            [[cog]]
            use = "fs.write"
            filename = "-"
            """
        )
    )
    checked = deadbeat(site, tmp_path, "check", "pipeline.toml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout == "pipeline.toml: ok\n"
    assert_said_on_stderr_only(checked)
    ran = deadbeat(site, tmp_path, "run", "--once", "--quiet", "pipeline.toml")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "ONE\nTWO\n"
    assert_said_on_stderr_only(ran)
