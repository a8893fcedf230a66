"""Syslog timestamps: to UTC, and back to a zone's wall clock.

RFC 5424 timestamps carry their offset (``2026-11-27T20:14:15.003+01:00``), so
they convert to UTC without any guess. RFC 3164 timestamps (``Nov 27
20:14:15``) carry neither a year nor a zone, and both have to come from
somewhere:

* The zone is a setting (``timezone``): an IANA name (``Europe/Prague``),
  ``"UTC"`` (the default) or ``"local"`` (this machine's zone: ``$TZ``, else
  ``/etc/localtime``, else UTC). A wall-clock time is looked up in that zone's rules. At a
  change to summer time an hour of wall-clock times never happens, and at the
  change back an hour happens twice; such a time is an error for its datum,
  never a guess, unless the ``ambiguous`` policy says which of the two
  occurrences to take (``"earlier"`` or ``"later"``). A time that never happened
  is an error under every policy: no clock showed it.
* The year is inferred from a clock: it is the latest year in which that day
  exists and falls at most :data:`FUTURE_DAYS` days after today (today in the
  configured zone). A December timestamp read in January therefore belongs to
  the previous year, a 1 January timestamp read late on 31 December (a sender
  whose clock runs ahead) to the next, and last November's file replayed in
  February to last year; ``Feb 29`` to the latest leap year that fits.

Everything converts to whole UTC seconds plus the fraction as its digits, and
is written as ISO 8601 with ``Z`` (``2026-11-27T19:14:15.003000Z``: six
fraction digits when there is a fraction, none otherwise, the form
``cast.fields`` writes) or as epoch seconds (a float).

Speed. Converting a time costs far more than reading it, and log lines come
many to a second, so each converter remembers the last few thousand times it
converted (the text of the time is the key); the memory is dropped whole when
full and whenever the inferred year could change (the day changes).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from deadbeat import movement

__all__ = [
    "AMBIGUOUS",
    "FUTURE_DAYS",
    "MONTHS",
    "Ambiguous",
    "ReferenceDay",
    "FileClock",
    "FilesClock",
    "TimestampFormat",
    "Times",
    "days_in_month",
    "file_named_by",
    "resolve_zone",
    "seconds_of",
]

#: How many days after today (in the configured zone) a year-less date may
#: fall and still be taken as this year's (or next year's at New Year).
FUTURE_DAYS = 7
#: What to do with a wall-clock time that happened twice (summer time ending).
Ambiguous = Literal["error", "earlier", "later"]
#: Every ``ambiguous`` policy.
AMBIGUOUS: tuple[str, ...] = ("error", "earlier", "later")
#: How timestamps are given: ISO 8601 text with ``Z``, or epoch seconds.
TimestampFormat = Literal["iso", "epoch"]

#: RFC 3164's month names, in order.
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name: number for number, name in enumerate(MONTHS, 1)}
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1)
#: The epoch seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the times Python's datetime holds.
_FIRST_SECOND = -62135596800
_LAST_SECOND = 253402300799
#: The offsets of UTC itself.
_UTC_OFFSETS = frozenset({"Z", "+00:00", "-00:00"})
#: How many converted times a converter remembers before it starts afresh.
_CACHE_SIZE = 4096
#: Marks an hour whose offsets were not looked at yet.
_UNKNOWN: Any = object()


def days_in_month(year: int, month: int) -> int:
    """:returns: how many days ``month`` (1 to 12) has in ``year``."""
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS[month - 1]


def resolve_zone(name: str) -> dt.tzinfo:
    """The zone called ``name``: an IANA name, ``"UTC"`` or ``"local"``.

    ``"local"`` is this machine's zone: ``$TZ`` when it names a zone, else
    ``/etc/localtime``, else UTC (as the C library does without either).

    :raises ValueError: for a zone this machine has no rules for, saying how to get them.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"timezone must be a zone name such as 'Europe/Prague', 'UTC' or 'local', not {name!r}")
    if name in ("UTC", "Z", "Etc/UTC"):
        return _UTC
    if name == "local":
        key = os.environ.get("TZ", "").lstrip(":")
        if key:
            return resolve_zone(key)
        try:
            with open("/etc/localtime", "rb") as handle:
                return ZoneInfo.from_file(handle, key="localtime")
        except FileNotFoundError:
            # Without /etc/localtime the C library, and so every daemon here, keeps UTC.
            return _UTC
        except (OSError, ValueError) as exc:
            raise ValueError(f"timezone 'local': this machine's zone cannot be read ({exc}); name one") from None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: give an IANA name such as 'Europe/Prague', 'UTC' or 'local'"
            " (without the system's zone data, pip install tzdata)"
        ) from None


