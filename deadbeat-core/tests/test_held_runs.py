"""HeldRuns: each datum is released exactly once, under the token it was held with, in order."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from deadbeat.movement import HeldRuns, Hold

# Tokens as a train makes them: numbered batches, or None for data of no batch.
TOKENS = [Hold(number) for number in range(4)] + [Hold(), None]

holds = st.lists(st.tuples(st.sampled_from(range(len(TOKENS))), st.integers(0, 5)), max_size=12)


def _noted(spec: list[tuple[int, int]]) -> tuple[HeldRuns, list[Any]]:
    """:returns: the runs, and the token of each datum in order."""
    runs = HeldRuns()
    each: list[Any] = []
    for index, count in spec:
        runs.add(TOKENS[index], count)
        each += [TOKENS[index]] * count
    return runs, each


def _releases(into: list[Any]) -> Any:
    def release(count: int, token: Any) -> None:
        into.extend([token] * count)

    return release


@given(holds)
def test_release_gives_each_datum_its_token_and_the_earliest(spec: list[tuple[int, int]]) -> None:
    runs, each = _noted(spec)
    assert len(runs) == len(each)
    assert runs.earliest() is Hold.earliest(each)
    released: list[Any] = []
    token = runs.release(_releases(released))
    assert [id(t) for t in released] == [id(t) for t in each]
    assert token is Hold.earliest(each)
    assert len(runs) == 0 and not list(runs)
    assert runs.release(_releases(released)) is None  # nothing twice


@given(holds, st.data())
def test_release_first_then_the_rest_is_the_whole(spec: list[tuple[int, int]], data: st.DataObject) -> None:
    runs, each = _noted(spec)
    first = data.draw(st.integers(0, len(each)))
    released: list[Any] = []
    runs.release_first(first, _releases(released))
    assert len(runs) == len(each) - first
    runs.release(_releases(released))
    assert [id(t) for t in released] == [id(t) for t in each]


@given(holds, st.data())
def test_split_keeps_order_and_leaves_the_whole(spec: list[tuple[int, int]], data: st.DataObject) -> None:
    runs, each = _noted(spec)
    at = data.draw(st.integers(0, len(each)))
    first, second = runs.split(at)
    assert (len(first), len(second), len(runs)) == (at, len(each) - at, len(each))
    released: list[Any] = []
    first.release(_releases(released))
    second.release(_releases(released))
    assert [id(t) for t in released] == [id(t) for t in each]


def test_extend_merges_and_release_first_refuses_too_many() -> None:
    runs, other = HeldRuns(), HeldRuns()
    runs.add(TOKENS[0], 2)
    other.add(TOKENS[0], 1)
    other.add(TOKENS[1])
    runs.extend(other)
    assert list(runs) == [(TOKENS[0], 3), (TOKENS[1], 1)]
    assert len(other) == 2
    try:
        runs.release_first(5, _releases([]))
    except ValueError as exc:
        assert "5" in str(exc) and "4" in str(exc)
    else:
        raise AssertionError("release_first took more than was held")
