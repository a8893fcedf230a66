"""JSON lines file to file: parse, change one field, format, write; Train against hand-written.

For each engine (orjson, then the standard library; the JSON cogs' ``engine``
parameter) the same input is processed, in this one process, alternately by:

* the Train: ``fs.read``-style tailer (plain lines) -> ``text.json_parse`` ->
  ``flow.set`` setting one field -> ``text.json_format`` -> ``fs.write``; the JSON
  cogs, ``flow.set`` and ``fs.write`` take whole lists (``call_batch``);
* the same Train with a plain Python function setting the field, called per datum
  (what an app author writes without looking for a cog);
* the Train as ``deadbeat run`` builds it from a pipeline file with every default:
  plain lines with their ``FILE:OFFSET`` event ids beside them, each parsed
  object formatted back into a line;
* the hand-written loop: ``for line in src: d = loads(line); d[...] = ...;
  dst.write(dumps(d))`` (for the standard library, with an encoder and a decoder
  made once, as a careful author would).

Run: ``python bench/text_json_lines.py [--lines N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from deadbeat import flow, fs, movement, text


def make_input(path: Path, lines: int) -> None:
    rng = random.Random(9)
    with open(path, "w") as handle:
        for i in range(lines):
            event = {
                "id": i,
                "time": f"2026-11-27T20:{i % 60:02d}:00Z",
                "src": f"192.0.2.{rng.randint(1, 254)}",
                "action": rng.choice(["login", "logout", "download"]),
                "user": rng.choice(["alice", "bob", "carol"]),
                "bytes": rng.randint(0, 100000),
            }
            handle.write(json.dumps(event) + "\n")


def mark(data: dict[str, Any]) -> tuple[dict[str, Any]]:
    data["seen"] = True
    return (data,)


def through_train(src: Path, dst: Path, setter: Any, engine: Any) -> int:
    esc = movement.Escapement()
    train = movement.Train(esc)
    supply = fs.FileWatcherSupply(esc, [str(src)], tail=False, line_setter=None, id_setter=None)
    train.cogs = [
        supply,
        text.JSONParse(engine=engine),
        setter,
        text.JSONFormat(target=None, engine=engine),
        fs.LineFileDrain(esc, str(dst)),
    ]
    try:
        esc.run()
    finally:
        esc.close()
    return train.events_out


def through_default_train(src: Path, dst: Path, engine: Any) -> int:
    esc = movement.Escapement()
    train = movement.Train(esc)
    supply = fs.FileWatcherSupply(esc, [str(src)], tail=False)
    setter = flow.SetFields({"seen": True})
    train.cogs = [
        supply,
        text.JSONParse(engine=engine),
        setter,
        text.JSONFormat(engine=engine),
        fs.LineFileDrain(esc, str(dst)),
    ]
    try:
        esc.run()
    finally:
        esc.close()
    return train.events_out


def hand_orjson(src: Path, dst: Path) -> None:
    loads, dumps = orjson.loads, orjson.dumps
    with open(src, "rb") as source, open(dst, "wb") as target:
        for line in source:
            data = loads(line)
            data["seen"] = True
            target.write(dumps(data) + b"\n")


def hand_stdlib(src: Path, dst: Path) -> None:
    # Encoder and decoder made once: json.dumps with options builds an encoder
    # per call, which would flatter the Train.
    loads = json.JSONDecoder().decode
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    with open(src) as source, open(dst, "w") as target:
        for line in source:
            data = loads(line)
            data["seen"] = True
            target.write(dumps(data) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src, dst = root / "in.jsonl", root / "out.jsonl"
        make_input(src, args.lines)
        for engine, label, hand in (("orjson", "orjson", hand_orjson), ("json", "stdlib json", hand_stdlib)):
            rates: dict[str, list[float]] = {"hand": [], "flow.set": [], "function": [], "defaults": []}
            for _ in range(args.rounds):
                for side in rates:
                    start = time.perf_counter()
                    if side == "hand":
                        hand(src, dst)
                    elif side == "defaults":
                        assert through_default_train(src, dst, engine) == args.lines
                    else:
                        setter = flow.SetFields({"seen": True}) if side == "flow.set" else mark
                        assert through_train(src, dst, setter, engine) == args.lines
                    rates[side].append(args.lines / (time.perf_counter() - start))
                    dst.unlink()
            handmade = statistics.median(rates["hand"])
            print(f"{label}: hand-written loop {handmade:>10,.0f} events/s")
            labels = {
                "flow.set": "train, str lines, flow.set:",
                "function": "train, str lines, function:",
                "defaults": "train, dict + id (defaults):",
            }
            for side, label in labels.items():
                train = statistics.median(rates[side])
                per_round = statistics.median(t / h for t, h in zip(rates[side], rates["hand"], strict=True))
                print(
                    f"  {label:29s} {train:>10,.0f} events/s   "
                    f"ratio {train / handmade:.1%}   (median of per-round ratios {per_round:.1%})"
                )
        print(
            "targets with orjson: train (str lines, flow.set) >= 500,000 events/s and >= 70% of the hand-written loop"
        )


if __name__ == "__main__":
    main()
