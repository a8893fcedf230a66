"""JSON for the HTTP cogs: data into request bodies, request bodies into data.

deadbeat-cogs-net does not depend on deadbeat-cogs-text, so the HTTP cogs carry
the little JSON they need. orjson is used when it is installed (it is several
times faster than the standard library and writes bytes, which is what a body
is); otherwise the standard library. Both give the same results:

* Writing, NaN and the infinities are refused (orjson alone would write them as
  ``null``, the standard library as tokens no JSON reader takes); what orjson
  cannot write (integers beyond 64 bits, keys that are not strings) is written by
  the standard library; dates, sets and other objects are refused by both.
* Reading, ``NaN`` and ``Infinity`` are refused by both; integers of 19 digits or
  more are read exactly (orjson would round them to floats, so a body that has
  such a run of digits is read by the standard library); bodies must be UTF-8.
* Nesting deeper than ``max_depth`` (64 by default, a flat object is 1 deep) is
  refused, so no cog further down meets a structure a thousand levels deep.

A datum that is already text or bytes is taken as JSON written by an earlier
cog (``text.json_format``) and sent as it is. In a body of JSON lines such a
datum must not hold a line break, which would cut it in two lines.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from itertools import repeat
from operator import contains
from typing import Any

__all__ = ["BodyError", "encode", "encode_all", "parse_document", "parse_lines"]

try:
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is missing
    orjson = None  # type: ignore[assignment]

#: How deep parsed JSON may nest by default; a flat object is 1 deep.
MAX_DEPTH = 64

_NON_FINITE = "NaN and infinite numbers are not JSON"
_LINE_BREAK = "holds a line break: in JSON lines it would be read as two lines"


class BodyError(ValueError):
    """A request body that cannot be read as the JSON its content type says; the message names the line."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Built once: json.dumps and json.loads with options build a new encoder or
# decoder on every call, which costs more than a small document.
_std_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_std_decode = json.JSONDecoder(parse_constant=_refuse_constant).decode


