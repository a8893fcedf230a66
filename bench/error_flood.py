"""A flood of bad lines: what failing data cost, beside good data and a hand-written loop.

A line someone else writes can be garbage, and a flood of garbage must not slow
a pipeline to a crawl (nor hide the good lines among it). One invocation makes
N JSON lines of which a share (``--bad``, by default all of them and a tenth)
are not JSON, and runs, each as its own process:

* ``loop``: the hand-written loop ``for line in src: try: d = orjson.loads(line)
  ... except orjson.JSONDecodeError as e: errors.write(<a JSON record of the
  file, offset, error and line>)``, writing good lines back as JSON lines;
* ``deadbeat run``: ``fs.read`` -> ``text.json_parse`` -> ``text.json_format``
  -> ``fs.write``, with ``[[errors]]`` ``text.json_format`` -> ``fs.write``
  (every failed line becomes a JSON error record naming its event id, the cog
  and the error);
* ``deadbeat run, no [[errors]]``: the same without ``[[errors]]``: each failed
  line is a dead-letter log line on standard error (sent to /dev/null here).

Each output is checked: the good lines in ``out``, one error record (or dead
letter) per bad line. Events/s is N over the wall time of the process, start-up
included; rounds rotate the order, and the table shows medians and the ratio to
the loop at the same mix.

Run: ``.venv/bin/python bench/error_flood.py [--events N] [--rounds R] [--bad F ...]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

LOOP = """
import sys, orjson
source, out, errors = sys.argv[1:4]
with open(source, "rb") as src, open(out, "wb") as good, open(errors, "wb") as bad:
    offset = 0
    for raw in src:
        line = raw.rstrip(b"\\n")
        try:
            datum = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            record = {"event_id": f"{source}:{offset}", "cog": "json", "error": f"ValueError: {exc}",
                      "datum": line.decode("utf-8", "replace")}
            bad.write(orjson.dumps(record) + b"\\n")
        else:
            good.write(orjson.dumps(datum) + b"\\n")
        offset += len(raw)
"""

PIPELINE = """
[[cog]]
use = "fs.read"
filenames = ["{source}"]
[[cog]]
use = "text.json_parse"
[[cog]]
use = "text.json_format"
[[cog]]
use = "fs.write"
filename = "{out}"
"""

ERRORS = """
[[errors]]
use = "text.json_format"
[[errors]]
use = "fs.write"
filename = "{errors}"
"""


def make_input(path: Path, events: int, bad_share: float) -> int:
    """:returns: how many lines are bad (evenly spread: every k-th line)."""
    bad = 0
    every = 0 if bad_share <= 0 else max(1, round(1 / bad_share))
    with path.open("w") as out:
        for i in range(events):
            if every and i % every == 0:
                out.write(f'{{"n": {i}, "user": "u{i % 97}", broken\n')
                bad += 1
            else:
                out.write(f'{{"n": {i}, "user": "u{i % 97}", "msg": "all well"}}\n')
    return bad


def run(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as file:
        return sum(1 for _ in file)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bad", type=float, nargs="+", default=[1.0, 0.1])
    args = parser.parse_args()
    deadbeat = str(Path(sys.executable).with_name("deadbeat"))
    failed = False
    with tempfile.TemporaryDirectory(prefix="deadbeat-flood-") as scratch:
        work = Path(scratch)
        for share in args.bad:
            source = work / f"in-{share}.jsonl"
            bad = make_input(source, args.events, share)
            out, errors = work / "out.jsonl", work / "errors.jsonl"
            with_errors = work / "with-errors.toml"
            with_errors.write_text(textwrap.dedent(PIPELINE + ERRORS).format(source=source, out=out, errors=errors))
            dead_letter = work / "dead-letter.toml"
            dead_letter.write_text(textwrap.dedent(PIPELINE).format(source=source, out=out))
            loop = work / "loop.py"
            loop.write_text(LOOP)
            contenders = {
                "loop": [sys.executable, str(loop), str(source), str(out), str(errors)],
                "deadbeat run": [deadbeat, "run", str(with_errors), "--once", "--quiet"],
                "deadbeat run, no [[errors]]": [deadbeat, "run", str(dead_letter), "--once", "--quiet"],
            }
            times: dict[str, list[float]] = {name: [] for name in contenders}
            names = list(contenders)
            for round_number in range(args.rounds):
                order = names[round_number % len(names) :] + names[: round_number % len(names)]
                for name in order:
                    for path in (out, errors):
                        if path.exists():
                            os.unlink(path)
                    times[name].append(run(contenders[name]))
                    good_out = lines(out)
                    error_out = lines(errors)
                    expected_errors = 0 if name.endswith("no [[errors]]") else bad
                    if good_out != args.events - bad or error_out != expected_errors:
                        print(
                            f"MISMATCH {name}: out {good_out} (expected {args.events - bad}),"
                            f" error records {error_out} (expected {expected_errors})"
                        )
                        failed = True
            print(f"{args.events:,} lines, {bad:,} of them bad ({share:.0%}); medians of {args.rounds} rounds:")
            base = args.events / statistics.median(times["loop"])
            for name in names:
                rate = args.events / statistics.median(times[name])
                print(f"  {name:<30} {rate:>12,.0f} events/s   ratio to the loop {rate / base:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
