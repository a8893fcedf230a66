"""Lookups (translate) in a table from a file, and sampling.

``flow.lookup`` maps a field's value to fields through a table read from a
CSV or JSON file. The table is a dict read once per load: a lookup is one
dictionary access, and the file can change under a running pipeline (it is
read again on SIGHUP and when it changes, and a table that fails to load is
reported while the previous one stays in use, as ``ip.cidr`` does with its
lists).

``flow.sample`` keeps a share of the data. Without a key it counts, so the
share kept is exact and the same run keeps the same data; with a key it
hashes the key's values (BLAKE2b, with ``seed``), so every datum of one key is
kept or dropped together, the same way in every process and on every run: two
machines sampling one flow keep the same sessions.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from deadbeat import conf, movement

__all__ = ["Lookup", "Sample", "load_table"]

log = logging.getLogger("deadbeat.flow")

_MISSING = object()


def load_table(path: str, format: str = "auto", key_column: str | None = None) -> dict[str, Any]:
    """Read a lookup table: key (text) to value.

    JSON: an object ``{"key": value, ...}`` (a value is a mapping of fields or
    a single value). CSV: a header row, then one row per key; the key is the
    ``key_column`` (the first by default) and the value the mapping of the other
    columns. A key given twice (two rows, or twice in one JSON object) is
    refused: a lookup would otherwise give one of them by chance.

    :param format: ``"json"``, ``"csv"`` or ``"auto"`` (by the file's extension, ``.json`` or else CSV).
    :raises ValueError: naming the file (and the line, for CSV) of what is wrong.
    :raises OSError: when the file cannot be read.
    """
    kind = format if format != "auto" else ("json" if path.lower().endswith(".json") else "csv")
    # utf-8-sig: spreadsheets write a byte order mark, which would become part of the first column's name.
    with open(path, encoding="utf-8-sig", newline="") as handle:
        if kind == "json":
            try:
                table = json.load(handle, object_pairs_hook=_without_repeated_keys)
            except _RepeatedKey as exc:
                raise ValueError(f"{path}: the key {exc.key!r} is given twice in one object") from None
            except ValueError as exc:
                raise ValueError(f"{path}: not JSON: {exc}") from None
            if not isinstance(table, dict):
                raise ValueError(
                    f"{path}: a JSON lookup table is an object of key to value, not {type(table).__name__}"
                )
            return table
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty; a CSV lookup table needs a header row") from None
        except csv.Error as exc:
            raise ValueError(f"{path}:1: {exc}") from None
        if key_column is None:
            key_column = header[0]
        if key_column not in header:
            raise ValueError(f"{path}: no column {key_column!r} in the header ({', '.join(header)})")
        position = header.index(key_column)
        others = [(i, name) for i, name in enumerate(header) if i != position]
        rows: dict[str, Any] = {}
        lines: dict[str, int] = {}
        try:
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise ValueError(f"{path}:{reader.line_num}: {len(row)} columns, the header has {len(header)}")
                key = row[position]
                if key in lines:
                    # Taking either row silently would translate by a guess.
                    raise ValueError(f"{path}:{reader.line_num}: the key {key!r} is on line {lines[key]} already")
                lines[key] = reader.line_num
                rows[key] = {name: row[i] for i, name in others}
        except csv.Error as exc:
            raise ValueError(f"{path}:{reader.line_num}: {exc}") from None
        return rows


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _without_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict, refusing a key given twice (``json`` would keep the last silently)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _RepeatedKey(key)
        found[key] = value
    return found


class Lookup(movement.Cog):
    """Translate a field's value through a table from a CSV or JSON file (a lookup, or "translate").

    The table maps a value (as text: ``22`` and ``"22"`` look up the same row)
    to a mapping of fields, or to a single value. With ``target``, the result
    goes there; without one, a mapping's fields are set on the datum (a table of
    single values needs a ``target``). A value the table lacks gets ``default``
    when one is given; else ``missing`` decides. The file is read again on
    SIGHUP and when it changes; a table that fails to load is reported and the
    previous one stays in use. A ``--once`` run reads it once.

    :param train: the Train (its Escapement gives SIGHUP and the file watch).
    :param table: the file: JSON (an object of key to value) or CSV (a header,
        then one row per key).
    :param field: field path of the value to look up.
    :param target: where the result goes (field path); none sets a mapping's fields on the datum.
    :param default: the result for a value the table lacks (a mapping of fields, or a value).
    :param missing: without a ``default``, a value the table lacks (or a datum without
        ``field``): ``"keep"`` passes the datum unchanged, ``"drop"`` drops it,
        ``"error"`` sends it to the error output.
    :param format: ``"auto"`` (``.json`` files are JSON, others CSV), ``"json"`` or ``"csv"``.
    :param key_column: the CSV column holding the keys (default: the first).
    :param poll_interval: seconds between looks at the file without inotify.
    """

    one_to_one = True

    def __init__(
        self,
        train: movement.Train,
        table: conf.Path,
        field: movement.FieldGetter,
        target: movement.FieldSetter | None = None,
        default: Mapping[str, Any] | str | int | float | None = None,
        missing: Literal["keep", "drop", "error"] = "keep",
        format: Literal["auto", "json", "csv"] = "auto",
        key_column: str | None = None,
        poll_interval: float = 5.0,
    ) -> None:
        if missing not in ("keep", "drop", "error"):
            raise ValueError(f"missing must be 'keep', 'drop' or 'error', not {missing!r}")
        if format not in ("auto", "json", "csv"):
            raise ValueError(f"format must be 'auto', 'json' or 'csv', not {format!r}")
        if target is None and default is not None and not isinstance(default, Mapping):
            raise ValueError("a default that is not a mapping of fields needs a target")
        self.train = train
        self.esc = esc = train.esc
        self.table = table
        self.field = field
        self.target = target
        self.default = default
        self.missing = missing
        self.format = format
        self.key_column = key_column
        self.poll_interval = poll_interval
        self._get = movement.getter(field)
        self._set = movement.setter(target) if target is not None else None
        self.rows = self._load()
        self._watch: movement.Binding | None = None
        self._timer: movement.Binding | None = None
        if getattr(esc, "once", False):
            return  # a --once run ends when its input does: a watch would keep it going
        esc.signal_register(signal.SIGHUP, self.reload)
        self._watch = esc.inotify_add(
            os.path.dirname(os.path.abspath(table)),
            movement.IN_CLOSE_WRITE | movement.IN_MOVED_TO | movement.IN_CREATE,
            self._changed,
            poll_interval=poll_interval,
        )

    def _load(self) -> dict[str, Any]:
        rows = load_table(self.table, self.format, self.key_column)
        if self._set is None:
            plain = next((key for key, value in rows.items() if not isinstance(value, Mapping)), None)
            if plain is not None:
                raise ValueError(f"{self.table}: the value of {plain!r} is not a mapping of fields; give a target")
        return rows

    def _changed(self, event: movement.InotifyEvent) -> None:
        if event.name == os.path.basename(self.table) and self._timer is None:
            # Editors write in several steps; read the file once they are done.
            self._timer = self.esc.after(0.05, self.reload)

    def reload(self) -> None:
        """Read the table again; keep the old one if the new one fails."""
        self._timer = None
        try:
            rows = self._load()
        except (OSError, ValueError) as exc:
            log.error("%s: table not reloaded, the previous one stays: %s", self, exc)
            return
        self.rows = rows
        log.info("%s: reloaded %d rows", self, len(rows))

    def __call__(self, data: Any) -> tuple[Any, ...] | None:
        try:
            value = self._get(data)
        except (LookupError, TypeError):
            value = _MISSING
        if type(value) is not str:
            # Numbers look up their text; what has no text form as a key is not in the table.
            value = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _MISSING
        result = self.rows.get(value, _MISSING) if value is not _MISSING else _MISSING  # type: ignore[call-overload]
        if result is _MISSING:
            if self.default is not None:
                result = self.default
            elif self.missing == "keep":
                return (data,)
            elif self.missing == "drop":
                return None
            elif value is _MISSING:
                raise ValueError(f"field {self.field!r}: missing, or not text or a number")
            else:
                raise ValueError(f"field {self.field!r}: {value!r} is not in the table {self.table}")
        # Each datum gets its own copy: a later cog changing it must not change the table.
        if type(result) is dict:
            nested = any(isinstance(v, (dict, list)) for v in result.values())
            result = copy.deepcopy(result) if nested else dict(result)
        elif isinstance(result, (dict, list)):
            result = copy.deepcopy(result)
        if self._set is not None:
            return (self._set(data, result),)
        if not isinstance(data, dict):
            raise TypeError(f"expected a mapping to set the fields of {self.field!r} on, got {type(data).__name__}")
        data.update(result)
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Look up a list of data; the same as one call per datum, raising where one would.

        Each datum goes through once: a field replaced by what the table gave
        would not be found in the table a second time.
        """
        return movement.call_each(self.__call__, data)

    def finish(self) -> None:
        """Stop watching the file and SIGHUP."""
        if self._watch is not None:
            self.esc.inotify_rm(self._watch)
            self._watch = None
        if self._timer is not None:
            self.esc.dequeue(self._timer)
            self._timer = None
        self.esc.signal_unregister(signal.SIGHUP, self.reload)


