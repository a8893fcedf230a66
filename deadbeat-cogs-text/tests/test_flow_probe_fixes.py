"""What a probe of the flow cogs found, each now right or refused.

* ``flow.rename`` applied its renames one after another: a swap lost a value,
  and a rename onto a field of the datum replaced it silently.
* ``flow.aggregate``: ``first`` skipped a null first value; an aggregate named
  ``id`` or like a ``by`` field replaced the group's id or key silently.
"""

from __future__ import annotations

from typing import Any

import pytest

from deadbeat import flow, movement
from deadbeat.testing import run_train, send_through


def test_rename_swaps() -> None:
    out, errors = send_through([flow.Rename({"a": "b", "b": "a"})], [{"a": 1, "b": 2}])
    assert (out, errors) == ([{"a": 2, "b": 1}], [])


def test_rename_chains_at_once() -> None:
    out, _ = send_through([flow.Rename({"a": "b", "b": "c"})], [{"a": 1, "b": 2}, {"a": 3}])
    assert out == [{"b": 1, "c": 2}, {"b": 3}]


def test_rename_onto_a_field_it_would_lose_is_an_error_naming_both() -> None:
    out, (record,) = send_through([flow.Rename({"a": "c"})], [{"id": "e1", "a": 1, "c": 2}])
    assert out == []
    assert record.event_id == "e1"
    assert "renaming 'a' to 'c' would lose the value the field 'c' holds" in str(record.error)


def test_two_fields_renamed_to_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="'a' and 'b' are both renamed to 'c'"):
        flow.Rename({"a": "c", "b": "c"})


def _aggregate(**params: Any) -> list[Any]:
    train = movement.Train(movement.Escapement())
    return run_train([flow.Aggregate(train, window=60, **params)], DATA, train=train, timeout=5).data


DATA = [{"id": "e1", "k": 1, "u": None}, {"id": "e2", "k": 1, "u": "x"}]


def test_first_takes_a_null_first_value() -> None:
    (group,) = _aggregate(by=["k"], aggregates={"f": "first:u", "l": "list:u", "z": "last:u"})
    assert (group["f"], group["l"], group["z"]) == (None, [None, "x"], "x")


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"by": ["k"], "aggregates": {"id": "count"}}, "aggregates 'id'"),
        ({"by": ["k"], "aggregates": {"k": "count"}}, "aggregates 'k'"),
        ({"by": ["id"], "aggregates": {"n": "count"}}, "by: 'id'"),
    ],
)
def test_names_the_group_datum_holds_are_refused(params: dict[str, Any], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        flow.Aggregate(movement.Train(movement.Escapement()), **params)
