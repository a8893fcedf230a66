"""Hostile lines: each attack performed for real, and nothing hangs, explodes, leaks or is lost.

* JSON nested a thousand deep, with both engines: an error for that line alone,
  never a ``RecursionError`` further down; writing such a datum fails alone too.
* Patterns from users (``text.regex_parse``, ``matches()``) on RE2: the classic
  catastrophic pattern on a hostile line finishes (in a subprocess with a
  generous timeout, the guard that it does not hang), and each line is matched
  once.
* Amplification: splits, aggregates, filter arithmetic and the keys of dedupe
  and throttle are bounded, each refusal an error for its datum, nothing cut short.
* The raw line does not travel past a parser, so an error record after an
  anonymiser holds no original address.
* Long lines: ``text.kv_parse`` splits words in linear time (a megabyte line
  of ``a=a=a=...`` took 24 s through ``shlex``), giving what ``shlex.split``
  gives on short text.
"""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat import flow, movement, text
from deadbeat.flow import _rate
from deadbeat.testing import Collector, send_through
from deadbeat.text import _json, _parsers, _regex

DEEP = "[" * 1000 + "]" * 1000  # 2 KB
DEEPER = "[" * 100_000 + "]" * 100_000  # past orjson's own limit of 1024 levels


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def errors_of(records: list[movement.ErrorRecord]) -> list[tuple[Any, type, str]]:
    return [(r.event_id, type(r.error), str(r.error)) for r in records]


