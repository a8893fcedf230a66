"""Fixtures shared by the repository's own tests: the built distributions, once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Every distribution of the repository, the core first.
DISTRIBUTIONS = ["deadbeat-core", "deadbeat-cogs-fs", "deadbeat-cogs-ip", "deadbeat-cogs-net", "deadbeat-cogs-text"]


@dataclass
class Built:
    """What ``python -m build`` made of the repository, and a wheelhouse to install from."""

    #: The sdist and the wheel of each distribution.
    dist: Path
    #: Those wheels and the wheels of their dependencies: ``pip install --no-index --find-links``.
    wheelhouse: Path

    def sdist(self, distribution: str) -> Path:
        return next(self.dist.glob(f"{distribution.replace('-', '_')}-*.tar.gz"))

    def wheel(self, distribution: str) -> Path:
        return next(self.dist.glob(f"{distribution.replace('-', '_')}-*.whl"))


def run(*args: str | Path, **options: object) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure, the assertion shows its output."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **options)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Build every distribution's sdist and wheel once, and fetch their dependencies' wheels.

    The wheels are built with the hatchling of this environment (no build
    isolation, so nothing is downloaded for the build); the dependencies come
    from the package index, or pip's cache, once per session. Everything
    installed from the wheelhouse afterwards uses ``--no-index``.
    """
    root = tmp_path_factory.mktemp("built")
    dist, wheelhouse = root / "dist", root / "wheelhouse"
    for name in DISTRIBUTIONS:
        run(sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation", "--outdir", dist, REPO / name)
    environment = {**os.environ, "PIP_FIND_LINKS": str(dist)}
    run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", wheelhouse,
        *sorted(dist.glob("*.whl")),
        env=environment,
    )  # fmt: skip
    return Built(dist, wheelhouse)
