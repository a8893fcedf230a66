"""The manual's shutdown forms lose nothing: DummyEscapement after finish, and notify("finish").

The manual has a cog put ``movement.DummyEscapement`` in place of its
Escapement in ``finish``, so that code binding again does nothing. A cog that
then flushed its buffer with ``self.esc.send_from(...)`` lost it: one log line,
and the run returned 0 with ``errors 0``.
"""

from __future__ import annotations

from typing import Any

import pytest

from deadbeat import movement


class Supply(movement.Cog):
    def __init__(self, train: movement.Train) -> None:
        train.esc.enqueue(self.go)

    def go(self) -> list[dict[str, str]]:
        return [{"id": "a"}, {"id": "b"}]

    def __call__(self, datum: Any) -> Any:
        return (datum,)


class Buffer(movement.Cog):
    def __init__(self, train: movement.Train, flush_in: str) -> None:
        self.esc = train.esc
        self.flush_in = flush_in
        self.kept: list[Any] = []

    def __call__(self, datum: Any) -> Any:
        self.kept.append(datum)
        return None

    def _flush_kept(self) -> None:
        kept, self.kept = self.kept, []
        if kept:
            self.esc.send_from(self, kept)

    def finish(self) -> None:
        self.esc = movement.DummyEscapement
        if self.flush_in == "finish":
            self._flush_kept()

    def done(self) -> None:
        self._flush_kept()


@pytest.mark.parametrize("flush_in", ["finish", "done"])
def test_the_run_fails_saying_what_was_lost(flush_in: str, caplog: pytest.LogCaptureFixture) -> None:
    train = movement.Train(movement.Escapement())
    written: list[Any] = []
    train.cogs = [Supply(train), Buffer(train, flush_in), written.append]
    assert train.run() == 1
    assert written == []
    assert train.esc.failures == [
        "shutdown: Buffer(flush_in='" + flush_in + "') sent data through a DummyEscapement after finish: they were lost"
    ]


def test_nothing_sent_is_no_failure() -> None:
    train = movement.Train(movement.Escapement())
    written: list[Any] = []
    buffer = Buffer(train, "finish")
    train.cogs = [Supply(train), buffer, written.append]
    buffer.kept = []
    movement.DummyEscapement.send_from(buffer, [])
    # The two data are kept, then flushed through the dummy: lost, as above; an empty send is nothing.
    assert train.run() == 1
    assert len(train.esc.failures) == 1


def test_an_application_broadcasting_finish_gets_the_shutdown_in_order() -> None:
    """``train.notify("finish")`` from an application: each finish once, what it returns goes on."""
    finished: list[int] = []

    class Stops(Supply):
        def __init__(self, train: movement.Train) -> None:
            super().__init__(train)
            self.train = train

        def go(self) -> list[dict[str, str]]:
            self.train.esc.after(0.02, lambda: self.train.notify("finish"))
            return super().go()

    class Keeps(movement.Cog):
        def __init__(self, train: movement.Train) -> None:
            self.train = train
            self.kept: list[Any] = []

        def __call__(self, datum: Any) -> Any:
            self.train.hold()
            self.kept.append(datum)
            return ()

        def finish(self) -> list[Any]:
            finished.append(1)
            kept, self.kept = self.kept, []
            self.train.release(len(kept))
            return kept

    train = movement.Train(movement.Escapement())
    written: list[Any] = []
    train.cogs = [Stops(train), Keeps(train), written.append]
    assert train.run() == 0
    assert [d["id"] for d in written] == ["a", "b"]
    assert finished == [1]
