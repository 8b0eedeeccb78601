"""Feature maps as tables, heat maps and statistics; vectors as index/value rows.

A map that fits the width is a Rich table of its values (row and column
indices, cells shaded by value); one that does not is a heat map of half-block
characters (two values per character cell), with its colour scale; without
colour (``NO_COLOR`` or a pipe) the heat map uses an ASCII ramp instead.
Statistics follow either.  ``--show table`` on a map too big for the terminal
shows its top-left corner, with ``…``/``⋮`` where it is cut and a line on how
to see another window (``--region``); a :class:`MapView` may be such a window.

How a heat map is made (the one place for both rules):

* **Downsampling** (:func:`downsample`): a map wider than the terminal (or
  taller than :data:`MAX_HEATMAP_LINES` lines) is cut into f×f blocks, and each
  block shows *the value of largest magnitude in it, with its sign*.  A block
  mean would cancel the two signs of an edge and fade a one-pixel line to
  1/f of its height; the largest magnitude keeps a thin edge at full strength.
  For a map with no negative values this is the block's maximum (what max
  pooling keeps), so one rule serves signed and unsigned maps alike.
* **Colour scale** (:func:`heat_scale`): computed from the cells shown and
  clipped at percentiles, so that a few extreme values do not squeeze every
  other cell into the middle colour.  A signed map is coloured on a scale
  symmetric about 0 clipped at ±the 99th percentile of |value|; an unsigned map
  from its 1st to its 99th percentile.  Cells beyond take the end colours, and the
  legend says so with the map's true minimum and maximum.  When the percentiles
  collapse (a map that is more than 98% one value), or fewer than
  :data:`MIN_CELLS_CLIPPED` cells are shown, the full range is used.
  Plain text ramps the magnitude of a signed map (blank is 0) and the value of
  an unsigned one; a 256-colour terminal gets a palette of a few exact levels
  (:class:`cnncli.render.format.ColorScale`).
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
#: Heat-map colours are clipped at this percentile from each end (see the module docstring)
CLIP_PERCENTILE = 1.0
#: ... when at least this many cells are shown (in fewer, 1% is not one whole cell).
MIN_CELLS_CLIPPED = 100
#: ``--show table`` on a map taller than the terminal shows at least this many rows.
MIN_TABLE_ROWS = 8


@dataclass(frozen=True)
class MapView:
    """One 2-D map to show: its label (``output[0, 1]``) and values (H, W).

    A window of a larger map (``--region``) has its first row and column in the
    map (``origin``) and the map's full size (``full``).
    """

    label: str
    values: np.ndarray
    origin: tuple[int, int] = (0, 0)
    full: tuple[int, int] | None = None

    @property
    def where(self) -> str:
        """``425×638``, or ``rows 100:112, cols 200:212 of 425×638`` for a window."""
        H, W = self.values.shape
        if self.full is None or self.full == (H, W):
            return fmt_dims((H, W))
        r0, c0 = self.origin
        return f"rows {r0}:{r0 + H}, cols {c0}:{c0 + W} of {fmt_dims(self.full)}"


def select_maps(
    array: np.ndarray,
    name: str,
    picks: Sequence[tuple[int | None, int]] | None = None,
    limit: int = DEFAULT_MAX_MAPS,
    region: tuple[slice, slice] | None = None,
) -> tuple[list[MapView], str | None]:
    """Pick the (N, C) maps of a 4-D array to show, and a note on what was left out.

    ``picks`` holds ``(n, c)`` pairs (``n`` None: every batch item); without
    picks the first ``limit`` maps in (n, c) order are shown.  ``region`` (rows,
    cols; steps of 1, inside the map) shows that window of each map.  Indices are
    checked by the caller (:func:`cnncli.cli.argtypes.parse_channels`,
    :func:`cnncli.cli.argtypes.resolve_region`).
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
    if region is None:
        return [MapView(f"{name}[{n}, {c}]", array[n, c]) for n, c in pairs], note
    rows, cols = region
    origin = (rows.start or 0, cols.start or 0)
    full = (array.shape[2], array.shape[3])
    views = [MapView(f"{name}[{n}, {c}]", array[n, c][rows, cols], origin, full) for n, c in pairs]
    return views, note


