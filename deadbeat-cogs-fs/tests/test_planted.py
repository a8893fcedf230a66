"""Names planted by another local account in shared log and output directories, for real.

The attacker is a forked child of the test that drops to uid 65534 (nobody)
and plants symbolic links, FIFOs and files with its own rights in directories
of mode 1777, while the cogs run as root (as the tests do). Each test checks
that nothing is read, clobbered or stalled.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import inotify_simple
import pytest

from deadbeat import fs, movement
from deadbeat.testing import Collector, run_train

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="plants files as another user (uid 65534): needs root")

ATTACKER = 65534
SECRET = "ROOT ONLY: password=hunter2"
#: Generous: these waits end as soon as what they wait for happens.
WAIT = 60.0


class Attacker:
    """Another local account: a forked child running as uid 65534, doing what it is told with its own rights."""

    def __init__(self) -> None:
        requests, self._requests = os.pipe()
        self._replies, replies = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            status = 0
            try:
                os.close(self._requests)
                os.close(self._replies)
                os.setgroups([])
                os.setgid(ATTACKER)
                os.setuid(ATTACKER)
                with os.fdopen(requests, "r") as inbox, os.fdopen(replies, "w") as outbox:
                    for line in inbox:
                        op, *args = json.loads(line)
                        try:
                            self._do(op, *args)
                        except OSError as exc:
                            outbox.write(f"{type(exc).__name__}: {exc}\n")
                        else:
                            outbox.write("ok\n")
                        outbox.flush()
            except BaseException:  # noqa: BLE001 - whatever happens, the child never returns into pytest
                status = 1
            os._exit(status)
        os.close(requests)
        os.close(replies)
        self.pid = pid
        self._inbox = os.fdopen(self._replies, "r")
        self._outbox = os.fdopen(self._requests, "w")

    @staticmethod
    def _do(op: str, *args: str) -> None:  # pragma: no cover - runs in the child
        if op == "symlink":
            os.symlink(args[0], args[1])
        elif op == "mkfifo":
            os.mkfifo(args[0], 0o666)
        elif op == "mkdir":
            os.mkdir(args[0], 0o755)
        elif op == "rename":
            os.rename(args[0], args[1])
        elif op == "append":
            with open(args[0], "a") as handle:
                handle.write(args[1])
        else:
            raise OSError(f"unknown operation {op}")

    def __call__(self, op: str, *args: Any) -> None:
        """Do ``op`` as uid 65534; :raises AssertionError: if the system refused it."""
        self._outbox.write(json.dumps([op, *map(str, args)]) + "\n")
        self._outbox.flush()
        reply = self._inbox.readline().strip()
        assert reply == "ok", f"the attacker could not {op} {args}: {reply or 'no reply'}"

    def close(self) -> None:
        self._outbox.close()
        self._inbox.close()
        os.waitpid(self.pid, 0)


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    planter = Attacker()
    try:
        yield planter
    finally:
        planter.close()


@pytest.fixture
def root() -> Iterator[Path]:
    """A directory every account can reach (pytest's own is root's only), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="deadbeat-planted-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def shared_dir(path: Path) -> Path:
    """A directory like /tmp: everyone may plant names there (mode 1777)."""
    path.mkdir()
    path.chmod(0o1777)
    return path


def secret_dir(root: Path) -> Path:
    """A directory only root can read, holding a secret line in a file a log pattern would match."""
    secrets = root / "secretdir"
    secrets.mkdir(mode=0o700)
    (secrets / "s.log").write_text(SECRET + "\n")
    return secrets


def deadbeat(pipeline: Path, *args: str, timeout: float = WAIT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=pipeline.parent,
    )


