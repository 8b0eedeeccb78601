"""The engine's own threads, for element-wise loops that BLAS does not parallelise for us.

NumPy releases the GIL inside each call, so parts of an array can be worked on at once.
One pool of threads is kept between calls (a fork's child starts its own), and the
calling thread works on the first part itself instead of waiting: one thread wakes up
fewer per call, and the caller's core stays busy.  Pooling and shift-and-add use it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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


_EXECUTOR: tuple[ThreadPoolExecutor, int] | None = None


def _executor(workers: int) -> ThreadPoolExecutor:
    """A thread pool of at least ``workers`` threads, kept between calls."""
    global _EXECUTOR
    if _EXECUTOR is None or _EXECUTOR[1] < workers:
        if _EXECUTOR is not None:
            _EXECUTOR[0].shutdown(wait=False)
        _EXECUTOR = (ThreadPoolExecutor(workers, thread_name_prefix="cnncli"), workers)
    return _EXECUTOR[0]


def _forget_executor() -> None:
    # A forked child has none of the parent's threads: it must start its own pool.
    global _EXECUTOR
    _EXECUTOR = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_executor)


def run_parts(fn: Callable[[_T], None], parts: Sequence[_T]) -> None:
    """``fn(part)`` for every part: the first on this thread, the others on the pool.

    The first exception raised by any part is raised here, after every part has ended.
    """
    if len(parts) <= 1:
        for part in parts:
            fn(part)
        return
    pool = _executor(len(parts) - 1)
    futures = [pool.submit(fn, part) for part in parts[1:]]
    try:
        fn(parts[0])
    finally:
        errors = [f.exception() for f in futures]  # waits for each
    for error in errors:
        if error is not None:
            raise error
