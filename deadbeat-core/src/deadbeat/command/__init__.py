"""The ``deadbeat`` command: list cogs, show one, check, test and run a pipeline file, start a cog distribution.

::

    deadbeat --version
    deadbeat cogs [--json] [--check]
    deadbeat cogs show NAME
    deadbeat run PIPELINE.toml [--once] [--explain] [--workers N] [--metrics-port PORT] [--stats]
    deadbeat check PIPELINE.toml
    deadbeat test PIPELINE.toml [TESTS.toml]
    deadbeat new-cog NAME

Exit status: 0 when everything went well; 1 when the pipeline could not be
built, or when the run went on past a failure it could not make good (an input
that could not be read, data that could neither be written nor reach the error
output); 2 for a wrong command line. With ``--workers N`` the parent exits 1 when
any worker failed at any time (see :mod:`deadbeat.command._workers`).

``--allow PATTERN`` (repeatable) limits which cogs may load and ``--strict`` turns
a cog that cannot load into an error (for ``run``, ``check`` and ``test``, only
the cogs the pipeline uses); ``DEADBEAT_ALLOW`` (comma-separated) and
``DEADBEAT_STRICT=1`` do the same from the environment. What a cog module prints as it is imported goes to
standard error: standard output is the command's own (JSON, a table, data).
"""

from __future__ import annotations

import os
import signal
import sys


def _started_as_the_program() -> bool:
    """Whether this import starts the ``deadbeat`` program (its script, or ``python -m deadbeat.command``)."""
    # "-m" while python -m imports the package; the path of __main__.py once it runs.
    program = sys.argv[0] if sys.argv else ""
    return (
        program == "-m"
        or os.path.basename(program) == "deadbeat"
        or program.endswith(os.path.join("deadbeat", "command", "__main__.py"))
    )


# SIGHUP's default ends the process, and logrotate sends it to a daemon that
# may be starting (a restart): ignored from the first line the program runs
# (before the imports, which take longest) until ``run`` installs its own
# handler (a reload). Not when an application merely imports this module.
if _started_as_the_program() and signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

# (Imported after the disposition is set, on purpose.)
import argparse  # noqa: E402
import importlib  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import TextIO  # noqa: E402

from ..plugins import CogRegistry, core_version  # noqa: E402
from ._arguments import add_subcommands  # noqa: E402
from ._common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, standard_streams, write_all  # noqa: E402

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "main"]

# The subcommands' arguments are in _arguments, each naming its handler
# "module:function" (args, out) -> exit status, imported only when it runs.


def _version(out: TextIO | None) -> int:
    if out is None:
        # Printing is all --version does: exit 0 would claim it was shown.
        sys.stderr.write("deadbeat: standard output is closed: nowhere to show the versions\n")
        return EXIT_ERROR
    registry = CogRegistry()
    lines = [f"deadbeat-core {core_version()}\n"]
    for dist, version in sorted(registry.distributions().items()):
        if dist.lower() != "deadbeat-core":
            lines.append(f"{dist} {version}\n")
    # A reader that went away (| head -1) is no error.
    write_all(out, "".join(lines))
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deadbeat", description="Event-driven data transformation daemons.")
    parser.add_argument("--version", action="store_true", help="show the core's and every cog distribution's version")
    commands = parser.add_subparsers(dest="command")
    add_subcommands(commands)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``deadbeat`` command.

    :returns: the exit status: 0 success, 1 error, 2 usage.
    """
    # Closed standard streams (>&-) get /dev/null first (see standard_streams);
    # a command that only prints is told it has no standard output (out None).
    closed = standard_streams()
    if out is None and 1 not in closed:
        out = sys.stdout
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        return _version(out)
    handler = getattr(args, "handler", None)
    if handler is not None:
        module, _, function = handler.partition(":")
        command = getattr(importlib.import_module(f".{module}", __name__), function)
        if args.command == "run":
            # A run handles its signals (SIGINT stops it in order).
            return _leave(int(command(args, out)), args.command)
        try:
            return _leave(int(command(args, out)), args.command)
        except KeyboardInterrupt:
            # Ctrl-C while listing or checking (a slow plugin's import, say): one line, not a traceback
            # through the importer's frames; the status a shell gives a command ended by SIGINT.
            sys.stderr.write(f"deadbeat: {args.command}: interrupted\n")
            return 128 + signal.SIGINT
    parser.print_help(out)
    return EXIT_USAGE


def _leave(status: int, command: str) -> int:
    """End the program now with ``status`` when a thread a cog's module started would keep it alive.

    Python waits for every non-daemon thread before it exits: a plugin that
    starts one as it is imported hung ``deadbeat run --once`` (under cron, for
    ever) after the work was done and said. Only when this process is the
    program: an application calling :func:`main` keeps its threads.
    """
    import threading

    lingering = [t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
    if not lingering or not _started_as_the_program():
        return status
    sys.stderr.write(
        f"deadbeat: {command}: not waiting for threads a cog's module started ({', '.join(lingering[:5])});"
        " ending now\n"
    )
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)
