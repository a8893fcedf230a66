"""JSON lines in and out, with orjson or the standard library ``json``.

The JSON cogs, :func:`loads` and :func:`dumps` take an ``engine``: ``"orjson"``,
``"json"`` (the standard library), or ``"auto"``, the default: orjson when the
``orjson`` extra is installed, else the standard library. A cog chooses its
engine's functions once, when it is built, so that the choice costs nothing per
datum; asking for orjson where it is not installed is an error then.

Both engines give the same results. Reading, the standard library path refuses
what orjson refuses (the tokens ``NaN`` and ``Infinity``, and numbers beyond a
float such as ``1e999``, which it would read as infinity); writing, the orjson
path refuses what the standard library refuses (NaN and infinite floats, which
orjson would write as ``null``; dates and dataclasses). Whatever orjson cannot do
(integers beyond 64 bits, non-string keys) is done by the standard library
instead. The only difference in the text written is how a float in exponent
form is spelt (``1e-6`` against ``1e-06``), which both read back as the same
number; orjson also writes UUIDs and enums, which the standard library refuses.

Nesting. Parsing stops at ``max_depth`` levels (64 by default; a flat object is
1 deep): deeper JSON is a ``ValueError`` naming its depth, so the line goes to the
error output alone, and no cog further down (copying, formatting, rendering an
error record) meets a structure a thousand deep and a ``RecursionError``. The
check costs little: no value nests deeper than its line has ``[`` and ``{``, so
one pass over a whole list's text finds the lines that have more than
``max_depth`` of them, and only their values are looked at. Writing, a datum
nested too deep to write is an error for that datum.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from functools import partial
from itertools import chain, repeat
from operator import contains
from typing import Any, Literal

from deadbeat import movement
from deadbeat.movement import exhaust, only

__all__ = ["JSONFormat", "JSONParse", "dumps", "loads"]

try:
    import orjson
except ImportError:  # pragma: no cover - exercised where the extra is missing
    orjson = None  # type: ignore[assignment]


#: How deep JSON may nest by default (``max_depth``); a flat object is 1 deep.
MAX_DEPTH = 64
#: The largest ``max_depth``: deeper values would bring the cogs that walk them
#: (copying, writing) near Python's recursion limit.
DEPTH_LIMIT = 500

# Lines are joined by NUL to be looked at in one pass: no JSON text holds a NUL
# (not even in a string), so for lines that parsed, each NUL separates two lines.
#
# Every digit becomes a 9, so that a run of 19 digits, the shortest integer
# beyond 64 bits, is one substring search away (bytes.translate runs at C speed).
_DIGITS_AS_NINES = bytes.maketrans(b"012345678", b"999999999")
_NINETEEN_DIGITS = b"9" * 19
# Keeping only the openings (as "[") and the NULs: a line nesting deeper than N
# has more than N openings, which then make a run of N + 1 "[".
_OPENING = bytes.maketrans(b"{", b"[")
_NOT_OPENING = bytes(b for b in range(256) if b not in b"[{\x00")
_CONTAINERS = frozenset({dict, list})


def _joined(lines: list[Any]) -> bytes:
    """``lines`` (all text or all bytes) joined by NUL.

    :raises TypeError: when the lines are not all ``str`` or all bytes.
    """
    if type(lines[0]) is str:
        return "\x00".join(lines).encode("utf-8", "surrogatepass")
    return b"\x00".join(lines)


def _may_hold_long_integer(lines: list[Any]) -> bool:
    """Whether any of ``lines`` (all text or all bytes) has 19 digits in a row.

    :raises TypeError: when the lines are not all ``str`` or all ``bytes``.
    """
    return bool(lines) and _NINETEEN_DIGITS in _joined(lines).translate(_DIGITS_AS_NINES)


class _TooDeep(ValueError):
    """JSON nested deeper than ``max_depth``."""


def check_max_depth(max_depth: Any) -> int:
    """:returns: ``max_depth`` when it is a whole number from 1 to :data:`DEPTH_LIMIT`.

    :raises ValueError: otherwise.
    """
    if type(max_depth) is not int or not 1 <= max_depth <= DEPTH_LIMIT:
        raise ValueError(f"max_depth must be a whole number from 1 to {DEPTH_LIMIT}, not {max_depth!r}")
    return max_depth


def _depth(value: Any) -> int:
    """How deep ``value`` nests (a scalar 0, a flat list or object 1), without recursion."""
    depth = 0
    level = [value] if type(value) in _CONTAINERS else []
    while level:
        depth += 1
        deeper = []
        for item in level:
            deeper += [child for child in (item.values() if type(item) is dict else item) if type(child) in _CONTAINERS]
        level = deeper
    return depth


def _refused(error: ValueError) -> ValueError:
    """The error a parse raises for the error output: nesting as it is, the rest as invalid JSON."""
    if type(error) is _TooDeep:
        return ValueError(str(error))
    return ValueError(f"invalid JSON: {error}")


def _too_deep(depth: int, max_depth: int) -> _TooDeep:
    return _TooDeep(f"JSON nested {depth} deep, more than max_depth {max_depth}")


def _check_depth(text: Any, value: Any, max_depth: int) -> None:
    """Refuse ``value``, parsed from ``text``, when it nests deeper than ``max_depth``.

    Nothing to do for a scalar; two counts of the text for the rest; a walk
    through the value only when the text has more openings than ``max_depth``.

    :raises ValueError: naming the depth.
    """
    if type(value) not in _CONTAINERS:
        return
    if type(text) is str:
        openings = text.count("[") + text.count("{")
    else:
        if isinstance(text, memoryview):
            text = text.tobytes()
        openings = text.count(b"[") + text.count(b"{")
    if openings > max_depth:
        depth = _depth(value)
        if depth > max_depth:
            raise _too_deep(depth, max_depth)


#: Types of values that hold no container and no float: a value of these, or a
#: mapping of them, nests at most 1 deep and holds no integer orjson made a float.
_FLAT_TYPES = frozenset({str, int, bool, type(None)})


def _flat(values: list[Any]) -> bool:
    """Whether every value is of :data:`_FLAT_TYPES`, or a mapping of such values.

    What log records mostly are: then neither nesting nor long integers need
    a look at the text. The test runs at C speed: the types of the values (and
    of the mappings' values) gathered in a set.
    """
    kinds = set(map(type, values))
    if kinds <= _FLAT_TYPES:
        return True
    if kinds != {dict}:
        return False
    return set(map(type, chain.from_iterable(map(dict.values, values)))) <= _FLAT_TYPES


def _all_within_depth(joined: bytes, values: list[Any], max_depth: int) -> bool:
    """Whether none of ``values``, parsed from the lines ``joined`` (see :func:`_joined`), nests too deep.

    One pass keeps the openings of every line; a line nesting deeper than
    ``max_depth`` has more, in a row once the rest is gone. Only when some line
    has that many are they counted line by line, and the values of those lines
    walked.
    """
    openings = joined.translate(_OPENING, _NOT_OPENING)
    if b"[" * (max_depth + 1) not in openings:
        return True
    counts = map(len, openings.split(b"\x00"))
    return all(n <= max_depth or _depth(v) <= max_depth for n, v in zip(counts, values, strict=True))


#: Marks a field that was not there.
_MISSING: Any = object()


def _put_back(datum: dict[str, Any], key: str, value: Any) -> None:
    if value is not _MISSING:
        datum[key] = value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent, refused when it is beyond a float (``1e999``), as orjson does.

    Read as infinity, it could be written by no JSON output: not the datum,
    and not the error record holding it.
    """
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is beyond the range of a float")
    return value


# Made once: json.loads and json.dumps build a new decoder or encoder on every
# call that passes options, which costs more than a short line's parsing.
_std_decode = json.JSONDecoder(parse_constant=_no_constants, parse_float=_finite_float).decode
_std_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_std_encode_sorted = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=True).encode


