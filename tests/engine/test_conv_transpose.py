"""conv_transpose2d / conv_transpose2d_backward: PyTorch, the naive loops, conv2d's dX, errors."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from cnncli.engine import conv2d, conv2d_backward, conv_transpose2d, conv_transpose2d_backward
from cnncli.engine.reference.conv import (
    conv_transpose2d_backward_naive,
    conv_transpose2d_naive,
)
from cnncli.engine.shapes import conv_transpose_output_size, conv_transpose_size_formula
from cnncli.errors import ParameterError, ShapeError
from tests.oracle import assert_close, numerical_gradient, scaled_error, torch_op

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _grid() -> list[dict[str, Any]]:
    """Every stride, padding, output_padding, groups, dilation of a small grid that torch
    accepts (output_padding below the stride or the dilation), bias on every other one."""
    cases = []
    for i, (s, p, op, groups, d) in enumerate(
        itertools.product((1, 2, 3, (2, 1)), (0, 1, (2, 0)), (0, 1, 2), (1, 2), (1, 2))
    ):
        sp, opp, dp = (s, s) if isinstance(s, int) else s, (op, op), (d, d)
        if any(o >= max(a, b) for o, a, b in zip(opp, sp, dp, strict=True)):
            continue
        cases.append(
            {
                "stride": s,
                "padding": p,
                "output_padding": op,
                "groups": groups,
                "dilation": d,
                "bias": i % 2 == 0,
            }
        )
    return cases


GRID = _grid()


def _arrays(case: dict[str, Any], dtype: type, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    g = case["groups"]
    x = rng.standard_normal((2, 2 * g, 4, 3)).astype(dtype)
    w = rng.standard_normal((2 * g, 3, 3, 2)).astype(dtype)  # (C, F/groups, KH, KW)
    b = rng.standard_normal(3 * g).astype(dtype) if case["bias"] else None
    return x, w, b


def _params(case: dict[str, Any]) -> dict[str, Any]:
    return {k: case[k] for k in ("stride", "padding", "output_padding", "groups", "dilation")}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_backward_equal_torch_over_the_grid(dtype: type) -> None:
    assert len(GRID) == 96  # every valid combination of the 144
    worst = 0.0
    for case in GRID:
        x, w, b = _arrays(case, dtype)
        y = conv_transpose2d(x, w, b, **_params(case))
        assert y.dtype == dtype
        g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
        yt, (dxt, dwt, dbt) = torch_op(
            lambda x, w, b, c=case: F.conv_transpose2d(x, w, b, **_params(c)),
            x,
            w,
            b,
            grad_output=g,
        )
        dx, dw, db = conv_transpose2d_backward(g, x, w, **_params(case), bias=case["bias"])
        assert (db is None) == (b is None)
        for got, want in ((y, yt), (dx, dxt), (dw, dwt), (db, dbt)):
            if want is not None:
                assert got is not None
                assert_close(got, want)
                worst = max(worst, scaled_error(got, want))
    assert worst > 0 or dtype == np.float64  # float32 rounding shows somewhere


@pytest.mark.parametrize("case", GRID[::7], ids=lambda c: str(_params(c)))
def test_equals_the_naive_loops(case: dict[str, Any]) -> None:
    x, w, b = _arrays(case, np.float64, seed=2)
    y = conv_transpose2d(x, w, b, **_params(case))
    assert_close(y, conv_transpose2d_naive(x, w, b, **_params(case)))
    g = np.random.default_rng(3).standard_normal(y.shape)
    got = conv_transpose2d_backward(g, x, w, **_params(case), bias=case["bias"])
    want = conv_transpose2d_backward_naive(g, x, w, **_params(case), bias=case["bias"])
    for a, e in zip(got, want, strict=True):
        assert (a is None) == (e is None)
        if e is not None:
            assert_close(a, e)


def test_it_is_conv2d_backward_dx() -> None:
    """conv_transpose2d(X, W) is conv2d's dL/dX with dY = X, for the conv whose output is X."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 4, 5))  # plays dY of the convolution: (N, F_conv, OH, OW)
    w = rng.standard_normal((3, 2, 3, 3))  # conv weight (F_conv, C_conv, KH, KW)
    y = conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)
    conv_input = np.zeros(y.shape)  # (N, C_conv, H, W): the conv maps it back to x's shape
    assert conv2d(conv_input, w, stride=2, padding=1).shape == x.shape
    dx, _, _ = conv2d_backward(x, conv_input, w, stride=2, padding=1)
    assert_close(y, dx)


