"""The deadbeat command, run as a real process, with every distribution installed."""

from __future__ import annotations

import functools
import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import tomllib

from deadbeat.testing import wait_for_handler

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo.toml"


def deadbeat(
    *args: str,
    cwd: Path = REPO,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    open_files: int | None = None,
) -> Any:
    """Run the command; ``open_files``: its limit of descriptors (``ulimit -n``), soft and hard."""
    limit = None if open_files is None else (open_files, open_files)
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        preexec_fn=None if limit is None else functools.partial(resource.setrlimit, resource.RLIMIT_NOFILE, limit),
    )


def write_pipeline(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(textwrap.dedent(body))
    return path


class TestCogsListing:
    def test_json_lists_without_importing(self) -> None:
        """`deadbeat cogs --json` lists every cog from metadata: all 'available', summaries from the manifests."""
        result = deadbeat("cogs", "--json")
        assert result.returncode == 0, result.stderr
        cogs = {c["name"]: c for c in json.loads(result.stdout)}
        assert cogs["broken.explode"]["status"] == "available"
        assert cogs["broken.explode"]["distribution"] == "deadbeat-broken-fixture"
        assert {c["status"] for c in cogs.values()} == {"available"}
        assert set(cogs["fs.read"]) == {
            "name",
            "qualified_name",
            "value",
            "distribution",
            "version",
            "summary",
            "status",
            "error",
            "hint",
        }
        assert cogs["fs.read"]["qualified_name"] == "deadbeat-cogs-fs/fs.read"

    def test_check_imports_and_reports_the_broken_fixture(self) -> None:
        """`deadbeat cogs --check --json` imports each cog: the broken one with its reason, the others loaded."""
        result = deadbeat("cogs", "--check", "--json")
        assert result.returncode == 0, result.stderr
        cogs = {c["name"]: c for c in json.loads(result.stdout)}
        assert cogs["broken.explode"]["status"] == "broken"
        assert cogs["broken.explode"]["error"] == "RuntimeError: deadbeat-broken-fixture fails on import on purpose"
        for name in ("fs.read", "fs.write", "text.json_parse", "text.json_format", "example.upper"):
            assert cogs[name]["status"] == "loaded", cogs[name]
            assert cogs[name]["summary"]

    def test_json_into_a_closed_pipe(self) -> None:
        """`deadbeat cogs --json | head -1` ends quietly: no traceback from the closed pipe."""
        command = f"{sys.executable} -m deadbeat.command cogs --check --json | head -1"
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, cwd=REPO)
        assert result.stdout == "[\n"
        assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr

    def test_table(self) -> None:
        """The table has a header, one row per cog, and says how many cannot be used."""
        result = deadbeat("cogs", "--check")
        lines = result.stdout.splitlines()
        assert lines[0].split() == ["NAME", "DISTRIBUTION", "VERSION", "STATUS", "SUMMARY"]
        assert any(line.startswith("fs.read ") and " loaded " in line for line in lines)
        assert "1 cog(s) cannot be used; the others work." in result.stdout

    def test_strict_listing_fails(self) -> None:
        """With --strict the broken plugin makes the listing fail, naming it."""
        result = deadbeat("cogs", "--strict")
        assert result.returncode == 1
        assert "broken.explode" in result.stderr

    def test_show(self) -> None:
        """`cogs show` gives the summary, parameters with defaults and a pipeline insert."""
        result = deadbeat("cogs", "show", "fs.read")
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert out.startswith("fs.read  (deadbeat.fs:FileReaderSupply, deadbeat-cogs-fs ")
        assert "Read files once, from start to end" in out
        assert "  esc  (given by the pipeline)" in out
        assert "  filenames: list of paths  (required)" in out
        assert "  max_line: integer of at least 1  (default 1048576)" in out
        assert "  id_setter: field path or callable or none  (default none (false))" in out
        assert '[[cog]]\nuse = "fs.read"\n# filenames =   # required (list of paths): fill in and uncomment\n' in out
        insert = "Config insert (for an application's own config file):\n# Read files once, from start to end"
        assert insert in out and "\n[read]\n" in out
        assert "Takes whole lists" not in out

    def test_the_insert_pasted_as_shown_is_valid_toml(self, tmp_path: Path) -> None:
        """The insert's required lines were `filenames = ...`, which no TOML parser takes: pasted as shown, the
        check said "invalid TOML" with no word of the key. Now it is valid, and the check names what is missing."""
        out = deadbeat("cogs", "show", "fs.read").stdout
        insert = out.split("Pipeline insert:\n", 1)[1].split("\n\n", 1)[0]
        tomllib.loads(insert)
        (tmp_path / "p.toml").write_text(insert + '\n\n[[cog]]\nuse = "fs.write"\n')
        checked = deadbeat("check", str(tmp_path / "p.toml"))
        assert checked.returncode == 1
        assert "cog[0] (fs.read)" in checked.stdout and "filenames" in checked.stdout, checked.stdout

    def test_the_insert_leaves_out_what_only_python_can_give(self, tmp_path: Path) -> None:
        """`# clock = false` was offered, and uncommented it failed ("clock must be a function"): a parameter that
        takes only a function has no pipeline file value; every line of the insert, uncommented, starts."""
        out = deadbeat("cogs", "show", "time.parse").stdout
        insert = out.split("Pipeline insert:\n", 1)[1].split("\n\n", 1)[0]
        assert "clock" not in insert and "# year = false" in insert
        uncommented = "\n".join(line[2:] if line.startswith("# ") else line for line in insert.splitlines())
        (tmp_path / "in.txt").write_text("")
        (tmp_path / "p.toml").write_text(
            '[[cog]]\nuse = "fs.read"\nfilenames = ["in.txt"]\n\n'
            + uncommented.replace('"iso8601"]', '"iso8601"]\n')
            + '\n\n[[cog]]\nuse = "fs.write"\n'
        )
        checked = deadbeat("check", str(tmp_path / "p.toml"))
        assert "cannot start" not in checked.stdout, checked.stdout

    def test_show_says_when_a_cog_takes_whole_lists(self) -> None:
        """A cog with call_batch says so, for those who wonder why a pipeline is fast or slow."""
        result = deadbeat("cogs", "show", "text.json_parse")
        assert "Takes whole lists from the train (call_batch)" in result.stdout

    def test_show_broken_and_unknown(self) -> None:
        """Showing a broken or unknown cog fails with the reason."""
        broken = deadbeat("cogs", "show", "broken.explode")
        assert broken.returncode == 1 and "is broken: RuntimeError" in broken.stderr
        unknown = deadbeat("cogs", "show", "nope")
        assert unknown.returncode == 1 and "no cog named 'nope'" in unknown.stderr
        typo = deadbeat("cogs", "show", "fs.reed")
        assert typo.returncode == 1 and "no cog named 'fs.reed'; did you mean 'fs.read'?" in typo.stderr

    def test_version_lists_core_and_cog_distributions(self) -> None:
        """--version names the core and every cog distribution with versions."""
        result = deadbeat("--version")
        lines = result.stdout.splitlines()
        assert lines[0].startswith("deadbeat-core ")
        names = {line.split()[0] for line in lines}
        assert {"deadbeat-cogs-fs", "deadbeat-cogs-text", "deadbeat-cogs-ip", "deadbeat-cogs-net"} <= names


