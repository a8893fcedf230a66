"""Syslog lines in and out: RFC 5424 and RFC 3164, real producers, bad and hostile lines, round trips.

* The RFC's own examples, every field and NILVALUE, structured data with
  escapes and repeated names, timestamps to UTC.
* RFC 3164 as daemons write it, the year inferred across New Year, zones and
  summer time (a skipped or repeated hour is an error unless a policy chooses).
* Bad lines: an error naming what is wrong and the column, never a half-read
  datum; hostile lines of a million characters parse in linear time (in a
  subprocess, the guard that nothing hangs).
* Whole lists give what one call per datum gives, failures included.
* Formatting then parsing gives the same fields, for every mapping
  hypothesis makes within the grammar; the writer refuses what it cannot write.
* Real producers: util-linux ``logger`` over a Unix socket and over TCP with
  octet counting, and ``rsyslogd`` (its own instance) writing its file formats.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from deadbeat import movement, text
from deadbeat.testing import CogConformance, send_through
from deadbeat.text import _syslog_grammar as grammar
from deadbeat.text._syslog import SYSLOG_FIELDS

UTC = dt.timezone.utc


def clock_at(year: int, month: int, day: int, hour: int, minute: int) -> Callable[[], float]:
    """A clock standing still at the given UTC time."""
    return itertools.repeat(dt.datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()).__next__


#: Where the tests' clock stands unless they say otherwise.
NOW = clock_at(2026, 11, 27, 12, 0)


def parse(line: Any, **options: Any) -> dict[str, Any]:
    options.setdefault("clock", NOW)
    (fields,) = text.SyslogParse(**options)(line)
    return fields  # type: ignore[no-any-return]


def error_of(line: Any, **options: Any) -> str:
    options.setdefault("clock", NOW)
    with pytest.raises(ValueError) as caught:
        text.SyslogParse(**options)(line)
    return str(caught.value)


def fields(**given: Any) -> dict[str, Any]:
    """The parser's fields: the given ones, the rest none; priority parts derived."""
    out: dict[str, Any] = dict.fromkeys(SYSLOG_FIELDS)
    out.update(given)
    priority = out["priority"]
    if priority is not None:
        out.update(
            facility=priority >> 3,
            severity=priority & 7,
            facility_name=grammar.FACILITIES[priority >> 3],
            severity_name=grammar.SEVERITIES[priority & 7],
        )
    return out


class TestSyslogParseConformance(CogConformance):
    cog_name = "text.syslog_parse"
    params = {"format": "auto", "timezone": "UTC"}
    samples = [
        '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3"] hi',
        "<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
        {"id": "f:0", "line": "<13>1 - - - - - -"},
    ]
    flushes_all = True


class TestSyslogFormatConformance(CogConformance):
    cog_name = "text.syslog_format"
    params = {"format": "rfc5424", "octet_counting": False}
    samples = [
        {"priority": 165, "timestamp": "2003-10-11T22:14:15.003Z", "host": "h", "structured_data": {"a@1": {"b": "c"}}},
        {"message": "only a message"},
    ]
    flushes_all = True


class TestRFC5424:
    """RFC 5424 as the RFC writes it."""

    def test_the_rfc_examples(self) -> None:
        """The four examples of RFC 5424 section 6.5 give every field; the BOM before a message is taken away."""
        assert parse(
            "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \ufeff'su root' failed for lonvick"
        ) == fields(
            priority=34,
            version=1,
            timestamp="2003-10-11T22:14:15.003000Z",
            host="mymachine.example.com",
            app="su",
            msgid="ID47",
            message="'su root' failed for lonvick",
        )
        assert parse(
            "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."
        ) == fields(
            priority=165,
            version=1,
            timestamp="2003-08-24T12:14:15.000003Z",
            host="192.0.2.1",
            app="myproc",
            procid="8710",
            message="%% It's time to make the do-nuts.",
        )
        sd = '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
        line = f"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 {sd} \ufeffAn application event"
        parsed = parse(line)
        assert parsed["structured_data"] == {
            "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"}
        }
        assert parsed["message"] == "An application event"
        assert (parsed["facility_name"], parsed["severity_name"]) == ("local4", "notice")
        two = '[exampleSDID@32473 iut="3"][examplePriority@32473 class="high"]'
        parsed = parse(f"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 {two}")
        assert parsed["structured_data"] == {
            "exampleSDID@32473": {"iut": "3"},
            "examplePriority@32473": {"class": "high"},
        }
        assert parsed["message"] is None

    def test_nilvalues_and_the_message(self) -> None:
        """``-`` is None for every header field, the timestamp and structured data; no MSG is None, an empty one ''."""
        assert parse("<0>1 - - - - - -") == fields(priority=0, version=1)
        assert parse("<0>1 - - - - - - ")["message"] == ""
        assert parse("<0>1 - - - - - -  two spaces ")["message"] == " two spaces "
        assert parse("<191>1 - - - - - - a\nb")["message"] == "a\nb"
        assert parse("<191>1 - - - - - - \ufeff\ufeffx")["message"] == "\ufeffx"

    def test_structured_data_escapes_and_repeated_names(self) -> None:
        """\\", \\\\ and \\] are undone, other backslashes kept; a name given twice keeps every value, in order."""
        sd = r'[a@1 q="say \"hi\"" b="back\\slash" c="x\]y" d="\n stays" e="" f="]" f="2" f="3"][meta x="1"]'
        parsed = parse(f"<13>1 - - - - - {sd} m")
        assert parsed["structured_data"] == {
            "a@1": {"q": 'say "hi"', "b": "back\\slash", "c": "x]y", "d": "\\n stays", "e": "", "f": ["]", "2", "3"]},
            "meta": {"x": "1"},
        }
        assert parse("<13>1 - - - - - [empty] m")["structured_data"] == {"empty": {}}
        assert parse('<13>1 - - - - - [a p="é\\\\"]')["structured_data"] == {"a": {"p": "é\\"}}

    def test_timestamps_to_utc(self) -> None:
        """Offsets are applied, fractions of 1 to 6 digits kept as microseconds; epoch seconds when asked."""
        cases = {
            "2026-11-27T20:14:15Z": "2026-11-27T20:14:15Z",
            "2026-11-27T20:14:15+00:00": "2026-11-27T20:14:15Z",
            "2026-11-27T20:14:15.000-00:00": "2026-11-27T20:14:15Z",
            "2026-11-27T20:14:15.5+01:00": "2026-11-27T19:14:15.500000Z",
            "2026-01-01T00:30:00.000000+05:45": "2025-12-31T18:45:00Z",
            "2026-12-31T23:00:00-02:00": "2027-01-01T01:00:00Z",
            "2024-02-29T12:00:00.123456Z": "2024-02-29T12:00:00.123456Z",
        }
        for stamp, utc in cases.items():
            assert parse(f"<13>1 {stamp} - - - - -")["timestamp"] == utc
            epoch = parse(f"<13>1 {stamp} - - - - -", timestamp_format="epoch")["timestamp"]
            assert type(epoch) is float
            assert epoch == pytest.approx(dt.datetime.fromisoformat(utc.replace("Z", "+00:00")).timestamp(), abs=1e-6)
        assert parse("<13>1 - - - - - -", timestamp_format="epoch")["timestamp"] is None

    def test_field_lengths_are_the_rfcs(self) -> None:
        """HOSTNAME 255, APP-NAME 48, PROCID 128, MSGID 32 and SD names 32 characters parse; one more is an error."""
        for position, (name, limit) in enumerate((("HOSTNAME", 255), ("APP-NAME", 48), ("PROCID", 128), ("MSGID", 32))):
            header = ["-"] * 4
            header[position] = "x" * limit
            assert parse(f"<13>1 - {' '.join(header)} -")[["host", "app", "procid", "msgid"][position]] == "x" * limit
            header[position] = "x" * (limit + 1)
            column = 9 + 2 * position
            assert error_of(f"<13>1 - {' '.join(header)} -") == (
                f"RFC 5424: {name} is longer than {limit} characters, at column {column}"
            )
        assert parse(f'<13>1 - - - - - [{"i" * 32} {"n" * 32}="v"]')["structured_data"] == {"i" * 32: {"n" * 32: "v"}}
        assert "SD-ID is longer than 32" in error_of(f"<13>1 - - - - - [{'i' * 33}]")
        assert "PARAM-NAME is longer than 32" in error_of(f'<13>1 - - - - - [i {"n" * 33}="v"]')

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ("<192>1 - - - - - -", "RFC 5424: priority 192 is out of range (0 to 191), at column 2"),
            ("<1000>1 - - - - - -", "RFC 5424: priority 1000 has 4 digits (1 to 3: 0 to 191), at column 2"),
            ("<0001>1 - - - - - -", "RFC 5424: priority 0001 has 4 digits (1 to 3: 0 to 191), at column 2"),
            ("<13>2 - - - - - -", "RFC 5424: version 2 is not supported (only 1), at column 5"),
            ("<13>1 2026-02-30T00:00:00Z - - - - -", "RFC 5424: timestamp '2026-02-30T00:00:00Z' at column 7: day 30"),
            ("<13>1 2026-01-01T24:00:00Z - - - - -", "RFC 5424: timestamp '2026-01-01T24:00:00Z' at column 7: hour 24"),
            (
                "<13>1 2026-01-01T00:00:00+24:00 - - - - -",
                "RFC 5424: timestamp '2026-01-01T00:00:00+24:00' at column 7: offset +24:00",
            ),
            (
                "<13>1 0000-01-01T00:00:00Z - - - - -",
                "RFC 5424: timestamp '0000-01-01T00:00:00Z' at column 7: in UTC it is outside the years 0001 to 9999",
            ),
            (
                "<13>1 9999-12-31T23:59:59-01:00 - - - - -",
                "RFC 5424: timestamp '9999-12-31T23:59:59-01:00' at column 7: in UTC it is outside the years",
            ),
            ("<13>1 2026-01-01T00:00:00.1234567Z - - - - -", "RFC 5424: expected the timestamp"),
            ("<13>1 2026-01-01t00:00:00Z - - - - -", "RFC 5424: expected the timestamp"),
            ("<13>1 2026-01-01T00:00:00 - - - - -", "RFC 5424: expected the timestamp"),
            ("<13>1 -  - - - -", "RFC 5424: HOSTNAME is empty (a second space) at column 9"),
            ("<13>1 - h é - - -", "RFC 5424: APP-NAME must be printable ASCII, at column 11, found 'é'"),
            ("<13>1 - h a\tb - - -", "RFC 5424: APP-NAME must be printable ASCII, at column 12, found '\\t' (U+0009)"),
            ("<13>1 - h a p m", "RFC 5424: expected a space after MSGID where the line ends (column 16)"),
            ("<13>1 - h a p m ", "RFC 5424: expected the structured data ('[' or '-') where the line ends (column 17)"),
            ("<13>1 - h a p m x", "RFC 5424: expected the structured data ('[' or '-') at column 17, found 'x'"),
            ("<13>1 - h a p m -x", "RFC 5424: expected a space before the message at column 18, found 'x'"),
            ('<13>1 - h a p m [x a="b', "RFC 5424: the parameter value opened at column 22 is not closed by '\"'"),
            ('<13>1 - h a p m [x a="b\\"]', "RFC 5424: the parameter value opened at column 22 is not closed by '\"'"),
            ('<13>1 - h a p m [x a="b"]x', "RFC 5424: expected a space before the message at column 26, found 'x'"),
            ('<13>1 - h a p m [x a="b" ]', "RFC 5424: expected PARAM-NAME at column 26, found ']'"),
            ("<13>1 - h a p m [x a=b]", "RFC 5424: expected '=\"' after the parameter name at column 21, found '='"),
            ("<13>1 - h a p m []", "RFC 5424: expected SD-ID at column 18, found ']'"),
            ("<13>1 - h a p m [x", "RFC 5424: expected a space, a parameter or ']' in the structured data where"),
            (
                "<13>1 - h a p m [a@1][b][a@1]",
                "RFC 5424: SD-ID 'a@1' appears twice in the structured data, at column 25",
            ),
        ],
    )
    def test_errors_say_what_and_where(self, line: str, message: str) -> None:
        """Each kind of bad line is refused with a message naming what is wrong and its column."""
        assert error_of(line, format="rfc5424").startswith(message)
        assert error_of(line).startswith(message)

    def test_a_duplicate_sd_id_is_located_even_when_a_value_holds_its_name(self) -> None:
        """The column of a repeated SD-ID is the element's, not a look-alike inside a value."""
        line = '<13>1 - - - - - [a x="[a"][b][a]'
        assert (
            error_of(line)
            == f"RFC 5424: SD-ID 'a' appears twice in the structured data, at column {line.rfind('[a]') + 1}"
        )


