"""http.listen with real clients on loopback (aiohttp's client, curl, raw sockets): what is accepted and when."""

from __future__ import annotations

import asyncio
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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from deadbeat import http, movement
from deadbeat.testing import CogConformance, Collector


class TestHTTPListenConformance(CogConformance):
    cog_name = "http.listen"
    params = {"port": 0}
    samples = [{"a": 1}]
    flushes_all = True


# -- clients (each runs in a thread of its own while the Escapement runs the server) ----------------


class Answer:
    """What a client got back: the status, the headers and the body (parsed when JSON)."""

    def __init__(self, status: int, headers: dict[str, str], text: str) -> None:
        self.status = status
        self.headers = headers
        self.text = text

    def json(self) -> Any:
        return json.loads(self.text)

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.text!r})"


def post(
    port: int,
    body: bytes | Iterable[bytes],
    content_type: str = "application/x-ndjson",
    path: str = "/",
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request with aiohttp's client (chunked when ``body`` is an iterable of chunks)."""

    async def send() -> Answer:
        data: Any = body
        if not isinstance(body, bytes):
            chunks = list(body)

            async def stream() -> Any:
                for chunk in chunks:
                    yield chunk

            data = stream()
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                f"http://127.0.0.1:{port}{path}",
                data=data,
                headers={"Content-Type": content_type, **(headers or {})},
            ) as answer,
        ):
            return Answer(answer.status, dict(answer.headers), await answer.text())

    return asyncio.run(send())


def curl(port: int, *args: str, scheme: str = "http", path: str = "/") -> Answer:
    """One request with curl; ``args`` are curl's (the body, headers)."""
    result = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args, f"{scheme}://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    text, _, status = result.stdout.rpartition("\n")
    return Answer(int(status or 0), {}, text)


def lines(*documents: Any) -> bytes:
    return b"".join(json.dumps(d).encode() + b"\n" for d in documents)


# -- the pipeline under test ------------------------------------------------------------------------


class Gate(movement.Cog):
    """Holds every datum (Train.hold) until ``opening`` seconds after the first arrives, then lets all through."""

    def __init__(self, train: movement.Train, opening: float) -> None:
        self.train = train
        self.opening = opening
        self.held: list[Any] = []
        self.opened = False
        self.timeline: list[str] | None = None
        self._timer: movement.Binding | None = None

    def __call__(self, data: Any) -> tuple[Any, ...] | None:
        if self.opened:
            return (data,)
        self.held.append(data)
        self.train.hold()
        if self._timer is None:
            self._timer = self.train.esc.after(self.opening, self.open)
        return None

    def open(self) -> list[Any]:
        self._timer = None
        self.opened = True
        if self.timeline is not None:
            self.timeline.append("gate opened")
        held, self.held = self.held, []
        self.train.release(len(held))
        return held

    def finish(self) -> list[Any]:
        if self._timer is not None:
            self.train.esc.dequeue(self._timer)
            self._timer = None
        return self.open() if self.held else []


class Listening:
    """A Train [http.listen, extra cogs..., Collector] on a real Escapement; clients run in a thread."""

    def __init__(
        self,
        *,
        extra: Callable[[movement.Train], list[Any]] | None = None,
        use_uvloop: bool | None = None,
        **params: Any,
    ) -> None:
        self.esc = movement.Escapement(use_uvloop=use_uvloop)
        self.records: list[movement.ErrorRecord] = []
        self.train = movement.Train(
            self.esc, error_output=self.records.append, high_water=params.pop("high_water", 10_000)
        )
        self.supply = http.HTTPListenSupply(self.train, port=params.pop("port", 0), **params)
        self.collector = Collector()
        self.extra = extra(self.train) if extra is not None else []
        self.train.cogs = [self.supply, *self.extra, self.collector]
        self.port = self.supply.address[1]

    def run(self, client: Callable[[Listening], Any], timeout: float = 60.0) -> Any:
        """Run the server until ``client(self)`` (in a thread) returns; :returns: what it returned."""
        outcome: dict[str, Any] = {}

        def drive() -> None:
            try:
                outcome["result"] = client(self)
            except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
                outcome["error"] = exc
            finally:
                try:
                    self.esc.loop.call_soon_threadsafe(self.esc.shutdown)
                except RuntimeError:
                    pass  # the run had ended already (the test shut it down itself)

        def guard() -> None:
            outcome.setdefault("error", AssertionError("the client did not finish in time"))
            self.esc.shutdown()

        self.esc.after(timeout, guard, keeps_alive=False)
        thread = threading.Thread(target=drive, daemon=True)
        thread.start()
        try:
            self.esc.run()
        finally:
            self.esc.close()
        thread.join(10)
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("result")

    def on_loop(self, function: Callable[[], Any]) -> Any:
        """Call ``function`` on the Escapement's loop (from a client thread) and :returns: its result."""
        future = asyncio.run_coroutine_threadsafe(_call(function), self.esc.loop)
        return future.result(10)


