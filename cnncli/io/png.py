"""PNG images of results: one map in gray, several as a labelled grid, three channels in colour.

Every map is scaled to 0–255 as ``--png-scale`` says (:func:`to_gray_u8`); an RGB
image's three channels share one scale or keep the input's pixel values
(:func:`rgb_u8`).  Grid labels and titles are measured with the font's metrics
and cut to fit their columns (:func:`grid_layout`).  Pillow is imported inside
the functions that draw.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnncli.errors import ParameterError


def split_maps(array: np.ndarray) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """Split an array into 2-D maps with their leading index: NCHW → ((n, c), H×W)."""
    arr = np.asarray(array)
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim == 2:
        return [((), arr)]
    lead = arr.shape[:-2]
    return [(idx, arr[idx]) for idx in np.ndindex(*lead)]


def to_gray_u8(m: np.ndarray, png_scale: str) -> tuple[np.ndarray, str]:
    """Scale one map to uint8 0–255; return it and a note saying how.

    minmax: (v − min)/(max − min)·255; clip: v clipped to [0, 255]; abs: |v|/max|v|·255.
    NaN becomes 0.
    """
    with np.errstate(all="ignore"):  # huge spans overflow to inf; the clip below handles it
        return _to_gray_u8(np.asarray(m, dtype=np.float64), png_scale)


def _to_gray_u8(v: np.ndarray, png_scale: str) -> tuple[np.ndarray, str]:
    finite = np.isfinite(v)
    vals = v[finite]
    if png_scale == "clip":
        out = np.clip(np.nan_to_num(v, nan=0.0, posinf=255.0, neginf=0.0), 0, 255)
        note = "values clipped to 0–255"
    elif png_scale == "abs":
        a = np.abs(np.nan_to_num(v, nan=0.0))
        top = float(np.abs(vals).max()) if vals.size else 0.0
        out = np.where(np.isfinite(a), a / top * 255 if top > 0 else 0.0, 255.0)
        note = f"|v| scaled: 0 → 0, {top:.6g} → 255"
    else:
        lo = float(vals.min()) if vals.size else 0.0
        hi = float(vals.max()) if vals.size else 0.0
        span = hi - lo
        w = np.nan_to_num(v, nan=lo, posinf=hi, neginf=lo)
        out = (w - lo) / span * 255 if span > 0 else np.zeros_like(w)
        note = f"min {lo:.6g} → 0, max {hi:.6g} → 255" if span > 0 else f"constant {lo:.6g} → 0"
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), note


def rgb_u8(
    chw: np.ndarray, png_scale: str = "minmax", pixel_top: float | None = None
) -> tuple[np.ndarray, str]:
    """Three channels (3, H, W) as an (H, W, 3) uint8 colour image; and how they were scaled.

    With ``pixel_top`` (the input image's white: 255, or 1 for --scale unit) and every
    value finite in [0, pixel_top], the values are pixels as in the input:
    v / pixel_top · 255, so an unchanged image comes back as it was.  Otherwise one
    ``png_scale`` scale is shared by the three channels, which keeps their balance.
    """
    v = np.asarray(chw, dtype=np.float64)
    if pixel_top is not None and pixel_top > 0 and v.size:
        lo, hi = float(v.min()), float(v.max())  # NaN propagates and fails the test
        if lo >= 0 and hi <= pixel_top:
            u8 = np.clip(np.rint(v * (255.0 / pixel_top)), 0, 255).astype(np.uint8)
            note = f"the input's pixel values 0–{pixel_top:g}"
            return np.ascontiguousarray(u8.transpose(1, 2, 0)), note
    u8, note = to_gray_u8(v, png_scale)
    return np.ascontiguousarray(u8.transpose(1, 2, 0)), f"one {png_scale} scale for R, G, B: {note}"


def png_bytes(
    array: np.ndarray,
    png_scale: str = "minmax",
    labels: Sequence[str] | None = None,
    *,
    rgb: bool = False,
    pixel_top: float | None = None,
    title: str | None = None,
) -> tuple[bytes, str]:
    """PNG bytes and what they hold: one map as a grayscale image, several as a labelled grid
    (each map scaled alone), or with ``rgb`` three channels as one colour image
    (:func:`rgb_u8`).  ``title`` is drawn above a grid.
    """
    from PIL import Image

    arr = np.asarray(array)
    if rgb:
        chw = arr[0] if arr.ndim == 4 and arr.shape[0] == 1 else arr
        if chw.ndim != 3 or chw.shape[0] != 3:
            raise ParameterError(
                f"--png-mode rgb needs a result of 3 channels (one image), got shape {arr.shape}",
                hint="use --png-mode grid for a grey tile per channel",
            )
        u8, note = rgb_u8(chw, png_scale, pixel_top)
        img = Image.fromarray(u8, "RGB")
        what = f"PNG, RGB colour {img.size[0]}×{img.size[1]}, {note}"
    else:
        maps = split_maps(arr)
        if len(maps) == 1 and title is None:
            u8, note = to_gray_u8(maps[0][1], png_scale)
            img = Image.fromarray(u8, "L")
            what = f"PNG, grayscale {img.size[0]}×{img.size[1]}, {note}"
        else:
            names = list(labels) if labels is not None else []
            if len(names) < len(maps):
                batched = arr.ndim == 4 and arr.shape[0] > 1
                names += [
                    (f"n{idx[0]} c{idx[1]}" if batched else f"ch {idx[-1]}") if idx else ""
                    for idx, _ in maps[len(names) :]
                ]
            img = _grid([m for _, m in maps], names, png_scale, title)
            what = f"PNG, a grid of {len(maps)} maps, each scaled on its own ({png_scale})"
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue(), what


#: Gap between grid tiles, in pixels.
GRID_PAD = 4
#: Grid columns are at least this wide, and widened for labels up to this many pixels.
GRID_MIN_COL, GRID_MAX_LABEL = 24, 160
#: A grid's title is cut to fit at most this many pixels.
GRID_MAX_TITLE = 1200


def grid_font() -> Any:
    """The font of grid labels (Pillow's built-in font)."""
    from PIL import ImageFont

    return ImageFont.load_default()


def text_width(text: str, font: Any) -> int:
    """The width in pixels that ``text`` covers when drawn at x = 0 with ``font``."""
    if not text:
        return 0
    left, _, right, _ = font.getbbox(text)
    return math.ceil(max(right, font.getlength(text)) - min(left, 0))


#: Where text drawn in a PNG is cut (ASCII: Pillow's built-in font has no "…").
CUT = "..."


def fit_text(text: str, width: int, font: Any) -> str:
    """``text``, cut with "..." where needed so that it covers at most ``width`` pixels."""
    if text_width(text, font) <= width:
        return text
    lo, hi = 0, len(text)  # the longest prefix whose cut text fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width(text[:mid] + CUT, font) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + CUT if lo else ""


@dataclass(frozen=True)
class GridLayout:
    """Where :func:`_grid` puts things: tiles of ``tile_w``×``tile_h`` in columns of ``col_w``."""

    zoom: int
    tile_w: int
    tile_h: int
    col_w: int
    label_h: int
    title_h: int
    cols: int
    rows: int
    width: int
    height: int
    labels: tuple[str, ...]
    title: str | None

    def origin(self, i: int) -> tuple[int, int]:
        """The top-left pixel of map ``i``'s label; its tile starts ``label_h`` below."""
        r, c = divmod(i, self.cols)
        return GRID_PAD + c * (self.col_w + GRID_PAD), self.title_h + GRID_PAD + r * (
            self.label_h + self.tile_h + GRID_PAD
        )


def grid_layout(
    n: int, shape: tuple[int, int], labels: Sequence[str], title: str | None, font: Any
) -> GridLayout:
    """The layout of ``n`` maps of ``shape``: every label fits its column (cut with "..." if
    longer than :data:`GRID_MAX_LABEL`), and the title fits the image."""
    H, W = shape
    zoom = max(1, min(16, 64 // max(H, W, 1)))
    tile_h, tile_w = H * zoom, W * zoom
    widest = max((text_width(t, font) for t in labels), default=0)
    col_w = max(tile_w, GRID_MIN_COL, min(widest, GRID_MAX_LABEL))
    fitted = tuple(fit_text(t, col_w, font) for t in labels)
    _, _, _, bottom = font.getbbox("Agjy|")
    label_h = int(bottom) + 3
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    width = GRID_PAD + cols * (col_w + GRID_PAD)
    cut_title = None
    title_h = 0
    if title:
        width = max(width, min(text_width(title, font), GRID_MAX_TITLE) + 2 * GRID_PAD)
        cut_title = fit_text(title, width - 2 * GRID_PAD, font)
        title_h = GRID_PAD + label_h
    height = title_h + GRID_PAD + rows * (label_h + tile_h + GRID_PAD)
    return GridLayout(
        zoom, tile_w, tile_h, col_w, label_h, title_h, cols, rows, width, height, fitted, cut_title
    )


def _grid(
    maps: list[np.ndarray], labels: list[str], png_scale: str, title: str | None = None
) -> Any:
    from PIL import Image, ImageDraw

    font = grid_font()
    lay = grid_layout(len(maps), maps[0].shape, labels[: len(maps)], title, font)
    canvas = Image.new("L", (lay.width, lay.height), 32)
    draw = ImageDraw.Draw(canvas)
    if lay.title:
        draw.text((GRID_PAD, GRID_PAD), lay.title, fill=255, font=font)
    for i, m in enumerate(maps):
        x, y = lay.origin(i)
        if i < len(lay.labels):
            draw.text((x, y), lay.labels[i], fill=255, font=font)
        u8, _ = to_gray_u8(m, png_scale)
        tile = Image.fromarray(u8, "L").resize((lay.tile_w, lay.tile_h), Image.Resampling.NEAREST)
        canvas.paste(tile, (x, y + lay.label_h))
    return canvas
