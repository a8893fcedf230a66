"""``deadbeat new-cog NAME``: start a third-party cog distribution that works as it is.

The project it writes installs, shows in ``deadbeat cogs`` (with its summary,
importing nothing: its build writes the manifest), and passes its own tests
unchanged; a test of ours generates one, builds its wheel, installs it into a
fresh virtual environment beside a core built from this checkout, and runs
those tests. Its shape::

    deadbeat-NAME/
      pyproject.toml           hatchling; deadbeat-core pinned to this minor series; entry points
      hatch_build.py           writes deadbeat-cogs.json (summaries) into the wheel's .dist-info
      README.md
      src/deadbeat_NAME/       the cogs (a top-level package of its own, never the deadbeat namespace)
      tests/test_cogs.py       the conformance kit and a behaviour test

The templates live here, not in files beside the module, so that the command
works from an installed wheel of the core.
"""

from __future__ import annotations

import argparse
import io
import keyword
import re
import sys
from pathlib import Path
from typing import TextIO

from ._common import EXIT_ERROR, EXIT_OK, write_all

#: A short name: lower-case words of letters and digits, joined by single underscores (geoip, my_lookup).
#: Each ``_`` becomes a ``-`` in the distribution's name (deadbeat-my-lookup), which must end with a letter
#: or digit, and in which a run of ``-`` counts as one (deadbeat-b--c is the project deadbeat-b-c): a name
#: ending with ``_`` or holding ``__`` makes a project that cannot be built, or is another's.
_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*\Z")
#: What the message about a name like ``a_`` or ``b__c`` is for: otherwise made of the right characters.
_CHARACTERS = re.compile(r"[a-z_][a-z0-9_]*\Z")

_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.18"]
build-backend = "hatchling.build"

[project]
name = "{dist}"
version = "0.1.0"
description = "Deadbeat cogs: {name}"
readme = "README.md"
requires-python = ">=3.10"
# The core's API may change between minor versions before 1.0: a range the
# installed core is outside of makes the cogs 'incompatible' in `deadbeat cogs`.
dependencies = ["deadbeat-core{pin}"]

[project.optional-dependencies]
test = ["pytest>=7", "hypothesis>=6"]

# One line per cog: its public name (pipelines write `use = "{name}.tag"`) and
# where it lives. A cog needing a library only some users want names an extra:
# "{name}.fancy" = "{package}:Fancy [fancy]"
[project.entry-points."deadbeat.cogs"]
"{name}.tag" = "{package}:Tag"

[tool.hatch.build.targets.wheel]
packages = ["src/{package}"]

# hatch_build.py writes deadbeat-cogs.json into the wheel's .dist-info: the
# summaries `deadbeat cogs` shows without importing the cogs.
[tool.hatch.build.targets.wheel.hooks.custom]
"""

_README = """\
# {dist}

