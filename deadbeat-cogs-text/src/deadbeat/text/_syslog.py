"""Syslog cogs: ``text.syslog_parse`` reads RFC 5424 and RFC 3164 lines into fields, ``text.syslog_format`` writes them.

The grammars are in :mod:`._syslog_grammar` (reading, and saying what is wrong
with a line), the writing in :mod:`._syslog_write`, timestamps (zones, the
year RFC 3164 leaves out, summer time) in :mod:`._syslog_time`.

The fields, the same for both formats (``None`` for what a line does not have):

=================== ====================================================================
``priority``        0 to 191 (``None``: an RFC 3164 line without ``<PRI>``)
``facility``        ``priority // 8``, 0 to 23
``severity``        ``priority % 8``, 0 to 7
``facility_name``   ``kern``, ``user``, ... ``local7`` (rsyslog's names)
``severity_name``   ``emerg``, ``alert``, ``crit``, ``err``, ``warning``, ``notice``, ``info``, ``debug``
``version``         1 (RFC 5424), ``None`` (RFC 3164)
``timestamp``       UTC: ISO 8601 text with ``Z``, or epoch seconds (``timestamp_format``)
``host``            HOSTNAME
``app``             APP-NAME, or RFC 3164's tag
``procid``          PROCID, or the tag's ``[pid]``, as text
``msgid``           MSGID (RFC 5424 only)
``structured_data`` SD-ID -> {parameter: value}; a parameter named more than once: a list of its values
``message``         MSG, without the byte order mark RFC 5424 allows before it
=================== ====================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from deadbeat import conf, movement
from deadbeat.movement import only

from ._parsers import _FromText
from ._syslog_grammar import FORMATS, parser_for
from ._syslog_time import (
    AMBIGUOUS,
    Ambiguous,
    ReferenceDay,
    Times,
    TimestampFormat,
    resolve_zone,
)
from ._syslog_write import SyslogWriter

__all__ = ["SYSLOG_FIELDS", "SyslogFormat", "SyslogParse"]

#: The fields :class:`SyslogParse` gives, in order.
SYSLOG_FIELDS = (
    "priority",
    "facility",
    "severity",
    "facility_name",
    "severity_name",
    "version",
    "timestamp",
    "host",
    "app",
    "procid",
    "msgid",
    "structured_data",
    "message",
)

#: What ``format`` may be for reading.
ParseFormat = Literal["auto", "rfc5424", "rfc3164"]
#: What ``format`` may be for writing.
WriteFormat = Literal["rfc5424", "rfc3164"]


def _choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}")


class SyslogParse(_FromText):
    """Parse syslog lines, RFC 5424 and RFC 3164 (BSD), into fields.

    The datum is a line (what ``fs.read`` and ``fs.tail`` give), text or UTF-8
    bytes, or a mapping holding it at ``source``. Without a ``target`` the
    fields become the datum: ``priority``, ``facility`` and ``severity``
    (numbers), ``facility_name`` and ``severity_name`` (``local4``,
    ``warning``), ``version`` (1 for RFC 5424), ``timestamp`` (UTC), ``host``,
    ``app``, ``procid``, ``msgid``, ``structured_data`` and ``message``; a
    field the line does not have (RFC 5424's ``-``) is ``None``.

    RFC 5424: ``<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG``, as the RFC
    writes it (field lengths included). Structured data becomes a mapping of
    SD-IDs to mappings of parameters, escapes (``\\"``, ``\\\\``, ``\\]``)
    undone; a parameter named more than once keeps all its values, as a list.
    The byte order mark RFC 5424 allows before the message is taken away. An
    SD-ID given twice is an error (RFC 5424 6.3.2).

    RFC 3164: ``[<PRI>]TIMESTAMP [HOST ][TAG[[PID]]: ]MSG`` as daemons write
    it: without ``<PRI>`` (lines from files), without a host (local daemons:
    the first word is then the tag), with ``tag:`` or ``tag[pid]:`` or without
    a tag, with rsyslog's ISO 8601 timestamps. The first word after the
    timestamp is the host unless it has a tag's form (``name:``,
    ``name[pid]:``, or ``name[pid]`` as rsyslog's file formats write it); the
    next word is the tag only if it has that form, else the message starts
    there. The zone is ``timezone``; the year, which RFC 3164 leaves out, is
    the latest in which the date falls at most 7 days after the reference day
    (in that zone), so a December line read in January is last year's. The
    reference day is today, or the day ``year_file`` (or, with
    ``year_file_field``, the file each line came from) was last changed: an
    archive replayed years later gets its own years.

    ``format = "auto"`` reads a line as RFC 5424 when a version follows its
    ``<PRI>``, else as RFC 3164.

    A line that does not parse, or a priority out of range, a date that does
    not exist, a time that summer time skipped or repeated, goes to the error
    output with a message naming what is wrong and the column (from 1). The
    time taken is linear in the line's length, whatever it holds.

    :param format: ``"auto"``, ``"rfc5424"`` or ``"rfc3164"``.
    :param timezone: the zone of RFC 3164 timestamps (and ISO ones without an
        offset): an IANA name (``"Europe/Prague"``), ``"UTC"`` (the default, so
        that a pipeline reads the same on every machine) or ``"local"`` (this
        machine's zone, for files its own daemons wrote). RFC 5424 timestamps
        carry their own offset.
    :param ambiguous: a wall-clock time that happened twice (summer time
        ending): ``"error"`` sends the datum to the error output, ``"earlier"``
        and ``"later"`` choose. A time that never happened is always an error.
    :param year: the year of every RFC 3164 timestamp (replaying an old
        archive); ``false`` infers it from the reference day.
    :param year_file: a file whose modification time is the reference day
        (the archive being replayed); none, or a file that cannot be read,
        means now.
    :param year_file_field: where each datum names the file it came from
        (``fs.tail``'s or ``fs.read``'s ``path_field``): that file's
        modification time is the reference day for its lines, so that files of
        different years read together each get their own. A datum without the
        field (a line that is text alone), or naming a file that cannot be
        read, is taken as read now.
    :param timestamp_format: ``"iso"``: ISO 8601 text in UTC
        (``2026-11-27T19:14:15.003000Z``); ``"epoch"``: seconds since 1970 (a float).
    :param source: where the line is (callable or field path), for mapping data.
    :param target: where the fields go (callable or field path); ``false``
        makes them the datum, replacing a mapping datum and its raw line.
    :param keep: fields of a mapping datum to carry into the parsed fields
        (without a ``target``), such as ``["id"]``; naming a syslog field is refused.
    :param clock: Python only: a function giving epoch seconds now, from
        which the RFC 3164 year is inferred (``time.time`` by default).
    """

    one_to_one = True

    def __init__(
        self,
        format: ParseFormat = "auto",
        timezone: str = "UTC",
        ambiguous: Ambiguous = "error",
        year: int | None = None,
        timestamp_format: TimestampFormat = "iso",
        source: movement.FieldGetter = "line",
        target: movement.FieldSetter | None = None,
        keep: Sequence[str] = (),
        clock: Callable[[], float] | None = None,
        year_file: conf.Path | None = None,
        year_file_field: movement.FieldGetter | None = None,
    ) -> None:
        _choice("format", format, FORMATS)
        _choice("ambiguous", ambiguous, AMBIGUOUS)
        _choice("timestamp_format", timestamp_format, ("iso", "epoch"))
        if year is not None and (type(year) is not int or not 1 <= year <= 9999):
            raise ValueError(f"year must be a whole number from 1 to 9999, or none to infer it, not {year!r}")
        reference = ReferenceDay(clock, year_file, year_file_field)
        self.format = format
        self.timezone = timezone
        self.ambiguous = ambiguous
        self.year = year
        self.timestamp_format = timestamp_format
        self.source = source
        self.target = target
        self.clock = clock
        self.year_file = year_file
        self.year_file_field = year_file_field
        self._setup(keep)
        self._refuse_kept(SYSLOG_FIELDS, "a syslog field")
        self._reference = reference if reference.per_datum else None
        self._times = Times(resolve_zone(timezone), timezone, ambiguous, timestamp_format, year, reference.clock)
        self._parse = parser_for(format)

    def _text(self, data: Any) -> str:
        if type(data) is str:
            return data
        text = data if isinstance(data, (bytes, bytearray, memoryview)) else self._get(data)
        if isinstance(text, (bytes, bytearray, memoryview)):
            try:
                return bytes(text).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"the line is not UTF-8 (byte {exc.start + 1}); text.decode can read others") from None
        if not isinstance(text, str):
            raise TypeError(f"expected a syslog line (text), got {type(text).__name__}")
        return text

    def __call__(self, data: Any) -> tuple[Any, ...]:
        if self._reference is not None:
            self._reference.look_at(data)
        if type(data) is str and self._set is None:
            return (self._parse(data, self._times),)
        return self._deliver(data, self._parse(self._text(data), self._times))

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Parse a list of data at once; the same results as one call per datum.

        Lines, or mappings (replaced by their fields, with the ``keep`` fields),
        are parsed in one list comprehension; anything else datum by datum.
        """
        if not data:
            return []
        parse, times = self._parse, self._times
        if self._set is None and self._reference is None:
            if only(data, str):
                return [parse(text, times) for text in data]
            if only(data, dict):
                texts = list(map(self._get, data))
                if only(texts, str):
                    found = [parse(text, times) for text in texts]
                    # keep cannot clash with a syslog field: refused when built.
                    for key in self.keep:
                        for datum, fields in zip(data, found, strict=True):
                            if key in datum:
                                fields[key] = datum[key]
                    return found
        return [out for datum in data for out in self(datum)]


class SyslogFormat(movement.Cog):
    """Format fields as a syslog line, RFC 5424 (the default) or RFC 3164.

    The fields are those ``text.syslog_parse`` gives: ``priority`` (or
    ``facility`` and ``severity``, numbers or names, which win over it when
    given), ``timestamp`` (ISO 8601 text, epoch seconds or a datetime),
    ``host``, ``app``, ``procid``, ``msgid``, ``structured_data`` and
    ``message``; other fields are not read (``facility_name`` and
    ``severity_name`` neither: to change the priority, set ``facility`` or
    ``severity``). A missing field (``None``, or
    empty text) is RFC 5424's NILVALUE ``-``. Structured data is a mapping of
    SD-IDs to mappings of parameters, a list for a parameter given more than
    once; values are escaped as RFC 5424 says. Text becomes the datum, or goes
    to ``target``.

    Nothing is bent to fit: a header field with a space or a character outside
    printable ASCII, or longer than RFC 5424 allows (HOSTNAME 255, APP-NAME
    48, PROCID 128, MSGID 32, SD names 32), a line break without octet
    counting, or what RFC 3164 cannot hold (``msgid``, ``structured_data``, a
    line that would read back otherwise) sends the datum to the error output,
    naming the field. RFC 3164 lines have the zone's wall-clock time, whole
    seconds and no year. What is written, ``text.syslog_parse`` reads back to
    the same fields.

    :param format: ``"rfc5424"`` or ``"rfc3164"``.
    :param octet_counting: write ``LENGTH SP LINE`` (RFC 6587 octet counting,
        the length in UTF-8 bytes), for TCP; a message may then hold line breaks.
    :param timezone: the zone of RFC 3164 timestamps, and of timestamps given
        without an offset: an IANA name, ``"UTC"`` or ``"local"``.
    :param default_priority: the priority of data without one (13: user.notice, as RFC 3164 says).
    :param bom: write a byte order mark before every RFC 5424 message (it says the message is UTF-8).
    :param source: where the fields are (callable or field path); ``false``
        for the datum itself.
    :param target: where the line goes (callable or field path); ``false``
        makes the line the datum.
    """

    one_to_one = True

    def __init__(
        self,
        format: WriteFormat = "rfc5424",
        octet_counting: bool = False,
        timezone: str = "UTC",
        default_priority: int = 13,
        bom: bool = False,
        source: movement.FieldGetter | None = None,
        target: movement.FieldSetter | None = None,
    ) -> None:
        _choice("format", format, ("rfc5424", "rfc3164"))
        if type(default_priority) is not int or not 0 <= default_priority <= 191:
            raise ValueError(f"default_priority must be a number from 0 to 191, not {default_priority!r}")
        self.format = format
        self.octet_counting = octet_counting
        self.timezone = timezone
        self.default_priority = default_priority
        self.bom = bom
        self.source = source
        self.target = target
        times = Times(resolve_zone(timezone), timezone, "error", "iso", None, None)
        self._line = SyslogWriter(format, times, default_priority, bool(bom), bool(octet_counting)).line
        self._get = movement.getter(source) if source is not None else None
        self._set = movement.setter(target) if target is not None else None

    def __call__(self, data: Any) -> tuple[Any, ...]:
        line = self._line(data if self._get is None else self._get(data))
        return (line,) if self._set is None else (self._set(data, line),)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Format a list of data at once; the same results as one call per datum.

        Every line is written before any datum is changed, so a list that
        fails is given datum by datum as it came.
        """
        line, get, put = self._line, self._get, self._set
        lines = [line(datum) for datum in data] if get is None else [line(get(datum)) for datum in data]
        if put is None:
            return lines
        return [put(datum, text) for datum, text in zip(data, lines, strict=True)]
