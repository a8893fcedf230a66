"""Matching addresses against named network lists: longest prefix wins.

Lookup structure. The prefixes of both versions are flattened, once per load,
into sorted disjoint intervals, each carrying the label of the longest prefix
that covers it (nested prefixes split their parents' intervals). A lookup is
then one :func:`bisect.bisect_right` over a list of integers, done in C: the cost
does not grow with the prefix lengths present, and barely with the list size.
"""

from __future__ import annotations

import bisect
import ipaddress
import logging
import os
import signal
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from deadbeat import conf, movement

from ._address import MAPPED_PREFIX, AddressError, parse_address
from ._fields import FieldMapper, check_missing
from ._regular import open_regular

__all__ = ["CIDRTag", "PrefixTable"]

log = logging.getLogger("deadbeat.ip")

_pton = socket.inet_pton
_AF_INET = socket.AF_INET
_V6_OFFSET = 1 << 32  # IPv6 values live above every IPv4 value in one table


class PrefixTable:
    """Longest-prefix lookup over labelled IPv4 and IPv6 prefixes.

    :param prefixes: (network text, label) pairs; of a network given twice, the
        later label wins.
    :raises ValueError: naming the first bad network.
    """

    def __init__(self, prefixes: Iterable[tuple[str, str]]) -> None:
        # By (start, prefix length): a network given again replaces the label.
        found: dict[tuple[int, int], tuple[int, str]] = {}
        for text, label in prefixes:
            network = listed_network(text)
            base = 0 if network.version == 4 else _V6_OFFSET
            start = base + int(network.network_address)
            found[start, network.prefixlen] = (base + int(network.broadcast_address), label)
        spans = [(start, length, end, label) for (start, length), (end, label) in found.items()]
        self.size = len(spans)
        self._starts, self._ends, self._labels = self._flatten(spans)

    @staticmethod
    def _flatten(spans: list[tuple[int, int, int, str]]) -> tuple[list[int], list[int], list[str]]:
        """Turn nested prefixes into disjoint intervals labelled by the innermost one.

        CIDR blocks are either nested or disjoint. Sorted by start, outer blocks
        (shorter prefixes) first, they are swept with a stack of open blocks:
        each block covers from where its inner blocks left off to its end.
        """
        starts: list[int] = []
        ends: list[int] = []
        labels: list[str] = []

        def emit(first: int, last: int, label: str) -> None:
            if first > last:
                return
            if ends and ends[-1] == first - 1 and labels[-1] == label:
                ends[-1] = last
            else:
                starts.append(first)
                ends.append(last)
                labels.append(label)

        stack: list[tuple[int, str]] = []
        cursor = 0
        for start, _, end, label in sorted(spans):
            while stack and stack[-1][0] < start:
                top_end, top_label = stack.pop()
                emit(cursor, top_end, top_label)
                cursor = top_end + 1
            if stack:
                emit(cursor, start - 1, stack[-1][1])
            stack.append((end, label))
            cursor = start
        while stack:
            top_end, top_label = stack.pop()
            emit(cursor, top_end, top_label)
            cursor = top_end + 1
        return starts, ends, labels

    def lookup_text(self, text: str) -> str | None:
        """:returns: the label for an address given as text (any accepted form).

        :raises AddressError: when the text is not an address.
        """
        try:
            key = int.from_bytes(_pton(_AF_INET, text), "big")
        except (OSError, TypeError, ValueError):  # (ValueError: a NUL in the text)
            address = parse_address(text)
            return self.lookup(address.version, address.value)
        index = bisect.bisect_right(self._starts, key) - 1
        if index >= 0 and key <= self._ends[index]:
            return self._labels[index]
        return None

    def lookup(self, version: int, value: int) -> str | None:
        """:returns: the label of the longest prefix containing the address, or ``None``.

        An IPv4-mapped IPv6 address (``::ffff:10.1.2.3``) is the IPv4 host it
        maps, as ``ip.anonymise`` takes it: it falls in ``10.0.0.0/8``, and a
        listed ``::ffff:10.0.0.0/104`` is ``10.0.0.0/8``.
        """
        if version == 6 and value >> 32 == MAPPED_PREFIX >> 32:
            version, value = 4, value & 0xFFFFFFFF
        key = value if version == 4 else value + _V6_OFFSET
        index = bisect.bisect_right(self._starts, key) - 1
        if index >= 0 and key <= self._ends[index]:
            return self._labels[index]
        return None