class TestRun:
    def test_demo_runs_once_with_the_broken_plugin_installed(self) -> None:
        """The README demo runs to the end; the bad line goes to the dead-letter log."""
        result = deadbeat("run", str(DEMO), "--once", "--quiet")
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert [d["id"] for d in lines] == ["e1", "e2", "e3", "e5"]
        assert all(d["pipeline"] == "demo" for d in lines)
        assert "events.jsonl:213: dead letter from JSONParse" in result.stderr
        assert "1 of 5 data failed" in result.stderr

    def test_a_run_whose_log_its_tailer_reads_is_refused(self, tmp_path: Path) -> None:
        """`deadbeat run p.toml 2>> logs/deadbeat.log` with fs.tail on logs/*.log: each line logged was read,
        failed to parse, was logged again: 60 GB of disk in minutes. Refused at once, standard error or [log] file."""
        logs = tmp_path / "logs"
        logs.mkdir()
        (logs / "app.log").write_text('{"a": 1}\n')
        body = f"""
            [[cog]]
            use = "fs.tail"
            filenames = ["{logs}/*.log"]
            [[cog]]
            use = "text.json_parse"
            [[cog]]
            use = "text.json_format"
            [[cog]]
            use = "fs.write"
            filename = "{tmp_path / "out.json"}"
            """
        pipeline = write_pipeline(tmp_path, body)
        with (logs / "deadbeat.log").open("a") as log:
            run = subprocess.run(
                [sys.executable, "-m", "deadbeat.command", "run", str(pipeline)], stderr=log, timeout=60, check=False
            )
        assert run.returncode == 1
        said = (logs / "deadbeat.log").read_text()
        assert f"the run's log (standard error) {logs / 'deadbeat.log'} is read by cog[0] (fs.tail)" in said
        assert not (tmp_path / "out.json").exists()
        logged = write_pipeline(tmp_path, f'[log]\nfile = "{logs / "run.log"}"\n' + body)
        result = deadbeat("check", str(logged))
        assert result.returncode == 1
        assert f"the run's log ([log] file) {logs / 'run.log'} is read by cog[0] (fs.tail)" in result.stdout

    def test_the_summary_says_what_the_error_cogs_dropped(self, tmp_path: Path) -> None:
        """A filter among the [[errors]] cogs drops a record: the summary does not claim it was written."""
        (tmp_path / "in.log").write_text('{"v": 1}\n{"v": "x"}\nnot json\n{"v": 3}\n')
        pipeline = write_pipeline(
            tmp_path,
            f"""
            [[cog]]
            use = "fs.read"
            filenames = ["{tmp_path / "in.log"}"]
            [[cog]]
            use = "text.json_parse"
            [[cog]]
            use = "cast.fields"
            fields = {{ v = "int" }}
            [[cog]]
            use = "text.json_format"
            [[cog]]
            use = "fs.write"
            filename = "{tmp_path / "out.log"}"
            [[errors]]
            use = "flow.filter"
            expression = 'cog != "JSONParse()"'
            [[errors]]
            use = "text.json_format"
            [[errors]]
            use = "fs.write"
            filename = "{tmp_path / "errors.log"}"
            """,
        )
        result = deadbeat("run", str(pipeline), "--once")
        assert result.returncode == 0, result.stderr
        assert "2 of 4 data failed and went to the error output (1 of them dropped there, by its own cogs)" in (
            result.stderr
        )
        (record,) = map(json.loads, (tmp_path / "errors.log").read_text().splitlines())
        assert record["event_id"].endswith("in.log:9")

    def test_explain_prints_the_cogs_and_the_generated_code(self) -> None:
        """--explain shows each cog and the code the train runs, and runs nothing."""
        result = deadbeat("run", str(DEMO), "--explain")
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert out.startswith(f"Train {str(DEMO)!r}: 5 cogs\n")
        assert "  1  text.json_parse()  [whole lists]" in out
        assert f"<deadbeat train {DEMO} entry 1>:" in out
        assert "def make(error, " in out and "data = list1(data)" in out
        assert result.stderr == ""

    def test_explain_builds_nothing(self, tmp_path: Path) -> None:
        """--explain opens, creates and truncates nothing, and calls no factory."""
        out = tmp_path / "out.txt"
        marker = tmp_path / "called"
        (tmp_path / "sneaky.py").write_text(
            f"def make(**kw):\n    open({str(marker)!r}, 'w').close()\n    return lambda d: (d,)\n"
        )
        path = write_pipeline(
            tmp_path,
            f"""
            [[cog]]
            use = "fs.read"
            filenames = ["{DEMO}"]
            [[cog]]
            use = "sneaky:make"
            option = 1
            [[cog]]
            use = "fs.write"
            filename = "{out}"
            state_file = "{tmp_path / "state.json"}"
            """,
        )
        result = deadbeat("run", str(path), "--explain")
        assert result.returncode == 0, result.stderr
        assert "sneaky:make(option=1)" in result.stdout
        assert sorted(p.name for p in tmp_path.iterdir()) == ["pipeline.toml", "sneaky.py"]

    def test_explain_calls_only_the_main_trains_first_cog_a_supply(self, tmp_path: Path) -> None:
        """The first cog of [[errors]] (fed by the main train) was labelled a supply."""
        path = write_pipeline(
            tmp_path,
            f"""
            [[cog]]
            use = "fs.read"
            filenames = ["{DEMO}"]
            [[cog]]
            use = "fs.write"
            filename = "{tmp_path / "out.txt"}"
            [[errors]]
            use = "text.json_format"
            [[errors]]
            use = "fs.write"
            filename = "{tmp_path / "errors.txt"}"
            """,
        )
        result = deadbeat("run", str(path), "--explain")
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stdout.splitlines() if "[supply" in line]
        assert len(lines) == 1 and "fs.read" in lines[0], result.stdout

    def test_a_missing_output_directory_is_named_whole(self, tmp_path: Path) -> None:
        """fs.write's directory missing: the message named only 'nodir', the first missing component."""
        missing = tmp_path / "nodir" / "sub" / "out.txt"
        path = write_pipeline(
            tmp_path,
            f"""
            [[cog]]
            use = "fs.read"
            filenames = ["{DEMO}"]
            [[cog]]
            use = "fs.write"
            filename = "{missing}"
            """,
        )
        result = deadbeat("run", str(path), "--once")
        assert result.returncode == 1
        assert f"cannot create {missing}: its directory {missing.parent} does not exist" in result.stderr

    def test_relative_paths_are_relative_to_the_pipeline_file(self, tmp_path: Path) -> None:
        """cd anywhere: the demo's data/events.jsonl is found beside demo.toml."""
        result = deadbeat("run", str(DEMO), "--once", "--quiet", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert len(result.stdout.splitlines()) == 4
        result = deadbeat("run", "demo.toml", "--once", "--quiet", cwd=DEMO.parent)
        assert result.returncode == 0 and len(result.stdout.splitlines()) == 4

    def test_the_errors_example_runs_as_written(self, tmp_path: Path) -> None:
        """examples/errors.toml, copied with its data, writes the one failed record to errors.jsonl beside it."""
        import shutil

        shutil.copy(REPO / "examples" / "errors.toml", tmp_path)
        shutil.copytree(REPO / "examples" / "data", tmp_path / "data")
        result = deadbeat("run", "errors.toml", "--once", "--quiet", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert len(result.stdout.splitlines()) == 4
        (record,) = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
        assert record["event_id"].endswith("data/events.jsonl:213") and record["position"] == 1
        assert set(record) == {"event_id", "cog", "position", "error", "datum"}

    def test_exit_status_is_1_when_an_input_is_missing(self, tmp_path: Path) -> None:
        """--once with an input that is not there exits 1, naming it; missing_ok = true makes it fine."""
        body = f"""
            [[cog]]
            use = "fs.read"
            filenames = ["{DEMO}", "nothing-here.jsonl"]
            MISSING
            [[cog]]
            use = "fs.write"
            filename = "{tmp_path / "out.txt"}"
            """
        path = write_pipeline(tmp_path, body.replace("MISSING", ""))
        result = deadbeat("run", str(path), "--once", "--quiet")
        assert result.returncode == 1
        assert f"{tmp_path / 'nothing-here.jsonl'}: cannot read: no such file" in result.stderr
        assert "pipeline.toml failed:" in result.stderr
        path = write_pipeline(tmp_path, body.replace("MISSING", "missing_ok = true"))
        assert deadbeat("run", str(path), "--once", "--quiet").returncode == 0

    def test_once_does_not_wait_out_an_aggregation_window(self, tmp_path: Path) -> None:
        """--once with flow.aggregate (window 600 s) and flow.batch: the groups go out when the input ends; the run
        used to wait out the whole window first."""
        (tmp_path / "in.jsonl").write_text('{"host": "a"}\n{"host": "b"}\n{"host": "a"}\n')
        path = write_pipeline(
            tmp_path,
            f"""
            [[cog]]
            use = "fs.read"
            filenames = ["{tmp_path / "in.jsonl"}"]
            [[cog]]
            use = "text.json_parse"
            [[cog]]
            use = "flow.aggregate"
            by = ["host"]
            aggregates = {{n = "count"}}
            window = 600
            [[cog]]
            use = "flow.batch"
            size = 100
            timeout = 600
            target = "groups"
            [[cog]]
            use = "text.json_format"
            [[cog]]
            use = "fs.write"
            filename = "{tmp_path / "out.jsonl"}"
            """,
        )
        result = deadbeat("run", str(path), "--once", "--quiet", timeout=30)
        assert result.returncode == 0, result.stderr
        (line,) = (tmp_path / "out.jsonl").read_text().splitlines()
        assert sorted((g["host"], g["n"]) for g in json.loads(line)["groups"]) == [("a", 2), ("b", 1)]

    def test_data_held_and_never_released_fail_the_run_naming_the_cog(self, tmp_path: Path) -> None:
        """--once with a cog that holds data and never releases them ends, exit 1, naming that cog."""
        (tmp_path / "hoarding.py").write_text(
            textwrap.dedent(
                """
                from deadbeat import movement

                class Hoard(movement.Cog):
                    def __init__(self, train):
                        self.train = train

                    def __call__(self, datum):
                        self.train.hold()
                        return None
                """
            )
        )
        source = tmp_path / "in.txt"
        source.write_text("one\ntwo\n")
        path = write_pipeline(
            tmp_path,
            f"""
            [[cog]]
            use = "fs.read"
            filenames = ["{source}"]
            [[cog]]
            use = "hoarding:Hoard"
            [[cog]]
            use = "fs.write"
            filename = "{tmp_path / "out.txt"}"
            """,
        )
        result = deadbeat("run", str(path), "--once", "--quiet", env={"PYTHONPATH": str(tmp_path)})
        assert result.returncode == 1, result.stderr
        assert "2 data still held (2 by Hoard)" in result.stderr

    def test_data_released_by_a_helper_are_not_counted_against_nonsense(self, tmp_path: Path) -> None:
        """A cog holding per datum and releasing through a helper object of its own (as http.post does): the
        counts by caller did not add up, and the line read "1 data still held (3 by Keeper)"; it names the
        holder without counts that contradict the total."""
        (tmp_path / "keeping.py").write_text(
            textwrap.dedent(
                """
                from deadbeat import movement

                class Letter:
                    def __init__(self, train):
                        self.train = train

                    def let_go(self):
                        self.train.release()

                class Keeper(movement.Cog):
                    def __init__(self, train):
                        self.train = train
                        self.letter = Letter(train)
                        self.seen = 0

                    def __call__(self, datum):
                        self.train.hold()
                        self.seen += 1
                        if self.seen < 3:
                            self.letter.let_go()
                        return None
                """
            )
        )
        source = tmp_path / "in.txt"
        source.write_text("one\ntwo\nthree\n")
        path = write_pipeline(
            tmp_path,
            f"""
            [[cog]]
            use = "fs.read"
            filenames = ["{source}"]
            [[cog]]
            use = "keeping:Keeper"
            [[cog]]
            use = "fs.write"
            filename = "{tmp_path / "out.txt"}"
            """,
        )
        result = deadbeat("run", str(path), "--once", "--quiet", env={"PYTHONPATH": str(tmp_path)})
        assert result.returncode == 1, result.stderr
        assert "1 data still held (by Keeper)" in result.stderr

    def test_a_closed_pipe_is_a_failure_not_a_success(self, tmp_path: Path) -> None:
        """`deadbeat run ... | head -1`: the broken pipe stops the run with exit status 1, nothing acknowledged."""
        source = tmp_path / "in.txt"
        source.write_text("".join(f"line {i}\n" for i in range(100_000)))
        path = write_pipeline(
            tmp_path,
            f"""
            [[cog]]
            use = "fs.tail"
            filenames = ["{source}"]
            state_file = "{tmp_path / "state.json"}"
            [[cog]]
            use = "fs.write"
            filename = "-"
            """,
        )
        command = f"{sys.executable} -m deadbeat.command run {path} --once --quiet | head -1"
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=60, cwd=REPO
        )
        assert result.stdout == "line 0\n"
        assert result.returncode == 1, result.stderr
        assert "cannot write (Broken pipe)" in result.stderr
        saved = json.loads((tmp_path / "state.json").read_text()) if (tmp_path / "state.json").exists() else {}
        offsets = [f["offset"] for s in saved.get("sections", {}).values() for f in s.get("files", {}).values()]
        assert all(offset < source.stat().st_size for offset in offsets)

    def test_live_counter(self) -> None:
        """The live counter shows events in, out and errors."""
        result = deadbeat("run", str(DEMO), "--once", "--progress")
        assert "in 5  out 4  errors 1" in result.stderr

    def test_unknown_parameter_points_at_file_cog_and_key(self, tmp_path: Path) -> None:
        """A misspelt parameter is reported with file, cog index, cog name and a suggestion."""
        out = tmp_path / "out.txt"
        path = write_pipeline(
            tmp_path,
            f"""
            [[cog]]
            use = "fs.read"
            filenames = ["{DEMO}"]
            [[cog]]
            use = "fs.write"
            filname = "{out}"
            """,
        )
        result = deadbeat("run", str(path), "--once")
        assert result.returncode == 1
        assert f"{path}: cog[1] (fs.write): filname: unknown parameter; did you mean 'filename'?" in result.stderr
        assert not out.exists()

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ('[[cog]]\nfilenames = ["x"]\n', "cog[0]: missing 'use'"),
            ('[[cog]]\nuse = "fs.reed"\n', "cog[0] (fs.reed): no such cog; did you mean 'fs.read'?"),
            (
                '[[cog]]\nuse = "fs.read"\n',
                "cog[0] (fs.read): filenames: required parameter missing: files (or glob patterns)",
            ),
            (
                '[[cog]]\nuse = "fs.read"\nfilenames = ["x"]\nmax_line = "many"\n',
                "cog[0] (fs.read): max_line: expected an integer of at least 1, got 'many'",
            ),
            ('[[cog]]\nuse = "broken.explode"\n', "cog[0] (broken.explode): cog 'broken.explode' from"),
            ('[[cog]]\nuse = "nowhere_mod:Cog"\n', "cog[0] (nowhere_mod:Cog): cannot import"),
            ("[[cogs]]\nuse = 1\n", "unknown table 'cogs'; did you mean 'cog'?"),
            (
                '[[cog]]\nuse = "fs.tail"\nfilenames = ["x"]\nstart = "middle"\n',
                "cog[0] (fs.tail): start: expected one of beginning, end, got 'middle'",
            ),
            (
                '[log]\nlevel = "chatty"\n[[cog]]\nuse = "fs.read"\nfilenames = ["x"]\n',
                "log.level: expected a log level",
            ),
            ("[[cog]\n", "invalid TOML"),
            ("[train]\nhigh_watter = 5\n", "train.high_watter: unknown setting; did you mean 'high_water'?"),
        ],
    )
    def test_bad_pipelines_fail_before_starting(self, tmp_path: Path, body: str, message: str) -> None:
        """Every mistake in a pipeline file is reported with its place; nothing runs."""
        path = write_pipeline(tmp_path, body)
        result = deadbeat("run", str(path), "--once")
        assert result.returncode == 1
        assert message in result.stderr, result.stderr
        assert str(path) in result.stderr

    def test_allow_list_on_the_command_line(self) -> None:
        """--allow keeps cogs outside the list from loading, naming the one refused."""
        result = deadbeat("run", str(DEMO), "--once", "--allow", "fs.*")
        assert result.returncode == 1
        assert "text.json_parse" in result.stderr and "not allowed" in result.stderr

    def test_strict_run_ignores_a_broken_plugin_it_does_not_use(self) -> None:
        """DEADBEAT_STRICT=1 concerns the cogs the pipeline uses: the unused broken fixture is no reason to fail."""
        result = deadbeat("run", str(DEMO), "--once", "--quiet", env={"DEADBEAT_STRICT": "1"})
        assert result.returncode == 0, result.stderr
        assert "broken.explode" not in result.stderr

    def test_error_train_from_the_pipeline(self, tmp_path: Path) -> None:
        """[[errors]] cogs receive the failed data as records and write them all out, bytes included."""
        errors = tmp_path / "errors.jsonl"
        raw = tmp_path / "raw.jsonl"
        raw.write_bytes(b'{"id": "r1"}\n\xff\xfe not text\n')
        path = write_pipeline(
            tmp_path,
            f"""
            [[cog]]
            use = "fs.read"
            filenames = ["{REPO / "examples/data/events.jsonl"}", "{raw}"]
            [[cog]]
            use = "text.json_parse"
            [[cog]]
            use = "text.json_format"
            [[cog]]
            use = "fs.write"
            filename = "{tmp_path / "out.jsonl"}"

            [[errors]]
            use = "text.json_format"
            exclude = []
            [[errors]]
            use = "fs.write"
            filename = "{errors}"
            """,
        )
        result = deadbeat("run", str(path), "--once", "--quiet")
        assert result.returncode == 0, result.stderr
        records = [json.loads(line) for line in errors.read_text().splitlines()]
        assert len(records) == 2
        assert records[0]["event_id"] == f"{REPO / 'examples/data/events.jsonl'}:213"
        assert records[0]["cog"] == "JSONParse()"
        assert records[0]["datum"].startswith('{"id": "e4"')  # the line itself, as it was read
        assert records[1]["event_id"] == f"{raw}:13"
        assert records[1]["datum"]["raw"] == "\\xff\\xfe not text"
        assert "invalid start byte" in records[1]["error"]
        assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 5
        # One log line per failed datum, and the summary adds up.
        assert "in 7, out 5, errors 2" in result.stderr


