"""The flat padded image (fast/flat_shift.py): stride-1 convolutions with few channels.

Forward, dX and dW equal the naive loops and PyTorch for dilations, asymmetric and
mode padding, chunks of images (a ragged last one), and an input layer's dW alone.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

from cnncli.engine import conv2d, conv2d_backward
from cnncli.engine.conv import conv2d_backward_weight, conv2d_method, conv2d_workspace_bytes
from cnncli.engine.reference.conv import conv2d_backward_naive, conv2d_naive
from cnncli.engine.shapes import conv2d_geometry
from tests.engine.calls import count_calls
from tests.engine.conv_data import assert_equals_torch, conv_data
from tests.oracle import assert_close, torch_conv2d

flat = importlib.import_module("cnncli.engine.fast.flat_shift")
fast_conv = importlib.import_module("cnncli.engine.fast.conv")


@pytest.fixture(autouse=True)
def flat_however_wasteful(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small test images make grids many times their outputs, where the NCHW windows
    would take over (tests/engine/fast/test_windows.py): here the flat image takes them
    all."""
    monkeypatch.setattr(fast_conv, "FLAT_MAX_WASTE", float("inf"))


# (input shape, weight shape, keyword arguments): LeNet's two layers, dilation,
# asymmetric padding, a rectangular kernel, padding modes, one channel.
CASES: list[tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]]] = [
    ((3, 1, 12, 12), (6, 1, 5, 5), {"padding": 2}),
    ((3, 6, 9, 9), (16, 6, 5, 5), {}),
    ((2, 5, 11, 10), (3, 5, 3, 3), {"dilation": (2, 1), "padding": (1, 2)}),
    ((2, 4, 8, 7), (5, 4, 2, 3), {"padding": (0, 1, 2, 1)}),
    ((2, 3, 7, 9), (4, 3, 3, 3), {"padding": 1, "padding_mode": "reflect"}),
    ((2, 3, 7, 9), (4, 3, 3, 2), {"padding": "same", "padding_mode": "circular"}),
]


@pytest.mark.parametrize(("xs", "ws", "params"), CASES)
def test_flat_image_equals_naive_loops(
    monkeypatch: pytest.MonkeyPatch,
    xs: tuple[int, ...],
    ws: tuple[int, ...],
    params: dict[str, Any],
) -> None:
    rng, x, w, b = conv_data(31, xs, ws, np.float64)
    forward = count_calls(monkeypatch, flat, "conv_flat")
    backward = count_calls(monkeypatch, flat, "backward_flat")
    assert conv2d_method(x, w, **params) == "fast: im2col on the flat padded image"
    y = conv2d(x, w, b, **params)
    assert forward, "the flat image was not used"
    assert_close(y, conv2d_naive(x, w, b, **params))
    g = rng.standard_normal(y.shape)
    got = conv2d_backward(g, x, w, **params)
    assert backward or xs[1] == 1  # one input channel: dX tap by tap (shift-and-add)
    for a, want in zip(got, conv2d_backward_naive(g, x, w, **params), strict=True):
        assert_close(a, want)


@pytest.mark.parametrize(("xs", "ws", "params"), CASES)
def test_flat_image_equals_torch_in_float32(
    xs: tuple[int, ...], ws: tuple[int, ...], params: dict[str, Any]
) -> None:
    rng, x, w, b = conv_data(32, xs, ws, np.float32)
    y = conv2d(x, w, b, **params)
    g = rng.standard_normal(y.shape).astype(np.float32)
    assert_equals_torch(y, g, x, w, b, params)


