"""The Escapement: one event loop per application, on asyncio.

The Escapement runs bindings (see :mod:`._bindings`): it calls a cog's method
when a descriptor is ready, a file changes, a timer expires or a signal comes.
It knows nothing about trains. Two small protocols connect it to them:

* a :class:`Receiver` takes the data a cog's callback returns, or a datum a
  supply cannot deliver. A Train registers itself, with :meth:`Escapement.route`,
  as the receiver of each of its cogs; so a supply reading a socket and a DNS cog
  answering late send their data on from their own position, through the same
  path, and a callback that is not a cog's (``esc.enqueue(os.write, fd, b"x")``)
  just runs, whatever it returns.
* a :class:`ShutdownParticipant` is finished, then done, at shutdown, in the
  order it joined with :meth:`Escapement.join_shutdown`. A Train joins when it
  is made; a Train that takes another's failures is finished by that one.

Pausing. Under backpressure a Train pauses its supplies with :meth:`pause`: a
paused owner's bindings are not called. What fires meanwhile is kept (once per
binding and event) and delivered at :meth:`resume`; a descriptor is taken out of
epoll's set instead, and reported again when it is put back if it is still ready.

Descriptors. The Escapement keeps an epoll set of its own, watched by the loop
as one descriptor, so that ``fd_register`` means exactly what the manual says,
"a ``select.epoll`` event": every mask epoll takes works, edge-triggered and
one-shot included, and a callback can learn what fired.

``run()`` returns when shutdown has completed. Shutdown starts on SIGTERM or SIGINT,
on :meth:`Escapement.shutdown`, or by itself once nothing is bound any more (every
supply reached the end of its input, as in ``deadbeat run --once``): an idle loop
with nothing that could ever wake it would otherwise wait forever.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import logging
import os
import select
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, Protocol, TypeVar

import inotify_simple

from . import _allocator, _inotify
from ._bindings import (
    Binding,
    CallBinding,
    FdBinding,
    FdEvent,
    InotifyBinding,
    PollBinding,
    SignalBinding,
    TaskBinding,
    TimerBinding,
)
from ._cog import Cog, Supply
from ._inotify import InotifyEvent
from ._polling import PollWatch

__all__ = ["DummyEscapement", "Escapement", "NullEscapement", "Receiver", "ShutdownParticipant", "finish_time_left"]

log = logging.getLogger("deadbeat.movement")

T = TypeVar("T")

#: Events that mean "readable" or "writable"; any of them makes a watch useful.
_EVENT_BITS = (
    select.EPOLLIN
    | select.EPOLLPRI
    | select.EPOLLRDNORM
    | select.EPOLLRDBAND
    | select.EPOLLRDHUP
    | select.EPOLLOUT
    | select.EPOLLWRNORM
    | select.EPOLLWRBAND
    | select.EPOLLERR
    | select.EPOLLHUP
)
#: How epoll reports them: for the whole descriptor, not per callback.
_FLAG_BITS = select.EPOLLET | select.EPOLLONESHOT | select.EPOLLEXCLUSIVE
#: Always reported by epoll, asked for or not.
_CONDITION_BITS = select.EPOLLERR | select.EPOLLHUP
#: Seconds of descriptor callbacks in one turn of the loop; the descriptors
#: epoll reported beyond that wait for the next turn, so that signals, timers
#: and the rest of the loop's work are not held back by many busy descriptors.
_DESCRIPTOR_TURN = 0.05


class Receiver(Protocol):
    """Where data from a cog's callbacks go: in practice, the Train holding the cog."""

    def send(self, cog: object, data: Iterable[Any], token: Any = None) -> int:
        """Carry ``data`` on from the position after ``cog`` (held data with their hold token)."""
        ...

    def reject(self, cog: object, datum: Any, error: Exception) -> None:
        """Hand a datum ``cog`` cannot deliver to the error output."""
        ...

    def hold(self, count: int = 1, *, current: bool = False, cog: object = None) -> Any:
        """A cog holds ``count`` more data back; returns a token for release."""
        ...

    def release(self, count: int = 1, token: Any = None, *, cog: object = None) -> None:
        """A cog let ``count`` held data go."""
        ...

    def block(self, cog: object) -> None:
        """``cog`` cannot take data now: acknowledge nothing, pause the supplies."""
        ...

    def unblock(self, cog: object) -> None:
        """``cog`` takes data again."""
        ...


class ShutdownParticipant(Protocol):
    """Something finished and then done at shutdown: in practice, a Train."""

    def finish(self) -> Awaitable[None]:
        """Flush and stop binding; awaited before the next participant finishes."""
        ...

    def done(self) -> None:
        """Release everything; called after every participant has finished."""
        ...


_application: Escapement | None = None


