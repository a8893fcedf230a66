"""What the ``deadbeat`` subcommands share: exit statuses, the cog registry the command line asks for."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TextIO

from ..plugins import CogRegistry

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

#: Subcommands for which ``--strict`` concerns only the cogs they use: those that work on a pipeline.
#: ``check`` and ``test`` judge a pipeline as ``run`` would run it, so they are strict about the same cogs.
_STRICT_ABOUT_USED = ("run", "check", "test")


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

    Strictness concerns what the subcommand works on: ``deadbeat run``,
    ``check`` and ``test`` get a registry strict about the cogs the pipeline
    uses (a broken plugin it does not use is no reason to refuse to run, so
    none to fail the check of it either), ``deadbeat cogs`` one strict about
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


@contextlib.contextmanager
def plugin_output_to_stderr() -> Iterator[None]:
    """While cogs are imported: what they print goes to standard error, not standard output.

    Standard output is the command's own: the JSON of ``deadbeat cogs --json``,
    the lines of ``check``, the data of an ``fs.write`` to ``"-"``. A plugin
    module that prints as it is imported (a greeting, a debug line) must not
    corrupt it. Both Python's ``sys.stdout`` and descriptor 1 (what a library in
    C or a child process would write to) point at standard error meanwhile.
    """
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass  # closed or gone: nothing of ours is waiting in it
    saved = -1
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:
        # No descriptor 1 or 2 (closed by whoever started us): Python's level only.
        if saved >= 0:
            os.close(saved)
            saved = -1
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        if saved >= 0:
            os.dup2(saved, 1)
            os.close(saved)
