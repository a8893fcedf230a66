"""Text cogs: parsing and formatting, both JSON engines, bad input."""

from __future__ import annotations

import csv
import io
import json
import operator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat import flow, movement, text
from deadbeat.testing import CogConformance, run_train, send_through
from deadbeat.text import _json


class TestJSONParseConformance(CogConformance):
    cog_name = "text.json_parse"
    params = {"source": "line"}
    samples = [{"id": "1", "line": '{"a": 1}'}, '{"b": 2}']
    flushes_all = True


class TestJSONFormatConformance(CogConformance):
    cog_name = "text.json_format"
    params = {"target": "line", "sort_keys": True}
    samples = [{"id": "1", "a": [1, 2]}]
    flushes_all = True


class TestCSVParseConformance(CogConformance):
    cog_name = "text.csv_parse"
    params = {"fieldnames": ["a", "b"]}
    samples = ["1,2", {"line": "x,y"}]
    flushes_all = True


class TestCSVFormatConformance(CogConformance):
    cog_name = "text.csv_format"
    params = {"fieldnames": ["a", "b"]}
    samples = [{"a": 1, "b": "x,y"}]
    flushes_all = True


class TestRegexConformance(CogConformance):
    cog_name = "text.regex_parse"
    params = {"pattern": r"(?P<word>\w+) (?P<number>\d+)"}
    samples = ["abc 12"]
    flushes_all = True


class TestKeyValueConformance(CogConformance):
    cog_name = "text.kv_parse"
    params = {"separator": "="}
    samples = ['a=1 b="two words"']
    flushes_all = True


class TestTemplateConformance(CogConformance):
    cog_name = "text.template"
    params = {"template": "$user logged in from $ip"}
    samples = [{"user": "alice", "ip": "192.0.2.1"}]
    flushes_all = True


class TestEncodeConformance(CogConformance):
    cog_name = "text.encode"
    params = {"encoding": "latin-1"}
    samples = ["café"]
    flushes_all = True


class TestDecodeConformance(CogConformance):
    cog_name = "text.decode"
    params = {"encoding": "latin-1"}
    samples = [b"caf\xe9"]
    flushes_all = True


def failures(cog: Any, data: list[Any]) -> tuple[list[Any], list[movement.ErrorRecord]]:
    return send_through([cog], data)