@pytest.mark.parametrize("images", [1, 2, 3])
def test_chunks_of_images_give_the_same_result(
    monkeypatch: pytest.MonkeyPatch, images: int
) -> None:
    """A budget of ``images`` images per chunk (5 images: a ragged last chunk): the
    forward fills each chunk's own items, dW sums over all chunks, dX fills each's."""
    rng, x, w, b = conv_data(33, (5, 3, 8, 7), (4, 3, 3, 3), np.float64)
    params = {"padding": 1}
    per_image = 3 * 3 * 3 * 10 * 9 * x.itemsize  # KH*KW*C*Hp*Wp
    monkeypatch.setattr(flat, "CHUNK_BYTES", images * per_image)
    g = conv2d_geometry(x.shape, w.shape, padding=1)
    chunks = list(flat._chunks(g, g.padding, (8, 7), x.itemsize))
    assert chunks[0] == (0, images) and chunks[-1][1] == 5
    y = conv2d(x, w, b, **params)
    assert_close(y, conv2d_naive(x, w, b, **params))
    gy = rng.standard_normal(y.shape)
    for got, want in zip(
        conv2d_backward(gy, x, w, **params), conv2d_backward_naive(gy, x, w, **params), strict=True
    ):
        assert_close(got, want)


def test_an_input_layers_weight_grad_uses_the_flat_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """conv2d_backward_weight (a network's first layer) takes dW from the flat image
    and computes no dX."""
    rng, x, w, b = conv_data(34, (4, 1, 10, 10), (6, 1, 5, 5), np.float32)
    calls = count_calls(monkeypatch, flat, "backward_flat")
    y = conv2d(x, w, b, padding=2)
    g = rng.standard_normal(y.shape).astype(np.float32)
    dw, db = conv2d_backward_weight(g, x, w, padding=2)
    assert calls
    _, _, dwt, dbt = torch_conv2d(x, w, b, padding=2, grad_output=g)
    assert_close(dw, dwt)
    assert_close(db, dbt)


def test_strided_layers_do_not_use_the_flat_image(monkeypatch: pytest.MonkeyPatch) -> None:
    _, x, w, b = conv_data(35, (2, 3, 9, 9), (4, 3, 3, 3), np.float64)
    calls = count_calls(monkeypatch, flat, "conv_flat")
    y = conv2d(x, w, b, stride=2, padding=1)
    assert not calls
    assert_close(y, conv2d_naive(x, w, b, stride=2, padding=1))


