"""``deadbeat test PIPELINE.toml [TESTS.toml]``: unit tests of a pipeline from input/expected pairs.

Each test builds the pipeline anew on an Escapement of its own, with its ends
replaced: the supply (the first ``[[cog]]``) by the test's ``input``, and each
output (the last cog of the train, or of each route) by a catcher; the error
output catches error records. The data are sent in as one batch, the pipeline
is shut down in order (so cogs that hold data flush them), and what each output
and the error output caught is compared with what the test expects. Nothing is
read from or written to the pipeline's files; cogs in between run for real.

A tests file::

    [[test]]
    name = "severe events are alerts"
    input = ['{"id": 1, "severity": 7}', "not json"]   # data as the supply gives them
    [test.expect]
    alerts = ['{"id":1,"severity":7}']    # per output: the route's name, or "output"
    [[test.errors]]                       # the error records, in order
    cog = "json_parse"                    # cog and error: a part of the text
    event_id = "input[1]"                 # the others: equal

An output the test does not name is not checked; error records are: a test
without ``[[test.errors]]`` expects none. Event ids of the inputs are
``input[0]``, ``input[1]``... (the supply is gone, so the train gets them from
the test). Exit status: 0 when every test passed, 1 when one failed or a file
is wrong.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import io
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from .. import movement
from .. import pipeline as pipeline_mod
from ._common import EXIT_ERROR, EXIT_OK, plugin_output_to_stderr, registry_of, write_all

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_TEST_KEYS = ("name", "input", "expect", "errors")
_RECORD_KEYS = ("event_id", "cog", "position", "error", "datum")
#: Record fields compared by a part of their text: the cog's full description
#: and the error's message are long and change with unrelated parameters.
_BY_PART = ("cog", "error")
#: The output of a pipeline without routes.
MAIN_OUTPUT = "output"


@dataclasses.dataclass
class _Test:
    where: str
    name: str
    inputs: list[Any]
    expect: dict[str, list[Any]]
    errors: list[dict[str, Any]]


class _Input(movement.Cog):
    """Stands for the supply: passes the test's data on."""

    one_to_one = True

    def __call__(self, data: Any) -> tuple[Any, ...]:
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Pass the whole list on."""
        return data

    def __str__(self) -> str:
        return "test input"


class _QuietSupply(movement.Cog):
    """Stands for a supply after the first: passes on what reaches it and reads nothing of its own.

    A second ``fs.tail`` run for real would read the real file and save its
    position in the real state file, and the next run would skip those lines;
    a ``socket.listen`` would take the production port.
    """

    one_to_one = True

    def __init__(self, label: str) -> None:
        self.label = label

    def __call__(self, data: Any) -> tuple[Any, ...]:
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Pass the whole list on."""
        return data

    def __str__(self) -> str:
        return f"test stand-in for {self.label}"


def _quiet(cogs: list[pipeline_mod.CogSpec]) -> list[pipeline_mod.CogSpec]:
    """``cogs`` with every supply replaced by a stand-in that reads nothing."""
    return [
        pipeline_mod.CogSpec(c.where, c.use, _QuietSupply(c.use), {}, None, is_cog=True)
        if getattr(c.factory, "supply", False)
        else c
        for c in cogs
    ]


class _Output(movement.Cog):
    """Stands for an output: catches what reaches it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.caught: list[Any] = []

    def __call__(self, data: Any) -> None:
        self.caught.append(data)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Catch a whole list."""
        self.caught.extend(data)
        return []

    def __str__(self) -> str:
        return f"test output {self.name}"


class _Errors(movement.DeadLetterLog):
    """Stands for the error output: catches the records.

    A dead-letter log by type, so that the train logs no failure line of its
    own: the records are the test's business, not the terminal's.
    """

    def __init__(self) -> None:
        self.records: list[movement.ErrorRecord] = []

    def __call__(self, record: movement.ErrorRecord) -> None:
        self.records.append(record)


