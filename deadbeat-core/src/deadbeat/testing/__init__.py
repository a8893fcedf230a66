"""The conformance kit: checks every cog must pass, for cog authors' own test suites.

Subclass :class:`CogConformance` in a pytest module of your distribution, name the
cog by its entry point and give the parameters and sample data::

    from deadbeat.testing import CogConformance

    class TestUpperConformance(CogConformance):
        cog_name = "example.upper"          # the entry-point name you registered
        params = {"field": "line"}
        samples = [{"id": "1", "line": "abc"}]

pytest then runs, against the cog loaded through its entry point like any
application would load it:

* the entry point is found and loads, the cog has a docstring, and the summary
  ``deadbeat cogs`` lists (from the manifest written at install time) is its first line;
* every ``__init__`` parameter is declared: a ``:param:`` line says what it
  means (the reference page, ``cogs show`` and the config insert show it), and
  its default passes its own check (what a pipeline file may give);
* every method named like a broadcast can take that broadcast's arguments
  (else the cog would silently miss it);
* calling the cog on each sample returns ``None`` or an iterable of data (not the
  datum itself, a common slip);
* a cog offering ``call_batch`` gives for the list of samples what one call per
  sample gives, and raises where one of those calls raises, on the samples and
  on lists hypothesis draws from ``sample_strategy`` (by default: the samples,
  repeated and reordered);
* every datum of ``failing_samples`` makes the cog raise, and in a train goes
  to the error output alone, the samples beside it going on;
* building a second cog and running data through the first leaves the second
  unchanged, and leaves the ``__init__`` defaults unchanged (state kept in a
  shared mutable default, ``def __init__(self, seen={})``, or in a class
  attribute, leaks between cogs and between pipelines);
* ``str(cog)`` shows the arguments it was given;
* in a real Train on a real Escapement, after ``finish`` the cog holds no binding,
  binds nothing new, and everything ends with ``done``; every ``train.hold()``
  was matched by a ``train.release()``; no broadcast method (nor ``finish``)
  raised; a ``finish`` returning a coroutine ends
  within ``finish_time_limit`` seconds;
* with ``flushes_all = True``, every sample reaches the end of the train by the
  end of the shutdown (for cogs that hold data and must flush them).

:class:`Collector` and :func:`run_train` help write further tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import inspect
import logging
import signal
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

from .. import conf, movement
from ..movement._cog import _init_params as init_parameters
from ..movement._cog import _is_default as is_default
from ..movement._hooks import Participant
from ..plugins import CogRegistry, cog_summary
from ..plugins._describe import is_plain_cog

__all__ = [
    "FINISH_TIME_LIMIT",
    "CogConformance",
    "Collector",
    "build_cog",
    "run_train",
    "send_through",
    "wait_for_handler",
]

#: Seconds a coroutine returned by ``finish`` may take by default. A shutdown
#: (SIGTERM, the end of ``--once``) waits for each cog's ``finish`` in train
#: order, so one slow cog delays every cog after it; service managers kill what
#: has not stopped after their own limit (systemd: 90 s for all of it).
FINISH_TIME_LIMIT = 5.0


def wait_for_handler(pid: int, signum: int = signal.SIGTERM, timeout: float = 60.0) -> None:
    """Wait until process ``pid`` handles ``signum`` (Linux: read from ``/proc/PID/status``).

    A ``deadbeat run`` just started is still importing Python for a while, and a
    SIGTERM sent then kills it outright (exit status -15) instead of stopping it
    in order. A test that stops a daemon it started waits for this first; a
    fixed sleep is too short on a loaded machine.

    :param pid: the process.
    :param signum: the signal it must catch.
    :param timeout: seconds to wait at most.
    :raises TimeoutError: when it does not catch the signal in time, or has exited.
    """
    deadline = time.monotonic() + timeout
    bit = 1 << (signum - 1)
    while True:
        try:
            with open(f"/proc/{pid}/status") as status:
                caught = next((line.split()[1] for line in status if line.startswith("SigCgt:")), "0")
        except FileNotFoundError:
            raise TimeoutError(f"process {pid} exited before it handled signal {signum}") from None
        if int(caught, 16) & bit:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} did not handle signal {signum} within {timeout} s")
        time.sleep(0.01)


class Collector(movement.Cog):
    """A last cog that keeps every datum reaching it, for assertions.

    :ivar data: every datum that reached it, in order of arrival.
    :ivar finished: whether the ``finish`` broadcast reached it (the shutdown began and got this far).
    :ivar done_called: whether the ``done`` broadcast reached it (the shutdown ended).
    """

    def __init__(self) -> None:
        self.data: list[Any] = []
        self.finished = False
        self.done_called = False

    def __call__(self, data: Any) -> tuple[Any, ...]:
        self.data.append(data)
        return (data,)

    def finish(self) -> None:
        self.finished = True

    def done(self) -> None:
        self.done_called = True


def build_cog(factory: Any, train: movement.Train, params: Mapping[str, Any]) -> Any:
    """Construct a cog as ``deadbeat run`` does: the Train or Escapement first if asked for.

    :param factory: the cog class or factory; or the manual's plain function
        cog (one datum in), which is the cog itself.
    :param train: the Train it will run in.
    :param params: keyword parameters.
    """
    if not params and is_plain_cog(factory):
        return factory
    injected = conf.declared_parameters(factory)[0]
    if injected == "train":
        return factory(train, **params)
    if injected == "esc":
        return factory(train.esc, **params)
    return factory(**params)


def run_train(
    cogs: Iterable[Any],
    data: Iterable[Any] = (),
    *,
    esc: movement.Escapement | None = None,
    timeout: float = 10.0,
    train: movement.Train | None = None,
) -> Collector:
    """Run ``data`` through ``cogs`` and a :class:`Collector` on a real Escapement.

    The run ends when nothing is bound any more (or after ``timeout`` seconds),
    through the full shutdown (``finish``, then ``done``); a ``finish`` that
    has not ended ``timeout`` seconds later is cut short (the Escapement's
    ``shutdown_timeout``, unless it has one already) and ``esc.failures`` says so.

    :param train: the Train to run them in, for cogs built with it (a cog that
        holds data and sends them on later, such as a DNS lookup, sends into the
        train it was given): ``train = movement.Train(); cog = Lookup(train);
        run_train([cog], data, train=train)``. Its Escapement is used.
    :returns: the collector, holding what reached the end.
    """
    if train is not None:
        esc = train.esc
    esc = esc or movement.Escapement()
    if esc.shutdown_timeout is None:
        esc.shutdown_timeout = timeout
    collector = Collector()
    if train is None:
        train = movement.Train(esc, check_results=True)
    train.cogs = [*cogs, collector]
    batch = list(data)
    if batch:
        esc.enqueue(lambda: train.send(None, batch))
    esc.after(timeout, esc.shutdown, keeps_alive=False)
    try:
        esc.run()
    finally:
        esc.close()
    return collector


def _run_until_released(esc: movement.Escapement, trains: Iterable[movement.Train], timeout: float = 30.0) -> None:
    """Run the loop until no train holds data (answers came, or gave up), at most ``timeout`` seconds."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    trains = list(trains)
    # An output writes what it was given at the train's flush, which a run
    # broadcasts after each send: data given to call_batch directly wait for it.
    for train in trains:
        if train.in_flight > 0:
            train.notify("flush")
    while any(t.in_flight > 0 for t in trains) and time.monotonic() < deadline:
        esc.loop.run_until_complete(asyncio.sleep(0.01))
    # Flushing may have connected a client (a broker's): the cogs finish, as at
    # the end of a run, so that nothing of theirs still runs when the loop closes.
    for train in trains:
        if not train.finished:
            esc.loop.run_until_complete(train.finish())
            train.done()


