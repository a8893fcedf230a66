"""Hostile lines and memory: the CEF header and RFC 5424 structured data are scanned, not matched (#19).

Python's :mod:`re` keeps backtracking state for each repetition of a group,
so the patterns these parsers had took 75-150 bytes a character: 154 MB for
a 1 MiB CEF header field, 70-125 MB for 1 MiB of structured data. They are now
read with ``str.find`` and patterns of one repeated character class.

* The scanners give what the old patterns gave, fields or error messages,
  on generated short lines (hypothesis); the old patterns and the code that
  used them are kept here as the reference.
* Lines of 1 MiB (the default ``max_line``) of hostile shapes are parsed or
  refused within a gross memory bound, measured with :mod:`tracemalloc`.
"""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat import text
from deadbeat.text import _cef
from deadbeat.text import _syslog_grammar as grammar

MIB = 1 << 20

# -- the reference: the patterns as they were --------------------------------

OLD_HEADER_FIELD = re.compile(r"((?:[^|\\]|\\.)*)\|")
OLD_KEY = re.compile(r"(?:^|(?<= ))([A-Za-z0-9_.\[\]-]+)=")

OLD_SD_NAME = r"[!#-<>-\\^-~]{1,32}"
OLD_SD_VALUE = r'[^"\\]*(?:\\.[^"\\]*)*'
OLD_SD_ELEMENT = rf'\[{OLD_SD_NAME}(?: {OLD_SD_NAME}="{OLD_SD_VALUE}")*\]'
OLD_SD = re.compile(rf"(?:{OLD_SD_ELEMENT})+", re.DOTALL)
OLD_SD_PARTS = re.compile(rf'\[({OLD_SD_NAME})| ({OLD_SD_NAME})="({OLD_SD_VALUE})"', re.DOTALL)
OLD_VALUE = re.compile(OLD_SD_VALUE, re.DOTALL)


def old_parse_cef(line: str) -> dict[str, Any]:
    """text.cef_parse as it was, with its header pattern and its list of keys."""
    start = line.find("CEF:")
    if start < 0:
        raise ValueError("not a CEF record: no 'CEF:'")
    position = start + 4
    header: list[str] = []
    for _ in range(7):
        found = OLD_HEADER_FIELD.match(line, position)
        if found is None:
            raise ValueError(f"CEF header has {len(header)} of its 7 '|'-separated fields")
        value = found.group(1)
        header.append(_cef._HEADER_ESCAPE.sub(r"\1", value) if "\\" in value else value)
        position = found.end()
    fields: dict[str, Any] = dict(zip(_cef.CEF_HEADER, header, strict=True))
    if not fields["cef_version"].isdigit():
        raise ValueError(f"CEF version {fields['cef_version']!r} is not a number")
    extension = line[position:].rstrip("\r\n")
    pairs: dict[str, str] = {}
    keys = list(OLD_KEY.finditer(extension))
    if extension.strip() and (not keys or extension[: keys[0].start()].strip()):
        raise ValueError(f"CEF extension does not start with key=value: {extension[:40]!r}")
    for number, key in enumerate(keys):
        end = keys[number + 1].start() if number + 1 < len(keys) else len(extension)
        pairs[key.group(1)] = _cef._unescape_value(extension[key.end() : end].rstrip(" "))
    fields["extensions"] = pairs
    prefix = line[:start].rstrip()
    if prefix:
        fields["prefix"] = prefix
    return fields


def old_structured_data(sd: str, start: int) -> dict[str, dict[str, Any]]:
    """The elements of structured data matched by OLD_SD, as they were read."""
    found: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {}
    for sd_id, name, value in OLD_SD_PARTS.findall(sd):
        if sd_id:
            if sd_id in found:
                again = [part.start() for part in OLD_SD_PARTS.finditer(sd) if part.group(1) == sd_id][1]
                raise ValueError(
                    f"RFC 5424: SD-ID {sd_id!r} appears twice in the structured data, at column {start + again + 1}"
                )
            params = found[sd_id] = {}
        elif name in params:
            held = params[name]
            if type(held) is list:
                held.append(grammar._unescape(value))
            else:
                params[name] = [held, grammar._unescape(value)]
        else:
            params[name] = grammar._unescape(value)
    return found


