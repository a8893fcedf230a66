"""What a train did so far, read at one moment in the loop's thread."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..movement import Escapement, Train
from ..movement._train import cog_name

__all__ = ["CogMetrics", "MetricsSource", "Snapshot", "TrainMetrics", "reported_by", "short_name", "snapshot"]


@runtime_checkable
class MetricsSource(Protocol):
    """What a cog implements to report figures of its own beside the train's counters.

    ``metrics()`` is called in the loop's thread whenever metrics are read (a
    scrape, a ``--stats`` refresh), so it must be quick and must not block: it
    returns figures the cog keeps anyway. Names are lowercase ``snake_case``;
    a name ending in ``_total`` is a counter (it only grows), any other is a
    gauge (a level that goes up and down). Names every cog of a kind should use:

    - supplies: ``bytes_read_total``, ``lines_read_total`` (or ``messages_read_total``),
      ``lag_bytes`` (what is in the files or streams and not read yet),
      ``lag_seconds``, ``files_open``, ``connections_open``;
    - outputs: ``written_total``, ``retried_total``, ``pending`` (taken but not
      written or confirmed), ``last_error_timestamp_seconds``;
    - any cog: ``ready``, 1 once its input is open or its peer connected, 0
      while not (``/ready`` answers 503 while any cog says 0).

    A cog's ``counts`` mapping (name to count), which several cogs already keep,
    is read too, every value as a counter.
    """

    def metrics(self) -> Mapping[str, float]:
        """:returns: the cog's figures by name, read now."""
        ...


@dataclass(frozen=True)
class CogMetrics:
    """One cog's figures.

    :ivar data_in: data given to the cog; ``None`` while the train does not
        measure, or measures stages and the cog is not the first of its stage.
    :ivar data_out: data the cog gave on, at once or later; ``None`` likewise
        unless the cog is the last of its stage.
    :ivar errors: data the cog raised on or rejected.
    :ivar counters: counters the cog reports (``counts``, ``metrics()`` names ending in ``_total``).
    :ivar gauges: the other figures of ``metrics()``.
    """

    position: int
    name: str
    data_in: int | None
    data_out: int | None
    errors: int
    counters: dict[str, float] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)

    @property
    def dropped(self) -> int | None:
        """Data in that neither went on nor failed: dropped, merged or still held (negative for a splitter)."""
        if self.data_in is None or self.data_out is None:
            return None
        return self.data_in - self.data_out - self.errors


@dataclass(frozen=True)
class TrainMetrics:
    """One train's figures.

    :ivar stages: ``(first, end, seconds)`` per stage of the generated code (a
        cog with ``call_batch``, or cogs called datum by datum in one nest of
        loops), while the train measures.
    """

    name: str
    events_in: int
    events_out: int
    errors: int
    held: int
    paused: bool
    blocked: int
    measured: str
    cogs: list[CogMetrics]
    stages: list[tuple[int, int, float]]


@dataclass(frozen=True)
class Snapshot:
    """Every train's figures and the application's state, read at one moment.

    :ivar running: the loop has started and is not shutting down.
    :ivar failures: failures the run could not make good (see ``Escapement.fail``).
    :ivar not_ready: why the application is not ready, one reason each; empty when ready.
    """

    trains: list[TrainMetrics]
    running: bool
    failures: int
    not_ready: list[str]

    @property
    def ready(self) -> bool:
        """Every supply open, every output able to take data, the loop running."""
        return not self.not_ready


def reported_by(cog: Any) -> tuple[dict[str, float], dict[str, float]]:
    """:returns: ``(counters, gauges)`` a cog reports through ``counts`` and ``metrics()``.

    A cog whose ``metrics()`` raises, or gives something that is not a mapping
    of numbers, reports nothing: reading metrics never stops the application.
    """
    counters: dict[str, float] = {}
    gauges: dict[str, float] = {}
    counts = getattr(cog, "counts", None)
    if isinstance(counts, Mapping):
        for name, value in list(counts.items()):
            if isinstance(name, str) and _number(value):
                counters[name if name.endswith("_total") else f"{name}_total"] = float(value)
    method = getattr(cog, "metrics", None)
    if callable(method):
        try:
            figures = method()
            items = list(figures.items()) if isinstance(figures, Mapping) else []
        except Exception:  # noqa: BLE001 - a cog's figures are never worth stopping for
            items = []
        for name, value in items:
            if isinstance(name, str) and _number(value):
                (counters if name.endswith("_total") else gauges)[name] = float(value)
    return counters, gauges


def short_name(cog: Any) -> str:
    """:returns: a short, stable name for a cog in metric labels and tables: its class or function name.

    ``str(cog)`` shows every parameter, too long for a label and changing with them.
    """
    name = cog_name(cog)
    head = name.split("(", 1)[0].strip()
    if not head or head.startswith("<"):
        return type(cog).__name__  # the default repr, with an address
    return head[:60]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _train_metrics(train: Train) -> tuple[TrainMetrics, list[str]]:
    measured = train.measure != "off"
    every_cog = train.measure == "cogs"
    cogs = train.cogs
    passed, errors = train.passed, train.cog_errors
    stage_of = train.stages()
    # Counting stages only: data in are known at a stage's first cog, data
    # out at its last; inside a nest of datum-by-datum cogs, not.
    firsts = {first for first, _ in stage_of}
    lasts = {end - 1 for _, end in stage_of}
    supplies = {id(cog) for cog in train.supplies()}
    not_ready = []
    rows = []
    for position, cog in enumerate(cogs):
        counters, gauges = reported_by(cog)
        name = short_name(cog)
        if gauges.get("ready", 1) == 0:
            not_ready.append(f"{train.name}: cog {position} ({name}) is not ready")
        # A supply is given nothing: its data come from outside.
        given = id(cog) not in supplies and (every_cog or position in firsts)
        data_in = passed[position] if measured and given else None
        # What a cog gave on is what the next one was given; after the last, what left the train.
        data_out = None
        if measured and (every_cog or position in lasts):
            data_out = passed[position + 1] if position + 1 < len(cogs) else train.events_out
        rows.append(CogMetrics(position, name, data_in, data_out, errors[position], counters, gauges))
    stages = [(first, end, sum(train.spent[first:end])) for first, end in stage_of] if measured else []
    blocked = len(train._blocked)
    if blocked:
        not_ready.append(f"{train.name}: {blocked} outputs cannot take data")
    figures = TrainMetrics(
        train.name,
        train.events_in,
        train.events_out,
        train.errors,
        train.in_flight,
        train.paused,
        blocked,
        train.measure,
        rows,
        stages,
    )
    return figures, not_ready


def snapshot(trains: Iterable[Train], esc: Escapement | None = None) -> Snapshot:
    """Read every train's figures now; call it in the loop's thread.

    :param trains: the trains, in the order they are to be shown (an error train
        after the train it serves).
    :param esc: their Escapement, for the running state and failures; by default
        the first train's.
    """
    trains = list(trains)
    if esc is None and trains:
        esc = trains[0].esc
    figures, not_ready = [], []
    for train in trains:
        one, why = _train_metrics(train)
        figures.append(one)
        not_ready += why
    running = esc is not None and esc.running and not esc.stopping
    if not running:
        not_ready.insert(0, "the loop is not running" if esc is None or not esc.stopping else "shutting down")
    failures = len(esc.failures) if esc is not None else 0
    return Snapshot(figures, running, failures, not_ready)
