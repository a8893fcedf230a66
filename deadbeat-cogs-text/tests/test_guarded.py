"""The guarded engine: RE2's answers, found by Python's re, no line costing more than the bound.

Real timers and signals (SIGVTALRM on virtual CPU time), real patterns on both
engines; hostile lines that would keep Python's re busy for years.
"""

from __future__ import annotations

import gc
import logging
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from collections.abc import Callable
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


class _Cycle:
    """Garbage that only a collection frees."""

    def __init__(self) -> None:
        self.me = self


class _FinalizedCycle(_Cycle):
    def __init__(self, finalizer: Callable[[], None]) -> None:
        super().__init__()
        self.finalizer = finalizer

    def __del__(self) -> None:
        self.finalizer()


class TestNoCollectionUnderTheTimer:
    """A collection runs Python code of others; the bound's exception must never land there.

    It would be swallowed ("Exception ignored in ...": a failing test under
    pytest's unraisable check), cut that code short and leave the run without
    a bound. The full suite saw it in a weakref callback of a full collection
    of a big heap that outlasted a run's budget.
    """

    @pytest.mark.parametrize("runs", ["gc callback", "weakref callback", "finalizer"])
    def test_the_collector_waits_for_the_end_of_the_run(self, runs: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(_guard, "BASE_BUDGET", 0.001)  # the timer fires within a tick or two of CPU time
        monkeypatch.setattr(_guard, "LINE_BUDGET", 0.0)
        unraisable: list[Any] = []
        monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
        armed_when_called: list[bool] = []

        def slow_python_code() -> None:
            """What the collector runs; while a timer is armed, longer than the budget (a big collection)."""
            armed_when_called.append(_guard._armed)
            deadline = time.process_time() + 0.5
            while _guard._armed and time.process_time() < deadline:
                pass

        weakrefs: list[Any] = []

        def fast(line: str) -> tuple[str, str]:
            # The garbage made whole first (a collection in the midst would find it alive and keep it for
            # older generations); the collector back as it was: on, unless the guard turned it off.
            collecting = gc.isenabled()
            gc.disable()
            if runs == "weakref callback":
                weakrefs.append(weakref.ref(_Cycle(), lambda _: slow_python_code()))
            elif runs == "finalizer":
                _FinalizedCycle(slow_python_code)
            if collecting:
                gc.enable()
            for _ in range(3):
                _Cycle()  # allocations (not from a free list): a collection, with the collector on
            return ("fast", line)

        def on_collection(phase: str, info: dict[str, int]) -> None:
            slow_python_code()

        threshold = gc.get_threshold()
        if runs == "gc callback":
            gc.callbacks.append(on_collection)
        gc.set_threshold(1)  # a collection at almost every allocation: inside the run, were the collector on
        try:
            guard = Guarded(fast, _safe, "test pattern")
            out = guard.many(["a", "b", "c"])
            one = guard.one("d")
            gc.collect()  # the garbage of the runs is collected, after them
        finally:
            gc.set_threshold(*threshold)
            if on_collection in gc.callbacks:
                gc.callbacks.remove(on_collection)
        assert unraisable == []
        assert armed_when_called and True not in armed_when_called
        assert out == [("fast", "a"), ("fast", "b"), ("fast", "c")] and one == ("fast", "d")
        assert guard.overruns == 0  # no collection was charged to a line
        assert gc.isenabled()

    def test_the_collector_is_left_as_it_was(self) -> None:
        guard = Guarded(_spin_if_evil, _safe, "test pattern")
        gc.disable()
        try:
            assert guard.many(["a"]) == [("fast", "a")]
            assert not gc.isenabled()  # not turned on by the run
        finally:
            gc.enable()
        assert guard.many(["a", "evil", "b"]) == [("fast", "a"), ("safe", "evil"), ("safe", "b")]
        assert gc.isenabled()  # on again after a run cut short
        assert guard.one("evil") == ("safe", "evil")  # cooling: RE2 alone
        guard.cooling_until = 0.0
        assert guard.one("evil") == ("safe", "evil") and guard.overruns == 2
        assert gc.isenabled()


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

    def test_access_log_lines_past_the_bound(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The same outcomes when lines exceed the bound, on purpose: the lines of the run matched before
        the overrun, the line RE2 takes over, the rest of the lines, and the error records."""
        monkeypatch.setattr(_guard, "BASE_BUDGET", 0.001)  # an overrun costs a tick or two, not 0.1 s
        monkeypatch.setattr(_guard, "COOLING", 0.0)  # re again at the next call: overruns on every pass
        rng = random.Random(18)
        lines = [_access_line(rng) for _ in range(3000)]
        guarded = text.GrokParse("%{COMBINEDAPACHELOG}")
        on_re2 = text.GrokParse("%{COMBINEDAPACHELOG}", engine="re2")
        guard = guarded.guard
        assert guard is not None and guard.fast is not None
        fast = guard.fast
        matching = [i for i, line in enumerate(lines) if _guard._plain(line) and on_re2._parse(line) is not None]
        # One line deep in the first run of lines, one in a later run.
        slow = {id(lines[i]) for i in (matching[len(matching) // 20], matching[len(matching) // 2])}
        assert len(slow) == 2

        def slow_fast(line: str) -> Any:
            if id(line) in slow:  # spins in Python until the timer's exception (5 s: the bound is broken)
                deadline = time.process_time() + 5.0
                while time.process_time() < deadline:
                    pass
            return fast(line)

        guard.fast = slow_fast
        expected = [_outcome(on_re2, line) for line in lines]
        with caplog.at_level(logging.WARNING, "deadbeat.text"):
            assert [_outcome(guarded, line) for line in lines] == expected
            assert guard.overruns == 2
            assert guard.many(lines) == [on_re2._parse(line) for line in lines]
            assert guard.overruns == 3
            good = [lines[i] for i in matching]
            assert send_through([guarded], list(good)) == send_through([on_re2], list(good))
            assert guard.overruns == 4
            out, records = send_through([guarded], list(lines))
        out_re2, records_re2 = send_through([on_re2], list(lines))
        assert out == out_re2 and [r.datum for r in records] == [r.datum for r in records_re2]
        assert [r.error.args for r in records] == [r.error.args for r in records_re2]
        assert guard.overruns > 4
        assert "took Python's re over its CPU budget" in caplog.text

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
