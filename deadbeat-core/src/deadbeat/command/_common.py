"""What the ``deadbeat`` subcommands share: exit statuses, the cog registry the command line asks for."""

from __future__ import annotations

import argparse
import os

from ..plugins import CogRegistry

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def add_registry_options(parser: argparse.ArgumentParser) -> None:
    """The options every subcommand that loads cogs takes: ``--allow`` and ``--strict``."""
    parser.add_argument("--allow", action="append", metavar="PATTERN", help="only load cogs matching (repeatable)")
    parser.add_argument("--strict", action="store_true", help="a cog that cannot load is an error")


def registry_of(args: argparse.Namespace) -> CogRegistry:
    """The registry ``--allow``/``--strict`` and ``DEADBEAT_ALLOW``/``DEADBEAT_STRICT`` ask for."""
    allow = list(args.allow or [])
    env_allow = os.environ.get("DEADBEAT_ALLOW", "")
    allow.extend(p.strip() for p in env_allow.split(",") if p.strip())
    strict = args.strict or os.environ.get("DEADBEAT_STRICT", "") not in ("", "0", "false", "no")
    return CogRegistry(allow=allow or None, strict=strict)