class TestJSONNesting:
    @pytest.mark.parametrize("engine", ["orjson", "json"])
    @pytest.mark.parametrize("shape", ["str", "bytes", "mapping"])
    def test_deep_lines_fail_alone(self, engine: _json.Engine, shape: str) -> None:
        """Lines a thousand and a hundred thousand deep go to the error output; their neighbours go on."""
        lines = ['{"a": 1}', DEEP, '{"b": [[2]]}', DEEPER, "[]"]
        data: list[Any]
        if shape == "str":
            data = list(lines)
        elif shape == "bytes":
            data = [line.encode() for line in lines]
        else:
            data = [{"id": f"f:{i}", "line": line} for i, line in enumerate(lines)]
        out, records = send_through([text.JSONParse(engine=engine), text.JSONFormat()], data)
        expected = ['{"a":1}', '{"b":[[2]]}', "[]"] if shape != "mapping" else ['{"a":1}', '{"b":[[2]]}']
        assert out == expected
        deep = [r for r in records if "nested" in str(r.error)]
        assert len(deep) == 2 and all(type(r.error) is ValueError for r in deep)
        assert "more than max_depth 64" in str(deep[0].error) and "more than max_depth 64" in str(deep[1].error)
        if engine == "orjson":
            # orjson parses a thousand levels without recursing: the depth is named.
            assert str(deep[0].error) == "JSON nested 1000 deep, more than max_depth 64"
        if shape == "mapping":
            assert [r.event_id for r in deep] == ["f:1", "f:3"]
            assert records[-1].event_id == "f:4" and str(records[-1].error) == "expected a JSON object, got list"

    @pytest.mark.parametrize("engine", ["orjson", "json"])
    def test_max_depth_is_the_boundary(self, engine: _json.Engine) -> None:
        """64 levels parse, 65 do not, with the default; the parameter moves the boundary, per datum and per list."""
        cog = text.JSONParse(engine=engine)
        at_limit, past = json.dumps(nested(64)), json.dumps(nested(65))
        assert cog(at_limit) == (nested(64),)
        with pytest.raises(ValueError, match="^JSON nested 65 deep, more than max_depth 64$"):
            cog(past)
        assert cog.call_batch([at_limit, '{"a": 1}']) == [nested(64), {"a": 1}]
        # A list names the datum it fails on, with what came before, for the train to go on with the rest.
        with pytest.raises(movement.PartialBatch) as failed:
            cog.call_batch([at_limit, past])
        assert (failed.value.done, failed.value.index) == ([nested(64)], 1)
        assert str(failed.value.error) == "JSON nested 65 deep, more than max_depth 64"
        shallow = text.JSONParse(engine=engine, max_depth=2)
        assert shallow('{"a": [1]}') == ({"a": [1]},)
        _, records = send_through([shallow], ['{"a": [1]}', '{"a": [[1]]}', "[[[1]]]"])
        assert [str(r.error) for r in records] == [
            "JSON nested 3 deep, more than max_depth 2",
            "JSON nested 3 deep, more than max_depth 2",
        ]
        with pytest.raises(ValueError, match="nested 1000 deep|too deep to parse"):
            text.loads(DEEP, engine=engine)
        assert text.loads("[[1]]", engine=engine, max_depth=2) == [[1]]

    @pytest.mark.parametrize("bad", [0, -1, 501, True, 1.5, "64"])
    def test_max_depth_must_be_sane(self, bad: Any) -> None:
        """max_depth is a whole number from 1 to 500 (deeper would bring later cogs near Python's recursion limit)."""
        with pytest.raises(ValueError, match="max_depth must be a whole number from 1 to 500"):
            text.JSONParse(max_depth=bad)

    def test_nothing_further_down_meets_the_depth(self) -> None:
        """The deepest value let through (64) passes cogs that copy and write it, and the error output."""

        def fail(datum: Any) -> Any:
            raise ValueError("later failure")

        deepest = json.dumps({"v": nested(63)})
        cogs = [text.JSONParse(), flow.SetFields({"copy": [nested(10)]}), text.JSONFormat(target="line"), fail]
        out, records = send_through(cogs, [{"id": "a", "line": deepest}, {"id": "b", "line": DEEP}])
        assert out == []
        # Errors come stage by stage: the parser's first.
        assert [str(r.error) for r in records] == ["JSON nested 1000 deep, more than max_depth 64", "later failure"]
        assert records[0].event_id == "b" and records[0].datum == {"id": "b", "line": DEEP}
        assert json.loads(records[1].datum["line"])["v"] == nested(63)
        assert json.loads(records[1].as_dict()["datum"]["line"])["v"] == nested(63)

    json_values = st.recursive(
        st.none() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=4),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=2), children, max_size=3),
        max_leaves=30,
    )

    @settings(max_examples=300)
    @given(st.lists(json_values, max_size=10), st.integers(1, 6), st.sampled_from(["orjson", "json"]), st.booleans())
    def test_list_equals_each_whatever_the_nesting(
        self, values: list[Any], max_depth: int, engine: _json.Engine, as_mappings: bool
    ) -> None:
        """Lines of any nesting (brackets in strings too): a list gives the values and failures of one call each."""
        data: list[Any] = [json.dumps(v) for v in values]
        if as_mappings:
            data = [{"id": i, "line": line} for i, line in enumerate(data)]
        cog = text.JSONParse(engine=engine, max_depth=max_depth)
        expected_out: list[Any] = []
        expected_failed: list[Any] = []
        for datum in copy.deepcopy(data):
            try:
                expected_out.extend(cog(datum))
            except ValueError as exc:
                expected_failed.append((datum, str(exc)))
        out, records = send_through([cog], copy.deepcopy(data))
        assert out == expected_out
        assert [(r.datum, str(r.error)) for r in records] == expected_failed
        assert all(_json._depth(v) <= max_depth for v in out)

    @pytest.mark.parametrize("engine", ["orjson", "json"])
    def test_writing_a_deep_datum_fails_alone(self, engine: _json.Engine) -> None:
        """A datum nested far deeper than any parse gives fails to write, alone; the excluded line is kept."""
        deep = nested(5000)
        out, records = send_through([text.JSONFormat(engine=engine)], [{"a": 1}, {"d": deep}, {"b": 2}])
        assert out == ['{"a":1}', '{"b":2}']
        assert errors_of(records)[0][1] is ValueError and str(records[0].error).startswith("cannot write as JSON")
        cog = text.JSONFormat(target="line", exclude=["line"], engine=engine)
        out, records = send_through([cog], [{"line": "x", "a": 1}, {"line": "raw", "d": deep}])
        assert out == [{"a": 1, "line": '{"a":1}'}]
        assert records[0].datum["line"] == "raw" and type(records[0].error) is ValueError


#: Runs the catastrophic pattern on hostile lines; printed: outputs and errors of each cog.
HOSTILE_SCRIPT = textwrap.dedent(
    """
    from deadbeat import flow, text
    from deadbeat.testing import send_through

    hostile = ["a" * 28 + "!", "a" * 10_000 + "!", "a" * 10_000]
    parse = text.RegexParse(r"^(?P<run>a+)+$")
    found = text.RegexParse(r"(?P<run>(a+)+)b", search=True)
    keep = flow.Filter("matches(line, '^(a+)+$')")
    assert parse._regex.engine == found._regex.engine == "guarded"
    for cog, data in ((parse, hostile), (found, hostile), (keep, [{"line": line} for line in hostile])):
        out, records = send_through([cog], list(data))
        print(len(out), len(records))
    """
)


