"""Joining lines into events: stack traces, continuation lines.

A Java exception, a Python traceback or a Go panic is one event written over
many lines. The rules say, for each line, whether it begins an event or
continues one, in the shapes other log shippers offer:

* ``start``: a line matching it begins an event; other lines continue the
  event before them (the usual rule: a timestamp begins every record).
* ``continuation``: a line matching it continues the event before it; other
  lines begin one. With ``start`` too, a line matching ``start`` always begins
  one, and a line matching neither is an event alone.
* ``pattern`` with ``negate`` and ``match`` (Filebeat's form): lines for which
  "matches ``pattern``" differs from ``negate`` are joined, ``after`` to the line
  before them, or ``before`` to the line after them (a line ending in ``\\``).
* ``mode``: ``"java"``, ``"python"`` or ``"go"``, ready-made ``continuation``
  rules for their stack traces (these need no RE2, and take time linear in the
  line too).

Every pattern is searched for anywhere in the line (anchor it with ``^``) and is
compiled by RE2 (the ``google-re2`` package), whose time is linear in the line
whatever the pattern: a user's pattern runs on every line, and a backtracking
engine can be kept busy for hours by one hostile line.

Where an event ends is known only when the next one begins. So the event being
built is kept with the unfinished line: the file's position (what a restart
continues from, what an acknowledgement moves to) stays at the event's first
line until the event is complete and sent. A restart therefore never splits an
event nor sends one twice. An event is also complete when it reaches
``max_lines`` or ``max_bytes`` (the rest of it becomes the next event), when no
line came for ``timeout`` seconds (the last event of a quiet file), when its
file is let go, and, in a rotated file, when the file that replaced it is read:
its writer went on there, and its events come after this one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from itertools import accumulate, compress
from typing import Any

try:
    import re2  # type: ignore[import-untyped, import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - exercised where google-re2 is missing
    re2 = None

__all__ = ["MODES", "Multiline"]

#: Ready-made continuation rules: a line matching one (Python's ``re.match``)
#: continues the event before it. What they say, exactly; they run as the
#: prefixes and patterns of _MODE_TESTS, never as these patterns.
MODES: dict[str, str] = {
    # "\tat com.example.Foo.bar(Foo.java:42)", "Caused by: ...", "\t... 12 more",
    # and the exception's own line after a log line ("java.lang.IllegalStateException: boom").
    "java": r"^(?:[\t ]|Caused by:|Suppressed:|[\w$.]+(?:Exception|Error|Throwable)(?::|$))",
    # "Traceback (most recent call last):", indented frames and code, the blank
    # line and sentence between chained exceptions, and the last line ("ValueError: bad").
    "python": (
        r"^(?:[\t ]|$|Traceback \(most recent call last\):|During handling of the above exception"
        r"|The above exception was the direct cause|[\w.]+(?:Error|Exception|Warning|Exit|Interrupt)(?::|$))"
    ),
    # "goroutine 1 [running]:", "main.main()", "\t/src/main.go:5 +0x1d", blank lines, "exit status 2".
    "go": r"^(?:[\t ]|$|goroutine |created by |exit status |[\w./*()-]+\(.*\)$)",
}


# The modes as they run: a line continues when it starts with one of the
# prefixes, or else matches the pattern (re.match), which says the same as the
# rest of MODES[mode] in a form that cannot backtrack, so each line costs time
# linear in its length whatever it holds. (MODES["go"] run as it is takes time
# quadratic in a line of "((((...": 11.6 s for 100 KB, some 20 minutes for a
# mebibyte.) Python's re has atomic groups only from 3.11, so "(?=(X*))\1"
# stands for one: the lookahead takes the longest run of X once, the
# backreference consumes exactly that, and nothing of it is ever given back.
# Fixed-width lookbehinds then look at how the run ends.
_MODE_TESTS: dict[str, tuple[tuple[str, ...], re.Pattern[str]]] = {
    # A run of [\w$.] ending in a name (with a character before it), then ":" or the end.
    "java": (
        ("\t", " ", "Caused by:", "Suppressed:"),
        re.compile(r"(?=([\w$.]+))\1(?:(?<=.Exception)|(?<=.Error)|(?<=.Throwable))(?::|$)"),
    ),
    "python": (
        (
            "\t",
            " ",
            "Traceback (most recent call last):",
            "During handling of the above exception",
            "The above exception was the direct cause",
        ),
        re.compile(r"$|(?=([\w.]+))\1(?:(?<=.Error)|(?<=.Exception)|(?<=.Warning)|(?<=.Exit)|(?<=.Interrupt))(?::|$)"),
    ),
    # "[\w./*()-]+\(.*\)$" is: a first character of the class, the rest of the
    # class up to the first "(" after it, then the rest of the line (no line
    # break) ending in ")" after that "(".
    "go": (
        ("\t", " ", "goroutine ", "created by ", "exit status "),
        re.compile(r"$|[\w./*()-](?=([\w./*)-]*))\1\((?=([^\n]*))\2(?<=\))\n?\Z"),
    ),
}


#: Whether each of a list of lines (text, and the same as bytes) matches.
Matches = Callable[[list[str], list[bytes]], list[bool]]

_KEYS = ("start", "continuation", "pattern", "negate", "match", "mode", "max_lines", "max_bytes", "timeout")


def _compile(pattern: Any, key: str) -> Matches:
    """:returns: whether ``pattern`` occurs in each line. :raises ValueError: naming ``key``."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"multiline.{key} must be a regular expression (text), not {pattern!r}")
    if re2 is None:
        raise ValueError(f"multiline.{key}: google-re2 is not installed (pip install 'deadbeat-cogs-fs[multiline]')")
    options = re2.Options()
    options.log_errors = False
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "unknown error"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(
            f"multiline.{key}: bad regular expression {pattern!r} for RE2: {reason} (no backreferences or lookaround)"
        ) from None
    raw = getattr(compiled, "_regexp", None)
    anchors = getattr(re2, "_Anchor", None)
    if raw is not None and anchors is not None and callable(getattr(raw, "Match", None)):
        # The layer below google-re2's re-like API, on the lines' bytes: one C
        # call per line, no match object (the API above costs ten times that).
        match, unanchored = raw.Match, anchors.UNANCHORED

        def found(lines: list[str], raws: list[bytes]) -> list[bool]:
            return [match(unanchored, line, 0, len(line))[0][0] >= 0 for line in raws]

        return found
    search = compiled.search  # pragma: no cover - older bindings

    def found_slowly(lines: list[str], raws: list[bytes]) -> list[bool]:  # pragma: no cover
        return [search(line) is not None for line in lines]

    return found_slowly  # pragma: no cover


