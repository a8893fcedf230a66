"""A cog that exits (``sys.exit()``, a KeyboardInterrupt, a GeneratorExit) while handling a datum.

Such an exception is not one of the cog's errors: the generated code lets it
through, and the send stops half-way, leaving data of its batch neither written
nor in the error output. Nothing of that batch, nor of any later one, may be
acknowledged (no ``event_done``, no ``batch_done``, no ``checkpoint``), not
during the send, not while the train finishes and ends afterwards: a supply
would save its position past data that never reached an output, and a restart
would never read them again. The run stops, failed, naming the cog and the
event; ``sys.exit()`` still ends the process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from deadbeat import movement


class Listener(movement.Cog):
    """Hears every acknowledgement."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.batches: list[Any] = []
        self.checkpoints = 0

    def __call__(self, datum: Any) -> tuple[Any, ...]:
        return (datum,)

    def event_done(self, event_id: Any) -> None:
        self.events.append(event_id)

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        self.batches.append(batch_id)

    @movement.hook
    def checkpoint(self) -> None:
        self.checkpoints += 1


class Source(movement.Supply):
    """Sends its batches, one per turn of the loop."""

    def __init__(self, train: movement.Train, batches: list[movement.Batch]) -> None:
        self.train = train
        self.batches = list(batches)
        self.next = train.esc.enqueue(self.go)

    def go(self) -> movement.Batch | None:
        batch = self.batches.pop(0)
        if self.batches:
            self.next = self.train.esc.enqueue(self.go)
        return batch

    def finish(self) -> None:
        self.train.esc.dequeue(self.next)


class Exiter(movement.Cog):
    """Raises ``error`` on the datum whose id is ``on``."""

    def __init__(self, on: int, error: BaseException) -> None:
        self.on = on
        self.error = error

    def __call__(self, datum: Any) -> tuple[Any, ...]:
        if datum["id"] == self.on:
            raise self.error
        return (datum,)


class Output(movement.Cog):
    """Keeps what reaches it."""

    def __init__(self) -> None:
        self.written: list[Any] = []

    def __call__(self, datum: Any) -> tuple[Any, ...]:
        self.written.append(datum["id"])
        return (datum,)


def batch(batch_id: str, ids: range) -> movement.Batch:
    return movement.Batch([{"id": i} for i in ids], batch_id=batch_id)


def run(esc: movement.Escapement) -> BaseException | None:
    try:
        esc.run()
    except BaseException as exc:  # noqa: BLE001 - what the run ended with is the point
        return exc
    return None


@pytest.mark.parametrize(
    "error",
    [SystemExit(5), KeyboardInterrupt(), GeneratorExit()],
    ids=["SystemExit", "KeyboardInterrupt", "GeneratorExit"],
)
def test_nothing_of_the_batch_is_acknowledged(error: BaseException) -> None:
    """Ids 0 and 1 reach the output, 2 and 3 do not: no event_done, no batch_done for any of them."""
    esc = movement.Escapement()
    try:
        train = movement.Train(esc, name="t")
        listener, output = Listener(), Output()
        train.cogs = [Source(train, [batch("b1", range(4))]), listener, Exiter(2, error), output]
        ended = run(esc)
        assert output.written == [0, 1]
        assert listener.events == []
        assert listener.batches == []
        assert listener.checkpoints == 0
        if isinstance(error, GeneratorExit):
            assert ended is None  # the loop does not stop for it by itself: the train stopped the run
        else:
            assert ended is error
        assert len(esc.failures) == 1
        failure = esc.failures[0]
        assert "Exiter(on=2" in failure and "(cog 2)" in failure
        assert "event 2" in failure
        assert type(error).__name__ in failure
        assert "not acknowledged" in failure
        assert train.stopped_acknowledging is not None
    finally:
        esc.close()


def test_earlier_batches_are_acknowledged_later_ones_are_not() -> None:
    """b1 is done before the exit in b2: b1 is acknowledged; b2, and b3 sent after, are not."""
    esc = movement.Escapement()
    try:
        train = movement.Train(esc)
        listener, output = Listener(), Output()
        source = Source(train, [batch("b1", range(2)), batch("b2", range(2, 4)), batch("b3", range(4, 6))])
        # GeneratorExit: the loop goes on to the next turn, where b3 comes, before the shutdown.
        train.cogs = [source, listener, Exiter(3, GeneratorExit()), output]
        run(esc)
        assert listener.batches == ["b1"]
        assert listener.events == [0, 1]
        assert 2 in output.written
    finally:
        esc.close()