def send_through(cogs: Iterable[Any], data: Iterable[Any]) -> tuple[list[Any], list[movement.ErrorRecord]]:
    """Send ``data`` once through ``cogs``, synchronously, keeping what fails.

    For testing bad input: what reached the end, and the error records of the
    data that failed (event id, cog, error, datum), in order.
    """
    records: list[movement.ErrorRecord] = []
    esc = movement.Escapement()
    collector = Collector()
    try:
        train = movement.Train(esc, [*cogs, collector], error_output=records.append, check_results=True)
        train.send(None, list(data))
    finally:
        esc.close()
    return collector.data, records


class _BroadcastFailures(logging.Handler):
    """Collects what the Train logs when a cog's broadcast method (or finish) raises."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info and ("broadcast" in message or "finish failed" in message):
            self.messages.append(f"{message} ({record.exc_info[0].__name__ if record.exc_info[0] else 'error'})")


class CogConformance:
    """Base class of the conformance tests; set the class attributes in a subclass."""

    #: The entry-point name the cog is registered under (required).
    cog_name: ClassVar[str] = ""
    #: Keyword parameters to build the cog with.
    params: ClassVar[Mapping[str, Any]] = {}
    #: Data to feed it (deep-copied for every test).
    samples: ClassVar[list[Any]] = []
    #: Whether every sample must reach the end of the train by the end of shutdown.
    flushes_all: ClassVar[bool] = False
    #: Seconds the train runs before shutdown is asked for.
    run_seconds: ClassVar[float] = 0.2
    #: Data the cog must refuse by raising (a datum without the field it works
    #: on, text that does not parse): each must raise, and in a train reach the
    #: error output alone. Exercises the error paths the samples do not.
    failing_samples: ClassVar[list[Any]] = []
    #: A hypothesis strategy of one datum, for comparing ``call_batch`` with one
    #: call per datum on generated lists; ``None``: the samples, repeated and reordered.
    sample_strategy: ClassVar[Any] = None
    #: How many generated lists ``call_batch`` is compared on.
    generated_examples: ClassVar[int] = 25
    #: Seconds a coroutine returned by ``finish`` may run (see :data:`FINISH_TIME_LIMIT`).
    finish_time_limit: ClassVar[float] = FINISH_TIME_LIMIT

    def _escapement(self) -> movement.Escapement:
        """A real Escapement whose shutdown cannot hang a test on a ``finish`` that never ends."""
        return movement.Escapement(shutdown_timeout=self.finish_time_limit + 1)

    def _factory(self) -> Any:
        assert self.cog_name, "set cog_name to the entry-point name of the cog under test"
        return CogRegistry().load(self.cog_name)

    def _samples(self) -> list[Any]:
        return copy.deepcopy(list(self.samples))

    def test_entry_point_loads(self) -> None:
        """The cog is found through its entry point, loads, and documents itself."""
        registry = CogRegistry()
        entry = registry.entry(self.cog_name)
        listed = entry.summary if entry.described else None
        factory = registry.load(self.cog_name)
        assert entry.status == "loaded", entry.error
        assert callable(factory)
        summary = cog_summary(factory)
        assert summary, f"{self.cog_name}: give the cog a docstring; its first line is its summary"
        # What `deadbeat cogs` lists comes from the manifest written at install time.
        assert listed is None or listed == summary, (
            f"{self.cog_name}: deadbeat cogs lists {listed!r}, the docstring says {summary!r}:"
            " reinstall the distribution (pip install -e .) to rebuild its manifest"
        )

    def test_settings_are_declared(self) -> None:
        """Each parameter has a :param: line, and its default passes the check pipeline files get."""
        factory = self._factory()
        if is_plain_cog(factory):
            return  # its one parameter is the datum: no setting to declare
        _, declared = conf.declared_parameters(factory)
        undocumented = [d.name for d in declared if not d.doc]
        assert not undocumented, f"{self.cog_name}: write a :param: line for {', '.join(undocumented)}"
        for parameter in declared:
            if parameter.required or parameter.default is None or callable(parameter.default):
                continue
            try:
                parameter.cast(parameter.default)
            except (TypeError, ValueError) as exc:
                raise AssertionError(
                    f"{self.cog_name}: the default of {parameter.name} ({parameter.default!r}) does not fit its"
                    f" annotation ({parameter.type_name})"
                ) from exc

    def test_broadcast_methods_fit(self) -> None:
        """A method named like a broadcast takes its arguments, so the cog does not silently miss it.

        A method named like one of Deadbeat's own broadcasts (``flush``,
        ``checkpoint``...) but not marked ``@movement.hook`` is the cog's own, as
        a cog written to the manual keeps its ``flush()``: a warning says the
        train never calls it, in case it was meant to be a broadcast.
        """
        esc = self._escapement()
        try:
            cog = build_cog(self._factory(), movement.Train(esc, check_results=True), self.params)
            misfits: list[str] = []
            unmarked: list[str] = []
            Participant(cog, lambda _cog, name: misfits.append(name), lambda _cog, name: unmarked.append(name))
            assert not misfits, f"{cog}: {', '.join(misfits)} cannot take the broadcast's arguments"
            if unmarked:
                warnings.warn(
                    f"{cog}: {', '.join(f'{name}()' for name in unmarked)} named like Deadbeat's broadcast but not"
                    " marked @movement.hook, so the train never calls it: mark it if it is meant to be one",
                    UserWarning,
                    stacklevel=2,
                )
        finally:
            esc.close()

    def test_returns_iterables(self) -> None:
        """Each call returns None or an iterable of data, never the bare datum."""
        esc = self._escapement()
        try:
            train = movement.Train(esc, check_results=True)
            cog = build_cog(self._factory(), train, self.params)
            train.cogs = [cog]
            for sample in self._samples():
                result = cog(sample)
                if result is None:
                    continue
                assert not isinstance(result, (str, bytes, Mapping)), (
                    f"{cog} returned {type(result).__name__}; return a tuple such as (data,)"
                )
                iter(result)
        finally:
            esc.close()

    def test_call_batch_matches_calls(self) -> None:
        """``call_batch(samples)`` equals calling the cog on each sample, or raises where a call does."""
        self._check_call_batch(list(self.samples))

    def test_call_batch_matches_calls_on_generated_data(self) -> None:
        """The same holds for lists hypothesis draws: samples repeated, reordered, or from ``sample_strategy``.

        A cog whose batch path keeps state across data (a cache filled in one
        order), or slips on a repeated datum, differs here and not on the samples.
        A cog that holds data and answers later (a lookup, an output waiting for
        its peer) is compared on its samples only, where every answer is awaited.
        """
        try:
            from hypothesis import HealthCheck, given, settings
            from hypothesis import strategies as st
        except ImportError:  # pragma: no cover - hypothesis is in every test extra we write
            return
        factory = self._factory()
        if getattr(factory, "call_batch", None) is None or self._holds_data(factory):
            return
        strategy = self.sample_strategy
        if strategy is None:
            if not self.samples:
                return
            strategy = st.sampled_from(list(self.samples)).map(copy.deepcopy)
        if self.failing_samples:
            strategy = strategy | st.sampled_from(list(self.failing_samples)).map(copy.deepcopy)

        @settings(
            max_examples=self.generated_examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(st.lists(strategy, max_size=12))
        def check(data: list[Any]) -> None:
            self._check_call_batch(data)

        check()

    def _holds_data(self, factory: Any) -> bool:
        """Whether the cog holds the samples back (``train.hold()``) when given them as a list."""
        esc = self._escapement()
        try:
            train = movement.Train(esc, check_results=True)
            cog = build_cog(factory, train, self.params)
            train.cogs = [movement.Supply(), cog, Collector()]
            try:
                cog.call_batch(self._samples())
            except Exception:  # noqa: BLE001 - raising is compared elsewhere
                return False
            return train.in_flight > 0
        finally:
            esc.close()

    def _check_call_batch(self, data: list[Any]) -> None:
        """Compare ``call_batch(data)`` with one call per datum.

        ``OneByOne`` (the list goes datum by datum) is always a right answer, if
        nothing was changed before it. A cog that holds data and sends them on
        later (a lookup), or says it does not keep the order of data
        (``ordered = False``), is compared on everything it gave, at once and
        later: the same data, in any order.
        """
        esc = self._escapement()
        try:
            train = movement.Train(esc, check_results=True)
            single = build_cog(self._factory(), train, self.params)
            if getattr(single, "call_batch", None) is None:
                return
            # Each in a train of its own, as in a run: a cog that holds data and
            # sends them on later needs to be in the train it was given.
            later = Collector()
            train.cogs = [movement.Supply(), single, later]
            expected: list[Any] = []
            failed = None
            for sample in copy.deepcopy(data):
                try:
                    expected.extend(single(sample) or ())
                except Exception as exc:  # noqa: BLE001 - any error is what is compared
                    failed = exc
            other = movement.Train(esc, check_results=True)
            batched = build_cog(self._factory(), other, self.params)
            later_batched = Collector()
            other.cogs = [movement.Supply(), batched, later_batched]
            samples = copy.deepcopy(data)
            if failed is not None:
                try:
                    result = list(batched.call_batch(samples))
                except Exception:  # noqa: BLE001 - raising is what is asked for
                    return
                raise AssertionError(f"{batched}: call_batch returned {result!r} where a call raised {failed!r}")
            try:
                result = list(batched.call_batch(samples))
            except movement.OneByOne:
                assert samples == data, f"{batched}: call_batch changed data before OneByOne"
                return
            if train.in_flight or other.in_flight or getattr(batched, "ordered", True) is False:
                _run_until_released(esc, (train, other))
                everything = [repr(d) for d in expected + later.data]
                everything_batched = [repr(d) for d in result + later_batched.data]
                assert sorted(everything_batched) == sorted(everything), (
                    f"{batched}: call_batch gives other data than one call per sample (counting what came later)"
                )
                return
            assert result == expected, f"{batched}: call_batch gives other data than one call per sample"
        finally:
            esc.close()

    def test_str_shows_arguments(self) -> None:
        """str(cog) names the class and every argument it was given a value of its own (not its default)."""
        esc = self._escapement()
        try:
            train = movement.Train(esc, check_results=True)
            factory = self._factory()
            cog = build_cog(factory, train, self.params)
            text = str(cog)
            assert " object at 0x" not in text, f"{text}: derive from deadbeat.movement.Cog for a readable str()"
            defaults = dict(init_parameters(type(cog)))
            for name in self.params:
                assert hasattr(cog, name), f"{text}: save __init__ argument {name!r} as self.{name}"
                if not is_default(getattr(cog, name), defaults.get(name)):
                    assert f"{name}=" in text, f"{text}: save __init__ argument {name!r} as self.{name}"
        finally:
            esc.close()

    def test_finish_releases_and_binds_nothing_after(self) -> None:
        """After finish the cog holds no binding and binds nothing new, released all it held, and done follows.

        A coroutine returned by ``finish`` must end within ``finish_time_limit``
        seconds: the shutdown waits for it before finishing the cogs after it.
        """
        esc = self._escapement()
        train = movement.Train(esc, check_results=True)
        cog = build_cog(self._factory(), train, self.params)
        late: list[float] = []
        self._limit_finish(cog, late)
        collector = Collector()
        train.cogs = [cog, collector]
        samples = self._samples()
        if samples:
            esc.enqueue(lambda: train.send(None, samples))
        seen_after_finish: list[Any] = []

        def check_after_finish() -> None:
            # Runs once the cog's finish has returned: what it still holds is a leak.
            seen_after_finish.extend(esc.bindings_of(cog))

        original_finished = esc.finished

        def finished(owner: object) -> None:
            original_finished(owner)
            if owner is cog:
                check_after_finish()

        esc.finished = finished  # type: ignore[method-assign]
        esc.after(self.run_seconds, esc.shutdown)
        raised = _BroadcastFailures()
        train_log = logging.getLogger("deadbeat.train")
        train_log.addHandler(raised)
        try:
            esc.run()
        finally:
            train_log.removeHandler(raised)
            esc.close()
        # A broadcast that raises is logged and the run goes on, but `deadbeat run` ends with a failure
        # (a flush that raises stops the pipeline): the kit must not pass it.
        failed = raised.messages + [text for text in esc.failures if "flush failed" in text]
        assert not failed, f"{cog}: a broadcast raised: {'; '.join(failed)}"
        assert not seen_after_finish, f"{cog}: still bound after finish: {seen_after_finish}"
        refused = [b for owner, b in esc.refused if owner is cog]
        assert not refused, f"{cog}: tried to bind after finish: {refused}"
        assert not late, (
            f"{cog}: finish still running after {self.finish_time_limit} s; the shutdown waits for it before"
            " every cog after it: give up on what is outstanding by then (or raise finish_time_limit, documented)"
        )
        assert collector.finished and collector.done_called
        assert train.in_flight == 0, (
            f"{cog}: {train.in_flight} data held with train.hold() and never released with train.release()"
            if train.in_flight > 0
            else f"{cog}: released {-train.in_flight} data more than it held"
        ) + " by the end of the shutdown; deadbeat run --once waits for held data before it ends"
        if self.flushes_all:
            assert len(collector.data) == len(samples), (
                f"{cog}: {len(samples)} samples in, {len(collector.data)} out after finish"
            )

    def _limit_finish(self, cog: Any, late: list[float]) -> None:
        """Make a coroutine returned by the cog's ``finish`` give up after ``finish_time_limit``, noting it."""
        original = getattr(cog, "finish", None)
        if not callable(original):
            return
        limit = self.finish_time_limit

        async def limited(awaitable: Awaitable[Any]) -> Any:
            started = time.monotonic()
            try:
                return await asyncio.wait_for(awaitable, limit)
            except asyncio.TimeoutError:
                late.append(time.monotonic() - started)
                return None

        def finish() -> Any:
            result = original()
            return limited(result) if inspect.isawaitable(result) else result

        try:
            cog.finish = finish
        except AttributeError:  # __slots__ or a read-only property: checked without the limit
            pass

    def test_failing_samples_raise_and_fail_alone(self) -> None:
        """Each of ``failing_samples`` makes the cog raise; in a train it reaches the error output alone."""
        if not self.failing_samples:
            return
        esc = self._escapement()
        try:
            train = movement.Train(esc, check_results=True)
            cog = build_cog(self._factory(), train, self.params)
            train.cogs = [cog]
            for datum in copy.deepcopy(list(self.failing_samples)):
                try:
                    cog(datum)
                except Exception:  # noqa: BLE001 - any exception is a refusal
                    continue
                raise AssertionError(f"{cog}: {datum!r} is in failing_samples but the cog did not raise")
        finally:
            esc.close()
        records: list[movement.ErrorRecord] = []
        esc = self._escapement()
        try:
            train = movement.Train(esc, error_output=records.append, check_results=True)
            cog = build_cog(self._factory(), train, self.params)
            collector = Collector()
            train.cogs = [cog, collector]
            failing = copy.deepcopy(list(self.failing_samples))
            mixed = [*self._samples(), *failing]
            train.send(None, mixed)
            _run_until_released(esc, (train,), timeout=self.run_seconds + 5)
        finally:
            esc.close()
        assert len(records) == len(failing), (
            f"{cog}: {len(failing)} failing samples among {len(mixed)} data, {len(records)} error records"
        )

    def test_no_state_shared_between_cogs(self) -> None:
        """Running data through one cog changes neither another cog nor the ``__init__`` defaults.

        State kept in a mutable default (``def __init__(self, seen={})``) or a
        class attribute is shared by every cog built from the class: two
        pipelines in one process, or two uses in one train, would see each
        other's data.
        """
        factory = self._factory()
        with _watching_shared_state(factory) as touched:
            self._run_two_cogs(factory)
        assert not touched, (
            f"{self.cog_name}: data sent through one cog changed {', '.join(sorted(touched))}, which every cog"
            " built from it shares (a mutable default or class attribute): make a new one in __init__"
        )

    def _run_two_cogs(self, factory: Any) -> None:
        """Build two cogs and run the samples through one: what it shares with the other must not change."""
        defaults = _mutable_defaults(factory)
        before_defaults = _snapshot(defaults)
        esc = self._escapement()
        other_train = movement.Train(esc, check_results=True)
        other = build_cog(factory, other_train, copy.deepcopy(dict(self.params)))
        other_train.cogs = [other, Collector()]
        train = movement.Train(esc, check_results=True)
        cog = build_cog(factory, train, copy.deepcopy(dict(self.params)))
        train.cogs = [cog, Collector()]
        # The containers both cogs hold, the very same objects: what one cog's
        # data do to them, the other sees. (Each cog's own objects may change as
        # it works, connects or times out; that is no concern here.)
        theirs = _state_of(other)
        shared = {
            name: value
            for name, value in _state_of(cog).items()
            if isinstance(value, (list, dict, set, bytearray)) and theirs.get(name) is value
        }
        before_shared = _snapshot(shared)
        samples = self._samples()
        if samples:
            esc.enqueue(lambda: train.send(None, samples))
        esc.after(self.run_seconds, esc.shutdown)
        try:
            esc.run()
        finally:
            esc.close()
        changed_defaults = sorted(k for k, v in _snapshot(defaults).items() if before_defaults.get(k) != v)
        assert not changed_defaults, (
            f"{cog}: the default of {', '.join(changed_defaults)} changed while data ran: state kept in a"
            " mutable default is shared by every cog; default to None and make a new one in __init__"
        )
        changed = sorted(k for k, v in _snapshot(shared).items() if before_shared.get(k) != v)
        assert not changed, (
            f"{cog}: data sent through one cog changed {', '.join(changed)}, which another cog of the class"
            " holds too: they share state (a mutable default or class attribute); make it in __init__"
        )


