"""Route conditions written out in the classifier answer as the filter language does, for any datum."""

from __future__ import annotations

import collections
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat import movement, routing
from deadbeat.routing._router import inline_condition

CONDITIONS = [
    "severity >= 5",
    'facility == "auth" and not host in ["db1", "web2"]',
    'startswith(host, "db") or severity < -1',
    'facility != "kern"',
    "exists(user) and severity > 2.5",
]

field_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 8),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.sampled_from(["auth", "kern", "db1", "db9", "web2", "", "dbx"]),
    st.binary(max_size=3),
    # Not text to the language, though it has a startswith of its own.
    st.builds(collections.UserString, st.sampled_from(["db1", "web2"])),
    st.lists(st.integers(0, 2), max_size=2),
)
data = st.one_of(
    st.dictionaries(st.sampled_from(["severity", "facility", "host", "user"]), field_values, max_size=4),
    st.text(max_size=3),
    st.none(),
)


_BUILT: dict[str, tuple[movement.Train, list[list[Any]]]] = {}


def _routed(match: str) -> tuple[movement.Train, list[list[Any]]]:
    """A train ending in a router over CONDITIONS and a default, each route keeping what it gets (built once)."""
    if match not in _BUILT:
        esc = movement.DummyEscapement()
        train = movement.Train(esc)
        got: list[list[Any]] = [[] for _ in range(len(CONDITIONS) + 1)]

        def keep(i: int) -> Any:
            return lambda d: got[i].append(d)

        routes = [routing.Route(f"r{i}", c, [keep(i)], esc=esc) for i, c in enumerate(CONDITIONS)]
        routes.append(routing.Route("default", None, [keep(len(CONDITIONS))], esc=esc))
        train.cogs = [lambda d: (d,), routing.Router(train, routes, match=match)]  # type: ignore[arg-type]
        _BUILT[match] = (train, got)
    return _BUILT[match]


class TestWrittenOut:
    def test_simple_conditions_are_written_out_and_others_are_not(self) -> None:
        """Comparisons of a field with constants, startswith and and/or/not are written out; exists() is called."""
        assert inline_condition("severity >= 5") == "(d['severity'] >= 5)"
        assert inline_condition('startswith(host, "db")') == "str_startswith(d['host'], 'db')"
        assert inline_condition("exists(user)") is None
        assert inline_condition("a.b == 1") is None and inline_condition("n * 2 > 3") is None

    def test_a_text_with_a_backslash_means_what_it_means_in_a_filter(self) -> None:
        """The language's texts are raw: ``"C:\\temp"`` is a backslash and a t, in a route as in flow.filter.

        Written out, the condition was read as Python reads it (a tab): the
        route took neither ``C:\\temp`` nor anything else, where the filter took it.
        """
        from deadbeat.flow import compile_expression

        when = 'path == "C:\\temp"'
        assert inline_condition(when) is None
        esc = movement.DummyEscapement()
        train = movement.Train(esc)
        got: list[Any] = []
        rest: list[Any] = []
        routes = [
            routing.Route("a", when, [got.append], esc=esc),
            routing.Route("rest", None, [rest.append], esc=esc),
        ]
        train.cogs = [lambda d: (d,), routing.Router(train, routes)]  # type: ignore[arg-type]
        data = [{"path": "C:\\temp"}, {"path": "C:\temp"}]
        train.send(None, data)
        assert got == [d for d in data if compile_expression(when)(d)] == [{"path": "C:\\temp"}]
        assert rest == [{"path": "C:\temp"}]

    @settings(max_examples=200, deadline=None)
    @given(st.lists(data, max_size=20), st.sampled_from(["first", "all"]))
    def test_the_routes_get_what_the_compiled_expressions_choose(self, batch: list[Any], match: str) -> None:
        """Whatever the data (missing fields, texts, bytes, None), each route gets what the expressions pick."""
        from deadbeat.flow import compile_expression

        compiled = [compile_expression(c) for c in CONDITIONS]
        train, got = _routed(match)
        for kept in got:
            kept.clear()
        train.send(None, list(batch))
        expected: list[list[Any]] = [[] for _ in range(len(CONDITIONS) + 1)]
        for datum in batch:
            taken = [i for i, test in enumerate(compiled) if test(datum)]
            if match == "first":
                taken = taken[:1]
            for i in taken or [len(CONDITIONS)]:
                expected[i].append(datum)
        assert got == expected
