"""The engine's own threads, for element-wise loops that BLAS does not parallelise for us.

NumPy releases the GIL inside each call, so parts of an array can be worked on at once.
Each call starts its threads afresh, one a part, and waits for them.  On this class of
machine (2 virtual cores) that measured faster than threads kept between calls, in the
benchmark's pattern of calls separated by pauses: 3x3 average pooling of 8x96x55x55
3.18 ms against 3.96, the 8x64x112x112 depthwise 3x3 26.5 against 31.0, paired.  A
woken thread tends to be placed on its waker's core for a while; a new one on an idle
core.  Pooling and shift-and-add use it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

_T = TypeVar("_T")


def num_threads() -> int:
    """Threads for the engine's own element-wise loops.

    ``CNNCLI_NUM_THREADS``, else ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` (so that a
    single-threaded BLAS run is single-threaded throughout), else the usable cores.
    """
    for name in ("CNNCLI_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_parts(fn: Callable[[_T], None], parts: Sequence[_T]) -> None:
    """``fn(part)`` for every part, each on a thread of its own (one part: on this thread).

    The first exception raised by any part is raised here, after every part has ended.
    """
    if len(parts) <= 1:
        for part in parts:
            fn(part)
        return
    errors: list[BaseException | None] = [None] * len(parts)

    def work(i: int) -> None:
        try:
            fn(parts[i])
        except BaseException as exc:  # handed to the caller below
            errors[i] = exc

    threads = [threading.Thread(target=work, args=(i,), name="cnncli") for i in range(len(parts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
