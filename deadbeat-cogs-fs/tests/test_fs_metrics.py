"""fs.read, fs.write and fs.spool_write report their figures for /metrics and --stats.

Real files (and a real full file system, a small tmpfs the test mounts); the
figures are read from ``metrics()`` and through the metrics snapshot, as a
scrape reads them.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deadbeat import fs, metrics, movement
from deadbeat.testing import Collector


class Probe(movement.Cog):
    """Reads a cog's figures when the first datum passes (the supply has read its first chunk only)."""

    def __init__(self) -> None:
        self.cog: Any = None
        self.first: dict[str, float] | None = None

    def __call__(self, data: Any) -> tuple[Any, ...]:
        if self.first is None:
            self.first = self.cog.metrics()
        return (data,)


def cog_figures(train: movement.Train, position: int) -> tuple[dict[str, float], dict[str, float]]:
    """(counters, gauges) of the cog at ``position``, from the snapshot a scrape reads."""
    (cog,) = [cog for cog in metrics.snapshot([train]).trains[0].cogs if cog.position == position]
    return cog.counters, cog.gauges


class TestRead:
    def test_bytes_and_lines_read_and_what_is_left_to_read(self, tmp_path: Path) -> None:
        """Lag is what the files hold beyond what was read; at the end every byte and line is counted, lag 0."""
        first, second = tmp_path / "a.log", tmp_path / "b.log"
        first.write_text("".join(f"a {i:05d}\n" for i in range(3000)))
        # One line that does not decode goes to the error output: it was read all the same.
        second.write_bytes(b"".join(f"b {i:05d}\n".encode() for i in range(2000)) + b"\xff\xfe\n")
        packed = tmp_path / "c.log.gz"
        with gzip.open(packed, "wt") as handle:
            handle.write("".join(f"c {i:05d}\n" for i in range(500)))
        content = first.stat().st_size + second.stat().st_size + len(gzip.decompress(packed.read_bytes()))
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        supply = fs.FileReaderSupply(esc, [str(first), str(second), str(packed)], read_size=4096)
        probe, collector = Probe(), Collector()
        probe.cog = supply
        train = movement.Train(esc, [supply, probe, collector], error_output=records.append)
        esc.run()
        after = supply.metrics()
        counters, gauges = cog_figures(train, 0)
        esc.close()
        assert len(collector.data) == 5500 and len(records) == 1
        assert probe.first is not None
        # The first chunk (of a.log) is read; the rest of a.log and b.log are not yet. The
        # compressed file's bytes (fewer than 64 KiB) were all read at its opening, for its first lines.
        assert probe.first["bytes_read_total"] == 4096 and probe.first["files_open"] == 3
        assert probe.first["lag_bytes"] == first.stat().st_size + second.stat().st_size - 4096
        assert after["bytes_read_total"] == content and after["lines_read_total"] == 5501
        assert after["lag_bytes"] == 0 and after["files_open"] == 0 and after["batches_unacknowledged"] == 0
        assert set(after) == {
            "bytes_read_total",
            "lines_read_total",
            "files_open",
            "files_waiting_to_open",
            "batches_unacknowledged",
            "lag_bytes",
        }
        assert counters["bytes_read_total"] == content and counters["lines_read_total"] == 5501
        assert gauges["lag_bytes"] == 0 and "lines_read_total" not in gauges

    def test_multiline_counts_the_lines_of_the_events(self, tmp_path: Path) -> None:
        """With multiline, lines_read_total counts lines, and each once, though an event waits for its next line."""
        path = tmp_path / "trace.log"
        path.write_text("Traceback:\n  one\n  two\nnext\n  three\nlast\n")
        esc = movement.Escapement()
        supply = fs.FileReaderSupply(esc, [str(path)], multiline={"mode": "python"}, read_size=8)
        collector = Collector()
        movement.Train(esc, [supply, collector])
        esc.run()
        after = supply.metrics()
        esc.close()
        assert len(collector.data) == 3
        assert after["lines_read_total"] == 6 and after["bytes_read_total"] == path.stat().st_size


def lines_file(path: Path, count: int) -> list[str]:
    lines = [f"line {i:06d} {'x' * 20}" for i in range(count)]
    path.write_text("".join(line + "\n" for line in lines))
    return lines


