"""One state file, one process: a second run of the same pipeline is refused, never run beside the first.

Found trying the tutorial: the pipeline started twice (a service, and the same
file run by hand to try it) read from the same positions and both wrote every
line: 4,000 lines out for 2,000 in, exit status 0 for both, no warning. A
later restart cut the output back by one run's offset and left it wrong.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from deadbeat import fs, movement
from deadbeat.fs._state import StateFile, StateFileInUse

PIPELINE = """
[[cog]]
use = "fs.tail"
filenames = ["app.log"]
state_file = "state/positions.json"

[[cog]]
use = "fs.write"
filename = "written.out"
state_file = "state/positions.json"
"""


def deadbeat(directory: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", "--quiet", *args, "pipeline.toml"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def check(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "check", "pipeline.toml"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_reports_a_state_file_the_run_would_refuse_or_set_aside(tmp_path: Path) -> None:
    """Another version's format fails the check as it fails the run; an unreadable one is a warning."""
    (tmp_path / "pipeline.toml").write_text(PIPELINE)
    (tmp_path / "app.log").write_text("a\nb\n")
    (tmp_path / "state").mkdir(mode=0o700)
    state = tmp_path / "state" / "positions.json"
    state.write_text('{"version": 99, "sections": {}}')
    checked = check(tmp_path)
    assert checked.returncode == 1
    assert f"{state} is of format 99" in checked.stdout
    run = deadbeat(tmp_path, "--once")
    _, err = run.communicate(timeout=60)
    assert run.returncode == 1 and b"format 99" in err
    state.write_text('{"sections": {"tail:')
    checked = check(tmp_path)
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.count(f"{state} cannot be read") == 2
    assert "reading every file from its start again" in checked.stdout
    assert state.read_text() == '{"sections": {"tail:', "check leaves the file as it is"


def test_a_second_run_with_the_same_state_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pipeline.toml").write_text(PIPELINE)
    (tmp_path / "app.log").write_text("".join(f"line {n}\n" for n in range(1000)))
    first = deadbeat(tmp_path)
    try:
        lock = tmp_path / "state" / "positions.json.lock"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (lock.exists() and lock.read_text().strip()):
            time.sleep(0.01)
        assert lock.read_text().strip() == str(first.pid)
        second = deadbeat(tmp_path)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert b"in use by another process" in err and str(first.pid).encode() in err
        # deadbeat check says so too, before anyone starts the second run; once per cog that names the file.
        checked = check(tmp_path)
        assert checked.returncode == 1
        assert checked.stdout.count(f"is in use by another process (pid {first.pid})") == 2, checked.stdout
        with (tmp_path / "app.log").open("a") as log:
            log.writelines(f"line {n}\n" for n in range(1000, 2000))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len((tmp_path / "written.out").read_text().splitlines()) < 2000:
            time.sleep(0.05)
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 0
    assert (tmp_path / "written.out").read_text().splitlines() == [f"line {n}" for n in range(2000)]
    assert not check(tmp_path).returncode, "free again: the check passes"
    # The first gone, the state file is free: a run --once reads nothing new and ends well.
    again = deadbeat(tmp_path, "--once")
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err.decode()
    assert len((tmp_path / "written.out").read_text().splitlines()) == 2000


def test_one_process_may_use_a_state_file_twice(tmp_path: Path) -> None:
    """A reload builds the new pipeline while the old one holds the file: the lock is the process's, not a cog's."""
    path = str(tmp_path / "state.json")
    first, second = movement.Escapement(), movement.Escapement()
    try:
        one = StateFile.acquire(first, path)
        two = StateFile.acquire(second, path)
        assert one is not two
        two.release()
        one.release()
    finally:
        first.close()
        second.close()


def test_the_lock_held_elsewhere_stops_a_cog_from_starting(tmp_path: Path) -> None:
    """The lock taken by another process: the supply's construction fails, naming the file and the holder."""
    path = tmp_path / "state.json"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(path) + '.lock'!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, b'4242\\n')\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        esc = movement.Escapement()
        try:
            (tmp_path / "in.txt").write_text("x\n")
            try:
                fs.FileWatcherSupply(esc, [str(tmp_path / "in.txt")], tail=False, state_file=str(path))
            except StateFileInUse as exc:
                assert "pid 4242" in str(exc) and str(path) in str(exc)
            else:
                raise AssertionError("the supply started beside another process holding its state file")
        finally:
            esc.close()
    finally:
        holder.kill()
        holder.wait()


def test_a_link_planted_at_the_lock_is_refused_as_unsafe(tmp_path: Path) -> None:
    """A symbolic link at PATH.lock: refused as the other planted links are (it was a raw "[Errno 40] Too many
    levels of symbolic links"), and the file it points to is untouched."""
    import pytest

    from deadbeat.daemon import UnsafePath

    target = tmp_path / "victim"
    target.write_text("keep\n")
    (tmp_path / "state.json.lock").symlink_to(target)
    esc = movement.Escapement()
    try:
        with pytest.raises(UnsafePath, match=r"state\.json\.lock is a symbolic link; the state file's lock is never"):
            StateFile.acquire(esc, str(tmp_path / "state.json"))
    finally:
        esc.close()
    assert target.read_text() == "keep\n"