async def _call(function: Callable[[], Any]) -> Any:
    return function()


class TestAccepting:
    def test_json_lines_a_document_and_an_array(self) -> None:
        """NDJSON gives a datum per line (blank lines skipped); a document one; an array one per item."""
        listening = Listening()

        def client(self: Listening) -> list[Answer]:
            return [
                post(self.port, b'{"a": 1}\n\n{"a": 2}\r\n{"a": 3}'),
                post(self.port, b'{"b": 1}', "application/json"),
                post(self.port, b'[{"c": 1}, {"c": 2}]', "application/json; charset=utf-8"),
                post(self.port, b'"text"', "application/vnd.example+json"),
            ]

        answers = listening.run(client)
        assert [(a.status, a.json()) for a in answers] == [
            (200, {"accepted": 3}),
            (200, {"accepted": 1}),
            (200, {"accepted": 2}),
            (200, {"accepted": 1}),
        ]
        assert listening.collector.data == [{"a": 1}, {"a": 2}, {"a": 3}, {"b": 1}, {"c": 1}, {"c": 2}, "text"]

    def test_on_the_standard_asyncio_loop_too(self) -> None:
        """Without uvloop the server takes the same requests the same way."""
        listening = Listening(use_uvloop=False)
        answer = listening.run(lambda self: post(self.port, b'{"a": 1}\n{"a": 2}\n'))
        assert type(listening.esc.loop).__module__.startswith("asyncio")
        assert answer.status == 200 and listening.collector.data == [{"a": 1}, {"a": 2}]

    def test_arrays_stay_whole_when_asked(self) -> None:
        """split_arrays = false: a JSON array body is one datum."""
        listening = Listening(split_arrays=False)
        listening.run(lambda self: post(self.port, b"[1, 2]", "application/json"))
        assert listening.collector.data == [[1, 2]]

    def test_curl_posts_a_file_of_json_lines(self, tmp_path: Path) -> None:
        """curl --data-binary @file (large enough for Expect: 100-continue) is accepted whole, in order."""
        source = tmp_path / "events.jsonl"
        documents = [{"n": i, "pad": "x" * 50} for i in range(2000)]
        source.write_bytes(lines(*documents))
        listening = Listening()
        answer = listening.run(
            lambda self: curl(self.port, "-H", "Content-Type: application/x-ndjson", "--data-binary", f"@{source}")
        )
        assert (answer.status, answer.json()) == (200, {"accepted": 2000})
        assert listening.collector.data == documents

    def test_the_peer_the_document_and_the_id_where_the_setters_say(self) -> None:
        """document_setter, peer_setter and id_setter make mappings; a setter that fails costs its datum only."""
        listening = Listening(document_setter="event", peer_setter="from", id_setter="id")
        listening.run(lambda self: post(self.port, b'{"a": 1}\n[2]\n'))
        assert listening.collector.data == [
            {"event": {"a": 1}, "from": "127.0.0.1", "id": "http:1:0"},
            {"event": [2], "from": "127.0.0.1", "id": "http:1:1"},
        ]
        listening = Listening(peer_setter="from")
        answer = listening.run(lambda self: post(self.port, b'{"a": 1}\n[2]\n'))
        assert answer.status == 200 and listening.collector.data == [{"a": 1, "from": "127.0.0.1"}]
        [record] = listening.records
        assert record.event_id == "http:1:1" and record.datum["document"] == [2]
        assert record.datum["peer"].startswith("127.0.0.1:")

    def test_the_train_knows_each_datums_event_id(self) -> None:
        """Event ids http:REQUEST:INDEX reach error records and event_done without being in the data."""
        done: list[Any] = []

        class Listener(movement.Cog):
            def event_done(self, event_id: Any) -> None:
                done.append(event_id)

        def refuse_b(datum: Any) -> tuple[Any, ...]:
            if datum == "b":
                raise ValueError("not b")
            return (datum,)

        listening = Listening(extra=lambda train: [Listener(), refuse_b])
        listening.run(lambda self: [post(self.port, b'"a"\n"b"\n'), post(self.port, b'"c"\n')])
        assert [r.event_id for r in listening.records] == ["http:1:1"]
        assert done == ["http:1:0", "http:1:1", "http:2:0"]


