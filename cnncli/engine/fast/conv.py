"""The convolution's tuned paths: which one fits a call, and the small ones themselves.

:func:`choose` and :func:`choose_backward` are the one place that picks a tuned
method for :func:`cnncli.engine.conv.conv2d` and :func:`cnncli.engine.conv.conv2d_backward`,
in this order (the first that fits wins):

forward
    * 1x1 kernel, no zero padding: a plain matrix product over channels, nothing to gather;
    * one input channel per group (depthwise, a kernel on a grey image): shift-and-add,
      nothing for BLAS to multiply (:mod:`.shift_add`);
    * one kernel repeated on every channel (a named kernel on RGB): that kernel on the
      channels' sum, one map instead of C (:func:`.shift_add.conv_summed_channels`);
    * stride 1, one group, fewer than ``FLAT_MAX_CHANNELS`` input channels (LeNet's and
      TinyVGG's layers, a first layer on RGB): im2col on the flattened padded image,
      where each tap's rows are one contiguous slice (:mod:`.flat_shift`), unless that
      grid holds ``FLAT_MAX_WASTE`` times the outputs (then the NCHW windows below);
    * 3x3 or 5x5, stride 1, many channels, finite moderate values: Winograd F(2x2, r x r),
      2.25x and 2.8x fewer multiplications (Lavin and Gray, "Fast Algorithms for
      Convolutional Neural Networks", 2015, https://arxiv.org/abs/1509.09308; :mod:`.winograd`);
    * one group, one image's columns within ``windows.MAX_IMAGE_BYTES`` (strided first
      layers on RGB, ResNet's strided layers and its 7x7 maps): the plain im2col on the
      NCHW windows, a chunk of images at a time (:mod:`.windows`);
    * else (groups, a large photo) the tiled, chunked im2col on channels-last input:
      bounded memory, NCHW output written in place (:mod:`.im2col`).

backward
    * one input channel per group: shift-and-add, tap by tap (:mod:`.shift_add`);
    * dW alone (:func:`backward_weight`, an input layer's): Winograd, the flat image, or
      for strided layers the NCHW windows, where they fit;
    * stride 1, one group, few input channels: the flat image's matrix products, and
      col2im as KH*KW additions of contiguous slices (:mod:`.flat_shift`); where the
      forward takes the NCHW windows, their products and col2im (:mod:`.windows`);
    * else dX by Winograd (a stride-1 convolution of dY with the turned kernel) and dW by
      Winograd F(r x r, 2 x 2) where each fits, the tiled im2col and col2im for the rest.

Each method is a :class:`Method`: its name (what ``conv2d_method`` reports) and the
function that computes.  Shapes follow :mod:`cnncli.engine.conv`; ``pads`` is the zero
padding (left, right, top, bottom) still to apply (other padding modes have padded x).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnncli.engine.fast import flat_shift, im2col, shift_add, windows, winograd
from cnncli.engine.fast.winograd import Winograd, moderate, transformed_weight
from cnncli.engine.shapes import Conv2dGeometry, conv2d_geometry

Pads = tuple[int, int, int, int]

#: Shift-and-add is used when each group has one input channel and at most this many filters.
SHIFT_ADD_MAX_FILTERS = 4
#: Winograd is used from this many input channels and filters and this many 2x2 output
#: tiles: below them its transforms cost more than the multiplications saved (see
#: benchmarks/README.md, decision table).
WINOGRAD_MIN_CHANNELS = 64
WINOGRAD_MIN_TILES = 32
#: The flat image's im2col is used below this many input channels (stride 1, one group):
#: there the channels-last tiles copy runs of Cg values, the plain windows runs of OW
#: (see benchmarks/README.md, decision table).
FLAT_MAX_CHANNELS = 64
#: The flat image computes Hp*Wp / (OH*OW) grid columns per output.  From this factor on
#: (LeNet's 5x5 layer on 14x14 maps: 1.96) the NCHW windows, which compute no column in
#: vain, are used instead: the forward on them, and dW (see benchmarks/README.md,
#: decision table).
FLAT_MAX_WASTE = 1.5


@dataclass(frozen=True)
class Method:
    """One way to compute a call: ``name`` (e.g. "fast: Winograd F(2x2, 3x3)") and ``run``.

    Forward: ``run(x, w, b, g, pads) -> y`` (N, F, OH, OW), bias added.  Backward:
    ``run(gy, x, w, g, pads) -> (dx, dw)``, dx of the (mode-padded) x as given.
    """

    name: str
    run: Callable[..., Any]


def choose(g: Conv2dGeometry, x: np.ndarray, w: np.ndarray, pads: Pads) -> Method | None:
    """The tuned forward for this call (see the module docstring), or None for the plain one."""
    cg, fg = g.C // g.groups, g.F // g.groups
    # 1x1 kernel: a plain matrix product over channels, nothing to gather.
    if g.KH == 1 and g.KW == 1 and not any(pads):
        return Method("fast: 1x1 kernel as a matrix product", _conv1x1)
    # One input channel per group: no sum over channels, nothing for BLAS to multiply.
    if cg == 1 and fg <= SHIFT_ADD_MAX_FILTERS:
        return Method("fast: shift-and-add", shift_add.conv_shift_add)
    # A kernel repeated on every channel: the kernel on the channels' sum, one map not C.
    if _channel_uniform(w, g) and moderate(x):
        return Method(
            "fast: one kernel on the channels' sum, shift-and-add", shift_add.conv_summed_channels
        )
    # Stride 1, few channels: every tap one contiguous slice of the flattened padded image
    # (unless the grid wastes too much: then the windows below).
    if _flat_fits(g) and not _flat_wasteful(g):
        return Method("fast: im2col on the flat padded image", flat_shift.conv_flat)
    # 3x3/5x5, stride 1, many channels: Winograd F(2x2, r x r), fewer multiplications
    # (Lavin and Gray 2015, https://arxiv.org/abs/1509.09308); finite moderate values only.
    if (
        (t := _winograd_for(g)) is not None
        and moderate(x)
        and (u := transformed_weight(w, t)) is not None
    ):

        def by_winograd(
            x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: Conv2dGeometry, pads: Pads
        ) -> np.ndarray:
            return _conv_winograd(x, u, b, g, pads, t)  # the weight as transformed above

        return Method(f"fast: Winograd F(2x2, {t.r}x{t.r})", by_winograd)
    # One group: the plain im2col on the NCHW windows, by chunks of whole images.
    if _windows_fit(g):
        return Method("fast: im2col on the NCHW windows, by chunks of images", windows.conv_windows)
    # Else im2col on channels-last input in chunks: bounded memory, NCHW output in place.
    return Method("fast: tiled im2col + matrix product", im2col.conv_gemm)


def choose_backward(
    g: Conv2dGeometry, gy: np.ndarray, x: np.ndarray, w: np.ndarray, pads: Pads
) -> Method | None:
    """The tuned backward for this call (see the module docstring), or None for the plain one."""
    # One input channel per group: tap by tap, nothing for BLAS to multiply.
    if g.groups == g.C:
        return Method("fast: shift-and-add", shift_add.backward_shift_add)
    # Stride 1, few channels, small maps: the windows' products, col2im by runs.
    if _flat_fits(g) and _flat_wasteful(g):
        return Method(
            "fast: matrix products on the NCHW windows, col2im by runs", _backward_windows
        )
    # Stride 1, few channels: the flat image's products, col2im by contiguous slices.
    if _flat_fits(g):
        return Method(
            "fast: flat-image matrix products, col2im by slices", flat_shift.backward_flat
        )
    # dX is a stride-1 convolution of dY with the turned kernel, dW a correlation of x
    # with dY: each by Winograd where it fits, else the tiled im2col and col2im.
    dx_plan = _winograd_dx_plan(gy, w, g, pads)
    dw_by_winograd = _winograd_for(g) is not None and moderate(gy) and moderate(x)
    if dx_plan is None and not dw_by_winograd:
        return Method("fast: tiled im2col + matrix products, col2im", im2col.backward_gemm)
    r = g.KH
    dx_name = "im2col + col2im" if dx_plan is None else f"Winograd F(2x2, {r}x{r})"
    dw_name = f"Winograd F({r}x{r}, 2x2)" if dw_by_winograd else "im2col"

    def by_winograd(
        gy: np.ndarray, x: np.ndarray, w: np.ndarray, g: Conv2dGeometry, pads: Pads
    ) -> tuple[np.ndarray, np.ndarray]:
        dxp = None if dx_plan is None else _conv_winograd(gy, *dx_plan)
        dw = _backward_dw_winograd(gy, x, g, pads) if dw_by_winograd else None
        if dxp is None or dw is None:  # the tiled im2col makes what Winograd does not
            dx_gemm, dw_gemm = im2col.backward_gemm(
                gy, x, w, g, pads, need_dx=dxp is None, need_dw=dw is None
            )
            dxp = dx_gemm if dxp is None else dxp
            dw = dw_gemm if dw is None else dw
        assert dxp is not None and dw is not None
        return dxp, dw

    return Method(f"fast: dX by {dx_name}, dW by {dw_name}", by_winograd)


def backward_input(gy: np.ndarray, w: np.ndarray, g: Conv2dGeometry, pads: Pads) -> np.ndarray:
    """dx alone (the transposed convolution): Winograd where it fits, else the tiled im2col.

    Shapes: gy (N, F, OH, OW), w (F, C/groups, KH, KW) → dx (N, C, H, W) of the
    zero-unpadded input of geometry ``g``.
    """
    plan = _winograd_dx_plan(gy, w, g, pads)
    if plan is not None:
        return _conv_winograd(gy, *plan)
    # Only the input's shape and dtype are read when dW is not wanted: a broadcast zero.
    x = np.broadcast_to(np.zeros((), dtype=gy.dtype), (g.N, g.C, g.H, g.W))
    dx, _ = im2col.backward_gemm(gy, x, w, g, pads, need_dx=True, need_dw=False)
    assert dx is not None
    return dx


def backward_weight(gy: np.ndarray, x: np.ndarray, g: Conv2dGeometry, pads: Pads) -> np.ndarray:
    """dw alone: Winograd F(r x r, 2 x 2) where it fits, the flat image's product for
    few channels at stride 1, the NCHW windows' for strided layers, else the tiled im2col.

    Shapes: gy (N, F, OH, OW), x (N, C, H, W) → dw (F, C/groups, KH, KW).
    """
    dw = _backward_dw_winograd(gy, x, g, pads)
    if dw is None and (_flat_wasteful(g) if _flat_fits(g) else _windows_dw_fit(g)):
        dw = windows.weight_grad(gy, x, g, pads)
    if dw is None:
        w = np.broadcast_to(np.zeros((), dtype=x.dtype), (g.F, g.C // g.groups, g.KH, g.KW))
        run = flat_shift.backward_flat if _flat_fits(g) else im2col.backward_gemm
        _, dw = run(gy, x, w, g, pads, need_dx=False, need_dw=True)
    assert dw is not None
    return dw


def weight_grad_fits(g: Conv2dGeometry) -> bool:
    """Whether :func:`backward_weight` beats the plain im2col for an input layer's dW:
    with few channels at stride 1 (the flat image, where the plain windows copy runs of
    OW values and the channels-last tiles runs of C), or strided (the NCHW windows by
    chunks of images, where the plain path makes all the columns at once)."""
    return _flat_fits(g) or _windows_dw_fit(g)


def _conv1x1(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: Conv2dGeometry, pads: Pads
) -> np.ndarray:
    """A 1x1 kernel is a matrix product over channels: (G, Fg, Cg) @ (N, G, Cg, OH*OW)."""
    sh, sw = g.stride
    xs = x[:, :, : (g.OH - 1) * sh + 1 : sh, : (g.OW - 1) * sw + 1 : sw]
    cg, fg = g.C // g.groups, g.F // g.groups
    xs = xs.reshape(g.N, g.groups, cg, g.OH * g.OW)  # copies only when strided
    wk = w.reshape(g.groups, fg, cg)
    out = np.matmul(wk, xs)  # (N, G, Fg, OH*OW)
    out = out.reshape(g.N, g.F, g.OH, g.OW)
    if b is not None:
        out += b[None, :, None, None]
    return out


def _flat_fits(g: Conv2dGeometry) -> bool:
    """Stride 1, one group, fewer than :data:`FLAT_MAX_CHANNELS` input channels, not 1x1."""
    return flat_shift.fits(g) and g.C < FLAT_MAX_CHANNELS and (g.KH, g.KW) != (1, 1)


def _flat_wasteful(g: Conv2dGeometry) -> bool:
    """The padded grid holds at least ``FLAT_MAX_WASTE`` times the outputs, and the NCHW
    windows fit."""
    left, right, top, bottom = g.padding
    grid = (g.H + top + bottom) * (g.W + left + right)
    return grid >= FLAT_MAX_WASTE * g.OH * g.OW and _windows_fit(g)


def _backward_windows(
    gy: np.ndarray, x: np.ndarray, w: np.ndarray, g: Conv2dGeometry, pads: Pads
) -> tuple[np.ndarray, np.ndarray]:
    """dX and dW on the NCHW windows, where the flat grid would compute columns in vain."""
    return windows.input_grad(gy, w, g, pads, x.shape[2:]), windows.weight_grad(gy, x, g, pads)


def _windows_fit(g: Conv2dGeometry) -> bool:
    """One group, not 1x1, one image's columns within ``windows.MAX_IMAGE_BYTES``."""
    return (g.KH, g.KW) != (1, 1) and windows.fits(g)


