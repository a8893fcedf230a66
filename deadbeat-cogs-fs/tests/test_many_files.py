"""A tailer that runs for a year: files come and go, and what it keeps stays the size of what is live.

Real files, real inotify, one process: thousands of files are created, read,
rotated or deleted while a hundred live files stay. What the tailer remembers
(positions, the state file, its indexes) and what a batch costs must come back
to what the live files need.
"""

from __future__ import annotations

import json
import os
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
        """2,000 files created, read, deleted or rotated away: state and batch cost come back to 100 live files."""
        logs = tmp_path / "logs"
        logs.mkdir()
        state = tmp_path / "state" / "positions.json"
        for i in range(LIVE):
            (logs / f"live-{i:03}.log").write_text(f"live file {i} first line\n")
        esc = movement.Escapement()
        collector = Collector()
        supply = fs.FileWatcherSupply(
            esc, [str(logs / "*.log")], state_file=str(state), rotate_wait=0.05, state_interval=0.01
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
        assert len(section["files"]) == LIVE
        assert {entry["path"] for entry in section["files"].values()} == {
            str(logs / f"live-{i:03}.log") for i in range(LIVE)
        }
        # A batch of one live file writes that file's entry, not the whole record.
        assert entries_per_checkpoint == [1]
        # The indexes hold nothing of the files that went.
        assert not supply._files.by_id and not supply._shadows and not supply._forgetting
        assert not supply._unacknowledged and not supply._missing

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

    def test_rescan_interval_is_checked(self, tmp_path: Path) -> None:
        """A negative interval is refused, naming the option."""
        with pytest.raises(ValueError, match="rescan_interval"):
            fs.FileWatcherSupply(movement.DummyEscapement(), [str(tmp_path / "*.log")], rescan_interval=-1)
