"""The process's memory allocator, set for a night of live show (glibc only; elsewhere nothing).

glibc starts by giving each allocation over 128 KiB its own mapping, returned on free, but raises
that threshold to the size of each such block freed (up to 32 MiB). The show frees blocks of
hundreds of KiB every frame (decoded frames, latents, tensors on the decode thread), so within
seconds they all come from the heap, between small objects that live on; each preset switch
changes the sizes, and the free holes the heap keeps grew RSS by megabytes a minute under
switching (issue 24: 2-5 MB/min with a switch every 2 s), while the memory in use stayed flat.
Fixing the threshold at 128 KiB keeps large blocks in their own mappings, so the heap holds only
small objects and stays flat.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

_LOGGER = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, fixed
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # free heap top returned to the system beyond this (glibc's rule)

_done = False


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - glibc only (musl has no mallopt thresholds to fix)
    except (OSError, AttributeError):
        return None
    return libc


def steady_allocator() -> bool:
    """Fix glibc's mmap and trim thresholds for this process (see the module); True if set.

    Safe to call more than once and from anywhere before or during the show; does nothing
    (False) where the C library is not glibc."""
    global _done
    if _done:
        return True
    libc = _libc()
    if libc is None:
        return False
    ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    _done = ok
    _LOGGER.debug("allocator: mmap threshold %s", "fixed at 128 KiB" if ok else "left as it was (mallopt refused)")
    return ok
