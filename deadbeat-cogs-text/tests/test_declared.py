"""Declared settings of every cog of the distribution, and accessors given as callables.

A cog's ``__init__`` signature and ``:param:`` docs are what pipeline files are
checked against: every parameter must have a cast more precise than "anything"
and a description, and where a value is read from or stored into the datum the
parameter takes a callable as well as a field path.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import tempfile
import typing
from operator import itemgetter
from pathlib import Path
from typing import Any

import pytest

from deadbeat import cast, conf, flow, movement, text
from deadbeat.testing import Collector, build_cog
from deadbeat.text._fields import FieldPath

DISTRIBUTION = "deadbeat-cogs-text"

#: Every cog the distribution registers, by entry-point name.
COGS: dict[str, Any] = {
    ep.name: ep.load()
    for ep in importlib.metadata.entry_points(group="deadbeat.cogs")
    if ep.dist is not None and ep.dist.name == DISTRIBUTION
}

#: Parameters that only Python code can give (callable-only hooks).
PYTHON_ONLY: set[tuple[str, str]] = {("text.syslog_parse", "clock"), ("time.parse", "clock")}

#: The accessor parameters of each cog: where it reads (getter), where it
#: stores (setter), or a field read and written in place (path).
ACCESSORS: dict[str, dict[str, str]] = {
    "text.json_parse": {"source": "getter", "target": "setter"},
    "text.json_format": {"source": "getter", "target": "setter"},
    "text.csv_parse": {"source": "getter", "target": "setter"},
    "text.csv_format": {"target": "setter"},
    "text.regex_parse": {"source": "getter", "target": "setter"},
    "text.grok": {"source": "getter", "target": "setter"},
    "text.cef_parse": {"source": "getter", "target": "setter"},
    "time.parse": {"target": "setter", "year_file_field": "getter"},
    "flow.lookup": {"field": "getter", "target": "setter"},
    "text.kv_parse": {"source": "getter", "target": "setter"},
    "text.syslog_parse": {"source": "getter", "target": "setter", "year_file_field": "getter"},
    "text.syslog_format": {"source": "getter", "target": "setter"},
    "text.template": {"target": "setter"},
    "text.encode": {"field": "path"},
    "text.decode": {"field": "path"},
    "flow.aggregate": {"id_getter": "getter"},
    "flow.batch": {"target": "setter"},
    "flow.split": {"field": "path"},
}

TABLE = Path(tempfile.mkdtemp(prefix="deadbeat-declared-")) / "table.csv"
TABLE.write_text("a,b\n1,2\n")

#: Valid settings for the required parameters, so that only the key under test fails.
REQUIRED: dict[str, dict[str, Any]] = {
    "text.csv_parse": {"fieldnames": ["a"]},
    "text.csv_format": {"fieldnames": ["a"]},
    "text.regex_parse": {"pattern": "(?P<a>.)"},
    "text.template": {"template": "$a"},
    "cast.fields": {"fields": {"a": "int"}},
    "flow.filter": {"expression": "a > 1"},
    "flow.select": {"fields": ["a"]},
    "flow.rename": {"fields": {"a": "b"}},
    "flow.drop_fields": {"fields": ["a"]},
    "flow.set": {"fields": {"a": 1}},
    "flow.dedupe": {"fields": ["a"]},
    "flow.aggregate": {"by": ["a"], "aggregates": {"n": "count"}},
    "flow.split": {"field": "a"},
    "text.grok": {"pattern": "%{INT:a}"},
    "flow.lookup": {"table": str(TABLE), "field": "a"},
    "flow.sample": {"every": 2},
}


def _kind(annotation: Any) -> str | None:
    """``"getter"``, ``"setter"`` or ``"path"`` for an accessor annotation (optional or not)."""
    members = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, type(int | None)) else ()
    for candidate in (annotation, *members):
        if candidate == movement.FieldGetter:
            return "getter"
        if candidate == movement.FieldSetter:
            return "setter"
        if candidate == FieldPath:
            return "path"
    return None


def test_every_cog_of_the_package_tables_is_registered() -> None:
    """The cog classes exported by deadbeat.text, deadbeat.cast and deadbeat.flow are the registered ones."""
    exported = {
        obj
        for package in (text, cast, flow)
        for name in package.__all__
        if inspect.isclass(obj := getattr(package, name)) and issubclass(obj, movement.Cog)
    }
    assert exported == set(COGS.values())


@pytest.mark.parametrize("name", sorted(COGS))
def test_every_parameter_has_a_cast_and_a_doc(name: str) -> None:
    """No parameter takes "anything" (unless Python-only), and each has its :param: line."""
    inject, declared = conf.declared_parameters(COGS[name])
    assert inject in (None, "train")
    assert declared, f"{name}: no parameters read (do the annotations resolve?)"
    for parameter in declared:
        if (name, parameter.name) not in PYTHON_ONLY:
            assert parameter.cast is not conf.cast_any, f"{name}: {parameter.name}: annotated {parameter.annotation!r}"
        assert parameter.doc, f"{name}: {parameter.name}: no ':param {parameter.name}:' in the class docstring"


@pytest.mark.parametrize("name", sorted(COGS))
def test_accessor_parameters_are_declared_as_such(name: str) -> None:
    """Where a cog reads or stores, the parameter is a FieldGetter, a FieldSetter or a field path."""
    found = {}
    for parameter in conf.declared_parameters(COGS[name])[1]:
        kind = _kind(parameter.annotation)
        if kind is not None:
            found[parameter.name] = kind
    assert found == ACCESSORS.get(name, {})


@pytest.mark.parametrize(("name", "key"), [(name, key) for name, keys in ACCESSORS.items() for key in keys])
def test_a_boolean_is_no_field(name: str, key: str) -> None:
    """``true`` for an accessor is an error naming the key; a path is fine, and ``false`` is none where allowed."""
    section = conf.section_of(COGS[name])
    given = dict(REQUIRED.get(name, {}))
    _, errors = conf.check(section, {**given, key: True}, "pipeline.toml: cog[0]")
    assert [e.key for e in errors] == [key]
    assert str(errors[0]).startswith(f"pipeline.toml: cog[0]: {key}: expected a field path")
    assert "got True" in str(errors[0])
    values, errors = conf.check(section, {**given, key: "Source.0.IP4"}, "here")
    assert not errors and values[key] == "Source.0.IP4"
    _, errors = conf.check(section, {**given, key: "a..b"}, "here")
    assert [e.key for e in errors] == [key]
    declared = {d.name: d for d in conf.declared_parameters(COGS[name])[1]}
    values, errors = conf.check(section, {**given, key: False}, "here")
    if type(None) in typing.get_args(declared[key].annotation):
        assert not errors and values[key] is None
    else:
        assert [e.key for e in errors] == [key]


@pytest.mark.parametrize("name", sorted(COGS))
def test_pipeline_values_build_the_cog(name: str) -> None:
    """What the check of a file lets through (the required settings here) builds the cog."""
    section = conf.section_of(COGS[name])
    values, errors = conf.check(section, REQUIRED.get(name, {}), "here")
    assert not errors
    esc = movement.Escapement()
    try:
        assert isinstance(build_cog(COGS[name], movement.Train(esc), values), movement.Cog)
    finally:
        esc.close()


def test_word_choices_are_checked_in_files_and_in_python() -> None:
    """A Literal parameter refuses other words when the file is checked, and when the cog is built."""
    for name, key, values in [
        ("text.json_parse", "engine", ("auto", "orjson", "json")),
        ("text.json_format", "engine", ("auto", "orjson", "json")),
        ("cast.fields", "missing", ("error", "skip")),
        ("flow.filter", "action", ("keep", "drop")),
        ("flow.filter", "regex_engine", ("re2", "re")),
        ("text.regex_parse", "engine", ("guarded", "re2", "re")),
        ("text.grok", "engine", ("guarded", "re2", "re")),
    ]:
        section = conf.section_of(COGS[name])
        _, errors = conf.check(section, {**REQUIRED.get(name, {}), key: "other"}, "here")
        assert [str(e) for e in errors] == [f"here: {key}: expected one of {', '.join(values)}, got 'other'"]
        with pytest.raises(ValueError, match=f"{key} must be"):
            COGS[name](**REQUIRED.get(name, {}), **{key: "other"})


class TestCallableAccessors:
    """A getter and a setter given as callables, where files give field paths."""

    def test_json_parse_and_format(self) -> None:
        """JSONParse reads with itemgetter and stores with itemsetter; JSONFormat the same way back."""
        parse = text.JSONParse(source=itemgetter("src"), target=movement.itemsetter("parsed"))
        (datum,) = parse({"src": '{"a": [1, 2]}'})
        assert datum == {"src": '{"a": [1, 2]}', "parsed": {"a": [1, 2]}}
        assert parse.call_batch([{"src": "1"}, {"src": "[]"}]) == [
            {"src": "1", "parsed": 1},
            {"src": "[]", "parsed": []},
        ]
        for engine in ("orjson", "json"):
            form = text.JSONFormat(source=itemgetter("parsed"), target=movement.itemsetter("out"), engine=engine)
            (datum,) = form({"parsed": {"b": None}})
            assert datum == {"parsed": {"b": None}, "out": '{"b":null}'}

    def test_parsers_take_callables(self) -> None:
        """CSVParse, RegexParse and KeyValueParse read and store through callables, per datum and per list."""
        get, put = itemgetter("msg"), movement.itemsetter("fields")
        cases: list[tuple[Any, str, dict[str, str]]] = [
            (text.CSVParse(["a", "b"], source=get, target=put), "1,2", {"a": "1", "b": "2"}),
            (text.RegexParse(r"(?P<a>\d)-(?P<b>\d)", source=get, target=put), "1-2", {"a": "1", "b": "2"}),
            (text.KeyValueParse(source=get, target=put), "a=1 b=2", {"a": "1", "b": "2"}),
        ]
        for cog, line, fields in cases:
            assert cog({"msg": line}) == ({"msg": line, "fields": fields},)
            if hasattr(cog, "call_batch"):
                assert cog.call_batch([{"msg": line}]) == [{"msg": line, "fields": fields}]
        # Without a target the fields replace the datum; keep carries reader fields.
        replaced = text.RegexParse(r"(?P<a>\d)", source=get)
        assert replaced.call_batch([{"msg": "7", "id": 1}]) == [{"a": "7"}] == list(replaced({"msg": "7", "id": 1}))
        kept = text.RegexParse(r"(?P<a>\d)", source=get, keep=["id"])
        assert kept.call_batch([{"msg": "7", "id": 1}]) == [{"a": "7", "id": 1}] == list(kept({"msg": "7", "id": 1}))

    def test_formatters_store_through_callables(self) -> None:
        """CSVFormat and TemplateFormat store their text with a setter callable."""
        put = movement.itemsetter("out")
        assert text.CSVFormat(["a", "b.c"], target=put)({"a": 1, "b": {"c": "x"}}) == (
            {"a": 1, "b": {"c": "x"}, "out": "1,x"},
        )
        assert text.TemplateFormat("$a!", target=put)({"a": "hi"}) == ({"a": "hi", "out": "hi!"},)

    def test_aggregate_reads_ids_and_batch_stores_lists_through_callables(self) -> None:
        """Aggregate's id_getter and Batch's target as callables."""
        esc = movement.Escapement()
        try:
            train = movement.Train(esc)
            renamed: list[Any] = []

            class Renames(movement.Cog):
                def event_rename(self, event_id: Any, new_id: Any) -> None:
                    renamed.append(event_id)

            collector = Collector()
            aggregate = flow.Aggregate(train, ["k"], {"n": "count"}, max_size=2, id_getter=itemgetter("serial"))
            batch = flow.Batch(train, size=1, target=movement.itemsetter("items"))
            train.cogs = [Renames(), aggregate, batch, collector]
            train.send(None, [{"k": 1, "serial": "s1"}, {"k": 1, "serial": "s2"}])
            assert renamed == ["s1", "s2"]
            ((out,),) = [d["items"] for d in collector.data]
            assert out["n"] == 2 and out["k"] == 1
        finally:
            esc.close()

    def test_batch_target_is_a_field_path(self) -> None:
        """Batch's target is a setter: a dotted path nests the list."""
        esc = movement.Escapement()
        try:
            batch = flow.Batch(movement.Train(esc), size=2, target="batch.items")
            assert batch(1) is None
            assert batch(2) == ({"batch": {"items": [1, 2]}},)
        finally:
            esc.close()


