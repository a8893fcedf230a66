"""deadbeat.dns against real DNS servers on loopback: unbound, and the scripted server for misbehaviour."""

from __future__ import annotations

import copy
import logging
import operator
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deadbeat import dns, movement
from deadbeat.testing import Collector


class OneAtATime(dns.ReverseLookup):
    """The same cog without ``call_batch``: the Train calls it datum by datum."""

    call_batch = None  # type: ignore[assignment]


def reverse(servers: list[str], **options: Any) -> Any:
    return lambda train: [dns.ReverseLookup(train, servers=servers, **options)]


def forward(servers: list[str], **options: Any) -> Any:
    return lambda train: [dns.ForwardLookup(train, servers=servers, **options)]


def by_id(data: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {d["id"]: d for d in data}


class TestReverseLookup:
    def test_addresses_get_their_names(self, unbound: Any, dns_kit: Any) -> None:
        """IPv4 and IPv6 addresses get the name of their PTR record; the rest of the datum is kept."""
        data = [
            {"id": 1, "ip": "192.0.2.1", "n": 1},
            {"id": 2, "ip": "192.0.2.2"},
            {"id": 3, "ip": "2001:db8::1"},
            {"id": 4, "ip": "2001:0db8:0000::0001"},
        ]
        run = dns_kit.run(reverse([unbound.address]), data)
        assert run.ended_by_itself and not run.errors
        out = by_id(run.out)
        assert [out[i].get("hostname") for i in (1, 2, 3, 4)] == [
            "one.example",
            "two.example",
            "six.example",
            "six.example",
        ]
        assert out[1] == {"id": 1, "ip": "192.0.2.1", "n": 1, "hostname": "one.example"}
        assert run.cogs[0].counts["resolved"] == 4

    def test_no_name_and_failure_get_their_markers(self, unbound: Any, dns_kit: Any) -> None:
        """NXDOMAIN gets ``not_found``; a refused question gets ``failed``; without markers both are unchanged."""
        data = [{"id": 1, "ip": "192.0.2.9"}, {"id": 2, "ip": "198.51.100.7"}, {"id": 3, "ip": "192.0.2.1"}]
        run = dns_kit.run(reverse([unbound.address], not_found="-", failed="?"), copy.deepcopy(data))
        out = by_id(run.out)
        assert (out[1]["hostname"], out[2]["hostname"], out[3]["hostname"]) == ("-", "?", "one.example")
        assert run.cogs[0].counts == {
            "resolved": 1,
            "from cache": 0,
            "not found": 1,
            "failed": 1,
            "no address": 0,
            "result not set": 0,
        }
        run = dns_kit.run(reverse([unbound.address]), copy.deepcopy(data))
        out = by_id(run.out)
        assert out[1] == data[0] and out[2] == data[1]

    def test_data_without_an_address_go_on_unchanged(self, unbound: Any, dns_kit: Any) -> None:
        """A missing, null or empty address field is passed on untouched and counted as "no address"."""
        data = [{"id": 1}, {"id": 2, "ip": None}, {"id": 3, "ip": ""}, {"id": 4, "ip": "192.0.2.1"}]
        run = dns_kit.run(reverse([unbound.address]), copy.deepcopy(data))
        assert not run.errors
        out = by_id(run.out)
        assert [out[i] for i in (1, 2, 3)] == data[:3]
        assert run.cogs[0].counts["no address"] == 3

    @pytest.mark.parametrize("cog_class", [dns.ReverseLookup, OneAtATime])
    def test_a_bad_address_goes_to_the_error_output_naming_the_event(
        self, unbound: Any, dns_kit: Any, cog_class: Any
    ) -> None:
        """A value that is no IP address: an error record with the event id and the value; the rest go on."""
        data = [{"id": "e1", "ip": "192.0.2.1"}, {"id": "e2", "ip": "not-an-ip"}, {"id": "e3", "ip": "192.0.2.2"}]
        run = dns_kit.run(lambda train: [cog_class(train, servers=[unbound.address])], data)
        assert sorted(d["id"] for d in run.out) == ["e1", "e3"]
        assert all("hostname" in d for d in run.out)
        [record] = run.errors
        assert record.event_id == "e2"
        assert "not an IP address: 'not-an-ip'" in str(record.error)

    def test_getters_and_setters_may_be_callables(self, unbound: Any, dns_kit: Any) -> None:
        """The manual's form: operator.itemgetter and movement.itemsetter, on list-shaped data too."""
        run = dns_kit.run(
            lambda train: [
                dns.ReverseLookup(
                    train,
                    ip_getter=operator.itemgetter(2),
                    name_setter=movement.itemsetter(0),
                    servers=[unbound.address],
                )
            ],
            [[None, "x", "192.0.2.3"]],
        )
        assert run.out == [["three.example", "x", "192.0.2.3"]]

    def test_one_question_for_many_data_with_one_address(self, scripted_dns: Any, dns_kit: Any) -> None:
        """Data with the same address asked about at once share one lookup: the server hears it once."""
        name = dns_kit.reverse_name("192.0.2.5")
        scripted_dns.set_rule(name, dns_kit.Rule(records=[("PTR", "five.example")], delay=0.2))
        data = [{"id": i, "ip": "192.0.2.5"} for i in range(50)]
        run = dns_kit.run(reverse([scripted_dns.address]), data)
        assert len(run.out) == 50 and all(d["hostname"] == "five.example" for d in run.out)
        assert scripted_dns.queries[name] == 1

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        st.lists(
            st.sampled_from(["192.0.2.1", "192.0.2.2", "192.0.2.9", "2001:db8::1", None, "", "bad", "missing"]),
            max_size=30,
        )
    )
    def test_whole_lists_and_one_by_one_agree(self, unbound: Any, dns_kit: Any, values: list[Any]) -> None:
        """call_batch and datum-by-datum calls give the same data and the same errors, cached or not."""
        data = [{"id": i} if v == "missing" else {"id": i, "ip": v} for i, v in enumerate(values)]
        results = []
        for cog_class in (dns.ReverseLookup, OneAtATime):

            def make(train: movement.Train, cog_class: Any = cog_class) -> list[Any]:
                cog = cog_class(train, servers=[unbound.address], not_found="-")
                # Half the answers cached already: both paths meet hits and misses.
                cog._cache.put("192.0.2.1", "one.example", 1e12)
                cog._cache.put("192.0.2.9", dns.NOT_FOUND, 1e12)
                return [cog]

            run = dns_kit.run(make, copy.deepcopy(data))
            results.append((sorted(map(repr, run.out)), sorted(r.event_id for r in run.errors)))
        assert results[0] == results[1]


