"""Shape arithmetic for convolution and pooling: pure Python, no NumPy.

Every function here validates its parameters and raises :class:`ParameterError`
or :class:`ShapeError` with a message that names the values and the formula, so
that the ops, the layer objects, ``cnncli shapes`` and the CLI all explain a
mistake the same way.

Output size of a convolution or pooling window along one axis (PyTorch's rule)::

    out = floor((size + pad_before + pad_after - dilation*(kernel - 1) - 1) / stride) + 1

With ``ceil_mode`` (pooling only) the division rounds up, and then the last
window is dropped if it would start in the right/bottom padding::

    if (out - 1) * stride >= size + pad_before: out -= 1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cnncli.engine._remember import remembered
from cnncli.errors import ParameterError, ShapeError

IntOrPair = int | Sequence[int]
#: Padding as accepted by conv2d: int, (h, w), (left, right, top, bottom), 'same', 'valid'.
PaddingArg = int | Sequence[int] | str
#: The ways a convolution fills its padding, as torch.nn.Conv2d's ``padding_mode``.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def pair(value: IntOrPair, name: str) -> tuple[int, int]:
    """Return ``(h, w)`` from an int or a 2-sequence of ints."""
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be an integer or a pair of integers, got {value!r}")
    if _is_int(value):
        return (int(value), int(value))  # type: ignore[arg-type]
    try:
        items = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise ParameterError(
            f"{name} must be an integer or a pair of integers, got {value!r}"
        ) from None
    if len(items) == 1:
        items = (items[0], items[0])
    if len(items) != 2 or not all(_is_int(v) for v in items):
        raise ParameterError(f"{name} must be an integer or a pair of integers, got {value!r}")
    return (int(items[0]), int(items[1]))


def _is_int(v: object) -> bool:
    return not isinstance(v, bool) and hasattr(v, "__index__")


def _is_empty_sequence(v: object) -> bool:
    """True for ``()`` or ``[]`` (PyTorch's "stride defaults to the kernel"), False otherwise."""
    if isinstance(v, str) or _is_int(v):
        return False
    try:
        return len(v) == 0  # type: ignore[arg-type]
    except TypeError:
        return False


def check_positive(values: tuple[int, ...], name: str) -> None:
    """Raise unless every value is at least 1 (kernel sizes, strides, dilations)."""
    if any(v < 1 for v in values):
        raise ParameterError(f"{name} must be at least 1, got {_fmt(values)}")


def check_non_negative(values: tuple[int, ...], name: str) -> None:
    """Raise unless every value is at least 0 (padding)."""
    if any(v < 0 for v in values):
        raise ParameterError(f"{name} must not be negative, got {_fmt(values)}")


def _fmt(values: tuple[int, ...]) -> str:
    """One value when all are equal (``-s 0`` → "0", not "0x0"), else ``(H, W)`` as PyTorch prints it."""
    if len(set(values)) == 1:
        return str(values[0])
    return "(" + ", ".join(str(v) for v in values) + ")"


def effective_kernel(kernel: int, dilation: int) -> int:
    """Extent of a dilated kernel: ``dilation*(kernel - 1) + 1``."""
    return dilation * (kernel - 1) + 1


def same_padding(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """Padding ``(before, after)`` that keeps the size at stride 1 ('same').

    The total is ``dilation*(kernel - 1)``; PyTorch puts the odd extra row or
    column after (bottom/right) when the total is odd (even kernels).
    """
    total = dilation * (kernel - 1)
    return (total // 2, total - total // 2)


def conv_padding(
    padding: PaddingArg,
    kernel: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    stride: tuple[int, int] = (1, 1),
) -> tuple[int, int, int, int]:
    """Normalise a conv2d padding argument to ``(left, right, top, bottom)``.

    Accepted forms: ``int`` (all sides), ``(h, w)`` (top/bottom = h, left/right
    = w, as PyTorch's Conv2d), ``(left, right, top, bottom)`` (F.pad's order),
    ``'valid'`` (no padding) and ``'same'`` (output size = input size, stride 1
    only, as in PyTorch).
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0, 0, 0)
        if mode == "same":
            if stride != (1, 1):
                raise ParameterError(
                    f"padding='same' needs stride 1 (as in PyTorch), got stride {_fmt(stride)}"
                )
            top, bottom = same_padding(kernel[0], dilation[0])
            left, right = same_padding(kernel[1], dilation[1])
            return (left, right, top, bottom)
        raise ParameterError(
            f"padding must be an integer, (h, w), (left, right, top, bottom), "
            f"'same' or 'valid', got {padding!r}"
        )
    if isinstance(padding, bool):
        raise ParameterError(f"padding must be an integer, got {padding!r}")
    if _is_int(padding):
        p = int(padding)  # type: ignore[arg-type]
        result: tuple[int, int, int, int] = (p, p, p, p)
    else:
        try:
            items = tuple(padding)  # type: ignore[arg-type]
        except TypeError:
            raise ParameterError(
                f"padding must be an integer or a tuple, got {padding!r}"
            ) from None
        if not all(_is_int(v) for v in items):
            raise ParameterError(f"padding must hold integers, got {padding!r}")
        vals = tuple(int(v) for v in items)
        if len(vals) == 1:
            result = (vals[0],) * 4  # type: ignore[assignment]
        elif len(vals) == 2:
            result = (vals[1], vals[1], vals[0], vals[0])
        elif len(vals) == 4:
            result = (vals[0], vals[1], vals[2], vals[3])
        else:
            raise ParameterError(
                f"padding needs 1, 2 (h, w) or 4 (left, right, top, bottom) values, "
                f"got {len(vals)}: {padding!r}"
            )
    check_non_negative(result, "padding")
    return result


def conv_output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: tuple[int, int] = (0, 0),
    dilation: int = 1,
    axis: str = "H",
) -> int:
    """Output length along one axis of a convolution (see the module docstring)."""
    before, after = padding
    padded = size + before + after
    eff = effective_kernel(kernel, dilation)
    if eff > padded:
        dil = f" (dilation {dilation} → {eff})" if dilation != 1 else ""
        raise ShapeError(
            f"kernel {kernel}{dil} along {axis} is larger than the padded input "
            f"{padded} ({size} + {before} + {after})"
        )
    return (padded - eff) // stride + 1


def pool_output_size(
    size: int,
    kernel: int,
    stride: int,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    axis: str = "H",
) -> int:
    """Output length along one axis of a pooling window (PyTorch's rule, with ceil_mode)."""
    eff = effective_kernel(kernel, dilation)
    numerator = size + 2 * padding - eff
    if ceil_mode:
        # ceil division also for a negative numerator: PyTorch's floor((n + stride - 1) / stride)
        out = -(-numerator // stride) + 1
        if (out - 1) * stride >= size + padding:
            out -= 1
    else:
        out = numerator // stride + 1
    if out < 1:
        raise ShapeError(
            f"pooling window {kernel}"
            + (f" (dilation {dilation} → {eff})" if dilation != 1 else "")
            + f" along {axis} does not fit the input {size} with padding {padding}: "
            f"output size {out} is too small"
        )
    return out


def conv_size_formula(
    size: int, kernel: int, stride: int, padding: tuple[int, int], dilation: int, axis: str = "H"
) -> str:
    """The output-size formula with the numbers filled in, for display.

    e.g. ``H_out = ⌊(28 + 2·1 − 1·(3 − 1) − 1) / 1⌋ + 1 = 28``
    """
    before, after = padding
    pad = f"2·{before}" if before == after else f"{before} + {after}"
    out = conv_output_size(size, kernel, stride, padding, dilation, axis)
    return f"{axis}_out = ⌊({size} + {pad} − {dilation}·({kernel} − 1) − 1) / {stride}⌋ + 1 = {out}"


def pool_size_formula(
    size: int,
    kernel: int,
    stride: int,
    padding: int,
    dilation: int,
    ceil_mode: bool,
    axis: str = "H",
) -> str:
    """The pooling output-size formula with the numbers filled in, for display."""
    out = pool_output_size(size, kernel, stride, padding, dilation, ceil_mode, axis)
    lb, rb = ("⌈", "⌉") if ceil_mode else ("⌊", "⌋")
    text = f"{axis}_out = {lb}({size} + 2·{padding} − {dilation}·({kernel} − 1) − 1) / {stride}{rb} + 1"
    if ceil_mode:
        numerator = size + 2 * padding - effective_kernel(kernel, dilation)
        raw = -(-numerator // stride) + 1
        if raw != out:
            text += f" = {raw}, minus the last window (it would start in the padding)"
    return f"{text} = {out}"


def check_nchw(shape: tuple[int, ...], name: str = "input") -> tuple[int, int, int, int]:
    """Return ``(N, C, H, W)`` or raise if ``shape`` is not 4-D with positive sizes."""
    if len(shape) != 4:
        raise ShapeError(
            f"{name} must be 4-D (N, C, H, W), got {len(shape)}-D with shape {tuple(shape)}"
        )
    if any(s < 1 for s in shape):
        raise ShapeError(f"{name} has an empty dimension: shape {tuple(shape)}")
    n, c, h, w = (int(s) for s in shape)
    return n, c, h, w


@dataclass(frozen=True)
class Conv2dGeometry:
    """Every size of one conv2d call, validated: the single source of truth for conv shapes."""

    N: int
    C: int
    H: int
    W: int
    F: int
    KH: int
    KW: int
    OH: int
    OW: int
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]  # (left, right, top, bottom)
    dilation: tuple[int, int]
    groups: int


def conv2d_geometry(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    stride: IntOrPair = 1,
    padding: PaddingArg = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Conv2dGeometry:
    """Validate a conv2d call and compute its output size.

    Shapes: input (N, C, H, W), weight (F, C/groups, KH, KW) → output (N, F, OH, OW).
    """
    return remembered(
        _conv2d_geometry, input_shape, weight_shape, stride, padding, dilation, groups
    )


def _conv2d_geometry(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    stride: IntOrPair,
    padding: PaddingArg,
    dilation: IntOrPair,
    groups: int,
) -> Conv2dGeometry:
    n, c, h, w = check_nchw(tuple(input_shape))
    if len(weight_shape) != 4:
        raise ShapeError(
            f"weight must be 4-D (F, C/groups, KH, KW), got {len(weight_shape)}-D "
            f"with shape {tuple(weight_shape)}"
        )
    f, cg, kh, kw = (int(s) for s in weight_shape)
    if f < 1 or cg < 1 or kh < 1 or kw < 1:
        raise ShapeError(f"weight has an empty dimension: shape {tuple(weight_shape)}")
    if isinstance(groups, bool) or not _is_int(groups) or groups < 1:
        raise ParameterError(f"groups must be a positive integer, got {groups!r}")
    if c % groups:
        raise ShapeError(f"groups={groups} does not divide the input channels C={c}")
    if f % groups:
        raise ShapeError(f"groups={groups} does not divide the output channels F={f}")
    if cg * groups != c:
        raise ShapeError(
            f"weight expects {cg} input channels per group × {groups} group(s) = "
            f"{cg * groups} channels, but the input has C={c}"
        )
    st = pair(stride, "stride")
    check_positive(st, "stride")
    dl = pair(dilation, "dilation")
    check_positive(dl, "dilation")
    pad = conv_padding(padding, (kh, kw), dl, st)
    left, right, top, bottom = pad
    oh = conv_output_size(h, kh, st[0], (top, bottom), dl[0], "H")
    ow = conv_output_size(w, kw, st[1], (left, right), dl[1], "W")
    return Conv2dGeometry(n, c, h, w, f, kh, kw, oh, ow, st, pad, dl, groups)


@dataclass(frozen=True)
class Pool2dGeometry:
    """Every size of one pooling call, validated."""

    N: int
    C: int
    H: int
    W: int
    KH: int
    KW: int
    OH: int
    OW: int
    stride: tuple[int, int]
    padding: tuple[int, int]  # (h, w), symmetric as in PyTorch
    dilation: tuple[int, int]
    ceil_mode: bool


def pool2d_geometry(
    input_shape: tuple[int, ...],
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
) -> Pool2dGeometry:
    """Validate a pooling call and compute its output size (PyTorch's rules).

    ``stride`` defaults to ``kernel_size``; padding must be at most half the
    kernel (``padding <= kernel_size // 2``), as PyTorch requires.
    """
    return remembered(
        _pool2d_geometry, input_shape, kernel_size, stride, padding, dilation, ceil_mode
    )


def _pool2d_geometry(
    input_shape: tuple[int, ...],
    kernel_size: IntOrPair,
    stride: IntOrPair | None,
    padding: IntOrPair,
    dilation: IntOrPair,
    ceil_mode: bool,
) -> Pool2dGeometry:
    n, c, h, w = check_nchw(tuple(input_shape))
    k = pair(kernel_size, "kernel_size")
    check_positive(k, "kernel_size")
    st = k if stride is None or _is_empty_sequence(stride) else pair(stride, "stride")
    check_positive(st, "stride")
    dl = pair(dilation, "dilation")
    check_positive(dl, "dilation")
    pd = pair(padding, "padding")
    check_non_negative(pd, "padding")
    for axis, p, kk in (("H", pd[0], k[0]), ("W", pd[1], k[1])):
        if p > kk // 2:
            raise ParameterError(
                f"padding {p} along {axis} must be at most half the kernel size "
                f"({kk} // 2 = {kk // 2}), as in PyTorch"
            )
    oh = pool_output_size(h, k[0], st[0], pd[0], dl[0], ceil_mode, "H")
    ow = pool_output_size(w, k[1], st[1], pd[1], dl[1], ceil_mode, "W")
    return Pool2dGeometry(n, c, h, w, k[0], k[1], oh, ow, st, pd, dl, bool(ceil_mode))


def adaptive_output_size(output_size: object, H: int, W: int) -> tuple[int, int]:
    """(OH, OW) of an adaptive pooling: ``output_size`` an int or a pair whose None
    entries keep the input's size, as torch.nn.AdaptiveAvgPool2d takes it."""
    if output_size is None or isinstance(output_size, (bool, str)):
        raise ParameterError(
            f"output_size must be an integer or a pair (entries may be None), got {output_size!r}"
        )
    if hasattr(output_size, "__index__"):
        items: tuple[object, ...] = (output_size, output_size)
    else:
        try:
            items = tuple(output_size)  # type: ignore[call-overload,arg-type]
        except TypeError:
            raise ParameterError(
                f"output_size must be an integer or a pair (entries may be None), "
                f"got {output_size!r}"
            ) from None
        if len(items) == 1:
            items = (items[0], items[0])
    if len(items) != 2 or not all(
        v is None or (not isinstance(v, bool) and hasattr(v, "__index__")) for v in items
    ):
        raise ParameterError(
            f"output_size must be an integer or a pair (entries may be None), got {output_size!r}"
        )
    oh = H if items[0] is None else int(items[0])  # type: ignore[call-overload]
    ow = W if items[1] is None else int(items[1])  # type: ignore[call-overload]
    if oh < 1 or ow < 1:
        raise ParameterError(f"output_size must be at least 1, got {oh}x{ow}")
    return oh, ow


def adaptive_bins(in_size: int, out_size: int) -> list[tuple[int, int]]:
    """Start/end (exclusive) of each adaptive-pooling bin, as PyTorch computes them.

    ``start = floor(i * in / out)``, ``end = ceil((i + 1) * in / out)``.
    """
    if out_size < 1:
        raise ParameterError(f"output_size must be at least 1, got {out_size}")
    return [
        ((i * in_size) // out_size, -(-((i + 1) * in_size) // out_size)) for i in range(out_size)
    ]


def receptive_fields(
    layers: Sequence[tuple[int, int, int]],
) -> list[tuple[int, int]]:
    """Receptive field and jump after each layer of a chain.

    ``layers`` holds ``(kernel, stride, dilation)`` per layer (1, 1, 1 for
    element-wise layers).  With ``r`` the receptive field and ``j`` the jump
    (distance in input pixels between neighbouring outputs)::

        r_out = r_in + (dilation*(kernel - 1)) * j_in
        j_out = j_in * stride
    """
    r, j = 1, 1
    out = []
    for kernel, stride, dilation in layers:
        r = r + dilation * (kernel - 1) * j
        j = j * stride
        out.append((r, j))
    return out


# ------------------------------------------------------------ transposed convolution ---


def conv_transpose_output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
    axis: str = "H",
) -> int:
    """Output length along one axis of a transposed convolution (PyTorch's rule)::

        out = (size - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1

    It is the input length a convolution with the same kernel, stride, padding and
    dilation would map back to ``size``; ``output_padding`` picks one of the ``stride``
    lengths that do (the convolution's floor division loses the rest).
    """
    if output_padding >= stride and output_padding >= dilation:
        raise ParameterError(
            f"output_padding {output_padding} along {axis} must be smaller than either the "
            f"stride {stride} or the dilation {dilation}, as in PyTorch"
        )
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise ShapeError(
            f"transposed convolution output along {axis} is {out} (input {size}, kernel "
            f"{kernel}, stride {stride}, padding {padding}, output_padding {output_padding}, "
            f"dilation {dilation}): too small"
        )
    return out


def conv_transpose_size_formula(
    size: int,
    kernel: int,
    stride: int,
    padding: int,
    output_padding: int,
    dilation: int,
    axis: str = "H",
) -> str:
    """The transposed convolution's output-size formula with the numbers filled in.

    e.g. ``H_out = (4 − 1)·2 − 2·1 + 1·(3 − 1) + 1 + 1 = 8``
    """
    out = conv_transpose_output_size(size, kernel, stride, padding, output_padding, dilation, axis)
    return (
        f"{axis}_out = ({size} − 1)·{stride} − 2·{padding} + {dilation}·({kernel} − 1) "
        f"+ {output_padding} + 1 = {out}"
    )


@dataclass(frozen=True)
class ConvTranspose2dGeometry:
    """Every size of one conv_transpose2d call, validated.

    Input (N, C, H, W), weight (C, F/groups, KH, KW) → output (N, F, OH, OW).
    ``conv`` is the convolution it is the input gradient of: input (N, F, HF, WF)
    with ``HF = (H - 1)*stride + dilation*(KH - 1) + 1`` (no padding, so every cell the
    kernel reaches), weight read as (C, F/groups, KH, KW), output (N, C, H, W); the
    transposed output is rows ``padding .. padding + OH`` of that input, zeros beyond.
    """

    N: int
    C: int
    H: int
    W: int
    F: int
    KH: int
    KW: int
    OH: int
    OW: int
    stride: tuple[int, int]
    padding: tuple[int, int]  # (h, w), cropped from each side as in PyTorch
    output_padding: tuple[int, int]  # (h, w), added at the bottom and the right
    dilation: tuple[int, int]
    groups: int
    conv: Conv2dGeometry


def conv_transpose2d_geometry(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
) -> ConvTranspose2dGeometry:
    """Validate a conv_transpose2d call and compute its output size (PyTorch's rules).

    Shapes: input (N, C, H, W), weight (C, F/groups, KH, KW) → output (N, F, OH, OW),
    ``OH = (H - 1)*s - 2*p + d*(KH - 1) + output_padding + 1`` (see
    :func:`conv_transpose_output_size`).
    """
    n, c, h, w = check_nchw(tuple(input_shape))
    if len(weight_shape) != 4:
        raise ShapeError(
            f"weight must be 4-D (C, F/groups, KH, KW), got {len(weight_shape)}-D "
            f"with shape {tuple(weight_shape)}"
        )
    wc, fg, kh, kw = (int(s) for s in weight_shape)
    if wc < 1 or fg < 1 or kh < 1 or kw < 1:
        raise ShapeError(f"weight has an empty dimension: shape {tuple(weight_shape)}")
    if isinstance(groups, bool) or not _is_int(groups) or groups < 1:
        raise ParameterError(f"groups must be a positive integer, got {groups!r}")
    if wc != c:
        raise ShapeError(
            f"weight {tuple(weight_shape)} (C, F/groups, KH, KW) expects C={wc} input "
            f"channels, but the input has C={c}"
        )
    if c % groups:
        raise ShapeError(f"groups={groups} does not divide the input channels C={c}")
    st = pair(stride, "stride")
    check_positive(st, "stride")
    dl = pair(dilation, "dilation")
    check_positive(dl, "dilation")
    pd = pair(padding, "padding")
    check_non_negative(pd, "padding")
    op = pair(output_padding, "output_padding")
    check_non_negative(op, "output_padding")
    oh = conv_transpose_output_size(h, kh, st[0], pd[0], op[0], dl[0], "H")
    ow = conv_transpose_output_size(w, kw, st[1], pd[1], op[1], dl[1], "W")
    f = fg * groups
    hf = (h - 1) * st[0] + effective_kernel(kh, dl[0])  # every row the kernel reaches
    wf = (w - 1) * st[1] + effective_kernel(kw, dl[1])
    conv = Conv2dGeometry(n, f, hf, wf, c, kh, kw, h, w, st, (0, 0, 0, 0), dl, groups)
    return ConvTranspose2dGeometry(n, c, h, w, f, kh, kw, oh, ow, st, pd, op, dl, groups, conv)
