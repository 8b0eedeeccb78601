"""Reshaping, dropout and dense layers: Flatten, View, Dropout, Dropout2d, Linear.

Linear's and Dropout's forward and backward are one call each into
:mod:`cnncli.engine.linear`; Flatten and View reshape.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from cnncli.errors import ParameterError, ShapeError
from cnncli.nn.layers.base import (
    Layer,
    RfStep,
    Shape,
    _fmt_shape,
    _kaiming_uniform,
    _prod,
    _uniform,
)


class Flatten(Layer):
    """Flatten dims ``start_dim..end_dim`` into one, as ``torch.nn.Flatten``.

    Shapes: (N, C, H, W) → (N, C·H·W) with the defaults.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1, functional: bool = False) -> None:
        super().__init__()
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ParameterError(f"Flatten {name} must be an integer, got {value!r}")
        self.start_dim = start_dim
        self.end_dim = end_dim
        self.functional = functional

    def _dims(self, ndim: int) -> tuple[int, int]:
        s = self.start_dim + ndim if self.start_dim < 0 else self.start_dim
        e = self.end_dim + ndim if self.end_dim < 0 else self.end_dim
        if not (0 <= s < ndim and 0 <= e < ndim) or s > e:
            raise ShapeError(
                f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit a "
                f"{ndim}-D input"
            )
        return s, e

    def output_shape(self, input_shape: Shape) -> Shape:
        s, e = self._dims(len(input_shape))
        return (*input_shape[:s], _prod(input_shape[s : e + 1]), *input_shape[e + 1 :])

    def rf_step(self, input_shape: Shape) -> RfStep | None:
        return None

    def formulas(self, input_shape: Shape) -> list[str]:
        s, e = self._dims(len(input_shape))
        parts = input_shape[s : e + 1]
        return [f"{'·'.join(str(p) for p in parts)} = {_prod(parts)} values per sample"]

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(self.output_shape(x.shape))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(self._shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class View(Layer):
    """``x.view(x.size(0), features)`` written in a model's forward (the seed's AlexNet).

    Shapes: (N, C, H, W) → (N, features); C·H·W must equal ``features``.
    """

    functional = True

    def __init__(self, features: int, text: str | None = None) -> None:
        super().__init__()
        self.features = features
        self.text = text or str(features)

    @property
    def type_name(self) -> str:
        return "view"

    def output_shape(self, input_shape: Shape) -> Shape:
        per_sample = _prod(input_shape[1:])
        if per_sample != self.features:
            dims = "·".join(str(s) for s in input_shape[1:])
            raise ShapeError(
                f"x.view(x.size(0), {self.text}) needs {self.features} values per sample, "
                f"but the input {_fmt_shape(input_shape)} has {dims} = {per_sample}"
            )
        return (int(input_shape[0]), self.features)

    def rf_step(self, input_shape: Shape) -> RfStep | None:
        return None

    def formulas(self, input_shape: Shape) -> list[str]:
        dims = "·".join(str(s) for s in input_shape[1:])
        return [f"{dims} = {_prod(input_shape[1:])} (view needs {self.text} = {self.features})"]

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(self.output_shape(x.shape))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(self._shape)


class Dropout(Layer):
    """Zero each value with probability ``p`` in training, scale the rest by 1/(1−p).

    Shapes: any → the same shape.
    As ``torch.nn.Dropout``; the identity in eval mode. The mask comes from the
    layer's own seeded generator (``set_generator``), so runs are reproducible.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ParameterError(f"{self.type_name} p must be between 0 and 1, got {p!r}")
        self.p = float(p)
        self.inplace = bool(inplace)
        self.generator = np.random.default_rng(0)
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        from cnncli.engine.linear import dropout

        out, mask = dropout(x, self.p, training=True, generator=self.generator, return_mask=True)
        self._mask = mask
        return out  # type: ignore[no-any-return]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        if self._mask is None:
            return grad
        from cnncli.engine.linear import dropout_backward

        return dropout_backward(grad, self._mask, self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


#: A Linear layer keeps its dW for the next backward from this many values (4 MiB).
SPARE_DW_VALUES = 1 << 20


class Linear(Layer):
    """Fully connected layer, as ``torch.nn.Linear``: ``y = x·Wᵀ + b``.

    Shapes: input (*, in_features), weight (out_features, in_features), bias
    (out_features,) → (*, out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"Linear {name} must be a positive integer, got {value!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.bias = bias
        self._params = {"weight": None, **({"bias": None} if bias else {})}
        self._spare_dw: np.ndarray | None = None  # the last dW, written again if no one holds it

    def param_shapes(self) -> dict[str, Shape]:
        shapes: dict[str, Shape] = {"weight": (self.out_features, self.in_features)}
        if self.bias:
            shapes["bias"] = (self.out_features,)
        return shapes

    def _reset_own(self, rng: np.random.Generator) -> None:
        self._params["weight"] = _kaiming_uniform(
            rng, (self.out_features, self.in_features), self.in_features
        )
        if self.bias:
            bound = 1.0 / math.sqrt(self.in_features)
            self._params["bias"] = _uniform(rng, (self.out_features,), bound)

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 1 or input_shape[-1] != self.in_features:
            raise ShapeError(
                f"Linear expects {self.in_features} input features, but the input "
                f"{_fmt_shape(input_shape)} has {input_shape[-1] if input_shape else 0} "
                "in its last dimension",
                hint="flatten first, or set in_features to match",
            )
        return (*input_shape[:-1], self.out_features)

    def rf_step(self, input_shape: Shape) -> RfStep | None:
        return None

    def formulas(self, input_shape: Shape) -> list[str]:
        b = " + b" if self.bias else ""
        return [f"y = x·Wᵀ{b}: {self.in_features} → {self.out_features}"]

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.linear import linear

        self._x = x
        return linear(x, self._param("weight"), self._params.get("bias"))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.linear import linear_backward

        spare, self._spare_dw = self._spare_dw, None
        # The last dW again, if nothing else holds it any more (the optimizer has used it
        # and zero_grad dropped it): only ``spare`` and getrefcount's own argument.
        reuse = spare is not None and sys.getrefcount(spare) == 2 and spare.flags.writeable
        dx, dw, db = linear_backward(
            grad, self._x, self._param("weight"), bias=self.bias, dw_out=spare if reuse else None
        )
        self._spare_dw = dw if dw.size >= SPARE_DW_VALUES else None
        self.grads = {"weight": dw}
        if self.bias and db is not None:
            self.grads["bias"] = db
        return dx

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias}"


class Dropout2d(Dropout):
    """Zero each whole channel (feature map) with probability ``p`` in training, scale the
    rest by 1/(1−p), as ``torch.nn.Dropout2d``.

    Shapes: (N, C, H, W) → the same shape; one draw per (image, channel).  The identity
    in eval mode; the mask comes from the layer's own seeded generator, as Dropout's.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        from cnncli.engine.linear import dropout2d

        out, mask = dropout2d(x, self.p, training=True, generator=self.generator, return_mask=True)
        self._mask = mask
        return out  # type: ignore[no-any-return]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        if self._mask is None:
            return grad
        from cnncli.engine.linear import dropout2d_backward

        return dropout2d_backward(grad, self._mask, self.p)
