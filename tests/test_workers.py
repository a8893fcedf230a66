"""``deadbeat run --workers N``: worker processes sharing a Redis consumer group, for real.

Every test runs the ``deadbeat`` command as a process against the machine's
Redis (127.0.0.1:6379), on streams of its own that it deletes afterwards.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "scale_out"

#: An application cog that writes which process handled each line; and one that dies on "poison".
APP_COGS = """
import os
import signal


def tag(datum):
    return (f"{os.getpid()} {datum}",)


def crash_on_poison(datum):
    if datum == "poison":
        os.kill(os.getpid(), signal.SIGKILL)
    return (datum,)
"""


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    made = redis.Redis()
    yield made
    made.close()


@pytest.fixture
def key(client: redis.Redis) -> Iterator[str]:
    name = f"deadbeat-test-workers-{uuid.uuid4().hex[:10]}"
    yield name
    client.delete(name, name + "-dead")


def fill(client: redis.Redis, name: str, count: int) -> None:
    for start in range(0, count, 5000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(count, start + 5000)):
            pipe.xadd(name, {"data": f"line {i}"})
        pipe.execute()


def start(pipeline: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--quiet", *args],
            stderr=err,
            stdout=subprocess.DEVNULL,
            cwd=pipeline.parent,
        )


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def group_drained(client: redis.Redis, name: str, group: str) -> bool:
    for info in client.xinfo_groups(name):
        if info["name"].decode() == group:
            return bool(info["pending"] == 0 and info["lag"] == 0)
    return False


def worker_pipeline(
    tmp_path: Path, name: str, *cogs: str, extra: str = "", errors: str = "", output: str = "out.txt"
) -> Path:
    (tmp_path / "appcogs.py").write_text(APP_COGS)
    path = tmp_path / "worker.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [log]
            level = "info"
            [[cog]]
            use = "stream.redis"
            stream = "{name}"
            group = "g"
            block = 0.5
            {extra}
            """
        )
        + "".join(f'\n[[cog]]\nuse = "{cog}"\n' for cog in cogs)
        + f'\n[[cog]]\nuse = "fs.write"\nfilename = "{output}"\n'
        + errors
    )
    return path


