"""Routing: a Router sends data on to routes by condition, and the train waits for every route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat import movement, routing
from deadbeat.testing import Collector


class Numbers(movement.Supply):
    """Sends one Batch of the given data (ids ``e0``, ``e1``...) and notes what is acknowledged."""

    def __init__(self, esc: movement.Escapement, data: list[Any], batch_id: Any = "b1") -> None:
        self.esc = esc
        self.data = data
        self.batch_id = batch_id
        self.acknowledged: list[Any] = []
        self.checkpoints = 0
        esc.enqueue(self.produce)

    def produce(self) -> movement.Batch:
        return movement.Batch(self.data, self.batch_id, lambda: [f"e{i}" for i in range(len(self.data))])

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        self.acknowledged.append(batch_id)

    @movement.hook
    def checkpoint(self) -> None:
        self.checkpoints += 1


class Gate(movement.Cog):
    """Holds every datum until :meth:`open` sends them on (a slow output's stand-in)."""

    def __init__(self, train: movement.Train) -> None:
        self.train = train
        self.held: list[Any] = []

    def __call__(self, datum: Any) -> None:
        self.held.append(datum)
        self.train.hold()

    def open(self) -> None:
        held, self.held = self.held, []
        self.train.release(len(held))
        self.train.send(self, held)

    def finish(self) -> list[Any]:
        held, self.held = self.held, []
        self.train.release(len(held))
        return held


class Notes(Collector):
    """A collector that notes the broadcasts an output takes part in."""

    def __init__(self, log: list[str], name: str) -> None:
        super().__init__()
        self.log = log
        self.name = name

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        self.log.append(f"{self.name} batch_done {batch_id}")

    @movement.hook
    def checkpoint(self) -> None:
        self.log.append(f"{self.name} checkpoint")


def run(
    data: list[Any], routes: list[routing.Route], esc: movement.Escapement, **options: Any
) -> tuple[Numbers, movement.Train, routing.Router]:
    train = movement.Train(esc)
    router = routing.Router(train, routes, **options)
    supply = Numbers(esc, data)
    train.cogs = [supply, router]
    esc.run()
    esc.close()
    return supply, train, router


class TestChoosing:
    def test_first_match_is_if_elif_and_the_rest_take_the_default_route(self) -> None:
        """Each datum takes the first route whose condition holds; the others go to the route without one."""
        esc = movement.Escapement()
        even, big, rest = Collector(), Collector(), Collector()
        routes = [
            routing.Route("even", lambda d: d % 2 == 0, [even], esc=esc),
            routing.Route("big", lambda d: d > 5, [big], esc=esc),
            routing.Route("rest", None, [rest], esc=esc),
        ]
        supply, train, router = run(list(range(10)), routes, esc)
        assert (even.data, big.data, rest.data) == ([0, 2, 4, 6, 8], [7, 9], [1, 3, 5])
        assert supply.acknowledged == ["b1"]
        assert (train.events_in, train.events_out, train.errors) == (10, 10, 0)
        assert router.counts == {
            "route even": 5,
            "route big": 2,
            "route rest": 3,
            "unmatched dropped": 0,
            "failed in routes": 0,
        }

    def test_every_match_copies_the_datum_for_each_further_route(self) -> None:
        """match='all': a datum takes every route that matches, and what one route changes the other never sees."""
        esc = movement.Escapement()
        first, second = Collector(), Collector()

        def stamp(datum: dict[str, Any]) -> tuple[dict[str, Any]]:
            datum["stamped"] = True
            return (datum,)

        routes = [
            routing.Route("one", lambda d: d["n"] > 0, [stamp, first], esc=esc),
            routing.Route("two", lambda d: d["n"] > 1, [second], esc=esc),
        ]
        _, train, _ = run([{"n": 1}, {"n": 2}, {"n": 0}], routes, esc, match="all", unmatched="drop")
        assert first.data == [{"n": 1, "stamped": True}, {"n": 2, "stamped": True}]
        assert second.data == [{"n": 2}]
        # The copy counts as a split: 3 in, 3 routed out (one dropped, one copied).
        assert (train.events_in, train.events_out, train.errors) == (3, 3, 0)

    def test_every_match_copies_before_any_route_runs_when_a_condition_fails(self) -> None:
        """A condition raising on one datum of the list: the rest are routed one by one, each route still on its copy.

        Routed one by one, a datum went into the first route, whose cogs
        changed it, and only then was copied for the next: an archive route
        got the addresses another route had anonymised.
        """
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []
        first, second = Collector(), Collector()

        def anonymise(datum: dict[str, Any]) -> tuple[dict[str, Any]]:
            datum["ip"] = "192.0.2.0"
            return (datum,)

        routes = [
            routing.Route("heavy", lambda d: d["bytes"] / d["dur"] > 1, [anonymise, first], esc=esc),
            routing.Route("archive", lambda d: True, [second], esc=esc),
        ]
        data = [{"ip": "192.0.2.77", "bytes": 10, "dur": 1}, {"ip": "x", "bytes": 1, "dur": 0}]
        data.append({"ip": "192.0.2.78", "bytes": 10, "dur": 1})
        train = movement.Train(esc, error_output=records.append)
        router = routing.Router(train, routes, match="all")
        train.cogs = [Numbers(esc, data), router]
        esc.run()
        esc.close()
        assert first.data == [{"ip": "192.0.2.0", "bytes": 10, "dur": 1}] * 2
        assert second.data == [
            {"ip": "192.0.2.77", "bytes": 10, "dur": 1},
            {"ip": "192.0.2.78", "bytes": 10, "dur": 1},
        ]
        assert [record.event_id for record in records] == ["e1"]

    def test_unmatched_is_an_error_by_default_naming_the_event(self) -> None:
        """Without a default route, a datum matching nothing goes to the error output with its own event id."""
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []
        out = Collector()
        train = movement.Train(esc, error_output=records.append)
        router = routing.Router(train, [routing.Route("odd", lambda d: d % 2, [out], esc=esc)])
        supply = Numbers(esc, [1, 2, 3, 4])
        train.cogs = [supply, router]
        esc.run()
        esc.close()
        assert out.data == [1, 3]
        assert [(r.event_id, r.datum, type(r.error)) for r in records] == [
            ("e1", 2, routing.NoRoute),
            ("e3", 4, routing.NoRoute),
        ]
        assert supply.acknowledged == ["b1"]

    def test_unmatched_drop_is_counted(self) -> None:
        """unmatched='drop' drops what matches nothing, and the router counts it."""
        esc = movement.Escapement()
        out = Collector()
        _, train, router = run(
            [1, 2, 3], [routing.Route("one", lambda d: d == 1, [out], esc=esc)], esc, unmatched="drop"
        )
        assert out.data == [1]
        assert router.counts["unmatched dropped"] == 2
        assert (train.events_in, train.events_out) == (3, 1)

    def test_a_condition_that_raises_fails_that_datum_only(self) -> None:
        """A condition raising on one datum sends it to the error output; the list's other data are routed once each."""
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []
        out, rest = Collector(), Collector()
        train = movement.Train(esc, error_output=records.append)
        routes = [
            routing.Route("big", lambda d: 10 / d > 1, [out], esc=esc),
            routing.Route("rest", None, [rest], esc=esc),
        ]
        train.cogs = [Numbers(esc, [1, 0, 20, 2]), routing.Router(train, routes)]
        esc.run()
        esc.close()
        assert (out.data, rest.data) == ([1, 2], [20])
        assert [(r.event_id, r.datum) for r in records] == [("e1", 0)]

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.integers(-5, 5), max_size=30), st.sampled_from(["first", "all"]))
    def test_same_as_the_hand_written_loop(self, data: list[int], match: str) -> None:
        """For any data, the routes receive exactly what an if/elif (or if/if) loop would give them."""
        tests: list[Callable[[int], bool]] = [lambda d: d > 0, lambda d: d % 2 == 0, lambda d: d < -2]
        esc = movement.Escapement()
        outs = [Collector() for _ in range(4)]
        routes = [routing.Route(f"r{i}", test, [outs[i]], esc=esc) for i, test in enumerate(tests)]
        routes.append(routing.Route("default", None, [outs[3]], esc=esc))
        run(data, routes, esc, match=match)
        expected: list[list[int]] = [[], [], [], []]
        for d in data:
            taken = [i for i, test in enumerate(tests) if test(d)]
            if match == "first":
                taken = taken[:1]
            for i in taken or [3]:
                expected[i].append(d)
        assert [o.data for o in outs] == expected


