"""Encodings: a UTF-8 byte order mark, what becomes of undecodable bytes, and encodings refused with a reason."""

from __future__ import annotations

import codecs
import time
from pathlib import Path
from typing import Any

import pytest

from deadbeat import fs, movement
from deadbeat.testing import Collector


def read(path: Path, **params: Any) -> tuple[list[Any], list[Any]]:
    data, errors, _ = run("fs.read", path, **params)
    return data, errors


def run(cog: str, path: Path, **params: Any) -> tuple[list[Any], list[Any], movement.Train]:
    """Read ``path`` to its end with ``fs.read`` or ``fs.tail`` (``tail = false``).

    :returns: the data, the error records and the train (for its counts).
    """
    esc = movement.Escapement()
    collector = Collector()
    errors: list[Any] = []
    if cog == "fs.read":
        supply: movement.Cog = fs.FileReaderSupply(esc, [str(path)], **params)
    else:
        supply = fs.FileWatcherSupply(esc, [str(path)], **{"tail": False, **params})
    train = movement.Train(esc, [supply, collector], error_output=errors.append)
    esc.run()
    esc.close()
    return collector.data, errors, train


class TestByteOrderMark:
    @pytest.mark.parametrize("read_size", [1, 2, 4, 1 << 16])
    def test_a_utf8_bom_is_no_part_of_the_first_line(self, tmp_path: Path, read_size: int) -> None:
        """The BOM is skipped; the first line's id is the offset after it."""
        path = tmp_path / "a.log"
        path.write_bytes(codecs.BOM_UTF8 + "première\nzweite\n".encode())
        data, _ = read(path, read_size=read_size, line_setter="line", id_setter="id")
        assert data == [{"id": f"{path}:3", "line": "première"}, {"id": f"{path}:13", "line": "zweite"}]


# U+0A41 then U+0100: in UTF-16-LE "41 0A 00 01", bytes 0A 00 across two characters, which are no newline.
TRICKY = "\u0a41\u0100"


class TestWideEncodings:
    @pytest.mark.parametrize(
        ("encoding", "codec", "mark"),
        [
            ("utf-16", "utf-16-le", codecs.BOM_UTF16_LE),
            ("utf-16", "utf-16-be", codecs.BOM_UTF16_BE),
            ("utf-16", "utf-16-le", b""),
            ("utf-16-be", "utf-16-be", b""),
            ("utf-16-le", "utf-16-le", codecs.BOM_UTF16_LE),
            ("utf-32", "utf-32-be", codecs.BOM_UTF32_BE),
        ],
        ids=["16-mark-le", "16-mark-be", "16-no-mark", "16-be", "16-le-mark", "32-mark-be"],
    )
    @pytest.mark.parametrize("read_size", [1, 3, 1 << 16])
    def test_utf16_and_utf32_lines(
        self, tmp_path: Path, encoding: str, codec: str, mark: bytes, read_size: int
    ) -> None:
        """Lines in either byte order, the mark no part of the first line, ids in bytes, no false newline."""
        path = tmp_path / "a.log"
        lines = ["première", TRICKY, "", "dernière"]
        path.write_bytes(mark + "".join(line + "\n" for line in lines).encode(codec))
        data, errors = read(path, encoding=encoding, read_size=read_size, line_setter="line", id_setter="id")
        width = 2 if "16" in codec else 4
        offsets, at = [], len(mark)
        for line in lines:
            offsets.append(at)
            at += (len(line) + 1) * width
        assert data == [{"id": f"{path}:{o}", "line": line} for o, line in zip(offsets, lines, strict=True)]
        assert not errors

    def test_an_unfinished_last_line_in_utf16(self, tmp_path: Path) -> None:
        """The last line without its newline is sent when the file is read to its end."""
        path = tmp_path / "a.log"
        path.write_bytes(codecs.BOM_UTF16_BE + "one\ntw".encode("utf-16-be"))
        data, _ = read(path, encoding="utf-16")
        assert data == ["one", "tw"]


