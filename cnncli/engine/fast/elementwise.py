"""Element-wise activations' tuned forms: the same numbers as the formulas, in fewer passes.

The plain ops in :mod:`cnncli.engine.activations` read as their formulas
(``np.maximum(x, 0)``, ``np.where(x > 0, x, a * x)``); on the fast path they hand
a call here.  The arguments arrive checked.  Why each form is faster: the decision
table in ``benchmarks/README.md``.
"""

from __future__ import annotations

import numpy as np

#: relu compares blocks of this many elements with a block of zeros (benchmarks/README.md).
RELU_BLOCK = 1 << 16
_ZEROS: dict[np.dtype, np.ndarray] = {}


def relu(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)`` as NumPy's maximum of two contiguous arrays, a block at a time (same bits)."""
    if x.size <= RELU_BLOCK or not x.flags.c_contiguous:
        return np.asarray(np.maximum(x, x.dtype.type(0)))
    zeros = _ZEROS.get(x.dtype)
    if zeros is None:
        zeros = np.zeros(RELU_BLOCK, dtype=x.dtype)
        zeros.flags.writeable = False
        _ZEROS[x.dtype] = zeros
    out = np.empty_like(x)
    flat, into = x.reshape(-1), out.reshape(-1)
    for i in range(0, flat.size, RELU_BLOCK):
        j = min(i + RELU_BLOCK, flat.size)
        np.maximum(flat[i:j], zeros[: j - i], out=into[i:j])
    return out


def relu_backward(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``0 if x <= 0 else g`` as a multiplication by the mask, unless g has inf or NaN."""
    keep = ~(x <= 0)  # PyTorch passes the gradient through at NaN inputs
    if not np.isfinite(g).all():  # inf * 0 would be NaN where PyTorch gives 0
        return np.asarray(np.where(keep, g, g.dtype.type(0)))
    return np.asarray(g * keep)


def leaky_relu(x: np.ndarray, a: np.floating) -> np.ndarray:
    """``x if x > 0 else a*x`` as ``max(x, 0) + a * min(x, 0)``: exactly x or a*x, branch-free."""
    zero = x.dtype.type(0)
    if not np.isfinite(a):  # a * 0 would be NaN in the branch-free form
        with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as in PyTorch
            return np.asarray(np.where(x > 0, x, x * a))
    out = np.maximum(x, zero)
    out += np.minimum(x, zero) * a
    return np.asarray(out)


def leaky_relu_backward(g: np.ndarray, x: np.ndarray, a: np.floating) -> np.ndarray:
    """``g if x > 0 else a*g`` as two multiplications by the masks, when everything is finite."""
    keep = x > 0
    if not (np.isfinite(a) and np.isfinite(g).all()):
        return np.asarray(np.where(keep, g, g * a))
    out = g * keep
    out += (g * a) * ~keep
    return np.asarray(out)
