"""ip.geoip against small real MaxMind DB files written by mmdb-writer (no mocked reader)."""

from __future__ import annotations

import ipaddress
import operator
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import maxminddb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from deadbeat import ip, movement
from deadbeat.testing import CogConformance, run_train, send_through

LONDON = {
    "continent": {"code": "EU"},
    "country": {"iso_code": "GB", "names": {"en": "United Kingdom", "de": "Vereinigtes Königreich"}},
    "city": {"names": {"en": "London", "de": "London"}},
    "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
    "postal": {"code": "EC1"},
    "location": {"latitude": 51.5142, "longitude": -0.0931, "time_zone": "Europe/London"},
}
PRAGUE = {
    "continent": {"code": "EU"},
    "country": {"iso_code": "CZ", "names": {"en": "Czechia"}},
    "city": {"names": {"en": "Prague"}},
    "location": {"latitude": 50.088, "longitude": 14.42, "time_zone": "Europe/Prague"},
}
CITY_NETWORKS: dict[str, dict[str, Any]] = {"81.2.69.0/24": LONDON, "2001:db8::/32": PRAGUE}
ASN_NETWORKS: dict[str, dict[str, Any]] = {
    "81.2.69.0/23": {"autonomous_system_number": 20712, "autonomous_system_organization": "Andrews & Arnold Ltd"},
    "2001:db8::/32": {"autonomous_system_number": 2852, "autonomous_system_organization": "CESNET z.s.p.o."},
}


