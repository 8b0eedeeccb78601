"""The oracle: how every test asks PyTorch (and the central differences) for the expected numbers.

One module for what the tests used to keep in private copies:

- the comparison: :func:`assert_close` and :func:`scaled_error` (errors scaled by the
  expected values' magnitude), and :data:`TOLERANCE` per dtype;
- the numerical gradient: :func:`numerical_gradient` (central differences, float64);
- the PyTorch side: :func:`torch_op` runs one op through torch and returns its output
  and autograd's gradients as NumPy, in the spirit of tinygrad's
  ``helper_test_op(shapes, torch_fn, tinygrad_fn)``; :func:`torch_grad` is its
  one-input form; :func:`torch_conv2d` is the convolution with every cnncli option
  (four padding amounts, padding modes); :func:`torch_state_dict` gives a module's
  weights as NumPy under PyTorch's names; :func:`to_torch` wraps an array without a
  copy; :func:`one_torch_thread` runs torch on one thread for tiny ops;
  :func:`our_train_step` and :func:`torch_train_step` are one cross-entropy training
  step of a cnncli model and of its torch twin, each returning the loss.

The reference networks (the zoo's PyTorch twins) are in :mod:`tests.nn.torch_models`.

PyTorch is imported on first use through ``pytest.importorskip``, so that importing
this module never needs torch: a test without torch uses the comparisons only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

#: Maximum error allowed after scaling: |a - b| / max(1, max|b|).
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}


# ------------------------------------------------------------------------ comparisons
def scaled_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max|actual - expected| divided by max(1, max|expected|)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    if actual.size == 0:
        return 0.0
    scale = max(1.0, float(np.max(np.abs(expected))))
    return float(np.max(np.abs(actual - expected))) / scale


def assert_close(
    actual: np.ndarray, expected: Any, dtype: Any = None, tol: float | None = None
) -> None:
    """Assert that ``actual`` equals ``expected`` within the dtype's scaled tolerance.

    ``expected`` may be a torch tensor; ``actual`` must have the dtype of ``expected``.
    """
    if hasattr(expected, "detach"):
        expected = expected.detach().cpu().numpy()
    expected = np.asarray(expected)
    actual = np.asarray(actual)
    want = np.dtype(dtype) if dtype is not None else expected.dtype
    assert actual.dtype == want, f"dtype {actual.dtype} != {want}"
    limit = tol if tol is not None else TOLERANCE.get(want, 1e-5)
    err = scaled_error(actual, expected)
    assert err <= limit, f"scaled error {err:.3g} > {limit:.1g}"


def numerical_gradient(
    f: Any, x: np.ndarray, grad_output: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """Central-difference gradient of ``sum(f(x) * grad_output)`` with respect to ``x`` (float64)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    flat = x.reshape(-1)
    g = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = float(np.sum(f(x) * grad_output))
        flat[i] = old - eps
        minus = float(np.sum(f(x) * grad_output))
        flat[i] = old
        g[i] = (plus - minus) / (2 * eps)
    return grad


# ------------------------------------------------------------------------ PyTorch
def import_torch() -> Any:
    """The ``torch`` module, or skip the calling test when it is not installed."""
    return pytest.importorskip("torch")


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread inside the block.

    The tests' tensors are tiny: on a busy 2-core machine torch's thread hand-off
    (OpenMP start-up and spinning) costs more than the op itself.
    """
    torch = import_torch()
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def to_torch(a: np.ndarray) -> Any:
    """A tensor sharing ``a``'s memory (made contiguous first when it is not)."""
    return import_torch().from_numpy(np.ascontiguousarray(a))


