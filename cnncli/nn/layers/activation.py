"""Element-wise activations and Softmax: ReLU, LeakyReLU, Sigmoid, Tanh, Softmax.

Shapes: any → the same shape. Each forward is one call into
:mod:`cnncli.engine.activations`, each backward one call into its ``_backward``.
"""

from __future__ import annotations

import numpy as np

from cnncli.errors import ParameterError, ShapeError
from cnncli.nn.layers.base import Layer, Shape


class ReLU(Layer):
    """``max(0, x)`` element-wise, as ``torch.nn.ReLU`` (``inplace`` is accepted and shown).

    Shapes: any → the same shape. ``dx = grad · [x > 0]``.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import relu

        self._x = x
        return relu(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import relu_backward

        return relu_backward(grad, self._x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Layer):
    """``x`` if ``x > 0`` else ``negative_slope·x``, as ``torch.nn.LeakyReLU``.

    Shapes: any → the same shape.
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = bool(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import leaky_relu

        self._x = x
        return leaky_relu(x, self.negative_slope)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import leaky_relu_backward

        return leaky_relu_backward(grad, self._x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Layer):
    """``1 / (1 + exp(−x))`` element-wise, as ``torch.nn.Sigmoid``.

    Shapes: any → the same shape. ``dx = grad · y · (1 − y)``.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import sigmoid

        self._y = sigmoid(x)
        return self._y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import sigmoid_backward

        return sigmoid_backward(grad, self._y)


class Tanh(Layer):
    """``tanh(x)`` element-wise, as ``torch.nn.Tanh``.

    Shapes: any → the same shape. ``dx = grad · (1 − y²)``.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import tanh

        self._y = tanh(x)
        return self._y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import tanh_backward

        return tanh_backward(grad, self._y)


class Softmax(Layer):
    """``exp(x_i) / Σ_j exp(x_j)`` along ``dim``, as ``torch.nn.Softmax``.

    Shapes: any → the same shape.
    ``dim=None`` follows PyTorch's legacy rule: dim 0 for 0-, 1- and 3-D input, else 1.
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int)):
            raise ParameterError(f"Softmax dim must be an integer, got {dim!r}")
        self.dim = dim

    def _dim(self, ndim: int) -> int:
        if self.dim is None:
            return 0 if ndim in (0, 1, 3) else 1
        return self.dim

    def output_shape(self, input_shape: Shape) -> Shape:
        ndim = len(input_shape)
        if not -ndim <= self._dim(ndim) < ndim:
            raise ShapeError(f"Softmax dim={self.dim} is out of range for a {ndim}-D input")
        return tuple(input_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import softmax

        self._y = softmax(x, self._dim(x.ndim))
        return self._y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import softmax_backward

        return softmax_backward(grad, self._y, self._dim(grad.ndim))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
