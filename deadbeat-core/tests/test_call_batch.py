"""Cogs offering ``call_batch``: the train gives them whole lists, with the same results."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat import movement
from deadbeat.testing import Collector, send_through


class Scale(movement.Cog):
    """Multiply by ``factor``; refuses negative numbers; a list at a time when asked."""

    def __init__(self, factor: int) -> None:
        self.factor = factor
        self.batch_calls = 0
        self.single_calls = 0

    def __call__(self, data: int) -> tuple[int, ...]:
        self.single_calls += 1
        if data < 0:
            raise ValueError(f"negative: {data}")
        return (data * self.factor,)

    def call_batch(self, data: list[int]) -> list[int]:
        self.batch_calls += 1
        if any(d < 0 for d in data):
            raise ValueError("a negative number somewhere")
        return [d * self.factor for d in data]


class EvenOnlyTwice(movement.Cog):
    """Drop odd numbers, repeat even ones; ``call_batch`` returns a generator."""

    def __call__(self, data: int) -> tuple[int, ...] | None:
        return None if data % 2 else (data, data)

    def call_batch(self, data: list[int]) -> Any:
        return (d for datum in data if not datum % 2 for d in (datum, datum))


def plus_one(data: int) -> tuple[int]:
    return (data + 1,)


class TestBatchStages:
    def test_same_results_as_datum_by_datum(self) -> None:
        """Lists through call_batch give the output of nested per-datum calls, in order."""
        data = list(range(20))
        batched, _ = send_through([Scale(3), plus_one, EvenOnlyTwice(), plus_one], data)
        expected = []
        for d in data:
            d = d * 3 + 1
            if d % 2 == 0:
                expected += [d + 1, d + 1]
        assert batched == expected

    def test_the_whole_list_goes_in_one_call(self) -> None:
        """A batch cog is called once per send, not once per datum."""
        scale = Scale(2)
        out, errors = send_through([scale], [1, 2, 3])
        assert (out, errors) == ([2, 4, 6], [])
        assert (scale.batch_calls, scale.single_calls) == (1, 0)

    def test_a_failing_list_is_retried_datum_by_datum(self) -> None:
        """Only the bad datum goes to the error output, with the error of its own call."""
        scale = Scale(10)
        data = [{"id": "a", "n": 1}, {"id": "b", "n": -2}, {"id": "c", "n": 3}]

        def number(d: dict[str, Any]) -> tuple[int]:
            return (d["n"],)

        out, errors = send_through([number, scale, plus_one], data)
        assert out == [11, 31]
        assert len(errors) == 1
        assert errors[0].position == 1
        assert errors[0].datum == -2
        assert "negative: -2" in str(errors[0].error)
        assert (scale.batch_calls, scale.single_calls) == (1, 3)

    def test_error_record_names_the_event_id(self) -> None:
        """Falling back keeps the event id of the failing datum for the error output."""

        class Strict(movement.Cog):
            def __call__(self, data: dict[str, Any]) -> tuple[dict[str, Any]]:
                if "n" not in data:
                    raise KeyError("n")
                return (data,)

            def call_batch(self, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
                return [d for datum in data for d in self(datum)]

        out, errors = send_through([Strict()], [{"id": "x1", "n": 1}, {"id": "x2"}])
        assert out == [{"id": "x1", "n": 1}]
        assert [e.event_id for e in errors] == ["x2"]

    def test_sending_from_a_position_uses_the_batch_stages_after_it(self) -> None:
        """Late data sent from a cog pass the batch cogs after it."""
        esc = movement.Escapement()
        collector = Collector()
        scale = Scale(5)
        try:
            train = movement.Train(esc, [plus_one, scale, collector])
            assert train.send(plus_one, [1, 2]) == 2
        finally:
            esc.close()
        assert collector.data == [5, 10]
        assert scale.batch_calls == 1

    def test_generators_entering_are_taken_whole(self) -> None:
        """Data sent as a generator reach a batch cog as one list."""
        esc = movement.Escapement()
        collector = Collector()
        try:
            train = movement.Train(esc, [Scale(2), collector])
            assert train.send(None, (n for n in range(4))) == 4
        finally:
            esc.close()
        assert collector.data == [0, 2, 4, 6]

    def test_call_batch_returning_none_is_said_and_the_data_go_datum_by_datum(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A call_batch that forgets its return: nothing escapes the send, nothing is lost, it is said once."""

        class Forgetful(Scale):
            def call_batch(self, data: list[int]) -> list[int]:  # type: ignore[override]
                super().call_batch(data)
                return None  # type: ignore[return-value]

        esc = movement.Escapement()
        collector = Collector()
        try:
            train = movement.Train(esc, [Forgetful(2), collector])
            with caplog.at_level(logging.WARNING, logger="deadbeat.train"):
                assert train.send(None, [1, 2]) == 2
                assert train.send(None, [3]) == 1
        finally:
            esc.close()
        assert collector.data == [2, 4, 6]
        assert train.errors == 0
        said = [r.getMessage() for r in caplog.records if "call_batch returned NoneType" in r.getMessage()]
        assert len(said) == 1

    @pytest.mark.parametrize(
        ("returned", "kind"),
        [(lambda data: "\n".join(map(str, data)), "str"), (lambda data: {"first": data[0]}, "dict")],
    )
    def test_call_batch_returning_one_datum_is_said_and_the_data_go_datum_by_datum(
        self, caplog: pytest.LogCaptureFixture, returned: Callable[[list[int]], Any], kind: str
    ) -> None:
        """A text or a mapping in place of the list: never its characters or keys as data, never a count of splits."""

        class OneDatum(Scale):
            def call_batch(self, data: list[int]) -> list[int]:  # type: ignore[override]
                return returned(data)  # type: ignore[return-value]

        esc = movement.Escapement()
        collector = Collector()
        try:
            train = movement.Train(esc, [OneDatum(2), collector])
            with caplog.at_level(logging.WARNING, logger="deadbeat.train"):
                assert train.send(None, [1, 2, 3]) == 3
        finally:
            esc.close()
        assert collector.data == [2, 4, 6]
        assert (train.errors, train.events_in, train.events_out) == (0, 3, 3)
        assert any(f"call_batch returned {kind}, not a list" in r.getMessage() for r in caplog.records)

    def test_a_generator_call_batch_that_raises_fails_only_the_bad_datum(self) -> None:
        """Its exception comes while the train makes its result a list: the list goes datum by datum, as when
        call_batch raises, and only the bad datum goes to the error output; the run goes on."""

        class Lazy(Scale):
            def call_batch(self, data: list[int]) -> Any:  # type: ignore[override]
                for datum in data:
                    yield from self(datum)

        out, records = send_through([Lazy(3)], [1, -2, 3, 4])
        assert out == [3, 9, 12]
        assert [(r.datum, str(r.error)) for r in records] == [(-2, "negative: -2")]

    def test_nothing_to_do_calls_nothing(self) -> None:
        """An empty list or everything swallowed before: the batch cog is not called."""
        scale = Scale(2)
        out, _ = send_through([lambda d: None, scale], [1, 2])
        assert out == []
        assert scale.batch_calls == 0

    def test_batch_acknowledged_after_batch_stages(self) -> None:
        """A supply's Batch is acknowledged once its data left through the batch cogs."""
        done: list[Any] = []

        class Acker(movement.Cog):
            @movement.hook
            def batch_done(self, batch_id: Any) -> None:
                done.append(batch_id)

        esc = movement.Escapement()
        collector = Collector()
        try:
            train = movement.Train(esc, [Acker(), Scale(2), collector])
            train.send(None, movement.Batch([1, 2, 3], batch_id="b1"))
            esc.enqueue(esc.stop)
            esc.run()
        finally:
            esc.close()
        assert collector.data == [2, 4, 6]
        assert done == ["b1"]
        assert train.events_out == 3


