"""The Train: cogs in order, the code that moves data through them, and broadcasts.

How a datum travels. A supply's callback returns a list of data (or sends a
:class:`Batch`); the Escapement hands it to the Train holding the supply, which
runs it through the cogs after the supply. Each cog is called with one datum and
returns an iterable of data, so the path through the cogs is a nest of ``for``
loops, exactly as a person would write it by hand::

    for d1 in cog1(d0):
        for d2 in cog2(d1):
            ...

Speed. For each position a datum can enter at (the start, or after any cog that
sends held data on), the Train writes that nest of loops as Python source and
compiles it, when data first enter there. Per datum there is then no dispatch,
no queue and no attribute lookup: only the calls a hand-written loop makes and
a ``try`` per level (free in Python 3.11 until something raises). A cog may
return ``None`` to drop its datum; the cogs seen doing so are called as
``cog(d) or ()``, and a cog that does it for the first time later makes the
loop raise a ``TypeError`` there, which is taken as that drop (not an error)
before the entries are compiled again with ``or ()`` for that cog: the test
cost a twentieth of the train benchmark's rate when every cog paid for it.
The source is registered with :mod:`linecache`
under a name saying which train and entry it is, so tracebacks show its lines,
``inspect.getsource`` finds it, and :meth:`Train.explain` prints it.

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
error output and the loop goes on with the next one. What is no ``Exception``
(``sys.exit()`` in a cog, a ``KeyboardInterrupt``) escapes the send half-way,
leaving data neither written nor in the error output: from then on the train
acknowledges nothing (see :meth:`Train._escaped`), and the run stops.

Acknowledgement. Each send from a supply (one batch) is remembered, in order,
as a :class:`Hold` until every datum it became has left the train (reached the
end, was dropped, or went to the error output). Then, and once every earlier
batch is done too, the Train broadcasts ``flush`` (outputs write), then
``event_done`` once per datum with the id it carried (only if a cog listens),
then ``batch_done`` for the batch, then ``checkpoint``. Supplies acknowledge
their source in ``batch_done``; nothing is paid per datum unless some cog has
``event_done``. Data a cog holds back keep their batch, and every later one,
unacknowledged: a cog that says which batch it holds (``hold(current=True)``
and the token it returns) holds back only that batch, so a steady flow through
a cog that always holds something is still acknowledged batch by batch; a
plain ``hold()`` holds back everything sent so far, which is always safe.

Backpressure. Data a cog holds back (a DNS cog waiting for answers, an output
waiting for a slow peer) are counted with :meth:`Train.hold` and
:meth:`Train.release`. Above ``high_water`` the supplies' bindings are paused in the
Escapement; at ``low_water`` they resume. Nothing is buffered without bound.
"""

from __future__ import annotations

import asyncio
import dis
import inspect
import itertools
import linecache
import logging
import operator
import re
import reprlib
import sys
import time
import types
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._access import Getter, default_id_getter, getter
from ._errors import DeadLetterLog, ErrorOutput, ErrorRecord, FailureLog, PartialBatch
from ._escapement import Escapement, NullEscapement
from ._hooks import BROADCASTS, BroadcastManager, Implementation, Participant

__all__ = ["Batch", "Hold", "Train", "cog_name", "escapement_of"]

log = logging.getLogger("deadbeat.train")

_train_numbers = itertools.count(1)

#: The live train whose generated code each linecache name holds (see
#: Train._code_filename): two trains of one name must not show each other's lines.
_code_owners: weakref.WeakValueDictionary[str, Train] = weakref.WeakValueDictionary()

#: Stands for "no datum given" where ``None`` is a datum.
_NO_DATUM: Any = object()

#: Lineage of a one-to-one stage that left data out: see _places_by_identity.
_BY_IDENTITY: Any = ["by identity"]


def _iterated_none(error: Exception) -> bool:
    """Whether ``error`` is a generated loop's ``for`` meeting a cog's ``None``: the cog dropped its datum.

    Only a ``TypeError`` raised by the ``GET_ITER`` instruction of the
    generated code itself, about ``None``, is one: the same message from inside
    a cog (even a builtin, which leaves no frame of its own) is raised by a
    call instruction, and is the cog's failure.
    """
    if type(error) is not TypeError or str(error) != "'NoneType' object is not iterable":
        return False
    trace = error.__traceback__
    if trace is None or trace.tb_next is not None:
        return False
    code = trace.tb_frame.f_code
    if not code.co_filename.startswith("<deadbeat train "):
        return False
    return _opcodes(code).get(trace.tb_lasti) == "GET_ITER"


def _opcodes(code: types.CodeType) -> dict[int, str]:
    """The instruction names of ``code`` by offset (looked at only when a loop meets ``None``)."""
    return {instruction.offset: instruction.opname for instruction in dis.get_instructions(code)}


#: What a line of generated code calls: a cog datum by datum, or one given whole lists (see Train._escape_site).
_CALLING = re.compile(r" in c(?P<cog>\d+)\(d\d+\)| = list(?P<list>\d+)\(")

#: The first piece of a list given again to a cog after a PartialBatch (see Train._batch_stage).
_RESUME_PIECE = 256

#: How many event ids announced done by cogs a train remembers, so as not to announce them again.
_TOLD_DONE_KEPT = 100_000

#: How many of a per-datum cog's results are checked in full before it is called directly (see Train._probe).
_TRUSTED_AFTER = 1000


def _places_by_identity(out: list[Any], data: list[Any]) -> list[int] | None:
    """For each of ``out``, the place in ``data`` of that very object, in order.

    :returns: None when one is not there, or when an object is in ``data`` more
        than once (an interned string, a shared constant): which of them was
        kept cannot be told, and no event is better than the wrong one.
    """
    if len(set(map(id, data))) != len(data):
        return None
    places = []
    place = 0
    count = len(data)
    for kept in out:
        while place < count and data[place] is not kept:
            place += 1
        if place == count:
            return None
        places.append(place)
        place += 1
    return places


def _holder(code: types.CodeType) -> str:
    """Who called :meth:`Train.hold` or :meth:`Train.release` from ``code``: its class (or function).

    The class, not the method: a cog holds in one method and releases in a
    callback, so the counts by code are summed by class before they are shown.
    """
    return getattr(code, "co_qualname", code.co_name).partition(".")[0]


def escapement_of(esc_or_train: Any) -> Escapement:
    """:returns: the Escapement of ``esc_or_train``: itself, or a Train's ``esc``.

    For cogs whose first parameter is the Escapement: the manual tells cogs to
    ask for the Train, so they take either.
    """
    return esc_or_train.esc if isinstance(esc_or_train, Train) else esc_or_train  # type: ignore[no-any-return]


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


def _not_data(result: Any) -> bool:
    """Whether a cog's result is the common slip of one datum instead of an iterable of data.

    A string, bytes or a mapping is iterable too, so taken as it is it would
    become its characters or its keys, silently.
    """
    return isinstance(result, (str, bytes, bytearray, Mapping)) or not hasattr(result, "__iter__")


