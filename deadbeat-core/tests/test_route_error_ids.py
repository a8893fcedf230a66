"""Route error records name the event their datum came in as: the supply's ``FILE:OFFSET``, never a field of the data.

Every line written here carries an ``"id"`` field that lies: ``"FORGED"``, or
the real id of another line (as a replay of another file's lines would). The
records of the router (a ``when`` that raises, a datum matching no route) and
of a route's cog (``ip.anonymise`` on a field that is no address) must each
name the offset of their own line, whatever else fails in the same list (a
failing condition makes the train give the router the list datum by datum),
with ``match = "all"`` for every route's copy too, and the outputs and the
error output together must account for every line.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat import movement, pipeline, routing
from deadbeat.testing import Collector

#: What each kind of line is, as JSON (``None``: a line that is not JSON).
KINDS: dict[str, dict[str, Any] | None] = {
    # sev + 1 > 1 only: route calc.
    "calc": {"sev": 1, "src": "192.0.2.1"},
    # sev >= 5, an address: route hi (with match = "all", calc as well).
    "hi": {"sev": 9, "src": "192.0.2.77"},
    # sev >= 5, no address: ip.anonymise raises inside route hi (with "all", calc still gets its copy).
    "hi_fails": {"sev": 9, "src": "nope"},
    # sev + 1 on a text: the router's condition raises.
    "when_fails": {"sev": "x", "src": "192.0.2.2"},
    # Matches neither route, and there is no default: NoRoute.
    "no_route": {"sev": 0, "src": "192.0.2.3"},
    # Not JSON: text.json_parse raises, in the main train.
    "broken": None,
}

PIPELINE = """
    [[cog]]
    use = "{supply}"
    filenames = ["in.jsonl"]
    read_size = {read_size}

    [[cog]]
    use = "text.json_parse"

    [routing]
    match = "{match}"

    [[route]]
    name = "hi"
    when = "sev >= 5"

      [[route.cog]]
      use = "ip.anonymise"
      fields = "src"

      [[route.cog]]
      use = "text.json_format"

      [[route.cog]]
      use = "fs.write"
      filename = "hi.jsonl"

    [[route]]
    name = "calc"
    when = "sev + 1 > 1"

      [[route.cog]]
      use = "text.json_format"

      [[route.cog]]
      use = "fs.write"
      filename = "calc.jsonl"

    [[errors]]
    use = "text.json_format"

    [[errors]]
    use = "fs.write"
    filename = "errors.jsonl"
"""


@dataclass
class Written:
    """The input file: each line's kind and its real event id, by its number ``n``."""

    path: Path
    kinds: list[str]
    ids: list[str]


def write_input(directory: Path, kinds: list[str], forge: list[int | None]) -> Written:
    """Write one line per kind, each with its number ``n`` and a lying ``"id"``.

    :param forge: per line, the number of an earlier line whose real id the
        line's ``"id"`` field takes (``None``: ``"FORGED"``).
    """
    path = directory / "in.jsonl"
    ids: list[str] = []
    offset = 0
    lines = []
    for n, (kind, other) in enumerate(zip(kinds, forge, strict=True)):
        forged = ids[other] if other is not None and other < n else "FORGED"
        shape = KINDS[kind]
        if shape is None:
            line = f'not json {n} {{"id": "{forged}"'
        else:
            line = json.dumps({"id": forged, "n": n, **shape}, separators=(",", ":"))
        ids.append(f"{path}:{offset}")
        offset += len(line.encode()) + 1
        lines.append(line + "\n")
    path.write_text("".join(lines))
    return Written(path, kinds, ids)


def expected_outcome(kinds: list[str], match: str) -> tuple[dict[str, list[int]], list[tuple[int, str]]]:
    """What each route writes (numbers, in order) and which error records (number, where) the lines make."""
    outputs: dict[str, list[int]] = {"hi": [], "calc": []}
    errors: list[tuple[int, str]] = []
    for n, kind in enumerate(kinds):
        if kind == "broken":
            errors.append((n, "parser"))
        elif kind in ("when_fails", "no_route"):
            errors.append((n, "router"))
        elif kind == "calc":
            outputs["calc"].append(n)
        else:
            if kind == "hi":
                outputs["hi"].append(n)
            else:
                errors.append((n, "route hi"))
            if match == "all":
                outputs["calc"].append(n)
    return outputs, sorted(errors)


