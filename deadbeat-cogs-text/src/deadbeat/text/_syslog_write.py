"""Writing syslog lines (RFC 5424 and RFC 3164) from the fields the parser gives.

The writer refuses what it cannot write faithfully rather than bending it: a
header field with a space or a character outside printable ASCII, a name
longer than RFC 5424 allows, a line break in a line without octet counting,
structured data or a MSGID in RFC 3164 (which has no place for them), an RFC
3164 line that would read back differently (a host that looks like a tag, a
message whose first word looks like one when there is no tag). Each refusal is
an error for that datum, naming the field. What it writes, the parser reads
back to the same fields (the tests check this for every mapping within the
grammar), with these normalisations:

* an empty text and ``"-"`` are both written as RFC 5424's NILVALUE, read back
  as ``None``; so is empty structured data;
* a structured-data parameter given as a list of one value reads back as that
  value (only a name given more than once reads back as a list);
* timestamps are written in UTC (RFC 5424) or in the configured zone's wall
  clock, whole seconds and without a year (RFC 3164);
* a message that starts with a byte order mark gets another one before it, so
  that the one the reader strips is not the message's own.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

from ._syslog_grammar import NIL, facility_number, severity_number
from ._syslog_time import MONTHS, Times

__all__ = ["SyslogWriter"]

_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1)
_BOM = "\ufeff"
_CACHE_SIZE = 4096

#: RFC 5424's header fields: the datum's field, the RFC's name, the longest allowed.
_HEADER = (("host", "HOSTNAME", 255), ("app", "APP-NAME", 48), ("procid", "PROCID", 128), ("msgid", "MSGID", 32))
_PRINTABLE = {limit: re.compile(rf"[!-~]{{1,{limit}}}") for _, _, limit in _HEADER}
_SD_NAME = re.compile(r"[!#-<>-\\^-~]{1,32}")
#: A timestamp given as text: ISO 8601 with ``T`` or a space, an optional fraction and offset.
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:\d\d)?")
#: What RFC 3164 readers (ours included) take for a tag: ``name:``, ``name[pid]:`` or ``name[pid]``.
_TAG_FORM = re.compile(r"[^\s\[\]:]+(?:\[[^\s\]]+\]:?|:)")
_APP_3164 = re.compile(r"[^\s\[\]:]+")
_PROCID_3164 = re.compile(r"[^\s\]]+")
_HOST_3164 = re.compile(r"[!-~]+")


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "]" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")
    return value


def _as_text(value: Any, what: str) -> str:
    """Text, or a number written as text; anything else is refused, naming ``what``."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{what} must be text or a number, not {type(value).__name__}")


def _structured_data(sd: Any) -> str:
    """STRUCTURED-DATA from SD-ID -> {name: value or list of values}; ``-`` for none."""
    if sd is None:
        return NIL
    if not isinstance(sd, Mapping):
        raise ValueError(f"structured_data must be a mapping of SD-IDs to parameters, not {type(sd).__name__}")
    if not sd:
        return NIL
    parts = []
    for sd_id, params in sd.items():
        if not isinstance(sd_id, str) or not _SD_NAME.fullmatch(sd_id):
            raise ValueError(
                f'structured_data: SD-ID {sd_id!r} must be 1 to 32 printable ASCII characters but =, ], " and space'
            )
        parts.append("[" + sd_id)
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise ValueError(f"structured_data: {sd_id!r} must map parameter names to values, not {params!r}")
        for name, value in params.items():
            if not isinstance(name, str) or not _SD_NAME.fullmatch(name):
                raise ValueError(
                    f"structured_data: {sd_id}: parameter name {name!r} must be 1 to 32 printable ASCII"
                    ' characters but =, ], " and space'
                )
            values = value if isinstance(value, (list, tuple)) else (value,)
            if not values:
                raise ValueError(f"structured_data: {sd_id}: {name} has no value (an empty list)")
            for one in values:
                text = _as_text(one, f"structured_data: {sd_id}: {name}")
                parts.append(f' {name}="{_escape(text)}"')
        parts.append("]")
    return "".join(parts)