def listed_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The network a list entry means; host bits are ignored.

    A network within ``::ffff:0:0/96`` (``::ffff:10.0.0.0/104``) is the IPv4
    network it maps (``10.0.0.0/8``): mapped addresses are looked up as the
    IPv4 hosts they map (see :meth:`PrefixTable.lookup`).

    :raises ValueError: when the text is not a network.
    """
    network = ipaddress.ip_network(text, strict=False)
    if network.version == 6 and network.prefixlen >= 96 and int(network.network_address) >> 32 == MAPPED_PREFIX >> 32:
        return ipaddress.IPv4Network((int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96))
    return network


def _has_host_bits(text: str) -> bool:
    try:
        ipaddress.ip_network(text)
    except ValueError:
        return True
    return False


def _lines(handle: Iterable[bytes], path: str) -> Iterable[tuple[int, str]]:
    """The numbered lines of a list file; a line that is not UTF-8 is an error naming the file and the line."""
    for number, raw in enumerate(handle, 1):
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}:{number}: not UTF-8 text ({exc.reason} at column {exc.start + 1})") from None


def load_lists(lists: Mapping[str, str]) -> PrefixTable:
    """Read network list files: one network per line, ``#`` comments, optional label.

    A line ``10.0.0.0/8`` gets the list's name as label; ``10.0.0.0/8 vpn`` the
    label ``vpn``.

    :raises ValueError: naming the file and line of a bad network.
    """
    prefixes: list[tuple[str, str]] = []
    seen: dict[Any, tuple[str, int, str]] = {}
    for name, path in lists.items():
        with open_regular(path, "rb") as handle:
            for number, line in _lines(handle, path):
                text = line.split("#", 1)[0].strip()
                if not text:
                    continue
                network, *label = text.split()
                if len(label) > 1:
                    raise ValueError(f"{path}:{number}: a label is one word, not {' '.join(label)!r}")
                try:
                    parsed = listed_network(network)
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: {exc}") from None
                tag = label[0] if label else name
                if _has_host_bits(network):
                    log.warning("%s:%d: %s has host bits set; taken as %s", path, number, network, parsed)
                before = seen.get(parsed)
                if before is not None and before[2] != tag:
                    log.warning(
                        "%s:%d: %s is on %s:%d already, labelled %r; labelled %r here, which wins",
                        path,
                        number,
                        parsed,
                        before[0],
                        before[1],
                        before[2],
                        tag,
                    )
                seen[parsed] = (path, number, tag)
                prefixes.append((network, tag))
    return PrefixTable(prefixes)


class CIDRTag(movement.Cog):
    """Tag or filter events by the named network list their address falls in.

    Each list is a file of networks (IPv4 and IPv6, ``#`` comments, an optional
    label after the network). For every address the longest matching prefix
    decides the label. The lists are loaded again on SIGHUP and when a file
    changes, without stopping the pipeline; a list that fails to load is
    reported and the previous one stays in use. A ``--once`` run loads them
    once and watches nothing, so that it ends with its input.

    :param esc: the Escapement (for SIGHUP and file watches).
    :param lists: list name to file path.
    :param fields: field path(s) of the addresses (``*`` reaches into lists); a
        number is a position in a list. A path that cannot apply to the datum (a
        key into a list, a step into text) sends it to the error output.
    :param target: where the label goes (``action="tag"``): one label, or a
        list of labels when the fields hold several addresses (an empty list
        when a skipped datum has none).
    :param action: ``"tag"``, ``"keep"`` (only events with a match go on) or
        ``"drop"`` (events with a match are dropped).
    :param poll_interval: seconds between looks at the files without inotify.
    :param ip_getter: where the address (or list of addresses) is, as a callable
        or a field path, instead of ``fields``.
    :param missing: what a datum without the field gets: ``skip`` treats it as
        having no address (no match: tagged with an empty list, dropped by
        ``keep``, passed by ``drop``) and counts it (``data without FIELD`` in
        the run summary), ``error`` sends it to the error output.
    """

    one_to_one = True

    def __init__(
        self,
        esc: movement.Escapement,
        lists: Mapping[str, conf.Path],
        fields: str | Sequence[str] = "ip",
        target: movement.FieldSetter = "network",
        action: Literal["tag", "keep", "drop"] = "tag",
        poll_interval: float = 5.0,
        ip_getter: movement.FieldGetter | None = None,
        missing: Literal["skip", "error"] = "skip",
    ) -> None:
        check_missing(missing)
        if action not in ("tag", "keep", "drop"):
            raise ValueError(f"action must be tag, keep or drop, not {action!r}")
        self.esc = esc
        self.lists = dict(lists)
        self.fields = fields
        self.target = target
        self.action = action
        self.poll_interval = poll_interval
        self.ip_getter = ip_getter
        self.missing = missing
        self._fields = FieldMapper(fields, ip_getter, missing=missing, write=False)
        #: Per field, the data that lacked it (treated as having no address).
        self.counts = self._fields.counts
        self._set = movement.setter(target)
        self.table = load_lists(self.lists)
        self._watches: list[movement.Binding] = []
        self._timer: movement.Binding | None = None
        if getattr(esc, "once", False):
            # A --once run ends when its input does: watches would keep it going.
            return
        esc.signal_register(signal.SIGHUP, self.reload)
        for path in self.lists.values():
            self._watches.append(
                esc.inotify_add(
                    os.path.dirname(os.path.abspath(path)),
                    movement.IN_CLOSE_WRITE | movement.IN_MOVED_TO | movement.IN_CREATE,
                    self._changed,
                    poll_interval=poll_interval,
                )
            )

    def _changed(self, event: movement.InotifyEvent) -> None:
        names = {os.path.basename(p) for p in self.lists.values()}
        if event.name in names and self._timer is None:
            # Editors write in several steps; load once they are done.
            self._timer = self.esc.after(0.05, self.reload)

    def reload(self) -> None:
        """Load the lists again; keep the old table if the new one fails."""
        self._timer = None
        try:
            table = load_lists(self.lists)
        except (OSError, ValueError) as exc:
            log.error("%s: lists not reloaded, the previous ones stay: %s", self, exc)
            return
        self.table = table
        log.info("%s: reloaded %d prefixes", self, table.size)

    def __call__(self, data: Any) -> tuple[Any, ...] | None:
        labels: list[str | None] = []

        def look(text: str, path: str) -> str:
            try:
                labels.append(self.table.lookup_text(text))
            except AddressError as exc:
                raise AddressError(f"field {path!r}: {exc}") from None
            return text

        self._fields.apply(data, look)
        if self.action == "tag":
            return (self._set(data, labels[0] if len(labels) == 1 else labels),)
        matched = any(label is not None for label in labels)
        return (data,) if matched == (self.action == "keep") else None

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Tag or filter a list of data; the same as one call per datum, raising where one would (each datum once)."""
        return movement.call_each(self.__call__, data)

    def finish(self) -> None:
        """Stop watching the files and SIGHUP."""
        for watch in self._watches:
            self.esc.inotify_rm(watch)
        self._watches.clear()
        if self._timer is not None:
            self.esc.dequeue(self._timer)
            self._timer = None
        self.esc.signal_unregister(signal.SIGHUP, self.reload)