class TestRFC3164:
    """RFC 3164 as daemons send it, and the year and zone it leaves out."""

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            (
                "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
                {
                    "priority": 34,
                    "host": "mymachine",
                    "app": "su",
                    "message": "'su root' failed for lonvick on /dev/pts/8",
                },
            ),
            ("<13>Nov 27 03:56:44 root: hello", {"priority": 13, "app": "root", "message": "hello"}),
            (
                "<11>Nov 27 03:56:44 vm app[24550]: hi",
                {"priority": 11, "host": "vm", "app": "app", "procid": "24550", "message": "hi"},
            ),
            (
                "Nov 27 03:56:44 vm kernel: [ 1.2] usb 1-1: new",
                {"host": "vm", "app": "kernel", "message": "[ 1.2] usb 1-1: new"},
            ),
            (
                "Nov 27 03:56:44 vm myapp[482] from rsyslog",
                {"host": "vm", "app": "myapp", "procid": "482", "message": "from rsyslog"},
            ),
            (
                "Nov  7 03:56:44 vm postfix/smtpd[9]: x",
                {"host": "vm", "app": "postfix/smtpd", "procid": "9", "message": "x"},
            ),
            (
                "Nov 7 03:56:44 vm last message repeated 3 times",
                {"host": "vm", "message": "last message repeated 3 times"},
            ),
            ("Nov 07 03:56:44 fe80::1 sshd[1]: up", {"host": "fe80::1", "app": "sshd", "procid": "1", "message": "up"}),
            ("Nov 27 03:56:44 vm tag:", {"host": "vm", "app": "tag", "message": ""}),
            ("Nov 27 03:56:44 vm", {"host": "vm", "message": ""}),
            ("Nov 27 03:56:44", {"message": ""}),
            ("Nov 27 03:56:44 ", {"message": ""}),
            ("Nov 27 03:56:44  two", {"message": "two"}),
            ("Nov 27 03:56:44 vm  two", {"host": "vm", "message": " two"}),
            ("Nov 27 03:56:44 vm tag:x y", {"host": "vm", "message": "tag:x y"}),
            ("Nov 27 03:56:44 a:b c: d", {"host": "a:b", "app": "c", "message": "d"}),
        ],
    )
    def test_the_forms_daemons_send(self, line: str, expected: dict[str, Any]) -> None:
        """With or without PRI, host, tag or pid (rsyslog's colon-less ``tag[pid]`` too): each field in its place."""
        month, day, clock = re.sub(r"^<\d+>", "", line).split()[:3]
        stamp = f"2026-{['Oct', 'Nov'].index(month) + 10}-{int(day):02d}T{clock}Z"
        assert parse(line) == fields(**{"timestamp": stamp, **expected})

    def test_iso_timestamps_as_rsyslog_writes_them(self) -> None:
        """rsyslog's high-precision stamps convert with their offset; without one, in ``timezone``."""
        assert parse("2026-11-30T03:56:44.873302+01:00 vm sshd[1]: in") == fields(
            timestamp="2026-11-30T02:56:44.873302Z", host="vm", app="sshd", procid="1", message="in"
        )
        assert parse("<13>2026-07-01T12:00:00 vm x: y", timezone="Europe/Prague")["timestamp"] == "2026-07-01T10:00:00Z"
        assert parse("<13>Nov 27 03:56:44.25 vm x: y")["timestamp"] == "2026-11-27T03:56:44.250000Z"

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ("<192>Oct 11 22:14:15 h t: m", "RFC 3164: priority 192 is out of range (0 to 191), at column 2"),
            ("<13>Foo 11 22:14:15 h t: m", "RFC 3164: timestamp 'Foo 11 22:14:15' at column 5: unknown month 'Foo'"),
            (
                "<13>Feb 30 22:14:15 h t: m",
                "RFC 3164: timestamp 'Feb 30 22:14:15' at column 5: day 30 does not exist in",
            ),
            ("<13>Feb 0 22:14:15 h t: m", "RFC 3164: timestamp 'Feb 0 22:14:15' at column 5: day 0 is out of range"),
            ("<13>Feb 10 22:61:15 h t: m", "RFC 3164: timestamp 'Feb 10 22:61:15' at column 5: minute 61"),
            ("<13>Oct 11 22:14:15.1234567 h", "RFC 3164: expected a space after the timestamp at column 27, found '7'"),
            ("<13>Oct 11 22:14 h t: m", "RFC 3164: expected a timestamp ('Mmm dd hh:mm:ss' or ISO 8601"),
            ("<13x>Oct 11 22:14:15 h", "RFC 3164: expected '>' after the priority at column 4, found 'x'"),
            ("hello world", "RFC 3164: expected a timestamp ('Mmm dd hh:mm:ss' or ISO 8601 'YYYY-MM-DDThh:mm:ss') at"),
        ],
    )
    def test_errors_say_what_and_where(self, line: str, message: str) -> None:
        """Each kind of bad line is refused with a message naming what is wrong and its column."""
        assert error_of(line, format="rfc3164").startswith(message)

    def test_the_year_across_new_year(self) -> None:
        """Read in January, December is last year's; read on 31 December, 1 January is next year's."""
        january = clock_at(2027, 1, 2, 0, 5)
        assert parse("Dec 31 23:59:59 h t: m", clock=january)["timestamp"] == "2026-12-31T23:59:59Z"
        assert parse("Jan  2 00:04:00 h t: m", clock=january)["timestamp"] == "2027-01-02T00:04:00Z"
        new_years_eve = clock_at(2026, 12, 31, 23, 59)
        assert parse("Jan  1 00:00:30 h t: m", clock=new_years_eve)["timestamp"] == "2027-01-01T00:00:30Z"
        assert parse("Dec 31 23:58:00 h t: m", clock=new_years_eve)["timestamp"] == "2026-12-31T23:58:00Z"

    def test_the_year_of_older_lines_and_of_29_february(self) -> None:
        """Up to 7 days ahead is this year; later dates are last year's; 29 February the latest leap year's."""
        now = clock_at(2027, 2, 10, 12, 0)
        assert parse("Nov 20 10:00:00 h t: m", clock=now)["timestamp"] == "2026-11-20T10:00:00Z"
        assert parse("Feb 17 10:00:00 h t: m", clock=now)["timestamp"] == "2027-02-17T10:00:00Z"
        assert parse("Feb 18 10:00:00 h t: m", clock=now)["timestamp"] == "2026-02-18T10:00:00Z"
        assert parse("Feb 29 10:00:00 h t: m", clock=now)["timestamp"] == "2024-02-29T10:00:00Z"
        assert parse("Feb 29 10:00:00 h t: m", clock=clock_at(2028, 3, 1, 0, 0))["timestamp"] == "2028-02-29T10:00:00Z"
        assert parse("Nov 20 10:00:00 h t: m", year=2019)["timestamp"] == "2019-11-20T10:00:00Z"
        assert "day 29 does not exist in 2019-02" in error_of("Feb 29 10:00:00 h t: m", year=2019)

    def test_the_year_follows_the_clock_in_a_running_cog(self) -> None:
        """One cog, its clock passing midnight of New Year's Eve: the same text is read again with the new year."""
        now = [dt.datetime(2026, 12, 24, 12, 0, tzinfo=UTC).timestamp()]
        cog = text.SyslogParse(clock=lambda: now[0])
        assert cog("Jan  1 10:00:00 h t: m")[0]["timestamp"] == "2026-01-01T10:00:00Z"
        now[0] = dt.datetime(2026, 12, 26, 0, 0, tzinfo=UTC).timestamp()
        assert cog("Jan  1 10:00:00 h t: m")[0]["timestamp"] == "2027-01-01T10:00:00Z"
        now[0] = dt.datetime(2027, 6, 1, 0, 0, tzinfo=UTC).timestamp()
        assert cog("Jan  1 10:00:00 h t: m")[0]["timestamp"] == "2027-01-01T10:00:00Z"
        assert cog("Dec 31 10:00:00 h t: m")[0]["timestamp"] == "2026-12-31T10:00:00Z"

    def test_the_year_from_the_archives_modification_time(self, tmp_path: Path) -> None:
        """year_file: an archive last changed in March 2020, replayed now, is 2020's (its December 2019's)."""
        archive = tmp_path / "messages.1"
        archive.write_text("...")
        march = dt.datetime(2020, 3, 5, tzinfo=UTC).timestamp()
        os.utime(archive, (march, march))
        cog = text.SyslogParse(year_file=str(archive))
        assert cog("Feb 29 12:00:00 h t: m")[0]["timestamp"] == "2020-02-29T12:00:00Z"
        assert cog("Dec 24 12:00:00 h t: m")[0]["timestamp"] == "2019-12-24T12:00:00Z"
        with pytest.raises(ValueError, match="one of year_file_field, year_file and clock"):
            text.SyslogParse(year_file=str(archive), year_file_field="file")

    def test_the_year_from_the_file_each_line_came_from(self, tmp_path: Path) -> None:
        """Archives of different years read together: each line's own file (the reader's path_field) gives its
        year, in a list as datum by datum; a line that names no file is read as of now."""
        old, new = tmp_path / "old.log", tmp_path / "new.log"
        for path, year in ((old, 2024), (new, 2026)):
            path.write_text("...")
            stamp = dt.datetime(year, 12, 31, tzinfo=UTC).timestamp()
            os.utime(path, (stamp, stamp))
        cog = text.SyslogParse(year_file_field="file", source="line", target="syslog")
        data = [
            {"line": "Jun 10 12:00:00 h t: m", "file": str(old)},
            {"line": "Jun 10 12:00:00 h t: m", "file": str(new)},
            {"line": "Jun 10 12:00:00 h t: m", "file": str(old)},
            {"line": "Jun 10 12:00:00 h t: m"},
        ]
        this_year = dt.datetime.now(UTC).year
        read_now = text.SyslogParse()("Jun 10 12:00:00 h t: m")[0]["timestamp"]
        expected = ["2024-06-10T12:00:00Z", "2026-06-10T12:00:00Z", "2024-06-10T12:00:00Z", read_now]
        assert read_now.startswith((str(this_year), str(this_year - 1)))
        one_by_one = [cog(copy.deepcopy(datum))[0]["syslog"]["timestamp"] for datum in data]
        in_a_list = [d["syslog"]["timestamp"] for d in cog.call_batch(copy.deepcopy(data))]
        assert one_by_one == in_a_list == expected

    def test_the_year_from_each_file_through_a_pipeline(self, tmp_path: Path, run_pipeline: Any) -> None:
        """fs.read names each line's file in path_field; text.syslog_parse takes the year from it."""
        for name, year in (("messages.2", 2024), ("messages.1", 2026)):
            (tmp_path / name).write_text("Jun 10 12:00:00 h kernel: up\n")
            stamp = dt.datetime(year, 12, 31, tzinfo=UTC).timestamp()
            os.utime(tmp_path / name, (stamp, stamp))
        result = run_pipeline(
            """
            [[cog]]
            use = "fs.read"
            filenames = ["messages.2", "messages.1"]
            line_setter = "message"
            path_field = "file"
            [[cog]]
            use = "text.syslog_parse"
            source = "message"
            year_file_field = "file"
            target = "syslog"
            [[cog]]
            use = "text.json_format"
            [[cog]]
            use = "fs.write"
            filename = "out.jsonl"
            """
        )
        assert result.returncode == 0, result.stderr
        out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert [d["syslog"]["timestamp"] for d in out] == ["2024-06-10T12:00:00Z", "2026-06-10T12:00:00Z"]

    def test_today_is_the_zones(self) -> None:
        """At 23:30 UTC on 31 December it is already 1 January in Prague: a 1 January line is this (new) year's."""
        late = clock_at(2026, 12, 31, 23, 30)
        assert parse("Jan  8 10:00:00 h t: m", clock=late)["timestamp"] == "2026-01-08T10:00:00Z"
        assert parse("Jan  8 10:00:00 h t: m", clock=late, timezone="Europe/Prague")["timestamp"] == (
            "2027-01-08T09:00:00Z"
        )

    def test_zones_and_summer_time(self) -> None:
        """Wall clocks follow the zone's rules; a skipped hour is an error, a repeated one unless a policy chooses."""
        prague = {"timezone": "Europe/Prague", "year": 2026}
        assert parse("Jul  1 12:00:00 h t: m", **prague)["timestamp"] == "2026-07-01T10:00:00Z"
        assert parse("Jan  1 12:00:00 h t: m", **prague)["timestamp"] == "2026-01-01T11:00:00Z"
        for policy in ("error", "earlier", "later"):
            assert error_of("Mar 29 02:30:00 h t: m", ambiguous=policy, **prague) == (
                "RFC 3164: timestamp 'Mar 29 02:30:00' at column 1: 2026-03-29 02:30:00 never happened in"
                " Europe/Prague (the clocks skipped it)"
            )
        assert error_of("Oct 25 02:30:00 h t: m", **prague).endswith(
            "2026-10-25 02:30:00 happened twice in Europe/Prague (the clocks went back);"
            " ambiguous = 'earlier' or 'later' chooses"
        )
        assert parse("Oct 25 02:30:00 h t: m", ambiguous="earlier", **prague)["timestamp"] == "2026-10-25T00:30:00Z"
        assert parse("Oct 25 02:30:00 h t: m", ambiguous="later", **prague)["timestamp"] == "2026-10-25T01:30:00Z"
        assert parse("Oct 25 03:00:00 h t: m", **prague)["timestamp"] == "2026-10-25T02:00:00Z"
        assert parse("Mar 29 03:00:00 h t: m", **prague)["timestamp"] == "2026-03-29T01:00:00Z"
        assert "never happened" in error_of("<13>2026-03-29T02:30:00 h t: m", timezone="Europe/Prague")

    def test_local_is_this_machines_zone(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``timezone = "local"`` follows $TZ, else /etc/localtime (the zone logger and rsyslog write in)."""
        monkeypatch.setenv("TZ", "America/New_York")
        assert parse("Jul  1 12:00:00 h t: m", timezone="local", year=2026)["timestamp"] == "2026-07-01T16:00:00Z"
        monkeypatch.delenv("TZ")
        local = dt.datetime(2026, 7, 1, 12, 0).astimezone()
        expected = local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert parse("Jul  1 12:00:00 h t: m", timezone="local", year=2026)["timestamp"] == expected


class TestSettings:
    """What the cogs are given."""

    def test_settings_are_checked_when_the_cog_is_built(self) -> None:
        """An unknown zone, format, policy or year fails at once, saying what is allowed."""
        with pytest.raises(ValueError, match="unknown time zone 'Europe/Prag': give an IANA name"):
            text.SyslogParse(timezone="Europe/Prag")
        with pytest.raises(ValueError, match="format must be one of 'auto', 'rfc5424', 'rfc3164', not 'rfc3339'"):
            text.SyslogParse(format="rfc3339")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="ambiguous must be one of 'error', 'earlier', 'later'"):
            text.SyslogParse(ambiguous="first")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timestamp_format must be one of 'iso', 'epoch'"):
            text.SyslogParse(timestamp_format="unix")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="year must be a whole number from 1 to 9999"):
            text.SyslogParse(year=0)
        with pytest.raises(ValueError, match="keep: 'host' is also a syslog field"):
            text.SyslogParse(keep=["id", "host"])
        with pytest.raises(ValueError, match="default_priority must be a number from 0 to 191"):
            text.SyslogFormat(default_priority=192)


class TestDetection:
    """``format = "auto"``: RFC 5424 when a version follows ``<PRI>``, else RFC 3164."""

    def test_each_grammar_is_found(self) -> None:
        """A stream mixing both formats gives each line its own grammar's fields and errors."""
        cog = text.SyslogParse(clock=NOW)
        lines = [
            "<13>1 - h - - - -",
            "<13>Nov 27 03:56:44 h t: m",
            "<13>2026-11-27T03:56:44Z h t: m",
            "Nov 27 03:56:44 h t: m",
            "<13>1 - h - - - -",
        ]
        assert [cog(line)[0]["version"] for line in lines] == [1, None, None, None, 1]
        assert error_of("<13>1 2026 h") == (
            "RFC 5424: expected the timestamp (YYYY-MM-DDThh:mm:ss, up to 6 fraction digits, then Z or +hh:mm)"
            " or '-' at column 7, found '2'"
        )
        assert error_of("<13>hello") == (
            "syslog: expected an RFC 5424 version after '<PRI>' or an RFC 3164 timestamp"
            " ('Mmm dd hh:mm:ss' or ISO 8601) at column 5, found 'h'"
        )
        assert error_of("") == (
            "syslog: expected '<PRI>' or an RFC 3164 timestamp ('Mmm dd hh:mm:ss' or ISO 8601)"
            " where the line ends (column 1)"
        )

    def test_forcing_a_format(self) -> None:
        """A forced format refuses the other one's lines with its own message."""
        assert error_of("<13>Nov 27 03:56:44 h t: m", format="rfc5424").startswith("RFC 5424: expected the version 1")
        assert error_of("<13>1 - h - - - -", format="rfc3164").startswith("RFC 3164: expected a timestamp")


# -- strategies: fields within each grammar ----------------------------------

PRINTUSASCII = st.characters(min_codepoint=33, max_codepoint=126)
SD_NAME = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters='=]" '), min_size=1, max_size=32
)
#: Text of any characters, the awkward ones often: escapes, quotes, brackets, BOMs, line breaks.
ANY_TEXT = st.text(st.sampled_from('\\"][= \n\ufeffaé') | st.characters(blacklist_categories=["Cs"]), max_size=20)


