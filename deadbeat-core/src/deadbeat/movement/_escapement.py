"""The Escapement: one event loop per application, on asyncio.

Every binding a cog makes (an immediate call, a timer, a descriptor, an inotify
watch, a signal) is recorded as a :class:`Binding` owned by the cog, taken from the
callback's ``__self__``. Ownership gives three things the manual asks for:

* a callback that returns data sends them on down the train from its owner's
  position, so a supply reading a socket and a DNS cog answering late use the
  same path;
* a Train can pause a supply's bindings while too much data is in flight and
  resume them later, without the supply knowing;
* shutdown can tell which cog still holds a binding after ``finish`` and refuse
  new ones from finished cogs.

``run()`` returns when shutdown has completed. Shutdown starts on SIGTERM or SIGINT,
on :meth:`Escapement.shutdown`, or by itself once nothing is bound any more (every
supply reached the end of its input, as in ``deadbeat run --once``): an idle loop
with nothing that could ever wake it would otherwise wait forever.
"""

from __future__ import annotations

import asyncio
import errno as errno_mod
import inspect
import logging
import os
import select
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import _inotify
from ._inotify import InotifyEvent

if TYPE_CHECKING:
    from ._train import Train

__all__ = ["Binding", "DummyEscapement", "Escapement", "InotifyEvent"]

log = logging.getLogger("deadbeat.movement")

EPOLLIN = select.EPOLLIN
EPOLLPRI = select.EPOLLPRI
EPOLLOUT = select.EPOLLOUT
_READ_MASK = EPOLLIN | EPOLLPRI


def _owner_of(callback: Callable[..., Any]) -> object | None:
    return getattr(callback, "__self__", None)


class Binding:
    """A handle on one thing bound to the Escapement; pass it back to unbind.

    :ivar kind: ``"call"``, ``"timer"``, ``"fd-read"``, ``"fd-write"``,
        ``"inotify"``, ``"poll"``, ``"signal"`` or ``"task"``.
    :ivar owner: the cog whose method is the callback, or ``None``.
    :ivar keeps_alive: whether this binding keeps ``run()`` from ending by itself.
    """

    __slots__ = ("kind", "callback", "args", "owner", "keeps_alive", "key", "handle", "active")

    def __init__(
        self,
        kind: str,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
        key: Any = None,
        keeps_alive: bool = True,
    ) -> None:
        self.kind = kind
        self.callback = callback
        self.args = args
        self.owner = _owner_of(callback)
        self.keeps_alive = keeps_alive
        self.key = key
        self.handle: Any = None
        self.active = True

    def __repr__(self) -> str:
        name = getattr(self.callback, "__qualname__", repr(self.callback))
        return f"<Binding {self.kind} {name} key={self.key!r}>"


