"""interpolate / interpolate_backward: PyTorch's F.interpolate (nearest, bilinear), sizes, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cnncli.engine.upsample import interpolate, interpolate_backward, interpolate_output_size
from cnncli.errors import ParameterError, ShapeError
from tests.oracle import assert_close, numerical_gradient, torch_op

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Integer, non-integer and downsampling scale factors (those whose 1/s is not exact in
#: float32 are where PyTorch's float32 index rule matters), and sizes.
RESIZES: list[dict[str, Any]] = [
    {"scale_factor": 2},
    {"scale_factor": 3.0},
    {"scale_factor": (2, 3)},
    {"scale_factor": 1.5},
    {"scale_factor": 1.7},
    {"scale_factor": (2.3, 0.6)},
    {"scale_factor": 0.5},
    {"scale_factor": 1 / 3},
    {"scale_factor": 2.5},
    {"scale_factor": 1.05},  # the size stays 7: PyTorch copies the axis
    {"scale_factor": 1.7, "recompute_scale_factor": True},
    {"size": 12},
    {"size": (5, 16)},
    {"size": (3, 2)},
    {"size": (1, 1)},
    {"size": (7, 9)},
    {"size": (14, 18)},  # exactly twice: PyTorch's i // 2 for nearest
]
MODES: list[dict[str, Any]] = [
    {"mode": "nearest"},
    {"mode": "bilinear"},
    {"mode": "bilinear", "align_corners": False},
    {"mode": "bilinear", "align_corners": True},
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES, ids=str)
def test_forward_and_backward_equal_torch(mode: dict[str, Any], dtype: type) -> None:
    rng = np.random.default_rng(0)
    for resize in RESIZES:
        kw = {**resize, **mode}
        x = rng.standard_normal((2, 3, 7, 9)).astype(dtype)
        y = interpolate(x, **kw)
        assert y.dtype == dtype
        assert y.shape[2:] == interpolate_output_size(
            x.shape, kw.get("size"), kw.get("scale_factor")
        )
        g = rng.standard_normal(y.shape).astype(dtype)
        yt, (dxt,) = torch_op(lambda t, kw=kw: F.interpolate(t, **kw), x, grad_output=g)
        if mode["mode"] == "nearest":
            np.testing.assert_array_equal(y, yt, err_msg=str(kw))  # the same cells, exactly
        assert_close(y, yt)
        assert_close(interpolate_backward(g, x.shape, **kw), dxt)


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_many_scale_factors_pick_torchs_cells(mode: dict[str, Any]) -> None:
    """Scale factors drawn at random, on rows of the numbers 0..n-1: nearest must pick
    PyTorch's exact source index (float32 arithmetic), bilinear its weights."""
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        for n in range(1, 15):
            x = np.arange(n, dtype=dtype).reshape(1, 1, 1, n)
            for s in rng.uniform(0.4, 4.5, 5):
                kw = {"scale_factor": (1.0, float(s)), **mode}
                if int(n * s) < 1:
                    continue
                yt, _ = torch_op(lambda t, kw=kw: F.interpolate(t, **kw), x)
                assert_close(interpolate(x, **kw), yt)


def test_numerical_gradient_bilinear() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 3, 4))
    kw: dict[str, Any] = {"scale_factor": (1.7, 2.2), "mode": "bilinear"}
    g = rng.standard_normal(interpolate(x, **kw).shape)
    got = interpolate_backward(g, x.shape, **kw)
    assert_close(got, numerical_gradient(lambda v: interpolate(v, **kw), x, g), tol=1e-8)


def test_nearest_upsampling_by_two_repeats_each_cell() -> None:
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    want = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]], dtype=float)
    np.testing.assert_array_equal(interpolate(x, scale_factor=2)[0, 0], want)
    # Each input cell was read by 4 output cells: its gradient is the sum of their 4.
    np.testing.assert_array_equal(
        interpolate_backward(np.ones((1, 1, 4, 4)), x.shape, scale_factor=2), np.full(x.shape, 4.0)
    )


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"size": 4, "scale_factor": 2}, ParameterError, "only one of size or scale_factor"),
        ({}, ParameterError, "either size or scale_factor"),
        ({"scale_factor": 0.01}, ShapeError, r"output \(H: 0, W: 0\)"),
        ({"size": (0, 3)}, ShapeError, "greater than 0"),
        (
            {"scale_factor": 2, "mode": "bicubic"},
            ParameterError,
            "mode must be one of nearest, bilinear",
        ),
        (
            {"scale_factor": 2, "align_corners": True},
            ParameterError,
            "align_corners can only be set",
        ),
        ({"size": (1, 2, 3)}, ParameterError, "size must be an integer or a pair"),
        ({"scale_factor": float("nan")}, ParameterError, "scale_factor must be finite"),
    ],
)
def test_errors(kw: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        interpolate(np.zeros((1, 1, 4, 4)), **kw)


def test_input_must_be_4d() -> None:
    with pytest.raises(ShapeError, match="input must be 4-D"):
        interpolate(np.zeros((4, 4)), scale_factor=2)
    with pytest.raises(ShapeError, match="grad_output has shape"):
        interpolate_backward(np.zeros((1, 1, 3, 3)), (1, 1, 4, 4), scale_factor=2)
