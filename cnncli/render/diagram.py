"""A network's architecture as a picture (``cnncli shapes MODEL --diagram net.svg|net.png``).

Each layer that makes a new tensor is a block sized by its output shape, as in the
AlexNet paper's figure: a (C, H, W) output is a box whose front face is H tall and
whose slanted depth is W, and whose thickness along the row is the channels C; a
vector output (F,) is a thin bar F tall.  Sizes grow with the square root of H and W
and the logarithm of C and F, so that a 224×224 input and a 6×6 map both stay
visible.  Every block is labelled with its layer's name, type and output shape.

Which layers are blocks: the input, every convolution, pooling, linear and flattening
layer, and any other layer that changes the shape.  Layers that keep the shape and hold
no weights of their own kind (activations, dropout, normalisation) are not drawn; the
caption says so.  Parallel paths (Inception's branches, Fire's expands, a residual
block's main path and shortcut, a U-Net's skip) are drawn side by side: each path is a row
of its own, stacked one under the other between a fork bar and a merge bar, and the merge
is a small diamond labelled with how the paths join (``cat``, ``add``, ``mul``) and the
joined shape.  A path without layers (the identity) is the word ``identity`` on its row.

The picture is computed once as polygons and texts (:class:`Drawing`), then written as
SVG text or, with Pillow, as PNG; both show the same geometry.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

#: Layer types drawn even when their output has the shape of their input.
DRAWN_TYPES = ("Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
               "AdaptiveMaxPool2d", "Flatten", "view", "Input")  # fmt: skip

#: Fill colours by layer family (faces are shaded from these).
COLOURS = {
    "Input": (176, 176, 176),
    "Conv2d": (92, 140, 214),
    "pool": (226, 120, 102),
    "Linear": (110, 186, 120),
    "flatten": (236, 196, 96),
    "other": (168, 132, 200),
    "join": (150, 150, 150),
}

FONT_SIZE = 12
MARGIN = 24
GAP = 28  # between blocks
VGAP = 18  # between the rows of parallel paths
BAR = 4  # the width of a fork or merge bar
MAX_BLOCKS = 400  # a bigger network is refused: its picture would be unreadable


@dataclass(frozen=True)
class Block:
    """One drawn layer: its state_dict name, type and output shape without the batch."""

    name: str
    type: str
    shape: tuple[int, ...]
    #: (join number, path index) of each join the layer is inside, outermost first.
    lanes: tuple[tuple[int, int], ...] = ()

    @property
    def family(self) -> str:
        if self.type in ("Input", "Conv2d", "Linear"):
            return self.type
        if "Pool" in self.type:
            return "pool"
        if self.type in ("Flatten", "view"):
            return "flatten"
        return "other"

    @property
    def shape_text(self) -> str:
        return "x".join(str(v) for v in self.shape)


def blocks(summary: Any) -> list[Block]:
    """The blocks of a :class:`cnncli.nn.summary.Summary`: the input, then the leaves drawn."""
    out = [Block("input", "Input", tuple(summary.input_shape[1:]))]
    for rec in summary.leaves:
        if rec.output_shape is None:
            break
        new = tuple(rec.output_shape[1:])
        if rec.type in DRAWN_TYPES or new != tuple(rec.input_shape[1:]):
            out.append(Block(rec.name, rec.type, new, rec.lanes))
    return out


def _side(size: int, per: float, low: int, high: int) -> int:
    return int(min(high, max(low, round(per * math.sqrt(size)))))


def _thickness(channels: int) -> int:
    return int(min(72, max(6, round(6 * math.log2(channels + 1)))))


def block_size(block: Block) -> tuple[int, int, int]:
    """(thickness, height, slant) in pixels: C, H and W of a map; a bar for a vector."""
    if len(block.shape) == 3:
        C, H, W = block.shape
        return _thickness(C), _side(H, 12, 16, 200), _side(W, 6, 8, 100)
    F = math.prod(block.shape)
    return 10, int(min(200, max(16, round(14 * math.log2(F + 1))))), 0


@dataclass
class Drawing:
    """Polygons and texts in pixel coordinates (y down), and the picture's size."""

    width: int = 0
    height: int = 0
    polygons: list[tuple[list[tuple[float, float]], tuple[int, int, int]]] = field(
        default_factory=list
    )
    texts: list[tuple[float, float, str, bool]] = field(default_factory=list)  # x, y, text, bold

    def to_svg(self) -> bytes:
        """The drawing as a standalone SVG document (UTF-8)."""
        from xml.sax.saxutils import escape

        lines = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}">',
            f'<rect width="{self.width}" height="{self.height}" fill="white"/>',
        ]
        for points, rgb in self.polygons:
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            lines.append(
                f'<polygon points="{pts}" fill="rgb{rgb}" stroke="rgb(40,40,40)" stroke-width="1"/>'
            )
        for x, y, text, bold in self.texts:
            weight = ' font-weight="bold"' if bold else ""
            lines.append(
                f'<text x="{x:.1f}" y="{y + FONT_SIZE:.1f}" font-family="sans-serif" '
                f'font-size="{FONT_SIZE}"{weight} text-anchor="middle">{escape(text)}</text>'
            )
        lines.append("</svg>")
        return ("\n".join(lines) + "\n").encode("utf-8")

    def to_png(self) -> bytes:
        """The drawing as PNG bytes, drawn with Pillow."""
        import io

        from PIL import Image, ImageDraw

        image = Image.new("RGB", (self.width, self.height), "white")
        draw = ImageDraw.Draw(image)
        font = _font()
        for points, rgb in self.polygons:
            draw.polygon(points, fill=rgb, outline=(40, 40, 40))
        for x, y, text, _bold in self.texts:
            draw.text((x, y), text, fill=(20, 20, 20), font=font, anchor="ma")
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=True)
        return buf.getvalue()