class TestWorkers:
    def test_three_workers_share_100000_messages_and_a_killed_one_loses_nothing(
        self, tmp_path: Path, client: redis.Redis, key: str
    ) -> None:
        """SIGKILL one of three workers mid-way: every message is written, duplicates only from the killed one.

        The parent starts the killed worker again under its consumer name; it
        takes up the messages it had not acknowledged. A message is written
        twice only if the killed process wrote it and died before its XACK:
        there are at most max_pending (2000) of those, and the test reports how many.

        Each worker writes a file of its own (``${DEADBEAT_WORKER}``), as the
        docs advise: SIGKILL can stop a write at a page boundary, and in a
        shared file the line it cut would glue onto another worker's next line.
        """
        count = 100_000
        fill(client, key, count)
        pipeline = worker_pipeline(
            tmp_path,
            key,
            "appcogs:tag",
            extra="batch_size = 500\nmax_pending = 2000",
            output="out-${DEADBEAT_WORKER:-0}.txt",
        )
        log = tmp_path / "workers.log"

        def written() -> list[str]:
            return [line for n in range(3) for line in lines_of(tmp_path / f"out-{n}.txt")]

        parent = start(pipeline, "--workers", "3", log=log)
        try:
            wait_for(lambda: len(children(parent.pid)) == 3, 20, "three workers")
            wait_for(lambda: len(written()) >= 30_000, 60, "30,000 lines written")
            victim = children(parent.pid)[1]
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: log.read_text().count("started (pid") == 4, 20, "the killed worker started again")
            wait_for(lambda: group_drained(client, key, "g") and len(written()) >= count, 120, "all messages")
        finally:
            parent.send_signal(signal.SIGTERM)
            parent.wait(timeout=60)
        text = log.read_text()
        assert f"(pid {victim}) was killed by SIGKILL; starting it again in 1 s" in text
        assert parent.returncode == 1, text  # a worker failed on the way, and the status says so
        # Every worker wrote only into its own file.
        for n in range(3):
            assert len({line.partition(" ")[0] for line in lines_of(tmp_path / f"out-{n}.txt")}) <= 2, n
        writers: dict[str, list[int]] = collections.defaultdict(list)
        for line in written():
            pid, _, message = line.partition(" ")
            writers[message].append(int(pid))
        assert set(writers) == {f"line {i}" for i in range(count)}
        duplicates = {message: pids for message, pids in writers.items() if len(pids) > 1}
        assert all(victim in pids for pids in duplicates.values()), "a duplicate not written by the killed worker"
        assert len(duplicates) <= 2000
        print(f"\n{len(duplicates)} of {count} messages written twice, all by the killed worker (pid {victim})")

    def test_each_worker_reads_its_own_index_into_the_pipeline_file(
        self, tmp_path: Path, client: redis.Redis, key: str
    ) -> None:
        """${DEADBEAT_WORKER} without a default: the parent checks the file as worker 0, each worker reads its own."""
        fill(client, key, 4_000)
        pipeline = worker_pipeline(
            tmp_path, key, "appcogs:tag", extra="batch_size = 100", output="w${DEADBEAT_WORKER}.txt"
        )
        log = tmp_path / "workers.log"
        parent = start(pipeline, "--workers", "2", log=log)

        def written() -> list[str]:
            return lines_of(tmp_path / "w0.txt") + lines_of(tmp_path / "w1.txt")

        try:
            wait_for(lambda: len(written()) >= 4_000 and group_drained(client, key, "g"), 60, "all messages")
            workers = sorted(children(parent.pid))
        finally:
            parent.send_signal(signal.SIGTERM)
            parent.wait(timeout=60)
        assert parent.returncode == 0, log.read_text()
        assert sorted(line.partition(" ")[2] for line in written()) == sorted(f"line {i}" for i in range(4_000))
        for name in ("w0.txt", "w1.txt"):
            assert {int(line.partition(" ")[0]) for line in lines_of(tmp_path / name)} <= set(workers)
            assert len({line.partition(" ")[0] for line in lines_of(tmp_path / name)}) <= 1, name
        assert sorted(p.name for p in tmp_path.glob("w*.txt")) <= ["w0.txt", "w1.txt"]

    def test_sigterm_stops_every_worker_in_order(self, tmp_path: Path, client: redis.Redis, key: str) -> None:
        """SIGTERM to the parent: each worker finishes, acknowledges what it wrote, and the parent exits 0."""
        fill(client, key, 20_000)
        pipeline = worker_pipeline(tmp_path, key, "appcogs:tag")
        log = tmp_path / "workers.log"
        out = tmp_path / "out.txt"
        parent = start(pipeline, "--workers", "2", log=log)
        try:
            wait_for(lambda: len(lines_of(out)) >= 20_000 and group_drained(client, key, "g"), 60, "all messages")
            workers = children(parent.pid)
        finally:
            parent.send_signal(signal.SIGTERM)
            parent.wait(timeout=60)
        text = log.read_text()
        assert parent.returncode == 0, text
        assert "received SIGTERM; stopping the workers" in text and "all workers ended" in text
        assert len(workers) == 2 and not any(Path(f"/proc/{pid}").exists() for pid in workers)
        assert sorted(line.partition(" ")[2] for line in lines_of(out)) == sorted(f"line {i}" for i in range(20_000))
        assert client.xpending(key, "g")["pending"] == 0

    def test_a_poison_message_that_kills_its_worker_ends_in_the_dead_letter_output(
        self, tmp_path: Path, client: redis.Redis, key: str
    ) -> None:
        """A message that kills every worker taking it reaches [[errors]] after max_deliveries, not an endless loop."""
        client.xadd(key, {"data": "before"})
        client.xadd(key, {"data": "poison"})
        client.xadd(key, {"data": "after"})
        errors = '\n[[errors]]\nuse = "text.json_format"\n\n[[errors]]\nuse = "fs.write"\nfilename = "dead.txt"\n'
        pipeline = worker_pipeline(tmp_path, key, "appcogs:crash_on_poison", extra="max_deliveries = 2", errors=errors)
        log = tmp_path / "workers.log"
        parent = start(pipeline, "--workers", "1", log=log)
        try:
            wait_for(lambda: bool(lines_of(tmp_path / "dead.txt")), 60, "the dead letter")
            wait_for(lambda: group_drained(client, key, "g"), 20, "everything acknowledged")
        finally:
            parent.send_signal(signal.SIGTERM)
            parent.wait(timeout=60)
        text = log.read_text()
        assert text.count("was killed by SIGKILL") == 2, text
        dead = lines_of(tmp_path / "dead.txt")
        assert len(dead) == 1 and '"poison"' in dead[0] and "delivered 2 times" in dead[0]
        assert sorted(set(lines_of(tmp_path / "out.txt"))) == ["after", "before"]

    def test_supplies_that_cannot_be_shared_are_refused(self, tmp_path: Path) -> None:
        """--workers 2 on a pipeline reading a file is refused before anything starts, naming the cog."""
        (tmp_path / "in.txt").write_text("a\n")
        pipeline = tmp_path / "p.toml"
        pipeline.write_text('[[cog]]\nuse = "fs.read"\nfilenames = ["in.txt"]\n[[cog]]\nuse = "fs.write"\n')
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--workers", "2"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert "cog[0] (fs.read) cannot be shared by several workers" in result.stderr
        assert "everything would be written 2 times" in result.stderr

    def test_a_worker_that_cannot_start_is_not_started_again(self, tmp_path: Path, key: str) -> None:
        """A worker failing with a status (its output cannot be opened) says why once; the parent exits 1."""
        pipeline = worker_pipeline(tmp_path, key)
        pipeline.write_text(pipeline.read_text().replace('filename = "out.txt"', 'filename = "no/such/dir/out.txt"'))
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--workers", "2", "--quiet"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert result.stderr.count("cannot start: FileNotFoundError") == 2
        assert result.stderr.count("exited with status 1 (its log says why); not started again") == 2

    def test_detached_the_command_returns_once_every_worker_has_started(
        self, tmp_path: Path, client: redis.Redis, key: str
    ) -> None:
        """The process that started a detached --workers run waited for nothing: it exited 0 at once, before
        any worker had read its pipeline, and 0 even when none could start. It now waits for the supervisor's
        word, as a run without --workers waits for its pipeline's start."""
        pipeline = worker_pipeline(tmp_path, key, extra=f'[daemon]\ndetach = true\npid_file = "{tmp_path / "d.pid"}"\n')
        text = pipeline.read_text().replace('level = "info"', f'level = "info"\nfile = "{tmp_path / "d.log"}"')
        pipeline.write_text(text.replace('filename = "out.txt"', f'filename = "{tmp_path / "out.txt"}"'))
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--workers", "2", "--quiet"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        try:
            assert result.returncode == 0, result.stderr
            # Returned once both workers had started: the supervisor had said so in its log.
            assert "2 workers started" in (tmp_path / "d.log").read_text()
            fill(client, key, 10)
            wait_for(lambda: len(lines_of(tmp_path / "out.txt")) == 10, 60, "the workers to write")
        finally:
            os.kill(int((tmp_path / "d.pid").read_text()), signal.SIGTERM)
            wait_for(lambda: not (tmp_path / "d.pid").exists(), 60, "the daemon to end")

        bad = tmp_path / "bad.toml"
        bad.write_text(pipeline.read_text().replace(str(tmp_path / "out.txt"), str(tmp_path / "no" / "out.txt")))
        failed = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(bad), "--workers", "2", "--quiet"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert failed.returncode == 1
        assert "see the log" in failed.stderr

    def test_a_worker_count_below_one_is_a_usage_error(self, tmp_path: Path) -> None:
        """--workers 0 is a wrong command line (exit 2)."""
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", "x.toml", "--workers", "0"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2 and "at least 1 worker" in result.stderr