def write_mmdb(path: Path, networks: Mapping[str, Mapping[str, Any]], kind: str = "GeoLite2-City") -> Path:
    """Write a real MaxMind DB file holding ``networks`` (IPv4 ones reachable as IPv4 addresses)."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=kind, languages=["en"])
    for network, record in networks.items():
        writer.insert_network(IPSet([network]), dict(record))
    temporary = path.with_name(f".{path.name}.tmp")
    writer.to_db_file(str(temporary))
    os.replace(temporary, path)  # as geoipupdate does: readers never see half a file
    return path


SCRATCH = Path(tempfile.mkdtemp(prefix="deadbeat-geoip-test-"))
CITY = write_mmdb(SCRATCH / "city.mmdb", CITY_NETWORKS)
ASN = write_mmdb(SCRATCH / "asn.mmdb", ASN_NETWORKS, "GeoLite2-ASN")


class TestGeoIPConformance(CogConformance):
    cog_name = "ip.geoip"
    params = {"database": [str(CITY), str(ASN)]}
    samples = [{"ip": "81.2.69.142"}, {"ip": "10.0.0.1"}, {"src": "2001:db8::1"}]
    flushes_all = True
    failing_samples = [{"ip": "not-an-ip"}, {"ip": 42}]


def geoip(**params: Any) -> ip.GeoIP:
    params.setdefault("database", [str(CITY), str(ASN)])
    return ip.GeoIP(movement.DummyEscapement(), **params)


class TestLookups:
    def test_city_and_asn_databases_merge(self) -> None:
        """An address known to the City and the ASN file gets the properties of both."""
        (out,) = geoip()({"ip": "81.2.69.142"})
        assert out["geo"] == {
            "country_code": "GB",
            "country_name": "United Kingdom",
            "continent_code": "EU",
            "region_code": "ENG",
            "region_name": "England",
            "city": "London",
            "postal_code": "EC1",
            "latitude": 51.5142,
            "longitude": -0.0931,
            "time_zone": "Europe/London",
            "asn": 20712,
            "as_org": "Andrews & Arnold Ltd",
        }

    def test_ipv6_chosen_properties_and_language(self) -> None:
        """IPv6 addresses are found too; properties chooses what is set; names come in the chosen language."""
        cog = geoip(properties=["country_code", "asn", "city"])
        assert cog({"ip": "2001:db8::1"})[0]["geo"] == {"country_code": "CZ", "asn": 2852, "city": "Prague"}
        german = geoip(properties=["country_name"], language="de")
        assert german({"ip": "81.2.69.1"})[0]["geo"] == {"country_name": "Vereinigtes Königreich"}

    def test_only_the_asn_half_of_a_network(self) -> None:
        """81.2.68.0/24 is in the ASN file only: the ASN properties alone."""
        assert geoip()({"ip": "81.2.68.7"})[0]["geo"] == {"asn": 20712, "as_org": "Andrews & Arnold Ltd"}

    def test_unknown_address_gets_an_empty_mapping(self) -> None:
        """A private address is in no database: {} rather than an error."""
        assert geoip()({"ip": "10.1.2.3"})[0]["geo"] == {}

    def test_bad_address_goes_to_the_error_output_naming_the_field(self) -> None:
        """Text that is not an address is an error for its datum only, naming the field; nothing is lost."""
        out, errors = send_through(
            [geoip(fields="src.ip")],
            [{"id": "a", "src": {"ip": "81.2.69.1"}}, {"id": "b", "src": {"ip": "not-an-ip"}}],
        )
        assert [d["id"] for d in out] == ["a"]
        assert len(errors) == 1 and errors[0].event_id == "b"
        assert "src.ip" in str(errors[0].error) and "not-an-ip" in str(errors[0].error)

    def test_a_getter_and_a_setter_as_the_manual_gives_them(self) -> None:
        """The manual's enrichment cog: itemgetter for the address, a setter for the result."""
        cog = geoip(
            ip_getter=operator.itemgetter("src"), target=movement.itemsetter("where"), properties=["country_code"]
        )
        assert cog({"src": "81.2.69.142", "ip": "2001:db8::1"})[0]["where"] == {"country_code": "GB"}
        (many,) = cog({"src": ["81.2.69.142", "2001:db8::1"]})
        assert many["where"] == [{"country_code": "GB"}, {"country_code": "CZ"}]
        with pytest.raises(ValueError, match="not both"):
            geoip(fields="dst", ip_getter="src")

    def test_addresses_with_a_port_or_zone_are_looked_up_as_the_other_ip_cogs_take_them(self) -> None:
        """1.2.3.4:443 and [2001:db8::1]:443 are refused no longer: the address is looked up, as ip.cidr does."""
        cog = geoip(properties=["country_code"])
        assert cog({"ip": "81.2.69.142:443"})[0]["geo"] == {"country_code": "GB"}
        assert cog({"ip": "[2001:db8::1]:443"})[0]["geo"] == {"country_code": "CZ"}

    def test_missing_field_skip_and_error(self) -> None:
        """A datum without the field passes untouched (counted), or is an error with missing = "error"."""
        cog = geoip()
        assert cog({"other": 1}) == ({"other": 1},)
        assert cog.counts == {"data without ip": 1}
        _, errors = send_through([geoip(missing="error")], [{"id": "x"}])
        assert len(errors) == 1 and "ip" in str(errors[0].error)

    def test_lists_of_addresses_get_lists(self) -> None:
        """A field holding several addresses gets one mapping per address, in order."""
        (out,) = geoip(properties=["country_code"])({"ip": ["81.2.69.1", "10.0.0.1", "2001:db8::2"]})
        assert out["geo"] == [{"country_code": "GB"}, {}, {"country_code": "CZ"}]

    def test_results_are_not_shared_between_data(self) -> None:
        """Two data with one address get separate mappings: changing one changes neither the other nor the cache."""
        cog = geoip(properties=["country_code"])
        first = cog({"ip": "81.2.69.1"})[0]
        first["geo"]["country_code"] = "XX"
        assert cog({"ip": "81.2.69.1"})[0]["geo"] == {"country_code": "GB"}

    def test_unknown_property_and_unreadable_file_are_refused(self, tmp_path: Path) -> None:
        """Mistakes in the settings are refused when the cog is built, saying which."""
        with pytest.raises(ValueError, match="unknown"):
            geoip(properties=["planet"])
        junk = tmp_path / "junk.mmdb"
        junk.write_bytes(b"not a database")
        with pytest.raises(ValueError, match="junk.mmdb"):
            geoip(database=str(junk))

    @settings(max_examples=60, deadline=None)
    @given(st.ip_addresses())
    def test_same_answers_as_the_reader(self, address: Any) -> None:
        """For any address, the cog's country and ASN are what maxminddb's reader says."""
        text = str(address)
        (out,) = GEO_ALL({"ip": text})
        city = CITY_READER.get(text) or {}
        asn = ASN_READER.get(text) or {}
        assert out["geo"].get("country_code") == city.get("country", {}).get("iso_code")
        assert out["geo"].get("asn") == asn.get("autonomous_system_number")


GEO_ALL = geoip(cache_size=16)
CITY_READER = maxminddb.open_database(str(CITY))
ASN_READER = maxminddb.open_database(str(ASN))


class TestInATrain:
    def test_whole_lists_equal_one_by_one(self) -> None:
        """The Train's lists give what one call per datum gives."""
        data = [{"id": str(i), "ip": str(ipaddress.ip_address("81.2.68.250") + i)} for i in range(20)]
        batched = run_train([geoip()], [dict(d) for d in data]).data
        single = [geoip()(dict(d))[0] for d in data]
        assert batched == single


