"""Adaptive pooling's tuned method: regular bins as strided windows, the rest gathered.

The plain ops in :mod:`cnncli.engine.pool` loop over the output bins; on the fast
path they hand the call here.  When the bins along an axis have one length at
equal steps (112 → 7, 13 → 6, any size → 1), adaptive pooling is plain pooling
with that kernel and stride, and runs as the two passes of :mod:`.pool`; otherwise
the bins are gathered with ``np.take``, grouped by length, one NumPy call a group.
The arguments arrive checked: a 4-D ``x`` and the output size (OH, OW).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnncli.engine.fast.pool import (
    _axes,
    _broadcast,
    _max_with_indices,
    _pool_pass_backward,
    _two_passes,
    max_pool2d_backward,
)
from cnncli.engine.shapes import Pool2dGeometry, adaptive_bins

# ----------------------------------------------------------------------------- entry points


def adaptive_avg_pool2d(x: np.ndarray, OH: int, OW: int) -> np.ndarray:
    """Means of PyTorch's bins: (N, C, H, W) → (N, C, OH, OW)."""
    geom = _adaptive_geometry(x, OH, OW)
    if geom is not None:
        ah, aw = _axes(geom)
        return _two_passes(x, ah, aw, np.add, 0.0, float(geom.KH * geom.KW))
    H, W = x.shape[2:]
    hs, he = _bins(H, OH)
    ws, we = _bins(W, OW)
    sums = _range_sum(_range_sum(x, 3, ws, we), 2, hs, he)
    counts = ((he - hs)[:, None] * (we - ws)[None, :]).astype(x.dtype)
    return np.divide(sums, counts, out=sums)


def adaptive_avg_pool2d_backward(g: np.ndarray, x: np.ndarray, dtype: Any) -> np.ndarray:
    """dx of :func:`adaptive_avg_pool2d` for a 4-D gradient g (N, C, OH, OW)."""
    H, W = x.shape[2:]
    OH, OW = g.shape[2:]
    geom = _adaptive_geometry(x, OH, OW)
    if geom is not None:
        ah, aw = _axes(geom)
        scaled = np.divide(g, geom.KH * geom.KW, dtype=dtype)
        return _pool_pass_backward(_pool_pass_backward(scaled, 3, aw), 2, ah)
    hs, he = _bins(H, OH)
    ws, we = _bins(W, OW)
    counts = ((he - hs)[:, None] * (we - ws)[None, :]).astype(dtype)
    scaled = np.divide(g, counts, dtype=dtype)
    # Position h lies in bins j0(h) <= j < j1(h): the adjoint is again a range sum.
    h_idx = np.arange(H)
    w_idx = np.arange(W)
    rows = _range_sum(
        scaled, 3, np.searchsorted(we, w_idx, side="right"), np.searchsorted(ws, w_idx, "right")
    )
    return _range_sum(
        rows, 2, np.searchsorted(he, h_idx, side="right"), np.searchsorted(hs, h_idx, "right")
    )


def adaptive_max_pool2d(x: np.ndarray, OH: int, OW: int, return_indices: bool) -> Any:
    """Maxima of PyTorch's bins (N, C, OH, OW), and their flat H*W indices if asked."""
    geom = _adaptive_geometry(x, OH, OW)
    if geom is not None and not return_indices:
        ah, aw = _axes(geom)
        return _two_passes(x, ah, aw, np.maximum, -np.inf)
    out, index = _adaptive_max(x, OH, OW)
    return (out, index) if return_indices else out


def adaptive_max_pool2d_backward(g: np.ndarray, x: np.ndarray, dtype: Any) -> np.ndarray:
    """dx of :func:`adaptive_max_pool2d` for a 4-D gradient g (N, C, OH, OW)."""
    OH, OW = g.shape[2:]
    geom = _adaptive_geometry(x, OH, OW)
    if geom is not None:
        return max_pool2d_backward(g, x, geom, dtype)
    _, index = _adaptive_max(x, OH, OW)
    return _scatter(g, index, x.shape, dtype)


# ----------------------------------------------------------------------------- bins


def _bins(L: int, OL: int) -> tuple[np.ndarray, np.ndarray]:
    pairs = np.array(adaptive_bins(L, OL), dtype=np.int64).reshape(OL, 2)
    return pairs[:, 0], pairs[:, 1]


