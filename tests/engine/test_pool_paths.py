"""Pooling on each engine path: a swept grid against the naive loops and PyTorch, and the dispatch.

The engine tests run every module on the plain path and on the fast path
(tests/engine/conftest.py), so the grid below checks the plain window-view code
and the two-pass method alike; the dispatch tests check that an op hands its call
to cnncli.engine.fast exactly when the fast path is on.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from cnncli.engine import activations, pool, use_engine
from cnncli.engine.fast import adaptive_pool as fast_adaptive
from cnncli.engine.fast import elementwise as fast_elementwise
from cnncli.engine.fast import pool as fast_pool
from cnncli.engine.reference import pool as ref
from cnncli.engine.switch import fast_enabled
from cnncli.errors import CnncliError
from tests.engine.calls import count_calls
from tests.engine.test_pool import sees_input_everywhere
from tests.oracle import assert_close, torch_grad

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    # inf − inf in a window's sum is NaN, as in torch; NumPy also warns about it
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
]

KERNELS: list[Any] = [1, 2, 3, (2, 3)]
STRIDES: list[Any] = [None, 1, 2, (1, 3)]
PADDINGS: list[Any] = [0, 1, (1, 0)]


def _data(kind: str, dtype: Any) -> np.ndarray:
    """(2, 2, 7, 6) values: random, small integers (ties), or with NaN, +inf and −inf."""
    rng = np.random.default_rng(["random", "ties", "special"].index(kind))
    if kind == "random":
        return rng.standard_normal((2, 2, 7, 6)).astype(dtype)
    x = rng.integers(-1, 2, (2, 2, 7, 6)).astype(dtype)
    if kind == "special":
        x[rng.random(x.shape) < 0.1] = np.nan
        x[rng.random(x.shape) < 0.1] = np.inf
        x[rng.random(x.shape) < 0.2] = -np.inf
    return x


def _geometry_ok(x: np.ndarray, **args: Any) -> bool:
    try:
        ref.max_pool2d(x[:1, :1], **args)
    except CnncliError:
        return False
    return True


TOL = {np.float16: 1e-3, np.float32: 1e-5, np.float64: 1e-10}


def same(actual: np.ndarray, expected: Any, dtype: Any, tol: float | None = None) -> None:
    """Equal NaN and ±inf where ``expected`` has them, the rest close within dtype's tolerance."""
    if hasattr(expected, "detach"):
        expected = expected.detach().numpy()
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    inf = np.isinf(expected)
    np.testing.assert_array_equal(np.isinf(actual), inf)
    np.testing.assert_array_equal(actual[inf], expected[inf])
    ok = ~(inf | np.isnan(expected))
    assert_close(np.where(ok, actual, 0), np.where(ok, expected, 0), tol=tol or TOL[dtype])


