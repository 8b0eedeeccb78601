"""Shared pieces of the convolution path tests: random inputs, and the check against torch."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnncli.engine import conv2d_backward
from tests.oracle import assert_close, torch_conv2d


def conv_data(
    seed: int, xs: tuple[int, ...], ws: tuple[int, ...], dtype: Any
) -> tuple[np.random.Generator, np.ndarray, np.ndarray, np.ndarray]:
    """(the generator, x of shape ``xs``, w of shape ``ws``, b (ws[0],)), standard normal."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    return rng, x, w, b


def assert_equals_torch(
    y: np.ndarray,
    g: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    params: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """``y`` (our conv2d of x, w, b) and conv2d_backward's (dx, dw, db) for the gradient
    ``g`` equal PyTorch's; returns PyTorch's (dw, db) for further checks."""
    yt, dxt, dwt, dbt = torch_conv2d(x, w, b, **params, grad_output=g)
    assert_close(y, yt)
    for got, expected in zip(conv2d_backward(g, x, w, **params), (dxt, dwt, dbt), strict=True):
        assert_close(got, expected)
    return dwt, dbt