class TestForwardLookup:
    def test_addresses_of_a_name(self, unbound: Any, dns_kit: Any) -> None:
        """A and AAAA answers together, IPv4 first; a name without records gets ``not_found``."""
        data = [
            {"id": 1, "hostname": "two.example"},
            {"id": 2, "hostname": "six.example."},
            {"id": 3, "hostname": "no.example"},
        ]
        run = dns_kit.run(forward([unbound.address], not_found="none"), data)
        out = by_id(run.out)
        assert sorted(out[1]["addresses"][:2]) == ["192.0.2.2", "192.0.2.22"]
        assert out[1]["addresses"][2:] == ["2001:db8::2"]
        assert out[2]["addresses"] == ["2001:db8::1"]
        assert out[3]["addresses"] == "none"

    def test_mail_exchangers_most_preferred_first_and_texts(self, unbound: Any, dns_kit: Any) -> None:
        """MX answers give the exchangers by preference; TXT answers their text."""
        run = dns_kit.run(
            lambda train: [
                dns.ForwardLookup(train, servers=[unbound.address], record_types=["MX"], result_setter="mx"),
                dns.ForwardLookup(train, servers=[unbound.address], record_types=["TXT"], result_setter="txt"),
            ],
            [{"hostname": "mail.example"}],
        )
        assert run.out == [{"hostname": "mail.example", "mx": ["mx1.example", "mx2.example"], "txt": ["v=spf1 -all"]}]

    def test_each_datum_gets_a_list_of_its_own(self, unbound: Any, dns_kit: Any) -> None:
        """Two data with one name (one answer, then the cache): changing one list leaves the other alone."""
        run = dns_kit.run(forward([unbound.address], record_types=["A"]), [{"id": 1, "hostname": "one.example"}])
        cog = run.cogs[0]
        first = run.out[0]["addresses"]
        second = cog({"id": 2, "hostname": "one.example"})[0]["addresses"]
        first.append("changed")
        assert second == ["192.0.2.1"]
        assert cog.call_batch([{"hostname": "one.example"}])[0]["addresses"] == ["192.0.2.1"]

    def test_names_in_other_scripts_are_asked_in_ascii(self, scripted_dns: Any, dns_kit: Any) -> None:
        """bücher.example is asked as xn--bcher-kva.example."""
        scripted_dns.set_rule("xn--bcher-kva.example", dns_kit.Rule(records=[("A", "192.0.2.77")]))
        run = dns_kit.run(forward([scripted_dns.address], record_types=["A"]), [{"hostname": "bücher.example"}])
        assert run.out == [{"hostname": "bücher.example", "addresses": ["192.0.2.77"]}]

    def test_a_bad_name_goes_to_the_error_output(self, unbound: Any, dns_kit: Any) -> None:
        """A value that is no host name: an error record naming the event and the value."""
        data = [{"id": "e1", "hostname": "a b.example"}, {"id": "e2", "hostname": "one.example"}]
        run = dns_kit.run(forward([unbound.address]), data)
        assert [d["id"] for d in run.out] == ["e2"]
        [record] = run.errors
        assert record.event_id == "e1" and "a b.example" in str(record.error)


