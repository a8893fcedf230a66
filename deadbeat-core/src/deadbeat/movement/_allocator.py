"""Keeping glibc's allocator from giving memory back to the kernel after every chunk.

Why. A supply reading a file works in chunks (64 KiB to a few hundred KiB):
each chunk is read into a bytes object, decoded into a str, joined and encoded
again by the output, so a handful of large blocks are allocated and freed per
chunk. glibc serves blocks above ``M_MMAP_THRESHOLD`` (128 KiB at start, then
raised by a heuristic) with ``mmap`` of their own, and hands the top of the
heap back to the kernel whenever more than ``M_TRIM_THRESHOLD`` of it is free.
With such a pattern both happen on every chunk, and each page of the next
chunk is then faulted in again, zeroed by the kernel: measured on
``bench/fs_file_to_file.py``, 127,000 page faults per million lines copied
with 128 KiB chunks, and a third of the run's time. Raising both thresholds
ends the faults (a few dozen per million lines).

What it costs. Up to :data:`TRIM_THRESHOLD` of freed memory stays with the
process rather than going back to the kernel, and blocks up to
:data:`MMAP_THRESHOLD` come from the heap. A long-lived daemon whose working
set is steady gains the speed and keeps the memory it would ask for again
within a millisecond anyway.

When it is left alone. Not on a C library other than glibc (musl has no
``mallopt``); not when the operator chose for themselves through glibc's own
environment (``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TOP_PAD_``, or a ``glibc.malloc`` tunable in ``GLIBC_TUNABLES``); not
when :class:`~deadbeat.movement.Escapement` is made with
``tune_allocator=False``. It is done once per process.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Mapping

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "tune_allocator"]

log = logging.getLogger("deadbeat.movement")

#: Blocks up to this size come from the heap, never from an ``mmap`` of their own.
MMAP_THRESHOLD = 4 << 20
#: Free memory at the top of the heap is given back to the kernel only beyond this.
TRIM_THRESHOLD = 64 << 20

# glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_OPERATOR_CHOICES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")

_tuned: bool | None = None


def tune_allocator(environ: Mapping[str, str] | None = None) -> bool:
    """Raise glibc's trim and mmap thresholds, once per process (see the module's documentation).

    :param environ: where to look for the operator's own choices (the process
        environment by default).
    :returns: whether the thresholds are ours now (also when an earlier call set them).
    """
    global _tuned
    if _tuned is not None:
        return _tuned
    environ = os.environ if environ is None else environ
    chosen = [name for name in _OPERATOR_CHOICES if name in environ]
    if "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
        chosen.append("GLIBC_TUNABLES")
    if chosen:
        log.debug("allocator left as the environment sets it (%s)", ", ".join(chosen))
        _tuned = False
        return False
    _tuned = _set_thresholds()
    return _tuned


def _set_thresholds() -> bool:
    try:
        libc = ctypes.CDLL(None)
        # Present in glibc only: musl and others have their own allocators.
        libc.gnu_get_libc_version  # noqa: B018 - looked up to tell glibc from the rest
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # Setting either ends glibc's own adjustment of both: so both are set.
    done = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    if done:
        log.debug("allocator: blocks up to %d bytes from the heap, trimmed beyond %d", MMAP_THRESHOLD, TRIM_THRESHOLD)
    return bool(done)
