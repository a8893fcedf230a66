"""What a cog can bind to the Escapement: one type per kind of event source.

A binding records one callback attached to one source: an immediate call, a
timer, a descriptor, an inotify watch, a polled path, a signal or an asyncio task.
Each type knows how to let its source go, so :meth:`Binding.cancel` works the
same for every kind and the Escapement never asks a binding what it is.

Ownership. The *owner* of a binding is the object whose method the callback is
(``self.readable`` is owned by ``self``, and so is
``functools.partial(self.readable, ...)``). The Escapement uses it to pause a
supply's bindings under backpressure, to refuse bindings from a cog that has
finished, and to send the data a cog's callback returns down that cog's train.
A plain function, a lambda or a builtin such as ``os.write`` has no owner.
"""

from __future__ import annotations

import asyncio
import functools
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from ._polling import PollWatch

if TYPE_CHECKING:
    from ._escapement import Escapement

__all__ = [
    "Binding",
    "CallBinding",
    "FdBinding",
    "FdEvent",
    "InotifyBinding",
    "PollBinding",
    "SignalBinding",
    "TaskBinding",
    "TimerBinding",
    "owner_of",
]


def owner_of(callback: Callable[..., Any]) -> object | None:
    """:returns: the object whose method ``callback`` is, or ``None``.

    A :func:`functools.partial` of a method is owned as the method is
    (``partial(self.read, path)`` is ``self``'s). A builtin function's
    ``__self__`` is its module (``os.write``), which owns nothing: such a
    callback is a plain function here.
    """
    while isinstance(callback, functools.partial):
        callback = callback.func
    owner: object | None = getattr(callback, "__self__", None)
    if owner is None or isinstance(owner, types.ModuleType):
        return None
    return owner


class FdEvent(NamedTuple):
    """What fired on a descriptor: passed to callbacks registered with ``pass_event=True``.

    :ivar fd: the descriptor number.
    :ivar mask: the ``select.EPOLL*`` bits epoll reported (``EPOLLHUP`` and
        ``EPOLLERR`` may be among them even when not asked for, as epoll does).
    """

    fd: int
    mask: int


class Binding:
    """A handle on one thing bound to the Escapement; ``cancel()`` unbinds it.

    :ivar callback: what is called, with :attr:`args` (and the event, for the
        kinds that pass one).
    :ivar owner: the object whose method the callback is, or ``None``.
    :ivar keeps_alive: whether this binding keeps ``run()`` from ending by itself.
    :ivar active: ``False`` once cancelled, fired for the last time, or refused.
    :ivar pausable: whether pausing the owner holds this binding's calls back
        (``False`` for a watch whose events the owner only takes note of, and
        must take in the order they came; see :meth:`Escapement.inotify_add`).
    """

    #: A word for log lines and ``repr``; never used to decide anything.
    kind: ClassVar[str] = "binding"
    #: Whether an event that fired while the owner was paused is delivered on
    #: resume. Descriptors need not: re-arming epoll reports them again if ready.
    redeliver: ClassVar[bool] = True

    __slots__ = ("esc", "callback", "args", "owner", "keeps_alive", "active", "pausable")

    def __init__(
        self, esc: Escapement, callback: Callable[..., Any], args: tuple[Any, ...], keeps_alive: bool = True
    ) -> None:
        self.esc = esc
        self.callback = callback
        self.args = args
        self.owner = owner_of(callback)
        self.keeps_alive = keeps_alive
        self.active = True
        self.pausable = True

    def cancel(self) -> None:
        """Unbind: the callback is not called again. Cancelling twice does nothing."""
        if self.active:
            self._let_go()
            self.esc._untrack(self)

    def _let_go(self) -> None:
        """Release the event source (subclasses); called once, from :meth:`cancel`."""

    def suspend(self) -> None:
        """The owner is paused: stop the source from waking us, if it would keep doing so."""

    def unsuspend(self) -> None:
        """The owner resumed: let the source wake us again."""

    def __repr__(self) -> str:
        name = getattr(self.callback, "__qualname__", repr(self.callback))
        return f"<{type(self).__name__} {name}{self._detail()}>"

    def _detail(self) -> str:
        return ""