class TestAcknowledgement:
    def test_the_train_waits_for_every_route(self) -> None:
        """Nothing is acknowledged while one route still holds data; once it lets them go, the batch is done once."""
        esc = movement.Escapement()
        log: list[str] = []
        fast, slow = Notes(log, "fast"), Notes(log, "slow")
        routes = [
            routing.Route("fast", lambda d: d < 3, [fast], esc=esc),
            routing.Route("slow", None, esc=esc),
        ]
        gate = Gate(routes[1].train)
        routes[1].cogs = [gate, slow]
        train = movement.Train(esc)
        supply = Numbers(esc, [1, 2, 3, 4])
        train.cogs = [supply, routing.Router(train, routes)]
        seen: dict[str, Any] = {}

        def look() -> None:
            # The fast route has written; the slow one holds: nothing acknowledged, to anyone.
            seen.update(fast=list(fast.data), acknowledged=list(supply.acknowledged), log=list(log))
            seen["in_flight"] = train.in_flight
            gate.open()
            esc.enqueue(esc.shutdown)

        esc.after(0.01, look)
        esc.run()
        esc.close()
        assert seen == {"fast": [1, 2], "acknowledged": [], "log": [], "in_flight": 2}
        assert slow.data == [3, 4]
        assert supply.acknowledged == ["b1"]
        # The routes' outputs hear the supply's batch_done and checkpoint, in the same broadcast, once.
        assert log == ["fast batch_done b1", "slow batch_done b1", "fast checkpoint", "slow checkpoint"]
        assert train.in_flight == 0

    def test_shutdown_flushes_what_routes_hold(self) -> None:
        """At shutdown the routes finish after the cogs before the router: held data reach their output."""
        esc = movement.Escapement()
        out = Collector()
        route = routing.Route("held", None, esc=esc)
        route.cogs = [Gate(route.train), out]
        train = movement.Train(esc)
        supply = Numbers(esc, [1, 2])
        train.cogs = [supply, routing.Router(train, [route])]
        esc.after(0.01, esc.shutdown)
        esc.run()
        esc.close()
        assert out.data == [1, 2] and out.finished and out.done_called
        assert supply.acknowledged == ["b1"]
        assert not esc.failures


