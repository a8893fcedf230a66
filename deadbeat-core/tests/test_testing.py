"""The conformance kit catches the mistakes it is there to catch."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from deadbeat.testing import CogConformance

MakeDist = Callable[..., Path]

BAD_COGS = '''
from deadbeat import movement


class ReturnsDatum(movement.Cog):
    """Returns the datum itself instead of an iterable."""

    def __init__(self, field="x"):
        self.field = field

    def __call__(self, data):
        return data


class Forgetful:
    """Does not save its arguments, so str() says nothing useful."""

    def __init__(self, field="x"):
        self._field = field

    def __call__(self, data):
        return (data,)


class Clingy(movement.Cog):
    """Keeps a timer after finish."""

    def __init__(self, esc):
        self.esc = esc
        esc.every(10, self.tick)

    def tick(self):
        pass

    def __call__(self, data):
        return (data,)


class Rebinding(movement.Cog):
    """Binds again in done."""

    def __init__(self, esc):
        self.esc = esc

    def tick(self):
        pass

    def done(self):
        self.esc.after(1, self.tick)


class Undocumented(movement.Cog):
    def __call__(self, data):
        return (data,)


class Hoarder(movement.Cog):
    """Swallows everything and never flushes."""

    def __call__(self, data):
        return None


class Remembering(movement.Cog):
    """Keeps what it saw in a mutable default, shared by every instance.

    :param seen: what was seen.
    """

    def __init__(self, seen={}):
        self.seen = seen

    def __call__(self, data):
        self.seen[data["x"]] = True
        return (data,)


class ClassCounter(movement.Cog):
    """Counts in a class attribute."""

    totals = {}

    def __call__(self, data):
        self.totals[data["x"]] = self.totals.get(data["x"], 0) + 1
        return (data,)


class Holder(movement.Cog):
    """Holds each datum, sends it on from finish, and forgets to release.

    :param train: the train.
    """

    def __init__(self, train):
        self.train = train
        self.kept = []

    def __call__(self, data):
        self.kept.append(data)
        self.train.hold()
        return None

    def finish(self):
        kept, self.kept = self.kept, []
        return kept


class DedupingBatch(movement.Cog):
    """Its call_batch drops repeated data, one call per datum does not."""

    def __call__(self, data):
        return (data,)

    def call_batch(self, data):
        out = []
        for datum in data:
            if datum not in out:
                out.append(datum)
        return out


class Unmarked(movement.Cog):
    """Means to acknowledge per batch, but forgot the mark."""

    def __call__(self, data):
        return (data,)

    def batch_done(self, batch_id):
        pass


class Lenient(movement.Cog):
    """Accepts anything, even what it was said to refuse."""

    def __call__(self, data):
        return (data,)


class ClassSeen(movement.Cog):
    """Remembers what it saw in a class attribute: the same keys again change nothing visible."""

    seen = set()

    def __call__(self, data):
        self.seen.add(data["x"])
        return (data,)


class RaisingBroadcasts(movement.Cog):
    """Passes data; every broadcast it hears raises."""

    def __call__(self, data):
        return (data,)

    @movement.hook
    def flush(self):
        raise RuntimeError("flush boom")

    def finish(self):
        raise RuntimeError("finish boom")


class NeverFinishes(movement.Cog):
    """Its finish waits for an answer that never comes."""

    def __call__(self, data):
        return (data,)

    async def finish(self):
        import asyncio

        await asyncio.Event().wait()


class SlowFinish(movement.Cog):
    """Its finish waits far longer than a shutdown may."""

    def __call__(self, data):
        return (data,)

    async def finish(self):
        import asyncio

        await asyncio.sleep(30)
'''


STALE = '''
from deadbeat import movement


class Cog(movement.Cog):
    """What it does now."""
'''


@pytest.fixture
def bad_cogs(make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch) -> None:
    site = make_dist(
        "deadbeat-bad-cogs",
        {
            "bad.returns_datum": "bad_cogs_mod:ReturnsDatum",
            "bad.forgetful": "bad_cogs_mod:Forgetful",
            "bad.clingy": "bad_cogs_mod:Clingy",
            "bad.rebinding": "bad_cogs_mod:Rebinding",
            "bad.undocumented": "bad_cogs_mod:Undocumented",
            "bad.hoarder": "bad_cogs_mod:Hoarder",
            "bad.remembering": "bad_cogs_mod:Remembering",
            "bad.class_counter": "bad_cogs_mod:ClassCounter",
            "bad.holder": "bad_cogs_mod:Holder",
            "bad.deduping": "bad_cogs_mod:DedupingBatch",
            "bad.lenient": "bad_cogs_mod:Lenient",
            "bad.slow_finish": "bad_cogs_mod:SlowFinish",
            "bad.class_seen": "bad_cogs_mod:ClassSeen",
            "bad.never_finishes": "bad_cogs_mod:NeverFinishes",
            "bad.raising_broadcasts": "bad_cogs_mod:RaisingBroadcasts",
            "bad.unmarked": "bad_cogs_mod:Unmarked",
        },
        "bad_cogs_mod",
        BAD_COGS,
    )
    monkeypatch.syspath_prepend(str(site))


def kit(name: str, **attributes: object) -> CogConformance:
    cls = type("Kit", (CogConformance,), {"cog_name": name, "samples": [{"x": 1}], "run_seconds": 0.05, **attributes})
    return cls()


@pytest.mark.usefixtures("bad_cogs")
class TestKitCatches:
    def test_returning_the_datum(self) -> None:
        """Returning the bare datum instead of (datum,) fails with advice."""
        with pytest.raises(AssertionError, match="return a tuple such as"):
            kit("bad.returns_datum").test_returns_iterables()

    def test_unsaved_arguments(self) -> None:
        """A cog whose str() hides its arguments fails."""
        with pytest.raises(AssertionError, match="derive from deadbeat.movement.Cog"):
            kit("bad.forgetful", params={"field": "y"}).test_str_shows_arguments()

    def test_binding_kept_after_finish(self) -> None:
        """A timer still held after finish fails the finish check."""
        with pytest.raises(AssertionError, match="still bound after finish"):
            kit("bad.clingy").test_finish_releases_and_binds_nothing_after()

    def test_binding_after_finish(self) -> None:
        """Binding in done fails the check."""
        with pytest.raises(AssertionError, match="tried to bind after finish"):
            kit("bad.rebinding").test_finish_releases_and_binds_nothing_after()

    def test_an_unmarked_broadcast_method(self) -> None:
        """batch_done without @movement.hook is never called by the train: the kit warns, and says what to do,
        but does not fail the cog (a cog written to the manual keeps its own flush(), as the docs allow)."""
        with pytest.warns(UserWarning, match=r"batch_done\(\) named like Deadbeat's broadcast but not marked"):
            kit("bad.unmarked").test_broadcast_methods_fit()

    def test_broadcasts_that_raise(self) -> None:
        """A cog whose flush and finish raise fails the kit, as `deadbeat run` would fail with it."""
        with pytest.raises(AssertionError, match="a broadcast raised: .*finish failed.*flush failed"):
            kit("bad.raising_broadcasts").test_finish_releases_and_binds_nothing_after()

    def test_missing_docstring(self) -> None:
        """A cog without a docstring has no summary and fails."""
        with pytest.raises(AssertionError, match="give the cog a docstring"):
            kit("bad.undocumented").test_entry_point_loads()

    def test_data_not_flushed(self) -> None:
        """A cog that must flush and does not fails with the counts."""
        with pytest.raises(AssertionError, match="1 samples in, 0 out after finish"):
            kit("bad.hoarder", flushes_all=True).test_finish_releases_and_binds_nothing_after()

    def test_state_in_a_mutable_default(self) -> None:
        """A cog keeping state in a mutable __init__ default fails, naming the parameter."""
        with pytest.raises(AssertionError, match="the default of seen changed"):
            kit("bad.remembering").test_no_state_shared_between_cogs()

    def test_state_in_a_class_attribute(self) -> None:
        """A cog counting in a class attribute fails: another cog's state changed."""
        with pytest.raises(AssertionError, match="ClassCounter.totals"):
            kit("bad.class_counter").test_no_state_shared_between_cogs()

    def test_state_in_a_class_attribute_that_earlier_tests_filled(self) -> None:
        """A class-level set of keys seen: caught although an earlier test already added the same keys."""
        checks = kit("bad.class_seen")
        checks.test_returns_iterables()  # fills ClassSeen.seen with the samples' keys
        with pytest.raises(AssertionError, match="changed ClassSeen.seen"):
            checks.test_no_state_shared_between_cogs()

    def test_a_finish_that_never_ends_fails_and_hangs_nothing(self) -> None:
        """Every check of the kit ends on such a cog (the shutdown deadline); the finish check fails."""
        checks = kit("bad.never_finishes", finish_time_limit=0.2)
        failed = []
        signal.alarm(120)  # a hang must fail this test, not the whole run
        try:
            for name in sorted(n for n in dir(checks) if n.startswith("test_")):
                try:
                    getattr(checks, name)()
                except AssertionError:
                    failed.append(name)
        finally:
            signal.alarm(0)
        assert "test_finish_releases_and_binds_nothing_after" in failed

    def test_hold_without_release(self) -> None:
        """Holding data with train.hold() and never releasing them fails, with the count."""
        with pytest.raises(AssertionError, match="1 data held with train.hold\\(\\) and never released"):
            kit("bad.holder", flushes_all=True).test_finish_releases_and_binds_nothing_after()

    def test_call_batch_differing_only_on_generated_data(self) -> None:
        """A batch path that drops repeats passes on distinct samples and fails on generated lists."""
        checks = kit("bad.deduping", samples=[{"x": 1}, {"x": 2}])
        checks.test_call_batch_matches_calls()
        with pytest.raises(AssertionError, match="call_batch gives other data"):
            checks.test_call_batch_matches_calls_on_generated_data()

    def test_failing_sample_that_does_not_raise(self) -> None:
        """A datum declared as failing that the cog accepts fails the check."""
        with pytest.raises(AssertionError, match="is in failing_samples but the cog did not raise"):
            kit("bad.lenient", failing_samples=[None]).test_failing_samples_raise_and_fail_alone()

    def test_stale_manifest(self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch) -> None:
        """A manifest whose summary is not the docstring's first line (an old install) fails, saying to reinstall."""
        import json

        site = make_dist("deadbeat-stale", {"stale.cog": "stale_mod:Cog"}, "stale_mod", STALE)
        info = site / "deadbeat_stale-1.0.dist-info" / "extra_metadata"
        info.mkdir()
        manifest = {"format": 1, "cogs": {"stale.cog": {"value": "stale_mod:Cog", "summary": "What it once did."}}}
        (info / "deadbeat-cogs.json").write_text(json.dumps(manifest))
        monkeypatch.syspath_prepend(str(site))
        with pytest.raises(AssertionError, match="reinstall the distribution"):
            kit("stale.cog").test_entry_point_loads()

    def test_finish_beyond_the_time_limit(self) -> None:
        """A coroutine finish still running after finish_time_limit fails, saying the limit."""
        with pytest.raises(AssertionError, match="finish still running after 0.2 s"):
            kit("bad.slow_finish", finish_time_limit=0.2).test_finish_releases_and_binds_nothing_after()


class TestKitPasses:
    def test_a_good_cog_passes_every_check(self) -> None:
        """The example package's cog passes all checks when run directly."""
        good = kit("example.upper", params={"field": "x"}, samples=[{"x": "a"}], flushes_all=True)
        good.test_entry_point_loads()
        good.test_returns_iterables()
        good.test_str_shows_arguments()
        good.test_finish_releases_and_binds_nothing_after()
        good.test_no_state_shared_between_cogs()
        good.test_call_batch_matches_calls_on_generated_data()

    def test_failing_samples_go_to_the_error_output_alone(self) -> None:
        """A cog raising on declared failing samples passes; only those reach the error output."""
        good = kit("example.upper", params={"field": "x"}, samples=[{"x": "a"}], failing_samples=[{"y": "b"}])
        good.test_failing_samples_raise_and_fail_alone()
        good.test_call_batch_matches_calls_on_generated_data()
