"""Turning the bytes read from a file into data, one per complete line.

A chunk read from a file rarely ends at a newline: what follows the last newline
is kept as the unfinished line until more arrives. Each complete line becomes a
datum: the line (decoded, without its newline), with an event id
``FILE:OFFSET`` (the byte offset of the line's start), placed by the supply's
``line_setter`` and ``id_setter``.

Nothing read is dropped without a word: a line that does not decode, a line
longer than ``max_line`` and a line whose setter raises each go to the error
output, naming the file and the offset, and the lines around them go on.

The common case, a dict ``{id_key: "FILE:OFFSET", line_key: line}`` built from a
chunk of ASCII or UTF-8 text, runs at C speed: one decode, one split, the
offsets by :func:`itertools.accumulate`, one list comprehension.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from itertools import accumulate, repeat
from operator import add
from typing import Any

from deadbeat import movement

from ._followed import FollowedFile
from ._multiline import Multiline

__all__ = ["EventIds", "EventMaker", "LineMaker", "LineTooLong", "Reject", "WideLineMaker", "is_wide"]

#: How a line that cannot become a datum is handed to the error output.
Reject = Callable[[Any, Exception], None]
#: Makes the event ids of a list of data, in order, when the train asks (see movement.Batch).
EventIds = Callable[[], list[Any]]


class _BadLines(Exception):  # noqa: N818 - a signal inside EventMaker.cut
    """A chunk holds a line the fast path cannot take (too long): cut it line by line."""


class LineTooLong(ValueError):
    """A line exceeded ``max_line`` bytes; it goes to the error output, cut to the limit."""


def event_id(name: str, offset: int) -> str:
    """:returns: the event id of the line starting at ``offset`` of the file ``name``."""
    return f"{name}:{offset}"


class LineMaker:
    """Cuts a followed file's chunks into lines and lines into data.

    :param encoding: text encoding of the files.
    :param max_line: longest line in bytes.
    :param line_setter: where the line goes (a setter, a field path), or ``None``
        for data that are the lines themselves.
    :param id_setter: where the event id goes (see :func:`deadbeat.movement.id_setter`),
        or ``None`` for no id.
    """

    def __init__(
        self, encoding: str, max_line: int, line_setter: Any, id_setter: Any, encoding_errors: str = "error"
    ) -> None:
        self.encoding = encoding
        #: "error" (the line to the error output), "replace" (U+FFFD) or "bytes" (the line as bytes).
        self.encoding_errors = encoding_errors
        self._errors = "replace" if encoding_errors == "replace" else "strict"
        self._utf8 = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
        self.max_line = max_line
        self._set_line = movement.setter(line_setter) if line_setter is not None else None
        self._set_id = movement.id_setter(id_setter)
        # The manual's one-argument id_setter makes ids of its own: the data's,
        # which the train reads with its id_getter. A setter is given ours, so
        # the batch tells them too, whatever field they went to.
        self._own_ids = callable(id_setter) and self._set_id is not id_setter
        # Plain keys let a datum be built as one dict display, the fast way.
        self._line_key = line_setter if _plain(line_setter) else None
        self._id_key = id_setter if _plain(id_setter) else None
        #: Complete lines taken from the files so far, those that went to the
        #: error output too (a line too long, or that does not decode): one
        #: addition per chunk, for the supply's ``lines_read_total``.
        self.lines = 0

    def cut(
        self, followed: FollowedFile, name: str, data: bytes, unfinished: bool, reject: Reject
    ) -> tuple[list[Any], EventIds | None]:
        """Take ``data`` (starting at ``followed.line_start``) and make data of its complete lines.

        What follows the last newline is kept as ``followed.partial``; with
        ``unfinished`` (the file is let go) there is none: all of ``data`` ends
        with a newline added by the caller. A line growing past ``max_line`` is
        reported once and skipped to its end. ``followed.line_start`` moves past
        what was taken.

        :returns: the data, in order (possibly none), and what makes their event
            ids ``FILE:OFFSET`` when the train asks (the ids are not in the data
            unless an ``id_setter`` put them there).
        """
        start = followed.line_start
        cut = data.rfind(b"\n") + 1
        # A view, not a copy: the lines are decoded straight from the chunk read.
        complete, rest = memoryview(data)[:cut], data[cut:]
        consumed = cut
        lines_at = start
        if followed.skipping:
            first = data.find(b"\n", 0, cut) + 1
            if not first:
                # Still inside the oversize line: drop what we have of it.
                followed.partial = b""
                followed.line_start = start + len(data)
                return [], None
            complete, lines_at = complete[first:], start + first
            followed.skipping = False
        if len(rest) > self.max_line:
            self._too_long(name, rest, start + cut, reject)
            self.lines += 1
            rest, consumed = b"", len(data)
            followed.skipping = True
        followed.partial = rest
        followed.line_start = start + consumed - (1 if unfinished else 0)
        if not complete:
            return [], None
        if len(complete) <= self.max_line:
            if self._set_id is None and (self._set_line is None or self._line_key is not None):
                fast = self._plain_lines(name, complete, lines_at)
                if fast is not None:
                    return fast
            elif self._line_key is not None and self._id_key is not None:
                fast = self._keyed_lines(name, complete, lines_at)
                if fast is not None:
                    return fast
        return self._one_by_one(name, complete, lines_at, reject)

    def _plain_lines(self, name: str, complete: memoryview, start: int) -> tuple[list[Any], EventIds] | None:
        """Lines without ids in them: the lines themselves, or ``{line_key: line}``; ``None`` if they do not decode.

        The ids are made only if the train asks, from the lines' byte lengths.
        """
        try:
            text = str(complete, self.encoding, self._errors)
        except UnicodeDecodeError:
            return None
        lines = text.split("\n")
        lines.pop()
        self.lines += len(lines)
        key = self._line_key

        def event_ids() -> list[Any]:
            pieces: list[Any] = lines if text.isascii() else complete.tobytes().split(b"\n")
            return _ids(name, start, pieces)[: len(lines)]

        return (lines if key is None else [{key: line} for line in lines]), event_ids

    def _keyed_lines(self, name: str, complete: memoryview, start: int) -> tuple[list[Any], EventIds] | None:
        """Data ``{id_key: "FILE:OFFSET", line_key: line}``, offsets counted at C speed.

        Only for a chunk no longer than ``max_line`` (so no line is too long).

        :returns: ``None`` when the chunk does not decode (then line by line).
        """
        try:
            text = str(complete, self.encoding, self._errors)
        except UnicodeDecodeError:
            return None
        lines = text.split("\n")
        lines.pop()
        self.lines += len(lines)
        # Offsets need byte lengths; in ASCII text a character is a byte.
        pieces: list[Any] = lines if text.isascii() else complete.tobytes().split(b"\n")
        id_key, line_key = self._id_key, self._line_key
        prefix = f"{name}:"
        # The ids first, then the dicts: two comprehensions measured faster than
        # one making both (each loop stays simpler), and the train gets the ids
        # it asks for without making them again. One offset more than lines
        # (the one after the last): dropped.
        ids = [f"{prefix}{offset}" for offset in _offsets_of(start, pieces)]
        ids.pop()
        data = [{id_key: eid, line_key: line} for eid, line in zip(ids, lines, strict=False)]
        return data, lambda: ids

    def _one_by_one(
        self, name: str, complete: memoryview, start: int, reject: Reject
    ) -> tuple[list[Any], EventIds | None]:
        """Every line on its own: for text that does not decode, long lines, and the user's own setters."""
        data: list[Any] = []
        offsets: list[int] = []
        offset = start
        raws = complete.tobytes().split(b"\n")
        raws.pop()
        self.lines += len(raws)
        line_key, id_key = self._line_key, self._id_key
        set_line, set_id = self._set_line, self._set_id
        # The configured mode, as in the whole-chunk decode: "replace" gives U+FFFD
        # here too; "error" and "bytes" decode strictly and act on the exception.
        encoding, errors = self.encoding, self._errors
        for raw in raws:
            here = offset
            offset += len(raw) + 1
            eid = event_id(name, here)
            if len(raw) > self.max_line:
                self._too_long(name, raw, here, reject)
                continue
            try:
                line = raw.decode(encoding, errors)
            except UnicodeDecodeError as exc:
                if self.encoding_errors == "bytes":
                    # The user asked for the bytes as they are.
                    kept: Any = raw if set_line is None else set_line({}, raw)
                    if set_id is not None and set_line is not None:
                        kept = set_id(kept, eid)
                    data.append(kept)
                    offsets.append(here)
                    continue
                error = UnicodeDecodeError(exc.encoding, exc.object, exc.start, exc.end, f"{exc.reason} in {eid}")
                reject({"id": eid, "raw": raw, "file": name, "offset": here}, error)
                continue
            if line_key is not None and id_key is not None:
                data.append({id_key: eid, line_key: line})
                offsets.append(here)
                continue
            try:
                datum: Any = line if set_line is None else set_line({}, line)
                if set_id is not None and set_line is not None:
                    datum = set_id(datum, eid)
            except Exception as exc:  # noqa: BLE001 - the user's setter failed: that line goes to the error output
                reject({"id": eid, "line": line, "file": name, "offset": here}, exc)
                continue
            data.append(datum)
            offsets.append(here)
        if self._own_ids:
            return data, None  # the ids are the data's own, made by the user's function
        return data, lambda: [event_id(name, o) for o in offsets]

    def _events_to_data(
        self, name: str, events: list[tuple[Any, int]], reject: Reject
    ) -> tuple[list[Any], EventIds | None]:
        """Each event as a datum, placed by the setters, as a line would be."""
        line_key, id_key = self._line_key, self._id_key
        if self._set_id is None and (self._set_line is None or line_key is not None):
            texts = [text for text, _ in events]
            data: list[Any] = texts if line_key is None else [{line_key: text} for text in texts]
            return data, lambda: [event_id(name, offset) for _, offset in events]
        if line_key is not None and id_key is not None:
            ids = [event_id(name, offset) for _, offset in events]
            keyed = [{id_key: eid, line_key: text} for eid, (text, _) in zip(ids, events, strict=True)]
            return keyed, lambda: ids
        made: list[Any] = []
        offsets: list[int] = []
        set_line, set_id = self._set_line, self._set_id
        for text, offset in events:
            eid = event_id(name, offset)
            try:
                datum: Any = text if set_line is None else set_line({}, text)
                if set_id is not None and set_line is not None:
                    datum = set_id(datum, eid)
            except Exception as exc:  # noqa: BLE001 - the user's setter failed: that event goes to the error output
                reject({"id": eid, "line": text, "file": name, "offset": offset}, exc)
                continue
            made.append(datum)
            offsets.append(offset)
        if self._own_ids:
            return made, None
        return made, lambda: [event_id(name, o) for o in offsets]

    def newline(self, followed: FollowedFile) -> bytes:
        """:returns: the bytes of a newline in ``followed`` (what ends an unfinished last line when it is let go)."""
        return b"\n"

    def bom(self, followed: FollowedFile) -> bytes:
        """:returns: the byte order mark ``followed`` starts with, if its encoding has one (skipped, not a line)."""
        return codecs.BOM_UTF8 if self._utf8 else b""

    def _too_long(self, name: str, raw: bytes, offset: int, reject: Reject) -> None:
        eid = event_id(name, offset)
        error = LineTooLong(f"{eid}: line longer than {self.max_line} bytes; cut to the limit")
        reject({"id": eid, "raw": raw[: self.max_line], "file": name, "offset": offset}, error)


