"""``deadbeat run PIPELINE.toml``: build a pipeline from its file and run it.

Operations around the run, each opt-in or inert where it does not apply:
``--metrics-port`` serves ``/metrics``, ``/health`` and ``/ready``
(:mod:`deadbeat.metrics`); under systemd (``$NOTIFY_SOCKET``) readiness, status
lines, watchdog pings and stopping are notified (:class:`deadbeat.daemon.Notifier`);
``--stats`` shows the per-cog figures; SIGHUP reloads the pipeline file.

Reload. SIGHUP reads the pipeline file again. Unchanged, nothing more happens
(cogs that listen to SIGHUP themselves, such as ``fs.write`` reopening its file
for logrotate, do their part). Changed but wrong, the running pipeline goes
on and the problems are logged. Changed and valid, the running pipeline shuts
down exactly as at SIGTERM (supplies stop, every datum in flight is written and
acknowledged, positions are saved) and the new one is built and started, taking
up from the saved positions: the guarantee of a restart, without the process
ending. A new pipeline whose cogs cannot start is dropped, and the old one built
again. ``[daemon]`` changes need a restart (the process has detached already).
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

from .. import daemon
from .. import log as dblog
from .. import pipeline as pipeline_mod
from ..movement import Train
from ..movement._train import cog_name
from ..plugins import CogRegistry, missing_library
from ._check import check, feeding_itself, stderr_file
from ._common import EXIT_ERROR, EXIT_OK, plugin_logging_undone, plugin_output_to_stderr, registry_of, write_all
from ._workers import Supervisor, WorkerLink, unshareable_supplies


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


def handle(args: argparse.Namespace, out: TextIO | None) -> int:
    """Run ``deadbeat run``.

    :param out: standard output (``--explain`` prints there), ``None`` when it was closed as the command started.
    :returns: the exit status.
    """
    # A SIGTERM while the pipeline starts (imports, cogs opening files) must mean
    # "stop in order" too, not the default of dying on the spot.
    stop_requested: list[int] = []
    _catch_early_signals(stop_requested)
    registry = registry_of(args)
    try:
        # What a cog module prints as it is imported goes to standard error: standard
        # output may be the data (fs.write to "-").
        with plugin_output_to_stderr(), plugin_logging_undone():
            spec = pipeline_mod.load(args.pipeline, registry, _worker_environ(args))
    except pipeline_mod.PipelineError as exc:
        sys.stderr.write(f"deadbeat: {exc}\n")
        return EXIT_ERROR
    if args.explain:
        if out is None:
            sys.stderr.write("deadbeat: standard output is closed: nowhere to show the explanation\n")
            return EXIT_ERROR
        write_all(out, pipeline_mod.explain(spec))  # a reader gone is no error; a full disk is (exit 1)
        return EXIT_OK
    feeding = feeding_itself(spec, _logs_outside())
    if feeding:
        # Refused before anything is opened: each line read would be written and read again, without end.
        sys.stderr.write("".join(f"deadbeat: {line}\n" for line in feeding))
        return EXIT_ERROR
    if args.workers is not None and args.metrics_port is not None:
        sys.stderr.write("deadbeat: --metrics-port serves one process; it cannot go with --workers\n")
        return EXIT_ERROR
    missing = (
        missing_library("prometheus_client", "deadbeat-core[metrics]", "--metrics-port")
        if args.metrics_port is not None
        else []
    )
    if missing:
        # Said before anything starts: found missing later, /health and /ready would go down with /metrics.
        sys.stderr.write(f"deadbeat: {missing[0]}\n")
        return EXIT_ERROR
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
        if spec.log.get("file"):
            # Before detaching, while the start can still say what is wrong.
            daemon.check_log_file(spec.log["file"])
    except OSError as exc:
        # As deadbeat check words it: the table and key, then what is wrong.
        reason = exc.strerror if isinstance(exc, FileNotFoundError) and exc.strerror else exc
        sys.stderr.write(f"deadbeat: {args.pipeline}: [log]: file: {reason}\n")
        return EXIT_ERROR
    # Detaching changes to [daemon] work_dir ("/" by default): a relative path to the
    # pipeline file would then name another file, or none, and every SIGHUP would read
    # nothing and find the file "unchanged" (so would each worker reading it for
    # ${DEADBEAT_WORKER}). Resolved while the directory is the one it was given in.
    absolute = os.path.abspath(args.pipeline)
    try:
        # Detached, the process that started us waits until the pipeline has started (see _report_started).
        daemon.detach(**spec.daemon, report_when_started=True)
    except daemon.DaemonError as exc:
        sys.stderr.write(f"deadbeat: {args.pipeline}: daemon: {exc}\n")
        return EXIT_ERROR
    if spec.daemon.get("detach"):
        args.pipeline = absolute
    try:
        dblog.configure(**spec.log)
    except OSError as exc:
        sys.stderr.write(f"deadbeat: {args.pipeline}: [log]: {exc}\n")
        return EXIT_ERROR
    if args.workers is not None:
        if stop_requested:
            daemon.report_started()  # stopped before any worker started: nothing failed
            return EXIT_OK

        per_worker = _names_the_worker(args.pipeline)

        def work(index: int, worker_stops: list[int], link: WorkerLink) -> int:
            # In the forked worker: logging anew (handlers of its own), then the
            # pipeline is built here, after the fork (see command._workers). The
            # run tells the supervisor, over the link, what it would tell systemd.
            dblog.configure(**spec.log)
            worker_spec = spec
            if per_worker:
                # ${DEADBEAT_WORKER} (a file of its own per worker): read again with this worker's index.
                try:
                    with plugin_output_to_stderr():
                        worker_spec = pipeline_mod.load(args.pipeline, registry)
                except pipeline_mod.PipelineError as exc:
                    logging.getLogger("deadbeat").error("worker %d: %s", index, exc)
                    return EXIT_ERROR
            return _run_pipeline(args, worker_spec, registry, worker_stops, live_counter=False, notifier=link)

        status = Supervisor(args.workers, work, daemon.Notifier()).run()
        if status == EXIT_OK:
            daemon.report_started()  # ended in order before they had all started (a stop): it went well
        return status
    status = _run_pipeline(args, spec, registry, stop_requested, live_counter=True)
    if status == EXIT_OK:
        daemon.report_started()  # a run over before its first turn: it went well (a failed one exits 1, unreported)
    return status


def _report_started(spec: pipeline_mod.PipelineFile, esc: Any) -> None:
    """Detached: after the first turn of the loop (inputs opened, ports bound), tell the process that started us."""
    if not spec.log.get("file") and not spec.log.get("syslog"):
        logging.getLogger("deadbeat").warning(
            "detached without a [log] file or syslog: from here on the log goes nowhere (give [log] file, or run in the"
            " foreground under a service manager, which keeps standard error)"
        )
    daemon.report_started("; ".join(esc.failures) if esc.failures else None)


def _worker_environ(args: argparse.Namespace) -> dict[str, str] | None:
    """The environment the pipeline file is checked in: with ``--workers``, as worker 0 will read it.

    Each worker has ``DEADBEAT_WORKER`` set to its index and reads the file
    again when it names the variable (an output file per worker); the parent
    checks the file as the first worker will have it.
    """
    if args.workers is None:
        return None
    return {**os.environ, "DEADBEAT_WORKER": "0"}


def _names_the_worker(path: str) -> bool:
    """Whether the pipeline file refers to ``DEADBEAT_WORKER`` (each worker then reads it for itself)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as text:
            return "DEADBEAT_WORKER" in text.read()
    except OSError:
        return False


