"""Reading anonymisation keys from a file or the environment, never from the config itself."""

from __future__ import annotations

import binascii
import os

__all__ = ["KeyError_", "load_key"]


class KeyError_(ValueError):  # noqa: N801 - not the builtin KeyError
    """A key is missing, unreadable or of the wrong size; the message never holds the key."""


def load_key(key_file: str | None, key_env: str | None, size: int | None, minimum: int = 16) -> bytes:
    """Read a key: raw bytes from ``key_file``, or hex (or raw) text from ``$key_env``.

    A file or variable holding exactly ``2 * size`` hexadecimal digits (after
    stripping white space), or a variable holding hex digits, is decoded as hex;
    otherwise the bytes are the key.

    :param size: the exact size required, or ``None`` for at least ``minimum``.
    :raises KeyError_: naming the source and the sizes, never the key.
    """
    if key_file:
        try:
            with open(key_file, "rb") as handle:
                raw = handle.read()
        except OSError as exc:
            raise KeyError_(f"key file {key_file}: cannot read: {exc.strerror}") from None
        source = f"key file {key_file}"
    elif key_env:
        text = os.environ.get(key_env)
        if text is None:
            raise KeyError_(f"environment variable {key_env} is not set")
        raw = text.encode()
        source = f"environment variable {key_env}"
    else:
        raise KeyError_("no key given: set key_file or key_env")
    key = _maybe_hex(raw, size, from_env=not key_file)
    if size is not None and len(key) != size:
        raise KeyError_(f"{source}: the key must be {size} bytes (or {2 * size} hex digits), not {len(key)} bytes")
    if size is None and len(key) < minimum:
        raise KeyError_(f"{source}: the key must be at least {minimum} bytes, not {len(key)}")
    return key


def _maybe_hex(raw: bytes, size: int | None, from_env: bool) -> bytes:
    """Hex text is decoded when it can only be meant as hex.

    That is: exactly twice the required size in hex digits, or any hex from an
    environment variable (which cannot hold arbitrary bytes). A raw key file of
    a size-free key (the hash mode) is always taken as it is.
    """
    stripped = raw.strip()
    if (size is not None and len(stripped) == 2 * size) or (from_env and size is None):
        try:
            return binascii.unhexlify(stripped)
        except (binascii.Error, ValueError):
            pass
    return raw
