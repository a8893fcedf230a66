"""text.decode/text.encode take only what they can convert; an address with a NUL is an AddressError."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from deadbeat import movement, text
from deadbeat.ip import AddressError, Anonymise, IPParse, normalise, parse_address


class TestDecode:
    @pytest.mark.parametrize("value", [b"caf\xc3\xa9", bytearray(b"caf\xc3\xa9"), memoryview(b"caf\xc3\xa9")])
    def test_bytes_like(self, value: Any) -> None:
        assert text.Decode()(value) == ("café",)
        assert text.Decode(field="f")({"f": value}) == ({"f": "café"},)

    @pytest.mark.parametrize("value", [5, 10**30, -1, True, None, 2.5, [1, 2], {"a": 1}])
    def test_anything_else_is_a_type_error_naming_it(self, value: Any) -> None:
        name = type(value).__name__
        with pytest.raises(TypeError, match=rf"^text\.decode: field 'f': only bytes can be decoded, not {name}$"):
            text.Decode(field="f")({"f": value})
        with pytest.raises(TypeError, match=rf"^text\.decode: only bytes can be decoded, not {name}$"):
            text.Decode()(value)

    def test_text_is_already_text(self) -> None:
        with pytest.raises(TypeError, match=r"field 'f': only bytes can be decoded, not str \(already text\)"):
            text.Decode(field="f")({"f": "text"})

    def test_a_pipeline_sends_them_to_the_error_output(self, tmp_path: Path) -> None:
        (tmp_path / "in.jsonl").write_text('{"f":5}\n{"f":"text"}\n{"f":100000000000000}\n')
        (tmp_path / "p.toml").write_text(
            textwrap.dedent(
                """\
                [[cog]]
                use = "fs.read"
                filenames = ["in.jsonl"]
                [[cog]]
                use = "text.json_parse"
                [[cog]]
                use = "text.decode"
                field = "f"
                [[cog]]
                use = "text.json_format"
                [[cog]]
                use = "fs.write"
                filename = "out.jsonl"
                [[errors]]
                use = "text.json_format"
                [[errors]]
                use = "fs.write"
                filename = "err.jsonl"
                """
            )
        )
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", "--once", "p.toml"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        out = tmp_path / "out.jsonl"
        assert not out.exists() or out.read_text() == ""
        errors = [json.loads(line)["error"] for line in (tmp_path / "err.jsonl").read_text().splitlines()]
        assert errors == [
            "TypeError: text.decode: field 'f': only bytes can be decoded, not int",
            "TypeError: text.decode: field 'f': only bytes can be decoded, not str (already text)",
            "TypeError: text.decode: field 'f': only bytes can be decoded, not int",
        ]


class TestEncode:
    def test_text(self) -> None:
        assert text.Encode()("café") == (b"caf\xc3\xa9",)
        assert text.Encode(field="f")({"f": "café"}) == ({"f": b"caf\xc3\xa9"},)

    @pytest.mark.parametrize("value", [5, None, [1], {"a": 1}])
    def test_anything_else_is_a_type_error_naming_it(self, value: Any) -> None:
        name = type(value).__name__
        with pytest.raises(TypeError, match=rf"^text\.encode: field 'f': only text can be encoded, not {name}$"):
            text.Encode(field="f")({"f": value})

    def test_bytes_are_already_bytes(self) -> None:
        with pytest.raises(TypeError, match=r"^text\.encode: only text can be encoded, not bytes \(already bytes\)$"):
            text.Encode()(b"x")


NUL_VALUES = ["192.0.2.2\x00", "\x00192.0.2.2", "2001:db8::1\x00", "192.0.2.2\x00:80", "[2001:db8::1\x00]:443"]


class TestEmbeddedNul:
    @pytest.mark.parametrize("value", NUL_VALUES)
    def test_parse_address(self, value: str) -> None:
        with pytest.raises(AddressError, match=r"\\x00"):
            parse_address(value)
        with pytest.raises(AddressError, match=r"\\x00"):
            normalise(value)

    @pytest.mark.parametrize("value", NUL_VALUES)
    def test_ip_parse_names_field_and_value(self, value: str) -> None:
        with pytest.raises(AddressError) as caught:
            IPParse(fields="src")({"src": value})
        assert str(caught.value).startswith("field 'src': ")
        assert repr(value) in str(caught.value)

    @pytest.mark.parametrize("value", NUL_VALUES)
    def test_keyed_anonymise_names_field_and_value(self, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DEADBEAT_TEST_KEY", "07" * 32)
        with pytest.raises(AddressError, match=r"^field 'src': .*\\x00"):
            Anonymise(fields="src", mode="hash", key_env="DEADBEAT_TEST_KEY")({"src": value})

    @pytest.mark.parametrize("value", NUL_VALUES[:1])
    def test_truncating_anonymise_names_field_and_value(self, value: str) -> None:
        with pytest.raises(AddressError, match=r"^field 'src': .*\\x00"):
            Anonymise(fields="src")({"src": value})
        # Given a whole list, the fast path leaves it to the cog's own call, datum by datum (not a ValueError).
        with pytest.raises(movement.OneByOne):
            Anonymise(fields="src").call_batch([{"src": value}])
