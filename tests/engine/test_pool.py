"""Pooling against PyTorch, forward and autograd backward, and every error message.

Every configuration is drawn at random (hypothesis) or swept from a seed; the
expected numbers always come from torch.nn.functional in the same process.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from cnncli.engine import pool, shapes
from cnncli.errors import CnncliError, ParameterError, ResourceLimitError, ShapeError
from tests.oracle import assert_close, torch_grad

torch = pytest.importorskip("torch")
F = torch.nn.functional

DTYPES = [np.float32, np.float64]


def close(actual: np.ndarray, expected: Any) -> None:
    """assert_close that also accepts matching infinities (windows that see only padding)."""
    if hasattr(expected, "detach"):
        expected = expected.detach().numpy()
    assert actual.shape == expected.shape
    inf = np.isinf(expected)
    assert np.array_equal(np.isinf(actual), inf)
    assert np.array_equal(actual[inf], expected[inf])
    assert np.array_equal(np.isnan(actual), np.isnan(expected))
    ok = ~(inf | np.isnan(expected))
    assert_close(np.where(ok, actual, 0), np.where(ok, expected, 0).astype(expected.dtype))


def sees_input_everywhere(geom: shapes.Pool2dGeometry) -> bool:
    """False when some window lies wholly in the padding (only possible with dilation)."""
    for L, OL, K, s, d, p in (
        (geom.H, geom.OH, geom.KH, geom.stride[0], geom.dilation[0], geom.padding[0]),
        (geom.W, geom.OW, geom.KW, geom.stride[1], geom.dilation[1], geom.padding[1]),
    ):
        for o in range(OL):
            if not any(0 <= o * s + k * d - p < L for k in range(K)):
                return False
    return True


@st.composite
def pool_configs(draw: Any, dilation: bool = True) -> dict[str, Any]:
    """A valid pooling call: shapes, kernel, stride (None too), padding <= kernel // 2, ..."""
    KH, KW = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    kernel: Any = (KH, KW) if draw(st.booleans()) or KH != KW else KH
    cfg: dict[str, Any] = {
        "shape": (
            draw(st.integers(1, 3)),
            draw(st.integers(1, 3)),
            draw(st.integers(1, 11)),
            draw(st.integers(1, 11)),
        ),
        "kernel_size": kernel,
        "stride": draw(
            st.one_of(st.none(), st.integers(1, 6), st.tuples(*[st.integers(1, 6)] * 2))
        ),
        "padding": (draw(st.integers(0, KH // 2)), draw(st.integers(0, KW // 2))),
        "ceil_mode": draw(st.booleans()),
    }
    if dilation:
        cfg["dilation"] = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    try:
        geom = shapes.pool2d_geometry(
            cfg["shape"],
            kernel,
            cfg["stride"],
            cfg["padding"],
            cfg.get("dilation", 1),
            cfg["ceil_mode"],
        )
    except CnncliError:
        assume(False)
        raise
    cfg["geom"] = geom
    return cfg


def _args(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if k not in ("shape", "geom")}


# ----------------------------------------------------------------------------- max pooling


@settings(max_examples=80)
@given(cfg=pool_configs(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_max_pool2d_matches_torch(cfg: dict[str, Any], dtype: Any, seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal(cfg["shape"]).astype(dtype)
    args = _args(cfg)
    y, index = pool.max_pool2d(x, return_indices=True, **args)
    yt, it = F.max_pool2d(torch.from_numpy(x), return_indices=True, **args)
    close(y, yt)
    assert index.dtype == np.int64
    np.testing.assert_array_equal(index, it.numpy())
    np.testing.assert_array_equal(pool.max_pool2d(x, **args), y)
    # A window wholly in the padding: PyTorch's backward sends its gradient to whatever
    # its (meaningless) index names; ours passes none (test_padding_only_window below).
    assume(sees_input_everywhere(cfg["geom"]))
    g = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
    expected = torch_grad(lambda t: F.max_pool2d(t, **args), x, g)
    assert_close(pool.max_pool2d_backward(g, x, **args), expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "fill", ["zeros", "small_ints", "neg_inf", "nan"], ids=lambda s: f"ties_{s}"
)
def test_max_pool2d_ties_match_torch(dtype: Any, fill: str) -> None:
    rng = np.random.default_rng(3)
    shape = (2, 3, 9, 8)
    if fill == "zeros":
        x = np.zeros(shape, dtype=dtype)
    elif fill == "small_ints":
        x = rng.integers(0, 3, shape).astype(dtype)
    elif fill == "neg_inf":
        x = np.where(rng.random(shape) < 0.7, -np.inf, rng.integers(0, 2, shape)).astype(dtype)
    else:
        x = np.where(rng.random(shape) < 0.2, np.nan, rng.integers(0, 3, shape)).astype(dtype)
    configs = [
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 1, "padding": 1},
        {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 1), "ceil_mode": True},
        {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True},
        {"kernel_size": (4, 5), "stride": 1, "padding": (2, 1)},
    ]
    for args in configs:
        y, index = pool.max_pool2d(x, return_indices=True, **args)
        yt, it = F.max_pool2d(torch.from_numpy(x), return_indices=True, **args)
        close(y, yt)
        np.testing.assert_array_equal(index, it.numpy())
        g = rng.standard_normal(y.shape).astype(dtype)
        expected = torch_grad(lambda t, a=args: F.max_pool2d(t, **a), x, g)
        close(pool.max_pool2d_backward(g, x, **args), expected)


def test_padding_only_window_forward_matches_torch_and_passes_no_gradient() -> None:
    # Dilation 3 with padding 1 puts the taps of the only window at -1 and 2 of a
    # 2-wide input: the window sees nothing.  PyTorch gives -inf and index 2 (and its
    # backward adds the gradient at flat index 2, an unrelated cell); the output does
    # not depend on the input, so our gradient is zero.
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    args = {"kernel_size": (1, 2), "stride": 1, "padding": (0, 1), "dilation": (1, 3)}
    y, index = pool.max_pool2d(x, return_indices=True, **args)
    yt, it = F.max_pool2d(torch.from_numpy(x), return_indices=True, **args)
    close(y, yt)
    np.testing.assert_array_equal(index, it.numpy())
    assert np.all(np.isneginf(y))
    np.testing.assert_array_equal(pool.max_pool2d_backward(np.ones_like(y), x, **args), 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_backward_with_inf_and_nan_gradients_matches_torch(dtype: Any) -> None:
    # A NaN or inf gradient must reach the maximum only, not its window's other cells.
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 2, 7, 7)).astype(dtype)
    args = {"kernel_size": 3, "stride": 2, "padding": 1}
    g = rng.standard_normal(pool.max_pool2d(x, **args).shape).astype(dtype)
    g[0, 0, 1, 1], g[1, 1, 0, 2], g[0, 1, 3, 3] = np.nan, np.inf, -np.inf
    expected = torch_grad(lambda t: F.max_pool2d(t, **args), x, g)
    close(pool.max_pool2d_backward(g, x, **args), expected)


def test_max_pool2d_with_a_kernel_wider_than_127_taps() -> None:
    # Tap numbers are kept in the smallest integer type: int16 here.
    x = np.random.default_rng(9).standard_normal((1, 2, 3, 300)).astype(np.float32)
    args = {"kernel_size": (2, 130), "stride": (1, 37), "padding": (1, 65), "dilation": (1, 2)}
    y, index = pool.max_pool2d(x, return_indices=True, **args)
    yt, it = F.max_pool2d(torch.from_numpy(x), return_indices=True, **args)
    close(y, yt)
    np.testing.assert_array_equal(index, it.numpy())
    g = np.random.default_rng(10).standard_normal(y.shape).astype(np.float32)
    expected = torch_grad(lambda t: F.max_pool2d(t, **args), x, g)
    assert_close(pool.max_pool2d_backward(g, x, **args), expected)


def test_max_pool2d_overlapping_windows_accumulate() -> None:
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the maximum of all four 2x2 windows at stride 1
    dx = pool.max_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2, stride=1)
    assert dx[0, 0, 1, 1] == 4.0
    assert dx.sum() == 4.0


# ----------------------------------------------------------------------------- average pooling


@settings(max_examples=80)
@given(
    cfg=pool_configs(dilation=False),
    dtype=st.sampled_from(DTYPES),
    count_include_pad=st.booleans(),
    divisor=st.one_of(st.none(), st.integers(-7, 7).filter(bool)),
    seed=st.integers(0, 2**16),
)
def test_avg_pool2d_matches_torch(
    cfg: dict[str, Any], dtype: Any, count_include_pad: bool, divisor: int | None, seed: int
) -> None:
    x = np.random.default_rng(seed).standard_normal(cfg["shape"]).astype(dtype)
    args = _args(cfg) | {"count_include_pad": count_include_pad, "divisor_override": divisor}
    y = pool.avg_pool2d(x, **args)
    assert_close(y, F.avg_pool2d(torch.from_numpy(x), **args))
    g = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
    expected = torch_grad(lambda t: F.avg_pool2d(t, **args), x, g)
    assert_close(pool.avg_pool2d_backward(g, x, **args), expected)


def test_avg_pool2d_divisor_rules_with_ceil_mode() -> None:
    # 5 wide, kernel 3, stride 2, padding 1, ceil_mode: windows [-1, 2), [1, 4), [3, 6).
    # The last one overhangs the padded input [-1, 6) by nothing but the input by one:
    # count_include_pad divides by 3 (padding counted), otherwise by 2.
    x = np.arange(5, dtype=np.float64).reshape(1, 1, 1, 5)
    args = {"kernel_size": (1, 3), "stride": (1, 2), "padding": (0, 1), "ceil_mode": True}
    with_pad = pool.avg_pool2d(x, **args)
    without = pool.avg_pool2d(x, count_include_pad=False, **args)
    np.testing.assert_allclose(with_pad[0, 0, 0], [(0 + 1) / 3, (1 + 2 + 3) / 3, (3 + 4) / 3])
    np.testing.assert_allclose(without[0, 0, 0], [(0 + 1) / 2, (1 + 2 + 3) / 3, (3 + 4) / 2])
    assert_close(with_pad, F.avg_pool2d(torch.from_numpy(x), **args))
    # 4 wide, kernel 3, stride 2, no padding, ceil_mode: the last window [2, 5) overhangs
    # the input by one column, which never counts.
    x4 = np.arange(4, dtype=np.float64).reshape(1, 1, 1, 4)
    y = pool.avg_pool2d(x4, (1, 3), (1, 2), ceil_mode=True)
    np.testing.assert_allclose(y[0, 0, 0], [(0 + 1 + 2) / 3, (2 + 3) / 2])
    assert_close(y, F.avg_pool2d(torch.from_numpy(x4), (1, 3), (1, 2), ceil_mode=True))


# ----------------------------------------------------------------------------- adaptive / global

output_sizes = st.one_of(
    st.integers(1, 9),
    st.tuples(st.one_of(st.none(), st.integers(1, 9)), st.one_of(st.none(), st.integers(1, 9))),
)


@settings(max_examples=50)
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 13), st.integers(1, 13)),
    output_size=output_sizes,
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
)
def test_adaptive_pools_match_torch(
    shape: tuple[int, ...], output_size: Any, dtype: Any, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    xt = torch.from_numpy(x)
    y = pool.adaptive_avg_pool2d(x, output_size)
    assert_close(y, F.adaptive_avg_pool2d(xt, output_size))
    ym, index = pool.adaptive_max_pool2d(x, output_size, return_indices=True)
    ymt, it = F.adaptive_max_pool2d(xt, output_size, return_indices=True)
    assert_close(ym, ymt)
    np.testing.assert_array_equal(index, it.numpy())
    np.testing.assert_array_equal(pool.adaptive_max_pool2d(x, output_size), ym)
    g = rng.standard_normal(y.shape).astype(dtype)
    assert_close(
        pool.adaptive_avg_pool2d_backward(g, x),
        torch_grad(lambda t: F.adaptive_avg_pool2d(t, output_size), x, g),
    )
    assert_close(
        pool.adaptive_max_pool2d_backward(g, x),
        torch_grad(lambda t: F.adaptive_max_pool2d(t, output_size), x, g),
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_max_ties_and_nan_match_torch(dtype: Any) -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2, (2, 2, 7, 10)).astype(dtype)
    x[0, 0, 1:3, 2:5] = np.nan
    for output_size in [(3, 4), (5, 7), (7, 10), (9, 13), 1]:
        y, index = pool.adaptive_max_pool2d(x, output_size, return_indices=True)
        yt, it = F.adaptive_max_pool2d(torch.from_numpy(x), output_size, return_indices=True)
        close(y, yt)
        np.testing.assert_array_equal(index, it.numpy())
        g = rng.standard_normal(y.shape).astype(dtype)
        expected = torch_grad(lambda t, o=output_size: F.adaptive_max_pool2d(t, o), x, g)
        assert_close(pool.adaptive_max_pool2d_backward(g, x), expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 5, 7), (3, 2, 13, 1)])
