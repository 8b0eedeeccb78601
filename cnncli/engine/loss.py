"""Cross-entropy loss from logits, forward and backward, as ``torch.nn.functional.cross_entropy``.

Supported: class-index targets and class-probability targets, unbatched (C,),
batched (N, C) and K-dimensional (N, C, d1, ..., dk) input, per-class
``weight``, ``ignore_index``, ``label_smoothing`` and the three reductions.
Not supported: PyTorch's deprecated ``size_average`` and ``reduce`` arguments
(use ``reduction``).  Everything after ``weight`` is keyword-only, because in
PyTorch the next positional slot is the deprecated ``size_average``.
"""

from __future__ import annotations

import math

import numpy as np

from cnncli.engine._checks import as_float_array, result_dtype
from cnncli.engine.activations import log_softmax
from cnncli.errors import ParameterError, ShapeError

REDUCTIONS = ("mean", "sum", "none")


class _Prepared:
    """Logits as (M, C) rows, the target as indices (M,) or probabilities (M, C), and options."""

    def __init__(
        self,
        input: object,
        target: object,
        weight: object,
        ignore_index: object,
        reduction: object,
        label_smoothing: object,
    ) -> None:
        x = as_float_array(input)
        if x.ndim < 1:
            raise ShapeError(
                "cross_entropy input must be logits (C,), (N, C) or (N, C, d1, ...), got a 0-D array"
            )
        if not isinstance(reduction, str) or reduction not in REDUCTIONS:
            raise ParameterError(
                f"cross_entropy reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
            )
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise ParameterError(
                f"cross_entropy ignore_index must be an integer, got {ignore_index!r}"
            )
        if isinstance(label_smoothing, bool) or not isinstance(
            label_smoothing, (int, float, np.integer, np.floating)
        ):
            raise ParameterError(
                f"cross_entropy label_smoothing must be a number, got {label_smoothing!r}"
            )
        eps = float(label_smoothing)
        if not 0.0 <= eps <= 1.0:
            raise ParameterError(
                f"cross_entropy label_smoothing must be between 0 and 1, got {label_smoothing!r}"
            )
        self.class_axis = 0 if x.ndim == 1 else 1
        C = x.shape[self.class_axis]
        if C == 0:
            raise ShapeError(
                f"cross_entropy input {x.shape} has no classes (C=0 on axis {self.class_axis})"
            )
        self.C = C
        self.input_shape = x.shape
        w = None
        if isinstance(weight, str):
            raise ParameterError(
                f"cross_entropy's third argument is the class weight, as in PyTorch, got {weight!r}",
                hint=f"pass the reduction by name: reduction={weight!r}",
            )
        if weight is not None:
            w = as_float_array(weight, "weight")
            if w.shape != (C,):
                raise ShapeError(
                    f"cross_entropy weight must have shape ({C},) for C={C} classes, got {w.shape}"
                )
        t = np.asarray(target)
        self.probabilities = t.shape == x.shape and t.dtype.kind == "f"
        if self.probabilities:
            t = as_float_array(t, "target")
            if int(ignore_index) != -100:
                raise ParameterError(
                    "cross_entropy ignore_index applies to class-index targets only, not probabilities"
                )
        else:
            if t.dtype.kind not in "iu":
                raise ParameterError(
                    f"cross_entropy target must hold integer class indices, got dtype {t.dtype} "
                    f"and shape {t.shape} for input {x.shape}",
                    hint="use an int64 array of class numbers, or probabilities of the input's shape",
                )
            want = x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()
            if t.shape != want:
                raise ShapeError(
                    f"cross_entropy target must have shape {want} for input {x.shape}, got {t.shape}"
                )
        self.dtype = result_dtype(x, w, t if self.probabilities else None)
        self.target_shape = t.shape if not self.probabilities else x.shape[:1] + x.shape[2:]
        if x.ndim == 1:
            self.target_shape = ()
        # Rows of logits: the class axis last, everything else flattened.  (M, C)
        self.rows = (
            np.moveaxis(x, self.class_axis, -1).reshape(-1, C).astype(self.dtype, copy=False)
        )
        self.weight = None if w is None else w.astype(self.dtype, copy=False)
        self.reduction = reduction
        self.eps = eps
        if self.probabilities:
            q = np.moveaxis(t, self.class_axis, -1).reshape(-1, C).astype(self.dtype, copy=False)
            if eps > 0:
                q = q * self.dtype.type(1 - eps) + self.dtype.type(eps / C)
            self.q = q
        else:
            idx = t.reshape(-1).astype(np.int64)
            self.valid = idx != int(ignore_index)
            bad = self.valid & ((idx < 0) | (idx >= C))
            if np.any(bad):
                raise ParameterError(
                    f"cross_entropy target {int(idx[bad][0])} is out of range for {C} classes "
                    f"(valid: 0..{C - 1}, or ignore_index={int(ignore_index)})"
                )
            self.idx = np.where(self.valid, idx, 0)
            wt = np.ones(idx.shape, dtype=self.dtype) if w is None else self.weight[self.idx]  # type: ignore[index]
            self.wt = np.where(self.valid, wt, self.dtype.type(0))

    def denominator(self) -> float:
        """What 'mean' divides by: samples for probabilities, summed target weights for indices."""
        if self.probabilities:
            return float(self.rows.shape[0])
        return float(np.sum(self.wt, dtype=np.float64))

    def unflatten(self, rows: np.ndarray) -> np.ndarray:
        """(M, C) rows back to the input's layout."""
        moved = list(self.input_shape)
        moved.append(moved.pop(self.class_axis))
        return np.moveaxis(rows.reshape(moved), -1, self.class_axis)