def _ids(name: str, start: int, pieces: list[Any]) -> list[str]:
    """``FILE:OFFSET`` of each of ``pieces`` (lines without their newlines, by byte length), and one more.

    Made by one join and one split: cheaper than one concatenation per line.
    """
    offsets = _offsets(start, pieces)
    prefix = f"{name}:"
    if "\n" in prefix:
        return list(map(prefix.__add__, map(str, offsets)))
    return (prefix + ("\n" + prefix).join(map(str, offsets))).split("\n")


def _offsets(start: int, pieces: list[Any]) -> list[int]:
    """The offset of each of ``pieces`` (lines without their newlines, by byte length) from ``start``, and one more."""
    return list(_offsets_of(start, pieces))


def _offsets_of(start: int, pieces: list[Any]) -> Iterator[int]:
    """:func:`_offsets`, one at a time: for a comprehension that needs no list of them."""
    # operator.add, not (1).__add__: a builtin function is called without
    # building a tuple of its arguments; a method wrapper is not.
    return accumulate(map(add, map(len, pieces), repeat(1)), initial=start)


def _plain(accessor: Any) -> bool:
    return isinstance(accessor, str) and not set(accessor) & {".", "\\"}


class EventMaker(LineMaker):
    """Cuts a followed file's chunks into events of several lines (see :mod:`._multiline`).

    The event still being built stays in ``followed.partial`` with the
    unfinished line, and ``followed.line_start`` at its first line: positions
    and acknowledgements never fall inside an event.

    :param rules: how lines are joined.
    """

    def __init__(
        self,
        encoding: str,
        max_line: int,
        line_setter: Any,
        id_setter: Any,
        rules: Multiline,
        encoding_errors: str = "error",
    ) -> None:
        super().__init__(encoding, max_line, line_setter, id_setter, encoding_errors)
        self.rules = rules

    def cut(
        self,
        followed: FollowedFile,
        name: str,
        data: bytes,
        unfinished: bool,
        reject: Reject,
        force: bool = False,
    ) -> tuple[list[Any], EventIds | None]:
        """Take ``data`` (from ``followed.line_start``) and make data of its complete events.

        :param force: the event being built is complete (no line came for the
            rules' ``timeout``): send it too; the unfinished line stays.
        """
        start = followed.line_start
        cut = data.rfind(b"\n") + 1
        complete, rest = data[:cut], data[cut:]
        lines_at = start
        if followed.skipping:
            first = data.find(b"\n", 0, cut) + 1
            if not first:
                followed.partial = b""
                followed.line_start = start + len(data)
                return [], None
            complete, lines_at = complete[first:], start + first
            followed.skipping = False
        tail_start = start + cut
        oversize = len(rest) > self.max_line
        if oversize:
            # The unfinished line is dropped to its end (see LineMaker.cut): the
            # event before it is complete, so that nothing waits before the skip.
            self._too_long(name, rest, start + cut, reject)
            self.lines += 1
            rest = b""
            tail_start = start + len(data)
        final = unfinished or force or oversize
        events: list[tuple[str, int]] = []
        raws: list[bytes] = []
        try:
            text = complete.decode(self.encoding, self._errors)
            lines = text.split("\n")
            lines.pop()
            count = len(lines)
            ascii_only = text.isascii()
            if not ascii_only or self.rules.needs_bytes:
                # Byte lengths of non-ASCII lines, and RE2 matches bytes.
                raws = complete.split(b"\n")
                raws.pop()
            sizes = [len(piece) + 1 for piece in (lines if ascii_only else raws)]
            if sizes and max(sizes) > self.max_line + 1:
                raise _BadLines  # a line longer than max_line: to the error output alone, as without multiline
        except (UnicodeDecodeError, _BadLines):
            raws = complete.split(b"\n")
            raws.pop()
            sizes = [len(raw) + 1 for raw in raws]
            offsets = list(accumulate(sizes, initial=lines_at))
            count = len(raws)
            pending_at = self._bad_lines(name, raws, sizes, offsets, final, events, reject)
        else:
            offsets = list(accumulate(sizes, initial=lines_at))
            ranges, pending_at = self.rules.events(lines, raws, sizes, final)
            if ascii_only:
                # A character is a byte: each event is one slice of the text.
                base = lines_at + 1
                events = [(text[offsets[a] - lines_at : offsets[b] - base], offsets[a]) for a, b in ranges]
            else:
                events = [("\n".join(lines[a:b]), offsets[a]) for a, b in ranges]
        followed.skipping = oversize
        # The lines of the event still being built stay in partial, to be cut again: counted then.
        self.lines += count if unfinished else min(pending_at, count)
        if unfinished:
            followed.partial = b""
            followed.line_start = start + len(data) - 1
        else:
            followed.partial = data[offsets[pending_at] - start : cut] + rest
            followed.line_start = offsets[pending_at] if pending_at < count else tail_start
        if not events:
            return [], None
        return self._events_to_data(name, events, reject)

    def _bad_lines(
        self,
        name: str,
        raws: list[bytes],
        sizes: list[int],
        offsets: list[int],
        final: bool,
        events: list[tuple[str, int]],
        reject: Reject,
    ) -> int:
        """Events of a chunk with lines that do not decode or exceed ``max_line``: those go to the error output.

        Such a line ends the event before it and is in none; the events around
        it go on. :returns: where the event still being built begins.
        """
        lines: list[str | None] = []
        for offset, raw in zip(offsets, raws, strict=False):
            if len(raw) > self.max_line:
                self._too_long(name, raw, offset, reject)
                lines.append(None)
                continue
            try:
                lines.append(raw.decode(self.encoding, self._errors))
            except UnicodeDecodeError as exc:
                eid = event_id(name, offset)
                error = UnicodeDecodeError(exc.encoding, exc.object, exc.start, exc.end, f"{exc.reason} in {eid}")
                reject({"id": eid, "raw": raw, "file": name, "offset": offset}, error)
                lines.append(None)
        pending_at = len(lines)
        segment = 0
        for index in range(len(lines) + 1):
            if index < len(lines) and lines[index] is not None:
                continue
            part = [line for line in lines[segment:index] if line is not None]
            ranges, waiting = self.rules.events(
                part, raws[segment:index], sizes[segment:index], final or index < len(lines)
            )
            events.extend(("\n".join(part[a:b]), offsets[segment + a]) for a, b in ranges)
            if index == len(lines):
                pending_at = segment + waiting
            segment = index + 1
        return pending_at


