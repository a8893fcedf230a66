"""The filter language: ``and``/``or`` give an operand's value, startswith/endswith never raise, ``u"..."`` texts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from deadbeat.flow import compile_expression


def run(tmp_path: Path, lines: list[dict[str, Any]], middle: str) -> tuple[list[Any], list[Any], str]:
    """``deadbeat run --once`` over ``lines`` with ``middle`` between parsing and the output: (out, errors, log)."""
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (tmp_path / "p.toml").write_text(
        textwrap.dedent(
            """\
            [[cog]]
            use = "fs.read"
            filenames = ["in.jsonl"]
            [[cog]]
            use = "text.json_parse"
            """
        )
        + textwrap.dedent(middle)
        + textwrap.dedent(
            """\
            [[errors]]
            use = "text.json_format"
            [[errors]]
            use = "fs.write"
            filename = "err.jsonl"
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", "--once", "p.toml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr

    def read(name: str) -> list[Any]:
        path = tmp_path / name
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    return read("out.jsonl"), read("err.jsonl"), result.stderr


FILTER_TO_OUT = """\
    [[cog]]
    use = "flow.filter"
    expression = '{expression}'
    [[cog]]
    use = "text.json_format"
    [[cog]]
    use = "fs.write"
    filename = "out.jsonl"
    """


class TestAndOr:
    @pytest.mark.parametrize(
        ("expression", "datum", "value"),
        [
            ("port or alt", {"port": 5000, "alt": 8080}, 5000),
            ("port or alt", {"port": None, "alt": 8080}, 8080),
            ("port or alt", {"alt": 8080}, 8080),
            ("port or alt", {"port": 0}, None),
            ("port or alt or 1", {}, 1),
            ("a and b", {"a": 1, "b": "x"}, "x"),
            ("a and b", {"a": 0, "b": "x"}, 0),
            ("a and b", {"b": "x"}, None),
            ("a and b and c", {"a": 1, "b": [], "c": 3}, []),
            ("len(a or b)", {"b": "xyz"}, 3),
            ("lower(a or b)", {"a": "AB", "b": "cd"}, "ab"),
            ("(port or alt) > 1000", {"port": 5000}, True),
            ("(port or alt) > 1000", {"port": None, "alt": 8080}, True),
            ("(port or alt) > 1000", {}, False),  # None > 1000: false, not an error
            ("not (a or b)", {"a": 0}, True),
        ],
    )
    def test_the_deciding_operand_as_in_python(self, expression: str, datum: dict[str, Any], value: Any) -> None:
        assert compile_expression(expression)(datum) == value
        assert type(compile_expression(expression)(datum)) is type(value)

    def test_stops_at_the_part_that_decides(self) -> None:
        # The second part would be an error for this datum (arithmetic on text): never evaluated.
        assert compile_expression("a or b * 2 > 1")({"a": 1, "b": "x"}) == 1
        assert compile_expression("a and b * 2 > 1")({"a": 0, "b": "x"}) == 0

    def test_a_filter_keeps_what_python_would(self, tmp_path: Path) -> None:
        lines = [{"port": 5000}, {"port": None, "alt": 8080}, {"port": 80}, {}]
        out, errors, _ = run(tmp_path, lines, FILTER_TO_OUT.format(expression="(port or alt) > 1000"))
        assert out == lines[:2]
        assert errors == []