def handle(args: argparse.Namespace, out: TextIO | None) -> int:
    """Run ``deadbeat test``.

    :param out: standard output, ``None`` when it was closed as the command started: what would be
        shown there is not (the exit status still says how it went).
    :returns: the exit status.
    """
    if out is None:
        out = io.StringIO()
    tests_path = args.tests or _default_tests(args.pipeline)
    try:
        with plugin_output_to_stderr():
            spec = pipeline_mod.load(args.pipeline, registry_of(args))
        tests = _load_tests(tests_path, spec)
    except pipeline_mod.PipelineError as exc:
        sys.stderr.write(f"deadbeat: {exc}\n")
        return EXIT_ERROR
    failed = 0
    for test in tests:
        try:
            caught, records, failures = _run(spec, test)
        except pipeline_mod.PipelineError as exc:
            write_all(out, f"FAIL  {test.name}\n  {spec.redact(str(exc))}\n")
            failed += 1
            continue
        problems = _compare(test, caught, records)
        # What makes a run of this pipeline exit 1 fails its test, whatever reached the outputs.
        problems += [f"  the run failed: {failure}\n" for failure in failures]
        if problems:
            failed += 1
            write_all(out, f"FAIL  {test.name}\n")
            write_all(out, spec.redact("".join(problems)))
        else:
            write_all(out, f"ok    {test.name}\n")
    passed = len(tests) - failed
    write_all(out, f"{passed} passed, {failed} failed ({tests_path})\n")
    return EXIT_ERROR if failed else EXIT_OK


def _default_tests(pipeline: str) -> str:
    root, ext = os.path.splitext(pipeline)
    return f"{root}.tests{ext or '.toml'}"


def _outputs(spec: pipeline_mod.PipelineFile) -> list[str]:
    return [route.name for route in spec.routes] if spec.routes else [MAIN_OUTPUT]


