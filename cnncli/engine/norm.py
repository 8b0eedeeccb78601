"""Batch normalisation and group normalisation over the channel axis (axis 1), forward and backward.

Works on (N, C), (N, C, L), (N, C, H, W) and any (N, C, ...) as
``torch.nn.functional.batch_norm`` does: each channel is normalised over every
other axis, i.e. over (N, H, W) for images and over (N,) for (N, C).
``group_norm`` normalises each image's groups of C/G channels over (C/G, H, W),
as ``torch.nn.functional.group_norm``.
"""

from __future__ import annotations

import math

import numpy as np

from cnncli.engine._checks import as_float_array, result_dtype
from cnncli.errors import ParameterError, ShapeError


def _channel_vector(v: object, name: str, C: int) -> np.ndarray | None:
    if v is None:
        return None
    arr = as_float_array(v, name)
    if arr.shape != (C,):
        raise ShapeError(
            f"batch_norm {name} must have shape ({C},) for C={C} channels, got {arr.shape}"
        )
    return arr


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"batch_norm {name} must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ParameterError(f"batch_norm {name} must be finite, got {value!r}")
    return out


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"batch_norm {name} must be True or False, got {value!r}")
    return bool(value)


def _eps(eps: object, training: bool) -> float:
    """eps as a float: positive in training (the batch variance can be 0), non-negative else."""
    e = _number(eps, "eps")
    if e < 0 or (training and e == 0):
        need = "positive in training" if training else "non-negative"
        raise ParameterError(
            f"batch_norm eps must be {need}, got {eps!r}", hint="the usual value is 1e-5"
        )
    return e