class Escapement:
    """The application's event loop; every cog binds its callbacks here.

    :param use_inotify: ``False`` behaves as a system without inotify, which makes
        :attr:`inotify` false (cogs then poll).
    :param use_uvloop: ``None`` uses uvloop when it is installed (the
        ``deadbeat-core[uvloop]`` extra); ``False`` never does.
    :param shutdown_signals: signals that start an orderly shutdown.
    :param shutdown_timeout: seconds the shutdown waits for the cogs' ``finish``;
        ``None`` (the default) waits as long as they take. When it passes, the
        finishing is cancelled, the run counts as failed (see :attr:`failures`)
        and ``done`` follows: what was not written stays unacknowledged.
        ``deadbeat run`` takes it from ``[train] shutdown_timeout``.
    :param tune_allocator: raise glibc's trim and mmap thresholds for the whole
        process (once), so that the large blocks each chunk of input needs are
        not given back to the kernel and faulted in again for the next chunk
        (see "Memory" in :doc:`/production`; measured at more than half the
        time of a file-to-file copy in 128 KiB chunks). ``False`` leaves the
        allocator as it is, as do glibc's own ``MALLOC_*_`` environment
        variables and ``glibc.malloc`` tunables when set.
    """

    def __init__(
        self,
        *,
        use_inotify: bool = True,
        use_uvloop: bool | None = None,
        shutdown_signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT),
        shutdown_timeout: float | None = None,
        tune_allocator: bool = True,
    ) -> None:
        if tune_allocator:
            _allocator.tune_allocator()
        self.loop = self._new_loop(use_uvloop)
        #: Seconds the shutdown waits for the cogs' ``finish`` (``None``: no limit).
        self.shutdown_timeout: float | None = shutdown_timeout
        #: Set by ``deadbeat run --once``: supplies read their input to its end and
        #: then unbind, so the application ends when all input is processed.
        self.once: bool = False
        #: Set when the application built on this Escapement could not start and
        #: was given up before it ran (a pipeline whose cog failed to build):
        #: cogs then save nothing of what they would keep, such as positions.
        self.abandoned: bool = False
        #: Bindings refused because their owner had finished, as (owner, binding).
        self.refused: list[tuple[object, Binding]] = []
        #: Bindings still held after ``done`` and released by force, as (owner, binding).
        self.leftovers: list[tuple[object | None, Binding]] = []
        #: What went wrong that the application could not make good (see :meth:`fail`);
        #: ``deadbeat run`` exits 1 when there is any, and :meth:`run` returns 1.
        self.failures: list[str] = []
        # Every live binding; _alive counts those with keeps_alive. Invariant:
        # _alive == sum(b.keeps_alive for b in _bindings).
        self._bindings: set[Binding] = set()
        self._alive = 0
        # Owners (by id) that are paused, and what fired for them meanwhile, once
        # per binding and event; owners that finished and may bind no more.
        self._paused: set[int] = set()
        self._stash: dict[int, dict[tuple[int, tuple[Any, ...]], tuple[Binding, tuple[Any, ...]]]] = {}
        self._finished: set[int] = set()
        # Owner id -> (owner, receiver); the owner is kept so its id stays its own.
        self._routes: dict[int, tuple[object, Receiver]] = {}
        self._participants: list[ShutdownParticipant] = []
        self._resources: dict[Hashable, Any] = {}
        self._signals: dict[int, list[SignalBinding]] = {}
        self._shutdown_signals = tuple(shutdown_signals)
        self._stopping: asyncio.Future[None] = self.loop.create_future()
        self._shutdown_task: asyncio.Task[None] | None = None
        # When shutdown() was first called (time.monotonic()), or None (see shutdown_elapsed).
        self._shutdown_began: float | None = None
        self._running = False
        self._ended = False
        self._warned_poll = False
        # Callbacks owned by no cog that returned data, already said (see _unowned_data).
        self._said_unowned: set[int] = set()
        #: Bindings whose callback raised: counted as failures once each.
        self._said_failed: set[int] = set()
        # Descriptors: our own epoll set, and what is bound to each descriptor.
        # Invariant: a descriptor is in the set exactly when one of its bindings
        # is neither suspended nor cancelled, with the union of their masks.
        try:
            self._epoll = select.epoll()
        except OSError:
            self.loop.close()  # or it is left open, and said so when collected, beside the real failure
            raise
        self._fds: dict[int, list[FdBinding]] = {}
        self._in_epoll: dict[int, int] = {}
        # What epoll reported and a turn had no time left for (see _read_epoll).
        self._epoll_due: deque[tuple[int, int]] = deque()
        self._epoll_rest_asked = False
        self.loop.add_reader(self._epoll.fileno(), self._read_epoll)
        self._watches: dict[int, list[InotifyBinding]] = {}
        # Inotify calls read from the kernel and not made yet, in order: (binding,
        # event), or (None, event) to drop the watch IN_IGNORED ends. One queue, so
        # that inotify_read from inside a callback keeps every binding's order.
        self._inotify_due: deque[tuple[InotifyBinding | None, InotifyEvent]] = deque()
        self._inotify: inotify_simple.INotify | None = None
        if use_inotify:
            try:
                self._inotify = inotify_simple.INotify(nonblocking=True)
            except OSError as exc:
                log.warning("inotify unavailable (%s); cogs will poll", exc)
        if self._inotify is not None:
            self.loop.add_reader(self._inotify.fileno(), self._read_inotify)
        global _application
        if _application is None or _application._ended or _application.loop.is_closed():
            # The manual's one Escapement per application: the first an app
            # makes is the one a Train made without an Escapement takes.
            _application = self

    @classmethod
    def shared(cls) -> Escapement:
        """:returns: the application's Escapement, made on first use.

        The manual has one Escapement per application: a Train made without one
        uses this, so every such Train shares it. It is the first Escapement the
        application made itself, if that one is still open; once it has run to
        its end or been closed, the next call makes a new one.
        """
        global _application
        if _application is None or _application._ended or _application.loop.is_closed():
            _application = cls()
        return _application

    @staticmethod
    def _new_loop(use_uvloop: bool | None) -> asyncio.AbstractEventLoop:
        if use_uvloop is not False:
            try:
                import uvloop
            except ImportError:
                if use_uvloop:
                    raise
            else:
                return uvloop.new_event_loop()
        return asyncio.new_event_loop()

    # -- bookkeeping ---------------------------------------------------------

    @property
    def inotify(self) -> bool:
        """Whether inotify can be used; check it before :meth:`inotify_add`."""
        return self._inotify is not None

    def _track(self, binding: Binding) -> bool:
        """Record a new binding. :returns: ``False`` when its owner has finished (refused)."""
        owner = binding.owner
        if owner is not None and id(owner) in self._finished:
            log.error("%s: binds %s after finish; refused", owner, binding.kind)
            binding.active = False
            self.refused.append((owner, binding))
            return False
        self._bindings.add(binding)
        if binding.keeps_alive:
            self._alive += 1
        return True

    def _untrack(self, binding: Binding) -> None:
        if binding.active:
            binding.active = False
            self._bindings.discard(binding)
            if binding.keeps_alive:
                self._alive -= 1
                if self._alive == 0 and self._running:
                    # Nothing can wake us any more: end like a batch job would.
                    self.loop.call_soon(self._maybe_idle_shutdown)

    def _maybe_idle_shutdown(self) -> None:
        if self._alive == 0 and self._running and not self._paused:
            log.debug("nothing left bound; shutting down")
            if not self.stopping:
                # Not at an orderly stop, where supplies let go of their bindings as they finish.
                self._say_supplies_waiting_on_signals()
            self.shutdown()

    def _say_supplies_waiting_on_signals(self) -> None:
        """Ending with nothing bound: a supply whose only trigger is a housekeeping signal would never fire.

        A signal handler keeps nothing running by default (SIGHUP to reopen a
        file must not keep ``--once`` going). A supply bound to a signal alone
        most likely meant to wait for it: say so, and how, rather than end in
        silence and be killed by that signal later.
        """
        for binding in list(self._bindings):
            owner = binding.owner
            if not isinstance(binding, SignalBinding) or owner is None or not self._is_supply(owner):
                continue
            log.warning(
                "%s: the application ends now, as nothing else is bound: its %s handler does not keep it"
                " running (esc.signal_register(..., keeps_alive=True) waits for the signal)",
                owner,
                signal.Signals(binding.signum).name,
            )

    def _is_supply(self, owner: object) -> bool:
        """Whether ``owner`` is a supply: a :class:`Supply`, or the first cog of its train."""
        if isinstance(owner, Supply):
            return True
        route = self._routes.get(id(owner))
        if route is None or route[0] is not owner:
            return False
        # The receiver says which of its cogs produce data (a Train: not the
        # first cog of an error output, whose data come from another train).
        supplies: Any = getattr(route[1], "supplies", None)
        if callable(supplies):
            return any(cog is owner for cog in supplies())
        cogs: Any = getattr(route[1], "cogs", None)
        return bool(cogs) and cogs[0] is owner

    def bindings_of(self, owner: object) -> list[Binding]:
        """:returns: the live bindings whose callbacks are methods of ``owner``."""
        return [b for b in self._bindings if b.owner is owner]

    def _dispatch(self, binding: Binding, extra: tuple[Any, ...] = ()) -> None:
        """Call ``binding`` now, or keep the call for later if its owner is paused."""
        owner = binding.owner
        if owner is not None and binding.pausable and id(owner) in self._paused:
            if binding.redeliver:
                self._stash.setdefault(id(owner), {})[(id(binding), extra)] = (binding, extra)
            binding.suspend()
            return
        self._call(binding, extra)

    def _call(self, binding: Binding, extra: tuple[Any, ...]) -> None:
        owner = binding.owner
        if owner is not None and id(owner) in self._finished:
            # The manual: after finish a cog receives no more events (but done).
            log.warning("%s: %r fired after the cog finished; not called", owner, binding)
            return
        try:
            result = binding.callback(*binding.args, *extra)
        except Exception as exc:
            log.exception("%s: callback %r failed", owner if owner is not None else "-", binding)
            # What it had read or taken in before it raised is gone: the run
            # goes on, but its result is failure (said in full once per callback).
            self._callback_failed(binding, exc)
            return
        if result is None:
            return
        if inspect.iscoroutine(result):
            self.spawn(result)
            return
        route = self._routes.get(id(owner)) if owner is not None else None
        if route is not None and route[0] is owner:
            route[1].send(owner, result)
        elif isinstance(owner, Cog):
            # A cog's callback returned data, but no train holds the cog: say so
            # rather than lose them without a word; the run has failed.
            log.error("%s: callback returned data but the cog is in no train; data dropped: %r", owner, result)
            if id(owner) not in self._said_unowned:  # once per cog: each self.method is a new object
                self._said_unowned.add(id(owner))
                self.failures.append(f"{owner}: callback {binding!r} returned data, but the cog is in no train")
        elif _looks_like_data(result):
            # No owner, or one that is no cog (a helper object's bound method).
            self._unowned_data(binding, result)

    def _callback_failed(self, binding: Binding, exc: BaseException) -> None:
        """Count a callback (or a task) that raised as a failure of the run, once per callback."""
        key = id(binding)
        if key in self._said_failed:
            return
        self._said_failed.add(key)
        owner = binding.owner if binding.owner is not None else "-"
        self.failures.append(f"{owner}: {binding!r} failed: {type(exc).__name__}: {exc}")

    def _unowned_data(self, binding: Binding, result: Any) -> None:
        """A callback no cog owns (a lambda, a closure, a callable object) returned data: they have nowhere to go.

        Only a cog's own method (or a ``functools.partial`` of one) tells which
        train and which place in it its data go to. Dropping them is a failure
        of the run, said once per callback, never silence.
        """
        key = id(binding.callback)
        if key in self._said_unowned:
            return  # the run has failed already, and said why
        self._said_unowned.add(key)
        self.fail(
            None,
            f"{binding!r} returned data, but it is no cog's method, so no train takes them: dropped ({result!r:.200})."
            " Bind the cog's own method (or a functools.partial of it), or send the data on with"
            " esc.send_from(cog, data)",
        )

    # -- routes: where a cog's data go (set by the Train) ---------------------------

    def route(self, owner: object, receiver: Receiver) -> None:
        """Make ``receiver`` take the data ``owner``'s callbacks return (a Train does this for its cogs)."""
        self._routes[id(owner)] = (owner, receiver)

    def unroute(self, owner: object, receiver: Receiver | None = None) -> None:
        """Forget where ``owner``'s data go (only if they went to ``receiver``, when given)."""
        route = self._routes.get(id(owner))
        if route is not None and route[0] is owner and (receiver is None or route[1] is receiver):
            del self._routes[id(owner)]

    def send_from(self, owner: object, data: Iterable[Any], token: Any = None) -> None:
        """Send ``data`` on from the position after ``owner`` in its train.

        For supplies that produce several batches in one callback, and for cogs
        that know only the Escapement sending on data they held.

        :param token: for held data, the token :meth:`hold` gave for them (see :meth:`Train.send`).
        :raises LookupError: when ``owner`` is in no train.
        """
        route = self._routes.get(id(owner))
        if route is None or route[0] is not owner:
            raise LookupError(f"{owner} is in no train; its data have nowhere to go")
        route[1].send(owner, data, token)

    def reject(self, owner: object, datum: Any, error: Exception) -> None:
        """Send a datum ``owner`` cannot deliver to its train's error output.

        For supplies: an oversize line, bytes that do not decode, an id setter
        that failed. The error output gets the datum, the error and the supply.
        When ``owner`` is in no train, the datum is logged.
        """
        route = self._routes.get(id(owner))
        if route is None or route[0] is not owner:
            log.error("%s: %s: %s (no train to take the datum: %r)", owner, type(error).__name__, error, datum)
            return
        route[1].reject(owner, datum, error)

    def fail(self, owner: object, message: str) -> None:
        """Report a failure the run goes on past but cannot make good: the run's result is failure.

        For an input that cannot be read, or data that could neither be written
        nor reach the error output. The message is logged, naming ``owner``.
        """
        text = f"{owner}: {message}" if owner is not None else message
        log.error("%s", text)
        self.failures.append(text)

    def _receiver(self, owner: object) -> Receiver | None:
        route = self._routes.get(id(owner))
        return route[1] if route is not None and route[0] is owner else None

    def hold(self, owner: object, count: int = 1, *, current: bool = False) -> Any:
        """``owner`` holds ``count`` more data back: its train's ``hold``, for cogs that know only the Escapement.

        :param current: the data came with the send in progress (see :meth:`Train.hold`).
        :returns: the token for :meth:`release`, or ``None`` when ``owner`` is in no train.
        """
        receiver = self._receiver(owner)
        if receiver is not None:
            return receiver.hold(count, current=current, cog=owner)
        return None

    def release(self, owner: object, count: int = 1, token: Any = None) -> None:
        """``owner`` let ``count`` held data go: its train's :meth:`~Train.release`."""
        receiver = self._receiver(owner)
        if receiver is not None:
            receiver.release(count, token, cog=owner)

    def block(self, owner: object) -> None:
        """``owner``, an output, cannot take data now: its train acknowledges nothing and pauses its supplies."""
        receiver = self._receiver(owner)
        if receiver is not None:
            receiver.block(owner)

    def unblock(self, owner: object) -> None:
        """``owner`` takes data again (see :meth:`block`)."""
        receiver = self._receiver(owner)
        if receiver is not None:
            receiver.unblock(owner)

    # -- resources shared by the cogs of this application -----------------------

    def share(self, key: Hashable, factory: Callable[[], T]) -> T:
        """:returns: this application's one object for ``key``, made by ``factory`` on first use.

        For cogs that name the same resource, such as an fs tailer and an fs
        writer naming one state file: they get one object, owned by this
        Escapement, not by the process.
        """
        try:
            found: T = self._resources[key]
        except KeyError:
            found = self._resources[key] = factory()
        return found

    def unshare(self, key: Hashable) -> None:
        """Forget the shared object for ``key`` (its last user let go of it)."""
        self._resources.pop(key, None)

    # -- pausing (used by the Train for backpressure) -------------------------

    def pause(self, owner: object) -> None:
        """Hold back every callback of ``owner`` until :meth:`resume`."""
        self._paused.add(id(owner))

    def is_paused(self, owner: object) -> bool:
        """:returns: whether ``owner`` is paused; a supply reading in a loop stops early then."""
        return id(owner) in self._paused

    def resume(self, owner: object) -> None:
        """Deliver what was held back for ``owner`` and let its callbacks run again."""
        self._paused.discard(id(owner))
        for binding in self.bindings_of(owner):
            binding.unsuspend()
        for binding, extra in self._stash.pop(id(owner), {}).values():
            # A call, a single timer or a task is spent once it fires; one held
            # back is still due (a task's result is not to be had again). Other
            # bindings cancelled meanwhile are not called.
            if (
                binding.active
                or isinstance(binding, (CallBinding, TaskBinding))
                or getattr(binding, "interval", 0) is None
            ):
                self.loop.call_soon(self._dispatch, binding, extra)
        if self._alive == 0 and self._running:
            self.loop.call_soon(self._maybe_idle_shutdown)

    def finished(self, owner: object) -> None:
        """Mark ``owner`` as finished: its later bindings are refused and logged, and
        nothing held back for it while it was paused is delivered any more."""
        self._finished.add(id(owner))
        self._stash.pop(id(owner), None)

    # -- immediate events ----------------------------------------------------

    def enqueue(self, callback: Callable[..., Any], *args: Any) -> CallBinding:
        """Call ``callback(*args)`` soon, from the loop.

        :returns: a handle for :meth:`dequeue` (or its ``cancel()``).
        """
        binding = CallBinding(self, callback, args)
        if self._track(binding):
            binding.handle = self.loop.call_soon(self._fire_once, binding)
        return binding

    def _fire_once(self, binding: CallBinding | TimerBinding) -> None:
        """A queued call's or a one-shot timer's time has come (see :meth:`enqueue`, :meth:`after`)."""
        # The handle holds the binding: let go of it, or the two live on as a
        # cycle until the collector finds them.
        binding.handle = None
        self._untrack(binding)
        self._dispatch(binding)

    def dequeue(self, what: Binding | Callable[..., Any]) -> int:
        """Cancel queued calls or timers: one handle, or every one of a callable.

        :returns: how many were cancelled.
        """
        if isinstance(what, Binding):
            victims = [what] if what.active else []
        else:
            victims = [b for b in self._bindings if isinstance(b, (CallBinding, TimerBinding)) and b.callback == what]
        for binding in victims:
            binding.cancel()
        return len(victims)

    # -- timers --------------------------------------------------------------

    def after(self, delay: float, callback: Callable[..., Any], *args: Any, keeps_alive: bool = True) -> TimerBinding:
        """Call ``callback(*args)`` once, ``delay`` seconds from now.

        :param keeps_alive: ``False`` for a timer (a time-out guard) that must not
            keep ``run()`` going once everything else is done.
        :returns: a handle for :meth:`dequeue`.
        """
        binding = TimerBinding(self, callback, args, None, keeps_alive)
        if self._track(binding):
            binding.handle = self.loop.call_later(max(0.0, delay), self._fire_once, binding)
        return binding

    def at(self, when: float, callback: Callable[..., Any], *args: Any) -> TimerBinding:
        """Call ``callback(*args)`` once at the wall-clock time ``when`` (epoch seconds)."""
        return self.after(when - time.time(), callback, *args)

    def every(
        self, interval: float, callback: Callable[..., Any], *args: Any, keeps_alive: bool = True
    ) -> TimerBinding:
        """Call ``callback(*args)`` every ``interval`` seconds until dequeued.

        :param keeps_alive: ``False`` for housekeeping (a status line) that must not
            keep ``run()`` going once everything else is done.
        """
        binding = TimerBinding(self, callback, args, interval, keeps_alive)
        if self._track(binding):

            def fire() -> None:
                if binding.active:
                    binding.handle = self.loop.call_later(interval, fire)
                    self._dispatch(binding)

            binding.handle = self.loop.call_later(interval, fire)
        return binding

    # -- file descriptors ----------------------------------------------------

    def fd_register(
        self, fd: Any, eventmask: int, callback: Callable[..., Any], *args: Any, pass_event: bool = False
    ) -> FdBinding:
        """Call ``callback(*args)`` whenever epoll reports an event of ``eventmask`` on ``fd``.

        Any mask ``select.epoll`` accepts works: ``EPOLLIN``/``EPOLLPRI`` for
        readable, ``EPOLLOUT`` for writable, ``EPOLLRDHUP`` or ``EPOLLHUP`` for
        hang-ups, and the flags ``EPOLLET`` (edge-triggered), ``EPOLLONESHOT`` (the
        binding ends after its first event) and ``EPOLLEXCLUSIVE``. Registering
        again for events of the same direction replaces the earlier binding, as
        epoll's own modify would; a reader and a writer may share a descriptor.

        :param fd: a descriptor number or an object with ``fileno()``.
        :param pass_event: give the callback an :class:`FdEvent` (the descriptor
            and the mask that fired) after ``args``.
        :returns: a handle for :meth:`fd_unregister` (or its ``cancel()``).
        :raises ValueError: for a mask with no event, with bits epoll does not
            know, or with other flags than the descriptor's other bindings.
        """
        fileno = fd if isinstance(fd, int) else fd.fileno()
        unknown = eventmask & ~(_EVENT_BITS | _FLAG_BITS)
        if unknown:
            raise ValueError(f"fd {fileno}: event mask {eventmask:#x} has bits epoll does not take here: {unknown:#x}")
        if not eventmask & _EVENT_BITS:
            raise ValueError(
                f"fd {fileno}: event mask {eventmask:#x} asks for no event (EPOLLIN, EPOLLOUT, EPOLLHUP ...)"
            )
        events = eventmask & _EVENT_BITS
        replaced: list[FdBinding] = []
        kept: list[FdBinding] = []
        for other in self._fds.get(fileno, ()):
            other_events = other.mask & _EVENT_BITS
            same_direction = other_events & events & ~_CONDITION_BITS or other_events == events
            (replaced if same_direction else kept).append(other)
        for other in kept:
            if other.mask & _FLAG_BITS != eventmask & _FLAG_BITS:
                raise ValueError(
                    f"fd {fileno}: already watched with flags {other.mask & _FLAG_BITS:#x}; epoll has one set"
                    f" of flags per descriptor, not {eventmask & _FLAG_BITS:#x}"
                )
        for other in replaced:
            other.cancel()
        binding = FdBinding(self, callback, args, fileno, eventmask, pass_event, None if isinstance(fd, int) else fd)
        if self._track(binding):
            self._fds.setdefault(fileno, []).append(binding)
            try:
                self._fd_sync(fileno, strict=True)
            except OSError as exc:
                binding.cancel()
                raise OSError(exc.errno, f"cannot watch fd {fileno}: {exc.strerror}") from None
        return binding

    def fd_unregister(self, fd: Any, eventmask: int | None = None) -> None:
        """Stop watching ``fd`` (for the events in ``eventmask``, or all).

        :param fd: the descriptor (a number or an object with ``fileno()``), or
            the handle :meth:`fd_register` returned: then that registration only.
        """
        if isinstance(fd, FdBinding):
            fd.cancel()
            return
        if isinstance(fd, int):
            bindings = list(self._fds.get(fd, ()))
        else:
            try:
                fileno = fd.fileno()
            except (OSError, ValueError):  # a closed file object
                fileno = -1
            if fileno >= 0:
                bindings = list(self._fds.get(fileno, ()))
            else:
                # Closed before it was unregistered (socket.close(), then this):
                # its bindings are found by the object, or the loop would never end.
                bindings = [b for bs in self._fds.values() for b in bs if b.source is fd]
        for binding in bindings:
            if eventmask is None or binding.mask & eventmask & _EVENT_BITS:
                binding.cancel()

    def _fd_forget(self, binding: FdBinding) -> None:
        rest = [b for b in self._fds.get(binding.fd, ()) if b is not binding]
        if rest:
            self._fds[binding.fd] = rest
        else:
            self._fds.pop(binding.fd, None)
        self._fd_sync(binding.fd)

    def _fd_sync(self, fd: int, strict: bool = False) -> None:
        """Make epoll's set agree with the bindings of ``fd`` (see the invariant in ``__init__``).

        :param strict: let epoll's refusal through (a new registration); otherwise a
            descriptor closed meanwhile is simply forgotten.
        """
        wanted = 0
        for binding in self._fds.get(fd, ()):
            if binding.active and not binding.suspended:
                wanted |= binding.mask
        current = self._in_epoll.get(fd, 0)
        if current == wanted:
            return
        try:
            if not wanted:
                del self._in_epoll[fd]
                self._epoll.unregister(fd)
            elif not current:
                self._epoll.register(fd, wanted)
                self._in_epoll[fd] = wanted
            else:
                self._in_epoll[fd] = wanted
                try:
                    self._epoll.modify(fd, wanted)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:  # EPOLLEXCLUSIVE cannot be modified, only added again
                        raise
                    self._epoll.unregister(fd)
                    self._epoll.register(fd, wanted)
        except FileNotFoundError:
            # The descriptor was closed (and perhaps reused) and epoll dropped it by itself.
            self._in_epoll.pop(fd, None)
            if wanted:
                self._epoll.register(fd, wanted)
                self._in_epoll[fd] = wanted
        except OSError as exc:
            self._in_epoll.pop(fd, None)
            if strict or exc.errno != errno.EBADF:
                raise
            log.debug("fd %d is closed; its watch is gone", fd)

    def _read_epoll(self) -> None:
        """Call the bindings of the descriptors epoll reports ready, for at most :data:`_DESCRIPTOR_TURN` seconds.

        Twenty clients each with megabytes queued (a syslog relay under a
        flood) made one pass over them last seconds, and a SIGTERM waited
        for it, and for the next ones: 11 s to be heard. What is left of a
        pass waits in order for the next turn of the loop, before epoll is
        asked again, so every descriptor still gets its turn.
        """
        due = self._epoll_due
        if not due:
            due.extend(self._epoll.poll(0))
        deadline = time.monotonic() + _DESCRIPTOR_TURN
        while due:
            fd, fired = due.popleft()
            self._call_ready(fd, fired)
            if due and time.monotonic() > deadline:
                if not self._epoll_rest_asked:
                    self._epoll_rest_asked = True
                    self.loop.call_soon(self._read_epoll_rest)
                return

    def _read_epoll_rest(self) -> None:
        """The descriptors a turn of :meth:`_read_epoll` had no time left for."""
        self._epoll_rest_asked = False
        if self._epoll_due:
            self._read_epoll()

    def _call_ready(self, fd: int, fired: int) -> None:
        """Call the bindings of ``fd`` for the events ``fired``."""
        for binding in list(self._fds.get(fd, ())):
            if not binding.active or binding.suspended or not fired & (binding.mask | _CONDITION_BITS):
                continue
            owner = binding.owner
            if owner is not None and id(owner) in self._paused:
                # Out of epoll's set until resume; put back, it is reported
                # again if still ready (edge-triggered and one-shot too).
                binding.suspend()
                continue
            if binding.mask & select.EPOLLONESHOT:
                binding.cancel()  # one event, as epoll gives it
            self._call(binding, (FdEvent(fd, fired),) if binding.pass_event else ())

    # -- inotify -------------------------------------------------------------

    def inotify_add(
        self,
        path: str | os.PathLike[str],
        mask: int,
        callback: Callable[..., Any],
        *args: Any,
        poll_interval: float | None = None,
        pausable: bool = True,
    ) -> InotifyBinding | PollBinding:
        """Call ``callback(*args, event)`` for inotify events on ``path``.

        ``event`` is an :class:`InotifyEvent`. ``IN_Q_OVERFLOW`` (events were lost)
        goes to every watch, with ``wd`` -1; treat it as "look at everything again".

        :param poll_interval: ask for the polling fallback: where inotify is
            missing or out of watches, look at ``path`` every so many seconds and
            deliver the events inotify would have (see :mod:`._polling`).
            Without it those cases raise.
        :param pausable: ``False``: every event reaches the callback at once,
            in its turn, even while the owner is paused. For a callback that
            only takes note of what happened (a directory's creations and
            renames) and leaves the work to calls that pausing holds back.
            (The events of a pausable watch that fire while its owner is
            paused are kept for :meth:`resume` once per kind and name, out of
            their order among the owner's other calls.)
        :raises OSError: when the path cannot be watched and no fallback was asked.
        """
        path = os.fspath(path)
        binding: InotifyBinding | PollBinding
        if self._inotify is not None:
            try:
                wd = self._inotify.add_watch(path, mask | _inotify.IN_MASK_ADD)
            except OSError as exc:
                if exc.errno != errno.ENOSPC or poll_interval is None:
                    raise OSError(exc.errno, exc.strerror, path) from None
                self._warn_poll(f"out of inotify watches at {path}", poll_interval)
            else:
                binding = InotifyBinding(self, callback, args, wd, mask, path)
                binding.pausable = pausable
                if self._track(binding):
                    self._watches.setdefault(wd, []).append(binding)
                return binding
        elif poll_interval is None:
            raise OSError(errno.ENOSYS, "inotify is not available; pass poll_interval to poll", path)
        else:
            self._warn_poll("inotify is not available", poll_interval)
        binding = self._poll_add(path, mask, callback, args, poll_interval)
        binding.pausable = pausable
        return binding

    def _warn_poll(self, why: str, interval: float) -> None:
        if not self._warned_poll:
            self._warned_poll = True
            log.warning("%s: falling back to polling every %.3g s", why, interval)

    def _poll_add(
        self, path: str, mask: int, callback: Callable[..., Any], args: tuple[Any, ...], interval: float
    ) -> PollBinding:
        binding = PollBinding(self, callback, args, PollWatch(path, mask), interval)
        if not self._track(binding):
            return binding

        def look() -> None:
            if not binding.active:
                return
            changes = binding.watch.changes()
            if any(m & _inotify.IN_IGNORED for m, _ in changes):
                self._untrack(binding)
            else:
                binding.handle = self.loop.call_later(interval, look)
            for event_mask, name in changes:
                self._dispatch(binding, (InotifyEvent(_inotify.POLLED_WD, event_mask, 0, name),))

        binding.handle = self.loop.call_later(interval, look)
        return binding

    def inotify_rm(self, watch: Binding | str | os.PathLike[str]) -> None:
        """Remove a watch: the handle from :meth:`inotify_add`, or every watch on a path.

        A path is the watched one however it is spelled (relative or absolute,
        with ``./`` or a trailing slash, through a link): the same name once
        made absolute, or the same file.
        """
        if isinstance(watch, Binding):
            watch.cancel()
            return
        path = os.fspath(watch)
        absolute = os.path.abspath(path)
        for binding in list(self._bindings):
            if isinstance(binding, (InotifyBinding, PollBinding)) and (
                binding.path == path or os.path.abspath(binding.path) == absolute or _same_file(binding.path, path)
            ):
                binding.cancel()

    def _inotify_forget(self, binding: InotifyBinding) -> None:
        rest = [b for b in self._watches.get(binding.wd, ()) if b is not binding]
        if rest:
            self._watches[binding.wd] = rest
            return
        if self._watches.pop(binding.wd, None) is not None and self._inotify is not None:
            try:
                self._inotify.rm_watch(binding.wd)
            except OSError:
                pass  # the kernel dropped it already (file deleted, unmounted)

    def inotify_read(self) -> None:
        """Deliver now the inotify events the kernel has queued, without waiting for the loop.

        The kernel queues an event before the call that caused it returns: a
        callback that looked at a file (``os.stat``) and then calls this has
        been told of every rename and creation that happened before its look.
        Called from an inotify callback, the events read before that callback
        are delivered first, in their order. (Polled watches have no queue:
        nothing happens for them.)
        """
        if self._inotify is not None:
            self._read_inotify()

    def _read_inotify(self) -> None:
        assert self._inotify is not None
        due = self._inotify_due
        for raw in self._inotify.read(timeout=0):
            event = InotifyEvent(*raw)
            if event.mask & _inotify.IN_Q_OVERFLOW:
                due.extend((b, event) for bs in self._watches.values() for b in bs)
            else:
                due.extend((b, event) for b in self._watches.get(event.wd, ()))
            if event.mask & _inotify.IN_IGNORED:
                due.append((None, event))
        # A callback calling inotify_read() drains this queue itself: what was
        # read before its call is delivered first, everywhere, then what it read.
        while due:
            binding, event = due.popleft()
            if binding is None:
                # The kernel dropped the watch (file deleted, unmounted).
                for dropped in self._watches.pop(event.wd, []):
                    self._untrack(dropped)
            elif binding.active and event.mask & (binding.mask | _inotify.IN_IGNORED | _inotify.IN_Q_OVERFLOW):
                self._dispatch(binding, (event,))

    # -- signals -------------------------------------------------------------

    def signal_register(
        self, signum: int, callback: Callable[..., Any], *args: Any, keeps_alive: bool = False
    ) -> SignalBinding:
        """Call ``callback(*args)`` whenever the process receives ``signum``.

        Several callbacks may share a signal. Registering for SIGTERM or SIGINT
        adds to the orderly shutdown rather than replacing it.

        :param keeps_alive: ``True`` for a supply whose only trigger is the
            signal (the manual's "binding themselves to some system event"): the
            application then waits for it instead of ending when nothing else is
            bound. By default a signal handler is housekeeping (SIGHUP to reopen
            a file) and does not keep ``run()`` going, so ``--once`` still ends.
        """
        binding = SignalBinding(self, callback, args, signum, keeps_alive)
        if self._track(binding):
            if signum not in self._signals:
                self._signals[signum] = []
                self.loop.add_signal_handler(signum, self._on_signal, signum)
            self._signals[signum].append(binding)
        return binding

    def signal_unregister(self, signum: int, callback: Callable[..., Any] | None = None) -> None:
        """Remove the callbacks for ``signum`` (only ``callback`` if given)."""
        for binding in list(self._signals.get(signum, ())):
            if callback is None or binding.callback == callback:
                binding.cancel()

    def _signal_forget(self, binding: SignalBinding) -> None:
        signum = binding.signum
        rest = [b for b in self._signals.get(signum, ()) if b is not binding]
        if rest:
            self._signals[signum] = rest
        elif signum in self._signals:
            del self._signals[signum]
            if signum not in self._shutdown_signals or not self._running:
                self.loop.remove_signal_handler(signum)

    def _on_signal(self, signum: int) -> None:
        for binding in list(self._signals.get(signum, ())):
            self._dispatch(binding)
        if signum in self._shutdown_signals:
            log.info("received %s; shutting down", signal.Signals(signum).name)
            self.shutdown()

    # -- asyncio interplay ---------------------------------------------------

    def spawn(self, awaitable: Awaitable[Any], callback: Callable[..., Any] | None = None, *args: Any) -> TaskBinding:
        """Run a coroutine on the loop; ``callback(*args, result)`` gets its result.

        The task keeps ``run()`` alive until it ends. When the callback is a cog's
        method and returns data, they go down the train from that cog.
        """
        binding = TaskBinding(self, callback or _ignore, args)
        task = asyncio.ensure_future(awaitable, loop=self.loop)
        binding.task = task
        if not self._track(binding):
            task.cancel()
            return binding

        def finished(future: asyncio.Future[Any]) -> None:
            self._untrack(binding)
            if future.cancelled():
                return
            exc = future.exception()
            if exc is not None:
                log.error("%s: task failed", binding.owner or "-", exc_info=exc)
                self._callback_failed(binding, exc)
            elif callback is not None:
                self._dispatch(binding, (future.result(),))

        task.add_done_callback(finished)
        return binding

    # -- shutdown order --------------------------------------------------------

    def join_shutdown(self, participant: ShutdownParticipant) -> None:
        """Finish and then end ``participant`` at shutdown, after those that joined before."""
        if participant not in self._participants:
            self._participants.append(participant)

    def leave_shutdown(self, participant: ShutdownParticipant) -> None:
        """Take ``participant`` out of the shutdown (something else finishes it)."""
        if participant in self._participants:
            self._participants.remove(participant)

    # -- running and stopping ------------------------------------------------

    def run(self) -> int:
        """Run until shutdown has completed (signal, :meth:`shutdown` or nothing bound).

        :returns: the exit status the run earns: ``1`` when it had a failure it
            could not make good (:attr:`failures`: an input it could not read,
            data that could neither be written nor reach the error output, a
            cog that would not finish), ``0`` otherwise. An application ends
            with ``sys.exit(esc.run())``, so that such a run does not exit 0.
        """
        # Before the first callback: a supply's first turn may be long, and a
        # SIGTERM arriving during it must already mean "shut down in order".
        self._catch_shutdown_signals()
        serving = self.loop.create_task(self.serve())
        raised: BaseException | None = None
        while True:
            try:
                self.loop.run_until_complete(serving)
                break
            except (SystemExit, KeyboardInterrupt) as exc:
                # sys.exit() in a cog (or a KeyboardInterrupt it raised) ends
                # the loop's turn, not the application's duty: the cogs still
                # finish and send on what they hold, then the exit goes on.
                if serving.done():
                    raise
                if raised is None:
                    raised = exc
                    log.warning("%s raised by a callback; shutting down in order first", type(exc).__name__)
                self.shutdown()
        if raised is not None:
            if isinstance(raised, SystemExit) and raised.code in (None, 0) and self.failures:
                # sys.exit() or sys.exit(0) would report success for a run that failed
                # (a cog exited in the middle of a batch, which stays unacknowledged).
                log.error("the run failed (see above): exiting with status 1, not %r", raised.code or 0)
                raise SystemExit(1) from raised
            raise raised
        return 1 if self.failures else 0

    def _look_at_noted_signals(self) -> None:
        """Have the running loop handle the signals that came before it ran.

        uvloop listens for signals (its self-pipe, the process's wakeup
        descriptor) only while it runs: a signal between signal_register and
        run() (a logrotate SIGHUP while a pipeline starts or reloads) was
        noted by its Python handler and written nowhere, and waited for the
        next signal, for ever if none came. A NUL byte on the wakeup
        descriptor, which no loop takes for a signal, has it look at what was
        noted. Harmless for asyncio's own loop, which listens from the first
        handler on.
        """
        if not self._signals:
            return
        try:
            wakeup = signal.set_wakeup_fd(-1)
            signal.set_wakeup_fd(wakeup, warn_on_full_buffer=False)
        except ValueError:  # not the main thread: the loop listens to no signal
            return
        if wakeup >= 0:
            try:
                os.write(wakeup, b"\0")
            except OSError:  # full: the loop has something to read already
                pass

    def _catch_shutdown_signals(self) -> None:
        for signum in self._shutdown_signals:
            if signum not in self._signals:
                self.loop.add_signal_handler(signum, self._on_signal, signum)

    async def serve(self) -> None:
        """Coroutine form of :meth:`run`, for an application that drives the loop itself."""
        self._running = True
        self._catch_shutdown_signals()
        self._look_at_noted_signals()
        if self._alive == 0:
            self.loop.call_soon(self._maybe_idle_shutdown)
        lost_before = len(_LOST_AFTER_FINISH)
        try:
            await self._stopping
            if self._shutdown_task is not None:
                await self._shutdown_task
            for lost in _LOST_AFTER_FINISH[lost_before:]:
                # Data a cog sent through the manual's DummyEscapement: said in the log, gone.
                self.fail("shutdown", lost)
        finally:
            self._running = False
            self._ended = True
            for signum in self._shutdown_signals:
                if signum not in self._signals:
                    self.loop.remove_signal_handler(signum)

    @property
    def running(self) -> bool:
        """Whether :meth:`run` (or :meth:`serve`) is under way, shutdown included."""
        return self._running

    @property
    def stopping(self) -> bool:
        """Whether the orderly shutdown has started."""
        return self._shutdown_task is not None

    def shutdown(self) -> None:
        """Start the orderly shutdown: each participant's ``finish``, then ``done``, then stop."""
        if self._shutdown_began is None:
            self._shutdown_began = time.monotonic()
        if self._shutdown_task is None:
            self._shutdown_task = self.loop.create_task(self._shutdown())

    def shutdown_elapsed(self) -> float:
        """Seconds since the shutdown began, ``0`` before it.

        For an output whose ``finish`` keeps trying "for ``finish_timeout``
        seconds from the shutdown": the cogs finish one after another, and
        each counting from its own ``finish`` made two outputs take twice as long.
        """
        return 0.0 if self._shutdown_began is None else time.monotonic() - self._shutdown_began

    def stop(self) -> None:
        """Stop the application: the same orderly shutdown as :meth:`shutdown`.

        There is no way to stop without finishing the cogs, because that would
        lose the data they hold.
        """
        self.shutdown()

    async def _shutdown(self) -> None:
        try:
            participants = list(self._participants)
            await self._finish_within_deadline(participants)
            # A few turns of the loop before done(): what the final
            # acknowledgements set going (an answer to a client whose data were
            # just acknowledged, an enqueued completion) runs before resources close.
            for _ in range(3):
                await asyncio.sleep(0)
            for participant in participants:
                participant.done()
            for binding in list(self._bindings):
                if isinstance(binding, SignalBinding):
                    continue
                if binding.keeps_alive:
                    log.warning("%s: still bound after done: %r; released", binding.owner or "-", binding)
                    self.leftovers.append((binding.owner, binding))
                # Housekeeping (a status line, a time-out guard) ends quietly.
                binding.cancel()
        finally:
            if not self._stopping.done():
                self._stopping.set_result(None)

    async def _finish_within_deadline(self, participants: list[ShutdownParticipant]) -> None:
        """Finish every participant in order, for at most :attr:`shutdown_timeout` seconds in all.

        A cog whose ``finish`` never ends (a coroutine waiting for an answer that
        will not come) would otherwise keep the process alive until something
        kills it: under cron for ever, under systemd until its SIGKILL, with no
        word of which cog it was. Past the deadline the finishing is cancelled
        (the Train names the cog it was waiting for); ``done`` still follows, so
        positions of what was acknowledged are saved and files are closed.
        """

        async def finish_all() -> None:
            for participant in participants:
                await participant.finish()

        finishing = self.loop.create_task(finish_all())
        timeout = self.shutdown_timeout
        try:
            finished, _ = await asyncio.wait({finishing}, timeout=timeout)
        except asyncio.CancelledError:
            finishing.cancel()
            raise
        if finished:
            finishing.result()  # a participant's exception goes on as before
            return
        finishing.cancel()
        # A cog that swallows the cancellation gets one more second, not a new wait without end.
        cancelled, _ = await asyncio.wait({finishing}, timeout=1.0)
        if not cancelled:
            log.error("shutdown: a cog's finish ignored its cancellation; it is left behind")
        elif not finishing.cancelled() and finishing.exception() is not None:
            log.error("shutdown: finishing failed while being cancelled", exc_info=finishing.exception())
        self.fail(
            None,
            f"shutdown_timeout ({timeout:g} s) passed before every cog had finished; the finishing was cut"
            " short, and data not yet written stay unacknowledged (a restart reads them again)",
        )

    def close(self) -> None:
        """Release the loop, epoll and inotify descriptors; the Escapement is unusable after."""
        for signum in list(self._signals):
            self.signal_unregister(signum)
        if not self.loop.is_closed():
            self.loop.remove_reader(self._epoll.fileno())
            if self._inotify is not None:
                self.loop.remove_reader(self._inotify.fileno())
        self._epoll_due.clear()
        self._epoll.close()
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
        if not self.loop.is_closed():
            try:
                self.loop.close()
            except RuntimeError as exc:
                # uvloop stays "running" when its run failed to start (no
                # descriptor left for its signal wakeup): that failure is the
                # one to report, not this one; the process ends with the loop.
                log.debug("event loop not closed: %s", exc)
        self._ended = True