class TestDeepExpressions:
    @pytest.mark.parametrize(
        "expression",
        ["x + " * 3000 + "x > 0", "not " * 100_000 + "x", "x + " * 120 + "x > 0", "(" * 300 + "x" + ")" * 300],
    )
    def test_a_deeply_nested_filter_is_refused_with_an_expression_error(self, expression: str) -> None:
        """Not a RecursionError or an empty MemoryError when built, nor a RecursionError per datum later."""
        with pytest.raises(flow.ExpressionError, match=r"nested too deeply|levels deep, more than 100|nested paren"):
            flow.Filter(expression)

    def test_a_long_chain_of_and_is_one_level(self) -> None:
        """A flat chain is as deep as one term, however long: still taken."""
        cog = flow.Filter(" and ".join(f"x != {n}" for n in range(5000)))
        assert cog({"x": -1}) == ({"x": -1},) and not cog({"x": 7})


class TestLoneSurrogates:
    @pytest.mark.parametrize("engine", ["json", "orjson"])
    def test_a_lone_surrogate_escape_fails_at_the_parser_with_its_line(self, engine: str) -> None:
        """``{"a":"\\ud800"}``: the standard library made a string no UTF-8 output can write; the line went
        on and failed at fs.write, far from its parser, as formatted text. Refused by the parser, as orjson
        refuses it; a pair (an emoji) is text and passes. In a train (the whole list at once) and alone."""
        lines = ['{"a":"\\ud800"}', '{"a":"\\ud83d\\ude00"}', '{"\\udc00":1}', '{"b":1}']
        cog = text.JSONParse(engine=engine)
        out, records = send_through([cog], lines)
        assert out == [{"a": "\U0001f600"}, {"b": 1}]
        assert [r.datum for r in records] == [lines[0], lines[2]]
        assert all("lone surrogate" in str(r.error) for r in records)
        for line in (lines[0], lines[2]):
            with pytest.raises(ValueError, match="lone surrogate"):
                cog(line)

    def test_the_whole_list_path_hands_the_bad_one_back(self) -> None:
        cog = text.JSONParse(engine="json")
        lines = ['{"a":"x"}', '{"a":"\\udbff"}', '{"c":[1,"\\ud800\\udc00"]}']
        with pytest.raises(movement.PartialBatch):
            cog.call_batch(lines)
        assert cog.call_batch([lines[0], lines[2]]) == [{"a": "x"}, {"c": [1, "\U00010000"]}]


