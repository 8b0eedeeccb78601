"""conv2d's im2col GEMM path and its chunks equal the naive loops and PyTorch.

The product is (F, K) @ (K, N*OH*OW): a chunk of one whole image is written straight
into the output, other chunks (several images, or runs of output rows) are copied in.
conv2d_backward's col2im runs over chunks of items.  Further down: the paths that avoid
im2col for special kernels (the summed channels of a repeated kernel, separable pairs).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

from cnncli.engine import conv2d, conv2d_backward
from cnncli.engine.reference.conv import conv2d_backward_naive, conv2d_naive
from cnncli.engine.shapes import conv2d_geometry
from tests.engine.calls import count_calls
from tests.engine.conv_data import assert_equals_torch
from tests.oracle import assert_close, torch_conv2d

fast_conv_module = importlib.import_module("cnncli.engine.fast.conv")
im2col_module = importlib.import_module("cnncli.engine.fast.im2col")
shift_add_module = importlib.import_module("cnncli.engine.fast.shift_add")
windows_module = importlib.import_module("cnncli.engine.fast.windows")


@pytest.fixture(autouse=True)
def _tiles_for_few_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    """These cases have few channels, which stride-1 layers now compute on the flat
    image (tests/engine/fast/test_flat_shift.py), and one group takes the NCHW windows
    (tests/engine/fast/test_windows.py); here the channels-last tiles are under test,
    so both are turned off."""
    monkeypatch.setattr(fast_conv_module, "FLAT_MAX_CHANNELS", 0)
    monkeypatch.setattr(windows_module, "MAX_IMAGE_BYTES", 0)


# (input shape, weight shape, keyword arguments): several items, groups, strides and
# dilations, one item (written straight into the output), more filters than pixels.
CASES: list[tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]]] = [
    ((2, 3, 9, 8), (4, 3, 3, 3), {"padding": 1}),
    ((3, 4, 7, 9), (6, 2, 3, 2), {"padding": (1, 0, 2, 1), "groups": 2}),
    ((2, 5, 11, 10), (3, 5, 4, 3), {"stride": (2, 1), "dilation": (1, 2)}),
    ((1, 4, 3, 3), (16, 4, 3, 3), {"padding": 1}),
    ((2, 6, 4, 4), (12, 2, 3, 3), {"groups": 3}),
]


@pytest.mark.parametrize(("xs", "ws", "params"), CASES)
def test_gemm_path_equals_naive_loops(
    monkeypatch: pytest.MonkeyPatch,
    xs: tuple[int, ...],
    ws: tuple[int, ...],
    params: dict[str, Any],
) -> None:
    rng = np.random.default_rng(21)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    calls = count_calls(monkeypatch, im2col_module, "conv_gemm")
    y = conv2d(x, w, b, **params)
    assert calls, "the im2col GEMM path was not taken"
    assert_close(y, conv2d_naive(x, w, b, **params))
    g = rng.standard_normal(y.shape)
    for got, want in zip(
        conv2d_backward(g, x, w, **params), conv2d_backward_naive(g, x, w, **params), strict=True
    ):
        assert_close(got, want)


@pytest.mark.parametrize(("xs", "ws", "params"), CASES)
def test_gemm_path_equals_torch_in_float32(
    monkeypatch: pytest.MonkeyPatch,
    xs: tuple[int, ...],
    ws: tuple[int, ...],
    params: dict[str, Any],
) -> None:
    rng = np.random.default_rng(22)
    x = rng.standard_normal(xs, dtype=np.float32)
    w = rng.standard_normal(ws, dtype=np.float32)
    b = rng.standard_normal(ws[0], dtype=np.float32)
    calls = count_calls(monkeypatch, im2col_module, "conv_gemm")
    y = conv2d(x, w, b, **params)
    assert calls
    g = rng.standard_normal(y.shape, dtype=np.float32)
    assert_equals_torch(y, g, x, w, b, params)


@pytest.mark.parametrize(("xs", "ws", "params"), CASES[:3])
@pytest.mark.parametrize("chunk_rows", [1, 2, 5])
def test_chunks_of_output_rows_fill_the_right_rows(
    monkeypatch: pytest.MonkeyPatch,
    xs: tuple[int, ...],
    ws: tuple[int, ...],
    params: dict[str, Any],
    chunk_rows: int,
) -> None:
    """Chunks of whole items and of output-row runs (with a ragged last run) write each
    its own rows of the output, pad their own input rows, and fill channels-last dY."""
    rng = np.random.default_rng(23)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    y = conv2d_naive(x, w, b, **params)
    g = rng.standard_normal(y.shape)
    want = conv2d_backward_naive(g, x, w, **params)
    groups = params.get("groups", 1)
    k = ws[2] * ws[3] * (xs[1] // groups)
    # Budget for chunk_rows output rows of one item: runs of rows, never whole items.
    chunk = chunk_rows * k * y.shape[3] * x.itemsize
    monkeypatch.setattr(im2col_module, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(im2col_module, "MIN_CHUNK_BYTES", chunk)
    geom = conv2d_geometry(xs, ws, groups=groups, **_geometry_args(params))
    blocks = list(im2col_module._chunks(geom, x.itemsize))
    assert len(blocks) >= xs[0]  # never two items in one chunk; runs of rows when OH > chunk_rows
    if chunk_rows == 1:  # the padded input exceeds the budget: padded a chunk at a time
        assert im2col_module._padded_at_once(x, geom.padding) is None
    assert_close(conv2d(x, w, b, **params), y)
    for got, expected in zip(conv2d_backward(g, x, w, **params), want, strict=True):
        assert_close(got, expected)


def _geometry_args(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k in ("stride", "padding", "dilation")}


@pytest.mark.parametrize("items", [2, 3, 5])
def test_backward_chunks_of_several_items(monkeypatch: pytest.MonkeyPatch, items: int) -> None:
    """Chunks of two whole items (and a ragged last one): dW sums and col2im over them."""
    rng = np.random.default_rng(24)
    x = rng.standard_normal((items, 3, 7, 6))
    w = rng.standard_normal((5, 3, 3, 3))
    g = rng.standard_normal((items, 5, 7, 6))
    want = conv2d_backward_naive(g, x, w, padding=1)
    chunk = 2 * 7 * 6 * 27 * x.itemsize  # two items' im2col
    monkeypatch.setattr(im2col_module, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(im2col_module, "MIN_CHUNK_BYTES", chunk)
    geom = conv2d_geometry(x.shape, w.shape, padding=1)
    sizes = [n1 - n0 for n0, n1, _, _ in im2col_module._chunks(geom, x.itemsize)]
    assert sizes == [min(2, items - i) for i in range(0, items, 2)]
    for got, expected in zip(conv2d_backward(g, x, w, padding=1), want, strict=True):
        assert_close(got, expected)


@pytest.mark.parametrize(
    ("xs", "ws", "groups", "sizes"),
    [
        ((3, 2, 24, 24), (4, 2, 3, 3), 1, [3]),  # 22x22 = 484 output pixels: grouped
        ((3, 2, 25, 25), (4, 2, 3, 3), 1, [1, 1, 1]),  # 23x23 = 529: one image a chunk
        ((3, 4, 25, 25), (4, 2, 3, 3), 2, [3]),  # two groups: grouped
    ],
)
def test_large_images_are_one_chunk_each(
    xs: tuple[int, ...], ws: tuple[int, ...], groups: int, sizes: list[int]
) -> None:
    """From IMAGE_PIXELS_ALONE (512) output pixels each image's product goes straight into
    the NCHW output; smaller images share a chunk."""
    assert im2col_module.IMAGE_PIXELS_ALONE == 512
    geom = conv2d_geometry(xs, ws, groups=groups)
    assert [n1 - n0 for n0, n1, _, _ in im2col_module._chunks(geom, 8)] == sizes
    rng = np.random.default_rng(26)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    y = conv2d_naive(x, w, b, groups=groups)
    assert_close(conv2d(x, w, b, groups=groups), y)
    g = rng.standard_normal(y.shape)
    want = conv2d_backward_naive(g, x, w, groups=groups)
    for got, expected in zip(conv2d_backward(g, x, w, groups=groups), want, strict=True):
        assert_close(got, expected)


@pytest.mark.parametrize("channels", [1, 3, 4, 5])
def test_padding_of_few_and_many_channels(channels: int) -> None:
    """Inputs of at most 4 channels are padded plane by plane, wider ones in one copy."""
    rng = np.random.default_rng(25)
    x = rng.standard_normal((2, channels, 9, 7))
    w = rng.standard_normal((6, channels, 3, 2))
    b = rng.standard_normal(6)
    params: dict[str, Any] = {"padding": (2, 1, 0, 3), "stride": 2}
    assert_close(conv2d(x, w, b, **params), conv2d_naive(x, w, b, **params))
    g = rng.standard_normal(conv2d(x, w, b, **params).shape)
    for got, expected in zip(
        conv2d_backward(g, x, w, **params), conv2d_backward_naive(g, x, w, **params), strict=True
    ):
        assert_close(got, expected)


SOBEL = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def _named_bank(C: int, kernels: list[np.ndarray]) -> np.ndarray:
    """(F, C, K, K): each named 2-D kernel repeated over every input channel, as the CLI builds."""
    return np.stack([np.stack([k] * C) for k in kernels])


@pytest.mark.parametrize(
    ("kernels", "params"),
    [
        ([SOBEL, SOBEL.T], {}),
        ([SOBEL, SOBEL.T], {"padding": 1, "stride": 2}),
        ([np.ones((3, 3)) / 9], {"padding": (1, 0, 2, 1), "dilation": 2}),
        ([SOBEL, -SOBEL, SOBEL.T, np.arange(9.0).reshape(3, 3)], {"padding": 2}),
        ([SOBEL], {"padding": 1, "padding_mode": "reflect"}),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_kernel_on_every_channel_is_the_kernel_on_their_sum(
    monkeypatch: pytest.MonkeyPatch, kernels: list[np.ndarray], params: dict[str, Any], dtype: type
) -> None:
    """Named kernels on RGB take the summed-channels path and still equal the loops and torch."""
    calls = count_calls(monkeypatch, shift_add_module, "conv_summed_channels")
    rng = np.random.default_rng(23)
    x = rng.standard_normal((2, 3, 11, 9)).astype(dtype)
    w = _named_bank(3, kernels).astype(dtype)
    b = rng.standard_normal(len(kernels)).astype(dtype)
    y = conv2d(x, w, b, **params)
    assert calls
    assert_close(y, conv2d_naive(x, w, b, **params).astype(dtype))
    (expected,) = torch_conv2d(x, w, b, **params)
    assert_close(y, expected)


@pytest.mark.parametrize(
    "w",
    [
        np.concatenate([_named_bank(3, [SOBEL])[:, :2], np.zeros((1, 1, 3, 3))], axis=1),
        _named_bank(3, [SOBEL] * 5),  # more filters than shift-and-add takes
    ],
    ids=["channels differ", "five filters"],
)
def test_other_banks_do_not_sum_the_channels(w: np.ndarray) -> None:
    geom = conv2d_geometry((1, 3, 8, 8), w.shape)
    assert not fast_conv_module._channel_uniform(w, geom)


def test_two_separable_kernels_per_channel_keep_torchs_nan_and_inf() -> None:
    """Sobel x and y on each channel (depthwise, multiplier 2) as 1-D passes, non-finite cells too."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(24).standard_normal((1, 2, 9, 8))
    w = np.stack([SOBEL, SOBEL.T, SOBEL.T, SOBEL])[:, None]  # (4, 1, 3, 3): 2 per channel
    y = conv2d(x, w, padding=1, groups=2)
    assert_close(y, conv2d_naive(x, w, padding=1, groups=2))
    x[0, 1, 3, 4] = np.inf
    y = conv2d(x, w, padding=1, groups=2)
    expected = torch.nn.functional.conv2d(
        torch.tensor(x), torch.tensor(w), padding=1, groups=2
    ).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(expected))
    finite = np.isfinite(expected)
    assert_close(y[finite], expected[finite])


