"""The validating cog: addresses, networks and ranges in canonical form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deadbeat import movement

from ._address import AddressError, normalise
from ._fields import FieldMapper, setter_for

__all__ = ["IPParse"]


class IPParse(movement.Cog):
    """Validate IP addresses, networks and ranges and write them in canonical form.

    Accepted: ``192.0.2.1``, ``192.0.2.1:80``, ``2001:DB8::1``,
    ``[2001:db8::1]:443``, ``192.0.2.0/24`` (host bits are cleared),
    ``192.0.2.1-192.0.2.9``. IPv6 is written as RFC 5952 says (lower case,
    shortest). A value that is none of these makes the datum go to the error
    output, with the field and the value named.

    :param fields: field path(s) to check (``*`` reaches into lists).
    :param ip_getter: where the address (or list of addresses) is, as a callable
        or a field path, instead of ``fields``.
    :param ip_setter: where the canonical form goes, with ``ip_getter``; by
        default the same place ``ip_getter`` names when that is a path.
    """

    def __init__(
        self,
        fields: str | Sequence[str] = "ip",
        ip_getter: movement.FieldGetter | None = None,
        ip_setter: movement.FieldSetter | None = None,
    ) -> None:
        self.fields = fields
        self.ip_getter = ip_getter
        self.ip_setter = ip_setter
        self._fields = FieldMapper(fields, ip_getter, setter_for(ip_getter, ip_setter))

    def __call__(self, data: Any) -> tuple[Any, ...]:
        return (self._fields.apply(data, self._one),)

    @staticmethod
    def _one(text: str, path: str) -> str:
        try:
            return normalise(text)
        except AddressError as exc:
            raise AddressError(f"field {path!r}: {exc}") from None
