"""File cogs on real files, directories and signals, in one process."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from deadbeat import fs, movement
from deadbeat.fs import _identity as fs_identity
from deadbeat.testing import CogConformance, Collector, run_train, send_through

SAMPLE = Path(__file__).parent / "data" / "sample.txt"
#: Mappings with the line and its event id, as most tests here check both (the default datum is the line).
DICT: dict[str, Any] = {"line_setter": "line", "id_setter": "id"}
SCRATCH = Path(tempfile.mkdtemp(prefix="deadbeat-fs-test-"))
(SCRATCH / "spool").mkdir()


class TestFileWatcherConformance(CogConformance):
    cog_name = "fs.tail"
    params = {"filenames": [str(SAMPLE)], "rotate_wait": 0.1}


class TestFileReaderConformance(CogConformance):
    cog_name = "fs.read"
    params = {"filenames": [str(SAMPLE)]}


class TestLineFileDrainConformance(CogConformance):
    cog_name = "fs.write"
    params = {"filename": str(SCRATCH / "conformance.txt")}
    samples = [{"line": "one"}, {"line": "two"}]
    flushes_all = True


class TestSpoolConformance(CogConformance):
    cog_name = "fs.spool"
    params = {"directory": str(SCRATCH / "spool")}


class TestSpoolWriteConformance(CogConformance):
    cog_name = "fs.spool_write"
    params = {"directory": str(SCRATCH / "spool-out")}
    samples = [{"data": "one"}]
    flushes_all = True


def follow(
    paths: list[str], until: Any, timeout: float = 10.0, esc: movement.Escapement | None = None, **params: Any
) -> Collector:
    """Run a tailer until `until(collector)` holds (checked every 10 ms)."""
    esc = esc or movement.Escapement()
    collector = Collector()
    supply = fs.FileWatcherSupply(esc, paths, **{**DICT, **params})
    train = movement.Train(esc, [supply, collector])
    deadline = time.monotonic() + timeout

    def check() -> None:
        if until(collector) or time.monotonic() > deadline:
            esc.shutdown()

    esc.every(0.01, check, keeps_alive=False)
    esc.run()
    esc.close()
    assert train.events_in == len(collector.data) + train.errors
    return collector


class TestFileReader:
    def test_by_default_each_datum_is_the_line_and_the_train_knows_its_id(self, tmp_path: Path) -> None:
        """Plain lines travel; their FILE:OFFSET ids reach error records and event_done without being in the data."""
        path = tmp_path / "in.txt"
        path.write_text("one\ntwo\nthree\n")
        records: list[movement.ErrorRecord] = []
        done: list[Any] = []

        class Listener(movement.Cog):
            def event_done(self, event_id: Any) -> None:
                done.append(event_id)

        def refuse_two(line: str) -> tuple[str, ...]:
            if line == "two":
                raise ValueError("not two")
            return (line,)

        esc = movement.Escapement()
        collector = Collector()
        train = movement.Train(esc, error_output=records.append)
        train.cogs = [fs.FileReaderSupply(esc, [str(path)]), Listener(), refuse_two, collector]
        train.run()
        esc.close()
        assert collector.data == ["one", "three"]
        assert [r.event_id for r in records] == [f"{path}:4"] and records[0].datum == "two"
        assert done == [f"{path}:0", f"{path}:4", f"{path}:8"]

    @pytest.mark.parametrize("id_setter", [movement.itemsetter("uid"), "meta.uid"], ids=["itemsetter", "path"])
    def test_event_done_tells_the_ids_put_under_any_key(self, tmp_path: Path, id_setter: Any) -> None:
        """The manual's setters: ids under a key the train's id_getter does not know still reach event_done."""
        path = tmp_path / "in.txt"
        path.write_text("one\ntwo\n")
        done: list[Any] = []

        class Listener(movement.Cog):
            def event_done(self, event_id: Any) -> None:
                done.append(event_id)

        esc = movement.Escapement()
        collector = Collector()
        supply = fs.FileWatcherSupply(esc, [str(path)], tail=False, line_setter="line", id_setter=id_setter)
        train = movement.Train(esc)
        train.cogs = [supply, Listener(), collector]
        train.run()
        esc.close()
        assert done == [f"{path}:0", f"{path}:4"]

    def test_ids_made_by_the_manuals_id_function_are_the_datas_own(self, tmp_path: Path) -> None:
        """A one-argument id_setter makes ids of its own: event_done tells those, read from the data."""
        path = tmp_path / "in.txt"
        path.write_text("one\ntwo\n")
        done: list[Any] = []
        made = iter(range(100, 200))

        def make_id(datum: dict[str, Any]) -> dict[str, Any]:
            datum["id"] = f"mine-{next(made)}"
            return datum

        class Listener(movement.Cog):
            def event_done(self, event_id: Any) -> None:
                done.append(event_id)

        esc = movement.Escapement()
        supply = fs.FileWatcherSupply(esc, [str(path)], tail=False, line_setter="line", id_setter=make_id)
        train = movement.Train(esc)
        train.cogs = [supply, Listener(), Collector()]
        train.run()
        esc.close()
        assert done == ["mine-100", "mine-101"]

    def test_reads_files_in_order_with_ids(self, tmp_path: Path) -> None:
        """Every line of every file arrives once, in order, with FILE:OFFSET ids."""
        second = tmp_path / "second.txt"
        second.write_text("delta\nepsilon")
        esc = movement.Escapement()
        out = run_train([fs.FileReaderSupply(esc, [str(SAMPLE), str(second)], **DICT)], esc=esc)
        assert [(d["id"], d["line"]) for d in out.data] == [
            (f"{SAMPLE}:0", "alpha"),
            (f"{SAMPLE}:6", "beta"),
            (f"{SAMPLE}:11", "gamma"),
            (f"{second}:0", "delta"),
            (f"{second}:6", "epsilon"),
        ]

    @pytest.mark.parametrize("read_size", [7, 1 << 18])
    def test_ids_are_byte_offsets_in_non_ascii_text(self, tmp_path: Path, read_size: int) -> None:
        """An id's offset counts bytes, not characters, whatever the chunk size."""
        path = tmp_path / "utf8.txt"
        lines = ["žluťoučký kůň", "plain", "", "€ and ✓", "last"]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        esc = movement.Escapement()
        out = run_train([fs.FileWatcherSupply(esc, [str(path)], tail=False, read_size=read_size, **DICT)], esc=esc)
        offsets, at = [], 0
        for line in lines:
            offsets.append(at)
            at += len(line.encode()) + 1
        assert [(d["id"], d["line"]) for d in out.data] == [
            (f"{path}:{o}", line) for o, line in zip(offsets, lines, strict=True)
        ]
        raw = path.read_bytes()
        for datum in out.data:
            offset = int(datum["id"].rsplit(":", 1)[1])
            assert raw[offset:].split(b"\n", 1)[0].decode() == datum["line"]

    def test_missing_file_is_logged_and_the_rest_read(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """A file that cannot be read is named in the log; the other files still arrive."""
        esc = movement.Escapement()
        missing = tmp_path / "missing.txt"
        out = run_train([fs.FileReaderSupply(esc, [str(missing), str(SAMPLE)], **DICT)], esc=esc)
        assert [d["line"] for d in out.data] == ["alpha", "beta", "gamma"]
        assert f"{missing}: cannot read: no such file" in caplog.text

    def test_custom_setters(self) -> None:
        """line_setter and id_setter accept field paths."""
        esc = movement.Escapement()
        supply = fs.FileReaderSupply(esc, [str(SAMPLE)], line_setter="raw.text", id_setter="meta.id")
        out = run_train([supply], esc=esc)
        assert out.data[0] == {"raw": {"text": "alpha"}, "meta": {"id": f"{SAMPLE}:0"}}

    def test_one_string_instead_of_a_list_is_refused(self) -> None:
        """filenames="x" is a mistake caught at construction."""
        with pytest.raises(TypeError, match="list of paths"):
            fs.FileReaderSupply(movement.DummyEscapement(), "x")  # type: ignore[arg-type]


class TestBadInput:
    def test_invalid_bytes_go_to_the_error_output_with_file_and_offset(self, tmp_path: Path) -> None:
        """A line not valid in the encoding goes to the error output; the others go on."""
        path = tmp_path / "latin.txt"
        path.write_bytes(b"ok\ncaf\xe9\nfine\n")
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        collector = Collector()
        movement.Train(esc, [fs.FileReaderSupply(esc, [str(path)], **DICT), collector], error_output=records.append)
        esc.run()
        esc.close()
        assert [d["line"] for d in collector.data] == ["ok", "fine"]
        assert len(records) == 1
        assert records[0].event_id == f"{path}:3"
        assert records[0].datum["raw"] == b"caf\xe9"
        assert f"in {path}:3" in str(records[0].error)

    def test_line_over_the_limit_goes_to_the_error_output(self, tmp_path: Path) -> None:
        """An oversize line is cut to the limit and sent to the error output; reading goes on."""
        path = tmp_path / "long.txt"
        path.write_bytes(b"short\n" + b"y" * 5000 + b"\nafter\n")
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        collector = Collector()
        supply = fs.FileReaderSupply(esc, [str(path)], max_line=1000, **DICT)
        movement.Train(esc, [supply, collector], error_output=records.append)
        esc.run()
        esc.close()
        assert [d["line"] for d in collector.data] == ["short", "after"]
        assert [type(r.error) for r in records] == [fs.LineTooLong]
        assert records[0].event_id == f"{path}:6"
        assert len(records[0].datum["raw"]) == 1000

    def test_line_over_the_limit_across_reads(self, tmp_path: Path) -> None:
        """A line longer than a read chunk and the limit is reported once and skipped to its end."""
        path = tmp_path / "long.txt"
        path.write_bytes(b"a\n" + b"z" * 20000 + b"\nb\n")
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        collector = Collector()
        supply = fs.FileWatcherSupply(esc, [str(path)], tail=False, max_line=3000, read_size=1024, **DICT)
        movement.Train(esc, [supply, collector], error_output=records.append)
        esc.run()
        esc.close()
        assert [d["line"] for d in collector.data] == ["a", "b"]
        assert len(records) == 1 and records[0].event_id == f"{path}:2"

    def test_unreadable_file_is_logged_and_the_rest_read(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A file that cannot be opened is named in the log with the reason; the others are read.

        /proc/sys/vm/drop_caches is a regular file that nobody, root included,
        may open for reading: a real permission failure for a test run as root.
        """
        locked = "/proc/sys/vm/drop_caches"
        readable = tmp_path / "open.log"
        readable.write_text("visible\n")
        esc = movement.Escapement()
        out = run_train([fs.FileReaderSupply(esc, [locked, str(readable)], **DICT)], esc=esc)
        assert [d["line"] for d in out.data] == ["visible"]
        assert f"{locked}: cannot open: Permission denied" in caplog.text

    def test_directories_matching_the_pattern_are_skipped(self, tmp_path: Path) -> None:
        """A directory whose name matches the pattern is not a file to read; the files are read."""
        (tmp_path / "sub.log").mkdir()
        (tmp_path / "real.log").write_text("y\n")
        esc = movement.Escapement()
        out = run_train([fs.FileReaderSupply(esc, [str(tmp_path / "*.log")], **DICT)], esc=esc)
        assert [d["line"] for d in out.data] == ["y"]


class TestFollowing:
    def test_appended_lines_and_partial_lines(self, tmp_path: Path) -> None:
        """Appended lines arrive; a line without its newline waits until it is complete."""
        path = tmp_path / "app.log"
        path.write_text("first\n")

        def writer() -> None:
            time.sleep(0.1)
            with open(path, "a") as handle:
                handle.write("sec")
                handle.flush()
                time.sleep(0.2)
                handle.write("ond\nthird\n")

        thread = threading.Thread(target=writer)
        thread.start()
        out = follow([str(path)], lambda c: len(c.data) >= 3)
        thread.join()
        assert [d["line"] for d in out.data] == ["first", "second", "third"]

    def test_glob_picks_up_files_created_later(self, tmp_path: Path) -> None:
        """A file matching the pattern that appears later is read from its start."""
        (tmp_path / "a.log").write_text("a1\n")

        def create() -> None:
            time.sleep(0.1)
            (tmp_path / "b.log").write_text("b1\nb2\n")
            (tmp_path / "c.txt").write_text("not matched\n")

        thread = threading.Thread(target=create)
        thread.start()
        out = follow([str(tmp_path / "*.log")], lambda c: len(c.data) >= 3)
        thread.join()
        assert sorted(d["line"] for d in out.data) == ["a1", "b1", "b2"]

    def test_start_at_end_skips_existing_content(self, tmp_path: Path) -> None:
        """start="end" begins a file found at the first start at its end, on a line boundary."""
        path = tmp_path / "app.log"
        path.write_text("old 1\nold 2\nunfinished")

        def append() -> None:
            time.sleep(0.1)
            with open(path, "a") as handle:
                handle.write(" line\nnew\n")

        thread = threading.Thread(target=append)
        thread.start()
        out = follow([str(path)], lambda c: len(c.data) >= 2, start="end")
        thread.join()
        assert [d["line"] for d in out.data] == ["unfinished line", "new"]

    def test_polling_fallback_without_inotify(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """Without inotify the tailer polls, says so once, and still follows appends and new files."""
        caplog.set_level(logging.WARNING)
        path = tmp_path / "app.log"
        path.write_text("one\n")

        def writer() -> None:
            time.sleep(0.15)
            with open(path, "a") as handle:
                handle.write("two\n")
            (tmp_path / "app.log.new").write_text("three\n")

        thread = threading.Thread(target=writer)
        thread.start()
        esc = movement.Escapement(use_inotify=False)
        out = follow([str(tmp_path / "app.log*")], lambda c: len(c.data) >= 3, esc=esc, poll_interval=0.05)
        thread.join()
        assert sorted(d["line"] for d in out.data) == ["one", "three", "two"]
        assert caplog.text.count("polling every") == 1

    def test_plain_lines_without_setters(self, tmp_path: Path) -> None:
        """With line_setter=None and id_setter=None each datum is the line itself."""
        esc = movement.Escapement()
        supply = fs.FileWatcherSupply(esc, [str(SAMPLE)], tail=False, line_setter=None, id_setter=None)
        out = run_train([supply], esc=esc)
        assert out.data == ["alpha", "beta", "gamma"]

    def test_positions_wait_for_acknowledgement(self, tmp_path: Path) -> None:
        """The state file holds only positions whose lines have been handled."""
        path = tmp_path / "app.log"
        path.write_text("a\nb\n")
        state = tmp_path / "state.json"
        esc = movement.Escapement()
        train = movement.Train(esc)
        holder_data: list[Any] = []

        class Holder(movement.Cog):
            def __call__(self, data: Any) -> None:
                holder_data.append(data)
                train.hold()
                return None

        supply = fs.FileWatcherSupply(esc, [str(path)], state_file=str(state), state_interval=0, **DICT)
        train.cogs = [supply, Holder(), Collector()]
        esc.after(0.3, esc.shutdown)
        saved_while_held: list[Any] = []
        esc.after(0.25, lambda: saved_while_held.append(json.loads(state.read_text()) if state.exists() else None))
        esc.run()
        esc.close()
        files_while_held = (saved_while_held[0] or {}).get("sections", {}).get(supply._section, {}).get("files", {})
        assert all(entry["offset"] == 0 for entry in files_while_held.values())
        final = json.loads(state.read_text())["sections"][supply._section]["files"]
        # Still held at shutdown, never written: the position stays where it was.
        assert [entry["offset"] for entry in final.values()] == [0]


class TestNotACopy:
    def test_a_new_file_is_not_a_copy_of_one_that_was_empty_when_opened(self, tmp_path: Path) -> None:
        """logrotate's `create` makes an empty app.log; renamed with its data before we read it, its successor is new.

        The start kept of the first file is from when it was empty: compared
        with it, every file would look like a copy (and go unread).
        """
        log = tmp_path / "app.log"
        log.write_text("")
        esc = movement.Escapement()
        supply = fs.FileWatcherSupply(esc, [str(tmp_path / "app.log*")], rotate_wait=0.05)
        collector = Collector()
        movement.Train(esc, [supply, collector])

        def rotate() -> None:
            # All before the loop turns again: data, rename, a new file with data.
            with open(log, "a") as handle:
                handle.write("first 1\nfirst 2\n")
            os.rename(log, tmp_path / "app.log.1")
            log.write_text("second 1\n")

        esc.after(0.1, rotate)

        def check() -> None:
            if len(collector.data) >= 3:
                esc.shutdown()

        esc.every(0.02, check, keeps_alive=False)
        esc.after(10, esc.shutdown, keeps_alive=False)
        esc.run()
        esc.close()
        assert collector.data == ["first 1", "first 2", "second 1"]
        assert fs_identity.starts_alike(b"anything", b"") is fs_identity.Likeness.OTHER


class TestCopytruncateUnseen:
    def test_two_copytruncates_before_the_tailer_looks_lose_nothing(self, tmp_path: Path) -> None:
        """The tailer stalls (SIGSTOP, a busy loop) while copytruncate runs twice: app.log.2 holds what followed our
        position, app.log.1 what the original held between the truncations (it was lost), then app.log goes on."""
        esc = movement.Escapement()
        log_file = tmp_path / "app.log"
        log_file.write_text("".join(f"line {i:02d} {'x' * 300}\n" for i in range(0, 10)))

        def copytruncate() -> None:
            if (tmp_path / "app.log.1").exists():
                (tmp_path / "app.log.1").rename(tmp_path / "app.log.2")
            shutil.copyfile(log_file, tmp_path / "app.log.1")
            os.truncate(log_file, 0)

        def while_stalled() -> None:
            def append(numbers: range) -> None:
                with open(log_file, "a") as handle:
                    handle.write("".join(f"line {i:02d} {'x' * 300}\n" for i in numbers))

            append(range(10, 20))
            copytruncate()
            time.sleep(0.02)  # the copies' times tell their order
            append(range(20, 30))
            copytruncate()
            append(range(30, 40))
            time.sleep(0.2)

        esc.after(0.3, while_stalled)
        out = follow([str(log_file)], lambda c: len(c.data) >= 40, esc=esc, rotate_wait=0.2, timeout=15)
        assert [d["line"][:7] for d in out.data] == [f"line {i:02d}" for i in range(40)]


class TestOverflow:
    def test_queue_overflow_rescans_and_loses_nothing(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """With a tiny inotify queue, IN_Q_OVERFLOW happens; every line still arrives once."""
        limit = Path("/proc/sys/fs/inotify/max_queued_events")
        original = limit.read_text()
        try:
            limit.write_text("16\n")
        except OSError:
            pytest.fail("this test needs root to lower max_queued_events")
        try:
            esc = movement.Escapement()
        finally:
            limit.write_text(original)
        files = [tmp_path / f"f{i}.log" for i in range(40)]

        def writer() -> None:
            time.sleep(0.1)
            for round_no in range(5):
                for path in files:
                    with open(path, "a") as handle:
                        handle.write(f"{path.name} {round_no}\n")

        thread = threading.Thread(target=writer)
        thread.start()
        # The loop stalls while the writer writes: its events cannot all fit in the queue.
        esc.after(0.05, time.sleep, 1.0)
        out = follow([str(tmp_path / "*.log")], lambda c: len(c.data) >= 200, esc=esc)
        thread.join()
        lines = [d["line"] for d in out.data]
        assert sorted(lines) == sorted(f"{p.name} {r}" for p in files for r in range(5))
        assert "inotify queue overflowed; rescanning" in caplog.text

    def test_a_file_made_and_rotated_away_while_events_were_lost_is_read(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Pattern app.log; while the queue overflows, app.log is rotated twice: the file between (never opened,
        now app.log.1) is found beside the followed one and read, in order, before the new app.log; the overflow
        is said once, however many watches heard of it."""
        caplog.set_level(logging.WARNING)
        limit = Path("/proc/sys/fs/inotify/max_queued_events")
        original = limit.read_text()
        limit.write_text("16\n")
        try:
            esc = movement.Escapement()
        finally:
            limit.write_text(original)
        log_file = tmp_path / "app.log"
        log_file.write_text("".join(f"line {i}\n" for i in range(5)))
        others = [tmp_path / f"other{i}.log" for i in range(10)]  # more watches, each told of the overflow

        def rotate_twice() -> None:
            with open(log_file, "a") as handle:
                handle.write("".join(f"line {i}\n" for i in range(5, 10)))
            log_file.rename(tmp_path / "app.log.1")
            log_file.write_text("".join(f"line {i}\n" for i in range(10, 20)))
            (tmp_path / "app.log.1").rename(tmp_path / "app.log.2")
            log_file.rename(tmp_path / "app.log.1")
            log_file.write_text("".join(f"line {i}\n" for i in range(20, 25)))
            for round_no in range(5):  # enough events to overflow a queue of 16
                for path in others:
                    with open(path, "a") as handle:
                        handle.write(f"{path.name} {round_no}\n")

        for path in others:
            path.write_text("")
        # The loop stalls (as under load) while the files are rotated and written.
        esc.after(0.3, lambda: (rotate_twice(), time.sleep(0.2)))
        out = follow(
            [str(log_file), str(tmp_path / "other*.log")],
            lambda c: len(c.data) >= 75,
            esc=esc,
            rotate_wait=0.2,
            rescan_interval=0,
        )
        lines = [d["line"] for d in out.data if d["line"].startswith("line")]
        assert lines == [f"line {i}" for i in range(25)]
        said = [r for r in caplog.records if "inotify queue overflowed" in r.getMessage()]
        assert len(said) == 1

    def test_out_of_watches_falls_back_to_polling(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """When the kernel refuses more inotify watches, the tailer polls, says so once, and reads everything."""
        caplog.set_level(logging.WARNING)
        limit = Path("/proc/sys/fs/inotify/max_user_watches")
        original = limit.read_text()
        files = [tmp_path / f"w{i}.log" for i in range(10)]
        for path in files:
            path.write_text(f"{path.name} 0\n")
        esc = movement.Escapement()
        limit.write_text("1\n")
        try:
            supply = fs.FileWatcherSupply(esc, [str(tmp_path / "*.log")], poll_interval=0.05, **DICT)
        finally:
            limit.write_text(original)
        collector = Collector()
        movement.Train(esc, [supply, collector])

        def append() -> None:
            for path in files:
                with open(path, "a") as handle:
                    handle.write(f"{path.name} 1\n")

        esc.after(0.1, append)

        def check() -> None:
            if len(collector.data) >= 20:
                esc.shutdown()

        esc.every(0.02, check, keeps_alive=False)
        esc.after(10, esc.shutdown, keeps_alive=False)
        esc.run()
        esc.close()
        assert sorted(d["line"] for d in collector.data) == sorted(f"{p.name} {r}" for p in files for r in (0, 1))
        assert caplog.text.count("out of inotify watches") == 1


class TestLineFileDrain:
    def test_appends_lines_and_passes_data_on(self, tmp_path: Path) -> None:
        """Each datum's line is appended; the datum continues unchanged; strings are written as they are."""
        path = tmp_path / "out.txt"
        path.write_text("existing\n")
        esc = movement.Escapement()
        out = run_train([fs.LineFileDrain(esc, str(path))], [{"line": "a"}, "b"], esc=esc)
        assert path.read_text() == "existing\na\nb\n"
        assert out.data == [{"line": "a"}, "b"]

    def test_bytes_are_refused_saying_why(self, tmp_path: Path) -> None:
        """A line fs.tail could not decode (encoding_errors = "bytes") reaching fs.write: the error says what
        happened and what to do, not "byte indices must be integers"."""
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []
        drain = fs.LineFileDrain(esc, str(tmp_path / "out.txt"))
        try:
            train = movement.Train(esc, [drain], error_output=records.append)
            train.send(None, ["a", b"\xff not utf-8", "b"])
            drain.done()
        finally:
            esc.close()
        assert (tmp_path / "out.txt").read_text() == "a\nb\n"
        assert [str(r.error) for r in records] == [
            "the datum is bytes, not text: fs.write writes text (a line fs.tail could not decode, with"
            ' encoding_errors = "bytes"?); decode it first, or read with encoding_errors = "replace"'
        ]

    def test_a_datum_without_a_line_in_a_list_fails_alone(self, tmp_path: Path) -> None:
        """Lists are written whole; a datum without a text line goes to the error output, the rest once each."""
        path = tmp_path / "out.txt"
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []
        collector = Collector()
        drain = fs.LineFileDrain(esc, str(path))
        try:
            train = movement.Train(esc, [drain, collector], error_output=records.append)
            train.send(None, ["a", "b"])
            train.send(None, [{"line": "c"}, {"id": "x7"}, "d", {"id": "x8", "line": 5}])
            drain.done()
        finally:
            esc.close()
        assert path.read_text() == "a\nb\nc\nd\n"
        assert [r.event_id for r in records] == ["x7", "x8"]
        assert "the line to write is int, not text" in str(records[1].error)
        assert collector.data == ["a", "b", {"line": "c"}, "d"]

    def test_a_list_of_dicts_is_written_as_one_by_one(self, tmp_path: Path) -> None:
        """Dicts in a list (the fast path), a dict subclass with a __getitem__ of its own, a field path: each
        line is what the getter gives the datum alone."""

        class Upper(dict):  # type: ignore[type-arg]
            def __getitem__(self, key: str) -> str:
                return str(super().__getitem__(key)).upper()

        for getter, data, lines in [
            ("line", [{"line": "a"}, {"line": "b", "id": "x"}], "a\nb\n"),
            ("line", [{"line": "a"}, Upper(line="b")], "a\nB\n"),
            ("msg.text", [{"msg": {"text": "a"}}, {"msg": {"text": "b"}}], "a\nb\n"),
        ]:
            path = tmp_path / f"out-{getter}-{len(lines)}-{type(data[1]).__name__}.txt"
            esc = movement.Escapement()
            run_train([fs.LineFileDrain(esc, str(path), line_getter=getter)], data, esc=esc)
            assert path.read_text() == lines

    def test_sighup_reopens_after_rotation(self, tmp_path: Path) -> None:
        """After logrotate moves the file and sends SIGHUP, new lines go to a new file."""
        path = tmp_path / "out.txt"
        esc = movement.Escapement()
        drain = fs.LineFileDrain(esc, str(path))
        train = movement.Train(esc, [drain])

        def rotate() -> None:
            os.rename(path, tmp_path / "out.txt.1")
            os.kill(os.getpid(), signal.SIGHUP)

        esc.enqueue(train.send, None, ["before"])
        esc.after(0.05, rotate)
        esc.after(0.15, train.send, None, ["after"])
        esc.after(0.25, esc.shutdown)
        esc.run()
        esc.close()
        assert (tmp_path / "out.txt.1").read_text() == "before\n"
        assert path.read_text() == "after\n"

    def test_fsync_policy_is_checked(self, tmp_path: Path) -> None:
        """An unknown fsync policy is refused at construction, naming the choices."""
        with pytest.raises(ValueError, match="never, flush, always"):
            fs.LineFileDrain(movement.DummyEscapement(), str(tmp_path / "x"), fsync="sometimes")  # type: ignore[arg-type]

    def test_trims_what_was_written_after_the_checkpoint(self, tmp_path: Path) -> None:
        """At start, bytes written after the last recorded offset are cut away."""
        path = tmp_path / "out.txt"
        state = tmp_path / "state.json"
        esc = movement.Escapement()
        drain = fs.LineFileDrain(esc, str(path), state_file=str(state))
        train = movement.Train(esc, [drain])
        train.send(None, movement.Batch(["kept"], batch_id="b1"))
        drain.done()
        esc.close()
        with open(path, "a") as handle:
            handle.write("written after the checkpoint\n")
        esc = movement.Escapement()
        fs.LineFileDrain(esc, str(path), state_file=str(state)).done()
        esc.close()
        assert path.read_text() == "kept\n"

    def test_a_file_shorter_than_its_checkpoint_is_said_to_miss_lines(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Lines acknowledged as written and gone since (cut by someone, a machine crash) are reported."""
        path = tmp_path / "out.txt"
        state = tmp_path / "state.json"
        esc = movement.Escapement()
        drain = fs.LineFileDrain(esc, str(path), state_file=str(state))
        train = movement.Train(esc, [drain])
        train.send(None, movement.Batch(["first", "second"], batch_id="b1"))
        drain.done()
        esc.close()
        os.truncate(path, len("first\n"))
        esc = movement.Escapement()
        with caplog.at_level(logging.ERROR, logger="deadbeat.fs"):
            fs.LineFileDrain(esc, str(path), state_file=str(state)).done()
        esc.close()
        assert path.read_text() == "first\n"
        assert f"{path}: 7 bytes shorter than at the last checkpoint in {state}" in caplog.text


KILLED_AT_FIRST_WRITE = """
import os, sys
from deadbeat import fs, movement
source, out, state = sys.argv[1:4]
write = os.writev

def write_then_die(fd, buffers):
    write(fd, buffers)
    os._exit(9)  # killed right after the first lines went in, before any acknowledgement

os.writev = write_then_die
esc = movement.Escapement()
supply = fs.FileWatcherSupply(esc, [source], tail=False, state_file=state)
movement.Train(esc, [supply, fs.LineFileDrain(esc, out, state_file=state)])
esc.run()
"""


class TestKilledBeforeTheFirstAcknowledgement:
    def test_lines_written_by_a_run_killed_before_its_first_checkpoint_are_not_written_again(
        self, tmp_path: Path
    ) -> None:
        """The output's size at start is on disk before its first line: the next run cuts back to it.

        The first save came with the first acknowledgement: a run killed after
        writing its first lists and before that left no state, and the next run
        read the input from its start and wrote those lines a second time.
        """
        source, out, state = tmp_path / "in.log", tmp_path / "out.log", tmp_path / "state.json"
        lines = [f"line {i}" for i in range(20_000)]
        source.write_text("".join(f"{line}\n" for line in lines))
        script = tmp_path / "killed.py"
        script.write_text(KILLED_AT_FIRST_WRITE)
        result = subprocess.run(
            [sys.executable, str(script), str(source), str(out), str(state)], capture_output=True, timeout=60
        )
        assert result.returncode == 9, result.stderr
        assert out.stat().st_size > 0  # it did write before it died
        esc = movement.Escapement()
        supply = fs.FileWatcherSupply(esc, [str(source)], tail=False, state_file=str(state))
        movement.Train(esc, [supply, fs.LineFileDrain(esc, str(out), state_file=str(state))])
        esc.run()
        esc.close()
        assert out.read_text().splitlines() == lines


ROTATED_THEN_KILLED = """
import os, signal, sys
from deadbeat import fs, movement
source, out, state, hup = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "hup"
esc = movement.Escapement()
supply = fs.FileWatcherSupply(esc, [source], tail=False, state_file=state, read_size=16384)
drain = fs.LineFileDrain(esc, out, state_file=state)
reopened = []
reopen = drain.reopen

def reopen_and_note():
    reopen()
    reopened.append(True)

drain.reopen = reopen_and_note
esc.signal_unregister(signal.SIGHUP, reopen)
esc.signal_register(signal.SIGHUP, reopen_and_note)
seen, rotated_at = 0, 0

def rotate_then_die(datum):
    global seen, rotated_at
    seen += 1
    if not rotated_at and os.path.getsize(out) > 0:
        os.rename(out, out + ".1")  # as logrotate does, once lines are in
        rotated_at = seen
        if hup:
            os.kill(os.getpid(), signal.SIGHUP)
    elif rotated_at and seen > rotated_at + 3000:
        if not hup or (reopened and os.path.exists(out) and os.path.getsize(out) > 0):
            os.kill(os.getpid(), signal.SIGKILL)  # before the state's next timed save (1 s)
    return (datum,)

movement.Train(esc, [supply, rotate_then_die, drain])
esc.run()
"""


class TestRotatedOutputThenKilled:
    """logrotate renames the output, then the run is killed: no line twice across the old and the new file."""

    @pytest.mark.parametrize("hup", [True, False], ids=["after-sighup", "before-sighup"])
    def test_each_line_once_across_the_rotated_and_the_new_file(self, tmp_path: Path, hup: bool) -> None:
        """With SIGHUP handled, the new file's checkpoint is saved at once (the old file's stayed on
        disk, and what was written to the old file since went to the new one again after the
        restart); killed before it came, the renamed file is found by its inode and cut back to its
        checkpoint (it was not looked for)."""
        source, out, state = tmp_path / "in.log", tmp_path / "out.log", tmp_path / "state.json"
        lines = [f"line {i:06d} " + "x" * 80 for i in range(40_000)]
        source.write_text("".join(f"{line}\n" for line in lines))
        script = tmp_path / "rotated.py"
        script.write_text(ROTATED_THEN_KILLED)
        result = subprocess.run(
            [sys.executable, str(script), str(source), str(out), str(state), "hup" if hup else "no"],
            capture_output=True,
            timeout=60,
        )
        assert result.returncode == -signal.SIGKILL, result.stderr
        rotated = tmp_path / "out.log.1"
        assert rotated.stat().st_size > 0
        assert out.exists() == hup  # the new file is made by the reopen, or by the next run
        esc = movement.Escapement()
        supply = fs.FileWatcherSupply(esc, [str(source)], tail=False, state_file=str(state))
        movement.Train(esc, [supply, fs.LineFileDrain(esc, str(out), state_file=str(state))])
        esc.run()
        esc.close()
        assert rotated.read_text().splitlines() + out.read_text().splitlines() == lines


class TestSpool:
    def test_files_become_data_and_are_removed_when_done(self, tmp_path: Path) -> None:
        """Files present at start and renamed in later each become one datum, then disappear."""
        spool = tmp_path / "spool"
        spool.mkdir()
        (spool / "early").write_text("first event")
        (spool / ".partial").write_text("being written")
        esc = movement.Escapement()
        collector = Collector()
        supply = fs.SpoolDirSupply(esc, str(spool))
        movement.Train(esc, [supply, collector])

        def deliver() -> None:
            (spool / ".tmp-late").write_text("second event")
            os.rename(spool / ".tmp-late", spool / "late")

        esc.after(0.05, deliver)
        esc.after(0.3, esc.shutdown)
        esc.run()
        esc.close()
        assert [(d["id"], d["data"]) for d in collector.data] == [("early", "first event"), ("late", "second event")]
        assert sorted(p.name for p in spool.iterdir()) == [".partial"]

    def test_event_done_tells_the_file_name_under_any_id_key(self, tmp_path: Path) -> None:
        """The file's name is its event id, told to event_done whatever key the id_setter uses."""
        spool = tmp_path / "spool"
        spool.mkdir()
        (spool / "one").write_text("1")
        done: list[Any] = []

        class Listener(movement.Cog):
            def event_done(self, event_id: Any) -> None:
                done.append(event_id)

        esc = movement.Escapement()
        esc.once = True
        collector = Collector()
        run_train([fs.SpoolDirSupply(esc, str(spool), id_setter="uid"), Listener(), collector], esc=esc)
        assert [d["uid"] for d in collector.data] == ["one"]
        assert done == ["one"]

    def test_done_dir_keeps_handled_files(self, tmp_path: Path) -> None:
        """With done_dir, handled files are moved there instead of removed."""
        spool, done = tmp_path / "spool", tmp_path / "done"
        spool.mkdir()
        (spool / "one").write_text("1")
        esc = movement.Escapement()
        esc.once = True
        run_train([fs.SpoolDirSupply(esc, str(spool), done_dir=str(done))], esc=esc)
        assert not list(spool.iterdir()) and (done / "one").read_text() == "1"

    def test_unhandled_files_stay_for_the_next_start(self, tmp_path: Path) -> None:
        """A file whose datum is still held at shutdown is not removed."""
        spool = tmp_path / "spool"
        spool.mkdir()
        (spool / "held").write_text("x")
        esc = movement.Escapement()
        train = movement.Train(esc)

        class Holder(movement.Cog):
            def __call__(self, data: Any) -> None:
                train.hold()
                return None

        train.cogs = [fs.SpoolDirSupply(esc, str(spool)), Holder()]
        esc.after(0.2, esc.shutdown)
        esc.run()
        esc.close()
        assert (spool / "held").exists()

    def test_undecodable_file_goes_to_the_error_output(self, tmp_path: Path) -> None:
        """A file that is not valid text goes to the error output, its content in the record, and is removed
        once the record is written (it stayed, and went to the error output again at every start)."""
        spool = tmp_path / "spool"
        spool.mkdir()
        (spool / "bad").write_bytes(b"\xff\xfe")
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        esc.once = True
        movement.Train(esc, [fs.SpoolDirSupply(esc, str(spool)), Collector()], error_output=records.append)
        esc.run()
        esc.close()
        assert records[0].event_id == "bad" and not (spool / "bad").exists()

    def test_spool_output_writes_whole_files(self, tmp_path: Path) -> None:
        """Each datum becomes one complete file; no temporary name is left behind."""
        out_dir = tmp_path / "out"
        run_train(
            [fs.SpoolDirDrain(str(out_dir), name_getter="id")], [{"id": "a", "data": "A"}, {"id": "b", "data": b"B"}]
        )
        assert sorted((p.name, p.read_bytes()) for p in out_dir.iterdir()) == [("a", b"A"), ("b", b"B")]

    def test_spool_output_refuses_bad_names(self, tmp_path: Path) -> None:
        """A name that would escape the directory or hide the file is an error for that datum."""
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        train = movement.Train(esc, [fs.SpoolDirDrain(str(tmp_path), name_getter="id")], error_output=records.append)
        odd = ["a\u2028b", "invoice\u202etxt.exe", "zero\u200bwidth", "bell\x07", "c1\x85"]
        train.send(None, [{"id": "../escape", "data": "x"}, {"id": ".hidden", "data": "y"}])
        train.send(None, [{"id": name, "data": "z"} for name in odd])
        esc.close()
        assert [str(r.error).partition(":")[0] for r in records] == [
            "unusable spool file name '../escape'",
            "unusable spool file name '.hidden'",
            *(f"unusable spool file name {name!r}" for name in odd),
        ]
        assert list(tmp_path.iterdir()) == []

    def test_a_name_that_is_no_text_is_refused(self, tmp_path: Path) -> None:
        """A null became a file named "None" (and the next datum without a name failed on it), a list "['x']"."""
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        train = movement.Train(esc, [fs.SpoolDirDrain(str(tmp_path), name_getter="id")], error_output=records.append)
        train.send(None, [{"id": None, "data": "x"}, {"id": ["x"], "data": "y"}, {"id": True, "data": "z"}])
        train.send(None, [{"id": 7, "data": "n"}])
        esc.close()
        assert [str(r.error) for r in records] == [
            "the spool file name must be text or a number, not NoneType",
            "the spool file name must be text or a number, not list",
            "the spool file name must be text or a number, not bool",
        ]
        assert [p.name for p in tmp_path.iterdir()] == ["7"]


class TestReadingNeverStopsSilently:
    def test_a_raising_setter_costs_only_its_lines(self, tmp_path: Path) -> None:
        """100,000 lines and a line_setter failing on every thousandth: the others all come out, the rest as errors."""
        path = tmp_path / "big.txt"
        path.write_text("".join(f"{i}\n" for i in range(100_000)))

        def picky(data: Any, line: str) -> Any:
            if int(line) % 1000 == 999:
                raise ValueError(f"refusing {line}")
            data["line"] = line
            return data

        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        collector = Collector()
        train = movement.Train(esc, error_output=records.append)
        train.cogs = [fs.FileReaderSupply(esc, [str(path)], line_setter=picky), collector]
        train.run()
        esc.close()
        assert len(collector.data) == 99_900 and len(records) == 100
        assert (train.events_in, train.events_out, train.errors) == (100_000, 99_900, 100)
        first = records[0].datum
        assert (
            first["file"] == str(path)
            and first["line"] == "999"
            and first["offset"] == sum(len(f"{i}\n") for i in range(999))
        )
        assert esc.failures == []

    def test_a_missing_input_fails_the_run_unless_allowed(self, tmp_path: Path) -> None:
        """Reading to the end, a file that is not there (or a pattern matching nothing) is a failure of the run."""
        there = tmp_path / "there.txt"
        there.write_text("a\n")
        esc = movement.Escapement()
        out = run_train(
            [fs.FileReaderSupply(esc, [str(there), str(tmp_path / "gone.txt"), str(tmp_path / "*.log")], **DICT)],
            esc=esc,
        )
        assert [d["line"] for d in out.data] == ["a"]
        assert len(esc.failures) == 2
        assert "gone.txt: cannot read: no such file" in esc.failures[0]
        assert "*.log: matches no file" in esc.failures[1]
        esc = movement.Escapement()
        run_train([fs.FileReaderSupply(esc, [str(tmp_path / "gone.txt")], missing_ok=True, **DICT)], esc=esc)
        assert esc.failures == []

    def test_an_unreadable_file_fails_the_run(self, tmp_path: Path) -> None:
        """A named file that cannot be read (here a symlink loop, which even root cannot open) fails the run."""
        locked = tmp_path / "loop.txt"
        os.symlink(locked, locked)
        there = tmp_path / "there.txt"
        there.write_text("a\n")
        esc = movement.Escapement()
        out = run_train([fs.FileReaderSupply(esc, [str(there), str(locked)], **DICT)], esc=esc)
        assert [d["line"] for d in out.data] == ["a"]
        assert len(esc.failures) == 1 and "loop.txt: a symbolic link; not followed" in esc.failures[0]
        esc = movement.Escapement()
        following = fs.FileWatcherSupply(esc, [str(there), str(locked)], tail=False, follow_symlinks=True, **DICT)
        run_train([following], esc=esc)
        assert len(esc.failures) == 1 and "loop.txt: cannot stat: Too many levels of symbolic links" in esc.failures[0]


class TestOneBadDatumNeverCostsTheOthers:
    def test_a_line_the_encoding_cannot_hold_fails_alone(self, tmp_path: Path) -> None:
        """A lone surrogate (JSON "\\ud800") or a character outside latin-1 goes to the error output alone."""
        out = tmp_path / "out.txt"
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []
        drain = fs.LineFileDrain(esc, str(out), encoding="latin-1")
        train = movement.Train(esc, [drain], error_output=records.append)
        train.send(None, ["caf\u00e9", "bad \ud800", "snow \u2603", "fine"])
        train.send(None, ["later"])
        drain.done()
        esc.close()
        assert out.read_bytes() == "caf\u00e9\nfine\nlater\n".encode("latin-1")
        assert [r.datum for r in records] == ["bad \ud800", "snow \u2603"]
        assert all(isinstance(r.error, UnicodeEncodeError) for r in records)
        assert (train.events_in, train.events_out, train.errors) == (5, 3, 2)

    def test_the_state_files_directory_is_made_when_missing(self, tmp_path: Path) -> None:
        """A state file in a directory that does not exist yet: the directory is made (owner only) and used."""
        source = tmp_path / "in.txt"
        source.write_text("a\n")
        state = tmp_path / "var" / "lib" / "deadbeat" / "state.json"
        esc = movement.Escapement()
        drain = fs.LineFileDrain(esc, str(tmp_path / "out.txt"), state_file=str(state))
        out = run_train([fs.FileReaderSupply(esc, [str(source)], **DICT), drain], esc=esc)
        assert [d["line"] for d in out.data] == ["a"]
        assert state.parent.is_dir() and (state.parent.stat().st_mode & 0o777) == 0o700


class TestStateFileAttacks:
    """A local account that can plant names beside the state file cannot make the tailer write elsewhere."""

    def run_once(self, tmp_path: Path, state: Path) -> None:
        source = tmp_path / "in.txt"
        source.write_text("a\nb\n")
        esc = movement.Escapement()
        run_train(
            [
                fs.FileReaderSupply(esc, [str(source)], **DICT),
                fs.LineFileDrain(esc, str(tmp_path / "out.txt"), state_file=str(state)),
            ],
            esc=esc,
        )

    def test_a_link_at_the_old_temporary_name_is_not_written_through(self, tmp_path: Path) -> None:
        """The temporary file has a random name, made exclusively: links planted at likely names stay untouched."""
        victim = tmp_path / "victim"
        victim.write_text("precious\n")
        state = tmp_path / "state" / "state.json"
        state.parent.mkdir(mode=0o700)
        for name in ("state.json.tmp", ".state.json.tmp"):
            os.symlink(victim, state.parent / name)
        self.run_once(tmp_path, state)
        assert victim.read_text() == "precious\n"
        assert json.loads(state.read_text())["sections"]
        assert (state.stat().st_mode & 0o777) == 0o600

    def test_a_link_at_the_state_path_is_refused(self, tmp_path: Path) -> None:
        """The state path itself is never followed: a link there is an error at start, naming it."""
        victim = tmp_path / "victim"
        victim.write_text("precious\n")
        state = tmp_path / "state.json"
        os.symlink(victim, state)
        with pytest.raises(OSError, match="state.json: is a symbolic link; not followed"):
            fs.LineFileDrain(movement.DummyEscapement(), str(tmp_path / "out.txt"), state_file=str(state))
        assert victim.read_text() == "precious\n"

    def test_a_directory_others_can_write_to_is_refused(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A state file in a world-writable directory (like /tmp) is refused unless the operator says it is fine."""
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o1777)
        with pytest.raises(OSError, match="writable by others"):
            fs.LineFileDrain(movement.DummyEscapement(), str(tmp_path / "out.txt"), state_file=str(shared / "s.json"))
        monkeypatch.setenv("DEADBEAT_SHARED_DIRS", "1")
        fs.LineFileDrain(
            movement.DummyEscapement(), str(tmp_path / "out.txt"), state_file=str(shared / "s.json")
        ).done()


class TestPlantedLinks:
    """A link or a file planted in a log directory does not bring other files into the output."""

    def test_a_symlink_matched_by_a_pattern_is_not_followed(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """logs/evil.log -> /secret: the secret stays out, said once; follow_symlinks = true reads it knowingly."""
        secret = tmp_path / "secret"
        secret.write_text("password=hunter2\n")
        logs = tmp_path / "logs"
        logs.mkdir()
        (logs / "app.log").write_text("fine\n")
        os.symlink(secret, logs / "evil.log")
        esc = movement.Escapement()
        out = run_train([fs.FileReaderSupply(esc, [str(logs / "*.log")], **DICT)], esc=esc)
        assert [d["line"] for d in out.data] == ["fine"]
        assert caplog.text.count("evil.log: a symbolic link; not followed") == 1
        esc = movement.Escapement()
        following = fs.FileWatcherSupply(esc, [str(logs / "*.log")], tail=False, follow_symlinks=True, **DICT)
        out = run_train([following], esc=esc)
        assert sorted(d["line"] for d in out.data) == ["fine", "password=hunter2"]

    def test_files_of_other_owners_are_refused_when_owners_are_named(self, tmp_path: Path) -> None:
        """owners = ["root"]: a file planted by uid 65534 is not read."""
        logs = tmp_path / "logs"
        logs.mkdir()
        (logs / "app.log").write_text("ours\n")
        planted = logs / "planted.log"
        planted.write_text("theirs\n")
        os.chown(planted, 65534, 65534)
        esc = movement.Escapement()
        supply = fs.FileWatcherSupply(esc, [str(logs / "*.log")], tail=False, owners=[str(os.geteuid())], **DICT)
        out = run_train([supply], esc=esc)
        assert [d["line"] for d in out.data] == ["ours"]


class TestSpoolWriteNeverReplaces:
    def test_an_existing_file_is_kept_and_the_datum_fails(self, tmp_path: Path) -> None:
        """A name that exists (planted, or an earlier event's) is not replaced; the datum goes to the error output."""
        spool = tmp_path / "spool"
        spool.mkdir()
        (spool / "e1").write_text("planted")
        cog = fs.SpoolDirDrain(str(spool), name_getter="id")
        out, records = send_through([cog], [{"id": "e1", "data": "new"}, {"id": "e2", "data": "two"}])
        assert (spool / "e1").read_text() == "planted" and (spool / "e2").read_text() == "two"
        assert [r.event_id for r in records] == ["e1"] and "exists already" in str(records[0].error)
        assert sorted(p.name for p in spool.iterdir()) == ["e1", "e2"]

    @pytest.mark.parametrize("name", ["x.tmp", "a\nb", "tab\there", ".hidden", "a/b", ""])
    def test_unusable_names_are_refused(self, tmp_path: Path, name: str) -> None:
        """Names ending in the temporary suffix or holding control characters are refused, like paths and dot-names."""
        cog = fs.SpoolDirDrain(str(tmp_path / "spool"), name_getter="id")
        _, records = send_through([cog], [{"id": name, "data": "x"}])
        assert records and "unusable spool file name" in str(records[0].error)
        assert list((tmp_path / "spool").iterdir()) == []
