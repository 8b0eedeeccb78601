"""The fast pooling paths equal the naive loops, and every backward equals a numerical gradient.

No PyTorch here: these tests hold even where torch is not installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnncli.engine import pool, shapes
from cnncli.engine.reference import pool as ref
from cnncli.errors import CnncliError
from tests.oracle import assert_close, numerical_gradient


@st.composite
def configs(draw: Any, dilation: bool = True) -> dict[str, Any]:
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    cfg: dict[str, Any] = {
        "shape": (
            draw(st.integers(1, 2)),
            draw(st.integers(1, 2)),
            draw(st.integers(1, 9)),
            draw(st.integers(1, 9)),
        ),
        "kernel_size": (KH, KW),
        "stride": draw(st.one_of(st.none(), st.tuples(st.integers(1, 5), st.integers(1, 5)))),
        "padding": (draw(st.integers(0, KH // 2)), draw(st.integers(0, KW // 2))),
        "ceil_mode": draw(st.booleans()),
    }
    if dilation:
        cfg["dilation"] = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    try:
        shapes.pool2d_geometry(
            cfg["shape"],
            cfg["kernel_size"],
            cfg["stride"],
            cfg["padding"],
            cfg.get("dilation", 1),
            cfg["ceil_mode"],
        )
    except CnncliError:
        assume(False)
    return cfg


def _args(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if k != "shape"}


def _input(shape: tuple[int, ...], seed: int, ties: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if ties:
        return rng.integers(-1, 2, shape).astype(np.float64)
    return rng.standard_normal(shape)


@settings(max_examples=60)
@given(cfg=configs(), seed=st.integers(0, 2**16), ties=st.booleans())
def test_max_pool2d_fast_equals_naive(cfg: dict[str, Any], seed: int, ties: bool) -> None:
    x = _input(cfg["shape"], seed, ties)
    y, index = pool.max_pool2d(x, return_indices=True, **_args(cfg))
    y_ref, index_ref = ref.max_pool2d(x, return_indices=True, **_args(cfg))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(index, index_ref)
    g = np.random.default_rng(seed + 1).standard_normal(y.shape)
    assert_close(
        pool.max_pool2d_backward(g, x, **_args(cfg)), ref.max_pool2d_backward(g, x, **_args(cfg))
    )


@settings(max_examples=60)
@given(
    cfg=configs(dilation=False),
    seed=st.integers(0, 2**16),
    count_include_pad=st.booleans(),
    divisor=st.one_of(st.none(), st.integers(1, 9)),
)
def test_avg_pool2d_fast_equals_naive(
    cfg: dict[str, Any], seed: int, count_include_pad: bool, divisor: int | None
) -> None:
    x = _input(cfg["shape"], seed, False)
    args = _args(cfg) | {"count_include_pad": count_include_pad, "divisor_override": divisor}
    y = pool.avg_pool2d(x, **args)
    assert_close(y, ref.avg_pool2d(x, **args))
    g = np.random.default_rng(seed + 1).standard_normal(y.shape)
    assert_close(pool.avg_pool2d_backward(g, x, **args), ref.avg_pool2d_backward(g, x, **args))


@settings(max_examples=40)
@given(
    shape=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 11), st.integers(1, 11)),
    output_size=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    seed=st.integers(0, 2**16),
    ties=st.booleans(),
)
def test_adaptive_fast_equals_naive(
    shape: tuple[int, ...], output_size: tuple[int, int], seed: int, ties: bool
) -> None:
    x = _input(shape, seed, ties)
    assert_close(pool.adaptive_avg_pool2d(x, output_size), ref.adaptive_avg_pool2d(x, output_size))
    y, index = pool.adaptive_max_pool2d(x, output_size, return_indices=True)
    y_ref, index_ref = ref.adaptive_max_pool2d(x, output_size, return_indices=True)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(index, index_ref)
    g = np.random.default_rng(seed + 1).standard_normal(y.shape)
    assert_close(pool.adaptive_avg_pool2d_backward(g, x), ref.adaptive_avg_pool2d_backward(g, x))
    assert_close(pool.adaptive_max_pool2d_backward(g, x), ref.adaptive_max_pool2d_backward(g, x))


def test_global_fast_equals_naive() -> None:
    x = _input((2, 3, 5, 4), 0, True)
    g = np.random.default_rng(1).standard_normal((2, 3, 1, 1))
    assert_close(pool.global_avg_pool2d(x), ref.global_avg_pool2d(x))
    np.testing.assert_array_equal(pool.global_max_pool2d(x), ref.global_max_pool2d(x))
    assert_close(pool.global_avg_pool2d_backward(g, x), ref.global_avg_pool2d_backward(g, x))
    assert_close(pool.global_max_pool2d_backward(g, x), ref.global_max_pool2d_backward(g, x))


def test_naive_max_pool_is_the_seed_formula() -> None:
    """Y[i, j] = max(X[i:i+k, j:j+k]) at stride k, written out with slices."""
    x = np.random.default_rng(2).standard_normal((1, 1, 6, 6))
    k = 2
    expected = np.array(
        [[x[0, 0, i : i + k, j : j + k].max() for j in range(0, 6, k)] for i in range(0, 6, k)]
    )
    np.testing.assert_array_equal(ref.max_pool2d(x, k)[0, 0], expected)
    np.testing.assert_array_equal(pool.max_pool2d(x, k)[0, 0], expected)


def test_naive_avg_pool_is_the_seed_formula() -> None:
    """Y[i, j] = 1/k² Σ_{m, n} X[i+m, j+n] at stride k."""
    x = np.random.default_rng(3).standard_normal((1, 1, 6, 6))
    k = 3
    expected = np.array(
        [
            [
                sum(x[0, 0, i + m, j + n] for m in range(k) for n in range(k)) / k**2
                for j in range(0, 6, k)
            ]
            for i in range(0, 6, k)
        ]
    )
    assert_close(ref.avg_pool2d(x, k)[0, 0], expected)
    assert_close(pool.avg_pool2d(x, k)[0, 0], expected)


# ----------------------------------------------------------------------------- numerical gradients

AVG_CASES = [
    {"kernel_size": 2},
    {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0), "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
    {"kernel_size": 2, "stride": 3, "divisor_override": 3},
]


@pytest.mark.parametrize("args", AVG_CASES, ids=str)
def test_avg_pool2d_backward_numerically(args: dict[str, Any]) -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 5, 6))
    g = rng.standard_normal(pool.avg_pool2d(x, **args).shape)
    numeric = numerical_gradient(lambda a: pool.avg_pool2d(a, **args), x, g)
    assert_close(pool.avg_pool2d_backward(g, x, **args), numeric, tol=1e-7)


MAX_CASES = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 1, "padding": 1},
    {"kernel_size": (2, 3), "stride": 2, "padding": 1, "dilation": (2, 1), "ceil_mode": True},
]


@pytest.mark.parametrize("args", MAX_CASES, ids=str)
def test_max_pool2d_backward_numerically(args: dict[str, Any]) -> None:
    # A random permutation: no ties, and every gap between values is far above eps.
    rng = np.random.default_rng(5)
    x = rng.permutation(2 * 2 * 5 * 6).reshape(2, 2, 5, 6).astype(np.float64)
    g = rng.standard_normal(pool.max_pool2d(x, **args).shape)
    numeric = numerical_gradient(lambda a: pool.max_pool2d(a, **args), x, g, eps=1e-3)
    assert_close(pool.max_pool2d_backward(g, x, **args), numeric, tol=1e-7)


@pytest.mark.parametrize("output_size", [(2, 3), (3, 4), (7, 9), 1])
def test_adaptive_backward_numerically(output_size: Any) -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 2, 5, 7))
    g = rng.standard_normal(pool.adaptive_avg_pool2d(x, output_size).shape)
    numeric = numerical_gradient(lambda a: pool.adaptive_avg_pool2d(a, output_size), x, g)
    assert_close(pool.adaptive_avg_pool2d_backward(g, x), numeric, tol=1e-7)
    xp = rng.permutation(x.size).reshape(x.shape).astype(np.float64)
    numeric = numerical_gradient(lambda a: pool.adaptive_max_pool2d(a, output_size), xp, g, 1e-3)
    assert_close(pool.adaptive_max_pool2d_backward(g, xp), numeric, tol=1e-7)


def test_global_backward_numerically() -> None:
    rng = np.random.default_rng(7)
    x = rng.permutation(2 * 3 * 4 * 5).reshape(2, 3, 4, 5).astype(np.float64)
    g = rng.standard_normal((2, 3, 1, 1))
    numeric = numerical_gradient(pool.global_avg_pool2d, x, g)
    assert_close(pool.global_avg_pool2d_backward(g, x), numeric, tol=1e-7)
    numeric = numerical_gradient(pool.global_max_pool2d, x, g, eps=1e-3)
    assert_close(pool.global_max_pool2d_backward(g, x), numeric, tol=1e-7)