class TestEncodingErrors:
    CONTENT = b"good\nbad \xff\xfe here\nalso good\n"

    def test_by_default_the_line_goes_to_the_error_output(self, tmp_path: Path) -> None:
        """``error``: the undecodable line is reported with its file and offset; the others go on."""
        path = tmp_path / "a.log"
        path.write_bytes(self.CONTENT)
        data, errors = read(path)
        assert data == ["good", "also good"]
        assert [e.event_id for e in errors] == [f"{path}:5"]

    def test_replace(self, tmp_path: Path) -> None:
        """``replace``: undecodable bytes become U+FFFD and the line goes on."""
        path = tmp_path / "a.log"
        path.write_bytes(self.CONTENT)
        data, errors = read(path, encoding_errors="replace")
        assert data == ["good", "bad \ufffd\ufffd here", "also good"] and not errors

    def test_bytes(self, tmp_path: Path) -> None:
        """``bytes``: the line goes on undecoded."""
        path = tmp_path / "a.log"
        path.write_bytes(self.CONTENT)
        data, errors = read(path, encoding_errors="bytes", line_setter="line")
        assert data == [{"line": "good"}, {"line": b"bad \xff\xfe here"}, {"line": "also good"}] and not errors

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"encoding_errors": "ignore"}, "encoding_errors must be one of"),
            ({"encoding": "cp037"}, "encoding 'cp037' is not supported"),
            ({"encoding": "utf-16", "multiline": {"mode": "java"}}, "multiline does not go with encoding 'utf-16'"),
            ({"encoding": "klingon"}, "no such text encoding 'klingon'"),
            ({"encoding_errors": "bytes", "multiline": {"mode": "java"}}, "does not go with multiline"),
        ],
    )
    def test_refused_with_a_reason(self, tmp_path: Path, params: dict[str, Any], message: str) -> None:
        """A bad policy or an encoding whose newline is not 0x0A is refused when the cog is built."""
        with pytest.raises(ValueError, match=message):
            fs.FileWatcherSupply(movement.DummyEscapement(), [str(tmp_path / "a.log")], **params)


#: The user's file: a line over ``max_line = 20`` (at 3), then two lines in Latin-1 (at 50 and 60).
LATIN = b"ok\n" + b"A" * 46 + b"\ncaf\xe9\nfine\ncaf\xe9 again\n"
COGS = ["fs.read", "fs.tail"]


def lines_of(data: list[Any], line_setter: str | None) -> list[Any]:
    """The lines of ``data``, wherever ``line_setter`` put them."""
    if line_setter is None:
        return data
    get = movement.getter(line_setter)
    return [get(datum) for datum in data]


def errors_of(errors: list[Any]) -> list[tuple[Any, type]]:
    return [(e.event_id, type(e.error)) for e in errors]


