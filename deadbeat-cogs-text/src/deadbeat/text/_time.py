"""Timestamps in any format to UTC: ``time.parse``, and the ``timestamp`` cast of ``cast.fields``.

A timestamp is read by the first of a list of formats whose shape it has.
Each format is a name or a :func:`~datetime.datetime.strptime` pattern:

* ``"iso8601"``: ISO 8601 / RFC 3339 (``2026-11-27T19:50:00.25+01:00``,
  ``2026-11-27 19:50:00Z``, ``2026-11-27``, ``20261127T195000``);
* ``"epoch"``, ``"epoch_ms"``: seconds or milliseconds since 1970, as a number
  or as numeric text;
* ``"syslog"``: RFC 3164's ``Nov 27 19:50:00`` (also ``Nov  7`` and a
  fraction), without a year;
* ``"httpdate"``: the common log format's ``27/Nov/2026:19:50:00 +0100``;
* anything with a ``%``: a ``strptime`` pattern (``"%d.%m.%Y %H:%M"``). A
  pattern without a year (no ``%Y``, ``%y`` or ``%G``) gets one inferred.

A time that carries its offset (``Z``, ``+01:00``, ``%z``) means exactly that
instant. A time without one is a wall-clock time, and the zone it was read in
must be said: ``timezone`` is an IANA name (``Europe/Prague``), ``"UTC"`` or
``"local"``. Without a ``timezone`` such a time is an error naming the field:
taking it silently as UTC is how an hour goes missing in an incident timeline.

Everything else is :mod:`._syslog_time`'s, shared with ``text.syslog_parse`` so
that both read the same text the same way: a wall-clock time the clocks skipped
(summer time starting) is always an error, one they repeated (summer time
ending) is an error unless ``ambiguous`` chooses ``"earlier"`` or ``"later"``;
a missing year is the latest in which the date falls at most 7 days after the
reference day, so a December line read in January is last year's. The reference
is now, or the modification time of ``year_file`` (the file being replayed: its
last line was written when the file last changed), or of the file each datum
came from, named in its ``year_file_field`` (``fs.tail``'s ``path_field``), when
several files of different years are read together.

Which format failed and why. A text that has none of the shapes goes to the
error output with the formats tried. A text that has a format's shape but names
a time that does not exist (``Feb 30``, ``02:30`` on the night clocks skip)
goes there with that reason: it is not offered to the next format, which might
read it as something else.

Speed. Logs carry the same second many times, so each converter remembers the
last few thousand texts it converted (dropped whole when full, and the year-less
ones when the reference day changes).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

from deadbeat import conf, movement

from ._syslog_time import (
    AMBIGUOUS,
    MONTHS,
    Ambiguous,
    ReferenceDay,
    Times,
    TimestampFormat,
    resolve_zone,
    seconds_of,
)

__all__ = ["TIME_FORMATS", "TimeParse", "Timestamps"]

#: The named formats; anything else with a ``%`` is a ``strptime`` pattern.
TIME_FORMATS: tuple[str, ...] = ("iso8601", "epoch", "epoch_ms", "syslog", "httpdate")

_UTC = dt.timezone.utc
_MONTH_NUMBERS = {name: number for number, name in enumerate(MONTHS, 1)}
# re.ASCII: \d would take any script's digits ("Nov ٢٧"), which the other
# formats and the number casts refuse.
_SYSLOG = re.compile(r"([A-Z][a-z]{2}) ( ?\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?", re.ASCII)
_HTTPDATE = re.compile(r"(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)

#: strptime directives that give a year.
_YEAR_DIRECTIVES = ("%Y", "%y", "%G")
#: How many converted texts a converter remembers before it starts afresh.
_CACHE_SIZE = 4096


def _has_date(pattern: str) -> bool:
    """Whether a strptime ``pattern`` gives a date: a day and a month, a day of the year, or a locale date."""
    directives = set(re.findall(r"%[-#]?(.)", pattern.replace("%%", "")))
    if directives & {"j", "x", "c"}:
        return True
    if "d" in directives and directives & {"m", "b", "B", "h"}:
        return True
    # ISO week dates: a week and a weekday.
    return bool(directives & {"U", "W", "V"}) and bool(directives & {"a", "A", "w", "u"})


def _date_needs_year(pattern: str) -> bool:
    """Whether the month and day a ``pattern`` gives depend on the year: a day of the year or a week."""
    directives = set(re.findall(r"%[-#]?(.)", pattern.replace("%%", "")))
    return not (directives & {"d", "x", "c"}) and bool(directives & {"j", "U", "W", "V"})


class _NotThisFormat(ValueError):
    """The text does not have this format's shape: the next format may read it."""


