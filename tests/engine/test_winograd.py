"""conv2d's Winograd F(2x2, 3x3) path equals PyTorch and the naive loops.

Each case is first checked to take the Winograd path (by counting calls), with the
size thresholds lowered so that small, fast cases qualify; one case at AlexNet's
conv3 size runs with the real thresholds.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

from cnncli.engine import conv2d
from cnncli.engine.reference.conv import conv2d_naive
from cnncli.engine.winograd import winograd_weight
from tests.engine.test_conv import torch_conv2d
from tests.parity import assert_close

conv_module = importlib.import_module("cnncli.engine.conv")
winograd_module = importlib.import_module("cnncli.engine.winograd")


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count calls of the Winograd path, with every size qualifying."""
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_TILES", 1)
    calls: list[int] = []
    real = conv_module._conv_winograd

    def counting(*args: Any) -> np.ndarray:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(conv_module, "_conv_winograd", counting)
    return calls


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
def test_winograd_equals_torch_and_naive_loops(
    spy: list[int],
    xs: tuple[int, ...],
    filters: int,
    params: dict[str, Any],
    dtype: type,
    bias: bool,
) -> None:
    rng = np.random.default_rng(31)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((filters, xs[1], 3, 3)).astype(dtype)
    b = rng.standard_normal(filters).astype(dtype) if bias else None
    y = conv2d(x, w, b, **params)
    assert spy, "the Winograd path was not taken"
    assert y.dtype == dtype and y.flags.c_contiguous
    (expected,) = torch_conv2d(x, w, b, **params)
    assert_close(y, expected)
    assert_close(y, conv2d_naive(x, w, b, **params).astype(dtype))


@pytest.mark.parametrize("chunk", [1, 3000, 20000, 10**9])
def test_chunks_of_tile_rows_and_of_images_give_the_same_result(
    spy: list[int], monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """From one tile row per chunk to the whole batch in one, the numbers do not change."""
    rng = np.random.default_rng(32)
    x = rng.standard_normal((3, 4, 9, 10))
    w = rng.standard_normal((5, 4, 3, 3))
    b = rng.standard_normal(5)
    monkeypatch.setattr(winograd_module, "CHUNK_BYTES", chunk)
    y = conv2d(x, w, b, padding=(1, 0, 0, 1))
    assert spy
    assert_close(y, conv2d_naive(x, w, b, padding=(1, 0, 0, 1)))


def test_alexnet_conv3_takes_winograd_at_the_real_thresholds() -> None:
    """AlexNet's conv3 (192 → 384 channels at 13x13) qualifies as it is, batch 1 included."""
    rng = np.random.default_rng(33)
    x = rng.standard_normal((1, 192, 13, 13), dtype=np.float32)
    w = rng.standard_normal((384, 192, 3, 3), dtype=np.float32) * np.float32(1 / 40)
    geom = conv_module.conv2d_geometry(x.shape, w.shape, 1, 1)
    assert conv_module._winograd_applies(geom)
    (expected,) = torch_conv2d(x, w, None, padding=1)
    assert_close(conv2d(x, w, padding=1), expected)


@pytest.mark.parametrize(
    ("xs", "ws", "params"),
    [
        ((1, 64, 13, 13), (64, 64, 3, 3), {"stride": 2, "padding": 1}),
        ((1, 64, 13, 13), (64, 64, 3, 3), {"dilation": 2, "padding": 2}),
        ((1, 64, 13, 13), (64, 32, 3, 3), {"groups": 2, "padding": 1}),
        ((1, 64, 13, 13), (64, 64, 5, 5), {"padding": 2}),
        ((1, 32, 13, 13), (64, 32, 3, 3), {"padding": 1}),  # too few channels
        ((1, 64, 4, 4), (64, 64, 3, 3), {"padding": 1}),  # too few tiles
    ],
)
def test_other_layers_do_not_take_winograd(
    xs: tuple[int, ...], ws: tuple[int, ...], params: dict[str, Any]
) -> None:
    geom = conv_module.conv2d_geometry(xs, ws, **params)
    assert not conv_module._winograd_applies(geom)


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


def test_transformed_weights_are_g_w_gt() -> None:
    rng = np.random.default_rng(35)
    w = rng.standard_normal((3, 2, 3, 3))
    G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
    expected = np.einsum("am,fcmk,bk->abfc", G, w, G).reshape(16, 3, 2)
    np.testing.assert_allclose(winograd_weight(w), expected, rtol=1e-15, atol=1e-15)