def test_finish_and_done_acknowledge_nothing_afterwards() -> None:
    """A cog that holds data and sends them on in finish: written at the shutdown, not acknowledged."""
    esc = movement.Escapement()
    try:
        train = movement.Train(esc)

        class Keeper(movement.Cog):
            def __init__(self) -> None:
                self.kept: list[Any] = []

            def __call__(self, datum: Any) -> tuple[Any, ...]:
                if datum["id"] == 0:
                    train.hold()
                    self.kept.append(datum)
                    return ()
                return (datum,)

            def finish(self) -> list[Any]:
                train.release(len(self.kept))
                kept, self.kept = self.kept, []
                return kept

        listener, output = Listener(), Output()
        train.cogs = [Source(train, [batch("b1", range(3))]), listener, Keeper(), Exiter(1, SystemExit(3)), output]
        ended = run(esc)
        assert isinstance(ended, SystemExit) and ended.code == 3
        assert output.written == [0]  # sent on by Keeper's finish
        assert (listener.events, listener.batches, listener.checkpoints) == ([], [], 0)
    finally:
        esc.close()


def test_a_whole_list_cog_exiting() -> None:
    """A cog given whole lists that exits: named, and nothing acknowledged."""
    esc = movement.Escapement()
    try:
        train = movement.Train(esc)

        class ListExiter(movement.Cog):
            def call_batch(self, data: list[Any]) -> list[Any]:
                raise SystemExit(4)

        listener = Listener()
        train.cogs = [Source(train, [batch("b1", range(3))]), listener, ListExiter(), Output()]
        ended = run(esc)
        assert isinstance(ended, SystemExit) and ended.code == 4
        assert (listener.events, listener.batches) == ([], [])
        assert "ListExiter() (cog 2)" in esc.failures[0]
    finally:
        esc.close()


def test_exiting_in_the_error_train() -> None:
    """The error output's cog exits on a record: the batch whose datum failed is not acknowledged."""
    esc = movement.Escapement()
    try:
        errors = movement.Train(esc, name="errors")

        class Refuser(movement.Cog):
            def __call__(self, record: Any) -> tuple[Any, ...]:
                raise SystemExit(6)

        errors.cogs = [Refuser()]
        train = movement.Train(esc, error_output=errors)

        class Failing(movement.Cog):
            def __call__(self, datum: Any) -> tuple[Any, ...]:
                if datum["id"] == 1:
                    raise ValueError("bad")
                return (datum,)

        listener = Listener()
        train.cogs = [Source(train, [batch("b1", range(3))]), listener, Failing(), Output()]
        ended = run(esc)
        assert isinstance(ended, SystemExit) and ended.code == 6
        assert (listener.events, listener.batches, listener.checkpoints) == ([], [], 0)
        assert train.stopped_acknowledging is not None
        assert "Refuser() (cog 0) raised SystemExit(6)" in esc.failures[0]
        assert "a cog of the error output 'errors'" in esc.failures[1]
    finally:
        esc.close()


@pytest.mark.parametrize("code", [None, 0])
def test_an_exit_saying_success_fails_the_run(code: int | None) -> None:
    """sys.exit() or sys.exit(0) in the middle of a batch: the process exits 1, the run having failed."""
    esc = movement.Escapement()
    try:
        train = movement.Train(esc)
        train.cogs = [Source(train, [batch("b1", range(2))]), Exiter(0, SystemExit(code)), Output()]
        ended = run(esc)
        assert isinstance(ended, SystemExit) and ended.code == 1
    finally:
        esc.close()


def test_an_exit_outside_any_send_keeps_its_status() -> None:
    """A callback that exits with no batch under way loses nothing: its status stays."""
    esc = movement.Escapement()
    try:
        train = movement.Train(esc)
        listener = Listener()
        train.cogs = [Source(train, [batch("b1", range(2))]), listener, Output()]
        esc.after(0.01, sys.exit, 0)
        esc.every(0.005, lambda: None)  # keeps the loop alive until the exit
        ended = run(esc)
        assert isinstance(ended, SystemExit) and ended.code == 0
        assert listener.batches == ["b1"]
        assert not esc.failures
    finally:
        esc.close()


# -- deadbeat run --once, on real files ------------------------------------------------

EXITER = '''
import sys
from deadbeat import movement


class ExitOn(movement.Cog):
    """Exit on one line.

    :param line: the line to exit on; none if empty.
    :param code: the exit status.
    """

    def __init__(self, line: str = "", code: int = 5):
        self.line = line
        self.code = code

    def __call__(self, d):
        if self.line and d == self.line:
            sys.exit(self.code)
        return (d,)
'''


