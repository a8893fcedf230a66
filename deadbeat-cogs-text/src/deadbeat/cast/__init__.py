"""Typecasting fields: numbers, booleans, timestamps to UTC, IP addresses, lists.

The number and boolean casts are :mod:`deadbeat.conf`'s, so a value means the same
in a config file and in an event. ``cast.fields`` applies them to data.
"""

from __future__ import annotations

import ipaddress
import math
import socket
from collections.abc import Callable, Mapping
from typing import Any, Literal

from deadbeat import movement
from deadbeat.conf import cast_boolean, cast_float, cast_int, expected_of
from deadbeat.text._time import timestamp_cast

__all__ = ["CASTS", "Cast", "cast_ip", "cast_text", "cast_timestamp", "cast_type"]

_default_timestamps = timestamp_cast(None)


def cast_timestamp(value: Any) -> str:
    """Cast to an ISO 8601 UTC timestamp (``2026-11-27T19:50:00Z``, microseconds if any).

    Accepts ISO 8601 with an offset or ``Z``, epoch seconds (number or numeric
    text; values beyond year 5000 are taken as milliseconds) and the common log
    format (``10/Oct/2000:13:55:36 -0700``). A time without a zone (``2026-11-27
    19:50:00``, syslog's ``Nov 27 19:50:00``) is refused: ``Cast(timezone=...)``
    or ``time.parse`` says where it was written.
    """
    return _default_timestamps(value)  # type: ignore[no-any-return]


cast_timestamp.expected = _default_timestamps.expected  # type: ignore[attr-defined]
#: The message of the cast's own error is the reason (a skipped hour, no zone), so it is shown.
cast_timestamp.explains = True  # type: ignore[attr-defined]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def cast_ip(value: Any) -> str:
    """Cast to the canonical text of an IP address (RFC 5952 for IPv6, as ``ip.parse`` writes it)."""
    if not isinstance(value, str):
        raise ValueError(value)
    address = ipaddress.ip_address(value.strip())
    if address.version == 4:
        return str(address)
    # inet_ntop, as ip.parse: an IPv4-mapped address keeps its dotted tail
    # (::ffff:192.0.2.1), which str() writes as hex words before Python 3.13,
    # so the same address would be two different keys for a join or a dedupe.
    scope = address.scope_id  # type: ignore[union-attr]
    text = socket.inet_ntop(socket.AF_INET6, address.packed)
    return f"{text}%{scope}" if scope else text


cast_ip.expected = "an IP address"  # type: ignore[attr-defined]