class Sample(movement.Cog):
    """Keep one datum in ``every`` (or a ``rate``); by key if given, the same keys on every run.

    Without ``key``, data are counted: ``every = 10`` keeps the 1st, 11th,
    21st... of this run (the count starts again at each start of the
    process); ``rate = 0.25`` keeps exactly a quarter, evenly spread. With
    ``key``, the key fields' values are hashed (with ``seed``), and a key is
    either always kept or always dropped, in every process and on every run:
    all the requests of a sampled session stay together. A datum without the
    key fields is hashed as if they were ``None``. ``kept`` and ``dropped``
    count what went which way.

    :param every: keep 1 datum in this many (a whole number of at least 1).
    :param rate: or the share to keep, from 0 (none) to 1 (all).
    :param key: field path(s) whose values decide, instead of counting.
    :param seed: mixed into the hash of keys, to choose another sample of keys.
    """

    one_to_one = True

    def __init__(
        self,
        every: Annotated[int, conf.Range(1)] | None = None,
        rate: Annotated[float, conf.Range(0, 1)] | None = None,
        key: str | Sequence[str] | None = None,
        seed: str = "",
    ) -> None:
        if (every is None) == (rate is None):
            raise ValueError("give either every (keep 1 in N) or rate (a share from 0 to 1)")
        if every is not None and (type(every) is not int or every < 1):
            raise ValueError(f"every must be a whole number of at least 1, not {every!r}")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1):
            raise ValueError(f"rate must be a number from 0 to 1, not {rate!r}")
        self.every = every
        self.rate = rate
        self.key = key
        self.seed = seed
        share = 1 / every if every is not None else float(rate)  # type: ignore[arg-type]
        self._share = share
        self._count = 0
        self.kept = 0
        self.dropped = 0
        paths = [] if key is None else ([key] if isinstance(key, str) else list(key))
        self._getters = [movement.getter(p) for p in paths]
        # A key is kept when its 64-bit hash falls below this bound.
        self._bound = round(share * 2**64)
        self._salt = seed.encode("utf-8", "surrogatepass")

    def _keep_counted(self) -> bool:
        # Keep the datum when the running total of share crosses a whole
        # number: floor(n * share) grows by one exactly share of the time.
        # every = N is done in integers, so 1 in N stays exact however long the run.
        count = self._count
        self._count = count + 1
        if self.every is not None:
            return count % self.every == 0
        share = self._share
        return int((count + 1) * share) > int(count * share)

    def _keep_keyed(self, data: Any) -> bool:
        values = []
        for get in self._getters:
            try:
                values.append(get(data))
            except (LookupError, TypeError):
                values.append(None)
        digest = hashlib.blake2b(repr(values).encode("utf-8", "surrogatepass"), digest_size=8, key=self._salt[:64])
        return int.from_bytes(digest.digest(), "big") < self._bound

    def __call__(self, data: Any) -> tuple[Any, ...] | None:
        keep = self._keep_keyed(data) if self._getters else self._keep_counted()
        if keep:
            self.kept += 1
            return (data,)
        self.dropped += 1
        return None

    @property
    def counts(self) -> dict[str, int]:
        """What was kept and dropped, for the run summary and ``--metrics-port`` (``kept_total``...)."""
        return {"kept": self.kept, "dropped": self.dropped}

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Sample a list of data; the same as one call per datum."""
        test = self._keep_keyed if self._getters else (lambda _: self._keep_counted())
        out = [datum for datum in data if test(datum)]
        self.kept += len(out)
        self.dropped += len(data) - len(out)
        return out