def _choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, not {value!r}")


class Timestamps:
    """Reads timestamps by a list of formats and gives them in UTC (the engine of ``time.parse``).

    :param formats: format names or ``strptime`` patterns, tried in order (see the module).
    :param timezone: the zone of times without an offset, or ``None`` to refuse them.
    :param ambiguous: ``"error"``, ``"earlier"`` or ``"later"``, for a time that happened twice.
    :param output: ``"iso"`` (``2026-11-27T19:50:00Z``) or ``"epoch"`` (float seconds).
    :param year: the year of every year-less time, or ``None`` to infer it.
    :param clock: epoch seconds of the reference moment for year inference (now by default).
    :raises ValueError: for an unknown format, zone or policy, saying which.
    """

    def __init__(
        self,
        formats: Sequence[str],
        timezone: str | None = None,
        ambiguous: str = "error",
        output: str = "iso",
        year: int | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(formats, str):
            formats = [formats]
        if not formats:
            raise ValueError("formats must name at least one format")
        _choice("ambiguous", ambiguous, AMBIGUOUS)
        _choice("output", output, ("iso", "epoch"))
        self.formats = list(formats)
        self.timezone = timezone
        zone = resolve_zone(timezone) if timezone is not None else _UTC
        self.times = Times(zone, timezone or "UTC", ambiguous, output, year, clock)
        self._readers = [self._reader(f) for f in self.formats]
        self._yearless = year is None and any(f == "syslog" or _is_yearless(f) for f in self.formats)
        self._memory: dict[str, Any] = {}
        self.times.remember_by_day(self._memory)
        # ISO 8601 whole seconds as given out, by the text without its fraction (see _iso).
        self._seconds: dict[str, Any] = {}

    def _reader(self, name: str) -> Callable[[Any], Any]:
        if name == "iso8601":
            return self._iso
        if name == "epoch":
            return lambda value: self._epoch(value, 1)
        if name == "epoch_ms":
            return lambda value: self._epoch(value, 1000)
        if name == "epoch_auto":  # cast.fields' rule: beyond year 5000 it must be milliseconds
            return lambda value: self._epoch(value, 0)
        if name == "syslog":
            return self._syslog
        if name == "httpdate":
            return self._httpdate
        if isinstance(name, str) and "%" in name:
            if "%Z" in name.replace("%%", ""):
                # strptime reads a zone name for %Z and then drops it: the time
                # would silently be taken in `timezone`, whatever the name said.
                raise ValueError(
                    f"time format {name!r}: strptime's %Z reads a zone name but does not apply it; use %z for an"
                    " offset (+0100), or write a fixed name as text ('%H:%M:%S UTC') and set timezone"
                )
            if not _has_date(name):
                # strptime makes a time without a date 1 January (of 1900, or of an inferred year).
                raise ValueError(
                    f"time format {name!r} has no date (a day and month: %d with %m, %b or %B; %j; %x or %c):"
                    " strptime would invent one"
                )
            directives = set(re.findall(r"%[-#]?(.)", name.replace("%%", "")))
            if "G" in directives and not ("V" in directives and directives & {"a", "A", "w", "u"}):
                # strptime refuses every text for such a pattern, which would only show at run time.
                raise ValueError(f"time format {name!r}: %G (the ISO year) needs %V (the ISO week) and a weekday")
            if _is_yearless(name) and _date_needs_year(name) and self.times.year is None:
                # Day 60 is 1 March or 29 February, week 10's Monday moves with
                # the year: the year cannot be inferred from a date not yet known.
                raise ValueError(
                    f"time format {name!r} gives a day of the year or a week, whose date depends on the year:"
                    " add %Y to the pattern, or set year"
                )
            return self._strptime_reader(name)
        raise ValueError(
            f"unknown time format {name!r}: one of {', '.join(map(repr, TIME_FORMATS))}, or a strptime pattern"
            " with % directives such as '%d.%m.%Y %H:%M:%S'"
        )

    # -- one value ----------------------------------------------------------

    def convert(self, value: Any) -> Any:
        """The UTC timestamp of ``value``, read by the first format whose shape it has.

        :raises ValueError: saying which formats were tried, or why a time of the right shape does not exist.
        """
        if type(value) is str:
            if self._yearless:
                self.times.check_day()
            memory = self._memory
            done = memory.get(value)
            if done is not None:
                return done
            done = self._first(value)
            if len(memory) >= _CACHE_SIZE:
                memory.clear()
            memory[value] = done
            return done
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a timestamp (text or number), got {type(value).__name__}")
        return self._first(value)

    def _first(self, value: Any) -> Any:
        for read in self._readers:
            try:
                return read(value)
            except _NotThisFormat:
                continue
        tried = ", ".join(map(repr, self.formats))
        raise ValueError(f"{value!r} is in none of the formats {tried}")

    def _need_zone(self, what: Any) -> None:
        if self.timezone is None:
            raise ValueError(
                f"{what!r} has no zone offset and no timezone is set: give timezone (an IANA name such as"
                " 'Europe/Prague', 'UTC' or 'local') to say where it was written"
            )

    def _wall(
        self, year: int | None, month: int, day: int, hour: int, minute: int, second: int, micro: int, what: Any
    ) -> Any:
        self._need_zone(what)
        return self.times.result(self.times.wall(year, month, day, hour, minute, second), micro)

    def _aware(self, moment: dt.datetime) -> Any:
        offset = moment.utcoffset()
        assert offset is not None
        seconds = seconds_of(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
        shift = offset.days * 86400 + offset.seconds
        return self.times.result(seconds - shift, moment.microsecond)

    # -- the formats ----------------------------------------------------------

    def _iso(self, value: Any) -> Any:
        if type(value) is not str or len(value) < 8 or not (value[:4].isascii() and value[:4].isdigit()):
            raise _NotThisFormat
        text = value.strip()
        if len(text) > 20 and text[19] in ".," and text[10] in "Tt ":
            # A fraction, different in nearly every line: the whole second is
            # converted once (remembered by the text without the fraction), the
            # fraction added to it.
            end = 20
            while end < len(text) and "0" <= text[end] <= "9":  # not isdigit(): "²" or "٥" are no fraction
                end += 1
            digits = text[20:end]
            if digits:
                key = text[:19] + text[end:]
                whole = self._seconds.get(key)
                if whole is None:
                    whole = self.times.second(self._iso_seconds(key, value))
                    if len(self._seconds) >= _CACHE_SIZE:
                        self._seconds.clear()
                    self._seconds[key] = whole
                return self.times.fractional(whole, int(digits[:6].ljust(6, "0")))
        return self._iso_whole(text, value)

    def _iso_seconds(self, text: str, value: Any) -> int:
        """Epoch seconds of an ISO 8601 text of whole seconds (``value`` as given, for messages)."""
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        moment = _from_iso(text, value)
        m = moment
        if moment.tzinfo is not None:
            offset = moment.utcoffset()
            assert offset is not None
            seconds = seconds_of(m.year, m.month, m.day, m.hour, m.minute, m.second)
            return seconds - (offset.days * 86400 + offset.seconds)
        self._need_zone(value)
        return self.times.wall(m.year, m.month, m.day, m.hour, m.minute, m.second)

    def _iso_whole(self, text: str, value: Any) -> Any:
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        moment = _from_iso(text, value)
        if moment.tzinfo is not None:
            return self._aware(moment)
        m = moment
        return self._wall(m.year, m.month, m.day, m.hour, m.minute, m.second, m.microsecond, value)

    def _epoch(self, value: Any, per_second: int) -> Any:
        number: Any
        if type(value) is str:
            if not _NUMBER.fullmatch(value.strip()):
                raise _NotThisFormat
            # Read as the decimal the text is: through a binary float, "2493360699675.739" ms came
            # out 1 µs early (.675738), a plausible wrong time.
            number = decimal.Decimal(value.strip())
            if number.adjusted() > 30:
                raise ValueError(f"{value!r} is not a time")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            number = value
        else:
            raise _NotThisFormat
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a time")
        if per_second == 0:
            per_second = 1000 if abs(number) > 95_617_584_000 else 1
        if type(number) is int:
            whole, rest = divmod(number, per_second)
            micro = rest * 1_000_000 // per_second
        else:
            micro_total = round(number * 1_000_000 / per_second)
            whole, micro = divmod(micro_total, 1_000_000)
        return self.times.result(int(whole), int(micro))

    def _syslog(self, value: Any) -> Any:
        if type(value) is not str:
            raise _NotThisFormat
        found = _SYSLOG.fullmatch(value.strip())
        if found is None:
            raise _NotThisFormat
        name, day, hour, minute, second, fraction = found.groups()
        month = _MONTH_NUMBERS.get(name)
        if month is None:
            raise ValueError(f"unknown month {name!r} (Jan, Feb, ... Dec)")
        micro = int(fraction.ljust(6, "0")) if fraction else 0
        return self._wall(None, month, int(day), int(hour), int(minute), int(second), micro, value)

    def _httpdate(self, value: Any) -> Any:
        if type(value) is not str:
            raise _NotThisFormat
        found = _HTTPDATE.fullmatch(value.strip())
        if found is None:
            raise _NotThisFormat
        day, name, year, hour, minute, second, sign, off_h, off_m = found.groups()
        month = _MONTH_NUMBERS.get(name)
        if month is None:
            raise ValueError(f"unknown month {name!r} (Jan, Feb, ... Dec)")
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError(f"offset {sign}{off_h}{off_m} is out of range")
        offset = dt.timedelta(hours=int(off_h), minutes=int(off_m))
        try:
            moment = dt.datetime(
                int(year), month, int(day), int(hour), int(minute), int(second),
                tzinfo=dt.timezone(offset if sign == "+" else -offset),
            )  # fmt: skip
        except ValueError as exc:
            raise ValueError(f"{value!r}: {exc}") from None
        return self._aware(moment)

    def _strptime_reader(self, pattern: str) -> Callable[[Any], Any]:
        yearless = _is_yearless(pattern)
        # strptime gives a year-less date the year 1900, in which 29 February
        # does not exist; read it with a leap year and infer the real one after.
        # A day of the year or a week is read in the configured year itself
        # (__init__ refuses such a pattern without one): its month and day depend on it.
        full = pattern + " %Y" if yearless else pattern
        suffix = " 2000"
        read_in_year = yearless and _date_needs_year(pattern)
        if read_in_year:
            suffix = f" {self.times.year}"
        day_of_year = "j" in set(re.findall(r"%[-#]?(.)", pattern.replace("%%", "")))
        infer_year = yearless and not read_in_year

        def read(value: Any) -> Any:
            if type(value) is not str:
                raise _NotThisFormat
            try:
                moment = dt.datetime.strptime(value + suffix if yearless else value, full)
            except ValueError:
                raise _NotThisFormat from None
            # strptime takes day 366 of a common year for 1 January of the next.
            if read_in_year and day_of_year and moment.year != self.times.year:
                raise ValueError(f"{value!r}: that day of the year does not exist in {self.times.year}")
            if moment.tzinfo is not None:
                if infer_year:
                    # The offset is known but not the year: the same rule as for wall-clock times.
                    moment = moment.replace(year=self.times.year_for(moment.month, moment.day))
                return self._aware(moment)
            m = moment
            year_or_none = None if infer_year else m.year
            return self._wall(year_or_none, m.month, m.day, m.hour, m.minute, m.second, m.microsecond, value)

        return read


#: The start of an ISO 8601 date and time: text of this shape that does not
#: read names a time that does not exist, and is not offered to the next format.
_ISO_SHAPE = re.compile(r"\d{4}-\d\d-\d\d(?:[Tt ]\d\d:\d\d|$)", re.ASCII)


def _from_iso(text: str, value: Any) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        # "Invalid isoformat string" is a shape the next format may read
        # ("2026-11-27 19:50:00 UTC" for a strptime pattern); a field out of
        # range in an ISO shape is a time that does not exist.
        if _ISO_SHAPE.match(text) and not str(exc).startswith("Invalid isoformat"):
            raise ValueError(f"{value!r}: {exc}") from None
        raise _NotThisFormat from None


def _is_yearless(pattern: str) -> bool:
    return "%" in pattern and not any(d in pattern for d in _YEAR_DIRECTIVES)


class TimeParse(movement.Cog):
    """Read timestamps in chosen formats and zones, and write them in UTC (ISO 8601 or epoch).

    Each field's text (or number) is read by the first of ``formats`` whose
    shape it has: ``"iso8601"``, ``"epoch"``, ``"epoch_ms"``, ``"syslog"``
    (``Nov 27 19:50:00``, year inferred), ``"httpdate"``
    (``27/Nov/2026:19:50:00 +0100``) or a ``strptime`` pattern
    (``"%d.%m.%Y %H:%M:%S"``; ``%z`` reads an offset, ``%Z`` is refused because
    ``strptime`` drops the zone it names). A time with an offset is that instant; one
    without is read in ``timezone``, and is an error when no ``timezone`` is
    given. A wall-clock time the clocks skipped at a change to summer time is
    always an error; one they repeated is an error unless ``ambiguous``
    chooses. Every field is converted before any is written, so a datum that
    fails reaches the error output as it came, with the field named.

    :param fields: field path(s) of the timestamps.
    :param formats: formats tried in order (names or ``strptime`` patterns).
    :param timezone: the zone of times without an offset: an IANA name
        (``"Europe/Prague"``), ``"UTC"`` or ``"local"``; none makes such a time an error.
    :param ambiguous: a wall-clock time that happened twice (summer time
        ending): ``"error"`` sends the datum to the error output,
        ``"earlier"`` and ``"later"`` choose. A skipped time is always an error.
    :param output: ``"iso"`` (``2026-11-27T19:50:00Z``, six fraction digits
        when there is a fraction) or ``"epoch"`` (seconds, a float).
    :param target: where the result goes (callable or field path), for a single field; none: in place.
    :param year: the year of every year-less time (replaying an old archive);
        none infers it: the latest year in which the date is at most 7 days after the reference day.
        A pattern without a year that gives a day of the year (``%j``) or a week
        (``%U``, ``%W``) needs it, since its month and day depend on the year.
    :param year_file: a file whose modification time is the reference day for
        inferring the year (the file being replayed); none, or a file that cannot
        be read, means now.
    :param year_file_field: where each datum names the file it came from
        (``fs.tail``'s or ``fs.read``'s ``path_field``): that file's modification
        time is the reference day for its year-less times, so that files of
        different years read together each get their own. A datum without the
        field, or naming a file that cannot be read, is taken as read now.
    :param missing: ``"error"`` or ``"skip"`` for a field the datum does not have.
    :param clock: Python only: a function giving the reference epoch seconds
        (``time.time`` by default).
    """

    one_to_one = True

    def __init__(
        self,
        fields: str | Sequence[str] = "timestamp",
        formats: Sequence[str] = ("iso8601",),
        timezone: str | None = None,
        ambiguous: Ambiguous = "error",
        output: TimestampFormat = "iso",
        target: movement.FieldSetter | None = None,
        year: int | None = None,
        year_file: conf.Path | None = None,
        missing: Literal["error", "skip"] = "error",
        clock: Callable[[], float] | None = None,
        year_file_field: movement.FieldGetter | None = None,
    ) -> None:
        _choice("missing", missing, ("error", "skip"))
        paths = [fields] if isinstance(fields, str) else list(fields)
        if not paths:
            raise ValueError("fields must name at least one field")
        if target is not None and len(paths) != 1:
            raise ValueError("target needs exactly one field (several fields are converted in place)")
        if year is not None and (type(year) is not int or not 1 <= year <= 9999):
            raise ValueError(f"year must be a whole number from 1 to 9999, or none to infer it, not {year!r}")
        reference = ReferenceDay(clock, year_file, year_file_field)
        self.fields = fields
        self.formats = [formats] if isinstance(formats, str) else list(formats)
        self.timezone = timezone
        self.ambiguous = ambiguous
        self.output = output
        self.target = target
        self.year = year
        self.year_file = year_file
        self.missing = missing
        self.clock = clock
        self.year_file_field = year_file_field
        self._reference = reference if reference.per_datum else None
        self._stamps = Timestamps(self.formats, timezone, ambiguous, output, year, reference.clock)
        convert = self._stamps.convert
        self._plan = [
            (path, movement.getter(path), movement.setter(target if target is not None else path)) for path in paths
        ]
        self._convert = convert

    def __call__(self, data: Any) -> tuple[Any, ...]:
        if self._reference is not None:
            self._reference.look_at(data)
        convert = self._convert
        plan = self._plan
        if len(plan) == 1:
            path, get, put = plan[0]
            try:
                value = get(data)
            except (LookupError, TypeError):
                if self.missing == "skip":
                    return (data,)
                raise ValueError(f"field {path!r}: missing") from None
            try:
                return (put(data, convert(value)),)
            except ValueError as exc:
                raise ValueError(f"field {path!r}: {exc}") from None
        results = []
        for path, get, put in plan:
            try:
                value = get(data)
            except (LookupError, TypeError):
                if self.missing == "skip":
                    continue
                raise ValueError(f"field {path!r}: missing") from None
            try:
                results.append((put, convert(value)))
            except ValueError as exc:
                raise ValueError(f"field {path!r}: {exc}") from None
        for put, result in results:
            data = put(data, result)
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Convert a list of data; the same results as one call per datum, raising where one would.

        Fields are converted in place, so a failure hands the train what came
        before (:func:`~deadbeat.movement.call_each`) rather than have the
        converted data converted again.
        """
        return movement.call_each(self.__call__, data)


def timestamp_cast(timezone: str | None = None, ambiguous: str = "error") -> Callable[[Any], Any]:
    """The ``timestamp`` cast of ``cast.fields``: ISO 8601, epoch (seconds, or milliseconds beyond
    year 5000), the common log format or a syslog ``Nov 27 19:50:00``, to ISO 8601 UTC.

    :param timezone: the zone of times without an offset; ``None`` makes them an error.
    :param ambiguous: ``"error"``, ``"earlier"`` or ``"later"``.
    """
    stamps = Timestamps(("iso8601", "epoch_auto", "httpdate", "syslog"), timezone, ambiguous, "iso")
    convert_method = stamps.convert

    def convert(value: Any) -> Any:
        return convert_method(value)

    convert.expected = (  # type: ignore[attr-defined]
        "a timestamp (ISO 8601, epoch seconds, common log format or syslog"
        + (f", zone-less ones read in {timezone}" if timezone else " with a zone offset; timezone reads zone-less ones")
        + ")"
    )
    return convert
