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
  rules for their stack traces.

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
line came for ``timeout`` seconds (the last event of a quiet file), and when
its file is let go.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import accumulate
from typing import Any

try:
    import re2  # type: ignore[import-untyped, import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - exercised where google-re2 is missing
    re2 = None

__all__ = ["MODES", "Multiline"]

#: Ready-made continuation rules: a line matching one continues the event before it.
MODES: dict[str, str] = {
    # "\tat com.example.Foo.bar(Foo.java:42)", "Caused by: ...", "\t... 12 more",
    # and the exception's own line after a log line ("java.lang.IllegalStateException: boom").
    "java": r"^(?:\s|Caused by:|Suppressed:|[\w$.]+(?:Exception|Error|Throwable)(?::|$))",
    # "Traceback (most recent call last):", indented frames and code, the blank
    # line and sentence between chained exceptions, and the last line ("ValueError: bad").
    "python": (
        r"^(?:\s|$|Traceback \(most recent call last\):|During handling of the above exception"
        r"|The above exception was the direct cause|[\w.]+(?:Error|Exception|Warning|Exit|Interrupt)(?::|$))"
    ),
    # "goroutine 1 [running]:", "main.main()", "\t/src/main.go:5 +0x1d", blank lines, "exit status 2".
    "go": r"^(?:\s|$|goroutine \d+ \[|[\w./*()-]+\(.*\)$|created by |exit status \d+)",
}

_KEYS = ("start", "continuation", "pattern", "negate", "match", "mode", "max_lines", "max_bytes", "timeout")


def _compile(pattern: Any, key: str) -> Callable[[str], bool]:
    """:returns: whether ``pattern`` occurs in a line. :raises ValueError: naming ``key``."""
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
    search = compiled.search

    def found(line: str) -> bool:
        return search(line) is not None

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
            continuation = MODES[mode]
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
        self.before = match == "before"
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.timeout = float(timeout)
        #: joins(line) -> whether the line is joined to its neighbour (before
        #: it, or after it for match = "before").
        self.joins: Callable[[str], bool]
        if pattern is not None:
            found = _compile(pattern, "pattern")
            self.joins = (lambda line: not found(line)) if negate else found
        elif start is not None and continuation is not None:
            begins, goes_on = _compile(start, "start"), _compile(continuation, "continuation")
            self.joins = lambda line: goes_on(line) and not begins(line)
        elif start is not None:
            begins = _compile(start, "start")
            self.joins = lambda line: not begins(line)
        else:
            assert continuation is not None
            self.joins = _compile(continuation, "mode" if mode else "continuation")

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

    def events(self, lines: list[str], sizes: list[int], final: bool) -> tuple[list[tuple[int, int]], int]:
        """Group ``lines`` (complete, in order; ``sizes`` their byte lengths with newline) into events.

        The first line always begins an event (what came before it was sent).

        :param final: the last event is complete too (time-out, file let go, end of a one-shot read).
        :returns: the complete events as ``(first, end)`` index ranges, and the
            index where the event still being built begins (``len(lines)`` if none).
        """
        joins = self.joins
        max_lines, max_bytes = self.max_lines, self.max_bytes or 1 << 62
        events: list[tuple[int, int]] = []
        first = 0
        size = 0
        count = len(lines)
        before = self.before
        for index in range(count):
            line_size = sizes[index]
            if index > first:
                joined = joins(lines[index - 1]) if before else joins(lines[index])
                if not joined or index - first >= max_lines or size + line_size > max_bytes:
                    events.append((first, index))
                    first, size = index, 0
            size += line_size
        if count > first:
            # The last event is complete when nothing can join it any more.
            done = final or (before and not joins(lines[-1]))
            done = done or count - first >= max_lines or size >= max_bytes
            if done:
                events.append((first, count))
                first = count
        return events, first


def byte_sizes(lines: list[str], raws: list[bytes] | None) -> list[int]:
    """:returns: each line's length in bytes, newline included (from ``raws`` where the text is not ASCII)."""
    pieces: list[Any] = lines if raws is None else raws
    return [n + 1 for n in map(len, pieces)]


def offsets_of(start: int, sizes: list[int]) -> list[int]:
    """:returns: the offset of each line, and after the last."""
    return list(accumulate(sizes, initial=start))