def _ignore(*_: Any) -> None:
    return None


class NullEscapement(Escapement):
    """Accepts every Escapement call and binds nothing: the type of :data:`DummyEscapement`.

    A finishing cog can swap its ``esc`` for one of these so that code paths that
    would bind again become harmless (the manual's advice). It is an
    :class:`Escapement` to the type checker; every binding it hands out is
    already inactive, and nothing it is given is ever called. Calling one gives
    a new one, so ``DummyEscapement()`` works as well as ``DummyEscapement``.
    """

    def __init__(self, *_: Any, **__: Any) -> None:  # noqa: D107 - no loop, no descriptors
        self.once = False
        self.abandoned = False
        self.refused = []
        self.leftovers = []
        self.failures = []
        self._running = False
        self._shutdown_task = None
        self._shutdown_began = None

    @property
    def inotify(self) -> bool:
        """Never: a dummy watches nothing."""
        return False

    @classmethod
    def shared(cls) -> NullEscapement:
        return cls()

    def __call__(self, *_: Any, **__: Any) -> NullEscapement:
        """:returns: a new dummy, as if this were the class (``movement.DummyEscapement()``)."""
        return NullEscapement()

    def _inactive(self, binding: Binding) -> Any:
        binding.active = False
        return binding

    def enqueue(self, callback: Callable[..., Any], *args: Any) -> CallBinding:
        return self._inactive(CallBinding(self, callback, args))  # type: ignore[no-any-return]

    def after(self, delay: float, callback: Callable[..., Any], *args: Any, keeps_alive: bool = True) -> TimerBinding:
        return self._inactive(TimerBinding(self, callback, args, None, keeps_alive))  # type: ignore[no-any-return]

    def at(self, when: float, callback: Callable[..., Any], *args: Any) -> TimerBinding:
        return self.after(0, callback, *args)

    def every(
        self, interval: float, callback: Callable[..., Any], *args: Any, keeps_alive: bool = True
    ) -> TimerBinding:
        return self._inactive(TimerBinding(self, callback, args, interval, keeps_alive))  # type: ignore[no-any-return]

    def fd_register(
        self, fd: Any, eventmask: int, callback: Callable[..., Any], *args: Any, pass_event: bool = False
    ) -> FdBinding:
        fileno = fd if isinstance(fd, int) else -1
        return self._inactive(FdBinding(self, callback, args, fileno, eventmask, pass_event))  # type: ignore[no-any-return]

    def inotify_add(
        self,
        path: str | os.PathLike[str],
        mask: int,
        callback: Callable[..., Any],
        *args: Any,
        poll_interval: float | None = None,
        pausable: bool = True,
    ) -> InotifyBinding | PollBinding:
        return self._inactive(InotifyBinding(self, callback, args, -1, mask, os.fspath(path)))  # type: ignore[no-any-return]

    def signal_register(
        self, signum: int, callback: Callable[..., Any], *args: Any, keeps_alive: bool = False
    ) -> SignalBinding:
        return self._inactive(SignalBinding(self, callback, args, signum))  # type: ignore[no-any-return]

    def spawn(self, awaitable: Awaitable[Any], callback: Callable[..., Any] | None = None, *args: Any) -> TaskBinding:
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # never to run: say so to Python, not with a warning
        return self._inactive(TaskBinding(self, callback or _ignore, args))  # type: ignore[no-any-return]

    def dequeue(self, what: Binding | Callable[..., Any]) -> int:
        return 0

    def fd_unregister(self, fd: Any, eventmask: int | None = None) -> None:
        return None

    def inotify_read(self) -> None:
        return None

    def inotify_rm(self, watch: Binding | str | os.PathLike[str]) -> None:
        return None

    def signal_unregister(self, signum: int, callback: Callable[..., Any] | None = None) -> None:
        return None

    def pause(self, owner: object) -> None:
        return None

    def resume(self, owner: object) -> None:
        return None

    def is_paused(self, owner: object) -> bool:
        return False

    def finished(self, owner: object) -> None:
        return None

    def bindings_of(self, owner: object) -> list[Binding]:
        return []

    def route(self, owner: object, receiver: Receiver) -> None:
        return None

    def hold(self, owner: object, count: int = 1, *, current: bool = False) -> Any:
        return None

    def release(self, owner: object, count: int = 1, token: Any = None) -> None:
        return None

    def block(self, owner: object) -> None:
        return None

    def unblock(self, owner: object) -> None:
        return None

    def unroute(self, owner: object, receiver: Receiver | None = None) -> None:
        return None

    def send_from(self, owner: object, data: Iterable[Any], token: Any = None) -> None:
        if isinstance(data, (list, tuple)) and not data:
            return
        log.error("%s: sends data through a DummyEscapement, after finish; they have nowhere to go: %r", owner, data)
        _LOST_AFTER_FINISH.append(f"{owner} sent data through a DummyEscapement after finish: they were lost")

    def reject(self, owner: object, datum: Any, error: Exception) -> None:
        log.error(
            "%s: %s: %s (after finish; no train to take the datum: %r)", owner, type(error).__name__, error, datum
        )
        _LOST_AFTER_FINISH.append(f"{owner} rejected a datum through a DummyEscapement after finish: it was lost")

    def share(self, key: Hashable, factory: Callable[[], T]) -> T:
        return factory()

    def unshare(self, key: Hashable) -> None:
        return None

    def join_shutdown(self, participant: ShutdownParticipant) -> None:
        return None

    def leave_shutdown(self, participant: ShutdownParticipant) -> None:
        return None

    def run(self) -> int:
        return 0

    async def serve(self) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def close(self) -> None:
        return None


