"""IP cogs against the simplest standard-library code doing the same, in one process.

* truncation of IPv4 addresses to /24: ``Anonymise(mode="truncate")`` against
  ``ipaddress`` (parse, mask, format);
* Crypto-PAn on distinct IPv4 addresses, no cache: ours (one AES call per
  address) against the straightforward per-bit algorithm of the reference
  (``yacryptopan``: ``ipaddress`` plus one AES call per bit);
* Crypto-PAn with repeats (1,000 distinct addresses), cached, as events through
  a Train: ours against a hand-written loop over ``functools.lru_cache`` of the
  reference;
* CIDR lookup against 100,000 prefixes: ``PrefixTable`` (one bisect) from text
  addresses, against ``ipaddress`` checking each prefix length from /32 down.

Run: ``python bench/ip.py [--rounds R]``. Prints the rates of each round, the
medians and the ratios.
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yacryptopan import CryptoPAn as ReferenceCryptoPAn

from deadbeat import ip, movement

KEY = bytes(range(32))


def rate(count: int, work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


def truncation(addresses: list[str]) -> tuple[float, float]:
    cog = ip.Anonymise(mode="truncate", v4_prefix=24)
    anonymise = cog.anonymise
    mask = int(ipaddress.IPv4Address("255.255.255.0"))

    def ours() -> None:
        for address in addresses:
            anonymise(address)

    def baseline() -> None:
        for address in addresses:
            str(ipaddress.IPv4Address(int(ipaddress.IPv4Address(address)) & mask))

    return rate(len(addresses), ours), rate(len(addresses), baseline)


def cryptopan_uncached(addresses: list[str], key_file: str) -> tuple[float, float]:
    cog = ip.Anonymise(mode="cryptopan", key_file=key_file, cache_size=0)
    reference = ReferenceCryptoPAn(KEY)
    anonymise = cog.anonymise

    def ours() -> None:
        for address in addresses:
            anonymise(address)

    few = addresses[: len(addresses) // 10]

    def baseline() -> None:
        for address in few:
            reference.anonymize(address)

    return rate(len(addresses), ours), rate(len(few), baseline)


class ListSupply(movement.Supply):
    def __init__(self, esc: movement.Escapement, events: list[dict[str, str]]) -> None:
        self.esc = esc
        self.events = events
        self.position = 0
        esc.enqueue(self.produce)

    def produce(self) -> list[dict[str, str]]:
        chunk = self.events[self.position : self.position + 1000]
        self.position += 1000
        if self.position < len(self.events):
            self.esc.enqueue(self.produce)
        return chunk


def cryptopan_cached(addresses: list[str], key_file: str) -> tuple[float, float]:
    events = [{"ip": address} for address in addresses]

    def ours() -> None:
        esc = movement.Escapement()
        train = movement.Train(esc)
        train.cogs = [ListSupply(esc, events), ip.Anonymise(mode="cryptopan", key_file=key_file), lambda d: (d,)]
        esc.run()
        esc.close()

    reference = ReferenceCryptoPAn(KEY)
    cached = functools.lru_cache(maxsize=65536)(reference.anonymize)
    baseline_events = [{"ip": address} for address in addresses]

    def baseline() -> None:
        for event in baseline_events:
            event["ip"] = cached(event["ip"])

    return rate(len(events), ours), rate(len(baseline_events), baseline)


def cidr(prefixes: list[str], addresses: list[str]) -> tuple[float, float]:
    table = ip.PrefixTable((p, "listed") for p in prefixes)
    lookup_text = table.lookup_text

    def ours() -> None:
        for text in addresses:
            lookup_text(text)

    networks = {ipaddress.ip_network(p, strict=False): "listed" for p in prefixes}
    few = addresses[: len(addresses) // 50]

    def baseline() -> None:
        for text in few:
            address = ipaddress.ip_address(text)
            for length in range(32, -1, -1):
                label = networks.get(ipaddress.ip_network((address, length), strict=False))
                if label is not None:
                    break

    return rate(len(addresses), ours), rate(len(few), baseline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(3)
    distinct = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(1_000_000)]
    few_distinct = distinct[:1000]
    repeated = [rng.choice(few_distinct) for _ in range(1_000_000)]
    prefixes = [
        str(ipaddress.ip_network((rng.getrandbits(32), length), strict=False))
        for length in (rng.randint(8, 32) for _ in range(100_000))
    ]
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "key"
        key_file.write_bytes(KEY)
        cases: dict[str, tuple[Callable[[], tuple[float, float]], int, str]] = {
            "truncate /24 (addresses/s)": (lambda: truncation(distinct), 1_000_000, "ipaddress"),
            "Crypto-PAn, distinct, uncached (addresses/s)": (
                lambda: cryptopan_uncached(distinct[:100_000], str(key_file)),
                50_000,
                "per-bit reference (yacryptopan)",
            ),
            "Crypto-PAn, 1,000 distinct, cached (events/s via Train)": (
                lambda: cryptopan_cached(repeated, str(key_file)),
                1_000_000,
                "loop over lru_cache(reference)",
            ),
            "CIDR, 100,000 prefixes (lookups/s from text)": (
                lambda: cidr(prefixes, distinct),
                1_000_000,
                "ipaddress, /32 down to /0",
            ),
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for round_no in range(1, args.rounds + 1):
            for name, (case, _, _) in cases.items():
                results[name].append(case())
                ours, base = results[name][-1]
                print(f"round {round_no}: {name}: ours {ours:,.0f}   baseline {base:,.0f}")
        print("medians:")
        for name, (_, target, baseline_name) in cases.items():
            ours = statistics.median(r[0] for r in results[name])
            base = statistics.median(r[1] for r in results[name])
            verdict = "meets" if ours >= target else "BELOW"
            print(f"  {name}")
            print(f"      ours {ours:>12,.0f}   {baseline_name} {base:>10,.0f}   x{ours / base:.1f}")
            print(f"      target {target:,}: {verdict}")


if __name__ == "__main__":
    main()
