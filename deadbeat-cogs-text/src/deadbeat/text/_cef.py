"""ArcSight Common Event Format: ``CEF:0|vendor|product|version|id|name|severity|k=v k=v``.

Seven header fields separated by ``|`` (a ``|`` or ``\\`` inside one is
escaped with ``\\``), then the extension: ``key=value`` pairs separated by
spaces, where a value runs to the space before the next ``key=``, so values may
hold spaces; a ``=`` inside a value is written ``\\=``, a backslash ``\\\\``, and
``\\n``/``\\r`` are line breaks. Devices usually send CEF inside syslog, so the
text before ``CEF:`` (the syslog header) is kept as ``prefix``.

Every step is a single scan of the line (the expressions below have no nested
repetition), so a hostile line costs time linear in its length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from deadbeat import movement

from ._parsers import _FromText

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
_HEADER_FIELD = re.compile(r"((?:[^|\\]|\\.)*)\|")
_HEADER_ESCAPE = re.compile(r"\\([|\\])")
# A key starts the text or follows a space, and is followed by an unescaped
# "=" (a key holds no backslash, so the "=" right after it cannot be escaped).
_KEY = re.compile(r"(?:^|(?<= ))([A-Za-z0-9_.\[\]-]+)=")
_VALUE_ESCAPE = re.compile(r"\\([\\=nr])")
_UNESCAPED = {"\\": "\\", "=": "=", "n": "\n", "r": "\r"}


def _unescape_value(text: str) -> str:
    if "\\" not in text:
        return text
    return _VALUE_ESCAPE.sub(lambda m: _UNESCAPED[m.group(1)], text)


def parse_cef(line: str) -> dict[str, Any]:
    """The fields of one CEF record (see the module).

    :raises ValueError: for a line without ``CEF:``, with fewer than seven header fields, or an extension
        that does not start with ``key=``, saying which.
    """
    start = line.find("CEF:")
    if start < 0:
        raise ValueError("not a CEF record: no 'CEF:'")
    position = start + 4
    header: list[str] = []
    for _ in range(7):
        found = _HEADER_FIELD.match(line, position)
        if found is None:
            raise ValueError(f"CEF header has {len(header)} of its 7 '|'-separated fields")
        value = found.group(1)
        header.append(_HEADER_ESCAPE.sub(r"\1", value) if "\\" in value else value)
        position = found.end()
    fields: dict[str, Any] = dict(zip(CEF_HEADER, header, strict=True))
    if not fields["cef_version"].isdigit():
        raise ValueError(f"CEF version {fields['cef_version']!r} is not a number")
    extension = line[position:].rstrip("\r\n")
    pairs: dict[str, str] = {}
    keys = list(_KEY.finditer(extension))
    if extension.strip() and (not keys or extension[: keys[0].start()].strip()):
        raise ValueError(f"CEF extension does not start with key=value: {extension[:40]!r}")
    for number, key in enumerate(keys):
        end = keys[number + 1].start() if number + 1 < len(keys) else len(extension)
        pairs[key.group(1)] = _unescape_value(extension[key.end() : end].rstrip(" "))
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
    """

    one_to_one = True

    def __init__(
        self,
        source: movement.FieldGetter = "line",
        target: movement.FieldSetter | None = None,
        keep: Sequence[str] = (),
    ) -> None:
        self.source = source
        self.target = target
        self._setup(keep)
        self._refuse_kept((*CEF_HEADER, "extensions", "prefix"), "a CEF field")

    def __call__(self, data: Any) -> tuple[Any, ...]:
        return self._deliver(data, parse_cef(self._text(data)))

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Parse a list of data; the same results as one call per datum, raising where one would."""
        call = self.__call__
        return [call(datum)[0] for datum in data]
