"""2-D convolution (cross-correlation, as PyTorch computes it), forward and backward.

Shapes: input X (N, C, H, W), weight W (F, C/groups, KH, KW), bias b (F,) →
output Y (N, F, OH, OW) with, per axis (see :mod:`cnncli.engine.shapes`)::

    OH = floor((H + top + bottom - dilation*(KH - 1) - 1) / stride) + 1

Forward, the seed's formula (Xp the padded input, s the stride, d the dilation; the
sum runs over the C/groups input channels c of filter f's group)::

    Y[n, f, i, j] = b[f] + sum_{c, m, k} Xp[n, c, i*s + m*d, j*s + k*d] * W[f, c, m, k]

Backward, given dY = dL/dY, its three gradients::

    dL/dW[f, c, m, k] = sum_{n, i, j} dY[n, f, i, j] * Xp[n, c, i*s + m*d, j*s + k*d]
    dL/dXp[n, c, i*s + m*d, j*s + k*d] += sum_f dY[n, f, i, j] * W[f, c, m, k]
    dL/db[f] = sum_{n, i, j} dY[n, f, i, j]

(the gradient of a weight is the input under it weighted by the output gradient,
summed over every place the kernel visits; an input cell gets back the weights it
was multiplied by; dL/dXp is cropped, or folded back for non-zero padding modes).
For one channel, stride 1 and dilation 1 they are the seed's
``Y[i, j] = sum_{m,n} X[i + m, j + n] * W[m, n] + b`` and
``dL/dW[m, n] = sum_{i,j} dL/dY[i, j] * X[i + m, j + n]``.

How it is computed here: "im2col" lays every receptive field out as one column of a
matrix X_col (Cg*KH*KW, N*OH*OW), so that the whole sum over (c, m, k) is one matrix
product W_col @ X_col per group; the backward is the same product turned around
(dW = dY_col @ X_col^T, dX_col = W_col^T @ dY_col, then "col2im" adds each column
back where it was read from).  The literal loops over the same formulas are
:mod:`cnncli.engine.reference.conv` (``conv2d_naive``, ``conv2d_backward_naive``);
the tests hold this module equal to them and to PyTorch.

On the "fast" engine path (:mod:`cnncli.engine.switch`) one dispatch in each of
:func:`conv2d` and :func:`conv2d_backward` hands the call to a tuned method of
:mod:`cnncli.engine.fast.conv` (Winograd, shift-and-add, tiled im2col, ...);
:func:`conv2d_method` names the method a call uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnncli.engine._checks import as_float_array, result_dtype
from cnncli.engine.fast import conv as fast
from cnncli.engine.fast.conv import Method
from cnncli.engine.pad import pad, pad_backward
from cnncli.engine.shapes import (
    PADDING_MODES,
    Conv2dGeometry,
    IntOrPair,
    PaddingArg,
    conv2d_geometry,
)
from cnncli.engine.switch import fast_enabled
from cnncli.errors import ParameterError, ResourceLimitError, ShapeError

#: Refuse outright an output or padded input larger than this (bytes); NumPy could not
#: allocate it and would fail with its own error.
MAX_ARRAY_BYTES = 2**40

Pads = tuple[int, int, int, int]


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
        method = _forward_method(a)  # _forward below, or a tuned path of fast/conv.py
        y = method.run(a.x, a.w, a.b, a.geom, a.zero_pads)
        return y.astype(a.dtype, copy=False)


def _forward_method(a: _Args) -> Method:
    """The one dispatch: a tuned method where :func:`fast.choose` says one fits, else im2col."""
    if fast_enabled() and (method := fast.choose(a.geom, a.x, a.w, a.zero_pads)) is not None:
        return method
    return Method("plain: im2col + matrix product", _forward)


def _forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: Conv2dGeometry, pads: Pads
) -> np.ndarray:
    """im2col, then one matrix product per group: (Fg, K) @ (K, N*OH*OW), K = Cg*KH*KW."""
    G, Fg, K = g.groups, g.F // g.groups, (g.C // g.groups) * g.KH * g.KW
    X_col = _im2col(x, g, pads)  # (G, K, N*OH*OW)
    W_col = w.reshape(G, Fg, K)  # row f: filter f's weights, in X_col's (c, m, k) order
    Y = W_col @ X_col  # (G, Fg, N*OH*OW): the sum over (c, m, k), every output at once
    Y = Y.reshape(G, Fg, g.N, g.OH, g.OW).transpose(2, 0, 1, 3, 4)  # (N, G, Fg, OH, OW)
    Y = np.ascontiguousarray(Y).reshape(g.N, g.F, g.OH, g.OW)
    if b is not None:
        Y += b[:, None, None]
    return Y


def _im2col(x: np.ndarray, g: Conv2dGeometry, pads: Pads) -> np.ndarray:
    """Every receptive field as a column: (N, C, H, W) → X_col (G, Cg*KH*KW, N*OH*OW).

    ``X_col[grp, (c, m, k), (n, i, j)] = Xp[n, grp*Cg + c, i*s_h + m*d_h, j*s_w + k*d_w]``.
    """
    (sh, sw), (dh, dw) = g.stride, g.dilation
    xp = pad(x, pads, "zeros") if any(pads) else x  # (N, C, Hp, Wp)
    # Every (dh*(KH-1)+1) x (dw*(KW-1)+1) window, a view (no copy): (N, C, Hp', Wp', span_h, span_w)
    win = sliding_window_view(xp, ((g.KH - 1) * dh + 1, (g.KW - 1) * dw + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]  # stride and dilation: (N, C, OH, OW, KH, KW)
    win = win.reshape(g.N, g.groups, g.C // g.groups, g.OH, g.OW, g.KH, g.KW)
    cols = win.transpose(1, 2, 5, 6, 0, 3, 4)  # (G, Cg, KH, KW, N, OH, OW)
    return cols.reshape(g.groups, -1, g.N * g.OH * g.OW)  # the copy: (G, K, N*OH*OW)


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

    dXp is cropped for zero padding, or sent through :func:`cnncli.engine.pad.pad_backward`
    for reflect/replicate/circular.  The naive loop version is
    :func:`cnncli.engine.reference.conv.conv2d_backward_naive`.
    """
    args = (grad_output, input, weight, stride, padding, dilation, groups, padding_mode)
    a, gy, dtype = _backward_args(*args)
    with _backward_guard(a, dtype) as ct:
        gy, x, w = gy.astype(ct, copy=False), a.x.astype(ct, copy=False), a.w.astype(ct, copy=False)
        db = gy.sum(axis=(0, 2, 3)).astype(dtype, copy=False) if bias else None
        method = _backward_method(a, gy, x, w)  # _backward below, or a tuned path of fast/conv.py
        dxp, dw = method.run(gy, x, w, a.geom, a.zero_pads)
        # Non-zero modes padded the input by copying cells: fold those gradients back.
        dx = pad_backward(dxp, a.pads, a.mode) if a.mode != "zeros" and any(a.pads) else dxp
        return np.ascontiguousarray(dx, dtype=dtype), np.ascontiguousarray(dw, dtype=dtype), db