class TestJSON:
    def test_string_datum_becomes_the_value(self) -> None:
        """A plain line parses into the value, and formats back into a line."""
        out = run_train([text.JSONParse(), text.JSONFormat(target=None, sort_keys=True)], ['{"b": 1, "a": [true]}'])
        assert out.data == ['{"a":[true],"b":1}']

    def test_bad_json_goes_to_the_error_output_with_id_and_text(self) -> None:
        """Invalid JSON, non-objects and NaN are errors naming the event; the original text is kept."""
        out, records = failures(
            text.JSONParse(),
            [
                {"id": "a", "line": "{oops"},
                {"id": "b", "line": "[1]"},
                {"id": "c", "line": "NaN"},
                {"id": "d", "line": "{}"},
            ],
        )
        assert [r.event_id for r in records] == ["a", "b", "c"]
        assert records[0].datum["line"] == "{oops" and str(records[0].error).startswith("invalid JSON")
        assert str(records[1].error) == "expected a JSON object, got list"
        assert len(out) == 1

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
        max_leaves=15,
    )

    @given(st.dictionaries(st.text().filter(lambda k: k != "line"), json_values, max_size=6))
    def test_format_then_parse_round_trip(self, datum: dict[str, Any]) -> None:
        """Formatting a datum and parsing the text restores every field."""
        (formatted,) = text.JSONFormat()(dict(datum))
        (parsed,) = text.JSONParse()(formatted)
        assert parsed == datum == json.loads(formatted)
        (into_line,) = text.JSONFormat(target="line", exclude=["line"])(dict(datum))
        (back,) = text.JSONParse(target="back")(into_line)
        assert back["back"] == datum

    @given(json_values, st.booleans())
    def test_orjson_and_stdlib_agree(self, value: Any, sort_keys: bool) -> None:
        """Both engines read each other's text to the same value; without floats the text is the same too.

        The one difference: a float in exponent form is spelt ``1e-6`` by orjson
        and ``1e-06`` by the standard library, the same number either way.
        """
        assert _json.orjson is not None, "the orjson extra is installed for the tests"
        ours, theirs = text.dumps(value, sort_keys, engine="orjson"), text.dumps(value, sort_keys, engine="json")
        assert theirs == _json._std_dumps(value, sort_keys)
        assert text.loads(ours, engine="orjson") == text.loads(ours, engine="json") == value
        assert text.loads(theirs, engine="orjson") == _json._std_loads(theirs) == value
        if "e" not in "".join(repr(f) for f in _floats(value)):
            assert ours == theirs

    awkward_values = st.recursive(
        st.none() | st.floats() | st.integers() | st.datetimes() | st.text(max_size=3),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
        max_leaves=8,
    )

    @given(st.lists(awkward_values, max_size=6), st.booleans())
    def test_engines_write_the_same_or_refuse_the_same(self, values: list[Any], sort_keys: bool) -> None:
        """NaN, infinity and dates: both engines refuse them, per datum and per list; the rest reads back the same."""

        def outcome(datum: Any, engine: _json.Engine) -> Any:
            try:
                return json.loads(text.JSONFormat(target=None, sort_keys=sort_keys, engine=engine)(datum)[0])
            except ValueError as exc:
                return str(exc)

        def through(engine: _json.Engine) -> tuple[list[Any], list[Any]]:
            cog = text.JSONFormat(target=None, sort_keys=sort_keys, engine=engine)
            out, records = send_through([cog], list(values))
            return [json.loads(line) for line in out], [str(r.error) for r in records]

        expected = [outcome(v, "json") for v in values]
        assert [outcome(v, "orjson") for v in values] == expected
        assert through("orjson") == through("json")

    def test_nan_is_refused_not_written_as_null(self) -> None:
        """A NaN (say from cast.fields of "nan") goes to the error output; null stays null."""
        out, records = send_through(
            [text.JSONFormat()], [{"id": "a", "n": None}, {"id": "b", "n": float("nan")}, {"id": "c", "n": 1.5}]
        )
        assert out == ['{"id":"a","n":null}', '{"id":"c","n":1.5}']
        assert [r.event_id for r in records] == ["b"]
        assert "Out of range float values" in str(records[0].error)

    @pytest.mark.parametrize("engine", ["orjson", "json"])
    def test_a_number_beyond_a_float_is_refused_by_both_engines(self, engine: _json.Engine) -> None:
        """1e999 read as infinity (the standard library, and orjson's fallback to it) could be written by no JSON
        output: not the datum, not even its error record, so the run failed. Refused at parsing, as orjson does."""
        lines = ['{"n":1,"v":1e999}', '{"n":2,"v":-1e999}', '{"n":3,"v":2.5e308}', '{"n":4,"v":1.5e308}']
        out, records = send_through([text.JSONParse(engine=engine)], lines)
        assert out == [{"n": 4, "v": 1.5e308}]
        assert [r.datum for r in records] == lines[:3]
        assert all("beyond the range of a float" in str(r.error) or "infinity" in str(r.error) for r in records)

    def test_engine_parameter(self) -> None:
        """engine="json" makes a cog use the standard library, "orjson" orjson; the values stay the same.

        The engine is each cog's own: cogs with both engines work side by side,
        and "auto" (the default) is orjson, installed for the tests.
        """
        line = '{"a": 1.5, "b": [1, 2], "c": "x"}'
        with_orjson = text.JSONParse(engine="orjson")(line)
        assert text.JSONParse(engine="json")(line) == with_orjson == text.JSONParse()(line)
        assert text.JSONFormat(target=None, engine="json")({"a": 1e-06}) == ('{"a":1e-06}',)
        assert text.JSONFormat(target=None, engine="orjson")({"a": 1e-06}) == ('{"a":1e-6}',)
        assert text.JSONFormat(target=None)({"a": 1e-06}) == ('{"a":1e-6}',)
        assert text.dumps({"a": 1e-06}, engine="json") == '{"a":1e-06}'
        assert text.dumps({"a": 1e-06}) == text.dumps({"a": 1e-06}, engine="orjson") == '{"a":1e-6}'
        assert text.loads(b'{"a": 1}', engine="json") == text.loads(b'{"a": 1}') == {"a": 1}
        assert "engine='json'" in str(text.JSONParse(engine="json"))

    def test_unknown_engine_is_refused_at_construction(self) -> None:
        """An engine that is not auto, orjson or json fails when the cog is built, naming the three."""
        for make in (text.JSONParse, text.JSONFormat):
            with pytest.raises(ValueError, match="engine must be one of 'auto', 'orjson', 'json', not 'simdjson'"):
                make(engine="simdjson")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="engine must be one of"):
            text.loads("1", engine="ujson")  # type: ignore[arg-type]

    def test_orjson_asked_for_without_orjson(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without orjson, "orjson" is an error at construction and "auto" is the standard library."""
        monkeypatch.setattr(_json, "orjson", None)
        for make in (text.JSONParse, text.JSONFormat):
            with pytest.raises(ValueError, match="orjson is not installed"):
                make(engine="orjson")
        with pytest.raises(ValueError, match="orjson is not installed"):
            text.dumps({}, engine="orjson")
        assert text.JSONFormat(target=None)({"a": 1e-06}) == ('{"a":1e-06}',)
        assert text.dumps({"a": 1e-06}) == '{"a":1e-06}'
        parse = text.JSONParse()
        assert parse._orjson_loads is None and parse._loads is _json._std_loads_within
        assert parse.call_batch(['{"a": 1}', '{"n": 123456789012345678901}']) == [
            {"a": 1},
            {"n": 123456789012345678901},
        ]

    def test_huge_integers_fall_back_to_the_standard_library(self) -> None:
        """Integers beyond 64 bits, which orjson refuses, still work."""
        value = {"n": 2**80}
        assert text.loads(text.dumps(value, engine="orjson"), engine="orjson") == value
        assert text.loads(text.dumps(value)) == value


class TestJSONLists:
    """call_batch: whole lists at once, the results of one call per datum."""

    lines = st.lists(TestJSON.json_values, max_size=12).map(lambda values: [json.dumps(v) for v in values])

    @given(lines, st.sampled_from([str, bytes]), st.booleans())
    def test_parse_list_equals_parse_each(self, lines: list[str], kind: type, with_orjson: bool) -> None:
        """Any JSON lines, long integers and floats included, parse exactly as the standard library does."""
        data = [line if kind is str else line.encode() for line in lines]
        cog = text.JSONParse(engine="orjson" if with_orjson else "json")
        expected = [json.loads(line) for line in lines]
        assert cog.call_batch(list(data)) == [v for d in data for v in cog(d)] == expected

    def test_long_integer_anywhere_in_the_list_stays_exact(self) -> None:
        """One line with an integer beyond 64 bits among plain ones: that value stays an exact int."""
        lines = ['{"a": 1}', '{"n": 123456789012345678901, "x": [1.5]}', '{"b": "1234567890123456789012"}']
        values = text.JSONParse().call_batch(lines)
        assert values[1]["n"] == 123456789012345678901 and type(values[1]["n"]) is int
        assert values == [json.loads(line) for line in lines]

    def test_bad_line_in_a_list_fails_alone(self) -> None:
        """In a list sent through a train, only the invalid line goes to the error output."""
        out, records = send_through(
            [text.JSONParse(), text.JSONFormat(target=None)],
            ['{"a": 1}', "{oops", '{"b": 2}', {"line": '{"c": 3}'}],
        )
        assert out == ['{"a":1}', '{"b":2}', '{"c":3}']
        assert len(records) == 1 and records[0].datum == "{oops" and records[0].position == 0

    @given(
        st.lists(st.dictionaries(st.text(max_size=5), TestJSON.json_values, max_size=4), max_size=8),
        st.booleans(),
        st.sampled_from(["orjson", "json"]),
    )
    def test_format_list_equals_format_each(
        self, data: list[dict[str, Any]], sort_keys: bool, engine: _json.Engine
    ) -> None:
        """Formatting a list gives one call's result per datum, excluded keys included, with either engine."""
        cog = text.JSONFormat(target=None, sort_keys=sort_keys, engine=engine)
        assert cog.call_batch([dict(d) for d in data]) == [t for d in data for t in cog(dict(d))]

    def test_mappings_in_a_list_become_the_parsed_objects(self) -> None:
        """The operator's usual train (dicts with id and line): each object becomes the datum, its own fields intact."""
        data = [
            {"id": "f:0", "line": '{"a": 1}'},
            {"id": "f:9", "line": "{oops"},
            {"id": "f:15", "line": '{"id": 7, "line": "inner", "n": 12345678901234567890123}'},
            {"id": "f:60", "line": "[1]"},
        ]
        out, records = send_through([text.JSONParse(), text.JSONFormat()], data)
        assert [r.event_id for r in records] == ["f:9", "f:60"]
        assert records[0].datum == {"id": "f:9", "line": "{oops"}
        # The object's own id and line are data: neither the reader's fields nor
        # the formatter replaces or drops them.
        assert out == ['{"a":1}', '{"id":7,"line":"inner","n":12345678901234567890123}']

    def test_keep_carries_reader_fields_and_never_overwrites(self) -> None:
        """keep=["id"] copies the reader's id into the object; an object with its own id is an error."""
        data = [{"id": "f:0", "line": '{"a": 1}'}, {"id": "f:9", "line": '{"id": 5}'}]
        out, records = send_through([text.JSONParse(keep=["id"])], data)
        assert out == [{"a": 1, "id": "f:0"}]
        assert [r.event_id for r in records] == ["f:9"]
        assert "has its own 'id'" in str(records[0].error)

    def test_parse_error_records_name_the_event_the_datum_came_in_as(self) -> None:
        """A datum whose content has an "id" of its own still fails under the reader's id."""
        data = [{"id": "f:0", "line": '{"id": "content-id", "n": "NaN-ish"}'}]

        def refuse(datum: dict[str, Any]) -> tuple[dict[str, Any]]:
            raise ValueError("no")

        _, records = send_through([text.JSONParse(), refuse], data)
        assert records[0].event_id == "f:0" and records[0].datum["id"] == "content-id"

    @given(
        st.lists(
            st.fixed_dictionaries(
                {"id": st.text(max_size=3), "line": st.text(max_size=8)},
                optional={"n": st.integers(), "x": TestJSON.json_values},
            ),
            max_size=8,
        ),
        st.booleans(),
        st.sampled_from(["orjson", "json"]),
    )
    def test_format_into_line_list_equals_format_each(
        self, data: list[dict[str, Any]], sort_keys: bool, engine: _json.Engine
    ) -> None:
        """Writing the text into the excluded field, for a list, equals one call per datum, with either engine."""
        cog = text.JSONFormat(target="line", exclude=["line"], sort_keys=sort_keys, engine=engine)
        by_list = cog.call_batch([dict(d) for d in data])
        one_by_one = [t for d in data for t in cog(dict(d))]
        assert by_list == one_by_one
        assert [json.loads(d["line"]) for d in by_list] == [{k: v for k, v in d.items() if k != "line"} for d in data]

    def test_format_into_line_keeps_the_datum_when_writing_fails(self) -> None:
        """A datum that cannot be written keeps its line for the error output."""
        datum = {"id": "q", "line": "original", "bad": object()}
        cog = text.JSONFormat(target="line", exclude=["line"])
        out, records = send_through([cog], [{"id": "p", "line": "x"}, datum])
        assert out == [{"id": "p", "line": '{"id":"p"}'}]
        assert records[0].datum["line"] == "original"
        assert "cannot write as JSON" in str(records[0].error)

    def test_format_list_with_excluded_keys_and_long_integers(self) -> None:
        """A datum holding the excluded key, or an integer orjson cannot write, is written as one call does."""
        cog = text.JSONFormat(exclude=["line"])
        data = [{"a": 1}, {"line": "raw", "b": 2}, {"n": 2**70}]
        assert cog.call_batch(data) == ['{"a":1}', '{"b":2}', '{"n":1180591620717411303424}']


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, list):
        return [f for item in value for f in _floats(item)]
    if isinstance(value, dict):
        return [f for item in value.values() for f in _floats(item)]
    return []


