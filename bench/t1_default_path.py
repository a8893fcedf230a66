"""T1, the job operators run: JSON lines in, ``src_ip`` truncated to /24, JSON lines out.

One invocation generates N JSON lines of about 200 bytes (``time``, ``src_ip``
(a random IPv4 address, the only address in the line), ``action``, ``user``,
``bytes``, ``status``, ``msg``) and runs, each as its own process reading the
input file and writing its own output file:

* ``loop orjson``: the hand-written loop ``for line in src: d = orjson.loads(line);
  d["src_ip"] = <check with inet_pton, cut at the last dot>; dst.write(orjson.dumps(d) + b"\\n")``
  (the baseline of every ratio);
* ``loop stdlib json``: the same loop with the standard library (a decoder and
  a compact encoder made once);
* ``deadbeat run``: ``.venv/bin/deadbeat run PIPELINE --once --quiet`` on the
  pipeline file with every default: ``fs.read`` -> ``text.json_parse`` ->
  ``ip.anonymise`` (``fields = "src_ip"``) -> ``text.json_format`` -> ``fs.write``;
* ``deadbeat run tuned``: the same with ``fs.tail`` (``tail = false``,
  ``read_size = 32768``) instead of ``fs.read``: a smaller read size, which
  helped while the default was 256 KiB (the default is 128 KiB now, measured
  faster than 32 and 64 KiB on this job);
* ``API defaults``: the same train built in Python with every default;
* ``API fastest``: the fastest set-up of the same train found through the API
  (the same 32 KiB read size; see :func:`worker_api_fastest`);
* ``rsyslog``: Debian's rsyslogd as its own instance (own config, work
  directory and pid file, foreground), ``imfile`` -> ``mmjsonparse`` ->
  RainerScript ``re_extract`` on ``$!src_ip`` -> ``omfile`` with a ``%$!%``
  template, two main-queue workers. The end is when the output holds N lines
  (polled); then SIGTERM. Installed with apt-get when missing (root only).
* ``rsyslog mmanon``: the same with ``mmanon`` (IPv4 /24 zeroing) on the raw
  message before ``mmjsonparse`` instead of RainerScript; it anonymises every
  IPv4 address of the line, which here is ``src_ip`` alone.

Measured per run: events/s (wall time of the whole process, start-up included;
for rsyslog from its start until the output holds every line), CPU seconds
(user + system of the process and its waited-for children, from ``wait4``) and
peak RSS (``ru_maxrss``), each contender started by a small launcher process
(see :data:`LAUNCHER`: forked from the benchmark itself, a child's peak RSS
would include the benchmark's memory). Before the rounds every contender runs
twice on 100 events (bytecode cache filled; the second run's wall time is the
"start-up" column). Every output is checked event by event against the
expected events (the input with ``src_ip`` truncated, computed independently
when the input is made): the same number, equal as parsed JSON, in the same
order for the contenders that keep order (ours; whether rsyslog kept it is
printed). Any mismatch is printed loudly and the exit status is 1.

Each round runs every contender once, in an order rotated from round to round,
so that a slow moment of the machine falls on all of them; the table shows the
medians.

Run: ``.venv/bin/python bench/t1_default_path.py [--events N] [--rounds R]
[--skip-rsyslog] [--profile] [--dir DIR] [--keep] [--only NAME ...]``.
``--profile`` then runs ``deadbeat run`` once under cProfile on the same input
and prints the 25 functions with the most own time.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------
# The workers: each contender written in Python runs in a fresh process
# (``python t1_default_path.py --worker KIND SRC DST``) so that its CPU time
# and RSS are its own. Nothing but the standard library is imported above.
# ---------------------------------------------------------------------------


def worker_loop_orjson(src: str, dst: str) -> None:
    import socket

    import orjson

    loads, dumps = orjson.loads, orjson.dumps
    pton, family = socket.inet_pton, socket.AF_INET
    with open(src, "rb") as source, open(dst, "wb") as target:
        write = target.write
        for line in source:
            d = loads(line)
            ip = d["src_ip"]
            pton(family, ip)  # refuses anything but a canonical dotted quad
            d["src_ip"] = ip[: ip.rfind(".")] + ".0"
            write(dumps(d) + b"\n")


def worker_loop_json(src: str, dst: str) -> None:
    import socket

    # A decoder and an encoder made once (json.dumps with options builds an
    # encoder per call); compact, as orjson and text.json_format write.
    loads = json.JSONDecoder().decode
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    pton, family = socket.inet_pton, socket.AF_INET
    with open(src, encoding="utf-8") as source, open(dst, "w", encoding="utf-8") as target:
        write = target.write
        for line in source:
            d = loads(line)
            ip = d["src_ip"]
            pton(family, ip)
            d["src_ip"] = ip[: ip.rfind(".")] + ".0"
            write(dumps(d) + "\n")


def worker_api_defaults(src: str, dst: str) -> None:
    from deadbeat import fs, ip, movement, text

    train = movement.Train()
    train.cogs = [
        fs.FileReaderSupply(train.esc, [src]),
        text.JSONParse(),
        ip.Anonymise(fields="src_ip"),
        text.JSONFormat(),
        fs.LineFileDrain(train.esc, dst),
    ]
    train.run()
    _check_train(train)


def worker_api_fastest(src: str, dst: str) -> None:
    # The fastest set-up found through the API while the default read size
    # was 256 KiB: the reader with 32 KiB, so each batch is about 160 events
    # instead of 1,300 (the batch's dicts stay in the CPU caches between the
    # cogs; 16 to 128 KiB all beat 256 KiB, 1 MiB and more are slower). The
    # default is 128 KiB now, which beat 32 and 64 KiB here (each batch also
    # costs the train a fixed amount of work). Plain lines without ids are the
    # default too; engine="orjson" is what "auto" picks here (no difference
    # measured). T1_READ_SIZE overrides the read size.
    from deadbeat import fs, ip, movement, text

    train = movement.Train()
    read_size = int(os.environ.get("T1_READ_SIZE", 32 * 1024))
    train.cogs = [
        fs.FileWatcherSupply(train.esc, [src], tail=False, read_size=read_size, line_setter=None, id_setter=None),
        text.JSONParse(engine="orjson"),
        ip.Anonymise(fields="src_ip"),
        text.JSONFormat(engine="orjson"),
        fs.LineFileDrain(train.esc, dst),
    ]
    train.run()
    _check_train(train)


def _check_train(train: Any) -> None:
    print(f"events_in={train.events_in} events_out={train.events_out} errors={train.errors}", file=sys.stderr)
    if train.errors or train.events_in != train.events_out:
        sys.exit(3)


WORKERS = {
    "loop-orjson": worker_loop_orjson,
    "loop-json": worker_loop_json,
    "api-defaults": worker_api_defaults,
    "api-fastest": worker_api_fastest,
}

# ---------------------------------------------------------------------------
# Input and the expected output
# ---------------------------------------------------------------------------

ACTIONS = ["login", "logout", "download", "upload", "delete", "rename", "share", "mkdir"]
USERS = [
    f"{first}.{last}"
    for first in ("alice", "bob", "carol", "dave", "erin", "frank")
    for last in ("smith", "novak", "ito", "garcia")
]
STATUS = ["ok", "ok", "ok", "denied", "failed", "timeout"]
WORDS = [
    *("request", "completed", "for", "session", "after", "retries", "using", "client", "agent", "with"),
    *("quota", "remaining", "on", "volume", "archive", "report", "quarterly", "backup", "nightly", "sync", "token"),
]


def make_input(src: Path, expected: Path, events: int) -> float:
    """Write ``events`` JSON lines to ``src`` and the expected output to ``expected``.

    The expected ``src_ip`` is built from the octets as drawn, not by any of the
    contenders' code. Returns the mean line length in bytes.
    """
    rng = random.Random(20261127)
    # A few thousand message texts, drawn once: the lines differ by address,
    # time, user, bytes and text, and generating a million takes seconds.
    texts = []
    for _ in range(4096):
        words = rng.choices(WORDS, k=rng.randint(3, 7))
        path = f"/srv/{rng.choice(WORDS)}/{rng.randint(1, 9999):04d}.dat"
        texts.append(f'{words[0].capitalize()} {" ".join(words[1:])} {path} "{rng.choice(WORDS)}"')
    total = 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    base = 1_795_800_000  # 2026-11-27
    with open(src, "w", encoding="utf-8") as source, open(expected, "w", encoding="utf-8") as target:
        for i in range(events):
            a = rng.randint(1, 223)
            b, c, d = rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)
            seconds = base + i // 50
            event = {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{(i % 50) * 20000:06d}Z",
                "src_ip": f"{a}.{b}.{c}.{d}",
                "action": rng.choice(ACTIONS),
                "user": rng.choice(USERS),
                "bytes": rng.randint(0, 10_000_000),
                "status": rng.choice(STATUS),
                "msg": texts[rng.getrandbits(12)],
            }
            line = dumps(event) + "\n"
            total += len(line)
            source.write(line)
            event["src_ip"] = f"{a}.{b}.{c}.0"
            target.write(dumps(event) + "\n")
    return total / max(events, 1)


# ---------------------------------------------------------------------------
# Checking an output
# ---------------------------------------------------------------------------


@dataclass
class Check:
    ok: bool
    lines: int
    ordered: bool | None  # None: not known (the output is wrong in count or content)
    detail: str = ""
    same_bytes: bool = False


def same_file(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(1 << 20), fb.read(1 << 20)
            if ca != cb:
                return False
            if not ca:
                return True


def check_output(output: Path, expected: Path, events: int) -> Check:
    """Compare ``output`` with ``expected`` event by event, as parsed JSON.

    One pass over both files side by side; only the events that are not at
    their expected place are kept (in canonical form, keys sorted), to tell
    "the same events in another order" from "wrong events". The checker's own
    memory thus stays small unless the order is far off.
    """
    import orjson

    if not output.exists():
        return Check(False, 0, None, "no output file")
    if same_file(output, expected):
        return Check(True, events, True, "byte-identical to the expected output", same_bytes=True)
    loads, dumps, canonical = orjson.loads, orjson.dumps, orjson.OPT_SORT_KEYS
    displaced_out: collections.Counter[bytes] = collections.Counter()
    displaced_exp: collections.Counter[bytes] = collections.Counter()
    lines = displaced = 0
    first_bad: tuple[int, bytes, bytes] | None = None
    with open(output, "rb") as got_file, open(expected, "rb") as want_file:
        for number, (got, want) in enumerate(itertools.zip_longest(got_file, want_file), 1):
            if got is not None:
                lines += 1
                try:
                    got_value = loads(got)
                except orjson.JSONDecodeError as exc:
                    return Check(False, lines, None, f"line {number} is not JSON: {exc}: {got[:200]!r}")
            want_value = loads(want) if want is not None else None
            if got is not None and want is not None and got_value == want_value:
                continue
            displaced += 1
            if first_bad is None:
                first_bad = (number, got or b"(none)", want or b"(none)")
            if got is not None:
                displaced_out[dumps(got_value, option=canonical)] += 1
            if want is not None:
                displaced_exp[dumps(want_value, option=canonical)] += 1
    if first_bad is None:
        return Check(True, lines, True, "same events in the same order (different bytes)")
    if displaced_out == displaced_exp:
        return Check(True, lines, False, f"same events, another order: {displaced:,} events at another place")
    extra, missing = displaced_out - displaced_exp, displaced_exp - displaced_out
    number, got, want = first_bad
    detail = (
        f"{lines:,} events out, {events:,} expected; {sum(extra.values()):,} not expected, "
        f"{sum(missing.values()):,} expected ones missing; line {number}: got {got[:300]!r}, "
        f"expected {want[:300]!r}"
    )
    if extra:
        detail += f"; an unexpected event: {next(iter(extra)).decode(errors='replace')[:300]}"
    if missing:
        detail += f"; a missing one: {next(iter(missing)).decode(errors='replace')[:300]}"
    return Check(False, lines, None, detail)


# ---------------------------------------------------------------------------
# Running one contender
# ---------------------------------------------------------------------------


@dataclass
class Result:
    wall: float
    cpu: float
    rss_mb: float
    check: Check
    note: str = ""


@dataclass
class Contender:
    name: str
    keeps_order: bool
    command: Any  # (src, dst, workdir) -> list[str] or a callable running it (rsyslog)
    results: list[Result] = field(default_factory=list)


#: The environment of the contenders (see :func:`child_environment`).
CHILD_ENV: dict[str, str] | None = None


def child_environment(cache: Path) -> dict[str, str]:
    """The contenders' environment: Python bytecode cached, outside the source tree.

    An installed Python program starts from cached bytecode; with
    ``PYTHONDONTWRITEBYTECODE`` set (as it may be in a development shell) every
    run of ``deadbeat`` would compile its modules again (about 0.15 s). The
    children write and read their bytecode under ``cache`` instead
    (``PYTHONPYCACHEPREFIX``), so nothing is written into the repository, and a
    warm-up run fills it before anything is timed.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


