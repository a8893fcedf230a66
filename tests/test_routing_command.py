"""Routing, ${VAR} and `deadbeat test`, run as real `deadbeat` processes on real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "route.toml"


def deadbeat(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    """Wait until ``condition`` holds (a generous deadline guards against a hang, not a speed)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, f"deadbeat ended early: {process.communicate()[1]}"
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def tail_offset(state: Path) -> int | None:
    """The position fs.tail saved for its one file, or None before the first save."""
    try:
        saved = json.loads(state.read_text())
    except (OSError, ValueError):
        return None
    offsets = [f["offset"] for s in saved.get("sections", {}).values() for f in s.get("files", {}).values()]
    return offsets[0] if offsets else None


class TestRoutingExample:
    def test_the_example_runs_end_to_end(self, tmp_path: Path) -> None:
        """examples/route.toml as its comment says: every event in exactly one file, the broken line an error record."""
        result = deadbeat("run", str(EXAMPLE), "--once", "--quiet", env={"ROUTE_OUT": str(tmp_path)})
        assert result.returncode == 0, result.stderr
        got = {
            name: [json.loads(line) for line in lines(tmp_path / f"{name}.jsonl")]
            for name in ("alerts", "auth", "db", "other")
        }
        assert [e["id"] for e in got["alerts"]] == [1, 7]
        assert [e["id"] for e in got["auth"]] == [3, 8]
        assert got["db"] == [{"host": "db1", "id": 4, "msg": "disk almost full"}]
        assert [e["id"] for e in got["other"]] == [2, 6]
        (record,) = [json.loads(line) for line in lines(tmp_path / "errors.jsonl")]
        assert record["event_id"].endswith("data/route_events.jsonl:346") and record["datum"] == "not json at all"
        assert "route alerts 2, route auth 2, route db 1, route other 2" in result.stderr

    def test_explain_shows_the_routes(self) -> None:
        """--explain prints each route's condition and its train."""
        result = deadbeat("run", str(EXAMPLE), "--explain")
        assert result.returncode == 0, result.stderr
        assert "Then routed (first match; unmatched: the default route):" in result.stdout
        assert "  alerts: severity >= 5" in result.stdout and "  other: (default)" in result.stdout
        assert 'route[2] (db) when startswith(host, "db")' in result.stdout

    def test_an_unset_variable_stops_the_run_naming_it(self, tmp_path: Path) -> None:
        """A ${VAR} without default and unset: exit 1, the file, the route's cog and key named, nothing written."""
        path = tmp_path / "p.toml"
        path.write_text(
            textwrap.dedent(
                """
                [[cog]]
                use = "fs.read"
                filenames = ["in.txt"]
                [[route]]
                name = "only"
                  [[route.cog]]
                  use = "fs.write"
                  filename = "${OUT_FILE}"
                """
            )
        )
        result = deadbeat("run", str(path), "--once")
        assert result.returncode == 1
        assert (
            f"{path}: route[0].cog[0] (fs.write): filename: ${{OUT_FILE}}: environment variable OUT_FILE is not set"
            in result.stderr
        )
        assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]


