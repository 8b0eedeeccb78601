"""The NCHW windows by chunks of images (fast/windows.py): one-group layers that no
special method takes.

Forward and a strided layer's dW alone equal the naive loops and PyTorch for AlexNet's
and ResNet's first layers (scaled down), dilation, asymmetric and mode padding, chunks of
images (a ragged last one); which layers take it, and large images going elsewhere.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

from cnncli.engine import conv2d, conv2d_backward
from cnncli.engine.conv import (
    conv2d_backward_method,
    conv2d_backward_weight,
    conv2d_method,
    conv2d_workspace_bytes,
)
from cnncli.engine.reference.conv import conv2d_backward_naive, conv2d_naive
from cnncli.engine.shapes import conv2d_geometry
from tests.engine.calls import count_calls
from tests.engine.conv_data import assert_equals_torch, conv_data
from tests.oracle import assert_close, torch_conv2d

win = importlib.import_module("cnncli.engine.fast.windows")
fast_conv = importlib.import_module("cnncli.engine.fast.conv")

METHOD = "fast: im2col on the NCHW windows, by chunks of images"

# (input shape, weight shape, keyword arguments): AlexNet's and ResNet's first layers on
# small images, one channel, dilation, asymmetric padding, a rectangular stride, padding
# modes, and 64 channels (the most that take this path).
CASES: list[tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]]] = [
    ((2, 3, 35, 35), (8, 3, 11, 11), {"stride": 4, "padding": 2}),
    ((2, 3, 20, 18), (6, 3, 7, 7), {"stride": 2, "padding": 3}),
    ((3, 1, 13, 13), (5, 1, 3, 3), {"stride": 2}),
    ((2, 4, 15, 14), (3, 4, 3, 3), {"stride": 2, "dilation": (2, 1), "padding": (1, 2)}),
    ((2, 2, 11, 12), (4, 2, 2, 3), {"stride": (3, 2), "padding": (0, 1, 2, 1)}),
    ((2, 3, 9, 10), (4, 3, 3, 3), {"stride": 2, "padding": 1, "padding_mode": "reflect"}),
    ((1, 64, 9, 9), (4, 64, 3, 3), {"stride": 2, "padding": 1}),
]


@pytest.mark.parametrize(("xs", "ws", "params"), CASES)
def test_windows_equal_the_naive_loops(
    monkeypatch: pytest.MonkeyPatch,
    xs: tuple[int, ...],
    ws: tuple[int, ...],
    params: dict[str, Any],
) -> None:
    rng, x, w, b = conv_data(41, xs, ws, np.float64)
    forward = count_calls(monkeypatch, win, "conv_windows")
    dw_calls = count_calls(monkeypatch, win, "weight_grad")
    assert conv2d_method(x, w, **params) == METHOD
    y = conv2d(x, w, b, **params)
    assert forward, "the windows were not used"
    assert_close(y, conv2d_naive(x, w, b, **params))
    g = rng.standard_normal(y.shape)
    _, dw_want, db_want = conv2d_backward_naive(g, x, w, **params)
    dw, db = conv2d_backward_weight(g, x, w, **params)
    assert dw_calls, "an input layer's dW did not use the windows"
    assert_close(dw, dw_want)
    assert_close(db, db_want)


@pytest.mark.parametrize(("xs", "ws", "params"), CASES)
def test_windows_equal_torch_in_float32(
    xs: tuple[int, ...], ws: tuple[int, ...], params: dict[str, Any]
) -> None:
    rng, x, w, b = conv_data(42, xs, ws, np.float32)
    y = conv2d(x, w, b, **params)
    g = rng.standard_normal(y.shape).astype(np.float32)
    # The whole backward (dX too) is still the tiled im2col's, and still PyTorch's.
    dwt, dbt = assert_equals_torch(y, g, x, w, b, params)
    dw, db = conv2d_backward_weight(g, x, w, **params)
    assert_close(dw, dwt)
    assert_close(db, dbt)


@pytest.mark.parametrize("images", [1, 2, 3])
def test_chunks_of_images_give_the_same_result(
    monkeypatch: pytest.MonkeyPatch, images: int
) -> None:
    """A budget of ``images`` images per chunk (5 images: a ragged last chunk): the forward
    fills each chunk's own items, dW sums over all chunks."""
    rng, x, w, b = conv_data(43, (5, 3, 11, 10), (4, 3, 3, 3), np.float64)
    params = {"stride": 2, "padding": 1}
    g = conv2d_geometry(x.shape, w.shape, **params)
    monkeypatch.setattr(win, "CHUNK_BYTES", images * 27 * g.OH * g.OW * x.itemsize)
    chunks = list(win._chunks(g, x.itemsize))
    assert chunks[0] == (0, images) and chunks[-1][1] == 5 and len(chunks) == -(-5 // images)
    y = conv2d(x, w, b, **params)
    assert_close(y, conv2d_naive(x, w, b, **params))
    gy = rng.standard_normal(y.shape)
    dw, _ = conv2d_backward_weight(gy, x, w, **params)
    assert_close(dw, conv2d_backward_naive(gy, x, w, **params)[1])


def test_which_layers_take_the_windows() -> None:
    """One group, not 1x1: strided layers of any width, and stride-1 layers that neither the
    flat image (fewer than 64 channels) nor Winograd (64 channels and filters) takes."""
    rng = np.random.default_rng(46)

    def method(xs: tuple[int, ...], ws: tuple[int, ...], **params: Any) -> str:
        x, w = rng.standard_normal(xs), rng.standard_normal(ws) / 30
        return conv2d_method(x.astype(np.float32), w.astype(np.float32), **params)

    assert method((1, 3, 16, 16), (4, 3, 3, 3), stride=2) == METHOD
    assert method((1, 128, 8, 8), (4, 128, 3, 3), stride=2) == METHOD
    assert method((1, 64, 12, 12), (8, 64, 3, 3), padding=1) == METHOD
    assert method((1, 64, 12, 12), (64, 64, 3, 3), padding=1) == "fast: Winograd F(2x2, 3x3)"
    assert method((1, 3, 16, 16), (4, 3, 3, 3)) == "fast: im2col on the flat padded image"
    tiled = "fast: tiled im2col + matrix product"
    assert method((1, 3, 16, 16), (4, 3, 1, 1), stride=2, padding=1) == tiled
    assert method((1, 8, 16, 16), (4, 4, 3, 3), stride=2, groups=2) == tiled


@pytest.mark.parametrize(
    ("xs", "ws", "params"),
    [
        ((6, 3, 40, 36), (10, 3, 5, 5), {"stride": 2, "padding": 2}),  # column phases
        ((6, 3, 40, 36), (10, 3, 3, 3), {"stride": 2, "padding": 2}),  # one copy
        ((6, 6, 14, 14), (16, 6, 5, 5), {}),  # two copies, at stride 1
    ],
)
def test_workspace_estimate_bounds_what_the_windows_allocate(
    xs: tuple[int, ...], ws: tuple[int, ...], params: dict[str, Any]
) -> None:
    from benchmarks.timing import MIB, traced_peak

    _, x, w, b = conv_data(44, xs, ws, np.float32)
    geom = conv2d_geometry(x.shape, w.shape, **params)
    assert conv2d_method(x, w, **params) == METHOD
    estimate = conv2d_workspace_bytes(geom, 4)
    peak, y = traced_peak(lambda: conv2d(x, w, b, **params))
    assert peak * MIB - y.nbytes <= 1.1 * estimate + 128 * 2**10
    assert estimate >= geom.C * geom.KH * geom.KW * geom.OH * geom.OW * 6 * 4  # the columns


def test_a_large_image_goes_to_the_tiled_im2col(monkeypatch: pytest.MonkeyPatch) -> None:
    """One image's columns over MAX_IMAGE_BYTES: the tiled im2col, which splits an image
    by rows."""
    _, x, w, b = conv_data(45, (1, 3, 21, 21), (2, 3, 3, 3), np.float32)
    monkeypatch.setattr(win, "MAX_IMAGE_BYTES", 27 * 10 * 10 * 8 - 1)
    calls = count_calls(monkeypatch, win, "conv_windows")
    assert conv2d_method(x, w, stride=2) == "fast: tiled im2col + matrix product"
    assert_close(conv2d(x, w, b, stride=2), conv2d_naive(x, w, b, stride=2))
    assert not calls
    monkeypatch.setattr(win, "MAX_IMAGE_BYTES", 27 * 10 * 10 * 8)
    assert conv2d_method(x, w, stride=2) == METHOD


@pytest.mark.parametrize(
    ("xs", "ws"),
    [
        ((2, 64, 9, 9), (8, 64, 3, 3)),
        ((1, 128, 7, 7), (16, 128, 3, 3)),
        ((1, 72, 8, 8), (4, 72, 2, 4)),
    ],
)
def test_stride_1_layers_on_the_windows_equal_torch(
    monkeypatch: pytest.MonkeyPatch, xs: tuple[int, ...], ws: tuple[int, ...]
) -> None:
    """Stride 1 with 64 channels or more (past the flat image), below Winograd's width or
    tiles, or a kernel it has no transform for: the windows, and PyTorch's numbers."""
    rng, x, w, b = conv_data(47, xs, ws, np.float32)
    calls = count_calls(monkeypatch, win, "conv_windows")
    assert conv2d_method(x, w, padding=1) == METHOD
    y = conv2d(x, w, b, padding=1)
    assert calls
    g = rng.standard_normal(y.shape).astype(np.float32)
    yt, _, _, _ = torch_conv2d(x, w, b, padding=1, grad_output=g)
    assert_close(y, yt)


# Stride-1 layers whose flat grid holds at least FLAT_MAX_WASTE times their outputs:
# LeNet's second layer (14x14 maps, 5x5), dilation with asymmetric padding, a padding mode.
WASTEFUL: list[tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]]] = [
    ((3, 6, 14, 14), (16, 6, 5, 5), {}),
    ((2, 5, 11, 10), (3, 5, 3, 3), {"dilation": (2, 1), "padding": (1, 2)}),
    ((2, 3, 7, 9), (4, 3, 3, 3), {"padding": 1, "padding_mode": "reflect"}),
]


