"""File to file: the tailer and the file output against ``for line in src: dst.write(line)``.

The same input (200-byte lines) is copied, in this one process, alternately by:

* the hand-written loop: ``for line in src: dst.write(line)``;
* Deadbeat, lines as plain strings (the default: ``fs.tail`` keeps each
  line's ``FILE:OFFSET`` id beside it, in the batch) into ``fs.write``,
  positions and the output offset persisted in a shared state file (saved at
  most every second and at the end);
* Deadbeat, dict data: each line a dict holding the line and its ``FILE:OFFSET``
  id (``line_setter="line"``, ``id_setter="id"``, the original manual's
  shape), same state.

No transformation in between. Prints lines/s of each per round, the medians and
the ratios, the median of the ratios taken round by round (steadier when the
machine's speed changes between rounds), and each contender's median count of
page faults per run (see "Memory" in docs/production.rst).

Run: ``python bench/fs_file_to_file.py [--lines N] [--rounds R] [--dir DIR]``
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import string
import tempfile
import time
from pathlib import Path
from typing import Any

from deadbeat import fs, movement


def make_input(path: Path, lines: int) -> None:
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits
    block = [f"{i:09d} " + "".join(rng.choices(alphabet, k=189)) + "\n" for i in range(1000)]
    with open(path, "w") as handle:
        for start in range(0, lines, 1000):
            handle.writelines(block[: min(1000, lines - start)])


def hand_written(src_path: Path, dst_path: Path) -> None:
    with open(src_path) as src, open(dst_path, "w") as dst:
        for line in src:
            dst.write(line)


def deadbeat(src_path: Path, dst_path: Path, state: Path, **setters: Any) -> int:
    esc = movement.Escapement()
    train = movement.Train(esc)
    supply = fs.FileWatcherSupply(esc, [str(src_path)], tail=False, state_file=str(state), **setters)
    drain = fs.LineFileDrain(esc, str(dst_path), state_file=str(state))
    train.cogs = [supply, drain]
    try:
        esc.run()
    finally:
        esc.close()
    return train.events_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to put the files (default: a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        src = root / "in.log"
        make_input(src, args.lines)
        size = src.stat().st_size
        rates: dict[str, list[float]] = {"hand-written": [], "deadbeat (str lines)": [], "deadbeat (dict + id)": []}
        targets = {"deadbeat (str lines)": 0.7, "deadbeat (dict + id)": 0.5}
        faults: dict[str, list[int]] = {name: [] for name in rates}
        for round_no in range(1, args.rounds + 1):
            for name in rates:
                dst, state = root / "out.log", root / "state.json"
                for leftover in (dst, state):
                    if leftover.exists():
                        leftover.unlink()
                faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                start = time.perf_counter()
                if name == "hand-written":
                    hand_written(src, dst)
                elif name == "deadbeat (str lines)":
                    assert deadbeat(src, dst, state) == args.lines
                else:
                    assert deadbeat(src, dst, state, line_setter="line", id_setter="id") == args.lines
                rates[name].append(args.lines / (time.perf_counter() - start))
                faults[name].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before)
                assert dst.stat().st_size == size, f"{name}: output differs in size"
            print(f"round {round_no}: " + "   ".join(f"{n} {r[-1]:>11,.0f}" for n, r in rates.items()))
            os.sync()
        medians = {name: statistics.median(r) for name, r in rates.items()}
        base = medians["hand-written"]
        print(f"{args.lines:,} lines of 200 bytes, {args.rounds} rounds, medians:")
        for name, rate in medians.items():
            target = f"   (target >= {targets[name]:.0%})" if name in targets else ""
            by_round = statistics.median(r / b for r, b in zip(rates[name], rates["hand-written"], strict=True))
            print(
                f"  {name:<22} {rate:>11,.0f} lines/s   {rate / base:6.1%} of hand-written"
                f"   (round by round {by_round:6.1%}; {statistics.median(faults[name]):,.0f} page faults){target}"
            )
        print("target: deadbeat >= 700,000 lines/s with positions persisted")


if __name__ == "__main__":
    main()