def _catch_early_signals(stop_requested: list[int], reload_requested: list[int] | None = None) -> None:
    """Signals before the loop runs (imports, cogs opening files) and between two pipelines.

    SIGTERM and SIGINT mean "stop in order", not the default of dying on the
    spot; SIGHUP means "reload" (its default would end the process).
    """
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: stop_requested.append(number))
    hups = reload_requested if reload_requested is not None else []
    signal.signal(signal.SIGHUP, lambda number, _frame: hups.append(number))


def trains_of(pipeline: pipeline_mod.Pipeline) -> list[Train]:
    """:returns: every train of ``pipeline``: the main one, each route's, then the error trains."""
    trains = [pipeline.train]
    router = getattr(pipeline, "router", None)
    for route in getattr(router, "routes", None) or ():
        train = getattr(route, "train", None)
        if isinstance(train, Train):
            trains.append(train)
    for train in list(trains):
        if isinstance(train.error_output, Train):
            trains.append(train.error_output)
    return trains


class _Rates:
    """Rates since the last look, for systemd's status line and the summary lines."""

    def __init__(self) -> None:
        self.last: tuple[float, int, int, int] | None = None

    def line(self, train: Train) -> str:
        now = time.monotonic()
        figures = (now, train.events_in, train.events_out, train.errors)
        rates = ""
        if self.last is not None and now > self.last[0]:
            span = now - self.last[0]
            rates = (
                f"{(figures[1] - self.last[1]) / span:,.0f} in/s, {(figures[2] - self.last[2]) / span:,.0f} out/s,"
                f" {(figures[3] - self.last[3]) / span:,.0f} errors/s; "
            )
        self.last = figures
        totals = f"in {train.events_in:,}, out {train.events_out:,}, errors {train.errors:,}"
        return f"{rates}{totals}, held {train.in_flight:,}"