def _as_float32(
    input: object, target: object, weight: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """float16 logits, probabilities and weights as float32 (already validated by _Prepared)."""
    t = np.asarray(target)
    return (
        np.asarray(input, dtype=np.float32),
        t.astype(np.float32) if t.dtype.kind == "f" else t,
        None if weight is None else np.asarray(weight, dtype=np.float32),
    )


def cross_entropy(
    input: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> np.ndarray:
    """Cross-entropy between logits and class targets: log_softmax over classes, then NLL.

    Shapes: input (N, C) logits with target (N,) integer classes; also (C,) with
    a 0-D target, (N, C, d1, ..., dk) with (N, d1, ..., dk), or float class
    probabilities of the input's shape.  Returns a 0-D array ('mean', 'sum') or
    the per-sample losses (N, d1, ...) ('none').

    Formula, with ``logp = log_softmax(x, dim=1)``, ``w`` the class weights (1
    without ``weight``) and ``ε = label_smoothing``::

        loss_n = (1 - ε) * (-w[t_n] * logp[n, t_n]) + ε/C * sum_c (-w[c] * logp[n, c])
        mean   = sum_n loss_n / sum_n w[t_n]        (samples with t_n == ignore_index left out)

    For probability targets q: ``loss_n = -sum_c w[c] * q'[n, c] * logp[n, c]`` with
    ``q' = (1 - ε) q + ε/C``, and 'mean' divides by the number of samples.
    With every target ignored (or none at all), 'mean' is NaN, as in PyTorch.
    """
    prep = _Prepared(input, target, weight, ignore_index, reduction, label_smoothing)
    if prep.dtype == np.float16:  # computed in float32 and rounded once, as PyTorch's CPU kernel
        loss32 = cross_entropy(
            *_as_float32(input, target, weight), ignore_index=ignore_index, reduction=reduction,
            label_smoothing=label_smoothing,
        )  # fmt: skip
        return loss32.astype(np.float16)
    return _loss(prep, log_softmax(prep.rows, 1))


def _loss(prep: _Prepared, logp: np.ndarray) -> np.ndarray:
    """The loss of :func:`cross_entropy` from its checked input and the log-softmax rows."""
    dtype = prep.dtype
    w_row = prep.weight if prep.weight is not None else None
    with np.errstate(invalid="ignore", over="ignore"):
        if prep.probabilities:
            terms = prep.q * logp if w_row is None else prep.q * logp * w_row
            per = -np.sum(terms, axis=1)
        else:
            picked = np.take_along_axis(logp, prep.idx[:, None], axis=1)[:, 0]
            per = -prep.wt * picked
            if prep.eps > 0:
                smooth = -np.sum(logp if w_row is None else logp * w_row, axis=1)
                smooth = np.where(prep.valid, smooth, dtype.type(0))
                per = dtype.type(1 - prep.eps) * per + dtype.type(prep.eps / prep.C) * smooth
    per = per.astype(dtype, copy=False)
    if prep.reduction == "none":
        return per.reshape(prep.target_shape)
    total = np.sum(per, dtype=dtype)
    if prep.reduction == "sum":
        return np.asarray(total, dtype=dtype)
    denom = prep.denominator()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(
            total / dtype.type(denom) if denom != 0 else dtype.type(math.nan), dtype=dtype
        )


def cross_entropy_backward(
    input: np.ndarray,
    target: np.ndarray,
    reduction: str = "mean",
    *,
    weight: np.ndarray | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    grad_output: np.ndarray | float | None = None,
) -> np.ndarray:
    """Gradient of :func:`cross_entropy` with respect to the logits.

    Shapes: input and target as in :func:`cross_entropy` -> dinput of the input's
    shape.  ``grad_output`` is dL/dloss: a scalar for 'mean' and 'sum' (default 1),
    the per-sample shape for 'none' (default all ones).

    Formula, with ``p = softmax(x, dim=1)`` and ``onehot`` the target classes:
    ``dinput = (p - onehot) / N`` for 'mean' without weights or smoothing; in general
    ``dinput[n] = (1 - ε) w[t_n] (p[n] - onehot[n]) + ε/C (sum(w) p[n] - w)``
    (zero for ignored samples), divided by ``sum_n w[t_n]`` for 'mean'.
    Probability targets: ``dinput[n] = p[n] * sum_c w[c] q'[n, c] - w * q'[n]``.
    """
    prep = _Prepared(input, target, weight, ignore_index, reduction, label_smoothing)
    if prep.dtype == np.float16:
        x32, t32, w32 = _as_float32(input, target, weight)
        g32 = None
        if grad_output is not None:
            g32 = as_float_array(grad_output, "grad_output").astype(np.float32)
        grad32 = cross_entropy_backward(
            x32, t32, reduction, weight=w32, ignore_index=ignore_index,
            label_smoothing=label_smoothing, grad_output=g32,
        )  # fmt: skip
        return grad32.astype(np.float16)
    return _grad(prep, np.exp(log_softmax(prep.rows, 1)), grad_output)


def _grad(prep: _Prepared, p: np.ndarray, grad_output: object) -> np.ndarray:
    """dinput of :func:`cross_entropy_backward` from its checked input and the softmax rows."""
    dtype = prep.dtype
    M, C = prep.rows.shape
    w = prep.weight if prep.weight is not None else np.ones(C, dtype=dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        if prep.probabilities:
            wq = prep.q * w
            grad = p * np.sum(wq, axis=1, keepdims=True) - wq
        else:
            grad = p * prep.wt[:, None]
            grad[np.arange(M), prep.idx] -= prep.wt
            if prep.eps > 0:
                smooth = p * np.sum(w) - w
                smooth = np.where(prep.valid[:, None], smooth, dtype.type(0))
                grad = dtype.type(1 - prep.eps) * grad + dtype.type(prep.eps / C) * smooth
    grad = grad.astype(dtype, copy=False)
    if prep.reduction == "none":
        g = (
            np.ones(prep.target_shape, dtype=dtype)
            if grad_output is None
            else as_float_array(grad_output, "grad_output")
        )
        if g.shape != prep.target_shape:
            raise ShapeError(
                f"grad_output for reduction='none' must have shape {prep.target_shape}, got {g.shape}"
            )
        grad = grad * g.reshape(-1, 1).astype(dtype, copy=False)
    else:
        g = (
            np.ones((), dtype=dtype)
            if grad_output is None
            else as_float_array(grad_output, "grad_output")
        )
        if g.size != 1:
            raise ShapeError(
                f"grad_output for reduction={prep.reduction!r} must be a scalar, got shape {g.shape}"
            )
        scale = float(g.reshape(()))
        if prep.reduction == "mean":
            denom = prep.denominator()
            # Every sample ignored: the rows are already zero, as PyTorch's gradient.
            scale = scale / denom if denom != 0 else 0.0
        grad = grad * dtype.type(scale)
    return prep.unflatten(grad).astype(dtype, copy=False)


def cross_entropy_with_grad(
    input: np.ndarray,
    target: np.ndarray,
    reduction: str = "mean",
    *,
    label_smoothing: float = 0.0,
    grad_output: np.ndarray | float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cross_entropy` and :func:`cross_entropy_backward` of one call, as a training
    step needs both: the input checked once and its log-softmax computed once.

    Shapes and formulas: those two functions' (class-index or probability targets, no
    class weights); the same bits as calling them one after the other.
    """
    prep = _Prepared(input, target, None, -100, reduction, label_smoothing)
    if prep.dtype == np.float16:
        return (
            cross_entropy(input, target, reduction=reduction, label_smoothing=label_smoothing),
            cross_entropy_backward(
                input, target, reduction, label_smoothing=label_smoothing, grad_output=grad_output
            ),
        )
    logp = log_softmax(prep.rows, 1)
    return _loss(prep, logp), _grad(prep, np.exp(logp), grad_output)