class TestDescriptorLimit:
    def test_a_low_limit_of_open_files_is_named_never_a_traceback(self, tmp_path: Path) -> None:
        """Under ``ulimit -n`` too low to run, every start fails with status 1 naming the limit; above it, all is read.

        The limit is raised one by one from where Python itself can start: the
        loop, its epoll, inotify, the cogs' files each run out in turn.
        """
        source = tmp_path / "in.log"
        source.write_text("".join(f"line {i}\n" for i in range(1000)))
        out = tmp_path / "out.log"
        pipeline = write_pipeline(
            tmp_path,
            f"""
            [[cog]]
            use = "fs.tail"
            filenames = ["{tmp_path}/in*.log"]
            tail = false

            [[cog]]
            use = "fs.write"
            filename = "{out}"
            """,
        )
        failed = []
        for limit in range(8, 64):
            out.unlink(missing_ok=True)
            result = deadbeat("run", str(pipeline), "--once", cwd=tmp_path, open_files=limit)
            if result.returncode == 0:
                break
            failed.append(limit)
            assert result.returncode == 1, (limit, result.stderr)
            assert "Traceback" not in result.stderr, (limit, result.stderr)
            assert f"this process may have only {limit} files and sockets open at once" in result.stderr, (
                limit,
                result.stderr,
            )
        else:
            pytest.fail("no run succeeded with up to 63 descriptors")
        assert failed, "the lowest limit tried was enough: the test tried nothing"
        assert out.read_text().splitlines() == [f"line {i}" for i in range(1000)]
        assert "in 1000, out 1000, errors 0" in result.stderr