_MUTATORS: dict[type, tuple[str, ...]] = {
    dict: ("__setitem__", "__delitem__", "__ior__", "clear", "pop", "popitem", "setdefault", "update"),
    list: (
        "__setitem__",
        "__delitem__",
        "__iadd__",
        "__imul__",
        "append",
        "clear",
        "extend",
        "insert",
        "pop",
        "remove",
        "reverse",
        "sort",
    ),
    set: (
        "__iand__",
        "__ior__",
        "__isub__",
        "__ixor__",
        "add",
        "clear",
        "difference_update",
        "discard",
        "intersection_update",
        "pop",
        "remove",
        "symmetric_difference_update",
        "update",
    ),
}


def _watched_type(base: type) -> type:
    """A subclass of ``base`` (dict, list, set) whose every changing method notes the name it stands for."""

    def wrap(name: str) -> Any:
        original = getattr(base, name)

        def changing(self: Any, *args: Any, **kwargs: Any) -> Any:
            self._deadbeat_touched.add(self._deadbeat_name)
            return original(self, *args, **kwargs)

        changing.__name__ = name
        return changing

    namespace = {name: wrap(name) for name in _MUTATORS[base]}
    return type(f"Watched{base.__name__.title()}", (base,), namespace)


_WATCHED: dict[type, type] = {base: _watched_type(base) for base in _MUTATORS}