def pipeline(line: str, code: int = 5) -> str:
    return textwrap.dedent(
        f"""
        [[cog]]
        use = "fs.tail"
        filenames = ["in.log"]
        state_file = "state"

        [[cog]]
        use = "exiter:ExitOn"
        line = "{line}"
        code = {code}

        [[cog]]
        use = "fs.write"
        filename = "out.txt"
        state_file = "state"
        """
    )


def deadbeat_run(directory: Path, name: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(directory), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", "--once", name],
        cwd=directory,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def tail_offsets(directory: Path) -> list[int]:
    state = json.loads((directory / "state").read_text())
    return [f["offset"] for s in state["sections"].values() for f in s.get("files", {}).values()]


@pytest.mark.parametrize("code", [5, 0])
def test_deadbeat_run_once_reads_the_lines_again_after_an_exit(tmp_path: Path, code: int) -> None:
    """fs.tail and fs.write sharing a state file: the exit saves no position; a restart writes every line, once."""
    pytest.importorskip("deadbeat.fs")
    (tmp_path / "exiter.py").write_text(EXITER)
    (tmp_path / "in.log").write_text("l1\nl2\nEXIT\nl4\n")
    (tmp_path / "armed.toml").write_text(pipeline("EXIT", code))
    (tmp_path / "unarmed.toml").write_text(pipeline(""))
    first = deadbeat_run(tmp_path, "armed.toml")
    assert first.returncode == (code or 1), first.stderr
    assert "ExitOn(line='EXIT'" in first.stderr and "raised SystemExit" in first.stderr
    assert "in.log:6" in first.stderr  # the event id of the line EXIT
    assert "not acknowledged" in first.stderr
    if (tmp_path / "state").exists():
        assert tail_offsets(tmp_path) in ([], [0])
    second = deadbeat_run(tmp_path, "unarmed.toml")
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "out.txt").read_text() == "l1\nl2\nEXIT\nl4\n"
    assert tail_offsets(tmp_path) == [14]


def test_deadbeat_run_once_keeps_what_an_earlier_run_acknowledged(tmp_path: Path) -> None:
    """Lines written and acknowledged by a run before are kept; the exit's batch is read again, not written twice."""
    pytest.importorskip("deadbeat.fs")
    (tmp_path / "exiter.py").write_text(EXITER)
    (tmp_path / "in.log").write_text("l1\nl2\n")
    (tmp_path / "armed.toml").write_text(pipeline("EXIT"))
    (tmp_path / "unarmed.toml").write_text(pipeline(""))
    assert deadbeat_run(tmp_path, "unarmed.toml").returncode == 0
    assert tail_offsets(tmp_path) == [6]
    with open(tmp_path / "in.log", "a") as appended:
        appended.write("l3\nEXIT\nl5\n")
    first = deadbeat_run(tmp_path, "armed.toml")
    assert first.returncode == 5, first.stderr
    assert tail_offsets(tmp_path) == [6]
    second = deadbeat_run(tmp_path, "unarmed.toml")
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "out.txt").read_text() == "l1\nl2\nl3\nEXIT\nl5\n"


def test_a_failure_escaping_the_train_stops_acknowledging_too() -> None:
    """An Exception out of the error output's reach (a PartialBatch naming no datum of the list) is treated alike."""
    esc = movement.Escapement()
    try:
        train = movement.Train(esc)

        class Misplaced(movement.Cog):
            def call_batch(self, data: list[Any]) -> list[Any]:
                raise movement.PartialBatch([], len(data) + 5, ValueError("bad"))

        listener = Listener()
        train.cogs = [Source(train, [batch("b1", range(3)), batch("b2", range(3, 5))]), listener, Misplaced(), Output()]
        assert run(esc) is None  # logged by the loop; the train stopped the run
        assert (listener.events, listener.batches, listener.checkpoints) == ([], [], 0)
        assert "escaped the train at Misplaced() (cog 2)" in esc.failures[0]
    finally:
        esc.close()


def test_an_exit_in_a_route() -> None:
    """A route's cog exits: neither the route's train nor the train it serves acknowledges anything."""
    from deadbeat import routing

    esc = movement.Escapement()
    try:
        train = movement.Train(esc, name="main")
        output = Output()
        route = routing.Route("r", None, [Exiter(1, SystemExit(7)), output], esc=esc)
        listener = Listener()
        train.cogs = [Source(train, [batch("b1", range(3))]), listener, routing.Router(train, [route])]
        ended = run(esc)
        assert isinstance(ended, SystemExit) and ended.code == 7
        assert (listener.events, listener.batches, listener.checkpoints) == ([], [], 0)
        assert output.written == [0]
        assert any("Exiter(on=1" in failure and "event 1" in failure for failure in esc.failures)
        assert train.stopped_acknowledging is not None
    finally:
        esc.close()
