"""Casts: turn a raw setting (from a file or a command-line switch) into a value.

A cast is a function taking the raw value and returning the value to use, or
raising ``ValueError`` for one it cannot take. Each one says, for error messages
and generated documentation, what it accepts (:func:`expected_of`) and what to
call that in a table (:func:`type_name_of`).

None in TOML. TOML has no null, so a setting that may be "none" takes ``false``
for it (:func:`cast_optional`), and JSON's ``null`` works too.
"""

from __future__ import annotations

import codecs
import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "Cast",
    "cast_any",
    "cast_boolean",
    "cast_choice",
    "cast_encoding",
    "cast_file_pattern",
    "cast_file_pattern_list",
    "cast_float",
    "cast_int",
    "cast_list",
    "cast_loglevel",
    "cast_mapping",
    "cast_octal",
    "cast_optional",
    "cast_path",
    "cast_path_list",
    "cast_range",
    "cast_str",
    "cast_str_list",
    "cast_union",
    "expected_of",
    "expects",
    "rebase",
    "require_encoding",
    "type_name_of",
]

Cast = Callable[[Any], Any]


def expects(text: str, type_name: str | None = None) -> Callable[[Cast], Cast]:
    """Decorate a cast with what it accepts.

    :param text: for messages: "expected *text*, got ...".
    :param type_name: for option tables; ``text`` without its article by default.
    """

    def mark(cast: Cast) -> Cast:
        cast.expected = text  # type: ignore[attr-defined]
        cast.type_name = type_name or text.removeprefix("a ").removeprefix("an ")  # type: ignore[attr-defined]
        return cast

    return mark


def expected_of(cast: Cast) -> str:
    """:returns: the human description of what ``cast`` accepts."""
    return getattr(cast, "expected", getattr(cast, "__name__", "a value"))


def type_name_of(cast: Cast) -> str:
    """:returns: a short name of what ``cast`` accepts, for option tables."""
    return getattr(cast, "type_name", expected_of(cast))


@expects("any value", "any")
def cast_any(value: Any) -> Any:
    """Accept the value as it is (the cog checks it)."""
    return value


_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


@expects("a boolean (true/false, yes/no, on/off, 1/0)", "boolean")
def cast_boolean(value: Any) -> bool:
    """Cast to bool; accepts booleans and the usual words."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueError(value)


def _plain_number_text(value: str) -> str:
    """``value`` stripped, if it is written as numbers are in logs and config files.

    Python's ``int`` and ``float`` also read ``4_2`` and digits of other
    scripts (``٤٢``): taken from data, such text is more likely a mistake or a
    trick than a number, so it is refused rather than read silently.
    """
    text = value.strip()
    if not text.isascii() or "_" in text:
        raise ValueError(value)
    return text


@expects("an integer")
def cast_int(value: Any) -> int:
    """Cast to int; accepts integers and integer text: decimal (``007`` is 7), or with ``0x``, ``0o``, ``0b``."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = _plain_number_text(value)
        digits = text[1:] if text[:1] in "+-" else text
        return int(text, 10) if digits.isdigit() else int(text, 0)
    raise ValueError(value)


