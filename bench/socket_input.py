"""socket.listen against hand-written receive loops: TCP lines from one client, UDP syslog at a paced rate.

Two measurements, each run in this one process against its baseline, alternating,
several rounds; the sender is always a separate process (so the two cores are
used as in life: one sends, one receives).

TCP newline supply. One client sends ``--lines`` lines of 100 bytes as fast as it
can. Receivers:

* hand-written: ``recv(256 KiB)``, split the bytes at newlines, keep the
  unfinished end, count the lines;
* ``socket.listen``, default data (``{"peer": ..., "line": ...}``, decoded text,
  ids beside), into a cog counting whole lists (``call_batch``);
* ``socket.listen``, plain lines (``line_setter = false, peer_setter = false``).

Lines/s is lines over the time from "go" to the last line counted.

UDP syslog. A client sends RFC 5424 syslog datagrams (about 110 bytes) paced at
``--rate`` datagrams/s for ``--seconds`` seconds. Receivers: a hand-written
``recvfrom`` loop, and ``socket.listen`` (UDP, default data). Both sockets get the
same receive buffer (``--rcvbuf``). Printed: datagrams received of those sent,
the loss, the kernel's drop count for the socket (``/proc/net/udp``), and the
rate received. Then one unpaced round each shows the headroom.

The UDP sender is a small C program (``sendmmsg``, paced by the clock), compiled
at start when ``cc`` is there: a Python sender itself tops out near 100,000
datagrams/s on a busy machine, and would measure the sender rather than the
receiver. ``--sender python`` uses one (one ``send`` per datagram) instead.

Run: ``python bench/socket_input.py [--lines N] [--rounds R] [--rate D] [--seconds S] [--rcvbuf B] [--sender c|python]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import select
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from multiprocessing.connection import Connection
from typing import Any

from deadbeat import movement
from deadbeat.socket import SocketSupply
from deadbeat.socket._kernel import set_receive_buffer, udp_drops

LINE = b"x" * 99 + b"\n"
#: (sent, received, kernel drops, received per second, sent per second)
UdpResult = tuple[int, int, "int | None", float, float]
SYSLOG = (
    b"<13>1 2026-11-30T03:55:19.740109+00:00 host.example.org app 4242 ID47 - "
    b"user login failed for alice from 192.0.2.17 port 51234 "
)


# -- senders (separate processes) -----------------------------------------------


def tcp_sender(port: int, lines: int, go: Connection) -> None:
    go.send("ready")
    go.recv()
    block = LINE * 1000
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(lines // 1000):
            sock.sendall(block)


def udp_sender(port: int, rate: float, seconds: float, go: Connection) -> None:
    """Send numbered syslog datagrams at ``rate`` per second (0: as fast as possible); report how many."""
    go.send("ready")
    go.recv()
    total = int(rate * seconds) if rate else int(300_000 * seconds)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("127.0.0.1", port))
        send = sock.send
        start = time.perf_counter()
        sent = 0
        while sent < total:
            if rate:
                # Paced in bursts of a millisecond's worth: as a busy syslog source does.
                due = int((time.perf_counter() - start) * rate) + 1
                burst = min(due, total) - sent
                if burst <= 0:
                    time.sleep(0.0002)
                    continue
            else:
                burst = min(1000, total - sent)
            for i in range(sent, sent + burst):
                send(SYSLOG + b"%d" % i)
            sent += burst
        elapsed = time.perf_counter() - start
    go.send((sent, elapsed))


#: The UDP load generator in C (sendmmsg, paced by the clock): a Python sender
#: tops out near 100,000 datagrams/s on a busy machine, which would measure the
#: sender, not the receiver. Compiled at start when a C compiler is there.
C_SENDER = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 5) return 2;
    int port = atoi(argv[1]);
    double rate = atof(argv[2]), seconds = atof(argv[3]);
    const char *prefix = argv[4];
    long total = rate > 0 ? (long)(rate * seconds) : (long)(300000 * seconds);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) { perror("connect"); return 1; }
    printf("ready\n");
    fflush(stdout);
    char go[16];
    if (!fgets(go, sizeof go, stdin)) return 1;
    enum { BURST = 64 };
    static char bufs[BURST][512];
    struct mmsghdr msgs[BURST];
    struct iovec iov[BURST];
    double start = now();
    long sent = 0;
    while (sent < total) {
        long due = total;
        if (rate > 0) {
            due = (long)((now() - start) * rate) + 1;
            if (due > total) due = total;
            if (due <= sent) {
                struct timespec nap = {0, 100000};
                nanosleep(&nap, NULL);
                continue;
            }
        }
        int n = due - sent > BURST ? BURST : (int)(due - sent);
        for (int i = 0; i < n; i++) {
            int len = snprintf(bufs[i], sizeof bufs[i], "%s%ld", prefix, sent + i);
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = len;
            memset(&msgs[i], 0, sizeof msgs[i]);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int done = sendmmsg(fd, msgs, n, 0);
        if (done < 0) {
            if (errno == EAGAIN || errno == ENOBUFS || errno == ECONNREFUSED || errno == EINTR) continue;
            perror("sendmmsg");
            return 1;
        }
        sent += done;
    }
    printf("%ld %f\n", sent, now() - start);
    fflush(stdout);
    return 0;
}
"""


