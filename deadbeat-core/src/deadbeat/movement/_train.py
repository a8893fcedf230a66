"""The Train: cogs in order, the code that moves data through them, and broadcasts.

Speed. A datum passes every cog through nested ``for`` loops, exactly as a person
would write them by hand (``for b in cog1(a): for c in cog2(b): ...``). For each
position a datum can enter at (the start, or after any cog that sends held data
on), the Train generates that nest of loops once, as source code, when its cog list
is set. Per datum there is then no dispatch, no queue and no attribute lookup:
only the calls a hand-written loop makes, a ``try`` per level (free in Python 3.11
until something raises) and an ``or ()`` so that a cog may return ``None``.

Lists. A cog may also offer ``call_batch(data)``, taking a list and returning
the list of what one call per datum would have returned. Such a cog is given
whole lists: the nested loops before it collect into a list, and the loops
after it run over its result. A list comprehension around a C function costs a
fraction of a Python call per datum, which is where JSON parsing and formatting
catch up with a hand-written loop. When ``call_batch`` raises, the list is given
to the cog datum by datum, so that only the failing data reach the error output.

Errors. The ``try`` around each level catches what that level's cog raised while
being called or while its returned iterable was consumed; deeper levels catch
their own, so the handler knows the failing cog and datum. The datum goes to the
error output and the loop goes on with the next one.

Backpressure. Data a cog holds back (a DNS cog waiting for answers, an output
waiting for a slow peer) are counted with :meth:`Train.hold` and
:meth:`Train.release`. Above ``high_water`` the supplies' bindings are paused in the
Escapement; at ``low_water`` they resume. Nothing is buffered without bound.
"""

from __future__ import annotations

import inspect
import json
import logging
import types
from collections.abc import Callable, Iterable
from typing import Any

from ._access import Getter, default_id_getter, getter
from ._escapement import Escapement
from ._hooks import BROADCASTS, BroadcastManager

__all__ = ["Batch", "DeadLetterLog", "ErrorRecord", "Train"]

log = logging.getLogger("deadbeat.train")
dead_letter_log = logging.getLogger("deadbeat.deadletter")


def _direct_call(cog: Any) -> Callable[..., Any]:
    """The fastest callable that does what ``cog(datum)`` does.

    Calling an object goes through its type's ``__call__`` slot, which costs
    about twice a call of the bound method itself; the result is the same,
    because Python looks ``__call__`` up on the type, never the instance.
    """
    if isinstance(cog, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type)):
        return cog  # type: ignore[no-any-return]
    # The function itself is wanted here, not a test of callability.
    call = getattr(type(cog), "__call__", None)  # noqa: B004
    if isinstance(call, types.FunctionType):
        return call.__get__(cog, type(cog))  # type: ignore[no-any-return]
    return cog  # type: ignore[no-any-return]


def _batch_call(cog: Any) -> Callable[[list[Any]], list[Any]] | None:
    """The cog's ``call_batch`` method, or ``None`` when it has none."""
    many = getattr(cog, "call_batch", None)
    return many if callable(many) else None


class Batch(list):  # type: ignore[type-arg]
    """A supply's batch of data with one event id for the whole batch.

    When every datum of the batch has left the train (reached the end, was
    dropped or went to the error output) and nothing is held back, the Train
    broadcasts ``flush``, then ``event_done(event_id)``, then ``checkpoint``. A
    supply so learns, once per batch and at no cost per datum, that it may
    acknowledge its source or persist its position.

    :param data: the data.
    :param event_id: the batch's id, unique among the supply's batches.
    """

    def __init__(self, data: Iterable[Any] = (), event_id: Any = None) -> None:
        super().__init__(data)
        self.event_id = event_id


