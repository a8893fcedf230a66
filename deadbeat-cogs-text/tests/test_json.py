"""JSON parsing and formatting cogs."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from deadbeat import movement, text
from deadbeat.testing import CogConformance, run_train


class TestJSONParseConformance(CogConformance):
    cog_name = "text.json_parse"
    params = {"source": "line"}
    samples = [{"id": "1", "line": '{"a": 1}'}]
    flushes_all = True


class TestJSONFormatConformance(CogConformance):
    cog_name = "text.json_format"
    params = {"target": "line", "sort_keys": True}
    samples = [{"id": "1", "a": [1, 2]}]
    flushes_all = True


class TestJSONParse:
    def test_merges_object_keys(self) -> None:
        """An object's keys join the datum."""
        out = run_train([text.JSONParse()], [{"id": "x", "line": '{"a": 1, "b": [true, null]}'}])
        assert out.data == [{"id": "x", "line": '{"a": 1, "b": [true, null]}', "a": 1, "b": [True, None]}]

    def test_target_takes_any_value(self) -> None:
        """With a target, any JSON value is stored there."""
        out = run_train([text.JSONParse(target="parsed.value")], [{"line": "[1, 2]"}])
        assert out.data[0]["parsed"] == {"value": [1, 2]}

    def test_bad_json_goes_to_the_error_output_with_id_and_reason(self) -> None:
        """Invalid JSON and non-objects are errors naming the event and the position."""
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        after = []
        train = movement.Train(esc, [text.JSONParse(), after.append], error_output=records.append)
        train.send(None, [{"id": "a", "line": "{oops"}, {"id": "b", "line": "[1]"}, {"id": "c", "line": "{}"}])
        esc.close()
        assert [(r.event_id, str(r.error)) for r in records] == [
            ("a", "invalid JSON at column 2: Expecting property name enclosed in double quotes"),
            ("b", "expected a JSON object, got list"),
        ]
        assert records[0].datum == {"id": "a", "line": "{oops"}
        assert len(after) == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


class TestRoundTrip:
    @given(st.dictionaries(st.text().filter(lambda k: k != "line"), json_values, max_size=6))
    def test_format_then_parse_gives_the_datum_back(self, datum: dict[str, Any]) -> None:
        """Formatting a datum and parsing the line restores every field."""
        fmt = text.JSONFormat()
        parse = text.JSONParse(target="back")
        (formatted,) = fmt(dict(datum))
        (parsed,) = parse(formatted)
        assert parsed["back"] == datum
        assert json.loads(formatted["line"]) == datum
