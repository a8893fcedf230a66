"""Write one reference page per installed Deadbeat cog into docs/cogs/.

The pages are generated from each cog's docstring and signature (through
``deadbeat.plugins.describe``), so they cannot drift from the code; ``tests/test_docs.py``
fails when a page is missing or stale. The list of which distribution brings which
cogs (``docs/cogs/distributions.inc``, included by the install page) is written
every time, from every cog of the project. Run after changing a cog:

    python docs/generate_cog_pages.py [NAME ...] [--output DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deadbeat.plugins import CogEntry, CogRegistry, describe

PAGES = Path(__file__).parent / "cogs"
#: Only the project's own distributions get pages here.
OURS = "deadbeat-cogs-"
#: Pages of the manual that a cog's page points to, with what the reader finds there.
SEE_ALSO: dict[str, list[tuple[str, str]]] = {
    "flow.filter": [("expressions", "the expression language: field names, operators, functions, missing fields")],
    "ip.anonymise": [("tutorial", "anonymising ``src_ip`` in a tailing pipeline")],
    "fs.tail": [
        ("tailing", "what is promised through rotation, restarts and crashes, and what is not"),
        ("tutorial", "a tailing pipeline from an empty directory to a systemd service"),
    ],
    "fs.read": [("tailing", "what is promised about reading files, and what is not")],
}


def _cell(text: str) -> str:
    return text.replace("\n", " ") or "\\-"


def render(entry: CogEntry) -> str:
    """:returns: the reStructuredText page of one loaded cog."""
    description = describe(entry.obj)
    title = entry.name
    lines = [title, "=" * len(title), "", description.summary, ""]
    if description.text:
        lines += [description.text, ""]
    lines += [
        f":Distribution: ``{entry.distribution}``",
        f":Python: ``{entry.value}``",
    ]
    if description.injected:
        lines.append(
            f":Needs: the {'Train' if description.injected == 'train' else 'Escapement'} (given by the pipeline)"
        )
    if description.takes_lists:
        lines.append(":Lists: takes whole lists from the train (``call_batch``)")
    lines += ["", "Options", "-------", ""]
    if description.parameters:
        lines += [
            ".. list-table::",
            "   :header-rows: 1",
            "",
            "   * - name",
            "     - type",
            "     - default",
            "     - meaning",
        ]
        for p in description.parameters:
            lines += [
                f"   * - ``{p.name}``",
                f"     - {_cell(p.annotation)}",
                f"     - {_cell(p.default_text)}",
                f"     - {_cell(p.doc)}",
            ]
    else:
        lines.append("None.")
    lines += [
        "",
        "Pipeline insert",
        "---------------",
        "",
        "Fill in the required values (``...``):",
        "",
        ".. code-block:: none",
        "",
    ]
    lines += [f"   {line}" for line in description.pipeline_insert(entry.name).splitlines()]
    if entry.name in SEE_ALSO:
        lines += ["", "See also", "--------", ""]
        lines += [f"* :doc:`/{page}`: {what}" for page, what in SEE_ALSO[entry.name]]
    return "\n".join(lines) + "\n"


DISTRIBUTIONS_TABLE = "distributions.inc"


def render_distributions(entries: list[CogEntry], pages: Path = PAGES) -> str:
    """:returns: a table of the project's cog distributions and the cogs each brings, linked to their pages.

    A cog whose page is not in ``pages`` (yet) is named without a link, so the
    table never holds a reference that breaks the build.
    """
    by_distribution: dict[str, list[str]] = {}
    for entry in sorted(entries, key=lambda e: (e.distribution, e.name)):
        by_distribution.setdefault(entry.distribution, []).append(entry.name)
    lines = [
        ".. This file is written by docs/generate_cog_pages.py; do not edit it.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - distribution",
        "     - cogs",
    ]
    for distribution, names in by_distribution.items():
        cells = [f":doc:`{n} </cogs/{n}>`" if (pages / f"{n}.rst").exists() else f"``{n}``" for n in names]
        lines += [f"   * - ``{distribution}``", "     - " + ", ".join(cells)]
    return "\n".join(lines) + "\n"


def our_cogs(names: list[str] | None = None) -> list[CogEntry]:
    """:returns: the loaded cogs of the project's own distributions (only ``names``, when given).

    :raises SystemExit: when one of them is broken, or a name is not one of ours.
    """
    entries = [
        e for e in CogRegistry().load_all() if e.distribution.startswith(OURS) and (names is None or e.name in names)
    ]
    broken = [e for e in entries if not e.usable]
    if broken:
        raise SystemExit(f"cannot document broken cogs: {[str(e) for e in broken]}")
    missing = sorted(set(names or ()) - {e.name for e in entries})
    if missing:
        raise SystemExit(f"not cogs of this project: {missing}")
    return entries


def main(argv: list[str] | None = None) -> int:
    """Write the pages: every cog's, or only those named; ``--output DIR`` writes elsewhere."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="cog names (default: every cog of the project)")
    parser.add_argument("--output", type=Path, default=PAGES, help="directory of the pages (default: docs/cogs)")
    args = parser.parse_args(argv)
    args.output.mkdir(exist_ok=True)
    for entry in our_cogs(args.names or None):
        (args.output / f"{entry.name}.rst").write_text(render(entry))
        print(f"wrote {args.output / entry.name}.rst")
    (args.output / DISTRIBUTIONS_TABLE).write_text(render_distributions(our_cogs(), args.output))
    print(f"wrote {args.output / DISTRIBUTIONS_TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
