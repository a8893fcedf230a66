"""The ``deadbeat`` command: list cogs, show one, run a pipeline file.

::

    deadbeat --version
    deadbeat cogs [--json]
    deadbeat cogs show NAME
    deadbeat run PIPELINE.toml [--once] [--explain] [--workers N]

Exit status: 0 when everything went well; 1 when the pipeline could not be
built, or when the run went on past a failure it could not make good (an input
that could not be read, data that could neither be written nor reach the error
output); 2 for a wrong command line. With ``--workers N`` the parent exits 1 when
any worker failed at any time (see :mod:`deadbeat.command._workers`).

``--allow PATTERN`` (repeatable) limits which cogs may load and ``--strict`` turns
any cog that cannot load into an error; ``DEADBEAT_ALLOW`` (comma-separated) and
``DEADBEAT_STRICT=1`` do the same from the environment.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

from .. import daemon
from .. import log as dblog
from .. import pipeline as pipeline_mod
from ..conf import Section, section_of
from ..movement._train import cog_name
from ..plugins import CogLoadError, CogRegistry, core_version, describe
from ._workers import Supervisor, unshareable_supplies

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def _registry(args: argparse.Namespace) -> CogRegistry:
    allow = list(args.allow or [])
    env_allow = os.environ.get("DEADBEAT_ALLOW", "")
    allow.extend(p.strip() for p in env_allow.split(",") if p.strip())
    strict = args.strict or os.environ.get("DEADBEAT_STRICT", "") not in ("", "0", "false", "no")
    return CogRegistry(allow=allow or None, strict=strict)


def _version(out: TextIO) -> int:
    registry = CogRegistry()
    out.write(f"deadbeat-core {core_version()}\n")
    for dist, version in sorted(registry.distributions().items()):
        if dist.lower() != "deadbeat-core":
            out.write(f"{dist} {version}\n")
    return EXIT_OK


def _cogs_list(args: argparse.Namespace, out: TextIO) -> int:
    registry = _registry(args)
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
    registry = _registry(args)
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


class _Progress:
    """The live counter shown on a terminal while a pipeline runs."""

    def __init__(self, pipeline: pipeline_mod.Pipeline, stream: TextIO) -> None:
        self.pipeline = pipeline
        self.stream = stream

    def line(self) -> str:
        train = self.pipeline.train
        return f"in {train.events_in:,}  out {train.events_out:,}  errors {train.errors:,}"

    def show(self) -> None:
        self.stream.write("\r\x1b[K" + self.line())
        self.stream.flush()


def _run(args: argparse.Namespace, out: TextIO) -> int:
    # A SIGTERM while the pipeline starts (imports, cogs opening files) must mean
    # "stop in order" too, not the default of dying on the spot.
    stop_requested: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: stop_requested.append(number))
    registry = _registry(args)
    try:
        spec = pipeline_mod.load(args.pipeline, registry)
    except pipeline_mod.PipelineError as exc:
        sys.stderr.write(f"deadbeat: {exc}\n")
        return EXIT_ERROR
    if args.explain:
        out.write(pipeline_mod.explain(spec))
        return EXIT_OK
    if args.workers is not None:
        refused = unshareable_supplies([(s.where, s.use, s.factory) for s in spec.cogs])
        if args.workers > 1 and refused:
            sys.stderr.write(
                f"deadbeat: {args.pipeline}: --workers {args.workers}: {', '.join(refused)} cannot be shared by"
                f" several workers: each would read the same input, and everything would be written"
                f" {args.workers} times; only supplies that share a broker's consumer group can"
                " (stream.redis, stream.nats)\n"
            )
            return EXIT_ERROR
    # [daemon] first: detaching forks, closes inherited descriptors and may drop
    # privileges, so it comes before anything is opened. Then logging, before any
    # cog is built: what cogs say while they start goes where [log] says.
    try:
        daemon.detach(**spec.daemon)
    except daemon.DaemonError as exc:
        sys.stderr.write(f"deadbeat: {args.pipeline}: daemon: {exc}\n")
        return EXIT_ERROR
    dblog.configure(**spec.log)
    if args.workers is not None:
        if stop_requested:
            return EXIT_OK

        def work(index: int, worker_stops: list[int]) -> int:
            # In the forked worker: logging anew (handlers of its own), then the
            # pipeline is built here, after the fork (see command._workers).
            dblog.configure(**spec.log)
            return _run_pipeline(args, spec, registry, worker_stops, live_counter=False)

        return Supervisor(args.workers, work).run()
    return _run_pipeline(args, spec, registry, stop_requested, live_counter=True)


def _run_pipeline(
    args: argparse.Namespace,
    spec: pipeline_mod.PipelineFile,
    registry: CogRegistry,
    stop_requested: list[int],
    live_counter: bool,
) -> int:
    """Build the pipeline, run it until it ends, log the summary. :returns: the exit status."""
    try:
        pipeline = pipeline_mod.build(spec, registry, once=args.once)
    except pipeline_mod.PipelineError as exc:
        logging.getLogger("deadbeat").error("%s", exc)
        return EXIT_ERROR
    progress = None
    if live_counter and not args.quiet and (args.progress or sys.stderr.isatty()):
        progress = _Progress(pipeline, sys.stderr)
        pipeline.esc.every(0.5, progress.show, keeps_alive=False)
    if stop_requested:
        logging.getLogger("deadbeat").info(
            "%s received while starting; shutting down", signal.Signals(stop_requested[0]).name
        )
        pipeline.esc.shutdown()
    try:
        pipeline.esc.run()
    finally:
        pipeline.esc.close()
    if progress is not None:
        progress.show()
        sys.stderr.write("\n")
    return _summary(pipeline)


def _summary(pipeline: pipeline_mod.Pipeline) -> int:
    """Log what the run did; :returns: the exit status: 1 if anything failed that the run could not make good."""
    logger = logging.getLogger("deadbeat")
    train = pipeline.train
    rest = train.events_in - train.events_out - train.errors
    balance = ""
    if rest > 0:
        balance = f", dropped by filters or merged {rest}"
    elif rest < 0:
        balance = f", more out than in by splits {-rest}"
    logger.info(
        "%s finished: in %d, out %d, errors %d%s",
        pipeline.path,
        train.events_in,
        train.events_out,
        train.errors,
        balance,
    )
    if train.errors:
        logger.warning("%d of %d data failed and went to the error output", train.errors, train.events_in)
    for position, cog in enumerate(train.cogs):
        counts = getattr(cog, "counts", None)
        if isinstance(counts, dict) and any(counts.values()):
            shown = ", ".join(f"{name} {value}" for name, value in counts.items() if value)
            logger.info("%s: cog[%d] %s: %s", pipeline.path, position, cog_name(cog), shown)
    if pipeline.esc.failures:
        logger.error(
            "%s failed: %s",
            pipeline.path,
            "; ".join(pipeline.esc.failures[:5]) + ("; ..." if len(pipeline.esc.failures) > 5 else ""),
        )
        return EXIT_ERROR
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deadbeat", description="Event-driven data transformation daemons.")
    parser.add_argument("--version", action="store_true", help="show the core's and every cog distribution's version")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--allow", action="append", metavar="PATTERN", help="only load cogs matching (repeatable)")
    common.add_argument("--strict", action="store_true", help="a cog that cannot load is an error")
    commands = parser.add_subparsers(dest="command")
    cogs = commands.add_parser("cogs", parents=[common], help="list the installed cogs")
    cogs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cogs_commands = cogs.add_subparsers(dest="cogs_command")
    show = cogs_commands.add_parser("show", parents=[common], help="describe one cog")
    show.add_argument("name")
    run = commands.add_parser("run", parents=[common], help="run a pipeline file")
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
    return parser


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"at least 1 worker, not {count}")
    return count


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``deadbeat`` command.

    :returns: the exit status: 0 success, 1 error, 2 usage.
    """
    out = out or sys.stdout
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        return _version(out)
    if args.command == "cogs":
        if args.cogs_command == "show":
            return _cogs_show(args, out)
        return _cogs_list(args, out)
    if args.command == "run":
        return _run(args, out)
    parser.print_help(out)
    return EXIT_USAGE
