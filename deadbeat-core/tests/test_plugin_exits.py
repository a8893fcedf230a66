"""A cog's ``sys.exit()`` or a failure at shutdown never ends a command with status 0.

* ``sys.exit()`` in a cog's ``__init__``: ``deadbeat run``, ``check`` and
  ``test`` ended with status 0 and said nothing.
* ``sys.exit()`` in ``__call__``: ``deadbeat test`` ended with status 0 and no report.
* A ``finish`` that raises: ``deadbeat test`` said ``ok`` although every run of
  that pipeline exits 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

MakeDist = Callable[..., Path]

COGS = '''
import sys
from deadbeat import movement


class InitExit(movement.Cog):
    """Exits as it is built."""

    def __init__(self):
        sys.exit()


class CallExit(movement.Cog):
    """Exits on the datum b."""

    def __call__(self, d):
        if d == "b":
            sys.exit()
        return (d,)


class FinishRaise(movement.Cog):
    """Its finish raises."""

    def __call__(self, d):
        return (d,)

    def finish(self):
        raise ValueError("finish broke")


class BadStr(movement.Cog):
    """Raises an error whose message cannot be shown."""

    def __init__(self):
        class Odd(Exception):
            def __str__(self):
                raise RuntimeError("no")

        raise Odd()
'''

ENTRIES = {
    "se.init": "dbx_se:InitExit",
    "se.call": "dbx_se:CallExit",
    "se.finish": "dbx_se:FinishRaise",
    "se.badstr": "dbx_se:BadStr",
}


def _setup(make_dist: MakeDist, tmp_path: Path, cog: str) -> tuple[Path, dict[str, str]]:
    site = make_dist("dbx-se", ENTRIES, "dbx_se", COGS)
    (tmp_path / "in.txt").write_text("a\nb\n")
    (tmp_path / "p.toml").write_text(
        f'[[cog]]\nuse = "fs.read"\nfilenames = ["in.txt"]\n[[cog]]\nuse = "{cog}"\n'
        '[[cog]]\nuse = "fs.write"\nfilename = "out.txt"\n'
    )
    (tmp_path / "p.tests.toml").write_text('[[test]]\ninput = ["a", "b"]\n[test.expect]\noutput = ["a", "b"]\n')
    return tmp_path / "p.toml", {**os.environ, "PYTHONPATH": str(site)}


def _deadbeat(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


@pytest.mark.parametrize("command", [["run", "--once"], ["check"], ["test"]])
@pytest.mark.parametrize(
    ("cog", "said"), [("se.init", "SystemExit: "), ("se.badstr", "its message could not be shown")]
)
def test_a_cog_that_exits_or_hides_its_message_as_it_is_built(
    make_dist: MakeDist, tmp_path: Path, command: list[str], cog: str, said: str
) -> None:
    pipeline, env = _setup(make_dist, tmp_path, cog)
    done = _deadbeat(env, tmp_path, *command, str(pipeline))
    assert done.returncode == 1
    assert f"cog[1] ({cog}): cannot start:" in done.stdout + done.stderr
    assert said in done.stdout + done.stderr


def test_deadbeat_test_fails_a_cog_that_exits_while_handling_data(make_dist: MakeDist, tmp_path: Path) -> None:
    pipeline, env = _setup(make_dist, tmp_path, "se.call")
    done = _deadbeat(env, tmp_path, "test", str(pipeline))
    assert done.returncode == 1
    assert "FAIL  test[0]" in done.stdout and "the run failed:" in done.stdout and "SystemExit" in done.stdout
    assert "0 passed, 1 failed" in done.stdout


def test_deadbeat_test_fails_a_pipeline_whose_finish_fails(make_dist: MakeDist, tmp_path: Path) -> None:
    pipeline, env = _setup(make_dist, tmp_path, "se.finish")
    done = _deadbeat(env, tmp_path, "test", str(pipeline))
    assert done.returncode == 1
    assert "the run failed: FinishRaise(): finish failed: ValueError: finish broke" in done.stdout
    ran = _deadbeat(env, tmp_path, "run", "--once", str(pipeline))
    assert ran.returncode == 1
