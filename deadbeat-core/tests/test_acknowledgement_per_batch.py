"""Batches are acknowledged one by one, in order, as soon as the data each became are gone.

A cog that says which batch it holds (``hold(current=True)``, then its token
for ``release`` and for a late ``send``) holds back that batch and the ones
after it, never the ones before: under a steady flow through a cog that always
holds something, supplies still hear ``batch_done`` for every batch that is
done. A plain ``hold()`` stays as safe as ever: it holds back everything.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat import movement


class Recorder(movement.Cog):
    """Records batch_done, and checks when it comes that the batch's data are truly gone."""

    def __init__(self, truth: dict[Any, int] | None = None) -> None:
        self.done: list[Any] = []
        self.truth = truth

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        if self.truth is not None:
            assert self.truth[batch_id] == 0, f"{batch_id} acknowledged while {self.truth[batch_id]} of it are held"
        self.done.append(batch_id)


def settle(esc: movement.Escapement) -> None:
    for _ in range(3):
        esc.loop.run_until_complete(asyncio.sleep(0))


class Window(movement.Cog):
    """Keeps the last ``size`` data back and lets the oldest go on as each new one comes, like a sliding window."""

    def __init__(self, train: movement.Train, size: int) -> None:
        self.train = train
        self.size = size
        self.kept: list[tuple[Any, movement.Hold]] = []

    def __call__(self, datum: Any) -> tuple[Any, ...]:
        self.kept.append((datum, self.train.hold(current=True)))
        if len(self.kept) <= self.size:
            return ()
        oldest, token = self.kept.pop(0)
        self.train.release(1, token)
        return (oldest,)


def test_an_earlier_batch_is_acknowledged_while_a_later_one_is_held() -> None:
    """Batch 1 was written; batch 2 is still held by the output: batch 1 is acknowledged, batch 2 is not."""
    esc = movement.Escapement()
    try:
        train = movement.Train(esc)
        taken: list[tuple[Any, movement.Hold]] = []

        class Output(movement.Cog):
            def __call__(self, datum: Any) -> tuple[Any, ...]:
                taken.append((datum, train.hold(current=True)))
                return (datum,)

        recorder = Recorder()
        supply = movement.Supply()
        train.cogs = [supply, Output(), recorder]
        train.send(supply, movement.Batch(["a"], batch_id="b1"))
        _, first = taken.pop()
        train.release(1, first)  # b1's datum confirmed written...
        train.send(supply, movement.Batch(["b"], batch_id="b2"))  # ...and b2's arrives before the loop turns
        settle(esc)
        assert recorder.done == ["b1"]
        assert train.in_flight == 1
        _, second = taken.pop()
        train.release(1, second)
        settle(esc)
        assert recorder.done == ["b1", "b2"]
    finally:
        esc.close()


def test_a_steady_flow_through_a_cog_that_always_holds_is_acknowledged_batch_by_batch() -> None:
    """The window never empties, yet every batch whose data all went on is acknowledged, in order."""
    esc = movement.Escapement()
    try:
        train = movement.Train(esc)
        supply = movement.Supply()
        recorder = Recorder()
        out: list[Any] = []
        train.cogs = [supply, Window(train, 3), out.append, recorder]
        for number in range(20):
            train.send(supply, movement.Batch([number], batch_id=number))
            settle(esc)
            assert train.in_flight == min(number + 1, 3)
        # Data 0..16 went on; 17, 18, 19 are still in the window.
        assert out == list(range(17))
        assert recorder.done == list(range(17))
    finally:
        esc.close()


def test_what_a_window_lets_go_keeps_its_own_batch_at_an_output_that_holds_it() -> None:
    """The window returns an earlier batch's datum in a later send: the output holding it holds that batch back."""
    esc = movement.Escapement()
    try:
        train = movement.Train(esc)
        supply = movement.Supply()
        recorder = Recorder()
        output = LateOutput(train)
        train.cogs = [supply, Window(train, 2), output, recorder]
        for number in range(10):
            train.send(supply, movement.Batch([number], batch_id=number))
            settle(esc)
            # Datum number-2 is at the output, unconfirmed: its batch waits.
            assert recorder.done == list(range(max(number - 2, 0)))
            for datum, _ in list(output.taken):
                output.confirm(datum)
            settle(esc)
            assert recorder.done == list(range(max(number - 1, 0)))
    finally:
        esc.close()


def test_a_plain_hold_holds_back_every_batch_as_before() -> None:
    """Without current=True the Train cannot tell whose data are held: nothing is acknowledged while any is."""
    esc = movement.Escapement()
    try:
        train = movement.Train(esc)
        supply = movement.Supply()
        recorder = Recorder()
        kept: list[Any] = []

        def keep(datum: Any) -> tuple[Any, ...]:
            if datum == "keep":
                kept.append(datum)
                train.hold()
                return ()
            return (datum,)

        train.cogs = [supply, keep, recorder]
        train.send(supply, movement.Batch(["keep"], batch_id="b1"))
        train.send(supply, movement.Batch(["pass"], batch_id="b2"))
        settle(esc)
        assert recorder.done == []
        train.release()
        settle(esc)
        assert recorder.done == ["b1", "b2"]
    finally:
        esc.close()


