"""The activations' tuned forms (cnncli.engine.fast.elementwise), on the fast path.

Moved here from tests/engine/test_activations.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnncli.engine import relu
from cnncli.engine.fast.elementwise import RELU_BLOCK


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("size", [RELU_BLOCK - 1, RELU_BLOCK + 1, 3 * RELU_BLOCK + 7])
def test_relu_in_blocks_gives_the_bits_of_one_maximum(dtype: type, size: int) -> None:
    """Large inputs are compared with a block of zeros at a time: the same bits as max(x, 0)."""
    rng = np.random.default_rng(60)
    x = rng.standard_normal(size).astype(dtype)
    x[:7] = [np.nan, -np.inf, np.inf, -0.0, 0.0, -np.nan, 1e-30]
    rng.shuffle(x)
    for a in (x, x[::-1]):  # contiguous, and a reversed (strided) view
        got, want = relu(a), np.maximum(a, dtype(0))
        assert got.dtype == x.dtype and got.shape == a.shape
        np.testing.assert_array_equal(got, want)  # NaN where NaN
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