class TestAcknowledgement:
    def test_the_answer_comes_only_after_the_data_are_through_the_train(self) -> None:
        """200 is sent after a cog holding the data let them go and they reached the end."""
        timeline: list[str] = []
        listening = Listening(extra=lambda train: [Gate(train, 0.5)])
        listening.extra[0].timeline = timeline

        def client(self: Listening) -> Answer:
            answer = post(self.port, lines({"n": 1}, {"n": 2}))
            timeline.append(f"answered {answer.status}")
            return answer

        listening.run(client)
        assert timeline == ["gate opened", "answered 200"]
        assert listening.collector.data == [{"n": 1}, {"n": 2}]

    def test_not_through_within_ack_timeout_is_503_and_the_data_still_arrive(self) -> None:
        """The data are held too long: 503 with Retry-After; they still reach the end (at-least-once)."""
        listening = Listening(ack_timeout=0.2, retry_after=7, extra=lambda train: [Gate(train, 1.0)])

        def client(self: Listening) -> Answer:
            answer = post(self.port, lines({"n": 1}))
            while not self.on_loop(lambda: bool(self.collector.data)):
                time.sleep(0.05)
            return answer

        answer = listening.run(client)
        assert answer.status == 503 and answer.headers["Retry-After"] == "7"
        assert listening.collector.data == [{"n": 1}]
        # Counted once, as timed out: the summary's answers add up to the requests.
        counts = listening.supply.counts
        assert (counts["requests"], counts["timed_out"], counts["busy"]) == (1, 1, 0)

    def test_shutdown_answers_the_requests_whose_data_are_in_the_train(self) -> None:
        """Shutdown begins while a request's data are held further down: they get through, and the client its 200."""
        listening = Listening(extra=lambda train: [Gate(train, 0.6)])
        entered = threading.Event()

        def client(self: Listening) -> Answer:
            def shut_down_once_held() -> None:
                while not self.on_loop(lambda: bool(self.extra[0].held)):
                    time.sleep(0.01)
                entered.set()
                self.esc.loop.call_soon_threadsafe(self.esc.shutdown)

            threading.Thread(target=shut_down_once_held).start()
            return post(self.port, lines({"n": 1}))

        answer = listening.run(client)
        assert entered.is_set() and answer.status == 200
        assert listening.collector.data == [{"n": 1}]

    def test_a_paused_train_answers_503_and_takes_nothing(self) -> None:
        """Backpressure: while the train is paused, requests get 503 with Retry-After, their data left out."""
        listening = Listening(high_water=3, ack_timeout=0.2, retry_after=2, extra=lambda train: [Gate(train, 60.0)])

        def client(self: Listening) -> list[Answer]:
            first = post(self.port, lines({"n": 1}, {"n": 2}, {"n": 3}))  # held by the gate: 503 after ack_timeout
            second = post(self.port, lines({"n": 4}), headers={"Expect": "100-continue"})
            return [first, second]

        first, second = listening.run(client)
        assert first.status == 503 and second.status == 503
        assert "full" in second.json()["error"] and second.headers["Retry-After"] == "2"
        assert listening.collector.data == [{"n": 1}, {"n": 2}, {"n": 3}]  # flushed at finish; n 4 never entered
        assert listening.train.events_in == 3