# Each contender is started by this small launcher, a fresh Python without
# site packages: it forks, execs the contender and reports the contender's own
# wall time, CPU time and peak RSS (wait4). Forking the contender from the
# benchmark itself would be wrong for the RSS: a child's ru_maxrss counts the
# memory of the process it was forked from, before the exec (the benchmark
# holds hundreds of MB while it checks outputs); the launcher holds about 8 MB,
# which is thus the floor of what the table can show.
LAUNCHER = """\
import os, sys, time
result, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
with open(result + ".pid", "w") as handle:
    handle.write(f"{pid} {start!r}")
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(result, "w") as handle:
    handle.write(f"{wall!r} {usage.ru_utime + usage.ru_stime!r} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


class Launched:
    """A contender started through :data:`LAUNCHER`."""

    def __init__(self, argv: list[str], log: Path, result: Path) -> None:
        self.result = result
        result.unlink(missing_ok=True)
        Path(f"{result}.pid").unlink(missing_ok=True)
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", LAUNCHER, str(result), *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=CHILD_ENV,
            )

    def child(self) -> tuple[int, float] | None:
        """The contender's pid and the ``perf_counter`` time it was forked, once known."""
        try:
            pid, start = Path(f"{self.result}.pid").read_text().split()
        except (FileNotFoundError, ValueError):
            return None
        return int(pid), float(start)

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self) -> tuple[float, float, float, int]:
        """Wall seconds, CPU seconds, peak RSS in MB and the exit status of the contender."""
        if self.proc.wait() != 0:
            raise RuntimeError(f"the launcher failed (status {self.proc.returncode})")
        wall, cpu, rss_kb, code = self.result.read_text().split()
        return float(wall), float(cpu), int(rss_kb) / 1024, int(code)