def seconds_of(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    """Epoch seconds of a valid UTC date and time (days from the civil calendar, no library call)."""
    # Howard Hinnant's days_from_civil: the year starting in March puts the leap day last.
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + hour * 3600 + minute * 60 + second


def _check_clock(hour: int, minute: int, second: int) -> None:
    if hour > 23:
        raise ValueError(f"hour {hour} is out of range (00 to 23)")
    if minute > 59:
        raise ValueError(f"minute {minute} is out of range (00 to 59)")
    if second > 59:
        raise ValueError(f"second {second} is out of range (00 to 59)")


def _check_date(year: int, month: int, day: int) -> None:
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} is out of range (01 to 12)")
    if not 1 <= day <= days_in_month(year, month):
        raise ValueError(f"day {day} does not exist in {year:04d}-{month:02d}")


def _fraction(digits: str) -> str:
    """``"003"`` -> ``".003000"``; nothing for no fraction or a zero one (the time is whole)."""
    if not digits or not digits.strip("0"):
        return ""
    return "." + digits.ljust(6, "0")


class FileClock:
    """Epoch seconds of a file's modification time (now when it cannot be read), looked at once a second."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._checked = -1.0
        self._value = 0.0

    def __call__(self) -> float:
        now = time.monotonic()
        if now - self._checked >= 1.0 or self._checked < 0:
            self._checked = now
            try:
                self._value = os.stat(self.path).st_mtime
            except OSError:
                self._value = time.time()
        return self._value


class FilesClock:
    """The modification time of the file the datum being converted came from (see ``year_file_field``).

    :attr:`path` is set before each datum is converted; ``None`` (the datum
    names no file) means now. Each file is looked at once a second, as
    ``year_file`` is; files beyond a few thousand are forgotten all at once.
    """

    _MOST = 4096

    def __init__(self) -> None:
        self.path: str | None = None
        self._clocks: dict[str, FileClock] = {}

    def __call__(self) -> float:
        path = self.path
        if path is None:
            return time.time()
        clock = self._clocks.get(path)
        if clock is None:
            if len(self._clocks) >= self._MOST:
                self._clocks.clear()
            clock = self._clocks[path] = FileClock(path)
        return clock()


def file_named_by(file_of: Callable[[Any], Any], datum: Any) -> str | None:
    """:returns: the file ``datum`` names through ``file_of`` (see ``year_file_field``), ``None`` if none."""
    try:
        path = file_of(datum)
    except (LookupError, TypeError):
        return None
    return path if isinstance(path, str) and path else None


class ReferenceDay:
    """Where the day a year-less timestamp is inferred from comes from, for the cogs that infer it.

    One of: now (nothing given), ``clock`` (Python only), the modification time
    of ``year_file``, or that of the file each datum names in
    ``year_file_field``. Giving two is refused: which day would be meant?

    :param clock: a function giving epoch seconds.
    :param year_file: the file being replayed.
    :param year_file_field: where each datum names the file it came from.
    :raises TypeError: ``clock`` is not callable.
    :raises ValueError: more than one is given.
    """

    def __init__(self, clock: Callable[[], float] | None, year_file: str | None, year_file_field: Any | None) -> None:
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be a function giving epoch seconds, not {clock!r}")
        if sum(given is not None and given != "" for given in (clock, year_file, year_file_field)) > 1:
            raise ValueError("give one of year_file_field, year_file and clock: which day is the year taken from?")
        #: Epoch seconds of the reference day (``None``: now), for :class:`Times`.
        self.clock: Callable[[], float] | None = clock
        # With year_file_field: the clock of each datum's own file, and where the datum names it.
        self._files: FilesClock | None = None
        self._file_of: Callable[[Any], Any] | None = None
        if year_file_field is not None:
            self._files = FilesClock()
            self._file_of = movement.getter(year_file_field)
            self.clock = self._files
        elif year_file:
            self.clock = FileClock(year_file)

    @property
    def per_datum(self) -> bool:
        """Whether each datum must be shown to :meth:`look_at` before its times are converted."""
        return self._files is not None

    def look_at(self, datum: Any) -> None:
        """The times converted next are ``datum``'s: take its file's day (with ``year_file_field``)."""
        if self._files is not None and self._file_of is not None:
            self._files.path = file_named_by(self._file_of, datum)


class Times:
    """Converts the timestamps of one parser: its zone, year rule, ambiguity policy and output form.

    :param zone: where wall-clock times without an offset are (see :func:`resolve_zone`).
    :param timezone: the zone's name as configured, for messages.
    :param ambiguous: ``"error"``, ``"earlier"`` or ``"later"``.
    :param output: ``"iso"`` or ``"epoch"``.
    :param year: the year of every RFC 3164 date, or ``None`` to infer it from ``clock``.
    :param clock: epoch seconds now (``time.time`` by default).
    """

    def __init__(
        self,
        zone: dt.tzinfo,
        timezone: str,
        ambiguous: str,
        output: str,
        year: int | None,
        clock: Callable[[], float] | None,
    ) -> None:
        self.zone = zone
        self.timezone = timezone
        self.ambiguous = ambiguous
        self.epoch = output == "epoch"
        self.year = year
        self.clock = clock or time.time
        # Converted times by their text: the result for a time without a
        # fraction (_offset_times, _wall_times), the whole second's (the ISO
        # text without "Z", or epoch seconds) for one with a fraction, by its
        # text without the fraction (_offset_seconds). The RFC 3164 memory
        # depends on the inferred year, so it is dropped when "today" changes;
        # [_today_from, _today_until) are the epoch seconds for which the
        # remembered "today" holds.
        self._offset_times: dict[str, Any] = {}
        self._offset_seconds: dict[str, Any] = {}
        self._wall_times: dict[str, Any] = {}
        self._today = dt.date(1, 1, 1)
        self._today_from = self._today_until = 0.0
        self._years: dict[tuple[int, int], int] = {}
        # Other memories whose answers depend on the inferred year (time.parse's):
        # dropped with _wall_times when the day changes.
        self._year_memories: list[dict[str, Any]] = [self._wall_times]
        # The zone's UTC offset (seconds) for each wall-clock hour seen in which
        # it does not change, or None for an hour in which it does (a summer
        # time change: each time in it is looked at alone). Zone rules change
        # the offset at most once within an hour, so equal offsets at the
        # hour's first and last second (either fold) hold for the whole hour.
        self._hour_offsets: dict[tuple[int, int, int, int], int | None] = {}

    # -- output --------------------------------------------------------------

    def _render(self, seconds: int) -> Any:
        """What a whole UTC second becomes: ``"YYYY-MM-DDThh:mm:ss"`` (without the ``Z``) or epoch seconds.

        :raises ValueError: for a time outside the years 1 to 9999 in UTC
            (``0000-01-01``, or ``9999-12-31T23:00:00-02:00``), in either form alike.
        """
        if not _FIRST_SECOND <= seconds <= _LAST_SECOND:
            raise ValueError("in UTC it is outside the years 0001 to 9999")
        if self.epoch:
            return seconds
        return (_EPOCH + dt.timedelta(seconds=seconds)).isoformat()

    def _finish(self, whole: Any, digits: str) -> Any:
        """The timestamp of a whole second (see :meth:`_render`) and the digits of its fraction."""
        if self.epoch:
            return whole + int(digits.ljust(6, "0")) / 1_000_000 if digits else float(whole)
        return whole + _fraction(digits) + "Z"

    @staticmethod
    def _remember(memory: dict[str, Any], key: str, value: Any) -> None:
        if len(memory) >= _CACHE_SIZE:
            memory.clear()
        memory[key] = value

    # -- RFC 5424 and ISO 8601 -----------------------------------------------

    def offset_time(self, stamp: str) -> Any:
        """Convert an RFC 3339 timestamp, its shape already checked.

        The shape is ``YYYY-MM-DDThh:mm:ss``, then ``.`` and 1 to 6 digits or
        nothing, then ``Z``, ``+hh:mm``, ``-hh:mm`` or (RFC 3164 with rsyslog's
        high-precision stamps only) nothing, for the configured zone.

        :raises ValueError: for a date or time that does not exist, saying why.
        """
        if stamp[19:20] != ".":
            # No fraction: the whole text is remembered with its result.
            done = self._offset_times.get(stamp)
            if done is None:
                done = self._finish(self._convert_offset_time(stamp[:19], stamp[19:]), "")
                self._remember(self._offset_times, stamp, done)
            return done
        # A fraction: the second is remembered (text without the fraction), the fraction added.
        if stamp[-1] == "Z":
            end = len(stamp) - 1
        elif stamp[-3] == ":":  # fraction digits are digits: only an offset has this colon
            end = len(stamp) - 6
        else:
            end = len(stamp)
        key = stamp[:19] + stamp[end:]
        whole = self._offset_seconds.get(key)
        if whole is None:
            whole = self._convert_offset_time(stamp[:19], stamp[end:])
            self._remember(self._offset_seconds, key, whole)
        return self._finish(whole, stamp[20:end])

    def _convert_offset_time(self, body: str, offset: str) -> Any:
        year, month, day = int(body[0:4]), int(body[5:7]), int(body[8:10])
        hour, minute, second = int(body[11:13]), int(body[14:16]), int(body[17:19])
        _check_date(year, month, day)
        _check_clock(hour, minute, second)
        if not offset:
            return self._render(self._wall_to_utc(year, month, day, hour, minute, second))
        if offset in _UTC_OFFSETS and year and not self.epoch:
            # Already UTC, and just checked: the text is the answer.
            return body
        seconds = seconds_of(year, month, day, hour, minute, second)
        if offset not in _UTC_OFFSETS:
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError(f"offset {offset} is out of range (at most 23:59)")
            shift = hours * 3600 + minutes * 60
            seconds += -shift if offset[0] == "+" else shift
        return self._render(seconds)

    # -- RFC 3164 ------------------------------------------------------------

    def wall_time(self, stamp: str) -> Any:
        """Convert an RFC 3164 time, its shape already checked.

        The shape is ``Mmm dd hh:mm:ss``, then ``.`` and 1 to 6 digits or
        nothing; the day may have one digit, and one or two spaces before it.
        The year is inferred (or configured), the zone configured.

        :raises ValueError: for an unknown month, a day or time that does not
            exist, a time that happened twice (unless ``ambiguous`` says which),
            saying why.
        """
        if self.year is None:
            self.check_day()
        done = self._wall_times.get(stamp)
        if done is None:
            point = stamp.find(".")
            if point < 0:
                done = self._finish(self._convert_wall_time(stamp), "")
            else:
                done = self._finish(self._convert_wall_time(stamp[:point]), stamp[point + 1 :])
            self._remember(self._wall_times, stamp, done)
        return done

    def _convert_wall_time(self, stamp: str) -> Any:
        month_name, day_text, clock = stamp.split()
        month = _MONTH_NUMBERS.get(month_name)
        if month is None:
            raise ValueError(f"unknown month {month_name!r} (Jan, Feb, ... Dec)")
        day = int(day_text)
        if not 1 <= day <= 31:
            raise ValueError(f"day {day} is out of range (1 to 31)")
        hour, minute, second = int(clock[0:2]), int(clock[3:5]), int(clock[6:8])
        _check_clock(hour, minute, second)
        year = self.year if self.year is not None else self._year_of(month, day)
        _check_date(year, month, day)
        return self._render(self._wall_to_utc(year, month, day, hour, minute, second))

    # -- for other parsers (time.parse, cast.fields) --------------------------

    def check_day(self) -> None:
        """Look at the clock: on a new day, forget what the inferred year decided.

        Call it before reading a year-less time from a memory registered with
        :meth:`remember_by_day`.
        """
        now = self.clock()
        if not self._today_from <= now < self._today_until:
            self._new_day(now)

    def remember_by_day(self, memory: dict[str, Any]) -> None:
        """Have ``memory`` (results of year-less times) dropped whenever the day changes."""
        self._year_memories.append(memory)

    def wall(self, year: int | None, month: int, day: int, hour: int, minute: int, second: int) -> int:
        """Epoch seconds of a wall-clock time in the configured zone; ``year=None`` infers the year.

        :raises ValueError: for a date or time that does not exist, one the zone
            skipped, or one it repeated (unless ``ambiguous`` chooses), saying why.
        """
        _check_clock(hour, minute, second)
        if year is None:
            if not 1 <= month <= 12:
                raise ValueError(f"month {month} is out of range (01 to 12)")
            if self.year is not None:
                year = self.year
            else:
                self.check_day()
                year = self._year_of(month, day)
        _check_date(year, month, day)
        return self._wall_to_utc(year, month, day, hour, minute, second)

    def year_for(self, month: int, day: int) -> int:
        """The configured year, or the one inferred for ``month``/``day`` (see the module)."""
        if self.year is not None:
            return self.year
        self.check_day()
        return self._year_of(month, day)

    def second(self, seconds: int) -> Any:
        """A whole UTC second as given out (without ``Z``, or epoch seconds), for :meth:`fractional`.

        :raises ValueError: for a time outside the years 1 to 9999 in UTC.
        """
        return self._render(seconds)

    def fractional(self, whole: Any, microseconds: int) -> Any:
        """The timestamp of a whole second from :meth:`second` and its microseconds."""
        return self._finish(whole, f"{microseconds:06d}" if microseconds else "")

    def result(self, seconds: int, microseconds: int = 0) -> Any:
        """The timestamp (ISO 8601 with ``Z``, or epoch seconds) of a UTC second and its microseconds.

        :raises ValueError: for a time outside the years 1 to 9999 in UTC.
        """
        return self._finish(self._render(seconds), f"{microseconds:06d}" if microseconds else "")

    def _new_day(self, now: float) -> None:
        """Note today's date in the zone and the epoch seconds it lasts; forget what depended on the last one."""
        zone = self.zone
        today = dt.datetime.fromtimestamp(now, zone).date()
        start = dt.datetime.combine(today, dt.time(), zone).timestamp()
        end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), zone).timestamp()
        # A zone whose midnight is skipped or repeated can put "now" just
        # outside the bounds computed from its wall clock; then the bounds are
        # only that second, and the day is looked at again on the next call.
        if not start <= now < end:
            start, end = now, now
        self._today_from, self._today_until = start, end
        if today != self._today:
            self._today = today
            self._years.clear()
            for memory in self._year_memories:
                memory.clear()

    def _year_of(self, month: int, day: int) -> int:
        """The latest year in which ``month``/``day`` exists and is at most :data:`FUTURE_DAYS` after today."""
        found = self._years.get((month, day))
        if found is not None:
            return found
        limit = self._today + dt.timedelta(days=FUTURE_DAYS)
        # Leap years are at most 8 years apart, so 29 February is found within 9.
        for year in range(limit.year, limit.year - 9, -1):
            if day <= days_in_month(year, month) and dt.date(year, month, day) <= limit:
                self._years[month, day] = year
                return year
        raise ValueError(f"day {day} does not exist in {MONTHS[month - 1]}")  # Feb 30, Apr 31...

    def _wall_to_utc(self, year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
        """Epoch seconds of a valid wall-clock time in the configured zone.

        :raises ValueError: for a time the zone skipped, or one it repeated
            (unless the ``ambiguous`` policy chooses).
        """
        zone = self.zone
        if zone is _UTC:
            return seconds_of(year, month, day, hour, minute, second)
        hour_key = (year, month, day, hour)
        steady: int | None = self._hour_offsets.get(hour_key, _UNKNOWN)
        if steady is _UNKNOWN:
            steady = self._steady_offset(year, month, day, hour)
            if len(self._hour_offsets) >= _CACHE_SIZE:
                self._hour_offsets.clear()
            self._hour_offsets[hour_key] = steady
        if steady is not None:
            return seconds_of(year, month, day, hour, minute, second) - steady
        wall = dt.datetime(year, month, day, hour, minute, second)
        first = wall.replace(tzinfo=zone).utcoffset()
        second_offset = wall.replace(tzinfo=zone, fold=1).utcoffset()
        assert first is not None and second_offset is not None
        if first == second_offset:
            return seconds_of(year, month, day, hour, minute, second) - int(first.total_seconds())
        # Either the clocks jumped over this time (it never happened) or it
        # happened twice. zoneinfo answers both with two offsets; a time that
        # happened comes back to the same wall clock from UTC.
        taken = first if self.ambiguous != "later" else second_offset
        utc = wall - first
        shown = (utc.replace(tzinfo=_UTC)).astimezone(zone).replace(tzinfo=None)
        text = wall.isoformat(sep=" ")
        if shown != wall:
            raise ValueError(f"{text} never happened in {self.timezone} (the clocks skipped it)")
        if self.ambiguous == "error":
            raise ValueError(
                f"{text} happened twice in {self.timezone} (the clocks went back); "
                "ambiguous = 'earlier' or 'later' chooses"
            )
        return seconds_of(year, month, day, hour, minute, second) - int(taken.total_seconds())

    def _steady_offset(self, year: int, month: int, day: int, hour: int) -> int | None:
        """The offset in force through the whole wall-clock hour, or ``None`` if it changes in the hour."""
        offsets = set()
        for minute, second in ((0, 0), (59, 59)):
            wall = dt.datetime(year, month, day, hour, minute, second)
            for fold in (0, 1):
                offset = wall.replace(tzinfo=self.zone, fold=fold).utcoffset()
                assert offset is not None
                offsets.add(offset)
        if len(offsets) != 1:
            return None
        (offset,) = offsets
        return offset.days * 86400 + offset.seconds

    # -- back to a wall clock (the formatter) --------------------------------

    def wall_clock(self, seconds: int) -> dt.datetime:
        """The configured zone's wall-clock time (naive) at epoch ``seconds``."""
        moment = dt.datetime.fromtimestamp(seconds, _UTC)
        if self.zone is _UTC:
            return moment.replace(tzinfo=None)
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def naive_to_utc(self, wall: dt.datetime) -> tuple[int, int]:
        """Epoch seconds and microseconds of a naive time in the configured zone.

        :raises ValueError: for a time the zone skipped or repeated (unless ``ambiguous`` chooses).
        """
        return (
            self._wall_to_utc(wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second),
            wall.microsecond,
        )
