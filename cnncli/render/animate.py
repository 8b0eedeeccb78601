"""The frames of ``--animate``: a window sliding over the input, the output filling cell by cell.

Drawn as in Dumoulin and Visin's convolution arithmetic figures: the (padded)
input grid on the left, its padding cells in their own colour and the real
input framed apart; the window's taps highlighted (dilation spreads them, an
outline shows the window's extent); the output grid on the right, filled up to
the current cell, which is highlighted.  Values are written in the cells while
the text fits the cell (Pillow's font metrics decide).  One frame per output
cell, then one frame of the whole output.

This module draws only: the caller gives the values, which cells are padding,
and the cells each output cell reads (:class:`Animation`); nothing of the op is
computed here.  :func:`window_taps` turns a window's geometry (kernel size,
stride, dilation) into those cells.  Frames are palette images with one fixed
palette and no anti-aliasing, so every colour in a frame is one of
:data:`PALETTE`, exactly.

Bounds: at most :data:`MAX_FRAMES` frames, :data:`MAX_SIDE` px a side and
:data:`MAX_PIXELS` pixels over all frames; :func:`check_bounds` refuses more.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cnncli.errors import ResourceLimitError
from cnncli.render.format import fmt_values

#: Kinds of a cell of the left grid.
INPUT, PADDING, OUTSIDE = 0, 1, 2

#: The most frames an animation may have (one per output cell, plus the last).
MAX_FRAMES = 400
#: The largest width or height of a frame, in pixels.
MAX_SIDE = 2048
#: The most pixels over all frames (frames × width × height), about as many bytes in memory.
MAX_PIXELS = 200_000_000

MARGIN = 16
GAP = 56  # between the two grids (the arrow)
MIN_CELL, MAX_CELL = 4, 56
TARGET_WIDTH, TARGET_HEIGHT = 960, 720  # cells shrink until the frame fits this, down to MIN_CELL
OUTPUT_TARGET_WIDTH = 1280  # the output's cells may grow while the frame stays this narrow
CAPTION_SIZE = 13
LINE = 18  # caption line height
MIN_TEXT_SIZE, MAX_TEXT_SIZE = 8, 16
_TOP = MARGIN + 3 * LINE + LINE + 6  # three caption lines, then the grid labels
_BOTTOM = 6 + LINE + MARGIN  # the legend

#: The frame colours by name; a frame's palette index is the position here.
PALETTE: dict[str, tuple[int, int, int]] = {
    "background": (255, 255, 255),
    "text": (0, 0, 0),
    "text_light": (255, 255, 255),
    "grid_line": (120, 120, 120),
    "input": (166, 206, 227),
    "padding": (217, 217, 217),
    "outside": (250, 250, 250),
    "tap": (31, 120, 180),
    "tap_padding": (90, 90, 130),
    "window": (255, 127, 0),
    "input_border": (8, 48, 107),
    "output_empty": (238, 238, 238),
    "output_done": (178, 223, 138),
    "output_padding": (204, 214, 190),
    "output_current": (51, 140, 44),
    "caption_dim": (90, 90, 90),
}
_INDEX = {name: k for k, name in enumerate(PALETTE)}
_FLAT_PALETTE = [v for rgb in PALETTE.values() for v in rgb]


@dataclass(frozen=True)
class Animation:
    """What to draw: the left grid, the output, and the cells each output cell reads.

    grid: (GH, GW) values of the left grid (the padded input); NaN draws no text.
    kinds: (GH, GW) :data:`INPUT`, :data:`PADDING` or :data:`OUTSIDE` (past the
    padding, e.g. a ceil_mode window's overhang).  output: (OH, OW) values.
    windows: for each output cell in row-major order, the (row, col) grid cells it
    reads.  captions: one line per output cell.  output_kinds: (OH, OW), PADDING
    for output cells drawn in the padding's shade when filled (``pad``), else None.
    """

    title: str
    note: str
    grid: np.ndarray
    kinds: np.ndarray
    output: np.ndarray
    windows: Sequence[Sequence[tuple[int, int]]]
    captions: Sequence[str]
    final_caption: str
    grid_label: str = "input"
    output_label: str = "output"
    output_kinds: np.ndarray | None = None

    @property
    def frame_count(self) -> int:
        return int(self.output.size) + 1


@dataclass(frozen=True)
class Layout:
    """Where the grids are: cell sizes in px, the grids' top-left corners, the frame size.

    ``cell`` is the left grid's cell size, ``out_cell`` the output's: as large as
    the left grid's or larger, so that a smaller output is no taller than the
    input and its values fit sooner.  Cell positions depend on the grid shapes
    only (not on any text), so a reader of the GIF can find every cell with
    :meth:`grid_box` and :meth:`output_box`.
    """

    grid_shape: tuple[int, int]
    output_shape: tuple[int, int]
    cell: int
    out_cell: int
    left_x: int
    right_x: int
    top: int
    width: int
    height: int

    @classmethod
    def plan(cls, grid_shape: tuple[int, int], output_shape: tuple[int, int]) -> Layout:
        """The layout for a (GH, GW) grid and an (OH, OW) output, captions not counted.

        The cells are as large as fits TARGET_WIDTH × TARGET_HEIGHT (at most
        MAX_CELL), then shrink, the output's first, until the frames fit
        MAX_PIXELS, down to MIN_CELL (past that :func:`check_bounds` refuses).
        """
        (GH, GW), (OH, OW) = grid_shape, output_shape
        frames = OH * OW + 1
        fit_w = (TARGET_WIDTH - 2 * MARGIN - GAP) // (GW + OW)
        fit_h = (TARGET_HEIGHT - _TOP - _BOTTOM) // max(GH, OH)
        largest = max(MIN_CELL, min(MAX_CELL, fit_w, fit_h))
        for cell in range(largest, MIN_CELL - 1, -1):
            right_x = MARGIN + GW * cell + GAP
            out_fit_w = (OUTPUT_TARGET_WIDTH - right_x - MARGIN) // OW
            out_largest = max(cell, min(MAX_CELL, GH * cell // OH, out_fit_w))
            for out_cell in range(out_largest, cell - 1, -1):
                layout = cls._make(grid_shape, output_shape, cell, out_cell)
                if frames * layout.width * layout.height <= MAX_PIXELS:
                    return layout
        return cls._make(grid_shape, output_shape, MIN_CELL, MIN_CELL)

    @classmethod
    def _make(
        cls, grid_shape: tuple[int, int], output_shape: tuple[int, int], cell: int, out_cell: int
    ) -> Layout:
        (GH, GW), (OH, OW) = grid_shape, output_shape
        right_x = MARGIN + GW * cell + GAP
        width = right_x + OW * out_cell + MARGIN
        height = _TOP + max(GH * cell, OH * out_cell) + _BOTTOM
        return cls(grid_shape, output_shape, cell, out_cell, MARGIN, right_x, _TOP, width, height)

    def grid_box(self, r: int, c: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the left grid's cell (r, c), the last pixel included."""
        x0, y0 = self.left_x + c * self.cell, self.top + r * self.cell
        return x0, y0, x0 + self.cell - 1, y0 + self.cell - 1

    def output_box(self, i: int, j: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the output cell (i, j), the last pixel included."""
        x0, y0 = self.right_x + j * self.out_cell, self.top + i * self.out_cell
        return x0, y0, x0 + self.out_cell - 1, y0 + self.out_cell - 1


def window_taps(
    output_shape: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
) -> list[list[tuple[int, int]]]:
    """Each output cell's taps in padded-grid coordinates, row-major.

    Output cell (i, j) reads rows ``i·sh + a·dh`` and columns ``j·sw + b·dw`` for
    a < KH, b < KW (the padded grid's row 0 is the top padding's first row).
    """
    (OH, OW), (KH, KW), (sh, sw), (dh, dw) = output_shape, kernel, stride, dilation
    return [
        [(i * sh + a * dh, j * sw + b * dw) for a in range(KH) for b in range(KW)]
        for i in range(OH)
        for j in range(OW)
    ]


def check_bounds(frames: int, layout: Layout, fewer: str) -> None:
    """Refuse (ResourceLimitError) more than MAX_FRAMES frames, MAX_SIDE px or MAX_PIXELS.

    ``fewer`` says how to get fewer output cells (the hint when there are too many frames).
    """
    (GH, GW), (OH, OW) = layout.grid_shape, layout.output_shape
    if frames > MAX_FRAMES:
        raise ResourceLimitError(
            f"--animate would draw {frames} frames (one per output cell of the {OH}×{OW} "
            f"output, and the last); the limit is {MAX_FRAMES}",
            hint=f"{fewer} (one frame per output cell)",
        )
    w, h = layout.width, layout.height
    if max(w, h) > MAX_SIDE or frames * w * h > MAX_PIXELS:
        limit = (
            f"{MAX_SIDE} px a side"
            if max(w, h) > MAX_SIDE
            else f"{MAX_PIXELS // 1_000_000} million pixels over all frames"
        )
        raise ResourceLimitError(
            f"--animate would draw {frames} frames of {w}×{h} px for a {GH}×{GW} input grid "
            f"(cells of {layout.cell} px); the limit is {limit}",
            hint="use a smaller input (fewer cells to draw)",
        )


def _font(size: int) -> Any:
    """Pillow's default font at ``size`` (its bitmap font when Pillow has no FreeType)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or without FreeType
        return ImageFont.load_default()


#: Characters the default font may lack, and what is drawn instead.
_PLAIN = str.maketrans({"×": "x", "−": "-", "∞": "inf", "…": "..."})


def _plain(text: str) -> str:
    return text.translate(_PLAIN)


def _text_size(font: Any, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(_plain(text))
    return int(right - left), int(bottom - top)


def _cell_font(texts: Sequence[str], cell: int) -> Any | None:
    """The largest font (MIN_TEXT_SIZE..MAX_TEXT_SIZE) in which every text fits a cell.

    None when the widest text does not fit even at MIN_TEXT_SIZE: then the panel
    shows no values (rather than some cells with and some without).
    """
    room = cell - 4
    longest = max((len(t) for t in texts), default=0)
    if not longest:
        return None
    widest = sorted({t for t in texts if len(t) == longest})[:50]  # digits are about as wide
    top = max(MIN_TEXT_SIZE, min(MAX_TEXT_SIZE, cell // 2))
    for size in range(top, MIN_TEXT_SIZE - 1, -1):
        font = _font(size)
        sizes = [_text_size(font, t) for t in widest]
        if max(w for w, _ in sizes) <= room and max(h for _, h in sizes) <= room:
            return font
    return None


def _texts(values: np.ndarray) -> list[str]:
    """The cells' texts with one shared precision; NaN cells get none."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    shown = fmt_values(flat[~np.isnan(flat)]) if flat.size else []
    it = iter(shown)
    return ["" if math.isnan(v) else next(it) for v in flat.tolist()]


class _Painter:
    """Draws the frames of one animation on one layout."""

    def __init__(self, anim: Animation, layout: Layout) -> None:
        self.anim, self.layout = anim, layout
        self.grid_text = _texts(anim.grid)
        self.out_text = _texts(anim.output)
        self.grid_font = _cell_font(self.grid_text, layout.cell)
        self.out_font = _cell_font(self.out_text, layout.out_cell)
        self.caption_font = _font(CAPTION_SIZE)
        lines = [anim.title, anim.note, *anim.captions, anim.final_caption]
        widest = max(_text_size(self.caption_font, t)[0] for t in lines)
        self.width = max(layout.width, widest + 2 * MARGIN, self._legend_width() + 2 * MARGIN)
        self.height = layout.height

    def _legend(self) -> list[tuple[str, str]]:
        """(colour, label) of the colours this animation uses."""
        anim = self.anim
        padded, outside = (anim.kinds == PADDING).any(), (anim.kinds == OUTSIDE).any()
        tapped_padding = any(anim.kinds[r, c] == PADDING for w in anim.windows for r, c in w)
        from_padding = anim.output_kinds is not None and (anim.output_kinds == PADDING).any()
        items = [
            ("input", "input", True),
            ("padding", "padding", padded),
            ("outside", "past the padding (not read)", outside),
            ("tap", "window", True),
            ("tap_padding", "window on padding", tapped_padding),
            ("output_done", "output", True),
            ("output_padding", "output from padding", from_padding),
            ("output_current", "current", True),
        ]
        return [(colour, label) for colour, label, used in items if used]

    def _legend_width(self) -> int:
        return sum(
            14 + 4 + _text_size(self.caption_font, label)[0] + 14 for _, label in self._legend()
        )

    def frames(self) -> Iterator[Any]:
        """One frame per output cell, then the last (the whole output)."""
        base = self._base()
        for k in range(len(self.anim.windows)):
            yield self.frame(base, k)
        yield self.frame(base, None)

    def _text(
        self, draw: Any, xy: tuple[float, float], text: str, colour: str, font: Any, **kw: Any
    ) -> None:
        draw.text(xy, _plain(text), fill=_INDEX[colour], font=font, **kw)

    def _draw(self, img: Any) -> Any:
        from PIL import ImageDraw

        draw = ImageDraw.Draw(img)
        draw.fontmode = "1"  # no anti-aliasing: every pixel is a palette colour
        return draw

    def _base(self) -> Any:
        """What every frame shares: title, note, the grid without a window, labels, legend."""
        from PIL import Image

        img = Image.new("P", (self.width, self.height), _INDEX["background"])
        img.putpalette(_FLAT_PALETTE)
        draw = self._draw(img)
        for n, line in enumerate((self.anim.title, self.anim.note)):
            colour = "caption_dim" if n == 1 else "text"
            self._text(draw, (MARGIN, MARGIN + n * LINE), line, colour, self.caption_font)
        GH, GW = self.layout.grid_shape
        for r in range(GH):
            for c in range(GW):
                self._grid_cell(draw, r, c, tapped=False)
        self._input_border(draw)
        self._labels(draw)
        self._legend_draw(draw)
        return img

    def frame(self, base: Any, k: int | None) -> Any:
        """Frame ``k`` (output cell k current), or the last frame (None: the whole output)."""
        img = base.copy()
        draw = self._draw(img)
        caption = self.anim.final_caption if k is None else self.anim.captions[k]
        self._text(draw, (MARGIN, MARGIN + 2 * LINE), caption, "text", self.caption_font)
        taps = set() if k is None else {(int(r), int(c)) for r, c in self.anim.windows[k]}
        for r, c in taps:
            self._grid_cell(draw, r, c, tapped=True)
        self._input_border(draw)  # a tapped cell next to the input drew over it
        self._window(draw, taps)
        self._output(draw, k)
        return img

    def _cell(
        self, draw: Any, box: tuple[int, int, int, int], fill: str, text: str, font: Any
    ) -> None:
        x0, y0, x1, y1 = box
        outline = _INDEX["grid_line"] if x1 - x0 >= 7 else None
        draw.rectangle(box, fill=_INDEX[fill], outline=outline)
        if text and font is not None:
            dark = fill in ("tap", "tap_padding", "output_current")
            cx, cy = (x0 + x1 + 1) / 2, (y0 + y1 + 1) / 2
            self._text(draw, (cx, cy), text, "text_light" if dark else "text", font, anchor="mm")

    def _grid_cell(self, draw: Any, r: int, c: int, tapped: bool) -> None:
        """Cell (r, c) of the left grid in its kind's colour, or the window's."""
        kind = int(self.anim.kinds[r, c])
        fill = ("input", "padding", "outside")[kind]
        if tapped and kind != OUTSIDE:  # a tap past the padding is never read
            fill = "tap" if kind == INPUT else "tap_padding"
        text = self.grid_text[r * self.layout.grid_shape[1] + c]
        self._cell(draw, self.layout.grid_box(r, c), fill, text, self.grid_font)

    def _input_border(self, draw: Any) -> None:
        """A frame around the real input, apart from its padding (when there is padding)."""
        kinds, lay = self.anim.kinds, self.layout
        rows, cols = np.nonzero(kinds == INPUT)
        if rows.size and (kinds != INPUT).any():
            x0, y0, _, _ = lay.grid_box(int(rows.min()), int(cols.min()))
            _, _, x1, y1 = lay.grid_box(int(rows.max()), int(cols.max()))
            box = (x0 - 1, y0 - 1, x1 + 1, y1 + 1)
            draw.rectangle(box, outline=_INDEX["input_border"], width=2)

    def _window(self, draw: Any, taps: set[Any]) -> None:
        """An outline around the window's extent (its taps' bounding box)."""
        if not taps:
            return
        lay = self.layout
        rows = [r for r, _ in taps]
        cols = [c for _, c in taps]
        x0, y0, _, _ = lay.grid_box(min(rows), min(cols))
        _, _, x1, y1 = lay.grid_box(max(rows), max(cols))
        width = 3 if lay.cell >= 16 else 1
        draw.rectangle((x0 - 1, y0 - 1, x1 + 1, y1 + 1), outline=_INDEX["window"], width=width)

    def _output(self, draw: Any, k: int | None) -> None:
        anim, lay = self.anim, self.layout
        OH, OW = lay.output_shape
        done = OH * OW if k is None else k
        for n in range(OH * OW):
            i, j = divmod(n, OW)
            if n < done:
                from_padding = anim.output_kinds is not None and anim.output_kinds[i, j] == PADDING
                fill, text = ("output_padding" if from_padding else "output_done"), self.out_text[n]
            elif n == k:
                fill, text = "output_current", self.out_text[n]
            else:
                fill, text = "output_empty", ""
            self._cell(draw, lay.output_box(i, j), fill, text, self.out_font)
        if k is not None:  # an arrow from the window to the current cell
            y = lay.top + (k // OW) * lay.out_cell + lay.out_cell // 2
            y = min(y, lay.top + lay.grid_shape[0] * lay.cell - 4)
            x0, x1 = lay.left_x + lay.grid_shape[1] * lay.cell + 8, lay.right_x - 8
            draw.line((x0, y, x1, y), fill=_INDEX["window"], width=2)
            draw.polygon([(x1, y), (x1 - 7, y - 5), (x1 - 7, y + 5)], fill=_INDEX["window"])

    def _labels(self, draw: Any) -> None:
        lay, font = self.layout, self.caption_font
        y = lay.top - LINE - 2
        room_left = lay.right_x - lay.left_x - 8
        room_right = self.width - lay.right_x - MARGIN // 2
        for x, label, room in (
            (lay.left_x, self.anim.grid_label, room_left),
            (lay.right_x, self.anim.output_label, room_right),
        ):
            if _text_size(font, label)[0] <= room:
                self._text(draw, (x, y), label, "text", font)

    def _legend_draw(self, draw: Any) -> None:
        x, y = MARGIN, self.height - MARGIN - LINE + 4
        for colour, label in self._legend():
            draw.rectangle((x, y, x + 13, y + 13), fill=_INDEX[colour], outline=_INDEX["grid_line"])
            x += 18
            self._text(draw, (x, y), label, "text", self.caption_font)
            x += _text_size(self.caption_font, label)[0] + 14


def render_frames(anim: Animation, fewer: str) -> tuple[list[Any], tuple[int, int]]:
    """Every frame of ``anim`` (Pillow palette images) and the frame size (width, height).

    Raises ResourceLimitError past the bounds (``fewer``: see :func:`check_bounds`).
    """
    (GH, GW), (OH, OW) = anim.kinds.shape, anim.output.shape
    layout = Layout.plan((GH, GW), (OH, OW))
    check_bounds(anim.frame_count, layout, fewer)
    painter = _Painter(anim, layout)  # the captions may widen the frame
    check_bounds(anim.frame_count, replace(layout, width=painter.width), fewer)
    return list(painter.frames()), (painter.width, painter.height)


__all__ = [
    "INPUT",
    "MAX_FRAMES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "OUTSIDE",
    "PADDING",
    "PALETTE",
    "Animation",
    "Layout",
    "check_bounds",
    "render_frames",
    "window_taps",
]