def _regular(L: int, OL: int) -> tuple[int, int] | None:
    """(kernel, stride) when the adaptive bins along an axis are plain pooling windows.

    That is when they all have one length and start at equal steps, e.g. 112 → 7
    (kernel 16, stride 16) or 13 → 6 (kernel 3, stride 2).
    """
    starts, ends = _bins(L, OL)
    lengths = ends - starts
    if OL == 1:
        return int(lengths[0]), int(lengths[0])
    steps = np.diff(starts)
    if np.all(lengths == lengths[0]) and np.all(steps == steps[0]) and steps[0] >= 1:
        return int(lengths[0]), int(steps[0])
    return None


def _adaptive_geometry(x: np.ndarray, OH: int, OW: int) -> Pool2dGeometry | None:
    """The equivalent max_pool2d/avg_pool2d geometry when both axes are regular, else None."""
    N, C, H, W = x.shape
    rh, rw = _regular(H, OH), _regular(W, OW)
    if rh is None or rw is None:
        return None
    return Pool2dGeometry(N, C, H, W, rh[0], rw[0], OH, OW, (rh[1], rw[1]), (0, 0), (1, 1), False)


def _groups(starts: np.ndarray, ends: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Outputs grouped by bin length: (targets, gather index (targets, length))."""
    lengths = ends - starts
    out = []
    for length in np.unique(lengths):
        targets = np.flatnonzero(lengths == length)
        out.append((targets, starts[targets, None] + np.arange(int(length))))
    return out


def _range_sum(a: np.ndarray, axis: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``out[o] = Σ_{starts[o] <= i < ends[o]} a[i]`` along ``axis`` (empty ranges give 0)."""
    shape = list(a.shape)
    shape[axis] = starts.shape[0]
    out = np.zeros(shape, dtype=a.dtype)
    for targets, index in _groups(starts, ends):
        if index.shape[1] == 0:
            continue
        part = np.take(a, index, axis=axis).sum(axis=axis + 1)
        place: list[Any] = [slice(None)] * a.ndim
        place[axis] = targets
        out[tuple(place)] = part
    return out


def _adaptive_arg_pass(
    vals: np.ndarray, carry: np.ndarray | None, axis: int, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Max over each bin along ``axis`` with PyTorch's scan rule (first max, or last NaN)."""
    shape = list(vals.shape)
    shape[axis] = starts.shape[0]
    best = np.empty(shape, dtype=vals.dtype)
    pos = np.empty(shape, dtype=np.int64)
    won = np.empty(shape, dtype=np.int64) if carry is not None else None
    for targets, index in _groups(starts, ends):
        part = np.take(vals, index, axis=axis)  # bins × length at axis, axis + 1
        arg = np.argmax(part, axis=axis + 1)  # first maximum, or first NaN
        isnan = np.isnan(part)
        if isnan.any():
            last = index.shape[1] - 1 - np.argmax(np.flip(isnan, axis=axis + 1), axis=axis + 1)
            arg = np.where(isnan.any(axis=axis + 1), last, arg)
        picked = np.expand_dims(arg, axis + 1)
        place: list[Any] = [slice(None)] * vals.ndim
        place[axis] = targets
        best[tuple(place)] = np.take_along_axis(part, picked, axis=axis + 1).squeeze(axis + 1)
        pos[tuple(place)] = arg + _broadcast(starts[targets], axis, vals.ndim)
        if carry is not None and won is not None:
            carried = np.take(carry, index, axis=axis)
            won[tuple(place)] = np.take_along_axis(carried, picked, axis=axis + 1).squeeze(axis + 1)
    return best, pos, won


def _adaptive_max(x: np.ndarray, OH: int, OW: int) -> tuple[np.ndarray, np.ndarray]:
    geom = _adaptive_geometry(x, OH, OW)
    if geom is not None:
        return _max_with_indices(x, geom)
    H, W = x.shape[2:]
    hs, he = _bins(H, OH)
    ws, we = _bins(W, OW)
    row_best, col, _ = _adaptive_arg_pass(x, None, 3, ws, we)
    best, row, col2 = _adaptive_arg_pass(row_best, col, 2, hs, he)
    assert col2 is not None
    return best, row * W + col2


def _scatter(grad: np.ndarray, index: np.ndarray, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """dx[n, c].flat[index[n, c, i, j]] += grad[n, c, i, j], repeats accumulating."""
    N, C, H, W = shape
    planes = (np.arange(N * C, dtype=np.int64) * (H * W)).reshape(N, C, 1, 1)
    flat = (index + planes).ravel()
    dx = np.bincount(flat, weights=grad.ravel().astype(np.float64), minlength=N * C * H * W)
    return dx.astype(dtype, copy=False).reshape(shape)
