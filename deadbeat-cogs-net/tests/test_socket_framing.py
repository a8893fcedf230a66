"""Framing a byte stream cut anywhere: every message once, in order, nothing kept beyond max_line.

The framers are fed the stream in arbitrary pieces, as ``recv`` returns it. The
properties hold for all inputs: what comes out does not depend on where the
stream was cut, every message is either a message or a problem (never both,
never neither), offsets are where messages start, and the bytes a framer keeps
are bounded.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat.socket import FramingError, MessageTooLong
from deadbeat.socket._framing import CountedFramer, NewlineFramer, StreamFramer, _lines_fit, make_framer

MAX_LINE = 40

#: Lines without newlines, some longer than MAX_LINE, some not UTF-8.
line_bytes = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=60).map(
        str.encode
    ),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
)


def pieces(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    """``data`` cut at the given places (as recv might cut it)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    start = 0
    for point in points:
        yield data[start:point]
        start = point
    yield data[start:]


def run(framer: StreamFramer, chunks: Iterator[bytes], closed_by_peer: bool = True) -> tuple[list, list]:
    """Feed every chunk; :returns: (offset, message) pairs and problems, in stream order."""
    messages: list[tuple[int, str]] = []
    problems = []
    for chunk in chunks:
        if not chunk:
            continue
        frames = framer.feed(chunk)
        assert len(frames.offsets()) == len(frames.messages)
        messages += zip(frames.offsets(), frames.messages, strict=True)
        problems += frames.problems
        assert framer.buffered <= MAX_LINE + 11, "a framer keeps more than one message"
    if closed_by_peer:
        frames = framer.end()
        messages += zip(frames.offsets(), frames.messages, strict=True)
        problems += frames.problems
    else:
        cut = framer.cut("test")
        if cut is not None:
            problems.append(cut)
    return messages, problems


def expected_newline(lines: list[bytes], last_unended: bool = False) -> tuple[list[tuple[int, str]], list[int]]:
    """What newline framing must give: good lines as messages (one \r before the newline gone), the rest as problems.

    :param last_unended: the last line has no newline (the peer closed after it): its \r stays.
    """
    messages, problems, offset = [], [], 0
    for number, raw in enumerate(lines):
        if len(raw) > MAX_LINE:
            problems.append(offset)
        else:
            ended = not (last_unended and number == len(lines) - 1)
            try:
                messages.append((offset, (raw[:-1] if ended and raw.endswith(b"\r") else raw).decode("utf-8")))
            except UnicodeDecodeError:
                problems.append(offset)
        offset += len(raw) + 1
    return messages, problems