@expects("a number")
def cast_float(value: Any) -> float:
    """Cast to float; accepts numbers and numeric text, finite only (no ``nan``, ``inf``, nor ``1e999``)."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        number = float(_plain_number_text(value))
    else:
        raise ValueError(value)
    if not math.isfinite(number):
        # JSON cannot hold it, and a comparison with it is always false: refused where it enters.
        raise ValueError(value)
    return number


@expects("a string")
def cast_str(value: Any) -> str:
    """Accept text only; numbers are not silently turned into text."""
    if isinstance(value, str):
        return value
    raise ValueError(value)


@expects(
    'octal digits in quotes from "000" to "777", such as "022" (a bare number is not octal: TOML reads umask = 22 as'
    " twenty-two, 0o26)",
    "octal number",
)
def cast_octal(value: Any) -> int:
    """Cast a permission mask from octal text (``"022"``, ``"0o22"``), ``0`` to ``0o777``.

    A number is refused: a TOML (or JSON) integer has lost how it was written,
    ``umask = 22`` arriving as twenty-two (``0o26``) and ``umask = 0o027`` as
    twenty-three, and neither reading nor refusing can tell which was meant
    but by the text. Written in quotes, the digits are read as octal.
    """
    if isinstance(value, str):
        text = _plain_number_text(value).lower().removeprefix("0o")
        if text and all(digit in "01234567" for digit in text):
            number = int(text, 8)
            if number <= 0o777:
                return number
    raise ValueError(value)


def require_encoding(encoding: Any) -> None:
    """Refuse, for a cog built in Python, an encoding :func:`codecs.lookup` does not find.

    Found when the cog is built, not at the first datum: each datum would go to
    the error output (encoding nothing, as a test, does not look the codec up).

    :raises ValueError: naming the encoding.
    """
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise ValueError(f"unknown encoding {encoding!r} (utf-8, latin-1, ...)") from None
    # rot13, base64, hex, zlib...: codecs Python knows that turn text into text or bytes into
    # bytes; str.encode refuses them, so every datum would fail on them.
    if not getattr(info, "_is_text_encoding", True):
        raise ValueError(f"{encoding!r} is not a text encoding (utf-8, latin-1, ...)")


@expects("the name of a text encoding Python knows, such as utf-8 or latin-1", "encoding")
def cast_encoding(value: Any) -> str:
    """Accept the name of a codec :func:`codecs.lookup` finds (see :func:`require_encoding`)."""
    if not isinstance(value, str):
        raise ValueError(value)
    try:
        require_encoding(value)
    except ValueError:
        raise ValueError(value) from None
    return value


@expects("a file system path", "path")
def cast_path(value: Any) -> str:
    """Cast to a path with ``~`` expanded."""
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if not text or "\0" in text:
            raise ValueError(value)
        return os.path.expanduser(text)
    raise ValueError(value)


cast_path.is_path = True  # type: ignore[attr-defined]


@expects("a glob pattern of file names, or of paths when it holds a '/'", "file pattern")
def cast_file_pattern(value: Any) -> str:
    """Cast to a glob pattern: of a file's name (``"*.gz"``), or of its path when it holds a ``/``.

    Only a pattern with a ``/`` is a path (``~`` expanded, and in a pipeline
    file relative to its directory); a bare name pattern matches in any directory.
    """
    if isinstance(value, str) and value and "\0" not in value:
        return os.path.expanduser(value) if "/" in value else value
    raise ValueError(value)


cast_file_pattern.is_path = lambda value: "/" in value  # type: ignore[attr-defined]


def _plural(cast: Cast) -> str:
    name = type_name_of(cast)
    return name if name.endswith("s") else name + "s"


def cast_list(item_cast: Cast) -> Cast:
    """Build a cast for lists: a list, or comma-separated text on the command line.

    :param item_cast: cast applied to every element.
    """

    of = "" if item_cast is cast_any else f" of {_plural(item_cast)}"

    @expects(f"a list{of}", f"list{of}")
    def cast(value: Any) -> list[Any]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(value)
        return [item_cast(item) for item in value]

    cast.__name__ = f"cast_list({getattr(item_cast, '__name__', 'cast')})"
    cast.item = item_cast  # type: ignore[attr-defined]
    return cast


cast_path_list = cast_list(cast_path)
cast_path_list.__name__ = "cast_path_list"
cast_path_list.__doc__ = "Cast to a list of paths (comma-separated on the command line)."
cast_path_list.item = cast_path  # type: ignore[attr-defined]
cast_file_pattern_list = cast_list(cast_file_pattern)
cast_file_pattern_list.__name__ = "cast_file_pattern_list"
cast_file_pattern_list.__doc__ = "Cast to a list of file patterns (comma-separated on the command line)."
cast_file_pattern_list.item = cast_file_pattern  # type: ignore[attr-defined]
cast_str_list = cast_list(cast_str)
cast_str_list.__name__ = "cast_str_list"


def cast_mapping(value_cast: Cast = cast_any) -> Cast:
    """Build a cast for a table of settings: string keys, values cast by ``value_cast``."""

    @expects(
        f"a table of {_plural(value_cast)}" if value_cast is not cast_any else "a table",
        f"table of {_plural(value_cast)}" if value_cast is not cast_any else "table",
    )
    def cast(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise ValueError(value)
        return {key: value_cast(item) for key, item in value.items()}

    cast.__name__ = f"cast_mapping({getattr(value_cast, '__name__', 'cast')})"
    cast.item = value_cast  # type: ignore[attr-defined]
    return cast


def cast_choice(*choices: str) -> Cast:
    """Build a cast accepting one of ``choices`` (case-insensitive)."""

    @expects("one of " + ", ".join(choices))
    def cast(value: Any) -> str:
        if isinstance(value, str) and value.lower() in {c.lower() for c in choices}:
            return next(c for c in choices if c.lower() == value.lower())
        raise ValueError(value)

    cast.__name__ = f"cast_choice{choices!r}"
    return cast


def cast_optional(inner: Cast) -> Cast:
    """Build a cast that also accepts none: ``None``, ``false`` (TOML's way to say it) or ``""``.

    For a boolean setting ``false`` stays false.
    """
    false_is_none = inner is not cast_boolean

    @expects(f"{expected_of(inner)} or nothing (false)", f"{type_name_of(inner)} or none")
    def cast(value: Any) -> Any:
        if value is None or value == "" or (value is False and false_is_none):
            return None
        return inner(value)

    cast.__name__ = f"cast_optional({getattr(inner, '__name__', 'cast')})"
    cast.inner = inner  # type: ignore[attr-defined]
    return cast


def cast_union(*casts: Cast) -> Cast:
    """Build a cast accepting what any of ``casts`` accepts (the first that does wins)."""

    @expects(" or ".join(expected_of(c) for c in casts), " or ".join(type_name_of(c) for c in casts))
    def cast(value: Any) -> Any:
        for one in casts:
            try:
                return one(value)
            except (ValueError, TypeError):
                continue
        raise ValueError(value)

    cast.__name__ = "cast_union(" + ", ".join(getattr(c, "__name__", "cast") for c in casts) + ")"
    cast.members = casts  # type: ignore[attr-defined]
    return cast


def _bounds_in_words(low: float | None, high: float | None, above: bool) -> str:
    if low is not None and high is not None and not above:
        return f"from {low:g} to {high:g}"
    words = []
    if low is not None:
        words.append(f"above {low:g}" if above else f"of at least {low:g}")
    if high is not None:
        words.append(f"at most {high:g}")
    return " and ".join(words)


def cast_range(inner: Cast, low: float | None = None, high: float | None = None, above: bool = False) -> Cast:
    """Build a cast taking what ``inner`` takes, within bounds.

    :param inner: the cast of the number (:func:`cast_int`, :func:`cast_float`).
    :param low: the least value taken (``None``: no least).
    :param high: the greatest value taken (``None``: no greatest).
    :param above: ``low`` itself is not taken ("more than 0 seconds").
    """
    bounds = _bounds_in_words(low, high, above)

    @expects(f"{expected_of(inner)} {bounds}", f"{type_name_of(inner)} {bounds}")
    def cast(value: Any) -> Any:
        number = inner(value)
        if low is not None and (number <= low if above else number < low):
            raise ValueError(value)
        if high is not None and number > high:
            raise ValueError(value)
        return number

    cast.__name__ = f"cast_range({getattr(inner, '__name__', 'cast')}, {low!r}, {high!r})"
    return cast


def rebase(cast: Cast, value: Any, base: str) -> Any:
    """Resolve the relative paths in ``value`` (already cast by ``cast``) against ``base``.

    A pipeline file's paths are relative to the file's directory, wherever
    ``deadbeat run`` is started. Only values the cast took as paths change;
    ``"-"`` (standard input or output) and absolute paths stay as they are.
    """
    if value is None:
        return None
    is_path = getattr(cast, "is_path", False)
    if is_path:
        # A cast may take only some values as paths (a file pattern with a "/").
        if isinstance(value, str) and value != "-" and not os.path.isabs(value) and (is_path is True or is_path(value)):
            return os.path.join(base, value)
        return value
    inner = getattr(cast, "inner", None)
    if inner is not None:
        return rebase(inner, value, base)
    item = getattr(cast, "item", None)
    if item is not None:
        if isinstance(value, list):
            return [rebase(item, v, base) for v in value]
        if isinstance(value, dict):
            return {k: rebase(item, v, base) for k, v in value.items()}
    members = getattr(cast, "members", None)
    if members is not None:
        for member in members:
            try:
                member(value)
            except (TypeError, ValueError):
                continue
            return rebase(member, value, base)
    return value


_LEVELS = ("debug", "info", "warning", "error", "critical")


@expects("a log level (" + ", ".join(_LEVELS) + ")", "log level")
def cast_loglevel(value: Any) -> str:
    """Cast to a lower-case logging level name."""
    if isinstance(value, str) and value.lower() in _LEVELS:
        return value.lower()
    if isinstance(value, int) and not isinstance(value, bool):
        name = logging.getLevelName(value)
        if isinstance(name, str) and name.lower() in _LEVELS:
            return name.lower()
    raise ValueError(value)
