"""time.parse and the timestamp cast: formats, zones, the inferred year, summer-time gaps and repeats."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat import cast, text
from deadbeat.testing import CogConformance, run_train, send_through
from deadbeat.text._time import Timestamps

UTC = dt.timezone.utc
#: Zones with every kind of change: an hour each way, half an hour (Lord Howe),
#: the southern hemisphere (Sao Paulo until 2019), a whole day skipped (Apia, 2011).
ZONES = ("Europe/Prague", "America/New_York", "Australia/Lord_Howe", "America/Sao_Paulo", "Pacific/Apia")


def at(*args: int) -> float:
    """Epoch seconds of a UTC date and time."""
    return dt.datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


class TestTimeParseConformance(CogConformance):
    cog_name = "time.parse"
    params = {"fields": "ts", "formats": ["iso8601", "syslog", "epoch"], "timezone": "Europe/Prague"}
    samples = [{"ts": "2026-11-27T19:50:00Z"}, {"ts": "Nov 27 19:50:00"}, {"ts": 1700000000}]
    flushes_all = True
    failing_samples = [{"ts": "yesterday"}, {"ts": "2026-03-29T02:30:00"}, {}]


def parse(value: Any, **params: Any) -> Any:
    params.setdefault("fields", "ts")
    return text.TimeParse(**params)({"ts": value})[0]["ts"]


class TestFormats:
    @pytest.mark.parametrize(
        ("value", "formats", "expected"),
        [
            ("2026-11-27T20:50:00+01:00", ["iso8601"], "2026-11-27T19:50:00Z"),
            ("2026-11-27 19:50:00.25Z", ["iso8601"], "2026-11-27T19:50:00.250000Z"),
            ("2026-07-01T12:00:00", ["iso8601"], "2026-07-01T10:00:00Z"),  # summer time in Prague
            ("1700000000", ["epoch"], "2023-11-14T22:13:20Z"),
            (1700000000.5, ["epoch"], "2023-11-14T22:13:20.500000Z"),
            (1700000000123, ["epoch_ms"], "2023-11-14T22:13:20.123000Z"),
            ("27/Nov/2026:19:50:00 -0500", ["httpdate"], "2026-11-28T00:50:00Z"),
            ("27.11.2026 19:50", ["%d.%m.%Y %H:%M"], "2026-11-27T18:50:00Z"),
            ("2026-11-27 19:50:00 +0000", ["%Y-%m-%d %H:%M:%S %z"], "2026-11-27T19:50:00Z"),
            # A list is tried in order: the first format whose shape fits reads it.
            ("27.11.2026 19:50", ["iso8601", "syslog", "%d.%m.%Y %H:%M"], "2026-11-27T18:50:00Z"),
            ("Nov 27 19:50:00", ["iso8601", "syslog"], "2026-11-27T18:50:00Z"),
            # An offset after a space: the same instant, whichever of the formats reads it.
            ("2026-11-27 19:50:00 +0100", ["iso8601", "%Y-%m-%d %H:%M:%S %z"], "2026-11-27T18:50:00Z"),
            ("2026-11-27 19:50:00.5 +0000", ["iso8601", "%Y-%m-%d %H:%M:%S.%f %z"], "2026-11-27T19:50:00.500000Z"),
        ],
    )
    def test_each_format(self, value: Any, formats: list[str], expected: str) -> None:
        """Each named format and strptime patterns read as documented, in Europe/Prague where zone-less."""
        clock = functools.partial(at, 2026, 11, 28)
        assert parse(value, formats=formats, timezone="Europe/Prague", clock=clock) == expected

    @settings(max_examples=150, deadline=None)
    @given(
        st.datetimes(
            dt.datetime(1900, 1, 1),
            dt.datetime(2100, 1, 1),
            timezones=st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m))),
        ),
        st.sampled_from(["T", " "]),
        st.integers(1, 6),
    )
    def test_iso_fractions_and_offsets(self, moment: dt.datetime, separator: str, digits: int) -> None:
        """Any ISO 8601 time with an offset and a fraction of 1 to 6 digits is that instant in UTC."""
        moment = moment.replace(microsecond=moment.microsecond // 10 ** (6 - digits) * 10 ** (6 - digits))
        value = moment.isoformat(sep=separator, timespec="microseconds")
        value = value[: 20 + digits] + value[26:]  # the fraction cut to its digits
        utc = moment.astimezone(UTC)
        expected = utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{utc.microsecond:06d}" if utc.microsecond else "") + "Z"
        cog = text.TimeParse(fields="ts")
        assert cog({"ts": value})[0]["ts"] == expected
        assert cog({"ts": value})[0]["ts"] == expected  # and again, from the memory of whole seconds

    def test_epoch_output(self) -> None:
        """output = "epoch" gives float seconds."""
        assert parse("2026-11-27T19:50:00.5Z", output="epoch") == at(2026, 11, 27, 19, 50) + 0.5

    def test_zone_less_time_without_timezone_is_an_error_naming_the_field(self) -> None:
        """Without a timezone, a zone-less time goes to the error output: never silently UTC."""
        out, errors = send_through(
            [text.TimeParse(fields="ts")],
            [{"id": "a", "ts": "2026-11-27T19:50:00Z"}, {"id": "b", "ts": "2026-11-27T19:50:00"}],
        )
        assert [d["ts"] for d in out] == ["2026-11-27T19:50:00Z"]
        assert errors[0].event_id == "b"
        message = str(errors[0].error)
        assert "'ts'" in message and "no zone" in message and "timezone" in message

    @pytest.mark.parametrize("formats", [["%d.%m.%Y %H:%M"], ["syslog"]])
    def test_one_bad_time_in_a_list_costs_only_its_datum(self, formats: list[str]) -> None:
        """The good data of a list with one bad time go out converted once; the bad one goes to errors as it came.

        The list is converted in place: given again datum by datum, the converted
        times would have been read as input in a format that cannot read them.
        """
        first, second = ("15.01.2024 12:00", "16.01.2024 12:00") if formats[0][0] == "%" else ("Jan 15 12:00:00",) * 2
        data = [{"id": 1, "t": first}, {"id": 2, "t": "garbage"}, {"id": 3, "t": second}]
        out, errors = send_through([text.TimeParse(fields="t", formats=formats, timezone="UTC")], data)
        assert [d["id"] for d in out] == [1, 3]
        assert all(d["t"].endswith(":00Z") for d in out)
        assert [(r.event_id, r.datum) for r in errors] == [(2, {"id": 2, "t": "garbage"})]

    @pytest.mark.parametrize("pattern", ["%H:%M:%S", "%d %H:%M", "%m/%Y %H:%M", "%a %H:%M"])
    def test_a_pattern_without_a_date_is_refused_rather_than_given_one(self, pattern: str) -> None:
        """strptime makes a time without a day and month 1 January: refused when the cog is made."""
        with pytest.raises(ValueError, match="has no date"):
            text.TimeParse(fields="t", formats=[pattern], timezone="UTC")

    @pytest.mark.parametrize("pattern", ["%d.%m.%Y %H:%M", "%b %d %H:%M:%S", "%Y-%j %H:%M", "%G-W%V-%u"])
    def test_patterns_with_a_date_are_taken(self, pattern: str) -> None:
        """A day and month, a day of the year, or an ISO week and weekday give a date."""
        text.TimeParse(fields="t", formats=[pattern], timezone="UTC")

    @pytest.mark.parametrize(
        ("value", "formats"),
        [
            ("Nov \u0662\u0667 19:50:00", ["syslog"]),
            ("\u0662\u0667/Nov/\u0662\u0660\u0662\u0665:19:50:00 +0100", ["httpdate"]),
            ("\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660", ["epoch"]),
            ("\u0662\u0660\u0662\u0665-11-27T19:50:00Z", ["iso8601"]),
        ],
    )
    def test_digits_of_other_scripts_are_refused_in_every_format(self, value: str, formats: list[str]) -> None:
        """Arabic-Indic digits read as a time in the syslog, httpdate and epoch formats, not in the others."""
        with pytest.raises(ValueError, match="in none of the formats|not"):
            Timestamps(formats, timezone="UTC").convert(value)

    def test_text_in_no_format_names_the_formats(self) -> None:
        """A text none of the formats reads is an error naming the field and the formats tried."""
        with pytest.raises(ValueError, match=r"field 'ts'.*none of the formats 'iso8601', 'syslog'"):
            parse("yesterday", formats=["iso8601", "syslog"], timezone="UTC")

    def test_a_shape_that_fits_but_does_not_exist_is_not_offered_further(self) -> None:
        """Feb 30 in syslog form is that error, not a 'no format' error from trying the next format."""
        with pytest.raises(ValueError, match="day 30 does not exist"):
            parse("Feb 30 10:00:00", formats=["syslog", "%b %d %H:%M:%S"], timezone="UTC")

    def test_an_iso_date_that_does_not_exist_says_so(self) -> None:
        """2026-02-30 has ISO 8601's shape: the error is about the day, not 'in none of the formats'."""
        with pytest.raises(ValueError, match="field 'ts': '2026-02-30T10:00:00Z': day is out of range"):
            parse("2026-02-30T10:00:00Z", formats=["iso8601", "epoch"])

    def test_several_fields_and_a_target(self, tmp_path: Path) -> None:
        """Several fields convert in place; a datum failing on one reaches the error output unchanged."""
        cog = text.TimeParse(fields=["a", "b"], timezone="UTC")
        assert cog({"a": "2026-01-01T00:00:00", "b": "2026-01-02T00:00:00Z"})[0] == {
            "a": "2026-01-01T00:00:00Z",
            "b": "2026-01-02T00:00:00Z",
        }
        _, errors = send_through([cog], [{"id": "x", "a": "2026-01-01T00:00:00", "b": "nope"}])
        assert errors[0].datum == {"id": "x", "a": "2026-01-01T00:00:00", "b": "nope"}
        moved = text.TimeParse(fields="raw", target="ts", timezone="UTC")({"raw": "2026-01-01T00:00:00"})[0]
        assert moved == {"raw": "2026-01-01T00:00:00", "ts": "2026-01-01T00:00:00Z"}

    def test_missing_field(self) -> None:
        """missing = "skip" passes a datum without the field; "error" names it."""
        assert text.TimeParse(fields="ts", missing="skip")({"x": 1}) == ({"x": 1},)
        with pytest.raises(ValueError, match="field 'ts': missing"):
            text.TimeParse(fields="ts")({"x": 1})

    def test_bad_settings_are_refused_when_built(self) -> None:
        """Unknown formats, zones and policies are refused at once, saying which."""
        with pytest.raises(ValueError, match="unknown time format 'isoo'"):
            text.TimeParse(formats=["isoo"])
        with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
            text.TimeParse(timezone="Mars/Olympus")
        with pytest.raises(ValueError, match="ambiguous"):
            text.TimeParse(ambiguous="guess")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="%Z reads a zone name but does not apply it"):
            text.TimeParse(formats=["%Y-%m-%d %H:%M:%S %Z"])

    def test_whole_lists_in_a_train(self) -> None:
        """The Train's lists give what one call per datum gives."""
        data = [{"ts": f"2026-03-{day:02d}T10:00:00"} for day in range(1, 29)]
        cog = text.TimeParse(fields="ts", timezone="Europe/Prague")
        assert run_train([cog], [dict(d) for d in data]).data == [cog(dict(d))[0] for d in data]


