"""Argument checks and dtype rules shared by the engine's public functions.

They turn what would otherwise be a NumPy broadcasting error, an IndexError or a
silent upcast into the project's own errors with a message a student can act on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import numpy as np

from cnncli.errors import ParameterError, ShapeError

FLOAT_DTYPES = (np.float16, np.float32, np.float64)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def as_float_array(x: object, name: str = "input") -> np.ndarray:
    """Return ``x`` as a floating NumPy array without copying when it already is one.

    float16/float32/float64 are kept as they are.  Integer, bool and other dtypes
    are refused: the engine computes in the dtype it is given, as PyTorch does,
    and the loaders in ``cnncli.io`` are where integer data is converted (and said so).
    """
    arr = np.asarray(x)
    if arr.dtype.type not in FLOAT_DTYPES:
        raise ParameterError(
            f"{name} must be a float16, float32 or float64 array, got dtype {arr.dtype}",
            hint="convert it first, e.g. x.astype(np.float32)",
        )
    return arr


def check_ndim(x: np.ndarray, ndim: int, name: str, layout: str) -> None:
    """Raise :class:`ShapeError` unless ``x`` has ``ndim`` dimensions (``layout`` names them)."""
    if x.ndim != ndim:
        raise ShapeError(f"{name} must be {ndim}-D {layout}, got {x.ndim}-D with shape {x.shape}")


def check_same_shape(a: np.ndarray, b: np.ndarray, a_name: str, b_name: str) -> None:
    """Raise :class:`ShapeError` unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ShapeError(f"{a_name} has shape {a.shape} but {b_name} has shape {b.shape}")


def result_dtype(*arrays: np.ndarray | None) -> np.dtype:
    """The floating dtype a computation over ``arrays`` yields (None entries ignored)."""
    return np.result_type(*[a.dtype for a in arrays if a is not None])


def normalize_dim(dim: int, ndim: int, name: str = "dim") -> int:
    """Turn a possibly negative axis into a positive one, or raise."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise ParameterError(f"{name} must be an integer, got {dim!r}")
    if not -ndim <= dim < ndim:
        raise ParameterError(f"{name}={dim} is out of range for a {ndim}-D array")
    return int(dim) % ndim


def as_real(value: object, name: str) -> float:
    """``value`` as a Python float, or :class:`ParameterError` (a parameter such as alpha)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{name} must be a number, got {value!r}")
    return float(value)


def grad_pair(grad_output: object, saved: object, saved_name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(grad_output, saved)`` as float arrays of the same shape, or the error that says why."""
    g = as_float_array(grad_output, "grad_output")
    s = as_float_array(saved, saved_name)
    check_same_shape(g, s, "grad_output", saved_name)
    return g, s


def half_in_single(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Compute float16 arrays in float32 and round once at the end, as PyTorch's CPU kernels do."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kinds = {a.dtype for a in (*args, *kwargs.values()) if isinstance(a, np.ndarray)}
        if np.dtype(np.float16) not in kinds:
            return fn(*args, **kwargs)

        def up(a: Any) -> Any:
            return (
                a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype == np.float16 else a
            )

        out: Any = fn(*[up(a) for a in args], **{k: up(v) for k, v in kwargs.items()})
        if kinds - {np.dtype(np.float16)}:
            return out  # mixed with a wider dtype: keep the wider result

        def down(r: Any) -> Any:
            return r.astype(np.float16) if r.dtype == np.float32 else r

        return tuple(down(r) for r in out) if isinstance(out, tuple) else down(out)

    return wrapper  # type: ignore[return-value]
