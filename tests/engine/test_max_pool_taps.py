"""Max pooling for training (cnncli.engine.max_pool_taps): the forward keeps the winners.

On the fast path, windows inside the input keep their winning taps and the backward only
scatters; elsewhere the input is kept and the backward is max_pool2d_backward.  Either
way: PyTorch's very bits, forward and backward, ties, NaN, ±inf and −0.0 included.  Runs
on both engine paths (tests/engine/conftest.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cnncli.engine import pool
from cnncli.engine.fast import pool_phases
from cnncli.engine.max_pool_taps import max_pool2d_backward_kept, max_pool2d_keeping_taps
from cnncli.nn.layers import MaxPool2d
from tests.engine.calls import count_calls
from tests.engine.pool_data import pool_data
from tests.oracle import torch_grad

torch = pytest.importorskip("torch")
F = torch.nn.functional

#: (shape, pooling arguments, windows inside the input): TinyVGG's and AlexNet's pools
#: scaled down, a rectangular kernel and stride, more than 127 taps, then padding,
#: dilation and ceil_mode (the input kept instead).
CASES: list[tuple[tuple[int, ...], tuple[Any, ...], bool]] = [
    ((2, 3, 12, 12), (2, 2), True),
    ((2, 3, 15, 15), (3, 2), True),
    ((1, 3, 13, 11), ((3, 2), (2, 3)), True),
    ((1, 2, 14, 14), (12, 1), True),
    ((2, 3, 11, 11), (3, 2, 1), False),
    ((2, 3, 11, 11), (3, 2, 0, 2), False),
    ((2, 3, 11, 11), (2, 2, 0, 1, True), False),
]


def _same_bits(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_array_equal(got, want)  # NaN equal to NaN here, -0.0 to 0.0
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["random", "ties", "special"])
@pytest.mark.parametrize(("shape", "args", "inside"), CASES)
def test_kept_forward_and_backward_give_pytorchs_bits(
    monkeypatch: pytest.MonkeyPatch,
    engine_path: str,
    shape: tuple[int, ...],
    args: tuple[Any, ...],
    inside: bool,
    kind: str,
    dtype: Any,
) -> None:
    x = pool_data(shape, kind, dtype)
    recomputed = count_calls(monkeypatch, pool, "max_pool2d_backward")
    y, kept = max_pool2d_keeping_taps(x, *args)
    taps = engine_path == "fast" and inside
    assert (kept.tap is not None) == taps
    want_y = F.max_pool2d(torch.from_numpy(x), *args).numpy()
    assert y.dtype == dtype and y.flags.c_contiguous
    g = np.random.default_rng(7).standard_normal(y.shape).astype(dtype)
    g.flat[:3] = [np.inf, -0.0, np.nan]
    dx = max_pool2d_backward_kept(g, kept)
    assert bool(recomputed) != taps  # the winners were kept, not found again
    want_dx = torch_grad(lambda t: F.max_pool2d(t, *args), x, g)
    if taps:  # PyTorch's very bits
        _same_bits(y, want_y)
        _same_bits(dx, want_dx)
    else:  # the engine's own functions, which equal PyTorch as their tests say
        _same_bits(y, pool.max_pool2d(x, *args))
        _same_bits(dx, pool.max_pool2d_backward(g, x, *args))
        np.testing.assert_allclose(y, want_y)
        np.testing.assert_allclose(dx, want_dx, rtol=1e-6, atol=1e-6)


def test_an_image_without_a_batch_and_half_precision(engine_path: str) -> None:
    x = pool_data((3, 12, 10), "random", np.float32)
    y, kept = max_pool2d_keeping_taps(x, 2)
    assert y.shape == (3, 6, 5) and (kept.tap is not None) == (engine_path == "fast")
    g = np.random.default_rng(8).standard_normal(y.shape).astype(np.float32)
    _same_bits(max_pool2d_backward_kept(g, kept), pool.max_pool2d_backward(g, x, 2))
    h = x.astype(np.float16)  # compared in float32 by the engine: the input is kept
    y16, kept16 = max_pool2d_keeping_taps(h, 2)
    assert kept16.tap is None
    _same_bits(y16, pool.max_pool2d(h, 2))
    _same_bits(max_pool2d_backward_kept(g, kept16), pool.max_pool2d_backward(g, h, 2))


def test_a_gradient_of_the_wrong_shape_is_refused() -> None:
    from cnncli.errors import ShapeError

    _, kept = max_pool2d_keeping_taps(np.zeros((1, 2, 8, 8), np.float32), 2)
    with pytest.raises(ShapeError, match="grad_output"):
        max_pool2d_backward_kept(np.zeros((1, 2, 3, 3), np.float32), kept)


def test_the_layer_keeps_the_winners_in_training_only(
    monkeypatch: pytest.MonkeyPatch, engine_path: str
) -> None:
    """MaxPool2d in training finds each winner once, in the forward; in eval mode the
    forward keeps nothing and the backward finds them from the input, and the two agree."""
    x = pool_data((2, 4, 16, 16), "ties", np.float32)
    g = np.random.default_rng(9).standard_normal((2, 4, 7, 7)).astype(np.float32)
    layer = MaxPool2d(3, 2)
    winners = count_calls(monkeypatch, pool_phases, "winners")
    layer.train()
    y_train = layer(x)
    dx_train = layer.backward(g)
    assert len(winners) == (1 if engine_path == "fast" else 0)
    layer.eval()
    y_eval = layer(x)
    assert layer._kept is None
    dx_eval = layer.backward(g)
    _same_bits(y_train, y_eval)
    _same_bits(dx_train, dx_eval)


def test_blocks_of_planes_give_the_same_bits(
    monkeypatch: pytest.MonkeyPatch, engine_path: str
) -> None:
    """A block of 3 planes of 15x15 (7 blocks for 2x10 planes, a ragged last one); the
    plain path keeps the input and goes through no blocks."""
    from cnncli.engine import max_pool_taps

    x = pool_data((2, 10, 15, 15), "special", np.float32)
    monkeypatch.setattr(max_pool_taps, "BLOCK_BYTES", 3 * 15 * 15 * 4)
    blocks = count_calls(monkeypatch, pool_phases, "winners")
    y, kept = max_pool2d_keeping_taps(x, 3, 2)
    g = np.random.default_rng(10).standard_normal(y.shape).astype(np.float32)
    dx = max_pool2d_backward_kept(g, kept)
    if engine_path == "plain":
        assert not blocks and kept.tap is None
        _same_bits(dx, pool.max_pool2d_backward(g, x, 3, 2))
        return
    assert len(blocks) == 7
    _same_bits(y, F.max_pool2d(torch.from_numpy(x), 3, 2).numpy())
    _same_bits(dx, torch_grad(lambda t: F.max_pool2d(t, 3, 2), x, g))