# What cogs gave a NullEscapement that a train should have taken (data after
# finish): a dummy belongs to no application, so each run looks here as it ends
# (see Escapement.serve) and fails for what was lost while it ran.
_LOST_AFTER_FINISH: list[str] = []

#: An Escapement that accepts every call and binds nothing (a :class:`NullEscapement`).
#: The manual's form: ``self.esc = movement.DummyEscapement`` in a cog's ``finish``,
#: so that code that would bind again does nothing; ``DummyEscapement()`` gives a new one.
DummyEscapement = NullEscapement()


def _same_file(one: str, other: str) -> bool:
    """Whether two existing names are one file (a missing one is no match)."""
    try:
        return os.path.samefile(one, other)
    except (OSError, ValueError):
        return False


def _looks_like_data(result: Any) -> bool:
    """Whether a callback's result is what a cog returns (data to send on), not a plain value.

    A list or tuple holding something, or a generator, is; an empty one holds
    nothing to lose; a number (``os.write`` returns one), a string, bytes or a
    mapping is only a function's value.
    """
    return (isinstance(result, (list, tuple)) and len(result) > 0) or inspect.isgenerator(result)


def finish_time_left(esc: Any, finish_timeout: float) -> float:
    """Seconds an output's ``finish`` may keep trying: ``finish_timeout`` from the shutdown, at least a second.

    Cogs finish one after another: counted from each one's own ``finish``, two
    outputs that cannot write took twice ``finish_timeout``. The second gets
    what is left, yet one try at least (up to a second, or its whole
    ``finish_timeout`` when shorter), so that a healthy output after a failing
    one still writes what it holds.

    :param esc: the cog's Escapement (any object; one without
        :meth:`Escapement.shutdown_elapsed` counts from now).
    """
    elapsed = getattr(esc, "shutdown_elapsed", None)
    spent = elapsed() if callable(elapsed) else 0.0
    return max(finish_timeout - spent, min(finish_timeout, 1.0))
