"""Routing to 3 outputs and a default: a Train ending in a Router versus a hand-written if/elif loop.

Both sides take the same events (mappings with ``severity``, ``facility`` and
``host``) and send each to one of four outputs: alerts (``severity >= 5``), auth
(``facility == "auth"``), db (``host`` starting with ``db``), or the default.
Each output is the same counting cog on both sides, of two kinds: one called
per datum (as a Python output is), and one taking whole lists (as
``fs.write`` and ``text.json_format`` do, with ``call_batch``).

* hand-written: ``if``/``elif`` on the fields, calling the outputs per datum;
  for outputs taking lists, the same ``if``/``elif`` collects each batch's data
  into one list per output and hands each list over once.
* hand-written, functions: the same loops calling the condition functions the
  API side is given, as a user holding those functions writes them: the
  baseline of the routed functions (beside the inline loop too, for
  information: a Python call per test is what opaque functions cost anyone).
* routed: a supply's batches through a built Train (built before the clock
  starts, as a daemon builds it once) whose last cog is a
  :class:`deadbeat.routing.Router`, each route a train of its own holding its
  output, acknowledged as ``deadbeat run`` does. Conditions two ways: the
  filter expressions a pipeline file writes (``when = "severity >= 5"``), and
  Python functions of the datum (the API's ``Route(when=lambda d: ...)``).

Run: ``python bench/route.py [--events N] [--rounds R] [--batch B]``. The sides
alternate in slices within each round, pinned to one core; prints events/s per
round, the medians and the ratios routed / hand-written.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import time
from typing import Any

from deadbeat import movement, routing

EXPRESSIONS = ("severity >= 5", 'facility == "auth"', 'startswith(host, "db")')
FUNCTIONS = (
    lambda d: d["severity"] >= 5,
    lambda d: d["facility"] == "auth",
    lambda d: d["host"].startswith("db"),
)


class Sink(movement.Cog):
    """An output: counts what reaches it."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, data: Any) -> None:
        self.seen += 1