#: Encodings whose code units are wider than a byte: their newline is 2 or 4 bytes.
_WIDE = {"utf-16": 2, "utf-16-le": 2, "utf-16-be": 2, "utf-32": 4, "utf-32-le": 4, "utf-32-be": 4}
_BOMS = {
    "utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
    "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE),
}


def is_wide(encoding: str) -> bool:
    """Whether ``encoding`` is UTF-16 or UTF-32 (read by :class:`WideLineMaker`)."""
    return codecs.lookup(encoding).name in _WIDE


class WideLineMaker(LineMaker):
    """Cuts chunks of UTF-16 or UTF-32 files into lines.

    A newline is a code unit (``0A 00`` in UTF-16-LE), found only at offsets
    that are a multiple of the unit's width, so that the same bytes across two
    characters are not taken for one. ``utf-16`` and ``utf-32`` take the byte
    order from the file's byte order mark (little-endian without one); the mark
    is no part of the first line. Offsets are bytes, as for every encoding.
    """

    def __init__(
        self, encoding: str, max_line: int, line_setter: Any, id_setter: Any, encoding_errors: str = "error"
    ) -> None:
        super().__init__(encoding, max_line, line_setter, id_setter, encoding_errors)
        name = codecs.lookup(encoding).name
        self.width = _WIDE[name]
        family = name[:6]
        self._little, self._big = f"{family}-le", f"{family}-be"
        self._fixed = None if name == family else name
        self._marks = dict(zip((self._little, self._big), _BOMS[family], strict=True))

    def codec(self, followed: FollowedFile) -> str:
        """:returns: the byte order ``followed`` is read in (its mark's, for ``utf-16``/``utf-32``)."""
        if self._fixed is not None:
            return self._fixed
        return self._big if followed.head.startswith(self._marks[self._big]) else self._little

    def newline(self, followed: FollowedFile) -> bytes:
        """:returns: a newline in ``followed``'s encoding."""
        return "\n".encode(self.codec(followed))

    def bom(self, followed: FollowedFile) -> bytes:
        """:returns: the byte order mark of ``followed``'s encoding."""
        return self._marks[self.codec(followed)]

    def cut(
        self, followed: FollowedFile, name: str, data: bytes, unfinished: bool, reject: Reject
    ) -> tuple[list[Any], EventIds | None]:
        """Take ``data`` (from ``followed.line_start``, a unit boundary) and make data of its complete lines."""
        codec, width = self.codec(followed), self.width
        newline = "\n".encode(codec)
        start = followed.line_start
        ends = []
        at = data.find(newline)
        while at >= 0:
            if at % width:
                at = data.find(newline, at + 1)  # across two code units: no newline
                continue
            ends.append(at + width)
            at = data.find(newline, at + width)
        cut = ends[-1] if ends else 0
        first = 0
        if followed.skipping:
            if not ends:
                followed.partial = b""
                followed.line_start = start + len(data)
                return [], None
            first = ends.pop(0)
            followed.skipping = False
        rest = data[cut:]
        consumed = cut
        if len(rest) > self.max_line:
            self._too_long(name, rest, start + cut, reject)
            self.lines += 1
            rest, consumed = b"", len(data)
            followed.skipping = True
        followed.partial = rest
        followed.line_start = start + consumed - (width if unfinished else 0)
        self.lines += len(ends)
        items: list[tuple[Any, int]] = []
        errors = self._errors
        for end in ends:
            raw = data[first : end - width]
            here = start + first
            first = end
            if len(raw) > self.max_line:
                self._too_long(name, raw, here, reject)
                continue
            try:
                items.append((raw.decode(codec, errors), here))
            except UnicodeDecodeError as exc:
                if self.encoding_errors == "bytes":
                    items.append((raw, here))
                    continue
                eid = event_id(name, here)
                error = UnicodeDecodeError(exc.encoding, exc.object, exc.start, exc.end, f"{exc.reason} in {eid}")
                reject({"id": eid, "raw": raw, "file": name, "offset": here}, error)
        if not items:
            return [], None
        return self._events_to_data(name, items, reject)
