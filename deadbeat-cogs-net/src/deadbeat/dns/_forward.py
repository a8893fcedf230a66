"""The forward lookup cog: the addresses (or mail exchangers, or texts) of a host name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from deadbeat import conf, movement

from ._lookup import Lookup, Question
from ._names import query_name

__all__ = ["ForwardLookup", "RECORD_TYPES"]

#: The record types a forward lookup may ask for, with their numbers.
RECORD_TYPES = {"A": 1, "AAAA": 28, "MX": 15, "TXT": 16}


class ForwardLookup(Lookup):
    """Put the addresses of each datum's host name into it, from A and AAAA lookups (or MX, TXT).

    The name is read with ``name_getter``; the result, a list, goes where
    ``result_setter`` says: the values of every record type asked, in the
    order of ``record_types`` (addresses as text; for MX the mail exchangers'
    names, most preferred first; for TXT the texts). For example, with the
    defaults, ``{"hostname": "two.example"}`` becomes ``{"hostname":
    "two.example", "addresses": ["192.0.2.2", "2001:db8::2"]}``::

        [[cog]]
        use = "dns.forward"
        servers = ["127.0.0.1:5353"]
        record_types = ["MX"]
        result_setter = "mail_exchangers"

    Names are asked as given, never completed with the search domains of
    ``/etc/resolv.conf``; names in other scripts are asked in their ASCII
    (IDNA) form. Each record type is one question; a lookup ends when every
    one is answered, and its result holds what they found (when nothing was
    found, ``not_found`` applies). A lookup where one question failed and
    another found records gives what was found, uncached.

    Everything else works as for ``dns.reverse``: questions in flight bounded
    by ``max_in_flight``, a cache of positive and negative answers, order as
    answered or as they came (``keep_order``), failures marked and logged at a
    limited rate, and every held datum sent on at shutdown within ``timeout``.
    A value that is not a host name goes to the error output; a missing, empty
    or null one goes on unchanged. Each datum gets a list of its own. See
    ``dns.reverse`` for what c-ares does with late, mismatched, truncated and
    malformed replies.

    :param train: the Train (to hold data and send them on when answered).
    :param name_getter: where the host name is (callable or field path).
    :param result_setter: where the list of results goes (callable or field path).
    :param record_types: what to ask for, among A, AAAA, MX and TXT.
    :param servers: resolver addresses, each ``ADDRESS`` or ``ADDRESS:PORT``
        (``[ADDRESS]:PORT`` for IPv6); empty for the system's ``/etc/resolv.conf``.
    :param port: the port of servers given without one.
    :param timeout: seconds a lookup waits for its answers before its data go on
        as failed (and the longest ``finish`` waits at shutdown).
    :param retries: how many more times a question may be sent when its answer
        is late; none to ask a few times, then once more alone, waiting for the
        whole ``timeout``.
    :param max_in_flight: questions out at once, at most (a lookup asks one
        per record type); further lookups wait in a queue.
    :param keep_order: send data on in the order they came; false sends each as
        soon as it is done.
    :param cache_size: answers kept, at most (positive and negative together).
    :param max_ttl: seconds an answer is kept at most, whatever its TTL.
    :param negative_ttl: seconds a "no such name" or "no such record" answer is kept.
    :param not_found: what ``result_setter`` gets when nothing was found; none
        leaves the datum unchanged.
    :param failed: what ``result_setter`` gets when no answer could be had; none
        leaves the datum unchanged.
    :param id_getter: how to read a datum's event id for log lines (callable or
        field path); none names the id the train knows (the supply's, as in
        error records and dead letters, else the train's ``id_getter``).
    """

    public_name = "dns.forward"
    key_noun = "a host name"
    config_name = "forward_lookup"
    copies_value = True

    def __init__(
        self,
        train: movement.Train,
        name_getter: movement.FieldGetter = "hostname",
        result_setter: movement.FieldSetter = "addresses",
        record_types: Sequence[Literal["A", "AAAA", "MX", "TXT"]] = ("A", "AAAA"),
        servers: Sequence[str] = (),
        port: Annotated[int, conf.Range(1, 65535)] = 53,
        timeout: Annotated[float, conf.Range(0, above=True)] = 3.0,
        retries: Annotated[int, conf.Range(0)] | None = None,
        max_in_flight: Annotated[int, conf.Range(1)] = 1000,
        keep_order: bool = False,
        cache_size: Annotated[int, conf.Range(0)] = 100_000,
        max_ttl: Annotated[float, conf.Range(0)] = 86_400.0,
        negative_ttl: Annotated[float, conf.Range(0)] = 300.0,
        not_found: str | None = None,
        failed: str | None = None,
        id_getter: movement.FieldGetter | None = None,
    ) -> None:
        if isinstance(record_types, str):
            raise TypeError('record_types must be a list, such as ["A", "AAAA"], not one string')
        types = list(dict.fromkeys(record_types))
        unknown = [t for t in types if t not in RECORD_TYPES]
        if unknown or not types:
            raise ValueError(f"record_types must be some of {', '.join(RECORD_TYPES)}, not {list(record_types)}")
        self.train = train
        self.name_getter = name_getter
        self.result_setter = result_setter
        self.record_types = types
        self.servers = list(servers) if not isinstance(servers, str) else servers
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.max_in_flight = max_in_flight
        self.keep_order = keep_order
        # For the conformance kit and readers: data go on as answered, not in order.
        self.ordered = keep_order
        self.cache_size = cache_size
        self.max_ttl = max_ttl
        self.negative_ttl = negative_ttl
        self.not_found = not_found
        self.failed = failed
        self.id_getter = id_getter
        self._types = [RECORD_TYPES[t] for t in types]
        self._setup(
            train,
            name_getter,
            result_setter,
            servers=servers,
            port=port,
            timeout=timeout,
            retries=retries,
            max_in_flight=max_in_flight,
            keep_order=keep_order,
            cache_size=cache_size,
            max_ttl=max_ttl,
            negative_ttl=negative_ttl,
            not_found=not_found,
            failed=failed,
            id_getter=id_getter,
            questions_per_key=len(types),
        )

    def _questions(self, key: Any) -> list[Question]:
        name = query_name(key)
        return [(name, qtype) for qtype in self._types]

    def _value(self, found: list[list[Any]]) -> Any:
        values: list[Any] = []
        for qtype, part in zip(self._types, found, strict=True):
            if qtype == RECORD_TYPES["MX"]:
                values += [exchange for _, exchange in sorted(part)]
            else:
                values += part
        return tuple(values) if values else None
