"""Set the release's version and core range, declared once, in every distribution.

The root ``pyproject.toml`` declares both, under ``[tool.deadbeat]``: ``version``,
which every distribution of a release carries, and ``core``, the range of
deadbeat-core versions the cog distributions (and the template) depend on.
This script writes a new declaration there and the same values into each
distribution's ``pyproject.toml``, changing nothing else in those files::

    python scripts/release.py 0.3.0                  # the core range follows: >=0.3,<0.4
    python scripts/release.py 0.3.1 --core ">=0.3,<0.4"
    python scripts/release.py --check                # exit 1 if a distribution differs

``tests/test_distributions.py`` runs the same check.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = ["deadbeat-core", "deadbeat-cogs-fs", "deadbeat-cogs-ip", "deadbeat-cogs-net", "deadbeat-cogs-text"]
#: The template takes the core range, not the release's version (a new package starts at its own).
TEMPLATE = "_template"

_VERSION = re.compile(r'^(version = )"[^"]*"', re.MULTILINE)
_CORE = re.compile(r'"deadbeat-core\s*[<>=!~][^"]*"')


def declared() -> dict[str, str]:
    """:returns: ``{"version": ..., "core": ...}`` from the root pyproject.toml."""
    release: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["deadbeat"]
    return release


def default_core(version: str) -> str:
    """:returns: the range of core versions sharing the release's minor version (``0.3.1`` gives ``>=0.3,<0.4``)."""
    v = Version(version)
    return f">={v.major}.{v.minor},<{v.major}.{v.minor + 1}"


def rewrite(text: str, version: str | None, core: str) -> str:
    """:returns: a pyproject.toml's text with the version (when given) and the core range replaced."""
    if version is not None:
        text = _VERSION.sub(rf'\g<1>"{version}"', text, count=1)
    return _CORE.sub(f'"deadbeat-core{core}"', text)


def differences(release: dict[str, str]) -> list[str]:
    """:returns: one line per distribution whose version or core range is not the release's."""
    found = []
    for name in [*DISTRIBUTIONS, TEMPLATE]:
        path = ROOT / name / "pyproject.toml"
        text = path.read_text()
        wanted = rewrite(text, None if name == TEMPLATE else release["version"], release["core"])
        if text != wanted:
            found.append(f"{path.relative_to(ROOT)}: not version {release['version']} / deadbeat-core{release['core']}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", nargs="?", help="the new release's version, such as 0.3.0")
    parser.add_argument("--core", help="the deadbeat-core range, such as '>=0.3,<0.4' (default: the version's minor)")
    parser.add_argument("--check", action="store_true", help="only say which distributions differ from the declaration")
    args = parser.parse_args(argv)
    if args.check or args.version is None:
        problems = differences(declared())
        print("\n".join(problems) or "every distribution carries the declared version and core range")
        return 1 if problems else 0
    version = str(Version(args.version))
    core = args.core or default_core(version)
    SpecifierSet(core)  # refuses a range pip would not understand
    root = ROOT / "pyproject.toml"
    text = root.read_text()
    declaration = re.compile(r'(\[tool\.deadbeat\]\nversion = )"[^"]*"\ncore = "[^"]*"')
    text = declaration.sub(rf'\g<1>"{version}"\ncore = "{core}"', text)
    root.write_text(text)
    for name in [*DISTRIBUTIONS, TEMPLATE]:
        path = ROOT / name / "pyproject.toml"
        path.write_text(rewrite(path.read_text(), None if name == TEMPLATE else version, core))
        print(f"{path.relative_to(ROOT)}: {'' if name == TEMPLATE else version + ', '}deadbeat-core{core}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
