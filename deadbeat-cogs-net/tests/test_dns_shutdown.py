"""Shutdown with lookups in flight: every held datum reaches the output, within the timeout.

In one process (the cog's ``finish`` on a real Escapement), and as a real
``deadbeat run`` process receiving SIGTERM while 1,000 lookups are out.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from deadbeat import dns


class TestFinish:
    def test_answers_on_their_way_are_waited_for(self, scripted_dns: Any, dns_kit: Any) -> None:
        """Shutdown while 100 lookups are out (answers 0.5 s away, timeout 5 s): all 100 go on resolved."""
        scripted_dns.default_rule = dns_kit.Rule(records=[("PTR", "late.example")], delay=0.5)
        data = [{"ip": f"10.4.0.{i}"} for i in range(100)]
        run = dns_kit.run(
            lambda train: [dns.ReverseLookup(train, servers=[scripted_dns.address], timeout=5.0)],
            data,
            until=lambda run: run.cogs[0].in_flight == 100,
        )
        assert len(run.out) == 100
        assert all(d["hostname"] == "late.example" for d in run.out)

    def test_what_cannot_be_answered_in_time_goes_on_marked(self, scripted_dns: Any, dns_kit: Any) -> None:
        """A silent server: the 20 lookups in flight are given up at their deadline, the 80 queued at once."""
        scripted_dns.default_rule = dns_kit.Rule(fault="drop")
        data = [{"ip": f"10.4.1.{i}"} for i in range(100)]
        run = dns_kit.run(
            lambda train: [
                dns.ReverseLookup(train, servers=[scripted_dns.address], timeout=1.0, max_in_flight=20, failed="?")
            ],
            data,
            until=lambda run: run.cogs[0].in_flight == 20,
        )
        assert len(run.out) == 100
        assert all(d["hostname"] == "?" for d in run.out)
        cog = run.cogs[0]
        assert cog.counts["failed"] == 100 and cog.lookups == 0
        assert len(scripted_dns.queries) == 20  # the queued ones were never asked


pytest.importorskip("deadbeat.fs", reason="the pipeline also needs deadbeat-cogs-fs")
pytest.importorskip("deadbeat.text", reason="the pipeline also needs deadbeat-cogs-text")


class TestSigterm:
    @pytest.mark.parametrize("server", ["slow", "silent"])
    def test_sigterm_with_1000_lookups_in_flight_loses_nothing(
        self, scripted_dns: Any, dns_kit: Any, tmp_path: Path, server: str
    ) -> None:
        """``deadbeat run`` gets SIGTERM with 1,000 lookups out and 2,000 queued: every line is written, exit 0.

        A slow server (answers after 2 s) answers the 1,000 during the shutdown;
        a silent one never does, and they are given up at their deadline (3 s).
        """
        if server == "slow":
            scripted_dns.default_rule = dns_kit.Rule(records=[("PTR", "slow.example")], delay=2.0)
        else:
            scripted_dns.default_rule = dns_kit.Rule(fault="drop")
        addresses = [f"10.5.{i // 250}.{i % 250}" for i in range(3000)]
        source = tmp_path / "in.txt"
        source.write_text("".join(a + "\n" for a in addresses))
        out = tmp_path / "out.jsonl"
        pipeline = tmp_path / "pipeline.toml"
        pipeline.write_text(
            textwrap.dedent(
                f"""
                [log]
                level = "info"
                [[cog]]
                use = "fs.tail"
                filenames = ["{source}"]
                line_setter = "line"
                [[cog]]
                use = "dns.reverse"
                ip_getter = "line"
                servers = ["{scripted_dns.address}"]
                max_in_flight = 1000
                timeout = 3.0
                failed = "(unresolved)"
                [[cog]]
                use = "text.json_format"
                [[cog]]
                use = "fs.write"
                filename = "{out}"
                """
            )
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--quiet"],
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        try:
            assert scripted_dns.wait_for(lambda s: len(s.queries) >= 1000, timeout=60), "1,000 lookups never went out"
            assert process.poll() is None
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 0, stderr
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert sorted(r["line"] for r in records) == sorted(addresses)
        names = [r["hostname"] for r in records]
        assert set(names) <= {"slow.example", "(unresolved)"}
        if server == "slow":
            assert names.count("slow.example") == 1000
        else:
            assert names.count("(unresolved)") == 3000
        assert len(scripted_dns.queries) == 1000  # never more questions out than max_in_flight
        summary = [line for line in stderr.splitlines() if "finished: in" in line]
        assert summary and "in 3000, out 3000, errors 0" in summary[0], stderr
