"""Request bodies as their Content-Encoding says, decompressed by ``http.listen`` itself.

aiohttp would decompress bodies by itself, but it answers an encoding it has no
library for (``br`` without Brotli, ``zstd``) with a plain-text 400 of its own
before the request reaches the cog, and takes a gzip body that is cut short as
whatever part of it arrived (often nothing). Here the cog knows the encoding
from the head, refuses one it does not take with 415 naming those it does, and
a body that is not what its encoding says, or ends before the compressed data
do, with 400 saying so.

Decompression is bounded: never more than the room left under ``max_body`` is
produced from what arrived, so a small body that would expand to gigabytes (a
"zip bomb") costs no more memory than ``max_body``.
"""

from __future__ import annotations

import zlib

__all__ = ["ACCEPTED", "BodyEncodingError", "Decoder", "UnsupportedEncoding", "coding_of"]

#: The content codings taken, as a 415 answer's ``Accept-Encoding`` header names them.
ACCEPTED = "gzip, deflate, identity"

_TAKEN = "send the body as gzip, deflate or identity (not compressed)"

#: Names of the codings taken (``x-gzip`` is an old name of gzip).
_CODINGS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


class UnsupportedEncoding(ValueError):
    """A Content-Encoding the cog does not decode; the message names it and those taken."""


class BodyEncodingError(ValueError):
    """A body that is not what its Content-Encoding says; the message says how."""


def coding_of(header: str) -> str:
    """:returns: the coding a Content-Encoding header value says: ``"identity"``, ``"gzip"`` or ``"deflate"``.

    :raises UnsupportedEncoding: for any other coding, or for more than one (other than identity).
    """
    names = [name.strip().lower() for name in header.split(",")]
    codings = [name for name in names if name and name != "identity"]
    if not codings:
        return "identity"
    for name in codings:
        if name not in _CODINGS:
            raise UnsupportedEncoding(f"Content-Encoding {name!r} is not taken; {_TAKEN}")
    if len(codings) > 1:
        raise UnsupportedEncoding(f"Content-Encoding {header.strip()!r} is not taken: one encoding at most; {_TAKEN}")
    return _CODINGS[codings[0]]


class Decoder:
    """Decompresses a body, chunk by chunk as it arrives, as its coding (``gzip`` or ``deflate``) says.

    A gzip body may hold several members one after another (as ``cat a.gz b.gz``
    makes); a deflate body is zlib data (RFC 1950), or raw deflate data as some
    clients send it.
    """

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._decompressor: zlib._Decompress | None = None
        #: Whether any byte of the body arrived.
        self._seen = False

    def _new(self, first: bytes) -> zlib._Decompress:
        if self.coding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # RFC 1950: the low four bits of the first byte are 8 ("deflate"); other first bytes are raw deflate data.
        return zlib.decompressobj(zlib.MAX_WBITS if first[0] & 0x0F == 8 else -zlib.MAX_WBITS)

    def decode(self, chunk: bytes, room: int) -> bytes | None:
        """:returns: what ``chunk`` decompresses to, or ``None`` as soon as that is more than ``room`` bytes.

        :raises BodyEncodingError: when the data are not what the coding says.
        """
        out: list[bytes] = []
        size = 0
        data = chunk
        self._seen = self._seen or bool(chunk)
        while data:
            if self._decompressor is None or (self._decompressor.eof and self.coding == "gzip"):
                if self._decompressor is not None and not data.strip(b"\x00"):
                    return b"".join(out)  # zeros padding the last member (as some tools write): nothing more
                self._decompressor = self._new(data)
            elif self._decompressor.eof:
                raise self._error("there are bytes after the end of the compressed data")
            try:
                piece = self._decompressor.decompress(data, room - size + 1)
            except zlib.error:
                raise self._error() from None
            size += len(piece)
            if size > room:
                return None
            out.append(piece)
            # Room was not reached, so all the input was taken: what is left is after the end of the
            # compressed data (the next gzip member).
            data = self._decompressor.unused_data
        return b"".join(out)

    def finish(self) -> None:
        """The body ended. :raises BodyEncodingError: when it ended before the compressed data did."""
        if self._decompressor is None or not self._decompressor.eof:
            raise self._error("it ends before the compressed data do" if self._seen else "it is empty")

    def _error(self, how: str = "") -> BodyEncodingError:
        if not how:
            return BodyEncodingError(f"the body is not what its Content-Encoding ({self.coding}) says")
        return BodyEncodingError(f"the body is not valid {self.coding} (as its Content-Encoding says): {how}")
