"""socket.send against real peers on loopback: servers that are down, slow, closing, or never there.

The peers are real sockets served by a thread (or socket.listen itself, for TLS
end to end). A test supply sends numbered lines in batches and records each
``batch_done``: the acknowledgements are checked against what the peer really
got. Tests wait for what they expect with generous time-outs; nothing asserts
on timing.
"""

from __future__ import annotations

import json
import logging
import os
import re
import selectors
import signal
import socket
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

from deadbeat import metrics, movement
from deadbeat.socket import SocketDrain, SocketSupply
from deadbeat.testing import CogConformance, Collector


class Sink:
    """A real stream server in a thread: accepts every connection and keeps what each sends.

    :param path: a Unix socket path; TCP on loopback otherwise.
    :param port: the TCP port (0: any free one).
    """

    def __init__(self, path: str | None = None, port: int = 0) -> None:
        self.path = path
        self.port = port
        self.received: list[bytearray] = []
        self._clients: list[socket.socket] = []
        self._server: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reading = threading.Event()
        self.reading.set()
        self.lock = threading.Lock()
        self._reset_asked = threading.Event()
        self._reset_done = threading.Event()
        #: Seconds the server rests after each read: a peer slower than the sender.
        self.slow = 0.0

    @property
    def address(self) -> Any:
        return self.path if self.path else ("127.0.0.1", self.port)

    def start(self) -> Sink:
        if self.path:
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.bind(self.path)
        else:
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", self.port))
            self.port = server.getsockname()[1]
        server.listen(16)
        self._server = server
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._server is not None
        selector = selectors.DefaultSelector()
        selector.register(self._server, selectors.EVENT_READ)
        buffers: dict[socket.socket, bytearray] = {}
        while not self._stop.is_set():
            if self._reset_asked.is_set():
                for client in list(buffers):
                    selector.unregister(client)
                    _reset(client)
                buffers.clear()
                self._clients.clear()
                self._reset_asked.clear()
                self._reset_done.set()
            for key, _ in selector.select(timeout=0.02):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._server:
                    client, _ = sock.accept()
                    with self.lock:
                        buffers[client] = bytearray()
                        self.received.append(buffers[client])
                        self._clients.append(client)
                    selector.register(client, selectors.EVENT_READ)
                    continue
                if not self.reading.is_set():
                    continue
                try:
                    data = sock.recv(1 << 14 if self.slow else 1 << 16)
                except OSError:
                    data = b""
                if self.slow:
                    time.sleep(self.slow)
                if not data:
                    selector.unregister(sock)
                    del buffers[sock]
                    sock.close()
                    continue
                with self.lock:
                    buffers[sock] += data
        selector.close()

    def all_bytes(self) -> bytes:
        with self.lock:
            return b"".join(bytes(b) for b in self.received)

    def reset_clients(self) -> None:
        """Close every client connection with a reset (as a crashing peer would); done in the server's thread."""
        if self._thread is None or not self._thread.is_alive():
            return
        self._reset_done.clear()
        self._reset_asked.set()
        self._reset_done.wait(10)

    def stop(self) -> None:
        self.reset_clients()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.path and os.path.exists(self.path):
            os.unlink(self.path)


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


class Feed(movement.Supply):
    """Sends numbered lines in batches with ids, one batch per turn of the loop, and records batch_done."""

    def __init__(
        self, esc: movement.Escapement, batches: int, per_batch: int, text: str = "line", interval: float = 0.0
    ) -> None:
        self.esc = esc
        self.batches = batches
        self.per_batch = per_batch
        self.text = text
        self.interval = interval
        self.sent = 0
        self.acked: list[int] = []
        self.drain: SocketDrain | None = None
        self.pending_at_ack: list[int] = []
        self.hold_back = threading.Event()
        esc.enqueue(self._next)

    def _next(self) -> None:
        if self.sent >= self.batches:
            return
        if self.hold_back.is_set():
            self.esc.after(0.01, self._next)
            return
        number = self.sent
        self.sent += 1
        start = number * self.per_batch
        lines = [f"{self.text} {i}" for i in range(start, start + self.per_batch)]
        self.esc.send_from(self, movement.Batch(lines, batch_id=number))
        if self.interval:
            self.esc.after(self.interval, self._next)
        else:
            self.esc.enqueue(self._next)

    def finish(self) -> None:
        self.sent = self.batches  # sends no more
        for binding in self.esc.bindings_of(self):
            binding.cancel()

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        self.acked.append(batch_id)
        if self.drain is not None:
            self.pending_at_ack.append(self.drain._pending)

    def expected(self) -> list[str]:
        return [f"{self.text} {i}" for i in range(self.batches * self.per_batch)]


