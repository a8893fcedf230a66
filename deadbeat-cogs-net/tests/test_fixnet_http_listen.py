"""http.listen fixes, with real clients on loopback: max_connections never costs a request its answer, and
Content-Encoding and charset are answered as the cog answers other refusals."""

from __future__ import annotations

import collections
import gzip
import http.client
import json
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from test_http_listen import Gate, Listening, closed_by_server, lines, post, raw  # noqa: E402 - the listen tests' pieces


def read_answer(sock: Any) -> bytes:
    """Everything the server sends until it closes (or the socket's timeout)."""
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and answer.endswith(b"}"):
                break
    except (TimeoutError, ConnectionResetError):
        pass
    return answer


def posting(body: bytes, headers: str, length: int | None = None) -> bytes:
    """A raw POST request's bytes: its head (with ``headers`` lines) and ``body``."""
    size = len(body) if length is None else length
    return f"POST / HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {size}\r\n\r\n".encode() + body


class TestMaxConnectionsKeepsRequestsAnswered:
    def test_a_request_whose_head_was_read_is_not_closed_to_make_room(self) -> None:
        """max_connections 1: a client has sent its head and half its body when another connects. The newcomer
        is refused; the first one, not closed (it was: its request had started), finishes and gets its 200."""
        listening = Listening(max_connections=1)

        def client(self: Listening) -> tuple[bool, bytes, int]:
            body = lines({"first": 1})
            first = raw(self.port)
            first.sendall(posting(body[:5], "Content-Type: application/x-ndjson\r\n", len(body)))
            while not self.on_loop(lambda: self.supply.counts["requests"]):  # the head was read: it is handled
                time.sleep(0.01)
            newcomer = raw(self.port)
            newcomer.settimeout(5)
            refused = closed_by_server(newcomer)
            newcomer.close()
            first.sendall(body[5:])
            answer = read_answer(first)
            first.close()
            return refused, answer, self.on_loop(lambda: self.supply.open_connections)

        refused, answer, _ = listening.run(client)
        assert refused
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'{"accepted": 1}')
        assert listening.collector.data == [{"first": 1}]

    def test_data_in_the_train_get_their_answer_while_others_connect(self) -> None:
        """max_connections 1: a request's data are held in the train while 5 more clients connect: each is
        refused, and the request still gets its 200 once the data are through."""
        listening = Listening(max_connections=1, extra=lambda train: [Gate(train, 0.8)])

        def client(self: Listening) -> tuple[list[bool], bytes]:
            first = raw(self.port)
            first.sendall(posting(lines({"held": 1}), "Content-Type: application/x-ndjson\r\n"))
            while not self.on_loop(lambda: bool(self.extra[0].held)):
                time.sleep(0.01)
            refused = []
            for _ in range(5):
                with raw(self.port) as other:
                    other.settimeout(5)
                    refused.append(closed_by_server(other))
            answer = read_answer(first)
            first.close()
            return refused, answer

        refused, answer = listening.run(client)
        assert refused == [True] * 5
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'{"accepted": 1}')
        assert listening.collector.data == [{"held": 1}]

    def test_an_idle_keep_alive_connection_makes_room(self) -> None:
        """A connection kept alive after its answer is the one closed for a newcomer, which is then served."""
        listening = Listening(max_connections=1)

        def client(self: Listening) -> tuple[bytes, bool, int]:
            first = raw(self.port)
            first.sendall(posting(lines({"n": 1}), "Content-Type: application/x-ndjson\r\n"))
            answer = read_answer(first)
            served = post(self.port, lines({"n": 2})).status
            closed = closed_by_server(first)
            first.close()
            return answer, closed, served

        answer, closed, served = listening.run(client)
        assert answer.startswith(b"HTTP/1.1 200 ") and closed and served == 200
        assert listening.collector.data == [{"n": 1}, {"n": 2}]

    def test_keep_alive_clients_over_the_cap_never_lose_an_answer_to_data_taken(self) -> None:
        """6 keep-alive clients x 40 POSTs against max_connections 2 (the finding: ~130 requests had their data
        written and no answer). Now every datum that entered the train was answered 200, and every 200 is there;
        a request cut off gets no answer and its data are not taken (a client may send it again safely)."""
        listening = Listening(max_connections=2)

        def client(self: Listening) -> dict[tuple[int, int], Any]:
            results: dict[tuple[int, int], Any] = {}
            lock = threading.Lock()

            def worker(w: int) -> None:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                for i in range(40):
                    try:
                        connection.request(
                            "POST", "/", json.dumps({"w": w, "i": i}), {"Content-Type": "application/json"}
                        )
                        answer = connection.getresponse()
                        answer.read()
                        status: Any = answer.status
                    except (OSError, http.client.HTTPException) as exc:
                        status = type(exc).__name__
                        connection.close()
                        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                    with lock:
                        results[(w, i)] = status
                connection.close()

            workers = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
            for thread in workers:
                thread.start()
            for thread in workers:
                thread.join(60)
            return results

        results = listening.run(client, timeout=120)
        taken = collections.Counter((d["w"], d["i"]) for d in listening.collector.data)
        assert len(results) == 240
        answered = {key for key, status in results.items() if status == 200}
        assert set(taken) == answered, collections.Counter(
            str(results[key]) for key in set(taken).symmetric_difference(answered)
        )
        assert all(count == 1 for count in taken.values())
        assert answered  # some got through (the cap cuts off the others)
        assert all(status == 200 or isinstance(status, str) for status in results.values())