Cogs for [Deadbeat](https://deadbeat.readthedocs.io/) pipelines.

| cog | what it does |
| --- | --- |
| `{name}.tag` | Write a fixed value into a field of each datum. |

```toml
[[cog]]
use = "{name}.tag"
value = "seen"
target = "tag"
```

## Development

Install the distribution (its entry points are how the tests find the cogs),
then run its tests:

```
pip install -e '.[test]'
pytest
deadbeat cogs show {name}.tag
```
"""

_MODULE = '''\
"""Deadbeat cogs: {name}."""

from __future__ import annotations

from typing import Any

from deadbeat import movement

__all__ = ["Tag"]


class Tag(movement.Cog):
    """Write a fixed value into a field of each datum.

    :param value: what to write.
    :param target: where to write it: a field name, a dotted path, or a setter.
    """

    def __init__(self, value: str = "{name}", target: movement.FieldSetter = "tag") -> None:
        if not value:
            # Refuse a bad parameter here: the pipeline reports it before anything runs.
            raise ValueError("value must not be empty")
        self.value = value
        self.target = target
        self._set = movement.setter(target)

    def __call__(self, data: Any) -> tuple[Any, ...]:
        return (self._set(data, self.value),)
'''

_TESTS = '''\
"""The cogs of {dist}: the conformance kit, and what they do."""

from __future__ import annotations

import pytest

from deadbeat.testing import CogConformance, run_train, send_through
from {package} import Tag


class TestTagConformance(CogConformance):
    cog_name = "{name}.tag"
    params = {{"value": "seen", "target": "tag"}}
    samples = [{{"id": "1", "line": "a"}}, {{"id": "2", "line": "b"}}]
    # Data that make the cog raise, and go to the error output alone.
    failing_samples = ["not a mapping"]
    flushes_all = True


class TestTag:
    def test_writes_the_value(self) -> None:
        """Every datum gets the value in the target field."""
        out = run_train([Tag(value="x", target="meta.tag")], [{{"meta": {{}}}}, {{"meta": {{}}}}])
        assert out.data == [{{"meta": {{"tag": "x"}}}}, {{"meta": {{"tag": "x"}}}}]

    def test_a_datum_it_cannot_tag_fails_alone(self) -> None:
        """A datum without room for the field goes to the error output; the others go on."""
        out, errors = send_through([Tag()], [{{"id": "a"}}, "text", {{"id": "c"}}])
        assert [d["id"] for d in out] == ["a", "c"]
        assert len(errors) == 1

    def test_an_empty_value_is_refused(self) -> None:
        """A bad parameter is refused when the cog is built, not when data arrive."""
        with pytest.raises(ValueError, match="must not be empty"):
            Tag(value="")
'''

_GITIGNORE = "__pycache__/\n*.egg-info/\nbuild/\ndist/\n.venv/\n"


def core_pin(version: str) -> str:
    """:returns: the ``deadbeat-core`` range a new distribution should require: this minor series before 1.0,
    this major series after.
    """
    parts = [int(p) for p in re.findall(r"\d+", version)[:2]] + [0, 0]
    major, minor = parts[0], parts[1]
    if major == 0:
        return f">={major}.{minor},<{major}.{minor + 1}"
    return f">={major}.{minor},<{major + 1}"


def render(name: str) -> dict[str, str]:
    """The files of a new distribution.

    :param name: the short name, checked by the caller.
    :returns: relative path to content.
    """
    from ..plugins import _manifest, core_version

    fields = {
        "name": name,
        "dist": "deadbeat-" + name.replace("_", "-"),
        "package": f"deadbeat_{name}",
        "pin": core_pin(core_version()),
    }
    hook = Path(_manifest.__file__).read_text(encoding="utf-8")
    header = (
        f"# Copied from deadbeat-core {core_version()} (deadbeat/plugins/_manifest.py) by `deadbeat new-cog`:\n"
        "# the build hook that writes deadbeat-cogs.json. It must not import deadbeat: the build\n"
        "# environment has only hatchling.\n"
    )
    package = fields["package"]
    return {
        "pyproject.toml": _PYPROJECT.format(**fields),
        "hatch_build.py": header + hook,
        "README.md": _README.format(**fields),
        ".gitignore": _GITIGNORE,
        f"src/{package}/__init__.py": _MODULE.format(**fields),
        f"src/{package}/py.typed": "",
        "tests/test_cogs.py": _TESTS.format(**fields),
    }


#: The prefixes of the cogs of Deadbeat's own distributions (and the project's name), not for a new one.
_FIRST_PARTY_PREFIXES = frozenset(
    {"deadbeat", "fs", "text", "cast", "flow", "time", "ip", "dns", "http", "socket", "stream", "route", "core"}
)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a new cog distribution by its shape, or ``None`` when it can.

    ``NAME`` becomes the distribution ``deadbeat-NAME`` (``_`` as ``-``), the
    package ``deadbeat_NAME`` and the cog prefix ``NAME.``: each must be valid,
    and the distribution's name must be its own.
    """
    rule = (
        "use lower-case letters and digits, starting with a letter, words joined by single underscores"
        " (geoip, my_lookup)"
    )
    if _NAME.match(name):
        return None
    if not _CHARACTERS.match(name):
        return f"{name!r} cannot name a cog distribution: {rule}"
    dist = "deadbeat-" + name.replace("_", "-")
    if name.startswith("_"):
        return f"{name!r} cannot name a cog distribution: it starts with '_'; {rule}"
    if name.endswith("_"):
        return (
            f"{name!r} cannot name a cog distribution: it would be named {dist!r}, and a project's name must end"
            f" with a letter or digit; {rule}"
        )
    same = "deadbeat-" + re.sub(r"_+", "-", name)
    return (
        f"{name!r} cannot name a cog distribution: it would be named {dist!r}, which is the same project as"
        f" {same!r} (a run of '-' or '_' in a project's name counts as one); {rule}"
    )


def handle(args: argparse.Namespace, out: TextIO | None) -> int:
    """Run ``deadbeat new-cog``.

    :param out: standard output, ``None`` when it was closed as the command started: what would be
        shown there is not (the exit status still says how it went).
    :returns: the exit status.
    """
    if out is None:
        out = io.StringIO()
    name = args.name
    problem = name_problem(name)
    if problem is not None:
        sys.stderr.write(f"deadbeat: new-cog: {problem}\n")
        return EXIT_ERROR
    if keyword.iskeyword(name):
        sys.stderr.write(
            f"deadbeat: new-cog: {name!r} is a Python keyword, which cannot name the module of the cogs; choose"
            " another name\n"
        )
        return EXIT_ERROR
    if name in _FIRST_PARTY_PREFIXES:
        sys.stderr.write(
            f"deadbeat: new-cog: {name!r} is the prefix of Deadbeat's own cogs ({name}.*): choose a prefix of your"
            " own, so that your cogs' names never meet theirs\n"
        )
        return EXIT_ERROR
    if name == "cogs" or name.startswith("cogs_"):
        # The distribution would be deadbeat-cogs-*, the names of Deadbeat's own: installed, it would replace one.
        sys.stderr.write(
            f"deadbeat: new-cog: {name!r} would make a distribution named deadbeat-{name.replace('_', '-')}, and"
            " deadbeat-cogs-* are the names of Deadbeat's own distributions: choose a name of your own\n"
        )
        return EXIT_ERROR
    directory: Path = args.directory or Path("deadbeat-" + name.replace("_", "-"))
    try:
        if directory.exists() or directory.is_symlink():
            sys.stderr.write(f"deadbeat: new-cog: {directory} exists; choose another --directory\n")
            return EXIT_ERROR
        files = render(name)
        for relative, text in files.items():
            path = directory / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        # A name too long for a file name, a directory that cannot be written: said, not a traceback.
        sys.stderr.write(f"deadbeat: new-cog: cannot create {directory}: {exc.strerror or exc}\n")
        return EXIT_ERROR
    write_all(
        out,
        f"Created {directory}/ with the cog {name}.tag. Next:\n"
        f"  cd {directory}\n"
        "  pip install -e '.[test]'    # the entry points are how deadbeat (and the tests) find the cogs\n"
        "  pytest\n"
        f"  deadbeat cogs show {name}.tag\n",
    )
    return EXIT_OK