# Moved from tests/engine/test_conv.py: they are about the tuned paths' chunks, tiles and passes.
@pytest.mark.parametrize(
    ("xs", "ws", "params"),
    [
        ((3, 4, 9, 8), (5, 4, 3, 3), {"padding": 1}),
        ((2, 4, 11, 7), (6, 2, 2, 3), {"padding": (1, 0, 2, 1), "stride": 2, "groups": 2}),
        ((2, 3, 10, 10), (3, 1, 3, 3), {"padding": 1, "groups": 3}),
        ((2, 1, 12, 9), (1, 1, 3, 3), {"padding": (2, 0, 1, 1)}),
    ],
)
def test_chunked_and_tiled_paths_give_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
    xs: tuple[int, ...],
    ws: tuple[int, ...],
    params: dict[str, Any],
) -> None:
    rng = np.random.default_rng(13)
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    b = rng.standard_normal(ws[0])
    y = conv2d(x, w, b, **params)
    g = rng.standard_normal(y.shape)
    grads = conv2d_backward(g, x, w, **params)
    # The smallest bound is under one output row's im2col, so every chunk is a run of
    # rows; tiles of the shift-and-add path shrink alike and run on two threads.
    monkeypatch.setattr(shift_add_module, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setenv("CNNCLI_NUM_THREADS", "2")
    for chunk in (x.itemsize * 8, 2000, 20000):
        monkeypatch.setattr(im2col_module, "CHUNK_BYTES", chunk)
        monkeypatch.setattr(im2col_module, "MIN_CHUNK_BYTES", chunk // 4)
        monkeypatch.setattr(shift_add_module, "TILE_BYTES", chunk)
        assert_close(conv2d(x, w, b, **params), y, tol=1e-14)
        for got, want in zip(conv2d_backward(g, x, w, **params), grads, strict=True):
            assert_close(got, want, tol=1e-14)


SOBEL_X = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
BINOMIAL_5 = np.outer([1.0, 4.0, 6.0, 4.0, 1.0], [1.0, 4.0, 6.0, 4.0, 1.0]) / 256.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("kernels", "params"),
    [
        ([SOBEL_X], {"padding": 1}),
        ([SOBEL_X.T], {}),
        ([np.full((3, 3), 1 / 9)], {"padding": "same", "padding_mode": "reflect"}),
        ([BINOMIAL_5], {"padding": 2, "stride": 2}),
        ([SOBEL_X, SOBEL_X.T, BINOMIAL_5[1:4, 1:4]], {"padding": 1, "groups": 3}),
        ([np.outer([1.0, -2.0], [3.0, 0.5, 1.0])], {"padding": (1, 0, 0, 1), "dilation": 2}),
    ],
)
def test_separable_kernels_equal_torch(
    kernels: list[np.ndarray], params: dict[str, Any], dtype: type
) -> None:
    """Exactly separable kernels take the two-pass path; the numbers stay PyTorch's."""
    weight = np.stack([k[None] for k in kernels]).astype(dtype)
    rng = np.random.default_rng(16)
    x = rng.standard_normal((2, len(kernels), 17, 15)).astype(dtype)
    bias = rng.standard_normal(len(kernels)).astype(dtype)
    assert shift_add_module._separable(weight[:, 0]) is not None
    y = conv2d(x, weight, bias, **params)
    (expected,) = torch_conv2d(x, weight, bias, **params)
    assert_close(y, expected)


@pytest.mark.parametrize("chunk", [2**14, 2**16, 2**30])
def test_workspace_bound_holds_for_chunks_of_rows(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """With the padded input over CHUNK_BYTES, rows are padded a chunk at a time: the
    estimate counts one chunk's rows instead of the whole padded copy, and still bounds
    what the call allocates."""
    from benchmarks.timing import MIB, traced_peak
    from cnncli.engine.conv import conv2d_workspace_bytes

    monkeypatch.setattr(im2col_module, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(im2col_module, "MIN_CHUNK_BYTES", chunk // 4)
    rng = np.random.default_rng(27)
    x = rng.standard_normal((2, 8, 40, 36), dtype=np.float32)
    w = rng.standard_normal((6, 8, 3, 3), dtype=np.float32)
    geom = conv2d_geometry(x.shape, w.shape, padding=1)
    estimate = conv2d_workspace_bytes(geom, 4)
    calls = count_calls(monkeypatch, im2col_module, "conv_gemm")
    peak, y = traced_peak(lambda: conv2d(x, w, padding=1))
    assert calls
    assert peak * MIB - y.nbytes <= 1.1 * estimate + 128 * 2**10
    if chunk < 2**30:  # whole padded copy (2*8*42*38*4 bytes) not counted, nor made
        assert estimate < 2 * 8 * 42 * 38 * 4 + 6 * 72 * 4 + 2 * 40 * 36 * (72 + 6) * 4
    assert_close(y, conv2d_naive(x, w, padding=1).astype(np.float32))
