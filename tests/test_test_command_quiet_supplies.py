"""``deadbeat test`` runs no supply for real, not only the first.

A pipeline with two ``fs.tail`` cogs: the test ran the second one on the real
file, caught its line as output (the test failed for no fault of its own) and
saved its position in the real state file, so that the next ``deadbeat run``
never wrote that line. A ``socket.listen`` further on took the production port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def _deadbeat(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ),
        timeout=120,
    )


TESTS = """
[[test]]
name = "the data go through"
input = ["x"]
[test.expect]
output = ["x"]
"""


def test_a_second_tail_reads_nothing_and_saves_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("real-a\n")
    (tmp_path / "b.log").write_text("real-b\n")
    (tmp_path / "p.toml").write_text(
        '[[cog]]\nuse = "fs.tail"\nfilenames = ["a.log"]\nstate_file = "st/a"\n'
        '[[cog]]\nuse = "fs.tail"\nfilenames = ["b.log"]\nstate_file = "st/b"\n'
        '[[cog]]\nuse = "fs.write"\nfilename = "out.log"\n'
    )
    (tmp_path / "p.tests.toml").write_text(TESTS)
    tested = _deadbeat(tmp_path, "test", "p.toml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert not (tmp_path / "st").exists() or not any((tmp_path / "st").iterdir())
    assert not (tmp_path / "out.log").exists()
    ran = _deadbeat(tmp_path, "run", "--once", "p.toml")
    assert ran.returncode == 0, ran.stderr
    assert sorted((tmp_path / "out.log").read_text().splitlines()) == ["real-a", "real-b"]


def test_a_listening_supply_further_on_takes_no_port(tmp_path: Path) -> None:
    # The port is taken by someone else (the running collector): the test must not need it.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "in.log").write_text("")
        (tmp_path / "p.toml").write_text(
            f'[[cog]]\nuse = "fs.tail"\nfilenames = ["in.log"]\n'
            f'[[cog]]\nuse = "socket.listen"\nhost = "127.0.0.1"\nport = {port}\n'
            '[[cog]]\nuse = "fs.write"\nfilename = "out.log"\n'
        )
        (tmp_path / "p.tests.toml").write_text(TESTS)
        tested = _deadbeat(tmp_path, "test", "p.toml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout
