"""Upsampling (and downsampling) by ``interpolate``: nearest and bilinear, as PyTorch, with backward.

Shapes: input (N, C, H, W) → output (N, C, OH, OW), given ``size`` = (OH, OW), or
``scale_factor`` = (sh, sw) with ``OH = floor(H * sh)``, ``OW = floor(W * sw)``.

Each output row i reads input rows chosen along H alone, and each column along W
alone, so the op is one rule per axis.  For one axis of input length ``n`` and output
length ``o``, PyTorch's rule (``torch.nn.functional.interpolate``; ``recompute_scale_factor``
None: the ``scale_factor`` given is the one used, not ``n / o``):

nearest
    ``src(i) = min(floor(i * r), n - 1)`` with ``r = 1 / scale_factor`` when it was
    given, else ``n / o``, ``r`` and the product in float32 (both dtypes, as PyTorch);
    ``src(i) = i`` when ``o = n`` and ``i // 2`` when ``o = 2n``.
    ``Y[i, j] = X[src_h(i), src_w(j)]``.

bilinear
    ``align_corners=False`` (the default): the pixel centres line up,
    ``s(i) = max(r * (i + 0.5) - 0.5, 0)``, r as above;
    ``align_corners=True``: the corner pixels line up, ``s(i) = i * (n - 1) / (o - 1)``
    (0 when o = 1), the scale factor then sets only the size.
    Then ``i0 = min(floor(s), n - 1)``, ``i1 = min(i0 + 1, n - 1)``, ``l1 = s - i0``
    (within 0..1), ``l0 = 1 - l1``; when ``o = n``, ``s(i) = i``.  With (h0, h1, a0, a1)
    along H and (w0, w1, b0, b1) along W::

        Y[i, j] = a0 * (b0 * X[h0, w0] + b1 * X[h0, w1]) + a1 * (b0 * X[h1, w0] + b1 * X[h1, w1])

    computed in the input's dtype, in that order, as PyTorch's CPU kernel.

Backward: each output cell sends its gradient back to the cells it read, times the
weight it read them with (``dX[h0, w0] += a0 * b0 * dY[i, j]``, ...; nearest: weight 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnncli.engine._checks import as_float_array, check_ndim
from cnncli.errors import ParameterError, ShapeError

MODES = ("nearest", "bilinear")

Size = int | tuple[int, int] | list[int]
Scale = float | tuple[float, float] | list[float]


@dataclass(frozen=True)
class Axis:
    """How one axis is resampled: output cell i reads ``i0[i]`` with weight ``l0[i]`` and
    ``i1[i]`` with weight ``l1[i]`` (nearest: ``i1 = i0``, ``l0 = 1``, ``l1 = 0``)."""

    i0: np.ndarray  # (o,) int64
    i1: np.ndarray  # (o,) int64
    l0: np.ndarray  # (o,) the input's dtype
    l1: np.ndarray  # (o,)


def interpolate(
    input: np.ndarray,
    size: Size | None = None,
    scale_factor: Scale | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
) -> np.ndarray:
    """Resize (N, C, H, W) maps to (N, C, OH, OW), as ``torch.nn.functional.interpolate``.

    Shapes: input (N, C, H, W) → (N, C, OH, OW); give ``size`` (an int or (OH, OW)) or
    ``scale_factor`` (a number or (sh, sw): ``OH = floor(H * sh)``), not both.
    ``mode`` is "nearest" or "bilinear"; ``align_corners`` (bilinear only) defaults
    to False.  ``recompute_scale_factor=True`` uses ``H / OH`` instead of ``1 / sh``.

    Formula (see the module docstring for the source indices and weights):
    nearest ``Y[i, j] = X[src_h(i), src_w(j)]``; bilinear
    ``Y[i, j] = a0 (b0 X[h0, w0] + b1 X[h0, w1]) + a1 (b0 X[h1, w0] + b1 X[h1, w1])``.
    """
    x = as_float_array(input)
    check_ndim(x, 4, "input", "(N, C, H, W)")
    ah, aw = _axes(
        x.shape, x.dtype, size, scale_factor, mode, align_corners, recompute_scale_factor
    )
    if mode == "nearest":
        return np.ascontiguousarray(x[:, :, ah.i0][:, :, :, aw.i0])
    rows0, rows1 = x[:, :, ah.i0], x[:, :, ah.i1]  # (N, C, OH, W)
    top = rows0[..., aw.i0] * aw.l0 + rows0[..., aw.i1] * aw.l1  # (N, C, OH, OW)
    bottom = rows1[..., aw.i0] * aw.l0 + rows1[..., aw.i1] * aw.l1
    return np.asarray(top * ah.l0[:, None] + bottom * ah.l1[:, None])


def interpolate_backward(
    grad_output: np.ndarray,
    input_shape: tuple[int, ...],
    size: Size | None = None,
    scale_factor: Scale | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
) -> np.ndarray:
    """Gradient of :func:`interpolate` with respect to its input.

    Shapes: grad_output (N, C, OH, OW), ``input_shape`` (N, C, H, W) → dx (N, C, H, W).

    Formula: each output cell's gradient goes back to the cells it read, times their
    weights: along W, ``dZ[..., w0[j]] += b0[j] * dY[..., j]`` and
    ``dZ[..., w1[j]] += b1[j] * dY[..., j]``; then the same along H from dZ to dX.
    """
    g = as_float_array(grad_output, "grad_output")
    check_ndim(g, 4, "grad_output", "(N, C, OH, OW)")
    if len(input_shape) != 4:
        raise ShapeError(f"input_shape must be 4-D (N, C, H, W), got {tuple(input_shape)}")
    ah, aw = _axes(
        tuple(input_shape), g.dtype, size, scale_factor, mode, align_corners, recompute_scale_factor
    )
    N, C, H, W = (int(s) for s in input_shape)
    want = (N, C, len(ah.i0), len(aw.i0))
    if g.shape != want:
        raise ShapeError(f"grad_output has shape {g.shape} but interpolate's output is {want}")
    dz = np.zeros((N, C, want[2], W), dtype=g.dtype)  # through the W axis: (N, C, OH, W)
    _scatter(dz, aw, g, axis=3)
    dx = np.zeros((N, C, H, W), dtype=g.dtype)
    _scatter(dx, ah, dz, axis=2)
    return dx


def interpolate_output_size(
    input_shape: tuple[int, ...], size: Size | None = None, scale_factor: Scale | None = None
) -> tuple[int, int]:
    """(OH, OW) of :func:`interpolate`: ``size``, or ``floor(H * sh)``, ``floor(W * sw)``."""
    out, _ = _sizes(tuple(input_shape), size, scale_factor)
    return out


def _scatter(dst: np.ndarray, a: Axis, src: np.ndarray, axis: int) -> None:
    """``dst[..., a.i0[j], ...] += a.l0[j] * src[..., j, ...]`` and the same for i1, l1."""
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    for idx, weight in ((a.i0, a.l0), (a.i1, a.l1)):
        index: list[Any] = [slice(None)] * 4
        index[axis] = idx
        np.add.at(dst, tuple(index), src * weight.reshape(shape))


def _sizes(
    shape: tuple[int, ...], size: Size | None, scale_factor: Scale | None
) -> tuple[tuple[int, int], tuple[float, float] | None]:
    """((OH, OW), the scale factors given or None), checked as PyTorch checks them."""
    if len(shape) != 4:
        raise ShapeError(f"input must be 4-D (N, C, H, W), got {len(shape)}-D with shape {shape}")
    H, W = int(shape[2]), int(shape[3])
    if size is not None and scale_factor is not None:
        raise ParameterError("only one of size or scale_factor should be defined, as in PyTorch")
    if size is None and scale_factor is None:
        raise ParameterError("either size or scale_factor should be defined")
    scales: tuple[float, float] | None = None
    if size is not None:
        oh, ow = _two(size, "size", int)
    else:
        scales = _two(scale_factor, "scale_factor", float)
        if not all(math.isfinite(s) for s in scales):
            raise ParameterError(f"scale_factor must be finite, got {scale_factor!r}")
        oh, ow = int(H * scales[0]), int(W * scales[1])  # PyTorch truncates the product
    if min(H, W, oh, ow) < 1:
        raise ShapeError(
            f"input and output sizes should be greater than 0, but got input (H: {H}, W: {W}) "
            f"output (H: {oh}, W: {ow})"
        )
    return (oh, ow), scales


def _two(value: object, name: str, kind: type) -> tuple[Any, Any]:
    """(h, w) from a number or a pair of numbers; ``kind`` int (sizes) or float (scales)."""
    ok = (int, np.integer) if kind is int else (int, float, np.integer, np.floating)
    if isinstance(value, ok) and not isinstance(value, bool):
        return (kind(value), kind(value))
    items = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(items) == 2 and all(isinstance(v, ok) and not isinstance(v, bool) for v in items):
        return (kind(items[0]), kind(items[1]))
    what = "an integer or a pair of integers" if kind is int else "a number or a pair of numbers"
    raise ParameterError(f"{name} must be {what}, got {value!r}")


def _axes(
    shape: tuple[int, ...],
    dtype: np.dtype,
    size: Size | None,
    scale_factor: Scale | None,
    mode: str,
    align_corners: bool | None,
    recompute_scale_factor: bool | None,
) -> tuple[Axis, Axis]:
    """The H and W rules of one call, its arguments checked."""
    if mode not in MODES:
        raise ParameterError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if align_corners is not None and mode == "nearest":
        raise ParameterError(
            "align_corners can only be set with the interpolating mode bilinear, as in PyTorch"
        )
    (oh, ow), scales = _sizes(shape, size, scale_factor)
    if recompute_scale_factor:
        scales = None
    H, W = int(shape[2]), int(shape[3])
    sh, sw = (None, None) if scales is None else scales
    if mode == "nearest":
        return _nearest_axis(H, oh, sh, dtype), _nearest_axis(W, ow, sw, dtype)
    corners = bool(align_corners)
    return _linear_axis(H, oh, sh, corners, dtype), _linear_axis(W, ow, sw, corners, dtype)


def _nearest_axis(n: int, o: int, scale: float | None, dtype: np.dtype) -> Axis:
    """``src(i) = min(floor(i * r), n - 1)``, r and the product in float32 (PyTorch's nearest_idx)."""
    i = np.arange(o)
    if o == n:
        src = i
    elif o == 2 * n:
        src = i >> 1
    else:
        r = np.float32(n) / np.float32(o)  # float32 / float32, as C++ float division
        if scale is not None and scale > 0:
            r = np.float32(1.0 / scale)
        src = np.minimum(np.floor(i.astype(np.float32) * r).astype(np.int64), n - 1)
    ones, zeros = np.ones(o, dtype=dtype), np.zeros(o, dtype=dtype)
    return Axis(src, src, ones, zeros)


def _linear_axis(n: int, o: int, scale: float | None, align_corners: bool, dtype: np.dtype) -> Axis:
    """Source indices and weights of bilinear along one axis, in the dtype (PyTorch's opmath)."""
    t = dtype.type
    i = np.arange(o)
    if o == n:  # PyTorch copies the axis as it is, whatever the scale factor
        return Axis(i, i, np.ones(o, dtype=dtype), np.zeros(o, dtype=dtype))
    if align_corners:
        r = t(n - 1) / t(o - 1) if o > 1 else t(0)
        src = r * i.astype(dtype)
    else:
        r = t(1.0 / scale) if scale is not None and scale > 0 else t(n) / t(o)
        src = np.maximum(r * (i.astype(dtype) + t(0.5)) - t(0.5), t(0))
    # PyTorch floors in float32 (floorf) also for float64.
    i0 = np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n - 1)
    l1 = np.clip(src - i0.astype(dtype), t(0), t(1)).astype(dtype)
    i1 = i0 + (i0 < n - 1)
    return Axis(i0, i1, (t(1) - l1).astype(dtype), l1)
