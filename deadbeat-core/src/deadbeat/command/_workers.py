"""``deadbeat run --workers N``: N processes of one pipeline, watched by a parent.

Why processes, and why fork before building. One Python process uses one core;
a pipeline whose supplies share their input through a broker's consumer group
(``stream.redis``, ``stream.nats``) can run in several processes that split the
messages between them. The parent reads and checks the pipeline file, then
forks the workers; each worker builds its own pipeline after the fork, so no
event loop, epoll set, inotify descriptor or broker connection is ever shared
between processes (an asyncio loop or a socket copied by ``fork`` is a trap).

Only shareable supplies. A supply that reads a file or a socket would give each
worker the same input, and everything would be written N times; so the parent
refuses a pipeline unless every supply says ``shareable = True``.

Names. Each worker gets ``DEADBEAT_WORKER`` (0 to N-1) in its environment; the
stream supplies build their consumer name from it, so a worker started again
after a crash has its old name and takes up its unacknowledged messages at once.

Signals. The parent blocks SIGTERM, SIGINT, SIGHUP, SIGCHLD and SIGIO and takes
them with ``sigwaitinfo``: nothing runs, and nothing polls, while the workers work.
SIGTERM and SIGINT are passed to every worker (each finishes in order: data in
flight reach the outputs, acknowledgements reach the broker) and the parent
waits for all of them; SIGHUP is passed on (outputs reopen their files).

What the workers say. Each worker has a datagram socket to the parent (its
*link*, a :class:`WorkerLink`) and says on it what a single process says to
systemd, in the same words: ``READY=1`` once its loop turns, ``WATCHDOG=1``
from its loop, ``RELOADING=1`` and ``STOPPING=1``. A datagram arriving raises
SIGIO in the parent (``O_ASYNC``), which wakes it. The start is over once every
worker has said ``READY=1`` or ended; a worker that could not start (it ended
with a failure status before saying it) fails the start: the workers that did
start are stopped in order, and the parent exits 1. Under systemd the parent,
the service's main process, speaks for them all: ``READY=1`` once the start is
over and went well (never when it failed); and with ``WatchdogSec=`` the
parent's ``WATCHDOG=1`` only while every running worker's loop has pinged
within the interval. A worker whose loop is
stuck in a cog stops the service's pings, as a single process's stuck loop does,
and systemd restarts the service. A worker starting (again) or reloading is not
waited for until it says ``READY=1`` once more; one stopping is no longer asked.

A worker that dies. A worker killed by a signal (SIGKILL from the OOM killer
or an operator, a crash of the interpreter), while no stop was asked for, is
logged and started again under the same index after a pause that doubles from
1 s to 60 s (and starts again from 1 s once a worker has run for a minute). A
worker that exits with a failure status has said why in the log (its pipeline
could not start, its output failed for good): starting it again would fail
the same way, so it is not, and the others go on (while the workers start, it
fails the start: see above). A worker that ends with status 0 by itself
(``--once`` found nothing more to read) is not started again either. The
parent exits 1 if any worker failed at any time, even one that was started
again, and 0 otherwise.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import daemon
from ..daemon import Notifier

__all__ = ["Supervisor", "WorkerLink", "unshareable_supplies"]

log = logging.getLogger("deadbeat.workers")

_FIRST_PAUSE = 1.0
_LONGEST_PAUSE = 60.0
#: A worker that ran this long before dying starts again after the first pause.
_STEADY = 60.0
_WATCHED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD, signal.SIGIO)


class WorkerLink(Notifier):
    """A worker's :class:`~deadbeat.daemon.Notifier` whose messages go to its supervisor, not to systemd.

    The worker's run speaks to it as a single process speaks to systemd
    (``READY=1`` once its loop turns, ``WATCHDOG=1`` from the loop at
    :attr:`watchdog_interval`, ``STOPPING=1``); the supervisor decides what
    systemd hears. A message that cannot be sent (the supervisor gone, its queue
    full) is dropped: the worker's loop never waits on it.

    :param link: the worker's end of the datagram socket pair.
    :param watchdog_interval: how often the loop pings; ``None``: no pings.
    """

    def __init__(self, link: socket.socket, watchdog_interval: float | None) -> None:
        super().__init__({})
        self.address = "supervisor"
        self.watchdog_interval = watchdog_interval
        self._link: socket.socket | None = link
        link.setblocking(False)

    def notify(self, **fields: str | int) -> bool:
        if self._link is None:
            return False
        text = "\n".join(f"{key}={str(value).replace(chr(10), ' ')}" for key, value in fields.items())
        try:
            self._link.send(text.encode("utf-8", "replace"))
        except OSError:
            return False
        return True

    def close(self) -> None:
        """Keep the link: the worker's run closes its notifier between reloads, and goes on speaking."""


