"""Pooling's tuned method (cnncli.engine.fast.pool and .adaptive_pool), on the fast path.

Blocks of planes shared among threads, dense windows by flat passes, and adaptive
pooling's regular bins as strided windows: each must give PyTorch's numbers (and
the dense windows the two passes' very bits).  Moved here from tests/engine/test_pool.py.
"""

from __future__ import annotations

from collections.abc import Callable
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
    pool_blocks: Callable[..., None], threads: int
) -> None:
    # Big inputs run in blocks of planes shared among threads; shrink the thresholds so
    # that a small input takes that path, with blocks that do not divide the planes.
    pool_blocks(threads, block_bytes=3 * 13 * 11 * 4)
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


DENSE_CASES = [
    ((2, 3, 11, 13), 3, 2),  # odd width: rows copied to an even pitch, then uint64 halves
    ((1, 2, 8, 8), 2, 2),  # even width
    ((3, 1, 9, 7), (3, 1), (1, 2)),  # no row stride, odd width: rows copied for the halves
    ((2, 2, 6, 5), (1, 3), 1),
    ((1, 1, 4, 4), 1, 1),
    ((2, 4, 10, 10), (2, 4), (3, 2)),
    ((2, 3, 12, 12), 1, 2),  # one tap each way: the input's own rows and columns
    ((2, 2, 15, 14), (4, 3), (3, 3)),
]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "kernel", "stride"), DENSE_CASES)
def test_dense_windows_give_the_two_pass_bits(
    monkeypatch: pytest.MonkeyPatch,
    pool_blocks: Callable[..., None],
    shape: tuple[int, ...],
    kernel: Any,
    stride: Any,
    dtype: Any,
    mode: str,
) -> None:
    """Windows inside the input: flat contiguous passes, read strided, same bits as two passes."""
    rng = np.random.default_rng(41)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[rng.integers(0, x.size, 3)] = [np.nan, np.inf, -np.inf]  # max passes them on
    x.flat[rng.integers(0, x.size, 2)] = [0.0, -0.0]
    fn = pool.max_pool2d if mode == "max" else pool.avg_pool2d
    calls = count_calls(monkeypatch, fast_pool, "_dense_windows")
    pool_blocks(2, dense_block_bytes=4 * x[0, 0].nbytes)  # several blocks
    got = fn(x, kernel, stride)
    assert calls
    monkeypatch.setattr(fast_pool, "_dense", lambda geom: False)
    np.testing.assert_array_equal(got, fn(x, kernel, stride))  # NaN equal to NaN here
    reference = reference_pool.max_pool2d if mode == "max" else reference_pool.avg_pool2d
    want = reference(x.astype(np.float64), kernel, stride)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isfinite(got), finite)
    assert_close(np.where(finite, got, 0).astype(np.float64), np.where(finite, want, 0), tol=1e-6)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_dense_windows_of_strided_and_read_only_inputs(mode: str) -> None:
    """A view that is not C-contiguous takes the two passes; a read-only one the dense path."""
    base = np.random.default_rng(5).standard_normal((3, 4, 23, 26)).astype(np.float32)
    fn, theirs = (
        (pool.max_pool2d, F.max_pool2d) if mode == "max" else (pool.avg_pool2d, F.avg_pool2d)
    )
    for x in (
        base.transpose(1, 0, 2, 3),  # channels first: not C-contiguous
        base[:, :, ::-1, 1::2],  # reversed rows, every other column
        np.asfortranarray(base),
    ):
        assert not x.flags.c_contiguous
        want = theirs(torch.from_numpy(np.ascontiguousarray(x)), 3, 2)
        assert_close(fn(x, 3, 2), want)
    frozen = base.copy()
    frozen.flags.writeable = False
    assert_close(fn(frozen, 3, 2), theirs(torch.from_numpy(base), 3, 2))