def _made_whole(call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` with its lazy result (a generator, a map) made whole before any datum of it goes on.

    A generator that yields a datum and then raises would otherwise have sent
    that datum down the train while its input went to the error output as
    well: a datum either leaves a cog whole or fails there, never both.
    """

    def whole(datum: Any) -> Any:
        result = call(datum)
        return result if result is None or isinstance(result, (list, tuple)) else tuple(result)

    return whole


def _raised_iterating(error: BaseException) -> bool:
    """Whether ``error`` came out of a generator being iterated by the entry that caught it, rather than
    out of the cog's call: the frame the entry's traceback leads to first is a generator's."""
    caught = error.__traceback__
    called = caught.tb_next if caught is not None else None
    return called is not None and bool(called.tb_frame.f_code.co_flags & inspect.CO_GENERATOR)


def _batch_call(cog: Any) -> Callable[[list[Any]], list[Any]] | None:
    """The cog's ``call_batch`` method, or ``None`` when it has none."""
    many = getattr(cog, "call_batch", None)
    return many if callable(many) else None


def _drop_tracebacks(error: BaseException) -> None:
    """Let go of the frames of a failure whose traceback has been logged (nothing else reads it).

    Kept, the tracebacks of the error and of those it was raised from hold the
    failing calls' frames, which hold the error again: a cycle per failed datum,
    which only the collector frees, and error records gathered during a send
    made it walk tens of thousands of frames.
    """
    current: BaseException | None = error
    for _ in range(8):  # a bound, not a set: chains are short, and may loop
        if current is None:
            return
        current.__traceback__ = None
        current = current.__cause__ or current.__context__


def cog_name(cog: Any) -> str:
    """How log lines and error records name a cog: ``str(cog)``, or a function's qualified name."""
    if isinstance(cog, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return getattr(cog, "__qualname__", repr(cog))
    kind = type(cog)
    plain: Any = object
    if kind.__str__ is plain.__str__ and kind.__repr__ is plain.__repr__:
        # A plain callable class of an app's own: "Cog()", not "<mod.Cog object at 0x7f...>".
        return f"{kind.__name__}()"
    try:
        return str(cog)
    except Exception:  # noqa: BLE001 - a name must never fail
        return kind.__name__


def _label(cog: Any) -> str:
    """:func:`cog_name` on one line of printable ASCII: safe inside a comment of generated code.

    Only what is not printable ASCII is escaped: the rest stays as ``str(cog)``
    wrote it, so that a secret a pipeline masks in its output (written there as
    ``repr`` writes it) is recognised here too.
    """
    return "".join(char if " " <= char <= "~" else ascii(char)[1:-1] for char in cog_name(cog))


#: What a send starts with as the data let go during it (see Train.release):
#: shared and never written, so that a send makes no dict of its own unless needed.
_NOTHING_CARRIED: dict[int | None, Hold] = {}


class Batch(list):  # type: ignore[type-arg]
    """A supply's batch of data with one id for the whole batch.

    When every datum of the batch has left the train (reached the end, was
    dropped or went to the error output) and nothing is held back, the Train
    broadcasts ``batch_done(batch_id)``, right after the ``flush`` that wrote
    them and before ``checkpoint``. A supply so learns, once per batch and at
    no cost per datum, that it may acknowledge its source or persist its position.

    Event ids beside the data. Data need not carry their event ids: a supply may
    give ``event_ids``, a function making the list of every datum's id, in order.
    The Train calls it only when an id is needed (an error record, a listener of
    ``event_done``), so ids cost nothing per datum otherwise, and no field of the
    data can be mistaken for them.

    :param data: the data.
    :param batch_id: the batch's id, unique among the supply's batches.
    :param event_ids: makes the data's event ids, in order, when asked; or the
        ids themselves, a list or tuple as long as the data, when they are at
        hand anyway.
    :raises TypeError: ``event_ids`` is neither callable nor a list or tuple.
    :raises ValueError: a list of ids is not as long as the data.
    """

    # No __dict__: one is made per batch otherwise, and batches are made per read.
    __slots__ = ("batch_id", "_make_ids", "_ids")

    def __init__(
        self,
        data: Iterable[Any] = (),
        batch_id: Any = None,
        event_ids: Callable[[], list[Any]] | list[Any] | tuple[Any, ...] | None = None,
    ) -> None:
        super().__init__(data)
        self.batch_id = batch_id
        self._ids: list[Any] | None = None
        if isinstance(event_ids, (list, tuple)):
            # Refused here, where the supply that made them is on the stack: the train
            # would otherwise fail asking for an id, far from the mistake, at the first error.
            if len(event_ids) != len(self):
                raise ValueError(f"event_ids: {len(event_ids)} ids for {len(self)} data")
            ids = list(event_ids)
            self._ids = ids
            self._make_ids: Callable[[], list[Any]] | None = ids.copy
        elif event_ids is None or callable(event_ids):
            self._make_ids = event_ids
        else:
            raise TypeError(
                f"event_ids must be a function making the ids, or a list of them, not {type(event_ids).__name__}"
            )

    @property
    def knows_ids(self) -> bool:
        """Whether the batch can tell its data's event ids (``event_ids`` was given)."""
        return self._make_ids is not None

    def event_ids(self) -> list[Any]:
        """:returns: every datum's event id, in order (made once, when first asked)."""
        if self._ids is None:
            self._ids = self._make_ids() if self._make_ids is not None else [None] * len(self)
        return self._ids

    def event_id_of(self, datum: Any) -> Any:
        """:returns: the event id of ``datum`` (this very object) in the batch, or ``None``.

        ``None`` too when the object is in the batch more than once (equal short
        texts can be one object, such as the cached ``""``): which event is meant
        cannot be told, and a wrong id is worse than none.
        """
        if not self.knows_ids:
            return None
        found = None
        for index, item in enumerate(self):
            if item is datum:
                if found is not None:
                    return None
                found = index
        return None if found is None else self.event_ids()[found]


class Hold:
    """One batch (an entering send) from the moment it enters until it is acknowledged.

    :meth:`Train.hold` returns the Hold its count went to, a token for
    :meth:`Train.release` and for :meth:`Train.send` of the data when they go
    on. Cogs need not look inside.
    """

    __slots__ = ("number", "batch_id", "event_ids", "held", "open", "acknowledged")

    def __init__(self, number: int = -1, batch_id: Any = None, event_ids: list[Any] | None = None) -> None:
        #: Its place in the train's order of batches (-1: data of no batch to acknowledge).
        self.number = number
        self.batch_id = batch_id
        #: The event ids of its data, only while some cog listens to ``event_done``.
        self.event_ids = event_ids
        #: Data of this batch that cogs hold back, as far as holds could be attributed.
        self.held = 0
        #: Its send is still running: some of its data are still in the cogs.
        self.open = False
        self.acknowledged = False

    @staticmethod
    def earliest(tokens: Iterable[Hold | None]) -> Hold | None:
        """Of the tokens of data going on together, the one to :meth:`Train.send` them with.

        That is the earliest batch's: what is held of them further on then
        holds that batch back, and with it every later one.
        """
        found: Hold | None = None
        for token in tokens:
            if token is not None and (found is None or found.number < 0 or 0 <= token.number < found.number):
                found = token
        return found

    def __repr__(self) -> str:
        state = "acknowledged" if self.acknowledged else f"{self.held} held"
        return f"<Hold of batch {self.batch_id!r}: {state}>"


class _Source:
    """Writes the source of one entry's code: the nest of loops for the cogs from ``start``."""

    def __init__(
        self,
        start: int,
        batched: list[bool],
        measure: str = "off",
        drops: frozenset[int] = frozenset(),
    ) -> None:
        self.start = start
        self.batched = batched
        self.measure = measure
        #: Positions of cogs seen returning None: called as ``cog(d) or ()``.
        self.drops = drops
        self.lines: list[str] = []

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def write(self, train_name: str, labels: list[str]) -> tuple[str, list[str]]:
        """:returns: the source, and the names of the values ``make`` takes (after ``error``)."""
        start, batched, count = self.start, self.batched, len(self.batched)
        params = [f"list{i}" if batched[i] else f"cog{i}" for i in range(start, count)]
        self.lines = [
            f"# Generated by deadbeat.movement.Train for train {ascii(train_name)}:",
            f"# data entering at position {start}" + (", the start." if start == 0 else f", after cog {start - 1}."),
        ]
        for i in range(start, count):
            how = "a whole list per send (call_batch)" if batched[i] else "one call per datum"
            self.lines.append(f"#   cog {i}: {labels[i]} -- {how}")
        measure = self.measure != "off" and start < count
        if measure:
            each = "each cog" if self.measure == "cogs" else "each stage"
            self.lines.append(f"# Measured: data given to {each} counted in passed, time per stage in spent.")
            params = ["passed", "spent", "clock", *params]
        self.lines.append(f"def make({', '.join(['error', 'lineage', *params])}):")
        self.emit(1, "def run(batch):")
        if measure:
            # Counted by len() at the start of each stage: a list, whatever was sent.
            self.emit(2, "batch = batch if isinstance(batch, (list, tuple)) else list(batch)")
            self.emit(2, "t = clock()")
        # The cogs arrive as closure cells; copied into locals once per send,
        # the inner loops read them with the cheapest load there is.
        for i in range(start, count):
            if not batched[i]:
                self.emit(2, f"c{i} = cog{i}")
        current = "batch"
        if any(batched[start:]):
            self.emit(2, "data = batch if isinstance(batch, list) else list(batch)")
            current = "data"
        # The data as they entered: an error anywhere further on walks the
        # lineage of the lists since (one-to-one list stages, nests of per-datum
        # cogs) back to the datum it came from, for its event id (see
        # Train._on_error); where a stage broke the lineage, it is not named.
        self.emit(2, f"entered = {current}")
        position, counted = start, False
        while position < count:
            if batched[position]:
                if measure:
                    self.emit(2, f"passed[{position}] += len({current})")
                self.emit(2, f"if {current}:")
                self.emit(3, f"{current} = list{position}({current})")
                if measure:
                    self._clock(position)
                position += 1
                continue
            end = position
            while end < count and not batched[end]:
                end += 1
            last = end == count
            self._loops(position, end, current, last)
            if measure:
                self._clock(position)
            if last:
                counted = True
            else:
                self.emit(2, "data = nxt")
                current = "data"
            position = end
        if counted:
            self.emit(2, "return out")
        elif current == "batch":
            # No cog after the entry: everything entered left.
            self.emit(2, "return len(batch) if isinstance(batch, (list, tuple)) else sum(1 for _ in batch)")
        else:
            self.emit(2, f"return len({current})")
        self.emit(1, "return run")
        return "\n".join(self.lines) + "\n", params

    def _clock(self, first: int) -> None:
        """Add the time since ``t`` to the stage that starts at cog ``first``; restart ``t``."""
        self.emit(2, "now = clock()")
        self.emit(2, f"spent[{first}] += now - t")
        self.emit(2, "t = now")

    def _loops(self, first: int, end: int, source: str, last: bool) -> None:
        """The nest for cogs ``first`` to ``end - 1``, called datum by datum.

        An error passes (the data as they entered, the list the nest runs over,
        the failing datum's place in it): :meth:`Train._on_error` walks back to
        the datum it came from for the event id, by place, whatever its fields
        and even when equal objects (the cached ``""``) occur twice. The last
        nest finds the place from where its iterator stands (nothing per
        datum); a nest with list stages after it notes which datum each of its
        results came from, in ``lineage``, so that their errors are traced too.
        """
        if last:
            self.emit(2, "out = 0")
        else:
            self.emit(2, "nxt = []")
            self.emit(2, "put = nxt.append")
            self.emit(2, "came_from = []")
            self.emit(2, "mark = came_from.append")
        # Measured: the first cog's data are counted by len(), once per send.
        # Counting every cog's: each deeper cog's by a local counter bumped
        # where its datum appears (a local's += is the cheapest count there
        # is, yet 30 to 60 ns a cog and datum), added to passed after the nest.
        counted = range(first + 1, end) if self.measure == "cogs" else range(0)
        if self.measure != "off":
            self.emit(2, f"passed[{first}] += len({source})")
        for level in counted:
            self.emit(2, f"n{level} = 0")
        if last:
            # Iterating an iterator made here costs nothing more per datum.
            self.emit(2, f"it{first} = iter({source})")
            self.emit(2, f"for d{first} in it{first}:")
            where = f"it{first}"
        else:
            self.emit(2, f"for i{first}, d{first} in enumerate({source}):")
            where = f"i{first}"
        depth = 3
        for level in range(first, end):
            self.emit(depth, "try:")
            none = " or ()" if level in self.drops else ""
            self.emit(depth + 1, f"for d{level + 1} in c{level}(d{level}){none}:")
            depth += 2
            if level + 1 in counted:
                self.emit(depth, f"n{level + 1} += 1")
        if last:
            self.emit(depth, "out += 1")
        else:
            self.emit(depth, f"put(d{end})")
            self.emit(depth, f"mark(i{first})")
        for _level in reversed(range(first, end)):
            depth -= 2
            self.emit(depth, "except Exception as e:")
            self.emit(depth + 1, f"error({_level}, d{_level}, e, (entered, {source}, {where}))")
        if not last:
            self.emit(2, f"lineage[id(nxt)] = (nxt, {source}, came_from)")
        for level in counted:
            self.emit(2, f"passed[{level}] += n{level}")


class Train:
    """The geartrain: cogs in order and the Escapement driving them.

    :param esc: the application's Escapement; when omitted, the one shared by
        every Train of the application (:meth:`Escapement.shared`).
    :param cogs: the cogs, in order; may also be set later through :attr:`cogs`.
    :param id_getter: how to read a datum's event id, for log messages, error
        records and ``event_done`` (callable or field path); by default ``ID``,
        ``id`` or ``_id`` of a mapping.
    :param error_output: where data a cog raised on go: a callable taking an
        :class:`ErrorRecord`, or another Train fed with ``record.as_dict()``
        (this Train then finishes it right after itself at shutdown).
        Default: :class:`DeadLetterLog`.
    :param high_water: held data (see :meth:`hold`) above which supplies pause.
    :param low_water: held data at which paused supplies resume; half of
        ``high_water`` by default.
    :param name: what log lines and generated code call this train.
    :param check_results: check every result of every cog called datum by
        datum, for good: one datum returned in place of ``(datum,)`` then fails
        wherever it happens. By default a cog's first 1,000 results (and the
        rest of the list they came in) are checked, and from then on it is
        called directly, at no cost per datum.
        The testing helpers (:mod:`deadbeat.testing`) and ``deadbeat test``
        check every result.
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
        name: str | None = None,
        check_results: bool = False,
    ) -> None:
        low_water = high_water // 2 if low_water is None else low_water
        if high_water < 1 or not 0 <= low_water < high_water:
            raise ValueError(
                f"high_water must be at least 1 and low_water from 0 to below it, not {high_water} and {low_water}"
            )
        self.esc = esc if esc is not None else Escapement.shared()
        self.name = name if name is not None else f"train-{next(_train_numbers)}"
        # The name its generated code is registered under: the train's, or
        # "NAME #2"... once another live train of that name has other code.
        self._code_name = self.name
        self._code_names = itertools.count(2)
        self.id_getter = getter(id_getter, default_id_getter)
        self.high_water = high_water
        self.low_water = low_water
        #: Data entered by supplies, data that left the last cog, data that failed.
        self.events_in = 0
        self.events_out = 0
        self.errors = 0
        #: Failed data the error output did not take (it raised, or, for an
        #: error train, records its outputs gave up on): each is only in the
        #: log, as a dead-letter line, and the run has failed.
        self.undelivered = 0
        #: Data held back by cogs, as reported through hold()/release().
        self.in_flight = 0
        # Held data by the code that called hold/release (named only if data
        # are never released: see _holder), to blame a cog by name.
        self._holders: dict[types.CodeType, int] = {}
        self.paused = False
        self.finished = False
        # Batches sent in and not acknowledged yet, oldest first (see Hold).
        # Sends that carry nothing to acknowledge (no batch id, no listener of
        # event_done) are not remembered: their holds go to _untracked.
        self._holds: deque[Hold] = deque()
        self._batch_numbers = itertools.count()
        self._untracked = Hold()
        # The Hold of the send in progress (current=True holds count against
        # it), or None outside any send.
        self._current: Hold | None = None
        # Batches of data let go in the middle of the send in progress: by the
        # position of the cog that let them go (None: not known), the earliest.
        self._carried: dict[int | None, Hold] = _NOTHING_CARRIED
        self._completion_scheduled = False
        # The data entering now (during a send from a supply), for the ids of errors.
        self._entering: Any = None
        # The train whose error output this one is, if any (see error_output).
        self._fed_by: Train | None = None
        # An error train's records not yet known written: forgotten whenever it
        # holds nothing and no output of it is blocked; logged as dead letters
        # if it finishes otherwise (see _forget_written).
        self._unwritten: list[Any] = []
        # Where each list a one-to-one list stage gave came from, during the
        # outermost send: id(out) -> (out, its input, which input index each
        # output came from, or None for one each in order). An error walks it
        # back to the datum as it entered (see _entered_from). Held only per send.
        self._lineage: dict[int, tuple[list[Any], list[Any], list[int] | None]] = {}
        self._sending = 0
        #: Outputs that cannot take data now (see block()); ids of cogs.
        self._blocked: set[int] = set()
        self._error_output: ErrorOutput | Train = DeadLetterLog()
        self._failures = FailureLog(log)
        #: Applied to the text of error records that go to an error train (the
        #: cog's name and the error): data leave the process there, past the
        #: log's own masking. A pipeline file sets it to show its ``${file:...}``
        #: secrets as ``***``; ``None`` shows them as they are.
        self.redact: Callable[[str], str] | None = None
        if error_output is not None:
            self.error_output = error_output
        # (cog id, method name) of broadcast methods (and call_batch) already reported as misfits.
        self._misfits: set[tuple[int, str]] = set()
        # Invariants, kept by the cogs setter: _index maps id(cog) to its first
        # position; _entries[p] carries data entering at position p; _starts
        # holds the positions where data enter from outside (0 and after supplies).
        self._cogs: list[Any] = []
        self._names: dict[int, str] = {}
        self._over_released = False
        #: Why the train acknowledges nothing any more, or ``None``: set when an
        #: exception escaped a send (``sys.exit()`` in a cog, a KeyboardInterrupt,
        #: a failure of the train's own), leaving data of the batch under way
        #: neither written nor in the error output (see :meth:`_escaped`).
        self.stopped_acknowledging: str | None = None
        # Renamed event ids (event_rename) waiting for their event_done: old id ->
        # the ids it went on as; new id -> how many renamed ids are not done yet.
        self._renames: dict[Any, list[Any]] = {}
        self._parts_left: dict[Any, int] = {}
        # Renamed ids in the order they were renamed, each with the number of
        # the newest batch then: once every batch up to it is acknowledged, an
        # entry still in _renames was renamed after its event_done had gone
        # out, and nothing would ever take it away (see _settle_late_renames).
        self._rename_order: deque[tuple[int, Any]] = deque()
        self._newest_acknowledged = -1
        # Event ids a cog announced done itself (train.notify("event_done", id),
        # as a drain written to the manual does once it has written): the
        # train's own event_done for them is not sent again. Oldest first, at
        # most _TOLD_DONE_KEPT, and forgotten whenever the train is empty.
        self._told_done: dict[Any, None] = {}
        # Event ids the train announced done itself, the newest _TOLD_DONE_KEPT
        # or so: a cog announcing one of them again (it kept a datum it returned
        # None for, without holding it) is not repeated to the listeners, and
        # is told once how to delay data (see _already_announced).
        self._announced: dict[Any, None] = {}
        self._said_announced_again = False
        # Error records of the send under way, for an error train (see _on_error).
        self._failed: list[ErrorRecord] = []
        self._index: dict[int, int] = {}
        self._said_no_id = False
        # Event ids of data held by cogs called datum by datum, noted as they
        # held them: id(datum) -> (datum, event id), until the datum is sent on
        # late (see _note_held_id). Forgotten when nothing is held any more.
        self._held_ids: dict[int, tuple[Any, Any]] = {}
        self._forgetting_held_ids = False
        #: Whether every result of a per-datum cog is checked for good (no cog is ever trusted).
        self.check_results = check_results
        # Positions of per-datum cogs whose results have been seen to be
        # iterables of data _TRUSTED_AFTER times (the entries are then compiled
        # again with the cog called directly).
        self._trusted: set[int] = set()
        # Whether the entries are to be compiled again when the outermost send
        # ends: a cog was trusted, or seen returning None.
        self._recompile = False
        # Positions of per-datum cogs seen returning None (dropping their datum):
        # called as ``cog(d) or ()`` (see the module docstring).
        self._drops: set[int] = set()
        # Of those, the ones whose result was a lazy iterable (a generator, a
        # map): called through _made_whole from then on.
        self._lazy: set[int] = set()
        self._entries: list[Callable[[Iterable[Any]], int]] = []
        # Per entry position compiled so far: its file name and source.
        self._sources: dict[int, tuple[str, str]] = {}
        # What _compile_entries prepared for the entries still to be compiled.
        self._plan: tuple[list[bool], list[str], list[Any], str, frozenset[int]] = ([], [], [], "off", frozenset())
        self._starts: frozenset[int] = frozenset({0})
        self._broadcasts: dict[str, list[Implementation]] = {name: [] for name in BROADCASTS}
        #: As an error train: one of its cogs failed on a record, which failed the run (said once).
        self._said_failing_here = False
        #: (cog, broadcast) pairs whose method raised, counted as failures once each.
        self._failed_broadcasts: set[tuple[int, str]] = set()
        self._pm = BroadcastManager()
        # Per position, kept by the cogs setter (one more than the cogs, the
        # last for what left the train): data given to each cog, while
        # measuring; seconds spent in the stage that starts at each cog, while
        # measuring; data each cog raised on, always (errors are rare).
        self._measure = "off"
        self.passed: list[int] = []
        self.spent: list[float] = []
        self.cog_errors: list[int] = []
        self.esc.join_shutdown(self)
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
            if isinstance(cog, type):
                raise TypeError(f"cog {position} is the class {cog.__name__}, not a cog: write {cog.__name__}(...)")
        for old in self._cogs:
            self.esc.unroute(old, self)
        for plugin in self._pm.get_plugins():
            self._pm.unregister(plugin)
        self._cogs = cogs
        # Names for error records and log lines, made on a cog's first failure: rendering
        # a cog's parameters cost more than the rest of a failure's handling together.
        self._names = {}
        self._trusted = set()
        self._drops = set()
        self._lazy = set()
        self._index = {}
        for position, cog in enumerate(cogs):
            self._index.setdefault(id(cog), position)
        for position, cog in enumerate(cogs):
            if self._index[id(cog)] != position:
                continue  # the same cog twice takes part in broadcasts once
            self.esc.route(cog, self)
            self._check_escapement(cog)
            participant = Participant(cog, self._misfit, self._unmarked)
            self._pm.register(participant, name=f"{self.name} cog {position}")
        self._broadcasts = {name: self._pm.implementations(name) for name in BROADCASTS}
        self._starts = self._entry_positions()
        self._reset_measures()
        self._compile_entries()

    def _reset_measures(self) -> None:
        size = len(self._cogs) + 1
        self.passed = [0] * size
        self.spent = [0.0] * size
        self.cog_errors = [0] * size

    @property
    def measure(self) -> str:
        """What the train counts beyond its totals: ``"off"``, ``"stages"`` or ``"cogs"``.

        ``"off"`` (the default): the generated code has no counter at all.
        ``"stages"`` (``True`` means it too): the data entering each stage of the
        generated code (see :meth:`stages`) are counted by ``len()`` and the
        stage is timed, both once per send, which costs next to nothing; a cog
        with ``call_batch`` is a stage of its own, so its counts are exact, and
        cogs called datum by datum in one nest share theirs. ``"cogs"`` counts
        the data given to every cog, with a counter per cog and datum inside
        the nests (30 to 60 ns each: the train benchmark's five trivial cogs
        lose a fifth of their rate; little next to a parser). Changing it writes the code again and
        starts ``passed`` and ``spent`` from zero; see :mod:`deadbeat.metrics`.
        """
        return self._measure

    @measure.setter
    def measure(self, what: bool | str) -> None:
        mode = {True: "stages", False: "off"}.get(what, what) if isinstance(what, bool) else what
        if mode not in ("off", "stages", "cogs"):
            raise ValueError(f'measure is "off", "stages" or "cogs", not {what!r}')
        if mode != self._measure:
            self._measure = mode
            self._reset_measures()
            self._compile_entries()

    def stages(self) -> list[tuple[int, int]]:
        """:returns: the stages of the generated code, as ``(first, end)`` cog positions.

        A cog with ``call_batch`` is a stage of its own; consecutive cogs called
        datum by datum share one nest of loops, and so one stage, which also
        ends where data enter from outside (after a supply). A stage's time is
        the sum of ``spent`` over its positions (data sent in late enter
        its nest further in).
        """
        batched = [_batch_call(cog) is not None for cog in self._cogs]
        stages, position = [], 0
        while position < len(batched):
            end = position + 1
            if not batched[position]:
                while end < len(batched) and not batched[end] and end not in self._starts:
                    end += 1
            stages.append((position, end))
            position = end
        return stages

    def _misfit(self, cog: Any, name: str) -> None:
        self._left_out(
            cog,
            name,
            "cannot take the arguments of the %r broadcast; the cog stays in the train but does not receive"
            " that broadcast",
        )

    def _unmarked(self, cog: Any, name: str) -> None:
        self._left_out(
            cog,
            name,
            "is not marked @movement.hook, so it does not receive Deadbeat's %r broadcast (a name the"
            " original manual never reserved); mark it if it is meant to",
        )

    def _left_out(self, cog: Any, name: str, why: str) -> None:
        """Say once per cog and method why the method is left out of broadcast ``name`` (``why`` names it by %r)."""
        if (id(cog), name) in self._misfits:
            return
        self._misfits.add((id(cog), name))
        log.warning(f"%s: its method %s() {why}", cog, name, name)

    def _check_escapement(self, cog: Any) -> None:
        """Warn of a cog bound to another Escapement than the train's: its events would never run with the train."""
        try:
            own = getattr(cog, "esc", None)
        except Exception:  # noqa: BLE001 - a property of the cog's that fails says nothing here
            return
        if isinstance(own, Escapement) and not isinstance(own, NullEscapement) and own is not self.esc:
            log.warning(
                "%s: bound to another Escapement than its train's; its timers and descriptors run only when that"
                " one runs (an application has one Escapement: give the train and every cog the same)",
                cog,
            )

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
        """:returns: the cogs that produce data: marked ``supply``, or first in line.

        In a train that is another train's error output, the first cog is not a
        supply: its data come from that train.
        """
        first = self._fed_by is None
        return [c for i, c in enumerate(self._cogs) if (i == 0 and first) or getattr(c, "supply", False)]

    def _entry_positions(self) -> frozenset[int]:
        """Where data enter from outside: the start, and after each supply."""
        after = {i + 1 for i, cog in enumerate(self._cogs) if getattr(cog, "supply", False)}
        if self._fed_by is None:
            after.add(1)
        return frozenset({0} | after)

    # -- the generated code ----------------------------------------------------

    def _compile_entries(self) -> None:
        """Make the entry of every position ready, each compiled when data first enter there.

        Most trains use one or two of their entries (the start and after each
        supply), and a train is rebuilt whenever its cogs change or a probed
        cog is trusted: writing and compiling every entry each time was most
        of the cost of a short-lived train. Compiling on first use keeps that
        cost to the entries that carry data (see the module docstring).
        """
        cogs = self._cogs
        # The source of an entry stays in linecache until the entry is compiled
        # again under the same name: a traceback of the code that ran (an
        # error record not rendered yet) still shows its lines. Entries the
        # train no longer has go now.
        for start, (filename, _source) in self._sources.items():
            if start > len(cogs):
                linecache.cache.pop(filename, None)
        self._sources = {}
        calls = [_direct_call(cog) for cog in cogs]
        calls = [
            _made_whole(call) if i in self._lazy or inspect.isgeneratorfunction(call) else call
            for i, call in enumerate(calls)
        ]
        batched = [_batch_call(cog) is not None for cog in cogs]
        stages = [self._batch_stage(i, cog, calls[i]) if batched[i] else None for i, cog in enumerate(cogs)]
        labels = [_label(cog) for cog in cogs]
        probes = {i: self._probe(i, calls[i]) for i in range(len(cogs)) if not batched[i] and i not in self._trusted}
        values: list[Any] = [
            stages[i] if batched[i] else calls[i] if i in self._trusted else probes[i] for i in range(len(cogs))
        ]
        self._recompile = False
        self._plan = (batched, labels, values, self._measure, frozenset(self._drops))
        self._entries = [self._on_first_use(start) for start in range(len(cogs) + 1)]

    def _on_first_use(self, start: int) -> Callable[[Iterable[Any]], int]:
        """A stand-in for the entry at ``start`` that compiles it, takes its place and runs it."""

        def first(data: Iterable[Any]) -> int:
            return self._compile_entry(start)(data)

        return first

    def _compile_entry(self, start: int) -> Callable[[Iterable[Any]], int]:
        """Write, compile and register the code of the entry at ``start``, as the plan made last says."""
        batched, labels, values, measure, drops = self._plan
        source, _params = _Source(start, batched, measure, drops).write(self.name, labels)
        lines = source.splitlines(keepends=True)
        filename = self._code_filename(start, lines)
        # Registered before compiling, with no modification time, so that
        # linecache.checkcache() keeps it and tracebacks can show it.
        linecache.cache[filename] = (len(source), None, lines, filename)
        self._sources[start] = (filename, source)
        namespace: dict[str, Any] = {}
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated source
        given = values[start:]
        if measure != "off" and start < len(batched):
            given = [self.passed, self.spent, time.perf_counter, *given]
        entry: Callable[[Iterable[Any]], int] = namespace["make"](self._on_error, self._lineage, *given)
        self._entries[start] = entry
        return entry

    def _code_filename(self, start: int, lines: list[str]) -> str:
        """The linecache name of the entry at ``start``, taken from any other live train with other code there."""
        while True:
            filename = f"<deadbeat train {ascii(self._code_name)[1:-1]} entry {start}>"
            owner = _code_owners.get(filename)
            if owner is None or owner is self:
                break
            cached = linecache.cache.get(filename)
            if cached is None or list(cached)[2:3] == [lines]:
                break  # the same code: a traceback of either shows the right lines
            self._code_name = f"{self.name} #{next(self._code_names)}"
        _code_owners[filename] = self
        return filename

    def _probe(self, position: int, call: Callable[..., Any]) -> Callable[..., Any]:
        """``call`` with its result checked, until :data:`_TRUSTED_AFTER` results have been iterables of data.

        A cog that returns its datum instead of ``(datum,)`` usually does so
        every time; one that does so on a rare branch only (``return d`` for
        data it leaves alone) is caught if the branch comes among its first
        results. The entries are then compiled again with the cog called
        directly, once the outermost send is over, and the check costs nothing
        from there on (with :attr:`check_results`, never). Until then, a result
        that is one datum (a string, bytes, a mapping) fails that datum with a
        :class:`TypeError` saying what to return.

        ``None`` (the datum dropped) says nothing about the next result: a
        filter's slip is ``return None if bad else datum``. Only the last cog
        is trusted on it: what an output returns goes nowhere but the count of
        data out, and an output written as a plain function returns ``None``
        every time, which kept it probed, at a call more per datum, for good.
        """
        last = position == len(self._cogs) - 1
        good = 0

        def probe(datum: Any) -> Any:
            nonlocal good
            result = call(datum)
            if result is None:
                if position not in self._drops:
                    self._drops.add(position)
                    self._recompile = True
                if last and position not in self._trusted and not self.check_results:
                    self._trusted.add(position)
                    self._recompile = True
                return ()
            lazy = not isinstance(result, (list, tuple))
            if lazy:
                if _not_data(result):
                    # The error record and the log line name the cog.
                    raise TypeError(f"returned {type(result).__name__}, not an iterable of data; return (datum,)")
                result = tuple(result)
            if lazy:
                self._lazy.add(position)
            good += 1
            if good >= _TRUSTED_AFTER and position not in self._trusted and not self.check_results:
                self._trusted.add(position)
                self._recompile = True
            return result

        return probe

    def explain(self) -> str:
        """:returns: the cogs in order and the code generated for each entry position.

        The same text as the generated functions' source; ``deadbeat run
        --explain`` prints it.
        """
        lines = [f"Train {self.name!r}: {len(self._cogs)} cogs"]
        for position, cog in enumerate(self._cogs):
            traits = []
            if (position == 0 and self._fed_by is None) or getattr(cog, "supply", False):
                traits.append("supply")
            if _batch_call(cog) is not None:
                traits.append("whole lists")
            listening = [name for name, impls in self._broadcasts.items() if any(i.cog is cog for i in impls)]
            if listening:
                traits.append("broadcasts: " + ", ".join(listening))
            lines.append(f"  {position:>2}  {_label(cog)}" + (f"  [{'; '.join(traits)}]" if traits else ""))
        for start in range(len(self._entries)):
            if start not in self._sources:
                self._compile_entry(start)
            filename, source = self._sources[start]
            lines += ["", f"{filename}:", source.rstrip("\n")]
        return "\n".join(lines) + "\n"

    def _batch_stage(self, position: int, cog: Any, one: Callable[..., Any]) -> Callable[[list[Any]], list[Any]]:
        """The step for a cog with ``call_batch``: the whole list at once, datum by datum on failure.

        ``call_batch`` promises the results of calling the cog on each datum in
        turn, and nothing else that a second go would repeat; so when it raises,
        the same list is given to the cog one datum at a time, and only the
        failing data go to the error output.
        """
        many = _batch_call(cog)
        err = self._on_error
        lineage = self._lineage
        one_to_one = bool(getattr(cog, "one_to_one", False))

        def one_by_one(data: list[Any], low: int, high: int, out: list[Any], came_from: list[int]) -> bool:
            """Call the cog on ``data[low:high]`` a datum at a time, failures to the error output.

            :returns: whether none failed.
            """
            clean = True
            for index in range(low, high):
                datum = data[index]
                try:
                    # Made whole first: a generator failing half-way leaves nothing behind in ``out``.
                    got = one(datum) or ()
                    out.extend(got if isinstance(got, (list, tuple)) else tuple(got))
                except Exception as exc:  # noqa: BLE001 - routed like any cog error
                    err(position, datum, exc, (self._entering, data, index))
                    clean = False
                came_from.extend([index] * (len(out) - len(came_from)))
            return clean

        def resume(data: list[Any], partial: PartialBatch | None) -> list[Any]:
            """The cog named the datum it fails on: that one to the error output, the rest on in whole lists.

            The rest goes in pieces that double while they pass and halve when a
            failure comes early in one: a rare bad datum costs one more call,
            and a list of nothing but bad data is not copied once per failure.
            """
            out: list[Any] = []
            came_from: list[int] = []
            known = True  # whether came_from maps every output to its input
            start, end, size = 0, len(data), _RESUME_PIECE
            piece_end = end  # the end of the piece ``partial`` is about
            while partial is not None:
                failing = start + partial.index
                if not start <= failing < piece_end:
                    raise ValueError(f"{cog_name(cog)}: PartialBatch index {partial.index} is outside the list")
                done = partial.done if isinstance(partial.done, list) else list(partial.done)
                out += done
                if known and one_to_one and len(done) == partial.index:
                    came_from += range(start, failing)
                else:
                    known = False
                err(position, data[failing], partial.error, (self._entering, data, failing))
                if partial.index < size // 2:
                    size = max(1, size // 2)
                start, partial = failing + 1, None
                while start < end and partial is None:
                    piece_end = min(end, start + size)
                    if size == 1:
                        if one_by_one(data, start, start + 1, out, came_from):
                            size = 2
                        start += 1
                        continue
                    piece = data[start:piece_end]
                    try:
                        got = listed(many(piece))  # type: ignore[misc]
                    except PartialBatch as again:
                        partial = again
                        continue
                    except Exception:  # noqa: BLE001 - found again, datum by datum
                        one_by_one(data, start, piece_end, out, came_from)
                        start = piece_end
                        continue
                    out += got
                    if known and one_to_one and len(got) == len(piece):
                        came_from += range(start, piece_end)
                    else:
                        known = False
                    start, size = piece_end, size * 2
            if known:
                lineage[id(out)] = (out, data, came_from)
            return out

        misfits = self._misfits

        def listed(out: Any) -> list[Any]:
            """``call_batch``'s result as a list, made within the ``try`` that gives the list datum by datum.

            A lazy result (a generator) runs here: its exception is the list's
            failure, as if call_batch had raised it. One datum in place of a
            list (a string, a mapping: its characters or keys), or ``None``, is
            said once and the list is given datum by datum.
            """
            if isinstance(out, list):
                # A list subclass (the Batch a cog passes on as it came) goes on as it is: copying it
                # cost a copy of every list, and a lineage entry for one-to-one cogs, per send.
                return out
            if out is None or _not_data(out):
                if (id(cog), "call_batch") not in misfits:
                    misfits.add((id(cog), "call_batch"))
                    log.warning(
                        "%s: call_batch returned %s, not a list; its data are given to it datum by datum",
                        cog_name(cog),
                        type(out).__name__,
                    )
                raise TypeError("call_batch did not return a list")
            return list(out)

        def stage(data: list[Any]) -> list[Any]:
            try:
                out = listed(many(data))  # type: ignore[misc]
            except PartialBatch as partial:
                return resume(data, partial)
            except Exception:  # noqa: BLE001 - found again, datum by datum, below
                out = []
                came_from: list[int] = []
                one_by_one(data, 0, len(data), out, came_from)
                # The failed data are gone from the list: which output came
                # from which input is kept, so that an error further down
                # still names the event it belongs to.
                lineage[id(out)] = (out, data, came_from)
                return out
            if one_to_one and out is not data:
                # Place for place, unless the cog left data out (a filter): then
                # the results are the kept inputs themselves, in order, matched
                # by identity if an error further down ever asks.
                lineage[id(out)] = (out, data, None if len(out) == len(data) else _BY_IDENTITY)
            return out

        stage.__qualname__ = f"call_batch of cog {position}"
        return stage

    # -- moving data ---------------------------------------------------------

    def send(self, cog: object | None, data: Iterable[Any] | None, token: Hold | None = None) -> int:
        """Send data down the train, starting after ``cog`` (at the start for ``None``).

        This is how a cog delivers held or late data (a DNS answer, a flushed
        aggregate) without waiting for new input; a bound callback that returns
        data does the same through the Escapement. Data sent in at the start or
        by a supply count as entering the train; a :class:`Batch` among them is
        acknowledged with ``batch_done`` once they have all left it.

        :param token: for held data sent on late, the token :meth:`hold` gave
            for them (the oldest, if they came from several batches): a cog
            further on that holds them with ``current=True`` then holds back
            their batch only. Held data sent on late as a :class:`Batch` with
            ``event_ids`` (noted with :meth:`event_ids_of` when they came) keep
            those ids for the cogs after, their error records and log lines.
            A cog called datum by datum needs no more than to send on the very
            object it held: the train noted its event id when it was held.
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
        if not isinstance(data, (list, tuple)) and _not_data(data):
            # The common slip: the datum itself instead of (datum,). It is not
            # taken apart; it goes to the error output as it is, saying why.
            error = TypeError(
                f"{cog_name(cog) if cog is not None else 'send'} gave {type(data).__name__}, not an iterable of data;"
                " return (datum,)"
            )
            if cog is None:
                raise error
            if start in self._starts:
                self.events_in += 1
            self._on_error(start - 1, data, error)
            return 0
        entering = start in self._starts
        outer_hold, outer_carried = self._current, self._carried
        self._carried = _NOTHING_CARRIED
        # Whether the data are in the train's hands (see the except below).
        carrying = False
        try:
            if entering:
                if not isinstance(data, list):
                    # A list, so that errors can find the entering datum by place.
                    data = list(data)
                carrying = True
                self.events_in += len(data)
                if self._fed_by is not None:
                    # Error records: kept (a copy, as cogs may change them) until written.
                    self._unwritten += [dict(d) if isinstance(d, Mapping) else d for d in data]
                batch_id = getattr(data, "batch_id", None)
                if batch_id is not None or self._broadcasts["event_done"]:
                    ids = self._ids_of(data) if self._broadcasts["event_done"] else None
                    hold = Hold(next(self._batch_numbers), batch_id, ids)
                    self._holds.append(hold)
                else:
                    hold = self._untracked
                hold.open = True
                # While they run, errors can ask this batch for the ids of its data.
                outer, self._entering = self._entering, data
                self._current = hold
                self._sending += 1
                try:
                    out = self._entries[start](data)
                finally:
                    hold.open = False
                    self._entering = outer
                    # _sent(), written out: this runs once per batch and per route.
                    self._sending -= 1
                    if not self._sending and self._lineage:
                        self._lineage.clear()
            else:
                # Data sent on late belong to the batch their token names; without
                # one, to no batch known (holds go to the oldest), even in the
                # middle of another send: they need not be that send's data.
                self._current = token if token is not None and not token.acknowledged else None
                carrying = True
                # Held data sent on late as a Batch that knows their ids (a lookup
                # answered): errors and outputs after the cog name them by those.
                outer_entering = self._entering
                if isinstance(data, Batch) and data.knows_ids:
                    self._entering = data
                elif self._held_ids:
                    # Held datum by datum: the ids noted as they were held (see _note_held_id).
                    data = self._with_held_ids(data)
                    if isinstance(data, Batch):
                        self._entering = data
                self._sending += 1
                try:
                    out = self._entries[start](data)
                finally:
                    self._entering = outer_entering
                    self._sent()
            if self._recompile or self._failed:  # the call spared: this runs once per batch and per route
                self._deliver_gathered_failures()
            self.events_out += out
            # The batch stays current while outputs write: what they take into
            # their own hands at this flush came with this send.
            holds = self._holds
            # _ready(), written out: the oldest batch is done and nothing blocks.
            if holds and holds[0].held <= 0 and not holds[0].open and self._settled():
                self._complete(checked=True)
            else:
                # Outputs write what this send gave them: a line appended to a
                # tailed file reaches the output file in the same turn.
                self._flush(self)
            if self._unwritten:
                self._forget_written()
        except BaseException as exc:
            # A cog's Exception is caught where the cog was called (the datum goes
            # to the error output): what escaped left this send's data nowhere.
            if carrying:
                self._escaped(exc, data if entering and isinstance(data, list) else None)
            raise
        finally:
            self._current, self._carried = outer_hold, outer_carried
            # Only when a cog's exception escaped the send: records are never left behind.
            if self._recompile or self._failed:
                self._deliver_gathered_failures()
        return out

    def _escaped(self, error: BaseException, entered: list[Any] | None) -> None:
        """An exception escaped a send: from now on nothing is acknowledged; say where, and stop the run.

        A cog's ``Exception`` never gets here: the generated code catches it
        where the cog was called, and the datum goes to the error output.
        What escapes is ``sys.exit()`` (``SystemExit``), a ``KeyboardInterrupt``
        or a ``GeneratorExit`` raised by a cog, or a failure of the train's
        own: the send stopped half-way, and the data it had not carried to the
        end are neither written nor in the error output. Their batch must not
        be acknowledged (its supply would save its position past them, and a
        restart would never read them again), nor any later one, as
        acknowledgements go in order. The outputs still write what reached
        them, unacknowledged: an output that keeps state (``fs.write``) goes
        back to its last acknowledged length at the next start, and the
        supplies read again from their acknowledged positions.

        :param entered: the data as they entered, for a send from a supply.
        """
        if self.stopped_acknowledging is not None:
            return  # said once: by a send nested in this one, or earlier
        try:
            message = self._escape_message(error, entered)
        except Exception:  # noqa: BLE001 - what escaped goes on, whatever the message
            log.exception("%s: cannot say where %s escaped the train", self.name, type(error).__name__)
            message = f"{type(error).__name__} escaped a cog; nothing more is acknowledged; stopping"
        self.stopped_acknowledging = message
        log.debug("%s: what escaped the train", self.name, exc_info=error)
        self.esc.fail(self.name, message)
        if self.esc.running:
            # sys.exit() stops the loop by itself; anything else must ask.
            self.esc.shutdown()

    def _escape_message(self, error: BaseException, entered: list[Any] | None) -> str:
        """What :meth:`_escaped` says: which cog, which event, what becomes of the data."""
        position, datum = self._escape_site(error)
        errors = self._error_output
        if position is not None:
            where = f"{cog_name(self._cogs[position])} (cog {position})"
        elif isinstance(errors, Train) and errors.stopped_acknowledging is not None:
            where = f"a cog of the error output {errors.name!r} (said above)"
        else:
            where = "a cog"
        if self.redact is not None:
            where = self.redact(where)
        event = ""
        if datum is not _NO_DATUM:
            event_id = None
            try:
                if isinstance(entered, Batch) and entered.knows_ids:
                    event_id = entered.event_id_of(datum)
                if event_id is None:
                    event_id = self.id_getter(datum)
            except Exception:  # noqa: BLE001 - a datum without an id: none named
                event_id = None
            event = (
                f" while handling event {event_id}" if event_id is not None else " while handling a datum without an id"
            )
        what = repr(error)
        what = what if len(what) <= 200 else what[:197] + "..."
        if isinstance(error, Exception):
            cause = f"{what} escaped the train at {where}{event}, out of the error output's reach"
        else:
            cause = (
                f"{where} raised {what}{event}: not an error of the cog's (those go to the error output) but"
                " the end of the run"
            )
        count = f"the {len(entered)} data of its batch" if entered is not None else "the data of its batch"
        return (
            f"{cause}; {count} and of every later one are not acknowledged (what was not written is read"
            " again at the next start); stopping"
        )

    def _escape_site(self, error: BaseException) -> tuple[int | None, Any]:
        """Where in this train's generated code ``error`` escaped: the cog's position and its datum, when known.

        The traceback holds the frames of the generated code (their locals
        included): the last of this train's frames is the innermost level
        the error passed, its line says which cog it called, and its ``d``
        variable is the datum. A cog given whole lists names no datum, unless
        the error came while it was given them one by one.
        """
        sources = dict(self._sources.values())
        position: int | None = None
        datum: Any = _NO_DATUM
        trace = error.__traceback__
        while trace is not None:
            frame = trace.tb_frame
            code = frame.f_code
            source = sources.get(code.co_filename)
            if source is not None:
                lines = source.splitlines()
                line = lines[trace.tb_lineno - 1] if 0 < trace.tb_lineno <= len(lines) else ""
                found = _CALLING.search(line)
                if found is not None:
                    if found["cog"] is not None:
                        position = int(found["cog"])
                        datum = frame.f_locals.get(f"d{position}", _NO_DATUM)
                    else:
                        position, datum = int(found["list"]), _NO_DATUM
            elif position is not None and code.co_name == "one_by_one" and code.co_filename == __file__:
                datum = frame.f_locals.get("datum", _NO_DATUM)
            trace = trace.tb_next
        return position, datum

    def _acknowledging(self) -> bool:
        """Whether acknowledgements go on: nothing escaped a send here, nor in the train it is the error output of."""
        fed_by = self._fed_by
        return self.stopped_acknowledging is None and (fed_by is None or fed_by.stopped_acknowledging is None)

    def _deliver_gathered_failures(self) -> None:
        """Once the outermost send ends: the error records it gathered, to the error output together.

        Also the moment to compile the entries again when a cog's result was
        seen to be good, or ``None``, for the first time (see :meth:`_probe`).
        """
        if self._recompile and not self._sending:
            self._compile_entries()
        if self._failed and not self._sending:
            failed, self._failed = self._failed, []
            self._deliver_failed(failed)

    def _forget_written(self) -> None:
        """An error train: its records are written once it holds nothing and no output of it is blocked.

        An output that cannot write (a full disk) blocks the train until it
        can; one that waits for a peer holds the data. Neither, and every
        record sent so far is out of the train's hands.
        """
        if self.in_flight <= 0 and not self._blocked:
            self._unwritten.clear()

    def _dead_letter_unwritten(self) -> None:
        """An error train that finished with records its outputs did not write: each goes to the log, and the run fails.

        The outputs gave up on them (a write that failed for ``retry_for``
        seconds, a closed pipe) after the call that gave them the record had
        returned, so no exception told the train whose error output this is:
        the datum would be nowhere but for this.
        """
        self._forget_written()
        if not self._unwritten:
            return
        records, self._unwritten = self._unwritten, []
        for record in records:
            DeadLetterLog.of_written(record)
        self.undelivered += len(records)
        self.esc.fail(
            self.name,
            f"{len(records)} error records were not written by the error output; each is in the log instead,"
            " as a dead-letter line",
        )

    def _sent(self) -> None:
        """A send is over: after the outermost, nothing needs the lineage of its lists."""
        self._sending -= 1
        if not self._sending and self._lineage:
            self._lineage.clear()

    def _ids_of(self, data: list[Any] | tuple[Any, ...]) -> list[Any]:
        """The event ids of ``data``, read now, before any cog changes them; data without one are skipped."""
        if isinstance(data, Batch) and data.knows_ids:
            return [event_id for event_id in data.event_ids() if event_id is not None]
        get = self.id_getter
        try:
            ids = list(map(get, data))
        except Exception:  # noqa: BLE001 - some datum has no id: read them one by one
            ids = []
            for datum in data:
                try:
                    ids.append(get(datum))
                except Exception:  # noqa: BLE001 - no id, nothing to announce
                    continue
        known = [event_id for event_id in ids if event_id is not None]
        if len(known) < len(data) and not self._said_no_id:
            # Said once: the cogs listening expect one event_done per datum.
            self._said_no_id = True
            log.warning(
                "train %s: data without an event id (the id_getter finds none), such as %s: event_done is not sent"
                " for them (said once). If their ids are under another key, tell the train where:"
                " Train(esc, id_getter=...), or [train] id_getter in a pipeline file",
                self.name,
                reprlib.repr(self._first_without_id(data)),
            )
        return known

    def _first_without_id(self, data: Iterable[Any]) -> Any:
        """The first of ``data`` whose event id cannot be read, or is ``None``."""
        for datum in data:
            try:
                if self.id_getter(datum) is None:
                    return datum
            except Exception:  # noqa: BLE001 - that is the one
                return datum
        return None

    def _ready(self) -> bool:
        """Whether the oldest unacknowledged batch is done: nothing of it held, its send over, nothing blocked."""
        first = self._holds[0]
        return first.held <= 0 and not first.open and self._settled()

    def _complete(self, checked: bool = False) -> None:
        """Acknowledge the batches that are done, oldest first: flush, event_done, batch_done, checkpoint.

        A batch is done once nothing of it is held and its send is over; it is
        acknowledged only after every batch before it. Outputs write their
        buffers first, so that the acknowledgement never runs ahead of the data.

        :param checked: the caller has just found the oldest batch ready.
        """
        self._completion_scheduled = False
        if not self._acknowledging():
            # Something escaped a send: the outputs still write what reached
            # them, and nothing is acknowledged (see _escaped).
            self._flush(self)
            return
        if not checked and (not self._holds or not self._ready()):
            return
        error_train = self._error_output if isinstance(self._error_output, Train) else None
        flushed = self._flush(error_train) if error_train is not None else True
        # Without a cog that flushes, nothing can have changed since the check.
        if (self._broadcasts["flush"] or error_train is not None) and (
            not self._flush(self) or not flushed or not self._holds or not self._ready()
        ):
            # Not written (yet), or an output took the data into its own hands
            # while flushing (it holds them until a peer confirms): nothing may
            # be acknowledged; its release or unblock comes back here.
            return
        holds = self._holds
        done: list[Hold] = []
        while holds and holds[0].held <= 0 and not holds[0].open:
            hold = holds.popleft()
            hold.acknowledged = True
            done.append(hold)
        if self._broadcasts["event_done"]:
            ids = [event_id for hold in done for event_id in hold.event_ids or ()]
            if self._told_done:
                ids = self._not_told_done(ids)
            self._events_done(ids)
            self._newest_acknowledged = done[-1].number if done else self._newest_acknowledged
            if self._rename_order:
                self._settle_late_renames()
            if not holds:
                self._told_done.clear()  # nothing in flight: no event_done of the train's can follow
        for hold in done:
            batch_id = hold.batch_id
            if batch_id is None:
                continue
            self.notify("batch_done", batch_id)
            if error_train is not None:
                # The error train's outputs wrote their part of these batches
                # (flushed above): they hear the acknowledgement too, so that
                # an output sharing the supplies' state file saves its length
                # with their positions (no record written twice after a crash).
                error_train.notify("batch_done", batch_id)
        # Asked first: a call spared per batch (and per route and list) where no cog saves anything.
        if self._broadcasts["checkpoint"]:
            self.notify("checkpoint")
        if error_train is not None and error_train._broadcasts["checkpoint"]:
            error_train.notify("checkpoint")

    def _not_told_done(self, ids: list[Any]) -> list[Any]:
        """``ids`` without those a cog announced done itself (forgotten here: each is told once)."""
        told = self._told_done
        kept = []
        for event_id in ids:
            try:
                if event_id in told:
                    del told[event_id]
                    continue
            except TypeError:  # an id that cannot be a key was never noted
                pass
            kept.append(event_id)
        return kept

    def _note_told_done(self, event_id: Any) -> None:
        try:
            self._told_done[event_id] = None
        except TypeError:
            return
        if len(self._told_done) > _TOLD_DONE_KEPT:
            del self._told_done[next(iter(self._told_done))]

    def _events_done(self, ids: list[Any]) -> None:
        """Broadcast ``event_done`` for the ids of acknowledged batches, renamed as cogs said.

        A cog that hears ``event_rename`` may have moved what it kept to the new
        id and forgotten the old one, as the manual allows: it hears of the new
        id, once, when the last event merged into it is done. A cog that does
        not hear renames knows only the ids it saw, and hears of those.
        """
        self._announce_done(self._after_renames(ids) if self._renames else ids, ids)

    def _already_announced(self, event_id: Any) -> bool:
        """Whether a cog's own ``event_done`` for ``event_id`` comes after the train announced it (then not sent).

        The train announces an event done when its data have left the train:
        written, dropped, or kept by a cog that returned ``None`` for them
        without :meth:`hold`. A cog that kept data that way and announces them
        once written would have the listeners hear the event twice, the first
        time too early (a supply saving its position on ``event_done`` would
        move past data not written yet). Said once, with the way to delay data.
        """
        try:
            if event_id not in self._announced:
                return False
        except TypeError:  # an id that cannot be a key was never noted
            return False
        if not self._said_announced_again:
            self._said_announced_again = True
            log.warning(
                "train %s: event_done for %r announced by a cog after the train announced it, when its data left the"
                " train: not announced twice. A cog that keeps data to send or write later must hold them"
                " (train.hold(), then train.release()), or the event is done, and acknowledged, as soon as it"
                " returns None for them (said once)",
                self.name,
                event_id,
            )
        return True

    def _note_announced(self, ids: list[Any]) -> None:
        """Remember ``ids`` as announced by the train (the newest, about :data:`_TOLD_DONE_KEPT`)."""
        announced = self._announced
        try:
            announced.update(dict.fromkeys(ids))
        except TypeError:  # some id cannot be a key: those are never noted
            for event_id in ids:
                try:
                    announced[event_id] = None
                except TypeError:
                    continue
        if len(announced) > 2 * _TOLD_DONE_KEPT:
            # Trimmed in one go, now and then: cheaper than one deletion per id.
            self._announced = dict.fromkeys(list(announced)[-_TOLD_DONE_KEPT:])

    def _announce_done(self, renamed: list[Any], ids: list[Any]) -> None:
        """``event_done`` for ``renamed`` to the cogs that hear renames, for ``ids`` to the others."""
        self._note_announced(ids)
        if renamed is not ids:
            self._note_announced(renamed)
        hears_renames = {id(impl.cog) for impl in self._broadcasts["event_rename"]}
        for implementation in self._broadcasts["event_done"]:
            method = implementation.method
            for event_id in renamed if id(implementation.cog) in hears_renames else ids:
                try:
                    method(event_id)
                except Exception as exc:
                    log.exception("%s: %s: broadcast event_done failed", event_id, implementation.cog)
                    self._broadcast_failed(implementation.cog, "event_done", exc)

    def _after_renames(self, ids: list[Any]) -> list[Any]:
        """``ids`` with each renamed one replaced by the ids it went on as, each once its last part is done."""
        out: list[Any] = []
        pending = list(reversed(ids))
        while pending:
            event_id = pending.pop()
            try:
                targets = self._renames.pop(event_id)
            except (KeyError, TypeError):  # not renamed, or an id that cannot be a key (never renamed)
                out.append(event_id)
                continue
            for new_id in targets:
                left = self._parts_left.get(new_id, 1) - 1
                if left > 0:
                    self._parts_left[new_id] = left
                else:
                    self._parts_left.pop(new_id, None)
                    pending.append(new_id)  # done now: and renamed again, perhaps
        return out

    def _settle_late_renames(self, everything: bool = False) -> None:
        """Count as done the renamed ids whose event_done went out before their rename.

        A cog may rename an event it let go of without holding it (its batch
        was acknowledged, and ``event_done`` told of the old id, before the
        rename came). Once every batch that was in the train at the rename is
        acknowledged, the old id is surely done: the ids it went on as count it
        as a done part, and those with no part left are announced to the cogs
        that hear renames. Without this, such renames would be kept for as long
        as the daemon runs, and their new ids never announced.

        :param everything: the train has finished: every rename left is late.
        """
        oldest = self._holds[0].number if self._holds and not everything else None
        late: list[Any] = []
        order = self._rename_order
        while order and (oldest is None or order[0][0] < oldest):
            _, event_id = order.popleft()
            if event_id in self._renames:
                late.append(event_id)
        if not late:
            return
        # The old ids were announced already, to every cog.
        self._announce_done(self._after_renames(late), [])

    def _note_rename(self, event_id: Any, new_id: Any) -> None:
        """Remember that ``event_id`` went on as (part of) ``new_id`` (see :meth:`_events_done`)."""
        try:
            hash(event_id), hash(new_id)
        except TypeError:
            return  # an id that cannot be a key: its event_done goes by its old name
        if event_id not in self._renames:
            newest = self._holds[-1].number if self._holds else self._newest_acknowledged
            self._rename_order.append((newest, event_id))
        targets = self._renames.setdefault(event_id, [])
        if new_id not in targets:
            targets.append(new_id)
            self._parts_left[new_id] = self._parts_left.get(new_id, 0) + 1

    def _flush(self, train: Train) -> bool:
        """Broadcast ``flush`` in ``train``. :returns: whether every cog's flush returned.

        A cog whose flush raises did not handle its own failure: its data may be
        lost, so nothing is acknowledged and the run stops, failed.
        """
        ok = True
        for implementation in train._broadcasts["flush"]:
            try:
                implementation.method()
            except Exception as exc:
                ok = False
                log.exception("%s: flush failed", cog_name(implementation.cog))
                self.esc.fail(cog_name(implementation.cog), f"flush failed ({type(exc).__name__}: {exc}); stopping")
                self.esc.shutdown()
        return ok

    def reject(self, cog: object, datum: Any, error: Exception) -> None:
        """Send a datum ``cog`` cannot deliver to the error output.

        From a supply, a datum that never entered the train (an oversize line,
        bytes that do not decode): it is counted as entering, and acknowledged,
        like any other. From any other cog, a datum already in the train that
        fails later, out of a call (a late answer that cannot be set, a write the
        peer refused): it is not counted again; a cog that held it releases it
        as usual.

        :raises ValueError: when ``cog`` is not in this train.
        """
        try:
            position = self._index[id(cog)]
        except KeyError:
            raise ValueError(f"{cog} is not a cog of this train") from None
        if position + 1 in self._starts:
            # It came in, and it leaves through the error output: counted and acknowledged like any datum.
            self.events_in += 1
            if self._broadcasts["event_done"]:
                self._holds.append(Hold(next(self._batch_numbers), None, self._ids_of((datum,))))
                self._complete_soon()
        self._on_error(position, datum, error)

    @property
    def error_output(self) -> ErrorOutput | Train:
        """Where data a cog raised on go (see the class parameters)."""
        return self._error_output

    @error_output.setter
    def error_output(self, output: ErrorOutput | Train) -> None:
        old = self._error_output
        if isinstance(old, Train) and old is not output:
            old.esc.join_shutdown(old)  # on its own again
            old._fed_by = None
            old._starts = old._entry_positions()
        if isinstance(output, Train):
            # Finished by this train, right after its own cogs: what fails while
            # they flush at shutdown still reaches it.
            output.esc.leave_shutdown(output)
            # Its data come from this train: its first cog is no supply (not
            # paused with the supplies; what it sends on does not enter again).
            output._fed_by = self
            output._starts = output._entry_positions()
        self._error_output = output

    def _on_error(
        self,
        position: int,
        datum: Any,
        error: Exception,
        trace: tuple[Any, Any, Any] | None = None,
    ) -> None:
        """Route a failed datum to the error output.

        :param trace: ``(came, now, where)``: the failing datum derives from the
            datum at ``where`` in ``now`` (a place, or an iterator over ``now``
            just past it), and ``now`` derives, through one-to-one list stages,
            from ``came``, the data as they entered. The event id is then that
            of the datum it came in as, whatever the cogs since did to its fields.
        """
        if _iterated_none(error):
            # Not a failure: the cog dropped its datum, the first time since the
            # entries were compiled; from the next send on, its None is expected.
            self._drops.add(position)
            self._recompile = True
            return
        if trace is not None and position in self._trusted and position not in self._lazy and _raised_iterating(error):
            # Only for what an entry caught (it passes the trace): an output's reject() of an error it
            # caught in its own loop over a generator is no result of its that was iterated.
            self._made_whole_from_now(position)
        entered, place = _NO_DATUM, None
        if trace is not None:
            entered, place = self._entered_from(*trace)
        self.errors += 1
        self.cog_errors[position] += 1
        if self._fed_by is not None and not self._said_failing_here:
            # An error train's own cog failed on a record: the datum it holds
            # reaches no error output but the log. The run has not done its job.
            self._said_failing_here = True
            self.esc.fail(
                self.name,
                f"{cog_name(self._cogs[position])} failed on an error record ({type(error).__name__}: {error});"
                " such records are only in the log",
            )
        cog = self._names.get(position)
        if cog is None:
            cog = cog_name(self._cogs[position])
            if self.redact is not None:
                cog = self.redact(cog)
            self._names[position] = cog
        event_id = self._event_id(datum, entered, trace[0] if trace is not None else None, place)
        shown_id = event_id if event_id is not None else "-"
        record = ErrorRecord(event_id, cog, position, error, datum)
        output = self._error_output
        # One log line per failed datum: the dead letter holds it all; with another
        # error output, a line (rate-limited) says what failed where. The traceback at debug.
        if not isinstance(output, DeadLetterLog):
            self._failures.error(shown_id, "%s raised %s: %s", cog, type(error).__name__, error)
        log.debug("%s: traceback of the error in %s", shown_id, cog, exc_info=error, extra={"event_id": shown_id})
        if isinstance(output, Train):
            # An error train gets the record as a mapping, the error as text.
            _drop_tracebacks(error)
            if self._sending:
                # Sent together when the send under way ends, before it decides
                # whether its batch is done: an error train took a send per record,
                # which made a flood of bad lines cost several times a good one.
                self._failed.append(record)
                return
        self._deliver_failed([record])

    def _made_whole_from_now(self, position: int) -> None:
        """A trusted cog's result, a generator, raised as it was iterated: say so, and make its results whole.

        Its first results were tuples, so the entries iterate what it returns
        as it comes; a generator it returns later on a rare branch has had what
        it yielded before raising carried on, while its datum goes to the error
        output as well. From the next send on its results are made whole first,
        as a generator function's are from the start.
        """
        self._lazy.add(position)
        self._recompile = True
        log.warning(
            "%s: it returned a generator that raised half-way, after its first results had been tuples: what the"
            " generator yielded before raising went on while its datum went to the error output; from now on its"
            " results are made whole first (write the cog as a generator function, or return tuples, to have that"
            " from the start)",
            cog_name(self._cogs[position]),
        )

    def _deliver_failed(self, records: list[ErrorRecord]) -> None:
        """Hand error records to the error output; one it cannot take goes to the log, and the run has failed."""
        output = self._error_output
        failed: list[tuple[ErrorRecord, Exception]] = []
        if isinstance(output, Train):
            shown = [record.as_dict() for record in records]
            if self.redact is not None:
                for one in shown:
                    one["error"] = self.redact(one["error"])
            try:
                output.send(None, shown)
            except Exception as exc:  # noqa: BLE001 - whatever it was, the records go to the log below
                failed = [(record, exc) for record in records]
        else:
            for record in records:
                try:
                    output(record)
                except Exception as exc:  # noqa: BLE001 - whatever it was, the record goes to the log below
                    failed.append((record, exc))
        # The error output itself failed: the log lines must still hold the data,
        # and the run has failed.
        for record, error in failed:
            shown_id = record.event_id if record.event_id is not None else "-"
            log.debug("%s: error output failed", shown_id, exc_info=error, extra={"event_id": shown_id})
            DeadLetterLog()(record)
            self.undelivered += 1
            self.esc.fail(
                self.name,
                f"{shown_id}: the error output failed ({type(error).__name__}: {error}); the datum is in the log",
            )

    def event_ids_of(self, data: list[Any]) -> list[Any] | None:
        """The event ids of ``data``, a list this train is handing to a cog now, as they entered.

        For a cog that takes whole lists and passes data on elsewhere (a router
        sending them into its routes): the ids the supply gave the data, even
        after parsers replaced them with new objects. Known while the send that
        carries them runs, when the supply's batch knows its ids and every list
        stage on the way kept track of which datum came from which (one-to-one
        cogs); otherwise ``None``, and the data's own ids (the train's
        ``id_getter``) are all there is.

        :returns: one id per datum, in order, or ``None`` when they cannot be known.
        """
        later = self.event_ids_later(data)
        return later() if later is not None else None

    def event_ids_later(self, data: list[Any]) -> Callable[[], list[Any]] | None:
        """What :meth:`event_ids_of` would tell, as a function to call later, even after the send has ended.

        For an output that keeps data (a batch of requests) and needs their ids
        only if it gives up on them: where each datum came from is noted now,
        while the send runs, and the ids are made only if asked for, so that
        they cost nothing per datum otherwise. Give it to a :class:`Batch` as
        its ``event_ids``.

        :returns: a function returning one id per datum, in order; ``None`` when they cannot be known.
        """
        batch = self._entering
        if not isinstance(batch, Batch) or not batch.knows_ids:
            return None
        places: list[int] | None = None  # None: each datum at its own place
        current = data
        while current is not batch:
            link = self._lineage.get(id(current))
            if link is None or link[0] is not current:
                return None
            out, current, came_from = link
            if came_from is _BY_IDENTITY:
                came_from = _places_by_identity(out, current)
                if came_from is None:
                    return None
            if came_from is not None:
                places = list(came_from) if places is None else [came_from[place] for place in places]
        if places is None and len(batch) < len(data):
            return None
        count = len(data)

        def ids() -> list[Any]:
            made = batch.event_ids()
            return list(made[:count]) if places is None else [made[place] for place in places]

        return ids

    def _entered_from(self, came: Any, now: Any, where: Any) -> tuple[Any, int | None]:
        """The datum of ``came`` (and its place) that the datum at ``where`` in ``now`` comes from.

        Each list a one-to-one list stage or a nest of per-datum cogs gave has
        its lineage: which input each output came from (by place, or by the map
        the nest or a datum-by-datum fallback kept), back to ``came`` itself.
        Anything else on the way (a list stage that is not one-to-one) leaves
        the lineage broken, and the datum is not attributed to any event rather
        than to the wrong one.

        :returns: ``(datum, place)``, or ``(_NO_DATUM, None)``.
        """
        if came is None:
            return _NO_DATUM, None
        if type(where) is int:
            place = where
        else:
            # An iterator just past the datum: what is left says where it is.
            try:
                place = len(now) - operator.length_hint(where, -1) - 1
            except TypeError:
                return _NO_DATUM, None
            if not 0 <= place < len(now):
                return _NO_DATUM, None
        current = now
        while current is not came:
            link = self._lineage.get(id(current))
            if link is None or link[0] is not current:
                return _NO_DATUM, None
            out, current, came_from = link
            if came_from is _BY_IDENTITY:
                came_from = _places_by_identity(out, current)
                if came_from is None:
                    return _NO_DATUM, None
            if came_from is not None:
                place = came_from[place]
        try:
            return came[place], place
        except (TypeError, IndexError):  # data that entered as an iterator: no place to find
            return _NO_DATUM, None

    def _event_id(self, datum: Any, entered: Any, came: Any = None, place: int | None = None) -> Any:
        """The event id of a failed datum: the one it came in with, where that can be known.

        :param came: the data the datum entered with, and ``place`` its own place
            among them, when known (see :meth:`_entered_from`).
        """
        batch = self._entering
        if isinstance(batch, Batch) and batch.knows_ids:
            # The supply keeps the ids beside the data: by place when known;
            # otherwise by the datum itself, if it is in the batch once only.
            if place is not None and came is batch:
                return batch.event_ids()[place]
            for carrier in (entered, datum):
                if carrier is not _NO_DATUM:
                    found = batch.event_id_of(carrier)
                    if found is not None:
                        return found
        for carrier in (entered, datum):
            if carrier is _NO_DATUM:
                continue
            try:
                event_id = self.id_getter(carrier)
            except Exception:  # noqa: BLE001 - a datum without an id still goes to the error output
                continue
            if event_id is not None:
                return event_id
        return None

    # -- backpressure ----------------------------------------------------------

    def hold(self, count: int = 1, *, current: bool = False, cog: object = None) -> Hold:
        """Report that a cog now holds ``count`` more data back (in flight).

        Held data keep their batch unacknowledged, and every batch after it,
        since acknowledgements go in order. Which batch that is, the Train can
        only know from the cog:

        :param current: the held data came with the send in progress: the
            ones the cog is being called with now (or sent on late with their
            token, see :meth:`send`). Only their batch is held back, so under a
            steady flow through a cog that always holds something the batches
            before are still acknowledged. Without it (an output taking its
            whole buffer into its hands, data kept from earlier calls) the hold
            counts against the oldest unacknowledged batch: always safe, but
            then nothing is acknowledged until that hold is released.
        :param cog: the cog that holds; found from the caller (a method's
            ``self``) when not given.
        :returns: the token of the batch the hold counts against; give it to
            :meth:`release` (and to :meth:`send` with the data when they go on).
        """
        if count < 0:
            # hold(-1) is a release without its checks: the over-release would go unsaid.
            raise ValueError(f"hold count must be 0 or more, not {count}; release() lets data go")
        self.in_flight += count
        frame = sys._getframe(1)
        code = frame.f_code
        self._holders[code] = self._holders.get(code, 0) + count
        hold = self._current
        if not current or hold is None or hold.acknowledged:
            hold = self._holds[0] if self._holds else self._untracked
        elif self._carried:
            # Data of earlier batches let go in this send by cogs before this
            # one may be among what it holds now: their batch is held back.
            position = self._position(cog, frame)
            for released_at, earlier in self._carried.items():
                if (
                    (position is None or released_at is None or released_at < position)
                    and not earlier.acknowledged
                    and (hold.number < 0 or earlier.number < hold.number)
                ):
                    hold = earlier
        hold.held += count
        if count == 1:
            batch = self._entering
            if isinstance(batch, Batch) and batch.knows_ids:
                self._note_held_id(frame, cog)
        self._pace()
        return hold

    def _note_held_id(self, frame: types.FrameType, cog: object) -> None:
        """A cog called datum by datum holds the datum at hand: note its event id for when it goes on.

        Such a cog (the manual's DNS lookup) sends the datum on later, alone,
        where nothing tells which event it was: its error records and the
        outputs after it would name none. The generated loop that called the
        cog knows where the datum entered; its event id is looked up now, once
        per hold, and :meth:`send` gives it back to the datum when the same
        object is sent on. Nothing is noted for a cog given whole lists (it
        passes its data on as a :class:`Batch` with ``event_ids``).
        """
        position = self._position(cog, frame)
        if position is None:
            # A function for a cog: the one whose code is running.
            position = next(
                (i for i, one in enumerate(self._cogs) if getattr(one, "__code__", None) is frame.f_code), None
            )
        batched = self._plan[0]
        if position is None or position >= len(batched) or batched[position]:
            return
        caller = frame.f_back
        # The loop itself, or the check around a cog's first results.
        for _ in range(2):
            if caller is None:
                return
            code = caller.f_code
            if code.co_name == "run" and code.co_filename.startswith("<deadbeat train "):
                break
            caller = caller.f_back
        else:
            return
        names = caller.f_locals
        datum = names.get(f"d{position}", _NO_DATUM)
        if datum is _NO_DATUM:
            return
        # The nest the cog runs in is the last one that started: the highest first position up to the cog's.
        first = max((k for k in range(position + 1) if f"i{k}" in names or f"it{k}" in names), default=None)
        if first is None:
            return
        where = names[f"i{first}"] if f"i{first}" in names else names[f"it{first}"]
        entered = names.get("entered")
        source = names["data"] if "data" in names else names.get("batch")
        entered_datum, place = self._entered_from(entered, source, where)
        event_id = self._event_id(datum, entered_datum, entered, place)
        if event_id is not None:
            self._held_ids[id(datum)] = (datum, event_id)

    def _with_held_ids(self, data: Iterable[Any]) -> Any:
        """Data sent on late, as a :class:`Batch` knowing the ids noted when they were held; else as they are."""
        data = data if isinstance(data, list) else list(data)
        noted = self._held_ids
        found = []
        for datum in data:
            entry = noted.pop(id(datum), None)
            found.append(entry[1] if entry is not None and entry[0] is datum else _NO_DATUM)
        if all(event_id is _NO_DATUM for event_id in found):
            return data
        getter = self.id_getter

        def ids() -> list[Any]:
            made = []
            for datum, event_id in zip(data, found, strict=True):
                if event_id is _NO_DATUM:
                    try:
                        event_id = getter(datum)
                    except Exception:  # noqa: BLE001 - a datum without an id is named by none
                        event_id = None
                made.append(event_id)
            return made

        return Batch(data, event_ids=ids)

    def _forget_held_ids(self) -> None:
        self._forgetting_held_ids = False
        if self.in_flight <= 0:
            # Nothing is held: what was noted belongs to data dropped without being sent on.
            self._held_ids.clear()

    def release(self, count: int = 1, token: Hold | None = None, *, cog: object = None) -> None:
        """Report that ``count`` held data went on or were dropped.

        :param token: what :meth:`hold` returned for them. Without it, the
            release is taken from the latest batches holding data, which can
            only delay an acknowledgement, never bring one forward.
        :param cog: the cog that releases; found from the caller (a method's
            ``self``) when not given.
        """
        self.in_flight -= count
        frame = sys._getframe(1)
        code = frame.f_code
        self._holders[code] = self._holders.get(code, 0) - count
        current = self._current
        if current is not None and (token is None or token.number >= 0):
            # Data of an earlier batch let go in the middle of a send may go on
            # with it (a window returning its oldest datum): cogs after this one
            # that hold with current=True must then hold that batch back.
            earlier = token if token is not None else self._holds[0] if self._holds else None
            if (
                earlier is not None
                and not earlier.acknowledged
                and (current.number < 0 or earlier.number < current.number)
            ):
                position = self._position(cog, frame)
                known = self._carried.get(position)
                if known is None or known.acknowledged or earlier.number < known.number:
                    if self._carried is _NOTHING_CARRIED:
                        self._carried = {}
                    self._carried[position] = earlier
        if self.in_flight < 0 and not self._over_released:
            # More released than held: the count that tells when data are
            # written is wrong from here on, so acknowledgements may come
            # early. A cog's mistake; said once, and the run has failed.
            self._over_released = True
            position = self._position(cog, frame)
            who = cog_name(self._cogs[position]) if position is not None else _holder(code)
            self.esc.fail(
                self.name,
                f"{who} released more data than were held ({-self.in_flight} too many): every"
                " train.release() must match a train.hold(); acknowledgements may have come early",
            )
        if self.in_flight <= 0:
            # Nothing is held at all: whatever holds could not be attributed
            # exactly (a release without its token) are settled now.
            for hold in self._holds:
                hold.held = 0
            self._untracked.held = 0
            if self._held_ids and not self._forgetting_held_ids:
                # Not now: released data are usually sent on right after this call returns.
                self._forgetting_held_ids = True
                self.esc.enqueue(self._forget_held_ids)
        else:
            left = count
            if token is not None and token.held > 0:
                taken = min(left, token.held)
                token.held -= taken
                left -= taken
            if left > 0:
                self._release_latest(left)
        self._complete_soon()
        self._pace()

    def _position(self, cog: object, frame: types.FrameType) -> int | None:
        """The position of ``cog``, or of the cog whose method ``frame`` runs; ``None`` when not known."""
        if cog is None:
            cog = frame.f_locals.get("self")
        return self._index.get(id(cog)) if cog is not None else None

    def _release_latest(self, count: int) -> None:
        """Take a release without a token from the latest holds: untracked data first, then the newest batches."""
        for hold in itertools.chain((self._untracked,), reversed(self._holds)):
            if hold.held > 0:
                taken = min(count, hold.held)
                hold.held -= taken
                count -= taken
                if not count:
                    return

    def block(self, cog: object) -> None:
        """Report that ``cog`` (an output) cannot take data now: a full disk, a lost peer.

        Until :meth:`unblock`, nothing is acknowledged (what the cog could not
        write is not done) and the supplies are paused, so nothing piles up.
        """
        if id(cog) not in self._blocked:
            self._blocked.add(id(cog))
            log.warning("%s cannot take data; supplies paused, nothing acknowledged until it can", cog_name(cog))
            self._pace()

    def unblock(self, cog: object) -> None:
        """``cog`` takes data again: acknowledge what it wrote, resume the supplies."""
        if id(cog) in self._blocked:
            self._blocked.discard(id(cog))
            log.info("%s takes data again", cog_name(cog))
            self._complete_soon()
            self._pace()

    def _settled(self) -> bool:
        """No output blocked, here or in the error train, and the error train holds nothing.

        The error train counts: a datum that failed is done only once its
        error record is written (an error output that holds data until a
        broker confirms them, or is blocked, holds back the acknowledgement).
        """
        if self._blocked:
            return False
        errors = self._error_output
        return not isinstance(errors, Train) or (errors.in_flight <= 0 and not errors._blocked)

    def _complete_soon(self) -> None:
        if self._unwritten:
            self._forget_written()
        if self._holds and not self._completion_scheduled and self._ready():
            # Not now: released data are usually sent on right after this call
            # returns, and must be written before they are acknowledged.
            self._completion_scheduled = True
            self.esc.enqueue(self._complete)
        if self._fed_by is not None:
            # Error records written: the train they came from may be done now.
            self._fed_by._complete_soon()

    def _pace(self) -> None:
        """Pause or resume the supplies: paused above ``high_water`` held data or while an output is blocked.

        An error train's held data and blocked outputs count for the train it
        serves: its own first cog is no supply, and what keeps failing must not
        pile up there.
        """
        errors = self._error_output if isinstance(self._error_output, Train) else None
        blocked = bool(self._blocked) or (errors is not None and bool(errors._blocked))
        held = self.in_flight + (errors.in_flight if errors is not None else 0)
        if not self.paused and (blocked or held >= self.high_water):
            self.paused = True
            log.debug("%d data in flight, outputs blocked: %s; pausing supplies", held, blocked)
            for supply in self.supplies():
                self.esc.pause(supply)
        elif self.paused and not blocked and held <= self.low_water:
            self.paused = False
            log.debug("%d data in flight; resuming supplies", held)
            for supply in self.supplies():
                self.esc.resume(supply)
        if self._fed_by is not None:
            self._fed_by._pace()

    # -- broadcasts ----------------------------------------------------------

    def listens(self, name: str) -> bool:
        """:returns: whether a cog of the train takes the broadcast ``name`` (one of :data:`BROADCASTS`).

        For a cog that forwards broadcasts to another train (a router to its
        routes): nothing to forward to a train where no cog would hear it.
        """
        return bool(self._broadcasts.get(name))

    def _broadcast_failed(self, cog: Any, name: str, exc: BaseException) -> None:
        """A cog's broadcast method raised: what it was to do (save a state, acknowledge) is undone.

        The broadcast goes on to the other cogs and the run goes on, but its
        result is failure; counted once per cog and broadcast (an ``event_done``
        that raises would otherwise say so for every event).
        """
        key = (id(cog), name)
        if key in self._failed_broadcasts:
            return
        self._failed_broadcasts.add(key)
        self.esc.failures.append(f"{cog}: broadcast {name} failed: {type(exc).__name__}: {exc}")

    def notify(self, name: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Broadcast ``name`` to every cog that has a method of that name, in train order.

        For the broadcasts of the specification (:data:`BROADCASTS`), each cog's
        method gets as many of the arguments as it takes, positionally, whatever
        its parameters are called. Any other name reaches the cogs bearing that
        method with the arguments as given. One cog's exception is logged, does
        not keep the broadcast from the others, and makes the run's result
        failure (:attr:`Escapement.failures`).

        ``finish`` is the shutdown's: an application broadcasting it asks for
        the shutdown in order, which calls each cog's ``finish`` once and sends
        on what it returns (called here, that was lost, and each ``finish``
        ran twice).

        :returns: the results that were not ``None``.
        """
        results: list[Any] = []
        if name == "finish":
            if not self.finished:
                log.info("%s: notify('finish') asks for the shutdown in order; finish is called by it", self.name)
                self.esc.shutdown()
            return results
        implementations = self._broadcasts.get(name)
        if implementations is not None:
            if kwargs:
                args = self._positional(name, args, kwargs)
            if name == "event_done" and args and self._already_announced(args[0]):
                return results
            if name == "event_done" and args and self._holds:
                self._note_told_done(args[0])
            if name == "event_rename" and len(args) == 1:
                # The manual's one-argument form only tells: a cog written for
                # two hears None as the new id rather than failing per event.
                args = (args[0], None)
            elif name == "event_rename" and len(args) >= 2 and self._broadcasts["event_done"]:
                self._note_rename(args[0], args[1])
            for implementation in implementations:
                try:
                    result = implementation.method(*args[: implementation.taken])
                except Exception as exc:
                    log.exception("%s: broadcast %s failed", implementation.cog, name)
                    self._broadcast_failed(implementation.cog, name, exc)
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
            except Exception as exc:
                log.exception("%s: broadcast %s failed", cog, name)
                self._broadcast_failed(cog, name, exc)
                continue
            if result is not None:
                results.append(result)
        return results

    def _positional(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """The arguments of broadcast ``name`` in the specification's order.

        :raises TypeError: for an unknown keyword, or a keyword given after a missing argument.
        """
        spec = getattr(self._pm.hook, name).spec
        names: tuple[str, ...] = tuple(spec.argnames) if spec is not None else ()
        unknown = set(kwargs) - set(names[len(args) :])
        if unknown:
            raise TypeError(f"{name}() got unexpected or repeated arguments: {', '.join(sorted(unknown))}")
        values = list(args)
        for argname in names[len(args) :]:
            if argname not in kwargs:
                if any(later in kwargs for later in names[names.index(argname) :]):
                    raise TypeError(f"{name}() is missing {argname!r}")
                break
            values.append(kwargs[argname])
        return tuple(values)

    async def finish(self) -> None:
        """Finish every cog in train order, carrying down what each one flushes; then the error train."""
        if self.finished:
            return
        self.finished = True
        finishing = {id(impl.cog): impl.method for impl in self._broadcasts["finish"]}
        for cog in self._cogs:
            method = finishing.pop(id(cog), None)
            if method is not None:
                try:
                    unheld = self.in_flight <= 0 and self._index[id(cog)] + 1 not in self._starts
                    result = method()
                    if inspect.isawaitable(result):
                        result = await result
                    if result is not None:
                        if unheld and self.in_flight <= 0:
                            result = self._say_unheld(cog, result)
                        self.send(cog, result)
                except asyncio.CancelledError:
                    # The Escapement's shutdown_timeout passed while this cog finished.
                    self.esc.fail(
                        self.name,
                        f"{cog}: finish had not ended when the shutdown deadline passed; {self.in_flight}"
                        " data were still in the train, and the cogs after it were not finished",
                    )
                    raise
                except Exception as exc:
                    log.exception("%s: finish failed", cog)
                    # What it should have sent on or closed in order (a supply's last
                    # reads, an output's last write) may be lost: the run failed.
                    self.esc.fail(cog, f"finish failed: {type(exc).__name__}: {exc}")
                except (SystemExit, KeyboardInterrupt) as exc:
                    # sys.exit() in a cog's finish: escaping here, it left the
                    # cogs after it unfinished and their held data unwritten, and
                    # sys.exit(0) made that exit status 0. The shutdown is under
                    # way already: the others finish, and the run has failed.
                    self.esc.fail(cog, f"finish raised {type(exc).__name__}({exc}); the other cogs finish first")
            self.esc.finished(cog)
        if self.in_flight > 0 or self._blocked:
            held: dict[str, int] = {}
            for code, count in self._holders.items():
                held[_holder(code)] = held.get(_holder(code), 0) + count
            holding = {name: count for name, count in held.items() if count > 0}
            if sum(holding.values()) == self.in_flight:
                holders = ", ".join(f"{count} by {name}" for name, count in holding.items())
            else:
                # Released elsewhere than held (a helper object of the cog's releasing for it): the counts by
                # caller do not add up to what is held, and "5 data still held (3000 by X)" read as nonsense.
                holders = "by " + ", ".join(holding) if holding else ""
            batches = sum(hold.batch_id is not None for hold in self._holds)
            events = sum(len(hold.event_ids or ()) for hold in self._holds)
            what = []
            if self.in_flight > 0:
                what.append(f"{self.in_flight} data still held ({holders or 'by no cog known'})")
            if self._blocked:
                blocked = [
                    self._names.get(i) or cog_name(cog) for i, cog in enumerate(self._cogs) if id(cog) in self._blocked
                ]
                what.append(f"{len(self._blocked)} outputs blocked ({', '.join(blocked) or 'not cogs of this train'})")
            message = f"{' and '.join(what)} after finish; {batches} batches and {events} events stay unacknowledged"
            if self.in_flight > 0 and not self.esc.failures:
                # A cog author's slip, most likely: say what the rule is. (Not when a cog has
                # already said why it still holds data: an output that could not write in time.)
                message += " (every train.hold() needs a train.release() once the data went on or were dropped)"
            self.esc.fail(self.name, message)
        else:
            self._complete()
            if self._rename_order and not self._holds and self._acknowledging():
                self._settle_late_renames(everything=True)
        if self._fed_by is not None:
            self._dead_letter_unwritten()
        if isinstance(self._error_output, Train):
            await self._error_output.finish()

    def _say_unheld(self, cog: Any, result: Any) -> Any:
        """Warn when ``cog``'s finish sends on data the train never knew it held; :returns: ``result``, as a list.

        A cog that keeps data and returns ``None`` without ``train.hold()`` (the
        manual's "swallow or delay") had them counted as done: what they came
        from was acknowledged long before they were written, a tailer's position
        saved past them, and a crash before this finish loses them.
        """
        if isinstance(result, (str, bytes, Mapping)) or not isinstance(result, Iterable):
            return result  # not a list of data: send() says so
        data = list(result)
        if data:
            log.warning(
                "%s: finish() sent on %d data the train did not know were held (its __call__ kept them and returned"
                " None without train.hold()): what they came from was acknowledged before they were written, and a"
                " crash would have lost them; a cog that delays data reports them with train.hold()",
                cog,
                len(data),
            )
        return data

    def done(self) -> None:
        """Send ``done`` to every cog in train order; then to the error train's cogs."""
        self._failures.flush()
        self.notify("done")
        if isinstance(self._error_output, Train):
            self._error_output.done()

    def run(self) -> int:
        """Run the Escapement until shutdown (shorthand for ``train.esc.run()``).

        :returns: the exit status the run earns (see :meth:`Escapement.run`):
            ``sys.exit(train.run())``.
        """
        return self.esc.run()
