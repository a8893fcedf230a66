"""Plugin discovery: metadata read without importing, failures reported, the rest goes on."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from deadbeat import plugins
from deadbeat.plugins import _manifest, _registry

MakeDist = Callable[..., Path]

GOOD_COG = '''
from deadbeat import movement

class Shout(movement.Cog):
    """Append an exclamation mark."""

    def __call__(self, data):
        return (data + "!",)
'''


def add_manifest(site: Path, name: str, version: str, cogs: dict[str, dict[str, str]]) -> None:
    """Write the manifest a build hook would have written into a dist-info made by make_dist."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info" / "extra_metadata"
    info.mkdir(parents=True, exist_ok=True)
    (info / _manifest.MANIFEST).write_text(json.dumps({"format": 1, "cogs": cogs}))


class TestDiscovery:
    def test_discovery_imports_nothing(self) -> None:
        """Listing entry points leaves every cog module unimported, broken ones included."""
        sys.modules.pop("deadbeat_broken_fixture", None)
        entries = plugins.CogRegistry().discover()
        names = {e.name for e in entries}
        assert {"broken.explode", "example.upper", "example.delay"} <= names
        assert "deadbeat_broken_fixture" not in sys.modules
        assert all(e.status == "available" for e in entries)

    def test_summary_comes_from_the_manifest(self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch) -> None:
        """A distribution's manifest gives the summary without importing its module."""
        site = make_dist("deadbeat-shout", {"shout.loud": "shout_mod:Shout"}, "shout_mod", GOOD_COG)
        add_manifest(site, "deadbeat-shout", "1.0", {"shout.loud": {"value": "shout_mod:Shout", "summary": "Shout."}})
        monkeypatch.syspath_prepend(str(site))
        entry = plugins.CogRegistry().entry("shout.loud")
        assert (entry.status, entry.summary, entry.described) == ("available", "Shout.", True)
        assert "shout_mod" not in sys.modules

    def test_a_stale_manifest_is_not_believed(self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch) -> None:
        """A manifest made for another module:attribute says nothing; importing gives the summary."""
        site = make_dist("deadbeat-shout", {"shout.loud": "shout_mod:Shout"}, "shout_mod", GOOD_COG)
        add_manifest(site, "deadbeat-shout", "1.0", {"shout.loud": {"value": "old_mod:Old", "summary": "Old."}})
        monkeypatch.syspath_prepend(str(site))
        registry = plugins.CogRegistry()
        assert registry.entry("shout.loud").summary == ""
        registry.load("shout.loud")
        assert registry.entry("shout.loud").summary == "Append an exclamation mark."

    def test_check_tells_what_a_cog_that_imports_its_library_late_lacks(
        self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A cog importing its client only when built loads without it: --check shows what it says is missing."""
        needy = GOOD_COG + (
            "\n    @staticmethod\n"
            "    def missing_requirements(params):\n"
            "        return ['needs pyfoo, which is not installed: pip install \\'deadbeat-needy[foo]\\'']\n"
        )
        site = make_dist("deadbeat-needy", {"needy.call": "needy_mod:Shout"}, "needy_mod", needy)
        monkeypatch.syspath_prepend(str(site))
        entry = {e.name: e for e in plugins.CogRegistry().load_all()}["needy.call"]
        assert entry.status == "loaded"
        assert entry.hint == "needs pyfoo, which is not installed: pip install 'deadbeat-needy[foo]'"

    def test_broken_cog_is_reported_and_others_load(self) -> None:
        """A cog raising on import is 'broken' with the reason; the rest load."""
        entries = {e.name: e for e in plugins.CogRegistry().load_all()}
        broken = entries["broken.explode"]
        assert broken.status == "broken"
        assert broken.distribution == "deadbeat-broken-fixture" and broken.version == "0.0.1"
        assert broken.error == "RuntimeError: deadbeat-broken-fixture fails on import on purpose"
        assert "Traceback" in (broken.details or "")
        assert entries["example.upper"].status == "loaded"
        assert entries["example.upper"].summary == "Upper-case the text in one field."

    def test_a_plugin_raising_keyboard_interrupt_is_broken_not_ctrl_c(
        self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`cogs --check` printed only "interrupted" (exit 130) naming no plugin; a real Ctrl-C still interrupts."""
        site = make_dist("deadbeat-kbi", {"kbi.tag": "kbi_mod:Shout"}, "kbi_mod", "raise KeyboardInterrupt\n")
        monkeypatch.syspath_prepend(str(site))
        entry = {e.name: e for e in plugins.CogRegistry().load_all()}["kbi.tag"]
        assert entry.status == "broken" and entry.error.startswith("KeyboardInterrupt")
        sys.modules.pop("kbi_mod", None)
        ctrl_c = make_dist(
            "deadbeat-slow",
            {"slow.tag": "slow_mod:Shout"},
            "slow_mod",
            "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n",
        )
        monkeypatch.syspath_prepend(str(ctrl_c))
        with pytest.raises(KeyboardInterrupt):
            plugins.CogRegistry().load("slow.tag")

    def test_a_name_with_a_colon_is_broken(self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch) -> None:
        """use = "odd.a:b" is read as module:attribute: no pipeline could use such a cog, so it is not 'available'."""
        site = make_dist("deadbeat-odd", {"odd.a:b": "odd_mod:Shout"}, "odd_mod", GOOD_COG)
        monkeypatch.syspath_prepend(str(site))
        entry = {e.name: e for e in plugins.CogRegistry().load_all()}["odd.a:b"]
        assert entry.status == "broken" and "cannot contain ':'" in entry.error

    def test_loading_a_broken_cog_names_it(self) -> None:
        """Asking for a broken cog raises with name, distribution, version and reason."""
        with pytest.raises(plugins.CogLoadError) as err:
            plugins.CogRegistry().load("broken.explode")
        assert str(err.value) == (
            "cog 'broken.explode' from deadbeat-broken-fixture 0.0.1 is broken: "
            "RuntimeError: deadbeat-broken-fixture fails on import on purpose"
        )

    def test_unknown_name(self) -> None:
        """A name nobody offers is a KeyError, and the nearest known name is suggested."""
        registry = plugins.CogRegistry()
        with pytest.raises(KeyError):
            registry.load("no.such.cog")
        assert registry.suggest("example.uper") == "example.upper"

    def test_third_party_cog_loads(self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch) -> None:
        """A distribution found on sys.path offers its cog by entry-point name."""
        site = make_dist("deadbeat-shout", {"shout.loud": "shout_mod:Shout"}, "shout_mod", GOOD_COG)
        monkeypatch.syspath_prepend(str(site))
        cog = plugins.CogRegistry().load("shout.loud")()
        assert cog("hi") == ("hi!",)


class TestNotACog:
    @pytest.mark.parametrize(
        ("code", "reason"),
        [
            ("Thing = 42\n", "the entry point names 42, an int, not a class or function"),
            ("import json as Thing\n", "the entry point names the module json"),
            ("class Thing:\n    pass\n", "instances of Thing cannot be called with a datum"),
            ("def Thing(*parts):\n    return parts\n", "Thing takes *parts, which a pipeline file cannot give"),
        ],
    )
    def test_objects_that_cannot_be_cogs(
        self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch, code: str, reason: str
    ) -> None:
        """An entry point naming something no pipeline could use is 'not a cog' with the reason, never 'loaded'."""
        site = make_dist("deadbeat-odd", {"odd.thing": "odd_mod:Thing"}, "odd_mod", code)
        monkeypatch.syspath_prepend(str(site))
        sys.modules.pop("odd_mod", None)
        registry = plugins.CogRegistry()
        (entry,) = [e for e in registry.load_all() if e.name == "odd.thing"]
        assert entry.status == "not a cog"
        assert reason in (entry.error or "")
        assert entry.summary == ""
        with pytest.raises(plugins.CogLoadError, match="is not a cog"):
            registry.load("odd.thing")

    def test_every_installed_cog_is_a_cog(self) -> None:
        """None of the cogs installed here (ours and the example) is mistaken for something else."""
        entries = plugins.CogRegistry().load_all()
        assert [e.name for e in entries if e.status == "not a cog"] == []


class TestConflicts:
    def test_duplicate_names_are_both_listed_and_each_qualified_name_works(
        self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Two distributions offering one name: both listed, the plain name refused naming both, each usable."""
        site = make_dist("deadbeat-copycat", {"example.upper": "shout_mod:Shout"}, "shout_mod", GOOD_COG)
        monkeypatch.syspath_prepend(str(site))
        registry = plugins.CogRegistry()
        dupes = [e for e in registry.discover() if e.name == "example.upper"]
        assert [e.distribution for e in dupes] == ["deadbeat-copycat", "deadbeat-example-upper"]
        assert {e.status for e in dupes} == {"duplicate"}
        assert "deadbeat-example-upper 1.0.0 ('deadbeat-example-upper/example.upper')" in (dupes[0].error or "")
        with pytest.raises(plugins.CogLoadError) as err:
            registry.load("example.upper")
        assert "'deadbeat-copycat/example.upper'" in str(err.value)
        assert "'deadbeat-example-upper/example.upper'" in str(err.value)
        assert registry.load("deadbeat-copycat/example.upper")()("a") == ("a!",)
        assert registry.load("Deadbeat_Example_Upper/example.upper").__name__ == "Upper"
        assert registry.load("example.delay") is not None
        assert "deadbeat-copycat/example.upper" in registry.names()

    def test_a_first_party_name_means_the_first_party_offer(
        self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Another distribution offering text.json_parse neither takes it over nor makes it unusable: the
        plain name means deadbeat-cogs-text's (strict too: a rule, not a guess); the other is a duplicate,
        usable by its qualified name."""
        site = make_dist("deadbeat-copycat", {"text.json_parse": "shout_mod:Shout"}, "shout_mod", GOOD_COG)
        monkeypatch.syspath_prepend(str(site))
        for registry in (plugins.CogRegistry(), plugins.CogRegistry(strict=True, scope="used")):
            offers = {e.distribution: e for e in registry.discover() if e.name == "text.json_parse"}
            assert offers["deadbeat-cogs-text"].status == "available"
            assert offers["deadbeat-copycat"].status == "duplicate"
            assert registry.load("text.json_parse").__module__.startswith("deadbeat.text")
            assert registry.load("deadbeat-copycat/text.json_parse").__name__ == "Shout"
            assert "text.json_parse" in registry.names()
        said = [r.getMessage() for r in caplog.records if "also offered by" in r.getMessage()]
        assert said and "the plain name means Deadbeat's own, from deadbeat-cogs-text" in said[0]
        assert "deadbeat-copycat 1.0 ('deadbeat-copycat/text.json_parse')" in said[0]

    def test_a_first_party_name_beside_an_unusable_offer_is_no_guess_in_strict_mode(
        self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Strict mode refused text.json_parse when the other offer could not be used at all ("takes no guess"),
        though it chose Deadbeat's own beside a working one: the ownership rule holds either way."""
        site = make_dist(
            "deadbeat-copycat",
            {"text.json_parse": "shout_mod:Shout"},
            "shout_mod",
            GOOD_COG,
            requires=("deadbeat-core>=99",),
        )
        monkeypatch.syspath_prepend(str(site))
        loaded = plugins.CogRegistry(strict=True, scope="used").load("text.json_parse")
        assert loaded.__module__.startswith("deadbeat.text")

    def test_the_one_usable_offer_takes_the_plain_name(
        self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When the other offer cannot be used at all (another core), the plain name means the usable one."""
        site = make_dist(
            "deadbeat-future",
            {"example.upper": "shout_mod:Shout"},
            "shout_mod",
            GOOD_COG,
            requires=("deadbeat-core>=99",),
        )
        monkeypatch.syspath_prepend(str(site))
        assert plugins.CogRegistry().load("example.upper").__name__ == "Upper"
        with pytest.raises(plugins.CogLoadError, match="strict mode takes no guess"):
            plugins.CogRegistry(strict=True, scope="used").load("example.upper")

    def test_cog_needing_another_core_is_incompatible(
        self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A distribution requiring a core version we are not is reported, not imported."""
        site = make_dist(
            "deadbeat-future", {"future.cog": "shout_mod:Shout"}, "shout_mod", GOOD_COG, requires=("deadbeat-core>=99",)
        )
        monkeypatch.syspath_prepend(str(site))
        entry = plugins.CogRegistry().entry("future.cog")
        assert entry.status == "incompatible"
        assert entry.error == f"needs deadbeat-core>=99, but {plugins.core_version()} is installed"

    def test_allow_list_limits_loading(self) -> None:
        """Outside the allow-list a cog is listed as 'not allowed' and cannot load."""
        registry = plugins.CogRegistry(allow=["example.up*", "deadbeat-broken-*"])
        statuses = {e.name: e.status for e in registry.discover()}
        assert statuses["example.upper"] == "available"
        assert statuses["broken.explode"] == "available"
        assert statuses["example.delay"] == "not allowed"
        with pytest.raises(plugins.CogLoadError, match="not allowed"):
            registry.load("example.delay")


class TestStrict:
    def test_strict_mode_names_every_failure_after_checking_all(self) -> None:
        """Strict about all: every cog is imported, then the error names each one that cannot be used."""
        registry = plugins.CogRegistry(strict=True)
        with pytest.raises(plugins.CogLoadError, match="broken.explode"):
            registry.load_all()
        assert registry.entry("example.upper").status == "loaded"

    def test_not_allowed_is_no_failure(self) -> None:
        """A cog left out by the allow-list is a choice: strict mode does not fail on it."""
        registry = plugins.CogRegistry(allow=["example.*"], strict=True)
        entries = registry.load_all()
        assert {e.status for e in entries if e.name == "broken.explode"} == {"not allowed"}

    def test_strict_about_used_cogs_checks_nothing_else(self) -> None:
        """A registry strict about the cogs used lets a pipeline skip the check of all, and loads good cogs."""
        registry = plugins.CogRegistry(strict=True, scope="used")
        assert registry.strict is False and registry.strict_use is True
        assert registry.load("example.upper").__name__ == "Upper"
        with pytest.raises(plugins.CogLoadError, match="broken"):
            registry.load("broken.explode")


class TestHints:
    def test_first_party_name_names_its_distribution(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A name of a first-party distribution that is not installed says what to install."""
        monkeypatch.setitem(_registry.FIRST_PARTY, "geo", "deadbeat-cogs-geo-not-installed")
        with pytest.raises(plugins.CogNotInstalled) as err:
            plugins.CogRegistry().load("geo.lookup")
        assert str(err.value) == (
            "no cog named 'geo.lookup': it comes with deadbeat-cogs-geo-not-installed, which is not installed:"
            " pip install deadbeat-cogs-geo-not-installed"
        )

    def test_installed_first_party_typo_is_unknown(self) -> None:
        """A typo in a name of an installed first-party distribution is unknown (did-you-mean), not 'install'."""
        with pytest.raises(KeyError):
            plugins.CogRegistry().load("fs.reed")

    def test_missing_library_names_the_extra(self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch) -> None:
        """A cog whose import misses a library of one of its distribution's extras says which extra to install."""
        code = "import fancylib_not_here\n" + GOOD_COG
        site = make_dist(
            "deadbeat-fancy",
            {"fancy.cog": "fancy_mod:Shout"},
            "fancy_mod",
            code,
            requires=("deadbeat-core", 'fancylib-not-here>=1; extra == "fancy"'),
        )
        monkeypatch.syspath_prepend(str(site))
        with pytest.raises(plugins.CogLoadError) as err:
            plugins.CogRegistry().load("fancy.cog")
        assert str(err.value).endswith("; pip install 'deadbeat-fancy[fancy]'")

    def test_entry_point_extras_are_checked_without_importing(
        self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An entry point naming an extra whose libraries are missing carries the hint in the listing."""
        site = make_dist(
            "deadbeat-fancy",
            {"fancy.cog": "fancy_mod:Shout [fancy]"},
            "fancy_mod",
            GOOD_COG,
            requires=("deadbeat-core", 'fancylib-not-here>=1; extra == "fancy"'),
        )
        monkeypatch.syspath_prepend(str(site))
        entry = plugins.CogRegistry().entry("fancy.cog")
        assert entry.status == "available" and entry.hint == "pip install 'deadbeat-fancy[fancy]'"
        assert "fancy_mod" not in sys.modules


class TestManifest:
    def test_summaries_are_read_from_source_through_re_exports(self, tmp_path: Path) -> None:
        """The build reads docstrings with ast, following re-exports and aliases, running nothing."""
        package = tmp_path / "src" / "deadbeat_pkg"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(
            "raise SystemExit('never run')\nfrom ._impl import Real as Public\nAlias = Public\n"
        )
        (package / "_impl.py").write_text('class Real:\n    """First line.\n\n    More.\n    """\n')
        (package / "plain.py").write_text('def cog(data):\n    """A plain cog."""\n')
        manifest = _manifest.build_manifest(
            {"a.public": "deadbeat_pkg:Public", "a.alias": "deadbeat_pkg:Alias", "a.plain": "deadbeat_pkg.plain:cog"},
            [str(tmp_path / "src")],
        )
        assert manifest == {
            "format": 1,
            "cogs": {
                "a.alias": {"value": "deadbeat_pkg:Alias", "summary": "First line."},
                "a.plain": {"value": "deadbeat_pkg.plain:cog", "summary": "A plain cog."},
                "a.public": {"value": "deadbeat_pkg:Public", "summary": "First line."},
            },
        }

    @given(
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters='"\\'),
            min_size=1,
            max_size=60,
        ).filter(lambda s: s.strip())
    )
    def test_source_summary_is_the_docstring_first_line(self, line: str) -> None:
        """For any summary line, what the build reads from source is what importing gives."""
        import tempfile

        with tempfile.TemporaryDirectory() as directory:
            code = f'class Cog:\n    """{line}\n\n    :param x: y.\n    """\n'
            Path(directory, "hyp_mod.py").write_text(code)
            namespace: dict[str, object] = {}
            exec(compile(code, "hyp_mod.py", "exec"), namespace)
            assert _manifest.summary_from_source("hyp_mod:Cog", [directory]) == plugins.cog_summary(namespace["Cog"])

    def test_unreadable_source_gives_no_summary(self, tmp_path: Path) -> None:
        """A module that is not there, or not Python, leaves the summary empty; the build goes on."""
        (tmp_path / "bad.py").write_text("def (:\n")
        assert _manifest.summary_from_source("bad:Cog", [str(tmp_path)]) == ""
        assert _manifest.summary_from_source("missing:Cog", [str(tmp_path)]) == ""

    def test_first_party_wheels_carry_the_manifest(self) -> None:
        """Every first-party cog distribution builds with the manifest hook: hatch_build.py, the core's own."""
        root = Path(__file__).resolve().parents[2]
        core = (root / "deadbeat-core" / "src" / "deadbeat" / "plugins" / "_manifest.py").read_bytes()
        for directory in ("deadbeat-cogs-fs", "deadbeat-cogs-ip", "deadbeat-cogs-net", "deadbeat-cogs-text"):
            hatch = tomllib.loads((root / directory / "pyproject.toml").read_text())["tool"]["hatch"]
            hook = hatch["build"]["targets"]["wheel"]["hooks"]["custom"]
            assert hook.get("path", "hatch_build.py") == "hatch_build.py", directory
            assert (root / directory / "hatch_build.py").read_bytes() == core, directory


class TestCoreRange:
    @given(
        st.lists(
            st.tuples(
                st.sampled_from([">=", "<=", ">", "<", "==", "!=", "~="]),
                st.lists(st.integers(0, 12), min_size=1, max_size=3),
                st.booleans(),
            ),
            min_size=1,
            max_size=3,
        ),
        st.lists(st.integers(0, 12), min_size=1, max_size=4),
    )
    def test_the_quick_range_check_agrees_with_packaging(
        self, clauses: list[tuple[str, list[int], bool]], release: list[int]
    ) -> None:
        """For any range of plain release numbers, the check without packaging answers as packaging does."""
        from packaging.specifiers import SpecifierSet

        specifier = ",".join(
            f"{op}{'.'.join(map(str, numbers))}{'.*' if star and op in ('==', '!=') else ''}"
            for op, numbers, star in clauses
        )
        version = ".".join(map(str, release))
        try:
            expected = SpecifierSet(specifier).contains(version, prereleases=True)
        except Exception:  # noqa: BLE001 - a range packaging refuses (~=1) is not ours to judge
            return
        answer = _registry._simple_contains(specifier, version)
        assert answer is None or answer == expected, (specifier, version, expected)