@functools.cache
def _font() -> Any:
    """Pillow's default font at FONT_SIZE, loaded once (every label is measured with it)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=FONT_SIZE)
    except (TypeError, OSError):  # a Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _text_width(text: str) -> int:
    box = _font().getbbox(text)
    return int(box[2] - box[0])


def _shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    r, g, b = rgb
    return (min(255, int(r * factor)), min(255, int(g * factor)), min(255, int(b * factor)))


@dataclass
class _Join:
    """Parallel paths (each a list of items) and how they join: op and joined shape."""

    op: str
    shape: tuple[int, ...]
    paths: list[list[Any]]


def _tree(drawn: list[Block], joins: list[tuple[str, int, tuple[int, ...]]], level: int = 0) -> list[Any]:  # fmt: skip
    """The blocks as a sequence of Blocks and :class:`_Join` s, by their lanes."""
    items: list[Any] = []
    i = 0
    while i < len(drawn):
        block = drawn[i]
        if len(block.lanes) <= level:
            items.append(block)
            i += 1
            continue
        serial = block.lanes[level][0]
        j = i
        while j < len(drawn) and len(drawn[j].lanes) > level and drawn[j].lanes[level][0] == serial:
            j += 1
        op, n, shape = joins[serial]
        paths = [
            _tree([b for b in drawn[i:j] if b.lanes[level][1] == k], joins, level + 1)
            for k in range(n)
        ]
        items.append(_Join(op, tuple(shape[1:]), paths))
        i = j
    return items


class _Layout:
    """Measures and draws a sequence of items left to right around a middle line."""

    def __init__(self, d: Drawing) -> None:
        self.d = d
        self.line = FONT_SIZE + 4

    def block_width(self, b: Block) -> float:
        t, _, s = block_size(b)
        return max(t + s, *(_text_width(text) for text in (b.name, b.type, b.shape_text))) + GAP

    def size(self, item: Any) -> tuple[float, float, float]:
        """(width, above, below): the extent around the middle line."""
        if isinstance(item, Block):
            _, h, s = block_size(item)
            return self.block_width(item), h / 2 + s, h / 2 + 10 + 3 * self.line
        if isinstance(item, _Join):
            rows = [self.row_size(p) for p in item.paths]
            height = sum(a + b for _, a, b in rows) + VGAP * (len(rows) - 1)
            marker = max(_text_width(item.op), _text_width(self._shape_text(item))) + GAP
            return 2 * (BAR + GAP / 2) + max(w for w, _, _ in rows) + marker, height / 2, height / 2
        raise TypeError(item)

    def row_size(self, items: list[Any]) -> tuple[float, float, float]:
        if not items:  # the identity
            return _text_width("identity") + GAP, self.line / 2, self.line / 2
        sizes = [self.size(i) for i in items]
        return sum(w for w, _, _ in sizes), max(a for _, a, _ in sizes), max(b for _, _, b in sizes)

    @staticmethod
    def _shape_text(join: _Join) -> str:
        return "x".join(str(v) for v in join.shape)

    def row(self, items: list[Any], x: float, middle: float) -> None:
        if not items:
            self.d.texts.append((x + (_text_width("identity") + GAP) / 2 - GAP / 2, middle - self.line / 2, "identity", False))  # fmt: skip
            return
        blocks_h = [block_size(i)[1] for i in items if isinstance(i, Block)]
        label_top = middle + max(blocks_h, default=0) / 2 + 10
        for item in items:
            width = self.size(item)[0]
            if isinstance(item, Block):
                self.block(item, x, width, middle, label_top)
            else:
                self.join(item, x, middle)
            x += width

    def block(self, block: Block, x: float, column: float, middle: float, label_top: float) -> None:
        t, h, s = block_size(block)
        x0 = x + (column - GAP - (t + s)) / 2  # the box centred in its column
        y0 = middle - h / 2  # front face: (x0, y0) to (x0 + t, y0 + h)
        fill = COLOURS[block.family]
        front = [(x0, y0), (x0 + t, y0), (x0 + t, y0 + h), (x0, y0 + h)]
        self.d.polygons.append((front, fill))
        if s:  # the slanted top and right faces show the depth W
            dx, dy = s, -s
            top_face = [(x0, y0), (x0 + dx, y0 + dy), (x0 + t + dx, y0 + dy), (x0 + t, y0)]
            side = [(x0 + t, y0), (x0 + t + dx, y0 + dy), (x0 + t + dx, y0 + h + dy),
                    (x0 + t, y0 + h)]  # fmt: skip
            self.d.polygons.append((top_face, _shade(fill, 1.12)))
            self.d.polygons.append((side, _shade(fill, 0.8)))
        centre = x + (column - GAP) / 2
        for i, text in enumerate((block.name, block.type, block.shape_text)):
            self.d.texts.append((centre, label_top + i * self.line, text, i == 2))

    def join(self, join: _Join, x: float, middle: float) -> None:
        width, above, below = self.size(join)
        top, bottom = middle - above, middle + below
        grey = COLOURS["join"]
        rows = [self.row_size(p) for p in join.paths]
        inner = max(w for w, _, _ in rows)
        fork = x + GAP / 4
        merge = fork + BAR + GAP / 2 + inner
        for bar in (fork, merge):
            self.d.polygons.append(([(bar, top), (bar + BAR, top), (bar + BAR, bottom), (bar, bottom)], grey))  # fmt: skip
        y = top
        for path, (_, a, b) in zip(join.paths, rows, strict=True):
            self.row(path, fork + BAR + GAP / 2, y + a)
            y += a + b + VGAP
        cx, r = merge + BAR + (width - (merge + BAR - x)) / 2 - GAP / 4, 8
        diamond = [(cx, middle - r), (cx + r, middle), (cx, middle + r), (cx - r, middle)]
        self.d.polygons.append((diamond, grey))
        self.d.texts.append((cx, middle + r + 4, join.op, True))
        self.d.texts.append((cx, middle + r + 4 + self.line, self._shape_text(join), False))


def draw(
    title: str, drawn: list[Block], joins: list[tuple[str, int, tuple[int, ...]]] | None = None
) -> Drawing:
    """Lay the blocks out left to right, each over its label, parallel paths one row under
    the other (``joins``: the summary's, for blocks with lanes), under a title and caption."""
    d = Drawing()
    layout = _Layout(d)
    items = _tree(drawn, joins or []) if joins else list(drawn)
    width, above, below = layout.row_size(items)
    line = layout.line
    top = MARGIN + 2 * line  # title and caption above the blocks
    layout.row(items, MARGIN, top + above)
    d.width = int(max(MARGIN + width - GAP + MARGIN, _text_width(title) + 2 * MARGIN))
    d.height = int(top + above + below + MARGIN)
    d.texts.insert(0, (d.width / 2, MARGIN, title, True))
    caption = "a block is C thick, H tall and W deep; activations, dropout and normalisation are not drawn"
    d.texts.insert(1, (d.width / 2, MARGIN + line, caption, False))
    d.width = max(d.width, _text_width(caption) + 2 * MARGIN)
    for i in (0, 1):  # re-centre the two header lines on the final width
        _, y, text, bold = d.texts[i]
        d.texts[i] = (d.width / 2, y, text, bold)
    return d
