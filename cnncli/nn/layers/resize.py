"""Layers that make maps larger: ConvTranspose2d, Upsample, ZeroPad2d.

U-Net's decoder, FCN's upsampling head, autoencoders and GAN generators grow their maps
with a transposed convolution (learnt) or an upsampling (fixed), and pad with zeros to
line maps up.  Each forward is one call into the engine (:mod:`cnncli.engine.conv_transpose`,
:mod:`cnncli.engine.upsample`, :mod:`cnncli.engine.pad`), each backward one call into its
``_backward``.

After an Upsample or a strided ConvTranspose2d the jump is a fraction of an input pixel
(it is divided by the stride) and how many inputs reach an output depends on the output's
phase; their ``rf_axes`` say how indices map, and :mod:`cnncli.nn.receptive` counts
exactly.
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
    _prod,
    _uniform,
    _with_formula,
    conv_macs,
)
from cnncli.nn.receptive import RfAxes, RfAxis


class ConvTranspose2d(Layer):
    """2-D transposed convolution, as ``torch.nn.ConvTranspose2d``.

    Shapes: input (N, C, H, W), weight (C, F/groups, KH, KW), bias (F,) → (N, F, OH, OW),
    ``OH = (H − 1)·stride − 2·padding + dilation·(KH − 1) + output_padding + 1``.
    Each input cell adds its value times the kernel into the output, ``stride`` apart:
    the gradient of a Conv2d with respect to its input (see :mod:`cnncli.engine.conv_transpose`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        output_padding: int | Sequence[int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | Sequence[int] = 1,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("groups", groups),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(
                    f"ConvTranspose2d {name} must be a positive integer, got {value!r}"
                )
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value % groups:
                raise ParameterError(
                    f"ConvTranspose2d groups={groups} does not divide {name}={value}"
                )
        if padding_mode != "zeros":
            raise ParameterError(
                f"ConvTranspose2d supports only padding_mode 'zeros' (as PyTorch), "
                f"got {padding_mode!r}"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = S.pair(kernel_size, "kernel_size")
        S.check_positive(self.kernel_size, "kernel_size")
        self.stride = S.pair(stride, "stride")
        S.check_positive(self.stride, "stride")
        self.padding = S.pair(padding, "padding")
        S.check_non_negative(self.padding, "padding")
        self.dilation = S.pair(dilation, "dilation")
        S.check_positive(self.dilation, "dilation")
        self.output_padding = S.pair(output_padding, "output_padding")
        S.check_non_negative(self.output_padding, "output_padding")
        for axis, op, s, d in zip("HW", self.output_padding, self.stride, self.dilation, strict=True):  # fmt: skip
            if op >= s and op >= d:
                raise ParameterError(
                    f"ConvTranspose2d output_padding {op} along {axis} must be smaller than "
                    f"either the stride {s} or the dilation {d}, as in PyTorch"
                )
        self.bias = bool(bias)
        self.padding_mode = padding_mode
        self._params = {"weight": None, **({"bias": None} if self.bias else {})}

    def param_shapes(self) -> dict[str, Shape]:
        KH, KW = self.kernel_size
        shapes: dict[str, Shape] = {
            "weight": (self.in_channels, self.out_channels // self.groups, KH, KW)
        }
        if self.bias:
            shapes["bias"] = (self.out_channels,)
        return shapes

    def _reset_own(self, rng: np.random.Generator) -> None:
        # PyTorch's fan_in is the weight's size(1) times the kernel: (F/groups)·KH·KW.
        shapes = self.param_shapes()
        fan_in = (self.out_channels // self.groups) * _prod(self.kernel_size)
        self._params["weight"] = _kaiming_uniform(rng, shapes["weight"], fan_in)
        if self.bias:
            self._params["bias"] = _uniform(rng, shapes["bias"], 1.0 / math.sqrt(fan_in))

    def _args(self) -> dict[str, Any]:
        return {
            "stride": self.stride,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "groups": self.groups,
            "dilation": self.dilation,
        }

    def output_shape(self, input_shape: Shape) -> Shape:
        try:
            g = S.conv_transpose2d_geometry(
                tuple(input_shape), self.param_shapes()["weight"], **self._args()
            )
        except ShapeError as exc:
            raise _with_formula(exc, self, input_shape) from None
        return (g.N, g.F, g.OH, g.OW)

    def macs(self, input_shape: Shape, output_shape: Shape) -> int:
        return conv_macs(self, output_shape)

    def geometry(self) -> dict[str, str]:
        return {
            "kernel": _pair_text(self.kernel_size),
            "stride": _pair_text(self.stride),
            "padding": _pair_text(self.padding),
            "dilation": _pair_text(self.dilation),
        }

    def rf_step(self, input_shape: Shape) -> RfStep | None:
        """At stride 1 an output cell is reached by KH·KW input cells dilation apart, as in
        a Conv2d; a larger stride makes the jump a fraction of a pixel (see :meth:`rf_axes`)."""
        if self.stride != (1, 1):
            return None
        (KH, KW), (dh, dw) = self.kernel_size, self.dilation
        return ((KH, 1, dh), (KW, 1, dw))

    def rf_axes(self, input_shape: Shape) -> RfAxes:
        """Output ``o`` is reached by every input ``i = (o + padding − dilation·t) / stride``
        that is a whole number, ``t = 0 … K − 1`` (:mod:`cnncli.nn.receptive`)."""
        (KH, KW), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        ph, pw = self.padding
        return (RfAxis("transposed", KH, sh, dh, ph), RfAxis("transposed", KW, sw, dw, pw))

    def formulas(self, input_shape: Shape) -> list[str]:
        _, _, H, W = input_shape
        out = []
        for i, (axis, size) in enumerate((("H", H), ("W", W))):
            k, s, p, op, d = (
                v[i]
                for v in (
                    self.kernel_size,
                    self.stride,
                    self.padding,
                    self.output_padding,
                    self.dilation,
                )
            )
            try:
                out.append(S.conv_transpose_size_formula(size, k, s, p, op, d, axis))
            except (ShapeError, ParameterError):
                raw = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
                out.append(
                    f"{axis}_out = ({size} − 1)·{s} − 2·{p} + {d}·({k} − 1) + {op} + 1 = {raw} "
                    f"(< 1: too small)"
                )
        return out

    def workspace_bytes(self, input_shape: Shape, itemsize: int = 4) -> int:
        """The col2im matrix, N·F·KH·KW·H·W values (the fast path's chunks are smaller),
        and the uncropped output N·F·HF·WF (see :mod:`cnncli.engine.conv_transpose`)."""
        g = S.conv_transpose2d_geometry(
            tuple(input_shape), self.param_shapes()["weight"], **self._args()
        )
        cols = g.N * g.F * g.KH * g.KW * g.H * g.W
        return (cols + g.N * g.F * g.conv.H * g.conv.W) * itemsize

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.conv_transpose import conv_transpose2d

        self._x = x
        return conv_transpose2d(x, self._param("weight"), self._params.get("bias"), **self._args())

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.conv_transpose import conv_transpose2d_backward

        dx, dw, db = conv_transpose2d_backward(
            grad, self._x, self._param("weight"), **self._args(), bias=self.bias
        )
        self.grads = {"weight": dw}
        if self.bias and db is not None:
            self.grads["bias"] = db
        return dx

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if any(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if any(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if not self.bias:
            s += ", bias=False"
        return s


class Upsample(Layer):
    """Resize maps by ``scale_factor`` or to ``size``, as ``torch.nn.Upsample``.

    Shapes: (N, C, H, W) → (N, C, OH, OW), ``OH = size`` or ``⌊H·scale_factor⌋``.
    ``mode`` nearest (each output cell copies its source cell) or bilinear (a weighted
    mean of the 4 nearest cells; ``align_corners`` as PyTorch).  No parameters.
    """

    def __init__(
        self,
        size: int | Sequence[int] | None = None,
        scale_factor: float | Sequence[float] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        from cnncli.engine.upsample import MODES

        if mode not in MODES:
            raise ParameterError(f"Upsample mode must be one of {', '.join(MODES)}, got {mode!r}")
        if (size is None) == (scale_factor is None):
            raise ParameterError("Upsample needs exactly one of size and scale_factor")
        if align_corners is not None and mode == "nearest":
            raise ParameterError("Upsample align_corners can only be set with mode 'bilinear'")
        self.size = tuple(size) if isinstance(size, (list, tuple)) else size
        # PyTorch keeps the scale factors as floats (that is what print(model) shows).
        self.scale_factor: float | tuple[float, ...] | None
        if isinstance(scale_factor, (list, tuple)):
            self.scale_factor = tuple(float(s) for s in scale_factor)
        elif isinstance(scale_factor, (int, float)) and not isinstance(scale_factor, bool):
            self.scale_factor = float(scale_factor)
        elif scale_factor is None:
            self.scale_factor = None
        else:
            raise ParameterError(
                f"Upsample scale_factor must be a number or a pair, got {scale_factor!r}"
            )
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor
        sizes = self.size if isinstance(self.size, tuple) else (self.size,)
        scales = self.scale_factor if isinstance(self.scale_factor, tuple) else (self.scale_factor,)  # fmt: skip
        if self.size is not None and (
            (len(sizes) != 2 and isinstance(self.size, tuple))
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in sizes)
        ):
            raise ParameterError(
                f"Upsample size must be a positive integer or a pair, got {size!r}"
            )
        if self.scale_factor is not None and (
            (len(scales) != 2 and isinstance(self.scale_factor, tuple))
            or not all(s is not None and math.isfinite(s) and s > 0 for s in scales)
        ):
            raise ParameterError(
                f"Upsample scale_factor must be a positive number or a pair, got {scale_factor!r}"
            )

    def _kw(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "scale_factor": self.scale_factor,
            "mode": self.mode,
            "align_corners": self.align_corners,
            "recompute_scale_factor": self.recompute_scale_factor,
        }

    def output_shape(self, input_shape: Shape) -> Shape:
        from cnncli.engine.upsample import interpolate_output_size

        N, C, _, _ = S.check_nchw(tuple(input_shape))
        size: Any = self.size
        scale: Any = self.scale_factor
        return (N, C, *interpolate_output_size(tuple(input_shape), size, scale))

    def rf_step(self, input_shape: Shape) -> RfStep | None:
        return None

    def rf_axes(self, input_shape: Shape) -> RfAxes:
        """Nearest: output ``o`` copies input ``⌊o / s⌋``; bilinear (align_corners False):
        inputs ``⌊src⌋`` and ``⌊src⌋ + 1``, ``src = (o + ½)/s − ½``. Exact for a whole factor
        ``s`` per axis; any other resize (align_corners True, a fractional factor) gives
        None, shown as ``all``."""
        H, W = input_shape[2:]
        OH, OW = self.output_shape(input_shape)[2:]
        scales = self.scale_factor if isinstance(self.scale_factor, tuple) else (self.scale_factor,) * 2  # fmt: skip
        axes = []
        for n, out, scale in ((H, OH, scales[0]), (W, OW, scales[1])):
            whole = out % n == 0 and (self.size is not None or self.recompute_scale_factor or scale == out // n)  # fmt: skip
            if not whole or self.mode not in ("nearest", "bilinear") or self.align_corners:
                return None
            axes.append(RfAxis(self.mode, 1, out // n))
        return (axes[0], axes[1])

    def formulas(self, input_shape: Shape) -> list[str]:
        _, _, H, W = input_shape
        OH, OW = self.output_shape(input_shape)[2:]
        if self.size is not None:
            return [f"H_out = size = {OH}", f"W_out = size = {OW}"]
        sh, sw = self.scale_factor if isinstance(self.scale_factor, tuple) else (self.scale_factor,) * 2  # fmt: skip
        return [f"H_out = ⌊{H}·{sh:g}⌋ = {OH}", f"W_out = ⌊{W}·{sw:g}⌋ = {OW}"]

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.upsample import interpolate

        self._shape = x.shape
        return interpolate(x, **self._kw())

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.upsample import interpolate_backward

        return interpolate_backward(grad, self._shape, **self._kw())

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"


class ZeroPad2d(Layer):
    """Pad every map with zeros, as ``torch.nn.ZeroPad2d``.

    Shapes: (N, C, H, W) → (N, C, H + top + bottom, W + left + right); ``padding`` an
    int (all four sides) or (left, right, top, bottom), F.pad's order.
    """

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__()
        if isinstance(padding, int) and not isinstance(padding, bool):
            pads: tuple[int, ...] = (padding,) * 4
        else:
            pads = tuple(padding)  # type: ignore[arg-type]
        if len(pads) != 4 or not all(isinstance(p, int) and not isinstance(p, bool) for p in pads):
            raise ParameterError(
                f"ZeroPad2d padding must be an integer or (left, right, top, bottom), "
                f"got {padding!r}"
            )
        S.check_non_negative(pads, "padding")
        self.padding: tuple[int, int, int, int] = (pads[0], pads[1], pads[2], pads[3])

    def output_shape(self, input_shape: Shape) -> Shape:
        N, C, H, W = S.check_nchw(tuple(input_shape))
        left, right, top, bottom = self.padding
        return (N, C, H + top + bottom, W + left + right)

    def rf_step(self, input_shape: Shape) -> RfStep:
        return ((1, 1, 1), (1, 1, 1))

    def rf_axes(self, input_shape: Shape) -> RfAxes:
        """Output ``o`` is input ``o − left`` (``o − top``): a shift, kept for the joins."""
        left, _, top, _ = self.padding
        return (RfAxis("conv", 1, 1, 1, top), RfAxis("conv", 1, 1, 1, left))

    def geometry(self) -> dict[str, str]:
        left, right, top, bottom = self.padding
        return {"padding": f"l{left} r{right} t{top} b{bottom}"}

    def formulas(self, input_shape: Shape) -> list[str]:
        _, _, H, W = input_shape
        left, right, top, bottom = self.padding
        return [f"H_out = {H} + {top} + {bottom} = {H + top + bottom}",
                f"W_out = {W} + {left} + {right} = {W + left + right}"]  # fmt: skip

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.pad import pad

        return pad(x, self.padding, "zeros")

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.pad import pad_backward

        return pad_backward(grad, self.padding, "zeros")

    def extra_repr(self) -> str:
        return f"{self.padding}"
