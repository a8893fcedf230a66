"""Rotation series: the files named after a lineage's name (``app.log.1``, ``app.log-20261130.gz``).

logrotate names a rotated file after the file it was: the name it began with,
followed by a number, a date, a suffix. Those beside a lineage's name are its
*series*, where files made and rotated while the tailer was stopped are looked
for (see ``FileWatcherSupply._read_successors``).

A directory may hold tens of thousands of files, each its own lineage: a series
is found by bisecting the sorted listing for names starting with the lineage's
name, not by a look at every name for every lineage.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Iterable

__all__ = ["Listings", "may_be_copy", "rotation_series", "series_age"]

#: A rotated name's suffix: a number or a date (``.3``, ``-20261130``), then maybe a compression suffix.
_ROTATED_SUFFIX = re.compile(r"[._-](\d+)(?:\.(?:gz|bz2|xz|zst|Z))?")

#: Suffixes from this many digits on are dates or times (dateext), not counts.
_DATE_DIGITS = 8


class Listings:
    """Directory listings taken once (sorted), and the series found in them."""

    def __init__(self) -> None:
        self._names: dict[str, list[str]] = {}

    def names(self, directory: str) -> list[str]:
        """:returns: the names in ``directory``, sorted (none if it cannot be listed)."""
        names = self._names.get(directory)
        if names is None:
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                names = []
            self._names[directory] = names
        return names

    def series(self, lineage: str, directory: str | None = None) -> list[str]:
        """:returns: the paths of the names starting with the lineage's name (itself included, if there).

        :param directory: where to look, if not in the lineage's own directory
            (a file renamed elsewhere).
        """
        home, stem = os.path.split(lineage)
        where = home if directory is None else directory
        names = self.names(where)
        found = []
        for index in range(bisect.bisect_left(names, stem), len(names)):
            if not names[index].startswith(stem):
                break
            found.append(os.path.join(where, names[index]))
        return found


def rotation_series(paths: Iterable[str]) -> dict[str, str]:
    """:returns: for each of ``paths`` that is a rotation of another of them, that other one.

    ``app.log.1``, ``app.log-20261130`` and ``app.log.2.gz`` are rotations of
    ``app.log`` in the same directory: the name begins with the other's,
    followed by ``.``, ``-`` or ``_``. The shortest such name wins.
    """
    given = list(paths)
    names = set(given)
    series = {}
    for path in given:
        directory, name = os.path.split(path)
        for end, char in enumerate(name):
            if end and char in ".-_" and os.path.join(directory, name[:end]) in names:
                series[path] = os.path.join(directory, name[:end])
                break
    return series


def series_age(lineage: str, path: str) -> int | None:
    """:returns: how old a rotated file's name says it is, smaller for older (``None``: the name does not say).

    logrotate numbers rotated files from the newest (``app.log.1``, then
    ``app.log.2.gz``): a larger count is older. Dated names (``dateext``:
    ``app.log-20261130``, or seconds) grow with time: a larger date is newer.
    """
    match = _ROTATED_SUFFIX.fullmatch(os.path.basename(path), len(os.path.basename(lineage)))
    if match is None:
        return None
    digits = match.group(1)
    return int(digits) if len(digits) >= _DATE_DIGITS else -int(digits)


def may_be_copy(original: str, path: str) -> bool:
    """:returns: whether ``path`` is named as a copy of ``original`` may be (copytruncate).

    In the same directory, named after the original's name without its last
    extension: ``app.log.1``, ``app.log-20261130``, and with logrotate's
    ``extension`` option ``app-20261130.log``; not ``out.log`` beside
    ``in.log``, whatever it holds (an output written from it starts the same).
    """
    directory, name = os.path.split(original)
    if os.path.dirname(path) != directory:
        return False
    stem, dot, _ = name.rpartition(".")
    return os.path.basename(path).startswith(stem if dot and stem else name)