def header_field(limit: int) -> st.SearchStrategy[str | None]:
    return st.none() | st.text(PRINTUSASCII, min_size=1, max_size=limit).filter(lambda s: s != "-")


sd_values = ANY_TEXT | st.lists(ANY_TEXT, min_size=2, max_size=3)
structured_data = st.none() | st.dictionaries(SD_NAME, st.dictionaries(SD_NAME, sd_values, max_size=3), max_size=3)
instants = st.datetimes(
    min_value=dt.datetime(1900, 1, 1),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, ZoneInfo("Asia/Kathmandu"), dt.timezone(dt.timedelta(hours=-9, minutes=-30))]),
)


def utc_text(moment: dt.datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"


def timestamp_forms(moment: dt.datetime) -> list[Any]:
    """The ways a datum may hold ``moment``: a datetime, RFC 3339 text with its offset (when it has no seconds,
    unlike some historic zones' offsets), UTC text."""
    offset = moment.utcoffset()
    whole_minutes = offset is not None and offset.seconds % 60 == 0
    return [moment, utc_text(moment)] + ([moment.isoformat()] if whole_minutes else [])


@st.composite
def rfc5424_fields(draw: st.DrawFn) -> dict[str, Any]:
    """Fields within RFC 5424's grammar, and what the parser must give back for them."""
    moment = draw(st.none() | instants)
    given = {
        "priority": draw(st.integers(0, 191)),
        "timestamp": None if moment is None else draw(st.sampled_from(timestamp_forms(moment))),
        "host": draw(header_field(255)),
        "app": draw(header_field(48)),
        "procid": draw(header_field(128)),
        "msgid": draw(header_field(32)),
        "structured_data": draw(structured_data),
        "message": draw(st.none() | ANY_TEXT),
    }
    sd = given["structured_data"]
    expected = fields(
        **{
            **given,
            "version": 1,
            "timestamp": None if moment is None else utc_text(moment),
            "structured_data": sd or None,
        }
    )
    return {"given": given, "expected": expected}


def holds_line_break(value: Any) -> bool:
    if isinstance(value, str):
        return "\n" in value
    if isinstance(value, dict):
        return any(map(holds_line_break, value.values()))
    if isinstance(value, list):
        return any(map(holds_line_break, value))
    return False


#: What RFC 3164 readers take for a tag: ``name:``, ``name[pid]:`` or ``name[pid]``.
TAG_FORM = re.compile(r"[^\s\[\]:]+(?:\[[^\s\]]+\]:?|:)")


def unframe(data: bytes) -> Iterator[str]:
    """Split RFC 6587 octet-counted frames (``LENGTH SP MESSAGE``), as a receiver does."""
    while data:
        length, _, rest = data.partition(b" ")
        assert length.isdigit(), data[:40]
        yield rest[: int(length)].decode("utf-8")
        data = rest[int(length) :]


class TestFormatThenParse:
    """What text.syslog_format writes, text.syslog_parse reads back to the same fields."""

    @settings(max_examples=400)
    @given(rfc5424_fields(), st.booleans())
    def test_rfc5424_round_trip(self, case: dict[str, Any], octet_counting: bool) -> None:
        """Any fields within the grammar (header fields of printable ASCII within their lengths, any SD text)."""
        given = case["given"]
        if not octet_counting:
            assume(not holds_line_break(given["message"]) and not holds_line_break(given["structured_data"]))
        (line,) = text.SyslogFormat(octet_counting=octet_counting)(copy.deepcopy(given))
        if octet_counting:
            (line,) = unframe(line.encode("utf-8"))
        assert parse(line) == parse(line, format="rfc5424") == case["expected"]

    @settings(max_examples=300)
    @given(
        st.integers(0, 191),
        st.integers(-300 * 86400, 6 * 86400),
        st.sampled_from(["UTC", "Europe/Prague", "America/St_Johns"]),
        st.none() | st.text(PRINTUSASCII, min_size=1, max_size=20),
        st.none()
        | st.text(
            st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="[]:"), min_size=1, max_size=10
        ),
        st.none()
        | st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="]"), min_size=1, max_size=6),
        st.text(st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]), max_size=20),
    )
    def test_rfc3164_round_trip(
        self,
        priority: int,
        offset: int,
        zone: str,
        host: str | None,
        app: str | None,
        procid: str | None,
        message: str,
    ) -> None:
        """Whole seconds within the year rule's window, any zone (but an hour that happened twice), host/tag/pid."""
        now = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC).timestamp()
        moment = dt.datetime.fromtimestamp(now + offset, UTC)
        wall = moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        assume(
            wall.replace(tzinfo=ZoneInfo(zone)).utcoffset() == wall.replace(tzinfo=ZoneInfo(zone), fold=1).utcoffset()
        )
        procid = procid if app is not None else None
        given = {
            "priority": priority,
            "timestamp": moment,
            "host": host,
            "app": app,
            "procid": procid,
            "message": message,
        }
        cog = text.SyslogFormat(format="rfc3164", timezone=zone)
        if host is not None and TAG_FORM.fullmatch(host):
            with pytest.raises(ValueError, match="would be read back as a tag"):
                cog(given)
            return
        if app is None and (host is None or TAG_FORM.fullmatch(message.partition(" ")[0])):
            with pytest.raises(ValueError):
                cog(given)
            return
        (line,) = cog(given)
        expected = fields(
            priority=priority, timestamp=utc_text(moment), host=host, app=app, procid=procid, message=message
        )
        options = {"clock": itertools.repeat(now).__next__, "timezone": zone}
        assert parse(line, **options) == parse(line, format="rfc3164", **options) == expected

    def test_epoch_and_datetime_timestamps(self) -> None:
        """Epoch seconds, aware and naive datetimes and ISO text with or without offset all write the same instant."""
        instant = dt.datetime(2026, 11, 27, 19, 14, 15, 3000, tzinfo=UTC)
        prague = text.SyslogFormat(timezone="Europe/Prague")
        for value in (
            instant.timestamp(),
            instant,
            instant.astimezone(ZoneInfo("Asia/Tokyo")),
            "2026-11-27T20:14:15.003+01:00",
            "2026-11-27 19:14:15.003Z",
        ):
            assert prague({"timestamp": value})[0] == "<13>1 2026-11-27T19:14:15.003000Z - - - - -"
        assert prague({"timestamp": "2026-11-27T20:14:15.003"})[0] == "<13>1 2026-11-27T19:14:15.003000Z - - - - -"
        assert prague({"timestamp": dt.datetime(2026, 11, 27, 20, 14, 15, 3000)})[0] == (
            "<13>1 2026-11-27T19:14:15.003000Z - - - - -"
        )
        epoch = parse("<13>1 2026-11-27T19:14:15.003Z - - - - -", timestamp_format="epoch")
        assert text.SyslogFormat()(epoch)[0] == "<13>1 2026-11-27T19:14:15.003000Z - - - - -"
        assert text.SyslogFormat(format="rfc3164", timezone="Europe/Prague")({"timestamp": instant, "app": "a"})[0] == (
            "<13>Nov 27 20:14:15 a: "
        )

    def test_facility_and_severity_make_the_priority(self) -> None:
        """Names or numbers; given ones win over ``priority`` (changed after parsing); the rest from it or 13."""
        write = text.SyslogFormat()
        assert write({"facility": "local7", "severity": "err"})[0].startswith("<187>1 ")
        assert write({"facility": 23, "severity": 3})[0].startswith("<187>1 ")
        assert write({"priority": 165, "severity": "warning"})[0].startswith("<164>1 ")
        assert write({"priority": 165, "facility": "kern"})[0].startswith("<5>1 ")
        assert write({"severity": "debug"})[0].startswith("<15>1 ")
        assert write({})[0] == "<13>1 - - - - - -"
        assert text.SyslogFormat(default_priority=0)({})[0] == "<0>1 - - - - - -"
        parsed = parse("<165>1 - - - - - -")
        parsed["severity"] = 2
        assert write(parsed)[0].startswith("<162>1 ")

    def test_bom_and_octet_counting(self) -> None:
        """``bom`` marks the message UTF-8; octet counting frames by UTF-8 bytes and lets line breaks through."""
        assert text.SyslogFormat(bom=True)({"message": "é"})[0] == "<13>1 - - - - - - \ufeffé"
        (framed,) = text.SyslogFormat(octet_counting=True)({"message": "a\nb é"})
        assert framed == "24 <13>1 - - - - - - a\nb é" and len("<13>1 - - - - - - a\nb é".encode()) == 24
        assert list(unframe(framed.encode() * 2)) == ["<13>1 - - - - - - a\nb é"] * 2

    @pytest.mark.parametrize(
        ("datum", "message"),
        [
            ({"host": "a b"}, "host (HOSTNAME) must be 1 to 255 printable ASCII characters without spaces, not 'a b'"),
            ({"app": "x" * 49}, "app (APP-NAME) must be 1 to 48 printable ASCII characters"),
            ({"msgid": "é"}, "msgid (MSGID) must be 1 to 32 printable ASCII characters"),
            ({"procid": ["1"]}, "procid must be text or a number, not list"),
            ({"message": "a\nb"}, "message holds a line break: set octet_counting"),
            ({"structured_data": {"a": {"p": "x\ny"}}}, "structured_data holds a line break"),
            ({"structured_data": {"a b": {}}}, "structured_data: SD-ID 'a b' must be 1 to 32"),
            ({"structured_data": {"a": {"p=": "v"}}}, "structured_data: a: parameter name 'p=' must be"),
            ({"structured_data": {"a": {"p": []}}}, "structured_data: a: p has no value (an empty list)"),
            ({"structured_data": {"a": {"p": None}}}, "structured_data: a: p must be text or a number, not NoneType"),
            ({"structured_data": ["a"]}, "structured_data must be a mapping of SD-IDs"),
            ({"message": "x\ud800"}, "the line holds U+D800 at column 20, which UTF-8 cannot encode"),
            ({"timestamp": "yesterday"}, "timestamp 'yesterday': not ISO 8601"),
            ({"timestamp": "2026-02-30T00:00:00Z"}, "timestamp '2026-02-30T00:00:00Z': day is out of range for month"),
            ({"timestamp": 1e20}, "timestamp 1e+20: beyond the years 1 to 9999"),
            ({"timestamp": float("nan")}, "timestamp nan: not a time"),
            ({"timestamp": True}, "timestamp True: expected ISO 8601 text"),
            (
                {"timestamp": "2026-03-29T02:30:00"},
                "timestamp '2026-03-29T02:30:00': 2026-03-29 02:30:00 never happened",
            ),
            ({"priority": 200}, "priority must be a number from 0 to 191, not 200"),
            ({"priority": "13"}, "priority must be a number from 0 to 191, not '13'"),
            ({"severity": "loud"}, "severity must be a number from 0 to 7 or a name such as 'warning', not 'loud'"),
            ({"facility": 24}, "facility must be a number from 0 to 23 or a name such as 'local4', not 24"),
        ],
    )
    def test_what_cannot_be_written_is_refused(self, datum: dict[str, Any], message: str) -> None:
        """Nothing is bent to fit: each field that cannot be written is an error naming it."""
        _, records = send_through([text.SyslogFormat(timezone="Europe/Prague")], [{"id": "e:1", **datum}])
        assert [r.event_id for r in records] == ["e:1"]
        assert str(records[0].error).startswith(message)

    @pytest.mark.parametrize(
        ("datum", "message"),
        [
            ({"app": "a"}, "RFC 3164 needs a timestamp; the datum has none"),
            ({"timestamp": 0, "msgid": "M"}, "RFC 3164 has no place for msgid"),
            ({"timestamp": 0, "structured_data": {"a": {}}}, "RFC 3164 has no place for structured_data"),
            ({"timestamp": 0, "host": "h:"}, "host 'h:' would be read back as a tag"),
            ({"timestamp": 0, "host": "h[1]"}, "host 'h[1]' would be read back as a tag"),
            ({"timestamp": 0}, "RFC 3164 needs a host or an app"),
            (
                {"timestamp": 0, "host": "h", "message": "warning: x"},
                "without an app, the message's first word 'warning:'",
            ),
            ({"timestamp": 0, "host": "h", "procid": 1}, "RFC 3164 writes procid only with an app"),
            ({"timestamp": 0, "app": "a b"}, "app (the RFC 3164 tag) must have no spaces"),
            ({"timestamp": 0, "app": "a", "procid": "1]"}, "procid must have no spaces or ']'"),
            ({"timestamp": 0, "app": "a", "message": "x\ny"}, "message holds a line break"),
        ],
    )
    def test_what_rfc3164_cannot_hold_is_refused(self, datum: dict[str, Any], message: str) -> None:
        """Fields RFC 3164 has no place for, and lines that would read back otherwise, are errors."""
        with pytest.raises(ValueError) as caught:
            text.SyslogFormat(format="rfc3164")(datum)
        assert str(caught.value).startswith(message)

    def test_source_and_target(self) -> None:
        """The fields may be read from a field, and the line written into one; callables too."""
        write = text.SyslogFormat(source="syslog", target="line")
        assert write({"syslog": {"app": "a"}, "id": 1}) == (
            {"syslog": {"app": "a"}, "id": 1, "line": "<13>1 - - a - - -"},
        )
        write = text.SyslogFormat(source=lambda d: d[0], target=movement.itemsetter(1))
        assert write([{"app": "a"}, None]) == ([{"app": "a"}, "<13>1 - - a - - -"],)


