"""Casts and flow cogs: types, filters, reshaping, dedupe, throttle, aggregation, batches."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import random
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat import cast, conf, flow, movement
from deadbeat.testing import CogConformance, Collector, run_train, send_through


class TestCastConformance(CogConformance):
    cog_name = "cast.fields"
    params = {"fields": {"n": "int"}}
    samples = [{"n": "5"}]
    flushes_all = True


class TestFilterConformance(CogConformance):
    cog_name = "flow.filter"
    params = {"expression": "n > 1"}
    samples = [{"n": 2}]
    flushes_all = True


class TestSelectConformance(CogConformance):
    cog_name = "flow.select"
    params = {"fields": ["a"]}
    samples = [{"a": 1, "b": 2}]
    flushes_all = True


class TestRenameConformance(CogConformance):
    cog_name = "flow.rename"
    params = {"fields": {"a": "b"}}
    samples = [{"a": 1}]
    flushes_all = True


class TestDropFieldsConformance(CogConformance):
    cog_name = "flow.drop_fields"
    params = {"fields": ["a"]}
    samples = [{"a": 1, "b": 2}]
    flushes_all = True


class TestSetFieldsConformance(CogConformance):
    cog_name = "flow.set"
    params = {"fields": {"seen": True, "host.name": "web1"}}
    samples = [{"a": 1}, {"host": {"ip": "192.0.2.1"}}]
    flushes_all = True


class TestDedupeConformance(CogConformance):
    cog_name = "flow.dedupe"
    params = {"fields": ["a"], "window": 10.0}
    samples = [{"a": 1}]
    flushes_all = True


class TestThrottleConformance(CogConformance):
    cog_name = "flow.throttle"
    params = {"fields": ["a"], "rate": 5.0}
    samples = [{"a": 1}]
    flushes_all = True


class TestAggregateConformance(CogConformance):
    cog_name = "flow.aggregate"
    params = {"by": ["host"], "aggregates": {"n": "count"}, "window": 30.0}
    samples = [{"host": "a"}, {"host": "a"}]


class TestBatchConformance(CogConformance):
    cog_name = "flow.batch"
    params = {"size": 10, "timeout": 30.0}
    samples = [{"a": 1}]


class TestSplitConformance(CogConformance):
    cog_name = "flow.split"
    params = {"field": "items"}
    samples = [{"items": [1, 2]}]


def failures(cog: Any, data: list[Any]) -> tuple[list[Any], list[movement.ErrorRecord]]:
    return send_through([cog], data)


class TestCasts:
    def test_shares_the_casts_of_conf(self) -> None:
        """Numbers and booleans are cast by deadbeat.conf's casts, not a second copy."""
        assert cast.CASTS["int"] is conf.cast_int and cast.CASTS["bool"] is conf.cast_boolean

    @pytest.mark.parametrize(
        ("kind", "text"),
        [
            ("int", "4_2"),
            ("int", "\u0664\u0662"),  # Arabic-Indic 42
            ("float", "1_000.5"),
            ("float", "\u0661.\u0665"),
            ("float", "nan"),
            ("float", "-inf"),
            ("float", "1e999"),
        ],
    )
    def test_numbers_written_otherwise_are_refused_not_guessed(self, kind: str, text: str) -> None:
        """Underscores, digits of other scripts and values JSON cannot hold go to the error output, naming the field."""
        out, errors = failures(cast.Cast({"n": kind}), [{"id": 1, "n": text}])
        assert out == []
        assert len(errors) == 1 and "'n'" in str(errors[0].error)

    @given(st.integers(min_value=-(10**30), max_value=10**30), st.sampled_from(["", "0", "00"]))
    def test_decimal_integers_with_leading_zeros_read_as_decimal(self, number: int, zeros: str) -> None:
        """``007`` is 7, as a log means it; any decimal integer text is read exactly."""
        sign = "-" if number < 0 else ""
        assert conf.cast_int(f"{sign}{zeros}{abs(number)}") == number

    @given(st.floats(allow_nan=False, allow_infinity=False))
    def test_every_finite_float_reads_back(self, number: float) -> None:
        """What Python writes of a finite float is read back exactly."""
        assert conf.cast_float(repr(number)) == number

    def test_fields_of_every_type(self) -> None:
        """int, float, bool, timestamp, ip and list casts on one datum."""
        cog = cast.Cast(
            {
                "n": "int",
                "f": "float",
                "ok": "bool",
                "at": "timestamp",
                "clf": "timestamp",
                "epoch": "timestamp",
                "ip": "ip",
                "tags": "list",
                "ports": "list:int",
            }
        )
        (out,) = cog(
            {
                "n": "42",
                "f": "1.5",
                "ok": "yes",
                "at": "2026-11-27T20:50:00+01:00",
                "clf": "10/Oct/2000:13:55:36 -0700",
                "epoch": 1700000000123,
                "ip": "2001:DB8::1",
                "tags": "a, b",
                "ports": "22,80",
            }
        )
        assert out == {
            "n": 42,
            "f": 1.5,
            "ok": True,
            "at": "2026-11-27T19:50:00Z",
            "clf": "2000-10-10T20:55:36Z",
            "epoch": "2023-11-14T22:13:20.123000Z",
            "ip": "2001:db8::1",
            "tags": ["a", "b"],
            "ports": [22, 80],
        }

    def test_wrong_type_and_missing_field_go_to_the_error_output(self) -> None:
        """A value that does not cast, or a missing field, fails the datum with field, type and value."""
        _, records = failures(cast.Cast({"n": "int"}), [{"id": 1, "n": "many"}, {"id": 2}])
        assert [str(r.error) for r in records] == [
            "field 'n': expected an integer, got 'many'",
            "field 'n': missing",
        ]
        out, records = failures(cast.Cast({"n": "int"}, missing="skip"), [{"id": 3}])
        assert out == [{"id": 3}] and not records

    def test_a_failing_datum_reaches_the_error_output_as_it_came(self) -> None:
        """When the second field fails, the first is not cast in the datum the error output gets."""
        _, records = failures(cast.Cast({"a": "int", "b": "int"}), [{"id": 4, "a": "1", "b": "x"}])
        assert records[0].datum == {"id": 4, "a": "1", "b": "x"}

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("a", "a"), (443, "443"), (-7, "-7"), (0.5, "0.5"), (1e20, "1e+20"), (True, "true"), (False, "false")],
    )
    def test_str_writes_numbers_and_booleans_as_json_does(self, value: Any, expected: str) -> None:
        """A port read as a number becomes "443", the text a JSON reader would have seen."""
        (out,) = cast.Cast({"v": "str"})({"v": value})
        assert out == {"v": expected}
        assert expected == (value if isinstance(value, str) else json.dumps(value))

    @pytest.mark.parametrize("value", [None, [1], {"a": 1}, float("nan"), float("inf")])
    def test_str_refuses_what_has_no_one_text(self, value: Any) -> None:
        """null, a list, an object or a non-finite number: an error naming the field, not "None" or "[1]"."""
        _, records = failures(cast.Cast({"v": "str"}), [{"id": 1, "v": value}])
        assert str(records[0].error).startswith("field 'v': expected text, a number or a boolean, got ")

    @given(st.ip_addresses())
    def test_ip_writes_what_ip_parse_writes(self, address: Any) -> None:
        """One address, one text: cast.fields' ip and ip.parse agree (IPv4-mapped addresses included)."""
        parse = pytest.importorskip("deadbeat.ip").IPParse(fields="a")
        for text in (str(address), str(address).upper(), address.exploded):
            (by_parse,) = parse({"a": text})
            (by_cast,) = cast.Cast({"a": "ip"})({"a": text})
            assert by_cast["a"] == by_parse["a"], text

    def test_unknown_cast_names_the_known_ones(self) -> None:
        """A typo in a cast name is caught at construction."""
        with pytest.raises(ValueError, match="unknown cast 'integer'; known: int, float"):
            cast.Cast({"n": "integer"})

    @given(
        st.datetimes(
            min_value=dt.datetime(1900, 1, 1),
            timezones=st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m))),
        )
    )
    def test_timestamps_normalise_to_the_same_instant(self, moment: Any) -> None:
        """Any datetime with an offset, in ISO form, becomes the same instant in UTC."""
        text = cast.cast_timestamp(moment.isoformat())
        back = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        assert back == moment