class TestPlantedCode:
    """Files planted beside a pipeline file cannot replace installed modules, and shared directories are refused."""

    def plant(self, directory: Path, marker: Path) -> None:
        code = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
        for name in ("csv.py", "hmac.py", "json.py"):
            (directory / name).write_text(code)
        (directory / "deadbeat").mkdir()
        (directory / "deadbeat" / "ip.py").write_text(code + "class Anonymise:\n    pass\n")
        (directory / "my_cogs.py").write_text(
            "import csv, hmac, json\n"
            "def tag(data):\n"
            "    data['tagged'] = hasattr(csv, 'reader') and hasattr(hmac, 'new')\n"
            "    return (data,)\n"
        )

    def test_planted_modules_do_not_run(self, tmp_path: Path) -> None:
        """Planted csv.py, hmac.py, json.py, deadbeat/ip.py: the installed ones are used, nothing planted runs."""
        marker = tmp_path / "planted-code-ran"
        self.plant(tmp_path, marker)
        source = tmp_path / "in.jsonl"
        source.write_text('{"ip": "192.0.2.9"}\n')
        path = write_pipeline(
            tmp_path,
            f"""
            [[cog]]
            use = "fs.read"
            filenames = ["{source}"]
            [[cog]]
            use = "text.json_parse"
            [[cog]]
            use = "my_cogs:tag"
            [[cog]]
            use = "ip.anonymise"
            [[cog]]
            use = "text.json_format"
            [[cog]]
            use = "fs.write"
            """,
        )
        result = deadbeat("run", str(path), "--once", "--quiet")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"ip": "192.0.2.0", "tagged": True}
        assert not marker.exists(), marker.read_text()

    def test_a_module_in_a_directory_others_can_write_is_refused(self, tmp_path: Path) -> None:
        """An app cog module in a world-writable directory is not imported; the error says why."""
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o1777)
        (shared / "my_cogs.py").write_text("def tag(data):\n    return (data,)\n")
        path = write_pipeline(shared, '[[cog]]\nuse = "my_cogs:tag"\n')
        result = deadbeat("run", str(path), "--once")
        assert result.returncode == 1
        assert "cannot import" in result.stderr and "writable by others" in result.stderr