class _Operations:
    """What runs beside the pipeline and outlives a reload: metrics server, systemd notifier."""

    def __init__(self, args: argparse.Namespace, notify: bool, notifier: daemon.Notifier | None = None) -> None:
        self.args = args
        if notifier is None:
            notifier = daemon.Notifier() if notify else daemon.Notifier({})
        self.notifier = notifier
        self.server: Any = None
        self.pipeline: pipeline_mod.Pipeline | None = None
        self.rates = _Rates()
        #: Failures of the pipelines that ran before this one (reloads): the run exits 1 for them all the
        #: same, so ``deadbeat_failures`` keeps counting them.
        self.failures_before = 0

    def trains(self) -> list[Train]:
        return trains_of(self.pipeline) if self.pipeline is not None else []

    def start_server(self, esc: Any) -> None:
        """Bind the metrics port, once: it stays open across reloads. :raises OSError, ImportError:"""
        if self.args.metrics_port is None or self.server is not None:
            return
        from ..metrics import MetricsServer

        self.server = MetricsServer(esc, self.trains, self.args.metrics_address, self.args.metrics_port)
        self.server.start()
        logging.getLogger("deadbeat").info(
            "metrics at http://%s:%d/metrics (and /health, /ready)", self.args.metrics_address, self.server.port
        )

    def attach(self, pipeline: pipeline_mod.Pipeline, stats: _Stats | None) -> None:
        """Bind this pipeline's timers: systemd readiness, status and watchdog; the stats view."""
        self.pipeline = pipeline
        # The rates of a new pipeline (after a reload) count from its own zero.
        self.rates = _Rates()
        esc = pipeline.esc
        if self.server is not None:
            self.server.esc = esc
            self.server.failures_before = self.failures_before
        if self.args.metrics_port is not None or stats is not None:
            for train in self.trains():
                train.measure = self.args.measure
        if self.notifier.enabled:
            # Ready once the loop turns: the cogs have opened their inputs by then.
            esc.after(0, lambda: self.notifier.ready(self.rates.line(pipeline.train)), keeps_alive=False)
            esc.every(10, lambda: self.notifier.status(self.rates.line(pipeline.train)), keeps_alive=False)
            self.notifier.start_watchdog(functools.partial(esc.every, keeps_alive=False))
            for signum in (signal.SIGTERM, signal.SIGINT):
                esc.signal_register(signum, lambda: self.notifier.stopping("stopping: writing what is in flight"))
        if stats is not None:
            esc.every(stats.interval, stats.show, keeps_alive=False)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        self.notifier.close()


