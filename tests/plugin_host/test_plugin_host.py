"""The plugin host beside real broken plugins, and a cog distribution made by ``deadbeat new-cog``.

Everything here is installed for real: wheels are built from this checkout (the
core, deadbeat-cogs-fs and deadbeat-cogs-text, with the manifests their build
hook writes), from eight broken distributions written below (one per way a
plugin goes wrong), and from a project ``deadbeat new-cog`` generates. A fresh
virtual environment gets the core and the generated cog; the real and broken
cog distributions go into a target directory put on ``PYTHONPATH`` for the
tests that want them, so the generated project's own tests run without them.
The shared development environment is never touched.

One environment for the module: it costs about half a minute to make (most of
it pip installing the core's dependencies), so these tests carry the ``venv``
mark (``-m 'not venv'`` leaves them out).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.venv

# Written first thing by every broken module that gets to run: the listing tests
# check that none of these files exists, i.e. that nothing was imported.
MARK = (
    "import os as _os\n"
    "if _os.environ.get('DEADBEAT_TEST_MARKERS'):\n"
    "    open(_os.path.join(_os.environ['DEADBEAT_TEST_MARKERS'], __name__), 'w').close()\n"
)

GOOD = '''
class Cog:
    """A cog that works; its distribution does not."""

    def __call__(self, data):
        return (data,)
'''

#: distribution -> (entry points, module name -> code, dependencies, extras)
BROKEN: dict[str, tuple[dict[str, str], dict[str, str], list[str], dict[str, list[str]]]] = {
    "deadbeat-bad-import": (
        {"bad.import": "bad_import:Cog"},
        {"bad_import": MARK + "from json import no_such_name\n"},
        [],
        {},
    ),
    "deadbeat-bad-syntax": ({"bad.syntax": "bad_syntax:Cog"}, {"bad_syntax": "def broken(:\n    pass\n"}, [], {}),
    "deadbeat-bad-missing": (
        {
            "missing.dep": "bad_missing:Cog",
            "missing.extra": "bad_missing_fancy:Cog [fancy]",
            "missing.other": "bad_missing_other:Cog [fancy]",
        },
        {
            "bad_missing": MARK + "import notinstalled_lib_xyz\n" + GOOD,
            "bad_missing_fancy": MARK + "import fancylib_xyz\n" + GOOD,
            # Its extra is missing too, but what its import lacks is something else: no extra to advise.
            "bad_missing_other": MARK + "import unrelated_module_xyz\n" + GOOD,
        },
        ["notinstalled-lib-xyz>=1"],
        {"fancy": ["fancylib-xyz>=1"]},
    ),
    "deadbeat-bad-attribute": ({"bad.attribute": "bad_attribute:NoSuchCog"}, {"bad_attribute": MARK + GOOD}, [], {}),
    "deadbeat-evil-fs": ({"fs.read": "evil_fs:Cog"}, {"evil_fs": MARK + GOOD}, [], {}),
    "deadbeat-slow": ({"slow.cog": "slow_cog:Cog"}, {"slow_cog": MARK + "import time\ntime.sleep(2)\n" + GOOD}, [], {}),
    "deadbeat-not-a-cog": (
        {"not.cog": "not_a_cog:Thing"},
        {"not_a_cog": MARK + '"""Forty-two."""\nThing = 42\n'},
        [],
        {},
    ),
    "deadbeat-future": ({"future.cog": "future_cog:Cog"}, {"future_cog": MARK + GOOD}, ["deadbeat-core>=99"], {}),
}


def write_distribution(
    root: Path,
    name: str,
    entry_points: dict[str, str],
    modules: dict[str, str],
    dependencies: list[str],
    extras: dict[str, list[str]],
) -> Path:
    """Write a real distribution's source tree (pyproject, modules) to build a wheel from."""
    directory = root / name
    (directory / "src").mkdir(parents=True)
    for module, code in modules.items():
        (directory / "src" / f"{module}.py").write_text(code)
    lines = [
        "[build-system]",
        'requires = ["hatchling>=1.18"]',
        'build-backend = "hatchling.build"',
        "[project]",
        f'name = "{name}"',
        'version = "1.0"',
        f"dependencies = {json.dumps(['deadbeat-core', *dependencies])}",
        "[project.optional-dependencies]",
        *(f"{extra} = {json.dumps(requirements)}" for extra, requirements in extras.items()),
        '[project.entry-points."deadbeat.cogs"]',
        *(f'"{cog}" = "{value}"' for cog, value in entry_points.items()),
        "[tool.hatch.build.targets.wheel]",
        f"only-include = {json.dumps([f'src/{m}.py' for m in modules])}",
        'sources = ["src"]',
    ]
    (directory / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return directory


def run(*command: str | Path, env: dict[str, str] | None = None, cwd: Path = REPO, timeout: float = 300) -> Any:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def checked(*command: str | Path, cwd: Path = REPO) -> None:
    result = run(*command, cwd=cwd)
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"


@dataclass
class Host:
    python: Path
    target: Path
    markers: Path
    project: Path
    work: Path

    def env(self, plugins: bool = True) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DEADBEAT_", "PYTHON"))}
        env["DEADBEAT_TEST_MARKERS"] = str(self.markers)
        if plugins:
            env["PYTHONPATH"] = str(self.target)
        return env

    def deadbeat(self, *args: str, plugins: bool = True, cwd: Path | None = None) -> Any:
        return run(self.python, "-m", "deadbeat.command", *args, env=self.env(plugins), cwd=cwd or self.work)

    def cogs(self, *args: str) -> dict[str, list[dict[str, Any]]]:
        result = self.deadbeat("cogs", "--json", *args)
        assert result.returncode == 0, result.stderr
        found: dict[str, list[dict[str, Any]]] = {}
        for cog in json.loads(result.stdout):
            found.setdefault(cog["name"], []).append(cog)
        return found

    def imported(self) -> list[str]:
        return sorted(p.name for p in self.markers.iterdir())

    def pipeline(self, body: str) -> Path:
        path = self.work / "pipeline.toml"
        path.write_text(textwrap.dedent(body))
        return path


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Host:
    root = tmp_path_factory.mktemp("host")
    work = root / "work"
    work.mkdir()
    sources = root / "sources"
    broken = [write_distribution(sources, name, *spec) for name, spec in BROKEN.items()]
    made = run(
        sys.executable, "-m", "deadbeat.command", "new-cog", "geo_demo", "--directory", root / "deadbeat-geo-demo"
    )
    assert made.returncode == 0, made.stderr
    project = root / "deadbeat-geo-demo"
    wheels = root / "wheels"
    # One pip run builds every wheel; without build isolation when this environment has hatchling (faster, offline).
    isolation: list[str] = []
    try:
        import hatchling  # noqa: F401

        isolation = ["--no-build-isolation"]
    except ImportError:
        pass
    first_party = [REPO / "deadbeat-core", REPO / "deadbeat-cogs-fs", REPO / "deadbeat-cogs-text"]
    checked(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        *isolation,
        "-w",
        wheels,
        *first_party,
        *broken,
        project,
    )
    venv = root / "venv"
    checked(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    (core,) = wheels.glob("deadbeat_core-*.whl")
    checked(python, "-m", "pip", "install", "-q", core, "pytest", "hypothesis")
    (generated,) = wheels.glob("deadbeat_geo_demo-*.whl")
    checked(python, "-m", "pip", "install", "-q", "--no-deps", generated)
    target = root / "plugins"
    others = [w for w in wheels.glob("*.whl") if w not in (core, generated)]
    checked(python, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target", target, *others)
    markers = root / "markers"
    markers.mkdir()
    return Host(python, target, markers, project, work)


@pytest.fixture
def clean_markers(host: Host) -> Host:
    for marker in host.markers.iterdir():
        marker.unlink()
    return host


class TestListing:
    def test_listing_imports_no_plugin(self, clean_markers: Host) -> None:
        """`deadbeat cogs --json` lists every cog, broken and slow ones included, and imports none of them."""
        host = clean_markers
        cogs = host.cogs()
        assert host.imported() == []
        for name in ("bad.import", "bad.syntax", "missing.dep", "bad.attribute", "slow.cog", "not.cog"):
            assert [c["status"] for c in cogs[name]] == ["available"], cogs[name]
        assert [c["status"] for c in cogs["future.cog"]] == ["incompatible"]
        assert "needs deadbeat-core>=99" in cogs["future.cog"][0]["error"]
        assert cogs["missing.extra"][0]["hint"] == "pip install 'deadbeat-bad-missing[fancy]'"

    def test_summaries_come_from_the_manifests_the_builds_wrote(self, clean_markers: Host) -> None:
        """The first-party wheels and the generated project carry manifests: summaries without importing."""
        cogs = clean_markers.cogs()
        (ours,) = [c for c in cogs["fs.read"] if c["distribution"] == "deadbeat-cogs-fs"]
        assert ours["summary"] == "Read files once, from start to end, one datum per line, then stop."
        assert cogs["text.json_parse"][0]["summary"] == "Parse JSON text: the parsed object becomes the datum."
        assert cogs["geo_demo.tag"][0]["summary"] == "Write a fixed value into a field of each datum."
        assert "deadbeat.fs" not in clean_markers.imported()

    def test_a_duplicate_name_is_listed_twice(self, host: Host) -> None:
        """Both offers of fs.read are listed, each with its qualified name and the other named; the plain
        name stays Deadbeat's own (its prefix is deadbeat-cogs-fs's), the other is the duplicate."""
        offers = {c["distribution"]: c for c in host.cogs()["fs.read"]}
        assert set(offers) == {"deadbeat-cogs-fs", "deadbeat-evil-fs"}
        assert offers["deadbeat-cogs-fs"]["status"] == "available"
        assert offers["deadbeat-evil-fs"]["status"] == "duplicate"
        assert "write 'deadbeat-evil-fs/fs.read' to use this one" in offers["deadbeat-evil-fs"]["error"]
        assert "deadbeat-cogs-fs" in offers["deadbeat-evil-fs"]["error"]

    def test_check_reports_each_kind_of_breakage(self, clean_markers: Host) -> None:
        """--check imports every cog: each broken one with its reason and, where it helps, what to install."""
        cogs = {name: offers[0] for name, offers in clean_markers.cogs("--check").items()}
        assert cogs["bad.import"]["status"] == "broken"
        assert cogs["bad.import"]["error"].startswith("ImportError: cannot import name 'no_such_name'")
        assert cogs["bad.syntax"]["status"] == "broken" and cogs["bad.syntax"]["error"].startswith("SyntaxError")
        assert cogs["missing.dep"]["error"] == "ModuleNotFoundError: No module named 'notinstalled_lib_xyz'"
        assert cogs["missing.dep"]["hint"] == (
            "deadbeat-bad-missing needs notinstalled-lib-xyz, which is not installed: pip install notinstalled-lib-xyz"
        )
        assert cogs["missing.extra"]["hint"] == "pip install 'deadbeat-bad-missing[fancy]'"
        assert "unrelated_module_xyz" in cogs["missing.other"]["error"]
        assert not cogs["missing.other"]["hint"]
        assert cogs["bad.attribute"]["status"] == "broken"
        assert cogs["bad.attribute"]["error"].startswith("AttributeError")
        assert cogs["not.cog"]["status"] == "not a cog"
        assert cogs["not.cog"]["error"] == "the entry point names 42, an int, not a class or function"
        assert cogs["not.cog"]["summary"] == ""
        assert cogs["slow.cog"]["status"] == "loaded"
        assert cogs["future.cog"]["status"] == "incompatible"
        assert "future_cog" not in clean_markers.imported()

    def test_strict_listing_fails_naming_every_failure(self, host: Host) -> None:
        """`cogs --strict` exits 1 and names each cog that cannot be used; not allowed ones are no failure."""
        result = host.deadbeat("cogs", "--strict")
        assert result.returncode == 1
        for name in ("bad.import", "bad.syntax", "missing.dep", "bad.attribute", "not.cog", "future.cog", "fs.read"):
            assert f"cog {name!r}" in result.stderr, (name, result.stderr)
        assert "slow.cog" not in result.stderr
        allowed = host.deadbeat("cogs", "--strict", "--allow", "text.*", "--allow", "slow.*")
        assert allowed.returncode == 0, allowed.stderr
        assert "not allowed" in allowed.stdout

    def test_show_suggests_and_hints(self, host: Host) -> None:
        """`cogs show` suggests the nearest name, and names the distribution of a first-party cog not installed."""
        typo = host.deadbeat("cogs", "show", "text.json_pars")
        assert typo.returncode == 1 and "did you mean 'text.json_parse'?" in typo.stderr
        # fs.read is offered twice here; a misspelling of it is still nearest to it.
        duplicate = host.deadbeat("cogs", "show", "fs.raed")
        assert duplicate.returncode == 1 and "did you mean 'fs.read'?" in duplicate.stderr
        # And in a pipeline file, where the suggestion left out plain names offered twice ('fs.write' came).
        path = host.pipeline('[[cog]]\nuse = "fs.raed"\nfilenames = ["x"]\n')
        in_pipeline = host.deadbeat("check", str(path))
        assert in_pipeline.returncode == 1 and "no such cog; did you mean 'fs.read'?" in in_pipeline.stdout
        missing = host.deadbeat("cogs", "show", "ip.anonymise")
        assert missing.returncode == 1
        assert "it comes with deadbeat-cogs-ip, which is not installed: pip install deadbeat-cogs-ip" in missing.stderr
        qualified = host.deadbeat("cogs", "show", "deadbeat-cogs-fs/fs.read")
        assert qualified.returncode == 0, qualified.stderr
        assert "Also offered by deadbeat-evil-fs/fs.read" in qualified.stdout
        assert 'use = "fs.read"' in qualified.stdout
        other = host.deadbeat("cogs", "show", "deadbeat-evil-fs/fs.read")
        assert other.returncode == 0, other.stderr
        assert 'use = "deadbeat-evil-fs/fs.read"' in other.stdout


class TestPipelines:
    def healthy(self, host: Host, use: str = "deadbeat-cogs-fs/fs.read") -> Path:
        source = host.work / "in.jsonl"
        source.write_text('{"id": 1}\n{"id": 2}\n')
        return host.pipeline(
            f"""
            [[cog]]
            use = "{use}"
            filenames = ["{source}"]
            [[cog]]
            use = "text.json_parse"
            [[cog]]
            use = "geo_demo.tag"
            value = "seen"
            [[cog]]
            use = "text.json_format"
            [[cog]]
            use = "fs.write"
            """
        )

    def test_a_healthy_pipeline_runs_strict_beside_broken_plugins(self, clean_markers: Host) -> None:
        """run --strict imports only the cogs its pipeline uses and runs; the broken ones play no part."""
        host = clean_markers
        result = host.deadbeat("run", str(self.healthy(host)), "--once", "--quiet", "--strict")
        assert result.returncode == 0, result.stderr
        assert [json.loads(line) for line in result.stdout.splitlines()] == [
            {"id": 1, "tag": "seen"},
            {"id": 2, "tag": "seen"},
        ]
        assert host.imported() == []

    def test_a_first_party_name_offered_twice_means_deadbeats_own(self, clean_markers: Host) -> None:
        """use = "fs.read" with a second offer installed: it was refused, so one package installed beside
        stopped every file pipeline; now the plain name means deadbeat-cogs-fs's, the run says who else offers
        it, and the other is never imported (nor can it take the name over)."""
        host = clean_markers
        for strict in ((), ("--strict",)):
            result = host.deadbeat("run", str(self.healthy(host, use="fs.read")), "--once", "--quiet", *strict)
            assert result.returncode == 0, result.stderr
            assert [json.loads(line) for line in result.stdout.splitlines()] == [
                {"id": 1, "tag": "seen"},
                {"id": 2, "tag": "seen"},
            ]
            assert (
                "cog 'fs.read' is also offered by deadbeat-evil-fs 1.0 ('deadbeat-evil-fs/fs.read'); the plain name"
                " means Deadbeat's own, from deadbeat-cogs-fs"
            ) in result.stderr
        assert host.imported() == []

    def test_the_allow_list_governs_module_attribute_cogs(self, host: Host) -> None:
        """--allow applies to a pipeline's module:attribute cogs too: refused before import unless a pattern matches."""
        (host.work / "my_cogs.py").write_text("def tag(data):\n    return (data,)\n")
        source = host.work / "in.txt"
        source.write_text("a\n")
        path = host.pipeline(
            f"""
            [[cog]]
            use = "deadbeat-cogs-fs/fs.read"
            filenames = ["{source}"]
            [[cog]]
            use = "my_cogs:tag"
            [[cog]]
            use = "fs.write"
            """
        )
        refused = host.deadbeat("run", str(path), "--once", "--quiet", "--allow", "deadbeat-cogs-fs")
        assert refused.returncode == 1
        assert "cog[1] (my_cogs:tag): not in the allow-list" in refused.stderr
        allowed = host.deadbeat(
            "run", str(path), "--once", "--quiet", "--allow", "deadbeat-cogs-fs", "--allow", "my_cogs:*"
        )
        assert allowed.returncode == 0, allowed.stderr
        assert allowed.stdout == "a\n"

    @pytest.mark.parametrize(
        ("use", "message"),
        [
            ("bad.import", "cog 'bad.import' from deadbeat-bad-import 1.0 is broken: ImportError: cannot import name"),
            ("missing.dep", "is broken: ModuleNotFoundError: No module named 'notinstalled_lib_xyz'; deadbeat-bad"),
            ("not.cog", "cog 'not.cog' from deadbeat-not-a-cog 1.0 is not a cog: the entry point names 42"),
            ("future.cog", "cog 'future.cog' from deadbeat-future 1.0 is incompatible: needs deadbeat-core>=99"),
            ("ip.anonymise", "it comes with deadbeat-cogs-ip, which is not installed: pip install deadbeat-cogs-ip"),
        ],
    )
    def test_a_pipeline_using_a_broken_cog_says_why(self, host: Host, use: str, message: str) -> None:
        """A pipeline naming a cog that cannot be used fails before starting, with the reason, no traceback."""
        path = host.pipeline(f'[[cog]]\nuse = "{use}"\n')
        result = host.deadbeat("run", str(path), "--once")
        assert result.returncode == 1
        assert f"{path}: cog[0] ({use}): " in result.stderr
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


class TestNewCog:
    def test_the_generated_distribution_passes_its_own_tests(self, host: Host) -> None:
        """deadbeat new-cog's project, installed from its wheel in a fresh venv, passes its tests unchanged."""
        result = run(
            host.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", env=host.env(False), cwd=host.project
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert " passed" in result.stdout

    def test_the_generated_cog_is_listed_in_the_clean_venv(self, host: Host) -> None:
        """Without any other plugin, the new cog is listed with its summary and pinned to this core."""
        result = host.deadbeat("cogs", "--json", plugins=False)
        assert result.returncode == 0, result.stderr
        (cog,) = json.loads(result.stdout)
        assert (cog["name"], cog["distribution"], cog["status"]) == ("geo_demo.tag", "deadbeat-geo-demo", "available")
        from deadbeat.command._new_cog import core_pin
        from deadbeat.plugins import core_version

        pin = core_pin(core_version())
        assert f'dependencies = ["deadbeat-core{pin}"]' in (host.project / "pyproject.toml").read_text()

    def test_the_generated_readme_links_to_the_projects_documentation(self, host: Host) -> None:
        """The README new-cog writes pointed at example.invalid: its links are the core's own project URLs."""
        import re
        from importlib.metadata import metadata

        urls = {entry.split(", ", 1)[1] for entry in metadata("deadbeat-core").get_all("Project-URL") or []}
        links = re.findall(r"\]\((https?://[^)]+)\)", (host.project / "README.md").read_text())
        assert links and set(links) <= urls, (links, urls)
