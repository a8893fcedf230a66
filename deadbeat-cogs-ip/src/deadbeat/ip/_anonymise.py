"""The anonymising cog: prefix truncation, Crypto-PAn, keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import logging
import operator
import socket
from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Annotated, Any, Literal

from deadbeat import conf, movement
from deadbeat.plugins import missing_library

from ._address import MAPPED_PREFIX, AddressError, format_address, parse_address
from ._fields import FieldMapper, check_missing, fields_and_getter, setter_for
from ._keys import check_sources, load_key

__all__ = ["Anonymise", "anonymise_base_config"]

MODES = ("truncate", "cryptopan", "hash")
#: The first item (what ``str.rpartition`` finds before the separator).
_FIRST = operator.itemgetter(0)


log = logging.getLogger("deadbeat.ip")


def _ambiguities(fields: Any, key_file: Any, key_env: Any, ip_getter: Any) -> list[str]:
    """Settings of which one would be used and the other ignored, silently: each is refused."""
    problems = []
    if key_file and key_env:
        problems.append("give key_file or key_env, not both: which key is meant?")
    both = fields_and_getter(fields, ip_getter)
    if both is not None:
        problems.append(both)
    return problems


class Anonymise(movement.Cog):
    """Anonymise IP addresses in place: truncation, Crypto-PAn or a keyed hash.

    ``truncate`` keeps the first ``v4_prefix``/``v6_prefix`` bits and zeroes the
    rest. ``cryptopan`` maps every address to another one such that two
    addresses sharing their first *n* bits share exactly *n* bits afterwards.
    ``hash`` replaces each address by an address of the same version derived from
    an HMAC-SHA-256 of it (the same input always gives the same output; no prefix
    is kept). Ports are kept.

    An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) is anonymised as the IPv4
    address it holds, by the IPv4 rules, and keeps its mapped spelling
    (``::ffff:`` and the anonymised IPv4 address): both spellings of one host get
    the same pseudonym. The block ``::ffff:0:0/96`` is thus IPv4 space to
    ``cryptopan``: its IPv6 prefix preservation covers the other IPv6 addresses,
    and its results differ from the reference implementation's in that block
    only. An IPv6 zone (``fe80::1%eth0``) is kept, as written, after the
    anonymised address: zone names are not anonymised.

    Keys come from ``key_file`` or ``key_env``, never from the configuration and
    never into a log or a message, not even when pasted into ``key_file`` or
    ``key_env`` by mistake. A value that is not an address, or a field path that
    cannot apply to the datum (a key into a list, a step into text), makes the
    datum fail as a whole (it goes to the error output), so nothing leaves half
    anonymised; a datum that merely lacks a field is skipped and counted, or
    refused, as ``missing`` says.

    :param fields: field path(s) of the addresses; ``*`` reaches into lists
        (``"Source.*.IP4"`` for IDEA events, where a Source without IP4 is passed
        over); a number is a position in a list.
    :param mode: ``truncate``, ``cryptopan`` or ``hash``.
    :param v4_prefix: IPv4 bits kept by ``truncate`` (for IPv4-mapped IPv6
        addresses too).
    :param v6_prefix: IPv6 bits kept by ``truncate``. Where an IPv6 address
        carries an IPv4 address (6to4, Teredo, NAT64's ``64:ff9b::/96``,
        IPv4-compatible, ISATAP), no more of that IPv4 address is kept than
        ``v4_prefix`` bits: ``2002:c000:0201::1`` gives ``2002:c000:200::``
        by default, not its whole ``192.0.2.1``.
    :param key_file: file with the key: 64 hex digits or 32 raw bytes for
        ``cryptopan``, at least 16 bytes taken as they are for ``hash``; a value
        that names no file is refused, in every mode, without being shown (it
        may be the key itself).
    :param key_env: name of the environment variable with the key (hex, or text
        for ``hash``); a value that is no variable name, or a run of hex digits,
        is refused, in every mode, without being shown.
    :param cache_size: distinct addresses remembered for the keyed modes.
    :param ip_getter: where the address (or list of addresses) is, as a callable
        or a field path, instead of ``fields``.
    :param ip_setter: where the anonymised address goes, with ``ip_getter``; by
        default the same place ``ip_getter`` names when that is a path.
    :param missing: what a datum without the field gets: ``skip`` passes it on
        untouched and counts it (``data without FIELD`` in the run summary),
        ``error`` sends it to the error output.
    """

    config_name = "anonymise"

    one_to_one = True

    @staticmethod
    def missing_requirements(params: Mapping[str, Any]) -> list[str]:
        """For ``deadbeat check``: the keyed modes need a key; ``"cryptopan"`` needs cryptography (looked up)."""
        mode = params.get("mode")
        missing = _ambiguities(
            params.get("fields", "ip"), params.get("key_file"), params.get("key_env"), params.get("ip_getter")
        )
        if mode not in ("cryptopan", "hash"):
            return missing
        if not params.get("key_file") and not params.get("key_env"):
            missing.append(f'mode "{mode}" needs a key: set key_file or key_env')
        if mode == "cryptopan":
            missing += missing_library("cryptography", "deadbeat-cogs-ip[cryptopan]", 'ip.anonymise mode "cryptopan"')
        return missing

    def __init__(
        self,
        fields: str | Sequence[str] = "ip",
        mode: Literal["truncate", "cryptopan", "hash"] = "truncate",
        v4_prefix: Annotated[int, conf.Range(0, 32)] = 24,
        v6_prefix: Annotated[int, conf.Range(0, 128)] = 48,
        key_file: conf.Path | None = None,
        key_env: str | None = None,
        cache_size: Annotated[int, conf.Range(0)] = 65536,
        ip_getter: movement.FieldGetter | None = None,
        ip_setter: movement.FieldSetter | None = None,
        missing: Literal["skip", "error"] = "skip",
    ) -> None:
        check_missing(missing)
        check_sources(key_file, key_env)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        problems = _ambiguities(fields, key_file, key_env, ip_getter)
        if problems:
            raise ValueError(problems[0])
        if mode == "truncate" and (key_file or key_env):
            log.warning("ip.anonymise: mode truncate uses no key; key_file and key_env are not read")
        if not 0 <= v4_prefix <= 32 or not 0 <= v6_prefix <= 128:
            raise ValueError(f"prefixes must be 0..32 and 0..128, not {v4_prefix} and {v6_prefix}")
        self.fields = fields
        self.mode = mode
        self.v4_prefix = v4_prefix
        self.v6_prefix = v6_prefix
        self.key_file = key_file
        self.key_env = key_env
        self.cache_size = cache_size
        self.ip_getter = ip_getter
        self.ip_setter = ip_setter
        self.missing = missing
        self._fields = FieldMapper(fields, ip_getter, setter_for(ip_getter, ip_setter), missing)
        #: Per field, the data that lacked it and were passed on untouched.
        self.counts = self._fields.counts
        self._cache: dict[str, str] = {}
        self._v4_mask = ((1 << v4_prefix) - 1) << (32 - v4_prefix)
        self._v6_mask = ((1 << v6_prefix) - 1) << (128 - v6_prefix)
        if mode == "cryptopan":
            try:
                from ._cryptopan import CryptoPAn
            except ImportError as exc:
                raise ImportError(
                    f'ip.anonymise mode "cryptopan" needs cryptography, which cannot be imported ({exc}):'
                    " pip install 'deadbeat-cogs-ip[cryptopan]'"
                ) from None

            self._pan = CryptoPAn(load_key(key_file, key_env, 32))
            self._one = self._cryptopan
        elif mode == "hash":
            self._hash_key = load_key(key_file, key_env, None)
            self._one = self._hashed
        else:
            self._one = self._truncate
        self.anonymise = self._fast_path()
        self._apply = self._fields.bind(self.anonymise)
        self._apply_general = self._fields.general(self.anonymise)
        self._plain_key = self._fields.plain_key
        self._cache_get = self._cache.get

    def __call__(self, data: Any) -> tuple[Any, ...]:
        # The hot case inline: one plain field holding one address, already in
        # the cache (keyed modes) or truncated by the fast path. A datum without
        # the key (or not a mapping) takes the general path, which tells a
        # missing field (skip and count, or raise) from a path that cannot apply.
        key = self._plain_key
        if key is not None:
            try:
                value = data[key]
            except (LookupError, TypeError):
                return (self._apply_general(data),)
            if type(value) is str:
                result = self._cache_get(value)
                data[key] = result if result is not None else self.anonymise(value, key)
                return (data,)
        return (self._apply(data),)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Anonymise a whole list: the same as one call per datum.

        The hot case (one plain field, every datum a mapping holding an address
        there as text) runs as list comprehensions: for /8, /16 and /24
        truncation a check by ``inet_pton`` and a cut of the text, for the keyed
        modes one cache look-up each. Anything else (missing fields, lists of
        addresses, ports, IPv6, cache misses, bad values) goes datum by datum.
        """
        key = self._plain_key
        if key is None:
            raise movement.OneByOne
        try:
            values = [datum[key] for datum in data]
        except (LookupError, TypeError):
            raise movement.OneByOne from None  # a missing field is counted (once) datum by datum
        results = self._list_results(values)
        if results is None:
            raise movement.OneByOne
        movement.exhaust(map(operator.setitem, data, repeat(key), results))
        return data

    def _list_results(self, values: list[Any]) -> list[str] | None:
        """The anonymised ``values`` when every one takes the fast way; else ``None``."""
        if not movement.only(values, str):
            return None
        if self.mode == "truncate" and self.v4_prefix == 24:
            try:
                # A dotted quad that inet_pton accepts is canonical: /24 is a cut
                # of the text. Both steps at C speed: the check of every
                # address, then what is before the last dot, and ".0".
                movement.exhaust(map(socket.inet_pton, repeat(socket.AF_INET), values))
            except (OSError, ValueError):  # (ValueError: a NUL in the text) each is looked at on its own
                return None
            heads = map(_FIRST, map(str.rpartition, values, repeat(".")))
            return list(map(operator.add, heads, repeat(".0")))
        if self.mode == "truncate":
            one = self.anonymise
            return [one(v) for v in values]
        found = list(map(self._cache_get, values))
        if None in found:
            return None
        return found  # type: ignore[return-value]

    def _fast_path(self) -> Any:
        """Build the per-address function: the common case first, with no detour.

        Truncation of a plain IPv4 address is a parse, a mask and a format, all
        in C; the keyed modes answer repeats from the cache. Everything else
        (ports, IPv6, cache misses, errors) takes :meth:`_anonymise`.
        """
        slow = self._anonymise
        if self.mode == "truncate":
            pton, ntop, family, mask = socket.inet_pton, socket.inet_ntop, socket.AF_INET, self._v4_mask
            from_bytes = int.from_bytes
            if self.v4_prefix in (8, 16, 24):
                # A dotted quad that inet_pton accepts is already canonical (no
                # leading zeros), so a byte-aligned prefix is a cut of the text.
                octets = self.v4_prefix // 8
                zeros = ".0" * (4 - octets)

                def truncate_aligned(text: str, path: str = "") -> str:
                    try:
                        pton(family, text)
                    except (OSError, TypeError, ValueError):
                        return slow(text, path)
                    if octets == 3:
                        return text[: text.rfind(".")] + zeros
                    cut = text.find(".")
                    if octets == 2:
                        cut = text.find(".", cut + 1)
                    return text[:cut] + zeros

                return truncate_aligned

            def truncate(text: str, path: str = "") -> str:
                try:
                    return ntop(family, (from_bytes(pton(family, text), "big") & mask).to_bytes(4, "big"))
                except (OSError, TypeError, ValueError):
                    return slow(text, path)

            return truncate
        cache_get = self._cache.get

        def cached(text: str, path: str = "") -> str:
            try:
                result = cache_get(text)
            except TypeError:  # a list or mapping where an address was expected: the parser names it
                result = None
            return result if result is not None else slow(text, path)

        return cached

    def _anonymise(self, text: str, path: str = "") -> str:
        """Anonymise one address (with its port and zone, if it has them).

        An IPv4-mapped IPv6 address is anonymised as its IPv4 address and written
        mapped again: ``::ffff:a.b.c.d`` gives ``::ffff:`` and the pseudonym of
        ``a.b.c.d``.

        :raises AddressError: naming the field and the value.
        """
        try:
            address = parse_address(text)
        except AddressError as exc:
            raise AddressError(f"field {path!r}: {exc}" if path else str(exc)) from None
        version, value = address.version, address.value
        if version == 6 and value >> 32 == 0xFFFF:
            value = MAPPED_PREFIX | self._one(4, value & 0xFFFFFFFF)
        else:
            value = self._one(version, value)
            if version == 6 and self.mode == "cryptopan":
                # Crypto-PAn permutes all of IPv6, so some /96 of ordinary addresses lands in
                # ::ffff:0:0/96, where the pseudonyms of mapped addresses are. Walked on (encrypted
                # again) until outside it, such a pseudonym stays one host's: the walk follows a
                # permutation's cycle, which leaves that /96 again before it comes back to its start.
                while value >> 32 == 0xFFFF:
                    value = self._one(6, value)
        result = format_address(version, value, address.port, address.zone)
        if self.mode != "truncate" and self.cache_size > 0:
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
            self._cache[text] = result
        return result

    def _truncate(self, version: int, value: int) -> int:
        if version == 4:
            return value & self._v4_mask
        offset = embedded_ipv4_offset(value)
        if offset is None or self.v6_prefix <= offset + self.v4_prefix:
            return value & self._v6_mask
        # An IPv4 address inside (6to4's 2002:AABB:CCDD::/48 holds all of it in
        # the default 48 bits): no more of it is kept than v4_prefix says.
        keep = offset + self.v4_prefix
        return value & (((1 << keep) - 1) << (128 - keep))

    def _cryptopan(self, version: int, value: int) -> int:
        return self._pan.anonymise_v4(value) if version == 4 else self._pan.anonymise_v6(value)

    def _hashed(self, version: int, value: int) -> int:
        size = 4 if version == 4 else 16
        digest = hmac.new(self._hash_key, value.to_bytes(size, "big") + bytes([version]), hashlib.sha256).digest()
        return int.from_bytes(digest[:size], "big")


