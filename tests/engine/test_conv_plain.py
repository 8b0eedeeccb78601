"""The plain convolution of engine/conv.py (im2col, one matrix product per group, col2im)
equals the naive loops and PyTorch: groups, dilation, stride, every padding mode and
padding form, float16/32/64.

This module runs on the plain engine path only: each test first checks, by counting
calls, that the plain im2col computed the value it compares.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from cnncli.engine import conv2d, conv2d_backward, use_engine
from cnncli.engine.reference.conv import conv2d_backward_naive, conv2d_naive
from tests.engine.calls import count_calls
from tests.engine.test_conv import torch_conv2d
from tests.oracle import assert_close

conv_module = importlib.import_module("cnncli.engine.conv")

# PyTorch warns that it copies the input for 'same' with even kernels; the copy is what we compare with.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")


@pytest.fixture(scope="module", params=["plain"], autouse=True)
def engine_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """The plain path: what these tests check is only there."""
    with use_engine(request.param):
        yield request.param


# (input shape, weight shape, keyword arguments)
CASES: dict[str, tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]]] = {
    "padding 1": ((2, 3, 7, 6), (4, 3, 3, 3), {"padding": 1}),
    "groups 2": ((2, 4, 6, 7), (6, 2, 3, 2), {"groups": 2, "padding": (1, 0)}),
    "depthwise": ((2, 3, 8, 7), (6, 1, 3, 3), {"groups": 3, "padding": 1}),
    "stride (2, 1)": ((1, 2, 9, 8), (3, 2, 3, 3), {"stride": (2, 1)}),
    "stride 3 dilation 2": ((2, 2, 11, 12), (3, 2, 3, 2), {"stride": 3, "dilation": 2}),
    "dilation (1, 2) four-value padding": (
        (2, 3, 7, 9),
        (2, 3, 2, 3),
        {"dilation": (1, 2), "padding": (2, 0, 1, 3)},
    ),
    "1x1 strided": ((2, 5, 7, 6), (3, 5, 1, 1), {"stride": 2}),
    "same even kernel": ((1, 2, 6, 5), (3, 2, 4, 2), {"padding": "same"}),
    "valid": ((2, 2, 5, 6), (2, 2, 3, 3), {"padding": "valid"}),
    "reflect": ((2, 3, 6, 7), (2, 3, 3, 3), {"padding": (2, 1), "padding_mode": "reflect"}),
    "replicate four": (
        (2, 2, 5, 5),
        (4, 1, 3, 2),
        {"padding": (3, 0, 1, 2), "padding_mode": "replicate", "groups": 2},
    ),
    "circular dilated": (
        (1, 2, 6, 6),
        (2, 2, 3, 3),
        {"padding": 2, "dilation": 2, "padding_mode": "circular"},
    ),
}


def _data(
    name: str, dtype: Any, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    xs, ws, params = CASES[name]
    rng = np.random.default_rng(seed + sorted(CASES).index(name))
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    return x, w, b, params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CASES))
def test_plain_im2col_equals_naive_loops_and_torch(
    monkeypatch: pytest.MonkeyPatch, name: str, dtype: Any
) -> None:
    x, w, b, params = _data(name, dtype)
    forward = count_calls(monkeypatch, conv_module, "_forward")
    backward = count_calls(monkeypatch, conv_module, "_backward")
    y = conv2d(x, w, b, **params)
    assert forward, "the plain im2col did not compute the forward"
    assert y.dtype == dtype and y.flags.c_contiguous
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    grads = conv2d_backward(g, x, w, **params)
    assert backward, "the plain im2col did not compute the backward"
    want = conv2d_naive(x, w, b, **params)
    assert_close(y, want)
    for got, expected in zip(grads, conv2d_backward_naive(g, x, w, **params), strict=True):
        assert got is not None and got.dtype == dtype and got.flags.c_contiguous
        assert_close(got, expected.astype(dtype))
    yt, dxt, dwt, dbt = torch_conv2d(x, w, b, **params, grad_output=g)
    assert_close(y, yt)
    for got, expected in zip(grads, (dxt, dwt, dbt), strict=True):
        assert_close(got, expected)


@pytest.mark.parametrize("name", ["padding 1", "groups 2", "stride 3 dilation 2", "reflect"])
def test_plain_float16_is_float32_rounded_once(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """float16 has no BLAS: the plain path computes in float32 and rounds the result once."""
    x, w, b, params = _data(name, np.float16)
    calls = count_calls(monkeypatch, conv_module, "_forward")
    y = conv2d(x, w, b, **params)
    assert calls and y.dtype == np.float16
    x32, w32, b32 = x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)
    np.testing.assert_array_equal(y, conv2d(x32, w32, b32, **params).astype(np.float16))
    g = np.random.default_rng(2).standard_normal(y.shape).astype(np.float16)
    grads32 = conv2d_backward(g.astype(np.float32), x32, w32, **params)
    for got, want in zip(conv2d_backward(g, x, w, **params), grads32, strict=True):
        assert got is not None and want is not None and got.dtype == np.float16
        np.testing.assert_array_equal(got, want.astype(np.float16))
    naive = conv2d_naive(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), **params)
    assert_close(y, naive.astype(np.float16), tol=2e-3)


def test_plain_path_keeps_torchs_nan_and_inf(monkeypatch: pytest.MonkeyPatch) -> None:
    """0 * inf is NaN in the matrix product as in the direct sum, and without warnings."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((1, 2, 7, 6))
    x[0, 0, 2, 3], x[0, 1, 5, 1], x[0, 1, 0, 0] = np.inf, -np.inf, np.nan
    w = np.random.default_rng(4).standard_normal((3, 2, 3, 3))
    w[1, 0, 1, 1] = 0.0
    calls = count_calls(monkeypatch, conv_module, "_forward")
    with np.errstate(all="raise"):
        y = conv2d(x, w, padding=1)
    assert calls
    expected = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(y), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(y), np.isneginf(expected))
    finite = np.isfinite(expected)
    assert_close(y[finite], expected[finite])
