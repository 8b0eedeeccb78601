"""Max pooling's backward on the stride's phases (cnncli.engine.fast.pool_phases).

It is taken when every window lies inside the input, and it adds each gradient to its
window's winner in the outputs' order, as PyTorch's backward does: the tests ask for
PyTorch's very bits, ties, NaN, ±inf and −0.0 included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from cnncli.engine import pool
from cnncli.engine.fast import pool as fast_pool
from cnncli.engine.fast import pool_phases
from tests.engine.calls import count_calls
from tests.engine.pool_data import pool_data
from tests.oracle import torch_grad

torch = pytest.importorskip("torch")
F = torch.nn.functional

#: (shape, kernel, stride): AlexNet's and TinyVGG's pools scaled down, rectangular
#: kernels and strides, a kernel shorter than its stride (rows no window reads), more
#: than 127 taps (the taps' numbers in int32), stride 1.
PHASE_CASES = [
    ((2, 3, 15, 15), 3, 2),
    ((2, 4, 12, 12), 2, 2),
    ((1, 3, 13, 11), (3, 2), (2, 3)),
    ((2, 2, 14, 13), 2, 3),
    ((1, 2, 14, 14), 12, 1),
    ((2, 2, 9, 8), 3, 1),
    ((1, 2, 7, 9), (1, 4), (1, 2)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["random", "ties", "special"])
@pytest.mark.parametrize(("shape", "kernel", "stride"), PHASE_CASES)
def test_phases_give_pytorchs_bits(
    monkeypatch: pytest.MonkeyPatch,
    shape: tuple[int, ...],
    kernel: Any,
    stride: Any,
    kind: str,
    dtype: Any,
) -> None:
    x = pool_data(shape, kind, dtype)
    y = pool.max_pool2d(x, kernel, stride)
    g = np.random.default_rng(7).standard_normal(y.shape).astype(dtype)
    if kind == "special":
        g.flat[:2] = [np.inf, np.nan]  # reach only their windows' winners, as in torch
        g.flat[2:5] = -0.0  # torch adds it to a zero: +0.0
    calls = count_calls(monkeypatch, pool_phases, "max_pool2d_backward")
    got = pool.max_pool2d_backward(g, x, kernel, stride)
    assert calls
    want = torch_grad(lambda t: F.max_pool2d(t, kernel, stride), x, g)
    np.testing.assert_array_equal(got, want)  # NaN equal to NaN here, -0.0 to 0.0
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    assert got.dtype == dtype


@pytest.mark.parametrize("threads", [1, 2])
def test_phases_by_blocks_of_planes_on_threads(
    monkeypatch: pytest.MonkeyPatch, pool_blocks: Callable[..., None], threads: int
) -> None:
    # Blocks that do not divide the planes, shared among threads: the same bits.
    pool_blocks(threads, block_bytes=3 * 17 * 17 * 4)
    x = np.maximum(np.random.default_rng(3).standard_normal((3, 7, 17, 17)), 0)  # ReLU's ties
    x = x.astype(np.float32)
    g = np.random.default_rng(4).standard_normal((3, 7, 8, 8)).astype(np.float32)
    calls = count_calls(monkeypatch, pool_phases, "max_pool2d_backward")
    got = pool.max_pool2d_backward(g, x, 3, 2)
    assert len(calls) >= 7  # 21 planes, 3 a block (4 more blocks when split in two)
    np.testing.assert_array_equal(got, torch_grad(lambda t: F.max_pool2d(t, 3, 2), x, g))


@pytest.mark.parametrize(
    "args", [(3, 2, 1), (3, 2, 0, 2), (2, 2, 0, 1, True)], ids=["padding", "dilation", "ceil"]
)
def test_windows_outside_the_input_keep_the_two_passes(
    monkeypatch: pytest.MonkeyPatch, args: tuple[Any, ...]
) -> None:
    x = np.random.default_rng(5).standard_normal((2, 3, 11, 11)).astype(np.float32)
    y = pool.max_pool2d(x, *args)
    g = np.random.default_rng(6).standard_normal(y.shape).astype(np.float32)
    calls = count_calls(monkeypatch, pool_phases, "max_pool2d_backward")
    two_passes = count_calls(monkeypatch, fast_pool, "_max_backward_block")
    got = pool.max_pool2d_backward(g, x, *args)
    assert not calls and two_passes
    want = torch_grad(lambda t: F.max_pool2d(t, *args), x, g)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
