"""Results of pure functions remembered between calls: a layer asks for the same
geometry at every step, and validating it again costs more than the op on a small batch.

Used by :mod:`cnncli.engine.shapes` (pure Python, no NumPy).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

_G = TypeVar("_G")
#: Geometries remembered, per function: a layer asks for the same one at every step.
REMEMBERED = 512


def remembered(compute: Callable[..., _G], *args: Any) -> _G:
    """``compute(*args)``, remembered when every argument is a plain value.

    Plain: an exact int, bool, str or None, or a tuple of exact ints.  Anything else
    (a list, a NumPy integer, a bool inside a tuple) is computed afresh, so that no
    value stands in for another that compares equal (``True == 1``): the memory keys
    on each argument's type too.  Validation errors are raised every time.
    """
    if all(_plain(a) for a in args):
        return _memory(compute)(*args)
    return compute(*args)


def _plain(v: object) -> bool:
    t = type(v)
    if t is int or t is bool or t is str or v is None:
        return True
    return t is tuple and all(type(i) is int for i in v)  # type: ignore[attr-defined]


@functools.cache
def _memory(compute: Callable[..., _G]) -> Callable[..., _G]:
    return functools.lru_cache(maxsize=REMEMBERED, typed=True)(compute)
