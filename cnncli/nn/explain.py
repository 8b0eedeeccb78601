"""One output cell of conv2d, conv_transpose2d or a pooling op, recomputed step by step (``--explain``).

The records hold every intermediate number (patch, kernel, products, sums) and
the engine's own value for the cell; :func:`check_cell` asserts that the two
agree, so the explanation can never show a different number from the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ConvCell:
    """``output[n, f, i, j]`` of conv2d taken apart.

    patch, kernel, products: (Cg, KH, KW) for the input channels ``channels`` of
    the group of ``f``; ``rows``/``cols`` are input coordinates (negative or past
    the edge: padding).  value = Σ_c Σ_ab patch·kernel + bias.
    """

    n: int
    f: int
    i: int
    j: int
    channels: list[int]
    rows: list[int]
    cols: list[int]
    patch: np.ndarray
    kernel: np.ndarray
    products: np.ndarray
    sums: np.ndarray
    total: float
    bias: float | None
    value: float
    engine_value: float


@dataclass(frozen=True)
class PoolCell:
    """``output[n, c, i, j]`` of max or average pooling taken apart.

    window: (KH, KW) values, NaN where the window lies outside the input
    (padding, or past the edge in ceil mode); ``inside`` marks the positions in it.  For max: ``chosen`` is the
    (row, col) input position of the maximum; for avg: value = total / divisor.
    """

    mode: str
    n: int
    c: int
    i: int
    j: int
    rows: list[int]
    cols: list[int]
    window: np.ndarray
    inside: np.ndarray
    chosen: tuple[int, int] | None
    total: float
    divisor: int
    value: float
    engine_value: float


def check_cell(value: float, engine_value: float, scale: float, dtype: Any) -> None:
    """Raise (a bug, exit 1) unless the step-by-step value equals the engine's output."""
    tol = 1e-9 if np.dtype(dtype) == np.float64 else 1e-4
    if not (
        np.isclose(value, engine_value, rtol=0, atol=tol * max(1.0, scale))
        or (np.isnan(value) and np.isnan(engine_value))
        or (np.isinf(value) and value == engine_value)
    ):
        raise AssertionError(f"--explain recomputed {value!r} but the engine gave {engine_value!r}")


def conv_cell(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    output: np.ndarray,
    index: tuple[int, int, int, int],
    stride: tuple[int, int],
    padding: tuple[int, int, int, int],
    dilation: tuple[int, int],
    groups: int,
    padding_mode: str,
) -> ConvCell:
    """Recompute ``output[n, f, i, j]`` of conv2d from the padded input (float64 sums).

    Shapes: x (N, C, H, W), weight (F, C/groups, KH, KW), output (N, F, OH, OW).
    """
    from cnncli.engine import pad

    n, f, i, j = index
    F_, Cg, KH, KW = weight.shape
    left, right, top, bottom = padding
    xp = pad(x[n : n + 1], (left, right, top, bottom), mode=padding_mode)[0]  # (C, H+t+b, W+l+r)
    g = f // (F_ // groups)
    channels = list(range(g * Cg, (g + 1) * Cg))
    prow = [i * stride[0] + a * dilation[0] for a in range(KH)]
    pcol = [j * stride[1] + b * dilation[1] for b in range(KW)]
    patch = xp[np.ix_(channels, prow, pcol)].astype(np.float64)
    kernel = weight[f].astype(np.float64)
    products = patch * kernel
    sums = products.sum(axis=(1, 2))
    total = float(sums.sum())
    b = None if bias is None else float(bias[f])
    value = total + (b or 0.0)
    engine_value = float(output[n, f, i, j])
    check_cell(value, engine_value, float(np.abs(products).sum()) + abs(b or 0.0), x.dtype)
    return ConvCell(
        n, f, i, j, channels, [r - top for r in prow], [c - left for c in pcol],
        patch, kernel, products, sums, total, b, value, engine_value,
    )  # fmt: skip