def test_global_pools_match_torch(dtype: Any, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(-2, 3, shape).astype(dtype)  # ties on purpose
    xt = torch.from_numpy(x)
    y = pool.global_avg_pool2d(x)
    assert y.shape == (*shape[:2], 1, 1)
    assert_close(y, F.adaptive_avg_pool2d(xt, 1))
    ym = pool.global_max_pool2d(x)
    assert_close(ym, F.adaptive_max_pool2d(xt, 1))
    g = rng.standard_normal(y.shape).astype(dtype)
    assert_close(
        pool.global_avg_pool2d_backward(g, x),
        torch_grad(lambda t: F.adaptive_avg_pool2d(t, 1), x, g),
    )
    assert_close(
        pool.global_max_pool2d_backward(g, x),
        torch_grad(lambda t: F.adaptive_max_pool2d(t, 1), x, g),
    )


# ----------------------------------------------------------------------------- layout and dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_unbatched_chw_input_like_torch(dtype: Any) -> None:
    x = np.random.default_rng(1).standard_normal((3, 7, 6)).astype(dtype)
    xt = torch.from_numpy(x)
    y, index = pool.max_pool2d(x, 3, 2, 1, return_indices=True)
    yt, it = F.max_pool2d(xt, 3, 2, 1, return_indices=True)
    assert_close(y, yt)
    np.testing.assert_array_equal(index, it.numpy())
    assert_close(pool.avg_pool2d(x, 2, ceil_mode=True), F.avg_pool2d(xt, 2, ceil_mode=True))
    assert_close(pool.adaptive_avg_pool2d(x, (2, 4)), F.adaptive_avg_pool2d(xt, (2, 4)))
    assert_close(pool.adaptive_max_pool2d(x, 4), F.adaptive_max_pool2d(xt, 4))
    g = np.ones_like(y)
    assert_close(
        pool.max_pool2d_backward(g, x, 3, 2, 1),
        torch_grad(lambda t: F.max_pool2d(t, 3, 2, 1), x, g),
    )
    assert pool.global_max_pool2d(x).shape == (3, 1, 1)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtype_is_kept(dtype: Any) -> None:
    x = np.random.default_rng(2).standard_normal((2, 2, 6, 6)).astype(dtype)
    outputs = [
        pool.max_pool2d(x, 2),
        pool.avg_pool2d(x, 3, 2, 1),
        pool.adaptive_avg_pool2d(x, 4),
        pool.adaptive_max_pool2d(x, 4),
        pool.global_avg_pool2d(x),
        pool.global_max_pool2d(x),
        pool.max_pool2d_backward(np.ones((2, 2, 3, 3), dtype), x, 2),
        pool.avg_pool2d_backward(np.ones((2, 2, 3, 3), dtype), x, 3, 2, 1),
        pool.adaptive_avg_pool2d_backward(np.ones((2, 2, 4, 4), dtype), x),
        pool.adaptive_max_pool2d_backward(np.ones((2, 2, 4, 4), dtype), x),
    ]
    assert all(out.dtype == dtype for out in outputs)


def test_float16_is_summed_in_float32_like_torch() -> None:
    # PyTorch's CPU kernels accumulate half precision in float and round once.
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((2, 3, 9, 10)) * 100).astype(np.float16)
    xt = torch.from_numpy(x)
    pairs = [
        (pool.avg_pool2d(x, 3, 1, 1), F.avg_pool2d(xt, 3, 1, 1)),
        (pool.avg_pool2d(x, 3, 2, 1, True, False), F.avg_pool2d(xt, 3, 2, 1, True, False)),
        (pool.adaptive_avg_pool2d(x, (4, 7)), F.adaptive_avg_pool2d(xt, (4, 7))),
        (pool.global_avg_pool2d(x), F.adaptive_avg_pool2d(xt, 1)),
        (pool.max_pool2d(x, 3, 2, 1), F.max_pool2d(xt, 3, 2, 1)),
    ]
    for ours, theirs in pairs:
        assert ours.dtype == np.float16
        np.testing.assert_array_equal(ours, theirs.numpy())
    g = rng.standard_normal((2, 3, 9, 10)).astype(np.float16)
    for ours_fn, theirs_fn in [
        (lambda: pool.avg_pool2d_backward(g, x, 3, 1, 1), lambda t: F.avg_pool2d(t, 3, 1, 1)),
        (lambda: pool.max_pool2d_backward(g, x, 3, 1, 1), lambda t: F.max_pool2d(t, 3, 1, 1)),
    ]:
        dx = ours_fn()
        assert dx.dtype == np.float16
        assert_close(dx, torch_grad(theirs_fn, x, g), tol=1e-3)


