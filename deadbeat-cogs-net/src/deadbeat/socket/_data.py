"""Turning received messages into data: the line, the peer it came from, and the event id.

The default datum is a mapping ``{"peer": "HOST:PORT", "line": TEXT}``. A
network message means little without its sender (for UDP syslog the source
address is the only trustworthy part of it), and address cogs must be able to
read the peer as a field, which an id beside the data would not allow. The
``line`` field is where ``fs.write`` and the parsers look by default, so the
mapping goes through them as a line would. ``line_setter = false`` and
``peer_setter = false`` give the plain line instead, the cheapest datum, for
pipelines that do not need the peer.

The event id (``tcp:HOST:PORT/CONNECTION:OFFSET``, ``udp:HOST:PORT/NUMBER``)
is kept beside the data and made only when the train asks for it (an error
record, an ``event_done`` listener); an ``id_setter`` puts it in the data as
well, and the batch still carries it beside them, so the train names the right
id whatever field the setter wrote.

Speed: for plain keys (``"line"``, ``"peer"``) each datum is one dict display
in a list comprehension; only user-given setters (callables, dotted paths) are
called datum by datum, each failure costing its datum alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deadbeat import movement

__all__ = ["DatumMaker", "EventIds", "Reject"]

#: Makes the event ids of a list of data, in order, when the train asks.
EventIds = Callable[[], list[str]]
#: Hands the datum that could not be made (with the error) to the error output.
Reject = Callable[[Any, Exception], None]


def _plain(accessor: Any) -> bool:
    """A top-level key: the datum can be built as a dict display."""
    return isinstance(accessor, str) and not set(accessor) & {".", "\\"}


class DatumMaker:
    """Builds the data of one batch of messages.

    :param line_setter: where the line goes in a new mapping, or ``None`` for data that are the lines.
    :param peer_setter: where the peer (``HOST:PORT``) goes, or ``None``.
    :param peer_host_setter: where the peer's host alone goes, or ``None``.
    :param id_setter: where the event id goes, or the manual's one-argument function; ``None`` keeps it beside.
    :raises ValueError: for a peer or id setter without a ``line_setter`` (a line has no fields).
    """

    def __init__(self, line_setter: Any, peer_setter: Any, peer_host_setter: Any, id_setter: Any) -> None:
        if line_setter is None and (peer_setter is not None or peer_host_setter is not None or id_setter is not None):
            raise ValueError(
                "peer_setter, peer_host_setter and id_setter put fields in a mapping: give line_setter too"
                " (or set them all to false for plain lines)"
            )
        #: Whether each datum is the line itself.
        self.plain = line_setter is None
        self._set_line = movement.setter(line_setter) if line_setter is not None else None
        self._set_peer = movement.setter(peer_setter) if peer_setter is not None else None
        self._set_host = movement.setter(peer_host_setter) if peer_host_setter is not None else None
        self._set_id = movement.id_setter(id_setter)
        #: Whether id_setter is the manual's one-argument function, which makes ids of its own (read by the
        #: train's id_getter): the supply's are then not the data's, and not kept beside them.
        self._own_ids = callable(id_setter) and self._set_id is not id_setter
        setters = (line_setter, peer_setter, peer_host_setter, id_setter)
        # Whether every field is a top-level key: then each datum is one dict display.
        self._keys = all(s is None or _plain(s) for s in setters)
        self._line_key, self._peer_key, self._host_key, self._id_key = (s if _plain(s) else None for s in setters)

    def from_one_peer(
        self, lines: list[str], peer: str, host: str, ids: EventIds, reject: Reject
    ) -> tuple[list[Any], EventIds | None]:
        """Data for lines that all came from ``peer`` (a stream).

        :returns: the data, and what makes their ids (``None`` when the data hold them).
        """
        if self.plain:
            return lines, ids
        if self._keys:
            line_key, peer_key = self._line_key, self._peer_key
            if self._host_key is None and self._id_key is None:
                if peer_key is not None:
                    return [{peer_key: peer, line_key: line} for line in lines], ids
                return [{line_key: line} for line in lines], ids
            fixed = {k: v for k, v in ((peer_key, peer), (self._host_key, host)) if k is not None}
            if self._id_key is None:
                return [{**fixed, line_key: line} for line in lines], ids
            id_key = self._id_key
            made = ids()
            # The ids go beside the data too: the train names them whatever the field (its id_getter may read another).
            return [{id_key: i, **fixed, line_key: line} for i, line in zip(made, lines, strict=True)], made.copy
        return self._one_by_one(lines, [peer] * len(lines), [host] * len(lines), ids, reject)

    def from_many_peers(
        self, lines: list[str], peers: list[str], hosts: list[str], ids: EventIds, reject: Reject
    ) -> tuple[list[Any], EventIds | None]:
        """Data for lines each from its own peer (datagrams); ``peers[i]`` sent ``lines[i]``."""
        if self.plain:
            return lines, ids
        if self._keys:
            line_key, peer_key, host_key, id_key = self._line_key, self._peer_key, self._host_key, self._id_key
            if host_key is None and id_key is None:
                if peer_key is not None:
                    return [{peer_key: p, line_key: line} for p, line in zip(peers, lines, strict=True)], ids
                return [{line_key: line} for line in lines], ids
        return self._one_by_one(lines, peers, hosts, ids, reject)

    def _one_by_one(
        self, lines: list[str], peers: list[str], hosts: list[str], ids: EventIds, reject: Reject
    ) -> tuple[list[Any], EventIds | None]:
        """Each datum through the setters, a failing one to the error output alone."""
        set_line, set_peer, set_host, set_id = self._set_line, self._set_peer, self._set_host, self._set_id
        assert set_line is not None
        data: list[Any] = []
        kept: list[str] = []
        for event_id, line, peer, host in zip(ids(), lines, peers, hosts, strict=True):
            try:
                datum = set_line({}, line)
                if set_peer is not None:
                    datum = set_peer(datum, peer)
                if set_host is not None:
                    datum = set_host(datum, host)
                if set_id is not None:
                    datum = set_id(datum, event_id)
            except Exception as exc:  # noqa: BLE001 - the user's setter failed: that datum goes to the error output
                reject({"id": event_id, "peer": peer, "line": line}, exc)
                continue
            data.append(datum)
            kept.append(event_id)
        if self._own_ids:
            return data, None
        # Beside the data even when id_setter put them in: the train then knows them whatever the field.
        return data, kept.copy