class TestNewlineFraming:
    @settings(max_examples=300, deadline=None)
    @given(lines=st.lists(line_bytes, max_size=30), cuts=st.lists(st.integers(min_value=0), max_size=12))
    def test_any_cutting_gives_the_same_lines(self, lines: list[bytes], cuts: list[int]) -> None:
        """Wherever recv cuts the stream, each line comes out once, with its offset, or as a problem at its offset."""
        stream = b"".join(raw + b"\n" for raw in lines)
        messages, problems = run(NewlineFramer(MAX_LINE, "utf-8", "strict"), pieces(stream, cuts))
        want_messages, want_problems = expected_newline(lines)
        assert messages == want_messages
        assert [p.offset for p in problems] == want_problems
        for problem in problems:
            assert len(problem.raw) <= MAX_LINE
            assert isinstance(problem.error, (MessageTooLong, UnicodeDecodeError))

    @settings(max_examples=100, deadline=None)
    @given(lines=st.lists(line_bytes, min_size=1, max_size=10), cuts=st.lists(st.integers(min_value=0), max_size=5))
    def test_unfinished_last_line(self, lines: list[bytes], cuts: list[int]) -> None:
        """A last line without newline is a message when the peer closes, a problem when we cut."""
        stream = b"\n".join(lines)
        last = lines[-1]
        messages, problems = run(NewlineFramer(MAX_LINE, "utf-8", "strict"), pieces(stream, cuts))
        # An empty last "line" is no line: nothing was sent after the last newline.
        want_messages, _ = expected_newline(lines if last else lines[:-1], last_unended=bool(last))
        assert messages == want_messages
        if last and len(last) <= MAX_LINE:
            _, problems = run(NewlineFramer(MAX_LINE, "utf-8", "strict"), pieces(stream, cuts), closed_by_peer=False)
            assert problems[-1].raw == last
            assert isinstance(problems[-1].error, FramingError)

    @settings(max_examples=500, deadline=None)
    @given(
        lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), min_size=1, max_size=40),
        max_line=st.integers(min_value=1, max_value=25),
    )
    def test_the_window_check_agrees_with_measuring_every_line(self, lines: list[bytes], max_line: int) -> None:
        """The few-rfind check of line lengths says exactly what measuring every line says."""
        data = b"".join(line + b"\n" for line in lines)
        assert _lines_fit(data, 0, len(data), max_line) == all(len(line) <= max_line for line in lines)

    def test_a_line_that_never_ends_is_reported_once_and_not_kept(self) -> None:
        """Megabytes without a newline: one problem holding max_line bytes; then the next line is fine."""
        framer = NewlineFramer(MAX_LINE, "utf-8", "strict")
        problems = []
        for _ in range(1000):
            frames = framer.feed(b"x" * 1000)
            problems += frames.problems
            assert framer.buffered == 0
        frames = framer.feed(b"tail of it\nnext\n")
        assert frames.messages == ["next"]
        assert len(problems) == 1 and problems[0].offset == 0 and problems[0].raw == b"x" * MAX_LINE
        assert frames.offsets() == [1000 * 1000 + len(b"tail of it\n")]

    def test_crlf_line_endings_lose_their_carriage_return(self) -> None:
        """One \r before the \n is the line ending (CRLF clients); any other \r stays; offsets count it."""
        framer = NewlineFramer(MAX_LINE, "utf-8", "strict")
        frames = framer.feed(b"one\r\ntwo\r\r\n\rthree\nfour\r")
        assert frames.messages == ["one", "two\r", "\rthree"]
        assert frames.offsets() == [0, 5, 11]
        frames = framer.feed(b"\nk\xc5\xaf\xc5\x88\r\n")
        assert frames.messages == ["four", "kůň"] and frames.offsets() == [18, 24]

    def test_offsets_count_bytes_not_characters(self) -> None:
        """Offsets are byte offsets even when lines hold multi-byte characters."""
        frames = NewlineFramer(MAX_LINE, "utf-8", "strict").feed("žluť\nkůň\nx\n".encode())
        assert frames.messages == ["žluť", "kůň", "x"]
        assert frames.offsets() == [0, len("žluť\n".encode()), len("žluť\nkůň\n".encode())]

    def test_encoding_that_does_not_frame_like_ascii_is_refused(self) -> None:
        """UTF-16 writes a newline as two bytes: refused at start, not mis-framed later."""
        with pytest.raises(ValueError, match="utf-16"):
            NewlineFramer(MAX_LINE, "utf-16", "strict")
        with pytest.raises(LookupError):
            NewlineFramer(MAX_LINE, "no-such-encoding", "strict")


def counted(messages: list[bytes]) -> bytes:
    return b"".join(b"%d %b" % (len(m), m) for m in messages)