# -- lists, mappings, errors through a train ---------------------------------

#: Lines of both formats, good and bad, and a few non-lines.
some_lines = st.sampled_from(
    [
        '<165>1 2003-10-11T22:14:15.003Z h app - ID47 [a@1 x="1" x="2"] m',
        "<13>1 - - - - - -",
        "<34>Oct 11 22:14:15 mymachine su: failed",
        "Nov 27 03:56:44 vm kernel: x",
        "<13>Feb 30 22:14:15 h t: m",
        "<192>1 - - - - - -",
        '<13>1 - h a p m [x a="b',
        "garbage",
        "",
    ]
) | st.text(st.sampled_from('<>1 -[]="\\:OctNov0123T'), max_size=30)


class TestLists:
    """call_batch: a list gives what one call per datum gives, failures and event ids included."""

    @settings(max_examples=300)
    @given(
        st.lists(some_lines | st.binary(max_size=8), max_size=10),
        st.sampled_from(["text", "mapping", "bytes"]),
        st.booleans(),
    )
    def test_list_equals_each(self, lines: list[Any], shape: str, keep_id: bool) -> None:
        """Lines, mappings (with keep) and bytes: the same data and the same errors as datum by datum."""
        data: list[Any]
        if shape == "mapping":
            data = [{"id": f"f:{i}", "line": line} for i, line in enumerate(lines)]
        elif shape == "bytes":
            data = [line.encode() if isinstance(line, str) else line for line in lines]
        else:
            data = [line.decode("latin-1") if isinstance(line, bytes) else line for line in lines]
        options: dict[str, Any] = {"clock": NOW, "keep": ["id"] if keep_id else []}
        single = text.SyslogParse(**options)
        expected_out: list[Any] = []
        expected_failed: list[tuple[Any, str]] = []
        for datum in copy.deepcopy(data):
            try:
                expected_out.extend(single(datum))
            except (ValueError, TypeError) as exc:
                expected_failed.append((datum, str(exc)))
        out, records = send_through([text.SyslogParse(**options)], copy.deepcopy(data))
        assert out == expected_out
        assert [(r.datum, str(r.error)) for r in records] == expected_failed
        if shape == "mapping" and keep_id:
            assert all(o["id"].startswith("f:") for o in out)

    def test_errors_name_the_event_and_keep_the_line(self) -> None:
        """A bad line goes to the error output with its event id and the line as it came; its neighbours go on."""
        data = [
            {"id": "f:0", "line": "<13>1 - h - - - - ok"},
            {"id": "f:20", "line": "<13>1 - h - - - -x"},
            {"id": "f:39", "line": "<13>Nov 27 03:56:44 h t: fine"},
        ]
        out, records = send_through([text.SyslogParse(clock=NOW), text.SyslogFormat()], data)
        assert out == ["<13>1 - h - - - - ok", "<13>1 2026-11-27T03:56:44Z h t - - - fine"]
        assert [(r.event_id, r.datum["line"], str(r.error)) for r in records] == [
            ("f:20", "<13>1 - h - - - -x", "RFC 5424: expected a space before the message at column 18, found 'x'")
        ]

    def test_keep_and_target(self) -> None:
        """keep carries reader fields over; a target keeps the datum and puts the fields there."""
        datum = {"id": "f:0", "line": "<13>1 - h - - - - m"}
        assert parse(dict(datum), keep=["id"]) == {**fields(priority=13, version=1, host="h", message="m"), "id": "f:0"}
        assert parse(dict(datum), target="syslog")["syslog"]["host"] == "h"
        assert parse("<13>1 - h - - - - m", target="syslog") == {
            "syslog": fields(priority=13, version=1, host="h", message="m")
        }
        assert parse({"msg": b"<13>1 - h - - - - m"}, source="msg")["host"] == "h"
        assert error_of(b"<13>1 - h - - - - \xff") == "the line is not UTF-8 (byte 19); text.decode can read others"
        with pytest.raises(TypeError, match="expected a syslog line"):
            text.SyslogParse()({"line": 5})

    @settings(max_examples=200)
    @given(st.lists(st.builds(lambda c: c["given"], rfc5424_fields()) | st.just({"host": "a b"}), max_size=8))
    def test_format_list_equals_each(self, data: list[dict[str, Any]]) -> None:
        """Formatting a list gives one call's result per datum, and the same failures."""
        cog = text.SyslogFormat(octet_counting=True)
        expected_out: list[str] = []
        expected_failed: list[str] = []
        for datum in copy.deepcopy(data):
            try:
                expected_out.extend(cog(datum))
            except ValueError as exc:
                expected_failed.append(str(exc))
        out, records = send_through([text.SyslogFormat(octet_counting=True)], copy.deepcopy(data))
        assert out == expected_out and [str(r.error) for r in records] == expected_failed


