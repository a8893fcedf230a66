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

* the entry point is found and loads, and the cog has a docstring;
* every ``__init__`` parameter is declared: a ``:param:`` line says what it
  means (the reference page, ``cogs show`` and the config insert show it), and
  its default passes its own check (what a pipeline file may give);
* every method named like a broadcast can take that broadcast's arguments
  (else the cog would silently miss it);
* calling the cog on each sample returns ``None`` or an iterable of data (not the
  datum itself, a common slip);
* a cog offering ``call_batch`` gives for the list of samples what one call per
  sample gives, and raises where one of those calls raises;
* ``str(cog)`` shows the arguments it was given;
* in a real Train on a real Escapement, after ``finish`` the cog holds no binding,
  binds nothing new, and everything ends with ``done``;
* with ``flushes_all = True``, every sample reaches the end of the train by the
  end of the shutdown (for cogs that hold data and must flush them).

:class:`Collector` and :func:`run_train` help write further tests.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from .. import conf, movement
from ..movement._hooks import Participant
from ..plugins import CogRegistry

__all__ = ["CogConformance", "Collector", "build_cog", "run_train", "send_through"]


class Collector(movement.Cog):
    """A last cog that keeps every datum reaching it, for assertions."""

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

    :param factory: the cog class or factory.
    :param train: the Train it will run in.
    :param params: keyword parameters.
    """
    try:
        first = next(iter(inspect.signature(factory).parameters), None)
    except (TypeError, ValueError):
        first = None
    if first == "train":
        return factory(train, **params)
    if first == "esc":
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
    through the full shutdown (``finish``, then ``done``).

    :param train: the Train to run them in, for cogs built with it (a cog that
        holds data and sends them on later, such as a DNS lookup, sends into the
        train it was given): ``train = movement.Train(); cog = Lookup(train);
        run_train([cog], data, train=train)``. Its Escapement is used.
    :returns: the collector, holding what reached the end.
    """
    if train is not None:
        esc = train.esc
    esc = esc or movement.Escapement()
    collector = Collector()
    if train is None:
        train = movement.Train(esc)
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
    while any(t.in_flight > 0 for t in trains) and time.monotonic() < deadline:
        esc.loop.run_until_complete(asyncio.sleep(0.01))


def send_through(cogs: Iterable[Any], data: Iterable[Any]) -> tuple[list[Any], list[movement.ErrorRecord]]:
    """Send ``data`` once through ``cogs``, synchronously, keeping what fails.

    For testing bad input: what reached the end, and the error records of the
    data that failed (event id, cog, error, datum), in order.
    """
    records: list[movement.ErrorRecord] = []
    esc = movement.Escapement()
    collector = Collector()
    try:
        train = movement.Train(esc, [*cogs, collector], error_output=records.append)
        train.send(None, list(data))
    finally:
        esc.close()
    return collector.data, records


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

    def _factory(self) -> Any:
        assert self.cog_name, "set cog_name to the entry-point name of the cog under test"
        return CogRegistry().load(self.cog_name)

    def _samples(self) -> list[Any]:
        return copy.deepcopy(list(self.samples))

    def test_entry_point_loads(self) -> None:
        """The cog is found through its entry point, loads, and documents itself."""
        registry = CogRegistry()
        entry = registry.entry(self.cog_name)
        factory = registry.load(self.cog_name)
        assert entry.status == "loaded", entry.error
        assert callable(factory)
        assert entry.summary, f"{self.cog_name}: give the cog a docstring; its first line is its summary"

    def test_settings_are_declared(self) -> None:
        """Each parameter has a :param: line, and its default passes the check pipeline files get."""
        factory = self._factory()
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
        """A method named like a broadcast takes its arguments, so the cog does not silently miss it."""
        esc = movement.Escapement()
        try:
            cog = build_cog(self._factory(), movement.Train(esc), self.params)
            misfits: list[str] = []
            Participant(cog, lambda _cog, name: misfits.append(name))
            assert not misfits, f"{cog}: {', '.join(misfits)} cannot take the broadcast's arguments"
        finally:
            esc.close()

    def test_returns_iterables(self) -> None:
        """Each call returns None or an iterable of data, never the bare datum."""
        esc = movement.Escapement()
        try:
            train = movement.Train(esc)
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
        """``call_batch(samples)`` equals calling the cog on each sample, or raises where a call does.

        ``OneByOne`` (the list goes datum by datum) is always a right answer, if
        nothing was changed before it. A cog that holds data and sends them on
        later (a lookup), or says it does not keep the order of data
        (``ordered = False``), is compared on everything it gave, at once and
        later: the same data, in any order.
        """
        esc = movement.Escapement()
        try:
            train = movement.Train(esc)
            single = build_cog(self._factory(), train, self.params)
            if getattr(single, "call_batch", None) is None:
                return
            # Each in a train of its own, as in a run: a cog that holds data and
            # sends them on later needs to be in the train it was given.
            later = Collector()
            train.cogs = [movement.Supply(), single, later]
            expected: list[Any] = []
            failed = None
            for sample in self._samples():
                try:
                    expected.extend(single(sample) or ())
                except Exception as exc:  # noqa: BLE001 - any error is what is compared
                    failed = exc
            other = movement.Train(esc)
            batched = build_cog(self._factory(), other, self.params)
            later_batched = Collector()
            other.cogs = [movement.Supply(), batched, later_batched]
            samples = self._samples()
            if failed is not None:
                try:
                    result = list(batched.call_batch(samples))
                except Exception:  # noqa: BLE001 - raising is what is asked for
                    return
                raise AssertionError(f"{batched}: call_batch returned {result!r} where a call raised {failed!r}")
            try:
                result = list(batched.call_batch(samples))
            except movement.OneByOne:
                assert samples == self._samples(), f"{batched}: call_batch changed data before OneByOne"
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
        """str(cog) names the class and every argument it was given."""
        esc = movement.Escapement()
        try:
            train = movement.Train(esc)
            cog = build_cog(self._factory(), train, self.params)
            text = str(cog)
            assert " object at 0x" not in text, f"{text}: derive from deadbeat.movement.Cog for a readable str()"
            for name in self.params:
                assert f"{name}=" in text, f"{text}: save __init__ argument {name!r} as self.{name}"
        finally:
            esc.close()

    def test_finish_releases_and_binds_nothing_after(self) -> None:
        """After finish the cog holds no binding and binds nothing new; done follows."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        cog = build_cog(self._factory(), train, self.params)
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
        try:
            esc.run()
        finally:
            esc.close()
        assert not seen_after_finish, f"{cog}: still bound after finish: {seen_after_finish}"
        refused = [b for owner, b in esc.refused if owner is cog]
        assert not refused, f"{cog}: tried to bind after finish: {refused}"
        assert collector.finished and collector.done_called
        if self.flushes_all:
            assert len(collector.data) == len(samples), (
                f"{cog}: {len(samples)} samples in, {len(collector.data)} out after finish"
            )
