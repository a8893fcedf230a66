"""HTTP out and in: ``http.post`` and ``http.listen`` beside hand-written aiohttp code, on loopback.

Three measurements, each side by side with its baseline in the same run:

* output: N events (mappings) are POSTed as JSON lines in batches of ``--batch``
  to a counting aiohttp server in another process, (a) by a Train [supply ->
  ``http.post``] and (b) by the baseline, a hand-written aiohttp client loop
  encoding the same events with orjson and posting the same batches one after
  the other. The server's count is checked after every run. Also for events
  that are already JSON text (as ``text.json_format`` gives them);
* input: a client process POSTs N events as JSON lines in bodies of ``--batch``
  lines, one request after the other, to (a) a Train [``http.listen`` -> a
  counting cog] in this process, answering once each batch is through the
  train, and (b) the baseline, a hand-written aiohttp server in this process
  that parses the body with orjson, counts and answers; the client process
  times each side;
* idle: ``deadbeat run`` with ``http.listen -> http.post`` (one request sent
  first, so that both have connections open) and, as the baseline, a bare
  aiohttp server process, each left alone for ``--idle-seconds``: the CPU seconds
  each used in that time (from /proc).

Several rounds, alternating the sides; medians and the ratio of the medians
(and the median of the per-round ratios, more robust on a noisy machine).

Run: ``python bench/http_output.py [--events N] [--batch B] [--rounds R] [--idle-seconds S]``

Needs aiohttp (``pip install 'deadbeat-cogs-net[http]'``). orjson is optional:
without it the baselines encode and parse with the standard library's json,
as ``http.post`` itself does then (``pip install orjson`` for the figures the
targets were set with).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from deadbeat import http, movement

try:
    import orjson
except ModuleNotFoundError:  # the baselines use json then, as http.post itself does without orjson
    orjson = None

#: What the baselines encode and parse JSON with: orjson when installed (as http.post), else json.
JSON_LIBRARY = "orjson" if orjson is not None else "json"


def dumps(value: Any) -> bytes:
    """``value`` as compact JSON bytes."""
    if orjson is not None:
        return orjson.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def loads(text: bytes) -> Any:
    return orjson.loads(text) if orjson is not None else json.loads(text)


TICKS = os.sysconf("SC_CLK_TCK")


# -- the counting server (run in a process of its own: --serve PORT) ---------------------------


def serve(port: int) -> None:
    """An aiohttp server counting the lines POSTed to /ingest; GET /count tells (and resets) the count."""
    count = 0

    async def ingest(request: web.Request) -> web.Response:
        nonlocal count
        count += (await request.read()).count(b"\n")
        return web.Response(text="ok")

    async def tell(request: web.Request) -> web.Response:
        nonlocal count
        seen, count = count, 0
        return web.Response(text=str(seen))

    app = web.Application(client_max_size=64 << 20)
    app.router.add_post("/ingest", ingest)
    app.router.add_get("/count", tell)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def start_server(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    wait_for_port(port)
    return process


def wait_for_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def server_count(session: aiohttp.ClientSession, port: int) -> int:
    async with session.get(f"http://127.0.0.1:{port}/count") as answer:
        return int(await answer.text())


def counted(port: int) -> int:
    async def ask() -> int:
        async with aiohttp.ClientSession() as session:
            return await server_count(session, port)

    return asyncio.run(ask())


# -- output: http.post against the hand-written client loop ----------------------------------------


def make_events(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"ev-{i}",
            "time": f"2026-11-27T20:{i % 60:02d}:{i % 59:02d}Z",
            "src": f"192.0.2.{i % 254 + 1}",
            "action": ("login", "logout", "download")[i % 3],
            "user": ("alice", "bob", "carol")[i % 3],
            "bytes": i * 7 % 100_000,
        }
        for i in range(count)
    ]


class ListSupply(movement.Supply):
    """Sends a list in batches of ``size``, one batch per turn of the loop (held back while paused)."""

    def __init__(self, esc: movement.Escapement, data: list[Any], size: int) -> None:
        self.esc = esc
        self.data = data
        self.size = size
        self.at = 0
        esc.enqueue(self.next)

    def next(self) -> list[Any]:
        chunk = self.data[self.at : self.at + self.size]
        self.at += self.size
        if self.at < len(self.data):
            self.esc.enqueue(self.next)
        return chunk


def through_post(data: list[Any], url: str, batch: int) -> float:
    esc = movement.Escapement()
    train = movement.Train(esc)
    train.cogs = [
        ListSupply(esc, data, 5000),
        http.HTTPPostDrain(train, url, max_batch=batch, max_batch_bytes=64 << 20),
    ]
    start = time.perf_counter()
    try:
        esc.run()
    finally:
        esc.close()
    elapsed = time.perf_counter() - start
    assert train.events_out == len(data) and not esc.failures, esc.failures
    return elapsed


def hand_client(data: list[Any], url: str, batch: int) -> float:
    async def run() -> None:
        dump = dumps
        headers = {"Content-Type": "application/x-ndjson"}
        async with aiohttp.ClientSession() as session:
            for at in range(0, len(data), batch):
                chunk = data[at : at + batch]
                if isinstance(chunk[0], str):
                    body = ("\n".join(chunk) + "\n").encode()
                else:
                    body = b"\n".join(map(dump, chunk)) + b"\n"
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    assert answer.status == 200

    start = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - start


def output(events: int, batch: int, rounds: int) -> None:
    port = free_port()
    server = start_server(port)
    url = f"http://127.0.0.1:{port}/ingest"
    try:
        for label, data in (
            (f"mappings (encoded with {JSON_LIBRARY})", make_events(events)),
            ("JSON text lines (sent as they are)", [dumps(e).decode() for e in make_events(events)]),
        ):
            rates: dict[str, list[float]] = {"http.post": [], "hand-written aiohttp loop": []}
            for _ in range(rounds):
                for side in rates:
                    if side == "http.post":
                        elapsed = through_post(data, url, batch)
                    else:
                        elapsed = hand_client(data, url, batch)
                    arrived = counted(port)
                    assert arrived == events, f"{side}: {arrived} of {events} arrived"
                    rates[side].append(events / elapsed)
            report(f"output, {events:,} events in batches of {batch}, {label}", rates, "http.post")
        print("  target: http.post >= 50,000 events/s")
    finally:
        server.terminate()
        server.wait()


# -- input: http.listen against a hand-written aiohttp server -------------------------------------------


def client(url: str, events: int, batch: int) -> None:
    """The client process: POST the events in bodies of ``batch`` lines, one after the other; print the seconds."""
    lines = [dumps(e) for e in make_events(events)]
    bodies = [b"\n".join(lines[at : at + batch]) + b"\n" for at in range(0, events, batch)]

    async def run() -> float:
        headers = {"Content-Type": "application/x-ndjson"}
        async with aiohttp.ClientSession() as session:
            start = time.perf_counter()
            for body in bodies:
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    assert answer.status == 200, answer.status
            return time.perf_counter() - start

    print(asyncio.run(run()))


class Count(movement.Cog):
    """The end of the train: counts what arrives."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, data: Any) -> tuple[Any, ...]:
        self.seen += 1
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        self.seen += len(data)
        return data


