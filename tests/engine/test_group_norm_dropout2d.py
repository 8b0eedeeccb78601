"""group_norm (against PyTorch, forward and autograd) and dropout2d (whole channels, the scale)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cnncli.engine import dropout2d, dropout2d_backward, group_norm, group_norm_backward
from cnncli.errors import ParameterError, ShapeError
from tests.oracle import assert_close, numerical_gradient, torch_op

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: (shape, num_groups): groups of several channels, layer norm (1), instance norm (C), (N, C, L)
CASES = [((2, 6, 4, 5), 3), ((2, 6, 4, 5), 1), ((2, 8, 5, 3), 8), ((2, 4, 7), 2), ((1, 4, 2, 2), 2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize(("shape", "G"), CASES)
def test_group_norm_equals_torch(shape: tuple[int, ...], G: int, affine: bool, dtype: type) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)
    w = rng.standard_normal(shape[1]).astype(dtype) if affine else None
    b = rng.standard_normal(shape[1]).astype(dtype) if affine else None
    g = rng.standard_normal(shape).astype(dtype)
    yt, (dxt, dwt, dbt) = torch_op(
        lambda x, w, b: F.group_norm(x, G, w, b, 1e-5), x, w, b, grad_output=g
    )
    y = group_norm(x, G, w, b, 1e-5)
    assert y.dtype == dtype
    assert_close(y, yt)
    dx, dw, db = group_norm_backward(g, x, G, w, 1e-5)
    assert_close(dx, dxt)
    if affine:
        assert_close(dw, dwt)
        assert_close(db, dbt)


def test_one_value_per_group_in_float64() -> None:
    """(N, C, 1, 1) with G = C: each group is one value, var = 0, y = bias.  PyTorch computes
    x * scale - mean * scale there, which cancels (float32: errors of 1e-4), so float64 only."""
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((3, 4, 1, 1)) + 5, rng.standard_normal(4), rng.standard_normal(4)
    g = rng.standard_normal(x.shape)
    yt, (dxt, dwt, dbt) = torch_op(lambda x, w, b: F.group_norm(x, 4, w, b), x, w, b, grad_output=g)
    assert_close(group_norm(x, 4, w, b), yt)
    np.testing.assert_array_equal(
        group_norm(x, 4, w, b), np.broadcast_to(b[None, :, None, None], x.shape)
    )
    for got, want in zip(group_norm_backward(g, x, 4, w), (dxt, dwt, dbt), strict=True):
        assert_close(got, want)


def test_group_norm_numerical_gradients() -> None:
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 4, 2, 3)), rng.standard_normal(4), rng.standard_normal(4)
    g = rng.standard_normal(x.shape)
    dx, dw, db = group_norm_backward(g, x, 2, w)
    assert_close(dx, numerical_gradient(lambda v: group_norm(v, 2, w, b), x, g), tol=1e-7)
    assert_close(dw, numerical_gradient(lambda v: group_norm(x, 2, v, b), w, g), tol=1e-7)
    assert_close(db, numerical_gradient(lambda v: group_norm(x, 2, w, v), b, g), tol=1e-7)


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        (
            {"num_groups": 4},
            ShapeError,
            r"divisible by num_groups, but got input of shape \(1, 6, 2, 2\) and num_groups=4",
        ),
        ({"num_groups": 0}, ShapeError, "num_groups=0"),
        ({"num_groups": 2.0}, ParameterError, "num_groups must be an integer"),
        ({"num_groups": 2, "weight": np.ones(5)}, ShapeError, r"weight must have shape \(6,\)"),
        ({"num_groups": 2, "eps": 0}, ParameterError, "eps must be positive"),
    ],
)
def test_group_norm_errors(kw: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        group_norm(np.zeros((1, 6, 2, 2)), **kw)


# ------------------------------------------------------------------------ dropout2d ---


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout2d_zeroes_whole_channels_and_scales_the_rest(dtype: type) -> None:
    x = np.random.default_rng(3).standard_normal((8, 16, 3, 4)).astype(dtype)
    p = 0.25
    y, mask = dropout2d(x, p, generator=7, return_mask=True)
    assert y.dtype == dtype and mask.shape == (8, 16, 1, 1) and mask.dtype == bool
    kept = np.broadcast_to(mask, x.shape)
    assert_close(y[kept], x[kept] * dtype(1 / (1 - p)))
    assert not y[~kept].any()
    assert 0.1 < 1 - mask.mean() < 0.4  # about p of the 128 maps dropped
    # the same seed, the same maps
    np.testing.assert_array_equal(dropout2d(x, p, generator=7), y)
    g = np.random.default_rng(4).standard_normal(x.shape).astype(dtype)
    assert_close(dropout2d_backward(g, mask, p), np.where(kept, g / (1 - p), 0).astype(dtype))


def test_dropout2d_backward_is_the_numerical_gradient() -> None:
    rng = np.random.default_rng(5)
    x, g = rng.standard_normal((2, 3, 2, 2)), rng.standard_normal((2, 3, 2, 2))
    _, mask = dropout2d(x, 0.5, generator=9, return_mask=True)
    num = numerical_gradient(lambda v: dropout2d(v, 0.5, generator=9), x, g)
    assert_close(dropout2d_backward(g, mask, 0.5), num, tol=1e-8)


@pytest.mark.parametrize(("p", "training"), [(0.0, True), (1.0, True), (0.5, False)])
def test_dropout2d_edges_equal_torch(p: float, training: bool) -> None:
    x = np.random.default_rng(6).standard_normal((2, 3, 4, 4))
    yt, _ = torch_op(lambda t: F.dropout2d(t, p, training), x)
    assert_close(dropout2d(x, p, training, generator=0), yt)


def test_dropout2d_errors() -> None:
    with pytest.raises(ShapeError, match="dropout2d input must be 4-D"):
        dropout2d(np.zeros((3, 4, 4)))
    with pytest.raises(ParameterError, match="between 0 and 1"):
        dropout2d(np.zeros((1, 1, 2, 2)), 1.5)
    with pytest.raises(ShapeError, match=r"mask must have shape \(N, C, 1, 1\)"):
        dropout2d_backward(np.zeros((1, 2, 2, 2)), np.ones((1, 2, 2, 2), dtype=bool), 0.5)
