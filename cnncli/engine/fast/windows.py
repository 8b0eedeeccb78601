"""im2col on the NCHW windows, a chunk of images at a time: the one-group layers that no
special method takes, and small maps at stride 1 (LeNet-5's second layer), where the flat
image of :mod:`.flat_shift` would compute mostly columns in vain.

Shapes: input (N, C, H, W), weight (F, C, KH, KW), bias (F,) or None, zero padding
(left, right, top, bottom), one group → output (N, F, OH, OW), NCHW.

This is the plain path's im2col (``engine/conv.py``, ``_im2col``), with the seed's
formula unchanged::

    X_col[(c, m, k), (n, i, j)] = Xp[n, c, i*s_h + m*d_h, j*s_w + k*d_w]
    Y[f, (n, i, j)] = Σ_(c,m,k) W[f, (c, m, k)] · X_col[(c, m, k), (n, i, j)]
    dW[f, (c, m, k)] = Σ_(n,i,j) dY[f, (n, i, j)] · X_col[(c, m, k), (n, i, j)]

made for a chunk of whole images at a time (``CHUNK_BYTES`` of columns), so that each
chunk's columns are still in cache when the matrix product reads them.  A row of X_col,
one (c, m, k), is copied as one strided run over (n, i, j), where the channels-last
tiles of :mod:`.im2col` copy runs of C values (3 on a first layer on RGB) and convert
the layout twice.  It beat those tiles on every layer measured, from AlexNet's and
ResNet's first layers to ResNet's 512-channel ones (benchmarks/README.md, decision
table).  Where NumPy would copy short runs or single values, the columns are gathered in
two copies of longer runs (:func:`_columns`, :func:`_columns_by_phases`), and dX at
stride 1 is col2im in runs too (:func:`input_grad`)::

    dX_col[(c, m, k), (n, i, j)] = Σ_f W[f, (c, m, k)] · dY[f, (n, i, j)]
    dXp[n, c, i*s_h + m*d_h, j*s_w + k*d_w] += dX_col[(c, m, k), (n, i, j)]
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnncli.engine.shapes import Conv2dGeometry

Pads = tuple[int, int, int, int]

#: Columns made at once (bytes); more images go in further chunks.
CHUNK_BYTES = 8 * 2**20
#: Largest column matrix of one image (at 8 bytes a value): a larger one (a big photo)
#: goes to the tiled im2col, which splits an image by rows.
MAX_IMAGE_BYTES = 64 * 2**20
#: Output rows up to this long are gathered in two copies at stride 1 (see :func:`_columns`).
TWO_STAGE_MAX_OW = 32
#: A column stride s_w is gathered from the rows' phases when the kernel is at least this
#: many times as wide (AlexNet's 11 at 4, ResNet's 7 at 2; not 3 at 2), see
#: :func:`_columns_by_phases`.
PHASES_MIN_KERNEL_PER_STRIDE = 2


def fits(g: Conv2dGeometry) -> bool:
    """One group, and one image's column matrix within ``MAX_IMAGE_BYTES``."""
    image = g.C * g.KH * g.KW * g.OH * g.OW * 8
    return g.groups == 1 and image <= MAX_IMAGE_BYTES


