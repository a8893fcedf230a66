"""The Train: data flow, errors, late data, backpressure, broadcasts and shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import select
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadbeat import movement
from deadbeat.testing import Collector, run_train


def double(data: int) -> tuple[int, int]:
    return (data, data)


def swallow_odd(data: int) -> tuple[int, ...] | None:
    return None if data % 2 else (data,)


def plus_one(data: int) -> Iterator[int]:
    yield data + 1


class TestDataFlow:
    def test_cogs_run_in_order_and_may_split_or_swallow(self) -> None:
        """Each cog's outputs feed the next in order; several or none are fine."""
        out = run_train([double, swallow_odd, plus_one], [1, 2, 3])
        assert out.data == [3, 3]

    def test_empty_result_and_generators_are_iterables(self) -> None:
        """Empty tuples, lists and generators are all accepted as results."""
        out = run_train([lambda d: [], lambda d: (d,)], [1])
        assert out.data == []
        out = run_train([plus_one, plus_one], [1, 10])
        assert out.data == [3, 12]

    def test_counters_follow_the_data(self) -> None:
        """events_in counts what supplies sent; events_out what left the last cog."""
        esc = movement.Escapement()

        class Numbers(movement.Supply):
            def __init__(self, esc: movement.Escapement) -> None:
                self.esc = esc
                esc.enqueue(self.produce)

            def produce(self) -> list[int]:
                return [1, 2, 3, 4]

        train = movement.Train(esc)
        train.cogs = [Numbers(esc), swallow_odd, Collector()]
        esc.run()
        esc.close()
        assert (train.events_in, train.events_out, train.errors) == (4, 2, 0)

    def test_non_callable_cog_is_refused(self) -> None:
        """A train refuses a cog that cannot be called, naming its position."""
        with pytest.raises(TypeError, match="cog 1"):
            movement.Train(movement.Escapement(), [double, "not a cog"])


class Exploding(movement.Cog):
    """Raises on data whose value is 'bad'."""

    def __init__(self, field: str = "value") -> None:
        self.field = field

    def __call__(self, data: dict[str, Any]) -> tuple[dict[str, Any]]:
        if data[self.field] == "bad":
            raise ValueError("bad value")
        return (data,)