@pytest.mark.parametrize("kind", ["random", "ties", "special"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_max_pool2d_grid_matches_the_naive_loops_and_torch(kind: str, dtype: Any) -> None:
    x = _data(kind, dtype)
    x64 = x.astype(np.float64)
    checked = 0
    for k, s, p, d, c in itertools.product(KERNELS, STRIDES, PADDINGS, [1, 2], [False, True]):
        args = {"kernel_size": k, "stride": s, "padding": p, "dilation": d, "ceil_mode": c}
        if not _geometry_ok(x, **args):
            continue
        y, index = pool.max_pool2d(x, return_indices=True, **args)
        y_ref, index_ref = ref.max_pool2d(x64, return_indices=True, **args)
        yt, it = F.max_pool2d(torch.from_numpy(x), return_indices=True, **args)
        assert y.dtype == dtype and index.dtype == np.int64
        np.testing.assert_array_equal(y, y_ref.astype(dtype))  # a maximum is one of the values
        np.testing.assert_array_equal(index, index_ref)
        np.testing.assert_array_equal(y, yt.numpy())
        np.testing.assert_array_equal(index, it.numpy())
        g = np.random.default_rng(checked).standard_normal(y.shape).astype(dtype)
        dx = pool.max_pool2d_backward(g, x, **args)
        assert dx.dtype == dtype
        same(dx, ref.max_pool2d_backward(g.astype(np.float64), x64, **args), dtype)
        if sees_input_everywhere(pool._geometry(x, k, s, p, d, c)):
            same(dx, torch_grad(lambda t, a=args: F.max_pool2d(t, **a), x, g), dtype)
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("kind", ["random", "special"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_avg_pool2d_grid_matches_the_naive_loops_and_torch(kind: str, dtype: Any) -> None:
    x = _data(kind, dtype)
    x64 = x.astype(np.float64)
    checked = 0
    for k, s, p, c, cip, div in itertools.product(
        KERNELS, STRIDES, PADDINGS, [False, True], [True, False], [None, -2]
    ):
        args = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": c}
        args |= {"count_include_pad": cip, "divisor_override": div}
        if not _geometry_ok(x, kernel_size=k, stride=s, padding=p, ceil_mode=c):
            continue
        y = pool.avg_pool2d(x, **args)
        assert y.dtype == dtype
        same(y, ref.avg_pool2d(x64, **args), dtype)  # inf − inf is NaN in any order of sums
        same(y, F.avg_pool2d(torch.from_numpy(x), **args), dtype)
        g = np.random.default_rng(checked).standard_normal(y.shape).astype(dtype)
        dx = pool.avg_pool2d_backward(g, x, **args)
        assert dx.dtype == dtype
        same(dx, ref.avg_pool2d_backward(g.astype(np.float64), x64, **args), dtype)
        # torch's float16 backward rounds as it adds; the float64 loops above are the exact check
        loose = 4e-3 if dtype == np.float16 else None
        same(dx, torch_grad(lambda t, a=args: F.avg_pool2d(t, **a), x, g), dtype, loose)
        checked += 1
    assert checked > 200


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_adaptive_and_global_pools_match_the_naive_loops_and_torch(dtype: Any) -> None:
    for kind in ("random", "ties", "special"):
        x = _data(kind, dtype)
        x64, xt = x.astype(np.float64), torch.from_numpy(x)
        for size in [1, 2, 3, (4, 5), (7, 6), (5, None), (9, 8)]:
            y, index = pool.adaptive_max_pool2d(x, size, return_indices=True)
            y_ref, index_ref = ref.adaptive_max_pool2d(x64, size, return_indices=True)
            np.testing.assert_array_equal(y, y_ref.astype(dtype))
            np.testing.assert_array_equal(index, index_ref)
            np.testing.assert_array_equal(index, F.adaptive_max_pool2d(xt, size, True)[1].numpy())
            g = np.random.default_rng(3).standard_normal(y.shape).astype(dtype)
            want = ref.adaptive_max_pool2d_backward(g.astype(np.float64), x64)
            same(pool.adaptive_max_pool2d_backward(g, x), want, dtype)
            y = pool.adaptive_avg_pool2d(x, size)
            same(y, ref.adaptive_avg_pool2d(x64, size), dtype)
            same(y, F.adaptive_avg_pool2d(xt, size), dtype)
            want = torch_grad(lambda t, s=size: F.adaptive_avg_pool2d(t, s), x, g)
            same(pool.adaptive_avg_pool2d_backward(g, x), want, dtype)
        g1 = np.random.default_rng(4).standard_normal((2, 2, 1, 1)).astype(dtype)
        np.testing.assert_array_equal(pool.global_max_pool2d(x), ref.global_max_pool2d(x))
        want = ref.global_max_pool2d_backward(g1.astype(np.float64), x64)
        same(pool.global_max_pool2d_backward(g1, x), want, dtype)


def test_unbatched_input_on_every_op() -> None:
    x = _data("ties", np.float64)[0]  # (C, H, W)
    y, index = pool.max_pool2d(x, 3, 2, 1, return_indices=True)
    y_ref, index_ref = ref.max_pool2d(x, 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(index, index_ref)
    g = np.ones_like(y)
    assert_close(pool.max_pool2d_backward(g, x, 3, 2, 1), ref.max_pool2d_backward(g, x, 3, 2, 1))
    assert_close(pool.avg_pool2d(x, 2, 1, 1), ref.avg_pool2d(x, 2, 1, 1))
    g = np.ones((2, 8, 7))
    assert_close(pool.avg_pool2d_backward(g, x, 2, 1, 1), ref.avg_pool2d_backward(g, x, 2, 1, 1))
    g = np.ones((2, 3, 4))
    assert_close(pool.adaptive_avg_pool2d(x, (3, 4)), ref.adaptive_avg_pool2d(x, (3, 4)))
    assert_close(pool.adaptive_avg_pool2d_backward(g, x), ref.adaptive_avg_pool2d_backward(g, x))
    assert_close(pool.adaptive_max_pool2d_backward(g, x), ref.adaptive_max_pool2d_backward(g, x))


# ----------------------------------------------------------------------------- the dispatch

X = np.random.default_rng(5).standard_normal((2, 3, 8, 9))
G = np.random.default_rng(6).standard_normal((2, 3, 4, 4))

DISPATCH: list[tuple[str, Any, str, Any]] = [
    ("max_pool2d", fast_pool, "max_pool2d", lambda: pool.max_pool2d(X, 2)),
    ("max_pool2d indices", fast_pool, "max_pool2d", lambda: pool.max_pool2d(X, 2, return_indices=True)),
    ("max_pool2d_backward", fast_pool, "max_pool2d_backward", lambda: pool.max_pool2d_backward(G, X, 2)),
    ("avg_pool2d", fast_pool, "avg_pool2d", lambda: pool.avg_pool2d(X, 2)),
    ("avg_pool2d_backward", fast_pool, "avg_pool2d_backward", lambda: pool.avg_pool2d_backward(G, X, 2)),
    ("adaptive_avg_pool2d", fast_adaptive, "adaptive_avg_pool2d", lambda: pool.adaptive_avg_pool2d(X, 4)),
    ("adaptive_avg_pool2d_backward", fast_adaptive, "adaptive_avg_pool2d_backward", lambda: pool.adaptive_avg_pool2d_backward(G, X)),
    ("adaptive_max_pool2d", fast_adaptive, "adaptive_max_pool2d", lambda: pool.adaptive_max_pool2d(X, 4, True)),
    ("adaptive_max_pool2d_backward", fast_adaptive, "adaptive_max_pool2d_backward", lambda: pool.adaptive_max_pool2d_backward(G, X)),
    ("relu", fast_elementwise, "relu", lambda: activations.relu(X)),
    ("relu_backward", fast_elementwise, "relu_backward", lambda: activations.relu_backward(X, X)),
    ("leaky_relu", fast_elementwise, "leaky_relu", lambda: activations.leaky_relu(X, 0.1)),
    ("leaky_relu_backward", fast_elementwise, "leaky_relu_backward", lambda: activations.leaky_relu_backward(X, X, 0.1)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("module", "name", "call"), [d[1:] for d in DISPATCH], ids=[d[0] for d in DISPATCH]
)
def test_an_op_takes_the_fast_path_only_when_it_is_on(
    monkeypatch: pytest.MonkeyPatch, engine_path: str, module: Any, name: str, call: Any
) -> None:
    calls = count_calls(monkeypatch, module, name)
    call()
    assert len(calls) == (1 if engine_path == "fast" else 0)
    monkeypatch.undo()
    results = {}
    for path in ("plain", "fast"):
        with use_engine(path):
            out = call()
        results[path] = out if isinstance(out, tuple) else (out,)
    for a, b in zip(results["plain"], results["fast"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)  # the same numbers on both


def test_global_pools_have_no_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Global pooling is a mean or a max over each map on both paths: nothing to hand over."""
    names = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"]
    counted = [count_calls(monkeypatch, fast_pool, name) for name in names]
    counted += [count_calls(monkeypatch, fast_adaptive, "adaptive_" + name) for name in names]
    g1 = np.ones((2, 3, 1, 1))
    pool.global_avg_pool2d(X), pool.global_max_pool2d(X)
    pool.global_avg_pool2d_backward(g1, X), pool.global_max_pool2d_backward(g1, X)
    assert not any(counted)
    pool.adaptive_max_pool2d(X, 1)
    assert any(counted) == fast_enabled()  # the counting itself works


@pytest.mark.parametrize(
    ("op", "module", "name"),
    [
        ("max_pool2d", fast_pool, "max_pool2d"),
        ("avg_pool2d", fast_pool, "avg_pool2d"),
        ("adaptive_avg_pool2d", fast_adaptive, "adaptive_avg_pool2d"),
        ("adaptive_max_pool2d", fast_adaptive, "adaptive_max_pool2d"),
        ("global_avg_pool2d", None, None),
        ("global_max_pool2d", None, None),
    ],
)
def test_pool2d_method_names_the_path_the_op_takes(
    monkeypatch: pytest.MonkeyPatch, engine_path: str, op: str, module: Any, name: str | None
) -> None:
    """--explain's path line: "fast: ..." exactly when the op hands over to engine/fast."""
    calls = count_calls(monkeypatch, module, name) if module is not None else []
    args = (
        (2,)
        if op in ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d")
        else ()
    )
    getattr(pool, op)(X, *args)
    method = pool.pool2d_method(op)
    assert method.startswith("fast: " if calls else "plain: "), method
    assert bool(calls) == (engine_path == "fast" and module is not None)
