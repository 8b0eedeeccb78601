"""Winograd convolution F(2x2, 3x3) and F(2x2, 5x5): stride-1 layers with fewer multiplications.

Shapes: input (N, C, H, W), weight (F, C, r, r), bias (F,) or None, zero padding
(left, right, top, bottom) → output (N, F, OH, OW) with OH = H + top + bottom - r + 1,
OW = W + left + right - r + 1, the same as :func:`cnncli.engine.conv.conv2d` with
stride 1, dilation 1 and groups 1 (:mod:`cnncli.engine.fast.conv` chooses it for those).
Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015,
https://arxiv.org/abs/1509.09308.

The output is cut into m x m tiles (m = 2); tile (i, j) needs the n x n input tile
``d = Xp[m*i : m*i + n, m*j : m*j + n]``, n = m + r - 1.  With the matrices
Bᵀ (n x n), G (n x r) and Aᵀ (m x n) of :class:`Winograd`::

    U[f, c]    = G · w[f, c] · Gᵀ                   (n x n, once per call)
    V[c, tile] = Bᵀ · d[c, tile] · B                (n x n)
    M[tile, f] = Σ_c V[c, tile] ⊙ U[f, c]            (n² matrix products over c)
    Y[f, tile] = Aᵀ · M[tile, f] · A                 (m x m)

A direct r x r convolution spends m²·r² multiplications on a tile, Winograd n²,
all of them in n² matrix products (tiles, C) @ (C, F), where BLAS runs fastest:
2.25x fewer for 3x3 (16 against 36), 2.8x for 5x5 (36 against 100).  The
matrices come from Toom-Cook interpolation at n - 1 points and infinity
(:func:`cook_toom`): 0, ±1 for 3x3 (Lavin and Gray's F(2, 3), whose Bᵀ holds
only 0 and ±1, so that its input transform is exact additions), and 0, ±1, 1/2, -2
for 5x5 (points of small size both ways keep the rounding near that of the
direct sum; the tests bound the error against PyTorch and the naive loops).
The tiles are processed in chunks of tile rows whose buffers stay near
``CHUNK_BYTES``, so that they are still in cache when the products read them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnncli.engine.fast.frozen import is_frozen

#: Target size (bytes) of one chunk's transformed input and products, which is also
#: about what the layer needs beyond its input and output (V and M are n²/m² = 4 (3x3)
#: or 9 (5x5) times the input and output, so the chunk caps the extra whatever the
#: batch): 16 MiB, faster than 8 or 4 at some more memory (see benchmarks/README.md,
#: decision table).
CHUNK_BYTES = 16 * 2**20
#: The same for the weight gradient, whose products accumulate (F, C) over the tiles:
#: 16 MiB, faster than 8 on every layer of AlexNet (see benchmarks/README.md, decision table).
WEIGHT_GRAD_CHUNK_BYTES = 16 * 2**20


def cook_toom(
    m: int, r: int, points: tuple[Fraction, ...]
) -> tuple[list[list[Fraction]], list[list[Fraction]], list[list[Fraction]]]:
    """Exact (Bᵀ, G, Aᵀ) of F(m, r) at ``points`` (n - 1 of them) and infinity.

    ``y = Aᵀ [(G g) ⊙ (Bᵀ d)]`` is the correlation ``y[i] = Σ_k g[k] d[i + k]`` of
    a length-n signal d with a length-r filter g.  With P(x, s) = x^s at a finite
    point and [s == degree] at infinity: Aᵀ[i, j] = P(a_j, i), G[j, k] = P(a_j, k),
    and Bᵀ = (W⁻¹)ᵀ for W[j, s] = P(a_j, s), s < n.  Each row j of Bᵀ is then
    divided by its smallest non-zero magnitude and row j of G multiplied by it,
    which makes Bᵀ small integers and halves.
    """
    n = m + r - 1
    if len(points) != n - 1 or len(set(points)) != n - 1:
        raise ValueError(f"F({m}, {r}) needs {n - 1} distinct points, got {points}")

    def power(j: int, s: int, degree: int) -> Fraction:
        return points[j] ** s if j < n - 1 else Fraction(int(s == degree))

    at = [[power(j, i, m - 1) for j in range(n)] for i in range(m)]
    g = [[power(j, k, r - 1) for k in range(r)] for j in range(n)]
    bt = _transpose(_inverse([[power(j, s, n - 1) for s in range(n)] for j in range(n)]))
    for j in range(n):
        scale = min(abs(v) for v in bt[j] if v)
        bt[j] = [v / scale for v in bt[j]]
        g[j] = [v * scale for v in g[j]]
    return bt, g, at


def _transpose(a: list[list[Fraction]]) -> list[list[Fraction]]:
    return [list(row) for row in zip(*a, strict=True)]


def _inverse(a: list[list[Fraction]]) -> list[list[Fraction]]:
    """Gauss-Jordan inverse of a small invertible matrix, in exact fractions."""
    n = len(a)
    rows = [[*row, *(Fraction(int(i == j)) for j in range(n))] for i, row in enumerate(a)]
    for col in range(n):
        pivot = next(i for i in range(col, n) if rows[i][col])
        rows[col], rows[pivot] = rows[pivot], rows[col]
        lead = rows[col][col]
        rows[col] = [v / lead for v in rows[col]]
        for i in range(n):
            if i != col and rows[i][col]:
                factor = rows[i][col]
                rows[i] = [v - factor * p for v, p in zip(rows[i], rows[col], strict=True)]
    return [row[n:] for row in rows]


@dataclass(frozen=True)
class Winograd:
    """F(m x m, r x r): its size and matrices (float64; cast to the data's dtype when used).

    ``bt`` (n, n), ``gg`` = G ⊗ G (n², r²), ``aa`` = Aᵀ ⊗ Aᵀ (m², n²): the weight
    and output transforms act on flattened tiles as one matrix product each, with
    the n² tile positions in the order :func:`_input_transform` writes them.
    """

    m: int
    r: int
    bt: np.ndarray
    gg: np.ndarray
    aa: np.ndarray
    #: When Bᵀ holds only 0 and ±1: per row, its (sign, tap) terms; else None.
    sums: tuple[tuple[tuple[int, int], ...], ...] | None

    @property
    def n(self) -> int:
        return self.m + self.r - 1

    @classmethod
    def at_points(cls, m: int, r: int, points: tuple[Fraction, ...]) -> Winograd:
        """The transform at ``points``; ``gg`` and ``aa`` indexed as the input transform
        writes V: (a, b) for exact sums, (b, a) for matrix products (``n*b + a``)."""
        bt, g, at = (np.array(a, dtype=np.float64) for a in cook_toom(m, r, points))
        gg, aa = np.kron(g, g), np.kron(at, at)
        sums = None
        if np.isin(bt, (-1, 0, 1)).all() and (bt != 0).sum(axis=1).min() >= 2:
            sums = tuple(tuple((int(c), p) for p, c in enumerate(row) if c) for row in bt)
        else:
            n = m + r - 1
            order = np.arange(n * n).reshape(n, n).T.reshape(-1)  # (b, a) → n*a + b
            gg, aa = gg[order], aa[:, order]
        return cls(m, r, bt, gg, aa, sums)


_F2_3_POINTS = (Fraction(0), Fraction(1), Fraction(-1))
_F2_5_POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(1, 2), Fraction(-2))
F2_3 = Winograd.at_points(2, 3, _F2_3_POINTS)
F2_5 = Winograd.at_points(2, 5, _F2_5_POINTS)
#: The transform used for each square kernel size.
BY_KERNEL = {3: F2_3, 5: F2_5}
#: For the weight gradient, F(r x r, 2 x 2) at the same points: the same Bᵀ as F(2, r).
WEIGHT_GRAD_BY_KERNEL = {
    r: Winograd.at_points(r, 2, points) for r, points in ((3, _F2_3_POINTS), (5, _F2_5_POINTS))
}


def winograd_weight(w: np.ndarray, t: Winograd) -> np.ndarray:
    """U = G · w · Gᵀ for every (filter, channel): (F, C, r, r) → (n², C, F), same dtype.

    ``U[(a, b), c, f] = Σ_{p,q} G[a, p] w[f, c, p, q] G[b, q]``: one matrix product
    (n², r²) @ (r², C*F) (positions in ``t.gg``'s order), channel-major for the
    products (tiles, C) @ (C, F) of :func:`conv2d_winograd`.
    """
    F, C = w.shape[:2]
    taps = w.transpose(1, 0, 2, 3).reshape(C * F, t.r * t.r)
    return np.matmul(t.gg.astype(w.dtype), taps.T).reshape(-1, C, F)


#: Transformed weights kept between calls (the layers of a network repeat theirs), at most
#: this many bytes of weights and transforms in all; the least recently used go first.
MEMO_BYTES = 64 * 2**20
_MEMO: OrderedDict[tuple[object, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()
_MEMO_LOCK = threading.Lock()


def moderate(a: np.ndarray) -> bool:
    """All of ``a`` finite and far from overflow (two reductions, no temporary).

    Winograd's transforms add and subtract inputs before multiplying: an inf there
    could meet another as inf - inf = NaN where the direct sum gives ±inf, and
    values near the float maximum could overflow early.  Only such inputs and
    weights are convolved by Winograd; the others take the direct sum.
    """
    limit = float(np.finfo(a.dtype).max) / 2**10
    return bool(-limit < a.min() and a.max() < limit)  # NaN fails both comparisons


def transformed_weight(w: np.ndarray, t: Winograd) -> np.ndarray | None:
    """:func:`winograd_weight` of ``w``, remembered for the next call with the same weights;
    None when ``w`` is not :func:`moderate`.

    A remembered transform is used only when ``w`` still holds, value for value, the
    weights it was made from (one comparison, a quarter of the transform's time):
    weights changed in place are checked and transformed again.  Those weights were
    moderate, so a remembered transform needs no second reading of ``w`` for that.
    An immutable ``w`` (:func:`cnncli.engine.fast.frozen.is_frozen`, as a Conv2d layer's
    weight) is neither copied nor compared: the same array is the same weights.
    Read-only result.
    """
    key = (w.__array_interface__["data"][0], w.shape, w.strides, w.dtype.str, t.m, t.r)
    frozen = is_frozen(w)
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
        if hit is not None:
            _MEMO.move_to_end(key)
    if hit is not None and ((frozen and hit[0] is w) or np.array_equal(hit[0], w)):
        return hit[1]
    if not moderate(w):
        return None
    u = winograd_weight(w, t)
    u.flags.writeable = False
    if w.nbytes + u.nbytes <= MEMO_BYTES:
        with _MEMO_LOCK:
            _MEMO[key] = (w if frozen else w.copy(), u)
            while sum(a.nbytes + b.nbytes for a, b in _MEMO.values()) > MEMO_BYTES:
                _MEMO.popitem(last=False)
    return u


def _input_transform(
    t: Winograd, step: int, xp: np.ndarray, i0: int, i1: int, tw: int, out: np.ndarray
) -> None:
    """V = Bᵀ d B for tile rows [i0, i1) of every image of NHWC ``xp`` into ``out``.

    The n x n tiles start every ``step`` rows and columns (m in the forward, 2 for
    the weight gradient).  Shapes: xp (k, step*th + n - step, step*tw + n - step, C),
    out (n², k, i1 - i0, tw, C), its n² positions in the order of ``t.gg`` and ``t.aa``.
    When Bᵀ is 0 and ±1 (F(2, 3)), rows first (whole rows are contiguous), then
    columns, each pass adding and subtracting strided views, exactly.  Otherwise
    columns first: the n column taps of every tile are gathered into a buffer and Bᵀ
    applied to them as one matrix product (n, n) @ (n, ·), which gives R[b, k, row,
    j, c]; then the rows: for each (b, image, tile row) the n rows under the tile are
    already one (n, tw·C) matrix of R, so Bᵀ @ that matrix needs no gather and is
    written straight into V[b, a] (position n*b + a): one gather instead of two (see
    benchmarks/README.md, decision table).
    """
    k, _, Wp, C = xp.shape
    m, n, dtype = step, t.n, xp.dtype
    ni = i1 - i0
    if t.sums is not None:
        rows = np.empty((n, k, ni, Wp, C), dtype=dtype)
        _bt_sums(t.sums, [xp[:, m * i0 + p : m * i1 + p : m] for p in range(n)], rows)
        v = out.reshape(n, n, k, ni, tw, C)
        for a in range(n):
            _bt_sums(t.sums, [rows[a][:, :, q : q + m * tw : m] for q in range(n)], v[a])
        return
    bt = t.bt.astype(dtype)
    sN, sH, sW, sC = xp.strides
    height = m * (ni - 1) + n  # padded input rows under tile rows [i0, i1)
    taps = as_strided(xp[:, m * i0 :], (n, k, height, tw, C), (sW, sN, sH, m * sW, sC))
    gathered = np.empty(taps.shape, dtype=dtype)  # [q, k, row, j, c]
    gathered[...] = taps
    # [b, k, row, (j, c)]: Bᵀ along the columns of every row
    cols = np.matmul(bt, gathered.reshape(n, -1)).reshape(n, k, height, tw * C)
    rB, rK, rR, rJ = cols.strides
    # [b, k, i, p, (j, c)]: the n rows under tile row i, for each column-pass output b
    under = as_strided(cols, (n, k, ni, n, tw * C), (rB, rK, m * rR, rR, rJ))
    o = out.strides  # out is (n², k, ni, tw, C), contiguous
    into = as_strided(out, (n, k, ni, n, tw * C), (n * o[0], o[1], o[2], o[0], o[4]))
    np.matmul(bt, under, out=into)  # [b, k, i, a, (j, c)] = V[n*b + a, k, i, j, c]


def _bt_sums(
    sums: tuple[tuple[tuple[int, int], ...], ...], d: list[np.ndarray], out: np.ndarray
) -> None:
    """``out[a] = Σ_p Bᵀ[a, p] · d[p]`` for a Bᵀ of 0 and ±1: additions and subtractions only."""
    for a, row in enumerate(sums):
        terms = [(sign, d[p]) for sign, p in row]
        (s0, v0), (s1, v1) = terms[0], terms[1]
        if s0 == s1:
            np.add(v0, v1, out=out[a])
        else:
            np.subtract(v0, v1, out=out[a]) if s0 > 0 else np.subtract(v1, v0, out=out[a])
        if s0 == s1 == -1:
            np.negative(out[a], out=out[a])
        for sign, v in terms[2:]:
            (np.add if sign > 0 else np.subtract)(out[a], v, out=out[a])


def conv2d_winograd(
    xp: np.ndarray,
    u: np.ndarray,
    b: np.ndarray | None,
    OH: int,
    OW: int,
    t: Winograd,
) -> np.ndarray:
    """The convolution of a zero-padded NHWC input with transformed weights, as NCHW.

    Shapes: xp (N, m*th + r - 1, m*tw + r - 1, C) with th = ⌈OH/m⌉, tw = ⌈OW/m⌉
    (the input padded, plus zero rows or columns up to a whole number of tiles),
    u (n², C, F) from :func:`winograd_weight`, b (F,) or None → (N, F, OH, OW).

    Each tile position's product is (T, C) @ (C, F) with V as the input transform
    writes it, rather than (F, C) @ (C, T), even with the transposing copy into NCHW
    that it needs (see benchmarks/README.md, decision table).
    """
    N = xp.shape[0]
    F = u.shape[2]
    m, n = t.m, t.n
    th, tw = -(-OH // m), -(-OW // m)
    dtype = xp.dtype
    aa = t.aa.astype(dtype)
    out = np.empty((N, F, OH, OW), dtype=dtype)
    for n0, n1, i0, i1, v in _transformed_chunks(t, m, xp, th, tw, F, CHUNK_BYTES):
        nn, ni = n1 - n0, i1 - i0
        T = nn * ni * tw
        prod = np.matmul(v, u)  # (n², T, C) @ (n², C, F) → (n², T, F)
        del v  # each buffer goes as soon as it is used: one chunk's at a time
        y = np.matmul(aa, prod.reshape(n * n, T * F)).reshape(m, m, nn, ni, tw, F)
        del prod
        _scatter_tiles(y, b, out[n0:n1], i0, i1)
        del y
    return out


def _scatter_tiles(y: np.ndarray, b: np.ndarray | None, out: np.ndarray, i0: int, i1: int) -> None:
    """Write output tiles y (m, m, nn, ni, tw, F), of tile rows [i0, i1), into NCHW ``out``.

    Two copies: first into channels-last order (nn, ni, m, tw, m, F), adding the bias,
    where both sides keep F innermost; then one transposing copy per image into
    (F, rows, OW), the output rows m*i0 .. that exist (OH, OW need not divide by m),
    rather than four strided transposing copies, one per (du, dv) (see
    benchmarks/README.md, decision table).
    """
    m, _, nn, ni, tw, F = y.shape
    _, _, OH, OW = out.shape
    hwc = np.empty((nn, ni, m, tw, m, F), dtype=y.dtype)
    src = y.transpose(2, 3, 0, 4, 1, 5)
    if b is None:
        hwc[...] = src
    else:
        np.add(src, b, out=hwc)
    r0, r1 = m * i0, min(OH, m * i1)
    rows = hwc.reshape(nn, ni * m, tw * m, F)[:, : r1 - r0, :OW]
    for k in range(nn):
        out[k, :, r0:r1] = rows[k].transpose(2, 0, 1)


def conv2d_weight_winograd(xp: np.ndarray, gy: np.ndarray, t: Winograd) -> np.ndarray:
    """dW of a stride-1 r x r convolution by Winograd F(r x r, 2 x 2), as (F, C, r, r).

    Shapes: xp (N, 2*th + r - 1, 2*tw + r - 1, C), the NHWC input padded as the
    forward pads it plus whole tiles; gy (N, F, OH, OW) with th = ⌈OH/2⌉, tw = ⌈OW/2⌉.

    ``dW[f, c, p, q] = Σ_{n,i,j} dY[n, f, i, j] · Xp[n, c, i + p, j + q]``: over one
    2x2 block of dY, that sum is an r x r correlation of the block with the
    (r + 1) x (r + 1) input tile under it, which F(r, 2) computes as
    ``Aᵀ [(G dY G ᵀ) ⊙ (Bᵀ d B)] A``.  The sum over the blocks moves inside Aᵀ…A,
    so that each of the n² tile positions is one matrix product (F, tiles) @
    (tiles, C) with the long dimension inside, accumulated over chunks of tiles.
    """
    N, _, _, C = xp.shape
    _, F, OH, OW = gy.shape
    n = t.n
    th, tw = -(-OH // 2), -(-OW // 2)
    dtype = xp.dtype
    gg, aa = t.gg.astype(dtype), t.aa.astype(dtype)
    gyp = gy
    if (2 * th, 2 * tw) != (OH, OW):  # the last block of dY is completed with zeros
        gyp = np.zeros((N, F, 2 * th, 2 * tw), dtype=dtype)
        gyp[:, :, :OH, :OW] = gy
    blocks = gyp.reshape(N, F, th, 2, tw, 2)
    acc = np.zeros((n * n, F, C), dtype=dtype)
    for n0, n1, i0, i1, v in _transformed_chunks(t, 2, xp, th, tw, F, WEIGHT_GRAD_CHUNK_BYTES):
        nn, ni = n1 - n0, i1 - i0
        T = nn * ni * tw
        taps = np.empty((2, 2, F, nn, ni, tw), dtype=dtype)  # dY blocks, tap-major
        taps[...] = blocks[n0:n1, :, i0:i1].transpose(3, 5, 1, 0, 2, 4)
        gt = np.matmul(gg, taps.reshape(4, F * T)).reshape(n * n, F, T)  # G dY Gᵀ
        del taps
        acc += np.matmul(gt, v)  # (n², F, C)
        del gt, v  # freed before the next chunk is transformed
    dw = np.matmul(aa, acc.reshape(n * n, F * C)).reshape(t.m, t.m, F, C)
    return dw.transpose(2, 3, 0, 1)


def _transformed_chunks(
    t: Winograd, step: int, xp: np.ndarray, th: int, tw: int, F: int, budget: int
) -> Iterator[tuple[int, int, int, int, np.ndarray]]:
    """Yield ``(n0, n1, i0, i1, V)`` for chunks of tile rows of NHWC ``xp``.

    V (n², T, C) is the transformed input of images [n0, n1), tile rows [i0, i1),
    T = (n1 - n0)(i1 - i0)·tw tiles; a chunk's V and its F products per tile stay
    near ``budget`` bytes.
    """
    N, C = xp.shape[0], xp.shape[3]
    nn2 = t.n * t.n
    rows = max(1, budget // max(1, nn2 * (C + F) * xp.dtype.itemsize * tw))
    for n0, n1, i0, i1 in _tile_chunks(N, th, rows):
        v = np.empty((nn2, n1 - n0, i1 - i0, tw, C), dtype=xp.dtype)
        _input_transform(t, step, xp[n0:n1], i0, i1, tw, v)
        yield n0, n1, i0, i1, v.reshape(nn2, -1, C)
        del v  # not held while the next chunk's buffer is made (the caller drops its view)


def _tile_chunks(N: int, th: int, rows: int) -> list[tuple[int, int, int, int]]:
    """(n0, n1, i0, i1) blocks of about ``rows`` tile rows: whole images while they fit."""
    if rows >= th:
        items = max(1, rows // th)
        return [(n0, min(N, n0 + items), 0, th) for n0 in range(0, N, items)]
    return [(n, n + 1, i0, min(th, i0 + rows)) for n in range(N) for i0 in range(0, th, rows)]