class TestFilter:
    def test_backslashes_in_texts_are_backslashes(self) -> None:
        """As the docs say: in a TOML literal string, a pattern's backslashes are the pattern's.

        Read as Python literals, \\b was a backspace (the filter never matched)
        and \\1 a control character instead of a backreference RE2 refuses.
        """
        word = flow.Filter(r'matches(msg, "\bbad\b")')
        assert word({"msg": "a bad thing"}) == ({"msg": "a bad thing"},)
        assert word({"msg": "abadthing"}) is None
        assert flow.Filter(r'msg == "C:\temp"')({"msg": "C:\\temp"}) == ({"msg": "C:\\temp"},)
        with pytest.raises(Exception, match="RE2 has no backreferences"):
            flow.Filter(r'matches(msg, "(b)\1")')

    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("sev >= 3", [2, 3]),
            ("sev >= 3 and src.ip != '10.0.0.1'", [3]),
            ("not exists(user)", [3]),
            ("matches(user, '^adm')", [1]),
            ("user in ['bob', 'eve']", [2]),
            ("lower(name) == 'x'", [1]),
            ("sev * 2 > 4", [2, 3]),
            ("missing > 1", []),
        ],
    )
    def test_expressions(self, expression: str, expected: list[int]) -> None:
        """The safe expression subset selects what Python would."""
        data = [
            {"n": 1, "sev": 1, "user": "admin", "name": "X", "src": {"ip": "10.0.0.2"}},
            {"n": 2, "sev": 3, "user": "bob", "name": "y", "src": {"ip": "10.0.0.1"}},
            {"n": 3, "sev": 5, "name": "z", "src": {"ip": "10.0.0.3"}},
        ]
        out = run_train([flow.Filter(expression)], [dict(d) for d in data])
        assert [d["n"] for d in out.data] == expected

    @pytest.mark.parametrize(
        "expression",
        ["__import__('os').system('true')", "a.__class__()", "[x for x in y]", "lambda: 1", "a[0]", "open('f')"],
    )
    def test_anything_outside_the_subset_is_refused(self, expression: str) -> None:
        """Calls, comprehensions, lambdas, subscripts: refused when compiled."""
        with pytest.raises(flow.ExpressionError):
            flow.Filter(expression)

    def test_drop_action(self) -> None:
        """action="drop" removes what matches."""
        out = run_train([flow.Filter("n == 2", action="drop")], [{"n": 1}, {"n": 2}])
        assert out.data == [{"n": 1}]


