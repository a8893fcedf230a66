"""Every distribution is ready to publish: it builds, passes ``twine check``, and installs and works alone.

These tests use the sdists and wheels ``python -m build`` makes (the ``built``
fixture, once per session), the way a release would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Built

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = ["deadbeat-core", "deadbeat-cogs-fs", "deadbeat-cogs-ip", "deadbeat-cogs-net", "deadbeat-cogs-text"]

#: What an sdist holds beside PKG-INFO: nothing from the rest of the repository but
#: its .gitignore, which hatchling copies in on purpose, so that a wheel built from
#: the sdist leaves out the same files a wheel built from the checkout does.
SDIST_CONTENT = {".gitignore", "LICENSE", "README.md", "pyproject.toml", "src", "tests"}


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure, the assertion shows its output."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def metadata(wheel: Path) -> dict[str, list[str]]:
    """:returns: the core metadata of a wheel, each field with all its values."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(archive.read(name).decode())
    return {key: message.get_all(key) or [] for key in set(message.keys())}


class TestPackaging:
    def test_twine_check_strict(self, built: Built) -> None:
        """twine check --strict accepts every sdist and wheel (metadata and README render on PyPI)."""
        files = sorted(built.dist.iterdir())
        assert len(files) == 2 * len(DISTRIBUTIONS)
        run(sys.executable, "-m", "twine", "check", "--strict", *files)

    @pytest.mark.parametrize("name", DISTRIBUTIONS)
    def test_license_in_sdist_and_wheel(self, built: Built, name: str) -> None:
        """The ISC licence is in the directory, the sdist and the wheel, and the metadata says ISC."""
        text = (REPO / name / "LICENSE").read_text()
        assert text.startswith("ISC License") and "Permission to use, copy, modify" in text
        with tarfile.open(built.sdist(name)) as sdist:
            top = sdist.getnames()[0].split("/")[0]
            assert sdist.extractfile(f"{top}/LICENSE").read().decode() == text  # type: ignore[union-attr]
        with zipfile.ZipFile(built.wheel(name)) as wheel:
            licences = [n for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
            assert licences and wheel.read(licences[0]).decode() == text
        assert metadata(built.wheel(name))["License-Expression"] == ["ISC"]

    @pytest.mark.parametrize("name", DISTRIBUTIONS)
    def test_sdist_holds_the_distribution_only(self, built: Built, name: str) -> None:
        """An sdist holds the distribution's own files: no caches, build output or files from elsewhere."""
        with tarfile.open(built.sdist(name)) as sdist:
            names = sdist.getnames()
        top = names[0].split("/")[0]
        hook = {"hatch_build.py"} if (REPO / name / "hatch_build.py").exists() else set()
        assert {n.split("/")[1] for n in names if "/" in n} == SDIST_CONTENT | hook | {"PKG-INFO"}
        assert [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".so", ".orig", ".rej"))] == []
        assert f"{top}/src/deadbeat/__init__.py" not in names

    @pytest.mark.parametrize("name", DISTRIBUTIONS)
    def test_wheel_builds_from_the_sdist(self, built: Built, name: str, tmp_path: Path) -> None:
        """pip, given only the sdist (as from an index), builds a wheel with the same files as the release's."""
        run(
            sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
            "--wheel-dir", tmp_path, built.sdist(name),
        )  # fmt: skip
        with zipfile.ZipFile(next(tmp_path.glob("*.whl"))) as again, zipfile.ZipFile(built.wheel(name)) as wheel:
            assert sorted(again.namelist()) == sorted(wheel.namelist())

    @pytest.mark.parametrize("name", DISTRIBUTIONS)
    def test_metadata_for_an_index(self, built: Built, name: str) -> None:
        """Each wheel says who wrote it, where the project lives, what it is about and what it runs on."""
        meta = metadata(built.wheel(name))
        assert meta.get("Author-email") or meta.get("Author")
        urls = dict(u.split(", ", 1) for u in meta.get("Project-URL", []))
        assert {"Homepage", "Documentation", "Source", "Changelog", "Issues"} <= set(urls)
        assert meta.get("Keywords")
        classifiers = meta.get("Classifier", [])
        assert "Operating System :: POSIX :: Linux" in classifiers
        assert "Programming Language :: Python :: 3.10" in classifiers
        assert "Typing :: Typed" in classifiers
        assert meta["Description-Content-Type"] == ["text/markdown"]


class TestBuildHook:
    @pytest.mark.parametrize("name", [d for d in DISTRIBUTIONS if d != "deadbeat-core"])
    def test_each_cog_distribution_builds_its_manifest_with_the_cores_hook(self, name: str) -> None:
        """hatch_build.py of a cog distribution is deadbeat-core's manifest hook, byte for byte."""
        hook = REPO / name / "hatch_build.py"
        core = REPO / "deadbeat-core" / "src" / "deadbeat" / "plugins" / "_manifest.py"
        assert hook.read_bytes() == core.read_bytes(), f"cp {core.relative_to(REPO)} {hook.relative_to(REPO)}"


class TestOneReleasePlace:
    def test_versions_and_core_range_are_declared_once(self) -> None:
        """Every distribution carries the release's version, and every cog distribution the release's core range.

        Both are declared once, in the root pyproject.toml's ``[tool.deadbeat]``;
        ``python scripts/release.py VERSION`` writes them into each distribution.
        """
        release = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["deadbeat"]
        for name in DISTRIBUTIONS:
            project = tomllib.loads((REPO / name / "pyproject.toml").read_text())["project"]
            assert project["version"] == release["version"], name
            core = [d for d in project.get("dependencies", []) if d.startswith("deadbeat-core")]
            assert core == ([] if name == "deadbeat-core" else [f"deadbeat-core{release['core']}"]), name

    def test_urls_and_authors_are_the_same_everywhere(self) -> None:
        """The project's URLs, authors and licence do not differ between distributions."""
        projects = [tomllib.loads((REPO / n / "pyproject.toml").read_text())["project"] for n in DISTRIBUTIONS]
        for key in ("urls", "authors", "license", "requires-python"):
            assert all(p[key] == projects[0][key] for p in projects), key


class TestEachDistributionAlone:
    @pytest.mark.parametrize("name", DISTRIBUTIONS)
    def test_installs_by_name_and_lists_its_cogs(self, built: Built, name: str, tmp_path: Path) -> None:
        """``pip install --find-links DIR NAME`` works in a clean venv, and ``deadbeat cogs --check`` loads its cogs.

        A cog whose client library comes with an extra (``http.post`` needs
        ``[http]``) may fail to load without it, but must say which extra to install.
        """
        venv = tmp_path / "venv"
        run(sys.executable, "-m", "venv", "--without-pip", venv)
        python = venv / "bin" / "python"
        run(
            sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
            "--no-index", "--find-links", built.wheelhouse, name,
        )  # fmt: skip
        listing = run(venv / "bin" / "deadbeat", "cogs", "--check", "--json").stdout
        cogs = json.loads(listing)
        declared = tomllib.loads((REPO / name / "pyproject.toml").read_text())["project"]
        expected = set(declared.get("entry-points", {}).get("deadbeat.cogs", {}))
        assert {c["name"] for c in cogs} == expected
        assert {c["distribution"] for c in cogs} <= {name}
        unusable = [c for c in cogs if c["status"] != "loaded"]
        assert [c for c in unusable if f"pip install '{name}[" not in str(c["error"])] == []
        version = run(venv / "bin" / "deadbeat", "--version").stdout
        assert declared["version"] in version