class TestCache:
    def test_cached_answers_are_not_asked_again(self, scripted_dns: Any, dns_kit: Any) -> None:
        """A second datum with a known address is answered from the cache: the server hears one question."""
        name = dns_kit.reverse_name("192.0.2.5")
        scripted_dns.set_rule(name, dns_kit.Rule(records=[("PTR", "five.example")]))
        cogs: list[Any] = []

        def make(train: movement.Train) -> list[Any]:
            cogs.append(dns.ReverseLookup(train, servers=[scripted_dns.address]))
            return cogs

        run = dns_kit.run(make, [{"ip": "192.0.2.5"}])
        assert run.out[0]["hostname"] == "five.example"
        again = cogs[0].call_batch([{"ip": "192.0.2.5"}, {"ip": "192.0.2.5"}])
        assert [d["hostname"] for d in again] == ["five.example", "five.example"]
        assert scripted_dns.queries[name] == 1
        assert cogs[0].counts["from cache"] == 2

    def test_an_answer_is_kept_for_its_ttl(self, scripted_dns: Any, dns_kit: Any) -> None:
        """Within its TTL (1 s) the name comes from the cache; once the TTL has passed, the server is asked again."""
        name = dns_kit.reverse_name("192.0.2.6")
        scripted_dns.set_rule(name, dns_kit.Rule(records=[("PTR", "old.example")], ttl=1))
        step = ["first answer"]

        def feed(run: Any) -> bool:
            cog = run.cogs[0]
            if step[0] == "first answer" and len(run.out) == 1:
                # The server would now say something else; the cache still has the old name.
                scripted_dns.set_rule(name, dns_kit.Rule(records=[("PTR", "new.example")], ttl=1))
                run.train.send(None, [{"ip": "192.0.2.6"}])
                step[0] = "cached"
            elif step[0] == "cached" and len(run.out) == 2:
                expires = cog._cache.entries["192.0.2.6"][0]
                if cog.train.esc.loop.time() > expires:
                    run.train.send(None, [{"ip": "192.0.2.6"}])
                    step[0] = "expired"
            return len(run.out) == 3

        run = dns_kit.run(reverse([scripted_dns.address]), [{"ip": "192.0.2.6"}], until=feed)
        assert [d["hostname"] for d in run.out] == ["old.example", "old.example", "new.example"]
        assert run.cogs[0].counts["from cache"] == 1
        assert scripted_dns.queries[name] == 2

    def test_a_negative_answer_is_kept_for_negative_ttl(self, scripted_dns: Any, dns_kit: Any) -> None:
        """NXDOMAIN is cached too: the next datum is answered "not found" without a question."""
        run = dns_kit.run(reverse([scripted_dns.address], not_found="-"), [{"ip": "192.0.2.8"}])
        cog = run.cogs[0]
        assert run.out == [{"ip": "192.0.2.8", "hostname": "-"}]
        assert cog({"ip": "192.0.2.8"}) == ({"ip": "192.0.2.8", "hostname": "-"},)
        assert scripted_dns.queries[dns_kit.reverse_name("192.0.2.8")] == 1
        run = dns_kit.run(reverse([scripted_dns.address], negative_ttl=0), [{"ip": "192.0.2.8"}])
        assert run.cogs[0].cached == 0

    def test_the_cache_keeps_at_most_cache_size_answers(self, scripted_dns: Any, dns_kit: Any) -> None:
        """With cache_size 10 and 60 addresses, never more than 10 answers are kept; an evicted one is asked again."""
        addresses = [f"192.0.2.{i}" for i in range(1, 61)]
        for a in addresses:
            scripted_dns.set_rule(
                dns_kit.reverse_name(a), dns_kit.Rule(records=[("PTR", f"h{a.split('.')[-1]}.example")])
            )
        sizes: list[int] = []

        def make(train: movement.Train) -> list[Any]:
            cog = dns.ReverseLookup(train, servers=[scripted_dns.address], cache_size=10)

            def probe(datum: Any) -> tuple[Any]:
                # Runs for every datum leaving the cog: the cache as it is then.
                sizes.append(cog.cached)
                return (datum,)

            return [cog, probe]

        run = dns_kit.run(make, [{"ip": a} for a in addresses])
        assert len(run.out) == 60 and all("hostname" in d for d in run.out)
        assert max(sizes) <= 10 and run.cogs[0].cached == 10
        first = dns_kit.reverse_name(addresses[0])
        assert scripted_dns.queries[first] == 1
        run = dns_kit.run(reverse([scripted_dns.address], cache_size=10), [{"ip": addresses[0]}])
        assert scripted_dns.queries[first] == 2

    def test_max_ttl_caps_what_the_answer_says(self, scripted_dns: Any, dns_kit: Any) -> None:
        """An answer with a one-day TTL is kept only ``max_ttl`` seconds."""
        scripted_dns.set_rule(
            dns_kit.reverse_name("192.0.2.7"), dns_kit.Rule(records=[("PTR", "x.example")], ttl=86400)
        )
        run = dns_kit.run(reverse([scripted_dns.address], max_ttl=5), [{"ip": "192.0.2.7"}])
        cog = run.cogs[0]
        expires, _ = cog._cache.entries["192.0.2.7"]
        assert expires - cog.train.esc.loop.time() <= 5