class Rig:
    """A real Escapement: Feed -> socket.send, errors kept."""

    def __init__(
        self, batches: int = 10, per_batch: int = 100, feed_text: str = "line", interval: float = 0.0, **params: Any
    ) -> None:
        self.esc = movement.Escapement()
        self.records: list[movement.ErrorRecord] = []
        self.train = movement.Train(self.esc, error_output=self.records.append)
        self.feed = Feed(self.esc, batches, per_batch, feed_text, interval)
        self.drain = SocketDrain(self.esc, **params)
        self.feed.drain = self.drain
        self.train.cogs = [self.feed, self.drain]
        self.during: list[Callable[[], None]] = []

    def run_until(self, done: Callable[[], bool], timeout: float = 60.0, what: str = "the data") -> None:
        deadline = time.monotonic() + timeout
        state = {"timed_out": False}

        def check() -> None:
            for step in self.during:
                step()
            if done():
                self.esc.shutdown()
            elif time.monotonic() > deadline:
                state["timed_out"] = True
                self.esc.shutdown()

        self.esc.every(0.01, check, keeps_alive=False)
        try:
            self.esc.run()
        finally:
            self.esc.close()
        assert not state["timed_out"], f"timed out waiting for {what}"


def lines_of(data: bytes) -> list[str]:
    return data.decode().splitlines()


def counted_frames(data: bytes) -> list[str]:
    """The whole ``LEN SP MSG`` frames of ``data``, from its first byte (a frame still arriving is left out)."""
    frames, position = [], 0
    while position < len(data):
        space = data.find(b" ", position)
        if space < 0:
            break
        length = int(data[position:space])  # not digits: not a frame boundary, and the test fails here
        if space + 1 + length > len(data):
            break
        frames.append(data[space + 1 : space + 1 + length].decode())
        position = space + 1 + length
    return frames


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestDelivery:
    def test_lines_reach_a_tcp_peer_and_are_acknowledged_once_written(self) -> None:
        """Every line reaches the peer once, in order; each batch is acknowledged only with nothing left unwritten."""
        sink = Sink().start()
        try:
            rig = Rig(batches=50, per_batch=200, port=sink.port)
            rig.run_until(lambda: len(rig.feed.acked) == 50)
            wait_for(lambda: sink.all_bytes().count(b"\n") >= 10_000)
        finally:
            sink.stop()
        assert lines_of(sink.all_bytes()) == rig.feed.expected()
        assert sorted(rig.feed.acked) == list(range(50))
        assert set(rig.feed.pending_at_ack) == {0}
        assert not rig.records and not rig.esc.failures

    def test_octet_counting_keeps_messages_holding_newlines_whole(self) -> None:
        """framing = octet-counted: a message holding newlines is one frame at the peer."""
        sink = Sink().start()
        try:
            rig = Rig(batches=3, per_batch=10, feed_text="multi\nline", port=sink.port, framing="octet-counted")
            rig.run_until(lambda: len(rig.feed.acked) == 3)
            wait_for(lambda: len(counted_frames(sink.all_bytes())) >= 30)
        finally:
            sink.stop()
        assert counted_frames(sink.all_bytes()) == rig.feed.expected()

    def test_a_newline_inside_a_newline_framed_message_goes_to_the_error_output(self) -> None:
        """With newline framing a message holding a newline would be two at the peer: it fails alone."""
        sink = Sink().start()
        try:
            esc = movement.Escapement()
            records: list[movement.ErrorRecord] = []
            drain = SocketDrain(esc, port=sink.port)
            train = movement.Train(esc, [drain], error_output=records.append)
            esc.enqueue(lambda: train.send(None, [{"id": "a", "line": "one"}, {"id": "b", "line": "tw\no"}, "three"]))
            esc.after(0.2, esc.shutdown)
            esc.run()
            esc.close()
            wait_for(lambda: sink.all_bytes().count(b"\n") >= 2)
        finally:
            sink.stop()
        assert lines_of(sink.all_bytes()) == ["one", "three"]
        (record,) = records
        assert record.event_id == "b" and "newline" in str(record.error)

    def test_a_host_name_is_looked_up_without_blocking(self) -> None:
        """host = "localhost": the name is resolved off the loop, and the lines arrive."""
        sink = Sink().start()
        try:
            rig = Rig(batches=3, per_batch=10, host="localhost", port=sink.port)
            rig.run_until(lambda: len(rig.feed.acked) == 3)
            wait_for(lambda: sink.all_bytes().count(b"\n") >= 30)
        finally:
            sink.stop()
        assert lines_of(sink.all_bytes()) == rig.feed.expected()

    def test_a_name_that_does_not_resolve_is_said_and_retried(self, caplog: pytest.LogCaptureFixture) -> None:
        """A host name with no address: each try says so; nothing is acknowledged; the run's end fails it."""
        rig = Rig(batches=1, per_batch=5, host="no-such-host.invalid", port=514, finish_timeout=0.2)
        with caplog.at_level(logging.WARNING, logger="deadbeat.socket"):
            rig.run_until(lambda: rig.drain.counts["connect_failures"] >= 2)
        assert rig.feed.acked == []
        assert any("cannot look up no-such-host.invalid" in r.getMessage() for r in caplog.records)
        assert any("could not be written" in f for f in rig.esc.failures)

    def test_unix_stream_peer(self, tmp_path: Path) -> None:
        """transport = unix: lines reach a Unix stream server."""
        sink = Sink(path=str(tmp_path / "peer.sock")).start()
        try:
            rig = Rig(batches=5, per_batch=100, transport="unix", path=str(tmp_path / "peer.sock"))
            rig.run_until(lambda: len(rig.feed.acked) == 5)
            wait_for(lambda: sink.all_bytes().count(b"\n") >= 500)
        finally:
            sink.stop()
        assert lines_of(sink.all_bytes()) == rig.feed.expected()