def test_non_contiguous_input() -> None:
    base = np.random.default_rng(4).standard_normal((3, 8, 10, 12)).astype(np.float32)
    x = base.transpose(1, 0, 2, 3)[:, :, ::2, 1::2]
    xt = torch.from_numpy(np.ascontiguousarray(x))
    assert_close(pool.max_pool2d(x, 2, 1, 1), F.max_pool2d(xt, 2, 1, 1))
    assert_close(pool.avg_pool2d(x, 3, 2, 1), F.avg_pool2d(xt, 3, 2, 1))


# ----------------------------------------------------------------------------- shapes vs torch


def test_pool_output_size_matches_torch_on_a_grid() -> None:
    """shapes.pool_output_size (and its errors) agree with torch for every small case."""
    for size, k, s, d, ceil in itertools.product(
        range(1, 8), range(1, 5), range(1, 4), range(1, 3), (False, True)
    ):
        for p in range(k // 2 + 1):
            try:
                expected = F.max_pool2d(
                    torch.zeros(1, 1, 1, size), (1, k), (1, s), (0, p), (1, d), ceil
                )
                want: int | None = expected.shape[-1]
            except RuntimeError:
                want = None
            try:
                got: int | None = shapes.pool_output_size(size, k, s, p, d, ceil)
            except ShapeError:
                got = None
            assert got == want, (size, k, s, p, d, ceil)


def test_numpy_integers_and_empty_stride_are_accepted_like_torch() -> None:
    x = np.random.default_rng(11).standard_normal((1, 2, 6, 7))
    xt = torch.from_numpy(x)
    assert_close(pool.max_pool2d(x, np.int64(3), np.int32(2)), F.max_pool2d(xt, 3, 2))
    assert_close(pool.avg_pool2d(x, (2, 3), stride=()), F.avg_pool2d(xt, (2, 3), stride=[]))
    assert_close(pool.max_pool2d(x, [2], stride=[]), F.max_pool2d(xt, [2], stride=[]))


def test_ceil_mode_with_a_kernel_longer_than_the_input() -> None:
    # (3 − 4) / 2 rounds up to 0: one window, as PyTorch (this was an error before).
    x = np.arange(3, dtype=np.float64).reshape(1, 1, 1, 3)
    y = pool.max_pool2d(x, (1, 4), 2, ceil_mode=True)
    close(y, F.max_pool2d(torch.from_numpy(x), (1, 4), 2, ceil_mode=True))
    assert_close(
        pool.avg_pool2d(x, (1, 4), 2, ceil_mode=True),
        F.avg_pool2d(torch.from_numpy(x), (1, 4), 2, ceil_mode=True),
    )


@pytest.mark.parametrize("k,d", [(2, 3), (3, 2), (3, 3), (4, 2), (5, 3)])
def test_padding_limit_is_half_the_kernel_even_with_dilation(k: int, d: int) -> None:
    """PyTorch checks padding <= kernel // 2, not half the dilated kernel."""
    x = np.zeros((1, 1, 20, 20), dtype=np.float32)
    for p in range(k // 2 + 3):
        try:
            F.max_pool2d(torch.from_numpy(x), k, 1, p, d)
            torch_ok = True
        except RuntimeError:
            torch_ok = False
        try:
            pool.max_pool2d(x, k, 1, p, d)
            ours_ok = True
        except ParameterError as err:
            ours_ok = False
            assert "at most half the kernel size" in str(err)
        assert ours_ok == torch_ok == (p <= k // 2)


# ----------------------------------------------------------------------------- errors

ERRORS: list[tuple[str, Any, type[CnncliError], str]] = [
    ("int dtype", lambda: pool.max_pool2d(np.ones((1, 1, 4, 4), dtype=np.int64), 2), ParameterError, "float16, float32 or float64"),
    ("2-D input", lambda: pool.max_pool2d(np.ones((4, 4)), 2), ShapeError, "must be 4-D (N, C, H, W) or 3-D (C, H, W)"),
    ("5-D input", lambda: pool.adaptive_avg_pool2d(np.ones((1, 1, 1, 4, 4)), 2), ShapeError, "must be 4-D (N, C, H, W) or 3-D"),
    ("empty dim", lambda: pool.avg_pool2d(np.ones((1, 0, 4, 4)), 2), ShapeError, "empty dimension"),
    ("kernel 0", lambda: pool.max_pool2d(np.ones((1, 1, 4, 4)), 0), ParameterError, "kernel_size must be at least 1"),
    ("kernel type", lambda: pool.max_pool2d(np.ones((1, 1, 4, 4)), 2.5), ParameterError, "kernel_size must be an integer or a pair"),
    ("kernel triple", lambda: pool.avg_pool2d(np.ones((1, 1, 4, 4)), (2, 2, 2)), ParameterError, "kernel_size must be an integer or a pair"),
    ("stride 0", lambda: pool.max_pool2d(np.ones((1, 1, 4, 4)), 2, 0), ParameterError, "stride must be at least 1"),
    ("stride float", lambda: pool.max_pool2d(np.ones((1, 1, 4, 4)), 2, 1.5), ParameterError, "stride must be an integer or a pair"),
    ("dilation 0", lambda: pool.max_pool2d(np.ones((1, 1, 4, 4)), 2, dilation=0), ParameterError, "dilation must be at least 1"),
    ("negative padding", lambda: pool.avg_pool2d(np.ones((1, 1, 4, 4)), 2, padding=-1), ParameterError, "padding must not be negative"),
    ("padding > k//2", lambda: pool.max_pool2d(np.ones((1, 1, 4, 4)), 3, padding=2), ParameterError, "padding 2 along H must be at most half the kernel size (3 // 2 = 1)"),
    ("too small", lambda: pool.max_pool2d(np.ones((1, 1, 4, 4)), 5), ShapeError, "pooling window 5 along H does not fit the input 4 with padding 0"),
    ("too small dilated", lambda: pool.max_pool2d(np.ones((1, 1, 9, 4)), 3, dilation=3, stride=1), ShapeError, "(dilation 3 → 7) along W"),
    ("huge parameter", lambda: pool.max_pool2d(np.ones((1, 1, 4, 4)), 2, stride=2**40), ParameterError, "pooling parameters must be at most"),
    ("divisor 0", lambda: pool.avg_pool2d(np.ones((1, 1, 4, 4)), 2, divisor_override=0), ParameterError, "divisor_override must not be zero"),
    ("divisor float", lambda: pool.avg_pool2d(np.ones((1, 1, 4, 4)), 2, divisor_override=2.5), ParameterError, "divisor_override must be an integer"),
    ("divisor huge", lambda: pool.avg_pool2d(np.ones((1, 1, 4, 4)), 2, divisor_override=2**40), ParameterError, "divisor_override must be at most"),
    ("grad shape", lambda: pool.max_pool2d_backward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 4, 4)), 2), ShapeError, "grad_output has shape (1, 1, 3, 3) but the pooling output has shape (1, 1, 2, 2)"),
    ("grad dtype", lambda: pool.avg_pool2d_backward(np.ones((1, 1, 2, 2), dtype=int), np.ones((1, 1, 4, 4)), 2), ParameterError, "grad_output must be a float16"),
    ("adaptive grad layout", lambda: pool.adaptive_avg_pool2d_backward(np.ones((2, 2)), np.ones((1, 1, 4, 4))), ShapeError, "grad_output must have the input's layout"),
    ("adaptive max grad layout", lambda: pool.adaptive_max_pool2d_backward(np.ones((1, 2, 2)), np.ones((1, 1, 4, 4))), ShapeError, "grad_output must have the input's layout"),
    ("adaptive grad channels", lambda: pool.adaptive_max_pool2d_backward(np.ones((1, 2, 2, 2)), np.ones((1, 1, 4, 4))), ShapeError, "grad_output has shape (1, 2, 2, 2)"),
    ("output_size None", lambda: pool.adaptive_avg_pool2d(np.ones((1, 1, 4, 4)), None), ParameterError, "output_size must be an integer or a pair"),
    ("output_size str", lambda: pool.adaptive_max_pool2d(np.ones((1, 1, 4, 4)), "2"), ParameterError, "output_size must be an integer or a pair"),
    ("output_size triple", lambda: pool.adaptive_max_pool2d(np.ones((1, 1, 4, 4)), (1, 2, 3)), ParameterError, "output_size must be an integer or a pair"),
    ("output_size object", lambda: pool.adaptive_max_pool2d(np.ones((1, 1, 4, 4)), object()), ParameterError, "output_size must be an integer or a pair"),
    ("output_size 0", lambda: pool.adaptive_avg_pool2d(np.ones((1, 1, 4, 4)), (0, 2)), ParameterError, "output_size must be at least 1, got 0x2"),
    ("output_size huge", lambda: pool.adaptive_avg_pool2d(np.ones((1, 1, 4, 4)), 10**6), ResourceLimitError, "would give 1x1x1000000x1000000 values"),
    ("global grad shape", lambda: pool.global_avg_pool2d_backward(np.ones((1, 1, 2, 2)), np.ones((1, 1, 4, 4))), ShapeError, "grad_output has shape (1, 1, 2, 2) but the pooling output has shape (1, 1, 1, 1)"),
]  # fmt: skip


