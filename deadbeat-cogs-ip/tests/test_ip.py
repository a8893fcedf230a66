"""IP cogs: parsing, anonymisation (checked against an independent Crypto-PAn), CIDR lists."""

from __future__ import annotations

import copy
import ipaddress
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from yacryptopan import CryptoPAn as ReferenceCryptoPAn

from deadbeat import ip, movement
from deadbeat.testing import CogConformance, Collector, run_train, send_through

SCRATCH = Path(tempfile.mkdtemp(prefix="deadbeat-ip-test-"))
KEY_FILE = SCRATCH / "pan.key"
KEY_FILE.write_bytes(bytes(range(32)))
LIST_FILE = SCRATCH / "internal.txt"
LIST_FILE.write_text("10.0.0.0/8\n192.168.0.0/16 home\n2001:db8::/32\n")


class TestParseConformance(CogConformance):
    cog_name = "ip.parse"
    params = {"fields": "ip"}
    samples = [{"ip": "192.0.2.1"}]
    flushes_all = True


class TestAnonymiseConformance(CogConformance):
    cog_name = "ip.anonymise"
    params = {"fields": "ip", "mode": "cryptopan", "key_file": str(KEY_FILE)}
    samples = [{"ip": "192.0.2.1"}]
    flushes_all = True


class TestCIDRConformance(CogConformance):
    cog_name = "ip.cidr"
    params = {"lists": {"internal": str(LIST_FILE)}}
    samples = [{"ip": "10.1.2.3"}]
    flushes_all = True


class TestParsing:
    @pytest.mark.parametrize(
        ("text", "canonical"),
        [
            ("192.0.2.1", "192.0.2.1"),
            (" 192.0.2.1 ", "192.0.2.1"),
            ("192.0.2.1:8080", "192.0.2.1:8080"),
            ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
            ("[2001:db8::1]:443", "[2001:db8::1]:443"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
            ("192.0.2.77/24", "192.0.2.0/24"),
            ("2001:db8::1/32", "2001:db8::/32"),
            ("192.0.2.1-192.0.2.009", None),
            ("192.0.2.1-192.0.2.9", "192.0.2.1-192.0.2.9"),
        ],
    )
    def test_canonical_forms(self, text: str, canonical: str | None) -> None:
        """Each accepted form is written canonically; leading zeros are refused."""
        if canonical is None:
            with pytest.raises(ip.AddressError):
                ip.normalise(text)
        else:
            assert ip.normalise(text) == canonical

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("300.1.1.1", "is not an IP address"),
            ("1.2.3", "is not an IP address"),
            ("1.2.3.4:99999", "port 99999 out of range"),
            ("[2001:db8::1", "'[' without ']'"),
            ("10.0.0.9-10.0.0.1", "range runs backwards"),
            ("10.0.0.1-2001:db8::1", "range mixes IPv4 and IPv6"),
            ("10.0.0.0/33", "is not a network"),
        ],
    )
    def test_bad_values_say_why(self, text: str, reason: str) -> None:
        """A bad value is refused with the value and the reason."""
        with pytest.raises(ip.AddressError, match=re.escape(reason)):
            ip.normalise(text)

    def test_bad_address_goes_to_the_error_output_with_field_and_id(self) -> None:
        """The datum with a bad address fails as a whole, naming the event and the field."""
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        collector = Collector()
        train = movement.Train(esc, [ip.IPParse(fields="Source.*.IP4"), collector], error_output=records.append)
        train.send(None, [{"ID": "e1", "Source": [{"IP4": ["192.0.2.1", "bogus"]}]}, {"ID": "e2", "Source": []}])
        esc.close()
        assert [r.event_id for r in records] == ["e1"]
        assert "field 'Source.*.IP4': 'bogus' is not an IP address" in str(records[0].error)
        assert [d["ID"] for d in collector.data] == ["e2"]


class TestTruncation:
    def test_prefixes_per_version_and_ports_kept(self) -> None:
        """v4 and v6 keep their own prefix lengths; ports stay."""
        cog = ip.Anonymise(fields=["a", "b", "c"], v4_prefix=16, v6_prefix=32)
        (out,) = cog({"a": "192.0.2.55", "b": "[2001:db8:1234::1]:22", "c": ["10.9.8.7:80"]})
        assert out == {"a": "192.0.0.0", "b": "[2001:db8::]:22", "c": ["10.9.0.0:80"]}

    @pytest.mark.parametrize("text", ["1.2.3.4:٨٠", "[2001:db8::1]:٤٤٣", "1.2.3.4:８０", "1.2.3.4:²"])
    def test_a_port_is_ascii_digits(self, text: str) -> None:
        """A port in another script's digits was read (``1.2.3.4:٨٠`` became ``1.2.3.4:80``) while an address in
        them was refused: both are refused now."""
        with pytest.raises(ip.AddressError, match="(?i)port"):
            ip.IPParse(fields="a")({"a": text})

    @given(st.ip_addresses(v=4), st.integers(0, 32))
    def test_matches_ipaddress(self, address: ipaddress.IPv4Address, prefix: int) -> None:
        """Truncation equals ipaddress's network address for any address and prefix."""
        cog = ip.Anonymise(v4_prefix=prefix)
        expected = ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address
        assert cog.anonymise(str(address)) == str(expected)


KEYS = [bytes(range(32)), bytes(32), os.urandom(32), os.urandom(32)]