class TestForgedLogLines:
    def test_a_datum_cannot_forge_a_log_line(self, tmp_path: Path) -> None:
        """An error message or id holding a newline stays on its own line, the newline escaped."""
        (tmp_path / "forge.py").write_text(
            "def boom(data):\n    raise ValueError('bad\\n2026-01-01 00:00:00,000 deadbeat INFO finished: all fine')\n"
        )
        source = tmp_path / "in.txt"
        source.write_text("x\n")
        path = write_pipeline(
            tmp_path, f'[[cog]]\nuse = "fs.read"\nfilenames = ["{source}"]\n[[cog]]\nuse = "forge:boom"\n'
        )
        result = deadbeat("run", str(path), "--once", "--quiet")
        assert result.returncode == 0, result.stderr
        assert not [line for line in result.stderr.splitlines() if line.startswith("2026-01-01")]
        assert "bad\\n2026-01-01 00:00:00,000 deadbeat INFO finished: all fine" in result.stderr


class TestAnonymisedErrorRecords:
    def test_a_failure_after_the_anonymiser_records_only_the_anonymised_address(self, tmp_path: Path) -> None:
        """fs.read -> text.json_parse -> ip.anonymise -> cast.fields, all real: a datum that fails after the
        anonymiser reaches errors.jsonl with the address truncated, and no raw line anywhere; only a line that
        fails before it (not JSON) holds its address as read, as the tutorial says."""
        (tmp_path / "in.log").write_text(
            '{"src_ip": "192.0.2.7", "port": "80"}\n'
            '{"src_ip": "192.0.2.8", "port": "eighty"}\n'
            '{"src_ip": "192.0.2.9", "port": "x"\n'
        )
        path = write_pipeline(
            tmp_path,
            """
            [[cog]]
            use = "fs.read"
            filenames = ["in.log"]
            [[cog]]
            use = "text.json_parse"
            [[cog]]
            use = "ip.anonymise"
            fields = "src_ip"
            [[cog]]
            use = "cast.fields"
            fields = {port = "int"}
            [[cog]]
            use = "text.json_format"
            [[cog]]
            use = "fs.write"
            filename = "out.jsonl"
            [[errors]]
            use = "text.json_format"
            [[errors]]
            use = "fs.write"
            filename = "errors.jsonl"
            """,
        )
        result = deadbeat("run", str(path), "--once", "--quiet", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "out.jsonl").read_text() == '{"src_ip":"192.0.2.0","port":80}\n'
        records = {
            record["event_id"].rpartition(":")[2]: record
            for record in map(json.loads, (tmp_path / "errors.jsonl").read_text().splitlines())
        }
        assert sorted(records) == ["38", "80"]
        assert records["38"]["datum"] == {"src_ip": "192.0.2.0", "port": "eighty"}
        assert "192.0.2.8" not in json.dumps(records["38"])
        assert "192.0.2.9" in records["80"]["datum"]  # refused before the anonymiser: the line as read


