"""``max_open_files`` reached while logrotate renames a series: a rotated file read to its end is never read again.

A rotated file (``app.log.1``) was read to its end, let go and forgotten while
the file that replaced it (``app.log``, known: read before, closed for want of a
descriptor) waited for its turn. Its lineage's mark, which tells a file read and
forgotten from a new one, was held back for that file; so at the next rotation
(``app.log.1`` renamed to ``app.log.2``) the forgotten file, seen under its new
name, looked new and was read again from its start: every line of it twice, with
no error. It came out while following (``logrotate -f`` with ``create`` and more
busy files than ``max_open_files``) and at a restart after the rotation.

One tailer in this process, on real files, real renames and real inotify. The
rotation lands at the moment the rotated file has been let go and forgotten and
the file that replaced it still waits: the test wraps the tailer's step that
gives the freed descriptors to the files waiting (as ``test_tail_races.py``
does), and renames there. Nothing depends on a clock: ``rotate_wait`` is long
while the files are put in place, and made short once they are.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deadbeat import fs, movement
from deadbeat.fs._identity import FileId
from deadbeat.testing import Collector

PAD = "y" * 30


def lines(tag: str, numbers: range) -> str:
    return "".join(f"{tag} {i:04d} {PAD}\n" for i in numbers)


def expected(tag: str, numbers: range) -> list[str]:
    return [f"{tag} {i:04d} {PAD}" for i in numbers]


def wait(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def status(supply: fs.FileWatcherSupply) -> dict[str, int]:
    """The tailer's status, read from the test's thread (a dict it walks may change meanwhile: ask again)."""
    while True:
        try:
            return supply.status()
        except RuntimeError:
            continue


def quiet(supply: fs.FileWatcherSupply) -> bool:
    """Whether every rotated file was let go, none waits for a descriptor and every batch was acknowledged."""
    now = status(supply)
    return now["rotated"] == 0 and now["waiting_to_open"] == 0 and now["unacknowledged"] == 0


def tail(
    pattern: Path,
    prepare: Callable[[fs.FileWatcherSupply], None],
    work: Callable[[fs.FileWatcherSupply, Collector], None],
    **params: Any,
) -> list[Any]:
    """Tail ``pattern`` in this process: ``prepare(supply)`` before the loop runs, ``work`` in a thread.

    :returns: what the train got.
    """
    esc = movement.Escapement()
    collector = Collector()
    params = {"rescan_interval": 0, **params}
    supply = fs.FileWatcherSupply(esc, [str(pattern)], **params)
    movement.Train(esc, [supply, collector])
    prepare(supply)
    failure: list[BaseException] = []
    finished = threading.Event()

    def body() -> None:
        try:
            work(supply, collector)
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


def logrotate(app: Path, keep: int, content: str) -> None:
    """``logrotate`` with ``create``: ``app.log.N`` -> ``app.log.N+1``, ..., ``app.log`` -> ``app.log.1``, a new
    ``app.log``; then its writer goes on in the new file."""
    for n in range(keep, 0, -1):
        if os.path.exists(f"{app}.{n}"):
            os.rename(f"{app}.{n}", f"{app}.{n + 1}")
    os.rename(app, f"{app}.1")
    with open(app, "x") as handle:
        handle.write(content)


class Setup:
    """Two lineages under a cap of two descriptors, brought to where the rotated ``app.log.1`` is let go (and
    forgotten) while the ``app.log`` that replaced it, read before, waits for a descriptor.

    1. ``app.log`` and ``other.log`` are read (both open).
    2. ``app.log`` is rotated: the rotated file stays open (``rotate_wait`` is long), the new ``app.log`` takes
       the descriptor of ``other.log``, idle, which is closed.
    3. ``other.log`` is rotated: it is opened under its new name (its writer may still append to it), in the
       place of the new ``app.log``, idle, closed in turn; the new ``other.log`` waits.
    4. A line is appended to ``app.log``: it waits for a descriptor too, behind the new ``other.log``.
    5. ``rotate_wait`` is made short: both rotated files are let go, the descriptors go to the files waiting.

    :ivar rotated_app: the first ``app.log``, rotated in step 2 and let go in step 5.
    :ivar waiting_then: the files waiting for a descriptor when it was let go.
    """

    def __init__(self, tmp_path: Path, rotate: Callable[[], None] | None = None) -> None:
        self.app = tmp_path / "app.log"
        self.other = tmp_path / "other.log"
        self.app.write_text(lines("a", range(0, 10)))
        self.other.write_text(lines("o", range(0, 10)))
        self.rotate = rotate
        self.rotated_app: FileId | None = None
        self.waiting_then: set[FileId] | None = None
        self.armed = threading.Event()
        self.fired = threading.Event()

    def prepare(self, supply: fs.FileWatcherSupply) -> None:
        open_waiting = supply._open_waiting

        def opening() -> None:
            # In the tailer's thread: the first time the descriptors go to the files waiting once the rotated
            # app.log was let go (and forgotten), before anything else is read.
            if self.armed.is_set() and not self.fired.is_set() and self.rotated_app not in supply._files:
                self.waiting_then = {file for file, _ in supply._waiting_open.values()}
                if self.rotate is not None:
                    self.rotate()
                self.fired.set()
            open_waiting()

        supply._open_waiting = opening  # type: ignore[method-assign]

    def bring(self, supply: fs.FileWatcherSupply, collector: Collector) -> FileId:
        """Steps 1 to 5. :returns: the ``app.log`` that waited (the second one)."""
        wait(lambda: len(collector.data) == 20, "the first lines")
        self.rotated_app = FileId.of(os.stat(self.app))
        logrotate(self.app, 0, lines("a", range(10, 20)))
        new_app = FileId.of(os.stat(self.app))
        wait(lambda: len(collector.data) == 30, "the lines of the new app.log")
        wait(lambda: status(supply)["closed_idle"] == 1, "other.log closed while idle")
        logrotate(self.other, 0, lines("o", range(10, 20)))
        wait(
            lambda: (
                {k: status(supply)[k] for k in ("open", "rotated", "waiting_to_open", "closed_idle")}
                == {"open": 2, "rotated": 2, "waiting_to_open": 1, "closed_idle": 1}
            ),
            "both rotated files open, the new app.log closed, the new other.log waiting",
        )
        with open(self.app, "a") as handle:
            handle.write(lines("a", range(20, 21)))
        wait(lambda: status(supply)["waiting_to_open"] == 2, "the new app.log waiting for a descriptor")
        self.armed.set()
        supply.rotate_wait = 0.05  # the rotated files may be let go now
        wait(self.fired.is_set, "the rotated files let go")
        return new_app

    def check(self, new_app: FileId) -> None:
        """The rotated app.log was let go while the app.log that replaced it, known, waited (else the test
        proves nothing)."""
        assert self.waiting_then is not None
        assert new_app in self.waiting_then


def assert_each_once(data: list[Any], wanted: list[str]) -> None:
    repeated = sorted(line for line, count in Counter(data).items() if count > 1)
    assert not repeated, f"{len(repeated)} lines came out more than once, the first {repeated[:3]}"
    assert sorted(data) == sorted(wanted)
    for tag in "ao":
        mine = [line for line in data if line.startswith(tag)]
        assert mine == sorted(mine), f"the lines of {tag}* out of their writer's order"


class TestForgottenWhileItsSuccessorWaits:
    def test_renamed_again_while_following_it_is_not_read_again(self, tmp_path: Path) -> None:
        """The next rotation renames the forgotten ``app.log.1`` to ``app.log.2`` as the waiting ``app.log`` is
        given its descriptor (found under ``app.log.1`` already, before the events of the renames are read).
        The rename of the forgotten file is then taken for that of a file never seen: it was read again, from
        its start, unless its lineage's mark says it was read."""
        setup: Setup

        def rotate() -> None:
            logrotate(setup.app, 1, lines("a", range(21, 30)))

        setup = Setup(tmp_path, rotate)

        def work(supply: fs.FileWatcherSupply, collector: Collector) -> None:
            new_app = setup.bring(supply, collector)
            setup.check(new_app)
            wait(lambda: len(collector.data) >= 50 and quiet(supply), "every line, and the tailer quiet")

        data = tail(
            tmp_path / "*.log",
            setup.prepare,
            work,
            max_open_files=2,
            rotate_wait=30.0,
            state_file=str(tmp_path / "state.json"),
        )
        assert (tmp_path / "app.log.2").exists()
        assert_each_once(data, expected("a", range(0, 30)) + expected("o", range(0, 20)))

    def test_rotated_while_stopped_it_is_not_read_again_at_the_restart(self, tmp_path: Path) -> None:
        """Forgotten so, then the tailer stops and logrotate renames the series: the next start looks for the
        files of the lineage made while it was stopped, by the mark kept in the state file. ``app.log.2``, the
        file read and forgotten, was taken for one of them and read again from its start."""
        state = str(tmp_path / "state.json")
        setup = Setup(tmp_path)

        def work(supply: fs.FileWatcherSupply, collector: Collector) -> None:
            new_app = setup.bring(supply, collector)
            setup.check(new_app)
            wait(lambda: len(collector.data) >= 41 and quiet(supply), "every line, and the tailer quiet")

        first = tail(tmp_path / "*.log", setup.prepare, work, max_open_files=2, rotate_wait=30.0, state_file=state)
        logrotate(setup.app, 1, lines("a", range(21, 30)))

        def again(supply: fs.FileWatcherSupply, collector: Collector) -> None:
            wait(lambda: len(collector.data) >= 9 and quiet(supply), "the lines of the new app.log")

        second = tail(
            tmp_path / "*.log", lambda supply: None, again, max_open_files=2, rotate_wait=0.05, state_file=state
        )
        assert_each_once(first + second, expected("a", range(0, 30)) + expected("o", range(0, 20)))
