"""relu6, hardtanh, silu, gelu, hardswish, hardsigmoid, elu, mish against PyTorch (forward and
autograd), at the corners of the piecewise ones, far out, and with numerical gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from cnncli.engine import activations_modern as M  # noqa: N812
from cnncli.errors import ParameterError, ShapeError
from tests.oracle import assert_close, numerical_gradient, torch_op

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: name: (forward, backward, torch's function, keyword arguments)
CASES: dict[
    str, tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any], dict[str, Any]]
] = {
    "relu6": (M.relu6, M.relu6_backward, F.relu6, {}),
    "hardtanh": (M.hardtanh, M.hardtanh_backward, F.hardtanh, {}),
    "hardtanh(-0.5, 2)": (
        M.hardtanh,
        M.hardtanh_backward,
        F.hardtanh,
        {"min_val": -0.5, "max_val": 2.0},
    ),
    "silu": (M.silu, M.silu_backward, F.silu, {}),
    "gelu": (M.gelu, M.gelu_backward, F.gelu, {}),
    "gelu tanh": (M.gelu, M.gelu_backward, F.gelu, {"approximate": "tanh"}),
    "hardswish": (M.hardswish, M.hardswish_backward, F.hardswish, {}),
    "hardsigmoid": (M.hardsigmoid, M.hardsigmoid_backward, F.hardsigmoid, {}),
    "elu": (M.elu, M.elu_backward, F.elu, {}),
    "elu(0.3)": (M.elu, M.elu_backward, F.elu, {"alpha": 0.3}),
    "mish": (M.mish, M.mish_backward, F.mish, {}),
}

#: The corners of the piecewise ones (0, 6, ±1, ±3, -0.5, 2) and far-out values where
#: exp overflows or underflows (±20, ±50, ±100).
CORNERS = [-100, -50, -20, -3, -1, -0.5, -1e-8, 0, 1e-8, 0.5, 1, 2, 3, 6, 20, 50, 100]


def _inputs(dtype: type) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(400) * 4, CORNERS])
    return x.reshape(1, 3, 139, 1).astype(dtype)  # NCHW, any shape works


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CASES))
def test_forward_and_backward_equal_torch(name: str, dtype: type) -> None:
    forward, backward, torch_fn, kw = CASES[name]
    x = _inputs(dtype)
    g = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    yt, (dxt,) = torch_op(lambda t: torch_fn(t, **kw), x, grad_output=g)
    y, dx = forward(x, **kw), backward(g, x, **kw)
    assert y.dtype == dx.dtype == dtype
    assert_close(y, yt)
    assert_close(dx, dxt)


@pytest.mark.parametrize("name", list(CASES))
def test_numerical_gradient(name: str) -> None:
    forward, backward, _, kw = CASES[name]
    # away from the corners, where the derivative is one-sided
    x = np.array([-4.1, -2.9, -1.3, -0.2, 0.3, 1.7, 2.9, 4.2, 6.4]).reshape(1, 1, 3, 3)
    g = np.random.default_rng(2).standard_normal(x.shape)
    assert_close(
        backward(g, x, **kw), numerical_gradient(lambda v: forward(v, **kw), x, g), tol=1e-7
    )


@pytest.mark.parametrize("name", ["relu6", "hardtanh", "hardswish", "hardsigmoid", "elu"])
def test_nan_passes_through_the_forward(name: str) -> None:
    forward, _, torch_fn, kw = CASES[name]
    x = np.array([np.nan, np.inf, -1.0])
    yt, _ = torch_op(lambda t: torch_fn(t, **kw), x[:2])
    y = forward(x, **kw)
    np.testing.assert_array_equal(y[:2], yt)  # NaN equals NaN here; inf the same
    assert np.isnan(y[0])


def test_float16_is_computed_in_float32_and_rounded_once() -> None:
    x = np.linspace(-5, 5, 41).astype(np.float16)
    for name in ("silu", "gelu", "mish", "elu"):
        forward, _, _, kw = CASES[name]
        y = forward(x, **kw)
        assert y.dtype == np.float16
        np.testing.assert_array_equal(y, forward(x.astype(np.float32), **kw).astype(np.float16))


def test_relu6_is_hardtanh_0_6_and_the_formulas_hold() -> None:
    x = np.array([-2.0, 0.0, 2.5, 6.0, 7.5])
    np.testing.assert_array_equal(M.relu6(x), [0, 0, 2.5, 6, 6])
    np.testing.assert_array_equal(M.hardsigmoid(np.array([-3.0, 0.0, 3.0])), [0, 0.5, 1])
    np.testing.assert_array_equal(M.hardswish(np.array([-3.0, 3.0, 1.5])), [0, 3, 1.5 * 4.5 / 6])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: M.hardtanh(np.zeros(2), 1.0, -1.0),
            ParameterError,
            "min_val 1 cannot be greater than max_val -1",
        ),
        (
            lambda: M.gelu(np.zeros(2), approximate="erf"),
            ParameterError,
            "approximate must be 'none' or 'tanh'",
        ),
        (lambda: M.elu(np.zeros(2), alpha="a"), ParameterError, "alpha must be a number"),
        (lambda: M.silu(np.zeros(2, dtype=int)), ParameterError, "dtype int64"),
        (lambda: M.mish_backward(np.zeros(2), np.zeros(3)), ShapeError, "grad_output has shape"),
    ],
)
def test_bad_arguments(call: Callable[[], Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()