def run_process(argv: list[str], log: Path) -> tuple[float, float, float, int]:
    """Run ``argv``; return wall seconds, CPU seconds, peak RSS in MB and the exit status."""
    return Launched(argv, log, log.with_suffix(".result")).wait()


def python_worker(kind: str) -> Any:
    def command(src: Path, dst: Path, workdir: Path) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(src), str(dst)]

    return command


def deadbeat_executable() -> str:
    candidate = REPO / ".venv" / "bin" / "deadbeat"
    if candidate.exists():
        return str(candidate)
    return str(Path(sys.executable).with_name("deadbeat"))


PIPELINE = """\
# T1 with every default: read, parse, truncate src_ip to /24, format, write.
[[cog]]
use = "fs.read"
filenames = [{src}]

[[cog]]
use = "text.json_parse"

[[cog]]
use = "ip.anonymise"
fields = "src_ip"

[[cog]]
use = "text.json_format"

[[cog]]
use = "fs.write"
filename = {dst}
"""


# The same job in a pipeline file with the setting that helped through the API
# while the default read size was 256 KiB: fs.tail reading once (tail = false)
# with a 32 KiB read size.
PIPELINE_TUNED = """\
# T1 tuned: fs.tail reading once, 32 KiB per batch; the rest as by default.
[[cog]]
use = "fs.tail"
filenames = [{src}]
tail = false
read_size = 32768

[[cog]]
use = "text.json_parse"

[[cog]]
use = "ip.anonymise"
fields = "src_ip"

[[cog]]
use = "text.json_format"

[[cog]]
use = "fs.write"
filename = {dst}
"""


