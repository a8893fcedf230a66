"""The ``deadbeat`` command line: every subcommand's arguments, and which function handles it.

Only argparse here: a handler is named as ``"module:function"`` of this package
and imported when its subcommand runs, so that ``deadbeat cogs`` does not pay
for importing the engine, the pipeline loader and asyncio, which only ``run``,
``check`` and ``test`` need.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ._common import add_registry_options


def add_subcommands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add every subcommand, in the order of the help text."""
    add_cogs(commands)
    add_run(commands)
    add_check(commands)
    add_test(commands)
    add_new_cog(commands)


def add_cogs(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cogs`` and ``cogs show`` to the command line."""
    cogs = commands.add_parser(
        "cogs", help="list the installed cogs", description="List the installed cogs, importing none of them."
    )
    add_registry_options(cogs)
    cogs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cogs.add_argument(
        "--check",
        action="store_true",
        help="import every cog and report those that cannot be used (exit status 0: add --strict to fail on any)",
    )
    cogs.set_defaults(handler="_cogs:handle")
    cogs_commands = cogs.add_subparsers(dest="cogs_command")
    show = cogs_commands.add_parser("show", help="describe one cog")
    add_registry_options(show)
    show.add_argument("name", help="a cog's name, or distribution/name")


def add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run`` to the command line."""
    run = commands.add_parser("run", help="run a pipeline file")
    add_registry_options(run)
    run.add_argument("pipeline", metavar="PIPELINE.toml")
    run.add_argument("--once", action="store_true", help="read the inputs to their end, then exit (cron)")
    run.add_argument("--progress", action="store_true", help="show the live counter even when not on a terminal")
    run.add_argument("--quiet", action="store_true", help="never show the live counter")
    run.add_argument(
        "--explain", action="store_true", help="print the cogs and the code generated for the train, then exit"
    )
    run.add_argument(
        "--workers",
        type=_worker_count,
        metavar="N",
        help="run N worker processes of the pipeline, sharing a broker's consumer group (stream.redis, stream.nats);"
        " a worker that dies is started again",
    )
    run.add_argument(
        "--metrics-port",
        type=_port,
        metavar="PORT",
        help="serve /metrics (Prometheus), /health and /ready on this port (0: any free one, logged);"
        " needs deadbeat-core[metrics]",
    )
    run.add_argument(
        "--metrics-address",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address the metrics port listens on (default: loopback only)",
    )
    run.add_argument(
        "--measure",
        choices=("stages", "cogs"),
        default="stages",
        help="with --metrics-port or --stats: count data per stage of the generated code (default, next to free)"
        " or per cog (30 to 60 ns per cog and datum)",
    )
    run.add_argument(
        "--stats",
        nargs="?",
        type=_interval,
        const=10.0,
        metavar="SECONDS",
        help="per-cog figures: on a terminal a live view, otherwise a summary line every SECONDS (default 10)",
    )
    run.set_defaults(handler="_run:handle")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is from 0 to 65535, not {port}")
    return port


def _interval(text: str) -> float:
    """``--stats SECONDS``: more than 0 (0 or less logged a line at every turn of the loop, at full CPU), finite."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (seconds > 0 and math.isfinite(seconds)):
        raise argparse.ArgumentTypeError(f"a number of seconds more than 0, not {text}")
    return seconds


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"at least 1 worker, not {count}")
    return count


def add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``check`` to the command line."""
    check = commands.add_parser("check", help="check a pipeline file without running it")
    add_registry_options(check)
    check.add_argument("pipeline", metavar="PIPELINE.toml")
    check.add_argument(
        "--once",
        action="store_true",
        help="check it as 'run --once' runs it (cron): inputs read to their end, not followed, so an input file"
        " that is not there is an error, not a warning",
    )
    check.set_defaults(handler="_check:handle")


def add_test(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``test`` to the command line."""
    test = commands.add_parser("test", help="run a pipeline's unit tests: inputs and the outputs expected")
    add_registry_options(test)
    test.add_argument("pipeline", metavar="PIPELINE.toml")
    test.add_argument(
        "tests", metavar="TESTS.toml", nargs="?", help="the tests (default: PIPELINE.tests.toml beside the pipeline)"
    )
    test.set_defaults(handler="_test:handle")


def add_new_cog(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``new-cog`` to the command line."""
    parser = commands.add_parser(
        "new-cog",
        help="create a third-party cog distribution to start from",
        description="Create deadbeat-NAME/: a cog distribution that installs, lists and passes its own tests.",
    )
    parser.add_argument("name", metavar="NAME", help="short name: lower case, digits, underscores (geoip)")
    parser.add_argument(
        "--directory", type=Path, help="where to create it (default: ./deadbeat-NAME); must not exist yet"
    )
    parser.set_defaults(handler="_new_cog:handle")
