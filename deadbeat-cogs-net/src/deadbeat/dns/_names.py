"""What is asked: the PTR name of an address, the query name of a host name.

Both are checked here, before anything is sent, so that a value that cannot be
asked about fails alone (its datum goes to the error output, naming the event)
instead of costing a round trip and coming back as a server's refusal.

Addresses are read by ``inet_pton``, as the C library reads them: IPv4 only as
a dotted quad, IPv6 in any of its spellings (zone suffixes such as ``%eth0`` are
not addresses). The PTR name is made from the packed bytes, never from the text,
so ``192.0.2.1`` and ``::ffff:192.0.2.1`` ask about what they are, not about
how they were written.
"""

from __future__ import annotations

import re
import socket

__all__ = ["query_name", "reverse_pointer"]

_pton = socket.inet_pton
_V4, _V6 = socket.AF_INET, socket.AF_INET6

#: A label of a host name as resolvers take it: letters, digits, hyphens and the
#: underscores of service names (``_dmarc``), 1 to 63 of them.
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")


def reverse_pointer(address: str) -> str:
    """The name a PTR query for ``address`` asks about.

    ``"192.0.2.1"`` gives ``"1.2.0.192.in-addr.arpa"``; an IPv6 address gives its
    32 nibbles, reversed, under ``ip6.arpa``.

    :param address: an IPv4 or IPv6 address as text.
    :raises ValueError: for anything that is not one, naming what it was.
    """
    try:
        packed = _pton(_V4, address)
    except (OSError, ValueError):
        # Not IPv4 (ValueError: text with a NUL character, which C cannot take).
        pass
    except TypeError:
        raise ValueError(f"expected an IP address as text, got {type(address).__name__}") from None
    else:
        return f"{packed[3]}.{packed[2]}.{packed[1]}.{packed[0]}.in-addr.arpa"
    try:
        packed = _pton(_V6, address)
    except (OSError, ValueError):
        raise ValueError(f"not an IP address: {address[:100]!r}") from None
    return ".".join(reversed(packed.hex())) + ".ip6.arpa"


def query_name(name: str) -> str:
    """The name a forward query asks about: lower case, without a final dot.

    A name in another script than ASCII is turned into its ASCII form
    (IDNA, ``bücher.example`` gives ``xn--bcher-kva.example``).

    :raises ValueError: for a value that is no host name: not text, empty, longer
        than 253 characters, with an empty label or one longer than 63, or with
        characters a host name cannot hold; the message shows the value.
    """
    if not isinstance(name, str):
        raise ValueError(f"expected a host name as text, got {type(name).__name__}")
    text = name[:-1] if name.endswith(".") else name
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"not a host name (cannot be written in ASCII): {name[:100]!r}") from None
    if not text or len(text) > 253:
        raise ValueError(f"not a host name (empty, or longer than 253 characters): {name[:100]!r}")
    match = _LABEL.match
    for label in text.split("."):
        if not match(label):
            raise ValueError(f"not a host name (label {label[:70]!r}): {name[:100]!r}")
    return text.lower()