class TestReshape:
    def test_select_rename_drop(self) -> None:
        """Select keeps paths, Rename renames, DropFields removes."""
        (out,) = flow.Select(["a", "b.c"])({"a": 1, "b": {"c": 2, "d": 3}, "e": 4})
        assert out == {"a": 1, "b": {"c": 2}}
        assert flow.Rename({"a": "z", "q": "r"})({"a": 1}) == ({"z": 1},)
        assert flow.DropFields(["a", "q"])({"a": 1, "b": 2}) == ({"b": 2},)

    def test_set_fields(self) -> None:
        """SetFields adds or replaces values, at paths too; overwrite=False only fills in."""
        assert flow.SetFields({"a": 1, "b.c": "x"})({"a": 0}) == ({"a": 1, "b": {"c": "x"}},)
        assert flow.SetFields({"a": 1, "z": 2}, overwrite=False)({"a": 0}) == ({"a": 0, "z": 2},)
        with pytest.raises(TypeError, match="mapping"):
            flow.SetFields(["a"])  # type: ignore[arg-type]

    def test_set_fields_gives_each_datum_its_own_list(self) -> None:
        """A list value is copied per datum, so changing one datum's list leaves the others."""
        cog = flow.SetFields({"tags": ["new"]})
        first, second = cog.call_batch([{}, {}])
        first["tags"].append("changed")
        assert second == {"tags": ["new"]}
        assert cog.fields == {"tags": ["new"]}
        first, second = flow.SetFields({"pair": (1, [2])}).call_batch([{}, {}])
        first["pair"][1].append(3)
        assert second == {"pair": (1, [2])}

    @given(
        st.lists(
            st.one_of(st.dictionaries(st.sampled_from("abc"), st.integers(), max_size=3), st.integers()), max_size=8
        ),
        st.booleans(),
    )
    def test_set_fields_list_equals_each(self, data: list[Any], overwrite: bool) -> None:
        """A list through the train: the same data and failures as one datum at a time."""
        one_by_one = flow.SetFields({"a": 9, "d": "x"}, overwrite=overwrite)
        expected_out, expected_errors = [], []
        for datum in copy.deepcopy(data):
            try:
                expected_out.extend(one_by_one(datum))
            except Exception:  # noqa: BLE001 - a non-mapping datum fails
                expected_errors.append(datum)
        out, records = send_through([flow.SetFields({"a": 9, "d": "x"}, overwrite=overwrite)], copy.deepcopy(data))
        assert out == expected_out
        assert [r.datum for r in records] == expected_errors

    def test_split(self) -> None:
        """One datum per item; a missing or non-list field is an error."""
        assert flow.Split("items")({"id": 1, "items": [1, 2]}) == [{"id": 1, "items": 1}, {"id": 1, "items": 2}]
        _, records = failures(flow.Split("items"), [{"id": 5, "items": "x"}])
        assert str(records[0].error) == "field 'items': expected a list, got str"

    def test_split_nested_field(self) -> None:
        """Each output of a nested field holds its own item: the containers on the way are copied."""
        datum = {"a": {"b": [1, 2], "k": 0}, "c": 3}
        assert flow.Split("a.b")(datum) == [{"a": {"b": 1, "k": 0}, "c": 3}, {"a": {"b": 2, "k": 0}, "c": 3}]
        assert datum == {"a": {"b": [1, 2], "k": 0}, "c": 3}
        assert flow.Split(r"a\.b.c")({"a.b": {"c": [1, 2]}}) == [{"a.b": {"c": 1}}, {"a.b": {"c": 2}}]
        assert flow.Split(1)(["x", [1, 2]]) == [["x", 1], ["x", 2]]


