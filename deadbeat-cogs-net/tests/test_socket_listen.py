"""socket.listen on real sockets on loopback, with real clients (logger, openssl, Python's ssl).

Each test runs a real Escapement in the test's thread, the clients in threads or
processes of their own, and stops once what it waits for has arrived (or fails
after a generous time-out: nothing here asserts on how long anything took).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import resource
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from deadbeat import metrics, movement
from deadbeat.socket import FramingError, MessageTooLong, SocketSupply
from deadbeat.socket import _listen as listen_module
from deadbeat.testing import CogConformance, Collector

LOGGER = shutil.which("logger") or "/usr/bin/logger"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


class EventIds(movement.Cog):
    """Keeps the event id of every datum the train acknowledges."""

    def __init__(self) -> None:
        self.ids: list[Any] = []

    def event_done(self, event_id: Any) -> None:
        self.ids.append(event_id)


class Rig:
    """A real Escapement and Train: socket.listen, then optional cogs, then a Collector."""

    def __init__(self, cogs: tuple[Any, ...] = (), ids: bool = False, **params: Any) -> None:
        self.esc = movement.Escapement()
        self.records: list[movement.ErrorRecord] = []
        self.train = movement.Train(self.esc, error_output=self.records.append)
        self.supply = SocketSupply(self.esc, **params)
        self.collector = Collector()
        self.event_ids = EventIds()
        self.train.cogs = [self.supply, *cogs, self.collector, *((self.event_ids,) if ids else ())]
        self.threads: list[threading.Thread] = []
        self.failures: list[BaseException] = []

    @property
    def address(self) -> Any:
        return self.supply.address

    @property
    def port(self) -> int:
        return int(self.supply.address[1])

    @property
    def data(self) -> list[Any]:
        return self.collector.data

    def lines(self) -> list[str]:
        return [d["line"] if isinstance(d, dict) else d for d in self.collector.data]

    def client(self, function: Callable[[], Any]) -> None:
        """Run ``function`` in a thread of its own, now; its exception fails the test."""

        def run() -> None:
            try:
                function()
            except BaseException as exc:  # noqa: BLE001 - reported by run_until
                self.failures.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        self.threads.append(thread)
        thread.start()

    def run_until(self, done: Callable[[], bool], timeout: float = 60.0, what: str = "the data") -> None:
        """Run the loop until ``done()`` holds, then shut down in order (finish, done)."""
        deadline = time.monotonic() + timeout
        state = {"timed_out": False}

        def check() -> None:
            if self.failures or done():
                self.esc.shutdown()
            elif time.monotonic() > deadline:
                state["timed_out"] = True
                self.esc.shutdown()

        self.esc.every(0.01, check, keeps_alive=False)
        try:
            self.esc.run()
        finally:
            self.esc.close()
        for thread in self.threads:
            thread.join(timeout=30)
        if self.failures:
            raise self.failures[0]
        assert not state["timed_out"], f"timed out waiting for {what}: {len(self.data)} data, {self.records[:3]}"


def send_lines(address: Any, payload: bytes, family: int = socket.AF_INET) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.connect(address)
        sock.sendall(payload)


def run_logger(*args: str, stdin: bytes = b"") -> None:
    result = subprocess.run([LOGGER, *args], input=stdin, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr


class TestTcpNewline:
    def test_logger_lines_arrive_with_their_peer_and_ids(self) -> None:
        """Lines from logger --tcp arrive in order, each with the peer and an id naming peer, connection and offset."""
        rig = Rig(ids=True, port=0)
        messages = [f"message {i}" for i in range(200)]
        rig.client(
            lambda: run_logger(
                "--tcp", "-n", "127.0.0.1", "-P", str(rig.port), "-t", "app", stdin="\n".join(messages).encode()
            )
        )
        rig.run_until(lambda: len(rig.data) >= 200 and len(rig.event_ids.ids) >= 200)
        assert [line.rsplit(" ", 2)[-2:] for line in rig.lines()] == [m.split(" ") for m in messages]
        peers = {d["peer"] for d in rig.data}
        assert len(peers) == 1 and peers.pop().startswith("127.0.0.1:")
        ids = rig.event_ids.ids
        assert len(set(ids)) == 200
        assert all(i.startswith(f"tcp:{rig.data[0]['peer']}/") for i in ids)
        offsets = [int(i.rsplit(":", 1)[1]) for i in ids]
        assert offsets[0] == 0 and offsets == sorted(offsets)
        assert not rig.records

    def test_lines_cut_anywhere_by_the_client_arrive_whole(self) -> None:
        """A client writing in pieces that end inside lines: every line arrives whole, once, in order."""
        rig = Rig(port=0, line_setter=None, peer_setter=None, read_size=997)
        lines = [f"{i:06d} " + "x" * random.Random(i).randint(0, 300) for i in range(5000)]
        payload = "".join(line + "\n" for line in lines).encode()

        def client() -> None:
            rng = random.Random(3)
            with socket.create_connection(rig.address) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                position = 0
                while position < len(payload):
                    size = rng.randint(1, 4000)
                    sock.sendall(payload[position : position + size])
                    position += size

        rig.client(client)
        rig.run_until(lambda: len(rig.data) >= len(lines))
        assert rig.data == lines

    def test_an_unfinished_last_line_is_taken_when_the_client_closes(self) -> None:
        """The client's last line without a newline is its last message when it closes the connection."""
        rig = Rig(port=0)
        rig.client(lambda: send_lines(rig.address, b"one\ntwo"))
        rig.run_until(lambda: len(rig.data) >= 2)
        assert rig.lines() == ["one", "two"]
        assert not rig.records

    def test_many_clients_at_once_keep_their_own_order(self) -> None:
        """Fifty clients writing at once: all lines arrive, each client's in its order, each with its own peer."""
        rig = Rig(port=0)
        clients, per_client = 50, 2000

        def client(number: int) -> Callable[[], None]:
            return lambda: send_lines(rig.address, "".join(f"{number} {i}\n" for i in range(per_client)).encode())

        for number in range(clients):
            rig.client(client(number))
        rig.run_until(lambda: len(rig.data) >= clients * per_client)
        by_client: dict[str, list[int]] = {}
        peers: dict[str, set[str]] = {}
        for datum in rig.data:
            number, seq = datum["line"].split()
            by_client.setdefault(number, []).append(int(seq))
            peers.setdefault(number, set()).add(datum["peer"])
        assert all(seqs == list(range(per_client)) for seqs in by_client.values())
        assert len(by_client) == clients
        assert all(len(p) == 1 for p in peers.values())
        assert len({p for ps in peers.values() for p in ps}) == clients

    def test_ids_stay_unique_when_a_peer_address_and_port_come_back(self) -> None:
        """Two connections from the same address and port get distinct event ids (connections are numbered)."""
        rig = Rig(ids=True, port=0)

        def client() -> None:
            local_port = None
            for round_no in range(2):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                # Reset on close: no TIME_WAIT keeps the port from coming back.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.bind(("127.0.0.1", local_port or 0))
                local_port = sock.getsockname()[1]
                sock.connect(rig.address)
                sock.sendall(f"round {round_no}\n".encode())
                # Wait until the line is in before resetting, so it is not lost with the reset.
                while len(rig.data) <= round_no:
                    time.sleep(0.01)
                sock.close()

        rig.client(client)
        rig.run_until(lambda: len(rig.event_ids.ids) >= 2)
        assert rig.data[0]["peer"] == rig.data[1]["peer"]
        assert len(set(rig.event_ids.ids)) == 2, rig.event_ids.ids

    def test_peer_host_setter_gives_the_address_alone(self) -> None:
        """peer_host_setter puts the peer's address without port, for address cogs."""
        rig = Rig(port=0, peer_host_setter="source")
        rig.client(lambda: send_lines(rig.address, b"x\n"))
        rig.run_until(lambda: len(rig.data) >= 1)
        assert rig.data[0]["source"] == "127.0.0.1"
        assert rig.data[0]["peer"].startswith("127.0.0.1:")

    def test_setters_shape_the_data(self) -> None:
        """id_setter puts the id in the data; dotted paths nest; a setter that raises costs its datum alone."""
        rig = Rig(port=0, id_setter="id", line_setter="msg.text", peer_setter="msg.from")
        rig.client(lambda: send_lines(rig.address, b"first\nsecond\n"))
        rig.run_until(lambda: len(rig.data) >= 2)
        first, second = rig.data
        assert first["msg"]["text"] == "first" and first["msg"]["from"].startswith("127.0.0.1:")
        assert first["id"] == f"tcp:{first['msg']['from']}/" + first["id"].split("/", 1)[1]
        assert first["id"].endswith(":0") and second["id"].endswith(":6")

    @pytest.mark.parametrize("field", ["eid", "meta.eid"])
    def test_the_train_knows_the_event_id_whatever_the_id_field(
        self, field: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """id_setter naming a field other than "id": error records, log lines and event_done still name the id."""

        class Picky(movement.Cog):
            def __call__(self, datum: Any) -> tuple[Any, ...]:
                if datum["line"] == "bad":
                    raise ValueError("not this one")
                return (datum,)

        rig = Rig(cogs=(Picky(),), ids=True, port=0, id_setter=field)
        rig.client(lambda: send_lines(rig.address, b"good\nbad\n"))
        with caplog.at_level(logging.WARNING):
            rig.run_until(lambda: len(rig.data) >= 1 and bool(rig.records))
        (record,) = rig.records
        stored = record.datum["eid"] if field == "eid" else record.datum["meta"]["eid"]
        assert stored.startswith("tcp:127.0.0.1:") and stored.endswith(":5")
        assert record.event_id == stored
        assert record.as_dict()["event_id"] == stored
        assert f"{stored}: " in caplog.text and "-: " not in caplog.text
        good = rig.data[0]["eid"] if field == "eid" else rig.data[0]["meta"]["eid"]
        assert good in rig.event_ids.ids

    def test_a_failing_setter_costs_its_datum_alone(self) -> None:
        """The manual's one-argument id_setter that raises for one line: that line is an error record, with its peer."""

        def stamp(datum: dict[str, Any]) -> dict[str, Any]:
            if datum["line"] == "bad":
                raise ValueError("refused by the stamp")
            datum["stamp"] = "ok"
            return datum

        rig = Rig(port=0, id_setter=stamp)
        rig.client(lambda: send_lines(rig.address, b"good\nbad\nalso good\n"))
        rig.run_until(lambda: len(rig.data) >= 2 and bool(rig.records))
        assert [(d["line"], d["stamp"]) for d in rig.data] == [("good", "ok"), ("also good", "ok")]
        (record,) = rig.records
        assert record.datum["line"] == "bad" and record.datum["peer"].startswith("127.0.0.1:")
        assert record.event_id.endswith(":5")

    def test_ipv6_loopback(self) -> None:
        """host = "::1" listens on IPv6; the peer is written [::1]:PORT."""
        rig = Rig(port=0, host="::1")
        rig.client(lambda: send_lines(rig.address[:2], b"six\n", family=socket.AF_INET6))
        rig.run_until(lambda: len(rig.data) >= 1)
        assert rig.data[0]["peer"].startswith("[::1]:")


class TestLineEndings:
    def test_crlf_clients_lose_the_carriage_return(self) -> None:
        """A client ending lines with CRLF: the messages hold no trailing \r (as syslog receivers do)."""
        rig = Rig(port=0)
        rig.client(lambda: send_lines(rig.address, b"first\r\nsecond\r\nbare\rinside\n"))
        rig.run_until(lambda: len(rig.data) >= 3)
        assert rig.lines() == ["first", "second", "bare\rinside"]


class TestOctetCounting:
    def test_logger_octet_count_rfc5424(self) -> None:
        """logger --octet-count --rfc5424 over TCP: each message whole, none cut by framing."""
        rig = Rig(port=0, framing="octet-counted")
        messages = [f"counted {i}" for i in range(100)]
        rig.client(
            lambda: run_logger(
                "--tcp",
                "--octet-count",
                "--rfc5424",
                "-n",
                "127.0.0.1",
                "-P",
                str(rig.port),
                "-t",
                "app",
                stdin="\n".join(messages).encode(),
            )
        )
        rig.run_until(lambda: len(rig.data) >= 100)
        assert all(line.startswith("<13>1 ") for line in rig.lines())
        assert [line.split("] ", 1)[1] for line in rig.lines()] == messages
        assert not rig.records

    def test_messages_holding_newlines_stay_whole(self) -> None:
        """Octet counting carries multi-line messages (a stack trace) as one datum."""
        rig = Rig(port=0, framing="octet-counted")
        message = "Traceback:\n  line 1\n  line 2"
        rig.client(lambda: send_lines(rig.address, b"%d %b" % (len(message), message.encode()) * 3))
        rig.run_until(lambda: len(rig.data) >= 3)
        assert rig.lines() == [message] * 3

    def test_syslog_framing_takes_both_kinds_of_sender(self) -> None:
        """framing = syslog: logger with and without --octet-count on one listener, every message right."""
        rig = Rig(port=0, framing="syslog")
        common = ("--tcp", "--rfc5424", "-n", "127.0.0.1", "-P", str(rig.port), "-t", "app")
        rig.client(lambda: run_logger(*common, "--octet-count", stdin=b"counted a\ncounted b"))
        rig.client(lambda: run_logger(*common, stdin=b"plain a\nplain b"))
        rig.run_until(lambda: len(rig.data) >= 4)
        assert sorted(line.split("] ", 1)[1] for line in rig.lines()) == [
            "counted a",
            "counted b",
            "plain a",
            "plain b",
        ]

    @pytest.mark.parametrize("bad", [b"00005 hello", b"0 "])
    def test_a_length_with_a_leading_zero_is_a_bad_frame(self, bad: bytes) -> None:
        """RFC 6587: "00005 hello" and the empty "0 " frame are refused as bad headers, not taken as messages."""
        rig = Rig(port=0, framing="octet-counted")
        rig.client(lambda: send_lines(rig.address, b"2 ok" + bad + b"5 later"))
        rig.run_until(lambda: len(rig.data) >= 1 and bool(rig.records))
        assert rig.lines() == ["ok"]
        (record,) = rig.records
        assert isinstance(record.error, FramingError) and record.datum["offset"] == 4
        assert record.datum["raw"].startswith(bad)

    def test_a_broken_header_closes_only_that_client(self) -> None:
        """A client not speaking octet counting is closed with an error record; another client goes on."""
        rig = Rig(port=0, framing="octet-counted")

        def good() -> None:
            with socket.create_connection(rig.address) as sock:
                for i in range(100):
                    body = f"good {i}".encode()
                    sock.sendall(b"%d %b" % (len(body), body))

        rig.client(lambda: send_lines(rig.address, b"3 abcthis is no frame\n"))
        rig.client(good)
        rig.run_until(lambda: len(rig.data) >= 101 and bool(rig.records))
        assert rig.lines()[:1] == ["abc"] or "abc" in rig.lines()
        assert [line for line in rig.lines() if line.startswith("good")] == [f"good {i}" for i in range(100)]
        (record,) = rig.records
        assert isinstance(record.error, FramingError)
        assert record.datum["peer"].startswith("127.0.0.1:")
        assert record.datum["offset"] == 5
        assert rig.supply.counts["framing_errors"] == 1


class TestUdp:
    def test_logger_udp_rfc5424_datagrams(self) -> None:
        """logger --udp --rfc5424: one datum per datagram, with the sender's address and port."""
        rig = Rig(ids=True, transport="udp", port=0)
        rig.client(
            lambda: run_logger(
                "--udp", "--rfc5424", "-n", "127.0.0.1", "-P", str(rig.port), "-t", "app", stdin=b"first\nsecond"
            )
        )
        rig.run_until(lambda: len(rig.event_ids.ids) >= 2)
        assert [line.split("] ", 1)[1] for line in rig.lines()] == ["first", "second"]
        assert rig.data[0]["peer"].startswith("127.0.0.1:")
        assert all(i.startswith(f"udp:{rig.data[0]['peer']}/") for i in rig.event_ids.ids)
        assert len(set(rig.event_ids.ids)) == 2

    def test_oversize_and_undecodable_datagrams_go_to_the_error_output(self) -> None:
        """A datagram over max_line and one that is not UTF-8 fail alone, naming their sender; the rest arrive."""
        rig = Rig(transport="udp", port=0, max_line=100)

        def client() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.connect(rig.address)
                for payload in (b"ok 1\n", b"y" * 500, b"ok 2", b"\xff\xfe garbage", b"ok 3"):
                    sock.send(payload)

        rig.client(client)
        rig.run_until(lambda: len(rig.data) >= 3 and len(rig.records) >= 2)
        assert rig.lines() == ["ok 1", "ok 2", "ok 3"]
        too_long, undecodable = rig.records
        assert isinstance(too_long.error, MessageTooLong)
        assert too_long.datum["raw"] == b"y" * 100
        assert isinstance(undecodable.error, UnicodeDecodeError)
        assert undecodable.datum["raw"] == b"\xff\xfe garbage"
        for record in rig.records:
            assert record.event_id.startswith("udp:127.0.0.1:")
            assert record.datum["peer"] in str(record.error)
        assert rig.supply.counts["too_long"] == 1 and rig.supply.counts["undecodable"] == 1

    def test_receive_buffer_is_raised(self) -> None:
        """receive_buffer sets the socket's SO_RCVBUF (forced beyond rmem_max where allowed)."""
        rig = Rig(transport="udp", port=0, receive_buffer=8 << 20)
        given = rig.supply._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        rig.run_until(lambda: True)
        assert given >= (8 << 20 if os.geteuid() == 0 else 1)

    def test_datagrams_the_kernel_dropped_are_counted_and_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        """While the supply is paused the kernel drops what does not fit; the count is logged, not hidden."""
        rig = Rig(transport="udp", port=0, receive_buffer=4096)
        sent = threading.Event()

        def client() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.connect(rig.address)
                for i in range(2000):
                    sock.send(b"datagram %d" % i)
            sent.set()

        rig.esc.pause(rig.supply)  # as the train does under backpressure
        rig.client(client)
        state = {"resumed": False}

        def resume_when_sent() -> bool:
            if sent.is_set() and not state["resumed"]:
                state["resumed"] = True
                rig.esc.resume(rig.supply)
            return state["resumed"] and bool(rig.data)

        with caplog.at_level(logging.WARNING, logger="deadbeat.socket"):
            rig.run_until(resume_when_sent)
        drops = rig.supply.counts["kernel_drops"]
        assert drops > 0
        assert len(rig.data) + drops == 2000, "every datagram was read or counted as dropped"
        assert any("kernel dropped" in r.getMessage() for r in caplog.records)

    def test_drops_of_a_burst_are_said_once_it_is_over_without_a_next_datagram(
        self, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A burst read within the interval of the last look: its drops were said only when the next datagram came
        (20 s later in a trial, or never); now a look follows the burst by the interval, while nothing arrives."""
        monkeypatch.setattr(listen_module, "_DROPS_INTERVAL", 1.0)
        rig = Rig(transport="udp", port=0, receive_buffer=4096)
        sent = threading.Event()

        def client() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.connect(rig.address)
                for i in range(2000):
                    sock.send(b"datagram %d" % i)
            sent.set()

        rig.esc.pause(rig.supply)
        rig.client(client)
        state = {"resumed": False}

        def said() -> bool:
            if sent.is_set() and not state["resumed"]:
                state["resumed"] = True
                rig.esc.resume(rig.supply)
            return any("kernel dropped" in r.getMessage() for r in caplog.records)

        with caplog.at_level(logging.WARNING, logger="deadbeat.socket"):
            rig.run_until(said, timeout=10)
        assert said(), "the drops were not said while the listener ran"
        drops = rig.supply.counts["kernel_drops"]
        assert drops > 0 and len(rig.data) + drops == 2000


class TestUnixSockets:
    def test_stream_client_named_by_its_credentials(self, tmp_path: Path) -> None:
        """A Unix stream client is named pid=,uid=,gid= from the kernel; the socket file has the mode asked."""
        path = tmp_path / "in.sock"
        rig = Rig(transport="unix", path=str(path), mode=0o660)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        rig.client(lambda: send_lines(str(path), b"via unix\n", family=socket.AF_UNIX))
        rig.run_until(lambda: len(rig.data) >= 1)
        assert rig.data == [{"peer": f"pid={os.getpid()},uid={os.getuid()},gid={os.getgid()}", "line": "via unix"}]
        assert not path.exists(), "the socket file is removed at the end"

    def test_logger_to_a_unix_datagram_socket(self, tmp_path: Path) -> None:
        """logger -u PATH (as to /dev/log): datagrams with the logger process's credentials."""
        path = tmp_path / "log.sock"
        rig = Rig(transport="unix-datagram", path=str(path))
        rig.client(lambda: run_logger("-u", str(path), "-t", "app", "hello", "unix"))
        rig.run_until(lambda: len(rig.data) >= 1)
        assert rig.lines()[0].endswith("app: hello unix")
        assert rig.data[0]["peer"].startswith("pid=") and f"uid={os.getuid()}" in rig.data[0]["peer"]
        assert f"pid={os.getpid()}," not in rig.data[0]["peer"], "the sender is logger, not us"

    def test_a_stale_socket_file_is_replaced(self, tmp_path: Path) -> None:
        """A socket file nobody listens on (a crashed run's) is removed and the listener starts."""
        path = tmp_path / "stale.sock"
        old = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old.bind(str(path))
        old.close()
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        rig = Rig(transport="unix", path=str(path))
        rig.client(lambda: send_lines(str(path), b"fresh\n", family=socket.AF_UNIX))
        rig.run_until(lambda: len(rig.data) >= 1)
        assert rig.lines() == ["fresh"]

    def test_a_regular_file_is_never_removed(self, tmp_path: Path) -> None:
        """A regular file at the path (planted or not): the cog refuses to start, the file stays as it was."""
        path = tmp_path / "planted"
        path.write_text("precious")
        with pytest.raises(OSError, match="not a socket"):
            SocketSupply(movement.DummyEscapement(), transport="unix", path=str(path))
        assert path.read_text() == "precious"

    def test_a_link_to_a_socket_is_not_followed(self, tmp_path: Path) -> None:
        """A symbolic link at the path is not a socket by lstat: refused, and what it leads to is untouched."""
        target = tmp_path / "target.sock"
        holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        holder.bind(str(target))
        holder.close()
        link = tmp_path / "link.sock"
        link.symlink_to(target)
        with pytest.raises(OSError, match="not a socket"):
            SocketSupply(movement.DummyEscapement(), transport="unix", path=str(link))
        assert link.is_symlink() and stat.S_ISSOCK(os.lstat(target).st_mode)

    def test_a_socket_someone_listens_on_is_not_taken_over(self, tmp_path: Path) -> None:
        """A live listener at the path keeps it: the cog refuses to start and does not remove its file."""
        path = tmp_path / "live.sock"
        live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        live.bind(str(path))
        live.listen()
        try:
            with pytest.raises(OSError, match="another process listens"):
                SocketSupply(movement.DummyEscapement(), transport="unix", path=str(path))
            assert stat.S_ISSOCK(os.lstat(path).st_mode)
        finally:
            live.close()


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_files(authority: trustme.CA, tmp_path: Path) -> dict[str, str]:
    cert = authority.issue_cert("127.0.0.1", "localhost")
    files = {"cert": tmp_path / "server.pem", "key": tmp_path / "server.key", "ca": tmp_path / "ca.pem"}
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    for blob in cert.cert_chain_pems[1:]:
        blob.write_to_path(str(files["cert"]), append=True)
    cert.private_key_pem.write_to_path(str(files["key"]))
    os.chmod(files["key"], 0o600)
    authority.cert_pem.write_to_path(str(files["ca"]))
    return {name: str(path) for name, path in files.items()}


def tls_client(address: Any, ca: str, payload: bytes, cert: tuple[str, str] | None = None) -> None:
    context = ssl.create_default_context(cafile=ca)
    if cert is not None:
        context.load_cert_chain(*cert)
    with socket.create_connection(address) as raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(payload)


class TestTls:
    def test_tls_client_lines_arrive(self, server_files: dict[str, str]) -> None:
        """A TLS client (Python's ssl) sends lines and closes at once: all arrive (no ticket left unread resets it)."""
        rig = Rig(port=0, tls_cert=server_files["cert"], tls_key=server_files["key"])
        payload = b"".join(b"secret %d\n" % i for i in range(10_000))
        rig.client(lambda: tls_client(rig.address, server_files["ca"], payload))
        rig.run_until(lambda: len(rig.data) >= 10_000)
        assert rig.lines() == [f"secret {i}" for i in range(10_000)]

    @pytest.mark.parametrize("close_notify", [True, False], ids=["closed-cleanly", "cut"])
    def test_an_unfinished_message_counts_only_after_a_clean_tls_end(
        self, server_files: dict[str, str], close_notify: bool
    ) -> None:
        """Over plain TCP a reset cuts the unfinished line to the error output; over TLS, an end without
        close_notify (a FIN anyone on the way can send) was taken for a clean end, and a cut line went on."""
        rig = Rig(port=0, tls_cert=server_files["cert"], tls_key=server_files["key"])

        def client() -> None:
            context = ssl.create_default_context(cafile=server_files["ca"])
            raw = socket.create_connection(rig.address)
            sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
            sock.sendall(b"whole\npartial")
            if close_notify:
                try:
                    sock.unwrap()  # sends close_notify, then waits for the server's, which closes without one
                except (ssl.SSLError, OSError):
                    pass
            sock.close()  # without unwrap(): no close_notify

        rig.client(client)
        rig.run_until(lambda: len(rig.data) + len(rig.records) >= 2)
        if close_notify:
            assert rig.lines() == ["whole", "partial"] and rig.records == []
        else:
            assert rig.lines() == ["whole"]
            assert len(rig.records) == 1 and "close_notify" in str(rig.records[0].error)

    def test_openssl_s_client(self, server_files: dict[str, str]) -> None:
        """openssl s_client as the client: the line it sends arrives."""
        rig = Rig(port=0, tls_cert=server_files["cert"], tls_key=server_files["key"])

        def client() -> None:
            subprocess.run(
                [OPENSSL, "s_client", "-quiet", "-CAfile", server_files["ca"], "-connect", f"127.0.0.1:{rig.port}"],
                input=b"from openssl\n",
                capture_output=True,
                timeout=60,
                check=False,
            )

        rig.client(client)
        rig.run_until(lambda: len(rig.data) >= 1)
        assert rig.lines() == ["from openssl"]

    def test_silent_and_plain_clients_hold_up_no_one(
        self, server_files: dict[str, str], caplog: pytest.LogCaptureFixture
    ) -> None:
        """A client that never starts its handshake and a plain-text one fail alone; a TLS client gets through."""
        rig = Rig(port=0, tls_cert=server_files["cert"], tls_key=server_files["key"], handshake_timeout=0.5)
        silent = socket.create_connection(rig.address)  # connects, never says a word
        rig.client(lambda: send_lines(rig.address, b"plain text, no TLS\n"))
        rig.client(lambda: tls_client(rig.address, server_files["ca"], b"through\n"))
        with caplog.at_level(logging.WARNING, logger="deadbeat.socket"):
            rig.run_until(lambda: bool(rig.data) and rig.supply.counts["tls_failed"] >= 2)
        silent.close()
        assert rig.lines() == ["through"]
        messages = [r.getMessage() for r in caplog.records]
        assert any("TLS handshake failed" in m for m in messages)
        assert any("handshake not done within 0.5 s" in m for m in messages)

    def test_client_certificates_when_tls_ca_is_given(
        self, authority: trustme.CA, server_files: dict[str, str], tmp_path: Path
    ) -> None:
        """With tls_ca, a client without a certificate is refused; one with a certificate the CA signed is taken."""
        client_cert = authority.issue_cert("client@example.org")
        cert_file, key_file = tmp_path / "client.pem", tmp_path / "client.key"
        client_cert.cert_chain_pems[0].write_to_path(str(cert_file))
        client_cert.private_key_pem.write_to_path(str(key_file))
        rig = Rig(port=0, tls_cert=server_files["cert"], tls_key=server_files["key"], tls_ca=server_files["ca"])

        def anonymous() -> None:
            try:
                tls_client(rig.address, server_files["ca"], b"anonymous\n")
            except (ssl.SSLError, OSError):
                pass  # refused: what is wanted (TLS 1.3 may also only tell at the first read)

        rig.client(anonymous)
        rig.client(lambda: tls_client(rig.address, server_files["ca"], b"with cert\n", (str(cert_file), str(key_file))))
        rig.run_until(lambda: bool(rig.data) and rig.supply.counts["tls_failed"] >= 1)
        assert rig.lines() == ["with cert"]


class TestBadInput:
    def test_oversize_line_goes_to_the_error_output_whole_rest_goes_on(self) -> None:
        """A line over max_line: an error record with peer, offset and its first max_line bytes; never cut silently."""
        rig = Rig(port=0, max_line=1000)
        payload = b"before\n" + b"L" * 5000 + b"\nafter\n"
        rig.client(lambda: send_lines(rig.address, payload))
        rig.run_until(lambda: len(rig.data) >= 2 and bool(rig.records))
        assert rig.lines() == ["before", "after"]
        (record,) = rig.records
        assert isinstance(record.error, MessageTooLong)
        assert record.datum["offset"] == 7 and record.datum["raw"] == b"L" * 1000
        assert record.event_id == f"tcp:{rig.data[0]['peer']}/" + record.event_id.split("/", 1)[1]
        assert record.event_id.endswith(":7")
        assert "5000 bytes" in str(record.error) and record.datum["peer"] in str(record.error)

    def test_binary_garbage_fails_line_by_line_and_the_pipeline_goes_on(self) -> None:
        """Random bytes: lines that do not decode go to the error output, each with its offset; good lines arrive."""
        rig = Rig(port=0, max_line=4096)
        garbage = random.Random(9).randbytes(200_000)
        payload = b"good 1\n" + garbage + b"\ngood 2\n"
        expected = payload.split(b"\n")[:-1]
        rig.client(lambda: send_lines(rig.address, payload))
        rig.run_until(lambda: len(rig.data) + len(rig.records) >= len(expected))
        assert rig.lines()[0] == "good 1" and rig.lines()[-1] == "good 2"
        assert len(rig.data) + len(rig.records) == len(expected), "each line is a datum or an error record"
        offsets = sorted([r.datum["offset"] for r in rig.records])
        assert len(set(offsets)) == len(offsets)

    def test_a_client_that_never_ends_its_line_is_bounded_then_closed_when_idle(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Megabytes without a newline: one error record (max_line bytes), memory bounded; idle, it is closed."""
        rig = Rig(port=0, max_line=1000, idle_timeout=0.3)

        def client() -> None:
            with socket.create_connection(rig.address) as sock:
                for _ in range(100):
                    sock.sendall(b"z" * 100_000)
                assert sock.recv(1) == b"", "closed by the server"

        rig.client(client)
        kept = [0]

        def closed_while_bounded() -> bool:
            kept[0] = max([kept[0], *(c.framer.buffered for c in rig.supply._connections.values())])
            return rig.supply.counts["idle_closed"] >= 1

        with caplog.at_level(logging.WARNING, logger="deadbeat.socket"):
            rig.run_until(closed_while_bounded)
        assert kept[0] <= 1000, "never more than max_line bytes kept for the client"
        (record,) = rig.records
        assert isinstance(record.error, MessageTooLong) and len(record.datum["raw"]) == 1000
        assert any("nothing received for 0.3 s; closed" in r.getMessage() for r in caplog.records)

    def test_a_half_open_connection_is_closed_and_its_unfinished_line_kept(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Half a line, then silence: closed after idle_timeout; the half line goes to the error output."""
        rig = Rig(port=0, idle_timeout=0.3)
        silent = socket.create_connection(rig.address)
        silent.sendall(b"whole\nhalf a li")
        with caplog.at_level(logging.WARNING, logger="deadbeat.socket"):
            rig.run_until(lambda: rig.supply.counts["idle_closed"] >= 1)
        assert silent.recv(10) == b"", "the server closed its end"
        silent.close()
        assert rig.lines() == ["whole"]
        (record,) = rig.records
        assert isinstance(record.error, FramingError) and record.datum["raw"] == b"half a li"
        assert record.datum["offset"] == 6
        logged = [r.getMessage() for r in caplog.records]
        assert any("unfinished message of 9 bytes goes to the error output" in m for m in logged)

    def test_max_clients_refuses_the_rest_with_a_log_line(self, caplog: pytest.LogCaptureFixture) -> None:
        """Beyond max_clients a new connection is closed at once and said; the connected ones go on."""
        rig = Rig(port=0, max_clients=3)
        kept = [socket.create_connection(rig.address) for _ in range(3)]
        state: dict[str, Any] = {}

        def refused_client() -> None:
            while len(rig.supply._connections) < 3:
                time.sleep(0.01)
            with socket.create_connection(rig.address) as sock:
                state["answer"] = sock.recv(10)
            for sock in kept:
                sock.sendall(b"still here\n")
                sock.close()

        rig.client(refused_client)
        with caplog.at_level(logging.WARNING, logger="deadbeat.socket"):
            rig.run_until(lambda: len(rig.data) >= 3)
        assert state["answer"] == b""
        assert rig.supply.counts["refused"] == 1
        assert any("max_clients 3 reached" in r.getMessage() for r in caplog.records)

    def test_out_of_descriptors_accepting_rests_and_resumes(self, caplog: pytest.LogCaptureFixture) -> None:
        """EMFILE on accept: one log line, accepting rests instead of spinning, then every client gets in."""
        rig = Rig(port=0)
        clients = subprocess.Popen(
            [sys.executable, "-c", CONNECT_AND_SEND, str(rig.port), "10"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert clients.stdout is not None and clients.stdin is not None
        assert clients.stdout.readline().strip() == b"connected"
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        # Room for two more descriptors in this process: the third accept fails.
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 1, hard))
        state = {"raised": False}

        def limit_raised_after_the_first_failure() -> bool:
            if not state["raised"] and rig.supply._rest is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
                state["raised"] = True
            return len(rig.data) >= 10

        try:
            clients.stdin.close()  # the clients send their lines now
            with caplog.at_level(logging.WARNING, logger="deadbeat.socket"):
                rig.run_until(limit_raised_after_the_first_failure)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            clients.wait(timeout=60)
        assert sorted(rig.lines()) == sorted(f"client {i}" for i in range(10))
        rested = [r.getMessage() for r in caplog.records if "cannot accept" in r.getMessage()]
        assert len(rested) == 1 and "Too many open files" in rested[0]

    def test_a_thousand_idle_connections_stay_bounded_and_a_working_client_gets_through(self) -> None:
        """1,000 clients each holding half a line cost bounded memory; a new client's lines still arrive."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = min(hard, 8192)
        if wanted < 2200:
            pytest.skip(f"the descriptor limit ({hard}) is too low for 1,000 connections on both ends")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        try:
            self._thousand_idle(max_line=2000)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    def _thousand_idle(self, max_line: int) -> None:
        tracemalloc.start()
        try:
            rig = Rig(port=0, max_line=max_line, max_clients=2000)
            baseline = tracemalloc.get_traced_memory()[0]
            idle = subprocess.Popen(
                [sys.executable, "-c", IDLE_CLIENTS, str(rig.port), "1000", str(max_line - 1)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            assert idle.stdout is not None and idle.stdin is not None
            ready = threading.Event()
            rig.client(lambda: (idle.stdout.readline(), ready.set()))  # type: ignore[union-attr]
            measured: dict[str, int] = {}

            def working_client() -> None:
                ready.wait(60)
                while sum(c.framer.buffered for c in list(rig.supply._connections.values())) < 1000 * (max_line - 1):
                    time.sleep(0.01)
                measured["memory"] = tracemalloc.get_traced_memory()[0] - baseline
                measured["connections"] = len(rig.supply._connections)
                send_lines(rig.address, b"".join(b"working %d\n" % i for i in range(100)))

            rig.client(working_client)
            try:
                rig.run_until(lambda: len(rig.data) >= 100, timeout=120)
            finally:
                idle.stdin.close()
                idle.wait(timeout=60)
        finally:
            tracemalloc.stop()
        assert rig.lines() == [f"working {i}" for i in range(100)]
        assert measured["connections"] == 1000
        # Each idle client holds its unfinished line (max_line - 1 bytes) and its
        # bookkeeping (socket, binding, framer: a few hundred bytes); nothing grows beyond.
        per_client = measured["memory"] / 1000
        assert per_client < max_line + 4096, f"{per_client:.0f} bytes per idle client"
        # The unfinished lines went to the error output at shutdown, one record each.
        assert len(rig.records) == 1000
        assert all(isinstance(r.error, FramingError) for r in rig.records)


IDLE_CLIENTS = textwrap.dedent(
    """
    import socket, sys
    port, count, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"h" * size)
        socks.append(sock)
    print("ready", flush=True)
    sys.stdin.read()
    """
)


CONNECT_AND_SEND = textwrap.dedent(
    """
    import socket, sys
    port, count = int(sys.argv[1]), int(sys.argv[2])
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    print("connected", flush=True)
    sys.stdin.read()
    for number, sock in enumerate(socks):
        sock.sendall(b"client %d\\n" % number)
        sock.close()
    """
)


class Gate(movement.Cog):
    """Blocks the train at the first datum (an output that cannot write), until opened."""

    def __init__(self, esc: movement.Escapement) -> None:
        self.esc = esc
        self.closed = False
        self.seen = 0

    def __call__(self, data: Any) -> tuple[Any, ...]:
        self.seen += 1
        if self.seen == 1:
            self.closed = True
            self.esc.block(self)
        return (data,)

    def open(self) -> None:
        self.closed = False
        self.esc.unblock(self)


class TestBackpressure:
    def test_a_paused_supply_stops_reading_and_tcp_pushes_back(self) -> None:
        """Blocked output: the supply reads one more wake-up's worth at most; the client then waits; nothing is lost."""
        rig = Rig(port=0, line_setter=None, peer_setter=None, read_size=4096)
        gate = Gate(rig.esc)
        rig.train.cogs = [rig.supply, gate, rig.collector]
        line = b"p" * 99 + b"\n"
        state: dict[str, int] = {}

        def client() -> None:
            with socket.create_connection(rig.address) as sock:
                sock.sendall(line)
                while not gate.closed:  # the output blocks at the first line
                    time.sleep(0.01)
                sock.setblocking(False)
                sent = len(line)
                while True:
                    try:
                        sent += sock.send(line * 100)
                    except BlockingIOError:
                        break
                state["sent_until_full"] = sent
                state["seen_when_full"] = gate.seen
                rig.esc.loop.call_soon_threadsafe(gate.open)
                sock.setblocking(True)
                # Finish the line cut by the last send, then 10,000 more.
                rest = (-sent) % len(line) + len(line) * 10_000
                sock.sendall((line * (rest // len(line) + 2))[-rest:])
                state["total"] = sent + rest

        rig.client(client)
        rig.run_until(lambda: "total" in state and len(rig.data) * len(line) >= state["total"])
        assert len(rig.data) * len(line) == state["total"], "every line arrived once"
        # While blocked, the supply finished the wake-up it was in (4 reads of 4096 bytes) and read no more,
        # though the client had put far more into the connection.
        assert state["seen_when_full"] * len(line) <= 4 * 4096 + len(line)
        assert state["sent_until_full"] > 4 * 16 * 4096


class TestShutdown:
    def test_finish_reads_what_the_kernel_holds_and_keeps_unfinished_lines(self) -> None:
        """At shutdown, lines the kernel holds (of a client not even accepted yet) arrive; a half line is an error."""
        rig = Rig(port=0)
        rig.esc.pause(rig.supply)  # nothing accepted or read until shutdown
        state = {"sent": False}

        def client() -> None:
            sock = socket.create_connection(rig.address)
            sock.sendall(b"".join(b"queued %d\n" % i for i in range(1000)) + b"unfinis")
            state["sent"] = True
            state["sock"] = sock  # type: ignore[assignment]

        rig.client(client)
        rig.run_until(lambda: state["sent"])
        assert not rig.supply._connections
        assert rig.lines() == [f"queued {i}" for i in range(1000)]
        (record,) = rig.records
        assert record.datum["raw"] == b"unfinis" and "shutting down" in str(record.error)

    def test_a_client_that_ended_before_the_shutdown_has_its_last_line_delivered(self) -> None:
        """Lines, then a last one without a newline, then the client closes: all delivered at shutdown, as
        messages, none to the error output (reading only what the kernel holds must still see the end)."""
        rig = Rig(port=0)
        rig.esc.pause(rig.supply)
        state = {"sent": False}

        def client() -> None:
            with socket.create_connection(rig.address) as sock:
                sock.sendall(b"".join(b"line %d\n" % i for i in range(100)) + b"last")
            state["sent"] = True

        rig.client(client)
        rig.run_until(lambda: state["sent"])
        assert rig.lines() == [f"line {i}" for i in range(100)] + ["last"]
        assert not rig.records

    def test_deadbeat_run_from_logger_to_a_file_until_sigterm(self, tmp_path: Path) -> None:
        """deadbeat run: TCP and UDP listeners -> fs.write; logger sends; SIGTERM: every line written, exit 0."""
        tcp_port, udp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
        pipeline = tmp_path / "pipeline.toml"
        output = tmp_path / "out.log"
        pipeline.write_text(
            textwrap.dedent(
                f"""
                [log]
                level = "info"
                [[cog]]
                use = "socket.listen"
                port = {tcp_port}
                framing = "syslog"
                [[cog]]
                use = "socket.listen"
                transport = "udp"
                port = {udp_port}
                receive_buffer = 4194304
                [[cog]]
                use = "fs.write"
                filename = "{output}"
                """
            )
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--quiet"],
            stderr=subprocess.PIPE,
        )
        try:
            wait_for(lambda: can_connect(tcp_port), what="the listener")
            messages = "\n".join(f"line {i}" for i in range(5000)).encode()
            common = ["-n", "127.0.0.1", "-t", "app", "--rfc5424"]
            run_logger("--tcp", "-P", str(tcp_port), *common, stdin=messages)
            run_logger("--tcp", "--octet-count", "-P", str(tcp_port), *common, stdin=b"counted\nlast")
            run_logger("--udp", "-P", str(udp_port), *common, stdin=b"by udp 1\nby udp 2")
            wait_for(lambda: output.exists() and output.read_bytes().count(b"\n") >= 5004, what="the output")
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr.decode()[-3000:]
        written = [line.split("] ", 1)[1] for line in output.read_text().splitlines()]
        assert [w for w in written if not w.startswith("by udp")] == [f"line {i}" for i in range(5000)] + [
            "counted",
            "last",
        ]
        assert [w for w in written if w.startswith("by udp")] == ["by udp 1", "by udp 2"]
        assert b"in 5004, out 5004, errors 0" in stderr


FLOOD = """
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
sent = [0] * count
print("connected", flush=True)
end = time.monotonic() + 90
while time.monotonic() < end and any(socks):
    for c, sock in enumerate(socks):
        if sock is None:
            continue
        try:
            sock.sendall(b"".join(b"c%d m%d\\n" % (c, sent[c] + i) for i in range(50)))
            sent[c] += 50
        except OSError:
            socks[c] = None
print("reset" if not any(socks) else "sent for 90 s", flush=True)
"""


class TestShutdownUnderAFlood:
    def test_sigterm_is_heard_and_ends_the_run_while_twenty_clients_still_send(self, tmp_path: Path) -> None:
        """Twenty clients sending as fast as they can: SIGTERM was heard 11 s late, and the run read on until
        the clients stopped. Now it reads what the kernel holds, resets the clients, and ends while they still
        send; what each client sent is written as an unbroken prefix, none lost between, none twice."""
        port = free_port(socket.SOCK_STREAM)
        pipeline = tmp_path / "pipeline.toml"
        output = tmp_path / "out.log"
        pipeline.write_text(
            f'[[cog]]\nuse = "socket.listen"\nport = {port}\n\n[[cog]]\nuse = "fs.write"\nfilename = "{output}"\n'
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline)], stderr=subprocess.PIPE, text=True
        )
        sender = None
        try:
            wait_for(lambda: can_connect(port), what="the listener")
            (tmp_path / "flood.py").write_text(FLOOD)
            sender = subprocess.Popen(
                [sys.executable, str(tmp_path / "flood.py"), str(port), "20"], stdout=subprocess.PIPE, text=True
            )
            assert sender.stdout is not None and sender.stdout.readline() == "connected\n"
            wait_for(lambda: output.exists() and output.stat().st_size > 20_000_000, what="a flood", timeout=60)
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
            # The clients learn it from their connections (reset), long before they would stop by themselves.
            ended, _ = sender.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
            if sender is not None and sender.poll() is None:
                sender.kill()
                sender.wait()
        assert process.returncode == 0, stderr[-3000:]
        assert ended == "reset\n", "the run ended only once the clients stopped sending"
        assert "received SIGTERM; shutting down" in stderr
        got: dict[str, list[int]] = {}
        for line in output.read_text().splitlines():
            client, _, number = line.partition(" m")
            got.setdefault(client, []).append(int(number))
        assert len(got) == 20
        for client, numbers in got.items():
            assert numbers == list(range(len(numbers))), f"{client}: lines lost or repeated"


class TestExample:
    def test_the_syslog_example_collects_udp_and_tcp_syslog(self, tmp_path: Path) -> None:
        """examples/syslog_listen.toml (on free ports): logger over UDP and TCP, JSON lines with the peer, exit 0."""
        example = Path(__file__).resolve().parents[2] / "examples" / "syslog_listen.toml"
        udp_port, tcp_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
        text = example.read_text()
        assert text.count("port = 5514") == 2
        first = text.index("port = 5514")
        text = text[:first] + f"port = {udp_port}" + text[first:].replace("port = 5514", "", 1)
        text = text.replace("port = 5514", f"port = {tcp_port}")
        pipeline = tmp_path / "syslog_listen.toml"
        pipeline.write_text(text)
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--quiet"], stderr=subprocess.PIPE
        )
        output = tmp_path / "syslog.jsonl"
        try:
            wait_for(lambda: can_connect(tcp_port), what="the listener")
            run_logger("--udp", "-n", "127.0.0.1", "-P", str(udp_port), "--rfc5424", "-t", "app", "by udp")
            run_logger("--tcp", "--octet-count", "-n", "127.0.0.1", "-P", str(tcp_port), "--rfc5424", "by tcp")
            wait_for(lambda: output.exists() and output.read_bytes().count(b"\n") >= 2, what="the output")
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr.decode()[-2000:]
        records = [json.loads(line) for line in output.read_text().splitlines()]
        assert sorted(r["message"] for r in records) == ["by tcp", "by udp"]
        assert all(r["peer"].startswith("127.0.0.1:") for r in records)
        by_udp = next(r for r in records if r["message"] == "by udp")
        assert (by_udp["app"], by_udp["version"], by_udp["severity_name"]) == ("app", 1, "notice")
        assert by_udp["timestamp"].endswith("Z")


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def can_connect(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class TestSettings:
    def test_listens_on_loopback_unless_told(self) -> None:
        """The default host is 127.0.0.1: nothing is exposed by accident."""
        supply = SocketSupply(movement.DummyEscapement(), port=0)
        try:
            assert supply.address[0] == "127.0.0.1"
        finally:
            supply.done()

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"transport": "tcp"}, "needs a port"),
            ({"transport": "unix", "port": 5514}, "needs a path"),
            ({"transport": "udp", "port": 0, "framing": "newline"}, "one message per datagram"),
            ({"transport": "tcp", "port": 0, "framing": "datagram"}, "not for a tcp stream"),
            ({"transport": "udp", "port": 0, "tls_cert": "x.pem"}, "TLS is for TCP"),
            ({"port": 0, "peer_setter": "peer", "line_setter": None}, "give line_setter too"),
            ({"port": 0, "encoding": "utf-16"}, "utf-16"),
            ({"port": 0, "max_clients": 0}, "max_clients"),
            ({"transport": "sctp", "port": 0}, "transport must be one of"),
        ],
    )
    def test_wrong_settings_fail_at_start_saying_why(self, params: dict[str, Any], message: str) -> None:
        """A wrong combination of settings is refused before anything is bound, naming the setting."""
        with pytest.raises((ValueError, OSError), match=message):
            SocketSupply(movement.DummyEscapement(), **params)

    def test_a_port_in_use_is_named(self) -> None:
        """Binding a port someone else holds fails naming the endpoint."""
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            with pytest.raises(OSError, match=f"cannot listen on tcp 127.0.0.1:{port}") as caught:
                SocketSupply(movement.DummyEscapement(), port=port)
        assert caught.value.errno == errno.EADDRINUSE


