"""Metrics overhead: the train benchmark's train with and without per-cog metrics.

The train of ``bench/train_vs_loop.py`` (a supply and five trivial cogs, fed in
batches from a callback bound to the Escapement) runs twice over the same events,
alternating in slices in one process pinned to one core: once as it is, once with
``train.measure = "stages"`` (what ``deadbeat run --metrics-port`` and ``--stats``
turn on; ``--measure cogs`` for the per-cog counting),
read by :func:`deadbeat.metrics.snapshot` after each slice as a scrape would.
The cogs do almost nothing, so this is the worst case: the counting is all
there is besides the calls.

Run: ``python bench/metrics_overhead.py [--events N] [--rounds R] [--batch B]``.
Prints events/s of each side per round, the medians and their ratio (target >= 0.95).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_vs_loop import ListSupply, Sink, copy_field, count, make_events, passthrough, stamp, timed  # noqa: E402

from deadbeat import metrics, movement  # noqa: E402


def through_train(events: list[dict[str, Any]], sink: Sink, batch: int, measure: str) -> None:
    esc = movement.Escapement()
    train = movement.Train(esc)
    supply = ListSupply(esc, events, batch)
    train.cogs = [supply, stamp, count, passthrough, copy_field, sink]
    train.measure = measure
    try:
        esc.run()
    finally:
        esc.close()
    assert train.events_in == len(events), (train.events_in, len(events))
    if measure != "off":
        shot = metrics.snapshot([train])
        assert shot.trains[0].cogs[1].data_in == len(events), shot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--slices", type=int, default=10, help="alternations per round")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core (default: the last one)")
    parser.add_argument(
        "--measure", choices=("stages", "cogs"), default="stages", help="what the measured side counts (train.measure)"
    )
    args = parser.parse_args()
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    per_slice = args.events // args.slices
    plain_rates, measured_rates = [], []
    for round_no in range(1, args.rounds + 1):
        # Alternating in slices: a slow moment of the shared machine falls on both.
        # Which side goes first alternates too: the second of a pair runs with
        # the first's garbage and cache state, and must not always be the same side.
        times = {"off": 0.0, args.measure: 0.0}
        for number in range(args.slices):
            order = ["off", args.measure] if number % 2 == 0 else [args.measure, "off"]
            for mode in order:
                sink = Sink()
                times[mode] += timed(through_train, make_events(per_slice), sink, args.batch, mode)
                assert sink.seen == per_slice
        plain_time, measured_time = times["off"], times[args.measure]
        total = per_slice * args.slices
        plain_rates.append(total / plain_time)
        measured_rates.append(total / measured_time)
        print(
            f"round {round_no}: without metrics {plain_rates[-1]:>12,.0f} ev/s   "
            f"with metrics {measured_rates[-1]:>12,.0f} ev/s   ratio {measured_rates[-1] / plain_rates[-1]:.3f}"
        )
    plain = statistics.median(plain_rates)
    measured = statistics.median(measured_rates)
    ratios = [m / p for m, p in zip(measured_rates, plain_rates, strict=True)]
    print(
        f"events: {per_slice * args.slices:,} per side per round, {args.rounds} rounds,"
        f" batch {args.batch}, cpu {cpu}, measure {args.measure}"
    )
    print(f"median without metrics: {plain:>12,.0f} events/s")
    print(f"median with metrics:    {measured:>12,.0f} events/s")
    print(f"ratio (with / without): {measured / plain:.3f}  (target >= 0.95)")
    print(f"median of the per-round ratios: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
