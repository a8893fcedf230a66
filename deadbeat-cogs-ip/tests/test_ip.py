"""IP cogs: parsing, anonymisation (checked against an independent Crypto-PAn), CIDR lists."""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import re
import signal
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yacryptopan import CryptoPAn as ReferenceCryptoPAn

from deadbeat import ip, movement
from deadbeat.testing import CogConformance, Collector, run_train

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
        """Two IPv6 addresses share exactly as many leading bits after as before."""
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
    def test_wrong_size_is_a_clear_error_at_start(self, tmp_path: Path) -> None:
        """A Crypto-PAn key of the wrong size stops construction, naming the file and sizes."""
        path = tmp_path / "short.key"
        path.write_bytes(b"x" * 20)
        with pytest.raises(ip.KeyFileError, match=r"short.key: the key must be 32 bytes \(or 64 hex digits\), not 20"):
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
        with pytest.raises(ip.KeyFileError, match="cannot read"):
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
