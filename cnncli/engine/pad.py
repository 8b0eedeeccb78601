"""Padding of the last one or two dimensions, forward and backward, as ``F.pad``.

Shapes: input (..., H, W) with ``pad = (left, right, top, bottom)`` →
(..., top + H + bottom, left + W + right); with ``pad = (left, right)`` only the
last dimension grows.

The same word names different borders in different libraries.  For the input
row ``a b c d`` padded by 2 on each side:

=========  ===================  ==============  ==================  ==================  =================
cnncli     result               NumPy np.pad    SciPy ndimage       OpenCV border       PyTorch F.pad
=========  ===================  ==============  ==================  ==================  =================
constant   ``v v|a b c d|v v``  'constant'      'constant'          BORDER_CONSTANT     'constant'
zeros      ``0 0|a b c d|0 0``  'constant'      'constant' (cval=0) BORDER_CONSTANT     'constant' (0)
reflect    ``c b|a b c d|c b``  'reflect'       'mirror'            BORDER_REFLECT_101  'reflect'
symmetric  ``b a|a b c d|d c``  'symmetric'     'reflect'           BORDER_REFLECT      (none)
replicate  ``a a|a b c d|d d``  'edge'          'nearest'           BORDER_REPLICATE    'replicate'
circular   ``c d|a b c d|a b``  'wrap'          'grid-wrap'         BORDER_WRAP         'circular'
=========  ===================  ==============  ==================  ==================  =================

So "reflect" leaves the edge out in NumPy, PyTorch and cnncli but repeats it in
SciPy (whose edge-free mode is "mirror"), and OpenCV's BORDER_REFLECT repeats
it too (BORDER_REFLECT_101, also called BORDER_DEFAULT, does not).

Limits, as PyTorch has them: reflect needs ``pad < size`` (the edge is not
repeated, so a size-``n`` axis has ``n - 1`` cells to mirror), symmetric and
circular need ``pad <= size`` (no second wrap), replicate needs a non-empty
axis.  Negative amounts (cropping in ``F.pad``) are refused.

Backward: every output cell is a copy of one input cell (or the constant), so
``pad_backward`` sums each output gradient into the cell it was copied from:
``dx[k] = sum of grad_output[i] over all i whose source is k``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cnncli.engine._checks import as_float_array
from cnncli.errors import ParameterError, ResourceLimitError, ShapeError

PAD_MODES = ("constant", "zeros", "reflect", "symmetric", "replicate", "circular")
#: Refuse outright a padded array larger than this (bytes).
MAX_ARRAY_BYTES = 2**40

# One "copy" step of a padded axis: out[dest] = out[src], reversed when flagged.
# Positions are in padded coordinates; src always lies in the centre (the input).
_Copy = tuple[slice, slice, bool]


def _check_mode(mode: str) -> str:
    if not isinstance(mode, str) or mode not in PAD_MODES:
        raise ParameterError(f"pad mode {mode!r} is not one of {', '.join(PAD_MODES)}")
    return mode


def _check_pad(pad: Sequence[int], ndim: int) -> tuple[int, ...]:
    """Return the amounts as ints; raise on a bad count, type, sign or input ndim."""
    try:
        amounts = tuple(pad)
    except TypeError:
        raise ParameterError(
            f"pad must be a sequence of 2 (left, right) or 4 (left, right, top, bottom) "
            f"integers, got {pad!r}"
        ) from None
    if len(amounts) not in (2, 4) or not all(
        not isinstance(v, bool) and hasattr(v, "__index__") for v in amounts
    ):
        raise ParameterError(
            f"pad must be 2 (left, right) or 4 (left, right, top, bottom) integers, got {pad!r}"
        )
    values = tuple(int(v) for v in amounts)
    if any(v < 0 for v in values):
        raise ParameterError(
            f"pad amounts must not be negative, got {values} "
            "(cropping with negative padding is not supported)"
        )
    dims = len(values) // 2
    if ndim < dims:
        raise ShapeError(
            f"pad with {len(values)} amounts acts on the last {dims} dimension(s) and needs "
            f"an input with at least {dims} dimension(s), got {ndim}-D"
        )
    return values


def _axis_copies(size: int, before: int, after: int, mode: str, axis: str) -> list[_Copy]:
    """The copy steps that fill the border of one axis, after validating the amounts."""
    if mode == "reflect" and (before >= size or after >= size) and (before or after):
        raise ParameterError(
            f"reflect padding ({before}, {after}) along {axis} must be less than the input "
            f"size {size} (the edge is not repeated, so only {size - 1} cell(s) can be mirrored)"
        )
    if mode in ("symmetric", "circular") and (before > size or after > size):
        raise ParameterError(
            f"{mode} padding ({before}, {after}) along {axis} must be at most the input "
            f"size {size}"
            + (" (it would wrap around more than once)" if mode == "circular" else "")
        )
    if mode == "replicate" and size == 0 and (before or after):
        raise ParameterError(f"replicate padding along {axis} needs a non-empty input, got size 0")
    b, n, a = before, size, after
    end = b + n  # one past the last input cell, in padded coordinates
    if mode == "reflect":
        return [
            (slice(0, b), slice(b + 1, 2 * b + 1), True),
            (slice(end, end + a), slice(end - 1 - a, end - 1), True),
        ]
    if mode == "symmetric":
        return [
            (slice(0, b), slice(b, 2 * b), True),
            (slice(end, end + a), slice(end - a, end), True),
        ]
    if mode == "replicate":
        return [
            (slice(0, b), slice(b, b + 1), False),
            (slice(end, end + a), slice(end - 1, end), False),
        ]
    # circular
    return [(slice(0, b), slice(n, n + b), False), (slice(end, end + a), slice(b, b + a), False)]


def _at(axis: int, s: slice) -> tuple[Any, ...]:
    """Index tuple selecting ``s`` along ``axis`` (-1 or -2)."""
    return (Ellipsis, s) if axis == -1 else (Ellipsis, s, slice(None))


def _flip(a: np.ndarray, axis: int) -> np.ndarray:
    return a[_at(axis, slice(None, None, -1))]


def pad(
    input: np.ndarray, pad: Sequence[int], mode: str = "constant", value: float = 0.0
) -> np.ndarray:
    """Pad the last dimension (2 amounts) or the last two (4 amounts), as ``F.pad``.

    Shapes: (..., H, W) → (..., top + H + bottom, left + W + right) for
    ``pad = (left, right, top, bottom)``; (..., W) → (..., left + W + right) for
    ``pad = (left, right)``.  ``mode`` is one of constant (filled with
    ``value``), zeros, reflect, symmetric, replicate, circular; the module
    docstring maps them to NumPy, SciPy, OpenCV and PyTorch.
    """
    mode = _check_mode(mode)
    x = as_float_array(input)
    amounts = _check_pad(pad, x.ndim)
    axes = [(-1, amounts[0], amounts[1], "W")]
    if len(amounts) == 4:
        axes.append((-2, amounts[2], amounts[3], "H"))
    shape = list(x.shape)
    copies = []
    for axis, before, after, name in axes:
        if mode not in ("constant", "zeros"):
            copies.append((axis, _axis_copies(x.shape[axis], before, after, mode, name)))
        shape[axis] += before + after
    fill = 0.0 if mode == "zeros" else value
    nbytes = math.prod(shape) * x.itemsize
    if nbytes > MAX_ARRAY_BYTES:
        raise ResourceLimitError(
            f"padding {tuple(x.shape)} by {amounts} gives {tuple(shape)}: "
            f"{nbytes / 2**20:.0f} MiB is too large"
        )
    try:
        out = np.empty(shape, dtype=x.dtype)
    except MemoryError:
        raise ResourceLimitError(
            f"padding {tuple(x.shape)} by {amounts} gives {tuple(shape)}: "
            f"{nbytes / 2**20:.0f} MiB, more memory than is available"
        ) from None
    if mode in ("constant", "zeros"):
        out.fill(fill)
    centre: list[Any] = [slice(None)] * x.ndim
    for axis, before, _after, _ in axes:
        centre[axis] = slice(before, before + x.shape[axis])
    out[tuple(centre)] = x
    # Fill W's border on the input rows first, then H's border from whole padded rows,
    # so that the corners come out as the composition of the two 1-D paddings.
    rows: list[Any] = [slice(None)] * x.ndim
    if len(axes) == 2:
        rows[-2] = centre[-2]
    for axis, steps in copies:
        view = out[tuple(rows)] if axis == -1 else out
        for dest, src, reverse in steps:
            if dest.stop - dest.start == 0:
                continue
            piece = view[_at(axis, src)]
            view[_at(axis, dest)] = _flip(piece, axis) if reverse else piece
    return out


def pad_backward(grad_output: np.ndarray, pad: Sequence[int], mode: str = "constant") -> np.ndarray:
    """Gradient of :func:`pad` with respect to its input.

    Shapes: grad_output (..., top + H + bottom, left + W + right) → dx (..., H, W).
    Each border cell's gradient is added to the input cell it was copied from
    (constant and zeros borders have none), so ``dx`` sums the centre and every
    mirrored, replicated or wrapped copy.
    """
    mode = _check_mode(mode)
    g = as_float_array(grad_output, "grad_output")
    amounts = _check_pad(pad, g.ndim)
    axes = [(-1, amounts[0], amounts[1], "W")]
    if len(amounts) == 4:
        axes.append((-2, amounts[2], amounts[3], "H"))
    for axis, before, after, name in axes:
        if g.shape[axis] < before + after:
            raise ShapeError(
                f"grad_output has size {g.shape[axis]} along {name}, less than the padding "
                f"{before} + {after}"
            )
    # Undo the forward steps in reverse order: H's border first, then W's.
    for axis, before, after, name in reversed(axes):
        size = g.shape[axis] - before - after
        inner = g[_at(axis, slice(before, before + size))]
        if mode in ("constant", "zeros"):
            g = inner
            continue
        dx = inner.copy()
        for dest, src, reverse in _axis_copies(size, before, after, mode, name):
            if dest.stop - dest.start == 0:
                continue
            part = g[_at(axis, dest)]
            target = _at(axis, slice(src.start - before, src.stop - before))
            if mode == "replicate":
                dx[target] += part.sum(axis=axis, keepdims=True)
            else:
                dx[target] += _flip(part, axis) if reverse else part
        g = dx
    return np.ascontiguousarray(g) if g.base is not None else g
