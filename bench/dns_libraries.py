"""Why ``dns.reverse`` drives pycares itself: the asynchronous DNS libraries side by side, against unbound.

Issue 12 asked for a maintained asynchronous resolver chosen by our own
measurement. One command starts unbound (Debian's, one thread, on a free
loopback port, the zone of ``bench/dns_lookups.py``) and, each round, asks the
same distinct PTR questions, 1,000 in flight where the library allows it, with:

* **pycares on the loop's descriptor callbacks**: what ``dns.reverse`` does
  (the loop of ``bench/dns_lookups.py``);
* **aiodns**: pycares wrapped in asyncio futures, one task per question;
* **dnspython, asyncio**: ``dns.asyncresolver`` with one task per question;
* **dnspython, blocking**: ``dns.resolver`` one question at a time (on a tenth
  of the addresses), the hand-written script's way.

Prints lookups/s per round, the medians and each library's ratio to the
pycares loop. The libraries other than pycares are only needed here:
``pip install aiodns dnspython``.

Run: ``python bench/dns_libraries.py [--rounds R] [--distinct N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from deadbeat import dns as deadbeat_dns

HERE = Path(__file__).resolve().parent
IN_FLIGHT = 1000


def load_lookups_bench() -> Any:
    """``bench/dns_lookups.py``: its unbound helpers, addresses and raw pycares loop."""
    spec = importlib.util.spec_from_file_location("dns_lookups_bench", HERE / "dns_lookups.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def host_and_port(server: str) -> tuple[str, int]:
    """``HOST:PORT`` (or a bare host, port 53) as dnspython takes them."""
    host, _, port = server.rpartition(":")
    return (host, int(port)) if host else (server, 53)


def concurrently(ask: Callable[[str], Awaitable[object]], failed: Any, addresses: list[str]) -> tuple[float, int]:
    """Each address asked by ``ask`` in a task of its own, ``IN_FLIGHT`` at a time; ``failed``: the exceptions
    of a question not answered. :returns: questions/s, answered."""

    async def main() -> int:
        limit = asyncio.Semaphore(IN_FLIGHT)
        resolved = 0

        async def one(address: str) -> None:
            nonlocal resolved
            async with limit:
                try:
                    await ask(deadbeat_dns.reverse_pointer(address))
                    resolved += 1
                except failed:
                    pass

        await asyncio.gather(*(one(a) for a in addresses))
        return resolved

    start = time.perf_counter()
    resolved = asyncio.run(main())
    return len(addresses) / (time.perf_counter() - start), resolved


def with_aiodns(server: str, addresses: list[str]) -> tuple[float, int]:
    import aiodns

    resolver: Any = None

    def ask(name: str) -> Awaitable[object]:
        nonlocal resolver
        if resolver is None:  # made in the loop asyncio.run starts
            resolver = aiodns.DNSResolver(nameservers=[server], timeout=3.0, tries=1)
        return resolver.query(name, "PTR")

    return concurrently(ask, aiodns.error.DNSError, addresses)


def with_dnspython_asyncio(server: str, addresses: list[str]) -> tuple[float, int]:
    import dns.asyncresolver
    import dns.exception

    resolver = dns.asyncresolver.Resolver(configure=False)
    host, resolver.port = host_and_port(server)
    resolver.nameservers = [host]
    resolver.lifetime = 3.0
    resolver.cache = None
    return concurrently(lambda name: resolver.resolve(name, "PTR"), dns.exception.DNSException, addresses)


def with_dnspython_blocking(server: str, addresses: list[str]) -> tuple[float, int]:
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    host, resolver.port = host_and_port(server)
    resolver.nameservers = [host]
    resolver.lifetime = 3.0
    resolved = 0
    start = time.perf_counter()
    for address in addresses:
        try:
            resolver.resolve(deadbeat_dns.reverse_pointer(address), "PTR")
            resolved += 1
        except dns.exception.DNSException:
            pass
    return len(addresses) / (time.perf_counter() - start), resolved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--distinct", type=int, default=20_000, help="distinct addresses looked up")
    args = parser.parse_args()
    lookups = load_lookups_bench()
    servers = lookups.load_servers()
    addresses = [lookups.address(i) for i in range(args.distinct)]
    zone = ['local-zone: "10.in-addr.arpa." static'] + [
        f'local-data-ptr: "{a} host-{i}.example."' for i, a in enumerate(addresses)
    ]
    tenth = addresses[: max(1, len(addresses) // 10)]
    contenders: dict[str, Callable[[str], tuple[float, int]]] = {
        "pycares on the loop (dns.reverse's way)": lambda server: lookups.raw_pycares(server, addresses),
        "aiodns": lambda server: with_aiodns(server, addresses),
        "dnspython asyncio": lambda server: with_dnspython_asyncio(server, addresses),
        "dnspython blocking": lambda server: with_dnspython_blocking(server, tenth),
    }
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        unbound = servers.Unbound(Path(tmp), zone)
        try:
            for round_no in range(1, args.rounds + 1):
                for name, run in contenders.items():
                    rate, resolved = run(unbound.address)
                    asked = len(tenth) if name == "dnspython blocking" else len(addresses)
                    if resolved != asked:
                        raise SystemExit(f"{name}: {resolved} of {asked} questions answered; the figures would lie")
                    rates[name].append(rate)
                print(f"round {round_no}: " + "   ".join(f"{n} {r[-1]:,.0f}" for n, r in rates.items()), flush=True)
        finally:
            unbound.stop()
    medians = {name: statistics.median(r) for name, r in rates.items()}
    base = medians["pycares on the loop (dns.reverse's way)"]
    print(f"{args.distinct:,} distinct PTR questions, {args.rounds} rounds, medians (lookups/s):")
    for name, rate in medians.items():
        print(f"  {name:<40} {rate:>9,.0f}   {rate / base:5.2f} of pycares on the loop")


if __name__ == "__main__":
    main()