class TestCryptoPAn:
    @pytest.mark.parametrize("key", KEYS, ids=["sequence", "zeros", "random1", "random2"])
    def test_equals_an_independent_implementation(self, key: bytes, tmp_path: Path) -> None:
        """Thousands of random IPv4 and IPv6 addresses match yacryptopan for the same key."""
        path = tmp_path / "key"
        path.write_bytes(key)
        ours = ip.Anonymise(mode="cryptopan", key_file=str(path), cache_size=0)
        theirs = ReferenceCryptoPAn(key)
        rng = random.Random(key)
        v4 = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(2000)]
        v6 = [str(ipaddress.IPv6Address(rng.getrandbits(128))) for _ in range(300)]
        for address in v4 + v6:
            assert ours.anonymise(address) == str(ipaddress.ip_address(theirs.anonymize(address))), address

    def test_no_two_hosts_share_a_pseudonym_across_the_mapped_range(self, tmp_path: Path) -> None:
        """An ordinary IPv6 address whose Crypto-PAn image lies in ::ffff:0:0/96 does not take a mapped host's.

        Built as an attacker would: the /96 whose images land in the mapped
        range is found bit by bit, then the IPv4 host whose mapped pseudonym
        is the same.
        """
        from deadbeat.ip._cryptopan import CryptoPAn

        key = KEYS[2]
        path = tmp_path / "key"
        path.write_bytes(key)
        cog = ip.Anonymise(mode="cryptopan", key_file=str(path), cache_size=0)
        raw = CryptoPAn(key)
        mapped_prefix = 0xFFFF << 32
        address = 0
        for i in range(96):
            bit = 1 << (127 - i)
            if (raw.anonymise_v6(address) ^ mapped_prefix) & bit:
                address ^= bit
        ordinary = address | 0x01020304
        assert raw.anonymise_v6(ordinary) >> 32 == 0xFFFF  # the plain cipher lands in the mapped range
        wanted = raw.anonymise_v6(ordinary) & 0xFFFFFFFF
        host = 0
        for i in range(32):
            bit = 1 << (31 - i)
            if (raw.anonymise_v4(host) ^ wanted) & bit:
                host ^= bit
        mapped = f"::ffff:{ipaddress.IPv4Address(host)}"
        first = cog.anonymise(str(ipaddress.IPv6Address(ordinary)))
        second = cog.anonymise(mapped)
        assert first != second
        assert not ipaddress.IPv6Address(first).ipv4_mapped

    def test_published_example(self) -> None:
        """The key 0..31 maps 192.0.2.1 as the reference implementation does."""
        cog = ip.Anonymise(mode="cryptopan", key_file=str(KEY_FILE))
        assert cog.anonymise("192.0.2.1") == "2.90.93.17"

    @settings(max_examples=300)
    @given(st.ip_addresses(v=4), st.ip_addresses(v=4))
    def test_shared_prefixes_stay_shared_and_no_longer_v4(
        self, first: ipaddress.IPv4Address, second: ipaddress.IPv4Address
    ) -> None:
        """Two IPv4 addresses share exactly as many leading bits after as before."""
        self._check_prefix(int(first), int(second), 4, 32)

    @settings(max_examples=100)
    @given(st.ip_addresses(v=6), st.ip_addresses(v=6))
    def test_shared_prefixes_stay_shared_and_no_longer_v6(
        self, first: ipaddress.IPv6Address, second: ipaddress.IPv6Address
    ) -> None:
        """Two IPv6 addresses share exactly as many leading bits after as before.

        IPv4-mapped addresses are IPv4 space (see TestMappedAddresses), so they are left out.
        """
        assume(first.ipv4_mapped is None and second.ipv4_mapped is None)
        self._check_prefix(int(first), int(second), 6, 128)

    @staticmethod
    def _check_prefix(a: int, b: int, version: int, width: int) -> None:
        cog = ip.Anonymise(mode="cryptopan", key_file=str(KEY_FILE))

        def common(x: int, y: int) -> int:
            return width - (x ^ y).bit_length()

        anon_a = int(ipaddress.ip_address(cog.anonymise(ip.format_address(version, a))))
        anon_b = int(ipaddress.ip_address(cog.anonymise(ip.format_address(version, b))))
        assert common(anon_a, anon_b) == common(a, b)

    def test_idea_lists_are_anonymised_in_place(self) -> None:
        """Every address in an IDEA event's Source and Target lists is replaced."""
        cog = ip.Anonymise(
            fields=["Source.*.IP4", "Source.*.IP6", "Target.*.IP4"], mode="cryptopan", key_file=str(KEY_FILE)
        )
        event = {"Source": [{"IP4": ["192.0.2.1"], "IP6": ["2001:db8::1"]}], "Target": [{"IP4": ["192.0.2.1"]}]}
        (out,) = cog(event)
        assert out["Source"][0]["IP4"] == ["2.90.93.17"] == out["Target"][0]["IP4"]
        assert out["Source"][0]["IP6"] != ["2001:db8::1"]