class TestCSV:
    def test_dialect_and_quoting(self) -> None:
        """Quoted fields with separators inside parse; tab dialect works."""
        (row,) = text.CSVParse(["a", "b", "c"])('1,"x,y",""')
        assert row == {"a": "1", "b": "x,y", "c": ""}
        (row,) = text.CSVParse(["a", "b"], dialect="excel-tab")("p\tq")
        assert row == {"a": "p", "b": "q"}

    def test_a_column_named_twice_is_refused_when_made(self) -> None:
        """fieldnames ["a", "a"]: each record kept the last of the two, silently; refused at start instead."""
        with pytest.raises(ValueError, match="'a' named twice"):
            text.CSVParse(["a", "b", "a"])

    def test_wrong_column_count_is_an_error(self) -> None:
        """A record with the wrong number of columns fails with the counts."""
        _, records = failures(text.CSVParse(["a", "b"]), [{"id": 1, "line": "1,2,3"}])
        assert str(records[0].error) == "expected 2 columns, got 3"

    row_values = st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n\x00")), min_size=1, max_size=5)

    @given(row_values)
    def test_format_then_parse_round_trip(self, values: list[str]) -> None:
        """Any row of text values survives formatting and parsing."""
        names = [f"f{i}" for i in range(len(values))]
        datum = dict(zip(names, values, strict=True))
        (line,) = text.CSVFormat(names)(dict(datum))
        (back,) = text.CSVParse(names)(line)
        assert back == datum
        assert next(csv.reader(io.StringIO(line))) == values

    # Lines built from the characters that make CSV hard: quotes, separators, newlines.
    csv_lines = st.lists(st.text(alphabet='ab,"\n\r ', max_size=10), max_size=10)

    @settings(max_examples=400)
    @given(csv_lines, st.booleans())
    def test_list_equals_line_by_line(self, lines: list[str], as_mappings: bool) -> None:
        """Any lines, as text or in mappings: the same records and the same failures as one call each."""
        data: list[Any] = [{"id": i, "line": line} for i, line in enumerate(lines)] if as_mappings else lines
        names = ["x", "y"]

        def copy_of(items: list[Any]) -> list[Any]:
            return [dict(d) if isinstance(d, dict) else d for d in items]

        expected_out: list[Any] = []
        expected_failed: list[Any] = []
        single = text.CSVParse(names)
        for datum in copy_of(data):
            try:
                expected_out.extend(single(datum))
            except ValueError:
                expected_failed.append(datum)
        out, records = send_through([text.CSVParse(names)], copy_of(data))
        assert out == expected_out
        assert [r.datum for r in records] == expected_failed

    def test_an_open_quote_does_not_swallow_the_next_line(self) -> None:
        """A quote left open in one line fails that line alone; the next line is its own record."""
        out, records = send_through([text.CSVParse(["x", "y"])], ['1,"2', '3",4', "5,6"])
        assert out == [{"x": '3"', "y": "4"}, {"x": "5", "y": "6"}]
        assert [(r.datum, str(r.error)) for r in records] == [('1,"2', "invalid CSV: unexpected end of data")]


