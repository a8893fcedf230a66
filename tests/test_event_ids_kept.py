"""A failure after a per-datum cog still names the event it came in as (FILE:OFFSET).

Each case runs ``deadbeat run --once``: fs.read, the cog under test (after a
parser where it needs mappings), a cog that fails on one chosen line, fs.write;
the error records go out as JSON lines. The cogs under test declare
``one_to_one`` and take whole lists (``call_batch``), so the train keeps track
of which datum each result came from; before, the record said ``event_id: null``
and the log line ``-:``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

_JSON = [{"use": "text.json_parse"}]
# A list stage (call_batch) that is not under test: a per-datum cog before it
# ran in a loop of its own, and the list it gave knew nothing of the events.
_FAILS_ON_A = {"use": "text.json_parse", "source": "a", "target": "parsed"}

# name: (lines, cogs before the failing one, the failing cog, index of the line that fails)
CASES: dict[str, tuple[list[str], list[dict[str, Any]], dict[str, Any], int]] = {
    "text.kv_parse": (["a=1", "a=x"], [{"use": "text.kv_parse"}], _FAILS_ON_A, 1),
    "text.template": (
        ['{"a": "1"}', '{"a": "x"}'],
        [*_JSON, {"use": "text.template", "template": '{"a": $a}'}],
        {"use": "text.json_parse"},
        1,
    ),
    "text.csv_format": (
        ['{"a": "1"}', '{"a": "x"}'],
        [*_JSON, {"use": "text.csv_format", "fieldnames": ["a"]}],
        {"use": "text.json_parse"},
        1,
    ),
    "text.encode+text.decode": (
        ['{"a": "1"}', '{"a": "x"}'],
        [*_JSON, {"use": "text.encode", "field": "a"}, {"use": "text.decode", "field": "a"}],
        _FAILS_ON_A,
        1,
    ),
    "cast.fields": (
        ['{"a": "1", "b": "2"}', '{"a": "x", "b": "3"}'],
        [*_JSON, {"use": "cast.fields", "fields": {"b": "int"}}],
        _FAILS_ON_A,
        1,
    ),
    "flow.rename": (
        ['{"b": "1"}', '{"b": "x"}'],
        [*_JSON, {"use": "flow.rename", "fields": {"b": "a"}}],
        _FAILS_ON_A,
        1,
    ),
    "flow.dedupe": (
        ['{"k": 1, "a": "1"}', '{"k": 1, "a": "1"}', '{"k": 2, "a": "x"}'],
        [*_JSON, {"use": "flow.dedupe", "fields": ["k"]}],
        _FAILS_ON_A,
        2,
    ),
    "flow.throttle": (
        ['{"k": 1, "a": "1"}', '{"k": 1, "a": "1"}', '{"k": 2, "a": "x"}'],
        [*_JSON, {"use": "flow.throttle", "fields": ["k"], "rate": 0.001, "burst": 1}],
        _FAILS_ON_A,
        2,
    ),
    "ip.parse": (
        ['{"ip": "192.0.2.1", "a": "1"}', '{"ip": "192.0.2.2", "a": "x"}'],
        [*_JSON, {"use": "ip.parse"}],
        _FAILS_ON_A,
        1,
    ),
    "ip.cidr tag": (
        ['{"ip": "192.0.2.1", "a": "1"}', '{"ip": "198.51.100.1", "a": "x"}'],
        [*_JSON, {"use": "ip.cidr", "lists": {"doc": "nets.txt"}}],
        _FAILS_ON_A,
        1,
    ),
    "ip.cidr keep": (
        ['{"ip": "192.0.2.1", "a": "1"}', '{"ip": "198.51.100.1", "a": "1"}', '{"ip": "192.0.2.9", "a": "x"}'],
        [*_JSON, {"use": "ip.cidr", "lists": {"doc": "nets.txt"}, "action": "keep"}],
        _FAILS_ON_A,
        2,
    ),
    # The reproducer: a per-datum parser before a list stage that fails.
    "text.kv_parse then ip.anonymise": (
        ["ip=192.0.2.1", "ip=bad"],
        [{"use": "text.kv_parse"}],
        {"use": "ip.anonymise"},
        1,
    ),
}


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _cog(table: str, cog: dict[str, Any]) -> str:
    return f"[[{table}]]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in cog.items())


@pytest.mark.parametrize("name", list(CASES))
def test_error_record_names_the_event(tmp_path: Path, name: str) -> None:
    lines, before, failing, bad = CASES[name]
    source = tmp_path / "in.log"
    source.write_text("".join(line + "\n" for line in lines))
    (tmp_path / "nets.txt").write_text("192.0.2.0/24 doc\n")
    cogs = [{"use": "fs.read", "filenames": [str(source)]}, *before, failing]
    cogs += [{"use": "text.json_format"}, {"use": "fs.write", "filename": "out.jsonl"}]
    errors = [{"use": "text.json_format"}, {"use": "fs.write", "filename": "err.jsonl"}]
    pipeline = "".join(_cog("cog", cog) for cog in cogs) + "".join(_cog("errors", cog) for cog in errors)
    (tmp_path / "pipeline.toml").write_text(pipeline)
    done = subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", "--once", "pipeline.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (0, 1), done.stderr
    records = [json.loads(line) for line in (tmp_path / "err.jsonl").read_text().splitlines()]
    offset = sum(len(line.encode()) + 1 for line in lines[:bad])
    event_id = f"{source}:{offset}"
    assert [record["event_id"] for record in records] == [event_id], (records, done.stderr)
    assert f"WARNING {event_id}: " in done.stderr, done.stderr
    assert "WARNING -: " not in done.stderr, done.stderr
