"""The tuned im2col convolution: channels-last (NHWC) receptive fields, in bounded chunks.

Shapes: input (N, C, H, W), weight (F, C/groups, KH, KW), bias (F,) or None, zero
padding (left, right, top, bottom) → output (N, F, OH, OW), NCHW.

The same im2col and matrix product as the plain :func:`cnncli.engine.conv.conv2d`,
arranged for speed and bounded memory: the padded input is made channels-last once,
so that a receptive field's KH*KW*Cg values are one contiguous row of the im2col
matrix; the matrix is built in chunks of batch items or output rows of at most
``CHUNK_BYTES``, so that the op needs little more than its input and output; and each
chunk's product (Fg, K) @ (K, rows) comes out filter-major, to be copied into the NCHW
output in runs of whole rows (a chunk of one whole image is written straight into it).
The backward reuses the chunks: dW^T += im2col^T @ dY and dcols = dY @ W, then col2im.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnncli.engine.shapes import Conv2dGeometry

#: Largest im2col buffer (bytes) built at once; bigger ones are made in chunks of
#: batch items or output rows, with the same results.
CHUNK_BYTES = 256 * 2**20
#: Smallest im2col chunk worth a GEMM call of its own (bytes).
MIN_CHUNK_BYTES = 16 * 2**20
#: im2col works one image per chunk from this many output pixels (one group): the
#: product goes straight into the NCHW output (see benchmarks/README.md, decision table).
IMAGE_PIXELS_ALONE = 512


def _group_weights(w: np.ndarray, g: Conv2dGeometry) -> np.ndarray:
    """(F, Cg, KH, KW) → (groups, Fg, KH*KW*Cg), in the NHWC im2col column order."""
    cg, fg = g.C // g.groups, g.F // g.groups
    wk = w.reshape(g.groups, fg, cg, g.KH, g.KW).transpose(0, 1, 3, 4, 2)
    return np.ascontiguousarray(wk).reshape(g.groups, fg, g.KH * g.KW * cg)


def padded_nhwc(
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
        # NumPy's transposing copy is slow with a tiny innermost axis (RGB): copy one
        # channel plane at a time instead (see benchmarks/README.md, decision table).
        for c in range(C):
            _copy(inner[..., c], src[:, c])
    else:
        _copy(inner, src.transpose(0, 2, 3, 1))
    return xp


def _copy(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` (one place for the im2col gathers and layout copies).

    These memory-bound copies stay on one thread: splitting them gained nothing next
    to OpenBLAS's own threads (see benchmarks/README.md, decision table).
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
    return _windows(padded_nhwc(x[n0:n1], pads, (r0, r1)), g, o1 - o0)


def _padded_at_once(x: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray | None:
    """The whole padded NHWC input when it is at most ``CHUNK_BYTES``, else None."""
    left, right, top, bottom = pads
    N, C, H, W = x.shape
    if N * C * (H + top + bottom) * (W + left + right) * x.itemsize > CHUNK_BYTES:
        return None
    return padded_nhwc(x, pads)


def _chunks(g: Conv2dGeometry, itemsize: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield (n0, n1, o0, o1) blocks whose im2col buffer stays under the chunk budget.

    The budget is the input plus output bytes, at least ``MIN_CHUNK_BYTES`` and
    at most ``CHUNK_BYTES``: an im2col buffer of about the size of the arrays
    themselves keeps the op near twice its input plus output, and is faster than
    one huge buffer.  Whole batch items are grouped while they fit; a single item
    that does not fit is split into runs of output rows.  With one group and at
    least ``IMAGE_PIXELS_ALONE`` output pixels, each chunk is one image, whose
    product is written straight into the NCHW output; smaller images share a
    chunk, their products alone too narrow for BLAS (see benchmarks/README.md,
    decision table).
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


def conv_gemm(
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
    (N*OH*OW, K) @ (K, Fg) would need a transposing copy of the whole output
    instead, which is slower (see benchmarks/README.md, decision table).
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


def backward_gemm(
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
    OpenBLAS runs fastest; dcols reuses the im2col buffer.  col2im is KH*KW
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
            # of additions are slower (see benchmarks/README.md, decision table).
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


def workspace_bytes(g: Conv2dGeometry, itemsize: int) -> int:
    """The buffers :func:`conv_gemm` makes: the padded NHWC input (whole, or the rows of
    one chunk), the grouped weights, and the largest chunk's im2col matrix and product."""
    left, right, top, bottom = g.padding
    Hp, Wp = g.H + top + bottom, g.W + left + right
    cg, fg = g.C // g.groups, g.F // g.groups
    K = g.KH * g.KW * cg
    whole = g.N * g.C * Hp * Wp * itemsize
    n0, n1, o0, o1 = next(_chunks(g, itemsize))  # the first chunk is the largest
    M = (n1 - n0) * (o1 - o0) * g.OW
    span = (o1 - 1 - o0) * g.stride[0] + (g.KH - 1) * g.dilation[0] + 1
    rows = 0 if whole <= CHUNK_BYTES else (n1 - n0) * span * Wp * g.C
    largest = (M * (K + fg) + rows) * itemsize
    return (whole if whole <= CHUNK_BYTES else 0) + g.F * K * itemsize + largest