class TestRegexAndKeyValue:
    @given(st.lists(st.text(alphabet="ab1 =", max_size=8), max_size=10))
    def test_regex_list_equals_line_by_line(self, lines: list[str]) -> None:
        """A list of lines, some not matching: the same fields and failures as one call each."""
        cog = text.RegexParse(r"(?P<word>[ab]+)=(?P<num>1*)")
        expected_out, expected_failed = [], []
        for line in lines:
            try:
                expected_out.extend(cog(line))
            except ValueError:
                expected_failed.append(line)
        out, records = send_through([cog], list(lines))
        assert out == expected_out
        assert [r.datum for r in records] == expected_failed

    def test_regex_named_groups(self) -> None:
        """Named groups become fields; a line that does not match is an error."""
        cog = text.RegexParse(r"(?P<method>GET|POST) (?P<path>\S+)", source="line")
        (out,) = cog({"line": "GET /index.html"})
        assert out["method"] == "GET" and out["path"] == "/index.html"
        _, records = failures(cog, [{"id": 7, "line": "DELETE /"}])
        assert records[0].event_id == 7 and str(records[0].error) == "line does not match the pattern"

    def test_regex_without_groups_is_refused(self) -> None:
        """A pattern without named groups is a configuration error."""
        with pytest.raises(ValueError, match="no named groups"):
            text.RegexParse(r"\d+")

    def test_key_value_with_quotes(self) -> None:
        """Quoted values may hold spaces; a token without '=' is an error."""
        (out,) = text.KeyValueParse(target="kv")('user=alice msg="two words" empty=')
        assert out == {"kv": {"user": "alice", "msg": "two words", "empty": ""}}
        _, records = failures(text.KeyValueParse(), ["a=1 stray"])
        assert str(records[0].error) == "'stray' is not key=value"


