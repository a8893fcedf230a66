"""Rotations that land between two steps of the tailer, made to land there every time.

Under load the tailer's steps (look at a name, open it; see a rotated file
drained, read its successor) are far apart, and a writer or logrotate acts in
between. Waiting for such luck makes tests that fail once in a while. Here the
test wraps the step that comes second, and does its real renames and writes
just before it: one tailer, in this process, on real files and real inotify.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deadbeat import fs, movement
from deadbeat.fs._followed import FileState
from deadbeat.fs._identity import FileId
from deadbeat.testing import Collector

PAD = "x" * 40


def lines(numbers: range) -> str:
    return "".join(f"{i:08d} {PAD}\n" for i in numbers)


def expected(numbers: range) -> list[str]:
    return [f"{i:08d} {PAD}" for i in numbers]


def wait(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def tail(
    path: Path, prepare: Callable[[fs.FileWatcherSupply], None], work: Callable[[Collector], None], **params: Any
) -> list[Any]:
    """Tail ``path`` in this process: ``prepare(supply)`` before the loop runs, ``work(collector)`` in a thread.

    :returns: what the train got.
    """
    esc = movement.Escapement()
    collector = Collector()
    # rotate_wait long enough that no rotated file is let go while a test looks at it.
    params = {"rotate_wait": 30.0, "rescan_interval": 0, **params}
    supply = fs.FileWatcherSupply(esc, [str(path)], **params)
    movement.Train(esc, [supply, collector])
    prepare(supply)
    failure: list[BaseException] = []
    finished = threading.Event()

    def body() -> None:
        try:
            work(collector)
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            failure.append(exc)
        finally:
            finished.set()

    esc.every(0.01, lambda: finished.is_set() and esc.shutdown(), keeps_alive=False)
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    esc.run()
    thread.join(timeout=10)
    esc.close()
    if failure:
        raise failure[0]
    return collector.data


class TestOneWritersOrder:
    @pytest.mark.parametrize("moment", ["before the older file is looked at", "after, before its successor is read"])
    def test_a_rotated_file_written_to_after_it_was_drained_is_read_before_its_successor(
        self, tmp_path: Path, moment: str
    ) -> None:
        """A writer that has not reopened its file yet appends to the rotated one, then goes on in the new one.

        The rotated file was read to its end, and the events of the new
        lines are not read yet when the new file is: its size, not its
        events, says it holds more, and the new file is read only as far as
        it reached when that was looked at. Every line comes out in the order
        it was written.
        """
        path = tmp_path / "app.log"
        path.write_text(lines(range(0, 10)))
        old_fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        old = FileId.of(os.fstat(old_fd))
        supplies: list[fs.FileWatcherSupply] = []
        armed = threading.Event()
        fired = threading.Event()

        def drained(supply: fs.FileWatcherSupply) -> bool:
            """Whether the rotated file was read to its end, and nothing since said it holds more."""
            followed = supply._files.get(old)
            return (
                followed is not None
                and followed.state is FileState.ROTATED
                and followed.at_end
                and old not in supply._dirty
            )

        def write_on(supply: fs.FileWatcherSupply) -> bool:
            """At the moment: the writer appends to the rotated file, then reopens and writes in the new one."""
            if not armed.is_set() or fired.is_set() or not drained(supply):
                return False
            os.write(old_fd, lines(range(10, 20)).encode())
            new_fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(new_fd, lines(range(20, 30)).encode())
            finally:
                os.close(new_fd)
            fired.set()
            return True

        def prepare(supply: fs.FileWatcherSupply) -> None:
            supplies.append(supply)
            if moment.startswith("before"):
                read_dirty = supply._read_dirty

                def reading() -> None:
                    new = supply._at(str(path))
                    if new is not None and new.file in supply._dirty:
                        write_on(supply)
                    read_dirty()

                supply._read_dirty = reading  # type: ignore[method-assign]
            else:
                read_file = supply._read_file

                def reading_one(followed: Any, *args: Any, **kwargs: Any) -> tuple[int, bool]:
                    if followed.path == str(path):
                        write_on(supply)
                    return read_file(followed, *args, **kwargs)

                supply._read_file = reading_one  # type: ignore[method-assign]

        def work(collector: Collector) -> None:
            wait(lambda: collector.data == expected(range(0, 10)), "the first lines")
            os.rename(path, f"{path}.1")
            # Read to its end before the new file appears: then the new file is
            # opened and read in one turn, its lines and the old one's unseen.
            wait(lambda: drained(supplies[0]), "the rotated file read to its end")
            armed.set()
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            wait(fired.is_set, "the moment")
            wait(lambda: len(collector.data) >= 30, "every line")

        try:
            data = tail(path, prepare, work)
        finally:
            os.close(old_fd)
        assert data == expected(range(0, 30))


class TestRenamedBeforeOpened:
    @pytest.mark.parametrize("replaced", [False, True], ids=["renamed", "renamed-and-replaced"])
    def test_a_new_file_renamed_between_the_look_and_the_open_is_read_under_its_new_name(
        self, tmp_path: Path, replaced: bool
    ) -> None:
        """logrotate rotates again while the file it created last time is being opened.

        The file was there when its name was looked at, and gone (or another
        file in its place) when opened: it is followed to the name the next
        events give it, one the pattern does not match, and read there, in
        its place between the files before and after it.
        """
        path = tmp_path / "app.log"
        path.write_text(lines(range(0, 10)))
        armed = threading.Event()
        fired = threading.Event()
        # By role, not in a list: the supply's thread opens the replacement while
        # this one opens the rotated file, and appending to one list let the
        # replacement come first when the thread switched between open and append.
        writers: dict[str, int] = {}

        def rotate() -> None:
            os.rename(f"{path}.1", f"{path}.2")
            os.rename(path, f"{path}.1")
            if replaced:
                writers["replacement"] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

        def prepare(supply: fs.FileWatcherSupply) -> None:
            open_regular = supply._open_regular

            def opening(name: str) -> int:
                if name == str(path) and armed.is_set() and not fired.is_set():
                    rotate()  # after the name was looked at, before the file is opened
                    fired.set()
                return open_regular(name)

            supply._open_regular = opening  # type: ignore[method-assign]

        def work(collector: Collector) -> None:
            wait(lambda: collector.data == expected(range(0, 10)), "the first lines")
            armed.set()
            os.rename(path, f"{path}.1")
            writers["rotated"] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            wait(fired.is_set, "the second rotation")
            if not replaced:
                writers["replacement"] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            # One writer: what it wrote to the file created by the first rotation, then to the last one.
            os.write(writers["rotated"], lines(range(10, 20)).encode())
            os.write(writers["replacement"], lines(range(20, 30)).encode())
            wait(lambda: len(collector.data) >= 30, "every line", timeout=10.0)

        try:
            data = tail(path, prepare, work)
        finally:
            for fd in writers.values():
                os.close(fd)
        assert data == expected(range(0, 30))


class TestARenameReadInTwoHalves:
    @pytest.mark.parametrize("replaced", [False, True], ids=["renamed", "renamed-and-replaced"])
    def test_a_file_whose_rename_came_in_two_reads_is_read_under_its_new_name(
        self, tmp_path: Path, replaced: bool
    ) -> None:
        """rename(2) queues IN_MOVED_FROM and IN_MOVED_TO one after the other, and a read can fall between them.

        A file created and rotated before it could be opened, its rename read
        in two halves: the first half alone once said it had left the watched
        directories, and its lines were never read (a whole file, 128 lines,
        in a burst of renames under load). Here every read of the queue is cut
        after an IN_MOVED_FROM, the rest kept for the next read, as the kernel
        does when the reader comes in between; and the file is made, written
        and rotated just before a read, so the tailer cannot open it first.
        """
        path = tmp_path / "app.log"
        path.write_text(lines(range(0, 10)))
        armed = threading.Event()
        cut: list[int] = []

        def rotate() -> None:
            """logrotate with ``create``, twice, and the writer's lines in the file made between."""
            os.rename(path, f"{path}.1")
            made = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(made, lines(range(10, 20)).encode())
            os.rename(path, f"{path}.0")
            os.close(made)
            if replaced:
                path.write_text(lines(range(20, 30)))

        def prepare(supply: fs.FileWatcherSupply) -> None:
            inotify = supply.esc._inotify
            assert inotify is not None
            read = inotify.read
            held: list[Any] = []

            def read_in_halves(*args: Any, **kwargs: Any) -> list[Any]:
                if armed.is_set() and not cut:
                    rotate()  # in the tailer's thread: nothing opens the new file before this read
                events = held + list(read(*args, **kwargs))
                held.clear()
                for index, event in enumerate(events[:-1]):
                    if event.mask & movement.IN_MOVED_FROM:
                        held.extend(events[index + 1 :])
                        cut.append(index)
                        return events[: index + 1]
                return events

            inotify.read = read_in_halves  # type: ignore[method-assign]

        def work(collector: Collector) -> None:
            wait(lambda: collector.data == expected(range(0, 10)), "the first lines")
            armed.set()
            os.utime(path)  # an event (IN_ATTRIB), for the loop to read the queue
            wait(lambda: len(collector.data) >= (30 if replaced else 20), "every line", timeout=10.0)

        data = tail(path, prepare, work)
        assert cut, "no read was cut after an IN_MOVED_FROM"
        assert data == expected(range(0, 30 if replaced else 20))