def _watched(value: Any, name: str, touched: set[str]) -> Any:
    watched = _WATCHED[type(value)](value)
    watched._deadbeat_name = name
    watched._deadbeat_touched = touched
    return watched


@contextlib.contextmanager
def _watching_shared_state(factory: Any) -> Iterator[set[str]]:
    """While in the block, the class attributes and ``__init__`` defaults that are dicts, lists or sets are
    watched copies: any change to one is noted by name, even one that leaves it as an earlier test had
    made it (a set of keys already seen). The originals are put back after."""
    touched: set[str] = set()
    undo: list[Callable[[], None]] = []
    try:
        if inspect.isclass(factory):
            for klass in factory.__mro__:
                if klass.__module__.startswith(("deadbeat.movement", "builtins")):
                    continue
                for name, value in list(vars(klass).items()):
                    if type(value) in _WATCHED and not name.startswith("__"):
                        setattr(klass, name, _watched(value, f"{klass.__qualname__}.{name}", touched))
                        undo.append(functools.partial(setattr, klass, name, value))
        function = factory.__init__ if inspect.isclass(factory) else factory
        function = getattr(function, "__func__", function)
        defaults = getattr(function, "__defaults__", None)
        if defaults and any(type(d) in _WATCHED for d in defaults):
            names = list(inspect.signature(function).parameters)[-len(defaults) :]
            function.__defaults__ = tuple(
                _watched(d, f"the default of {n}", touched) if type(d) in _WATCHED else d
                for n, d in zip(names, defaults, strict=True)
            )
            undo.append(functools.partial(setattr, function, "__defaults__", defaults))
        keyword_defaults = getattr(function, "__kwdefaults__", None)
        if keyword_defaults and any(type(d) in _WATCHED for d in keyword_defaults.values()):
            function.__kwdefaults__ = {
                n: _watched(d, f"the default of {n}", touched) if type(d) in _WATCHED else d
                for n, d in keyword_defaults.items()
            }
            undo.append(functools.partial(setattr, function, "__kwdefaults__", keyword_defaults))
        yield touched
    finally:
        for step in reversed(undo):
            step()


