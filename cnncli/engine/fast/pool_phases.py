"""Max pooling's backward when every window lies inside the input: on the stride's phases.

Shapes: grad (n, C, OH, OW) and x (n, C, H, W), a block of planes → dx (n, C, H, W).
No padding, no dilation, no ceil_mode overhang (AlexNet's, VGG's and TinyVGG's pools).

Split the input by the stride into sh·sw phase planes::

    X_ab[r, c] = x[a + sh·r, b + sw·c]          (0 ≤ a < sh, 0 ≤ b < sw)

Tap (m, k) of output (o, j) reads ``x[o·sh + m, j·sw + k]``, which is
``X_{m mod sh, k mod sw}[o + m÷sh, j + k÷sw]``: every tap is one fixed offset into one
phase.  Lay the phases and the output on one grid of Hq × Wq cells a plane
(Hq = OH + (KH−1)÷sh, Wq = OW + (KW−1)÷sw) and flatten it over (plane, row, column);
tap t = (m, k) is then one contiguous slice, and PyTorch's scan of a window in
row-major order (``val > best or isnan(val)`` replaces the maximum: the first maximum
wins, or the last NaN) becomes KH·KW whole-array steps::

    X_t  = X_{m mod sh, k mod sw}.flat[s_t : s_t + L],    s_t = (m÷sh)·Wq + k÷sw
    best = X_0,  tap = 0
    for t = 1 … KH·KW−1:    up = X_t > best  (or X_t is NaN);  best = max(best, X_t);  tap[up] = t

Each output's winner is then the flat index (o·sh + m)·W + j·sw + k of its plane, and
the gradient is added there with ``np.add.at``, one output after another in row-major
order, which is the order of PyTorch's CPU backward: overlapping windows sum the same
float32 values in the same order, and dx has PyTorch's very bits::

    dx.flat[plane·H·W + (o·sh + m_t)·W + j·sw + k_t] += grad[plane, o, j]      (t = tap[plane, o, j])

Windows that do not overlap (kernel at most the stride: TinyVGG's 2x2 of stride 2) reach
each cell at most once, so the sum is one plain assignment of ``0 + grad``.

The two passes of :mod:`.pool` find the same taps with strided views of short rows,
which NumPy walks several times slower than contiguous runs (benchmarks/README.md,
decision table).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnncli.engine.shapes import Pool2dGeometry


def max_pool2d_backward(g: np.ndarray, x: np.ndarray, geom: Pool2dGeometry) -> np.ndarray:
    """dx of a max pooling whose windows lie inside the input (see the module docstring).

    dx has ``g``'s dtype, in which ``x``'s values are compared.
    """
    _, tap = winners(x, geom, g.dtype)
    return scatter(g, tap, geom, x.shape)


def winners(x: np.ndarray, geom: Pool2dGeometry, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """(y, tap): each window's maximum and the number of its winning tap (m·KW + k, the
    first in row-major order, the last NaN), both (n, C, OH, OW), ``x`` compared in ``dtype``.

    y is PyTorch's max_pool2d to the bit: on ties the earlier tap's value is kept, so that
    -0.0 and +0.0 come out as PyTorch's do.
    """
    n, C, H, W = x.shape
    P = n * C
    (sh, sw), KH, KW, OH, OW = geom.stride, geom.KH, geom.KW, geom.OH, geom.OW
    Hq, Wq = OH + (KH - 1) // sh, OW + (KW - 1) // sw
    size = P * Hq * Wq
    xb = x.reshape(P, H, W)
    phases = {}
    for a in range(min(sh, KH)):
        for b in range(min(sw, KW)):
            rows, cols = _extent(a, H, sh, Hq), _extent(b, W, sw, Wq)
            whole = (rows, cols) == (Hq, Wq)  # else cells past the input stay zero
            phase = (np.empty if whole else np.zeros)((P, Hq, Wq), dtype=dtype)
            phase[:, :rows, :cols] = _phase_view(xb, a, b, sh, sw, rows, cols)
            phases[a, b] = phase.reshape(-1)
    taps = [(m, k) for m in range(KH) for k in range(KW)]
    offsets = [(m // sh) * Wq + k // sw for m, k in taps]
    L = size - max(offsets)
    slices = [phases[m % sh, k % sw][s : s + L] for (m, k), s in zip(taps, offsets, strict=True)]
    grid = np.empty(size, dtype=np.int8 if len(taps) <= 127 else np.int32)
    best = np.empty(size, dtype=dtype)
    _winning_taps(slices, grid[:L], best[:L])
    y = np.ascontiguousarray(best.reshape(P, Hq, Wq)[:, :OH, :OW]).reshape(n, C, OH, OW)
    tap = np.ascontiguousarray(grid.reshape(P, Hq, Wq)[:, :OH, :OW]).reshape(n, C, OH, OW)
    return y, tap


def scatter(
    g: np.ndarray, tap: np.ndarray, geom: Pool2dGeometry, shape: tuple[int, ...]
) -> np.ndarray:
    """dx (``shape``, g's dtype): each gradient added to its window's winning tap ``tap``.

    The flat index into the plane of each output's winner is (o·sh + m)·W + j·sw + k, and
    the gradient is added there in the outputs' order, as PyTorch's backward adds it.
    """
    n, C, H, W = shape
    P = n * C
    (sh, sw), KH, KW, OH, OW = geom.stride, geom.KH, geom.KW, geom.OH, geom.OW
    offsets = np.array([m * W + k for m in range(KH) for k in range(KW)], dtype=np.intp)
    index = np.take(offsets, tap.reshape(P, OH, OW))
    index += np.arange(P, dtype=np.intp)[:, None, None] * (H * W)
    index += np.add.outer(np.arange(OH) * (sh * W), np.arange(OW) * sw)
    dx = np.zeros(P * H * W, dtype=g.dtype)
    if sh >= KH and sw >= KW:  # windows apart: each cell wins at most once, 0 + g is g
        dx[index.reshape(-1)] = g.reshape(-1) + g.dtype.type(0)  # (-0.0 + 0 is +0.0)
    else:
        np.add.at(dx, index.reshape(-1), g.reshape(-1))
    return dx.reshape(shape)


def _extent(a: int, L: int, s: int, q: int) -> int:
    """Positions a, a + s, … below L, at most q of them: one phase's rows (or columns)."""
    return min(len(range(a, L, s)), q)


def _phase_view(
    a: np.ndarray, r: int, c: int, sh: int, sw: int, rows: int, cols: int
) -> np.ndarray:
    """The view ``a[:, r + sh·i, c + sw·j]`` for i < rows, j < cols."""
    return a[:, r : r + sh * (rows - 1) + 1 : sh, c : c + sw * (cols - 1) + 1 : sw]


def _winning_taps(slices: list[np.ndarray], tap: np.ndarray, best: np.ndarray) -> None:
    """Each window's winning tap by PyTorch's scan over the taps' slices (row-major order),
    written into ``tap``, and its maximum into ``best``.

    A later tap that takes the maximum has a larger number, so ``tap = max(tap, t·up)``
    keeps the last one taken.  Without NaN ``up = X_t > best``; a NaN found among the
    maxima means the scan is redone with ``or isnan(X_t)``, which makes the last NaN win.
    """
    up = np.empty(best.shape, dtype=bool)
    taken = np.empty(best.shape, dtype=tap.dtype)
    number = tap.dtype.type
    for nan in (False, True):
        tap[...] = 0
        best[...] = slices[0]
        for t in range(1, len(slices)):
            np.greater(slices[t], best, out=up)
            if nan:
                up |= np.isnan(slices[t])
            np.maximum(slices[t], best, out=best)  # on ties NumPy returns the second: best
            np.multiply(up.view(np.int8), number(t), out=taken, casting="unsafe")  # no bool cast
            np.maximum(tap, taken, out=tap)
        if nan or best.size == 0 or not np.isnan(best.max()):
            return
