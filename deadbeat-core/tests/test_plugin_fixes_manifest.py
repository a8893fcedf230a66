"""The manifest's summary of a cog named by a dotted attribute is that attribute's own docstring.

An entry point ``nested.inner = "deadbeat_nested:Outer.Inner"`` was summarised
with ``Outer``'s docstring: the build looked up only the first part of the
attribute. Each part is now followed through the source (a class's body, a
re-export, a submodule), still without running anything.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from deadbeat import plugins
from deadbeat.plugins import _manifest

MakeDist = Callable[..., Path]

NESTED = textwrap.dedent(
    '''
    from deadbeat import movement


    class Outer:
        """Outer helper namespace, not a cog."""

        class Inner(movement.Cog):
            """The real inner cog.

            :param value: v.
            """

            def __init__(self, value: str = "v") -> None:
                self.value = value

            def __call__(self, d):
                return (d,)

            class Deeper(movement.Cog):
                """Deeper still."""

                def __call__(self, d):
                    return (d,)

        Alias = Inner

        def helper(self):
            """A helper, not a cog."""
    '''
)


def _write(root: Path, files: dict[str, str]) -> str:
    for name, code in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(code))
    return str(root)


def test_nested_class_gets_its_own_summary(tmp_path: Path) -> None:
    """The probe: Outer's docstring was shown for Outer.Inner."""
    root = _write(tmp_path, {"deadbeat_nested/__init__.py": "raise SystemExit('never run')\n" + NESTED})
    manifest = _manifest.build_manifest(
        {
            "nested.inner": "deadbeat_nested:Outer.Inner",
            "nested.deeper": "deadbeat_nested:Outer.Inner.Deeper",
            "nested.alias": "deadbeat_nested:Outer.Alias",
            "nested.outer": "deadbeat_nested:Outer",
        },
        [root],
    )
    summaries = {name: cog["summary"] for name, cog in manifest["cogs"].items()}
    assert summaries == {
        "nested.inner": "The real inner cog.",
        "nested.deeper": "Deeper still.",
        "nested.alias": "The real inner cog.",
        "nested.outer": "Outer helper namespace, not a cog.",
    }


@pytest.mark.parametrize(
    "attribute", ["Outer.Missing", "Outer.Inner.Missing", "Outer.helper.attr", "Outer..Inner", "Outer.Inner."]
)
def test_what_is_not_there_has_no_summary(tmp_path: Path, attribute: str) -> None:
    """Never the docstring of an enclosing definition: no summary at all (the build warns)."""
    root = _write(tmp_path, {"deadbeat_nested.py": NESTED})
    assert _manifest.summary_from_source(f"deadbeat_nested:{attribute}", [root]) == ""


def test_nested_through_re_exports_aliases_and_submodules(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "pkg/__init__.py": """
                raise SystemExit('never run')
                from ._impl import Outer as Public
                from . import _impl
                from ._other import Holder
                import pkg._plain
                import pkg._impl as impl
                Renamed = Public
            """,
            "pkg/_impl.py": NESTED,
            "pkg/_plain.py": '''
                class Cog:
                    """Plain submodule cog."""
            ''',
            "pkg/_other.py": '''
                from ._impl import Outer


                class Holder:
                    """Holds an alias."""

                    Held = Outer
            ''',
        },
    )
    cases = {
        "pkg:Public.Inner": "The real inner cog.",
        "pkg:Renamed.Inner.Deeper": "Deeper still.",
        "pkg:_impl.Outer.Inner": "The real inner cog.",
        "pkg:impl.Outer.Alias": "The real inner cog.",
        "pkg:pkg._plain.Cog": "Plain submodule cog.",
        "pkg:_plain.Cog": "Plain submodule cog.",
        "pkg:Holder.Held.Inner": "The real inner cog.",
        "pkg:Holder": "Holds an alias.",
        "pkg._impl:Outer.Inner": "The real inner cog.",
    }
    assert {value: _manifest.summary_from_source(value, [root]) for value in cases} == cases


def test_the_source_summary_is_what_importing_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _write(tmp_path, {"nested_mod.py": NESTED})
    monkeypatch.syspath_prepend(root)
    import importlib

    module = importlib.import_module("nested_mod")
    try:
        for attribute in ("Outer", "Outer.Inner", "Outer.Inner.Deeper", "Outer.Alias"):
            obj = module
            for part in attribute.split("."):
                obj = getattr(obj, part)
            assert _manifest.summary_from_source(f"nested_mod:{attribute}", [root]) == plugins.cog_summary(obj)
    finally:
        sys.modules.pop("nested_mod", None)


def test_deadbeat_cogs_lists_the_inner_summary(make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the listing shows, from a manifest the build hook would write, with nothing imported."""
    site = make_dist(
        "deadbeat-nested", {"nested.inner": "deadbeat_nested_mod:Outer.Inner"}, "deadbeat_nested_mod", NESTED
    )
    manifest = _manifest.build_manifest({"nested.inner": "deadbeat_nested_mod:Outer.Inner"}, [str(site)])
    extra = site / "deadbeat_nested-1.0.dist-info" / "extra_metadata"
    extra.mkdir()
    (extra / _manifest.MANIFEST).write_text(json.dumps(manifest))
    monkeypatch.syspath_prepend(str(site))
    (entry,) = [e for e in plugins.CogRegistry().discover() if e.name == "nested.inner"]
    assert entry.summary == "The real inner cog."
    assert "deadbeat_nested_mod" not in sys.modules


def test_the_build_hooks_are_byte_copies() -> None:
    root = Path(__file__).resolve().parents[2]
    core = (root / "deadbeat-core" / "src" / "deadbeat" / "plugins" / "_manifest.py").read_bytes()
    for directory in ("deadbeat-cogs-fs", "deadbeat-cogs-ip", "deadbeat-cogs-net", "deadbeat-cogs-text"):
        assert (root / directory / "hatch_build.py").read_bytes() == core, directory
