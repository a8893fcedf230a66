"""Plugin discovery: entry points read without importing, failures reported, rest goes on."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from deadbeat import plugins

MakeDist = Callable[..., Path]

GOOD_COG = '''
from deadbeat import movement

class Shout(movement.Cog):
    """Append an exclamation mark."""

    def __call__(self, data):
        return (data + "!",)
'''


class TestDiscovery:
    def test_discovery_imports_nothing(self) -> None:
        """Listing entry points leaves every cog module unimported, broken ones included."""
        sys.modules.pop("deadbeat_broken_fixture", None)
        entries = plugins.CogRegistry().discover()
        names = {e.name for e in entries}
        assert {"broken.explode", "example.upper", "example.delay"} <= names
        assert "deadbeat_broken_fixture" not in sys.modules
        assert all(e.status == "available" for e in entries if e.name != "broken.explode")

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

    def test_loading_a_broken_cog_names_it(self) -> None:
        """Asking for a broken cog raises with name, distribution, version and reason."""
        with pytest.raises(plugins.CogLoadError) as err:
            plugins.CogRegistry().load("broken.explode")
        assert str(err.value) == (
            "cog 'broken.explode' from deadbeat-broken-fixture 0.0.1 is broken: "
            "RuntimeError: deadbeat-broken-fixture fails on import on purpose"
        )

    def test_unknown_name(self) -> None:
        """A name nobody offers is a KeyError."""
        with pytest.raises(KeyError):
            plugins.CogRegistry().load("no.such.cog")

    def test_third_party_cog_loads(self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch) -> None:
        """A distribution found on sys.path offers its cog by entry-point name."""
        site = make_dist("deadbeat-shout", {"shout.loud": "shout_mod:Shout"}, "shout_mod", GOOD_COG)
        monkeypatch.syspath_prepend(str(site))
        cog = plugins.CogRegistry().load("shout.loud")()
        assert cog("hi") == ("hi!",)


class TestConflicts:
    def test_duplicate_names_are_both_reported(self, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch) -> None:
        """Two distributions offering one name: neither is used, both are named, others work."""
        site = make_dist("deadbeat-copycat", {"example.upper": "shout_mod:Shout"}, "shout_mod", GOOD_COG)
        monkeypatch.syspath_prepend(str(site))
        registry = plugins.CogRegistry()
        dupes = [e for e in registry.discover() if e.name == "example.upper"]
        assert {e.status for e in dupes} == {"duplicate"}
        assert "deadbeat-copycat 1.0" in (dupes[0].error or "") and "deadbeat-example-upper 1.0.0" in (
            dupes[0].error or ""
        )
        with pytest.raises(plugins.CogLoadError, match="duplicate"):
            registry.load("example.upper")
        assert registry.load("example.delay") is not None

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

    def test_strict_mode_makes_failures_fatal(self) -> None:
        """In strict mode the broken fixture stops loading with its reason."""
        with pytest.raises(plugins.CogLoadError, match="broken.explode"):
            plugins.CogRegistry(strict=True).load_all()
