"""Credentials for HTTP requests, kept out of log lines.

``str(cog)`` shows a cog's arguments in every log line about it, and error
messages name the URL. Tokens travel in headers (``Authorization``), in the
URL's user information (``https://user:password@host``) or in its query
(``?api_key=...``), so what a log line shows is a copy with those values replaced
by ``***``. Headers are best kept in a file of their own (``headers_file``),
readable only by the daemon's user; the file's name may be logged, its content
never is, not even in the message about a malformed line.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

__all__ = ["HeadersFileError", "read_headers_file", "shown_headers", "shown_url"]

log = logging.getLogger("deadbeat.http")

MASK = "***"

#: Words that make a header's value secret when they are part of its name.
_SECRET_WORDS = ("authorization", "auth", "cookie", "token", "key", "secret", "password", "signature", "credential")
#: What RFC 9110 allows in a header name.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class HeadersFileError(ValueError):
    """A headers file that cannot be read or has a malformed line; never quotes the file's content."""


def is_secret_header(name: str) -> bool:
    """Whether a header called ``name`` is likely to carry a credential."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def shown_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """:returns: ``headers`` as a log line may show them: values of credential-like headers masked."""
    return {name: MASK if is_secret_header(name) else value for name, value in headers.items()}


def shown_url(url: str) -> str:
    """:returns: ``url`` as a log line may show it: a password and every query value masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        name = user.partition(":")[0]
        netloc = f"{name}:{MASK}@{host}" if ":" in user else f"{name}@{host}"
    query = "&".join(
        f"{pair.partition('=')[0]}={MASK}" if "=" in pair else pair for pair in parts.query.split("&") if pair
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def check_header(name: str, value: str, where: str) -> None:
    """Refuse a header that is not one: a name outside RFC 9110's characters, a line break in the value.

    :raises ValueError: naming ``where`` and the header's name, never its value.
    """
    if not _TOKEN.match(name):
        raise ValueError(f"{where}: {name!r} is not a valid header name")
    if any(char in value for char in "\r\n\x00"):
        raise ValueError(f"{where}: the value of header {name!r} holds a line break or NUL")


def read_headers_file(path: str) -> dict[str, str]:
    """Read ``Name: value`` lines (blank lines and lines starting with ``#`` are skipped).

    A file that its group or others may read is used, with a warning: a token
    others can read is no secret.

    :raises HeadersFileError: naming the file and the line number, never a value.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            text = handle.read()
    except OSError as exc:
        raise HeadersFileError(f"headers file {path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise HeadersFileError(f"headers file {path}: not UTF-8 text") from None
    if mode & 0o077:
        log.warning(
            "headers file %s can be read or written by its group or others (mode %o); chmod 600 it",
            path,
            mode & 0o777,
        )
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, colon, value = stripped.partition(":")
        name = name.strip()
        if not colon or not name:
            raise HeadersFileError(f"headers file {path}, line {number}: expected 'Name: value'")
        try:
            check_header(name, value.strip(), f"headers file {path}, line {number}")
        except ValueError as exc:
            raise HeadersFileError(str(exc)) from None
        headers[name] = value.strip()
    return headers
