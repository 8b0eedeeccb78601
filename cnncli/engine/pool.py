"""Pooling layers, forward and backward, NCHW, with PyTorch's semantics.

The seed writes 2×2 pooling of a map X with a k×k window as::

    max pooling:      Y[i, j] = max X[i:i+k, j:j+k]
    average pooling:  Y[i, j] = 1/k² · Σ_{m<k, n<k} X[i+m, j+n]

Here, as in PyTorch, window (i, j) starts at row ``i·sh − ph`` and column
``j·sw − pw`` (stride s, padding p), its taps ``dh`` and ``dw`` apart (dilation d,
max pooling only).  The code says it the same way: pad the input (−∞ for max, 0
for sums), take every window as a strided view (N, C, OH, OW, KH, KW), and reduce
the last two axes with ``max`` or ``sum`` / divisor.  The backward is the adjoint:
each gradient goes back to the input cells of its window (to its maximum, for max
pooling).  Output size along one axis (see :mod:`cnncli.engine.shapes`)::

    OH = ⌊(H + 2·ph − dh·(KH − 1) − 1) / sh⌋ + 1   (⌈⌉ with ceil_mode, the last
                                                   window starting inside H + ph)

Adaptive pooling divides H into OH bins, bin i covering rows
``⌊i·H/OH⌋ ≤ h < ⌈(i+1)·H/OH⌉`` (the same along W), and pools each bin.

Max pooling's index is PyTorch's: the flat index into H*W of the first maximum in
row-major order, or of the last NaN if the window holds one.  float16 is computed
in float32 and rounded once, as PyTorch's CPU kernels do.  One deliberate
difference: with dilation a window can fall wholly in the padding.  Its output is
−∞ and its index PyTorch's (meaningless) one, as in PyTorch, but its gradient is
dropped, where PyTorch adds it at that index.

The fast path (:mod:`cnncli.engine.fast.pool`, :mod:`cnncli.engine.fast.adaptive_pool`)
computes the same numbers by two passes of 1-D pooling; each op below says where it
hands over.  The naive loops, one output cell at a time, are in
:mod:`cnncli.engine.reference.pool`; the tests hold all three equal.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnncli.engine._checks import as_float_array, half_in_single, result_dtype
from cnncli.engine.fast import adaptive_pool as fast_adaptive
from cnncli.engine.fast import pool as fast_pool
from cnncli.engine.shapes import (
    IntOrPair,
    Pool2dGeometry,
    adaptive_bins,
    adaptive_output_size,
    check_nchw,
    pool2d_geometry,
)
from cnncli.engine.switch import fast_enabled
from cnncli.errors import ParameterError, ResourceLimitError, ShapeError

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
    "pool2d_method",
]

#: Largest kernel size, stride, padding or dilation accepted (PyTorch fails past int64 anyway).
MAX_PARAMETER = 2**31 - 1
#: Largest number of output elements adaptive pooling may allocate (1 GiB of float32).
MAX_OUTPUT_ELEMENTS = 2**28
#: Average pooling's divisors of at most this many values are remembered (256 KiB of float32).
REMEMBERED_DIVISOR_VALUES = 1 << 16


# ----------------------------------------------------------------------------- windows


def _pad(x: np.ndarray, geom: Pool2dGeometry, fill: Any) -> np.ndarray:
    """``x`` (N, C, H, W) padded with ``fill``, and on to where ceil_mode's last window ends."""
    (sh, sw), (ph, pw), (dh, dw) = geom.stride, geom.padding, geom.dilation
    bottom = max(ph, (geom.OH - 1) * sh + dh * (geom.KH - 1) + 1 - geom.H - ph)
    right = max(pw, (geom.OW - 1) * sw + dw * (geom.KW - 1) + 1 - geom.W - pw)
    return np.pad(x, ((0, 0), (0, 0), (ph, bottom), (pw, right)), constant_values=fill)