class TestOctetCounting:
    @settings(max_examples=300, deadline=None)
    @given(
        messages=st.lists(st.binary(min_size=1, max_size=60), max_size=20),
        cuts=st.lists(st.integers(min_value=0), max_size=12),
    )
    def test_any_cutting_gives_the_same_frames(self, messages: list[bytes], cuts: list[int]) -> None:
        """LEN SP MSG frames (newlines inside too) come out whole whatever the cutting; too long ones are problems."""
        stream = counted(messages)
        got, problems = run(CountedFramer(MAX_LINE, "utf-8", "strict", detect=False), pieces(stream, cuts))
        offset, want, want_problems = 0, [], []
        for raw in messages:
            header = len(b"%d " % len(raw))
            if len(raw) > MAX_LINE:
                want_problems.append(offset)
            else:
                try:
                    want.append((offset, raw.decode("utf-8")))
                except UnicodeDecodeError:
                    want_problems.append(offset)
            offset += header + len(raw)
        assert got == want
        assert [p.offset for p in problems] == want_problems

    def test_a_broken_header_stops_the_stream(self) -> None:
        """A frame that is not LEN SP: the framer says so once and asks for the connection to close."""
        framer = CountedFramer(MAX_LINE, "utf-8", "strict", detect=False)
        frames = framer.feed(b"5 hello<13>no count here\n")
        assert frames.messages == ["hello"]
        assert framer.broken
        assert len(frames.problems) == 1 and isinstance(frames.problems[0].error, FramingError)
        assert frames.problems[0].offset == 7
        assert framer.feed(b"5 later").messages == []

    @pytest.mark.parametrize("stream", [b"00005 hello", b"0 ", b"0 5 hello", b"05 hello"])
    def test_a_length_with_a_leading_zero_is_a_bad_frame(self, stream: bytes) -> None:
        """RFC 6587: the length starts with a non-zero digit; "0 " and "00005 " break the stream as bad headers."""
        framer = CountedFramer(MAX_LINE, "utf-8", "strict", detect=False)
        frames = framer.feed(b"2 ok" + stream)
        assert frames.messages == ["ok"] and framer.broken
        (problem,) = frames.problems
        assert isinstance(problem.error, FramingError) and problem.offset == 4
        assert "without leading zeros" in str(problem.error)

    def test_syslog_crlf_lines_and_zero_lengths(self) -> None:
        """Syslog framing: CRLF newline frames lose the \r (an empty CRLF line is no message); "0 " is no header."""
        framer = make_framer("syslog", MAX_LINE, "utf-8", "strict")
        frames = framer.feed(b"<13>crlf\r\n\r\n3 abc0 zero\n00003 abc\n")
        assert frames.messages == ["<13>crlf", "abc", "0 zero", "00003 abc"]

    def test_an_unfinished_frame_at_the_end_is_a_problem(self) -> None:
        """The peer closing inside a counted frame leaves no message, but a problem holding what came."""
        framer = CountedFramer(MAX_LINE, "utf-8", "strict", detect=False)
        framer.feed(b"10 abc")
        frames = framer.end()
        assert frames.messages == []
        assert frames.problems[0].raw == b"10 abc"

    @settings(max_examples=200, deadline=None)
    @given(
        frames=st.lists(
            st.one_of(
                st.tuples(st.just("counted"), st.binary(min_size=1, max_size=30)),
                st.tuples(
                    st.just("line"),
                    st.text(alphabet="<>abc 123", min_size=1, max_size=30).filter(lambda t: not t[0].isdigit()),
                ),
            ),
            max_size=15,
        ),
        cuts=st.lists(st.integers(min_value=0), max_size=8),
    )
    def test_syslog_mixes_both_per_frame(self, frames: list[tuple[str, bytes | str]], cuts: list[int]) -> None:
        """Syslog framing: a frame starting with a digit is counted, any other runs to its newline."""
        stream = b""
        want = []
        for kind, body in frames:
            if kind == "counted":
                assert isinstance(body, bytes)
                try:
                    want.append(body.decode("utf-8"))
                except UnicodeDecodeError:
                    want.append(None)
                stream += b"%d %b" % (len(body), body)
            else:
                assert isinstance(body, str)
                want.append(body)
                stream += body.encode() + b"\n"
        got, problems = run(CountedFramer(MAX_LINE, "utf-8", "strict", detect=True), pieces(stream, cuts))
        assert [m for _, m in got] == [w for w in want if w is not None]
        assert len(problems) == want.count(None)

    def test_syslog_takes_a_line_starting_with_digits_that_is_no_header(self) -> None:
        """``2024-01-01 text`` starts with digits but no ``LEN SP``: a newline frame."""
        framer = make_framer("syslog", MAX_LINE, "utf-8", "strict")
        assert framer.feed(b"2024-01-01 text\n12 twelve bytes").messages == ["2024-01-01 text", "twelve bytes"]
