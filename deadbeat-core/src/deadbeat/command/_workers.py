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

Signals. The parent blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD and takes them
with ``sigwaitinfo``: nothing runs, and nothing polls, while the workers work.
SIGTERM and SIGINT are passed to every worker (each finishes in order: data in
flight reach the outputs, acknowledgements reach the broker) and the parent
waits for all of them; SIGHUP is passed on (outputs reopen their files).

A worker that dies. A worker killed by a signal (SIGKILL from the OOM killer
or an operator, a crash of the interpreter), while no stop was asked for, is
logged and started again under the same index after a pause that doubles from
1 s to 60 s (and starts again from 1 s once a worker has run for a minute). A
worker that exits with a failure status has said why in the log (its pipeline
could not start, its output failed for good): starting it again would fail
the same way, so it is not, and the others go on. A worker that ends with
status 0 by itself (``--once`` found nothing more to read) is not started again
either. The parent exits 1 if any worker failed at any time, even one that was
started again, and 0 otherwise.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from ..daemon import Notifier

__all__ = ["Supervisor", "unshareable_supplies"]

log = logging.getLogger("deadbeat.workers")

_FIRST_PAUSE = 1.0
_LONGEST_PAUSE = 60.0
#: A worker that ran this long before dying starts again after the first pause.
_STEADY = 60.0
_WATCHED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)


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


class Supervisor:
    """Start ``count`` workers, pass stop signals on, start dead ones again, and tell how it went.

    :param count: how many workers.
    :param notifier: tells systemd about the supervisor (READY, STOPPING, watchdog).
    :param work: what a worker does, given its index and the list where stop
        signals received so far are noted (they may come before it is ready
        for them); returns its exit status. Runs in the forked child, which
        then exits with that status.
    """

    def __init__(self, count: int, work: Callable[[int, list[int]], int], notifier: Notifier | None = None) -> None:
        self.count = count
        self.work = work
        # Under systemd the supervisor is the service's main process: it, not a
        # worker, says ready and stopping and pings the watchdog (from its own
        # loop, so a stuck supervisor stops the pings).
        self.notifier = notifier if notifier is not None else Notifier({})
        self._next_ping = None if self.notifier.watchdog_interval is None else time.monotonic()
        self.slots = [_Slot(index) for index in range(count)]
        self.stopping = False
        self.failed = False

    def run(self) -> int:
        """Run the workers until they have all ended. :returns: 0, or 1 if any worker failed."""
        # A handler of our own for SIGCHLD (not the default "ignore"), and the
        # signals blocked: they wait for sigwaitinfo instead of interrupting us.
        previous_chld = signal.signal(signal.SIGCHLD, _nothing)
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
        try:
            log.info("starting %d workers", self.count)
            for slot in self.slots:
                self._start(slot, old_mask)
            self.notifier.ready(f"{self.count} workers started")
            while any(slot.pid for slot in self.slots) or self._restarts_due():
                self._wait(old_mask)
        finally:
            self.notifier.stopping()
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            signal.signal(signal.SIGCHLD, previous_chld)
        log.info("all workers ended%s", "; some failed" if self.failed else "")
        return 1 if self.failed else 0

    def _restarts_due(self) -> bool:
        return not self.stopping and any(slot.restart_at is not None for slot in self.slots)

    def _wait(self, old_mask: set[int | signal.Signals]) -> None:
        now = time.monotonic()
        due = [slot.restart_at for slot in self.slots if slot.restart_at is not None and not self.stopping]
        if self._next_ping is not None and self.notifier.watchdog_interval is not None:
            if self._next_ping <= now:
                self.notifier.watchdog()
                self._next_ping = now + self.notifier.watchdog_interval
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

    def _pass_on(self, signum: int) -> None:
        for slot in self.slots:
            if slot.pid:
                try:
                    os.kill(slot.pid, signum)
                except ProcessLookupError:
                    pass  # ended meanwhile; reaped at its SIGCHLD

    def _start(self, slot: _Slot, old_mask: set[int | signal.Signals]) -> None:
        slot.restart_at = None
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
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
                os.environ["DEADBEAT_WORKER"] = str(slot.index)
                status = self.work(slot.index, stop_requested)
            except BaseException:  # noqa: BLE001 - whatever happens, the child must not return into the parent's code
                traceback.print_exc()
            finally:
                logging.shutdown()
                os._exit(status)
        slot.pid = pid
        slot.started = time.monotonic()
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
            slot.pid = 0
            self._ended(slot, pid, os.waitstatus_to_exitcode(status))

    def _ended(self, slot: _Slot, pid: int, code: int) -> None:
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        slot.history.append(how)
        if code == 0:
            log.info("worker %d (pid %d) ended", slot.index, pid)
            slot.finished = True
            return
        self.failed = True
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


def _nothing(*_: object) -> None:
    return None
