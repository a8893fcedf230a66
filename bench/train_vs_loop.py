"""Train overhead: five trivial cogs through a Train versus a hand-written loop.

Both sides run the same five cogs with the same semantics (each cog returns an
iterable; the hand-written side is the nest of ``for`` loops a person would write)
over the same events, in this one process, alternating, several rounds. The Train
side is fed the way a real supply feeds it: a callback bound to the Escapement
returns batches, and the loop runs until the supply has nothing left.

Run: ``python bench/train_vs_loop.py [--events N] [--rounds R] [--batch B]``.
Each round runs N events through each side, alternating in slices, pinned to one
core. Prints events/s of each side per round, then medians and the ratio.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from typing import Any

from deadbeat import movement


def stamp(data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    data["seen"] = True
    return (data,)


def count(data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    data["n"] += 1
    return (data,)


def passthrough(data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    return (data,)


def copy_field(data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    data["m"] = data["n"]
    return (data,)


class Sink(movement.Cog):
    """The last cog: counts what reaches it."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        self.seen += 1
        return (data,)


class ListSupply(movement.Supply):
    """Hands out pre-built events in batches from an immediate callback."""

    def __init__(self, esc: movement.Escapement, events: list[dict[str, Any]], batch: int) -> None:
        self.esc = esc
        self.events = events
        self.batch = batch
        self._pos = 0
        esc.enqueue(self.produce)

    def produce(self) -> list[dict[str, Any]]:
        chunk = self.events[self._pos : self._pos + self.batch]
        self._pos += self.batch
        if self._pos < len(self.events):
            self.esc.enqueue(self.produce)
        return chunk


def make_events(n: int) -> list[dict[str, Any]]:
    return [{"id": i, "n": 0} for i in range(n)]


def hand_written(events: list[dict[str, Any]], sink: Sink) -> None:
    for d0 in events:
        for d1 in stamp(d0):
            for d2 in count(d1):
                for d3 in passthrough(d2):
                    for d4 in copy_field(d3):
                        for _ in sink(d4):
                            pass


def through_train(events: list[dict[str, Any]], sink: Sink, batch: int) -> None:
    esc = movement.Escapement()
    train = movement.Train(esc)
    supply = ListSupply(esc, events, batch)
    train.cogs = [supply, stamp, count, passthrough, copy_field, sink]
    try:
        esc.run()
    finally:
        esc.close()
    assert train.events_in == len(events), (train.events_in, len(events))


def settle() -> None:
    """Move the freshly built events out of the collector's view.

    A million live dicts make every full collection expensive, and when one
    lands inside a timed section is luck; frozen, neither side pays for it.
    """
    gc.collect()
    gc.freeze()


def timed(work: Any, *args: Any) -> float:
    settle()
    start = time.perf_counter()
    work(*args)
    elapsed = time.perf_counter() - start
    gc.unfreeze()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--slices", type=int, default=10, help="alternations per round")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core (default: the last one)")
    args = parser.parse_args()
    # One core, as the target says; the last one, away from most interrupts.
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    per_slice = args.events // args.slices
    train_rates, loop_rates = [], []
    for round_no in range(1, args.rounds + 1):
        # The two sides alternate in slices, so that a slow moment of a shared
        # machine falls on both rather than on whichever ran then.
        train_time = loop_time = 0.0
        for _ in range(args.slices):
            sink = Sink()
            loop_time += timed(hand_written, make_events(per_slice), sink)
            assert sink.seen == per_slice
            sink = Sink()
            train_time += timed(through_train, make_events(per_slice), sink, args.batch)
            assert sink.seen == per_slice
        total = per_slice * args.slices
        train_rates.append(total / train_time)
        loop_rates.append(total / loop_time)
        print(
            f"round {round_no}: train {train_rates[-1]:>12,.0f} ev/s   "
            f"hand-written {loop_rates[-1]:>12,.0f} ev/s   ratio {train_rates[-1] / loop_rates[-1]:.1%}"
        )
    train_median = statistics.median(train_rates)
    loop_median = statistics.median(loop_rates)
    ratios = [t / h for t, h in zip(train_rates, loop_rates, strict=True)]
    print(
        f"events: {per_slice * args.slices:,} per side per round, {args.rounds} rounds, batch {args.batch}, cpu {cpu}"
    )
    print(f"median train:        {train_median:>12,.0f} events/s")
    print(f"median hand-written: {loop_median:>12,.0f} events/s")
    print(f"ratio (train / hand-written): {train_median / loop_median:.1%}  (target >= 90%)")
    print(f"median of the per-round ratios: {statistics.median(ratios):.1%}")


if __name__ == "__main__":
    main()
