"""2-D convolution (cross-correlation, as PyTorch computes it), forward and backward.

Shapes: input (N, C, H, W), weight (F, C/groups, KH, KW), bias (F,) →
output (N, F, OH, OW) with, per axis (see :mod:`cnncli.engine.shapes`)::

    OH = floor((H + top + bottom - dilation*(KH - 1) - 1) / stride) + 1

Formula (the seed's forward formula, for each group of C/groups input channels
and F/groups filters; Xp is the padded input, s the stride, d the dilation)::

    Y[n, f, i, j] = b[f] + sum_{c, m, k} Xp[n, c, i*s + m*d, j*s + k*d] * W[f, c, m, k]

This module is the fast version: no Python loop over pixels or batch items.
3x3 and 5x5 stride-1 layers with enough channels run by Winograd F(2x2, r x r)
(:mod:`cnncli.engine.fast.winograd`: 2.25x and 2.8x fewer multiplications), and so do
their dx and dw in the backward.  The general path gathers every receptive field with a
strided view of the channels-last (NHWC) padded input ("im2col") and multiplies
it with the weights in one BLAS matrix product per group; 1x1 kernels are a plain matrix product;
a kernel repeated over every input channel runs on the channels' sum;
depthwise and single-channel kernels (one input channel per group) are
shift-and-add over the KH*KW taps, in tiles that stay in cache (exactly
separable kernels such as Sobel as two 1-D passes).  im2col buffers are bounded
by ``CHUNK_BYTES`` (256 MiB; larger ones are built in chunks of batch items or
output rows, with the same results), and the shift-and-add tiles, which BLAS
does not parallelise for us, run on the engine's threads
(:mod:`cnncli.engine.fast.threads`), since NumPy releases the GIL inside its loops.  The
teaching version, literal loops over the same formulas, is
:mod:`cnncli.engine.reference.conv` (``conv2d_naive``, ``conv2d_backward_naive``);
the tests hold the two equal to each other and to PyTorch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnncli.engine._checks import as_float_array, result_dtype
from cnncli.engine.fast.threads import num_threads, run_parts
from cnncli.engine.fast.winograd import (
    BY_KERNEL,
    WEIGHT_GRAD_BY_KERNEL,
    Winograd,
    conv2d_weight_winograd,
    conv2d_winograd,
    moderate,
    transformed_weight,
)
from cnncli.engine.pad import pad, pad_backward
from cnncli.engine.shapes import Conv2dGeometry, IntOrPair, PaddingArg, conv2d_geometry
from cnncli.errors import ParameterError, ResourceLimitError, ShapeError

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

#: Largest im2col buffer (bytes) built at once; bigger ones are made in chunks of
#: batch items or output rows, with the same results.
CHUNK_BYTES = 256 * 2**20
#: Smallest im2col chunk worth a GEMM call of its own (bytes).
MIN_CHUNK_BYTES = 16 * 2**20
#: im2col works one image per chunk from this many output pixels (one group).
IMAGE_PIXELS_ALONE = 512
#: Working-set size (bytes) of one row tile of the shift-and-add path.  Tiles of 4 MiB
#: (in the L3 cache) measured faster than 1 MiB ones (in L2) here, paired: a 4096x4096
#: Sobel 28.6 against 39.3 ms, the 8x64x112x112 depthwise 3x3 26.5 against 44.8 ms;
#: fewer tiles mean fewer NumPy calls.
TILE_BYTES = 4 * 2**20
#: Shift-and-add is used when each group has one input channel and at most this many filters.
SHIFT_ADD_MAX_FILTERS = 4
#: Winograd F(2x2, 3x3) and F(2x2, 5x5) are used for 3x3 and 5x5 stride-1 layers with at
#: least this many input channels and filters and this many 2x2 output tiles: below them the
#: transforms cost more than the multiplications saved (measured against im2col here).
WINOGRAD_MIN_CHANNELS = 64
WINOGRAD_MIN_TILES = 32


class _Args:
    """Validated, dtype-unified arguments of one conv2d call."""

    def __init__(
        self,
        input: object,
        weight: object,
        bias: object | None,
        stride: IntOrPair,
        padding: PaddingArg,
        dilation: IntOrPair,
        groups: int,
        padding_mode: str,
    ) -> None:
        if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
            raise ParameterError(
                f"padding_mode {padding_mode!r} is not one of {', '.join(PADDING_MODES)}"
            )
        x = as_float_array(input, "input")
        w = as_float_array(weight, "weight")
        b = None if bias is None else as_float_array(bias, "bias")
        self.geom = conv2d_geometry(x.shape, w.shape, stride, padding, dilation, groups)
        if b is not None and b.shape != (self.geom.F,):
            raise ShapeError(f"bias must have shape (F,) = ({self.geom.F},), got {b.shape}")
        self.dtype = result_dtype(x, w, b)
        # float16 has no BLAS: compute in float32 and round once at the end.
        self.ct = np.dtype(np.float32) if self.dtype == np.float16 else self.dtype
        self.x = x.astype(self.ct, copy=False)
        self.w = w.astype(self.ct, copy=False)
        self.b = None if b is None else b.astype(self.ct, copy=False)
        self.mode = padding_mode
        self.pads = self.geom.padding  # (left, right, top, bottom)
        if padding_mode != "zeros" and any(self.pads):
            # Non-zero modes pad first (F.pad), then convolve without padding, as PyTorch.
            self.x = pad(self.x, self.pads, padding_mode)
            self.zero_pads: tuple[int, int, int, int] = (0, 0, 0, 0)
        else:
            self.zero_pads = self.pads


#: Refuse outright an output or padded input larger than this (bytes); NumPy could not
#: allocate it and would fail with its own error.
MAX_ARRAY_BYTES = 2**40


@contextmanager
def _memory_guard(a: _Args, op: str) -> Iterator[None]:
    """Turn an impossible allocation into :class:`ResourceLimitError` naming the sizes."""
    g = a.geom
    out_bytes = g.N * g.F * g.OH * g.OW * a.ct.itemsize
    left, right, top, bottom = a.pads
    in_bytes = g.N * g.C * (g.H + top + bottom) * (g.W + left + right) * a.ct.itemsize
    what = (
        f"{op} of input {(g.N, g.C, g.H, g.W)} with weight {(g.F, g.C // g.groups, g.KH, g.KW)} "
        f"(output {(g.N, g.F, g.OH, g.OW)}: {out_bytes / 2**20:.0f} MiB, padded input "
        f"{in_bytes / 2**20:.0f} MiB)"
    )
    if max(out_bytes, in_bytes) > MAX_ARRAY_BYTES:
        raise ResourceLimitError(f"{what} is too large to compute")
    try:
        yield
    except MemoryError:
        raise ResourceLimitError(f"{what} needs more memory than is available") from None


def conv2d(
    input: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntOrPair = 1,
    padding: PaddingArg = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d`` (plus ``padding_mode``).

    Shapes: input (N, C, H, W), weight (F, C/groups, KH, KW), bias (F,) or None →
    (N, F, OH, OW).  ``padding`` is an int, (h, w), (left, right, top, bottom),
    'same' or 'valid'; ``padding_mode`` is zeros, reflect, replicate or circular.

    Formula: ``Y[n,f,i,j] = b[f] + sum_{c,m,k} Xp[n, c, i*s_h + m*d_h, j*s_w + k*d_w]
    * W[f, c, m, k]`` over the input channels c of f's group.  The naive loop
    version is :func:`cnncli.engine.reference.conv.conv2d_naive`.
    """
    a = _Args(input, weight, bias, stride, padding, dilation, groups, padding_mode)
    # inf and NaN propagate as in PyTorch, without NumPy's warnings about them.
    with np.errstate(invalid="ignore", over="ignore"), _memory_guard(a, "conv2d"):
        return _conv2d(a)


