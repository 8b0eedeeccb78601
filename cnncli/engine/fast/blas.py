"""NumPy's OpenBLAS on one thread around work made of small products and NumPy passes.

After each matrix product, OpenBLAS's worker threads spin for a while, waiting for the
next one (``OPENBLAS_THREAD_TIMEOUT``, about 0.1 s unless set).  A small network (LeNet's,
TinyVGG's layers on the flat image of :mod:`.flat_shift`) makes many small products, each
followed by NumPy's single-threaded gathers and additions.  Where the machine gives a
spinning worker the caller's core (a shared or virtual machine, at times), those passes
run at half speed, and the whole step with them; a short timeout instead makes every
product wake a thread; and a second thread gains such products little when the machine
is well.  The figures are in benchmarks/README.md's decision table.  :func:`one_thread`
sets OpenBLAS to one thread for such work and back after;
:func:`cnncli.nn.train.one_blas_thread` says which networks train that way.

The thread count is OpenBLAS's own setting for the whole process, found through the
library NumPy loaded (``*openblas*set_num_threads*``, Linux).  Elsewhere (another BLAS,
another system) :func:`one_thread` does nothing.  Nothing changes beyond float32 rounding:
some OpenBLAS builds add a product's terms in another order on one thread than on two
(0.3.31's Haswell kernel, in NumPy 2.4.6's wheel, differs in most entries, by a few units
in the last place), others give the same bits.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: The symbols tried, in order: NumPy's wheels' OpenBLAS (64-bit ints, prefixed), then plain builds.
SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


@functools.cache
def _controls() -> tuple[Callable[..., object], Callable[..., object]] | None:
    """(set, get) of the OpenBLAS that NumPy loaded, or None."""
    if not sys.platform.startswith("linux"):
        return None
    import numpy  # noqa: F401 - the library is mapped once NumPy is imported

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(p for p in paths if p.startswith("/")):
        try:
            lib = ctypes.CDLL(path)  # already loaded: the same library, nothing new runs
        except OSError:
            continue
        for set_name, get_name in SYMBOLS:
            setter, getter = getattr(lib, set_name, None), getattr(lib, get_name, None)
            if setter is None or getter is None:
                continue
            wide = set_name.endswith("64_")
            setter.argtypes = (ctypes.c_int64 if wide else ctypes.c_int,)
            setter.restype = None
            getter.argtypes = ()
            getter.restype = ctypes.c_int64 if wide else ctypes.c_int
            return setter, getter
    return None


def available() -> bool:
    """Whether OpenBLAS's thread count can be set from here."""
    return _controls() is not None


@contextmanager
def one_thread() -> Iterator[None]:
    """OpenBLAS on one thread inside the block, its earlier count restored after."""
    controls = _controls()
    if controls is None:
        yield
        return
    setter, getter = controls
    before = int(getter())  # type: ignore[call-overload]
    if before <= 1:
        yield
        return
    setter(1)
    try:
        yield
    finally:
        setter(before)


def busy_cores(most: int | None = None) -> int | None:
    """How many cores other processes keep busy right now, or None where it cannot be read.

    The machine's runnable tasks (``/proc/loadavg``'s fourth field) less this process's own
    threads that are running or ready to (``R`` in ``/proc/self/task/*/stat``): this thread,
    and OpenBLAS workers still spinning after a product.  With ``most``, 0 is returned at
    once when the runnable tasks other than this thread are fewer than ``most``.
    """
    try:
        with open("/proc/loadavg", encoding="ascii") as fh:
            runnable = int(fh.read().split()[3].split("/")[0])
        if most is not None and runnable - 1 < most:
            return 0  # (this thread is one of them)
        own = 0
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat", encoding="ascii", errors="replace") as fh:
                    text = fh.read()
            except OSError:
                continue  # the thread ended meanwhile
            state = text.rindex(")") + 2  # after "tid (comm) "
            own += text[state : state + 1] == "R"
    except (OSError, ValueError, IndexError):
        return None
    return max(0, runnable - own)


#: Environment variables that choose a thread count, which :func:`within_free_cores` keeps.
EXPLICIT = ("CNNCLI_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@contextmanager
def within_free_cores() -> Iterator[None]:
    """OpenBLAS on no more threads than the cores other processes leave free, inside the
    block, its count restored after.

    A product split evenly over two threads, one of which shares its core with another
    process, waits for the slower half: beside one busy process, AlexNet's forward at batch 8
    took 2.5-2.9x its quiet time on two threads and 1.2-1.6x on one (benchmarks/README.md,
    decision table).  Nothing changes when the machine is quiet, OpenBLAS is on one thread
    already, the load cannot be read, inside :func:`fixed_threads`, or when a thread count
    was chosen in the environment (:data:`EXPLICIT`).  The price: a product on fewer
    threads may round differently (see the module docstring), so that an inference's last
    bits may depend on the machine's load; a chosen count keeps them the same.
    """
    controls = _controls()
    if controls is None or _FIXED[0] > 0 or any(os.environ.get(n) for n in EXPLICIT):
        yield
        return
    setter, getter = controls
    before = int(getter())  # type: ignore[call-overload]
    if before <= 1:  # (a small network's training step, on every forward)
        yield
        return
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    # Busy cores that would take a thread away: cores - before + 1 or more.
    busy = busy_cores(most=cores - before + 1)
    threads = before if busy is None else max(1, min(before, cores - busy))
    if threads >= before:
        yield
        return
    setter(threads)
    try:
        yield
    finally:
        setter(before)


_FIXED = [0]  # how many fixed_threads blocks are open


@contextmanager
def fixed_threads() -> Iterator[None]:
    """Inside the block :func:`within_free_cores` changes nothing: training keeps its thread
    count whatever the load, so that a run computes the same bits each time."""
    _FIXED[0] += 1
    try:
        yield
    finally:
        _FIXED[0] -= 1
