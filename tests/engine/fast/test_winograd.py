"""conv2d's Winograd F(2x2, 3x3) and F(2x2, 5x5) paths equal PyTorch and the naive loops.

Each case is first checked to take the Winograd path (by counting calls), with the
size thresholds lowered so that small, fast cases qualify; AlexNet's conv2 and conv3
run with the real thresholds.
"""

from __future__ import annotations

import importlib
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from benchmarks.timing import MIB, traced_peak  # the benchmark's own peak, per call
from cnncli.engine import conv2d, conv2d_backward
from cnncli.engine.fast.winograd import F2_3, F2_5, cook_toom, winograd_weight
from cnncli.engine.reference.conv import conv2d_backward_naive, conv2d_naive
from cnncli.engine.shapes import conv2d_geometry
from tests.engine.calls import count_calls
from tests.oracle import assert_close, torch_conv2d

fast_conv_module = importlib.import_module("cnncli.engine.fast.conv")
BY_SIZE = {3: F2_3, 5: F2_5}
winograd_module = importlib.import_module("cnncli.engine.fast.winograd")


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count calls of the Winograd path, with every size qualifying."""
    monkeypatch.setattr(fast_conv_module, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(
        fast_conv_module, "FLAT_MAX_CHANNELS", 0
    )  # small layers: Winograd, not the flat image
    monkeypatch.setattr(fast_conv_module, "WINOGRAD_MIN_TILES", 1)
    return count_calls(monkeypatch, fast_conv_module, "_conv_winograd")


# (input shape, filters, keyword arguments): odd and even outputs, every padding form.
CASES: list[tuple[tuple[int, ...], int, dict[str, Any]]] = [
    ((2, 3, 6, 6), 4, {"padding": 1}),  # even output
    ((2, 3, 7, 7), 4, {"padding": 1}),  # odd output: a cropped last tile row and column
    ((1, 2, 3, 3), 3, {}),  # a single 1x1 output
    ((3, 5, 8, 11), 2, {"padding": (0, 2, 1, 3)}),  # four-value padding, odd width
    ((2, 4, 9, 6), 5, {"padding": "same"}),
    ((1, 3, 10, 7), 6, {"padding": "valid"}),
    ((2, 3, 6, 9), 3, {"padding": (2, 1)}),  # (h, w) padding
    ((2, 3, 7, 6), 4, {"padding": 2, "padding_mode": "reflect"}),  # padded first, then 'valid'
    ((2, 3, 5, 8), 4, {"padding": 1, "padding_mode": "circular"}),
    ((1, 2, 4, 5), 3, {"padding": (1, 0), "padding_mode": "replicate"}),
]


@pytest.mark.parametrize(("xs", "filters", "params"), CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kernel", [3, 5])
def test_winograd_equals_torch_and_naive_loops(
    spy: list[int],
    xs: tuple[int, ...],
    filters: int,
    params: dict[str, Any],
    dtype: type,
    bias: bool,
    kernel: int,
) -> None:
    rng = np.random.default_rng(31)
    if kernel == 5:  # the same cases, two pixels larger each way, so that 5x5 fits
        xs = (*xs[:2], xs[2] + 2, xs[3] + 2)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((filters, xs[1], kernel, kernel)).astype(dtype)
    b = rng.standard_normal(filters).astype(dtype) if bias else None
    y = conv2d(x, w, b, **params)
    assert spy, "the Winograd path was not taken"
    assert y.dtype == dtype and y.flags.c_contiguous
    (expected,) = torch_conv2d(x, w, b, **params)
    assert_close(y, expected)
    assert_close(y, conv2d_naive(x, w, b, **params).astype(dtype))


@pytest.mark.parametrize("chunk", [1, 3000, 20000, 10**9])
@pytest.mark.parametrize("kernel", [3, 5])
def test_chunks_of_tile_rows_and_of_images_give_the_same_result(
    spy: list[int], monkeypatch: pytest.MonkeyPatch, chunk: int, kernel: int
) -> None:
    """From one tile row per chunk to the whole batch in one, the numbers do not change."""
    rng = np.random.default_rng(32)
    x = rng.standard_normal((3, 4, 9, 10))
    w = rng.standard_normal((5, 4, kernel, kernel))
    b = rng.standard_normal(5)
    monkeypatch.setattr(winograd_module, "CHUNK_BYTES", chunk)
    y = conv2d(x, w, b, padding=(1, 0, 0, 1))
    assert spy
    assert_close(y, conv2d_naive(x, w, b, padding=(1, 0, 0, 1)))


@pytest.mark.parametrize(
    ("xs", "ws", "padding"),
    [((1, 96, 27, 27), (192, 96, 5, 5), 2), ((1, 192, 13, 13), (384, 192, 3, 3), 1)],
    ids=["conv2", "conv3"],
)
@pytest.mark.parametrize("relu", [False, True])
def test_alexnet_layers_take_winograd_at_the_real_thresholds(
    xs: tuple[int, ...], ws: tuple[int, ...], padding: int, relu: bool
) -> None:
    """AlexNet's conv2 and conv3 qualify as they are (batch 1), within float32's tolerance.

    After a ReLU the inputs are all >= 0, the case where a transform's sums cancel least.
    """
    rng = np.random.default_rng(33)
    x = rng.standard_normal(xs, dtype=np.float32)
    if relu:
        x = np.maximum(x, 0)
    w = rng.standard_normal(ws, dtype=np.float32) / np.float32(np.sqrt(np.prod(ws[1:])))
    geom = conv2d_geometry(x.shape, w.shape, 1, padding)
    assert fast_conv_module._winograd_for(geom) is BY_SIZE[ws[2]]
    (expected,) = torch_conv2d(x, w, None, padding=padding)
    assert_close(conv2d(x, w, padding=padding), expected)


@pytest.mark.parametrize(
    ("xs", "ws", "params"),
    [
        ((1, 64, 13, 13), (64, 64, 3, 3), {"stride": 2, "padding": 1}),
        ((1, 64, 13, 13), (64, 64, 3, 3), {"dilation": 2, "padding": 2}),
        ((1, 64, 13, 13), (64, 32, 3, 3), {"groups": 2, "padding": 1}),
        ((1, 64, 13, 13), (64, 64, 7, 7), {"padding": 3}),
        ((1, 64, 13, 13), (64, 64, 3, 5), {"padding": 2}),
        ((1, 32, 13, 13), (64, 32, 3, 3), {"padding": 1}),  # too few channels
        ((1, 64, 4, 4), (64, 64, 3, 3), {"padding": 1}),  # too few tiles
    ],
)
def test_other_layers_do_not_take_winograd(
    xs: tuple[int, ...], ws: tuple[int, ...], params: dict[str, Any]
) -> None:
    geom = conv2d_geometry(xs, ws, **params)
    assert fast_conv_module._winograd_for(geom) is None


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan, 3e38])
def test_non_finite_or_huge_inputs_take_the_direct_sum(spy: list[int], bad: float) -> None:
    """inf - inf in a transform would be NaN where the direct sum gives ±inf."""
    rng = np.random.default_rng(34)
    x = rng.standard_normal((1, 2, 7, 7)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    x[0, 0, 3, 3] = bad
    y = conv2d(x, w, padding=1)
    assert not spy
    (expected,) = torch_conv2d(x, w, None, padding=1)
    expected = expected.detach().numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(expected))
    w[1, 1, 0, 0] = bad
    x[0, 0, 3, 3] = 0
    conv2d(x, w, padding=1)
    assert not spy


@pytest.mark.parametrize(
    ("m", "r", "points"),
    [(2, 3, (0, 1, -1)), (2, 5, (0, 1, -1, Fraction(1, 2), -2)), (3, 3, (0, 1, -1, 2))],
)
def test_cook_toom_matrices_compute_the_correlation_exactly(
    m: int, r: int, points: tuple[Fraction | int, ...]
) -> None:
    """y = Aᵀ[(G g) ⊙ (Bᵀ d)] equals y[i] = Σ_k g[k] d[i + k], in exact fractions."""
    bt, g, at = cook_toom(m, r, tuple(Fraction(p) for p in points))
    rng = np.random.default_rng(35)
    for _ in range(5):
        d = [Fraction(int(v)) for v in rng.integers(-9, 10, m + r - 1)]
        k = [Fraction(int(v)) for v in rng.integers(-9, 10, r)]
        gk = [sum(gj * kk for gj, kk in zip(row, k, strict=True)) for row in g]
        bd = [sum(b * dd for b, dd in zip(row, d, strict=True)) for row in bt]
        y = [sum(a * x * z for a, x, z in zip(row, gk, bd, strict=True)) for row in at]
        assert y == [sum(k[j] * d[i + j] for j in range(r)) for i in range(m)]


@pytest.mark.parametrize(
    ("m", "r", "points"),
    [
        (4, 3, (0, 1, -1, 2, -2)),
        (4, 3, (0, 1, -1, Fraction(1, 2), -2)),
        (4, 3, (0, 1, -1, Fraction(1, 2), Fraction(-1, 2))),
        (3, 3, (0, 1, -1, Fraction(1, 2))),
        (3, 5, (0, 1, -1, Fraction(1, 2), -2, 2)),
        (4, 5, (0, 1, -1, Fraction(1, 2), -2, 2, Fraction(-1, 2))),
    ],
)
def test_other_tile_sizes_convolve_as_the_naive_loops_in_float64(
    m: int, r: int, points: tuple[Fraction | int, ...]
) -> None:
    """The 2-D path (input transform, products, output transform, scatter) is not tied to
    m = 2 or to the shipped points: any Toom-Cook transform gives the direct sum, to
    float64 rounding, on an output that is not a whole number of tiles."""
    t = winograd_module.Winograd.at_points(m, r, tuple(Fraction(p) for p in points))
    assert t.sums is None  # these Bᵀ are not all 0 and ±1: the matrix-product transform
    rng = np.random.default_rng(36)
    x = rng.standard_normal((2, 3, 13, 12))
    w = rng.standard_normal((4, 3, r, r))
    pads = (1, 2, 2, 0)  # left, right, top, bottom
    geometry = conv2d_geometry(x.shape, w.shape, 1, pads, 1, 1)
    assert geometry.OH % m and geometry.OW % m  # a cropped last tile row and column
    y = fast_conv_module._conv_winograd(x, winograd_weight(w, t), None, geometry, pads, t)
    np.testing.assert_allclose(y, conv2d_naive(x, w, padding=pads), rtol=0, atol=1e-11)


def test_f2_3_input_transform_is_additions_and_f2_5_is_not() -> None:
    assert F2_3.sums is not None and F2_5.sums is None
    assert np.isin(F2_3.bt, (-1, 0, 1)).all()


@pytest.mark.parametrize("t", [F2_3, F2_5], ids=["F(2,3)", "F(2,5)"])
def test_transformed_weights_are_g_w_gt(t: Any) -> None:
    """U[(a, b), c, f] = (G w[f, c] Gᵀ)[a, b], indexed (b, a) when V is (F(2, 5))."""
    rng = np.random.default_rng(36)
    r, n = t.r, t.n
    w = rng.standard_normal((3, 2, r, r))
    _, g, _ = cook_toom(2, r, _POINTS[r])
    g64 = np.array(g, dtype=np.float64)
    direct = np.einsum("ap,fcpq,bq->abcf", g64, w, g64).reshape(n * n, 2, 3)
    if t.sums is None:  # V and U indexed (b, a)
        direct = direct.reshape(n, n, 2, 3).transpose(1, 0, 2, 3).reshape(n * n, 2, 3)
    np.testing.assert_allclose(winograd_weight(w, t), direct, rtol=1e-13, atol=1e-13)


_POINTS = {
    3: (Fraction(0), Fraction(1), Fraction(-1)),
    5: (Fraction(0), Fraction(1), Fraction(-1), Fraction(1, 2), Fraction(-2)),
}


@pytest.mark.parametrize(
    ("xs", "kernel", "params"),
    [
        ((2, 3, 7, 6), 3, {"padding": 1}),
        ((2, 3, 9, 8), 5, {"padding": 2}),
        ((1, 4, 8, 9), 3, {"padding": (0, 2, 1, 2)}),
        ((2, 3, 7, 7), 3, {"padding": 0}),
        ((1, 3, 8, 7), 5, {"padding": 1, "padding_mode": "reflect"}),
        ((1, 2, 9, 9), 5, {"padding": 4, "padding_mode": "circular"}),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_by_winograd_equals_torch(
    spy: list[int],
    monkeypatch: pytest.MonkeyPatch,
    xs: tuple[int, ...],
    kernel: int,
    params: dict[str, Any],
    dtype: type,
) -> None:
    """dx as a Winograd convolution of dY with the turned kernel, dw by F(r x r, 2 x 2)."""
    rng = np.random.default_rng(37)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((5, xs[1], kernel, kernel)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    y = conv2d(x, w, b, **params)
    spy.clear()
    dw_calls = count_calls(monkeypatch, winograd_module, "conv2d_weight_winograd")
    g = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = conv2d_backward(g, x, w, **params)
    assert spy, "dx did not take the Winograd path"
    assert dw_calls, "dw did not take the Winograd path"
    _, dxt, dwt, dbt = torch_conv2d(x, w, b, **params, grad_output=g)
    assert_close(dx, dxt)
    assert_close(dw, dwt)
    assert_close(db, dbt)


def test_backward_with_padding_beyond_kernel_minus_one_takes_col2im(spy: list[int]) -> None:
    """Padding 3 on a 3x3 kernel would need a negative padding of dY: col2im does it."""
    rng = np.random.default_rng(38)
    x = rng.standard_normal((1, 2, 5, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    y = conv2d(x, w, padding=3)
    spy.clear()
    g = rng.standard_normal(y.shape)
    dx, _, _ = conv2d_backward(g, x, w, padding=3, bias=False)
    assert not spy
    _, dxt, _, _ = torch_conv2d(x, w, None, padding=3, grad_output=g)
    assert_close(dx, dxt)


@pytest.mark.parametrize("chunk", [1, 5000, 10**9])
@pytest.mark.parametrize("kernel", [3, 5])
def test_weight_gradient_chunks_accumulate_to_the_same_result(
    spy: list[int], monkeypatch: pytest.MonkeyPatch, chunk: int, kernel: int
) -> None:
    """dW sums its products over chunks of tiles: any chunking gives the naive loops' dW."""
    rng = np.random.default_rng(39)
    x = rng.standard_normal((3, 4, 9, 8))
    w = rng.standard_normal((5, 4, kernel, kernel))
    y = conv2d(x, w, padding=1)
    g = rng.standard_normal(y.shape)
    monkeypatch.setattr(winograd_module, "WEIGHT_GRAD_CHUNK_BYTES", chunk)
    _, dw, _ = conv2d_backward(g, x, w, padding=1, bias=False)
    assert_close(dw, conv2d_backward_naive(g, x, w, padding=1)[1])


