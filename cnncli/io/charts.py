"""Pictures of a training run: the loss and accuracy curves, and the first layer's filters.

``curves_png`` draws two panels side by side, loss and accuracy by epoch, the training
set's line solid and the held-out set's dashed-with-dots, each axis labelled with its
range.  ``filters_png`` draws a convolution weight of shape (C_out, C_in, kH, kW) as a
grid of kernels, all on one symmetric scale so that 0 is mid-gray and the tiles compare.  Pillow is
imported inside the functions that draw.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cnncli.errors import ParameterError

_PANEL_W, _PANEL_H, _MARGIN_L, _MARGIN_B, _MARGIN_T = 420, 280, 58, 36, 30
_TRAIN, _HELD_OUT = (31, 119, 180), (214, 39, 40)


def _png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _nice_step(span: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is at least ``span``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    power = 10 ** math.floor(math.log10(span))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= span * (1 - 1e-9))


def _axis_range(values: Sequence[float], percent: bool) -> tuple[float, float]:
    """Axis limits with 4 even steps: 0 to a nice top for a loss; a nice bottom to 100%."""
    finite = [v for v in values if math.isfinite(v)]
    if percent:
        low = min(finite, default=0.0)
        step = _nice_step((1.0 - low) / 4) if low < 1.0 else 0.05
        return max(0.0, 1.0 - 4 * step), 1.0
    top = max(finite, default=1.0)
    return 0.0, 4 * _nice_step(max(top, 1e-12) / 4)


def _panel(
    draw: Any, x0: int, title: str, epochs: list[int], lines: list[tuple[str, list[float]]],
    percent: bool,
) -> None:  # fmt: skip
    """One chart in the box starting at x0: frame, ticks, the lines, a legend."""
    left, top = x0 + _MARGIN_L, _MARGIN_T
    right, bottom = x0 + _PANEL_W - 12, _PANEL_H - _MARGIN_B
    lo, hi = _axis_range([v for _, vs in lines for v in vs], percent)
    first, last = epochs[0], epochs[-1]

    def px(e: float, v: float) -> tuple[float, float]:
        fx = 0.5 if last == first else (e - first) / (last - first)
        fy = (v - lo) / (hi - lo)
        return left + fx * (right - left), bottom - fy * (bottom - top)

    draw.text((x0 + _MARGIN_L, 8), title, fill=(20, 20, 20))
    draw.rectangle((left, top, right, bottom), outline=(90, 90, 90))
    for i in range(5):  # horizontal grid lines with their values
        v = lo + (hi - lo) * i / 4
        _, y = px(first, v)
        draw.line((left, y, right, y), fill=(225, 225, 225))
        text = f"{100 * v:.4g}%" if percent else f"{v:.4g}"
        draw.text((x0 + 4, y - 6), text, fill=(60, 60, 60))
    ticks = sorted({first, last, *epochs[:: max(1, math.ceil(len(epochs) / 8))]})
    for e in ticks:
        x, _ = px(e, lo)
        draw.line((x, bottom, x, bottom + 4), fill=(90, 90, 90))
        tx = min(x - 3 * len(str(e)), x0 + _PANEL_W - 2 - 6 * len(str(e)))
        draw.text((tx, bottom + 6), str(e), fill=(60, 60, 60))
    draw.text(((left + right) // 2 - 15, bottom + 20), "epoch", fill=(60, 60, 60))
    # The legend goes to the corner the curves leave free: the bottom when they end high.
    last_values = [vs[-1] for _, vs in lines if vs and math.isfinite(vs[-1])]
    ends_high = bool(last_values) and px(last, max(last_values))[1] < (top + bottom) / 2
    legend_y = bottom - 36 if ends_high else top + 8
    for n, (name, vs) in enumerate(lines):
        colour = _TRAIN if n == 0 else _HELD_OUT
        points = [px(e, v) for e, v in zip(epochs, vs, strict=True) if math.isfinite(v)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2 if n == 0 else 1)
        for x, y in points:
            draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour if n else None,
                         outline=colour)  # fmt: skip
        lx, ly = right - 110, legend_y + 14 * n
        draw.line((lx, ly + 6, lx + 18, ly + 6), fill=colour, width=2)
        draw.text((lx + 24, ly), name, fill=(20, 20, 20))


def curves_png(history: Sequence[dict[str, Any]], title: str) -> bytes:
    """Loss and accuracy by epoch (train and held-out) as a PNG, two panels side by side."""
    from PIL import Image, ImageDraw

    if not history:
        raise ParameterError("no epoch to draw")
    epochs = [int(h["epoch"]) for h in history]
    image = Image.new("RGB", (2 * _PANEL_W, _PANEL_H + 18), "white")
    draw = ImageDraw.Draw(image)
    _panel(draw, 0, f"{title}: loss", epochs,
           [("train", [float(h["train_loss"]) for h in history]),
            ("held out", [float(h["val_loss"]) for h in history])], percent=False)  # fmt: skip
    _panel(draw, _PANEL_W, "accuracy", epochs,
           [("train", [float(h["train_acc"]) for h in history]),
            ("held out", [float(h["val_acc"]) for h in history])], percent=True)  # fmt: skip
    return _png(image)


def filters_png(weight: np.ndarray, title: str) -> bytes:
    """A grid of a convolution's kernels (C_out, C_in, kH, kW) on one symmetric scale.

    Each tap v becomes 128 + 127·v / max|W| (0 is mid-gray).  C_in = 3 draws each kernel as
    one colour tile; C_in ≤ 8 otherwise as a row of C_in gray tiles; more channels as one
    gray tile of their mean.
    """
    from PIL import Image, ImageDraw

    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 4:
        raise ParameterError(f"filters must be (C_out, C_in, kH, kW), got shape {w.shape}")
    c_out, c_in, kh, kw = w.shape
    scale = float(np.max(np.abs(w))) or 1.0
    u8 = np.clip(np.rint(128 + 127 * w / scale), 0, 255).astype(np.uint8)
    if c_in == 3:
        tiles = [Image.fromarray(u8[o].transpose(1, 2, 0), "RGB") for o in range(c_out)]
        per_row = 1
    elif c_in <= 8:
        tiles = [Image.fromarray(u8[o, i], "L").convert("RGB")
                 for o in range(c_out) for i in range(c_in)]  # fmt: skip
        per_row = c_in
    else:
        mean = np.clip(np.rint(128 + 127 * w.mean(axis=1) / scale), 0, 255).astype(np.uint8)
        tiles = [Image.fromarray(mean[o], "L").convert("RGB") for o in range(c_out)]
        per_row = 1
    zoom = max(4, min(32, 96 // max(kh, kw)))
    tw, th, gap, label = kw * zoom, kh * zoom, 6, 14
    groups = c_out
    cols = max(1, math.ceil(math.sqrt(groups * per_row) / per_row))
    rows = math.ceil(groups / cols)
    group_w = per_row * tw + (per_row - 1) * 2
    width = max(gap + cols * (group_w + gap), 8 * len(title) + 2 * gap)
    height = 2 * label + gap + rows * (th + label + gap)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((gap, 4), title, fill=(20, 20, 20))
    draw.text((gap, 4 + label), f"gray 128 = 0, white = +{scale:.3g}, black = -{scale:.3g}",
              fill=(90, 90, 90))  # fmt: skip
    for o in range(groups):
        r, c = divmod(o, cols)
        x0, y0 = gap + c * (group_w + gap), 2 * label + gap + r * (th + label + gap)
        draw.text((x0, y0), str(o), fill=(20, 20, 20))
        for i in range(per_row):
            tile = tiles[o * per_row + i].resize((tw, th), Image.Resampling.NEAREST)
            image.paste(tile, (x0 + i * (tw + 2), y0 + label))
    return _png(image)
