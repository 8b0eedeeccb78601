"""The activations of later CNNs, with their backwards: relu6, hardtanh, silu, gelu, hardswish,
hardsigmoid, elu, mish.

MobileNetV2 uses relu6, MobileNetV3 hardswish and hardsigmoid, EfficientNet silu
(swish), ConvNeXt gelu.  The classic ones (relu, leaky_relu, sigmoid, tanh, softmax)
are in :mod:`cnncli.engine.activations`, whose table of activations by name lists these too.

Each function has ``torch.nn.functional``'s name, arguments and defaults (without
``inplace``), works element-wise on arrays of any shape, keeps float32 as float32 and
float64 as float64 (float16 is computed in float32 and rounded once, as PyTorch's CPU
kernels do), and lets NaN and inf through as PyTorch does.  Each backward takes
``grad_output`` (dL/dy) and the forward's input and returns dL/dx; at the corners of
the piecewise ones it takes PyTorch's side (the docstrings say which).

=======================  =========================================================
forward                  backward
=======================  =========================================================
``relu6(x)``             ``relu6_backward(grad_output, input)``
``hardtanh(x, lo, hi)``  ``hardtanh_backward(grad_output, input, min_val, max_val)``
``silu(x)``              ``silu_backward(grad_output, input)``
``gelu(x, approximate)`` ``gelu_backward(grad_output, input, approximate)``
``hardswish(x)``         ``hardswish_backward(grad_output, input)``
``hardsigmoid(x)``       ``hardsigmoid_backward(grad_output, input)``
``elu(x, alpha)``        ``elu_backward(grad_output, input, alpha)``
``mish(x)``              ``mish_backward(grad_output, input)``
=======================  =========================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from cnncli.engine._checks import as_float_array, as_real, grad_pair
from cnncli.errors import ParameterError

#: gelu's ``approximate`` values, as PyTorch names them.
GELU_APPROXIMATIONS = ("none", "tanh")

_erf = np.vectorize(math.erf, otypes=[np.float64])  # NumPy has no erf; the library's is exact


def _computed(x: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn(x)`` in x's dtype, float16 in float32 rounded once at the end."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if x.dtype == np.float16:
            return np.asarray(fn(x.astype(np.float32)).astype(np.float16))
        return np.asarray(fn(x), dtype=x.dtype)


def _pair(grad_output: object, input: object) -> tuple[np.ndarray, np.ndarray]:
    """(dY, x) checked, both in their common dtype."""
    g, x = grad_pair(grad_output, input, "input")
    dtype = np.result_type(g, x)
    return g.astype(dtype, copy=False), x.astype(dtype, copy=False)


# ------------------------------------------------------------------ piecewise linear ---


def hardtanh(input: np.ndarray, min_val: float = -1.0, max_val: float = 1.0) -> np.ndarray:
    """x clipped to [min_val, max_val], element-wise.

    Shapes: any -> same.

    Formula: ``hardtanh(x) = min(max(x, min_val), max_val)`` (NaN stays NaN).
    """
    x = as_float_array(input)
    lo, hi = _bounds(min_val, max_val)
    t = x.dtype.type
    return _computed(x, lambda v: np.where(v < lo, t(lo), np.where(v > hi, t(hi), v)))


def hardtanh_backward(
    grad_output: np.ndarray, input: np.ndarray, min_val: float = -1.0, max_val: float = 1.0
) -> np.ndarray:
    """Gradient of :func:`hardtanh` with respect to its input.

    Shapes: grad_output and input the same, any shape -> dx of that shape.

    Formula: ``dx = grad_output if min_val < x < max_val else 0`` (0 at both ends and
    for NaN, as PyTorch).
    """
    g, x = _pair(grad_output, input)
    lo, hi = _bounds(min_val, max_val)
    return np.asarray(np.where((x > lo) & (x < hi), g, g.dtype.type(0)))


def _bounds(min_val: object, max_val: object) -> tuple[float, float]:
    lo, hi = as_real(min_val, "min_val"), as_real(max_val, "max_val")
    if lo > hi:
        raise ParameterError(f"min_val {lo:g} cannot be greater than max_val {hi:g}")
    return lo, hi


def relu6(input: np.ndarray) -> np.ndarray:
    """ReLU capped at 6 (MobileNetV2), element-wise.

    Shapes: any -> same.

    Formula: ``relu6(x) = min(max(x, 0), 6)`` = ``hardtanh(x, 0, 6)``.
    """
    return hardtanh(input, 0.0, 6.0)


def relu6_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """Gradient of :func:`relu6`: ``dx = grad_output if 0 < x < 6 else 0`` (0 at 0 and 6).

    Shapes: grad_output and input the same, any shape -> dx of that shape.
    """
    return hardtanh_backward(grad_output, input, 0.0, 6.0)


def hardsigmoid(input: np.ndarray) -> np.ndarray:
    """A piecewise-linear sigmoid (MobileNetV3), element-wise.

    Shapes: any -> same.

    Formula: ``hardsigmoid(x) = relu6(x + 3) / 6``: 0 for x <= -3, 1 for x >= 3,
    ``x / 6 + 1/2`` between.
    """
    x = as_float_array(input)
    t = x.dtype.type
    return _computed(x, lambda v: np.minimum(np.maximum(v + t(3), t(0)), t(6)) / t(6))


def hardsigmoid_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """Gradient of :func:`hardsigmoid`: ``dx = grad_output / 6 if -3 < x < 3 else 0``.

    Shapes: grad_output and input the same, any shape -> dx of that shape.

    PyTorch multiplies by 1/6 rounded to float32, also for float64 (an error of up to
    1e-8 relative); so does this, to give PyTorch's numbers.
    """
    g, x = _pair(grad_output, input)
    t = g.dtype.type
    one_sixth = t(np.float32(1 / 6))
    return np.asarray(np.where((x > t(-3)) & (x < t(3)), g * one_sixth, t(0)))


def hardswish(input: np.ndarray) -> np.ndarray:
    """x times its hardsigmoid (MobileNetV3), element-wise.

    Shapes: any -> same.

    Formula: ``hardswish(x) = x * relu6(x + 3) / 6``: 0 for x <= -3, x for x >= 3,
    ``x * (x + 3) / 6`` between.
    """
    x = as_float_array(input)
    t = x.dtype.type
    return _computed(x, lambda v: v * np.minimum(np.maximum(v + t(3), t(0)), t(6)) / t(6))


def hardswish_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """Gradient of :func:`hardswish` with respect to its input.

    Shapes: grad_output and input the same, any shape -> dx of that shape.

    Formula: ``dx = 0`` for x <= -3, ``grad_output * (x / 3 + 1/2)`` for -3 < x < 3,
    ``grad_output`` for x >= 3 (and for NaN, as PyTorch).
    """
    g, x = _pair(grad_output, input)
    t = g.dtype.type
    with np.errstate(invalid="ignore", over="ignore"):
        middle = g * (x / t(3) + t(0.5))
        return np.asarray(np.where(x <= t(-3), t(0), np.where(x < t(3), middle, g)))


# ------------------------------------------------------------------------- smooth ---


def elu(input: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Exponential linear unit, element-wise.

    Shapes: any -> same.

    Formula: ``elu(x) = x if x > 0 else alpha * (exp(x) - 1)``.
    """
    x = as_float_array(input)
    a = as_real(alpha, "alpha")
    t = x.dtype.type
    return _computed(x, lambda v: np.where(v > t(0), v, v.dtype.type(a) * np.expm1(v)))


