"""Interleaved medians and per-call memory, the measuring half of the harness.

Timing: each function is called once to warm up, which also sets how many calls make one
sample (enough to last ``target_s``, as timeit does, so that sub-millisecond ops are not
measured against the clock's resolution).  Then ``repeats`` rounds call every function for
one sample each, alternating the order between rounds (A B, B A, ...) so that a drift in the
shared machine's load falls on all of them alike.  The garbage collector is off while timing.

Between two samples the harness sleeps ``gap_s`` (0.2 s by default).  NumPy's OpenBLAS
(pthreads) and PyTorch's OpenMP both keep their worker threads spinning for a while after
each call; on a 2-core machine, calling one library while the other's threads still spin
made a 256x256 matmul 10-30 times slower, for NumPy and PyTorch alike.  The pause lets the
spinning threads go to sleep, so that each sample measures one library alone.

Memory: :func:`traced_peak` runs a function once under :mod:`tracemalloc`.  NumPy reports
its array allocations to tracemalloc, so the peak is the bytes of every array (temporaries
and the result) alive at the worst moment of the call, the arrays that existed before the
call (the inputs, the weights) not counted.  PyTorch's allocator does not report to
tracemalloc, which is why a torch call never pollutes cnncli's figure even in the same process.
"""

from __future__ import annotations

import gc
import math
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

MIB = 1024.0 * 1024.0


def _sample(fn: Callable[[], Any], inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def time_interleaved(
    fns: dict[str, Callable[[], Any]],
    repeats: int,
    target_s: float = 0.1,
    gap_s: float = 0.2,
    warm: bool = True,
) -> dict[str, float]:
    """Median seconds per call of each function, measured in alternating rounds.

    ``warm=False`` (the smoke test's quick mode) skips the warm-up: one call per sample.
    """
    inner: dict[str, int] = {name: 1 for name in fns}
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for name, fn in fns.items() if warm else ():
            once = _sample(fn, 1)
            time.sleep(gap_s)
            inner[name] = max(1, min(1000, math.ceil(target_s / max(once, 1e-7))))
        samples: dict[str, list[float]] = {name: [] for name in fns}
        names = list(fns)
        for round_index in range(max(1, repeats)):
            order = names if round_index % 2 == 0 else names[::-1]
            for name in order:
                samples[name].append(_sample(fns[name], inner[name]))
                time.sleep(gap_s)
    finally:
        if was_enabled:
            gc.enable()
    return {name: statistics.median(values) for name, values in samples.items()}


def traced_peak(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``fn`` once under tracemalloc; return (peak MiB of allocations during the call, result)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return max(0, peak - base) / MIB, result


def max_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
