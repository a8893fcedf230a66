"""What a cog module does to logging as it is imported is undone for ``deadbeat run``.

A plugin calling ``logging.disable(logging.ERROR)`` at import made failed data
vanish: no dead-letter line, no summary, exit 0. One calling
``logging.basicConfig(force=True)`` (a common library habit) doubled every line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

MakeDist = Callable[..., Path]

MODULE = """
import logging
{call}


def tag(datum):
    '''Pass the datum on.'''
    return (datum,)
"""


@pytest.mark.parametrize(
    ("call", "said"),
    [
        ("logging.disable(logging.ERROR)", "disabled logging"),
        ("logging.basicConfig(force=True, format='PLUGIN %(message)s')", "added a StreamHandler"),
    ],
)
def test_failed_data_still_leave_their_dead_letter_once(
    make_dist: MakeDist, tmp_path: Path, call: str, said: str
) -> None:
    site = make_dist("dbx-log", {"xlog.tag": "dbx_log:tag"}, "dbx_log", MODULE.format(call=call))
    (tmp_path / "in.txt").write_text("not json\n")
    (tmp_path / "p.toml").write_text(
        '[[cog]]\nuse = "fs.read"\nfilenames = ["in.txt"]\n[[cog]]\nuse = "xlog.tag"\n'
        '[[cog]]\nuse = "text.json_parse"\n[[cog]]\nuse = "text.json_format"\n'
        '[[cog]]\nuse = "fs.write"\nfilename = "out.txt"\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", "--once", "p.toml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        timeout=120,
    )
    assert f"a cog module changed the logging set-up as it was imported ({said})" in done.stderr
    assert done.stderr.count("dead letter from") == 1, done.stderr
    assert "PLUGIN" not in done.stderr
    assert "finished: in 1, out 0, errors 1" in done.stderr
