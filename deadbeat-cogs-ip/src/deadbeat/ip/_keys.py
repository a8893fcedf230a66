"""Reading anonymisation keys from a file or the environment, never from the config itself.

What a source may hold:

* a Crypto-PAn key (exactly 32 bytes): 64 hex digits (white space at the ends
  is ignored), from a file or a variable; anything else is taken byte for byte
  and must be exactly 32 bytes;
* a hash key (at least 16 bytes): from a variable, hex digits (an even number of
  them) are decoded, any other text is taken as its bytes; a file is always
  taken byte for byte, hex digits and line end included.

What is never shown, in a message or a log line: the key, and a ``key_env`` or
``key_file`` value that may be the key itself, pasted there by mistake. Such a
value is refused before anything else happens, in every mode
(:func:`check_sources`), since ``str(cog)`` would show it in every log line: a
``key_env`` that is not the name of an environment variable (letters, digits
and ``_``, not starting with a digit) or that is a run of 16 or more hex digits;
a ``key_file`` that names no file (a pipeline file makes a pasted key a path
below its directory, so the test is whether the file exists, not how the value
reads). Every other value is a variable name or an existing file, and messages
name it so that it can be found.
"""

from __future__ import annotations

import binascii
import logging
import os
import re

from deadbeat.daemon import trusted_owner

from ._regular import open_regular

__all__ = ["KeyError_", "KeyFileError", "check_sources", "load_key"]

log = logging.getLogger("deadbeat.ip")

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{16,}\Z")
_HEX_BYTES = re.compile(rb"[0-9A-Fa-f]+\Z")
#: A name without '_' at least this long may be a key pasted in: not shown.
_LONGEST_SHOWN_NAME = 16


class KeyFileError(ValueError):
    """A key is missing, unreadable or of the wrong size; the message never holds the key."""


#: The former name, kept for imports of it.
KeyError_ = KeyFileError


def check_sources(key_file: str | os.PathLike[str] | None, key_env: str | None) -> None:
    """Refuse a ``key_env`` or ``key_file`` that may be a key pasted in by mistake, without showing it.

    :raises KeyFileError: saying which parameter and why, never its value.
    """
    if key_env and (not _ENV_NAME.match(key_env) or _HEX_RUN.match(key_env)):
        raise KeyFileError(
            "key_env must be the name of an environment variable (letters, digits and _, not starting with a"
            " digit, and not a run of hex digits); the value given is not one, and it is not shown here in case"
            " it is the key itself: put the key in a variable, and the variable's name in key_env"
        )
    if key_file and not os.path.exists(key_file):
        raise KeyFileError(
            "key_file names no file; the value is not shown here in case it is the key itself rather than a"
            " path: put the key in a file, and the file's path in key_file"
        )


def load_key(key_file: str | None, key_env: str | None, size: int | None, minimum: int = 16) -> bytes:
    """Read a key: raw bytes or hex from ``key_file``, or hex (or raw) text from ``$key_env``.

    A file or variable holding exactly ``2 * size`` hexadecimal digits (after
    stripping white space), or, for a key of no fixed size, a variable holding
    an even number of hex digits, is decoded as hex; otherwise the bytes are the
    key. Hex digits taken as bytes for want of the right count are reported by
    a warning (which names the counts, never the digits).

    :param size: the exact size required, or ``None`` for at least ``minimum``.
    :raises KeyFileError: naming the source, the size required and what the source
        holds (in hex digits and bytes), never the key.
    """
    check_sources(key_file, key_env)
    if key_file:
        try:
            with open_regular(key_file, "rb") as handle:
                st = os.fstat(handle.fileno())
                mode = st.st_mode
                raw = handle.read()
        except OSError as exc:
            raise KeyFileError(f"key file {key_file}: cannot read: {exc.strerror}") from None
        if not trusted_owner(st.st_uid):
            raise KeyFileError(
                f"key file {key_file}: owned by another user (uid {st.st_uid}), who could change the key; not used"
            )
        if mode & 0o077:
            # Not refused (the operator may have reasons), but said: a key others can read is no secret.
            log.warning(
                "key file %s can be read or written by its group or others (mode %o); chmod 600 it",
                key_file,
                mode & 0o777,
            )
        source = f"key file {key_file}"
    elif key_env:
        text = os.environ.get(key_env)
        if text is None:
            if len(key_env) >= _LONGEST_SHOWN_NAME and "_" not in key_env:
                # Long, and without the '_' of a variable's name: perhaps a key pasted in its place.
                raise KeyFileError(
                    f"the environment variable key_env names ({len(key_env)} characters, not shown here in case"
                    " it is a key) is not set"
                )
            raise KeyFileError(f"environment variable {key_env} is not set")
        raw = os.fsencode(text)  # the bytes as they were, even if not UTF-8
        source = f"environment variable {key_env}"
    else:
        raise KeyFileError("no key given: set key_file or key_env")
    from_env = not key_file
    key = _maybe_hex(raw, size, from_env)
    if size is not None and len(key) != size:
        raise KeyFileError(
            f"{source}: the key must be {size} bytes, written as {2 * size} hex digits or as {size} raw bytes;"
            f" it holds {_holding(raw)}"
        )
    if size is None and len(key) < minimum:
        if from_env:
            wanted = f"at least {minimum} bytes, written as {2 * minimum} or more hex digits or as text"
        else:
            wanted = f"at least {minimum} bytes, and a key file for it is taken byte for byte, hex digits or not"
        raise KeyFileError(f"{source}: the key must be {wanted}; it holds {_holding(raw, decoded=from_env)}")
    if key is raw and _HEX_BYTES.match(raw.strip()) and (size is not None or from_env):
        digits = len(raw.strip())
        log.warning(
            "%s holds %d hex digits, which are taken as %d bytes of text, not decoded: %s",
            source,
            digits,
            len(raw),
            f"a key of {size} bytes in hex is {2 * size} digits" if size is not None else "an odd number",
        )
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


def _holding(raw: bytes, decoded: bool = True) -> str:
    """What a key source holds, in words: its size in hex digits and bytes, never its content.

    :param decoded: whether hex digits would have been decoded (else only bytes count).
    """
    stripped = raw.strip()
    if not raw:
        return "nothing"
    if not stripped:
        return f"only white space ({len(raw)} bytes)"
    around = len(raw) - len(stripped)
    ends = f", {around} of them white space at the ends" if around else ""
    if _HEX_BYTES.match(stripped):
        digits = len(stripped)
        if not decoded:
            return f"{len(raw)} bytes{ends}, {digits} of them hex digits"
        if digits % 2:
            return f"{digits} hex digits, an odd number (two digits make a byte)"
        return f"{digits} hex digits ({digits // 2} bytes)"
    words = stripped.split()
    if decoded and len(words) > 1 and all(_HEX_BYTES.match(word) for word in words):
        return f"{len(raw)} bytes of hex digits with white space between them (write the digits without spaces)"
    return f"{len(raw)} bytes that are not all hex digits{ends}"
