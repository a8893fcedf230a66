"""Getters and setters: callables, indexes and dotted paths."""

from __future__ import annotations

import operator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadbeat import movement

IDEA_EVENT = {
    "ID": "e-1",
    "Source": [{"IP4": ["192.0.2.1", "192.0.2.2"]}, {"IP6": ["2001:db8::1"]}],
    "Target": [{"Port": [22]}],
}


class TestItemsetter:
    def test_sets_and_returns_the_datum(self) -> None:
        """itemsetter stores the value and returns the (same) datum."""
        data: dict[str, Any] = {}
        result = movement.itemsetter("result")(data, 42)
        assert result is data and data == {"result": 42}

    def test_several_keys_take_several_values(self) -> None:
        """With several keys, the setter takes as many values."""
        data: dict[str, Any] = {}
        movement.itemsetter("a", "b")(data, (1, 2))
        assert data == {"a": 1, "b": 2}
        with pytest.raises(ValueError, match="needs 2 values"):
            movement.itemsetter("a", "b")(data, (1,))

    def test_works_on_lists(self) -> None:
        """An index works as the key for lists, like itemgetter."""
        assert movement.itemsetter(1)([0, 0, 0], 9) == [0, 9, 0]


class TestPaths:
    def test_dotted_path_reads_nested_lists_and_dicts(self) -> None:
        """ "Source.0.IP4.1" reads through lists by index and dicts by key."""
        assert movement.getter("Source.0.IP4.1")(IDEA_EVENT) == "192.0.2.2"
        assert movement.getter("Target.0.Port.0")(IDEA_EVENT) == 22
        assert movement.getter("Source.-1.IP6.0")(IDEA_EVENT) == "2001:db8::1"

    def test_missing_segment_names_the_path(self) -> None:
        """A missing field raises LookupError naming the path and the segment."""
        with pytest.raises(LookupError, match=r"field 'Source\.0\.IP6\.0': no 'IP6' in dict"):
            movement.getter("Source.0.IP6.0")(IDEA_EVENT)
        with pytest.raises(LookupError, match="no '5' in list"):
            movement.getter("Source.5.IP4")(IDEA_EVENT)

    def test_setter_creates_missing_mappings(self) -> None:
        """Setting a deep path creates the dicts on the way."""
        data: dict[str, Any] = {}
        movement.setter("enrich.dns.name")(data, "host.example")
        assert data == {"enrich": {"dns": {"name": "host.example"}}}

    def test_setter_indexes_and_appends_to_lists(self) -> None:
        """An index replaces a list element; the index after the last appends."""
        data = {"Source": [{"IP4": ["a"]}]}
        movement.setter("Source.0.IP4.0")(data, "b")
        movement.setter("Source.0.IP4.1")(data, "c")
        assert data == {"Source": [{"IP4": ["b", "c"]}]}

    def test_setter_cannot_cross_a_scalar(self) -> None:
        """Setting through a string value is a LookupError naming the path."""
        with pytest.raises(LookupError, match="field 'a.b'"):
            movement.setter("a.b")({"a": "text"}, 1)

    def test_escaped_dot_is_part_of_the_key(self) -> None:
        """A backslash keeps a dot inside a key."""
        assert movement.getter("host\\.name")({"host.name": "x"}) == "x"
        assert movement.getter("a.b\\.c")({"a": {"b.c": 1}}) == 1

    def test_plain_names_and_callables(self) -> None:
        """A plain name is an itemgetter; callables and ints pass as they are."""
        assert movement.getter("ip")({"ip": "x"}) == "x"
        assert movement.getter(1)(["a", "b"]) == "b"
        picker = operator.itemgetter("z")
        assert movement.getter(picker) is picker
        assert movement.getter(None, "d")({"d": 4}) == 4

    def test_bad_specs_are_refused(self) -> None:
        """Neither callable, path nor index: a TypeError at construction, not per datum."""
        with pytest.raises(TypeError):
            movement.getter(3.5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="empty segment"):
            movement.getter("a..b")


segments = st.text(alphabet="abcxyz_.\\", min_size=1, max_size=6).filter(lambda s: not s.lstrip("-").isdigit())


class TestPathProperties:
    @given(st.lists(segments, min_size=1, max_size=5), st.integers() | st.text())
    def test_set_then_get_returns_the_value(self, keys: list[str], value: Any) -> None:
        """For any nested path of keys, what a setter stores the getter reads back."""
        path = ".".join(k.replace("\\", "\\\\").replace(".", "\\.") for k in keys)
        data: dict[str, Any] = {}
        movement.setter(path)(data, value)
        assert movement.getter(path)(data) == value
        node: Any = data
        for key in keys:
            node = node[key]
        assert node == value


class TestWildcards:
    def test_star_reaches_every_item(self) -> None:
        """A '*' segment gathers from every list item; items without the field are skipped."""
        event = {"Source": [{"IP4": ["a", "b"]}, {"IP6": ["x"]}, {"IP4": ["c"]}]}
        assert movement.getter("Source.*.IP4.*")(event) == ["a", "b", "c"]
        assert movement.getter("Source.*.IP4")(event) == [["a", "b"], ["c"]]
        assert movement.getter("Target.*.IP4")(event) == []

    def test_star_setter_writes_back_in_the_same_order(self) -> None:
        """The setter takes one value per matched place, in the getter's order."""
        event = {"Source": [{"IP4": ["a", "b"]}, {"IP4": ["c"]}]}
        movement.setter("Source.*.IP4.*")(event, ["A", "B", "C"])
        assert event == {"Source": [{"IP4": ["A", "B"]}, {"IP4": ["C"]}]}
        with pytest.raises(LookupError, match="3 places but 2 values"):
            movement.setter("Source.*.IP4.*")(event, ["x", "y"])
