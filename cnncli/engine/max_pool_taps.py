"""Max pooling for training: the forward keeps each window's winning tap for the backward.

:func:`cnncli.engine.pool.max_pool2d_backward` is given the input and finds every
window's winner again before it sends the gradient there.  A network's layer that runs
the backward after its own forward can keep the winners instead::

    y, kept = max_pool2d_keeping_taps(x, 3, 2)      # y = max_pool2d(x, 3, 2), to the bit
    dx = max_pool2d_backward_kept(grad, kept)        # = max_pool2d_backward(grad, x, 3, 2)

On the fast path, for windows that all lie inside the input (no padding, no dilation,
no ceil_mode overhang) and float32 or float64 input, ``kept`` holds the winning tap of
each window (int8, ``t = m·KW + k``: the first maximum in row-major order, the last NaN,
as PyTorch), and the backward only adds each gradient at its winner
(:mod:`cnncli.engine.fast.pool_phases`): both give PyTorch's very bits, -0.0 included.
Elsewhere ``kept`` holds the input, and the results are those of
:func:`~cnncli.engine.pool.max_pool2d` and :func:`~cnncli.engine.pool.max_pool2d_backward`.

Shapes: input (N, C, H, W) or (C, H, W) → output (N, C, OH, OW) (or (C, OH, OW)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnncli.engine import pool
from cnncli.engine.fast import pool as fast_pool
from cnncli.engine.fast import pool_phases
from cnncli.engine.switch import fast_enabled

#: The planes go through in blocks of about this many bytes of input (see benchmarks/README.md).
BLOCK_BYTES = 2 << 20


@dataclass(frozen=True)
class KeptMaxPool:
    """What :func:`max_pool2d_backward_kept` needs: the input as given, the pooling's
    arguments, and the winning taps (N, C, OH, OW) when the forward kept them."""

    input: Any
    args: tuple[Any, ...]
    tap: np.ndarray | None


def max_pool2d_keeping_taps(
    input: np.ndarray,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
) -> tuple[np.ndarray, KeptMaxPool]:
    """:func:`~cnncli.engine.pool.max_pool2d` and what its backward needs (see above)."""
    args = (kernel_size, stride, padding, dilation, ceil_mode)
    x, unbatched = pool._as_nchw(input)
    geom = pool._geometry(x, *args)
    if not (fast_enabled() and fast_pool._dense(geom) and x.dtype in (np.float32, np.float64)):
        return pool.max_pool2d(input, *args), KeptMaxPool(input, args, None)
    planes = x.reshape(-1, 1, geom.H, geom.W)  # (N*C, 1, H, W): blocks of planes below
    y = np.empty((len(planes), 1, geom.OH, geom.OW), dtype=x.dtype)
    tap: np.ndarray | None = None
    for p0, p1 in _blocks(len(planes), planes[0].nbytes):
        y[p0:p1], taps = pool_phases.winners(planes[p0:p1], geom, x.dtype)
        if tap is None:
            tap = np.empty(y.shape, dtype=taps.dtype)
        tap[p0:p1] = taps
    assert tap is not None
    shape = (geom.N, geom.C, geom.OH, geom.OW)
    return pool._unbatch(y.reshape(shape), unbatched), KeptMaxPool(input, args, tap.reshape(shape))


def max_pool2d_backward_kept(grad_output: np.ndarray, kept: KeptMaxPool) -> np.ndarray:
    """:func:`~cnncli.engine.pool.max_pool2d_backward` of the forward that made ``kept``."""
    x, unbatched = pool._as_nchw(kept.input)
    geom = pool._geometry(x, *kept.args)
    g, dtype = pool._grad_as(grad_output, x, unbatched, (geom.N, geom.C, geom.OH, geom.OW))
    if kept.tap is None or dtype != x.dtype or not fast_enabled():
        return pool.max_pool2d_backward(grad_output, kept.input, *kept.args)

    def scatter(gb: np.ndarray, tb: np.ndarray) -> np.ndarray:
        return pool_phases.scatter(gb, tb, geom, (*gb.shape[:2], geom.H, geom.W))

    g = np.ascontiguousarray(g, dtype=dtype)
    hw = (geom.H, geom.W)  # by blocks of planes, on threads, as max_pool2d_backward runs
    dx = fast_pool._by_planes(scatter, hw, dtype, g, kept.tap, block_bytes=BLOCK_BYTES)
    return pool._unbatch(dx, unbatched)


def _blocks(planes: int, plane_bytes: int) -> list[tuple[int, int]]:
    """Runs of planes of about ``BLOCK_BYTES`` of input each, so that the memory the
    phases, maxima and taps take stays bounded (the forward's two outputs are more than
    :func:`cnncli.engine.fast.pool._by_planes` makes)."""
    step = max(1, BLOCK_BYTES // max(1, plane_bytes))
    return [(p0, min(planes, p0 + step)) for p0 in range(0, planes, step)]