def _windows(x: np.ndarray, geom: Pool2dGeometry, fill: Any) -> np.ndarray:
    """Every pooling window of ``x`` as a strided view: (N, C, H, W) → (N, C, OH, OW, KH, KW).

    The padding is ``fill`` (−∞ for max, 0 for sums); window (i, j) starts at padded
    cell (i·sh, j·sw), and its taps lie dh rows and dw columns apart.  No copy.
    """
    (sh, sw), (dh, dw) = geom.stride, geom.dilation
    reach = (dh * (geom.KH - 1) + 1, dw * (geom.KW - 1) + 1)  # rows and columns one window spans
    every = sliding_window_view(_pad(x, geom, fill), reach, axis=(2, 3))  # a window at each cell
    return every[:, :, : (geom.OH - 1) * sh + 1 : sh, : (geom.OW - 1) * sw + 1 : sw, ::dh, ::dw]


def _window_starts(geom: Pool2dGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Input row (OH, 1) and column (OW,) of each window's first tap (negative in the padding)."""
    top = np.arange(geom.OH)[:, None] * geom.stride[0] - geom.padding[0]
    left = np.arange(geom.OW) * geom.stride[1] - geom.padding[1]
    return top, left


def _first_max(values: np.ndarray) -> np.ndarray:
    """Position along the last axis of PyTorch's maximum: the first maximum, or the last NaN.

    PyTorch scans a window in row-major order and takes a value when ``value > best
    or isnan(value)``; np.argmax gives the first maximum, and the first NaN.
    """
    first = np.argmax(values, axis=-1)
    isnan = np.isnan(values)
    last_nan = values.shape[-1] - 1 - np.argmax(isnan[..., ::-1], axis=-1)
    return np.where(isnan.any(axis=-1), last_nan, first)


def _add_at(g: np.ndarray, index: np.ndarray, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """``dx[n, c].flat[index[n, c, i, j]] += g[n, c, i, j]``, repeats accumulating."""
    N, C, H, W = shape
    dx = np.zeros((N * C, H * W), dtype=dtype)
    plane = np.arange(N * C).reshape(N, C, 1, 1)
    np.add.at(dx, (plane, index), g)
    return dx.reshape(shape)


def _unbatch(y: np.ndarray, unbatched: bool) -> np.ndarray:
    return y[0] if unbatched else y


# ----------------------------------------------------------------------------- max pooling


def max_pool2d(
    input: np.ndarray,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``.

    Shapes: input (N, C, H, W) or (C, H, W) → output (N, C, OH, OW); with
    ``return_indices`` also the flat index into H*W of each maximum (int64).

    ``Y[n, c, i, j] = max over m < KH, q < KW of X[n, c, i*sh + m*dh − ph, j*sw + q*dw − pw]``,
    padding counting as −∞.  Naive loops: :func:`cnncli.engine.reference.pool.max_pool2d`.
    """
    x, unbatched = _as_nchw(input)
    geom = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    if fast_enabled():  # two passes of 1-D maxima over the batch, in cache-sized blocks, on threads
        out = fast_pool.max_pool2d(x, geom, return_indices)
    elif return_indices:
        out = _max_with_indices(x, geom)
    else:
        out = _windows(x, geom, -np.inf).max(axis=(4, 5))
    if return_indices:
        return _unbatch(out[0], unbatched), _unbatch(out[1], unbatched)
    return _unbatch(out, unbatched)


def _max_with_indices(x: np.ndarray, geom: Pool2dGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Maxima (N, C, OH, OW) and PyTorch's flat H*W index of each."""
    (dh, dw), KW = geom.dilation, geom.KW
    taps = _windows(x, geom, -np.inf).reshape(geom.N, geom.C, geom.OH, geom.OW, geom.KH * KW)
    out = taps.max(axis=4)
    m, q = np.divmod(_first_max(taps), KW)  # (N, C, OH, OW): row and column of the winning tap
    top, left = _window_starts(geom)
    row, col = top + m * dh, left + q * dw
    # A window whose maximum is −∞ keeps PyTorch's first candidate, its first tap inside
    # the input (argmax may have picked a −∞ of the padding before it).
    first_row = top + np.maximum(0, -(top // dh)) * dh
    first_col = left + np.maximum(0, -(left // dw)) * dw
    none_higher = out == -np.inf
    row, col = np.where(none_higher, first_row, row), np.where(none_higher, first_col, col)
    return out, row * geom.W + col


@half_in_single
def max_pool2d_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Gradient of :func:`max_pool2d` with respect to its input.

    Shapes: grad_output (N, C, OH, OW), input (N, C, H, W) → dx (N, C, H, W).

    Each ``grad_output[n, c, i, j]`` goes to the window's maximum (the first in
    row-major order on ties, the last NaN if any, as PyTorch); overlapping
    windows accumulate.  A window that sees only padding (possible with dilation)
    passes no gradient.  Naive loops: :func:`cnncli.engine.reference.pool.max_pool2d_backward`.
    """
    x, unbatched = _as_nchw(input)
    geom = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    g, dtype = _grad_as(grad_output, x, unbatched, (geom.N, geom.C, geom.OH, geom.OW))
    if fast_enabled():  # the adjoint of the two passes, the winning taps kept in int8
        return _unbatch(fast_pool.max_pool2d_backward(g, x, geom, dtype), unbatched)
    _, index = _max_with_indices(x, geom)
    inside = np.ones((1, 1, geom.H, geom.W), dtype=bool)
    seen = _windows(inside, geom, False).any(axis=(4, 5))  # (1, 1, OH, OW): sees some input
    g = np.where(seen, g, 0).astype(dtype)
    return _unbatch(_add_at(g, np.where(seen, index, 0), x.shape, dtype), unbatched)


# ----------------------------------------------------------------------------- average pooling


@half_in_single
def avg_pool2d(
    input: np.ndarray,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``.

    Shapes: input (N, C, H, W) or (C, H, W) → output (N, C, OH, OW).

    ``Y[n, c, i, j] = 1/D · Σ_{m<KH, q<KW} X[n, c, i*sh + m − ph, j*sw + q − pw]``
    (padding is 0), with ``D = KH·KW`` for a window inside the input; at the
    border ``D`` counts the padding (count_include_pad) or not, never the
    ceil_mode overhang; ``divisor_override`` sets ``D``.
    Naive loops: :func:`cnncli.engine.reference.pool.avg_pool2d`.
    """
    x, unbatched = _as_nchw(input)
    geom = _geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    divisor = _avg_divisor(geom, bool(count_include_pad), _check_divisor(divisor_override), x.dtype)
    if fast_enabled():  # dense full-resolution sums, or two passes of 1-D sums, in blocks
        return _unbatch(fast_pool.avg_pool2d(x, geom, divisor), unbatched)
    sums = _windows(x, geom, 0.0).sum(axis=(4, 5))  # (N, C, OH, OW)
    return _unbatch(sums / divisor, unbatched)


@half_in_single
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
    """Gradient of :func:`avg_pool2d` with respect to its input.

    Shapes: grad_output (N, C, OH, OW), input (N, C, H, W) → dx (N, C, H, W).

    ``dX[n, c, h, w] = Σ over windows (i, j) holding (h, w) of dY[n, c, i, j] / D[i, j]``.
    Naive loops: :func:`cnncli.engine.reference.pool.avg_pool2d_backward`.
    """
    x, unbatched = _as_nchw(input)
    geom = _geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    g, dtype = _grad_as(grad_output, x, unbatched, (geom.N, geom.C, geom.OH, geom.OW))
    divisor = _avg_divisor(geom, bool(count_include_pad), _check_divisor(divisor_override), dtype)
    if fast_enabled():  # the adjoint of the two passes of sums, in blocks, on threads
        return _unbatch(fast_pool.avg_pool2d_backward(g, geom, divisor, dtype), unbatched)
    share = np.divide(g, divisor, dtype=dtype)  # (N, C, OH, OW): dY / D
    (sh, sw), (ph, pw), OH, OW = geom.stride, geom.padding, geom.OH, geom.OW
    dx = _pad(np.zeros(x.shape, dtype=dtype), geom, 0.0)  # dX of the padded input
    for m in range(geom.KH):  # tap (m, q) of every window at once
        for q in range(geom.KW):
            dx[:, :, m : m + (OH - 1) * sh + 1 : sh, q : q + (OW - 1) * sw + 1 : sw] += share
    return _unbatch(dx[:, :, ph : ph + geom.H, pw : pw + geom.W], unbatched)


def _avg_divisor(
    geom: Pool2dGeometry, count_include_pad: bool, divisor_override: int | None, dtype: Any
) -> np.ndarray:
    """The divisor D of each window (OH, OW), by PyTorch's rules; read-only.

    A window is first clipped to the padded input (the ceil_mode overhang never
    counts), then to the input itself; count_include_pad divides by the first
    size, otherwise by the second; divisor_override replaces both.  Up to
    :data:`REMEMBERED_DIVISOR_VALUES` values it is remembered between calls (a layer
    asks for the same one at every step), whatever the batch and channels.
    """
    plane = dataclasses.replace(geom, N=1, C=1)  # D depends on neither
    args = (plane, count_include_pad, divisor_override, np.dtype(dtype))
    if geom.OH * geom.OW <= REMEMBERED_DIVISOR_VALUES:
        return _remembered_divisor(*args)
    return _divisor(*args)


def _divisor(
    geom: Pool2dGeometry, count_include_pad: bool, divisor_override: int | None, dtype: Any
) -> np.ndarray:
    sizes = []
    for L, OL, K, s, p in (
        (geom.H, geom.OH, geom.KH, geom.stride[0], geom.padding[0]),
        (geom.W, geom.OW, geom.KW, geom.stride[1], geom.padding[1]),
    ):
        start = np.arange(OL, dtype=np.int64) * s - p
        end = np.minimum(start + K, L + p)
        clipped = np.minimum(end, L) - np.maximum(start, 0)
        sizes.append(end - start if count_include_pad else clipped)
    divisor = (sizes[0][:, None] * sizes[1][None, :]).astype(dtype)
    if divisor_override is not None:
        divisor[...] = divisor_override
    divisor.flags.writeable = False
    return divisor


_remembered_divisor = functools.lru_cache(maxsize=256)(_divisor)


# ----------------------------------------------------------------------------- adaptive pooling


@half_in_single
def adaptive_avg_pool2d(input: np.ndarray, output_size: Any) -> np.ndarray:
    """Adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Shapes: input (N, C, H, W) or (C, H, W) → output (N, C, OH, OW); output_size
    is an int or a pair, a None entry keeping that input size.

    Bin i along H covers rows ``⌊i·H/OH⌋ ≤ h < ⌈(i+1)·H/OH⌉`` (the same along W);
    ``Y[n, c, i, j]`` is the mean of its bin.
    Naive loops: :func:`cnncli.engine.reference.pool.adaptive_avg_pool2d`.
    """
    x, unbatched, OH, OW = _adaptive_setup(input, output_size)
    if fast_enabled():  # regular bins as strided windows, the rest gathered by bin length
        return _unbatch(fast_adaptive.adaptive_avg_pool2d(x, OH, OW), unbatched)
    N, C, H, W = x.shape
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    for i, (h0, h1) in enumerate(adaptive_bins(H, OH)):
        for j, (w0, w1) in enumerate(adaptive_bins(W, OW)):
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return _unbatch(out, unbatched)


@half_in_single
def adaptive_avg_pool2d_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """Gradient of :func:`adaptive_avg_pool2d` (output size read from grad_output).

    Shapes: grad_output (N, C, OH, OW), input (N, C, H, W) → dx (N, C, H, W).

    ``dX[n, c, h, w] = Σ over bins (i, j) holding (h, w) of dY[n, c, i, j] / |bin(i, j)|``.
    Naive loops: :func:`cnncli.engine.reference.pool.adaptive_avg_pool2d_backward`.
    """
    g, x, unbatched, dtype = _adaptive_grad(grad_output, input)
    if fast_enabled():  # the adjoint of the strided windows, or range sums over the bins
        return _unbatch(fast_adaptive.adaptive_avg_pool2d_backward(g, x, dtype), unbatched)
    H, W = x.shape[2:]
    dx = np.zeros(x.shape, dtype=dtype)
    for i, (h0, h1) in enumerate(adaptive_bins(H, g.shape[2])):
        for j, (w0, w1) in enumerate(adaptive_bins(W, g.shape[3])):
            dx[:, :, h0:h1, w0:w1] += g[:, :, i, j, None, None] / ((h1 - h0) * (w1 - w0))
    return _unbatch(dx, unbatched)


def adaptive_max_pool2d(input: np.ndarray, output_size: Any, return_indices: bool = False) -> Any:
    """Adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool2d``.

    Shapes: input (N, C, H, W) or (C, H, W) → output (N, C, OH, OW) (and int64
    flat H*W indices with ``return_indices``).  Bins as in :func:`adaptive_avg_pool2d`;
    ``Y[n, c, i, j]`` is the maximum of its bin (first in row-major order on ties).
    Naive loops: :func:`cnncli.engine.reference.pool.adaptive_max_pool2d`.
    """
    x, unbatched, OH, OW = _adaptive_setup(input, output_size)
    if fast_enabled():  # regular bins as two passes of 1-D maxima, the rest gathered by length
        out = fast_adaptive.adaptive_max_pool2d(x, OH, OW, return_indices)
    else:
        y, index = _adaptive_max(x, OH, OW)
        out = (y, index) if return_indices else y
    if return_indices:
        return _unbatch(out[0], unbatched), _unbatch(out[1], unbatched)
    return _unbatch(out, unbatched)


def _adaptive_max(x: np.ndarray, OH: int, OW: int) -> tuple[np.ndarray, np.ndarray]:
    """Maxima of the bins (N, C, OH, OW) and PyTorch's flat H*W index of each."""
    N, C, H, W = x.shape
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    index = np.empty((N, C, OH, OW), dtype=np.int64)
    for i, (h0, h1) in enumerate(adaptive_bins(H, OH)):
        for j, (w0, w1) in enumerate(adaptive_bins(W, OW)):
            cells = x[:, :, h0:h1, w0:w1].reshape(N, C, -1)  # (N, C, bin rows · bin columns)
            out[:, :, i, j] = cells.max(axis=2)
            m, q = np.divmod(_first_max(cells), w1 - w0)
            index[:, :, i, j] = (h0 + m) * W + (w0 + q)
    return out, index


@half_in_single
def adaptive_max_pool2d_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """Gradient of :func:`adaptive_max_pool2d` (output size read from grad_output).

    Shapes: grad_output (N, C, OH, OW), input (N, C, H, W) → dx (N, C, H, W).
    Each gradient goes to its bin's maximum; overlapping bins accumulate.
    Naive loops: :func:`cnncli.engine.reference.pool.adaptive_max_pool2d_backward`.
    """
    g, x, unbatched, dtype = _adaptive_grad(grad_output, input)
    if fast_enabled():  # the adjoint of the two passes, or one scatter of the gathered maxima
        return _unbatch(fast_adaptive.adaptive_max_pool2d_backward(g, x, dtype), unbatched)
    _, index = _adaptive_max(x, g.shape[2], g.shape[3])
    return _unbatch(_add_at(g.astype(dtype), index, x.shape, dtype), unbatched)


# ----------------------------------------------------------------------------- global pooling


@half_in_single
def global_avg_pool2d(input: np.ndarray) -> np.ndarray:
    """Mean over each whole feature map: (N, C, H, W) → (N, C, 1, 1).

    ``Y[n, c, 0, 0] = 1/(H·W) Σ_{h, w} X[n, c, h, w]`` (adaptive_avg_pool2d to 1×1).
    Naive loops: :func:`cnncli.engine.reference.pool.global_avg_pool2d`.
    """
    x, unbatched = _as_nchw(input)
    _adaptive_setup(x, 1)
    return _unbatch(x.mean(axis=(2, 3), keepdims=True, dtype=x.dtype), unbatched)


@half_in_single
def global_avg_pool2d_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """Gradient of :func:`global_avg_pool2d`: (N, C, 1, 1), (N, C, H, W) → dx (N, C, H, W).

    ``dX[n, c, h, w] = dY[n, c, 0, 0] / (H·W)``.
    """
    x, unbatched = _as_nchw(input)
    _adaptive_setup(x, 1)
    N, C, H, W = x.shape
    g, dtype = _grad_as(grad_output, x, unbatched, (N, C, 1, 1))
    dx = np.empty(x.shape, dtype=dtype)
    dx[...] = np.divide(g, H * W, dtype=dtype)
    return _unbatch(dx, unbatched)


def global_max_pool2d(input: np.ndarray) -> np.ndarray:
    """Maximum over each whole feature map: (N, C, H, W) → (N, C, 1, 1).

    ``Y[n, c, 0, 0] = max_{h, w} X[n, c, h, w]`` (adaptive_max_pool2d to 1×1; NaN propagates).
    Naive loops: :func:`cnncli.engine.reference.pool.global_max_pool2d`.
    """
    x, unbatched = _as_nchw(input)
    _adaptive_setup(x, 1)
    return _unbatch(x.max(axis=(2, 3), keepdims=True), unbatched)


@half_in_single
def global_max_pool2d_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """Gradient of :func:`global_max_pool2d`: all of dY[n, c] goes to the map's maximum.

    Shapes: grad_output (N, C, 1, 1), input (N, C, H, W) → dx (N, C, H, W); ties
    go to the first maximum in row-major order (the last NaN if any), as PyTorch.
    """
    x, unbatched = _as_nchw(input)
    _adaptive_setup(x, 1)
    N, C, H, W = x.shape
    g, dtype = _grad_as(grad_output, x, unbatched, (N, C, 1, 1))
    index = _first_max(x.reshape(N, C, H * W)).reshape(N, C, 1, 1)
    return _unbatch(_add_at(g.astype(dtype), index, x.shape, dtype), unbatched)


#: Each forward op's way of computing on the plain and on the fast path, as the
#: ``if fast_enabled()`` line in the op chooses; global pooling has one way.
_METHODS = {
    "max_pool2d": ("max over a strided view of the windows", "two passes of 1-D maxima, in blocks"),
    "avg_pool2d": ("sum over a strided view of the windows / divisor",
                   "dense sums or two passes of 1-D sums, in blocks"),
    "adaptive_avg_pool2d": ("the mean of each bin", "strided windows, or bins gathered by length"),
    "adaptive_max_pool2d": ("the maximum of each bin", "two passes of 1-D maxima, or bins gathered"),
    "global_avg_pool2d": ("the mean over H and W", None),
    "global_max_pool2d": ("the maximum over H and W", None),
}  # fmt: skip


def pool2d_method(op: str) -> str:
    """How the forward op named ``op`` (``"max_pool2d"``, ...) computes now: the path
    ("plain: ..." or "fast: ..."), from the same switch the op reads."""
    plain, fast = _METHODS[op]
    return f"fast: {fast}" if fast is not None and fast_enabled() else f"plain: {plain}"


# ----------------------------------------------------------------------------- argument checks


def _as_nchw(x: object, name: str = "input") -> tuple[np.ndarray, bool]:
    """Return a 4-D float array and whether a 3-D (C, H, W) input was given."""
    arr = as_float_array(x, name)
    if arr.ndim == 3:
        return arr[None], True
    if arr.ndim != 4:
        raise ShapeError(
            f"{name} must be 4-D (N, C, H, W) or 3-D (C, H, W), got {arr.ndim}-D "
            f"with shape {arr.shape}"
        )
    return arr, False


def _check_limits(geom: Pool2dGeometry) -> None:
    values = (geom.KH, geom.KW, *geom.stride, *geom.padding, *geom.dilation)
    if max(values) > MAX_PARAMETER:
        raise ParameterError(
            f"pooling parameters must be at most {MAX_PARAMETER}, got kernel "
            f"{geom.KH}x{geom.KW}, stride {geom.stride}, padding {geom.padding}, "
            f"dilation {geom.dilation}"
        )


def _geometry(
    x: np.ndarray,
    kernel_size: IntOrPair,
    stride: IntOrPair | None,
    padding: IntOrPair,
    dilation: IntOrPair,
    ceil_mode: bool,
) -> Pool2dGeometry:
    geom = pool2d_geometry(x.shape, kernel_size, stride, padding, dilation, bool(ceil_mode))
    _check_limits(geom)
    return geom


def _grad_as(
    grad_output: object, x: np.ndarray, unbatched: bool, expected: tuple[int, ...]
) -> tuple[np.ndarray, np.dtype]:
    """Check grad_output against the forward output shape; return it 4-D and the result dtype."""
    g = as_float_array(grad_output, "grad_output")
    want = expected[1:] if unbatched else expected
    if g.shape != want:
        raise ShapeError(f"grad_output has shape {g.shape} but the pooling output has shape {want}")
    g4 = g[None] if unbatched else g
    return g4, result_dtype(g4, x)


def _adaptive_grad(
    grad_output: object, input: object
) -> tuple[np.ndarray, np.ndarray, bool, np.dtype]:
    """An adaptive pooling's gradient checked against its input: (g 4-D, x 4-D, unbatched, dtype).

    The output size is read from grad_output, which must have the input's layout.
    """
    x, unbatched = _as_nchw(input)
    g0 = as_float_array(grad_output, "grad_output")
    if g0.ndim != (3 if unbatched else 4):
        raise ShapeError(
            f"grad_output must have the input's layout, got shape {g0.shape} for input "
            f"shape {x.shape[1:] if unbatched else x.shape}"
        )
    x, unbatched, OH, OW = _adaptive_setup(input, tuple(g0.shape[-2:]))
    g, dtype = _grad_as(g0, x, unbatched, (x.shape[0], x.shape[1], OH, OW))
    return g, x, unbatched, dtype


def _check_divisor(divisor_override: object) -> int | None:
    if divisor_override is None:
        return None
    if isinstance(divisor_override, bool) or not hasattr(divisor_override, "__index__"):
        raise ParameterError(f"divisor_override must be an integer, got {divisor_override!r}")
    value = int(divisor_override)  # type: ignore[call-overload]
    if value == 0:
        raise ParameterError("divisor_override must not be zero")
    if abs(value) > MAX_PARAMETER:
        raise ParameterError(
            f"divisor_override must be at most {MAX_PARAMETER} in size, got {value}"
        )
    return value


def _adaptive_setup(input: object, output_size: object) -> tuple[np.ndarray, bool, int, int]:
    x, unbatched = _as_nchw(input)
    N, C, H, W = check_nchw(x.shape)
    OH, OW = adaptive_output_size(output_size, H, W)
    if N * C * OH * OW > MAX_OUTPUT_ELEMENTS or max(OH, OW) > MAX_OUTPUT_ELEMENTS:
        raise ResourceLimitError(
            f"adaptive pooling to {OH}x{OW} would give {N}x{C}x{OH}x{OW} values, more than "
            f"the limit of {MAX_OUTPUT_ELEMENTS}"
        )
    return x, unbatched, OH, OW
