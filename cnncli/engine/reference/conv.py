"""conv2d and its gradients as literal loops over the seed's formulas (teaching version).

Shapes: input X (N, C, H, W), weight W (F, C/groups, KH, KW), bias b (F,) →
Y (N, F, OH, OW).  Within one group, for one image and one filter, the seed's
forward formula is::

    Y[i, j] = sum_{c, m, n} X[c, i*s + m*d, j*s + n*d] * W[c, m, n] + b

(s the stride, d the dilation, X already padded), and its gradients are::

    dL/dW[c, m, n] = sum_{i, j} dL/dY[i, j] * X[c, i*s + m*d, j*s + n*d]
    dL/dX[c, i*s + m*d, j*s + n*d] += dL/dY[i, j] * W[c, m, n]   (for every i, j, m, n)
    dL/db = sum_{i, j} dL/dY[i, j]

With stride 1 and dilation 1 the first gradient is the seed's
``dL/dW[m, n] = sum_{i,j} dL/dY[i, j] * X[i + m, j + n]``: the gradient of a
weight is the input under it, weighted by the output gradient, summed over
every position the kernel visits.

Every loop here is a loop of the formula; nothing is vectorised.  The vectorised
versions (im2col and one matrix product), which the tests hold equal to these, are
:func:`cnncli.engine.conv.conv2d` and :func:`cnncli.engine.conv.conv2d_backward`.
"""

from __future__ import annotations

import numpy as np

from cnncli.engine._checks import as_float_array, result_dtype
from cnncli.engine.pad import pad, pad_backward
from cnncli.engine.shapes import (
    IntOrPair,
    PaddingArg,
    conv2d_geometry,
    conv_transpose2d_geometry,
)


def _padded(x: np.ndarray, pads: tuple[int, int, int, int], padding_mode: str) -> np.ndarray:
    return pad(x, pads, "zeros" if padding_mode == "zeros" else padding_mode)


