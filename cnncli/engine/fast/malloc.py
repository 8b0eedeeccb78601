"""Keep freed memory for the next op instead of handing it back to the kernel.

An op such as a convolution allocates a few megabytes of temporaries (a padded
copy, im2col or Winograd buffers, the products) and frees them when it returns.
glibc's malloc then trims the top of its heap once more than twice its largest
freed block is free, so the next call gets fresh pages from the kernel and
takes a page fault on every 4 KiB of them (see benchmarks/README.md, decision
table, for what that costs a convolution).

:func:`tune_malloc` sets two of glibc's documented ``mallopt`` parameters once
per process: blocks up to :data:`MMAP_THRESHOLD_BYTES` come from the heap, and
up to :data:`TRIM_THRESHOLD_BYTES` of free heap is kept.  The cost is that
much resident memory that the process may hold without using it: 64 MiB, beyond
which more gave no fewer faults (see benchmarks/README.md, decision table).  Nothing is changed when the C library is not glibc, when
the user set glibc's own ``MALLOC_TRIM_THRESHOLD_`` or ``MALLOC_MMAP_THRESHOLD_``,
or when ``CNNCLI_MALLOC_TUNING=0``.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: glibc's parameter numbers (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Allocations below this size are served from the heap (glibc's own ceiling: 32 MiB).
MMAP_THRESHOLD_BYTES = 32 * 2**20
#: Free memory at the top of the heap kept for the next op.
TRIM_THRESHOLD_BYTES = 64 * 2**20

_USER_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")


def tune_malloc() -> bool:
    """Apply the two settings above; return whether they were applied."""
    if os.environ.get("CNNCLI_MALLOC_TUNING", "1") == "0":
        return False
    if not sys.platform.startswith("linux") or any(k in os.environ for k in _USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
        libc.gnu_get_libc_version  # noqa: B018 - glibc only: musl's mallopt does nothing
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
        and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    )
