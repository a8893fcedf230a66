"""Holding data back to combine them: windowed aggregation, batching, and splitting.

Aggregate and Batch keep data for a while. They report what they hold to the
Train (``hold``/``release``), so supplies pause instead of letting memory grow and
source acknowledgements wait until the combined datum has gone out; and they
broadcast ``event_rename`` from each absorbed event's id to the new one, so cogs
tracking ids know where an event went. ``finish`` sends everything held.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from deadbeat import conf, movement
from deadbeat.text._fields import FieldPath, check_field_path

from ._rate import distinct
from ._size import weight

__all__ = ["Aggregate", "Batch", "Split"]

_FUNCTIONS = ("count", "sum", "min", "max", "first", "last", "list")
#: The functions of numbers: anything else is an error for the datum.
_NUMERIC = frozenset({"sum", "min", "max"})
#: What they take: integers and floats (a boolean is neither).
_NUMBERS = frozenset({int, float})
#: The largest number sum, min and max take: the largest float (an int beyond it meets no float).
_LARGEST = sys.float_info.max
#: Marks a field a datum does not have.
_ABSENT: Any = object()
#: The value of a ``first`` output no datum has given yet (``None`` is a value a datum can give).
_NOT_YET: Any = object()

log = logging.getLogger("deadbeat.flow")


def held_limit(train: Any) -> int | None:
    """The most data a cog may hold back for grouping without stalling the train (``None``: no bound known).

    Held data count against the train's ``high_water``: above it the supplies
    pause until they fall to ``low_water``. A cog holding more than that for a
    window would stall every supply until its window ends; half of
    ``low_water`` leaves the other half to the rest of the train.
    """
    low = getattr(train, "low_water", None)
    return max(1, low // 2) if isinstance(low, int) else None


def _positive(name: str, value: Any) -> Any:
    if type(value) is not int or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
    return value


def _parse_spec(spec: str) -> tuple[str, Any]:
    function, _, field = spec.partition(":")
    if function not in _FUNCTIONS:
        raise ValueError(f"unknown aggregate {spec!r}; use one of {', '.join(_FUNCTIONS)} (as FUNCTION:FIELD)")
    if function != "count" and not field:
        raise ValueError(f"aggregate {spec!r} needs a field: {function}:FIELD")
    return function, movement.getter(field) if field else None


class _Group:
    __slots__ = ("key", "count", "values", "kept", "ids", "timer", "size", "holds")

    def __init__(self, key: tuple[Any, ...], outputs: int, key_size: int) -> None:
        self.key = key
        self.count = 0
        self.values: list[Any] = [None] * outputs
        #: Per output, the estimated bytes of the first or last value it keeps.
        self.kept: list[int] = [0] * outputs
        self.ids: list[Any] = []
        self.timer: movement.Binding | None = None
        #: The estimated bytes of what it keeps: its key, the values of its
        #: lists and its first and last values.
        self.size = key_size
        #: The train's hold tokens of its data.
        self.holds = movement.HeldRuns()


class Aggregate(movement.Cog):
    """Group data by key fields over a time window and emit one datum per group.

    A group opens with its first datum and is emitted ``window`` seconds later, or
    as soon as it holds ``max_size`` data or its lists ``max_bytes``, or at
    ``finish``. The emitted datum has the key fields, an ``id`` of its own
    (``aggregate-RUN-N``: RUN tells the runs apart, so no id repeats after a
    restart), and one
    field per entry of ``aggregates`` (``{"n": "count", "bytes": "sum:size",
    "hosts": "list:host"}``).

    ``sum``, ``min`` and ``max`` take numbers only (integers and floats): a datum
    whose field holds anything else (a text, which ``sum`` would concatenate,
    a boolean) goes to the error output, and its group is left as it was. A
    missing field is skipped. What a group keeps is bounded: ``max_size`` data,
    and ``max_bytes`` for the values of its lists (estimated as the text they
    would take); the group goes out early rather than pass either, and a single
    value larger than ``max_bytes`` is an error for its datum. At most
    ``max_groups`` groups are open at once: a datum with a new key when that many
    are open sends the oldest group out early, so data with ever new keys (one
    per line, in the worst case) cannot grow memory without bound. What all
    groups keep together (keys, list values, first and last values) is bounded
    by ``max_total_bytes``: past it, the oldest groups go out early. A key, or
    a key with its datum's values, larger than ``max_bytes`` is an error for
    that datum.

    The data the open groups hold are held back in the train: when they reach
    half of the train's ``low_water`` (2,500 with the default ``[train]``
    settings), the oldest groups go out early, said once in the log, rather
    than pause every supply until their window ends. For bigger groups, raise
    ``[train] high_water`` (and ``low_water``) above twice what a window holds.
    ``first`` and ``last`` take a null value as any other; only a missing field
    is skipped. An aggregate may not be named ``id`` or like a ``by`` field
    (the group's datum holds those), and ``by`` may not hold ``id``.

    :param train: the Train.
    :param by: the fields that make the group key.
    :param aggregates: output field to ``FUNCTION`` or ``FUNCTION:FIELD`` with
        count, sum, min, max (of numbers), first, last, list.
    :param window: seconds a group stays open.
    :param max_size: data per group before it is emitted early.
    :param id_getter: how to read an absorbed event's id, for ``event_rename``
        (callable or field path); ``None`` looks in ``ID``, ``id``, ``_id``.
    :param max_bytes: estimated bytes of what a group keeps (its key, the values
        of its lists, its first and last values) before it is emitted early
        (4 MiB by default).
    :param max_groups: groups open at once; beyond, the oldest is emitted early.
    :param max_total_bytes: estimated bytes all open groups keep together;
        beyond, the oldest are emitted early (256 MiB by default).
    """

    def __init__(
        self,
        train: movement.Train,
        by: Sequence[str],
        aggregates: Mapping[str, str],
        window: float = 60.0,
        max_size: Annotated[int, conf.Range(1)] = 10_000,
        id_getter: movement.FieldGetter | None = None,
        max_bytes: Annotated[int, conf.Range(1)] = 4 * 2**20,
        max_groups: Annotated[int, conf.Range(1)] = 100_000,
        max_total_bytes: Annotated[int, conf.Range(1)] = 256 * 2**20,
    ) -> None:
        if isinstance(by, str):
            raise TypeError("by must be a list of field names, not one string")
        self.train = train
        self.by = list(by)
        self.aggregates = dict(aggregates)
        self.window = window
        self.max_size = _positive("max_size", max_size)
        self.id_getter = id_getter
        self.max_bytes = _positive("max_bytes", max_bytes)
        self.max_groups = _positive("max_groups", max_groups)
        self.max_total_bytes = _positive("max_total_bytes", max_total_bytes)
        #: The estimated bytes all open groups keep (the sum of their sizes).
        self._total = 0
        self._get_id = movement.getter(id_getter, movement.default_id_getter)
        self._key_getters = [movement.getter(f) for f in self.by]
        self._key_setters = [movement.setter(f) for f in self.by]
        self._outputs = [(name, *_parse_spec(spec)) for name, spec in self.aggregates.items()]
        # The group's datum holds its own id and its key fields: an output of the same name would
        # silently replace them (an "id" that is a sum, a key field holding a count).
        taken = {"id", *(path.split(".", 1)[0] for path in self.by)}
        clashing = sorted(name for name in self.aggregates if name in taken)
        if clashing:
            raise ValueError(
                f"aggregates {', '.join(map(repr, clashing))}: the group's datum holds its own id and its by"
                " fields under those names; name the aggregate otherwise"
            )
        if "id" in self.by:
            raise ValueError("by: 'id': each group's datum gets an id of its own; group by another field")
        #: (index, is it "last") of the outputs keeping one value (first, last).
        self._kept_outputs = [
            (index, function == "last")
            for index, (_, function, _) in enumerate(self._outputs)
            if function in ("first", "last")
        ]
        #: (index, name) of the sum outputs, whose overflow is checked before a datum is absorbed.
        self._sums = [(index, name) for index, (name, function, _) in enumerate(self._outputs) if function == "sum"]
        self._groups: dict[tuple[Any, ...], _Group] = {}
        self._serial = itertools.count(1)
        # Ids unique across runs too: a spool file or a dedupe downstream named by the id must
        # not meet the same id again after a restart. The start time (in ms) makes them so.
        self._run = f"{time.time_ns() // 1_000_000:x}"
        #: Data held in the open groups, and the most the train lets us hold (see held_limit).
        self._held = 0
        self._held_limit = held_limit(train)
        self._said_limit = False

    def _key(self, data: Any) -> tuple[Any, ...]:
        values = []
        for get in self._key_getters:
            try:
                values.append(get(data))
            except LookupError:
                values.append(None)
        return tuple(values)

    def __call__(self, data: Any) -> None:
        raw = self._key(data)
        # Grouped by values as JSON tells them apart (true is not 1); the group keeps them as they came.
        key = tuple(map(distinct, raw))
        # Everything that can refuse the datum comes first: a refused datum
        # leaves its group (or the absence of one) as it was.
        values, size, kept = self._read(data)
        group = self._groups.get(key)
        if group is not None and self._sums:
            self._check_sums(group, values)
        growth = self._growth(group, size, kept) if group is not None else 0
        if group is not None and group.size + growth > self.max_bytes:
            self._send_on(key)
            group = None
        if group is None:
            key_size = weight(raw, self.max_bytes)
            # A new group keeps every first and last value the datum has.
            growth = size + sum(kept)
            if key_size + growth > self.max_bytes:
                raise ValueError(
                    f"group key and values larger than max_bytes {self.max_bytes} in one datum"
                    f" (about {key_size + growth} bytes)"
                )
            if len(self._groups) >= self.max_groups:
                # Dicts keep insertion order: the first key is the oldest group.
                self._send_on(next(iter(self._groups)))
            group = self._groups[key] = _Group(raw, len(self._outputs), key_size)
            for index, _last in self._kept_outputs:
                if not _last:
                    group.values[index] = _NOT_YET
            self._total += key_size
            # Not keeping the run alive: with --once, open groups go out at finish.
            group.timer = self.train.esc.after(self.window, self._close, key, keeps_alive=False)
        self._absorb(group, data, values, kept)
        group.size += growth
        self._total += growth
        # The datum came with this call: it holds back its own batch only (see Train.hold).
        group.holds.add(self.train.hold(current=True))
        self._held += 1
        if group.count >= self.max_size:
            self._send_on(key)
        while self._total > self.max_total_bytes and self._groups:
            self._send_on(next(iter(self._groups)))
        limit = self._held_limit
        if limit is not None and self._held >= limit:
            if not self._said_limit:
                self._said_limit = True
                log.warning(
                    "%s: holds %d data in open groups, half of the train's low_water: the oldest groups go out"
                    " early from now on, rather than stall the supplies until their window ends (raise"
                    " [train] high_water to aggregate more at once)",
                    self,
                    self._held,
                )
            while self._held > limit and self._groups:
                self._send_on(next(iter(self._groups)))
        return None

    def _check_sums(self, group: _Group, values: list[Any]) -> None:
        """:raises ValueError: when a ``sum`` of ``group`` would overflow with ``values`` (JSON cannot hold it)."""
        for index, name in self._sums:
            value, current = values[index], group.values[index]
            if value is not _ABSENT and current is not None:
                try:
                    total = current + value
                except OverflowError:
                    total = math.inf
                if (type(total) is float and not math.isfinite(total)) or not -_LARGEST <= total <= _LARGEST:
                    raise ValueError(f"aggregate {name!r} (sum): {current!r} + {value!r} is beyond a number's range")

    def _growth(self, group: _Group, size: int, kept: list[int]) -> int:
        """How many bytes ``group`` would keep more with a datum whose lists add ``size`` and that has values
        of the sizes ``kept`` for first and last."""
        growth = size
        for index, last in self._kept_outputs:
            if last and kept[index]:
                growth += kept[index] - group.kept[index]
            elif not last and group.values[index] is _NOT_YET:
                growth += kept[index]
        return growth

    def _send_on(self, key: tuple[Any, ...]) -> None:
        """Emit the group of ``key`` down the train, with the token of the earliest batch among its data."""
        out, token = self._emit(key)
        self.train.send(self, [out], token=token)

    def _read(self, data: Any) -> tuple[list[Any], int, list[int]]:
        """The value of each aggregate's field in ``data``, the estimated bytes of those lists keep, and per
        output the estimated bytes of a value first or last would keep (0 for the others).

        :raises ValueError: for a value sum, min or max cannot take, or one larger than ``max_bytes``.
        """
        values = []
        kept = [0] * len(self._outputs)
        size = 0
        for index, (name, function, get) in enumerate(self._outputs):
            if function == "count":
                values.append(_ABSENT)
                continue
            try:
                value = get(data)
            except LookupError:
                values.append(_ABSENT)
                continue
            if function in _NUMERIC and type(value) not in _NUMBERS:
                raise ValueError(f"aggregate {name!r} ({function}): expected a number, got {type(value).__name__}")
            if function in _NUMERIC and type(value) is float and not math.isfinite(value):
                raise ValueError(f"aggregate {name!r} ({function}): {value!r} is not a finite number")
            if function in _NUMERIC and type(value) is int and not -_LARGEST <= value <= _LARGEST:
                # Python's ints have no bound, a float has: such a total could
                # meet no float of a later datum (OverflowError), and that datum,
                # not this one, would fail.
                raise ValueError(
                    f"aggregate {name!r} ({function}): an integer of {len(str(abs(value)))} digits is beyond"
                    " a number's range"
                )
            if function == "list":
                size += weight(value, self.max_bytes - size)
                if size > self.max_bytes:
                    raise ValueError(
                        f"aggregate {name!r} (list): values larger than max_bytes {self.max_bytes} in one datum"
                    )
            elif function in ("first", "last"):
                kept[index] = weight(value, self.max_bytes)
                if kept[index] > self.max_bytes:
                    raise ValueError(f"aggregate {name!r} ({function}): a value larger than max_bytes {self.max_bytes}")
            values.append(value)
        return values, size, kept

    def _absorb(self, group: _Group, data: Any, values: list[Any], kept: list[int]) -> None:
        group.count += 1
        event_id = self._get_id(data)
        if event_id is not None:
            group.ids.append(event_id)
        for index, ((_, function, _), value) in enumerate(zip(self._outputs, values, strict=True)):
            if value is _ABSENT:
                continue
            current = group.values[index]
            if function == "sum":
                group.values[index] = value if current is None else current + value
            elif function == "min":
                group.values[index] = value if current is None or value < current else current
            elif function == "max":
                group.values[index] = value if current is None or value > current else current
            elif function == "first":
                if current is _NOT_YET:
                    group.values[index] = value
                    group.kept[index] = kept[index]
            elif function == "last":
                group.values[index] = value
                group.kept[index] = kept[index]
            elif current is None:
                group.values[index] = [value]
            else:
                current.append(value)

    def _emit(self, key: tuple[Any, ...]) -> tuple[dict[str, Any], movement.Hold | None]:
        """Close the group of ``key``. :returns: the datum it became and the token to send it on with."""
        group = self._groups.pop(key)
        self._total -= group.size
        self._held -= group.count
        if group.timer is not None:
            self.train.esc.dequeue(group.timer)
        new_id = f"aggregate-{self._run}-{next(self._serial)}"
        out: dict[str, Any] = {"id": new_id}
        for put, value in zip(self._key_setters, group.key, strict=True):
            out = put(out, value)
        for index, (name, function, _) in enumerate(self._outputs):
            value = group.count if function == "count" else group.values[index]
            out[name] = None if value is _NOT_YET else value
        for old_id in group.ids:
            self.train.notify("event_rename", old_id, new_id)
        return out, group.holds.release(self.train.release)

    def _close(self, key: tuple[Any, ...]) -> None:
        """Window timer: the group goes out from this cog's position."""
        if key in self._groups:
            self._groups[key].timer = None
            self._send_on(key)

    def finish(self) -> list[dict[str, Any]]:
        """Emit every open group."""
        return [self._emit(key)[0] for key in list(self._groups)]


class Batch(movement.Cog):
    """Collect data into lists of ``size`` (or whatever arrived within ``timeout``).

    A batch is held back in the train until it goes out: a ``size`` above half
    of the train's ``low_water`` (2,500 with the default ``[train]`` settings)
    would pause the supplies, so batches then go out at that size, said once in
    the log; raise ``[train] high_water`` (and ``low_water``) for larger ones.

    :param train: the Train.
    :param size: data per batch.
    :param timeout: seconds the first datum of a batch waits at most.
    :param target: where the list goes in the emitted datum, a new mapping
        (callable or field path); ``None`` emits the list itself.
    """

    def __init__(
        self,
        train: movement.Train,
        size: Annotated[int, conf.Range(1)] = 100,
        timeout: float = 1.0,
        target: movement.FieldSetter | None = "data",
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.train = train
        self.size = size
        self.timeout = timeout
        self.target = target
        self._set = movement.setter(target) if target is not None else None
        self._items: list[Any] = []
        self._holds = movement.HeldRuns()
        self._timer: movement.Binding | None = None
        limit = held_limit(train)
        #: The size a batch goes out at: ``size``, or less where the train could not hold that many.
        self._size = size if limit is None else min(size, limit)
        if self._size < size:
            log.warning(
                "%s: a batch of %d would stall the train (it pauses its supplies above [train] high_water);"
                " batches go out at %d (raise high_water for larger ones)",
                self,
                size,
                self._size,
            )

    def __call__(self, data: Any) -> tuple[Any, ...] | None:
        self._items.append(data)
        # The datum came with this call: it holds back its own batch only (see Train.hold).
        self._holds.add(self.train.hold(current=True))
        if len(self._items) >= self._size:
            # Returned in this send: the Train sees earlier batches' data let go here and go on with it.
            return (self._take()[0],)
        if self._timer is None:
            # Not keeping the run alive: with --once, a batch not yet full goes out at finish.
            self._timer = self.train.esc.after(self.timeout, self._expire, keeps_alive=False)
        return None

    def _take(self) -> tuple[Any, movement.Hold | None]:
        items, self._items = self._items, []
        if self._timer is not None:
            self.train.esc.dequeue(self._timer)
            self._timer = None
        token = self._holds.release(self.train.release)
        return (items if self._set is None else self._set({}, items)), token

    def _expire(self) -> None:
        self._timer = None
        if self._items:
            out, token = self._take()
            self.train.send(self, [out], token=token)

    def finish(self) -> list[Any]:
        """Emit what is collected."""
        return [self._take()[0]] if self._items else []


def _parents(path: str | int) -> list[str]:
    """The paths of the containers on the way to ``path``: ``"a.b.c"`` gives ``["a", "a.b"]``."""
    if not isinstance(path, str):
        return []
    found = []
    escaped = False
    for index, char in enumerate(path):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            found.append(path[:index])
    return found


def _shallow_copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict or kind is list:
        return kind(value)
    return copy.copy(value)


class Split(movement.Cog):
    """Turn one datum into one per item of a list field (the other fields copied).

    Each output is a shallow copy of the datum in which the mappings (or lists)
    on the way to the field are copied too, so that the outputs of a nested
    field such as ``"event.items"`` each hold their own item.

    One line must not become a flood: a list of more than ``max_items`` items is
    an error for its datum, and so is a split whose outputs would together copy
    more than ``max_bytes`` of the other fields (the number of items times the
    estimated size of everything but the list: a datum of 3,000 fields with
    3,000 items would otherwise make nine million fields from one line). The
    datum then goes to the error output whole; nothing is cut short.

    :param field: the list field (field path; read and written in place, so not
        a callable); each output has one item there.
    :param max_items: items one datum may split into.
    :param max_bytes: estimated bytes of the other fields all outputs together
        copy (items times the size of the rest of the datum, a text counting its
        length, a number 8, each field or list item 16 more; 16 MiB by default).
    """

    def __init__(
        self,
        field: FieldPath,
        max_items: Annotated[int, conf.Range(1)] = 10_000,
        max_bytes: Annotated[int, conf.Range(1)] = 16 * 2**20,
    ) -> None:
        self.field = field
        self.max_items = _positive("max_items", max_items)
        self.max_bytes = _positive("max_bytes", max_bytes)
        check_field_path("field", field)
        self._get = movement.getter(field)
        self._set = movement.setter(field)
        self._parents = [(movement.getter(p), movement.setter(p)) for p in _parents(field)]

    def __call__(self, data: Any) -> list[Any]:
        try:
            items = self._get(data)
        except LookupError:
            raise ValueError(f"field {self.field!r}: missing") from None
        if not isinstance(items, list):
            raise ValueError(f"field {self.field!r}: expected a list, got {type(items).__name__}")
        count = len(items)
        if count > self.max_items:
            raise ValueError(f"field {self.field!r}: {count} items, more than max_items {self.max_items}")
        if count > 1:
            # What each output copies: the datum without the list (its items
            # are shared out, not copied).
            budget = self.max_bytes // count
            if weight(data, budget, skip=items) > budget:
                raise ValueError(
                    f"field {self.field!r}: {count} items, each with a copy of more than {budget} bytes of "
                    f"the other fields: more than max_bytes {self.max_bytes} in all"
                )
        out = []
        for item in items:
            one = _shallow_copy(data)
            for get, put in self._parents:
                one = put(one, _shallow_copy(get(one)))
            out.append(self._set(one, item))
        return out
