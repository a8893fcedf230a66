"""The syslog grammars (RFC 5424 and RFC 3164): reading a line into fields, and saying what is wrong with one.

Linear time, whatever the line. Every pattern here runs on Python's
backtracking :mod:`re` (RE2's Python binding costs tens of microseconds a
call, more than a whole line's parse), and each is written so that it has at
most one way to match any text: every repetition is of a character class that
the character allowed after it is not in (``[!-~]{1,255}`` is followed by a
space, a parameter value ``[^"\\\\]*(?:\\\\.[^"\\\\]*)*`` by its closing quote, and
a backslash always takes the character after it). When such a pattern fails,
the engine can only give back characters that cannot start what follows, each
refused by one comparison, so a failing line costs at most a small multiple
of its length, never the exponential or quadratic time of ambiguous patterns
such as ``(a+)+`` or ``(.*?=.*?)*``. The one place where two alternatives
start alike (RFC 3164: a tag, or a host, first) costs one more reading of that
one word. The tests run lines of a million characters built to provoke
backtracking (unclosed values, thousands of elements, escapes, almost-tags).

Structured data is not read by one pattern: Python's :mod:`re` keeps state
for each repetition of a group (70 to 125 bytes a character for the pattern
of elements, parameters and escapes it had), so it is scanned with
``str.find`` and patterns of one repeated character class, element by
element and parameter by parameter (:func:`_read_structured_data`), which
gives what that pattern matched and costs memory a small multiple of the
line.

Two paths. A line is read by one pattern for its header and one scan of its
structured data: the fast path, a few C calls per part. Only when that fails
does :func:`explain_5424` or :func:`explain_3164` walk the same grammar piece
by piece, to say what was expected and at which column (counted from 1 in the
line's characters); a line is never passed on half read.

RFC 3164 has no strict grammar in practice, so its reading follows what
daemons send (see :func:`parse_3164`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from ._syslog_time import Times

__all__ = [
    "FACILITIES",
    "FORMATS",
    "NIL",
    "SEVERITIES",
    "DetectFormat",
    "explain_3164",
    "explain_5424",
    "facility_number",
    "parse_3164",
    "parse_5424",
    "parser_for",
    "severity_number",
]

#: RFC 5424's NILVALUE: a header field, timestamp or structured data that is not there.
NIL = "-"

#: Facility names by number (0 to 23), as syslog.h and rsyslog spell them.
FACILITIES = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "audit",
    "alert",
    "clock",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
)
#: Severity names by number (0 to 7), as syslog.h spells them.
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

#: Other names a formatter accepts (the spellings of logger(1) and syslog.h's deprecated ones).
_FACILITY_ALIASES = {"security": 4, "logaudit": 13, "logalert": 14, "cron2": 15}
_SEVERITY_ALIASES = {
    "emergency": 0,
    "panic": 0,
    "critical": 2,
    "error": 3,
    "warn": 4,
    "informational": 6,
}
_FACILITY_NUMBERS = {**{name: n for n, name in enumerate(FACILITIES)}, **_FACILITY_ALIASES}
_SEVERITY_NUMBERS = {**{name: n for n, name in enumerate(SEVERITIES)}, **_SEVERITY_ALIASES}

#: What each priority (0 to 191), by its digits, gives: itself, facility, severity and their names.
_PRIORITIES = {str(p): (p, p >> 3, p & 7, FACILITIES[p >> 3], SEVERITIES[p & 7]) for p in range(192)}
_NO_PRIORITY = (None, None, None, None, None)


def _number(value: Any, names: dict[str, int], top: int, what: str, example: str) -> int:
    if type(value) is int and 0 <= value <= top:
        return value
    if isinstance(value, str):
        found = names.get(value.lower())
        if found is not None:
            return found
        if value.isdecimal() and value.isascii() and int(value) <= top:
            return int(value)
    raise ValueError(f"{what} must be a number from 0 to {top} or a name such as {example!r}, not {value!r}")


def facility_number(value: Any) -> int:
    """:returns: the facility ``value`` names (a number 0 to 23, or a name such as ``"local4"``).

    :raises ValueError: for anything else.
    """
    return _number(value, _FACILITY_NUMBERS, 23, "facility", "local4")


def severity_number(value: Any) -> int:
    """:returns: the severity ``value`` names (a number 0 to 7, or a name such as ``"warning"``).

    :raises ValueError: for anything else.
    """
    return _number(value, _SEVERITY_NUMBERS, 7, "severity", "warning")


# -- patterns ----------------------------------------------------------------
#
# Each one has a single way to match a given text (see the module): follow that
# rule when changing them.

#: RFC 3339 as RFC 5424 restricts it: upper-case T and Z, at most 6 fraction digits.
_TIME_5424 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)"
#: The same with the offset optional: rsyslog's high-precision RFC 3164 stamps.
_TIME_ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)?"
#: RFC 3164's ``Mmm dd hh:mm:ss``: the day padded by a space or a zero, or not at all; an optional fraction.
_TIME_BSD = r"[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d(?:\.\d{1,6})?"
#: SD-NAME: 1 to 32 printable ASCII characters but ``=``, space, ``]`` and ``"``.
_SD_NAME = r"[!#-<>-\\^-~]{1,32}"
#: PARAM-VALUE: anything, ``\\`` taking the next character with it; read leniently: an
#: unescaped ``]`` inside the quotes is taken as it is. What :func:`_value_end` reads.
_SD_VALUE = r'[^"\\]*(?:\\.[^"\\]*)*'
#: SD-ELEMENT; STRUCTURED-DATA that is not the NILVALUE is one or more of them, what
#: :func:`_read_structured_data` reads (not by this pattern: see the module).
_SD_ELEMENT = rf'\[{_SD_NAME}(?: {_SD_NAME}="{_SD_VALUE}")*\]'

#: The RFC 5424 header, up to the space before the structured data.
_HEAD_5424 = re.compile(
    rf"<(\d{{1,3}})>([1-9]\d{{0,2}}) ({NIL}|{_TIME_5424}) ([!-~]{{1,255}}) ([!-~]{{1,48}}) ([!-~]{{1,128}})"
    r" ([!-~]{1,32}) "
)
_SD_NAME_CHARS = re.compile(r"[!#-<>-\\^-~]*")
#: An element's ``[`` and SD-ID; a parameter whose value holds no backslash.
_SD_ID = re.compile(rf"\[({_SD_NAME})(?=[ \]])")
_SD_PLAIN_PARAM = re.compile(rf' ({_SD_NAME})="([^"\\]*)"')
#: A '"' that no backslash takes, in a line whose backslash pairs are hidden.
_UNESCAPED_QUOTE = re.compile(r'(?<!\\)"')
_SD_ESCAPE = re.compile(r'\\([\\"\]])')
_FIRST_GROUP = operator.itemgetter(1)
#: A tag as daemons write it, ``name:`` or ``name[pid]:``, or ``name[pid]`` as
#: rsyslog's file formats write the tag of an RFC 5424 message; then a space or the end.
_TAG = r"([^\s\[\]:]+)(?:\[([^\s\]]+)\]:?|:)(?: |\Z)"
#: An RFC 3164 line (see :func:`parse_3164`): the priority if any, the timestamp,
#: then a space and (1) a tag, no host; (2) a host (a word ended by a space or the
#: end), then a tag if the next word is one; (3) a space: the first word is
#: empty; (4) nothing. The message is the rest. Groups: priority, BSD time, ISO
#: time, tag, pid, host, tag, pid, message.
_LINE_3164 = re.compile(
    rf"(?:<(\d{{1,3}})>)?(?:({_TIME_BSD})|({_TIME_ISO}))(?:\Z| (?:{_TAG}|([^ ]+)(?: |\Z)(?:{_TAG})?| |))(.*)",
    re.DOTALL,
)
#: What makes a line RFC 5424 when the format is detected: after ``<PRI>``, a
#: version of 1 to 3 digits (an RFC 3164 ISO timestamp has 4 and a ``-``).
_LOOKS_5424 = re.compile(r"<\d*>\d{1,3}(?![\d-])")


# -- RFC 5424 ----------------------------------------------------------------


def _unescape(value: str) -> str:
    # A backslash before anything but ", \ and ] stays, with that character
    # (RFC 5424 6.3.3). The replacement is a C function, not a template:
    # expanding "\1" costs a Python call per escape.
    return _SD_ESCAPE.sub(_FIRST_GROUP, value) if "\\" in value else value


def _hide_pairs(text: str) -> str:
    """``text`` with each pair of backslashes made two NULs: a backslash left is one that takes the next character.

    Only where a run of backslashes starts after a character that is not one
    (as a value's first does, after its ``"``); the columns stay.
    """
    return text.replace("\\\\", "\0\0")


def _value_end(masked: str, start: int) -> int:
    """Where the PARAM-VALUE at ``start`` ends, what :data:`_SD_VALUE` matches there: its closing ``"``,
    else the end of the line, or a last backslash with nothing after it to take.

    :param masked: the line with its backslash pairs hidden (:func:`_hide_pairs`).
    """
    quote = _UNESCAPED_QUOTE.search(masked, start)
    if quote is not None:
        return quote.start()
    last = len(masked)
    return last - 1 if last > start and masked[last - 1] == "\\" else last


def _read_structured_data(text: str, position: int) -> tuple[dict[str, dict[str, Any]], int] | None:
    """Read the elements of structured data from ``position`` (a ``[``): SD-ID to parameters, and the column after.

    As many whole elements (:data:`_SD_ELEMENT`) as follow one another; ``None``
    when one that starts is not whole (the caller explains). A parameter named
    more than once keeps every value, in order, as a list.

    :raises ValueError: for an SD-ID given twice (RFC 5424 6.3.2), once its second element is read.
    """
    found: dict[str, dict[str, Any]] = {}
    sd_id_match = _SD_ID.match
    param_match = _SD_PLAIN_PARAM.match
    masked = None
    while True:
        element = position
        head = sd_id_match(text, position)
        if head is None:
            return None
        sd_id = head.group(1)
        params: dict[str, Any] = {}
        position = head.end()
        while not text.startswith("]", position):
            plain = param_match(text, position)
            if plain is not None:
                name, value = plain.groups()
                position = plain.end()
            else:
                # A value with a backslash, or no parameter at all.
                if not text.startswith(" ", position):
                    return None
                position += 1
                end = _SD_NAME_CHARS.match(text, position).end()  # type: ignore[union-attr]  # "*" always matches
                if not 0 < end - position <= 32 or not text.startswith('="', end):
                    return None
                name = text[position:end]
                position = end + 2
                if masked is None:
                    masked = _hide_pairs(text)
                end = _value_end(masked, position)
                if not text.startswith('"', end):
                    return None
                value = _unescape(text[position:end])
                position = end + 1
            if name in params:
                held = params[name]
                if type(held) is list:
                    held.append(value)
                else:
                    params[name] = [held, value]
            else:
                params[name] = value
        position += 1
        if sd_id in found:
            raise ValueError(f"RFC 5424: SD-ID {sd_id!r} appears twice in the structured data, at column {element + 1}")
        found[sd_id] = params
        if not text.startswith("[", position):
            return found, position


def _priority_error(form: str, digits: str) -> ValueError:
    if len(digits) > 3:
        return ValueError(f"{form}: priority {digits} has {len(digits)} digits (1 to 3: 0 to 191), at column 2")
    return ValueError(f"{form}: priority {digits} is out of range (0 to 191), at column 2")


def _priority(form: str, digits: str) -> tuple[Any, ...]:
    """The priority of 1 to 3 digits and its parts (see :data:`_PRIORITIES`), leading zeros allowed.

    :raises ValueError: for a priority beyond 191.
    """
    parts = _PRIORITIES.get(digits)
    if parts is None:
        parts = _PRIORITIES.get(str(int(digits)))
        if parts is None:
            raise _priority_error(form, digits)
    return parts


def parse_5424(text: str, times: Times) -> dict[str, Any]:
    """Read an RFC 5424 line into its fields.

    :raises ValueError: naming what is wrong and the column.
    """
    head = _HEAD_5424.match(text)
    if head is None:
        raise ValueError(explain_5424(text))
    return _fields_5424(text, head, times)


def _fields_5424(text: str, head: re.Match[str], times: Times) -> dict[str, Any]:
    pri, version, stamp, host, app, procid, msgid = head.groups()
    priority, facility, severity, facility_name, severity_name = _PRIORITIES.get(pri) or _priority("RFC 5424", pri)
    if version != "1":
        raise ValueError(f"RFC 5424: version {version} is not supported (only 1), at column {head.start(2) + 1}")
    position = head.end()
    if text.startswith(NIL, position):
        sd = None
        position += 1
    else:
        read = _read_structured_data(text, position) if text.startswith("[", position) else None
        if read is None:
            raise ValueError(explain_5424(text))
        sd, position = read
    if position == len(text):
        message = None
    elif text[position] == " ":
        message = text[position + 1 :]
        if message.startswith("\ufeff"):
            message = message[1:]
    else:
        raise ValueError(explain_5424(text))
    if stamp == NIL:
        timestamp = None
    else:
        try:
            timestamp = times.offset_time(stamp)
        except ValueError as exc:
            raise ValueError(f"RFC 5424: timestamp {stamp!r} at column {head.start(3) + 1}: {exc}") from None
    return {
        "priority": priority,
        "facility": facility,
        "severity": severity,
        "facility_name": facility_name,
        "severity_name": severity_name,
        "version": 1,
        "timestamp": timestamp,
        "host": None if host == NIL else host,
        "app": None if app == NIL else app,
        "procid": None if procid == NIL else procid,
        "msgid": None if msgid == NIL else msgid,
        "structured_data": sd,
        "message": message,
    }


# -- RFC 3164 ----------------------------------------------------------------


def parse_3164(text: str, times: Times) -> dict[str, Any]:
    """Read an RFC 3164 (BSD) line into its fields, as daemons write them.

    ``[<PRI>]TIMESTAMP [HOST ][TAG[[PID]]: ]MSG``. The priority may be missing
    (lines from files); the timestamp is ``Mmm dd hh:mm:ss`` (one or two spaces
    before the day, an optional fraction) or ISO 8601 (rsyslog's high-precision
    form, its offset optional). The first word after the timestamp is the host,
    unless it is a tag (``name:``, ``name[pid]:``, or ``name[pid]`` as rsyslog
    writes the tag of an RFC 5424 message in its file formats), as local
    daemons write without a host; the word after the host is the tag only if
    it has that form, else there is no tag and the message starts there. The
    message is the rest, exactly.

    :raises ValueError: naming what is wrong and the column.
    """
    line = _LINE_3164.match(text)
    if line is None:
        raise ValueError(explain_3164(text))
    return _fields_3164(line, times)


def _fields_3164(line: re.Match[str], times: Times) -> dict[str, Any]:
    pri, bsd, iso, app, procid, host, other_app, other_procid, message = line.groups()
    if pri is None:
        parts: tuple[Any, ...] = _NO_PRIORITY
    else:
        parts = _PRIORITIES.get(pri) or _priority("RFC 3164", pri)
    try:
        timestamp = times.wall_time(bsd) if bsd is not None else times.offset_time(iso)
    except ValueError as exc:
        column = line.start(2 if bsd is not None else 3) + 1
        raise ValueError(f"RFC 3164: timestamp {bsd or iso!r} at column {column}: {exc}") from None
    if host is not None:
        app, procid = other_app, other_procid
    priority, facility, severity, facility_name, severity_name = parts
    return {
        "priority": priority,
        "facility": facility,
        "severity": severity,
        "facility_name": facility_name,
        "severity_name": severity_name,
        "version": None,
        "timestamp": timestamp,
        "host": host,
        "app": app,
        "procid": procid,
        "msgid": None,
        "structured_data": None,
        "message": message,
    }


class DetectFormat:
    """Read an RFC 5424 line, or else an RFC 3164 one (``format = "auto"``).

    A line is RFC 5424 when a version (1 to 3 digits, then neither a digit nor
    a ``-``) follows its ``<PRI>``; the errors of such a line are RFC 5424's.
    No line fits both grammars (after ``<PRI>`` RFC 3164 has a month name or a
    four-digit year and a ``-``), so the grammar of the last line is tried
    first: a stream rarely changes, and a miss costs one failed match.
    """

    def __init__(self) -> None:
        self.rfc3164_first = False

    def parse(self, text: str, times: Times) -> dict[str, Any]:
        """Read ``text`` with the grammar it has.

        :raises ValueError: naming what is wrong and the column.
        """
        if self.rfc3164_first:
            line = _LINE_3164.match(text)
            if line is not None:
                return _fields_3164(line, times)
        head = _HEAD_5424.match(text)
        if head is not None:
            self.rfc3164_first = False
            return _fields_5424(text, head, times)
        if _LOOKS_5424.match(text):
            raise ValueError(explain_5424(text))
        line = _LINE_3164.match(text)
        if line is None:
            raise ValueError(explain_3164(text, detected=True))
        self.rfc3164_first = True
        return _fields_3164(line, times)


#: What ``format`` may be when reading.
FORMATS = ("auto", "rfc5424", "rfc3164")


def parser_for(form: str) -> Callable[[str, Times], dict[str, Any]]:
    """:returns: the reader of ``form``: ``parse(text, times)``, raising ``ValueError`` for a bad line."""
    if form == "auto":
        # The bound method: calling it costs less than calling an instance.
        return DetectFormat().parse
    return parse_5424 if form == "rfc5424" else parse_3164


# -- saying what is wrong ----------------------------------------------------
#
# These run only on lines the fast path refused, so they may take their time
# (still linear): they walk the same grammar one piece at a time.

_PRINTABLE = re.compile(r"[!-~]*")
_DIGITS = re.compile(r"\d*")
_PIECE_5424_TIME = re.compile(rf"{NIL}|{_TIME_5424}")
_PIECE_3164_TIME = re.compile(rf"{_TIME_BSD}|{_TIME_ISO}")


def _show(char: str) -> str:
    return f"{char!r} (U+{ord(char):04X})" if not char.isprintable() or char == " " else repr(char)


def _at(text: str, position: int) -> str:
    """``"at column N"``, or that the line ends there."""
    if position >= len(text):
        return f"where the line ends (column {position + 1})"
    return f"at column {position + 1}, found {_show(text[position])}"


def _explain_priority(text: str, form: str) -> tuple[int, str | None]:
    """Check ``<PRI>`` at the start: the column after it, or what is wrong."""
    if not text.startswith("<"):
        return 0, f"{form}: expected '<' and the priority {_at(text, 0)}"
    digits = _DIGITS.match(text, 1)
    assert digits is not None
    end = digits.end()
    if end == 1:
        return 0, f"{form}: expected the priority (a number from 0 to 191) {_at(text, 1)}"
    if not text.startswith(">", end):
        return 0, f"{form}: expected '>' after the priority {_at(text, end)}"
    if end - 1 > 3 or int(digits.group()) > 191:
        return 0, str(_priority_error(form, digits.group()))
    return end + 1, None


def _explain_field(text: str, position: int, name: str, limit: int, chars: re.Pattern[str], what: str) -> str | None:
    """Check a field of 1 to ``limit`` characters of ``chars`` at ``position``; ``None`` when it is right.

    :param what: what the characters are, for the message.
    """
    run = chars.match(text, position)
    assert run is not None
    end = run.end()
    if end == position:
        if position >= len(text):
            return f"RFC 5424: expected {name} {_at(text, position)}"
        if text[position] == " ":
            return f"RFC 5424: {name} is empty (a second space) at column {position + 1}"
        if "!" <= text[position] <= "~":
            return f"RFC 5424: expected {name} {_at(text, position)}"
        return f"RFC 5424: {name} must be {what}, {_at(text, position)}"
    if end - position > limit:
        return f"RFC 5424: {name} is longer than {limit} characters, at column {position + 1}"
    return None


def explain_5424(text: str) -> str:
    """Say why ``text`` is not an RFC 5424 line: what was expected, at which column.

    Only for a line the fast path refused; never raises.
    """
    try:
        return _explain_5424(text) or "RFC 5424: the line does not follow the grammar"
    except Exception as exc:  # noqa: BLE001 - explaining must not fail; the line is refused either way
        return f"RFC 5424: the line does not follow the grammar ({type(exc).__name__} while explaining)"


def _explain_5424(text: str) -> str | None:
    position, wrong = _explain_priority(text, "RFC 5424")
    if wrong:
        return wrong
    version = _DIGITS.match(text, position)
    assert version is not None
    if version.end() == position or text[position] == "0" or version.end() - position > 3:
        return f"RFC 5424: expected the version 1 {_at(text, position)}"
    if version.group() != "1":
        return f"RFC 5424: version {version.group()} is not supported (only 1), at column {position + 1}"
    position = version.end()
    if not text.startswith(" ", position):
        return f"RFC 5424: expected a space after the version {_at(text, position)}"
    position += 1
    stamp = _PIECE_5424_TIME.match(text, position)
    if stamp is None:
        return (
            "RFC 5424: expected the timestamp (YYYY-MM-DDThh:mm:ss, up to 6 fraction digits, then Z or +hh:mm)"
            f" or '-' {_at(text, position)}"
        )
    position = stamp.end()
    if not text.startswith(" ", position):
        return f"RFC 5424: expected a space after the timestamp {_at(text, position)}"
    position += 1
    for name, limit in (("HOSTNAME", 255), ("APP-NAME", 48), ("PROCID", 128), ("MSGID", 32)):
        wrong = _explain_field(text, position, name, limit, _PRINTABLE, "printable ASCII")
        if wrong:
            return wrong
        position = _PRINTABLE.match(text, position).end()  # type: ignore[union-attr]
        if position < len(text) and text[position] != " ":
            return f"RFC 5424: {name} must be printable ASCII, {_at(text, position)}"
        if position == len(text):
            return f"RFC 5424: expected a space after {name} {_at(text, position)}"
        position += 1
    if text.startswith(NIL, position):
        position += 1
    elif text.startswith("[", position):
        wrong, position = _explain_structured_data(text, position)
        if wrong:
            return wrong
    else:
        return f"RFC 5424: expected the structured data ('[' or '-') {_at(text, position)}"
    if position < len(text) and text[position] != " ":
        return f"RFC 5424: expected a space before the message {_at(text, position)}"
    return None


def _explain_structured_data(text: str, position: int) -> tuple[str | None, int]:
    """Walk the elements from ``position`` (a ``[``): what is wrong, or ``None`` and the column after them."""
    masked = _hide_pairs(text)
    while text.startswith("[", position):
        position += 1
        wrong = _explain_field(text, position, "SD-ID", 32, _SD_NAME_CHARS, 'printable ASCII but =, ], " and space')
        if wrong:
            return wrong, position
        position = _SD_NAME_CHARS.match(text, position).end()  # type: ignore[union-attr]
        while not text.startswith("]", position):
            if not text.startswith(" ", position):
                return f"RFC 5424: expected a space, a parameter or ']' in the structured data {_at(text, position)}", 0
            position += 1
            wrong = _explain_field(
                text, position, "PARAM-NAME", 32, _SD_NAME_CHARS, 'printable ASCII but =, ], " and space'
            )
            if wrong:
                return wrong, position
            position = _SD_NAME_CHARS.match(text, position).end()  # type: ignore[union-attr]
            if not text.startswith('="', position):
                return f"RFC 5424: expected '=\"' after the parameter name {_at(text, position)}", 0
            opened = position + 1
            position = _value_end(masked, opened + 1)
            if not text.startswith('"', position):
                return f"RFC 5424: the parameter value opened at column {opened + 1} is not closed by '\"'", 0
            position += 1
        position += 1
    return None, position


def explain_3164(text: str, detected: bool = False) -> str:
    """Say why ``text`` is not an RFC 3164 line: what was expected, at which column.

    :param detected: the format was being detected (the message then names both).
    """
    form = "syslog" if detected else "RFC 3164"
    position = 0
    if text.startswith("<"):
        position, wrong = _explain_priority(text, form)
        if wrong:
            return wrong
    stamp = _PIECE_3164_TIME.match(text, position)
    if stamp is None:
        expected = "a timestamp ('Mmm dd hh:mm:ss' or ISO 8601 'YYYY-MM-DDThh:mm:ss')"
        if detected:
            expected = (
                "an RFC 5424 version after '<PRI>' or an RFC 3164 timestamp ('Mmm dd hh:mm:ss' or ISO 8601)"
                if position
                else "'<PRI>' or an RFC 3164 timestamp ('Mmm dd hh:mm:ss' or ISO 8601)"
            )
        return f"{form}: expected {expected} {_at(text, position)}"
    return f"{form}: expected a space after the timestamp {_at(text, stamp.end())}"