@pytest.mark.parametrize("threads", [1, 2])
def test_workspace_estimate_bounds_what_the_flat_image_allocates(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """On two threads two chunks are worked on at once, and the estimate counts both."""
    from benchmarks.timing import MIB, traced_peak

    _, x, w, b = conv_data(36, (6, 8, 20, 18), (10, 8, 3, 3), np.float32)
    geom = conv2d_geometry(x.shape, w.shape, padding=1)
    monkeypatch.setattr(flat, "CHUNK_BYTES", 3 * 3 * 8 * 22 * 20 * 4)  # one image a chunk
    monkeypatch.setattr(flat, "num_threads", lambda: threads)
    monkeypatch.setattr(flat, "THREAD_MIN_BYTES", 0)
    estimate = conv2d_workspace_bytes(geom, 4)
    peak, y = traced_peak(lambda: conv2d(x, w, b, padding=1))
    assert peak * MIB - y.nbytes <= 1.1 * estimate + 128 * 2**10
    assert estimate >= threads * 3 * 3 * 8 * 22 * 20 * 4  # a gathered matrix per thread


def test_a_large_image_goes_to_the_windows_or_the_tiled_im2col(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One image's gathered matrix over MAX_IMAGE_BYTES: the NCHW windows (whose columns
    have no padded grid), and past their own limit the tiled im2col, which splits an image
    by rows, instead of a gathered matrix of the whole image."""
    windows = importlib.import_module("cnncli.engine.fast.windows")
    _, x, w, b = conv_data(37, (1, 3, 20, 20), (2, 3, 3, 3), np.float32)
    monkeypatch.setattr(flat, "MAX_IMAGE_BYTES", 27 * 22 * 22 * 8 - 1)
    calls = count_calls(monkeypatch, flat, "conv_flat")
    by_windows = "fast: im2col on the NCHW windows, by chunks of images"
    assert conv2d_method(x, w, padding=1) == by_windows
    monkeypatch.setattr(windows, "MAX_IMAGE_BYTES", 27 * 20 * 20 * 8 - 1)
    assert conv2d_method(x, w, padding=1) == "fast: tiled im2col + matrix product"
    assert_close(conv2d(x, w, b, padding=1), conv2d_naive(x, w, b, padding=1))
    assert not calls
    monkeypatch.setattr(flat, "MAX_IMAGE_BYTES", 27 * 22 * 22 * 8)
    assert conv2d_method(x, w, padding=1) == "fast: im2col on the flat padded image"


def test_dw_summed_over_blocks_of_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Few channels and filters: dW's long product is summed over blocks of 256 columns
    (a ragged last block), the same as over all of them at once."""
    rng, x, w, b = conv_data(38, (2, 2, 20, 20), (3, 2, 3, 3), np.float64)
    y = conv2d(x, w, b, padding=1)
    g = rng.standard_normal(y.shape)
    monkeypatch.setattr(flat, "DW_BLOCK_BYTES", 1)  # the smallest block: 256 columns
    geom = conv2d_geometry(x.shape, w.shape, padding=1)
    _, dw = flat.backward_flat(g, x, w, geom, geom.padding, need_dx=False)
    assert 2 * 22 * 22 > 3 * 256  # at least four blocks
    assert dw is not None
    assert_close(dw, conv2d_backward_naive(g, x, w, padding=1)[1])


@pytest.mark.parametrize(("xs", "ws", "params"), [CASES[1], CASES[2], CASES[4]])
def test_chunks_shared_among_threads_give_the_same_results(
    monkeypatch: pytest.MonkeyPatch,
    xs: tuple[int, ...],
    ws: tuple[int, ...],
    params: dict[str, Any],
) -> None:
    """Past THREAD_MIN_BYTES the chunks (one image each here) go to two threads: the
    forward and dX the same bits as on one thread, dW (each thread's sum of the gathered
    products, added in order) the naive loops' and PyTorch's numbers."""
    rng, x, w, b = conv_data(37, (5, *xs[1:]), ws, np.float64)
    g = conv2d_geometry(
        x.shape, w.shape, **{k: v for k, v in params.items() if k != "padding_mode"}
    )
    left, right, top, bottom = g.padding
    per_image = g.KH * g.KW * g.C * (g.H + top + bottom) * (g.W + left + right) * x.itemsize
    monkeypatch.setattr(flat, "CHUNK_BYTES", per_image)
    gy = rng.standard_normal((5, g.F, g.OH, g.OW))
    y1 = conv2d(x, w, b, **params)
    dx1, dw1, _ = conv2d_backward(gy, x, w, **params)
    assert_close(dw1, conv2d_backward_naive(gy, x, w, **params)[1])
    monkeypatch.setattr(flat, "THREAD_MIN_BYTES", 0)
    monkeypatch.setattr(flat, "num_threads", lambda: 2)
    gathered: list[bool] = []
    real = flat._add_weight_grad

    def recording(*args: Any) -> None:
        gathered.append(args[-1])
        real(*args)

    monkeypatch.setattr(flat, "_add_weight_grad", recording)
    y2 = conv2d(x, w, b, **params)
    dx2, dw2, _ = conv2d_backward(gy, x, w, **params)
    assert gathered == [True] * 5  # one image a chunk, dW of the gathered matrix
    np.testing.assert_array_equal(y2, y1)
    np.testing.assert_array_equal(dx2, dx1)
    assert_close(dw2, conv2d_backward_naive(gy, x, w, **params)[1])
    x32, w32, b32 = x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)
    y32 = conv2d(x32, w32, b32, **params)
    assert_equals_torch(y32, gy.astype(np.float32), x32, w32, b32, params)