def _whole_and_micro(value: Any, times: Times) -> tuple[int, int] | None:
    """A timestamp field as UTC epoch seconds and microseconds; ``None`` when there is none.

    Takes ISO 8601 text (``T`` or a space; without an offset, in the configured
    zone), epoch seconds, or a :class:`datetime.datetime` (naive ones in the zone).
    """
    if value is None or value == "" or value == NIL:
        return None
    if isinstance(value, bool):
        raise ValueError("expected ISO 8601 text, epoch seconds or a datetime")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("not a time")
        seconds = math.floor(value)
        micro = round((value - seconds) * 1_000_000)
        if micro == 1_000_000:
            seconds, micro = seconds + 1, 0
        return int(seconds), micro
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return times.naive_to_utc(value)
        utc = value.astimezone(_UTC).replace(tzinfo=None)
        return int((utc - _EPOCH) // dt.timedelta(seconds=1)), utc.microsecond
    if isinstance(value, str):
        found = _ISO.fullmatch(value)
        if found is None:
            raise ValueError("not ISO 8601 (YYYY-MM-DDThh:mm:ss[.ffffff][Z|+hh:mm])")
        year, month, day, hour, minute, second, fraction, offset = found.groups()
        micro = int(fraction.ljust(6, "0")) if fraction else 0
        wall = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro)
        if offset is None:
            return times.naive_to_utc(wall)
        if offset != "Z":
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError(f"offset {offset} is out of range (at most 23:59)")
            shift = dt.timedelta(hours=hours, minutes=minutes)
            wall = wall - shift if offset[0] == "+" else wall + shift
        return int((wall - _EPOCH) // dt.timedelta(seconds=1)), micro
    raise ValueError(f"expected ISO 8601 text, epoch seconds or a datetime, not {type(value).__name__}")


class SyslogWriter:
    """Writes one kind of syslog line from mappings of fields.

    :param form: ``"rfc5424"`` or ``"rfc3164"``.
    :param times: the zone for RFC 3164 wall clocks and timestamps without an offset.
    :param default_priority: the priority of a mapping without one (facility and severity).
    :param bom: write a byte order mark before every RFC 5424 message.
    :param octet_counting: frame each line as ``LENGTH SP LINE`` (RFC 6587),
        which lets a message hold line breaks.
    """

    def __init__(self, form: str, times: Times, default_priority: int, bom: bool, octet_counting: bool) -> None:
        self.rfc5424 = form == "rfc5424"
        self.times = times
        self.default_priority = default_priority
        self.bom = bom
        self.octet_counting = octet_counting
        # Written timestamps by the value's text: many lines share a second.
        self._stamps: dict[str, str] = {}

    def line(self, fields: Any) -> str:
        """The line for one mapping of fields.

        :raises ValueError: naming the field that cannot be written.
        """
        if not isinstance(fields, Mapping):
            raise ValueError(f"expected a mapping of syslog fields, not {type(fields).__name__}")
        line = self._line_5424(fields) if self.rfc5424 else self._line_3164(fields)
        if line.isascii():
            return f"{len(line)} {line}" if self.octet_counting else line
        try:
            size = len(line.encode("utf-8"))
        except UnicodeEncodeError as exc:
            # A lone surrogate (from JSON's "\ud800", or bytes decoded with
            # surrogateescape): no output could write the line.
            raise ValueError(
                f"the line holds U+{ord(line[exc.start]):04X} at column {exc.start + 1}, which UTF-8 cannot encode"
            ) from None
        return f"{size} {line}" if self.octet_counting else line

    def _priority(self, fields: Mapping[str, Any]) -> int:
        # Facility and severity, when given, win over the priority (a cog may
        # have changed one after parsing); what is missing comes from the
        # priority, else from default_priority.
        priority = fields.get("priority")
        if priority is None:
            base = self.default_priority
        elif type(priority) is int and 0 <= priority <= 191:
            base = priority
        else:
            raise ValueError(f"priority must be a number from 0 to 191, not {priority!r}")
        facility = fields.get("facility")
        severity = fields.get("severity")
        if facility is None and severity is None:
            return base
        number = facility_number(facility) if facility is not None else base >> 3
        return number * 8 + (severity_number(severity) if severity is not None else base & 7)

    def _message(self, fields: Mapping[str, Any]) -> str | None:
        message = fields.get("message")
        if message is None:
            return None
        message = _as_text(message, "message")
        if not self.octet_counting and "\n" in message:
            raise ValueError("message holds a line break: set octet_counting to send it in one frame")
        return message

    def _timestamp(self, value: Any, wall: bool) -> str | None:
        key = value if type(value) is str else None
        if key is not None:
            done = self._stamps.get(key)
            if done is not None:
                return done
        try:
            instant = _whole_and_micro(value, self.times)
            if instant is None:
                return None
            seconds, micro = instant
            if wall:
                clock = self.times.wall_clock(seconds)
                text = f"{MONTHS[clock.month - 1]} {clock.day:2d} {clock:%H:%M:%S}"
            else:
                text = (_EPOCH + dt.timedelta(seconds=seconds)).isoformat() + (f".{micro:06d}" if micro else "") + "Z"
        except ValueError as exc:
            raise ValueError(f"timestamp {value!r}: {exc}") from None
        except (OverflowError, OSError):
            # Epoch seconds beyond the years datetime can hold.
            raise ValueError(f"timestamp {value!r}: beyond the years 1 to 9999") from None
        if key is not None:
            if len(self._stamps) >= _CACHE_SIZE:
                self._stamps.clear()
            self._stamps[key] = text
        return text

    def _line_5424(self, fields: Mapping[str, Any]) -> str:
        priority = self._priority(fields)
        stamp = self._timestamp(fields.get("timestamp"), wall=False) or NIL
        header = []
        for field, name, limit in _HEADER:
            value = fields.get(field)
            if value is None or value == "":
                header.append(NIL)
                continue
            text = _as_text(value, field)
            if not _PRINTABLE[limit].fullmatch(text):
                raise ValueError(
                    f"{field} ({name}) must be 1 to {limit} printable ASCII characters without spaces, not {text!r}"
                )
            header.append(text)
        sd = _structured_data(fields.get("structured_data"))
        if not self.octet_counting and "\n" in sd:
            raise ValueError("structured_data holds a line break: set octet_counting to send it in one frame")
        line = f"<{priority}>1 {stamp} {header[0]} {header[1]} {header[2]} {header[3]} {sd}"
        message = self._message(fields)
        if message is None:
            return line
        if self.bom or message.startswith(_BOM):
            message = _BOM + message
        return line + " " + message

    def _line_3164(self, fields: Mapping[str, Any]) -> str:
        for field in ("msgid", "structured_data"):
            if fields.get(field) not in (None, "", {}):
                raise ValueError(f"RFC 3164 has no place for {field}: drop it (flow.drop_fields) to write RFC 3164")
        priority = self._priority(fields)
        stamp = self._timestamp(fields.get("timestamp"), wall=True)
        if stamp is None:
            raise ValueError("RFC 3164 needs a timestamp; the datum has none")
        host, app, procid = (fields.get(name) for name in ("host", "app", "procid"))
        message = self._message(fields) or ""
        parts = [f"<{priority}>{stamp}"]
        if host is not None and host != "":
            host = _as_text(host, "host")
            if not _HOST_3164.fullmatch(host):
                raise ValueError(f"host must be printable ASCII without spaces, not {host!r}")
            if _TAG_FORM.fullmatch(host):
                raise ValueError(f"host {host!r} would be read back as a tag (name:, name[pid]: or name[pid])")
            parts.append(host)
        if app is not None and app != "":
            app = _as_text(app, "app")
            if not _APP_3164.fullmatch(app):
                raise ValueError(f"app (the RFC 3164 tag) must have no spaces, '[', ']' or ':', not {app!r}")
            if procid is not None and procid != "":
                procid = _as_text(procid, "procid")
                if not _PROCID_3164.fullmatch(procid):
                    raise ValueError(f"procid must have no spaces or ']', not {procid!r}")
                app = f"{app}[{procid}]"
            parts.append(app + ":")
        elif procid is not None and procid != "":
            raise ValueError("RFC 3164 writes procid only with an app (tag[procid]:); the datum has no app")
        elif len(parts) == 1:
            raise ValueError("RFC 3164 needs a host or an app, else the message's first word is read as the host")
        elif _TAG_FORM.fullmatch(message.partition(" ")[0]):
            raise ValueError(
                f"without an app, the message's first word {message.partition(' ')[0]!r} would be read back as a tag"
            )
        parts.append(message)
        return " ".join(parts)