def test_in_place_fields_are_paths() -> None:
    """Encode, Decode and Split read and write one field: a path or an index, never a boolean."""
    assert text.Encode(field="a.b")({"a": {"b": "é"}}) == ({"a": {"b": b"\xc3\xa9"}},)
    assert text.Decode(field=0)([b"x"]) == (["x"],)
    assert flow.Split("a.b")({"a": {"b": [1, 2]}}) == [{"a": {"b": 1}}, {"a": {"b": 2}}]
    _, errors = conf.check(conf.section_of(flow.Split), {"field": print}, "here")
    assert [e.key for e in errors] == ["field"]


def test_unknown_error_handler_is_refused_at_construction() -> None:
    """An error handler codecs does not know fails when the cog is built, not on every datum."""
    for make in (text.Encode, text.Decode):
        with pytest.raises(ValueError, match="unknown error handler 'strikt'"):
            make(errors="strikt")
    assert text.Decode(errors="replace")(b"\xff") == ("\ufffd",)


def test_settings_that_could_only_fail_per_datum_fail_at_construction() -> None:
    """A two-character delimiter, an empty separator, one string for a list, a list for a table."""
    with pytest.raises(TypeError, match="delimiter"):
        text.CSVParse(["a"], delimiter=";;")
    with pytest.raises(ValueError, match="separator must not be empty"):
        text.KeyValueParse(separator="")
    with pytest.raises(TypeError, match="fields must be a list"):
        flow.Throttle(fields="src")
    with pytest.raises(TypeError, match="exclude must be a list"):
        text.JSONFormat(exclude="line")
    with pytest.raises(TypeError, match="fields must be a mapping"):
        flow.Rename(fields=["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fields must be a mapping"):
        cast.Cast(fields=["a"])  # type: ignore[arg-type]
