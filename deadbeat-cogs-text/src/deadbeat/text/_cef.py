"""ArcSight Common Event Format: ``CEF:0|vendor|product|version|id|name|severity|k=v k=v``.

Seven header fields separated by ``|`` (a ``|`` or ``\\`` inside one is
escaped with ``\\``), then the extension: ``key=value`` pairs separated by
spaces, where a value runs to the space before the next ``key=``, so values may
hold spaces; a ``=`` inside a value is written ``\\=``, a backslash ``\\\\``, and
``\\n``/``\\r`` are line breaks. Devices usually send CEF inside syslog, so the
text before ``CEF:`` (the syslog header) is kept as ``prefix``.

Every step is a single scan of the line, by ``str.find`` and expressions
without a repeated group (Python's :mod:`re` keeps state for each repetition
of a group: the header pattern ``((?:[^|\\\\]|\\\\.)*)\\|`` this replaced took
some 150 bytes a character): a field holding a backslash ends at the first
``|`` after no lone backslash once the line's backslash pairs are hidden
(:func:`_field_end`). A hostile line costs time linear in its length and
memory a small multiple of it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from typing import Any

from deadbeat import movement

from ._parsers import Repeated, _FromText, add_pair, check_repeated

__all__ = ["CEF_HEADER", "CEFParse"]

#: The header fields, in order.
CEF_HEADER = (
    "cef_version",
    "device_vendor",
    "device_product",
    "device_version",
    "signature_id",
    "name",
    "severity",
)
#: A "|" that no backslash takes, in a line whose backslash pairs are hidden.
_UNESCAPED_BAR = re.compile(r"(?<!\\)\|")
_HEADER_ESCAPE = re.compile(r"\\([|\\])")
# The replacement is a C function, not the template "\1" (a Python call per escape).
_FIRST_GROUP = operator.itemgetter(1)
# A key starts the text or follows a space, and is followed by an unescaped
# "=" (a key holds no backslash, so the "=" right after it cannot be escaped).
_KEY = re.compile(r"(?:^|(?<= ))([A-Za-z0-9_.\[\]-]+)=")
_VALUE_ESCAPE = re.compile(r"\\([\\=nr])")
_UNESCAPED = {"\\": "\\", "=": "=", "n": "\n", "r": "\r"}


def _hide_pairs(line: str) -> str:
    """``line`` with each pair of backslashes made two NULs: a backslash left is one that takes the next character.

    Only where a run of backslashes starts after a character that is not one
    (as a header field's first does: after ``CEF:`` or ``|``); the columns stay.
    """
    return line.replace("\\\\", "\0\0")


def _field_end(masked: str, start: int) -> int:
    """The column of the ``|`` ending the header field at ``start`` (escapes taken), or -1 when none ends it.

    :param masked: the line with its backslash pairs hidden (:func:`_hide_pairs`).
        A backslash takes the next character, but not a line feed: the field
        then has no end, as with the pattern ``((?:[^|\\\\]|\\\\.)*)\\|`` it replaced.
    """
    bar = _UNESCAPED_BAR.search(masked, start)
    if bar is None or masked.find("\\\n", start, bar.start()) >= 0:
        return -1
    return bar.start()


def _unescape_value(text: str) -> str:
    if "\\" not in text:
        return text
    return _VALUE_ESCAPE.sub(lambda m: _UNESCAPED[m.group(1)], text)


def parse_cef(line: str, repeated: str = "list") -> dict[str, Any]:
    """The fields of one CEF record (see the module).

    :param repeated: what an extension key given more than once becomes (see :func:`add_pair`).

    :raises ValueError: for a line without ``CEF:``, with fewer than seven header fields, or an extension
        that does not start with ``key=``, saying which.
    """
    start = line.find("CEF:")
    if start < 0:
        raise ValueError("not a CEF record: no 'CEF:'")
    position = start + 4
    header: list[str] = []
    masked = None
    for _ in range(7):
        end = line.find("|", position)
        if end >= 0 and line.find("\\", position, end) >= 0:
            if masked is None:
                masked = _hide_pairs(line)
            end = _field_end(masked, position)
        if end < 0:
            raise ValueError(f"CEF header has {len(header)} of its 7 '|'-separated fields")
        value = line[position:end]
        header.append(_HEADER_ESCAPE.sub(_FIRST_GROUP, value) if "\\" in value else value)
        position = end + 1
    fields: dict[str, Any] = dict(zip(CEF_HEADER, header, strict=True))
    if not (fields["cef_version"].isascii() and fields["cef_version"].isdigit()):
        raise ValueError(f"CEF version {fields['cef_version']!r} is not a number")
    extension = line[position:].rstrip("\r\n")
    pairs: dict[str, Any] = {}
    # One key at a time (a list of every match costs some 40 bytes a character on a line of "k=v k=v ...").
    keys = _KEY.finditer(extension)
    key = next(keys, None)
    if extension.strip() and (key is None or extension[: key.start()].strip()):
        raise ValueError(f"CEF extension does not start with key=value: {extension[:40]!r}")
    while key is not None:
        following = next(keys, None)
        end = len(extension) if following is None else following.start()
        name = key.group(1)
        value = _unescape_value(extension[key.end() : end].rstrip(" "))
        if name in pairs:
            add_pair(pairs, name, value, repeated)
        else:
            pairs[name] = value
        key = following
    fields["extensions"] = pairs
    prefix = line[:start].rstrip()
    if prefix:
        fields["prefix"] = prefix
    return fields


class CEFParse(_FromText):
    """Parse ArcSight Common Event Format records (CEF), alone or inside a syslog line.

    The seven header fields become ``cef_version``, ``device_vendor``,
    ``device_product``, ``device_version``, ``signature_id``, ``name`` and
    ``severity`` (text, escapes undone); the extension's ``key=value`` pairs
    go into the mapping ``extensions`` (values are text; escaped ``\\=``,
    ``\\\\``, ``\\n`` and ``\\r`` undone); what came before ``CEF:`` (a syslog
    header) into ``prefix``, when there is any. A line without ``CEF:``, or with
    fewer than seven header fields, goes to the error output saying so.

    :param source: where the text is (callable or field path), for mapping data.
    :param target: where the fields go (callable or field path); ``false`` makes
        them the datum, replacing a mapping datum and its raw line.
    :param keep: fields of a mapping datum to carry into the parsed fields
        (without a ``target``), such as ``["id"]``; naming a CEF field is refused.
    :param repeated: what an extension key given more than once becomes:
        ``list`` (every value, in order, in a list), ``error`` (the record goes
        to the error output), ``first`` or ``last`` (that value alone).
    """

    one_to_one = True

    def __init__(
        self,
        source: movement.FieldGetter = "line",
        target: movement.FieldSetter | None = None,
        keep: Sequence[str] = (),
        repeated: Repeated = "list",
    ) -> None:
        check_repeated(repeated)
        self.repeated = repeated
        self.source = source
        self.target = target
        self._setup(keep)
        self._refuse_kept((*CEF_HEADER, "extensions", "prefix"), "a CEF field")

    def __call__(self, data: Any) -> tuple[Any, ...]:
        return self._deliver(data, parse_cef(self._text(data), self.repeated))

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Parse a list of data; the same results as one call per datum, raising where one would (each datum once)."""
        return movement.call_each(self.__call__, data)