def _run_pipeline(
    args: argparse.Namespace,
    spec: pipeline_mod.PipelineFile,
    registry: CogRegistry,
    stop_requested: list[int],
    live_counter: bool,
    notifier: daemon.Notifier | None = None,
) -> int:
    """Build the pipeline, run it until it ends (again after each reload), log the summary.

    :param live_counter: the run is the process's only one (no ``--workers``): it may show the live
        counter and the stats, and speaks to systemd.
    :param notifier: whom the run tells it is ready, alive and stopping instead (a worker's link to its
        supervisor, see :class:`~deadbeat.command._workers.WorkerLink`).
    :returns: the exit status.
    """
    logger = logging.getLogger("deadbeat")
    operations = _Operations(args, notify=live_counter, notifier=notifier)
    status = EXIT_OK
    reload_requested: list[int] = []
    _catch_early_signals(stop_requested, reload_requested)
    # The pipeline file's text as last applied, and as last refused (see _watch_reload).
    texts = [_read_text(args.pipeline), None]
    previous: pipeline_mod.PipelineFile | None = None
    try:
        while True:
            try:
                pipeline = pipeline_mod.build(spec, registry, once=args.once)
            except pipeline_mod.PipelineError as exc:
                logger.error("%s", exc)
                if previous is None:
                    return EXIT_ERROR
                logger.error("%s: the reloaded pipeline cannot start; building the previous one again", args.pipeline)
                spec, previous = previous, None
                # Refused: the next SIGHUP tries the file again once it has changed,
                # not at every logrotate while it stays as it is.
                texts[0], texts[1] = None, texts[0]
                continue
            try:
                operations.start_server(pipeline.esc)
            except (OSError, ImportError) as exc:
                logger.error("cannot serve metrics on %s:%s: %s", args.metrics_address, args.metrics_port, exc)
                pipeline.esc.close()
                return EXIT_ERROR
            reloaded: list[pipeline_mod.PipelineFile] = []
            # A stop asked for while a reload shuts the pipeline down means no new one.
            for signum in (signal.SIGTERM, signal.SIGINT):
                pipeline.esc.signal_register(signum, stop_requested.append, signum)
            on_hup = _watch_reload(args, registry, pipeline, texts, reloaded, operations.notifier)
            stats = None
            if args.stats is not None and live_counter:
                stats = _Stats(operations.trains, sys.stderr, args.stats, logger)
            operations.attach(pipeline, stats)
            if daemon.start_reported_later():
                pipeline.esc.after(0, functools.partial(_report_started, spec, pipeline.esc), keeps_alive=False)
            progress = None
            if stats is None and live_counter and not args.quiet and (args.progress or sys.stderr.isatty()):
                progress = _Progress(pipeline, sys.stderr)
                pipeline.esc.every(0.5, progress.show, keeps_alive=False)
            if stop_requested:
                logger.info("%s received while starting; shutting down", signal.Signals(stop_requested[0]).name)
                pipeline.esc.shutdown()
            elif reload_requested:
                # A SIGHUP while no loop listened: look at the file now.
                reload_requested.clear()
                pipeline.esc.after(0, on_hup, keeps_alive=False)
            # What exists now (modules, cogs, the generated code) lives as long as
            # the run: out of the collector's sight, a full collection walks only
            # what the data made. Without this each full collection walked the
            # whole program, and a flood of failing data (error records kept a
            # send long) made one per batch. Thawed again for the next pipeline,
            # so that a reload's leftovers can be collected.
            gc.freeze()
            try:
                pipeline.esc.run()
            except OSError as exc:
                note = daemon.descriptor_note(exc)
                if not note:
                    raise
                # The loop itself found no descriptor (for its signal wakeup, its
                # epoll): a traceback would hide the one thing to change.
                logger.error("%s: cannot run: %s%s", args.pipeline, exc, note)
                status = EXIT_ERROR
                break
            finally:
                gc.unfreeze()
                pipeline.esc.close()
                # Between two pipelines no loop listens: signals are kept for the next.
                _catch_early_signals(stop_requested, reload_requested)
            if progress is not None:
                progress.show()
                sys.stderr.write("\n")
            if stats is not None and stats.live:
                stats.show()
            if _summary(pipeline) != EXIT_OK:
                status = EXIT_ERROR
                # At least one: _summary may fail the run for data the error output did not take.
                operations.failures_before += max(1, len(pipeline.esc.failures))
            if not reloaded or stop_requested:
                break
            previous, spec = spec, reloaded[-1]
            try:
                dblog.configure(**spec.log)
            except OSError as exc:
                logger.error("%s: [log]: %s; logging goes on as it was", args.pipeline, exc)
            logger.info("%s: reloading; the new pipeline starts where the old one stopped", args.pipeline)
    finally:
        operations.notifier.stopping()
        operations.close()
    return status


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError):
        return None