class TestTemplateAndBytes:
    def test_template_fills_fields_and_names_missing_ones(self) -> None:
        """$fields are filled; a missing one is an error naming it."""
        (out,) = text.TemplateFormat("$user from ${ip}")({"user": "bob", "ip": "::1"})
        assert out == "bob from ::1"
        _, records = failures(text.TemplateFormat("$user $host"), [{"user": "x"}])
        assert str(records[0].error) == "missing field 'host' for the template"

    def test_encode_decode(self) -> None:
        """Text to bytes and back in a chosen encoding; bad bytes are an error."""
        assert text.Encode("latin-1")("café") == (b"caf\xe9",)
        assert text.Decode("latin-1")(b"caf\xe9") == ("café",)
        _, records = failures(text.Decode("utf-8"), [b"caf\xe9"])
        assert isinstance(records[0].error, UnicodeDecodeError)
        (out,) = text.Encode(field="body")({"body": "x"})
        assert out == {"body": b"x"}

    def test_a_getter_where_a_field_is_read_and_written_in_place_is_refused_when_built(self) -> None:
        """A callable there would fail every datum; it is said once, naming the parameter."""
        for build in (
            lambda: text.Encode(field=operator.itemgetter("b")),  # type: ignore[arg-type]
            lambda: text.Decode(field=movement.itemsetter("b")),  # type: ignore[arg-type]
            lambda: flow.Split(field=operator.itemgetter("b")),  # type: ignore[arg-type]
            lambda: text.Decode(field=True),
        ):
            with pytest.raises(TypeError, match="field is read and written in place"):
                build()


