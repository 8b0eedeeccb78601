"""Stride-1 convolution on the flattened padded image: every tap is one offset.

Shapes: input (N, C, H, W), weight (F, C, KH, KW), bias (F,) or None, zero padding
(left, right, top, bottom), stride 1, one group → output (N, F, OH, OW), NCHW.

Lay the zero-padded input out channel-major and flatten each channel over
(n, row, column): ``Xf[c, q]`` with ``q = n*Hp*Wp + h*Wp + w``.  The input cell that
tap (m, k) reads for output (n, i, j) is then ``Xf[c, q + s]`` with ``q`` the output's
own flat position on the padded grid, ``q = n*Hp*Wp + i*Wp + j``, and one offset per
tap::

    s(m, k) = m*d*Wp + k*d                       (d the dilation)
    Y[f, q] = Σ_{c,m,k} W[f, c, m, k] · Xf[c, q + s(m, k)]

so the im2col row of tap (m, k) and channel c is the contiguous slice
``Xf[c, s : s + T]``, with ``T = N*Hp*Wp - s(KH-1, KW-1)`` columns (the last output's
position plus one).  Gathering the matrix copies whole slices instead of the
receptive fields' short runs (Cg values channels-last, OW values in NCHW), which is
what small layers (LeNet's, TinyVGG's) spend their time on.  The price is the grid's
columns that are no output (j ≥ OW, i ≥ OH): a factor Hp*Wp / (OH*OW) more columns,
computed and dropped (:mod:`.conv` sends layers where that factor is large to the NCHW
windows).  The backward is the same picture read the other way::

    dW[f, (m, k, c)] = Σ_q dYe[f, q] · Xf[c, q + s(m, k)]    (dYe: dY on the grid, 0 elsewhere)
    dXf[c, q + s(m, k)] += Σ_f W[f, c, m, k] · dYe[f, q]       (KH*KW contiguous additions)

Large batches are done a chunk of whole images at a time (``CHUNK_BYTES`` of
gathered matrix), with the same results.  From ``THREAD_MIN_BYTES`` of gathered matrix in
all (TinyVGG's layers) the chunks are shared between the engine's threads, each product on
one OpenBLAS thread, and dW is then one product of the gathered matrix per chunk, summed
over the threads in order (:func:`_share`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnncli.engine.fast import blas
from cnncli.engine.fast.threads import even_parts, num_threads, run_parts
from cnncli.engine.shapes import Conv2dGeometry

Pads = tuple[int, int, int, int]

#: Largest gathered matrix (KH*KW*C, T) made at once; more images go in further chunks.
CHUNK_BYTES = 2 * 2**20
#: Largest gathered matrix of one image (see :func:`fits`).
MAX_IMAGE_BYTES = 64 * 2**20
#: dW takes one product per tap from this many input channels, else one of the gathered matrix.
TAP_DW_MIN_CHANNELS = 6
#: Below it, with fewer than ``DW_BLOCK_MAX_FILTERS`` filters, dW's product of the gathered
#: matrix is summed over blocks of columns (a power of two) of at most ``DW_BLOCK_BYTES``.
DW_BLOCK_MAX_FILTERS = 32
DW_BLOCK_BYTES = 2**19
#: From this many bytes of gathered matrix in all, the forward's chunks go to the engine's
#: threads (TinyVGG's layers at batch 32 gather 9 to 42 MiB, LeNet-5's first at batch 64 6.2).
THREAD_MIN_BYTES = 8 * 2**20


def fits(g: Conv2dGeometry) -> bool:
    """Stride 1 and one group (each tap's reads are one offset on the flat grid), and one
    image's gathered matrix within ``MAX_IMAGE_BYTES`` at 8 bytes a value (a chunk holds
    whole images: a large photo goes to the tiled im2col, which splits an image by rows)."""
    left, right, top, bottom = g.padding
    image = g.KH * g.KW * g.C * (g.H + top + bottom) * (g.W + left + right) * 8
    return g.stride == (1, 1) and g.groups == 1 and image <= MAX_IMAGE_BYTES


def _grid(g: Conv2dGeometry, pads: Pads, hw: tuple[int, ...]) -> tuple[int, int, int]:
    """(Hp, Wp, smax): the padded grid of an input of height and width ``hw`` and the
    last tap's offset.  (Other padding modes have padded the input already: then
    ``pads`` is zero and ``hw`` exceeds the geometry's H, W.)"""
    left, right, top, bottom = pads
    Hp, Wp = hw[0] + top + bottom, hw[1] + left + right
    dh, dw = g.dilation
    return Hp, Wp, (g.KH - 1) * dh * Wp + (g.KW - 1) * dw