class TestPeerAway:
    def test_a_peer_down_at_start_gets_everything_when_it_comes_and_nothing_is_acknowledged_before(self) -> None:
        """Nobody listens at first: data are held, unacknowledged; the peer comes up: all arrive, then the acks."""
        port = free_port()
        sink = Sink(port=port)
        state: dict[str, Any] = {}
        rig = Rig(batches=20, per_batch=50, port=port, reconnect_min=0.05, reconnect_max=0.2)

        def bring_up() -> None:
            if "up" not in state and rig.feed.sent == 20 and rig.drain.counts["connect_failures"] >= 2:
                state["acked_while_down"] = list(rig.feed.acked)
                sink.start()
                state["up"] = True

        rig.during.append(bring_up)
        try:
            rig.run_until(lambda: len(rig.feed.acked) == 20)
            wait_for(lambda: sink.all_bytes().count(b"\n") >= 1000)
        finally:
            sink.stop()
        assert state["acked_while_down"] == []
        assert lines_of(sink.all_bytes()) == rig.feed.expected()
        assert set(rig.feed.pending_at_ack) == {0}

    def test_beyond_max_pending_the_train_is_paused_not_dropped(self, caplog: pytest.LogCaptureFixture) -> None:
        """Peer down and more than max_pending queued: the train pauses the supply; later every line arrives."""
        port = free_port()
        sink = Sink(port=port)
        state: dict[str, Any] = {}
        rig = Rig(batches=200, per_batch=100, port=port, max_pending=20_000, reconnect_min=0.05, reconnect_max=0.1)

        def watch() -> None:
            if "up" in state:
                return
            if rig.train.paused:
                state["paused_at"] = rig.feed.sent
                state["pending_when_paused"] = rig.drain._pending
                sink.start()
                state["up"] = True

        rig.during.append(watch)
        try:
            with caplog.at_level(logging.WARNING):
                rig.run_until(lambda: len(rig.feed.acked) == 200)
            wait_for(lambda: sink.all_bytes().count(b"\n") >= 20_000)
        finally:
            sink.stop()
        assert state["paused_at"] < 200, "the supply was paused before it sent everything"
        batch_bytes = len("\n".join(f"line {i}" for i in range(19_900, 20_000))) + 1
        assert state["pending_when_paused"] <= 20_000 + batch_bytes
        assert lines_of(sink.all_bytes()) == rig.feed.expected()
        assert any("more than max_pending 20000" in r.getMessage() for r in caplog.records)

    def test_under_steady_overload_acknowledgements_still_come(self) -> None:
        """A peer slower than the supply: the train is paused at max_pending, and batches are acknowledged meanwhile."""
        sink = Sink().start()
        sink.slow = 0.002
        # 20 MB: more than the kernel's socket buffers take, so the queue fills up.
        rig = Rig(batches=400, per_batch=500, feed_text="x" * 90, port=sink.port, max_pending=100_000)
        state: dict[str, Any] = {"acked_at_first_pause": None, "acked_in_overload": False}

        def watch() -> None:
            # Once the queue has filled up (the train paused), acknowledgements must keep
            # coming while the supply still has more to send.
            if state["acked_at_first_pause"] is None:
                if rig.train.paused:
                    state["acked_at_first_pause"] = len(rig.feed.acked)
            elif len(rig.feed.acked) > state["acked_at_first_pause"] and rig.feed.sent < rig.feed.batches - 10:
                state["acked_in_overload"] = True

        rig.during.append(watch)
        try:
            rig.run_until(lambda: len(rig.feed.acked) == 400, timeout=120)
            wait_for(lambda: sink.all_bytes().count(b"\n") >= 200_000)
        finally:
            sink.stop()
        assert state["acked_at_first_pause"] is not None, "the peer was slow enough to fill the queue"
        assert state["acked_in_overload"], "nothing was acknowledged while the overload lasted"
        assert lines_of(sink.all_bytes()) == rig.feed.expected()

    def test_a_peer_that_closes_is_reconnected_to(self) -> None:
        """The peer resets the connection between batches: the drain sees it before writing again and reconnects."""
        sink = Sink().start()
        rig = Rig(batches=20, per_batch=50, interval=0.02, port=sink.port, reconnect_min=0.05)
        state: dict[str, Any] = {}

        def cut_midway() -> None:
            # Once the peer has read all that was written (what it had not read, a reset would lose:
            # TCP's limit, not the drain's), it resets; the loop, waiting for that, writes nothing meanwhile.
            written = len(rig.feed.acked) * 50
            quiet = rig.drain._pending == 0 and sink.all_bytes().count(b"\n") == written
            if "cut" not in state and written >= 250 and quiet:
                sink.reset_clients()
                state["cut"] = True

        rig.during.append(cut_midway)
        try:
            rig.run_until(lambda: len(rig.feed.acked) == 20)
            wait_for(lambda: sink.all_bytes().count(b"\n") >= 1000)
        finally:
            sink.stop()
        assert lines_of(sink.all_bytes()) == rig.feed.expected()
        assert rig.drain.counts["connections_lost"] == 1 and rig.drain.counts["connections"] == 2

    def test_a_message_cut_by_a_broken_connection_is_sent_again_whole(self) -> None:
        """Reset in the middle of a frame: the next connection starts at a frame boundary, never mid-message."""
        sink = Sink().start()
        sink.reading.clear()  # the peer reads nothing: the drain's queue stays partly written
        # More than the kernel's buffers on both ends hold, so the socket fills up.
        total = 600_000
        rig = Rig(batches=1, per_batch=total, port=sink.port, framing="octet-counted", reconnect_min=0.05)
        state: dict[str, Any] = {}

        def reset_when_stuck() -> None:
            if "reset" not in state and rig.drain._sent > 0 and rig.drain._writer is not None:
                state["first_written"] = rig.drain._sent
                sink.reset_clients()
                sink.reading.set()
                state["reset"] = True

        rig.during.append(reset_when_stuck)
        try:
            rig.run_until(lambda: len(rig.feed.acked) == 1)
            wait_for(lambda: len(sink.received) >= 2 and len(counted_frames(bytes(sink.received[-1]))) > 0)
            wait_for(lambda: bytes(sink.received[-1]).endswith(b"line %d" % (total - 1)))
        finally:
            sink.stop()
        frames = counted_frames(bytes(sink.received[-1]))  # parses from its first byte: whole frames only
        first = int(frames[0].split()[1])
        assert frames == [f"line {i}" for i in range(first, total)]
        assert state["first_written"] > 0