class ListSink(Sink):
    """An output taking whole lists: counts them."""

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Count a list at once."""
        self.seen += len(data)
        return []


class ListSupply(movement.Supply):
    """Hands out pre-built events in batches (with ids) from an immediate callback."""

    def __init__(self, esc: movement.Escapement, events: list[dict[str, Any]], batch: int) -> None:
        self.esc = esc
        self.events = events
        self.batch = batch
        self._pos = 0
        self.acknowledged = 0
        esc.enqueue(self.produce)

    def produce(self) -> movement.Batch:
        start = self._pos
        chunk = self.events[start : start + self.batch]
        self._pos += self.batch
        if self._pos < len(self.events):
            self.esc.enqueue(self.produce)
        return movement.Batch(chunk, start)

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        self.acknowledged += 1


def make_events(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    facilities = ["auth", "daemon", "kern", "local0", "cron"]
    hosts = ["web1", "web2", "db1", "db2", "cache1"]
    return [
        {"id": i, "severity": rng.randrange(8), "facility": rng.choice(facilities), "host": rng.choice(hosts)}
        for i in range(n)
    ]


def hand_written(events: list[dict[str, Any]], sinks: list[Sink]) -> None:
    alerts, auth, db, other = sinks
    for d in events:
        if d["severity"] >= 5:
            alerts(d)
        elif d["facility"] == "auth":
            auth(d)
        elif d["host"].startswith("db"):
            db(d)
        else:
            other(d)


def hand_written_lists(events: list[dict[str, Any]], sinks: list[Sink], batch: int) -> None:
    alerts, auth, db, other = sinks
    for start in range(0, len(events), batch):
        lists: list[list[dict[str, Any]]] = [[], [], [], []]
        to_alerts, to_auth, to_db, to_other = (each.append for each in lists)
        for d in events[start : start + batch]:
            if d["severity"] >= 5:
                to_alerts(d)
            elif d["facility"] == "auth":
                to_auth(d)
            elif d["host"].startswith("db"):
                to_db(d)
            else:
                to_other(d)
        for sink, data in zip(sinks, lists, strict=True):
            if data:
                sink.call_batch(data)  # type: ignore[attr-defined]


def hand_written_calls(events: list[dict[str, Any]], sinks: list[Sink]) -> None:
    """The if/elif a user of the API writes with the same condition functions, per datum."""
    alerts, auth, db, other = sinks
    is_alert, is_auth, is_db = FUNCTIONS
    for d in events:
        if is_alert(d):
            alerts(d)
        elif is_auth(d):
            auth(d)
        elif is_db(d):
            db(d)
        else:
            other(d)


def hand_written_calls_lists(events: list[dict[str, Any]], sinks: list[Sink], batch: int) -> None:
    """The same, collecting one list per output per batch."""
    is_alert, is_auth, is_db = FUNCTIONS
    for start in range(0, len(events), batch):
        lists: list[list[dict[str, Any]]] = [[], [], [], []]
        to_alerts, to_auth, to_db, to_other = (each.append for each in lists)
        for d in events[start : start + batch]:
            if is_alert(d):
                to_alerts(d)
            elif is_auth(d):
                to_auth(d)
            elif is_db(d):
                to_db(d)
            else:
                to_other(d)
        for sink, data in zip(sinks, lists, strict=True):
            if data:
                sink.call_batch(data)  # type: ignore[attr-defined]


def routed(events: list[dict[str, Any]], sinks: list[Sink], batch: int, conditions: tuple[Any, ...]) -> Any:
    """Build the pipeline (not timed: a daemon builds it once); :returns: what runs it to the end."""
    esc = movement.Escapement()
    train = movement.Train(esc)
    names = ("alerts", "auth", "db")
    routes = [routing.Route(n, c, [s], esc=esc) for n, c, s in zip(names, conditions, sinks, strict=False)]
    routes.append(routing.Route("other", None, [sinks[3]], esc=esc))
    supply = ListSupply(esc, events, batch)
    train.cogs = [supply, routing.Router(train, routes)]

    def run() -> None:
        try:
            esc.run()
        finally:
            esc.close()
        assert train.events_in == len(events) and train.in_flight == 0
        assert supply.acknowledged == -(-len(events) // batch)

    return run


def timed(work: Any, *args: Any) -> float:
    # Frozen out of the collector's view: a full collection landing in one
    # side's timed section would be luck, not routing.
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    work(*args)
    elapsed = time.perf_counter() - start
    gc.unfreeze()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--slices", type=int, default=5, help="alternations per round")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core (default: the last one)")
    args = parser.parse_args()
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    per_slice = args.events // args.slices
    events = make_events(per_slice)
    kinds = {"per datum": Sink, "per list": ListSink}
    sides = ("hand-written", "routed, expressions", "hand-written, functions", "routed, functions")
    rates: dict[tuple[str, str], list[float]] = {(kind, side): [] for kind in kinds for side in sides}
    reference: list[int] | None = None
    for round_no in range(1, args.rounds + 1):
        spent = dict.fromkeys(rates, 0.0)
        for _ in range(args.slices):
            for kind, side in rates:
                sinks = [kinds[kind]() for _ in range(4)]
                if side == "hand-written" and kind == "per datum":
                    spent[kind, side] += timed(hand_written, events, sinks)
                elif side == "hand-written":
                    spent[kind, side] += timed(hand_written_lists, events, sinks, args.batch)
                elif side == "hand-written, functions" and kind == "per datum":
                    spent[kind, side] += timed(hand_written_calls, events, sinks)
                elif side == "hand-written, functions":
                    spent[kind, side] += timed(hand_written_calls_lists, events, sinks, args.batch)
                else:
                    conditions = EXPRESSIONS if side.endswith("expressions") else FUNCTIONS
                    spent[kind, side] += timed(routed(events, sinks, args.batch, conditions))
                counts = [s.seen for s in sinks]
                # Every side sends every event to the same output.
                if reference is None:
                    reference = counts
                assert counts == reference, (kind, side, counts, reference)
        total = per_slice * args.slices
        for key in rates:
            rates[key].append(total / spent[key])
        for kind in kinds:
            hand = rates[kind, "hand-written"][-1]
            print(
                f"round {round_no}, outputs {kind}: "
                + "   ".join(f"{side} {rates[kind, side][-1]:>11,.0f} ev/s" for side in sides)
                + "   ratios "
                + " ".join(f"{rates[kind, side][-1] / hand:.2f}" for side in sides[1:])
            )
    # Each routed side beside the hand-written loop of the same conditions; the
    # functions also beside the loop with the conditions written inline, which
    # no router given opaque functions can match (a Python call per test).
    comparisons = [
        ("routed, expressions", "hand-written"),
        ("routed, functions", "hand-written, functions"),
        ("routed, functions", "hand-written"),
    ]
    print(
        f"events: {per_slice * args.slices:,} per side per round, {args.rounds} rounds, batch {args.batch}, cpu {cpu}"
    )
    if reference is not None:
        alerts, auth, db, other = reference
        print(f"outputs per slice: alerts {alerts:,}, auth {auth:,}, db {db:,}, default {other:,}")
    for kind in kinds:
        print(f"outputs {kind}:")
        for side in sides:
            print(f"  median {side + ':':<26}{statistics.median(rates[kind, side]):>12,.0f} events/s")
        for side, baseline in comparisons:
            ratio = statistics.median(rates[kind, side]) / statistics.median(rates[kind, baseline])
            target = "  (target >= 0.7)" if (side, baseline) != comparisons[-1] else "  (information)"
            print(f"  ratio ({side} / {baseline}): {ratio:.2f}{target}")


if __name__ == "__main__":
    main()
