"""Operating `deadbeat run`: metrics scraped over HTTP, systemd notifications, reload on SIGHUP, `deadbeat check`.

Every test runs the real command in a process of its own, with real files,
sockets and signals.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TAIL_TO_FILE = """
[[cog]]
use = "fs.tail"
filenames = ["in.txt"]
state_file = "state/positions.json"

[[cog]]
use = "fs.write"
filename = "out.txt"
state_file = "state/positions.json"
"""


def start(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    log = (tmp_path / "stderr.txt").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "run", "pipeline.toml", *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_for(what: Callable[[], Any], why: str, limit: float = 30) -> Any:
    """Poll until ``what()`` is true; the limit only keeps a broken run from hanging the suite."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        result = what()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"never happened: {why}")


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


def append(path: Path, lines: Iterator[str] | list[str]) -> None:
    with path.open("a") as file:
        file.writelines(f"{line}\n" for line in lines)


def stderr_of(tmp_path: Path) -> str:
    return (tmp_path / "stderr.txt").read_text()


@pytest.fixture
def tail_pipeline(tmp_path: Path) -> Path:
    (tmp_path / "pipeline.toml").write_text(TAIL_TO_FILE)
    (tmp_path / "in.txt").write_text("")
    return tmp_path


def out_lines(tmp_path: Path) -> list[str]:
    path = tmp_path / "out.txt"
    return path.read_text().splitlines() if path.exists() else []


