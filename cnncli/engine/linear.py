"""Fully connected layer, flatten and dropout, with their backwards.

``linear(input, weight, bias=None)`` uses PyTorch's layout: weight (out, in),
``y = x Wᵀ + b``.  ``flatten`` follows ``torch.flatten`` (with ``nn.Flatten``'s
default ``start_dim=1``).  ``dropout`` is inverted dropout: kept values are scaled
by 1/(1-p) in training, so evaluation passes the input through unchanged;
``dropout2d`` does the same to whole channels (feature maps).
"""

from __future__ import annotations

import math

import numpy as np

from cnncli.engine._checks import as_float_array, check_same_shape, normalize_dim, result_dtype
from cnncli.engine.fast import linear as fast_linear
from cnncli.engine.switch import fast_enabled
from cnncli.errors import ParameterError, ShapeError


def linear(input: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """Fully connected layer ``y = x Wᵀ + b`` over the last axis.

    Shapes: input (..., in), weight (out, in), bias (out,) -> (..., out).

    Formula: ``y[..., o] = sum_i x[..., i] * W[o, i] + b[o]``.
    """
    x, w, b = _check_linear(input, weight, bias)
    dtype = result_dtype(x, w, b)
    ct = _compute_dtype(dtype)
    x, w = x.astype(ct, copy=False), w.astype(ct, copy=False)
    if fast_enabled() and fast_linear.fits(x, w):  # a large weight at a small batch
        y = fast_linear.product(x, w)
    else:
        y = np.asarray(np.matmul(x, w.T))
    if b is not None:
        y += b.astype(ct, copy=False)
    return y.astype(dtype, copy=False)


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    # float16 has no BLAS: compute in float32 and round once at the end (as conv2d does).
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def linear_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    weight: np.ndarray,
    bias: bool = True,
    *,
    dw_out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`linear` with respect to input, weight and bias.

    Shapes: grad_output (..., out), input (..., in), weight (out, in)
    -> dx (..., in), dw (out, in), db (out,) or None when ``bias`` is False.

    Formulas: ``dx = g W``, ``dw = sum over leading axes of gᵀ x``, ``db = sum of g over leading axes``.

    ``dw_out``, an array of dw's shape and dtype, receives dw instead of a new array (a
    training loop's last dW, which nothing else holds: a large layer's fresh pages would
    cost a third of the product's time; benchmarks/README.md, decision table).
    """
    x, w, _ = _check_linear(input, weight, None)
    g = as_float_array(grad_output, "grad_output")
    out_shape = (*x.shape[:-1], w.shape[0])
    if g.shape != out_shape:
        raise ShapeError(
            f"grad_output has shape {g.shape} but linear of input {x.shape} "
            f"and weight {w.shape} gives {out_shape}"
        )
    dtype = result_dtype(g, x, w)
    ct = _compute_dtype(dtype)
    g = g.astype(ct, copy=False)
    x = x.astype(ct, copy=False)
    w = w.astype(ct, copy=False)
    dx = np.matmul(g, w)
    M = math.prod(x.shape[:-1])  # the leading axes as one; explicit, since 'in' may be 0
    g2 = g.reshape(M, w.shape[0])  # (M, out)
    x2 = x.reshape(M, w.shape[1])  # (M, in)
    if dw_out is not None and dw_out.shape == w.shape and dw_out.dtype == ct == dtype:
        dw = np.matmul(g2.T, x2, out=dw_out)
    else:
        dw = g2.T @ x2
    db = np.sum(g2, axis=0).astype(dtype, copy=False) if bias else None
    return dx.astype(dtype, copy=False), dw.astype(dtype, copy=False), db


def _check_linear(
    input: object, weight: object, bias: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    x = as_float_array(input)
    w = as_float_array(weight, "weight")
    b = None if bias is None else as_float_array(bias, "bias")
    if x.ndim < 1:
        raise ShapeError("linear input must have at least 1 dimension (..., in), got a 0-D array")
    if w.ndim != 2:
        raise ShapeError(f"linear weight must be 2-D (out, in), got shape {w.shape}")
    n_in = w.shape[1]
    if x.shape[-1] != n_in:
        raise ShapeError(
            f"linear input has {x.shape[-1]} features in its last axis (shape {x.shape}) "
            f"but weight {w.shape} expects {n_in}",
            hint="weight is (out, in), as in PyTorch; flatten the input first if it is an image",
        )
    if b is not None:
        want = w.shape[:1]
        if b.shape != want:
            raise ShapeError(
                f"linear bias must have shape {want} for weight {w.shape}, got {b.shape}"
            )
    return x, w, b


def _flatten_dims(ndim: int, start_dim: object, end_dim: object) -> tuple[int, int]:
    # torch.flatten treats a 0-D array as 1-D when wrapping dims.
    rank = max(ndim, 1)
    start = normalize_dim(start_dim, rank, "start_dim")  # type: ignore[arg-type]
    end = normalize_dim(end_dim, rank, "end_dim")  # type: ignore[arg-type]
    if start > end:
        raise ParameterError(
            f"flatten start_dim={start_dim} comes after end_dim={end_dim} "
            f"for a {ndim}-D array (axes {start} > {end})"
        )
    return start, end


def flatten(input: np.ndarray, start_dim: int = 1, end_dim: int = -1) -> np.ndarray:
    """Merge the axes ``start_dim .. end_dim`` (inclusive) into one, as ``torch.flatten``.

    Shapes: (d0, ..., d_start, ..., d_end, ...) -> (d0, ..., d_start*...*d_end, ...);
    e.g. (N, C, H, W) -> (N, C*H*W) with the defaults.  A 0-D array becomes (1,).

    Returns a view when NumPy can reshape without copying.
    """
    x = as_float_array(input)
    start, end = _flatten_dims(x.ndim, start_dim, end_dim)
    if x.ndim == 0:
        return x.reshape(1)
    shape = (*x.shape[:start], math.prod(x.shape[start : end + 1]), *x.shape[end + 1 :])
    return x.reshape(shape)


def flatten_backward(grad_output: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """Gradient of :func:`flatten`: the gradient reshaped back to the input's shape.

    Shapes: grad_output (flattened shape) -> dx ``input_shape``.
    """
    g = as_float_array(grad_output, "grad_output")
    message = f"input_shape must be a tuple of non-negative integers, got {input_shape!r}"
    if not isinstance(input_shape, (tuple, list)):
        raise ParameterError(message)
    shape: list[int] = []
    for d in input_shape:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0:
            raise ParameterError(message)
        shape.append(int(d))
    if math.prod(shape) != g.size:
        raise ShapeError(f"grad_output of shape {g.shape} cannot be unflattened to {tuple(shape)}")
    return g.reshape(shape)


def _probability(p: object) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise ParameterError(f"dropout probability p must be a number, got {p!r}")
    value = float(p)
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise ParameterError(f"dropout probability p must be between 0 and 1, got {p!r}")
    return value


def _scale(p: float, dtype: np.dtype) -> np.floating:
    """1/(1-p) in ``dtype``; 0 when p == 1 (everything is dropped, as in PyTorch)."""
    return dtype.type(0.0 if p == 1.0 else 1.0 / (1.0 - p))


def dropout(
    input: np.ndarray,
    p: float = 0.5,
    training: bool = True,
    generator: np.random.Generator | int | None = None,
    return_mask: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Inverted dropout: zero each element with probability ``p``, scale the rest by 1/(1-p).

    Shapes: any -> same; the mask (when ``return_mask``) is a bool array of that
    shape, True where the element was kept.

    Formula (training): ``y = x * mask / (1 - p)`` with ``mask ~ Bernoulli(1 - p)``;
    p = 1 gives all zeros.  Evaluation (``training=False``) returns the input unchanged
    (the same array) and an all-True mask.

    ``generator`` is a ``np.random.Generator`` (or an int seed); the same seed gives
    the same mask.  Without one, a fresh unseeded generator is used.  PyTorch's
    ``inplace`` is not supported.
    """
    x = as_float_array(input)
    rate = _probability(p)
    if not isinstance(training, (bool, np.bool_)):
        raise ParameterError(f"dropout training must be True or False, got {training!r}")
    if not training:
        return (x, np.ones(x.shape, dtype=bool)) if return_mask else x
    rng = _generator(generator)
    mask = rng.random(x.shape) >= rate
    y = np.where(mask, x * _scale(rate, x.dtype), x.dtype.type(0))
    return (y, mask) if return_mask else y


def dropout_backward(grad_output: np.ndarray, mask: np.ndarray, p: float) -> np.ndarray:
    """Gradient of :func:`dropout` (training mode), reusing the forward's mask.

    Shapes: grad_output and mask the same, any shape -> dx of that shape.

    Formula: ``dx = grad_output * mask / (1 - p)`` (0 everywhere when p = 1).
    """
    g = as_float_array(grad_output, "grad_output")
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        raise ParameterError(
            f"dropout mask must be a bool array, got dtype {m.dtype}",
            hint="pass the mask returned by dropout(..., return_mask=True)",
        )
    check_same_shape(g, m, "grad_output", "mask")
    rate = _probability(p)
    return np.where(m, g * _scale(rate, g.dtype), g.dtype.type(0))


def _generator(generator: object) -> np.random.Generator:
    if generator is None:
        return np.random.default_rng()
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        if generator < 0:
            raise ParameterError(f"dropout seed must be non-negative, got {generator}")
        return np.random.default_rng(int(generator))
    raise ParameterError(
        f"dropout generator must be a numpy.random.Generator or an int seed, got {generator!r}"
    )


def dropout2d(
    input: np.ndarray,
    p: float = 0.5,
    training: bool = True,
    generator: np.random.Generator | int | None = None,
    return_mask: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Channel dropout: zero each whole (image, channel) map with probability ``p``.

    Shapes: input (N, C, H, W) -> same; the mask (when ``return_mask``) is a bool array
    (N, C, 1, 1), True where the map was kept.

    Formula (training): ``y[n, c] = x[n, c] * mask[n, c] / (1 - p)`` with
    ``mask[n, c] ~ Bernoulli(1 - p)``, one draw per map (neighbouring pixels of a
    feature map are correlated, so dropping single pixels regularises little).
    Evaluation returns the input unchanged.  ``generator`` as :func:`dropout`.
    """
    x = as_float_array(input)
    if x.ndim != 4:
        raise ShapeError(f"dropout2d input must be 4-D (N, C, H, W), got shape {x.shape}")
    rate = _probability(p)
    if not isinstance(training, (bool, np.bool_)):
        raise ParameterError(f"dropout2d training must be True or False, got {training!r}")
    if not training:
        return (x, np.ones((*x.shape[:2], 1, 1), dtype=bool)) if return_mask else x
    mask = _generator(generator).random((*x.shape[:2], 1, 1)) >= rate  # (N, C, 1, 1)
    y = np.where(mask, x * _scale(rate, x.dtype), x.dtype.type(0))
    return (y, mask) if return_mask else y


def dropout2d_backward(grad_output: np.ndarray, mask: np.ndarray, p: float) -> np.ndarray:
    """Gradient of :func:`dropout2d` (training mode), reusing the forward's mask.

    Shapes: grad_output (N, C, H, W), mask (N, C, 1, 1) bool -> dx (N, C, H, W).

    Formula: ``dx[n, c] = grad_output[n, c] * mask[n, c] / (1 - p)``.
    """
    g = as_float_array(grad_output, "grad_output")
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        raise ParameterError(
            f"dropout2d mask must be a bool array, got dtype {m.dtype}",
            hint="pass the mask returned by dropout2d(..., return_mask=True)",
        )
    if g.ndim != 4 or m.shape != (*g.shape[:2], 1, 1):
        raise ShapeError(
            f"dropout2d mask must have shape (N, C, 1, 1) for grad_output {g.shape}, got {m.shape}"
        )
    return np.where(m, g * _scale(_probability(p), g.dtype), g.dtype.type(0))
