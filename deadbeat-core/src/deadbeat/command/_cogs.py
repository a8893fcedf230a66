"""``deadbeat cogs``: list the installed cogs; ``deadbeat cogs show NAME``: describe one."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from ..conf import Section, section_of
from ..plugins import CogLoadError, describe
from ._common import EXIT_ERROR, EXIT_OK, add_registry_options, registry_of


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cogs`` and ``cogs show`` to the command line."""
    cogs = commands.add_parser("cogs", help="list the installed cogs")
    add_registry_options(cogs)
    cogs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cogs.set_defaults(handler=handle)
    cogs_commands = cogs.add_subparsers(dest="cogs_command")
    show = cogs_commands.add_parser("show", help="describe one cog")
    add_registry_options(show)
    show.add_argument("name")


def handle(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``deadbeat cogs`` or ``deadbeat cogs show``. :returns: the exit status."""
    if args.cogs_command == "show":
        return _cogs_show(args, out)
    return _cogs_list(args, out)


def _cogs_list(args: argparse.Namespace, out: TextIO) -> int:
    registry = registry_of(args)
    try:
        entries = registry.load_all()
    except CogLoadError as exc:
        sys.stderr.write(f"deadbeat: {exc}\n")
        return EXIT_ERROR
    if args.json:
        json.dump([e.as_dict() for e in entries], out, indent=2)
        out.write("\n")
        return EXIT_OK
    rows = [("NAME", "DISTRIBUTION", "VERSION", "STATUS", "SUMMARY")]
    for e in entries:
        rows.append((e.name, e.distribution, e.version, e.status, e.summary if e.usable else (e.error or "")))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        out.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] + "\n")
    broken = [e for e in entries if not e.usable]
    if broken:
        out.write(f"\n{len(broken)} cog(s) cannot be used; the others work.\n")
    return EXIT_OK


def _cogs_show(args: argparse.Namespace, out: TextIO) -> int:
    registry = registry_of(args)
    try:
        obj = registry.load(args.name)
    except KeyError:
        sys.stderr.write(f"deadbeat: no cog named {args.name!r}; see 'deadbeat cogs'\n")
        return EXIT_ERROR
    except CogLoadError as exc:
        sys.stderr.write(f"deadbeat: {exc}\n")
        if exc.entry.details:
            sys.stderr.write(exc.entry.details)
        return EXIT_ERROR
    entry = registry.entry(args.name)
    description = describe(obj)
    out.write(f"{entry.name}  ({entry.value}, {entry.distribution} {entry.version})\n\n")
    out.write((description.summary or "(no description)") + "\n")
    if description.text:
        out.write("\n" + description.text + "\n")
    if description.takes_lists:
        out.write("\nTakes whole lists from the train (call_batch): no Python call per datum.\n")
    out.write("\nParameters:\n")
    if description.injected:
        out.write(f"  {description.injected}  (given by the pipeline)\n")
    for p in description.parameters:
        annotation = f": {p.annotation}" if p.annotation else ""
        default = "required" if p.required else f"default {p.default_text}"
        out.write(f"  {p.name}{annotation}  ({default})\n")
        if p.doc:
            out.write(f"      {p.doc}\n")
    out.write("\nPipeline insert:\n" + description.pipeline_insert(entry.name) + "\n")
    insert = getattr(obj, "config_insert", None)
    if not isinstance(insert, Section):
        insert = section_of(obj, entry.name.rpartition(".")[2])
    if insert.children:
        out.write("\nConfig insert (for an application's own config file):\n" + insert.to_toml() + "\n")
    return EXIT_OK