class TestRenamedWhileWaitingForADescriptor:
    def test_a_file_waiting_for_a_descriptor_renamed_meanwhile_is_read_under_its_new_name(self, tmp_path: Path) -> None:
        """``max_open_files`` reached: a file waits for its turn, and is rotated (renamed to a name the pattern
        does not match, and written to) before it comes. It is opened under its new name and read to its end,
        as a file renamed between the look at its name and its opening; it used to be dropped as gone."""
        (tmp_path / "a.log").write_text("a 1\n")
        waiting = tmp_path / "b.log"
        waiting.write_text("b 1\n")
        os.utime(waiting, (time.time() + 1, time.time() + 1))  # opened after a.log: it is the one that waits
        fired = threading.Event()

        def prepare(supply: fs.FileWatcherSupply) -> None:
            assert list(supply._waiting_open) == [str(waiting)]
            open_waiting = supply._open_waiting

            def opening() -> None:
                if str(waiting) in supply._waiting_open and not fired.is_set():
                    os.rename(waiting, f"{waiting}.1")  # rotated while it waits ...
                    with open(f"{waiting}.1", "a") as handle:
                        handle.write("b 2\n")  # ... and its writer goes on in it
                    fired.set()
                open_waiting()

            supply._open_waiting = opening  # type: ignore[method-assign]

        def work(collector: Collector) -> None:
            wait(fired.is_set, "the rotation")
            wait(lambda: len(collector.data) >= 3, "every line", timeout=5.0)

        data = tail(tmp_path / "*.log", prepare, work, max_open_files=1)
        assert data == ["a 1", "b 1", "b 2"]


