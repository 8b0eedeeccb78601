"""Pooling's tuned method: two passes of 1-D pooling over strided views of the whole batch.

The plain ops in :mod:`cnncli.engine.pool` take every window as a strided view and
reduce it; they hand a call here, through one visible dispatch each, on the fast
path.  The arguments arrive checked: 4-D arrays, a :class:`Pool2dGeometry`, the
divisor of each window.  Nothing here changes a number: the tests hold both paths
to the naive loops and to PyTorch.

A 2-D pooling window is a product of two 1-D windows, so every op is two passes of
1-D pooling, each a short loop over the kernel taps ``k`` whose body is one NumPy
operation on a strided view of the whole batch (the "strided maxima / shifted
sums" method)::

    out[..., o] = max_k / sum_k  src[..., o*stride + k*dilation - padding]

Padding never costs a padded copy: each tap only touches the outputs whose input
position falls inside the input (padding counts as −∞ for max, 0 for sums).  Large
inputs are processed a block of planes at a time (the intermediate rows stay in
cache), the blocks shared among a few threads.  Max and average pooling whose
windows all lie inside the input (no padding, no dilation: AlexNet's pools) run
instead as passes over flat runs of memory, rows copied whole and columns picked as
halves of uint64 (:func:`_dense_windows`).  Max pooling finds PyTorch's index of
each maximum (the first in row-major order, or the last NaN) with the two passes, W
then H, keeping the winning tap in int8 arrays; its backward is the adjoint of those
passes, or, when every window lies inside the input, a scan of the stride's phases
that adds each gradient to its winner in PyTorch's order (:mod:`.pool_phases`).
Adaptive pooling is in
:mod:`.adaptive_pool`.  Why each constant has its value: the decision table in
``benchmarks/README.md``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnncli.engine.fast import pool_phases
from cnncli.engine.fast.threads import num_threads, run_blocks
from cnncli.engine.shapes import Pool2dGeometry

#: Bytes per block of planes: the block's intermediate rows stay in cache (the decision table
#: in benchmarks/README.md has the figures, as for every constant here).
BLOCK_BYTES = 1 << 20
#: Threads sharing the blocks of a large pooling (None: :func:`.threads.num_threads`, which
#: honours CNNCLI_NUM_THREADS and OMP_NUM_THREADS), and the input size that pays for them.
THREADS: int | None = None
THREAD_MIN_BYTES = 1 << 21
#: Bytes per block of planes for :func:`_dense_windows`, whose passes are few long calls: there
#: the calls' own cost outweighs the cache, and larger blocks take less time.
DENSE_BLOCK_BYTES = 1 << 21

Ufunc = Callable[..., Any]


# ----------------------------------------------------------------------------- entry points


def max_pool2d(x: np.ndarray, geom: Pool2dGeometry, return_indices: bool) -> Any:
    """Max pooling of a 4-D ``x``: (N, C, OH, OW), and PyTorch's flat H*W indices if asked."""
    if return_indices:
        return _max_with_indices(x, geom)
    if _dense(geom) and x.flags.c_contiguous:
        return _dense_windows(x, geom, np.maximum)
    ah, aw = _axes(geom)
    # H first: its views have contiguous rows, and it shrinks what the W pass reads.
    return _two_passes(x, ah, aw, np.maximum, -np.inf)


def max_pool2d_backward(
    g: np.ndarray, x: np.ndarray, geom: Pool2dGeometry, dtype: Any
) -> np.ndarray:
    """dx of a max pooling, by blocks of planes: on the stride's phases when every window
    lies inside the input (:mod:`.pool_phases`), else :func:`_max_backward_block`."""
    g = np.ascontiguousarray(g, dtype=dtype)
    if _dense(geom):
        block = functools.partial(pool_phases.max_pool2d_backward, geom=geom)
    else:
        block = functools.partial(_max_backward_block, geom=geom, dtype=dtype)
    return _by_planes(block, (geom.H, geom.W), dtype, g, x)


def avg_pool2d(x: np.ndarray, geom: Pool2dGeometry, divisor: np.ndarray) -> np.ndarray:
    """Average pooling of a 4-D ``x`` with the divisor of each window (OH, OW)."""
    d = uniform(divisor)
    if isinstance(d, float) and _dense(geom) and x.flags.c_contiguous:
        return _dense_windows(x, geom, np.add, d)
    ah, aw = _axes(geom)
    return _two_passes(x, ah, aw, np.add, 0.0, d)


