"""The activations by name (``cnncli.engine.activations.ACTIVATIONS``) call the ops they name."""

from __future__ import annotations

import numpy as np
import pytest

from cnncli.engine import activations as A  # noqa: N812
from cnncli.engine import activations_modern as M  # noqa: N812
from cnncli.errors import ParameterError

X = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
DY = np.random.default_rng(1).standard_normal((2, 3, 4, 5)).astype(np.float32)

CASES = {
    "relu": (lambda x: A.relu(x), lambda g, x, y: A.relu_backward(g, x)),
    "leaky-relu": (
        lambda x: A.leaky_relu(x, negative_slope=0.2),
        lambda g, x, y: A.leaky_relu_backward(g, x, negative_slope=0.2),
    ),
    "sigmoid": (lambda x: A.sigmoid(x), lambda g, x, y: A.sigmoid_backward(g, y)),
    "tanh": (lambda x: A.tanh(x), lambda g, x, y: A.tanh_backward(g, y)),
    "softmax": (lambda x: A.softmax(x, 2), lambda g, x, y: A.softmax_backward(g, y, 2)),
    "log-softmax": (
        lambda x: A.log_softmax(x, 2),
        lambda g, x, y: A.log_softmax_backward(g, y, 2),
    ),
    "relu6": (M.relu6, lambda g, x, y: M.relu6_backward(g, x)),
    "hardtanh": (
        lambda x: M.hardtanh(x, -0.5, 0.25),
        lambda g, x, y: M.hardtanh_backward(g, x, -0.5, 0.25),
    ),
    "silu": (M.silu, lambda g, x, y: M.silu_backward(g, x)),
    "gelu": (
        lambda x: M.gelu(x, approximate="tanh"),
        lambda g, x, y: M.gelu_backward(g, x, approximate="tanh"),
    ),
    "hardswish": (M.hardswish, lambda g, x, y: M.hardswish_backward(g, x)),
    "hardsigmoid": (M.hardsigmoid, lambda g, x, y: M.hardsigmoid_backward(g, x)),
    "elu": (lambda x: M.elu(x, 0.3), lambda g, x, y: M.elu_backward(g, x, 0.3)),
    "mish": (M.mish, lambda g, x, y: M.mish_backward(g, x)),
}
#: The parameters the table passes on (each activation reads its own).
MORE = {"min_val": -0.5, "max_val": 0.25, "approximate": "tanh", "alpha": 0.3}


def test_the_table_names_every_activation_once() -> None:
    assert list(A.ACTIVATIONS) == list(CASES)
    assert all(a.name == name for name, a in A.ACTIVATIONS.items())


@pytest.mark.parametrize("name", list(CASES))
def test_forward_and_backward_by_name_are_the_ops(name: str) -> None:
    forward, backward = CASES[name]
    y = A.activation_forward(name, X, 0.2, 2, **MORE)
    np.testing.assert_array_equal(y, forward(X))
    dx = A.activation_backward(name, DY, X, y, 0.2, 2, **MORE)
    np.testing.assert_array_equal(dx, backward(DY, X, y))


def test_text_names_the_parameter_it_uses() -> None:
    assert A.activation_text("relu", 0.2, 2) == "relu"
    assert A.activation_text("leaky-relu", 0.2, 2) == "leaky-relu (negative_slope 0.2)"
    assert A.activation_text("softmax", 0.2, 2) == "softmax over dim 2"
    assert A.activation_text("log-softmax") == "log-softmax over dim 1"
    assert A.activation_text("hardtanh", max_val=6.0) == "hardtanh (min_val -1, max_val 6)"
    assert A.activation_text("elu", alpha=0.5) == "elu (alpha 0.5)"
    assert A.activation_text("gelu", approximate="tanh") == "gelu (approximate tanh)"
    assert A.activation_text("relu6", 0.2, 2) == "relu6"


@pytest.mark.parametrize("call", [A.activation_forward, A.activation_text, A.named_activation])
def test_an_unknown_name_is_a_parameter_error(call) -> None:
    args = (X,) if call is A.activation_forward else ()
    with pytest.raises(ParameterError, match="unknown activation 'swish'"):
        call("swish", *args)
