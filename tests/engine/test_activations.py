"""Activations against PyTorch (forward and autograd), numerical gradients, stability, bad input."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncli.engine import (
    leaky_relu,
    leaky_relu_backward,
    log_softmax,
    log_softmax_backward,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
    tanh,
    tanh_backward,
)
from cnncli.errors import CnncliError, ParameterError, ShapeError
from tests.oracle import assert_close, numerical_gradient, torch_op

torch = pytest.importorskip("torch")
F = torch.nn.functional


pytestmark = pytest.mark.usefixtures("one_torch_thread")


DTYPES = [np.float32, np.float64]
SHAPES = [(), (1,), (7,), (3, 5), (2, 3, 4, 5), (1, 1, 1, 1), (0, 3), (2, 0, 4)]


def _torch_pair(fn_np, fn_torch, backward, saved, x: np.ndarray, rng) -> None:
    """Forward and backward of one element-wise op against torch autograd."""
    g = rng.standard_normal(x.shape).astype(x.dtype)
    yt, (dxt,) = torch_op(fn_torch, x, grad_output=g)
    y = fn_np(x)
    assert_close(y, yt)
    assert_close(backward(g, x if saved == "input" else y), dxt)


# Values that include exact zeros and large magnitudes, where the branches matter.
def _sample(rng, shape, dtype):
    x = rng.standard_normal(shape) * 3
    if x.size:
        x.reshape(-1)[:: max(1, x.size // 3)] = 0.0
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_elementwise_match_torch(dtype, shape, rng) -> None:
    x = _sample(rng, shape, dtype)
    _torch_pair(relu, F.relu, relu_backward, "input", x, rng)
    _torch_pair(sigmoid, torch.sigmoid, sigmoid_backward, "output", x, rng)
    _torch_pair(tanh, torch.tanh, tanh_backward, "output", x, rng)
    for slope in (0.01, 0.2, 0.0, 1.0, -0.5, 3.0):
        _torch_pair(
            lambda a, s=slope: leaky_relu(a, s),
            lambda t, s=slope: F.leaky_relu(t, s),
            lambda g, a, s=slope: leaky_relu_backward(g, a, s),
            "input",
            x,
            rng,
        )


@pytest.mark.parametrize("dtype", [*DTYPES, np.float16])
def test_elementwise_keep_dtype(dtype) -> None:
    x = np.linspace(-3, 3, 12, dtype=dtype).reshape(3, 4)
    for fn in (
        relu,
        leaky_relu,
        sigmoid,
        tanh,
        lambda a: softmax(a, 1),
        lambda a: log_softmax(a, 0),
    ):
        assert fn(x).dtype == dtype


def test_float16_softmax_and_sigmoid_match_torch(rng) -> None:
    x = (rng.standard_normal((3, 7)) * 6).astype(np.float16)
    assert_close(softmax(x, 1), F.softmax(torch.tensor(x), 1), tol=2e-3)
    assert_close(log_softmax(x, 0), F.log_softmax(torch.tensor(x), 0), tol=2e-3)
    assert_close(sigmoid(x), torch.sigmoid(torch.tensor(x)), tol=2e-3)


def test_relu_gradient_at_zero_is_zero_and_leaky_slope_is_used() -> None:
    x = np.array([-1.0, 0.0, 2.0])
    g = np.array([5.0, 7.0, 11.0])
    np.testing.assert_array_equal(relu_backward(g, x), [0.0, 0.0, 11.0])
    np.testing.assert_array_equal(leaky_relu_backward(g, x, 0.1), [5.0 * 0.1, 7.0 * 0.1, 11.0])
    np.testing.assert_array_equal(leaky_relu(x, 0.1), [-0.1, 0.0, 2.0])


def test_non_finite_values_follow_torch() -> None:
    x = np.array([-np.inf, -1.0, 0.0, 2.0, np.inf, np.nan])
    g = np.array([np.inf, np.nan, -np.inf, np.nan, 1.0, 2.0])
    xt = torch.tensor(x, requires_grad=True)
    for ours, back, theirs in (
        (relu, relu_backward, F.relu),
        (lambda a: leaky_relu(a, 0.2), lambda gg, a: leaky_relu_backward(gg, a, 0.2),
         lambda t: F.leaky_relu(t, 0.2)),
    ):  # fmt: skip
        xt.grad = None
        yt = theirs(xt)
        yt.backward(torch.tensor(g))
        np.testing.assert_array_equal(ours(x), yt.detach().numpy())
        np.testing.assert_array_equal(back(g, x), xt.grad.numpy())
    for slope in (np.inf, -np.inf, np.nan):
        xt.grad = None
        yt = F.leaky_relu(xt, slope)
        yt.backward(torch.tensor(g))
        np.testing.assert_array_equal(leaky_relu(x, slope), yt.detach().numpy())
        np.testing.assert_array_equal(leaky_relu_backward(g, x, slope), xt.grad.numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(sigmoid(x), torch.sigmoid(torch.tensor(x)).numpy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("shape", "dim"),
    [((5,), 0), ((5,), -1), ((3, 4), 0), ((3, 4), 1), ((3, 4), -2), ((2, 3, 4, 5), 1),
     ((2, 3, 4, 5), -1), ((2, 3, 4, 5), 2), ((1, 1), 1), ((0, 4), 1), ((4, 0), 1), ((), 0),
     ((), -1)],
)  # fmt: skip
def test_softmax_and_log_softmax_match_torch(dtype, shape, dim, rng) -> None:
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    for ours, theirs, back in (
        (softmax, F.softmax, softmax_backward),
        (log_softmax, F.log_softmax, log_softmax_backward),
    ):
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt, dim=dim)
        yt.backward(torch.tensor(g))
        y = ours(x, dim)
        assert_close(y, yt)
        assert_close(back(g, y, dim), xt.grad)


@pytest.mark.parametrize("name", ["relu", "leaky", "sigmoid", "tanh", "softmax", "log_softmax"])
def test_numerical_gradients(name, rng) -> None:
    x = rng.standard_normal((2, 3, 4))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kinks of relu/leaky_relu
    g = rng.standard_normal(x.shape)
    forward, analytic = {
        "relu": (relu, lambda: relu_backward(g, x)),
        "leaky": (lambda a: leaky_relu(a, 0.3), lambda: leaky_relu_backward(g, x, 0.3)),
        "sigmoid": (sigmoid, lambda: sigmoid_backward(g, sigmoid(x))),
        "tanh": (tanh, lambda: tanh_backward(g, tanh(x))),
        "softmax": (lambda a: softmax(a, 1), lambda: softmax_backward(g, softmax(x, 1), 1)),
        "log_softmax": (
            lambda a: log_softmax(a, -1),
            lambda: log_softmax_backward(g, log_softmax(x, -1), -1),
        ),
    }[name]
    np.testing.assert_allclose(analytic(), numerical_gradient(forward, x, g), atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_of_huge_spread_is_finite_and_exact(dtype) -> None:
    x = np.array([1000.0, 0.0, -1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = softmax(x, 0)
        z = log_softmax(x, 0)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(z))
    np.testing.assert_array_equal(y, np.array([1.0, 0.0, 0.0], dtype=dtype))
    # log-sum-exp: log_softmax = x - 1000 - log(1 + e^-1000 + e^-2000) = x - 1000 exactly here.
    np.testing.assert_array_equal(z, np.array([0.0, -1000.0, -2000.0], dtype=dtype))
    assert_close(y, F.softmax(torch.tensor(x), dim=0))
    assert_close(z, F.log_softmax(torch.tensor(x), dim=0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_of_large_magnitudes_without_warnings(dtype) -> None:
    x = np.array([-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = sigmoid(x)
    assert y.dtype == dtype
    assert y[0] == 0.0 and y[-1] == 1.0 and y[3] == 0.5
    # exp(-20) / (1 + exp(-20)) computed in float64 as the reference for the small tail.
    np.testing.assert_allclose(y[2], np.exp(-20.0) / (1 + np.exp(-20.0)), rtol=1e-6)
    assert_close(y, torch.sigmoid(torch.tensor(x)))


def test_softmax_rows_sum_to_one(rng) -> None:
    x = rng.standard_normal((4, 6)) * 50
    np.testing.assert_allclose(softmax(x, 1).sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_softmax(x, 0)).sum(axis=0), 1.0, rtol=1e-12)


def test_bad_input_raises_project_errors() -> None:
    x = np.zeros((2, 3))
    for fn in (relu, sigmoid, tanh, leaky_relu):
        with pytest.raises(ParameterError, match="dtype int64"):
            fn(np.arange(4))
    with pytest.raises(ParameterError, match="out of range"):
        softmax(x, 2)
    with pytest.raises(ParameterError, match="out of range"):
        log_softmax(x, -3)
    with pytest.raises(ParameterError):
        softmax(x, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="negative_slope"):
        leaky_relu(x, "0.1")  # type: ignore[arg-type]
    with pytest.raises(ShapeError):
        relu_backward(np.zeros((2, 2)), x)
    with pytest.raises(ShapeError):
        softmax_backward(np.zeros(3), x, 1)
    with pytest.raises(ParameterError):
        sigmoid_backward(x, np.ones((2, 3), dtype=bool))


_ops = st.sampled_from(
    ["relu", "leaky", "sigmoid", "tanh", "softmax", "log_softmax", "relu_b", "softmax_b"]
)


def _torch_reference(op: str, x: np.ndarray, g: np.ndarray, dim: int, slope: float) -> Any:
    xt = torch.tensor(x, requires_grad=True)
    if op == "relu_b":
        F.relu(xt).backward(torch.tensor(g))
        return xt.grad
    if op == "softmax_b":
        F.softmax(xt, dim).backward(torch.tensor(g))
        return xt.grad
    return {
        "relu": lambda: F.relu(xt),
        "leaky": lambda: F.leaky_relu(xt, slope),
        "sigmoid": lambda: torch.sigmoid(xt),
        "tanh": lambda: torch.tanh(xt),
        "softmax": lambda: F.softmax(xt, dim),
        "log_softmax": lambda: F.log_softmax(xt, dim),
    }[op]()


@settings(max_examples=60, deadline=None)
@given(
    op=_ops,
    shape=st.lists(st.integers(0, 4), min_size=0, max_size=4),
    other=st.lists(st.integers(0, 4), min_size=0, max_size=4),
    dim=st.integers(-5, 5),
    dtype=st.sampled_from(["float32", "float64", "int32", "bool", "float16"]),
    slope=st.one_of(st.floats(-3, 3), st.just(float("nan")), st.none()),
    seed=st.integers(0, 2**16),
)
def test_random_calls_give_a_correct_result_or_a_project_error(
    op, shape, other, dim, dtype, slope, seed
) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    g = rng.standard_normal(other).astype(dtype if dtype.startswith("float") else "float64")
    try:
        if op == "relu":
            y = relu(x)
        elif op == "leaky":
            y = leaky_relu(x, slope)  # type: ignore[arg-type]
        elif op == "sigmoid":
            y = sigmoid(x)
        elif op == "tanh":
            y = tanh(x)
        elif op == "softmax":
            y = softmax(x, dim)
        elif op == "log_softmax":
            y = log_softmax(x, dim)
        elif op == "relu_b":
            y = relu_backward(g, x)
        else:
            y = softmax_backward(g, softmax(x, dim), dim)
    except CnncliError:
        return
    assert isinstance(y, np.ndarray)
    assert y.shape == x.shape
    assert y.dtype == x.dtype
    expected = _torch_reference(op, x, g, dim, slope).detach().numpy()  # type: ignore[arg-type]
    nan = np.isnan(expected)  # a NaN slope gives NaN where x <= 0, in both
    np.testing.assert_array_equal(np.isnan(y), nan)
    assert_close(y[~nan], expected[~nan], tol=2e-3 if dtype == "float16" else None)
