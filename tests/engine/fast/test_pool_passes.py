"""Pooling's tuned method (cnncli.engine.fast.pool and .adaptive_pool), on the fast path.

Blocks of planes shared among threads, dense full-resolution sums, and adaptive
pooling's regular bins as strided windows: each must give PyTorch's numbers (and
the dense sums the two passes' very bits).  Moved here from tests/engine/test_pool.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cnncli.engine import pool
from cnncli.engine.fast import adaptive_pool as fast_adaptive
from cnncli.engine.fast import pool as fast_pool
from cnncli.engine.reference import pool as reference_pool
from tests.engine.calls import count_calls
from tests.oracle import assert_close, torch_grad

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.mark.parametrize(
    "size,out,regular",
    [(12, 3, True), (13, 6, True), (7, 1, True), (6, 6, True), (10, 4, False), (3, 7, False)],
)
def test_adaptive_regular_and_gathered_bins_match_torch(size: int, out: int, regular: bool) -> None:
    # Regular bins (one length, equal steps) run as strided windows, the rest are gathered.
    assert (fast_adaptive._regular(size, out) is not None) == regular
    rng = np.random.default_rng(size * out)
    x = rng.integers(0, 3, (2, 2, size, size + 1)).astype(np.float64)  # ties on purpose
    xt = torch.from_numpy(x)
    output_size = (out, None)
    assert_close(pool.adaptive_avg_pool2d(x, output_size), F.adaptive_avg_pool2d(xt, output_size))
    y, index = pool.adaptive_max_pool2d(x, output_size, return_indices=True)
    yt, it = F.adaptive_max_pool2d(xt, output_size, return_indices=True)
    assert_close(y, yt)
    np.testing.assert_array_equal(index, it.numpy())
    assert_close(pool.adaptive_max_pool2d(x, output_size), yt)
    g = rng.standard_normal(y.shape)
    assert_close(
        pool.adaptive_avg_pool2d_backward(g, x),
        torch_grad(lambda t: F.adaptive_avg_pool2d(t, output_size), x, g),
    )
    assert_close(
        pool.adaptive_max_pool2d_backward(g, x),
        torch_grad(lambda t: F.adaptive_max_pool2d(t, output_size), x, g),
    )


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_blocks_of_planes_and_threads_give_the_same_numbers(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    # Big inputs run in blocks of planes shared among threads; shrink the thresholds so
    # that a small input takes that path, with blocks that do not divide the planes.
    monkeypatch.setattr(fast_pool, "BLOCK_BYTES", 3 * 13 * 11 * 4)
    monkeypatch.setattr(fast_pool, "THREAD_MIN_BYTES", 0)
    monkeypatch.setattr(fast_pool, "THREADS", threads)
    x = np.random.default_rng(13).standard_normal((3, 7, 13, 11)).astype(np.float32)
    xt = torch.from_numpy(x)
    assert_close(pool.max_pool2d(x, 3, 2, 1), F.max_pool2d(xt, 3, 2, 1))
    assert_close(pool.max_pool2d(x, 2, ceil_mode=True), F.max_pool2d(xt, 2, ceil_mode=True))
    assert_close(pool.avg_pool2d(x, 3, 2, 1, True), F.avg_pool2d(xt, 3, 2, 1, True))
    assert_close(pool.adaptive_avg_pool2d(x, (6, 5)), F.adaptive_avg_pool2d(xt, (6, 5)))
    assert_close(pool.adaptive_max_pool2d(x, (6, 5)), F.adaptive_max_pool2d(xt, (6, 5)))
    g = np.random.default_rng(14).standard_normal((3, 7, 7, 6)).astype(np.float32)
    for ours, theirs in [
        (pool.max_pool2d_backward(g, x, 3, 2, 1), lambda t: F.max_pool2d(t, 3, 2, 1)),
        (pool.avg_pool2d_backward(g, x, 3, 2, 1, True), lambda t: F.avg_pool2d(t, 3, 2, 1, True)),
    ]:
        assert_close(ours, torch_grad(theirs, x, g))
    g = g[:, :, :6, :5].copy()  # 13 → 6 and 11 → 5 are regular bins: the strided path
    for ours, theirs in [
        (pool.adaptive_max_pool2d_backward(g, x), lambda t: F.adaptive_max_pool2d(t, (6, 5))),
        (pool.adaptive_avg_pool2d_backward(g, x), lambda t: F.adaptive_avg_pool2d(t, (6, 5))),
    ]:
        assert_close(ours, torch_grad(theirs, x, g))


@pytest.mark.parametrize(
    ("shape", "kernel", "stride"),
    [
        ((2, 3, 11, 13), 3, 2),
        ((1, 2, 8, 8), 2, 2),
        ((3, 1, 9, 7), (3, 1), (1, 2)),
        ((2, 2, 6, 5), (1, 3), 1),
        ((1, 1, 4, 4), 1, 1),
        ((2, 4, 10, 10), (2, 4), (3, 2)),
    ],
)
def test_dense_average_pooling_gives_the_two_pass_bits(
    monkeypatch: pytest.MonkeyPatch, shape: tuple[int, ...], kernel: Any, stride: Any
) -> None:
    """Windows inside the input: full-resolution flat sums, read strided, same bits as two passes."""
    rng = np.random.default_rng(41)
    x = rng.standard_normal(shape).astype(np.float32)
    calls = count_calls(monkeypatch, fast_pool, "_dense_sums")
    monkeypatch.setattr(fast_pool, "BLOCK_BYTES", 4 * x[0, 0].nbytes)  # several blocks of planes
    got = pool.avg_pool2d(x, kernel, stride)
    assert calls
    monkeypatch.setattr(fast_pool, "_dense", lambda geom: False)
    np.testing.assert_array_equal(got, pool.avg_pool2d(x, kernel, stride))
    want = reference_pool.avg_pool2d(x.astype(np.float64), kernel, stride)
    assert_close(got.astype(np.float64), want, tol=1e-6)