def _holds_non_finite(value: Any) -> bool:
    """Whether NaN or an infinity is in ``value``, a float or anywhere in its mappings and lists."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(map(_holds_non_finite, value.values()))
    if isinstance(value, (list, tuple)):
        return any(map(_holds_non_finite, value))
    return False


def _std_dumps(value: Any) -> bytes:
    try:
        text = _std_encode(value)
    except ValueError as exc:
        if "compliant" in str(exc):  # the standard library's words for NaN and infinity
            raise ValueError(_NON_FINITE) from None
        raise
    return text.encode("utf-8")


if orjson is not None:
    # Dates and dataclasses are refused as the standard library refuses them, so
    # that a pipeline writes the same with or without orjson.
    _OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    _orjson_dumps = orjson.dumps

    def _dumps(value: Any) -> bytes:
        try:
            raw = _orjson_dumps(value, option=_OPTIONS)
        except TypeError:
            return _std_dumps(value)  # big integers, non-text keys; refuses what neither can write
        if b"null" in raw and _holds_non_finite(value):
            raise ValueError(_NON_FINITE)
        return raw

else:  # pragma: no cover - exercised where orjson is missing
    _dumps = _std_dumps


def encode(datum: Any) -> bytes:
    """:returns: the bytes sent for ``datum``: text as UTF-8, bytes as they are, anything else as JSON.

    :raises ValueError: for a value JSON cannot hold (NaN), text that is no UTF-8 (a lone surrogate).
    :raises TypeError: for an object JSON cannot hold (a set, a date).
    """
    kind = type(datum)
    if kind is str:
        return datum.encode("utf-8")  # type: ignore[no-any-return]
    if kind is bytes:
        return datum  # type: ignore[no-any-return]
    if isinstance(datum, (bytearray, memoryview)):
        return bytes(datum)
    return _dumps(datum)


def encode_line(datum: Any) -> bytes:
    """:returns: ``datum`` as one JSON line, without the newline (see :func:`encode`).

    :raises ValueError: also for text or bytes holding a line break.
    """
    piece = encode(datum)
    if b"\n" in piece:
        raise ValueError(f"the datum {_LINE_BREAK}")
    return piece


def encode_all(data: list[Any], lines: bool) -> list[bytes]:
    """:returns: the bytes of each datum of ``data``, in order, as :func:`encode` (``lines``: :func:`encode_line`).

    The usual lists (all text, all mappings) are done by one comprehension, and
    a line break in text is looked for in one pass over the list.

    :raises: what :func:`encode` raises for the first datum that fails.
    """
    if not data:
        return []
    kinds = set(map(type, data))
    if kinds == {str}:
        if lines and any(map(contains, data, repeat("\n"))):
            raise ValueError(f"a datum {_LINE_BREAK}")
        return list(map(str.encode, data))  # UTF-8, strict
    if kinds == {dict}:
        return _dumps_all(data)
    return list(map(encode_line if lines else encode, data))


def _dumps_all(data: list[Any]) -> list[bytes]:
    """Mappings as JSON: one orjson call each, no Python call around it; the checks are per list."""
    if orjson is None:  # pragma: no cover - exercised where orjson is missing
        return list(map(_std_dumps, data))
    try:
        # orjson.dumps(obj, default, option) by position, through map: no Python frame per datum.
        pieces = list(map(_orjson_dumps, data, repeat(None), repeat(_OPTIONS)))
    except TypeError:
        return list(map(_dumps, data))  # datum by datum: the fallbacks, and the error of the one that fails
    # NaN and infinity came out as null: one search through the list finds whether to look closer.
    if b"null" in b"".join(pieces):
        for datum, piece in zip(data, pieces, strict=True):
            if b"null" in piece and _holds_non_finite(datum):
                raise ValueError(_NON_FINITE)
    return pieces


# -- reading -----------------------------------------------------------------------

# orjson reads an integer beyond 64 bits as a rounded float; such an integer has
# 19 digits or more. With every digit made a "9" (bytes.translate, at C speed) a
# plain substring search finds a run of 19, where a regular expression would try
# each digit as a start.
_DIGITS_AS_NINES = bytes.maketrans(b"0123456789", b"9999999999")
_NINETEEN_DIGITS = b"9" * 19
# Nesting: keeping only brackets, braces and newlines, the longest line left is
# the most openings any line has, which bounds how deep its value can nest.
_NOT_STRUCTURE = bytes(set(range(256)) - set(b"[{\n"))
_CONTAINERS = (dict, list)


def _depth(value: Any) -> int:
    """How deep ``value`` nests (a scalar 0, a flat list or object 1), level by level, without recursion."""
    depth = 0
    level = [value] if isinstance(value, _CONTAINERS) else []
    while level:
        depth += 1
        below: list[Any] = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            below += [child for child in children if isinstance(child, _CONTAINERS)]
        level = below
    return depth


def _openings(text: bytes) -> int:
    """No value nests deeper than its text has ``[`` and ``{``: the cheap bound, counted at C speed."""
    return text.count(b"[") + text.count(b"{")


def _check_depth(text: bytes, value: Any, max_depth: int) -> None:
    if _openings(text) > max_depth:
        depth = _depth(value)
        if depth > max_depth:
            raise ValueError(f"JSON nested {depth} deep, more than max_depth {max_depth}")


def _std_loads(text: bytes) -> Any:
    try:
        return _std_decode(text.decode("utf-8"))
    except RecursionError:
        raise ValueError("JSON nested too deep to read") from None


def _loader(text: bytes) -> Callable[[bytes], Any]:
    """The parser for a body: orjson, unless the body has digits orjson would round (or orjson is missing)."""
    if orjson is None or _NINETEEN_DIGITS in text.translate(_DIGITS_AS_NINES):
        return _std_loads
    return orjson.loads  # type: ignore[no-any-return]


def _most_openings_per_line(text: bytes) -> int:
    """The most ``[`` and ``{`` any line of ``text`` has, found at C speed."""
    return max(map(len, text.translate(None, _NOT_STRUCTURE).split(b"\n")))


def _reason(exc: Exception) -> str:
    """What was wrong, for a client: the position within the line and the parser's words."""
    if isinstance(exc, json.JSONDecodeError):  # orjson's error is one too
        return f"column {exc.colno}: {_words(exc.msg)}"
    if isinstance(exc, UnicodeDecodeError):
        return f"byte {exc.start + 1}: not UTF-8"
    return _words(str(exc))


def _words(message: str) -> str:
    """The parser's words, where they speak of its own insides, put as the client's mistake."""
    if "not valid UTF-8" in message:
        return "not UTF-8"  # orjson: "str is not valid UTF-8: surrogates not allowed"
    if "integer string conversion" in message:
        # Python's "use sys.set_int_max_str_digits() to increase the limit" is no advice for a client.
        return f"a number of more than {sys.get_int_max_str_digits()} digits"
    return message


def parse_document(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """:returns: the one JSON document ``body`` holds.

    :raises BodyError: naming the line and column of what is wrong.
    """
    loads = _loader(body)
    try:
        value = loads(body)
        _check_depth(body, value, max_depth)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise BodyError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {_words(exc.msg)}") from None
        raise BodyError(f"invalid JSON: {_reason(exc)}") from None
    return value


def parse_lines(body: bytes, max_depth: int = MAX_DEPTH) -> list[Any]:
    """:returns: the JSON document of every line of ``body`` that is not blank, in order.

    :raises BodyError: naming the first line (counted from 1) that is not JSON.
    """
    lines = body.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # what follows the last newline: nothing
    loads = _loader(body)
    try:
        # The usual body: every line a document, parsed by one comprehension.
        values = [loads(line) for line in lines]
    except (ValueError, RecursionError):
        values = _line_by_line(lines, loads)
    else:
        if _most_openings_per_line(body) > max_depth:
            for number, (line, value) in enumerate(zip(lines, values, strict=True), 1):
                _check_line_depth(number, line, value, max_depth)
        return values
    if _most_openings_per_line(body) > max_depth:
        numbered = [(number, line) for number, line in enumerate(lines, 1) if line.strip()]
        for (number, line), value in zip(numbered, values, strict=True):
            _check_line_depth(number, line, value, max_depth)
    return values


def _line_by_line(lines: list[bytes], loads: Callable[[bytes], Any]) -> list[Any]:
    """Parse line by line, skipping blank lines; the first bad line is the client's error."""
    values = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            values.append(loads(line))
        except (ValueError, RecursionError) as exc:
            reason = _reason(exc)
            where = f" at {reason}" if reason.startswith(("column", "byte")) else f": {reason}"
            raise BodyError(f"line {number}: invalid JSON{where}") from None
    return values


def _check_line_depth(number: int, line: bytes, value: Any, max_depth: int) -> None:
    try:
        _check_depth(line, value, max_depth)
    except ValueError as exc:
        raise BodyError(f"line {number}: {exc}") from None
