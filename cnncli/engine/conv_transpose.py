"""2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d``, forward and backward.

Shapes: input X (N, C, H, W), weight W (C, F/groups, KH, KW) (input channels first,
as PyTorch keeps it), bias b (F,) → output Y (N, F, OH, OW) with, per axis (see
:func:`cnncli.engine.shapes.conv_transpose_output_size`)::

    OH = (H - 1)*stride - 2*padding + dilation*(KH - 1) + output_padding + 1

Forward: every input cell scatters its value times the kernel into the output, the
kernel's taps ``stride`` apart from one input cell to the next (s the stride, d the
dilation, p the padding; f runs over the F/groups output channels of c's group)::

    Y[n, f, i*s + m*d - p, j*s + k*d - p] += X[n, c, i, j] * W[c, f, m, k]
    Y[n, f, :, :] += b[f]

(positions outside 0 .. OH-1 are dropped: the padding crops the output).

It is conv2d's dL/dX.  Take the convolution with the same stride, dilation and groups
whose weight is W read as (C, F/groups, KH, KW), that is C filters on F input channels,
and whose output is (N, C, H, W).  Its input gradient, given dY, is (see
:mod:`cnncli.engine.conv`)::

    dL/dXp[n, f, i*s + m*d, j*s + k*d] += sum_c dY[n, c, i, j] * W[c, f, m, k]

the formula above with X in dY's place.  So conv_transpose2d(X) is that gradient with
dY = X, over the (H - 1)*s + d*(KH - 1) + 1 rows the kernel reaches, then rows p .. p + OH
(zeros past the end where output_padding adds more than the padding crops).  That is
why it is called the transposed convolution: as a matrix, it is the convolution's
matrix transposed, and the seed's dL/dX formula already computes it.

Backward, given dY = dL/dY (dYf: dY put back at rows p .. p + OH of the uncropped rows)::

    dL/dX[n, c, i, j] = sum_{f,m,k} dYf[n, f, i*s + m*d, j*s + k*d] * W[c, f, m, k]
    dL/dW[c, f, m, k] = sum_{n,i,j} X[n, c, i, j] * dYf[n, f, i*s + m*d, j*s + k*d]
    dL/db[f] = sum_{n,i,j} dY[n, f, i, j]

dL/dX is a conv2d of dYf with W (the convolution undoes its transpose), and dL/dW
that convolution's weight gradient with X as its output gradient.  So every part
reuses :mod:`cnncli.engine.conv`'s machinery, on both engine paths (Winograd and the
tiled im2col on the fast path).  The literal loops are
:func:`cnncli.engine.reference.conv.conv_transpose2d_naive` and
:func:`cnncli.engine.reference.conv.conv_transpose2d_backward_naive`.
"""

from __future__ import annotations

import numpy as np

from cnncli.engine._checks import as_float_array, result_dtype
from cnncli.engine.conv import conv2d, conv2d_input_grad, conv2d_weight_grad
from cnncli.engine.shapes import ConvTranspose2dGeometry, IntOrPair, conv_transpose2d_geometry
from cnncli.errors import ShapeError


def conv_transpose2d(
    input: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
) -> np.ndarray:
    """2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    Shapes: input (N, C, H, W), weight (C, F/groups, KH, KW), bias (F,) or None →
    (N, F, OH, OW), ``OH = (H - 1)*s - 2*p + d*(KH - 1) + output_padding + 1``.
    ``stride``, ``padding``, ``output_padding`` and ``dilation`` are an int or (h, w);
    output_padding must be smaller than the stride or the dilation, as in PyTorch.

    Formula: ``Y[n, f, i*s + m*d - p, j*s + k*d - p] += X[n, c, i, j] * W[c, f, m, k]``,
    plus ``b[f]``: conv2d's dL/dX with X as dY (see the module docstring).
    """
    x, w, g = _checked(input, weight, stride, padding, output_padding, groups, dilation)
    b = None if bias is None else as_float_array(bias, "bias")
    if b is not None and b.shape != (g.F,):
        raise ShapeError(f"bias must have shape (F,) = ({g.F},), got {b.shape}")
    dtype = result_dtype(x, w, b)
    ct = np.dtype(np.float32) if dtype == np.float16 else dtype  # float16: in float32
    x, w = x.astype(ct, copy=False), w.astype(ct, copy=False)
    full = conv2d_input_grad(x, w, g.conv)  # (N, F, HF, WF): every row the kernel reaches
    y = _crop(full, g)  # (N, F, OH, OW)
    if b is not None:
        y += b.astype(ct, copy=False)[:, None, None]
    return y.astype(dtype, copy=False)


