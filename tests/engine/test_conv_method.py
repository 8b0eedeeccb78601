"""conv2d_method and conv2d_backward_method name the method that computes the call.

On each engine path (this module runs on both), every function that can compute a
convolution is counted: naming a call computes nothing, and the call then runs
exactly the functions of the method named.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

from cnncli.engine import conv2d, conv2d_backward
from cnncli.engine.conv import conv2d_backward_method, conv2d_method
from tests.engine.calls import count_calls
from tests.oracle import assert_close

conv_module = importlib.import_module("cnncli.engine.conv")
fast_conv = importlib.import_module("cnncli.engine.fast.conv")
im2col = importlib.import_module("cnncli.engine.fast.im2col")
shift_add = importlib.import_module("cnncli.engine.fast.shift_add")
flat_shift = importlib.import_module("cnncli.engine.fast.flat_shift")
windows = importlib.import_module("cnncli.engine.fast.windows")
winograd = importlib.import_module("cnncli.engine.fast.winograd")

FORWARD = {
    "plain": (conv_module, "_forward"),
    "1x1": (fast_conv, "_conv1x1"),
    "shift-add": (shift_add, "conv_shift_add"),
    "summed": (shift_add, "conv_summed_channels"),
    "winograd": (fast_conv, "_conv_winograd"),
    "im2col": (im2col, "conv_gemm"),
    "flat": (flat_shift, "conv_flat"),
    "windows": (windows, "conv_windows"),
}
BACKWARD = {
    "plain": (conv_module, "_backward"),
    "shift-add": (shift_add, "backward_shift_add"),
    "winograd": (fast_conv, "_conv_winograd"),
    "winograd dW": (winograd, "conv2d_weight_winograd"),
    "im2col": (im2col, "backward_gemm"),
    "flat": (flat_shift, "backward_flat"),
    "windows dX": (windows, "input_grad"),
    "windows dW": (windows, "weight_grad"),
}

SOBEL = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def _bank(C: int) -> np.ndarray:
    return np.stack([np.stack([k] * C) for k in (SOBEL, SOBEL.T)])  # (2, C, 3, 3)


# name: (input shape, weight (shape or array), params, fast forward (name, functions),
#        fast backward (name, functions)).  The plain path names and runs its own.
CASES: dict[str, tuple[Any, ...]] = {
    "3x3 few channels": (
        (2, 3, 16, 15),
        (4, 3, 3, 3),
        {"padding": 1},
        ("fast: im2col on the flat padded image", ["flat"]),
        ("fast: flat-image matrix products, col2im by slices", ["flat"]),
    ),
    "5x5 few channels on small maps (LeNet's second layer)": (
        (2, 6, 14, 14),
        (16, 6, 5, 5),
        {},
        ("fast: im2col on the NCHW windows, by chunks of images", ["windows"]),
        ("fast: matrix products on the NCHW windows, col2im by runs", ["windows dX", "windows dW"]),
    ),
    "3x3 few channels, stride 2": (
        (2, 3, 9, 8),
        (4, 3, 3, 3),
        {"padding": 1, "stride": 2},
        ("fast: im2col on the NCHW windows, by chunks of images", ["windows"]),
        ("fast: tiled im2col + matrix products, col2im", ["im2col"]),
    ),
    "3x3 grouped, stride 2": (
        (1, 8, 6, 6),
        (4, 4, 3, 3),
        {"padding": 1, "stride": 2, "groups": 2},
        ("fast: tiled im2col + matrix product", ["im2col"]),
        ("fast: tiled im2col + matrix products, col2im", ["im2col"]),
    ),
    "1x1 strided": (
        (2, 6, 7, 5),
        (4, 6, 1, 1),
        {"stride": 2},
        ("fast: 1x1 kernel as a matrix product", ["1x1"]),
        ("fast: tiled im2col + matrix products, col2im", ["im2col"]),
    ),
    "depthwise": (
        (2, 4, 10, 9),
        (4, 1, 3, 3),
        {"groups": 4, "padding": 1},
        ("fast: shift-and-add", ["shift-add"]),
        ("fast: shift-and-add", ["shift-add"]),
    ),
    "sobel bank on RGB": (
        (2, 3, 10, 9),
        _bank(3),
        {"padding": 1},
        ("fast: one kernel on the channels' sum, shift-and-add", ["summed", "shift-add"]),
        ("fast: flat-image matrix products, col2im by slices", ["flat"]),
    ),
    "3x3 many channels": (
        (1, 64, 12, 12),
        (64, 64, 3, 3),
        {"padding": 1},
        ("fast: Winograd F(2x2, 3x3)", ["winograd"]),
        (
            "fast: dX by Winograd F(2x2, 3x3), dW by Winograd F(3x3, 2x2)",
            ["winograd", "winograd dW"],
        ),
    ),
    "5x5 padding beyond kernel - 1": (
        (1, 64, 8, 8),
        (64, 64, 5, 5),
        {"padding": 5},
        ("fast: Winograd F(2x2, 5x5)", ["winograd"]),
        ("fast: dX by im2col + col2im, dW by Winograd F(5x5, 2x2)", ["im2col", "winograd dW"]),
    ),
    "3x3 many channels, an inf in the input": (
        (1, 64, 12, 12),
        (64, 64, 3, 3),
        {"padding": 1, "inf": True},
        ("fast: im2col on the NCHW windows, by chunks of images", ["windows"]),
        # dY and W are finite: dX still by Winograd; dW reads x, so im2col
        ("fast: dX by Winograd F(2x2, 3x3), dW by im2col", ["im2col", "winograd"]),
    ),
}


def _count(
    monkeypatch: pytest.MonkeyPatch, table: dict[str, tuple[Any, str]]
) -> dict[str, list[int]]:
    return {key: count_calls(monkeypatch, module, name) for key, (module, name) in table.items()}


def _called(calls: dict[str, list[int]]) -> list[str]:
    return sorted(key for key, made in calls.items() if made)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_method_named_is_the_method_that_runs(
    monkeypatch: pytest.MonkeyPatch, engine_path: str, case: str
) -> None:
    xs, ws, params, fast_forward, fast_backward = CASES[case]
    params = dict(params)
    rng = np.random.default_rng(sorted(CASES).index(case))
    x = rng.standard_normal(xs)
    if params.pop("inf", False):
        x[0, 5, 3, 4] = np.inf
    w = ws if isinstance(ws, np.ndarray) else rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))
    plain = engine_path == "plain"
    name, runs = ("plain: im2col + matrix product", ["plain"]) if plain else fast_forward
    calls = _count(monkeypatch, FORWARD)
    assert conv2d_method(x, w, **params) == name
    assert _called(calls) == [], "naming the method computed the convolution"
    y = conv2d(x, w, **params)
    assert _called(calls) == sorted(runs)

    g = rng.standard_normal(y.shape)
    name, runs = ("plain: im2col + matrix products, col2im", ["plain"]) if plain else fast_backward
    calls = _count(monkeypatch, BACKWARD)
    assert conv2d_backward_method(g, x, w, **params) == name
    assert _called(calls) == []
    dx, dw, _ = conv2d_backward(g, x, w, **params)
    assert _called(calls) == sorted(runs)
    assert dx.shape == x.shape and dw.shape == w.shape


@pytest.mark.parametrize("mode", ["reflect", "circular"])
def test_padding_modes_are_named_after_the_convolution_that_follows(
    engine_path: str, mode: str
) -> None:
    """Non-zero modes pad first, then convolve without padding: a 1x1 kernel is a matrix product."""
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((1, 3, 6, 6)), rng.standard_normal((2, 3, 1, 1))
    name = conv2d_method(x, w, padding=1, padding_mode=mode)
    zeros = conv2d_method(x, w, padding=1)
    if engine_path == "plain":
        assert name == zeros == "plain: im2col + matrix product"
    else:
        assert name == "fast: 1x1 kernel as a matrix product"
        assert zeros == "fast: tiled im2col + matrix product"  # zero padding is im2col's to do
    assert_close(conv2d(x, w, padding=1, padding_mode=mode)[:, :, 1:-1, 1:-1], conv2d(x, w))


def test_naming_checks_its_arguments_as_the_call_does() -> None:
    from cnncli.errors import ParameterError, ShapeError

    x, w = np.zeros((1, 3, 5, 5)), np.zeros((2, 3, 3, 3))
    with pytest.raises(ParameterError, match="mirror"):
        conv2d_method(x, w, padding_mode="mirror")
    with pytest.raises(ShapeError, match="grad_output"):
        conv2d_backward_method(np.zeros((1, 2, 5, 5)), x, w)
