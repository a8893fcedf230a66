"""The broadcast hook specification and the plugin manager that reads it.

Broadcasts are pluggy hooks. Cog authors do not import pluggy or mark anything:
a cog takes part in a broadcast by having a method with the broadcast's name,
which :class:`BroadcastManager` accepts in place of a ``@hookimpl`` marker.
"""

from __future__ import annotations

from typing import Any

import pluggy

__all__ = ["BROADCASTS", "BroadcastManager", "BroadcastSpec", "PROJECT"]

PROJECT = "deadbeat"
hookspec = pluggy.HookspecMarker(PROJECT)


class BroadcastSpec:
    """The broadcasts a Train sends to its cogs."""

    @hookspec
    def event_done(self, event_id: Any) -> None:
        """Processing of the event ``event_id`` has finished.

        Sent by the cog that ends an event's journey (an output once the datum is
        written, a filter that drops it, an aggregate that merged it). Every cog
        may now release what it keeps for that event: a supply acknowledges its
        source or persists its position, a spool supply removes the file.

        :param event_id: the id the supply's ``id_setter`` gave the event.
        """

    @hookspec
    def event_rename(self, event_id: Any, new_id: Any) -> None:
        """The event ``event_id`` goes on as (part of) the event ``new_id``.

        Sent when data merge or split, so that the ``event_done`` for ``new_id``
        later also settles ``event_id``. The old id may be forgotten.

        :param event_id: the id that stops travelling.
        :param new_id: the id it is now part of.
        """

    @hookspec
    def flush(self) -> None:
        """Write out what is buffered.

        Sent by the Train at the end of every ``send`` (one supply batch, or data
        a cog sent on late), so outputs may collect data and write them with one
        system call per batch, never per datum, without adding latency. When the
        batches sent so far are complete (nothing is held), it comes just before
        their ``event_done``: an output that writes (and syncs, if configured)
        here can never be acknowledged ahead of its data.
        """

    @hookspec
    def checkpoint(self) -> None:
        """Persist state now: everything acknowledged by ``event_done`` is done.

        Sent after the ``event_done`` broadcasts that follow a ``flush``. Cogs
        note what the acknowledgements mean for them in ``event_done`` (a tailer
        its positions, an output the offset it has written to) and save here, so
        that what they save together describes the same moment.
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


#: Names of the broadcasts of :class:`BroadcastSpec`: the manual's four plus
#: ``flush`` and ``checkpoint``, which make batch acknowledgements safe.
BROADCASTS = ("event_done", "event_rename", "flush", "checkpoint", "finish", "done")


class BroadcastManager(pluggy.PluginManager):
    """A pluggy manager in which a method named like a broadcast is an implementation."""

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.add_hookspecs(BroadcastSpec)

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None:
            return opts
        if name in BROADCASTS and callable(getattr(plugin, name, None)):
            return {}
        return None
