"""flow.lookup (translate through a CSV or JSON table, reloaded) and flow.sample."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat import flow, movement
from deadbeat.testing import CogConformance, run_train, send_through

SCRATCH = Path(tempfile.mkdtemp(prefix="deadbeat-lookup-test-"))
PORTS_CSV = SCRATCH / "ports.csv"
PORTS_CSV.write_text("port,service,risk\n22,ssh,high\n80,http,low\n")
USERS_JSON = SCRATCH / "users.json"
USERS_JSON.write_text(json.dumps({"alice": {"team": "ops", "tags": ["admin"]}, "bob": {"team": "dev"}}))


class TestLookupConformance(CogConformance):
    cog_name = "flow.lookup"
    params = {"table": str(PORTS_CSV), "field": "port", "missing": "error"}
    samples = [{"port": 22}, {"port": "80"}]
    flushes_all = True
    failing_samples = [{"port": 9999}, {"other": 1}]


class TestSampleConformance(CogConformance):
    cog_name = "flow.sample"
    params = {"every": 2, "key": "user"}
    samples = [{"user": "a"}, {"user": "b"}, {"user": "c"}, {}]


def lookup(**params: Any) -> flow.Lookup:
    params.setdefault("table", str(PORTS_CSV))
    params.setdefault("field", "port")
    return flow.Lookup(movement.Train(movement.DummyEscapement()), **params)


class TestLookup:
    def test_csv_row_fields_merge_into_the_datum(self) -> None:
        """A CSV row's other columns become fields; numbers look up their text."""
        assert lookup()({"port": 22}) == ({"port": 22, "service": "ssh", "risk": "high"},)

    def test_target_default_and_key_column(self) -> None:
        """target holds the row; default stands in for a value the table lacks; key_column picks the key."""
        cog = lookup(target="svc", default={"service": "unknown"})
        assert cog({"port": "80"})[0]["svc"] == {"service": "http", "risk": "low"}
        assert cog({"port": 1})[0]["svc"] == {"service": "unknown"}
        by_name = lookup(field="name", key_column="service", target="info")
        assert by_name({"name": "ssh"})[0]["info"] == {"port": "22", "risk": "high"}

    def test_json_table_of_single_values_needs_a_target(self, tmp_path: Path) -> None:
        """A JSON table of plain values sets target; without a target it is refused when built, naming the key."""
        table = tmp_path / "sev.json"
        table.write_text('{"3": "error", "4": "warning"}')
        assert lookup(table=str(table), field="sev", target="level")({"sev": 3})[0]["level"] == "error"
        with pytest.raises(ValueError, match="'3' is not a mapping"):
            lookup(table=str(table), field="sev")

    def test_missing_keep_drop_error(self) -> None:
        """Without a default: keep passes the datum unchanged, drop drops it, error names the field and value."""
        assert lookup()({"port": 7}) == ({"port": 7},)
        assert lookup(missing="drop")({"port": 7}) is None
        out, errors = send_through([lookup(missing="error")], [{"id": "a", "port": 22}, {"id": "b", "port": 7}])
        assert [d["id"] for d in out] == ["a"]
        assert errors[0].event_id == "b" and "'7' is not in the table" in str(errors[0].error)

    def test_each_datum_gets_its_own_copy(self) -> None:
        """Changing what one datum got changes neither the table nor the next datum."""
        cog = lookup(table=str(USERS_JSON), field="user")
        first = cog({"user": "alice"})[0]
        first["tags"].append("changed")
        assert cog({"user": "alice"})[0] == {"user": "alice", "team": "ops", "tags": ["admin"]}

    def test_a_spreadsheets_byte_order_mark_is_not_part_of_the_key_column(self, tmp_path: Path) -> None:
        """A CSV saved by a spreadsheet starts with a byte order mark; the first column is still 'port'."""
        table = tmp_path / "excel.csv"
        table.write_bytes("port,service\r\n22,ssh\r\n".encode("utf-8-sig"))
        assert lookup(table=str(table), key_column="port")({"port": 22})[0]["service"] == "ssh"

    def test_bad_tables_name_file_and_line(self, tmp_path: Path) -> None:
        """A row with the wrong number of columns, or JSON that is not an object, is refused naming the file."""
        ragged = tmp_path / "ragged.csv"
        ragged.write_text("a,b\n1,2\n3\n")
        with pytest.raises(ValueError, match="ragged.csv:3"):
            lookup(table=str(ragged), field="a")
        listed = tmp_path / "list.json"
        listed.write_text("[1, 2]")
        with pytest.raises(ValueError, match="list.json"):
            lookup(table=str(listed), field="a")

    def test_a_key_given_twice_is_refused_naming_both_lines(self, tmp_path: Path) -> None:
        """Two rows for one key: which one a lookup gives would be a guess, so the table is refused."""
        table = tmp_path / "ports.csv"
        table.write_text("port,name,level\n22,ssh,high\n80,http,low\n22,dup,x\n")
        with pytest.raises(ValueError, match="ports.csv:4: the key '22' is on line 2 already"):
            lookup(table=str(table), field="port")
        twice = tmp_path / "ports.json"
        twice.write_text('{"22": {"name": "ssh"}, "22": {"name": "dup"}}')
        with pytest.raises(ValueError, match="ports.json: the key '22' is given twice"):
            lookup(table=str(twice), field="port")

    def test_whole_lists_in_a_train(self) -> None:
        """The Train's lists give what one call per datum gives, dropped data included."""
        data = [{"port": p} for p in (22, 80, 7, 22)]
        cog = lookup(missing="drop")
        assert run_train([cog], [dict(d) for d in data]).data == [
            r[0] for r in (cog(dict(d)) for d in data) if r is not None
        ]

    def test_table_reloads_on_change_and_keeps_the_old_one_when_broken(self, tmp_path: Path) -> None:
        """A replaced table is read again without a restart; a broken one is reported and the old one stays."""
        table = tmp_path / "t.csv"
        table.write_text("k,v\na,1\n")
        esc = movement.Escapement()
        train = movement.Train(esc)
        cog = flow.Lookup(train, str(table), "k", target="v")
        train.cogs = [cog]
        reloads: list[int] = []
        original = cog.reload

        def counted() -> None:
            original()
            reloads.append(1)

        cog.reload = counted  # type: ignore[method-assign]

        def value() -> Any:
            return cog({"k": "a"})[0].get("v")

        def replace(content: str) -> None:
            temporary = tmp_path / ".t.tmp"
            temporary.write_text(content)
            os.replace(temporary, table)

        held = run_steps(
            esc,
            [
                (lambda: None, lambda: value() == {"v": "1"}),
                (lambda: replace("k,v\na,2\n"), lambda: value() == {"v": "2"}),
                (lambda: reloads.clear() or replace("k,v\na\n"), lambda: bool(reloads)),
                (lambda: None, lambda: value() == {"v": "2"}),
            ],
        )
        assert held == [True, True, True, True]


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