def write_pipeline(path: Path, src: Path, dst: Path, template: str = PIPELINE) -> None:
    path.write_text(template.format(src=json.dumps(str(src)), dst=json.dumps(str(dst))))


def deadbeat_run(src: Path, dst: Path, workdir: Path) -> list[str]:
    pipeline = workdir / "t1.toml"
    write_pipeline(pipeline, src, dst)
    return [deadbeat_executable(), "run", str(pipeline), "--once", "--quiet"]


def deadbeat_run_tuned(src: Path, dst: Path, workdir: Path) -> list[str]:
    pipeline = workdir / "t1-tuned.toml"
    write_pipeline(pipeline, src, dst, PIPELINE_TUNED)
    return [deadbeat_executable(), "run", str(pipeline), "--once", "--quiet"]


# ---------------------------------------------------------------------------
# rsyslog
# ---------------------------------------------------------------------------

# An octet as inet_pton reads it (0 to 255, no leading zero): the same
# addresses are accepted as by ip.anonymise and the hand-written loops.
OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
NET24_RE = f"^({OCTET}\\\\.{OCTET}\\\\.{OCTET})\\\\.{OCTET}\\$"

RSYSLOG_COMMON = """\
# Its own instance: own work directory (imfile state), no other inputs.
global(workDirectory="{work}")
main_queue(queue.workerThreads="2")
module(load="imfile" mode="inotify")
module(load="mmjsonparse")
{modules}
# All parsed fields and nothing else, one JSON object per line.
template(name="t1json" type="string" string="%$!%\\n")
input(type="imfile" file="{src}" tag="t1" ruleset="t1" addMetadata="off")
"""

