"""Grok on the combined access log: ``text.grok`` in a Train against hand-written ``re`` loops.

One invocation makes N Apache/nginx combined-log lines (500,000 by default) in
memory and parses them, alternately, round after round:

* ``train``: a real Train on a real Escapement, ``text.grok`` with
  ``pattern = "%{COMBINEDAPACHELOG}"`` (the default engine, ``"guarded"``:
  Python's re under a CPU bound, RE2 beyond it) and a last cog that counts;
  the lines are sent in lists of what one 64 KiB read of ``fs.read`` holds
  (about 375 of these lines), so the parser gets them whole (``call_batch``);
* ``equivalent``: the loop a user writes with :mod:`re` to get what grok gives:
  one pattern checking addresses, dates, numbers and quoted strings (escapes
  included, written "unrolled" as a careful user writes them) as grok's
  library does, ``groupdict()`` without the groups that took no part (a
  request that is not ``VERB PATH HTTP/x``, ``-`` for the size). The target
  is measured against this one;
* ``hand``: a lax loop (``\\S+`` fields, ``[^"]*`` quoted ones): faster, but it
  takes lines grok refuses and splits quoted strings with escaped quotes
  wrongly; for information;
* ``hand, re2``: the lax pattern and loop compiled by RE2 (as ``engine =
  "re2"`` would): what the linear-time engine itself costs.

Before timing, the first 20,000 lines are parsed by grok, the lax loop and
RE2 and the fields compared (they must be equal), and 5,000 spoiled lines
(addresses and hours out of range, unknown months, escaped quotes, garbage
after the agent...) by grok and the equivalent loop, which must agree on
every one; how often the lax loop does not is printed. The lines are frozen out
of the collector's view. Each round runs every contender once, in an order
rotated from round to round; the figures are medians over the rounds,
events/s and the ratios to ``equivalent`` and to ``hand``.

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
import gc
import os
import random
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

from deadbeat import movement, text
from deadbeat.text import _regex

#: Bytes fs.read and fs.tail read at a time (their read_size), each read one list.
READ_SIZE = 1 << 16
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "curl/8.5.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
]
PATHS = ["/", "/index.html", "/api/v1/items", "/static/app.js", "/login", "/search", "/img/logo.png"]
REFERRERS = ['"-"', '"https://www.example.com/"', '"https://search.example.org/?q=deadbeat"']

# What a user writes to accept the same lines as %{COMBINEDAPACHELOG} and give
# the same fields: addresses, dates, numbers and quoted strings (with escapes)
# checked as grok checks them. The bench verifies that it agrees with grok on
# well-formed and malformed lines before timing.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_LABEL = r"[0-9A-Za-z](?:[0-9A-Za-z_-]*[0-9A-Za-z])?"
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_MONTH = (
    r"Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?"
    r"|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?"
)
# Quoted strings "unrolled" (runs of plain characters between escapes), as a
# careful user writes them: a group per character is three times slower on re.
_QUOTED = r'"[^"\\]*(?:\\.[^"\\]*)*"|\'[^\'\\]*(?:\\.[^\'\\]*)*\'|`[^`\\]*(?:\\.[^`\\]*)*`'
EQUIVALENT = re.compile(
    rf"(?P<clientip>{_OCTET}(?:\.{_OCTET}){{3}}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*(?:%[0-9A-Za-z._~-]+)?|{_LABEL}(?:\.{_LABEL})*\.?)"
    r' (?P<ident>[^\s\[\]"]+) (?P<auth>[^\s\[\]"]+) '
    rf"\[(?P<timestamp>(?:0[1-9]|[12][0-9]|3[01]|[1-9])/\b(?:{_MONTH})\b/[0-9]{{2}}(?:[0-9]{{2}})?"
    r":(?:2[0-3]|[01]?[0-9]):[0-5][0-9](?::(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)? [+-]?[0-9]+)\] "
    rf'"(?:(?P<verb>\b\w+\b) (?P<request>\S+)(?: HTTP/(?P<httpversion>{_NUMBER}))?|(?P<rawrequest>.*?))" '
    rf"(?P<response>{_NUMBER}) (?:(?P<bytes>{_NUMBER})|-) (?P<referrer>{_QUOTED}) (?P<agent>{_QUOTED})",
    re.ASCII,
)

# The loop a user writes who trusts the log: any run without spaces for the
# client, anything up to the bracket for the date, quotes without escapes.
# Faster, and not equivalent: it takes lines grok refuses (information only).
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


def equivalent_parse(line: str) -> dict[str, Any]:
    found = EQUIVALENT.fullmatch(line)
    if found is None:
        raise ValueError(f"not a combined log line: {line!r}")
    return {k: v for k, v in found.groupdict().items() if v is not None}


def malformed(lines: list[str], count: int) -> list[str]:
    """Lines spoiled the ways logs get spoiled (and escapes in quotes), to check that the loops agree with grok."""
    rng = random.Random(7)
    spoilers = [
        lambda line: line.replace(".", ".9", 1),  # an octet out of range, or a longer host label
        lambda line: line.replace("/Nov/", "/Foo/"),
        lambda line: line.replace(":", ":7", 1),  # an hour out of range
        lambda line: line.replace(' "', ' "a\\"b ', 1),  # an escaped quote in the request
        lambda line: line[:-1] + '\\""',  # an escaped quote at the end of the agent
        lambda line: line.replace(" 200 ", " 2x0 "),
        lambda line: line.replace(" - ", " [x] ", 1),
        lambda line: line + " trailing",
        lambda line: line.replace('"', "'", 2),  # single-quoted request: not grok's
    ]
    return [rng.choice(spoilers)(rng.choice(lines)) for _ in range(count)]


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
        # As many lines a list as one read of fs.read holds.
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
    # Out of the collector's view: a daemon does not hold half a million lines,
    # and every collection would walk them (the train keeps a list's results
    # alive until the next cog takes them, so its dicts live through collections
    # that the loops' dicts, dropped at once, never see).
    gc.collect()
    gc.freeze()
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
    # The equivalent loop agrees with grok everywhere, malformed lines included; the lax one does not.
    grok = text.GrokParse("%{COMBINEDAPACHELOG}")
    spoiled = malformed(sample, 5_000)

    def outcome(parse: Callable[[str], Any], line: str) -> Any:
        try:
            return parse(line)
        except ValueError:
            return None

    refused = sum(outcome(grok, line) is None for line in spoiled)
    for line in sample[:5_000] + spoiled:
        expected = outcome(lambda text_: grok(text_)[0], line)
        if outcome(equivalent_parse, line) != expected:
            raise SystemExit(f"the equivalent loop differs from grok on {line!r}")
    lax = sum(outcome(hand_parse, line) != outcome(lambda text_: grok(text_)[0], line) for line in spoiled)
    print(
        f"checked: grok, the equivalent loop and RE2 agree on {len(sample):,} lines and {len(spoiled):,} spoiled"
        f" ones ({refused:,} refused); the lax loop differs from grok on {lax:,} of the spoiled ones"
    )
    contenders: dict[str, Callable[[], int]] = {
        "train": functools.partial(through_train, lines),
        "equivalent": functools.partial(through_hand, lines, equivalent_parse),
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
    print(f"combined access log, %{{COMBINEDAPACHELOG}}: {len(lines):,} lines, {args.rounds} rounds")
    for baseline in ("equivalent", "hand"):
        base_median = statistics.median(rates[baseline])
        print(f"ratios to {baseline!r}:")
        for name in names:
            median = statistics.median(rates[name])
            per_round = statistics.median(r / h for r, h in zip(rates[name], rates[baseline], strict=True))
            print(
                f"  {name:12s} {median:>10,.0f} events/s   ratio {median / base_median:6.2f}"
                f"   (median of per-round ratios {per_round:.2f})"
            )
    print("target: train >= 0.7 of the equivalent hand-written loop (the lax one: information)")


if __name__ == "__main__":
    main()
