"""File reading and writing on real files."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest

from deadbeat import fs, movement
from deadbeat.testing import CogConformance, run_train

SAMPLE = Path(__file__).parent / "data" / "sample.txt"
SCRATCH = Path(tempfile.mkdtemp(prefix="deadbeat-fs-test-"))


class TestFileReaderConformance(CogConformance):
    cog_name = "fs.read"
    params = {"filenames": [str(SAMPLE)], "batch": 2}


class TestLineFileDrainConformance(CogConformance):
    cog_name = "fs.write"
    params = {"filename": str(SCRATCH / "conformance.txt")}
    samples = [{"line": "one"}, {"line": "two"}]
    flushes_all = True


class TestFileReader:
    def test_reads_files_in_order_with_ids(self, tmp_path: Path) -> None:
        """Every line of every file arrives once, in order, with FILE:LINE ids."""
        second = tmp_path / "second.txt"
        second.write_text("delta\r\nepsilon")
        esc = movement.Escapement()
        out = run_train([fs.FileReaderSupply(esc, [str(SAMPLE), str(second)], batch=2)], esc=esc)
        assert [(d["id"], d["line"]) for d in out.data] == [
            ("sample.txt:1", "alpha"),
            ("sample.txt:2", "beta"),
            ("sample.txt:3", "gamma"),
            ("second.txt:1", "delta"),
            ("second.txt:2", "epsilon"),
        ]

    def test_missing_file_is_logged_and_the_rest_read(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """A file that cannot be read is named in the log; the other files still arrive."""
        esc = movement.Escapement()
        missing = tmp_path / "missing.txt"
        out = run_train([fs.FileReaderSupply(esc, [str(missing), str(SAMPLE)])], esc=esc)
        assert [d["line"] for d in out.data] == ["alpha", "beta", "gamma"]
        assert f"{missing}: cannot read" in caplog.text

    def test_invalid_bytes_are_reported_with_file_and_line(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Bytes invalid in the encoding are replaced and the place is logged."""
        path = tmp_path / "latin.txt"
        path.write_bytes(b"ok\ncaf\xe9\n")
        caplog.set_level(logging.WARNING)
        esc = movement.Escapement()
        out = run_train([fs.FileReaderSupply(esc, [str(path)])], esc=esc)
        assert [d["line"] for d in out.data] == ["ok", "caf\ufffd"]
        assert "latin.txt:2: bytes not valid utf-8 at offset 3" in caplog.text

    def test_custom_setters(self) -> None:
        """line_setter and id_setter accept field paths."""
        esc = movement.Escapement()
        supply = fs.FileReaderSupply(esc, [str(SAMPLE)], line_setter="raw.text", id_setter="meta.id")
        out = run_train([supply], esc=esc)
        assert out.data[0] == {"meta": {"id": "sample.txt:1"}, "raw": {"text": "alpha"}}

    def test_one_string_instead_of_a_list_is_refused(self) -> None:
        """filenames="x" is a mistake caught at construction."""
        with pytest.raises(TypeError, match="list of paths"):
            fs.FileReaderSupply(movement.DummyEscapement(), "x")  # type: ignore[arg-type]


class TestLineFileDrain:
    def test_appends_lines_and_passes_data_on(self, tmp_path: Path) -> None:
        """Each datum's line is appended; the datum continues unchanged."""
        path = tmp_path / "out.txt"
        path.write_text("existing\n")
        out = run_train([fs.LineFileDrain(str(path))], [{"line": "a"}, {"line": "b"}])
        assert path.read_text() == "existing\na\nb\n"
        assert out.data == [{"line": "a"}, {"line": "b"}]
