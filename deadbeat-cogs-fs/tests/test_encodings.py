"""Encodings: a UTF-8 byte order mark, what becomes of undecodable bytes, and encodings refused with a reason."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import pytest

from deadbeat import fs, movement
from deadbeat.testing import Collector


def read(path: Path, **params: Any) -> tuple[list[Any], list[Any]]:
    esc = movement.Escapement()
    collector = Collector()
    errors: list[Any] = []
    supply = fs.FileReaderSupply(esc, [str(path)], **params)
    movement.Train(esc, [supply, collector], error_output=errors.append)
    esc.run()
    esc.close()
    return collector.data, errors


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