class TestSocketListenConformance(CogConformance):
    cog_name = "socket.listen"
    params = {"port": 0}
    samples = [{"line": "passes through"}]


class TestSocketListenUdpConformance(CogConformance):
    cog_name = "socket.listen"
    params = {"transport": "udp", "port": 0}
    samples = ["plain"]


class TestFigures:
    """What socket.listen reports to /metrics and --stats, read as a scrape reads it."""

    def test_clients_connected_bytes_and_messages_received(self) -> None:
        """Three clients connected: connections_open 3; every byte and message counted, a refused one too; then 0."""
        rig = Rig(port=0, max_line=100)
        release = threading.Event()
        payloads = [b"".join(b"client %d line %d\n" % (c, i) for i in range(100)) for c in range(3)]
        payloads[2] += b"z" * 300 + b"\n"  # too long: to the error output, and received all the same

        def client(payload: bytes) -> Callable[[], None]:
            def send() -> None:
                with socket.create_connection(rig.address) as sock:
                    sock.sendall(payload)
                    release.wait(30)

            return send

        for payload in payloads:
            rig.client(client(payload))
        seen: dict[str, Any] = {}

        def done() -> bool:
            if "during" not in seen and len(rig.data) == 300 and rig.records:
                seen["during"] = rig.supply.metrics()
                (cog,) = [c for c in metrics.snapshot([rig.train]).trains[0].cogs if c.position == 0]
                seen["counters"], seen["gauges"] = cog.counters, cog.gauges
                release.set()
            return "during" in seen and rig.supply.metrics()["connections_open"] == 0

        rig.run_until(done)
        during = seen["during"]
        assert during["connections_open"] == 3
        assert during["bytes_read_total"] == sum(map(len, payloads))
        assert during["messages_read_total"] == 301
        assert seen["counters"]["bytes_read_total"] == sum(map(len, payloads))
        assert seen["counters"]["connections_total"] == 3 and seen["counters"]["too_long_total"] == 1
        assert seen["gauges"]["connections_open"] == 3

    def test_datagrams_received_and_dropped_while_paused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A scrape while the supply is paused shows the kernel's drops already; all are read or dropped."""
        from deadbeat.socket import _listen

        monkeypatch.setattr(_listen, "_DROPS_INTERVAL", 0.0)  # a scrape looks every time, not every 5 s
        rig = Rig(transport="udp", port=0, receive_buffer=4096)
        sent = threading.Event()

        def client() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.connect(rig.address)
                for i in range(2000):
                    sock.send(b"datagram %d" % i)
            sent.set()

        rig.esc.pause(rig.supply)
        rig.client(client)
        seen: dict[str, Any] = {}

        def resume_when_sent() -> bool:
            if sent.is_set() and "paused" not in seen:
                seen["paused"] = rig.supply.metrics()
                rig.esc.resume(rig.supply)
            return "paused" in seen and bool(rig.data)

        rig.run_until(resume_when_sent)
        after = rig.supply.metrics()
        paused = seen["paused"]
        assert paused["messages_read_total"] == 0 and paused["kernel_drops_total"] > 0
        assert "connections_open" not in paused
        assert after["messages_read_total"] == len(rig.data)
        assert after["messages_read_total"] + after["kernel_drops_total"] == 2000
        assert after["bytes_read_total"] == sum(len(line.encode()) for line in rig.lines())