class TestANewerFileUnderTheName:
    def test_a_file_made_after_the_event_is_not_taken_for_the_arrivals_file(self, tmp_path: Path) -> None:
        """logrotate rotates again between the events read and the look at the name: the file found there is
        the one made after, and was read as the arrival's, before the arrival's own (renamed meanwhile): one
        writer's lines came out of order. The events queued before the look say the name moved: the arrival
        follows them to its own file, read first; the younger file waits for its own event. No clock is
        asked: the rotation comes at once, within one tick of the coarse clock file times are taken from."""
        path = tmp_path / "app.log"
        path.write_text(lines(range(0, 10)))
        armed = threading.Event()
        fired = threading.Event()

        def rotate_again() -> None:
            # The look may come between the creation of the file and its lines
            # (written by the other thread): they are in it before it is rotated.
            wait(lambda: path.stat().st_size == len(lines(range(10, 20))), "the second file's lines")
            os.rename(f"{path}.1", f"{path}.2")
            os.rename(path, f"{path}.1")
            path.write_text(lines(range(20, 30)))

        def prepare(supply: fs.FileWatcherSupply) -> None:
            stat = supply._stat

            def looking(name: str) -> os.stat_result:
                if name == str(path) and armed.is_set() and not fired.is_set() and name in supply._names.arrivals:
                    rotate_again()  # after the arrival's event was read, before its name is looked at
                    fired.set()
                return stat(name)

            supply._stat = looking  # type: ignore[method-assign]

        def work(collector: Collector) -> None:
            wait(lambda: collector.data == expected(range(0, 10)), "the first lines")
            armed.set()
            os.rename(path, f"{path}.1")
            path.write_text(lines(range(10, 20)))
            wait(fired.is_set, "the moment")
            wait(lambda: len(collector.data) >= 30, "every line")

        data = tail(path, prepare, work)
        assert data == expected(range(0, 30))