@pytest.mark.parametrize(("xs", "ws", "params"), WASTEFUL)
def test_small_maps_at_stride_1_take_the_windows_and_equal_torch(
    monkeypatch: pytest.MonkeyPatch,
    xs: tuple[int, ...],
    ws: tuple[int, ...],
    params: dict[str, Any],
) -> None:
    """Where the flat grid would compute mostly columns in vain: the forward, dX and dW on
    the windows (gathered in two copies, col2im by runs); the naive loops' numbers in
    float64 and PyTorch's in float32."""
    g = conv2d_geometry(xs, ws, **{k: v for k, v in params.items() if k != "padding_mode"})
    left, right, top, bottom = g.padding
    grid = (g.H + top + bottom) * (g.W + left + right)
    assert grid >= fast_conv.FLAT_MAX_WASTE * g.OH * g.OW and win._two_stage(g)
    rng, x, w, b = conv_data(48, xs, ws, np.float64)
    forward = count_calls(monkeypatch, win, "conv_windows")
    dx_calls = count_calls(monkeypatch, win, "input_grad")
    dw_calls = count_calls(monkeypatch, win, "weight_grad")
    assert conv2d_method(x, w, **params) == METHOD
    y = conv2d(x, w, b, **params)
    assert forward
    assert_close(y, conv2d_naive(x, w, b, **params))
    gy = rng.standard_normal(y.shape)
    assert conv2d_backward_method(gy, x, w, **params) == (
        "fast: matrix products on the NCHW windows, col2im by runs"
    )
    for got, want in zip(
        conv2d_backward(gy, x, w, **params), conv2d_backward_naive(gy, x, w, **params), strict=True
    ):
        assert_close(got, want)
    assert dx_calls and dw_calls
    rng, x, w, b = conv_data(49, xs, ws, np.float32)
    y = conv2d(x, w, b, **params)
    assert_equals_torch(y, rng.standard_normal(y.shape).astype(np.float32), x, w, b, params)


