"""A tailer that runs for a year: files come and go, and what it keeps stays the size of what is live.

Real files, real inotify, one process: thousands of files are created, read,
rotated or deleted while a hundred live files stay. What the tailer remembers
(positions, the state file, its indexes) and what a batch costs must come back
to what the live files need.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from deadbeat import fs, movement
from deadbeat.fs import _followed
from deadbeat.testing import Collector

LIVE = 100
ROUNDS = 10
PER_ROUND = 200


def wait(predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def run_in_loop(esc: movement.Escapement, work: Any) -> None:
    """Run ``work`` in a thread while the loop runs; stop the loop when it is done (or fails)."""
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
            esc.shutdown()

    esc.every(0.01, watch, keeps_alive=False)
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    esc.run()
    thread.join(timeout=10)
    if failure:
        raise failure[0]


class TestChurn:
    def test_files_that_came_and_went_are_forgotten(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """2,000 files created, read, deleted or rotated away: state and batch cost come back to 100 live files.

        The state file too, while running and without a new batch: the files
        forgotten when let go leave it at the next save, and the marks their
        lineages kept (one per file, each named after itself) at the next
        tidying (every ``rescan_interval``). Kept until a restart, the marks
        made the state file grow fifteenfold.
        """
        logs = tmp_path / "logs"
        logs.mkdir()
        state = tmp_path / "state" / "positions.json"
        for i in range(LIVE):
            (logs / f"live-{i:03}.log").write_text(f"live file {i} first line\n")
        esc = movement.Escapement()
        collector = Collector()
        supply = fs.FileWatcherSupply(
            esc,
            [str(logs / "*.log")],
            state_file=str(state),
            rotate_wait=0.05,
            state_interval=0.01,
            rescan_interval=0.5,
        )
        movement.Train(esc, [supply, collector])
        entries_per_checkpoint: list[int] = []

        def churn() -> None:
            wait(lambda: len(collector.data) >= LIVE, "the live files")
            for r in range(ROUNDS):
                names = [logs / f"job-{r:02}-{k:03}.log" for k in range(PER_ROUND)]
                for k, name in enumerate(names):
                    name.write_text(f"{time.time():.6f} job {r} file {k}: done, nothing to report\n")
                wait(lambda r=r: len(collector.data) >= LIVE + (r + 1) * PER_ROUND, f"round {r}")
                for k, name in enumerate(names):
                    if k % 2:
                        os.unlink(name)  # deleted
                    else:
                        os.rename(name, f"{name}.1")  # rotated to a name no pattern matches ...
                        os.unlink(f"{name}.1")  # ... and deleted later
                wait(lambda: supply.status()["open"] == LIVE, f"round {r} to be let go")
            wait(lambda: supply.status()["known"] == LIVE and not supply.status()["unacknowledged"], "forgetting")
            wait(lambda: not supply._known.marks(), "the marks of the lineages gone", timeout=10)

            def on_disk() -> tuple[int, int]:
                (saved,) = json.loads(state.read_text())["sections"].values()
                return len(saved["files"]), len(saved["lineages"])

            wait(lambda: on_disk() == (LIVE, 0), "the state file, with no batch since", timeout=10)
            # Now the cost of one batch: how many entries its checkpoint writes.
            calls = 0
            real = _followed.KnownFile.to_json

            def counting(self: _followed.KnownFile) -> dict[str, Any]:
                nonlocal calls
                calls += 1
                return real(self)

            monkeypatch.setattr(_followed.KnownFile, "to_json", counting)
            with open(logs / "live-007.log", "a") as handle:
                handle.write("live file 7 second line\n")
            wait(lambda: len(collector.data) == LIVE + ROUNDS * PER_ROUND + 1, "the last line")
            wait(lambda: supply.status()["unacknowledged"] == 0, "its acknowledgement")
            entries_per_checkpoint.append(calls)

        run_in_loop(esc, churn)
        esc.close()

        lines = collector.data
        assert len(lines) == len(set(lines)) == LIVE + ROUNDS * PER_ROUND + 1
        status = supply.status()
        assert status["known"] == LIVE and status["open"] == 0  # closed at the end
        saved = json.loads(state.read_text())["sections"]
        (section,) = saved.values()
        assert len(section["files"]) == LIVE and not section["lineages"]
        assert {entry["path"] for entry in section["files"].values()} == {
            str(logs / f"live-{i:03}.log") for i in range(LIVE)
        }
        # A batch of one live file writes that file's entry, not the whole record.
        assert entries_per_checkpoint == [1]
        # The indexes hold nothing of the files that went.
        assert not supply._files.by_id and not supply._shadows and not supply._forgetting
        assert not supply._unacknowledged and not supply._missing

    def test_a_file_forgotten_leaves_the_state_file_without_a_new_batch(self, tmp_path: Path) -> None:
        """A deleted file let go (after ``rotate_wait``) and forgotten leaves the state file at the next save,
        not at the next batch of another file, which may come hours later (or never)."""
        state = tmp_path / "state.json"
        (tmp_path / "a.log").write_text("a\n")
        (tmp_path / "b.log").write_text("b\n")

        def saved_paths() -> set[str]:
            (section,) = json.loads(state.read_text())["sections"].values()
            return {entry["path"] for entry in section["files"].values()}

        def work(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            wait(lambda: sorted(collector.data) == ["a", "b"] and not supply.status()["unacknowledged"], "the lines")
            wait(lambda: state.exists() and len(saved_paths()) == 2, "the first save")
            os.unlink(tmp_path / "a.log")
            wait(lambda: supply.status()["known"] == 1, "forgetting the deleted file", timeout=10)
            wait(lambda: saved_paths() == {str(tmp_path / "b.log")}, "the state file without it", timeout=5)

        tail_until(
            [str(tmp_path / "*.log")],
            work,
            state_file=str(state),
            rotate_wait=0.1,
            state_interval=0.05,
            rescan_interval=0,
        )

    def test_a_restart_after_churn_reads_nothing_again(self, tmp_path: Path) -> None:
        """Files forgotten were drained: a restart repeats no line and reads the new ones."""
        logs = tmp_path / "logs"
        logs.mkdir()
        state = str(tmp_path / "state.json")
        (logs / "app.log").write_text("one\n")

        def run(until: Any) -> list[Any]:
            esc = movement.Escapement()
            collector = Collector()
            supply = fs.FileWatcherSupply(esc, [str(logs / "*.log")], state_file=state, rotate_wait=0.05)
            movement.Train(esc, [supply, collector])
            run_in_loop(esc, lambda: until(collector, supply))
            esc.close()
            return collector.data

        def first(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            wait(lambda: collector.data == ["one"], "the first line")
            for k in range(20):
                (logs / f"job-{k}.log").write_text(f"job {k}\n")
            wait(lambda: len(collector.data) == 21, "the jobs")
            for k in range(20):
                os.unlink(logs / f"job-{k}.log")
            wait(lambda: supply.status()["known"] == 1, "forgetting")

        def second(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            with open(logs / "app.log", "a") as handle:
                handle.write("two\n")
            wait(lambda: len(collector.data) >= 1, "the new line")
            time.sleep(0.2)  # time for a line read twice to show

        assert sorted(run(first)) == sorted(["one"] + [f"job {k}" for k in range(20)])
        assert run(second) == ["two"]


class TestDirectoryEvents:
    def test_a_slow_rescan_finds_what_no_event_told(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Events are handled by name; the rescan every ``rescan_interval`` is the safety net."""
        logs = tmp_path / "logs"
        logs.mkdir()
        esc = movement.Escapement()
        collector = Collector()
        supply = fs.FileWatcherSupply(esc, [str(logs / "*.log")], rescan_interval=0.1)
        movement.Train(esc, [supply, collector])
        # Lose the directory's events, as an overflowing queue would without saying so.
        monkeypatch.setattr(supply, "_on_dir_event", lambda *args: None)
        for binding in supply._dir_watches.values():
            binding.callback = lambda *args: None  # type: ignore[attr-defined]

        def work() -> None:
            (logs / "late.log").write_text("found by the rescan\n")
            wait(lambda: collector.data == ["found by the rescan"], "the rescan")

        run_in_loop(esc, work)
        esc.close()
        assert collector.data == ["found by the rescan"]

    def test_two_thousand_files_made_at_once_cost_no_full_look(self, tmp_path: Path) -> None:
        """Each IN_CREATE used to start a glob and a stat of every matching file: 2,000 files made within a second
        cost ~16 s of CPU. Each event is handled by the name it carries: every line of the 2,000 files is read,
        and the directory is not looked at whole once (but after the kernel said it lost events, once each time).
        """
        logs = tmp_path / "logs"
        logs.mkdir()
        (logs / "first.log").write_text("first\n")
        esc = movement.Escapement()
        collector = Collector()
        supply = fs.FileWatcherSupply(esc, [str(logs / "*.log")], rescan_interval=0)
        movement.Train(esc, [supply, collector])
        looks = {"full": 0, "after lost events": 0, "globs": 0}
        rescan, after_overflow, glob = supply._rescan, supply._rescan_after_overflow, supply._glob

        def counted_rescan(initial: bool = False) -> None:
            looks["full"] += not initial
            rescan(initial=initial)

        def counted_after_overflow() -> None:
            looks["after lost events"] += 1
            after_overflow()

        def counted_glob(pattern: str) -> list[str]:
            looks["globs"] += 1
            return glob(pattern)

        supply._rescan = counted_rescan  # type: ignore[method-assign]
        supply._rescan_after_overflow = counted_after_overflow  # type: ignore[method-assign]
        supply._glob = counted_glob  # type: ignore[method-assign]
        count = 2000

        def work() -> None:
            wait(lambda: collector.data == ["first"], "the first file")
            globs_at_start = looks["globs"]
            for n in range(count):
                (logs / f"new-{n:04}.log").write_text(f"file {n:04}\n")
            wait(lambda: len(collector.data) >= count + 1, "every new file's line")
            looks["globs"] -= globs_at_start

        run_in_loop(esc, work)
        esc.close()
        assert sorted(collector.data) == sorted(["first", *(f"file {n:04}" for n in range(count))])
        assert looks["full"] == looks["after lost events"], looks
        assert looks["globs"] == looks["full"], looks

    def test_rescan_interval_is_checked(self, tmp_path: Path) -> None:
        """A negative interval is refused, naming the option."""
        with pytest.raises(ValueError, match="rescan_interval"):
            fs.FileWatcherSupply(movement.DummyEscapement(), [str(tmp_path / "*.log")], rescan_interval=-1)