# -- the rule, for all trains: batch stages change nothing but speed ------------------


def _reference(cogs: list[Callable[[int], Any]], data: list[int]) -> tuple[list[int], list[tuple[int, int]]]:
    """Depth-first, datum by datum, as the manual describes a train."""
    out: list[int] = []
    errors: list[tuple[int, int]] = []

    def push(level: int, datum: int) -> None:
        if level == len(cogs):
            out.append(datum)
            return
        try:
            results = list(cogs[level](datum) or ())
        except Exception:  # noqa: BLE001 - the reference routes every error
            errors.append((level, datum))
            return
        for result in results:
            push(level + 1, result)

    for datum in data:
        push(0, datum)
    return out, errors


class Arith(movement.Cog):
    """add, then multiply; raise on multiples of ``bad``; drop multiples of ``drop``; repeat."""

    def __init__(self, add: int, bad: int, drop: int, repeat: int) -> None:
        self.add = add
        self.bad = bad
        self.drop = drop
        self.repeat = repeat

    def __call__(self, data: int) -> tuple[int, ...]:
        if self.bad and data % self.bad == 0:
            raise ValueError(data)
        if self.drop and data % self.drop == 0:
            return ()
        return (data + self.add,) * self.repeat


class BatchArith(Arith):
    def call_batch(self, data: list[int]) -> list[int]:
        return [out for datum in data for out in self(datum)]


class PartialArith(Arith):
    """Names the datum it fails on (PartialBatch), as text.json_parse does."""

    def call_batch(self, data: list[int]) -> list[int]:
        done: list[int] = []
        for index, datum in enumerate(data):
            try:
                done += self(datum)
            except ValueError as exc:
                raise movement.PartialBatch(done, index, exc) from None
        return done


