"""Immutable arrays: what an op derives from one (a Winograd weight transform) stays valid.

NumPy has no version counter to tell that an array changed in place, so a
remembered transform of ordinary weights is used only after comparing the weights
with a copy.  An array backed by a ``bytes`` object cannot change: its WRITEABLE
flag cannot be set, and neither can that of any view of it.  For such arrays the
comparison, and the copy, are skipped.  :class:`cnncli.nn.layers.Conv2d` keeps its
weight this way.
"""

from __future__ import annotations

import numpy as np


def freeze(a: np.ndarray) -> np.ndarray:
    """An immutable copy of ``a``: same shape, dtype and values, C order, backed by bytes."""
    a = np.ascontiguousarray(a)
    return np.frombuffer(a.tobytes(), dtype=a.dtype).reshape(a.shape)


def is_frozen(a: np.ndarray) -> bool:
    """Whether ``a``'s memory belongs to a ``bytes`` object (through any chain of views)."""
    base: object = a
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, bytes)
