"""Real DNS servers on loopback for the deadbeat.dns tests (and bench/dns_lookups.py).

Two kinds, both real servers on real sockets, started per test (or per session):

* :class:`Unbound`: Debian's unbound, with its own configuration in a temporary
  directory and ``local-data`` the test writes (PTR, A, AAAA, MX, TXT, names that
  do not exist, names whose type is missing, refused zones). It is what a
  production resolver looks like: fast, correct, with its own caching.
* :class:`ScriptedDNSServer`: a small UDP and TCP server written here, building
  every reply byte by byte, for what unbound will not do on demand: answers
  after a delay, queries dropped, truncated replies (the TC bit, with the full
  answer over TCP, or no TCP at all), replies for another question or another
  id, replies cut short, garbage, SERVFAIL. It counts what it receives, and how
  many distinct questions wait for their answer at once.

No resolver is mocked anywhere: the cogs talk to these servers through c-ares.
"""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import itertools
import os
import selectors
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
UNBOUND_CHECKCONF = shutil.which("unbound-checkconf") or "/usr/sbin/unbound-checkconf"

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "OPT": 41}
TYPE_NAMES = {number: name for name, number in TYPES.items()}
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5


def reverse_name(address: str) -> str:
    """The PTR name of an address, by the standard library (independent of the code under test)."""
    return ipaddress.ip_address(address).reverse_pointer


# -- wire format ------------------------------------------------------------------


def encode_name(name: str) -> bytes:
    """A domain name in wire format (no compression)."""
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode("ascii")
            out += bytes([len(raw)]) + raw
    return out + b"\x00"


def decode_name(message: bytes, offset: int) -> tuple[str, int]:
    """Read an uncompressed name at ``offset``. :returns: the name and the offset after it."""
    labels = []
    while True:
        length = message[offset]
        offset += 1
        if length == 0:
            return ".".join(labels), offset
        if length & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(message[offset : offset + length].decode("ascii"))
        offset += length


@dataclass
class Question:
    """What a query asked: its id, flags, name, type and class, and the raw question section."""

    qid: int
    flags: int
    name: str
    qtype: int
    qclass: int
    section: bytes

    @classmethod
    def parse(cls, message: bytes) -> Question:
        qid, flags, qdcount = struct.unpack_from("!HHH", message)
        if qdcount != 1:
            raise ValueError(f"{qdcount} questions")
        name, end = decode_name(message, 12)
        qtype, qclass = struct.unpack_from("!HH", message, end)
        return cls(qid, flags, name, qtype, qclass, message[12 : end + 4])


def encode_rdata(rtype: str, value: Any) -> bytes:
    if rtype == "A":
        return socket.inet_pton(socket.AF_INET, value)
    if rtype == "AAAA":
        return socket.inet_pton(socket.AF_INET6, value)
    if rtype in ("PTR", "CNAME", "NS"):
        return encode_name(value)
    if rtype == "MX":
        preference, exchange = value
        return struct.pack("!H", preference) + encode_name(exchange)
    if rtype == "TXT":
        raw = value.encode("utf-8") if isinstance(value, str) else value
        return b"".join(bytes([len(raw[i : i + 255])]) + raw[i : i + 255] for i in range(0, max(len(raw), 1), 255))
    raise ValueError(rtype)


def build_reply(
    question: Question,
    records: Sequence[tuple[str, Any]] = (),
    ttl: int = 300,
    rcode: int = NOERROR,
    truncated: bool = False,
    qid: int | None = None,
    section: bytes | None = None,
) -> bytes:
    """A reply to ``question``: its answers point at the question's name (offset 12).

    :param qid: another id than the question's (for a reply to another query).
    :param section: another question section (for a reply to another question).
    """
    flags = 0x8000 | 0x0400 | (question.flags & 0x0100) | 0x0080 | rcode  # QR AA RD(copied) RA
    if truncated:
        flags |= 0x0200
    answers = b""
    for rtype, value in records:
        rdata = encode_rdata(rtype, value)
        answers += struct.pack("!HHHIH", 0xC00C, TYPES[rtype], 1, ttl, len(rdata)) + rdata
    header = struct.pack(
        "!HHHHHH", question.qid if qid is None else qid, flags, 1, 0 if truncated else len(records), 0, 0
    )
    return header + (question.section if section is None else section) + (b"" if truncated else answers)


# -- the scripted server ------------------------------------------------------------