class TestRenamedWhilePaused:
    def test_a_file_rotated_while_the_train_holds_the_tailer_back_waits_for_its_writer(self, tmp_path: Path) -> None:
        """The train holds the tailer back (backpressure) longer than ``rotate_wait`` while logrotate renames
        the file, and the writer (which has not reopened its file yet) goes on in it. Told of the rename at
        once, and having read nothing since, the tailer must not take the file for quiet: what the writer
        appends after the pause is read too, before the file is let go."""
        path = tmp_path / "app.log"
        path.write_text(lines(range(0, 10)))
        writer = os.open(path, os.O_WRONLY | os.O_APPEND)
        supplies: list[fs.FileWatcherSupply] = []

        def work(collector: Collector) -> None:
            wait(lambda: collector.data == expected(range(0, 10)), "the first lines")
            supply = supplies[0]
            supply.esc.loop.call_soon_threadsafe(supply.esc.pause, supply)
            time.sleep(0.05)
            os.rename(path, f"{path}.1")
            time.sleep(1.0)  # held back for more than rotate_wait
            os.write(writer, lines(range(10, 20)).encode())  # the writer goes on, unread

            def resume_then_sweep() -> None:
                supply.esc.resume(supply)
                supply._sweep()  # the look for quiet rotated files comes first, before a read

            supply.esc.loop.call_soon_threadsafe(resume_then_sweep)
            wait(lambda: len(collector.data) >= 20, "the lines written during the pause")
            os.write(writer, lines(range(20, 30)).encode())  # the writer has not reopened yet
            wait(lambda: len(collector.data) >= 30, "the lines written after it", timeout=5.0)

        try:
            data = tail(path, supplies.append, work, rotate_wait=0.3)
        finally:
            os.close(writer)
        assert data == expected(range(0, 30))


class TestAgesInARing:
    def test_ages_that_go_round_do_not_stall_the_tailer(self, tmp_path: Path) -> None:
        """After a restart, a compressed file's age is its compression time, or unknown, while plain files
        have their creation times: three files could each be older than the next, round. Looking for the
        oldest went on for ever, deaf to SIGTERM; now one of the ring is read, and every line comes."""
        for name in ("app.log.127.gz", "app.log.5.gz", "app.log.1"):
            (tmp_path / name).write_text(f"{name}\n")
        esc = movement.Escapement()
        supply = fs.FileWatcherSupply(esc, [str(tmp_path / "app.log*")], rotate_wait=30.0, rescan_interval=0)
        files = {os.path.basename(f.path or ""): f for f in supply._files}
        # Z (known .gz, born = compression time 300) < X (a .gz found later: born unknown, order 200)
        # < Y (plain, born 200, order 201) < Z: each older than the next, by the rules of older_than.
        for name, order, born in (("app.log.127.gz", 102, 300), ("app.log.5.gz", 200, None), ("app.log.1", 201, 200)):
            followed = files[name]
            followed.lineage = str(tmp_path / "app.log")
            followed.rotate(followed.path)
            followed.order, followed.born = order, born
        z, x, y = files["app.log.127.gz"], files["app.log.5.gz"], files["app.log.1"]
        assert x.older_than(y) and y.older_than(z) and z.older_than(x)

        def stalled(signum: int, frame: Any) -> None:
            raise TimeoutError("looking for the oldest file went on for 10 s")

        previous = signal.signal(signal.SIGALRM, stalled)
        signal.alarm(10)
        try:
            chosen, _ = supply._next_to_read(y)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        assert chosen in (x, y, z)
        esc.close()


class TestMissedByTheLookAtRestart:
    def test_a_known_file_the_first_look_missed_keeps_its_place(self, tmp_path: Path) -> None:
        """Pattern ``app.log*``, restarted while logrotate shifts a long series: the first look at the names
        missed one known file (renamed between listing and looking), found then by its inode. Taken for a
        rotated file, it went before every file under a matching name, its elders too: it keeps its place."""
        for number, name in enumerate(("app.log.2", "app.log.1", "app.log")):
            (tmp_path / name).write_text(lines(range(number * 100, number * 100 + (100 if number < 2 else 10))))
            time.sleep(0.01)  # born one after the other
        state = str(tmp_path / "state.json")
        first = movement.Escapement()
        collector = Collector()

        def stop_at_30(datum: Any) -> tuple[Any, ...]:
            if len(collector.data) >= 30:
                first.shutdown()  # what follows in this turn still comes, and is acknowledged
            return (datum,)

        supply = fs.FileWatcherSupply(first, [str(tmp_path / "app.log*")], state_file=state, read_size=64)
        movement.Train(first, [supply, stop_at_30, collector])
        first.run()
        first.close()
        read_first = len(collector.data)
        assert 30 <= read_first < 100  # stopped inside app.log.2, app.log.1 known but not read

        class MissingOneAtFirst(fs.FileWatcherSupply):
            missed = False

            def _matching(self) -> dict[FileId, tuple[str, os.stat_result]]:
                found = super()._matching()
                if not self.missed:
                    self.missed = True
                    return {file: seen for file, seen in found.items() if seen[0] != str(tmp_path / "app.log.1")}
                return found

        second = movement.Escapement()
        rest = Collector()
        supply = MissingOneAtFirst(second, [str(tmp_path / "app.log*")], state_file=state, rescan_interval=0)
        movement.Train(second, [supply, rest])
        second.every(0.01, lambda: len(rest.data) >= 210 - read_first and second.shutdown(), keeps_alive=False)
        second.after(10, second.shutdown, keeps_alive=False)
        second.run()
        second.close()
        assert collector.data + rest.data == expected(range(0, 210))


