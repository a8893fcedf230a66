"""Getters and setters: callables, indexes and dotted paths."""

from __future__ import annotations

import functools
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


class TestIdSetter:
    """movement.id_setter tells the manual's f(datum) from a setter f(datum, id) by the required parameters."""

    @staticmethod
    def made_by(spec: Any) -> dict[str, Any]:
        """What the resulting setter makes of an empty mapping given the supply's id ``file:0``."""
        set_id = movement.id_setter(spec)
        assert set_id is not None
        result = set_id({}, "file:0")
        assert isinstance(result, dict)
        return result

    def test_one_required_argument_and_an_optional_one_is_the_manual_form(self) -> None:
        """def make_id(data, field="id"): called as make_id(datum); the supply's id never lands in field."""

        def make_id(data: dict[str, Any], field: str = "uid") -> dict[str, Any]:
            data[field] = "generated"
            return data

        assert self.made_by(make_id) == {"uid": "generated"}

    def test_one_required_argument_is_the_manual_form(self) -> None:
        """The manual's form; a function that returns nothing has set the id in place."""

        def make_id(data: dict[str, Any]) -> None:
            data["uid"] = "generated"

        assert self.made_by(make_id) == {"uid": "generated"}
        assert self.made_by(lambda data: {**data, "uid": 1}) == {"uid": 1}

    def test_keyword_only_options_keep_the_manual_form(self) -> None:
        """Optional keyword-only parameters are no second argument."""

        def make_id(data: dict[str, Any], *, field: str = "uid") -> dict[str, Any]:
            data[field] = "generated"
            return data

        assert self.made_by(make_id) == {"uid": "generated"}

    def test_two_required_arguments_are_a_setter(self) -> None:
        """f(datum, id), with or without optional parameters after, gets the supply's id."""

        def set_id(data: dict[str, Any], event_id: str, field: str = "eid") -> dict[str, Any]:
            data[field] = event_id
            return data

        assert self.made_by(set_id) == {"eid": "file:0"}
        assert self.made_by(movement.itemsetter("eid")) == {"eid": "file:0"}
        assert self.made_by("meta.eid") == {"meta": {"eid": "file:0"}}
        assert movement.id_setter("eid") is not None
        assert movement.id_setter(None) is None

    def test_variadic_functions_stay_setters(self) -> None:
        """*args can take the id: a setter, as before (a decorator's wrapper, say)."""

        def wrapper(*args: Any) -> Any:
            args[0]["eid"] = args[1]
            return args[0]

        def first_and_rest(data: dict[str, Any], *rest: Any) -> dict[str, Any]:
            data["eid"] = rest[0]
            return data

        assert self.made_by(wrapper) == {"eid": "file:0"}
        assert self.made_by(first_and_rest) == {"eid": "file:0"}

    def test_no_required_argument_decides_by_what_it_can_take(self) -> None:
        """Two optional parameters: a setter; one: the manual's form."""

        def either(data: Any = None, event_id: Any = None) -> Any:
            data["eid"] = event_id
            return data

        def one(data: Any = None) -> Any:
            data["uid"] = "generated"
            return data

        assert self.made_by(either) == {"eid": "file:0"}
        assert self.made_by(one) == {"uid": "generated"}

    def test_partials_bound_methods_and_callable_objects_count_what_is_left(self) -> None:
        """self and what a partial gives are not among the required arguments."""

        def put(field: str, data: dict[str, Any], value: Any = "generated") -> dict[str, Any]:
            data[field] = value
            return data

        class Maker:
            def __init__(self) -> None:
                self.count = 0

            def make(self, data: dict[str, Any], field: str = "uid") -> dict[str, Any]:
                self.count += 1
                data[field] = self.count
                return data

            def __call__(self, data: dict[str, Any], field: str = "uid") -> dict[str, Any]:
                return self.make(data, field)

        class Setter:
            def __call__(self, data: dict[str, Any], event_id: str) -> dict[str, Any]:
                data["eid"] = event_id
                return data

        assert self.made_by(functools.partial(put, "uid")) == {"uid": "generated"}
        assert self.made_by(Maker().make) == {"uid": 1}
        assert self.made_by(Maker()) == {"uid": 1}
        assert self.made_by(Setter()) == {"eid": "file:0"}

    def test_a_builtin_without_a_signature_is_taken_for_a_setter(self) -> None:
        """As before: no signature to read, so it is given the id too."""
        set_id = movement.id_setter(dict.update)
        assert set_id is not None and set_id is dict.update

    def test_a_function_that_takes_neither_form_is_refused_at_once(self) -> None:
        """Three required arguments, or a required keyword: a TypeError at construction, not per datum."""

        def three(data: Any, event_id: Any, extra: Any) -> Any:
            return data

        def keyword(data: Any, *, field: str) -> Any:
            return data

        for function in (three, keyword, operator.setitem):
            with pytest.raises(TypeError, match="takes neither one argument"):
                movement.id_setter(function)


class TestImmutableData:
    """The manual: a setter returns the datum "as data can be immutable structure, so itemsetter can return
    completely new object". ``itemsetter(2)`` on a tuple raised TypeError."""

    def test_a_tuple_gets_a_new_tuple(self) -> None:
        datum = ("10.0.0.1", "ssh", None)
        assert movement.itemsetter(2)(datum, "host") == ("10.0.0.1", "ssh", "host")
        assert movement.setter(2)(datum, "host") == ("10.0.0.1", "ssh", "host")
        assert movement.itemsetter(0, 2)(datum, ("a", "b")) == ("a", "ssh", "b")
        assert datum == ("10.0.0.1", "ssh", None)  # unchanged

    def test_a_named_tuple_by_index_and_by_field(self) -> None:
        from typing import NamedTuple

        class Event(NamedTuple):
            ip: str
            host: str | None = None

        event = Event("10.0.0.1")
        assert movement.itemsetter("host")(event, "a.example") == Event("10.0.0.1", "a.example")
        assert movement.itemsetter(1)(event, "b.example") == Event("10.0.0.1", "b.example")
        assert type(movement.setter("host")(event, "x")) is Event

    def test_what_is_neither_mutable_nor_a_tuple_still_fails(self) -> None:
        with pytest.raises(TypeError):
            movement.itemsetter(0)("text", "x")
        with pytest.raises((IndexError, ValueError)):
            movement.itemsetter(5)((1, 2), "x")
