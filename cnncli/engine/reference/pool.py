"""Pooling as literal loops over the seed's formulas: the teaching version and a test oracle.

The seed writes 2×2 pooling of a map X as::

    max pooling:      Y[i, j] = max(X[i:i+k, j:j+k])
    average pooling:  Y[i, j] = 1/k² · Σ_{m<k, n<k} X[i+m, j+n]

Generalised here the way PyTorch generalises them: stride s, padding p (−∞ for
max, 0 for average), dilation d (max only), ceil_mode, count_include_pad and
divisor_override; adaptive pooling with PyTorch's bins.  Every loop is written
out, one output cell at a time, so that each number can be traced by hand.
These functions validate through :mod:`cnncli.engine.shapes` like the vectorised
ones but are slow; the vectorised versions (a window view, and the fast path's two
passes) are in :mod:`cnncli.engine.pool`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnncli.engine.shapes import IntOrPair, adaptive_bins, pool2d_geometry


def _planes(x: np.ndarray) -> tuple[np.ndarray, bool]:
    x = np.asarray(x)
    return (x[None], True) if x.ndim == 3 else (x, False)


def _window(start: int, K: int, d: int, size: int) -> list[int]:
    """Input positions of one window along an axis that fall inside the input."""
    return [start + m * d for m in range(K) if 0 <= start + m * d < size]


def max_pool2d(
    input: np.ndarray,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Max pooling, one output cell at a time (see :func:`cnncli.engine.pool.max_pool2d`).

    Shapes: (N, C, H, W) → (N, C, OH, OW) (plus flat H*W indices).
    ``Y[i, j] = max_{m, n} X[i*sh + m*dh − ph, j*sw + n*dw − pw]``, scanning the window
    in row-major order and keeping the first maximum (the last NaN), as PyTorch.
    """
    x, unbatched = _planes(input)
    g = pool2d_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    (sh, sw), (ph, pw), (dh, dw) = g.stride, g.padding, g.dilation
    y = np.empty((g.N, g.C, g.OH, g.OW), dtype=x.dtype)
    idx = np.empty((g.N, g.C, g.OH, g.OW), dtype=np.int64)
    for n in range(g.N):
        for c in range(g.C):
            for i in range(g.OH):
                for j in range(g.OW):
                    h0, w0 = i * sh - ph, j * sw - pw
                    # PyTorch's starting index: the first tap at a position >= 0
                    while h0 < 0:
                        h0 += dh
                    while w0 < 0:
                        w0 += dw
                    best, where = -math.inf, h0 * g.W + w0
                    for h in _window(i * sh - ph, g.KH, dh, g.H):
                        for w in _window(j * sw - pw, g.KW, dw, g.W):
                            v = x[n, c, h, w]
                            if v > best or math.isnan(v):
                                best, where = v, h * g.W + w
                    y[n, c, i, j] = best
                    idx[n, c, i, j] = where
    if unbatched:
        y, idx = y[0], idx[0]
    return (y, idx) if return_indices else y


def max_pool2d_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """dX of max pooling: each dY[i, j] is added at its window's maximum.

    (see :func:`cnncli.engine.pool.max_pool2d_backward`).  A window that sees
    only padding passes nothing.
    """
    x, unbatched = _planes(input)
    g = pool2d_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    gy = np.asarray(grad_output)
    gy = gy[None] if unbatched else gy
    _, idx = max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode, True)
    (sh, sw), (ph, pw), (dh, dw) = g.stride, g.padding, g.dilation
    dx = np.zeros(x.shape, dtype=np.result_type(gy, x))
    for n in range(g.N):
        for c in range(g.C):
            for i in range(g.OH):
                for j in range(g.OW):
                    if not _window(i * sh - ph, g.KH, dh, g.H) or not _window(
                        j * sw - pw, g.KW, dw, g.W
                    ):
                        continue
                    h, w = divmod(int(idx[n, c, i, j]), g.W)
                    dx[n, c, h, w] += gy[n, c, i, j]
    return dx[0] if unbatched else dx