class TestSignals:
    def test_a_sighup_while_the_command_starts_does_not_end_it(self, tmp_path: Path) -> None:
        """SIGHUP is ignored from the command's first line until the run's own handler takes it (a reload).

        Python's default for SIGHUP ends the process, and logrotate sends it to
        a daemon that may just be restarting: for the ~200 ms the imports take,
        a SIGHUP killed ``deadbeat run`` (exit status -1).
        """
        (tmp_path / "in.log").write_text("one\n")
        path = write_pipeline(
            tmp_path,
            """
            [[cog]]
            use = "fs.tail"
            filenames = ["in.log"]
            [[cog]]
            use = "fs.write"
            filename = "out.log"
            """,
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(path)], stderr=subprocess.PIPE, cwd=tmp_path
        )
        bit = 1 << (signal.SIGHUP - 1)
        seen = ""
        deadline = time.monotonic() + 60
        while not seen and time.monotonic() < deadline:
            with open(f"/proc/{process.pid}/status") as status:
                fields = dict(line.split(":", 1) for line in status if line.startswith(("SigIgn", "SigCgt")))
            if int(fields["SigIgn"], 16) & bit:
                seen = "ignored"
            elif int(fields["SigCgt"], 16) & bit:
                seen = "caught"
            time.sleep(0.0005)
        # Ignored before the imports (the first disposition set is "ignore", not the run's handler).
        assert seen == "ignored"
        process.send_signal(signal.SIGHUP)
        wait_for_handler(process.pid)
        time.sleep(0.5)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert (tmp_path / "out.log").read_text() == "one\n"

    @pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
    def test_data_in_flight_reach_the_output_on_signal(self, tmp_path: Path, signum: int) -> None:
        """On SIGTERM/SIGINT, data held by a cog are flushed to the output before exit."""
        source = tmp_path / "in.txt"
        source.write_text("".join(f"line {i:06d}\n" for i in range(200_000)))
        out = tmp_path / "out.txt"
        path = write_pipeline(
            tmp_path,
            f"""
            [log]
            level = "info"
            [[cog]]
            use = "fs.read"
            filenames = ["{source}"]
            [[cog]]
            use = "example.delay"
            seconds = 60.0
            [[cog]]
            use = "fs.write"
            filename = "{out}"
            """,
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(path), "--quiet"],
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        time.sleep(1.5)
        assert process.poll() is None, "the pipeline should still be running (data held for 60 s)"
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        written = out.read_text().splitlines()
        assert written, stderr
        assert written == [f"line {i:06d}" for i in range(len(written))]
        summary = [line for line in stderr.splitlines() if "finished: in" in line][0]
        assert f"in {len(written)}, out {len(written)}, errors 0" in summary

    def test_a_finish_that_never_ends_is_cut_by_shutdown_timeout(self, tmp_path: Path) -> None:
        """A cog whose finish hangs cannot keep a cron run alive: the deadline names it and the exit is 1."""
        (tmp_path / "stuck.py").write_text(
            textwrap.dedent(
                """
                import asyncio

                class Stuck:
                    '''Passes data on; its finish waits for an answer that never comes.'''

                    def __call__(self, datum):
                        return (datum,)

                    async def finish(self):
                        await asyncio.Event().wait()
                """
            )
        )
        source = tmp_path / "in.txt"
        source.write_text("".join(f"line {i}\n" for i in range(1000)))
        out = tmp_path / "out.txt"
        path = write_pipeline(
            tmp_path,
            f"""
            [train]
            shutdown_timeout = 1
            [[cog]]
            use = "fs.read"
            filenames = ["{source}"]
            [[cog]]
            use = "stuck:Stuck"
            [[cog]]
            use = "fs.write"
            filename = "{out}"
            """,
        )
        started = time.monotonic()
        result = deadbeat("run", str(path), "--once", "--quiet", cwd=tmp_path, timeout=30)
        assert result.returncode == 1, result.stderr
        assert time.monotonic() - started < 20
        assert "finish had not ended when the shutdown deadline passed" in result.stderr
        assert "Stuck" in result.stderr
        assert "shutdown_timeout (1 s) passed" in result.stderr
        # What went past the stuck cog before the shutdown was written.
        assert out.read_text().splitlines() == [f"line {i}" for i in range(1000)]

    def test_shutdown_timeout_must_be_positive(self, tmp_path: Path) -> None:
        """`deadbeat check` refuses a deadline of 0 and names the key."""
        path = write_pipeline(
            tmp_path,
            """
            [train]
            shutdown_timeout = 0
            [[cog]]
            use = "fs.read"
            filenames = ["in.txt"]
            missing_ok = true
            """,
        )
        result = deadbeat("check", str(path), cwd=tmp_path)
        assert result.returncode == 1
        assert "train.shutdown_timeout: must be more than 0 seconds" in result.stderr + result.stdout