def cast_text(value: Any) -> str:
    """Cast to text: text stays, a number is written as in JSON (``443``, ``0.5``), a boolean as ``true``/``false``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    # null, a list, an object, NaN: no one text says them without a choice the user did not make.
    raise ValueError(value)


cast_text.expected = "text, a number or a boolean"  # type: ignore[attr-defined]


#: Cast names usable in ``cast.fields`` and pipeline files.
CASTS: dict[str, Callable[[Any], Any]] = {
    "int": cast_int,
    "float": cast_float,
    "bool": cast_boolean,
    "str": cast_text,
    "timestamp": cast_timestamp,
    "ip": cast_ip,
}


def cast_type(
    name: str, separator: str = ",", timezone: str | None = None, ambiguous: str = "error"
) -> Callable[[Any], Any]:
    """:returns: the cast called ``name``; ``list`` or ``list:TYPE`` split text on ``separator``.

    :param timezone: for ``timestamp``: the zone of times without an offset (``None`` refuses them).
    :param ambiguous: for ``timestamp``: ``"error"``, ``"earlier"`` or ``"later"`` for a time that happened twice.
    :raises ValueError: for an unknown name, listing the known ones.
    """
    if name == "timestamp" and (timezone is not None or ambiguous != "error"):
        custom = timestamp_cast(timezone, ambiguous)
        custom.explains = True  # type: ignore[attr-defined]
        return custom
    if name == "list" or name.startswith("list:"):
        item = cast_type(name[5:], separator, timezone, ambiguous) if name.startswith("list:") else (lambda v: v)

        def cast_list(value: Any) -> list[Any]:
            if isinstance(value, str):
                value = [part.strip() for part in value.split(separator)] if value.strip() else []
            if not isinstance(value, list):
                raise ValueError(value)
            return [item(v) for v in value]

        cast_list.expected = f"a list ({name})"  # type: ignore[attr-defined]
        return cast_list
    try:
        return CASTS[name]
    except KeyError:
        raise ValueError(f"unknown cast {name!r}; known: {', '.join([*CASTS, 'list', 'list:TYPE'])}") from None


class Cast(movement.Cog):
    """Cast fields to types: ``{"port": "int", "time": "timestamp", "tags": "list"}``.

    A value that does not cast, or a missing field (unless ``missing="skip"``),
    makes the datum go to the error output with the field, the type and the value.

    ``int`` reads an integer, or text holding one: decimal digits (``007`` is
    7), with a sign and blanks around them taken (``" +42 "``), and the
    prefixed forms ``0x10`` (16), ``0o17`` (15) and ``0b11`` (3), as the
    pipeline file's settings are read; anything else (``4.0``, ``1e3``) is an
    error. ``float`` reads numbers and numeric text, finite only.

    ``bool`` reads ``true``/``false``, ``yes``/``no``, ``on``/``off``,
    ``y``/``n``, ``t``/``f`` and ``1``/``0`` in any case, and an empty text as
    false, as the pipeline file's settings are read.

    ``str`` writes a number as JSON does (``443``, ``0.5``) and a boolean as
    ``true`` or ``false``; null, a list or an object is an error.

    ``ip`` writes an address in one canonical form, the one ``ip.parse``
    writes (RFC 5952 for IPv6, ``::ffff:192.0.2.1`` for a mapped address).

    ``timestamp`` reads ISO 8601, epoch seconds (milliseconds beyond the year
    5000), the common log format and syslog's ``Nov 27 19:50:00`` (year
    inferred), and writes ISO 8601 in UTC. A time without a zone offset is read
    in ``timezone``; without a ``timezone`` it is an error naming the field,
    never silently taken as UTC. For other formats, a list of formats, or epoch
    output, use ``time.parse``.

    :param fields: field path to cast name (int, float, bool, str, timestamp, ip,
        list, list:TYPE).
    :param missing: ``"error"`` or ``"skip"`` for a field the datum does not have.
    :param separator: what separates list items in text.
    :param timezone: the zone of timestamps without an offset: an IANA name
        (``"Europe/Prague"``), ``"UTC"`` or ``"local"``; none makes them an error.
    :param ambiguous: a zone-less time that happened twice (summer time ending):
        ``"error"``, ``"earlier"`` or ``"later"``; a skipped time is always an error.
    """

    one_to_one = True

    def __init__(
        self,
        fields: Mapping[str, str],
        missing: Literal["error", "skip"] = "error",
        separator: str = ",",
        timezone: str | None = None,
        ambiguous: Literal["error", "earlier", "later"] = "error",
    ) -> None:
        if not isinstance(fields, Mapping):
            raise TypeError("fields must be a mapping of field paths to cast names")
        if missing not in ("error", "skip"):
            raise ValueError(f"missing must be 'error' or 'skip', not {missing!r}")
        self.fields = dict(fields)
        self.missing = missing
        self.separator = separator
        self.timezone = timezone
        self.ambiguous = ambiguous
        self._plan = [
            (path, movement.getter(path), movement.setter(path), cast_type(name, separator, timezone, ambiguous), name)
            for path, name in self.fields.items()
        ]

    def __call__(self, data: Any) -> tuple[Any, ...]:
        # Every field is cast before any is set, so that a datum failing on one
        # field reaches the error output as it came, not half cast.
        results = []
        for path, get, put, cast, _name in self._plan:
            try:
                value = get(data)
            except (KeyError, LookupError, IndexError, TypeError):
                if self.missing == "skip":
                    continue
                raise ValueError(f"field {path!r}: missing") from None
            try:
                results.append((put, cast(value)))
            except (ValueError, TypeError, OverflowError) as exc:
                if getattr(cast, "explains", False) and str(exc):
                    raise ValueError(f"field {path!r}: {exc}") from None
                raise ValueError(f"field {path!r}: expected {expected_of(cast)}, got {value!r}") from None
        for put, result in results:
            data = put(data, result)
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Cast a list of data; the same results as one call per datum, raising where one would (each datum once)."""
        return movement.call_each(self.__call__, data)
