"""``deadbeat new-cog`` refuses a name that would make a project it cannot build, or another's.

``new-cog a_`` scaffolded ``deadbeat-a-``, which is not a valid project name:
the build failed. ``new-cog b__c`` made ``deadbeat-b--c``, the same project as
``new-cog b_c``'s ``deadbeat-b-c`` (a run of ``-`` counts as one). Names are now
lower-case words of letters and digits joined by single underscores.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadbeat.command import _new_cog

#: PEP 508's rule for a project's name, and the normalization of PEP 503.
_PROJECT = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _new_cog_command(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "new-cog", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a_", "'deadbeat-a-', and a project's name must end with a letter or digit"),
        ("x__", "'deadbeat-x--', and a project's name must end with a letter or digit"),
        ("_x", "it starts with '_'"),
        ("b__c", "'deadbeat-b--c', which is the same project as 'deadbeat-b-c'"),
        ("my__own_cogs", "the same project as 'deadbeat-my-own-cogs'"),
        ("a-b", "words joined by single underscores"),
        ("A", "lower-case letters and digits"),
        ("1a", "starting with a letter"),
        ("é", "lower-case letters and digits"),
    ],
)
def test_a_name_making_no_valid_project_is_refused(tmp_path: Path, name: str, reason: str) -> None:
    result = _new_cog_command(tmp_path, name)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(f"deadbeat: new-cog: {name!r} cannot name a cog distribution: ")
    assert reason in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_name_too_long_for_a_file_name_is_said(tmp_path: Path) -> None:
    result = _new_cog_command(tmp_path, "a" * 300)
    assert result.returncode == 1
    assert result.stderr.startswith("deadbeat: new-cog: cannot create deadbeat-aaa")
    assert "Traceback" not in result.stderr


@given(st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True))
def test_every_name_taken_makes_a_valid_project_and_module_of_its_own(name: str) -> None:
    """What is taken makes a valid project name, no other name's, and a valid module name."""
    if _new_cog.name_problem(name) is not None:
        dist = "deadbeat-" + name.replace("_", "-")
        # Refused only for a reason: an invalid project name, or one that is another name's.
        assert name.startswith("_") or not _PROJECT.match(dist) or _normalized(dist) != dist
        return
    files_dist = "deadbeat-" + name.replace("_", "-")
    assert _PROJECT.match(files_dist)
    assert _normalized(files_dist) == files_dist  # no other accepted name makes the same project
    assert f"deadbeat_{name}".isidentifier()
    assert name.isascii() and not set(name) & set("/:.-")  # the cogs' prefix: no separator of names


@pytest.mark.parametrize("name", ["geoip", "my_lookup", "a1_b2", "x9"])
def test_a_taken_name_builds(tmp_path: Path, name: str) -> None:
    """The project written has metadata hatchling takes (the name is what the build checked)."""
    core = pytest.importorskip("hatchling.metadata.core")
    result = _new_cog_command(tmp_path, name)
    assert result.returncode == 0, result.stderr
    root = tmp_path / ("deadbeat-" + name.replace("_", "-"))
    metadata = core.ProjectMetadata(str(root), None)
    assert metadata.core.name == "deadbeat-" + name.replace("_", "-")
    assert (root / "src" / f"deadbeat_{name}" / "__init__.py").is_file()