def avg_pool2d_backward(
    g: np.ndarray, geom: Pool2dGeometry, divisor: np.ndarray, dtype: Any
) -> np.ndarray:
    """dx of an average pooling: the adjoint of its two passes of sums."""
    ah, aw = _axes(geom)
    scaled = np.divide(g, uniform(divisor), dtype=dtype)
    return _by_planes(
        lambda block: _pool_pass_backward(_pool_pass_backward(block, 3, aw), 2, ah),
        (geom.H, geom.W),
        dtype,
        scaled,
    )


def uniform(divisor: np.ndarray) -> np.ndarray | float:
    """One float when every window has the same divisor: the same quotients, and faster.

    Dividing by a scalar is faster than by a broadcast array (benchmarks/README.md).
    """
    if divisor.size and (divisor == divisor.flat[0]).all():
        return float(divisor.flat[0])
    return divisor


# ----------------------------------------------------------------------------- the passes


@dataclass(frozen=True)
class _Axis:
    """The taps of a 1-D pooling window along one axis.

    ``taps`` holds ``(k, lo, hi, first)``: kernel tap ``k`` reads input position
    ``o*stride + k*dilation - padding`` for outputs ``lo <= o < hi`` (the ones
    inside the input), the first of them being ``first``.
    """

    L: int
    OL: int
    stride: int
    taps: tuple[tuple[int, int, int, int], ...]
    k0: np.ndarray  # (OL,) PyTorch's starting tap: the first at a position >= 0
    seen: np.ndarray  # (OL,) bool: the window sees at least one input position
    tap_dtype: Any  # smallest integer dtype that holds every tap number
    full: tuple[slice, ...]  # source slices of the taps that reach every output
    partial: tuple[tuple[slice, slice], ...]  # (outputs lo:hi, source slice) of the others