def _windows_dw_fit(g: Conv2dGeometry) -> bool:
    """dW alone on the NCHW windows: as :func:`_windows_fit`, strided layers only (at stride
    1 the flat image, Winograd or the tiled im2col, as measured)."""
    return g.stride != (1, 1) and _windows_fit(g)


def _channel_uniform(w: np.ndarray, g: Conv2dGeometry) -> bool:
    """One group, at most ``SHIFT_ADD_MAX_FILTERS`` filters, each the same kernel on every channel.

    That is what a named 2-D kernel (sobel, gaussian, ...) becomes on an RGB image.
    """
    return (
        g.groups == 1 and g.C > 1 and g.F <= SHIFT_ADD_MAX_FILTERS and bool((w == w[:, :1]).all())
    )


def _winograd_for(g: Conv2dGeometry) -> Winograd | None:
    """The Winograd transform for this layer: an r x r kernel with r in :data:`BY_KERNEL`,
    stride 1, dilation 1, one group, and enough channels, filters and tiles; else None."""
    t = winograd.BY_KERNEL.get(g.KH) if g.KH == g.KW else None
    if t is None or (g.stride, g.dilation, g.groups) != ((1, 1), (1, 1), 1):
        return None
    tiles = g.N * -(-g.OH // t.m) * -(-g.OW // t.m)
    if min(g.C, g.F) < WINOGRAD_MIN_CHANNELS or tiles < WINOGRAD_MIN_TILES:
        return None
    return t


def _conv_winograd(
    x: np.ndarray,
    u: np.ndarray,
    b: np.ndarray | None,
    g: Conv2dGeometry,
    pads: Pads,
    t: Winograd,
) -> np.ndarray:
    """Stride-1 conv2d by Winograd F(2x2, r x r), see :mod:`cnncli.engine.fast.winograd`.

    ``u`` is the weight transformed by :func:`transformed_weight`.  The input is
    zero-padded into NHWC with as many more zero rows (columns) as make OH (OW) a
    whole number of m x m output tiles.
    """
    left, right, top, bottom = pads
    extra_h, extra_w = -g.OH % t.m, -g.OW % t.m
    xp = im2col.padded_nhwc(x, (left, right + extra_w, top, bottom + extra_h))
    return winograd.conv2d_winograd(xp, u, b, g.OH, g.OW, t)


def _winograd_dx_plan(
    gy: np.ndarray, w: np.ndarray, g: Conv2dGeometry, pads: Pads
) -> tuple[np.ndarray, None, Conv2dGeometry, Pads, Winograd] | None:
    """The arguments of :func:`_conv_winograd` that make dx, when the transposed problem
    qualifies for Winograd; else None.

    For stride 1 and dilation 1, dX is a convolution of dY with the kernel turned
    by 180° and its channel axes swapped, padded by K - 1 - p on each side::

        dXp[n, c, h, w] = Σ_{f,m,k} dYp[n, f, h + m, w + k] · W[f, c, K-1-m, K-1-k]

    Shapes: gy (N, F, OH, OW), w (F, C, K, K); the convolution gives (N, C, H, W) of
    the zero-unpadded input.  None when a padding exceeds K - 1 or Winograd does not apply.
    """
    if (g.stride, g.dilation, g.groups) != ((1, 1), (1, 1), 1) or g.KH != g.KW:
        return None
    left, right, top, bottom = (g.KH - 1 - p for p in pads)
    back = (left, right, top, bottom)
    if min(back) < 0:
        return None
    gb = conv2d_geometry(gy.shape, (g.C, g.F, g.KH, g.KW), 1, back)
    t = _winograd_for(gb)
    if t is None or not moderate(gy):
        return None
    turned = np.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])  # (C, F, K, K)
    u = transformed_weight(turned, t)
    return None if u is None else (u, None, gb, back, t)