def _columns_by_definition(x: np.ndarray, g: Any, pads: tuple[int, ...]) -> np.ndarray:
    """X_col[(c, m, k), (n, i, j)] = Xp[n, c, i*s_h + m*d_h, j*s_w + k*d_w], by fancy indexing."""
    left, right, top, bottom = pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    (sh, sw), (dh, dw) = g.stride, g.dilation
    rows = np.arange(g.KH)[:, None, None, None] * dh + np.arange(g.OH)[None, None, :, None] * sh
    cols = np.arange(g.KW)[None, :, None, None] * dw + np.arange(g.OW)[None, None, None, :] * sw
    picked = xp[:, :, rows, cols]  # (n, C, KH, KW, OH, OW)
    return picked.transpose(1, 2, 3, 0, 4, 5).reshape(g.C * g.KH * g.KW, -1)


@pytest.mark.parametrize(
    ("xs", "ws", "params"),
    [*WASTEFUL, *CASES, ((2, 3, 13, 14), (4, 3, 3, 3), {"stride": 2, "dilation": (1, 2)})],
)
def test_the_gathers_give_the_columns_of_the_definition(
    xs: tuple[int, ...], ws: tuple[int, ...], params: dict[str, Any]
) -> None:
    """In two copies at stride 1, from the column phases for a column stride, or in one
    copy: the very matrix of the definition, padding, dilation and stride included."""
    params = {k: v for k, v in params.items() if k != "padding_mode"}
    _, x, _, _ = conv_data(50, xs, ws, np.float32)
    g = conv2d_geometry(xs, ws, **params)
    left, right, top, bottom = g.padding
    pads = (left, right, top, bottom)
    np.testing.assert_array_equal(win._columns(x, g, pads), _columns_by_definition(x, g, pads))