class TestKeys:
    @pytest.mark.parametrize("mode", ["hash", "cryptopan"])
    def test_a_mapping_or_nested_list_where_an_address_goes_names_the_field(self, tmp_path: Path, mode: str) -> None:
        """The keyed modes said only "unhashable type: 'dict'"; now as truncation does: the field and the value."""
        key = tmp_path / "k.key"
        key.write_bytes(os.urandom(32).hex().encode())
        os.chmod(key, 0o600)
        cog = ip.Anonymise(fields="ip", mode=mode, key_file=str(key))
        out, records = send_through([cog], [{"id": 1, "ip": {"a": 1}}, {"id": 2, "ip": ["1.2.3.4", ["5.6.7.8"]]}])
        assert out == []
        assert [str(r.error) for r in records] == [
            "field 'ip': {'a': 1} is not text",
            "field 'ip': ['5.6.7.8'] is not text",
        ]

    def test_two_key_sources_or_two_address_sources_are_refused(self, tmp_path: Path) -> None:
        """Which one would be used was a guess: key_file with key_env, fields with ip_getter, each refused."""
        key = tmp_path / "k.key"
        key.write_bytes(os.urandom(32))
        os.chmod(key, 0o600)
        with pytest.raises(ValueError, match="give key_file or key_env, not both"):
            ip.Anonymise(mode="hash", key_file=str(key), key_env="SOME_KEY")
        with pytest.raises(ValueError, match="give fields or ip_getter, not both"):
            ip.Anonymise(fields="src", ip_getter="dst")

    def test_wrong_size_is_a_clear_error_at_start(self, tmp_path: Path) -> None:
        """A Crypto-PAn key of the wrong size stops construction, naming the file and sizes."""
        path = tmp_path / "short.key"
        path.write_bytes(b"x" * 20)
        with pytest.raises(
            ip.KeyFileError,
            match=r"short.key: the key must be 32 bytes, written as 64 hex digits or as 32 raw bytes; it holds 20 ",
        ):
            ip.Anonymise(mode="cryptopan", key_file=str(path))

    def test_hex_key_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A key in an environment variable, as 64 hex digits, works like the raw file."""
        monkeypatch.setenv("DEADBEAT_TEST_KEY", bytes(range(32)).hex())
        cog = ip.Anonymise(mode="cryptopan", key_env="DEADBEAT_TEST_KEY")
        assert cog.anonymise("192.0.2.1") == "2.90.93.17"

    def test_missing_sources(self, tmp_path: Path) -> None:
        """No key, an unset variable or a missing file are named."""
        with pytest.raises(ip.KeyFileError, match="no key given"):
            ip.Anonymise(mode="hash")
        with pytest.raises(ip.KeyFileError, match="DEADBEAT_NOT_SET is not set"):
            ip.Anonymise(mode="hash", key_env="DEADBEAT_NOT_SET")
        with pytest.raises(ip.KeyFileError, match="key_file names no file"):
            ip.Anonymise(mode="hash", key_file=str(tmp_path / "nope"))

    def test_key_never_shows(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """Neither str(cog) nor the logs of a failing datum contain the key."""
        caplog.set_level(logging.DEBUG)
        secret = b"S3CRETKEYMATERIAL-0123456789abcd"
        path = tmp_path / "k"
        path.write_bytes(secret)
        cog = ip.Anonymise(mode="cryptopan", key_file=str(path))
        run_train([cog], [{"ip": "not an address"}, {"ip": "192.0.2.1"}])
        assert "S3CRET" not in str(cog) and "S3CRET" not in caplog.text
        assert str(path) in str(cog)

    def test_hash_mode_is_keyed_and_keeps_the_version(self, tmp_path: Path) -> None:
        """The keyed hash maps an address to one of the same version, differently per key."""
        one, two = tmp_path / "1", tmp_path / "2"
        one.write_bytes(b"a" * 16)
        two.write_bytes(b"b" * 16)
        first, second = ip.Anonymise(mode="hash", key_file=str(one)), ip.Anonymise(mode="hash", key_file=str(two))
        assert first.anonymise("192.0.2.1") == first.anonymise("192.0.2.1") != second.anonymise("192.0.2.1")
        assert ipaddress.ip_address(first.anonymise("2001:db8::1")).version == 6


prefix_lists = st.lists(
    st.tuples(st.ip_addresses(v=4), st.integers(0, 32), st.sampled_from(["a", "b", "c"])), min_size=1, max_size=30
)


class TestPrefixTable:
    @settings(max_examples=200)
    @given(prefix_lists, st.lists(st.ip_addresses(v=4), min_size=1, max_size=30))
    def test_longest_prefix_match_equals_brute_force(self, prefixes: list[Any], probes: list[Any]) -> None:
        """For any prefixes and addresses, the label is that of the longest containing prefix."""
        networks = [(ipaddress.ip_network(f"{a}/{n}", strict=False), label) for a, n, label in prefixes]
        table = ip.PrefixTable((str(net), label) for net, label in networks)
        # Among equal networks the last one given wins, as in the table.
        for probe in (
            probes + [net.network_address for net, _ in networks] + [net.broadcast_address for net, _ in networks]
        ):
            best = None
            for net, label in networks:
                if probe in net and (best is None or net.prefixlen >= best[0].prefixlen):
                    best = (net, label)
            expected = {label for net, label in networks if best is not None and net == best[0]}
            got = table.lookup(4, int(probe))
            assert (got is None and best is None) or got in expected

    def test_both_versions_in_one_table(self) -> None:
        """IPv4 and IPv6 prefixes do not disturb each other."""
        table = ip.PrefixTable([("0.0.0.0/0", "v4"), ("::/0", "v6"), ("2001:db8::/32", "doc")])
        assert table.lookup(4, int(ipaddress.ip_address("8.8.8.8"))) == "v4"
        assert table.lookup(6, int(ipaddress.ip_address("2001:db8::5"))) == "doc"
        assert table.lookup(6, 1) == "v6"

    def test_an_ipv4_mapped_address_falls_in_its_ipv4_prefix(self) -> None:
        """::ffff:10.1.2.3 is the IPv4 host 10.1.2.3, as ip.anonymise takes it."""
        table = ip.PrefixTable([("10.0.0.0/8", "internal"), ("::/0", "v6")])
        assert table.lookup_text("::ffff:10.1.2.3") == "internal"
        assert table.lookup_text("::ffff:192.0.2.1") is None
        assert table.lookup_text("2001:db8::1") == "v6"

    def test_a_listed_mapped_network_is_its_ipv4_network(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """::ffff:10.0.0.0/104 on a list catches 10.1.2.3 and ::ffff:10.1.2.3; before, it caught nothing."""
        listed = tmp_path / "mapped.txt"
        listed.write_text("::ffff:10.0.0.0/104 mapped\n::ffff:0:0/96 rest\n2001:db8::/32 doc\n")
        with caplog.at_level(logging.WARNING, logger="deadbeat.ip"):
            table = ip.load_lists({"x": str(listed)})
        assert "host bits" not in caplog.text
        assert table.lookup_text("10.1.2.3") == table.lookup_text("::ffff:10.1.2.3") == "mapped"
        assert table.lookup_text("192.0.2.1") == table.lookup_text("::ffff:192.0.2.1") == "rest"
        assert table.lookup_text("2001:db8::1") == "doc"
        assert table.lookup_text("::1") is None

    def test_of_a_network_listed_twice_the_later_label_wins(self, tmp_path: Path) -> None:
        """As the warning says, whatever the labels' alphabetical order (before, the last in it won)."""
        first, second = tmp_path / "first.txt", tmp_path / "second.txt"
        first.write_text("10.0.0.0/8 zed\n")
        second.write_text("::ffff:10.0.0.0/104 alpha\n")
        assert ip.load_lists({"a": str(first), "b": str(second)}).lookup_text("10.9.9.9") == "alpha"
        assert ip.load_lists({"a": str(second), "b": str(first)}).lookup_text("10.9.9.9") == "zed"

    def test_lists_say_what_they_would_otherwise_guess(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """A label of two words is refused; host bits and a prefix listed twice are said, naming the lines."""
        spaced = tmp_path / "spaced.txt"
        spaced.write_text("172.16.0.0/12 spaced label\n")
        with pytest.raises(ValueError, match="spaced.txt:1: a label is one word, not 'spaced label'"):
            ip.load_lists({"x": str(spaced)})
        first, second = tmp_path / "first.txt", tmp_path / "second.txt"
        first.write_text("10.0.0.0/8 first\n192.168.1.5/24\n")
        second.write_text("10.0.0.0/8 second\n")
        with caplog.at_level(logging.WARNING, logger="deadbeat.ip"):
            table = ip.load_lists({"a": str(first), "b": str(second)})
        assert "first.txt:2: 192.168.1.5/24 has host bits set; taken as 192.168.1.0/24" in caplog.text
        assert "second.txt:1: 10.0.0.0/8 is on" in caplog.text and "labelled 'second' here, which wins" in caplog.text
        assert table.lookup_text("10.9.9.9") == "second"


class TestCIDRTag:
    def test_tag_keep_drop(self, tmp_path: Path) -> None:
        """Tagging sets the label (list name or per-line label); keep and drop filter."""
        lists = tmp_path / "lists.txt"
        lists.write_text("10.0.0.0/8\n10.1.0.0/16 lab  # a comment\n")
        esc = movement.Escapement()
        data = [{"ip": "10.2.0.1"}, {"ip": "10.1.2.3"}, {"ip": "8.8.8.8"}]
        tag = ip.CIDRTag(esc, {"internal": str(lists)})
        assert [tag(dict(d))[0]["network"] for d in data] == ["internal", "lab", None]
        keep = ip.CIDRTag(esc, {"internal": str(lists)}, action="keep")
        drop = ip.CIDRTag(esc, {"internal": str(lists)}, action="drop")
        assert [keep(dict(d)) is not None for d in data] == [True, True, False]
        assert [drop(dict(d)) is not None for d in data] == [False, False, True]
        esc.close()

    def test_a_once_run_watches_nothing(self) -> None:
        """With Escapement.once (deadbeat run --once) the lists are loaded but not watched: the run can end."""
        esc = movement.Escapement()
        esc.once = True
        cog = ip.CIDRTag(esc, {"internal": str(LIST_FILE)})
        assert cog({"ip": "10.0.0.1"}) == ({"ip": "10.0.0.1", "network": "internal"},)
        esc.after(5, esc.shutdown, keeps_alive=False)
        started = time.monotonic()
        esc.run()
        esc.close()
        assert time.monotonic() - started < 2

    def test_bad_list_names_file_and_line(self, tmp_path: Path) -> None:
        """A bad network in a list file is an error naming the file and line."""
        lists = tmp_path / "bad.txt"
        lists.write_text("10.0.0.0/8\nnot-a-net\n")
        with pytest.raises(ValueError, match="bad.txt:2"):
            ip.CIDRTag(movement.DummyEscapement(), {"x": str(lists)})

    def test_reload_on_sighup_and_on_file_change(self, tmp_path: Path) -> None:
        """Editing a list file, or SIGHUP, changes the labels without a restart; a broken edit keeps the old list."""
        lists = tmp_path / "lists.txt"
        lists.write_text("10.0.0.0/8\n")
        esc = movement.Escapement()
        cog = ip.CIDRTag(esc, {"first": str(lists)})
        movement.Train(esc, [cog])
        seen: list[Any] = []

        def probe() -> None:
            seen.append(cog({"ip": "10.0.0.1"})[0]["network"])

        def edit(text: str) -> None:
            temporary = tmp_path / ".lists.tmp"
            temporary.write_text(text)
            os.rename(temporary, lists)

        esc.after(0.05, probe)
        esc.after(0.1, edit, "10.0.0.0/8 edited\n")
        esc.after(0.4, probe)
        esc.after(0.45, edit, "garbage\n")
        esc.after(0.8, probe)
        esc.after(0.85, lists.write_text, "10.0.0.0/8 hup\n")
        # Written in place without a rename: this time SIGHUP tells the cog.
        esc.after(0.9, os.kill, os.getpid(), signal.SIGHUP)
        esc.after(1.2, probe)
        esc.after(1.3, esc.shutdown)
        esc.run()
        esc.close()
        assert seen == ["first", "edited", "edited", "hup"]


class TestGettersAndSetters:
    """Every ip cog takes callables where the manual says getter and setter, not only paths."""

    def test_parse_and_anonymise_with_itemgetter_and_itemsetter(self) -> None:
        """operator.itemgetter/movement.itemsetter place the address anywhere, even in a list datum."""
        import operator

        parse = ip.IPParse(ip_getter=operator.itemgetter(1), ip_setter=movement.itemsetter(2))
        anonymise = ip.Anonymise(ip_getter=operator.itemgetter(2), ip_setter=movement.itemsetter(3))
        out = run_train([parse, anonymise], [["x", "2001:DB8::1", None, None]])
        assert out.data == [["x", "2001:DB8::1", "2001:db8::1", "2001:db8::"]]

    def test_a_path_getter_writes_back_in_place(self) -> None:
        """With a path as ip_getter and no ip_setter, the result goes back to the same place."""
        out = run_train([ip.Anonymise(ip_getter="src.addr")], [{"src": {"addr": "192.0.2.77"}}])
        assert out.data == [{"src": {"addr": "192.0.2.0"}}]

    def test_callable_getter_needs_a_setter(self) -> None:
        """A callable getter without a setter is refused at construction, saying what is missing."""
        import operator

        with pytest.raises(TypeError, match="give ip_setter"):
            ip.Anonymise(ip_getter=operator.itemgetter("src"))

    def test_cidr_reads_through_a_callable(self, tmp_path: Path) -> None:
        """ip.cidr takes a callable getter for the address and a callable setter for the label."""
        lists = tmp_path / "lists.txt"
        lists.write_text("10.0.0.0/8\n")
        esc = movement.Escapement()
        tag = ip.CIDRTag(
            esc, {"internal": str(lists)}, ip_getter=lambda d: d["pair"][0], target=movement.itemsetter("label")
        )
        assert tag({"pair": ["10.9.9.9", "x"]}) == ({"pair": ["10.9.9.9", "x"], "label": "internal"},)
        esc.close()

    def test_config_insert_is_derived_from_the_signature(self) -> None:
        """anonymise_base_config is the cog's declaration: every parameter, its default and its meaning."""
        insert = ip.anonymise_base_config
        assert insert.name == "anonymise"
        assert insert.children["mode"].default == "truncate"
        assert "Crypto-PAn" not in insert.children["v4_prefix"].description
        assert insert.children["v4_prefix"].description.startswith("IPv4 bits kept")
        text = insert.to_toml()
        assert "[anonymise]" in text and 'mode = "truncate"' in text


def _cogs_at(fields: str, **params: Any) -> list[Any]:
    """One cog of each kind reading ``fields``: ip.parse, ip.anonymise, ip.cidr."""
    return [
        ip.IPParse(fields=fields, **params),
        ip.Anonymise(fields=fields, **params),
        ip.CIDRTag(movement.DummyEscapement(), {"internal": str(LIST_FILE)}, fields=fields, **params),
    ]


class TestFieldPaths:
    """A path that cannot apply is an error; a missing field is skipped (and counted) or refused."""

    def test_a_number_is_a_position_in_a_list_datum(self) -> None:
        """fields="2" on a list datum reaches its third item, as movement paths do."""
        out, records = send_through([ip.Anonymise(fields="2")], [["a", "b", "192.0.2.1"], ["a", "b", ["10.1.2.3"]]])
        assert not records
        assert out == [["a", "b", "192.0.2.0"], ["a", "b", ["10.1.2.0"]]]
        out, _ = send_through([ip.Anonymise(fields="Source.0.IP4.-1")], [{"Source": [{"IP4": ["x", "10.1.2.3"]}]}])
        assert out == [{"Source": [{"IP4": ["x", "10.1.2.0"]}]}]

    @pytest.mark.parametrize(
        ("fields", "datum", "reason"),
        [
            ("ip", ["192.0.2.1"], "field 'ip' cannot apply: the datum is a list: 'ip' is no position in it"),
            ("0", {"ip": "192.0.2.1"}, "field '0' cannot apply: the datum is a mapping without the key '0'"),
            (
                "Source.0.IP4",
                {"Source": {"IP4": ["192.0.2.1"]}},
                "field 'Source.0.IP4' cannot apply: 'Source' is a mapping without the key '0'",
            ),
            (
                "Source.IP4",
                {"Source": [{"IP4": ["192.0.2.1"]}]},
                "field 'Source.IP4' cannot apply: 'Source' is a list: 'IP4' is no position in it",
            ),
            ("ip.addr", {"ip": "192.0.2.1"}, "field 'ip.addr' cannot apply: 'ip' is text, not a mapping or a list"),
            ("ip", "192.0.2.1", "field 'ip' cannot apply: the datum is text, not a mapping or a list"),
            ("Source.*.IP4", {"Source": "192.0.2.1"}, "field 'Source.*.IP4' cannot apply: 'Source' is text"),
            ("Source.*.IP4", {"Source": [["192.0.2.1"]]}, "'Source.*' is a list: 'IP4' is no position in it"),
        ],
    )
    def test_a_path_that_cannot_apply_sends_the_datum_to_the_error_output(
        self, fields: str, datum: Any, reason: str
    ) -> None:
        """A key into a list, a number into a mapping without it, a step into text: an error naming the path.

        Whatever ``missing`` says, and for all three cogs; the datum leaves unchanged.
        """
        for missing in ("skip", "error"):
            for cog in _cogs_at(fields, missing=missing):
                out, records = send_through([cog], [copy.deepcopy(datum)])
                assert out == [], cog
                assert len(records) == 1, cog
                assert isinstance(records[0].error, ip.FieldShapeError), cog
                assert reason in str(records[0].error), cog
                assert records[0].datum == datum, cog
                assert not any(cog.counts.values()), cog

    def test_missing_fields_are_skipped_and_counted_per_field(self) -> None:
        """missing="skip": a datum without the field passes untouched, counted under 'data without FIELD'."""
        data = [{"ip": "192.0.2.1"}, {"other": 1}, {"ip": ["10.1.2.3"]}, {}]
        for cog in _cogs_at("ip"):
            out, records = send_through([cog], [dict(d) for d in data])
            assert not records, cog
            assert len(out) == len(data), cog
            assert cog.counts == {"data without ip": 2}, cog
        anonymise = ip.Anonymise(fields=["a", "b.c"])
        out, _ = send_through([anonymise], [{"a": "192.0.2.1"}, {"b": {"c": "192.0.2.9"}}, {"b": {}}])
        assert out == [{"a": "192.0.2.0"}, {"b": {"c": "192.0.2.0"}}, {"b": {}}]
        assert anonymise.counts == {"data without a": 2, "data without b.c": 2}

    def test_the_fast_path_counts_too(self) -> None:
        """The inlined one-plain-key path of ip.anonymise counts a datum without the key, and a short list."""
        cog = ip.Anonymise(fields="1", mode="truncate")
        assert cog({"1": "192.0.2.7"}) == ({"1": "192.0.2.0"},)
        assert cog(["a", "192.0.2.7"]) == (["a", "192.0.2.0"],)
        with pytest.raises(ip.FieldShapeError, match="the datum is a mapping without the key '1'"):
            cog({"2": "192.0.2.7"})
        cog = ip.Anonymise(fields="ip", mode="truncate")
        for datum in ({"ip": "192.0.2.7"}, {"src": "192.0.2.7"}, {"src": "192.0.2.7"}):
            cog(datum)
        assert cog.counts == {"data without ip": 2}
        short = ip.Anonymise(fields="3")
        assert short(["a"]) == (["a"],) and short.counts == {"data without 3": 1}

    def test_idea_wildcards_pass_over_records_without_the_key(self) -> None:
        """Source.*.IP4 skips a Source without IP4; an event where it reaches nothing is counted."""
        cog = ip.Anonymise(fields=["Source.*.IP4", "Source.*.IP6"], mode="truncate", v6_prefix=32)
        events = [
            {"ID": "1", "Source": [{"IP4": ["192.0.2.1"]}, {"IP6": ["2001:db8:1::1"]}, {"Port": [22]}]},
            {"ID": "2", "Source": [{"Port": [22]}]},
            {"ID": "3", "Source": []},
            {"ID": "4"},
        ]
        out, records = send_through([cog], events)
        assert not records
        assert out[0]["Source"] == [{"IP4": ["192.0.2.0"]}, {"IP6": ["2001:db8::"]}, {"Port": [22]}]
        assert cog.counts == {"data without Source.*.IP4": 3, "data without Source.*.IP6": 3}

    def test_missing_error_refuses_a_datum_without_the_field(self) -> None:
        """missing="error": a datum without the field goes to the error output, naming it; none is counted."""
        for cog in _cogs_at("Source.*.IP4", missing="error"):
            out, records = send_through([cog], [{"ID": "e1", "Source": [{"IP6": ["2001:db8::1"]}]}])
            assert out == [] and [r.event_id for r in records] == ["e1"], cog
            assert isinstance(records[0].error, ip.MissingFieldError)
            assert "field 'Source.*.IP4' is missing from this datum" in str(records[0].error)
            assert not any(cog.counts.values())
        fast = ip.Anonymise(missing="error")
        with pytest.raises(ip.MissingFieldError, match="field 'ip' is missing"):
            fast({"src": "192.0.2.1"})

    def test_nothing_is_written_when_a_later_field_fails(self) -> None:
        """Several fields: a bad address in the second leaves the first as it came."""
        out, records = send_through([ip.Anonymise(fields=["a", "b"])], [{"a": "192.0.2.1", "b": "bogus"}])
        assert out == [] and records[0].datum == {"a": "192.0.2.1", "b": "bogus"}

    def test_callable_getters_report_missing_with_lookup_errors(self) -> None:
        """A callable getter's KeyError or IndexError is a missing field; its TypeError is an error."""
        import operator

        cog = ip.Anonymise(ip_getter=operator.itemgetter("src"), ip_setter=movement.itemsetter("src"))
        out, records = send_through([cog], [{"src": "192.0.2.1"}, {"dst": "x"}, ["192.0.2.1"]])
        assert out == [{"src": "192.0.2.0"}, {"dst": "x"}]
        assert len(records) == 1 and isinstance(records[0].error, TypeError)
        assert cog.counts == {"data without operator.itemgetter('src')": 1}

    def test_missing_is_a_declared_setting_of_every_ip_cog(self) -> None:
        """missing = skip | error, with its meaning, in each cog's declaration; other values are refused."""
        from deadbeat import conf

        for cls in (ip.IPParse, ip.Anonymise, ip.CIDRTag):
            _, declared = conf.declared_parameters(cls)
            (missing,) = [d for d in declared if d.name == "missing"]
            assert missing.default == "skip"
            assert "skip" in missing.doc and "error" in missing.doc and "data without FIELD" in missing.doc
            with pytest.raises(ValueError):
                missing.cast("ignore")
        with pytest.raises(ValueError, match="missing must be one of skip, error"):
            ip.Anonymise(missing="ignore")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="missing must be one of skip, error"):
            ip.IPParse(missing="ignore")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="missing must be one of skip, error"):
            ip.CIDRTag(movement.DummyEscapement(), {}, missing="ignore")  # type: ignore[arg-type]

    def test_the_run_summary_shows_how_many_data_lacked_the_field(self, tmp_path: Path) -> None:
        """`deadbeat run` ends with each ip cog's count of data without the field."""
        out_file = tmp_path / "out.json"
        (tmp_path / "feed.py").write_text(
            textwrap.dedent(
                f'''
                import json
                from deadbeat import movement

                class Feed(movement.Supply):
                    """Send three events, one without an address."""

                    def __init__(self, esc: movement.Escapement) -> None:
                        self.esc = esc
                        esc.enqueue(self.produce)

                    def produce(self):
                        return [{{"ID": "a", "ip": "192.0.2.1"}}, {{"ID": "b"}}, {{"ID": "c", "ip": "10.9.8.7"}}]

                class Keep(movement.Cog):
                    """Write what arrives."""

                    def __init__(self) -> None:
                        self.seen = []

                    def __call__(self, data):
                        self.seen.append(data)
                        with open({str(out_file)!r}, "w") as handle:
                            json.dump(self.seen, handle)
                        return (data,)
                '''
            )
        )
        pipeline = tmp_path / "pipeline.toml"
        pipeline.write_text(
            textwrap.dedent(
                f"""
                [log]
                level = "info"
                [[cog]]
                use = "feed:Feed"
                [[cog]]
                use = "ip.parse"
                [[cog]]
                use = "ip.anonymise"
                [[cog]]
                use = "ip.cidr"
                lists = {{internal = "{LIST_FILE}"}}
                action = "drop"
                [[cog]]
                use = "feed:Keep"
                """
            )
        )
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--once", "--quiet"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(out_file.read_text()) == [{"ID": "a", "ip": "192.0.2.0"}, {"ID": "b"}]
        for position, name in ((1, "IPParse("), (2, "Anonymise("), (3, "CIDRTag(")):
            lines = [line for line in result.stderr.splitlines() if f"cog[{position}] {name}" in line]
            assert len(lines) == 1, result.stderr
            assert lines[0].endswith(": data without ip 1"), lines[0]