class TestYear:
    def test_december_read_in_january_is_last_year(self) -> None:
        """A year-less December time read early in January belongs to the year before."""
        clock = functools.partial(at, 2027, 1, 2)
        assert parse("Dec 31 23:59:59", formats=["syslog"], timezone="UTC", clock=clock) == "2026-12-31T23:59:59Z"

    def test_new_year_read_late_on_new_years_eve_is_next_year(self) -> None:
        """A sender whose clock runs ahead: 1 January read on 31 December is next year's."""
        clock = functools.partial(at, 2026, 12, 31, 23, 59)
        assert parse("Jan  1 00:00:01", formats=["syslog"], timezone="UTC", clock=clock) == "2027-01-01T00:00:01Z"

    def test_year_from_the_files_modification_time(self, tmp_path: Path) -> None:
        """year_file: an archive last written in March 2020 replays as 2020 (its February too, leap day included)."""
        archive = tmp_path / "messages.1"
        archive.write_text("...")
        os.utime(archive, (at(2020, 3, 5), at(2020, 3, 5)))
        cog = text.TimeParse(fields="ts", formats=["syslog"], timezone="UTC", year_file=str(archive))
        assert cog({"ts": "Feb 29 12:00:00"})[0]["ts"] == "2020-02-29T12:00:00Z"
        assert cog({"ts": "Dec 24 12:00:00"})[0]["ts"] == "2019-12-24T12:00:00Z"

    def test_year_from_the_file_each_datum_came_from(self, tmp_path: Path) -> None:
        """Two archives of different years read together: year_file named one of them, and the other's lines were
        silently a year off. year_file_field takes each line's own file (fs.tail's path_field)."""
        old, new = tmp_path / "old.log", tmp_path / "new.log"
        for path, year in ((old, 2024), (new, 2026)):
            path.write_text("...")
            os.utime(path, (at(year, 12, 31), at(year, 12, 31)))
        cog = text.TimeParse(fields="ts", formats=["syslog"], timezone="UTC", year_file_field="log.file.path")
        data = [
            {"ts": "Jun 10 12:00:00", "log": {"file": {"path": str(old)}}},
            {"ts": "Jun 10 12:00:00", "log": {"file": {"path": str(new)}}},
            {"ts": "Jun 10 12:00:00", "log": {"file": {"path": str(old)}}},
        ]
        assert [d["ts"] for d in run_train([cog], data).data] == [
            "2024-06-10T12:00:00Z",
            "2026-06-10T12:00:00Z",
            "2024-06-10T12:00:00Z",
        ]
        with pytest.raises(ValueError, match="one of year_file_field, year_file and clock"):
            text.TimeParse(year_file=str(old), year_file_field="path")
        # The same rule as text.syslog_parse: a clock beside a file was silently the winner.
        with pytest.raises(ValueError, match="one of year_file_field, year_file and clock"):
            text.TimeParse(year_file=str(old), clock=lambda: 0.0)

    def test_year_file_field_through_a_pipeline(self, tmp_path: Path, run_pipeline: Any) -> None:
        """fs.read's path_field names each line's file; time.parse takes its year from that file."""
        for name, year in (("old.jsonl", 2024), ("new.jsonl", 2026)):
            (tmp_path / name).write_text('{"ts": "Jun 10 12:00:00"}\n')
            os.utime(tmp_path / name, (at(year, 12, 31), at(year, 12, 31)))
        result = run_pipeline(
            """
            [[cog]]
            use = "fs.read"
            filenames = ["old.jsonl", "new.jsonl"]
            line_setter = "message"
            path_field = "file"
            [[cog]]
            use = "text.json_parse"
            source = "message"
            target = "parsed"
            [[cog]]
            use = "time.parse"
            fields = "parsed.ts"
            formats = ["syslog"]
            timezone = "UTC"
            year_file_field = "file"
            [[cog]]
            use = "text.json_format"
            [[cog]]
            use = "fs.write"
            filename = "out.jsonl"
            """
        )
        assert result.returncode == 0, result.stderr
        times = [json.loads(line)["parsed"]["ts"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert times == ["2024-06-10T12:00:00Z", "2026-06-10T12:00:00Z"]

    def test_strptime_pattern_without_a_year(self) -> None:
        """A strptime pattern without %Y gets the inferred year, 29 February included."""
        clock = functools.partial(at, 2028, 3, 1)
        assert parse("29/02 10:00", formats=["%d/%m %H:%M"], timezone="UTC", clock=clock) == "2028-02-29T10:00:00Z"

    def test_a_fixed_year(self) -> None:
        """year fixes the year of every year-less time."""
        assert parse("Nov 27 19:50:00", formats=["syslog"], timezone="UTC", year=2001) == "2001-11-27T19:50:00Z"

    @pytest.mark.parametrize(
        ("value", "pattern", "year", "expected"),
        [
            ("059 10:00", "%j %H:%M", 2026, "2026-02-28T10:00:00Z"),
            ("060 10:00", "%j %H:%M", 2026, "2026-03-01T10:00:00Z"),
            ("060 10:00", "%j %H:%M", 2028, "2028-02-29T10:00:00Z"),
            ("365 10:00", "%j %H:%M", 2026, "2026-12-31T10:00:00Z"),
            ("366 10:00", "%j %H:%M", 2028, "2028-12-31T10:00:00Z"),
            ("10 Mon 12:00", "%W %a %H:%M", 2026, "2026-03-09T12:00:00Z"),
            ("10 Sun 12:00", "%U %a %H:%M", 2026, "2026-03-08T12:00:00Z"),
        ],
    )
    def test_a_day_of_the_year_or_a_week_is_read_in_the_given_year(
        self, value: str, pattern: str, year: int, expected: str
    ) -> None:
        """Day 60 and week 10 are different dates in different years: read in the configured one."""
        assert parse(value, formats=[pattern], timezone="UTC", year=year) == expected
        assert dt.datetime.strptime(f"{value} {year}", pattern + " %Y").strftime("%Y-%m-%d") == expected[:10]

    def test_day_366_of_a_common_year_is_an_error(self) -> None:
        """strptime would take it for 1 January of the next year."""
        cog = text.TimeParse(fields="t", formats=["%j %H:%M"], timezone="UTC", year=2026)
        out, errors = send_through([cog], [{"t": "366 10:00"}])
        assert out == []
        assert "does not exist in 2026" in str(errors[0].error)

    @pytest.mark.parametrize("pattern", ["%j %H:%M", "%W %a %H:%M", "%U %w %H:%M"])
    def test_a_day_of_the_year_or_a_week_without_a_year_is_refused(self, pattern: str) -> None:
        """The year cannot be inferred from a date that depends on it."""
        with pytest.raises(ValueError, match="depends on the year: add %Y to the pattern, or set year"):
            text.TimeParse(fields="t", formats=[pattern], timezone="UTC")

    @pytest.mark.parametrize("pattern", ["%G %d %m %H:%M", "%G %V %d.%m %H:%M"])
    def test_an_iso_year_without_week_and_weekday_is_refused_when_built(self, pattern: str) -> None:
        """strptime refuses every text for such a pattern; say so before the first datum."""
        with pytest.raises(ValueError, match="%G .* needs %V"):
            text.TimeParse(fields="t", formats=[pattern], timezone="UTC")


def transitions(zone_name: str, first: int = 1995, last: int = 2030) -> list[dt.datetime]:
    """The UTC instants (to the minute) at which the zone's offset changes, between the years given."""
    zone = ZoneInfo(zone_name)
    found: list[dt.datetime] = []
    moment = dt.datetime(first, 1, 1, tzinfo=UTC)
    end = dt.datetime(last, 1, 1, tzinfo=UTC)
    offset = moment.astimezone(zone).utcoffset()
    step = dt.timedelta(days=1)
    while moment < end:
        following = moment + step
        if following.astimezone(zone).utcoffset() != offset:
            low, high = moment, following  # the change is in (low, high]: halve to the minute
            while high - low > dt.timedelta(minutes=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            found.append(high.replace(second=0, microsecond=0))
            offset = following.astimezone(zone).utcoffset()
        moment = following
    return found


TRANSITIONS = {name: transitions(name) for name in ZONES}


def instants_showing(wall: dt.datetime, zone: ZoneInfo) -> list[dt.datetime]:
    """Every UTC instant at which the zone's clocks showed ``wall``: none, one or two (the oracle)."""
    offsets = {wall.replace(tzinfo=zone, fold=fold).utcoffset() for fold in (0, 1)}
    # Any instant showing wall is wall minus one of the offsets in force around it.
    candidates = set()
    for offset in offsets:
        assert offset is not None
        utc = (wall - offset).replace(tzinfo=UTC)
        if utc.astimezone(zone).replace(tzinfo=None) == wall:
            candidates.add(utc)
    return sorted(candidates)


@st.composite
def walls_near_changes(draw: st.DrawFn) -> tuple[str, dt.datetime]:
    """A zone and a wall-clock time within three hours of one of its changes (gaps and repeats included)."""
    name = draw(st.sampled_from(ZONES))
    change = draw(st.sampled_from(TRANSITIONS[name]))
    zone = ZoneInfo(name)
    shown = change.astimezone(zone).replace(tzinfo=None)
    minutes = draw(st.integers(-180, 180))
    seconds = draw(st.sampled_from([0, 1, 59]))
    return name, shown + dt.timedelta(minutes=minutes, seconds=seconds)


class TestSummerTime:
    @settings(max_examples=400, deadline=None)
    @given(walls_near_changes(), st.sampled_from(["error", "earlier", "later"]), st.booleans())
    def test_around_every_change_in_several_zones(
        self, case: tuple[str, dt.datetime], policy: str, as_syslog: bool
    ) -> None:
        """A wall time that happened once is that instant; twice, an error or the chosen one; never, an error."""
        name, wall = case
        instants = instants_showing(wall, ZoneInfo(name))
        if as_syslog:
            value, formats = wall.strftime("%b %d %H:%M:%S"), ["syslog"]
            params: dict[str, Any] = {"year": wall.year}
        else:
            value, formats, params = wall.isoformat(sep=" "), ["iso8601"], {}
        convert = text.TimeParse(fields="ts", formats=formats, timezone=name, ambiguous=policy, **params)
        if not instants:
            with pytest.raises(ValueError, match="never happened"):
                convert({"ts": value})
        elif len(instants) == 2 and policy == "error":
            with pytest.raises(ValueError, match="happened twice"):
                convert({"ts": value})
        else:
            chosen = instants[-1] if policy == "later" else instants[0]
            assert convert({"ts": value})[0]["ts"] == chosen.strftime("%Y-%m-%dT%H:%M:%SZ")

    @settings(max_examples=200, deadline=None)
    @given(st.sampled_from(ZONES), st.datetimes(dt.datetime(1995, 1, 1), dt.datetime(2029, 12, 31)))
    def test_anywhere_in_the_year(self, name: str, wall: dt.datetime) -> None:
        """Away from the changes too: the result is the one instant showing that wall time, or an error."""
        wall = wall.replace(microsecond=0)
        instants = instants_showing(wall, ZoneInfo(name))
        convert = text.TimeParse(fields="ts", timezone=name)
        if len(instants) == 1:
            assert convert({"ts": wall.isoformat()})[0]["ts"] == instants[0].strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            with pytest.raises(ValueError, match="never happened|happened twice"):
                convert({"ts": wall.isoformat()})

    @pytest.mark.parametrize("name", ZONES)
    def test_one_cog_minute_by_minute_through_a_year_of_changes(self, name: str) -> None:
        """One cog (its memories filling up) reads every minute around each change of 2011 as the oracle says."""
        zone = ZoneInfo(name)
        convert = text.TimeParse(fields="ts", timezone=name, ambiguous="later")
        for change in [c for c in TRANSITIONS[name] if c.year == 2011]:
            shown = change.astimezone(zone).replace(tzinfo=None)
            for minutes in range(-150, 151, 7):
                wall = shown + dt.timedelta(minutes=minutes)
                instants = instants_showing(wall, zone)
                if instants:
                    expected = instants[-1].strftime("%Y-%m-%dT%H:%M:%SZ")
                    assert convert({"ts": wall.isoformat()})[0]["ts"] == expected
                else:
                    with pytest.raises(ValueError, match="never happened"):
                        convert({"ts": wall.isoformat()})

    def test_new_york_fall_back(self) -> None:
        """01:30 on 1 November 2026 in New York happened at 05:30Z and again at 06:30Z."""
        value = "2026-11-01 01:30:00"
        assert parse(value, timezone="America/New_York", ambiguous="earlier") == "2026-11-01T05:30:00Z"
        assert parse(value, timezone="America/New_York", ambiguous="later") == "2026-11-01T06:30:00Z"
        with pytest.raises(ValueError, match="happened twice in America/New_York"):
            parse(value, timezone="America/New_York")

    def test_lord_howe_half_hour_gap(self) -> None:
        """Lord Howe skips 02:00-02:30 on 4 October 2026: 02:15 never happened there."""
        with pytest.raises(ValueError, match="never happened in Australia/Lord_Howe"):
            parse("2026-10-04 02:15:00", timezone="Australia/Lord_Howe", ambiguous="earlier")


class TestCastTimestamp:
    def test_syslog_time_with_a_timezone(self) -> None:
        """cast.fields reads 'Nov 27 19:50:00' (the reported problem) when told the zone."""
        cog = cast.Cast({"t": "timestamp"}, timezone="Europe/Prague")
        assert cog({"t": "Nov 27 19:50:00"})[0]["t"].endswith("-11-27T18:50:00Z")

    def test_zone_less_is_an_error_naming_the_field_unless_a_timezone_is_given(self) -> None:
        """A zone-less time is no longer taken as UTC in silence: an error naming the field and the fix."""
        _, errors = send_through([cast.Cast({"t": "timestamp"})], [{"id": "e1", "t": "2026-11-27 19:50:00"}])
        assert errors[0].event_id == "e1"
        assert "field 't'" in str(errors[0].error) and "timezone" in str(errors[0].error)
        utc = cast.Cast({"t": "timestamp"}, timezone="UTC")
        assert utc({"t": "2026-11-27 19:50:00"})[0]["t"] == "2026-11-27T19:50:00Z"

    def test_summer_time_gap_is_an_error_with_its_reason(self) -> None:
        """The cast says why: the clocks skipped that time."""
        with pytest.raises(ValueError, match="field 't'.*never happened"):
            cast.Cast({"t": "timestamp"}, timezone="Europe/Prague")({"t": "2026-03-29 02:30:00"})