class TestInFlight:
    def test_questions_out_at_once_stay_within_the_bound(self, scripted_dns: Any, dns_kit: Any) -> None:
        """400 distinct addresses, max_in_flight 50, a server answering after 0.2 s: never more than 50 out."""
        addresses = [f"10.1.{i // 256}.{i % 256}" for i in range(400)]
        for a in addresses:
            scripted_dns.set_rule(dns_kit.reverse_name(a), dns_kit.Rule(records=[("PTR", "h.example")], delay=0.2))
        in_flight: list[int] = []

        def make(train: movement.Train) -> list[Any]:
            cog = dns.ReverseLookup(train, servers=[scripted_dns.address], max_in_flight=50)

            def probe(datum: Any) -> tuple[Any]:
                in_flight.append(cog.in_flight)
                return (datum,)

            return [cog, probe]

        run = dns_kit.run(
            make, [{"ip": a} for a in addresses], each=lambda run: in_flight.append(run.cogs[0].in_flight)
        )
        assert len(run.out) == 400 and all(d["hostname"] == "h.example" for d in run.out)
        assert max(in_flight) <= 50
        assert scripted_dns.max_waiting <= 50
        assert scripted_dns.max_waiting > 1  # they did run side by side

    def test_held_data_stay_bounded_under_backpressure(self, scripted_dns: Any, dns_kit: Any) -> None:
        """A supply feeding 5,000 lookups of a slow server pauses: what the cog holds stays near high_water."""

        class Feeder(movement.Supply):
            def __init__(self, esc: movement.Escapement) -> None:
                self.esc = esc
                self.sent = 0
                esc.enqueue(self.more)

            def more(self) -> list[dict[str, str]]:
                chunk = [{"ip": f"10.2.{(self.sent + i) // 256}.{(self.sent + i) % 256}"} for i in range(100)]
                self.sent += 100
                if self.sent < 5000:
                    self.esc.enqueue(self.more)
                return chunk

        scripted_dns.rules.clear()
        for i in range(5000):
            scripted_dns.set_rule(dns_kit.reverse_name(f"10.2.{i // 256}.{i % 256}"), dns_kit.Rule(delay=0.05))
        held: list[int] = []
        run = dns_kit.run(
            lambda train: [
                Feeder(train.esc),
                dns.ReverseLookup(train, servers=[scripted_dns.address], max_in_flight=100),
            ],
            each=lambda run: held.append(run.train.in_flight),
            until=lambda run: len(run.out) == 5000,
            high_water=500,
        )
        assert len(run.out) == 5000
        assert max(held) <= 500 + 100  # high_water, plus the list that crossed it


class TestOrder:
    def test_as_answered_a_slow_lookup_holds_up_nothing(self, scripted_dns: Any, dns_kit: Any) -> None:
        """By default, data whose answer is cached or who have no address pass a slow lookup waiting before them."""
        slow = dns_kit.reverse_name("192.0.2.10")
        scripted_dns.set_rule(slow, dns_kit.Rule(records=[("PTR", "slow.example")], delay=1.0))
        overtaken: list[bool] = []

        def make(train: movement.Train) -> list[Any]:
            cog = dns.ReverseLookup(train, servers=[scripted_dns.address])
            cog._cache.put("192.0.2.11", "cached.example", 1e12)
            return [cog]

        def watch(run: Any) -> None:
            ids = [d["id"] for d in run.out]
            if ids == [2, 3] and run.cogs[0].lookups == 1:
                overtaken.append(True)

        data = [{"id": 1, "ip": "192.0.2.10"}, {"id": 2, "ip": "192.0.2.11"}, {"id": 3}]
        run = dns_kit.run(make, data, each=watch)
        assert [d["id"] for d in run.out] == [2, 3, 1]
        assert overtaken, "the fast data came out while the slow lookup was still out"

    @pytest.mark.parametrize("cog_class", [dns.ReverseLookup, OneAtATime])
    def test_keep_order_sends_data_on_in_the_order_they_came(
        self, scripted_dns: Any, dns_kit: Any, cog_class: Any
    ) -> None:
        """With keep_order, slow, fast, cached and address-less data leave in arrival order."""
        for last, delay in ((10, 0.6), (12, 0.0), (13, 0.3)):
            scripted_dns.set_rule(
                dns_kit.reverse_name(f"192.0.2.{last}"),
                dns_kit.Rule(records=[("PTR", f"h{last}.example")], delay=delay),
            )

        def make(train: movement.Train) -> list[Any]:
            cog = cog_class(train, servers=[scripted_dns.address], keep_order=True)
            cog._cache.put("192.0.2.11", "cached.example", 1e12)
            return [cog]

        data = [
            {"id": 1, "ip": "192.0.2.10"},
            {"id": 2, "ip": "192.0.2.11"},
            {"id": 3},
            {"id": 4, "ip": "192.0.2.12"},
            {"id": 5, "ip": "192.0.2.13"},
            {"id": 6, "ip": "192.0.2.10"},
        ]
        run = dns_kit.run(make, data)
        assert [d["id"] for d in run.out] == [1, 2, 3, 4, 5, 6]
        assert [d.get("hostname") for d in run.out] == [
            "h10.example",
            "cached.example",
            None,
            "h12.example",
            "h13.example",
            "h10.example",
        ]