def _watch_reload(
    args: argparse.Namespace,
    registry: CogRegistry,
    pipeline: pipeline_mod.Pipeline,
    seen: list[str | None],
    reloaded: list[pipeline_mod.PipelineFile],
    notifier: daemon.Notifier,
) -> Any:
    """Make SIGHUP read the pipeline file again (see the module docstring).

    :param seen: the file's text as last applied, updated on a reload, and as
        last refused: a file refused is not tried again until it changes.
    :param reloaded: receives the new pipeline file once one is valid; the
        running pipeline is then shut down.
    :param notifier: tells systemd of the reload (``RELOADING=1``; the new
        pipeline's ``READY=1`` ends it).
    :returns: the SIGHUP callback.
    """
    logger = logging.getLogger("deadbeat")

    def refuse(new_text: str | None, why: str) -> None:
        # Remembered: a logrotate's SIGHUP while the file stays as it is says so
        # in a line, and fixing the file and sending SIGHUP again applies it.
        seen[1] = new_text
        logger.error("SIGHUP: %s not reloaded, the running pipeline goes on: %s", args.pipeline, why)

    def on_hup() -> None:
        new_text = _read_text(args.pipeline)
        if new_text == seen[0] or reloaded:
            logger.info("SIGHUP: %s unchanged; cogs reopen their files", args.pipeline)
            return
        if new_text is not None and new_text == seen[1]:
            logger.info("SIGHUP: %s unchanged since it was refused; cogs reopen their files", args.pipeline)
            return
        # What deadbeat check finds, but for the ports the running pipeline holds:
        # a file that cannot start must not stop the running pipeline.
        errors, _warnings = check(args.pipeline, registry, once=args.once, probe_ports=False, logs=_logs_outside())
        if errors:
            refuse(new_text, "; ".join(errors))
            return
        try:
            with plugin_output_to_stderr(), plugin_logging_undone():
                spec = pipeline_mod.load(args.pipeline, registry)
        except pipeline_mod.PipelineError as exc:
            refuse(new_text, str(exc))  # changed again since the check
            return
        hazards = reload_hazards(pipeline) + state_files_left(pipeline, spec)
        if hazards:
            refuse(new_text, "; ".join(hazards) + "; restart deadbeat to apply the file")
            return
        seen[0] = new_text
        reloaded.append(spec)
        logger.info("SIGHUP: %s changed and valid; stopping the running pipeline in order to start it", args.pipeline)
        notifier.reloading(f"reloading {args.pipeline}")
        pipeline.esc.shutdown()

    pipeline.esc.signal_register(signal.SIGHUP, on_hup)
    return on_hup


def _logs_outside() -> list[str]:
    """Where the run's log goes besides its ``[log]`` file: standard error, when it is a file."""
    found = stderr_file()
    return [found] if found else []


def reload_hazards(pipeline: pipeline_mod.Pipeline) -> list[str]:
    """Why the running pipeline's cogs, built anew by a reload, would lose or repeat data (their ``reload_hazard``)."""
    found = []
    for train in trains_of(pipeline):
        for cog in train.cogs:
            hazard = getattr(cog, "reload_hazard", None)
            reason = hazard() if callable(hazard) else None
            if reason:
                found.append(f"{cog_name(cog)}: {reason}")
    return found


def state_files_left(pipeline: pipeline_mod.Pipeline, spec: pipeline_mod.PipelineFile) -> list[str]:
    """State files the running pipeline keeps its positions in that the new file no longer names.

    The new pipeline starts from the positions in the state files it names: one
    whose ``state_file`` changed, or went, would read its input again from the
    start (or from its end, losing what came meanwhile), where the promise of a
    reload is that nothing is lost or written twice. A state file the new file
    adds, for a cog of its own, is no hazard.
    """
    running: dict[str, str] = {}
    for train in trains_of(pipeline):
        for cog in train.cogs:
            state_file = getattr(cog, "state_file", None)
            if isinstance(state_file, str) and state_file:
                running.setdefault(os.path.abspath(state_file), cog_name(cog))
    every = [*spec.cogs, *spec.errors, *(cog for route in getattr(spec, "routes", []) for cog in route.cogs)]
    named = {
        os.path.abspath(value) for cog in every if isinstance(value := cog.params.get("state_file"), str) and value
    }
    return [
        f"{name} keeps its positions in {path}, which the new file no longer names: the new pipeline would read"
        " its input again instead of going on from them"
        for path, name in running.items()
        if path not in named
    ]