class TestRefusing:
    def test_invalid_json_refuses_the_whole_body_naming_the_line(self, caplog: pytest.LogCaptureFixture) -> None:
        """Line 3 is not JSON: 400 naming line 3, and none of the body's lines enters the train."""
        listening = Listening()
        answer = listening.run(lambda self: post(self.port, b'{"a": 1}\n{"a": 2}\n{"a": \n{"a": 4}\n'))
        assert answer.status == 400 and answer.json()["error"].startswith("line 3: invalid JSON")
        assert listening.collector.data == [] and listening.train.events_in == 0
        assert len([r for r in caplog.records if "is not JSON" in r.getMessage()]) == 1

    @pytest.mark.parametrize(
        ("body", "content_type", "expected"),
        [
            (b"\xff\xfe\x00garbage", "application/json", "invalid JSON"),
            (b'{"a": "\xff"}\n', "application/x-ndjson", "line 1: invalid JSON"),
            (b"[" * 100 + b"]" * 100, "application/json", "nested 100 deep"),
            (b"{}\n" + b"[" * 70 + b"]" * 70 + b"\n", "application/x-ndjson", "line 2: JSON nested 70 deep"),
            (b'{"n": NaN}', "application/json", "invalid JSON"),
            (b"", "application/json", "invalid JSON"),
        ],
    )
    def test_bodies_that_are_not_json(self, body: bytes, content_type: str, expected: str) -> None:
        """Binary garbage, bad UTF-8, nesting past max_depth, NaN, nothing: 400 saying why."""
        listening = Listening()
        answer = listening.run(lambda self: post(self.port, body, content_type))
        assert answer.status == 400 and expected in answer.json()["error"], answer
        assert listening.collector.data == []

    def test_big_integers_are_read_exactly(self) -> None:
        """A 30-digit integer stays exact (not rounded to a float)."""
        listening = Listening()
        listening.run(lambda self: post(self.port, b'{"big": 123456789012345678901234567890}\n'))
        assert listening.collector.data == [{"big": 123456789012345678901234567890}]

    def test_bodies_over_max_body_are_413_whether_announced_or_chunked(self) -> None:
        """A Content-Length over max_body, or chunks adding up past it: 413, and nothing enters."""
        listening = Listening(max_body=1000)

        def client(self: Listening) -> list[int]:
            big = lines(*({"n": i} for i in range(200)))
            return [
                post(self.port, big).status,
                post(self.port, [big[:600], big[600:1200], big[1200:]]).status,
                post(self.port, lines({"ok": True})).status,
            ]

        assert listening.run(client) == [413, 413, 200]
        assert listening.collector.data == [{"ok": True}]

    def test_wrong_path_method_and_content_type(self) -> None:
        """404 for another path, 405 for GET, 415 for a type that is not JSON; nothing enters."""
        listening = Listening(path="/in")

        def client(self: Listening) -> list[tuple[int, str]]:
            answers = [
                post(self.port, b"{}", path="/other"),
                post(self.port, b"", path="/in", method="GET"),
                post(self.port, b"a=1", "application/x-www-form-urlencoded", path="/in"),
            ]
            return [(a.status, a.headers.get("Allow", "")) for a in answers]

        assert listening.run(client) == [(404, ""), (405, "POST"), (415, "")]
        assert listening.collector.data == []