class TestMaxLineBoundary:
    """max_line counts the message only: its line ending (LF, CRLF, a datagram's trailing newline) is framing."""

    @pytest.mark.parametrize("framing", ["newline", "syslog"])
    def test_tcp_lines_of_max_line_bytes_are_taken_whatever_their_ending(self, framing: str) -> None:
        """Exactly max_line bytes: taken with LF or CRLF, even with the CRLF cut apart; one byte more: refused."""
        rig = Rig(port=0, max_line=100, framing=framing, line_setter=None, peer_setter=None)

        def client() -> None:
            with socket.create_connection(rig.address) as sock:
                sock.sendall(b"a" * 100 + b"\n" + b"b" * 100 + b"\r\n")
                sock.sendall(b"c" * 101 + b"\n" + b"d" * 101 + b"\r\n")
                sock.sendall(b"e" * 100 + b"\r")  # the \n of this CRLF comes in the next read
                time.sleep(0.2)
                sock.sendall(b"\n" + b"f" * 100 + b"\rx\n" + b"g" * 100 + b"\r\r\n")

        rig.client(client)
        rig.run_until(lambda: len(rig.data) >= 3 and len(rig.records) >= 4)
        assert rig.data == ["a" * 100, "b" * 100, "e" * 100]
        assert [record.datum["raw"][:1] for record in rig.records] == [b"c", b"d", b"f", b"g"]
        assert all(isinstance(record.error, MessageTooLong) for record in rig.records)
        assert ["101 bytes" in str(record.error) for record in rig.records] == [True, True, False, True]

    def test_a_crlf_line_of_max_line_bytes_cut_by_the_end_of_the_connection_is_too_long(self) -> None:
        """max_line bytes and a \\r, then the client closes: no line ending came, so the \\r is the message's."""
        rig = Rig(port=0, max_line=100, line_setter=None, peer_setter=None)
        rig.client(lambda: send_lines(rig.address, b"a" * 100 + b"\n" + b"b" * 100 + b"\r"))
        rig.run_until(lambda: len(rig.data) >= 1 and len(rig.records) >= 1)
        assert rig.data == ["a" * 100]
        (record,) = rig.records
        assert isinstance(record.error, MessageTooLong) and record.datum["raw"] == b"b" * 100

    def test_octet_counted_frames_of_max_line_bytes_are_taken(self) -> None:
        """A counted frame of exactly max_line bytes is taken; max_line + 1 is refused."""
        rig = Rig(port=0, max_line=100, framing="octet-counted", line_setter=None, peer_setter=None)
        payload = b"100 " + b"a" * 100 + b"101 " + b"b" * 101 + b"100 " + b"c" * 99 + b"\n"
        rig.client(lambda: send_lines(rig.address, payload))
        rig.run_until(lambda: len(rig.data) >= 2 and len(rig.records) >= 1)
        assert rig.data == ["a" * 100, "c" * 99 + "\n"]
        (record,) = rig.records
        assert isinstance(record.error, MessageTooLong) and record.datum["raw"] == b"b" * 100

    def test_udp_datagrams_of_max_line_bytes_are_taken_with_or_without_a_trailing_newline(self) -> None:
        """A datagram's one trailing newline is stripped and not counted; every other byte is."""
        rig = Rig(transport="udp", port=0, max_line=100, line_setter=None, peer_setter=None)
        sent = [
            b"a" * 100,  # taken
            b"b" * 100 + b"\n",  # taken: the newline is not the message's
            b"c" * 101,  # refused
            b"d" * 101 + b"\n",  # refused
            b"e" * 100 + b"\n\n",  # refused: one newline is stripped, the other is the message's
            b"f" * 99 + b"\r\n",  # taken: the \r is the message's (100 bytes)
            b"g" * 100 + b"\r\n",  # refused (101 bytes)
        ]

        def client() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.connect(rig.address)
                for payload in sent:
                    sock.send(payload)

        rig.client(client)
        rig.run_until(lambda: len(rig.data) + len(rig.records) >= len(sent))
        assert rig.data == ["a" * 100, "b" * 100, "f" * 99 + "\r"]
        assert [record.datum["raw"][:1] for record in rig.records] == [b"c", b"d", b"e", b"g"]
        assert all(isinstance(record.error, MessageTooLong) for record in rig.records)

    def test_unix_datagrams_of_max_line_bytes_are_taken_with_a_trailing_newline(self, tmp_path: Path) -> None:
        """The same over a Unix datagram socket."""
        path = str(tmp_path / "dgram.sock")
        rig = Rig(transport="unix-datagram", path=path, max_line=100, line_setter=None, peer_setter=None)

        def client() -> None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(path)
                for payload in (b"a" * 100 + b"\n", b"b" * 101 + b"\n", b"c" * 100):
                    sock.send(payload)

        rig.client(client)
        rig.run_until(lambda: len(rig.data) + len(rig.records) >= 3)
        assert rig.data == ["a" * 100, "c" * 100]
        (record,) = rig.records
        assert isinstance(record.error, MessageTooLong) and record.datum["raw"] == b"b" * 100
