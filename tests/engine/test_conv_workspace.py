"""conv2d_workspace_bytes: the temporary memory a conv2d forward needs, groups counted.

Checked against what the call allocates (tracemalloc's peak, beyond the output) on each
engine path: on the plain path the estimate is the allocation, within 10%; on the fast
path, whose choice also depends on the values, it bounds it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from benchmarks.timing import MIB, traced_peak
from cnncli.engine import conv2d
from cnncli.engine.conv import conv2d_workspace_bytes
from cnncli.engine.shapes import conv2d_geometry

SOBEL = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], np.float32)
#: Allocations no estimate counts: ufunc buffers, Python objects.
SLACK = 128 * 2**10

CASES: dict[str, tuple[tuple[int, ...], Any, dict[str, Any]]] = {
    "3x3 RGB": ((4, 3, 64, 64), (8, 3, 3, 3), {"padding": 1}),
    "groups 2": ((2, 16, 30, 30), (32, 8, 3, 3), {"padding": 1, "groups": 2}),
    "1x1 strided": ((2, 16, 30, 30), (32, 16, 1, 1), {"stride": 2}),
    "1x1": ((2, 16, 30, 30), (32, 16, 1, 1), {}),
    "depthwise": ((2, 8, 64, 64), (8, 1, 3, 3), {"padding": 1, "groups": 8}),
    "sobel bank": ((2, 3, 64, 64), "bank", {"padding": 1}),
    "3x3 many channels": ((2, 64, 20, 20), (64, 64, 3, 3), {"padding": 1}),
    "5x5 many channels": ((1, 96, 27, 27), (128, 96, 5, 5), {"padding": 2}),
    "reflect": ((2, 8, 30, 30), (8, 8, 3, 3), {"padding": 2, "padding_mode": "reflect"}),
    "7x7 stride 2": ((2, 3, 112, 112), (16, 3, 7, 7), {"padding": 3, "stride": 2}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_workspace_estimate_matches_what_the_call_allocates(engine_path: str, case: str) -> None:
    xs, ws, params = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case))
    x = rng.standard_normal(xs, dtype=np.float32)
    if isinstance(ws, str):
        w = np.stack([np.stack([SOBEL] * xs[1]), np.stack([SOBEL.T] * xs[1])])
    else:
        w = rng.standard_normal(ws, dtype=np.float32)
    mode = params.get("padding_mode", "zeros")
    geometry = conv2d_geometry(
        xs, w.shape, **{k: v for k, v in params.items() if k != "padding_mode"}
    )
    estimate = conv2d_workspace_bytes(geometry, x.itemsize, mode)
    peak, y = traced_peak(lambda: conv2d(x, w, **params))
    extra = peak * MIB - y.nbytes
    assert extra <= 1.1 * estimate + SLACK, (extra, estimate)
    if engine_path == "plain":
        assert extra >= 0.9 * estimate, (extra, estimate)


def test_the_plain_estimate_is_im2col_and_the_larger_of_padded_input_and_product(
    engine_path: str,
) -> None:
    """N*C*KH*KW*OH*OW im2col items, with every group's channels (groups do not shrink it)."""
    g1 = conv2d_geometry((2, 8, 10, 9), (6, 8, 3, 3), padding=1)
    g2 = conv2d_geometry((2, 8, 10, 9), (6, 4, 3, 3), padding=1, groups=2)
    cols = 2 * 8 * 9 * 10 * 9
    padded, product = 2 * 8 * 12 * 11, 2 * 6 * 10 * 9
    if engine_path == "plain":
        for g in (g1, g2):
            assert conv2d_workspace_bytes(g, 8) == 8 * (cols + max(padded, product))
        reflect = conv2d_workspace_bytes(g1, 8, "reflect")
        assert reflect == 8 * (padded + cols + product)  # the mode's copy, then no zero padding
    else:
        assert conv2d_workspace_bytes(g2, 8) < conv2d_workspace_bytes(g1, 8)  # one group at a time


@pytest.mark.parametrize(
    ("groups", "padding", "mode"), [(1, 1, "zeros"), (4, 2, "reflect"), (8, 0, "zeros")]
)
def test_the_layer_and_the_command_use_the_engines_estimate(
    groups: int, padding: int, mode: str
) -> None:
    """Conv2d.workspace_bytes is the engine's figure, and `cnncli conv` refuses by it."""
    from cnncli.cli.conv import _memory_check
    from cnncli.errors import ResourceLimitError
    from cnncli.nn.layers import Conv2d

    layer = Conv2d(8, 16, 3, padding=padding, groups=groups, padding_mode=mode)
    shape = (2, 8, 20, 24)
    geometry = conv2d_geometry(shape, (16, 8 // groups, 3, 3), 1, padding, 1, groups)
    expected = conv2d_workspace_bytes(geometry, 4, mode)
    assert layer.workspace_bytes(shape, 4) == expected
    # The command adds its output to the workspace; one byte less than that is refused.
    x = np.zeros(shape, np.float32)
    needed = expected + 2 * 16 * geometry.OH * geometry.OW * 4
    check = _memory_check(x, 1, padding, 1, groups, mode, False, max_memory=str(needed))
    check((16, 8 // groups, 3, 3))
    refuse = _memory_check(x, 1, padding, 1, groups, mode, False, max_memory=str(needed - 1))
    with pytest.raises(ResourceLimitError):
        refuse((16, 8 // groups, 3, 3))
