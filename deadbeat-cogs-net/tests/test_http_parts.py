"""The pieces of deadbeat.http, for every input: JSON in and out, the outbox's cutting, back-off, masking."""

from __future__ import annotations

import json
import logging
import math
from email.utils import formatdate
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat import movement
from deadbeat.http import BodyError
from deadbeat.http._backoff import Backoff, retry_after
from deadbeat.http._json import encode, encode_all, parse_document, parse_lines
from deadbeat.http._outbox import Outbox
from deadbeat.http._ratelog import RateLimitedLog
from deadbeat.http._secrets import shown_headers, shown_url

#: JSON values as the standard library reads them back: finite floats, text without lone surrogates.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)
#: Values that are not text: text is taken as a line already written, and sent as it is.
json_documents = json_values.filter(lambda value: not isinstance(value, str))


class TestJSON:
    @given(st.lists(json_documents, max_size=20))
    def test_lines_written_read_back_equal(self, values: list[Any]) -> None:
        """Whatever JSON values are sent as lines, reading the body gives them back, in order."""
        body = b"".join(piece + b"\n" for piece in encode_all(values, lines=True))
        assert parse_lines(body) == values

    @given(st.lists(json_values, max_size=20))
    def test_a_list_encodes_as_its_data_one_by_one(self, values: list[Any]) -> None:
        """encode_all gives what encode gives for each datum (the fast path changes nothing)."""
        assert encode_all(values, lines=True) == [encode(value) for value in values]

    @given(json_documents)
    def test_written_json_is_what_the_standard_library_reads(self, value: Any) -> None:
        """Bytes sent are valid JSON for any reader: the standard library reads the same value."""
        assert json.loads(encode(value)) == value

    @pytest.mark.parametrize("bad", [float("nan"), float("inf"), {"x": [1, -math.inf]}])
    def test_non_finite_numbers_are_refused(self, bad: Any) -> None:
        """NaN and infinity are no JSON: refused rather than written as null or as a bare token."""
        with pytest.raises(ValueError, match="NaN and infinite"):
            encode(bad)

    @pytest.mark.parametrize("bad", [{1, 2}, {"when": __import__("datetime").date(2026, 1, 1)}, object()])
    def test_objects_json_has_no_form_for_are_refused(self, bad: Any) -> None:
        """A set, a date, an object: TypeError, the same with or without orjson."""
        with pytest.raises(TypeError):
            encode(bad)

    def test_text_with_a_line_break_cannot_be_a_line(self) -> None:
        """A datum of text holding a newline would be two lines: refused in lines mode, sent in document mode."""
        with pytest.raises(ValueError, match="line break"):
            encode_all(["ok", "two\nlines"], lines=True)
        assert encode_all(["two\nlines"], lines=False) == [b"two\nlines"]

    @given(
        st.lists(json_documents, min_size=1, max_size=10), st.integers(min_value=0), st.binary(min_size=1, max_size=8)
    )
    def test_a_bad_line_is_named_by_its_number(self, values: list[Any], where: int, junk: bytes) -> None:
        """Whatever line is broken, the error names that line (counted from 1)."""
        pieces = [encode(v) for v in values]
        place = where % (len(pieces) + 1)
        pieces.insert(place, b"{" + junk)
        with pytest.raises(BodyError, match=rf"^line {place + 1}: "):
            parse_lines(b"\n".join(pieces))

    def test_blank_lines_are_skipped_but_counted(self) -> None:
        """Line numbers count blank lines too, as an editor shows them."""
        with pytest.raises(BodyError, match="^line 4: "):
            parse_lines(b'{"a": 1}\n\n  \n{"a": \n')
        assert parse_lines(b"\n\n") == []

    def test_what_the_client_is_told_speaks_of_its_body(self) -> None:
        """A byte that is not UTF-8 and a 5,000-digit number: the 400 said "str is not valid UTF-8:
        surrogates not allowed" and "use sys.set_int_max_str_digits()", the parser's words, not the client's."""
        for parse in (parse_document, parse_lines):
            with pytest.raises(BodyError, match="not UTF-8$"):
                parse(b'{"a":"\xff"}')
            with pytest.raises(BodyError, match=r"invalid JSON: a number of more than \d+ digits$"):
                parse(b'{"a":' + b"1" * 5000 + b"}")

    def test_a_document_error_names_line_and_column(self) -> None:
        """A multi-line document: the error says where."""
        with pytest.raises(BodyError, match="line 3, column"):
            parse_document(b'{\n  "a": 1,\n  "b": ?\n}')

    @given(st.integers(min_value=1, max_value=200), st.integers(min_value=1, max_value=100))
    def test_nesting_is_refused_exactly_past_max_depth(self, depth: int, max_depth: int) -> None:
        """A value nesting N deep is taken when N <= max_depth, refused otherwise, naming N."""
        body = b"[" * depth + b"]" * depth
        if depth <= max_depth:
            assert parse_document(body, max_depth) is not None
            assert len(parse_lines(body + b"\n", max_depth)) == 1
        else:
            with pytest.raises(BodyError, match=f"nested {depth} deep"):
                parse_document(body, max_depth)
            with pytest.raises(BodyError, match=f"line 1: JSON nested {depth} deep"):
                parse_lines(body, max_depth)

    @given(st.integers(min_value=2**63, max_value=2**200) | st.integers(min_value=-(2**200), max_value=-(2**63)))
    def test_big_integers_come_back_exact(self, number: int) -> None:
        """Integers beyond 64 bits are read as integers, unrounded, in documents and lines."""
        assert parse_document(str(number).encode()) == number
        assert parse_lines(json.dumps({"n": number}).encode()) == [{"n": number}]