class TestTimeoutsAndRetries:
    def test_dropped_questions_are_sent_retries_plus_one_times_then_marked(
        self, scripted_dns: Any, dns_kit: Any
    ) -> None:
        """A server that drops one question: it hears it retries + 1 times; the datum goes on marked failed.

        (Once c-ares knows the server answers fast, its tries are short: all three
        fit well within the timeout.)
        """
        warm_then(scripted_dns, dns_kit, range(70, 75))
        name = dns_kit.reverse_name("192.0.2.20")
        scripted_dns.set_rule(name, dns_kit.Rule(fault="drop"))
        run = dns_kit.run(
            reverse([scripted_dns.address], timeout=4.0, retries=2, failed="?"),
            [{"ip": f"192.0.2.{i}"} for i in range(70, 75)],
            until=after_warm_up(5, {"id": "dropped", "ip": "192.0.2.20"}),
        )
        [dropped] = [d for d in run.out if d.get("id") == "dropped"]
        assert dropped["hostname"] == "?"
        assert run.cogs[0].counts["failed"] == 1
        assert scripted_dns.queries[name] == 3

    def test_the_deadline_is_timeout(self, scripted_dns: Any, dns_kit: Any) -> None:
        """An answer coming after ``timeout`` is not waited for: the datum goes on failed, the run ends."""
        name = dns_kit.reverse_name("192.0.2.21")
        scripted_dns.set_rule(name, dns_kit.Rule(records=[("PTR", "late.example")], delay=30))
        run = dns_kit.run(reverse([scripted_dns.address], timeout=0.5, failed="?"), [{"ip": "192.0.2.21"}], timeout=10)
        assert run.ended_by_itself
        assert run.out == [{"ip": "192.0.2.21", "hostname": "?"}]
        # c-ares knew nothing of the server: its first try waited the whole timeout.
        assert 1 <= scripted_dns.queries[name] <= dns.tries_for(0.5)

    def test_a_slow_answer_within_timeout_is_taken(self, scripted_dns: Any, dns_kit: Any) -> None:
        """After fast answers taught c-ares to wait 0.25 s, an answer taking 1 s still arrives (timeout 3 s)."""
        warm_then(scripted_dns, dns_kit, range(30, 40))
        scripted_dns.set_rule(
            dns_kit.reverse_name("192.0.2.41"), dns_kit.Rule(records=[("PTR", "slow.example")], delay=1.0)
        )
        run = dns_kit.run(
            reverse([scripted_dns.address], failed="?"),
            [{"ip": f"192.0.2.{i}"} for i in range(30, 40)],
            until=after_warm_up(10, {"id": "slow", "ip": "192.0.2.41"}),
        )
        [slow] = [d for d in run.out if d.get("id") == "slow"]
        assert slow["hostname"] == "slow.example"

    def test_a_server_slow_from_the_start_is_answered(self, scripted_dns: Any, dns_kit: Any) -> None:
        """A server c-ares knows nothing of yet, answering everything after 2 s: within timeout (3 s), so taken."""
        scripted_dns.default_rule = dns_kit.Rule(records=[("PTR", "slow.example")], delay=2.0)
        run = dns_kit.run(reverse([scripted_dns.address], failed="?"), [{"ip": f"10.6.0.{i}"} for i in range(20)])
        assert [d["hostname"] for d in run.out] == ["slow.example"] * 20

    def test_a_single_try_loses_a_slow_answer_as_the_warning_says(self, scripted_dns: Any, dns_kit: Any) -> None:
        """retries=0: once c-ares knows the server as fast, a 0.6 s answer is lost although timeout is 3 s."""
        warm_then(scripted_dns, dns_kit, range(50, 60))
        scripted_dns.set_rule(
            dns_kit.reverse_name("192.0.2.61"), dns_kit.Rule(records=[("PTR", "slow.example")], delay=0.6)
        )
        run = dns_kit.run(
            reverse([scripted_dns.address], retries=0, failed="?"),
            [{"ip": f"192.0.2.{i}"} for i in range(50, 60)],
            until=after_warm_up(10, {"id": "slow", "ip": "192.0.2.61"}),
        )
        [slow] = [d for d in run.out if d.get("id") == "slow"]
        assert slow["hostname"] == "?"

    def test_server_failure_is_a_failure(self, scripted_dns: Any, dns_kit: Any) -> None:
        """SERVFAIL (after the tries): the datum goes on marked failed."""
        scripted_dns.set_rule(dns_kit.reverse_name("192.0.2.22"), dns_kit.Rule(rcode=dns_kit.SERVFAIL))
        run = dns_kit.run(reverse([scripted_dns.address], failed="?"), [{"ip": "192.0.2.22"}])
        assert run.out == [{"ip": "192.0.2.22", "hostname": "?"}]


