"""2-D convolution (cross-correlation, as PyTorch computes it), forward and backward.

Shapes: input (N, C, H, W), weight (F, C/groups, KH, KW), bias (F,) →
output (N, F, OH, OW) with, per axis (see :mod:`cnncli.engine.shapes`)::

    OH = floor((H + top + bottom - dilation*(KH - 1) - 1) / stride) + 1

Formula (the seed's forward formula, for each group of C/groups input channels
and F/groups filters; Xp is the padded input, s the stride, d the dilation)::

    Y[n, f, i, j] = b[f] + sum_{c, m, k} Xp[n, c, i*s + m*d, j*s + k*d] * W[f, c, m, k]

This module is the fast version: no Python loop over pixels or batch items.
The general path gathers every receptive field with a strided view of the
channels-last (NHWC) padded input ("im2col") and multiplies it with the weights
in one BLAS matrix product per group; 1x1 kernels are a plain matrix product;
depthwise and single-channel kernels (one input channel per group) are
shift-and-add over the KH*KW taps, in row tiles that stay in cache.  The
teaching version, literal loops over the same formulas, is
:mod:`cnncli.engine.reference.conv` (``conv2d_naive``, ``conv2d_backward_naive``);
the tests hold the two equal to each other and to PyTorch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnncli.engine._checks import as_float_array, result_dtype
from cnncli.engine.pad import pad, pad_backward
from cnncli.engine.shapes import Conv2dGeometry, IntOrPair, PaddingArg, conv2d_geometry
from cnncli.errors import ParameterError, ShapeError

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

#: Largest im2col buffer (bytes) built at once; bigger ones are made in chunks of
#: batch items or output rows, with the same results.
CHUNK_BYTES = 256 * 2**20
#: Working-set size (bytes) of one row tile of the shift-and-add path (fits L2).
TILE_BYTES = 512 * 2**10
#: Shift-and-add is used when each group has one input channel and at most this many filters.
SHIFT_ADD_MAX_FILTERS = 4


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
    g = a.geom
    cg, fg = g.C // g.groups, g.F // g.groups
    if g.KH == 1 and g.KW == 1 and not any(a.zero_pads):
        out = _conv1x1(a.x, a.w, g)
    elif cg == 1 and fg <= SHIFT_ADD_MAX_FILTERS:
        out = _conv_shift_add(a.x, a.w, a.b, g, a.zero_pads)
        return out.astype(a.dtype, copy=False)
    else:
        out = _conv_gemm(a.x, a.w, g, a.zero_pads)
    if a.b is not None:
        out += a.b[None, :, None, None]
    return out.astype(a.dtype, copy=False)


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


def _padded_nhwc(x: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """(N, C, H, W) → zero-padded channels-last copy (N, H + t + b, W + l + r, C)."""
    left, right, top, bottom = pads
    N, C, H, W = x.shape
    nhwc = x.transpose(0, 2, 3, 1)
    if not any(pads) and nhwc.flags.c_contiguous:
        return nhwc
    xp = np.zeros((N, H + top + bottom, W + left + right, C), dtype=x.dtype)
    xp[:, top : top + H, left : left + W, :] = nhwc
    return xp


def _windows(xp: np.ndarray, g: Conv2dGeometry) -> np.ndarray:
    """Read-only strided view (N, OH, OW, KH, KW, C) of every receptive field of NHWC ``xp``."""
    sN, sH, sW, sC = xp.strides
    (sh, sw), (dh, dw) = g.stride, g.dilation
    return as_strided(
        xp,
        shape=(xp.shape[0], g.OH, g.OW, g.KH, g.KW, xp.shape[3]),
        strides=(sN, sH * sh, sW * sw, sH * dh, sW * dw, sC),
        writeable=False,
    )


def _chunks(g: Conv2dGeometry, itemsize: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield (n0, n1, o0, o1) blocks whose im2col buffer stays under CHUNK_BYTES.

    Whole batch items are grouped while they fit; a single item that does not
    fit is split into runs of output rows.
    """
    k = g.KH * g.KW * (g.C // g.groups)
    rows = max(1, CHUNK_BYTES // max(1, k * itemsize * g.OW))
    if rows >= g.OH:
        items = max(1, rows // g.OH)
        for n0 in range(0, g.N, items):
            yield n0, min(g.N, n0 + items), 0, g.OH
    else:
        for n0 in range(g.N):  # only when one item's im2col exceeds CHUNK_BYTES
            for o0 in range(0, g.OH, rows):
                yield n0, n0 + 1, o0, min(g.OH, o0 + rows)


def _conv_gemm(
    x: np.ndarray, w: np.ndarray, g: Conv2dGeometry, pads: tuple[int, int, int, int]
) -> np.ndarray:
    """im2col on NHWC + one GEMM per group (and per chunk): (Fg, K) @ (K, N*OH*OW)."""
    cg, fg = g.C // g.groups, g.F // g.groups
    K = g.KH * g.KW * cg
    windows = _windows(_padded_nhwc(x, pads), g)  # (N, OH, OW, KH, KW, C)
    wk = _group_weights(w, g)  # (G, Fg, K)
    out = np.empty((g.N, g.F, g.OH, g.OW), dtype=x.dtype)
    for n0, n1, o0, o1 in _chunks(g, x.itemsize):
        M = (n1 - n0) * (o1 - o0) * g.OW
        direct = g.groups == 1 and n1 - n0 == 1 and o0 == 0 and o1 == g.OH
        for gi in range(g.groups):
            cols = windows[n0:n1, o0:o1, :, :, :, gi * cg : (gi + 1) * cg].reshape(M, K)
            if direct:  # one item, whole image: the product is already NCHW
                np.matmul(wk[gi], cols.T, out=out[n0].reshape(g.F, M))
                continue
            res = np.matmul(wk[gi], cols.T)  # (Fg, M)
            out[n0:n1, gi * fg : (gi + 1) * fg, o0:o1, :] = res.reshape(
                fg, n1 - n0, o1 - o0, g.OW
            ).transpose(1, 0, 2, 3)
    return out


def _conv_shift_add(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    g: Conv2dGeometry,
    pads: tuple[int, int, int, int],
) -> np.ndarray:
    """One input channel per group: sum over taps of shifted input × weight, in row tiles.

    Shapes: x (N, G, H, W), w (G*mult, 1, KH, KW) → (N, G*mult, OH, OW).
    ``out[n, g, j] = b + sum_{m,k} w[g, j, m, k] * Xp[n, g, m*d_h :: s_h, k*d_w :: s_w]``.
    Zero padding is applied per tile, so no padded copy of the whole input is made.
    """
    left, right, top, _ = pads
    N, G, H, W = x.shape
    mult = g.F // G
    (sh, sw), (dh, dw) = g.stride, g.dilation
    Wp = W + left + right
    wk = w.reshape(G, mult, g.KH, g.KW)
    out = np.empty((N, G, mult, g.OH, g.OW), dtype=x.dtype)
    row_bytes = N * G * (Wp + 2 * mult * g.OW) * x.itemsize * sh
    tile = max(1, min(g.OH, TILE_BYTES // max(1, row_bytes)))
    span = (tile - 1) * sh + (g.KH - 1) * dh + 1  # input rows one tile reads
    buf: np.ndarray | None = None
    tmp = np.empty((N, G, mult, tile, g.OW), dtype=x.dtype)
    bias = None if b is None else b.reshape(1, G, mult, 1, 1)
    for o0 in range(0, g.OH, tile):
        o1 = min(g.OH, o0 + tile)
        nr = o1 - o0
        r0 = o0 * sh - top  # first input row read (may be in the padding)
        r1 = (o1 - 1) * sh + (g.KH - 1) * dh - top + 1
        if left == 0 and right == 0 and r0 >= 0 and r1 <= H:
            src = x[:, :, r0:r1, :]
        else:
            if buf is None:
                buf = np.zeros((N, G, span, Wp), dtype=x.dtype)
            src = buf[:, :, : r1 - r0, :]
            need = r1 - r0
            a0 = min(max(-r0, 0), need)  # tile rows [a0, a1) lie inside the input
            a1 = max(min(H - r0, need), a0)
            src[:, :, :a0, :] = 0
            src[:, :, a1:, :] = 0
            src[:, :, a0:a1, left : left + W] = x[:, :, r0 + a0 : r0 + a1, :]
        acc = out[:, :, :, o0:o1, :]
        t = tmp[:, :, :, :nr, :]
        first = True
        for m in range(g.KH):
            rows = slice(m * dh, m * dh + (nr - 1) * sh + 1, sh)
            for k in range(g.KW):
                cols = slice(k * dw, k * dw + (g.OW - 1) * sw + 1, sw)
                tap = src[:, :, None, rows, cols]  # (N, G, 1, nr, OW)
                wt = wk[None, :, :, m, k, None, None]  # (1, G, mult, 1, 1)
                if first:
                    np.multiply(tap, wt, out=acc)
                    first = False
                else:
                    np.multiply(tap, wt, out=t)
                    acc += t
        if bias is not None:
            acc += bias
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
    tap (KH*KW of them).  dXp is cropped for zero padding, or sent through
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
    gy = gy.astype(ct, copy=False)
    x = a.x.astype(ct, copy=False)
    w = a.w.astype(ct, copy=False)
    db = gy.sum(axis=(0, 2, 3)).astype(dtype, copy=False) if bias else None
    dxp, dw = _backward_gemm(gy, x, w, g, a.zero_pads)
    # Non-zero modes padded the input by copying cells: fold those gradients back.
    dx = pad_backward(dxp, a.pads, a.mode) if a.mode != "zeros" and any(a.pads) else dxp
    return (
        np.ascontiguousarray(dx, dtype=dtype),
        np.ascontiguousarray(dw, dtype=dtype),
        db,
    )


def _backward_gemm(
    gy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    g: Conv2dGeometry,
    pads: tuple[int, int, int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """dx (of the zero-unpadded input, NCHW view) and dw via im2col GEMMs and col2im."""
    left, right, top, bottom = pads
    N, C, H, W = x.shape
    cg, fg = g.C // g.groups, g.F // g.groups
    K = g.KH * g.KW * cg
    (sh, sw), (dh, dw_) = g.stride, g.dilation
    windows = _windows(_padded_nhwc(x, pads), g)  # (N, OH, OW, KH, KW, C)
    wk = _group_weights(w, g)  # (G, Fg, K)
    dwk = np.zeros_like(wk)
    dxp = np.zeros((N, H + top + bottom, W + left + right, C), dtype=x.dtype)
    for n0, n1, o0, o1 in _chunks(g, x.itemsize):
        nn, no = n1 - n0, o1 - o0
        M = nn * no * g.OW
        for gi in range(g.groups):
            csl = slice(gi * cg, (gi + 1) * cg)
            cols = windows[n0:n1, o0:o1, :, :, :, csl].reshape(M, K)
            gch = gy[n0:n1, gi * fg : (gi + 1) * fg, o0:o1, :].transpose(1, 0, 2, 3)
            gch = gch.reshape(fg, M)  # (Fg, M); copies when N > 1
            dwk[gi] += gch @ cols
            dcols = (gch.T @ wk[gi]).reshape(nn, no, g.OW, g.KH, g.KW, cg)
            for m in range(g.KH):
                r0 = o0 * sh + m * dh
                rows = slice(r0, r0 + (no - 1) * sh + 1, sh)
                for k in range(g.KW):
                    cols_sl = slice(k * dw_, k * dw_ + (g.OW - 1) * sw + 1, sw)
                    dxp[n0:n1, rows, cols_sl, csl] += dcols[:, :, :, m, k, :]
    dw = dwk.reshape(g.groups, fg, g.KH, g.KW, cg).transpose(0, 1, 4, 2, 3)
    dw = dw.reshape(g.F, cg, g.KH, g.KW)
    dx = dxp[:, top : top + H, left : left + W, :].transpose(0, 3, 1, 2)
    return dx, dw