def run_steps(esc: movement.Escapement, steps: list[tuple[Callable[[], Any], Callable[[], bool]]]) -> list[bool]:
    """Run the loop once through ``steps``: each action, then wait until its condition holds (20 ms looks).

    A step whose condition does not hold within 10 s is recorded as failed and the next one starts;
    the loop shuts down after the last. :returns: whether each condition held.
    """
    held: list[bool] = []

    def start(index: int) -> None:
        if index == len(steps):
            esc.shutdown()
            return
        action, condition = steps[index]
        action()
        deadline = time.monotonic() + 10.0

        def check() -> None:
            if condition() or time.monotonic() > deadline:
                held.append(condition())
                start(index + 1)
            else:
                esc.after(0.02, check)

        esc.after(0.02, check)

    esc.after(0.01, start, 0)
    esc.run()
    esc.close()
    return held


class TestReload:
    def test_sighup_reads_the_files_again(self, tmp_path: Path) -> None:
        """SIGHUP opens the databases again (for files changed where no watch sees it)."""
        path = write_mmdb(tmp_path / "city.mmdb", {"192.0.2.0/24": {"country": {"iso_code": "AA"}}})
        esc = movement.Escapement()
        cog = ip.GeoIP(esc, str(path), properties=["country_code"])
        movement.Train(esc, [cog])
        for watch in cog._watches:  # only the signal is left to tell the cog
            esc.inotify_rm(watch)
        cog._watches.clear()
        write_mmdb(path, {"192.0.2.0/24": {"country": {"iso_code": "HU"}}})
        held = run_steps(
            esc,
            [
                (
                    lambda: os.kill(os.getpid(), signal.SIGHUP),
                    lambda: cog({"ip": "192.0.2.1"})[0]["geo"] == {"country_code": "HU"},
                )
            ],
        )
        assert held == [True]

    def test_replaced_file_is_read_again_and_a_broken_one_is_not(self, tmp_path: Path) -> None:
        """geoipupdate's rename brings new answers without a restart; a broken file keeps the old ones."""
        path = write_mmdb(tmp_path / "city.mmdb", {"192.0.2.0/24": {"country": {"iso_code": "AA"}}})
        esc = movement.Escapement()
        cog = ip.GeoIP(esc, str(path), properties=["country_code"])
        movement.Train(esc, [cog])
        reloads: list[int] = []
        original = cog.reload

        def counted() -> None:
            original()
            reloads.append(1)

        cog.reload = counted  # type: ignore[method-assign]

        def country() -> Any:
            return cog({"ip": "192.0.2.1"})[0]["geo"].get("country_code")

        def break_file() -> None:
            broken = tmp_path / ".broken"
            broken.write_bytes(b"garbage")
            os.replace(broken, path)

        held = run_steps(
            esc,
            [
                (lambda: None, lambda: country() == "AA"),
                (
                    lambda: write_mmdb(path, {"192.0.2.0/24": {"country": {"iso_code": "BB"}}}),
                    lambda: country() == "BB",
                ),
                (lambda: reloads.clear() or break_file(), lambda: bool(reloads)),
                (lambda: None, lambda: country() == "BB"),
            ],
        )
        assert held == [True, True, True, True]

    @pytest.mark.parametrize("how", ["emptied", "overwritten"])
    def test_a_file_changed_in_place_never_disturbs_the_reader_in_use(self, tmp_path: Path, how: str) -> None:
        """`cp new.mmdb city.mmdb` truncates the file the reader had mapped: the next lookup killed the process
        with SIGBUS; overwritten with other bytes in place, every lookup failed. The reader in use keeps answering.
        Run in a child process, so that a SIGBUS fails this test instead of the whole run."""
        path = write_mmdb(tmp_path / "city.mmdb", {"192.0.2.0/24": {"country": {"iso_code": "AA"}}})
        change = "b''" if how == "emptied" else "b'garbage' * 10000"
        code = textwrap.dedent(
            f"""
            from deadbeat import ip, movement
            cog = ip.GeoIP(movement.DummyEscapement(), {str(path)!r}, properties=["country_code"])
            assert cog({{"ip": "192.0.2.1"}})[0]["geo"] == {{"country_code": "AA"}}
            with open({str(path)!r}, "r+b") as file:  # in place: the same inode, as cp does
                file.truncate(0)
                file.write({change})
            for host in range(1, 4):
                assert cog({{"ip": f"192.0.2.{{host}}"}})[0]["geo"] == {{"country_code": "AA"}}
            print("answered")
            """
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and result.stdout.strip() == "answered", (result.returncode, result.stderr)