def map_table(
    values: np.ndarray,
    title: str | None = None,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    texts: Sequence[str] | None = None,
    more_rows: bool = False,
    more_cols: bool = False,
) -> Table:
    """A (H, W) map as a table: column indices on top, row indices left, shaded cells.

    ``texts`` overrides the printed cells (same order as ``values.ravel()``);
    NaN cells are left unshaded.  ``more_rows``/``more_cols`` add a ``⋮`` row /
    ``…`` column: the map goes on below / to the right.
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
    if more_cols:
        table.add_column("…", justify="left", no_wrap=True, header_style="dim", style="dim")
    flat = values.ravel().tolist()
    for i in range(H):
        row: list[RenderableType] = [rows[i]]
        for j in range(W):
            v = flat[i * W + j]
            style = "" if math.isnan(v) else cell_style(scale.rgb(v))
            row.append(Text(cells[i * W + j], style=style))
        if more_cols:
            row.append("…")
        table.add_row(*row)
    if more_rows:
        table.add_row("⋮", *(["⋮"] * W), *(["⋱"] if more_cols else []), style="dim")
    return table


def titled(title: str | None, table: Table) -> RenderableType:
    """A bold title line above ``table`` (a Rich table title would wrap at the table's width)."""
    return table if title is None else Group(Text(title, style="bold", no_wrap=True), table)


def table_fits(table: Table, width: int) -> bool:
    """Whether ``table`` fits ``width`` columns without wrapping or squeezing a cell."""
    console = Console(width=max(width, 1) * 4, color_system=None, file=io.StringIO())
    measured = Measurement.get(console, console.options, table)
    return measured.maximum <= width


def table_corner(view: MapView, width: int, max_rows: int) -> tuple[Table, str | None]:
    """The top-left corner of a map that fits ``width`` columns and ``max_rows`` rows.

    Every row keeps its label; where the map is cut the table ends in a ``⋮`` row
    and a ``…`` column, and the second item says what is shown and how to see
    another window (``--region``); it is None when the whole map fits.
    """
    values = view.values
    H, W = values.shape
    r0, c0 = view.origin
    rows = H if max_rows >= H else max(1, max_rows - 1)

    # Cells are formatted once, with the precision of the widest candidate block, and their
    # widths summed as the table lays them out (box.SIMPLE without edges: 3 characters
    # between columns); the measurement of the chosen table is the final check.
    top = values[:rows, : max(1, min(W, width // 2))]
    texts = np.array(fmt_values(top), dtype=object).reshape(top.shape)
    row_labels = [str(r0 + i) for i in range(rows)] + (["⋮"] if rows < H else [])
    widths = [max(len(str(c0 + j)), max(len(t) for t in texts[:, j])) for j in range(top.shape[1])]

    def build(cols: int) -> Table:
        return map_table(
            values[:rows, :cols],
            row_labels=row_labels[:rows],
            col_labels=[str(c0 + j) for j in range(cols)],
            texts=texts[:, :cols].ravel().tolist(),
            more_rows=rows < H,
            more_cols=cols < W,
        )

    def total(cols: int) -> int:
        parts = [max(len(label) for label in row_labels), *widths[:cols]]
        parts += [1] if cols < W else []
        return sum(parts) + 3 * (len(parts) - 1)

    cols = top.shape[1]
    while cols > 1 and total(cols) > width:
        cols -= 1
    table = build(cols)
    while cols > 1 and not table_fits(table, width):
        cols -= 1
        table = build(cols)
    if rows == H and cols == W:
        return table, None
    # The example window: the next one to the right, or the next one down.
    if cols < W:
        nrows, ncols = (r0, r0 + rows), (c0 + cols, c0 + min(W, 2 * cols))
    else:
        nrows, ncols = (r0 + rows, r0 + min(H, 2 * rows)), (c0, c0 + cols)
    full = view.full or (H, W)
    note = (
        f"showing rows {r0}:{r0 + rows}, cols {c0}:{c0 + cols} of {fmt_dims(full)}; "
        f"--region ROWS,COLS shows another window, e.g. --region "
        f"{nrows[0]}:{nrows[1]},{ncols[0]}:{ncols[1]}"
    )
    return table, note


def _blocks(values: np.ndarray, fy: int, fx: int, band_bytes: int, reduce: object) -> np.ndarray:
    """``reduce(blocks)`` over fy×fx blocks, a band of block rows at a time, in float64.

    The last blocks may be partial (padded with NaN).  A band is about
    ``band_bytes`` of float64, so that a large map needs no float64 copy of itself.
    ``reduce`` takes an array (rows, fy, cols, fx) and returns (rows, cols).
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
            small[r0:r1] = reduce(padded.reshape(r1 - r0, fy, ow, fx))  # type: ignore[operator]
    return small


def _block_mean(values: np.ndarray, fy: int, fx: int, band_bytes: int = 4 << 20) -> np.ndarray:
    """Mean over fy×fx blocks (the last blocks may be partial; NaN ignored), in float64."""
    return _blocks(values, fy, fx, band_bytes, lambda b: np.nanmean(b, axis=(1, 3)))


def _largest_magnitude(blocks: np.ndarray) -> np.ndarray:
    hi = np.nanmax(blocks, axis=(1, 3))
    lo = np.nanmin(blocks, axis=(1, 3))
    return np.where(-lo > hi, lo, hi)  # an all-NaN block stays NaN (both comparisons False)


def downsample(values: np.ndarray, fy: int, fx: int, band_bytes: int = 4 << 20) -> np.ndarray:
    """Each fy×fx block's value of largest magnitude, sign kept (NaN ignored), in float64.

    The heat maps' downsampling rule (module docstring): a thin edge, of either
    sign, survives at full strength; for a non-negative map it is the block maximum.
    The last blocks may be partial; an all-NaN block gives NaN.
    """
    if fy == 1 and fx == 1:
        return np.asarray(values, dtype=np.float64)
    return _blocks(values, fy, fx, band_bytes, _largest_magnitude)


def heat_scale(
    cells: np.ndarray,
    true_range: tuple[float | None, float | None] | None = None,
    palette: str = "truecolor",
) -> tuple[ColorScale, str | None]:
    """The heat maps' colour scale for the ``cells`` shown, and the legend's clipping note.

    Signed cells: symmetric about 0, clipped at ±the ``100 − CLIP_PERCENTILE``th
    percentile of |value|; otherwise from the ``CLIP_PERCENTILE``th to the
    ``100 − CLIP_PERCENTILE``th percentile (the full range for fewer than
    :data:`MIN_CELLS_CLIPPED` cells, or when the percentiles collapse).  The note (None when nothing is
    clipped) names the percentiles and the map's true minimum and maximum
    (``true_range``; default: those of ``cells``).
    """
    finite = cells[np.isfinite(cells)]
    if not finite.size:
        return ColorScale(0.0, 0.0, palette), None
    lo, hi = float(finite.min()), float(finite.max())
    tlo, thi = true_range if true_range is not None else (lo, hi)
    tlo = lo if tlo is None else tlo
    thi = hi if thi is None else thi
    true = f"true min {_value(tlo)}, max {_value(thi)}"
    upper = 100.0 - CLIP_PERCENTILE
    few = finite.size < MIN_CELLS_CLIPPED
    if lo < 0 < hi:
        bound = 0.0 if few else float(np.percentile(np.abs(finite), upper))
        if not bound > 0:
            bound = max(-lo, hi)
        scale = ColorScale(-bound, bound, palette)
        if bound >= max(-lo, hi):
            return scale, None
        return scale, (
            f"scale clipped at ±{_value(bound)} ({_ordinal(upper)} percentile of |value|); {true}"
        )
    plo, phi = (lo, hi) if few else np.percentile(finite, [CLIP_PERCENTILE, upper]).tolist()
    if not phi > plo:
        plo, phi = lo, hi
    scale = ColorScale(plo, phi, palette)
    if plo <= lo and phi >= hi:
        return scale, None
    return scale, (
        f"scale clipped at the {_ordinal(CLIP_PERCENTILE)}/{_ordinal(upper)} percentile "
        f"({_value(plo)} to {_value(phi)}); {true}"
    )


def _ordinal(p: float) -> str:
    n = round(p)
    if p != n:
        return f"{p:g}th"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _value(x: float) -> str:
    """A legend number: whole numbers as such, others to 4 significant digits."""
    if not math.isfinite(x):
        return fmt_value(x, 0)
    return str(round(x)) if x == round(x) and abs(x) < 1e15 else f"{x:.4g}"


def heatmap_factor(shape: tuple[int, int], width: int) -> int:
    """Downsampling factor so that a (H, W) map fits ``width`` columns and the height cap."""
    H, W = shape
    return max(1, math.ceil(W / max(width, 1)), math.ceil(H / (2 * MAX_HEATMAP_LINES)))


def heatmap(
    values: np.ndarray,
    width: int,
    color: bool,
    title: str | None = None,
    palette: str = "truecolor",
    what: str | None = None,
) -> Group:
    """A (H, W) map as half-block colour cells (or an ASCII ramp), with its scale.

    ``palette`` is the terminal's (``truecolor`` or ``256``); ``what`` names the
    map in the caption (default ``H×W``).  See the module docstring for the
    downsampling rule and the colour scale.
    """
    H, W = values.shape
    f = heatmap_factor((H, W), width - 2)
    _, tlo, thi = finite_values(values)
    lines: list[RenderableType] = []
    if title:
        lines.append(Text(title, style="bold"))
    rule = "largest |value|, sign kept"
    if color:
        small = downsample(values, f, f)
        scale, clip = heat_scale(small, (tlo, thi), palette)
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
        kind = f"1 half-block = {f}×{f} values ({rule})" if f > 1 else "1 half-block = 1 value"
    else:
        # A character is about twice as tall as wide: two rows per character, except for
        # short maps where pairing rows would hide rows.
        fy = 2 * f if H >= MIN_ROWS_PAIRED else f
        wide = f == 1 and width - 2 >= 2 * W and H <= 2 * MAX_HEATMAP_LINES
        if wide:  # small maps: one row per line, two characters per value (square cells)
            fy = 1
        small = downsample(values, fy, f)
        scale, clip = heat_scale(small, (tlo, thi), palette)
        for r in range(small.shape[0]):
            chars = (scale.char(v) for v in small[r].tolist())
            lines.append(Text("".join(c * 2 for c in chars) if wide else "".join(chars)))
        kind = (
            "2 characters = 1 value"
            if wide
            else f"1 character = {fy}×{f} values ({rule})"
            if fy * f > 1
            else "1 character = 1 value"
        )
    lines.append(Text(f"heat map of {what or fmt_dims((H, W))}, {kind}", style="dim"))
    lines.append(color_scale(scale, color))
    if clip:
        lines.append(Text(clip, style="dim"))
    return Group(*lines)


def color_scale(scale: ColorScale, color: bool, steps: int = 24) -> Text:
    """The legend: low label, a strip of colours (or ramp characters), high label.

    Without colour a diverging scale ramps |value| from 0 (:meth:`ColorScale.char`).
    """
    lo, hi = _value(scale.vmin), _value(scale.vmax)
    text = Text("scale ", style="dim")
    if color:
        text.append(f"{lo} ")
        for i in range(steps):
            v = scale.vmin + (scale.vmax - scale.vmin) * i / (steps - 1)
            text.append("█", style=hex_color(scale.rgb(v)))
        text.append(f" {hi}")
        if scale.diverging:
            text.append("  (blue < 0 < red)", style="dim")
    elif scale.diverging:
        text.append(f"|value| 0 '{ASCII_RAMP}' {hi}")
        text.append("  (the size of a value, not its sign)", style="dim")
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


def render_map(
    view: MapView,
    show: Show,
    width: int,
    color: bool,
    palette: str = "truecolor",
    max_rows: int | None = None,
) -> RenderableType:
    """One map by ``show`` (auto: a table when it fits, else a heat map), with its stats.

    ``show="table"`` on a map larger than ``width`` × ``max_rows`` (default
    :data:`MAX_TABLE_ROWS`) shows its top-left corner (:func:`table_corner`).
    """
    values = view.values
    title = f"{view.label}  {view.where}"
    if show == "stats":
        return Group(Text(title, style="bold"), stats_line(values))
    if show == "table":
        rows = max(MIN_TABLE_ROWS, max_rows if max_rows is not None else MAX_TABLE_ROWS)
        table, note = table_corner(view, width, rows)
        parts: list[RenderableType] = [titled(title, table)]
        if note:
            parts.append(Text(note, style="dim"))
        return Group(*parts, stats_line(values))
    # Each column needs at least 3 characters (a digit and its padding): skip building a
    # table that cannot fit, or one too tall to read.
    too_big = (values.shape[1] + 1) * 3 > width or values.shape[0] > MAX_TABLE_ROWS
    if show == "auto" and not too_big:
        table = map_table(
            values,
            row_labels=[str(view.origin[0] + i) for i in range(values.shape[0])],
            col_labels=[str(view.origin[1] + j) for j in range(values.shape[1])],
        )
        if table_fits(table, width):
            return Group(titled(title, table), stats_line(values))
    return Group(heatmap(values, width, color, title, palette, view.where), stats_line(values))


def render_maps(
    array: np.ndarray,
    name: str,
    show: Show,
    width: int,
    color: bool,
    picks: Sequence[tuple[int | None, int]] | None = None,
    *,
    region: tuple[slice, slice] | None = None,
    palette: str = "truecolor",
    max_rows: int | None = None,
    heading: bool = True,
) -> RenderableType | None:
    """The maps of a 4-D (N, C, H, W) array as chosen by ``show``, ``picks`` and ``region``.

    ``heading`` False leaves out the ``NAME (N, C, H, W)`` line (when the
    header's own output line already gives it).
    """
    if show == "none":
        return None
    views, note = select_maps(array, name, picks, region=region)
    parts: list[RenderableType] = [
        Text(f"{name} {fmt_shape(array.shape)}", style="bold underline") if heading else Text("")
    ]
    for view in views:
        parts.append(render_map(view, show, width, color, palette, max_rows))
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