def old_after_header(text: str, position: int) -> tuple[Any, Any]:
    """What RFC 5424 parsing made of the line from the structured data on, as it was: (structured data, message)."""
    if text.startswith("-", position):
        sd = None
        position += 1
    else:
        found = OLD_SD.match(text, position)
        if found is None:
            raise ValueError(grammar.explain_5424(text))
        sd = old_structured_data(found.group(), position)
        position = found.end()
    if position == len(text):
        message = None
    elif text[position] == " ":
        message = text[position + 1 :]
        if message.startswith("\ufeff"):
            message = message[1:]
    else:
        raise ValueError(grammar.explain_5424(text))
    return sd, message


def outcome(call: Callable[[], Any]) -> Any:
    """What ``call`` returns, or its ValueError's message."""
    try:
        return call()
    except ValueError as exc:
        return ("error", str(exc))


# -- the same results --------------------------------------------------------

CEF_PIECES = ["|", "\\", "\\|", "\\\\", "\\\n", "\n", "\r", " ", "=", "\\=", "k=", "a", "0", "é", "CEF:", "x" * 40]
CEF_LINES = st.tuples(
    st.sampled_from(["", "CEF:", "CEF:0|", "host CEF:0|a|b|c|d|", "CEF:0|a|b|c|d|e|f|"]),
    st.text(alphabet="|\\\n\r =k0aé", max_size=30) | st.lists(st.sampled_from(CEF_PIECES), max_size=14).map("".join),
).map("".join)

SD_PIECES = ["[", "]", " ", "x", "y", "=", '="', '"', "\\", "\\\\", '\\"', "\\]", "\n", "é", "-", "a" * 33, '[x a="b"]']
SD_TAILS = st.text(alphabet='[]= "\\xy\né-', max_size=30) | st.lists(st.sampled_from(SD_PIECES), max_size=14).map(
    "".join
)
HEAD_5424 = "<13>1 - h a p m "


class TestSameResults:
    @settings(max_examples=1000)
    @given(CEF_LINES, CEF_LINES)
    def test_cef_header_field_is_the_old_pattern(self, before: str, field: str) -> None:
        """A header field (after a "|") ends where ((?:[^|\\\\]|\\\\.)*)\\| put its "|", or nowhere if that failed."""
        line = f"{before}|{field}"
        start = len(before) + 1
        found = OLD_HEADER_FIELD.match(line, start)
        assert _cef._field_end(_cef._hide_pairs(line), start) == (-1 if found is None else found.end() - 1)

    @settings(max_examples=1000)
    @given(CEF_LINES)
    def test_cef_records_are_read_as_before(self, line: str) -> None:
        """text.cef_parse gives the fields, or the error message, that the old patterns gave."""
        assert outcome(lambda: _cef.parse_cef(line)) == outcome(lambda: old_parse_cef(line))

    @settings(max_examples=1000)
    @given(SD_TAILS, SD_TAILS)
    def test_value_end_is_the_old_pattern(self, before: str, value: str) -> None:
        """A parameter value (after a '"') ends where [^"\\\\]*(?:\\\\.[^"\\\\]*)* stopped (DOTALL)."""
        line = f'{before}"{value}'
        start = len(before) + 1
        found = OLD_VALUE.match(line, start)
        assert grammar._value_end(grammar._hide_pairs(line), start) == found.end()  # type: ignore[union-attr]

    @settings(max_examples=1500)
    @given(SD_TAILS)
    def test_structured_data_is_read_as_before(self, tail: str) -> None:
        """An RFC 5424 line's structured data and message, or its error message, are the old patterns'."""
        line = HEAD_5424 + tail
        new = outcome(lambda: grammar.parse_5424(line, text.SyslogParse()._times))
        old = outcome(lambda: old_after_header(line, len(HEAD_5424)))
        if isinstance(new, dict):
            assert (new["structured_data"], new["message"]) == old
        else:
            assert new == old

    @settings(max_examples=1000)
    @given(SD_TAILS)
    def test_detection_reads_structured_data_as_before(self, tail: str) -> None:
        """format = "auto" reads the same structured data, or gives the same error, as RFC 5424 does."""
        line = HEAD_5424 + tail
        times = text.SyslogParse()._times
        assert outcome(lambda: grammar.DetectFormat().parse(line, times)) == outcome(
            lambda: grammar.parse_5424(line, times)
        )