@pytest.mark.parametrize("images", [1, 2, 3])
def test_chunks_of_images_at_stride_1_give_the_same_gradients(
    monkeypatch: pytest.MonkeyPatch, images: int
) -> None:
    """dX's budget of ``images`` images per chunk (5 images, a ragged last chunk) on a
    dilated, asymmetrically padded layer: each chunk fills its own images of dX."""
    xs, ws, params = WASTEFUL[1]
    rng, x, w, _ = conv_data(51, (5, *xs[1:]), ws, np.float64)
    g = conv2d_geometry(x.shape, w.shape, **params)
    left, right, _, _ = g.padding
    per_image = g.C * g.KH * g.KW * g.OH * (g.W + left + right) * x.itemsize  # dX_col's
    monkeypatch.setattr(win, "CHUNK_BYTES", images * per_image)
    gy = rng.standard_normal((5, 3, g.OH, g.OW))
    want = conv2d_backward_naive(gy, x, w, **params)
    for got, expected in zip(conv2d_backward(gy, x, w, **params), want, strict=True):
        assert_close(got, expected)


@pytest.mark.parametrize(
    ("kernel", "stride", "phases"), [(11, 4, True), (7, 2, True), (4, 2, True), (3, 2, False)]
)
def test_kernels_twice_their_stride_wide_gather_from_the_phases(
    monkeypatch: pytest.MonkeyPatch, kernel: int, stride: int, phases: bool
) -> None:
    _, x, w, b = conv_data(52, (2, 3, 30, 29), (4, 3, kernel, kernel), np.float64)
    calls = count_calls(monkeypatch, win, "_columns_by_phases")
    y = conv2d(x, w, b, stride=stride, padding=1)
    assert bool(calls) == phases
    assert_close(y, conv2d_naive(x, w, b, stride=stride, padding=1))
