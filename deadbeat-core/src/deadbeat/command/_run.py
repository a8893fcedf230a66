"""``deadbeat run PIPELINE.toml``: build a pipeline from its file and run it."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import TextIO

from .. import daemon
from .. import log as dblog
from .. import pipeline as pipeline_mod
from ..movement._train import cog_name
from ..plugins import CogRegistry
from ._common import EXIT_ERROR, EXIT_OK, add_registry_options, registry_of
from ._workers import Supervisor, unshareable_supplies


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    run.set_defaults(handler=handle)


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


def handle(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``deadbeat run``. :returns: the exit status."""
    # A SIGTERM while the pipeline starts (imports, cogs opening files) must mean
    # "stop in order" too, not the default of dying on the spot.
    stop_requested: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: stop_requested.append(number))
    registry = registry_of(args)
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


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"at least 1 worker, not {count}")
    return count
