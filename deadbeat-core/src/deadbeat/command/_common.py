"""What the ``deadbeat`` subcommands share: exit statuses, the cog registry the command line asks for."""

from __future__ import annotations

import argparse
import os
from typing import TextIO

from ..plugins import CogRegistry

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

#: Subcommands for which ``--strict`` concerns only the cogs they use.
_STRICT_ABOUT_USED = ("run",)


def add_registry_options(parser: argparse.ArgumentParser) -> None:
    """The options every subcommand that loads cogs takes: ``--allow`` and ``--strict``."""
    parser.add_argument(
        "--allow",
        action="append",
        metavar="PATTERN",
        help="only load cogs whose name, distribution/name, distribution or module:attribute matches (repeatable)",
    )
    parser.add_argument("--strict", action="store_true", help="a cog that cannot be used is an error")


def registry_of(args: argparse.Namespace) -> CogRegistry:
    """The registry ``--allow``/``--strict`` and ``DEADBEAT_ALLOW``/``DEADBEAT_STRICT`` ask for.

    Strictness concerns what the subcommand works on: ``deadbeat run`` gets a
    registry strict about the cogs its pipeline uses (a broken plugin it does
    not use is no reason to refuse to run), ``deadbeat cogs`` one strict about
    every installed cog.
    """
    allow = list(args.allow or [])
    env_allow = os.environ.get("DEADBEAT_ALLOW", "")
    allow.extend(p.strip() for p in env_allow.split(",") if p.strip())
    strict = args.strict or os.environ.get("DEADBEAT_STRICT", "") not in ("", "0", "false", "no")
    scope = "used" if getattr(args, "command", None) in _STRICT_ABOUT_USED else "all"
    return CogRegistry(allow=allow or None, strict=strict, scope=scope)


def write_all(out: TextIO, text: str) -> bool:
    """Write ``text`` to ``out``; a reader that went away (``| head -1``) is no error.

    :returns: ``False`` when the reader closed the pipe. Standard output is then
        pointed at ``/dev/null``, so that the interpreter's final flush does not
        print a traceback either.
    """
    try:
        out.write(text)
        out.flush()
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass  # not a file descriptor (a StringIO): nothing will flush it at exit
        return False
    return True
