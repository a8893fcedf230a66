"""Tailing cost while idle, and the delay from an appended line to the output file.

Two measurements, each for ``deadbeat run`` (``fs.tail`` into ``fs.write``, with a
state file) and for GNU ``tail -F`` as the baseline, run side by side:

* idle: both follow the same 100 files for 30 s (inotify mode) while nothing is
  written; the CPU seconds each process used in that time (from /proc);
* latency: a line holding the monotonic clock is appended to the input every
  10 ms; the bench watches the output files with inotify and takes, per line,
  the time until it is there. Prints the median and the 90th percentile.

Run: ``python bench/fs_idle_and_latency.py [--idle-seconds S] [--samples N]``
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from inotify_simple import INotify as Inotify

from deadbeat.movement import IN_MODIFY

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_deadbeat(root: Path, pattern: str, output: Path) -> subprocess.Popen[bytes]:
    config = root / f"{output.stem}.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [log]
            level = "warning"
            [[cog]]
            use = "fs.tail"
            filenames = ["{pattern}"]
            state_file = "{root / (output.stem + ".state")}"
            [[cog]]
            use = "fs.write"
            filename = "{output}"
            state_file = "{root / (output.stem + ".state")}"
            """
        )
    )
    return subprocess.Popen([sys.executable, "-m", "deadbeat.command", "run", str(config), "--quiet"])


def start_tail(files: list[Path], output: Path) -> subprocess.Popen[bytes]:
    handle = open(output, "wb")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(["tail", "-q", "-n0", "-F", *map(str, files)], stdout=handle)


def wait_ready(output: Path, probe: Path, token: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(probe, "a") as handle:
            handle.write(f"{token}\n")
        time.sleep(0.2)
        if output.exists() and token in output.read_text():
            return
    raise SystemExit(f"{output} never showed {token}")


def idle(root: Path, seconds: float) -> None:
    files = [root / f"idle{i:03d}.log" for i in range(100)]
    for path in files:
        path.write_text("")
    ours = start_deadbeat(root, str(root / "idle*.log"), root / "idle-deadbeat.out")
    theirs = start_tail(files, root / "idle-tail.out")
    try:
        wait_ready(root / "idle-deadbeat.out", files[0], "ready")
        wait_ready(root / "idle-tail.out", files[0], "ready-tail")
        time.sleep(1)
        before = cpu_seconds(ours.pid), cpu_seconds(theirs.pid)
        time.sleep(seconds)
        after = cpu_seconds(ours.pid), cpu_seconds(theirs.pid)
    finally:
        for process in (ours, theirs):
            process.terminate()
            process.wait()
    print(f"idle, 100 files, {seconds:.0f} s (inotify):")
    print(f"  deadbeat run: {after[0] - before[0]:.3f} CPU-seconds   (target < 0.1)")
    print(f"  tail -F:      {after[1] - before[1]:.3f} CPU-seconds")


def latency(root: Path, samples: int) -> None:
    source = root / "lat.log"
    source.write_text("")
    outputs = {"deadbeat run": root / "lat-deadbeat.out", "tail -F": root / "lat-tail.out"}
    processes = [start_deadbeat(root, str(source), outputs["deadbeat run"]), start_tail([source], outputs["tail -F"])]
    try:
        wait_ready(outputs["deadbeat run"], source, "ready")
        wait_ready(outputs["tail -F"], source, "ready-tail")
        watcher = Inotify()
        wds = {watcher.add_watch(path, IN_MODIFY): name for name, path in outputs.items()}
        handles = {name: open(path, "rb") for name, path in outputs.items()}  # noqa: SIM115
        for handle in handles.values():
            handle.seek(0, os.SEEK_END)
        delays: dict[str, list[float]] = {name: [] for name in outputs}
        writer = os.open(source, os.O_WRONLY | os.O_APPEND)
        for _ in range(samples):
            os.write(writer, f"t {time.monotonic_ns()}\n".encode())
            pending = set(outputs)
            deadline = time.monotonic() + 2
            while pending and time.monotonic() < deadline:
                select.select([watcher.fileno()], [], [], 0.1)
                for event in watcher.read(timeout=0):
                    name = wds[event.wd]
                    now = time.monotonic_ns()
                    for line in handles[name].read().decode().splitlines():
                        if line.startswith("t "):
                            delays[name].append((now - int(line[2:])) / 1e6)
                            pending.discard(name)
            time.sleep(0.01)
        os.close(writer)
        watcher.close()
    finally:
        for process in processes:
            process.terminate()
            process.wait()
    print(f"latency, appended line to output file, {samples} lines 10 ms apart:")
    for name, values in delays.items():
        values.sort()
        p90 = values[int(len(values) * 0.9) - 1] if values else float("nan")
        print(f"  {name:<13} median {statistics.median(values):.3f} ms   p90 {p90:.3f} ms   ({len(values)} seen)")
    print("  target: deadbeat median < 1 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        latency(root, args.samples)
        idle(root, args.idle_seconds)


if __name__ == "__main__":
    main()
