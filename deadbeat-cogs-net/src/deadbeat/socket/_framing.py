"""Cutting a byte stream into messages: newline, octet-counted (RFC 6587) and syslog's mix.

A framer belongs to one connection. It is fed the chunks ``recv`` returns,
which end anywhere (inside a line, inside a length header), and gives back the
complete messages, decoded, with the stream offset each one started at (made
only when asked, see :class:`Frames`), and the *problems*: pieces of the stream
that cannot become a message. Nothing is dropped without becoming one or the
other.

Bounded memory. What a framer keeps between chunks is at most one unfinished
message, and a message longer than ``max_line`` bytes is not kept: it becomes a
problem (holding its first ``max_line`` bytes, its offset and the reason), and
the rest of it is skipped as it arrives, to the next newline or to the end of
its counted length. So a client that never sends a newline costs at most
``max_line`` bytes, whatever it sends.

Which end counts. A message the peer ended (a newline, a counted length, the
end of the connection) is a message. One the connection was cut inside by us
(idle time-out, shutdown, a framing error) is not: :meth:`cut` makes it a
problem, so the error output holds it, and nobody mistakes half a line for a
whole one.

Line endings. A newline ends a message; one carriage return just before it
(CRLF, as Windows clients and some syslog senders end lines) is taken as part
of the line ending and removed, as syslog receivers do; a ``\r`` elsewhere is
kept. The line ending is not part of the message, nor of its length: a
message of ``max_line`` bytes is taken whether it ends with LF or CRLF.

Octet counting (RFC 6587, 3.4.1) is ``LEN SP MSG``: the message may hold
newlines, and ``LEN`` starts with a non-zero digit (``0 `` and ``00005 `` are
no headers). A header that is not digits followed by a space leaves no way to find
the next frame, so the strict framer reports what it holds and asks for the
connection to be closed (:attr:`CountedFramer.broken`). The ``syslog`` framing
decides per frame, as syslog receivers do: a frame starting with a digit and a
valid header is counted, anything else runs to the next newline (a syslog
message starts with ``<``, never with a digit).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from itertools import accumulate
from typing import NamedTuple

__all__ = [
    "CountedFramer",
    "Frames",
    "FramingError",
    "MessageTooLong",
    "NewlineFramer",
    "Problem",
    "StreamFramer",
    "UnfinishedMessage",
    "make_framer",
]

#: Digits a length header may have: 10 digits is more than any ``max_line``.
_MAX_DIGITS = 10
#: The characters framing looks for in the bytes.
_FRAMING_CHARS = "\n 0123456789"


class MessageTooLong(ValueError):
    """A message longer than ``max_line`` bytes: its first ``max_line`` bytes go to the error output."""


class FramingError(ValueError):
    """Bytes that are no valid frame (an octet-counting header that is not ``LEN SP``)."""


class UnfinishedMessage(FramingError):
    """A message the connection was cut inside (by us, or by the peer inside a counted frame)."""


class Problem(NamedTuple):
    """A piece of the stream that cannot become a message.

    :ivar offset: where it starts in the connection's stream of bytes.
    :ivar raw: its bytes (at most ``max_line`` of them).
    :ivar error: why.
    """

    offset: int
    raw: bytes
    error: Exception


def _no_offsets() -> list[int]:
    return []


class Frames(NamedTuple):
    """What one chunk gave: messages, their offsets (made when asked) and problems.

    :ivar messages: the decoded messages, in order.
    :ivar offsets: makes the stream offset of each message, in order.
    :ivar problems: pieces that did not become messages, in order.
    """

    messages: list[str]
    offsets: Callable[[], list[int]]
    problems: list[Problem]


NOTHING = Frames([], _no_offsets, [])


class StreamFramer:
    """What every framer offers; :func:`make_framer` gives the right one.

    :param max_line: longest message in bytes.
    :param encoding: how messages are decoded.
    :param errors: what decoding does with bytes the encoding cannot read
        (``"strict"``: the message becomes a problem).
    """

    #: Set when the stream cannot be framed any further: close the connection.
    broken: bool = False

    def __init__(self, max_line: int, encoding: str, errors: str) -> None:
        if max_line < 1:
            raise ValueError(f"max_line must be at least 1, not {max_line}")
        # An unknown encoding fails here, at start; so does one that does not
        # write newlines, digits and spaces as ASCII does (UTF-16): frames are
        # found in the bytes, before decoding.
        if _FRAMING_CHARS.encode(codecs.lookup(encoding).name) != _FRAMING_CHARS.encode("ascii"):
            raise ValueError(f"encoding {encoding!r} does not write newlines and digits as ASCII does")
        self.max_line = max_line
        self.encoding = encoding
        self.errors = errors

    @property
    def buffered(self) -> int:
        """Bytes kept for an unfinished message."""
        raise NotImplementedError

    def feed(self, chunk: bytes | memoryview) -> Frames:
        """Take the next bytes of the stream. :returns: what they completed."""
        raise NotImplementedError

    def end(self) -> Frames:
        """The peer closed the stream: an unfinished message is complete as it is."""
        raise NotImplementedError

    def cut(self, why: str) -> Problem | None:
        """We close the stream: an unfinished message becomes a problem saying ``why``."""
        raise NotImplementedError

    def _decoded(self, raws: list[bytes], offsets: list[int], problems: list[Problem]) -> Frames:
        """Decode messages one by one; those that do not decode become problems."""
        encoding, errors = self.encoding, self.errors
        try:
            messages = [str(raw, encoding, errors) for raw in raws]
        except UnicodeDecodeError:
            messages = []
            kept: list[int] = []
            for raw, offset in zip(raws, offsets, strict=True):
                try:
                    messages.append(str(raw, encoding, errors))
                except UnicodeDecodeError as exc:
                    problems.append(Problem(offset, raw, _located(exc, offset)))
                    continue
                kept.append(offset)
            offsets = kept
            problems.sort(key=_by_offset)
        return Frames(messages, offsets.copy, problems)


def _by_offset(problem: Problem) -> int:
    return problem.offset


def _located(exc: UnicodeDecodeError, offset: int) -> UnicodeDecodeError:
    """The decode error, saying where in the stream the message starts."""
    return UnicodeDecodeError(
        exc.encoding, exc.object, exc.start, exc.end, f"{exc.reason} (message at offset {offset})"
    )


def _too_long(offset: int, raw: bytes | bytearray | memoryview, max_line: int, length: int | None = None) -> Problem:
    size = f"{length} bytes" if length is not None else f"more than {max_line} bytes"
    error = MessageTooLong(f"message at offset {offset}: {size}, longer than max_line {max_line}; not taken")
    return Problem(offset, bytes(raw[:max_line]), error)


def _lines_fit(data: bytes, begin: int, cut: int, max_line: int) -> bool:
    """Whether every line of ``data[begin:cut]`` (which ends with a newline) is at most ``max_line`` bytes.

    Window by window rather than line by line: from a line's start, the last
    newline within ``max_line + 1`` bytes starts the next window; a window
    without one holds the start of a line too long. A few ``rfind`` calls per
    chunk, at C speed, in bytes (so multi-byte characters count right).
    """
    position, window = begin, max_line + 1
    while cut - position > window:
        newline = data.rfind(b"\n", position, position + window)
        if newline < 0:
            return False
        position = newline + 1
    return True


class NewlineFramer(StreamFramer):
    """Messages end with a newline (which is not part of them).

    The common case, a chunk of lines no longer than ``max_line`` that decode,
    costs one decode and one split of the whole chunk at C speed; the offsets
    are counted only when an id is asked for.
    """

    def __init__(self, max_line: int, encoding: str, errors: str) -> None:
        super().__init__(max_line, encoding, errors)
        # Invariants: _partial holds the bytes after the last newline seen
        # (never more than max_line, or max_line + 1 ending with the \r of a
        # CRLF still to come); _start is the stream offset of its first byte.
        # While _skipping, the stream is inside a message already reported as
        # too long, and everything up to the next newline is dropped.
        self._partial = b""
        self._start = 0
        self._skipping = False

    @property
    def buffered(self) -> int:
        return len(self._partial)

    def feed(self, chunk: bytes | memoryview) -> Frames:
        data = self._partial + chunk if self._partial else bytes(chunk)
        base = self._start
        cut = data.rfind(b"\n") + 1
        problems: list[Problem] = []
        begin = 0
        if self._skipping:
            if not cut:
                self._partial, self._start = b"", base + len(data)
                return NOTHING
            begin = data.index(b"\n") + 1
            self._skipping = False
        rest = len(data) - cut
        if rest > self.max_line and not (rest == self.max_line + 1 and data[-1] == 0x0D):
            problems.append(_too_long(base + cut, memoryview(data)[cut:], self.max_line))
            self._partial, self._start, self._skipping = b"", base + len(data), True
        else:
            self._partial, self._start = data[cut:], base + cut
        if cut <= begin:
            return Frames([], _no_offsets, problems) if problems else NOTHING
        frames = self._lines(data, begin, cut, base)
        if problems:
            frames.problems.extend(problems)
        return frames

    def _lines(self, data: bytes, begin: int, cut: int, base: int) -> Frames:
        """The lines of ``data[begin:cut]`` (which ends with a newline); ``base`` is the offset of ``data[0]``."""
        start = base + begin
        if not _lines_fit(data, begin, cut, self.max_line):
            # Some line is too long, or is max_line bytes and a CRLF ending: told apart one by one.
            return self._one_by_one(data[begin:cut], start)
        # A view, not a copy: decoded straight from the chunk received.
        complete = memoryview(data)[begin:cut]
        try:
            text = str(complete, self.encoding, self.errors)
        except UnicodeDecodeError:
            return self._one_by_one(complete.tobytes(), start)
        lines = text.split("\n")
        lines.pop()
        whole = lines
        if "\r\n" in text:
            # CRLF clients: one \r before each \n is part of the line ending, not of the message.
            lines = [line[:-1] if line.endswith("\r") else line for line in lines]

        def offsets() -> list[int]:
            # In ASCII a character is a byte (isascii is O(1) on a str); otherwise count the bytes.
            pieces: list[bytes] | list[str] = whole if text.isascii() else data[begin:cut].split(b"\n")
            return list(accumulate(map((1).__add__, map(len, pieces)), initial=start))[: len(lines)]

        return Frames(lines, offsets, [])

    def _one_by_one(self, complete: bytes, start: int) -> Frames:
        """Each line on its own: for chunks with a line too long or bytes that do not decode."""
        raws = complete.split(b"\n")
        raws.pop()
        kept: list[bytes] = []
        offsets: list[int] = []
        problems: list[Problem] = []
        offset = start
        for raw in raws:
            # One \r before the \n is the line ending of a CRLF client: not counted against max_line.
            message = raw[:-1] if raw.endswith(b"\r") else raw
            if len(message) > self.max_line:
                problems.append(_too_long(offset, message, self.max_line, len(message)))
            else:
                kept.append(message)
                offsets.append(offset)
            offset += len(raw) + 1
        return self._decoded(kept, offsets, problems)

    def end(self) -> Frames:
        if not self._partial:
            return NOTHING
        raw, offset = self._partial, self._start
        self._partial, self._start = b"", offset + len(raw)
        if len(raw) > self.max_line:
            # max_line bytes and a \r whose newline never came: the \r is the message's, one byte too many.
            return Frames([], _no_offsets, [_too_long(offset, raw, self.max_line, len(raw))])
        return self._decoded([raw], [offset], [])

    def cut(self, why: str) -> Problem | None:
        if not self._partial:
            return None
        raw, offset = self._partial, self._start
        self._partial, self._start = b"", offset + len(raw)
        return Problem(
            offset, raw, UnfinishedMessage(f"unfinished message at offset {offset} ({len(raw)} bytes): {why}")
        )


class CountedFramer(StreamFramer):
    """Octet counting (``LEN SP MSG``), strict, or per frame with newline frames beside it (``detect``).

    :param detect: syslog's rule: a frame that does not start with a valid
        header runs to the next newline, and an empty line between frames is
        no message; without it such a frame breaks the stream.
    """

    def __init__(self, max_line: int, encoding: str, errors: str, detect: bool) -> None:
        super().__init__(max_line, encoding, errors)
        self.detect = detect
        # Invariants: _buffer holds the unframed bytes, _base is the stream
        # offset of its first byte. _skip counts bytes of a counted frame
        # reported as too long that are still to come; _skip_line says the
        # stream is inside a newline frame reported as too long.
        self._buffer = bytearray()
        self._base = 0
        self._skip = 0
        self._skip_line = False
        self.broken = False

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, chunk: bytes | memoryview) -> Frames:
        if self.broken:
            return NOTHING
        buffer = self._buffer
        buffer += chunk
        raws: list[bytes] = []
        offsets: list[int] = []
        problems: list[Problem] = []
        position = self._frame(buffer, raws, offsets, problems)
        del buffer[:position]
        self._base += position
        if not raws:
            return Frames([], _no_offsets, problems) if problems else NOTHING
        return self._decoded(raws, offsets, problems)

    def _frame(self, buffer: bytearray, raws: list[bytes], offsets: list[int], problems: list[Problem]) -> int:
        """Take every complete frame from ``buffer``. :returns: where the first unfinished one starts."""
        max_line, base, size = self.max_line, self._base, len(buffer)
        position = 0
        while position < size:
            if self._skip:
                taken = min(self._skip, size - position)
                self._skip -= taken
                position += taken
                continue
            if self._skip_line:
                newline = buffer.find(b"\n", position)
                if newline < 0:
                    return size
                position, self._skip_line = newline + 1, False
                continue
            # RFC 6587: the length starts with a non-zero digit (no "0 ", no "00005 ").
            if 0x31 <= buffer[position] <= 0x39:
                space = buffer.find(b" ", position, position + _MAX_DIGITS + 1)
                if space < 0 and size - position <= _MAX_DIGITS and buffer[position:size].isdigit():
                    return position  # the header is still arriving
                if space > 0 and buffer[position:space].isdigit():
                    length = int(buffer[position:space])
                    body = space + 1
                    if length > max_line:
                        problems.append(_too_long(base + position, memoryview(buffer)[body:], max_line, length))
                        taken = min(length, size - body)
                        self._skip = length - taken
                        position = body + taken
                        continue
                    if size - body < length:
                        return position  # the message is still arriving
                    raws.append(bytes(buffer[body : body + length]))
                    offsets.append(base + position)
                    position = body + length
                    continue
            if not self.detect:
                end = min(size, position + max_line)
                problems.append(
                    Problem(
                        base + position,
                        bytes(buffer[position:end]),
                        FramingError(
                            f"offset {base + position}: expected an octet-counting header (LEN SP, LEN a number"
                            " without leading zeros, from 1),"
                            f" got {bytes(buffer[position : position + 12])!r}; the stream cannot be framed further"
                        ),
                    )
                )
                self.broken = True
                return size
            newline = buffer.find(b"\n", position)
            if newline < 0:
                waiting = size - position
                # max_line bytes and a \r may be a message and its CRLF ending, the \n still to come.
                if waiting > max_line and not (waiting == max_line + 1 and buffer[size - 1] == 0x0D):
                    problems.append(_too_long(base + position, memoryview(buffer)[position:], max_line))
                    self._skip_line = True
                    return size
                return position
            # One \r before the \n is the line ending of a CRLF client, not part of the message (nor its length).
            end = newline - 1 if newline > position and buffer[newline - 1] == 0x0D else newline
            if end - position > max_line:
                problems.append(_too_long(base + position, memoryview(buffer)[position:end], max_line, end - position))
            else:
                if end > position:
                    raws.append(bytes(buffer[position:end]))
                    offsets.append(base + position)
            position = newline + 1
        return position

    def end(self) -> Frames:
        if self.broken or not self._buffer or self._skip or self._skip_line:
            return NOTHING
        if self.detect and not self._counted_frame_started():
            # A newline frame the peer ended by closing: a message, as in newline framing.
            raw, offset = bytes(self._buffer), self._base
            self._drop()
            if len(raw) > self.max_line:
                # max_line bytes and a \r whose newline never came: the \r is the message's, one byte too many.
                return Frames([], _no_offsets, [_too_long(offset, raw, self.max_line, len(raw))])
            return self._decoded([raw], [offset], [])
        problem = self._unfinished("the peer closed the connection inside it")
        self._drop()
        return Frames([], _no_offsets, [problem])

    def _counted_frame_started(self) -> bool:
        """Whether the buffer starts with a whole ``LEN SP`` header."""
        space = self._buffer.find(b" ", 0, _MAX_DIGITS + 1)
        return space > 0 and self._buffer[:space].isdigit() and self._buffer[0] != 0x30

    def cut(self, why: str) -> Problem | None:
        if self.broken or not self._buffer or self._skip or self._skip_line:
            return None
        problem = self._unfinished(why)
        self._drop()
        return problem

    def _unfinished(self, why: str) -> Problem:
        raw = bytes(self._buffer[: self.max_line])
        return Problem(
            self._base,
            raw,
            UnfinishedMessage(f"unfinished frame at offset {self._base} ({len(self._buffer)} bytes): {why}"),
        )

    def _drop(self) -> None:
        self._base += len(self._buffer)
        self._buffer.clear()


def make_framer(framing: str, max_line: int, encoding: str, errors: str) -> StreamFramer:
    """:returns: a new framer for one connection: ``newline``, ``octet-counted`` or ``syslog``."""
    if framing == "newline":
        return NewlineFramer(max_line, encoding, errors)
    if framing == "octet-counted":
        return CountedFramer(max_line, encoding, errors, detect=False)
    if framing == "syslog":
        return CountedFramer(max_line, encoding, errors, detect=True)
    raise ValueError(f"no stream framing {framing!r}; use newline, octet-counted or syslog")