def tail_until(
    paths: list[str], work: Any, use_inotify: bool = True, **params: Any
) -> tuple[list[Any], fs.FileWatcherSupply]:
    """Tail ``paths`` while ``work(collector, supply)`` runs in a thread; :returns: the data and the supply.

    :param use_inotify: ``False`` makes the tailer poll (``poll_interval``), as where inotify is missing.
    """
    esc = movement.Escapement(use_inotify=use_inotify)
    collector = Collector()
    supply = fs.FileWatcherSupply(esc, paths, **params)
    movement.Train(esc, [supply, collector])
    run_in_loop(esc, lambda: work(collector, supply))
    esc.close()
    return collector.data, supply


class TestChoosingFiles:
    def test_exclude_takes_files_back_from_the_patterns(self, tmp_path: Path) -> None:
        """``exclude`` patterns (by name, or by path with a ``/``) keep files unread, now and when they appear."""
        for name in ("a.log", "b.log", "c.log.gz", "debug-1.log"):
            (tmp_path / name).write_text(f"{name}\n")

        def work(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            wait(lambda: len(collector.data) >= 2, "the first files")
            (tmp_path / "debug-2.log").write_text("debug-2.log\n")
            (tmp_path / "d.log").write_text("d.log\n")
            wait(lambda: "d.log" in collector.data, "the new file")

        data, _ = tail_until(
            [str(tmp_path / "*.log*")], work, exclude=["*.gz", f"{tmp_path}/debug-*"], rescan_interval=0
        )
        assert sorted(data) == ["a.log", "b.log", "d.log"]

    def test_one_string_for_exclude_is_refused(self, tmp_path: Path) -> None:
        """``exclude`` is a list; one string is refused, naming the option."""
        with pytest.raises(TypeError, match="exclude"):
            fs.FileWatcherSupply(movement.DummyEscapement(), [str(tmp_path / "*.log")], exclude="*.gz")  # type: ignore[arg-type]

    def test_ignore_older_leaves_old_files_until_they_change(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A file not modified for ``ignore_older`` is not read, and is said; once it changes, it is read whole."""
        old, new = tmp_path / "old.log", tmp_path / "new.log"
        old.write_text("old 1\n")
        new.write_text("new 1\n")
        long_ago = time.time() - 7200
        os.utime(old, (long_ago, long_ago))

        def work(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            wait(lambda: collector.data == ["new 1"], "the new file")
            with open(old, "a") as handle:
                handle.write("old 2\n")
            wait(lambda: len(collector.data) == 3, "the old file, changed")

        with caplog.at_level("INFO", logger="deadbeat.fs"):
            data, _ = tail_until([str(tmp_path / "*.log")], work, ignore_older=3600)
        assert data == ["new 1", "old 1", "old 2"]
        assert "1 files not modified for 3600 s (ignore_older); not read" in caplog.text


class TestIdleFiles:
    def test_closed_when_idle_and_read_on_when_they_change(self, tmp_path: Path) -> None:
        """An idle file is closed; appending (even the end of a cut line) reopens it: nothing lost or repeated."""
        path = tmp_path / "a.log"
        path.write_text("one\npar")

        def work(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            for round_ in range(3):
                wait(lambda: supply.status()["closed_idle"] == 1, f"closing, round {round_}")
                assert supply.status()["open"] == 0
                with open(path, "a") as handle:
                    handle.write(f"tial {round_}\npar")
                wait(lambda r=round_: f"partial {r}" in collector.data, f"round {round_}")

        data, _ = tail_until([str(path)], work, close_inactive=0.05)
        assert data == ["one", "partial 0", "partial 1", "partial 2"]

    def test_a_restart_continues_a_file_closed_while_idle(self, tmp_path: Path) -> None:
        """The position of a closed file is kept in the state file like any other."""
        path = tmp_path / "a.log"
        state = str(tmp_path / "state.json")
        path.write_text("one\n")

        def first(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            wait(lambda: supply.status()["closed_idle"] == 1 and collector.data == ["one"], "closing")

        def second(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            wait(lambda: collector.data == ["two"], "the new line")

        assert tail_until([str(path)], first, close_inactive=0.05, state_file=state)[0] == ["one"]
        with open(path, "a") as handle:
            handle.write("two\n")
        assert tail_until([str(path)], second, close_inactive=0.05, state_file=state)[0] == ["two"]

    def test_rotated_while_closed(self, tmp_path: Path) -> None:
        """An idle file closed, then rotated (rename + create): the new file is read, the old one forgotten."""
        path = tmp_path / "a.log"
        path.write_text("one\n")

        def work(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            wait(lambda: supply.status()["closed_idle"] == 1, "closing")
            os.rename(path, f"{path}.1")
            path.write_text("two\n")
            wait(lambda: collector.data == ["one", "two"], "the new file")
            wait(lambda: supply.status()["known"] == 1, "forgetting the old file")

        data, _ = tail_until([str(path)], work, close_inactive=0.05)
        assert data == ["one", "two"]

    @pytest.mark.parametrize("watching", ["inotify", "polling"])
    @pytest.mark.parametrize("replaced", [False, True], ids=["renamed", "renamed-and-created"])
    def test_a_closed_file_rotated_away_is_read_while_its_writer_appends(
        self, tmp_path: Path, replaced: bool, watching: str
    ) -> None:
        """Closed while idle, renamed to a name no pattern matches, then written to by its writer (which has not
        reopened its file yet): those lines are read, before those of the file that replaced it, and the rotated
        file is let go and forgotten once quiet for ``rotate_wait``. Polling sees the rename as a deletion and a
        creation: the file is found under its new name, not forgotten with the lines written to it."""
        path = tmp_path / "app.log"
        path.write_text("one\n")
        writer = os.open(path, os.O_WRONLY | os.O_APPEND)

        def work(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            wait(lambda: supply.status()["closed_idle"] == 1 and collector.data == ["one"], "closing")
            os.rename(path, f"{path}.1")  # logrotate's rename ...
            os.write(writer, b"two\n")  # ... and the writer goes on in the file it holds
            want = ["one", "two"]
            if replaced:
                new = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.write(new, b"three\n")  # reopened: the new file
                os.close(new)
                want.append("three")
            wait(lambda: collector.data == want, "the lines written after the rename", timeout=10)
            wait(lambda: supply.status()["known"] == int(replaced), "forgetting the rotated file", timeout=10)

        try:
            data, _ = tail_until(
                [str(tmp_path / "*.log")],
                work,
                use_inotify=watching == "inotify",
                poll_interval=0.05,
                close_inactive=0.05,
                rotate_wait=0.5,
            )
        finally:
            os.close(writer)
        assert data == ["one", "two", "three"] if replaced else ["one", "two"]

    def test_a_closed_file_moved_out_of_sight_is_forgotten(self, tmp_path: Path) -> None:
        """Closed while idle, then moved to a directory no pattern watches: nothing can open it again, and it is
        forgotten (it used to stay in memory and in the state file for ever)."""
        logs = tmp_path / "logs"
        logs.mkdir()
        elsewhere = tmp_path / "archive"
        elsewhere.mkdir()
        (logs / "a.log").write_text("one\n")

        def work(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            wait(lambda: supply.status()["closed_idle"] == 1 and collector.data == ["one"], "closing")
            os.rename(logs / "a.log", elsewhere / "a.log")
            wait(lambda: supply.status()["known"] == 0, "forgetting it", timeout=10)
            assert supply.status()["closed_idle"] == 0

        data, _ = tail_until([str(logs / "*.log")], work, close_inactive=0.05)
        assert data == ["one"]


MANY = """
import json, os, random, resource, sys, threading, time
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
from deadbeat import fs, movement
from deadbeat.testing import Collector

root, count = sys.argv[1], int(sys.argv[2])
esc = movement.Escapement()
collector = Collector()
supply = fs.FileWatcherSupply(esc, [root + "/*.log"], state_file=root + "/state/s.json", rescan_interval=0)
movement.Train(esc, [supply, collector])
most_open = 0
def watch():
    global most_open
    most_open = max(most_open, supply.status()["open"])
esc.every(0.01, watch, keeps_alive=False)
def work():
    def wait(n):
        deadline = time.monotonic() + 120
        while len(collector.data) < n and time.monotonic() < deadline:
            time.sleep(0.01)
    wait(count)
    for n in random.Random(1).sample(range(count), count // 100):
        with open(f"{root}/f{n:05}.log", "a") as handle:
            handle.write(f"file {n} line 2\\n")
    wait(count + count // 100)
    time.sleep(0.3)
    done.set()
done = threading.Event()
esc.every(0.05, lambda: done.is_set() and esc.shutdown(), keeps_alive=False)
threading.Thread(target=work, daemon=True).start()
esc.run()
print(json.dumps({"data": collector.data, "most_open": most_open, "status": supply.status()}))
"""


class TestManyFilesFewDescriptors:
    def test_ten_thousand_files_under_a_limit_of_1024_descriptors(self, tmp_path: Path) -> None:
        """10,000 matching files, ``ulimit -n 1024``: every line once, never more files open than the cap."""
        count = 10_000
        for n in range(count):
            (tmp_path / f"f{n:05}.log").write_text(f"file {n} line 1\n")
        script = tmp_path / "many.py"
        script.write_text(MANY)
        result = subprocess.run(
            [sys.executable, str(script), str(tmp_path), str(count)], capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-3000:]
        out = json.loads(result.stdout)
        data = out["data"]
        assert len(data) == len(set(data)) == count + count // 100
        assert out["most_open"] <= 768  # three quarters of 1024
        assert "Too many open files" not in result.stderr
        assert "max_open_files (768) reached" in result.stderr

    @pytest.mark.parametrize("limit", [24, 40, 64])
    def test_the_output_after_the_tailer_still_opens_its_file_under_a_low_limit(
        self, tmp_path: Path, limit: int
    ) -> None:
        """100 files and ``ulimit -n`` of a few dozen: the tailer leaves the output room, and every line is written.

        The default cap once took every descriptor but one that the process's
        own left, so that ``fs.write``, built after it, could not open its file.
        """
        logs = tmp_path / "logs"
        logs.mkdir()
        for n in range(100):
            (logs / f"f{n:03}.log").write_text("".join(f"file {n} line {i}\n" for i in range(50)))
        out = tmp_path / "out.log"
        pipeline = tmp_path / "pipeline.toml"
        pipeline.write_text(
            f'[[cog]]\nuse = "fs.tail"\nfilenames = ["{logs}/*.log"]\ntail = false\n\n'
            f'[[cog]]\nuse = "fs.write"\nfilename = "{out}"\n'
        )
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--once"],
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)),
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Too many open files" not in result.stderr
        lines = out.read_text().splitlines()
        assert sorted(lines) == sorted(f"file {n} line {i}" for n in range(100) for i in range(50))
        for n in range(100):
            assert [line for line in lines if line.startswith(f"file {n} ")] == [
                f"file {n} line {i}" for i in range(50)
            ]


def held_deleted(path: Path) -> bool:
    """Whether this process holds a descriptor of ``path`` after its deletion (as /proc shows it)."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == f"{path} (deleted)":
                return True
        except OSError:
            continue
    return False


class TestDeletedButHeld:
    def test_a_deleted_file_is_drained_counted_and_let_go(self, tmp_path: Path) -> None:
        """Deleted while its writer goes on: its lines are read, it is counted as held, and let go once quiet."""
        path = tmp_path / "a.log"
        writer = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(writer, b"before\n")
        seen: dict[str, int] = {}

        def work(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            wait(lambda: collector.data == ["before"], "the first line")
            os.unlink(path)
            os.write(writer, b"after deletion\n")
            wait(lambda: collector.data == ["before", "after deletion"], "the line written after deletion")
            seen.update(supply.status())
            assert held_deleted(path)
            os.close(writer)
            wait(lambda: supply.status()["open"] == 0, "letting go")
            # The loop's thread counts it let go a moment before it closes the
            # descriptor (this thread may look in between, as it did under load).
            wait(lambda: not held_deleted(path), "its descriptor closed")
            wait(lambda: supply.status()["known"] == 0, "forgetting")

        data, _ = tail_until([str(tmp_path / "*.log")], work, rotate_wait=2)
        assert data == ["before", "after deletion"]
        assert seen["deleted"] == 1 and seen["rotated"] == 1


class TestFairRotation:
    def test_more_busy_files_than_descriptors_all_get_their_turn(self, tmp_path: Path) -> None:
        """12 files written at once with room for 4: each busy file yields after its turn; every line once, in order."""
        count, lines_per_file = 12, 3000
        paths = [tmp_path / f"busy-{n:02}.log" for n in range(count)]
        for path in paths:
            path.write_text("")
        most_open = 0

        def work(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            nonlocal most_open
            handles = [open(path, "a") for path in paths]  # noqa: SIM115 - closed below
            for start in range(0, lines_per_file, 500):
                for n, handle in enumerate(handles):
                    handle.write("".join(f"{n:02} {k:05} {'x' * 40}\n" for k in range(start, start + 500)))
                    handle.flush()
                most_open = max(most_open, supply.status()["open"])
            for handle in handles:
                handle.close()
            wait(lambda: len(collector.data) >= count * lines_per_file, "every line")

        data, supply = tail_until([str(tmp_path / "*.log")], work, max_open_files=4, read_size=4096, rescan_interval=0)
        assert len(data) == count * lines_per_file
        by_file: dict[str, list[int]] = {}
        for line in data:
            n, k, _ = line.split(" ")
            by_file.setdefault(n, []).append(int(k))
        assert all(seqs == list(range(lines_per_file)) for seqs in by_file.values())
        assert most_open <= 4

    def test_busy_files_renamed_beyond_the_cap_are_all_read_in_order(self, tmp_path: Path) -> None:
        """12 files written at once with room for 4, each renamed (rotated) three times as it is written, its writer
        reopening its name: every line once, in each writer's order. A file renamed while it waited for a
        descriptor was left waiting under its old name, where the file made next took its place (it was never
        read); and the descriptors of rotated files let go went to no file waiting, which waited for ever once
        its writer stopped."""
        count, cap, rotations = 12, 4, 3
        written = [0] * count
        most_open = 0

        def work(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            nonlocal most_open
            handles: dict[int, tuple[int, int]] = {}

            def write_round() -> None:
                for n in range(count):
                    path = tmp_path / f"f{n:02}.log"
                    try:
                        inode = os.stat(path).st_ino
                    except FileNotFoundError:
                        inode = -1
                    if n not in handles or handles[n][1] != inode:  # rotated: reopen the name
                        if n in handles:
                            os.close(handles[n][0])
                        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                        handles[n] = (fd, os.fstat(fd).st_ino)
                    lines = "".join(f"{n:02} {k:06} {'y' * 30}\n" for k in range(written[n], written[n] + 10))
                    os.write(handles[n][0], lines.encode())
                    written[n] += 10

            try:
                for rotation in range(rotations + 1):
                    deadline = time.monotonic() + 0.6
                    while time.monotonic() < deadline:
                        write_round()
                        most_open = max(most_open, supply.status()["open"])
                        time.sleep(0.01)
                    if rotation < rotations:
                        for n in range(count):
                            os.rename(tmp_path / f"f{n:02}.log", tmp_path / f"f{n:02}.log.{rotation}")
            finally:
                for fd, _ in handles.values():
                    os.close(fd)
            wait(lambda: len(collector.data) >= sum(written), "every line", timeout=15)
            time.sleep(0.2)  # nothing more comes

        data, _ = tail_until([str(tmp_path / "*.log")], work, max_open_files=cap, rotate_wait=0.3, rescan_interval=0)
        by_file: dict[int, list[int]] = {}
        for line in data:
            n, k, _ = line.split(" ")
            by_file.setdefault(int(n), []).append(int(k))
        assert {n: len(seqs) for n, seqs in by_file.items()} == dict(enumerate(written))
        assert all(seqs == list(range(written[n])) for n, seqs in by_file.items())
        assert most_open <= cap


class TestDirectoryMadeAgain:
    @pytest.mark.parametrize("how", ["deleted", "moved away"])
    def test_a_log_directory_made_again_is_watched_again(self, tmp_path: Path, how: str) -> None:
        """The log directory removed (or renamed away) and made again, as a redeploy does: the watch ended with
        the old directory (or went with it), and a file made and rotated away in the new one between two
        rescans was never seen. The new directory is watched once an event or a rescan tells it is another."""
        logs = tmp_path / "logs"
        logs.mkdir()
        (logs / "a.log").write_text("one\n")

        def work(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            wait(lambda: collector.data == ["one"], "the first line")
            if how == "deleted":
                shutil.rmtree(logs)
            else:
                logs.rename(tmp_path / "logs.old")
            logs.mkdir()
            (logs / "b.log").write_text("two\n")
            wait(lambda: "two" in collector.data, "the new directory's file", timeout=10)
            (logs / "c.log").write_text("three\n")
            os.rename(logs / "c.log", logs / "c.log.1")  # rotated away before any rescan could see it
            wait(lambda: "three" in collector.data, "the file made and rotated away", timeout=10)

        data, _ = tail_until([str(logs / "*.log")], work, poll_interval=0.05, rescan_interval=0.3)
        assert data == ["one", "two", "three"]


class TestReplacedByARename:
    def test_a_followed_file_replaced_by_a_rename_onto_its_name_is_let_go(self, tmp_path: Path) -> None:
        """``mv app.log.tmp app.log`` replaces the followed file: its lines are read, the new file's too, and
        the old one, unlinked, is let go once quiet (it stayed followed under the other's name until a rescan,
        its descriptor and disk space held, and with no rescans for ever)."""
        path = tmp_path / "app.log"
        path.write_text("one\n")

        def work(collector: Collector, supply: fs.FileWatcherSupply) -> None:
            wait(lambda: collector.data == ["one"], "the first line")
            (tmp_path / "app.log.tmp").write_text("two\n")
            os.rename(tmp_path / "app.log.tmp", path)
            wait(lambda: collector.data == ["one", "two"], "the new file")
            wait(lambda: supply.status()["open"] == 1, "the replaced file let go", timeout=5)

        data, supply = tail_until([str(path)], work, rescan_interval=0, rotate_wait=0.2)
        assert data == ["one", "two"]