class TestRate:
    def test_dedupe_within_window_and_bounded(self) -> None:
        """Repeats of a key are dropped; memory holds at most max_keys keys.

        With max_keys keys all within their window, a new key passes without
        being remembered: the keys remembered keep dropping their repeats.
        """
        cog = flow.Dedupe(["a", "b"], window=60, max_keys=2)
        results = [cog({"a": a, "b": 1}) for a in (1, 1, 2, 3, 1, 3)]
        assert [r is not None for r in results] == [True, False, True, True, False, True]
        assert len(cog._seen) == 2 and cog.overflow == 2 and cog.dropped == 2

    def test_keys_are_told_apart_as_json_tells_them(self) -> None:
        """true is no repeat of 1, 1.0 none of 1, null none of a missing field; key order in a mapping is no matter."""
        cog = flow.Dedupe(["user"], window=60)
        data = [{"user": 1}, {"user": True}, {"user": 1.0}, {"user": 0}, {"user": False}, {"user": None}, {}]
        assert all(cog(d) is not None for d in data)
        assert cog({"user": {"a": 1, "b": 2}}) is not None and cog({"user": {"b": 2, "a": 1}}) is None
        esc = movement.Escapement()
        aggregate = flow.Aggregate(movement.Train(esc), ["host"], {"n": "count"}, window=600)
        send_through([aggregate], [{"host": 1}, {"host": True}, {"host": 1}, {"host": [1, 2]}])
        assert sorted((repr(d["host"]), d["n"]) for d in aggregate.finish()) == [("1", 2), ("True", 1), ("[1, 2]", 1)]
        esc.close()

    def test_throttle_burst_then_rate(self) -> None:
        """A burst passes, the rest over the rate is dropped and counted, per key."""
        cog = flow.Throttle(["k"], rate=0.001, burst=3)
        passed = [cog({"k": "x"}) is not None for _ in range(5)] + [cog({"k": "y"}) is not None]
        assert passed == [True, True, True, False, False, True]
        assert cog.dropped == 2