class TestAffixes:
    @pytest.mark.parametrize("function", ["startswith", "endswith"])
    @pytest.mark.parametrize(
        "datum",
        [
            {"host": "db1"},
            {"host": "db1", "pre": None},
            {"host": "db1", "pre": 5},
            {"host": "db1", "pre": ["db"]},
            {"host": "db1", "pre": {"d": 1}},
            {"host": "db1", "pre": b"db"},
            {"host": None, "pre": "db"},
            {"host": 5, "pre": 5},
        ],
    )
    def test_false_when_either_is_not_text(self, function: str, datum: dict[str, Any]) -> None:
        assert compile_expression(f"{function}(host, pre)")(datum) is False
        assert compile_expression(f"not {function}(host, pre)")(datum) is True

    def test_texts_as_before(self) -> None:
        assert compile_expression("startswith(host, pre)")({"host": "db1", "pre": "db"}) is True
        assert compile_expression("endswith(host, pre)")({"host": "db1", "pre": "1"}) is True
        assert compile_expression("startswith(host, pre)")({"host": "db1", "pre": "web"}) is False
        assert compile_expression('startswith(host, ["db"])')({"host": "db1"}) is False
        assert compile_expression("endswith(host, 1)")({"host": "db1"}) is False
        # The text is read first; when it is not text, the second argument is not evaluated.
        assert compile_expression("startswith(host, x * 2)")({"x": "a"}) is False

    @pytest.mark.parametrize(
        "expression",
        [
            "lower(x)",
            "upper(x)",
            "len(x)",
            'matches(x, "a")',
            'x in "abc"',
            'x not in "abc"',
            "x in y",
            "x < y",
            "x == y",
            "exists(x)",
        ],
    )
    @pytest.mark.parametrize("value", [None, 5, 2.5, True, ["a"], {"a": 1}, b"a", "a"])
    def test_other_functions_and_comparisons_never_raise(self, expression: str, value: Any) -> None:
        test = compile_expression(expression)
        for datum in ({"x": value, "y": value}, {"x": value, "y": "abc"}, {"x": "a", "y": value}, {}, None, "t"):
            test(datum)

    def test_filter_and_route_drop_rather_than_fail(self, tmp_path: Path) -> None:
        lines = [{"host": "db1", "pre": "db"}, {"host": "db1"}, {"host": "db1", "pre": None}, {"host": "db1", "pre": 5}]
        out, errors, _ = run(tmp_path, lines, FILTER_TO_OUT.format(expression="startswith(host, pre)"))
        assert out == lines[:1]
        assert errors == []

        routed = tmp_path / "routed"
        routed.mkdir()
        out, errors, _ = run(
            routed,
            lines,
            """\
            [[route]]
            name = "db"
            when = 'startswith(host, pre) or endswith(host, pre)'
              [[route.cog]]
              use = "text.json_format"
              [[route.cog]]
              use = "fs.write"
              filename = "out.jsonl"
            [[route]]
            name = "rest"
              [[route.cog]]
              use = "text.json_format"
              [[route.cog]]
              use = "fs.write"
              filename = "rest.jsonl"
            """,
        )
        assert out == lines[:1]
        assert errors == []
        assert [json.loads(line) for line in (routed / "rest.jsonl").read_text().splitlines()] == lines[1:]


class TestUnicodePrefix:
    @pytest.mark.parametrize("text", ['u"admin"', 'U"admin"', "u'admin'", "U'admin'"])
    def test_u_texts_are_texts(self, text: str) -> None:
        test = compile_expression(f"user == {text}")
        assert test({"user": "admin"}) is True
        assert test({"user": "root"}) is False

    def test_u_texts_are_raw_too(self) -> None:
        assert compile_expression(r'path == u"C:\temp"')({"path": "C:\\temp"}) is True
        assert compile_expression(r'matches(w, u"\bbad\b")')({"w": "a bad day"}) is True
        assert compile_expression('x == u"a" and y in [U"b", "c", r"d"]')({"x": "a", "y": "b"}) is True

    def test_in_a_pipeline(self, tmp_path: Path) -> None:
        lines = [{"user": "admin"}, {"user": "root"}]
        out, errors, _ = run(tmp_path, lines, FILTER_TO_OUT.format(expression='user == u"admin"'))
        assert out == lines[:1]
        assert errors == []


_VALUES = [None, 0, 5, 2.5, True, "", "x", "abc", [], ["x"], [1, "x"], {"x": 1}, {}]


@pytest.mark.parametrize("container", _VALUES, ids=repr)
@pytest.mark.parametrize("item", ["x", 1, None], ids=repr)
def test_not_in_is_always_the_negation_of_in(item: Any, container: Any) -> None:
    """`"x" not in port` with a number was false, as `"x" in port` is: neither held. `not in` is the negation of
    `in` for every value, in flow.filter and in a route's condition alike (which falls back on the same code)."""
    data = {"item": item, "container": container}
    found = compile_expression("item in container")(data)
    assert compile_expression("item not in container")(data) is (not found)
    from deadbeat import movement, routing
    from deadbeat.testing import Collector

    esc = movement.Escapement()
    try:
        train = movement.Train(esc)
        taken, rest = routing.Route("no", when="item not in container", esc=esc), routing.Route("rest", esc=esc)
        taken.cogs, rest.cogs = [Collector()], [Collector()]
        train.cogs = [routing.Router(train, [taken, rest])]
        train.send(None, [data])
        assert (len(taken.cogs[0].data), len(rest.cogs[0].data)) == ((0, 1) if found else (1, 0))
    finally:
        esc.close()


def test_arithmetic_on_a_value_already_not_finite_says_so() -> None:
    """NaN + 1 was said to give nan "beyond a number's range", as if the sum had overflowed."""
    with pytest.raises(ValueError, match=r"nan \+ 1: arithmetic takes finite numbers"):
        compile_expression("a + 1 > 0")({"a": float("nan")})
    with pytest.raises(ValueError, match=r"gives inf, beyond a number's range"):
        compile_expression("a * 10 > 0")({"a": 1e308})
