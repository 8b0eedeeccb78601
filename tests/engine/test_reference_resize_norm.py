"""The engine's interpolate and group_norm against their naive loops (the teaching code)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cnncli.engine.norm import group_norm
from cnncli.engine.reference.resize_norm import (
    group_norm_naive,
    interpolate_backward_naive,
    interpolate_naive,
)
from cnncli.engine.upsample import interpolate, interpolate_backward, interpolate_output_size

CASES = [
    # (H, W, size, scale_factor, mode, align_corners)
    (4, 5, None, (2.0, 2.0), "nearest", None),
    (5, 3, None, (1.5, 2.5), "nearest", None),
    (7, 6, (3, 4), None, "nearest", None),
    (4, 5, None, (2.0, 2.0), "bilinear", False),
    (5, 3, None, (1.7, 0.6), "bilinear", False),
    (6, 7, (9, 4), None, "bilinear", False),
    (4, 5, (8, 11), None, "bilinear", True),
    (5, 4, (1, 3), None, "bilinear", True),
    (3, 3, (3, 3), None, "bilinear", False),
]


@pytest.mark.parametrize(("H", "W", "size", "scale", "mode", "corners"), CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_interpolate_and_its_backward_equal_the_loops(
    H: int, W: int, size: tuple[int, int] | None, scale: tuple[float, float] | None,
    mode: str, corners: bool | None, dtype: type,
) -> None:  # fmt: skip
    rng = np.random.default_rng(H * 10 + W)
    x = rng.standard_normal((2, 3, H, W)).astype(dtype)
    out_size = interpolate_output_size(x.shape, size, scale)
    y = interpolate(x, size=size, scale_factor=scale, mode=mode, align_corners=corners)
    ref = interpolate_naive(x, out_size, scale, mode, bool(corners))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)
    g = rng.standard_normal(y.shape).astype(dtype)
    dx = interpolate_backward(g, x.shape, size=size, scale_factor=scale, mode=mode,
                              align_corners=corners)  # fmt: skip
    np.testing.assert_allclose(
        dx, interpolate_backward_naive(g, x.shape, scale, mode, bool(corners)), rtol=tol, atol=tol
    )


@pytest.mark.parametrize(
    ("C", "G", "affine"), list(itertools.product([4, 6], [1, 2], [False, True]))
)
def test_group_norm_equals_the_loops(C: int, G: int, affine: bool) -> None:
    rng = np.random.default_rng(C * G)
    x = rng.standard_normal((2, C, 3, 4)) * 3 + 1
    w = rng.standard_normal(C) if affine else None
    b = rng.standard_normal(C) if affine else None
    np.testing.assert_allclose(group_norm(x, G, w, b), group_norm_naive(x, G, w, b), atol=1e-12)
