"""http.post against a real aiohttp server on loopback: batches, acknowledgement, retries, refusals, shutdown."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from deadbeat import http, movement
from deadbeat.testing import CogConformance, Collector

REPO = Path(__file__).resolve().parents[2]

#: What a script answers: a status, or (status, headers), or (status, headers, text).
Answer = Any


class Peer:
    """A real aiohttp server on 127.0.0.1, in a thread of its own, answering each request as ``script`` says.

    ``script(number, body)`` (the request's number from 0, its body) returns a
    status, ``(status, headers)`` or ``(status, headers, text)``, or a coroutine
    giving one (to answer late). Bodies answered 2xx are kept in ``accepted``.
    """

    def __init__(self, script: Callable[[int, bytes], Answer] | None = None, port: int = 0, tls: Any = None) -> None:
        self.script = script or (lambda number, body: 200)
        self.port = port
        self.tls = tls
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.accepted: list[bytes] = []
        #: What happened, in order, from both sides (the test appends too): a shared timeline.
        self.timeline: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/ingest"

    def lines(self) -> list[Any]:
        return [json.loads(line) for body in self.accepted for line in body.splitlines()]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        number = len(self.requests)
        self.requests.append((dict(request.headers), body))
        answer = self.script(number, body)
        if inspect.isawaitable(answer):
            answer = await answer
        status, headers, text = (answer, {}, "") if isinstance(answer, int) else (*answer, "")[:3]
        if 200 <= status < 300:
            self.accepted.append(body)
        self.timeline.append(f"answered {number} {status}")
        return web.Response(status=status, headers=headers, text=text or "")

    def start(self) -> Peer:
        ready = threading.Event()

        def serve() -> None:
            loop = self._loop = asyncio.new_event_loop()
            app = web.Application(client_max_size=64 << 20)
            app.router.add_post("/ingest", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.tls, reuse_address=True)
            loop.run_until_complete(site.start())
            self.port = self._runner.addresses[0][1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert ready.wait(10), "the peer server did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None


def free_port() -> int:
    """A port nothing listens on now (for a server that is down, then up)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Feeder(movement.Supply):
    """A supply sending the given batches, one per turn of the loop (held while paused), noting acknowledgements."""

    def __init__(self, esc: movement.Escapement, batches: list[movement.Batch]) -> None:
        self.esc = esc
        self.batches = list(batches)
        self.acked: list[Any] = []
        self.done_ids: list[Any] = []
        #: Called with each acknowledged batch id, when set.
        self.on_ack: Callable[[Any], None] | None = None
        self._turn: movement.Binding | None = esc.enqueue(self.next) if batches else None

    def next(self) -> movement.Batch | None:
        self._turn = None
        if not self.batches:
            return None
        if self.batches[1:]:
            self._turn = self.esc.enqueue(self.next)
        return self.batches.pop(0)

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        self.acked.append(batch_id)
        if self.on_ack is not None:
            self.on_ack(batch_id)

    def event_done(self, event_id: Any) -> None:
        self.done_ids.append(event_id)

    def finish(self) -> None:
        if self._turn is not None:
            self.esc.dequeue(self._turn)
            self._turn = None


def events(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": f"e{i}", "n": i, "text": f"event number {i}"} for i in range(start, start + count)]


def batches(data: list[Any], size: int) -> list[movement.Batch]:
    return [movement.Batch(data[i : i + size], batch_id=f"b{i // size}") for i in range(0, len(data), size)]


class Run:
    """A Train [Feeder, http.post, Collector] on a real Escapement, with the error output kept."""

    def __init__(self, data_batches: list[movement.Batch], use_uvloop: bool | None = None, **params: Any) -> None:
        self.esc = movement.Escapement(use_uvloop=use_uvloop)
        self.records: list[movement.ErrorRecord] = []
        self.train = movement.Train(self.esc, error_output=self.records.append)
        self.feeder = Feeder(self.esc, data_batches)
        self.post = http.HTTPPostDrain(self.train, **params)
        self.collector = Collector()
        self.train.cogs = [self.feeder, self.post, self.collector]
        self.timed_out = False

    def run(self, timeout: float = 60.0, until: Callable[[], bool] | None = None) -> Run:
        """Run until nothing is bound (or ``until()`` holds, checked every 10 ms); a guard stops a hang."""

        def guard() -> None:
            self.timed_out = True
            self.esc.shutdown()

        self.esc.after(timeout, guard, keeps_alive=False)
        if until is not None:

            def check() -> None:
                if until():
                    self.esc.shutdown()

            self.esc.every(0.01, check, keeps_alive=False)
        try:
            self.esc.run()
        finally:
            self.esc.close()
        assert not self.timed_out, "the run did not end by itself"
        return self


_shared: list[Peer] = []


def shared_peer() -> Peer:
    """One server for the conformance tests, started when first asked for."""
    if not _shared:
        _shared.append(Peer().start())
    return _shared[0]


class TestHTTPPostConformance(CogConformance):
    cog_name = "http.post"
    samples = [{"id": "c1", "n": 1}, '{"already": "a line"}', {"id": "c2", "nested": {"list": [1, 2.5, None]}}]
    flushes_all = True

    @property
    def params(self) -> dict[str, Any]:  # type: ignore[override]
        """The kit's parameters, naming a real server (started on first use, not at import)."""
        return {"url": shared_peer().url, "finish_timeout": 5.0}


class TestHTTPPostUnreachableConformance(CogConformance):
    """With the server down, finish still lets everything go within finish_timeout."""

    cog_name = "http.post"
    params = {
        "url": f"http://127.0.0.1:{free_port()}/x",
        "finish_timeout": 0.3,
        "retry_for": 0.5,
        "give_up": "error_output",
    }
    samples = [{"id": "c1"}]


class TestDelivery:
    def test_batches_of_json_lines_reach_the_server_in_order_and_go_on(self) -> None:
        """Every datum arrives once, in order, in NDJSON requests of at most max_batch; then it goes down the train."""
        peer = Peer().start()
        try:
            data = events(2500)
            run = Run(batches(data, 700), url=peer.url, max_batch=1000).run()
        finally:
            peer.stop()
        assert peer.lines() == data
        assert all(h["Content-Type"] == "application/x-ndjson" for h, _ in peer.requests)
        assert all(body.endswith(b"\n") and body.count(b"\n") <= 1000 for _, body in peer.requests)
        assert run.collector.data == data
        assert run.feeder.acked == ["b0", "b1", "b2", "b3"]
        assert (run.train.events_in, run.train.events_out, run.train.errors) == (2500, 2500, 0)
        assert run.post.counts["delivered"] == 2500

    def test_on_the_standard_asyncio_loop_too(self) -> None:
        """Without uvloop (the core's default when it is installed) the same data arrive the same way."""
        peer = Peer(lambda number, body: 503 if number == 1 else 200).start()
        try:
            run = Run(batches(events(2500), 1000), use_uvloop=False, url=peer.url).run()
        finally:
            peer.stop()
        assert type(run.esc.loop).__module__.startswith("asyncio")
        assert peer.lines() == events(2500) == run.collector.data

    def test_requests_respect_the_byte_limit(self) -> None:
        """No body is larger than max_batch_bytes, except one holding a single datum larger than that."""
        peer = Peer().start()
        try:
            data = [*events(300), {"id": "big", "blob": "x" * 5000}, *events(300, 300)]
            run = Run(batches(data, 1000), url=peer.url, max_batch_bytes=4096).run()
        finally:
            peer.stop()
        assert peer.lines() == data == run.collector.data
        sizes = [len(body) for _, body in peer.requests]
        assert [s for s in sizes if s > 4096] == [len(json.dumps(data[300], separators=(",", ":"))) + 1]

    def test_text_and_bytes_are_sent_as_they_are(self) -> None:
        """A datum that is already a line (text or bytes) is sent unchanged; others are encoded as JSON."""
        peer = Peer().start()
        try:
            data: list[Any] = ['{"pre": "formatted"}', b'{"raw": "bytes"}', {"a": "ü", "n": 1.5}]
            Run(batches(data, 10), url=peer.url).run()
        finally:
            peer.stop()
        assert peer.requests[0][1] == b'{"pre": "formatted"}\n{"raw": "bytes"}\n{"a":"\xc3\xbc","n":1.5}\n'

    def test_document_mode_sends_one_json_document_per_request(self) -> None:
        """mode = "document": each datum is the body of its own application/json request."""
        peer = Peer().start()
        try:
            data = events(5)
            run = Run(batches(data, 5), url=peer.url, mode="document", concurrency=2).run()
        finally:
            peer.stop()
        assert sorted(json.loads(body)["n"] for _, body in peer.requests) == [0, 1, 2, 3, 4]
        assert {h["Content-Type"] for h, _ in peer.requests} == {"application/json"}
        assert sorted(d["n"] for d in run.collector.data) == [0, 1, 2, 3, 4]

    def test_acknowledgement_waits_for_the_servers_2xx(self) -> None:
        """batch_done comes after the server answered, never before; until then the data are held."""
        release = threading.Event()

        async def late(number: int, body: bytes) -> int:
            while not release.is_set():
                await asyncio.sleep(0.01)
            return 200

        peer = Peer(late).start()
        run = Run(batches(events(10), 10), url=peer.url)

        run.feeder.on_ack = lambda batch_id: peer.timeline.append(f"acknowledged {batch_id}")
        held: list[int] = []

        def look() -> None:
            held.append(run.train.in_flight)
            release.set()

        run.esc.after(0.3, look)
        try:
            run.run()
        finally:
            peer.stop()
        assert held == [10], "the data are held while the server has not answered"
        assert peer.timeline == ["answered 0 200", "acknowledged b0"]

    def test_as_the_error_output_failed_data_are_posted_as_records(self) -> None:
        """An [[errors]] train of http.post alone: each failed datum reaches the server as an error record."""
        peer = Peer().start()
        esc = movement.Escapement()
        errors = movement.Train(esc, name="errors")
        errors.cogs = [http.HTTPPostDrain(errors, url=peer.url)]
        train = movement.Train(esc, error_output=errors)

        def refuse_odd(datum: dict[str, Any]) -> tuple[Any, ...]:
            if datum["n"] % 2:
                raise ValueError("odd")
            return (datum,)

        feeder = Feeder(esc, batches(events(6), 6))
        collector = Collector()
        train.cogs = [feeder, refuse_odd, collector]
        try:
            esc.run()
        finally:
            esc.close()
            peer.stop()
        assert [(r["event_id"], r["error"], r["datum"]["n"]) for r in peer.lines()] == [
            ("e1", "ValueError: odd", 1),
            ("e3", "ValueError: odd", 3),
            ("e5", "ValueError: odd", 5),
        ]
        assert feeder.acked == ["b0"] and [d["n"] for d in collector.data] == [0, 2, 4]
        assert errors.events_in == 3 and not esc.failures


class TestRetries:
    def test_5xx_answers_are_tried_again_until_accepted(self) -> None:
        """503 and 500 are tried again; the data are delivered once accepted, and acknowledged only then."""
        statuses = [503, 500, 502]
        peer = Peer(lambda number, body: statuses[number] if number < len(statuses) else 200).start()
        try:
            data = events(20)
            run = Run(batches(data, 20), url=peer.url).run()
        finally:
            peer.stop()
        assert [status for status in peer.timeline] == [
            "answered 0 503",
            "answered 1 500",
            "answered 2 502",
            "answered 3 200",
        ]
        assert peer.lines() == data == run.collector.data
        assert run.feeder.acked == ["b0"] and not run.records
        assert run.post.counts["retries"] == 3  # every failed try counts (a stale connection too)

    def test_429_waits_at_least_as_long_as_retry_after_asks(self, caplog: pytest.LogCaptureFixture) -> None:
        """A 429 with Retry-After is tried again after at least that many seconds (the pause chosen, as logged)."""
        peer = Peer(lambda number, body: (429, {"Retry-After": "1"}) if number < 2 else 200).start()
        caplog.set_level(logging.DEBUG, logger="deadbeat.http")
        try:
            run = Run(batches(events(3), 3), url=peer.url).run()
        finally:
            peer.stop()
        pauses = [float(m) for m in re.findall(r"trying again in ([0-9.]+) s .*Retry-After 1\.0", caplog.text)]
        assert len(pauses) == 2 and min(pauses) >= 1.0
        assert len(run.collector.data) == 3

    def test_refused_credentials_hold_the_data_until_a_token_rotated_in_the_headers_file_is_accepted(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """401 refuses the token, not the data: nothing goes to the error output; the new token in the file is sent."""
        headers = tmp_path / "headers"
        headers.write_text("Authorization: Bearer OLD-T0KEN\n")
        headers.chmod(0o600)
        seen: list[str] = []

        def check(number: int, body: bytes) -> Answer:
            token = peer.requests[-1][0].get("Authorization", "")
            seen.append(token)
            if len(seen) == 3:  # refused a few times: the operator (or a sidecar) rotates the token
                headers.write_text("Authorization: Bearer NEW-T0KEN\n")
            return 200 if token == "Bearer NEW-T0KEN" else (401, {}, "token expired")

        peer = Peer(check).start()
        caplog.set_level(logging.INFO, logger="deadbeat.http")
        try:
            data = events(10)
            run = Run(batches(data, 5), url=peer.url, headers_file=str(headers)).run()
        finally:
            peer.stop()
        assert peer.lines() == data == run.collector.data
        assert not run.records and run.feeder.acked == ["b0", "b1"]
        assert seen[:3] == ["Bearer OLD-T0KEN"] * 3 and "Bearer NEW-T0KEN" in seen
        assert "HTTP 401 Unauthorized: token expired) - the server refuses our credentials" in caplog.text
        assert f"headers_file {headers} is read again before each try" in caplog.text
        assert "T0KEN" not in caplog.text
        assert (run.train.events_in, run.train.events_out, run.train.errors) == (10, 10, 0)

    def test_credentials_refused_for_longer_than_retry_for_fail_the_run_and_lose_nothing(self) -> None:
        """403 until retry_for: the run fails, nothing is acknowledged, nothing is dumped into the error output."""
        peer = Peer(lambda number, body: (403, {}, "forbidden")).start()
        try:
            run = Run(batches(events(5), 5), url=peer.url, retry_for=0.5).run()
        finally:
            peer.stop()
        assert run.collector.data == [] and not run.records and run.feeder.acked == []
        assert any("HTTP 403 Forbidden: forbidden" in failure for failure in run.esc.failures)
        assert len(peer.requests) > 2

    def test_a_server_down_blocks_the_train_and_nothing_is_lost_when_it_comes_up(self) -> None:
        """Connection refused: supplies pause, nothing is acknowledged; once the server is up, all is delivered."""
        port = free_port()
        peer = Peer(port=port)
        data = events(3000)
        run = Run(batches(data, 100), url=f"http://127.0.0.1:{port}/ingest")
        seen: dict[str, Any] = {}

        def look() -> None:
            seen["left early"] = len(run.feeder.batches)

        def bring_up() -> None:
            seen["paused"] = run.esc.is_paused(run.feeder)
            seen["acked"] = list(run.feeder.acked)
            seen["left"] = len(run.feeder.batches)
            seen["figures"] = run.post.metrics()
            peer.start()

        # While the server is down (from 0.5 s to 1 s at the latest, the first
        # refusal having come long before), the feeder sends nothing more. How
        # many batches went in before the first refusal depends on the machine.
        run.esc.after(0.5, look)
        run.esc.after(1.0, bring_up)
        try:
            run.run()
        finally:
            peer.stop()
        assert seen["paused"] and seen["acked"] == [] and seen["left"] == seen["left early"]
        assert peer.lines() == data == run.collector.data
        assert len(run.feeder.acked) == 30 and not run.records
        # What /metrics showed meanwhile: all taken is pending, not ready, since when it fails; then all settled.
        away = seen["figures"]
        assert away["pending"] == 3000 - 100 * seen["left"] and away["ready"] == 0
        assert away["last_error_timestamp_seconds"] > 0
        assert run.post.metrics()["pending"] == 0 and run.post.metrics()["ready"] == 1
        assert run.post.counts["delivered"] == 3000

    def test_a_time_out_is_tried_again(self, caplog: pytest.LogCaptureFixture) -> None:
        """An answer later than timeout is a failed try: counted, logged, tried again after a pause (at-least-once)."""
        sent: list[float] = []

        async def slow_first(number: int, body: bytes) -> int:
            sent.append(time.monotonic())
            if number == 0:
                await asyncio.sleep(2.0)
            return 200

        peer = Peer(slow_first).start()
        caplog.set_level(logging.INFO, logger="deadbeat.http")
        try:
            run = Run(batches(events(4), 4), url=peer.url, timeout=0.3).run()
        finally:
            peer.stop()
        assert len(peer.requests) == 2 and peer.requests[1][1] == peer.requests[0][1]
        assert run.collector.data == events(4) and not run.records
        assert run.post.counts["retries"] == 1
        assert "POST of 4 data failed (no answer within 0.3 s)" in caplog.text
        assert "delivered again after 2 tries" in caplog.text
        assert sent[1] - sent[0] >= 0.3 + 0.05  # the time-out, then a pause: not at once

    def test_a_connection_closed_before_the_answer_is_tried_again_at_once_quietly(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A server closing the connection before any byte of the answer (a stale keep-alive): once more, uncounted."""
        requests: list[bytes] = []
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(8)

        def serve() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                with conn:
                    buffered = b""
                    while True:
                        while b"\r\n\r\n" not in buffered:
                            chunk = conn.recv(65536)
                            if not chunk:
                                break
                            buffered += chunk
                        else:
                            head, _, buffered = buffered.partition(b"\r\n\r\n")
                            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                            while len(buffered) < length:
                                buffered += conn.recv(65536)
                            requests.append(buffered[:length])
                            buffered = buffered[length:]
                            if len(requests) == 1:
                                break  # closed under the first request, without a word
                            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                            continue
                        break

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        caplog.set_level(logging.INFO, logger="deadbeat.http")
        try:
            url = f"http://127.0.0.1:{server.getsockname()[1]}/x"
            run = Run(batches(events(3), 3), url=url).run(timeout=20)
        finally:
            server.close()
        assert len(requests) == 2 and requests[0] == requests[1]
        assert run.collector.data == events(3) and not run.records
        assert run.post.counts["retries"] == 1 and "failed" not in caplog.text  # quiet, but counted

    def test_a_peer_that_never_answers_is_cut_off_by_the_timeout(self) -> None:
        """A socket that takes connections and never answers (a hung or half-open peer): time-outs, then give_up."""
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(16)  # the kernel completes connections; nobody ever reads or answers
            url = f"http://127.0.0.1:{silent.getsockname()[1]}/x"
            run = Run(batches(events(2), 2), url=url, timeout=0.2, retry_for=1.0, give_up="error_output").run()
        assert [r.event_id for r in run.records] == ["e0", "e1"]
        assert "no answer within 0.2 s" in str(run.records[0].error)
        assert run.feeder.acked == ["b0"] and run.post.counts["requests"] >= 3

    def test_a_long_pause_is_cut_short_to_try_again_before_retry_for_runs_out(self) -> None:
        """A pause longer than what is left of retry_for (Retry-After: 30) ends before it; the data get through."""
        started = time.monotonic()

        def down_for_a_while(number: int, body: bytes) -> Answer:
            return (503, {"Retry-After": "30"}) if time.monotonic() - started < 1.5 else 200

        peer = Peer(down_for_a_while).start()
        try:
            run = Run(batches(events(5), 5), url=peer.url, retry_for=3.0, give_up="error_output").run(timeout=20)
        finally:
            peer.stop()
        assert peer.lines() == events(5) == run.collector.data
        assert not run.records and run.feeder.acked == ["b0"] and not run.esc.failures
        assert time.monotonic() - started < 3.5

    def test_a_retry_after_longer_than_retry_for_gets_one_last_try_not_a_burst(self) -> None:
        """429 with Retry-After: 3600 and retry_for = 2: the first try, one last try before retry_for ends, no more."""
        times: list[float] = []

        def quiet_for_an_hour(number: int, body: bytes) -> Answer:
            times.append(time.monotonic())
            return (429, {"Retry-After": "3600"})

        peer = Peer(quiet_for_an_hour).start()
        try:
            run = Run(batches(events(5), 5), url=peer.url, retry_for=2.0, give_up="error_output").run(timeout=20)
        finally:
            peer.stop()
        assert len(times) == 2, [round(t - times[0], 2) for t in times]
        assert 1.0 <= times[1] - times[0] < 2.0  # just before retry_for runs out
        assert [r.event_id for r in run.records] == ["e0", "e1", "e2", "e3", "e4"]
        assert all("HTTP 429" in str(r.error) for r in run.records)

    def test_at_shutdown_a_retry_after_gets_one_try_at_once_and_one_last_try(self) -> None:
        """Shutdown while waiting out Retry-After: 3600: a try at once, one before finish_timeout ends, no burst."""
        times: list[float] = []

        def quiet_for_an_hour(number: int, body: bytes) -> Answer:
            times.append(time.monotonic())
            return (429, {"Retry-After": "3600"})

        peer = Peer(quiet_for_an_hour).start()
        run = Run(batches(events(5), 5), url=peer.url, retry_for=60.0, finish_timeout=2.0)
        run.esc.after(0.5, run.esc.shutdown)
        try:
            run.run(timeout=20)
        finally:
            peer.stop()
        assert len(times) == 3, [round(t - times[0], 2) for t in times]
        assert 1.0 <= times[2] - times[1] < 2.0
        assert run.feeder.acked == [] and any("5 data not delivered" in f for f in run.esc.failures)

    def test_give_up_stop_fails_the_run_and_acknowledges_nothing(self) -> None:
        """After retry_for, give_up = "stop" fails the run; the data stay unacknowledged, none is dropped silently."""
        peer = Peer(lambda number, body: 503).start()
        try:
            run = Run(batches(events(5), 5), url=peer.url, retry_for=0.5, finish_timeout=0.3).run()
        finally:
            peer.stop()
        assert run.feeder.acked == [] and run.feeder.done_ids == []
        assert run.collector.data == [] and not run.records
        assert any("could not deliver 5 data" in failure for failure in run.esc.failures)
        assert any("not delivered within finish_timeout" in failure for failure in run.esc.failures)

    def test_give_up_error_output_sends_the_data_there_and_goes_on(self) -> None:
        """give_up = "error_output": undelivered data go to the error output with the reason; the run goes on."""
        peer = Peer(lambda number, body: 503).start()
        try:
            run = Run(batches(events(5), 5), url=peer.url, retry_for=0.5, give_up="error_output").run()
        finally:
            peer.stop()
        assert [r.event_id for r in run.records] == ["e0", "e1", "e2", "e3", "e4"]
        assert all("not delivered for 0.5 s: HTTP 503" in str(r.error) for r in run.records)
        assert run.feeder.acked == ["b0"] and not run.esc.failures
        assert (run.train.events_in, run.train.events_out, run.train.errors) == (5, 0, 5)


class TestRefusals:
    def test_a_refused_batch_goes_to_the_error_output_naming_status_and_ids(self) -> None:
        """A 404 refuses the whole batch: every datum goes to the error output, with the status; nothing is lost."""
        peer = Peer(lambda number, body: (404, {}, "no such index")).start()
        try:
            run = Run(batches(events(4), 4), url=peer.url).run()
        finally:
            peer.stop()
        assert [r.event_id for r in run.records] == ["e0", "e1", "e2", "e3"]
        assert [r.datum for r in run.records] == events(4)
        message = str(run.records[0].error)
        assert "HTTP 404 Not Found: no such index" in message and "the whole batch of 4 data refused" in message
        assert run.records[0].cog.startswith("HTTPPostDrain(") and run.records[0].position == 1
        assert run.feeder.acked == ["b0"] and len(peer.requests) == 1
        assert (run.train.events_in, run.train.events_out, run.train.errors) == (4, 0, 4)

    def test_a_batch_refused_for_its_content_is_split_to_find_the_bad_data(self) -> None:
        """400 on a batch: halves are tried until the bad datum is alone; the others are delivered."""

        def validating(number: int, body: bytes) -> Answer:
            lines = [json.loads(line) for line in body.splitlines()]
            bad = [line["id"] for line in lines if line.get("bad")]
            return (400, {}, f"bad records: {bad}") if bad else 200

        peer = Peer(validating).start()
        data = events(64)
        data[5]["bad"] = data[41]["bad"] = True
        try:
            run = Run(batches(data, 64), url=peer.url).run()
        finally:
            peer.stop()
        good = [d for d in data if not d.get("bad")]
        assert peer.lines() == good == run.collector.data
        assert [r.event_id for r in run.records] == ["e5", "e41"]
        assert all("HTTP 400 Bad Request" in str(r.error) and "whole batch" not in str(r.error) for r in run.records)
        assert run.feeder.acked == ["b0"]

    def test_without_splitting_the_whole_batch_is_refused(self) -> None:
        """split_refused = false: the batch goes to the error output whole, said so."""
        peer = Peer(lambda number, body: 422).start()
        try:
            run = Run(batches(events(3), 3), url=peer.url, split_refused=False).run()
        finally:
            peer.stop()
        assert len(run.records) == 3 and "the whole batch of 3 data refused" in str(run.records[0].error)

    def test_a_redirect_is_refused_not_followed(self) -> None:
        """A 3xx would turn the POST into something else: refused, naming where it points."""
        peer = Peer(lambda number, body: (308, {"Location": "https://elsewhere.example/in?token=s3cret"})).start()
        try:
            run = Run(batches(events(1), 1), url=peer.url).run()
        finally:
            peer.stop()
        assert "HTTP 308" in str(run.records[0].error) and "elsewhere.example" in str(run.records[0].error)
        assert "s3cret" not in str(run.records[0].error)

    def test_a_datum_that_cannot_be_encoded_fails_alone(self) -> None:
        """A set, NaN or a line holding a line break goes to the error output; the rest of its list is delivered."""
        peer = Peer().start()
        data: list[Any] = [{"id": "ok1"}, {"id": "set", "v": {1, 2}}, {"id": "nan", "v": float("nan")}, "two\nlines"]
        data.append({"id": "ok2"})
        try:
            run = Run(batches(data, 10), url=peer.url).run()
        finally:
            peer.stop()
        assert peer.lines() == [{"id": "ok1"}, {"id": "ok2"}]
        errors = {str(r.event_id): f"{type(r.error).__name__}: {r.error}" for r in run.records}
        assert "TypeError" in errors["set"] and "NaN" in errors["nan"] and "line break" in errors["None"]


class TestShutdown:
    def test_finish_sends_what_lingers(self) -> None:
        """Data waiting for linger are sent at finish, not lost."""
        peer = Peer().start()
        run = Run(batches(events(7), 7), url=peer.url, linger=60.0)
        run.esc.after(0.3, run.esc.shutdown)
        try:
            run.run()
        finally:
            peer.stop()
        assert peer.lines() == events(7) == run.collector.data
        assert run.feeder.acked == ["b0"] and not run.esc.failures

    def test_finish_with_the_server_down_fails_the_run_within_finish_timeout(self) -> None:
        """The server never answers: finish gives up after finish_timeout, the run fails, nothing is acknowledged."""
        run = Run(batches(events(5), 5), url=f"http://127.0.0.1:{free_port()}/x", finish_timeout=0.5)
        run.esc.after(0.3, run.esc.shutdown)
        run.run()
        assert run.feeder.acked == [] and run.collector.data == []
        assert any("5 data not delivered within finish_timeout" in f for f in run.esc.failures)
        assert not run.esc.leftovers

    def test_a_request_already_failing_is_tried_until_finish_timeout(self, caplog: pytest.LogCaptureFixture) -> None:
        """Retrying with long pauses when shutdown begins: tried again within finish_timeout, not given up at once."""
        started = time.monotonic()

        def down_for_a_while(number: int, body: bytes) -> Answer:
            return (503, {"Retry-After": "30"}) if time.monotonic() - started < 2.0 else 200

        peer = Peer(down_for_a_while).start()
        caplog.set_level(logging.DEBUG, logger="deadbeat.http")
        run = Run(batches(events(100), 100), url=peer.url, finish_timeout=4.0)
        run.esc.after(1.0, run.esc.shutdown)
        try:
            run.run(timeout=20)
        finally:
            peer.stop()
        assert not run.esc.failures
        assert peer.lines() == events(100) == run.collector.data
        assert run.feeder.acked == ["b0"]
        ended = time.monotonic() - started
        assert 2.0 < ended < 5.0
        # Waiting out the pauses at shutdown, not trying again and again at once.
        assert len(peer.requests) <= 4

    def test_a_stopped_run_tries_once_more_at_finish(self) -> None:
        """give_up = "stop", then the server comes back during finish: the data are delivered after all."""
        port = free_port()
        peer = Peer(port=port)
        run = Run(batches(events(3), 3), url=f"http://127.0.0.1:{port}/ingest", retry_for=0.3, finish_timeout=20)
        original = run.post._finish

        async def finish_with_server_up() -> None:
            peer.start()
            await original()

        run.post._finish = finish_with_server_up  # type: ignore[method-assign]
        try:
            run.run()
        finally:
            peer.stop()
        assert peer.lines() == events(3) == run.collector.data
        assert any("could not deliver" in f for f in run.esc.failures)  # the run still says it stopped


class TestBounds:
    def test_held_bytes_above_the_limit_block_the_train(self) -> None:
        """With the server slow, what the drain holds stays near max_held_bytes: the supply pauses."""

        async def slow(number: int, body: bytes) -> int:
            await asyncio.sleep(0.05)
            return 200

        peer = Peer(slow).start()
        data = [{"id": f"e{i}", "blob": "x" * 1000} for i in range(3000)]
        run = Run(batches(data, 50), url=peer.url, max_held_bytes=100_000, max_batch_bytes=20_000)
        most: list[int] = []
        run.esc.every(0.005, lambda: most.append(run.post._held_bytes), keeps_alive=False)
        try:
            run.run()
        finally:
            peer.stop()
        assert peer.lines() == data == run.collector.data
        one_batch = 50 * 1020
        assert max(most) <= 100_000 + one_batch


class TestSecrets:
    def test_tokens_reach_the_server_and_never_the_log(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """headers_file and URL credentials are sent; str(cog), log lines and error records show *** instead."""
        headers = tmp_path / "headers"
        headers.write_text("# the token\nX-Auth-Token: T0KEN-FROM-FILE\nX-Team: blue\n")
        headers.chmod(0o600)
        peer = Peer(lambda number, body: 500 if number < 3 else (404, {}, "no")).start()
        caplog.set_level(logging.DEBUG)
        url = peer.url.replace("http://", "http://user:PA55WORD@") + "?api_key=K3Y"
        try:
            run = Run(batches(events(1), 1), url=url, headers={"X-Api-Key": "H3ADER"}, headers_file=str(headers)).run()
        finally:
            peer.stop()
        sent = peer.requests[0][0]
        assert sent["X-Auth-Token"] == "T0KEN-FROM-FILE" and sent["X-Api-Key"] == "H3ADER"
        assert sent["Authorization"].startswith("Basic ")  # the URL's user and password
        assert sent["X-Team"] == "blue"
        shown = str(run.post) + caplog.text + " ".join(str(r.error) for r in run.records)
        for secret in ("T0KEN", "PA55WORD", "K3Y", "H3ADER"):
            assert secret not in shown
        assert "user:***@" in str(run.post) and "api_key=***" in str(run.post)

    def test_credentials_in_both_the_url_and_a_header_are_refused_at_start(self) -> None:
        """aiohttp cannot send both; saying so at start beats failing every request."""
        esc = movement.Escapement()
        try:
            with pytest.raises(ValueError, match="not both") as caught:
                http.HTTPPostDrain(
                    movement.Train(esc), url="http://u:S3CRET@127.0.0.1:1/", headers={"Authorization": "Bearer X"}
                )
        finally:
            esc.close()
        assert "S3CRET" not in str(caught.value)

    def test_a_malformed_headers_file_names_the_line_not_the_value(self, tmp_path: Path) -> None:
        """A line without a colon is an error naming the file and line, never quoting it."""
        headers = tmp_path / "headers"
        headers.write_text("Authorization Bearer S3CRET\n")
        esc = movement.Escapement()
        try:
            with pytest.raises(http.HeadersFileError, match="line 1") as caught:
                http.HTTPPostDrain(movement.Train(esc), url="http://127.0.0.1:1/", headers_file=str(headers))
        finally:
            esc.close()
        assert "S3CRET" not in str(caught.value)


class TestTLS:
    def test_verified_with_the_given_ca_and_refused_without_it(self, tmp_path: Path) -> None:
        """https with ca_file is delivered; without it the certificate is not trusted and nothing is delivered."""
        ca = trustme.CA()
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server)
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        peer = Peer(tls=server).start()
        try:
            trusted = Run(batches(events(2), 2), url=peer.url, ca_file=str(ca_file)).run()
            untrusted = Run(batches(events(2), 2), url=peer.url, retry_for=0.3, give_up="error_output").run()
        finally:
            peer.stop()
        assert trusted.collector.data == events(2)
        assert untrusted.collector.data == [] and len(untrusted.records) == 2
        assert "certificate" in str(untrusted.records[0].error).lower()
        assert peer.lines() == events(2)


class TestDeadbeatRun:
    def write(self, tmp_path: Path, url: str, extra: str = "") -> tuple[Path, Path]:
        source = tmp_path / "in.jsonl"
        source.write_text("".join(json.dumps({"id": f"l{i}", "n": i}) + "\n" for i in range(20_000)))
        config = tmp_path / "pipeline.toml"
        config.write_text(
            textwrap.dedent(
                f"""
                [log]
                level = "info"
                [[cog]]
                use = "fs.read"
                filenames = ["{source}"]
                [[cog]]
                use = "http.post"
                url = "{url}"
                max_batch = 500
                {extra}
                """
            )
        )
        return source, config

    def test_sigterm_while_the_server_is_slow_delivers_everything_and_exits_0(self, tmp_path: Path) -> None:
        """deadbeat run fs.read -> http.post: SIGTERM mid-way; finish delivers every line; exit status 0."""
        started = threading.Event()

        async def slow(number: int, body: bytes) -> int:
            started.set()
            await asyncio.sleep(0.02)
            return 200

        peer = Peer(slow).start()
        _, config = self.write(tmp_path, peer.url, "finish_timeout = 30.0")
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(config), "--quiet"], stderr=subprocess.PIPE, text=True
        )
        try:
            assert started.wait(30)
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        finally:
            peer.stop()
        assert process.returncode == 0, stderr
        lines = peer.lines()
        assert [line["n"] for line in lines] == list(range(len(lines)))
        summary = [line for line in stderr.splitlines() if "finished: in" in line][0]
        assert f"in {len(lines)}, out {len(lines)}, errors 0" in summary

    def test_sigterm_with_the_server_down_exits_1_and_says_what_was_not_delivered(self, tmp_path: Path) -> None:
        """The server never up: SIGTERM; finish gives up after finish_timeout; exit status 1 naming the data."""
        _, config = self.write(tmp_path, f"http://127.0.0.1:{free_port()}/x", "finish_timeout = 0.5")
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(config), "--quiet"], stderr=subprocess.PIPE, text=True
        )
        assert process.stderr is not None
        for line in process.stderr:
            if "supplies paused" in line:
                break
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 1, stderr
        assert "not delivered within finish_timeout 0.5 s; not acknowledged (among them:" in stderr
        # What the output still held is said as such: not "out", not "dropped by filters".
        (summary,) = [line for line in stderr.splitlines() if "finished: in" in line]
        held = re.search(
            r"finished: in (\d+), out 0, errors 0, held at the end \(not written, not acknowledged\) (\d+)$", summary
        )
        assert held is not None and held[1] == held[2] != "0", summary

    def test_the_example_pipeline_delivers_the_good_lines_and_refuses_the_broken_one(self, tmp_path: Path) -> None:
        """examples/http_post.toml: each line sent as it is; the server refuses the broken line 4 alone."""

        def validating(number: int, body: bytes) -> Answer:
            try:
                [json.loads(line) for line in body.splitlines()]
            except ValueError:
                return 400
            return 200

        peer = Peer(validating).start()
        example = (REPO / "examples" / "http_post.toml").read_text()
        assert 'url = "http://127.0.0.1:8080/ingest"' in example
        config = tmp_path / "http_post.toml"
        config.write_text(example.replace("http://127.0.0.1:8080/ingest", peer.url))
        (tmp_path / "data").symlink_to(REPO / "examples" / "data")
        try:
            result = subprocess.run(
                [sys.executable, "-m", "deadbeat.command", "run", str(config), "--once"],
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            peer.stop()
        assert result.returncode == 0, result.stderr
        assert [line["id"] for line in peer.lines()] == ["e1", "e2", "e3", "e5"]
        assert "HTTP 400 Bad Request" in result.stderr and "in 5, out 4, errors 1" in result.stderr

    def test_records_given_up_on_name_their_event_and_hide_the_files_secrets(self, tmp_path: Path) -> None:
        """After text.json_parse and text.json_format (the default path: new string data), a record given up on
        had "event_id": null; and a ${file:...} token in a header stood in clear in its "cog" field."""
        (tmp_path / "token").write_text("S3CR3TTOKEN\n")
        (tmp_path / "token").chmod(0o600)
        (tmp_path / "in.jsonl").write_text('{"a":1}\n{"a":2}\n')
        (tmp_path / "p.toml").write_text(
            textwrap.dedent(
                f"""
                [[cog]]
                use = "fs.read"
                filenames = ["in.jsonl"]
                [[cog]]
                use = "text.json_parse"
                [[cog]]
                use = "text.json_format"
                [[cog]]
                use = "http.post"
                url = "http://127.0.0.1:{free_port()}/ingest"
                headers = {{Authorization = "Bearer ${{file:token}}", X-Other = "${{file:token}}"}}
                retry_for = 0.5
                give_up = "error_output"
                [[errors]]
                use = "text.json_format"
                [[errors]]
                use = "fs.write"
                filename = "errors.jsonl"
                """
            )
        )
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", "p.toml", "--once"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        written = (tmp_path / "errors.jsonl").read_text()
        records = [json.loads(line) for line in written.splitlines()]
        assert [r["event_id"] for r in records] == [f"{tmp_path / 'in.jsonl'}:0", f"{tmp_path / 'in.jsonl'}:8"]
        assert "S3CR3T" not in written + result.stderr
        assert "'X-Other': '***'" in records[0]["cog"]


class TestWithoutTheLibrary:
    def test_importing_without_aiohttp_names_the_extra(self) -> None:
        """Where aiohttp is not installed, deadbeat.http says which extra to install."""
        code = textwrap.dedent(
            """
            import sys
            class Block:
                def find_spec(self, name, path=None, target=None):
                    if name == "aiohttp" or name.startswith("aiohttp."):
                        raise ImportError("No module named 'aiohttp'")
            sys.meta_path.insert(0, Block())
            try:
                import deadbeat.http
            except ImportError as exc:
                print(exc)
            """
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
        assert "pip install 'deadbeat-cogs-net[http]'" in result.stdout, result.stderr
