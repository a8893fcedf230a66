"""The broadcast hook specification, and how a cog's methods take part in it.

Broadcasts are pluggy hooks. Cog authors do not import pluggy or mark anything:
a cog takes part in a broadcast by having a method of the broadcast's name,
whatever its parameters are called (``event_done(self, eid)`` is as good as
``event_done(self, event_id)``). pluggy matches arguments by name, so each cog is
registered through a :class:`Participant` whose hook implementations carry the
specification's argument names and call the cog's methods positionally.

A method whose signature cannot take a broadcast's arguments (a cog's own
``flush(self, force)``, say) is not an error: it is logged once, naming the cog
and the method, and the cog is left out of that broadcast only.

The original manual reserves four names: ``event_done``, ``event_rename``,
``finish`` and ``done``. Deadbeat's own broadcasts (``batch_done``, ``flush``,
``checkpoint``) take only methods marked with :func:`hook`: a cog written to the
manual may well have a ``flush()`` of its own (its ``finish`` calls it to send
what it keeps), and that one must not be called after every batch with what it
returns thrown away. An unmarked method of such a name is logged once and left
out.

The Train calls the implementations itself, in train order, rather than through
pluggy's call loop: one cog that raises must not keep the broadcast from the
cogs after it (pluggy stops at the first exception), and ``finish`` may return
data or a coroutine that the Train carries on from that cog's position.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pluggy

__all__ = [
    "BROADCASTS",
    "OWN_BROADCASTS",
    "BroadcastManager",
    "BroadcastSpec",
    "Implementation",
    "Participant",
    "PROJECT",
    "hook",
]

log = logging.getLogger("deadbeat.train")

PROJECT = "deadbeat"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class BroadcastSpec:
    """The broadcasts a Train sends to its cogs."""

    @hookspec
    def event_done(self, event_id: Any) -> None:
        """Processing of the event ``event_id`` has finished.

        Sent by the Train once for each datum a supply sent in, with the id that
        datum carried (as the train's ``id_getter`` reads it: the id the supply's
        ``id_setter`` gave it, the one error records show), when the datum has
        left the train: written by the outputs, dropped by a filter, merged, or
        delivered to the error output. Every cog may now release what it keeps
        for that event. A cog may send it too (``train.notify("event_done", id)``).

        Sent only to trains where some cog has this method, so that the ids are
        read only when somebody listens.

        :param event_id: the event's id.
        """

    @hookspec
    def event_rename(self, event_id: Any, new_id: Any) -> None:
        """The event ``event_id`` goes on as (part of) the event ``new_id``.

        Sent by a cog that merges or splits data, so that what was kept for the
        old id can be found under the new one. The old id may be forgotten. A
        cog may take only the first argument, as in the original manual.

        :param event_id: the id that stops travelling.
        :param new_id: the id it is now part of.
        """

    @hookspec
    def batch_done(self, batch_id: Any) -> None:
        """Every datum of the supply's batch ``batch_id`` has left the train.

        Sent once per :class:`~deadbeat.movement.Batch` (the unit a supply reads:
        a chunk of a file, a message set from a broker), right after the
        ``flush`` that wrote its data, and never while a cog still holds data
        back. A supply acknowledges its source or notes its position here, at no
        cost per datum; an output notes how far it has written.

        :param batch_id: the id the supply gave the batch.
        """

    @hookspec
    def flush(self) -> None:
        """Write out what is buffered.

        Sent by the Train at the end of every ``send`` (one supply batch, or data
        a cog sent on late), so outputs may collect data and write them with one
        system call per batch, never per datum, without adding latency. When the
        batches sent so far are complete (nothing is held), it comes just before
        their ``event_done`` and ``batch_done``: an output that writes (and
        syncs, if configured) here can never be acknowledged ahead of its data.
        """

    @hookspec
    def checkpoint(self) -> None:
        """Persist state now: everything acknowledged so far is done.

        Sent after the ``event_done`` and ``batch_done`` broadcasts that follow a
        ``flush``. Cogs note what the acknowledgements mean for them in
        ``batch_done`` (a tailer its positions, an output the offset it has
        written to) and save here, so that what they save together describes the
        same moment.
        """

    @hookspec
    def finish(self) -> Any:
        """The application is shutting down; called once per cog, in train order.

        The cog flushes its caches and sends down the train every datum it still
        holds: either by returning an iterable of data (they continue from the
        cog's position) or by calling ``train.send``. A coroutine returned here is
        awaited before the next cog finishes, so answers still on their way can
        arrive. The cog releases every binding and binds nothing new afterwards.
        """

    @hookspec
    def done(self) -> None:
        """Every cog has finished; release all remaining resources.

        Called once per cog, in train order, after all ``finish`` calls. The event
        loop ends after the last one.
        """


#: Names of the broadcasts of :class:`BroadcastSpec`: the manual's four, plus
#: ``batch_done``, ``flush`` and ``checkpoint`` for acknowledging whole batches.
BROADCASTS = ("event_done", "event_rename", "batch_done", "flush", "checkpoint", "finish", "done")

#: Deadbeat's own broadcasts, names the original manual never reserved: a cog
#: takes part only with a method marked :func:`hook`.
OWN_BROADCASTS = frozenset({"batch_done", "flush", "checkpoint"})

_MARK = "__deadbeat_hook__"

_Method = TypeVar("_Method", bound=Callable[..., Any])


def hook(method: _Method) -> _Method:
    """Mark a cog's method as taking part in Deadbeat's own broadcast of its name.

    ``batch_done``, ``flush`` and ``checkpoint`` are names the original manual
    never reserved, so a method of one of these names joins the broadcast only
    when marked; an override inherits the mark of the method it overrides. The
    manual's broadcasts (``event_done``, ``event_rename``, ``finish``,
    ``done``) need no mark::

        class Output(movement.Cog):
            @movement.hook
            def flush(self) -> None:
                self.file.write(...)

    :param method: the method (a function in the class body).
    :returns: the same method, marked.
    """
    setattr(method, _MARK, True)
    return method


def _marked(cog: object, name: str) -> bool:
    """Whether the cog's method ``name`` is marked with :func:`hook`, where its class or an ancestor defines it."""
    if getattr(getattr(cog, name, None), _MARK, False):
        return True
    return any(getattr(klass.__dict__.get(name), _MARK, False) for klass in type(cog).__mro__)