def _axis(L: int, OL: int, K: int, s: int, d: int, p: int) -> _Axis:
    # Only taps that can reach the input for some output: at most about 2L/d + 1 of them.
    kmin = max(0, -(-(p - (OL - 1) * s) // d))
    kmax = min(K - 1, (L - 1 + p) // d)
    taps = []
    for k in range(kmin, kmax + 1):
        pos0 = k * d - p
        lo = max(0, -(pos0 // s))
        hi = min(OL, (L - 1 - pos0) // s + 1)
        if lo < hi:
            taps.append((k, lo, hi, pos0 + lo * s))
    start = np.arange(OL, dtype=np.int64) * s - p
    k0 = np.maximum(0, -(start // d))
    seen = np.zeros(OL, dtype=bool)
    for _, lo, hi, _ in taps:
        seen[lo:hi] = True
    tap_dtype = np.int8 if K <= 127 else np.int16 if K <= 32767 else np.int32
    full = tuple(
        slice(first, first + s * (OL - 1) + 1, s)
        for _, lo, hi, first in taps
        if lo == 0 and hi == OL
    )
    partial = tuple(
        (slice(lo, hi), slice(first, first + s * (hi - lo - 1) + 1, s))
        for _, lo, hi, first in taps
        if not (lo == 0 and hi == OL)
    )
    k0 = k0.astype(tap_dtype)
    k0.flags.writeable = seen.flags.writeable = False  # remembered by _axes: shared
    return _Axis(L, OL, s, tuple(taps), k0, seen, tap_dtype, full, partial)


def _positions(ax: _Axis, tap: np.ndarray, axis: int, d: int, p: int) -> np.ndarray:
    """Input position of tap ``tap`` of each output along ``axis``: o*s + tap*d - p (int64)."""
    o = _broadcast(np.arange(ax.OL, dtype=np.int64) * ax.stride - p, axis, tap.ndim)
    return o + tap.astype(np.int64) * d


def _view(a: np.ndarray, axis: int, first: int, count: int, step: int) -> np.ndarray:
    index: list[slice] = [slice(None)] * a.ndim
    index[axis] = slice(first, first + step * (count - 1) + 1, step)
    return a[tuple(index)]


def _range(a: np.ndarray, axis: int, lo: int, hi: int) -> np.ndarray:
    index: list[slice] = [slice(None)] * a.ndim
    index[axis] = slice(lo, hi)
    return a[tuple(index)]


def _pool_pass(
    src: np.ndarray,
    axis: int,
    ax: _Axis,
    op: Ufunc,
    fill: float,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """One 1-D pooling pass along ``axis``: ``out[o] = op_k src[o*s + k*d - p]``."""
    pre = (slice(None),) * axis
    if out is None:
        shape = list(src.shape)
        shape[axis] = ax.OL
        out = np.empty(shape, dtype=src.dtype)
    full = ax.full
    if len(full) >= 2:
        op(src[(*pre, full[0])], src[(*pre, full[1])], out=out)
        done = 2
    elif len(full) == 1:
        np.copyto(out, src[(*pre, full[0])])
        done = 1
    else:
        out.fill(fill)
        done = 0
    for source in full[done:]:
        op(out, src[(*pre, source)], out=out)
    for outputs, source in ax.partial:
        sub = out[(*pre, outputs)]
        op(sub, src[(*pre, source)], out=sub)
    return out


def _two_passes(
    x: np.ndarray,
    ah: _Axis,
    aw: _Axis,
    op: Ufunc,
    fill: float,
    divisor: np.ndarray | float | None = None,
) -> np.ndarray:
    """H pass then W pass over (N, C, H, W) → (N, C, OH, OW), by blocks of planes.

    With ``divisor`` each block is divided by it while still in cache.
    """

    def block_fn(block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        out = _pool_pass(_pool_pass(block, 2, ah, op, fill), 3, aw, op, fill, out=out)
        if divisor is not None:
            np.divide(out, divisor, out=out, casting="unsafe")
        return out

    return _by_planes(block_fn, (ah.OL, aw.OL), x.dtype, x, into=True)


def _by_planes(
    fn: Callable[..., np.ndarray],
    out_hw: tuple[int, int],
    dtype: Any,
    *arrays: np.ndarray,
    into: bool = False,
    block_bytes: int | None = None,
) -> np.ndarray:
    """``fn(*arrays)`` for (N, C, ·, ·) arrays, computed a block of planes at a time.

    Every op here treats the N·C planes independently.  Blocks of about
    :data:`BLOCK_BYTES` keep the intermediate rows in cache (less time than
    whole-array passes), and the blocks are shared among the engine's threads
    (NumPy releases the GIL inside each call).  With ``into``, ``fn`` takes an
    ``out=`` block to write into; ``block_bytes`` replaces :data:`BLOCK_BYTES`.
    """
    N, C = arrays[0].shape[:2]
    planes = N * C
    plane_bytes = max(a[0, 0].nbytes for a in arrays)
    plane_bytes = max(plane_bytes, out_hw[0] * out_hw[1] * np.dtype(dtype).itemsize, 1)
    per = max(1, (block_bytes or BLOCK_BYTES) // plane_bytes)
    if planes <= per or not all(a.flags.c_contiguous for a in arrays):
        return fn(*arrays)
    flat = [a.reshape(planes, 1, *a.shape[2:]) for a in arrays]
    out = np.empty((planes, 1, *out_hw), dtype=dtype)

    def one(a: int, b: int) -> None:
        if into:
            fn(*(f[a:b] for f in flat), out=out[a:b])
        else:
            out[a:b] = fn(*(f[a:b] for f in flat))

    workers = min(THREADS or num_threads(), -(-planes // per))
    if planes * plane_bytes < THREAD_MIN_BYTES:
        workers = 1
    run_blocks(planes, per, max(1, workers), one)
    return out.reshape(N, C, *out_hw)


def _pool_pass_backward(grad: np.ndarray, axis: int, ax: _Axis) -> np.ndarray:
    """Adjoint of a summing :func:`_pool_pass`: scatter-add each output back to its taps."""
    return _adjoint_pass(grad, axis, ax, lambda k, lo, hi: _range(grad, axis, lo, hi))


def _adjoint_pass(
    like: np.ndarray,
    axis: int,
    ax: _Axis,
    contribution: Callable[[int, int, int], np.ndarray],
) -> np.ndarray:
    """``dx[first + s*i] += contribution(k, lo, hi)[i]`` for every tap, along ``axis``.

    Taps whose positions share a residue modulo the stride land on the same
    strided set of positions: they are summed in a contiguous buffer, then
    written there once (strided read-modify-writes are slow in NumPy).
    """
    shape = list(like.shape)
    shape[axis] = ax.L
    s = ax.stride
    if s == 1:
        dx = np.zeros(shape, dtype=like.dtype)
        for k, lo, hi, first in ax.taps:
            target = _range(dx, axis, first, first + hi - lo)
            target += contribution(k, lo, hi)
        return dx
    dx = np.empty(shape, dtype=like.dtype)
    for r in range(min(s, ax.L)):
        count = len(range(r, ax.L, s))
        target = _view(dx, axis, r, count, s)
        taps = [t for t in ax.taps if t[3] % s == r]
        if len(taps) == 1 and taps[0][3] == r and taps[0][2] - taps[0][1] == count:
            k, lo, hi, _ = taps[0]
            target[...] = contribution(k, lo, hi)
            continue
        buffer_shape = list(shape)
        buffer_shape[axis] = count
        buffer = np.zeros(buffer_shape, dtype=like.dtype)
        for k, lo, hi, first in taps:
            a = (first - r) // s
            sub = _range(buffer, axis, a, a + hi - lo)
            sub += contribution(k, lo, hi)
        target[...] = buffer
    return dx


def _broadcast(v: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


def _has_nan(a: np.ndarray) -> bool:
    return a.size > 0 and bool(np.isnan(a.max()))


def _arg_taps(
    vals: np.ndarray,
    best: np.ndarray,
    axis: int,
    ax: _Axis,
    carry: np.ndarray | None = None,
    carry_init: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Which tap holds each window's maximum along ``axis``, by PyTorch's scan rule.

    PyTorch scans a window in row-major order and replaces the running maximum
    when ``value > best or isnan(value)``: the first maximum wins, or the last
    NaN.  ``best`` is the pooled maximum of ``vals``.  Returns the tap numbers
    (shape of ``best``) and, if given, ``carry`` read at the winning tap.
    """
    tap = np.empty(best.shape, dtype=ax.tap_dtype)
    tap[...] = _broadcast(ax.k0, axis, best.ndim)
    won = None
    if carry is not None:
        won = np.empty(best.shape, dtype=carry.dtype)
        won[...] = carry_init
    # Masked NumPy calls (copyto/ufunc where=) are slow; select with int8 arithmetic instead:
    # a += (b - a) * mask.
    if not _has_nan(best):
        # Without NaN the first tap equal to the maximum wins: walk the taps backwards.
        for k, lo, hi, first in reversed(ax.taps):
            match = _view(vals, axis, first, hi - lo, ax.stride) == _range(best, axis, lo, hi)
            _select(_range(tap, axis, lo, hi), k, match)
            if carry is not None and won is not None:
                _select(
                    _range(won, axis, lo, hi), _view(carry, axis, first, hi - lo, ax.stride), match
                )
        return tap, won
    cur = np.full(best.shape, -np.inf, dtype=vals.dtype)
    for k, lo, hi, first in ax.taps:
        v = _view(vals, axis, first, hi - lo, ax.stride)
        c = _range(cur, axis, lo, hi)
        upd = (v > c) | np.isnan(v)
        c[...] = np.where(upd, v, c)
        _select(_range(tap, axis, lo, hi), k, upd)
        if carry is not None and won is not None:
            _select(_range(won, axis, lo, hi), _view(carry, axis, first, hi - lo, ax.stride), upd)
    return tap, won


def _select(target: np.ndarray, value: Any, mask: np.ndarray) -> None:
    """``target[mask] = value`` for small integer arrays, in place, without masked calls."""
    step = np.subtract(value, target, dtype=target.dtype, casting="unsafe")
    step *= mask
    target += step


def _max_taps(
    x: np.ndarray, geom: Pool2dGeometry, winner_w: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, _Axis, _Axis]:
    """Max pooling with the taps of each maximum, W pass first, then H.

    Per input row the first maximum along W, then the first row holding the
    window's maximum: together the first maximum in row-major order (or the
    last NaN), which is what PyTorch picks.  Returns (out, tap_h (N,C,OH,OW),
    tap_w of the winner (N,C,OH,OW), tap_w of every row (N,C,H,OW), ah, aw).
    """
    ah, aw = _axes(geom)
    rows = _pool_pass(x, 3, aw, np.maximum, -np.inf)  # (N, C, H, OW)
    out = _pool_pass(rows, 2, ah, np.maximum, -np.inf)  # (N, C, OH, OW)
    tap_w_rows, _ = _arg_taps(x, rows, 3, aw)
    if not winner_w:  # the backward needs only tap_w of every row
        tap_h, _ = _arg_taps(rows, out, 2, ah)
        return out, tap_h, None, tap_w_rows, ah, aw
    tap_h, tap_w = _arg_taps(rows, out, 2, ah, tap_w_rows, _broadcast(aw.k0, 3, 4))
    return out, tap_h, tap_w, tap_w_rows, ah, aw


def _masker(g: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``values`` where ``mask`` else 0: a multiplication (fast) unless ``g`` has inf or NaN."""
    if g.size == 0 or np.isfinite(g.sum(dtype=np.float64)):
        return np.multiply
    zero = np.zeros((), dtype=g.dtype)
    return lambda values, mask: np.where(mask, values, zero)


def _max_with_indices(x: np.ndarray, geom: Pool2dGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Values and PyTorch's flat H*W indices of a max pooling."""
    out, tap_h, tap_w, _, ah, aw = _max_taps(x, geom)
    assert tap_w is not None
    row = _positions(ah, tap_h, 2, geom.dilation[0], geom.padding[0])
    col = _positions(aw, tap_w, 3, geom.dilation[1], geom.padding[1])
    return out, row * geom.W + col


@functools.lru_cache(maxsize=256)
def _axes(geom: Pool2dGeometry) -> tuple[_Axis, _Axis]:
    """The two axes' taps, remembered (a layer asks for the same ones at every step)."""
    ah = _axis(geom.H, geom.OH, geom.KH, geom.stride[0], geom.dilation[0], geom.padding[0])
    aw = _axis(geom.W, geom.OW, geom.KW, geom.stride[1], geom.dilation[1], geom.padding[1])
    return ah, aw


def _max_backward_block(
    g: np.ndarray, x: np.ndarray, geom: Pool2dGeometry, dtype: Any
) -> np.ndarray:
    """dx of a max pooling: the adjoint of its two passes.

    Each gradient goes to the row its window chose, then along that row to the
    column the row's W window chose.
    """
    _, tap_h, _, tap_w_rows, ah, aw = _max_taps(x, geom, winner_w=False)
    seen = ah.seen[:, None] & aw.seen[None, :]
    if not seen.all():
        g = np.where(seen, g, 0).astype(dtype, copy=False)
    pick = _masker(g)
    rows = _adjoint_pass(
        g, 2, ah, lambda k, lo, hi: pick(g[:, :, lo:hi], tap_h[:, :, lo:hi] == k)
    )  # (N, C, H, OW)
    return _adjoint_pass(
        rows, 3, aw, lambda k, lo, hi: pick(rows[..., lo:hi], tap_w_rows[..., lo:hi] == k)
    )


# ----------------------------------------------------------------------------- dense windows


def _dense(geom: Pool2dGeometry) -> bool:
    """No padding, no dilation, and every window inside the input (no ceil_mode overhang)."""
    return (
        geom.padding == (0, 0)
        and geom.dilation == (1, 1)
        and (geom.OH - 1) * geom.stride[0] + geom.KH <= geom.H
        and (geom.OW - 1) * geom.stride[1] + geom.KW <= geom.W
    )


def _dense_windows(
    x: np.ndarray, geom: Pool2dGeometry, op: Ufunc, divisor: float | None = None
) -> np.ndarray:
    """Max or sum (/ divisor) of windows that all lie inside the input, by flat contiguous passes.

    Shapes: x (N, C, H, W) C-contiguous → (N, C, OH, OW).  A block of planes is one flat
    run of memory ``f``, so each pass is a few NumPy calls over one long contiguous
    vector (``∘`` is max or +), which run at NumPy's SIMD speed where calls over strided
    views of short rows do not (benchmarks/README.md, "Pooling against ONNX Runtime"):

    1. ``v[i] = f[i] ∘ f[i + W] ∘ …`` (KH taps) at every position;
    2. with a row stride, the rows ``o·sh`` of ``v`` are copied out whole (each row one
       opaque item of W·itemsize bytes), into rows of an even pitch ``Wp``;
    3. ``h[i] = v[i] ∘ v[i + 1] ∘ …`` (KW taps) over those rows;
    4. the columns ``j·sw`` are read out.  With ``sw = 2`` on float32 and an even pitch
       they are the low halves of ``h`` seen as uint64: one contiguous cast.

    Values that straddle two rows or two planes are computed and never read.  The taps
    are combined in the two passes' order, so the results are the same bits.  The
    buffers are this thread's, reused for every block, so a block's passes stay in cache.
    """
    H, W, KH, KW = geom.H, geom.W, geom.KH, geom.KW
    (sh, sw), OH, OW = geom.stride, geom.OH, geom.OW
    halves = sw == 2 and x.dtype == np.float32 and np.little_endian
    compact = sh > 1 or (halves and W % 2 == 1)
    Wp = W + W % 2 if compact else W  # row pitch after step 2
    pitch = (OH * Wp, Wp) if compact else (H * W, W)  # plane and row pitch of h
    halves = halves and pitch[0] % 2 == 0 and pitch[1] % 2 == 0
    local = threading.local()

    def block_fn(block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        P = block.shape[0] * block.shape[1]  # (n, C), or (n, 1) in blocks of planes
        if out is None:
            out = np.empty((*block.shape[:2], OH, OW), dtype=block.dtype)
        f = block.reshape(-1)
        if getattr(local, "planes", -1) < P:  # this thread's buffers, for every block
            local.planes = P
            local.a = np.empty(P * max(H * W, pitch[0]), dtype=f.dtype)
            local.b = np.empty(P * pitch[0], dtype=f.dtype)
        v = vbuf = f
        if KH > 1:
            v, vbuf = _taps(op, f, W, KH, f.size - (KH - 1) * W, local.a), local.a
        if compact:
            v = vbuf = local.b[: P * pitch[0]]
            np.copyto(
                _rows(v, P, pitch[0], Wp, OH, W),
                _rows(f if KH == 1 else local.a, P, H * W, sh * W, OH, W),
            )
        h, hbuf = v, vbuf
        if KW > 1:
            hbuf = local.a if compact else local.b
            h = _taps(op, v, 1, KW, v.size - (KW - 1), hbuf)
        target = out.reshape(P, OH, OW)
        if halves:  # h[2j] is the low half of the j-th uint64 (little-endian)
            shape, strides = (P, OH, OW), (pitch[0] * 4, pitch[1] * 4, 8)
            low = np.ndarray(shape, np.uint64, buffer=hbuf, strides=strides)
            np.copyto(target.view(np.uint32), low, casting="unsafe")
            picked = target
        else:
            isz = h.itemsize
            strides = (pitch[0] * isz, pitch[1] * isz, sw * isz)
            picked = np.ndarray((P, OH, OW), h.dtype, buffer=hbuf, strides=strides)
        if divisor is not None:
            np.divide(picked, divisor, out=target, casting="unsafe")
        elif picked is not target:
            np.copyto(target, picked)
        return out

    return _by_planes(block_fn, (OH, OW), x.dtype, x, into=True, block_bytes=DENSE_BLOCK_BYTES)


def _rows(a: np.ndarray, planes: int, plane: int, step: int, count: int, width: int) -> np.ndarray:
    """Rows ``0, step, 2·step, …`` (``count`` a plane) of flat ``a``, each one opaque item.

    Shape (planes, count), dtype ``V(width·itemsize)``: copying these copies whole rows.
    """
    isz = a.itemsize
    return np.ndarray(
        (planes, count), np.dtype(f"V{width * isz}"), buffer=a, strides=(plane * isz, step * isz)
    )


def _taps(
    op: Ufunc, src: np.ndarray, step: int, taps: int, count: int, buffer: np.ndarray
) -> np.ndarray:
    """``out[i] = src[i] ∘ src[i + step] ∘ … ∘ src[i + (taps−1)·step]`` for ``i < count``.

    Written into ``buffer[:count]``; with one tap ``src`` itself (no copy).
    """
    if taps == 1:
        return src
    out = buffer[:count]
    op(src[:count], src[step : step + count], out=out)
    for k in range(2, taps):
        op(out, src[k * step : k * step + count], out=out)
    return out