class ErrorRecord:
    """What the error output receives when a cog raises on a datum.

    :ivar event_id: the datum's id (``None`` when it has none).
    :ivar cog: ``str()`` of the cog that raised.
    :ivar position: the cog's index in the train.
    :ivar error: the exception.
    :ivar datum: the datum as the cog received it.
    """

    __slots__ = ("event_id", "cog", "position", "error", "datum")

    def __init__(self, event_id: Any, cog: str, position: int, error: BaseException, datum: Any) -> None:
        self.event_id = event_id
        self.cog = cog
        self.position = position
        self.error = error
        self.datum = datum

    def as_dict(self) -> dict[str, Any]:
        """:returns: the record as a datum for an error train."""
        return {
            "event_id": self.event_id,
            "cog": self.cog,
            "position": self.position,
            "error": f"{type(self.error).__name__}: {self.error}",
            "datum": self.datum,
        }


def _render_datum(datum: Any) -> str:
    if isinstance(datum, bytes):
        return repr(datum)
    try:
        return json.dumps(datum, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        return repr(datum)


class DeadLetterLog:
    """The default error output: one log line per failed datum, holding the datum.

    Lines go to the ``deadbeat.deadletter`` logger at ERROR, so the datum is kept
    wherever logging is configured to write, and can be replayed from there.
    """

    def __call__(self, record: ErrorRecord) -> None:
        dead_letter_log.error(
            "%s: dead letter from %s: %s: %s | %s",
            record.event_id if record.event_id is not None else "-",
            record.cog,
            type(record.error).__name__,
            record.error,
            _render_datum(record.datum),
        )


ErrorOutput = Callable[[ErrorRecord], Any]


class Train:
    """The geartrain: cogs in order and the Escapement driving them.

    :param esc: the application's Escapement; a new one when omitted.
    :param cogs: the cogs, in order; may also be set later through :attr:`cogs`.
    :param id_getter: how to read an event's id for log messages (callable or
        field path); by default ``ID``, ``id`` or ``_id`` of a mapping.
    :param error_output: where data a cog raised on go: a callable taking an
        :class:`ErrorRecord`, or another Train fed with ``record.as_dict()``.
        Default: :class:`DeadLetterLog`.
    :param high_water: held data (see :meth:`hold`) above which supplies pause.
    :param low_water: held data at which paused supplies resume; half of
        ``high_water`` by default.
    """

    def __init__(
        self,
        esc: Escapement | None = None,
        cogs: Iterable[Any] = (),
        *,
        id_getter: Getter | str | None = None,
        error_output: ErrorOutput | Train | None = None,
        high_water: int = 10_000,
        low_water: int | None = None,
    ) -> None:
        self.esc = esc if esc is not None else Escapement()
        self.id_getter = getter(id_getter, default_id_getter)
        self.error_output = error_output if error_output is not None else DeadLetterLog()
        self.high_water = high_water
        self.low_water = high_water // 2 if low_water is None else low_water
        #: Data entered by supplies, data that left the last cog, data that failed.
        self.events_in = 0
        self.events_out = 0
        self.errors = 0
        #: Data held back by cogs, as reported through hold()/release().
        self.in_flight = 0
        self.paused = False
        self.finished = False
        # Ids of batches fully handed over but not yet acknowledged (see Batch).
        self._unacknowledged: list[Any] = []
        self._completion_scheduled = False
        self._cogs: list[Any] = []
        self._index: dict[int, int] = {}
        self._entries: list[Callable[[Iterable[Any]], int]] = []
        self._broadcasts: dict[str, list[tuple[Callable[..., Any], tuple[str, ...], Any]]] = {}
        self._pm = BroadcastManager()
        if self not in self.esc.trains:
            self.esc.trains.append(self)
        self.cogs = list(cogs)

    # -- cogs ----------------------------------------------------------------

    @property
    def cogs(self) -> list[Any]:
        """The cogs in order; assigning a new list rebuilds the train."""
        return list(self._cogs)

    @cogs.setter
    def cogs(self, cogs: Iterable[Any]) -> None:
        cogs = list(cogs)
        for position, cog in enumerate(cogs):
            if not callable(cog):
                raise TypeError(f"cog {position} ({cog!r}) is not callable")
        for plugin in self._pm.get_plugins():
            self._pm.unregister(plugin)
        self._cogs = cogs
        self._index = {}
        for position, cog in enumerate(cogs):
            self._index.setdefault(id(cog), position)
        # pluggy calls implementations last-registered first: registering in
        # reverse makes every broadcast reach the cogs in train order.
        for cog in reversed(cogs):
            if self._pm.is_registered(cog):
                continue
            try:
                self._pm.register(cog, name=f"cog-{id(cog)}")
            except Exception as exc:
                raise TypeError(f"cog {cog} cannot take part in broadcasts: {exc}") from exc
        self._broadcasts = {}
        # What every entry's code is given: each cog's call, and for a cog with
        # call_batch its list step (None for the others).
        calls = list(map(_direct_call, cogs))
        stages = [
            self._batch_stage(i, cog, calls[i]) if _batch_call(cog) is not None else None for i, cog in enumerate(cogs)
        ]
        self._entries = [self._compile(start, calls, stages) for start in range(len(cogs) + 1)]

    def append(self, cog: Any) -> None:
        """Add a cog at the end of the train."""
        self.cogs = [*self._cogs, cog]

    def extend(self, cogs: Iterable[Any]) -> None:
        """Add cogs at the end of the train."""
        self.cogs = [*self._cogs, *cogs]

    def has_cog(self, cog: object) -> bool:
        """:returns: whether ``cog`` is one of this train's cogs."""
        return id(cog) in self._index

    def supplies(self) -> list[Any]:
        """:returns: the cogs that produce data: marked ``supply`` or first in line."""
        return [c for i, c in enumerate(self._cogs) if i == 0 or getattr(c, "supply", False)]

    def _compile(
        self, start: int, calls: list[Callable[..., Any]], stages: list[Callable[[list[Any]], list[Any]] | None]
    ) -> Callable[[Iterable[Any]], int]:
        """Generate the code that carries data entering at ``start``.

        Runs of cogs called datum by datum become nested loops; a cog offering
        ``call_batch`` gets the whole list between two such runs. The source is
        built only from integers and fixed names; the cogs are passed in as
        closure values, never written into the text.
        """
        count = len(self._cogs)
        batched = [stage is not None for stage in stages]
        # The cogs arrive as closure cells; copied into locals once per batch,
        # the inner loops read them with the cheapest load there is.
        body = ["def run(batch):"]
        body += [f"    c{i} = k{i}" for i in range(start, count) if not batched[i]]
        position = start
        current = "batch"
        counted = False
        if any(batched[start:]):
            body.append("    data = batch if isinstance(batch, list) else list(batch)")
            current = "data"
        while position < count:
            if batched[position]:
                body.append(f"    if {current}:")
                body.append(f"        {current} = b{position}({current})")
                position += 1
                continue
            end = position
            while end < count and not batched[end]:
                end += 1
            last = end == count
            body += ["    out = 0"] if last else ["    nxt = []", "    put = nxt.append"]
            body.append(f"    for d{position} in {current}:")
            indent = "        "
            for level in range(position, end):
                body.append(f"{indent}try:")
                body.append(f"{indent}    for d{level + 1} in c{level}(d{level}) or ():")
                indent += "        "
            body.append(f"{indent}out += 1" if last else f"{indent}put(d{end})")
            for level in reversed(range(position, end)):
                indent = indent[:-8]
                body.append(f"{indent}except Exception as e:")
                body.append(f"{indent}    err({level}, d{level}, e)")
            if last:
                counted = True
            else:
                body.append("    data = nxt")
                current = "data"
            position = end
        if counted:
            body.append("    return out")
        elif current == "batch":
            # No cog after the entry: everything entered left.
            body.append("    return len(batch) if isinstance(batch, (list, tuple)) else sum(1 for _ in batch)")
        else:
            body.append(f"    return len({current})")
        params = ", ".join(["err", *(f"k{i}" for i in range(count)), *(f"b{i}" for i in range(count))])
        source = f"def make({params}):\n" + "\n".join("    " + line for line in body) + "\n    return run\n"
        namespace: dict[str, Any] = {}
        exec(compile(source, f"<deadbeat train from {start}>", "exec"), namespace)  # noqa: S102
        run: Callable[[Iterable[Any]], int] = namespace["make"](self._on_error, *calls, *stages)
        return run

    def _batch_stage(self, position: int, cog: Any, one: Callable[..., Any]) -> Callable[[list[Any]], list[Any]]:
        """The step for a cog with ``call_batch``: the whole list at once, datum by datum on failure.

        ``call_batch`` promises the results of calling the cog on each datum in
        turn, and nothing else that a second go would repeat; so when it raises,
        the same list is given to the cog one datum at a time, and only the
        failing data go to the error output.
        """
        many = _batch_call(cog)
        err = self._on_error

        def stage(data: list[Any]) -> list[Any]:
            try:
                out = many(data)  # type: ignore[misc]
            except Exception:  # noqa: BLE001 - found again, datum by datum, below
                out = []
                extend = out.extend
                for datum in data:
                    try:
                        extend(one(datum) or ())
                    except Exception as exc:  # noqa: BLE001 - routed like any cog error
                        err(position, datum, exc)
                return out
            return out if type(out) is list else list(out)

        return stage

    # -- moving data ---------------------------------------------------------

    def send(self, cog: object | None, data: Iterable[Any] | None) -> int:
        """Send data down the train, starting after ``cog`` (at the start for ``None``).

        This is how a cog delivers held or late data (a DNS answer, a flushed
        aggregate) without waiting for new input; a bound callback that returns
        data does the same through the Escapement.

        :returns: how many data left the last cog.
        :raises ValueError: when ``cog`` is not in this train.
        """
        if data is None:
            return 0
        if cog is None:
            start = 0
        else:
            try:
                start = self._index[id(cog)] + 1
            except KeyError:
                raise ValueError(f"{cog} is not a cog of this train") from None
            if getattr(cog, "supply", False) or start == 1:
                if not isinstance(data, (list, tuple)):
                    data = list(data)
                self.events_in += len(data)
        out = self._entries[start](data)
        self.events_out += out
        event_id = getattr(data, "event_id", None)
        if event_id is not None:
            self._unacknowledged.append(event_id)
        if self.in_flight <= 0 and self._unacknowledged:
            self._complete()
        else:
            # Outputs write what this send gave them: a line appended to a
            # tailed file reaches the output file in the same turn.
            self.notify("flush")
        return out

    def _complete(self) -> None:
        """Acknowledge every batch handed over so far: flush, event_done, checkpoint.

        Called only while nothing is held, so every datum of those batches has
        left the train; outputs write their buffers first, so that the
        acknowledgement never runs ahead of the data.
        """
        self._completion_scheduled = False
        if self.in_flight > 0 or not self._unacknowledged:
            return
        ids, self._unacknowledged = self._unacknowledged, []
        if isinstance(self.error_output, Train):
            self.error_output.notify("flush")
        self.notify("flush")
        for event_id in ids:
            self.notify("event_done", event_id)
        self.notify("checkpoint")
        if isinstance(self.error_output, Train):
            self.error_output.notify("checkpoint")

    def reject(self, cog: object, datum: Any, error: Exception) -> None:
        """Send a datum ``cog`` cannot deliver (an oversize line) to the error output.

        :raises ValueError: when ``cog`` is not in this train.
        """
        try:
            position = self._index[id(cog)]
        except KeyError:
            raise ValueError(f"{cog} is not a cog of this train") from None
        self._on_error(position, datum, error)

    def _on_error(self, position: int, datum: Any, error: Exception) -> None:
        self.errors += 1
        cog = self._cogs[position]
        try:
            event_id = self.id_getter(datum)
        except Exception:  # noqa: BLE001 - a datum without an id still goes to the error output
            event_id = None
        shown_id = event_id if event_id is not None else "-"
        # Bad data are routine for a pipeline: one line each, the traceback at debug.
        log.error("%s: %s raised %s: %s", shown_id, cog, type(error).__name__, error)
        log.debug("%s: traceback of the error in %s", shown_id, cog, exc_info=error)
        record = ErrorRecord(event_id, str(cog), position, error, datum)
        try:
            if isinstance(self.error_output, Train):
                self.error_output.send(None, (record.as_dict(),))
            else:
                self.error_output(record)
        except Exception:
            # The error output itself failed: the log line must still hold the datum.
            log.exception("%s: error output failed", shown_id)
            DeadLetterLog()(record)

    # -- backpressure ----------------------------------------------------------

    def hold(self, count: int = 1) -> None:
        """Report that a cog now holds ``count`` more data back (in flight)."""
        self.in_flight += count
        if not self.paused and self.in_flight >= self.high_water:
            self.paused = True
            log.debug("%d data in flight; pausing supplies", self.in_flight)
            for supply in self.supplies():
                self.esc.pause(supply)

    def release(self, count: int = 1) -> None:
        """Report that ``count`` held data went on or were dropped."""
        self.in_flight -= count
        if self.in_flight <= 0 and self._unacknowledged and not self._completion_scheduled:
            # Not now: the released data are usually sent on right after this
            # call returns, and must be written before their batch is acknowledged.
            self._completion_scheduled = True
            self.esc.enqueue(self._complete)
        if self.paused and self.in_flight <= self.low_water:
            self.paused = False
            log.debug("%d data in flight; resuming supplies", self.in_flight)
            for supply in self.supplies():
                self.esc.resume(supply)

    # -- broadcasts ----------------------------------------------------------

    def _implementations(self, name: str) -> list[tuple[Callable[..., Any], tuple[str, ...], Any]]:
        try:
            return self._broadcasts[name]
        except KeyError:
            pass
        caller = getattr(self._pm.hook, name)
        impls = [(impl.function, tuple(impl.argnames), impl.plugin) for impl in reversed(caller.get_hookimpls())]
        self._broadcasts[name] = impls
        return impls

    def notify(self, name: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Broadcast ``name`` to every cog that has a method of that name, in train order.

        The broadcasts of the specification (``event_done``, ``event_rename``,
        ``finish``, ``done``) go through pluggy; any other name reaches the cogs
        bearing that method. One cog's exception is logged and does not keep the
        broadcast from the others.

        :returns: the results that were not ``None``.
        """
        results = []
        if name in BROADCASTS:
            spec = getattr(self._pm.hook, name).spec
            spec_args = spec.argnames if spec is not None else ()
            kwargs.update(zip(spec_args, args, strict=False))
            for function, argnames, cog in self._implementations(name):
                try:
                    result = function(*[kwargs[a] for a in argnames])
                except Exception:
                    log.exception("%s: broadcast %s failed", cog, name)
                    continue
                if result is not None:
                    results.append(result)
            return results
        seen = set()
        for cog in self._cogs:
            method = getattr(cog, name, None)
            if method is None or not callable(method) or id(cog) in seen:
                continue
            seen.add(id(cog))
            try:
                result = method(*args, **kwargs)
            except Exception:
                log.exception("%s: broadcast %s failed", cog, name)
                continue
            if result is not None:
                results.append(result)
        return results

    async def finish(self) -> None:
        """Finish every cog in train order, carrying down what each one flushes."""
        if self.finished:
            return
        self.finished = True
        impls = {id(cog): function for function, _, cog in self._implementations("finish")}
        for cog in self._cogs:
            function = impls.pop(id(cog), None)
            if function is not None:
                try:
                    result = function()
                    if inspect.isawaitable(result):
                        result = await result
                    if result is not None:
                        self.send(cog, result)
                except Exception:
                    log.exception("%s: finish failed", cog)
            self.esc.finished(cog)
        if self.in_flight > 0:
            log.error(
                "%d data still held after finish; %d batches stay unacknowledged",
                self.in_flight,
                len(self._unacknowledged),
            )
        else:
            self._complete()

    def done(self) -> None:
        """Send ``done`` to every cog in train order."""
        self.notify("done")

    def run(self) -> None:
        """Run the Escapement until shutdown (shorthand for ``train.esc.run()``)."""
        self.esc.run()
