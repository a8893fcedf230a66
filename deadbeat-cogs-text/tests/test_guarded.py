"""The guarded engine: RE2's answers, found by Python's re, no line costing more than the bound.

Real timers and signals (SIGVTALRM on virtual CPU time), real patterns on both
engines; hostile lines that would keep Python's re busy for years.
"""

from __future__ import annotations

import logging
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat import text
from deadbeat.testing import send_through
from deadbeat.text import _guard
from deadbeat.text._guard import Guarded


def _spin_if_evil(line: str) -> tuple[str, str]:
    """A ``fast`` side that never ends on "evil" (pure Python: the handler lands between bytecodes)."""
    while line == "evil":
        pass
    return ("fast", line)


def _safe(line: str) -> tuple[str, str]:
    return ("safe", line)


class TestTheBound:
    def test_a_line_over_the_budget_is_answered_by_the_safe_side_and_the_rest_too(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        guard = Guarded(_spin_if_evil, _safe, "test pattern")
        started = time.process_time()
        with caplog.at_level(logging.WARNING, "deadbeat.text"):
            out = guard.many(["a", "evil", "b"])
        assert out == [("fast", "a"), ("safe", "evil"), ("safe", "b")]
        # The budget of one run of lines, give or take the timer's tick; far from forever.
        assert time.process_time() - started < 2.0
        assert guard.overruns == 1
        assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)
        assert _guard._armed is False  # a signal still on its way raises nothing
        assert "test pattern: a line of 4 characters took Python's re over its CPU budget ('evil')" in caplog.text
        assert "RE2 matches this pattern for the next 10 s" in caplog.text

    def test_cooling_then_back_to_re(self) -> None:
        guard = Guarded(_spin_if_evil, _safe, "test pattern")
        assert guard.one("evil") == ("safe", "evil")
        assert guard.cooling_until > time.monotonic()
        assert guard.many(["c", "d"]) == [("safe", "c"), ("safe", "d")]
        guard.cooling_until = 0.0
        assert guard.many(["c"]) == [("fast", "c")]

    def test_lines_the_engines_could_read_otherwise_go_to_re2(self) -> None:
        guard = Guarded(_spin_if_evil, _safe, "test pattern")
        assert guard.many(["plain", "é", "two\nlines", "vertical\x0btab"]) == [
            ("fast", "plain"),
            ("safe", "é"),
            ("safe", "two\nlines"),
            ("safe", "vertical\x0btab"),
        ]

    def test_an_error_of_the_line_goes_to_the_caller_and_the_timer_is_off(self) -> None:
        def refuse(line: str) -> str:
            raise ValueError(f"not a number: {line!r}")

        guard = Guarded(refuse, refuse, "test pattern")
        with pytest.raises(ValueError, match="not a number: 'x'"):
            guard.many(["x"])
        assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)
        assert guard.overruns == 0

    def test_outside_the_main_thread_only_the_safe_side_runs(self) -> None:
        guard = Guarded(_spin_if_evil, _safe, "test pattern")
        out: list[Any] = []
        worker = threading.Thread(target=lambda: out.extend(guard.many(["a", "evil"])))
        worker.start()
        worker.join(10)
        assert out == [("safe", "a"), ("safe", "evil")]

    def test_a_handler_of_someone_else_is_left_alone(self) -> None:
        """A profiler's SIGVTALRM handler stays; every line goes to RE2, and a hostile one is still answered."""
        script = textwrap.dedent(
            """
            import signal
            from deadbeat import text

            def profiler(signum, frame):
                pass

            signal.signal(signal.SIGVTALRM, profiler)
            cog = text.RegexParse(r"(?P<run>(a|aa)+)b")
            print(cog("aab"), cog._regex.fields_all(["a" * 60 + "c"]))
            print(signal.getsignal(signal.SIGVTALRM) is profiler)
            """
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["({'run': 'aa'},) [None]", "True"]


class TestHostileLines:
    @pytest.mark.parametrize("cog_name", ["regex_parse", "grok"])
    def test_catastrophic_backtracking_is_cut_short(self, cog_name: str, caplog: pytest.LogCaptureFixture) -> None:
        """(a|aa)+b against 60 "a" and a "c": 2^60 ways for re; answered as RE2 answers, in a bounded time."""
        if cog_name == "grok":
            cog: Any = text.GrokParse("%{RUN:run}b", patterns={"RUN": "(?:a|aa)+"})
        else:
            cog = text.RegexParse(r"(?P<run>(?:a|aa)+)b")
        lines = ["ab", "a" * 60 + "c", "aab", *(["aaab"] * 300)]
        started = time.process_time()
        with caplog.at_level(logging.WARNING, "deadbeat.text"):
            out, records = send_through([cog], lines)
        assert time.process_time() - started < 5.0
        assert [r.datum for r in records] == ["a" * 60 + "c"]
        assert out[:2] == [{"run": "a"}, {"run": "aa"}] and len(out) == 302
        assert "took Python's re over its CPU budget" in caplog.text
        guard = cog.guard if cog_name == "grok" else cog._regex.guard
        assert guard.overruns == 1


def _access_line(rng: random.Random) -> str:
    client = rng.choice(["10.0.0.1", "192.168.10.254", "2001:db8::1", "host.example.org", "256.1.1.1", "-"])
    user = rng.choice(["-", "alice", 'b"ob', "c[a]rol"])
    stamp = rng.choice(["27/Nov/2026:19:50:00 +0100", "1/Jan/2026:00:00:60 -0000", "32/Foo/2026:25:61:00 +0100"])
    request = rng.choice(
        ["GET / HTTP/1.1", "POST /api?x=1&y=%22 HTTP/2.0", "GET /", "\\x16\\x03\\x01", "", 'GET /a\\"b HTTP/1.0']
    )
    size = rng.choice(["0", "1234", "-", "12.5", "x"])
    agent = rng.choice(['"curl/8.5.0"', '"Mozilla/5.0 (X11; \\"quoted\\")"', '"-"', "'single'", '"unterminated'])
    tail = rng.choice(["", " extra", "é", "\x0b", "\n"])
    return f'{client} - {user} [{stamp}] "{request}" {rng.choice(["200", "404", "5xx"])} {size} "-" {agent}{tail}'


PATTERNS = [
    "%{COMBINEDAPACHELOG}",
    "%{SYSLOGLINE}",
    "%{IP:ip} %{WORD:word} %{NUMBER:n:float}",
    "%{TIMESTAMP_ISO8601:time} %{LOGLEVEL:level} %{GREEDYDATA:message}",
    "%{QS:quoted}(?: %{DATA:rest})?",
    "%{URI:uri}",
    "%{IPORHOST:host}(?::%{POSINT:port:int})?",
    "%{MAC:mac}|%{UUID:uuid}|%{EMAILADDRESS:mail}",
]
#: Characters the patterns above care about, and some they do not.
ALPHABET = "aAbZz09.:-/ []\"'`\\%@?=&_T+é\t\n\x0b"


def _outcome(cog: Any, line: str) -> Any:
    try:
        return cog(line)
    except ValueError as exc:
        return str(exc)


class TestSameAnswersAsRE2:
    def test_access_log_lines(self) -> None:
        """Combined log lines, well formed or not, with escapes, non-ASCII and control characters."""
        rng = random.Random(18)
        lines = [_access_line(rng) for _ in range(3000)]
        guarded = text.GrokParse("%{COMBINEDAPACHELOG}")
        on_re2 = text.GrokParse("%{COMBINEDAPACHELOG}", engine="re2")
        assert guarded.guard is not None and guarded.guard.fast is not None
        assert [_outcome(guarded, line) for line in lines] == [_outcome(on_re2, line) for line in lines]
        out, records = send_through([guarded], list(lines))
        out_re2, records_re2 = send_through([on_re2], list(lines))
        assert out == out_re2 and [r.datum for r in records] == [r.datum for r in records_re2]
        assert 0 < len(out) < len(lines)

    @settings(max_examples=400, deadline=None)
    @given(st.sampled_from(PATTERNS), st.text(alphabet=ALPHABET, max_size=40), st.booleans())
    def test_any_text(self, pattern: str, line: str, search: bool) -> None:
        guarded = text.GrokParse(pattern, search=search)
        on_re2 = text.GrokParse(pattern, search=search, engine="re2")
        assert _outcome(guarded, line) == _outcome(on_re2, line)

    @settings(max_examples=200, deadline=None)
    @given(
        st.sampled_from([r"(?P<a>\w+)\s(?P<b>\d*)", r"(?P<a>[a-z]+)(?P<b>\b.)?", r"(?P<x>(?:ab|a)*)(?P<y>b?)"]),
        st.text(alphabet="ab09 _é\t\x0b\n.", max_size=20),
        st.booleans(),
    )
    def test_regex_parse_with_ascii_classes(self, pattern: str, line: str, search: bool) -> None:
        """\\w, \\d, \\s and \\b are ASCII on RE2: the guarded engine gives RE2's answer, not Unicode re's."""
        guarded = text.RegexParse(pattern, search=search)
        on_re2 = text.RegexParse(pattern, search=search, engine="re2")
        assert _outcome(guarded, line) == _outcome(on_re2, line)

    def test_what_re_would_read_otherwise_runs_on_re2_alone(self) -> None:
        """POSIX classes mean another thing to re, \\pL nothing: such patterns never go to re."""
        for pattern in (r"(?P<w>[[:alpha:]]+)", r"(?P<w>\pL+)"):
            cog = text.RegexParse(pattern)
            assert cog._regex.guard is not None and cog._regex.guard.fast is None
            assert cog("abc") == ({"w": "abc"},)
        assert text.RegexParse(r"(?P<t>[:.,]+)")._regex.guard.fast is not None  # a class that starts with ':'


def test_the_default_costs_less_than_re2_alone() -> None:
    """Not a speed test: the guarded engine takes the re side for plain lines (counted, not timed)."""
    calls: list[str] = []
    cog = text.RegexParse(r"(?P<a>\w+)")
    guard = cog._regex.guard
    assert guard is not None and guard.fast is not None
    fast = guard.fast

    def counted(line: str) -> Any:
        calls.append(line)
        return fast(line)

    guard.fast = counted
    send_through([cog], ["abc", "def"])
    assert calls == ["abc", "def"]
    assert _guard.CHUNK >= 64  # two system calls per run of lines, not per line
