"""Huge maps drawn with work bounded by what the terminal can show.

A map with millions of values, or a very wide or very tall one (a 1×200,000 row,
a 10×819,840 weight), is first reduced to blocks of at most :data:`MAX_ROWS` × the
width by the heat maps' own rule (:func:`cnncli.render.maps.downsample`: each block's
value of largest magnitude, read band by band), then drawn as a heat map with the
whole map's statistics.  What is
built for Rich is then of the terminal's size whatever the map's shape, and the
extra memory is at most about :func:`render_bytes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group, RenderableType
from rich.text import Text

from cnncli.render.format import fmt_dims, fmt_shape

if TYPE_CHECKING:
    from cnncli.render.maps import MapView

#: Rows of blocks drawn at most (two per line of half-blocks: 24 lines).
MAX_ROWS = 48
#: A map with more values than this is huge (drawn from blocks).
HUGE_VALUES = 1_000_000
#: A map whose long side is this many times its short side, and wider or taller than
#: the screen, is huge too.
HUGE_ASPECT = 64
#: A vector longer than this is drawn by :func:`huge_vector`.
MAX_VECTOR = 65_536
#: Bytes of float64 that downsampling reads at a time (maps.downsample's default band).
BAND_BYTES = 4 << 20
#: The first and last values a huge vector shows.
VECTOR_ENDS = 6


def is_huge(shape: tuple[int, ...], width: int) -> bool:
    """Whether a (H, W) map is drawn through :func:`huge_map` rather than as it is."""
    H, W = int(shape[-2]), int(shape[-1])
    if H * W > HUGE_VALUES:
        return True
    too_big = max(width - 2, 1) < W or H > MAX_ROWS
    return too_big and max(H, W) > HUGE_ASPECT * max(1, min(H, W))


def render_bytes(shape: tuple[int, ...], width: int) -> int:
    """Extra bytes drawing maps of ``shape`` needs at most: one map's float64 copy when it
    is drawn whole, else a band of :func:`cnncli.render.maps.downsample` (at least one
    row of blocks) and its temporaries, and the small result."""
    H, W = int(shape[-2]), int(shape[-1])
    small = 2 * MAX_ROWS * max(width, 1) * 8
    if is_huge((H, W), width):
        fy, fx = factors((H, W), MAX_ROWS, max(width - 2, 1))
        band = max(BAND_BYTES, fy * (W + fx) * 8)
        return 3 * band + small
    return 2 * H * W * 8 + small


def factors(shape: tuple[int, int], rows: int, cols: int) -> tuple[int, int]:
    """Block sizes (fy, fx) that make a (H, W) map at most ``rows``×``cols`` blocks."""
    H, W = shape
    return max(1, math.ceil(H / max(rows, 1))), max(1, math.ceil(W / max(cols, 1)))


def huge_map(
    values: np.ndarray,
    title: str,
    width: int,
    color: bool,
    asked_table: bool = False,
    extra: Text | None = None,
) -> RenderableType:
    """A huge (H, W) map: a heat map of its blocks, then the whole map's statistics."""
    from cnncli.render.maps import downsample, heatmap, stats_line

    H, W = values.shape
    fy, fx = factors((H, W), MAX_ROWS, max(width - 2, 1))
    small = downsample(values, fy, fx, BAND_BYTES)  # the heat maps' one rule
    lines: list[RenderableType] = [
        Text(f"{title}  {fmt_dims((H, W))}", style="bold", no_wrap=True),
        *([extra] if extra is not None else []),
        Text(
            f"too large to draw whole: {fmt_dims(small.shape)} blocks of {fy}×{fx}, "
            "each its largest |value|" + ("; too large for a table" if asked_table else ""),
            style="dim",
        ),
        heatmap(small, width, color),
        stats_line(values),
    ]
    return Group(*lines)


def huge_vector(values: np.ndarray, title: str, width: int, color: bool) -> RenderableType:
    """A vector longer than :data:`MAX_VECTOR`: its first and last values, then as
    :func:`huge_map` draws a 1×n map."""
    from cnncli.render.format import fmt_values

    v = np.asarray(values).reshape(-1)
    k = VECTOR_ENDS
    ends = fmt_values(np.concatenate([v[:k], v[-k:]]))
    text = Text(
        f"first {k}: " + ", ".join(ends[:k]) + f"  …  last {k}: " + ", ".join(ends[k:]),
        no_wrap=True,
        overflow="ellipsis",
    )
    return huge_map(v.reshape(1, -1), title, width, color, extra=text)


def huge_maps(
    array: np.ndarray,
    name: str,
    width: int,
    color: bool,
    views: Sequence[MapView],
    note: str | None,
    asked_table: bool = False,
) -> RenderableType:
    """The chosen maps (``views``) of a 4-D array of huge maps, as :func:`huge_map` draws them.

    The ``output`` maps have no heading line: the header's output line gives the shape.
    """
    parts: list[RenderableType] = []
    if name != "output":
        parts.append(Text(f"{name} {fmt_shape(array.shape)}", style="bold underline"))
    for view in views:
        parts.append(huge_map(view.values, view.label, width, color, asked_table))
        parts.append(Text(""))
    if note:
        parts.append(Text(f"note: {note}", style="dim"))
    return Group(*parts)