def elu_backward(grad_output: np.ndarray, input: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Gradient of :func:`elu` with respect to its input.

    Shapes: grad_output and input the same, any shape -> dx of that shape.

    Formula: ``dx = grad_output if x > 0 else grad_output * alpha * exp(x)`` (the
    second at x = 0, as PyTorch).
    """
    g, x = _pair(grad_output, input)
    a = as_real(alpha, "alpha")
    return _computed(
        x, lambda v: np.where(v <= v.dtype.type(0), g * v.dtype.type(a) * np.exp(v), g)
    )


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return np.asarray(v.dtype.type(1) / (v.dtype.type(1) + np.exp(-v)))


def silu(input: np.ndarray) -> np.ndarray:
    """Sigmoid-weighted linear unit ("swish", EfficientNet), element-wise.

    Shapes: any -> same.

    Formula: ``silu(x) = x * sigmoid(x) = x / (1 + exp(-x))``.
    """
    x = as_float_array(input)
    return _computed(x, lambda v: v / (v.dtype.type(1) + np.exp(-v)))


def silu_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """Gradient of :func:`silu` with respect to its input.

    Shapes: grad_output and input the same, any shape -> dx of that shape.

    Formula: ``dx = grad_output * s * (1 + x * (1 - s))`` with ``s = sigmoid(x)``.
    """
    g, x = _pair(grad_output, input)

    def d(v: np.ndarray) -> np.ndarray:
        s, one = _sigmoid(v), v.dtype.type(1)
        return np.asarray(g.astype(v.dtype) * s * (one + v * (one - s)))

    return _computed(x, d)


def mish(input: np.ndarray) -> np.ndarray:
    """Mish (Misra 2019), element-wise.

    Shapes: any -> same.

    Formula: ``mish(x) = x * tanh(softplus(x))``, ``softplus(x) = log(1 + exp(x))``.
    """
    x = as_float_array(input)
    return _computed(x, lambda v: v * np.tanh(np.log1p(np.exp(v))))


def mish_backward(grad_output: np.ndarray, input: np.ndarray) -> np.ndarray:
    """Gradient of :func:`mish` with respect to its input.

    Shapes: grad_output and input the same, any shape -> dx of that shape.

    Formula: ``dx = grad_output * (t + x * sigmoid(x) * (1 - t²))`` with
    ``t = tanh(softplus(x))`` (softplus' derivative is the sigmoid).
    """
    g, x = _pair(grad_output, input)

    def d(v: np.ndarray) -> np.ndarray:
        t, one = np.tanh(np.log1p(np.exp(v))), v.dtype.type(1)
        return np.asarray(g.astype(v.dtype) * (t + v * _sigmoid(v) * (one - t * t)))

    return _computed(x, d)


def _approximation(approximate: object) -> str:
    if not isinstance(approximate, str) or approximate not in GELU_APPROXIMATIONS:
        raise ParameterError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return approximate


#: gelu's tanh approximation: sqrt(2 / pi) and the cubic's coefficient.
_BETA, _KAPPA = math.sqrt(2.0 / math.pi), 0.044715


def gelu(input: np.ndarray, approximate: str = "none") -> np.ndarray:
    """Gaussian error linear unit (ConvNeXt, transformers), element-wise.

    Shapes: any -> same.

    Formula: ``gelu(x) = x * Phi(x) = x / 2 * (1 + erf(x / sqrt(2)))`` (Phi the standard
    normal CDF); ``approximate="tanh"``: ``x / 2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x³)))``.
    erf comes from Python's math library, one value at a time (NumPy has none).
    """
    x = as_float_array(input)
    if _approximation(approximate) == "tanh":
        return _computed(x, _gelu_tanh)
    return _computed(x, _gelu_exact)


def _gelu_exact(v: np.ndarray) -> np.ndarray:
    w = v.astype(np.float64)  # erf in float64, rounded once to v's dtype
    return np.asarray(w / 2 * (1 + _erf(w * math.sqrt(0.5))))


def _gelu_tanh(v: np.ndarray) -> np.ndarray:
    t = v.dtype.type
    inner = t(_BETA) * (v + t(_KAPPA) * v * v * v)
    return np.asarray(t(0.5) * v * (t(1) + np.tanh(inner)))


def gelu_backward(
    grad_output: np.ndarray, input: np.ndarray, approximate: str = "none"
) -> np.ndarray:
    """Gradient of :func:`gelu` with respect to its input.

    Shapes: grad_output and input the same, any shape -> dx of that shape.

    Formula: ``dx = grad_output * (Phi(x) + x * phi(x))``, ``phi(x) = exp(-x²/2) / sqrt(2 pi)``;
    ``approximate="tanh"``: with ``u = sqrt(2/pi) * (x + 0.044715 x³)``,
    ``dx = grad_output * (1/2 (1 + tanh u) + x/2 (1 - tanh² u) sqrt(2/pi) (1 + 3 * 0.044715 x²))``.
    """
    g, x = _pair(grad_output, input)
    tanh_form = _approximation(approximate) == "tanh"

    def d(v: np.ndarray) -> np.ndarray:
        t = v.dtype.type
        if tanh_form:
            th = np.tanh(t(_BETA) * (v + t(_KAPPA) * v * v * v))
            inner_d = t(_BETA) * (t(1) + t(3 * _KAPPA) * v * v)
            slope = t(0.5) * (t(1) + th) + t(0.5) * v * (t(1) - th * th) * inner_d
        else:
            w = v.astype(np.float64)
            cdf = 0.5 * (1 + _erf(w * math.sqrt(0.5)))
            pdf = np.exp(-0.5 * w * w) / math.sqrt(2 * math.pi)
            slope = (cdf + w * pdf).astype(v.dtype)
        return np.asarray(g.astype(v.dtype) * slope)

    return _computed(x, d)
