"""The activations of later CNNs as layers: ReLU6, Hardtanh, SiLU, GELU, Hardswish, Hardsigmoid,
ELU, Mish, and Identity.

Shapes: any → the same shape.  Each forward is one call into
:mod:`cnncli.engine.activations_modern`, each backward one call into its ``_backward``
(which reads the forward's input).  ``inplace`` is accepted and shown as PyTorch shows it;
cnncli never writes into its input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cnncli.errors import ParameterError
from cnncli.nn.layers.base import Layer


def _number(value: object, where: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"{where} must be a number, got {value!r}")
    return value


class _Elementwise(Layer):
    """An activation whose backward reads the forward's input: ``op(x, **kw)`` and
    ``op_backward(grad, x, **kw)`` of :mod:`cnncli.engine.activations_modern`."""

    op = ""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def _kw(self) -> dict[str, Any]:
        return {}

    def _functions(self) -> tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]:
        from cnncli.engine import activations_modern as modern

        return getattr(modern, self.op), getattr(modern, self.op + "_backward")

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return self._functions()[0](x, **self._kw())

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return self._functions()[1](grad, self._x, **self._kw())

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU6(_Elementwise):
    """``min(max(0, x), 6)`` element-wise (MobileNetV2), as ``torch.nn.ReLU6``.

    Shapes: any → the same shape. ``dx = grad · [0 < x < 6]``.
    """

    op = "relu6"


class Hardtanh(_Elementwise):
    """``min(max(x, min_val), max_val)`` element-wise, as ``torch.nn.Hardtanh``.

    Shapes: any → the same shape. ``dx = grad · [min_val < x < max_val]``.
    """

    op = "hardtanh"

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.min_val = _number(min_val, "Hardtanh min_val")
        self.max_val = _number(max_val, "Hardtanh max_val")
        if self.min_val > self.max_val:
            raise ParameterError(
                f"Hardtanh min_val {self.min_val} cannot be greater than max_val {self.max_val}"
            )

    def _kw(self) -> dict[str, Any]:
        return {"min_val": self.min_val, "max_val": self.max_val}

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"min_val={self.min_val}, max_val={self.max_val}{inplace}"


class SiLU(_Elementwise):
    """``x · sigmoid(x)`` element-wise (swish; EfficientNet), as ``torch.nn.SiLU``.

    Shapes: any → the same shape. ``dx = grad · s · (1 + x·(1 − s))``, s = sigmoid(x).
    """

    op = "silu"


class GELU(_Elementwise):
    """``x · Φ(x)`` element-wise (ConvNeXt), as ``torch.nn.GELU``; ``approximate="tanh"``
    uses ``x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³)))``.

    Shapes: any → the same shape.
    """

    op = "gelu"

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ParameterError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _kw(self) -> dict[str, Any]:
        return {"approximate": self.approximate}

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Hardswish(_Elementwise):
    """``x · relu6(x + 3) / 6`` element-wise (MobileNetV3), as ``torch.nn.Hardswish``.

    Shapes: any → the same shape.
    """

    op = "hardswish"

    def extra_repr(self) -> str:
        return ""  # PyTorch does not show inplace here


class Hardsigmoid(_Elementwise):
    """``relu6(x + 3) / 6`` element-wise (MobileNetV3's gates), as ``torch.nn.Hardsigmoid``.

    Shapes: any → the same shape.
    """

    op = "hardsigmoid"

    def extra_repr(self) -> str:
        return ""  # PyTorch does not show inplace here


class ELU(_Elementwise):
    """``x`` if ``x > 0`` else ``alpha·(exp(x) − 1)`` element-wise, as ``torch.nn.ELU``.

    Shapes: any → the same shape.
    """

    op = "elu"

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.alpha = _number(alpha, "ELU alpha")

    def _kw(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Mish(_Elementwise):
    """``x · tanh(softplus(x))`` element-wise, as ``torch.nn.Mish``.

    Shapes: any → the same shape.
    """

    op = "mish"


class Identity(Layer):
    """The input unchanged, as ``torch.nn.Identity`` (a placeholder, e.g. a removed head).

    Shapes: any → the same shape. ``dx = grad``.  Any arguments are accepted and ignored,
    as PyTorch's.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad
