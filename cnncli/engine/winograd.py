"""Winograd F(2x2, 3x3): a 3x3, stride-1 convolution with 2.25x fewer multiplications.

Shapes: input (N, C, H, W), weight (F, C, 3, 3), bias (F,) or None, zero padding
(left, right, top, bottom) → output (N, F, OH, OW) with OH = H + top + bottom - 2,
OW = W + left + right - 2, the same as :func:`cnncli.engine.conv.conv2d` with
stride 1, dilation 1 and groups 1 (the function that calls this one).

The output is cut into 2x2 tiles; tile (i, j) needs the 4x4 input tile
``d = Xp[2i : 2i+4, 2j : 2j+4]``.  With Lavin and Gray's matrices (2015)::

    Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G  = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]

    U[f, c] = G · w[f, c] · Gᵀ                      (4x4, once per call)
    V[c, tile] = Bᵀ · d[c, tile] · B                (4x4, additions only)
    M[tile, f] = Σ_c V[c, tile] ⊙ U[f, c]            (16 matrix products over c)
    Y[f, tile] = Aᵀ · M[tile, f] · A                 (2x2)

A direct 3x3 convolution spends 36 multiplications on a 2x2 tile, Winograd 16,
all of them in the 16 matrix products (T, C) @ (C, F), one per position of the
4x4 transformed tile, which is where BLAS runs fastest.  Bᵀ and Aᵀ hold only
0 and ±1, so the transforms add and subtract exactly; only G's halves round
(exactly, in binary), which keeps the error at the level of the direct sum
(the tests bound it against PyTorch and the naive loops).  The tiles are
processed in chunks of tile rows whose buffers stay near ``CHUNK_BYTES``.
"""

from __future__ import annotations

import numpy as np

#: Target size (bytes) of one chunk's transformed input and products.
CHUNK_BYTES = 8 * 2**20

_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])
#: The weight and output transforms as matrices on flattened tiles: G ⊗ G (16, 9), Aᵀ ⊗ Aᵀ (4, 16).
_GG = np.kron(_G, _G)
_AA = np.kron(_AT, _AT)


def winograd_weight(w: np.ndarray) -> np.ndarray:
    """U = G · w · Gᵀ for every (filter, channel): (F, C, 3, 3) → (16, F, C), same dtype.

    ``U[4a + b, f, c] = Σ_{m,k} G[a, m] w[f, c, m, k] G[b, k]``: one matrix product
    (16, 9) @ (9, F*C) with the weights read in place.
    """
    F, C = w.shape[:2]
    gg = _GG.astype(w.dtype)
    return np.matmul(gg, w.reshape(F * C, 9).T).reshape(16, F, C)


def _input_transform(xp: np.ndarray, i0: int, i1: int, tw: int, out: np.ndarray) -> None:
    """V = Bᵀ d B for tile rows [i0, i1) of every image of NHWC ``xp`` into ``out``.

    Shapes: xp (n, 2*th + 2, 2*tw + 2, C), out (4, 4, n, i1 - i0, tw, C).  Rows first
    (``rows[a] = Σ_p Bᵀ[a, p] · xp[2i + p]``), then columns, each output one
    subtraction or addition of two strided views.
    """
    n, _, Wp, C = xp.shape
    rows = np.empty((4, n, i1 - i0, Wp, C), dtype=xp.dtype)
    _bt([xp[:, 2 * i0 + p : 2 * i1 + p : 2] for p in range(4)], rows)
    for a in range(4):
        _bt([rows[a][:, :, p : p + 2 * tw : 2] for p in range(4)], out[a])


def _bt(d: list[np.ndarray], out: np.ndarray) -> None:
    """``out[a] = Σ_p Bᵀ[a, p] · d[p]``: d0 - d2, d1 + d2, d2 - d1, d1 - d3."""
    np.subtract(d[0], d[2], out=out[0])
    np.add(d[1], d[2], out=out[1])
    np.subtract(d[2], d[1], out=out[2])
    np.subtract(d[1], d[3], out=out[3])


def conv2d_winograd(
    xp: np.ndarray,
    u: np.ndarray,
    b: np.ndarray | None,
    OH: int,
    OW: int,
) -> np.ndarray:
    """The convolution of a zero-padded NHWC input with transformed weights, as NCHW.

    Shapes: xp (N, 2*th + 2, 2*tw + 2, C) with th = ⌈OH/2⌉, tw = ⌈OW/2⌉ (the input
    padded, plus one more zero row or column when OH or OW is odd), u (16, F, C)
    from :func:`winograd_weight`, b (F,) or None → (N, F, OH, OW).
    """
    N, _, _, C = xp.shape
    F = u.shape[1]
    th, tw = -(-OH // 2), -(-OW // 2)
    dtype = xp.dtype
    aa = _AA.astype(dtype)
    out = np.empty((N, F, OH, OW), dtype=dtype)
    per_tile = 16 * (C + F) * dtype.itemsize
    rows = max(1, CHUNK_BYTES // max(1, per_tile * tw))  # tile rows per chunk
    for n0, n1, i0, i1 in _tile_chunks(N, th, rows):
        nn, ni = n1 - n0, i1 - i0
        T = nn * ni * tw
        v = np.empty((4, 4, nn, ni, tw, C), dtype=dtype)
        _input_transform(xp[n0:n1], i0, i1, tw, v)
        # (16, F, C) @ (16, C, T): V is read transposed in place, and the products come
        # out filter-major, so that the NCHW output is written in runs along j.
        m = np.matmul(u, v.reshape(16, T, C).transpose(0, 2, 1))  # (16, F, T)
        y = np.matmul(aa, m.reshape(16, F * T)).reshape(2, 2, F, nn, ni, tw)
        for du in range(2):
            # Output rows 2i + du of this chunk that exist (OH may be odd).
            r0 = 2 * i0 + du
            nr = len(range(r0, min(OH, 2 * i1), 2))
            for dv in range(2):
                nc = len(range(dv, OW, 2))
                src = y[du, dv, :, :, :nr, :nc].transpose(1, 0, 2, 3)  # (nn, F, nr, nc)
                dst = out[n0:n1, :, r0 : r0 + 2 * nr : 2, dv : dv + 2 * nc : 2]
                if b is None:
                    dst[...] = src
                else:
                    np.add(src, b[None, :, None, None], out=dst)
    return out


def _tile_chunks(N: int, th: int, rows: int) -> list[tuple[int, int, int, int]]:
    """(n0, n1, i0, i1) blocks of about ``rows`` tile rows: whole images while they fit."""
    if rows >= th:
        items = max(1, rows // th)
        return [(n0, min(N, n0 + items), 0, th) for n0 in range(0, N, items)]
    return [(n, n + 1, i0, min(th, i0 + rows)) for n in range(N) for i0 in range(0, th, rows)]