def pool_cell(
    x: np.ndarray,
    output: np.ndarray,
    index: tuple[int, int, int, int],
    mode: str,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> PoolCell:
    """Recompute ``output[n, c, i, j]`` of max or avg pooling (PyTorch's window rules).

    The window starts at ``i*stride - padding``; avg's divisor is the window
    clipped to the padded input (count_include_pad) or to the input itself.
    """
    n, c, i, j = index
    H, W = x.shape[2], x.shape[3]
    rows = [i * stride[0] - padding[0] + a * dilation[0] for a in range(kernel[0])]
    cols = [j * stride[1] - padding[1] + b * dilation[1] for b in range(kernel[1])]
    window = np.full(kernel, np.nan)
    inside = np.zeros(kernel, dtype=bool)
    for a, r in enumerate(rows):
        for b_, q in enumerate(cols):
            if 0 <= r < H and 0 <= q < W:
                window[a, b_] = float(x[n, c, r, q])
                inside[a, b_] = True
    engine_value = float(output[n, c, i, j])
    chosen = None
    if mode == "max":
        vals = np.where(inside, window, -np.inf)
        flat = int(np.argmax(vals))  # the first NaN if any: NaN propagates, as in PyTorch
        value = float(vals.ravel()[flat])
        chosen = (rows[flat // kernel[1]], cols[flat % kernel[1]])
        total, divisor = value, 1
    else:
        total = float(np.where(inside, window, 0.0).sum())
        hstart, wstart = rows[0], cols[0]
        hend = min(hstart + kernel[0], H + padding[0])
        wend = min(wstart + kernel[1], W + padding[1])
        pool_size = (hend - hstart) * (wend - wstart)
        if divisor_override:
            divisor = int(divisor_override)
        elif count_include_pad:
            divisor = pool_size
        else:
            divisor = int(inside.sum())
        value = total / divisor
    check_cell(value, engine_value, float(np.nansum(np.abs(window))), x.dtype)
    return PoolCell(
        mode, n, c, i, j, rows, cols, window, inside, chosen, total, divisor, value, engine_value
    )


def adaptive_pool_cell(
    x: np.ndarray, output: np.ndarray, index: tuple[int, int, int, int], mode: str
) -> PoolCell:
    """Recompute ``output[n, c, i, j]`` of adaptive pooling over its bin (PyTorch's bins)."""
    from cnncli.engine.shapes import adaptive_bins

    n, c, i, j = index
    OH, OW = output.shape[2], output.shape[3]
    r0, r1 = adaptive_bins(x.shape[2], OH)[i]
    c0, c1 = adaptive_bins(x.shape[3], OW)[j]
    rows, cols = list(range(r0, r1)), list(range(c0, c1))
    window = x[n, c, r0:r1, c0:c1].astype(np.float64)
    inside = np.ones(window.shape, dtype=bool)
    engine_value = float(output[n, c, i, j])
    chosen = None
    if mode == "max":
        flat = int(np.argmax(window))  # the first NaN if any, as PyTorch propagates NaN
        value = float(window.ravel()[flat])
        chosen = (rows[flat // len(cols)], cols[flat % len(cols)])
        total, divisor = value, 1
    else:
        total = float(window.sum())
        divisor = window.size
        value = total / divisor
    check_cell(value, engine_value, float(np.nansum(np.abs(window))), x.dtype)
    return PoolCell(
        mode, n, c, i, j, rows, cols, window, inside, chosen, total, divisor, value, engine_value
    )


@dataclass(frozen=True)
class ConvTransposeCell:
    """``output[n, f, i, j]`` of conv_transpose2d taken apart: every (input cell, kernel tap)
    pair that reaches it.

    ``terms`` holds ``(c, r, q, m, k, x, w, x·w)``: input channel c, input cell (r, q), tap
    (m, k) of weight[c, f % (F/groups)], with ``r·s_h + m·d_h − p_h = i`` and
    ``q·s_w + k·d_w − p_w = j``.  value = Σ x·w + bias.
    """

    n: int
    f: int
    i: int
    j: int
    channels: list[int]
    terms: list[tuple[int, int, int, int, int, float, float, float]]
    sums: list[float]
    total: float
    bias: float | None
    value: float
    engine_value: float


def conv_transpose_cell(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    output: np.ndarray,
    index: tuple[int, int, int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> ConvTransposeCell:
    """Recompute ``output[n, f, i, j]`` of conv_transpose2d from its terms (float64 sums).

    Shapes: x (N, C, H, W), weight (C, F/groups, KH, KW), output (N, F, OH, OW).
    Input row r reaches output row i through tap m when ``r·s + m·d − p = i``, that is
    when ``i + p − m·d`` is a multiple of s and ``r = (i + p − m·d) / s`` lies in the input.
    """
    n, f, i, j = index
    C, Fg, KH, KW = weight.shape
    H, W = x.shape[2], x.shape[3]
    Cg = C // groups
    grp, fl = divmod(f, Fg)
    channels = list(range(grp * Cg, (grp + 1) * Cg))

    def sources(out: int, size: int, K: int, s: int, p: int, d: int) -> list[tuple[int, int]]:
        """(input index, tap) pairs reaching output index ``out`` along one axis."""
        pairs = []
        for m in range(K):
            num = out + p - m * d
            if num % s == 0 and 0 <= num // s < size:
                pairs.append((num // s, m))
        return pairs

    rows = sources(i, H, KH, stride[0], padding[0], dilation[0])
    cols = sources(j, W, KW, stride[1], padding[1], dilation[1])
    terms = []
    sums = []
    for c in channels:
        total_c = 0.0
        for r, m in rows:
            for q, k in cols:
                xv, wv = float(x[n, c, r, q]), float(weight[c, fl, m, k])
                terms.append((c, r, q, m, k, xv, wv, xv * wv))
                total_c += xv * wv
        sums.append(total_c)
    total = float(sum(sums))
    b = None if bias is None else float(bias[f])
    value = total + (b or 0.0)
    engine_value = float(output[n, f, i, j])
    scale = sum(abs(t[7]) for t in terms) + abs(b or 0.0)
    check_cell(value, engine_value, scale, x.dtype)
    return ConvTransposeCell(n, f, i, j, channels, terms, sums, total, b, value, engine_value)
