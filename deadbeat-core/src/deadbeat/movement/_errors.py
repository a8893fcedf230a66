"""The error output: what a failed datum becomes, and where it goes by default.

A datum a cog raised on is not lost: it becomes an :class:`ErrorRecord` (its
event id, the cog, the error, the datum as the cog received it) and goes to the
train's error output. By default that is :class:`DeadLetterLog`, one log line per
failed datum holding the whole datum; an application or a pipeline file
(``[[errors]]``) may give another Train instead, which receives each record as a
mapping (:meth:`ErrorRecord.as_dict`) that any output can write: bytes become
text (undecodable bytes as ``\\xNN``), and anything JSON cannot hold is written
as it prints.

Rendering a record never fails: whatever the datum holds (a structure nested a
thousand deep, an object whose ``repr`` raises), the rendering falls back to a
bounded ``repr``, so one hostile datum cannot cost the data around it. Nor can
it grow without bound: past a million values, what is left is printed within
bounds too (a structure that holds the same list a thousand times over is
small in memory and enormous written out).
"""

from __future__ import annotations

import json
import logging
import math
import reprlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from ._hooks import hook

__all__ = ["DeadLetterLog", "ErrorOutput", "ErrorRecord", "FailureLog", "PartialBatch", "writable"]

dead_letter_log = logging.getLogger("deadbeat.deadletter")

#: How deep :func:`writable` follows mappings and lists before printing the rest.
MAX_DEPTH = 64
#: How many values (items of mappings and lists, at every depth) :func:`writable`
#: renders before printing the rest within bounds. More than any line could hold
#: (a 1 MiB JSON line holds about half a million): only a structure that shares
#: its parts reaches it.
MAX_VALUES = 1_000_000

_short = reprlib.Repr()
_short.maxlevel = 4
_short.maxstring = 400
_short.maxother = 400
_short.maxlist = _short.maxdict = _short.maxtuple = _short.maxset = 20


def _bounded_repr(value: Any) -> str:
    try:
        return _short.repr(value)
    except Exception:  # noqa: BLE001 - a repr that raises must not cost the record
        return f"<unprintable {type(value).__name__}>"


def _text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (JSON's "\ud800"): no output could encode it as it is.
        return value.encode("utf-8", "backslashreplace").decode("ascii")
    return value


def writable(value: Any, depth: int = 0) -> Any:
    """:returns: ``value`` as JSON can hold it, structure kept: bytes and odd text escaped, infinite or NaN
    numbers as text (``"inf"``), the rest printed; below ``MAX_DEPTH`` levels and past ``MAX_VALUES``
    values, printed within bounds.

    Never raises.
    """
    return _writable(value, depth, [MAX_VALUES])


def _writable(value: Any, depth: int, left: list[int]) -> Any:
    """:func:`writable`, with ``left[0]`` the values still to render (shared by the whole record)."""
    try:
        if value is None or isinstance(value, (bool, int)):
            return value
        if isinstance(value, float):
            # inf and nan (a JSON 1e999 parsed to inf): no JSON output could write them.
            return value if math.isfinite(value) else repr(value)
        if isinstance(value, str):
            return _text(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value).decode("utf-8", "backslashreplace")
        if depth >= MAX_DEPTH or left[0] <= 0:
            return _bounded_repr(value)
        if isinstance(value, Mapping):
            left[0] -= len(value)
            return {
                (_text(k) if isinstance(k, str) else _bounded_repr(k)): _writable(v, depth + 1, left)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple, set, frozenset)):
            left[0] -= len(value)
            return [_writable(item, depth + 1, left) for item in value]
        return _bounded_repr(value)
    except Exception:  # noqa: BLE001 - rendering a record must never fail
        return _bounded_repr(value)


def _described(error: BaseException) -> str:
    """``Type: message`` of any exception; never raises, whatever its ``__str__`` does (a cog's own code)."""
    try:
        return f"{type(error).__name__}: {error}"
    except BaseException:  # noqa: BLE001 - a message that cannot be shown must not hide the failure
        return f"{type(error).__name__} (its message could not be shown)"


class PartialBatch(Exception):  # noqa: N818 - not an error of its own: it carries one
    """Raised by a cog's ``call_batch`` that found the datum it fails on: what came before, and that failure.

    Without it, a list ``call_batch`` raises on goes through the cog again one
    datum at a time, the good data with the bad: one bad line in thousands cost
    all of them the slow path. With it, the train sends the failing datum to the
    error output with ``error`` and gives the cog the rest of the list, whole.

    :param done: what the cog made of ``data[:index]``, as ``call_batch`` would
        have returned it for that part alone.
    :param index: the place, in the list the cog was given, of the datum it fails on.
    :param error: the exception a call on that datum alone raises.
    """

    def __init__(self, done: list[Any], index: int, error: Exception) -> None:
        super().__init__(done, index, error)
        self.done = done
        self.index = index
        self.error = error


