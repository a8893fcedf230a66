"""What a probe of the ip cogs found, each now refused or handled.

* ``ip.geoip`` passed the text to the database's reader, which takes old
  numeric spellings every other ip cog refuses: ``010.1.1.1`` was looked up as
  octal ``8.1.1.1`` (another country), ``127.1`` as ``127.0.0.1``.
* An IPv6 address with an IPv4-only database among the files failed the datum
  as "not an IP address", though the other database knew it.
* A list, database or key file that is a FIFO made ``open()`` wait for a
  writer in the event loop: the daemon stopped, SIGTERM included.
* A list file that is not UTF-8 was refused without its name or line.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from deadbeat import ip, movement
from deadbeat.testing import send_through


def _databases(tmp_path: Path) -> tuple[str, str]:
    both = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Country", languages=["en"])
    both.insert_network(IPSet(["8.0.0.0/8"]), {"country": {"iso_code": "US"}})
    both.insert_network(IPSet(["10.0.0.0/8"]), {"country": {"iso_code": "TEN"}})
    both.insert_network(IPSet(["2001:db8::/32"]), {"country": {"iso_code": "DE"}})
    both.to_db_file(str(tmp_path / "country.mmdb"))
    four = MMDBWriter(ip_version=4, database_type="GeoLite2-ASN", languages=["en"])
    four.insert_network(IPSet(["10.0.0.0/8"]), {"autonomous_system_number": 64500})
    four.to_db_file(str(tmp_path / "asn4.mmdb"))
    return str(tmp_path / "country.mmdb"), str(tmp_path / "asn4.mmdb")


@pytest.mark.parametrize("spelling", ["010.1.1.1", "127.1", "3221225989", "0xc0.0.2.5", "1.2.3"])
def test_geoip_refuses_what_ip_parse_refuses(tmp_path: Path, spelling: str) -> None:
    country, _ = _databases(tmp_path)
    out, records = send_through(
        [ip.GeoIP(movement.DummyEscapement(), database=country, properties=["country_code"])],
        [{"id": "e1", "ip": spelling}],
    )
    assert out == []
    assert [(r.event_id, str(r.error)) for r in records] == [("e1", f"field 'ip': {spelling!r} is not an IP address")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2001:db8::1", {"country_code": "DE"}),
        ("[2001:db8::1]:443", {"country_code": "DE"}),
        ("::ffff:10.1.2.3", {"country_code": "TEN", "asn": 64500}),
        ("10.1.2.3", {"country_code": "TEN", "asn": 64500}),
        ("2001:db9::1", {}),
    ],
)
def test_an_ipv4_only_database_among_the_files_knows_nothing_of_ipv6(
    tmp_path: Path, text: str, expected: dict[str, Any]
) -> None:
    country, asn4 = _databases(tmp_path)
    cog = ip.GeoIP(movement.DummyEscapement(), database=[country, asn4], properties=["country_code", "asn"])
    out, records = send_through([cog], [{"id": "e1", "ip": text}])
    assert records == []
    assert out == [{"id": "e1", "ip": text, "geo": expected}]


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _without_waiting(call: Any) -> BaseException | None:
    """Run ``call`` in a thread: a blocked open would never return (the test fails, it does not hang)."""
    caught: list[BaseException | None] = [None]

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - what is raised is what is looked at
            caught[0] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "opening a FIFO waited for a writer"
    return caught[0]


def test_a_fifo_list_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "nets.cidr")
    error = _without_waiting(lambda: ip.CIDRTag(movement.DummyEscapement(), lists={"nets": str(fifo)}))
    assert error is not None and "is a FIFO: not read" in str(error)


def test_a_fifo_key_file_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "key")
    error = _without_waiting(lambda: ip.Anonymise(fields="ip", mode="cryptopan", key_file=str(fifo)))
    assert error is not None and "is a FIFO" in str(error)


def test_a_fifo_database_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "city.mmdb")
    error = _without_waiting(lambda: ip.GeoIP(movement.DummyEscapement(), database=str(fifo)))
    assert error is not None and "is a FIFO" in str(error)


def test_a_list_that_is_not_utf8_names_the_file_and_line(tmp_path: Path) -> None:
    listed = tmp_path / "b.cidr"
    listed.write_bytes(b"10.0.0.0/8 good\n192.0.2.0/24 caf\xe9\n")
    with pytest.raises(ValueError, match=r"b\.cidr:2: not UTF-8 text"):
        ip.CIDRTag(movement.DummyEscapement(), lists={"nets": str(listed)})


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("::ffff:192.0.2.7/120", "::ffff:192.0.2.0/120"),
        ("10.1.2.3/8", "10.0.0.0/8"),
        ("2001:DB8::1/32", "2001:db8::/32"),
    ],
)
def test_ip_parse_writes_a_network_as_it_writes_an_address(text: str, written: str) -> None:
    """A mapped network came out in hex (::ffff:c000:200/120) while its address came out mapped."""
    (out,) = ip.IPParse()({"ip": text})
    assert out["ip"] == written