def _conv2d(a: _Args) -> np.ndarray:
    g = a.geom
    cg, fg = g.C // g.groups, g.F // g.groups
    if g.KH == 1 and g.KW == 1 and not any(a.zero_pads):
        out = _conv1x1(a.x, a.w, g)
    elif cg == 1 and fg <= SHIFT_ADD_MAX_FILTERS:
        out = _conv_shift_add(a.x, a.w, a.b, g, a.zero_pads)
        return out.astype(a.dtype, copy=False)
    elif _channel_uniform(a.w, g) and moderate(a.x):
        out = _conv_summed_channels(a.x, a.w, a.b, g, a.zero_pads)
        return out.astype(a.dtype, copy=False)
    elif (
        (t := _winograd_for(g)) is not None
        and moderate(a.x)
        and (u := transformed_weight(a.w, t)) is not None
    ):
        out = _conv_winograd(a.x, u, a.b, g, a.zero_pads, t)
        return out.astype(a.dtype, copy=False)
    else:
        out = _conv_gemm(a.x, a.w, a.b, g, a.zero_pads)
        return out.astype(a.dtype, copy=False)
    if a.b is not None:
        out += a.b[None, :, None, None]
    return out.astype(a.dtype, copy=False)


def _channel_uniform(w: np.ndarray, g: Conv2dGeometry) -> bool:
    """One group, at most ``SHIFT_ADD_MAX_FILTERS`` filters, each the same kernel on every channel.

    That is what a named 2-D kernel (sobel, gaussian, ...) becomes on an RGB image.
    """
    return (
        g.groups == 1 and g.C > 1 and g.F <= SHIFT_ADD_MAX_FILTERS and bool((w == w[:, :1]).all())
    )