class TestErrors:
    def test_raising_cog_sends_the_datum_to_the_error_output(self) -> None:
        """The failed datum reaches the error output with its id and the cog; the rest go on."""
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        collector = Collector()
        train = movement.Train(esc, [Exploding(), collector], error_output=records.append)
        train.send(None, [{"id": 1, "value": "ok"}, {"id": 2, "value": "bad"}, {"id": 3, "value": "ok"}])
        esc.close()
        assert [d["id"] for d in collector.data] == [1, 3]
        assert len(records) == 1
        record = records[0]
        assert record.event_id == 2
        assert record.cog == "Exploding()"
        assert record.position == 0
        assert record.datum == {"id": 2, "value": "bad"}
        assert train.errors == 1

    def test_a_cog_returning_its_datum_is_not_taken_apart(self) -> None:
        """``return data`` instead of ``return (data,)``: a string would become its characters and a
        mapping its keys; each such datum goes to the error output instead, saying what to return."""

        def upper(datum: str) -> Any:
            return datum.upper()

        def wrap(datum: str) -> Any:
            return {"line": datum}

        for cog, kind in ((upper, "str"), (wrap, "dict")):
            records: list[movement.ErrorRecord] = []
            esc = movement.Escapement()
            collector = Collector()
            train = movement.Train(esc, [cog, collector], error_output=records.append)
            for _ in range(2):  # the check stays until a result passes it
                train.send(None, ["ab", "cd"])
            esc.close()
            assert collector.data == []
            assert [r.datum for r in records] == ["ab", "cd", "ab", "cd"]
            assert all(isinstance(r.error, TypeError) for r in records)
            assert str(records[0].error) == f"returned {kind}, not an iterable of data; return (datum,)"
            assert records[0].cog.endswith(cog.__name__)

    @staticmethod
    def _slipping(calls: list[str]) -> Any:
        def cog(datum: str) -> Any:
            calls.append(datum)
            # The slip on a rare branch: the datum given back as it came.
            return (datum,) if datum != "late" else datum

        return cog

    def test_a_datum_given_back_among_the_first_results_fails_and_names_the_cog(self) -> None:
        """A cog that returned iterables of data before and then gives one datum back: that datum fails,
        its characters never go on, and the cog's good results around it do."""
        calls: list[str] = []
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        collector = Collector()
        train = movement.Train(esc, [self._slipping(calls), collector], error_output=records.append)
        train.send(None, ["a", "b"])
        train.send(None, ["late", "c"])
        esc.close()
        assert collector.data == ["a", "b", "c"]
        assert [r.datum for r in records] == ["late"]
        assert str(records[0].error) == "returned str, not an iterable of data; return (datum,)"
        assert records[0].cog.endswith("cog")
        assert train.errors == 1

    def test_a_cog_is_called_directly_after_its_first_thousand_good_results(self) -> None:
        """From then on nothing is checked between the cog and the next (what it returns is taken as an
        iterable, as the manual says it is): the cost per datum is the call alone."""
        calls: list[str] = []
        esc = movement.Escapement()
        collector = Collector()
        train = movement.Train(esc, [self._slipping(calls), collector])
        train.send(None, ["a"] * 1000)
        assert 0 in train._trusted
        assert "c0 = cog0" in train.explain()
        train.send(None, ["late"])
        esc.close()
        assert collector.data[1000:] == ["l", "a", "t", "e"]

    def test_check_results_checks_every_result_for_good(self) -> None:
        """``check_results=True`` (what the testing helpers and ``deadbeat test`` use) never trusts a cog."""
        calls: list[str] = []
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        collector = Collector()
        train = movement.Train(esc, [self._slipping(calls), collector], error_output=records.append, check_results=True)
        train.send(None, ["a"] * 2000)
        train.send(None, ["late"])
        esc.close()
        assert 0 not in train._trusted
        assert collector.data == ["a"] * 2000
        assert [r.datum for r in records] == ["late"]

    def test_the_testing_helpers_check_every_result(self) -> None:
        """``send_through`` and ``run_train`` find a slip however late it comes."""
        from deadbeat.testing import send_through

        calls: list[str] = []
        out, records = send_through([self._slipping(calls)], ["a"] * 1500 + ["late"])
        assert out == ["a"] * 1500
        assert [r.datum for r in records] == ["late"]
        collector = run_train([self._slipping(calls)], ["a"] * 1500 + ["late"])
        assert collector.data == ["a"] * 1500

    def test_default_error_output_logs_the_datum(self, caplog: pytest.LogCaptureFixture) -> None:
        """Without configuration, a dead-letter log line holds the event id, cog and datum."""
        caplog.set_level(logging.ERROR)
        esc = movement.Escapement()
        train = movement.Train(esc, [Exploding(), Collector()])
        train.send(None, [{"ID": "idea-7", "value": "bad"}])
        esc.close()
        dead = [r.getMessage() for r in caplog.records if r.name == "deadbeat.deadletter"]
        assert len(dead) == 1
        assert dead[0].startswith("idea-7: dead letter from Exploding(): ValueError: bad value")
        assert '"value": "bad"' in dead[0]
        # One line per failed datum: the dead letter says it all.
        assert [r.name for r in caplog.records if r.levelno >= logging.ERROR] == ["deadbeat.deadletter"]
        assert caplog.records[-1].event_id == "idea-7"  # type: ignore[attr-defined]

    def test_with_an_error_train_one_rate_limited_line_per_failure(self, caplog: pytest.LogCaptureFixture) -> None:
        """A flood of failures: every record reaches the error train; the log holds a few warnings and a count
        (warnings: the data are in the error output, not lost)."""
        caplog.set_level(logging.WARNING)
        esc = movement.Escapement()
        failures = Collector()
        error_train = movement.Train(esc, [failures])
        train = movement.Train(esc, [Exploding(), Collector()], error_output=error_train)
        train.send(None, [{"id": i, "value": "bad"} for i in range(500)])
        train.done()
        esc.close()
        assert len(failures.data) == 500
        lines = [r.getMessage() for r in caplog.records if r.name == "deadbeat.train"]
        assert len(lines) == 21
        assert lines[0] == "0: Exploding() raised ValueError: bad value"
        assert lines[-1].startswith("480 more failures were not logged (rate limit)")
        assert {r.levelname for r in caplog.records if r.name == "deadbeat.train"} == {"WARNING"}

    def test_the_failures_of_one_send_reach_the_error_train_together(self) -> None:
        """One list per send, in order, each record with its own id; and the batch is done only after them."""
        esc = movement.Escapement()
        lists: list[list[Any]] = []

        class Lists(movement.Cog):
            def __call__(self, datum: Any) -> tuple[Any, ...]:
                return (datum,)

            def call_batch(self, data: list[Any]) -> list[Any]:
                lists.append(list(data))
                return data

        failures = Collector()
        error_train = movement.Train(esc, [Lists(), failures])
        done: list[Any] = []

        class Acknowledged(movement.Cog):
            def __call__(self, datum: Any) -> tuple[Any, ...]:
                return (datum,)

            @movement.hook
            def batch_done(self, batch_id: Any) -> None:
                done.append((batch_id, len(failures.data)))

        data = [{"id": i, "value": "bad" if i % 3 == 0 else "ok"} for i in range(30)]
        train = movement.Train(esc, [Acknowledged(), Exploding(), Collector()], error_output=error_train)
        train.send(None, movement.Batch(data, "b1"))
        train.send(None, [{"id": 99, "value": "bad"}])
        train.done()
        esc.close()
        assert [[record["event_id"] for record in one] for one in lists] == [list(range(0, 30, 3)), [99]]
        assert [record["datum"]["id"] for record in failures.data] == [*range(0, 30, 3), 99]
        # The batch was acknowledged once its ten error records had reached the error train's end.
        assert done == [("b1", 10)]

    def test_records_of_any_datum_can_be_written(self) -> None:
        """Bytes, lone surrogates, odd objects and a datum nested a thousand deep all render, structure kept."""
        nested: Any = "bottom"
        for _ in range(1000):
            nested = [nested]
        datum = {
            "raw": b"\xff\x00ok",
            "text": "\ud800",
            "when": object(),
            "deep": nested,
            3: (1, 2),
            "big": [float("inf"), float("-inf"), float("nan"), 1.5],
        }
        record = movement.ErrorRecord("e1", "cog", 0, ValueError("x"), datum).as_dict()
        import json

        # allow_nan=False: what every JSON output refuses (an infinity, NaN) is text in the record.
        text = json.dumps(record, allow_nan=False)
        assert record["datum"]["big"] == ["inf", "-inf", "nan", 1.5]
        assert record["datum"]["raw"] == "\\xff\x00ok"
        assert record["datum"]["text"] == "\\ud800"
        assert record["datum"]["3"] == [1, 2]
        assert "deep" in json.loads(text)["datum"]
        movement.DeadLetterLog()(movement.ErrorRecord("e1", "cog", 0, ValueError("x"), datum))

    def test_a_record_is_bounded_in_size_too(self) -> None:
        """A datum sharing its parts (a list holding one list 1,000 times, three levels down) is a few KB in memory
        and 10**9 values written out: the record renders the first million values and prints the rest within
        bounds, instead of growing to gigabytes. A datum of ordinary size renders whole."""
        row = list(range(1000))
        table = [row] * 1000
        datum = {"cube": [table] * 1000, "after": "kept"}
        record = movement.ErrorRecord("e1", "cog", 0, ValueError("x"), datum).as_dict()
        import json

        from deadbeat.movement._errors import MAX_VALUES

        text = json.dumps(record)
        assert len(text) < 100 * MAX_VALUES
        assert record["datum"]["cube"][0][0] == row  # the start in full
        assert isinstance(record["datum"]["cube"][-1], str)  # the rest printed, within bounds
        assert record["datum"]["after"] == "kept"
        ordinary = {"rows": [list(range(100)) for _ in range(1000)]}
        assert movement.ErrorRecord("e2", "cog", 0, ValueError("x"), ordinary).as_dict()["datum"] == ordinary

    @pytest.mark.parametrize("shape", ["generator function", "returns a generator", "call_batch cog"])
    def test_generator_failing_midway_sends_nothing_on(self, shape: str) -> None:
        """A generator cog that fails after yielding: the datum goes to errors alone, nothing it yielded goes on.

        Otherwise the datum would be both written and in the error output (and
        replaying the dead letters would write it twice).
        """
        records: list[movement.ErrorRecord] = []

        def partial(data: int) -> Iterator[int]:
            yield data * 10
            if data % 2:
                raise RuntimeError("half way")
            yield data * 100

        cog: Any = partial
        if shape == "returns a generator":
            cog = lambda data: partial(data)  # noqa: E731 - not a generator function itself
        elif shape == "call_batch cog":

            class Batched:
                def __call__(self, data: int) -> Iterator[int]:
                    return partial(data)

                def call_batch(self, data: list[int]) -> list[int]:
                    return [out for datum in data for out in partial(datum)]

            cog = Batched()
        esc = movement.Escapement()
        collector = Collector()
        train = movement.Train(esc, [cog, collector], error_output=records.append)
        for _ in range(2):  # the first send probes the cog, the second calls it as compiled then
            train.send(None, [1, 2, 3, 4])
        esc.close()
        assert collector.data == [20, 200, 40, 400] * 2
        assert [r.datum for r in records] == [1, 3] * 2
        assert (train.events_out, train.errors) == (8, 4)

    def test_a_generator_returned_after_trust_is_told_then_made_whole(self, caplog: pytest.LogCaptureFixture) -> None:
        """A cog trusted on tuples that returns a raising generator on a rare branch later: the first time, what
        the generator yielded had gone on (its result is iterated as it comes, for speed) and its datum went to
        the error output too, without a word; now that is logged, naming the cog, and from the next send on its
        results are made whole first, so the rare branch never does it again."""
        records: list[movement.ErrorRecord] = []

        def rare(datum: int) -> Any:
            if datum < 0:

                def partial() -> Iterator[int]:
                    yield datum
                    raise ValueError("half way")

                return partial()
            return (datum,)

        esc = movement.Escapement()
        collector = Collector()
        train = movement.Train(esc, [rare, collector], error_output=records.append)
        train.send(None, list(range(1000)))
        assert 0 in train._trusted
        train.send(None, [1000, -1, 1001])
        assert -1 in collector.data  # the one the docs now own up to
        assert [r.datum for r in records] == [-1]
        told = [r.getMessage() for r in caplog.records if "raised half-way" in r.getMessage()]
        assert len(told) == 1 and ".<locals>.rare: it returned a generator" in told[0]
        train.send(None, [1002, -2, 1003])
        esc.close()
        assert -2 not in collector.data
        assert collector.data[-2:] == [1002, 1003]
        assert [r.datum for r in records] == [-1, -2]

    def test_failing_error_output_still_logs_the_datum(self, caplog: pytest.LogCaptureFixture) -> None:
        """If the error output itself raises, the dead-letter log line still holds the datum."""

        def broken_output(record: movement.ErrorRecord) -> None:
            raise OSError("disk full")

        esc = movement.Escapement()
        train = movement.Train(esc, [Exploding()], error_output=broken_output)
        train.send(None, [{"id": "x", "value": "bad"}])
        esc.close()
        dead = [r.getMessage() for r in caplog.records if r.name == "deadbeat.deadletter"]
        assert dead and '"value": "bad"' in dead[0]

    def test_error_output_can_be_a_train(self) -> None:
        """Another Train can take the failures, as dicts, and write them anywhere."""
        esc = movement.Escapement()
        failures = Collector()
        error_train = movement.Train(esc, [failures])
        train = movement.Train(esc, [Exploding(), Collector()], error_output=error_train)
        train.send(None, [{"id": 9, "value": "bad"}])
        esc.close()
        assert failures.data == [
            {
                "event_id": 9,
                "cog": "Exploding()",
                "position": 0,
                "error": "ValueError: bad value",
                "datum": {"id": 9, "value": "bad"},
            }
        ]

    def test_the_event_id_is_the_one_the_datum_came_in_with(self) -> None:
        """A cog that replaces the datum's id field does not change which event an error record names."""
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()

        def parse_like(data: dict[str, Any]) -> tuple[dict[str, Any]]:
            return ({"id": "from-the-content", "value": data["value"]},)

        train = movement.Train(esc, [parse_like, Exploding()], error_output=records.append)
        train.send(None, [{"id": "file:120", "value": "bad"}])
        esc.close()
        assert records[0].event_id == "file:120"
        assert records[0].datum == {"id": "from-the-content", "value": "bad"}

    def test_id_getter_may_be_a_path(self) -> None:
        """The train's id_getter accepts a dotted path for nested ids."""
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        train = movement.Train(esc, [Exploding()], id_getter="meta.uid", error_output=records.append)
        train.send(None, [{"meta": {"uid": "u-1"}, "value": "bad"}])
        esc.close()
        assert records[0].event_id == "u-1"


