"""The documentation keeps up with the code: hooks, cog pages, README and CI."""

from __future__ import annotations

import importlib.util
import re
import sys
import textwrap
from pathlib import Path

import pytest

from deadbeat import movement
from deadbeat.movement import BROADCASTS

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("generate_cog_pages", DOCS / "generate_cog_pages.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestHookDocs:
    def test_every_broadcast_has_a_section(self) -> None:
        """docs/hooks.rst has a section for each broadcast of the specification."""
        text = (DOCS / "hooks.rst").read_text()
        titles = re.findall(r"^(\w+)\n-+$", text, flags=re.MULTILINE)
        assert titles == list(BROADCASTS)

    def test_every_broadcast_has_a_docstring(self) -> None:
        """Each hook of the specification says when it fires and what its arguments mean."""
        for name in BROADCASTS:
            doc = getattr(movement.BroadcastSpec, name).__doc__ or ""
            assert len(doc.strip()) > 40, name


class TestCogPages:
    def test_every_cog_has_an_up_to_date_page(self) -> None:
        """Each cog of our distributions has a page equal to what the generator writes."""
        generator = load_generator()
        entries = generator.our_cogs()
        assert {e.name for e in entries} >= {"fs.read", "fs.write", "text.json_parse", "text.json_format"}
        for entry in entries:
            page = DOCS / "cogs" / f"{entry.name}.rst"
            assert page.exists(), f"{entry.name} has no page; run python docs/generate_cog_pages.py"
            assert page.read_text() == generator.render(entry), f"{page} is stale; run the generator"

    def test_the_install_page_lists_every_cog(self) -> None:
        """The table of which distribution brings which cogs, on the install page, is what the generator writes."""
        generator = load_generator()
        table = DOCS / "cogs" / generator.DISTRIBUTIONS_TABLE
        assert table.read_text() == generator.render_distributions(generator.our_cogs()), "run the generator"
        assert f".. include:: cogs/{generator.DISTRIBUTIONS_TABLE}" in (DOCS / "install.rst").read_text()

    def test_the_filter_page_links_the_expression_language(self) -> None:
        """flow.filter's page sends the reader to the page on its expression language."""
        assert ":doc:`/expressions`" in (DOCS / "cogs" / "flow.filter.rst").read_text()

    def test_no_page_without_a_cog(self) -> None:
        """A page whose cog is gone is flagged."""
        generator = load_generator()
        names = {e.name for e in generator.our_cogs()}
        pages = {p.stem for p in (DOCS / "cogs").glob("*.rst")} - {"index"}
        assert pages == names


class TestInstallPage:
    def test_every_extra_is_on_the_install_page(self) -> None:
        """Each extra a distribution offers (but ``test``) is in the install page's table, as ``NAME[EXTRA]``."""
        text = (DOCS / "install.rst").read_text()
        missing = []
        for pyproject in sorted(REPO.glob("deadbeat-*/pyproject.toml")):
            project = tomllib.loads(pyproject.read_text())["project"]
            for extra in project.get("optional-dependencies", {}):
                if extra != "test" and f"``{project['name']}[{extra}]``" not in text:
                    missing.append(f"{project['name']}[{extra}]")
        assert missing == []


class TestSphinx:
    def test_documentation_builds_without_warnings(self, tmp_path: Path) -> None:
        """The Sphinx sources build with warnings treated as errors (broken references, bad markup), and
        nitpicky (-n, as the README's docs command runs it): every cross-reference resolves."""
        from sphinx.cmd.build import build_main

        assert build_main(["-n", "-W", "-q", "-b", "html", str(DOCS), str(tmp_path / "html")]) == 0


class TestReadme:
    def test_ci_runs_the_readme_test_command(self) -> None:
        """.ci/run runs exactly the test command the README gives."""
        readme = (REPO / "README.md").read_text()
        blocks = [b.strip() for b in re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL)]
        assert "bash scripts/test.sh" in blocks
        assert "exec bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()

    def test_tests_leave_the_quick_start_environment_alone(self) -> None:
        """The test command installs into an environment of its own, never the quick start's .venv."""
        readme = (REPO / "README.md").read_text()
        blocks = [b.strip() for b in re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL)]
        # The quick start and the look-around commands come before the test command.
        assert blocks.index("bash scripts/test.sh") > 1
        assert all(".venv/bin/deadbeat" in line for line in blocks[1].splitlines())
        script = (REPO / "scripts" / "test.sh").read_text()
        assert 'venv="${DEADBEAT_TEST_VENV:-.venv-test}"' in script
        assert not re.search(r"(?<![\w-])\.venv/", script)

    def test_quick_start_runs_the_shipped_demo(self) -> None:
        """The first README command installs the packages and runs examples/demo.toml."""
        readme = (REPO / "README.md").read_text()
        first = re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL)[0]
        assert "deadbeat run examples/demo.toml --once" in first
        for path in re.findall(r"\./(deadbeat-[\w-]+)", first):
            assert (REPO / path / "pyproject.toml").exists()


def _literal_blocks(text: str) -> list[tuple[int, str]]:
    """The literal blocks of a reST text (``::`` paragraphs and ``code-block`` directives), dedented, with lines."""
    lines = text.splitlines()
    found = []
    index = 0
    while index < len(lines):
        line = lines[index].rstrip()
        directive = line.lstrip().startswith(".. ")
        opens = line.lstrip().startswith(".. code-block::") if directive else line.endswith("::")
        index += 1
        if not opens:
            continue
        start = index
        while start < len(lines) and (not lines[start].strip() or lines[start].lstrip().startswith(":")):
            start += 1  # blank lines and the directive's options
        if start >= len(lines) or not lines[start][:1].isspace():
            continue
        indent = len(lines[start]) - len(lines[start].lstrip())
        end = start
        while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) >= indent):
            end += 1
        found.append((start + 1, textwrap.dedent("\n".join(lines[start:end]))))
        index = end
    return found


class TestPipelineSnippets:
    def test_every_pipeline_in_the_docs_loads(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each TOML block of the docs with a [[cog]] is a pipeline `deadbeat run` accepts: known cogs, known
        parameters of the right kinds (a password parameter http.post does not have was in one)."""
        from deadbeat import pipeline

        monkeypatch.setenv("LOG_DIR", str(tmp_path / "logs"))
        monkeypatch.setenv("STATE_DIR", str(tmp_path / "state"))
        problems = []
        checked = 0
        for page in sorted([*DOCS.glob("*.rst"), *DOCS.glob("cogs/*.rst")]):
            for line, block in _literal_blocks(page.read_text()):
                if "[[cog]]" not in block or "# required" in block:
                    continue  # not a pipeline, or an insert to fill in (its required lines commented out)
                where = f"{page.relative_to(REPO)}:{line}"
                try:
                    tomllib.loads(block)
                except tomllib.TOMLDecodeError as exc:
                    problems.append(f"{where}: not TOML: {exc}")
                    continue
                path = tmp_path / "pipeline.toml"
                # Secrets from files are the one thing a snippet cannot bring along.
                path.write_text(re.sub(r"\$\{file:[^}]*\}", "secret", block))
                try:
                    pipeline.load(str(path))
                except pipeline.PipelineError as exc:
                    problems += [f"{where}: {problem}" for problem in exc.problems]
                checked += 1
        assert checked > 20
        assert not problems, "\n".join(problems)
