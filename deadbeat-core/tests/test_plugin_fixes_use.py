"""A malformed ``use`` is a pipeline error naming the file and the cog, never a raw traceback.

``use = "nodir/mycogs:X"`` was joined to the pipeline's directory as a path
(``FileNotFoundError``), ``".mycogs:X"`` and ``"../x:y"`` reached
:func:`importlib.import_module` as relative names (``TypeError: the 'package'
argument is required``), and so did an installed cog's qualified name whose
entry-point name holds a ':' (``"deadbeat-odd2/odd2.a:b"``), read as
module:attribute. A module whose own code raised as it was imported (a syntax
error, ``sys.exit()``) crashed the same way.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from deadbeat import pipeline as pipeline_mod
from deadbeat.pipeline import _modules
from deadbeat.plugins import CogRegistry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MakeDist = Callable[..., Path]

MYCOGS = textwrap.dedent(
    '''
    from deadbeat import movement


    class Tag(movement.Cog):
        """Tag it."""

        def __call__(self, d):
            return (d,)
    '''
)

MALFORMED = [
    ("nodir/mycogs:Tag", "'nodir/mycogs' is a path, not a module name"),
    (".mycogs:Tag", "'.mycogs' is a relative module name"),
    ("..mycogs:Tag", "'..mycogs' is a relative module name"),
    ("../x:y", "'../x' is a path, not a module name"),
    ("/abs/mycogs:Tag", "is a path, not a module name"),
    (":Tag", "no module before ':'"),
    ("mycogs:", "no attribute after ':'"),
    ("mycogs:Tag:x", "'Tag:x' is not an attribute name"),
    ("mycogs:Tag..x", "'Tag..x' is not an attribute name"),
    ("my cogs:Tag", "'my cogs' is not a module name"),
    ("mycogs.:Tag", "'mycogs.' is not a module name"),
    ("my-cogs:Tag", "'my-cogs' is not a module name"),
]


@pytest.fixture(autouse=True)
def _forget_app_modules() -> Iterator[None]:
    """The app modules these tests import leave sys.modules afterwards: another test's ``mycogs`` is its own."""
    before = set(sys.modules)
    yield
    temporary = os.path.realpath(tempfile.gettempdir()) + os.sep
    for name in set(sys.modules) - before:
        file = getattr(sys.modules[name], "__file__", None)
        if isinstance(file, str) and os.path.realpath(file).startswith(temporary):
            del sys.modules[name]


def _private(directory: Path) -> Path:
    directory.chmod(0o700)
    return directory


def _env(*paths: Path) -> dict[str, str]:
    extra = [str(p) for p in paths]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [*extra, os.environ.get("PYTHONPATH")]))}


def _deadbeat(directory: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        env=env or _env(),
        timeout=60,
    )


def _pipeline(directory: Path, use: str) -> Path:
    # The bad cog second, as in the probe: cog[1].
    path = directory / "p.toml"
    path.write_text(f"[[cog]]\nuse = {json.dumps('mycogs:Tag')}\n[[cog]]\nuse = {json.dumps(use)}\n")
    return path