MAPPED_KEY_FILE = SCRATCH / "hash.key"
MAPPED_KEY_FILE.write_bytes(b"a hash key of more than sixteen bytes")
MAPPED_COGS = {
    "truncate/8": ip.Anonymise(mode="truncate", v4_prefix=8),
    "truncate/13": ip.Anonymise(mode="truncate", v4_prefix=13),
    "truncate/24": ip.Anonymise(mode="truncate", v4_prefix=24),
    "truncate/32": ip.Anonymise(mode="truncate", v4_prefix=32),
    "cryptopan": ip.Anonymise(mode="cryptopan", key_file=str(KEY_FILE)),
    "cryptopan, no cache": ip.Anonymise(mode="cryptopan", key_file=str(KEY_FILE), cache_size=0),
    "hash": ip.Anonymise(mode="hash", key_file=str(MAPPED_KEY_FILE)),
}


class TestMappedAddresses:
    """::ffff:a.b.c.d is anonymised as a.b.c.d, and stays mapped."""

    @settings(max_examples=300)
    @given(st.ip_addresses(v=4), st.sampled_from(sorted(MAPPED_COGS)))
    def test_both_spellings_of_one_host_get_the_same_ipv4_part(self, address: ipaddress.IPv4Address, mode: str) -> None:
        """For any IPv4 A, anonymising A and ::ffff:A gives the same IPv4 part, in the mapped spelling."""
        cog = MAPPED_COGS[mode]
        plain = cog.anonymise(str(address))
        mapped = cog.anonymise(f"::ffff:{address}")
        assert mapped == f"::ffff:{plain}"
        assert ipaddress.IPv6Address(mapped).ipv4_mapped == ipaddress.IPv4Address(plain)
        assert cog.anonymise(f"[::FFFF:{address}]:8080") == f"[::ffff:{plain}]:8080"
        # The hexadecimal spelling of the same mapped address is the same address.
        hex_spelling = f"::ffff:{int(address) >> 16:x}:{int(address) & 0xFFFF:x}"
        assert cog.anonymise(hex_spelling) == mapped

    def test_truncation_uses_the_ipv4_prefix(self) -> None:
        """v6_prefix=48 would zero a mapped address entirely; it is truncated as IPv4 instead."""
        cog = ip.Anonymise(v4_prefix=24, v6_prefix=48)
        (out,) = cog({"ip": ["::ffff:192.0.2.77", "192.0.2.77", "2001:db8:1:2::1"]})
        assert out == {"ip": ["::ffff:192.0.2.0", "192.0.2.0", "2001:db8:1::"]}