def _chunks(
    g: Conv2dGeometry, pads: Pads, hw: tuple[int, ...], itemsize: int
) -> Iterator[tuple[int, int]]:
    """Runs of whole images [n0, n1) whose gathered matrix stays under ``CHUNK_BYTES``."""
    Hp, Wp, _ = _grid(g, pads, hw)
    per_image = g.KH * g.KW * g.C * Hp * Wp * itemsize
    step = max(1, CHUNK_BYTES // max(1, per_image))
    for n0 in range(0, g.N, step):
        yield n0, min(g.N, n0 + step)


def _flat_input(x: np.ndarray, pads: Pads) -> np.ndarray:
    """(n, C, H, W) → Xf (C, n*Hp*Wp): zero-padded, channel-major, flattened."""
    left, right, top, bottom = pads
    n, C, H, W = x.shape
    xf = np.zeros((C, n, H + top + bottom, W + left + right), dtype=x.dtype)
    xf[:, :, top : top + H, left : left + W] = x.transpose(1, 0, 2, 3)
    return xf.reshape(C, -1)


def _taps(xf: np.ndarray, g: Conv2dGeometry, Wp: int, T: int) -> np.ndarray:
    """Read-only view (KH, KW, C, T) of ``Xf[c, s(m, k) : s(m, k) + T]``: the im2col rows."""
    sc, sq = xf.strides
    dh, dw = g.dilation
    return as_strided(
        xf,
        shape=(g.KH, g.KW, xf.shape[0], T),
        strides=(dh * Wp * sq, dw * sq, sc, sq),
        writeable=False,
    )


def _gathered(x: np.ndarray, g: Conv2dGeometry, pads: Pads) -> tuple[np.ndarray, int]:
    """The im2col matrix (KH*KW*C, T) of images ``x`` on the flat grid, and T."""
    Hp, Wp, smax = _grid(g, pads, x.shape[2:])
    T = x.shape[0] * Hp * Wp - smax
    cols = np.ascontiguousarray(_taps(_flat_input(x, pads), g, Wp, T))  # whole slices
    return cols.reshape(g.KH * g.KW * g.C, T), T


def _weight_rows(w: np.ndarray) -> np.ndarray:
    """(F, C, KH, KW) → (F, KH*KW*C), in the gathered matrix's row order (m, k, c)."""
    F = w.shape[0]
    return np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(F, -1)


def _on_grid(gy: np.ndarray, Hp: int, Wp: int, T: int) -> np.ndarray:
    """dY (n, F, OH, OW) → dYe (F, T): each value at its output's flat grid position."""
    n, F, OH, OW = gy.shape
    grid = np.zeros((F, n, Hp, Wp), dtype=gy.dtype)
    grid[:, :, :OH, :OW] = gy.transpose(1, 0, 2, 3)
    return grid.reshape(F, -1)[:, :T]


def conv_flat(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: Conv2dGeometry, pads: Pads
) -> np.ndarray:
    """Y[f, q] = Σ W[f, (m, k, c)] · Xf[c, q + s(m, k)], one matrix product per chunk.

    From ``THREAD_MIN_BYTES`` of gathered matrix in all, the chunks are shared among the
    engine's threads, each product on one OpenBLAS thread (see :func:`_share`).
    """
    Hp, Wp, _ = _grid(g, pads, x.shape[2:])
    wk = _weight_rows(w)
    out = np.empty((g.N, g.F, g.OH, g.OW), dtype=x.dtype)

    def chunk(n0: int, n1: int) -> None:
        cols, T = _gathered(x[n0:n1], g, pads)
        y = np.empty((g.F, (n1 - n0) * Hp * Wp), dtype=x.dtype)
        np.matmul(wk, cols, out=y[:, :T])  # the grid's tail past T holds no output
        grid = y.reshape(g.F, n1 - n0, Hp, Wp)[:, :, : g.OH, : g.OW].transpose(1, 0, 2, 3)
        if b is None:
            out[n0:n1] = grid
        else:
            np.add(grid, b[:, None, None], out=out[n0:n1])

    def run(_: int, chunks: list[tuple[int, int]]) -> None:
        for n0, n1 in chunks:
            chunk(n0, n1)

    chunks = list(_chunks(g, pads, x.shape[2:], x.itemsize))
    _share(_runs(chunks, _gathered_bytes(g, pads, x)), run)
    return out


def _gathered_bytes(g: Conv2dGeometry, pads: Pads, x: np.ndarray) -> int:
    """The whole batch's gathered matrix, in bytes."""
    Hp, Wp, _ = _grid(g, pads, x.shape[2:])
    return g.KH * g.KW * g.C * Hp * Wp * x.shape[0] * x.itemsize


def _workers(chunks: int, total_bytes: int) -> int:
    """How many threads share ``chunks`` chunks: one below ``THREAD_MIN_BYTES`` of
    gathered matrix in all, else the engine's threads (at most one a chunk)."""
    return 1 if total_bytes < THREAD_MIN_BYTES else max(1, min(num_threads(), chunks))


def _runs(chunks: list[tuple[int, int]], total_bytes: int) -> list[list[tuple[int, int]]]:
    """The chunks as one run for this thread, or, from ``THREAD_MIN_BYTES`` of gathered
    matrix in all, as consecutive runs, one for each of the engine's threads."""
    workers = _workers(len(chunks), total_bytes)
    if workers == 1:
        return [chunks]
    return [chunks[a:z] for a, z in even_parts(len(chunks), workers)]


def _share(
    runs: list[list[tuple[int, int]]], part: Callable[[int, list[tuple[int, int]]], None]
) -> None:
    """``part(i, runs[i])`` for every run: one run on this thread, several each on a
    thread started for this call, with OpenBLAS on one thread meanwhile.

    Each product is small (a few images): OpenBLAS's own two threads split it finely and
    then spin, where whole chunks on two threads keep both cores busy (benchmarks/README.md,
    decision table).
    """
    if len(runs) == 1:
        part(0, runs[0])
        return

    def run(i: int) -> None:
        part(i, runs[i])

    with blas.one_thread():
        run_parts(run, range(len(runs)), long=True)


def backward_flat(
    gy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    g: Conv2dGeometry,
    pads: Pads,
    need_dx: bool = True,
    need_dw: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(dx of the zero-unpadded input, dw): dWᵀ = cols @ dYeᵀ, dcols = Wᵀ @ dYe, col2im
    as KH*KW additions of contiguous slices (see the module docstring)."""
    left, _, top, _ = pads
    H, W = x.shape[2:]
    Hp, Wp, smax = _grid(g, pads, (H, W))
    wk = _weight_rows(w) if need_dx else None  # (F, KH*KW*C), for dcols only
    dx = np.empty(x.shape, dtype=x.dtype) if need_dx else None
    dwks: dict[int, np.ndarray] = {}  # dWᵀ of each run of chunks, summed in order below
    # dX's products share out over threads, and then dW's too, as one product of the
    # gathered matrix (one per tap does not gain from a second thread); dW alone does not.
    total = _gathered_bytes(g, pads, x) if need_dx else 0
    runs = _runs(list(_chunks(g, pads, (H, W), x.itemsize)), total)
    gathered = len(runs) > 1

    def run(i: int, chunks: list[tuple[int, int]]) -> None:
        dwk = dwks[i] = np.zeros((g.KH * g.KW * g.C, g.F), dtype=x.dtype)
        for n0, n1 in chunks:
            n = n1 - n0
            T = n * Hp * Wp - smax
            dye = _on_grid(gy[n0:n1], Hp, Wp, T)  # (F, T)
            if need_dw:
                _add_weight_grad(dwk, x[n0:n1], dye, g, pads, gathered)
            if dx is None or wk is None:
                continue
            dcols = (wk.T @ dye).reshape(g.KH, g.KW, g.C, T)
            dxf = np.zeros((g.C, n * Hp * Wp), dtype=x.dtype)
            dh, dw_ = g.dilation
            for m in range(g.KH):
                for k in range(g.KW):
                    s = m * dh * Wp + k * dw_
                    dxf[:, s : s + T] += dcols[m, k]
            grid = dxf.reshape(g.C, n, Hp, Wp)[:, :, top : top + H, left : left + W]
            dx[n0:n1] = grid.transpose(1, 0, 2, 3)

    _share(runs, run)
    dw = None
    if need_dw:
        dwk = dwks[0]
        for i in range(1, len(runs)):
            dwk += dwks[i]
        dw = dwk.reshape(g.KH, g.KW, g.C, g.F).transpose(3, 2, 0, 1)
    return dx, dw


def _add_weight_grad(
    dwk: np.ndarray,
    x: np.ndarray,
    dye: np.ndarray,
    g: Conv2dGeometry,
    pads: Pads,
    gathered: bool = False,
) -> None:
    """dWᵀ (KH*KW*C, F) += the sum over every output position q of Xf[c, q + s] · dYe[f, q].

    From ``TAP_DW_MIN_CHANNELS`` channels one product per tap, straight from the flat
    input's slice (nothing gathered), unless ``gathered``; else one product of the
    gathered matrix, whose few rows per tap make the per-tap products too thin for BLAS
    (benchmarks/README.md, decision table).
    """
    T = dye.shape[1]
    if g.C < TAP_DW_MIN_CHANNELS or gathered:
        cols, _ = _gathered(x, g, pads)
        block = T
        if g.F < DW_BLOCK_MAX_FILTERS:  # a long thin product: blocks of columns in cache
            rows = cols.shape[0] + g.F
            block = 1 << max(8, (DW_BLOCK_BYTES // (rows * x.itemsize)).bit_length() - 1)
        for q in range(0, T, block):
            dwk += cols[:, q : q + block] @ dye[:, q : q + block].T
        return
    _, Wp, _ = _grid(g, pads, x.shape[2:])
    taps = _taps(_flat_input(x, pads), g, Wp, T)  # (KH, KW, C, T) views
    dyet = np.ascontiguousarray(dye.T)  # (T, F)
    rows = dwk.reshape(g.KH, g.KW, g.C, g.F)
    for m in range(g.KH):
        for k in range(g.KW):
            rows[m, k] += taps[m, k] @ dyet


def workspace_bytes(g: Conv2dGeometry, itemsize: int) -> int:
    """The largest chunk's flat input, gathered matrix and output grid (forward, zero
    padding), once for each thread that works on chunks at the same time."""
    hw = (g.H, g.W)
    Hp, Wp, _ = _grid(g, g.padding, hw)
    n0, n1 = next(_chunks(g, g.padding, hw, itemsize))  # from shapes: never list them all
    per = Hp * Wp * (n1 - n0)
    at_once = _workers(-(-g.N // (n1 - n0)), g.KH * g.KW * g.C * Hp * Wp * g.N * itemsize)
    return at_once * (g.C * per + g.KH * g.KW * g.C * per + g.F * per) * itemsize