def conv2d_naive(
    input: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntOrPair = 1,
    padding: PaddingArg = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """conv2d as seven nested loops: ``Y[i,j] = sum_{c,m,n} X[i*s+m*d, j*s+n*d] * W[m,n] + b``.

    Shapes: input (N, C, H, W), weight (F, C/groups, KH, KW), bias (F,) → (N, F, OH, OW).
    Same arguments and results as the vectorised :func:`cnncli.engine.conv.conv2d`.
    """
    X = as_float_array(input, "input")
    Wt = as_float_array(weight, "weight")
    g = conv2d_geometry(X.shape, Wt.shape, stride, padding, dilation, groups)
    dtype = result_dtype(X, Wt, None if bias is None else np.asarray(bias))
    Xp = _padded(X.astype(dtype), g.padding, padding_mode)
    (s_h, s_w), (d_h, d_w) = g.stride, g.dilation
    Cg, Fg = g.C // g.groups, g.F // g.groups
    Y = np.zeros((g.N, g.F, g.OH, g.OW), dtype=dtype)
    for n_img in range(g.N):
        for f in range(g.F):
            group = f // Fg  # filter f sees input channels group*Cg ... group*Cg + Cg - 1
            for i in range(g.OH):
                for j in range(g.OW):
                    total = 0.0
                    for c in range(Cg):
                        for m in range(g.KH):
                            for n in range(g.KW):
                                x_val = Xp[
                                    n_img, group * Cg + c, i * s_h + m * d_h, j * s_w + n * d_w
                                ]
                                total += x_val * Wt[f, c, m, n]
                    if bias is not None:
                        total += bias[f]
                    Y[n_img, f, i, j] = total
    return Y


def conv2d_backward_naive(
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
    """The three conv2d gradients as loops: ``(dx, dw, db)``.

    Shapes: grad_output dY (N, F, OH, OW), input (N, C, H, W), weight (F, C/groups,
    KH, KW) → dx (N, C, H, W), dw (F, C/groups, KH, KW), db (F,) or None.

    ``dW[f,c,m,n] = sum_{i,j} dY[f,i,j] * Xp[c, i*s+m*d, j*s+n*d]`` (the seed's
    ``sum_{i,j} dL/dY[i,j] * X[i+m, j+n]``), ``dXp[c, i*s+m*d, j*s+n*d] +=
    dY[f,i,j] * W[f,c,m,n]``, ``db[f] = sum_{i,j} dY[f,i,j]``, summed over the
    batch.  Same arguments and results as the fast
    :func:`cnncli.engine.conv.conv2d_backward`.
    """
    dY = as_float_array(grad_output, "grad_output")
    X = as_float_array(input, "input")
    Wt = as_float_array(weight, "weight")
    g = conv2d_geometry(X.shape, Wt.shape, stride, padding, dilation, groups)
    dtype = result_dtype(dY, X, Wt)
    Xp = _padded(X.astype(dtype), g.padding, padding_mode)
    (s_h, s_w), (d_h, d_w) = g.stride, g.dilation
    Cg, Fg = g.C // g.groups, g.F // g.groups

    # dL/dW[m, n] = sum over i, j of dL/dY[i, j] * X[i*s + m*d, j*s + n*d]
    dW = np.zeros(Wt.shape, dtype=dtype)
    for f in range(g.F):
        group = f // Fg
        for c in range(Cg):
            for m in range(g.KH):
                for n in range(g.KW):
                    total = 0.0
                    for n_img in range(g.N):
                        for i in range(g.OH):
                            for j in range(g.OW):
                                x_val = Xp[
                                    n_img, group * Cg + c, i * s_h + m * d_h, j * s_w + n * d_w
                                ]
                                total += dY[n_img, f, i, j] * x_val
                    dW[f, c, m, n] = total

    # dL/dX: each output cell sends dL/dY[i, j] * W[m, n] back to the input cell it read.
    dXp = np.zeros(Xp.shape, dtype=dtype)
    for n_img in range(g.N):
        for f in range(g.F):
            group = f // Fg
            for i in range(g.OH):
                for j in range(g.OW):
                    for c in range(Cg):
                        for m in range(g.KH):
                            for n in range(g.KW):
                                row, col = i * s_h + m * d_h, j * s_w + n * d_w
                                dXp[n_img, group * Cg + c, row, col] += (
                                    dY[n_img, f, i, j] * Wt[f, c, m, n]
                                )
    # The padded cells were copies (or zeros): fold their gradients back onto the input.
    dX = pad_backward(dXp, g.padding, "zeros" if padding_mode == "zeros" else padding_mode)

    # dL/db = sum over i, j (and the batch) of dL/dY[i, j]
    db = None
    if bias:
        db = np.zeros(g.F, dtype=dtype)
        for f in range(g.F):
            for n_img in range(g.N):
                for i in range(g.OH):
                    for j in range(g.OW):
                        db[f] += dY[n_img, f, i, j]
    return dX, dW, db


def conv_transpose2d_naive(
    input: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
) -> np.ndarray:
    """conv_transpose2d as loops: every input cell scatters ``X * W`` into the output.

    Shapes: input (N, C, H, W), weight (C, F/groups, KH, KW), bias (F,) → (N, F, OH, OW).
    ``Y[n, f, i*s + m*d - p, j*s + k*d - p] += X[n, c, i, j] * W[c, f, m, k]``, the
    positions outside the output dropped, then ``+ b[f]``.  Same arguments and results
    as the vectorised :func:`cnncli.engine.conv_transpose.conv_transpose2d`.
    """
    X = as_float_array(input, "input")
    Wt = as_float_array(weight, "weight")
    g = conv_transpose2d_geometry(
        X.shape, Wt.shape, stride, padding, output_padding, groups, dilation
    )
    dtype = result_dtype(X, Wt, None if bias is None else np.asarray(bias))
    (s_h, s_w), (p_h, p_w), (d_h, d_w) = g.stride, g.padding, g.dilation
    Cg, Fg = g.C // g.groups, g.F // g.groups
    Y = np.zeros((g.N, g.F, g.OH, g.OW), dtype=dtype)
    for n_img in range(g.N):
        for c in range(g.C):
            group = c // Cg  # input channel c feeds output channels group*Fg ... group*Fg + Fg - 1
            for i in range(g.H):
                for j in range(g.W):
                    for f in range(Fg):
                        for m in range(g.KH):
                            for n in range(g.KW):
                                row, col = i * s_h + m * d_h - p_h, j * s_w + n * d_w - p_w
                                if 0 <= row < g.OH and 0 <= col < g.OW:
                                    Y[n_img, group * Fg + f, row, col] += (
                                        X[n_img, c, i, j] * Wt[c, f, m, n]
                                    )
    if bias is not None:
        for f in range(g.F):
            Y[:, f] += bias[f]
    return Y


def conv_transpose2d_backward_naive(
    grad_output: np.ndarray,
    input: np.ndarray,
    weight: np.ndarray,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
    bias: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The three conv_transpose2d gradients as loops: ``(dx, dw, db)``.

    Each (input cell, tap) pair that reached output cell (row, col) gets back
    ``dX[n, c, i, j] += dY[n, f, row, col] * W[c, f, m, k]`` and
    ``dW[c, f, m, k] += dY[n, f, row, col] * X[n, c, i, j]``; ``db[f]`` sums dY.
    Same arguments and results as
    :func:`cnncli.engine.conv_transpose.conv_transpose2d_backward`.
    """
    dY = as_float_array(grad_output, "grad_output")
    X = as_float_array(input, "input")
    Wt = as_float_array(weight, "weight")
    g = conv_transpose2d_geometry(
        X.shape, Wt.shape, stride, padding, output_padding, groups, dilation
    )
    dtype = result_dtype(dY, X, Wt)
    (s_h, s_w), (p_h, p_w), (d_h, d_w) = g.stride, g.padding, g.dilation
    Cg, Fg = g.C // g.groups, g.F // g.groups
    dX = np.zeros(X.shape, dtype=dtype)
    dW = np.zeros(Wt.shape, dtype=dtype)
    for n_img in range(g.N):
        for c in range(g.C):
            group = c // Cg
            for i in range(g.H):
                for j in range(g.W):
                    for f in range(Fg):
                        for m in range(g.KH):
                            for n in range(g.KW):
                                row, col = i * s_h + m * d_h - p_h, j * s_w + n * d_w - p_w
                                if 0 <= row < g.OH and 0 <= col < g.OW:
                                    dy = dY[n_img, group * Fg + f, row, col]
                                    dX[n_img, c, i, j] += dy * Wt[c, f, m, n]
                                    dW[c, f, m, n] += dy * X[n_img, c, i, j]
    db = dY.sum(axis=(0, 2, 3)).astype(dtype) if bias else None
    return dX, dW, db
