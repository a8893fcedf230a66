"""DNS lookups through the dns.reverse cog beside the loops it replaces, against unbound on loopback.

One command starts unbound (Debian's, one thread, on a free loopback port) with
PTR records for ``--distinct`` addresses of 10.0.0.0/8, then runs, each round,
in this one process:

* **uncached**: every address looked up once, as events through a Train
  (a supply of lists, ``ReverseLookup`` with ``max_in_flight`` 1,000, a counting
  sink), beside a raw pycares loop on the same kind of event loop (uvloop, as
  the Escapement uses) with the same 1,000 questions in flight, driven by the
  loop's own descriptor callbacks, and beside a one-at-a-time blocking loop
  (pycares with its own thread, ``wait()`` after each question) on a tenth of
  the addresses;
* **cached**: ``--events`` events over 1,000 distinct addresses, all in the
  cog's cache, through the same kind of Train, beside a hand-written loop
  setting the name from a dict.

Every round's rates are printed, then the medians and the ratios; the machine
is shared, so only medians and ratios mean much. Targets (issue 12): uncached
through the cog at least 0.7 of the raw pycares loop; cached at least 500,000
events/s.

Run: ``python bench/dns_lookups.py [--rounds R] [--distinct N] [--events M]``.

Needs, beside deadbeat-core: pycares (``pip install 'deadbeat-cogs-net[dns]'``),
Debian's ``unbound`` (``bash scripts/system-packages.sh``), and pytest, because
the unbound helpers are the test suite's (``deadbeat-cogs-net/tests/conftest.py``):
``pip install -e 'deadbeat-cogs-net[test]'`` installs all the Python ones.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pycares

from deadbeat import dns, movement

HERE = Path(__file__).resolve().parent
IN_FLIGHT = 1000


def load_servers() -> Any:
    """The test suite's DNS server helpers (unbound with a zone of our own)."""
    path = HERE.parent / "deadbeat-cogs-net" / "tests" / "conftest.py"
    spec = importlib.util.spec_from_file_location("dns_test_servers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as exc:
        raise SystemExit(
            f"bench/dns_lookups.py uses the test suite's DNS helpers ({path}), which need {exc.name}:"
            " pip install -e 'deadbeat-cogs-net[test]'"
        ) from None
    return module


def address(i: int) -> str:
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


class ListSupply(movement.Supply):
    """Sends prepared events in lists of ``size``, one list per turn of the loop, pausing under backpressure.

    fs.read and fs.tail read 256 KiB per list: some 10,000 short lines.
    """

    def __init__(self, esc: movement.Escapement, events: list[dict[str, str]], size: int = 5000) -> None:
        self.esc = esc
        self.events = events
        self.size = size
        self.position = 0
        self.started = 0.0
        esc.enqueue(self.produce)

    def produce(self) -> list[dict[str, str]]:
        if not self.position:
            self.started = time.perf_counter()
        chunk = self.events[self.position : self.position + self.size]
        self.position += self.size
        if self.position < len(self.events):
            self.esc.enqueue(self.produce)
        return chunk


class Sink(movement.Cog):
    """Counts what arrives; notes when the last of ``expected`` did."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.resolved = 0
        self.ended = 0.0

    def __call__(self, data: Any) -> tuple[Any, ...]:
        return tuple(self.call_batch([data]))

    def call_batch(self, data: list[Any]) -> list[Any]:
        self.count += len(data)
        self.resolved += sum(1 for d in data if "hostname" in d)
        if self.count >= self.expected and not self.ended:
            self.ended = time.perf_counter()
        return data


def through_cog(server: str, addresses: list[str]) -> tuple[float, int]:
    """Uncached lookups through the cog. :returns: events/s and how many got a name."""
    esc = movement.Escapement()
    train = movement.Train(esc)
    events = [{"ip": a} for a in addresses]
    supply = ListSupply(esc, events)
    cog = dns.ReverseLookup(train, servers=[server], max_in_flight=IN_FLIGHT)
    sink = Sink(len(events))
    train.cogs = [supply, cog, sink]
    esc.run()
    esc.close()
    return len(events) / (sink.ended - supply.started), sink.resolved


def raw_pycares(server: str, addresses: list[str]) -> tuple[float, int]:
    """The same questions with pycares alone, 1,000 in flight, driven by the loop's reader callbacks."""
    esc = movement.Escapement()
    loop = esc.loop
    channel: Any = None
    bad = pycares.ARES_SOCKET_BAD

    def socket_state(fd: int, readable: bool, writable: bool) -> None:
        if readable:
            loop.add_reader(fd, channel.process_fd, fd, bad)
        else:
            loop.remove_reader(fd)
        if writable:
            loop.add_writer(fd, channel.process_fd, bad, fd)
        else:
            loop.remove_writer(fd)

    tries = dns.tries_for(3.0)
    channel = pycares.Channel(
        servers=[server], timeout=0.25, tries=tries, sock_state_cb=socket_state, socket_receive_buffer_size=4 << 20
    )
    finished = loop.create_future()
    state = {"sent": 0, "done": 0, "resolved": 0}
    results: dict[str, str] = {}

    def answered(address: str, result: Any, status: int | None) -> None:
        state["done"] += 1
        if status is None and result.answer:
            results[address] = result.answer[0].data.dname
            state["resolved"] += 1
        if state["sent"] < len(addresses):
            ask()
        if state["done"] == len(addresses) and not finished.done():
            finished.set_result(None)

    def ask() -> None:
        address = addresses[state["sent"]]
        state["sent"] += 1
        channel.query(
            dns.reverse_pointer(address), pycares.QUERY_TYPE_PTR, callback=lambda r, s: answered(address, r, s)
        )

    def tick() -> None:
        channel.process_fd(bad, bad)
        if not finished.done():
            loop.call_later(0.05, tick)

    start = time.perf_counter()
    for _ in range(min(IN_FLIGHT, len(addresses))):
        ask()
    loop.call_later(0.05, tick)
    loop.run_until_complete(finished)
    elapsed = time.perf_counter() - start
    channel.close()
    esc.close()
    return len(addresses) / elapsed, state["resolved"]


def blocking(server: str, addresses: list[str]) -> tuple[float, int]:
    """One question at a time, waiting for each answer (pycares with its own event thread)."""
    channel = pycares.Channel(servers=[server], timeout=3.0, tries=1)
    resolved = 0
    start = time.perf_counter()
    got: list[Any] = []
    for a in addresses:
        got.clear()
        channel.query(dns.reverse_pointer(a), pycares.QUERY_TYPE_PTR, callback=lambda r, s: got.append((r, s)))
        channel.wait()
        if got and got[0][1] is None:
            resolved += 1
    elapsed = time.perf_counter() - start
    channel.close()
    return len(addresses) / elapsed, resolved


class WarmThenTimed(movement.Supply):
    """Sends ``warm`` (to fill the cache), then, once ``warmed()`` holds, the timed events in lists of 1,000."""

    def __init__(
        self,
        esc: movement.Escapement,
        warm: list[dict[str, str]],
        events: list[dict[str, str]],
        warmed: Callable[[], bool],
    ) -> None:
        self.esc = esc
        self.warm = warm
        self.events = events
        self.warmed = warmed
        self.position = 0
        self.started = 0.0
        esc.enqueue(self.send_warm)

    def send_warm(self) -> list[dict[str, str]]:
        self.esc.after(0.01, self.wait)
        return self.warm

    def wait(self) -> None:
        if self.warmed():
            self.started = time.perf_counter()
            self.esc.enqueue(self.produce)
        else:
            self.esc.after(0.01, self.wait)

    def produce(self) -> list[dict[str, str]]:
        chunk = self.events[self.position : self.position + 1000]
        self.position += 1000
        if self.position < len(self.events):
            self.esc.enqueue(self.produce)
        return chunk


def cached_cog(server: str, distinct: list[str], count: int) -> float:
    """Events whose answers are all in the cache, through the cog. :returns: events/s."""
    esc = movement.Escapement()
    train = movement.Train(esc)
    warm = [{"ip": a} for a in distinct]
    events = [{"ip": distinct[i % len(distinct)]} for i in range(count)]
    cog = dns.ReverseLookup(train, servers=[server], max_in_flight=IN_FLIGHT)
    supply = WarmThenTimed(esc, warm, events, lambda: cog.counts["resolved"] == len(warm) and not cog.lookups)
    sink = Sink(len(warm) + count)
    train.cogs = [supply, cog, sink]
    esc.run()
    esc.close()
    assert cog.counts["from cache"] == count, cog.counts
    return count / (sink.ended - supply.started)


def cached_loop(names: dict[str, str], distinct: list[str], count: int) -> float:
    """The hand-written loop: the name from a dict, set on each event."""
    events: list[dict[str, Any]] = [{"ip": distinct[i % len(distinct)]} for i in range(count)]
    start = time.perf_counter()
    get = names.get
    for event in events:
        event["hostname"] = get(event["ip"])
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--distinct", type=int, default=100_000, help="distinct addresses looked up uncached")
    parser.add_argument("--events", type=int, default=1_000_000, help="events through the cached case")
    args = parser.parse_args()
    servers = load_servers()
    addresses = [address(i) for i in range(args.distinct)]
    zone = ['local-zone: "10.in-addr.arpa." static'] + [
        f'local-data-ptr: "{a} host-{i}.example."' for i, a in enumerate(addresses)
    ]
    few = addresses[:1000]
    names = {a: f"host-{i}.example" for i, a in enumerate(few)}
    with tempfile.TemporaryDirectory() as tmp:
        unbound = servers.Unbound(Path(tmp), zone)
        try:
            server = unbound.address
            flip = [False]

            def uncached() -> tuple[float, ...]:
                # The two asynchronous loops take turns going first: the machine's load drifts.
                flip[0] = not flip[0]
                if flip[0]:
                    cog = through_cog(server, addresses)[0]
                    raw = raw_pycares(server, addresses)[0]
                else:
                    raw = raw_pycares(server, addresses)[0]
                    cog = through_cog(server, addresses)[0]
                return cog, raw, blocking(server, addresses[: max(1, len(addresses) // 10)])[0]

            cases: dict[str, tuple[Callable[[], tuple[float, ...]], str]] = {
                "uncached reverse lookups (lookups/s)": (uncached, "raw pycares loop | one-at-a-time blocking"),
                "cached, 1,000 distinct (events/s)": (
                    lambda: (cached_cog(server, few, args.events), cached_loop(names, few, args.events)),
                    "hand-written dict loop",
                ),
            }
            results: dict[str, list[tuple[float, ...]]] = {name: [] for name in cases}
            for round_no in range(1, args.rounds + 1):
                for name, (case, _) in cases.items():
                    rates = case()
                    results[name].append(rates)
                    baselines = "   ".join(f"{r:,.0f}" for r in rates[1:])
                    print(
                        f"round {round_no}: {name}: cog {rates[0]:,.0f}   baselines {baselines}"
                        f"   cog/first {rates[0] / rates[1]:.2f}",
                        flush=True,
                    )
        finally:
            unbound.stop()
    print("medians:")
    for name, (_, baseline_names) in cases.items():
        medians = [statistics.median(r[i] for r in results[name]) for i in range(len(results[name][0]))]
        ours, *bases = medians
        print(f"  {name}")
        print(f"      cog {ours:,.0f}")
        for base_name, base in zip(baseline_names.split(" | "), bases, strict=True):
            print(f"      {base_name} {base:,.0f}   cog/baseline {ours / base:.2f}")
    uncached_rounds = results["uncached reverse lookups (lookups/s)"]
    ratio = statistics.median(r[0] / r[1] for r in uncached_rounds)
    cached = statistics.median(r[0] for r in results["cached, 1,000 distinct (events/s)"])
    print(f"median of the rounds' cog/raw ratios: {ratio:.2f}")
    print(f"targets: uncached cog/raw >= 0.7: {ratio:.2f} ({'meets' if ratio >= 0.7 else 'BELOW'});")
    print(f"         cached >= 500,000 events/s: {cached:,.0f} ({'meets' if cached >= 500_000 else 'BELOW'})")


if __name__ == "__main__":
    main()