class TestWrite:
    def test_lines_and_bytes_written(self, tmp_path: Path) -> None:
        """After N lines the written counter says N, the bytes are the file's size, nothing is pending."""
        source, out = tmp_path / "in.txt", tmp_path / "out.txt"
        lines_file(source, 10_000)
        esc = movement.Escapement()
        supply = fs.FileReaderSupply(esc, [str(source)], read_size=8192)
        drain = fs.LineFileDrain(esc, str(out))
        train = movement.Train(esc, [supply, drain])
        esc.run()
        after = drain.metrics()
        counters, gauges = cog_figures(train, 1)
        esc.close()
        assert out.read_text() == source.read_text()
        assert after == {
            "written_total": 10_000,
            "bytes_written_total": out.stat().st_size,
            "write_errors_total": 0,
            "retried_total": 0,
            "pending": 0,
            "pending_bytes": 0,
            "last_error_timestamp_seconds": 0.0,
        }
        assert counters["written_total"] == 10_000 and counters["retried_total"] == 0
        assert gauges["pending"] == 0 and gauges["last_error_timestamp_seconds"] == 0

    def test_datum_by_datum_too(self, tmp_path: Path) -> None:
        """Data the train gives one at a time (a list that cannot go at once) are counted alike."""
        out = tmp_path / "out.txt"
        esc = movement.Escapement()
        drain = fs.LineFileDrain(esc, str(out), line_getter="line")
        records: list[movement.ErrorRecord] = []
        train = movement.Train(esc, [drain], error_output=records.append)
        train.send(None, [{"line": "one"}, {"no": "line"}, {"line": "two"}])
        after = drain.metrics()
        drain.done()
        esc.close()
        assert out.read_text() == "one\ntwo\n" and len(records) == 1
        assert after["written_total"] == 2 and after["bytes_written_total"] == 8 and after["pending"] == 0


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, mounted for the test (the tests run as root, in CI too), as in test_full_disk."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path, leave: int) -> Path:
    """Fill ``mount`` but for about ``leave`` bytes."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    os.close(fd)
    return filler


class TestWriteOnAFullDisk:
    def test_pending_errors_retries_and_the_time_of_the_last_failure(self, tmp_path: Path, small_fs: Path) -> None:
        """While the disk is full: lines pending, failures counted with their time; then all written, none pending."""
        source, out = tmp_path / "in.txt", small_fs / "out.txt"
        lines_file(source, 20_000)
        filler = fill(small_fs, 100_000)
        esc = movement.Escapement()
        supply = fs.FileReaderSupply(esc, [str(source)], read_size=16384)
        drain = fs.LineFileDrain(esc, str(out), retry_for=30)
        movement.Train(esc, [supply, drain])
        seen: dict[str, float] = {}

        def look() -> None:
            seen.update(drain.metrics(), now=time.time())
            filler.unlink()

        began = time.time()
        esc.after(0.4, look)
        esc.run()
        after = drain.metrics()
        esc.close()
        assert out.read_text() == source.read_text()
        assert seen["pending"] > 0 and seen["pending_bytes"] > 0
        assert seen["written_total"] + seen["pending"] <= 20_000
        assert seen["write_errors_total"] >= 1 and seen["retried_total"] >= 1
        assert began <= seen["last_error_timestamp_seconds"] <= seen["now"]
        assert after["written_total"] == 20_000 and after["pending"] == 0 and after["pending_bytes"] == 0
        assert after["bytes_written_total"] == source.stat().st_size
        assert after["write_errors_total"] == seen["write_errors_total"]
        assert after["retried_total"] == seen["retried_total"] + 1  # the try that went through
        assert after["last_error_timestamp_seconds"] == seen["last_error_timestamp_seconds"]


class TestSpoolWrite:
    def test_files_and_bytes_written_and_failures(self, tmp_path: Path) -> None:
        """Each datum a file; one whose name is taken fails, counted with its time; nothing is ever pending."""
        spool = tmp_path / "spool"
        spool.mkdir()
        (spool / "taken").write_text("someone else's")
        drain = fs.SpoolDirDrain(str(spool), name_getter="name")
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []
        train = movement.Train(esc, [drain], error_output=records.append)
        began = time.time()
        train.send(None, [{"name": n, "data": f"content of {n}"} for n in ("a", "b", "taken", "c")])
        after = drain.metrics()
        counters, gauges = cog_figures(train, 0)
        esc.close()
        assert sorted(os.listdir(spool)) == ["a", "b", "c", "taken"] and len(records) == 1
        assert after["written_total"] == 3 and after["write_errors_total"] == 1
        assert after["bytes_written_total"] == sum(len(f"content of {n}") for n in "abc")
        assert after["pending"] == 0
        assert began <= after["last_error_timestamp_seconds"] <= time.time()
        assert counters["written_total"] == 3 and gauges["pending"] == 0


class TestPendingAfterAPartialWrite:
    def test_pending_counts_the_lines_not_written_whole(self, tmp_path: Path) -> None:
        """A FIFO that took part of a list: the lines that went out whole are not pending, a torn one is (the
        summary said 1,093 not written for every run, whatever the reader had taken)."""
        import fcntl

        fifo = tmp_path / "out.fifo"
        os.mkfifo(fifo)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        fcntl.fcntl(reader, 1031, 4096)  # F_SETPIPE_SZ: room for 4,096 bytes
        esc = movement.Escapement()
        drain = fs.LineFileDrain(esc, str(fifo), shutdown_timeout=0)
        try:
            train = movement.Train(esc, [drain])
            train.send(None, [f"{i:09d}" for i in range(1000)])  # 10 bytes a line, 10,000 in all
            pending = drain.metrics()["pending"]
            taken = os.read(reader, 1 << 16)
        finally:
            os.close(reader)
            esc.close()
        assert 0 < taken.count(b"\n") < 1000
        assert pending == 1000 - taken.count(b"\n")