def test_numerical_gradients() -> None:
    rng = np.random.default_rng(5)
    params: dict[str, Any] = {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}
    x, w, b = (
        rng.standard_normal((1, 4, 3, 3)),
        rng.standard_normal((4, 1, 3, 2)),
        rng.standard_normal(2),
    )
    y = conv_transpose2d(x, w, b, **params)
    g = rng.standard_normal(y.shape)
    dx, dw, db = conv_transpose2d_backward(g, x, w, **params)
    assert_close(
        dx, numerical_gradient(lambda v: conv_transpose2d(v, w, b, **params), x, g), tol=1e-8
    )
    assert_close(
        dw, numerical_gradient(lambda v: conv_transpose2d(x, v, b, **params), w, g), tol=1e-8
    )
    assert db is not None
    assert_close(
        db, numerical_gradient(lambda v: conv_transpose2d(x, w, v, **params), b, g), tol=1e-8
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_many_channels_stride_1_takes_the_tuned_paths_and_equals_torch(dtype: type) -> None:
    """64 channels, 3x3, stride 1: on the fast path Winograd makes dX and dW."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 64, 16, 16)).astype(dtype)
    w = (0.1 * rng.standard_normal((64, 64, 3, 3))).astype(dtype)
    b = rng.standard_normal(64).astype(dtype)
    y = conv_transpose2d(x, w, b, padding=1)
    g = rng.standard_normal(y.shape).astype(dtype)
    yt, (dxt, dwt, dbt) = torch_op(
        lambda x, w, b: F.conv_transpose2d(x, w, b, padding=1), x, w, b, grad_output=g
    )
    for got, want in zip(
        (y, *conv_transpose2d_backward(g, x, w, padding=1)), (yt, dxt, dwt, dbt), strict=True
    ):
        assert_close(got, want)


def test_output_size_formula() -> None:
    assert conv_transpose_output_size(4, 3, stride=2, padding=1, output_padding=1) == 8
    text = conv_transpose_size_formula(4, 3, 2, 1, 1, 1)
    assert text == "H_out = (4 − 1)·2 − 2·1 + 1·(3 − 1) + 1 + 1 = 8"
    assert conv_transpose2d(
        np.zeros((1, 1, 4, 4)), np.zeros((1, 2, 3, 3)), None, 2, 1, 1
    ).shape == (1, 2, 8, 8)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        (
            {"stride": 2, "output_padding": 2},
            ParameterError,
            "output_padding 2 along H must be smaller than either the stride 2 or the dilation 1",
        ),
        ({"stride": 1, "output_padding": 1}, ParameterError, "smaller than either the stride 1"),
        ({"padding": 3}, ShapeError, "output along H is -1"),
        ({"stride": 0}, ParameterError, "stride must be at least 1"),
        ({"padding": -1}, ParameterError, "padding must not be negative"),
        ({"groups": 3}, ShapeError, "groups=3 does not divide the input channels C=4"),
    ],
)
def test_errors_name_the_values(params: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        conv_transpose2d(np.zeros((1, 4, 3, 3)), np.zeros((4, 2, 3, 3)), **params)


def test_channel_and_bias_mismatches() -> None:
    with pytest.raises(ShapeError, match="expects C=3 input channels, but the input has C=4"):
        conv_transpose2d(np.zeros((1, 4, 3, 3)), np.zeros((3, 2, 3, 3)))
    with pytest.raises(ShapeError, match=r"bias must have shape \(F,\) = \(4,\)"):
        conv_transpose2d(np.zeros((1, 2, 3, 3)), np.zeros((2, 2, 3, 3)), np.zeros(2), groups=2)
    with pytest.raises(ShapeError, match="grad_output has shape"):
        conv_transpose2d_backward(
            np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 3, 3)), np.zeros((2, 2, 3, 3))
        )
    with pytest.raises(ParameterError, match="dtype int64"):
        conv_transpose2d(np.zeros((1, 2, 3, 3), dtype=np.int64), np.zeros((2, 2, 3, 3)))


def test_float16_is_computed_in_float32_and_rounded_once() -> None:
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((2, 3, 3, 3))
    y16 = conv_transpose2d(x.astype(np.float16), w.astype(np.float16), stride=2)
    assert y16.dtype == np.float16
    y32 = conv_transpose2d(
        x.astype(np.float16).astype(np.float32), w.astype(np.float16).astype(np.float32), stride=2
    )
    np.testing.assert_array_equal(y16, y32.astype(np.float16))


@pytest.mark.parametrize(("stride", "padding", "output_padding"), [(5, 2, 4), (5, 1, 4), (4, 0, 3)])
def test_output_padding_past_every_reached_row(
    stride: int, padding: int, output_padding: int
) -> None:
    """Rows that no input cell reaches (output_padding beyond the crop) are zeros, also when
    the padding crops more rows than the kernel reaches."""
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((1, 2, 2, 1)), rng.standard_normal((2, 1, 1, 2))
    params = {"stride": stride, "padding": padding, "output_padding": output_padding}
    y = conv_transpose2d(x, w, **params)
    g = rng.standard_normal(y.shape)
    yt, (dxt, dwt) = torch_op(lambda x, w: F.conv_transpose2d(x, w, **params), x, w, grad_output=g)
    assert_close(y, yt)
    dx, dw, _ = conv_transpose2d_backward(g, x, w, **params)
    assert_close(dx, dxt)
    assert_close(dw, dwt)