def torch_op(
    fn: Callable[..., Any],
    *inputs: np.ndarray | None,
    grad_output: np.ndarray | None = None,
    requires_grad: bool | Sequence[bool] = True,
) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """Run one op through PyTorch: ``fn(*tensors)``, then autograd with ``grad_output``.

    Each input is copied into a tensor of its own dtype (``None`` stays ``None``), with
    ``requires_grad`` (one flag, or one per input). Returns ``(out, grads)`` as NumPy:
    ``grads[i]`` is ``d sum(out * grad_output) / d inputs[i]``, or None for a None input,
    an input without ``requires_grad``, or when ``grad_output`` is None (no backward).
    """
    torch = import_torch()
    flags = (
        [requires_grad] * len(inputs) if isinstance(requires_grad, bool) else list(requires_grad)
    )
    tensors = [
        None if a is None else torch.tensor(a, requires_grad=flag)
        for a, flag in zip(inputs, flags, strict=True)
    ]
    out = fn(*tensors)
    grads: list[np.ndarray | None] = [None] * len(inputs)
    if grad_output is not None:
        out.backward(torch.tensor(grad_output))
        grads = [None if t is None or t.grad is None else t.grad.detach().numpy() for t in tensors]
    return out.detach().numpy(), grads


def our_train_step(model: Any, opt: Any, x: np.ndarray, y: np.ndarray) -> float:
    """cnncli: forward, cross-entropy, backward, ``opt.step()``, ``zero_grad``; the loss."""
    from cnncli.engine.loss import cross_entropy, cross_entropy_backward

    logits = model(x)
    loss = float(cross_entropy(logits, y))
    model.backward(cross_entropy_backward(logits, y))
    opt.step()
    opt.zero_grad()
    return loss


def torch_train_step(model: Any, opt: Any, x: np.ndarray, y: np.ndarray) -> float:
    """PyTorch: ``zero_grad``, forward, ``F.cross_entropy``, backward, ``opt.step()``; the loss."""
    torch = import_torch()
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    opt.step()
    return float(loss.item())


def torch_state_dict(module: Any) -> dict[str, np.ndarray]:
    """A torch module's state_dict as NumPy arrays, under PyTorch's names (shared memory)."""
    return {k: v.numpy() for k, v in module.state_dict().items()}


def torch_grad(fn: Callable[[Any], Any], x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Autograd's gradient of ``sum(fn(x) * g)`` with respect to ``x``, as NumPy."""
    _, (dx,) = torch_op(fn, x, grad_output=g)
    assert dx is not None
    return dx


def torch_conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    grad_output: np.ndarray | None = None,
) -> tuple[Any, ...]:
    """PyTorch's output and, with ``grad_output``, autograd's (dx, dw, db), as tensors.

    Four padding amounts go through F.pad first (torch's conv2d takes only
    symmetric ones); other modes use nn.Conv2d's own ``padding_mode``.
    """
    torch = import_torch()
    with one_torch_thread():
        return _torch_conv2d(
            torch, x, w, b, stride, padding, dilation, groups, padding_mode, grad_output
        )


def _torch_conv2d(
    torch: Any,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
    padding_mode: str,
    grad_output: np.ndarray | None,
) -> tuple[Any, ...]:
    F = torch.nn.functional
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    inp = xt
    if not isinstance(padding, (int, str)) and len(padding) == 4:
        inp = F.pad(
            xt, tuple(padding), mode="constant" if padding_mode == "zeros" else padding_mode
        )
        padding = 0
    if padding_mode == "zeros":
        y = F.conv2d(inp, wt, bt, stride, padding, dilation, groups)
    else:
        layer = torch.nn.Conv2d(
            x.shape[1],
            w.shape[0],
            tuple(w.shape[2:]),
            stride,
            padding,
            dilation,
            groups,
            bias=b is not None,
            padding_mode=padding_mode,
            dtype=wt.dtype,
        )
        y = torch.nn.functional.conv2d(
            F.pad(inp, layer._reversed_padding_repeated_twice, mode=padding_mode),
            wt,
            bt,
            stride,
            0,
            dilation,
            groups,
        )
    if grad_output is None:
        return (y,)
    y.backward(torch.tensor(grad_output))
    return y, xt.grad, wt.grad, None if bt is None else bt.grad
