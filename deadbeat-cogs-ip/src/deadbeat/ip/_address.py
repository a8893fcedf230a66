"""IP addresses as they appear in events, parsed fast and written canonically.

The standard library's :mod:`ipaddress` is the reference for what is valid; the
hot paths use :func:`socket.inet_pton`, which accepts exactly the same addresses
(dotted quads only for IPv4, every RFC 4291 form for IPv6) in a fraction of the
time, and :func:`socket.inet_ntop`, which writes the RFC 5952 form.

Zones. An IPv6 address may carry a zone (``fe80::1%eth0``, RFC 4007): the
interface it is reached through. The zone is parsed, kept as it was written and
written back after the address; it is never dropped. A zone is letters, digits,
``.``, ``_`` and ``-`` (interface names and numbers); IPv4 addresses, networks
and ranges take none.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import NamedTuple

__all__ = ["MAPPED_PREFIX", "Address", "AddressError", "format_address", "normalise", "parse_address"]

_inet_pton = socket.inet_pton
_inet_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_ZONE = re.compile(r"[A-Za-z0-9._-]+\Z")

#: The value of ``::ffff:0.0.0.0``: an IPv6 address whose top 96 bits equal this
#: (``value >> 32 == 0xFFFF``) is an IPv4-mapped address (RFC 4291 2.5.5.2).
MAPPED_PREFIX = 0xFFFF << 32


class AddressError(ValueError):
    """A value is not an IP address, network or range in any accepted form."""


class Address(NamedTuple):
    """An address as found in an event: version, value, the port and the IPv6 zone if given."""

    version: int
    value: int
    port: int | None = None
    zone: str | None = None


def _split_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise AddressError(f"{text!r}: '[' without ']'")
        if not rest:
            return host, None
        if not rest.startswith(":") or not _is_ascii_digits(rest[1:]):
            raise AddressError(f"{text!r}: expected ]:PORT after the address")
        return host, _port(text, rest[1:])
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if not _is_ascii_digits(port):
            raise AddressError(f"{text!r}: bad port")
        return host, _port(text, port)
    return text, None


def _is_ascii_digits(text: str) -> bool:
    """Whether ``text`` is digits 0-9 only: str.isdigit() takes every script's digits (``"٨٠"`` for 80)."""
    return text.isascii() and text.isdigit()


def _port(text: str, digits: str) -> int:
    port = int(digits)
    if port > 65535:
        raise AddressError(f"{text!r}: port {port} out of range")
    return port


def parse_address(text: str) -> Address:
    """Parse ``1.2.3.4``, ``1.2.3.4:80``, ``2001:db8::1``, ``[2001:db8::1]:443``, ``fe80::1%eth0``.

    :raises AddressError: naming the value and what is wrong.
    """
    if not isinstance(text, str):
        raise AddressError(f"{text!r} is not text")
    host, port = _split_port(text.strip())
    zone = None
    if "%" in host:
        host, _, zone = host.partition("%")
        if ":" not in host:
            raise AddressError(f"{text!r}: only an IPv6 address takes a zone ('%')")
        if not _ZONE.match(zone):
            raise AddressError(f"{text!r}: the zone after '%' must be one or more letters, digits, '.', '_' or '-'")
    try:
        if ":" in host:
            return Address(6, int.from_bytes(_inet_pton(_AF_INET6, host), "big"), port, zone)
        return Address(4, int.from_bytes(_inet_pton(_AF_INET, host), "big"), port)
    except (OSError, ValueError):  # ValueError: an embedded NUL ("embedded null character")
        raise AddressError(f"{text!r} is not an IP address") from None


def format_address(version: int, value: int, port: int | None = None, zone: str | None = None) -> str:
    """:returns: the canonical text of an address (RFC 5952 for IPv6), with its zone and port if given."""
    if version == 4:
        text = _inet_ntop(_AF_INET, value.to_bytes(4, "big"))
        return text if port is None else f"{text}:{port}"
    text = _inet_ntop(_AF_INET6, value.to_bytes(16, "big"))
    if zone is not None:
        text = f"{text}%{zone}"
    return text if port is None else f"[{text}]:{port}"


def normalise(text: str) -> str:
    """Write an address, network (``a/nn``) or range (``a-b``) in canonical form.

    A port is kept (``1.2.3.4:80``, ``[2001:db8::1]:443``), and so is an IPv6
    zone (``fe80::1%eth0``); a network's host bits are cleared; a range must run
    from low to high within one version. Networks and ranges take no zone.

    :raises AddressError: naming the value and what is wrong.
    """
    if not isinstance(text, str):
        raise AddressError(f"{text!r} is not text")
    text = text.strip()
    if "%" in text:
        # A zone belongs to one address, and may itself hold '-' (br-lan): never a range.
        try:
            address = parse_address(text)
        except AddressError as exc:
            if "/" in text or "-" in text:
                raise AddressError(f"{exc} (networks and ranges take no zone)") from None
            raise
        return format_address(*address)
    if "/" in text:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise AddressError(f"{text!r} is not a network: {exc}") from None
        # Its address written as an address alone is (::ffff:192.0.2.0, not ipaddress's ::ffff:c000:200).
        return f"{format_address(network.version, int(network.network_address))}/{network.prefixlen}"
    if "-" in text:
        low_text, _, high_text = text.partition("-")
        low, high = parse_address(low_text), parse_address(high_text)
        if low.port is not None or high.port is not None:
            raise AddressError(f"{text!r}: a range takes no ports")
        if low.version != high.version:
            raise AddressError(f"{text!r}: range mixes IPv4 and IPv6")
        if low.value > high.value:
            raise AddressError(f"{text!r}: range runs backwards")
        return f"{format_address(low.version, low.value)}-{format_address(high.version, high.value)}"
    return format_address(*parse_address(text))