@pytest.mark.parametrize("call,error,message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_error_messages(call: Any, error: type[CnncliError], message: str) -> None:
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)


# ----------------------------------------------------------------------------- hostile input

sensible = st.one_of(st.integers(1, 4), st.tuples(st.integers(0, 4), st.integers(1, 4)))
nonsense = st.one_of(
    st.integers(-3, 12),
    st.tuples(st.integers(-3, 12), st.integers(-3, 12)),
    st.sampled_from([(), 2**40, -(2**40), 1.5, None, (1, 2, 3), "2", True, (None, 2)]),
)
int_or_pair = st.one_of(sensible, sensible, sensible, nonsense)
shapes_any = st.one_of(
    st.tuples(*[st.integers(1, 9)] * 4),
    st.tuples(*[st.integers(1, 9)] * 3),
    st.lists(st.integers(0, 9), min_size=1, max_size=5),
)


@settings(max_examples=150)
@given(
    shape=shapes_any,
    op=st.sampled_from(["max", "avg", "adaptive_avg", "adaptive_max", "global_avg", "global_max"]),
    kernel=int_or_pair,
    stride=st.one_of(st.none(), int_or_pair),
    padding=st.one_of(st.just(0), int_or_pair),
    dilation=st.one_of(st.just(1), int_or_pair),
    ceil_mode=st.booleans(),
    count_include_pad=st.booleans(),
    divisor=st.one_of(st.none(), st.integers(-3, 3), st.just(1.5)),
    output_size=int_or_pair,
    dtype=st.sampled_from([np.float32, np.float64, np.float64, np.int32]),
)
def test_hostile_arguments_give_a_correct_result_or_our_error(
    shape: Any,
    op: str,
    kernel: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor: Any,
    output_size: Any,
    dtype: Any,
) -> None:
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    xt = torch.from_numpy(x) if x.dtype != np.int32 else None
    calls = {
        "max": (
            lambda a: pool.max_pool2d(a, kernel, stride, padding, dilation, ceil_mode),
            lambda t: F.max_pool2d(t, kernel, stride, padding, dilation, ceil_mode),
        ),
        "avg": (
            lambda a: pool.avg_pool2d(
                a, kernel, stride, padding, ceil_mode, count_include_pad, divisor
            ),
            lambda t: F.avg_pool2d(
                t, kernel, stride, padding, ceil_mode, count_include_pad, divisor
            ),
        ),
        "adaptive_avg": (
            lambda a: pool.adaptive_avg_pool2d(a, output_size),
            lambda t: F.adaptive_avg_pool2d(t, output_size),
        ),
        "adaptive_max": (
            lambda a: pool.adaptive_max_pool2d(a, output_size),
            lambda t: F.adaptive_max_pool2d(t, output_size),
        ),
        "global_avg": (pool.global_avg_pool2d, lambda t: F.adaptive_avg_pool2d(t, 1)),
        "global_max": (pool.global_max_pool2d, lambda t: F.adaptive_max_pool2d(t, 1)),
    }
    ours, theirs = calls[op]
    try:
        y = ours(x)
    except CnncliError:
        event("refused")
        return
    event("computed")
    # A result was given: it must be PyTorch's (which must have accepted the call).
    assert xt is not None
    close(y, theirs(xt))