def _load_tests(path: str, spec: pipeline_mod.PipelineFile) -> list[_Test]:
    """Read and check a tests file. :raises PipelineError: naming every problem, with file, test index and key."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise pipeline_mod.PipelineError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise pipeline_mod.PipelineError(f"{path}: invalid TOML: {exc}") from None
    problems: list[str] = []
    if set(data) - {"test"}:
        problems.append(f"{path}: unknown tables {sorted(set(data) - {'test'})}: write [[test]] tables")
    tables = data.get("test")
    if not isinstance(tables, list) or not tables:
        problems.append(f"{path}: no [[test]] tables")
        tables = []
    if not spec.routes and len(spec.cogs) < 2:
        problems.append(f"{spec.path}: a pipeline of one cog has nothing to test (its supply is replaced)")
    outputs = _outputs(spec)
    tests = []
    for index, table in enumerate(tables):
        where = f"{path}: test[{index}]"
        if not isinstance(table, Mapping):
            problems.append(f"{where}: must be a table")
            continue
        name = table.get("name", f"test[{index}]")
        where = f"{where} ({name})"
        for key in table:
            if key not in _TEST_KEYS:
                problems.append(f"{where}: {key}: unknown key{pipeline_mod._hint(key, _TEST_KEYS)}")
        inputs = table.get("input")
        if not isinstance(inputs, list):
            problems.append(f"{where}: input: a list of data (texts or tables), as the supply would give them")
            inputs = []
        expect = table.get("expect", {})
        if not isinstance(expect, Mapping):
            problems.append(f"{where}: expect: a table: output name = list of data")
            expect = {}
        for output, expected in expect.items():
            if output not in outputs:
                problems.append(
                    f"{where}: expect: {output}: no such output{pipeline_mod._hint(output, outputs)};"
                    f" the outputs are {', '.join(outputs)}"
                )
            elif not isinstance(expected, list):
                problems.append(f"{where}: expect: {output}: a list of data")
        errors = table.get("errors", [])
        if not isinstance(errors, list) or not all(isinstance(e, Mapping) for e in errors):
            problems.append(f"{where}: errors: write [[test.errors]] tables, one per error record")
            errors = []
        for number, record in enumerate(errors):
            for key in record:
                if key not in _RECORD_KEYS:
                    problems.append(
                        f"{where}: errors[{number}]: {key}: unknown key{pipeline_mod._hint(key, _RECORD_KEYS)}"
                    )
        if expect == {} and "errors" not in table:
            problems.append(f"{where}: expects nothing: give [test.expect] or [[test.errors]]")
        tests.append(_Test(where, str(name), list(inputs), dict(expect), [dict(e) for e in errors]))
    if problems:
        raise pipeline_mod.PipelineError(problems)
    return tests


def _catcher(name: str, output: _Output) -> pipeline_mod.CogSpec:
    return pipeline_mod.CogSpec(f"test output {name}", f"test output {name}", output, {}, None, is_cog=True)


def _run(spec: pipeline_mod.PipelineFile, test: _Test) -> tuple[dict[str, list[Any]], list[dict[str, Any]], list[str]]:
    """Build the pipeline with the test's ends, send the input, shut down.

    :returns: what was caught, and why the run failed (what would make ``deadbeat run`` exit 1:
        a ``finish`` that raised, a release too many, ``sys.exit()`` in a cog), if it did.
    """
    outputs = {name: _Output(name) for name in _outputs(spec)}
    head = [pipeline_mod.CogSpec("test input", "test input", _Input(), {}, None, is_cog=True)]
    if spec.routes:
        cogs = head + _quiet(spec.cogs[1:])
        routes = [
            dataclasses.replace(route, cogs=_quiet(route.cogs[:-1]) + [_catcher(route.name, outputs[route.name])])
            for route in spec.routes
        ]
    else:
        cogs = head + _quiet(spec.cogs[1:-1]) + [_catcher(MAIN_OUTPUT, outputs[MAIN_OUTPUT])]
        routes = []
    test_spec = dataclasses.replace(spec, cogs=cogs, routes=routes, errors=[])
    errors = _Errors()
    esc = movement.Escapement()
    try:
        pipeline = pipeline_mod.assemble(test_spec, esc, error_output=errors)
        # Every result of every cog checked, not only the first ones a run checks:
        # a cog giving back one datum on a rare branch fails its test.
        routed = pipeline.router.routes if pipeline.router is not None else []
        for train in [pipeline.train, *(route.train for route in routed)]:
            train.check_results = True
        ids = [f"input[{number}]" for number in range(len(test.inputs))]
        ended: list[str] = []
        try:
            pipeline.train.send(None, movement.Batch(list(test.inputs), "test", lambda: ids))
            # The orderly shutdown, as at SIGTERM: cogs holding data flush them on.
            esc.shutdown()
            esc.run()
        except (SystemExit, GeneratorExit) as exc:
            # sys.exit() in a cog: a run ends failed (exit 1); the test must not end the command with status 0.
            ended.append(f"a cog raised {type(exc).__name__}({exc.args[0] if exc.args else ''})")
    finally:
        esc.close()
    failures = [*esc.failures, *ended]
    caught = {name: output.caught for name, output in outputs.items()}
    return caught, [r.as_dict() for r in errors.records], failures


def _compare(test: _Test, caught: dict[str, list[Any]], records: list[dict[str, Any]]) -> list[str]:
    """:returns: a diff for each output (and the error records) that is not what the test expects."""
    problems = []
    for output, expected in test.expect.items():
        got = caught.get(output, [])
        if got != expected:
            problems.append(_diff(output, expected, got))
    if not _records_match(test.errors, records):
        shown = [{k: v for k, v in r.items() if k in _RECORD_KEYS} for r in records]
        problems.append(_diff("error records", test.errors, shown))
    return problems


def _records_match(expected: list[dict[str, Any]], records: list[dict[str, Any]]) -> bool:
    if len(expected) != len(records):
        return False
    for want, got in zip(expected, records, strict=True):
        for key, value in want.items():
            actual = got.get(key)
            if key in _BY_PART and isinstance(value, str) and isinstance(actual, str):
                if value not in actual:
                    return False
            elif actual != value:
                return False
    return True


def _line(datum: Any) -> str:
    if isinstance(datum, str):
        return datum
    try:
        return json.dumps(datum, sort_keys=True, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        return repr(datum)


def _diff(name: str, expected: list[Any], got: list[Any]) -> str:
    lines = difflib.unified_diff(
        [_line(d) for d in expected],
        [_line(d) for d in got],
        fromfile=f"{name} expected ({len(expected)})",
        tofile=f"{name} got ({len(got)})",
        lineterm="",
    )
    text = "".join(f"  {line}\n" for line in lines)
    if not text:
        # Equal as lines, yet not equal: a number against a text, say.
        text = f"  {name}: expected {expected!r}\n  {name}: got      {got!r}\n"
    return text
