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
