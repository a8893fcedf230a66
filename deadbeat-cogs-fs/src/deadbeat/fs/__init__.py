"""File cogs: follow files through rotation, spool directories, file output.

================  =====================  ==============================================
name              class                  what it does
================  =====================  ==============================================
``fs.tail``       FileWatcherSupply      follows files and glob patterns, line by line,
                                         through rotation, with positions kept
``fs.read``       FileReaderSupply       reads files once to their end, then stops
``fs.write``      LineFileDrain          appends lines to a file (or standard output)
``fs.spool``      SpoolDirSupply         one datum per file renamed into a directory
``fs.spool_write``  SpoolDirDrain        one file per datum, written atomically
================  =====================  ==============================================
"""

from ._lines import LineTooLong
from ._spool import SpoolDirDrain, SpoolDirSupply
from ._state import StateFile
from ._tail import FileReaderSupply, FileWatcherSupply
from ._write import LineFileDrain

__all__ = [
    "FileReaderSupply",
    "FileWatcherSupply",
    "LineFileDrain",
    "LineTooLong",
    "SpoolDirDrain",
    "SpoolDirSupply",
    "StateFile",
]
