"""Reading gzip-compressed files as their content: ``fs.read`` on ``.gz``, and rotated files compressed by logrotate.

A compressed file is read through :class:`GzipReader`, which answers reads at
offsets of the *content* (what ``gunzip`` would give), so that positions, event
ids and the fingerprint of a compressed file are those of the file it was made
from. That is how a file rotated and compressed while the tailer was stopped
(logrotate ``compress``) is recognised: its content starts with the first
bytes of a file we were reading, and it is read on from where we were.

gzip has no index: a read at an offset decompresses from the last one read
(the tailer reads forward), or from the start for an offset before it.
Concatenated members (``cat a.gz b.gz``) are read one after the other, as
``gunzip`` does.
"""

from __future__ import annotations

import os
import zlib

__all__ = ["GZIP_MAGIC", "GzipReader", "looks_compressed"]

#: The first two bytes of every gzip member.
GZIP_MAGIC = b"\x1f\x8b"
# Bytes of compressed data read at a time.
_RAW_CHUNK = 1 << 16
# zlib's window bits for a gzip header and trailer.
_GZIP_WBITS = 16 + zlib.MAX_WBITS
#: Content beyond this many times the compressed bytes read, once past :data:`BOMB_FLOOR`, is a compression
#: bomb: logs compress 5 to 50 times; 1 MB of zeros compresses a thousandfold. Planted in a followed directory,
#: one held the live file up for minutes of decompressing.
BOMB_RATIO = 200
#: Content read before the ratio is judged: small files of one repeated line may compress far better.
BOMB_FLOOR = 64 << 20


def looks_compressed(head: bytes) -> bool | None:
    """:returns: whether ``head`` (a file's first bytes) is gzip; ``None`` while too short to tell."""
    if len(head) < len(GZIP_MAGIC):
        return None if GZIP_MAGIC.startswith(head) and head else False
    return head.startswith(GZIP_MAGIC)


class GzipReader:
    """The content of the gzip file open as ``fd``, read at offsets.

    :param fd: the open compressed file (not closed by the reader).
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._restart()

    def _restart(self) -> None:
        self._raw_pos = 0
        self._pos = 0  # the content's offset of the first byte of _buffer
        self._buffer = b""
        self._inflate = zlib.decompressobj(_GZIP_WBITS)
        self._ended = False

    def pread(self, size: int, offset: int) -> bytes:
        """:returns: up to ``size`` bytes of the content from ``offset`` (``b""`` at its end).

        :raises OSError: when the compressed data are damaged (``EIO``), or decompress to more than
            :data:`BOMB_RATIO` times their size (``EFBIG``).
        """
        if offset < self._pos:
            self._restart()
        while self._pos + len(self._buffer) < offset + size and not self._ended:
            self._more()
        start = offset - self._pos
        if start > len(self._buffer):
            return b""
        piece = self._buffer[start : start + size]
        # Keep what a further read forward may still want; drop the rest.
        self._pos += start
        self._buffer = self._buffer[start:]
        return piece

    @property
    def truncated(self) -> bool:
        """Whether the compressed file ended before its compressed stream did (read to its end first).

        A file cut short (a copy that did not finish, a full disk while
        compressing) or still being written: its last line may be torn.
        """
        return self._ended and not self._inflate.eof

    @property
    def raw_offset(self) -> int:
        """How far into the compressed file it has read (what is beyond is not read yet)."""
        return self._raw_pos

    def head(self, length: int) -> bytes:
        """:returns: the content's first ``length`` bytes."""
        return self.pread(length, 0)

    def _more(self) -> None:
        raw = os.pread(self.fd, _RAW_CHUNK, self._raw_pos)
        if not raw:
            self._ended = True
            return
        self._raw_pos += len(raw)
        try:
            data = self._inflate.decompress(raw)
            while self._inflate.eof and self._inflate.unused_data:
                # Another member follows (concatenated gzip files).
                rest = self._inflate.unused_data
                self._inflate = zlib.decompressobj(_GZIP_WBITS)
                data += self._inflate.decompress(rest)
        except zlib.error as exc:
            raise OSError(5, f"damaged gzip data ({exc})") from None
        self._buffer += data
        content = self._pos + len(self._buffer)
        if content > BOMB_FLOOR and content > BOMB_RATIO * self._raw_pos:
            self._buffer = b""
            raise OSError(
                27,
                f"gzip data decompressing to more than {BOMB_RATIO} times their size ({content} bytes from"
                f" {self._raw_pos}): a compression bomb? not read further",
            )
