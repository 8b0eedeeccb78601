"""Conv2d, the convolution layer, and its output-size formula with numbers.

The forward is one call into :func:`cnncli.engine.conv.conv2d`, the backward one call
into :func:`cnncli.engine.conv.conv2d_backward`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cnncli.engine import shapes as S  # noqa: N812
from cnncli.errors import ParameterError, ShapeError
from cnncli.nn.layers.base import (
    Layer,
    RfStep,
    Shape,
    _kaiming_uniform,
    _pair_text,
    _uniform,
    _with_formula,
    conv_macs,
)
from cnncli.nn.receptive import RfAxes, RfAxis


class Conv2d(Layer):
    """2-D convolution (cross-correlation), as ``torch.nn.Conv2d``.

    Shapes: input (N, C, H, W), weight (F, C/groups, KH, KW), bias (F,) → (N, F, OH, OW).
    ``OH = ⌊(H + pad_top + pad_bottom − dilation·(KH − 1) − 1) / stride⌋ + 1``, likewise OW.
    The weight is immutable (read-only, backed by bytes): conv2d then reuses its Winograd
    transform from call to call without comparing it; load new weights to change it.
    """

    frozen_params = ("weight",)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] | str = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("groups", groups),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"Conv2d {name} must be a positive integer, got {value!r}")
        if in_channels % groups:
            raise ParameterError(
                f"Conv2d groups={groups} does not divide in_channels={in_channels}"
            )
        if out_channels % groups:
            raise ParameterError(
                f"Conv2d groups={groups} does not divide out_channels={out_channels}"
            )
        if padding_mode not in S.PADDING_MODES:
            raise ParameterError(
                f"Conv2d padding_mode must be {', '.join(S.PADDING_MODES[:-1])} or "
                f"{S.PADDING_MODES[-1]}, got {padding_mode!r}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = S.pair(kernel_size, "kernel_size")
        S.check_positive(self.kernel_size, "kernel_size")
        self.stride = S.pair(stride, "stride")
        S.check_positive(self.stride, "stride")
        self.dilation = S.pair(dilation, "dilation")
        S.check_positive(self.dilation, "dilation")
        self.padding: tuple[int, ...] | str
        if isinstance(padding, str):
            self.padding = padding.lower()
        elif isinstance(padding, int) and not isinstance(padding, bool):
            self.padding = (padding, padding)
        else:
            self.padding = tuple(int(p) for p in padding)  # type: ignore[union-attr]
        # Validates the padding form now (raises ParameterError for a bad one).
        self._pad4 = S.conv_padding(self.padding, self.kernel_size, self.dilation, self.stride)
        self.groups = groups
        self.bias = bias
        self.padding_mode = padding_mode
        self._params = {"weight": None, **({"bias": None} if bias else {})}

    def param_shapes(self) -> dict[str, Shape]:
        F, (KH, KW) = self.out_channels, self.kernel_size
        shapes: dict[str, Shape] = {"weight": (F, self.in_channels // self.groups, KH, KW)}
        if self.bias:
            shapes["bias"] = (F,)
        return shapes

    def _fan_in(self) -> int:
        return (self.in_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]

    def _reset_own(self, rng: np.random.Generator) -> None:
        shapes = self.param_shapes()
        self._params["weight"] = _kaiming_uniform(rng, shapes["weight"], self._fan_in())
        if self.bias:
            bound = 1.0 / math.sqrt(self._fan_in())
            self._params["bias"] = _uniform(rng, shapes["bias"], bound)

    def _geometry(self, input_shape: Shape) -> S.Conv2dGeometry:
        return S.conv2d_geometry(
            tuple(input_shape),
            self.param_shapes()["weight"],
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )

    def output_shape(self, input_shape: Shape) -> Shape:
        try:
            g = self._geometry(input_shape)
        except ShapeError as exc:
            raise _with_formula(exc, self, input_shape) from None
        return (g.N, g.F, g.OH, g.OW)

    def macs(self, input_shape: Shape, output_shape: Shape) -> int:
        return conv_macs(self, output_shape)

    def geometry(self) -> dict[str, str]:
        pad = self.padding if isinstance(self.padding, str) else _pad_text(self._pad4)
        return {
            "kernel": _pair_text(self.kernel_size),
            "stride": _pair_text(self.stride),
            "padding": pad,
            "dilation": _pair_text(self.dilation),
        }

    def rf_step(self, input_shape: Shape) -> RfStep:
        (KH, KW), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        return ((KH, sh, dh), (KW, sw, dw))

    def rf_axes(self, input_shape: Shape) -> RfAxes:
        """The window of :meth:`rf_step`, shifted by the top / left padding."""
        (KH, KW), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        left, _, top, _ = self._pad4
        return (RfAxis("conv", KH, sh, dh, top), RfAxis("conv", KW, sw, dw, left))

    def formulas(self, input_shape: Shape) -> list[str]:
        left, right, top, bottom = self._pad4
        _, _, H, W = input_shape
        return [
            conv_formula(
                H, self.kernel_size[0], self.stride[0], (top, bottom), self.dilation[0], "H"
            ),
            conv_formula(
                W, self.kernel_size[1], self.stride[1], (left, right), self.dilation[1], "W"
            ),
        ]

    def workspace_bytes(self, input_shape: Shape, itemsize: int = 4) -> int:
        """The engine's estimate for this layer's convolution (groups counted)."""
        from cnncli.engine.conv import conv2d_workspace_bytes

        weight_shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        geometry = S.conv2d_geometry(
            tuple(input_shape), weight_shape, self.stride, self._padding_arg(),
            self.dilation, self.groups,
        )  # fmt: skip
        return conv2d_workspace_bytes(geometry, itemsize, self.padding_mode)

    def _padding_arg(self) -> Any:
        return self.padding if isinstance(self.padding, str) else self._pad4

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.conv import conv2d

        self._x = x
        return conv2d(
            x,
            self._param("weight"),
            self._params.get("bias"),
            stride=self.stride,
            padding=self._padding_arg(),
            dilation=self.dilation,
            groups=self.groups,
            padding_mode=self.padding_mode,
        )

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.conv import conv2d_backward, conv2d_backward_weight

        how = {"stride": self.stride, "padding": self._padding_arg(), "dilation": self.dilation,
               "groups": self.groups, "padding_mode": self.padding_mode, "bias": self.bias}  # fmt: skip
        if self.needs_input_grad:
            dx, dw, db = conv2d_backward(grad, self._x, self._param("weight"), **how)
        else:  # the images: dL/dx is wanted by no one, so only dL/dW and dL/db
            dw, db = conv2d_backward_weight(grad, self._x, self._param("weight"), **how)
            dx = np.broadcast_to(np.zeros((), dtype=dw.dtype), self._x.shape)
        self.grads = {"weight": dw}
        if self.bias and db is not None:
            self.grads["bias"] = db
        return dx

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if isinstance(self.padding, str) or any(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if not self.bias:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


def _pad_text(p: tuple[int, int, int, int]) -> str:
    left, right, top, bottom = p
    if left == right == top == bottom:
        return str(left)
    if left == right and top == bottom:
        return f"{top}x{left}"
    return f"l{left} r{right} t{top} b{bottom}"


def conv_formula(
    size: int, kernel: int, stride: int, padding: tuple[int, int], dilation: int, axis: str
) -> str:
    """The conv output-size formula with numbers; shows the value even when it is < 1."""
    try:
        return S.conv_size_formula(size, kernel, stride, padding, dilation, axis)
    except ShapeError:
        before, after = padding
        pad = f"2·{before}" if before == after else f"{before} + {after}"
        raw = (size + before + after - dilation * (kernel - 1) - 1) // stride + 1
        return (
            f"{axis}_out = ⌊({size} + {pad} − {dilation}·({kernel} − 1) − 1) / {stride}⌋ + 1 "
            f"= {raw} (< 1: the kernel does not fit)"
        )
