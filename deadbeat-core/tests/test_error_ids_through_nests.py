"""An error names the event it belongs to, whatever per-datum cogs ran before the failing cog.

The supply keeps the ids beside the data (a Batch that knows them, as ``fs.read``
gives plain lines): a cog that makes new objects drops nothing an id could be
read from, so the train has to know which datum each result came from. Before,
a nest of per-datum cogs (a user's own parser, say) followed by a list stage
lost that, and errors further on said ``event_id: None``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat import movement
from deadbeat.testing import Collector


def fresh(datum: dict[str, int]) -> tuple[dict[str, int]]:
    """A new object each time, as a parser makes: nothing of the old one but its fields."""
    return ({"n": datum["n"], "o": datum["o"]},)


def split_even(datum: dict[str, int]) -> tuple[dict[str, int], ...]:
    if datum["n"] % 2 == 0:
        return ({"n": datum["n"] + 1, "o": datum["o"]}, {"n": datum["n"] + 3, "o": datum["o"]})
    return (datum,)


def drop_fifths(datum: dict[str, int]) -> tuple[dict[str, int], ...] | None:
    return None if datum["n"] % 5 == 0 else (datum,)


def failing(remainder: int) -> Any:
    def fail(datum: dict[str, int]) -> tuple[dict[str, int]]:
        if datum["n"] % 7 == remainder:
            raise ValueError(f"n={datum['n']}")
        return (datum,)

    fail.__name__ = f"fail_{remainder}"
    return fail


class FreshLists(movement.Cog):
    """A list stage, one datum per datum, new objects; fails like ``failing(remainder)``."""

    one_to_one = True

    def __init__(self, remainder: int) -> None:
        self.remainder = remainder

    def __call__(self, datum: dict[str, int]) -> tuple[dict[str, int]]:
        if datum["n"] % 7 == self.remainder:
            raise ValueError(f"n={datum['n']} in a list")
        return ({"n": datum["n"] + 1, "o": datum["o"]},)

    def call_batch(self, data: list[Any]) -> list[Any]:
        return movement.call_each(self.__call__, data)


PER_DATUM = [fresh, split_even, drop_fifths, failing(3), failing(6)]

cog_plans = st.lists(
    st.one_of(st.sampled_from(range(len(PER_DATUM))), st.builds(FreshLists, st.integers(0, 6))),
    min_size=1,
    max_size=6,
)


def run(cogs: list[Any], numbers: list[int]) -> tuple[list[movement.ErrorRecord], Collector]:
    esc = movement.Escapement()
    records: list[movement.ErrorRecord] = []
    collector = Collector()
    train = movement.Train(esc, [*cogs, collector], error_output=records.append)
    data = [{"n": n, "o": place} for place, n in enumerate(numbers)]
    train.send(None, movement.Batch(data, "b", lambda: [f"line-{o}" for o in range(len(numbers))]))
    esc.close()
    return records, collector


@settings(max_examples=150, deadline=None)
@given(cog_plans, st.lists(st.integers(0, 40), max_size=30))
def test_every_error_names_the_event_its_datum_came_from(plan: list[Any], numbers: list[int]) -> None:
    cogs = [PER_DATUM[step] if isinstance(step, int) else step for step in plan]
    records, _ = run(cogs, numbers)
    assert [r.event_id for r in records] == [f"line-{r.datum['o']}" for r in records]


def test_a_users_parser_then_a_list_stage_that_fails() -> None:
    """The reported case: plain lines, a per-datum parser of one's own, then a list cog refusing a value."""
    records, collector = run([fresh, FreshLists(0)], [1, 7, 2, 14])
    assert [(r.event_id, str(r.error)) for r in records] == [("line-1", "n=7 in a list"), ("line-3", "n=14 in a list")]
    assert [d["o"] for d in collector.data] == [0, 2]


def test_a_nest_a_list_stage_and_a_nest_again() -> None:
    """Two nests of per-datum cogs with a list stage between: the second nest's errors are traced too."""
    records, _ = run([split_even, FreshLists(5), failing(0)], [2, 3, 5, 12])
    # 2 gives 3 and 5: the list stage refuses 5 (5 % 7 == 5). 5 is refused there too.
    # 12 gives 13 and 15, made 14 and 16 by the list stage: the last nest refuses 14.
    assert sorted((r.event_id, str(r.error)) for r in records) == [
        ("line-0", "n=5 in a list"),
        ("line-2", "n=5 in a list"),
        ("line-3", "n=14"),
    ]