RSYSLOG_RAINERSCRIPT = """\
ruleset(name="t1") {{
  action(type="mmjsonparse" cookie="")
  if $parsesuccess != "OK" then {{
    action(type="omfile" file="{errors}")
    stop
  }}
  # /24: the first three octets of a valid dotted quad, then ".0".
  set $.net = re_extract($!src_ip, "{regex}", 0, 1, "");
  if $.net == "" then {{
    action(type="omfile" file="{errors}")
    stop
  }}
  set $!src_ip = $.net & ".0";
  action(type="omfile" file="{dst}" template="t1json")
}}
"""

RSYSLOG_MMANON = """\
ruleset(name="t1") {{
  # Zero the last 8 bits of every IPv4 address of the line (src_ip is the only one).
  action(type="mmanon" ipv4.enable="on" ipv4.mode="zero" ipv4.bits="8" ipv6.enable="off" embeddedipv4.enable="off")
  action(type="mmjsonparse" cookie="")
  if $parsesuccess != "OK" then {{
    action(type="omfile" file="{errors}")
    stop
  }}
  action(type="omfile" file="{dst}" template="t1json")
}}
"""


def rsyslog_config(style: str, src: Path, dst: Path, workdir: Path) -> str:
    work = workdir / "rsyslog-work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    errors = workdir / "rsyslog-errors.log"
    common = RSYSLOG_COMMON.format(work=work, src=src, modules='module(load="mmanon")' if style == "mmanon" else "")
    body = RSYSLOG_MMANON if style == "mmanon" else RSYSLOG_RAINERSCRIPT
    return common + body.format(dst=dst, errors=errors, regex=NET24_RE)


def find_rsyslogd() -> str | None:
    return shutil.which("rsyslogd") or next(
        (p for p in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if os.access(p, os.X_OK)), None
    )


def ensure_rsyslogd() -> str:
    found = find_rsyslogd()
    if found:
        return found
    print("rsyslogd not found: installing Debian's rsyslog package (apt-get install -y rsyslog) ...", flush=True)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit(
            "rsyslogd is missing and cannot be installed here (needs root and apt-get); use --skip-rsyslog"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "rsyslog"], check=True, env=env)
    found = find_rsyslogd()
    if not found:
        raise SystemExit("apt-get install rsyslog did not provide rsyslogd")
    print(f"installed: {found}", flush=True)
    return found