class _Stats:
    """``--stats``: the per-cog figures, live on a terminal, a summary line every few seconds otherwise."""

    def __init__(
        self, trains: Any, stream: TextIO, interval: float, logger: logging.Logger, live: bool | None = None
    ) -> None:
        self.trains = trains
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self.interval = 1.0 if self.live else interval
        self.logger = logger
        self.shown_lines = 0
        self.rates = _Rates()
        self.previous: dict[tuple[str, int], tuple[float, int | None]] = {}

    def table(self) -> list[str]:
        from ..metrics import snapshot

        now = time.monotonic()
        shot = snapshot(self.trains())
        lines = []
        for train in shot.trains:
            lines.append(
                f"{train.name}: in {train.events_in:,}  out {train.events_out:,}  errors {train.errors:,}"
                f"  held {train.held:,}{'  PAUSED' if train.paused else ''}"
            )
            lines.append(f"  {'#':>3} {'cog':<40} {'in':>12} {'in/s':>10} {'out':>12} {'errors':>8}")
            for cog in train.cogs:
                key = (train.name, cog.position)
                rate = ""
                before = self.previous.get(key)
                if cog.data_in is not None and before is not None and before[1] is not None and now > before[0]:
                    rate = f"{(cog.data_in - before[1]) / (now - before[0]):,.0f}"
                self.previous[key] = (now, cog.data_in)
                shown_in = f"{cog.data_in:,}" if cog.data_in is not None else ""
                shown_out = f"{cog.data_out:,}" if cog.data_out is not None else ""
                figures = f"{shown_in:>12} {rate:>10} {shown_out:>12} {cog.errors:>8,}"
                lines.append(f"  {cog.position:>3} {cog.name[:40]:<40} {figures}")
        return lines

    def show(self) -> None:
        if not self.live:
            trains = self.trains()
            if trains:
                self.logger.info("stats: %s", self.rates.line(trains[0]))
            return
        lines = self.table()
        # Back to the top of the previous view, then each line anew, cleared to its end.
        up = f"\x1b[{self.shown_lines}F" if self.shown_lines else ""
        self.stream.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
        self.stream.flush()
        self.shown_lines = len(lines)


def _unwritten(trains: Iterable[Train]) -> tuple[int, int]:
    """What the outputs of ``trains`` still hold at the end: their ``pending`` figure (see :mod:`deadbeat.metrics`).

    :returns: ``(passed_on, kept)``: the pending data of outputs that sent them
        on down the train as they took them and hold them in the train until
        written (``passes_on_what_it_holds``: stream and socket outputs; they
        count among the data out *and* among those held), and of the others
        (``fs.write`` sends them on without holding them; ``http.post`` holds
        them without sending them on).
    """
    passed_on = kept = 0
    for train in trains:
        for cog in train.cogs:
            metrics = getattr(cog, "metrics", None)
            if getattr(cog, "supply", False) or not callable(metrics):
                continue  # a supply's pending data are unacknowledged input, not output
            try:
                pending = metrics().get("pending", 0)
            except Exception:  # noqa: BLE001 - a cog's figures must not spoil the summary
                continue
            if isinstance(pending, (int, float)) and pending > 0:
                if getattr(cog, "passes_on_what_it_holds", False) is True:
                    passed_on += int(pending)
                else:
                    kept += int(pending)
    return passed_on, kept