def _avg_divisor(
    i: int, j: int, g: Any, count_include_pad: bool, divisor_override: int | None
) -> int:
    """PyTorch's divisor of window (i, j): clip to the padded input, then maybe to the input."""
    (sh, sw), (ph, pw) = g.stride, g.padding
    h0, w0 = i * sh - ph, j * sw - pw
    h1, w1 = min(h0 + g.KH, g.H + ph), min(w0 + g.KW, g.W + pw)
    if divisor_override is not None:
        return divisor_override
    if count_include_pad:
        return (h1 - h0) * (w1 - w0)
    return (min(h1, g.H) - max(h0, 0)) * (min(w1, g.W) - max(w0, 0))


def avg_pool2d(
    input: np.ndarray,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """Average pooling, one output cell at a time (see :func:`cnncli.engine.pool.avg_pool2d`).

    Shapes: (N, C, H, W) → (N, C, OH, OW).
    ``Y[i, j] = 1/D · Σ_{m, n} X[i*sh + m − ph, j*sw + n − pw]``, padding 0; the seed's
    ``1/k²`` is D for a window inside the input.
    """
    x, unbatched = _planes(input)
    g = pool2d_geometry(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    (sh, sw), (ph, pw) = g.stride, g.padding
    y = np.empty((g.N, g.C, g.OH, g.OW), dtype=x.dtype)
    for n in range(g.N):
        for c in range(g.C):
            for i in range(g.OH):
                for j in range(g.OW):
                    total = 0.0
                    for h in _window(i * sh - ph, g.KH, 1, g.H):
                        for w in _window(j * sw - pw, g.KW, 1, g.W):
                            total += x[n, c, h, w]
                    y[n, c, i, j] = total / _avg_divisor(
                        i, j, g, count_include_pad, divisor_override
                    )
    return y[0] if unbatched else y


def avg_pool2d_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """dX of average pooling: each dY[i, j]/D is added to every input cell of its window.

    (see :func:`cnncli.engine.pool.avg_pool2d_backward`).
    """
    x, unbatched = _planes(input)
    g = pool2d_geometry(x.shape, kernel_size, stride, padding, 1, ceil_mode)
    gy = np.asarray(grad_output)
    gy = gy[None] if unbatched else gy
    (sh, sw), (ph, pw) = g.stride, g.padding
    dx = np.zeros(x.shape, dtype=np.result_type(gy, x))
    for n in range(g.N):
        for c in range(g.C):
            for i in range(g.OH):
                for j in range(g.OW):
                    share = gy[n, c, i, j] / _avg_divisor(
                        i, j, g, count_include_pad, divisor_override
                    )
                    for h in _window(i * sh - ph, g.KH, 1, g.H):
                        for w in _window(j * sw - pw, g.KW, 1, g.W):
                            dx[n, c, h, w] += share
    return dx[0] if unbatched else dx


def _out_size(output_size: Any, H: int, W: int) -> tuple[int, int]:
    if isinstance(output_size, int):
        return output_size, output_size
    oh, ow = (tuple(output_size) * 2)[:2] if len(output_size) == 1 else tuple(output_size)
    return (H if oh is None else oh), (W if ow is None else ow)


def adaptive_avg_pool2d(input: np.ndarray, output_size: Any) -> np.ndarray:
    """Adaptive average pooling, bin by bin (see :func:`cnncli.engine.pool.adaptive_avg_pool2d`).

    Bin i covers ``⌊i·H/OH⌋ ≤ h < ⌈(i+1)·H/OH⌉`` (the same along W); Y is its mean.
    """
    x, unbatched = _planes(input)
    N, C, H, W = x.shape
    OH, OW = _out_size(output_size, H, W)
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i, (h0, h1) in enumerate(adaptive_bins(H, OH)):
                for j, (w0, w1) in enumerate(adaptive_bins(W, OW)):
                    total = 0.0
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            total += x[n, c, h, w]
                    y[n, c, i, j] = total / ((h1 - h0) * (w1 - w0))
    return y[0] if unbatched else y


def adaptive_avg_pool2d_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """dX of adaptive average pooling: dY[i, j]/|bin| to each cell of the bin.

    (see :func:`cnncli.engine.pool.adaptive_avg_pool2d_backward`).
    """
    x, unbatched = _planes(input)
    gy = np.asarray(grad_output)
    gy = gy[None] if unbatched else gy
    N, C, H, W = x.shape
    OH, OW = gy.shape[2:]
    dx = np.zeros(x.shape, dtype=np.result_type(gy, x))
    for n in range(N):
        for c in range(C):
            for i, (h0, h1) in enumerate(adaptive_bins(H, OH)):
                for j, (w0, w1) in enumerate(adaptive_bins(W, OW)):
                    share = gy[n, c, i, j] / ((h1 - h0) * (w1 - w0))
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            dx[n, c, h, w] += share
    return dx[0] if unbatched else dx


def adaptive_max_pool2d(input: np.ndarray, output_size: Any, return_indices: bool = False) -> Any:
    """Adaptive max pooling, bin by bin (see :func:`cnncli.engine.pool.adaptive_max_pool2d`).

    Y is the maximum of its bin, scanned in row-major order (first maximum, last NaN).
    """
    x, unbatched = _planes(input)
    N, C, H, W = x.shape
    OH, OW = _out_size(output_size, H, W)
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    idx = np.empty((N, C, OH, OW), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i, (h0, h1) in enumerate(adaptive_bins(H, OH)):
                for j, (w0, w1) in enumerate(adaptive_bins(W, OW)):
                    best, where = -math.inf, h0 * W + w0
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            v = x[n, c, h, w]
                            if v > best or math.isnan(v):
                                best, where = v, h * W + w
                    y[n, c, i, j] = best
                    idx[n, c, i, j] = where
    if unbatched:
        y, idx = y[0], idx[0]
    return (y, idx) if return_indices else y


def adaptive_max_pool2d_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """dX of adaptive max pooling: each dY[i, j] to its bin's maximum.

    (see :func:`cnncli.engine.pool.adaptive_max_pool2d_backward`).
    """
    x, unbatched = _planes(input)
    gy = np.asarray(grad_output)
    gy = gy[None] if unbatched else gy
    N, C, _, W = x.shape
    _, idx = adaptive_max_pool2d(x, tuple(gy.shape[2:]), True)
    dx = np.zeros(x.shape, dtype=np.result_type(gy, x))
    for n in range(N):
        for c in range(C):
            for i in range(gy.shape[2]):
                for j in range(gy.shape[3]):
                    h, w = divmod(int(idx[n, c, i, j]), W)
                    dx[n, c, h, w] += gy[n, c, i, j]
    return dx[0] if unbatched else dx


def global_avg_pool2d(input: np.ndarray) -> np.ndarray:
    """Mean of each map (see :func:`cnncli.engine.pool.global_avg_pool2d`)."""
    return adaptive_avg_pool2d(input, 1)


def global_max_pool2d(input: np.ndarray) -> np.ndarray:
    """Maximum of each map (see :func:`cnncli.engine.pool.global_max_pool2d`)."""
    return adaptive_max_pool2d(input, 1)


def global_avg_pool2d_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """dX of the global mean (see :func:`cnncli.engine.pool.global_avg_pool2d_backward`)."""
    return adaptive_avg_pool2d_backward(grad_output, input)


def global_max_pool2d_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """dX of the global maximum (see :func:`cnncli.engine.pool.global_max_pool2d_backward`)."""
    return adaptive_max_pool2d_backward(grad_output, input)


__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "global_avg_pool2d",
    "global_avg_pool2d_backward",
    "global_max_pool2d",
    "global_max_pool2d_backward",
    "max_pool2d",
    "max_pool2d_backward",
]