def count_lines_growing(path: Path, target: int, launched: Launched, stall: float) -> tuple[int, float]:
    """Poll ``path`` until it holds ``target`` lines; return the count and the time it was reached."""
    count = 0
    last_progress = time.perf_counter()
    handle = None
    try:
        while True:
            if handle is None and path.exists():
                handle = open(path, "rb")  # noqa: SIM115
            if handle is not None:
                chunk = handle.read()
                if chunk:
                    count += chunk.count(b"\n")
                    last_progress = time.perf_counter()
                    if count >= target:
                        return count, last_progress
            if not launched.running() or time.perf_counter() - last_progress > stall:
                return count, time.perf_counter()
            time.sleep(0.01)
    finally:
        if handle is not None:
            handle.close()


def run_rsyslog(
    rsyslogd: str, style: str, src: Path, dst: Path, workdir: Path, events: int, log: Path
) -> tuple[float, float, float, int, str]:
    """Run rsyslogd until ``dst`` holds ``events`` lines; then SIGTERM.

    Returns wall seconds (from its start to the last line), CPU seconds and
    peak RSS MB of the whole run (shutdown included), the exit status and a note.
    """
    config = workdir / f"rsyslog-{style}.conf"
    config.write_text(rsyslog_config(style, src, dst, workdir))
    pidfile = workdir / "rsyslog.pid"
    pidfile.unlink(missing_ok=True)
    launched = Launched([rsyslogd, "-n", "-f", str(config), "-i", str(pidfile)], log, log.with_suffix(".result"))
    lines, reached = count_lines_growing(dst, events, launched, stall=30.0)
    child = launched.child()
    if child is None:
        raise RuntimeError("the launcher did not start rsyslogd")
    pid, start = child
    if launched.running():
        stop = time.perf_counter()
        os.kill(pid, signal.SIGTERM)
        wall_cpu_rss_code = launched.wait()
        note = f"SIGTERM: exited {time.perf_counter() - stop:.2f}s later"
    else:
        wall_cpu_rss_code = launched.wait()
        note = "rsyslogd exited early"
    if lines < events:
        note += f"; only {lines:,} of {events:,} lines arrived"
    _, cpu, rss, code = wall_cpu_rss_code
    return reached - start, cpu, rss, code, note


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------


def run_one(
    contender: Contender, src: Path, expected: Path, workdir: Path, events: int, rsyslogd: str | None
) -> Result:
    dst = workdir / f"out-{contender.name.replace(' ', '_')}.jsonl"
    dst.unlink(missing_ok=True)
    log = workdir / f"log-{contender.name.replace(' ', '_')}.txt"
    os.sync()  # the previous contender's dirty pages are not this one's to write
    errors_log = workdir / "rsyslog-errors.log"
    errors_log.unlink(missing_ok=True)
    note = ""
    if contender.name.startswith("rsyslog"):
        assert rsyslogd is not None
        style = "mmanon" if "mmanon" in contender.name else "rainerscript"
        wall, cpu, rss, code, note = run_rsyslog(rsyslogd, style, src, dst, workdir, events, log)
        failed = code not in (0, -signal.SIGTERM) or "exited early" in note or "lines arrived" in note
    else:
        wall, cpu, rss, code = run_process(contender.command(src, dst, workdir), log)
        failed = code != 0
    check = check_output(dst, expected, events)
    if contender.name.startswith("rsyslog") and errors_log.exists() and errors_log.stat().st_size:
        check.ok = False
        check.detail += f"; {errors_log} is not empty"
    if failed:
        check.ok = False
        text = log.read_text(errors="replace")[-3000:]
        check.detail = f"exit status {code}; {note}; output of the process:\n{text}\n" + check.detail
    elif contender.keeps_order and check.ok and not check.ordered:
        check.ok = False
        check.detail = "order not kept: " + check.detail
    # Anything the process said beyond its INFO summary and our own count.
    said = [
        line
        for line in log.read_text(errors="replace").splitlines()
        if line.strip()
        and " INFO " not in line
        and not line.startswith("events_in=")
        and "internal message (6," not in line  # rsyslog's informational ones (idle workers ending)
    ]
    if said:
        note = (note + "; " if note else "") + f"said: {' | '.join(said)[:300]}"
    dst.unlink(missing_ok=True)
    return Result(wall, cpu, rss, check, note)


