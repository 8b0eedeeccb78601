"""The engine's own threads, for element-wise loops that BLAS does not parallelise for us.

NumPy releases the GIL inside each call, so parts of an array can be worked on at once,
one thread a part, while the caller waits.  Two ways of getting the threads suit two
kinds of work (see benchmarks/README.md, decision table):

* short calls (pooling) take a pool of threads kept between calls, which costs no
  start-up;
* long calls (shift-and-add) start their threads afresh, which the system places on
  idle cores, where a woken pool thread tends to stay on its waker's for a while.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

_T = TypeVar("_T")


def num_threads() -> int:
    """Threads for the engine's own element-wise loops.

    ``CNNCLI_NUM_THREADS``, else ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` (so that a
    single-threaded BLAS run is single-threaded throughout), else the usable cores; inside
    :func:`limited`, its count.
    """
    if _LIMITS:
        return _LIMITS[-1]
    for name in ("CNNCLI_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_LIMITS: list[int] = []  # the counts of the open `limited` blocks, innermost last


@contextmanager
def limited(count: int) -> Iterator[None]:
    """:func:`num_threads` is ``count`` inside the block: the other cores are taken (a
    training step split with a helper process keeps each process on one core)."""
    _LIMITS.append(max(1, count))
    try:
        yield
    finally:
        _LIMITS.pop()


_EXECUTOR: tuple[ThreadPoolExecutor, int] | None = None


def _executor(workers: int) -> ThreadPoolExecutor:
    """A thread pool of at least ``workers`` threads, kept between calls."""
    global _EXECUTOR, _FORK_HOOKED
    if _EXECUTOR is None or _EXECUTOR[1] < workers:
        if _EXECUTOR is not None:
            _EXECUTOR[0].shutdown(wait=False)
        _EXECUTOR = (ThreadPoolExecutor(workers, thread_name_prefix="cnncli"), workers)
        if not _FORK_HOOKED and hasattr(os, "register_at_fork"):
            os.register_at_fork(
                after_in_child=_forget_executor
            )  # with the first pool, not at import
            _FORK_HOOKED = True
    return _EXECUTOR[0]


_FORK_HOOKED = False


def _forget_executor() -> None:
    # A forked child has none of the parent's threads: it must start its own pool.
    global _EXECUTOR
    _EXECUTOR = None


def run_parts(fn: Callable[[_T], None], parts: Sequence[_T], long: bool = False) -> None:
    """``fn(part)`` for every part, each on a thread (a single part: on this thread).

    ``long`` parts get threads started for this call, short ones the kept pool's.  The
    first exception raised by any part is raised here, after every part has ended.
    """
    if len(parts) <= 1:
        for part in parts:
            fn(part)
        return
    if not long:
        futures = [_executor(len(parts)).submit(fn, part) for part in parts]
        errors = [future.exception() for future in futures]  # waits for each
    else:
        caught: list[BaseException | None] = [None] * len(parts)

        def work(i: int) -> None:
            try:
                fn(parts[i])
            except BaseException as exc:  # handed to the caller below
                caught[i] = exc

        threads = [
            threading.Thread(target=work, args=(i,), name="cnncli") for i in range(len(parts))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        errors = caught
    for error in errors:
        if error is not None:
            raise error


def run_blocks(total: int, step: int, workers: int, block: Callable[[int, int], None]) -> None:
    """``block(a, b)`` for consecutive ranges ``[a, b)`` of at most ``step`` items covering
    ``range(total)``: the items cut into ``workers`` even parts, a part a thread of the kept
    pool (one part: on this thread), each part's blocks in order."""

    def run(span: tuple[int, int]) -> None:
        first, last = span
        for a in range(first, last, step):
            block(a, min(a + step, last))

    run_parts(run, even_parts(total, workers))


def even_parts(total: int, parts: int) -> list[tuple[int, int]]:
    """``range(total)`` cut into ``parts`` consecutive ranges ``(a, b)`` whose sizes differ
    by at most one."""
    return list(itertools.pairwise(total * i // parts for i in range(parts + 1)))