def where(record: dict[str, Any]) -> str:
    """Which part of the pipeline an error record comes from."""
    if record["cog"].startswith("route hi: "):
        return "route hi"
    if record["cog"].startswith("Router("):
        return "router"
    assert record["cog"].startswith("JSONParse"), record
    return "parser"


def number(record: dict[str, Any]) -> int:
    """The number of the line an error record holds the datum of."""
    datum = record["datum"]
    if isinstance(datum, str):
        return int(datum.split()[2])
    return int(datum["n"])


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_built(directory: Path, supply: str = "fs.read", match: str = "first", read_size: int = 1 << 17) -> None:
    """Build the pipeline as ``deadbeat run --once`` does, and run it to the end."""
    (directory / "p.toml").write_text(textwrap.dedent(PIPELINE.format(supply=supply, match=match, read_size=read_size)))
    built = pipeline.build(str(directory / "p.toml"), once=True)
    try:
        built.esc.run()
        assert not built.esc.failures
    finally:
        built.esc.close()


def check(directory: Path, written: Written, match: str) -> None:
    """Every error record names its own line's id; outputs and errors account for every line, each once."""
    outputs, errors = expected_outcome(written.kinds, match)
    records = read_jsonl(directory / "errors.jsonl")
    for record in records:
        assert record["event_id"] == written.ids[number(record)], record
    assert sorted((number(record), where(record)) for record in records) == errors
    # Each source of records keeps the order of the lines.
    for part in ("parser", "router", "route hi"):
        numbers = [number(record) for record in records if where(record) == part]
        assert numbers == sorted(numbers)
    got = {name: [datum["n"] for datum in read_jsonl(directory / f"{name}.jsonl")] for name in outputs}
    assert got == outputs
    # The route hi wrote its data anonymised, and nothing of the forged ids reached a record's event_id.
    assert all(datum["src"] != "192.0.2.77" for datum in read_jsonl(directory / "hi.jsonl"))
    assert not any(record["event_id"] == "FORGED" for record in records)


class TestTheReportedCase:
    @pytest.mark.parametrize("supply", ["fs.read", "fs.tail"])
    def test_a_forged_id_never_names_a_route_error(self, tmp_path: Path, supply: str) -> None:
        """The tester's file: a forged id, then a line the condition fails on, in one list."""
        kinds = ["calc", "hi_fails", "when_fails", "hi", "hi_fails", "calc"]
        written = write_input(tmp_path, kinds, [None, None, 0, 1, 0, 4])
        run_built(tmp_path, supply)
        check(tmp_path, written, "first")

    @pytest.mark.parametrize("supply", ["fs.read", "fs.tail"])
    @pytest.mark.parametrize("match", ["first", "all"])
    def test_many_failures_in_one_list_and_across_lists(self, tmp_path: Path, supply: str, match: str) -> None:
        """Thousands of lines, every kind of failure in every list, ids forged from other lines' offsets."""
        chance = random.Random(18)
        kinds = [chance.choice(list(KINDS)) for _ in range(3000)]
        forge = [chance.randrange(n) if n and chance.random() < 0.9 else None for n in range(3000)]
        written = write_input(tmp_path, kinds, forge)
        assert set(kinds) == set(KINDS)
        run_built(tmp_path, supply, match, read_size=4096)
        check(tmp_path, written, match)

    def test_every_match_names_the_event_of_each_routes_copy(self, tmp_path: Path) -> None:
        """match = "all" without any failure at the router: the copy a further route gets has its original's id."""
        kinds = ["hi_fails", "calc", "hi", "hi_fails"]
        written = write_input(tmp_path, kinds, [None, 0, 1, 2])
        run_built(tmp_path, "fs.read", "all")
        check(tmp_path, written, "all")

    def test_deadbeat_run_logs_and_records_the_real_ids(self, tmp_path: Path) -> None:
        """Through the command: the error records and the log lines name FILE:OFFSET, never the forged id."""
        kinds = ["hi_fails", "when_fails", "no_route", "hi_fails"]
        written = write_input(tmp_path, kinds, [None, None, 0, 1])
        (tmp_path / "p.toml").write_text(
            textwrap.dedent(PIPELINE.format(supply="fs.tail", match="first", read_size=1 << 17))
        )
        result = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", str(tmp_path / "p.toml"), "--once"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "NO_COLOR": "1"},
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        check(tmp_path, written, "first")
        for n in (0, 3):
            assert f"{written.ids[n]}: route hi: " in result.stderr
        assert "FORGED" not in result.stderr.replace('"id":"FORGED"', "")
        for other in written.ids[:2]:
            # A forged id points at another line: no log line names it for a line it is not.
            assert result.stderr.count(f"{other}: ") == 1


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.sampled_from(list(KINDS)), min_size=1, max_size=40).flatmap(
        lambda kinds: st.tuples(
            st.just(kinds),
            st.lists(st.none() | st.integers(0, 39), min_size=len(kinds), max_size=len(kinds)),
        )
    ),
    st.sampled_from(["first", "all"]),
    st.sampled_from([("fs.read", 1 << 17), ("fs.tail", 1 << 17), ("fs.tail", 97)]),
)
def test_any_mix_of_lines_names_each_records_own_line(
    lines: tuple[list[str], list[int | None]], match: str, supply: tuple[str, int]
) -> None:
    """For any mix of lines and forged ids, in one list or many, every record names its own line, none lost."""
    kinds, forge = lines
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        written = write_input(directory, kinds, forge)
        run_built(directory, supply[0], match, read_size=supply[1])
        check(directory, written, match)