def test_transformed_weights_are_remembered_until_the_weights_change(
    spy: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second call reuses the transform; weights changed in place are transformed anew."""
    made = count_calls(monkeypatch, winograd_module, "winograd_weight")
    rng = np.random.default_rng(40)
    x = rng.standard_normal((2, 3, 8, 8))
    w = rng.standard_normal((4, 3, 3, 3))
    first = conv2d(x, w, padding=1)
    second = conv2d(x, w, padding=1)
    assert len(made) == 1
    np.testing.assert_array_equal(first, second)
    w[2, 1, 0, 2] += 1.0  # in place: same array, same address, other values
    changed = conv2d(x, w, padding=1)
    assert len(made) == 2
    assert_close(changed, conv2d_naive(x, w, padding=1))
    assert not np.array_equal(changed, first)


@pytest.mark.parametrize("bad", [np.inf, np.nan, 3e38])
def test_remembered_weights_made_non_finite_in_place_take_the_direct_sum(
    spy: list[int], bad: float
) -> None:
    """A remembered transform skips the finiteness check only while the weights are unchanged."""
    rng = np.random.default_rng(42)
    x = rng.standard_normal((1, 2, 7, 7)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    conv2d(x, w, padding=1)
    assert len(spy) == 1
    w[0, 1, 2, 2] = bad
    y = conv2d(x, w, padding=1)
    assert len(spy) == 1, "non-moderate weights were convolved by Winograd"
    (expected,) = torch_conv2d(x, w, None, padding=1)
    expected = expected.detach().numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(expected))


def test_the_memo_stays_within_its_bytes(spy: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(winograd_module, "_MEMO", type(winograd_module._MEMO)())
    rng = np.random.default_rng(41)
    x = rng.standard_normal((1, 4, 6, 6))
    weights = [rng.standard_normal((4, 4, 3, 3)) for _ in range(6)]
    one = weights[0].nbytes + 16 * 4 * 4 * 8  # a weight and its transform, float64
    monkeypatch.setattr(winograd_module, "MEMO_BYTES", 3 * one)
    for w in weights:
        conv2d(x, w, padding=1)
    memo = winograd_module._MEMO
    assert 0 < len(memo) <= 3
    assert sum(a.nbytes + b.nbytes for a, b in memo.values()) <= 3 * one


@pytest.mark.parametrize("kernel", [3, 5])
def test_a_chunked_convolution_holds_one_chunks_buffers_at_a_time(
    monkeypatch: pytest.MonkeyPatch, kernel: int
) -> None:
    """Forward and dW in chunks of 4 tile rows: beyond the result, the peak is one chunk's
    transformed input and products (V and M, or V and G dY Gᵀ: n² · T · (C + F) floats),
    not two chunks' (2.0-2.06 chunks before they were freed as used; dW 1.5-1.56)."""
    t = BY_SIZE[kernel]
    n2, C, F, side = t.n * t.n, 64, 64, 32
    tw = side // 2
    chunk_bytes = n2 * (C + F) * 4 * tw * 4  # 4 tile rows of V and M, float32
    monkeypatch.setattr(winograd_module, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(winograd_module, "WEIGHT_GRAD_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(44)
    xp = rng.standard_normal((1, side + kernel - 1, side + kernel - 1, C), dtype=np.float32)
    w = rng.standard_normal((F, C, kernel, kernel), dtype=np.float32)
    u = winograd_weight(w, t)
    peak, y = traced_peak(lambda: winograd_module.conv2d_winograd(xp, u, None, side, side, t))
    assert y.shape == (1, F, side, side)
    assert peak * MIB - y.nbytes <= 1.25 * chunk_bytes
    gy = rng.standard_normal((1, F, side, side), dtype=np.float32)
    wt = winograd_module.WEIGHT_GRAD_BY_KERNEL[kernel]
    peak, dw = traced_peak(lambda: winograd_module.conv2d_weight_winograd(xp, gy, wt))
    assert dw.shape == (F, C, kernel, kernel)
    accumulator = n2 * F * C * 4  # the (n², F, C) sum, and one chunk's product added to it
    assert peak * MIB - 2 * accumulator <= 1.25 * chunk_bytes