class TestScaleOutExample:
    def test_agent_and_two_workers_run_as_the_readme_says(self, tmp_path: Path, client: redis.Redis) -> None:
        """examples/scale_out: the agent tails into the stream, two workers share it, results land in files."""
        where = tmp_path / "scale_out"
        shutil.copytree(EXAMPLE, where)
        name = f"deadbeat-test-example-{uuid.uuid4().hex[:10]}"
        for toml in ("agent.toml", "worker.toml"):
            path = where / toml
            path.write_text(path.read_text().replace('"deadbeat-example"', f'"{name}"'))
        source = (where / "data" / "app.log").read_text().splitlines()
        try:
            agent = start(where / "agent.toml", log=tmp_path / "agent.log")
            try:
                wait_for(lambda: client.xlen(name) == len(source), 30, "the agent's lines in the stream")
            finally:
                agent.send_signal(signal.SIGTERM)
                agent.wait(timeout=60)
            assert agent.returncode == 0, (tmp_path / "agent.log").read_text()
            workers = start(where / "worker.toml", "--workers", "2", log=tmp_path / "workers.log")

            def results() -> list[str]:
                return lines_of(where / "results-0.jsonl") + lines_of(where / "results-1.jsonl")

            try:
                wait_for(
                    lambda: len(results()) == len(source) - 1 and group_drained(client, name, "workers"),
                    60,
                    "the workers' results",
                )
            finally:
                workers.send_signal(signal.SIGTERM)
                workers.wait(timeout=60)
            assert workers.returncode == 0, (tmp_path / "workers.log").read_text()
            expected = {line for line in source if line.startswith("{")}
            import json

            selected = {json.dumps({k: json.loads(line)[k] for k in ("time", "host", "status")}) for line in expected}
            assert {json.dumps(json.loads(line)) for line in results()} == selected
            # Each worker writes a file of its own (which had a share is Redis's choice), and no other.
            assert {p.name for p in where.glob("results*")} <= {"results-0.jsonl", "results-1.jsonl"}
            errors = lines_of(where / "errors-0.jsonl") + lines_of(where / "errors-1.jsonl")
            assert len(errors) == 1 and "this line is not JSON" in errors[0] and f"{name}:" in errors[0]
        finally:
            client.delete(name)