def unshareable_supplies(cogs: list[tuple[str, str, object]]) -> list[str]:
    """:returns: how to name each supply among ``cogs`` that several workers cannot share.

    :param cogs: ``(where, use, factory)`` of each ``[[cog]]``, in order; a
        supply is the first cog or one marked ``supply``.
    """
    refused = []
    for position, (where, use, factory) in enumerate(cogs):
        is_supply = position == 0 or bool(getattr(factory, "supply", False))
        if is_supply and not getattr(factory, "shareable", False):
            refused.append(f"{where} ({use})")
    return refused


@dataclass
class _Slot:
    """One worker index: its current process, and when to start it again."""

    index: int
    pid: int = 0
    started: float = 0.0
    pause: float = _FIRST_PAUSE
    restart_at: float | None = None
    finished: bool = False
    history: list[str] = field(default_factory=list)
    #: The parent's end of the worker's link (see WorkerLink).
    link: socket.socket | None = None
    #: Said READY=1 and not RELOADING=1 or STOPPING=1 since: its pings are waited for.
    ready: bool = False
    #: Said READY=1 at least once (this process of the slot).
    was_ready: bool = False
    #: Ended with a failure status before it said READY=1, while the workers were starting.
    start_failed: bool = False
    last_ping: float = 0.0
    #: Said in the log that its loop does not ping (once until it pings again).
    stuck_said: bool = False


