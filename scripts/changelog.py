"""Fold the changelog fragments in changes/ into CHANGELOG.md, at release.

Every change that a user would notice comes with a fragment, written for users,
in its own file: ``changes/<issue>.<type>.md``, or ``changes/<issue>.<type>.<n>.md``
for the second and later fragments of one issue. The type is one of ``feature``,
``bugfix`` and ``doc``. A fragment is one or more plain Markdown paragraphs (no
headings: the compiled changelog gives them).

At release::

    python scripts/changelog.py --draft          # print the section, change nothing
    python scripts/changelog.py 0.3.0            # write it into CHANGELOG.md, remove the fragments
    python scripts/changelog.py --check          # exit 1 if a fragment is misnamed or malformed

The new section goes above the newest one, headed ``## VERSION (DATE)``; when
CHANGELOG.md already has a ``## VERSION (unreleased)`` section (written by hand),
the fragments go at its top and it takes the date. Entries are grouped by type
and ordered by issue, each ending with its issue number.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Fragment types, in the order their sections appear, with their headings.
TYPES = {"feature": "Features", "bugfix": "Fixes", "doc": "Documentation"}
#: Lines of the compiled changelog are wrapped at this width, as the rest of it is.
WIDTH = 82
_NAME = re.compile(r"^(?P<issue>\d+)\.(?P<type>[a-z]+)(?:\.(?P<n>\d+))?\.md$")


class FragmentError(ValueError):
    """A fragment's name or text does not follow the rules; the message names the file."""


@dataclass(frozen=True)
class Fragment:
    issue: int
    type: str
    number: int
    text: str

    def entry(self) -> str:
        """:returns: the fragment as a Markdown list item, its issue at the end."""
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", self.text.strip())]
        paragraphs[-1] += f" (#{self.issue})"
        options = {"width": WIDTH, "subsequent_indent": "  ", "break_long_words": False, "break_on_hyphens": False}
        first, *rest = paragraphs
        filled = [textwrap.fill(first, initial_indent="- ", **options)]
        filled += [textwrap.fill(p, initial_indent="  ", **options) for p in rest]
        return "\n\n".join(filled)


def read(directory: Path) -> list[Fragment]:
    """:returns: every fragment of the directory, by type, then issue, then number.

    :raises FragmentError: naming every misnamed or malformed fragment.
    """
    fragments, problems = [], []
    for path in sorted(directory.glob("*")):
        if path.name.startswith(".") or path.name == "README.md":
            continue
        match = _NAME.match(path.name)
        if not match:
            problems.append(f"{path}: not named <issue>.<type>[.<n>].md")
            continue
        if match["type"] not in TYPES:
            problems.append(f"{path}: type {match['type']!r} is not one of {', '.join(TYPES)}")
            continue
        text = path.read_text()
        if not text.strip():
            problems.append(f"{path}: empty")
        elif re.search(r"^#", text, re.MULTILINE):
            problems.append(f"{path}: a heading in a fragment (write paragraphs; the changelog gives the headings)")
        else:
            fragments.append(Fragment(int(match["issue"]), match["type"], int(match["n"] or 1), text))
    if problems:
        raise FragmentError("\n".join(problems))
    order = list(TYPES)
    return sorted(fragments, key=lambda f: (order.index(f.type), f.issue, f.number))


def render(fragments: list[Fragment]) -> str:
    """:returns: the changelog subsections of the fragments: one per type that has any."""
    parts = []
    for kind, heading in TYPES.items():
        entries = [f.entry() for f in fragments if f.type == kind]
        if entries:
            parts.append(f"### {heading}\n\n" + "\n".join(entries) + "\n")
    return "\n".join(parts)


def fold(changelog: str, version: str, date: str, fragments: list[Fragment]) -> str:
    """:returns: the changelog with the fragments' section for ``version`` in place."""
    body = render(fragments)
    unreleased = re.search(rf"^## {re.escape(version)} \(unreleased\)\n\n?", changelog, re.MULTILINE)
    if unreleased:
        heading = f"## {version} ({date})\n\n"
        return changelog[: unreleased.start()] + heading + body + "\n" + changelog[unreleased.end() :]
    newest = re.search(r"^## ", changelog, re.MULTILINE)
    at = newest.start() if newest else len(changelog)
    section = f"## {version} ({date})\n\n{body}\n"
    if not newest and not changelog.endswith("\n\n"):
        section = "\n" + section
    return changelog[:at] + section + changelog[at:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", nargs="?", help="the version being released")
    parser.add_argument("--draft", action="store_true", help="print the new section; change nothing")
    parser.add_argument("--check", action="store_true", help="only check the fragments' names and text")
    parser.add_argument("--date", default=datetime.date.today().isoformat(), help="release date (default: today)")
    parser.add_argument("--fragments", type=Path, default=ROOT / "changes", help="the fragments' directory")
    parser.add_argument("--changelog", type=Path, default=ROOT / "CHANGELOG.md", help="the changelog file")
    parser.add_argument("--keep", action="store_true", help="leave the fragments in place after folding them in")
    args = parser.parse_args(argv)
    try:
        fragments = read(args.fragments)
    except FragmentError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.check:
        print(f"{len(fragments)} fragment(s), all well-formed")
        return 0
    if args.draft:
        print(render(fragments), end="")
        return 0
    if not args.version:
        parser.error("give the version being released (or --draft, --check)")
    if not fragments:
        print(f"no fragments in {args.fragments}", file=sys.stderr)
        return 1
    args.changelog.write_text(fold(args.changelog.read_text(), args.version, args.date, fragments))
    if not args.keep:
        for path in args.fragments.glob("*.md"):
            if _NAME.match(path.name):
                path.unlink()
    print(f"{args.changelog}: {len(fragments)} fragment(s) folded into {args.version} ({args.date})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