def _f32(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else a.astype(np.float32)


def _check_input(input: object) -> np.ndarray:
    x = as_float_array(input)
    if x.ndim < 2:
        raise ShapeError(
            f"batch_norm input must be (N, C) or (N, C, ...) with at least 2 dimensions, "
            f"got shape {x.shape}"
        )
    return x


def _axes(x: np.ndarray) -> tuple[int, ...]:
    return (0, *range(2, x.ndim))


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """Reshape a (C,) vector to (1, C, 1, ...) so that it broadcasts over (N, C, ...)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _batch_stats(x: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance (C,) of ``x``, and ``x - mean`` (N, C, ...)."""
    if count < 2:
        raise ShapeError(
            f"batch_norm in training needs more than 1 value per channel, got input {x.shape} "
            f"({count} value per channel)",
            hint="use a batch of at least 2, or training=False",
        )
    axes = _axes(x)
    # Sums accumulate in float64, and the float64 mean is split into a float32 head and tail so
    # that x - mean keeps the spread of float32 data near 1000 with a standard deviation of 0.01.
    mean64 = np.mean(x, axis=axes, dtype=np.float64)
    head = mean64.astype(x.dtype)
    tail = (mean64 - head).astype(x.dtype)
    centred = x - _per_channel(head, x.ndim)
    centred -= _per_channel(tail, x.ndim)
    var = np.mean(np.square(centred), axis=axes, dtype=np.float64).astype(x.dtype)
    return head, var, centred


def batch_norm(
    input: np.ndarray,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> np.ndarray:
    """Normalise each channel to zero mean and unit variance, then scale and shift.

    Shapes: input (N, C, ...) e.g. (N, C, H, W) or (N, C); running_mean,
    running_var, weight, bias (C,) -> output of the input's shape.

    Formula: ``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel.
    Training uses the batch's mean and biased variance over (N, H, W) and updates
    the running statistics in place (when given)::

        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)

    with M = N*H*W values per channel (the unbiased variance, as PyTorch).
    Evaluation uses running_mean and running_var, which must then be given.
    PyTorch's ``momentum=None`` (cumulative average) is not supported.
    """
    x = _check_input(input)
    C = x.shape[1]
    rm = _channel_vector(running_mean, "running_mean", C)
    rv = _channel_vector(running_var, "running_var", C)
    w = _channel_vector(weight, "weight", C)
    b = _channel_vector(bias, "bias", C)
    is_training = _flag(training, "training")
    m = _number(momentum, "momentum")
    e = _eps(eps, is_training)
    if (rm is None) != (rv is None):
        raise ParameterError("batch_norm needs both running_mean and running_var, or neither")
    dtype = result_dtype(x, w, b)
    if dtype == np.float16:  # computed in float32 and rounded once, as PyTorch's CPU kernel
        y32 = batch_norm(
            x.astype(np.float32), running_mean, running_var, _f32(w), _f32(b),
            is_training, m, e,
        )  # fmt: skip
        return y32.astype(np.float16)
    x = x.astype(dtype, copy=False)
    if is_training:
        count = x.size // C if C else 0
        mean, var, centred = _batch_stats(x, count)
        if rm is not None and rv is not None:
            for arr, name in ((rm, "running_mean"), (rv, "running_var")):
                if not isinstance(arr, np.ndarray) or not arr.flags.writeable:
                    raise ParameterError(f"batch_norm {name} must be a writeable array in training")
            unbiased = var * (count / (count - 1))
            rm[...] = (1 - m) * rm + m * mean
            rv[...] = (1 - m) * rv + m * unbiased
    else:
        if rm is None or rv is None:
            raise ParameterError(
                "batch_norm in evaluation mode (training=False) needs running_mean and running_var"
            )
        mean, var = rm.astype(dtype, copy=False), rv.astype(dtype, copy=False)
        centred = x - _per_channel(mean, x.ndim)
    with np.errstate(divide="ignore", invalid="ignore"):
        invstd = (1 / np.sqrt(var + dtype.type(e))).astype(dtype, copy=False)
    scale = invstd if w is None else invstd * w.astype(dtype, copy=False)
    # (x - mean) first: x*scale - mean*scale would cancel badly when |mean| >> std.
    y = centred  # a fresh array of ours in both modes, so it can be updated in place
    y *= _per_channel(scale, x.ndim)
    if b is not None:
        y += _per_channel(b.astype(dtype, copy=False), x.ndim)
    return y


def batch_norm_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    weight: np.ndarray | None,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    training: bool,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`batch_norm` with respect to input, weight and bias.

    Shapes: grad_output and input (N, C, ...), weight, running_mean, running_var
    (C,) -> dx (N, C, ...), dweight (C,), dbias (C,).  dweight and dbias are
    what a weight and bias would receive (computed even when they are None).

    Formulas, with ``x̂ = (x - mean) * invstd``, ``invstd = 1/sqrt(var + eps)``,
    ``g = grad_output``, ``γ = weight`` (1 when None), sums over the M = N*H*W
    values of a channel::

        dbias   = sum g
        dweight = sum g * x̂
        dx      = γ * invstd / M * (M*g - sum g - x̂ * sum g*x̂)   (training: batch stats)
        dx      = γ * invstd * g                                  (evaluation: running stats)

    Training needs neither running statistic (they may be None); evaluation needs both.
    """
    x = _check_input(input)
    g = as_float_array(grad_output, "grad_output")
    if g.shape != x.shape:
        raise ShapeError(f"grad_output has shape {g.shape} but input has shape {x.shape}")
    C = x.shape[1]
    w = _channel_vector(weight, "weight", C)
    rm = _channel_vector(running_mean, "running_mean", C)
    rv = _channel_vector(running_var, "running_var", C)
    is_training = _flag(training, "training")
    e = _eps(eps, is_training)
    dtype = result_dtype(g, x, w)
    if dtype == np.float16:
        grads = batch_norm_backward(
            g.astype(np.float32), x.astype(np.float32), _f32(w), running_mean, running_var,
            is_training, e,
        )  # fmt: skip
        dx16, dw16, db16 = (a.astype(np.float16) for a in grads)
        return dx16, dw16, db16
    x = x.astype(dtype, copy=False)
    g = g.astype(dtype, copy=False)
    axes = _axes(x)
    if is_training:
        count = x.size // C if C else 0
        _, var, centred = _batch_stats(x, count)
    else:
        if rm is None or rv is None:
            raise ParameterError(
                "batch_norm_backward in evaluation mode (training=False) needs running_mean "
                "and running_var"
            )
        var = rv.astype(dtype, copy=False)
        centred = x - _per_channel(rm.astype(dtype, copy=False), x.ndim)
    with np.errstate(divide="ignore", invalid="ignore"):
        invstd = (1 / np.sqrt(var + dtype.type(e))).astype(dtype, copy=False)
    xhat = centred * _per_channel(invstd, x.ndim)
    dbias = np.sum(g, axis=axes)
    dweight = np.sum(g * xhat, axis=axes)
    gamma = np.ones(C, dtype=dtype) if w is None else w.astype(dtype, copy=False)
    if is_training:
        k = gamma * invstd / count
        dx = _per_channel(k, x.ndim) * (
            count * g - _per_channel(dbias, x.ndim) - xhat * _per_channel(dweight, x.ndim)
        )
    else:
        dx = g * _per_channel(gamma * invstd, x.ndim)
    return dx.astype(dtype, copy=False), dweight.astype(dtype), dbias.astype(dtype)


# ------------------------------------------------------------------------ group norm ---


def _groups_of(x: np.ndarray, num_groups: object) -> int:
    """num_groups checked against the input's channels, as torch.nn.functional.group_norm."""
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)):
        raise ParameterError(f"group_norm num_groups must be an integer, got {num_groups!r}")
    G = int(num_groups)
    if G < 1 or x.shape[1] % G:
        raise ShapeError(
            f"group_norm expects the number of channels in input to be divisible by "
            f"num_groups, but got input of shape {x.shape} and num_groups={G}"
        )
    return G