class TestEmbeddedIPv4:
    """An IPv4 address carried inside an IPv6 one keeps no more than v4_prefix bits when truncated."""

    @settings(max_examples=300)
    @given(
        st.ip_addresses(v=4),
        st.integers(0, 32),
        st.integers(0, 128),
        st.sampled_from(["6to4", "teredo", "nat64", "compatible", "isatap"]),
        st.integers(0, (1 << 64) - 1),
    )
    def test_no_more_of_the_ipv4_address_is_left_than_v4_prefix(
        self, address: ipaddress.IPv4Address, v4_prefix: int, v6_prefix: int, kind: str, noise: int
    ) -> None:
        """6to4 (2002:AABB:CCDD::/48 holds all of it), Teredo, NAT64, IPv4-compatible, ISATAP."""
        v4 = int(address)
        if kind == "6to4":
            value, offset = (0x2002 << 112) | (v4 << 80) | (noise & ((1 << 80) - 1)), 16
        elif kind == "teredo":
            value, offset = (0x20010000 << 96) | ((noise & ((1 << 64) - 1)) << 32) | (v4 ^ 0xFFFFFFFF), 96
        elif kind == "nat64":
            value, offset = (0x64FF9B << 96) | v4, 96
        elif kind == "compatible":
            assume(v4 >> 16)
            value, offset = v4, 96
        else:
            value, offset = ((noise >> 32) << 64) | (0x5EFE << 32) | v4, 96
        cog = ip.Anonymise(v4_prefix=v4_prefix, v6_prefix=v6_prefix)
        out = int(ipaddress.IPv6Address(cog.anonymise(str(ipaddress.IPv6Address(value)))))
        kept = min(v6_prefix, offset + v4_prefix)
        assert out == value & (((1 << kept) - 1) << (128 - kept))
        # Of the bits that held the IPv4 address, none after the first v4_prefix is left.
        region = (out >> (128 - offset - 32)) & 0xFFFFFFFF
        assert region & ((1 << (32 - v4_prefix)) - 1) == 0

    def test_the_default_hides_a_6to4_host(self) -> None:
        cog = ip.Anonymise(fields="ip")
        (out,) = cog({"ip": ["2002:c000:0201::1", "2002:c000:0201:7::9", "2001:db8:1:2::1"]})
        assert out == {"ip": ["2002:c000:200::", "2002:c000:200::", "2001:db8:1::"]}

    def test_other_addresses_keep_v6_prefix(self) -> None:
        cog = ip.Anonymise(v6_prefix=128)
        for text in ("2001:db8:1:2::1", "::1", "::", "fe80::1", "2001:db8::5eff:1:2"):
            assert cog.anonymise(text) == str(ipaddress.IPv6Address(text))