# -- memory ------------------------------------------------------------------

#: 1 MiB lines (the default max_line) and what each gives: its fields (a check) or the start of its error.
HOSTILE: dict[str, tuple[str, str]] = {
    "cef: escaped pipes, unterminated": ("CEF:0|" + "\\|" * (MIB // 2), "CEF header has 1 of its 7"),
    "cef: escaped pipes": ("CEF:0|" + "\\|" * (MIB // 2) + "|b|c|d|e|f|k=v", "ok"),
    "cef: one long field": ("CEF:0|" + "x" * MIB, "CEF header has 1 of its 7"),
    "cef: backslash run": ("CEF:0|" + "\\" * MIB + "|b|c|d|e|f|k=v", "ok"),
    "cef: backslash run, unterminated": ("CEF:0|" + "\\" * (MIB + 1) + "|", "CEF header has 1 of its 7"),
    "cef: backslash and line feed": ("CEF:0|" + "\\\\" * (MIB // 2) + "\\\n|", "CEF header has 1 of its 7"),
    "cef: many pairs": ("CEF:0|a|b|c|d|e|f|" + "k=v " * (MIB // 4), "ok"),
    "cef: escapes in a value": ("CEF:0|a|b|c|d|e|f|k=" + "\\=" * (MIB // 2), "ok"),
    "sd: unterminated value": (HEAD_5424 + '[x a="' + "b" * MIB, "RFC 5424: the parameter value opened"),
    "sd: unterminated escaped quotes": (HEAD_5424 + '[x a="' + '\\"' * (MIB // 2), "RFC 5424: the parameter value"),
    "sd: backslash run, unterminated": (HEAD_5424 + '[x a="' + "\\" * MIB, "RFC 5424: the parameter value"),
    "sd: backslash run": (HEAD_5424 + '[x a="' + "\\" * MIB + '"] m', "ok"),
    "sd: escaped brackets": (HEAD_5424 + '[x a="' + "\\]" * (MIB // 2) + '"] m', "ok"),
    "sd: many params, no ]": (HEAD_5424 + "[x" + ' a="b"' * (MIB // 6), "RFC 5424: expected a space, a parameter"),
    "sd: many params, then garbage": (HEAD_5424 + "[x" + ' a="b"' * (MIB // 6) + '"', "RFC 5424: expected a space"),
    "sd: many params": (HEAD_5424 + "[x" + ' a="b"' * (MIB // 6) + "] m", "ok"),
    "sd: many elements, then garbage": (HEAD_5424 + "[x]" * (MIB // 3) + "y", "RFC 5424: SD-ID 'x' appears twice"),
    "sd: an element without end": (HEAD_5424 + "[" + "x" * MIB, "RFC 5424: SD-ID is longer than 32"),
}


class TestMemory:
    @pytest.mark.parametrize("shape", HOSTILE)
    def test_a_hostile_line_costs_memory_a_small_multiple_of_its_length(self, shape: str) -> None:
        """A 1 MiB hostile line is parsed or refused using less than 16 times its length in memory.

        A gross bound, not a measure of the parsers (the project keeps no
        timed assertions; a memory bound does not depend on the machine's
        load): tracemalloc's peak while parsing, the fields included. These
        take 0-7x here; the patterns they replaced took 65-150x (154 MB for a
        CEF header field, 125 MB for a run of backslashes in structured data).
        """
        line, expected = HOSTILE[shape]
        cog: Callable[[str], Any] = (
            text.CEFParse() if shape.startswith("cef") else text.SyslogParse(clock=lambda: 1.8e9)
        )
        tracemalloc.start()
        try:
            try:
                (fields,) = cog(line)
                got = "ok"
            except ValueError as exc:
                got = str(exc)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert got.startswith(expected), got[:200]
        if got == "ok" and shape.startswith("cef"):
            assert fields["severity"] == "f" and fields["extensions"]
        elif got == "ok":
            assert fields["structured_data"]["x"] and fields["message"] == "m"
        assert peak < 16 * len(line), f"{shape}: {peak / MIB:.1f} MiB for a line of {len(line) / MIB:.1f} MiB"
