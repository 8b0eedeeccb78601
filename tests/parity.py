"""Helpers for comparing cnncli against the PyTorch oracle and the naive references."""

from __future__ import annotations

from typing import Any

import numpy as np

#: Maximum error allowed after scaling: |a - b| / max(1, max|b|).
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}


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