class Lines(movement.Supply):
    """Sends one Batch of the given data, with the ids ``e0``, ``e1``... beside them (as a file supply does)."""

    def __init__(self, esc: movement.Escapement, data: list[Any]) -> None:
        self.esc = esc
        self.data = data
        esc.enqueue(self.produce)

    def produce(self) -> movement.Batch:
        return movement.Batch(self.data, "b1", lambda: [f"e{i}" for i in range(len(self.data))])


class Parse(movement.Cog):
    """A one-to-one parser taking whole lists: new objects, as text.json_parse makes."""

    one_to_one = True

    def __call__(self, datum: dict[str, Any]) -> tuple[dict[str, Any]]:
        return (dict(datum),)

    def call_batch(self, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [dict(datum) for datum in data]


class TestInPython:
    def test_one_object_twice_in_a_list_routed_one_by_one_has_each_places_id(self) -> None:
        """Datum by datum, the place the train calls each datum from names its event, even for one object twice."""
        esc = movement.Escapement()
        records: list[movement.ErrorRecord] = []
        twice = {"id": "FORGED", "n": 1}

        def picky(datum: dict[str, Any]) -> tuple[dict[str, Any]]:
            if datum["id"] == "FORGED":
                raise ValueError("forged")
            return (datum,)

        out = Collector()
        train = movement.Train(esc, error_output=records.append)
        route = routing.Route("r", lambda d: 10 / d["n"] > 0, [picky, out], esc=esc)
        data = [{"id": "a", "n": 1}, twice, {"id": "e0", "n": 0}, twice, {"id": "b", "n": 2}]
        train.cogs = [Lines(esc, data), routing.Router(train, [route])]
        esc.run()
        esc.close()
        assert [datum["id"] for datum in out.data] == ["a", "b"]
        got = [(record.event_id, record.cog.split(":")[0].split("(")[0], record.datum["n"]) for record in records]
        assert sorted(got) == [("e1", "route r", 1), ("e2", "Router", 0), ("e3", "route r", 1)]

    def test_a_route_output_asking_ids_after_the_send_gets_the_suppliers(self) -> None:
        """A route's output that keeps data and asks their ids later (giving up on them) gets the supply's ids."""
        esc = movement.Escapement()

        class Keeper(movement.Cog):
            """Holds every list and asks for its ids only once the served train's send is long over."""

            one_to_one = True

            def __init__(self, train: movement.Train) -> None:
                self.train = train
                self.later: list[Any] = []
                self.ids: list[Any] = []

            def __call__(self, datum: Any) -> None:
                raise AssertionError("given whole lists")

            def call_batch(self, data: list[Any]) -> list[Any]:
                self.later.append((self.train.event_ids_later(data), len(data)))
                self.train.hold(len(data), current=True)
                esc.after(0.01, self.give_up)
                return []

            def give_up(self) -> None:
                for ids, count in self.later:
                    self.ids += ids() if ids is not None else [None] * count
                    self.train.release(count)
                self.later = []
                esc.shutdown()

        route = routing.Route("kept", None, esc=esc)
        keeper = Keeper(route.train)
        route.cogs = [keeper]
        train = movement.Train(esc)
        data = [{"id": "FORGED", "n": n} for n in range(4)]
        train.cogs = [Lines(esc, data), Parse(), routing.Router(train, [route])]
        esc.run()
        esc.close()
        assert keeper.ids == ["e0", "e1", "e2", "e3"]