def _summary(pipeline: pipeline_mod.Pipeline) -> int:
    """Log what the run did; :returns: the exit status: 1 if anything failed that the run could not make good."""
    logger = logging.getLogger("deadbeat")
    train = pipeline.train
    # Data a cog still held when the run ended (an output that could not deliver
    # them, a cog that never let go): neither out nor dropped; the run has failed.
    held = max(0, train.in_flight)
    trains = trains_of(pipeline)
    error_trains = {id(t.error_output): t.error_output for t in trains if isinstance(t.error_output, Train)}
    # "out" counts what left the last cog; an output that could not write it
    # (a full disk, a peer gone) still holds it, and the line must not read as
    # if all of it were written. An output that sent its data on and holds them
    # until written has them among "out" and among the held alike: said once, as
    # not written. The rest of what an output keeps is in ``held`` (http.post,
    # holding what it has not delivered) or not (fs.write): what ``held`` does
    # not explain is among "out", not written.
    passed_on, kept = _unwritten(t for t in trains if id(t) not in error_trains)
    held = max(0, held - passed_on)
    unwritten = passed_on + max(0, kept - held)
    # With routes, what went out is what left the routes' last cogs: data a
    # route's filter dropped or its aggregate merged never went out.
    router = getattr(pipeline, "router", None)
    route_trains = [r.train for r in getattr(router, "routes", None) or () if isinstance(r.train, Train)]
    out = sum(t.events_out for t in route_trains) if route_trains else train.events_out
    # Outputs one after another may each still hold the same datum: it is one
    # datum not written, however many outputs lack it. No more than went out.
    unwritten = min(unwritten, out)
    # Data held by an output may have been counted out already (it passed them on
    # and holds them until written), so held data only explain a gap, never make
    # one: a split shows only when more went out than came in.
    gap = train.events_in - out - train.errors
    rest = max(0, gap - held) if gap > 0 else gap
    balance = ""
    if rest > 0:
        balance = f", dropped by filters or merged {rest}"
    elif rest < 0:
        balance = f", more out than in by splits {-rest}"
    # Failed data the error output did not take: it raised, gave up on records it
    # had taken, or failed on them in one of its own cogs (a format, or an output
    # rejecting what it cannot write through Escapement.reject). Each is only in
    # the log, as a dead-letter line.
    logger.info(
        "%s finished: in %d, out %d%s, errors %d%s%s",
        pipeline.path,
        train.events_in,
        out,
        f" ({unwritten} of them not written, not acknowledged)" if unwritten else "",
        train.errors,
        f", held at the end (not written, not acknowledged) {held}" if held else "",
        balance,
    )
    undelivered = sum(t.undelivered for t in trains) + sum(t.errors for t in error_trains.values())
    # What the [[errors]] cogs themselves dropped (a filter there): taken, not written.
    dropped_there = sum(max(0, t.events_in - t.events_out - t.errors) for t in error_trains.values())
    if train.errors and not undelivered:
        logger.warning(
            "%d of %d data failed and went to the error output%s",
            train.errors,
            train.events_in,
            f" ({dropped_there} of them dropped there, by its own cogs)" if dropped_there else "",
        )
    elif train.errors:
        logger.warning("%d of %d data failed", train.errors, train.events_in)
    if undelivered:
        logger.error(
            "%d failed data were not delivered: the error output failed on them; each is only in the log,"
            " as a dead-letter line",
            undelivered,
        )
    # What each cog counted: those of the train, then those of each route (a dedupe's drops in a route).
    counted = [(f"cog[{position}]", cog) for position, cog in enumerate(train.cogs)]
    for route in getattr(router, "routes", None) or ():
        if isinstance(route.train, Train):
            counted += [(f"route {route.name} cog[{i}]", cog) for i, cog in enumerate(route.train.cogs)]
    for where, cog in counted:
        counts = getattr(cog, "counts", None)
        if isinstance(counts, dict) and any(counts.values()):
            shown = ", ".join(f"{name} {value}" for name, value in counts.items() if value)
            logger.info("%s: %s %s: %s", pipeline.path, where, cog_name(cog), shown)
    failures = list(pipeline.esc.failures)
    if undelivered and not failures:
        # The error output's own cogs refused the records (an fs.write given
        # mappings without a formatter before it): the operator asked for an
        # error output and it took none of these, so the run did not do its job.
        failures.append(f"the error output did not take {undelivered} failed data (they are only in the log)")
    if failures:
        logger.error(
            "%s failed: %s",
            pipeline.path,
            "; ".join(failures[:5]) + ("; ..." if len(failures) > 5 else ""),
        )
        return EXIT_ERROR
    return EXIT_OK
