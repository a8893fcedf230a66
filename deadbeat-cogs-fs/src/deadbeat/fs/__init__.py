"""File cogs: read lines from files, write lines to files.

``fs.read`` reads whole files once, start to end, which is what a batch job
(``deadbeat run --once``) and the demo pipeline need; ``fs.write`` appends lines
to a file or standard output.
"""

from ._read import FileReaderSupply
from ._write import LineFileDrain

__all__ = ["FileReaderSupply", "LineFileDrain"]