class TestDatagrams:
    def test_udp_datagrams_one_per_datum(self) -> None:
        """transport = udp: each datum is one datagram; one too big for max_datagram goes to the error output."""
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        try:
            esc = movement.Escapement()
            records: list[movement.ErrorRecord] = []
            drain = SocketDrain(esc, transport="udp", port=receiver.getsockname()[1], max_datagram=100)
            train = movement.Train(esc, [drain], error_output=records.append)
            data = [f"datagram {i}" for i in range(500)] + [{"id": "big", "line": "x" * 101}]
            esc.enqueue(lambda: train.send(None, data))
            esc.after(0.2, esc.shutdown)
            esc.run()
            esc.close()
            receiver.settimeout(5)
            got = [receiver.recv(1000).decode() for _ in range(500)]
        finally:
            receiver.close()
        assert got == [f"datagram {i}" for i in range(500)]
        (record,) = records
        assert record.event_id == "big" and "max_datagram" in str(record.error)

    def test_udp_to_nobody_counts_the_refusals_and_goes_on(self, caplog: pytest.LogCaptureFixture) -> None:
        """A UDP peer that does not listen: ICMP refusals are counted and logged; the run does not stall."""
        rig = Rig(batches=20, per_batch=10, transport="udp", port=free_port())
        with caplog.at_level(logging.WARNING, logger="deadbeat.socket"):
            rig.run_until(lambda: len(rig.feed.acked) == 20)
        assert rig.drain.counts["refused_datagrams"] > 0
        assert any("does not listen" in r.getMessage() for r in caplog.records)
        # Data known to be lost: the run's result is failure.
        assert any("datagrams were refused" in failure for failure in rig.esc.failures)

    def test_unix_datagrams_to_socket_listen(self, tmp_path: Path) -> None:
        """socket.send unix-datagram into socket.listen unix-datagram: every datum, in order, with our credentials."""
        path = str(tmp_path / "dgram.sock")
        esc = movement.Escapement()
        collector = Collector()
        listener = movement.Train(esc, [SocketSupply(esc, transport="unix-datagram", path=path), collector])
        sender = movement.Train(esc)
        feed = Feed(esc, 10, 100)
        sender.cogs = [feed, SocketDrain(esc, transport="unix-datagram", path=path)]
        deadline = time.monotonic() + 60
        esc.every(
            0.01,
            lambda: (len(collector.data) >= 1000 or time.monotonic() > deadline) and esc.shutdown(),
            keeps_alive=False,
        )
        esc.run()
        esc.close()
        assert [d["line"] for d in collector.data] == feed.expected()
        assert {d["peer"] for d in collector.data} == {f"pid={os.getpid()},uid={os.getuid()},gid={os.getgid()}"}
        del listener