class TestMetricsEndpoint:
    def test_without_the_metrics_extra_the_run_says_what_to_install_before_starting(self, tmp_path: Path) -> None:
        """--metrics-port without prometheus-client: refused at once, naming the extra; nothing started."""
        (tmp_path / "in.txt").write_text("a\n")
        (tmp_path / "pipeline.toml").write_text(TAIL_TO_FILE)
        blocked = (
            "import sys; sys.modules['prometheus_client'] = None; from deadbeat.command import main;"
            " sys.exit(main(['run', 'pipeline.toml', '--once', '--metrics-port', '0']))"
        )
        result = subprocess.run(
            [sys.executable, "-c", blocked], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 1
        assert "pip install 'deadbeat-core[metrics]'" in result.stderr
        assert not (tmp_path / "out.txt").exists()

    def test_counters_match_the_data_sent(self, tail_pipeline: Path) -> None:
        """/metrics, scraped over HTTP during the run, counts every line written; /ready and /health say 200."""
        process = start(tail_pipeline, "--metrics-port", "0", "--measure", "cogs")
        try:
            port = wait_for(
                lambda: re.search(r"metrics at http://127\.0\.0\.1:(\d+)/", stderr_of(tail_pipeline)), "metrics port"
            ).group(1)
            base = f"http://127.0.0.1:{port}"
            append(tail_pipeline / "in.txt", [f"line {n}" for n in range(120)])
            wait_for(lambda: len(out_lines(tail_pipeline)) == 120, "120 lines written")

            def scraped() -> str | None:
                text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
                return text if 'deadbeat_train_events_out_total{train="pipeline.toml"} 120.0' in text else None

            text = wait_for(scraped, "the counters to reach 120")
            assert 'deadbeat_train_events_in_total{train="pipeline.toml"} 120.0' in text
            assert 'deadbeat_cog_data_in_total{cog="LineFileDrain",position="1",train="pipeline.toml"} 120.0' in text
            assert (
                'deadbeat_cog_data_out_total{cog="FileWatcherSupply",position="0",train="pipeline.toml"} 120.0' in text
            )
            assert 'deadbeat_train_errors_total{train="pipeline.toml"} 0.0' in text
            assert urllib.request.urlopen(base + "/ready", timeout=10).status == 200
            assert urllib.request.urlopen(base + "/health", timeout=10).status == 200
        finally:
            assert stop(process) == 0, stderr_of(tail_pipeline)

    def test_refused_with_workers(self, tail_pipeline: Path) -> None:
        """One metrics port cannot serve several worker processes: said, exit 1."""
        process = start(tail_pipeline, "--metrics-port", "0", "--workers", "2")
        assert process.wait(timeout=60) == 1
        assert "--metrics-port serves one process" in stderr_of(tail_pipeline)


class TestSystemd:
    def test_ready_status_watchdog_stopping(self, tail_pipeline: Path) -> None:
        """Under Type=notify: READY=1 once running, watchdog pings, STOPPING=1 at SIGTERM; all on a real socket."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        address = tail_pipeline / "notify"
        listener.bind(str(address))
        listener.settimeout(30)
        env = {"NOTIFY_SOCKET": str(address), "WATCHDOG_USEC": "200000", "JOURNAL_STREAM": ""}
        process = start(tail_pipeline, env=env)
        messages: list[str] = []
        try:
            while sum(m == "WATCHDOG=1" for m in messages) < 3:
                messages.append(listener.recv(4096).decode())
            assert messages[0].startswith("READY=1\nSTATUS=")
        finally:
            assert stop(process) == 0, stderr_of(tail_pipeline)
        rest = []
        listener.settimeout(5)
        try:
            while True:
                rest.append(listener.recv(4096).decode())
        except TimeoutError:
            pass
        finally:
            listener.close()
        assert any(m.startswith("STOPPING=1") for m in rest), rest

    def test_status_lines_carry_the_rates_every_ten_seconds(self, tail_pipeline: Path) -> None:
        """`systemctl status` shows a STATUS= line sent every 10 s with the rates since the last one and the
        totals: 50 lines written after the start are 5 in/s and 5 out/s over those ten seconds."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        address = tail_pipeline / "notify"
        listener.bind(str(address))
        listener.settimeout(30)
        process = start(tail_pipeline, env={"NOTIFY_SOCKET": str(address), "JOURNAL_STREAM": ""})
        try:
            ready = listener.recv(4096).decode()
            assert ready == "READY=1\nSTATUS=in 0, out 0, errors 0, held 0", ready
            with open(tail_pipeline / "in.txt", "a") as handle:
                handle.writelines(f"line {n}\n" for n in range(50))
            status = listener.recv(4096).decode()
        finally:
            assert stop(process) == 0, stderr_of(tail_pipeline)
            listener.close()
        assert re.fullmatch(r"STATUS=5 in/s, 5 out/s, 0 errors/s; in 50, out 50, errors 0, held 0", status), status

    def test_the_supervisor_speaks_for_its_workers(self, tail_pipeline: Path) -> None:
        """With --workers, the supervisor (systemd's main process) says ready, pings and says stopping."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        address = tail_pipeline / "notify"
        listener.bind(str(address))
        listener.settimeout(30)
        env = {"NOTIFY_SOCKET": str(address), "WATCHDOG_USEC": "200000", "JOURNAL_STREAM": ""}
        process = start(tail_pipeline, "--workers", "1", env=env)
        messages: list[str] = []
        try:
            while sum(m == "WATCHDOG=1" for m in messages) < 2:
                messages.append(listener.recv(4096).decode())
            assert "READY=1\nSTATUS=1 workers started" in messages
        finally:
            assert stop(process) == 0, stderr_of(tail_pipeline)
        while not messages[-1].startswith("STOPPING=1"):
            messages.append(listener.recv(4096).decode())
        listener.close()


class TestLogs:
    def test_json_lines_on_request(self, tmp_path: Path) -> None:
        """[log] json = true: every line deadbeat run logs is a JSON object."""
        (tmp_path / "in.txt").write_text("a\nb\n")
        (tmp_path / "pipeline.toml").write_text("[log]\njson = true\n" + TAIL_TO_FILE)
        process = start(tmp_path, "--once")
        assert process.wait(timeout=60) == 0
        entries = [json.loads(line) for line in stderr_of(tmp_path).splitlines()]
        assert entries[-1]["message"] == "pipeline.toml finished: in 2, out 2, errors 0"
        assert {"time", "level", "logger", "pid", "event_id", "message"} <= set(entries[-1])

    def test_json_lines_in_the_log_file_too(self, tmp_path: Path) -> None:
        """[log] json = true with a file: the file got plain text, though json is what a log shipper asks for."""
        (tmp_path / "in.txt").write_text("a\nb\n")
        (tmp_path / "pipeline.toml").write_text(f'[log]\njson = true\nfile = "{tmp_path}/d.log"\n' + TAIL_TO_FILE)
        process = start(tmp_path, "--once")
        assert process.wait(timeout=60) == 0
        entries = [json.loads(line) for line in (tmp_path / "d.log").read_text().splitlines()]
        assert entries[-1]["message"] == "pipeline.toml finished: in 2, out 2, errors 0"


class TestReload:
    def test_changed_filenames_keep_the_positions_of_the_files_read_before(self, tail_pipeline: Path) -> None:
        """A pattern added to fs.tail, by SIGHUP and then across a restart: the files read before are not read again.

        The positions are kept in a section named after the patterns; edited,
        the patterns used to find none and every file was read from its start.
        """
        source, other = tail_pipeline / "in.txt", tail_pipeline / "b.txt"
        append(source, [f"a{n}" for n in range(5)])
        process = start(tail_pipeline)
        try:
            wait_for(lambda: len(out_lines(tail_pipeline)) >= 5, "the first lines")
            append(other, ["b0"])
            (tail_pipeline / "pipeline.toml").write_text(TAIL_TO_FILE.replace('["in.txt"]', '["in.txt", "b.txt"]'))
            process.send_signal(signal.SIGHUP)
            wait_for(lambda: "reloading;" in stderr_of(tail_pipeline), "the reload")
            append(source, ["a5"])
            wait_for(lambda: len(out_lines(tail_pipeline)) >= 7, "the lines after the reload")
        finally:
            assert stop(process) == 0, stderr_of(tail_pipeline)
        assert sorted(out_lines(tail_pipeline)) == [*(f"a{n}" for n in range(6)), "b0"]
        # And across a restart with the patterns written another way round.
        (tail_pipeline / "pipeline.toml").write_text(TAIL_TO_FILE.replace('["in.txt"]', '["b.txt", "in.txt"]'))
        append(source, ["a6"])
        append(other, ["b1"])
        process = start(tail_pipeline, "--once")
        assert process.wait(timeout=60) == 0, stderr_of(tail_pipeline)
        assert sorted(out_lines(tail_pipeline)) == [*(f"a{n}" for n in range(7)), "b0", "b1"]
        assert "positions of 2 files are carried over" in stderr_of(tail_pipeline)
        sections = json.loads((tail_pipeline / "state" / "positions.json").read_text())["sections"]
        assert [name for name in sections if name.startswith("fs.tail")] == [
            f"fs.tail {tail_pipeline}/b.txt {tail_pipeline}/in.txt"
        ]

    def test_sighup_applies_a_valid_file_and_keeps_the_old_on_an_invalid_one(self, tail_pipeline: Path) -> None:
        """SIGHUP with a changed valid file reloads, with an invalid one keeps running; no line lost or repeated.

        systemd hears of the reload: RELOADING=1, then READY=1 once the new pipeline runs.
        """
        source = tail_pipeline / "in.txt"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(str(tail_pipeline / "notify"))
        listener.settimeout(10)
        process = start(tail_pipeline, env={"NOTIFY_SOCKET": str(tail_pipeline / "notify"), "JOURNAL_STREAM": ""})
        written = 0

        def write(count: int) -> None:
            nonlocal written
            append(source, [f"line {n}" for n in range(written, written + count)])
            written += count

        try:
            write(500)
            wait_for(lambda: len(out_lines(tail_pipeline)) >= 100, "the flow to start")
            # Changed and valid: lines keep arriving while it reloads.
            (tail_pipeline / "pipeline.toml").write_text("[train]\nhigh_water = 5000\n" + TAIL_TO_FILE)
            process.send_signal(signal.SIGHUP)
            write(500)
            wait_for(lambda: "reloading;" in stderr_of(tail_pipeline), "the reload")
            write(500)
            # Changed and wrong: the running pipeline goes on.
            (tail_pipeline / "pipeline.toml").write_text("[train]\nhigh_water = 'x'\n" + TAIL_TO_FILE)
            process.send_signal(signal.SIGHUP)
            wait_for(lambda: "not reloaded" in stderr_of(tail_pipeline), "the refusal")
            write(500)
            wait_for(lambda: len(out_lines(tail_pipeline)) >= written, "every line written")
        finally:
            assert stop(process) == 0, stderr_of(tail_pipeline)
        assert out_lines(tail_pipeline) == [f"line {n}" for n in range(written)]
        states, messages = [], []
        while not states or states[-1] != "STOPPING":
            message = listener.recv(4096).decode()
            messages.append(message)
            if not message.startswith("STATUS="):
                states.append(message.split("=", 1)[0])
        listener.close()
        assert states == ["READY", "RELOADING", "READY", "STOPPING"]
        # The new pipeline's rates count from its own zero (they were the old counts taken from the new, negative).
        assert not [m for m in messages if re.search(r"-[0-9][0-9,]* (in|out)/s", m)], messages
        log = stderr_of(tail_pipeline)
        assert log.count("changed and valid") == 1
        assert "high_water" in log.split("not reloaded", 1)[1].splitlines()[0]

    def test_a_reloaded_pipeline_whose_cog_cannot_start_leaves_nothing_behind(self, tail_pipeline: Path) -> None:
        """The new file checks out, but an output of it (check builds none) raises as it is built: the old
        pipeline runs again, and the cogs made before the failing one are let go (its tailer stayed bound and
        logged a traceback per line). Another SIGHUP on the same file does not stop the pipeline for it again."""
        source = tail_pipeline / "in.txt"
        (tail_pipeline / "brokencogs.py").write_text(
            "class RefusesWriter:\n    def __init__(self):\n        raise ValueError('not today')\n"
        )
        process = start(tail_pipeline)
        try:
            append(source, [f"line {n}" for n in range(300)])
            wait_for(lambda: len(out_lines(tail_pipeline)) >= 300, "the flow to start")
            broken = TAIL_TO_FILE + '\n[[cog]]\nuse = "brokencogs:RefusesWriter"\n'
            (tail_pipeline / "pipeline.toml").write_text(broken)
            process.send_signal(signal.SIGHUP)
            wait_for(lambda: "building the previous one again" in stderr_of(tail_pipeline), "the fallback")
            append(source, [f"line {n}" for n in range(300, 600)])
            wait_for(lambda: len(out_lines(tail_pipeline)) >= 600, "every line written")
            process.send_signal(signal.SIGHUP)
            wait_for(lambda: "unchanged since it was refused" in stderr_of(tail_pipeline), "the second SIGHUP")
            time.sleep(0.5)
        finally:
            assert stop(process) == 0, stderr_of(tail_pipeline)
        assert out_lines(tail_pipeline) == [f"line {n}" for n in range(600)]
        log = stderr_of(tail_pipeline)
        assert log.count("cannot start: ValueError: not today") == 1, log
        assert log.count("stopping the running pipeline") == 1, log
        assert "Traceback" not in log and "is in no train" not in log and "still bound" not in log, log

    def test_a_file_check_refuses_does_not_stop_the_running_pipeline(self, tail_pipeline: Path) -> None:
        """What `deadbeat check` refuses (a value a cog's own code refuses as it is built, an output in a missing
        directory) is refused by SIGHUP as check says it, before anything stops; said once per change."""
        source = tail_pipeline / "in.txt"
        process = start(tail_pipeline)
        try:
            append(source, [f"line {n}" for n in range(200)])
            wait_for(lambda: len(out_lines(tail_pipeline)) >= 200, "the flow to start")
            for body, said in (
                (
                    TAIL_TO_FILE.replace(
                        '[[cog]]\nuse = "fs.write"',
                        '[[cog]]\nuse = "text.json_parse"\nmax_depth = 100000\n\n[[cog]]\nuse = "fs.write"',
                    ),
                    "max_depth",
                ),
                (TAIL_TO_FILE.replace('filename = "out.txt"', 'filename = "missing/out.txt"'), "missing"),
            ):
                (tail_pipeline / "pipeline.toml").write_text(body)
                expected = check(tail_pipeline, body)
                assert expected.returncode == 1 and said in expected.stdout, expected.stdout
                before = stderr_of(tail_pipeline).count("not reloaded, the running pipeline goes on")
                for _ in range(2):
                    process.send_signal(signal.SIGHUP)
                    time.sleep(0.3)
                wait_for(lambda: "unchanged since it was refused" in stderr_of(tail_pipeline), "the second SIGHUP")
                assert stderr_of(tail_pipeline).count("not reloaded, the running pipeline goes on") == before + 1
                marker = f"after {said}"
                append(source, [marker])
                wait_for(lambda marker=marker: marker in out_lines(tail_pipeline), "the old pipeline going on")
        finally:
            assert stop(process) == 0, stderr_of(tail_pipeline)
        log = stderr_of(tail_pipeline)
        assert "stopping the running pipeline" not in log, log
        assert out_lines(tail_pipeline) == [f"line {n}" for n in range(200)] + ["after max_depth", "after missing"]

    def test_a_tailer_without_a_state_file_is_not_reloaded(self, tmp_path: Path) -> None:
        """Positions pass to a reloaded pipeline through the state file alone: without one, the new pipeline read
        every file again from its start (lines written twice) while the log said it went on where it stopped."""
        body = 'use = "fs.tail"\nfilenames = ["in.txt"]\n\n[[cog]]\nuse = "fs.write"\nfilename = "out.txt"\n'
        (tmp_path / "pipeline.toml").write_text("[[cog]]\n" + body)
        (tmp_path / "in.txt").write_text("")
        process = start(tmp_path)
        try:
            append(tmp_path / "in.txt", [f"line {n}" for n in range(300)])
            wait_for(lambda: len(out_lines(tmp_path)) >= 300, "the flow to start")
            (tmp_path / "pipeline.toml").write_text("# a comment\n[[cog]]\n" + body)
            process.send_signal(signal.SIGHUP)
            wait_for(lambda: "restart deadbeat to apply the file" in stderr_of(tmp_path), "the refusal")
            append(tmp_path / "in.txt", ["line 300"])
            wait_for(lambda: len(out_lines(tmp_path)) >= 301, "the old pipeline going on")
            time.sleep(0.3)
        finally:
            assert stop(process) == 0, stderr_of(tmp_path)
        assert out_lines(tmp_path) == [f"line {n}" for n in range(301)]
        log = stderr_of(tmp_path)
        assert "it has no state_file: the new pipeline would read the files again from their start" in log
        assert "stopping the running pipeline" not in log

    @pytest.mark.parametrize("change", ["another state file", "no state file"])
    def test_a_file_that_moves_or_drops_the_state_file_is_not_reloaded(self, tmp_path: Path, change: str) -> None:
        """The running tailer's positions are in state/pos.json: a new file naming another state file (or none)
        started a pipeline that read the whole input again (2,010 lines out for 1,010 in, errors 0)."""

        def body(state: str) -> str:
            lines = f'state_file = "{state}"\n' if state else ""
            return (
                f'[[cog]]\nuse = "fs.tail"\nfilenames = ["in.txt"]\n{lines}\n'
                f'[[cog]]\nuse = "fs.write"\nfilename = "out.txt"\n{lines}'
            )

        (tmp_path / "pipeline.toml").write_text(body("state/pos.json"))
        (tmp_path / "in.txt").write_text("")
        process = start(tmp_path)
        try:
            append(tmp_path / "in.txt", [f"line {n}" for n in range(300)])
            wait_for(lambda: len(out_lines(tmp_path)) >= 300, "the flow to start")
            (tmp_path / "pipeline.toml").write_text(body("state/pos2.json" if change == "another state file" else ""))
            process.send_signal(signal.SIGHUP)
            wait_for(lambda: "restart deadbeat to apply the file" in stderr_of(tmp_path), "the refusal")
            append(tmp_path / "in.txt", ["line 300"])
            wait_for(lambda: len(out_lines(tmp_path)) >= 301, "the old pipeline going on")
            time.sleep(0.3)
        finally:
            assert stop(process) == 0, stderr_of(tmp_path)
        assert out_lines(tmp_path) == [f"line {n}" for n in range(301)]
        log = stderr_of(tmp_path)
        assert "state/pos.json, which the new file no longer names" in log
        assert "stopping the running pipeline" not in log


def check(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pipeline.toml").write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "check", "pipeline.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


class TestCheck:
    def test_a_good_file(self, tail_pipeline: Path) -> None:
        """A pipeline that would run: exit 0, one line saying so."""
        result = check(tail_pipeline, TAIL_TO_FILE)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout == "pipeline.toml: ok\n"

    def test_an_unset_variable_is_one_problem_not_three(self, tmp_path: Path) -> None:
        """${IN_FILE} and ${MINSEV} unset: check said so, then also took the texts as they stood for a path that
        matches no file and an expression that does not parse; four errors where the run counted two."""
        result = check(
            tmp_path,
            """
            [[cog]]
            use = "fs.read"
            filenames = ["${IN_FILE}"]
            [[cog]]
            use = "text.json_parse"
            [[cog]]
            use = "flow.filter"
            expression = 'sev >= ${MINSEV}'
            [[cog]]
            use = "text.json_format"
            [[cog]]
            use = "fs.write"
            filename = "out.jsonl"
            """,
        )
        assert result.returncode == 1
        assert result.stdout.splitlines() == [
            "pipeline.toml: cog[0] (fs.read): filenames[0]: ${IN_FILE}: environment variable IN_FILE is not set"
            " and has no default",
            "pipeline.toml: cog[2] (flow.filter): expression: ${MINSEV}: environment variable MINSEV is not set"
            " and has no default",
        ]
        assert "2 errors" in result.stderr

    def test_every_problem_at_once(self, tmp_path: Path) -> None:
        """Unknown cogs and keys, a shared state file, an occupied port, a useless cog, no output: one line each."""
        (tmp_path / "in.txt").write_text("")
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        try:
            result = check(
                tmp_path,
                f"""
                [[cog]]
                use = "text.json_parse"

                [[cog]]
                use = "fs.tail"
                filenames = ["in.txt"]
                state_file = "shared.json"

                [[cog]]
                use = "fs.tail"
                filenames = ["in*.log"]
                state_file = "shared.json"

                [[cog]]
                use = "socket.listen"
                port = {port}
                """,
            )
        finally:
            busy.close()
        assert result.returncode == 1
        lines = result.stdout.splitlines()
        assert lines == [
            f"pipeline.toml: cog[3] (socket.listen): port: cannot listen on 127.0.0.1:{port}: Address already in use",
            f"pipeline.toml: cog[1] (fs.tail): state_file: {tmp_path / 'shared.json'} is also the state file of"
            " cog[2] (fs.tail); each supply needs its own",
            f"pipeline.toml: cog[2] (fs.tail): filenames: {tmp_path / 'in*.log'} matches no file now;"
            " read when it appears (warning)",
            "pipeline.toml: cog[0] (text.json_parse): comes before the first supply, cog[1] (fs.tail):"
            " nothing reaches it; move it after (warning)",
            "pipeline.toml: no output cog (fs.write, socket.send, http.post, ...): the data go nowhere (warning)",
        ]

    def test_an_output_that_does_not_share_the_inputs_state_file(self, tmp_path: Path) -> None:
        """fs.tail keeps positions, fs.write has no state_file: a crash writes lines again, and check said "ok"
        (found by a new user). A warning names the cog and the line to add; shared, nothing is said."""
        (tmp_path / "in.log").write_text("")
        pipeline = """
            [[cog]]
            use = "fs.tail"
            filenames = ["in.log"]
            state_file = "state/positions.json"

            [[cog]]
            use = "fs.write"
            filename = "out.log"
            {extra}
            """
        result = check(tmp_path, pipeline.format(extra=""))
        state = tmp_path / "state" / "positions.json"
        assert result.returncode == 0
        assert result.stdout.splitlines() == [
            f"pipeline.toml: cog[1] (fs.write): no state_file, while the input keeps its positions in {state}:"
            " after a crash, lines written since the last checkpoint are written again;"
            f' add state_file = "{state}" here to make it exact (warning)',
            "pipeline.toml: ok, 1 warning",
        ]
        shared = check(tmp_path, pipeline.format(extra='state_file = "state/positions.json"'))
        assert shared.returncode == 0 and shared.stdout.splitlines() == ["pipeline.toml: ok"]
        # The [[errors]] train's fs.write too: its records of lines read again were written twice.
        errors = pipeline.format(extra='state_file = "state/positions.json"') + (
            '\n[[errors]]\nuse = "text.json_format"\n\n[[errors]]\nuse = "fs.write"\nfilename = "errors.jsonl"\n'
        )
        unshared = check(tmp_path, errors)
        assert unshared.returncode == 0
        assert unshared.stdout.splitlines()[0].startswith(
            "pipeline.toml: errors[1] (fs.write): no state_file, while the input keeps its positions in"
        )

    def test_parsed_mappings_written_with_no_formatter(self, tmp_path: Path) -> None:
        """fs.read -> text.json_parse -> fs.write: every record went to the dead-letter log while check said "ok"
        (found by a new user). A warning names the fs.write and the parser; with a formatter, a ``target`` or a
        ``line_getter``, nothing is said. The [[errors]] train's fs.write too: it is given mappings from its start."""
        (tmp_path / "in.jsonl").write_text('{"a": 1}\n')
        head = """
            [[cog]]
            use = "fs.read"
            filenames = ["in.jsonl"]

            [[cog]]
            use = "text.json_parse"
            {parse}
            {middle}
            [[cog]]
            use = "fs.write"
            filename = "out.txt"
            {write}
            """
        result = check(tmp_path, head.format(parse="", middle="", write=""))
        assert result.returncode == 0
        assert result.stdout.splitlines() == [
            "pipeline.toml: cog[2] (fs.write): given mappings with no 'line' to write (cog[1] (text.json_parse)"
            " makes each datum the mapping of its fields): every datum would go to the error output;"
            " put text.json_format (or another formatter) before it (warning)",
            "pipeline.toml: ok, 1 warning",
        ]
        for parse, middle, write in [
            ("", '[[cog]]\nuse = "text.json_format"\n', ""),
            ('target = "parsed"', "", ""),
            ('keep = ["line"]', "", ""),
            ("", "", 'line_getter = "a"'),
        ]:
            body = textwrap.dedent(head).format(parse=parse, middle=middle, write=write)
            quiet = check(tmp_path, body)
            assert quiet.stdout.splitlines() == ["pipeline.toml: ok"], body
        errors = textwrap.dedent(head).format(parse="", middle='[[cog]]\nuse = "text.json_format"\n', write="")
        unformatted = check(tmp_path, errors + '\n[[errors]]\nuse = "fs.write"\nfilename = "errors.txt"\n')
        assert unformatted.stdout.splitlines() == [
            "pipeline.toml: errors[0] (fs.write): given mappings with no 'line' to write (the error train is given"
            " error records, mappings): every record would reach only the dead-letter log, and the run would fail;"
            " put text.json_format (or another formatter) before it (warning)",
            "pipeline.toml: ok, 1 warning",
        ]

    def test_values_out_of_a_cogs_bounds(self, tmp_path: Path) -> None:
        """Bounds a cog declares (ip.anonymise's prefixes, flow.sample's rate, a port) are checked before any run,
        one line each, with what the key takes."""
        (tmp_path / "in.txt").write_text("")
        result = check(
            tmp_path,
            """
            [[cog]]
            use = "fs.read"
            filenames = ["in.txt"]
            read_size = 0

            [[cog]]
            use = "ip.anonymise"
            fields = "src_ip"
            v4_prefix = 99

            [[cog]]
            use = "flow.sample"
            rate = 1.5

            [[cog]]
            use = "fs.write"
            filename = "out.txt"
            """,
        )
        assert result.returncode == 1
        assert result.stdout.splitlines() == [
            "pipeline.toml: cog[0] (fs.read): read_size: expected an integer of at least 1, got 0",
            "pipeline.toml: cog[1] (ip.anonymise): v4_prefix: expected an integer from 0 to 32, got 99",
            "pipeline.toml: cog[2] (flow.sample): rate: expected a number from 0 to 1 or nothing (false), got 1.5",
        ]

    @pytest.mark.parametrize(
        ("setting", "said"),
        [
            ('multiline = {mode = "jav"}', "multiline.mode must be one of 'java', 'python', 'go', not 'jav'"),
            ("multiline = {timout = 2}", "multiline: unknown key 'timout'; the keys are start, continuation"),
            ('encoding = "utf-16"\nmultiline = {mode = "java"}', "multiline does not go with encoding 'utf-16' yet"),
            ('encoding = "nope"', "encoding: expected the name of a text encoding Python knows, such as utf-8 or"),
            ("rotate_wait = -5", "rotate_wait: expected a number of at least 0, got -5"),
        ],
    )
    def test_what_the_tailer_would_refuse_at_start(self, tmp_path: Path, setting: str, said: str) -> None:
        """check said "ok" for these, and the run then refused to start."""
        (tmp_path / "in.log").write_text("")
        body = (
            f'[[cog]]\nuse = "fs.tail"\nfilenames = ["in.log"]\n{setting}\n[[cog]]\nuse = "fs.write"\nfilename = "o"\n'
        )
        result = check(tmp_path, body)
        assert result.returncode == 1
        assert f"pipeline.toml: cog[0] (fs.tail): {said}" in result.stdout

    def test_libraries_the_cogs_need_and_this_machine_lacks(self, tmp_path: Path) -> None:
        """RE2 for grok's default engine and redis-py for stream.redis: named with their extras, before any run."""
        (tmp_path / "in.txt").write_text("")
        (tmp_path / "pipeline.toml").write_text(
            textwrap.dedent(
                """
                [[cog]]
                use = "fs.read"
                filenames = ["in.txt"]

                [[cog]]
                use = "text.grok"
                pattern = "%{IP:client} %{WORD:method}"

                [[cog]]
                use = "text.grok"
                pattern = "%{WORD:word}"
                engine = "re"

                [[cog]]
                use = "stream.redis_write"
                stream = "out"

                [[cog]]
                use = "dns.reverse"

                [[cog]]
                use = "ip.geoip"
                database = "city.mmdb"

                [[cog]]
                use = "ip.anonymise"
                mode = "cryptopan"
                key_file = "anon.key"

                [[cog]]
                use = "ip.anonymise"
                mode = "truncate"
                """
            )
        )
        (tmp_path / "city.mmdb").write_bytes(b"")
        (tmp_path / "anon.key").write_text("ab" * 32)
        (tmp_path / "anon.key").chmod(0o600)

        def check_without(*modules: str) -> subprocess.CompletedProcess[str]:
            # A module set to None in sys.modules cannot be imported or found: as if not installed.
            hide = "".join(f"sys.modules[{module!r}] = None; " for module in modules)
            code = f"import sys; {hide}from deadbeat.command import main; sys.exit(main(['check', 'pipeline.toml']))"
            return subprocess.run(
                [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
            )

        installed = check_without()
        # Everything installed, the cogs are built as the run builds them: the empty database is refused.
        assert installed.returncode == 1, installed.stdout + installed.stderr
        [refused] = installed.stdout.splitlines()
        assert refused.startswith("pipeline.toml: cog[5] (ip.geoip): cannot start: ValueError: "), refused
        assert "city.mmdb: not a MaxMind DB file that can be read" in refused
        lacking = check_without("re2", "redis", "pycares", "maxminddb", "cryptography")
        assert lacking.returncode == 1
        assert lacking.stdout.splitlines() == [
            "pipeline.toml: cog[1] (text.grok): engine 'guarded': google-re2 is not installed"
            " (pip install 'deadbeat-cogs-text[re2]'); engine 're' is Python's backtracking re, which a hostile"
            " line can keep busy for hours with some patterns: choose it only knowingly",
            "pipeline.toml: cog[3] (stream.redis_write): stream.redis_write needs redis, which"
            " is not installed; install it with: pip install 'deadbeat-cogs-net[redis]'",
            "pipeline.toml: cog[4] (dns.reverse): dns.reverse needs pycares, which is not installed;"
            " install it with: pip install 'deadbeat-cogs-net[dns]'",
            "pipeline.toml: cog[5] (ip.geoip): ip.geoip needs maxminddb, which is not installed;"
            " install it with: pip install 'deadbeat-cogs-ip[geoip]'",
            'pipeline.toml: cog[6] (ip.anonymise): ip.anonymise mode "cryptopan" needs cryptography, which is'
            " not installed; install it with: pip install 'deadbeat-cogs-ip[cryptopan]'",
        ]

    def test_what_made_a_run_fail_at_once_though_check_said_ok(self, tmp_path: Path) -> None:
        """fs.read of a missing file, an output or log file in a directory that does not exist, a filter's
        expression that does not compile: each an error now, as each stops the run."""
        result = check(
            tmp_path,
            """
            [log]
            file = "nolog/deadbeat.log"

            [[cog]]
            use = "fs.read"
            filenames = ["missing.txt"]
            line_setter = "line"

            [[cog]]
            use = "flow.filter"
            expression = "severity >= "

            [[cog]]
            use = "fs.write"
            filename = "nodir/out.txt"
            """,
        )
        assert result.returncode == 1
        assert result.stdout.splitlines() == [
            f"pipeline.toml: cog[0] (fs.read): filenames: {tmp_path}/missing.txt matches no file now; the run reads"
            " what is there and fails without it (missing_ok = true allows it)",
            "pipeline.toml: cog[1] (flow.filter): expression: filter 'severity >= ' does not parse at its end:"
            " invalid syntax",
            f"pipeline.toml: cog[2] (fs.write): filename: cannot create {tmp_path}/nodir/out.txt: its directory does"
            " not exist (it is not made)",
            f"pipeline.toml: [log]: file: cannot create {tmp_path}/nolog/deadbeat.log: its directory does not exist"
            " (it is not made)",
        ]

    def test_run_names_the_log_file_whose_directory_is_missing(self, tmp_path: Path) -> None:
        """deadbeat run said only "log: [Errno 2] No such file or directory: 'nolog'"; now what check says."""
        (tmp_path / "in.txt").write_text("a\n")
        (tmp_path / "pipeline.toml").write_text('[log]\nfile = "nolog/deadbeat.log"\n' + TAIL_TO_FILE)
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", "--once", "pipeline.toml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert not (tmp_path / "out.txt").exists()
        assert result.stderr == (
            f"deadbeat: pipeline.toml: [log]: file: cannot create {tmp_path}/nolog/deadbeat.log: its directory"
            f" {tmp_path}/nolog does not exist (it is not made)\n"
        )

    def test_a_file_without_cogs_is_one_error(self, tmp_path: Path) -> None:
        result = check(tmp_path, "[train]\n")
        assert result.returncode == 1
        assert result.stdout == "pipeline.toml: no [[cog]] tables: a pipeline needs at least one cog\n"

    def test_files_the_cogs_read_as_they_start(self, tmp_path: Path) -> None:
        """A GeoIP database, a lookup table, a CIDR list, grok patterns, an HTTP CA file: missing ones fail the check,
        as they would make the run refuse to start."""
        (tmp_path / "in.txt").write_text("")
        (tmp_path / "nets.txt").write_text("10.0.0.0/8\n")
        (tmp_path / "pipeline.toml").write_text(
            textwrap.dedent(
                """
                [[cog]]
                use = "fs.read"
                filenames = ["in.txt"]

                [[cog]]
                use = "ip.geoip"
                database = ["city.mmdb"]

                [[cog]]
                use = "ip.cidr"
                lists = {internal = "nets.txt", bad = "bad.txt"}

                [[cog]]
                use = "flow.lookup"
                field = "user"
                table = "users.csv"

                [[cog]]
                use = "text.grok"
                pattern = "%{WORD:word}"
                pattern_files = ["."]

                [[cog]]
                use = "http.post"
                url = "https://127.0.0.1:9/"
                ca_file = "ca.pem"
                """
            )
        )
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "check", "pipeline.toml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        errors = [line for line in result.stdout.splitlines() if not line.endswith("(warning)")]
        assert errors == [
            f"pipeline.toml: cog[1] (ip.geoip): database: {tmp_path}/city.mmdb does not exist",
            f"pipeline.toml: cog[2] (ip.cidr): lists: {tmp_path}/bad.txt does not exist",
            f"pipeline.toml: cog[3] (flow.lookup): table: {tmp_path}/users.csv does not exist",
            f"pipeline.toml: cog[4] (text.grok): pattern_files: {tmp_path}/. is a directory, not a file",
            f"pipeline.toml: cog[5] (http.post): ca_file: {tmp_path}/ca.pem does not exist",
        ]

    @pytest.mark.parametrize("mode", ["hash", "cryptopan"])
    def test_a_keyed_anonymisation_without_a_key_is_an_error(self, tmp_path: Path, mode: str) -> None:
        """The run would refuse to start ("no key given"): check says so, rather than ok."""
        (tmp_path / "in.txt").write_text("")
        result = check(
            tmp_path,
            f"""
            [[cog]]
            use = "fs.read"
            filenames = ["in.txt"]
            [[cog]]
            use = "ip.anonymise"
            mode = "{mode}"
            [[cog]]
            use = "fs.write"
            filename = "out.txt"
            """,
        )
        assert result.returncode == 1
        assert f'pipeline.toml: cog[1] (ip.anonymise): mode "{mode}" needs a key: set key_file or key_env' in (
            result.stdout.splitlines()
        )

    def test_a_parameter_named_like_a_file_but_declared_otherwise_is_not_a_file(self, tmp_path: Path) -> None:
        """A third-party cog's ``table`` that is a mapping of values, not of paths, is not checked as files."""
        (tmp_path / "in.txt").write_text("")
        (tmp_path / "countries.py").write_text(
            textwrap.dedent(
                '''
                from collections.abc import Mapping

                from deadbeat import movement


                class Country(movement.Cog):
                    """Country of a network prefix.

                    :param table: prefix -> country code.
                    """

                    def __init__(self, table: Mapping[str, str]) -> None:
                        self.table = dict(table)

                    def __call__(self, data):
                        return (data,)
                '''
            )
        )
        result = check(
            tmp_path,
            """
            [[cog]]
            use = "fs.read"
            filenames = ["in.txt"]
            [[cog]]
            use = "countries:Country"
            table = {"192.0.2" = "CZ", "198.51.100" = "SK"}
            [[cog]]
            use = "fs.write"
            filename = "out.txt"
            """,
        )
        assert result.stdout == "pipeline.toml: ok\n", result.stdout
        assert result.returncode == 0

    def test_load_problems_and_unwritable_output(self, tmp_path: Path) -> None:
        """What the loader finds is reported as it is; an output in a directory that is a file cannot be created."""
        (tmp_path / "blocker").write_text("")
        result = check(
            tmp_path,
            """
            [[cog]]
            use = "fs.read"
            filenames = ["in.txt"]
            [[cog]]
            use = "fs.write"
            filname = "x"
            """,
        )
        assert result.returncode == 1
        line, missing = result.stdout.splitlines()
        assert line.startswith("pipeline.toml: cog[1] (fs.write): filname: unknown parameter; did you mean 'filename'?")
        # What the machine says comes with the file's own problems, not after they are mended.
        assert missing.startswith(f"pipeline.toml: cog[0] (fs.read): filenames: {tmp_path}/in.txt matches no file")
        result = check(
            tmp_path,
            """
            [log]
            file = "blocker/deadbeat.log"
            [[cog]]
            use = "fs.read"
            filenames = ["in.txt"]
            missing_ok = true
            [[cog]]
            use = "fs.write"
            filename = "blocker/out.txt"
            """,
        )
        assert result.returncode == 1
        lines = result.stdout.splitlines()
        assert lines[0].startswith("pipeline.toml: cog[1] (fs.write): filename: cannot create")
        assert lines[1].startswith("pipeline.toml: [log]: file: cannot create")
        assert lines[1].endswith("blocker is not a directory")


class TestStats:
    def test_summary_lines_off_a_terminal(self, tail_pipeline: Path) -> None:
        """--stats off a terminal logs a summary line every N seconds, with the totals."""
        process = start(tail_pipeline, "--stats", "0.2")
        try:
            append(tail_pipeline / "in.txt", ["a", "b", "c"])
            line = re.compile(r"stats: [\d,]+ in/s, [\d,]+ out/s, [\d,]+ errors/s; in 3, out 3, errors 0, held 0")
            wait_for(lambda: line.search(stderr_of(tail_pipeline)), "a summary line with rates and totals")
        finally:
            assert stop(process) == 0, stderr_of(tail_pipeline)

    def test_live_view_on_a_terminal(self, tail_pipeline: Path) -> None:
        """On a terminal, --stats draws a table of every cog and redraws it in place."""
        import pty
        import select

        leader, follower = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", "pipeline.toml", "--stats"],
            cwd=tail_pipeline,
            stdout=subprocess.DEVNULL,
            stderr=follower,
            env={**os.environ, "JOURNAL_STREAM": ""},
        )
        os.close(follower)
        seen = b""
        try:
            append(tail_pipeline / "in.txt", ["a", "b"])

            def redrawn() -> bool:
                nonlocal seen
                while select.select([leader], [], [], 0)[0]:
                    seen += os.read(leader, 65536)
                # Drawn, then moved back up over itself and drawn again with the lines counted.
                return b"\x1b[2K" in seen and b"F\x1b[2K" in seen and b"in 2  out 2  errors 0" in seen

            wait_for(redrawn, "the table drawn twice, with the lines counted")
        finally:
            assert stop(process) == 0
            os.close(leader)
        text = seen.decode(errors="replace")
        assert "LineFileDrain" in text
        assert "FileWatcherSupply" in text


EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "systemd"


class TestShippedExamples:
    @pytest.mark.skipif(not os.path.exists("/usr/bin/systemd-analyze"), reason="systemd-analyze is not installed")
    def test_the_unit_file_verifies(self) -> None:
        """systemd-analyze finds nothing wrong with the unit but the deadbeat binary it cannot see here."""
        result = subprocess.run(
            ["systemd-analyze", "verify", str(EXAMPLES / "deadbeat.service")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        complaints = [
            line for line in (result.stdout + result.stderr).splitlines() if line and "is not executable" not in line
        ]
        assert complaints == []

    @pytest.mark.skipif(not os.path.exists("/usr/sbin/logrotate"), reason="logrotate is not installed")
    def test_the_logrotate_file_parses(self, tmp_path: Path) -> None:
        """logrotate reads the shipped configuration without an error."""
        result = subprocess.run(
            [
                "/usr/sbin/logrotate",
                "--debug",
                "--state",
                str(tmp_path / "status"),
                str(EXAMPLES / "deadbeat.logrotate"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "error" not in result.stderr.lower()


class TestSummary:
    def test_an_output_that_cannot_write_is_not_called_a_split_nor_a_cog_bug(self, tmp_path: Path) -> None:
        """A peer down past finish_timeout: exit 1, the summary says what was not written, and nothing else.

        The output held the data it had passed on; counted as held and as out,
        they used to make "more out than in by splits", and the failure carried
        the hint meant for a cog that forgets to release what it holds.
        """
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed again: nobody listens there
        (tmp_path / "in.txt").write_text("".join(f"{n}\n" for n in range(50)))
        (tmp_path / "pipeline.toml").write_text(
            textwrap.dedent(
                f"""
                [[cog]]
                use = "fs.read"
                filenames = ["in.txt"]

                [[cog]]
                use = "socket.send"
                port = {port}
                finish_timeout = 1
                """
            )
        )
        process = start(tmp_path, "--once")
        assert process.wait(timeout=60) == 1
        log = stderr_of(tmp_path)
        assert "could not be written within finish_timeout" in log
        assert "splits" not in log and "needs a train.release()" not in log
        assert re.search(r"finished: in 50, out 50 \(\d+ of them not written, not acknowledged\)", log), log