def _conv_summed_channels(
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
    return _conv_shift_add(summed, w[:, :1], b, dataclasses.replace(g, C=1), pads)


def _winograd_for(g: Conv2dGeometry) -> Winograd | None:
    """The Winograd transform for this layer: an r x r kernel with r in :data:`BY_KERNEL`,
    stride 1, dilation 1, one group, and enough channels, filters and tiles; else None."""
    t = BY_KERNEL.get(g.KH) if g.KH == g.KW else None
    if t is None or (g.stride, g.dilation, g.groups) != ((1, 1), (1, 1), 1):
        return None
    tiles = g.N * -(-g.OH // t.m) * -(-g.OW // t.m)
    if min(g.C, g.F) < WINOGRAD_MIN_CHANNELS or tiles < WINOGRAD_MIN_TILES:
        return None
    return t


def _conv_winograd(
    x: np.ndarray,
    u: np.ndarray,
    b: np.ndarray | None,
    g: Conv2dGeometry,
    pads: tuple[int, int, int, int],
    t: Winograd,
) -> np.ndarray:
    """Stride-1 conv2d by Winograd F(2x2, r x r), see :mod:`cnncli.engine.fast.winograd`.

    ``u`` is the weight transformed by :func:`transformed_weight`.  The input is
    zero-padded into NHWC with as many more zero rows (columns) as make OH (OW) a
    whole number of m x m output tiles.
    """
    left, right, top, bottom = pads
    extra_h, extra_w = -g.OH % t.m, -g.OW % t.m
    xp = _padded_nhwc(x, (left, right + extra_w, top, bottom + extra_h))
    return conv2d_winograd(xp, u, b, g.OH, g.OW, t)


def _group_weights(w: np.ndarray, g: Conv2dGeometry) -> np.ndarray:
    """(F, Cg, KH, KW) → (groups, Fg, KH*KW*Cg), in the NHWC im2col column order."""
    cg, fg = g.C // g.groups, g.F // g.groups
    wk = w.reshape(g.groups, fg, cg, g.KH, g.KW).transpose(0, 1, 3, 4, 2)
    return np.ascontiguousarray(wk).reshape(g.groups, fg, g.KH * g.KW * cg)


def _conv1x1(x: np.ndarray, w: np.ndarray, g: Conv2dGeometry) -> np.ndarray:
    """A 1x1 kernel is a matrix product over channels: (G, Fg, Cg) @ (N, G, Cg, OH*OW)."""
    sh, sw = g.stride
    xs = x[:, :, : (g.OH - 1) * sh + 1 : sh, : (g.OW - 1) * sw + 1 : sw]
    cg, fg = g.C // g.groups, g.F // g.groups
    xs = xs.reshape(g.N, g.groups, cg, g.OH * g.OW)  # copies only when strided
    wk = w.reshape(g.groups, fg, cg)
    out = np.matmul(wk, xs)  # (N, G, Fg, OH*OW)
    return out.reshape(g.N, g.F, g.OH, g.OW)


def _padded_nhwc(
    x: np.ndarray, pads: tuple[int, int, int, int], rows: tuple[int, int] | None = None
) -> np.ndarray:
    """(N, C, H, W) → zero-padded channels-last copy (N, H + t + b, W + l + r, C).

    With ``rows = (r0, r1)`` only those rows of the padded input are made:
    (N, r1 - r0, W + l + r, C), so that a large input is padded a chunk at a time.
    """
    left, right, top, bottom = pads
    N, C, H, W = x.shape
    r0, r1 = (0, H + top + bottom) if rows is None else rows
    nhwc = x.transpose(0, 2, 3, 1)
    if not any(pads) and rows is None and nhwc.flags.c_contiguous:
        return nhwc
    xp = np.zeros((N, r1 - r0, W + left + right, C), dtype=x.dtype)
    i0, i1 = max(r0, top), min(r1, top + H)  # padded rows that hold input rows
    if i0 >= i1:
        return xp
    inner = xp[:, i0 - r0 : i1 - r0, left : left + W, :]
    src = x[:, :, i0 - top : i1 - top, :]
    if C <= 4:
        # NumPy's transposing copy is slow with a tiny innermost axis (RGB: 3.8 ms against
        # 1.5 ms for 8x3x224x224): copy one channel plane at a time instead.
        for c in range(C):
            _copy(inner[..., c], src[:, c])
    else:
        _copy(inner, src.transpose(0, 2, 3, 1))
    return xp


def _copy(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` (one place for the im2col gathers and layout copies).

    Splitting these memory-bound copies over threads was measured: no gain next to
    OpenBLAS's own threads on this 2-core machine, so they stay on one thread.
    """
    dst[...] = src


def _windows(xp: np.ndarray, g: Conv2dGeometry, OH: int | None = None) -> np.ndarray:
    """Read-only strided view (N, OH, OW, KH, KW, C) of every receptive field of NHWC ``xp``.

    ``OH`` defaults to the layer's; a chunk of padded rows has fewer output rows.
    """
    sN, sH, sW, sC = xp.strides
    (sh, sw), (dh, dw) = g.stride, g.dilation
    return as_strided(
        xp,
        shape=(xp.shape[0], g.OH if OH is None else OH, g.OW, g.KH, g.KW, xp.shape[3]),
        strides=(sN, sH * sh, sW * sw, sH * dh, sW * dw, sC),
        writeable=False,
    )


def _chunk_windows(
    x: np.ndarray,
    g: Conv2dGeometry,
    pads: tuple[int, int, int, int],
    whole: np.ndarray | None,
    n0: int,
    n1: int,
    o0: int,
    o1: int,
) -> np.ndarray:
    """Receptive fields (n1 - n0, o1 - o0, OW, KH, KW, C) of output rows [o0, o1).

    From ``whole``, the padded NHWC input when it was made at once; else from
    just the padded rows these outputs read, made now.
    """
    if whole is not None:
        return _windows(whole, g)[n0:n1, o0:o1]
    (sh, _), (dh, _) = g.stride, g.dilation
    r0, r1 = o0 * sh, (o1 - 1) * sh + (g.KH - 1) * dh + 1
    return _windows(_padded_nhwc(x[n0:n1], pads, (r0, r1)), g, o1 - o0)


def _padded_at_once(x: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray | None:
    """The whole padded NHWC input when it is at most ``CHUNK_BYTES``, else None."""
    left, right, top, bottom = pads
    N, C, H, W = x.shape
    if N * C * (H + top + bottom) * (W + left + right) * x.itemsize > CHUNK_BYTES:
        return None
    return _padded_nhwc(x, pads)


def _chunks(g: Conv2dGeometry, itemsize: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield (n0, n1, o0, o1) blocks whose im2col buffer stays under the chunk budget.

    The budget is the input plus output bytes, at least ``MIN_CHUNK_BYTES`` and
    at most ``CHUNK_BYTES``: an im2col buffer of about the size of the arrays
    themselves keeps the op near twice its input plus output, and measured
    faster than one huge buffer on this class of machine (AlexNet's conv2 at
    batch 8 on one core: 84-141 ms against 127-222 ms, paired runs on a loaded
    machine).  Whole batch items are grouped while they fit; a single item
    that does not fit is split into runs of output rows.  With one group and at
    least ``IMAGE_PIXELS_ALONE`` output pixels, each chunk is one image, whose
    product is written straight into the NCHW output: 0.60-0.82x the time of
    grouped images here (AlexNet's conv1 at batch 8 0.77, VGG's first layer 0.60,
    ResNet's 7x7 0.82, paired), while images of 49-100 pixels were 1.2-1.9x slower
    alone, their products too narrow for BLAS.
    """
    k = g.KH * g.KW * (g.C // g.groups)
    arrays = (g.N * g.C * g.H * g.W + g.N * g.F * g.OH * g.OW) * itemsize
    budget = min(CHUNK_BYTES, max(MIN_CHUNK_BYTES, arrays))
    rows = max(1, budget // max(1, k * itemsize * g.OW))
    if rows >= g.OH:
        alone = g.groups == 1 and g.OH * g.OW >= IMAGE_PIXELS_ALONE
        items = 1 if alone else max(1, rows // g.OH)
        for n0 in range(0, g.N, items):
            yield n0, min(g.N, n0 + items), 0, g.OH
    else:
        for n0 in range(g.N):  # only when one item's im2col exceeds CHUNK_BYTES
            for o0 in range(0, g.OH, rows):
                yield n0, n0 + 1, o0, min(g.OH, o0 + rows)


def _conv_gemm(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    g: Conv2dGeometry,
    pads: tuple[int, int, int, int],
) -> np.ndarray:
    """im2col on NHWC + one GEMM per group and chunk: (Fg, K) @ (K, N*OH*OW), NCHW out.

    The product comes out filter-major, so each chunk's output is copied into NCHW
    in runs of whole output rows (and adds the bias on the way); a chunk of one
    whole image is written straight into the output.  The channels-last product
    (N*OH*OW, K) @ (K, Fg) needs a transposing copy of the whole output instead,
    which measured 1.04-2.4x slower on this class of machine (AlexNet's conv1 at
    batch 8: 30.2 ms against 34.5; VGG's first 3x3 layer: 3.1 ms against 7.4).
    An input whose padded copy exceeds ``CHUNK_BYTES`` is padded a chunk of rows
    at a time, so that the op needs little more than its input and output.
    """
    cg, fg = g.C // g.groups, g.F // g.groups
    K = g.KH * g.KW * cg
    whole = _padded_at_once(x, pads)  # else padded a chunk of rows at a time
    wk = _group_weights(w, g)  # (G, Fg, K)
    out = np.empty((g.N, g.F, g.OH, g.OW), dtype=x.dtype)
    bias = None if b is None else b[:, None, None]
    buf: np.ndarray | None = None
    res: np.ndarray | None = None
    for n0, n1, o0, o1 in _chunks(g, x.itemsize):
        nn, no = n1 - n0, o1 - o0
        M = nn * no * g.OW
        if buf is None or res is None:
            buf = np.empty(M * K, dtype=x.dtype)
            res = np.empty(fg * M, dtype=x.dtype)
        windows = _chunk_windows(x, g, pads, whole, n0, n1, o0, o1)  # (nn, no, OW, KH, KW, C)
        for gi in range(g.groups):
            fs = slice(gi * fg, (gi + 1) * fg)
            cols = buf[: M * K].reshape(nn, no, g.OW, g.KH, g.KW, cg)
            _copy(cols, windows[..., gi * cg : (gi + 1) * cg])
            cols2 = cols.reshape(M, K)  # (N*OH*OW, KH*KW*Cg), read transposed by BLAS
            if g.groups == 1 and nn == 1 and o0 == 0 and o1 == g.OH:
                np.matmul(wk[gi], cols2.T, out=out[n0].reshape(g.F, M))  # already NCHW
                if bias is not None:
                    out[n0] += bias
                continue
            prod = np.matmul(wk[gi], cols2.T, out=res[: fg * M].reshape(fg, M))  # (Fg, M)
            src = prod.reshape(fg, nn, no, g.OW).transpose(1, 0, 2, 3)
            dst = out[n0:n1, fs, o0:o1, :]
            if bias is None:
                _copy(dst, src)
            else:
                np.add(src, bias[fs], out=dst)
    return out


def _shift_add_tiles(planes: int, g: Conv2dGeometry, width: int, itemsize: int) -> tuple[int, int]:
    """(planes per tile, output rows per tile) so that a tile's working set is ~TILE_BYTES."""
    mult = g.F // g.groups
    row_bytes = (width * g.stride[0] + 2 * mult * g.OW) * itemsize
    rows = max(1, min(g.OH, TILE_BYTES // max(1, row_bytes)))
    if rows < g.OH:
        return 1, rows
    plane_bytes = row_bytes * g.OH + (g.KH - 1) * g.dilation[0] * width * itemsize
    return max(1, min(planes, TILE_BYTES // max(1, plane_bytes))), g.OH


#: Below this many multiply-adds a call runs on one thread (thread start-up would cost more).
PARALLEL_MIN_WORK = 2**22


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


def _conv_shift_add(
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


def conv2d_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    weight: np.ndarray,
    stride: IntOrPair = 1,
    padding: PaddingArg = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    bias: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`conv2d`: ``(dx, dw, db)`` (``db`` is None when ``bias=False``).

    Shapes: grad_output (N, F, OH, OW), input (N, C, H, W), weight (F, C/groups,
    KH, KW) → dx (N, C, H, W), dw (F, C/groups, KH, KW), db (F,).

    Formulas (dY = grad_output, Xp the padded input, per group)::

        dW[f, c, m, k] = sum_{n,i,j} dY[n, f, i, j] * Xp[n, c, i*s + m*d, j*s + k*d]
        dXp[n, c, i*s + m*d, j*s + k*d] += sum_f dY[n, f, i, j] * W[f, c, m, k]
        db[f] = sum_{n,i,j} dY[n, f, i, j]

    Here dW is one GEMM per group, dY (Fg, N*OH*OW) @ im2col (N*OH*OW, K), and
    dXp is the GEMM dY^T @ W followed by col2im: one strided-slice addition per
    tap (KH*KW of them).  For the 3x3 and 5x5 stride-1 layers the forward runs by
    Winograd, dX is a Winograd convolution of dY with the turned kernel and dW is
    Winograd F(r x r, 2 x 2) (:func:`_backward_dx_winograd`,
    :func:`_backward_dw_winograd`).  dXp is cropped for zero padding, or sent through
    :func:`cnncli.engine.pad.pad_backward` for reflect/replicate/circular.  The
    naive loop version is :func:`cnncli.engine.reference.conv.conv2d_backward_naive`.
    """
    a = _Args(input, weight, None, stride, padding, dilation, groups, padding_mode)
    g = a.geom
    gy = as_float_array(grad_output, "grad_output")
    if gy.shape != (g.N, g.F, g.OH, g.OW):
        raise ShapeError(
            f"grad_output has shape {gy.shape} but conv2d's output is (N, F, OH, OW) = "
            f"{(g.N, g.F, g.OH, g.OW)}"
        )
    dtype = np.result_type(a.dtype, gy.dtype)
    ct = np.dtype(np.float32) if dtype == np.float16 else dtype
    with np.errstate(invalid="ignore", over="ignore"), _memory_guard(a, "conv2d_backward"):
        gy = gy.astype(ct, copy=False)
        x = a.x.astype(ct, copy=False)
        w = a.w.astype(ct, copy=False)
        db = gy.sum(axis=(0, 2, 3)).astype(dtype, copy=False) if bias else None
        dxp: np.ndarray | None
        dw: np.ndarray | None
        if g.groups == g.C:
            dxp, dw = _backward_shift_add(gy, x, w, g, a.zero_pads)
        else:
            dxp = _backward_dx_winograd(gy, w, g, a.zero_pads)
            dw = _backward_dw_winograd(gy, x, g, a.zero_pads)
            if dxp is None or dw is None:
                dx_gemm, dw_gemm = _backward_gemm(
                    gy, x, w, g, a.zero_pads, need_dx=dxp is None, need_dw=dw is None
                )
                dxp = dx_gemm if dxp is None else dxp
                dw = dw_gemm if dw is None else dw
        assert dxp is not None and dw is not None  # the GEMMs made what Winograd did not
        # Non-zero modes padded the input by copying cells: fold those gradients back.
        dx = pad_backward(dxp, a.pads, a.mode) if a.mode != "zeros" and any(a.pads) else dxp
        return (
            np.ascontiguousarray(dx, dtype=dtype),
            np.ascontiguousarray(dw, dtype=dtype),
            db,
        )


def _backward_dx_winograd(
    gy: np.ndarray, w: np.ndarray, g: Conv2dGeometry, pads: tuple[int, int, int, int]
) -> np.ndarray | None:
    """dx by Winograd when the transposed problem qualifies, else None.

    For stride 1 and dilation 1, dX is a convolution of dY with the kernel turned
    by 180° and its channel axes swapped, padded by K - 1 - p on each side::

        dXp[n, c, h, w] = Σ_{f,m,k} dYp[n, f, h + m, w + k] · W[f, c, K-1-m, K-1-k]

    Shapes: gy (N, F, OH, OW), w (F, C, K, K) → (N, C, H, W) of the zero-unpadded
    input, or None when a padding exceeds K - 1 or Winograd does not apply.
    """
    if (g.stride, g.dilation, g.groups) != ((1, 1), (1, 1), 1) or g.KH != g.KW:
        return None
    left, right, top, bottom = (g.KH - 1 - p for p in pads)
    back = (left, right, top, bottom)
    if min(back) < 0:
        return None
    gb = conv2d_geometry(gy.shape, (g.C, g.F, g.KH, g.KW), 1, back)
    t = _winograd_for(gb)
    if t is None or not moderate(gy):
        return None
    turned = np.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])  # (C, F, K, K)
    u = transformed_weight(turned, t)
    return None if u is None else _conv_winograd(gy, u, None, gb, back, t)


def _backward_dw_winograd(
    gy: np.ndarray, x: np.ndarray, g: Conv2dGeometry, pads: tuple[int, int, int, int]
) -> np.ndarray | None:
    """dW by Winograd F(r x r, 2 x 2) when the layer runs by Winograd, else None.

    Shapes: gy (N, F, OH, OW), x (N, C, H, W) → (F, C, r, r); see
    :func:`cnncli.engine.fast.winograd.conv2d_weight_winograd`.
    """
    if _winograd_for(g) is None or not (moderate(gy) and moderate(x)):
        return None
    left, right, top, bottom = pads
    xp = _padded_nhwc(x, (left, right + g.OW % 2, top, bottom + g.OH % 2))
    return conv2d_weight_winograd(xp, gy, WEIGHT_GRAD_BY_KERNEL[g.KH])


def _backward_gemm(
    gy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    g: Conv2dGeometry,
    pads: tuple[int, int, int, int],
    need_dx: bool = True,
    need_dw: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """dx (of the zero-unpadded input, NCHW view) and dw via im2col GEMMs and col2im.

    dY is made channels-last once, (N*OH*OW, F), so that each chunk's rows are
    contiguous; dW^T += im2col^T @ dY (K, Fg) and dcols = dY @ W (rows, K) both
    keep the long pixel dimension outside the output's columns, the orientation
    OpenBLAS runs fastest here; dcols reuses the im2col buffer.  col2im is KH*KW
    strided additions per chunk.
    """
    left, right, top, bottom = pads
    N, C, H, W = x.shape
    cg, fg = g.C // g.groups, g.F // g.groups
    K = g.KH * g.KW * cg
    (sh, sw), (dh, dw_) = g.stride, g.dilation
    whole = _padded_at_once(x, pads) if need_dw else None  # else a chunk of rows at a time
    wk = _group_weights(w, g)  # (G, Fg, K)
    gyt = np.ascontiguousarray(gy.transpose(0, 2, 3, 1)).reshape(g.N * g.OH * g.OW, g.F)
    dwkt = np.zeros((g.groups, K, fg) if need_dw else 0, dtype=x.dtype)  # dW^T per group
    dxp = np.zeros((N, H + top + bottom, W + left + right, C) if need_dx else 0, dtype=x.dtype)
    buf: np.ndarray | None = None
    for n0, n1, o0, o1 in _chunks(g, x.itemsize):
        nn, no = n1 - n0, o1 - o0
        M = nn * no * g.OW
        r0 = (n0 * g.OH + o0) * g.OW  # this chunk's rows of ``gyt``
        if buf is None:
            buf = np.empty(M * K, dtype=x.dtype)
        windows = _chunk_windows(x, g, pads, whole, n0, n1, o0, o1) if need_dw else None
        for gi in range(g.groups):
            csl = slice(gi * cg, (gi + 1) * cg)
            cols = buf[: M * K].reshape(M, K)  # (N*OH*OW, KH*KW*Cg)
            gch = gyt[r0 : r0 + M, gi * fg : (gi + 1) * fg]  # (M, Fg)
            if windows is not None:  # dW is wanted
                _copy(cols.reshape(nn, no, g.OW, g.KH, g.KW, cg), windows[..., csl])
                dwkt[gi] += cols.T @ gch
            if not need_dx:
                continue
            dcols = np.matmul(gch, wk[gi], out=cols)  # im2col is used up: reuse its buffer
            dcols6 = dcols.reshape(nn, no, g.OW, g.KH, g.KW, cg)
            # col2im on this thread: next to OpenBLAS's still-spinning workers, two threads
            # of additions measured slower (conv2 backward batch 8: 1.05-1.18x the time).
            for m in range(g.KH):
                r = o0 * sh + m * dh
                rows = slice(r, r + (no - 1) * sh + 1, sh)
                for k in range(g.KW):
                    c = k * dw_
                    cols_sl = slice(c, c + (g.OW - 1) * sw + 1, sw)
                    dxp[n0:n1, rows, cols_sl, csl] += dcols6[:, :, :, m, k, :]
    dw = None
    if need_dw:
        dw6 = dwkt.transpose(0, 2, 1).reshape(g.groups, fg, g.KH, g.KW, cg)
        dw = dw6.transpose(0, 1, 4, 2, 3).reshape(g.F, cg, g.KH, g.KW)
    dx = dxp[:, top : top + H, left : left + W, :].transpose(0, 3, 1, 2) if need_dx else None
    return dx, dw


def _backward_shift_add(
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