@pytest.mark.parametrize(("use", "reason"), MALFORMED)
def test_load_names_the_file_and_cog(tmp_path: Path, use: str, reason: str) -> None:
    base = _private(tmp_path)
    (base / "mycogs.py").write_text(MYCOGS)
    path = _pipeline(base, use)
    with pytest.raises(pipeline_mod.PipelineError) as caught:
        pipeline_mod.load(str(path), CogRegistry())
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: cog[1] ({use}): cannot import: "), problem
    assert reason in problem


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("use", ["nodir/mycogs:Tag", ".mycogs:Tag", "../x:y"])
def test_check_and_run_say_it_without_a_traceback(tmp_path: Path, command: str, use: str) -> None:
    """The probe's values: exit 1 with one line, in both commands."""
    base = _private(tmp_path)
    (base / "mycogs.py").write_text(MYCOGS)
    _pipeline(base, use)
    args = ["check", "p.toml"] if command == "check" else ["run", "--once", "p.toml"]
    result = _deadbeat(base, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "TypeError" not in output and "FileNotFoundError" not in output
    assert f"p.toml: cog[1] ({use}): cannot import: " in output


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("use", ["deadbeat-oddc/oddc.a:b", "oddc.a:b"])
def test_an_installed_cog_whose_name_holds_a_colon(make_dist: MakeDist, tmp_path: Path, command: str, use: str) -> None:
    site = make_dist("deadbeat-oddc", {"oddc.a:b": "oddc_mod:Tag"}, "oddc_mod", MYCOGS)
    base = tmp_path / "pipe"
    base.mkdir(mode=0o700)
    (base / "mycogs.py").write_text(MYCOGS)
    _pipeline(base, use)
    args = ["check", "p.toml"] if command == "check" else ["run", "--once", "p.toml"]
    result = _deadbeat(base, *args, env=_env(site))
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert f"p.toml: cog[1] ({use}): cannot import: " in output
    assert "deadbeat-oddc offers a cog named 'oddc.a:b'" in output


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("def broken(:\n", "mycogs: SyntaxError: "),
        ("raise RuntimeError('boom')\n", "mycogs: RuntimeError: boom ("),
        ("import sys\nsys.exit(3)\n", "mycogs: SystemExit: 3 ("),
    ],
)
def test_a_module_failing_as_it_is_imported(tmp_path: Path, code: str, reason: str) -> None:
    base = _private(tmp_path)
    (base / "badmod.py").write_text(code)
    (base / "mycogs.py").write_text(MYCOGS)
    path = base / "p.toml"
    path.write_text('[[cog]]\nuse = "badmod:Tag"\n')
    result = _deadbeat(base, "check", "p.toml")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert f"p.toml: cog[0] (badmod:Tag): cannot import: {reason.replace('mycogs', 'badmod')}" in result.stdout


@pytest.mark.parametrize("name", ["nodir/mycogs", ".mycogs", "../x", "", "a..b", "a.", "my-cogs"])
def test_import_app_module_refuses_what_is_no_module_name(tmp_path: Path, name: str) -> None:
    base = _private(tmp_path)
    with pytest.raises(ImportError, match="is not a module name"):
        _modules.import_app_module(name, str(base))


_PIECES = st.sampled_from(["mycogs", "Tag", "x", "a", "nodir", "deadbeat-oddc", "oddc", "1x", "", " ", "é"])
_SEPARATORS = st.sampled_from([":", ".", "/", "..", "../", "\\", "-", ":", "::", " ", "\x00", "*", "$"])
_SHAPED = st.lists(st.tuples(_PIECES, _SEPARATORS), max_size=5).map(lambda parts: "".join(a + b for a, b in parts))


def _installed_top(use: str) -> bool:
    """Whether the module part names an installed top-level module: importing it could do anything (``this``)."""
    top = use.partition(":")[0].partition(".")[0]
    if not top.isidentifier():
        return False
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = _private(tmp_path_factory.mktemp("use-arena"))
    (base / "mycogs.py").write_text(MYCOGS)
    return base


@pytest.fixture(scope="module")
def registry() -> CogRegistry:
    return CogRegistry()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(use=st.one_of(st.text(max_size=40), _SHAPED, st.builds(lambda a, b: f"{a}:{b}", _SHAPED, _SHAPED)))
@example(use="nodir/mycogs:Tag")
@example(use=".mycogs:Tag")
@example(use="../x:y")
@example(use="deadbeat-oddc/oddc.a:b")
@example(use="mycogs:Tag")
def test_any_use_builds_or_raises_a_pipeline_error(arena: Path, registry: CogRegistry, use: str) -> None:
    """Building from a pipeline file never raises anything but PipelineError, whatever ``use`` says."""
    assume(not _installed_top(use) or use.partition(":")[0] == "mycogs")
    assume("${" not in use)  # substitutions: not what this is about, and ${file:...} would read files
    text = "[[cog]]\nuse = " + json.dumps(use, ensure_ascii=False).replace("\x7f", "\\u007f") + "\n"
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        assume(False)
    assume(parsed["cog"][0]["use"] == use)
    path = arena / "p.toml"
    path.write_text(text, encoding="utf-8")
    try:
        spec = pipeline_mod.load(str(path), registry)
    except pipeline_mod.PipelineError as exc:
        assert all(str(path) in problem for problem in exc.problems)
        return
    assert [cog.use for cog in spec.cogs] == [use]
