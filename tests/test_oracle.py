"""The oracle's own PyTorch helpers: what they return, in which types."""

from __future__ import annotations

import numpy as np
import pytest

from tests.oracle import (
    assert_close,
    one_torch_thread,
    to_torch,
    torch_conv2d,
    torch_grad,
    torch_op,
    torch_state_dict,
)

torch = pytest.importorskip("torch")


def test_torch_op_returns_output_and_gradients_as_numpy() -> None:
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    w = np.array([[2.0, 0.0], [1.0, -1.0]])
    g = np.ones((2, 2))
    y, (dx, dw, nothing) = torch_op(lambda a, b, c: a @ b, x, w, None, grad_output=g)
    assert isinstance(y, np.ndarray) and y.dtype == np.float64
    np.testing.assert_array_equal(y, x @ w)
    np.testing.assert_array_equal(dx, g @ w.T)
    np.testing.assert_array_equal(dw, x.T @ g)
    assert nothing is None


def test_torch_op_without_grad_output_or_requires_grad_gives_no_gradients() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = np.array([0, 2])
    y, grads = torch_op(torch.nn.functional.cross_entropy, x, t, requires_grad=(True, False))
    assert y.dtype == np.float32 and y.shape == ()
    assert grads == [None, None]
    _, (dx, dt) = torch_op(
        torch.nn.functional.cross_entropy,
        x,
        t,
        grad_output=np.float32(1.0),
        requires_grad=(True, False),
    )
    assert dx is not None and dx.shape == x.shape and dt is None


def test_torch_grad_is_the_one_input_form() -> None:
    x = np.array([-1.0, 0.0, 2.0], dtype=np.float32)
    g = np.array([5.0, 6.0, 7.0], dtype=np.float32)
    dx = torch_grad(torch.relu, x, g)
    np.testing.assert_array_equal(dx, np.array([0.0, 0.0, 7.0], dtype=np.float32))


def test_torch_conv2d_gives_tensors_and_four_paddings() -> None:
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 3, 3))
    (y,) = torch_conv2d(x, w, None, padding=(1, 0, 0, 1))
    assert tuple(y.shape) == (1, 1, 3, 3)
    assert_close(y[0, 0, 0, 0].detach().numpy(), x[0, 0, :3, :2].sum())
    y, dx, dw, db = torch_conv2d(x, w, np.zeros(1), grad_output=np.ones((1, 1, 2, 2)))
    assert tuple(dx.shape) == x.shape and tuple(dw.shape) == w.shape and tuple(db.shape) == (1,)


def test_to_torch_shares_memory_and_state_dict_is_numpy() -> None:
    a = np.zeros((2, 3), dtype=np.float32)
    t = to_torch(a)
    t[0, 0] = 1.0
    assert a[0, 0] == 1.0
    state = torch_state_dict(torch.nn.Linear(3, 2))
    assert list(state) == ["weight", "bias"]
    assert all(isinstance(v, np.ndarray) for v in state.values())


def test_one_torch_thread_restores_the_thread_count() -> None:
    before = torch.get_num_threads()
    with one_torch_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