def _backward_dw_winograd(
    gy: np.ndarray, x: np.ndarray, g: Conv2dGeometry, pads: Pads
) -> np.ndarray | None:
    """dW by Winograd F(r x r, 2 x 2) when the layer runs by Winograd, else None.

    Shapes: gy (N, F, OH, OW), x (N, C, H, W) → (F, C, r, r); see
    :func:`cnncli.engine.fast.winograd.conv2d_weight_winograd`.
    """
    if _winograd_for(g) is None or not (moderate(gy) and moderate(x)):
        return None
    left, right, top, bottom = pads
    xp = im2col.padded_nhwc(x, (left, right + g.OW % 2, top, bottom + g.OH % 2))
    return winograd.conv2d_weight_winograd(xp, gy, winograd.WEIGHT_GRAD_BY_KERNEL[g.KH])


def workspace_bytes(g: Conv2dGeometry, itemsize: int = 4) -> int:
    """A bound, from the geometry alone, on the temporary bytes of the tuned forward.

    Zero padding (the caller pads for other modes); C-contiguous input.  Where the
    choice depends on the values (a kernel repeated on every channel, Winograd's
    finite moderate inputs), the larger of the candidates.  Groups counted.
    """
    cg, fg = g.C // g.groups, g.F // g.groups
    if g.KH == 1 and g.KW == 1 and not any(g.padding):
        return g.N * g.C * g.OH * g.OW * itemsize if g.stride != (1, 1) else 0  # strided copy
    if cg == 1 and fg <= SHIFT_ADD_MAX_FILTERS:
        return shift_add.workspace_bytes(g, itemsize)
    if _flat_fits(g) and not _flat_wasteful(g):  # unless the channels' sum below is chosen
        total = flat_shift.workspace_bytes(g, itemsize)
    elif _windows_fit(g):
        total = windows.workspace_bytes(g, itemsize)
    else:
        total = im2col.workspace_bytes(g, itemsize)
    if g.groups == 1 and g.C > 1 and g.F <= SHIFT_ADD_MAX_FILTERS:  # maybe the channels' sum
        summed = g.N * g.H * g.W * itemsize
        total = max(
            total, summed + shift_add.workspace_bytes(dataclasses.replace(g, C=1), itemsize)
        )
    if (t := _winograd_for(g)) is not None:
        total = max(total, _winograd_workspace(g, t, itemsize))
    return total


def _winograd_workspace(g: Conv2dGeometry, t: Winograd, itemsize: int) -> int:
    """Padded NHWC input in whole tiles, the remembered weight and its transform, and the
    largest chunk's transformed input V, products M, output tiles and their NCHW copy."""
    th, tw = -(-g.OH // t.m), -(-g.OW // t.m)
    xp = g.N * g.C * (t.m * th + t.r - 1) * (t.m * tw + t.r - 1)
    n2 = t.n * t.n
    weights = g.F * g.C * (2 * t.r * t.r + n2)  # the copy kept, the taps, U
    rows = max(1, winograd.CHUNK_BYTES // max(1, n2 * (g.C + g.F) * itemsize * tw))
    # The largest of winograd._tile_chunks(N, th, rows), without listing them.
    T = (min(g.N, rows // th) * th if rows >= th else rows) * tw
    return (xp + weights + T * (n2 * (g.C + g.F) + 2 * t.m * t.m * g.F)) * itemsize
