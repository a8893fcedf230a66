"""The reverse lookup cog: the host name of an address, by its PTR record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from deadbeat import conf, movement

from ._lookup import Lookup, Question
from ._names import reverse_pointer

__all__ = ["ReverseLookup"]

_PTR = 12


class ReverseLookup(Lookup):
    """Put the host name of each datum's IP address into it, from a PTR lookup.

    The address is read with ``ip_getter`` (IPv4 or IPv6, as text); the first
    name of the PTR answer, without its final dot, goes where ``name_setter``
    says. For example, with the defaults, ``{"ip": "192.0.2.1"}`` becomes
    ``{"ip": "192.0.2.1", "hostname": "one.example"}``::

        [[cog]]
        use = "dns.reverse"
        servers = ["127.0.0.1:5353"]
        failed = "unresolved"

    Lookups run side by side, at most ``max_in_flight`` questions at once, the
    rest queued (their data held, so supplies pause instead of memory growing);
    a key asked about while its lookup is out waits for the same answer. Answers
    are cached for the least TTL of their records (at most ``max_ttl``), "no
    such name" and "no such record" for ``negative_ttl``, within ``cache_size``
    entries; a list of data whose answers are all cached goes at list speed.
    The cog speaks to the resolvers itself, through c-ares (the ``dns`` extra:
    ``pip install 'deadbeat-cogs-net[dns]'``), on the application's event loop;
    nothing runs while nothing is asked.

    By default each datum goes on as soon as its answer is there, so data
    whose answer is cached, or which have no address, are never held up by a
    slow lookup; ``keep_order = true`` keeps the order they came in instead.

    **Delivery.** Every datum goes on: resolved, marked ``not_found`` when the
    answer says there is no name, or marked ``failed`` (or left unchanged, when
    the marker is none) when no answer came within ``timeout``, the server
    failed, or its reply was malformed. Such failures are logged, one line for
    the first of each kind, then a count every ten seconds. A datum whose
    address field is missing, empty or null goes on unchanged (counted as "no
    address"); a value that is not an IP address goes to the error output. At
    shutdown, lookups not sent yet are given up at once and those in flight
    are waited for, at most ``timeout``: every held datum reaches the next cog.

    **Not promised.** ``timeout`` counts from when the question is sent, not
    from when the datum arrived: data may first wait in the queue while
    ``max_in_flight`` questions are out. c-ares sends a question again when
    its answer is late (first after five times the server's usual answer time,
    at least 0.25 s, then twice as long each time), each time on another
    socket, and the reply to an earlier try is lost once its socket has no
    other question waiting. It drops replies that do not match the question
    (they count as no answer), asks again over TCP when a reply is truncated,
    and when a reply cannot be parsed it closes that socket and asks every
    question that was waiting on it again, each using up a try, though the
    reply was for one of them at most. So, with ``retries`` left unset, the
    questions sharing the cog's socket get few tries (ending by half the
    ``timeout`` on a server that answers within 50 ms: two tries within
    0.75 s for the default ``timeout`` of 3 s), and a question that gets no answer from them,
    or a malformed reply, before its deadline is asked once more alone, on a
    new socket of its own (at most 256 at once, the rest waiting their turn,
    and not with less than 0.05 s left), whose one try waits for all the time
    the lookup has left: a server sending garbage for one name fails that
    lookup, not the others in flight, and an answer coming within ``timeout``
    is taken as long as it comes within the time left after the shared tries
    (at least half the ``timeout`` on such a fast server, less on a slower one,
    whose waits c-ares makes longer; a reply to a shared try coming later than
    that is lost with its socket). With ``retries`` set, a question is sent
    ``retries + 1`` times on the shared socket and fails when they get no
    answer, whatever ``timeout`` says (only after a malformed reply is it asked
    again alone). The TTL of a negative answer is ``negative_ttl``, not the
    one its SOA record gives. The questions share one socket per server, so
    their replies come in bursts: the cog asks for a 4 MiB receive buffer,
    which the kernel caps at ``net.core.rmem_max`` (often 208 KiB); if lookups
    fail for want of answers under load, raise that limit or lower
    ``max_in_flight``.

    :param train: the Train (to hold data and send them on when answered).
    :param ip_getter: where the address is (callable or field path).
    :param name_setter: where the host name goes (callable or field path).
    :param servers: resolver addresses, each ``ADDRESS`` or ``ADDRESS:PORT``
        (``[ADDRESS]:PORT`` for IPv6); empty for the system's ``/etc/resolv.conf``.
    :param port: the port of servers given without one.
    :param timeout: seconds a lookup waits for its answer before its data go on
        as failed (and the longest ``finish`` waits at shutdown).
    :param retries: how many more times a question may be sent when its answer
        is late; none to ask a few times, then once more alone, waiting for the
        whole ``timeout`` (too few makes c-ares give up sooner, at 0.25 s for a
        fast server and one try).
    :param max_in_flight: questions out at once, at most; further lookups wait
        in a queue.
    :param keep_order: send data on in the order they came (a slow lookup then
        holds up the data behind it); false sends each as soon as it is done.
    :param cache_size: answers kept, at most (positive and negative together).
    :param max_ttl: seconds an answer is kept at most, whatever its TTL.
    :param negative_ttl: seconds a "no such name" or "no such record" answer is kept.
    :param not_found: what ``name_setter`` gets when there is no name; none
        leaves the datum unchanged.
    :param failed: what ``name_setter`` gets when no answer could be had; none
        leaves the datum unchanged.
    :param id_getter: how to read a datum's event id for log lines (callable or
        field path); none names the id the train knows (the supply's, as in
        error records and dead letters, else the train's ``id_getter``).
    """

    public_name = "dns.reverse"
    key_noun = "an IP address"
    config_name = "reverse_lookup"

    def __init__(
        self,
        train: movement.Train,
        ip_getter: movement.FieldGetter = "ip",
        name_setter: movement.FieldSetter = "hostname",
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
        self.train = train
        self.ip_getter = ip_getter
        self.name_setter = name_setter
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
        self._setup(
            train,
            ip_getter,
            name_setter,
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
            questions_per_key=1,
        )

    def _questions(self, key: Any) -> list[Question]:
        return [(reverse_pointer(key), _PTR)]

    def _value(self, found: list[list[Any]]) -> Any:
        names = found[0]
        return names[0] if names else None