class Resolver(movement.Cog):
    """A DNS-like cog: sends a query over a real socket and answers when the reply comes."""

    def __init__(self, train: movement.Train, sock: socket.socket) -> None:
        self.train = train
        self.sock = sock
        self.waiting: dict[str, dict[str, Any]] = {}
        train.esc.fd_register(sock, select.EPOLLIN, self.answer)

    def __call__(self, data: dict[str, Any]) -> None:
        self.waiting[data["id"]] = data
        self.sock.send(data["id"].encode() + b"\n")
        return None

    def answer(self) -> list[dict[str, Any]]:
        out = []
        for line in self.sock.recv(4096).decode().splitlines():
            key, _, value = line.partition("=")
            data = self.waiting.pop(key)
            data["answer"] = value
            out.append(data)
        return out

    def finish(self) -> None:
        self.train.esc.fd_unregister(self.sock)


class TestLateData:
    def test_callback_result_continues_after_the_cog(self) -> None:
        """Answers arriving on a socket later go on from the resolving cog's position."""
        ours, theirs = socket.socketpair()
        esc = movement.Escapement()
        train = movement.Train(esc)
        before: list[str] = []

        def mark_before(data: dict[str, Any]) -> tuple[dict[str, Any]]:
            before.append(data["id"])
            return (data,)

        collector = Collector()
        train.cogs = [mark_before, Resolver(train, ours), collector]

        def server() -> None:
            for line in theirs.recv(4096).decode().splitlines():
                theirs.send(f"{line}=resolved-{line}\n".encode())

        esc.fd_register(theirs, select.EPOLLIN, server)
        train.send(None, [{"id": "a"}, {"id": "b"}])
        assert collector.data == []
        esc.after(0.3, esc.shutdown)
        esc.run()
        esc.close()
        ours.close()
        theirs.close()
        assert before == ["a", "b"]
        assert sorted((d["id"], d["answer"]) for d in collector.data) == [("a", "resolved-a"), ("b", "resolved-b")]

    def test_send_from_a_cog(self) -> None:
        """train.send(cog, data) starts right after that cog."""
        esc = movement.Escapement()
        first = Collector()
        last = Collector()
        train = movement.Train(esc, [first, plus_one, last])
        train.send(first, [1, 2])
        train.send(plus_one, [7])
        esc.close()
        assert first.data == [] and last.data == [2, 3, 7]

    def test_send_from_a_stranger_is_an_error(self) -> None:
        """Sending from a cog that is not in the train raises, naming it."""
        esc = movement.Escapement()
        train = movement.Train(esc, [plus_one])
        with pytest.raises(ValueError, match="not a cog of this train"):
            train.send(double, [1])
        esc.close()


class PipeSupply(movement.Supply):
    """Reads lines from a real pipe, at most `batch` per wake-up."""

    def __init__(self, esc: movement.Escapement, fd: int, batch: int = 10) -> None:
        self.esc = esc
        self.fd = fd
        self.batch = batch
        self.buffer = b""
        esc.fd_register(fd, select.EPOLLIN, self.readable)

    def readable(self) -> list[bytes]:
        self.buffer += os.read(self.fd, self.batch * 4)
        *lines, self.buffer = self.buffer.split(b"\n")
        return lines

    def finish(self) -> None:
        self.esc.fd_unregister(self.fd)


class Holder(movement.Cog):
    """Holds everything until told to let go, reporting it to the train."""

    def __init__(self, train: movement.Train) -> None:
        self.train = train
        self.held: list[Any] = []

    def __call__(self, data: Any) -> None:
        self.held.append(data)
        self.train.hold()
        return None

    def let_go(self) -> None:
        held, self.held = self.held, []
        self.train.release(len(held))
        self.train.send(self, held)

    def finish(self) -> list[Any]:
        held, self.held = self.held, []
        self.train.release(len(held))
        return held


class TestReleaseTooMany:
    def test_a_release_without_its_hold_fails_the_run_once(self) -> None:
        """A cog that releases more than it held: said once, naming the cog, and the run has failed."""

        class OverRelease(movement.Cog):
            def __init__(self, train: movement.Train) -> None:
                self.train = train

            def __call__(self, datum: Any) -> tuple[Any, ...]:
                self.train.hold()
                self.train.release(2)
                return (datum,)

        esc = movement.Escapement()
        train = movement.Train(esc)
        train.cogs = [OverRelease(train), Collector()]
        train.send(None, [1, 2, 3])
        esc.close()
        assert len(esc.failures) == 1
        assert "released more data than were held (1 too many)" in esc.failures[0]
        assert "OverRelease" in esc.failures[0]


class TestBackpressure:
    def test_supply_pauses_while_too_much_is_held_and_resumes_after(self) -> None:
        """Above high_water the supply's pipe is left unread; after release it is read again."""
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        esc = movement.Escapement()
        train = movement.Train(esc, high_water=20, low_water=5)
        holder = Holder(train)
        collector = Collector()
        train.cogs = [PipeSupply(esc, read_end, batch=5), holder, collector]
        os.write(write_end, b"".join(b"%03d\n" % i for i in range(200)))
        observed: list[tuple[int, bool]] = []
        esc.after(0.2, lambda: observed.append((train.events_in, train.paused)))
        esc.after(0.25, holder.let_go)
        esc.after(0.5, lambda: observed.append((train.events_in, train.paused)))
        esc.after(0.55, holder.let_go)
        esc.after(0.8, holder.let_go)
        esc.after(1.0, esc.shutdown)
        esc.run()
        esc.close()
        os.close(read_end)
        os.close(write_end)
        in_at_first, paused_at_first = observed[0]
        assert paused_at_first and 20 <= in_at_first < 30
        assert observed[1][0] > in_at_first
        # Everything still arrives, in order, by the end of the shutdown.
        assert collector.data == [b"%03d" % i for i in range(len(collector.data))]
        assert len(collector.data) == train.events_in


class Watcher(movement.Cog):
    """Records the broadcasts it receives, with no marker of any kind."""

    def __init__(self, name: str, log: list[tuple[str, ...]]) -> None:
        self.name = name
        self.log = log

    def event_done(self, event_id: Any) -> None:
        self.log.append((self.name, "event_done", event_id))

    def event_rename(self, event_id: Any, new_id: Any) -> None:
        self.log.append((self.name, "event_rename", event_id, new_id))

    def finish(self) -> None:
        self.log.append((self.name, "finish"))

    def done(self) -> None:
        self.log.append((self.name, "done"))

    def flush_now(self, why: str) -> str:
        self.log.append((self.name, "flush_now", why))
        return self.name