def wait_for(condition: Any, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def run_in_loop(esc: movement.Escapement, work: Any, last: Any) -> None:
    """Run ``work`` in a thread while the loop runs; when it is done, call ``last`` in the loop and stop."""
    failure: list[BaseException] = []
    finished = threading.Event()

    def body() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            failure.append(exc)
        finally:
            finished.set()

    def watch() -> None:
        if finished.is_set():
            last()
            esc.shutdown()

    esc.every(0.01, watch, keeps_alive=False)
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    esc.run()
    esc.close()
    thread.join(WAIT)
    if failure:
        raise failure[0]


def watched_paths(esc: movement.Escapement, owner: object) -> set[str]:
    """The paths of ``owner``'s inotify watches (or polled stand-ins)."""
    paths = set()
    for binding in esc.bindings_of(owner):
        path = getattr(binding, "path", None) or getattr(getattr(binding, "watch", None), "path", None)
        if path:
            paths.add(path)
    return paths


class TestLinkedDirectories:
    """``logs/evil -> /secretdir`` with ``logs/*/*.log``: nothing through the link is read."""

    @pytest.mark.parametrize(("cog", "args"), [("fs.read", ()), ("fs.tail", ("--once",))])
    def test_a_directory_link_matched_by_a_wildcard_is_not_followed(
        self, root: Path, attacker: Attacker, cog: str, args: tuple[str, ...]
    ) -> None:
        """The secret stays out, the run succeeds, and the link is named once however many files are under it."""
        secrets = secret_dir(root)
        (secrets / "t.log").write_text(SECRET + " too\n")
        os.symlink("/etc/passwd", secrets / "zz.log")  # a link in there was refused by name, in the log
        logs = shared_dir(root / "logs")
        (logs / "app").mkdir()
        (logs / "app" / "a.log").write_text("fine\n")
        attacker("symlink", secrets, logs / "evil")
        out = root / "out.txt"
        pipeline = root / "pipeline.toml"
        pipeline.write_text(
            f'[[cog]]\nuse = "{cog}"\nfilenames = ["{logs}/*/*.log"]\n[[cog]]\nuse = "fs.write"\nfilename = "{out}"\n'
        )
        result = deadbeat(pipeline, *args)
        assert result.returncode == 0, result.stderr
        assert lines_of(out) == ["fine"]
        said = [line for line in result.stderr.splitlines() if "a symbolic link on the way to" in line]
        assert len(said) == 1 and f"{logs}/evil: a symbolic link on the way to {logs}/*/*.log;" in said[0], said
        # What is in the directory it leads to is not even listed, nor named in the log.
        assert not [name for name in ("s.log", "t.log", "zz.log") if name in result.stderr], result.stderr
        assert "follow_symlinks = true" in said[0]

    def test_links_deeper_below_the_wildcard_and_follow_symlinks(self, root: Path, attacker: Attacker) -> None:
        """``logs/*/sub/*.log``: a literal directory below the wildcard is a link too; followed only when asked."""
        secrets = secret_dir(root)
        logs = shared_dir(root / "logs")
        attacker("mkdir", logs / "theirs")
        attacker("symlink", secrets, logs / "theirs" / "sub")
        (logs / "ours" / "sub").mkdir(parents=True)
        (logs / "ours" / "sub" / "a.log").write_text("fine\n")
        pattern = str(logs / "*" / "sub" / "*.log")
        esc = movement.Escapement()
        out = run_train([fs.FileReaderSupply(esc, [pattern])], esc=esc)
        assert out.data == ["fine"] and esc.failures == []
        esc = movement.Escapement()
        out = run_train([fs.FileReaderSupply(esc, [pattern], follow_symlinks=True)], esc=esc)
        assert sorted(out.data) == [SECRET, "fine"]

    def test_links_in_the_fixed_prefix_are_the_operators(self, root: Path) -> None:
        """A link before the first wildcard was named by the operator: it is followed (``/var/run -> /run``)."""
        real = root / "real"
        (real / "app").mkdir(parents=True)
        (real / "app" / "a.log").write_text("fine\n")
        os.symlink(real, root / "named")
        esc = movement.Escapement()
        out = run_train([fs.FileReaderSupply(esc, [str(root / "named" / "*" / "*.log")])], esc=esc)
        assert out.data == ["fine"] and esc.failures == []

    def test_a_directory_swapped_for_a_link_while_tailing(
        self, root: Path, attacker: Attacker, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The attacker's own log directory becomes a link to /secretdir: nothing there is read, or watched."""
        secrets = secret_dir(root)
        logs = shared_dir(root / "logs")
        attacker("mkdir", logs / "theirs")
        attacker("append", logs / "theirs" / "a.log", "theirs\n")
        (logs / "ours").mkdir()
        (logs / "ours" / "a.log").write_text("ours 1\n")
        esc = movement.Escapement()
        collector = Collector()
        supply = fs.FileWatcherSupply(
            esc, [str(logs / "*" / "*.log")], poll_interval=0.05, rescan_interval=0.1, rotate_wait=0.1
        )
        movement.Train(esc, [supply, collector])
        watched: set[str] = set()

        def attack() -> None:
            wait_for(lambda: sorted(collector.data) == ["ours 1", "theirs"], "the first lines")
            attacker("rename", logs / "theirs", logs / "theirs.old")
            attacker("symlink", secrets, logs / "theirs")
            with open(secrets / "s.log", "a") as handle:
                handle.write(SECRET + " again\n")
            (secrets / "new.log").write_text(SECRET + " in a new file\n")
            wait_for(lambda: f"{logs}/theirs: a symbolic link" in caplog.text, "the refusal, at a rescan")
            time.sleep(0.5)  # more rescans, with the new file there
            with open(logs / "ours" / "a.log", "a") as handle:
                handle.write("ours 2\n")
            wait_for(lambda: "ours 2" in collector.data, "a line written after the swap")

        run_in_loop(esc, attack, lambda: watched.update(watched_paths(esc, supply)))
        assert sorted(collector.data) == ["ours 1", "ours 2", "theirs"]
        assert caplog.text.count(f"{logs}/theirs: a symbolic link on the way to") == 1
        # Files are watched through their descriptors: no watch went through the link (nor is on a pattern).
        assert watched and all(path.startswith("/proc/self/fd/") for path in watched), watched


class TestPlantedFifos:
    """A FIFO under a matched name: refused, said once, never waited on."""

    def test_fifos_planted_and_swapped_in_do_not_stall_the_daemon(self, root: Path, attacker: Attacker) -> None:
        """One FIFO planted before the start, one swapped in between the first look and the opening (timed by the
        opening of the first file, with 300 files to open before it), one swapped in later under a followed name:
        the daemon reads on, says each once, and stops at SIGTERM."""
        logs = shared_dir(root / "logs")
        for n in range(300):
            (logs / f"a{n:03}.log").write_text(f"a{n:03}\n")
        (logs / "good.log").write_text("good 0\n")
        attacker("mkfifo", logs / "e0.log")
        attacker("append", logs / "zz.log", "")
        attacker("mkfifo", logs / ".zz.fifo")
        out = root / "out.txt"
        pipeline = root / "pipeline.toml"
        pipeline.write_text(
            f'[[cog]]\nuse = "fs.tail"\nfilenames = ["{logs}/*.log"]\n[[cog]]\nuse = "fs.write"\nfilename = "{out}"\n'
        )
        opened = inotify_simple.INotify()
        opened.add_watch(str(logs), inotify_simple.flags.OPEN)
        stderr = open(root / "stderr.txt", "w+")  # noqa: SIM115 - read after the process ends
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--quiet"], stderr=stderr, cwd=root
        )
        try:
            # The tailer has looked at every name and opens the files one by one: swap now.
            deadline = time.monotonic() + WAIT
            while not any(event.name.startswith("a") for event in opened.read(timeout=1000)):
                assert time.monotonic() < deadline and process.poll() is None, "the tailer opened no file"
            attacker("rename", logs / ".zz.fifo", logs / "zz.log")
            wait_for(lambda: {"a299", "good 0"} <= set(lines_of(out)), "the first scan's lines")
            attacker("append", logs / "e2.log", "theirs\n")
            wait_for(lambda: "theirs" in lines_of(out), "the attacker's own line")
            attacker("mkfifo", logs / ".e2.fifo")
            attacker("rename", logs / ".e2.fifo", logs / "e2.log")
            for n in range(1, 4):
                time.sleep(0.3)
                with open(logs / "good.log", "a") as handle:
                    handle.write(f"good {n}\n")
            wait_for(lambda: "good 3" in lines_of(out), "the lines written after the FIFOs")
            process.send_signal(signal.SIGTERM)
            process.wait(WAIT)
        finally:
            opened.close()
            if process.poll() is None:
                process.kill()
                process.wait()
            stderr.seek(0)
            said = stderr.read()
            stderr.close()
        assert process.returncode == 0, said
        written = lines_of(out)
        assert sorted(written) == sorted(
            [f"a{n:03}" for n in range(300)] + [f"good {n}" for n in range(4)] + ["theirs"]
        )
        for name in ("e0.log", "zz.log", "e2.log"):
            assert said.count(f"{logs}/{name}: not a regular file (a FIFO); not read") == 1, said

    def test_a_fifo_swapped_in_after_the_look_is_refused_at_the_open(
        self, root: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The stat said a regular file, the name is a FIFO when opened: refused at once, not waited on."""
        logs = shared_dir(root / "logs")
        (logs / "good.log").write_text("good\n")
        planted = logs / "e1.log"
        planted.write_text("")
        esc = movement.Escapement()
        supply = fs.FileWatcherSupply(esc, [str(logs / "*.log")], tail=False)
        looked = os.lstat(planted)
        planted.unlink()
        os.mkfifo(planted)
        os.chown(planted, ATTACKER, ATTACKER)
        done = threading.Event()

        def open_it() -> None:
            from deadbeat.fs._identity import FileId

            supply._open(str(planted), FileId.of(looked), lineage=str(planted), order=99)
            done.set()

        thread = threading.Thread(target=open_it, daemon=True)
        thread.start()
        thread.join(WAIT)
        if not done.is_set():
            os.close(os.open(planted, os.O_WRONLY | os.O_NONBLOCK))  # let it go before failing
        assert done.is_set(), "open() waited for a writer of the FIFO"
        assert f"{planted}: not a regular file (a FIFO); not read" in caplog.text
        out = run_train([supply], esc=esc)
        assert out.data == ["good"]

    def test_a_fifo_named_as_the_input_fails_the_run(self, root: Path) -> None:
        """Named, not matched: what was asked for cannot be read, so the run fails (and does not wait)."""
        fifo = root / "in.fifo"
        os.mkfifo(fifo)
        esc = movement.Escapement()
        run_train([fs.FileReaderSupply(esc, [str(fifo)])], esc=esc)
        assert len(esc.failures) == 1 and "in.fifo: not a regular file (a FIFO); not read" in esc.failures[0]


class TestFsReadParameters:
    def test_fs_read_takes_follow_symlinks_and_owners(self, root: Path, attacker: Attacker) -> None:
        """What the security page promises of fs.read, from a pipeline file: links and other owners' files refused."""
        logs = shared_dir(root / "logs")
        (logs / "ours.log").write_text("ours\n")
        attacker("append", logs / "theirs.log", "theirs\n")
        secrets = secret_dir(root)
        attacker("symlink", secrets / "s.log", logs / "evil.log")
        out = root / "out.txt"
        pipeline = root / "pipeline.toml"
        for follow, owners, expected in [
            ("false", '["root"]', ["ours"]),
            ("false", "[]", ["ours", "theirs"]),
            ("true", "[]", [SECRET, "ours", "theirs"]),
        ]:
            out.unlink(missing_ok=True)
            pipeline.write_text(
                f'[[cog]]\nuse = "fs.read"\nfilenames = ["{logs}/*.log"]\n'
                f"follow_symlinks = {follow}\nowners = {owners}\n"
                f'[[cog]]\nuse = "fs.write"\nfilename = "{out}"\n'
            )
            result = deadbeat(pipeline)
            assert result.returncode == 0, result.stderr
            assert sorted(lines_of(out)) == expected, result.stderr


class TestOutputInASharedDirectory:
    """``fs.write filename = "shared/out.txt"`` in a directory of mode 1777."""

    def pipeline(self, root: Path, filename: Path) -> Path:
        (root / "in.txt").write_text("written\n")
        pipeline = root / "pipeline.toml"
        pipeline.write_text(
            f'[[cog]]\nuse = "fs.read"\nfilenames = ["in.txt"]\n[[cog]]\nuse = "fs.write"\nfilename = "{filename}"\n'
        )
        return pipeline

    def victim(self, root: Path) -> Path:
        victim = root / "victim"
        victim.write_text("precious\n")
        victim.chmod(0o600)
        return victim

    def test_a_link_at_the_output_name_is_not_written_through(self, root: Path, attacker: Attacker) -> None:
        victim = self.victim(root)
        shared = shared_dir(root / "shared")
        attacker("symlink", victim, shared / "out.txt")
        result = deadbeat(self.pipeline(root, shared / "out.txt"))
        assert result.returncode == 1
        assert f"{shared}/out.txt: a symbolic link; not written through" in result.stderr
        assert victim.read_text() == "precious\n"

    def test_our_own_link_where_only_we_can_write_is_followed(self, root: Path) -> None:
        """/dev/stderr, and a link of ours in a private directory, are written through; ours in a shared one is not."""
        private = root / "private"
        private.mkdir(mode=0o700)
        target = root / "target.txt"
        (private / "out.txt").symlink_to(target)
        result = deadbeat(self.pipeline(root, private / "out.txt"))
        assert result.returncode == 0, result.stderr
        assert lines_of(target) == ["written"]
        result = deadbeat(self.pipeline(root, Path("/dev/stderr")))
        assert result.returncode == 0, result.stderr
        assert "written\n" in result.stderr
        shared = shared_dir(root / "shared")
        (shared / "mine.txt").symlink_to(target)
        result = deadbeat(self.pipeline(root, shared / "mine.txt"))
        assert result.returncode == 1
        assert f"{shared}/mine.txt: a symbolic link; not written through" in result.stderr

    @pytest.mark.parametrize("planted", ["file", "fifo"])
    def test_a_file_another_user_owns_there_is_refused(self, root: Path, attacker: Attacker, planted: str) -> None:
        """Their file would let them read our output; their FIFO would stall the start. Ours is appended to."""
        shared = shared_dir(root / "shared")
        if planted == "file":
            attacker("append", shared / "out.txt", "")
        else:
            attacker("mkfifo", shared / "out.txt")
        result = deadbeat(self.pipeline(root, shared / "out.txt"))
        assert result.returncode == 1
        assert f"{shared}/out.txt: owned by another user (uid {ATTACKER}) in a directory others can write to" in (
            result.stderr
        )
        if planted == "file":
            assert (shared / "out.txt").read_text() == ""
        mine = shared / "mine.txt"
        mine.write_text("before\n")
        result = deadbeat(self.pipeline(root, mine))
        assert result.returncode == 0, result.stderr
        assert lines_of(mine) == ["before", "written"]
        result = deadbeat(self.pipeline(root, shared / "new.txt"))
        assert result.returncode == 0, result.stderr
        assert lines_of(shared / "new.txt") == ["written"]

    def test_a_link_on_the_way_below_a_shared_directory_is_refused(self, root: Path, attacker: Attacker) -> None:
        """``shared/d -> private``, ``shared/theirs/d -> private``: refused; root's own link elsewhere is followed."""
        private = root / "private"
        private.mkdir(mode=0o700)
        shared = shared_dir(root / "shared")
        attacker("symlink", private, shared / "d")
        attacker("mkdir", shared / "theirs")
        attacker("symlink", private, shared / "theirs" / "d")
        for way, why in [
            (shared / "d", "in a directory writable by others"),
            (shared / "theirs" / "d", f"in a directory owned by another user (uid {ATTACKER})"),
        ]:
            result = deadbeat(self.pipeline(root, way / "out.txt"))
            assert result.returncode == 1
            assert f"{way}: a symbolic link {why}" in result.stderr, result.stderr
        assert list(private.iterdir()) == []
        os.symlink(private, root / "mine")
        result = deadbeat(self.pipeline(root, root / "mine" / "out.txt"))
        assert result.returncode == 0, result.stderr
        assert lines_of(private / "out.txt") == ["written"]

    def test_a_link_planted_before_sighup_is_not_written_through(self, root: Path, attacker: Attacker) -> None:
        """logrotate moved the file, the attacker put a link at its name: reopening refuses it, writes go on."""
        victim = self.victim(root)
        shared = shared_dir(root / "shared")
        out = shared / "out.txt"
        esc = movement.Escapement()
        drain = fs.LineFileDrain(esc, str(out))
        train = movement.Train(esc, [drain])
        train.send(None, ["one"])
        os.rename(out, shared / "out.txt.1")
        attacker("symlink", victim, out)
        drain.reopen()
        train.send(None, ["two"])
        drain.done()
        esc.close()
        assert victim.read_text() == "precious\n"
        assert lines_of(shared / "out.txt.1") == ["one", "two"]
        assert len(esc.failures) == 1 and "out.txt: a symbolic link; not written through" in esc.failures[0]


class TestSpoolDirectory:
    """``fs.spool`` lists regular files, then reads them: a name swapped in between is refused."""

    @pytest.mark.parametrize("planted", ["link", "fifo"])
    def test_a_name_swapped_after_the_listing_is_neither_followed_nor_waited_on(
        self, root: Path, attacker: Attacker, planted: str
    ) -> None:
        """Listed as the attacker's regular file, then a link to a root-only file or a FIFO: it goes to the error
        output without its target's content, at once, and the other files are taken."""
        secrets = secret_dir(root)
        spool = shared_dir(root / "spool")
        attacker("append", spool / "e1", "theirs")
        (spool / "ok").write_text("ours")
        esc = movement.Escapement()
        supply = fs.SpoolDirSupply(esc, str(spool))
        collector = Collector()
        records: list[movement.ErrorRecord] = []
        movement.Train(esc, [supply, collector], error_output=records.append)
        assert sorted(supply._candidates()) == ["e1", "ok"]
        if planted == "link":
            attacker("symlink", secrets / "s.log", spool / ".e1.new")
        else:
            attacker("mkfifo", spool / ".e1.new")
        attacker("rename", spool / ".e1.new", spool / "e1")
        done = threading.Event()

        def take() -> None:
            supply._take("e1")
            supply._take("ok")
            done.set()

        thread = threading.Thread(target=take, daemon=True)
        thread.start()
        thread.join(WAIT)
        if not done.is_set():
            os.close(os.open(spool / "e1", os.O_WRONLY | os.O_NONBLOCK))  # let it go before failing
        assert done.is_set(), "open() waited for a writer of the FIFO"
        esc.close()
        assert [datum["data"] for datum in collector.data] == ["ours"]
        assert len(records) == 1 and SECRET not in repr(records[0].datum)
        why = "a symbolic link; not followed" if planted == "link" else "not a regular file (a FIFO); not read"
        assert f"{spool}/e1: {why}" in str(records[0].error)

    def test_a_spool_directory_that_is_the_attackers_link_is_not_read_from(
        self, root: Path, attacker: Attacker
    ) -> None:
        """/tmp/spool -> a root-only directory, planted by the attacker: fs.spool refuses to start, and neither
        reads nor removes the files there (it used to send them on and unlink them)."""
        secrets = secret_dir(root)
        shared = shared_dir(root / "tmp")
        attacker("symlink", secrets, shared / "spool")
        esc = movement.Escapement()
        try:
            with pytest.raises(OSError, match="a symbolic link in a directory writable by others"):
                fs.SpoolDirSupply(esc, str(shared / "spool"))
        finally:
            esc.close()
        assert (secrets / "s.log").read_text() == SECRET + "\n"

    def test_a_spool_directory_that_is_the_attackers_link_is_not_written_to(
        self, root: Path, attacker: Attacker
    ) -> None:
        """The same link for fs.spool_write: nothing is created in root's directory (a cron line could have been)."""
        secrets = secret_dir(root)
        shared = shared_dir(root / "tmp")
        attacker("symlink", secrets, shared / "out")
        with pytest.raises(OSError, match="a symbolic link in a directory writable by others"):
            fs.SpoolDirDrain(str(shared / "out"), name_getter="name")
        assert sorted(os.listdir(secrets)) == ["s.log"]

    def test_a_directory_swapped_after_start_is_not_followed(self, root: Path, attacker: Attacker) -> None:
        """The drain's directory, renamed away by someone who can and replaced with a link after the start:
        files go on into the directory opened at start."""
        secrets = secret_dir(root)
        shared = shared_dir(root / "tmp")
        out = shared / "out"
        drain = fs.SpoolDirDrain(str(out), name_getter="name", fsync=False)
        out.rename(shared / "moved")
        attacker("symlink", secrets, out)
        drain({"name": "e1", "data": "ours"})
        drain.done()
        assert sorted(os.listdir(secrets)) == ["s.log"]
        assert (shared / "moved" / "e1").read_text() == "ours"


class TestPlantedNamedDirectory:
    @pytest.mark.parametrize(("cog", "args"), [("fs.read", ()), ("fs.tail", ("--once",))])
    def test_a_log_directory_named_in_tmp_that_is_the_attackers_link_is_not_read(
        self, root: Path, attacker: Attacker, cog: str, args: tuple[str, ...]
    ) -> None:
        """filenames = ["/tmp/applogs/*.log"], and another account made /tmp/applogs a link to a root-only
        directory: nothing of it is read, and the run fails naming the link (it used to read the secrets)."""
        secrets = secret_dir(root)
        shared = shared_dir(root / "tmp")
        attacker("symlink", secrets, shared / "applogs")
        out = root / "out.txt"
        pipeline = root / "pipeline.toml"
        pipeline.write_text(
            f'[[cog]]\nuse = "{cog}"\nfilenames = ["{shared}/applogs/*.log"]\n'
            f'[[cog]]\nuse = "fs.write"\nfilename = "{out}"\n'
        )
        result = deadbeat(pipeline, *args)
        assert result.returncode == 1, result.stderr
        assert not out.exists() or SECRET not in out.read_text()
        assert f"{shared}/applogs: a symbolic link in a directory writable by others" in result.stderr
        assert "not followed, as another account could have planted it" in result.stderr

    def test_our_own_link_to_a_log_directory_is_followed(self, root: Path) -> None:
        """/var/log/app -> /srv/app/logs made by root, in a directory only root writes to: read as before."""
        real = root / "real-logs"
        real.mkdir()
        (real / "a.log").write_text("fine\n")
        os.symlink(real, root / "logs")
        out = root / "out.txt"
        pipeline = root / "pipeline.toml"
        pipeline.write_text(
            f'[[cog]]\nuse = "fs.read"\nfilenames = ["{root}/logs/*.log"]\n'
            f'[[cog]]\nuse = "fs.write"\nfilename = "{out}"\n'
        )
        result = deadbeat(pipeline)
        assert result.returncode == 0, result.stderr
        assert lines_of(out) == ["fine"]
