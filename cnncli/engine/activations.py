"""Activation functions and their backwards: relu, leaky_relu, sigmoid, tanh, softmax, log_softmax.

Every function works on arrays of any shape (element-wise ops) or along one
chosen axis (softmax, log_softmax), keeps float32 as float32 and float64 as
float64, and refuses non-float dtypes with :class:`ParameterError`.  float16
input to sigmoid, softmax and log_softmax is computed in float32 and rounded once
at the end, as PyTorch's CPU kernels do.

Backward functions take ``grad_output`` (dL/dy, the shape of the output) and what
the forward saw or produced, and return dL/dx:

=====================  ==============================================================
forward                backward
=====================  ==============================================================
``relu(x)``            ``relu_backward(grad_output, input)``
``leaky_relu(x, a)``   ``leaky_relu_backward(grad_output, input, negative_slope)``
``sigmoid(x)``         ``sigmoid_backward(grad_output, output)``
``tanh(x)``            ``tanh_backward(grad_output, output)``
``softmax(x, dim)``    ``softmax_backward(grad_output, output, dim)``
``log_softmax(x, d)``  ``log_softmax_backward(grad_output, output, dim)``
=====================  ==============================================================

``softmax`` and ``log_softmax`` require ``dim``.  PyTorch's ``dim=None`` default is
deprecated there (it guesses dim 0 for 0-, 1- and 3-D input and 1 otherwise and
warns); cnncli does not guess.
"""

from __future__ import annotations

import numpy as np

from cnncli.engine._checks import as_float_array, as_real, grad_pair, normalize_dim
from cnncli.engine.fast import elementwise as fast_elementwise
from cnncli.engine.switch import fast_enabled
from cnncli.errors import ParameterError

_real = as_real
_grad_pair = grad_pair


def _dim(dim: object, ndim: int) -> int:
    # A 0-D array has one valid axis spelling for softmax, as in PyTorch: dim 0 or -1.
    return normalize_dim(dim, max(ndim, 1))  # type: ignore[arg-type]


def relu(input: np.ndarray) -> np.ndarray:
    """Rectified linear unit, element-wise.

    Shapes: any -> same.

    Formula: ``relu(x) = max(x, 0)`` (NaN stays NaN, as in PyTorch).
    """
    x = as_float_array(input)
    if fast_enabled():  # the maximum against a block of zeros, 64K elements at a time
        return fast_elementwise.relu(x)
    return np.asarray(np.maximum(x, x.dtype.type(0)))


def relu_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """Gradient of :func:`relu` with respect to its input.

    Shapes: grad_output and input the same, any shape -> dx of that shape.

    Formula: ``dx = 0 if x <= 0 else grad_output``; the gradient at exactly 0 is 0, as in PyTorch.
    """
    g, x = _grad_pair(grad_output, input, "input")
    g = g.astype(np.result_type(g, x), copy=False)
    if fast_enabled():  # a multiplication by the mask rather than np.where
        return fast_elementwise.relu_backward(g, x)
    return np.asarray(np.where(x <= 0, g.dtype.type(0), g))  # NaN inputs pass g, as in PyTorch