def time_client(url: str, events: int, batch: int) -> float:
    result = subprocess.run(
        [sys.executable, __file__, "--client", url, "--events", str(events), "--batch", str(batch)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip())


def through_listen(events: int, batch: int) -> float:
    esc = movement.Escapement()
    train = movement.Train(esc)
    supply = http.HTTPListenSupply(train, port=0, max_body=64 << 20)
    sink = Count()
    train.cogs = [supply, sink]
    url = f"http://127.0.0.1:{supply.address[1]}/"
    elapsed: list[float] = []

    async def drive() -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--client", url, "--events", str(events), "--batch", str(batch),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await process.communicate()
        elapsed.append(float(out.decode().strip()))
        esc.shutdown()

    esc.spawn(drive())
    try:
        esc.run()
    finally:
        esc.close()
    assert sink.seen == events, sink.seen
    return elapsed[0]


def hand_server(events: int, batch: int) -> float:
    seen = 0

    async def ingest(request: web.Request) -> web.Response:
        nonlocal seen
        body = await request.read()
        documents = [loads(line) for line in body.splitlines() if line]
        seen += len(documents)
        return web.json_response({"accepted": len(documents)})

    async def run() -> float:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/", ingest)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--client", f"http://127.0.0.1:{port}/", "--events", str(events),
            "--batch", str(batch), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await process.communicate()
        await runner.cleanup()
        return float(out.decode().strip())

    elapsed = asyncio.run(run())
    assert seen == events, seen
    return elapsed


def input_side(events: int, batch: int, rounds: int) -> None:
    rates: dict[str, list[float]] = {"http.listen": [], "hand-written aiohttp server": []}
    for _ in range(rounds):
        for side in rates:
            elapsed = through_listen(events, batch) if side == "http.listen" else hand_server(events, batch)
            rates[side].append(events / elapsed)
    report(f"input, {events:,} events POSTed in bodies of {batch} lines, one request at a time", rates, "http.listen")


# -- idle ------------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def idle(seconds: float) -> None:
    sink_port, listen_port, bare_port = free_port(), free_port(), free_port()
    sink = start_server(sink_port)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "idle.toml"
        config.write_text(
            textwrap.dedent(
                f"""
                [log]
                level = "warning"
                [[cog]]
                use = "http.listen"
                port = {listen_port}
                [[cog]]
                use = "http.post"
                url = "http://127.0.0.1:{sink_port}/ingest"
                """
            )
        )
        ours = subprocess.Popen([sys.executable, "-m", "deadbeat.command", "run", str(config), "--quiet"])
        bare = subprocess.Popen([sys.executable, __file__, "--serve", str(bare_port)])
        try:
            wait_for_port(listen_port)
            wait_for_port(bare_port)

            async def touch() -> None:
                async with aiohttp.ClientSession() as session:
                    async with session.post(
                        f"http://127.0.0.1:{listen_port}/",
                        data=b'{"hello": 1}\n',
                        headers={"Content-Type": "application/x-ndjson"},
                    ) as answer:
                        assert answer.status == 200
                    async with session.post(f"http://127.0.0.1:{bare_port}/ingest", data=b"{}\n") as answer:
                        assert answer.status == 200

            asyncio.run(touch())
            time.sleep(1)
            before = cpu_seconds(ours.pid), cpu_seconds(bare.pid)
            time.sleep(seconds)
            after = cpu_seconds(ours.pid), cpu_seconds(bare.pid)
        finally:
            for process in (ours, bare, sink):
                process.terminate()
                process.wait()
    print(f"idle, {seconds:.0f} s after one request (connections kept alive):")
    print(f"  deadbeat run, http.listen -> http.post: {after[0] - before[0]:.3f} CPU-seconds")
    print(f"  bare aiohttp server process:             {after[1] - before[1]:.3f} CPU-seconds")


# -- reporting -------------------------------------------------------------------------------------------


def report(title: str, rates: dict[str, list[float]], ours: str) -> None:
    (theirs,) = [side for side in rates if side != ours]
    print(f"{title}:")
    for side, values in rates.items():
        shown = ", ".join(f"{v:,.0f}" for v in values)
        print(f"  {side:<28} median {statistics.median(values):>10,.0f} events/s   (rounds: {shown})")
    ratio = statistics.median(rates[ours]) / statistics.median(rates[theirs])
    per_round = statistics.median(o / t for o, t in zip(rates[ours], rates[theirs], strict=True))
    print(f"  ratio {ours} / {theirs}: {ratio:.2f} (median of per-round ratios {per_round:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.client:
        client(args.client, args.events, args.batch)
        return
    print(json.dumps({"python": sys.version.split()[0], "aiohttp": aiohttp.__version__, "cpus": os.cpu_count()}))
    output(args.events, args.batch, args.rounds)
    input_side(args.events, args.batch, args.rounds)
    idle(args.idle_seconds)


if __name__ == "__main__":
    main()