@dataclass
class Rule:
    """How the scripted server answers one name (any type unless ``records`` says otherwise).

    :ivar records: ``(type, value)`` pairs; only those of the asked type are sent
        (no record of that type: an empty NOERROR answer, "no data").
    :ivar ttl: the TTL of every record.
    :ivar delay: seconds before the reply leaves.
    :ivar rcode: the response code (``NXDOMAIN``, ``SERVFAIL``, ``REFUSED`` ...).
    :ivar fault: ``"drop"`` (never answer), ``"truncate"`` (TC bit over UDP, the
        full answer over TCP), ``"truncate-no-tcp"`` (TC bit, and TCP is
        refused), ``"wrong-id"``, ``"wrong-question"``, ``"cut"`` (the reply
        cut in the middle of its answer), ``"garbage"`` (bytes that are no DNS
        message but carry the query's id).
    :ivar drop_first: drop this many queries for the name before answering.
    """

    records: list[tuple[str, Any]] = field(default_factory=list)
    ttl: int = 300
    delay: float = 0.0
    rcode: int = NOERROR
    fault: str | None = None
    drop_first: int = 0


class ScriptedDNSServer:
    """A DNS server on 127.0.0.1 (UDP and TCP, one port) that answers as its rules say.

    Names without a rule are answered by :attr:`default_rule` (NXDOMAIN if none). Thread-safe counters: :attr:`queries`
    (per name, every UDP and TCP query), :attr:`max_waiting` (the most distinct
    names that had a query waiting for a delayed reply at once).
    """

    def __init__(self, rules: dict[str, Rule] | None = None) -> None:
        self.rules: dict[str, Rule] = {k.lower().rstrip("."): v for k, v in (rules or {}).items()}
        #: How names without a rule are answered (``None``: NXDOMAIN).
        self.default_rule: Rule | None = None
        self.queries: Counter[str] = Counter()
        self.tcp_queries: Counter[str] = Counter()
        self.max_waiting = 0
        self._waiting: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._udp, self._tcp = self._bind_pair()
        self.port = self._udp.getsockname()[1]
        self._tcp.listen(64)
        self._udp.setblocking(False)
        self._tcp.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._udp, selectors.EVENT_READ, self._read_udp)
        self._selector.register(self._tcp, selectors.EVENT_READ, self._accept)
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._drain_wake)
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="scripted-dns", daemon=True)
        self._thread.start()

    @staticmethod
    def _bind_pair() -> tuple[socket.socket, socket.socket]:
        """A UDP and a TCP socket on one free port of 127.0.0.1."""
        for _ in range(50):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            udp.bind(("127.0.0.1", 0))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind(("127.0.0.1", udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                continue
            return udp, tcp
        raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, as the cogs' ``servers`` take it."""
        return f"127.0.0.1:{self.port}"

    def set_rule(self, name: str, rule: Rule) -> None:
        """Answer ``name`` by ``rule`` from now on."""
        with self._lock:
            self.rules[name.lower().rstrip(".")] = rule

    def total(self) -> int:
        """Queries received so far, over UDP and TCP."""
        with self._lock:
            return sum(self.queries.values())

    def wait_for(self, predicate: Callable[[ScriptedDNSServer], bool], timeout: float = 30.0) -> bool:
        """Wait until ``predicate(self)`` holds, looking again whenever a query arrives. :returns: whether it did.

        ``timeout`` guards against a hang; it measures nothing.
        """
        deadline = time.monotonic() + timeout
        while not predicate(self):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self._changed:
                self._changed.wait(min(left, 0.1))
        return True

    def close(self) -> None:
        self._stopping = True
        os.write(self._wake_w, b"x")
        self._thread.join(5)
        self._selector.close()
        for sock in (self._udp, self._tcp):
            sock.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # -- inside the server's thread ----------------------------------------------

    def _serve(self) -> None:
        while not self._stopping:
            timeout = None
            if self._due:
                timeout = max(0.0, self._due[0][0] - time.monotonic())
            for key, _ in self._selector.select(timeout):
                key.data(key.fileobj)
            now = time.monotonic()
            while self._due and self._due[0][0] <= now:
                _, _, send = heapq.heappop(self._due)
                send()

    def _drain_wake(self, fd: int) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(fd, 64)

    def _read_udp(self, sock: socket.socket) -> None:
        for _ in range(256):
            try:
                message, peer = sock.recvfrom(4096)
            except BlockingIOError:
                return
            self._handle(message, lambda reply, peer=peer: self._send_udp(reply, peer), tcp=False)

    def _send_udp(self, reply: bytes, peer: Any) -> None:
        with contextlib.suppress(OSError):
            self._udp.sendto(reply, peer)

    def _accept(self, sock: socket.socket) -> None:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self._selector.register(conn, selectors.EVENT_READ, self._make_tcp_reader())

    def _make_tcp_reader(self) -> Callable[[socket.socket], None]:
        buffer = bytearray()

        def read(conn: socket.socket) -> None:
            try:
                chunk = conn.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._selector.unregister(conn)
                conn.close()
                return
            buffer.extend(chunk)
            while len(buffer) >= 2:
                (length,) = struct.unpack_from("!H", buffer)
                if len(buffer) < 2 + length:
                    break
                message = bytes(buffer[2 : 2 + length])
                del buffer[: 2 + length]

                def send(reply: bytes, conn: socket.socket = conn) -> None:
                    with contextlib.suppress(OSError):
                        conn.setblocking(True)
                        conn.sendall(struct.pack("!H", len(reply)) + reply)
                        conn.setblocking(False)

                self._handle(message, send, tcp=True)

        return read

    def _handle(self, message: bytes, send: Callable[[bytes], None], tcp: bool) -> None:
        try:
            question = Question.parse(message)
        except (ValueError, IndexError, struct.error):
            return
        name = question.name.lower()
        with self._lock:
            self.queries[name] += 1
            if tcp:
                self.tcp_queries[name] += 1
            rule = self.rules.get(name, self.default_rule)
            seen = self.queries[name]
            self._changed.notify_all()
        if rule is None:
            rule = Rule(rcode=NXDOMAIN)
        if rule.drop_first >= seen or rule.fault == "drop":
            return
        if rule.fault == "truncate-no-tcp" and tcp:
            return
        reply = self._reply(question, rule, tcp)
        if rule.delay <= 0:
            send(reply)
            return
        with self._lock:
            self._waiting[name] += 1
            self.max_waiting = max(self.max_waiting, len(self._waiting))

        def later() -> None:
            with self._lock:
                self._waiting[name] -= 1
                if self._waiting[name] <= 0:
                    del self._waiting[name]
            send(reply)

        heapq.heappush(self._due, (time.monotonic() + rule.delay, next(self._seq), later))

    def _reply(self, question: Question, rule: Rule, tcp: bool) -> bytes:
        asked = TYPE_NAMES.get(question.qtype)
        records = [(t, v) for t, v in rule.records if t == asked]
        fault = rule.fault
        if fault in ("truncate", "truncate-no-tcp") and not tcp:
            return build_reply(question, truncated=True)
        if fault == "wrong-id":
            return build_reply(question, records, rule.ttl, rule.rcode, qid=question.qid ^ 0x5A5A)
        if fault == "wrong-question":
            other = encode_name("someone-else.example") + struct.pack("!HH", question.qtype, 1)
            return build_reply(question, records, rule.ttl, rule.rcode, section=other)
        if fault == "cut":
            full = build_reply(question, records or [("A", "192.0.2.1")], rule.ttl, rule.rcode)
            return full[: len(full) - 3]
        if fault == "garbage":
            return struct.pack("!H", question.qid) + b"\xff\x0fnot a DNS message at all"
        return build_reply(question, records, rule.ttl, rule.rcode)


@pytest.fixture
def scripted_dns() -> Iterator[ScriptedDNSServer]:
    """A fresh :class:`ScriptedDNSServer` with no rules (every name: NXDOMAIN)."""
    server = ScriptedDNSServer()
    try:
        yield server
    finally:
        server.close()


# -- unbound ---------------------------------------------------------------------------


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(port)
        finally:
            udp.close()
            tcp.close()
    raise RuntimeError("no free port on 127.0.0.1")


def ask(port: int, name: str, qtype: str = "A", timeout: float = 0.5) -> bytes | None:
    """Send one plain query over UDP. :returns: the raw reply, or ``None`` on time-out."""
    query = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", TYPES[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query, ("127.0.0.1", port))
        try:
            return sock.recv(4096)
        except OSError:
            return None


class Unbound:
    """unbound on 127.0.0.1:PORT serving the zone lines given (``local-zone``, ``local-data`` ...).

    Nothing is forwarded or recursed: names outside the local zones are refused.
    """

    def __init__(self, directory: Path, zone: Sequence[str], threads: int = 1) -> None:
        self.directory = directory
        self.port = free_port()
        self.config = directory / "unbound.conf"
        lines = [
            "server:",
            "  interface: 127.0.0.1",
            f"  port: {self.port}",
            "  do-ip4: yes",
            "  do-ip6: no",
            "  do-udp: yes",
            "  do-tcp: yes",
            "  do-daemonize: no",
            '  username: ""',
            '  chroot: ""',
            f'  directory: "{directory}"',
            f'  pidfile: "{directory / "unbound.pid"}"',
            '  logfile: ""',
            "  use-syslog: no",
            "  verbosity: 0",
            f"  num-threads: {threads}",
            "  so-reuseport: no",
            "  access-control: 127.0.0.0/8 allow",
            '  module-config: "iterator"',
            "  do-not-query-localhost: yes",
            # Nothing outside the zones written here: refused, at once, without recursion.
            '  local-zone: "." refuse',
            "  outgoing-range: 64",
            "  num-queries-per-thread: 4096",
            "  so-rcvbuf: 4m",
            "  so-sndbuf: 4m",
            *[f"  {line}" for line in zone],
            "remote-control:",
            "  control-enable: no",
        ]
        self.config.write_text("\n".join(lines) + "\n")
        check = subprocess.run([UNBOUND_CHECKCONF, str(self.config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"unbound-checkconf refused the configuration: {check.stdout}{check.stderr}")
        self.log = open(directory / "unbound.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [UNBOUND, "-d", "-c", str(self.config)], stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while ask(self.port, "localhost-probe.invalid") is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"unbound did not start: {(directory / 'unbound.log').read_text()}")
            time.sleep(0.05)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


#: The zone most tests use. 192.0.2.0/24 and 2001:db8::/32 are documentation
#: networks: nothing real answers for them.
STANDARD_ZONE = [
    'local-zone: "2.0.192.in-addr.arpa." static',
    'local-zone: "8.b.d.0.1.0.0.2.ip6.arpa." static',
    'local-zone: "example." static',
    'local-zone: "refused.example." refuse',
    'local-zone: "100.51.198.in-addr.arpa." refuse',
    'local-data-ptr: "192.0.2.1 one.example."',
    'local-data-ptr: "192.0.2.2 two.example."',
    'local-data-ptr: "192.0.2.3 three.example."',
    'local-data-ptr: "2001:db8::1 six.example."',
    'local-data: "one.example. 300 IN A 192.0.2.1"',
    'local-data: "two.example. 300 IN A 192.0.2.2"',
    'local-data: "two.example. 300 IN A 192.0.2.22"',
    'local-data: "two.example. 300 IN AAAA 2001:db8::2"',
    'local-data: "six.example. 300 IN AAAA 2001:db8::1"',
    'local-data: "mail.example. 300 IN MX 20 mx2.example."',
    'local-data: "mail.example. 300 IN MX 10 mx1.example."',
    "local-data: 'mail.example. 300 IN TXT \"v=spf1 -all\"'",
]


@pytest.fixture(scope="session")
def unbound(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Unbound]:
    """unbound with :data:`STANDARD_ZONE`, for the whole session."""
    server = Unbound(tmp_path_factory.mktemp("unbound"), STANDARD_ZONE)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_unbound(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Unbound]]:
    """Start unbound with a zone of the test's own; stopped after the test."""
    started: list[Unbound] = []

    def start(zone: Sequence[str], threads: int = 1) -> Unbound:
        server = Unbound(tmp_path_factory.mktemp("unbound"), zone, threads)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


# -- running cogs on a real Escapement ------------------------------------------------


@dataclass
class Run:
    """What a run of :func:`run_cogs` left: the output, the error records, the cogs, and whether it ended by itself."""

    out: list[Any]
    errors: list[Any]
    cogs: list[Any]
    train: Any
    ended_by_itself: bool


def run_cogs(
    make: Callable[[Any], list[Any]],
    data: Sequence[Any] = (),
    until: Callable[[Run], bool] | None = None,
    timeout: float = 30.0,
    each: Callable[[Run], None] | None = None,
    **train_options: Any,
) -> Run:
    """Run ``data`` (sent as one list) through the cogs ``make(train)`` builds, into a collector.

    The run shuts down (``finish`` then ``done``, as on SIGTERM) when ``until(run)``
    holds, checked every 10 ms; without ``until`` it ends by itself once nothing
    is bound any more. ``timeout`` is a guard against a hang, not a measure.
    ``each(run)`` is called at every check, for observations during the run.
    """
    from deadbeat import movement
    from deadbeat.testing import Collector

    esc = movement.Escapement()
    errors: list[Any] = []
    train = movement.Train(esc, error_output=errors.append, **train_options)
    cogs = make(train)
    collector = Collector()
    train.cogs = [*cogs, collector]
    run = Run(collector.data, errors, cogs, train, True)
    batch = list(data)
    if batch:
        esc.enqueue(lambda: train.send(None, batch))

    def check() -> None:
        if each is not None:
            each(run)
        if until is not None and until(run):
            checks.cancel()
            esc.shutdown()

    def guard() -> None:
        run.ended_by_itself = False
        checks.cancel()
        esc.shutdown()

    # With ``until``, the checks keep the run going (the test feeds more data as it goes).
    checks = esc.every(0.01, check, keeps_alive=until is not None)
    esc.after(timeout, guard, keeps_alive=False)
    try:
        esc.run()
    finally:
        esc.close()
    return run


@pytest.fixture
def dns_kit() -> Any:
    """The helpers of this file, for test modules (which cannot import a conftest)."""
    import types

    return types.SimpleNamespace(
        Rule=Rule,
        run=run_cogs,
        reverse_name=reverse_name,
        STANDARD_ZONE=STANDARD_ZONE,
        NOERROR=NOERROR,
        SERVFAIL=SERVFAIL,
        NXDOMAIN=NXDOMAIN,
        REFUSED=REFUSED,
        ScriptedDNSServer=ScriptedDNSServer,
    )