#: Fewest arguments a method may take for each broadcast, where that is fewer
#: than the specification has: the manual's ``event_rename(event_id)``.
_FEWEST = {"event_rename": 1}


def _spec_argnames(name: str) -> tuple[str, ...]:
    parameters = list(inspect.signature(getattr(BroadcastSpec, name)).parameters)
    return tuple(parameters[1:])  # without self


_SPEC_ARGNAMES = {name: _spec_argnames(name) for name in BROADCASTS}


def _arguments_taken(method: Callable[..., Any], offered: int, fewest: int) -> int | None:
    """:returns: how many of ``offered`` arguments ``method`` takes positionally; ``None`` if it cannot."""
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        return offered  # a builtin without a signature: trust it
    for count in range(offered, fewest - 1, -1):
        try:
            signature.bind(*range(count))
        except TypeError:
            continue
        return count
    return None


@dataclass(frozen=True)
class Implementation:
    """One cog's method taking part in one broadcast.

    :ivar method: the cog's bound method.
    :ivar taken: how many of the broadcast's arguments it takes (leading ones).
    :ivar cog: the cog.
    """

    method: Callable[..., Any]
    taken: int
    cog: object


class Participant:
    """What is registered with pluggy for one cog: an implementation per fitting method.

    Each attribute named like a broadcast is a function with the specification's
    argument names (so pluggy validates it) that calls the cog's method with as
    many of the arguments as the method takes; :attr:`implementations` holds the
    same as :class:`Implementation` records, which the Train calls directly.

    :param cog: the cog.
    :param misfit: told the cog and the name of each method that cannot take
        its broadcast's arguments (the caller logs it).
    :param unmarked: told the cog and the name of each method named like one of
        :data:`OWN_BROADCASTS` but not marked with :func:`hook` (the caller logs it).
    """

    def __init__(
        self,
        cog: object,
        misfit: Callable[[object, str], None],
        unmarked: Callable[[object, str], None] | None = None,
    ) -> None:
        self.cog = cog
        self.implementations: dict[str, Implementation] = {}
        for name in BROADCASTS:
            try:
                method = getattr(cog, name, None)
            except Exception:  # noqa: BLE001 - a property that raises: no method to call
                misfit(cog, name)
                continue
            if method is None or not callable(method):
                continue
            if name in OWN_BROADCASTS and not _marked(cog, name):
                if unmarked is not None:
                    unmarked(cog, name)
                continue
            offered = len(_SPEC_ARGNAMES[name])
            taken = _arguments_taken(method, offered, _FEWEST.get(name, offered))
            if taken is None:
                misfit(cog, name)
                continue
            self.implementations[name] = Implementation(method, taken, cog)
            setattr(self, name, _hook_function(name, method, taken))


def _hook_function(name: str, method: Callable[..., Any], taken: int) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        return method(*args[:taken])

    call.__name__ = name
    call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(arg, inspect.Parameter.POSITIONAL_OR_KEYWORD) for arg in _SPEC_ARGNAMES[name]]
    )
    return hookimpl(call)


class BroadcastManager(pluggy.PluginManager):
    """The pluggy manager of one Train, with the broadcast specification."""

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.add_hookspecs(BroadcastSpec)

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        """pluggy's own, asked only about the broadcasts' names.

        pluggy offers this method to be overridden for deciding which of a
        plugin's attributes are implementations. Only a broadcast's name can
        be one here; pluggy would otherwise look up every other attribute of
        the participant statically, which was most of what setting a train's
        cogs cost.
        """
        if name not in BROADCASTS:
            return None
        return super().parse_hookimpl_opts(plugin, name)

    def implementations(self, name: str) -> list[Implementation]:
        """:returns: the implementations of broadcast ``name``, in registration (train) order."""
        caller = getattr(self.hook, name)
        found = []
        for impl in caller.get_hookimpls():
            plugin = impl.plugin
            if isinstance(plugin, Participant):
                found.append(plugin.implementations[name])
        return found
