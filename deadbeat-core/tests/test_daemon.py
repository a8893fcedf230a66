"""Daemonising for real: fork, pid file lock, second instance, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from deadbeat import daemon

SCRIPT = textwrap.dedent(
    """
    import sys
    from deadbeat import daemon, movement

    daemon.detach(detach=sys.argv[1] == "1", pid_file=sys.argv[2], work_dir="/", umask=0o027)
    esc = movement.Escapement()
    esc.every(0.5, lambda: None)
    esc.run()
    """
)


def wait_for(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text(SCRIPT)
    return path


class TestDetach:
    def test_detached_daemon_writes_pid_refuses_twin_and_stops_on_sigterm(self, script: Path, tmp_path: Path) -> None:
        """The daemon runs in the background from /, holds its pid file, and cleans up on SIGTERM."""
        pid_file = tmp_path / "app.pid"
        started = subprocess.run([sys.executable, str(script), "1", str(pid_file)], capture_output=True, timeout=30)
        assert started.returncode == 0, started.stderr
        pid = int(pid_file.read_text())
        assert pid != started.returncode and alive(pid)
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        # New session: the daemon is not in the test's session.
        assert os.getsid(pid) != os.getsid(0)

        twin = subprocess.run([sys.executable, str(script), "1", str(pid_file)], capture_output=True, timeout=30)
        assert twin.returncode == 1
        assert f"another instance is running (pid {pid})" in twin.stderr.decode()
        assert int(pid_file.read_text()) == pid

        os.kill(pid, signal.SIGTERM)
        assert wait_for(lambda: not pid_file.exists()), "pid file not removed after SIGTERM"
        assert wait_for(lambda: not alive(pid))

    def test_foreground_instance_holds_the_lock(self, script: Path, tmp_path: Path) -> None:
        """Without detaching, the pid file still keeps a second instance out."""
        pid_file = tmp_path / "fg.pid"
        first = subprocess.Popen([sys.executable, str(script), "0", str(pid_file)], stderr=subprocess.PIPE)
        try:
            assert wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() == str(first.pid))
            second = subprocess.run([sys.executable, str(script), "0", str(pid_file)], capture_output=True, timeout=30)
            assert second.returncode != 0
            assert f"another instance is running (pid {first.pid})" in second.stderr.decode()
        finally:
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=10) == 0
        assert not pid_file.exists()

    def test_stale_pid_file_is_taken_over(self, tmp_path: Path) -> None:
        """A pid file left by a crash (not locked) does not block a new start."""
        pid_file = tmp_path / "stale.pid"
        pid_file.write_text("999999\n")
        held = daemon.PidFile(str(pid_file))
        try:
            assert pid_file.read_text() == f"{os.getpid()}\n"
        finally:
            held.release()
        assert not pid_file.exists()


class TestPidFileAttacks:
    """A local account that plants names where the pid file goes cannot make the daemon write elsewhere."""

    def test_a_link_at_the_pid_path_is_refused_and_its_target_untouched(self, tmp_path: Path) -> None:
        """A symlink at the pid path is never written through (today's attack truncated its target)."""
        victim = tmp_path / "victim"
        victim.write_text("precious\n")
        pid_file = tmp_path / "app.pid"
        os.symlink(victim, pid_file)
        with pytest.raises(daemon.DaemonError, match="is a symbolic link"):
            daemon.PidFile(str(pid_file))
        assert victim.read_text() == "precious\n"

    def test_a_pid_file_someone_else_owns_is_refused(self, tmp_path: Path) -> None:
        """A pid file planted by another user (here uid 65534) is not taken over."""
        pid_file = tmp_path / "app.pid"
        pid_file.write_text("1\n")
        os.chown(pid_file, 65534, 65534)
        with pytest.raises(daemon.DaemonError, match="not a regular file of ours"):
            daemon.PidFile(str(pid_file))
        assert pid_file.read_text() == "1\n"

    def test_a_directory_others_can_write_to_is_refused(self, tmp_path: Path) -> None:
        """A pid file in a world-writable directory is refused, saying how to allow it knowingly."""
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o1777)
        with pytest.raises(daemon.DaemonError, match="DEADBEAT_SHARED_DIRS=1"):
            daemon.PidFile(str(shared / "app.pid"))


KEEPS = textwrap.dedent(
    """
    import os, sys
    from deadbeat import daemon

    inherited = os.open(os.devnull, os.O_RDONLY)
    os.umask(0o077)
    daemon.detach(detach=sys.argv[1] == "1", pid_file=sys.argv[2], work_dir="/")
    try:
        still_open = os.readlink(f"/proc/self/fd/{inherited}") == os.devnull
    except OSError:
        still_open = False
    with open(sys.argv[3], "w") as report:
        report.write(f"{os.umask(0):o} {still_open}\\n")
    """
)


class TestDetachLeavesWhatItShould:
    def test_umask_is_kept_unless_given_and_inherited_descriptors_are_closed(self, tmp_path: Path) -> None:
        """Without detaching umask and descriptors stay; detaching keeps the umask and closes what was inherited."""
        script = tmp_path / "keeps.py"
        script.write_text(KEEPS)
        for flag, expected in (("0", "77 True"), ("1", "77 False")):
            report = tmp_path / f"report{flag}"
            done = subprocess.run(
                [sys.executable, str(script), flag, str(tmp_path / f"p{flag}.pid"), str(report)],
                capture_output=True,
                timeout=30,
            )
            assert done.returncode == 0, done.stderr
            assert wait_for(report.exists)
            assert wait_for(lambda: report.read_text().strip() != "")  # noqa: B023 - read at once
            assert report.read_text().strip() == expected
