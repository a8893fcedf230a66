"""stream.nats_write: a datum too big for the server, taken before the first connection, keeps its event id.

The server's ``max_payload`` is known only once connected; data taken before
are checked then, out of the train's send, and the one too big goes to the
error output. Against the machine's NATS with JetStream (127.0.0.1:4222), each
test on a stream of its own, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from deadbeat import movement, stream

SHARED = "nats://127.0.0.1:4222"
#: Twice NATS's default max_payload (1 MB).
BIG = "B" * 2_000_000


def _delete(name: str) -> None:
    async def go() -> None:
        nc = await nats.connect(SHARED)
        try:
            await nc.jetstream().delete_stream(name)
        except nats.js.errors.NotFoundError:
            pass
        finally:
            await nc.close()

    asyncio.run(go())


def _stored(name: str) -> list[bytes]:
    async def go() -> list[bytes]:
        nc = await nats.connect(SHARED)
        try:
            js = nc.jetstream()
            info = await js.stream_info(name)
            found = []
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                found.append((await js.get_msg(name, sequence)).data or b"")
            return found
        finally:
            await nc.close()

    return asyncio.run(go())


@pytest.fixture
def name() -> Iterator[str]:
    """A stream name of the test's own, made by the output (capturing NAME.out), deleted afterwards."""
    made = f"DBFIX{uuid.uuid4().hex[:10]}"
    yield made
    _delete(made)


class OneBatch(movement.Supply):
    """Sends one batch, with event ids, at the first turn of the loop; notes whether it was acknowledged."""

    def __init__(self, esc: movement.Escapement, lines: list[str], ids: list[str]) -> None:
        self.esc = esc
        self.acknowledged = False
        esc.enqueue(lambda: esc.send_from(self, movement.Batch(lines, batch_id="only", event_ids=lambda: ids)))

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        self.acknowledged = self.acknowledged or batch_id == "only"


class Upper(movement.Cog):
    """A one-to-one cog making new objects: the train keeps track of which datum came from which."""

    one_to_one = True

    def __call__(self, datum: str) -> tuple[str, ...]:
        return (datum.upper(),)

    def call_batch(self, data: list[str]) -> list[str]:
        return [datum.upper() for datum in data]


def _run(esc: movement.Escapement, until: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    esc.every(0.02, lambda: (until() or time.monotonic() > deadline) and esc.shutdown(), keeps_alive=False)
    try:
        esc.run()
    finally:
        esc.close()


class TestTooBigBeforeTheFirstConnection:
    @pytest.mark.parametrize("between", [False, True], ids=["straight", "through a parser"])
    def test_the_record_names_the_datums_event_id(self, name: str, between: bool) -> None:
        """The big datum of the first batch reaches the error output with its id; the others are stored."""
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []
        train = movement.Train(esc, error_output=records.append)
        supply = OneBatch(esc, ["small1", BIG, "small2"], ["in.txt:0", "in.txt:7", "in.txt:2000008"])
        drain = stream.NATSStreamDrain(train, f"{name}.out", stream=name)
        train.cogs = [supply, *((Upper(),) if between else ()), drain]
        _run(esc, lambda: supply.acknowledged)
        assert supply.acknowledged and not esc.failures
        (record,) = records
        assert record.event_id == "in.txt:7"
        assert "max_payload" in str(record.error) and len(record.datum) == len(BIG)
        assert train.errors == 1 and drain.counts["written"] == 2
        expected = [b"SMALL1", b"SMALL2"] if between else [b"small1", b"small2"]
        assert _stored(name) == expected
        assert drain._early_ids == []  # nothing kept once checked

    def test_after_the_first_connection_a_big_datum_is_refused_as_it_arrives_with_its_id(self, name: str) -> None:
        """Once the limit is known, the train refuses it in its send, as before: the same record."""
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []
        train = movement.Train(esc, error_output=records.append)
        first = OneBatch(esc, ["a"], ["f:0"])
        drain = stream.NATSStreamDrain(train, f"{name}.out", stream=name)
        train.cogs = [first, drain]
        state = {"second": False}
        esc.after(30, lambda: None)  # the run goes on after the first batch, for the second

        def until() -> bool:
            if first.acknowledged and not state["second"]:
                state["second"] = True
                batch = movement.Batch(["b", BIG], batch_id="second", event_ids=lambda: ["f:2", "f:4"])
                esc.send_from(first, batch)
            return len(records) == 1 and drain.counts["written"] == 2

        _run(esc, until)
        (record,) = records
        assert record.event_id == "f:4" and "max_payload" in str(record.error)

    def test_deadbeat_run_writes_file_and_offset_of_the_big_line(self, name: str, tmp_path: Path) -> None:
        """fs.read -> stream.nats_write: the record in the error file and the log line name FILE:OFFSET."""
        source = tmp_path / "in.txt"
        source.write_text(f"small1\n{BIG}\nsmall2\n")
        errors = tmp_path / "errors.jsonl"
        pipeline = tmp_path / "p.toml"
        pipeline.write_text(
            textwrap.dedent(
                f"""
                [[cog]]
                use = "fs.read"
                filenames = ["{source}"]
                max_line = 10000000

                [[cog]]
                use = "stream.nats_write"
                subject = "{name}.out"
                stream = "{name}"
                servers = ["{SHARED}"]

                [[errors]]
                use = "text.json_format"

                [[errors]]
                use = "fs.write"
                filename = "{errors}"
                """
            )
        )
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--once"],
            capture_output=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        (record,) = [json.loads(line) for line in errors.read_text().splitlines()]
        assert record["event_id"] == f"{source}:7"
        assert "max_payload" in record["error"]
        assert f"{source}:7: NATSStreamDrain".encode() in result.stderr
        assert b"-: NATSStreamDrain" not in result.stderr
        assert _stored(name) == [b"small1", b"small2"]
