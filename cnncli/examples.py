"""The seed document's worked examples, as arrays (NumPy only).

* :data:`SEED_POOL_INPUT`: the 4×4 matrix of the seed's pooling section.
* :func:`seed_multichannel`: the seed's multi-channel convolution figure, a 7×7×3
  RGB input (a 5×5×3 image already zero-padded by 1) with two 3×3×3 kernels,
  each with a bias, at stride 2, giving two 3×3 feature maps.  The seed shows
  the figure without its numbers, so the values here are fixed small integers
  (pixels 0–2, weights −1…1, biases 1 and 0) as in the classic demonstration;
  the outputs are always computed, never stored.
"""

from __future__ import annotations

import numpy as np

#: The seed's 4×4 pooling example (2×2 max pooling gives [[9, 7], [8, 8]]; 2×2 average
#: pooling gives [[4.75, 4.25], [6.25, 4.25]], not the [[5, 5], [7, 5]] the seed prints).
SEED_POOL_INPUT: np.ndarray = np.array(
    [
        [2, 5, 6, 1],
        [9, 3, 7, 3],
        [8, 5, 7, 8],
        [6, 6, 1, 1],
    ],
    dtype=np.float32,
)

_IMAGE_5x5x3 = np.array(
    [
        [[0, 1, 2, 2, 0], [1, 0, 0, 2, 1], [2, 2, 1, 0, 0], [0, 1, 1, 2, 2], [1, 0, 2, 1, 0]],
        [[2, 0, 1, 1, 2], [0, 2, 2, 1, 0], [1, 1, 0, 0, 2], [2, 0, 1, 2, 1], [0, 2, 1, 0, 1]],
        [[1, 2, 0, 0, 1], [2, 1, 1, 0, 2], [0, 0, 2, 1, 1], [1, 2, 0, 1, 0], [2, 1, 0, 2, 2]],
    ],
    dtype=np.float32,
)  # (C=3, 5, 5)

_KERNELS = np.array(
    [
        [  # kernel W0, one 3×3 slice per input channel (R, G, B)
            [[1, 0, -1], [0, 1, 0], [-1, 1, 0]],
            [[0, -1, 1], [1, 0, 0], [0, 1, -1]],
            [[-1, 1, 0], [0, 0, 1], [1, -1, 0]],
        ],
        [  # kernel W1
            [[0, 1, 1], [-1, 0, 1], [0, -1, 0]],
            [[1, 0, 0], [0, -1, 1], [1, 1, -1]],
            [[0, 0, -1], [1, 1, 0], [-1, 0, 1]],
        ],
    ],
    dtype=np.float32,
)  # (F=2, C=3, 3, 3)

_BIASES = np.array([1, 0], dtype=np.float32)  # b0 = 1, b1 = 0


def seed_multichannel() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The seed's two-kernel RGB example: ``(x, weight, bias)``.

    Shapes: x (1, 3, 7, 7) (already zero-padded, so convolve with padding 0 and
    stride 2), weight (2, 3, 3, 3), bias (2,) → output (1, 2, 3, 3).
    """
    x = np.pad(_IMAGE_5x5x3, ((0, 0), (1, 1), (1, 1)))[None]
    return x.copy(), _KERNELS.copy(), _BIASES.copy()