def _group_stats(x: np.ndarray, G: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """``x̂`` (N, G, M) and ``invstd`` (N, G, 1) of each (image, group): M = C/G * H * W values."""
    xg = x.reshape(x.shape[0], G, -1)  # (N, G, M)
    mean = np.mean(xg, axis=2, keepdims=True, dtype=np.float64).astype(x.dtype)
    centred = xg - mean
    var = np.mean(np.square(centred), axis=2, keepdims=True, dtype=np.float64).astype(x.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        invstd = (1 / np.sqrt(var + x.dtype.type(eps))).astype(x.dtype, copy=False)
    return centred * invstd, invstd


def group_norm(
    input: np.ndarray,
    num_groups: int,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    eps: float = 1e-5,
) -> np.ndarray:
    """Normalise each group of channels of each image, then scale and shift per channel.

    Shapes: input (N, C, ...) e.g. (N, C, H, W); weight, bias (C,) or None → the input's
    shape.  C must be a multiple of ``num_groups``.

    Formula: for image n and group k (channels k*C/G .. (k+1)*C/G - 1, and every H, W),
    mean and biased variance over those M = C/G * H * W values, then
    ``y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c]``.  Unlike batch_norm it
    uses no batch statistics, so training and evaluation compute the same.  G = 1 is
    layer norm over (C, H, W), G = C instance norm.
    """
    x = _check_input(input)
    G = _groups_of(x, num_groups)
    C = x.shape[1]
    w = _channel_vector(weight, "weight", C)
    b = _channel_vector(bias, "bias", C)
    e = _eps(eps, True)
    dtype = result_dtype(x, w, b)
    if dtype == np.float16:  # computed in float32 and rounded once
        return group_norm(x.astype(np.float32), G, _f32(w), _f32(b), e).astype(np.float16)
    x = x.astype(dtype, copy=False)
    xhat, _ = _group_stats(x, G, e)
    y = xhat.reshape(x.shape)
    if w is not None:
        y = y * _per_channel(w.astype(dtype, copy=False), x.ndim)
    if b is not None:
        y = y + _per_channel(b.astype(dtype, copy=False), x.ndim)
    return np.ascontiguousarray(y, dtype=dtype)


def group_norm_backward(
    grad_output: np.ndarray,
    input: np.ndarray,
    num_groups: int,
    weight: np.ndarray | None = None,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`group_norm`: ``(dx, dweight, dbias)``.

    Shapes: grad_output and input (N, C, ...), weight (C,) or None → dx (N, C, ...),
    dweight (C,), dbias (C,) (computed even when weight and bias are None).

    Formulas, with ``x̂ = (x - mean) * invstd`` per (image, group), ``γ = weight``
    (1 when None), ``h = g * γ[c]``, sums over a group's M values::

        dbias[c]   = sum_{n, h, w} g
        dweight[c] = sum_{n, h, w} g * x̂
        dx         = invstd / M * (M*h - sum h - x̂ * sum h*x̂)

    (batch_norm's training backward, with the group in place of the channel).
    """
    x = _check_input(input)
    g = as_float_array(grad_output, "grad_output")
    if g.shape != x.shape:
        raise ShapeError(f"grad_output has shape {g.shape} but input has shape {x.shape}")
    G = _groups_of(x, num_groups)
    C = x.shape[1]
    w = _channel_vector(weight, "weight", C)
    e = _eps(eps, True)
    dtype = result_dtype(g, x, w)
    if dtype == np.float16:
        grads = group_norm_backward(g.astype(np.float32), x.astype(np.float32), G, _f32(w), e)
        dx16, dw16, db16 = (a.astype(np.float16) for a in grads)
        return dx16, dw16, db16
    x, g = x.astype(dtype, copy=False), g.astype(dtype, copy=False)
    xhat, invstd = _group_stats(x, G, e)  # (N, G, M), (N, G, 1)
    axes = _axes(x)
    xhat_full = xhat.reshape(x.shape)
    dbias = np.sum(g, axis=axes)
    dweight = np.sum(g * xhat_full, axis=axes)
    h = g if w is None else g * _per_channel(w.astype(dtype, copy=False), x.ndim)
    hg = h.reshape(x.shape[0], G, -1)  # (N, G, M)
    M = hg.shape[2]
    dx = (
        invstd
        / M
        * (M * hg - hg.sum(axis=2, keepdims=True) - xhat * (hg * xhat).sum(axis=2, keepdims=True))
    )
    return (
        dx.reshape(x.shape).astype(dtype, copy=False),
        dweight.astype(dtype),
        dbias.astype(dtype),
    )
