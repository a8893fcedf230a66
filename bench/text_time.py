"""Timestamps: ``time.parse`` in a Train against the hand-written ``datetime``/``zoneinfo`` loop.

One invocation makes N data (500,000 by default) with a zone-less local time
in ``Europe/Prague``, in two formats, and converts them to UTC ISO 8601,
alternately, round after round:

* ``iso``: ``2026-11-27 19:50:00.123`` (``formats = ["iso8601"]``); the hand
  loop is ``datetime.fromisoformat(v).replace(tzinfo=zone).astimezone(utc)``;
* ``strptime``: ``27.11.2026 19:50:00`` (``formats = ["%d.%m.%Y %H:%M:%S"]``);
  the hand loop is ``datetime.strptime`` then the same.

``train`` is a real Train on a real Escapement with ``time.parse``
(``timezone = "Europe/Prague"``) and a last cog that counts, sent lists of
2,048 (``call_batch``). The hand loop writes the field back as the cog does. It
does not look for times that summer time skipped or repeated (a user's loop
seldom does; ``time.parse`` always does), and the data hold none, so both give
the same results, compared on the first 20,000 before timing. Timestamps
advance by one second every ``--per-second`` data (20 by default). Figures are
medians over the rounds, events/s and the ratio to ``hand``.

Run: ``.venv/bin/python bench/text_time.py [--events N] [--rounds R] [--per-second K]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import statistics
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from deadbeat import movement, text

LIST_SIZE = 2048
ZONE = ZoneInfo("Europe/Prague")
UTC = dt.timezone.utc
FORMATS = {"iso": ("iso8601", None), "strptime": ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S")}


def make_data(count: int, per_second: int, kind: str) -> list[dict[str, Any]]:
    start = dt.datetime(2026, 11, 27, 8, 0)
    out = []
    for i in range(count):
        moment = start + dt.timedelta(seconds=i // per_second, milliseconds=(i * 37) % 1000 if kind == "iso" else 0)
        if kind == "iso":
            out.append({"ts": moment.isoformat(sep=" ", timespec="milliseconds")})
        else:
            out.append({"ts": moment.strftime("%d.%m.%Y %H:%M:%S")})
    return out


def to_utc(moment: dt.datetime) -> str:
    utc = moment.replace(tzinfo=ZONE).astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if utc.microsecond else "%Y-%m-%dT%H:%M:%SZ")


def hand_loop(pattern: str | None) -> Callable[[list[dict[str, Any]]], int]:
    read: Callable[[str], dt.datetime] = (
        dt.datetime.fromisoformat if pattern is None else lambda v: dt.datetime.strptime(v, pattern)
    )

    def run(data: list[dict[str, Any]]) -> int:
        for datum in data:
            datum["out"] = to_utc(read(datum["ts"]))
        return len(data)

    return run


class Count(movement.Cog):
    """The last cog: counts what arrives."""

    one_to_one = True

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, data: Any) -> tuple[Any, ...]:
        self.count += 1
        return ()

    def call_batch(self, data: list[Any]) -> list[Any]:
        self.count += len(data)
        return []


def cog(name: str) -> text.TimeParse:
    return text.TimeParse(fields="ts", formats=[name], timezone="Europe/Prague", target="out")


def through_train(data: list[dict[str, Any]], name: str) -> int:
    esc = movement.Escapement()
    try:
        count = Count()
        train = movement.Train(esc, [cog(name), count])
        for start in range(0, len(data), LIST_SIZE):
            train.send(None, data[start : start + LIST_SIZE])
        return count.count
    finally:
        esc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-second", type=int, default=20)
    args = parser.parse_args()
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    for kind, (name, pattern) in FORMATS.items():
        data = make_data(args.events, args.per_second, kind)
        hand = hand_loop(pattern)
        theirs = [dict(d) for d in data[:20_000]]
        hand(theirs)
        ours = cog(name).call_batch([dict(d) for d in data[:20_000]])
        if ours != theirs:
            wrong = next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b)
            raise SystemExit(f"{kind} differs at {wrong}: ours {ours[wrong]} theirs {theirs[wrong]}")
        contenders: dict[str, Callable[[], int]] = {
            "train": functools.partial(through_train, data, name),
            "hand": functools.partial(hand, data),
        }
        rates: dict[str, list[float]] = {n: [] for n in contenders}
        names = list(contenders)
        for round_number in range(args.rounds):
            order = names[round_number % len(names) :] + names[: round_number % len(names)]
            for n in order:
                start = time.perf_counter()
                assert contenders[n]() == len(data)
                rates[n].append(len(data) / (time.perf_counter() - start))
        hand_median = statistics.median(rates["hand"])
        print(
            f"{kind} ({name}): {len(data):,} events, {args.per_second} per second of timestamps, {args.rounds} rounds"
        )
        for n in names:
            median = statistics.median(rates[n])
            per_round = statistics.median(r / h for r, h in zip(rates[n], rates["hand"], strict=True))
            print(
                f"  {n:6s} {median:>10,.0f} events/s   ratio to hand {median / hand_median:6.2f}"
                f"   (median of per-round ratios {per_round:.2f})"
            )
    print("target: train >= 0.7 of the hand-written loop")


if __name__ == "__main__":
    main()
