"""Shift-and-add convolution: one input channel per group, tap by tap, in cache tiles.

Shapes: input (N, G, H, W), weight (G*mult, 1, KH, KW), bias (G*mult,) or None, zero
padding (left, right, top, bottom) → output (N, G*mult, OH, OW).

With one input channel per group (depthwise layers, a kernel on a grey image) there is
no sum over channels for a matrix product to do: each output plane is the sum over the
KH*KW taps of a shifted view of its input plane times one weight::

    out[n, g, j] = b + sum_{m,k} w[g, j, m, k] * Xp[n, g, m*d_h :: s_h, k*d_w :: s_w]

Planes are independent, so they are processed in tiles of about ``TILE_BYTES`` (runs
of planes, or of output rows of one large plane) on the engine's threads
(:mod:`cnncli.engine.fast.threads`; NumPy releases the GIL inside its loops).  Weights
that are 0, 1 or -1 on a whole tile become skipped terms, additions or subtractions
(exact); kernels that are exactly an outer product col ⊗ row (Sobel, box, binomial)
run as a vertical then a horizontal 1-D pass.  A kernel repeated over every input
channel (a named kernel on an RGB image) runs once, on the channels' sum
(:func:`conv_summed_channels`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from cnncli.engine.fast.threads import num_threads, run_parts
from cnncli.engine.shapes import Conv2dGeometry

#: Working-set size (bytes) of one tile: 4 MiB tiles (in L3, not L2) mean fewer
#: NumPy calls (see benchmarks/README.md, decision table).
TILE_BYTES = 4 * 2**20
#: Below this many multiply-adds a call runs on one thread (thread start-up would cost more).
PARALLEL_MIN_WORK = 2**22


def conv_summed_channels(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    g: Conv2dGeometry,
    pads: tuple[int, int, int, int],
) -> np.ndarray:
    """Filters that apply one kernel to every channel: the kernel on the channels' sum.

    ``Σ_c Σ_{m,k} w[f, m, k] · Xp[c, ...] = Σ_{m,k} w[f, m, k] · (Σ_c Xp[c, ...])``
    (exact in real arithmetic; the rounding differs from the direct sum's only in
    order).  Shapes: x (N, C, H, W), w (F, C, KH, KW) → (N, F, OH, OW).  The sum is
    one map per image, convolved by shift-and-add (two 1-D passes for Sobel).
    """
    summed = x.sum(axis=1, keepdims=True)  # (N, 1, H, W)
    return conv_shift_add(summed, w[:, :1], b, dataclasses.replace(g, C=1), pads)


def _shift_add_tiles(planes: int, g: Conv2dGeometry, width: int, itemsize: int) -> tuple[int, int]:
    """(planes per tile, output rows per tile) so that a tile's working set is ~TILE_BYTES."""
    mult = g.F // g.groups
    row_bytes = (width * g.stride[0] + 2 * mult * g.OW) * itemsize
    rows = max(1, min(g.OH, TILE_BYTES // max(1, row_bytes)))
    if rows < g.OH:
        return 1, rows
    plane_bytes = row_bytes * g.OH + (g.KH - 1) * g.dilation[0] * width * itemsize
    return max(1, min(planes, TILE_BYTES // max(1, plane_bytes))), g.OH


def _run_parallel(
    run: Callable[[list[tuple[int, int, int, int]]], None],
    items: list[tuple[int, int, int, int]],
    work: int,
) -> None:
    """Run ``run`` over contiguous parts of ``items`` on up to :func:`num_threads` threads."""
    n = min(num_threads(), len(items))
    if n <= 1 or work < PARALLEL_MIN_WORK:
        run(items)
        return
    step = -(-len(items) // n)
    run_parts(run, [items[i : i + step] for i in range(0, len(items), step)], long=True)


def _plan(weights: list[np.ndarray]) -> list[tuple[int, str, np.ndarray]]:
    """Classify each term's weight once per tile row: (index, 'zero' | 'one' | 'minus' | 'mul', w)."""
    plan = []
    for i, wt in enumerate(weights):
        if not wt.any():
            kind = "zero"
        elif (wt == 1).all():
            kind = "one"
        elif (wt == -1).all():
            kind = "minus"
        else:
            kind = "mul"
        plan.append((i, kind, wt))
    return plan


def _weighted_sum(
    views: list[np.ndarray],
    plan: list[tuple[int, str, np.ndarray]],
    out: np.ndarray,
    tmp: np.ndarray,
    skip_zeros: bool,
) -> None:
    """``out = sum(views[i] * w_i)`` with as few passes over the tile as the weights allow.

    Weights that are 1 or -1 everywhere become additions or subtractions (exact);
    all-zero weights are dropped when ``skip_zeros`` (the caller checked that the
    tile is finite, since 0 * inf is NaN).
    """
    live = [(views[i], kind, wt) for i, kind, wt in plan if not (skip_zeros and kind == "zero")]
    if not live:
        out[...] = 0
        return
    # Start from two exact terms (1 and ±1) when there are: one pass, and no "times 1".
    exact = [i for i, (_, kind, _) in enumerate(live) if kind in ("one", "minus")]
    first = next((i for i in exact if live[i][1] == "one"), None)
    if first is not None and len(exact) >= 2:
        second = next(i for i in exact if i != first)
        v0, v1, k1 = live[first][0], live[second][0], live[second][1]
        (np.add if k1 == "one" else np.subtract)(v0, v1, out=out)
        rest = [term for i, term in enumerate(live) if i not in (first, second)]
    else:
        v0, _, w0 = live[0]
        np.multiply(v0, w0, out=out)
        rest = live[1:]
    for v, kind, wt in rest:
        if kind == "one":
            out += v
        elif kind == "minus":
            out -= v
        else:
            np.multiply(v, wt, out=tmp)
            out += tmp


def _separable(wk: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Exact factors ``(col (G, KH), row (G, KW))`` with ``col ⊗ row == w`` bit for bit, or None.

    Shapes: wk (G, KH, KW).  ``col`` is scaled so that its smallest non-zero
    magnitude is 1, which turns Sobel into [1, 2, 1] ⊗ [1, 0, -1].
    """
    G, KH, KW = wk.shape
    if KH < 2 or KW < 2:
        return None
    cols = np.empty((G, KH), dtype=wk.dtype)
    rows = np.empty((G, KW), dtype=wk.dtype)
    for gi in range(G):  # G kernels, not pixels
        k = wk[gi]
        r, c = np.unravel_index(int(np.argmax(np.abs(k))), k.shape)
        if k[r, c] == 0:
            return None
        col = k[:, c] / k[r, c]
        nonzero = np.abs(col[col != 0])
        col = col / nonzero.min()
        row = k[r] / col[r]
        if not np.array_equal(np.outer(col, row), k):
            return None
        cols[gi], rows[gi] = col, row
    return cols, rows


def conv_shift_add(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    g: Conv2dGeometry,
    pads: tuple[int, int, int, int],
) -> np.ndarray:
    """One input channel per group: sum over taps of shifted input × weight, in cache tiles.

    Shapes: x (N, G, H, W), w (G*mult, 1, KH, KW) → (N, G*mult, OH, OW).
    ``out[n, g, j] = b + sum_{m,k} w[g, j, m, k] * Xp[n, g, m*d_h :: s_h, k*d_w :: s_w]``.
    Each (image, channel) plane is independent; tiles are runs of planes, or of
    output rows of one plane when a plane is large.  Zero padding is applied per
    tile, so no padded copy of the whole input is made.  When every kernel is
    exactly an outer product col ⊗ row (Sobel x and y, box, binomial), each is
    applied as a vertical then a horizontal 1-D pass on finite tiles.
    """
    left, right, top, _ = pads
    N, G, H, W = x.shape
    P = N * G
    mult = g.F // G
    (sh, sw), (dh, dw) = g.stride, g.dilation
    Wp = W + left + right
    xr = x.reshape(P, H, W)
    wk = w.reshape(G, mult, g.KH, g.KW)
    bk = None if b is None else b.reshape(G, mult)
    factors = [_separable(wk[:, j]) for j in range(mult)]  # per filter of each channel
    sep = [f for f in factors if f is not None]
    if len(sep) < mult:  # one kernel is not an outer product: all taps, directly
        sep = []
    out = np.empty((P, mult, g.OH, g.OW), dtype=x.dtype)
    ptile, tile = _shift_add_tiles(P, g, Wp, x.itemsize)
    span = (tile - 1) * sh + (g.KH - 1) * dh + 1  # input rows one tile reads
    any_zero = not wk.all()
    items = [
        (p0, min(P, p0 + ptile), o0, min(g.OH, o0 + tile))
        for p0 in range(0, P, ptile)
        for o0 in range(0, g.OH, tile)
    ]

    def run(part: list[tuple[int, int, int, int]]) -> None:
        rows_buf: np.ndarray | None = None  # source rows with zero rows above or below
        padded_buf: np.ndarray | None = None  # the same rows with zero columns, for all taps
        tmp = np.empty((ptile, mult, tile, g.OW), dtype=x.dtype)
        # The vertical pass writes columns [left, left + W); the zero columns around them
        # are the horizontal padding, set once here and never written.
        vbuf = np.zeros((ptile, tile, Wp), dtype=x.dtype)
        vtmp = np.empty((ptile, tile, W), dtype=x.dtype)
        planned = -1
        for p0, p1, o0, o1 in part:
            if p0 != planned:  # weights, classified once per run of planes
                planned = p0
                chan = np.arange(p0, p1) % G
                wsel = wk[chan][:, :, :, :, None, None]  # (planes, mult, KH, KW, 1, 1)
                direct = _plan([wsel[:, :, m, k] for m in range(g.KH) for k in range(g.KW)])
                passes = []
                for cols_j, rows_j in sep:
                    col, row = cols_j[chan][:, :, None, None], rows_j[chan][:, :, None, None]
                    passes.append(
                        (
                            _plan([col[:, m] for m in range(g.KH)]),
                            _plan([row[:, k, None] for k in range(g.KW)]),
                        )
                    )
                bsel = None if bk is None else bk[chan][:, :, None, None]
            n, nr = p1 - p0, o1 - o0
            r0 = o0 * sh - top  # first input row read (may be in the padding)
            r1 = (o1 - 1) * sh + (g.KH - 1) * dh - top + 1
            if r0 >= 0 and r1 <= H:
                src = xr[p0:p1, r0:r1, :]  # (planes, rows, W): the input itself
            else:
                if rows_buf is None:
                    rows_buf = np.empty((ptile, span, W), dtype=x.dtype)
                src = rows_buf[:n, : r1 - r0, :]
                need = r1 - r0
                a0 = min(max(-r0, 0), need)  # tile rows [a0, a1) lie inside the input
                a1 = max(min(H - r0, need), a0)
                src[:, :a0, :] = 0
                src[:, a1:, :] = 0
                src[:, a0:a1, :] = xr[p0:p1, r0 + a0 : r0 + a1, :]
            acc = out[p0:p1, :, o0:o1, :]
            t = tmp[:n, :, :nr, :]
            # A finite sum means finite cells (an overflow only costs the fast path).
            finite = (bool(sep) or any_zero) and bool(np.isfinite(src.sum()))
            row_sl = [slice(m * dh, m * dh + (nr - 1) * sh + 1, sh) for m in range(g.KH)]
            col_sl = [slice(k * dw, k * dw + (g.OW - 1) * sw + 1, sw) for k in range(g.KW)]
            if sep and finite:
                v = vbuf[:n, :nr, :]
                for j, (vertical, horizontal) in enumerate(passes):
                    _weighted_sum(
                        [src[:, rs, :] for rs in row_sl],
                        vertical,
                        v[:, :, left : left + W],
                        vtmp[:n, :nr, :],
                        True,
                    )
                    _weighted_sum(
                        [v[:, None, :, cs] for cs in col_sl],
                        horizontal,
                        acc[:, j : j + 1],
                        t[:, j : j + 1],
                        True,
                    )
            else:
                if left or right:
                    if padded_buf is None:
                        padded_buf = np.zeros((ptile, span, Wp), dtype=x.dtype)
                    padded = padded_buf[:n, : src.shape[1], :]
                    padded[:, :, left : left + W] = src  # the zero columns are never written
                    src = padded
                taps = [src[:, None, rs, cs] for rs in row_sl for cs in col_sl]
                _weighted_sum(taps, direct, acc, t, finite)
            if bsel is not None:
                acc += bsel

    _run_parallel(run, items, out.size * g.KH * g.KW)
    return out.reshape(N, g.F, g.OH, g.OW)


def backward_shift_add(
    gy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    g: Conv2dGeometry,
    pads: tuple[int, int, int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """dx and dw when each group has one input channel (depthwise), tap by tap.

    Shapes: gy (N, G*mult, OH, OW), x (N, G, H, W), w (G*mult, 1, KH, KW).
    For each tap (m, k), with V the strided view Xp[:, :, m*d_h :: s_h, k*d_w :: s_w]::

        dW[g, j, m, k] = sum_{n,i,l} dY[n, g, j, i, l] * V[n, g, i, l]
        dXp[:, g, m*d_h :: s_h, k*d_w :: s_w] += sum_j dY[:, g, j] * W[g, j, m, k]

    Planes (image, channel) are independent, so they are processed in runs that
    fit the cache, on all cores.
    """
    left, right, top, bottom = pads
    N, G, H, W = x.shape
    P = N * G
    mult = g.F // G
    (sh, sw), (dh, dw_) = g.stride, g.dilation
    Hp, Wp = H + top + bottom, W + left + right
    xr = x.reshape(P, H, W)
    gyr = gy.reshape(P, mult, g.OH, g.OW)
    wk = w.reshape(G, mult, g.KH, g.KW)
    dwp = np.empty((P, mult, g.KH, g.KW), dtype=x.dtype)
    dx = np.empty((P, H, W), dtype=x.dtype)
    plane_bytes = (2 * Hp * Wp + 2 * mult * g.OH * g.OW) * x.itemsize
    ptile = max(1, min(P, TILE_BYTES // max(1, plane_bytes)))
    items = [(p0, min(P, p0 + ptile), 0, g.OH) for p0 in range(0, P, ptile)]

    def run(part: list[tuple[int, int, int, int]]) -> None:
        xp = np.zeros((ptile, Hp, Wp), dtype=x.dtype)
        dxp = np.empty((ptile, Hp, Wp), dtype=x.dtype)
        for p0, p1, _, _ in part:
            n = p1 - p0
            xs, ds = xp[:n], dxp[:n]
            xs[:, top : top + H, left : left + W] = xr[p0:p1]
            ds[...] = 0
            gys = gyr[p0:p1]  # (planes, mult, OH, OW)
            wsel = wk[np.arange(p0, p1) % G]  # (planes, mult, KH, KW)
            for m in range(g.KH):
                rows = slice(m * dh, m * dh + (g.OH - 1) * sh + 1, sh)
                for k in range(g.KW):
                    cols = slice(k * dw_, k * dw_ + (g.OW - 1) * sw + 1, sw)
                    view = xs[:, rows, cols]  # (planes, OH, OW)
                    dwp[p0:p1, :, m, k] = np.einsum("pjhw,phw->pj", gys, view)
                    if mult == 1:
                        ds[:, rows, cols] += gys[:, 0] * wsel[:, 0, m, k, None, None]
                    else:
                        ds[:, rows, cols] += np.einsum("pjhw,pj->phw", gys, wsel[:, :, m, k])
            dx[p0:p1] = ds[:, top : top + H, left : left + W]

    _run_parallel(run, items, gy.size * g.KH * g.KW)
    dw = dwp.reshape(N, G, mult, g.KH, g.KW).sum(axis=0)
    return dx.reshape(N, G, H, W), dw.reshape(g.F, 1, g.KH, g.KW)


def workspace_bytes(g: Conv2dGeometry, itemsize: int) -> int:
    """The tile buffers :func:`conv_shift_add` makes on each of its threads, all threads."""
    left, right, _, _ = g.padding
    W, Wp = g.W, g.W + left + right
    P, mult = g.N * g.C, g.F // g.groups
    ptile, tile = _shift_add_tiles(P, g, Wp, itemsize)
    span = (tile - 1) * g.stride[0] + (g.KH - 1) * g.dilation[0] + 1
    one = ptile * (span * W + span * Wp + mult * tile * g.OW + tile * Wp + tile * W)
    tiles = -(-P // ptile) * -(-g.OH // tile)
    return min(num_threads(), tiles) * one * itemsize
