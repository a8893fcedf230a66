"""deadbeat.dns against a server that misbehaves for some names while it answers the rest at once.

c-ares shares one socket per server among the questions in flight, closes it on
a reply it cannot parse (each question waiting on it uses up a try), and sends
each new try on another socket, dropping the replies to earlier tries. These
tests hold the cog to what its page promises despite that: a fault for one name
fails that name only, and an answer coming within ``timeout`` is taken.
"""

from __future__ import annotations

import random
from typing import Any

from deadbeat import dns


def _rules(scripted_dns: Any, dns_kit: Any, kinds: dict[str, int], count: int, delay: float = 0.0) -> dict[str, str]:
    """Give ``count`` addresses of 10.0.0.0/8 a behaviour each, drawn by ``kinds`` weights. :returns: ip -> kind."""
    rng = random.Random(12)
    pool = [kind for kind, weight in kinds.items() for _ in range(weight)]
    behaviours: dict[str, str] = {}
    for i in range(count):
        ip = f"10.{i // 250}.{i % 250}.{rng.randint(1, 250)}"
        kind = rng.choice(pool)
        behaviours[ip] = kind
        name = ip.replace(".", "-") + ".example"
        rule = {
            "ok": dns_kit.Rule(records=[("PTR", "h-" + name)]),
            "slow": dns_kit.Rule(records=[("PTR", "slow-" + name)], delay=delay),
            "garbage": dns_kit.Rule(fault="garbage"),
            "drop": dns_kit.Rule(fault="drop"),
        }[kind]
        scripted_dns.set_rule(dns_kit.reverse_name(ip), rule)
    return behaviours


def _fed(data: list[dict[str, Any]], chunk: int) -> Any:
    """An ``until`` for run(): send ``data`` ``chunk`` at a time, one chunk per check (10 ms), as a supply would.

    c-ares thus learns that the server answers fast while most questions are
    still to come (all sent at once, they would all get ``timeout`` for a first try).
    """
    left = list(data)

    def until(run: Any) -> bool:
        if left:
            run.train.send(None, left[:chunk])
            del left[:chunk]
        return not left and len(run.out) == len(data)

    return until


def _healthy_failures(run: Any, behaviours: dict[str, str]) -> list[tuple[str, str]]:
    return [
        (d["ip"], behaviours[d["ip"]])
        for d in run.out
        if behaviours[d["ip"]] in ("ok", "slow") and d.get("hostname") == "FAILED"
    ]


class TestFaultsOfSomeNames:
    def test_garbage_and_silence_for_some_names_fail_no_healthy_lookup(self, scripted_dns: Any, dns_kit: Any) -> None:
        """Garbage for 2 % of the names and no reply for 5 %, 1,000 in flight: every name answered is resolved.

        Each garbage reply made c-ares close the shared socket and charge a try
        to every question on it; the unanswered names kept those questions
        company, so names answered at once ran out of tries and were reported
        as having no answer.
        """
        behaviours = _rules(scripted_dns, dns_kit, {"ok": 93, "garbage": 2, "drop": 5}, 2000)
        data = [{"ip": ip} for ip in behaviours] * 3
        random.Random(3).shuffle(data)
        run = dns_kit.run(
            lambda train: [
                dns.ReverseLookup(
                    train, servers=[scripted_dns.address], timeout=2.0, max_in_flight=1000, failed="FAILED"
                )
            ],
            until=_fed(data, 200),
            timeout=60,
        )
        assert len(run.out) == len(data)
        assert _healthy_failures(run, behaviours) == []
        faulty = [d for d in run.out if behaviours[d["ip"]] in ("garbage", "drop")]
        assert faulty and all(d["hostname"] == "FAILED" for d in faulty)

    def test_slow_answers_within_timeout_are_taken_beside_fast_ones(self, scripted_dns: Any, dns_kit: Any) -> None:
        """10 % of the names answered after 1.5 s, the rest at once, timeout 3 s: every answer is taken.

        Fast answers teach c-ares to try again after 0.25 s, on another socket,
        dropping the replies to earlier tries: a 1.5 s answer never caught up.
        """
        behaviours = _rules(scripted_dns, dns_kit, {"ok": 9, "slow": 1}, 600, delay=1.5)
        data = [{"ip": ip} for ip in behaviours]
        run = dns_kit.run(
            lambda train: [dns.ReverseLookup(train, servers=[scripted_dns.address], timeout=3.0, failed="FAILED")],
            until=_fed(data, 50),
            timeout=60,
        )
        assert len(run.out) == len(data)
        assert _healthy_failures(run, behaviours) == []
        slow = [d for d in run.out if behaviours[d["ip"]] == "slow"]
        assert slow and all(d["hostname"].startswith("slow-") for d in slow)


class TestSharedTries:
    def test_shared_tries_end_by_half_the_timeout(self) -> None:
        """On the shared channel c-ares's tries (0.25 s, doubling, at most) end by half the timeout; at least one."""
        for timeout, tries in [(0.1, 1), (0.5, 1), (1.5, 2), (2.0, 2), (3.0, 2), (3.5, 3), (5.0, 3), (10.0, 4)]:
            assert dns.shared_tries(timeout) == tries, timeout
            assert 0.25 * (2**tries - 1) <= timeout / 2 or tries == 1
