"""Random inputs for the convolution path tests: one generator, then x, w and b."""

from __future__ import annotations

from typing import Any

import numpy as np


def conv_data(
    seed: int, xs: tuple[int, ...], ws: tuple[int, ...], dtype: Any
) -> tuple[np.random.Generator, np.ndarray, np.ndarray, np.ndarray]:
    """(the generator, x of shape ``xs``, w of shape ``ws``, b (ws[0],)), standard normal."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    return rng, x, w, b
