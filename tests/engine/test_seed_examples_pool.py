"""The seed's 4×4 pooling example, computed by the engine (and by its naive loops).

Seed input (cnncli.examples.SEED_POOL_INPUT)::

    [[2, 5, 6, 1],
     [9, 3, 7, 3],
     [8, 5, 7, 8],
     [6, 6, 1, 1]]
"""

from __future__ import annotations

import numpy as np

from cnncli.engine import avg_pool2d, max_pool2d
from cnncli.engine.reference import pool as ref
from cnncli.examples import SEED_POOL_INPUT


def _blocks(x: np.ndarray, k: int) -> list[list[np.ndarray]]:
    """The seed's windows X[i:i+k, j:j+k] at stride k."""
    return [
        [x[i : i + k, j : j + k] for j in range(0, x.shape[1], k)] for i in range(0, x.shape[0], k)
    ]


def test_seed_max_pooling_2x2() -> None:
    x = SEED_POOL_INPUT[None, None]
    expected = np.array([[b.max() for b in row] for row in _blocks(SEED_POOL_INPUT, 2)])
    y = max_pool2d(x, 2)
    np.testing.assert_array_equal(y[0, 0], expected)
    np.testing.assert_array_equal(ref.max_pool2d(x, 2)[0, 0], expected)
    # The seed prints [[9, 7], [8, 8]], and the arithmetic agrees.
    np.testing.assert_array_equal(y[0, 0], [[9, 7], [8, 8]])
    assert y.dtype == np.float32


def test_seed_average_pooling_2x2() -> None:
    x = SEED_POOL_INPUT[None, None]
    # Y[i, j] = 1/k² Σ X[i+m, j+n], computed here from the matrix itself.
    expected = np.array(
        [[b.sum() / b.size for b in row] for row in _blocks(SEED_POOL_INPUT, 2)], np.float32
    )
    y = avg_pool2d(x, 2)
    np.testing.assert_allclose(y[0, 0], expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ref.avg_pool2d(x, 2)[0, 0], expected, rtol=0, atol=1e-6)
    # (2 + 5 + 9 + 3) / 4 = 4.75, (6 + 1 + 7 + 3) / 4 = 4.25,
    # (8 + 5 + 6 + 6) / 4 = 6.25, (7 + 8 + 1 + 1) / 4 = 4.25.
    # The seed prints [[5, 5], [7, 5]], which is wrong: the arithmetic wins.
    np.testing.assert_array_equal(y[0, 0], [[4.75, 4.25], [6.25, 4.25]])
    assert not np.array_equal(y[0, 0], [[5, 5], [7, 5]])
