"""GeoIP lookups: ``ip.geoip`` in a Train against the plain ``maxminddb`` loop a user would write.

One invocation writes a City-shaped MaxMind DB file with mmdb-writer (20,000
IPv4 /24 networks and 2,000 IPv6 /48 ones, each with country, city, region
and location) into a temporary directory, makes N data ``{"ip": ...}``
(500,000 by default) and looks them up, alternately, round after round:

* ``train``: a real Train on a real Escapement, ``ip.geoip`` with the
  properties ``country_code``, ``city``, ``latitude``, ``longitude`` and a last
  cog that counts; the data are sent in lists of 2,048, so the cog gets them
  whole (``call_batch``);
* ``train, no cache``: the same with ``cache_size = 0``, every address looked up;
* ``hand``: the loop a user writes: ``reader.get(datum["ip"])`` and a dict of
  the same four properties (missing ones left out) set on the datum.

Before timing, the first 20,000 data are looked up all three ways and the
results compared: they must be equal. Addresses: half from a hot set of 5,000
(clients come back), half drawn afresh from the networks, one in twenty from
no network (private addresses). Each round runs every contender once, in an
order rotated from round to round; the figures are medians over the rounds,
lookups/s and the ratio to ``hand``.

Run: ``.venv/bin/python bench/ip_geoip.py [--lookups N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import maxminddb
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from deadbeat import ip, movement

LIST_SIZE = 2048
PROPERTIES = ["country_code", "city", "latitude", "longitude"]
COUNTRIES = ["CZ", "DE", "GB", "US", "JP", "BR", "AU", "IN", "FR", "SE"]


def build_database(path: str, rng: random.Random) -> tuple[list[str], list[str]]:
    """Write the database; :returns: the IPv4 and IPv6 networks in it."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City", languages=["en"])
    v4 = sorted({f"{rng.randint(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24" for _ in range(20_000)})
    v6 = sorted({f"2001:db8:{rng.randrange(65536):x}::/48" for _ in range(2_000)})
    for network in v4 + v6:
        country = rng.choice(COUNTRIES)
        writer.insert_network(
            IPSet([network]),
            {
                "country": {"iso_code": country, "names": {"en": f"Country {country}"}},
                "city": {"names": {"en": f"City {rng.randrange(1000)}"}},
                "subdivisions": [{"iso_code": f"R{rng.randrange(50)}"}],
                "location": {"latitude": rng.uniform(-90, 90), "longitude": rng.uniform(-180, 180)},
            },
        )
    writer.to_db_file(path)
    return v4, v6


def make_data(count: int, v4: list[str], v6: list[str], rng: random.Random) -> list[dict[str, Any]]:
    def fresh() -> str:
        roll = rng.random()
        if roll < 0.05:
            return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"
        network = ipaddress.ip_network(rng.choice(v6) if roll < 0.15 else rng.choice(v4))
        return str(network[rng.randrange(1, min(network.num_addresses, 1 << 16) - 1)])

    hot = [fresh() for _ in range(5_000)]
    return [{"ip": rng.choice(hot) if rng.random() < 0.5 else fresh()} for _ in range(count)]


def hand_loop(reader: Any) -> Callable[[list[dict[str, Any]]], int]:
    get = reader.get

    def run(data: list[dict[str, Any]]) -> int:
        count = 0
        for datum in data:
            record = get(datum["ip"])
            geo: dict[str, Any] = {}
            if record:
                country = record.get("country")
                if country and "iso_code" in country:
                    geo["country_code"] = country["iso_code"]
                city = record.get("city")
                if city and "en" in city.get("names", {}):
                    geo["city"] = city["names"]["en"]
                location = record.get("location")
                if location:
                    if "latitude" in location:
                        geo["latitude"] = location["latitude"]
                    if "longitude" in location:
                        geo["longitude"] = location["longitude"]
            datum["geo"] = geo
            count += 1
        return count

    return run


class Count(movement.Cog):
    """The last cog: counts what arrives."""

    one_to_one = True

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, data: Any) -> tuple[Any, ...]:
        self.count += 1
        return ()

    def call_batch(self, data: list[Any]) -> list[Any]:
        self.count += len(data)
        return []


def through_train(data: list[dict[str, Any]], database: str, cache_size: int) -> int:
    esc = movement.Escapement()
    esc.once = True  # as `deadbeat run --once`: no file watches
    try:
        count = Count()
        cog = ip.GeoIP(esc, database, properties=PROPERTIES, cache_size=cache_size)
        train = movement.Train(esc, [cog, count])
        for start in range(0, len(data), LIST_SIZE):
            train.send(None, data[start : start + LIST_SIZE])
        cog.done()
        return count.count
    finally:
        esc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    rng = random.Random(1848)
    with tempfile.TemporaryDirectory(prefix="deadbeat-bench-geoip-") as scratch:
        database = os.path.join(scratch, "city.mmdb")
        v4, v6 = build_database(database, rng)
        data = make_data(args.lookups, v4, v6, rng)
        reader = maxminddb.open_database(database)
        hand = hand_loop(reader)

        sample = [dict(d) for d in data[:20_000]]
        hand(sample)
        for cache_size in (10_000, 0):
            cog = ip.GeoIP(movement.DummyEscapement(), database, properties=PROPERTIES, cache_size=cache_size)
            ours = cog.call_batch([dict(d) for d in data[:20_000]])
            if ours != sample:
                wrong = next(i for i, (a, b) in enumerate(zip(ours, sample, strict=True)) if a != b)
                raise SystemExit(f"differs at {wrong}: ours {ours[wrong]} theirs {sample[wrong]}")

        contenders: dict[str, Callable[[], int]] = {
            "train": functools.partial(through_train, data, database, 10_000),
            "train, no cache": functools.partial(through_train, data, database, 0),
            "hand": functools.partial(hand, data),
        }
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        names = list(contenders)
        for round_number in range(args.rounds):
            order = names[round_number % len(names) :] + names[: round_number % len(names)]
            for name in order:
                start = time.perf_counter()
                assert contenders[name]() == len(data)
                rates[name].append(len(data) / (time.perf_counter() - start))
        reader.close()
    hand_median = statistics.median(rates["hand"])
    print(f"GeoIP, {len(v4):,} IPv4 + {len(v6):,} IPv6 networks, {len(data):,} lookups, {args.rounds} rounds")
    for name in names:
        median = statistics.median(rates[name])
        per_round = statistics.median(r / h for r, h in zip(rates[name], rates["hand"], strict=True))
        print(
            f"  {name:16s} {median:>10,.0f} lookups/s   ratio to hand {median / hand_median:6.2f}"
            f"   (median of per-round ratios {per_round:.2f})"
        )
    print("target: train >= 0.7 of the plain maxminddb loop")


if __name__ == "__main__":
    main()