def test_a_file_made_while_stopped_and_rotated_before_the_first_look_is_read(tmp_path: Path) -> None:
    """Made while the tailer was stopped, under the name the pattern asks for, and renamed away by logrotate after
    the restart watched the directory but before it looked at the names: it was in no listing, and the rename told
    of a file never seen, so it was never read (576 lines lost so in a SIGKILL storm under logrotate)."""
    log_file, state = tmp_path / "app.log", str(tmp_path / "state.json")
    log_file.write_text(lines(range(0, 10)))
    first = tail(
        log_file, lambda supply: None, lambda got: wait(lambda: len(got.data) == 10, "the first run"), state_file=state
    )
    assert first == expected(range(0, 10))
    # Stopped: logrotate rotates, the writer writes the new file.
    log_file.rename(tmp_path / "app.log.1")
    log_file.write_text(lines(range(10, 20)))

    class RotatedBeforeTheFirstLook(fs.FileWatcherSupply):
        def _resume_orphans(self) -> None:
            super()._resume_orphans()
            # Once more, between the watch on the directory and the first look at the names.
            (tmp_path / "app.log.1").rename(tmp_path / "app.log.2")
            log_file.rename(tmp_path / "app.log.1")
            log_file.write_text(lines(range(20, 30)))

    esc = movement.Escapement()
    collector = Collector()
    supply = RotatedBeforeTheFirstLook(esc, [str(log_file)], state_file=state, rotate_wait=30.0, rescan_interval=0)
    movement.Train(esc, [supply, collector])
    esc.every(0.01, lambda: len(collector.data) >= 20 and esc.shutdown(), keeps_alive=False)
    esc.after(10, esc.shutdown, keeps_alive=False)
    esc.run()
    esc.close()
    assert collector.data == expected(range(10, 30))


def test_a_known_file_rotated_between_the_resume_and_the_first_look_is_read_first(tmp_path: Path) -> None:
    """The file the state knows, still under its name when the start looked for the files rotated while stopped,
    and renamed away (the writer going on in a new file) before the start looked at the names: the rename told of
    a file known but not open, and was dropped; the new file was read, and the rest of the known one only at the
    next start, out of order. A reload (SIGHUP with a changed pipeline) starts the new tailer at once, so a
    rotation right after it landed there often (lines late by a reload, or unread until a restart)."""
    log_file, state = tmp_path / "app.log", str(tmp_path / "state.json")
    log_file.write_text(lines(range(0, 10)))
    first = tail(
        log_file, lambda supply: None, lambda got: wait(lambda: len(got.data) == 10, "the first run"), state_file=state
    )
    assert first == expected(range(0, 10))
    with open(log_file, "a") as handle:
        handle.write(lines(range(10, 20)))

    class RotatedAfterTheResume(fs.FileWatcherSupply):
        def _resume_orphans(self) -> None:
            super()._resume_orphans()
            log_file.rename(tmp_path / "app.log.1")
            log_file.write_text(lines(range(20, 30)))

    esc = movement.Escapement()
    collector = Collector()
    supply = RotatedAfterTheResume(esc, [str(log_file)], state_file=state, rotate_wait=30.0, rescan_interval=0)
    movement.Train(esc, [supply, collector])
    esc.every(0.01, lambda: len(collector.data) >= 20 and esc.shutdown(), keeps_alive=False)
    esc.after(5, esc.shutdown, keeps_alive=False)
    esc.run()
    esc.close()
    assert collector.data == expected(range(10, 30))