def _chunks(
    g: Conv2dGeometry, itemsize: int, width: int | None = None
) -> Iterator[tuple[int, int]]:
    """Runs of whole images [n0, n1) whose columns stay under ``CHUNK_BYTES``; ``width``
    replaces OW as the columns' row length (dX's rows of the padded width)."""
    per_image = g.C * g.KH * g.KW * g.OH * (g.OW if width is None else width) * itemsize
    step = max(1, CHUNK_BYTES // max(1, per_image))
    for n0 in range(0, g.N, step):
        yield n0, min(g.N, n0 + step)


def _columns(x: np.ndarray, g: Conv2dGeometry, pads: Pads) -> np.ndarray:
    """X_col (C*KH*KW, n*OH*OW) of the images ``x`` (n, C, H, W).

    At stride 1 down the rows with short output rows (``OW <= TWO_STAGE_MAX_OW``) it is
    made in two copies instead of one of runs of OW values: first each kernel column's
    shifted image ``Xk[c, k, n, h, j] = Xp[n, c, h, j*s_w + k*d_w]`` (all Hp rows), in
    which the rows ``i + m*d_h`` of every (i, j) are one contiguous run of OH*OW values,
    then those runs::

        X_col[(c, m, k), (n, i, j)] = Xk[c, k, n, i + m*d_h, j]
    """
    left, right, top, bottom = pads
    n, C, H, W = x.shape
    if any(pads):
        xp = np.zeros((n, C, H + top + bottom, W + left + right), dtype=x.dtype)
        xp[:, :, top : top + H, left : left + W] = x
    else:
        xp = x
    sn, sc, sh, sw = xp.strides
    (strh, strw), (dh, dw) = g.stride, g.dilation
    if _two_stage(g):
        Hp = xp.shape[2]
        xk = np.empty((C, g.KW, n, Hp, g.OW), dtype=x.dtype)
        xk[...] = as_strided(
            xp, shape=xk.shape, strides=(sc, dw * sw, sn, sh, strw * sw), writeable=False
        )
        kc, kk, kn, kh, kj = xk.strides
        view = as_strided(
            xk,
            shape=(C, g.KH, g.KW, n, g.OH * g.OW),
            strides=(kc, dh * kh, kk, kn, kj),
            writeable=False,
        )
    elif _by_phases(g):
        return _columns_by_phases(xp, g).reshape(C * g.KH * g.KW, n * g.OH * g.OW)
    else:
        view = as_strided(
            xp,
            shape=(C, g.KH, g.KW, n, g.OH, g.OW),
            strides=(sc, dh * sh, dw * sw, sn, strh * sh, strw * sw),
            writeable=False,
        )
    return np.ascontiguousarray(view).reshape(C * g.KH * g.KW, n * g.OH * g.OW)


def _by_phases(g: Conv2dGeometry) -> bool:
    """Whether :func:`_columns` gathers from the column phases: a column stride, no
    column dilation, a kernel at least ``PHASES_MIN_KERNEL_PER_STRIDE`` strides wide."""
    strw = g.stride[1]
    return strw > 1 and g.dilation[1] == 1 and PHASES_MIN_KERNEL_PER_STRIDE * strw <= g.KW


def _columns_by_phases(xp: np.ndarray, g: Conv2dGeometry) -> np.ndarray:
    """X_col as (C, KH, KW, n, OH, OW) of the padded images ``xp``, for a column stride
    s_w > 1 (no column dilation): from the column phases, in runs of OW values.

    The strided windows read every s_w-th value of a row, which NumPy copies one by one.
    Split each row by the stride first, one strided copy of the input that pays where the
    kernel is wide (each phase then serves KW / s_w kernel columns)::

        Xq[b, n, c, h, u] = Xp[n, c, h, u*s_w + b]      (zero past the row)

    Kernel column k = a*s_w + b then reads phase b from column j + a, a contiguous run
    over j::

        X_col[(c, m, k), (n, i, j)] = Xq[k mod s_w, n, c, i*s_h + m*d_h, j + k div s_w]
    """
    n, C, Hp, Wp = xp.shape
    (strh, s), dh, KW = g.stride, g.dilation[0], g.KW
    Wq = g.OW + (KW - 1) // s
    xq = np.zeros((s, n, C, Hp, Wq), dtype=xp.dtype)
    for b in range(min(s, KW)):
        count = min(len(range(b, Wp, s)), Wq)
        xq[b, ..., :count] = xp[..., b : b + s * (count - 1) + 1 : s]
    out = np.empty((C, g.KH, KW, n, g.OH, g.OW), dtype=xp.dtype)
    qb, qn, qc, qh, qu = xq.strides
    full, rest = divmod(KW, s)  # kernel columns in whole runs of s phases, and the rest
    whole = out[:, :, : full * s].reshape(C, g.KH, full, s, n, g.OH, g.OW)
    whole[...] = as_strided(
        xq,
        shape=whole.shape,
        strides=(qc, dh * qh, qu, qb, qn, strh * qh, qu),
        writeable=False,
    )
    if rest:
        out[:, :, full * s :] = as_strided(
            xq[0, 0, 0, 0, full:],
            shape=(C, g.KH, rest, n, g.OH, g.OW),
            strides=(qc, dh * qh, qb, qn, strh * qh, qu),
            writeable=False,
        )
    return out


def _two_stage(g: Conv2dGeometry) -> bool:
    """Whether :func:`_columns` gathers in two copies: stride 1 down, short output rows."""
    return g.stride[0] == 1 and g.OW <= TWO_STAGE_MAX_OW


def conv_windows(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: Conv2dGeometry, pads: Pads
) -> np.ndarray:
    """Y = W_col @ X_col, one matrix product per chunk of images."""
    wk = w.reshape(g.F, -1)  # row f: filter f's weights in X_col's (c, m, k) order
    out = np.empty((g.N, g.F, g.OH, g.OW), dtype=x.dtype)
    for n0, n1 in _chunks(g, x.itemsize):
        y = (wk @ _columns(x[n0:n1], g, pads)).reshape(g.F, n1 - n0, g.OH, g.OW)
        if b is None:
            out[n0:n1] = y.transpose(1, 0, 2, 3)
        else:
            np.add(y.transpose(1, 0, 2, 3), b[:, None, None], out=out[n0:n1])
    return out


def weight_grad(gy: np.ndarray, x: np.ndarray, g: Conv2dGeometry, pads: Pads) -> np.ndarray:
    """dW = Σ over chunks of dY_col @ X_colᵀ: (N, F, OH, OW), (N, C, H, W) → (F, C, KH, KW).

    Each chunk's product is taken the other way round, dWᵀ += X_col @ dY_colᵀ, which
    OpenBLAS runs faster when the filters are few (benchmarks/README.md, decision table).
    """
    dwt = np.zeros((g.C * g.KH * g.KW, g.F), dtype=x.dtype)
    for n0, n1 in _chunks(g, x.itemsize):
        dy = gy[n0:n1].transpose(1, 0, 2, 3).reshape(g.F, -1)  # (F, n*OH*OW)
        dwt += _columns(x[n0:n1], g, pads) @ dy.T
    return np.ascontiguousarray(dwt.T).reshape(g.F, g.C, g.KH, g.KW)


def input_grad(
    gy: np.ndarray, w: np.ndarray, g: Conv2dGeometry, pads: Pads, hw: tuple[int, ...]
) -> np.ndarray:
    """dX at stride 1, by chunks of images: dX_col = W_colᵀ @ dY_col, then col2im in
    two passes of contiguous runs, along the rows and then down them.

    Shapes: gy (N, F, OH, OW), w (F, C, KH, KW) → dx (N, C, H, W) of the zero-unpadded
    input, ``hw`` its (H, W) as given (a mode-padded input: ``pads`` zero).  dY is laid
    on rows of the padded width Wp (zeros past OW), so that a column shift k·d_w of a
    product row is a shift of the whole flat row, and a row shift m·d_h one of m·d_h·Wp::

        R[c, m, (n, i, j + k·d_w)] += dX_col[(c, m, k), (n, i, j)]     (KW flat additions)
        dXp[n, c, i + m·d_h, :]    += R[c, m, (n, i, :)]                 (KH runs of OH·Wp)
    """
    left, right, top, bottom = pads
    H, W = hw
    Hp, Wp = H + top + bottom, W + left + right
    (dh, dw), OH, OW = g.dilation, g.OH, g.OW
    wt = w.reshape(g.F, -1).T  # (C*KH*KW, F), rows in X_col's (c, m, k) order
    dx = np.empty((g.N, g.C, H, W), dtype=gy.dtype)
    for n0, n1 in _chunks(g, gy.itemsize, Wp):
        n = n1 - n0
        dyw = np.zeros((g.F, n, OH, Wp), dtype=gy.dtype)
        dyw[:, :, :, :OW] = gy[n0 : n0 + n].transpose(1, 0, 2, 3)
        L = n * OH * Wp
        dcols = (wt @ dyw.reshape(g.F, L)).reshape(g.C, g.KH, g.KW, L)
        rows = np.zeros((g.C, g.KH, L + (g.KW - 1) * dw), dtype=gy.dtype)
        for k in range(g.KW):
            rows[:, :, k * dw : k * dw + L] += dcols[:, :, k]
        rows4 = rows[:, :, :L].reshape(g.C, g.KH, n, OH * Wp)
        dxp = np.zeros((g.C, n, Hp * Wp), dtype=gy.dtype)
        for m in range(g.KH):
            dxp[:, :, m * dh * Wp : (m * dh + OH) * Wp] += rows4[:, m]
        grid = dxp.reshape(g.C, n, Hp, Wp)[:, :, top : top + H, left : left + W]
        dx[n0 : n0 + n] = grid.transpose(1, 0, 2, 3)
    return dx


def workspace_bytes(g: Conv2dGeometry, itemsize: int) -> int:
    """The largest chunk's padded input, shifted images (two copies) or column phases,
    columns and product (forward)."""
    left, right, top, bottom = g.padding
    n0, n1 = next(_chunks(g, itemsize))
    n = n1 - n0
    Hp = g.H + top + bottom
    padded = n * g.C * Hp * (g.W + left + right)
    strw = g.stride[1]
    if _two_stage(g):
        shifted = n * g.C * g.KW * Hp * g.OW
    elif _by_phases(g):
        shifted = n * g.C * Hp * strw * (g.OW + (g.KW - 1) // strw)
    else:
        shifted = 0
    return (padded + shifted + n * (g.C * g.KH * g.KW + g.F) * g.OH * g.OW) * itemsize