def raw(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(30)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """Wait (up to the socket's timeout) for the server to close: EOF or a reset, after any answer."""
    try:
        while sock.recv(65536):
            pass
    except (TimeoutError, ConnectionResetError):
        return not isinstance(sys.exc_info()[1], socket.timeout)
    return True


class TestHostileClients:
    def test_binary_garbage_gets_400_and_a_few_log_lines(self, caplog: pytest.LogCaptureFixture) -> None:
        """50 connections sending garbage: each answered 400 by the server, the log says so a few times only."""
        listening = Listening()

        def client(self: Listening) -> list[bytes]:
            answers = []
            for _ in range(50):
                with raw(self.port) as sock:
                    sock.sendall(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + os.urandom(64) + b"\r\n\r\n")
                    answers.append(sock.recv(100))
            answers.append(post(self.port, lines({"after": "garbage"})).text.encode())
            return answers

        answers = listening.run(client)
        assert all(re.match(rb"HTTP/1\.[01] 400 ", a) for a in answers[:50])
        assert answers[50] == b'{"accepted": 1}' and listening.collector.data == [{"after": "garbage"}]
        said = [
            r for r in caplog.records if r.name.startswith("deadbeat.http") and "could not be read" in r.getMessage()
        ]
        assert 1 <= len(said) <= 5
        assert not [r for r in caplog.records if r.name.startswith("aiohttp") and r.levelno >= logging.ERROR]

    def test_a_body_that_is_not_what_its_encoding_says_is_refused_saying_so(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Content-Encoding: gzip on a body that is not gzip: answered 400 "did not arrive whole", and logged as an
        ERROR "Unhandled exception" of the server. The answer now says what is wrong; no server error is logged."""
        listening = Listening()

        def client(self: Listening) -> tuple[bytes, int]:
            with raw(self.port) as sock:
                sock.sendall(
                    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                    b"Content-Length: 7\r\nConnection: close\r\n\r\nnotgzip"
                )
                answer = b""
                while chunk := sock.recv(4096):
                    answer += chunk
            return answer, post(self.port, lines({"ok": 1})).status

        answer, status = listening.run(client)
        assert answer.startswith(b"HTTP/1.1 400 ") and status == 200
        assert answer.endswith(b'{"error": "the body is not what its Content-Encoding (gzip) says"}')
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text

    def test_a_header_line_over_the_limit_is_refused(self) -> None:
        """A 100 KB header line: the server refuses it; the pipeline goes on."""
        listening = Listening()

        def client(self: Listening) -> tuple[bytes, int]:
            with raw(self.port) as sock:
                sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
                first = sock.recv(100)
            return first, post(self.port, lines({"ok": 1})).status

        first, status = listening.run(client)
        assert re.match(rb"HTTP/1\.[01] 4\d\d ", first) and status == 200

    def test_slow_clients_are_closed_after_request_timeout(self, caplog: pytest.LogCaptureFixture) -> None:
        """A request head sent a byte at a time, and a body that never completes, are cut off; others are served."""
        listening = Listening(request_timeout=2.0)

        def client(self: Listening) -> tuple[bool, bool, int]:
            slow_head = raw(self.port)
            slow_head.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # and nothing more
            slow_body = raw(self.port)
            slow_body.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
            served = post(self.port, lines({"ok": 1})).status
            head_cut, body_cut = closed_by_server(slow_head), closed_by_server(slow_body)
            slow_head.close()
            slow_body.close()
            return head_cut, body_cut, served

        assert listening.run(client) == (True, True, 200)
        assert listening.collector.data == [{"ok": 1}]
        assert "no complete request from 127.0.0.1:" in caplog.text

    def test_shutdown_does_not_wait_for_a_client_still_sending(self) -> None:
        """A client sending its body forever does not hold the shutdown up: its connection is closed."""
        listening = Listening()

        def client(self: Listening) -> bool:
            slow = raw(self.port)
            slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{")
            assert post(self.port, lines({"ok": 1})).status == 200  # the server has read the slow one's head by now
            self.esc.loop.call_soon_threadsafe(self.esc.shutdown)
            cut = closed_by_server(slow)
            slow.close()
            return cut

        assert listening.run(client) is True
        assert listening.collector.data == [{"ok": 1}]

    def test_many_idle_connections_stay_within_the_cap_and_a_real_client_is_served(self) -> None:
        """500 idle connections against max_connections 50: never more than 50 open; curl is still answered."""
        listening = Listening(max_connections=50)
        most: list[int] = []
        listening.esc.every(0.005, lambda: most.append(listening.supply.open_connections), keeps_alive=False)

        def client(self: Listening) -> tuple[int, int]:
            idle = [raw(self.port) for _ in range(500)]
            answer = curl(self.port, "-H", "Content-Type: application/json", "-d", '{"real": "client"}')
            still_open = self.on_loop(lambda: self.supply.open_connections)
            for sock in idle:
                sock.close()
            return answer.status, still_open

        status, still_open = listening.run(client)
        assert status == 200 and listening.collector.data == [{"real": "client"}]
        assert max(most) <= 50 and 40 <= still_open <= 50


class TestTLS:
    def test_https_with_curl(self, tmp_path: Path) -> None:
        """cert_file/key_file serve HTTPS; curl verifying with the CA is accepted."""
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        cert_file, ca_file = tmp_path / "cert.pem", tmp_path / "ca.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
        ca.cert_pem.write_to_path(str(ca_file))
        listening = Listening(cert_file=str(cert_file))
        answer = listening.run(
            lambda self: curl(
                self.port, "--cacert", str(ca_file), "-H", "Content-Type: application/json", "-d", "{}", scheme="https"
            )
        )
        assert answer.status == 200 and listening.collector.data == [{}]
        assert isinstance(ssl.create_default_context(cafile=str(ca_file)), ssl.SSLContext)


class TestStart:
    def test_a_port_in_use_stops_the_start_naming_the_address(self) -> None:
        """Another socket holds the port: the cog cannot be built, and says where it wanted to listen."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            esc = movement.Escapement()
            try:
                with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
                    http.HTTPListenSupply(movement.Train(esc), port=port)
            finally:
                esc.close()

    def test_binds_loopback_by_default(self) -> None:
        """Nothing but the loopback address unless host says otherwise."""
        esc = movement.Escapement()
        try:
            supply = http.HTTPListenSupply(movement.Train(esc), port=0)
            assert supply.address[0] == "127.0.0.1"
            supply.done()
        finally:
            esc.close()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


class TestDeadbeatRun:
    def start(self, tmp_path: Path, extra: str = "") -> tuple[subprocess.Popen[str], int, Path]:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        out = tmp_path / "out.jsonl"
        config = tmp_path / "pipeline.toml"
        config.write_text(
            textwrap.dedent(
                f"""
                [[cog]]
                use = "http.listen"
                port = {port}
                {extra}
                [[cog]]
                use = "flow.set"
                fields = {{seen = true}}
                [[cog]]
                use = "text.json_format"
                [[cog]]
                use = "fs.write"
                filename = "{out}"
                """
            )
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(config), "--quiet"], stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        return process, port, out

    def test_sigterm_loses_nothing_that_was_answered_200(self, tmp_path: Path) -> None:
        """Clients post while SIGTERM comes: every request answered 200 is in the output file; exit status 0."""
        process, port, out = self.start(tmp_path)
        answered: list[tuple[int, int]] = []
        stop = threading.Event()

        def client(number: int) -> None:
            request = 0
            while not stop.is_set():
                body = lines(*({"client": number, "request": request, "n": n} for n in range(50)))
                try:
                    answered.append((number * 1_000_000 + request, post(port, body).status))
                except aiohttp.ClientError:
                    return
                request += 1

        clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for thread in clients:
            thread.start()
        while len(answered) < 40:
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        stop.set()
        for thread in clients:
            thread.join(30)
        assert process.returncode == 0, stderr
        written = {
            (d["client"] * 1_000_000 + d["request"], d["n"]) for d in map(json.loads, out.read_text().splitlines())
        }
        ok = [request for request, status in answered if status == 200]
        assert len(ok) >= 40
        assert all((request, n) in written for request in ok for n in range(50))

    def test_memory_stays_bounded_under_many_idle_connections(self, tmp_path: Path) -> None:
        """3000 idle connections against max_connections 100: the process grows by a few MiB, not per connection."""
        process, port, _ = self.start(tmp_path, "max_connections = 100")
        try:
            time.sleep(0.5)
            before = rss_kib(process.pid)
            idle = []
            for _ in range(3000):
                try:
                    idle.append(raw(port))
                except OSError:
                    break
            assert post(port, lines({"still": "served"})).status == 200
            after = rss_kib(process.pid)
            for sock in idle:
                sock.close()
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        assert len(idle) == 3000
        assert after - before < 8 * 1024, f"grew {after - before} KiB"
        assert "100 connections open, the most allowed" in stderr
