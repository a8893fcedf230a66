"""The repository keeps the shape DESIGN.md promises."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = ["deadbeat-core", "deadbeat-cogs-fs", "deadbeat-cogs-ip", "deadbeat-cogs-net", "deadbeat-cogs-text"]
#: Where the repository is published; links to it from the READMEs must name files that exist here.
PUBLISHED = "https://github.com/deadbeat-project/deadbeat"


def links(markdown: str) -> list[str]:
    """:returns: the targets of a Markdown text's links, ``[text](target)``."""
    return re.findall(r"\]\(([^)\s]+)\)", markdown)


class TestLayout:
    def test_namespace_has_no_init_anywhere(self) -> None:
        """No distribution ships deadbeat/__init__.py: deadbeat is a PEP 420 namespace."""
        assert not list(REPO.glob("**/src/deadbeat/__init__.py"))

    def test_each_distribution_has_the_same_shape(self) -> None:
        """pyproject (hatchling, Python >= 3.10), README, src/deadbeat and tests in each."""
        for name in DISTRIBUTIONS:
            root = REPO / name
            meta = tomllib.loads((root / "pyproject.toml").read_text())
            assert meta["build-system"]["build-backend"] == "hatchling.build", name
            assert meta["project"]["name"] == name
            assert meta["project"]["requires-python"] == ">=3.10"
            assert (root / "README.md").exists() and (root / "src" / "deadbeat").is_dir()
            assert list((root / "tests").glob("test_*.py")), name

    def test_cog_distributions_depend_on_a_core_range(self) -> None:
        """Every cog distribution names the core versions it works with."""
        for name in DISTRIBUTIONS[1:]:
            meta = tomllib.loads((REPO / name / "pyproject.toml").read_text())
            assert any(d.startswith("deadbeat-core>=") for d in meta["project"]["dependencies"]), name

    def test_core_dependencies_stay_few(self) -> None:
        """The core depends on pluggy, inotify-simple and packaging only (tomli on 3.10)."""
        meta = tomllib.loads((REPO / "deadbeat-core" / "pyproject.toml").read_text())
        names = {d.split(">")[0].split(";")[0].strip() for d in meta["project"]["dependencies"]}
        assert names == {"pluggy", "inotify-simple", "packaging", "tomli"}

    def test_every_import_package_is_typed(self) -> None:
        """Each import package of every distribution (and the template) ships py.typed for its users."""
        roots = [REPO / name / "src" for name in DISTRIBUTIONS] + [REPO / "_template" / "src"]
        packages = [p.parent for root in roots for p in root.glob("**/__init__.py")]
        assert len(packages) >= 17
        assert [p for p in packages if not (p / "py.typed").exists()] == []

    def test_the_core_has_no_module_outside_a_package(self) -> None:
        """Modules straight in the deadbeat namespace could not carry py.typed: there are none."""
        for name in DISTRIBUTIONS:
            assert not list((REPO / name / "src" / "deadbeat").glob("*.py")), name


class TestReadmeLinks:
    def test_every_readme_link_resolves(self) -> None:
        """Links in the READMEs point to files of the repository that exist (published ones by their URL)."""
        readmes = [REPO / "README.md", REPO / "_template" / "README.md"]
        readmes += [REPO / n / "README.md" for n in DISTRIBUTIONS]
        checked = 0
        for readme in readmes:
            for target in links(readme.read_text()):
                path = target.split("#")[0]
                if path.startswith(PUBLISHED):
                    path = re.sub(r"^/(tree|blob)/main", "", path[len(PUBLISHED) :])
                    assert (REPO / path.lstrip("/")).exists(), f"{readme}: {target}"
                else:
                    assert not re.match(r"\w+:", path), f"{readme}: {target} is outside the repository"
                    assert (readme.parent / path).exists(), f"{readme}: {target}"
                checked += 1
        assert checked >= 5

    def test_distribution_readmes_link_absolutely(self) -> None:
        """A distribution's README is its page on the package index, where relative links lead nowhere."""
        for name in DISTRIBUTIONS:
            text = (REPO / name / "README.md").read_text()
            assert [t for t in links(text) if not t.startswith("https://")] == [], name
            # A path of the repository written out as text, not linked, is a link that does not work either.
            bare = re.findall(r"(?<![/\w])docs/[\w-]+\.rst", re.sub(r"\]\([^)]*\)", "]()", text))
            assert bare == [], f"{name}/README.md: write [title]({PUBLISHED}/blob/main/docs/PAGE.rst), not {bare}"

    def test_core_readme_describes_the_project(self) -> None:
        """deadbeat-core's README, its page on the index, says what Deadbeat is and what to install."""
        text = (REPO / "deadbeat-core" / "README.md").read_text()
        assert len(text.split()) > 200
        assert all(n in text for n in DISTRIBUTIONS[1:])

    def test_every_distribution_has_the_isc_licence(self) -> None:
        """The same ISC licence at the root, in every distribution and in the template."""
        licence = (REPO / "LICENSE").read_text()
        assert licence.startswith("ISC License")
        for name in [*DISTRIBUTIONS, "_template"]:
            assert (REPO / name / "LICENSE").read_text() == licence, name
