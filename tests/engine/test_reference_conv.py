"""The naive loop references: equal to the fast engine, to PyTorch, and to the seed's formula."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings

from cnncli.engine import conv2d, conv2d_backward
from cnncli.engine.reference.conv import conv2d_backward_naive, conv2d_naive
from tests.engine.test_conv import conv_cases
from tests.oracle import assert_close, torch_conv2d


@settings(max_examples=40, deadline=None)
@given(conv_cases(small=True))
def test_fast_equals_naive(case: dict[str, Any]) -> None:
    x, w, b = case["x"], case["w"], case["b"]
    params = {k: case[k] for k in ("stride", "padding", "dilation", "groups", "padding_mode")}
    y = conv2d(x, w, b, **params)
    assert_close(y, conv2d_naive(x, w, b, **params))
    g = np.random.default_rng(3).standard_normal(y.shape).astype(x.dtype)
    fast = conv2d_backward(g, x, w, **params, bias=b is not None)
    naive = conv2d_backward_naive(g, x, w, **params, bias=b is not None)
    for got, want in zip(fast, naive, strict=True):
        if want is None:
            assert got is None
        else:
            assert_close(got, want)


@pytest.mark.parametrize(
    "params",
    [
        {"stride": 2, "padding": 1},
        {"dilation": 2, "padding": (0, 1, 2, 1), "padding_mode": "reflect"},
        {"groups": 2, "padding": "same", "padding_mode": "circular"},
    ],
)
def test_naive_equals_torch(params: dict[str, Any]) -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 6, 5))
    w = rng.standard_normal((4, 2 // params.get("groups", 1), 3, 2))
    b = rng.standard_normal(4)
    y = conv2d_naive(x, w, b, **params)
    g = rng.standard_normal(y.shape)
    yt, dxt, dwt, dbt = torch_conv2d(x, w, b, grad_output=g, **params)
    assert_close(y, yt)
    dx, dw, db = conv2d_backward_naive(g, x, w, **params)
    assert_close(dx, dxt)
    assert_close(dw, dwt)
    assert_close(db, dbt)


def test_seed_weight_gradient_formula_is_what_backward_computes() -> None:
    """dL/dW[m, n] = sum_{i,j} dL/dY[i, j] * X[i + m, j + n] (one channel, stride 1)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6, 7))
    Wk = rng.standard_normal((3, 2))
    Y = conv2d(X[None, None], Wk[None, None])[0, 0]
    dY = rng.standard_normal(Y.shape)
    expected = np.zeros_like(Wk)
    for m in range(3):
        for n in range(2):
            expected[m, n] = sum(
                dY[i, j] * X[i + m, j + n] for i in range(Y.shape[0]) for j in range(Y.shape[1])
            )
    _, dw, db = conv2d_backward(dY[None, None], X[None, None], Wk[None, None])
    assert_close(dw[0, 0], expected)
    assert db is not None
    assert_close(db, [dY.sum()])
    _, dw_naive, _ = conv2d_backward_naive(dY[None, None], X[None, None], Wk[None, None])
    assert_close(dw_naive[0, 0], expected)
    # The same sum is a correlation of X with dY: the weight gradient is conv2d(X, dY).
    assert_close(conv2d(X[None, None], dY[None, None])[0, 0], expected)
