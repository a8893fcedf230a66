"""Multiline joining: 20-line Java stack traces into one event each, beside a hand-written Python joiner.

Both read the same file of log lines, each followed by a 20-line Java stack
trace (exception line, frames, a "Caused by:" and "... N more"), and make one
event per trace:

* ``fs.read`` with ``multiline = {mode = "java"}`` (RE2 continuation rule, event
  ids and positions kept, batches through a train into a counting cog);
* the same with the java mode's rule given as a user's ``continuation``
  pattern, which runs on RE2 (what any other rule costs);
* a hand-written joiner: the file read whole, split into lines, each line
  tested with ``str.startswith`` for the same continuations, events joined with
  ``"\\n".join`` - the least a Python program can do, with no positions and no
  error handling.

Prints events per second, the median of ``--runs`` runs of each, and the ratio.

Run: ``python bench/fs_multiline.py [--traces N] [--runs R]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from deadbeat import fs, movement
from deadbeat.fs._multiline import MODES


def trace(n: int) -> list[str]:
    """One log line and its 20-line stack trace."""
    return [
        f"2026-11-30 05:00:{n % 60:02d},{n % 1000:03d} ERROR [worker-{n % 8}] c.e.Service - request {n} failed",
        "java.lang.IllegalStateException: connection refused",
        *[f"\tat com.example.layer{k}.Handler.handle(Handler.java:{40 + k})" for k in range(14)],
        "Caused by: java.net.ConnectException: Connection refused (Connection refused)",
        "\tat java.base/sun.nio.ch.Net.connect0(Native Method)",
        "\tat java.base/sun.nio.ch.Net.connect(Net.java:579)",
        "\t... 14 more",
    ]


class Count:
    """The last cog: counts events and lets them go."""

    def __init__(self) -> None:
        self.events = 0

    def __call__(self, datum: Any) -> tuple[()]:
        self.events += 1
        return ()

    def call_batch(self, data: list[Any]) -> list[Any]:
        self.events += len(data)
        return []


def ours(path: Path, rules: dict[str, Any] | None = None) -> tuple[int, float]:
    esc = movement.Escapement()
    count = Count()
    supply = fs.FileReaderSupply(esc, [str(path)], multiline=rules or {"mode": "java"})
    movement.Train(esc, [supply, count])
    started = time.perf_counter()
    esc.run()
    elapsed = time.perf_counter() - started
    esc.close()
    return count.events, elapsed


CONTINUATIONS = ("\t", " ", "Caused by:", "Suppressed:", "java.", "javax.")


def hand_written(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    events: list[str] = []
    current: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle.read().split("\n")[:-1]:
            if current and line.startswith(CONTINUATIONS):
                current.append(line)
            else:
                if current:
                    events.append("\n".join(current))
                current = [line]
    if current:
        events.append("\n".join(current))
    return len(events), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "app.log"
        with open(path, "w", encoding="utf-8") as handle:
            for n in range(args.traces):
                handle.write("\n".join(trace(n)) + "\n")
        size = path.stat().st_size
        runs = {
            "fs.read multiline java": ours,
            "fs.read continuation RE2": lambda p: ours(p, {"continuation": MODES["java"]}),
            "hand-written joiner": hand_written,
        }
        rates: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.runs):
            for name, run in runs.items():
                events, elapsed = run(path)
                assert events == args.traces, (name, events)
                rates[name].append(events / elapsed)
    print(f"multiline: {args.traces} Java stack traces of 20 lines ({size / 1e6:.1f} MB), median of {args.runs} runs")
    medians = {name: statistics.median(values) for name, values in rates.items()}
    for name, rate in medians.items():
        print(f"  {name:<24} {rate:>10,.0f} events/s   {rate * 21:>12,.0f} lines/s")
    for name in ("fs.read multiline java", "fs.read continuation RE2"):
        print(f"  ratio {name} / hand-written: {medians[name] / medians['hand-written joiner']:.2f}x")


if __name__ == "__main__":
    main()