def test_a_release_without_its_token_never_acknowledges_a_batch_still_held() -> None:
    """Held with their batch named, released without a token: the release is taken from the latest batch."""
    esc = movement.Escapement()
    try:
        train = movement.Train(esc)
        supply = movement.Supply()
        recorder = Recorder()

        def keep(datum: Any) -> tuple[Any, ...]:
            train.hold(current=True)
            return ()

        train.cogs = [supply, keep, recorder]
        train.send(supply, movement.Batch(["x"], batch_id="b1"))
        train.send(supply, movement.Batch(["y"], batch_id="b2"))
        train.release()  # in truth b1's datum; taken from b2, the latest
        settle(esc)
        assert recorder.done == []
        train.release()
        settle(esc)
        assert recorder.done == ["b1", "b2"]
    finally:
        esc.close()


def test_data_sent_on_late_with_their_token_keep_their_own_batch() -> None:
    """A lookup answers late and sends its datum on with its token: the output holding it then holds that batch only."""
    esc = movement.Escapement()
    try:
        train = movement.Train(esc)
        supply = movement.Supply()
        recorder = Recorder()
        waiting: list[tuple[Any, movement.Hold]] = []
        written: list[tuple[Any, movement.Hold]] = []

        class Lookup(movement.Cog):
            def __call__(self, datum: Any) -> tuple[Any, ...]:
                if datum == "slow":
                    waiting.append((datum, train.hold(current=True)))
                    return ()
                return (datum,)

            def answer(self) -> None:
                datum, token = waiting.pop()
                train.send(self, [datum + "!"], token=token)
                train.release(1, token)

        class Output(movement.Cog):
            def __call__(self, datum: Any) -> tuple[Any, ...]:
                written.append((datum, train.hold(current=True)))
                return (datum,)

            def confirm(self, datum: Any) -> None:
                for place, (held, token) in enumerate(written):
                    if held == datum:
                        del written[place]
                        train.release(1, token)
                        return

        lookup = Lookup()
        output = Output()
        train.cogs = [supply, lookup, output, recorder]
        train.send(supply, movement.Batch(["slow"], batch_id="b1"))
        train.send(supply, movement.Batch(["fast"], batch_id="b2"))
        lookup.answer()
        output.confirm("fast")
        settle(esc)
        assert recorder.done == []  # b1's datum is still at the output
        train.send(supply, movement.Batch(["quick"], batch_id="b3"))
        output.confirm("slow!")
        settle(esc)
        assert recorder.done == ["b1", "b2"]  # b3's datum is still at the output
        output.confirm("quick")
        settle(esc)
        assert recorder.done == ["b1", "b2", "b3"]
    finally:
        esc.close()


class LateOutput(movement.Cog):
    """Takes what it was given into its own hands at flush (current=True), held until confirmed."""

    def __init__(self, train: movement.Train) -> None:
        self.train = train
        self.buffer: list[Any] = []
        self.taken: list[tuple[Any, movement.Hold]] = []

    def __call__(self, datum: Any) -> tuple[Any, ...]:
        self.buffer.append(datum)
        return (datum,)

    @movement.hook
    def flush(self) -> None:
        for datum in self.buffer:
            self.taken.append((datum, self.train.hold(current=True)))
        self.buffer = []

    def confirm(self, datum: Any) -> None:
        for place, (taken, token) in enumerate(self.taken):
            if taken == datum:
                del self.taken[place]
                self.train.release(1, token)
                return


class TestDataSentOnWithoutTheirToken:
    """Data sent on late without a token belong to no batch known: holds on them keep the oldest batch back."""

    def test_outside_any_send(self) -> None:
        esc = movement.Escapement()
        try:
            train = movement.Train(esc)
            supply = movement.Supply()
            recorder = Recorder()
            kept: list[tuple[Any, movement.Hold]] = []

            def keep(datum: Any) -> tuple[Any, ...]:
                if datum == "x":
                    kept.append((datum, train.hold(current=True)))
                    return ()
                return (datum,)

            output = LateOutput(train)
            train.cogs = [supply, keep, output, recorder]
            train.send(supply, movement.Batch(["x"], batch_id="b1"))
            train.send(supply, movement.Batch(["y"], batch_id="b2"))
            output.confirm("y")
            datum, token = kept.pop()
            train.send(keep, [datum])  # no token: whose it is, is not said
            train.release(1, token)
            settle(esc)
            assert recorder.done == []  # x is still at the output
            output.confirm("x")
            settle(esc)
            assert recorder.done == ["b1", "b2"]
        finally:
            esc.close()

    def test_in_the_middle_of_another_send(self) -> None:
        esc = movement.Escapement()
        try:
            train = movement.Train(esc)
            supply = movement.Supply()
            recorder = Recorder()
            kept: list[tuple[Any, movement.Hold]] = []

            class Keep(movement.Cog):
                def __call__(self, datum: Any) -> tuple[Any, ...]:
                    if datum == "x":
                        kept.append((datum, train.hold(current=True)))
                        return ()
                    if datum == "now" and kept:
                        # Lets an earlier batch's datum go while passing one of this batch.
                        old, token = kept.pop()
                        train.release(1, token)
                        train.send(self, [old])
                    return (datum,)

            output = LateOutput(train)
            train.cogs = [supply, Keep(), output, recorder]
            train.send(supply, movement.Batch(["x"], batch_id="b1"))
            train.send(supply, movement.Batch(["now"], batch_id="b2"))
            output.confirm("now")
            settle(esc)
            assert recorder.done == []  # x, of b1, is still at the output
            output.confirm("x")
            settle(esc)
            assert recorder.done == ["b1", "b2"]
        finally:
            esc.close()


