"""Tailing 10,000 files of which 1% are written to: CPU while idle and while active, and latency.

``deadbeat run`` (``fs.tail`` on a glob into ``fs.write``, with a state file,
default ``close_inactive`` and ``max_open_files``) beside GNU ``tail -F`` on the
same files, as the baseline, run side by side:

* idle: nothing is written for ``--idle-seconds``; CPU seconds per second of
  each process (from /proc);
* active: a line holding the monotonic clock is appended every 10 ms to one of
  100 files (1%), in turn; the bench watches the output files with inotify and
  takes, per line, the time until it is there (median and 90th percentile),
  and the CPU per second of each process meanwhile.

Run: ``python bench/fs_many_files.py [--files N] [--idle-seconds S] [--samples N]``
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
    config = root / "pipeline.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [log]
            level = "warning"
            [[cog]]
            use = "fs.tail"
            filenames = ["{pattern}"]
            state_file = "{root / "state" / "positions.json"}"
            [[cog]]
            use = "fs.write"
            filename = "{output}"
            state_file = "{root / "state" / "positions.json"}"
            """
        )
    )
    return subprocess.Popen([sys.executable, "-m", "deadbeat.command", "run", str(config), "--quiet"])


def start_tail(files: list[Path], output: Path) -> subprocess.Popen[bytes]:
    handle = open(output, "wb")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(["tail", "-q", "-n0", "-F", *map(str, files)], stdout=handle, stderr=subprocess.DEVNULL)


def wait_ready(output: Path, probe: Path, token: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with open(probe, "a") as handle:
            handle.write(f"{token}\n")
        time.sleep(0.3)
        if output.exists() and token in output.read_text():
            return
    raise SystemExit(f"{output} never showed {token}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        logs = root / "logs"
        logs.mkdir()
        files = [logs / f"f{n:05d}.log" for n in range(args.files)]
        for path in files:
            path.write_text("")
        active = files[:: max(1, args.files // 100)][:100]
        outputs = {"deadbeat run": root / "deadbeat.out", "tail -F": root / "tail.out"}
        processes = {
            "deadbeat run": start_deadbeat(root, str(logs / "*.log"), outputs["deadbeat run"]),
            "tail -F": start_tail(files, outputs["tail -F"]),
        }
        try:
            started = time.monotonic()
            wait_ready(outputs["deadbeat run"], active[0], "ready")
            wait_ready(outputs["tail -F"], active[1], "ready-tail")
            ready = time.monotonic() - started
            print(f"{args.files} files, {len(active)} of them written to; both ready after {ready:.1f} s")
            time.sleep(2)

            before = {name: cpu_seconds(p.pid) for name, p in processes.items()}
            time.sleep(args.idle_seconds)
            idle = {name: (cpu_seconds(p.pid) - before[name]) / args.idle_seconds for name, p in processes.items()}

            watcher = Inotify()
            wds = {watcher.add_watch(path, IN_MODIFY): name for name, path in outputs.items()}
            handles = {name: open(path, "rb") for name, path in outputs.items()}  # noqa: SIM115
            for handle in handles.values():
                handle.seek(0, os.SEEK_END)
            delays: dict[str, list[float]] = {name: [] for name in outputs}
            writers = [os.open(path, os.O_WRONLY | os.O_APPEND) for path in active]
            before = {name: cpu_seconds(p.pid) for name, p in processes.items()}
            active_started = time.monotonic()
            for n in range(args.samples):
                os.write(writers[n % len(writers)], f"t {time.monotonic_ns()}\n".encode())
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
            active_seconds = time.monotonic() - active_started
            busy = {name: (cpu_seconds(p.pid) - before[name]) / active_seconds for name, p in processes.items()}
            for fd in writers:
                os.close(fd)
            watcher.close()
        finally:
            for process in processes.values():
                process.terminate()
                process.wait()
    print(f"idle, {args.idle_seconds:.0f} s, CPU seconds per second:")
    for name, value in idle.items():
        print(f"  {name:<13} {value:.5f}")
    if idle["tail -F"] > 0:
        print(f"  ratio deadbeat / tail -F: {idle['deadbeat run'] / idle['tail -F']:.2f}x")
    else:
        # /proc counts in clock ticks (10 ms): nothing counted is less than one tick in the whole time.
        print(f"  ratio: n/a (tail -F used less than one clock tick; both < {1 / TICKS / args.idle_seconds:.5f})")
    print(f"active, {args.samples} lines 10 ms apart over {len(active)} files:")
    for name, values in delays.items():
        values.sort()
        p90 = values[int(len(values) * 0.9) - 1] if values else float("nan")
        median = statistics.median(values) if values else float("nan")
        print(
            f"  {name:<13} latency median {median:.3f} ms   p90 {p90:.3f} ms   ({len(values)} seen)"
            f"   CPU {busy[name]:.4f} s/s"
        )
    ours, theirs = (statistics.median(delays[n]) for n in outputs) if all(delays.values()) else (0.0, 0.0)
    print(f"  ratio of median latencies deadbeat / tail -F: {ours / max(theirs, 1e-9):.2f}x")
    print(f"  ratio of CPU deadbeat / tail -F: {busy['deadbeat run'] / max(busy['tail -F'], 1e-9):.2f}x")


if __name__ == "__main__":
    main()