class TestTlsEndToEnd:
    def test_socket_send_over_tls_to_socket_listen(self, tmp_path: Path) -> None:
        """socket.send (TLS, verifying) to socket.listen (TLS): every line arrives; a wrong CA gets nothing through."""
        authority = trustme.CA()
        cert = authority.issue_cert("127.0.0.1")
        cert_file, key_file, ca_file = tmp_path / "s.pem", tmp_path / "s.key", tmp_path / "ca.pem"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        os.chmod(key_file, 0o600)
        authority.cert_pem.write_to_path(str(ca_file))
        esc = movement.Escapement()
        collector = Collector()
        supply = SocketSupply(esc, port=0, tls_cert=str(cert_file), tls_key=str(key_file))
        movement.Train(esc, [supply, collector])
        sender = movement.Train(esc)
        feed = Feed(esc, 20, 500)
        drain = SocketDrain(esc, port=supply.address[1], tls=True, tls_ca=str(ca_file))
        sender.cogs = [feed, drain]
        deadline = time.monotonic() + 60
        esc.every(
            0.01,
            lambda: (len(collector.data) >= 10_000 or time.monotonic() > deadline) and esc.shutdown(),
            keeps_alive=False,
        )
        esc.run()
        esc.close()
        assert [d["line"] for d in collector.data] == feed.expected()
        assert sorted(feed.acked) == list(range(20))

    def test_a_server_the_ca_did_not_sign_is_refused(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """The peer's certificate is verified: signed by another CA, the handshake fails, nothing is acknowledged."""
        signer, other = trustme.CA(), trustme.CA()
        cert = signer.issue_cert("127.0.0.1")
        cert_file, key_file, ca_file = tmp_path / "s.pem", tmp_path / "s.key", tmp_path / "other.pem"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        os.chmod(key_file, 0o600)
        other.cert_pem.write_to_path(str(ca_file))
        esc = movement.Escapement()
        collector = Collector()
        supply = SocketSupply(esc, port=0, tls_cert=str(cert_file), tls_key=str(key_file))
        movement.Train(esc, [supply, collector])
        feed = Feed(esc, 1, 10)
        drain = SocketDrain(esc, port=supply.address[1], tls=True, tls_ca=str(ca_file), finish_timeout=0.2)
        movement.Train(esc, [feed, drain])
        with caplog.at_level(logging.WARNING, logger="deadbeat.socket"):
            esc.every(0.01, lambda: drain.counts["connect_failures"] >= 1 and esc.shutdown(), keeps_alive=False)
            esc.run()
            esc.close()
        assert collector.data == [] and feed.acked == []
        assert any("certificate verify failed" in r.getMessage() for r in caplog.records)
        assert any("could not be written" in failure for failure in esc.failures)


class TestShutdown:
    def test_what_cannot_be_written_by_the_end_fails_the_run(self, tmp_path: Path) -> None:
        """deadbeat run --once into a peer that never comes: exit 1, naming the bytes left; nothing acknowledged."""
        source = tmp_path / "in.log"
        source.write_text("".join(f"line {i}\n" for i in range(100)))
        pipeline = tmp_path / "pipeline.toml"
        pipeline.write_text(
            textwrap.dedent(
                f"""
                [[cog]]
                use = "fs.read"
                filenames = ["{source}"]
                [[cog]]
                use = "socket.send"
                port = {free_port()}
                finish_timeout = 0.5
                reconnect_min = 0.05
                """
            )
        )
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--once"],
            capture_output=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stderr.decode()[-2000:]
        assert b"bytes could not be written within finish_timeout" in result.stderr
        assert b"Connection refused" in result.stderr or b"ECONNREFUSED" in result.stderr
        # Sent on and held until written: said once, as not written (the summary said "held at the end 1").
        assert b"finished: in 100, out 100 (100 of them not written, not acknowledged), errors 0\n" in result.stderr

    def test_deadbeat_run_udp_to_a_closed_port_exits_1(self, tmp_path: Path) -> None:
        """deadbeat run --once: fs.read -> socket.send over UDP to a port nobody listens on: refused, exit 1."""
        source = tmp_path / "in.log"
        source.write_text("".join(f"line {i}\n" for i in range(1000)))
        pipeline = tmp_path / "pipeline.toml"
        pipeline.write_text(
            textwrap.dedent(
                f"""
                [[cog]]
                use = "fs.read"
                filenames = ["{source}"]
                [[cog]]
                use = "socket.send"
                transport = "udp"
                port = {free_port()}
                """
            )
        )
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--once"],
            capture_output=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stderr.decode()[-2000:]
        assert b"datagrams were refused (ICMP port unreachable" in result.stderr

    def test_deadbeat_run_sends_a_file_to_a_peer_and_exits_0(self, tmp_path: Path) -> None:
        """deadbeat run --once: fs.read -> socket.send to a live peer: every line arrives, exit 0."""
        sink = Sink().start()
        source = tmp_path / "in.log"
        source.write_text("".join(f"line {i}\n" for i in range(20_000)))
        pipeline = tmp_path / "pipeline.toml"
        pipeline.write_text(
            textwrap.dedent(
                f"""
                [[cog]]
                use = "fs.read"
                filenames = ["{source}"]
                [[cog]]
                use = "socket.send"
                port = {sink.port}
                """
            )
        )
        try:
            result = subprocess.run(
                [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--once"],
                capture_output=True,
                timeout=120,
            )
            wait_for(lambda: sink.all_bytes().count(b"\n") >= 20_000)
        finally:
            sink.stop()
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        assert lines_of(sink.all_bytes()) == [f"line {i}" for i in range(20_000)]

    def test_sigterm_while_the_peer_is_slow_still_delivers_everything(self, tmp_path: Path) -> None:
        """SIGTERM with lines queued for a peer that reads late: finish writes them all out; exit 0."""
        sink = Sink().start()
        sink.reading.clear()
        source = tmp_path / "in.log"
        source.write_text("".join(f"line {i:07d} {'x' * 100}\n" for i in range(100_000)))
        pipeline = tmp_path / "pipeline.toml"
        pipeline.write_text(
            textwrap.dedent(
                f"""
                [[cog]]
                use = "fs.tail"
                filenames = ["{source}"]
                [[cog]]
                use = "socket.send"
                port = {sink.port}
                finish_timeout = 60
                """
            )
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--quiet"], stderr=subprocess.PIPE
        )
        try:
            wait_for(lambda: bool(sink.received))
            time.sleep(1.0)  # not an assertion: lets the process install its handlers and queue data
            process.send_signal(signal.SIGTERM)
            sink.reading.set()
            _, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, stderr.decode()[-2000:]
            summary = re.search(rb"finished: in (\d+), out (\d+), errors 0", stderr)
            assert summary is not None, stderr.decode()[-2000:]
            taken = int(summary.group(1))
            assert int(summary.group(2)) == taken > 0
            # Every line read before SIGTERM went out, whole and in order: the
            # process wrote it all before it ended (the kernel still delivers it).
            expected = b"".join(source.read_bytes().splitlines(keepends=True)[:taken])
            wait_for(lambda: len(sink.all_bytes()) >= len(expected))
        finally:
            sink.stop()
        assert sink.all_bytes() == expected


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


_CONFORMANCE_SINK = Sink().start()


class TestSocketSendConformance(CogConformance):
    cog_name = "socket.send"
    params = {"port": _CONFORMANCE_SINK.port}
    samples = [{"id": "1", "line": "to the peer"}, "plain text"]
    flushes_all = True


class TestSocketSendUdpConformance(CogConformance):
    cog_name = "socket.send"
    params = {"transport": "udp", "port": _CONFORMANCE_SINK.port}
    samples = ["datagram"]


class TestFigures:
    """What socket.send reports to /metrics and --stats, read as a scrape reads it."""

    def test_messages_and_bytes_written_nothing_pending(self) -> None:
        """After N lines the written counter says N and the bytes are what the peer got; connected while running."""
        sink = Sink().start()
        seen: dict[str, Any] = {}
        try:
            rig = Rig(batches=50, per_batch=200, interval=0.01, port=sink.port)

            def look() -> None:
                if "running" not in seen and rig.feed.acked and rig.feed.sent < 50:
                    seen["running"] = rig.drain.metrics()

            rig.during.append(look)
            rig.run_until(lambda: len(rig.feed.acked) == 50)
            after = rig.drain.metrics()
            (cog,) = [c for c in metrics.snapshot([rig.train]).trains[0].cogs if c.position == 1]
            wait_for(lambda: sink.all_bytes().count(b"\n") >= 10_000)
        finally:
            sink.stop()
        assert seen["running"]["connected"] == 1 and seen["running"]["ready"] == 1
        assert after == {
            "written_total": 10_000,
            "bytes_written_total": len(sink.all_bytes()),
            "reconnects_total": 0,
            "pending": 0,
            "pending_bytes": 0,
            "connected": 0,  # closed at the end
            "ready": 1,
            "last_error_timestamp_seconds": 0.0,
        }
        assert cog.counters["written_total"] == 10_000 and cog.counters["connections_total"] == 1
        assert cog.gauges["pending"] == 0 and cog.gauges["ready"] == 1

    def test_a_peer_away_shows_as_pending_not_ready_and_a_reconnection(self) -> None:
        """Peer down: everything pending, not ready (the snapshot says why), the failure's time; then all written."""
        port = free_port()
        sink = Sink(port=port)
        seen: dict[str, Any] = {}
        began = time.time()
        rig = Rig(batches=20, per_batch=50, port=port, reconnect_min=0.05, reconnect_max=0.2)

        def bring_up() -> None:
            if "down" not in seen and rig.feed.sent == 20 and rig.drain.counts["connect_failures"] >= 2:
                seen["down"] = rig.drain.metrics()
                seen["not_ready"] = metrics.snapshot([rig.train]).not_ready
                seen["when"] = time.time()
                sink.start()

        rig.during.append(bring_up)
        try:
            rig.run_until(lambda: len(rig.feed.acked) == 20)
            up = rig.drain.metrics()
            wait_for(lambda: sink.all_bytes().count(b"\n") >= 1000)
        finally:
            sink.stop()
        down = seen["down"]
        assert down["written_total"] == 0 and down["pending"] == 1000 and down["connected"] == 0
        assert down["pending_bytes"] == len("".join(line + "\n" for line in rig.feed.expected()))
        assert down["ready"] == 0 and any("SocketDrain" in why for why in seen["not_ready"])
        assert began <= down["last_error_timestamp_seconds"] <= seen["when"]
        assert up["written_total"] == 1000 and up["pending"] == 0 and up["pending_bytes"] == 0
        assert up["ready"] == 1 and up["reconnects_total"] == 0  # the first connection made
        assert up["bytes_written_total"] == len(sink.all_bytes())

    def test_a_reconnection_is_counted(self) -> None:
        """The peer resets the connection between batches: one reconnection; every line written once."""
        sink = Sink().start()
        rig = Rig(batches=20, per_batch=50, interval=0.02, port=sink.port, reconnect_min=0.05)
        state: dict[str, Any] = {}

        def cut_midway() -> None:
            written = len(rig.feed.acked) * 50
            quiet = rig.drain._pending == 0 and sink.all_bytes().count(b"\n") == written
            if "cut" not in state and written >= 250 and quiet:
                sink.reset_clients()
                state["cut"] = time.time()

        rig.during.append(cut_midway)
        try:
            rig.run_until(lambda: len(rig.feed.acked) == 20)
            after = rig.drain.metrics()
            wait_for(lambda: sink.all_bytes().count(b"\n") >= 1000)
        finally:
            sink.stop()
        assert after["reconnects_total"] == 1 and after["written_total"] == 1000 and after["ready"] == 1
        assert after["last_error_timestamp_seconds"] >= state["cut"]


class TestDeclaredBounds:
    @pytest.mark.parametrize(
        ("cog", "setting", "key"),
        [
            ("socket.listen", 'transport = "udp"\nport = 0\nreceive_buffer = -5', "receive_buffer"),
            ("socket.listen", "port = 70000", "port"),
            ("socket.listen", "port = 0\nbacklog = -1", "backlog"),
            ("socket.send", 'transport = "udp"\nport = 9\nmax_datagram = -1', "max_datagram"),
            ("socket.send", 'transport = "udp"\nport = 9\nmax_datagram = 0', "max_datagram"),
            ("socket.send", "port = 0", "port"),
            ("socket.send", "port = 9\nreconnect_min = 0", "reconnect_min"),
        ],
    )
    def test_deadbeat_check_refuses_what_run_would(self, tmp_path: Path, cog: str, setting: str, key: str) -> None:
        """Values out of bounds are refused by the pipeline loader (deadbeat check), naming the key."""
        pipeline = tmp_path / "pipeline.toml"
        pipeline.write_text(f'[[cog]]\nuse = "{cog}"\n{setting}\n')
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "check", str(pipeline)], capture_output=True, timeout=120
        )
        assert result.returncode != 0, result.stdout.decode() + result.stderr.decode()
        assert f"({cog}): {key}: expected".encode() in result.stdout + result.stderr

    def test_a_drain_built_in_python_refuses_max_datagram_below_1(self) -> None:
        with pytest.raises(ValueError, match="max_datagram must be"):
            SocketDrain(movement.Escapement(), transport="udp", port=9, max_datagram=-1)


