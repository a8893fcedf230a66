"""Parameter values as messages may show them: secrets masked.

Everything that shows a cog's parameters masks them here, the same way, whatever
the cog: ``str(cog)`` of a :class:`~deadbeat.movement.Cog` (which every log line
and dead letter about the cog repeats) through :func:`masked`, and what shows a
parameter before any cog is built (``deadbeat run --explain``, ``deadbeat
check``, a value a cast refuses) through :func:`shown`. Hidden are:

* the value of a parameter named like a secret (:func:`is_secret_name`);
* a key pasted where the name of its source belongs: a ``*key*_env`` (or
  ``*token*_env``...) that is not the name of an environment variable, or a run
  of hex digits; a ``*key*_file`` or ``*_path`` naming no file
  (:func:`may_be_pasted_key`);
* in any text holding ``scheme://``, the password of the user information and
  every query value (``http://admin:***@host/?token=***``);
* in a table (``headers = {Authorization = "..."}``), the value of every key
  that names a credential (:func:`is_secret_key`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "MASK",
    "SECRET_WORDS",
    "is_secret_key",
    "is_secret_name",
    "may_be_pasted_key",
    "masked",
    "shown",
    "source_kind",
]

MASK = "***"

#: Parameter names with one of these words (between underscores) are never shown
#: by ``str(cog)``: keys and passwords must not end up in logs.
SECRET_WORDS = ("key", "secret", "password", "passwd", "token", "credential", "credentials", "apikey")

#: Parts of a table key (a header's name) that make its value a credential.
_SECRET_PARTS = (
    "authorization",
    "auth",
    "cookie",
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "signature",
    "credential",
)
_SOURCE_ENDS = ("file", "env", "path")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{16,}\Z")
#: A variable's name without '_' at least this long may be a key pasted in (an
#: unpadded base64 key of letters and digits): not shown, as ip.anonymise does not show it.
_LONGEST_SHOWN_NAME = 16
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def is_secret_name(name: str) -> bool:
    """``key``, ``api_key``, ``hmac_key_hex`` are secret; ``sort_keys``, ``monkey`` and ``key_file`` are not."""
    words = name.lower().split("_")
    return any(word in SECRET_WORDS for word in words) and words[-1] not in _SOURCE_ENDS


def is_secret_key(name: str) -> bool:
    """Whether a table key (a header's name, ``Authorization``, ``X-Api-Key``) names a credential."""
    lowered = name.lower()
    return is_secret_name(lowered.replace("-", "_")) or any(part in lowered for part in _SECRET_PARTS)


def source_kind(name: str) -> str | None:
    """``"env"``, ``"file"`` or ``"path"`` for ``key_env``, ``password_file``, ``token_path``; else ``None``."""
    words = name.lower().split("_")
    if len(words) > 1 and words[-1] in _SOURCE_ENDS and any(word in SECRET_WORDS for word in words[:-1]):
        return words[-1]
    return None


def may_be_pasted_key(name: str, value: Any) -> bool:
    """Whether ``value`` of the parameter ``name`` (a ``key_env``, a ``key_file``) may be a key pasted there.

    A variable's name must read as one (letters, digits and ``_``, not a run of
    16 or more hex digits, and not 16 or more characters without any ``_``, as
    an unpadded base64 key can be); a file must exist, as a pasted key names none (a
    pipeline file turns it into a path below its directory).
    """
    source = source_kind(name)
    if source is None or not isinstance(value, str) or not value:
        return False
    if source == "env":
        return (
            not _ENV_NAME.match(value)
            or bool(_HEX_RUN.match(value))
            or (len(value) >= _LONGEST_SHOWN_NAME and "_" not in value)
        )
    return not os.path.exists(value)


def _shown_url(text: str) -> str:
    """``text`` holding a URL: its password and query values masked."""
    start = _URL.search(text)
    if start is None:
        return text
    try:
        parts = urlsplit(text[start.start() :])
    except ValueError:
        return text[: start.start()] + "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        name = user.partition(":")[0]
        netloc = f"{name}:{MASK}@{host}" if ":" in user else f"{name}@{host}"
    query = "&".join(
        f"{pair.partition('=')[0]}={MASK}" if "=" in pair else pair for pair in parts.query.split("&") if pair
    )
    return text[: start.start()] + urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment and MASK))


def masked(name: str, value: Any, depth: int = 0) -> Any:
    """:returns: ``value`` of the parameter (or table key) ``name``, with what may be secret replaced by ``***``."""
    if value is None or (isinstance(value, (bool, int, float)) and not is_secret_name(name)):
        return value
    if is_secret_name(name) or may_be_pasted_key(name, value):
        return MASK
    if depth > 16:
        return "..."
    if isinstance(value, str):
        return _shown_url(value) if "://" in value else value
    if isinstance(value, Mapping):
        return {
            k: MASK if isinstance(k, str) and is_secret_key(k) and v is not None else masked(str(k), v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [masked(name, item, depth + 1) for item in value]
    if isinstance(value, tuple):
        items = [masked(name, item, depth + 1) for item in value]
        if type(value) is not tuple and hasattr(value, "_make"):
            try:
                return value._make(items)  # a named tuple stays one
            except Exception:  # noqa: BLE001 - shown as a plain tuple then
                pass
        return tuple(items)
    if type(value) in (set, frozenset):
        # What a cog made of a list it was given (str(cog) shows its attributes).
        return type(value)(masked(name, item, depth + 1) for item in value)
    return value


def shown(name: str, value: Any) -> str:
    """:returns: ``repr`` of :func:`masked`: how a message shows the parameter ``name``."""
    return repr(masked(name, value))