class CallBinding(Binding):
    """A call made soon, once (:meth:`Escapement.enqueue`)."""

    kind = "call"
    __slots__ = ("handle",)

    def __init__(self, esc: Escapement, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        super().__init__(esc, callback, args)
        self.handle: asyncio.Handle | None = None

    def _let_go(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


class TimerBinding(Binding):
    """A call after a delay, once or every ``interval`` seconds."""

    kind = "timer"
    __slots__ = ("handle", "interval")

    def __init__(
        self,
        esc: Escapement,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
        interval: float | None,
        keeps_alive: bool,
    ) -> None:
        super().__init__(esc, callback, args, keeps_alive)
        self.handle: asyncio.TimerHandle | None = None
        #: Seconds between calls of a repeating timer; ``None`` for a single one.
        self.interval = interval

    def _let_go(self) -> None:
        if self.handle is not None:
            self.handle.cancel()

    def _detail(self) -> str:
        return f" every {self.interval}s" if self.interval is not None else ""


class FdBinding(Binding):
    """A descriptor watched for the ``select.EPOLL*`` events in ``mask``."""

    kind = "fd"
    redeliver = False
    __slots__ = ("fd", "mask", "pass_event", "source", "suspended")

    def __init__(
        self,
        esc: Escapement,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
        fd: int,
        mask: int,
        pass_event: bool,
        source: Any = None,
    ) -> None:
        super().__init__(esc, callback, args)
        self.fd = fd
        self.mask = mask
        #: The object registered (a socket, a file), if not a bare number: found
        #: by it when unregistered after it was closed (its fileno() is then -1).
        self.source = source
        #: Whether the callback gets an :class:`FdEvent` after its arguments.
        self.pass_event = pass_event
        #: True while the owner is paused: the descriptor is out of epoll's set.
        self.suspended = False

    def _let_go(self) -> None:
        self.esc._fd_forget(self)

    def suspend(self) -> None:
        self.suspended = True
        self.esc._fd_sync(self.fd)

    def unsuspend(self) -> None:
        self.suspended = False
        self.esc._fd_sync(self.fd)

    def _detail(self) -> str:
        return f" fd={self.fd} mask={self.mask:#x}"


class InotifyBinding(Binding):
    """An inotify watch on ``path``; the callback gets each event after its arguments."""

    kind = "inotify"
    __slots__ = ("wd", "mask", "path")

    def __init__(
        self, esc: Escapement, callback: Callable[..., Any], args: tuple[Any, ...], wd: int, mask: int, path: str
    ) -> None:
        super().__init__(esc, callback, args)
        self.wd = wd
        self.mask = mask
        self.path = path

    def _let_go(self) -> None:
        self.esc._inotify_forget(self)

    def _detail(self) -> str:
        return f" {self.path}"


class PollBinding(Binding):
    """The polling stand-in for an inotify watch: ``path`` is looked at every ``interval`` seconds."""

    kind = "poll"
    __slots__ = ("watch", "interval", "handle")

    def __init__(
        self, esc: Escapement, callback: Callable[..., Any], args: tuple[Any, ...], watch: PollWatch, interval: float
    ) -> None:
        super().__init__(esc, callback, args)
        self.watch = watch
        self.interval = interval
        self.handle: asyncio.TimerHandle | None = None

    @property
    def path(self) -> str:
        """The polled path."""
        return self.watch.path

    def _let_go(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.watch.close()

    def _detail(self) -> str:
        return f" {self.watch.path} every {self.interval}s"


class SignalBinding(Binding):
    """A call whenever the process receives ``signum``; keeps ``run()`` going only if asked to."""

    kind = "signal"
    __slots__ = ("signum",)

    def __init__(
        self,
        esc: Escapement,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
        signum: int,
        keeps_alive: bool = False,
    ) -> None:
        super().__init__(esc, callback, args, keeps_alive=keeps_alive)
        self.signum = signum

    def _let_go(self) -> None:
        self.esc._signal_forget(self)

    def _detail(self) -> str:
        return f" signal {self.signum}"


class TaskBinding(Binding):
    """An asyncio task; the callback gets its result."""

    kind = "task"
    __slots__ = ("task",)

    def __init__(self, esc: Escapement, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        super().__init__(esc, callback, args)
        self.task: asyncio.Future[Any] | None = None

    def _let_go(self) -> None:
        if self.task is not None:
            self.task.cancel()
