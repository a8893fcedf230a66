"""Appending lines to a file or to standard output."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from deadbeat import movement

__all__ = ["LineFileDrain"]


class LineFileDrain(movement.Cog):
    """Append one line per datum to a file (``"-"`` for standard output).

    The datum goes on unchanged, so more cogs may follow.

    :param filename: the file to append to, or ``"-"``.
    :param line_getter: where the line is (callable or field path).
    :param encoding: text encoding of the file.
    """

    def __init__(self, filename: str = "-", line_getter: Any = "line", encoding: str = "utf-8") -> None:
        self.filename = filename
        self.line_getter = line_getter
        self.encoding = encoding
        self._get_line = movement.getter(line_getter)
        self._out: TextIO
        if filename == "-":
            self._out = sys.stdout
        else:
            self._out = open(filename, "a", encoding=encoding)  # noqa: SIM115 - lives as long as the cog

    def __call__(self, data: Any) -> tuple[Any, ...]:
        self._out.write(f"{self._get_line(data)}\n")
        return (data,)

    def finish(self) -> None:
        """Flush what is buffered."""
        self._out.flush()

    def done(self) -> None:
        """Close the file (standard output stays open)."""
        if self._out is not sys.stdout:
            self._out.close()