def leaky_relu(input: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """Leaky rectified linear unit, element-wise.

    Shapes: any -> same.

    Formula: ``leaky_relu(x) = x if x > 0 else negative_slope * x``.
    """
    x = as_float_array(input)
    a = x.dtype.type(_real(negative_slope, "negative_slope"))
    if fast_enabled():  # max(x, 0) + a * min(x, 0): branch-free, no np.where
        return fast_elementwise.leaky_relu(x, a)
    with np.errstate(invalid="ignore", over="ignore"):  # x * a is kept only where x <= 0
        return np.asarray(np.where(x > 0, x, x * a))


def leaky_relu_backward(
    grad_output: np.ndarray, input: np.ndarray, negative_slope: float = 0.01
) -> np.ndarray:
    """Gradient of :func:`leaky_relu` with respect to its input.

    Shapes: grad_output and input the same, any shape -> dx of that shape.

    Formula: ``dx = grad_output * (1 if x > 0 else negative_slope)`` (slope at exactly 0, as PyTorch).
    """
    g, x = _grad_pair(grad_output, input, "input")
    dtype = np.result_type(g, x)
    a = dtype.type(_real(negative_slope, "negative_slope"))
    g = g.astype(dtype, copy=False)
    if fast_enabled():  # multiplications by the masks rather than np.where
        return fast_elementwise.leaky_relu_backward(g, x, a)
    with np.errstate(invalid="ignore", over="ignore"):  # g * a is kept only where x <= 0
        return np.asarray(np.where(x > 0, g, g * a))


def sigmoid(input: np.ndarray) -> np.ndarray:
    """Logistic sigmoid, element-wise, without overflow for large ``|x|``.

    Shapes: any -> same.

    Formula: ``sigmoid(x) = 1 / (1 + exp(-x))``, as PyTorch computes it.  For very
    negative x, exp(-x) overflows to inf and the result is 1/(1 + inf) = 0, which is
    the true value rounded (it is below the dtype's smallest normal number); that
    overflow is expected, so no warning is raised.  For large positive x, exp(-x)
    underflows to 0 and the result is exactly 1.  Each result keeps full relative
    precision, also in the far negative tail (sigmoid(-20) = 2.06e-9).
    """
    x = as_float_array(input)
    if x.dtype == np.float16:
        return np.asarray(sigmoid(x.astype(np.float32)).astype(np.float16))
    e = np.negative(x.reshape(-1)).reshape(x.shape)  # an array also for 0-D input
    with np.errstate(over="ignore"):
        np.exp(e, out=e)
    e += x.dtype.type(1)
    np.reciprocal(e, out=e)
    return np.asarray(e)


def sigmoid_backward(grad_output: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Gradient of :func:`sigmoid` from its output ``y``.

    Shapes: grad_output and output the same, any shape -> dx of that shape.

    Formula: ``dx = grad_output * y * (1 - y)``.
    """
    g, y = _grad_pair(grad_output, output, "output")
    return np.asarray((y.dtype.type(1) - y) * y * g)


def tanh(input: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent, element-wise.

    Shapes: any -> same.

    Formula: ``tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x))``.
    """
    return np.asarray(np.tanh(as_float_array(input)))


def tanh_backward(grad_output: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Gradient of :func:`tanh` from its output ``y``.

    Shapes: grad_output and output the same, any shape -> dx of that shape.

    Formula: ``dx = grad_output * (1 - y²)``.
    """
    g, y = _grad_pair(grad_output, output, "output")
    return np.asarray(g * (y.dtype.type(1) - y * y))


def _shifted(x: np.ndarray, axis: int) -> np.ndarray:
    """``x - max(x)`` along ``axis``; an all ``-inf`` slice gives NaN, as in PyTorch."""
    if x.size == 0:
        return x.copy()
    return x - np.max(x, axis=axis, keepdims=True)


def softmax(input: np.ndarray, dim: int) -> np.ndarray:
    """Softmax along axis ``dim`` (required; negative counts from the end).

    Shapes: any -> same; the slices along ``dim`` sum to 1.

    Formula: ``softmax_i = exp(x_i - m) / sum_j exp(x_j - m)`` with ``m = max_j x_j``,
    so that ``exp`` never overflows: softmax([1000, 0, -1000]) = [1, exp(-1000), exp(-2000)].
    """
    x = as_float_array(input)
    axis = _dim(dim, x.ndim)
    if x.dtype == np.float16:
        return np.asarray(softmax(x.astype(np.float32), axis).astype(np.float16))
    if x.ndim == 0:
        return np.asarray(softmax(x.reshape(1), 0).reshape(()))
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(_shifted(x, axis))
        return np.asarray(e / np.sum(e, axis=axis, keepdims=True))


def log_softmax(input: np.ndarray, dim: int) -> np.ndarray:
    """Logarithm of the softmax along axis ``dim`` (required), computed by log-sum-exp.

    Shapes: any -> same.

    Formula: ``log_softmax_i = (x_i - m) - log(sum_j exp(x_j - m))`` with ``m = max_j x_j``.
    """
    x = as_float_array(input)
    axis = _dim(dim, x.ndim)
    if x.dtype == np.float16:
        return np.asarray(log_softmax(x.astype(np.float32), axis).astype(np.float16))
    if x.ndim == 0:
        return np.asarray(log_softmax(x.reshape(1), 0).reshape(()))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        z = _shifted(x, axis)
        return np.asarray(z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True)))


def softmax_backward(grad_output: np.ndarray, output: np.ndarray, dim: int) -> np.ndarray:
    """Gradient of :func:`softmax` from its output ``y``.

    Shapes: grad_output and output the same, any shape -> dx of that shape.

    Formula: ``dx_i = y_i * (g_i - sum_j g_j * y_j)`` along ``dim``.
    """
    g, y = _grad_pair(grad_output, output, "output")
    axis = _dim(dim, y.ndim)
    if y.ndim == 0:
        return np.asarray(np.zeros_like(g * y))
    return np.asarray(y * (g - np.sum(g * y, axis=axis, keepdims=True)))


def log_softmax_backward(grad_output: np.ndarray, output: np.ndarray, dim: int) -> np.ndarray:
    """Gradient of :func:`log_softmax` from its output ``z = log_softmax(x)``.

    Shapes: grad_output and output the same, any shape -> dx of that shape.

    Formula: ``dx_i = g_i - exp(z_i) * sum_j g_j`` along ``dim``.
    """
    g, z = _grad_pair(grad_output, output, "output")
    axis = _dim(dim, z.ndim)
    if z.ndim == 0:
        return np.asarray(np.zeros_like(g * z))
    return np.asarray(g - np.exp(z) * np.sum(g, axis=axis, keepdims=True))


# ---------------------------------------------------------------- by name ---
# One table, keyed by the command line's names, so that a command applies any
# activation (forward and backward) without a chain of ifs.  It sits below the
# ops it names; its imports (the later activations among them) are here with it.

from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from cnncli.engine import activations_modern as modern  # noqa: E402


@dataclass(frozen=True)
class ActivationArgs:
    """The parameters an activation by name may take; each uses its own and ignores the rest."""

    negative_slope: float = 0.01  # leaky-relu
    dim: int = 1  # softmax, log-softmax
    min_val: float = -1.0  # hardtanh
    max_val: float = 1.0  # hardtanh
    alpha: float = 1.0  # elu
    approximate: str = "none"  # gelu


#: forward(input, args) -> output
Forward = Callable[[np.ndarray, ActivationArgs], np.ndarray]
#: backward(grad_output, input, output, args) -> grad_input
Backward = Callable[[np.ndarray, np.ndarray, np.ndarray, ActivationArgs], np.ndarray]


class NamedActivation:
    """An activation by name: its forward, its backward and the parameters it takes.

    ``parameters`` names the fields of :class:`ActivationArgs` it reads:
    ``("negative_slope",)`` (leaky-relu), ``("dim",)`` (softmax, log-softmax),
    ``("min_val", "max_val")`` (hardtanh), ``("alpha",)`` (elu), ``("approximate",)``
    (gelu), or none.  The backward gets both the forward's input and output and uses
    the one its formula needs (relu: the input; sigmoid: the output).
    """

    __slots__ = ("backward", "forward", "name", "parameters")

    def __init__(
        self, name: str, forward: Forward, backward: Backward, parameters: tuple[str, ...] = ()
    ) -> None:
        self.name = name
        self.forward = forward
        self.backward = backward
        self.parameters = parameters

    def text(self, args: ActivationArgs | None = None) -> str:
        """``leaky-relu (negative_slope 0.01)``, ``softmax over dim 1``, or the name."""
        a = args or ActivationArgs()
        if self.parameters == ("dim",):
            return f"{self.name} over dim {a.dim}"
        if not self.parameters:
            return self.name
        values = ", ".join(f"{p} {_shown(getattr(a, p))}" for p in self.parameters)
        return f"{self.name} ({values})"


def _shown(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _elementwise(
    name: str,
    forward: Callable[..., np.ndarray],
    backward: Callable[..., np.ndarray],
    *parameters: str,
) -> NamedActivation:
    """An activation whose backward reads its input: ``backward(g, x, **parameters)``."""
    return NamedActivation(
        name,
        lambda x, a: forward(x, **{p: getattr(a, p) for p in parameters}),
        lambda g, x, y, a: backward(g, x, **{p: getattr(a, p) for p in parameters}),
        parameters,
    )


ACTIVATIONS: dict[str, NamedActivation] = {
    a.name: a
    for a in (
        _elementwise("relu", relu, relu_backward),
        _elementwise("leaky-relu", leaky_relu, leaky_relu_backward, "negative_slope"),
        NamedActivation(
            "sigmoid", lambda x, a: sigmoid(x), lambda g, x, y, a: sigmoid_backward(g, y)
        ),
        NamedActivation("tanh", lambda x, a: tanh(x), lambda g, x, y, a: tanh_backward(g, y)),
        NamedActivation(
            "softmax",
            lambda x, a: softmax(x, dim=a.dim),
            lambda g, x, y, a: softmax_backward(g, y, dim=a.dim),
            ("dim",),
        ),
        NamedActivation(
            "log-softmax",
            lambda x, a: log_softmax(x, dim=a.dim),
            lambda g, x, y, a: log_softmax_backward(g, y, dim=a.dim),
            ("dim",),
        ),
        _elementwise("relu6", modern.relu6, modern.relu6_backward),
        _elementwise("hardtanh", modern.hardtanh, modern.hardtanh_backward, "min_val", "max_val"),
        _elementwise("silu", modern.silu, modern.silu_backward),
        _elementwise("gelu", modern.gelu, modern.gelu_backward, "approximate"),
        _elementwise("hardswish", modern.hardswish, modern.hardswish_backward),
        _elementwise("hardsigmoid", modern.hardsigmoid, modern.hardsigmoid_backward),
        _elementwise("elu", modern.elu, modern.elu_backward, "alpha"),
        _elementwise("mish", modern.mish, modern.mish_backward),
    )
}


def named_activation(name: str) -> NamedActivation:
    """The table's entry for ``name``; :class:`ParameterError` for an unknown name."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ParameterError(f"unknown activation {name!r}") from None


def activation_forward(
    name: str, input: np.ndarray, negative_slope: float = 0.01, dim: int = 1, **more: object
) -> np.ndarray:
    """Apply the named activation (softmax and log-softmax over ``dim``; ``more``: the
    other fields of :class:`ActivationArgs`, e.g. ``alpha=0.5`` for elu)."""
    args = ActivationArgs(negative_slope, dim, **more)  # type: ignore[arg-type]
    return named_activation(name).forward(input, args)


def activation_backward(
    name: str,
    grad_output: np.ndarray,
    input: np.ndarray,
    output: np.ndarray,
    negative_slope: float = 0.01,
    dim: int = 1,
    **more: object,
) -> np.ndarray:
    """dL/dX of the named activation, given dL/dY, its input and its output."""
    args = ActivationArgs(negative_slope, dim, **more)  # type: ignore[arg-type]
    return named_activation(name).backward(grad_output, input, output, args)


def activation_text(name: str, negative_slope: float = 0.01, dim: int = 1, **more: object) -> str:
    """``leaky-relu (negative_slope 0.01)``, ``softmax over dim 1``, ``elu (alpha 1)``, or the name."""
    args = ActivationArgs(negative_slope, dim, **more)  # type: ignore[arg-type]
    return named_activation(name).text(args)