class TestZones:
    """An IPv6 zone is kept as written, never dropped; IPv4 addresses, networks and ranges take none."""

    @pytest.mark.parametrize(
        ("text", "canonical"),
        [
            ("FE80::1%eth0", "fe80::1%eth0"),
            ("fe80::1%br-lan", "fe80::1%br-lan"),
            ("fe80::1%eth0.100", "fe80::1%eth0.100"),
            ("[FE80::1%3]:443", "[fe80::1%3]:443"),
        ],
    )
    def test_parse_keeps_the_zone(self, text: str, canonical: str) -> None:
        """ip.parse writes the address canonically and the zone as it was."""
        out, records = send_through([ip.IPParse()], [{"ip": text}])
        assert not records and out == [{"ip": canonical}]

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("fe80::1%", "the zone after '%' must be one or more letters"),
            ("fe80::1%eth 0", "the zone after '%' must be one or more letters"),
            ("192.0.2.1%eth0", "only an IPv6 address takes a zone"),
            ("fe80::/64%eth0", "networks and ranges take no zone"),
            ("fe80::1%eth0-fe80::9%eth0", "networks and ranges take no zone"),
        ],
    )
    def test_parse_refuses_what_it_cannot_keep(self, text: str, reason: str) -> None:
        """A zone that is empty or not a name, or on what takes none, is an error, not dropped."""
        out, records = send_through([ip.IPParse()], [{"ip": text}])
        assert out == [] and reason in str(records[0].error)

    @pytest.mark.parametrize("mode", sorted(MAPPED_COGS))
    def test_anonymise_keeps_the_zone_after_the_anonymised_address(self, mode: str) -> None:
        """The address is anonymised as without its zone; the zone follows it, with the port if any."""
        cog = MAPPED_COGS[mode]
        bare = cog.anonymise("fe80::1:2:3:4")
        assert cog.anonymise("fe80::1:2:3:4%eth0") == f"{bare}%eth0"
        assert cog.anonymise("[fe80::1:2:3:4%wlan0]:22") == f"[{bare}%wlan0]:22"
        with pytest.raises(ip.AddressError, match="only an IPv6 address takes a zone"):
            cog.anonymise("192.0.2.1%eth0")

    def test_cidr_looks_up_the_address_of_a_zoned_one(self, tmp_path: Path) -> None:
        """fe80::1%eth0 is in fe80::/10."""
        lists = tmp_path / "lists.txt"
        lists.write_text("fe80::/10 link-local\n")
        tag = ip.CIDRTag(movement.DummyEscapement(), {"x": str(lists)})
        assert tag({"ip": "fe80::1%eth0"}) == ({"ip": "fe80::1%eth0", "network": "link-local"},)


