"""Multiline events: stack traces and continuation lines joined into one datum, exactly once.

Real files, real tracebacks (Python's own), real processes killed with SIGKILL.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deadbeat import fs, movement
from deadbeat.fs._multiline import MODES, _mode
from deadbeat.testing import Collector

JAVA = [
    "2026-11-30 05:00:00,001 ERROR [main] c.e.Service - request failed",
    "java.lang.IllegalStateException: connection refused",
    "\tat com.example.Client.connect(Client.java:42)",
    "\tat com.example.Service.handle(Service.java:17)",
    "Caused by: java.net.ConnectException: Connection refused",
    "\tat java.base/sun.nio.ch.Net.connect0(Native Method)",
    "\t... 2 more",
]
GO = [
    "panic: runtime error: index out of range [3] with length 3",
    "",
    "goroutine 1 [running]:",
    "main.lookup(...)",
    "\t/src/app/main.go:12",
    "main.main()",
    "\t/src/app/main.go:7 +0x1d",
    "exit status 2",
]


def python_traceback() -> list[str]:
    """A real traceback, as the logging module writes it after its message."""
    try:
        try:
            {}["missing"]
        except KeyError as exc:
            raise ValueError("bad input") from exc
    except ValueError:
        text = traceback.format_exc()
    return ["2026-11-30 05:00:00,002 ERROR worker: job failed", *text.rstrip("\n").split("\n")]


def read(path: Path, read_size: int = 1 << 16, **params: Any) -> Collector:
    esc = movement.Escapement()
    collector = Collector()
    supply = fs.FileReaderSupply(esc, [str(path)], read_size=read_size, **params)
    movement.Train(esc, [supply, collector])
    esc.run()
    esc.close()
    return collector


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


class TestModes:
    @pytest.mark.parametrize("read_size", [7, 1 << 16])
    def test_java_stack_traces_are_one_event_each(self, tmp_path: Path, read_size: int) -> None:
        """A Java exception, its causes and frames are one event; the lines around it stay alone."""
        path = tmp_path / "app.log"
        write_lines(path, ["2026-11-30 05:00:00,000 INFO up", *JAVA, "2026-11-30 05:00:01,000 INFO still up", *JAVA])
        data = read(path, read_size, multiline={"mode": "java"}).data
        assert data == [
            "2026-11-30 05:00:00,000 INFO up",
            "\n".join(JAVA),
            "2026-11-30 05:00:01,000 INFO still up",
            "\n".join(JAVA),
        ]

    def test_python_tracebacks_with_chained_exceptions(self, tmp_path: Path) -> None:
        """A chained Python traceback (blank line and "The above exception ..." included) is one event."""
        path = tmp_path / "app.log"
        trace = python_traceback()
        write_lines(path, [*trace, "2026-11-30 05:00:03,000 INFO next"])
        data = read(path, 13, multiline={"mode": "python"}).data
        assert data == ["\n".join(trace), "2026-11-30 05:00:03,000 INFO next"]

    def test_go_panics(self, tmp_path: Path) -> None:
        """A Go panic with its goroutine dump is one event."""
        path = tmp_path / "app.log"
        write_lines(path, ["starting", *GO])
        assert read(path, multiline={"mode": "go"}).data == ["starting", "\n".join(GO)]


#: Pieces of traceback lines, and of hostile ones, that short lines are made of.
PIECES = [
    *("\t", " ", "\n", "\r", "", "(", ")", "()", ".", "$", "/", "*", "-", "_", "a", "é", "1", ":", "x y"),
    *("Error", "Exception", "Throwable", "Warning", "Exit", "Interrupt", "Caused by:", "Suppressed:"),
    *("goroutine ", "created by ", "exit status ", "main.main", "Traceback (most recent call last):"),
    *("During handling of the above exception", "The above exception was the direct cause"),
]
MIB = 1 << 20


def continues(mode: str, lines: list[str]) -> list[bool]:
    """Whether each line continues the event before it, by ``mode``'s linear test."""
    return _mode(mode)(lines, [line.encode("utf-8", "surrogatepass") for line in lines])


