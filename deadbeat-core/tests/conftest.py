"""Helpers shared by the core's tests: throw-away installed distributions."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

MakeDist = Callable[..., Path]


@pytest.fixture
def make_dist(tmp_path: Path) -> MakeDist:
    """Write a real distribution (dist-info plus module) into a directory for sys.path.

    importlib-metadata finds it exactly as it finds pip-installed ones, so the
    tests exercise real discovery, not a stand-in.
    """
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)

    def make(
        name: str,
        entry_points: Mapping[str, str],
        module: str | None = None,
        code: str = "",
        requires: tuple[str, ...] = ("deadbeat-core",),
        version: str = "1.0",
    ) -> Path:
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        meta += [f"Requires-Dist: {r}" for r in requires]
        (info / "METADATA").write_text("\n".join(meta) + "\n")
        lines = ["[deadbeat.cogs]"] + [f"{k} = {v}" for k, v in entry_points.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        if module:
            (site / f"{module}.py").write_text(textwrap.dedent(code))
        return site

    return make
