"""Inputs for max pooling's bit-for-bit tests: random values, ties, and special values."""

from __future__ import annotations

from typing import Any

import numpy as np


def pool_data(shape: tuple[int, ...], kind: str, dtype: Any) -> np.ndarray:
    """``random`` normal values; ``ties`` (-1, 0, 1 everywhere); ``special`` ties with NaN,
    ±inf and -0.0 sprinkled in.  Seeded by the shape."""
    rng = np.random.default_rng(sum(shape))
    if kind == "random":
        return rng.standard_normal(shape).astype(dtype)
    x = rng.integers(-1, 2, shape).astype(dtype)  # ties everywhere
    if kind == "special":
        x[rng.random(shape) < 0.05] = np.nan
        x[rng.random(shape) < 0.05] = np.inf
        x[rng.random(shape) < 0.1] = -np.inf
        x[rng.random(shape) < 0.1] = -0.0
    return x