class TestModesAreLinear:
    @settings(max_examples=500)
    @given(mode=st.sampled_from(sorted(MODES)), line=st.lists(st.sampled_from(PIECES), max_size=8).map("".join))
    def test_each_mode_says_what_its_pattern_says(self, mode: str, line: str) -> None:
        """On short lines (where Python's re is quick) each mode's test gives re.match(MODES[mode], line)."""
        assert continues(mode, [line]) == [re.match(MODES[mode], line) is not None]

    def test_traceback_lines_as_before(self) -> None:
        """The lines of real tracebacks continue, or begin an event, as they did."""
        assert continues("java", JAVA) == [False, True, True, True, True, True, True]
        assert continues("go", GO) == [False, True, True, True, True, True, True, True]
        trace = python_traceback()
        assert continues("python", trace) == [False] + [True] * (len(trace) - 1)
        assert continues("go", ["main.(*T).m(0xc000010000, {0x4b2f1e, 0x5})", "main.f(...)", "f()x"]) == [
            True,
            True,
            False,
        ]

    @pytest.mark.parametrize("mode", sorted(MODES))
    def test_a_hostile_megabyte_line_costs_linear_time(self, mode: str) -> None:
        """Lines of a mebibyte shaped against each rule are classified in far less than 5 s of CPU.

        A gross complexity check, not a speed test (the project keeps no timed
        assertions otherwise; the bound is many times what these take even on
        a loaded machine): the go rule run by Python's re took 11.6 s for one
        100 KB line of "((((...x", about 20 minutes for a mebibyte; linear,
        each takes milliseconds.
        """
        lines = [
            "(" * MIB + "x",
            "(" * MIB + ")",
            "a(" * (MIB // 2) + "\n)",
            ")" * MIB,
            "a" * MIB,
            "Error" * (MIB // 5) + "!",
            "java.lang." * (MIB // 10) + "Exception",
            "\t" * MIB,
        ]
        started = time.process_time()
        found = continues(mode, lines)
        spent = time.process_time() - started
        assert spent < 5, f"{mode}: {spent:.1f} s of CPU"
        # Only the go rule takes a "(((...)" call; the Java and Python ones take "java.lang....Exception".
        call, exception = mode == "go", mode != "go"
        assert found == [False, call, False, False, False, False, exception, True]

    def test_a_hostile_line_does_not_stall_the_read(self, tmp_path: Path) -> None:
        """fs.read in go mode: a "((((...x" line just under max_line is an event alone; the events after it go on."""
        path = tmp_path / "app.log"
        hostile = "(" * (MIB - 64) + "x"
        write_lines(path, ["starting", *GO, hostile, "after"])
        started = time.process_time()
        data = read(path, multiline={"mode": "go"}).data
        spent = time.process_time() - started
        assert spent < 5, f"{spent:.1f} s of CPU"
        assert data == ["starting", "\n".join(GO), hostile, "after"]


class TestRules:
    LINES = ["[1] a", " b", " c", "[2] d", "[3] e", " f"]

    def test_start(self, tmp_path: Path) -> None:
        """A line matching ``start`` begins an event; the others join the one before."""
        path = tmp_path / "a.log"
        write_lines(path, self.LINES)
        assert read(path, multiline={"start": r"^\["}).data == ["[1] a\n b\n c", "[2] d", "[3] e\n f"]

    def test_continuation(self, tmp_path: Path) -> None:
        """A line matching ``continuation`` joins the event before it."""
        path = tmp_path / "a.log"
        write_lines(path, self.LINES)
        assert read(path, multiline={"continuation": r"^\s"}).data == ["[1] a\n b\n c", "[2] d", "[3] e\n f"]

    def test_start_and_continuation(self, tmp_path: Path) -> None:
        """With both, a line matching neither is an event alone."""
        path = tmp_path / "a.log"
        write_lines(path, ["[1] a", " b", "stray", " c", "[2] d"])
        data = read(path, multiline={"start": r"^\[", "continuation": r"^\s"}).data
        assert data == ["[1] a\n b", "stray\n c", "[2] d"]

    @pytest.mark.parametrize(
        ("negate", "match", "lines", "events"),
        [
            (False, "after", ["a", " b", " c", "d"], ["a\n b\n c", "d"]),
            (True, "after", ["[a", "b", "[c", "d"], ["[a\nb", "[c\nd"]),
            (False, "before", ["a \\", "b \\", "c", "d"], ["a \\\nb \\\nc", "d"]),
            (True, "before", ["a", "b", "c;", "d;"], ["a\nb\nc;", "d;"]),
        ],
    )
    def test_filebeat_pattern_negate_match(
        self, tmp_path: Path, negate: bool, match: str, lines: list[str], events: list[str]
    ) -> None:
        """Filebeat's four shapes: joined after or before, on match or on no match."""
        pattern = {
            (False, "after"): r"^\s",
            (True, "after"): r"^\[",
            (False, "before"): r"\\$",
            (True, "before"): r";$",
        }
        path = tmp_path / "a.log"
        write_lines(path, lines)
        rules = {"pattern": pattern[negate, match], "negate": negate, "match": match}
        assert read(path, multiline=rules).data == events

    def test_max_lines_and_max_bytes_cut_an_event(self, tmp_path: Path) -> None:
        """An event reaching ``max_lines`` or ``max_bytes`` is sent; the rest is the next one; nothing is lost."""
        path = tmp_path / "a.log"
        write_lines(path, ["start", *[f" {n}" for n in range(7)]])
        assert read(path, multiline={"continuation": "^ ", "max_lines": 3}).data == [
            "start\n 0\n 1",
            " 2\n 3\n 4",
            " 5\n 6",
        ]
        assert read(path, multiline={"continuation": "^ ", "max_bytes": 9}).data == [
            "start\n 0",
            " 1\n 2\n 3",
            " 4\n 5\n 6",
        ]

    def test_event_ids_are_the_offset_of_the_first_line(self, tmp_path: Path) -> None:
        """The id of an event is FILE:OFFSET of its first line."""
        path = tmp_path / "a.log"
        write_lines(path, ["a", " b", "c"])
        data = read(path, multiline={"continuation": "^ "}, line_setter="line", id_setter="id").data
        assert data == [{"id": f"{path}:0", "line": "a\n b"}, {"id": f"{path}:5", "line": "c"}]

    def test_an_undecodable_line_goes_to_the_error_output_and_the_events_around_it_go_on(self, tmp_path: Path) -> None:
        """A line that does not decode is reported with its offset; it ends the event before it."""
        path = tmp_path / "a.log"
        path.write_bytes(b"a\n b\n\xff\xfe\n c\nd\n")
        esc = movement.Escapement()
        collector = Collector()
        errors: list[Any] = []
        supply = fs.FileReaderSupply(esc, [str(path)], multiline={"continuation": "^ "})
        movement.Train(esc, [supply, collector], error_output=errors.append)
        esc.run()
        esc.close()
        assert collector.data == ["a\n b", " c", "d"]
        assert len(errors) == 1 and errors[0].event_id == f"{path}:5"

    @pytest.mark.parametrize("encoding_errors", ["error", "replace"])
    def test_a_line_longer_than_max_line_goes_to_the_error_output_as_without_multiline(
        self, tmp_path: Path, encoding_errors: str
    ) -> None:
        """A complete line over ``max_line`` is not sent as an event: it is reported and ends the event before it."""
        path = tmp_path / "a.log"
        long = "E2 " + "a" * 200
        write_lines(path, ["E1 start", "  cont", long, "  cont2", "E3 x", "E4"])
        esc = movement.Escapement()
        collector = Collector()
        errors: list[Any] = []
        supply = fs.FileReaderSupply(
            esc, [str(path)], max_line=100, multiline={"start": "^E"}, encoding_errors=encoding_errors
        )
        movement.Train(esc, [supply, collector], error_output=errors.append)
        esc.run()
        esc.close()
        assert collector.data == ["E1 start\n  cont", "  cont2", "E3 x", "E4"]
        assert [(r.event_id, type(r.error).__name__) for r in errors] == [(f"{path}:16", "LineTooLong")]


class TestBadRules:
    @pytest.mark.parametrize(
        ("rules", "message"),
        [
            ({"starts": "^x"}, "unknown key 'starts'"),
            ({"mode": "cobol"}, "multiline.mode must be one of"),
            ({"start": "(a"}, "multiline.start: bad regular expression"),
            ({"continuation": r"(a)\1"}, "multiline.continuation: bad regular expression"),
            ({"pattern": "^x", "match": "around"}, "multiline.match must be"),
            ({"start": "^x", "max_lines": 0}, "multiline.max_lines"),
            ({"start": "^x", "timeout": 0}, "multiline.timeout"),
            ({}, "needs start, continuation, pattern or mode"),
            ({"pattern": "^x", "start": "^y"}, "goes alone"),
        ],
    )
    def test_refused_with_the_key_named(self, tmp_path: Path, rules: dict[str, Any], message: str) -> None:
        """A bad multiline table is refused when the cog is built, naming the key."""
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
            fs.FileWatcherSupply(movement.DummyEscapement(), [str(tmp_path / "a.log")], multiline=rules)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(st.sampled_from(["x", "[start]", " cont", "", "é ü", " ...é"]), max_size=30),
    read_size=st.integers(1, 64),
    max_lines=st.integers(1, 6),
)
def test_events_do_not_depend_on_the_reads_and_lose_nothing(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], read_size: int, max_lines: int
) -> None:
    """Whatever the chunks, the events are the same, and their lines are the file's lines, in order."""
    path = tmp_path_factory.mktemp("p") / "a.log"
    write_lines(path, lines)
    rules = {"start": r"^\[", "max_lines": max_lines}
    chunked = read(path, read_size, multiline=rules, line_setter="line", id_setter="id").data
    whole = read(path, 1 << 16, multiline=rules, line_setter="line", id_setter="id").data
    assert chunked == whole
    assert [line for event in whole for line in event["line"].split("\n")] == lines
    assert all(len(event["line"].split("\n")) <= max_lines for event in whole)
    if lines:
        offsets = [int(event["id"].rsplit(":", 1)[1]) for event in whole]
        assert offsets[0] == 0 and offsets == sorted(set(offsets))


class TestFollowing:
    def test_the_last_event_of_a_quiet_file_goes_after_the_timeout(self, tmp_path: Path) -> None:
        """No next line comes: the event being built is sent once the file was quiet for ``timeout``."""
        path = tmp_path / "a.log"
        write_lines(path, JAVA)
        esc = movement.Escapement()
        collector = Collector()
        supply = fs.FileWatcherSupply(esc, [str(path)], multiline={"mode": "java", "timeout": 0.2})
        movement.Train(esc, [supply, collector])
        esc.every(0.01, lambda: collector.data and esc.shutdown(), keeps_alive=False)
        esc.run()
        esc.close()
        assert collector.data == ["\n".join(JAVA)]

    def test_a_restart_never_splits_or_repeats_an_event(self, tmp_path: Path) -> None:
        """Stopped while an event is being built: the position stays at its first line, and it comes whole once."""
        path = tmp_path / "a.log"
        state = str(tmp_path / "state.json")
        write_lines(path, ["one", " one-a", *JAVA[:3]])

        def run(until: Any) -> list[str]:
            esc = movement.Escapement()
            collector = Collector()
            supply = fs.FileWatcherSupply(esc, [str(path)], state_file=state, multiline={"mode": "java", "timeout": 60})
            movement.Train(esc, [supply, collector])
            esc.every(0.01, lambda: until(collector.data) and esc.shutdown(), keeps_alive=False)
            esc.run()
            esc.close()
            return list(collector.data)

        assert run(lambda data: data) == ["one\n one-a"]  # the trace waits for its end
        with open(path, "a") as handle:
            handle.write("".join(line + "\n" for line in JAVA[3:]) + "next\n")
        assert run(lambda data: data) == ["\n".join(JAVA)]

    @pytest.mark.parametrize("pattern", ["app.log", "app.log*"])
    def test_the_event_being_built_in_a_rotated_file_goes_before_those_of_its_successor(
        self, tmp_path: Path, pattern: str
    ) -> None:
        """Events 1 and 2 in app.log, which is rotated (renamed) while event 2 waits for the next line; events 3
        and 4 in the new app.log. Event 2 was complete once the writer wrote to the new file, and goes out
        before event 3 (it went out only when its file was let go, or quiet for ``timeout``: after event 3)."""
        path = tmp_path / "app.log"

        def event(n: int) -> str:
            return f"2024-01-01 ERROR event {n}\njava.lang.IllegalStateException: boom {n}\n\tat a.B.c(B.java:{n})"

        path.write_text(event(1) + "\n" + event(2) + "\n")
        esc = movement.Escapement()
        collector = Collector()
        # Long timeout and rotate_wait: neither lets an event go during the test.
        supply = fs.FileWatcherSupply(
            esc, [str(tmp_path / pattern)], rotate_wait=30, rescan_interval=0, multiline={"mode": "java", "timeout": 30}
        )
        movement.Train(esc, [supply, collector])
        failure: list[BaseException] = []
        finished = threading.Event()

        def work() -> None:
            try:
                deadline = time.monotonic() + 10
                while collector.data != [event(1)]:
                    assert time.monotonic() < deadline, "the first event"
                    time.sleep(0.005)
                os.rename(path, f"{path}.1")
                path.write_text(event(3) + "\n" + event(4) + "\n")
                while len(collector.data) < 3:
                    assert time.monotonic() < deadline + 5, f"three events, not {collector.data}"
                    time.sleep(0.005)
            except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
                failure.append(exc)
            finally:
                finished.set()

        esc.every(0.01, lambda: finished.is_set() and esc.shutdown(), keeps_alive=False)
        threading.Thread(target=work, daemon=True).start()
        esc.run()
        esc.close()
        if failure:
            raise failure[0]
        assert collector.data[:3] == [event(1), event(2), event(3)]


# -- exactly once through rotation and SIGKILL ---------------------------------------

PIPELINE = """
import sys
from deadbeat import fs, movement

root = sys.argv[1]
esc = movement.Escapement()
tail = fs.FileWatcherSupply(
    esc, [root + "/in/app.log*"], state_file=root + "/state.json", rotate_wait=0.3, state_interval=0.05,
    read_size=4096, multiline={"continuation": "^ ", "timeout": 0.5},
)
# One output line per event: a split or repeated event shows.
drain = fs.LineFileDrain(esc, root + "/out.log", state_file=root + "/state.json")
movement.Train(esc, [tail, lambda event: (event.replace("\\n", "|"),), drain])
esc.run()
"""


class EventWriter(threading.Thread):
    """Writes events of 1 to 4 lines at full speed, in pieces that end anywhere; renames the file now and then.

    :param compress: ``"compress"`` gzips each renamed file at once (the .gz
        written in place, the file then removed, as gzip does for logrotate),
        ``"delaycompress"`` gzips the one renamed the time before.
    """

    def __init__(self, path: Path, total: int, per_file: int, compress: str = "none") -> None:
        super().__init__(daemon=True)
        self.path, self.total, self.per_file, self.compress = path, total, per_file, compress
        self.rng = random.Random(5)
        self.error: BaseException | None = None

    @staticmethod
    def gzip_away(path: str) -> None:
        import gzip

        with open(path, "rb") as source, gzip.open(f"{path}.gz", "wb") as target:
            target.write(source.read())
        os.unlink(path)

    def run(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            pending = b""
            rotated: list[str] = []
            for seq in range(self.total):
                lines = [f"event {seq:07d}"] + [f" frame {seq:07d} {k}" for k in range(self.rng.randint(0, 3))]
                pending += "".join(line + "\n" for line in lines).encode()
                while len(pending) > 300:
                    size = self.rng.randint(1, 300)
                    os.write(fd, pending[:size])
                    pending = pending[size:]
                if (seq + 1) % self.per_file == 0:
                    os.write(fd, pending)
                    pending = b""
                    time.sleep(0.2)
                    os.rename(self.path, f"{self.path}.{seq}")
                    os.close(fd)
                    fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                    rotated.append(f"{self.path}.{seq}")
                    if self.compress == "compress":
                        self.gzip_away(rotated[-1])
                    elif self.compress == "delaycompress" and len(rotated) > 1:
                        self.gzip_away(rotated[-2])
            os.write(fd, pending)
            os.close(fd)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


@pytest.mark.parametrize("compress", ["none", "compress", "delaycompress"])
def test_sigkill_never_splits_loses_or_repeats_an_event(tmp_path: Path, compress: str) -> None:
    """Killed with SIGKILL at random moments while events are written and rotated: each event once, whole. The
    rotated files gzipped too, at once or one rotation later: what was not read yet is read from the .gz, the
    events still whole and once (the .gz matches ``app.log*``: its identity, not its name, says it was read)."""
    (tmp_path / "in").mkdir()
    script = tmp_path / "pipeline.py"
    script.write_text(textwrap.dedent(PIPELINE))
    stderr = open(tmp_path / "stderr.log", "ab")  # noqa: SIM115 - closed at the end
    total = 30_000
    writer = EventWriter(tmp_path / "in" / "app.log", total, per_file=7_000, compress=compress)
    rng = random.Random(3)

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, str(script), str(tmp_path)], stderr=stderr)

    def count() -> int:
        out = tmp_path / "out.log"
        return out.read_bytes().count(b"\n") if out.exists() else 0

    process = start()
    writer.start()
    try:
        for _ in range(3):
            time.sleep(rng.uniform(0.8, 1.5))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            process = start()
        writer.join(timeout=120)
        assert writer.error is None, writer.error
        deadline = time.monotonic() + 60
        while count() < total and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # time for an event read twice to show
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        stderr.close()
    events = (tmp_path / "out.log").read_text().splitlines()
    seqs = []
    for event in events:
        head, *frames = event.split("|")
        seq = head.removeprefix("event ")
        assert head.startswith("event ") and all(f.startswith(f" frame {seq} ") for f in frames), event
        assert [int(f.rsplit(" ", 1)[1]) for f in frames] == list(range(len(frames))), event
        seqs.append(int(seq))
    assert sorted(seqs) == list(range(total)), f"{total - len(set(seqs))} lost, {len(seqs) - len(set(seqs))} repeated"


