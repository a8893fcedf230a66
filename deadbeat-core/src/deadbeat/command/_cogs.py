"""``deadbeat cogs``: list the installed cogs; ``deadbeat cogs show NAME``: describe one.

The listing imports no cog: names, distributions, versions, statuses and
summaries come from the installed metadata and the manifest each distribution's
build wrote (see :mod:`deadbeat.plugins`). ``--check`` imports every cog and
reports those that fail, and those that load but lack a library or an extra to
run (their note says what to install); ``--strict`` does too and exits 1 when
any installed cog cannot be used, for either reason (``not allowed`` is a
choice, not a failure). What a cog module prints as it is imported goes to
standard error: standard output holds the table or the JSON alone. With
standard output closed (``>&-``) there is nowhere to show them: the command
says so and exits 1; a standard output that cannot be written (a full disk)
is said in one line, exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from ..plugins import CogEntry, CogLoadError, CogRegistry
from ._common import EXIT_ERROR, EXIT_OK, inert, plugin_output_to_stderr, registry_of, write_all


def handle(args: argparse.Namespace, out: TextIO | None) -> int:
    """Run ``deadbeat cogs`` or ``deadbeat cogs show``.

    :param out: where the listing or the description goes: standard output,
        ``None`` when it was closed as the command started.
    :returns: the exit status.
    """
    # Printing is all these commands do: with standard output closed (>&-, which main() passes on
    # as None), an exit status of 0 would claim a listing was shown.
    if out is None:
        shown = "the description" if args.cogs_command == "show" else "the list of cogs"
        sys.stderr.write(f"deadbeat: standard output is closed: nowhere to show {shown}\n")
        return EXIT_ERROR
    if args.cogs_command == "show":
        return _cogs_show(args, out)
    return _cogs_list(args, out)


def _note(entry: CogEntry) -> str:
    """The last column of the table: the summary, or why the cog cannot be used and what to install."""
    if entry.status in ("available", "loaded"):
        if entry.summary:
            text = entry.summary
        elif entry.described:
            # The build could not read a docstring there (an import that fails, no class or function).
            text = "(no summary in the distribution's manifest; --check imports it)"
        else:
            text = "(no summary: the distribution has no manifest; --check imports it)"
        return f"{text} [{entry.hint}]" if entry.hint else text
    return "; ".join(t for t in (entry.error, entry.hint) if t)


def _table(entries: list[CogEntry], checked: bool) -> str:
    rows = [("NAME", "DISTRIBUTION", "VERSION", "STATUS", "SUMMARY")]
    # Every cell but the status comes from a distribution's metadata: made inert for the terminal.
    rows += [(inert(e.name), inert(e.distribution), inert(e.version), e.status, inert(_note(e))) for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] for row in rows]
    # A cog that loaded but lacks a library or an extra (its note says "needs ...") cannot be used either.
    failing = [e for e in entries if not e.usable or e.ambiguous or e.unmet]
    if failing:
        lines += ["", f"{len(failing)} cog(s) cannot be used; the others work."]
    if not checked:
        lines += ["", "Listed without importing any cog; 'deadbeat cogs --check' imports them and reports failures."]
    return "\n".join(lines) + "\n"


def _cogs_list(args: argparse.Namespace, out: TextIO) -> int:
    registry = registry_of(args)
    checked = bool(args.check or registry.strict)
    failure = None
    if checked:
        try:
            # What a cog module prints as it is imported must not spoil the table or the JSON.
            with plugin_output_to_stderr():
                entries = registry.load_all(apart=True)
        except CogLoadError as exc:
            failure = exc
            entries = registry.discover()
    else:
        entries = registry.discover()
    if args.json:
        text = json.dumps([e.as_dict() for e in entries], indent=2) + "\n"
    else:
        text = _table(entries, checked)
    if not write_all(out, text):
        return EXIT_OK if failure is None else EXIT_ERROR
    if failure is not None:
        for entry in registry.problems():
            sys.stderr.write(f"deadbeat: {inert(str(CogLoadError(entry)))}\n")
        return EXIT_ERROR
    return EXIT_OK


def _unknown(registry: CogRegistry, name: str) -> str:
    close = registry.suggest(name)
    hint = f"; did you mean {close!r}?" if close else "."
    return f"deadbeat: no cog named {name!r}{hint} See 'deadbeat cogs'.\n"


def _cogs_show(args: argparse.Namespace, out: TextIO) -> int:
    from ..conf import Section, section_of
    from ..plugins import describe, is_plain_cog

    registry = registry_of(args)
    try:
        with plugin_output_to_stderr():
            obj = registry.load(args.name)
    except KeyError:
        sys.stderr.write(_unknown(registry, args.name))
        return EXIT_ERROR
    except CogLoadError as exc:
        sys.stderr.write(f"deadbeat: {inert(str(exc))}\n")
        # The traceback helps with a cog that is broken; not with a library to install, which the message names.
        if exc.entry is not None and exc.entry.details and "pip install" not in str(exc):
            sys.stderr.write(inert(exc.entry.details, lines=True))
        return EXIT_ERROR
    entry = registry.entry(args.name)
    description = describe(obj)
    lines = [f"{entry.name}  ({entry.value}, {entry.distribution} {entry.version})", ""]
    if entry.others:
        lines += [f"Also offered by {', '.join(entry.others)}; this one is {entry.qualified!r}.", ""]
    lines.append(description.summary or "(no description)")
    if description.text:
        lines += ["", description.text]
    if description.takes_lists:
        lines += ["", "Takes whole lists from the train (call_batch): no Python call per datum."]
    lines += ["", "Parameters:"]
    if description.injected:
        lines.append(f"  {description.injected}  (given by the pipeline)")
    if not description.injected and not description.parameters:
        lines.append("  (none)")
    for p in description.parameters:
        annotation = f": {p.annotation}" if p.annotation else ""
        default = "required" if p.required else f"default {p.default_text}"
        lines.append(f"  {p.name}{annotation}  ({default})")
        if p.doc:
            lines.append(f"      {p.doc}")
    use = entry.qualified if entry.ambiguous else entry.name
    lines += ["", "Pipeline insert:", description.pipeline_insert(use)]
    insert = getattr(obj, "config_insert", None)
    if not isinstance(insert, Section):
        insert = section_of(obj, entry.name.rpartition(".")[2])
    # The manual's plain function cog takes the datum, no setting.
    if insert.children and not is_plain_cog(obj):
        lines += ["", "Config insert (for an application's own config file):", insert.to_toml()]
    # The docstring, the parameters' notes and the metadata are the plugin author's text.
    write_all(out, inert("\n".join(lines), lines=True) + "\n")
    return EXIT_OK