class TestNewCog:
    def test_a_first_party_prefix_is_refused(self, tmp_path: Path) -> None:
        """`new-cog fs` would make fs.tag beside Deadbeat's own fs cogs: refused, nothing created."""
        for name in ("fs", "deadbeat", "text"):
            result = deadbeat("new-cog", name, cwd=tmp_path)
            assert result.returncode == 1, result.stdout
            assert f"{name!r} is the prefix of Deadbeat's own cogs" in result.stderr
        assert list(tmp_path.iterdir()) == []

    def test_a_name_making_a_first_party_distribution_is_refused(self, tmp_path: Path) -> None:
        """`new-cog cogs_fs` made deadbeat-cogs-fs, which installed over Deadbeat's own fs cogs."""
        for name in ("cogs", "cogs_fs", "cogs_mine"):
            result = deadbeat("new-cog", name, cwd=tmp_path)
            assert result.returncode == 1, result.stdout
            assert "deadbeat-cogs-* are the names of Deadbeat's own distributions" in result.stderr
        result = deadbeat("new-cog", "import", cwd=tmp_path)
        assert result.returncode == 1
        assert "'import' is a Python keyword" in result.stderr
        assert not list(tmp_path.iterdir())

    def test_a_prefix_of_ones_own_is_made(self, tmp_path: Path) -> None:
        result = deadbeat("new-cog", "geoip", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "deadbeat-geoip" / "pyproject.toml").exists()


class TestThreadsLeftBehind:
    def test_a_thread_a_cog_module_started_does_not_keep_the_program_alive(self, tmp_path: Path) -> None:
        """`run --once` wrote everything, said "finished", and never exited (SIGTERM did nothing any more)."""
        (tmp_path / "thcogs.py").write_text(
            "import threading, time\n"
            "threading.Thread(target=time.sleep, args=(3600,), name='lib-worker').start()\n"
            "def passthrough(datum):\n    return (datum,)\n"
        )
        (tmp_path / "in.txt").write_text("1\n2\n")
        (tmp_path / "p.toml").write_text(
            '[[cog]]\nuse = "fs.read"\nfilenames = ["in.txt"]\n\n[[cog]]\nuse = "thcogs:passthrough"\n\n'
            '[[cog]]\nuse = "fs.write"\nfilename = "out.txt"\n'
        )
        result = deadbeat("run", "--once", "p.toml", cwd=tmp_path, timeout=30)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "out.txt").read_text() == "1\n2\n"
        assert "not waiting for threads a cog's module started (lib-worker); ending now" in result.stderr