class TestMetadata:
    def test_none_by_default(self, tmp_path: Path) -> None:
        """Without the options, a datum holds the line and nothing else."""
        path = tmp_path / "a.log"
        write_lines(path, ["one"])
        assert read(path, line_setter="message").data == [{"message": "one"}]

    def test_path_host_and_offset_where_asked(self, tmp_path: Path) -> None:
        """Path, host and offset (of an event's first line) go into the fields named, nested ones too."""
        import socket

        path = tmp_path / "a.log"
        write_lines(path, ["one", "two", " two-b", "three"])
        data = read(
            path,
            5,
            line_setter="message",
            path_field="log.file.path",
            host_field="host",
            offset_field="log.offset",
            multiline={"continuation": "^ "},
        ).data
        host = socket.gethostname()
        assert data == [
            {"message": "one", "log": {"file": {"path": str(path)}, "offset": 0}, "host": host},
            {"message": "two\n two-b", "log": {"file": {"path": str(path)}, "offset": 4}, "host": host},
            {"message": "three", "log": {"file": {"path": str(path)}, "offset": 15}, "host": host},
        ]

    def test_fields_need_mappings(self, tmp_path: Path) -> None:
        """Asking for a field while each datum is a bare line is refused, saying what to set."""
        with pytest.raises(ValueError, match="offset_field needs data that are mappings: set line_setter"):
            fs.FileWatcherSupply(movement.DummyEscapement(), [str(tmp_path / "a.log")], offset_field="offset")
        # The manual's id_setter too: a text has no place for an id, and it was ignored silently.
        with pytest.raises(ValueError, match="id_setter needs data that are mappings: set line_setter"):
            fs.FileWatcherSupply(movement.DummyEscapement, [str(tmp_path / "a.log")], id_setter=lambda d: d)