def _mode(mode: str) -> Matches:
    """:returns: the test of a ready-made mode, linear in each line: ``re.match(MODES[mode], line)``."""
    prefixes, pattern = _MODE_TESTS[mode]
    match = pattern.match

    def found(lines: list[str], raws: list[bytes]) -> list[bool]:
        return [line.startswith(prefixes) or match(line) is not None for line in lines]

    return found


class Multiline:
    """The rules that join lines into events (see the module docstring).

    :param start: a line matching it begins an event.
    :param continuation: a line matching it continues the event before it.
    :param pattern: Filebeat's form, with ``negate`` and ``match``.
    :param negate: join the lines that do *not* match ``pattern``.
    :param match: ``"after"`` (joined to the line before) or ``"before"`` (to the line after).
    :param mode: ``"java"``, ``"python"`` or ``"go"``.
    :param max_lines: most lines in one event.
    :param max_bytes: most bytes in one event (``None``: the tailer's ``max_line``).
    :param timeout: seconds without a new line after which the last event is sent.
    """

    def __init__(
        self,
        *,
        start: str | None = None,
        continuation: str | None = None,
        pattern: str | None = None,
        negate: bool = False,
        match: str = "after",
        mode: str | None = None,
        max_lines: int = 500,
        max_bytes: int | None = None,
        timeout: float = 5.0,
    ) -> None:
        if mode is not None:
            if mode not in MODES:
                raise ValueError(f"multiline.mode must be one of {', '.join(map(repr, MODES))}, not {mode!r}")
            if continuation is not None or pattern is not None:
                raise ValueError("multiline.mode gives the continuation rule; do not add continuation or pattern")
            continuation = MODES[mode]  # for the checks below; _mode runs it
        if pattern is not None and (start is not None or continuation is not None):
            raise ValueError("multiline.pattern (with negate and match) goes alone, without start or continuation")
        if pattern is None and start is None and continuation is None:
            raise ValueError("multiline needs start, continuation, pattern or mode")
        if match not in ("after", "before"):
            raise ValueError(f"multiline.match must be 'after' or 'before', not {match!r}")
        if match == "before" and pattern is None:
            raise ValueError("multiline.match = 'before' goes with pattern (Filebeat's form)")
        if type(negate) is not bool:
            raise ValueError(f"multiline.negate must be true or false, not {negate!r}")
        if type(max_lines) is not int or max_lines < 1:
            raise ValueError(f"multiline.max_lines must be a whole number, at least 1, not {max_lines!r}")
        if max_bytes is not None and (type(max_bytes) is not int or max_bytes < 1):
            raise ValueError(f"multiline.max_bytes must be a whole number of bytes, at least 1, not {max_bytes!r}")
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
            raise ValueError(f"multiline.timeout must be a number of seconds above 0, not {timeout!r}")
        self.mode = mode
        #: Whether the rules match bytes (RE2): the lines' bytes are then needed, not only their text.
        self.needs_bytes = pattern is not None or start is not None or mode is None
        self.before = match == "before"
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.timeout = float(timeout)
        #: joins(lines, raws) -> whether each line is joined to its neighbour
        #: (before it, or after it for match = "before").
        self.joins: Matches
        if pattern is not None:
            found = _compile(pattern, "pattern")
            self.joins = (lambda lines, raws: [not f for f in found(lines, raws)]) if negate else found
        elif start is not None:
            begins = _compile(start, "start")
            if continuation is not None:
                goes_on = _mode(mode) if mode else _compile(continuation, "continuation")
                self.joins = lambda lines, raws: [
                    c and not b for b, c in zip(begins(lines, raws), goes_on(lines, raws), strict=True)
                ]
            else:
                self.joins = lambda lines, raws: [not b for b in begins(lines, raws)]
        else:
            assert continuation is not None
            self.joins = _mode(mode) if mode else _compile(continuation, "continuation")

    @classmethod
    def from_config(cls, value: Mapping[str, Any] | None, max_line: int) -> Multiline | None:
        """:returns: the rules of an ``fs.tail`` ``multiline`` table, or ``None`` without one.

        :raises ValueError: for an unknown key (with the keys there are) or a bad value, naming it.
        """
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise ValueError(f"multiline must be a table of rules, not {value!r}")
        unknown = sorted(set(value) - set(_KEYS))
        if unknown:
            raise ValueError(f"multiline: unknown key {unknown[0]!r}; the keys are {', '.join(_KEYS)}")
        rules = cls(**value)
        if rules.max_bytes is None:
            rules.max_bytes = max_line
        return rules

    def events(
        self, lines: list[str], raws: list[bytes], sizes: list[int], final: bool
    ) -> tuple[list[tuple[int, int]], int]:
        """Group ``lines`` (complete, in order; ``raws`` the same as bytes, ``sizes`` their byte lengths with newline).

        The first line always begins an event (what came before it was sent).

        :param final: the last event is complete too (time-out, file let go, end of a one-shot read).
        :returns: the complete events as ``(first, end)`` index ranges, and the
            index where the event still being built begins (``len(lines)`` if none).
        """
        count = len(lines)
        if not count:
            return [], 0
        joined = self.joins(lines, raws)
        if self.before:
            # A line joined to the next: the next one does not begin an event.
            begins = [not j for j in joined[:-1]]
        else:
            begins = [not j for j in joined[1:]]
        starts = [0, *compress(range(1, count), begins)]
        # Complete when nothing can join it any more.
        last_done = final or (self.before and not joined[-1])
        bounds = [*starts, count]
        events = list(zip(bounds, bounds[1:], strict=False))
        max_lines, max_bytes = self.max_lines, self.max_bytes or 1 << 62
        sums = None
        cut: list[tuple[int, int]] = []
        for first, end in events:
            if end - first <= max_lines and (
                end - first == 1
                or self.max_bytes is None
                or ((sums := sums or list(accumulate(sizes, initial=0)))[end] - sums[first] <= max_bytes)
            ):
                cut.append((first, end))
                continue
            # Too long: cut it where it reaches a limit (rare, so line by line).
            size = 0
            at = first
            for index in range(first, end):
                if index > at and (index - at >= max_lines or size + sizes[index] > max_bytes):
                    cut.append((at, index))
                    at, size = index, 0
                size += sizes[index]
            cut.append((at, end))
        first, end = cut[-1]
        size_full = end - first >= max_lines or sum(sizes[first:end]) >= max_bytes
        if last_done or size_full:
            return cut, count
        return cut[:-1], first


def byte_sizes(lines: list[str], raws: list[bytes] | None) -> list[int]:
    """:returns: each line's length in bytes, newline included (from ``raws`` where the text is not ASCII)."""
    pieces: list[Any] = lines if raws is None else raws
    return [n + 1 for n in map(len, pieces)]


def offsets_of(start: int, sizes: list[int]) -> list[int]:
    """:returns: the offset of each line, and after the last."""
    return list(accumulate(sizes, initial=start))