class TestBroadcasts:
    def test_broadcasts_reach_cogs_with_the_method_in_train_order(self) -> None:
        """event_done and event_rename reach every cog bearing them, in train order."""
        log: list[tuple[str, ...]] = []
        esc = movement.Escapement()
        train = movement.Train(esc, [Watcher("a", log), plus_one, Watcher("b", log)])
        train.notify("event_done", 17)
        train.notify("event_rename", 17, new_id=18)
        esc.close()
        assert log == [
            ("a", "event_done", 17),
            ("b", "event_done", 17),
            ("a", "event_rename", 17, 18),
            ("b", "event_rename", 17, 18),
        ]

    def test_other_names_reach_cogs_bearing_them(self) -> None:
        """A broadcast outside the specification goes to cogs that have that method."""
        log: list[tuple[str, ...]] = []
        esc = movement.Escapement()
        train = movement.Train(esc, [Watcher("a", log), plus_one, Watcher("b", log)])
        assert train.notify("flush_now", "test") == ["a", "b"]
        esc.close()

    def test_one_failing_cog_does_not_stop_the_broadcast(self, caplog: pytest.LogCaptureFixture) -> None:
        """An exception in one cog's event_done is logged; the others still get it."""
        log: list[tuple[str, ...]] = []

        class Faulty(movement.Cog):
            def event_done(self, event_id: Any) -> None:
                raise RuntimeError("oops")

        esc = movement.Escapement()
        train = movement.Train(esc, [Faulty(), Watcher("b", log)])
        train.notify("event_done", 1)
        train.notify("event_done", 2)
        train.notify("custom_name")
        esc.close()
        assert log == [("b", "event_done", 1), ("b", "event_done", 2)]
        assert "broadcast event_done failed" in caplog.text
        # What it was to do is undone: the run's result is failure, said once per cog and broadcast.
        assert esc.failures == ["Faulty(): broadcast event_done failed: RuntimeError: oops"]

    @pytest.mark.parametrize("name", ["batch_done", "checkpoint", "done"])
    def test_a_broadcast_that_raises_fails_the_run(self, name: str) -> None:
        """A state save that raises in batch_done or done: the run goes on, and exits 1."""

        class Faulty(movement.Cog):
            def __call__(self, datum: Any) -> tuple[Any, ...]:
                return (datum,)

            @movement.hook
            def batch_done(self, batch_id: Any) -> None:
                if name == "batch_done":
                    raise OSError(28, "No space left on device")

            @movement.hook
            def checkpoint(self) -> None:
                if name == "checkpoint":
                    raise OSError(28, "No space left on device")

            def done(self) -> None:
                if name == "done":
                    raise OSError(28, "No space left on device")

        faulty = Faulty()
        esc = movement.Escapement()
        got: list[Any] = []

        class Supply(movement.Supply):
            def __init__(self) -> None:
                esc.after(0, self.give)

            def give(self) -> list[int]:
                return [1, 2]

        train = movement.Train(esc, [Supply(), faulty, got.append])
        if name != "done":
            esc.after(0, train.notify, name, *(["batch-1"] if name == "batch_done" else []))
        assert train.run() == 1
        assert got == [1, 2]
        assert any(f"broadcast {name} failed: OSError" in failure for failure in esc.failures), esc.failures

    def test_pluggy_holds_the_cogs_in_train_order(self) -> None:
        """Cogs are registered in train order; pluggy lists their implementations so."""
        log: list[tuple[str, ...]] = []
        watchers = [Watcher(name, log) for name in "abc"]
        esc = movement.Escapement()
        train = movement.Train(esc, [watchers[0], plus_one, watchers[1], watchers[2]])
        impls = train._pm.hook.finish.get_hookimpls()
        esc.close()
        assert [impl.plugin.cog for impl in impls] == watchers

    def test_any_argument_names_take_part(self) -> None:
        """A broadcast reaches a method whatever its parameters are called, positionally."""
        got: list[tuple[str, tuple[Any, ...]]] = []

        class Named(movement.Cog):
            def event_done(self, eid: Any) -> None:
                got.append(("named", (eid,)))

        class Starred(movement.Cog):
            def event_done(self, *args: Any) -> None:
                got.append(("starred", args))

        esc = movement.Escapement()
        train = movement.Train(esc, [Named(), Starred()])
        train.notify("event_done", 5)
        train.notify("event_done", event_id=6)
        esc.close()
        assert got == [("named", (5,)), ("starred", (5,)), ("named", (6,)), ("starred", (6,))]

    def test_event_rename_in_the_manuals_one_argument_form(self) -> None:
        """event_rename(event_id), the manual's form, gets the old id; the two-argument form gets both."""
        got: list[tuple[Any, ...]] = []

        class ManualForm(movement.Cog):
            def event_rename(self, event_id: Any) -> None:
                got.append(("one", event_id))

        class TwoArguments(movement.Cog):
            def event_rename(self, old: Any, new: Any) -> None:
                got.append(("two", old, new))

        esc = movement.Escapement()
        train = movement.Train(esc, [ManualForm(), TwoArguments()])
        train.notify("event_rename", "a", "b")
        esc.close()
        assert got == [("one", "a"), ("two", "a", "b")]

    def test_a_plain_callable_class_is_named_by_its_class(self, caplog: pytest.LogCaptureFixture) -> None:
        """Error records and log lines call an app's plain cog class "Upper()", not "<mod.Upper object at 0x...>"."""

        class Upper:
            def __call__(self, data: Any) -> tuple[Any, ...]:
                return (data.upper(),)

        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        train = movement.Train(esc, [Upper(), Collector()], error_output=records.append)
        with caplog.at_level(logging.ERROR):
            train.send(None, [1])
        esc.close()
        assert records[0].cog.endswith("Upper()") and " object at 0x" not in caplog.text

    def test_event_rename_sent_with_one_argument_reaches_two_argument_cogs(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The manual's one-argument rename, heard by a cog written for two: new_id is None, nothing logged."""
        got: list[tuple[Any, ...]] = []

        class TwoArguments(movement.Cog):
            def event_rename(self, old: Any, new: Any) -> None:
                got.append((old, new))

        esc = movement.Escapement()
        train = movement.Train(esc, [TwoArguments()])
        with caplog.at_level(logging.WARNING):
            train.notify("event_rename", "a")
        esc.close()
        assert got == [("a", None)]
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    def test_unrelated_method_of_a_broadcast_name_does_not_keep_a_cog_out(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A cog with its own flush(self, force) runs in the train; the mismatch is logged once, by name."""
        calls: list[Any] = []

        class OwnFlush(movement.Cog):
            def __call__(self, data: Any) -> tuple[Any, ...]:
                return (data * 10,)

            def flush(self, force: bool) -> None:
                calls.append(force)

            def finish(self, reason: str) -> None:
                calls.append(reason)

        caplog.set_level(logging.WARNING)
        out = run_train([OwnFlush(), plus_one], [1, 2])
        assert out.data == [11, 21]
        assert calls == []
        warnings = [r.getMessage() for r in caplog.records if "OwnFlush" in r.getMessage()]
        assert len(warnings) == 2
        assert any("flush()" in w and "not marked @movement.hook" in w for w in warnings)
        assert any("finish()" in w and "cannot take the arguments" in w for w in warnings)

    def test_a_manual_cogs_own_flush_is_not_called_after_every_batch(self, caplog: pytest.LogCaptureFixture) -> None:
        """A cog written to the manual sums what it keeps and sends the sum from finish() through its own flush().

        flush is a name the manual never reserved: called after every batch as
        Deadbeat's broadcast, it sent nothing on (a broadcast's results go
        nowhere) and the sum was lost. Unmarked, it is left alone, and said so.
        """
        flushes: list[int] = []

        class Summer(movement.Cog):
            def __init__(self) -> None:
                self.total = 0

            def __call__(self, data: Any) -> None:
                self.total += data
                return None

            def flush(self) -> list[Any]:
                flushes.append(self.total)
                total, self.total = self.total, 0
                return [{"sum": total}]

            def finish(self) -> list[Any]:
                return self.flush()

        caplog.set_level(logging.WARNING)
        out = run_train([Summer()], list(range(1, 101)))
        assert out.data == [{"sum": 5050}]
        assert flushes == [5050]
        assert any("Summer(): its method flush() is not marked" in r.getMessage() for r in caplog.records)

    def test_a_broadcast_named_property_that_raises_keeps_no_cog_out(self, caplog: pytest.LogCaptureFixture) -> None:
        """Looking up a cog's ``finish`` ran its property, which raised: the train failed to build, with a traceback."""

        class Odd(movement.Cog):
            def __call__(self, data: Any) -> tuple[Any, ...]:
                return (data,)

            @property
            def finish(self) -> Any:
                raise RuntimeError("finish property exploded")

        caplog.set_level(logging.WARNING)
        out = run_train([Odd(), plus_one], [1, 2])
        assert out.data == [2, 3]
        assert any("Odd(): its method finish()" in r.getMessage() for r in caplog.records)

    def test_a_marked_method_and_its_override_take_part(self) -> None:
        """@movement.hook on flush, batch_done or checkpoint joins Deadbeat's broadcast; an override keeps the mark."""
        heard: list[str] = []

        class Output(movement.Cog):
            def __call__(self, data: Any) -> tuple[Any, ...]:
                return (data,)

            @movement.hook
            def flush(self) -> None:
                heard.append("base")

        class Subclassed(Output):
            def flush(self) -> None:
                heard.append("override")

        run_train([Output(), Subclassed()], [1])
        assert "base" in heard and "override" in heard


class TestShutdown:
    def test_finish_in_train_order_then_done(self) -> None:
        """finish runs cog by cog in train order, then done for all."""
        log: list[tuple[str, ...]] = []
        esc = movement.Escapement()
        movement.Train(esc, [Watcher("a", log), Watcher("b", log), Watcher("c", log)])
        esc.shutdown()
        esc.run()
        esc.close()
        assert log == [("a", "finish"), ("b", "finish"), ("c", "finish"), ("a", "done"), ("b", "done"), ("c", "done")]

    def test_data_flushed_by_finish_reach_the_end(self) -> None:
        """What a cog returns from finish goes down the train before later cogs finish."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        holder = Holder(train)
        collector = Collector()
        train.cogs = [holder, plus_one, collector]
        train.send(None, [1, 2, 3])
        esc.shutdown()
        esc.run()
        esc.close()
        assert collector.data == [2, 3, 4]

    def test_finish_coroutine_is_awaited(self) -> None:
        """A finish that returns a coroutine is awaited, so late answers still arrive."""
        import asyncio

        class Waiter(movement.Cog):
            def __init__(self, train: movement.Train) -> None:
                self.train = train

            async def finish(self) -> list[str]:
                await asyncio.sleep(0.05)
                return ["late"]

        esc = movement.Escapement()
        train = movement.Train(esc)
        collector = Collector()
        train.cogs = [Waiter(train), collector]
        esc.shutdown()
        esc.run()
        esc.close()
        assert collector.data == ["late"]

    def test_a_finish_that_never_ends_is_cut_at_the_deadline(self, caplog: pytest.LogCaptureFixture) -> None:
        """shutdown_timeout ends a hanging finish: the cog is named, the run failed, done still follows."""
        log: list[tuple[str, ...]] = []

        class Stuck(movement.Cog):
            async def finish(self) -> None:
                await asyncio.Event().wait()  # an answer that never comes

            def __str__(self) -> str:
                return "stuck-cog"

        esc = movement.Escapement(shutdown_timeout=0.3)
        train = movement.Train(esc, name="t")
        train.cogs = [Watcher("before", log), Stuck(), Watcher("after", log)]
        esc.shutdown()
        esc.run()
        esc.close()
        assert log == [("before", "finish"), ("before", "done"), ("after", "done")]
        assert any("stuck-cog: finish had not ended" in failure for failure in esc.failures)
        assert any("shutdown_timeout (0.3 s) passed" in failure for failure in esc.failures)
        assert "stuck-cog: finish had not ended" in caplog.text

    def test_a_cog_that_swallows_the_cancellation_does_not_hang_the_shutdown(self) -> None:
        """Past the deadline a finish that catches CancelledError gets one more second, not for ever."""

        class Stubborn(movement.Cog):
            async def finish(self) -> None:
                while True:
                    try:
                        await asyncio.sleep(3600)
                    except asyncio.CancelledError:
                        continue

        esc = movement.Escapement(shutdown_timeout=0.2)
        movement.Train(esc, [Stubborn()])
        esc.shutdown()
        esc.run()
        assert any("shutdown_timeout (0.2 s) passed" in failure for failure in esc.failures)
        # The stubborn task is still pending; closing the loop must not raise.
        esc.close()

    def test_within_the_deadline_nothing_changes(self) -> None:
        """A finish that ends in time is awaited as always and the run has no failure."""

        class Waiter(movement.Cog):
            async def finish(self) -> list[str]:
                await asyncio.sleep(0.05)
                return ["late"]

        esc = movement.Escapement(shutdown_timeout=5)
        train = movement.Train(esc)
        collector = Collector()
        train.cogs = [Waiter(), collector]
        esc.shutdown()
        esc.run()
        esc.close()
        assert collector.data == ["late"]
        assert esc.failures == []

    def test_binding_after_finish_is_refused(self, caplog: pytest.LogCaptureFixture) -> None:
        """A cog that binds after its finish is refused and named in the log."""

        class Rebinder(movement.Cog):
            def __init__(self, esc: movement.Escapement) -> None:
                self.esc = esc

            def tick(self) -> None:
                pass

            def done(self) -> None:
                self.esc.after(1, self.tick)

        esc = movement.Escapement()
        cog = Rebinder(esc)
        movement.Train(esc, [cog])
        esc.shutdown()
        esc.run()
        esc.close()
        assert [owner for owner, _ in esc.refused] == [cog]
        assert "binds timer after finish; refused" in caplog.text


class Recorder(movement.Cog):
    """Records flush, event_done, batch_done and checkpoint, and what the output had at each."""

    def __init__(self, log: list[Any], written: list[Any]) -> None:
        self.log = log
        self.written = written

    @movement.hook
    def flush(self) -> None:
        self.log.append(("flush", len(self.written)))

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        self.log.append(("batch_done", batch_id, len(self.written)))

    @movement.hook
    def checkpoint(self) -> None:
        self.log.append(("checkpoint", len(self.written)))


class EventLog(movement.Cog):
    """Records event_done only."""

    def __init__(self, log: list[Any]) -> None:
        self.log = log

    def event_done(self, event_id: Any) -> None:
        self.log.append(("event_done", event_id))


class TestBatchAcknowledgement:
    def test_batch_is_acknowledged_after_its_data_left(self) -> None:
        """A Batch sent through gets flush, batch_done(id), checkpoint; any other send a flush."""
        log: list[Any] = []
        esc = movement.Escapement()
        collector = Collector()
        train = movement.Train(esc, [Recorder(log, collector.data), plus_one, collector])
        train.send(None, movement.Batch([1, 2], batch_id="b1"))
        train.send(None, [5])  # not a Batch: nothing to acknowledge
        esc.close()
        assert log == [("flush", 2), ("batch_done", "b1", 2), ("checkpoint", 2), ("flush", 3)]

    def test_acknowledgement_waits_for_held_data(self) -> None:
        """While a cog holds data, batches wait; after release and delivery they are acknowledged."""
        log: list[Any] = []
        esc = movement.Escapement()
        train = movement.Train(esc)
        holder = Holder(train)
        collector = Collector()
        train.cogs = [Recorder(log, collector.data), holder, collector]
        train.send(None, movement.Batch([1, 2], batch_id="b1"))
        train.send(None, movement.Batch([3], batch_id="b2"))
        assert [entry[0] for entry in log] == ["flush", "flush"]
        esc.after(0.05, holder.let_go)
        esc.after(0.2, esc.shutdown)
        esc.run()
        esc.close()
        # Each send is flushed; the acknowledgements wait until nothing is held.
        # (Shutdown may flush once more; that is not what is checked here.)
        assert log[:6] == [
            ("flush", 0),
            ("flush", 0),
            ("flush", 3),
            ("batch_done", "b1", 3),
            ("batch_done", "b2", 3),
            ("checkpoint", 3),
        ]

    def test_failed_data_count_as_handled(self) -> None:
        """A datum that went to the error output does not keep its batch unacknowledged."""
        log: list[Any] = []
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        written: list[Any] = []
        train = movement.Train(esc, [Recorder(log, written), Exploding()], error_output=records.append)
        train.send(None, movement.Batch([{"value": "bad"}], batch_id="b"))
        esc.close()
        assert len(records) == 1 and ("batch_done", "b", 0) in log

    def test_reject_routes_a_supply_datum_to_the_error_output(self) -> None:
        """A supply can hand an undeliverable datum to the error output via the Escapement."""
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        supply = movement.Supply()
        movement.Train(esc, [supply, Collector()], error_output=records.append)
        esc.reject(supply, {"id": "f:10", "raw": b"x" * 5}, ValueError("line too long"))
        esc.close()
        assert records[0].event_id == "f:10" and records[0].position == 0
        assert str(records[0].error) == "line too long"


class TestIdsBesideTheData:
    def test_a_batch_can_keep_the_ids_of_plain_data(self) -> None:
        """Data that are plain lines: their ids come from the batch, for event_done and error records alike."""
        made: list[int] = []
        log: list[Any] = []
        records: list[movement.ErrorRecord] = []

        def ids() -> list[str]:
            made.append(1)
            return ["f:0", "f:3", "f:9"]

        def refuse_b(line: str) -> tuple[str]:
            if line == "b":
                raise ValueError("no b")
            return (line.upper(),)

        esc = movement.Escapement()
        collector = Collector()
        train = movement.Train(esc, [refuse_b, collector], error_output=records.append)
        train.send(None, movement.Batch(["a", "b", "c"], event_ids=ids))
        assert [r.event_id for r in records] == ["f:3"] and made == [1]
        train.cogs = [EventLog(log), refuse_b, collector]
        train.send(None, movement.Batch(["a", "c"], event_ids=lambda: ["g:0", "g:2"]))
        esc.close()
        assert log == [("event_done", "g:0"), ("event_done", "g:2")]

    def test_the_ids_themselves_may_be_given(self) -> None:
        """Batch(data, event_ids=[...]): the name invites a list, which was taken and then called at the first
        error (TypeError inside the train, the datum in no error output). A list or tuple is now the ids; one of
        another length, or a thing neither callable nor a sequence, is refused where the batch is made."""
        records: list[movement.ErrorRecord] = []

        def refuse_b(line: str) -> tuple[str]:
            if line == "b":
                raise ValueError("no b")
            return (line,)

        esc = movement.Escapement()
        collector = Collector()
        train = movement.Train(esc, [refuse_b, collector], error_output=records.append)
        train.send(None, movement.Batch(["a", "b"], batch_id=1, event_ids=["f:0", "f:2"]))
        train.send(None, movement.Batch(["b"], batch_id=2, event_ids=("g:7",)))
        esc.close()
        assert [r.event_id for r in records] == ["f:2", "g:7"]
        assert collector.data == ["a"]
        with pytest.raises(ValueError, match="event_ids: 1 ids for 2 data"):
            movement.Batch(["a", "b"], event_ids=["f:0"])
        with pytest.raises(TypeError, match="event_ids must be a function making the ids, or a list of them"):
            movement.Batch(["a"], event_ids="f:0")  # type: ignore[arg-type]

    def test_ids_are_not_made_when_nobody_asks(self) -> None:
        """No error and no event_done listener: the ids are never made."""
        made: list[int] = []
        esc = movement.Escapement()
        train = movement.Train(esc, [plus_one, Collector()])
        train.send(None, movement.Batch([1, 2], event_ids=lambda: made.append(1) or [None, None]))
        esc.close()
        assert made == []


class Parse(movement.Cog):
    """A parser taking whole lists: each line (or ``line`` field) becomes a new mapping, without the id.

    Lines starting with "!" are refused.
    """

    one_to_one = True

    def __call__(self, datum: str | dict[str, str]) -> tuple[dict[str, str]]:
        line = datum if isinstance(datum, str) else datum["line"]
        if line.startswith("!"):
            raise ValueError(f"cannot parse {line!r}")
        return ({"text": line},)

    def call_batch(self, data: list[Any]) -> list[dict[str, str]]:
        lines = [d if isinstance(d, str) else d["line"] for d in data]
        if any(line.startswith("!") for line in lines):
            raise ValueError("something to report")
        return [{"text": line} for line in lines]


class Upper(movement.Cog):
    """A one-to-one list stage after the parser: new mappings again."""

    one_to_one = True

    def __call__(self, datum: dict[str, str]) -> tuple[dict[str, str]]:
        return ({"text": datum["text"].upper()},)

    def call_batch(self, data: list[dict[str, str]]) -> list[dict[str, str]]:
        return [{"text": d["text"].upper()} for d in data]


def refuse_x(datum: dict[str, str]) -> tuple[dict[str, str]]:
    if "x" in datum["text"].lower():
        raise ValueError("no x")
    return (datum,)


class TestIdsAfterAFallback:
    """A list stage falling back datum by datum drops the failed data: the rest still name their events."""

    @given(st.lists(st.sampled_from(["a", "x", "!a", "!x", "bx", "c"]), max_size=12), st.booleans(), st.booleans())
    def test_every_error_names_the_event_it_came_from(self, lines: list[str], lazy: bool, twice: bool) -> None:
        ids = [f"f:{index * 10}" for index in range(len(lines))]
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        collector = Collector()
        stages: list[Any] = [Parse(), Upper()] if twice else [Parse()]
        train = movement.Train(esc, [*stages, refuse_x, collector], error_output=records.append)
        if lazy:
            # Plain lines, their ids beside them in the batch.
            train.send(None, movement.Batch(list(lines), event_ids=lambda: ids))
        else:
            train.send(None, [{"id": event_id, "line": line} for event_id, line in zip(ids, lines, strict=True)])
        esc.close()
        refused = [ids[i] for i, line in enumerate(lines) if line.startswith("!")]
        failed = [ids[i] for i, line in enumerate(lines) if not line.startswith("!") and "x" in line]
        assert [r.event_id for r in records if r.position == 0] == refused
        assert [r.event_id for r in records if r.position == len(stages)] == failed
        assert len(collector.data) == len(lines) - len(refused) - len(failed)


class DropA(movement.Cog):
    """A filter taking whole lists (one-to-one: at most one result per datum): data whose text holds "a" go."""

    one_to_one = True

    def __call__(self, datum: dict[str, str]) -> tuple[dict[str, str], ...]:
        return () if "a" in datum["text"] else (datum,)

    def call_batch(self, data: list[dict[str, str]]) -> list[dict[str, str]]:
        return [d for d in data if "a" not in d["text"]]


class TestIdsAfterAListFilter:
    @given(st.lists(st.sampled_from(["a", "x", "ax", "bx", "c", "xa"]), max_size=12), st.booleans())
    def test_an_error_after_a_filter_names_its_own_event(self, lines: list[str], lazy: bool) -> None:
        """A one-to-one list stage that drops data (flow.filter): errors after it name their own events."""
        ids = [f"f:{index * 10}" for index in range(len(lines))]
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        collector = Collector()
        train = movement.Train(esc, [Parse(), DropA(), refuse_x, collector], error_output=records.append)
        if lazy:
            train.send(None, movement.Batch(list(lines), event_ids=lambda: ids))
        else:
            train.send(None, [{"id": event_id, "line": line} for event_id, line in zip(ids, lines, strict=True)])
        esc.close()
        failed = [ids[i] for i, line in enumerate(lines) if "a" not in line and "x" in line]
        assert [r.event_id for r in records] == failed
        assert len(collector.data) == sum("a" not in line and "x" not in line for line in lines)


class TestEqualObjects:
    def test_blank_lines_each_name_their_own_event(self) -> None:
        """Equal short texts are one object in CPython (the cached ""): errors still name each line's own id."""
        records: list[movement.ErrorRecord] = []

        def refuse_blank(line: str) -> tuple[str]:
            if not line:
                raise ValueError("blank")
            return (line,)

        esc = movement.Escapement()
        for cogs in ([refuse_blank, Collector()], [Parse(), refuse_x, Collector()]):
            records.clear()
            train = movement.Train(esc, cogs, error_output=records.append)
            lines = ["", "a", "", "x", "x", "!", "!"]
            train.send(None, movement.Batch(lines, event_ids=lambda: [f"f:{i}" for i in range(7)]))
            expected = ["f:0", "f:2"] if cogs[0] is refuse_blank else ["f:5", "f:6", "f:3", "f:4"]
            assert [r.event_id for r in records] == expected
        esc.close()
        # Looked up by the object alone, an object the batch holds twice names no event.
        assert movement.Batch(["", ""], event_ids=lambda: ["a", "b"]).event_id_of("") is None


class HoldingOutput(movement.Cog):
    """An output that, like a broker drain, holds what it took until its peer confirms."""

    def __init__(self, train: movement.Train, at_flush: bool = False) -> None:
        self.train = train
        self.at_flush = at_flush
        self.taken: list[Any] = []
        self.unsent: list[Any] = []

    def __call__(self, datum: Any) -> tuple[Any, ...]:
        if self.at_flush:
            self.unsent.append(datum)
        else:
            self.taken.append(datum)
            self.train.hold()
        return (datum,)

    @movement.hook
    def flush(self) -> None:
        if self.unsent:
            # Written asynchronously from here on: held until confirmed.
            self.train.hold(len(self.unsent))
            self.taken += self.unsent
            self.unsent = []

    def confirm(self) -> None:
        self.train.release(len(self.taken))
        self.taken = []


class BatchLog(movement.Cog):
    """Records batch_done only."""

    def __init__(self, log: list[Any]) -> None:
        self.log = log

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        self.log.append(batch_id)


class TestAcknowledgementWaitsForEveryOutput:
    def run_until_idle(self, esc: movement.Escapement) -> None:
        for _ in range(3):
            esc.loop.run_until_complete(asyncio.sleep(0))

    def test_an_error_output_holding_its_record_holds_the_batch(self) -> None:
        """A failed datum is done only once its error record is confirmed written."""
        esc = movement.Escapement()
        log: list[Any] = []
        try:
            errors = movement.Train(esc, name="errors")
            holder = HoldingOutput(errors)
            errors.cogs = [holder]
            supply = movement.Supply()

            def fail(datum: Any) -> tuple[Any, ...]:
                raise ValueError("bad")

            train = movement.Train(esc, [supply, fail, BatchLog(log)], error_output=errors)
            assert errors.supplies() == []  # its first cog is fed by the train, no supply
            train.send(supply, movement.Batch(["x"], batch_id="b1"))
            self.run_until_idle(esc)
            assert holder.taken and log == []
            holder.confirm()
            self.run_until_idle(esc)
            assert log == ["b1"]
        finally:
            esc.close()

    def test_the_error_trains_outputs_hear_the_batches_acknowledged(self) -> None:
        """An error train's output hears batch_done of the batches it wrote for, before checkpoint (state saved)."""
        esc = movement.Escapement()
        heard: list[Any] = []
        try:
            errors = movement.Train(esc, name="errors")

            class Recorder(movement.Cog):
                def __call__(self, record: Any) -> None:
                    heard.append("record")

                @movement.hook
                def batch_done(self, batch_id: Any) -> None:
                    heard.append(batch_id)

                @movement.hook
                def checkpoint(self) -> None:
                    heard.append("checkpoint")

            errors.cogs = [Recorder()]
            supply = movement.Supply()

            def fail(datum: Any) -> tuple[Any, ...]:
                raise ValueError("bad")

            train = movement.Train(esc, [supply, fail, Collector()], error_output=errors)
            train.send(supply, movement.Batch(["x"], batch_id="b1"))
            self.run_until_idle(esc)
            assert heard == ["record", "b1", "checkpoint"]
        finally:
            esc.close()

    def test_data_an_output_holds_at_flush_hold_the_batch(self) -> None:
        """An output that starts writing in flush and holds its data there is not acknowledged early."""
        esc = movement.Escapement()
        log: list[Any] = []
        try:
            train = movement.Train(esc)
            holder = HoldingOutput(train, at_flush=True)
            supply = movement.Supply()
            train.cogs = [supply, holder, BatchLog(log)]
            train.send(supply, movement.Batch(["x"], batch_id="b1"))
            self.run_until_idle(esc)
            assert holder.taken == ["x"] and log == []
            holder.confirm()
            self.run_until_idle(esc)
            assert log == ["b1"]
        finally:
            esc.close()

    def test_a_failing_output_rejects_a_held_datum_without_counting_it_again(self) -> None:
        """reject() from a cog inside the train: one error, the datum counted once."""
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []
        try:
            train = movement.Train(esc, error_output=records.append)
            holder = HoldingOutput(train)
            supply = movement.Supply()
            train.cogs = [supply, holder]
            train.send(supply, ["x"])
            esc.reject(holder, "x", ValueError("the peer refused it"))
            holder.confirm()
            assert (train.events_in, train.errors, len(records)) == (1, 1, 1)
            esc.reject(supply, "y", ValueError("line too long"))  # from a supply: it enters
            assert (train.events_in, train.errors) == (2, 2)
        finally:
            esc.close()


class TestEventDone:
    def test_each_datum_gets_event_done_with_the_id_it_carried(self) -> None:
        """event_done names the ids the supply gave: passed, dropped and failed data alike, after the flush."""
        log: list[Any] = []
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        collector = Collector()

        def drop_two(data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
            return () if data["id"] == "f:2" else (data,)

        train = movement.Train(esc, [EventLog(log), drop_two, Exploding(), collector], error_output=records.append)
        train.send(
            None,
            movement.Batch(
                [{"id": "f:1", "value": "ok"}, {"id": "f:2", "value": "ok"}, {"id": "f:3", "value": "bad"}],
                batch_id=("internal", 1),
            ),
        )
        esc.close()
        assert log == [("event_done", "f:1"), ("event_done", "f:2"), ("event_done", "f:3")]
        assert records[0].event_id == "f:3"

    def test_a_drain_that_announces_without_holding_is_not_heard_twice(self, caplog: pytest.LogCaptureFixture) -> None:
        """A drain that keeps data without hold() and announces them once written: each event is heard once, and the
        author is told, once, how to delay data (the train announced them when the drain returned None)."""
        log: list[Any] = []
        esc = movement.Escapement()

        class Buffering(movement.Cog):
            def __init__(self, train: movement.Train) -> None:
                self.train = train
                self.kept: list[Any] = []

            def __call__(self, data: Any) -> None:
                self.kept.append(data)
                return None

            def write(self) -> None:
                for data in self.kept:
                    self.train.notify("event_done", data["id"])
                self.kept.clear()

        train = movement.Train(esc, name="buffered")
        drain = Buffering(train)
        train.cogs = [EventLog(log), drain]
        with caplog.at_level(logging.WARNING, logger="deadbeat.train"):
            for number in range(3):
                train.send(None, movement.Batch([{"id": f"ev{number}"}], batch_id=("b", number)))
            drain.write()
        esc.close()
        assert log == [("event_done", "ev0"), ("event_done", "ev1"), ("event_done", "ev2")]
        said = [r.getMessage() for r in caplog.records if "announced by a cog after the train" in r.getMessage()]
        assert len(said) == 1 and "train.hold()" in said[0] and "'ev0'" in said[0]

    def test_data_without_an_id_are_said_once_not_skipped_silently(self, caplog: pytest.LogCaptureFixture) -> None:
        """A datum whose id the id_getter cannot read gets no event_done: a warning says so, once, with an example."""
        log: list[Any] = []
        esc = movement.Escapement()
        train = movement.Train(esc, [EventLog(log), Collector()], id_getter="id", name="ids")
        with caplog.at_level(logging.WARNING, logger="deadbeat.train"):
            train.send(None, movement.Batch(["plain string", {"noid": 1}, {"id": "ok"}], batch_id=("b", 1)))
            train.send(None, movement.Batch([{"noid": 2}], batch_id=("b", 2)))
        esc.close()
        assert log == [("event_done", "ok")]
        said = [r.getMessage() for r in caplog.records if "without an event id" in r.getMessage()]
        assert said == [
            "train ids: data without an event id (the id_getter finds none), such as 'plain string': event_done"
            " is not sent for them (said once). If their ids are under another key, tell the train where:"
            " Train(esc, id_getter=...), or [train] id_getter in a pipeline file"
        ]

    def test_after_a_merge_a_cog_that_hears_renames_hears_of_the_new_id_once(self) -> None:
        """Two events merged into one (event_rename): a cog tracking renames hears event_done for the merged
        id, once, when both are done; a cog that does not hear renames hears of the ids it saw."""
        tracking: list[Any] = []
        plain: list[Any] = []

        class Tracking(movement.Cog):
            def event_rename(self, old: Any, new: Any) -> None:
                tracking.append(("rename", old, new))

            def event_done(self, event_id: Any) -> None:
                tracking.append(("done", event_id))

        class Plain(movement.Cog):
            def event_done(self, event_id: Any) -> None:
                plain.append(event_id)

        class Merge(movement.Cog):
            """Holds two data and sends on one, renaming both ids to 'merged'."""

            def __init__(self, train: movement.Train) -> None:
                self.train = train
                self.kept: list[Any] = []

            def __call__(self, datum: Any) -> tuple[Any, ...]:
                if not datum["id"].startswith("e"):
                    return (datum,)
                self.train.hold()
                self.kept.append(datum)
                if len(self.kept) < 2:
                    return ()
                for old in self.kept:
                    self.train.notify("event_rename", old["id"], "merged")
                self.kept = []
                self.train.release(2)
                return ({"id": "merged"},)

        esc = movement.Escapement()
        train = movement.Train(esc)
        train.cogs = [Tracking(), Plain(), Merge(train), Collector()]
        train.send(None, [{"id": "e0"}])
        train.send(None, [{"id": "e1"}, {"id": "x"}])
        esc.shutdown()
        esc.run()
        esc.close()
        assert tracking == [("rename", "e0", "merged"), ("rename", "e1", "merged"), ("done", "merged"), ("done", "x")]
        assert plain == ["e0", "e1", "x"]

    def test_a_rename_after_the_old_id_was_done_is_not_kept_forever(self) -> None:
        """A cog that swallowed events without holding them and renames them later: once every batch that was in
        the train at the rename is acknowledged, the merged id is announced and nothing of the rename is kept
        (a daemon that ran for a year would otherwise keep every such id)."""
        tracking: list[Any] = []

        class Tracking(movement.Cog):
            def event_rename(self, old: Any, new: Any) -> None:
                tracking.append(("rename", old, new))

            def event_done(self, event_id: Any) -> None:
                tracking.append(("done", event_id))

        class LateMerge(movement.Cog):
            """Swallows 'e' events (no hold) and renames them when the next 'flush' datum comes."""

            def __init__(self, train: movement.Train) -> None:
                self.train = train
                self.seen: list[Any] = []

            def __call__(self, datum: Any) -> tuple[Any, ...]:
                if datum["id"].startswith("e"):
                    self.seen.append(datum["id"])
                    return ()
                for old in self.seen:
                    self.train.notify("event_rename", old, f"merged-{datum['id']}")
                self.seen = []
                return (datum,)

        esc = movement.Escapement()
        train = movement.Train(esc)
        train.cogs = [Tracking(), LateMerge(train), Collector()]
        train.send(None, [{"id": "e0"}, {"id": "e1"}])
        assert tracking == [("done", "e0"), ("done", "e1")]
        train.send(None, [{"id": "f1"}])  # renames e0 and e1, long done, to merged-f1
        train.send(None, [{"id": "f2"}])
        assert tracking[2:] == [
            ("rename", "e0", "merged-f1"),
            ("rename", "e1", "merged-f1"),
            ("done", "f1"),
            ("done", "merged-f1"),
            ("done", "f2"),
        ]
        assert (train._renames, train._parts_left, len(train._rename_order)) == ({}, {}, 0)
        # One renamed while nothing is in the train at all: settled when the train finishes.
        train.notify("event_rename", "e9", "merged-last")
        esc.shutdown()
        esc.run()
        esc.close()
        assert tracking[-2:] == [("rename", "e9", "merged-last"), ("done", "merged-last")]
        assert (train._renames, train._parts_left, len(train._rename_order)) == ({}, {}, 0)

    def test_ids_are_read_before_cogs_change_the_data(self) -> None:
        """A cog replacing the datum does not change which id event_done names."""
        log: list[Any] = []
        esc = movement.Escapement()
        train = movement.Train(esc, [EventLog(log), lambda d: ({"id": "other"},), Collector()])
        train.send(None, [{"id": 7}])
        esc.close()
        assert log == [("event_done", 7)]

    def test_event_done_waits_for_held_data(self) -> None:
        """A datum held by a cog is not done until it has gone on and left the train."""
        log: list[Any] = []
        esc = movement.Escapement()
        train = movement.Train(esc)
        holder = Holder(train)
        collector = Collector()
        train.cogs = [EventLog(log), holder, collector]
        train.send(None, [{"id": "a"}])
        assert log == []
        holder.let_go()
        esc.after(0.05, esc.shutdown)
        esc.run()
        esc.close()
        assert log == [("event_done", "a")] and collector.data == [{"id": "a"}]

    def test_no_listener_no_ids(self) -> None:
        """Without a cog listening to event_done, no datum's id is read at all."""
        reads: list[Any] = []

        def counting_getter(data: Any) -> Any:
            reads.append(data)
            return data

        esc = movement.Escapement()
        train = movement.Train(esc, [plus_one, Collector()], id_getter=counting_getter)
        train.send(None, [1, 2, 3])
        esc.close()
        assert reads == []


class TestExitInFinish:
    @pytest.mark.parametrize("raised", [SystemExit(0), SystemExit(None), SystemExit(5), KeyboardInterrupt()])
    def test_the_cogs_after_it_still_finish_and_the_run_fails(self, raised: BaseException) -> None:
        """sys.exit() in one cog's finish left the later cogs unfinished (held data lost) with exit status 0."""
        esc = movement.Escapement()
        written: list[Any] = []

        class Exits(movement.Cog):
            def __call__(self, datum: Any) -> tuple[Any, ...]:
                return (datum,)

            def finish(self) -> None:
                raise raised

        class Keeps(movement.Cog):
            """Holds every datum until its finish, as a batching cog does."""

            def __init__(self) -> None:
                self.kept: list[Any] = []

            def __call__(self, datum: Any) -> None:
                esc_train.hold()
                self.kept.append(datum)

            def finish(self) -> list[Any]:
                esc_train.release(len(self.kept))
                return self.kept

        class Supply(movement.Supply):
            def __init__(self) -> None:
                esc.after(0, self.give)

            def give(self) -> list[int]:
                esc.after(0.05, esc.shutdown)
                return [1, 2, 3]

        esc_train = movement.Train(esc, [Supply(), Exits(), Keeps(), written.append])
        assert esc_train.run() == 1
        assert written == [1, 2, 3]
        assert any(f"finish raised {type(raised).__name__}" in failure for failure in esc.failures)


class TestErrorTrainFailing:
    def test_a_record_failing_in_the_error_trains_own_cog_fails_the_run(self) -> None:
        """As `deadbeat run` says for [[errors]]: a record the error train's cog fails on is only in the log."""
        esc = movement.Escapement()

        def broken_error_output(record: Any) -> tuple[Any, ...]:
            raise OSError("cannot write error record")

        def refuse_two(datum: int) -> tuple[int, ...]:
            if datum == 2:
                raise ValueError("two")
            return (datum,)

        class Supply(movement.Supply):
            def __init__(self) -> None:
                esc.after(0, self.give)

            def give(self) -> list[int]:
                return [1, 2, 3, 2]

        errors = movement.Train(esc, [broken_error_output], name="errors")
        written: list[int] = []
        main = movement.Train(esc, [Supply(), refuse_two, written.append], error_output=errors)
        assert main.run() == 1
        assert written == [1, 3]
        (failure,) = esc.failures
        assert failure.startswith("errors: ") and "broken_error_output failed on an error record" in failure
        assert failure.endswith("(OSError: cannot write error record); such records are only in the log")


def test_a_negative_hold_is_refused() -> None:
    """hold(-1) was taken silently: a release that no over-release check could see."""
    esc = movement.Escapement()
    train = movement.Train(esc, [lambda d: (d,)])
    with pytest.raises(ValueError, match="hold count must be 0 or more, not -1"):
        train.hold(-1)
    assert train.in_flight == 0
    esc.close()
