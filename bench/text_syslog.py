"""Syslog parsing: ``text.syslog_parse`` in a Train against the hand-written ``re`` loop a user would write.

For each format (RFC 5424, then RFC 3164) one invocation makes N lines (one
million by default) in memory, and parses them, alternately, round after round:

* ``train``: a real Train on a real Escapement, ``text.syslog_parse`` (every
  default: ``format = "auto"``, UTC) and a last cog that counts; the lines are
  sent in lists of what one 64 KiB read of ``fs.read`` holds, so the parser
  gets them whole (``call_batch``);
* ``hand``: the loop a user writes with :mod:`re` and :mod:`datetime`, giving
  the same fields: one pattern for the line (``\\S+`` fields, a lazy ``.*?``
  for the structured data), ``findall`` for the structured data,
  ``datetime.fromisoformat(...).astimezone(utc).isoformat()`` for an RFC 5424
  timestamp, ``datetime.strptime`` for an RFC 3164 one;
* ``hand, cached``: the same loop with the obvious improvement, the converted
  timestamps remembered by their text (``functools.lru_cache``).

Before timing, the first 20,000 lines are parsed by all three and the fields
compared: they must be equal (the hand loops are written for these lines; the
Train's parser takes any line). Each round runs every contender once, in an
order rotated from round to round; the figures are medians over the rounds,
events/s and the ratio to ``hand``.

The lines: RFC 5424 with a fraction of a second, offsets ``Z`` and ``+01:00``,
three in five with one or two structured-data elements (an escaped quote now
and then); RFC 3164 ``<PRI>Mmm dd hh:mm:ss host tag[pid]: message``, a tenth
without ``[pid]``. Timestamps advance by one second every
``--lines-per-second`` lines (20 by default; 1 makes every second different,
the worst case for the memories of converted times on both sides).

Run: ``.venv/bin/python bench/text_syslog.py [--lines N] [--rounds R] [--lines-per-second K]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import itertools
import os
import random
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

from deadbeat import movement, text

FACILITIES = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "audit",
    "alert",
    "clock",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
]
SEVERITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
WORDS = [
    "connection",
    "accepted",
    "refused",
    "from",
    "user",
    "session",
    "opened",
    "closed",
    "for",
    "port",
    "disk",
    "error",
    "timeout",
    "retry",
]
UTC = dt.timezone.utc
#: The clock the Train's parser reads RFC 3164 years from, and the year the hand loop uses.
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp()
YEAR = 2026
#: Bytes fs.read and fs.tail read at a time (their read_size), each read one list.
READ_SIZE = 1 << 16


# -- input -------------------------------------------------------------------


def message(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))


def lines_5424(count: int, per_second: int) -> list[str]:
    rng = random.Random(5424)
    start = dt.datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    out = []
    for i in range(count):
        moment = start + dt.timedelta(seconds=i // per_second, microseconds=rng.randrange(1_000_000))
        if i % 3:
            stamp = moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
        else:
            stamp = moment.astimezone(dt.timezone(dt.timedelta(hours=1))).isoformat(timespec="microseconds")
        if rng.random() < 0.6:
            sd = f'[origin@32473 ip="192.0.2.{rng.randint(1, 254)}" software="app"]'
            if rng.random() < 0.5:
                sd += f'[meta sequenceId="{i}" note="say \\"hi\\""]'
        else:
            sd = "-"
        pri = rng.choice((13, 14, 30, 34, 38, 86, 134, 165))
        host = f"host{rng.randint(1, 50)}.example.net"
        app = rng.choice(("sshd", "nginx", "postfix", "cron"))
        msgid = rng.choice(("-", "ID47", "LOGIN"))
        out.append(f"<{pri}>1 {stamp} {host} {app} {rng.randint(100, 99999)} {msgid} {sd} {message(rng)}")
    return out


def lines_3164(count: int, per_second: int) -> list[str]:
    rng = random.Random(3164)
    start = dt.datetime(2026, 11, 27, 8, 0)
    out = []
    for i in range(count):
        moment = start + dt.timedelta(seconds=i // per_second)
        stamp = f"{MONTHS[moment.month - 1]} {moment.day:2d} {moment:%H:%M:%S}"
        app = rng.choice(("sshd", "kernel", "postfix/smtpd", "CRON", "systemd-logind"))
        tag = f"{app}:" if rng.random() < 0.1 else f"{app}[{rng.randint(100, 99999)}]:"
        pri = rng.choice((13, 14, 30, 34, 38, 86))
        out.append(f"<{pri}>{stamp} host{rng.randint(1, 50)} {tag} {message(rng)}")
    return out


# -- the hand-written loops --------------------------------------------------

RFC5424 = re.compile(r"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[.*?\])+) ?(.*)", re.S)
SD_ELEMENT = re.compile(r'\[([^\s\]=]+)((?:\s+[^\s=]+="(?:[^"\\]|\\.)*")*)\]')
SD_PARAM = re.compile(r'([^\s=]+)="((?:[^"\\]|\\.)*)"')
SD_ESCAPE = re.compile(r'\\([\\"\]])')
RFC3164 = re.compile(r"<(\d{1,3})>(\w{3} [ \d]\d \d\d:\d\d:\d\d) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: (.*)", re.S)


def iso_utc(value: str) -> str:
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds").replace("+00:00", "Z")


def bsd_utc(value: str) -> str:
    return dt.datetime.strptime(f"{YEAR} {value}", "%Y %b %d %H:%M:%S").isoformat() + "Z"


def nil(value: str) -> str | None:
    return None if value == "-" else value


def hand_5424(convert: Callable[[str], str]) -> Callable[[str], dict[str, Any]]:
    def parse(line: str) -> dict[str, Any]:
        found = RFC5424.match(line)
        if found is None:
            raise ValueError(f"not RFC 5424: {line!r}")
        pri, stamp, host, app, procid, msgid, sd_text, msg = found.groups()
        priority = int(pri)
        sd = None
        if sd_text != "-":
            sd = {
                sd_id: {name: SD_ESCAPE.sub(r"\1", value) for name, value in SD_PARAM.findall(params)}
                for sd_id, params in SD_ELEMENT.findall(sd_text)
            }
        return {
            "priority": priority,
            "facility": priority >> 3,
            "severity": priority & 7,
            "facility_name": FACILITIES[priority >> 3],
            "severity_name": SEVERITIES[priority & 7],
            "version": 1,
            "timestamp": None if stamp == "-" else convert(stamp),
            "host": nil(host),
            "app": nil(app),
            "procid": nil(procid),
            "msgid": nil(msgid),
            "structured_data": sd,
            "message": msg,
        }

    return parse


def hand_3164(convert: Callable[[str], str]) -> Callable[[str], dict[str, Any]]:
    def parse(line: str) -> dict[str, Any]:
        found = RFC3164.match(line)
        if found is None:
            raise ValueError(f"not RFC 3164: {line!r}")
        pri, stamp, host, app, pid, msg = found.groups()
        priority = int(pri)
        return {
            "priority": priority,
            "facility": priority >> 3,
            "severity": priority & 7,
            "facility_name": FACILITIES[priority >> 3],
            "severity_name": SEVERITIES[priority & 7],
            "version": None,
            "timestamp": convert(stamp),
            "host": host,
            "app": app,
            "procid": pid,
            "msgid": None,
            "structured_data": None,
            "message": msg,
        }

    return parse


# -- contenders --------------------------------------------------------------


class Count(movement.Cog):
    """The last cog: counts what arrives, keeps the last datum (to check it)."""

    one_to_one = True

    def __init__(self) -> None:
        self.count = 0
        self.last: Any = None

    def __call__(self, data: Any) -> tuple[Any, ...]:
        self.count += 1
        self.last = data
        return ()

    def call_batch(self, data: list[Any]) -> list[Any]:
        self.count += len(data)
        if data:
            self.last = data[-1]
        return []


def through_train(lines: list[str]) -> int:
    esc = movement.Escapement()
    try:
        count = Count()
        train = movement.Train(esc, [text.SyslogParse(clock=itertools.repeat(NOW).__next__), count])
        size = max(1, READ_SIZE * len(lines) // sum(len(line) + 1 for line in lines))
        for start in range(0, len(lines), size):
            train.send(None, lines[start : start + size])
        return count.count
    finally:
        esc.close()


def through_hand(lines: list[str], parse: Callable[[str], dict[str, Any]]) -> int:
    count = 0
    for line in lines:
        parse(line)
        count += 1
    return count


def check_same(lines: list[str], hands: dict[str, Callable[[str], dict[str, Any]]]) -> None:
    ours = text.SyslogParse(clock=itertools.repeat(NOW).__next__).call_batch(list(lines))
    for name, parse in hands.items():
        theirs = [parse(line) for line in lines]
        if theirs != ours:
            wrong = next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b)
            raise SystemExit(
                f"{name} differs at line {wrong}: {lines[wrong]!r}\n ours:   {ours[wrong]}\n theirs: {theirs[wrong]}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lines-per-second", type=int, default=20)
    args = parser.parse_args()
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    for label, make, hand in (("RFC 5424", lines_5424, hand_5424), ("RFC 3164", lines_3164, hand_3164)):
        lines = make(args.lines, args.lines_per_second)
        convert = iso_utc if hand is hand_5424 else bsd_utc
        hands = {"hand": hand(convert), "hand, cached": hand(functools.lru_cache(maxsize=4096)(convert))}
        check_same(lines[:20_000], hands)
        contenders: dict[str, Callable[[], int]] = {
            "train": functools.partial(through_train, lines),
            **{name: functools.partial(through_hand, lines, parse) for name, parse in hands.items()},
        }
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        names = list(contenders)
        for round_number in range(args.rounds):
            order = names[round_number % len(names) :] + names[: round_number % len(names)]
            for name in order:
                start = time.perf_counter()
                assert contenders[name]() == len(lines)
                rates[name].append(len(lines) / (time.perf_counter() - start))
        hand_median = statistics.median(rates["hand"])
        print(f"{label}: {len(lines):,} lines, {args.lines_per_second} per second of timestamps, {args.rounds} rounds")
        for name in names:
            median = statistics.median(rates[name])
            per_round = statistics.median(r / h for r, h in zip(rates[name], rates["hand"], strict=True))
            print(
                f"  {name:14s} {median:>10,.0f} events/s   ratio to hand {median / hand_median:6.2f}"
                f"   (median of per-round ratios {per_round:.2f})"
            )
    print("target: train >= 0.7 of the hand-written loop")


if __name__ == "__main__":
    main()
