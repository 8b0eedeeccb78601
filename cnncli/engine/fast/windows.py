"""im2col on the NCHW windows, a chunk of images at a time: the one-group layers that no
special method takes.

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
table).
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


def fits(g: Conv2dGeometry) -> bool:
    """One group, and one image's column matrix within ``MAX_IMAGE_BYTES``."""
    image = g.C * g.KH * g.KW * g.OH * g.OW * 8
    return g.groups == 1 and image <= MAX_IMAGE_BYTES


def _chunks(g: Conv2dGeometry, itemsize: int) -> Iterator[tuple[int, int]]:
    """Runs of whole images [n0, n1) whose columns stay under ``CHUNK_BYTES``."""
    per_image = g.C * g.KH * g.KW * g.OH * g.OW * itemsize
    step = max(1, CHUNK_BYTES // max(1, per_image))
    for n0 in range(0, g.N, step):
        yield n0, min(g.N, n0 + step)


def _columns(x: np.ndarray, g: Conv2dGeometry, pads: Pads) -> np.ndarray:
    """X_col (C*KH*KW, n*OH*OW) of the images ``x`` (n, C, H, W)."""
    left, right, top, bottom = pads
    n, C, H, W = x.shape
    if any(pads):
        xp = np.zeros((n, C, H + top + bottom, W + left + right), dtype=x.dtype)
        xp[:, :, top : top + H, left : left + W] = x
    else:
        xp = x
    sn, sc, sh, sw = xp.strides
    (strh, strw), (dh, dw) = g.stride, g.dilation
    view = as_strided(
        xp,
        shape=(C, g.KH, g.KW, n, g.OH, g.OW),
        strides=(sc, dh * sh, dw * sw, sn, strh * sh, strw * sw),
        writeable=False,
    )
    return np.ascontiguousarray(view).reshape(C * g.KH * g.KW, n * g.OH * g.OW)


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
    """dW = Σ over chunks of dY_col @ X_colᵀ: (N, F, OH, OW), (N, C, H, W) → (F, C, KH, KW)."""
    dw = np.zeros((g.F, g.C * g.KH * g.KW), dtype=x.dtype)
    for n0, n1 in _chunks(g, x.itemsize):
        dy = gy[n0:n1].transpose(1, 0, 2, 3).reshape(g.F, -1)  # (F, n*OH*OW)
        dw += dy @ _columns(x[n0:n1], g, pads).T
    return dw.reshape(g.F, g.C, g.KH, g.KW)


def workspace_bytes(g: Conv2dGeometry, itemsize: int) -> int:
    """The largest chunk's padded input, columns and product (forward)."""
    left, right, top, bottom = g.padding
    n0, n1 = next(_chunks(g, itemsize))
    n = n1 - n0
    padded = n * g.C * (g.H + top + bottom) * (g.W + left + right)
    return (padded + n * (g.C * g.KH * g.KW + g.F) * g.OH * g.OW) * itemsize