class Renames(movement.Cog):
    def __init__(self) -> None:
        self.seen: list[tuple[Any, Any]] = []

    def event_rename(self, event_id: Any, new_id: Any) -> None:
        self.seen.append((event_id, new_id))


class TestAggregate:
    def test_window_close_emits_and_renames(self) -> None:
        """Groups close after the window; absorbed ids are renamed to the aggregate's id."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        renames = Renames()
        aggregate = flow.Aggregate(
            train,
            by=["host"],
            aggregates={"n": "count", "bytes": "sum:size", "low": "min:size", "sizes": "list:size"},
            window=0.05,
        )
        collector = Collector()
        train.cogs = [renames, aggregate, collector]
        train.send(None, [{"id": f"e{i}", "host": "a" if i % 2 else "b", "size": i} for i in range(6)])
        assert train.in_flight == 6
        esc.after(0.3, esc.shutdown)
        esc.run()
        esc.close()
        by_host = {d["host"]: d for d in collector.data}
        assert by_host["a"]["n"] == 3 and by_host["a"]["bytes"] == 9 and by_host["a"]["sizes"] == [1, 3, 5]
        assert by_host["b"]["low"] == 0
        assert sorted(old for old, _ in renames.seen) == [f"e{i}" for i in range(6)]
        assert train.in_flight == 0

    def test_groups_never_hold_enough_to_stall_the_supplies(self, caplog: pytest.LogCaptureFixture) -> None:
        """More distinct keys than the train lets a cog hold: the oldest groups go out early, said once.

        Held data count against high_water: groups holding more would pause
        every supply until their window ended, silently (20 s for 12,000 keys).
        """
        esc = movement.Escapement()
        train = movement.Train(esc, high_water=100)
        collector = Collector()
        aggregate = flow.Aggregate(train, ["k"], {"n": "count"}, window=600)
        train.cogs = [aggregate, collector]
        with caplog.at_level(logging.WARNING, logger="deadbeat.flow"):
            for i in range(500):
                train.send(None, [{"k": i}])
                assert train.in_flight <= 25 and not train.paused
        assert caplog.text.count("the oldest groups go out early") == 1
        esc.shutdown()
        esc.run()
        esc.close()
        assert sorted(d["k"] for d in collector.data) == list(range(500))

    def test_an_integer_beyond_a_floats_range_fails_alone(self) -> None:
        """A 400-digit integer (JSON lets it through) is refused itself: the valid floats after it are summed.

        Taken in, it made a total that no float could be added to: every later
        datum of its group failed with OverflowError, and the hostile one went on.
        """
        esc = movement.Escapement()
        train = movement.Train(esc)
        aggregate = flow.Aggregate(train, ["h"], {"total": "sum:size", "n": "count"}, window=600)
        data = [{"id": 1, "h": "a", "size": 10**400}, *({"id": i, "h": "a", "size": 1.5} for i in range(2, 6))]
        out, records = send_through([aggregate], data)
        assert [r.event_id for r in records] == [1]
        assert "an integer of 401 digits is beyond a number's range" in str(records[0].error)
        (emitted,) = aggregate.finish()
        assert (emitted["total"], emitted["n"]) == (6.0, 4)
        esc.close()

    def test_a_sum_beyond_a_numbers_range_fails_its_datum_and_keeps_the_group(self) -> None:
        """1e308 + 1e308 would be Infinity, which JSON cannot hold: that datum fails, the group stays as it was."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        aggregate = flow.Aggregate(train, ["h"], {"total": "sum:size", "n": "count"}, window=600)
        out, records = send_through([aggregate], [{"h": "a", "size": 1e308}, {"id": 2, "h": "a", "size": 1e308}])
        assert [(r.event_id, "beyond a number's range" in str(r.error)) for r in records] == [(2, True)]
        (emitted,) = aggregate.finish()
        assert emitted["id"].startswith("aggregate-") and emitted["id"].endswith("-1")
        assert {k: v for k, v in emitted.items() if k != "id"} == {"h": "a", "total": 1e308, "n": 1}
        esc.close()

    def test_ids_do_not_repeat_in_the_next_run(self) -> None:
        """Each run's aggregates have ids of their own: aggregate-1 in every run met itself in a spool."""
        ids = []
        for _ in range(2):
            esc = movement.Escapement()
            aggregate = flow.Aggregate(movement.Train(esc), ["h"], {"n": "count"}, window=600)
            out, _ = send_through([aggregate], [{"h": "a"}])
            ids += [d["id"] for d in aggregate.finish()]
            esc.close()
            time.sleep(0.002)
        assert len(set(ids)) == 2

    def test_size_limit_emits_early(self) -> None:
        """A group reaching max_size goes out at once; the rest at shutdown."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        collector = Collector()
        train.cogs = [flow.Aggregate(train, ["k"], {"n": "count"}, window=60, max_size=2), collector]
        train.send(None, [{"k": 1}, {"k": 1}, {"k": 1}])
        assert [d["n"] for d in collector.data] == [2]
        esc.shutdown()
        esc.run()
        esc.close()
        assert [d["n"] for d in collector.data] == [2, 1]

    def test_keys_and_first_values_count_towards_what_groups_keep(self) -> None:
        """600 data, each with a new 100 KB key and first:user: groups went out early past max_total_bytes instead
        of being kept whole (a hostile stream of unique 1 MB keys reached 629 MB with the defaults)."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        collector = Collector()
        aggregate = flow.Aggregate(
            train, ["user"], {"n": "count", "f": "first:user"}, window=600, max_total_bytes=2 * 2**20
        )
        train.cogs = [aggregate, collector]
        for i in range(600):
            train.send(None, [{"user": f"{i:06}" + "x" * 100_000}])
            assert aggregate._total <= 2 * 2**20
        assert len(aggregate._groups) <= 10
        assert len(collector.data) >= 590
        esc.shutdown()
        esc.run()
        esc.close()
        assert sum(d["n"] for d in collector.data) == 600 and aggregate._total == 0

    def test_a_key_larger_than_max_bytes_goes_to_the_error_output(self) -> None:
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        train = movement.Train(esc, error_output=records.append)
        collector = Collector()
        train.cogs = [flow.Aggregate(train, ["k"], {"n": "count", "l": "last:v"}, max_bytes=1000), collector]
        train.send(None, [{"k": "x" * 2000}, {"k": "small", "v": "y" * 2000}, {"k": "small", "v": 1}])
        esc.shutdown()
        esc.run()
        esc.close()
        assert [str(r.error) for r in records] == [
            "group key and values larger than max_bytes 1000 in one datum (about 2016 bytes)",
            "aggregate 'l' (last): a value larger than max_bytes 1000",
        ]
        assert [(d["k"], d["n"], d["l"]) for d in collector.data] == [("small", 1, 1)]

    def test_the_last_value_is_counted_once_whatever_the_number_of_data(self) -> None:
        """last:v keeps one value: a group of many data with 100-byte values stays small, and is not sent early."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        collector = Collector()
        aggregate = flow.Aggregate(train, ["k"], {"l": "last:v"}, window=600, max_bytes=1000)
        train.cogs = [aggregate, collector]
        train.send(None, [{"k": 1, "v": "z" * 100} for _ in range(50)])
        assert collector.data == [] and aggregate._total < 200
        esc.shutdown()
        esc.run()
        esc.close()
        assert len(collector.data) == 1

    def test_bad_spec_is_refused(self) -> None:
        """An unknown function or a missing field is caught at construction."""
        with pytest.raises(ValueError, match="unknown aggregate 'avg:x'"):
            flow.Aggregate(movement.Train(movement.Escapement()), ["k"], {"a": "avg:x"})
        with pytest.raises(ValueError, match="needs a field"):
            flow.Aggregate(movement.Train(movement.Escapement()), ["k"], {"a": "sum"})

    @settings(max_examples=25, deadline=None)
    @given(
        st.lists(st.tuples(st.integers(0, 3), st.integers(0, 100), st.floats(0, 0.02)), min_size=1, max_size=60),
        st.integers(1, 5),
    )
    def test_no_datum_lost_across_windows_and_shutdown(
        self, items: list[tuple[int, int, float]], max_size: int
    ) -> None:
        """Whatever the timing, window and size limit, the counts and sums add up to the input."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        collector = Collector()
        train.cogs = [
            flow.Aggregate(train, ["k"], {"n": "count", "total": "sum:v"}, window=0.01, max_size=max_size),
            collector,
        ]
        sent: list[tuple[int, int]] = []

        def feed(key: int, value: int) -> None:
            # Once shutdown has begun the supplies are finished: nothing new comes in.
            if not train.finished:
                sent.append((key, value))
                train.send(None, [{"k": key, "v": value}])

        delay = 0.0
        for key, value, gap in items:
            delay += gap
            esc.after(delay, feed, key, value)
        # Shut down in the middle of the stream: open groups must come out too.
        esc.after(delay * random.random(), esc.shutdown)
        esc.run()
        esc.close()
        assert sum(d["n"] for d in collector.data) == len(sent)
        assert sum(d["total"] for d in collector.data) == sum(v for _, v in sent)
        assert train.in_flight == 0


class TestBatch:
    def test_a_batch_larger_than_the_train_can_hold_goes_out_smaller(self, caplog: pytest.LogCaptureFixture) -> None:
        """size above what the train lets a cog hold: batches go out at that bound (said), never stall."""
        esc = movement.Escapement()
        train = movement.Train(esc, high_water=100)
        collector = Collector()
        with caplog.at_level(logging.WARNING, logger="deadbeat.flow"):
            train.cogs = [flow.Batch(train, size=11000, timeout=600, target=None), collector]
        train.send(None, list(range(60)))
        assert [len(batch) for batch in collector.data] == [25, 25]
        assert "batches go out at 25" in caplog.text
        esc.shutdown()
        esc.run()
        esc.close()

    def test_size_timeout_and_finish(self) -> None:
        """Lists go out when full, after the timeout, and at finish."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        collector = Collector()
        train.cogs = [flow.Batch(train, size=3, timeout=0.05), collector]
        train.send(None, [1, 2, 3, 4])
        esc.after(0.2, train.send, None, [5])
        esc.after(0.22, esc.shutdown)
        esc.run()
        esc.close()
        assert [d["data"] for d in collector.data] == [[1, 2, 3], [4], [5]]
        assert train.in_flight == 0
