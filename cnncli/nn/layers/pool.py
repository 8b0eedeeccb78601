"""Pooling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, and the pooling
output-size formula.

Each forward is one call into :mod:`cnncli.engine.pool` (``max_pool2d``, ``avg_pool2d``,
``adaptive_avg_pool2d``, ``adaptive_max_pool2d``), each backward one call into its ``_backward``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnncli.engine import shapes as S  # noqa: N812
from cnncli.errors import ParameterError, ShapeError
from cnncli.nn.layers.base import Layer, RfStep, Shape, _pair_text, _with_formula
from cnncli.nn.receptive import RfAxes, RfAxis


def pool_formula(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool, axis: str
) -> str:
    """The pooling output-size formula with numbers; shows the value even when it is < 1."""
    try:
        return S.pool_size_formula(size, kernel, stride, padding, dilation, ceil_mode, axis)
    except (ShapeError, ParameterError):
        lb, rb = ("⌈", "⌉") if ceil_mode else ("⌊", "⌋")
        num = size + 2 * padding - dilation * (kernel - 1) - 1
        raw = (-(-num // stride) if ceil_mode else num // stride) + 1
        return (
            f"{axis}_out = {lb}({size} + 2·{padding} − {dilation}·({kernel} − 1) − 1) / "
            f"{stride}{rb} + 1 = {raw} (< 1: the window does not fit)"
        )


class _Pool2d(Layer):
    """What MaxPool2d and AvgPool2d share: argument checks, shapes, geometry and formulas.

    Shapes: (N, C, H, W) → (N, C, OH, OW),
    ``OH = ⌊(H + 2·padding − dilation·(KH − 1) − 1) / stride⌋ + 1`` (⌈⌉ with ceil_mode).
    """

    kind = "max"

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size if isinstance(kernel_size, int) else tuple(kernel_size)
        k = S.pair(kernel_size, "kernel_size")
        S.check_positive(k, "kernel_size")
        self._k = k
        self.stride = (
            self.kernel_size
            if stride is None
            else stride
            if isinstance(stride, int)
            else tuple(stride)
        )
        self._s = S.pair(self.stride, "stride")
        S.check_positive(self._s, "stride")
        self.padding = padding if isinstance(padding, int) else tuple(padding)
        self._p = S.pair(self.padding, "padding")
        S.check_non_negative(self._p, "padding")
        for axis, p, kk in (("H", self._p[0], k[0]), ("W", self._p[1], k[1])):
            if p > kk // 2:
                raise ParameterError(
                    f"{self.type_name} padding {p} along {axis} must be at most half the "
                    f"kernel size ({kk} // 2 = {kk // 2}), as in PyTorch"
                )
        self.dilation = dilation if isinstance(dilation, int) else tuple(dilation)
        self._d = S.pair(self.dilation, "dilation")
        S.check_positive(self._d, "dilation")
        self.ceil_mode = bool(ceil_mode)

    def _geom(self, input_shape: Shape) -> S.Pool2dGeometry:
        return S.pool2d_geometry(
            tuple(input_shape), self._k, self._s, self._p, self._d, self.ceil_mode
        )

    def output_shape(self, input_shape: Shape) -> Shape:
        try:
            g = self._geom(input_shape)
        except ShapeError as exc:
            raise _with_formula(exc, self, input_shape) from None
        return (g.N, g.C, g.OH, g.OW)

    def geometry(self) -> dict[str, str]:
        return {
            "kernel": _pair_text(self._k),
            "stride": _pair_text(self._s),
            "padding": _pair_text(self._p),
            "dilation": _pair_text(self._d),
        }

    def rf_step(self, input_shape: Shape) -> RfStep:
        return ((self._k[0], self._s[0], self._d[0]), (self._k[1], self._s[1], self._d[1]))

    def rf_axes(self, input_shape: Shape) -> RfAxes:
        """The window of :meth:`rf_step`, shifted by the padding."""
        k, s, d, p = self._k, self._s, self._d, self._p
        return (RfAxis("conv", k[0], s[0], d[0], p[0]), RfAxis("conv", k[1], s[1], d[1], p[1]))

    def formulas(self, input_shape: Shape) -> list[str]:
        _, _, H, W = input_shape
        return [
            pool_formula(H, self._k[0], self._s[0], self._p[0], self._d[0], self.ceil_mode, "H"),
            pool_formula(W, self._k[1], self._s[1], self._p[1], self._d[1], self.ceil_mode, "W"),
        ]


class MaxPool2d(_Pool2d):
    """Max pooling, as ``torch.nn.MaxPool2d`` (stride defaults to kernel_size).

    Shapes: (N, C, H, W) → (N, C, OH, OW),
    ``OH = ⌊(H + 2·padding − dilation·(KH − 1) − 1) / stride⌋ + 1`` (⌈⌉ with ceil_mode).
    """

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        if return_indices:
            raise ParameterError("MaxPool2d return_indices=True is not supported in a network")
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """In training the forward keeps each window's winner, so that the backward need
        not find it again (:mod:`cnncli.engine.max_pool_taps`)."""
        from cnncli.engine.max_pool_taps import max_pool2d_keeping_taps
        from cnncli.engine.pool import max_pool2d

        args = (self._k, self._s, self._p, self._d, self.ceil_mode)
        self._x, self._kept = x, None
        if self.training:
            y, self._kept = max_pool2d_keeping_taps(x, *args)
            return y
        return max_pool2d(x, *args)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.max_pool_taps import max_pool2d_backward_kept
        from cnncli.engine.pool import max_pool2d_backward

        kept = getattr(self, "_kept", None)
        if kept is not None:
            return max_pool2d_backward_kept(grad, kept)
        return max_pool2d_backward(
            grad, self._x, self._k, self._s, self._p, self._d, self.ceil_mode
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(_Pool2d):
    """Average pooling, as ``torch.nn.AvgPool2d``.

    Shapes: (N, C, H, W) → (N, C, OH, OW), ``OH = ⌊(H + 2·padding − KH) / stride⌋ + 1``;
    each output is the window sum divided by KH·KW (or by the cells inside the
    input when ``count_include_pad=False``, or by ``divisor_override``).
    """

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        if divisor_override is not None and (
            isinstance(divisor_override, bool)
            or not isinstance(divisor_override, int)
            or divisor_override < 1
        ):
            raise ParameterError(
                f"AvgPool2d divisor_override must be a positive integer, got {divisor_override!r}"
            )
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override

    def geometry(self) -> dict[str, str]:
        g = super().geometry()
        g.pop("dilation")
        return g

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.pool import avg_pool2d

        self._x = x
        return avg_pool2d(
            x,
            self._k,
            self._s,
            self._p,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.pool import avg_pool2d_backward

        return avg_pool2d_backward(
            grad,
            self._x,
            self._k,
            self._s,
            self._p,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        s = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        # PyTorch's AvgPool2d.extra_repr prints only these three.
        return s


class AdaptiveAvgPool2d(Layer):
    """Adaptive average pooling to a fixed output size, as ``torch.nn.AdaptiveAvgPool2d``.

    Shapes: (N, C, H, W) → (N, C, OH, OW); bin i spans ``[⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉)``.
    """

    def __init__(self, output_size: int | Sequence[int | None]) -> None:
        super().__init__()
        if isinstance(output_size, int) and not isinstance(output_size, bool):
            sizes: tuple[int | None, int | None] = (output_size, output_size)
        else:
            items = tuple(output_size)  # type: ignore[arg-type]
            if len(items) != 2:
                raise ParameterError(
                    f"{self.type_name} output_size must be an integer or a pair, got {output_size!r}"
                )
            sizes = (items[0], items[1])
        for s in sizes:
            if s is not None and (isinstance(s, bool) or not isinstance(s, int) or s < 1):
                raise ParameterError(
                    f"{self.type_name} output_size must be positive integers, got {output_size!r}"
                )
        self.output_size = output_size if isinstance(output_size, int) else tuple(output_size)
        self._out = sizes

    def _target(self, input_shape: Shape) -> tuple[int, int]:
        _, _, H, W = S.check_nchw(tuple(input_shape))
        oh = self._out[0] if self._out[0] is not None else H
        ow = self._out[1] if self._out[1] is not None else W
        return oh, ow

    def output_shape(self, input_shape: Shape) -> Shape:
        N, C, _, _ = S.check_nchw(tuple(input_shape))
        return (N, C, *self._target(input_shape))

    def rf_step(self, input_shape: Shape) -> RfStep | None:
        _, _, H, W = input_shape
        oh, ow = self._target(input_shape)
        if H % oh == 0 and W % ow == 0:  # then it is an ordinary pooling window
            return ((H // oh, H // oh, 1), (W // ow, W // ow, 1))
        return None

    def geometry(self) -> dict[str, str]:
        return {"kernel": "adaptive"}

    def formulas(self, input_shape: Shape) -> list[str]:
        _, _, H, W = input_shape
        oh, ow = self._target(input_shape)
        return [
            f"H_out = {oh} (bin i = [⌊i·{H}/{oh}⌋, ⌈(i+1)·{H}/{oh}⌉))",
            f"W_out = {ow} (bin j = [⌊j·{W}/{ow}⌋, ⌈(j+1)·{W}/{ow}⌉))",
        ]

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.pool import adaptive_avg_pool2d

        self._x = x
        return adaptive_avg_pool2d(x, self._target(x.shape))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.pool import adaptive_avg_pool2d_backward

        return adaptive_avg_pool2d_backward(grad, self._x)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(AdaptiveAvgPool2d):
    """Adaptive max pooling to a fixed output size, as ``torch.nn.AdaptiveMaxPool2d``.

    Shapes: (N, C, H, W) → (N, C, OH, OW); bin i spans ``[⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉)`` and
    gives its maximum; the gradient goes to that maximum.  ``return_indices=True`` (a
    pair as output) is not supported in a network.
    """

    def __init__(
        self, output_size: int | Sequence[int | None], return_indices: bool = False
    ) -> None:
        super().__init__(output_size)
        if return_indices:
            raise ParameterError(
                "AdaptiveMaxPool2d return_indices=True is not supported (its output would be a pair)"
            )
        self.return_indices = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.pool import adaptive_max_pool2d

        self._x = x
        return adaptive_max_pool2d(x, self._target(x.shape))  # type: ignore[no-any-return]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.pool import adaptive_max_pool2d_backward

        return adaptive_max_pool2d_backward(grad, self._x)