def embedded_ipv4_offset(value: int) -> int | None:
    """:returns: where an IPv6 address (as an integer) carries an IPv4 address, in bits from the left; ``None``.

    6to4 (``2002::/16``, RFC 3056): bits 16-48. Teredo (``2001::/32``, RFC
    4380): the client's address, inverted, in bits 96-128. The NAT64
    well-known prefix (``64:ff9b::/96``, RFC 6052), IPv4-compatible addresses
    (``::a.b.c.d``) and ISATAP interface identifiers (``...:0:5efe:a.b.c.d``,
    ``200:5efe``, RFC 5214): bits 96-128. (IPv4-mapped addresses are
    anonymised as IPv4 addresses before this.)
    """
    top16 = value >> 112
    if top16 == 0x2002:
        return 16
    if value >> 96 == 0x20010000 or value >> 32 == 0x0064FF9B0000000000000000:
        return 96
    if value >> 32 == 0 and value >> 16 != 0:  # ::a.b.c.d, not :: or ::1
        return 96
    if (value >> 32) & 0xFDFFFFFF == 0x00005EFE:  # ISATAP interface id: [02]00:5efe
        return 96
    return None


#: The recommended config insert of :class:`Anonymise` (an ``[anonymise]``
#: section), derived from its signature like every cog's.
anonymise_base_config = Anonymise.config_insert