class TestLastRefusedDatagram:
    """The ICMP refusal of the last datagram comes after it, with no send left to report it: read at finish."""

    @pytest.mark.parametrize("count", [1, 100])
    def test_every_refused_datagram_is_counted_the_last_one_too(
        self, count: int, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Over loopback each datagram to a closed port is refused: all are counted, and the run fails."""
        rig = Rig(batches=1, per_batch=count, transport="udp", port=free_port())
        with caplog.at_level(logging.WARNING, logger="deadbeat.socket"):
            rig.run_until(lambda: rig.feed.acked == [0])
        assert rig.drain.counts["refused_datagrams"] == count
        assert any("does not listen" in r.getMessage() for r in caplog.records)
        assert any(f"{count} datagrams were refused" in failure for failure in rig.esc.failures), rig.esc.failures

    def test_datagrams_a_peer_took_are_no_refusals(self) -> None:
        """A listening peer gets everything; the wait for a refusal at finish finds none and fails nothing."""
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        try:
            rig = Rig(batches=1, per_batch=5, transport="udp", port=receiver.getsockname()[1])
            rig.run_until(lambda: rig.feed.acked == [0])
            receiver.settimeout(5)
            got = [receiver.recv(100).decode() for _ in range(5)]
        finally:
            receiver.close()
        assert got == rig.feed.expected()
        assert rig.drain.counts["refused_datagrams"] == 0 and not rig.esc.failures

    def test_deadbeat_run_one_datagram_to_a_closed_port_exits_1(self, tmp_path: Path) -> None:
        """deadbeat run --once, one line over UDP to a port nobody listens on: counted, logged, exit 1."""
        source = tmp_path / "in.log"
        source.write_text("single\n")
        pipeline = tmp_path / "pipeline.toml"
        pipeline.write_text(
            f'[[cog]]\nuse = "fs.read"\nfilenames = ["{source}"]\n'
            f'[[cog]]\nuse = "socket.send"\ntransport = "udp"\nport = {free_port()}\n'
        )
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--once"],
            capture_output=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stderr.decode()[-2000:]
        assert b"1 datagrams were refused (ICMP port unreachable" in result.stderr


class TestDatagramsTooBig:
    def test_max_datagram_above_the_udp_limit_is_refused_at_start(self, tmp_path: Path) -> None:
        """max_datagram = 100000 over UDP: the run does not start, naming the key and the limit."""
        with pytest.raises(ValueError, match="max_datagram must be at most 65507 bytes for udp"):
            SocketDrain(movement.Escapement(), transport="udp", port=9, max_datagram=65508)
        SocketDrain(movement.Escapement(), transport="udp", port=9, max_datagram=65507).done()
        source = tmp_path / "in.txt"
        source.write_text("small\n")
        pipeline = tmp_path / "pipeline.toml"
        pipeline.write_text(
            f'[[cog]]\nuse = "fs.read"\nfilenames = ["{source}"]\n'
            '[[cog]]\nuse = "socket.send"\ntransport = "udp"\nport = 9\nmax_datagram = 100000\n'
        )
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--once"], capture_output=True, timeout=120
        )
        assert result.returncode != 0, result.stderr.decode()
        assert b"max_datagram must be at most 65507 bytes for udp" in result.stderr

    def test_a_message_too_big_for_udp_fails_alone_and_the_rest_is_sent(self, tmp_path: Path) -> None:
        """deadbeat run: a 70,000-byte line between two small ones goes to the error output with its FILE:OFFSET."""
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        source = tmp_path / "in.txt"
        source.write_text("small\n" + "Z" * 70_000 + "\nsmall2\n")
        errors = tmp_path / "errors.jsonl"
        pipeline = tmp_path / "pipeline.toml"
        pipeline.write_text(
            textwrap.dedent(
                f"""
                [[cog]]
                use = "fs.read"
                filenames = ["{source}"]
                max_line = 200000
                [[cog]]
                use = "socket.send"
                transport = "udp"
                port = {receiver.getsockname()[1]}
                [[errors]]
                use = "text.json_format"
                [[errors]]
                use = "fs.write"
                filename = "{errors}"
                """
            )
        )
        try:
            result = subprocess.run(
                [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--once"],
                capture_output=True,
                timeout=60,
            )
            receiver.settimeout(5)
            got = [receiver.recv(200_000) for _ in range(2)]
        finally:
            receiver.close()
        assert got == [b"small", b"small2"], result.stderr.decode()[-2000:]
        assert b"connection lost" not in result.stderr
        (record,) = [json.loads(line) for line in errors.read_text().splitlines()]
        assert record["event_id"] == f"{source}:6"
        assert "max_datagram (65507)" in record["error"]

    def test_a_datagram_the_kernel_refuses_as_too_big_fails_alone(self, tmp_path: Path) -> None:
        """EMSGSIZE on send (a Unix datagram above the socket's buffer): that datum alone to the error output."""
        path = str(tmp_path / "dgram.sock")
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind(path)
        try:
            esc = movement.Escapement()
            records: list[movement.ErrorRecord] = []
            drain = SocketDrain(esc, transport="unix-datagram", path=path)
            # Past the check made as data arrive, as if the buffer had shrunk since: the kernel is the judge.
            drain._largest = 1 << 22
            train = movement.Train(esc, [drain], error_output=records.append)
            big = {"id": "big", "line": "x" * (1 << 20)}
            esc.enqueue(lambda: train.send(None, ["before", big, "after"]))
            esc.after(0.3, esc.shutdown)
            esc.run()
            esc.close()
            receiver.settimeout(5)
            got = [receiver.recv(100) for _ in range(2)]
        finally:
            receiver.close()
        assert got == [b"before", b"after"]
        (record,) = records
        assert record.event_id == "big" and record.datum is big
        assert "too big for the socket (Message too long)" in str(record.error)
        assert drain.counts["connections_lost"] == 0 and not esc.failures
        assert drain.metrics()["pending"] == 0 and drain.metrics()["pending_bytes"] == 0

    def test_a_unix_datagram_above_the_systems_limit_fails_as_it_arrives(self, tmp_path: Path) -> None:
        """Above what the socket's buffer takes (wmem_default less 32), a message fails at once, saying why."""
        path = str(tmp_path / "dgram.sock")
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind(path)
        try:
            esc = movement.Escapement()
            records: list[movement.ErrorRecord] = []
            drain = SocketDrain(esc, transport="unix-datagram", path=path, max_datagram=1 << 30)
            train = movement.Train(esc, [drain], error_output=records.append)
            big = {"id": "big", "line": "x" * (drain._largest + 1)}
            esc.enqueue(lambda: train.send(None, ["before", big, "after"]))
            esc.after(0.3, esc.shutdown)
            esc.run()
            esc.close()
            receiver.settimeout(5)
            got = [receiver.recv(100) for _ in range(2)]
        finally:
            receiver.close()
        assert got == [b"before", b"after"]
        (record,) = records
        assert record.event_id == "big" and "net.core.wmem_default" in str(record.error)