def _mutable_defaults(factory: Any) -> dict[str, Any]:
    """The ``__init__`` defaults and class attributes that are mutable containers, by name."""
    found: dict[str, Any] = {}
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        parameters = []  # type: ignore[assignment]
    for p in parameters:
        if isinstance(p.default, (list, dict, set, bytearray)):
            found[p.name] = p.default
    if inspect.isclass(factory):
        for klass in factory.__mro__:
            if klass.__module__.startswith(("deadbeat.movement", "builtins")):
                continue
            for name, value in vars(klass).items():
                if isinstance(value, (list, dict, set, bytearray)) and not name.startswith("__"):
                    found.setdefault(f"{klass.__qualname__}.{name}", value)
    return found


def _state_of(cog: Any) -> dict[str, Any]:
    """A cog's own attributes and the mutable class attributes it sees."""
    state = dict(getattr(cog, "__dict__", {}))
    state.update(_mutable_defaults(type(cog)))
    return state


def _snapshot(values: Mapping[str, Any]) -> dict[str, Any]:
    """Deep copies of the values that can be copied and compared (sockets, locks and the like are left out)."""
    taken: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, (movement.Train, movement.Escapement)):
            continue
        try:
            copied = copy.deepcopy(value)
            if not bool(copied == value):
                continue  # compared by identity only: a copy tells nothing
        except Exception:  # noqa: BLE001 - whatever cannot be copied or compared is not checked
            continue
        taken[name] = copied
    return taken