class UdpSender:
    """A separate process sending syslog datagrams: ``ready``, then ``go``, then its result (sent, seconds)."""

    def __init__(self, port: int, rate: float, seconds: float, program: str | None) -> None:
        self.program = program
        if program is not None:
            self._process: Any = subprocess.Popen(
                [program, str(port), str(rate), str(seconds), SYSLOG.decode()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self._process.stdout.readline().strip() == "ready"
        else:
            self._process, self._pipe = start_sender(udp_sender, port, rate, seconds)
        self._result: tuple[int, float] | None = None

    def go(self) -> None:
        if self.program is not None:
            self._process.stdin.write("go\n")
            self._process.stdin.flush()
        else:
            self._pipe.send("go")

    def done(self) -> bool:
        """Whether the sender has finished (without waiting)."""
        if self._result is not None:
            return True
        if self.program is not None:
            if not select.select([self._process.stdout], [], [], 0)[0]:
                return False
            sent, seconds = self._process.stdout.readline().split()
            self._result = (int(sent), float(seconds))
            self._process.wait()
        else:
            if not self._pipe.poll():
                return False
            self._result = self._pipe.recv()
            self._process.join()
        return True

    def result(self) -> tuple[int, float]:
        while not self.done():
            time.sleep(0.01)
        assert self._result is not None
        return self._result


def compile_sender(directory: str) -> str | None:
    """:returns: the C sender's path, or ``None`` when no C compiler is there (the Python sender is used)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    source = os.path.join(directory, "udp_sender.c")
    program = os.path.join(directory, "udp_sender")
    with open(source, "w") as handle:
        handle.write(C_SENDER)
    subprocess.run([compiler, "-O2", "-o", program, source], check=True)
    return program


def start_sender(target: Any, *args: Any) -> tuple[multiprocessing.process.BaseProcess, Connection]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(*args, theirs), daemon=True)
    process.start()
    assert ours.recv() == "ready"  # started and imported: its start-up is not timed
    return process, ours


# -- TCP ------------------------------------------------------------------------------


def tcp_hand_written(lines: int) -> float:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    process, go = start_sender(tcp_sender, server.getsockname()[1], lines)
    start = time.perf_counter()
    go.send("go")
    conn, _ = server.accept()
    count, partial = 0, b""
    while True:
        chunk = conn.recv(1 << 18)
        if not chunk:
            break
        pieces = (partial + chunk).split(b"\n")
        partial = pieces.pop()
        count += len(pieces)
    elapsed = time.perf_counter() - start
    conn.close()
    server.close()
    process.join()
    assert count == lines, count
    return lines / elapsed


class Count(movement.Cog):
    """The last cog: counts whole lists, and ends the run at ``target``."""

    def __init__(self, esc: movement.Escapement, target: int) -> None:
        self.esc = esc
        self.target = target
        self.seen = 0
        self.last = 0.0

    def __call__(self, data: Any) -> tuple[Any, ...]:
        self.seen += 1
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        self.seen += len(data)
        self.last = time.perf_counter()
        if self.seen >= self.target:
            self.esc.shutdown()
        return data


def tcp_deadbeat(lines: int, **params: Any) -> float:
    esc = movement.Escapement()
    supply = SocketSupply(esc, port=0, **params)
    counter = Count(esc, lines)
    movement.Train(esc, [supply, counter])
    process, go = start_sender(tcp_sender, supply.address[1], lines)
    start = time.perf_counter()
    go.send("go")
    try:
        esc.run()
    finally:
        esc.close()
    process.join()
    assert counter.seen == lines, counter.seen
    return lines / (counter.last - start)


# -- UDP ------------------------------------------------------------------------------


def udp_hand_written(rate: float, seconds: float, rcvbuf: int, program: str | None) -> UdpResult:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    set_receive_buffer(sock, rcvbuf)
    sender = UdpSender(sock.getsockname()[1], rate, seconds, program)
    start = time.perf_counter()
    sender.go()
    received, last = 0, start
    sock.settimeout(0.25)
    recvfrom = sock.recvfrom
    while True:
        try:
            data, _ = recvfrom(65536)
        except TimeoutError:
            if sender.done():
                break
            continue
        data.decode()
        received += 1
        last = time.perf_counter()
    sent, sending = sender.result()
    drops = udp_drops(sock)
    sock.close()
    return sent, received, drops, received / (last - start), sent / sending


def udp_deadbeat(rate: float, seconds: float, rcvbuf: int, program: str | None) -> UdpResult:
    esc = movement.Escapement()
    supply = SocketSupply(esc, transport="udp", port=0, receive_buffer=rcvbuf)
    counter = Count(esc, 1 << 62)
    movement.Train(esc, [supply, counter])
    sender = UdpSender(supply.address[1], rate, seconds, program)
    state: dict[str, Any] = {"seen": -1}

    def check() -> None:
        # Once the sender is done and nothing more arrives, the run ends.
        if sender.done():
            if counter.seen == state["seen"]:
                state["drops"] = supply.kernel_drops()
                esc.shutdown()
            state["seen"] = counter.seen

    esc.every(0.25, check, keeps_alive=False)
    start = time.perf_counter()
    sender.go()
    try:
        esc.run()
    finally:
        esc.close()
    sent, sending = sender.result()
    return sent, counter.seen, state.get("drops"), counter.seen / (counter.last - start), sent / sending


# -- main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=float, default=100_000.0, help="UDP datagrams/s the sender keeps to")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds the UDP sender sends")
    parser.add_argument("--rcvbuf", type=int, default=32 << 20, help="UDP receive buffer of both receivers")
    parser.add_argument(
        "--sender", choices=("c", "python"), default="c", help="UDP load generator (c: sendmmsg, if cc is there)"
    )
    parser.add_argument("--skip-tcp", action="store_true")
    parser.add_argument("--skip-udp", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        program = compile_sender(scratch) if args.sender == "c" else None
        run(args, program)


def run(args: argparse.Namespace, program: str | None) -> None:

    if not args.skip_tcp:
        rates: dict[str, list[float]] = {"hand-written": [], "deadbeat (peer+line)": [], "deadbeat (plain lines)": []}
        for round_no in range(1, args.rounds + 1):
            rates["hand-written"].append(tcp_hand_written(args.lines))
            rates["deadbeat (peer+line)"].append(tcp_deadbeat(args.lines))
            rates["deadbeat (plain lines)"].append(tcp_deadbeat(args.lines, line_setter=None, peer_setter=None))
            print(f"TCP round {round_no}: " + "   ".join(f"{n} {r[-1]:>11,.0f}" for n, r in rates.items()))
        medians = {name: statistics.median(r) for name, r in rates.items()}
        base = medians["hand-written"]
        print(f"TCP, one client, {args.lines:,} lines of 100 bytes, {args.rounds} rounds, medians:")
        for name, rate in medians.items():
            print(f"  {name:<24} {rate:>11,.0f} lines/s   {rate / base:6.1%} of hand-written")
        print("  target: socket.listen >= 300,000 lines/s")

    if not args.skip_udp:
        print(f"UDP sender: {'C, sendmmsg' if program else 'Python, one send per datagram'}")
        results: dict[str, list[UdpResult]] = {"hand-written": [], "deadbeat": []}
        for round_no in range(1, args.rounds + 1):
            results["hand-written"].append(udp_hand_written(args.rate, args.seconds, args.rcvbuf, program))
            results["deadbeat"].append(udp_deadbeat(args.rate, args.seconds, args.rcvbuf, program))
            print(
                f"UDP round {round_no}: "
                + "   ".join(
                    f"{n} {r[-1][1]:,}/{r[-1][0]:,} recv (sent at {r[-1][4]:,.0f}/s), drops {r[-1][2]},"
                    f" {r[-1][3]:,.0f}/s"
                    for n, r in results.items()
                )
            )
        print(
            f"UDP syslog paced at {args.rate:,.0f}/s for {args.seconds:g} s, receive buffer {args.rcvbuf:,} bytes,"
            f" {args.rounds} rounds, medians:"
        )
        base_rate = statistics.median(r[3] for r in results["hand-written"])
        for name, rows in results.items():
            lost = statistics.median(r[0] - r[1] for r in rows)
            worst = max(r[0] - r[1] for r in rows)
            rate = statistics.median(r[3] for r in rows)
            print(
                f"  {name:<14} {rate:>11,.0f} datagrams/s received   {rate / base_rate:6.1%} of hand-written"
                f"   lost: median {lost:,.0f}, worst {worst:,} (kernel drops {[r[2] for r in rows]})"
            )
        print("  target: socket.listen >= 100,000 datagrams/s with no loss at that rate")
        for name, receiver in (("hand-written", udp_hand_written), ("deadbeat", udp_deadbeat)):
            sent, received, drops, rate, sending = receiver(0.0, args.seconds, args.rcvbuf, program)
            print(
                f"  unpaced, {name:<12}: {received:,} of {sent:,} received ({rate:,.0f}/s; sent at {sending:,.0f}/s),"
                f" kernel drops {drops}"
            )


if __name__ == "__main__":
    main()