class TestErrors:
    def test_a_route_cogs_error_names_the_route_the_cog_and_the_event(self) -> None:
        """A route cog raising: the served train's error output gets it, naming route, cog, place and event."""
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []

        def picky(datum: int) -> tuple[int]:
            if datum == 3:
                raise ValueError("no threes")
            return (datum,)

        out = Collector()
        train = movement.Train(esc, error_output=records.append)
        route = routing.Route("all", None, [picky, out], esc=esc)
        supply = Numbers(esc, [1, 2, 3, 4])
        train.cogs = [supply, routing.Router(train, [route])]
        esc.run()
        esc.close()
        assert out.data == [1, 2, 4]
        (record,) = records
        assert (record.event_id, record.position, record.datum) == ("e2", 0, 3)
        assert record.cog.startswith("route all: ") and "picky" in record.cog
        assert supply.acknowledged == ["b1"]

    def test_behind_a_parser_and_a_filter_an_error_names_the_event_it_came_in_as(self) -> None:
        """Parsed into new objects and thinned by a filter before the router: the record still has the entering id."""
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []

        class Parse(movement.Cog):
            one_to_one = True

            def __call__(self, datum: int) -> tuple[dict[str, int]]:
                return ({"n": datum},)

            def call_batch(self, data: list[int]) -> list[dict[str, int]]:
                return [{"n": datum} for datum in data]

        class Odd(movement.Cog):
            one_to_one = True

            def __call__(self, datum: dict[str, int]) -> tuple[dict[str, int], ...]:
                return (datum,) if datum["n"] % 2 else ()

            def call_batch(self, data: list[dict[str, int]]) -> list[dict[str, int]]:
                return [datum for datum in data if datum["n"] % 2]

        def picky(datum: dict[str, int]) -> tuple[dict[str, int]]:
            if datum["n"] in (5, 9):
                raise ValueError("no fives, no nines")
            return (datum,)

        out = Collector()
        train = movement.Train(esc, error_output=records.append)
        supply = Numbers(esc, list(range(10)))
        train.cogs = [supply, Parse(), Odd(), routing.Router(train, [routing.Route("r", None, [picky, out], esc=esc)])]
        esc.run()
        esc.close()
        assert [datum["n"] for datum in out.data] == [1, 3, 7]
        assert [(record.event_id, record.datum) for record in records] == [("e5", {"n": 5}), ("e9", {"n": 9})]
        # The run's figures say what failed in the route: failed, not out.
        assert (train.events_in, train.events_out, train.errors) == (10, 3, 2)

    def test_an_error_train_gets_route_errors_and_holds_the_acknowledgement(self) -> None:
        """With an error train, route errors are written there before the batch is acknowledged."""
        esc = movement.Escapement()
        log: list[str] = []
        errors = Notes(log, "errors")
        error_train = movement.Train(esc, [errors])
        train = movement.Train(esc, error_output=error_train)

        def fail(datum: int) -> tuple[int]:
            raise RuntimeError("down")

        supply = Numbers(esc, [{"id": "x1"}])
        train.cogs = [supply, routing.Router(train, [routing.Route("r", None, [fail], esc=esc)])]
        esc.run()
        esc.close()
        (record,) = errors.data
        assert record["event_id"] == "e0" and record["cog"].startswith("route r: ")
        assert supply.acknowledged == ["b1"]


class TestConstruction:
    def test_mistakes_are_refused(self) -> None:
        """Two default routes, two routes of one name, or a wrong mode are refused with a clear message."""
        esc = movement.DummyEscapement()
        train = movement.Train(esc)
        with pytest.raises(ValueError, match="only one route may have no condition"):
            routing.Router(train, [routing.Route("a", esc=esc), routing.Route("b", esc=esc)])
        with pytest.raises(ValueError, match="two routes are called 'a'"):
            routing.Router(train, [routing.Route("a", bool, esc=esc), routing.Route("a", bool, esc=esc)])
        with pytest.raises(ValueError, match="match must be"):
            routing.Router(train, [routing.Route("a", bool, esc=esc)], match="any")  # type: ignore[arg-type]

    def test_str_names_the_routes(self) -> None:
        """str(router) names its routes and modes, for log lines and the run's summary."""
        esc = movement.DummyEscapement()
        router = routing.Router(movement.Train(esc), [routing.Route("a", bool, esc=esc), routing.Route("b", esc=esc)])
        assert str(router) == "Router(routes=['a', 'b'], match='first', unmatched='error')"
