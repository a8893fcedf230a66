"""Numbers for connections and datagrams, unique in the process: what keeps event ids unique in a run.

A connection's ids are ``tcp:PEER/N:OFFSET`` and a datagram's ``udp:PEER/N``.
A peer's address and port come back (ports are reused), and two listeners may
hear the same peer, so ``N`` is drawn from one counter for every listener of
the process.
"""

from __future__ import annotations

__all__ = ["reserve"]

_next = 1


def reserve(count: int) -> int:
    """Take ``count`` consecutive numbers. :returns: the first."""
    global _next
    first = _next
    _next += count
    return first