class TestRoutedSummary:
    def test_out_is_what_the_routes_passed_on(self, tmp_path: Path) -> None:
        """A route's dedupe and aggregate drop and merge: the summary's out counts what the routes' outputs took.

        It counted every datum handed to a route as out ("in 6, out 8, more out than in by splits 2").
        """
        (tmp_path / "in.jsonl").write_text("".join(f'{{"host": "{h}", "n": {n}}}\n' for n, h in enumerate("aabbcc")))
        route = textwrap.dedent(
            """
            [[route]]
            name = "{name}"
            {when}
              [[route.cog]]
              {cog}
              [[route.cog]]
              use = "text.json_format"
              [[route.cog]]
              use = "fs.write"
              filename = "{name}.jsonl"
            """
        )
        pipeline = (
            '[[cog]]\nuse = "fs.read"\nfilenames = ["in.jsonl"]\n[[cog]]\nuse = "text.json_parse"\n'
            '[routing]\nmatch = "all"\n'
            + route.format(
                name="agg",
                when="when = 'host == \"a\"'",
                cog='use = "flow.aggregate"\n  by = ["host"]\n  aggregates = {n = "count"}',
            )
            + route.format(name="dd", when="when = 'host == \"b\"'", cog='use = "flow.dedupe"\n  fields = ["host"]')
            + route.format(name="rest", when="", cog='use = "flow.filter"\n  expression = "True"')
        )
        (tmp_path / "r.toml").write_text(pipeline)
        result = deadbeat("run", "r.toml", "--once", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        written = sum(len(lines(tmp_path / f"{name}.jsonl")) for name in ("agg", "dd", "rest"))
        assert written == 4
        assert "finished: in 6, out 4, errors 0, dropped by filters or merged 2" in result.stderr

    def test_a_cog_written_after_the_routes_is_refused_naming_its_line(self, tmp_path: Path) -> None:
        """TOML would put it before the router, where it reads as coming after: refused, not moved silently."""
        (tmp_path / "r.toml").write_text(
            textwrap.dedent(
                """
                [[cog]]
                use = "fs.read"
                filenames = ["in.jsonl"]

                [[route]]
                name = "all"
                  [[route.cog]]
                  use = "fs.write"
                  filename = "out.txt"

                [[cog]]
                use = "text.json_parse"
                """
            )
        )
        (tmp_path / "in.jsonl").write_text("{}\n")
        for command in (["check", "r.toml"], ["run", "r.toml", "--once"]):
            result = deadbeat(*command, cwd=tmp_path)
            assert result.returncode == 1
            assert "r.toml:12: a [[cog]] table after the [[route]] tables (the first on line 6)" in (
                result.stdout + result.stderr
            )
        assert not (tmp_path / "out.txt").exists()


class TestPipelineTests:
    def test_the_examples_tests_pass(self) -> None:
        """deadbeat test examples/route.toml finds route.tests.toml beside it and passes: exit 0."""
        result = deadbeat("test", str(EXAMPLE))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "3 passed, 0 failed" in result.stdout
        assert not (REPO / "examples" / "alerts.jsonl").exists(), "a test must write no output file"

    def test_a_failing_test_shows_a_diff_and_exits_1(self, tmp_path: Path) -> None:
        """A wrong expectation: FAIL, a unified diff of expected against got, exit 1."""
        tests = tmp_path / "t.toml"
        tests.write_text(
            textwrap.dedent(
                """
                [[test]]
                name = "wrong on purpose"
                input = ['{"id": 1, "severity": 9}', '{"id": 2, "severity": 1}']
                [test.expect]
                alerts = ['{"id":1,"severity":8}']
                """
            )
        )
        result = deadbeat("test", str(EXAMPLE), str(tests))
        assert result.returncode == 1
        assert "FAIL  wrong on purpose" in result.stdout
        assert '  -{"id":1,"severity":8}\n  +{"id":1,"severity":9}\n' in result.stdout
        assert "0 passed, 1 failed" in result.stdout

    def test_a_wrong_tests_file_is_reported_by_test_and_key(self, tmp_path: Path) -> None:
        """An output that does not exist is named, with the test, and the outputs there are."""
        tests = tmp_path / "t.toml"
        tests.write_text('[[test]]\nname = "x"\ninput = []\n[test.expect]\nalert = []\n')
        result = deadbeat("test", str(EXAMPLE), str(tests))
        assert result.returncode == 1
        assert f"{tests}: test[0] (x): expect: alert: no such output; did you mean 'alerts'?" in result.stderr

    def test_a_pipeline_without_routes_has_one_output(self, tmp_path: Path) -> None:
        """Without routes the last cog is the output, called "output"."""
        (tmp_path / "p.toml").write_text(
            textwrap.dedent(
                """
                [[cog]]
                use = "fs.read"
                filenames = ["nothing"]
                [[cog]]
                use = "text.json_parse"
                [[cog]]
                use = "text.json_format"
                [[cog]]
                use = "fs.write"
                filename = "out.jsonl"
                """
            )
        )
        (tmp_path / "p.tests.toml").write_text("[[test]]\ninput = ['{\"a\": 1}']\nexpect.output = ['{\"a\":1}']\n")
        result = deadbeat("test", str(tmp_path / "p.toml"))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "ok    test[0]" in result.stdout
        assert sorted(p.name for p in tmp_path.iterdir()) == ["p.tests.toml", "p.toml"]

    def test_a_cog_giving_back_one_datum_late_fails_its_test(self, tmp_path: Path) -> None:
        """`deadbeat test` checks every result of every cog: a slip on the 1,500th datum, past what a run checks,
        is an error record the test did not expect, not the datum's characters in the output."""
        (tmp_path / "slip.py").write_text(
            "def upper(line):\n"
            "    # The slip on a rare branch: the datum given back as it came.\n"
            "    return line if line == 'late' else (line.upper(),)\n"
        )
        (tmp_path / "p.toml").write_text(
            '[[cog]]\nuse = "fs.read"\nfilenames = ["nothing"]\n'
            '[[cog]]\nuse = "slip:upper"\n'
            '[[cog]]\nuse = "fs.write"\nfilename = "out.log"\n'
        )
        inputs = ["a"] * 1500 + ["late"]
        expected = ["A"] * 1500 + ["L", "A", "T", "E"]
        (tmp_path / "p.tests.toml").write_text(
            f"[[test]]\ninput = {json.dumps(inputs)}\nexpect.output = {json.dumps(expected)}\n"
        )
        result = deadbeat("test", str(tmp_path / "p.toml"))
        assert result.returncode == 1, result.stdout + result.stderr
        assert "0 passed, 1 failed" in result.stdout
        assert "returned str, not an iterable of data; return (datum,)" in result.stdout


class TestRoutedTailAcrossRestart:
    def test_three_routes_lose_and_repeat_nothing_across_sigkill(self, tmp_path: Path) -> None:
        """fs.tail to three routes sharing its state file: while one route holds lines, the position does not move;
        killed with SIGKILL then, the restart writes every line once, in its route's file, in order."""
        source, state = tmp_path / "in.log", tmp_path / "state.json"
        (tmp_path / "p.toml").write_text(
            textwrap.dedent(
                """
                [[cog]]
                use = "fs.tail"
                filenames = ["in.log"]
                state_file = "state.json"
                state_interval = 0.0
                line_setter = "line"

                [[route]]
                name = "a"
                when = 'startswith(line, "a")'
                  [[route.cog]]
                  use = "fs.write"
                  filename = "a.log"
                  state_file = "state.json"

                [[route]]
                name = "b"
                when = 'startswith(line, "b")'
                  [[route.cog]]
                  use = "fs.write"
                  filename = "b.log"
                  state_file = "state.json"

                [[route]]
                name = "c"
                  [[route.cog]]
                  use = "example.delay"
                  seconds = "${DELAY}"
                  [[route.cog]]
                  use = "fs.write"
                  filename = "c.log"
                  state_file = "state.json"
                """
            )
        )

        def start(delay: str) -> subprocess.Popen[str]:
            return subprocess.Popen(
                [sys.executable, "-m", "deadbeat.command", "run", "p.toml", "--quiet"],
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp_path,
                env={**os.environ, "DELAY": delay},
            )

        first = [f"{'ab'[i % 2]} {i:05d}" for i in range(200)]
        second = [f"{'cab'[i % 3]} {i:05d}" for i in range(200, 500)]
        expected = {k: [x for x in first + second if x[0] == k] for k in "abc"}
        source.write_text("".join(f"{x}\n" for x in first))
        # The c route holds its lines an hour: what reaches it is never acknowledged in this run.
        process = start("3600")
        try:
            wait_for(lambda: tail_offset(state) == source.stat().st_size, process, "the first lines acknowledged")
            acknowledged = source.stat().st_size
            with source.open("a") as handle:
                handle.write("".join(f"{x}\n" for x in second))
            wait_for(
                lambda: lines(tmp_path / "a.log") == expected["a"] and lines(tmp_path / "b.log") == expected["b"],
                process,
                "routes a and b wrote the second lines",
            )
            # Written by a and b, held by c: the tail's saved position has not moved.
            assert tail_offset(state) == acknowledged
            assert lines(tmp_path / "c.log") == []
        finally:
            process.kill()
            process.communicate()
        process = start("0.001")
        try:
            wait_for(
                lambda: (
                    all(lines(tmp_path / f"{k}.log") == expected[k] for k in "abc")
                    and tail_offset(state) == source.stat().st_size
                ),
                process,
                "every line written and acknowledged after the restart",
            )
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        for k in "abc":
            assert lines(tmp_path / f"{k}.log") == expected[k], k


class TestSecrets:
    def test_a_secret_from_a_file_never_reaches_the_log_or_explain(self, tmp_path: Path) -> None:
        """${file:...} in a parameter a cog shows (not named as a secret): log lines and --explain show ***."""
        (tmp_path / "secret.txt").write_text("hunter2-very-secret\n")
        (tmp_path / "in.txt").write_text("not json\n")
        (tmp_path / "p.toml").write_text(
            textwrap.dedent(
                """
                [[cog]]
                use = "fs.read"
                filenames = ["in.txt"]
                [[cog]]
                use = "text.json_parse"
                source = "${file:secret.txt}"
                [[cog]]
                use = "fs.write"
                filename = "out.txt"
                """
            )
        )
        result = deadbeat("run", "p.toml", "--once", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "dead letter from JSONParse(source='***'" in result.stderr
        explained = deadbeat("run", "p.toml", "--explain", cwd=tmp_path)
        assert "source='***'" in explained.stdout
        assert "hunter2" not in result.stderr + explained.stdout + explained.stderr


class TestPythonExample:
    def test_the_python_example_routes_as_the_file_does(self, tmp_path: Path) -> None:
        """examples/route_api.py (shown in docs/routing.rst): severe events in alerts.jsonl, the rest in rest.jsonl."""
        result = subprocess.run(
            [sys.executable, str(REPO / "examples" / "route_api.py")],
            capture_output=True,
            text=True,
            env={**os.environ, "ROUTE_OUT": str(tmp_path)},
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert [json.loads(x)["id"] for x in lines(tmp_path / "alerts.jsonl")] == [1, 7]
        assert [json.loads(x)["id"] for x in lines(tmp_path / "rest.jsonl")] == [2, 3, 4, 6, 8]
        assert "dead letter" in result.stderr and "not json at all" in result.stderr