class TestSample:
    @given(st.integers(1, 50), st.integers(0, 500))
    def test_every_keeps_exactly_one_in_n(self, every: int, count: int) -> None:
        """every = N keeps the 1st, N+1th, ...: ceil(count / N) of count data."""
        cog = flow.Sample(every=every)
        kept = cog.call_batch(list(range(count)))
        assert kept == list(range(0, count, every))
        assert (cog.kept, cog.dropped) == (len(kept), count - len(kept))

    @given(st.floats(0, 1), st.integers(0, 500))
    def test_rate_keeps_its_share_evenly(self, rate: float, count: int) -> None:
        """rate keeps floor(count * rate) data (to rounding), spread evenly, the same on every run."""
        cog = flow.Sample(rate=rate)
        kept = [d for d in range(count) if cog(d)]
        assert abs(len(kept) - count * rate) <= 1
        again = flow.Sample(rate=rate)
        assert again.call_batch(list(range(count))) == kept

    @settings(max_examples=50)
    @given(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", None]), max_size=60), st.sampled_from([2, 3]))
    def test_keyed_keeps_or_drops_each_key_whole_in_every_instance(self, users: list[Any], every: int) -> None:
        """With a key, a key's data are all kept or all dropped, by any instance of the same settings."""
        data = [{"user": u} if u is not None else {} for u in users]
        first = flow.Sample(every=every, key="user").call_batch(data)
        second = [d for d in data if flow.Sample(every=every, key="user")(d)]
        assert first == second
        kept_keys = {d.get("user") for d in first}
        assert all((d.get("user") in kept_keys) == (d in first) for d in data)

    def test_keyed_share_and_seed(self) -> None:
        """Over many keys the keyed share is near the rate; another seed picks other keys."""
        data = [{"session": str(i)} for i in range(4000)]
        kept = flow.Sample(rate=0.25, key="session").call_batch(data)
        assert 800 < len(kept) < 1200
        other = flow.Sample(rate=0.25, key="session", seed="x").call_batch(data)
        assert kept != other

    def test_the_counts_reach_the_run_summary(self, tmp_path: Path, run_pipeline: Any) -> None:
        """What sampling, deduplicating and throttling dropped is said per cog, not only as "dropped by filters"."""
        (tmp_path / "in.jsonl").write_text("".join(f'{{"user": "u{n % 7}", "n": {n}}}\n' for n in range(1000)))
        result = run_pipeline(
            """
            [[cog]]
            use = "fs.read"
            filenames = ["in.jsonl"]
            [[cog]]
            use = "text.json_parse"
            [[cog]]
            use = "flow.sample"
            every = 3
            [[cog]]
            use = "flow.dedupe"
            fields = ["user"]
            window = 600
            [[cog]]
            use = "flow.throttle"
            rate = 0.001
            burst = 2
            [[cog]]
            use = "text.json_format"
            [[cog]]
            use = "fs.write"
            filename = "out.jsonl"
            """
        )
        assert result.returncode == 0, result.stderr
        assert "in 1000, out 2, errors 0, dropped by filters or merged 998" in result.stderr
        assert "cog[2] Sample(every=3): kept 334, dropped 666" in result.stderr
        assert "cog[3] Dedupe(fields=['user'], window=600.0): dropped 327" in result.stderr
        assert "): dropped 5" in result.stderr.split("cog[4] Throttle", 1)[1].splitlines()[0]

    def test_settings_are_checked(self) -> None:
        """Exactly one of every and rate, each in range."""
        for params in ({}, {"every": 2, "rate": 0.5}, {"every": 0}, {"rate": 1.5}, {"every": 1.5}):
            with pytest.raises(ValueError):
                flow.Sample(**params)  # type: ignore[arg-type]