class _PollWatch:
    """State of a watch emulated by stat() polling, for systems without inotify."""

    def __init__(self, path: str, mask: int) -> None:
        self.path = path
        self.mask = mask
        self.stat = self._stat(path)
        self.entries = self._list(path)

    @staticmethod
    def _stat(path: str) -> tuple[int, int, int, int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    @classmethod
    def _list(cls, path: str) -> dict[str, tuple[int, int, int, int, int] | None] | None:
        if not os.path.isdir(path):
            return None
        try:
            names = os.listdir(path)
        except OSError:
            return None
        return {name: cls._stat(os.path.join(path, name)) for name in names}

    def changes(self) -> list[tuple[int, str]]:
        """:returns: synthetic (mask, name) events since the last look."""
        found: list[tuple[int, str]] = []
        new = self._stat(self.path)
        old = self.stat
        self.stat = new
        if old is not None and new is None:
            return [(_inotify.IN_DELETE_SELF, ""), (_inotify.IN_IGNORED, "")]
        if old is not None and new is not None and old[:2] != new[:2]:
            return [(_inotify.IN_MOVE_SELF, ""), (_inotify.IN_IGNORED, "")]
        if self.entries is not None:
            entries = self._list(self.path) or {}
            for name in entries.keys() - self.entries.keys():
                found.append((_inotify.IN_CREATE, name))
            for name in self.entries.keys() - entries.keys():
                found.append((_inotify.IN_DELETE, name))
            for name in entries.keys() & self.entries.keys():
                before, after = self.entries[name], entries[name]
                if before is not None and after is not None and before[:2] != after[:2]:
                    found.append((_inotify.IN_DELETE, name))
                    found.append((_inotify.IN_CREATE, name))
                elif before != after:
                    found.append((_inotify.IN_MODIFY, name))
            self.entries = entries
        elif old is not None and new is not None:
            if old[2:4] != new[2:4]:
                found.append((_inotify.IN_MODIFY, ""))
            elif old[4] != new[4]:
                found.append((_inotify.IN_ATTRIB, ""))
        return [(mask, name) for mask, name in found if mask & (self.mask | _inotify.IN_IGNORED)]


class Escapement:
    """The application's event loop; every cog binds its callbacks here.

    :param use_inotify: ``False`` behaves as a system without inotify, which makes
        :attr:`inotify` false (cogs then poll).
    :param use_uvloop: ``None`` uses uvloop when it is installed (the
        ``deadbeat-core[uvloop]`` extra); ``False`` never does.
    :param shutdown_signals: signals that start an orderly shutdown.
    """

    def __init__(
        self,
        *,
        use_inotify: bool = True,
        use_uvloop: bool | None = None,
        shutdown_signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT),
    ) -> None:
        self.loop = self._new_loop(use_uvloop)
        #: Set by ``deadbeat run --once``: supplies read their input to its end and
        #: then unbind, so the application ends when all input is processed.
        self.once: bool = False
        self.trains: list[Train] = []
        self._bindings: set[Binding] = set()
        self._alive = 0
        self._paused: set[int] = set()
        self._stash: dict[int, dict[Any, tuple[Binding, tuple[Any, ...]]]] = {}
        self._finished: set[int] = set()
        self._signals: dict[int, list[Binding]] = {}
        self._shutdown_signals = tuple(shutdown_signals)
        self._stopping: asyncio.Future[None] = self.loop.create_future()
        #: Bindings refused because their owner had finished, as (owner, binding).
        self.refused: list[tuple[object, Binding]] = []
        #: Bindings still held after ``done`` and released by force, as (owner, binding).
        self.leftovers: list[tuple[object | None, Binding]] = []
        self._shutdown_task: asyncio.Task[None] | None = None
        self._running = False
        self._watches: dict[int, list[Binding]] = {}
        self._warned_poll = False
        self._inotify: _inotify.Inotify | None = None
        if use_inotify:
            try:
                self._inotify = _inotify.Inotify()
            except OSError as exc:
                log.warning("inotify unavailable (%s); cogs will poll", exc)
        if self._inotify is not None:
            self.loop.add_reader(self._inotify.fd, self._read_inotify)

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

    def _track(self, binding: Binding) -> Binding:
        owner = binding.owner
        if owner is not None and id(owner) in self._finished:
            log.error("%s: binds %s after finish; refused", owner, binding.kind)
            binding.active = False
            self.refused.append((owner, binding))
            return binding
        self._bindings.add(binding)
        if binding.keeps_alive:
            self._alive += 1
        return binding

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
            self.shutdown()

    def bindings_of(self, owner: object) -> list[Binding]:
        """:returns: the live bindings whose callbacks are methods of ``owner``."""
        return [b for b in self._bindings if b.owner is owner]

    def _dispatch(self, binding: Binding, extra: tuple[Any, ...] = ()) -> None:
        owner = binding.owner
        if owner is not None and id(owner) in self._paused:
            # Coalesce by binding: a paused descriptor or watch needs one wake-up.
            self._stash.setdefault(id(owner), {})[(id(binding), extra)] = (binding, extra)
            if binding.kind == "fd-read":
                self.loop.remove_reader(binding.key)
            elif binding.kind == "fd-write":
                self.loop.remove_writer(binding.key)
            return
        try:
            result = binding.callback(*binding.args, *extra)
        except Exception:
            log.exception("%s: callback %s failed", owner if owner is not None else "-", binding)
            return
        if result is not None:
            if inspect.isawaitable(result):
                self.spawn(result)
            elif owner is not None:
                self.send_from(owner, result)

    def send_from(self, owner: object, data: Iterable[Any]) -> None:
        """Send ``data`` down the train from the position after ``owner``."""
        for train in self.trains:
            if train.has_cog(owner):
                train.send(owner, data)
                return
        log.error("%s: returned data but is in no train; %d data dropped", owner, len(list(data)))

    def reject(self, owner: object, datum: Any, error: Exception) -> None:
        """Send a datum ``owner`` cannot deliver to its train's error output.

        For supplies, which know only the Escapement: an oversize line, bytes that
        do not decode. The error output gets the datum, the error and the supply.
        """
        for train in self.trains:
            if train.has_cog(owner):
                train.reject(owner, datum, error)
                return
        log.error("%s: %s: %s (no train to take the datum: %r)", owner, type(error).__name__, error, datum)

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
        stash = self._stash.pop(id(owner), {})
        for binding, extra in stash.values():
            if not binding.active:
                continue
            if binding.kind == "fd-read":
                self.loop.add_reader(binding.key, self._dispatch, binding)
            elif binding.kind == "fd-write":
                self.loop.add_writer(binding.key, self._dispatch, binding)
            else:
                self.loop.call_soon(self._dispatch, binding, extra)
        if self._alive == 0 and self._running:
            self.loop.call_soon(self._maybe_idle_shutdown)

    def finished(self, owner: object) -> None:
        """Mark ``owner`` as finished: its later bindings are refused and logged."""
        self._finished.add(id(owner))

    # -- immediate events ----------------------------------------------------

    def enqueue(self, callback: Callable[..., Any], *args: Any) -> Binding:
        """Call ``callback(*args)`` soon, from the loop.

        :returns: a handle for :meth:`dequeue`.
        """
        binding = self._track(Binding("call", callback, args))
        if binding.active:

            def fire() -> None:
                self._untrack(binding)
                self._dispatch(binding)

            binding.handle = self.loop.call_soon(fire)
        return binding

    def dequeue(self, what: Binding | Callable[..., Any]) -> int:
        """Cancel queued calls or timers: one handle, or every one of a callable.

        :returns: how many were cancelled.
        """
        if isinstance(what, Binding):
            victims = [what] if what.active else []
        else:
            victims = [b for b in self._bindings if b.kind in ("call", "timer") and b.callback == what]
        for binding in victims:
            if binding.handle is not None:
                binding.handle.cancel()
            self._untrack(binding)
        return len(victims)

    # -- timers --------------------------------------------------------------

    def after(self, delay: float, callback: Callable[..., Any], *args: Any, keeps_alive: bool = True) -> Binding:
        """Call ``callback(*args)`` once, ``delay`` seconds from now.

        :param keeps_alive: ``False`` for a timer (a time-out guard) that must not
            keep ``run()`` going once everything else is done.
        :returns: a handle for :meth:`dequeue`.
        """
        binding = self._track(Binding("timer", callback, args, keeps_alive=keeps_alive))
        if binding.active:

            def fire() -> None:
                self._untrack(binding)
                self._dispatch(binding)

            binding.handle = self.loop.call_later(max(0.0, delay), fire)
        return binding

    def at(self, when: float, callback: Callable[..., Any], *args: Any) -> Binding:
        """Call ``callback(*args)`` once at the wall-clock time ``when`` (epoch seconds)."""
        return self.after(when - time.time(), callback, *args)

    def every(self, interval: float, callback: Callable[..., Any], *args: Any, keeps_alive: bool = True) -> Binding:
        """Call ``callback(*args)`` every ``interval`` seconds until dequeued.

        :param keeps_alive: ``False`` for housekeeping (a status line) that must not
            keep ``run()`` going once everything else is done.
        """
        binding = self._track(Binding("timer", callback, args, keeps_alive=keeps_alive))
        if binding.active:

            def fire() -> None:
                if not binding.active:
                    return
                binding.handle = self.loop.call_later(interval, fire)
                self._dispatch(binding)

            binding.handle = self.loop.call_later(interval, fire)
        return binding

    # -- file descriptors ----------------------------------------------------

    def fd_register(self, fd: Any, eventmask: int, callback: Callable[..., Any], *args: Any) -> list[Binding]:
        """Call ``callback(*args)`` whenever ``fd`` is ready.

        :param fd: a descriptor number or an object with ``fileno()``.
        :param eventmask: ``select.EPOLLIN`` (or ``EPOLLPRI``) for readable,
            ``select.EPOLLOUT`` for writable, or both.
        :returns: the handles made (one per direction).
        """
        fileno = fd if isinstance(fd, int) else fd.fileno()
        made = []
        if eventmask & _READ_MASK:
            self.fd_unregister(fileno, EPOLLIN)
            binding = self._track(Binding("fd-read", callback, args, key=fileno))
            if binding.active:
                self.loop.add_reader(fileno, self._dispatch, binding)
            made.append(binding)
        if eventmask & EPOLLOUT:
            self.fd_unregister(fileno, EPOLLOUT)
            binding = self._track(Binding("fd-write", callback, args, key=fileno))
            if binding.active:
                self.loop.add_writer(fileno, self._dispatch, binding)
            made.append(binding)
        if not made:
            raise ValueError(f"event mask {eventmask:#x} asks for neither EPOLLIN nor EPOLLOUT")
        return made

    def fd_unregister(self, fd: Any, eventmask: int | None = None) -> None:
        """Stop watching ``fd`` (for the directions in ``eventmask``, or all)."""
        fileno = fd if isinstance(fd, int) else fd.fileno()
        kinds = set()
        if eventmask is None or eventmask & _READ_MASK:
            kinds.add("fd-read")
        if eventmask is None or eventmask & EPOLLOUT:
            kinds.add("fd-write")
        for binding in [b for b in self._bindings if b.kind in kinds and b.key == fileno]:
            if binding.kind == "fd-read":
                self.loop.remove_reader(fileno)
            else:
                self.loop.remove_writer(fileno)
            self._untrack(binding)

    # -- inotify -------------------------------------------------------------

    def inotify_add(
        self,
        path: str | os.PathLike[str],
        mask: int,
        callback: Callable[..., Any],
        *args: Any,
        poll_interval: float | None = None,
    ) -> Binding:
        """Call ``callback(*args, event)`` for inotify events on ``path``.

        ``event`` is an :class:`InotifyEvent`. ``IN_Q_OVERFLOW`` (events were lost)
        goes to every watch, with ``wd`` -1; treat it as "look at everything again".

        :param poll_interval: ask for the polling fallback: where inotify is
            missing or out of watches, stat ``path`` every so many seconds and
            deliver equivalent events. Without it those cases raise.
        :raises OSError: when the path cannot be watched and no fallback was asked.
        """
        path = os.fspath(path)
        if self._inotify is not None:
            try:
                wd = self._inotify.add_watch(path, mask | _inotify.IN_MASK_ADD)
            except OSError as exc:
                if exc.errno != errno_mod.ENOSPC or poll_interval is None:
                    raise
                self._warn_poll(f"out of inotify watches at {path}")
            else:
                binding = self._track(Binding("inotify", callback, args, key=(wd, mask, path)))
                if binding.active:
                    self._watches.setdefault(wd, []).append(binding)
                return binding
        elif poll_interval is None:
            raise OSError(errno_mod.ENOSYS, "inotify is not available; pass poll_interval to poll", path)
        else:
            self._warn_poll("inotify is not available")
        return self._poll_add(path, mask, callback, args, poll_interval)

    def _warn_poll(self, why: str) -> None:
        if not self._warned_poll:
            self._warned_poll = True
            log.warning("%s: falling back to polling", why)

    def _poll_add(
        self, path: str, mask: int, callback: Callable[..., Any], args: tuple[Any, ...], interval: float
    ) -> Binding:
        watch = _PollWatch(path, mask)
        binding = self._track(Binding("poll", callback, args, key=(-2, mask, path)))
        if not binding.active:
            return binding

        def look() -> None:
            if not binding.active:
                return
            changes = watch.changes()
            if any(m & _inotify.IN_IGNORED for m, _ in changes):
                self._untrack(binding)
            else:
                binding.handle = self.loop.call_later(interval, look)
            for event_mask, name in changes:
                self._dispatch(binding, (InotifyEvent(-2, event_mask, 0, name),))

        binding.handle = self.loop.call_later(interval, look)
        return binding

    def inotify_rm(self, watch: Binding | str | os.PathLike[str]) -> None:
        """Remove a watch: the handle from :meth:`inotify_add`, or every watch on a path."""
        if isinstance(watch, Binding):
            victims = [watch]
        else:
            path = os.fspath(watch)
            victims = [b for b in self._bindings if b.kind in ("inotify", "poll") and b.key[2] == path]
        for binding in victims:
            if not binding.active:
                continue
            if binding.kind == "poll":
                if binding.handle is not None:
                    binding.handle.cancel()
            else:
                wd = binding.key[0]
                rest = [b for b in self._watches.get(wd, []) if b is not binding]
                if rest:
                    self._watches[wd] = rest
                else:
                    self._watches.pop(wd, None)
                    if self._inotify is not None:
                        self._inotify.rm_watch(wd)
            self._untrack(binding)

    def _read_inotify(self) -> None:
        assert self._inotify is not None
        for event in self._inotify.read():
            if event.mask & _inotify.IN_Q_OVERFLOW:
                targets = [b for bs in self._watches.values() for b in bs]
            else:
                targets = list(self._watches.get(event.wd, ()))
            for binding in targets:
                wanted = binding.key[1] | _inotify.IN_IGNORED | _inotify.IN_Q_OVERFLOW
                if binding.active and event.mask & wanted:
                    self._dispatch(binding, (event,))
            if event.mask & _inotify.IN_IGNORED:
                # The kernel dropped the watch (file deleted, unmounted).
                for binding in self._watches.pop(event.wd, []):
                    self._untrack(binding)

    # -- signals -------------------------------------------------------------

    def signal_register(self, signum: int, callback: Callable[..., Any], *args: Any) -> Binding:
        """Call ``callback(*args)`` whenever the process receives ``signum``.

        Several callbacks may share a signal. Registering for SIGTERM or SIGINT
        adds to the orderly shutdown rather than replacing it.
        """
        binding = self._track(Binding("signal", callback, args, key=signum, keeps_alive=False))
        if binding.active:
            if signum not in self._signals:
                self._signals[signum] = []
                self.loop.add_signal_handler(signum, self._on_signal, signum)
            self._signals[signum].append(binding)
        return binding

    def signal_unregister(self, signum: int, callback: Callable[..., Any] | None = None) -> None:
        """Remove the callbacks for ``signum`` (only ``callback`` if given)."""
        bindings = self._signals.get(signum, [])
        keep = []
        for binding in bindings:
            if callback is None or binding.callback == callback:
                self._untrack(binding)
            else:
                keep.append(binding)
        if keep:
            self._signals[signum] = keep
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

    def spawn(self, awaitable: Awaitable[Any], callback: Callable[..., Any] | None = None, *args: Any) -> Binding:
        """Run a coroutine on the loop; ``callback(*args, result)`` gets its result.

        The task keeps ``run()`` alive until it ends. When the callback is a cog's
        method and returns data, they go down the train from that cog.
        """
        binding = self._track(Binding("task", callback or _ignore, args))
        task = asyncio.ensure_future(awaitable, loop=self.loop)
        binding.handle = task

        def finished(future: asyncio.Future[Any]) -> None:
            self._untrack(binding)
            if future.cancelled():
                return
            exc = future.exception()
            if exc is not None:
                log.error("%s: task failed", binding.owner or "-", exc_info=exc)
            elif callback is not None:
                self._dispatch(binding, (future.result(),))

        task.add_done_callback(finished)
        return binding

    # -- running and stopping ------------------------------------------------

    def run(self) -> None:
        """Run until shutdown has completed (signal, :meth:`shutdown` or nothing bound)."""
        # Before the first callback: a supply's first turn may be long, and a
        # SIGTERM arriving during it must already mean "shut down in order".
        self._catch_shutdown_signals()
        self.loop.run_until_complete(self.serve())

    def _catch_shutdown_signals(self) -> None:
        for signum in self._shutdown_signals:
            if signum not in self._signals:
                self.loop.add_signal_handler(signum, self._on_signal, signum)

    async def serve(self) -> None:
        """Coroutine form of :meth:`run`, for an application that drives the loop itself."""
        self._running = True
        self._catch_shutdown_signals()
        if self._alive == 0:
            self.loop.call_soon(self._maybe_idle_shutdown)
        try:
            await self._stopping
            if self._shutdown_task is not None:
                await self._shutdown_task
        finally:
            self._running = False
            for signum in self._shutdown_signals:
                if signum not in self._signals:
                    self.loop.remove_signal_handler(signum)

    def shutdown(self) -> None:
        """Start the orderly shutdown: every train's ``finish`` then ``done``, then stop."""
        if self._shutdown_task is None:
            self._shutdown_task = self.loop.create_task(self._shutdown())

    def stop(self) -> None:
        """Stop the application: the same orderly shutdown as :meth:`shutdown`.

        There is no way to stop without finishing the cogs, because that would
        lose the data they hold.
        """
        self.shutdown()

    async def _shutdown(self) -> None:
        try:
            for train in self.trains:
                await train.finish()
            for train in self.trains:
                train.done()
            for binding in list(self._bindings):
                if binding.kind == "signal":
                    continue
                if not binding.keeps_alive:
                    # Housekeeping (a status line, a time-out guard) ends quietly.
                    self._release(binding)
                    continue
                log.warning("%s: still bound after done: %r; released", binding.owner or "-", binding)
                self.leftovers.append((binding.owner, binding))
                self._release(binding)
        finally:
            if not self._stopping.done():
                self._stopping.set_result(None)

    def _release(self, binding: Binding) -> None:
        if binding.kind in ("call", "timer", "poll", "task") and binding.handle is not None:
            binding.handle.cancel()
        elif binding.kind == "fd-read":
            self.loop.remove_reader(binding.key)
        elif binding.kind == "fd-write":
            self.loop.remove_writer(binding.key)
        elif binding.kind == "inotify":
            self.inotify_rm(binding)
        self._untrack(binding)

    def close(self) -> None:
        """Release the loop and the inotify descriptor; the Escapement is unusable after."""
        for signum in list(self._signals):
            self.signal_unregister(signum)
        if self._inotify is not None:
            self.loop.remove_reader(self._inotify.fd)
            self._inotify.close()
            self._inotify = None
        if not self.loop.is_closed():
            self.loop.close()


def _ignore(*_: Any) -> None:
    return None


class DummyEscapement:
    """Accepts every Escapement call and binds nothing.

    A finishing cog can swap its ``esc`` for one of these so that code paths that
    would bind again become harmless.
    """

    inotify = False
    once = False

    def __init__(self, *_: Any, **__: Any) -> None:
        self.trains: list[Train] = []

    def _nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    enqueue = dequeue = after = at = every = _nothing
    fd_register = fd_unregister = _nothing
    inotify_add = inotify_rm = _nothing
    signal_register = signal_unregister = _nothing
    pause = resume = finished = send_from = spawn = reject = _nothing
    run = shutdown = stop = close = _nothing

    def bindings_of(self, owner: object) -> list[Binding]:
        return []

    def is_paused(self, owner: object) -> bool:
        return False
