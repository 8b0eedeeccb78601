"""Naive references for ``interpolate`` (nearest, bilinear) and ``group_norm``: literal loops.

Every output cell is computed on its own from the formulas of
:mod:`cnncli.engine.upsample` and :func:`cnncli.engine.norm.group_norm`, so the
engine's vectorised versions can be checked against something that reads like the
definition.  Slow on purpose.

interpolate, one axis of input length n and output length o, r = 1/scale_factor when a
scale factor is given, else n/o (as PyTorch: nearest in float32 arithmetic, bilinear in
the input's dtype)::

    nearest:  src(i) = min(floor(i·r), n − 1)
    bilinear: s(i) = max(r·(i + 0.5) − 0.5, 0)      (align_corners=False)
              s(i) = i·(n − 1)/(o − 1)              (align_corners=True)
              i0 = min(floor(s), n − 1), i1 = min(i0 + 1, n − 1), λ1 = s − i0, λ0 = 1 − λ1
    Y[n, c, i, j] = Σ over the two rows and two columns of λ_row·λ_col·X[n, c, row, col]

group_norm, channels split into G groups of C/G::

    μ_g = mean of x over the group's channels and all positions of one image
    σ²_g = the biased variance of the same values
    y = (x − μ_g)/sqrt(σ²_g + eps)·γ_c + β_c
"""

from __future__ import annotations

import math

import numpy as np


def _src_linear(i: int, n: int, o: int, scale: float | None, align_corners: bool, t: type) -> float:
    if o == n:
        return float(i)
    if align_corners:
        return float(t(n - 1) / t(o - 1) * t(i)) if o > 1 else 0.0
    r = t(1 / scale) if scale else t(n) / t(o)
    return max(float(r * (t(i) + t(0.5)) - t(0.5)), 0.0)


def _weights(
    i: int, n: int, o: int, scale: float | None, mode: str, align_corners: bool, t: type
) -> list[tuple[int, float]]:
    """The (input index, weight) pairs output index ``i`` reads along one axis; ``t`` is
    the type bilinear computes its source index in (np.float32 or np.float64)."""
    if mode == "nearest":
        if o == n:
            return [(i, 1.0)]
        r = np.float32(1 / scale) if scale else np.float32(n) / np.float32(o)
        return [(min(math.floor(float(np.float32(i) * r)), n - 1), 1.0)]
    s = _src_linear(i, n, o, scale, align_corners, t)
    i0 = min(math.floor(s), n - 1)
    i1 = min(i0 + 1, n - 1)
    l1 = s - i0
    return [(i0, 1.0 - l1), (i1, l1)]


def interpolate_naive(
    x: np.ndarray,
    size: tuple[int, int],
    scale_factor: tuple[float, float] | None = None,
    mode: str = "nearest",
    align_corners: bool = False,
) -> np.ndarray:
    """(N, C, H, W) → (N, C, OH, OW) = ``size``, one output cell at a time (float64 sums)."""
    N, C, H, W = x.shape
    OH, OW = size
    sh, sw = scale_factor if scale_factor else (None, None)
    t = np.float32 if x.dtype == np.float32 else np.float64
    y = np.zeros((N, C, OH, OW))
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    total = 0.0
                    for row, a in _weights(i, H, OH, sh, mode, align_corners, t):
                        for col, b in _weights(j, W, OW, sw, mode, align_corners, t):
                            total += a * b * float(x[n, c, row, col])
                    y[n, c, i, j] = total
    return y


def interpolate_backward_naive(
    grad_output: np.ndarray,
    input_shape: tuple[int, int, int, int],
    scale_factor: tuple[float, float] | None = None,
    mode: str = "nearest",
    align_corners: bool = False,
) -> np.ndarray:
    """dX: each output cell's gradient added to the cells it read, times their weights."""
    N, C, H, W = input_shape
    OH, OW = grad_output.shape[2:]
    sh, sw = scale_factor if scale_factor else (None, None)
    t = np.float32 if grad_output.dtype == np.float32 else np.float64
    dx = np.zeros(input_shape)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    for row, a in _weights(i, H, OH, sh, mode, align_corners, t):
                        for col, b in _weights(j, W, OW, sw, mode, align_corners, t):
                            dx[n, c, row, col] += a * b * float(grad_output[n, c, i, j])
    return dx


def group_norm_naive(
    x: np.ndarray,
    num_groups: int,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    eps: float = 1e-5,
) -> np.ndarray:
    """Group normalisation of (N, C, ...) one image and one group at a time (float64)."""
    N, C = x.shape[:2]
    per = C // num_groups
    y = np.zeros(x.shape)
    for n in range(N):
        for g in range(num_groups):
            values = [float(v) for c in range(g * per, (g + 1) * per) for v in x[n, c].ravel()]
            mean = sum(values) / len(values)
            var = sum((v - mean) ** 2 for v in values) / len(values)
            for c in range(g * per, (g + 1) * per):
                gamma = 1.0 if weight is None else float(weight[c])
                beta = 0.0 if bias is None else float(bias[c])
                y[n, c] = (x[n, c].astype(np.float64) - mean) / math.sqrt(var + eps) * gamma + beta
    return y