class Supervisor:
    """Start ``count`` workers, pass stop signals on, start dead ones again, and tell how it went.

    :param count: how many workers.
    :param notifier: tells systemd about the supervisor (READY, STOPPING, watchdog).
    :param work: what a worker does, given its index, the list where stop
        signals received so far are noted (they may come before it is ready
        for them) and its :class:`WorkerLink` to the supervisor (to give the
        run as its notifier); returns its exit status. Runs in the forked
        child, which then exits with that status.
    """

    def __init__(
        self, count: int, work: Callable[[int, list[int], WorkerLink], int], notifier: Notifier | None = None
    ) -> None:
        self.count = count
        self.work = work
        # Under systemd the supervisor is the service's main process: it, not a
        # worker, says ready and stopping and pings the watchdog, for its
        # workers: ready once each of them is, pinging while each one's loop pings.
        self.notifier = notifier if notifier is not None else Notifier({})
        self.interval = self.notifier.watchdog_interval if self.notifier.enabled else None
        #: When the watchdog is pinged next; ``None`` until every worker has started (READY=1 sent).
        self._next_ping: float | None = None
        self.slots = [_Slot(index) for index in range(count)]
        self.stopping = False
        self.failed = False
        #: Whether the start is over: every worker said READY=1 (and so did the supervisor), or one could not start.
        self.started = False

    def run(self) -> int:
        """Run the workers until they have all ended. :returns: 0, or 1 if any worker failed."""
        # A handler of our own for SIGCHLD (not the default "ignore"), and the
        # signals blocked: they wait for sigwaitinfo instead of interrupting us.
        previous_chld = signal.signal(signal.SIGCHLD, _nothing)
        previous_io = signal.signal(signal.SIGIO, _nothing)
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
        try:
            log.info("starting %d workers", self.count)
            for slot in self.slots:
                self._start(slot, old_mask)
            while any(slot.pid for slot in self.slots) or self._restarts_due():
                self._wait(old_mask)
        finally:
            self.notifier.stopping()
            for slot in self.slots:
                _close_link(slot)
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            signal.signal(signal.SIGCHLD, previous_chld)
            signal.signal(signal.SIGIO, previous_io)
        log.info("all workers ended%s", "; some failed" if self.failed else "")
        if self.failed:
            # Ended before every worker had started (a stop, each one failing): said, if still waited for.
            daemon.report_started("the workers ended before they had all started; see the log")
        return 1 if self.failed else 0

    def _restarts_due(self) -> bool:
        return not self.stopping and any(slot.restart_at is not None for slot in self.slots)

    def _wait(self, old_mask: set[int | signal.Signals]) -> None:
        for slot in self.slots:
            self._hear(slot)
        self._check_started()
        now = time.monotonic()
        due = [slot.restart_at for slot in self.slots if slot.restart_at is not None and not self.stopping]
        if self._next_ping is not None and self.interval is not None:
            if self._next_ping <= now:
                self._ping(now)
            due.append(self._next_ping)
        if due:
            info = signal.sigtimedwait(_WATCHED, max(0.0, min(due) - now))
        else:
            info = signal.sigwaitinfo(_WATCHED)
        if info is None:
            for slot in self.slots:
                if slot.restart_at is not None and slot.restart_at <= time.monotonic():
                    self._start(slot, old_mask)
            return
        signum = info.si_signo
        if signum == signal.SIGIO:
            return  # a worker spoke: heard at the next turn
        if signum == signal.SIGCHLD:
            self._reap()
        elif signum in (signal.SIGTERM, signal.SIGINT):
            if not self.stopping:
                log.info("received %s; stopping the workers", signal.Signals(signum).name)
                self.notifier.stopping(f"stopping {self.count} workers")
            self.stopping = True
            for slot in self.slots:
                slot.restart_at = None
            self._pass_on(signum)
        else:
            self._pass_on(signum)

    def _hear(self, slot: _Slot) -> None:
        """Read what the worker of ``slot`` said on its link since the last time."""
        while slot.link is not None:
            try:
                message = slot.link.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                _close_link(slot)
                return
            if not message:
                return
            lines = message.decode("utf-8", "replace").split("\n")
            now = time.monotonic()
            if "READY=1" in lines:
                slot.ready = slot.was_ready = True
                slot.last_ping = now
            if "WATCHDOG=1" in lines:
                slot.last_ping = now
            if "RELOADING=1" in lines or "STOPPING=1" in lines:
                # Between two pipelines, or finishing: no loop pings until it says READY=1 again.
                slot.ready = False
            if slot.stuck_said and slot.last_ping == now:
                slot.stuck_said = False
                log.info("worker %d (pid %d) pings again", slot.index, slot.pid)

    def _check_started(self) -> None:
        """Once every worker has started or ended: READY=1, or, if one could not start, stop the others."""
        if self.started or self.stopping:
            return
        if any(not (slot.was_ready or slot.finished) for slot in self.slots):
            return  # still starting (or started again after a crash)
        self.started = True
        failed = [slot for slot in self.slots if slot.start_failed]
        if failed:
            log.error(
                "%d of %d workers could not start (worker %s); stopping the others",
                len(failed),
                self.count,
                ", ".join(str(slot.index) for slot in failed),
            )
            self.notifier.stopping("a worker could not start")
            daemon.report_started(f"{len(failed)} of {self.count} workers could not start; see the log")
            self.stopping = True
            for slot in self.slots:
                slot.restart_at = None
            self._pass_on(signal.SIGTERM)
            return
        running = sum(1 for slot in self.slots if slot.pid)
        log.info("%d workers started", running)
        self.notifier.ready(f"{self.count} workers started")
        # Detached: the process that started us waited until now, and exits 0.
        daemon.report_started()
        if self.interval is not None:
            self._next_ping = time.monotonic()

    def _ping(self, now: float) -> None:
        """Ping systemd's watchdog, if every running worker's loop pinged within the interval."""
        assert self.interval is not None
        stuck = [
            slot
            for slot in self.slots
            if slot.pid and slot.ready and not self.stopping and now - slot.last_ping > self.interval
        ]
        if not stuck:
            self.notifier.watchdog()
            self._next_ping = now + self.interval
            return
        for slot in stuck:
            if not slot.stuck_said:
                slot.stuck_said = True
                log.warning(
                    "worker %d (pid %d): its loop has not pinged for %.1f s (a cog stuck in a blocking call?);"
                    " the watchdog is not pinged while it does not",
                    slot.index,
                    slot.pid,
                    now - slot.last_ping,
                )
        # Looked at again soon: a ping from the worker (SIGIO) wakes the supervisor before that.
        self._next_ping = now + self.interval / 4

    def _pass_on(self, signum: int) -> None:
        for slot in self.slots:
            if slot.pid:
                try:
                    os.kill(slot.pid, signum)
                except ProcessLookupError:
                    pass  # ended meanwhile; reaped at its SIGCHLD

    def _start(self, slot: _Slot, old_mask: set[int | signal.Signals]) -> None:
        slot.restart_at = None
        _close_link(slot)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                # A stop passed on before the worker is ready must not kill it
                # on the spot: it is noted, and the worker stops in order.
                stop_requested: list[int] = []
                for signum in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(signum, lambda number, _frame: stop_requested.append(number))
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGIO, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
                ours.close()
                for other in self.slots:
                    _close_link(other)  # the supervisor's ends, copied by the fork
                # Detached: the supervisor tells the process that started it how the start went, not us.
                daemon.leave_start_report()
                os.environ["DEADBEAT_WORKER"] = str(slot.index)
                # Pinging at half the supervisor's interval, a worker's ping is never late by a turn of its own.
                link = WorkerLink(theirs, self.interval / 2 if self.interval is not None else None)
                status = self.work(slot.index, stop_requested, link)
            except BaseException:  # noqa: BLE001 - whatever happens, the child must not return into the parent's code
                traceback.print_exc()
            finally:
                logging.shutdown()
                os._exit(status)
        theirs.close()
        ours.setblocking(False)
        try:
            # Each datagram raises SIGIO in the supervisor, which waits for signals alone.
            fcntl.fcntl(ours.fileno(), fcntl.F_SETOWN, os.getpid())
            fcntl.fcntl(ours.fileno(), fcntl.F_SETFL, fcntl.fcntl(ours.fileno(), fcntl.F_GETFL) | os.O_ASYNC)
        except OSError as exc:  # pragma: no cover - every Linux socket takes O_ASYNC
            log.warning("worker %d: its messages will be read late: %s", slot.index, exc)
        slot.link = ours
        slot.pid = pid
        slot.started = time.monotonic()
        slot.ready = slot.was_ready = slot.stuck_said = False
        log.info("worker %d started (pid %d)", slot.index, pid)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = next((s for s in self.slots if s.pid == pid), None)
            if slot is None:
                continue
            self._hear(slot)  # its last words first: did it say READY=1 before it ended?
            _close_link(slot)
            slot.pid = 0
            slot.ready = False
            self._ended(slot, pid, os.waitstatus_to_exitcode(status))

    def _ended(self, slot: _Slot, pid: int, code: int) -> None:
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        slot.history.append(how)
        if code == 0:
            log.info("worker %d (pid %d) ended", slot.index, pid)
            slot.finished = True
            return
        self.failed = True
        if code > 0 and not self.started and not slot.was_ready:
            # It could not start: the start fails once every worker has started or ended (_check_started).
            log.error("worker %d (pid %d) %s (its log says why); not started again", slot.index, pid, how)
            slot.finished = slot.start_failed = True
            return
        if self.stopping:
            log.error("worker %d (pid %d) %s while stopping", slot.index, pid, how)
            return
        if code > 0:
            log.error("worker %d (pid %d) %s (its log says why); not started again", slot.index, pid, how)
            slot.finished = True
            return
        if time.monotonic() - slot.started >= _STEADY:
            slot.pause = _FIRST_PAUSE
        log.error("worker %d (pid %d) %s; starting it again in %g s", slot.index, pid, how, slot.pause)
        slot.restart_at = time.monotonic() + slot.pause
        slot.pause = min(slot.pause * 2, _LONGEST_PAUSE)


def _close_link(slot: _Slot) -> None:
    if slot.link is not None:
        slot.link.close()
        slot.link = None


def _nothing(*_: object) -> None:
    return None
