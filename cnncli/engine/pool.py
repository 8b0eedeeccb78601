"""Pooling layers, forward and backward, NCHW, with PyTorch's semantics.

Fast paths: no Python loop over pixels or batch items.  A 2-D pooling window is
a product of two 1-D windows, so every op is two passes of 1-D pooling, each a
short loop over the kernel taps ``k`` whose body is one NumPy operation on a
strided view of the whole batch (the "strided maxima / shifted sums" method)::

    out[..., o] = max_k / sum_k  src[..., o*stride + k*dilation - padding]

Padding never costs a padded copy: each tap only touches the outputs whose
input position falls inside the input (padding counts as −∞ for max, 0 for
sums).  Large inputs are processed a block of planes at a time (the
intermediate rows stay in cache), the blocks shared among a few threads.
Adaptive pooling runs as plain strided windows when its bins have one length at
equal steps (112 → 7, 13 → 6, any size → 1); otherwise it gathers its bins,
grouped by length.  Max pooling finds PyTorch's index of each maximum (the
first in row-major order, or the last NaN) with the same two passes, W then H,
keeping the winning tap in int8 arrays; its backward is the adjoint of those
passes.  float16 is computed in float32 and rounded once, as PyTorch does.

One deliberate difference: with dilation a window can fall wholly in the
padding.  Its output is −∞ and its index PyTorch's (meaningless) one, as in
PyTorch, but its gradient is dropped, where PyTorch adds it at that index.

The naive loop versions of every function here, written as the seed's formulas
(``Y[i, j] = max X[i:i+k, j:j+k]``, ``Y[i, j] = 1/k² Σ X[i+m, j+n]``), are in
:mod:`cnncli.engine.reference.pool`; the tests hold the two equal.

Output size along one axis (see :mod:`cnncli.engine.shapes`)::

    OH = ⌊(H + 2·padding − dilation·(KH − 1) − 1) / stride⌋ + 1   (⌈⌉ with ceil_mode)
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnncli.engine._checks import as_float_array, result_dtype
from cnncli.engine.fast.threads import num_threads, run_parts
from cnncli.engine.shapes import (
    IntOrPair,
    Pool2dGeometry,
    adaptive_bins,
    check_nchw,
    pool2d_geometry,
)
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
]

#: Largest kernel size, stride, padding or dilation accepted (PyTorch fails past int64 anyway).
MAX_PARAMETER = 2**31 - 1
#: Bytes per block of planes (the block's intermediate rows stay in cache).
BLOCK_BYTES = 1 << 20
#: Threads sharing the blocks of a large pooling (None: :func:`cnncli.engine.fast.threads.num_threads`,
#: which honours CNNCLI_NUM_THREADS and OMP_NUM_THREADS), and the input size that pays for them.
THREADS: int | None = None
THREAD_MIN_BYTES = 1 << 21
#: Largest number of output elements adaptive pooling may allocate (1 GiB of float32).
MAX_OUTPUT_ELEMENTS = 2**28

Ufunc = Callable[..., Any]
_P = ParamSpec("_P")
_R = TypeVar("_R")


# ----------------------------------------------------------------------------- helpers


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


def _half_in_single(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Compute float16 arrays in float32 and round once at the end, as PyTorch's CPU kernels do."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kinds = {a.dtype for a in (*args, *kwargs.values()) if isinstance(a, np.ndarray)}
        if np.dtype(np.float16) not in kinds:
            return fn(*args, **kwargs)

        def up(a: Any) -> Any:
            return (
                a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype == np.float16 else a
            )

        out: Any = fn(*[up(a) for a in args], **{k: up(v) for k, v in kwargs.items()})
        if kinds - {np.dtype(np.float16)}:
            return out  # mixed with a wider dtype: keep the wider result

        def down(r: Any) -> Any:
            return r.astype(np.float16) if r.dtype == np.float32 else r

        return tuple(down(r) for r in out) if isinstance(out, tuple) else down(out)

    return wrapper  # type: ignore[return-value]


def _unbatch(y: np.ndarray, unbatched: bool) -> np.ndarray:
    return y[0] if unbatched else y


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
    return _Axis(L, OL, s, tuple(taps), k0.astype(tap_dtype), seen, tap_dtype, full, partial)


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
) -> np.ndarray:
    """``fn(*arrays)`` for (N, C, ·, ·) arrays, computed a block of planes at a time.

    Every op here treats the N·C planes independently.  Blocks of about
    :data:`BLOCK_BYTES` keep the intermediate rows in cache (a third less time
    than whole-array passes), and the blocks are shared among the engine's threads
    (NumPy releases the GIL inside each call).  With ``into``, ``fn`` takes an
    ``out=`` block to write into.
    """
    N, C = arrays[0].shape[:2]
    planes = N * C
    plane_bytes = max(a[0, 0].nbytes for a in arrays)
    plane_bytes = max(plane_bytes, out_hw[0] * out_hw[1] * np.dtype(dtype).itemsize, 1)
    per = max(1, BLOCK_BYTES // plane_bytes)
    if planes <= per or not all(a.flags.c_contiguous for a in arrays):
        return fn(*arrays)
    flat = [a.reshape(planes, 1, *a.shape[2:]) for a in arrays]
    out = np.empty((planes, 1, *out_hw), dtype=dtype)

    def run(span: tuple[int, int]) -> None:
        first, last = span
        for a in range(first, last, per):
            b = min(a + per, last)
            if into:
                fn(*(f[a:b] for f in flat), out=out[a:b])
            else:
                out[a:b] = fn(*(f[a:b] for f in flat))

    workers = min(THREADS or num_threads(), -(-planes // per))
    if workers <= 1 or planes * plane_bytes < THREAD_MIN_BYTES:
        run((0, planes))
    else:
        cuts = [planes * i // workers for i in range(workers + 1)]
        run_parts(run, list(itertools.pairwise(cuts)))
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


def _axes(geom: Pool2dGeometry) -> tuple[_Axis, _Axis]:
    ah = _axis(geom.H, geom.OH, geom.KH, geom.stride[0], geom.dilation[0], geom.padding[0])
    aw = _axis(geom.W, geom.OW, geom.KW, geom.stride[1], geom.dilation[1], geom.padding[1])
    return ah, aw


def _scatter(grad: np.ndarray, index: np.ndarray, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """dx[n, c].flat[index[n, c, i, j]] += grad[n, c, i, j], repeats accumulating."""
    N, C, H, W = shape
    planes = (np.arange(N * C, dtype=np.int64) * (H * W)).reshape(N, C, 1, 1)
    flat = (index + planes).ravel()
    dx = np.bincount(flat, weights=grad.ravel().astype(np.float64), minlength=N * C * H * W)
    return dx.astype(dtype, copy=False).reshape(shape)


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
    if return_indices:
        out, index = _max_with_indices(x, geom)
        return _unbatch(out, unbatched), _unbatch(index, unbatched)
    ah, aw = _axes(geom)
    # H first: its views have contiguous rows, and it shrinks what the W pass reads.
    return _unbatch(_two_passes(x, ah, aw, np.maximum, -np.inf), unbatched)


@_half_in_single
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
    return _unbatch(_max_backward(g, x, geom, dtype), unbatched)


def _max_backward(g: np.ndarray, x: np.ndarray, geom: Pool2dGeometry, dtype: Any) -> np.ndarray:
    """dx of a max pooling, by blocks of planes (see :func:`_max_backward_block`)."""
    g = np.ascontiguousarray(g, dtype=dtype)
    return _by_planes(
        lambda gb, xb: _max_backward_block(gb, xb, geom, dtype), (geom.H, geom.W), dtype, g, x
    )


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


# ----------------------------------------------------------------------------- average pooling


def _avg_divisor(
    geom: Pool2dGeometry, count_include_pad: bool, divisor_override: int | None, dtype: Any
) -> np.ndarray | float:
    """The divisor of each window, (OH, OW), by PyTorch's rules, or one number for all.

    A window is first clipped to the padded input (the ceil_mode overhang never
    counts), then to the input itself; count_include_pad divides by the first
    size, otherwise by the second; divisor_override replaces both.  When every
    window has the same divisor it is returned as a float: dividing by a scalar
    gives the same quotients and is twice as fast as dividing by a broadcast array.
    """
    if divisor_override is not None:
        return float(divisor_override)
    sizes = []
    for L, OL, K, s, p in (
        (geom.H, geom.OH, geom.KH, geom.stride[0], geom.padding[0]),
        (geom.W, geom.OW, geom.KW, geom.stride[1], geom.padding[1]),
    ):
        start = np.arange(OL, dtype=np.int64) * s - p
        end = np.minimum(start + K, L + p)
        if count_include_pad:
            sizes.append(end - start)
        else:
            sizes.append(np.minimum(end, L) - np.maximum(start, 0))
    divisor = (sizes[0][:, None] * sizes[1][None, :]).astype(dtype)
    if divisor.size and (divisor == divisor.flat[0]).all():
        return float(divisor.flat[0])
    return divisor


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


@_half_in_single
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
    if isinstance(divisor, float) and _dense(geom) and x.flags.c_contiguous:
        return _unbatch(_dense_sums(x, geom, divisor), unbatched)
    ah, aw = _axes(geom)
    return _unbatch(_two_passes(x, ah, aw, np.add, 0.0, divisor), unbatched)


def _dense(geom: Pool2dGeometry) -> bool:
    """No padding, no dilation, and every window inside the input (no ceil_mode overhang)."""
    return (
        geom.padding == (0, 0)
        and geom.dilation == (1, 1)
        and (geom.OH - 1) * geom.stride[0] + geom.KH <= geom.H
        and (geom.OW - 1) * geom.stride[1] + geom.KW <= geom.W
    )


def _dense_sums(x: np.ndarray, geom: Pool2dGeometry, divisor: float) -> np.ndarray:
    """Window sums / divisor when every window lies inside the input, by full-resolution passes.

    Shapes: x (N, C, H, W) C-contiguous → (N, C, OH, OW).  A block of planes is one
    flat run of memory, so ``v[i] = f[i] + f[i + W] + …`` (KH taps) and then
    ``h[i] = v[i] + v[i + 1] + …`` (KW taps) are each a few additions over one long
    contiguous vector, at the full resolution; the strided windows are read from
    ``h`` at the end.  Sums that straddle two rows or two planes are computed and
    never read.  That is more additions than :func:`_two_passes` does (stride² times
    as many), but each NumPy call covers a whole block instead of one short row, which
    measured 1.45x faster on AlexNet's 3x3 stride-2 pooling; the sums are added in
    the same order, so the results are the same bits.
    """
    H, W, KH, KW = geom.H, geom.W, geom.KH, geom.KW
    (sh, sw), OH, OW = geom.stride, geom.OH, geom.OW

    def block_fn(block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        n = block.shape[0]
        if out is None:
            out = np.empty((n, block.shape[1], OH, OW), dtype=block.dtype)
        f = block.reshape(-1)
        span = f.size - (KH - 1) * W  # v[i] for i < span reads inside the block
        v = np.add(f[:span], f[W : W + span]) if KH > 1 else f  # never written when KH is 1
        for m in range(2, KH):
            v += f[m * W : m * W + span]
        width = span - (KW - 1)
        h = np.add(v[:width], v[1 : 1 + width]) if KW > 1 else v
        for k in range(2, KW):
            h += v[k : k + width]
        isz = h.itemsize
        planes = block.size // (H * W)  # (n, C) planes when called on the whole input
        windows = as_strided(h, (planes, OH, OW), (H * W * isz, sh * W * isz, sw * isz))
        np.divide(windows, divisor, out=out.reshape(planes, OH, OW), casting="unsafe")
        return out

    return _by_planes(block_fn, (OH, OW), x.dtype, x, into=True)


@_half_in_single
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
    ah, aw = _axes(geom)
    scaled = np.divide(g, divisor, dtype=dtype)
    dx = _by_planes(
        lambda block: _pool_pass_backward(_pool_pass_backward(block, 3, aw), 2, ah),
        (geom.H, geom.W),
        dtype,
        scaled,
    )
    return _unbatch(dx, unbatched)


# ----------------------------------------------------------------------------- adaptive pooling


def _output_size(output_size: object, H: int, W: int) -> tuple[int, int]:
    """(OH, OW) from an int or a pair whose None entries keep the input size."""
    if output_size is None or isinstance(output_size, (bool, str)):
        raise ParameterError(
            f"output_size must be an integer or a pair (entries may be None), got {output_size!r}"
        )
    if hasattr(output_size, "__index__"):
        items: tuple[object, ...] = (output_size, output_size)
    else:
        try:
            items = tuple(output_size)  # type: ignore[call-overload,arg-type]
        except TypeError:
            raise ParameterError(
                f"output_size must be an integer or a pair (entries may be None), "
                f"got {output_size!r}"
            ) from None
        if len(items) == 1:
            items = (items[0], items[0])
    if len(items) != 2 or not all(
        v is None or (not isinstance(v, bool) and hasattr(v, "__index__")) for v in items
    ):
        raise ParameterError(
            f"output_size must be an integer or a pair (entries may be None), got {output_size!r}"
        )
    oh = H if items[0] is None else int(items[0])  # type: ignore[call-overload]
    ow = W if items[1] is None else int(items[1])  # type: ignore[call-overload]
    if oh < 1 or ow < 1:
        raise ParameterError(f"output_size must be at least 1, got {oh}x{ow}")
    return oh, ow


def _adaptive_setup(input: object, output_size: object) -> tuple[np.ndarray, bool, int, int]:
    x, unbatched = _as_nchw(input)
    N, C, H, W = check_nchw(x.shape)
    OH, OW = _output_size(output_size, H, W)
    if N * C * OH * OW > MAX_OUTPUT_ELEMENTS or max(OH, OW) > MAX_OUTPUT_ELEMENTS:
        raise ResourceLimitError(
            f"adaptive pooling to {OH}x{OW} would give {N}x{C}x{OH}x{OW} values, more than "
            f"the limit of {MAX_OUTPUT_ELEMENTS}"
        )
    return x, unbatched, OH, OW


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


@_half_in_single
def adaptive_avg_pool2d(input: np.ndarray, output_size: Any) -> np.ndarray:
    """Adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Shapes: input (N, C, H, W) or (C, H, W) → output (N, C, OH, OW); output_size
    is an int or a pair, a None entry keeping that input size.

    Bin i along H covers rows ``⌊i·H/OH⌋ ≤ h < ⌈(i+1)·H/OH⌉`` (the same along W);
    ``Y[n, c, i, j]`` is the mean of its bin.
    Naive loops: :func:`cnncli.engine.reference.pool.adaptive_avg_pool2d`.
    """
    x, unbatched, OH, OW = _adaptive_setup(input, output_size)
    geom = _adaptive_geometry(x, OH, OW)
    if geom is not None:
        ah, aw = _axes(geom)
        return _unbatch(_two_passes(x, ah, aw, np.add, 0.0, float(geom.KH * geom.KW)), unbatched)
    H, W = x.shape[2:]
    hs, he = _bins(H, OH)
    ws, we = _bins(W, OW)
    sums = _range_sum(_range_sum(x, 3, ws, we), 2, hs, he)
    counts = ((he - hs)[:, None] * (we - ws)[None, :]).astype(x.dtype)
    return _unbatch(np.divide(sums, counts, out=sums), unbatched)


@_half_in_single
def adaptive_avg_pool2d_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """Gradient of :func:`adaptive_avg_pool2d` (output size read from grad_output).

    Shapes: grad_output (N, C, OH, OW), input (N, C, H, W) → dx (N, C, H, W).

    ``dX[n, c, h, w] = Σ over bins (i, j) holding (h, w) of dY[n, c, i, j] / |bin(i, j)|``.
    Naive loops: :func:`cnncli.engine.reference.pool.adaptive_avg_pool2d_backward`.
    """
    x, unbatched = _as_nchw(input)
    g0 = as_float_array(grad_output, "grad_output")
    if g0.ndim != (3 if unbatched else 4):
        raise ShapeError(
            f"grad_output must have the input's layout, got shape {g0.shape} for input "
            f"shape {np.shape(input)}"
        )
    x, unbatched, OH, OW = _adaptive_setup(input, tuple(g0.shape[-2:]))
    N, C, H, W = x.shape
    g, dtype = _grad_as(g0, x, unbatched, (N, C, OH, OW))
    geom = _adaptive_geometry(x, OH, OW)
    if geom is not None:
        ah, aw = _axes(geom)
        scaled = np.divide(g, geom.KH * geom.KW, dtype=dtype)
        dx = _pool_pass_backward(_pool_pass_backward(scaled, 3, aw), 2, ah)
        return _unbatch(dx, unbatched)
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
    dx = _range_sum(
        rows, 2, np.searchsorted(he, h_idx, side="right"), np.searchsorted(hs, h_idx, "right")
    )
    return _unbatch(dx, unbatched)


def adaptive_max_pool2d(input: np.ndarray, output_size: Any, return_indices: bool = False) -> Any:
    """Adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool2d``.

    Shapes: input (N, C, H, W) or (C, H, W) → output (N, C, OH, OW) (and int64
    flat H*W indices with ``return_indices``).  Bins as in :func:`adaptive_avg_pool2d`;
    ``Y[n, c, i, j]`` is the maximum of its bin (first in row-major order on ties).
    Naive loops: :func:`cnncli.engine.reference.pool.adaptive_max_pool2d`.
    """
    x, unbatched, OH, OW = _adaptive_setup(input, output_size)
    geom = _adaptive_geometry(x, OH, OW)
    if geom is not None and not return_indices:
        ah, aw = _axes(geom)
        return _unbatch(_two_passes(x, ah, aw, np.maximum, -np.inf), unbatched)
    out, index = _adaptive_max(x, OH, OW)
    if return_indices:
        return _unbatch(out, unbatched), _unbatch(index, unbatched)
    return _unbatch(out, unbatched)


@_half_in_single
def adaptive_max_pool2d_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """Gradient of :func:`adaptive_max_pool2d` (output size read from grad_output).

    Shapes: grad_output (N, C, OH, OW), input (N, C, H, W) → dx (N, C, H, W).
    Each gradient goes to its bin's maximum; overlapping bins accumulate.
    Naive loops: :func:`cnncli.engine.reference.pool.adaptive_max_pool2d_backward`.
    """
    x, unbatched = _as_nchw(input)
    g0 = as_float_array(grad_output, "grad_output")
    if g0.ndim != (3 if unbatched else 4):
        raise ShapeError(
            f"grad_output must have the input's layout, got shape {g0.shape} for input "
            f"shape {np.shape(input)}"
        )
    x, unbatched, OH, OW = _adaptive_setup(input, tuple(g0.shape[-2:]))
    g, dtype = _grad_as(g0, x, unbatched, (x.shape[0], x.shape[1], OH, OW))
    geom = _adaptive_geometry(x, OH, OW)
    if geom is not None:
        return _unbatch(_max_backward(g, x, geom, dtype), unbatched)
    _, index = _adaptive_max(x, OH, OW)
    return _unbatch(_scatter(g, index, x.shape, dtype), unbatched)


# ----------------------------------------------------------------------------- global pooling


@_half_in_single
def global_avg_pool2d(input: np.ndarray) -> np.ndarray:
    """Mean over each whole feature map: (N, C, H, W) → (N, C, 1, 1).

    ``Y[n, c, 0, 0] = 1/(H·W) Σ_{h, w} X[n, c, h, w]`` (adaptive_avg_pool2d to 1×1).
    Naive loops: :func:`cnncli.engine.reference.pool.global_avg_pool2d`.
    """
    x, unbatched = _as_nchw(input)
    _adaptive_setup(x, 1)
    return _unbatch(x.mean(axis=(2, 3), keepdims=True, dtype=x.dtype), unbatched)


@_half_in_single
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


@_half_in_single
def global_max_pool2d_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """Gradient of :func:`global_max_pool2d`: all of dY[n, c] goes to the map's maximum.

    Shapes: grad_output (N, C, 1, 1), input (N, C, H, W) → dx (N, C, H, W); ties
    go to the first maximum in row-major order (the last NaN if any), as PyTorch.
    """
    x, unbatched = _as_nchw(input)
    _adaptive_setup(x, 1)
    N, C, H, W = x.shape
    g, dtype = _grad_as(grad_output, x, unbatched, (N, C, 1, 1))
    flat = x.reshape(N, C, H * W)
    index = np.argmax(flat, axis=2)
    isnan = np.isnan(flat)
    if isnan.any():
        last = H * W - 1 - np.argmax(isnan[:, :, ::-1], axis=2)
        index = np.where(isnan.any(axis=2), last, index)
    return _unbatch(_scatter(g, index.reshape(N, C, 1, 1), x.shape, dtype), unbatched)
