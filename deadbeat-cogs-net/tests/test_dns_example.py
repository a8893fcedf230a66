"""The manual's worked example, shipped in examples/: the Python app and the pipeline file, run as a user runs them.

Both are pointed at the test's unbound by their resolver setting (``--dns-servers``
for the app; the ``servers`` line of a copy of the pipeline file), since the
system's resolver is not the test's to rely on.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("deadbeat.fs", reason="the example also needs deadbeat-cogs-fs")
pytest.importorskip("deadbeat.text", reason="the pipeline example also needs deadbeat-cogs-text")

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
APP = EXAMPLES / "resolve_ips.py"
CONFIG = EXAMPLES / "resolve_ips.json"
PIPELINE = EXAMPLES / "resolve_ips.toml"
LINES = (EXAMPLES / "data" / "ips.log").read_text().splitlines()

#: What each line's address becomes with the test zone (conftest.STANDARD_ZONE).
EXPECTED = {
    "192.0.2.1": "one.example",
    "198.51.100.23": "(lookup failed)",  # a refused zone
    "2001:db8::1": "six.example",
    "203.0.113.50": "(no name)",  # unbound's own zone for TEST-NET-3: NXDOMAIN
    "192.0.2.2": "two.example",
    "192.0.2.9": "(no name)",
}


def check_output(text: str) -> None:
    """Every input line is there once, with its address and the expected name (none without address)."""
    records = [json.loads(line) for line in text.splitlines()]
    assert sorted(r["line"] for r in records) == sorted(LINES)
    for record in records:
        if record["ip"] is None:
            assert "hostname" not in record, record
        else:
            assert record["hostname"] == EXPECTED[record["ip"]], record


def run_app(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(APP), *args], capture_output=True, text=True, cwd=REPO, timeout=120, **options
    )


class TestPythonApp:
    def test_runs_once_from_its_config_file(self, unbound: Any, tmp_path: Path) -> None:
        """``resolve_ips.py --config resolve_ips.json --once``: every line written, resolved or marked; exit 0."""
        out = tmp_path / "resolved.jsonl"
        result = run_app("--config", str(CONFIG), "--output-file", str(out), "--dns-servers", unbound.address, "--once")
        assert result.returncode == 0, result.stderr
        check_output(out.read_text())

    def test_follows_until_sigterm_and_writes_everything(self, unbound: Any, tmp_path: Path) -> None:
        """Without --once it follows the log; SIGTERM ends it in order, exit 0, nothing missing."""
        log_file = tmp_path / "auth.log"
        log_file.write_text("\n".join(LINES[:4]) + "\n")
        out = tmp_path / "resolved.jsonl"
        process = subprocess.Popen(
            [
                sys.executable,
                str(APP),
                "--config",
                str(CONFIG),
                "--input-files",
                str(log_file),
                "--output-file",
                str(out),
                "--dns-servers",
                unbound.address,
            ],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_lines(out, 4, process)
            with log_file.open("a") as handle:
                handle.write("\n".join(LINES[4:]) + "\n")
            wait_for_lines(out, len(LINES), process)
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 0, stderr
        check_output(out.read_text())


def wait_for_lines(path: Path, count: int, process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """Wait (a guard against a hang, not a measure) until ``path`` has ``count`` lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.05)
    raise AssertionError(f"{path} did not reach {count} lines")


class TestPipelineFile:
    def test_runs_once_with_deadbeat_run(self, unbound: Any, tmp_path: Path) -> None:
        """``deadbeat run resolve_ips.toml --once``, pointed at the test's resolver: the app's output, exit 0."""
        shutil.copytree(EXAMPLES / "data", tmp_path / "data")
        text = PIPELINE.read_text()
        assert "\nservers = []\n" in text
        pipeline = tmp_path / "resolve_ips.toml"
        pipeline.write_text(text.replace("\nservers = []\n", f'\nservers = ["{unbound.address}"]\n'))
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--once", "--quiet"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
            env={**os.environ},
        )
        assert result.returncode == 0, result.stderr
        check_output(result.stdout)

    def test_runs_without_re2(self, unbound: Any, tmp_path: Path) -> None:
        """The documented install has no google-re2: the pipeline file needs none (its regex engine is "re")."""
        shutil.copytree(EXAMPLES / "data", tmp_path / "data")
        pipeline = tmp_path / "resolve_ips.toml"
        pipeline.write_text(PIPELINE.read_text().replace("\nservers = []\n", f'\nservers = ["{unbound.address}"]\n'))
        without_re2 = (
            "import runpy, sys; sys.modules['re2'] = None;"
            f" sys.argv = ['deadbeat', 'run', {str(pipeline)!r}, '--once', '--quiet'];"
            " runpy.run_module('deadbeat.command', run_name='__main__')"
        )
        result = subprocess.run(
            [sys.executable, "-c", without_re2], capture_output=True, text=True, cwd=tmp_path, timeout=120
        )
        assert result.returncode == 0, result.stderr
        check_output(result.stdout)

    def test_the_shipped_file_is_valid_as_it_is(self) -> None:
        """The pipeline file in examples/ passes the checks of ``deadbeat run --explain`` unchanged."""
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", "--explain", str(PIPELINE)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "dns.reverse" in result.stdout