class TestBytesLines:
    """A line read as bytes (``encoding_errors = "bytes"`` on a supply) is the text itself for every parser, as
    it was for text.json_parse and text.syslog_parse; the others looked a field up in it and raised "byte indices
    must be integers or slices, not str", which named neither the cause nor the cure."""

    @pytest.mark.parametrize(
        ("cog", "line", "parsed"),
        [
            (lambda: text.GrokParse(pattern="%{WORD:w}"), b"hello", {"w": "hello"}),
            (lambda: text.KeyValueParse(), b"a=1", {"a": "1"}),
            (lambda: text.CSVParse(fieldnames=["a", "b"]), b"1,2", {"a": "1", "b": "2"}),
            (lambda: text.RegexParse(pattern="(?P<a>.)"), b"x", {"a": "x"}),
            (lambda: text.KeyValueParse(target="kv"), b"a=1", {"kv": {"a": "1"}}),
        ],
        ids=["grok", "kv", "csv", "regex", "kv-target"],
    )
    def test_utf8_bytes_parse_as_text(self, cog: Any, line: bytes, parsed: dict[str, Any]) -> None:
        assert send_through([cog()], [line, bytearray(line)]) == ([parsed, parsed], [])

    def test_other_bytes_name_the_cure(self) -> None:
        out, (record,) = send_through([text.KeyValueParse()], [b"\xff=1"])
        assert out == []
        assert "the line is not UTF-8 (byte 1); text.decode can read others" in str(record.error)