class TestOutbox:
    @settings(max_examples=300)
    @given(
        st.lists(st.lists(st.binary(max_size=40), max_size=30), max_size=10),
        st.integers(min_value=1, max_value=12),
        st.integers(min_value=1, max_value=120),
    )
    def test_requests_keep_every_datum_in_order_within_the_limits(
        self, lists: list[list[bytes]], max_count: int, max_bytes: int
    ) -> None:
        """Cut into requests, the data come out whole and in order; no request passes a limit unless alone."""
        outbox = Outbox(max_count, max_bytes, lines=True)
        sent: list[bytes] = []
        for pieces in lists:
            outbox.add(list(pieces), list(pieces))
            assert outbox.count == sum(map(len, [*outbox.waiting, *([outbox.open] if outbox.open else [])]))
        outbox.close()
        while (request := outbox.next()) is not None:
            assert request.data == request.pieces and 1 <= len(request) <= max_count
            assert request.size == len(request.body(lines=True))
            assert request.size <= max_bytes or len(request) == 1
            sent += request.data
        assert sent == [piece for pieces in lists for piece in pieces]
        assert outbox.count == 0 and outbox.size == 0

    @given(st.integers(min_value=2, max_value=50), st.integers(min_value=1, max_value=30))
    def test_halves_keep_the_event_ids_of_their_data(self, size: int, offset: int) -> None:
        """A refused batch split in two: each half names its own data's ids, from the batch that knew them."""
        outbox = Outbox(1000, 1 << 20, lines=True)
        early = [f"early {i}" for i in range(offset)]
        outbox.add(early, [e.encode() for e in early])  # data that carry no ids
        batch = movement.Batch([f"d{i}" for i in range(size)], event_ids=lambda: [f"id{i}" for i in range(size)])
        outbox.add(batch, [d.encode() for d in batch])
        outbox.close()
        request = outbox.next()
        assert request is not None
        first, second = request.halves()

        def own(datum: Any) -> Any:
            return f"own {datum}"

        expected = [f"own {e}" for e in early] + [f"id{i}" for i in range(size)]
        assert request.event_ids(own) == expected
        assert first.event_ids(own) + second.event_ids(own) == expected
        assert first.data + second.data == request.data and first.size + second.size == request.size


class TestBackoff:
    @given(st.lists(st.floats(min_value=0, max_value=0.999999), min_size=1, max_size=20), st.floats(0, 100) | st.none())
    def test_pauses_double_up_to_the_longest_with_jitter_and_honour_what_is_asked(
        self, draws: list[float], asked: float | None
    ) -> None:
        """Each pause lies in the upper half of its step; steps double to the longest; a server's ask is a floor."""
        it = iter(draws)
        backoff = Backoff(0.1, 3.0, draw=lambda: next(it))
        step = 0.1
        for _ in draws:
            pause = backoff.pause(asked)
            assert step / 2 <= pause or (asked is not None and pause == asked)
            assert pause <= max(step, asked or 0)
            if asked is not None:
                assert pause >= asked
            step = min(step * 2, 3.0)

    def test_retry_after_in_seconds_and_as_a_date(self) -> None:
        """Retry-After: 120 and an HTTP date 30 s ahead; nonsense is no answer."""
        assert retry_after("120") == 120.0
        assert retry_after(formatdate(1_000_030, usegmt=True), now=1_000_000) == 30.0
        assert retry_after(formatdate(999_000, usegmt=True), now=1_000_000) == 0.0
        assert retry_after("soon") is None and retry_after(None) is None and retry_after("-5") is None
        # Digits of other scripts: isdigit() took "²", and int() then raised out of the response's handling.
        assert retry_after("²") is None and retry_after("١٢") is None


class TestMasking:
    @pytest.mark.parametrize(
        ("url", "shown"),
        [
            ("https://user:pw@host:8443/in?token=abc&x=1", "https://user:***@host:8443/in?token=***&x=***"),
            ("http://host/in", "http://host/in"),
            ("http://justuser@host/", "http://justuser@host/"),
        ],
    )
    def test_urls_show_no_password_or_query_values(self, url: str, shown: str) -> None:
        """What log lines show of a URL."""
        assert shown_url(url) == shown

    def test_credential_like_headers_are_masked(self) -> None:
        """Authorization, tokens and keys are masked; the rest shows."""
        shown = shown_headers({"Authorization": "Bearer x", "X-API-Key": "k", "X-Auth-Token": "t", "X-Team": "blue"})
        assert shown == {"Authorization": "***", "X-API-Key": "***", "X-Auth-Token": "***", "X-Team": "blue"}


class TestRateLimitedLog:
    def test_a_flood_gives_a_few_lines_and_a_count(self, caplog: pytest.LogCaptureFixture) -> None:
        """1000 complaints of one kind: burst lines, then one line counting the rest when flushed."""
        said = RateLimitedLog(logging.getLogger("test.ratelog"), burst=3, window=3600)
        caplog.set_level(logging.INFO)
        for n in range(1000):
            said.log(logging.WARNING, "garbage", "complaint %d", n)
        said.log(logging.WARNING, "other", "another kind")
        said.flush()
        messages = [r.getMessage() for r in caplog.records]
        assert messages == [
            "complaint 0",
            "complaint 1",
            "complaint 2",
            "another kind",
            "997 more lines about garbage were not logged (rate limit)",
        ]