class TestEncodings:
    def exchange(self, listening: Listening, requests: list[bytes]) -> list[tuple[int, dict[str, str], Any]]:
        """Send each raw request on a connection of its own: :returns: the status, headers and JSON body of each."""

        def client(self: Listening) -> list[tuple[int, dict[str, str], Any]]:
            answers = []
            for request in requests:
                with raw(self.port) as sock:
                    sock.sendall(request)
                    answer = read_answer(sock)
                head, _, body = answer.partition(b"\r\n\r\n")
                status_line, *header_lines = head.decode().split("\r\n")
                headers = dict(line.split(": ", 1) for line in header_lines)
                answers.append((int(status_line.split()[1]), headers, json.loads(body)))
            return answers

        return listening.run(client)

    def test_an_encoding_not_taken_is_refused_with_415_naming_those_taken(self) -> None:
        """Content-Encoding: br (aiohttp answered a plain-text 400 "Please install Brotli"): 415 in JSON, with
        Accept-Encoding; so are zstd and two encodings at once. Nothing enters the train."""
        listening = Listening()
        json_type = "Content-Type: application/json\r\n"
        answers = self.exchange(
            listening,
            [
                posting(b'{"a": 1}', json_type + "Content-Encoding: br\r\n"),
                posting(b'{"a": 1}', json_type + "Content-Encoding: zstd\r\n"),
                posting(gzip.compress(gzip.compress(b"{}")), json_type + "Content-Encoding: gzip, gzip\r\n"),
            ],
        )
        for (status, headers, body), name in zip(answers, ["'br'", "'zstd'", "'gzip, gzip'"], strict=True):
            assert status == 415 and headers["Content-Type"].startswith("application/json")
            assert headers["Accept-Encoding"] == "gzip, deflate, identity"
            assert name in body["error"] and "gzip, deflate or identity" in body["error"], body
        assert listening.collector.data == []

    def test_a_cut_gzip_body_is_refused_as_not_valid_gzip(self) -> None:
        """A gzip body cut after 10 bytes was read as an empty document ("invalid JSON ... zero-length"); now it
        is refused as not valid gzip, and so is one cut in the middle of its data."""
        listening = Listening()
        whole = gzip.compress(json.dumps({"a": "b" * 1000}).encode())
        headers = "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
        answers = self.exchange(listening, [posting(whole[:10], headers), posting(whole[: len(whole) // 2], headers)])
        for status, _, body in answers:
            assert status == 400
            assert body["error"].startswith("the body is not valid gzip (as its Content-Encoding says)"), body
        assert listening.collector.data == []

    def test_gzip_and_deflate_bodies_are_taken(self) -> None:
        """gzip (also as x-gzip, and two members one after the other), deflate as zlib data and as raw deflate."""
        listening = Listening()
        raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        ndjson = "Content-Type: application/x-ndjson\r\n"
        answers = self.exchange(
            listening,
            [
                posting(gzip.compress(lines({"n": 1})), ndjson + "Content-Encoding: gzip\r\n"),
                posting(gzip.compress(lines({"n": 2})), ndjson + "Content-Encoding: x-gzip\r\n"),
                posting(
                    gzip.compress(lines({"n": 3})) + gzip.compress(lines({"n": 4})),
                    ndjson + "Content-Encoding: gzip\r\n",
                ),
                posting(zlib.compress(lines({"n": 5})), ndjson + "Content-Encoding: deflate\r\n"),
                posting(
                    raw_deflate.compress(lines({"n": 6})) + raw_deflate.flush(),
                    ndjson + "Content-Encoding: deflate\r\n",
                ),
                posting(lines({"n": 7}), ndjson + "Content-Encoding: identity\r\n"),
            ],
        )
        assert [status for status, _, _ in answers] == [200] * 6, answers
        assert listening.collector.data == [{"n": n} for n in range(1, 8)]

    def test_a_gzip_bomb_is_answered_413_without_expanding_it(self) -> None:
        """8 MiB of zeros gzipped to a few KiB against max_body 64 KiB: 413, the train untouched."""
        listening = Listening(max_body=65536)
        bomb = gzip.compress(b"[" + b"0," * (4 << 20) + b"0]")
        assert len(bomb) < 65536
        [(status, _, body)] = self.exchange(
            listening, [posting(bomb, "Content-Type: application/json\r\nContent-Encoding: gzip\r\n")]
        )
        assert status == 413 and "65536" in body["error"]
        assert listening.collector.data == []

    def test_aiohttps_client_compressing_a_chunked_body(self) -> None:
        """A client that compresses as it sends (chunked transfer, deflate) is taken as before."""
        listening = Listening()
        documents = [{"n": n, "pad": "x" * 100} for n in range(500)]
        body = zlib.compress(lines(*documents))
        answer = listening.run(
            lambda self: post(self.port, [body[:100], body[100:]], headers={"Content-Encoding": "deflate"})
        )
        assert answer.status == 200 and answer.json() == {"accepted": 500}
        assert listening.collector.data == documents

    def test_a_charset_other_than_utf8_is_refused_naming_it(self) -> None:
        """charset=utf-16 was decoded as UTF-8; now 415 naming the charset. utf-8 and us-ascii are taken."""
        listening = Listening()
        answers = self.exchange(
            listening,
            [
                posting('{"a": 1}'.encode("utf-16"), "Content-Type: application/json; charset=utf-16\r\n"),
                posting(b'{"a": 2}', "Content-Type: application/x-ndjson; charset=ISO-8859-1\r\n"),
                posting(b'{"a": 3}', "Content-Type: application/json; charset=UTF-8\r\n"),
                posting(b'{"a": 4}', "Content-Type: application/json; charset=us-ascii\r\n"),
            ],
        )
        (s1, _, b1), (s2, _, b2), (s3, _, _), (s4, _, _) = answers
        assert s1 == 415 and "'utf-16'" in b1["error"] and "UTF-8" in b1["error"]
        assert s2 == 415 and "'ISO-8859-1'" in b2["error"]
        assert (s3, s4) == (200, 200)
        assert listening.collector.data == [{"a": 3}, {"a": 4}]
