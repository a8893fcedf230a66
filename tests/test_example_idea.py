"""examples/idea_anonymise.toml does what its comment says, on the data shipped with it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PIPELINE = "idea_anonymise.toml"
EVENTS = EXAMPLES / "data" / "idea_events.idea"
ID = "4390fb5e-7c34-4a3b-9f2e-3d1c0a8b1f{:02d}"


def source_addresses(event: dict) -> list[str]:  # type: ignore[type-arg]
    return [a for s in event["Source"] for key in ("IP4", "IP6") for a in s.get(key, [])]


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The example's pipeline and data files, copied as they lie in examples/ (the run writes beside them)."""
    shutil.copy(EXAMPLES / PIPELINE, tmp_path)
    (tmp_path / "data").mkdir()
    for data in (EXAMPLES / "data").glob("idea_*"):
        shutil.copy(data, tmp_path / "data")
    (tmp_path / "data" / "idea_cryptopan.key").chmod(0o600)
    return tmp_path


def run(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", str(directory / PIPELINE), "--once", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )


class TestIDEAAnonymiser:
    def test_runs_as_its_comment_says(self, example: Path) -> None:
        """Three events reach the spool directory, named by ID; the repeat is dropped; two lines go to the errors."""
        result = run(example)
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in (example / "idea_out").iterdir()) == [ID.format(n) for n in (1, 2, 4)]
        errors = [json.loads(line) for line in (example / "idea_errors.jsonl").read_text().splitlines()]
        assert [e["event_id"].rsplit(":", 1)[0] for e in errors] == [str(example / "data" / "idea_events.idea")] * 2
        assert {e["datum"]["ID"] if isinstance(e["datum"], dict) else "cut short" for e in errors} == {
            ID.format(5),
            "cut short",
        }
        assert any("192.0.2.300" in e["error"] for e in errors)

    def test_sources_get_crypto_pan_pseudonyms_and_tags(self, example: Path) -> None:
        """Every source address is replaced by the reference Crypto-PAn's pseudonym; tags name the real networks."""
        cryptopan = pytest.importorskip("yacryptopan")
        key = bytes.fromhex((example / "data" / "idea_cryptopan.key").read_text().strip())
        reference = cryptopan.CryptoPAn(key)
        assert run(example).returncode == 0
        originals = {e["ID"]: e for e in map(json.loads, EVENTS.read_text().splitlines()[:5])}
        written = {p.name: json.loads(p.read_text()) for p in (example / "idea_out").iterdir()}
        for name, event in written.items():
            before = originals[name]
            assert source_addresses(event) == [reference.anonymize(a) for a in source_addresses(before)]
            assert event["Target"] == before["Target"]
            assert {k: v for k, v in event.items() if k not in ("Source", "_Deadbeat")} == {
                k: v for k, v in before.items() if k != "Source"
            }
            text = (example / "idea_out" / name).read_text()
            assert not [a for a in source_addresses(before) if f'"{a}"' in text]
        tags = {name: event["_Deadbeat"]["SourceNetworks"] for name, event in written.items()}
        assert tags == {ID.format(1): "customers", ID.format(2): ["scanners", None, "customers"], ID.format(4): []}

    def test_a_second_run_writes_nothing_again(self, example: Path) -> None:
        """The positions are kept: run again, nothing is read twice and no file is written twice."""
        assert run(example).returncode == 0
        before = {p.name: p.stat().st_mtime_ns for p in (example / "idea_out").iterdir()}
        again = run(example)
        assert again.returncode == 0, again.stderr
        assert {p.name: p.stat().st_mtime_ns for p in (example / "idea_out").iterdir()} == before
        assert len((example / "idea_errors.jsonl").read_text().splitlines()) == 2