# Operations on a train of a cog that holds data and an output that either
# writes at flush or takes what it was given into its own hands (held until
# confirmed): send a batch of ``size`` data, holding those whose bit is set
# (with their batch named or not) and maybe letting the oldest held datum go
# on with them, as a window does; or let one held datum go (chosen by place),
# with its token or without, sending it on to the output first or dropping it.
sends = st.tuples(
    st.just("send"), st.integers(1, 3), st.integers(0, 7), st.booleans(), st.booleans(), st.booleans(), st.booleans()
)
releases = st.tuples(st.just("release"), st.integers(0, 50), st.booleans(), st.booleans(), st.booleans())


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(sends, releases), max_size=40))
def test_no_batch_is_acknowledged_before_its_data_and_named_holds_free_each_batch(operations: list[Any]) -> None:
    """For every sequence of holds and releases: acknowledgement never runs ahead of the data, and goes in order.

    When every hold named its batch and every release and late send gave its
    token, each batch is acknowledged as soon as it and every batch before it
    hold nothing.
    """
    esc = movement.Escapement()
    try:
        train = movement.Train(esc)
        supply = movement.Supply()
        truth: dict[Any, int] = {}
        recorder = Recorder(truth)
        held: list[tuple[Any, Any]] = []  # (datum, token)
        plan: dict[str, Any] = {"take": False, "window": False}
        exact = True

        class Keep(movement.Cog):
            def __call__(self, datum: Any) -> tuple[Any, ...]:
                batch_id, place = datum
                out: list[Any] = []
                if plan["window"] and held and held[0][0][0] != batch_id:
                    # Like a window: the oldest datum kept goes on with this one.
                    old, token = held.pop(0)
                    truth[old[0]] -= 1
                    train.release(1, token if plan["with_token"] else None)
                    out.append(old)
                if plan["mask"] >> place & 1:
                    token = train.hold(current=plan["current"])
                    truth[batch_id] += 1
                    held.append((datum, token))
                else:
                    out.append(datum)
                return tuple(out)

        class Output(movement.Cog):
            def __init__(self) -> None:
                self.buffer: list[Any] = []

            def __call__(self, datum: Any) -> tuple[Any, ...]:
                self.buffer.append(datum)
                return (datum,)

            @movement.hook
            def flush(self) -> None:
                if plan["take"] and self.buffer:
                    token = train.hold(len(self.buffer), current=True)
                    for datum in self.buffer:
                        truth[datum[0]] += 1
                        held.append((datum, token))
                self.buffer = []

        keep = Keep()
        train.cogs = [supply, keep, Output(), recorder]
        sent: list[int] = []
        for operation in operations:
            if operation[0] == "send":
                _, size, mask, current, take, window, with_token = operation
                batch_id = len(sent)
                truth[batch_id] = 0
                plan.update(mask=mask, current=current, take=take, window=window, with_token=with_token)
                # An output taking a window's old datum and this batch's in one
                # hold can only name the earlier batch: exact no more.
                exact = exact and (current or not mask & ((1 << size) - 1)) and (with_token or not window)
                exact = exact and not (window and take)
                train.send(supply, movement.Batch([(batch_id, place) for place in range(size)], batch_id=batch_id))
                sent.append(batch_id)
            elif held:
                _, choice, with_token, send_on, take = operation
                datum, token = held.pop(choice % len(held))
                plan["take"] = take
                exact = exact and with_token
                if send_on:
                    # On from the holding cog (a lookup's answer), or again to the output.
                    train.send(keep, [datum], token=token if with_token else None)
                truth[datum[0]] -= 1
                train.release(1, token if with_token else None)
            settle(esc)
            done = recorder.done
            assert done == sent[: len(done)], "acknowledged out of order"
            if exact:
                free = 0
                while free < len(sent) and truth[sent[free]] == 0:
                    free += 1
                assert len(done) == free, f"batches {sent[len(done) : free]} are done but not acknowledged"
        plan["take"] = False
        while held:
            datum, token = held.pop()
            truth[datum[0]] -= 1
            train.release(1, token)
        settle(esc)
        assert recorder.done == sent
        assert train.in_flight == 0
    finally:
        esc.close()
