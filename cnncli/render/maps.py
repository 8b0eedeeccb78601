"""Feature maps as tables, heat maps and statistics; vectors as index/value rows.

A map that fits the width is a Rich table of its values (row and column
indices, cells shaded by value); one that does not is a heat map of half-block
characters (two values per character cell, true colour), downsampled by block
means to the width, with its colour scale; without colour (``NO_COLOR`` or a
pipe) the heat map uses an ASCII ramp instead.  Statistics follow either.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from cnncli.render.format import (
    ASCII_RAMP,
    ColorScale,
    cell_style,
    finite_values,
    fmt_dims,
    fmt_shape,
    fmt_value,
    fmt_values,
    hex_color,
)

Show = Literal["auto", "table", "heatmap", "stats", "none"]

#: How many maps are shown when no --channels is given.
DEFAULT_MAX_MAPS = 4
#: --show auto draws a heat map, not a table, for maps taller than this.
MAX_TABLE_ROWS = 64
#: Plain-text heat maps of maps at least this tall put two rows in one character.
MIN_ROWS_PAIRED = 16
#: Heat maps are at most this many lines tall.
MAX_HEATMAP_LINES = 24


@dataclass(frozen=True)
class MapView:
    """One 2-D map to show: its label (``output[0, 1]``) and values (H, W)."""

    label: str
    values: np.ndarray


def select_maps(
    array: np.ndarray,
    name: str,
    picks: Sequence[tuple[int | None, int]] | None = None,
    limit: int = DEFAULT_MAX_MAPS,
) -> tuple[list[MapView], str | None]:
    """Pick the (N, C) maps of a 4-D array to show, and a note on what was left out.

    ``picks`` holds ``(n, c)`` pairs (``n`` None: every batch item); without
    picks the first ``limit`` maps in (n, c) order are shown.  Indices are
    checked by the caller (:func:`cnncli.cli.argtypes.parse_channels`).
    """
    N, C = array.shape[0], array.shape[1]
    if picks:
        pairs = []
        for n, c in picks:
            for nn in range(N) if n is None else [n]:
                pairs.append((nn, c))
        note = None
    else:
        pairs = [(n, c) for n in range(N) for c in range(C)]
        note = None
        if len(pairs) > limit:
            note = (
                f"showing {limit} of {len(pairs)} maps of {name} (N={N}, C={C}); "
                "--channels picks others (e.g. 5,6 or 1:0)"
            )
            pairs = pairs[:limit]
    views = [MapView(f"{name}[{n}, {c}]", array[n, c]) for n, c in pairs]
    return views, note


def map_table(
    values: np.ndarray,
    title: str | None = None,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    texts: Sequence[str] | None = None,
) -> Table:
    """A (H, W) map as a table: column indices on top, row indices left, shaded cells.

    ``texts`` overrides the printed cells (same order as ``values.ravel()``);
    NaN cells are left unshaded.
    """
    H, W = values.shape
    cells = list(texts) if texts is not None else fmt_values(values)
    scale = ColorScale.for_values(values)
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, padding=(0, 1))
    table.add_column("", justify="right", style="dim", no_wrap=True)
    cols = list(col_labels) if col_labels is not None else [str(j) for j in range(W)]
    rows = list(row_labels) if row_labels is not None else [str(i) for i in range(H)]
    for j in range(W):
        table.add_column(cols[j], justify="right", no_wrap=True, header_style="dim")
    flat = values.ravel().tolist()
    for i in range(H):
        row: list[RenderableType] = [rows[i]]
        for j in range(W):
            v = flat[i * W + j]
            style = "" if math.isnan(v) else cell_style(scale.rgb(v))
            row.append(Text(cells[i * W + j], style=style))
        table.add_row(*row)
    return table


def titled(title: str | None, table: Table) -> RenderableType:
    """A bold title line above ``table`` (a Rich table title would wrap at the table's width)."""
    return table if title is None else Group(Text(title, style="bold", no_wrap=True), table)


def table_fits(table: Table, width: int) -> bool:
    """Whether ``table`` fits ``width`` columns without wrapping or squeezing a cell."""
    console = Console(width=max(width, 1) * 4, color_system=None, file=io.StringIO())
    measured = Measurement.get(console, console.options, table)
    return measured.maximum <= width


def _block_mean(values: np.ndarray, fy: int, fx: int, band_bytes: int = 4 << 20) -> np.ndarray:
    """Mean over fy×fx blocks (the last blocks may be partial; NaN ignored), in float64.

    Made a band of block rows at a time (about ``band_bytes`` of float64 each), so
    that a large map needs no float64 copy of itself.
    """
    H, W = values.shape
    oh, ow = -(-H // fy), -(-W // fx)
    small = np.empty((oh, ow), dtype=np.float64)
    per = max(1, band_bytes // max(1, fy * ow * fx * 8))  # block rows per band
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for r0 in range(0, oh, per):
            r1 = min(oh, r0 + per)
            band = values[r0 * fy : r1 * fy]
            padded = np.full(((r1 - r0) * fy, ow * fx), np.nan, dtype=np.float64)
            padded[: band.shape[0], :W] = band
            small[r0:r1] = np.nanmean(padded.reshape(r1 - r0, fy, ow, fx), axis=(1, 3))
    return small


def heatmap_factor(shape: tuple[int, int], width: int) -> int:
    """Downsampling factor so that a (H, W) map fits ``width`` columns and the height cap."""
    H, W = shape
    return max(1, math.ceil(W / max(width, 1)), math.ceil(H / (2 * MAX_HEATMAP_LINES)))


def heatmap(values: np.ndarray, width: int, color: bool, title: str | None = None) -> Group:
    """A (H, W) map as half-block true-colour cells (or an ASCII ramp), with its scale."""
    H, W = values.shape
    f = heatmap_factor((H, W), width - 2)
    scale = ColorScale.for_values(values)
    lines: list[RenderableType] = []
    if title:
        lines.append(Text(title, style="bold"))
    if color:
        small = _block_mean(values, f, f)
        for r in range(0, small.shape[0], 2):
            line = Text()
            for c in range(small.shape[1]):
                top = hex_color(scale.rgb(small[r, c]))
                if r + 1 < small.shape[0]:
                    bottom = hex_color(scale.rgb(small[r + 1, c]))
                    line.append("▀", style=f"{top} on {bottom}")
                else:
                    line.append("▀", style=top)
            lines.append(line)
    else:
        # A character is about twice as tall as wide: two rows per character, except for
        # short maps where averaging row pairs would hide rows.
        fy = 2 * f if H >= MIN_ROWS_PAIRED else f
        wide = f == 1 and width - 2 >= 2 * W and H <= 2 * MAX_HEATMAP_LINES
        if wide:  # small maps: one row per line, two characters per value (square cells)
            fy = 1
        small = _block_mean(values, fy, f)
        for r in range(small.shape[0]):
            chars = (scale.char(v) for v in small[r].tolist())
            lines.append(Text("".join(c * 2 for c in chars) if wide else "".join(chars)))
    if color:
        kind = f"1 half-block = {f}×{f} values (block mean)" if f > 1 else "1 half-block = 1 value"
    else:
        kind = (
            "2 characters = 1 value"
            if wide
            else f"1 character = {fy}×{f} values (block mean)"
            if fy * f > 1
            else "1 character = 1 value"
        )
    lines.append(Text(f"heat map of {fmt_dims((H, W))}, {kind}", style="dim"))
    lines.append(color_scale(scale, color))
    return Group(*lines)


def color_scale(scale: ColorScale, color: bool, steps: int = 24) -> Text:
    """The legend: low label, a strip of colours (or ramp characters), high label."""
    lo, hi = (
        fmt_value(scale.vmin, 4 if scale.vmin != round(scale.vmin) else 0),
        fmt_value(scale.vmax, 4 if scale.vmax != round(scale.vmax) else 0),
    )
    text = Text("scale ", style="dim")
    if color:
        text.append(f"{lo} ")
        for i in range(steps):
            v = scale.vmin + (scale.vmax - scale.vmin) * i / (steps - 1)
            text.append("█", style=hex_color(scale.rgb(v)))
        text.append(f" {hi}")
        if scale.diverging:
            text.append("  (blue < 0 < red)", style="dim")
    else:
        text.append(f"{lo} '{ASCII_RAMP}' {hi}")
    return text


def stats_line(values: np.ndarray) -> Text:
    """min, max, mean, std and the share of zeros of one map (non-finite counted apart).

    Sums are in float64.  An all-finite map is read in place (:func:`finite_values`),
    its deviations from the mean squared a block at a time, so that a large map
    needs no float64 copy of itself.
    """
    v = np.asarray(values)
    finite, lo, hi = finite_values(v)
    parts: list[str] = []
    if lo is not None and hi is not None:
        mean = float(np.mean(finite, dtype=np.float64))
        parts += [
            f"min {fmt_value(lo, 4 if not lo.is_integer() else 0)}",
            f"max {fmt_value(hi, 4 if not hi.is_integer() else 0)}",
            f"mean {_short(mean)}",
            f"std {_short(_std(finite.reshape(-1), mean))}",
        ]
    zeros = int(np.count_nonzero(v == 0))
    parts.append(f"zeros {100.0 * zeros / max(v.size, 1):.1f}% ({zeros} of {v.size})")
    bad = v.size - finite.size
    if bad:
        parts.append(f"non-finite {bad}")
    return Text("  ".join(parts), style="dim")


def _std(flat: np.ndarray, mean: float, block: int = 1 << 20) -> float:
    """Population standard deviation of a 1-D array about ``mean``, in float64 blocks."""
    total = 0.0
    for start in range(0, flat.size, block):
        d = flat[start : start + block].astype(np.float64) - mean
        total += float(np.dot(d, d))
    return math.sqrt(total / flat.size)


def _short(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:.4g}"


def render_map(view: MapView, show: Show, width: int, color: bool) -> RenderableType:
    """One map by ``show`` (auto: a table when it fits, else a heat map), with its stats."""
    values = view.values
    title = f"{view.label}  {fmt_dims(values.shape)}"
    if show == "stats":
        return Group(Text(title, style="bold"), stats_line(values))
    # Each column needs at least 3 characters (a digit and its padding): skip building a
    # table that cannot fit, or one too tall to read.
    too_big = (values.shape[1] + 1) * 3 > width or values.shape[0] > MAX_TABLE_ROWS
    if show == "table" or (show == "auto" and not too_big):
        table = map_table(values)
        if show == "table" or table_fits(table, width):
            return Group(titled(title, table), stats_line(values))
    return Group(heatmap(values, width, color, title), stats_line(values))


def render_maps(
    array: np.ndarray,
    name: str,
    show: Show,
    width: int,
    color: bool,
    picks: Sequence[tuple[int | None, int]] | None = None,
) -> RenderableType | None:
    """The maps of a 4-D (N, C, H, W) array as chosen by ``show`` and ``picks``."""
    if show == "none":
        return None
    views, note = select_maps(array, name, picks)
    parts: list[RenderableType] = [Text(f"{name} {fmt_shape(array.shape)}", style="bold underline")]
    for view in views:
        parts.append(render_map(view, show, width, color))
        parts.append(Text(""))
    if note:
        parts.append(Text(f"note: {note}", style="dim"))
    return Group(*parts)


def render_vector(
    values: np.ndarray,
    title: str,
    width: int,
    show: Show = "auto",
    max_rows: int = 8,
    labels: Sequence[str] | None = None,
) -> RenderableType | None:
    """A 1-D vector as rows of ``index: value`` cells, the middle elided when long."""
    if show == "none":
        return None
    v = np.asarray(values).ravel()
    if show == "stats":
        return Group(Text(f"{title}  ({v.size},)", style="bold"), stats_line(v))
    texts = fmt_values(v)
    names = list(labels) if labels is not None else [str(i) for i in range(v.size)]
    cell = max(len(t) for t in texts) if texts else 1
    lab = max(len(n) for n in names) if names else 1
    per_row = max(1, (width - 2) // (lab + cell + 4))
    rows = [list(range(i, min(i + per_row, v.size))) for i in range(0, v.size, per_row)]
    scale = ColorScale.for_values(v.astype(np.float64))
    out: list[RenderableType] = [Text(f"{title}  ({v.size},)", style="bold")]
    keep = rows
    if len(rows) > max_rows:
        keep = [*rows[: max_rows // 2], [], *rows[-(max_rows // 2) :]]
    flat = v.tolist()
    for row in keep:
        if not row:
            hidden = v.size - sum(len(r) for r in keep)
            out.append(Text(f"  … {hidden} values not shown …", style="dim"))
            continue
        line = Text()
        for k in row:
            line.append(f"{names[k]:>{lab}}", style="dim")
            line.append(": ")
            line.append(f"{texts[k]:>{cell}}", style=cell_style(scale.rgb(flat[k])))
            line.append("  ")
        line.rstrip()
        out.append(line)
    out.append(stats_line(v))
    return Group(*out)
