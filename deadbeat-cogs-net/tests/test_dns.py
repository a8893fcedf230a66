"""deadbeat.dns without a network: the conformance kit, names, the cache, settings, the missing extra."""

from __future__ import annotations

import ipaddress
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadbeat import dns, movement
from deadbeat.testing import CogConformance

# Nothing listens on UDP port 9 of loopback: every question is refused at once
# (ICMP port unreachable), so the cogs finish their lookups quickly, failed.
CLOSED = "127.0.0.1:9"


class TestReverseLookupConformance(CogConformance):
    cog_name = "dns.reverse"
    params = {"servers": [CLOSED], "timeout": 2.0, "failed": "unresolved"}
    samples = [{"ip": "192.0.2.1"}, {"ip": "2001:db8::1"}, {"ip": None}, {"other": 1}]
    flushes_all = True


class TestForwardLookupConformance(CogConformance):
    cog_name = "dns.forward"
    params = {"servers": [CLOSED], "timeout": 2.0, "record_types": ["A", "MX"]}
    samples = [{"hostname": "one.example"}, {"hostname": "two.example."}, {"hostname": ""}]
    flushes_all = True


class TestReversePointer:
    @given(st.ip_addresses())
    def test_matches_the_standard_library(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        """Every IPv4 and IPv6 address asks about the name ipaddress gives as its reverse pointer."""
        assert dns.reverse_pointer(str(address)) == address.reverse_pointer

    @given(st.ip_addresses(v=6))
    def test_any_spelling_of_an_ipv6_address_asks_the_same(self, address: ipaddress.IPv6Address) -> None:
        """The compressed and the exploded spelling give one PTR name."""
        assert dns.reverse_pointer(address.exploded) == dns.reverse_pointer(address.compressed)

    @given(st.text(max_size=60))
    def test_anything_else_is_refused_naming_it(self, text: str) -> None:
        """Text that is no address raises ValueError showing the text (never a bare OSError)."""
        try:
            ipaddress.ip_address(text)
        except ValueError:
            pass
        else:
            return  # an address after all (hypothesis found one)
        if re.fullmatch(r"[0-9]+(\.[0-9]+){0,3}", text) or "%" in text:
            return  # forms inet_pton and ipaddress read differently (leading zeros, zones)
        with pytest.raises(ValueError, match="not an IP address"):
            dns.reverse_pointer(text)

    @pytest.mark.parametrize("value", [None, 3232235777, b"192.0.2.1", ["192.0.2.1"]])
    def test_non_text_is_refused_with_its_type(self, value: Any) -> None:
        """A value that is not text says what it was."""
        with pytest.raises(ValueError, match=type(value).__name__):
            dns.reverse_pointer(value)


HOST_LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


class TestQueryName:
    @given(st.lists(HOST_LABEL, min_size=1, max_size=5), st.booleans(), st.booleans())
    def test_host_names_are_asked_in_lower_case_without_the_final_dot(
        self, labels: list[str], upper: bool, final_dot: bool
    ) -> None:
        """A valid name comes back lower-cased, without its final dot."""
        name = ".".join(labels)
        given_name = (name.upper() if upper else name) + ("." if final_dot else "")
        assert dns.query_name(given_name) == name

    def test_names_in_other_scripts_are_asked_in_ascii(self) -> None:
        """IDNA: bücher.example is asked as xn--bcher-kva.example."""
        assert dns.query_name("bücher.example") == "xn--bcher-kva.example"

    @pytest.mark.parametrize(
        "name",
        ["", ".", "a..b", "-a.example", "a-.example", "a b.example", "x" * 64 + ".example", "a." * 127 + "a", "é" * 80],
    )
    def test_what_is_no_host_name_is_refused(self, name: str) -> None:
        """Empty names, empty or long labels, spaces, names over 253 characters raise ValueError."""
        with pytest.raises(ValueError, match="not a host name"):
            dns.query_name(name)

    def test_non_text_is_refused(self) -> None:
        """A number is no host name."""
        with pytest.raises(ValueError, match="int"):
            dns.query_name(42)  # type: ignore[arg-type]


class TestAnswerCache:
    @given(st.lists(st.tuples(st.integers(0, 40), st.floats(0, 10)), max_size=200), st.integers(0, 12))
    def test_never_holds_more_than_its_size(self, puts: list[tuple[int, float]], size: int) -> None:
        """Whatever is stored, the cache holds at most ``size`` entries, and the last value put for a kept key."""
        cache = dns.AnswerCache(size)
        last: dict[int, Any] = {}
        for step, (key, expires) in enumerate(puts):
            cache.put(key, step, expires)
            last[key] = step
            assert len(cache) <= size
        for key, (_, value) in cache.entries.items():
            assert value == last[key]

    def test_expired_entries_are_not_given(self) -> None:
        """get() gives an entry only before its expiry time."""
        cache = dns.AnswerCache(10)
        cache.put("192.0.2.1", "one.example", expires=100.0)
        assert cache.get("192.0.2.1", now=99.9) == (100.0, "one.example")
        assert cache.get("192.0.2.1", now=100.0) is None

    def test_the_oldest_entry_makes_room(self) -> None:
        """Full, the cache drops what was stored longest ago; storing a key again makes it young."""
        cache = dns.AnswerCache(2)
        cache.put("a", 1, 10.0)
        cache.put("b", 2, 10.0)
        cache.put("a", 3, 10.0)
        cache.put("c", 4, 10.0)
        assert list(cache.entries) == ["a", "c"]

    def test_size_zero_keeps_nothing(self) -> None:
        """cache_size 0 turns the cache off."""
        cache = dns.AnswerCache(0)
        cache.put("a", 1, 10.0)
        assert len(cache) == 0


class TestSettings:
    @pytest.mark.parametrize(
        ("given_servers", "port", "expected"),
        [
            (["127.0.0.1"], 53, ["127.0.0.1:53"]),
            (["127.0.0.1:5353"], 53, ["127.0.0.1:5353"]),
            (["192.0.2.53", "::1"], 5300, ["192.0.2.53:5300", "[::1]:5300"]),
            (["[2001:db8::53]:5353"], 53, ["[2001:db8::53]:5353"]),
        ],
    )
    def test_server_addresses_with_and_without_ports(
        self, given_servers: list[str], port: int, expected: list[str]
    ) -> None:
        """Each server keeps its own port; the others get ``port``."""
        assert dns.server_list(given_servers, port) == expected

    @pytest.mark.parametrize(
        ("bad", "message"),
        [
            (["dns.example"], "not an IP address"),
            (["127.0.0.1:domain"], "port is not a number"),
            (["127.0.0.1:70000"], "out of range"),
            ("127.0.0.1", "a list"),
            ([53], "as text"),
        ],
    )
    def test_bad_servers_are_refused_naming_them(self, bad: Any, message: str) -> None:
        """A host name, a bad port or one string instead of a list is an error naming the server."""
        with pytest.raises(ValueError, match=message):
            dns.server_list(bad, 53)

    @pytest.mark.parametrize(("timeout", "tries"), [(0.1, 1), (0.25, 1), (0.5, 2), (1.0, 3), (2.0, 4), (3.0, 5)])
    def test_tries_cover_the_timeout(self, timeout: float, tries: int) -> None:
        """The tries c-ares gets last at least ``timeout`` even at its shortest waits (0.25 s, doubling)."""
        assert dns.tries_for(timeout) == tries
        assert 0.125 * 2**tries >= timeout or tries == 1

    def test_wrong_settings_fail_at_construction(self) -> None:
        """Bad settings are refused when the cog is made, before any datum."""
        esc = movement.Escapement()
        try:
            train = movement.Train(esc)
            for kwargs, message in [
                ({"timeout": 0}, "timeout"),
                ({"retries": -1}, "retries"),
                ({"max_in_flight": 0}, "max_in_flight"),
                ({"cache_size": -1}, "cache_size"),
                ({"servers": ["resolver.example"]}, "not an IP address"),
            ]:
                with pytest.raises(ValueError, match=message):
                    dns.ReverseLookup(train, **kwargs)
            with pytest.raises(ValueError, match="max_in_flight must be at least 3"):
                dns.ForwardLookup(train, record_types=["A", "AAAA", "MX"], max_in_flight=2)
            with pytest.raises(ValueError, match="record_types"):
                dns.ForwardLookup(train, record_types=["SRV"])  # type: ignore[list-item]
            with pytest.raises(TypeError, match="Train"):
                dns.ReverseLookup(esc)  # type: ignore[arg-type]
        finally:
            esc.close()

    def test_few_retries_are_warned_about(self, caplog: pytest.LogCaptureFixture) -> None:
        """retries=0 with a 3 s timeout: a warning says c-ares may give up after 0.25 s."""
        esc = movement.Escapement()
        try:
            with caplog.at_level(logging.WARNING, logger="deadbeat.dns"):
                dns.ReverseLookup(movement.Train(esc), servers=[CLOSED], retries=0, timeout=3.0)
                dns.ReverseLookup(movement.Train(esc), servers=[CLOSED], timeout=3.0)
            lines = [r.getMessage() for r in caplog.records if r.name == "deadbeat.dns"]
            assert len(lines) == 1 and "retries=0" in lines[0] and "0.25 s" in lines[0]
        finally:
            esc.close()

    def test_default_servers_are_the_systems(self) -> None:
        """Without servers, the cog asks the name servers of /etc/resolv.conf."""
        listed = re.findall(r"^\s*nameserver\s+(\S+)", Path("/etc/resolv.conf").read_text(), flags=re.MULTILINE)
        if not listed:
            pytest.skip("/etc/resolv.conf names no server")
        esc = movement.Escapement()
        try:
            cog = dns.ReverseLookup(movement.Train(esc))
            asked = [s.rsplit(":", 1)[0].strip("[]") for s in cog.resolver.servers]
            assert [s.split("%")[0] for s in listed] == [s.split("%")[0] for s in asked]
        finally:
            esc.close()


class TestWithoutPycares:
    def test_a_clear_error_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without pycares, making a cog says which extra to install; importing deadbeat.dns still works."""
        monkeypatch.setitem(sys.modules, "pycares", None)
        esc = movement.Escapement()
        try:
            with pytest.raises(ImportError, match=re.escape("pip install 'deadbeat-cogs-net[dns]'")):
                dns.ReverseLookup(movement.Train(esc))
        finally:
            esc.close()

    def test_the_cogs_describe_themselves_without_it(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The declared settings (for ``deadbeat cogs show`` and the docs) need no pycares."""
        from deadbeat.conf import declared_parameters

        monkeypatch.setitem(sys.modules, "pycares", None)
        injected, declared = declared_parameters(dns.ReverseLookup)
        assert injected == "train"
        assert {"servers", "port", "timeout", "retries", "max_in_flight", "keep_order"} <= {d.name for d in declared}
        assert all(d.doc for d in declared)


@pytest.mark.parametrize("cog", ["dns.reverse", "dns.forward"])
def test_deadbeat_check_refuses_max_in_flight_0(tmp_path: Path, cog: str) -> None:
    """max_in_flight = 0 (which run refuses) is refused by the pipeline loader too, naming the key."""
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(f'[[cog]]\nuse = "{cog}"\nmax_in_flight = 0\n')
    result = subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "check", str(pipeline)], capture_output=True, timeout=120
    )
    assert result.returncode != 0
    assert f"({cog}): max_in_flight: expected an integer of at least 1".encode() in result.stdout + result.stderr