KINDS = {"plain": Arith, "batch": BatchArith, "partial": PartialArith}

cog_specs = st.tuples(
    st.sampled_from(sorted(KINDS)),
    st.integers(-3, 3),
    st.sampled_from([0, 3, 5, 7]),
    st.sampled_from([0, 2, 4]),
    st.integers(0, 2),
)


@settings(max_examples=150, deadline=None)
@given(specs=st.lists(cog_specs, min_size=1, max_size=5), data=st.lists(st.integers(-20, 20), max_size=30))
def test_batch_stages_match_the_datum_by_datum_reference(
    specs: list[tuple[str, int, int, int, int]], data: list[int]
) -> None:
    """Whatever the mix of batch, partial-batch and plain cogs: same output, same failures, same order."""
    cogs = [KINDS[kind](add, bad, drop, repeat) for kind, add, bad, drop, repeat in specs]
    expected_out, expected_errors = _reference(cogs, data)
    out, records = send_through(cogs, data)
    assert out == expected_out
    # Failures are reported stage by stage when lists are involved; the set is the same.
    assert sorted((r.position, r.datum) for r in records) == sorted(expected_errors)


class Halve(movement.Cog):
    """One to one: halves even numbers, refuses odd ones, and names the first refused in a list."""

    one_to_one = True

    def __call__(self, datum: dict[str, int]) -> tuple[dict[str, int]]:
        if datum["n"] % 2:
            raise ValueError(f"odd {datum['n']}")
        return ({"n": datum["n"] // 2},)

    def call_batch(self, data: list[dict[str, int]]) -> list[dict[str, int]]:
        done: list[dict[str, int]] = []
        for index, datum in enumerate(data):
            try:
                done += self(datum)
            except ValueError as exc:
                raise movement.PartialBatch(done, index, exc) from None
        return done


def test_after_a_partial_batch_later_errors_still_name_their_event() -> None:
    """A list a one-to-one cog named two bad data in: those fail with their ids, and a failure further down
    names the id its datum came in with, not a neighbour's."""
    calls: list[int] = []

    class Counting(Halve):
        def call_batch(self, data: list[dict[str, int]]) -> list[dict[str, int]]:
            calls.append(len(data))
            return super().call_batch(data)

    class RefuseThree(movement.Cog):
        def __call__(self, datum: dict[str, int]) -> tuple[dict[str, int]]:
            if datum["n"] == 3:
                raise ValueError("three")
            return (datum,)

    esc = movement.Escapement()
    records: list[movement.ErrorRecord] = []
    collector = Collector()
    train = movement.Train(esc, [Counting(), RefuseThree(), collector], error_output=records.append)
    numbers = [2, 4, 5, 6, 7, 8, 10]
    batch = movement.Batch([{"n": n} for n in numbers], "b", lambda: [f"id{n}" for n in numbers])
    train.send(None, batch)
    esc.close()
    assert [d["n"] for d in collector.data] == [1, 2, 4, 5]
    assert [(r.event_id, str(r.error)) for r in records] == [("id5", "odd 5"), ("id7", "odd 7"), ("id6", "three")]
    # The whole list, then the rest after each bad datum: never one call per datum.
    assert calls == [7, 4, 2]


@pytest.mark.parametrize("bad", [1, 2, 3, 50, 997])
def test_long_lists_with_partial_batches_match_the_reference(bad: int) -> None:
    """Dense and sparse failures in long lists (the pieces given again shrink and grow): same as datum by datum."""
    cogs = [PartialArith(1, bad, 0, 1), BatchArith(0, 0, 7, 1)]
    data = list(range(3000))
    expected_out, expected_errors = _reference(cogs, data)
    out, records = send_through(cogs, data)
    assert out == expected_out
    assert sorted((r.position, r.datum) for r in records) == sorted(expected_errors)


class Increment(movement.Cog):
    """Adds one to ``n`` in place: not the same when done twice; refuses a negative ``n``."""

    one_to_one = True

    def __call__(self, data: dict[str, int]) -> tuple[dict[str, int]]:
        if data["n"] < 0:
            raise ValueError(f"negative: {data['n']}")
        data["n"] += 1
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        return movement.call_each(self.__call__, data)


@settings(max_examples=60)
@given(st.lists(st.integers(min_value=-3, max_value=20), max_size=40))
def test_call_each_changes_each_datum_once_and_fails_only_the_bad(numbers: list[int]) -> None:
    """A cog changing data in place through call_each: the good data changed once, the bad as they came."""
    data = [{"id": i, "n": n} for i, n in enumerate(numbers)]
    out, errors = send_through([Increment()], data)
    assert [(d["id"], d["n"]) for d in out] == [(i, n + 1) for i, n in enumerate(numbers) if n >= 0]
    assert [(r.event_id, r.datum["n"]) for r in errors] == [(i, n) for i, n in enumerate(numbers) if n < 0]