class ErrorRecord:
    """What the error output receives when a cog raises on a datum.

    :ivar event_id: the datum's id (``None`` when it has none).
    :ivar cog: the cog that raised, as log lines name it.
    :ivar position: the cog's index in the train.
    :ivar error: the exception.
    :ivar datum: the datum as the cog received it.
    """

    __slots__ = ("event_id", "cog", "position", "error", "datum")

    def __init__(self, event_id: Any, cog: str, position: int, error: BaseException, datum: Any) -> None:
        self.event_id = event_id
        self.cog = cog
        self.position = position
        self.error = error
        self.datum = datum

    def __repr__(self) -> str:
        # What a test's failing assertion or a print shows: which event, where, why, and the datum (bounded).
        return (
            f"ErrorRecord(event_id={self.event_id!r}, cog={self.cog!r}, position={self.position},"
            f" error={_bounded_repr(_described(self.error))}, datum={_bounded_repr(self.datum)})"
        )

    def as_dict(self) -> dict[str, Any]:
        """:returns: the record as a datum for an error train, writable by any output (see :func:`writable`)."""
        return {
            "event_id": writable(self.event_id),
            "cog": self.cog,
            "position": self.position,
            "error": _described(self.error),
            "datum": writable(self.datum),
        }


def render(datum: Any) -> str:
    """:returns: ``datum`` as one line of JSON (or a bounded ``repr``); never raises."""
    try:
        return json.dumps(writable(datum), ensure_ascii=False)
    except Exception:  # noqa: BLE001 - a line must come out whatever the datum holds
        return _bounded_repr(datum)


class DeadLetterLog:
    """The default error output: one log line per failed datum, holding the datum.

    Lines go to the ``deadbeat.deadletter`` logger at ERROR, so the datum is kept
    wherever logging is configured to write, and can be replayed from there.
    Every failed datum gets its line: this is where the data are, so it is never
    rate-limited.
    """

    def __call__(self, record: ErrorRecord) -> None:
        _dead_letter(record.event_id, record.cog, _described(record.error), record.datum)

    @staticmethod
    def of_written(record: Any) -> None:
        """The line for a record as an error train received it (:meth:`ErrorRecord.as_dict`) and could not write.

        The same line as for the record itself, so that it can be replayed alike.
        """
        if isinstance(record, Mapping):
            _dead_letter(record.get("event_id"), record.get("cog"), record.get("error"), record.get("datum"))
        else:
            _dead_letter(None, "the error output", "not written", record)


def _dead_letter(event_id: Any, cog: Any, error: Any, datum: Any) -> None:
    shown = event_id if event_id is not None else "-"
    dead_letter_log.error(
        "%s: dead letter from %s: %s | %s", shown, cog, error, render(datum), extra={"event_id": shown}
    )


ErrorOutput = Callable[[ErrorRecord], Any]


class FailureLog:
    """Log lines about failed data, at most ``burst`` per ``window`` seconds; the rest are counted.

    For a train whose failures go to an error train or a callable: the records
    themselves all reach the error output; only the diagnostic lines are
    limited, so a flood of bad input cannot flood the log. They are warnings:
    the data are not lost (``journalctl -p err`` stays for what is), and a
    failing error output is an error of its own.

    :param logger: where the lines go.
    :param burst: lines allowed per window.
    :param window: seconds.
    """

    def __init__(self, logger: logging.Logger, burst: int = 20, window: float = 1.0) -> None:
        self.logger = logger
        self.burst = burst
        self.window = window
        self._started = 0.0
        self._logged = 0
        self._suppressed = 0

    def error(self, event_id: Any, message: str, *args: Any) -> None:
        """Log one failure (a WARNING line prefixed with the event id), unless the window is full."""
        now = time.monotonic()
        if now - self._started >= self.window:
            self.flush()
            self._started, self._logged = now, 0
        if self._logged < self.burst:
            self._logged += 1
            self.logger.warning("%s: " + message, event_id, *args, extra={"event_id": event_id})
        else:
            self._suppressed += 1

    @hook
    def flush(self) -> None:
        """Say how many lines were held back, if any."""
        if self._suppressed:
            self.logger.warning(
                "%d more failures were not logged (rate limit); every one was handed to the error output (a"
                " failure of the error output itself is said apart)",
                self._suppressed,
            )
            self._suppressed = 0