def conv2d_backward_weight(
    grad_output: np.ndarray,
    input: np.ndarray,
    weight: np.ndarray,
    stride: IntOrPair = 1,
    padding: PaddingArg = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    bias: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(dw, db)`` of :func:`conv2d` without dx, for an input that needs no gradient.

    The first layer of a network in training is such a layer: its input is the images,
    and PyTorch too skips dL/dX there (``requires_grad`` is False).  Formulas as in
    :func:`conv2d_backward`::

        dW = dY_col @ X_col^T      (per group: (Fg, N*OH*OW) @ (N*OH*OW, Cg*KH*KW))
        db[f] = sum_{n,i,j} dY[n, f, i, j]
    """
    args = (grad_output, input, weight, stride, padding, dilation, groups, padding_mode)
    a, gy, dtype = _backward_args(*args)
    with _backward_guard(a, dtype) as ct:
        gy, x = gy.astype(ct, copy=False), a.x.astype(ct, copy=False)
        db = gy.sum(axis=(0, 2, 3)).astype(dtype, copy=False) if bias else None
        # An input layer has few channels: on the fast path the flat image's product where
        # it fits (stride 1), else the plain im2col, not the channels-last tiles, which
        # copy one value at a time.
        if fast_enabled() and fast.weight_grad_fits(a.geom):
            dw = fast.backward_weight(gy, x, a.geom, a.zero_pads)
        else:
            dw = _backward_dw(gy, x, a.geom, a.zero_pads)
        return np.ascontiguousarray(dw, dtype=dtype), db


def _backward_method(a: _Args, gy: np.ndarray, x: np.ndarray, w: np.ndarray) -> Method:
    """The one dispatch of the backward: a tuned method where fast/conv.py says one fits."""
    if (
        fast_enabled()
        and (method := fast.choose_backward(a.geom, gy, x, w, a.zero_pads)) is not None
    ):
        return method
    return Method("plain: im2col + matrix products, col2im", _backward)


def _backward(
    gy: np.ndarray, x: np.ndarray, w: np.ndarray, g: Conv2dGeometry, pads: Pads
) -> tuple[np.ndarray, np.ndarray]:
    """(dx, dw) by im2col: dW = dY_col @ X_col^T, dX_col = W_col^T @ dY_col, then col2im."""
    return _backward_dx(gy, w, g, pads, x.shape, x.dtype), _backward_dw(gy, x, g, pads)


def _dy_col(gy: np.ndarray, g: Conv2dGeometry) -> np.ndarray:
    """dY laid out as X_col's columns: (N, F, OH, OW) → (G, Fg, N*OH*OW)."""
    G, Fg = g.groups, g.F // g.groups
    dY = gy.reshape(g.N, G, Fg, g.OH * g.OW).transpose(1, 2, 0, 3)  # (G, Fg, N, OH*OW)
    return dY.reshape(G, Fg, g.N * g.OH * g.OW)


def _backward_dw(gy: np.ndarray, x: np.ndarray, g: Conv2dGeometry, pads: Pads) -> np.ndarray:
    """dW = dY_col @ X_col^T: (G, Fg, N*OH*OW) @ (G, N*OH*OW, K) → (F, Cg, KH, KW)."""
    X_col = _im2col(x, g, pads)  # (G, K, N*OH*OW)
    dW = _dy_col(gy, g) @ X_col.transpose(0, 2, 1)  # (G, Fg, K): the sum over (n, i, j)
    return dW.reshape(g.F, g.C // g.groups, g.KH, g.KW)


def _backward_dx(
    gy: np.ndarray,
    w: np.ndarray,
    g: Conv2dGeometry,
    pads: Pads,
    shape: tuple[int, ...],
    dtype: np.dtype,
) -> np.ndarray:
    """dX_col = W_col^T @ dY_col (G, K, N*OH*OW), then col2im → dx of ``shape`` (N, C, H, W)
    (the input as convolved: other padding modes have padded it already)."""
    G, Fg, K = g.groups, g.F // g.groups, (g.C // g.groups) * g.KH * g.KW
    (sh, sw), (dh, dw_) = g.stride, g.dilation
    dX_col = w.reshape(G, Fg, K).transpose(0, 2, 1) @ _dy_col(gy, g)  # (G, K, N*OH*OW): sum over f
    # col2im: column (c, m, k) of dX_col adds into the input cells tap (m, k) read.
    dX_col = dX_col.reshape(g.C, g.KH, g.KW, g.N, g.OH, g.OW)  # channel c = grp*Cg + c'
    left, right, top, bottom = pads
    N, C, H, W = shape
    dxp = np.zeros((N, C, H + top + bottom, W + left + right), dtype=dtype)  # dL/dXp
    for m in range(g.KH):
        for k in range(g.KW):
            rows = slice(m * dh, m * dh + (g.OH - 1) * sh + 1, sh)
            cols = slice(k * dw_, k * dw_ + (g.OW - 1) * sw + 1, sw)
            dxp[:, :, rows, cols] += dX_col[:, m, k].transpose(1, 0, 2, 3)  # (N, C, OH, OW)
    return dxp[:, :, top : top + H, left : left + W]  # the zero padding's cells dropped


def conv2d_input_grad(grad_output: np.ndarray, weight: np.ndarray, g: Conv2dGeometry) -> np.ndarray:
    """dL/dX of a zero-padded conv2d alone, without dL/dW: the transposed convolution.

    Shapes: grad_output (N, F, OH, OW), weight (F, C/groups, KH, KW), ``g`` the
    convolution's geometry (its zero padding cropped) → (N, C, H, W), in the arrays' dtype::

        dX[n, c, i*s + m*d - p, j*s + k*d - p] += sum_f dY[n, f, i, j] * W[f, c, m, k]

    :func:`cnncli.engine.conv_transpose.conv_transpose2d` is this with the roles renamed.
    Both engine paths: the plain col2im, or on the fast path Winograd or the tiled im2col.
    """
    dtype = result_dtype(grad_output, weight)
    with np.errstate(invalid="ignore", over="ignore"):
        if fast_enabled():
            return fast.backward_input(grad_output, weight, g, g.padding).astype(dtype, copy=False)
        shape = (g.N, g.C, g.H, g.W)
        return _backward_dx(grad_output, weight, g, g.padding, shape, dtype)


def conv2d_weight_grad(grad_output: np.ndarray, input: np.ndarray, g: Conv2dGeometry) -> np.ndarray:
    """dL/dW of a zero-padded conv2d alone, without dL/dX.

    Shapes: grad_output (N, F, OH, OW), input (N, C, H, W), ``g`` the convolution's
    geometry → (F, C/groups, KH, KW), with
    ``dW[f, c, m, k] = sum_{n,i,j} dY[n, f, i, j] * Xp[n, c, i*s + m*d, j*s + k*d]``.
    Both engine paths: the plain im2col, or on the fast path Winograd or the tiled im2col.
    """
    dtype = result_dtype(grad_output, input)
    with np.errstate(invalid="ignore", over="ignore"):
        if fast_enabled():
            return fast.backward_weight(grad_output, input, g, g.padding).astype(dtype, copy=False)
        return _backward_dw(grad_output, input, g, g.padding).astype(dtype, copy=False)


def conv2d_method(
    input: np.ndarray,
    weight: np.ndarray,
    stride: IntOrPair = 1,
    padding: PaddingArg = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> str:
    """The method :func:`conv2d` uses for this call, e.g. "plain: im2col + matrix product"
    or "fast: Winograd F(2x2, 3x3)", from the same dispatch (so it cannot disagree).

    Naming costs what choosing costs: the data are read for the checks that depend
    on values (finite, moderate, a kernel repeated on every channel), and a Winograd
    weight transform is made (and remembered for the call itself).
    """
    a = _Args(input, weight, None, stride, padding, dilation, groups, padding_mode)
    return _forward_method(a).name


def conv2d_backward_method(
    grad_output: np.ndarray,
    input: np.ndarray,
    weight: np.ndarray,
    stride: IntOrPair = 1,
    padding: PaddingArg = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> str:
    """The method :func:`conv2d_backward` uses for this call, from the same dispatch."""
    args = (grad_output, input, weight, stride, padding, dilation, groups, padding_mode)
    a, gy, dtype = _backward_args(*args)
    ct = np.dtype(np.float32) if dtype == np.float16 else dtype
    gy, x, w = gy.astype(ct, copy=False), a.x.astype(ct, copy=False), a.w.astype(ct, copy=False)
    return _backward_method(a, gy, x, w).name


def conv2d_workspace_bytes(
    geometry: Conv2dGeometry, itemsize: int = 4, padding_mode: str = "zeros"
) -> int:
    """Temporary bytes a conv2d forward needs beyond its input, weight and output.

    ``geometry`` from :func:`cnncli.engine.shapes.conv2d_geometry` (groups counted),
    ``itemsize`` of the compute dtype (float16 computes in float32: 4).  On the plain
    path: the im2col matrix, every group's at once, N*C*KH*KW*OH*OW items, beside
    first the zero-padded input, N*C*(H + top + bottom)*(W + left + right), then the
    product before it is laid out NCHW, N*F*OH*OW.  On the fast path, a bound from
    the geometry alone on its tuned methods (:func:`cnncli.engine.fast.conv.workspace_bytes`).
    Other padding modes add their padded copy of the input.
    """
    g = geometry
    left, right, top, bottom = g.padding
    padded = g.N * g.C * (g.H + top + bottom) * (g.W + left + right) * itemsize
    if padding_mode != "zeros" and any(g.padding):
        # The mode's padded copy first, then a convolution of it without padding.
        unpadded = dataclasses.replace(
            g, H=g.H + top + bottom, W=g.W + left + right, padding=(0, 0, 0, 0)
        )
        return padded + conv2d_workspace_bytes(unpadded, itemsize)
    if fast_enabled():
        return fast.workspace_bytes(g, itemsize)
    cols = g.N * g.C * g.KH * g.KW * g.OH * g.OW * itemsize
    product = g.N * g.F * g.OH * g.OW * itemsize
    return cols + max(padded if any(g.padding) else 0, product)


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
            self.zero_pads: Pads = (0, 0, 0, 0)
        else:
            self.zero_pads = self.pads


def _backward_args(
    grad_output: object,
    input: object,
    weight: object,
    stride: IntOrPair,
    padding: PaddingArg,
    dilation: IntOrPair,
    groups: int,
    padding_mode: str,
) -> tuple[_Args, np.ndarray, np.dtype]:
    """Checked arguments of a backward call: (args, dY, the gradients' dtype)."""
    a = _Args(input, weight, None, stride, padding, dilation, groups, padding_mode)
    g = a.geom
    gy = as_float_array(grad_output, "grad_output")
    if gy.shape != (g.N, g.F, g.OH, g.OW):
        raise ShapeError(
            f"grad_output has shape {gy.shape} but conv2d's output is (N, F, OH, OW) = "
            f"{(g.N, g.F, g.OH, g.OW)}"
        )
    return a, gy, np.result_type(a.dtype, gy.dtype)


@contextmanager
def _backward_guard(a: _Args, dtype: np.dtype) -> Iterator[np.dtype]:
    """A backward's context: the dtype it computes in (``dtype``; float16 in float32, as
    PyTorch's CPU kernels), overflow warnings silenced, the memory guard."""
    ct = np.dtype(np.float32) if dtype == np.float16 else dtype
    with np.errstate(invalid="ignore", over="ignore"), _memory_guard(a, "conv2d_backward"):
        yield ct


@contextmanager
def _memory_guard(a: _Args, op: str) -> Iterator[None]:
    """Turn an impossible allocation into :class:`ResourceLimitError` naming the sizes."""
    g = a.geom
    out_bytes = g.N * g.F * g.OH * g.OW * a.ct.itemsize
    left, right, top, bottom = a.pads
    in_bytes = g.N * g.C * (g.H + top + bottom) * (g.W + left + right) * a.ct.itemsize
    work_bytes = conv2d_workspace_bytes(g, a.ct.itemsize, a.mode)
    what = (
        f"{op} of input {(g.N, g.C, g.H, g.W)} with weight {(g.F, g.C // g.groups, g.KH, g.KW)} "
        f"(output {(g.N, g.F, g.OH, g.OW)}: {out_bytes / 2**20:.0f} MiB, padded input "
        f"{in_bytes / 2**20:.0f} MiB, workspace {work_bytes / 2**20:.0f} MiB)"
    )
    if max(out_bytes, in_bytes, work_bytes) > MAX_ARRAY_BYTES:
        raise ResourceLimitError(f"{what} is too large to compute")
    try:
        yield
    except MemoryError:
        raise ResourceLimitError(f"{what} needs more memory than is available") from None
