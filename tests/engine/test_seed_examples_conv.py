"""The seed's multi-channel example: a 7x7x3 padded RGB input, two 3x3x3 kernels with biases, stride 2."""

from __future__ import annotations

import numpy as np

from cnncli.engine import conv2d
from cnncli.engine.reference.conv import conv2d_naive
from cnncli.examples import seed_multichannel
from tests.oracle import assert_close, torch_conv2d


def test_seed_multichannel_gives_two_3x3_maps_equal_to_torch_and_the_loops() -> None:
    x, w, b = seed_multichannel()
    assert x.shape == (1, 3, 7, 7) and w.shape == (2, 3, 3, 3) and b.shape == (2,)
    y = conv2d(x, w, b, stride=2)
    assert y.shape == (1, 2, 3, 3) and y.dtype == np.float32
    (expected,) = torch_conv2d(x, w, b, stride=2)
    assert_close(y, expected)
    np.testing.assert_array_equal(y, conv2d_naive(x, w, b, stride=2))
    # Integer pixels and weights: every output is an exact integer.
    np.testing.assert_array_equal(y, np.round(y))


def test_one_output_cell_by_an_explicit_sum() -> None:
    """Output map 1, row 1, column 2: the window starts at input row 2, column 4 (stride 2)."""
    x, w, b = seed_multichannel()
    y = conv2d(x, w, b, stride=2)
    total = 0.0
    for c in range(3):  # R, G, B
        for m in range(3):
            for n in range(3):
                total += float(x[0, c, 1 * 2 + m, 2 * 2 + n]) * float(w[1, c, m, n])
    total += float(b[1])
    assert y[0, 1, 1, 2] == total
    # And map 0's top-left cell, which reads the zero border on two sides.
    corner = float(np.sum(x[0, :, 0:3, 0:3] * w[0])) + float(b[0])
    assert y[0, 0, 0, 0] == corner
