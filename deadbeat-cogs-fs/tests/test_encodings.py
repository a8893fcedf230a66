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
            ({"encoding": "utf-16"}, "encoding 'utf-16' is not supported"),
            ({"encoding": "utf-32-le"}, "encoding 'utf-32-le' is not supported"),
            ({"encoding": "klingon"}, "no such text encoding 'klingon'"),
            ({"encoding_errors": "bytes", "multiline": {"mode": "java"}}, "does not go with multiline"),
        ],
    )
    def test_refused_with_a_reason(self, tmp_path: Path, params: dict[str, Any], message: str) -> None:
        """A bad policy or an encoding whose newline is not 0x0A is refused when the cog is built."""
        with pytest.raises(ValueError, match=message):
            fs.FileWatcherSupply(movement.DummyEscapement(), [str(tmp_path / "a.log")], **params)