def warm_then(scripted_dns: Any, dns_kit: Any, lasts: Any) -> None:
    """Rules answering 192.0.2.N at once, for N in ``lasts``: c-ares learns the server is fast."""
    for last in lasts:
        scripted_dns.set_rule(dns_kit.reverse_name(f"192.0.2.{last}"), dns_kit.Rule(records=[("PTR", "fast.example")]))


def after_warm_up(count: int, datum: dict[str, Any]) -> Any:
    """An ``until`` for run(): once ``count`` fast answers are out, send ``datum``; stop when it is out too."""

    def until(run: Any) -> bool:
        if len(run.out) == count and not run.cogs[0].lookups and not run.cogs[0].in_flight:
            run.train.send(None, [datum])
        return any(d.get("id") == datum["id"] for d in run.out)

    return until


FAULTS = ["wrong-question", "wrong-id", "cut", "garbage", "truncate-no-tcp", "servfail"]


class TestBadAnswers:
    @pytest.mark.parametrize("fault", FAULTS)
    def test_each_kind_gives_one_log_line_and_nothing_is_lost(
        self, scripted_dns: Any, dns_kit: Any, fault: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """20 lookups answered badly: every datum goes on, marked; one line for the first, one count for the rest."""
        bad = [f"192.0.2.{i}" for i in range(100, 120)]
        good = [f"192.0.2.{i}" for i in range(130, 140)]
        for a in bad:
            rule = (
                dns_kit.Rule(rcode=dns_kit.SERVFAIL)
                if fault == "servfail"
                else dns_kit.Rule(records=[("PTR", "bad.example")], fault=fault)
            )
            scripted_dns.set_rule(dns_kit.reverse_name(a), rule)
        for a in good:
            scripted_dns.set_rule(dns_kit.reverse_name(a), dns_kit.Rule(records=[("PTR", "good.example")]))
        data = [{"id": f"bad-{a}", "ip": a} for a in bad] + [{"id": f"good-{a}", "ip": a} for a in good]
        with caplog.at_level(logging.WARNING, logger="deadbeat.dns"):
            run = dns_kit.run(reverse([scripted_dns.address], timeout=1.0, failed="?"), data)
        assert sorted(d["id"] for d in run.out) == sorted(d["id"] for d in data)
        assert not run.errors
        out = by_id(run.out)
        assert all(out[f"bad-{a}"]["hostname"] == "?" for a in bad)
        # A reply c-ares cannot parse costs every question waiting on that socket a try; those
        # are asked again alone, so the good ones get their answers all the same (see the cog's docs).
        assert all(out[f"good-{a}"]["hostname"] == "good.example" for a in good)
        lines = [r.getMessage() for r in caplog.records if r.name == "deadbeat.dns"]
        first = [line for line in lines if line.startswith("bad-")]
        assert len(first) == 1, lines
        assert "dns.reverse" in first[0] and scripted_dns.address in first[0]
        assert any("more lookups failed the same way" in line for line in lines)
        assert len(lines) <= 4, lines
        # The count's time span says how long it was, even under a second.
        assert not any(" in the last 0 s" in line for line in lines), lines
        assert any(re.search(r"in the last 0\.\d+ s", line) for line in lines), lines
        assert run.cogs[0].lookups == 0 and run.cogs[0].cached <= len(good)

    def test_malformed_replies_for_one_name_fail_that_lookup_only(
        self, scripted_dns: Any, dns_kit: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Garbage for one name, slow good answers for ten others on the same socket: only the one fails."""
        scripted_dns.set_rule(dns_kit.reverse_name("192.0.2.200"), dns_kit.Rule(fault="garbage"))
        good = [f"192.0.2.{i}" for i in range(201, 211)]
        for a in good:
            scripted_dns.set_rule(dns_kit.reverse_name(a), dns_kit.Rule(records=[("PTR", "good.example")], delay=0.5))
        data = [{"id": "bad", "ip": "192.0.2.200"}] + [{"id": a, "ip": a} for a in good]
        with caplog.at_level(logging.WARNING, logger="deadbeat.dns"):
            run = dns_kit.run(reverse([scripted_dns.address], timeout=3.0, failed="FAILED"), data)
        out = by_id(run.out)
        assert out["bad"]["hostname"] == "FAILED"
        assert [out[a]["hostname"] for a in good] == ["good.example"] * 10
        assert run.cogs[0].counts["failed"] == 1 and run.cogs[0].counts["resolved"] == 10
        lines = [r.getMessage() for r in caplog.records if r.name == "deadbeat.dns"]
        assert len(lines) == 1 and "malformed" in lines[0], lines
        assert run.cogs[0].lookups == 0 and run.cogs[0].in_flight == 0

    def test_a_truncated_reply_is_asked_again_over_tcp(self, scripted_dns: Any, dns_kit: Any) -> None:
        """TC set over UDP: c-ares asks again over TCP and the full answer is used."""
        name = dns_kit.reverse_name("192.0.2.23")
        scripted_dns.set_rule(name, dns_kit.Rule(records=[("PTR", "long.example")], fault="truncate"))
        run = dns_kit.run(reverse([scripted_dns.address]), [{"ip": "192.0.2.23"}])
        assert run.out == [{"ip": "192.0.2.23", "hostname": "long.example"}]
        assert scripted_dns.tcp_queries[name] == 1

    def test_a_flood_of_bad_replies_leaves_nothing_behind(self, scripted_dns: Any, dns_kit: Any) -> None:
        """2,000 lookups answered with garbage: all data out, no lookup left, no failure cached."""
        addresses = [f"10.3.{i // 256}.{i % 256}" for i in range(2000)]
        for a in addresses:
            scripted_dns.set_rule(dns_kit.reverse_name(a), dns_kit.Rule(fault="garbage"))
        run = dns_kit.run(reverse([scripted_dns.address], timeout=1.0), [{"ip": a} for a in addresses])
        cog = run.cogs[0]
        assert len(run.out) == 2000
        assert cog.lookups == 0 and cog.cached == 0 and cog.in_flight == 0
        assert cog.counts["failed"] == 2000


class TestEventIds:
    @pytest.mark.parametrize("keep_order", [False, True])
    def test_log_lines_name_the_id_the_train_knows(
        self, scripted_dns: Any, dns_kit: Any, keep_order: bool, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Data whose ids the supply keeps beside them: the failure's log line names that id, as dead letters do."""
        scripted_dns.set_rule(dns_kit.reverse_name("192.0.2.31"), dns_kit.Rule(rcode=dns_kit.SERVFAIL))
        scripted_dns.set_rule(dns_kit.reverse_name("192.0.2.30"), dns_kit.Rule(records=[("PTR", "ok.example")]))
        data = [{"ip": "192.0.2.30"}, {"ip": "192.0.2.31"}]
        esc = movement.Escapement()
        train = movement.Train(esc)
        collector = Collector()
        train.cogs = [
            dns.ReverseLookup(train, servers=[scripted_dns.address], failed="?", keep_order=keep_order),
            collector,
        ]
        batch = movement.Batch(data, batch_id="b", event_ids=lambda: ["ips.jsonl:75", "ips.jsonl:76"])
        esc.enqueue(lambda: train.send(None, batch))
        with caplog.at_level(logging.WARNING, logger="deadbeat.dns"):
            try:
                esc.run()
            finally:
                esc.close()
        assert sorted(d["hostname"] for d in collector.data) == ["?", "ok.example"]
        lines = [r.getMessage() for r in caplog.records if r.name == "deadbeat.dns"]
        assert len(lines) == 1 and lines[0].startswith("ips.jsonl:76: "), lines

    @pytest.mark.parametrize("keep_order", [False, True])
    def test_data_answered_late_keep_their_ids_after_the_lookup(
        self, scripted_dns: Any, dns_kit: Any, keep_order: bool
    ) -> None:
        """An error after the lookup named no event id (null, "-"): held data sent on late had lost it.

        (With keep_order the list goes datum by datum, with the ids the train knew for it.)"""
        for address, name in (("192.0.2.40", "forty.example"), ("192.0.2.41", "forty-one.example")):
            scripted_dns.set_rule(dns_kit.reverse_name(address), dns_kit.Rule(records=[("PTR", name)]))
        data = [{"ip": "192.0.2.40", "n": "x"}, {"ip": "192.0.2.41", "n": 1}, {"ip": "192.0.2.40", "n": "y"}]
        esc = movement.Escapement()
        train = movement.Train(esc)
        records: list[Any] = []
        collector = Collector()

        def need_int(datum: dict[str, Any]) -> tuple[dict[str, Any]]:
            if not isinstance(datum["n"], int):
                raise ValueError(f"n: {datum['n']!r} is not a number")
            return (datum,)

        train.cogs = [
            dns.ReverseLookup(train, servers=[scripted_dns.address], keep_order=keep_order),
            need_int,
            collector,
        ]
        train.error_output = records.append
        batch = movement.Batch(data, batch_id="b", event_ids=["ips.jsonl:0", "ips.jsonl:30", "ips.jsonl:60"])
        esc.enqueue(lambda: train.send(None, batch))
        try:
            esc.run()
        finally:
            esc.close()
        assert [d["hostname"] for d in collector.data] == ["forty-one.example"]
        assert sorted(r.event_id for r in records) == ["ips.jsonl:0", "ips.jsonl:60"]

    def test_a_given_id_getter_is_used(self, scripted_dns: Any, dns_kit: Any, caplog: pytest.LogCaptureFixture) -> None:
        """id_getter given: log lines name what it reads."""
        scripted_dns.set_rule(dns_kit.reverse_name("192.0.2.32"), dns_kit.Rule(rcode=dns_kit.SERVFAIL))
        with caplog.at_level(logging.WARNING, logger="deadbeat.dns"):
            dns_kit.run(
                reverse([scripted_dns.address], id_getter="eid", failed="?"), [{"eid": "mine-1", "ip": "192.0.2.32"}]
            )
        lines = [r.getMessage() for r in caplog.records if r.name == "deadbeat.dns"]
        assert len(lines) == 1 and lines[0].startswith("mine-1: "), lines


class TestOddData:
    def test_a_result_the_setter_cannot_take_goes_on_unchanged_and_is_said(
        self, unbound: Any, dns_kit: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A datum whose result field cannot be set (a path through text): passed on as it is, logged, counted."""
        data = [{"id": "e1", "ip": "192.0.2.1", "meta": "text"}, {"id": "e2", "ip": "192.0.2.1", "meta": {}}]
        with caplog.at_level(logging.WARNING, logger="deadbeat.dns"):
            run = dns_kit.run(reverse([unbound.address], name_setter="meta.host"), data)
        out = by_id(run.out)
        assert out["e1"] == {"id": "e1", "ip": "192.0.2.1", "meta": "text"}
        assert out["e2"]["meta"] == {"host": "one.example"}
        assert run.cogs[0].counts["result not set"] == 1
        [line] = [r.getMessage() for r in caplog.records if r.name == "deadbeat.dns"]
        assert line.startswith("e1: dns.reverse: cannot set the result")

    def test_a_cog_outside_its_train_refuses_to_hold_data(self, unbound: Any) -> None:
        """Held data go on through the cog's own Train: a cog used in another one says so instead of losing them."""
        esc = movement.Escapement()
        try:
            cog = dns.ReverseLookup(movement.Train(esc), servers=[unbound.address])
            with pytest.raises(RuntimeError, match="not a cog of the Train"):
                cog({"ip": "192.0.2.1"})
            assert cog.lookups == 0
        finally:
            esc.close()

    def test_a_cog_dropped_without_finish_leaves_no_thread_touching_the_loop(
        self, scripted_dns: Any, dns_kit: Any, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """An application that dies mid-lookup: pycares cancels from its own thread; the cog ignores those calls."""
        import gc
        import sys
        import time

        scripted_dns.default_rule = dns_kit.Rule(fault="drop")
        unraisable: list[Any] = []
        old_hook = sys.unraisablehook
        sys.unraisablehook = unraisable.append
        try:
            esc = movement.Escapement()
            train = movement.Train(esc)
            cog = dns.ReverseLookup(train, servers=[scripted_dns.address])
            train.cogs = [cog]
            assert cog.call_batch([{"ip": f"10.7.0.{i}"} for i in range(50)]) == []
            assert scripted_dns.wait_for(lambda s: len(s.queries) == 50)
            esc.close()
            resolver = cog.resolver
            # What the channel's __del__ does when the cog is collected: destroy it in pycares's thread.
            resolver._channel.close()
            del cog, train
            gc.collect()
            time.sleep(0.5)  # not an assertion: gives pycares's thread the time to destroy the channel
        finally:
            sys.unraisablehook = old_hook
        assert unraisable == []
        assert "Traceback" not in capfd.readouterr().err
        assert resolver.outstanding == 50  # nothing was called back from the other thread


class TestIdle:
    def test_nothing_is_bound_once_the_answers_are_in(self, unbound: Any, dns_kit: Any) -> None:
        """No socket watched and no timer left when no lookup is out: the loop sleeps (and --once ends)."""
        leftovers: list[Any] = []

        def done_and_idle(run: Any) -> bool:
            cog = run.cogs[0]
            if len(run.out) == 2 and not cog.in_flight:
                leftovers.extend(run.train.esc.bindings_of(cog.resolver) + run.train.esc.bindings_of(cog))
                return True
            return False

        run = dns_kit.run(reverse([unbound.address]), [{"ip": "192.0.2.1"}, {"ip": "192.0.2.2"}], until=done_and_idle)
        assert len(run.out) == 2
        assert leftovers == []
