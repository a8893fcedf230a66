"""Grok on the combined access log: ``text.grok`` in a Train against the hand-written ``re`` loop.

One invocation makes N Apache/nginx combined-log lines (500,000 by default) in
memory and parses them, alternately, round after round:

* ``train``: a real Train on a real Escapement, ``text.grok`` with
  ``pattern = "%{COMBINEDAPACHELOG}"`` (RE2, the default engine) and a last cog
  that counts; the lines are sent in lists of 2,048, about what ``fs.read``
  hands on from one 256 KiB read, so the parser gets them whole (``call_batch``);
* ``hand``: the loop a user writes with :mod:`re`: one pattern with the same
  named groups (``\\S+`` fields, ``[^"]*`` quoted ones), ``groupdict()`` without
  the groups that took no part (a request that is not ``VERB PATH HTTP/x``,
  ``-`` for the size), the same fields grok gives;
* ``hand, re2``: the same hand-written pattern and loop, compiled by RE2 (as
  ``text.regex_parse`` would) instead of :mod:`re`: what the linear-time
  engine itself costs, whoever writes the pattern.

Before timing, the first 20,000 lines are parsed both ways and the fields
compared: they must be equal. Each round runs every contender once, in an
order rotated from round to round; the figures are medians over the rounds,
events/s and the ratio to ``hand``.

The lines: IPv4 clients (one in ten IPv6), ``-`` or a user, GET/POST/HEAD with
paths and query strings, HTTP/1.0, 1.1 and 2.0, one in fifty a garbled
request (TLS bytes sent to the HTTP port), sizes or ``-``, referrers and
browser user agents.

Run: ``.venv/bin/python bench/text_grok.py [--lines N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import random
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

from deadbeat import movement, text
from deadbeat.text import _regex

LIST_SIZE = 2048
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "curl/8.5.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
]
PATHS = ["/", "/index.html", "/api/v1/items", "/static/app.js", "/login", "/search", "/img/logo.png"]
REFERRERS = ['"-"', '"https://www.example.com/"', '"https://search.example.org/?q=deadbeat"']

HAND = re.compile(
    r"(?P<clientip>\S+) (?P<ident>\S+) (?P<auth>\S+) \[(?P<timestamp>[^\]]+)\] "
    r'"(?:(?P<verb>\w+) (?P<request>\S+)(?: HTTP/(?P<httpversion>[0-9.]+))?|(?P<rawrequest>[^"]*))" '
    r'(?P<response>\d+) (?:(?P<bytes>\d+)|-) (?P<referrer>"[^"]*") (?P<agent>"[^"]*")'
)


def make_lines(count: int) -> list[str]:
    rng = random.Random(2000)
    start = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    out = []
    for i in range(count):
        if rng.random() < 0.1:
            client = f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}"
        else:
            client = f"{rng.randint(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"
        user = "-" if rng.random() < 0.9 else rng.choice(("alice", "bob", "carol"))
        stamp = (start + dt.timedelta(seconds=i // 20)).strftime("%d/%b/%Y:%H:%M:%S %z")
        if rng.random() < 0.02:
            request, status = "\\x16\\x03\\x01\\x00\\xa5", 400
        else:
            path = rng.choice(PATHS)
            if rng.random() < 0.3:
                path += f"?page={rng.randint(1, 50)}&sort=asc"
            request = (
                f"{rng.choice(('GET', 'GET', 'GET', 'POST', 'HEAD'))} {path} HTTP/{rng.choice(('1.0', '1.1', '2.0'))}"
            )
            status = rng.choice((200, 200, 200, 304, 404, 500))
        size = "-" if status == 304 or rng.random() < 0.05 else str(rng.randint(0, 500_000))
        out.append(
            f'{client} - {user} [{stamp}] "{request}" {status} {size} {rng.choice(REFERRERS)} "{rng.choice(AGENTS)}"'
        )
    return out


def hand_parse(line: str) -> dict[str, Any]:
    found = HAND.fullmatch(line)
    if found is None:
        raise ValueError(f"not a combined log line: {line!r}")
    return {k: v for k, v in found.groupdict().items() if v is not None}


class Count(movement.Cog):
    """The last cog: counts what arrives."""

    one_to_one = True

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, data: Any) -> tuple[Any, ...]:
        self.count += 1
        return ()

    def call_batch(self, data: list[Any]) -> list[Any]:
        self.count += len(data)
        return []


def through_train(lines: list[str]) -> int:
    esc = movement.Escapement()
    try:
        count = Count()
        train = movement.Train(esc, [text.GrokParse("%{COMBINEDAPACHELOG}"), count])
        for start in range(0, len(lines), LIST_SIZE):
            train.send(None, lines[start : start + LIST_SIZE])
        return count.count
    finally:
        esc.close()


def through_hand(lines: list[str], parse: Callable[[str], dict[str, Any]]) -> int:
    count = 0
    for line in lines:
        parse(line)
        count += 1
    return count


HAND_RE2 = _regex.compile_pattern(HAND.pattern, "re2").fields


def hand_re2_parse(line: str) -> dict[str, Any]:
    found = HAND_RE2(line)
    if found is None:
        raise ValueError(f"not a combined log line: {line!r}")
    return {k: v for k, v in found.items() if v is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    lines = make_lines(args.lines)
    sample = lines[:20_000]
    ours = text.GrokParse("%{COMBINEDAPACHELOG}").call_batch(list(sample))
    theirs = [hand_parse(line) for line in sample]
    if [hand_re2_parse(line) for line in sample] != theirs:
        raise SystemExit("the hand-written pattern gives other fields on RE2 than on re")
    if ours != theirs:
        wrong = next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b)
        raise SystemExit(
            f"differs at line {wrong}: {sample[wrong]!r}\n ours:   {ours[wrong]}\n theirs: {theirs[wrong]}"
        )
    contenders: dict[str, Callable[[], int]] = {
        "train": functools.partial(through_train, lines),
        "hand": functools.partial(through_hand, lines, hand_parse),
        "hand, re2": functools.partial(through_hand, lines, hand_re2_parse),
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
    print(f"combined access log, %{{COMBINEDAPACHELOG}}: {len(lines):,} lines, {args.rounds} rounds")
    for name in names:
        median = statistics.median(rates[name])
        per_round = statistics.median(r / h for r, h in zip(rates[name], rates["hand"], strict=True))
        print(
            f"  {name:10s} {median:>10,.0f} events/s   ratio to hand {median / hand_median:6.2f}"
            f"   (median of per-round ratios {per_round:.2f})"
        )
    print("target: train >= 0.7 of the hand-written loop")


if __name__ == "__main__":
    main()