# -- hostile lines -----------------------------------------------------------


def reference_3164(line: str, times: Any) -> dict[str, Any]:
    """RFC 3164 as the parser's documentation states it, word by word (the oracle of the one-pattern reader)."""
    head = re.match(rf"(?:<(\d{{1,3}})>)?(?:({grammar._TIME_BSD})|({grammar._TIME_ISO}))(?: |\Z)", line)
    if head is None:
        raise ValueError("no")
    tag_form = re.compile(r"([^\s\[\]:]+)(?:\[([^\s\]]+)\]:?|:)")
    first, _, after = line[head.end() :].partition(" ")
    tag = tag_form.fullmatch(first)
    host = None
    if tag is None and first:
        host = first
        word, _, rest = after.partition(" ")
        tag = tag_form.fullmatch(word)
        if tag is not None:
            after = rest
    pri = head.group(1)
    return fields(
        priority=None if pri is None else int(pri),
        timestamp=times.wall_time(head.group(2)) if head.group(2) else times.offset_time(head.group(3)),
        host=host,
        app=tag and tag.group(1),
        procid=tag and tag.group(2),
        message=after,
    )


class TestHostileLines:
    """Lines built to break parsers: a clear error or the right fields, in linear time."""

    @settings(max_examples=1000)
    @given(
        st.text(st.sampled_from('<>1 -[]="\\:aZT0123456789.+\ufeff\n\té'), max_size=40),
        st.sampled_from(["", "<13>1 - h a p m ", "<13>1 2026-01-01T00:00:00Z h a p m [x", "<13>Nov 27 03:56:44 "]),
    )
    def test_any_line_is_read_or_refused_with_a_column(self, tail: str, head: str) -> None:
        """Whatever the line, the result is fields or a ValueError that names a column; the fast path and the
        step-by-step explanation never disagree (no generic message), and detection matches the grammar."""
        line = head + tail
        try:
            found = parse(line)
        except ValueError as exc:
            message = str(exc)
            assert "does not follow the grammar" not in message, line
            assert re.search(r"column \d+|SD-ID|timestamp", message), message
            for form in ("rfc5424", "rfc3164"):
                try:
                    parse(line, format=form)
                except ValueError:
                    continue
                pytest.fail(f"auto refused {line!r} but {form} reads it")
            return
        forced = "rfc5424" if found["version"] == 1 else "rfc3164"
        assert parse(line, format=forced) == found
        if forced == "rfc5424":
            assert grammar._explain_5424(line) is None
        else:
            assert found == reference_3164(line, text.SyslogParse(clock=NOW)._times)

    def test_the_patterns_cannot_backtrack_badly(self) -> None:
        """Lines of a million characters made to provoke backtracking are answered (in a subprocess; the guard)."""
        result = subprocess.run(
            [sys.executable, "-c", HOSTILE_SCRIPT], capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == HOSTILE_EXPECTED


#: Each line is about a million characters; printed: "ok" or the start of the error.
HOSTILE_SCRIPT = textwrap.dedent(
    r"""
    from deadbeat import text
    n = 1_000_000
    lines = [
        '<13>1 - h a p m [x a="' + '\\' * n,                         # an open value of backslashes
        '<13>1 - h a p m [x a="' + '\\"' * (n // 2),                 # escaped quotes, never closed
        '<13>1 - h a p m ' + '[x]' * (n // 3) + 'y',                 # elements, then garbage
        '<13>1 - h a p m [x' + ' a="b"' * (n // 6) + '"',            # parameters, then garbage
        '<13>1 - h a p m [x' + ' a="b"' * (n // 6) + ']',            # parameters, fine
        '<13>1 - ' + 'h' * n,                                        # a header field without end
        '<13>1 - h a p m - ' + 'm' * n,                              # a long message, fine
        '<13>Nov 27 03:56:44 ' + 'h' * n,                            # RFC 3164: one long word
        '<13>Nov 27 03:56:44 ' + 't[' * n,                           # almost-tags
        '<13>Nov 27 03:56:44 h ' + 'a:' * (n // 2),                  # colons everywhere
        '<' + '1' * n,                                               # a priority without end
    ]
    cog = text.SyslogParse(clock=lambda: 1.8e9)
    for line in lines:
        try:
            cog(line)
            print("ok")
        except ValueError as exc:
            print(str(exc).split(":")[0].replace(" ", "_"))
    """
)
HOSTILE_EXPECTED = ["RFC_5424"] * 4 + ["ok", "RFC_5424", "ok", "ok", "ok", "ok", "syslog"]


# -- real producers ----------------------------------------------------------


def iso_utc(stamp: str) -> str:
    """An RFC 3339 stamp in UTC, computed by the standard library (independently of the parser)."""
    return utc_text(dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")))


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "log")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.settimeout(10)
    try:
        yield path, receiver
    finally:
        receiver.close()


def logger(*args: str) -> None:
    """Run util-linux logger(1)."""
    subprocess.run([shutil.which("logger") or "logger", *args], check=True, timeout=30, capture_output=True)


class TestRealProducers:
    """Lines written by util-linux logger and by rsyslogd, parsed."""

    def test_logger_rfc5424_over_a_unix_socket(self, unix_socket: tuple[str, socket.socket]) -> None:
        """logger --rfc5424 with structured data (escapes included) and a MSGID: every field, as sent."""
        path, receiver = unix_socket
        logger(
            "-u", path, "--rfc5424", "-t", "myapp", "-p", "local3.warning", "-i", "--msgid", "ID47",
            "--sd-id", "zoo@123", "--sd-param", 'tiger="a \\"b\\" \\\\ c\\]d"', "--sd-param", 'zebra="1"',
            "--sd-param", 'zebra="2"', "--sd-id", "light@123", "--sd-param", 'on="yes"',
            "hello world",
        )  # fmt: skip
        line = receiver.recv(65536).decode()
        parsed = parse(line)
        stamp = line.split(" ")[1]
        assert parsed == fields(
            priority=19 * 8 + 4,
            version=1,
            timestamp=iso_utc(stamp),
            host=socket.gethostname(),
            app="myapp",
            procid=parsed["procid"],
            msgid="ID47",
            structured_data={
                "timeQuality": parsed["structured_data"]["timeQuality"],
                "zoo@123": {"tiger": 'a "b" \\ c]d', "zebra": ["1", "2"]},
                "light@123": {"on": "yes"},
            },
            message="hello world",
        )
        assert parsed["procid"].isdecimal() and set(parsed["structured_data"]["timeQuality"]) >= {"tzKnown"}
        # Written back by us, read back the same.
        assert parse(text.SyslogFormat()(parsed)[0]) == parsed

    def test_logger_rfc3164_and_its_local_form(self, unix_socket: tuple[str, socket.socket]) -> None:
        """logger --rfc3164 (host, tag[pid]) and its default local form (no host) read in the local zone."""
        path, receiver = unix_socket
        logger("-u", path, "--rfc3164", "-t", "other", "-p", "user.err", "-i", "hello 3164")
        logger("-u", path, "-t", "plain", "-p", "mail.info", "no host")
        options = {"timezone": "local", "clock": time.time}
        first = parse(receiver.recv(65536).decode(), **options)
        second = parse(receiver.recv(65536).decode(), **options)
        assert (first["priority"], first["host"], first["app"], first["message"]) == (
            11,
            socket.gethostname(),
            "other",
            "hello 3164",
        )
        assert first["procid"].isdecimal()
        assert (second["priority"], second["host"], second["app"], second["procid"], second["message"]) == (
            2 * 8 + 6,
            None,
            "plain",
            None,
            "no host",
        )
        for parsed in (first, second):
            # The wall clock logger wrote, in this machine's zone, is the instant the parser gives.
            moment = dt.datetime.fromisoformat(parsed["timestamp"].replace("Z", "+00:00"))
            assert (
                moment.astimezone().strftime("%b %e %H:%M:%S")
                in text.SyslogFormat(format="rfc3164", timezone="local")(parsed)[0]
            )

    def test_logger_octet_counting_over_tcp(self) -> None:
        """logger -T --octet-count frames RFC 5424 lines as our formatter does; each frame parses."""
        with socket.create_server(("127.0.0.1", 0)) as server:
            port = server.getsockname()[1]
            sender = subprocess.Popen(
                ["logger", "-n", "127.0.0.1", "-P", str(port), "-T", "--octet-count", "--rfc5424", "-t", "tcp",
                 "--msgid", "M", "line one\nline two"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            server.settimeout(30)
            connection, _ = server.accept()
            with connection:
                connection.settimeout(30)
                received = b""
                while chunk := connection.recv(65536):
                    received += chunk
            assert sender.wait(timeout=30) == 0, sender.stderr.read() if sender.stderr else ""
        (frame,) = unframe(received)
        parsed = parse(frame)
        assert (parsed["app"], parsed["msgid"], parsed["message"]) == ("tcp", "M", "line one\nline two")
        ours = text.SyslogFormat(octet_counting=True)(parsed)[0].encode()
        assert [parse(f) for f in unframe(ours + ours)] == [parsed, parsed]

    def test_rsyslog_file_formats(self, tmp_path: Path) -> None:
        """rsyslogd (its own instance) writes one message in four formats; all read to the same fields."""
        rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
        if not os.access(rsyslogd, os.X_OK):
            pytest.fail("rsyslogd is missing: scripts/system-packages.sh should install Debian's rsyslog")
        sock = tmp_path / "log"
        outputs = {name: tmp_path / f"{name}.log" for name in ("traditional", "file", "protocol23", "sd")}
        config = tmp_path / "rsyslog.conf"
        config.write_text(
            textwrap.dedent(
                f"""
                global(workDirectory="{tmp_path}")
                module(load="imuxsock" SysSock.Use="off")
                input(type="imuxsock" Socket="{sock}" UseSpecialParser="off" ParseHostname="on")
                action(type="omfile" file="{outputs["traditional"]}" template="RSYSLOG_TraditionalFileFormat")
                action(type="omfile" file="{outputs["file"]}" template="RSYSLOG_FileFormat")
                action(type="omfile" file="{outputs["protocol23"]}" template="RSYSLOG_SyslogProtocol23Format")
                """
            )
        )
        daemon = subprocess.Popen(
            [rsyslogd, "-n", "-f", str(config), "-i", str(tmp_path / "pid")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 30  # a guard against a hang, not a measure
            while not sock.exists():
                assert daemon.poll() is None and time.monotonic() < deadline, "rsyslogd did not start"
                time.sleep(0.05)
            logger("-u", str(sock), "--rfc5424", "-t", "myapp", "-i", "-p", "local1.notice", "--msgid", "M1",
                   "--sd-id", "zoo@123", "--sd-param", 'tiger="a \\"b\\""', "hello 5424")  # fmt: skip
            logger("-u", str(sock), "--rfc3164", "-t", "other", "-p", "user.err", "hello 3164")
            while not all(p.exists() and p.read_text().count("\n") >= 2 for n, p in outputs.items() if n != "sd"):
                assert daemon.poll() is None and time.monotonic() < deadline, "rsyslogd wrote nothing"
                time.sleep(0.05)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
        read = text.SyslogParse(timezone="local", clock=time.time)
        traditional, file, protocol23 = (
            [read(line)[0] for line in outputs[n].read_text().splitlines()]
            for n in ("traditional", "file", "protocol23")
        )
        assert protocol23[0]["structured_data"]["zoo@123"] == {"tiger": 'a "b"'}
        assert (protocol23[0]["app"], protocol23[0]["msgid"], protocol23[0]["priority"]) == ("myapp", "M1", 17 * 8 + 5)
        assert protocol23[1]["message"] == " hello 3164"  # rsyslog keeps the space after "other:"
        for i in range(2):
            for key in ("host", "app", "procid"):
                assert traditional[i][key] == file[i][key] == protocol23[i][key], (i, key)
            assert traditional[i]["message"] == file[i]["message"] == protocol23[i]["message"].lstrip(" ")
            assert file[i]["timestamp"] == protocol23[i]["timestamp"]
            # The traditional format keeps whole seconds only.
            assert traditional[i]["timestamp"] == protocol23[i]["timestamp"][:19] + "Z"


class TestPipeline:
    """``deadbeat run`` with a pipeline file: settings from TOML, bad lines to the error output with their ids."""

    def test_file_to_json_lines_and_back(self, tmp_path: Path) -> None:
        """Syslog lines become JSON lines; the bad one goes to errors.jsonl naming FILE:OFFSET and the column."""
        lines = [
            '<165>1 2026-11-27T19:14:15.003+01:00 h app 42 ID47 [a@1 x="1" x="2"] first',
            "<13>Oct 25 02:30:00 h tag[7]: repeated hour",
            "<13>1 - h - - - -x",
            "Jul  1 12:00:00 h kernel: [ 1.2] usb",
        ]
        (tmp_path / "in.log").write_text("\n".join(lines) + "\n")
        pipeline = tmp_path / "pipeline.toml"
        pipeline.write_text(
            textwrap.dedent(
                """
                [[cog]]
                use = "fs.read"
                filenames = ["in.log"]

                [[cog]]
                use = "text.syslog_parse"
                timezone = "Europe/Prague"
                ambiguous = "later"
                year = 2026
                target = false

                [[cog]]
                use = "text.json_format"
                sort_keys = true

                [[cog]]
                use = "fs.write"
                filename = "out.jsonl"

                [[errors]]
                use = "text.json_format"

                [[errors]]
                use = "fs.write"
                filename = "errors.jsonl"
                """
            )
        )
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(pipeline), "--once", "--quiet"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert [(o["timestamp"], o["app"], o["procid"], o["message"]) for o in out] == [
            ("2026-11-27T18:14:15.003000Z", "app", "42", "first"),
            ("2026-10-25T01:30:00Z", "tag", "7", "repeated hour"),
            ("2026-07-01T10:00:00Z", "kernel", None, "[ 1.2] usb"),
        ]
        assert out[0]["structured_data"] == {"a@1": {"x": ["1", "2"]}}
        (error,) = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
        offset = len(lines[0]) + len(lines[1]) + 2
        assert error["event_id"].endswith(f"in.log:{offset}")
        assert error["error"].endswith("RFC 5424: expected a space before the message at column 18, found 'x'")
        assert error["datum"] == "<13>1 - h - - - -x"

        # And back to syslog lines, read again to the same fields.
        back = tmp_path / "back.toml"
        back.write_text(
            pipeline.read_text()
            .replace('use = "text.json_format"\nsort_keys = true', 'use = "text.syslog_format"')
            .replace("out.jsonl", "back.log")
            .replace("year = 2026", 'year = 2026\nformat = "auto"')
        )
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(back), "--once", "--quiet"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        again = [parse(line) for line in (tmp_path / "back.log").read_text().splitlines()]
        expected = [{k: v for k, v in o.items() if k != "version"} for o in out]
        # The line without <PRI> gets default_priority, 13 (user.notice), as RFC 3164 says.
        expected[2].update(priority=13, facility=1, severity=5, facility_name="user", severity_name="notice")
        assert [{k: v for k, v in a.items() if k != "version"} for a in again] == expected