def conv_transpose2d_backward(
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
    """Gradients of :func:`conv_transpose2d`: ``(dx, dw, db)`` (``db`` None when ``bias=False``).

    Shapes: grad_output (N, F, OH, OW), input (N, C, H, W), weight (C, F/groups, KH, KW)
    → dx (N, C, H, W), dw (C, F/groups, KH, KW), db (F,).

    Formulas (dYf: dY at rows p .. p + OH of the uncropped output, zeros elsewhere)::

        dX[n, c, i, j] = sum_{f,m,k} dYf[n, f, i*s + m*d, j*s + k*d] * W[c, f, m, k]
        dW[c, f, m, k] = sum_{n,i,j} X[n, c, i, j] * dYf[n, f, i*s + m*d, j*s + k*d]
        db[f] = sum_{n,i,j} dY[n, f, i, j]

    dX is ``conv2d(dYf, W, stride=s, dilation=d, groups=groups)``.
    """
    x, w, g = _checked(input, weight, stride, padding, output_padding, groups, dilation)
    gy = as_float_array(grad_output, "grad_output")
    if gy.shape != (g.N, g.F, g.OH, g.OW):
        raise ShapeError(
            f"grad_output has shape {gy.shape} but conv_transpose2d's output is "
            f"(N, F, OH, OW) = {(g.N, g.F, g.OH, g.OW)}"
        )
    dtype = result_dtype(gy, x, w)
    ct = np.dtype(np.float32) if dtype == np.float16 else dtype
    gy, x, w = gy.astype(ct, copy=False), x.astype(ct, copy=False), w.astype(ct, copy=False)
    dyf = _uncrop(gy, g)  # (N, F, HF, WF)
    dx = conv2d(dyf, w, None, g.stride, 0, g.dilation, g.groups)  # (N, C, H, W)
    dw = conv2d_weight_grad(x, dyf, g.conv)  # (C, F/groups, KH, KW)
    db = gy.sum(axis=(0, 2, 3)).astype(dtype, copy=False) if bias else None
    return dx.astype(dtype, copy=False), dw.astype(dtype, copy=False), db


def _checked(
    input: object,
    weight: object,
    stride: IntOrPair,
    padding: IntOrPair,
    output_padding: IntOrPair,
    groups: int,
    dilation: IntOrPair,
) -> tuple[np.ndarray, np.ndarray, ConvTranspose2dGeometry]:
    x = as_float_array(input, "input")
    w = as_float_array(weight, "weight")
    g = conv_transpose2d_geometry(
        x.shape, w.shape, stride, padding, output_padding, groups, dilation
    )
    return x, w, g


def _crop(full: np.ndarray, g: ConvTranspose2dGeometry) -> np.ndarray:
    """Rows ``p .. p + OH`` and columns ``p .. p + OW`` of ``full``, zeros past its end."""
    (ph, pw), HF, WF = g.padding, g.conv.H, g.conv.W
    if ph + g.OH <= HF and pw + g.OW <= WF:
        return np.ascontiguousarray(full[:, :, ph : ph + g.OH, pw : pw + g.OW])
    y = np.zeros((g.N, g.F, g.OH, g.OW), dtype=full.dtype)
    # output_padding beyond the cropped rows (none left when the padding passes HF)
    h, w = max(0, min(g.OH, HF - ph)), max(0, min(g.OW, WF - pw))
    y[:, :, :h, :w] = full[:, :, ph : ph + h, pw : pw + w]
    return y


def _uncrop(gy: np.ndarray, g: ConvTranspose2dGeometry) -> np.ndarray:
    """dY put back where :func:`_crop` took it: (N, F, OH, OW) → (N, F, HF, WF)."""
    (ph, pw), HF, WF = g.padding, g.conv.H, g.conv.W
    dyf = np.zeros((g.N, g.F, HF, WF), dtype=gy.dtype)
    h, w = max(0, min(g.OH, HF - ph)), max(0, min(g.OW, WF - pw))
    dyf[:, :, ph : ph + h, pw : pw + w] = gy[:, :, :h, :w]
    return dyf