def _std_loads(text: str | bytes | bytearray | memoryview) -> Any:
    if type(text) is str:
        return _std_decode(text)
    if isinstance(text, memoryview):
        text = text.tobytes()
    return json.loads(text, parse_constant=_no_constants, parse_float=_finite_float)


def _std_loads_within(text: str | bytes | bytearray | memoryview, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON with the standard library, refusing what nests deeper than ``max_depth``."""
    try:
        value = _std_loads(text)
    except RecursionError:
        # Its parser recurses: a thousand levels reach Python's limit.
        raise _TooDeep(f"JSON nested too deep to parse, more than max_depth {max_depth}") from None
    _check_depth(text, value, max_depth)
    escaped = _SURROGATE_ESCAPE.search(text) if isinstance(text, str) else _SURROGATE_ESCAPE_BYTES.search(text)
    if escaped and _holds_surrogate(value):
        # "\ud800" alone: the standard library makes a string no UTF-8 output
        # can write, and the line failed at the output, far from its parser.
        # orjson refuses it, and so does this.
        raise ValueError("a string holds a lone surrogate (an escape such as \\ud800 without its pair): not text")
    return value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _holds_surrogate(value: Any) -> bool:
    """Whether a string in ``value`` (or a key of its mappings) holds a lone surrogate."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_holds_surrogate(k) or _holds_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(map(_holds_surrogate, value))
    return False


def _std_dumps(value: Any, sort_keys: bool = False) -> str:
    return _std_encode_sorted(value) if sort_keys else _std_encode(value)


_NON_FINITE = "Out of range float values are not JSON compliant"


def _holds_non_finite(value: Any) -> bool:
    """Whether NaN or an infinity is in ``value`` (a float, or in its mappings and lists)."""
    kind = type(value)
    if kind is float:
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(map(_holds_non_finite, value.values()))
    if isinstance(value, (list, tuple)):
        return any(map(_holds_non_finite, value))
    return isinstance(value, float) and not math.isfinite(value)


def _all_finite(texts: list[str], values: list[Any]) -> bool:
    """Whether none of ``values`` written as ``texts`` had NaN or infinity (written as null)."""
    # One search through the joined texts costs less than one test per text.
    if "null" not in "\n".join(texts):
        return True
    return not any(_holds_non_finite(v) for t, v in zip(texts, values, strict=True) if "null" in t)


if orjson is not None:
    _orjson_loads = orjson.loads
    _orjson_dumps = orjson.dumps
    _JSONDecodeError = orjson.JSONDecodeError

    def _holds_float(value: Any) -> bool:
        kind = type(value)
        if kind is float:
            return True
        if kind is dict:
            items: Any = value.values()
        elif kind is list:
            items = value
        else:
            return False
        for item in items:
            item_kind = type(item)
            if item_kind is float or ((item_kind is dict or item_kind is list) and _holds_float(item)):
                return True
        return False

    def _fast_loads(text: str | bytes | bytearray | memoryview, max_depth: int = MAX_DEPTH) -> Any:
        """Parse JSON (orjson, or the standard library where orjson cannot), at most ``max_depth`` deep."""
        try:
            value = _orjson_loads(text)
        except _JSONDecodeError:
            return _std_loads_within(text, max_depth)
        # orjson stops at 1024 levels without recursing; checked before
        # anything walks the value.
        _check_depth(text, value, max_depth)
        # orjson reads integers beyond 64 bits as floats, where the standard
        # library keeps them exact. Such an integer has at least 19 digits in a
        # row; the (slower) look at the text is needed only when a float came out.
        if _holds_float(value) and _may_hold_long_integer([text]):
            return _std_loads(text)
        return value

    # Dates and dataclasses are refused, as the standard library refuses them
    # (orjson would write them in a form of its own choosing).
    _PLAIN = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    _SORTED = _PLAIN | orjson.OPT_SORT_KEYS

    def _orjson_writer(sort_keys: bool) -> Callable[[Any], str]:
        """Build ``write(value) -> str``: compact JSON text, UTF-8 characters as they are."""
        option = _SORTED if sort_keys else _PLAIN
        fallback = _std_encode_sorted if sort_keys else _std_encode

        def write(value: Any) -> str:
            try:
                raw = _orjson_dumps(value, option=option)
            except TypeError:
                return fallback(value)
            # orjson writes NaN and infinity as null; the standard library refuses them.
            if b"null" in raw and _holds_non_finite(value):
                raise ValueError(_NON_FINITE)
            return raw.decode()

        write.__qualname__ = f"orjson_writer(sort_keys={sort_keys})"
        return write

    _fast_write = _orjson_writer(False)
    _fast_write_sorted = _orjson_writer(True)

else:
    _orjson_loads = _orjson_dumps = None
    _JSONDecodeError = ValueError  # type: ignore[misc]
    _PLAIN = _SORTED = 0
    _fast_loads = _std_loads_within
    _fast_write = _std_encode
    _fast_write_sorted = _std_encode_sorted


#: The name of a JSON engine: ``"auto"`` (orjson when installed), ``"orjson"`` or ``"json"``.
Engine = Literal["auto", "orjson", "json"]
#: Every engine name.
ENGINES: tuple[str, ...] = ("auto", "orjson", "json")


def _resolve(engine: str) -> str:
    """Say which engine ``engine`` stands for in this process.

    :returns: ``"orjson"`` or ``"json"``.
    :raises ValueError: for an unknown engine, or for orjson when it is not installed.
    """
    if engine == "json":
        return "json"
    if engine == "auto":
        return "json" if orjson is None else "orjson"
    if engine == "orjson":
        if orjson is None:
            raise ValueError(
                "engine 'orjson': orjson is not installed (pip install deadbeat-cogs-text[orjson]); "
                "use engine 'auto' or 'json'"
            )
        return "orjson"
    raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, not {engine!r}")


#: Each engine's whole parse, fallbacks and the depth check included: ``parse(text, max_depth)``.
_LOADS: dict[str, Callable[[Any, int], Any]] = {"orjson": _fast_loads, "json": _std_loads_within}
#: Each engine's writer, by engine and ``sort_keys``.
_WRITERS: dict[tuple[str, bool], Callable[[Any], str]] = {
    ("orjson", False): _fast_write,
    ("orjson", True): _fast_write_sorted,
    ("json", False): _std_encode,
    ("json", True): _std_encode_sorted,
}


def loads(text: str | bytes | bytearray | memoryview, *, engine: Engine = "auto", max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text.

    :param engine: ``"auto"``, ``"orjson"`` or ``"json"`` (see the module).
    :param max_depth: how deep the value may nest (a flat object is 1 deep), at
        most :data:`DEPTH_LIMIT`.
    :raises ValueError: for text that is not JSON or nests deeper than
        ``max_depth``, or an engine not to be had.
    """
    parse = _LOADS[_resolve(engine)]
    try:
        return parse(text, check_max_depth(max_depth))
    except _TooDeep as exc:
        raise ValueError(str(exc)) from None


def dumps(value: Any, sort_keys: bool = False, *, engine: Engine = "auto") -> str:
    """Write compact JSON text, UTF-8 characters as they are.

    :param sort_keys: sort object keys.
    :param engine: ``"auto"``, ``"orjson"`` or ``"json"`` (see the module).
    :raises ValueError: for NaN or infinity, or an engine not to be had.
    :raises TypeError: for a value JSON cannot hold.
    """
    return _WRITERS[_resolve(engine), bool(sort_keys)](value)


#: What JSONParse takes as the text itself rather than a mapping holding it.
_TEXT = (str, bytes, bytearray, memoryview)


class JSONParse(movement.Cog):
    """Parse JSON text: the parsed object becomes the datum.

    A datum that is text (``str`` or bytes) is replaced by the value parsed from
    it. A datum that is a mapping (what ``fs.read`` and ``fs.tail`` make: the
    line and its event id) has its text read from ``source``, and the parsed
    object, which must be a JSON object, becomes the datum: the object's own
    fields, ``id`` and ``line`` included, are kept as they are, and the reader's
    fields are not mixed in, so neither overwrites the other. The event keeps its
    id all the same: error records and ``event_done`` name the id the datum had
    when it entered the train. To carry reader fields into the object, name them
    in ``keep`` (an object that has a field of that name already is an error, not
    overwritten); to keep the whole datum, give a ``target``.

    A line that is not valid JSON raises ``ValueError`` naming the position, so
    the datum goes to the error output with its event id and the original text;
    so does JSON nested deeper than ``max_depth``, naming the depth (a line of a
    thousand ``[`` costs its own datum, and nothing further down recurses that deep).

    :param source: where the JSON text is (callable or field path), for mapping data.
    :param target: where the parsed value goes in the datum (callable or field
        path); ``false`` makes the parsed value the datum.
    :param keep: fields of a mapping datum to carry into the parsed object
        (without a ``target``), such as ``["id"]``.
    :param engine: ``"orjson"``, ``"json"`` (the standard library) or ``"auto"``:
        orjson when it is installed. Both give the same values.
    :param max_depth: how deep the JSON may nest (a flat object is 1 deep, 64 by
        default, 500 at most); deeper is an error for that datum.
    """

    one_to_one = True

    def __init__(
        self,
        source: movement.FieldGetter = "line",
        target: movement.FieldSetter | None = None,
        keep: Sequence[str] = (),
        engine: Engine = "auto",
        max_depth: int = MAX_DEPTH,
    ) -> None:
        if isinstance(keep, str):
            raise TypeError("keep must be a list of field names, not one string")
        self.source = source
        self.target = target
        self.keep = list(keep)
        self.engine = engine
        self.max_depth = check_max_depth(max_depth)
        chosen = _resolve(engine)
        self._get = movement.getter(source)
        self._set = movement.setter(target) if target is not None else None
        # The engine's functions, chosen once: the whole parse (fallbacks
        # included), and orjson's own loads for the inline fast paths (None
        # with the standard library).
        self._loads = _LOADS[chosen]
        self._orjson_loads = _orjson_loads if chosen == "orjson" else None
        self._parse_each = _orjson_loads if chosen == "orjson" else _std_loads

    def __call__(self, data: Any) -> tuple[Any, ...]:
        if self._set is None and isinstance(data, _TEXT):
            fast = self._orjson_loads
            if fast is not None:
                # The hot path, inline: a flat object of strings, numbers and
                # booleans cannot hold an integer orjson turned into a float.
                try:
                    value = fast(data)
                except _JSONDecodeError:
                    pass
                else:
                    if type(value) is dict:
                        for item in value.values():
                            kind = type(item)
                            if kind is float or kind is dict or kind is list:
                                break
                        else:
                            return (value,)
            try:
                return (self._loads(data, self.max_depth),)
            except ValueError as exc:
                raise _refused(exc) from None
        text = self._get(data)
        try:
            value = self._loads(text, self.max_depth)
        except ValueError as exc:
            raise _refused(exc) from None
        if self._set is not None:
            return (self._set(data, value),)
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, got {type(value).__name__}")
        if self.keep:
            self._carry(data, value)
        return (value,)

    def _carry(self, data: Any, value: dict[str, Any]) -> None:
        """Copy the ``keep`` fields of ``data`` into ``value``, refusing to overwrite."""
        clash = [key for key in self.keep if key in value]
        if clash:
            raise ValueError(f"the JSON object has its own {', '.join(map(repr, clash))}; keep would overwrite it")
        for key in self.keep:
            if key in data:
                value[key] = data[key]

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Parse a list of data at once; the same results as one call per datum.

        The texts are parsed in one list comprehension; the checks for nesting
        and, with orjson, for integers it cannot keep exact are made over the
        whole list at once (one pass over the joined texts). Lines and mappings
        alike become the parsed values. Anything else (invalid JSON, nesting
        deeper than ``max_depth``, a value stored at ``target``, fields to keep,
        long integers) goes datum by datum; on the first datum that fails, a
        :class:`~deadbeat.movement.PartialBatch` hands the train what came before.
        """
        if data and self._set is None and not self.keep:
            fast = self._orjson_loads is not None
            parse = self._parse_each
            try:
                texts: list[Any] | None = None
                if isinstance(data[0], _TEXT):
                    texts = data
                    values = list(map(parse, data))
                elif only(data, dict):
                    texts = list(map(self._get, data))
                    values = list(map(parse, texts))
                    if not only(values, dict):
                        texts = None
                if texts is not None:
                    if not fast and _SURROGATE_ESCAPE_BYTES.search(_joined(texts)):
                        raise ValueError("a surrogate escape: each datum looked at alone")
                    if _flat(values):
                        return values
                    joined = _joined(texts)
                    if not (fast and _NINETEEN_DIGITS in joined.translate(_DIGITS_AS_NINES)) and _all_within_depth(
                        joined, values, self.max_depth
                    ):
                        return values
            except (ValueError, TypeError, LookupError, RecursionError):
                pass  # something to report: datum by datum, which names the bad one
        # On the first datum that fails, the train sends it to the error output and gives us
        # the rest whole again: one bad line does not take the lines after it through this path.
        return movement.call_each(self.__call__, data)


class JSONFormat(movement.Cog):
    """Format data as one line of JSON: by default, the text becomes the datum.

    That is what ``fs.write`` writes, and the fastest way. To keep the datum and
    put the text in a field of it, give a ``target`` (and usually ``exclude`` the
    same field, so that the text of an earlier round is not written into the new).

    :param target: where the JSON text goes (callable or field path); ``false``
        makes the text the datum itself.
    :param source: what to format (callable or field path); ``None`` formats
        the datum without the ``exclude`` keys.
    :param exclude: keys left out when formatting the whole datum.
    :param sort_keys: sort object keys, for output that diffs well.
    :param engine: ``"orjson"``, ``"json"`` (the standard library) or ``"auto"``:
        orjson when it is installed. Both write the same values.
    """

    one_to_one = True

    def __init__(
        self,
        target: movement.FieldSetter | None = None,
        source: movement.FieldGetter | None = None,
        exclude: Sequence[str] = (),
        sort_keys: bool = False,
        engine: Engine = "auto",
    ) -> None:
        if isinstance(exclude, str):
            raise TypeError("exclude must be a list of keys, not one string")
        self.target = target
        self.source = source
        self.exclude = list(exclude)
        self.sort_keys = sort_keys
        self.engine = engine
        chosen = _resolve(engine)
        self._set = movement.setter(target) if target is not None else None
        self._get = movement.getter(source) if source is not None else None
        self._exclude = frozenset(exclude)
        # The engine's functions, chosen once: the writer of one value, and
        # orjson's own dumps with its options for whole lists (None with the
        # standard library, whose writer serves lists too).
        self._write_one = _WRITERS[chosen, bool(sort_keys)]
        self._orjson_dumps = _orjson_dumps if chosen == "orjson" else None
        self._option = _SORTED if sort_keys else _PLAIN
        # The usual set-up: the text goes to the one field left out ("line").
        # That field is taken out before writing and set after, instead of
        # copying every other field into a new mapping.
        self._swap_key: str | None = None
        if source is None and isinstance(target, str) and "." not in target and "\\" not in target:
            self._swap_key = target if self._exclude == {target} else None

    def _write(self, value: Any) -> str:
        try:
            return self._write_one(value)
        except (TypeError, ValueError, RecursionError) as exc:
            # RecursionError: a datum nested a thousand deep fails alone.
            raise ValueError(f"cannot write as JSON: {exc}") from None

    def __call__(self, data: Any) -> tuple[Any, ...]:
        key = self._swap_key
        if key is not None and type(data) is dict:
            saved = data.pop(key, _MISSING)
            try:
                text = self._write(data)
            except ValueError:
                if saved is not _MISSING:
                    data[key] = saved
                raise
            data[key] = text
            return (data,)
        if self._get is not None:
            value = self._get(data)
        elif self._exclude and isinstance(data, dict) and not self._exclude.isdisjoint(data):
            value = {k: v for k, v in data.items() if k not in self._exclude}
        else:
            value = data
        text = self._write(value)
        if self._set is None:
            return (text,)
        return (self._set(data, text),)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Format a list of data at once; the same results as one call per datum.

        The text replacing the excluded field (``target="line"``), or the text
        becoming the datum (``target=None``, when no datum holds an excluded
        key), is written in one loop; otherwise datum by datum.
        """
        if data:
            key = self._swap_key
            if key is not None:
                if only(data, dict):
                    saved = list(map(dict.pop, data, repeat(key), repeat(_MISSING)))
                    texts = self._write_all(data)
                    if texts is not None:
                        exhaust(map(dict.__setitem__, data, repeat(key), texts))
                        return data
                    # Something to report: the fields go back, and datum by datum below.
                    exhaust(map(_put_back, data, repeat(key), saved))
            elif self._get is None and self._set is None:
                for excluded in self._exclude:
                    # One C-level pass per excluded key; a hit only means the slow way.
                    if any(map(contains, data, repeat(excluded))):
                        break
                else:
                    texts = self._write_all(data)
                    if texts is not None:
                        return texts
        return [text for datum in data for text in self(datum)]

    def _write_all(self, values: list[Any]) -> list[str] | None:
        """The texts of ``values``, or ``None`` when one of them needs a closer look."""
        try:
            dump = self._orjson_dumps
            if dump is None:
                write = self._write_one
                return [write(value) for value in values]
            # All at C speed: the writer with its option bound, then decoding.
            texts = list(map(bytes.decode, map(partial(dump, option=self._option), values)))
        except (TypeError, ValueError, RecursionError):
            return None
        return texts if _all_finite(texts, values) else None
