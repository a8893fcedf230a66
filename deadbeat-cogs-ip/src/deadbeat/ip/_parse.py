"""The validating cog: addresses, networks and ranges in canonical form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from deadbeat import movement

from ._address import AddressError, normalise
from ._fields import FieldMapper, check_missing, setter_for

__all__ = ["IPParse"]


class IPParse(movement.Cog):
    """Validate IP addresses, networks and ranges and write them in canonical form.

    Accepted: ``192.0.2.1``, ``192.0.2.1:80``, ``2001:DB8::1``,
    ``[2001:db8::1]:443``, ``192.0.2.0/24`` (host bits are cleared),
    ``192.0.2.1-192.0.2.9``, ``fe80::1%eth0`` (an IPv6 zone is kept as it was
    written; networks, ranges and IPv4 addresses take none). IPv6 is written as
    RFC 5952 says (lower case, shortest; ``::ffff:192.0.2.1`` stays mapped). A
    value that is none of these, or a field path that cannot apply to the datum
    (a key into a list, a step into text), makes the datum go to the error
    output, with the field and the value named.

    :param fields: field path(s) to check (``*`` reaches into lists); a number is
        a position in a list.
    :param ip_getter: where the address (or list of addresses) is, as a callable
        or a field path, instead of ``fields``.
    :param ip_setter: where the canonical form goes, with ``ip_getter``; by
        default the same place ``ip_getter`` names when that is a path.
    :param missing: what a datum without the field gets: ``skip`` passes it on
        untouched and counts it (``data without FIELD`` in the run summary),
        ``error`` sends it to the error output.
    """

    one_to_one = True

    def __init__(
        self,
        fields: str | Sequence[str] = "ip",
        ip_getter: movement.FieldGetter | None = None,
        ip_setter: movement.FieldSetter | None = None,
        missing: Literal["skip", "error"] = "skip",
    ) -> None:
        check_missing(missing)
        self.fields = fields
        self.ip_getter = ip_getter
        self.ip_setter = ip_setter
        self.missing = missing
        self._fields = FieldMapper(fields, ip_getter, setter_for(ip_getter, ip_setter), missing)
        #: Per field, the data that lacked it and were passed on untouched.
        self.counts = self._fields.counts
        self._apply = self._fields.bind(self._one)

    def __call__(self, data: Any) -> tuple[Any, ...]:
        return (self._apply(data),)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Check a list of data; the same results as one call per datum, raising where one would (each datum once)."""
        return movement.call_each(self.__call__, data)

    @staticmethod
    def _one(text: str, path: str) -> str:
        try:
            return normalise(text)
        except AddressError as exc:
            raise AddressError(f"field {path!r}: {exc}") from None
