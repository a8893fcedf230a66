"""A datum a cog called datum by datum holds and sends on later keeps its event id.

Such a cog (the manual's DNS lookup: hold the datum, ask, send it on from the
answer's callback) sends the datum on alone, where nothing said which event
it was: a cog after it that failed on it wrote an error record naming no event
(``-``), and an output asking :meth:`Train.event_ids_of` got ``None``. The train
now notes the id when the datum is held and gives it back when the same object
is sent on.
"""

from __future__ import annotations

from typing import Any

import pytest

from deadbeat import movement
from deadbeat.movement import Batch, ErrorRecord

IDS = ["app.log:0", "app.log:10", "app.log:20", "app.log:30"]


class Later(movement.Cog):
    """Holds every datum and sends it on from a timer, as a lookup would from its answer."""

    def __init__(self, train: movement.Train, esc: movement.Escapement, release_first: bool = True) -> None:
        self.train, self.esc, self.release_first = train, esc, release_first

    def __call__(self, datum: Any) -> Any:
        token = self.train.hold(current=True)

        def answer() -> None:
            if self.release_first:
                self.train.release(token=token)
                self.train.send(self, [datum], token)
            else:
                self.train.send(self, [datum], token)
                self.train.release(token=token)

        self.esc.after(0.001, answer)
        return ()


class FailsOn(movement.Cog):
    def __init__(self, bad: Any) -> None:
        self.bad = bad

    def __call__(self, datum: Any) -> Any:
        if datum == self.bad or (isinstance(datum, dict) and datum.get("line") == self.bad):
            raise ValueError(f"cannot take {self.bad!r}")
        return (datum,)


class IdsOutput(movement.Cog):
    """An output taking whole lists, asking the train which events they are."""

    def __init__(self, train: movement.Train) -> None:
        self.train = train
        self.seen: list[Any] = []

    def __call__(self, datum: Any) -> Any:
        return self.call_batch([datum])

    def call_batch(self, data: list[Any]) -> list[Any]:
        self.seen += self.train.event_ids_of(data) or [None] * len(data)
        return data


class Parse(movement.Cog):
    """One-to-one on whole lists, making new objects, as a parser does."""

    one_to_one = True

    def __call__(self, datum: Any) -> Any:
        return ({"line": datum},)

    def call_batch(self, data: list[Any]) -> list[Any]:
        return [{"line": d} for d in data]


def _run(cogs_after_supply: Any, measure: str = "off") -> tuple[list[ErrorRecord], movement.Train]:
    esc = movement.Escapement()
    train = movement.Train(esc, name="held")
    records: list[ErrorRecord] = []
    train.error_output = records.append
    train.cogs = [lambda d: (d,), *cogs_after_supply(train, esc)]
    train.measure = measure
    train.send(None, Batch(["a", "b", "c", "d"], batch_id=1, event_ids=IDS))
    assert train.run() == 0
    return records, train


@pytest.mark.parametrize("release_first", [True, False])
@pytest.mark.parametrize("measure", ["off", "cogs"])
def test_a_cog_after_the_holder_fails_and_names_the_event(release_first: bool, measure: str) -> None:
    records, _train = _run(lambda t, e: [Later(t, e, release_first), FailsOn("c")], measure)
    assert [(r.event_id, r.datum) for r in records] == [("app.log:20", "c")]


def test_through_a_list_stage_before_the_holder() -> None:
    records, _train = _run(lambda t, e: [Parse(), Later(t, e), FailsOn("b")])
    assert [r.event_id for r in records] == ["app.log:10"]


def test_a_function_that_holds() -> None:
    def make(train: movement.Train, esc: movement.Escapement) -> list[Any]:
        def later(datum: Any) -> Any:
            token = train.hold(current=True)

            def answer() -> None:
                train.release(token=token)
                train.send(later, [datum], token)

            esc.after(0.001, answer)
            return ()

        return [later, FailsOn("d")]

    records, _train = _run(make)
    assert [r.event_id for r in records] == ["app.log:30"]


def test_an_output_after_the_holder_knows_the_ids() -> None:
    outputs: list[IdsOutput] = []

    def make(train: movement.Train, esc: movement.Escapement) -> list[Any]:
        outputs.append(IdsOutput(train))
        return [Later(train, esc), outputs[0]]

    _run(make)
    assert sorted(outputs[0].seen) == IDS


def test_a_datum_held_then_dropped_is_forgotten() -> None:
    """Nothing noted outlives the data held: a cog that drops what it held leaves nothing behind."""

    class Drops(Later):
        def __call__(self, datum: Any) -> Any:
            token = self.train.hold(current=True)
            self.esc.after(0.001, lambda: self.train.release(token=token))
            return ()

    _records, train = _run(lambda t, e: [Drops(t, e)])
    assert train._held_ids == {}