def warm_up(contenders: list[Contender], workdir: Path, rsyslogd: str | None) -> dict[str, float]:
    """Run every contender twice on 100 events, untimed for the rounds.

    The first run fills the bytecode cache (and the page cache with the
    programs); the second one's wall time is the start-up cost, printed in the
    table. Returns it by contender; a failure here stops the benchmark.
    """
    src, expected = workdir / "warm.jsonl", workdir / "warm-expected.jsonl"
    make_input(src, expected, 100)
    startup = {}
    for contender in contenders:
        for _ in range(2):
            result = run_one(contender, src, expected, workdir, 100, rsyslogd)
            if not result.check.ok:
                raise SystemExit(f"!!! warm-up of {contender.name} FAILED: {result.check.detail} {result.note}")
        startup[contender.name] = result.wall
    return startup


def profile_deadbeat_run(src: Path, workdir: Path, top: int = 25) -> None:
    """Profile ``deadbeat run`` on the pipeline with every default; print the top functions by own time."""
    import pstats

    dst = workdir / "out-profile.jsonl"
    dst.unlink(missing_ok=True)
    pipeline = workdir / "t1-profile.toml"
    write_pipeline(pipeline, src, dst)
    stats = workdir / "deadbeat-run.prof"
    argv = [sys.executable, "-m", "cProfile", "-o", str(stats), "-m", "deadbeat.command"]
    argv += ["run", str(pipeline), "--once", "--quiet"]
    # Once on a few events first, for the bytecode cache (when no rounds ran).
    warm_src, warm_dst = workdir / "warm-profile.jsonl", workdir / "out-warm-profile.jsonl"
    make_input(warm_src, workdir / "warm-profile-expected.jsonl", 100)
    write_pipeline(workdir / "t1-warm-profile.toml", warm_src, warm_dst)
    warm_argv = [*argv[:-4], "run", str(workdir / "t1-warm-profile.toml"), "--once", "--quiet"]
    run_process(warm_argv, workdir / "log-profile.txt")
    print()
    print("profile: " + " ".join(argv), flush=True)
    wall, cpu, rss, code = run_process(argv, workdir / "log-profile.txt")
    print(f"profiled run: {wall:.2f}s wall, {cpu:.2f}s CPU, exit status {code}")
    pstats.Stats(str(stats)).sort_stats("tottime").print_stats(top)
    dst.unlink(missing_ok=True)