HEX_KEY = "3f7a09c2d15e48b6a0c4e2f19d7b3a5c6e8f0a1b2c3d4e5f60718293a4b5c6d7"
BASE64_KEY = "P3oJwtFeSLagxOLxnXs6XG6PChssPU5fYHGCk6S1xtc="


class TestPastedKeys:
    """A key pasted into key_env or key_file instead of a name or path is refused and never shown."""

    @pytest.mark.parametrize("mode", ["cryptopan", "hash", "truncate"])
    @pytest.mark.parametrize("parameter", ["key_env", "key_file"])
    @pytest.mark.parametrize(
        "key", [HEX_KEY, HEX_KEY.upper(), BASE64_KEY, " " + HEX_KEY + "\n", "correct horse battery staple"]
    )
    def test_a_pasted_key_appears_in_no_message_and_no_log(
        self, mode: str, parameter: str, key: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Construction fails naming the parameter; neither the exception nor any log record holds the key."""
        caplog.set_level(logging.DEBUG)
        with pytest.raises(ip.KeyFileError, match=f"^{parameter} ") as caught:
            ip.Anonymise(mode=mode, **{parameter: key})  # type: ignore[arg-type]
        self._assert_hidden(key, caught.value, caplog)

    @pytest.mark.parametrize("parameter", ["key_env", "key_file"])
    def test_nor_through_a_pipeline_file(
        self, parameter: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Built from a pipeline file, the cog that cannot start says why, without the key."""
        from deadbeat import pipeline

        caplog.set_level(logging.DEBUG)
        path = tmp_path / "p.toml"
        path.write_text(f'[[cog]]\nuse = "ip.anonymise"\nmode = "cryptopan"\n{parameter} = "{HEX_KEY}"\n')
        with pytest.raises(pipeline.PipelineError, match="cannot start: KeyFileError") as caught:
            pipeline.build(str(path))
        self._assert_hidden(HEX_KEY, caught.value, caplog)

    def test_names_and_files_are_still_named(self, tmp_path: Path) -> None:
        """A variable name, or a file that exists, is shown, to be found, even if its name looks like a key."""
        with pytest.raises(ip.KeyFileError, match="environment variable DEADBEAT_UNSET_KEY is not set"):
            ip.Anonymise(mode="hash", key_env="DEADBEAT_UNSET_KEY")
        with pytest.raises(ip.KeyFileError, match=f"key file {re.escape(str(tmp_path))}: cannot read: Is a directory"):
            ip.Anonymise(mode="cryptopan", key_file=str(tmp_path))
        with pytest.raises(ip.KeyFileError, match="^key_file names no file; the value is not shown") as caught:
            ip.Anonymise(mode="cryptopan", key_file=str(tmp_path / "keys" / "pan.key"))
        assert "pan.key" not in str(caught.value)
        odd_name = tmp_path / "0123456789abcdef0123456789abcdef"
        odd_name.write_bytes(bytes(range(32)))
        assert ip.Anonymise(mode="cryptopan", key_file=str(odd_name)).anonymise("192.0.2.1") == "2.90.93.17"

    @staticmethod
    def _assert_hidden(key: str, error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
        secret = key.strip()
        texts = [str(error), repr(error), str(error.__cause__), str(error.__context__), caplog.text]
        texts += [record.getMessage() for record in caplog.records]
        for text in texts:
            assert secret not in text
            assert secret.lower() not in text.lower()
            assert secret[:16] not in text


class TestKeySizes:
    """A key of the wrong size says what is needed and what the source holds, in hex digits and bytes."""

    @pytest.mark.parametrize(
        ("mode", "content", "expected"),
        [
            ("cryptopan", "0123456789", "it holds 10 hex digits (5 bytes)"),
            ("cryptopan", "ab" * 31 + "a", "it holds 63 hex digits, an odd number (two digits make a byte)"),
            ("cryptopan", "  " + "ab" * 31 + "\n", "it holds 62 hex digits (31 bytes)"),
            ("cryptopan", "ab" * 33, "it holds 66 hex digits (33 bytes)"),
            ("cryptopan", "this is no key at all", "it holds 21 bytes that are not all hex digits"),
            ("cryptopan", "zz" * 32, "it holds 64 bytes that are not all hex digits"),
            ("cryptopan", " ".join(["abcd"] * 16), "with white space between them (write the digits without spaces)"),
            ("cryptopan", "", "it holds nothing"),
            ("cryptopan", "   ", "it holds only white space (3 bytes)"),
            ("hash", "0123456789", "it holds 10 hex digits (5 bytes)"),
            ("hash", "012345678", "it holds 9 hex digits, an odd number"),
            ("hash", "short text", "it holds 10 bytes that are not all hex digits"),
        ],
    )
    def test_environment_keys(self, mode: str, content: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """Several wrong keys from a variable: the message is right about each, and never holds it."""
        monkeypatch.setenv("DEADBEAT_TEST_KEY", content)
        need = (
            "the key must be 32 bytes, written as 64 hex digits or as 32 raw bytes"
            if mode == "cryptopan"
            else "the key must be at least 16 bytes, written as 32 or more hex digits or as text"
        )
        with pytest.raises(ip.KeyFileError) as caught:
            ip.Anonymise(mode=mode, key_env="DEADBEAT_TEST_KEY")  # type: ignore[arg-type]
        message = str(caught.value)
        assert message.startswith(f"environment variable DEADBEAT_TEST_KEY: {need}; ")
        assert message.endswith(expected) or expected in message, message
        if content.strip():
            assert content.strip() not in message

    @pytest.mark.parametrize(
        ("mode", "content", "expected"),
        [
            ("cryptopan", bytes(range(32)) + b"\n", "it holds 33 bytes that are not all hex digits, 1 of them white"),
            ("cryptopan", b"ab" * 16 + b"\n", "it holds 32 hex digits (16 bytes)"),
            ("cryptopan", b"x" * 20, "it holds 20 bytes that are not all hex digits"),
            ("hash", b"0123456789\n", "it holds 11 bytes, 1 of them white space at the ends, 10 of them hex digits"),
            ("hash", b"\x00" * 8, "it holds 8 bytes that are not all hex digits"),
        ],
    )
    def test_file_keys(self, mode: str, content: bytes, expected: str, tmp_path: Path) -> None:
        """Several wrong key files: raw bytes are counted as bytes, hex digits as digits."""
        path = tmp_path / "k"
        path.write_bytes(content)
        with pytest.raises(ip.KeyFileError) as caught:
            ip.Anonymise(mode=mode, key_file=str(path))  # type: ignore[arg-type]
        message = str(caught.value)
        assert message.startswith(f"key file {path}: the key must be ")
        assert expected in message, message
        if mode == "hash":
            assert "taken byte for byte, hex digits or not" in message

    def test_hex_digits_taken_as_text_are_reported(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """32 hex digits make a 32-byte Crypto-PAn key of text, not 16 bytes: it works, with a warning."""
        caplog.set_level(logging.DEBUG)
        key = "0123456789abcdef" * 2
        monkeypatch.setenv("DEADBEAT_TEST_KEY", key)
        cog = ip.Anonymise(mode="cryptopan", key_env="DEADBEAT_TEST_KEY")
        assert cog.anonymise("192.0.2.1") == ip.Anonymise(mode="cryptopan", key_env="DEADBEAT_TEST_KEY").anonymise(
            "192.0.2.1"
        )
        assert "holds 32 hex digits, which are taken as 32 bytes of text, not decoded" in caplog.text
        assert "a key of 32 bytes in hex is 64 digits" in caplog.text
        assert key not in caplog.text


class TestKeyFileModes:
    def test_a_key_file_others_can_read_is_warned_about(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """mode 644 gives a warning naming the file and the mode (never the key); 600 gives none."""
        key_file = tmp_path / "pan.key"
        key_file.write_bytes(bytes(range(32)))
        key_file.chmod(0o644)
        with caplog.at_level(logging.WARNING):
            ip.Anonymise(mode="cryptopan", key_file=str(key_file))
        assert f"key file {key_file} can be read or written by its group or others (mode 644)" in caplog.text
        caplog.clear()
        key_file.chmod(0o600)
        with caplog.at_level(logging.WARNING):
            ip.Anonymise(mode="cryptopan", key_file=str(key_file))
        assert "can be read" not in caplog.text


class TestAnonymiseLists:
    addresses = st.one_of(
        st.ip_addresses(v=4).map(str),
        st.ip_addresses(v=6).map(str),
        st.sampled_from(["not an ip", "192.0.2.1:80", "[2001:db8::1]:443", "::ffff:192.0.2.7", ""]),
    )
    data = st.lists(
        st.one_of(
            st.fixed_dictionaries({"ip": addresses}),
            st.fixed_dictionaries({"ip": st.lists(addresses, max_size=3)}),
            st.just({"other": 1}),
        ),
        max_size=12,
    )

    @given(data, st.sampled_from([("truncate", 24), ("truncate", 16), ("truncate", 20)]))
    @settings(max_examples=150, deadline=None)
    def test_lists_equal_one_call_per_datum(self, data: list[dict[str, Any]], mode: tuple[str, int]) -> None:
        """A list through call_batch gives what one call per datum gives: results, errors, counts."""
        import copy

        by_list = ip.Anonymise(mode=mode[0], v4_prefix=mode[1])
        one_by_one = ip.Anonymise(mode=mode[0], v4_prefix=mode[1])
        listed, listed_errors = send_through([by_list], copy.deepcopy(data))
        single, single_errors = send_through([lambda d: one_by_one(d)], copy.deepcopy(data))
        assert listed == single
        assert [str(r.error) for r in listed_errors] == [str(r.error) for r in single_errors]
        assert by_list.counts == one_by_one.counts
