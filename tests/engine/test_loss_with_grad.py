"""cross_entropy_with_grad: the loss and its gradient of one call, the same bits as the two
functions called apart, for every target kind, reduction and smoothing (the torch parity of
those two is in test_loss.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cnncli.engine.loss import cross_entropy, cross_entropy_backward, cross_entropy_with_grad
from cnncli.errors import ShapeError


@pytest.mark.parametrize(
    ("dtype", "reduction", "smoothing", "probabilities", "grad_output"),
    [
        *itertools.product(
            [np.float32, np.float64, np.float16], ["mean", "sum"], [0.0, 0.1], [False, True], [None]
        ),
        (np.float32, "sum", 0.0, False, 1 / 64),  # a part's share of a batch of 64
        (np.float32, "none", 0.2, False, None),
    ],
)
def test_the_same_bits_as_the_two_calls(
    dtype: type, reduction: str, smoothing: float, probabilities: bool, grad_output: float | None
) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((13, 10)) * 4).astype(dtype)
    if probabilities:
        t = rng.random((13, 10)).astype(dtype)
        t /= t.sum(axis=1, keepdims=True)
    else:
        t = rng.integers(0, 10, 13)
    loss, grad = cross_entropy_with_grad(
        x, t, reduction, label_smoothing=smoothing, grad_output=grad_output
    )
    want_loss = cross_entropy(x, t, reduction=reduction, label_smoothing=smoothing)
    want_grad = cross_entropy_backward(
        x, t, reduction, label_smoothing=smoothing, grad_output=grad_output
    )
    assert loss.dtype == want_loss.dtype == dtype and loss.shape == want_loss.shape
    assert grad.dtype == want_grad.dtype == dtype and grad.shape == x.shape
    assert np.array_equal(loss, want_loss) and np.array_equal(grad, want_grad)
    assert np.abs(grad).max() > 0


def test_mistakes_are_the_same_errors() -> None:
    x = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(ShapeError, match="target must have shape"):
        cross_entropy_with_grad(x, np.zeros(5, dtype=np.int64))
