"""DNS enrichment cogs: reverse and forward lookups that never block the train.

================  ===============  ================================================
name              class            what it does
================  ===============  ================================================
``dns.reverse``   ReverseLookup    the host name of an IP address (PTR)
``dns.forward``   ForwardLookup    the addresses of a host name (A, AAAA; MX, TXT)
================  ===============  ================================================

Both hold each datum while its lookup is out (the Train's ``hold``/``release``),
answer from a cache of positive and negative answers, bound the questions in
flight, and send data on from their own position when the answers come. They
talk to the resolvers through c-ares, driven by the Escapement's own descriptor
callbacks and timers; pycares, its Python binding, comes with the ``dns`` extra
(``pip install 'deadbeat-cogs-net[dns]'``) and is imported only when a cog is
made, so listing and documenting the cogs works without it.
"""

from ._cache import NOT_FOUND, AnswerCache
from ._forward import RECORD_TYPES, ForwardLookup
from ._lookup import Lookup
from ._names import query_name, reverse_pointer
from ._resolver import Resolver, server_list, shared_tries, tries_for
from ._reverse import ReverseLookup

__all__ = [
    "NOT_FOUND",
    "RECORD_TYPES",
    "AnswerCache",
    "ForwardLookup",
    "Lookup",
    "Resolver",
    "ReverseLookup",
    "query_name",
    "reverse_pointer",
    "server_list",
    "shared_tries",
    "tries_for",
]