class TestUserPatterns:
    def test_catastrophic_pattern_on_hostile_lines_does_not_hang(self) -> None:
        """^(a+)+$ on 28 and 10,000 "a" and a "!": every line is answered (Python's re would take ages)."""
        result = subprocess.run(
            [sys.executable, "-c", HOSTILE_SCRIPT], capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split("\n")[:3] == ["1 2", "0 3", "1 0"]

    def test_the_engine_is_guarded(self) -> None:
        """By default the pattern is compiled by RE2 too; a 10,000-character hostile line is matched and refused."""
        cog = text.RegexParse(r"^(?P<run>a+)+$")
        assert cog.engine == "guarded" and cog._regex.engine == "guarded"
        assert type(cog._regex.compiled).__module__.split(".")[0] == "re2"
        assert cog("a" * 10_000) == ({"run": "a" * 10_000},)
        with pytest.raises(ValueError, match="does not match"):
            cog("a" * 10_000 + "!")
        assert text.RegexParse(r"^(?P<run>a+)+$", engine="re2")._regex.engine == "re2"
        assert flow.Filter("matches(s, 'é+x')").regex_engine == "re2"
        assert flow.Filter("matches(s, 'é+x')")({"s": "aéé" + "x"}) == ({"s": "aééx"},)

    def test_without_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without google-re2 a user pattern is refused, saying how to get it or to choose "re" knowingly."""
        monkeypatch.setattr(_regex, "re2", None)
        with pytest.raises(
            ValueError, match=r"google-re2 is not installed \(pip install 'deadbeat-cogs-text\[re2\]'\)"
        ):
            text.RegexParse(r"(?P<a>\w+)")
        with pytest.raises(ValueError, match="engine 'guarded': google-re2 is not installed"):
            text.GrokParse("%{INT:a}")
        with pytest.raises(flow.ExpressionError, match="regex_engine 're2': google-re2 is not installed .*knowingly"):
            flow.Filter("matches(a, 'x')")
        assert text.RegexParse(r"(?P<a>\w+)", engine="re")("abc") == ({"a": "abc"},)
        assert flow.Filter("matches(a, 'x')", regex_engine="re")({"a": "x"}) == ({"a": "x"},)
        assert flow.Filter("a > 1")({"a": 2}) == ({"a": 2},)  # no pattern, no RE2 needed

    def test_what_re2_cannot_do_needs_re_knowingly(self) -> None:
        """Backreferences and lookaround are refused by RE2, naming the reason; engine "re" has them."""
        with pytest.raises(ValueError, match=r"for RE2: invalid escape sequence: \\1 .*engine 're' has them"):
            text.RegexParse(r"(?P<a>a)\1")
        assert text.RegexParse(r"(?P<a>a)\1", engine="re")("aa") == ({"a": "a"},)
        with pytest.raises(flow.ExpressionError, match="for RE2: invalid perl operator"):
            flow.Filter("matches(a, 'x(?=y)')")
        assert flow.Filter("matches(a, 'x(?=y)')", regex_engine="re")({"a": "xy"}) == ({"a": "xy"},)
        with pytest.raises(ValueError, match="engine must be one of 'guarded', 're2', 're', not 'pcre'"):
            text.RegexParse(r"(?P<a>a)", engine="pcre")  # type: ignore[arg-type]

    @settings(max_examples=300)
    @given(st.text(alphabet="ab1 =é\n", max_size=12), st.booleans())
    def test_both_engines_give_the_same_groups(self, line: str, search: bool) -> None:
        """Named groups, unmatched ones (None), non-ASCII text: RE2 gives what Python's re gives."""
        pattern = r"(?P<word>[abé]+)=(?P<num>1*)(?P<opt>x)?(?P<tail>é*)"

        def outcome(engine: _regex.RegexEngine) -> Any:
            try:
                return text.RegexParse(pattern, search=search, engine=engine)(line)
            except ValueError as exc:
                return str(exc)

        assert outcome("re2") == outcome("re")

    def test_each_line_is_matched_once(self) -> None:
        """In a list with lines that fail, mixed shapes, keep or a target, no line is matched twice."""
        for params in ({}, {"keep": ["id"]}, {"target": "f"}):
            cog = text.RegexParse(r"(?P<w>[ab]+)=(?P<n>1*)", **params)
            matched: list[str] = []
            match, match_all = cog._fields, cog._regex.fields_all

            def counting(line: str, match: Any = match, matched: list[str] = matched) -> Any:
                matched.append(line)
                return match(line)

            def counting_all(lines: list[str], match_all: Any = match_all, matched: list[str] = matched) -> Any:
                matched.extend(lines)
                return match_all(lines)

            cog._fields = counting
            cog._regex.fields_all = counting_all
            lists: list[list[Any]] = [
                ["a=1", "x", "b=", "y"],
                [{"id": 1, "line": "a=1"}, {"id": 2, "line": "nope"}, {"id": 3, "line": "b=11"}],
                ["a=1", {"id": 2, "line": "b="}, "zz", {"id": 4}],
                ["a=1", "b=1"],
            ]
            for data in lists:
                matched.clear()
                out, records = send_through([cog], data)
                texts = [d if isinstance(d, str) else d.get("line") for d in data]
                assert sorted(matched) == sorted(t for t in texts if t is not None), (params, data)
                assert len(out) + len(records) == len(data)

    @settings(max_examples=200)
    @given(
        st.lists(
            st.one_of(
                st.text(alphabet="ab1 =", max_size=6),
                st.fixed_dictionaries({"id": st.integers(0, 9), "line": st.text(alphabet="ab1 =", max_size=6)}),
                st.fixed_dictionaries({"id": st.integers(0, 9)}),
            ),
            max_size=8,
        ),
        st.sampled_from([{}, {"keep": ["id"]}, {"target": "f"}, {"search": True}]),
    )
    def test_list_equals_each(self, data: list[Any], params: dict[str, Any]) -> None:
        """Any mix of lines and mappings: a list gives the fields and failures of one call per datum."""
        cog = text.RegexParse(r"(?P<w>[ab]+)=(?P<n>1*)", **params)
        expected_out: list[Any] = []
        expected_failed: list[Any] = []
        for datum in copy.deepcopy(data):
            try:
                expected_out.extend(cog(datum))
            except Exception as exc:  # noqa: BLE001 - any failure of a call
                expected_failed.append((datum, str(exc)))
        out, records = send_through([cog], copy.deepcopy(data))
        assert out == expected_out
        assert [(r.datum, str(r.error)) for r in records] == expected_failed


MIB = 1 << 20
#: Hostile key=value lines of a megabyte or more, and what each gives: the
#: fields, or the error for that line alone.
KV_LINES: dict[str, tuple[Callable[[], str], Any]] = {
    "a=a=a=...": (lambda: "a=" * (MIB // 2), {"a": "a=" * (MIB // 2 - 1)}),
    "long unquoted token": (lambda: "a=" + "x" * (2 * MIB), {"a": "x" * (2 * MIB)}),
    "many quotes": (lambda: "a=" + "''" * (MIB // 2) + '""' * (MIB // 2), {"a": ""}),
    "quoted pieces": (lambda: "a=" + "x'y'\"z\"\\ " * (MIB // 8), {"a": "xyz " * (MIB // 8)}),
    "unterminated quote": (lambda: 'a="' + "x" * (4 * MIB), "invalid key=value text: No closing quotation"),
    "unterminated single quote": (lambda: "a='" + '"' * MIB, "invalid key=value text: No closing quotation"),
    "backslashes": (lambda: "a=" + "\\" * MIB, {"a": "\\" * (MIB // 2)}),
    "escapes": (lambda: "a=" + "\\x" * (MIB // 2), {"a": "x" * (MIB // 2)}),
    "escapes in double quotes": (lambda: 'a="' + '\\"\\x' * (MIB // 4) + '"', {"a": '"\\x' * (MIB // 4)}),
    "a backslash at the end": (lambda: "a=" + "\\" * (MIB + 1), "invalid key=value text: No escaped character"),
    "many pairs": (lambda: "k=v " * (MIB // 4), {"k": "v"}),
    "many quoted pairs": (lambda: "a='b' " * (MIB // 6) + 'c="d"', {"a": "b", "c": "d"}),
    "many empty words": (lambda: "'' " * (MIB // 3), "'' is not key=value"),
    "no separator": (lambda: "=" * MIB, f"{'=' * 40!r}... is not key=value"),
    "white space": (lambda: " \t" * MIB, {}),
}


def kv_words(line: str) -> Any:
    """What shlex.split makes of ``line``: its words, or its error message."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        return str(exc)


class TestLongLines:
    @settings(max_examples=1000)
    @given(
        st.text(alphabet=" \t\r\n'\"\\=ab#é\x0b\x00", max_size=24)
        | st.lists(st.sampled_from([" ", "\t", "'", '"', "\\", "a=b", "x" * 300, " y" * 150, "é"]), max_size=12).map(
            "".join
        )
    )
    def test_words_are_shlex_words(self, line: str) -> None:
        """On short text (where shlex is fast) the linear tokenizer gives shlex.split's words, or its error.

        Short characters of every kind, and fragments long enough that runs of
        plain words are split many at a time.
        """
        try:
            words: Any = _parsers.split_words(line)
        except ValueError as exc:
            words = str(exc)
        assert words == kv_words(line)

    @settings(max_examples=500)
    @given(st.lists(st.text(alphabet=" '\"\\=ab", max_size=6), max_size=4).map(" ".join))
    def test_pairs_are_the_shlex_pairs(self, line: str) -> None:
        """text.kv_parse gives what splitting with shlex and then at the first "=" gives, or fails where that fails."""
        words = kv_words(line)
        try:
            (fields,) = text.KeyValueParse(repeated="last")(line)
        except ValueError as exc:
            assert isinstance(words, str) or any(not word.partition("=")[0] or "=" not in word for word in words)
            assert str(exc).startswith("invalid key=value text: ") == isinstance(words, str)
            return
        assert not isinstance(words, str)
        assert fields == {key: value for key, _, value in (word.partition("=") for word in words)}

    @pytest.mark.parametrize("shape", KV_LINES)
    def test_a_hostile_line_costs_linear_time(self, shape: str) -> None:
        """A 1-4 MB hostile line gives its fields or an error for that line alone, in far less than 5 s of CPU.

        A gross complexity check, not a speed test (the project keeps no timed
        assertions otherwise; the bound is many times what a line takes, even
        on a loaded machine): through shlex, quadratic in a word's length, one
        megabyte line took 24 s and these would take minutes each; linear, each
        takes well under a second.
        """
        make, expected = KV_LINES[shape]
        line = make()
        started = time.process_time()
        out, records = send_through([text.KeyValueParse(repeated="last")], [line, "after=1"])
        spent = time.process_time() - started
        assert spent < 5, f"{shape}: {spent:.1f} s of CPU for a line of {len(line)} characters"
        if isinstance(expected, dict):
            assert out == [expected, {"after": "1"}] and records == []
        else:
            assert out == [{"after": "1"}]
            assert [str(r.error) for r in records] == [expected]


def split_bomb() -> str:
    """One line of about 40 KB: 3,000 fields and a list of 3,000 items."""
    fields = {f"f{i}": 0 for i in range(3000)}
    return json.dumps({"id": "bomb", **fields, "items": list(range(3000))}, separators=(",", ":"))


class TestAmplification:
    def test_split_bomb_is_refused_whole(self) -> None:
        """3,000 items × 3,000 fields from one line is an error for that datum; the datum is kept whole."""
        line = split_bomb()
        assert len(line) < 50_000
        cogs = [text.JSONParse(), flow.Split("items")]
        out, records = send_through(cogs, [{"id": "a", "line": '{"items": [1, 2], "x": 1}'}, {"id": "b", "line": line}])
        assert out == [{"items": 1, "x": 1}, {"items": 2, "x": 1}]
        ((event_id, kind, message),) = errors_of(records)
        assert event_id == "b" and kind is ValueError
        assert message.startswith("field 'items': 3000 items, each with a copy of more than")
        assert message.endswith("bytes of the other fields: more than max_bytes 16777216 in all")
        assert len(records[0].datum["items"]) == 3000 and len(records[0].datum) == 3002

    def test_split_bounds(self) -> None:
        """More than max_items items, or a big field copied per item, is refused; up to the bounds it splits."""
        cog = flow.Split("items", max_items=100, max_bytes=10_000)
        assert len(cog({"items": list(range(100)), "x": "y" * 50})) == 100
        with pytest.raises(ValueError, match="^field 'items': 101 items, more than max_items 100$"):
            cog({"items": list(range(101))})
        # The items themselves are shared out, not copied: a large list splits.
        assert len(cog({"items": ["z" * 1000] * 100})) == 100
        with pytest.raises(ValueError, match="each with a copy of more than 100 bytes"):
            cog({"items": list(range(100)), "big": "x" * 1000})
        with pytest.raises(ValueError, match="max_items must be a whole number"):
            flow.Split("items", max_items=0)

    def aggregate(self, data: list[Any], **params: Any) -> tuple[list[Any], list[movement.ErrorRecord]]:
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        try:
            train = movement.Train(esc, error_output=records.append)
            collector = Collector()
            train.cogs = [flow.Aggregate(train, ["k"], window=60, **params), collector]
            train.send(None, data)
            esc.shutdown()
            esc.run()
            assert train.in_flight == 0
        finally:
            esc.close()
        return collector.data, records

    def test_aggregate_takes_numbers_only(self) -> None:
        """sum over texts would concatenate: texts, booleans and lists are errors for their datum; the sums stand."""
        data = [
            {"k": 1, "v": 5},
            {"k": 1, "v": "x" * 1_000_000},
            {"k": 1, "v": 2.5},
            {"k": 1, "v": True},
            {"k": 2, "v": "only text"},
            {"k": 1},
        ]
        out, records = self.aggregate(data, aggregates={"n": "count", "total": "sum:v", "low": "min:v"})
        assert [(d["k"], d["n"], d["total"], d["low"]) for d in out] == [(1, 3, 7.5, 2.5)]
        assert [str(r.error) for r in records] == [
            "aggregate 'total' (sum): expected a number, got str",
            "aggregate 'total' (sum): expected a number, got bool",
            "aggregate 'total' (sum): expected a number, got str",
        ]
        _, records = self.aggregate([{"k": 1, "v": "b"}], aggregates={"top": "max:v"})
        assert [str(r.error) for r in records] == ["aggregate 'top' (max): expected a number, got str"]

    def test_aggregate_lists_are_bounded_in_bytes_and_lose_nothing(self) -> None:
        """Lists of big values go out early at max_bytes; every value comes out once; one too big is an error."""
        values = [f"{i:04d}" + "v" * 996 for i in range(50)]
        data = [{"k": 1, "v": v} for v in values] + [{"k": 1, "v": "w" * 20_000}]
        out, records = self.aggregate(data, aggregates={"n": "count", "vs": "list:v"}, max_bytes=10_000)
        assert all(len(d["vs"]) <= 10 for d in out)
        assert [v for d in out for v in d["vs"]] == values and sum(d["n"] for d in out) == 50
        assert [str(r.error) for r in records] == [
            "aggregate 'vs' (list): values larger than max_bytes 10000 in one datum"
        ]

    def test_aggregate_groups_are_bounded_and_lose_nothing(self) -> None:
        """A new key per datum: at most max_groups open, the oldest going out first; every datum counted once."""
        data = [{"k": i % 7, "v": i} for i in range(100)]
        out, records = self.aggregate(data, aggregates={"n": "count", "total": "sum:v"}, max_groups=3)
        assert not records
        assert sum(d["n"] for d in out) == 100 and sum(d["total"] for d in out) == sum(range(100))
        # With 7 keys cycling through 3 places, every datum after the third opens a group.
        assert [d["k"] for d in out[:5]] == [0, 1, 2, 3, 4]
        with pytest.raises(ValueError, match="max_groups"):
            self.aggregate([], aggregates={"n": "count"}, max_groups=0)

    def test_filter_arithmetic_on_numbers_only(self) -> None:
        """n * 1000 on a 1 MiB text is an error for that datum, not a gigabyte; numbers still compute."""
        big = "x" * 2**20
        data = [{"id": 1, "n": big}, {"id": 2, "n": 3}, {"id": 3, "n": 0.5}, {"id": 4}, {"id": 5, "n": True}]
        out, records = send_through([flow.Filter("n * 1000 > 1")], data)
        assert [d["id"] for d in out] == [2, 3]
        assert [(r.event_id, str(r.error)) for r in records] == [
            (1, "filter: * is for numbers, not str * int"),
            (4, "filter: * is for numbers, not NoneType * int"),
            (5, "filter: * is for numbers, not bool * int"),
        ]
        for expression, datum, message in [
            ("s + s == ''", {"s": "ab"}, "filter: \\+ is for numbers, not str \\+ str"),
            ("-s < 0", {"s": "ab"}, "filter: - is for numbers, not str"),
            ("n / 0 > 1", {"n": 1}, "division by zero"),
            ("n * n * n > 0", {"n": 2**400}, "integer beyond 1024 bits"),
            ("big * 10 == big * 100", {"big": 1e308}, "gives inf, beyond a number's range"),
            ("big + big > 0", {"big": 1.5e308}, "gives inf"),
            ("n * 1e308 > 0", {"n": -10}, "gives -inf"),
        ]:
            with pytest.raises(ValueError, match=message):
                flow.Filter(expression)(datum)
        assert flow.Filter("n * n > 0")({"n": 2**400}) == ({"n": 2**400},)


class TestKeys:
    @pytest.fixture
    def clock(self, monkeypatch: pytest.MonkeyPatch) -> list[float]:
        now = [1000.0]
        monkeypatch.setattr(_rate, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
        return now

    def test_flooding_new_keys_does_not_reset_a_throttled_key(self, clock: list[float]) -> None:
        """A key over its limit stays limited while 10,000 spoofed keys pass by; they are what gives way."""
        cog = flow.Throttle(["src"], rate=1.0, burst=2, max_keys=100)
        assert [cog({"src": "attacker"}) is not None for _ in range(3)] == [True, True, False]
        flood = [cog({"src": f"spoof-{i}"}) is not None for i in range(10_000)]
        assert sum(flood) == 99 and cog.overflow == 10_000 - 99
        assert cog({"src": "attacker"}) is None
        assert len(cog._buckets) == 100
        # Once buckets have filled up again, they make room for new keys.
        clock[0] += 2.0
        assert cog({"src": "newcomer"}) is not None
        assert cog({"src": "attacker"}) is not None

    def test_flooding_new_keys_does_not_let_a_repeat_through(self, clock: list[float]) -> None:
        """A key within its window stays remembered while new keys flood; they pass unremembered, nothing lost."""
        cog = flow.Dedupe(["k"], window=60, max_keys=10)
        assert cog({"k": "x"}) is not None
        assert all(cog({"k": i}) is not None for i in range(1000))
        assert cog({"k": "x"}) is None
        assert cog.overflow == 1000 - 9 and len(cog._seen) == 10
        clock[0] += 61
        assert cog({"k": "x"}) is not None and cog({"k": "x"}) is None
        assert len(cog._seen) == 1

    @pytest.mark.parametrize("make", [lambda: flow.Dedupe(["k", "n"]), lambda: flow.Throttle(["k", "n"], burst=1)])
    def test_big_keys_are_kept_as_digests(self, make: Any, clock: list[float]) -> None:
        """Keys of a megabyte each are remembered in 16 bytes, and still told apart and recognised."""
        cog = make()
        big = ["x" * 2**20 + str(i) for i in range(20)]
        assert all(cog({"k": value, "n": 1}) is not None for value in big)
        assert all(cog({"k": value, "n": 1}) is None for value in big)
        assert cog({"k": big[0], "n": 2}) is not None
        stored = cog._seen if isinstance(cog, flow.Dedupe) else cog._buckets
        assert all(type(key) is bytes and len(key) == 16 for key in stored)
        assert cog({"k": "small", "n": 1}) is not None and ("small", ("int", 1)) in stored


class TestNoRawLineAfterParsing:
    """The parsers replace a reader's datum: an error record further down holds no raw line."""

    @pytest.mark.parametrize(
        ("parser", "line"),
        [
            (text.JSONParse(keep=["id"]), '{"src": "192.0.2.7", "user": "bob"}'),
            (text.CSVParse(["src", "user"], keep=["id"]), "192.0.2.7,bob"),
            (text.RegexParse(r"(?P<src>\S+) (?P<user>\S+)", keep=["id"]), "192.0.2.7 bob"),
            (text.KeyValueParse(keep=["id"]), "src=192.0.2.7 user=bob"),
        ],
    )
    def test_a_later_failure_does_not_leak_the_original_address(self, parser: Any, line: str) -> None:
        """Parse, anonymise the address, fail later: the error record has the anonymised datum only."""

        def anonymise(datum: dict[str, Any]) -> tuple[dict[str, Any]]:
            datum["src"] = "198.51.100.0"
            return (datum,)

        def fail(datum: Any) -> Any:
            raise ValueError("later failure")

        data = [{"id": "f:0", "line": line}, {"id": "f:1", "line": line}]
        _, records = send_through([parser, anonymise, fail], data)
        assert [r.event_id for r in records] == ["f:0", "f:1"]
        for record in records:
            assert record.datum == {"src": "198.51.100.0", "user": "bob", "id": record.event_id}
            assert "192.0.2.7" not in json.dumps(record.as_dict())

    def test_text_data_as_before_and_target_keeps_the_datum(self) -> None:
        """A text datum becomes its fields; a target keeps the whole datum, line included."""
        for parser, line in [
            (text.CSVParse(["a", "b"]), "1,2"),
            (text.RegexParse(r"(?P<a>\d),(?P<b>\d)"), "1,2"),
            (text.KeyValueParse(separator=":"), "a:1 b:2"),
        ]:
            assert parser(line) == ({"a": "1", "b": "2"},)
            assert parser({"id": 1, "line": line, "x": 0}) == ({"a": "1", "b": "2"},)
        (out,) = text.CSVParse(["a", "b"], target="f")({"id": 1, "line": "1,2"})
        assert out == {"id": 1, "line": "1,2", "f": {"a": "1", "b": "2"}}

    def test_keep_never_overwrites(self) -> None:
        """keep naming a column or group is refused when built; a key=value line with that key fails alone."""
        with pytest.raises(ValueError, match="keep: 'id' is also a column"):
            text.CSVParse(["id", "b"], keep=["id"])
        with pytest.raises(ValueError, match="keep: 'id' is also a group of the pattern"):
            text.RegexParse(r"(?P<id>\d+)", keep=["id"])
        with pytest.raises(TypeError, match="keep must be a list"):
            text.KeyValueParse(keep="id")
        out, records = send_through(
            [text.KeyValueParse(keep=["id"])], [{"id": "f:0", "line": "a=1"}, {"id": "f:1", "line": "id=7 a=2"}]
        )
        assert out == [{"a": "1", "id": "f:0"}]
        assert [(r.event_id, str(r.error)) for r in records] == [
            ("f:1", "the parsed fields have their own 'id'; keep would overwrite it")
        ]
        assert records[0].datum == {"id": "f:1", "line": "id=7 a=2"}

    @settings(max_examples=200)
    @given(
        st.lists(
            st.fixed_dictionaries(
                {"id": st.integers(0, 9), "line": st.text(alphabet='ab,"\n', max_size=6)}, optional={"x": st.none()}
            ),
            max_size=8,
        )
    )
    def test_csv_list_with_keep_equals_each(self, data: list[dict[str, Any]]) -> None:
        """Mappings replaced by their fields, with the kept ones: a list gives what one call per datum gives."""
        cog = text.CSVParse(["a", "b"], keep=["id", "x"])
        expected_out: list[Any] = []
        expected_failed: list[Any] = []
        for datum in copy.deepcopy(data):
            try:
                expected_out.extend(cog(datum))
            except ValueError as exc:
                expected_failed.append((datum, str(exc)))
        out, records = send_through([cog], copy.deepcopy(data))
        assert out == expected_out
        assert [(r.datum, str(r.error)) for r in records] == expected_failed
