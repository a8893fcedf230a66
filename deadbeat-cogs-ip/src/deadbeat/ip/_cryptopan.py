"""Crypto-PAn: prefix-preserving anonymisation of IP addresses (Xu, Fan, Ammar, Moon, 2002).

Two addresses sharing their first *n* bits are anonymised to two addresses sharing
exactly their first *n* bits. Bit *i* of the output is bit *i* of the input flipped
by the first bit of AES(key, first *i* input bits followed by a secret pad). The
32-byte key splits into the AES-128 key (first half) and the pad's seed (second
half), as in the authors' reference implementation, so results are the same as
theirs and other implementations' for the same key.

Speed. For an address, every AES input depends only on the input address, never
on earlier outputs, so all 32 (IPv4) or 128 (IPv6) blocks are built at once and
encrypted in a single ECB call; the first byte of each output block is then taken
by slicing. That is one call into the AES library per address instead of 32.
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["CryptoPAn", "KEY_BYTES"]

KEY_BYTES = 32
_BITS = bytes.maketrans(bytes(range(256)), b"0" * 128 + b"1" * 128)


class CryptoPAn:
    """Anonymise IPv4 and IPv6 addresses (as integers) with one 32-byte key.

    :param key: 32 bytes.
    :raises ValueError: for a key of another size.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a Crypto-PAn key is {KEY_BYTES} bytes, not {len(key)}")
        self._encrypt = Cipher(algorithms.AES(key[:16]), modes.ECB()).encryptor().update
        pad = self._encrypt(key[16:])
        self._pad = int.from_bytes(pad, "big")
        pad_v4_head = int.from_bytes(pad[:4], "big")
        # IPv4: the address sits in the top 32 bits of the 128-bit block, so
        # only the first 4 bytes of each block vary; the other 12 are the pad's.
        self._v4_tail = pad[4:]
        self._v4_steps = [(32 - pos, pad_v4_head & (0xFFFFFFFF >> pos)) for pos in range(32)]
        self._v4_pack = struct.Struct(">" + "I12s" * 32).pack
        mask = (1 << 128) - 1
        self._v6_steps = [(128 - pos, self._pad & (mask >> pos)) for pos in range(128)]
        self._v6_pack = struct.Struct(">" + "QQ" * 128).pack

    def anonymise_v4(self, address: int) -> int:
        """:returns: the anonymised IPv4 address, as an integer."""
        tail = self._v4_tail
        fields: list[int | bytes] = []
        for shift, pad in self._v4_steps:
            fields.append(((address >> shift) << shift) | pad)
            fields.append(tail)
        out = self._encrypt(self._v4_pack(*fields))
        return address ^ int(out[::16].translate(_BITS), 2)

    def anonymise_v6(self, address: int) -> int:
        """:returns: the anonymised IPv6 address, as an integer."""
        fields: list[int] = []
        for shift, pad in self._v6_steps:
            block = ((address >> shift) << shift) | pad if shift < 128 else pad
            fields.append(block >> 64)
            fields.append(block & 0xFFFFFFFFFFFFFFFF)
        out = self._encrypt(self._v6_pack(*fields))
        return address ^ int(out[::16].translate(_BITS), 2)
