"""``socket.listen``'s ``mode`` is octal text in a pipeline file, as ``[daemon] umask`` is.

``mode = 600`` (and ``"600"``, ``"0600"``) was read as the decimal number six
hundred: the socket file got ``0o1130`` (the group could connect, the sticky bit
set), and ``deadbeat check`` accepted it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deadbeat import movement
from deadbeat.socket import SocketSupply


def _pipeline(tmp_path: Path, mode: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(
        f'[[cog]]\nuse = "socket.listen"\ntransport = "unix"\npath = "s.sock"\nmode = {mode}\n'
        '[[cog]]\nuse = "fs.write"\nfilename = "o.log"\n'
    )
    return path


def _deadbeat(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )


@pytest.mark.parametrize("bare", ["600", "0o600", "99999"])
def test_a_bare_number_is_refused_naming_the_key(tmp_path: Path, bare: str) -> None:
    done = _deadbeat(tmp_path, "check", str(_pipeline(tmp_path, bare)))
    assert done.returncode == 1
    assert "cog[0] (socket.listen): mode: expected octal digits in quotes" in done.stdout + done.stderr


@pytest.mark.parametrize("text", ['"600"', '"0600"', '"0o600"'])
def test_octal_text_gives_those_bits(tmp_path: Path, text: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", str(_pipeline(tmp_path, text))],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "s.sock").exists():
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the socket never appeared"
            time.sleep(0.05)
        assert stat.S_IMODE(os.stat(tmp_path / "s.sock").st_mode) == 0o600
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.mark.parametrize("mode", [0o1777, -1, True, "600"])
def test_python_refuses_what_is_no_permission_bits(tmp_path: Path, mode: object) -> None:
    esc = movement.Escapement()
    try:
        with pytest.raises(ValueError, match="mode must be permission bits"):
            SocketSupply(esc, transport="unix", path=str(tmp_path / "s.sock"), mode=mode)  # type: ignore[arg-type]
    finally:
        esc.close()