def main() -> int:
    global CHILD_ENV
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-rsyslog", action="store_true", help="run without rsyslog (machines without it)")
    parser.add_argument("--profile", action="store_true", help="then profile `deadbeat run` once (top 25 by tottime)")
    parser.add_argument("--dir", default=None, help="where the files go (default: a temporary directory)")
    parser.add_argument("--only", nargs="*", default=None, help="run only contenders whose name contains one of these")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "SRC", "DST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, src, dst = args.worker
        WORKERS[kind](src, dst)
        return 0

    contenders = [
        Contender("loop orjson", True, python_worker("loop-orjson")),
        Contender("loop stdlib json", True, python_worker("loop-json")),
        Contender("deadbeat run", True, deadbeat_run),
        Contender("deadbeat run tuned", True, deadbeat_run_tuned),
        Contender("API defaults", True, python_worker("api-defaults")),
        Contender("API fastest", True, python_worker("api-fastest")),
    ]
    rsyslogd = None
    if not args.skip_rsyslog:
        rsyslogd = ensure_rsyslogd()
        version = subprocess.run([rsyslogd, "-v"], capture_output=True, text=True).stdout.splitlines()[0]
        version = version.replace("compiled with:", "")
        print(f"rsyslog: {rsyslogd} ({version.strip()})")
        contenders += [Contender("rsyslog", False, None), Contender("rsyslog mmanon", False, None)]
    if args.only:
        contenders = [c for c in contenders if any(part in c.name for part in args.only) or c.name == "loop orjson"]

    if args.dir is not None:
        os.makedirs(args.dir, exist_ok=True)
    tmp = tempfile.TemporaryDirectory(dir=args.dir) if not args.keep else None
    workdir = Path(tmp.name) if tmp else Path(tempfile.mkdtemp(dir=args.dir))
    CHILD_ENV = child_environment(workdir / "pycache")
    try:
        src, expected = workdir / "in.jsonl", workdir / "expected.jsonl"
        start = time.perf_counter()
        mean = make_input(src, expected, args.events)
        print(
            f"input: {args.events:,} JSON lines, {mean:.0f} bytes each on average, "
            f"{src.stat().st_size / 1e6:.0f} MB, made in {time.perf_counter() - start:.1f}s ({src})"
        )
        print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]} ({sys.executable})")
        print(f"python contenders: bytecode cached under {workdir / 'pycache'} (PYTHONPYCACHEPREFIX), warmed first")
        with open(src, "rb") as handle:
            print(f"a line: {handle.readline().decode().strip()}")
        startup = warm_up(contenders, workdir, rsyslogd) if args.rounds else {}
        failures = []
        for round_no in range(args.rounds):
            shift = round_no % len(contenders)
            order = contenders[shift:] + contenders[:shift]
            for contender in order:
                result = run_one(contender, src, expected, workdir, args.events, rsyslogd)
                contender.results.append(result)
                rate = args.events / result.wall
                status = "ok" if result.check.ok else "FAILED"
                extra = f" [{result.note}]" if result.note else ""
                print(
                    f"round {round_no + 1}: {contender.name:<18} {rate:>11,.0f} ev/s  "
                    f"cpu {result.cpu:6.2f}s  rss {result.rss_mb:6.1f} MB  {status}: {result.check.detail}{extra}",
                    flush=True,
                )
                if not result.check.ok:
                    failures.append((round_no + 1, contender.name, result.check.detail))

        if args.rounds:
            print_table(contenders, args.events, args.rounds, startup)
        if args.profile:
            profile_deadbeat_run(src, workdir)
        if failures:
            print()
            print("!" * 72)
            print(f"!!! {len(failures)} FAILED RUN(S): output missing, wrong or out of order")
            for round_no, name, detail in failures:
                print(f"!!! round {round_no}, {name}: {detail}")
            print("!" * 72)
            return 1
        return 0
    finally:
        if tmp is not None:
            tmp.cleanup()
        else:
            print(f"work directory kept: {workdir}")


def print_table(contenders: list[Contender], events: int, rounds: int, startup: dict[str, float]) -> None:
    print()
    print(f"T1: {events:,} events, {rounds} round(s), medians; wall time of the whole process, start-up included")
    header = (
        f"{'contender':<19} {'events/s':>11} {'vs orjson loop':>15} {'CPU s':>7} "
        f"{'events/CPU-s':>13} {'peak RSS MB':>12} {'start-up s':>11}"
    )
    print(header)
    print("-" * len(header))
    medians: dict[str, tuple[float, float, float]] = {}
    for contender in contenders:
        rate = statistics.median(events / r.wall for r in contender.results)
        cpu = statistics.median(r.cpu for r in contender.results)
        rss = statistics.median(r.rss_mb for r in contender.results)
        medians[contender.name] = (rate, cpu, rss)
    base = medians["loop orjson"][0]
    for contender in contenders:
        rate, cpu, rss = medians[contender.name]
        print(
            f"{contender.name:<19} {rate:>11,.0f} {rate / base:>14.1%} {cpu:>7.2f} "
            f"{events / cpu:>13,.0f} {rss:>12.1f} {startup.get(contender.name, float('nan')):>11.2f}"
        )
    print("(start-up: wall time of a run on 100 events)")
    for name in ("rsyslog", "rsyslog mmanon"):
        for ours_name in ("deadbeat run", "deadbeat run tuned"):
            if name in medians and ours_name in medians:
                ours, theirs = medians[ours_name], medians[name]
                print(
                    f"{ours_name} / {name}: {ours[0] / theirs[0]:.2f}x the events/s, "
                    f"{theirs[1] / ours[1]:.2f}x the events per CPU-second, "
                    f"{ours[2] / theirs[2]:.2f}x the peak RSS"
                )
    for contender in contenders:
        if contender.name.startswith("rsyslog"):
            kept = [r.check.ordered for r in contender.results]
            print(f"{contender.name}: order of the input kept in {sum(bool(k) for k in kept)} of {len(kept)} run(s)")


if __name__ == "__main__":
    sys.exit(main())