class TestEncodingErrorsLineByLine:
    """``encoding_errors`` holds on the path that takes a chunk line by line as on the whole-chunk one.

    A chunk goes line by line when it is longer than ``max_line`` (it may hold a
    line too long) or when a setter is not a plain key (a dotted field path).
    """

    @pytest.mark.parametrize("cog", COGS)
    @pytest.mark.parametrize(
        ("line_setter", "id_setter"),
        [(None, None), ("line", None), ("line", "id"), ("a.b", None), ("a.b", "c.d")],
        ids=["lines", "key", "key-id", "path", "path-id"],
    )
    def test_replace_after_a_line_too_long(
        self, tmp_path: Path, cog: str, line_setter: str | None, id_setter: str | None
    ) -> None:
        """The user's file: only the long line is an error; both Latin-1 lines go on with U+FFFD."""
        path = tmp_path / "a.log"
        path.write_bytes(LATIN)
        data, errors, train = run(
            cog, path, encoding_errors="replace", max_line=20, line_setter=line_setter, id_setter=id_setter
        )
        assert lines_of(data, line_setter) == ["ok", "caf\ufffd", "fine", "caf\ufffd again"]
        assert errors_of(errors) == [(f"{path}:3", fs.LineTooLong)]
        assert (train.events_in, len(data), train.errors) == (5, 4, 1)
        if id_setter is not None:
            get_id = movement.getter(id_setter)
            assert [get_id(datum) for datum in data] == [f"{path}:{offset}" for offset in (0, 50, 55, 60)]

    @pytest.mark.parametrize("cog", COGS)
    def test_replace_with_a_field_path_and_no_line_too_long(self, tmp_path: Path, cog: str) -> None:
        """A dotted ``line_setter`` goes line by line with no long line at all: U+FFFD there too."""
        path = tmp_path / "a.log"
        path.write_bytes(b"ok\ncaf\xe9\nfine\ncaf\xe9 again\n")
        data, errors, _ = run(cog, path, encoding_errors="replace", line_setter="a.b")
        assert data == [{"a": {"b": line}} for line in ["ok", "caf\ufffd", "fine", "caf\ufffd again"]]
        assert not errors

    @pytest.mark.parametrize("cog", COGS)
    def test_replace_far_after_a_line_too_long(self, tmp_path: Path, cog: str) -> None:
        """~99 KB of short lines after the long one, read 1000 bytes at a time: still U+FFFD."""
        path = tmp_path / "a.log"
        filler = [f"line {n:05}" for n in range(9000)]
        head = LATIN[:50] + "".join(f"{line}\n" for line in filler).encode()
        path.write_bytes(head + LATIN[50:])
        assert len(head) > 99_000
        data, errors, _ = run(cog, path, encoding_errors="replace", max_line=20, read_size=1000)
        assert data == ["ok", *filler, "caf\ufffd", "fine", "caf\ufffd again"]
        assert errors_of(errors) == [(f"{path}:3", fs.LineTooLong)]

    def test_replace_while_following(self, tmp_path: Path) -> None:
        """``fs.tail`` following the file: Latin-1 lines written after the long one come with U+FFFD."""
        path = tmp_path / "a.log"
        path.write_bytes(LATIN[:50])  # "ok" and the long line
        esc = movement.Escapement()
        collector = Collector()
        errors: list[Any] = []
        supply = fs.FileWatcherSupply(esc, [str(path)], encoding_errors="replace", max_line=20, poll_interval=0.05)
        movement.Train(esc, [supply, collector], error_output=errors.append)
        deadline = time.monotonic() + 10

        def check() -> None:
            if collector.data == ["ok"] and errors and path.stat().st_size == 50:
                with path.open("ab") as out:
                    out.write(LATIN[50:])
            if len(collector.data) + len(errors) >= 5 or time.monotonic() > deadline:
                esc.shutdown()

        esc.every(0.01, check, keeps_alive=False)
        esc.run()
        esc.close()
        assert collector.data == ["ok", "caf\ufffd", "fine", "caf\ufffd again"]
        assert errors_of(errors) == [(f"{path}:3", fs.LineTooLong)]

    @pytest.mark.parametrize("cog", COGS)
    @pytest.mark.parametrize("line_setter", [None, "a.b"], ids=["lines", "path"])
    def test_error_still_rejects_naming_file_and_offset(
        self, tmp_path: Path, cog: str, line_setter: str | None
    ) -> None:
        """``error`` (the default) line by line: each Latin-1 line to the error output, ``in FILE:OFFSET``."""
        path = tmp_path / "a.log"
        path.write_bytes(LATIN)
        data, errors, _ = run(cog, path, max_line=20, line_setter=line_setter)
        assert lines_of(data, line_setter) == ["ok", "fine"]
        assert errors_of(errors) == [
            (f"{path}:3", fs.LineTooLong),
            (f"{path}:50", UnicodeDecodeError),
            (f"{path}:60", UnicodeDecodeError),
        ]
        assert f"in {path}:50" in str(errors[1].error) and errors[1].datum["raw"] == b"caf\xe9"
        assert f"in {path}:60" in str(errors[2].error) and errors[2].datum["raw"] == b"caf\xe9 again"

    @pytest.mark.parametrize("cog", COGS)
    def test_bytes_line_by_line(self, tmp_path: Path, cog: str) -> None:
        """``bytes`` line by line: the Latin-1 lines go on undecoded, the others as text."""
        path = tmp_path / "a.log"
        path.write_bytes(LATIN)
        data, errors, _ = run(cog, path, encoding_errors="bytes", max_line=20, line_setter="a.b")
        assert lines_of(data, "a.b") == ["ok", b"caf\xe9", "fine", b"caf\xe9 again"]
        assert errors_of(errors) == [(f"{path}:3", fs.LineTooLong)]

    @pytest.mark.parametrize("cog", COGS)
    @pytest.mark.parametrize("encoding_errors", ["error", "replace", "bytes"])
    def test_every_path_gives_the_same(self, tmp_path: Path, cog: str, encoding_errors: str) -> None:
        """No line too long: the whole-chunk path, the line-by-line one (a chunk over ``max_line``, a
        field path, an id setter of its own) and one read per byte give the same lines and errors."""
        path = tmp_path / "a.log"
        path.write_bytes(b"ok\ncaf\xe9\nfine\n\xff\xfe\ncaf\xe9 again\nbye\n")
        variants: list[dict[str, Any]] = [
            {},
            {"max_line": 20},
            {"line_setter": "a.b"},
            {"id_setter": "c.d"},
            {"read_size": 1},
            {"read_size": 1, "max_line": 20},
        ]
        results = []
        for params in variants:
            params = {"line_setter": "line", **params}
            data, errors, _ = run(cog, path, encoding_errors=encoding_errors, **params)
            results.append((lines_of(data, params["line_setter"]), errors_of(errors)))
        assert all(result == results[0] for result in results[1:]), results
        expected = {
            "error": ["ok", "fine", "bye"],
            "replace": ["ok", "caf\ufffd", "fine", "\ufffd\ufffd", "caf\ufffd again", "bye"],
            "bytes": ["ok", b"caf\xe9", "fine", b"\xff\xfe", b"caf\xe9 again", "bye"],
        }
        assert results[0][0] == expected[encoding_errors]
        bad = [(f"{path}:{offset}", UnicodeDecodeError) for offset in (3, 13, 16)]
        assert results[0][1] == (bad if encoding_errors == "error" else [])

    @pytest.mark.parametrize("encoding_errors", ["error", "replace"])
    def test_multiline_with_a_line_too_long(self, tmp_path: Path, encoding_errors: str) -> None:
        """Multiline events cut line by line (a line too long among them) honour the mode too."""
        path = tmp_path / "a.log"
        path.write_bytes(b"first caf\xe9\n  more\n" + b"A" * 46 + b"\nnext\n  caf\xe9 again\nend\n")
        data, errors, _ = run("fs.tail", path, encoding_errors=encoding_errors, max_line=20, multiline={"mode": "java"})
        if encoding_errors == "replace":
            assert data == ["first caf\ufffd\n  more", "next\n  caf\ufffd again", "end"]
            assert errors_of(errors) == [(f"{path}:18", fs.LineTooLong)]
        else:
            assert data == ["  more", "next", "end"]
            assert errors_of(errors) == [
                (f"{path}:0", UnicodeDecodeError),
                (f"{path}:18", fs.LineTooLong),
                (f"{path}:70", UnicodeDecodeError),
            ]

    @pytest.mark.parametrize("encoding_errors", ["error", "replace", "bytes"])
    def test_utf16_with_a_line_too_long(self, tmp_path: Path, encoding_errors: str) -> None:
        """UTF-16 lines (always taken one by one) after a line too long: a lone surrogate as the mode says."""
        path = tmp_path / "a.log"
        bad = "caf".encode("utf-16-le") + b"\x00\xd8"  # a high surrogate with no low one after it
        head = "ok\n".encode("utf-16-le") + ("A" * 23 + "\n").encode("utf-16-le")
        path.write_bytes(head + bad + "\nfine\n".encode("utf-16-le"))
        data, errors, _ = run("fs.tail", path, encoding="utf-16-le", encoding_errors=encoding_errors, max_line=20)
        kept: dict[str, list[Any]] = {"error": [], "replace": ["caf\ufffd"], "bytes": [bad]}
        line = kept[encoding_errors]
        assert data == ["ok", *line, "fine"]
        bad_error = [(f"{path}:{len(head)}", UnicodeDecodeError)] if encoding_errors == "error" else []
        assert errors_of(errors) == [(f"{path}:6", fs.LineTooLong), *bad_error]
